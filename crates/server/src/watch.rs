//! WATCH bookkeeping: which connections watch which keys, and marking them dirty when a
//! write touches a key. Every write command passes through `Server::touched` (see
//! dispatch), so no command has to remember to do it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::registry::KeyRegistry;

#[derive(Default)]
pub struct Watches {
    registry: KeyRegistry<Arc<AtomicBool>>,
}

impl Watches {
    pub fn watch(&self, client_id: u64, dirty: &Arc<AtomicBool>, key: &[u8]) {
        self.registry.add(client_id, key, dirty.clone());
    }

    pub fn unwatch(&self, client_id: u64, watched: &[Vec<u8>]) {
        self.registry.remove(client_id, watched);
    }

    /// A write touched `key`: every transaction watching it must fail.
    pub fn touch(&self, key: &[u8]) {
        self.registry
            .each_on(key, |dirty| dirty.store(true, Ordering::Relaxed));
    }

    /// CLUSTERX FLUSHSLOTS touches every key of the slots it deleted.
    pub fn touch_where(&self, matches: impl Fn(&[u8]) -> bool) {
        self.registry
            .each_where(matches, |dirty| dirty.store(true, Ordering::Relaxed));
    }

    /// Every key some connection watches (FLUSHDB/FLUSHALL touch those that exist).
    pub fn keys(&self) -> Vec<Vec<u8>> {
        self.registry.keys()
    }
}
