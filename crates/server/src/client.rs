//! Per-connection state, and the registry CLIENT LIST/KILL and INFO read.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use ferrokv_protocol::ProtocolVersion;
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

    /// One line of CLIENT LIST.
    pub fn describe(&self, now_ms: u64) -> String {
        let age = self.created.elapsed().as_secs();
        let idle = now_ms.saturating_sub(self.last_active_ms.load(Ordering::Relaxed)) / 1000;
        let name = self.name.lock().clone().unwrap_or_default();
        let flags = if self.in_multi.load(Ordering::Relaxed) {
            "x"
        } else {
            "N"
        };
        format!(
            "id={} addr={} laddr={} fd=-1 name={} age={} idle={} flags={} db=0 sub=0 psub=0 ssub=0 multi=-1 watch=0 qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 rbs=0 rbp=0 obl=0 oll=0 omem=0 tot-mem=0 events=r cmd={} user=default redir=-1 resp=2 lib-name= lib-ver=",
            self.id,
            self.addr,
            self.local_addr,
            name,
            age,
            idle,
            flags,
            self.last_command.lock()
        )
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
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// The command cannot be served yet: wait on keys, then run it again.
    Block(crate::blocking::BlockSpec),
    /// Close the connection after sending the reply (QUIT, CLIENT KILL of itself).
    Close,
    /// Close without a reply and stop the server (SHUTDOWN).
    Shutdown,
    /// Wait before replying (DEBUG SLEEP), without holding up other clients.
    Sleep(Duration),
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
    /// Cluster: ASKING was sent; cleared by the next command that passes routing.
    pub asking: bool,
    /// Cluster: READONLY was sent.
    pub readonly: bool,
    /// Cluster: this connection is a source node's importing link for these slots.
    pub importing: Option<ferrokv_cluster::SlotSet>,
    pub action: Option<Action>,
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
            asking: false,
            readonly: false,
            importing: None,
            action: None,
        }
    }

    pub fn id(&self) -> u64 {
        self.info.id
    }
}
