//! The on-disk layer of Ferrokv: RocksDB opened with Ferrokv's column families, the key
//! encoding that puts every record of a hash slot next to each other, the metadata
//! record format, and the primitives that slot migration is built on (snapshots, atomic
//! write batches, change capture, range delete by slot range, raw batches).
//!
//! Nothing above this crate touches RocksDB directly, and no RocksDB type is part of
//! its API: batches, snapshots, iterators and values are this crate's own types.

mod batch;
mod capture;
mod db;
pub mod encoding;
mod error;
mod gc;
pub mod metadata;
pub mod perf;
mod read;
mod sst;
pub mod wal;

pub use batch::{Batch, CapturedWrite};
pub use capture::WriteObserver;
pub use db::{Cf, Storage, StorageOptions};
pub use error::StorageError;
pub use read::{Pinned, RangeIter, Snapshot};
pub use sst::SstImport;
pub use wal::{WalBatch, WalReader};

/// Wall-clock time in Unix milliseconds. Expiries are absolute so that they move
/// unchanged between nodes and survive restarts.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// What the unit tests of several modules share.
#[cfg(test)]
mod test_support {
    use crate::{Storage, StorageOptions};

    /// A database in a fresh temporary directory (kept as long as the guard lives).
    pub fn open() -> (tempfile::TempDir, Storage) {
        let dir = tempfile::tempdir().unwrap();
        let storage = Storage::open(dir.path(), &StorageOptions::default()).unwrap();
        (dir, storage)
    }
}
