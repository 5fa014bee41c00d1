//! Cluster fixtures shared by the cluster-mode tests: nodes, the usual two-master
//! topology, keys of a chosen slot, bulk data, and a writer following a cut-over.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;

use super::{Raw, Reply, TestServer};

/// A server started in cluster mode, with no topology yet.
pub fn cluster_node() -> TestServer {
    TestServer::start(&["--cluster-enabled", "yes"])
}

/// `CLUSTERX SETNODES <topology> <version>` on each of `nodes`; each must reply OK.
pub fn set_nodes(nodes: &[&TestServer], topology: &str, version: i64) {
    let version = version.to_string();
    for node in nodes {
        assert_eq!(
            node.raw()
                .cmd(&["CLUSTERX", "SETNODES", topology, &version]),
            Reply::ok(),
            "SETNODES on the node at {}",
            node.port
        );
    }
}

/// The topology text of two masters on loopback: `first` (id, port) owns 0-8191,
/// `second` 8192-16383.
pub fn halves(first: (&str, u16), second: (&str, u16)) -> String {
    format!(
        "{} 127.0.0.1 {} master - 0-8191\n{} 127.0.0.1 {} master - 8192-16383",
        first.0, first.1, second.0, second.1
    )
}

/// Two cluster nodes under [`halves`] at version 1: the first, named `first_id`, owns
/// 0-8191, the second, named `second_id`, 8192-16383.
pub fn two_masters(first_id: &str, second_id: &str) -> (TestServer, TestServer) {
    let (first, second) = (cluster_node(), cluster_node());
    let topology = halves((first_id, first.port), (second_id, second.port));
    set_nodes(&[&first, &second], &topology, 1);
    (first, second)
}

/// A cluster node named `me` owning 0-8191 (version 1); 8192-16383 belong to `other` on
/// port 1, a node that is not running (only MOVED replies name it).
pub fn half_of_two(me: &str, other: &str) -> TestServer {
    let server = cluster_node();
    set_nodes(&[&server], &halves((me, server.port), (other, 1)), 1);
    server
}

/// A key `<prefix><n>` of `slot`, found by asking the server (`CLUSTER KEYSLOT`); the
/// first such `n` below 200,000.
pub fn key_in_slot(c: &mut Raw, slot: i64, prefix: &str) -> String {
    (0..200_000)
        .map(|i| format!("{prefix}{i}"))
        .find(|k| c.cmd(&["CLUSTER", "KEYSLOT", k]).int() == slot)
        .expect("a key for the slot")
}

/// One key of `slot` for each of `prefixes`, as [`key_in_slot`] finds them.
pub fn keys_in_slot<const N: usize>(c: &mut Raw, slot: i64, prefixes: [&str; N]) -> [String; N] {
    prefixes.map(|prefix| key_in_slot(c, slot, prefix))
}

/// Fills the slot of hash tag `tag` with `count` keys `{tag}:<n>` of `size` bytes each,
/// written in pipelines of 1,000.
pub fn fill_slot(server: &TestServer, tag: &str, count: usize, size: usize) {
    let mut con = server.client();
    let value = "x".repeat(size);
    for chunk in 0..count.div_ceil(1000) {
        let mut pipe = redis::pipe();
        for i in chunk * 1000..((chunk + 1) * 1000).min(count) {
            pipe.cmd("SET")
                .arg(format!("{{{tag}}}:{i}"))
                .arg(&value)
                .ignore();
        }
        pipe.query::<()>(&mut con).expect("fill the slot");
    }
}

/// The integer `key` holds on `node` (a counter the writers INCRement).
pub fn counter_value(node: &TestServer, key: &str) -> i64 {
    let value = node.raw().cmd(&["GET", key]).text();
    value
        .parse()
        .unwrap_or_else(|_| panic!("{key} holds {value:?}, not an integer"))
}

/// A client thread that keeps sending one command, to the node on port `first` and,
/// from the first MOVED reply on, to the node on port `second`: the writer of the
/// tests where no acknowledged write may be lost across a cut-over. It counts the
/// integer replies (the acknowledged writes), sends again after TRYAGAIN, and fails on
/// any other reply.
pub struct RedirectedWriter {
    acknowledged: Arc<AtomicI64>,
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<()>,
}

impl RedirectedWriter {
    pub fn start(first: u16, second: u16, command: Vec<String>) -> RedirectedWriter {
        let acknowledged = Arc::new(AtomicI64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (acknowledged, stop) = (acknowledged.clone(), stop.clone());
            std::thread::spawn(move || {
                let args: Vec<&str> = command.iter().map(String::as_str).collect();
                let mut on_first = Raw::connect(first);
                let mut on_second = Raw::connect(second);
                let mut moved = false;
                while !stop.load(Ordering::Relaxed) {
                    let conn = if moved { &mut on_second } else { &mut on_first };
                    match conn.cmd(&args) {
                        Reply::Int(_) => {
                            acknowledged.fetch_add(1, Ordering::Relaxed);
                        }
                        Reply::Error(e) if e.starts_with("MOVED") => moved = true,
                        Reply::Error(e) if e.starts_with("TRYAGAIN") => {}
                        other => panic!("unexpected reply {other:?}"),
                    }
                }
            })
        };
        RedirectedWriter {
            acknowledged,
            stop,
            thread,
        }
    }

    /// Stops the thread and returns how many writes were acknowledged; a failure in
    /// the thread fails the caller.
    pub fn stop(self) -> i64 {
        self.stop.store(true, Ordering::Relaxed);
        if let Err(panic) = self.thread.join() {
            std::panic::resume_unwind(panic);
        }
        self.acknowledged.load(Ordering::Relaxed)
    }
}
