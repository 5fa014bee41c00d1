//! The payload of FUNCTION DUMP / FUNCTION RESTORE, in Redis 7's format so that
//! libraries move between Redis and Ferrokv: one `RDB_OPCODE_FUNCTION2` (245) record
//! per library holding its code as an RDB string, then the RDB version (2 bytes, little
//! endian) and the CRC-64 (Jones, as Redis' src/crc64.c) of everything before it (8
//! bytes, little endian). Ferrokv writes strings uncompressed and reads LZF-compressed
//! and integer-encoded ones as Redis writes them. The same payload is the node record
//! the libraries persist in.

use ferrokv_types::dump::{crc64, lzf_decompress, put_len};
use thiserror::Error;

/// Redis 7.0's RDB version (src/rdb.h).
pub const RDB_VERSION: u16 = 10;
const OPCODE_FUNCTION2: u8 = 245;
const OPCODE_FUNCTION_PRE_GA: u8 = 246;

/// Why a payload was refused (Redis' texts, src/functions.c).
#[derive(Debug, Error, PartialEq, Eq)]
pub enum DumpError {
    #[error("DUMP payload version or checksum are wrong")]
    VersionOrChecksum,
    #[error("can not read data type")]
    Type,
    #[error("given type is not a function")]
    NotFunction,
    #[error("failed loading the given functions payload")]
    Load,
}

/// The payload of `codes` (each a library's whole code).
pub fn encode<'a>(codes: impl IntoIterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut out = Vec::new();
    for code in codes {
        out.push(OPCODE_FUNCTION2);
        put_len(&mut out, code.len() as u64);
        out.extend_from_slice(code);
    }
    out.extend_from_slice(&RDB_VERSION.to_le_bytes());
    let crc = crc64(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn byte(&mut self) -> Option<u8> {
        let b = *self.data.get(self.pos)?;
        self.pos += 1;
        Some(b)
    }

    fn take(&mut self, n: usize) -> Option<&[u8]> {
        let end = self.pos.checked_add(n)?;
        let slice = self.data.get(self.pos..end)?;
        self.pos = end;
        Some(slice)
    }

    /// A length, or `Err(kind)` for a special encoding (the low 6 bits).
    fn len(&mut self) -> Option<Result<usize, u8>> {
        let first = self.byte()?;
        Some(match first >> 6 {
            0 => Ok(usize::from(first & 0x3f)),
            1 => Ok((usize::from(first & 0x3f) << 8) | usize::from(self.byte()?)),
            2 => match first {
                0x80 => {
                    let b = self.take(4)?;
                    Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
                }
                0x81 => {
                    let b = self.take(8)?;
                    let mut a = [0u8; 8];
                    a.copy_from_slice(b);
                    Ok(usize::try_from(u64::from_be_bytes(a)).ok()?)
                }
                _ => return None,
            },
            _ => Err(first & 0x3f),
        })
    }

    fn string(&mut self) -> Option<Vec<u8>> {
        match self.len()? {
            Ok(n) => Some(self.take(n)?.to_vec()),
            Err(0) => Some((self.byte()? as i8).to_string().into_bytes()),
            Err(1) => {
                let b = self.take(2)?;
                Some(i16::from_le_bytes([b[0], b[1]]).to_string().into_bytes())
            }
            Err(2) => {
                let b = self.take(4)?;
                Some(
                    i32::from_le_bytes([b[0], b[1], b[2], b[3]])
                        .to_string()
                        .into_bytes(),
                )
            }
            Err(3) => {
                let compressed_len = self.len()?.ok()?;
                let len = self.len()?.ok()?;
                let compressed = self.take(compressed_len)?;
                lzf_decompress(compressed, len)
            }
            Err(_) => None,
        }
    }
}

/// The library codes of a payload, checked as Redis checks it (`verifyDumpPayload`:
/// version not newer than ours, checksum right).
pub fn decode(payload: &[u8]) -> Result<Vec<Vec<u8>>, DumpError> {
    if payload.len() < 10 {
        return Err(DumpError::VersionOrChecksum);
    }
    let footer = payload.len() - 10;
    let version = u16::from_le_bytes([payload[footer], payload[footer + 1]]);
    let mut crc = [0u8; 8];
    crc.copy_from_slice(&payload[footer + 2..]);
    if version > RDB_VERSION || u64::from_le_bytes(crc) != crc64(&payload[..footer + 2]) {
        return Err(DumpError::VersionOrChecksum);
    }
    let mut reader = Reader {
        data: &payload[..footer],
        pos: 0,
    };
    let mut codes = Vec::new();
    while reader.pos < footer {
        let kind = reader.byte().ok_or(DumpError::Type)?;
        match kind {
            OPCODE_FUNCTION2 => codes.push(reader.string().ok_or(DumpError::Load)?),
            // 7.0 release candidates' format (name, engine, description, code) is not
            // read: nothing Redis 7.0 GA writes uses it.
            OPCODE_FUNCTION_PRE_GA => return Err(DumpError::Load),
            _ => return Err(DumpError::NotFunction),
        }
    }
    Ok(codes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc64_is_jones() {
        assert_eq!(crc64(b"123456789"), 0xe9c6_d914_c4b8_d9ca);
    }

    #[test]
    fn round_trip_and_damage() {
        let long = vec![b'x'; 20000];
        let payload = encode([&b"#!lua name=a\nreturn 1"[..], &long[..]]);
        assert_eq!(
            decode(&payload).unwrap(),
            vec![b"#!lua name=a\nreturn 1".to_vec(), long]
        );
        let mut bad = payload.clone();
        bad[3] ^= 1;
        assert_eq!(decode(&bad), Err(DumpError::VersionOrChecksum));
        assert_eq!(decode(b"x"), Err(DumpError::VersionOrChecksum));
    }

    #[test]
    fn lzf_back_references() {
        // literal "abc", then a back reference of length 3+2 at distance 3.
        let input = [2, b'a', b'b', b'c', (3 << 5), 2];
        assert_eq!(lzf_decompress(&input, 8).unwrap(), b"abcabcab".to_vec());
        assert!(lzf_decompress(&[0x40, 9], 5).is_none());
    }
}
