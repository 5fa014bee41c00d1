//! Blocking commands (BLPOP, BZPOPMIN, XREAD BLOCK, ...): a client whose command cannot
//! be served yet parks on its keys; every successful write wakes the clients parked on
//! the keys it touched (see `dispatch::run`), and they run their command again.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use ferrokv_protocol::Frame;
use parking_lot::Mutex;
use tokio::sync::Notify;

use crate::error::CommandError;

/// What a command that must wait asks the connection to do.
#[derive(Debug, Clone, PartialEq)]
pub struct BlockSpec {
    pub keys: Vec<Bytes>,
    /// `None` = wait forever.
    pub deadline: Option<Instant>,
    /// The reply when the deadline passes.
    pub timeout_reply: Frame,
    /// Arguments to run on wake-up instead of the original ones (XREAD resolves `$`
    /// once, when it first blocks).
    pub retry_args: Option<Vec<Bytes>>,
}

#[derive(Default)]
pub struct KeyWaiters {
    parked: AtomicUsize,
    keys: Mutex<HashMap<Vec<u8>, Vec<Arc<Notify>>>>,
}

impl KeyWaiters {
    pub fn park(&self, keys: &[Bytes], waker: &Arc<Notify>) {
        let mut map = self.keys.lock();
        for key in keys {
            map.entry(key.to_vec()).or_default().push(waker.clone());
            self.parked.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn unpark(&self, keys: &[Bytes], waker: &Arc<Notify>) {
        let mut map = self.keys.lock();
        for key in keys {
            if let Some(list) = map.get_mut(key.as_ref()) {
                let before = list.len();
                list.retain(|w| !Arc::ptr_eq(w, waker));
                self.parked
                    .fetch_sub(before - list.len(), Ordering::Relaxed);
                if list.is_empty() {
                    map.remove(key.as_ref());
                }
            }
        }
    }

    /// A write touched `key`: wake everyone parked on it.
    pub fn signal(&self, key: &[u8]) {
        if self.parked.load(Ordering::Relaxed) == 0 {
            return;
        }
        if let Some(list) = self.keys.lock().get(key) {
            for waker in list {
                waker.notify_one();
            }
        }
    }

    pub fn blocked_clients(&self) -> usize {
        self.parked.load(Ordering::Relaxed)
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
