//! Who is interested in which key: the bookkeeping shared by WATCH (transactions that
//! must fail when a key changes) and blocking commands (clients to wake when a key is
//! written). Writes consult it for every key they touch, so it costs one atomic load
//! when nobody is registered.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use parking_lot::Mutex;

/// The clients registered on one key, with their handles.
type Entries<T> = Vec<(u64, T)>;

pub struct KeyRegistry<T> {
    /// Registered (client, key) pairs; lets lookups skip the lock when zero.
    entries: AtomicUsize,
    keys: Mutex<HashMap<Vec<u8>, Entries<T>>>,
}

impl<T> Default for KeyRegistry<T> {
    fn default() -> Self {
        KeyRegistry {
            entries: AtomicUsize::new(0),
            keys: Mutex::new(HashMap::new()),
        }
    }
}

impl<T> KeyRegistry<T> {
    /// Registers `client` on `key` (once per client and key).
    pub fn add(&self, client: u64, key: &[u8], handle: T) {
        let mut keys = self.keys.lock();
        let entries = keys.entry(key.to_vec()).or_default();
        if !entries.iter().any(|(id, _)| *id == client) {
            entries.push((client, handle));
            self.entries.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Forgets `client` on each of `keys`.
    pub fn remove<K: AsRef<[u8]>>(&self, client: u64, keys: &[K]) {
        if keys.is_empty() {
            return;
        }
        let mut map = self.keys.lock();
        for key in keys {
            if let Some(entries) = map.get_mut(key.as_ref()) {
                let before = entries.len();
                entries.retain(|(id, _)| *id != client);
                self.entries
                    .fetch_sub(before - entries.len(), Ordering::Relaxed);
                if entries.is_empty() {
                    map.remove(key.as_ref());
                }
            }
        }
    }

    /// Calls `f` for every handle registered on `key`.
    pub fn each_on(&self, key: &[u8], f: impl Fn(&T)) {
        if self.entries.load(Ordering::Relaxed) == 0 {
            return;
        }
        if let Some(entries) = self.keys.lock().get(key) {
            entries.iter().for_each(|(_, handle)| f(handle));
        }
    }

    /// Calls `f` for every handle on every key.
    pub fn each(&self, f: impl Fn(&T)) {
        if self.entries.load(Ordering::Relaxed) == 0 {
            return;
        }
        for entries in self.keys.lock().values() {
            entries.iter().for_each(|(_, handle)| f(handle));
        }
    }

    /// Calls `f` for every handle on the keys `matches` accepts.
    pub fn each_where(&self, matches: impl Fn(&[u8]) -> bool, f: impl Fn(&T)) {
        if self.entries.load(Ordering::Relaxed) == 0 {
            return;
        }
        for (key, entries) in self.keys.lock().iter() {
            if matches(key) {
                entries.iter().for_each(|(_, handle)| f(handle));
            }
        }
    }

    /// The keys someone is registered on.
    pub fn keys(&self) -> Vec<Vec<u8>> {
        if self.entries.load(Ordering::Relaxed) == 0 {
            return Vec::new();
        }
        self.keys.lock().keys().cloned().collect()
    }
}
