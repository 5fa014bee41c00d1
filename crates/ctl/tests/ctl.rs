//! The real `ferrokv-ctl` binary against real `ferrokv-server` processes.
//!
//! The server binary is the workspace's `ferrokv-server`, found next to `ferrokv-ctl` in
//! the target directory (`cargo test` at the workspace root builds both; with
//! `cargo test -p ferrokv-ctl`, run `cargo build -p ferrokv-server` first), or named by
//! `FERROKV_SERVER`.

use std::collections::HashMap;
use std::net::TcpListener;
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

/// A free loopback port: a per-process random base walked with a counter (as the
/// server's own test harness does), so parallel tests never get the same one.
fn free_port() -> u16 {
    use std::sync::OnceLock;
    static BASE: OnceLock<u16> = OnceLock::new();
    static NEXT: std::sync::atomic::AtomicU16 = std::sync::atomic::AtomicU16::new(0);
    let base = *BASE.get_or_init(|| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let seed = nanos ^ std::process::id().wrapping_mul(2_654_435_761);
        32_000 + (seed % 2_000) as u16 * 10
    });
    loop {
        let port = base + NEXT.fetch_add(1, Ordering::Relaxed) % 500;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
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

    fn start_with(extra: &[&str]) -> Node {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let child = Command::new(server_bin())
            .args(["--port", &port.to_string(), "--dir"])
            .arg(dir.path().join("data"))
            .args(["--cluster-enabled", "yes", "--log-level", "warning"])
            .args(extra)
            .stdout(Stdio::null())
            .spawn()
            .expect("spawn ferrokv-server");
        let node = Node {
            child,
            port,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(mut c) = redis::Client::open(node.url()).and_then(|c| c.get_connection()) {
                let ping = redis::cmd("PING").query::<String>(&mut c);
                if ping.is_ok() || ping.is_err_and(|e| e.to_string().contains("NOAUTH")) {
                    return node;
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("ferrokv-server on {port} did not start");
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
    let plan = ctl_json(
        &[
            "rebalance",
            &n1,
            "--by",
            "keys",
            "--threshold",
            "10",
            "--dry-run",
        ],
        0,
    );
    assert!(!plan["plan"].as_array().expect("plan").is_empty());
    assert_eq!(nodes[3].owned_slots(), 0, "--dry-run changed nothing");
    let done = ctl_json(
        &[
            "rebalance",
            &n1,
            "--by",
            "keys",
            "--threshold",
            "10",
            "--yes",
        ],
        0,
    );
    for m in done["moves"].as_array().expect("moves") {
        assert_eq!(m["state"], "success", "{m}");
    }
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
    let again = ctl_json(
        &[
            "rebalance",
            &n1,
            "--by",
            "keys",
            "--threshold",
            "10",
            "--yes",
        ],
        0,
    );
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

#[test]
fn check_finds_data_out_of_place_and_a_job_not_handed_over() {
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
        fix.contains(&format!("CLUSTERX SETSLOT \"0-9\" NODE {id2}")),
        "{fix}"
    );
    for n in &nodes {
        let _: String = redis::cmd("CLUSTERX")
            .arg("SETSLOT")
            .arg("0-9")
            .arg("NODE")
            .arg(&id2)
            .arg(2)
            .query(&mut n.con())
            .expect("setslot");
    }
    check_clean(&nodes[0]);
    // Ownership moved without the data: node 1 keeps keys of slots it no longer owns.
    for n in &nodes {
        let _: String = redis::cmd("CLUSTERX")
            .arg("SETSLOT")
            .arg("100-200")
            .arg("NODE")
            .arg(&id2)
            .arg(3)
            .query(&mut n.con())
            .expect("setslot");
    }
    let report = ctl_json(&["check", &n1], 1);
    let text = report["problems"].to_string();
    assert!(
        text.contains(&id1[..8]) && text.contains("does not own"),
        "{report}"
    );
    // Text output names the problem and a fix.
    let out = ctl(&["check", &n1]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("PROBLEM") && stdout.contains("fix:"),
        "{stdout}"
    );
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
    let slot: u16 = redis::cmd("CLUSTER")
        .arg("KEYSLOT")
        .arg("{bar}")
        .query(&mut nodes[0].con())
        .expect("keyslot");
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
    let port = free_port();
    let report = ctl_json(&["info", &format!("127.0.0.1:{port}")], 1);
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
