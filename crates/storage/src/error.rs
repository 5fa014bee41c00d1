use thiserror::Error;

/// Failures of the storage layer. Clients see these as `ERR storage error: ...`.
#[derive(Debug, Error)]
pub enum StorageError {
    /// An error reported by RocksDB, as its message.
    #[error("storage error: {0}")]
    Rocks(String),
    #[error("cannot use directory {path}: {source}")]
    Dir {
        path: String,
        source: std::io::Error,
    },
    #[error("corrupt record: {0}")]
    Corrupt(&'static str),
    /// The WAL no longer holds (or never held) this sequence number.
    #[error("the WAL no longer holds sequence {0}")]
    WalGone(u64),
    /// The WAL skips from one sequence number to a later one.
    #[error("the WAL has no batch starting at sequence {wanted} (found {found})")]
    WalGap { wanted: u64, found: u64 },
    /// The operation cannot be done in the node's present state.
    #[error("{0}")]
    Refused(&'static str),
    /// A write of this node's own while it is a replica: only its master's batches
    /// ([`crate::Storage::apply_replicated`]) may change a replica (replication.md).
    /// The text after the READONLY code, as the command gate words it (Kvrocks').
    #[error("You can't write against a read only slave.")]
    ReadOnlyReplica,
    /// A replicated batch that does not follow the newest write.
    #[error("replicated batch starts at sequence {got}, expected {expected}")]
    OutOfOrder { expected: u64, got: u64 },
}

impl From<rocksdb::Error> for StorageError {
    fn from(e: rocksdb::Error) -> Self {
        StorageError::Rocks(e.into_string())
    }
}
