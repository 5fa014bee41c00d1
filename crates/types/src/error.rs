use ferrokv_storage::StorageError;
use thiserror::Error;

/// Errors of data-type operations. `Display` is Redis' message after the prefix;
/// [`TypeError::prefix`] is the prefix (`ERR`, `WRONGTYPE`, `INVALIDOBJ`).
#[derive(Debug, Error)]
pub enum TypeError {
    #[error("Operation against a key holding the wrong kind of value")]
    WrongType,
    #[error("value is not an integer or out of range")]
    NotInteger,
    #[error("value is not a valid float")]
    NotFloat,
    #[error("increment or decrement would overflow")]
    Overflow,
    #[error("increment would produce NaN or Infinity")]
    NanOrInfinity,
    #[error("hash value is not an integer")]
    HashNotInteger,
    #[error("hash value is not a float")]
    HashNotFloat,
    #[error("value is out of range")]
    ValueOutOfRange,
    #[error("index out of range")]
    IndexOutOfRange,
    #[error("no such key")]
    NoSuchKey,
    #[error("resulting score is not a number (NaN)")]
    ScoreNaN,
    #[error("string exceeds maximum allowed size (proto-max-bulk-len)")]
    TooLarge,
    #[error("Key is not a valid HyperLogLog string value.")]
    NotHyperLogLog,
    #[error("Corrupted HLL object detected")]
    CorruptHyperLogLog,
    #[error("The ID specified in XADD is equal or smaller than the target stream top item")]
    StreamIdTooSmall,
    #[error("The ID specified in XADD must be greater than 0-0")]
    StreamIdZero,
    #[error("The stream has exhausted the last possible ID, unable to add more items")]
    StreamExhausted,
    /// Other stream errors (XSETID's checks); the text follows `ERR `.
    #[error("{0}")]
    Stream(&'static str),
    /// A command that cannot handle this value (DUMP of a type without a Redis
    /// serialization, none today); the text follows `ERR `.
    #[error("{0}")]
    Unsupported(&'static str),
    #[error("{0}")]
    Storage(#[from] StorageError),
}

impl TypeError {
    /// The reply's first word, as Redis sends it.
    pub fn prefix(&self) -> &'static str {
        match self {
            TypeError::WrongType | TypeError::NotHyperLogLog => "WRONGTYPE",
            TypeError::CorruptHyperLogLog => "INVALIDOBJ",
            TypeError::Storage(StorageError::ReadOnlyReplica) => "READONLY",
            _ => "ERR",
        }
    }
}
