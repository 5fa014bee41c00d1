//! What reads hand out: values, snapshots and range iterators, as storage types (thin
//! wrappers, no copies) so that nothing above this crate names RocksDB.

use std::ops::Deref;

use rocksdb::{DBPinnableSlice, DBRawIterator};

use crate::StorageError;

/// A value read by [`crate::Storage::get`], pinned in RocksDB's block cache or memtable
/// (no copy); it reads as `&[u8]`.
pub struct Pinned<'a>(pub(crate) DBPinnableSlice<'a>);

impl Deref for Pinned<'_> {
    type Target = [u8];

    #[inline]
    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl AsRef<[u8]> for Pinned<'_> {
    #[inline]
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

/// A consistent point-in-time view of the database ([`crate::Storage::snapshot`]),
/// read through [`crate::Storage::range_iter`].
pub struct Snapshot<'a>(pub(crate) rocksdb::Snapshot<'a>);

/// An iterator over a key range of one column family ([`crate::Storage::range_iter`]),
/// positioned at the first key of the range. Keys and values are borrowed until the
/// next move.
pub struct RangeIter<'a>(pub(crate) DBRawIterator<'a>);

impl RangeIter<'_> {
    /// True while positioned on a record.
    #[inline]
    pub fn valid(&self) -> bool {
        self.0.valid()
    }

    #[inline]
    pub fn key(&self) -> Option<&[u8]> {
        self.0.key()
    }

    #[inline]
    pub fn value(&self) -> Option<&[u8]> {
        self.0.value()
    }

    #[inline]
    pub fn next(&mut self) {
        self.0.next();
    }

    #[inline]
    pub fn prev(&mut self) {
        self.0.prev();
    }

    /// Moves to the first key at or after `key`.
    #[inline]
    pub fn seek(&mut self, key: impl AsRef<[u8]>) {
        self.0.seek(key);
    }

    /// Moves to the last key at or before `key`.
    #[inline]
    pub fn seek_for_prev(&mut self, key: impl AsRef<[u8]>) {
        self.0.seek_for_prev(key);
    }

    /// Moves to the last key of the range.
    #[inline]
    pub fn seek_to_last(&mut self) {
        self.0.seek_to_last();
    }

    /// Whether the iteration stopped on an error rather than at the end of the range.
    pub fn status(&self) -> Result<(), StorageError> {
        Ok(self.0.status()?)
    }
}
