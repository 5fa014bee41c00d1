//! The client matrix: real cluster clients of the Redis ecosystem (node-redis v4 and v5
//! `createCluster`, ioredis `Cluster`, redis-py `RedisCluster` sync and asyncio,
//! `redis-cli -c`) keep writing and reading while 3,000 slots migrate between two of
//! three nodes and are handed over with `CLUSTERX SETSLOT` on every node, either the
//! moment the job succeeds or two seconds later. Each must see no error at all, and every
//! write it saw acknowledged must be there afterwards, with its value. A cluster-wide
//! SCAN (and DBSIZE) must list every key exactly once at any moment of the migration.
//!
//! The client programs are `clients/node/workload.js` and `clients/py/workload.py`, at
//! the versions pinned in `clients/package-lock.json` and `clients/requirements.txt`,
//! installed by `./dev deps` (and `./dev test`). A missing client fails the test: it is
//! never skipped.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{job_field, Raw, Reply, TestServer};
use ferrokv_keyslot::key_slot;

const IDS: [&str; 3] = [
    "c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1",
    "c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2",
    "c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3",
];
/// The slots that move, from node 0 to node 1.
const MOVING: (u16, u16) = (0, 2999);
const MOVING_TEXT: &str = "0-2999";
/// Keys written before the migration, spread over all slots.
const FILL_KEYS: usize = 30_000;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

// ---------------------------------------------------------------------------------
// Three nodes

struct Trio {
    nodes: Vec<TestServer>,
    /// Whether SETSLOT has handed the moving slots to node 1.
    handed_over: bool,
}

impl Trio {
    fn start() -> Trio {
        let trio = Trio {
            nodes: (0..3)
                .map(|_| TestServer::start(&["--cluster-enabled", "yes"]))
                .collect(),
            handed_over: false,
        };
        let p: Vec<u16> = trio.nodes.iter().map(|n| n.port).collect();
        let topology = format!(
            "{} 127.0.0.1 {} master - 0-5460\n{} 127.0.0.1 {} master - 5461-10922\n{} 127.0.0.1 {} master - 10923-16383",
            IDS[0], p[0], IDS[1], p[1], IDS[2], p[2]
        );
        for node in &trio.nodes {
            assert_eq!(
                node.raw().cmd(&["CLUSTERX", "SETNODES", &topology, "1"]),
                Reply::ok()
            );
        }
        trio
    }

    fn seeds(&self) -> String {
        self.nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The index of the node that owns `slot` now.
    fn owner(&self, slot: u16) -> usize {
        if self.handed_over && (MOVING.0..=MOVING.1).contains(&slot) {
            return 1;
        }
        match slot {
            0..=5460 => 0,
            5461..=10922 => 1,
            _ => 2,
        }
    }

    /// Writes `pairs` to their owners, pipelined.
    fn write(&self, pairs: &[(String, String)]) {
        let mut by_node: Vec<Vec<&(String, String)>> = vec![Vec::new(); 3];
        for pair in pairs {
            by_node[self.owner(key_slot(pair.0.as_bytes()))].push(pair);
        }
        for (node, pairs) in self.nodes.iter().zip(by_node) {
            let mut con = node.client();
            for chunk in pairs.chunks(1000) {
                let mut pipe = redis::pipe();
                for (k, v) in chunk {
                    pipe.cmd("SET").arg(k).arg(v).ignore();
                }
                pipe.query::<()>(&mut con).expect("fill");
            }
        }
    }

    /// GETs `keys` from their owners (pipelined), in the order given.
    fn read(&self, keys: &[String]) -> Vec<Result<Option<String>, String>> {
        let mut by_node: Vec<Vec<usize>> = vec![Vec::new(); 3];
        for (at, key) in keys.iter().enumerate() {
            by_node[self.owner(key_slot(key.as_bytes()))].push(at);
        }
        let mut out: Vec<Result<Option<String>, String>> = vec![Ok(None); keys.len()];
        for (node, ats) in self.nodes.iter().zip(by_node) {
            let mut con = node.client();
            for chunk in ats.chunks(1000) {
                let mut pipe = redis::pipe();
                for &at in chunk {
                    pipe.cmd("GET").arg(&keys[at]);
                }
                match pipe.query::<Vec<Option<String>>>(&mut con) {
                    Ok(values) => {
                        for (&at, value) in chunk.iter().zip(values) {
                            out[at] = Ok(value);
                        }
                    }
                    Err(e) => {
                        for &at in chunk {
                            out[at] = Err(format!("GET on node {}: {e}", node.port));
                        }
                    }
                }
            }
        }
        out
    }

    /// `CLUSTERX SETSLOT <moving> NODE <node 1> 2` on every node.
    fn hand_over(&mut self) {
        for node in &self.nodes {
            assert_eq!(
                node.raw()
                    .cmd(&["CLUSTERX", "SETSLOT", MOVING_TEXT, "NODE", IDS[1], "2"]),
                Reply::ok(),
                "SETSLOT on node {}",
                node.port
            );
        }
        self.handed_over = true;
    }
}

/// `FILL_KEYS` keys over all slots, with values of about 300 bytes.
fn fill(trio: &Trio) -> Vec<(String, String)> {
    let pad = "f".repeat(300);
    let pairs: Vec<(String, String)> = (0..FILL_KEYS)
        .map(|i| (format!("fill:{i}"), format!("{i}:{pad}")))
        .collect();
    trio.write(&pairs);
    pairs
}

fn job_state(c: &mut Raw) -> String {
    let status = c.cmd(&["CLUSTERX", "MIGRATION", "STATUS"]);
    job_field(&status, "state")
        .map(|s| s.text())
        .unwrap_or_else(|| panic!("no job in {status:?}"))
}

/// Polls the job every `every`, calling `during` on each poll while it runs, until it
/// ends; panics unless it ends in `success`.
fn wait_for_success(c: &mut Raw, every: Duration, mut during: impl FnMut(&mut Raw)) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let status = c.cmd(&["CLUSTERX", "MIGRATION", "STATUS"]);
        let state = job_field(&status, "state").map(|s| s.text());
        match state.as_deref() {
            Some("success") => return,
            Some("start") => {}
            _ => panic!("the migration did not succeed: {status:?}"),
        }
        assert!(
            Instant::now() < deadline,
            "the migration did not end in 60 s: {status:?}"
        );
        during(c);
        std::thread::sleep(every);
    }
}

/// Starts migrating the moving slots from node 0 to node 1 at 1 MB/s (a few seconds).
fn start_migration(trio: &Trio) -> Raw {
    let mut src = trio.nodes[0].raw();
    assert_eq!(
        src.cmd(&["CONFIG", "SET", "migrate-batch-rate-limit-mb", "1"]),
        Reply::ok()
    );
    assert_eq!(
        src.cmd(&["CONFIG", "SET", "migrate-batch-size-kb", "64"]),
        Reply::ok()
    );
    assert_eq!(
        src.cmd(&["CLUSTERX", "MIGRATE", MOVING_TEXT, IDS[1]]),
        Reply::ok()
    );
    src
}

// ---------------------------------------------------------------------------------
// The client programs

#[derive(Debug, Clone, Copy, PartialEq)]
enum Client {
    NodeRedis4,
    NodeRedis5,
    Ioredis,
    RedisPySync,
    RedisPyAsync,
    RedisCli,
}

impl Client {
    fn name(self) -> &'static str {
        match self {
            Client::NodeRedis4 => "node-redis v4 createCluster",
            Client::NodeRedis5 => "node-redis v5 createCluster",
            Client::Ioredis => "ioredis Cluster",
            Client::RedisPySync => "redis-py RedisCluster",
            Client::RedisPyAsync => "redis-py asyncio RedisCluster",
            Client::RedisCli => "redis-cli -c",
        }
    }

    /// Fails loudly when the client is not installed as `./dev deps` installs it.
    fn check_installed(self) {
        let root = repo_root();
        let run = |program: &str, args: &[&str]| -> Result<String, String> {
            let out = Command::new(program)
                .args(args)
                .output()
                .map_err(|e| format!("cannot run {program}: {e}"))?;
            if !out.status.success() {
                return Err(format!(
                    "{program} {args:?} failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
        };
        let fix = "install the client matrix with ./dev deps";
        match self {
            Client::NodeRedis4 | Client::NodeRedis5 | Client::Ioredis => {
                if let Err(e) = run("node", &["--version"]) {
                    panic!("{}: node is missing ({e}); {fix}", self.name());
                }
                let package = match self {
                    Client::NodeRedis4 => "redis4",
                    Client::NodeRedis5 => "redis5",
                    _ => "ioredis",
                };
                let manifest = root
                    .join("clients/node_modules")
                    .join(package)
                    .join("package.json");
                assert!(
                    manifest.exists(),
                    "{}: {} is missing; {fix}",
                    self.name(),
                    manifest.display()
                );
            }
            Client::RedisPySync | Client::RedisPyAsync => {
                let pinned = std::fs::read_to_string(root.join("clients/requirements.txt"))
                    .expect("clients/requirements.txt");
                let want = pinned
                    .lines()
                    .find_map(|l| l.trim().strip_prefix("redis=="))
                    .expect("redis==<version> in clients/requirements.txt")
                    .to_string();
                match run("python3", &["-c", "import redis; print(redis.__version__)"]) {
                    Ok(have) => assert_eq!(
                        have,
                        want,
                        "{}: redis-py {have} installed, {want} pinned; {fix}",
                        self.name()
                    ),
                    Err(e) => panic!("{}: redis-py is missing ({e}); {fix}", self.name()),
                }
            }
            Client::RedisCli => {
                if let Err(e) = run("redis-cli", &["--version"]) {
                    panic!("redis-cli is missing ({e}); {fix}");
                }
                if let Err(e) = run("python3", &["--version"]) {
                    panic!("python3 (drives redis-cli) is missing ({e}); {fix}");
                }
            }
        }
    }

    fn command(self, seeds: &str, prefix: &str, stop_file: &Path) -> Command {
        let root = repo_root();
        let (program, script, kind) = match self {
            Client::NodeRedis4 => ("node", "clients/node/workload.js", "redis4"),
            Client::NodeRedis5 => ("node", "clients/node/workload.js", "redis5"),
            Client::Ioredis => ("node", "clients/node/workload.js", "ioredis"),
            Client::RedisPySync => ("python3", "clients/py/workload.py", "sync"),
            Client::RedisPyAsync => ("python3", "clients/py/workload.py", "async"),
            Client::RedisCli => ("python3", "clients/py/workload.py", "cli"),
        };
        let mut cmd = Command::new(program);
        cmd.arg(root.join(script))
            .args(["--client", kind, "--seeds", seeds, "--prefix", prefix])
            .arg("--stop-file")
            .arg(stop_file)
            .args(["--max-ms", "90000"]);
        cmd
    }
}

/// A running client program; killed if the test ends before it does.
struct Running {
    client: Client,
    child: Option<Child>,
    dir: tempfile::TempDir,
}

impl Running {
    fn start(client: Client, trio: &Trio, prefix: &str) -> Running {
        client.check_installed();
        let dir = tempfile::tempdir().expect("tempdir");
        let stdout = std::fs::File::create(dir.path().join("stdout")).expect("stdout file");
        let stderr = std::fs::File::create(dir.path().join("stderr")).expect("stderr file");
        let child = client
            .command(&trio.seeds(), prefix, &dir.path().join("stop"))
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("{}: cannot start: {e}", client.name()));
        let mut running = Running {
            client,
            child: Some(child),
            dir,
        };
        let ready = running.dir.path().join("stop.ready");
        let deadline = Instant::now() + Duration::from_secs(30);
        while !ready.exists() {
            if let Some(status) = running
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!(
                    "{} exited before it was ready ({status}): {}",
                    client.name(),
                    running.stderr()
                );
            }
            assert!(
                Instant::now() < deadline,
                "{} not ready in 30 s: {}",
                client.name(),
                running.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        running
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stderr")).unwrap_or_default()
    }

    /// Stops the client and returns its summary.
    fn stop(mut self) -> Json {
        std::fs::write(self.dir.path().join("stop"), b"").expect("stop file");
        let mut child = self.child.take().expect("running");
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Ok(Some(status)) = child.try_wait() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "{} did not stop within 30 s of the stop file (a command hung?): {}",
                    self.client.name(),
                    self.stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let stdout = std::fs::read_to_string(self.dir.path().join("stdout")).unwrap_or_default();
        assert!(
            status.success(),
            "{} failed ({status}): {}{stdout}",
            self.client.name(),
            self.stderr()
        );
        Json::parse(stdout.trim()).unwrap_or_else(|e| {
            panic!(
                "{}: its summary is not JSON ({e}): {stdout:.500}",
                self.client.name()
            )
        })
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

// ---------------------------------------------------------------------------------
// The matrix

/// One cell of the matrix: `client` writes and reads through a migration of 3,000 slots
/// whose SETSLOT comes `delay` after the job's success.
fn client_keeps_working_through_a_migration(client: Client, delay: Duration) {
    let mut trio = Trio::start();
    let fill = fill(&trio);
    let running = Running::start(client, &trio, "app");
    std::thread::sleep(Duration::from_millis(500));

    // As a controller would: poll the job every 100 ms, SETSLOT on every node once it
    // succeeded (at once, or after `delay`).
    let mut src = start_migration(&trio);
    wait_for_success(&mut src, Duration::from_millis(100), |_| {});
    std::thread::sleep(delay);
    trio.hand_over();
    std::thread::sleep(Duration::from_millis(1500));
    let summary = running.stop();

    let mut failures = Vec::new();
    let name = client.name();
    let when = format!("SETSLOT {} ms after success", delay.as_millis());
    let num = |field: &str| summary.get(field).and_then(Json::as_i64).unwrap_or(-1);
    let ops = num("ops");
    let errors = num("errors");
    if errors != 0 {
        failures.push(format!(
            "{name} ({when}): {errors} errors surfaced to the application in {ops} operations; first: {}",
            summary
                .get("error_messages")
                .map(Json::to_string)
                .unwrap_or_default()
        ));
    }
    if num("mismatches") != 0 {
        failures.push(format!(
            "{name} ({when}): {} GETs right after an acknowledged SET returned another value; first: {}",
            num("mismatches"),
            summary
                .get("mismatch_messages")
                .map(Json::to_string)
                .unwrap_or_default()
        ));
    }
    let hung = summary.get("hung").and_then(Json::as_i64).unwrap_or(0);
    if hung != 0 {
        failures.push(format!(
            "{name} ({when}): {hung} commands neither answered nor failed 5 s after the stop"
        ));
    }

    // Every acknowledged SET is there with its value.
    let writes: Vec<(String, String)> = summary
        .get("writes")
        .and_then(Json::as_object)
        .expect("writes in the summary")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().expect("a string value").to_string()))
        .collect();
    let in_moving = writes
        .iter()
        .filter(|(k, _)| (MOVING.0..=MOVING.1).contains(&key_slot(k.as_bytes())))
        .count();
    if ops < 300 || in_moving == 0 {
        failures.push(format!(
            "{name} ({when}): the client barely ran ({ops} operations, {in_moving} acknowledged writes in the moving slots): the test proves nothing"
        ));
    }
    let keys: Vec<String> = writes.iter().map(|(k, _)| k.clone()).collect();
    let mut lost = Vec::new();
    for ((key, expected), got) in writes.iter().zip(trio.read(&keys)) {
        if got.as_ref().ok().and_then(|v| v.as_deref()) != Some(expected.as_str()) {
            lost.push(format!(
                "{key} (slot {}): {got:?}",
                key_slot(key.as_bytes())
            ));
        }
    }
    if !lost.is_empty() {
        failures.push(format!(
            "{name} ({when}): {} of {} acknowledged writes are not readable with their value; first: {:?}",
            lost.len(),
            writes.len(),
            &lost[..lost.len().min(10)]
        ));
    }

    // Every counter holds its acknowledged INCRs (plus at most the failed ones).
    let counters = summary
        .get("counters")
        .and_then(Json::as_object)
        .expect("counters in the summary");
    let counter_keys: Vec<String> = counters.iter().map(|(k, _)| k.clone()).collect();
    let mut wrong = Vec::new();
    let mut acked_total = 0;
    for ((key, counts), got) in counters.iter().zip(trio.read(&counter_keys)) {
        let acked = counts.get("acked").and_then(Json::as_i64).unwrap_or(-1);
        let uncertain = counts.get("uncertain").and_then(Json::as_i64).unwrap_or(0) + hung;
        acked_total += acked;
        let value = match &got {
            Ok(Some(v)) => v.parse::<i64>().unwrap_or(-1),
            Ok(None) => 0,
            Err(_) => -1,
        };
        if value < acked || value > acked + uncertain {
            wrong.push(format!(
                "{key} (slot {}): {got:?}, {acked} INCRs acknowledged, {uncertain} failed",
                key_slot(key.as_bytes())
            ));
        }
    }
    if !wrong.is_empty() {
        failures.push(format!(
            "{name} ({when}): {} of {} counters do not hold their acknowledged INCRs: {:?}",
            wrong.len(),
            counters.len(),
            &wrong[..wrong.len().min(10)]
        ));
    }

    // The data written before the migration is intact.
    let fill_keys: Vec<String> = fill.iter().map(|(k, _)| k.clone()).collect();
    let bad_fill = fill
        .iter()
        .zip(trio.read(&fill_keys))
        .filter(|((_, v), got)| got.as_ref().ok().and_then(|g| g.as_deref()) != Some(v.as_str()))
        .count();
    if bad_fill != 0 {
        failures.push(format!(
            "{name} ({when}): {bad_fill} of {FILL_KEYS} keys written before the migration are not readable"
        ));
    }

    println!(
        "client matrix | {name} | {when} | {ops} ops | {errors} errors | {} writes checked, {} lost | {} counters ({acked_total} INCRs) checked, {} wrong",
        writes.len(),
        lost.len(),
        counters.len(),
        wrong.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

const AT_ONCE: Duration = Duration::ZERO;
const TWO_SECONDS: Duration = Duration::from_secs(2);

#[test]
fn node_redis_v4_sees_no_error_with_setslot_at_once() {
    client_keeps_working_through_a_migration(Client::NodeRedis4, AT_ONCE);
}

#[test]
fn node_redis_v4_sees_no_error_with_setslot_two_seconds_after_success() {
    client_keeps_working_through_a_migration(Client::NodeRedis4, TWO_SECONDS);
}

#[test]
fn node_redis_v5_sees_no_error_with_setslot_at_once() {
    client_keeps_working_through_a_migration(Client::NodeRedis5, AT_ONCE);
}

#[test]
fn node_redis_v5_sees_no_error_with_setslot_two_seconds_after_success() {
    client_keeps_working_through_a_migration(Client::NodeRedis5, TWO_SECONDS);
}

#[test]
fn ioredis_sees_no_error_with_setslot_at_once() {
    client_keeps_working_through_a_migration(Client::Ioredis, AT_ONCE);
}

#[test]
fn ioredis_sees_no_error_with_setslot_two_seconds_after_success() {
    client_keeps_working_through_a_migration(Client::Ioredis, TWO_SECONDS);
}

#[test]
fn redis_py_cluster_sees_no_error_with_setslot_at_once() {
    client_keeps_working_through_a_migration(Client::RedisPySync, AT_ONCE);
}

#[test]
fn redis_py_cluster_sees_no_error_with_setslot_two_seconds_after_success() {
    client_keeps_working_through_a_migration(Client::RedisPySync, TWO_SECONDS);
}

#[test]
fn redis_py_asyncio_cluster_sees_no_error_with_setslot_at_once() {
    client_keeps_working_through_a_migration(Client::RedisPyAsync, AT_ONCE);
}

#[test]
fn redis_py_asyncio_cluster_sees_no_error_with_setslot_two_seconds_after_success() {
    client_keeps_working_through_a_migration(Client::RedisPyAsync, TWO_SECONDS);
}

#[test]
fn redis_cli_sees_no_error_with_setslot_at_once() {
    client_keeps_working_through_a_migration(Client::RedisCli, AT_ONCE);
}

#[test]
fn redis_cli_sees_no_error_with_setslot_two_seconds_after_success() {
    client_keeps_working_through_a_migration(Client::RedisCli, TWO_SECONDS);
}

// ---------------------------------------------------------------------------------
// Cluster-wide SCAN

/// Every key of every master through SCAN, and the sum of their DBSIZE.
fn scan_cluster(trio: &Trio) -> (HashMap<String, Vec<usize>>, i64) {
    let mut seen: HashMap<String, Vec<usize>> = HashMap::new();
    let mut dbsize = 0;
    for (at, node) in trio.nodes.iter().enumerate() {
        let mut c = node.raw();
        let mut cursor = "0".to_string();
        loop {
            let reply = c.cmd(&["SCAN", &cursor, "COUNT", "1000"]);
            let items = reply.items();
            cursor = items[0].text();
            for key in items[1].strings() {
                seen.entry(key).or_default().push(at);
            }
            if cursor == "0" {
                break;
            }
        }
        dbsize += c.cmd(&["DBSIZE"]).int();
    }
    (seen, dbsize)
}

/// Checks one cluster-wide listing against the keys that exist.
fn check_listing(trio: &Trio, expected: &[(String, String)], moment: &str) -> Option<String> {
    let (seen, dbsize) = scan_cluster(trio);
    let twice: Vec<String> = seen
        .iter()
        .filter(|(_, nodes)| nodes.len() > 1)
        .map(|(k, nodes)| format!("{k} (slot {}) on nodes {nodes:?}", key_slot(k.as_bytes())))
        .collect();
    let missing: Vec<&String> = expected
        .iter()
        .map(|(k, _)| k)
        .filter(|k| !seen.contains_key(*k))
        .collect();
    let listed: usize = seen.values().map(Vec::len).sum();
    println!(
        "cluster-wide SCAN {moment}: {listed} listed for {} keys, DBSIZE sum {dbsize}",
        expected.len()
    );
    if twice.is_empty()
        && missing.is_empty()
        && seen.len() == expected.len()
        && dbsize == expected.len() as i64
    {
        return None;
    }
    Some(format!(
        "{moment}: SCAN on every master listed {listed} keys ({} distinct) for {} keys, DBSIZE summed to {dbsize}; {} listed on two nodes (first: {:?}); {} missing (first: {:?})",
        seen.len(),
        expected.len(),
        twice.len(),
        &twice[..twice.len().min(3)],
        missing.len(),
        &missing[..missing.len().min(3)]
    ))
}

#[test]
fn cluster_wide_scan_lists_every_key_exactly_once_through_a_migration() {
    let mut trio = Trio::start();
    let keys = fill(&trio);
    let mut failures = Vec::new();
    if let Some(f) = check_listing(&trio, &keys, "before the migration") {
        failures.push(f);
    }

    // About 5,500 keys move: at 1,500 keys/s the copy lasts several listings long.
    assert_eq!(
        trio.nodes[0]
            .raw()
            .cmd(&["CONFIG", "SET", "migrate-speed", "1500"]),
        Reply::ok()
    );
    let mut src = start_migration(&trio);
    // While the job copies: a listing counts only when the job was running before and
    // after it (a commit in the middle of a scan may legitimately list a key twice).
    let mut copying_samples = 0;
    let mut last_sample = Instant::now() - Duration::from_secs(1);
    wait_for_success(&mut src, Duration::from_millis(20), |src| {
        if copying_samples >= 3 || last_sample.elapsed() < Duration::from_millis(300) {
            return;
        }
        last_sample = Instant::now();
        let sent = |src: &mut Raw| {
            job_field(&src.cmd(&["CLUSTERX", "MIGRATION", "STATUS"]), "keys_sent")
                .map(|r| r.int())
                .unwrap_or(0)
        };
        if sent(src) == 0 {
            return;
        }
        let result = check_listing(&trio, &keys, "while the job copies");
        if job_state(src) == "start" {
            copying_samples += 1;
            failures.extend(result);
        }
    });
    assert!(
        copying_samples > 0,
        "the copy ended before a listing could be taken: the test proves nothing"
    );

    // Between the commit and SETSLOT.
    failures.extend(check_listing(
        &trio,
        &keys,
        "right after the job's success, before SETSLOT",
    ));
    std::thread::sleep(Duration::from_secs(1));
    failures.extend(check_listing(
        &trio,
        &keys,
        "1 s after the job's success, before SETSLOT",
    ));
    trio.hand_over();
    failures.extend(check_listing(
        &trio,
        &keys,
        "right after SETSLOT on every node",
    ));
    std::thread::sleep(Duration::from_secs(1));
    failures.extend(check_listing(&trio, &keys, "1 s after SETSLOT"));

    // And the data is where the topology says.
    let names: Vec<String> = keys.iter().map(|(k, _)| k.clone()).collect();
    let unreadable = keys
        .iter()
        .zip(trio.read(&names))
        .filter(|((_, v), got)| got.as_ref().ok().and_then(|g| g.as_deref()) != Some(v.as_str()))
        .count();
    if unreadable != 0 {
        failures.push(format!(
            "{unreadable} keys not readable from their owner after SETSLOT"
        ));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

// ---------------------------------------------------------------------------------
// A minimal JSON reader for the clients' summaries (no JSON crate in the workspace).

#[derive(Debug, Clone, PartialEq)]
enum Json {
    Null,
    Bool(bool),
    Num(f64),
    Str(String),
    Arr(Vec<Json>),
    Obj(Vec<(String, Json)>),
}

impl Json {
    fn parse(text: &str) -> Result<Json, String> {
        let mut p = JsonParser {
            s: text.as_bytes(),
            at: 0,
        };
        let value = p.value()?;
        p.ws();
        if p.at != p.s.len() {
            return Err(format!("trailing characters at {}", p.at));
        }
        Ok(value)
    }

    fn get(&self, name: &str) -> Option<&Json> {
        self.as_object()?
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }

    fn as_object(&self) -> Option<&Vec<(String, Json)>> {
        match self {
            Json::Obj(fields) => Some(fields),
            _ => None,
        }
    }

    fn as_i64(&self) -> Option<i64> {
        match self {
            Json::Num(n) => Some(*n as i64),
            _ => None,
        }
    }

    fn as_str(&self) -> Option<&str> {
        match self {
            Json::Str(s) => Some(s),
            _ => None,
        }
    }
}

impl std::fmt::Display for Json {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Json::Null => write!(f, "null"),
            Json::Bool(b) => write!(f, "{b}"),
            Json::Num(n) => write!(f, "{n}"),
            Json::Str(s) => write!(f, "{s:?}"),
            Json::Arr(items) => {
                write!(f, "[")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    write!(f, "{item}")?;
                }
                write!(f, "]")
            }
            Json::Obj(fields) => {
                write!(f, "{{")?;
                for (i, (k, v)) in fields.iter().enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    write!(f, "{k:?}: {v}")?;
                }
                write!(f, "}}")
            }
        }
    }
}

struct JsonParser<'a> {
    s: &'a [u8],
    at: usize,
}

impl JsonParser<'_> {
    fn ws(&mut self) {
        while self.at < self.s.len() && self.s[self.at].is_ascii_whitespace() {
            self.at += 1;
        }
    }

    fn eat(&mut self, b: u8) -> Result<(), String> {
        self.ws();
        if self.s.get(self.at) == Some(&b) {
            self.at += 1;
            Ok(())
        } else {
            Err(format!("expected {:?} at {}", b as char, self.at))
        }
    }

    fn value(&mut self) -> Result<Json, String> {
        self.ws();
        match self.s.get(self.at) {
            Some(b'{') => {
                self.at += 1;
                let mut fields = Vec::new();
                self.ws();
                if self.s.get(self.at) == Some(&b'}') {
                    self.at += 1;
                    return Ok(Json::Obj(fields));
                }
                loop {
                    self.ws();
                    let key = self.string()?;
                    self.eat(b':')?;
                    fields.push((key, self.value()?));
                    self.ws();
                    match self.s.get(self.at) {
                        Some(b',') => self.at += 1,
                        Some(b'}') => {
                            self.at += 1;
                            return Ok(Json::Obj(fields));
                        }
                        _ => return Err(format!("expected , or }} at {}", self.at)),
                    }
                }
            }
            Some(b'[') => {
                self.at += 1;
                let mut items = Vec::new();
                self.ws();
                if self.s.get(self.at) == Some(&b']') {
                    self.at += 1;
                    return Ok(Json::Arr(items));
                }
                loop {
                    items.push(self.value()?);
                    self.ws();
                    match self.s.get(self.at) {
                        Some(b',') => self.at += 1,
                        Some(b']') => {
                            self.at += 1;
                            return Ok(Json::Arr(items));
                        }
                        _ => return Err(format!("expected , or ] at {}", self.at)),
                    }
                }
            }
            Some(b'"') => Ok(Json::Str(self.string()?)),
            Some(b't') if self.s[self.at..].starts_with(b"true") => {
                self.at += 4;
                Ok(Json::Bool(true))
            }
            Some(b'f') if self.s[self.at..].starts_with(b"false") => {
                self.at += 5;
                Ok(Json::Bool(false))
            }
            Some(b'n') if self.s[self.at..].starts_with(b"null") => {
                self.at += 4;
                Ok(Json::Null)
            }
            Some(_) => {
                let start = self.at;
                while self.at < self.s.len()
                    && matches!(
                        self.s[self.at],
                        b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9'
                    )
                {
                    self.at += 1;
                }
                std::str::from_utf8(&self.s[start..self.at])
                    .ok()
                    .and_then(|t| t.parse::<f64>().ok())
                    .map(Json::Num)
                    .ok_or_else(|| format!("bad value at {start}"))
            }
            None => Err("unexpected end".into()),
        }
    }

    fn string(&mut self) -> Result<String, String> {
        if self.s.get(self.at) != Some(&b'"') {
            return Err(format!("expected a string at {}", self.at));
        }
        self.at += 1;
        let mut out = Vec::new();
        loop {
            match self.s.get(self.at) {
                None => return Err("unterminated string".into()),
                Some(b'"') => {
                    self.at += 1;
                    return String::from_utf8(out).map_err(|e| e.to_string());
                }
                Some(b'\\') => {
                    let escape = *self.s.get(self.at + 1).ok_or("bad escape")?;
                    self.at += 2;
                    match escape {
                        b'n' => out.push(b'\n'),
                        b't' => out.push(b'\t'),
                        b'r' => out.push(b'\r'),
                        b'b' => out.push(8),
                        b'f' => out.push(12),
                        b'u' => {
                            let hex = self.s.get(self.at..self.at + 4).ok_or("bad \\u escape")?;
                            let code = u32::from_str_radix(
                                std::str::from_utf8(hex).map_err(|e| e.to_string())?,
                                16,
                            )
                            .map_err(|e| e.to_string())?;
                            self.at += 4;
                            let c = char::from_u32(code).unwrap_or('\u{fffd}');
                            let mut buf = [0u8; 4];
                            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                        }
                        other => out.push(other),
                    }
                }
                Some(&b) => {
                    out.push(b);
                    self.at += 1;
                }
            }
        }
    }
}

#[test]
fn the_summary_reader_reads_what_the_clients_print() {
    let json = Json::parse(
        r#"{"client":"x","ops":12,"errors":0,"error_messages":["a \"b\"\n\u00e9"],"writes":{"k:1":"1:2"},"counters":{"c":{"acked":3,"uncertain":0}},"hung":0,"f":-1.5e2,"t":true,"n":null}"#,
    )
    .unwrap();
    assert_eq!(json.get("ops").and_then(Json::as_i64), Some(12));
    assert_eq!(
        json.get("error_messages"),
        Some(&Json::Arr(vec![Json::Str("a \"b\"\né".into())]))
    );
    assert_eq!(
        json.get("writes")
            .and_then(|w| w.get("k:1"))
            .and_then(Json::as_str),
        Some("1:2")
    );
    assert_eq!(
        json.get("counters")
            .and_then(|c| c.get("c"))
            .and_then(|c| c.get("acked"))
            .and_then(Json::as_i64),
        Some(3)
    );
    assert_eq!(json.get("f"), Some(&Json::Num(-150.0)));
    assert!(Json::parse("{\"a\":1").is_err());
    assert!(Json::parse("{\"a\":1} x").is_err());
}
