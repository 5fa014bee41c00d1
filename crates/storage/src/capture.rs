//! Change capture for slot migration: an observer registered with the storage receives,
//! for every write, the records of that write whose keys it wants (a migration: the
//! keys of its slots), right after the write is applied. This is the tail of a
//! migration: kept in memory, in write order per key, without re-reading the WAL.

use crate::CapturedWrite;

pub trait WriteObserver: Send + Sync {
    /// True when records of this stored key (any column family) are wanted.
    fn wants(&self, stored_key: &[u8]) -> bool;
    /// The wanted records of one applied write, together (atomic on replay).
    fn captured(&self, write: CapturedWrite);
}
