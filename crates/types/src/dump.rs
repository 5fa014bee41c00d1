//! DUMP/RESTORE payloads in Redis' serialization format (src/rdb.c, src/cluster.c):
//! `[type][object]` as an RDB file stores one value, then the RDB version (2 bytes,
//! little-endian) and the CRC-64 (Jones polynomial, as Redis' crc64.c, 8 bytes
//! little-endian) of everything before it.
//!
//! Written: RDB version 10 (Redis 7.0; Redis 7.2 and later read it too) with the plain
//! encodings every Redis reads: `STRING` (raw), `LIST` (a count of strings), `SET`,
//! `HASH`, `ZSET_2` (binary doubles). Read: those, and the compact encodings Redis
//! writes: integer and LZF strings, `LIST_QUICKLIST_2` (listpack and plain nodes),
//! `LIST_QUICKLIST` and `LIST_ZIPLIST` (ziplists), `SET_INTSET`, `SET_LISTPACK`,
//! `HASH_LISTPACK`, `HASH_ZIPLIST`, `ZSET_LISTPACK`, `ZSET_ZIPLIST`, and `ZSET` (text
//! scores). Streams are neither written nor read.

use std::collections::HashSet;

use ferrokv_storage::metadata::{encode_string, CollectionMeta, DataType, Record};
use ferrokv_storage::Cf;

use crate::{Database, Result, TypeError};

/// The RDB version written in the footer (Redis 7.0's).
pub const RDB_VERSION: u16 = 10;
/// The newest RDB version accepted (Redis 7.4's); a payload announcing a later one is
/// refused like a bad checksum, as Redis refuses versions it does not know.
pub const RDB_VERSION_MAX: u16 = 12;

const TYPE_STRING: u8 = 0;
const TYPE_LIST: u8 = 1;
const TYPE_SET: u8 = 2;
const TYPE_ZSET: u8 = 3;
const TYPE_HASH: u8 = 4;
const TYPE_ZSET_2: u8 = 5;
const TYPE_HASH_ZIPLIST: u8 = 13;
const TYPE_LIST_ZIPLIST: u8 = 10;
const TYPE_SET_INTSET: u8 = 11;
const TYPE_ZSET_ZIPLIST: u8 = 12;
const TYPE_LIST_QUICKLIST: u8 = 14;
const TYPE_HASH_LISTPACK: u8 = 16;
const TYPE_ZSET_LISTPACK: u8 = 17;
const TYPE_LIST_QUICKLIST_2: u8 = 18;
const TYPE_SET_LISTPACK: u8 = 20;

/// A value as a payload carries it.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    String(Vec<u8>),
    List(Vec<Vec<u8>>),
    Set(Vec<Vec<u8>>),
    Hash(Vec<(Vec<u8>, Vec<u8>)>),
    ZSet(Vec<(Vec<u8>, f64)>),
}

/// Why a payload cannot be restored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayloadError {
    /// Too short, a version newer than [`RDB_VERSION_MAX`], or a wrong checksum
    /// (Redis: `ERR DUMP payload version or checksum are wrong`).
    VersionOrChecksum,
    /// The checksum holds but the object cannot be decoded (Redis: `ERR Bad data
    /// format`).
    BadFormat,
}

/// CRC-64/Jones, reflected, initial value 0 (Redis' `crc64(0, ...)`).
pub fn crc64(data: &[u8]) -> u64 {
    const POLY: u64 = 0x95AC_9329_AC4B_C9B5;
    static TABLE: std::sync::OnceLock<[u64; 256]> = std::sync::OnceLock::new();
    let table = TABLE.get_or_init(|| {
        let mut table = [0u64; 256];
        for (i, slot) in table.iter_mut().enumerate() {
            let mut crc = i as u64;
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ POLY
                } else {
                    crc >> 1
                };
            }
            *slot = crc;
        }
        table
    });
    data.iter().fold(0u64, |crc, &b| {
        table[((crc ^ u64::from(b)) & 0xff) as usize] ^ (crc >> 8)
    })
}

fn put_len(out: &mut Vec<u8>, len: u64) {
    if len < 1 << 6 {
        out.push(len as u8);
    } else if len < 1 << 14 {
        out.push(0x40 | (len >> 8) as u8);
        out.push(len as u8);
    } else if len <= u64::from(u32::MAX) {
        out.push(0x80);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    } else {
        out.push(0x81);
        out.extend_from_slice(&len.to_be_bytes());
    }
}

fn put_string(out: &mut Vec<u8>, s: &[u8]) {
    put_len(out, s.len() as u64);
    out.extend_from_slice(s);
}

/// The DUMP payload of a value.
pub fn encode(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    match value {
        Value::String(s) => {
            out.push(TYPE_STRING);
            put_string(&mut out, s);
        }
        Value::List(items) | Value::Set(items) => {
            out.push(if matches!(value, Value::List(_)) {
                TYPE_LIST
            } else {
                TYPE_SET
            });
            put_len(&mut out, items.len() as u64);
            for item in items {
                put_string(&mut out, item);
            }
        }
        Value::Hash(pairs) => {
            out.push(TYPE_HASH);
            put_len(&mut out, pairs.len() as u64);
            for (field, value) in pairs {
                put_string(&mut out, field);
                put_string(&mut out, value);
            }
        }
        Value::ZSet(members) => {
            out.push(TYPE_ZSET_2);
            put_len(&mut out, members.len() as u64);
            // Redis loads ZSET_2 members highest score first (it writes them so, and
            // inserting at the tail is cheapest); any order is accepted.
            for (member, score) in members.iter().rev() {
                put_string(&mut out, member);
                out.extend_from_slice(&score.to_le_bytes());
            }
        }
    }
    out.extend_from_slice(&RDB_VERSION.to_le_bytes());
    let crc = crc64(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// Checks the footer and decodes a payload.
pub fn decode(payload: &[u8]) -> std::result::Result<Value, PayloadError> {
    if payload.len() < 10 {
        return Err(PayloadError::VersionOrChecksum);
    }
    let (body, footer) = payload.split_at(payload.len() - 10);
    let version = u16::from_le_bytes([footer[0], footer[1]]);
    if version > RDB_VERSION_MAX {
        return Err(PayloadError::VersionOrChecksum);
    }
    let crc = u64::from_le_bytes(footer[2..10].try_into().unwrap_or_default());
    if crc64(&payload[..payload.len() - 8]) != crc {
        return Err(PayloadError::VersionOrChecksum);
    }
    let mut reader = Reader { data: body, at: 0 };
    reader.object().ok_or(PayloadError::BadFormat)
}

struct Reader<'a> {
    data: &'a [u8],
    at: usize,
}

/// A length, or a special string encoding (`0xC0 | n`).
enum Len {
    Plain(u64),
    Encoded(u8),
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.at.checked_add(n)?;
        let bytes = self.data.get(self.at..end)?;
        self.at = end;
        Some(bytes)
    }

    fn byte(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }

    fn len_or_encoding(&mut self) -> Option<Len> {
        let first = self.byte()?;
        Some(match first >> 6 {
            0 => Len::Plain(u64::from(first & 0x3f)),
            1 => Len::Plain((u64::from(first & 0x3f) << 8) | u64::from(self.byte()?)),
            2 => match first {
                0x80 => Len::Plain(u64::from(u32::from_be_bytes(
                    self.take(4)?.try_into().ok()?,
                ))),
                0x81 => Len::Plain(u64::from_be_bytes(self.take(8)?.try_into().ok()?)),
                _ => return None,
            },
            _ => Len::Encoded(first & 0x3f),
        })
    }

    fn len(&mut self) -> Option<usize> {
        match self.len_or_encoding()? {
            Len::Plain(n) => usize::try_from(n).ok(),
            Len::Encoded(_) => None,
        }
    }

    /// A count of elements, bounded by what the payload could hold (one byte each at
    /// the least), so a forged count cannot make us reserve memory.
    fn count(&mut self) -> Option<usize> {
        let n = self.len()?;
        (n <= self.data.len()).then_some(n)
    }

    fn string(&mut self) -> Option<Vec<u8>> {
        match self.len_or_encoding()? {
            Len::Plain(n) => Some(self.take(usize::try_from(n).ok()?)?.to_vec()),
            Len::Encoded(0) => Some((self.byte()? as i8).to_string().into_bytes()),
            Len::Encoded(1) => Some(
                i16::from_le_bytes(self.take(2)?.try_into().ok()?)
                    .to_string()
                    .into_bytes(),
            ),
            Len::Encoded(2) => Some(
                i32::from_le_bytes(self.take(4)?.try_into().ok()?)
                    .to_string()
                    .into_bytes(),
            ),
            Len::Encoded(3) => {
                let compressed = self.len()?;
                let len = self.len()?;
                lzf_decompress(self.take(compressed)?, len)
            }
            Len::Encoded(_) => None,
        }
    }

    /// A score of the old `ZSET` type: a length byte (253 nan, 254 +inf, 255 -inf) and
    /// that many characters.
    fn text_double(&mut self) -> Option<f64> {
        match self.byte()? {
            253 => Some(f64::NAN),
            254 => Some(f64::INFINITY),
            255 => Some(f64::NEG_INFINITY),
            n => std::str::from_utf8(self.take(usize::from(n))?)
                .ok()?
                .parse()
                .ok(),
        }
    }

    fn object(&mut self) -> Option<Value> {
        let kind = self.byte()?;
        let value = match kind {
            TYPE_STRING => Value::String(self.string()?),
            TYPE_LIST => Value::List(self.strings()?),
            TYPE_SET => Value::Set(self.strings()?),
            TYPE_HASH => {
                let n = self.count()?;
                let mut pairs = Vec::with_capacity(n);
                for _ in 0..n {
                    pairs.push((self.string()?, self.string()?));
                }
                Value::Hash(pairs)
            }
            TYPE_ZSET | TYPE_ZSET_2 => {
                let n = self.count()?;
                let mut members = Vec::with_capacity(n);
                for _ in 0..n {
                    let member = self.string()?;
                    let score = if kind == TYPE_ZSET_2 {
                        f64::from_le_bytes(self.take(8)?.try_into().ok()?)
                    } else {
                        self.text_double()?
                    };
                    if score.is_nan() {
                        return None;
                    }
                    members.push((member, score));
                }
                Value::ZSet(members)
            }
            TYPE_LIST_QUICKLIST_2 | TYPE_LIST_QUICKLIST => {
                let nodes = self.count()?;
                let mut items = Vec::new();
                for _ in 0..nodes {
                    // Quicklist 2 says per node whether it is one plain element (1) or
                    // a listpack (2); the first quicklist holds ziplists.
                    let container = if kind == TYPE_LIST_QUICKLIST_2 {
                        self.len()?
                    } else {
                        2
                    };
                    let blob = self.string()?;
                    match (kind, container) {
                        (_, 1) => items.push(blob),
                        (TYPE_LIST_QUICKLIST_2, 2) => items.extend(listpack(&blob)?),
                        (TYPE_LIST_QUICKLIST, _) => items.extend(ziplist(&blob)?),
                        _ => return None,
                    }
                }
                Value::List(items)
            }
            TYPE_LIST_ZIPLIST => Value::List(ziplist(&self.string()?)?),
            TYPE_SET_INTSET => Value::Set(intset(&self.string()?)?),
            TYPE_SET_LISTPACK => Value::Set(listpack(&self.string()?)?),
            TYPE_HASH_LISTPACK | TYPE_HASH_ZIPLIST => {
                let blob = self.string()?;
                let flat = if kind == TYPE_HASH_LISTPACK {
                    listpack(&blob)?
                } else {
                    ziplist(&blob)?
                };
                Value::Hash(pairs(flat)?)
            }
            TYPE_ZSET_LISTPACK | TYPE_ZSET_ZIPLIST => {
                let blob = self.string()?;
                let flat = if kind == TYPE_ZSET_LISTPACK {
                    listpack(&blob)?
                } else {
                    ziplist(&blob)?
                };
                let mut members = Vec::with_capacity(flat.len() / 2);
                for (member, score) in pairs(flat)? {
                    let score: f64 = std::str::from_utf8(&score).ok()?.parse().ok()?;
                    if score.is_nan() {
                        return None;
                    }
                    members.push((member, score));
                }
                Value::ZSet(members)
            }
            _ => return None,
        };
        Some(value)
    }

    fn strings(&mut self) -> Option<Vec<Vec<u8>>> {
        let n = self.count()?;
        let mut items = Vec::with_capacity(n);
        for _ in 0..n {
            items.push(self.string()?);
        }
        Some(items)
    }
}

fn pairs(flat: Vec<Vec<u8>>) -> Option<Vec<(Vec<u8>, Vec<u8>)>> {
    if !flat.len().is_multiple_of(2) {
        return None;
    }
    let mut out = Vec::with_capacity(flat.len() / 2);
    let mut it = flat.into_iter();
    while let (Some(a), Some(b)) = (it.next(), it.next()) {
        out.push((a, b));
    }
    Some(out)
}

fn le_int(bytes: &[u8]) -> i64 {
    // Sign-extends a little-endian integer of 1 to 8 bytes.
    let mut buf = [0u8; 8];
    buf[..bytes.len()].copy_from_slice(bytes);
    let v = i64::from_le_bytes(buf);
    let shift = 64 - 8 * bytes.len() as u32;
    if shift == 0 {
        v
    } else {
        (v << shift) >> shift
    }
}

/// The elements of a listpack (Redis' listpack.c): a 6-byte header, entries each
/// followed by its back-length, and 0xFF.
fn listpack(lp: &[u8]) -> Option<Vec<Vec<u8>>> {
    let total = u32::from_le_bytes(lp.get(0..4)?.try_into().ok()?) as usize;
    if total != lp.len() || *lp.last()? != 0xFF {
        return None;
    }
    let mut at = 6;
    let mut out = Vec::new();
    let get = |from: usize, n: usize| lp.get(from..from.checked_add(n)?);
    loop {
        let b = *lp.get(at)?;
        if b == 0xFF {
            break;
        }
        let (value, size): (Vec<u8>, usize) = if b & 0x80 == 0 {
            ((b & 0x7f).to_string().into_bytes(), 1)
        } else if b & 0xC0 == 0x80 {
            let n = usize::from(b & 0x3f);
            (get(at + 1, n)?.to_vec(), 1 + n)
        } else if b & 0xE0 == 0xC0 {
            let raw = (u16::from(b & 0x1f) << 8) | u16::from(*lp.get(at + 1)?);
            let v = (i64::from(raw) << 51) >> 51;
            (v.to_string().into_bytes(), 2)
        } else if b & 0xF0 == 0xE0 {
            let n = (usize::from(b & 0x0f) << 8) | usize::from(*lp.get(at + 1)?);
            (get(at + 2, n)?.to_vec(), 2 + n)
        } else {
            let int = |n: usize| -> Option<(Vec<u8>, usize)> {
                Some((le_int(get(at + 1, n)?).to_string().into_bytes(), 1 + n))
            };
            match b {
                0xF0 => {
                    let n = u32::from_le_bytes(get(at + 1, 4)?.try_into().ok()?) as usize;
                    (get(at + 5, n)?.to_vec(), 5 + n)
                }
                0xF1 => int(2)?,
                0xF2 => int(3)?,
                0xF3 => int(4)?,
                0xF4 => int(8)?,
                _ => return None,
            }
        };
        let backlen = match size {
            0..=127 => 1,
            128..=16382 => 2,
            16383..=2097150 => 3,
            2097151..=268435454 => 4,
            _ => 5,
        };
        out.push(value);
        at = at.checked_add(size + backlen)?;
    }
    Some(out)
}

/// The elements of a ziplist (Redis' ziplist.c, before 7.0).
fn ziplist(zl: &[u8]) -> Option<Vec<Vec<u8>>> {
    let total = u32::from_le_bytes(zl.get(0..4)?.try_into().ok()?) as usize;
    if total != zl.len() || *zl.last()? != 0xFF {
        return None;
    }
    let mut at = 10;
    let mut out = Vec::new();
    let get = |from: usize, n: usize| zl.get(from..from.checked_add(n)?);
    loop {
        if *zl.get(at)? == 0xFF {
            break;
        }
        at += if *zl.get(at)? < 254 { 1 } else { 5 };
        let b = *zl.get(at)?;
        let (value, size): (Vec<u8>, usize) = match b >> 6 {
            0 => {
                let n = usize::from(b & 0x3f);
                (get(at + 1, n)?.to_vec(), 1 + n)
            }
            1 => {
                let n = (usize::from(b & 0x3f) << 8) | usize::from(*zl.get(at + 1)?);
                (get(at + 2, n)?.to_vec(), 2 + n)
            }
            2 => {
                let n = u32::from_be_bytes(get(at + 1, 4)?.try_into().ok()?) as usize;
                (get(at + 5, n)?.to_vec(), 5 + n)
            }
            _ => {
                let int = |n: usize| -> Option<(Vec<u8>, usize)> {
                    Some((le_int(get(at + 1, n)?).to_string().into_bytes(), 1 + n))
                };
                match b {
                    0xC0 => int(2)?,
                    0xD0 => int(4)?,
                    0xE0 => int(8)?,
                    0xF0 => int(3)?,
                    0xFE => int(1)?,
                    0xF1..=0xFD => ((i64::from(b & 0x0f) - 1).to_string().into_bytes(), 1),
                    _ => return None,
                }
            }
        };
        out.push(value);
        at = at.checked_add(size)?;
    }
    Some(out)
}

/// The members of an intset: encoding (2, 4 or 8 bytes), count, little-endian values.
fn intset(is: &[u8]) -> Option<Vec<Vec<u8>>> {
    let width = u32::from_le_bytes(is.get(0..4)?.try_into().ok()?) as usize;
    let count = u32::from_le_bytes(is.get(4..8)?.try_into().ok()?) as usize;
    if ![2, 4, 8].contains(&width) || is.len() != 8 + width.checked_mul(count)? {
        return None;
    }
    Some(
        is[8..]
            .chunks_exact(width)
            .map(|c| le_int(c).to_string().into_bytes())
            .collect(),
    )
}

/// LZF decompression (liblzf's format, as Redis compresses RDB strings).
fn lzf_decompress(input: &[u8], len: usize) -> Option<Vec<u8>> {
    let mut out: Vec<u8> = Vec::with_capacity(len.min(input.len().saturating_mul(64)));
    let mut ip = 0;
    while ip < input.len() {
        let ctrl = usize::from(input[ip]);
        ip += 1;
        if ctrl < 32 {
            let run = input.get(ip..ip + ctrl + 1)?;
            out.extend_from_slice(run);
            ip += ctrl + 1;
        } else {
            let mut run = ctrl >> 5;
            if run == 7 {
                run += usize::from(*input.get(ip)?);
                ip += 1;
            }
            let back = ((ctrl & 0x1f) << 8) + usize::from(*input.get(ip)?) + 1;
            ip += 1;
            let from = out.len().checked_sub(back)?;
            for k in 0..run + 2 {
                let b = out[from + k];
                out.push(b);
            }
        }
        if out.len() > len {
            return None;
        }
    }
    (out.len() == len).then_some(out)
}

impl Database {
    /// The value of `key` for DUMP, with its expiry (Unix ms, 0 = none); `None` when
    /// missing. Streams are refused (`TypeError::Unsupported`).
    pub fn dump_value(&self, key: &[u8]) -> Result<Option<(Value, u64)>> {
        let Some(raw) = self.live_record(key)? else {
            return Ok(None);
        };
        let record = Database::decode(&raw)?;
        let expire = match &record {
            Record::String { expire_ms, .. } => *expire_ms,
            Record::Collection(meta) => meta.expire_ms,
        };
        let value = match record {
            Record::String { value, .. } => Value::String(value.to_vec()),
            Record::Collection(meta) => match meta.kind {
                DataType::List => Value::List(self.lrange(key, 0, -1)?),
                DataType::Set => Value::Set(self.smembers(key)?),
                DataType::Hash => Value::Hash(self.hgetall(key)?),
                DataType::ZSet => Value::ZSet(
                    self.zrange(key, &crate::RangeSpec::new(crate::RangeBy::Rank(0, -1)))?,
                ),
                _ => {
                    return Err(TypeError::Unsupported(
                        "DUMP of stream keys is not supported",
                    ))
                }
            },
        };
        Ok(Some((value, expire)))
    }

    /// RESTORE: writes `value` at `key` with an expiry (Unix ms, 0 = none), replacing
    /// what is there only with `replace`. False when the key exists and `replace` is
    /// not set (BUSYKEY).
    pub fn restore_value(
        &self,
        key: &[u8],
        value: &Value,
        expire_ms: u64,
        replace: bool,
    ) -> Result<bool> {
        let _guard = self.locks.lock_one(key);
        if !replace && self.live_record(key)?.is_some() {
            return Ok(false);
        }
        let mut batch = self.storage.batch();
        self.delete_into(&mut batch, key);
        let kind = match value {
            Value::String(s) => {
                batch.put(
                    Cf::Metadata,
                    ferrokv_storage::encoding::metadata_key(key),
                    encode_string(expire_ms, s),
                );
                self.storage.write(batch)?;
                return Ok(true);
            }
            Value::List(_) => DataType::List,
            Value::Set(_) => DataType::Set,
            Value::Hash(_) => DataType::Hash,
            Value::ZSet(_) => DataType::ZSet,
        };
        let mut meta: CollectionMeta = if kind == DataType::List {
            self.new_list_meta()
        } else {
            self.new_collection(kind)
        };
        let version = meta.version;
        match value {
            Value::List(items) => {
                let refs: Vec<&[u8]> = items.iter().map(Vec::as_slice).collect();
                self.push_all(&mut batch, key, &mut meta, &refs);
            }
            Value::Set(members) => {
                let mut seen = HashSet::new();
                for m in members.iter().filter(|m| seen.insert(m.as_slice())) {
                    self.put_member(&mut batch, key, version, m, b"");
                }
                meta.size = seen.len() as u64;
            }
            Value::Hash(pairs) => {
                let mut seen = HashSet::new();
                for (f, v) in pairs.iter().filter(|(f, _)| seen.insert(f.as_slice())) {
                    self.put_member(&mut batch, key, version, f, v);
                }
                meta.size = seen.len() as u64;
            }
            Value::ZSet(members) => {
                let mut seen = HashSet::new();
                for (m, s) in members.iter().filter(|(m, _)| seen.insert(m.as_slice())) {
                    self.zput_new(&mut batch, key, version, m, *s);
                }
                meta.size = seen.len() as u64;
            }
            Value::String(_) => {}
        }
        meta.expire_ms = expire_ms;
        self.put_collection(&mut batch, key, &meta);
        self.storage.write(batch)?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc64_is_redis() {
        // Redis' crc64.c test vector.
        assert_eq!(crc64(b"123456789"), 0xe9c6d914c4b8d9ca);
    }

    #[test]
    fn redis_payloads_decode() {
        // DUMP on redis-server 7.0.15 after `SET k hello`.
        let string = b"\x00\x05hello\x0a\x00cr\xdfve4 \x0a";
        assert_eq!(decode(string), Ok(Value::String(b"hello".to_vec())));
        let round = encode(&Value::List(vec![b"a".to_vec(), b"1".to_vec()]));
        assert_eq!(
            decode(&round),
            Ok(Value::List(vec![b"a".to_vec(), b"1".to_vec()]))
        );
        let mut bad = round.clone();
        let n = bad.len();
        bad[n - 1] ^= 1;
        assert_eq!(decode(&bad), Err(PayloadError::VersionOrChecksum));
        assert_eq!(decode(b"short"), Err(PayloadError::VersionOrChecksum));
    }

    #[test]
    fn compact_encodings_decode() {
        let mut lp = vec![0, 0, 0, 0, 3, 0];
        lp.extend_from_slice(&[0x05, 1]); // 7-bit uint 5
        lp.extend_from_slice(&[0x82, b'h', b'i', 3]); // 6-bit string "hi"
        lp.extend_from_slice(&[0xC0 | 0x1f, 0xff, 2]); // 13-bit int -1
        lp.push(0xFF);
        let total = lp.len() as u32;
        lp[..4].copy_from_slice(&total.to_le_bytes());
        assert_eq!(
            listpack(&lp),
            Some(vec![b"5".to_vec(), b"hi".to_vec(), b"-1".to_vec()])
        );
        let mut is = vec![2, 0, 0, 0, 2, 0, 0, 0];
        is.extend_from_slice(&(-3i16).to_le_bytes());
        is.extend_from_slice(&7i16.to_le_bytes());
        assert_eq!(intset(&is), Some(vec![b"-3".to_vec(), b"7".to_vec()]));
        // "aaaaaaaaaa": a literal 'a', then a back-reference of 9 bytes at distance 1.
        assert_eq!(
            lzf_decompress(&[0x00, b'a', 0xE0, 0x00, 0x00], 10),
            Some(b"aaaaaaaaaa".to_vec())
        );
    }
}
