//! Change capture for slot migration: an observer registered with the storage receives,
//! for every write, the records of that write whose keys it wants (a migration: the
//! keys of its slots), right after the write is applied. This is the tail of a
//! migration: kept in memory, in write order per key, without re-reading the WAL.

use rocksdb::{WriteBatch, WriteBatchIteratorCf};

use crate::{Cf, Storage};

pub trait WriteObserver: Send + Sync {
    /// True when records of this stored key (any column family) are wanted.
    fn wants(&self, stored_key: &[u8]) -> bool;
    /// The wanted records of one applied write, as one batch (atomic on replay).
    fn captured(&self, batch: WriteBatch);
}

/// Copies the records an observer wants out of a batch.
pub(crate) struct Filter<'a> {
    pub observer: &'a dyn WriteObserver,
    pub storage: &'a Storage,
    pub out: WriteBatch,
}

impl WriteBatchIteratorCf for Filter<'_> {
    fn put_cf(&mut self, cf_id: u32, key: &[u8], value: &[u8]) {
        if let (Some(cf), true) = (Cf::from_id(cf_id), self.observer.wants(key)) {
            self.out.put_cf(self.storage.cf(cf), key, value);
        }
    }

    fn delete_cf(&mut self, cf_id: u32, key: &[u8]) {
        if let (Some(cf), true) = (Cf::from_id(cf_id), self.observer.wants(key)) {
            self.out.delete_cf(self.storage.cf(cf), key);
        }
    }

    fn merge_cf(&mut self, _cf_id: u32, _key: &[u8], _value: &[u8]) {}
}
