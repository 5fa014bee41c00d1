use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use ferrokv_storage::encoding::metadata_key;
use ferrokv_storage::metadata::{self, Record};
use ferrokv_storage::{Batch, Cf, Storage, StorageOptions};

use crate::locks::KeyLocks;
use crate::Result;
use ferrokv_storage::now_ms;

/// The key space of one node: storage plus the locks and version clock that give
/// commands their atomicity. Operations live in the per-type modules.
pub struct Database {
    pub(crate) storage: Storage,
    pub(crate) locks: KeyLocks,
    versions: AtomicU64,
    /// Key lookups made by read commands that found / did not find a live key (INFO's
    /// keyspace_hits and keyspace_misses).
    hits: AtomicU64,
    misses: AtomicU64,
}

thread_local! {
    /// Set while a read command runs on this thread (see [`Database::counting_lookups`]):
    /// only its lookups count as hits or misses, as in Redis, where the lookups of
    /// writes do not.
    static COUNTING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

impl Database {
    pub fn open(dir: &Path, options: &StorageOptions) -> Result<Self> {
        let storage = Storage::open(dir, options)?;
        Ok(Database {
            storage,
            locks: KeyLocks::new(),
            // Versions only need to grow across restarts; the clock gives that without
            // persisting a counter (Kvrocks does the same).
            versions: AtomicU64::new(now_ms() << 20),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        })
    }

    pub fn storage(&self) -> &Storage {
        &self.storage
    }

    /// A version for a new incarnation of a collection, larger than every earlier one.
    pub(crate) fn new_version(&self) -> u64 {
        let floor = now_ms() << 20;
        let mut current = self.versions.load(Ordering::Relaxed);
        loop {
            let next = current.max(floor) + 1;
            match self.versions.compare_exchange_weak(
                current,
                next,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return next,
                Err(actual) => current = actual,
            }
        }
    }

    /// Runs `f` (a read command) with its key lookups counted as keyspace hits/misses.
    /// Commands run synchronously on one thread, so a thread-local flag scopes it.
    pub fn counting_lookups<R>(&self, f: impl FnOnce() -> R) -> R {
        let before = COUNTING.with(|c| c.replace(true));
        let result = f();
        COUNTING.with(|c| c.set(before));
        result
    }

    /// Key lookups of read commands that found a live key, and that did not.
    pub fn keyspace_hits_misses(&self) -> (u64, u64) {
        (
            self.hits.load(Ordering::Relaxed),
            self.misses.load(Ordering::Relaxed),
        )
    }

    /// Zeroes the hit/miss counters (CONFIG RESETSTAT).
    pub fn reset_keyspace_stats(&self) {
        self.hits.store(0, Ordering::Relaxed);
        self.misses.store(0, Ordering::Relaxed);
    }

    /// Records one lookup's outcome if a read command is running on this thread.
    pub(crate) fn note_lookup(&self, found: bool) {
        if COUNTING.with(std::cell::Cell::get) {
            let counter = if found { &self.hits } else { &self.misses };
            counter.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The raw metadata record of `key` if it exists and has not expired.
    pub(crate) fn live_record(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.live_record_at(&metadata_key(key), now_ms())
    }

    pub(crate) fn live_record_at(&self, stored_key: &[u8], now: u64) -> Result<Option<Vec<u8>>> {
        let Some(raw) = self.storage.get(Cf::Metadata, stored_key)? else {
            self.note_lookup(false);
            return Ok(None);
        };
        let record = metadata::decode(&raw)?;
        if record.is_expired(now) {
            self.note_lookup(false);
            return Ok(None);
        }
        self.note_lookup(true);
        Ok(Some(raw.to_vec()))
    }

    /// Adds the deletion of `key` (whatever its type) to `batch`. Members of a collection
    /// become unreachable with their metadata and are reclaimed by compaction.
    pub(crate) fn delete_into(&self, batch: &mut Batch<'_>, key: &[u8]) {
        batch.delete(Cf::Metadata, metadata_key(key));
    }

    /// Decodes a record fetched by `live_record`.
    pub(crate) fn decode(raw: &[u8]) -> Result<Record<'_>> {
        Ok(metadata::decode(raw)?)
    }

    /// Flushes WAL and memtables: the clean-shutdown path.
    pub fn flush(&self) -> Result<()> {
        Ok(self.storage.flush()?)
    }
}
