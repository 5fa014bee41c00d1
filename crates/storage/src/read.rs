//! What reads hand out: values, snapshots and range iterators, as storage types (thin
//! wrappers, no copies) so that nothing above this crate names RocksDB.

//!
//! Each of them keeps the database it came from open (an `Arc`), because a replica's
//! full sync swaps the database under running readers (`Storage::swap_in`): a reader
//! finishes on the old one, which closes when the last of them is dropped.

use std::marker::PhantomData;
use std::ops::Deref;
use std::sync::Arc;

use rocksdb::{DBPinnableSlice, DBRawIterator, DB};

use crate::StorageError;

/// A value read by [`crate::Storage::get`], pinned in RocksDB's block cache or memtable
/// (no copy); it reads as `&[u8]`.
pub struct Pinned<'a> {
    // Declared before `_db`: dropped first, while the database is still open.
    pub(crate) slice: DBPinnableSlice<'static>,
    pub(crate) _db: Arc<DB>,
    pub(crate) _life: PhantomData<&'a ()>,
}

impl Deref for Pinned<'_> {
    type Target = [u8];

    #[inline]
    fn deref(&self) -> &[u8] {
        &self.slice
    }
}

impl AsRef<[u8]> for Pinned<'_> {
    #[inline]
    fn as_ref(&self) -> &[u8] {
        &self.slice
    }
}

/// A consistent point-in-time view of the database ([`crate::Storage::snapshot`]),
/// read through [`crate::Storage::range_iter`] (which reads the snapshot's own
/// database, even after a swap).
pub struct Snapshot<'a> {
    pub(crate) inner: rocksdb::Snapshot<'static>,
    pub(crate) db: Arc<DB>,
    pub(crate) _life: PhantomData<&'a ()>,
}

/// An iterator over a key range of one column family ([`crate::Storage::range_iter`]),
/// positioned at the first key of the range. Keys and values are borrowed until the
/// next move.
pub struct RangeIter<'a> {
    pub(crate) iter: DBRawIterator<'static>,
    pub(crate) _db: Arc<DB>,
    pub(crate) _life: PhantomData<&'a ()>,
}

impl RangeIter<'_> {
    /// True while positioned on a record.
    #[inline]
    pub fn valid(&self) -> bool {
        self.iter.valid()
    }

    #[inline]
    pub fn key(&self) -> Option<&[u8]> {
        self.iter.key()
    }

    #[inline]
    pub fn value(&self) -> Option<&[u8]> {
        self.iter.value()
    }

    #[inline]
    pub fn next(&mut self) {
        self.iter.next();
    }

    #[inline]
    pub fn prev(&mut self) {
        self.iter.prev();
    }

    /// Moves to the first key at or after `key`.
    #[inline]
    pub fn seek(&mut self, key: impl AsRef<[u8]>) {
        self.iter.seek(key);
    }

    /// Moves to the last key at or before `key`.
    #[inline]
    pub fn seek_for_prev(&mut self, key: impl AsRef<[u8]>) {
        self.iter.seek_for_prev(key);
    }

    /// Moves to the last key of the range.
    #[inline]
    pub fn seek_to_last(&mut self) {
        self.iter.seek_to_last();
    }

    /// Whether the iteration stopped on an error rather than at the end of the range.
    pub fn status(&self) -> Result<(), StorageError> {
        Ok(self.iter.status()?)
    }
}
