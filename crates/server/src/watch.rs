//! WATCH bookkeeping: which connections watch which keys, and marking them dirty when a
//! write touches a key. Every write command passes through `touch` (see dispatch), so
//! no command has to remember to do it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

/// A watching connection: its id and the flag EXEC checks.
type Watcher = (u64, Arc<AtomicBool>);

#[derive(Default)]
pub struct Watches {
    /// Number of watched (client, key) pairs; lets `touch` skip the lock when zero.
    active: AtomicUsize,
    keys: Mutex<HashMap<Vec<u8>, Vec<Watcher>>>,
}

impl Watches {
    pub fn watch(&self, client_id: u64, dirty: &Arc<AtomicBool>, key: &[u8]) {
        let mut keys = self.keys.lock();
        let watchers = keys.entry(key.to_vec()).or_default();
        if !watchers.iter().any(|(id, _)| *id == client_id) {
            watchers.push((client_id, dirty.clone()));
            self.active.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn unwatch(&self, client_id: u64, watched: &[Vec<u8>]) {
        if watched.is_empty() {
            return;
        }
        let mut keys = self.keys.lock();
        for key in watched {
            if let Some(watchers) = keys.get_mut(key) {
                let before = watchers.len();
                watchers.retain(|(id, _)| *id != client_id);
                self.active
                    .fetch_sub(before - watchers.len(), Ordering::Relaxed);
                if watchers.is_empty() {
                    keys.remove(key);
                }
            }
        }
    }

    /// A write touched `key`: every transaction watching it must fail.
    pub fn touch(&self, key: &[u8]) {
        if self.active.load(Ordering::Relaxed) == 0 {
            return;
        }
        if let Some(watchers) = self.keys.lock().get(key) {
            for (_, dirty) in watchers {
                dirty.store(true, Ordering::Relaxed);
            }
        }
    }

    /// FLUSHDB/FLUSHALL touch every key.
    pub fn touch_all(&self) {
        if self.active.load(Ordering::Relaxed) == 0 {
            return;
        }
        for watchers in self.keys.lock().values() {
            for (_, dirty) in watchers {
                dirty.store(true, Ordering::Relaxed);
            }
        }
    }
}
