use thiserror::Error;

/// Failures of the storage layer. Clients see these as `ERR storage error: ...`.
#[derive(Debug, Error)]
pub enum StorageError {
    #[error("storage error: {0}")]
    Rocks(#[from] rocksdb::Error),
    #[error("cannot use directory {path}: {source}")]
    Dir {
        path: String,
        source: std::io::Error,
    },
    #[error("corrupt record: {0}")]
    Corrupt(&'static str),
}
