//! Test support: real `ferrokv-server` processes on loopback ports, and a raw RESP client
//! for checking exact reply bytes and error texts.
#![allow(dead_code)]

pub mod fixtures;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_ferrokv-server");

/// A loopback port that was free a moment ago, for programs that cannot be started on
/// port 0 (redis-server, where port 0 means no TCP at all): the port may be taken by
/// the time the program binds it, so whoever uses it must retry on failure
/// ([`RedisServer::start`] does). Ferrokv servers use port 0 instead and read the port
/// they got from their `port-file`, which leaves no race at all.
///
/// Each test process starts at a random place in 10000-31999 (below the kernel's
/// ephemeral range, so no client socket can be handed the port) and walks from there
/// with a counter, so tests running in parallel threads never get the same port.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    use std::sync::OnceLock;
    static BASE: OnceLock<u16> = OnceLock::new();
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let base = *BASE.get_or_init(|| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let seed = nanos ^ std::process::id().wrapping_mul(2_654_435_761);
        10_000 + (seed % 2_150) as u16 * 10
    });
    loop {
        let offset = NEXT.fetch_add(1, Ordering::Relaxed) % 500;
        let port = base + offset;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// A running server; killed when dropped.
pub struct TestServer {
    pub child: Option<Child>,
    pub port: u16,
    pub dir: PathBuf,
    _tmp: Option<tempfile::TempDir>,
    /// Holds the port file the server writes once it listens.
    port_dir: tempfile::TempDir,
    /// The command line; for a cluster node, after the first start `--port` carries
    /// the port it got, so that a restart comes back on the same port.
    pub args: Vec<String>,
}

/// Given to every test server before the test's own arguments (which win): a
/// migration's copy and RocksDB's compactions at the clients' priority. Whenever both
/// cores of a small machine are busy (the tests of a binary run in parallel; other
/// processes), a copy in the idle scheduling class (the default) waits for every
/// other runnable thread, and a compaction at nice 19 crawls (seen with other
/// processes spinning: seven migration and garbage-collection tests past their
/// deadlines). The tests of those defaults pass `yes` themselves.
pub const BACKGROUND_AT_CLIENT_PRIORITY: &[&str] = &[
    "--migrate-idle-class",
    "no",
    "--migrate-nice",
    "0",
    "--rocksdb.compaction_low_cpu_priority",
    "no",
];

impl TestServer {
    pub fn start(extra: &[&str]) -> TestServer {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("data");
        let mut server = TestServer::start_in(&dir, extra);
        server._tmp = Some(tmp);
        server
    }

    /// Starts a server with data in `dir` on a port the kernel picks (`--port 0`): no
    /// other process can take it between choosing and binding.
    pub fn start_in(dir: &Path, extra: &[&str]) -> TestServer {
        let port_dir = tempfile::tempdir().expect("tempdir");
        let mut args = vec![
            "--port".to_string(),
            "0".to_string(),
            "--port-file".to_string(),
            port_dir.path().join("port").display().to_string(),
            "--dir".to_string(),
            dir.display().to_string(),
            "--log-level".to_string(),
            "warning".to_string(),
        ];
        args.extend(BACKGROUND_AT_CLIENT_PRIORITY.iter().map(|s| s.to_string()));
        args.extend(extra.iter().map(|s| s.to_string()));
        let mut server = TestServer {
            child: None,
            port: 0,
            dir: dir.to_path_buf(),
            _tmp: None,
            port_dir,
            args,
        };
        server.spawn();
        // A cluster node must come back on its port (the topology names it); any other
        // server is restarted on a new port 0, which keeps restarts race-free too.
        if server.is_cluster_node() {
            if let Some(at) = server.args.iter().position(|a| a == "--port") {
                server.args[at + 1] = server.port.to_string();
            }
        }
        server
    }

    fn is_cluster_node(&self) -> bool {
        self.args
            .windows(2)
            .any(|w| w[0] == "--cluster-enabled" && w[1].eq_ignore_ascii_case("yes"))
    }

    fn spawn(&mut self) {
        let port_file = self.port_dir.path().join("port");
        let _ = std::fs::remove_file(&port_file);
        let child = Command::new(BIN)
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn ferrokv-server");
        self.child = Some(child);
        self.wait_ready(&port_file);
    }

    fn wait_ready(&mut self, port_file: &Path) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!("ferrokv-server exited during start-up: {status}");
            }
            if let Some(port) = read_port_file(port_file) {
                self.port = port;
                if answers_ping(port) {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("ferrokv-server did not start answering on {}", self.port);
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    pub fn client(&self) -> redis::Connection {
        let client = redis::Client::open(self.url()).expect("redis url");
        let mut attempt = 0;
        loop {
            match client.get_connection() {
                Ok(con) => return con,
                Err(e) if attempt < 20 => {
                    attempt += 1;
                    eprintln!("connect with the redis crate failed ({e}), retrying");
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(e) => panic!("connect with the redis crate: {e}"),
            }
        }
    }

    pub fn raw(&self) -> Raw {
        Raw::connect(self.port)
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    /// From now on a restart comes back on the port the server has now (a master that
    /// replicas follow by address).
    pub fn keep_port(&mut self) {
        if let Some(at) = self.args.iter().position(|a| a == "--port") {
            self.args[at + 1] = self.port.to_string();
        }
    }

    /// Starts the process again after it stopped (terminate, kill9).
    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "still running");
        self.spawn();
    }

    /// `kill -9`, then wait for the process to be gone.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM, and the exit status.
    pub fn terminate(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("running");
        signal(child.id(), "TERM");
        wait_exit(&mut child, Duration::from_secs(20))
    }

    /// Waits for the process to exit by itself (after SHUTDOWN).
    pub fn wait_exit(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("running");
        wait_exit(&mut child, Duration::from_secs(20))
    }

    /// Starts the process again with the same dir and options; a cluster node keeps
    /// its port, any other server gets a new one (`port` is updated).
    pub fn restart(&mut self) {
        self.kill9();
        self.spawn();
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        // A server that died by itself explains a failing test: say so.
        if let Some(Ok(Some(status))) = self.child.as_mut().map(|c| c.try_wait()) {
            eprintln!(
                "ferrokv-server on port {} had exited by itself: {status}",
                self.port
            );
        }
        self.kill9();
    }
}

pub fn signal(pid: u32, name: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .status();
}

pub fn wait_exit(child: &mut Child, limit: Duration) -> ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("process did not exit in {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The port a server wrote to its `port-file` (`None` until it has).
pub fn read_port_file(path: &Path) -> Option<u16> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// A reference redis-server on a free port, killed when dropped.
pub struct RedisServer {
    child: Child,
    pub port: u16,
    _dir: tempfile::TempDir,
}

impl RedisServer {
    /// Starts redis-server (no persistence). redis-server cannot report an ephemeral
    /// port, so a port taken between [`free_port`] and its bind makes it exit; it is
    /// then started again on another port.
    pub fn start() -> RedisServer {
        for _ in 0..20 {
            let dir = tempfile::tempdir().expect("tempdir");
            let port = free_port();
            let mut child = Command::new("redis-server")
                .args([
                    "--port",
                    &port.to_string(),
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                ])
                .args(["--bind", "127.0.0.1"])
                .arg("--dir")
                .arg(dir.path())
                .stdout(Stdio::null())
                .spawn()
                .expect("redis-server must be installed (apt-get install redis-server)");
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                if let Ok(Some(_)) = child.try_wait() {
                    break; // the port was taken: try another
                }
                if answers_ping(port) {
                    return RedisServer {
                        child,
                        port,
                        _dir: dir,
                    };
                }
                assert!(Instant::now() < deadline, "redis-server did not start");
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        panic!("redis-server could not find a free port in 20 attempts");
    }

    pub fn raw(&self) -> Raw {
        Raw::connect(self.port)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends the same commands to Ferrokv and redis-server and checks that the replies
/// are byte for byte the same (decoded, so RESP framing included).
pub fn same_as_redis(ours: &mut Raw, redis: &mut Raw, commands: &[&[&str]]) {
    for args in commands {
        let expected = redis.cmd(args);
        let got = ours.cmd(args);
        assert_eq!(got, expected, "{args:?}");
    }
}

/// Commands written one a line, their arguments split at white space: the form of the
/// tests' tables of cases, e.g. `"GEOADD Sicily 13.36 38.11 Palermo\nGEOPOS Sicily
/// Palermo"`. `''` stands for an empty argument, as in a shell. Blank lines are skipped, and so are
/// lines starting with `//`, a table's own comments. An argument that holds white
/// space cannot be written so: such cases stay `&[&str]` slices. Panics on a table
/// without commands: it would check nothing.
pub fn commands(table: &str) -> Vec<Vec<&str>> {
    let commands: Vec<Vec<&str>> = table
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with("//"))
        .map(|line| {
            line.split_whitespace()
                .map(|arg| if arg == "''" { "" } else { arg })
                .collect()
        })
        .collect();
    assert!(!commands.is_empty(), "a table without commands: {table:?}");
    commands
}

/// [`same_as_redis`] for a table of commands written as [`commands`] reads it.
pub fn same_as_redis_table(ours: &mut Raw, redis: &mut Raw, table: &str) {
    for args in commands(table) {
        same_as_redis(ours, redis, &[&args]);
    }
}

/// A redis-server and a fresh ferrokv-server side by side, each with one RESP2
/// connection: the form of most differential tests. The servers live as long as this.
pub struct SideBySide {
    pub redis_server: RedisServer,
    pub ferrokv: TestServer,
    /// A connection to redis-server: the expected replies.
    pub expected: Raw,
    /// A connection to ferrokv-server: the replies checked.
    pub actual: Raw,
}

impl SideBySide {
    /// Starts both servers (ferrokv-server with `extra` options) and connects to each.
    pub fn start(extra: &[&str]) -> SideBySide {
        let redis_server = RedisServer::start();
        let ferrokv = TestServer::start(extra);
        let (expected, actual) = (redis_server.raw(), ferrokv.raw());
        SideBySide {
            redis_server,
            ferrokv,
            expected,
            actual,
        }
    }

    /// [`same_as_redis`] on the two connections.
    pub fn same(&mut self, commands: &[&[&str]]) {
        same_as_redis(&mut self.actual, &mut self.expected, commands);
    }

    /// Switches both connections to RESP `protocol`; HELLO's own replies differ (server
    /// version, client id) and are not compared.
    pub fn hello(&mut self, protocol: &str) {
        self.expected.cmd(&["HELLO", protocol]);
        self.actual.cmd(&["HELLO", protocol]);
    }

    /// [`same_as_redis_table`] on the two connections.
    pub fn same_table(&mut self, table: &str) {
        same_as_redis_table(&mut self.actual, &mut self.expected, table);
    }
}

/// Ready means answering, not just listening: a PING gets a reply (PONG, or NOAUTH
/// when a password is set).
fn answers_ping(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let mut first = [0u8; 1];
    stream.write_all(b"PING\r\n").is_ok()
        && stream.read_exact(&mut first).is_ok()
        && (first[0] == b'+' || first[0] == b'-')
}

/// Connects to a local port, retrying briefly: a suite that opens thousands of
/// connections can run out of ephemeral ports for a moment (sockets in TIME_WAIT).
pub fn connect_retrying(port: u16) -> TcpStream {
    let mut attempt = 0;
    loop {
        match TcpStream::connect(("127.0.0.1", port)) {
            Ok(stream) => return stream,
            Err(e) if attempt < 20 && e.kind() != std::io::ErrorKind::ConnectionRefused => {
                attempt += 1;
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(e) => panic!("connect to {port}: {e}"),
        }
    }
}

/// A decoded reply, RESP2 or RESP3.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    Status(String),
    Error(String),
    Int(i64),
    Bulk(Vec<u8>),
    Nil,
    Array(Vec<Reply>),
    Map(Vec<(Reply, Reply)>),
    Set(Vec<Reply>),
    Double(String),
    Bool(bool),
    Verbatim(String),
}

impl Reply {
    pub fn bulk(s: &str) -> Reply {
        Reply::Bulk(s.as_bytes().to_vec())
    }

    pub fn ok() -> Reply {
        Reply::Status("OK".into())
    }

    pub fn err(s: &str) -> Reply {
        Reply::Error(s.into())
    }

    /// Text of a status, bulk or verbatim reply.
    pub fn text(&self) -> String {
        match self {
            Reply::Status(s) | Reply::Verbatim(s) | Reply::Error(s) | Reply::Double(s) => s.clone(),
            Reply::Bulk(b) => String::from_utf8_lossy(b).into_owned(),
            other => panic!("not a text reply: {other:?}"),
        }
    }

    pub fn int(&self) -> i64 {
        match self {
            Reply::Int(n) => *n,
            other => panic!("not an integer: {other:?}"),
        }
    }

    pub fn items(&self) -> Vec<Reply> {
        match self {
            Reply::Array(items) | Reply::Set(items) => items.clone(),
            other => panic!("not an array: {other:?}"),
        }
    }

    pub fn strings(&self) -> Vec<String> {
        self.items().iter().map(Reply::text).collect()
    }
}

/// A raw RESP connection: sends exactly what it is told, reads replies exactly.
pub struct Raw {
    reader: BufReader<TcpStream>,
    pub stream: TcpStream,
}

impl Raw {
    pub fn connect(port: u16) -> Raw {
        let stream = connect_retrying(port);
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        Raw {
            reader: BufReader::new(stream.try_clone().expect("clone")),
            stream,
        }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("send");
    }

    pub fn encode(args: &[&[u8]]) -> Vec<u8> {
        let mut out = format!("*{}\r\n", args.len()).into_bytes();
        for arg in args {
            out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
            out.extend_from_slice(arg);
            out.extend_from_slice(b"\r\n");
        }
        out
    }

    /// Sends a command and reads its reply.
    pub fn cmd(&mut self, args: &[&str]) -> Reply {
        let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        self.cmd_bytes(&args)
    }

    /// Sends each command of `table` (one a line, see [`commands`]) and returns the
    /// replies in order.
    pub fn cmd_table(&mut self, table: &str) -> Vec<Reply> {
        commands(table).iter().map(|args| self.cmd(args)).collect()
    }

    pub fn cmd_bytes(&mut self, args: &[&[u8]]) -> Reply {
        self.send(&Raw::encode(args));
        self.read()
    }

    fn line(&mut self) -> String {
        let mut line = String::new();
        let n = self.reader.read_line(&mut line).expect("read reply line");
        assert!(n > 0, "connection closed while waiting for a reply");
        line.trim_end_matches("\r\n").to_string()
    }

    pub fn read(&mut self) -> Reply {
        let line = self.line();
        let (kind, rest) = line.split_at(1);
        let count = || rest.parse::<i64>().expect("length");
        match kind {
            "+" => Reply::Status(rest.into()),
            "-" => Reply::Error(rest.into()),
            ":" => Reply::Int(count()),
            "_" => Reply::Nil,
            "," => Reply::Double(rest.into()),
            "#" => Reply::Bool(rest == "t"),
            "$" | "=" => {
                let n = count();
                if n < 0 {
                    return Reply::Nil;
                }
                let mut data = vec![0u8; n as usize + 2];
                self.reader.read_exact(&mut data).expect("bulk");
                data.truncate(n as usize);
                if kind == "=" {
                    Reply::Verbatim(String::from_utf8_lossy(&data[4..]).into_owned())
                } else {
                    Reply::Bulk(data)
                }
            }
            "*" | "~" | ">" => {
                let n = count();
                if n < 0 {
                    return Reply::Nil;
                }
                let items = (0..n).map(|_| self.read()).collect();
                if kind == "~" {
                    Reply::Set(items)
                } else {
                    Reply::Array(items)
                }
            }
            "%" => Reply::Map((0..count()).map(|_| (self.read(), self.read())).collect()),
            _ => panic!("unexpected reply line {line:?}"),
        }
    }

    /// Sends a command and returns its reply exactly as sent (RESP bytes), to tell
    /// apart what decoding merges (`$-1` and `*-1`).
    pub fn cmd_wire(&mut self, args: &[&str]) -> String {
        let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        self.send(&Raw::encode(&args));
        self.read_wire()
    }

    /// Reads one reply as its RESP bytes.
    pub fn read_wire(&mut self) -> String {
        let mut out = String::new();
        self.wire_into(&mut out);
        out
    }

    fn wire_into(&mut self, out: &mut String) {
        let line = self.line();
        out.push_str(&line);
        out.push_str("\r\n");
        let (kind, rest) = line.split_at(1);
        let n: i64 = rest.parse().unwrap_or(0);
        match kind {
            "$" | "=" | "!" if n >= 0 => {
                let mut data = vec![0u8; n as usize + 2];
                self.reader.read_exact(&mut data).expect("bulk");
                out.push_str(&String::from_utf8_lossy(&data));
            }
            "*" | "~" | ">" => (0..n.max(0)).for_each(|_| self.wire_into(out)),
            "%" | "|" => (0..n.max(0) * 2).for_each(|_| self.wire_into(out)),
            _ => {}
        }
    }

    /// True when the server closed the connection: EOF (or a reset) within two
    /// seconds. A timeout means it is still open.
    pub fn is_closed(&mut self) -> bool {
        let mut buf = [0u8; 64];
        let _ = self.stream.set_read_timeout(Some(Duration::from_secs(2)));
        let closed = match self.reader.read(&mut buf) {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) => !matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ),
        };
        let _ = self.stream.set_read_timeout(Some(Duration::from_secs(10)));
        closed
    }
}

/// Polls `ok` every 50 ms until it holds, failing with `what` after `limit`.
pub fn wait_until(what: &str, limit: Duration, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !ok() {
        assert!(Instant::now() < deadline, "{what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A numeric field of an INFO section.
pub fn info_field(c: &mut Raw, section: &str, field: &str) -> i64 {
    let info = c.cmd(&["INFO", section]).text();
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("INFO {section} has no {field}: {info}"))
}

/// Waits until compaction has dropped (nearly) all member and score records.
pub fn wait_for_members_gc(c: &mut Raw) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let left = info_field(c, "rocksdb", "estimate_keys_members")
            + info_field(c, "rocksdb", "estimate_keys_scores");
        if left < 1000 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{left} member records still on disk after COMPACT"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A field of the newest job in `CLUSTERX MIGRATION STATUS` (RESP2: a flat array).
pub fn job_field(status: &Reply, name: &str) -> Option<Reply> {
    let job = status.items().last()?.clone();
    match job {
        Reply::Map(pairs) => pairs
            .into_iter()
            .find(|(k, _)| *k == Reply::bulk(name))
            .map(|(_, v)| v),
        Reply::Array(fields) => fields
            .chunks(2)
            .find(|pair| pair[0] == Reply::bulk(name))
            .map(|pair| pair[1].clone()),
        _ => None,
    }
}

/// A TCP relay in front of a node that holds back the source's commit: the first time
/// `CLUSTER IMPORT <slots> 1` passes towards the node, it is forwarded only after
/// `delay`. The source is fenced from before that call until its reply, so the fence
/// lasts at least `delay`, whatever the migration's speed. Everything else is relayed
/// as is, both ways.
pub struct CommitDelay {
    pub port: u16,
    /// Set when the commit was caught (the source is fenced from then on).
    pub caught: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
}

impl CommitDelay {
    pub fn start(target: u16, slots: &str, delay: Duration) -> CommitDelay {
        // The kernel picks the port: nothing can take it between choosing and binding.
        let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).expect("relay port");
        let port = listener.local_addr().expect("relay address").port();
        listener.set_nonblocking(true).expect("nonblocking");
        let needle = format!("import\r\n${}\r\n{slots}\r\n$1\r\n1\r\n", slots.len()).into_bytes();
        let caught = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        {
            let (caught, stop) = (caught.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let Ok((inbound, _)) = listener.accept() else {
                        std::thread::sleep(Duration::from_millis(5));
                        continue;
                    };
                    let _ = inbound.set_nonblocking(false);
                    let outbound = connect_retrying(target);
                    let (needle, caught) = (needle.clone(), caught.clone());
                    relay(inbound, outbound, needle, caught, delay);
                }
            });
        }
        CommitDelay { port, caught, stop }
    }
}

impl CommitDelay {
    /// Whether the commit was caught (the source is fenced from then on).
    pub fn caught(&self) -> bool {
        self.caught.load(Ordering::Relaxed)
    }
}

impl Drop for CommitDelay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Copies both ways between two sockets, delaying the chunk towards `outbound` that
/// completes `needle` (compared case-insensitively) the first time it is seen.
fn relay(
    inbound: std::net::TcpStream,
    outbound: std::net::TcpStream,
    needle: Vec<u8>,
    caught: Arc<AtomicBool>,
    delay: Duration,
) {
    use std::io::{Read, Write};
    let (mut in_read, mut in_write) = (inbound.try_clone().expect("clone"), inbound);
    let (mut out_read, mut out_write) = (outbound.try_clone().expect("clone"), outbound);
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 64 * 1024];
        let mut window: Vec<u8> = Vec::new();
        loop {
            let n = match in_read.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            window.extend(buf[..n].iter().map(u8::to_ascii_lowercase));
            if !caught.load(Ordering::Relaxed)
                && window.windows(needle.len()).any(|w| w == needle.as_slice())
            {
                caught.store(true, Ordering::Relaxed);
                std::thread::sleep(delay);
            }
            let keep = window.len().saturating_sub(needle.len());
            window.drain(..keep);
            if out_write.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        let _ = out_write.shutdown(std::net::Shutdown::Both);
    });
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match out_read.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            if in_write.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        let _ = in_write.shutdown(std::net::Shutdown::Both);
    });
}

/// `(nice, scheduling policy)` of each thread of process `pid` whose name starts with
/// `prefix`, from /proc (`stat` fields 19 and 41; policy 0 = SCHED_OTHER, 5 = SCHED_IDLE).
pub fn thread_priorities(pid: u32, prefix: &str) -> Vec<(i64, i64)> {
    let mut found = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .flatten()
    {
        let path = task.path();
        let name = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
        if !name.starts_with(prefix) {
            continue;
        }
        let Ok(stat) = std::fs::read_to_string(path.join("stat")) else {
            continue;
        };
        // Fields after the parenthesised name start at field 3.
        let rest: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
        found.push((rest[16].parse().unwrap(), rest[38].parse().unwrap()));
    }
    found
}

/// Whether processes started by this one may move a thread at `nice` out of Linux' idle
/// scheduling class: `CAP_SYS_NICE` (bit 23 of CapEff) or a soft RLIMIT_NICE of
/// 20 - `nice` or more (the kernel's `can_nice`).
pub fn can_leave_idle_class(nice: i64) -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let capable = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .is_some_and(|caps| caps & (1 << 23) != 0);
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    let rlimit = limits
        .lines()
        .find_map(|l| l.strip_prefix("Max nice priority"))
        .and_then(|v| v.split_whitespace().next()?.parse::<i64>().ok())
        .unwrap_or(0);
    capable || rlimit >= 20 - nice
}
