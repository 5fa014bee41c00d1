//! Blocking commands (BLPOP, BZPOPMIN, XREAD BLOCK, ...): a client whose command cannot
//! be served yet parks on its keys; every successful write wakes the clients parked on
//! the keys it touched (see `dispatch::run`), and they run their command again.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use ferrokv_protocol::Frame;
use tokio::sync::Notify;

use crate::error::CommandError;
use crate::registry::KeyRegistry;

/// What wakes a waiting command so it runs again.
#[derive(Debug, Clone, PartialEq)]
pub enum Wake {
    /// A write to one of these keys (blocking pops, XREAD, a job's end).
    Keys(Vec<Bytes>),
    /// The cut-over fence lifting (a write held at a migration's cut-over).
    FenceLift,
}

/// What a command that must wait asks the connection to do.
#[derive(Debug, Clone, PartialEq)]
pub struct BlockSpec {
    pub wake: Wake,
    /// `None` = wait forever.
    pub deadline: Option<Instant>,
    /// The reply when the deadline passes.
    pub timeout_reply: Frame,
    /// Arguments to run on wake-up instead of the original ones (XREAD resolves `$`
    /// once, when it first blocks).
    pub retry_args: Option<Vec<Bytes>>,
    /// What else the deadline does to the connection's transaction.
    pub on_timeout: OnTimeout,
}

/// What a deadline does beyond replying.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnTimeout {
    /// Nothing.
    Reply,
    /// A command being queued in MULTI was refused: EXEC must fail with EXECABORT.
    AbortTransaction,
    /// EXEC itself was refused: the transaction is over.
    DiscardTransaction,
}

impl BlockSpec {
    /// A write held at a migration's cut-over: it runs again when the fence lifts, and
    /// past `fence_max` it gets Kvrocks' TRYAGAIN (migration.md, "Cut-over").
    pub fn at_fence(args: Vec<Bytes>, fence_max: Duration, on_timeout: OnTimeout) -> BlockSpec {
        BlockSpec {
            wake: Wake::FenceLift,
            deadline: Some(Instant::now() + fence_max),
            timeout_reply: CommandError::from(ferrokv_cluster::ClusterError::Fenced).into(),
            retry_args: Some(args),
            on_timeout,
        }
    }
}

/// The clients parked on keys, and how many there are.
#[derive(Default)]
pub struct KeyWaiters {
    registry: KeyRegistry<Arc<Notify>>,
    /// Parked clients (not (client, key) pairs: `BLPOP k1 k2 0` is one blocked client,
    /// as INFO's `blocked_clients` counts in Redis).
    clients: AtomicUsize,
}

impl KeyWaiters {
    /// Parks `client` on all of `keys`; every `park` is paired with one `unpark`.
    pub fn park(&self, client: u64, keys: &[Bytes], waker: &Arc<Notify>) {
        for key in keys {
            self.registry.add(client, key, waker.clone());
        }
        self.clients.fetch_add(1, Ordering::Relaxed);
    }

    pub fn unpark(&self, client: u64, keys: &[Bytes]) {
        self.registry.remove(client, keys);
        self.clients.fetch_sub(1, Ordering::Relaxed);
    }

    /// A write touched `key`: wake everyone parked on it.
    pub fn signal(&self, key: &[u8]) {
        self.registry.each_on(key, |waker| waker.notify_one());
    }

    /// Wakes every parked client: slot ownership changed, and a client waiting on a
    /// key that moved must be told where it went (it runs again and gets MOVED).
    pub fn wake_all(&self) {
        self.registry.each(|waker| waker.notify_one());
    }

    /// Clients waiting for a write to a key (INFO `blocked_clients`).
    pub fn blocked_clients(&self) -> usize {
        self.clients.load(Ordering::Relaxed)
    }
}

/// Parses a blocking timeout in seconds (float; 0 = forever), as BLPOP & co. take it.
pub fn timeout_seconds(arg: &[u8]) -> Result<Option<Duration>, CommandError> {
    let seconds = ferrokv_types::numbers::parse_f64(arg)
        .filter(|s| s.is_finite())
        .ok_or_else(|| CommandError::err("timeout is not a float or out of range"))?;
    if seconds < 0.0 {
        return Err(CommandError::err("timeout is negative"));
    }
    Ok((seconds > 0.0).then(|| Duration::from_secs_f64(seconds)))
}

/// Parses a blocking timeout in milliseconds (XREAD BLOCK; 0 = forever).
pub fn timeout_millis(arg: &[u8]) -> Result<Option<Duration>, CommandError> {
    let ms = ferrokv_types::numbers::parse_i64(arg)
        .ok_or_else(|| CommandError::err("timeout is not an integer or out of range"))?;
    if ms < 0 {
        return Err(CommandError::err("timeout is negative"));
    }
    Ok((ms > 0).then(|| Duration::from_millis(ms as u64)))
}
