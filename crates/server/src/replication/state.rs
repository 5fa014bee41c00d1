//! The replication state a node holds (role, history, link, connected replicas), kept
//! apart from what acts on it so that the node's state can hold it without reaching
//! back into the server (see `tests/layering.rs`).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio::sync::watch;

use super::history::{clean_leftovers, ReplState};

/// WAL flushes so far, and how many replication streams wait for the next one.
#[derive(Default)]
struct WalFlushes {
    generation: u64,
    waiters: usize,
}

/// A replica connected to this node, as INFO and ROLE show it.
pub struct Peer {
    pub ip: String,
    /// The port it serves clients on (REPLCONF listening-port).
    pub port: u16,
    /// Everything up to this sequence is applied there and in its WAL.
    pub acked: AtomicU64,
    pub closed: AtomicBool,
    /// The stream's socket, shut by CLIENT KILL TYPE replica.
    pub(crate) socket: Mutex<Option<std::net::TcpStream>>,
}

impl Peer {
    /// Ends the stream (CLIENT KILL, a role change): the replica reconnects.
    pub fn kill(&self) {
        self.closed.store(true, Ordering::Release);
        if let Some(socket) = self.socket.lock().take() {
            let _ = socket.shutdown(std::net::Shutdown::Both);
        }
    }
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
    /// The newest full sync: bytes of the master's checkpoint, and how many of them
    /// were transferred (less when an interrupted transfer resumed).
    pub sync_total_bytes: AtomicU64,
    pub sync_read_bytes: AtomicU64,
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
pub(crate) struct Follower {
    pub(crate) master: (String, u16),
    pub(crate) stop: Arc<AtomicBool>,
    pub(crate) socket: Arc<Mutex<Option<std::net::TcpStream>>>,
    pub(crate) thread: Option<std::thread::JoinHandle<()>>,
}

impl Follower {
    pub(crate) fn stop(mut self) {
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
    pub(crate) replica: AtomicBool,
    pub(crate) state: Mutex<ReplState>,
    pub(crate) follower: Mutex<Option<Follower>>,
    /// Held for a whole role change (`set_master`).
    pub(crate) role_change: Mutex<()>,
    pub link: Arc<Link>,
    pub peers: Mutex<Vec<Arc<Peer>>>,
    /// Bumped on every ack from a replica (WAIT waits on it).
    pub acks: watch::Sender<u64>,
    /// Bumped after every WAL flush (streams wait on it).
    wal: Arc<(std::sync::Mutex<WalFlushes>, Condvar)>,
    pub sync_full: AtomicU64,
    pub sync_partial_ok: AtomicU64,
    pub sync_partial_err: AtomicU64,
    pub(crate) checkpoints: Checkpoints,
    /// `max-replication-mb`: the pace of full-sync file transfers.
    pub(crate) throttle: ferrokv_migration::Throttle,
    /// Held while SST files are ingested (they bypass the WAL), while a partial sync
    /// is decided and while a full-sync checkpoint is made: no stream can start
    /// across an ingestion unnoticed.
    pub(crate) ingest_gate: Mutex<()>,
    /// Streams accepted by PSYNC whose replica is not in `peers` yet.
    pub(crate) streams_starting: AtomicUsize,
}

/// The node record holding the first sequence number written after the newest SST
/// ingestion: a replica whose data stops before it lacks the ingested records, so its
/// partial syncs are refused (it full-syncs).
pub const INGEST_MARK_KEY: &[u8] = b"ferrokv:ingested-before";

impl Replication {
    /// Loads `<dir>/replication.conf` and finishes or undoes a full sync that a crash
    /// interrupted. Returns the state and the directory of the database to open.
    pub fn open(dir: &Path) -> Result<(Replication, PathBuf), String> {
        let state = ReplState::load(dir)?;
        let db_path = match &state.db_dir {
            Some(sub) => dir.join(sub),
            None => dir.to_path_buf(),
        };
        clean_leftovers(dir, &state);
        // A first start keeps the history id it just made; later starts read it back.
        if !dir.join(super::history::FILE).exists() {
            state
                .save(dir)
                .map_err(|e| format!("cannot write {}/replication.conf: {e}", dir.display()))?;
        }
        let replication = Replication {
            dir: dir.to_path_buf(),
            replica: AtomicBool::new(false),
            state: Mutex::new(state),
            follower: Mutex::new(None),
            role_change: Mutex::new(()),
            link: Arc::new(Link::default()),
            peers: Mutex::new(Vec::new()),
            acks: watch::channel(0).0,
            wal: Arc::new((std::sync::Mutex::new(WalFlushes::default()), Condvar::new())),
            sync_full: AtomicU64::new(0),
            sync_partial_ok: AtomicU64::new(0),
            sync_partial_err: AtomicU64::new(0),
            checkpoints: Checkpoints::default(),
            throttle: ferrokv_migration::Throttle::default(),
            ingest_gate: Mutex::new(()),
            streams_starting: AtomicUsize::new(0),
        };
        Ok((replication, db_path))
    }

    /// What storage calls after each WAL flush: wakes the streams.
    pub fn wal_hook(&self) -> Box<dyn Fn() + Send + Sync> {
        let wal = self.wal.clone();
        Box::new(move || {
            let (flushes, wake) = &*wal;
            let mut flushes = flushes.lock().unwrap_or_else(|e| e.into_inner());
            flushes.generation += 1;
            // Waking costs a system call even with nobody waiting: once per group
            // commit of a node without replicas, that showed in profiles.
            if flushes.waiters > 0 {
                wake.notify_all();
            }
        })
    }

    /// Waits up to `timeout` for a WAL flush after `seen` (a generation); returns the
    /// newest generation.
    pub(crate) fn wait_wal(&self, seen: u64, timeout: Duration) -> u64 {
        let (flushes, wake) = &*self.wal;
        let mut guard = flushes.lock().unwrap_or_else(|e| e.into_inner());
        if guard.generation != seen {
            return guard.generation;
        }
        guard.waiters += 1;
        let (mut guard, _) = wake
            .wait_timeout(guard, timeout)
            .unwrap_or_else(|e| e.into_inner());
        guard.waiters -= 1;
        guard.generation
    }

    pub(crate) fn wal_generation(&self) -> u64 {
        self.wal
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .generation
    }

    pub fn data_dir(&self) -> &Path {
        &self.dir
    }

    /// The master this node follows, if it is a replica.
    pub fn master(&self) -> Option<(String, u16)> {
        self.follower.lock().as_ref().map(|f| f.master.clone())
    }

    /// Breaks this replica's link to its master (CLIENT KILL TYPE master, or the
    /// master's `host:port` as `addr`): the follower reconnects and continues. False
    /// when there is no link (or `addr` is not the master's).
    pub fn drop_master_link(&self, addr: Option<&str>) -> bool {
        let follower = self.follower.lock();
        let Some(follower) = follower.as_ref() else {
            return false;
        };
        let (host, port) = &follower.master;
        let mut socket_slot = follower.socket.lock();
        // The address as configured, or the one the link is connected to (Redis
        // compares the master client's ip:port).
        let peer = socket_slot.as_ref().and_then(|s| s.peer_addr().ok());
        if addr.is_some_and(|a| {
            a != format!("{host}:{port}") && peer.is_none_or(|p| p.to_string() != a)
        }) {
            return false;
        }
        let socket = socket_slot.take();
        match socket {
            Some(socket) => {
                let _ = socket.shutdown(std::net::Shutdown::Both);
                true
            }
            None => false,
        }
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

    /// Whether no replica follows this node now (nor is about to): data may then be
    /// ingested as files, which the WAL stream does not carry.
    pub fn may_ingest(&self) -> bool {
        !self.is_replica()
            && self.streams_starting.load(Ordering::Acquire) == 0
            && self.connected().is_empty()
    }

    /// Runs `ingest` (which returns whether it ingested files) unless a replica follows
    /// this node: `None` then, and nothing ran. After an ingestion the next sequence
    /// number is recorded ([`INGEST_MARK_KEY`], written through the WAL so that a
    /// checkpoint made afterwards reaches it) and the kept full-sync checkpoint is
    /// dropped: replicas that were away then full-sync instead of missing the files.
    pub fn ingest_unreplicated(
        &self,
        storage: &ferrokv_storage::Storage,
        ingest: impl FnOnce() -> Result<bool, ferrokv_storage::StorageError>,
    ) -> Option<Result<(), ferrokv_storage::StorageError>> {
        let _gate = self.ingest_gate.lock();
        if !self.may_ingest() {
            return None;
        }
        let result = ingest();
        // On failure some files may be in already: marked all the same.
        if !matches!(result, Ok(false)) {
            let mark = storage.latest_sequence() + 1;
            if let Err(e) = storage.put_node_record(INGEST_MARK_KEY, mark.to_string().as_bytes()) {
                return Some(Err(e));
            }
            self.checkpoints.clear();
        }
        Some(result.map(|_| ()))
    }

    /// The first sequence number after the newest SST ingestion (0: none).
    pub fn ingest_mark(&self, storage: &ferrokv_storage::Storage) -> u64 {
        storage
            .node_record(INGEST_MARK_KEY)
            .ok()
            .flatten()
            .and_then(|v| std::str::from_utf8(&v).ok()?.parse().ok())
            .unwrap_or(0)
    }

    /// Connected replicas.
    pub fn connected(&self) -> Vec<Arc<Peer>> {
        let mut peers = self.peers.lock();
        peers.retain(|p| !p.closed.load(Ordering::Acquire));
        peers.clone()
    }
}

/// What PSYNC/REPLFULL hand to a thread once the connection leaves the worker.
#[derive(Debug, Clone, PartialEq)]
pub enum Handoff {
    /// Stream the batches from this sequence on, after `+CONTINUE <replid>`.
    Stream {
        from: u64,
        replid: String,
        listening_port: u16,
        /// REPLCONF ip-address (the replica's `replica-announce-ip`), if it sent one.
        announced_ip: Option<String>,
    },
    /// Serve a checkpoint's files.
    FullSync { resume: Option<String> },
}

/// The newest checkpoint made for full syncs (`master::checkpoint_for`).
#[derive(Default)]
pub struct Checkpoints(pub(crate) Mutex<Option<Checkpoint>>);

impl Checkpoints {
    /// Forgets the checkpoint (a role change or a swap: its data is of another
    /// history now); its files go with the next one made.
    pub fn clear(&self) {
        self.0.lock().take();
    }
}

#[derive(Clone)]
pub(crate) struct Checkpoint {
    pub(crate) id: String,
    pub(crate) dir: PathBuf,
    pub(crate) replid: String,
    pub(crate) files: Vec<(String, u64)>,
    pub(crate) made: Instant,
}
