//! The on-disk layer of Ferrokv: RocksDB opened with Ferrokv's column families, the key
//! encoding that puts every record of a hash slot next to each other, the metadata
//! record format, and the primitives that slot migration and replication are built on
//! (snapshots, atomic write batches, change capture, range delete by slot range).
//!
//! Nothing above this crate touches RocksDB directly.

mod capture;
mod db;
pub mod encoding;
mod error;
mod gc;
pub mod metadata;

pub use capture::WriteObserver;
pub use db::{Cf, Storage, StorageOptions};
pub use error::StorageError;
pub use rocksdb::{Direction, IteratorMode, WriteBatch};

/// Wall-clock time in Unix milliseconds. Expiries are absolute so that they move
/// unchanged between nodes and survive restarts.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
