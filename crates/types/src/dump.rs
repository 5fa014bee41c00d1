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
//! scores).
//!
//! Streams are written as `STREAM_LISTPACKS_2` (19), the type redis-server 7.0 writes:
//! entries in listpack nodes of at most 100 entries (Redis' `stream-node-max-entries`),
//! the stream's counters, then each consumer group with its pending entries (PEL) and
//! consumers. Read: 19, `STREAM_LISTPACKS` (15, Redis 5 and 6: no counters, which are
//! then derived as Redis 7.0 derives them) and `STREAM_LISTPACKS_3` (21, Redis 7.2: a
//! consumer's active time besides its seen time; Ferrokv keeps the seen time, as Redis
//! 7.0 does). A stream payload that is not self-consistent (a consumer's pending ID
//! missing from the group's PEL, a PEL entry no consumer owns, entries out of order or
//! not matching the stated length) is refused as `Bad data format`.

use std::collections::HashSet;

use ferrokv_storage::metadata::{encode_string, CollectionMeta, DataType, Record};
use ferrokv_storage::Cf;

use crate::{Database, PendingEntry, Result, StreamEntry, StreamId, TypeError};

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
const TYPE_STREAM_LISTPACKS: u8 = 15;
const TYPE_STREAM_LISTPACKS_2: u8 = 19;
const TYPE_SET_LISTPACK: u8 = 20;
const TYPE_STREAM_LISTPACKS_3: u8 = 21;

/// Redis' `stream-node-max-entries` and `stream-node-max-bytes` defaults: a node is
/// closed when it holds this many entries or this many bytes.
const STREAM_NODE_ENTRIES: usize = 100;
const STREAM_NODE_BYTES: usize = 4096;

/// Flags of a stream listpack entry (Redis' t_stream.c).
const STREAM_ITEM_DELETED: i64 = 1;
const STREAM_ITEM_SAMEFIELDS: i64 = 2;

/// A value as a payload carries it.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    String(Vec<u8>),
    List(Vec<Vec<u8>>),
    Set(Vec<Vec<u8>>),
    Hash(Vec<(Vec<u8>, Vec<u8>)>),
    ZSet(Vec<(Vec<u8>, f64)>),
    Stream(StreamValue),
}

/// A stream as a payload carries it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StreamValue {
    /// The entries, ascending by ID.
    pub entries: Vec<StreamEntry>,
    /// The last generated ID (XADD's floor).
    pub last_id: StreamId,
    /// The largest ID ever deleted (0-0 for none).
    pub max_deleted_id: StreamId,
    /// Entries ever added.
    pub entries_added: u64,
    /// Consumer groups, in any order.
    pub groups: Vec<StreamGroupValue>,
}

/// One consumer group of a [`StreamValue`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamGroupValue {
    pub name: Vec<u8>,
    /// The last ID delivered to the group.
    pub last_id: StreamId,
    /// The group's entries-read counter, `ENTRIES_READ_UNKNOWN` (-1) when unknown.
    pub entries_read: i64,
    /// The pending entries, ascending by ID, each with the consumer that owns it.
    pub pending: Vec<PendingEntry>,
    /// The consumers with their seen times (Unix ms), consumers without pending
    /// entries included.
    pub consumers: Vec<(Vec<u8>, u64)>,
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

/// Appends an RDB length (Redis' `rdbSaveLen`: 6, 14, 32 or 64 bits by size).
pub fn put_len(out: &mut Vec<u8>, len: u64) {
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
        Value::Stream(stream) => encode_stream(&mut out, stream),
    }
    out.extend_from_slice(&RDB_VERSION.to_le_bytes());
    let crc = crc64(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// A listpack under construction (Redis' listpack.c): a 6-byte header (total bytes,
/// element count), entries each followed by its back-length, and 0xFF.
struct ListpackWriter {
    buf: Vec<u8>,
    count: usize,
}

impl ListpackWriter {
    fn new() -> Self {
        ListpackWriter {
            buf: vec![0; 6],
            count: 0,
        }
    }

    /// Appends one element (its encoding and data) and its back-length.
    fn element(&mut self, encoded: &[u8]) {
        self.buf.extend_from_slice(encoded);
        let l = encoded.len() as u64;
        // The back-length: the element's size in 7-bit groups, most significant first,
        // all but the first group flagged with 0x80 (lpEncodeBacklen).
        let groups = match l {
            0..=127 => 1,
            128..=16382 => 2,
            16383..=2097150 => 3,
            2097151..=268435454 => 4,
            _ => 5,
        };
        for g in (0..groups).rev() {
            let part = ((l >> (7 * g)) & 0x7f) as u8;
            self.buf
                .push(if g == groups - 1 { part } else { part | 0x80 });
        }
        self.count += 1;
    }

    /// An integer in the smallest of listpack's integer encodings.
    fn int(&mut self, v: i64) {
        let mut e = Vec::with_capacity(9);
        if (0..=127).contains(&v) {
            e.push(v as u8);
        } else if (-4096..=4095).contains(&v) {
            let u = (v as u64) & 0x1fff;
            e.push(0xC0 | (u >> 8) as u8);
            e.push(u as u8);
        } else if (-32768..=32767).contains(&v) {
            e.push(0xF1);
            e.extend_from_slice(&(v as i16).to_le_bytes());
        } else if (-8_388_608..=8_388_607).contains(&v) {
            e.push(0xF2);
            e.extend_from_slice(&(v as i32).to_le_bytes()[..3]);
        } else if (i64::from(i32::MIN)..=i64::from(i32::MAX)).contains(&v) {
            e.push(0xF3);
            e.extend_from_slice(&(v as i32).to_le_bytes());
        } else {
            e.push(0xF4);
            e.extend_from_slice(&v.to_le_bytes());
        }
        self.element(&e);
    }

    /// A string, always in a string encoding (Redis would store integer-looking
    /// strings as integers; it reads both, and gives back the same text).
    fn string(&mut self, s: &[u8]) {
        let mut e = Vec::with_capacity(s.len() + 5);
        if s.len() < 64 {
            e.push(0x80 | s.len() as u8);
        } else if s.len() < 4096 {
            e.push(0xE0 | (s.len() >> 8) as u8);
            e.push(s.len() as u8);
        } else {
            e.push(0xF0);
            e.extend_from_slice(&(s.len() as u32).to_le_bytes());
        }
        e.extend_from_slice(s);
        self.element(&e);
    }

    fn finish(mut self) -> Vec<u8> {
        self.buf.push(0xFF);
        let total = self.buf.len() as u32;
        self.buf[..4].copy_from_slice(&total.to_le_bytes());
        let count = self.count.min(usize::from(u16::MAX)) as u16;
        self.buf[4..6].copy_from_slice(&count.to_le_bytes());
        self.buf
    }
}

/// The names of an entry's fields (`f1 v1 f2 v2 ...` → `f1 f2 ...`).
fn field_names(fields: &[Vec<u8>]) -> impl Iterator<Item = &[u8]> {
    fields.chunks_exact(2).map(|pair| pair[0].as_slice())
}

/// One listpack node of a stream: the master entry (live count, deleted count, the
/// first entry's field names, a 0 terminator), then each entry as flags, ID
/// differences to the master ID, values only (when its fields are the master's) or
/// field count and pairs, and its element count (t_stream.c's `streamAppendItem`).
fn stream_node(entries: &[StreamEntry]) -> (StreamId, Vec<u8>) {
    let master = entries[0].id;
    let master_fields: Vec<&[u8]> = field_names(&entries[0].fields).collect();
    let mut lp = ListpackWriter::new();
    lp.int(entries.len() as i64);
    lp.int(0);
    lp.int(master_fields.len() as i64);
    for f in &master_fields {
        lp.string(f);
    }
    lp.int(0);
    for entry in entries {
        let pairs = entry.fields.len() / 2;
        let same = pairs == master_fields.len()
            && field_names(&entry.fields)
                .zip(&master_fields)
                .all(|(a, b)| a == *b);
        lp.int(if same { STREAM_ITEM_SAMEFIELDS } else { 0 });
        // Differences as Redis computes them: unsigned subtraction read as signed.
        lp.int(entry.id.ms.wrapping_sub(master.ms) as i64);
        lp.int(entry.id.seq.wrapping_sub(master.seq) as i64);
        if same {
            for pair in entry.fields.chunks_exact(2) {
                lp.string(&pair[1]);
            }
            lp.int(pairs as i64 + 3);
        } else {
            lp.int(pairs as i64);
            for pair in entry.fields.chunks_exact(2) {
                lp.string(&pair[0]);
                lp.string(&pair[1]);
            }
            lp.int(2 * pairs as i64 + 4);
        }
    }
    (master, lp.finish())
}

/// Splits the entries into nodes as Redis fills them: a new node after 100 entries or
/// once the node reaches 4096 bytes.
fn stream_nodes(entries: &[StreamEntry]) -> Vec<(StreamId, Vec<u8>)> {
    let mut nodes = Vec::new();
    let mut start = 0;
    while start < entries.len() {
        let mut end = start;
        let mut bytes = 0usize;
        while end < entries.len() && end - start < STREAM_NODE_ENTRIES && bytes < STREAM_NODE_BYTES
        {
            bytes += entries[end]
                .fields
                .iter()
                .map(|f| f.len() + 2)
                .sum::<usize>()
                + 6;
            end += 1;
        }
        nodes.push(stream_node(&entries[start..end]));
        start = end;
    }
    nodes
}

fn put_id(out: &mut Vec<u8>, id: StreamId) {
    put_len(out, id.ms);
    put_len(out, id.seq);
}

/// A stream as `STREAM_LISTPACKS_2` (rdb.c's `rdbSaveObject`, Redis 7.0).
fn encode_stream(out: &mut Vec<u8>, stream: &StreamValue) {
    encode_stream_as(out, stream, TYPE_STREAM_LISTPACKS_2);
}

/// A stream as type `kind`: 19, or for tests of the reader 15 (without the counters)
/// or 21 (with an active time per consumer, here its seen time).
fn encode_stream_as(out: &mut Vec<u8>, stream: &StreamValue, kind: u8) {
    out.push(kind);
    let nodes = stream_nodes(&stream.entries);
    put_len(out, nodes.len() as u64);
    for (master, lp) in &nodes {
        put_string(out, &master.to_bytes());
        put_string(out, lp);
    }
    put_len(out, stream.entries.len() as u64);
    put_id(out, stream.last_id);
    if kind != TYPE_STREAM_LISTPACKS {
        put_id(out, stream.entries.first().map_or(StreamId::MIN, |e| e.id));
        put_id(out, stream.max_deleted_id);
        put_len(out, stream.entries_added);
    }
    put_len(out, stream.groups.len() as u64);
    for group in &stream.groups {
        put_string(out, &group.name);
        put_id(out, group.last_id);
        if kind != TYPE_STREAM_LISTPACKS {
            // -1 (unknown) goes out as the 64-bit length 2^64-1, as Redis writes it.
            put_len(out, group.entries_read as u64);
        }
        put_len(out, group.pending.len() as u64);
        for nack in &group.pending {
            out.extend_from_slice(&nack.id.to_bytes());
            out.extend_from_slice(&nack.delivery_ms.to_le_bytes());
            put_len(out, nack.deliveries);
        }
        put_len(out, group.consumers.len() as u64);
        for (name, seen_ms) in &group.consumers {
            put_string(out, name);
            out.extend_from_slice(&seen_ms.to_le_bytes());
            if kind == TYPE_STREAM_LISTPACKS_3 {
                out.extend_from_slice(&seen_ms.to_le_bytes());
            }
            let owned: Vec<&PendingEntry> = group
                .pending
                .iter()
                .filter(|p| p.consumer == *name)
                .collect();
            put_len(out, owned.len() as u64);
            for nack in owned {
                out.extend_from_slice(&nack.id.to_bytes());
            }
        }
    }
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

/// One key of an RDB file ([`parse_rdb`]).
#[derive(Debug)]
pub struct RdbEntry {
    /// The database number it was saved from (SELECTDB).
    pub db: u64,
    pub key: Vec<u8>,
    pub value: Value,
    /// Unix ms, 0 for none.
    pub expire_ms: u64,
}

/// Reads a whole RDB file as Redis writes it (`rdb.c`: `REDIS` and a 4-digit version
/// up to [`RDB_VERSION_MAX`], then auxiliary fields, SELECTDB, RESIZEDB, expiry, LRU
/// and LFU opcodes before each key, function libraries, and EOF with a CRC-64 of
/// everything before it, 0 meaning not computed), handing each key to `visit` in file
/// order. Errors: `BadFormat` for anything it cannot read (a module's data among them),
/// `VersionOrChecksum` for another version or a checksum that does not match.
pub fn parse_rdb<E>(
    data: &[u8],
    mut visit: impl FnMut(RdbEntry) -> std::result::Result<(), E>,
) -> std::result::Result<std::result::Result<(), E>, PayloadError> {
    const AUX: u8 = 0xFA;
    const RESIZEDB: u8 = 0xFB;
    const EXPIRETIME_MS: u8 = 0xFC;
    const EXPIRETIME: u8 = 0xFD;
    const SELECTDB: u8 = 0xFE;
    const EOF: u8 = 0xFF;
    const IDLE: u8 = 0xF8;
    const FREQ: u8 = 0xF9;
    const FUNCTION2: u8 = 0xF5;
    const SLOT_INFO: u8 = 0xF4;
    let version = data
        .strip_prefix(b"REDIS")
        .and_then(|rest| rest.get(..4))
        .and_then(|v| std::str::from_utf8(v).ok())
        .and_then(|v| v.parse::<u16>().ok())
        .ok_or(PayloadError::BadFormat)?;
    if !(1..=RDB_VERSION_MAX).contains(&version) {
        return Err(PayloadError::VersionOrChecksum);
    }
    let mut reader = Reader { data, at: 9 };
    let (mut db, mut expire_ms) = (0, 0);
    let bad = || PayloadError::BadFormat;
    loop {
        match reader.byte().ok_or_else(bad)? {
            AUX => {
                reader.string().ok_or_else(bad)?;
                reader.string().ok_or_else(bad)?;
            }
            RESIZEDB => {
                reader.len64().ok_or_else(bad)?;
                reader.len64().ok_or_else(bad)?;
            }
            SLOT_INFO => {
                for _ in 0..3 {
                    reader.len64().ok_or_else(bad)?;
                }
            }
            EXPIRETIME_MS => {
                let ms = reader.take(8).ok_or_else(bad)?;
                expire_ms = u64::from_le_bytes(ms.try_into().map_err(|_| bad())?);
            }
            EXPIRETIME => {
                let secs = reader.take(4).ok_or_else(bad)?;
                expire_ms =
                    u64::from(u32::from_le_bytes(secs.try_into().map_err(|_| bad())?)) * 1000;
            }
            SELECTDB => db = reader.len64().ok_or_else(bad)?,
            IDLE => {
                reader.len64().ok_or_else(bad)?;
            }
            FREQ => {
                reader.byte().ok_or_else(bad)?;
            }
            FUNCTION2 => {
                reader.string().ok_or_else(bad)?;
            }
            EOF => {
                if version >= 5 {
                    let sum = reader.take(8).ok_or_else(bad)?;
                    let sum = u64::from_le_bytes(sum.try_into().map_err(|_| bad())?);
                    if sum != 0 && sum != crc64(&data[..reader.at - 8]) {
                        return Err(PayloadError::VersionOrChecksum);
                    }
                }
                return Ok(Ok(()));
            }
            kind => {
                // A key: its type, its name, then its value in that type's encoding.
                let key = reader.string().ok_or_else(bad)?;
                let value = reader.object_of(kind).ok_or_else(bad)?;
                let entry = RdbEntry {
                    db,
                    key,
                    value,
                    expire_ms,
                };
                expire_ms = 0;
                if let Err(e) = visit(entry) {
                    return Ok(Err(e));
                }
            }
        }
    }
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
        self.object_of(kind)
    }

    /// A value of type `kind` (its type byte already read).
    fn object_of(&mut self, kind: u8) -> Option<Value> {
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
            TYPE_STREAM_LISTPACKS | TYPE_STREAM_LISTPACKS_2 | TYPE_STREAM_LISTPACKS_3 => {
                Value::Stream(self.stream(kind)?)
            }
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

    /// A 64-bit length (Redis saves stream IDs and counters with `rdbSaveLen`).
    fn len64(&mut self) -> Option<u64> {
        match self.len_or_encoding()? {
            Len::Plain(n) => Some(n),
            Len::Encoded(_) => None,
        }
    }

    fn id(&mut self) -> Option<StreamId> {
        Some(StreamId::new(self.len64()?, self.len64()?))
    }

    /// A stream ID written raw (16 bytes, big-endian), as in PELs.
    fn raw_id(&mut self) -> Option<StreamId> {
        StreamId::from_bytes(self.take(16)?)
    }

    /// A millisecond time written raw (8 bytes, little-endian).
    fn millis(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }

    /// A stream of type 15, 19 or 21 (rdb.c's `rdbLoadObject`).
    fn stream(&mut self, kind: u8) -> Option<StreamValue> {
        let nodes = self.count()?;
        let mut entries: Vec<StreamEntry> = Vec::new();
        for _ in 0..nodes {
            let key = self.string()?;
            if key.len() != 16 {
                return None;
            }
            let master = StreamId::from_bytes(&key)?;
            let elements = listpack(&self.string()?)?;
            let before = entries.len();
            stream_node_entries(master, &elements, &mut entries)?;
            // A node holds at least one live entry (Redis drops emptied nodes).
            if entries.len() == before {
                return None;
            }
        }
        if entries.windows(2).any(|w| w[0].id >= w[1].id) {
            return None;
        }
        let length = self.len64()?;
        let last_id = self.id()?;
        if length != entries.len() as u64 || entries.last().is_some_and(|e| e.id > last_id) {
            return None;
        }
        let (max_deleted_id, entries_added) = if kind == TYPE_STREAM_LISTPACKS {
            // Redis 7.0 loads these counters as unknown past deletions: nothing deleted,
            // every present entry added.
            (StreamId::MIN, length)
        } else {
            let _first_id = self.id()?;
            (self.id()?, self.len64()?)
        };
        let first_id = entries.first().map_or(StreamId::MIN, |e| e.id);
        let mut stream = StreamValue {
            entries,
            last_id,
            max_deleted_id,
            entries_added,
            groups: Vec::new(),
        };
        let groups = self.count()?;
        let mut names = HashSet::new();
        for _ in 0..groups {
            let name = self.string()?;
            if !names.insert(name.clone()) {
                return None;
            }
            let group_last = self.id()?;
            let entries_read = if kind == TYPE_STREAM_LISTPACKS {
                crate::stream_group::estimate_entries_read(
                    stream.entries.len() as u64,
                    last_id,
                    max_deleted_id,
                    entries_added,
                    first_id,
                    group_last,
                )
            } else {
                self.len64()? as i64
            };
            // The group's PEL: ID, delivery time and count; owners come with the
            // consumers.
            let mut pel: std::collections::BTreeMap<StreamId, PendingEntry> =
                std::collections::BTreeMap::new();
            for _ in 0..self.count()? {
                let id = self.raw_id()?;
                let entry = PendingEntry {
                    id,
                    delivery_ms: self.millis()?,
                    deliveries: self.len64()?,
                    consumer: Vec::new(),
                };
                if pel.insert(id, entry).is_some() {
                    return None;
                }
            }
            let mut consumers: Vec<(Vec<u8>, u64)> = Vec::new();
            let mut owners = HashSet::new();
            for _ in 0..self.count()? {
                let consumer = self.string()?;
                if !owners.insert(consumer.clone()) {
                    return None;
                }
                let seen_ms = self.millis()?;
                if kind == TYPE_STREAM_LISTPACKS_3 {
                    let _active_ms = self.millis()?;
                }
                for _ in 0..self.count()? {
                    let id = self.raw_id()?;
                    match pel.get_mut(&id) {
                        Some(nack) if nack.consumer.is_empty() => nack.consumer = consumer.clone(),
                        // Not in the group's PEL, or already owned.
                        _ => return None,
                    }
                }
                consumers.push((consumer, seen_ms));
            }
            // A pending entry without an owner cannot be stored (nor acked by anyone).
            if pel.values().any(|nack| nack.consumer.is_empty()) {
                return None;
            }
            stream.groups.push(StreamGroupValue {
                name,
                last_id: group_last,
                entries_read,
                pending: pel.into_values().collect(),
                consumers,
            });
        }
        Some(stream)
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

/// An element of a stream listpack read as an integer (Redis writes them as listpack
/// integers; the reader gives their text).
fn lp_int(element: &[u8]) -> Option<i64> {
    std::str::from_utf8(element).ok()?.parse().ok()
}

/// The live entries of one stream listpack node whose master ID is `master` (the
/// layout [`stream_node`] writes; entries flagged deleted are skipped).
fn stream_node_entries(
    master: StreamId,
    elements: &[Vec<u8>],
    out: &mut Vec<StreamEntry>,
) -> Option<()> {
    let mut it = elements.iter();
    let mut next = || it.next();
    let live = lp_int(next()?)?;
    let deleted = lp_int(next()?)?;
    let master_count = usize::try_from(lp_int(next()?)?).ok()?;
    if master_count > elements.len() {
        return None;
    }
    let mut master_fields = Vec::with_capacity(master_count);
    for _ in 0..master_count {
        master_fields.push(next()?.clone());
    }
    if lp_int(next()?)? != 0 {
        return None;
    }
    let (mut seen_live, mut seen_deleted) = (0i64, 0i64);
    while let Some(flags) = next() {
        let flags = lp_int(flags)?;
        let ms = master.ms.wrapping_add(lp_int(next()?)? as u64);
        let seq = master.seq.wrapping_add(lp_int(next()?)? as u64);
        let mut fields = Vec::new();
        let pieces = if flags & STREAM_ITEM_SAMEFIELDS != 0 {
            for name in &master_fields {
                fields.push(name.clone());
                fields.push(next()?.clone());
            }
            master_count + 3
        } else {
            let n = usize::try_from(lp_int(next()?)?).ok()?;
            if n > elements.len() {
                return None;
            }
            for _ in 0..2 * n {
                fields.push(next()?.clone());
            }
            2 * n + 4
        };
        if usize::try_from(lp_int(next()?)?).ok()? != pieces {
            return None;
        }
        if flags & STREAM_ITEM_DELETED != 0 {
            seen_deleted += 1;
        } else {
            seen_live += 1;
            out.push(StreamEntry {
                id: StreamId::new(ms, seq),
                fields,
            });
        }
    }
    (seen_live == live && seen_deleted == deleted).then_some(())
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

/// LZF decompression (liblzf's format, as Redis compresses RDB strings) into exactly
/// `len` bytes; `None` for a malformed or mis-sized input.
pub fn lzf_decompress(input: &[u8], len: usize) -> Option<Vec<u8>> {
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
    /// missing. Types without a Redis serialization (none today) are refused
    /// (`TypeError::Unsupported`).
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
                DataType::Stream => match self.stream_value(key)? {
                    Some(stream) => Value::Stream(stream),
                    None => return Ok(None),
                },
                _ => {
                    return Err(TypeError::Unsupported(
                        "DUMP of this key type is not supported",
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
            Value::Stream(stream) => {
                let mut meta = self.new_collection(DataType::Stream);
                meta.expire_ms = expire_ms;
                self.put_stream_value(&mut batch, key, &mut meta, stream);
                self.storage.write(batch)?;
                return Ok(true);
            }
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
            Value::String(_) | Value::Stream(_) => {}
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

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// Body + RDB version 10 + CRC, as a payload.
    fn seal(body: &[u8]) -> Vec<u8> {
        let mut out = body.to_vec();
        out.extend_from_slice(&RDB_VERSION.to_le_bytes());
        let crc = crc64(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }

    /// DUMP on redis-server 7.0.15 of a stream after `XADD s 1-1 a 1 b 2`, `XADD s 1-2 a
    /// 3 b 4`, `XADD s 2-0 c hello`, `XDEL s 1-2`, `XGROUP CREATE s g1 0`, `XGROUP
    /// CREATE s g2 $`, alice reading one entry and bob the rest in g1, and `XGROUP
    /// CREATECONSUMER s g1 carol`: type 19, its listpack LZF-compressed.
    const REDIS_STREAM: &str = "13011000000000000000010000000000000001c33d40421242000000190002010101020181610281620200200900002001401102050103600902030104200b401301dfff202b0c8163028568656c6c6f060601ff02020001010102030202673102000302000000000000000100000000000000018d58e62ea201000001000000000000000200000000000000009e58e62ea2010000010305616c6963658d58e62ea2010000010000000000000001000000000000000103626f629e58e62ea20100000100000000000000020000000000000000056361726f6cac58e62ea201000000026732020081ffffffffffffffff00000a001135d854265eec92";

    #[test]
    fn redis_stream_payload_decodes_and_round_trips() {
        let Ok(Value::Stream(stream)) = decode(&hex(REDIS_STREAM)) else {
            panic!("not a stream");
        };
        let text = |v: &[&str]| v.iter().map(|s| s.as_bytes().to_vec()).collect::<Vec<_>>();
        assert_eq!(
            stream.entries,
            vec![
                StreamEntry {
                    id: StreamId::new(1, 1),
                    fields: text(&["a", "1", "b", "2"]),
                },
                StreamEntry {
                    id: StreamId::new(2, 0),
                    fields: text(&["c", "hello"]),
                },
            ]
        );
        assert_eq!(stream.last_id, StreamId::new(2, 0));
        assert_eq!(stream.max_deleted_id, StreamId::new(1, 2));
        assert_eq!(stream.entries_added, 3);
        let [g1, g2] = &stream.groups[..] else {
            panic!("two groups: {:?}", stream.groups);
        };
        assert_eq!(
            (g1.name.as_slice(), g1.last_id, g1.entries_read),
            (&b"g1"[..], StreamId::new(2, 0), 3)
        );
        let delivered = u64::from_le_bytes([0x8d, 0x58, 0xe6, 0x2e, 0xa2, 0x01, 0, 0]);
        assert_eq!(
            g1.pending,
            vec![
                PendingEntry {
                    id: StreamId::new(1, 1),
                    consumer: b"alice".to_vec(),
                    delivery_ms: delivered,
                    deliveries: 1,
                },
                PendingEntry {
                    id: StreamId::new(2, 0),
                    consumer: b"bob".to_vec(),
                    delivery_ms: u64::from_le_bytes([0x9e, 0x58, 0xe6, 0x2e, 0xa2, 0x01, 0, 0]),
                    deliveries: 1,
                },
            ]
        );
        let names: Vec<&[u8]> = g1.consumers.iter().map(|(n, _)| n.as_slice()).collect();
        assert_eq!(names, vec![&b"alice"[..], b"bob", b"carol"]);
        assert_eq!(
            (g2.entries_read, g2.pending.len(), g2.consumers.len()),
            (-1, 0, 0)
        );
        // What Ferrokv writes reads back the same.
        let value = Value::Stream(stream);
        assert_eq!(decode(&encode(&value)), Ok(value));
    }

    #[test]
    fn older_and_newer_stream_types_decode() {
        let Ok(Value::Stream(stream)) = decode(&hex(REDIS_STREAM)) else {
            panic!("not a stream");
        };
        // Redis 7.2's type 21: the same, with active times that Ferrokv does not keep.
        let mut body = Vec::new();
        encode_stream_as(&mut body, &stream, TYPE_STREAM_LISTPACKS_3);
        assert_eq!(decode(&seal(&body)), Ok(Value::Stream(stream.clone())));
        // Redis 5/6's type 15: no counters; Redis 7.0 takes every present entry as
        // added, nothing as deleted, and estimates the groups' entries read.
        let mut body = Vec::new();
        encode_stream_as(&mut body, &stream, TYPE_STREAM_LISTPACKS);
        let Ok(Value::Stream(old)) = decode(&seal(&body)) else {
            panic!("type 15 not read");
        };
        assert_eq!((old.entries_added, old.max_deleted_id), (2, StreamId::MIN));
        assert_eq!(old.groups[0].entries_read, 2);
        assert_eq!(old.groups[0].pending, stream.groups[0].pending);
        assert_eq!(old.entries, stream.entries);
    }

    #[test]
    fn stream_nodes_split_and_fields_differ() {
        let entries: Vec<StreamEntry> = (0..250u64)
            .map(|i| StreamEntry {
                id: StreamId::new(
                    1_700_000_000_000 + i / 3,
                    if i % 3 == 2 { u64::MAX } else { i % 3 },
                ),
                fields: if i % 7 == 0 {
                    vec![
                        b"other".to_vec(),
                        vec![b'x'; i as usize],
                        b"f".to_vec(),
                        b"-5".to_vec(),
                    ]
                } else {
                    vec![b"f".to_vec(), i.to_string().into_bytes()]
                },
            })
            .collect();
        let stream = StreamValue {
            last_id: entries[249].id,
            entries_added: 300,
            max_deleted_id: StreamId::new(5, 5),
            entries,
            groups: Vec::new(),
        };
        assert!(stream_nodes(&stream.entries).len() >= 3);
        let value = Value::Stream(stream);
        assert_eq!(decode(&encode(&value)), Ok(value));
    }

    #[test]
    fn inconsistent_stream_payloads_are_bad_format() {
        let payload = hex(REDIS_STREAM);
        let body = &payload[..payload.len() - 10];
        // carol claims 1-1, which alice owns already.
        let carol = body.windows(5).position(|w| w == b"carol").expect("carol");
        let mut stolen = body[..carol + 5 + 8].to_vec();
        stolen.push(1);
        stolen.extend_from_slice(&StreamId::new(1, 1).to_bytes());
        stolen.extend_from_slice(&body[carol + 5 + 8 + 1..]);
        assert_eq!(decode(&seal(&stolen)), Err(PayloadError::BadFormat));
        // Truncated after the groups' count.
        assert_eq!(
            decode(&seal(&body[..body.len() - 4])),
            Err(PayloadError::BadFormat)
        );
        // An unknown type byte.
        let mut unknown = body.to_vec();
        unknown[0] = 30;
        assert_eq!(decode(&seal(&unknown)), Err(PayloadError::BadFormat));
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

    /// A small RDB file written by hand: two databases, an expiry, an auxiliary field.
    fn small_rdb() -> Vec<u8> {
        let mut file = b"REDIS0011".to_vec();
        file.push(0xFA);
        put_string(&mut file, b"redis-ver");
        put_string(&mut file, b"7.2.0");
        file.extend_from_slice(&[0xFE, 0x00, 0xFB, 0x02, 0x01]);
        file.push(0xFC);
        file.extend_from_slice(&1_900_000_000_000u64.to_le_bytes());
        file.push(TYPE_STRING);
        put_string(&mut file, b"k");
        put_string(&mut file, b"v");
        file.push(TYPE_LIST);
        put_string(&mut file, b"l");
        put_len(&mut file, 1);
        put_string(&mut file, b"e");
        file.extend_from_slice(&[0xFE, 0x01, TYPE_STRING]);
        put_string(&mut file, b"other");
        put_string(&mut file, b"db");
        file.push(0xFF);
        let sum = crc64(&file);
        file.extend_from_slice(&sum.to_le_bytes());
        file
    }

    #[test]
    fn rdb_files_parse_with_databases_and_expiries() {
        let mut seen = Vec::new();
        let outcome = parse_rdb(&small_rdb(), |e| {
            seen.push((e.db, e.key, e.value, e.expire_ms));
            Ok::<(), ()>(())
        });
        assert_eq!(outcome, Ok(Ok(())));
        assert_eq!(
            seen,
            vec![
                (
                    0,
                    b"k".to_vec(),
                    Value::String(b"v".to_vec()),
                    1_900_000_000_000
                ),
                (0, b"l".to_vec(), Value::List(vec![b"e".to_vec()]), 0),
                (1, b"other".to_vec(), Value::String(b"db".to_vec()), 0),
            ]
        );
    }

    #[test]
    fn damaged_rdb_files_are_errors_never_panics() {
        let file = small_rdb();
        for cut in 0..file.len() {
            let outcome = parse_rdb(&file[..cut], |_| Ok::<(), ()>(()));
            assert!(outcome.is_err(), "cut at {cut}");
        }
        // (Past the version: an older version's file has no checksum to catch a flip.)
        for at in 9..file.len() {
            for flip in [0x01u8, 0x80, 0xFF] {
                let mut bad = file.clone();
                bad[at] ^= flip;
                // Any answer but a panic; a flipped byte is caught by the checksum.
                let outcome = parse_rdb(&bad, |_| Ok::<(), ()>(()));
                assert!(outcome.is_err(), "byte {at} ^ {flip:#x}");
            }
        }
        let mut unchecked = file.clone();
        let len = unchecked.len();
        unchecked[len - 8..].fill(0);
        assert_eq!(parse_rdb(&unchecked, |_| Ok::<(), ()>(())), Ok(Ok(())));
        assert_eq!(
            parse_rdb(b"REDIS0099\xff", |_| Ok::<(), ()>(())),
            Err(PayloadError::VersionOrChecksum)
        );
        assert_eq!(
            parse_rdb(b"NOTREDIS", |_| Ok::<(), ()>(())),
            Err(PayloadError::BadFormat)
        );
    }
}
