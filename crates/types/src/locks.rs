//! Striped key locks. Read-modify-write commands (INCR, APPEND, SET NX, ...) must not
//! interleave on one key; plain reads take no lock because every write is one atomic
//! RocksDB batch.

use parking_lot::{Mutex, MutexGuard};

const STRIPES: usize = 1024;

pub(crate) struct KeyLocks {
    stripes: Box<[Mutex<()>]>,
}

/// Holds the stripes of a set of keys until dropped.
pub struct KeyGuard<'a> {
    _guards: Vec<MutexGuard<'a, ()>>,
}

fn stripe_of(key: &[u8]) -> usize {
    // Keys are not adversarial here (a collision only shares a lock): a cheap hash.
    use std::hash::Hasher;
    let mut hasher = rustc_hash::FxHasher::default();
    hasher.write(key);
    (hasher.finish() as usize) % STRIPES
}

impl KeyLocks {
    pub(crate) fn new() -> Self {
        KeyLocks {
            stripes: (0..STRIPES).map(|_| Mutex::new(())).collect(),
        }
    }

    /// Locks the stripes of `keys` in ascending order, so two multi-key writers can
    /// never deadlock.
    pub(crate) fn lock<'a, K: AsRef<[u8]>>(&'a self, keys: &[K]) -> KeyGuard<'a> {
        let mut stripes: Vec<usize> = keys.iter().map(|k| stripe_of(k.as_ref())).collect();
        stripes.sort_unstable();
        stripes.dedup();
        KeyGuard {
            _guards: stripes
                .into_iter()
                .map(|s| self.stripes[s].lock())
                .collect(),
        }
    }

    pub(crate) fn lock_one(&self, key: &[u8]) -> MutexGuard<'_, ()> {
        self.stripes[stripe_of(key)].lock()
    }
}
