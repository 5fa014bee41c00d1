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
}

impl From<rocksdb::Error> for StorageError {
    fn from(e: rocksdb::Error) -> Self {
        StorageError::Rocks(e.into_string())
    }
}
