use ferrokv_storage::StorageError;
use thiserror::Error;

/// Errors of data-type operations. `Display` is the full Redis error text, prefix included.
#[derive(Debug, Error)]
pub enum TypeError {
    #[error("WRONGTYPE Operation against a key holding the wrong kind of value")]
    WrongType,
    #[error("ERR value is not an integer or out of range")]
    NotInteger,
    #[error("ERR value is not a valid float")]
    NotFloat,
    #[error("ERR increment or decrement would overflow")]
    Overflow,
    #[error("ERR increment would produce NaN or Infinity")]
    NanOrInfinity,
    #[error("ERR hash value is not an integer")]
    HashNotInteger,
    #[error("ERR hash value is not a float")]
    HashNotFloat,
    #[error("ERR value is out of range")]
    ValueOutOfRange,
    #[error("ERR index out of range")]
    IndexOutOfRange,
    #[error("ERR no such key")]
    NoSuchKey,
    #[error("ERR resulting score is not a number (NaN)")]
    ScoreNaN,
    #[error("ERR string exceeds maximum allowed size (proto-max-bulk-len)")]
    TooLarge,
    #[error("WRONGTYPE Key is not a valid HyperLogLog string value.")]
    NotHyperLogLog,
    #[error("INVALIDOBJ Corrupted HLL object detected")]
    CorruptHyperLogLog,
    #[error("ERR The ID specified in XADD is equal or smaller than the target stream top item")]
    StreamIdTooSmall,
    #[error("ERR The ID specified in XADD must be greater than 0-0")]
    StreamIdZero,
    #[error("ERR The stream has exhausted the last possible ID, unable to add more items")]
    StreamExhausted,
    /// Other stream errors (XSETID's checks); the text follows `ERR `.
    #[error("ERR {0}")]
    Stream(&'static str),
    #[error("ERR {0}")]
    Storage(#[from] StorageError),
}
