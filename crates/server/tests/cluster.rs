//! Cluster mode: three real nodes, a topology pushed by hand, every reply and error text
//! of cluster.md, and cluster-aware clients.

mod common;
use common::{Reply, TestServer};
use std::time::Duration;

const ID1: &str = "07c37dfeb235213a872192d90877d0cd55635b91";
const ID2: &str = "cf81d7ff5e3f40fe9ee2b3e9c0ee3c1d3a12b8a2";
const ID3: &str = "9a3e2b0c4d5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b";

struct Trio {
    nodes: Vec<TestServer>,
}

impl Trio {
    fn start() -> Trio {
        Trio {
            nodes: (0..3)
                .map(|_| TestServer::start(&["--cluster-enabled", "yes"]))
                .collect(),
        }
    }

    fn topology(&self) -> String {
        let p: Vec<u16> = self.nodes.iter().map(|n| n.port).collect();
        format!(
            "{ID1} 127.0.0.1 {} master - 0-5460\n{ID2} 127.0.0.1 {} master - 5461-10922\n{ID3} 127.0.0.1 {} master - 10923-16383",
            p[0], p[1], p[2]
        )
    }

    fn push(&self, topology: &str, version: &str) {
        for node in &self.nodes {
            assert_eq!(
                node.raw().cmd(&["CLUSTERX", "SETNODES", topology, version]),
                Reply::ok()
            );
        }
    }
}

#[test]
fn before_the_topology_is_set() {
    let trio = Trio::start();
    let mut c = trio.nodes[0].raw();
    for sub in ["NODES", "SLOTS", "INFO"] {
        assert_eq!(
            c.cmd(&["CLUSTER", sub]),
            Reply::err("CLUSTERDOWN The cluster is not initialized"),
            "{sub}"
        );
    }
    assert_eq!(
        c.cmd(&["GET", "foo"]),
        Reply::err("CLUSTERDOWN Hash slot not served")
    );
    assert_eq!(c.cmd(&["CLUSTER", "KEYSLOT", "foo"]), Reply::Int(12182));
    assert_eq!(
        c.cmd(&["CLUSTER", "KEYSLOT", "{user}.a"]),
        c.cmd(&["CLUSTER", "KEYSLOT", "user"])
    );
    assert_eq!(c.cmd(&["CLUSTERX", "VERSION"]), Reply::bulk("-1"));
    assert_eq!(c.cmd(&["CLUSTERX", "MYID"]), Reply::bulk(""));
    assert_eq!(c.cmd(&["PING"]), Reply::Status("PONG".into()));
    assert_eq!(
        c.cmd(&["CLUSTERX", "BOGUS"]),
        Reply::err("ERR CLUSTERX command, CLUSTERX VERSION|MYID|SETNODEID|SETNODES|SETSLOT|MIGRATE|MIGRATION|FLUSHSLOTS")
    );
    assert_eq!(
        c.cmd(&["CLUSTER", "BOGUS"]),
        Reply::err("ERR CLUSTER command, CLUSTER INFO|NODES|SLOTS|KEYSLOT|RESET|REPLICAS|IMPORT|SHARDS|MYID|COUNTKEYSINSLOT|GETKEYSINSLOT")
    );
    let plain = TestServer::start(&[]);
    assert_eq!(
        plain.raw().cmd(&["CLUSTER", "INFO"]),
        Reply::err("ERR Cluster mode is not enabled")
    );
    assert_eq!(
        plain.raw().cmd(&["CLUSTERX", "VERSION"]),
        Reply::err("ERR Cluster mode is not enabled")
    );
}

#[test]
fn setnodes_validation_errors_one_by_one() {
    let trio = Trio::start();
    let mut c = trio.nodes[0].raw();
    let p = trio.nodes[0].port;
    let cases: Vec<(String, &str)> = vec![
        (String::new(), "ERR Invalid cluster nodes info"),
        (
            format!("{ID1} 127.0.0.1 {p} master"),
            "ERR Invalid cluster nodes info",
        ),
        (
            format!("abc 127.0.0.1 {p} master - 0-100"),
            "ERR Invalid cluster node id",
        ),
        (
            format!("{ID1} 127.0.0.1 99999 master - 0-100"),
            "ERR Invalid cluster node port",
        ),
        (
            format!("{ID1} 127.0.0.1 {p} boss - 0-100"),
            "ERR Invalid cluster node role",
        ),
        (
            format!("{ID1} 127.0.0.1 {p} master - 0-16384"),
            "ERR Slot is out of range",
        ),
        (
            format!("{ID1} 127.0.0.1 {p} master - 100-50"),
            "ERR Slot is out of range",
        ),
        (
            format!("{ID1} 127.0.0.1 {p} master - 0-100\n{ID2} 127.0.0.1 1 master - 50-60"),
            "ERR Slot distribution is overlapped",
        ),
        (
            format!("{ID1} 127.0.0.1 {p} master - 0-100\n{ID2} 127.0.0.1 1 slave {ID1} 200"),
            "ERR Invalid cluster nodes info",
        ),
        (
            format!("{ID1} 127.0.0.1 {p} master - 0-100 {ID2} 127.0.0.1 1 master - 200"),
            "ERR Invalid nodes definition: Missing newline between node entries.",
        ),
    ];
    for (nodes, expected) in cases {
        assert_eq!(
            c.cmd(&["CLUSTERX", "SETNODES", &nodes, "1"]),
            Reply::err(expected),
            "{nodes}"
        );
    }
    let good = format!("{ID1} 127.0.0.1 {p} master - 0-16383");
    assert_eq!(
        c.cmd(&["CLUSTERX", "SETNODES", &good, "abc"]),
        Reply::err("ERR Invalid version")
    );
    assert_eq!(
        c.cmd(&["CLUSTERX", "SETNODES", &good, "-1"]),
        Reply::err("ERR Invalid cluster version")
    );
    assert_eq!(
        c.cmd(&["CLUSTERX", "SETNODES", &good, "1", "bogus"]),
        Reply::err("ERR Invalid setnodes options")
    );
    assert_eq!(
        c.cmd(&["CLUSTERX", "VERSION"]),
        Reply::bulk("-1"),
        "refused calls change nothing"
    );
    // Version rules.
    assert_eq!(c.cmd(&["CLUSTERX", "SETNODES", &good, "5"]), Reply::ok());
    assert_eq!(
        c.cmd(&["CLUSTERX", "MYID"]),
        Reply::bulk(ID1),
        "id learned from bind and port"
    );
    assert_eq!(
        c.cmd(&["CLUSTERX", "SETNODES", &good, "4"]),
        Reply::err("ERR Invalid cluster version")
    );
    let other = format!("{ID2} 127.0.0.1 {p} master - 0-16383");
    assert_eq!(c.cmd(&["CLUSTERX", "SETNODES", &other, "5"]), Reply::ok());
    assert_eq!(
        c.cmd(&["CLUSTERX", "MYID"]),
        Reply::bulk(ID1),
        "same version: nothing changes"
    );
    assert_eq!(
        c.cmd(&["CLUSTERX", "SETNODES", &other, "3", "force"]),
        Reply::ok()
    );
    assert_eq!(c.cmd(&["CLUSTERX", "VERSION"]), Reply::bulk("3"));
    assert_eq!(
        c.cmd(&["CLUSTERX", "MYID"]),
        Reply::bulk(ID2),
        "force relearns the id"
    );
}

#[test]
fn replies_routing_and_transactions() {
    let trio = Trio::start();
    let topology = trio.topology();
    trio.push(&topology, "1");
    let mut c = trio.nodes[0].raw();
    let p: Vec<u16> = trio.nodes.iter().map(|n| n.port).collect();

    let info = c.cmd(&["CLUSTER", "INFO"]).text();
    for line in [
        "cluster_state:ok\r\n",
        "cluster_slots_assigned:16384\r\n",
        "cluster_slots_ok:16384\r\n",
        "cluster_slots_pfail:0\r\n",
        "cluster_slots_fail:0\r\n",
        "cluster_known_nodes:3\r\n",
        "cluster_size:3\r\n",
        "cluster_current_epoch:1\r\n",
        "cluster_my_epoch:1\r\n",
    ] {
        assert!(info.contains(line), "CLUSTER INFO lacks {line:?}: {info}");
    }
    let nodes = c.cmd(&["CLUSTER", "NODES"]).text();
    let mine = nodes
        .lines()
        .find(|l| l.starts_with(ID1))
        .expect("own line");
    let fields: Vec<&str> = mine.split(' ').collect();
    assert_eq!(
        fields[1],
        format!("127.0.0.1:{}@{}", p[0], p[0] as u32 + 10000)
    );
    assert_eq!(fields[2], "myself,master");
    assert_eq!(fields[3], "-");
    assert_eq!(fields[6], "1");
    assert_eq!(fields[7], "connected");
    assert_eq!(fields[8], "0-5460");
    assert!(nodes
        .lines()
        .any(|l| l.starts_with(ID2) && l.contains(" master - ")));

    let slots = c.cmd(&["CLUSTER", "SLOTS"]).items();
    assert_eq!(slots.len(), 3);
    let first = slots
        .iter()
        .find(|s| s.items()[0] == Reply::Int(0))
        .unwrap()
        .items();
    assert_eq!(first[1], Reply::Int(5460));
    assert_eq!(
        first[2],
        Reply::Array(vec![
            Reply::bulk("127.0.0.1"),
            Reply::Int(p[0].into()),
            Reply::bulk(ID1)
        ])
    );
    assert_eq!(c.cmd(&["CLUSTER", "MYID"]), Reply::bulk(ID1));
    assert_eq!(c.cmd(&["CLUSTER", "SHARDS"]).items().len(), 3);
    assert_eq!(c.cmd(&["CLUSTER", "REPLICAS", ID2]), Reply::bulk(""));
    assert_eq!(
        c.cmd(&["CLUSTER", "REPLICAS", &"f".repeat(40)]),
        Reply::err("ERR Invalid cluster node id")
    );

    // Keys: "bar" is slot 5061 (node 1), "foo" 12182 (node 3).
    assert_eq!(c.cmd(&["SET", "bar", "1"]), Reply::ok());
    assert_eq!(
        c.cmd(&["GET", "foo"]),
        Reply::err(&format!("MOVED 12182 127.0.0.1:{}", p[2]))
    );
    assert_eq!(
        c.cmd(&["SET", "foo", "1"]),
        Reply::err(&format!("MOVED 12182 127.0.0.1:{}", p[2]))
    );
    assert_eq!(
        c.cmd(&["MSET", "bar", "1", "foo", "2"]),
        Reply::err("CROSSSLOT Attempted to access keys that don't hash to the same slot")
    );
    assert_eq!(c.cmd(&["MSET", "{bar}a", "1", "{bar}b", "2"]), Reply::ok());
    assert_eq!(
        c.cmd(&["CLUSTER", "COUNTKEYSINSLOT", "5061"]),
        Reply::Int(3)
    );
    assert_eq!(
        c.cmd(&["CLUSTER", "GETKEYSINSLOT", "5061", "2"])
            .items()
            .len(),
        2
    );
    assert_eq!(
        c.cmd(&["CLUSTER", "COUNTKEYSINSLOT", "16384"]),
        Reply::err("ERR Invalid slot")
    );
    assert_eq!(
        c.cmd(&["PING"]),
        Reply::Status("PONG".into()),
        "keyless commands run locally"
    );

    // MULTI across slots of this node works; a key of another node aborts the EXEC.
    let other_local = (0..1000)
        .map(|i| format!("k{i}"))
        .find(|k| {
            let slot = c.cmd(&["CLUSTER", "KEYSLOT", k]).int();
            slot <= 5460 && slot != 5061
        })
        .unwrap();
    c.cmd(&["MULTI"]);
    assert_eq!(c.cmd(&["INCR", "bar"]), Reply::Status("QUEUED".into()));
    assert_eq!(
        c.cmd(&["INCR", &other_local]),
        Reply::Status("QUEUED".into())
    );
    assert_eq!(
        c.cmd(&["EXEC"]),
        Reply::Array(vec![Reply::Int(2), Reply::Int(1)])
    );
    c.cmd(&["MULTI"]);
    c.cmd(&["INCR", "bar"]);
    assert_eq!(
        c.cmd(&["INCR", "foo"]),
        Reply::err(&format!("MOVED 12182 127.0.0.1:{}", p[2]))
    );
    assert_eq!(
        c.cmd(&["EXEC"]),
        Reply::err("EXECABORT Transaction discarded because of previous errors.")
    );
    assert_eq!(c.cmd(&["GET", "bar"]), Reply::bulk("2"));
}

#[test]
fn setslot_rules_and_moved_follow_it() {
    let trio = Trio::start();
    trio.push(&trio.topology(), "1");
    let p: Vec<u16> = trio.nodes.iter().map(|n| n.port).collect();
    let mut c = trio.nodes[0].raw();
    let cases: &[(&[&str], &str)] = &[
        (
            &["CLUSTERX", "SETSLOT", "5061", "NODE", ID2, "1"],
            "ERR Invalid cluster version",
        ),
        (
            &["CLUSTERX", "SETSLOT", "5061", "NODE", ID2, "3"],
            "ERR Invalid cluster version",
        ),
        (
            &["CLUSTERX", "SETSLOT", "5061", "NODX", ID2, "2"],
            "ERR Invalid setslot options",
        ),
        (
            &["CLUSTERX", "SETSLOT", "5061", "NODE", "abc", "2"],
            "ERR Invalid node id",
        ),
        (
            &["CLUSTERX", "SETSLOT", "5061", "NODE", ID2, "x"],
            "ERR value is not an integer or out of range",
        ),
        (
            &["CLUSTERX", "SETSLOT", "5061", "NODE", ID2, "-2"],
            "ERR Invalid version",
        ),
        (
            &[
                "CLUSTERX",
                "SETSLOT",
                "5061",
                "NODE",
                "0000000000000000000000000000000000000000",
                "2",
            ],
            "ERR No this node in the cluster",
        ),
        (
            &["CLUSTERX", "SETSLOT", "", "NODE", ID2, "2"],
            "ERR No slots to parse.",
        ),
    ];
    for (args, expected) in cases {
        assert_eq!(c.cmd(args), Reply::err(expected), "{args:?}");
    }
    assert_eq!(c.cmd(&["CLUSTERX", "VERSION"]), Reply::bulk("1"));
    assert_eq!(c.cmd(&["SET", "bar", "here"]), Reply::ok());
    for node in &trio.nodes {
        assert_eq!(
            node.raw()
                .cmd(&["CLUSTERX", "SETSLOT", "5000-5100 5200", "NODE", ID2, "2"]),
            Reply::ok()
        );
    }
    assert_eq!(c.cmd(&["CLUSTERX", "VERSION"]), Reply::bulk("2"));
    assert_eq!(
        c.cmd(&["GET", "bar"]),
        Reply::err(&format!("MOVED 5061 127.0.0.1:{}", p[1]))
    );
    let nodes = c.cmd(&["CLUSTER", "NODES"]).text();
    let mine = nodes.lines().find(|l| l.starts_with(ID1)).unwrap();
    assert!(mine.ends_with(" 0-4999 5101-5199 5201-5460"), "{mine}");
    // ASKING lets one command through on a node that does not own the slot only while
    // importing; here node 2 owns it now and serves it.
    assert_eq!(
        trio.nodes[1].raw().cmd(&["SET", "bar", "there"]),
        Reply::ok()
    );
}

#[test]
fn nodes_conf_round_trip_through_restarts() {
    let mut node = TestServer::start(&["--cluster-enabled", "yes"]);
    let topology = format!(
        "{ID1} 127.0.0.1 {} master - 0-1 2 4-8191 8192 8193 10000 10002-11002 16381 16382-16383\n{ID2} 127.0.0.1 7002 master - 3 8194-9999 10001 11003-16380",
        node.port
    );
    assert_eq!(
        node.raw().cmd(&["CLUSTERX", "SETNODES", &topology, "7"]),
        Reply::ok()
    );
    assert!(node.dir.join("nodes.conf").exists());
    node.restart();
    let mut c = node.raw();
    assert_eq!(c.cmd(&["CLUSTERX", "VERSION"]), Reply::bulk("7"));
    assert_eq!(c.cmd(&["CLUSTERX", "MYID"]), Reply::bulk(ID1));
    let nodes = c.cmd(&["CLUSTER", "NODES"]).text();
    let mine = nodes.lines().find(|l| l.starts_with(ID1)).unwrap();
    assert!(
        mine.ends_with(" 0-2 4-8193 10000 10002-11002 16381-16383"),
        "{mine}"
    );
    // Turning persistence off deletes the file, on writes it at once.
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "persist-cluster-nodes-enabled", "no"]),
        Reply::ok()
    );
    assert!(!node.dir.join("nodes.conf").exists());
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "persist-cluster-nodes-enabled", "yes"]),
        Reply::ok()
    );
    assert!(node.dir.join("nodes.conf").exists());
    // A corrupt file stops start-up with a clear message.
    node.kill9();
    std::fs::write(node.dir.join("nodes.conf"), "version 7\nbogus line\n").unwrap();
    let out = std::process::Command::new(common::BIN)
        .args(&node.args)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot load cluster topology: nodes.conf"),
        "{err}"
    );
}

#[test]
fn cluster_reset() {
    let node = TestServer::start(&["--cluster-enabled", "yes"]);
    let mut c = node.raw();
    let topology = format!("{ID1} 127.0.0.1 {} master - 0-16383", node.port);
    c.cmd(&["CLUSTERX", "SETNODES", &topology, "3"]);
    c.cmd(&["SET", "k", "v"]);
    assert_eq!(
        c.cmd(&["CLUSTER", "RESET"]),
        Reply::err("ERR Can't reset cluster while database is not empty")
    );
    c.cmd(&["DEL", "k"]);
    assert_eq!(c.cmd(&["CLUSTER", "RESET", "HARD"]), Reply::ok());
    assert_eq!(c.cmd(&["CLUSTERX", "VERSION"]), Reply::bulk("-1"));
    assert_eq!(c.cmd(&["CLUSTERX", "MYID"]), Reply::bulk(""));
    assert!(!node.dir.join("nodes.conf").exists());
}

#[test]
fn slaves_are_shown_and_refuse_writes() {
    let trio = Trio::start();
    let p: Vec<u16> = trio.nodes.iter().map(|n| n.port).collect();
    let topology = format!(
        "{ID1} 127.0.0.1 {} master - 0-16383\n{ID2} 127.0.0.1 {} slave {ID1}",
        p[0], p[1]
    );
    trio.push(&topology, "1");
    let mut slave = trio.nodes[1].raw();
    let nodes = slave.cmd(&["CLUSTER", "NODES"]).text();
    assert!(
        nodes
            .lines()
            .any(|l| l.starts_with(ID2) && l.contains("myself,slave") && l.contains(ID1)),
        "{nodes}"
    );
    assert_eq!(
        slave.cmd(&["SET", "bar", "1"]),
        Reply::err(&format!("MOVED 5061 127.0.0.1:{}", p[0]))
    );
    assert_eq!(
        slave.cmd(&["GET", "bar"]),
        Reply::err(&format!("MOVED 5061 127.0.0.1:{}", p[0]))
    );
    assert_eq!(slave.cmd(&["READONLY"]), Reply::ok());
    // A replica serves reads once its master accepted it (replication.md).
    common::wait_until("the replica syncs", Duration::from_secs(20), || {
        slave
            .cmd(&["INFO", "replication"])
            .text()
            .contains("master_link_status:up")
    });
    assert_eq!(slave.cmd(&["GET", "bar"]), Reply::Nil);
    assert_eq!(
        slave.cmd(&["SET", "bar", "1"]),
        Reply::err(&format!("MOVED 5061 127.0.0.1:{}", p[0]))
    );
    assert_eq!(
        slave.cmd(&["SLAVEOF", "127.0.0.1", "1"]),
        Reply::err("ERR can't change to slave in cluster mode")
    );
    let replicas = slave.cmd(&["CLUSTER", "REPLICAS", ID1]).text();
    assert!(replicas.starts_with(ID2), "{replicas}");
    assert_eq!(
        slave.cmd(&["CLUSTER", "REPLICAS", ID2]),
        Reply::err("ERR The node isn't a master")
    );
    let slots = slave.cmd(&["CLUSTER", "SLOTS"]).items();
    assert_eq!(slots[0].items().len(), 4, "master and one replica");
}

#[test]
fn the_redis_crate_cluster_client_works_and_follows_moved() {
    let trio = Trio::start();
    trio.push(&trio.topology(), "1");
    let urls: Vec<String> = trio.nodes.iter().map(|n| n.url()).collect();
    let client = redis::cluster::ClusterClient::new(urls).unwrap();
    let mut con = client.get_connection().unwrap();
    for i in 0..10_000 {
        redis::cmd("SET")
            .arg(format!("key:{i}"))
            .arg(i)
            .query::<()>(&mut con)
            .unwrap();
    }
    for i in (0..10_000).step_by(7) {
        let v: i64 = redis::cmd("GET")
            .arg(format!("key:{i}"))
            .query(&mut con)
            .unwrap();
        assert_eq!(v, i);
    }
    let total: i64 = trio
        .nodes
        .iter()
        .map(|n| n.raw().cmd(&["DBSIZE"]).int())
        .sum();
    assert_eq!(total, 10_000);
    for node in &trio.nodes {
        let keys = node.raw().cmd(&["DBSIZE"]).int();
        assert!(keys > 2500, "keys spread over all nodes ({keys})");
    }
    // Move slot 5061 ("bar") to node 2: the client follows the MOVED.
    redis::cmd("SET")
        .arg("bar")
        .arg("before")
        .query::<()>(&mut con)
        .unwrap();
    for node in &trio.nodes {
        assert_eq!(
            node.raw()
                .cmd(&["CLUSTERX", "SETSLOT", "5061", "NODE", ID2, "2"]),
            Reply::ok()
        );
    }
    redis::cmd("SET")
        .arg("bar")
        .arg("after")
        .query::<()>(&mut con)
        .unwrap();
    let v: String = redis::cmd("GET").arg("bar").query(&mut con).unwrap();
    assert_eq!(v, "after");
    assert_eq!(
        trio.nodes[1].raw().cmd(&["GET", "bar"]),
        Reply::bulk("after")
    );
}

#[test]
fn redis_py_cluster_client_works() {
    let trio = Trio::start();
    trio.push(&trio.topology(), "1");
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/redis_py_cluster.py"
    );
    let mut cmd = std::process::Command::new("python3");
    cmd.arg(script);
    for node in &trio.nodes {
        cmd.arg(node.port.to_string());
    }
    cmd.args(["--move-slot", "100", ID2, "2"]);
    let out = cmd.output().expect("python3");
    assert!(
        out.status.success(),
        "redis-py RedisCluster failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn cluster_administration_needs_authentication() {
    let node = TestServer::start(&["--cluster-enabled", "yes", "--requirepass", "pw"]);
    let mut c = node.raw();
    let topology = format!("{ID1} 127.0.0.1 {} master - 0-16383", node.port);
    assert_eq!(
        c.cmd(&["CLUSTERX", "SETNODES", &topology, "1"]),
        Reply::err("NOAUTH Authentication required.")
    );
    assert_eq!(
        c.cmd(&["CLUSTER", "NODES"]),
        Reply::err("NOAUTH Authentication required.")
    );
    assert_eq!(c.cmd(&["AUTH", "pw"]), Reply::ok());
    assert_eq!(
        c.cmd(&["CLUSTERX", "SETNODES", &topology, "1"]),
        Reply::ok()
    );
    assert_eq!(c.cmd(&["CLUSTERX", "VERSION"]), Reply::bulk("1"));
}

/// In cluster mode a pipelined run is routed request by request: those for other
/// nodes' slots get MOVED in place, the others are served together, with the replies
/// the same requests get one at a time.
#[test]
fn pipelined_writes_are_routed_one_by_one() {
    let trio = Trio::start();
    trio.push(&trio.topology(), "1");
    let keys = ["a", "b", "c", "d", "e", "f"];
    let mut pipeline: Vec<Vec<String>> = Vec::new();
    for (i, key) in keys.iter().enumerate() {
        let i = i.to_string();
        for cmd in [
            vec!["SET", key, &i],
            vec!["GET", key],
            vec!["HSET", key, "f", &i],
            vec!["SADD", key, &i],
            vec!["ZADD", key, "1", &i],
            vec!["LPUSH", key, &i],
        ] {
            pipeline.push(cmd.iter().map(|a| a.to_string()).collect());
        }
    }
    let mut bytes = Vec::new();
    for cmd in &pipeline {
        let args: Vec<&[u8]> = cmd.iter().map(|a| a.as_bytes()).collect();
        bytes.extend_from_slice(&common::Raw::encode(&args));
    }
    let mut c = trio.nodes[0].raw();
    c.send(&bytes);
    let merged: Vec<Reply> = pipeline.iter().map(|_| c.read()).collect();
    for key in keys {
        for node in &trio.nodes {
            node.raw().cmd(&["DEL", key]);
        }
    }
    let single: Vec<Reply> = pipeline
        .iter()
        .map(|cmd| {
            let args: Vec<&str> = cmd.iter().map(String::as_str).collect();
            c.cmd(&args)
        })
        .collect();
    assert_eq!(merged, single);
    let moved = merged
        .iter()
        .filter(|r| matches!(r, Reply::Error(e) if e.starts_with("MOVED ")))
        .count();
    assert!(moved > 0 && moved < merged.len(), "{merged:?}");
    assert!(merged.contains(&Reply::Error(
        "WRONGTYPE Operation against a key holding the wrong kind of value".into()
    )));
}
