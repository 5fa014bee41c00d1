//! Replication (replication.md): a master streams every committed write batch of its
//! WAL to its replicas, unchanged and in order; a replica applies them with the same
//! sequence numbers, after a full sync (a checkpoint of the master, swapped in) when it
//! cannot resume. The role comes from the topology (cluster mode) or SLAVEOF/REPLICAOF
//! (standalone).
//!
//! - `history`: replication ids, the partial-sync rule, `replication.conf`;
//! - `master`: PSYNC, the stream to one replica, the full-sync file server;
//! - `replica`: the follower thread (handshake, full sync, apply, acks).

pub mod history;
pub mod master;
pub mod records;
pub mod replica;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Condvar};
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::watch;
use tracing::{info, warn};

use crate::command::{flags, CommandSpec};
use crate::error::CommandError;
use crate::server::Server;
pub use history::ReplState;

/// A replica connected to this node, as INFO and ROLE show it.
pub struct Peer {
    pub ip: String,
    /// The port it serves clients on (REPLCONF listening-port).
    pub port: u16,
    /// Everything up to this sequence is applied there and in its WAL.
    pub acked: AtomicU64,
    pub closed: AtomicBool,
}

/// Where the follower thread is: ROLE's `connect|connecting|sync|connected`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum LinkState {
    Connect = 0,
    Connecting = 1,
    Sync = 2,
    Connected = 3,
}

impl LinkState {
    pub fn as_str(self) -> &'static str {
        match self {
            LinkState::Connect => "connect",
            LinkState::Connecting => "connecting",
            LinkState::Sync => "sync",
            LinkState::Connected => "connected",
        }
    }
}

/// The replica side's live status.
#[derive(Default)]
pub struct Link {
    state: AtomicU8,
    /// The master accepted this node's history (or a full sync completed): reads may
    /// be served (replication.md, "Failover").
    pub serving: AtomicBool,
    /// Unix ms of the last byte from the master.
    pub last_io_ms: AtomicU64,
    pub full_syncs: AtomicU64,
}

impl Link {
    pub fn state(&self) -> LinkState {
        match self.state.load(Ordering::Acquire) {
            1 => LinkState::Connecting,
            2 => LinkState::Sync,
            3 => LinkState::Connected,
            _ => LinkState::Connect,
        }
    }

    pub(crate) fn set_state(&self, state: LinkState) {
        self.state.store(state as u8, Ordering::Release);
    }

    pub fn is_up(&self) -> bool {
        self.state() == LinkState::Connected
    }
}

/// A running follower thread: stopped by flag and by shutting its socket.
struct Follower {
    master: (String, u16),
    stop: Arc<AtomicBool>,
    socket: Arc<Mutex<Option<std::net::TcpStream>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Follower {
    fn stop(mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(socket) = self.socket.lock().take() {
            let _ = socket.shutdown(std::net::Shutdown::Both);
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The replication state of a node (held by [`Server`]).
pub struct Replication {
    dir: PathBuf,
    /// Whether the node is a replica now (read by every command).
    replica: AtomicBool,
    pub(crate) state: Mutex<ReplState>,
    follower: Mutex<Option<Follower>>,
    pub link: Arc<Link>,
    pub peers: Mutex<Vec<Arc<Peer>>>,
    /// Bumped on every ack from a replica (WAIT waits on it).
    pub acks: watch::Sender<u64>,
    /// Bumped after every WAL flush (streams wait on it).
    wal: Arc<(std::sync::Mutex<u64>, Condvar)>,
    pub sync_full: AtomicU64,
    pub sync_partial_ok: AtomicU64,
    pub sync_partial_err: AtomicU64,
    pub(crate) checkpoints: master::Checkpoints,
    /// `max-replication-mb`: the pace of full-sync file transfers.
    pub(crate) throttle: ferrokv_migration::Throttle,
}

impl Replication {
    /// Loads `<dir>/replication.conf` and finishes or undoes a full sync that a crash
    /// interrupted. Returns the state and the directory of the database to open.
    pub fn open(dir: &Path) -> Result<(Replication, PathBuf), String> {
        let state = ReplState::load(dir)?;
        let db_path = match &state.db_dir {
            Some(sub) => dir.join(sub),
            None => dir.to_path_buf(),
        };
        replica::clean_leftovers(dir, &state);
        state
            .save(dir)
            .map_err(|e| format!("cannot write {}/replication.conf: {e}", dir.display()))?;
        let replication = Replication {
            dir: dir.to_path_buf(),
            replica: AtomicBool::new(false),
            state: Mutex::new(state),
            follower: Mutex::new(None),
            link: Arc::new(Link::default()),
            peers: Mutex::new(Vec::new()),
            acks: watch::channel(0).0,
            wal: Arc::new((std::sync::Mutex::new(0), Condvar::new())),
            sync_full: AtomicU64::new(0),
            sync_partial_ok: AtomicU64::new(0),
            sync_partial_err: AtomicU64::new(0),
            checkpoints: master::Checkpoints::default(),
            throttle: ferrokv_migration::Throttle::default(),
        };
        Ok((replication, db_path))
    }

    /// What storage calls after each WAL flush: wakes the streams.
    pub fn wal_hook(&self) -> Box<dyn Fn() + Send + Sync> {
        let wal = self.wal.clone();
        Box::new(move || {
            let (generation, wake) = &*wal;
            *generation.lock().unwrap_or_else(|e| e.into_inner()) += 1;
            wake.notify_all();
        })
    }

    /// Waits up to `timeout` for a WAL flush after `seen` (a generation); returns the
    /// newest generation.
    pub(crate) fn wait_wal(&self, seen: u64, timeout: Duration) -> u64 {
        let (generation, wake) = &*self.wal;
        let guard = generation.lock().unwrap_or_else(|e| e.into_inner());
        if *guard != seen {
            return *guard;
        }
        let (guard, _) = wake
            .wait_timeout(guard, timeout)
            .unwrap_or_else(|e| e.into_inner());
        *guard
    }

    pub(crate) fn wal_generation(&self) -> u64 {
        *self.wal.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn data_dir(&self) -> &Path {
        &self.dir
    }

    /// The master this node follows, if it is a replica.
    pub fn master(&self) -> Option<(String, u16)> {
        self.follower.lock().as_ref().map(|f| f.master.clone())
    }

    pub fn is_replica(&self) -> bool {
        self.replica.load(Ordering::Acquire)
    }

    /// Whether reads may be served: a master, or a replica whose master accepted its
    /// history.
    pub fn serving_reads(&self) -> bool {
        !self.is_replica() || self.link.serving.load(Ordering::Acquire)
    }

    /// Writes `replication.conf` after a change of `state`.
    pub(crate) fn save(&self, state: &ReplState) -> std::io::Result<()> {
        state.save(&self.dir)
    }

    pub fn replid(&self) -> String {
        self.state.lock().replid.clone()
    }

    /// Replicas whose acknowledged sequence reached `seq`.
    pub fn acked_count(&self, seq: u64) -> usize {
        self.peers
            .lock()
            .iter()
            .filter(|p| !p.closed.load(Ordering::Acquire) && p.acked.load(Ordering::Acquire) >= seq)
            .count()
    }

    /// Blocks until every connected replica acknowledged `seq`, up to `timeout`; false
    /// on timeout. For the rare steps that must be replicated before they count (a
    /// migration's commit), never for client writes.
    pub fn wait_all_acked(&self, seq: u64, timeout: Duration) -> bool {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let peers = self.connected();
            if peers.iter().all(|p| p.acked.load(Ordering::Acquire) >= seq) {
                return true;
            }
            if std::time::Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Connected replicas.
    pub fn connected(&self) -> Vec<Arc<Peer>> {
        let mut peers = self.peers.lock();
        peers.retain(|p| !p.closed.load(Ordering::Acquire));
        peers.clone()
    }
}

/// Makes the node a replica of `master` (`None`: a master). Same master as now: nothing
/// changes. Becoming a master after being a replica starts a new history; becoming a
/// replica stops serving reads until the new master accepts this node's history.
pub fn set_master(server: &Arc<Server>, master: Option<(String, u16)>, persist_standalone: bool) {
    let repl = &server.replication;
    let mut follower = repl.follower.lock();
    if follower.as_ref().map(|f| &f.master) == master.as_ref() {
        return;
    }
    if let Some(old) = follower.take() {
        info!(
            "replication: stop following {}:{}",
            old.master.0, old.master.1
        );
        old.stop();
        if master.is_none() {
            let latest = server.db.storage().latest_sequence();
            let mut state = repl.state.lock();
            state.promote(latest);
            info!(
                "replication: promoted to master at sequence {latest}, history {}",
                state.replid
            );
            if let Err(e) = repl.save(&state) {
                warn!("cannot write replication.conf: {e}");
            }
            drop(state);
            repl.replica.store(false, Ordering::Release);
            records::settle_after_promotion(server);
        }
    }
    if persist_standalone {
        let mut state = repl.state.lock();
        if state.master != master {
            state.master = master.clone();
            if let Err(e) = repl.save(&state) {
                warn!("cannot write replication.conf: {e}");
            }
        }
    }
    repl.replica.store(master.is_some(), Ordering::Release);
    match master {
        None => {
            repl.link.serving.store(true, Ordering::Release);
            repl.link.set_state(LinkState::Connect);
        }
        Some(master) => {
            info!("replication: following {}:{}", master.0, master.1);
            // Nothing this node took as a master is served once it knows it is a
            // replica: its history must be checked first.
            repl.link.serving.store(false, Ordering::Release);
            repl.link.set_state(LinkState::Connect);
            // Its own replicas would follow a history that is about to change.
            for peer in repl.peers.lock().drain(..) {
                peer.closed.store(true, Ordering::Release);
            }
            crate::migration::source::abandon_jobs(server, "the node became a replica");
            *follower = Some(replica::start(server.clone(), master));
        }
    }
    drop(follower);
    server.waiters.wake_all();
}

/// Cluster mode: the role the topology gives this node (after SETNODES, SETNODEID,
/// CLUSTER RESET, and at start-up).
pub fn follow_topology(server: &Arc<Server>) {
    let Some(cluster) = server.cluster.as_ref() else {
        return;
    };
    let master = {
        let state = cluster.state.read();
        state.my_master().map(|n| (n.host.clone(), n.port))
    };
    set_master(server, master, false);
}

/// At start-up: the role from the topology (cluster mode), else from `slaveof` /
/// `replicaof` in the configuration, else the one SLAVEOF left in replication.conf.
pub fn start_role(server: &Arc<Server>) {
    if server.cluster.is_some() {
        follow_topology(server);
        return;
    }
    let configured = {
        let config = server.config.read();
        [config.slaveof.clone(), config.replicaof.clone()]
            .into_iter()
            .find(|v| !v.trim().is_empty())
    };
    let master = match configured {
        Some(text) => parse_master(&text),
        None => server.replication.state.lock().master.clone(),
    };
    set_master(server, master, false);
}

/// `<host> <port>` of the `slaveof`/`replicaof` option (`no one`: none).
fn parse_master(text: &str) -> Option<(String, u16)> {
    let mut words = text.split_whitespace();
    let (host, port) = (words.next()?, words.next()?);
    if host.eq_ignore_ascii_case("no") && port.eq_ignore_ascii_case("one") {
        return None;
    }
    match port.parse() {
        Ok(port) => Some((host.to_string(), port)),
        Err(_) => {
            warn!("replication: ignoring '{text}': the port is not a number");
            None
        }
    }
}

/// What a replica refuses before a command runs (after cluster routing, which sends
/// keyed writes to the master): writes (`READONLY`), anything but the commands that
/// work on stale data when the link is down and `slave-serve-stale-data no`
/// (`MASTERDOWN`), and reads before its master accepted its history (`LOADING`).
pub fn gate(server: &Server, spec: &CommandSpec) -> Result<(), CommandError> {
    let repl = &server.replication;
    if !repl.is_replica() {
        return Ok(());
    }
    if !spec.has(flags::STALE) && !repl.link.is_up() && !server.config.read().slave_serve_stale_data
    {
        return Err(CommandError::MasterDown);
    }
    if spec.has(flags::WRITE) {
        return Err(CommandError::ReadOnlyReplica);
    }
    if spec.has(flags::READONLY) && !repl.serving_reads() {
        return Err(CommandError::Resyncing);
    }
    Ok(())
}

/// INFO's `# Replication` section (replication.md, "INFO and ROLE"; Redis' and
/// Kvrocks' field names).
pub fn info(server: &Server, out: &mut String) -> std::fmt::Result {
    use std::fmt::Write;
    let repl = &server.replication;
    let seq = server.db.storage().latest_sequence();
    let peers = repl.connected();
    out.push_str("# Replication\r\n");
    match repl.master() {
        None => write!(out, "role:master\r\nconnected_slaves:{}\r\n", peers.len())?,
        Some((host, port)) => {
            let link = &repl.link;
            let last_io = link.last_io_ms.load(Ordering::Relaxed);
            let ago = if last_io == 0 {
                -1
            } else {
                (ferrokv_types::now_ms().saturating_sub(last_io) / 1000) as i64
            };
            write!(
                out,
                "role:slave\r\nmaster_host:{host}\r\nmaster_port:{port}\r\nmaster_link_status:{}\r\nmaster_sync_unrecoverable_error:no\r\nmaster_sync_in_progress:{}\r\nmaster_last_io_seconds_ago:{ago}\r\nslave_repl_offset:{seq}\r\nslave_priority:{}\r\nslave_read_only:1\r\nconnected_slaves:{}\r\n",
                if link.is_up() { "up" } else { "down" },
                u8::from(link.state() == LinkState::Sync),
                server.config.read().slave_priority,
                peers.len(),
            )?
        }
    }
    for (i, peer) in peers.iter().enumerate() {
        let acked = peer.acked.load(Ordering::Acquire);
        write!(
            out,
            "slave{i}:ip={},port={},state=online,offset={acked},lag={}\r\n",
            peer.ip,
            peer.port,
            seq.saturating_sub(acked)
        )?;
    }
    write!(
        out,
        "master_replid:{}\r\nmaster_repl_offset:{seq}\r\n",
        repl.replid()
    )
}

/// Stops the follower at shutdown.
pub fn stop(server: &Server) {
    if let Some(follower) = server.replication.follower.lock().take() {
        follower.stop();
    }
}
