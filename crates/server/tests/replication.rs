//! Replication (replication.md) with real processes: a replica gets an existing data
//! set and then live writes, refuses writes, resumes partially after restarts of
//! either side, resumes an interrupted full sync, WAIT counts acknowledgements, and
//! in cluster mode the role comes from the topology.

mod common;

use std::time::{Duration, Instant};

use common::{info_field, wait_until, CommitDelay, Raw, Reply, TestServer};

/// SIGSTOP, and wait until every thread of the process has stopped (a signal is
/// delivered asynchronously; a busy machine may let a thread run a while longer).
fn stop_process(pid: u32) {
    common::signal(pid, "STOP");
    wait_until("the process stops", Duration::from_secs(10), || {
        std::fs::read_dir(format!("/proc/{pid}/task"))
            .map(|tasks| {
                tasks.flatten().all(|t| {
                    std::fs::read_to_string(t.path().join("stat"))
                        .ok()
                        .and_then(|s| {
                            s.rsplit(')')
                                .next()
                                .map(|r| r.trim_start().starts_with('T'))
                        })
                        .unwrap_or(true)
                })
            })
            .unwrap_or(true)
    });
}

/// A text field of an INFO section.
fn info_text(c: &mut Raw, section: &str, field: &str) -> String {
    let info = c.cmd(&["INFO", section]).text();
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .map(|v| v.trim().to_string())
        .unwrap_or_else(|| panic!("INFO {section} has no {field}: {info}"))
}

/// The master's newest sequence and the replica's applied one are equal.
fn wait_caught_up(master: &TestServer, replica: &TestServer) {
    wait_caught_up_on(&mut master.raw(), &mut replica.raw());
}

/// [`wait_caught_up`] on connections already made (and authenticated).
fn wait_caught_up_on(m: &mut Raw, r: &mut Raw) {
    wait_until("the replica catches up", Duration::from_secs(60), || {
        let want = info_field(m, "replication", "master_repl_offset");
        info_text(r, "replication", "master_link_status") == "up"
            && info_field(r, "replication", "slave_repl_offset") == want
    });
}

fn slaveof(replica: &TestServer, master: &TestServer) {
    let port = master.port.to_string();
    assert_eq!(
        replica.raw().cmd(&["SLAVEOF", "127.0.0.1", &port]),
        Reply::ok()
    );
}

/// `len` hex digits from a seeded xorshift: values that do not compress, so the data
/// set's size on disk is its size.
fn noise(seed: u64, len: usize) -> String {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            char::from_digit((x & 15) as u32, 16).unwrap_or('0')
        })
        .collect()
}

/// Every type, with and without expiries: what a data set looks like to a client.
fn load_every_type(c: &mut Raw, n: usize) {
    for i in 0..n {
        let i = i.to_string();
        c.cmd(&["SET", &format!("s:{i}"), &format!("v{i}")]);
        c.cmd(&["HSET", &format!("h:{i}"), "a", &i, "b", "2"]);
        c.cmd(&["RPUSH", &format!("l:{i}"), "x", "y", &i]);
        c.cmd(&["SADD", &format!("S:{i}"), "m1", &i]);
        c.cmd(&["ZADD", &format!("z:{i}"), "1.5", "a", "2", &i]);
        c.cmd(&["XADD", &format!("x:{i}"), "*", "f", &i]);
        c.cmd(&["SET", &format!("ttl:{i}"), "t", "PX", "3600000"]);
    }
}

/// What a client reads of the data set `load_every_type` wrote, on one node.
fn snapshot(c: &mut Raw, n: usize) -> Vec<Reply> {
    let mut out = vec![c.cmd(&["DBSIZE"])];
    for i in 0..n {
        let i = i.to_string();
        out.push(c.cmd(&["GET", &format!("s:{i}")]));
        out.push(c.cmd(&["HGETALL", &format!("h:{i}")]));
        out.push(c.cmd(&["LRANGE", &format!("l:{i}"), "0", "-1"]));
        out.push(c.cmd(&["SMEMBERS", &format!("S:{i}")]));
        out.push(c.cmd(&["ZRANGE", &format!("z:{i}"), "0", "-1", "WITHSCORES"]));
        out.push(c.cmd(&["XRANGE", &format!("x:{i}"), "-", "+"]));
        // Expiries are absolute: the same instant on both nodes.
        out.push(c.cmd(&["PEXPIRETIME", &format!("ttl:{i}")]));
    }
    out
}

#[test]
fn a_replica_gets_the_data_set_then_live_writes_and_refuses_writes() {
    let master = TestServer::start(&[]);
    let replica = TestServer::start(&[]);
    let mut m = master.raw();
    load_every_type(&mut m, 200);
    // A bulk of data besides: 100 MB in 400 values of 256 KiB.
    for i in 0..400 {
        let value = noise(i, 256 * 1024);
        assert_eq!(m.cmd(&["SET", &format!("big:{i}"), &value]), Reply::ok());
    }
    slaveof(&replica, &master);
    wait_caught_up(&master, &replica);
    let mut r = replica.raw();
    assert_eq!(snapshot(&mut r, 200), snapshot(&mut m, 200));
    assert_eq!(
        r.cmd(&["GET", "big:399"]),
        Reply::bulk(&noise(399, 256 * 1024))
    );
    assert_eq!(info_field(&mut m, "stats", "sync_full"), 1);

    // Live writes follow, in order.
    for i in 0..100 {
        m.cmd(&["INCR", "counter"]);
        m.cmd(&["RPUSH", "log", &i.to_string()]);
    }
    m.cmd(&["DEL", "s:0"]);
    wait_caught_up(&master, &replica);
    assert_eq!(r.cmd(&["GET", "counter"]), Reply::bulk("100"));
    assert_eq!(r.cmd(&["LLEN", "log"]), Reply::Int(100));
    assert_eq!(r.cmd(&["EXISTS", "s:0"]), Reply::Int(0));

    // Writes are refused with Redis' text, also pipelined ones; nothing changes.
    let readonly = Reply::err("READONLY You can't write against a read only slave.");
    assert_eq!(r.cmd(&["SET", "k", "v"]), readonly);
    assert_eq!(r.cmd(&["FLUSHALL"]), readonly);
    r.send(
        &[
            Raw::encode(&[b"SET", b"a", b"1"]),
            Raw::encode(&[b"SET", b"b", b"1"]),
        ]
        .concat(),
    );
    assert_eq!(r.read(), readonly);
    assert_eq!(r.read(), readonly);
    assert_eq!(
        info_field(&mut r, "replication", "slave_repl_offset"),
        info_field(&mut m, "replication", "master_repl_offset")
    );

    // INFO and ROLE on both sides.
    assert_eq!(info_text(&mut r, "replication", "role"), "slave");
    assert_eq!(info_text(&mut r, "replication", "master_host"), "127.0.0.1");
    assert_eq!(
        info_field(&mut r, "replication", "master_port"),
        i64::from(master.port)
    );
    assert_eq!(
        info_field(&mut r, "replication", "master_sync_in_progress"),
        0
    );
    assert_eq!(info_text(&mut m, "replication", "role"), "master");
    assert_eq!(info_field(&mut m, "replication", "connected_slaves"), 1);
    let slave0 = info_text(&mut m, "replication", "slave0");
    assert!(
        slave0.starts_with(&format!("ip=127.0.0.1,port={},", replica.port)),
        "{slave0}"
    );
    let seq = info_field(&mut m, "replication", "master_repl_offset");
    assert_eq!(info_field(&mut m, "keyspace", "sequence"), seq);
    let role = r.cmd(&["ROLE"]).items();
    assert_eq!(role[0], Reply::bulk("slave"));
    assert_eq!(role[2], Reply::Int(i64::from(master.port)));
    assert_eq!(role[3], Reply::bulk("connected"));
    assert_eq!(role[4], Reply::Int(seq));
    wait_until("the master sees the ack", Duration::from_secs(10), || {
        let role = m.cmd(&["ROLE"]).items();
        role[2].items().first().map(|r| r.items())
            == Some(vec![
                Reply::bulk("127.0.0.1"),
                Reply::bulk(&replica.port.to_string()),
                Reply::bulk(&seq.to_string()),
            ])
    });
    assert_eq!(
        r.cmd(&["WAIT", "1", "0"]),
        Reply::err("ERR WAIT cannot be used with replica instances. Please also note that since Redis 4.0 if a replica is configured to be writable (which is not the default) writes to replicas are just local and are not propagated.")
    );
}

#[test]
fn restarts_of_either_side_resume_without_a_full_copy() {
    let mut master = TestServer::start(&[]);
    master.keep_port();
    let mut replica = TestServer::start(&[]);
    let mut m = master.raw();
    load_every_type(&mut m, 20);
    slaveof(&replica, &master);
    wait_caught_up(&master, &replica);

    // The replica restarts (kill -9): SLAVEOF survived, and it continues partially.
    replica.restart();
    for i in 0..50 {
        m.cmd(&["SET", &format!("during-replica-down:{i}"), "1"]);
    }
    wait_caught_up(&master, &replica);
    assert_eq!(info_field(&mut m, "stats", "sync_full"), 1);
    assert_eq!(info_field(&mut m, "stats", "sync_partial_ok"), 2);
    let mut r = replica.raw();
    assert_eq!(r.cmd(&["GET", "during-replica-down:49"]), Reply::bulk("1"));

    // The master restarts (the link drops): the replica continues partially too.
    master.restart();
    let mut m = master.raw();
    for i in 0..50 {
        m.cmd(&["SET", &format!("after-master-restart:{i}"), "1"]);
    }
    wait_caught_up(&master, &replica);
    assert_eq!(info_field(&mut m, "stats", "sync_full"), 0);
    assert_eq!(info_field(&mut m, "stats", "sync_partial_ok"), 1);
    assert_eq!(info_field(&mut m, "stats", "sync_partial_err"), 0);
    assert_eq!(snapshot(&mut r, 20), snapshot(&mut m, 20));
    assert_eq!(r.cmd(&["GET", "after-master-restart:49"]), Reply::bulk("1"));

    // NO ONE: a master, data kept, writes taken.
    assert_eq!(r.cmd(&["SLAVEOF", "NO", "ONE"]), Reply::ok());
    assert_eq!(info_text(&mut r, "replication", "role"), "master");
    assert_eq!(r.cmd(&["SET", "mine", "1"]), Reply::ok());
    assert_eq!(r.cmd(&["GET", "after-master-restart:49"]), Reply::bulk("1"));
}

#[test]
fn an_interrupted_full_sync_resumes_with_the_files_received() {
    let master = TestServer::start(&["--max-replication-mb", "25"]);
    let mut replica = TestServer::start(&[]);
    let mut m = master.raw();
    for i in 0..400 {
        m.cmd(&["SET", &format!("big:{i}"), &noise(i, 256 * 1024)]);
    }
    // Many SST files rather than one: flushed in parts.
    m.cmd(&["COMPACT"]);
    slaveof(&replica, &master);
    let mut r = replica.raw();
    wait_until(
        "part of the transfer is done",
        Duration::from_secs(30),
        || info_field(&mut r, "replication", "master_sync_read_bytes") > 30 << 20,
    );
    replica.restart();
    wait_caught_up(&master, &replica);
    let mut r = replica.raw();
    let total = info_field(&mut r, "replication", "master_sync_total_bytes");
    let read = info_field(&mut r, "replication", "master_sync_read_bytes");
    assert!(total > 50 << 20, "total {total}");
    assert!(
        read < total - (20 << 20),
        "read {read} of {total}: nothing was kept"
    );
    assert_eq!(r.cmd(&["DBSIZE"]), Reply::Int(400));
    assert_eq!(
        r.cmd(&["GET", "big:123"]),
        Reply::bulk(&noise(123, 256 * 1024))
    );
}

#[test]
fn wait_counts_replicas_that_acknowledged() {
    let master = TestServer::start(&[]);
    let replica = TestServer::start(&[]);
    let mut m = master.raw();
    assert_eq!(m.cmd(&["WAIT", "0", "0"]), Reply::Int(0));
    slaveof(&replica, &master);
    wait_caught_up(&master, &replica);
    m.cmd(&["SET", "k", "1"]);
    assert_eq!(m.cmd(&["WAIT", "1", "0"]), Reply::Int(1));
    assert_eq!(m.cmd(&["WAIT", "-1", "0"]), Reply::Int(1));
    assert_eq!(
        m.cmd(&["WAIT", "1", "-1"]),
        Reply::err("ERR timeout is negative")
    );
    assert_eq!(
        m.cmd(&["WAIT", "x", "0"]),
        Reply::err("ERR value is not an integer or out of range")
    );
    // A stopped replica acknowledges nothing: WAIT times out with what it got.
    stop_process(replica.pid());
    m.cmd(&["SET", "k", "2"]);
    let started = Instant::now();
    assert_eq!(m.cmd(&["WAIT", "1", "300"]), Reply::Int(0));
    assert!(started.elapsed() >= Duration::from_millis(290));
    // Other clients are not held up meanwhile.
    assert_eq!(master.raw().cmd(&["GET", "k"]), Reply::bulk("2"));
    common::signal(replica.pid(), "CONT");
    assert_eq!(m.cmd(&["WAIT", "1", "10000"]), Reply::Int(1));
    // In MULTI it does not block.
    m.cmd(&["MULTI"]);
    m.cmd(&["SET", "k", "3"]);
    m.cmd(&["WAIT", "5", "0"]);
    let exec = m.cmd(&["EXEC"]).items();
    assert_eq!(exec[0], Reply::ok());
    assert!(matches!(exec[1], Reply::Int(n) if n <= 1));
}

#[test]
fn standalone_errors_and_stale_data() {
    let master = TestServer::start(&[]);
    let replica = TestServer::start(&["--slave-serve-stale-data", "no"]);
    let mut r = replica.raw();
    let me = replica.port.to_string();
    assert_eq!(
        r.cmd(&["SLAVEOF", "127.0.0.1", &me]),
        Reply::err("ERR can't replicate itself")
    );
    assert_eq!(
        r.cmd(&["REPLICAOF", "127.0.0.1", "abc"]),
        Reply::err("ERR port should be number")
    );
    slaveof(&replica, &master);
    wait_caught_up(&master, &replica);
    let mut m = master.raw();
    let replica_port = replica.port.to_string();
    assert_eq!(
        m.cmd(&["SLAVEOF", "127.0.0.1", &replica_port]),
        Reply::err("ERR can't replicate your own replicas")
    );
    drop(master);
    wait_until("the link is down", Duration::from_secs(10), || {
        info_text(&mut r, "replication", "master_link_status") == "down"
    });
    assert_eq!(
        r.cmd(&["GET", "k"]),
        Reply::err(
            "MASTERDOWN Link with MASTER is down and slave-serve-stale-data is set to 'no'."
        )
    );
    assert_eq!(r.cmd(&["PING"]), Reply::Status("PONG".into()));
    assert_eq!(info_text(&mut r, "replication", "role"), "slave");
}

const M: &str = "c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c1";
const R: &str = "c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c2";

fn setnodes(nodes: &[&TestServer], topology: &str, version: i64) {
    for node in nodes {
        assert_eq!(
            node.raw()
                .cmd(&["CLUSTERX", "SETNODES", topology, &version.to_string()]),
            Reply::ok()
        );
    }
}

/// Kvrocks' TestClusterReplication "after restart": a cluster-mode replica that
/// restarts while its master takes writes gets every one of them. Its start-up once
/// wrote a record of its own (the replicated migration states, settled again before
/// its role was known), which took the sequence number of the master's next batch: the
/// replica then resumed one batch too far and lost that write.
#[test]
fn a_cluster_replica_restarted_while_its_master_writes_gets_every_write() {
    let master = TestServer::start(&["--cluster-enabled", "yes"]);
    let mut replica = TestServer::start(&["--cluster-enabled", "yes"]);
    let topology = format!(
        "{M} 127.0.0.1 {} master - 0-16383\n{R} 127.0.0.1 {} slave {M}",
        master.port, replica.port
    );
    setnodes(&[&master, &replica], &topology, 1);
    let mut m = master.raw();
    assert_eq!(m.cmd(&["SET", "k0", "v0"]), Reply::ok());
    wait_caught_up(&master, &replica);
    for round in 0..3 {
        // A restart with nothing written meanwhile moves the replica's sequence not
        // at all: the master then continues it without a full copy.
        let sequence = info_field(&mut replica.raw(), "keyspace", "sequence");
        replica.terminate();
        replica.start_again();
        assert_eq!(
            info_field(&mut replica.raw(), "keyspace", "sequence"),
            sequence,
            "round {round}: the restart wrote"
        );
        wait_caught_up(&master, &replica);
        replica.terminate();
        let value = format!("v{}", round + 1);
        assert_eq!(m.cmd(&["SET", "k0", &value]), Reply::ok());
        assert_eq!(
            m.cmd(&["HSET", "k2", "f0", "v0", "f1", &value]),
            Reply::Int(if round == 0 { 2 } else { 0 })
        );
        replica.start_again();
        wait_caught_up(&master, &replica);
        let mut r = replica.raw();
        assert_eq!(r.cmd(&["READONLY"]), Reply::ok());
        assert_eq!(r.cmd(&["GET", "k0"]), Reply::bulk(&value), "round {round}");
        assert_eq!(
            r.cmd(&["HGET", "k2", "f1"]),
            Reply::bulk(&value),
            "round {round}"
        );
    }
    // One full copy (the first sync); every restart continued partially.
    assert_eq!(info_field(&mut m, "stats", "sync_full"), 1);
}

#[test]
fn cluster_replica_from_the_topology_then_reset_makes_it_a_master() {
    let master = TestServer::start(&["--cluster-enabled", "yes"]);
    let replica = TestServer::start(&["--cluster-enabled", "yes"]);
    let topology = format!(
        "{M} 127.0.0.1 {} master - 0-16383\n{R} 127.0.0.1 {} slave {M}",
        master.port, replica.port
    );
    let mut r = replica.raw();
    assert_eq!(
        r.cmd(&["SLAVEOF", "NO", "ONE"]),
        Reply::err("ERR can't change to slave in cluster mode")
    );
    setnodes(&[&master, &replica], &topology, 1);
    assert_eq!(info_text(&mut r, "replication", "role"), "slave");
    let mut m = master.raw();
    m.cmd(&["SET", "k", "v"]);
    wait_caught_up(&master, &replica);
    let moved = Reply::err(&format!("MOVED 7629 127.0.0.1:{}", master.port));
    assert_eq!(r.cmd(&["GET", "k"]), moved);
    assert_eq!(r.cmd(&["SET", "k", "x"]), moved);
    assert_eq!(r.cmd(&["READONLY"]), Reply::ok());
    assert_eq!(r.cmd(&["GET", "k"]), Reply::bulk("v"));
    assert_eq!(r.cmd(&["SET", "k", "x"]), moved);
    assert_eq!(
        r.cmd(&["FLUSHALL"]),
        Reply::err("READONLY You can't write against a read only slave.")
    );
    assert_eq!(r.cmd(&["READWRITE"]), Reply::ok());
    assert_eq!(r.cmd(&["GET", "k"]), moved);

    // Kvrocks' case: a replica whose topology is reset is a master (its data must be
    // gone first, as for any reset).
    m.cmd(&["DEL", "k"]);
    wait_caught_up(&master, &replica);
    assert_eq!(r.cmd(&["CLUSTER", "RESET"]), Reply::ok());
    assert_eq!(info_text(&mut r, "replication", "role"), "master");
    assert_eq!(info_field(&mut m, "replication", "connected_slaves"), 0);
}

#[test]
fn a_controller_failover_under_writes_keeps_every_waited_write() {
    let mut master = TestServer::start(&["--cluster-enabled", "yes"]);
    let replica = TestServer::start(&["--cluster-enabled", "yes"]);
    let v1 = format!(
        "{M} 127.0.0.1 {} master - 0-16383\n{R} 127.0.0.1 {} slave {M}",
        master.port, replica.port
    );
    setnodes(&[&master, &replica], &v1, 1);
    wait_caught_up(&master, &replica);

    // A client writes and confirms each write with WAIT 1; then the master dies.
    let mut m = master.raw();
    let mut waited = Vec::new();
    for i in 0..300 {
        let key = format!("w:{i}");
        assert_eq!(m.cmd(&["SET", &key, "1"]), Reply::ok());
        if m.cmd(&["WAIT", "1", "1000"]) == Reply::Int(1) {
            waited.push(key);
        }
    }
    assert!(waited.len() > 250, "{} waited", waited.len());
    master.kill9();

    // The controller promotes the replica (version 2) and marks the old master failed.
    let v2 = format!(
        "{R} 127.0.0.1 {} master - 0-16383\n{M} 127.0.0.1 {} slave,fail {R}",
        replica.port, master.port
    );
    let pushed = Instant::now();
    setnodes(&[&replica], &v2, 2);
    let mut r = replica.raw();
    assert_eq!(r.cmd(&["SET", "after", "1"]), Reply::ok());
    let took = pushed.elapsed();
    assert!(took < Duration::from_secs(2), "promotion took {took:?}");
    assert_eq!(info_text(&mut r, "replication", "role"), "master");
    for key in &waited {
        assert_eq!(r.cmd(&["GET", key]), Reply::bulk("1"), "{key} lost");
    }

    // The old master comes back with its stale topology and, a master until told
    // otherwise, takes writes no replica acknowledges; told it is a replica, it
    // converges to the new master's data (those writes gone).
    master.start_again();
    let mut stale = master.raw();
    for i in 0..20 {
        assert_eq!(stale.cmd(&["SET", &format!("lost:{i}"), "1"]), Reply::ok());
    }
    setnodes(&[&master], &v2, 2);
    wait_caught_up(&replica, &master);
    let mut old = master.raw();
    assert_eq!(old.cmd(&["READONLY"]), Reply::ok());
    assert_eq!(old.cmd(&["GET", "after"]), Reply::bulk("1"));
    assert_eq!(old.cmd(&["EXISTS", "lost:19"]), Reply::Int(0));
    assert_eq!(old.cmd(&["DBSIZE"]), r.cmd(&["DBSIZE"]));
    let nodes = old.cmd(&["CLUSTER", "NODES"]).text();
    assert!(nodes.contains("myself,slave,fail"), "{nodes}");
}

const S: &str = "d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d1";
const SR: &str = "d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d2";
const D: &str = "d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d3";
const DR: &str = "d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d4";

/// Two shards with a replica each: S (0-8191) with SR, D (8192-16383) with DR.
struct Shards {
    s: TestServer,
    sr: TestServer,
    d: TestServer,
    dr: TestServer,
}

impl Shards {
    fn start() -> Shards {
        let node = || TestServer::start(&["--cluster-enabled", "yes"]);
        let shards = Shards {
            s: node(),
            sr: node(),
            d: node(),
            dr: node(),
        };
        let topology = shards.topology(S, SR, "0-8191");
        setnodes(&shards.all(), &topology, 1);
        shards
    }

    fn all(&self) -> [&TestServer; 4] {
        [&self.s, &self.sr, &self.d, &self.dr]
    }

    /// The topology with `master` owning `source_slots` of the source shard and
    /// `replica` following it; D owns the rest, DR follows D.
    fn topology(&self, master: &str, replica: &str, source_slots: &str) -> String {
        let port = |id: &str| match id {
            S => self.s.port,
            SR => self.sr.port,
            D => self.d.port,
            _ => self.dr.port,
        };
        let dest_slots = if source_slots == "0-8191" {
            "8192-16383".to_string()
        } else {
            "0-100 8192-16383".to_string()
        };
        format!(
            "{master} 127.0.0.1 {} master - {source_slots}\n{replica} 127.0.0.1 {} slave {master}\n{D} 127.0.0.1 {} master - {dest_slots}\n{DR} 127.0.0.1 {} slave {D}",
            port(master),
            port(replica),
            self.d.port,
            self.dr.port
        )
    }
}

/// `count` keys whose slots are in 0-100.
fn low_keys(count: usize) -> Vec<String> {
    (0..)
        .map(|i| format!("low:{i}"))
        .filter(|k| ferrokv_keyslot::key_slot(k.as_bytes()) <= 100)
        .take(count)
        .collect()
}

#[test]
fn migration_between_shards_with_replicas() {
    let shards = Shards::start();
    let mut s = shards.s.raw();
    let keys = low_keys(300);
    for k in &keys {
        assert_eq!(s.cmd(&["SET", k, k]), Reply::ok());
    }
    wait_caught_up(&shards.s, &shards.sr);
    // The destination must know its replica before the copy, or it ingests files.
    wait_caught_up(&shards.d, &shards.dr);
    assert_eq!(
        s.cmd(&["CLUSTERX", "MIGRATE", "0-100", D, "sync"]),
        Reply::ok()
    );
    wait_caught_up(&shards.s, &shards.sr);
    wait_caught_up(&shards.d, &shards.dr);
    let moved_to_d = |k: &str| {
        Reply::err(&format!(
            "MOVED {} 127.0.0.1:{}",
            ferrokv_keyslot::key_slot(k.as_bytes()),
            shards.d.port
        ))
    };
    // Before SETSLOT: the source's replica sends the slots to the destination, the
    // destination's replica serves them to READONLY clients.
    let mut sr = shards.sr.raw();
    sr.cmd(&["READONLY"]);
    assert_eq!(sr.cmd(&["GET", &keys[0]]), moved_to_d(&keys[0]));
    let mut dr = shards.dr.raw();
    dr.cmd(&["READONLY"]);
    for k in keys.iter().step_by(37) {
        assert_eq!(dr.cmd(&["GET", k]), Reply::bulk(k));
    }
    assert_eq!(dr.cmd(&["SET", &keys[0], "x"]), moved_to_d(&keys[0]));
    assert_eq!(dr.cmd(&["DBSIZE"]), Reply::Int(300));
    // A destination followed by a replica writes the snapshot through its WAL (the
    // replica reads nothing else): no SST file was ingested.
    assert_eq!(
        info_field(&mut shards.d.raw(), "rocksdb", "imported_sst_files"),
        0
    );

    // The hand-over: the source's range delete reaches its replica.
    let v2 = shards.topology(S, SR, "101-8191");
    setnodes(&shards.all(), &v2, 2);
    wait_caught_up(&shards.s, &shards.sr);
    wait_until(
        "the source's replica drops the slots",
        Duration::from_secs(10),
        || sr.cmd(&["DBSIZE"]) == Reply::Int(0),
    );
    assert_eq!(sr.cmd(&["GET", &keys[0]]), moved_to_d(&keys[0]));
    assert_eq!(dr.cmd(&["GET", &keys[1]]), Reply::bulk(&keys[1]));
}

#[test]
fn a_replica_away_while_its_master_ingests_a_migration_full_syncs_and_gets_every_key() {
    let mut shards = Shards::start();
    let mut s = shards.s.raw();
    let keys = low_keys(300);
    for k in &keys {
        assert_eq!(s.cmd(&["SET", k, k]), Reply::ok());
    }
    let mut d = shards.d.raw();
    assert_eq!(d.cmd(&["SET", "{x}d-own", "1"]), Reply::ok());
    wait_caught_up(&shards.d, &shards.dr);
    let full_syncs = info_field(&mut d, "stats", "sync_full");
    shards.dr.kill9();
    wait_until(
        "D notices its replica is gone",
        Duration::from_secs(10),
        || info_field(&mut d, "replication", "connected_slaves") == 0,
    );
    // No replica attached: D ingests the snapshot as files, which its WAL lacks.
    assert_eq!(
        s.cmd(&["CLUSTERX", "MIGRATE", "0-100", D, "sync"]),
        Reply::ok()
    );
    assert!(info_field(&mut d, "rocksdb", "imported_sst_files") > 0);
    // Back, the replica's partial sync from before the ingestion is refused: it
    // full-syncs and holds every key.
    shards.dr.start_again();
    wait_caught_up(&shards.d, &shards.dr);
    assert!(
        info_field(&mut d, "stats", "sync_full") > full_syncs,
        "the replica full-synced"
    );
    let mut dr = shards.dr.raw();
    dr.cmd(&["READONLY"]);
    assert_eq!(dr.cmd(&["DBSIZE"]), Reply::Int(301));
    for k in &keys {
        assert_eq!(dr.cmd(&["GET", k]), Reply::bulk(k), "{k}");
    }
    // And a later restart resumes partially again.
    let partial = info_field(&mut d, "stats", "sync_partial_ok");
    shards.dr.restart();
    wait_caught_up(&shards.d, &shards.dr);
    assert!(info_field(&mut d, "stats", "sync_partial_ok") > partial);
}

#[test]
fn a_source_turned_replica_during_a_migration_fails_the_job() {
    let shards = Shards::start();
    let mut s = shards.s.raw();
    let value = "v".repeat(64 * 1024);
    let counters = low_keys(220).split_off(200);
    for k in low_keys(200) {
        s.cmd(&["SET", &k, &value]);
    }
    let ledger = Ledger::start(shards.s.port, counters.clone());
    wait_caught_up(&shards.s, &shards.sr);
    // About 13 MB at 1 MB/s: still copying when the failover comes.
    s.cmd(&["CONFIG", "SET", "migrate-batch-rate-limit-mb", "1"]);
    assert_eq!(s.cmd(&["CLUSTERX", "MIGRATE", "0-100", D]), Reply::ok());
    let mut d = shards.d.raw();
    wait_until("the import runs", Duration::from_secs(10), || {
        d.cmd(&["CLUSTER", "INFO"])
            .text()
            .contains("import_state: start")
    });
    // The controller fails the source over to its replica.
    let v2 = shards.topology(SR, S, "0-8191");
    for node in [&shards.sr, &shards.s, &shards.d, &shards.dr] {
        assert_eq!(
            node.raw().cmd(&["CLUSTERX", "SETNODES", &v2, "2"]),
            Reply::ok()
        );
    }
    wait_until(
        "the destination's import fails",
        Duration::from_secs(20),
        || {
            d.cmd(&["CLUSTER", "INFO"])
                .text()
                .contains("import_state: error")
        },
    );
    // The promoted replica serves every key; the destination holds none of them.
    let mut sr = shards.sr.raw();
    for k in low_keys(200).iter().step_by(17) {
        assert_eq!(sr.cmd(&["STRLEN", k]), Reply::Int(64 * 1024));
    }
    assert_eq!(d.cmd(&["DBSIZE"]), Reply::Int(0));
    assert_eq!(sr.cmd(&["SET", &low_keys(1)[0], "new"]), Reply::ok());
    std::thread::sleep(Duration::from_millis(300));
    ledger.check(&shards.sr, &counters);
}

/// A client incrementing counters in slots 0-100 while the cluster changes under it:
/// it follows MOVED, and confirms each INCR with `WAIT 1`. The ledger tells what must
/// be on the serving node at the end: at least every confirmed increment (none lost),
/// at most every attempted one (none applied twice).
struct Ledger {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<(Vec<i64>, Vec<i64>)>>,
}

impl Ledger {
    fn start(first_port: u16, keys: Vec<String>) -> Ledger {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut port = first_port;
            let mut c = Raw::connect(port);
            let (mut waited, mut attempted) = (vec![0i64; keys.len()], vec![0i64; keys.len()]);
            let mut i = 0;
            while !flag.load(std::sync::atomic::Ordering::Acquire) {
                let k = i % keys.len();
                match c.cmd(&["INCR", &keys[k]]) {
                    Reply::Int(_) => {
                        attempted[k] += 1;
                        if c.cmd(&["WAIT", "1", "2000"]) == Reply::Int(1) {
                            waited[k] += 1;
                        }
                        i += 1;
                    }
                    Reply::Error(e) if e.starts_with("MOVED") => {
                        let to = e.rsplit(':').next().and_then(|p| p.parse().ok());
                        port = to.unwrap_or(port);
                        c = Raw::connect(port);
                    }
                    // TRYAGAIN at a fence, or a node changing role: try again.
                    Reply::Error(_) => std::thread::sleep(Duration::from_millis(5)),
                    other => panic!("INCR replied {other:?}"),
                }
            }
            (waited, attempted)
        });
        Ledger {
            stop,
            thread: Some(thread),
        }
    }

    /// Stops the client and checks the counters on the node serving them.
    fn check(mut self, serving: &TestServer, keys: &[String]) {
        self.stop.store(true, std::sync::atomic::Ordering::Release);
        let (waited, attempted) = self.thread.take().expect("running").join().expect("ledger");
        let mut c = serving.raw();
        for (k, key) in keys.iter().enumerate() {
            let value = match c.cmd(&["GET", key]) {
                Reply::Nil => 0,
                other => other.text().parse::<i64>().expect("a counter"),
            };
            assert!(
                value >= waited[k],
                "{key}: {value} < {} confirmed increments: a confirmed write was lost",
                waited[k]
            );
            assert!(
                value <= attempted[k],
                "{key}: {value} > {} attempted increments: a write was applied twice",
                attempted[k]
            );
        }
        assert!(
            waited.iter().sum::<i64>() > 0,
            "the client confirmed nothing"
        );
    }
}

#[test]
fn failovers_of_both_shards_after_the_commit_keep_one_writer() {
    let shards = Shards::start();
    let keys = low_keys(20);
    let ledger = Ledger::start(shards.s.port, keys.clone());
    std::thread::sleep(Duration::from_millis(300));
    let mut s = shards.s.raw();
    assert_eq!(
        s.cmd(&["CLUSTERX", "MIGRATE", "0-100", D, "sync"]),
        Reply::ok()
    );
    std::thread::sleep(Duration::from_millis(300));
    wait_caught_up(&shards.d, &shards.dr);
    // The destination fails over: the slots have not been handed over yet.
    let dr_master = format!(
        "{S} 127.0.0.1 {} master - 0-8191\n{SR} 127.0.0.1 {} slave {S}\n{DR} 127.0.0.1 {} master - 8192-16383\n{D} 127.0.0.1 {} slave,fail {DR}",
        shards.s.port, shards.sr.port, shards.dr.port, shards.d.port
    );
    setnodes(&shards.all(), &dr_master, 2);
    let moved_to_dr = Reply::err(&format!(
        "MOVED {} 127.0.0.1:{}",
        ferrokv_keyslot::key_slot(keys[0].as_bytes()),
        shards.dr.port
    ));
    assert_eq!(s.cmd(&["GET", &keys[0]]), moved_to_dr);
    std::thread::sleep(Duration::from_millis(300));
    // Then the source fails over too: its promoted replica knows where the slots went.
    let both = format!(
        "{SR} 127.0.0.1 {} master - 0-8191\n{S} 127.0.0.1 {} slave {SR}\n{DR} 127.0.0.1 {} master - 8192-16383\n{D} 127.0.0.1 {} slave {DR}",
        shards.sr.port, shards.s.port, shards.dr.port, shards.d.port
    );
    setnodes(&shards.all(), &both, 3);
    let mut sr = shards.sr.raw();
    assert_eq!(sr.cmd(&["GET", &keys[0]]), moved_to_dr);
    let info = sr.cmd(&["CLUSTER", "INFO"]).text();
    assert!(info.contains("migrating_state: success"), "{info}");
    std::thread::sleep(Duration::from_millis(300));
    // The controller hands the slots over to the destination shard's master.
    for node in shards.all() {
        assert_eq!(
            node.raw()
                .cmd(&["CLUSTERX", "SETSLOT", "0-100", "NODE", DR, "4"]),
            Reply::ok()
        );
    }
    std::thread::sleep(Duration::from_millis(300));
    ledger.check(&shards.dr, &keys);
}

#[test]
fn a_destination_failover_during_the_copy_fails_the_job_and_the_source_keeps_serving() {
    let shards = Shards::start();
    let mut s = shards.s.raw();
    let value = "v".repeat(64 * 1024);
    for k in low_keys(200).iter().skip(20) {
        s.cmd(&["SET", k, &value]);
    }
    let keys = low_keys(20);
    let ledger = Ledger::start(shards.s.port, keys.clone());
    wait_caught_up(&shards.s, &shards.sr);
    s.cmd(&["CONFIG", "SET", "migrate-batch-rate-limit-mb", "1"]);
    assert_eq!(s.cmd(&["CLUSTERX", "MIGRATE", "0-100", D]), Reply::ok());
    let mut dr = shards.dr.raw();
    let mut d = shards.d.raw();
    wait_until("the import runs", Duration::from_secs(10), || {
        d.cmd(&["CLUSTER", "INFO"])
            .text()
            .contains("import_state: start")
    });
    let dr_master = format!(
        "{S} 127.0.0.1 {} master - 0-8191\n{SR} 127.0.0.1 {} slave {S}\n{DR} 127.0.0.1 {} master - 8192-16383\n{D} 127.0.0.1 {} slave {DR}",
        shards.s.port, shards.sr.port, shards.dr.port, shards.d.port
    );
    setnodes(
        &[&shards.dr, &shards.d, &shards.s, &shards.sr],
        &dr_master,
        2,
    );
    wait_until("the job fails", Duration::from_secs(30), || {
        s.cmd(&["CLUSTER", "INFO"])
            .text()
            .contains("migrating_state: fail")
    });
    // Nothing of the import is left on the destination shard; the source serves all.
    assert_eq!(dr.cmd(&["DBSIZE"]), Reply::Int(0));
    assert_eq!(s.cmd(&["STRLEN", &low_keys(30)[25]]), Reply::Int(64 * 1024));
    std::thread::sleep(Duration::from_millis(300));
    ledger.check(&shards.s, &keys);
}

#[test]
fn announced_address_and_client_kill_type_slave() {
    let master = TestServer::start(&["--requirepass", "pw"]);
    let replica = TestServer::start(&[
        "--replica-announce-ip",
        "slave-ip.local",
        "--replica-announce-port",
        "1234",
        "--masterauth",
        "pw",
    ]);
    slaveof(&replica, &master);
    let mut m = master.raw();
    assert_eq!(m.cmd(&["AUTH", "pw"]), Reply::ok());
    let mut r = replica.raw();
    wait_until("the replica syncs", Duration::from_secs(20), || {
        info_text(&mut r, "replication", "master_link_status") == "up"
    });
    let slave0 = info_text(&mut m, "replication", "slave0");
    assert!(
        slave0.starts_with("ip=slave-ip.local,port=1234,"),
        "{slave0}"
    );
    let role = m.cmd(&["ROLE"]).items();
    let first = role[2].items()[0].items();
    assert_eq!(first[0], Reply::bulk("slave-ip.local"));
    assert_eq!(first[1], Reply::bulk("1234"));
    // Kvrocks' test of a password change kills the replica's link this way.
    assert_eq!(m.cmd(&["CLIENT", "KILL", "TYPE", "slave"]), Reply::Int(1));
    m.cmd(&["SET", "after-kill", "1"]);
    wait_until("the replica comes back", Duration::from_secs(20), || {
        info_field(&mut m, "stats", "sync_partial_ok") == 2
            && info_field(&mut m, "replication", "connected_slaves") == 1
    });
    wait_caught_up_on(&mut m, &mut r);
    assert_eq!(r.cmd(&["GET", "after-kill"]), Reply::bulk("1"));
    assert_eq!(info_field(&mut m, "stats", "sync_full"), 1);
}

#[test]
fn a_transaction_queued_on_a_master_does_not_write_once_it_is_a_replica() {
    let master = TestServer::start(&[]);
    let node = TestServer::start(&[]);
    let mut c = node.raw();
    assert_eq!(c.cmd(&["MULTI"]), Reply::ok());
    assert_eq!(
        c.cmd(&["SET", "x", "from-node"]),
        Reply::Status("QUEUED".into())
    );
    slaveof(&node, &master);
    wait_caught_up(&master, &node);
    assert_eq!(
        c.cmd(&["EXEC"]),
        Reply::err("READONLY You can't write against a read only slave.")
    );
    let mut m = master.raw();
    m.cmd(&["SET", "y", "1"]);
    wait_caught_up(&master, &node);
    assert_eq!(c.cmd(&["EXISTS", "x"]), Reply::Int(0));
    assert_eq!(c.cmd(&["GET", "y"]), Reply::bulk("1"));
}

#[test]
fn a_former_replica_restarted_as_a_master_starts_a_history_of_its_own() {
    let mut c = TestServer::start(&[]);
    c.keep_port();
    let master_addr = format!("127.0.0.1 {}", c.port);
    let mut d = TestServer::start(&["--slaveof", &master_addr]);
    let mut cm = c.raw();
    cm.cmd(&["SET", "shared", "1"]);
    wait_caught_up(&c, &d);
    // D restarts without the option (killed while a replica): a master now, of a
    // history of its own.
    let at = d
        .args
        .iter()
        .position(|a| a == "--slaveof")
        .expect("option");
    d.args.drain(at..at + 2);
    d.restart();
    let mut dm = d.raw();
    assert_eq!(info_text(&mut dm, "replication", "role"), "master");
    assert_ne!(
        info_text(&mut dm, "replication", "master_replid"),
        info_text(&mut cm, "replication", "master_replid")
    );
    cm.cmd(&["SET", "only-c", "1"]);
    dm.cmd(&["SET", "only-d", "1"]);
    let full_before = info_field(&mut cm, "stats", "sync_full");
    slaveof(&d, &c);
    wait_caught_up(&c, &d);
    let mut dm = d.raw();
    assert_eq!(dm.cmd(&["EXISTS", "only-d"]), Reply::Int(0));
    assert_eq!(dm.cmd(&["GET", "only-c"]), Reply::bulk("1"));
    assert_eq!(info_field(&mut cm, "stats", "sync_full"), full_before + 1);

    // Restarted while still a replica, then made a master by the restart's options:
    // a new history too (the role was persisted before it followed anyone).
    d.raw().cmd(&["SLAVEOF", "NO", "ONE"]);
    slaveof(&d, &c);
    wait_caught_up(&c, &d);
    d.kill9();
    // Its replication.conf says replica of C: it follows C again after a restart.
    d.start_again();
    wait_caught_up(&c, &d);
}

#[test]
fn a_checkpoint_of_an_old_role_is_never_served() {
    let e = TestServer::start(&[]);
    let f = TestServer::start(&[]);
    let g = TestServer::start(&[]);
    let h = TestServer::start(&[]);
    e.raw().cmd(&["SET", "discard", "1"]);
    slaveof(&f, &e);
    wait_caught_up(&e, &f);
    g.raw().cmd(&["SET", "from-g", "1"]);
    slaveof(&e, &g);
    wait_caught_up(&g, &e);
    assert_eq!(e.raw().cmd(&["SLAVEOF", "NO", "ONE"]), Reply::ok());
    slaveof(&h, &e);
    wait_caught_up(&e, &h);
    let mut hr = h.raw();
    assert_eq!(hr.cmd(&["EXISTS", "discard"]), Reply::Int(0));
    assert_eq!(hr.cmd(&["GET", "from-g"]), Reply::bulk("1"));
}

#[test]
fn client_pause_holds_writes_or_everything_until_it_ends() {
    let node = TestServer::start(&[]);
    let mut admin = node.raw();
    let mut c = node.raw();
    assert_eq!(
        admin.cmd(&["CLIENT", "PAUSE", "x"]),
        Reply::err("ERR timeout is not an integer or out of range")
    );
    assert_eq!(
        admin.cmd(&["CLIENT", "PAUSE", "-1"]),
        Reply::err("ERR timeout is negative")
    );
    assert_eq!(
        admin.cmd(&["CLIENT", "PAUSE", "10", "SOME"]),
        Reply::err("ERR syntax error")
    );
    // WRITE: reads go on, writes wait for the end of the pause.
    assert_eq!(admin.cmd(&["CLIENT", "PAUSE", "400", "WRITE"]), Reply::ok());
    let started = Instant::now();
    assert_eq!(c.cmd(&["GET", "k"]), Reply::Nil);
    assert!(started.elapsed() < Duration::from_millis(200));
    assert_eq!(c.cmd(&["SET", "k", "v"]), Reply::ok());
    assert!(started.elapsed() >= Duration::from_millis(350));
    // ALL (the default): reads wait too; UNPAUSE ends it early, and CLIENT never waits.
    assert_eq!(admin.cmd(&["CLIENT", "PAUSE", "10000"]), Reply::ok());
    let started = Instant::now();
    c.send(&Raw::encode(&[b"GET", b"k"]));
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(admin.cmd(&["CLIENT", "UNPAUSE"]), Reply::ok());
    assert_eq!(c.read(), Reply::bulk("v"));
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(190) && waited < Duration::from_secs(5),
        "{waited:?}"
    );
}

/// The source master dies while its cut-over is fenced (a relay holds its commit back
/// on the way to the destination), and the controller promotes its replica. The
/// promoted replica settles the cut-over with the destination from the replicated
/// `committing` record. Whichever way it settles, the slots end with exactly one
/// writer, holding every write the client saw confirmed by WAIT.
#[test]
fn a_failover_of_the_source_during_the_fence_keeps_one_writer() {
    let mut shards = Shards::start();
    let keys = low_keys(200);
    let mut s = shards.s.raw();
    for k in &keys {
        assert_eq!(s.cmd(&["SET", k, "1"]), Reply::ok());
    }
    assert_eq!(s.cmd(&["WAIT", "1", "5000"]), Reply::Int(1));
    // Everyone reaches the destination through the relay, which holds the source's
    // commit for 3 s.
    let relay = CommitDelay::start(shards.d.port, "0-100", Duration::from_secs(3));
    let (s_port, sr_port, dr_port) = (shards.s.port, shards.sr.port, shards.dr.port);
    let shard = |master: &str, replica: &str, role: &str| {
        let port = |id: &str| if id == S { s_port } else { sr_port };
        format!(
            "{master} 127.0.0.1 {} master - 0-8191\n{replica} 127.0.0.1 {} {role} {master}\n{D} 127.0.0.1 {} master - 8192-16383\n{DR} 127.0.0.1 {dr_port} slave {D}",
            port(master),
            port(replica),
            relay.port,
        )
    };
    assert_eq!(
        shards.d.raw().cmd(&["CLUSTERX", "SETNODEID", D]),
        Reply::ok()
    );
    setnodes(&shards.all(), &shard(S, SR, "slave"), 2);
    wait_caught_up(&shards.s, &shards.sr);
    wait_caught_up(&shards.d, &shards.dr);
    assert_eq!(s.cmd(&["CLUSTERX", "MIGRATE", "0-100", D]), Reply::ok());
    wait_until("the cut-over is fenced", Duration::from_secs(30), || {
        relay.caught()
    });

    // The source dies in its fence; the controller promotes its replica.
    shards.s.kill9();
    let promoted = shard(SR, S, "slave,fail");
    setnodes(&[&shards.sr, &shards.d, &shards.dr], &promoted, 3);
    // The import ends on the destination: committed if the held commit got there
    // first, aborted if the promoted replica settled the cut-over first.
    let mut d = shards.d.raw();
    let mut outcome = "";
    wait_until(
        "the destination's import ends",
        Duration::from_secs(30),
        || {
            let info = d.cmd(&["CLUSTER", "INFO"]).text();
            outcome = ["success", "error"]
                .into_iter()
                .find(|s| info.contains(&format!("import_state: {s}\r\n")))
                .unwrap_or_default();
            !outcome.is_empty()
        },
    );

    // One writer: the destination if it committed, else the promoted replica; the
    // other redirects to it. Every confirmed write is on the writer.
    let slot_of = |k: &str| ferrokv_keyslot::key_slot(k.as_bytes());
    let mut sr = shards.sr.raw();
    let (writer, other, other_to) = match outcome {
        "success" => (&mut d, &mut sr, relay.port),
        _ => (&mut sr, &mut d, shards.sr.port),
    };
    let moved = |k: &str| Reply::err(&format!("MOVED {} 127.0.0.1:{other_to}", slot_of(k)));
    wait_until("the other node redirects", Duration::from_secs(30), || {
        other.cmd(&["GET", &keys[0]]) == moved(&keys[0])
    });
    for k in &keys {
        assert_eq!(writer.cmd(&["GET", k]), Reply::bulk("1"), "{k} ({outcome})");
        assert_eq!(
            other.cmd(&["SET", k, "2"]),
            moved(k),
            "{k} ({outcome}): a second writer"
        );
    }
    assert_eq!(
        writer.cmd(&["INCR", &keys[0]]),
        Reply::Int(2),
        "({outcome})"
    );
}

/// A replica's link to its master is Redis' `master` client: CLIENT KILL TYPE master
/// (or the master's address) breaks it, and the replica reconnects and continues
/// without a full copy (Kvrocks' "Kill master client").
#[test]
fn client_kill_type_master_breaks_the_link_and_it_continues() {
    let master = TestServer::start(&[]);
    let replica = TestServer::start(&[]);
    let mut m = master.raw();
    let mut r = replica.raw();
    assert_eq!(r.cmd(&["CLIENT", "KILL", "TYPE", "master"]), Reply::Int(0));
    slaveof(&replica, &master);
    m.cmd(&["SET", "k", "1"]);
    wait_caught_up(&master, &replica);
    let partial = info_field(&mut m, "stats", "sync_partial_ok");
    assert_eq!(r.cmd(&["CLIENT", "KILL", "TYPE", "master"]), Reply::Int(1));
    wait_until("the replica reconnects", Duration::from_secs(10), || {
        info_field(&mut m, "stats", "sync_partial_ok") == partial + 1
    });
    m.cmd(&["SET", "k", "2"]);
    wait_caught_up(&master, &replica);
    assert_eq!(r.cmd(&["GET", "k"]), Reply::bulk("2"));
    let addr = format!("127.0.0.1:{}", master.port);
    assert_eq!(r.cmd(&["CLIENT", "KILL", &addr]), Reply::ok());
    wait_until(
        "the replica reconnects again",
        Duration::from_secs(10),
        || info_field(&mut m, "stats", "sync_partial_ok") == partial + 2,
    );
    assert_eq!(info_field(&mut m, "stats", "sync_full"), 1);
    assert_eq!(
        r.cmd(&["CLIENT", "KILL", "127.0.0.1:1"]),
        Reply::err("ERR No such client")
    );
}
