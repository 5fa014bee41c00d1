//! Per-connection state, and the registry CLIENT LIST/KILL and INFO read.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use ferrokv_protocol::{Frame, ProtocolVersion};
use parking_lot::Mutex;
use tokio::sync::Notify;

/// What other connections may see of a client (CLIENT LIST) and do to it (CLIENT KILL).
pub struct ClientInfo {
    pub id: u64,
    pub addr: SocketAddr,
    pub local_addr: SocketAddr,
    pub created: Instant,
    pub name: Mutex<Option<String>>,
    pub last_command: Mutex<&'static str>,
    pub last_active_ms: AtomicU64,
    pub in_multi: AtomicBool,
    /// The rest mirrors the connection's own state for other connections to read
    /// (see [`Client::publish_state`]): CLIENT LIST shows real values, not placeholders.
    pub fd: AtomicI64,
    /// RESP version, 2 or 3.
    pub resp: AtomicU8,
    /// Commands queued in MULTI, -1 outside a transaction.
    pub multi_len: AtomicI64,
    /// Bytes of the arguments of the queued commands.
    pub multi_mem: AtomicU64,
    pub watched: AtomicU64,
    pub blocked: AtomicBool,
    pub monitor: AtomicBool,
    /// Subscriptions: channels, patterns, shard channels (CLIENT LIST `sub`, `psub`,
    /// `ssub`).
    pub subscriptions: [AtomicU64; 3],
    /// Input buffer: unparsed bytes, capacity, and the most it held.
    pub qbuf: AtomicU64,
    pub rbs: AtomicU64,
    pub rbp: AtomicU64,
    /// Capacity of the output buffer.
    pub obuf: AtomicU64,
    /// CLIENT SETINFO LIB-NAME / LIB-VER.
    pub lib_name: Mutex<Option<String>>,
    pub lib_ver: Mutex<Option<String>>,
    /// The worker thread serving the connection now (CLIENT LIST `io-thread`, the
    /// field Valkey 8 and Redis 8 show; a connection may move, see workers.rs).
    pub worker: AtomicU64,
    killed: AtomicBool,
    kill_signal: Notify,
}

impl ClientInfo {
    pub fn kill(&self) {
        self.killed.store(true, Ordering::Relaxed);
        self.kill_signal.notify_one();
    }

    pub fn is_killed(&self) -> bool {
        self.killed.load(Ordering::Relaxed)
    }

    pub async fn killed(&self) {
        self.kill_signal.notified().await
    }

    /// Records the input buffer after a read: unparsed bytes and capacity.
    pub fn note_buffers(&self, input_len: usize, input_capacity: usize, output_capacity: usize) {
        self.qbuf.store(input_len as u64, Ordering::Relaxed);
        self.rbs.store(input_capacity as u64, Ordering::Relaxed);
        self.rbp.fetch_max(input_len as u64, Ordering::Relaxed);
        self.obuf.store(output_capacity as u64, Ordering::Relaxed);
    }

    /// One line of CLIENT LIST, with Redis 7.2's fields (`watch` from 7.4). Ferrokv has
    /// one database and no replicas, so `db` and `redir` are constant; replies are written before the next read, so no output
    /// is ever pending between commands (`obl`, `oll`, `omem` are 0).
    pub fn describe(&self, now_ms: u64) -> String {
        let load = |v: &AtomicU64| v.load(Ordering::Relaxed);
        let age = self.created.elapsed().as_secs();
        let idle = now_ms.saturating_sub(self.last_active_ms.load(Ordering::Relaxed)) / 1000;
        let name = self.name.lock().clone().unwrap_or_default();
        let mut flags = String::new();
        if self.monitor.load(Ordering::Relaxed) {
            flags.push('O');
        }
        if self.blocked.load(Ordering::Relaxed) {
            flags.push('b');
        }
        if self.in_multi.load(Ordering::Relaxed) {
            flags.push('x');
        }
        let [sub, psub, ssub] = self.subscriptions.each_ref().map(load);
        if sub + psub + ssub > 0 {
            flags.push('P');
        }
        if flags.is_empty() {
            flags.push('N');
        }
        let (qbuf, rbs) = (load(&self.qbuf), load(&self.rbs));
        let multi_mem = load(&self.multi_mem);
        let tot_mem = rbs + load(&self.obuf) + multi_mem;
        format!(
            "id={} addr={} laddr={} fd={} name={} age={} idle={} flags={} db=0 sub={} psub={} ssub={} multi={} watch={} qbuf={} qbuf-free={} argv-mem=0 multi-mem={} rbs={} rbp={} obl=0 oll=0 omem=0 tot-mem={} events=r cmd={} user=default redir=-1 resp={} lib-name={} lib-ver={} io-thread={}",
            self.id,
            self.addr,
            self.local_addr,
            self.fd.load(Ordering::Relaxed),
            name,
            age,
            idle,
            flags,
            sub,
            psub,
            ssub,
            self.multi_len.load(Ordering::Relaxed),
            load(&self.watched),
            qbuf,
            rbs.saturating_sub(qbuf),
            multi_mem,
            rbs,
            load(&self.rbp),
            tot_mem,
            self.last_command.lock(),
            self.resp.load(Ordering::Relaxed),
            self.lib_name.lock().as_deref().unwrap_or_default(),
            self.lib_ver.lock().as_deref().unwrap_or_default(),
            load(&self.worker),
        )
    }

    /// CLIENT LIST/KILL's TYPE of this client: `pubsub` while it has subscriptions,
    /// `normal` otherwise (no replicas; Redis counts MONITOR clients as normal too).
    pub fn kind(&self) -> &'static str {
        if self
            .subscriptions
            .iter()
            .any(|n| n.load(Ordering::Relaxed) > 0)
        {
            "pubsub"
        } else {
            "normal"
        }
    }
}

#[derive(Default)]
pub struct ClientRegistry {
    next_id: AtomicU64,
    clients: Mutex<HashMap<u64, Arc<ClientInfo>>>,
}

impl ClientRegistry {
    pub fn register(&self, addr: SocketAddr, local_addr: SocketAddr) -> Arc<ClientInfo> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let info = Arc::new(ClientInfo {
            id,
            addr,
            local_addr,
            created: Instant::now(),
            name: Mutex::new(None),
            last_command: Mutex::new("NULL"),
            last_active_ms: AtomicU64::new(ferrokv_types::now_ms()),
            in_multi: AtomicBool::new(false),
            fd: AtomicI64::new(-1),
            resp: AtomicU8::new(2),
            multi_len: AtomicI64::new(-1),
            multi_mem: AtomicU64::new(0),
            watched: AtomicU64::new(0),
            blocked: AtomicBool::new(false),
            monitor: AtomicBool::new(false),
            subscriptions: Default::default(),
            qbuf: AtomicU64::new(0),
            rbs: AtomicU64::new(0),
            rbp: AtomicU64::new(0),
            obuf: AtomicU64::new(0),
            lib_name: Mutex::new(None),
            lib_ver: Mutex::new(None),
            worker: AtomicU64::new(0),
            killed: AtomicBool::new(false),
            kill_signal: Notify::new(),
        });
        self.clients.lock().insert(id, info.clone());
        info
    }

    pub fn unregister(&self, id: u64) {
        self.clients.lock().remove(&id);
    }

    pub fn count(&self) -> usize {
        self.clients.lock().len()
    }

    /// Snapshot of all clients, ordered by id.
    pub fn all(&self) -> Vec<Arc<ClientInfo>> {
        let mut all: Vec<_> = self.clients.lock().values().cloned().collect();
        all.sort_by_key(|c| c.id);
        all
    }

    pub fn kill_all(&self) {
        for client in self.clients.lock().values() {
            client.kill();
        }
    }
}

/// A command waiting in a MULTI block (it passed lookup, arity and routing when it
/// was queued; EXEC routes it again).
pub struct Queued {
    pub args: Vec<Bytes>,
}

#[derive(Default)]
pub struct MultiState {
    pub queued: Vec<Queued>,
    /// An error while queueing: EXEC must fail with EXECABORT.
    pub aborted: bool,
}

/// Something the connection loop must do after a command's reply.
pub enum Action {
    /// The command cannot be served yet: wait on keys, then run it again.
    Block(crate::blocking::BlockSpec),
    /// Close the connection after sending the reply (QUIT, CLIENT KILL of itself).
    Close,
    /// Close without a reply and stop the server (SHUTDOWN).
    Shutdown,
    /// WAIT: reply how many replicas acknowledged `target`, once `replicas` did or at
    /// `deadline`.
    WaitReplicas {
        target: u64,
        replicas: usize,
        deadline: Option<std::time::Instant>,
    },
    /// PSYNC/REPLFULL: the connection leaves the worker for a replication thread,
    /// which writes the reply itself.
    Replicate(crate::replication::state::Handoff),
    /// Work too long for a worker thread (building and ingesting SST files): it runs
    /// on a blocking thread and its outcome is the reply. The connection waits for it
    /// (its later commands run after, in order); the worker's other connections do not.
    Offload(Offload),
}

/// Work for [`Action::Offload`]. In a mutex only so that a `Client` holding it stays
/// `Sync` (the connection borrows its client across awaits); it is run once, by value.
pub struct Offload(Mutex<Box<dyn FnOnce() -> Offloaded + Send>>);

impl Offload {
    pub fn new(work: impl FnOnce() -> Offloaded + Send + 'static) -> Offload {
        Offload(Mutex::new(Box::new(work)))
    }

    pub fn run(self) -> Offloaded {
        (self.0.into_inner())()
    }
}

/// What offloaded work hands back to its connection.
pub struct Offloaded {
    pub reply: Result<Frame, crate::error::CommandError>,
    /// The importing link's SST import, to keep for its next records.
    pub sst_import: Option<ferrokv_storage::SstImport>,
}

impl std::fmt::Debug for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Action::Block(_) => f.write_str("Block"),
            Action::Close => f.write_str("Close"),
            Action::Shutdown => f.write_str("Shutdown"),
            Action::WaitReplicas { target, .. } => write!(f, "WaitReplicas({target})"),
            Action::Replicate(h) => write!(f, "Replicate({h:?})"),
            Action::Offload(_) => f.write_str("Offload"),
        }
    }
}

/// State of one connection.
pub struct Client {
    pub info: Arc<ClientInfo>,
    pub protocol: ProtocolVersion,
    pub authenticated: bool,
    pub multi: Option<MultiState>,
    /// Set when a watched key is touched.
    pub watch_dirty: Arc<AtomicBool>,
    pub watched: Vec<Vec<u8>>,
    /// The earliest expiry (Unix ms) among the watched keys that were alive when
    /// watched: once it passes, one of them expired since, and EXEC fails as in Redis
    /// (`isWatchedKeyExpired`) whether or not the active expiry already removed it.
    pub watch_expiry: Option<u64>,
    /// Cluster: ASKING was sent; cleared by the next command that passes routing.
    pub asking: bool,
    /// Cluster: READONLY was sent.
    pub readonly: bool,
    /// REPLCONF listening-port: the port a replica on this connection serves on.
    pub replica_port: u16,
    /// REPLCONF ip-address: the address it announces.
    pub replica_ip: Option<String>,
    /// Cluster: this connection is a source node's importing link for these slots.
    pub importing: Option<ferrokv_cluster::SlotSet>,
    /// Cluster: the SST files this importing link's snapshot records are being built
    /// into (`APPLYSST`); ingested before any tail batch or the commit.
    pub sst_import: Option<ferrokv_storage::SstImport>,
    /// Cluster: the link's snapshot is all in (its end was announced, or a tail batch
    /// came): later `APPLYSST` records are written as batches, never ingested after a
    /// tail write.
    pub sst_done: bool,
    pub action: Option<Action>,
    /// MONITOR: the feed of executed commands this connection relays.
    pub monitor: Option<tokio::sync::broadcast::Receiver<Bytes>>,
    /// Pub/Sub: this connection's subscriptions and the queue of its messages.
    pub pubsub: crate::pubsub::Subscriptions,
}

impl Client {
    pub fn new(info: Arc<ClientInfo>, authenticated: bool) -> Self {
        Client {
            info,
            protocol: ProtocolVersion::Resp2,
            authenticated,
            multi: None,
            watch_dirty: Arc::new(AtomicBool::new(false)),
            watched: Vec::new(),
            watch_expiry: None,
            asking: false,
            readonly: false,
            replica_port: 0,
            replica_ip: None,
            importing: None,
            sst_import: None,
            sst_done: false,
            action: None,
            monitor: None,
            pubsub: Default::default(),
        }
    }

    pub fn id(&self) -> u64 {
        self.info.id
    }

    /// Copies the state CLIENT LIST shows into the shared [`ClientInfo`]; the connection
    /// calls it after every command (a few relaxed stores).
    pub fn publish_state(&self) {
        let info = &self.info;
        let resp = if self.protocol == ProtocolVersion::Resp3 {
            3
        } else {
            2
        };
        info.resp.store(resp, Ordering::Relaxed);
        let size = |q: &Queued| q.args.iter().map(|a| a.len() as u64).sum::<u64>();
        let before = info.multi_len.load(Ordering::Relaxed);
        let (len, mem) = match self.multi.as_ref() {
            None => (-1, 0),
            // One command queued since the last call: add it, rather than summing the
            // whole queue after every command of a long transaction.
            Some(m) if m.queued.len() as i64 == before + 1 && before >= 0 => (
                before + 1,
                info.multi_mem.load(Ordering::Relaxed) + m.queued.last().map_or(0, size),
            ),
            Some(m) => (m.queued.len() as i64, m.queued.iter().map(size).sum()),
        };
        info.multi_len.store(len, Ordering::Relaxed);
        info.multi_mem.store(mem, Ordering::Relaxed);
        info.watched
            .store(self.watched.len() as u64, Ordering::Relaxed);
        info.monitor
            .store(self.monitor.is_some(), Ordering::Relaxed);
        let (sub, psub, ssub) = self.pubsub.counts();
        for (slot, n) in info.subscriptions.iter().zip([sub, psub, ssub]) {
            slot.store(n as u64, Ordering::Relaxed);
        }
        info.blocked.store(
            matches!(self.action, Some(Action::Block(_))),
            Ordering::Relaxed,
        );
    }
}
