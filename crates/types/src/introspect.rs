//! What OBJECT and MEMORY USAGE report about a key: its encoding and the bytes it
//! occupies in storage.

use ferrokv_storage::encoding::{member_prefix, metadata_key};
use ferrokv_storage::metadata::{DataType, Record};
use ferrokv_storage::Cf;

use crate::{Database, Result};

/// Members MEMORY USAGE reads when not told otherwise (Redis' default sample).
pub const DEFAULT_MEMORY_SAMPLES: usize = 5;

impl Database {
    /// OBJECT ENCODING: the encoding Redis would name for the value. Strings follow
    /// Redis' rules (`int` for a 64-bit integer in canonical form, `embstr` up to 44
    /// bytes, `raw` beyond); collections are always stored one record per element, so
    /// they report Redis' general encoding for their type, never a compact one.
    pub fn encoding(&self, key: &[u8]) -> Result<Option<&'static str>> {
        let Some(raw) = self.live_record(key)? else {
            return Ok(None);
        };
        Ok(Some(match Database::decode(&raw)? {
            Record::String { value, .. } => string_encoding(value),
            Record::Collection(meta) => match meta.kind {
                DataType::List => "quicklist",
                DataType::Hash | DataType::Set => "hashtable",
                DataType::ZSet | DataType::SortedInt => "skiplist",
                DataType::Stream => "stream",
                DataType::String => "raw",
            },
        }))
    }

    /// MEMORY USAGE: bytes the key's records take in storage (keys and values before
    /// compression). For a collection the first `samples` elements are measured and
    /// the average is scaled to its size (0 = measure every element).
    pub fn stored_size(&self, key: &[u8], samples: usize) -> Result<Option<u64>> {
        let Some(raw) = self.live_record(key)? else {
            return Ok(None);
        };
        let own = (metadata_key(key).len() + raw.len()) as u64;
        let meta = match Database::decode(&raw)? {
            Record::String { .. } => return Ok(Some(own)),
            Record::Collection(meta) => meta,
        };
        let prefix = member_prefix(key, meta.version).len() as u64;
        let (mut measured, mut bytes) = (0u64, 0u64);
        self.scan_members(
            Cf::Members,
            key,
            meta.version,
            b"",
            false,
            |member, value| {
                measured += 1;
                bytes += prefix + (member.len() + value.len()) as u64;
                samples == 0 || measured < samples as u64
            },
        )?;
        if meta.kind == DataType::ZSet {
            // The score index holds each member again with its 8-byte score.
            bytes *= 2;
        }
        let members = bytes
            .saturating_mul(meta.size)
            .checked_div(measured)
            .unwrap_or(0);
        Ok(Some(own + members))
    }
}

/// Redis' encoding of a string value.
fn string_encoding(value: &[u8]) -> &'static str {
    let canonical_int = value.len() <= 20
        && std::str::from_utf8(value)
            .ok()
            .and_then(|s| s.parse::<i64>().ok())
            .is_some_and(|n| n.to_string().as_bytes() == value);
    if canonical_int {
        "int"
    } else if value.len() <= 44 {
        "embstr"
    } else {
        "raw"
    }
}

#[cfg(test)]
mod tests {
    use super::string_encoding;

    #[test]
    fn string_encodings_follow_redis() {
        assert_eq!(string_encoding(b"12345"), "int");
        assert_eq!(string_encoding(b"-9223372036854775808"), "int");
        assert_eq!(string_encoding(b"007"), "embstr");
        assert_eq!(string_encoding(b"9223372036854775808"), "embstr");
        assert_eq!(string_encoding(&[b'a'; 44]), "embstr");
        assert_eq!(string_encoding(&[b'a'; 45]), "raw");
    }
}
