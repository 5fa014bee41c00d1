//! The value stored under a metadata key.
//!
//! `[type:1][expire_ms:8]` then, for a string, the value itself (one read serves GET),
//! and for a collection `[version:8][size:8][type-specific extra]`. Expiry is an
//! absolute Unix time in milliseconds (0 = none) so that it survives restarts and moves
//! unchanged between nodes.

use crate::StorageError;

/// The data type of a key, as stored in its metadata record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum DataType {
    String = 1,
    Hash = 2,
    Set = 3,
    List = 4,
    ZSet = 5,
    Stream = 6,
    /// Kvrocks' sorted set of unsigned 64-bit integers (SIADD, SIRANGE, ...).
    SortedInt = 7,
}

impl DataType {
    fn from_byte(b: u8) -> Result<Self, StorageError> {
        Ok(match b {
            1 => DataType::String,
            2 => DataType::Hash,
            3 => DataType::Set,
            4 => DataType::List,
            5 => DataType::ZSet,
            6 => DataType::Stream,
            7 => DataType::SortedInt,
            _ => return Err(StorageError::Corrupt("unknown data type in metadata")),
        })
    }

    /// The name TYPE replies with.
    pub fn name(self) -> &'static str {
        match self {
            DataType::String => "string",
            DataType::Hash => "hash",
            DataType::Set => "set",
            DataType::List => "list",
            DataType::ZSet => "zset",
            DataType::Stream => "stream",
            DataType::SortedInt => "sortedint",
        }
    }
}

const HEADER_LEN: usize = 9;
const COLLECTION_LEN: usize = HEADER_LEN + 16;

/// Metadata of a collection (every type but string).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectionMeta {
    pub kind: DataType,
    pub expire_ms: u64,
    pub version: u64,
    pub size: u64,
    pub extra: Vec<u8>,
}

/// A decoded metadata record, borrowing the stored bytes.
#[derive(Debug, PartialEq, Eq)]
pub enum Record<'a> {
    String { expire_ms: u64, value: &'a [u8] },
    Collection(CollectionMeta),
}

impl Record<'_> {
    pub fn kind(&self) -> DataType {
        match self {
            Record::String { .. } => DataType::String,
            Record::Collection(meta) => meta.kind,
        }
    }

    pub fn expire_ms(&self) -> u64 {
        match self {
            Record::String { expire_ms, .. } => *expire_ms,
            Record::Collection(meta) => meta.expire_ms,
        }
    }

    /// True when the key has an expiry that is not after `now_ms`.
    pub fn is_expired(&self, now_ms: u64) -> bool {
        is_expired(self.expire_ms(), now_ms)
    }
}

/// True when `expire_ms` is set and not after `now_ms`.
pub fn is_expired(expire_ms: u64, now_ms: u64) -> bool {
    expire_ms != 0 && expire_ms <= now_ms
}

/// Encodes a string record.
pub fn encode_string(expire_ms: u64, value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + value.len());
    out.push(DataType::String as u8);
    out.extend_from_slice(&expire_ms.to_be_bytes());
    out.extend_from_slice(value);
    out
}

/// Encodes a collection record.
pub fn encode_collection(meta: &CollectionMeta) -> Vec<u8> {
    let mut out = Vec::with_capacity(COLLECTION_LEN + meta.extra.len());
    out.push(meta.kind as u8);
    out.extend_from_slice(&meta.expire_ms.to_be_bytes());
    out.extend_from_slice(&meta.version.to_be_bytes());
    out.extend_from_slice(&meta.size.to_be_bytes());
    out.extend_from_slice(&meta.extra);
    out
}

fn be_u64(bytes: &[u8], at: usize) -> Result<u64, StorageError> {
    bytes
        .get(at..at + 8)
        .and_then(|s| s.try_into().ok())
        .map(u64::from_be_bytes)
        .ok_or(StorageError::Corrupt("metadata record too short"))
}

/// Decodes a metadata record.
pub fn decode(bytes: &[u8]) -> Result<Record<'_>, StorageError> {
    let kind = DataType::from_byte(
        *bytes
            .first()
            .ok_or(StorageError::Corrupt("empty metadata record"))?,
    )?;
    let expire_ms = be_u64(bytes, 1)?;
    if kind == DataType::String {
        return Ok(Record::String {
            expire_ms,
            value: &bytes[HEADER_LEN..],
        });
    }
    Ok(Record::Collection(CollectionMeta {
        kind,
        expire_ms,
        version: be_u64(bytes, HEADER_LEN)?,
        size: be_u64(bytes, HEADER_LEN + 8)?,
        extra: bytes[COLLECTION_LEN.min(bytes.len())..].to_vec(),
    }))
}

/// Replaces the expiry of an encoded record in place (any type), so that EXPIRE never
/// has to decode or copy the value.
pub fn set_expire_in_place(bytes: &mut [u8], expire_ms: u64) -> Result<(), StorageError> {
    let field = bytes
        .get_mut(1..HEADER_LEN)
        .ok_or(StorageError::Corrupt("metadata record too short"))?;
    field.copy_from_slice(&expire_ms.to_be_bytes());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_round_trip() {
        let enc = encode_string(42, b"hello");
        assert_eq!(
            decode(&enc).unwrap(),
            Record::String {
                expire_ms: 42,
                value: b"hello"
            }
        );
    }

    #[test]
    fn collections_round_trip_and_expiry_is_rewritten_in_place() {
        let meta = CollectionMeta {
            kind: DataType::Hash,
            expire_ms: 0,
            version: 9,
            size: 3,
            extra: vec![1, 2],
        };
        let mut enc = encode_collection(&meta);
        set_expire_in_place(&mut enc, 77).unwrap();
        let Record::Collection(back) = decode(&enc).unwrap() else {
            panic!("not a collection")
        };
        assert_eq!(back.expire_ms, 77);
        assert_eq!(back.version, 9);
        assert_eq!(back.extra, vec![1, 2]);
    }

    #[test]
    fn corrupt_records_are_errors_not_panics() {
        assert!(decode(b"").is_err());
        assert!(decode(b"\x01\x00").is_err());
        assert!(decode(b"\x63\x00\x00\x00\x00\x00\x00\x00\x00").is_err());
        assert!(decode(b"\x02\x00\x00\x00\x00\x00\x00\x00\x00\x00").is_err());
        assert!(is_expired(5, 5));
        assert!(!is_expired(0, 5));
    }
}
