//! The real `ferrokv-ctl` binary against real `ferrokv-server` processes.
//!
//! The server binary is the workspace's `ferrokv-server`, found next to `ferrokv-ctl` in
//! the target directory (`cargo test` at the workspace root builds both; with
//! `cargo test -p ferrokv-ctl`, run `cargo build -p ferrokv-server` first), or named by
//! `FERROKV_SERVER`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use redis::Commands;
use serde_json::Value;

const CTL: &str = env!("CARGO_BIN_EXE_ferrokv-ctl");

fn server_bin() -> PathBuf {
    if let Ok(p) = std::env::var("FERROKV_SERVER") {
        return PathBuf::from(p);
    }
    let p = PathBuf::from(CTL)
        .parent()
        .expect("target dir")
        .join("ferrokv-server");
    assert!(
        p.exists(),
        "{} is missing: run `cargo build -p ferrokv-server` (or set FERROKV_SERVER)",
        p.display()
    );
    p
}

struct Node {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Node {
    fn start() -> Node {
        Node::start_with(&[])
    }

    /// Starts a cluster-mode server on a port the kernel picks (`--port 0`), read back
    /// from its `--port-file` once it listens: no other process can take the port
    /// between choosing and binding it (as crates/server/tests/common does).
    fn start_with(extra: &[&str]) -> Node {
        let dir = tempfile::tempdir().expect("tempdir");
        let port_file = dir.path().join("port");
        let child = Command::new(server_bin())
            .args(["--port", "0", "--port-file"])
            .arg(&port_file)
            .arg("--dir")
            .arg(dir.path().join("data"))
            .args(["--cluster-enabled", "yes", "--log-level", "warning"])
            .args(extra)
            .stdout(Stdio::null())
            .spawn()
            .expect("spawn ferrokv-server");
        let mut node = Node {
            child,
            port: 0,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = node.child.try_wait() {
                panic!("ferrokv-server exited during start-up: {status}");
            }
            if let Some(port) = std::fs::read_to_string(&port_file)
                .ok()
                .and_then(|t| t.trim().parse().ok())
            {
                node.port = port;
                if let Ok(mut c) = redis::Client::open(node.url()).and_then(|c| c.get_connection())
                {
                    let ping = redis::cmd("PING").query::<String>(&mut c);
                    if ping.is_ok() || ping.is_err_and(|e| e.to_string().contains("NOAUTH")) {
                        return node;
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("ferrokv-server did not start answering");
    }

    fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    fn con(&self) -> redis::Connection {
        redis::Client::open(self.url())
            .and_then(|c| c.get_connection())
            .expect("connect")
    }

    fn version(&self) -> i64 {
        let v: String = redis::cmd("CLUSTERX")
            .arg("VERSION")
            .query(&mut self.con())
            .expect("version");
        v.parse().expect("version number")
    }

    /// The slot of `key`, as the node computes it (CLUSTER KEYSLOT).
    fn keyslot(&self, key: &str) -> u16 {
        redis::cmd("CLUSTER")
            .arg("KEYSLOT")
            .arg(key)
            .query(&mut self.con())
            .expect("keyslot")
    }

    fn myid(&self) -> String {
        redis::cmd("CLUSTERX")
            .arg("MYID")
            .query(&mut self.con())
            .expect("myid")
    }

    /// The slots this node owns, per its own CLUSTER NODES.
    fn owned_slots(&self) -> usize {
        self.owned_ranges()
            .iter()
            .map(|&(a, b)| usize::from(b - a) + 1)
            .sum()
    }

    /// The slot ranges this node owns, per its own CLUSTER NODES.
    fn owned_ranges(&self) -> Vec<(u16, u16)> {
        let text: String = redis::cmd("CLUSTER")
            .arg("NODES")
            .query(&mut self.con())
            .expect("nodes");
        let line = text
            .lines()
            .find(|l| l.contains("myself"))
            .expect("own line")
            .to_string();
        line.split_whitespace()
            .skip(8)
            .filter(|f| !f.starts_with('['))
            .map(|r| match r.split_once('-') {
                Some((a, b)) => (a.parse().expect("slot"), b.parse().expect("slot")),
                None => {
                    let s = r.parse().expect("slot");
                    (s, s)
                }
            })
            .collect()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn ctl(args: &[&str]) -> Output {
    Command::new(CTL)
        .args(args)
        .output()
        .expect("run ferrokv-ctl")
}

fn show(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Runs ferrokv-ctl with --json, expects `code`, and returns the parsed output.
fn ctl_json(args: &[&str], code: i32) -> Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let out = ctl(&all);
    assert_eq!(out.status.code(), Some(code), "{args:?}: {}", show(&out));
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{args:?}: JSON: {e}: {}", show(&out)))
}

/// `rebalance <seed> --by <by> --threshold 10` with `how` (`--dry-run` or `--yes`),
/// which must exit 0: its JSON report.
fn rebalance_by(seed: &str, by: &str, how: &str) -> Value {
    ctl_json(
        &["rebalance", seed, "--by", by, "--threshold", "10", how],
        0,
    )
}

/// Every move of a JSON report (reshard, rebalance) ended in success.
fn assert_moves_succeeded(report: &Value) {
    for m in report["moves"].as_array().expect("moves") {
        assert_eq!(m["state"], "success", "{m}");
    }
}

fn cluster(n: usize) -> Vec<Node> {
    let nodes: Vec<Node> = (0..n).map(|_| Node::start()).collect();
    let mut args = vec!["create".to_string()];
    args.extend(nodes.iter().map(Node::addr));
    args.push("--yes".into());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let report = ctl_json(&args, 0);
    assert_eq!(report["version"], 1);
    assert_eq!(report["nodes"].as_array().map(Vec::len), Some(n));
    for node in &nodes {
        assert_eq!(node.version(), 1);
        assert_eq!(node.myid().len(), 40);
    }
    nodes
}

fn cluster_client(nodes: &[Node]) -> redis::cluster::ClusterConnection {
    redis::cluster::ClusterClient::builder(nodes.iter().map(Node::url).collect::<Vec<_>>())
        .retries(20)
        .build()
        .expect("cluster client")
        .get_connection()
        .expect("cluster connection")
}

fn load(nodes: &[Node], n: usize) {
    let mut con = cluster_client(nodes);
    for chunk in (0..n).collect::<Vec<_>>().chunks(1000) {
        let mut pipe = redis::cluster::cluster_pipe();
        for i in chunk {
            pipe.set(format!("key:{i}"), i).ignore();
        }
        pipe.query::<()>(&mut con).expect("load");
    }
}

fn assert_loaded(nodes: &[Node], n: usize) {
    let mut con = cluster_client(nodes);
    let all: Vec<usize> = (0..n).collect();
    for chunk in all.chunks(1000) {
        let mut pipe = redis::cluster::cluster_pipe();
        for i in chunk {
            pipe.get(format!("key:{i}"));
        }
        let got: Vec<Option<usize>> = pipe.query(&mut con).expect("get");
        for (i, v) in chunk.iter().zip(got) {
            assert_eq!(v, Some(*i), "key:{i}");
        }
    }
}

fn check_clean(seed: &Node) {
    let report = ctl_json(&["check", &seed.addr()], 0);
    assert_eq!(
        report["problems"].as_array().map(Vec::len),
        Some(0),
        "{report}"
    );
}

#[test]
fn create_reshard_under_writes_rebalance_and_del_node() {
    let mut nodes = cluster(3);
    load(&nodes, 50_000);
    check_clean(&nodes[0]);

    // A client writes through the whole reshard; every acknowledged write must be there.
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(AtomicU64::new(0));
    let writer = {
        let (stop, acked) = (stop.clone(), acked.clone());
        let mut con = cluster_client(&nodes);
        std::thread::spawn(move || {
            let mut errors = Vec::new();
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                match con.set::<_, _, ()>(format!("w:{i}"), i) {
                    Ok(()) => {
                        acked.store(i + 1, Ordering::Relaxed);
                        i += 1;
                    }
                    Err(e) => errors.push(e.to_string()),
                }
            }
            errors
        })
    };
    std::thread::sleep(Duration::from_millis(200));
    let (n1, n2) = (nodes[0].addr(), nodes[1].addr());
    let slots = "0-699 1000-1599 2000-2699";
    let report = ctl_json(
        &[
            "reshard", &n1, "--from", &n1, "--to", &n2, "--slots", slots, "--yes",
        ],
        0,
    );
    assert_eq!(report["moves"][0]["state"], "success", "{report}");
    assert_eq!(report["moves"][0]["slots"], slots);
    assert_eq!(report["version"], 3, "claim then hand-over: {report}");
    std::thread::sleep(Duration::from_millis(200));
    stop.store(true, Ordering::Relaxed);
    let errors = writer.join().expect("writer");
    assert!(errors.is_empty(), "writer errors: {errors:?}");
    let written = acked.load(Ordering::Relaxed);
    assert!(written > 0);
    let mut con = cluster_client(&nodes);
    for i in 0..written {
        let v: Option<u64> = con.get(format!("w:{i}")).expect("get");
        assert_eq!(v, Some(i), "acknowledged write w:{i} lost");
    }
    assert_eq!(nodes[0].owned_slots(), 5461 - 2000);
    assert_eq!(nodes[1].owned_slots(), 5461 + 2000);
    assert_loaded(&nodes, 50_000);
    check_clean(&nodes[1]);

    // A fourth node, then rebalance by keys within 10%.
    nodes.push(Node::start());
    let added = ctl_json(&["add-node", &nodes[3].addr(), &n1], 0);
    let new_id = added["id"].as_str().expect("id").to_string();
    assert_eq!(nodes[3].myid(), new_id);
    let plan = rebalance_by(&n1, "keys", "--dry-run");
    assert!(!plan["plan"].as_array().expect("plan").is_empty());
    assert_eq!(nodes[3].owned_slots(), 0, "--dry-run changed nothing");
    let done = rebalance_by(&n1, "keys", "--yes");
    assert_moves_succeeded(&done);
    let info = ctl_json(&["info", &n1], 0);
    let keys: Vec<f64> = info["masters"]
        .as_array()
        .expect("masters")
        .iter()
        .map(|m| m["keys"].as_f64().expect("keys"))
        .collect();
    let mean = keys.iter().sum::<f64>() / keys.len() as f64;
    for k in &keys {
        assert!((k - mean).abs() <= 0.1 * mean, "keys per master {keys:?}");
    }
    check_clean(&nodes[0]);
    let again = rebalance_by(&n1, "keys", "--yes");
    assert_eq!(
        again["plan"].as_array().map(Vec::len),
        Some(0),
        "already balanced"
    );

    // Empty the new node, then remove it.
    let refused = ctl(&["del-node", &n1, &new_id]);
    assert_eq!(refused.status.code(), Some(1), "{}", show(&refused));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("owns"));
    ctl_json(
        &[
            "rebalance",
            &n1,
            "--weight",
            &format!("{new_id}=0"),
            "--yes",
        ],
        0,
    );
    assert_eq!(nodes[3].owned_slots(), 0);
    ctl_json(&["del-node", &n1, &new_id], 0);
    assert_eq!(nodes[3].version(), -1, "the removed node was reset");
    check_clean(&nodes[0]);
    assert_loaded(&nodes[..3], 50_000);
}

#[test]
fn two_controllers_racing_one_wins_the_other_refuses() {
    let nodes = cluster(3);
    load(&nodes, 2_000);
    let (n1, n2, n3) = (nodes[0].addr(), nodes[1].addr(), nodes[2].addr());
    let spawn = |from: &str, to: &str, slots: &str| {
        Command::new(CTL)
            .args([
                "--json", "reshard", &n1, "--from", from, "--to", to, "--slots", slots, "--yes",
            ])
            .env("FERROKV_CTL_TEST_PAUSE_MS", "500")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn ctl")
    };
    let a = spawn(&n1, &n2, "0-99");
    let b = spawn(&n2, &n3, "6000-6099");
    let outs = [
        a.wait_with_output().expect("a"),
        b.wait_with_output().expect("b"),
    ];
    let codes: Vec<_> = outs.iter().map(|o| o.status.code()).collect();
    assert!(
        codes == [Some(0), Some(1)] || codes == [Some(1), Some(0)],
        "one wins, one refuses: {}\n{}",
        show(&outs[0]),
        show(&outs[1])
    );
    let (winner, loser) = if codes[0] == Some(0) { (0, 1) } else { (1, 0) };
    let lost: Value = serde_json::from_slice(&outs[loser].stdout).expect("loser JSON");
    assert_eq!(lost["ok"], false);
    assert!(
        lost["error"].as_str().unwrap_or("").contains("version"),
        "the loser names the version: {lost}"
    );
    let won: Value = serde_json::from_slice(&outs[winner].stdout).expect("winner JSON");
    assert_eq!(won["moves"][0]["state"], "success");
    // The loser changed nothing: its slots stay with its source, no job ran there.
    // A moves 0-99 from node 1 to node 2, B 6000-6099 from node 2 to node 3: one did.
    let (loser_src, expected) = if loser == 0 {
        (&nodes[0], (5461, 5461 - 100))
    } else {
        (&nodes[1], (5461 - 100, 5461 + 100))
    };
    let detail = || {
        let nodes_text: String = redis::cmd("CLUSTER")
            .arg("NODES")
            .query(&mut nodes[0].con())
            .expect("nodes");
        format!("{nodes_text}\n{}\n{}", show(&outs[0]), show(&outs[1]))
    };
    assert_eq!(nodes[0].owned_slots(), expected.0, "{}", detail());
    assert_eq!(nodes[1].owned_slots(), expected.1, "{}", detail());
    let jobs: Vec<Value> = redis::cmd("CLUSTERX")
        .arg("MIGRATION")
        .arg("STATUS")
        .query::<Vec<redis::Value>>(&mut loser_src.con())
        .expect("status")
        .into_iter()
        .map(|_| Value::Null)
        .collect();
    assert!(jobs.is_empty(), "no job on the loser's source");
    for n in &nodes {
        assert_eq!(
            n.version(),
            3,
            "{n3}: claim and hand-over of the winner only"
        );
    }
    check_clean(&nodes[0]);
    assert_loaded(&nodes, 2_000);
}

#[test]
fn ctrl_c_during_a_throttled_reshard_cancels_the_job() {
    let nodes = cluster(3);
    load(&nodes, 6_000);
    let (n1, n2) = (nodes[0].addr(), nodes[1].addr());
    let mut src = nodes[0].con();
    redis::cmd("CONFIG")
        .arg("SET")
        .arg("migrate-speed")
        .arg("500")
        .query::<()>(&mut src)
        .expect("throttle");
    let child = Command::new(CTL)
        .args([
            "reshard", &n1, "--from", &n1, "--to", &n2, "--slots", "0-5460", "--yes",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ctl");
    // Wait until the job is copying.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let st: Vec<redis::Value> = redis::cmd("CLUSTERX")
            .arg("MIGRATION")
            .arg("STATUS")
            .query(&mut src)
            .expect("status");
        let fields = job_fields(st.last());
        if fields.get("state").map(String::as_str) == Some("start")
            && fields
                .get("keys_sent")
                .and_then(|v| v.parse::<i64>().ok())
                .unwrap_or(0)
                > 0
        {
            break;
        }
        assert!(Instant::now() < deadline, "the job never started copying");
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let out = child.wait_with_output().expect("ctl");
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cancelled"),
        "{}",
        show(&out)
    );
    let st: Vec<redis::Value> = redis::cmd("CLUSTERX")
        .arg("MIGRATION")
        .arg("STATUS")
        .query(&mut src)
        .expect("status");
    assert_eq!(
        job_fields(st.last()).get("state").map(String::as_str),
        Some("cancelled")
    );
    // The source still owns and serves everything.
    assert_eq!(nodes[0].owned_slots(), 5461);
    for n in &nodes {
        assert_eq!(n.version(), 2, "only the claim");
    }
    redis::cmd("CONFIG")
        .arg("SET")
        .arg("migrate-speed")
        .arg("0")
        .query::<()>(&mut src)
        .expect("unthrottle");
    assert_loaded(&nodes, 6_000);
    check_clean(&nodes[0]);
}

fn setslot_everywhere(nodes: &[Node], slots: &str, id: &str, version: i64) {
    for n in nodes {
        let _: String = redis::cmd("CLUSTERX")
            .arg("SETSLOT")
            .arg(slots)
            .arg("NODE")
            .arg(id)
            .arg(version)
            .query(&mut n.con())
            .expect("setslot");
    }
}

fn count_in_slot(node: &Node, slot: u16) -> i64 {
    redis::cmd("CLUSTER")
        .arg("COUNTKEYSINSLOT")
        .arg(slot)
        .query(&mut node.con())
        .expect("countkeysinslot")
}

/// The slots of `range` in which `node` holds keys, as a slot list (`"101 105-107"`).
fn slots_with_keys(node: &Node, range: std::ops::RangeInclusive<u16>) -> String {
    let mut out: Vec<(u16, u16)> = Vec::new();
    for s in range.filter(|s| count_in_slot(node, *s) > 0) {
        match out.last_mut() {
            Some((_, end)) if *end + 1 == s => *end = s,
            _ => out.push((s, s)),
        }
    }
    out.iter()
        .map(|&(a, b)| {
            if a == b {
                a.to_string()
            } else {
                format!("{a}-{b}")
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn dbsize(node: &Node) -> i64 {
    redis::cmd("DBSIZE").query(&mut node.con()).expect("dbsize")
}

#[test]
fn check_finds_and_fix_repairs_data_out_of_place_and_a_job_not_handed_over() {
    let nodes = cluster(3);
    load(&nodes, 3_000);
    let n1 = nodes[0].addr();
    let (id1, id2) = (nodes[0].myid(), nodes[1].myid());
    // A job committed by hand, never handed over.
    let ok: String = redis::cmd("CLUSTERX")
        .arg("MIGRATE")
        .arg("0-9")
        .arg(&id2)
        .arg("sync")
        .query(&mut nodes[0].con())
        .expect("migrate");
    assert_eq!(ok, "OK");
    let report = ctl_json(&["check", &n1], 1);
    let problems = report["problems"].as_array().expect("problems").clone();
    assert_eq!(problems.len(), 1, "{report}");
    let fix = problems[0]["fix"].as_str().expect("fix");
    assert!(
        fix.contains(&format!("CLUSTERX SETSLOT \"0-9\" NODE {id2} 2"))
            && fix.contains(&format!("ferrokv-ctl fix {n1}")),
        "{fix}"
    );
    // Ownership moved without the data: node 1 keeps keys of slots it no longer owns.
    // (SETSLOT of other slots leaves the pending hand-over of 0-9 as it is.)
    let held: i64 = (100..=200).map(|s| count_in_slot(&nodes[0], s)).sum();
    assert!(held > 0);
    let holding = slots_with_keys(&nodes[0], 100..=200);
    setslot_everywhere(&nodes, "100-200", &id2, 2);
    let before = dbsize(&nodes[0]);
    let report = ctl_json(&["check", &n1], 1);
    let problems = report["problems"].as_array().expect("problems").clone();
    assert_eq!(problems.len(), 2, "{report}");
    let text = report["problems"].to_string();
    assert!(
        text.contains(&id1[..8]) && text.contains("does not own") && text.contains(&holding),
        "{report}"
    );
    let port = nodes[0].port;
    assert!(
        text.contains(&format!(
            "redis-cli -h 127.0.0.1 -p {port} CLUSTERX FLUSHSLOTS \\\"{holding}\\\""
        )),
        "the by-hand command: {report}"
    );
    // Text output names each problem and its fix.
    let out = ctl(&["check", &n1]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.matches("PROBLEM").count(), 2, "{stdout}");
    assert_eq!(stdout.matches("    fix: ").count(), 2, "{stdout}");

    // fix asks first; without a terminal it needs --yes, and changes nothing without.
    let refused = ctl(&["fix", &n1]);
    assert_eq!(refused.status.code(), Some(2), "{}", show(&refused));
    assert_eq!(nodes[0].version(), 2);
    let report = ctl_json(&["fix", &n1, "--yes"], 0);
    let handed = report["handed_over"].as_array().expect("handed_over");
    assert_eq!(handed.len(), 1, "{report}");
    assert_eq!(handed[0]["slots"], "0-9");
    assert_eq!(handed[0]["destination"], id2.as_str());
    assert_eq!(handed[0]["version"], 4, "claim, then hand-over: {report}");
    let flushed = report["flushed"].as_array().expect("flushed");
    assert_eq!(flushed.len(), 1, "{report}");
    assert_eq!(flushed[0]["id"], id1.as_str());
    assert_eq!(flushed[0]["slots"], holding.as_str());
    assert_eq!(flushed[0]["keys"], held);
    assert_eq!(flushed[0]["error"], "");
    for n in &nodes {
        assert_eq!(n.version(), 4);
    }
    check_clean(&nodes[0]);
    assert_eq!(
        ctl_json(&["fix", &n1, "--yes"], 0)["flushed"],
        serde_json::json!([]),
        "nothing left to fix"
    );
    // Node 2 owns and serves 0-9 with their keys; node 1 kept nothing of 0-9 and
    // 100-200, and only those keys went.
    assert!(nodes[1]
        .owned_ranges()
        .iter()
        .any(|&(a, b)| a == 0 && b >= 9));
    for s in (0..=9).chain(100..=200) {
        assert_eq!(count_in_slot(&nodes[0], s), 0, "slot {s} on node 1");
    }
    assert!((0..=9).map(|s| count_in_slot(&nodes[1], s)).sum::<i64>() > 0);
    // DBSIZE never counted 0-9 once they had moved away (hidden until the hand-over).
    assert_eq!(dbsize(&nodes[0]), before - held);
    let mut con = cluster_client(&nodes);
    for i in 0..3_000 {
        let key = format!("key:{i}");
        let slot: u16 = nodes[0].keyslot(&key);
        let v: Option<usize> = con.get(&key).expect("get");
        if (100..=200).contains(&slot) {
            assert_eq!(v, None, "{key} was in a slot given away without its data");
        } else {
            assert_eq!(v, Some(i), "{key}");
        }
    }
}

#[test]
fn fix_leaves_the_slots_of_a_running_job_alone() {
    let nodes = cluster(3);
    load(&nodes, 6_000);
    let n1 = nodes[0].addr();
    let (id1, id2, id3) = (nodes[0].myid(), nodes[1].myid(), nodes[2].myid());
    // Data left on node 1 in slots it gave away (300-400), and a slow job moving
    // 0-99 from node 1 to node 3: 3,000 more keys in one of those slots, copied at 500
    // keys per second.
    setslot_everywhere(&nodes, "300-400", &id2, 2);
    let holding = slots_with_keys(&nodes[0], 300..=400);
    assert!(!holding.is_empty());
    let tag = (0..)
        .map(|i| format!("t{i}"))
        .find(|t| {
            let slot: u16 = nodes[0].keyslot(t);
            slot <= 99
        })
        .expect("a tag in 0-99");
    let mut pipe = redis::pipe();
    for i in 0..3_000 {
        pipe.set(format!("{{{tag}}}:{i}"), i).ignore();
    }
    pipe.query::<()>(&mut nodes[0].con())
        .expect("load the slot");
    let moving: i64 = (0..=99).map(|s| count_in_slot(&nodes[0], s)).sum();
    redis::cmd("CONFIG")
        .arg("SET")
        .arg("migrate-speed")
        .arg("500")
        .query::<()>(&mut nodes[0].con())
        .expect("throttle");
    let _: String = redis::cmd("CLUSTERX")
        .arg("MIGRATE")
        .arg("0-99")
        .arg(&id3)
        .query(&mut nodes[0].con())
        .expect("migrate");
    let status = || {
        let st: Vec<redis::Value> = redis::cmd("CLUSTERX")
            .arg("MIGRATION")
            .arg("STATUS")
            .query(&mut nodes[0].con())
            .expect("status");
        job_fields(st.last())
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while status().get("keys_sent").map(String::as_str).unwrap_or("0") == "0" {
        assert!(Instant::now() < deadline, "the job never started copying");
        std::thread::sleep(Duration::from_millis(50));
    }
    // The destination holds part of 0-99 (hidden while importing); neither copy is
    // out of place, and fix must not touch them.
    let report = ctl_json(&["fix", &n1, "--yes"], 0);
    assert_eq!(report["handed_over"], serde_json::json!([]), "{report}");
    let flushed = report["flushed"].as_array().expect("flushed");
    assert_eq!(flushed.len(), 1, "{report}");
    assert_eq!(flushed[0]["id"], id1.as_str());
    assert_eq!(flushed[0]["slots"], holding.as_str(), "{report}");
    assert_eq!(status().get("state").map(String::as_str), Some("start"));
    assert_eq!(
        (0..=99).map(|s| count_in_slot(&nodes[0], s)).sum::<i64>(),
        moving,
        "the source kept every key of the moving slots"
    );
    // The job finishes; nobody hands it over but fix.
    redis::cmd("CONFIG")
        .arg("SET")
        .arg("migrate-speed")
        .arg("0")
        .query::<()>(&mut nodes[0].con())
        .expect("unthrottle");
    let deadline = Instant::now() + Duration::from_secs(30);
    while status().get("state").map(String::as_str) != Some("success") {
        assert!(
            Instant::now() < deadline,
            "the job did not succeed: {:?}",
            status()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    ctl_json(&["check", &n1], 1);
    let report = ctl_json(&["fix", &n1, "--yes"], 0);
    assert_eq!(report["handed_over"][0]["slots"], "0-99", "{report}");
    assert_eq!(report["handed_over"][0]["destination"], id3.as_str());
    check_clean(&nodes[0]);
    assert_eq!(
        (0..=99).map(|s| count_in_slot(&nodes[2], s)).sum::<i64>(),
        moving
    );
    assert_eq!(
        (300..=400)
            .map(|s| count_in_slot(&nodes[1], s))
            .sum::<i64>(),
        0,
        "{id2} got 300-400 without their data"
    );
}

#[test]
fn rebalance_by_bytes_moves_slots_off_the_node_with_big_values() {
    let nodes = cluster(3);
    load(&nodes, 6_000);
    let n1 = nodes[0].addr();
    let id1 = nodes[0].myid();
    // Same keys everywhere, but node 1's values are 4 KB: balanced by keys, not by bytes.
    let big = "v".repeat(4096);
    let mut con = cluster_client(&nodes);
    let mine: Vec<String> = (0..6_000)
        .map(|i| format!("key:{i}"))
        .filter(|k| {
            let slot: u16 = nodes[0].keyslot(k);
            slot <= 5460
        })
        .collect();
    for chunk in mine.chunks(500) {
        let mut pipe = redis::cluster::cluster_pipe();
        for k in chunk {
            pipe.set(k, &big).ignore();
        }
        pipe.query::<()>(&mut con).expect("big values");
    }
    let by_keys = rebalance_by(&n1, "keys", "--dry-run");
    assert_eq!(by_keys["plan"], serde_json::json!([]), "{by_keys}");
    let by_bytes = rebalance_by(&n1, "bytes", "--dry-run");
    assert_eq!(by_bytes["by"], "bytes");
    let masters = by_bytes["masters"].as_array().expect("masters");
    let load_of = |id: &str| {
        masters
            .iter()
            .find(|m| m["id"] == id)
            .and_then(|m| m["load"].as_i64())
            .expect("load")
    };
    let heavy = load_of(&id1);
    for m in masters.iter().filter(|m| m["id"] != id1.as_str()) {
        assert!(
            heavy > 3 * m["load"].as_i64().expect("load"),
            "node 1 weighs most: {by_bytes}"
        );
        assert!(m["bytes_per_key"].as_f64().expect("per key") > 0.0);
    }
    let plan = by_bytes["plan"].as_array().expect("plan");
    assert!(!plan.is_empty(), "{by_bytes}");
    for m in plan {
        assert_eq!(m["source"], id1.as_str(), "only node 1 gives: {by_bytes}");
    }
    let done = rebalance_by(&n1, "bytes", "--yes");
    assert_moves_succeeded(&done);
    // Node 1 keeps about its target's worth of big keys (it receives none: it only
    // gives); slots without keys weigh nothing and stay where they are.
    let target = masters
        .iter()
        .find(|m| m["id"] == id1.as_str())
        .and_then(|m| m["target"].as_f64())
        .expect("target");
    let kept = dbsize(&nodes[0]) as f64 / mine.len() as f64;
    let expected = target / heavy as f64;
    assert!(
        (kept - expected).abs() < 0.15,
        "node 1 kept {kept:.2} of its big keys, its target is {expected:.2} of its bytes: {done}"
    );
    check_clean(&nodes[0]);
    let mut con = cluster_client(&nodes);
    for k in mine.iter().step_by(50) {
        let v: String = con.get(k).expect("get");
        assert_eq!(v.len(), 4096, "{k}");
    }
}

#[test]
fn reshard_in_a_terminal_draws_progress_bars() {
    if Command::new("script").arg("--version").output().is_err() {
        eprintln!("skipped: no `script` (util-linux) to run ferrokv-ctl under a pty");
        return;
    }
    let nodes = cluster(3);
    let mut con = cluster_client(&nodes);
    let mut pipe = redis::cluster::cluster_pipe();
    for i in 0..3000 {
        pipe.set(format!("{{bar}}{i}"), i).ignore();
    }
    pipe.query::<()>(&mut con).expect("load");
    let slot: u16 = nodes[0].keyslot("{bar}");
    let owner = nodes
        .iter()
        .position(|n| {
            n.owned_ranges()
                .iter()
                .any(|&(a, b)| a <= slot && slot <= b)
        })
        .expect("an owner");
    let (src, dst) = (&nodes[owner], &nodes[(owner + 1) % 3]);
    redis::cmd("CONFIG")
        .arg("SET")
        .arg("migrate-speed")
        .arg("3000")
        .query::<()>(&mut src.con())
        .expect("throttle");
    let command = format!(
        "{CTL} reshard {} --from {} --to {} --slots {slot} --yes",
        src.addr(),
        src.addr(),
        dst.addr()
    );
    let out = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .stdin(Stdio::null())
        .output()
        .expect("script");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", show(&out));
    assert!(
        text.contains("keys,") && text.contains('%') && text.contains("=>"),
        "no bar drawn: {text}"
    );
    assert!(text.contains("handed over at version 3"), "{text}");
    check_clean(&nodes[0]);
}

#[test]
fn usage_errors_exit_2_and_unreachable_nodes_exit_1() {
    let out = ctl(&["reshard", "127.0.0.1:1", "--from", "a"]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    let out = ctl(&["create", "nonsense", "--yes"]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    // Nothing listens on port 1 (privileged, unused): the connection is refused.
    let report = ctl_json(&["info", "127.0.0.1:1"], 1);
    assert_eq!(report["ok"], false);
    assert_eq!(report["kind"], "node");
}

#[test]
fn password_protected_nodes() {
    let nodes: Vec<Node> = (0..3)
        .map(|_| Node::start_with(&["--requirepass", "s3cret"]))
        .collect();
    let addrs: Vec<String> = nodes.iter().map(Node::addr).collect();
    let mut args = vec!["-a", "s3cret", "create"];
    args.extend(addrs.iter().map(String::as_str));
    args.push("--yes");
    ctl_json(&args, 0);
    let report = ctl_json(&["info", &addrs[0]], 1);
    assert_eq!(report["kind"], "node", "no password: {report}");
    let info = ctl_json(&["-a", "s3cret", "info", &addrs[0]], 0);
    assert_eq!(info["masters"].as_array().map(Vec::len), Some(3));
    let moved = ctl_json(
        &[
            "--password",
            "s3cret",
            "reshard",
            &addrs[0],
            "--from",
            &addrs[0],
            "--to",
            &addrs[2],
            "--count",
            "100",
            "--yes",
        ],
        0,
    );
    assert_eq!(moved["moves"][0]["state"], "success", "{moved}");
    ctl_json(&["-a", "s3cret", "check", &addrs[0]], 0);
}

fn job_fields(v: Option<&redis::Value>) -> HashMap<String, String> {
    let mut out = HashMap::new();
    if let Some(redis::Value::Array(items)) = v {
        for pair in items.chunks(2) {
            if let [k, v] = pair {
                let text = |v: &redis::Value| match v {
                    redis::Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
                    redis::Value::Int(i) => i.to_string(),
                    redis::Value::SimpleString(s) => s.clone(),
                    other => format!("{other:?}"),
                };
                out.insert(text(k), text(v));
            }
        }
    }
    out
}

/// INFO replication of a node, as field → value.
fn replication_info(node: &Node) -> HashMap<String, String> {
    let text: String = redis::cmd("INFO")
        .arg("replication")
        .query(&mut node.con())
        .expect("info");
    text.lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.to_string(), v.trim().to_string()))
        .collect()
}

/// Waits until `replica` follows `master` with its link up and every batch applied.
fn wait_in_sync(master: &Node, replica: &Node, why: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let m = replication_info(master);
        let r = replication_info(replica);
        let up = r.get("role").map(String::as_str) == Some("slave")
            && r.get("master_link_status").map(String::as_str) == Some("up")
            && r.get("master_port") == Some(&master.port.to_string());
        if up && m.get("master_repl_offset") == r.get("slave_repl_offset") {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{why}: {} never caught up with {}: {r:?} / {m:?}",
            replica.addr(),
            master.addr()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The line of node `id` in `node`'s CLUSTER NODES: (flags without `myself`, master id).
fn role_in(node: &Node, id: &str) -> (String, String) {
    let text: String = redis::cmd("CLUSTER")
        .arg("NODES")
        .query(&mut node.con())
        .expect("nodes");
    let line = text
        .lines()
        .find(|l| l.starts_with(id))
        .unwrap_or_else(|| panic!("{id} not in {text}"));
    let f: Vec<&str> = line.split_whitespace().collect();
    let flags = f[2].trim_start_matches("myself,").to_string();
    (flags, f[3].to_string())
}

#[test]
fn failover_keeps_every_write_confirmed_by_wait() {
    // One shard: a master and two replicas.
    let nodes: Vec<Node> = (0..3).map(|_| Node::start()).collect();
    let addrs: Vec<String> = nodes.iter().map(Node::addr).collect();
    let report = ctl_json(
        &[
            "create",
            &addrs[0],
            &addrs[1],
            &addrs[2],
            "--replicas",
            "2",
            "--yes",
        ],
        0,
    );
    assert_eq!(report["version"], 1);
    let (master, promoted, other) = (&nodes[0], &nodes[1], &nodes[2]);
    wait_in_sync(master, promoted, "before");
    wait_in_sync(master, other, "before");
    let promoted_id = promoted.myid();

    // A client writing one key at a time, each confirmed by `WAIT 1`; it follows MOVED.
    let stop = Arc::new(AtomicBool::new(false));
    let switched = Arc::new(AtomicBool::new(false));
    let after = Arc::new(AtomicU64::new(0));
    let writer = {
        let (stop, switched, after) = (stop.clone(), switched.clone(), after.clone());
        let start = master.url();
        std::thread::spawn(move || {
            let mut url = start;
            let mut con = redis::Client::open(url.as_str())
                .and_then(|c| c.get_connection())
                .expect("writer connects");
            let mut confirmed = Vec::new();
            let mut errors = Vec::new();
            let mut i = 0u64;
            while !stop.load(Ordering::SeqCst) {
                i += 1;
                let key = format!("fo:{i}");
                match redis::cmd("SET").arg(&key).arg(i).query::<()>(&mut con) {
                    Ok(()) => {}
                    Err(e) => {
                        if let Some((addr, _)) = e.redirect_node() {
                            url = format!("redis://{addr}/");
                            con = redis::Client::open(url.as_str())
                                .and_then(|c| c.get_connection())
                                .expect("writer follows MOVED");
                        } else {
                            errors.push(e.to_string());
                        }
                        continue;
                    }
                }
                let acked: i64 = redis::cmd("WAIT")
                    .arg(1)
                    .arg(2000)
                    .query(&mut con)
                    .expect("WAIT");
                if acked >= 1 {
                    confirmed.push(i);
                    if switched.load(Ordering::SeqCst) {
                        after.fetch_add(1, Ordering::SeqCst);
                    }
                }
            }
            (confirmed, errors, url)
        })
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while redis::cmd("DBSIZE")
        .query::<i64>(&mut master.con())
        .expect("dbsize")
        < 300
    {
        assert!(Instant::now() < deadline, "the writer does not write");
        std::thread::sleep(Duration::from_millis(20));
    }
    let report = ctl_json(&["failover", &addrs[0], &promoted_id, "--yes"], 0);
    switched.store(true, Ordering::SeqCst);
    assert_eq!(report["promoted"], promoted_id.as_str(), "{report}");
    assert_eq!(report["caught_up"], true, "{report}");
    assert_eq!(report["version"], 3, "claim, then the topology: {report}");
    // Writes go on against the new master, confirmed once a replica follows it.
    let deadline = Instant::now() + Duration::from_secs(60);
    while after.load(Ordering::SeqCst) < 200 {
        assert!(
            Instant::now() < deadline,
            "no confirmed writes after the failover"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    stop.store(true, Ordering::SeqCst);
    let (confirmed, errors, url) = writer.join().expect("writer");
    assert!(errors.is_empty(), "errors: {errors:?}");
    assert_eq!(url, promoted.url(), "the writer ends on the new master");
    assert!(confirmed.len() > 500, "{} confirmed", confirmed.len());

    // Every confirmed write is on the new master.
    let mut con = promoted.con();
    for chunk in confirmed.chunks(1000) {
        let mut pipe = redis::pipe();
        for i in chunk {
            pipe.get(format!("fo:{i}"));
        }
        let got: Vec<Option<u64>> = pipe.query(&mut con).expect("get");
        for (i, v) in chunk.iter().zip(got) {
            assert_eq!(v, Some(*i), "confirmed write fo:{i} lost");
        }
    }
    // Roles swapped everywhere; the old master and the other replica converge.
    for n in &nodes {
        assert_eq!(n.version(), 3);
        assert!(role_in(n, &promoted_id).0.contains("master"));
        assert_eq!(
            role_in(n, &master.myid()),
            ("slave".into(), promoted_id.clone())
        );
        assert_eq!(role_in(n, &other.myid()).1, promoted_id);
    }
    assert_eq!(promoted.owned_slots(), 16384);
    wait_in_sync(promoted, master, "old master");
    wait_in_sync(promoted, other, "other replica");
    let size = |n: &Node| {
        redis::cmd("DBSIZE")
            .query::<i64>(&mut n.con())
            .expect("dbsize")
    };
    assert_eq!(size(master), size(promoted));
    assert_eq!(size(other), size(promoted));
    let text: String = redis::cmd("ROLE")
        .query::<Vec<redis::Value>>(&mut master.con())
        .map(|v| format!("{v:?}"))
        .expect("role");
    assert!(text.contains("slave"), "{text}");
    check_clean(promoted);
}

#[test]
fn failover_refuses_a_master_and_nodes_on_different_versions() {
    let nodes: Vec<Node> = (0..3).map(|_| Node::start()).collect();
    let addrs: Vec<String> = nodes.iter().map(Node::addr).collect();
    // Two masters; nodes[2] replicates nodes[0].
    let report = ctl_json(&["create", &addrs[0], &addrs[1], "--yes"], 0);
    assert_eq!(report["version"], 1);
    let report = ctl_json(
        &[
            "add-node",
            &addrs[2],
            &addrs[0],
            "--replica-of",
            &nodes[0].myid(),
        ],
        0,
    );
    let replica_id = report["id"].as_str().expect("id").to_string();
    wait_in_sync(&nodes[0], &nodes[2], "added replica");
    let version = nodes[0].version();

    // A master is not a replica.
    let out = ctl_json(&["failover", &addrs[0], &nodes[1].myid(), "--yes"], 1);
    let error = out["error"].as_str().unwrap_or("");
    assert!(error.contains("is a master, not a replica"), "{out}");
    // An unknown node is bad usage.
    ctl_json(&["failover", &addrs[0], "127.0.0.1:1", "--yes"], 2);

    // nodes[1] moves on alone: the others are behind, the tool names them and refuses.
    let v = (version + 1).to_string();
    let owner = nodes[1].myid();
    let _: String = redis::cmd("CLUSTERX")
        .arg("SETSLOT")
        .arg(16383)
        .arg("NODE")
        .arg(&owner)
        .arg(&v)
        .query(&mut nodes[1].con())
        .expect("setslot on one node");
    let out = ctl_json(&["failover", &addrs[0], &replica_id, "--yes"], 1);
    let error = out["error"].as_str().unwrap_or("");
    assert!(
        error.contains(&format!("{} (", addrs[0])) && error.contains("behind"),
        "names the node behind: {out}"
    );
    assert!(!error.contains(&format!("{} (", addrs[1])), "{out}");
    // Nothing changed: versions and roles as before, writes not paused.
    assert_eq!(nodes[0].version(), version);
    assert_eq!(nodes[2].version(), version);
    assert_eq!(
        role_in(&nodes[0], &replica_id),
        ("slave".into(), nodes[0].myid())
    );
    let mut con = nodes[0].con();
    con.set_read_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    let _: () = redis::cmd("SET")
        .arg("{a}k")
        .arg(1)
        .query(&mut con)
        .or_else(|e| {
            // The key's slot may belong to the other master: MOVED is an answer too.
            if e.redirect_node().is_some() {
                Ok(())
            } else {
                Err(e)
            }
        })
        .expect("writes are not paused");
}
