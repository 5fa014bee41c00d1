//! Streams: one member record per entry, keyed by the entry ID (`[ms:8 BE][seq:8 BE]`,
//! so member order is ID order), valued with the entry's field/value list. The metadata
//! `extra` keeps what Redis keeps beside the entries: the last generated ID, the number
//! of entries ever added and the largest deleted ID. The first entry's ID is derived
//! (one seek). Unlike other collections, an empty stream is kept, as in Redis.

use std::fmt;

use ferrokv_storage::encoding::metadata_key;
use ferrokv_storage::metadata::{self, CollectionMeta, DataType};
use ferrokv_storage::{now_ms, Batch, Cf, StorageError};

use crate::{Database, Result, TypeError};

/// Redis' `stream-node-max-entries`: approximate trimming (`~`) removes whole blocks
/// of this many entries (counted from the oldest), as Redis removes whole radix-tree
/// nodes.
const NODE_ENTRIES: u64 = 100;

/// A stream entry ID, `ms-seq`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct StreamId {
    pub ms: u64,
    pub seq: u64,
}

impl StreamId {
    pub const MIN: StreamId = StreamId { ms: 0, seq: 0 };
    pub const MAX: StreamId = StreamId {
        ms: u64::MAX,
        seq: u64::MAX,
    };

    pub const fn new(ms: u64, seq: u64) -> Self {
        StreamId { ms, seq }
    }

    /// The member part of the entry's stored key.
    pub fn to_bytes(self) -> [u8; 16] {
        let mut out = [0u8; 16];
        out[..8].copy_from_slice(&self.ms.to_be_bytes());
        out[8..].copy_from_slice(&self.seq.to_be_bytes());
        out
    }

    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        let ms = u64::from_be_bytes(bytes.get(..8)?.try_into().ok()?);
        let seq = u64::from_be_bytes(bytes.get(8..16)?.try_into().ok()?);
        Some(StreamId { ms, seq })
    }

    /// The next ID, `None` after the last possible one.
    pub fn next(self) -> Option<Self> {
        if self.seq < u64::MAX {
            Some(StreamId::new(self.ms, self.seq + 1))
        } else if self.ms < u64::MAX {
            Some(StreamId::new(self.ms + 1, 0))
        } else {
            None
        }
    }

    /// The previous ID, `None` before 0-0.
    pub fn prev(self) -> Option<Self> {
        if self.seq > 0 {
            Some(StreamId::new(self.ms, self.seq - 1))
        } else if self.ms > 0 {
            Some(StreamId::new(self.ms - 1, u64::MAX))
        } else {
            None
        }
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

/// One entry: its ID and its fields and values, flattened (`f1 v1 f2 v2 ...`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamEntry {
    pub id: StreamId,
    pub fields: Vec<Vec<u8>>,
}

/// The ID argument of XADD.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdSpec {
    /// `*`: from the clock.
    Auto,
    /// `ms-*`: the given time, the next free sequence.
    AutoSeq(u64),
    /// `ms-seq` (or `ms`, sequence 0).
    Explicit(StreamId),
}

/// What XTRIM (or XADD's trim option) keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrimStrategy {
    /// At most this many entries.
    MaxLen(u64),
    /// No entry with a smaller ID.
    MinId(StreamId),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trim {
    pub strategy: TrimStrategy,
    /// `~`: only whole nodes of 100 entries are removed (as in Redis), so more may remain.
    pub approx: bool,
    /// Most entries one trim removes (`~` only); 0 = no limit.
    pub limit: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct XAddOptions {
    /// NOMKSTREAM: do not create a missing stream.
    pub no_create: bool,
    pub id: IdSpec,
    pub trim: Option<Trim>,
}

/// What XINFO STREAM reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamInfo {
    pub length: u64,
    pub last_id: StreamId,
    pub max_deleted_id: StreamId,
    pub entries_added: u64,
    /// ID of the first entry, 0-0 when empty.
    pub first_id: StreamId,
    pub first: Option<StreamEntry>,
    pub last: Option<StreamEntry>,
    /// XINFO STREAM FULL: the first entries.
    pub entries: Vec<StreamEntry>,
    /// The number of consumer groups.
    pub groups: u64,
    /// XINFO STREAM FULL: the groups, their PELs and consumers.
    pub group_details: Vec<crate::stream_group::GroupDetail>,
}

/// The stream-specific part of the metadata record (`extra`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct StreamState {
    pub(crate) last_id: StreamId,
    pub(crate) entries_added: u64,
    pub(crate) max_deleted_id: StreamId,
}

impl StreamState {
    fn decode(extra: &[u8]) -> Result<Self> {
        if extra.is_empty() {
            return Ok(StreamState::default());
        }
        let corrupt = || TypeError::Storage(StorageError::Corrupt("stream metadata"));
        let last_id = StreamId::from_bytes(extra).ok_or_else(corrupt)?;
        let added: [u8; 8] = extra
            .get(16..24)
            .and_then(|s| s.try_into().ok())
            .ok_or_else(corrupt)?;
        let max_deleted_id =
            StreamId::from_bytes(extra.get(24..).ok_or_else(corrupt)?).ok_or_else(corrupt)?;
        Ok(StreamState {
            last_id,
            entries_added: u64::from_be_bytes(added),
            max_deleted_id,
        })
    }

    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(40);
        out.extend_from_slice(&self.last_id.to_bytes());
        out.extend_from_slice(&self.entries_added.to_be_bytes());
        out.extend_from_slice(&self.max_deleted_id.to_bytes());
        out
    }
}

/// Encodes an entry's fields and values: `[len:4 BE][bytes]` each.
pub(crate) fn encode_fields(fields: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::with_capacity(fields.iter().map(|f| f.len() + 4).sum());
    for field in fields {
        out.extend_from_slice(&(field.len() as u32).to_be_bytes());
        out.extend_from_slice(field);
    }
    out
}

pub(crate) fn decode_fields(mut bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while bytes.len() >= 4 {
        let len = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize;
        let end = (4 + len).min(bytes.len());
        out.push(bytes[4..end].to_vec());
        bytes = &bytes[end..];
    }
    out
}

impl Database {
    /// The live stream at `key`: metadata and stream state; WRONGTYPE for other types.
    pub(crate) fn stream(&self, key: &[u8]) -> Result<Option<(CollectionMeta, StreamState)>> {
        match self.collection(key, DataType::Stream)? {
            Some(meta) => {
                let state = StreamState::decode(&meta.extra)?;
                Ok(Some((meta, state)))
            }
            None => Ok(None),
        }
    }

    /// Writes the stream's metadata; an empty stream is kept (unlike other collections).
    pub(crate) fn put_stream(
        &self,
        batch: &mut Batch<'_>,
        key: &[u8],
        meta: &mut CollectionMeta,
        state: &StreamState,
    ) {
        meta.extra = state.encode();
        batch.put(
            Cf::Metadata,
            metadata_key(key),
            metadata::encode_collection(meta),
        );
    }

    /// Entries with IDs in `[start, end]`, ascending (or descending), at most `count`.
    /// One bounded range scan: the iterator never leaves the requested IDs.
    pub(crate) fn stream_entries(
        &self,
        key: &[u8],
        version: u64,
        start: StreamId,
        end: StreamId,
        count: Option<usize>,
        reverse: bool,
    ) -> Result<Vec<StreamEntry>> {
        let mut out = Vec::new();
        if start > end || count == Some(0) {
            return Ok(out);
        }
        let limit = count.unwrap_or(usize::MAX);
        let from = if reverse { end } else { start };
        let mut corrupt = false;
        self.scan_members(
            Cf::Members,
            key,
            version,
            &from.to_bytes(),
            reverse,
            |k, v| {
                let Some(id) = StreamId::from_bytes(k) else {
                    corrupt = true;
                    return false;
                };
                if id < start || id > end {
                    return false;
                }
                out.push(StreamEntry {
                    id,
                    fields: decode_fields(v),
                });
                out.len() < limit
            },
        )?;
        if corrupt {
            return Err(StorageError::Corrupt("stream entry key").into());
        }
        Ok(out)
    }

    /// IDs of the first `n` entries (ascending).
    fn first_ids(&self, key: &[u8], version: u64, n: u64) -> Result<Vec<StreamId>> {
        let mut out = Vec::new();
        if n == 0 {
            return Ok(out);
        }
        self.scan_members(Cf::Members, key, version, &[], false, |member, _| {
            if let Some(id) = StreamId::from_bytes(member) {
                out.push(id);
            }
            (out.len() as u64) < n
        })?;
        Ok(out)
    }

    /// Adds the removal of the oldest entries that `trim` asks for to `batch`; returns
    /// how many. `pending` is an entry this same command added and has not written
    /// yet: the newest one, so it is read from nowhere but counts like the others.
    fn trim_into(
        &self,
        batch: &mut Batch<'_>,
        key: &[u8],
        meta: &mut CollectionMeta,
        trim: &Trim,
        pending: Option<StreamId>,
    ) -> Result<u64> {
        let length = meta.size;
        let stored = length - u64::from(pending.is_some());
        // How many of the oldest entries are below MINID (all of them can go).
        let below = match trim.strategy {
            TrimStrategy::MaxLen(_) => 0,
            TrimStrategy::MinId(min) => {
                let mut below = 0u64;
                self.scan_members(Cf::Members, key, meta.version, &[], false, |member, _| {
                    match StreamId::from_bytes(member) {
                        Some(id) if id < min => {
                            below += 1;
                            true
                        }
                        _ => false,
                    }
                })?;
                if below == stored && pending.is_some_and(|p| p < min) {
                    below += 1;
                }
                below
            }
        };
        let remove = if trim.approx {
            // Like Redis, remove whole nodes of NODE_ENTRIES entries (the oldest node
            // first, the newest one partial) while the whole node may go, within LIMIT.
            let mut removed = 0u64;
            while removed < length {
                let remaining = length - removed;
                let node = remaining.min(NODE_ENTRIES);
                if trim.limit > 0 && removed + node > trim.limit {
                    break;
                }
                let whole_node_goes = match trim.strategy {
                    TrimStrategy::MaxLen(max) => remaining > max && remaining - node >= max,
                    TrimStrategy::MinId(_) => removed + node <= below,
                };
                if !whole_node_goes {
                    break;
                }
                removed += node;
            }
            removed
        } else {
            match trim.strategy {
                TrimStrategy::MaxLen(max) => length.saturating_sub(max),
                TrimStrategy::MinId(_) => below,
            }
        };
        if remove == 0 {
            return Ok(0);
        }
        let from_store = remove.min(stored);
        for id in self.first_ids(key, meta.version, from_store)? {
            self.delete_member(batch, key, meta.version, &id.to_bytes());
        }
        if remove > from_store {
            if let Some(p) = pending {
                self.delete_member(batch, key, meta.version, &p.to_bytes());
            }
        }
        meta.size -= remove;
        Ok(remove)
    }

    /// XADD: appends an entry (`fields` = field value field value ...); `None` when
    /// NOMKSTREAM and the stream does not exist.
    pub fn xadd(
        &self,
        key: &[u8],
        fields: &[&[u8]],
        options: &XAddOptions,
    ) -> Result<Option<StreamId>> {
        if options.id == IdSpec::Explicit(StreamId::MIN) {
            return Err(TypeError::StreamIdZero);
        }
        let _guard = self.locks.lock_one(key);
        let (mut meta, mut state) = match self.stream(key)? {
            Some(found) => found,
            None if options.no_create => return Ok(None),
            None => (
                self.new_collection(DataType::Stream),
                StreamState::default(),
            ),
        };
        if state.last_id == StreamId::MAX {
            return Err(TypeError::StreamExhausted);
        }
        let id = match options.id {
            IdSpec::Auto => {
                let now = now_ms();
                if now > state.last_id.ms {
                    StreamId::new(now, 0)
                } else {
                    state.last_id.next().ok_or(TypeError::StreamExhausted)?
                }
            }
            IdSpec::AutoSeq(ms) if ms == state.last_id.ms => {
                if state.last_id.seq == u64::MAX {
                    return Err(TypeError::StreamIdTooSmall);
                }
                StreamId::new(ms, state.last_id.seq + 1)
            }
            IdSpec::AutoSeq(ms) => StreamId::new(ms, 0),
            IdSpec::Explicit(id) => id,
        };
        if id <= state.last_id {
            return Err(TypeError::StreamIdTooSmall);
        }
        let mut batch = self.storage.batch();
        self.put_member(
            &mut batch,
            key,
            meta.version,
            &id.to_bytes(),
            &encode_fields(fields),
        );
        meta.size += 1;
        state.last_id = id;
        state.entries_added += 1;
        if let Some(trim) = &options.trim {
            self.trim_into(&mut batch, key, &mut meta, trim, Some(id))?;
        }
        self.put_stream(&mut batch, key, &mut meta, &state);
        self.storage.write(batch)?;
        Ok(Some(id))
    }

    /// XLEN.
    pub fn xlen(&self, key: &[u8]) -> Result<u64> {
        Ok(self.stream(key)?.map_or(0, |(meta, _)| meta.size))
    }

    /// XRANGE/XREVRANGE: entries with IDs in `[start, end]` (inclusive), at most `count`.
    pub fn xrange(
        &self,
        key: &[u8],
        start: StreamId,
        end: StreamId,
        count: Option<usize>,
        reverse: bool,
    ) -> Result<Vec<StreamEntry>> {
        let Some((meta, _)) = self.stream(key)? else {
            return Ok(Vec::new());
        };
        self.stream_entries(key, meta.version, start, end, count, reverse)
    }

    /// The last generated ID of a stream (XREAD `$`); `None` if there is no stream.
    pub fn stream_last_id(&self, key: &[u8]) -> Result<Option<StreamId>> {
        Ok(self.stream(key)?.map(|(_, state)| state.last_id))
    }

    /// XDEL: how many of `ids` existed.
    pub fn xdel(&self, key: &[u8], ids: &[StreamId]) -> Result<u64> {
        let _guard = self.locks.lock_one(key);
        let Some((mut meta, mut state)) = self.stream(key)? else {
            return Ok(0);
        };
        let mut batch = self.storage.batch();
        let mut deleted = 0;
        let mut seen = std::collections::HashSet::new();
        for id in ids {
            if seen.insert(*id) && self.member(key, meta.version, &id.to_bytes())?.is_some() {
                self.delete_member(&mut batch, key, meta.version, &id.to_bytes());
                state.max_deleted_id = state.max_deleted_id.max(*id);
                deleted += 1;
            }
        }
        if deleted > 0 {
            meta.size -= deleted.min(meta.size);
            self.put_stream(&mut batch, key, &mut meta, &state);
            self.storage.write(batch)?;
        }
        Ok(deleted)
    }

    /// XTRIM: how many entries were removed.
    pub fn xtrim(&self, key: &[u8], trim: &Trim) -> Result<u64> {
        let _guard = self.locks.lock_one(key);
        let Some((mut meta, state)) = self.stream(key)? else {
            return Ok(0);
        };
        let mut batch = self.storage.batch();
        let removed = self.trim_into(&mut batch, key, &mut meta, trim, None)?;
        if removed > 0 {
            self.put_stream(&mut batch, key, &mut meta, &state);
            self.storage.write(batch)?;
        }
        Ok(removed)
    }

    /// XINFO STREAM; `full` = XINFO STREAM FULL with this many entries (0 = all).
    pub fn xinfo_stream(&self, key: &[u8], full: Option<usize>) -> Result<Option<StreamInfo>> {
        let Some((meta, state)) = self.stream(key)? else {
            return Ok(None);
        };
        let first = self
            .stream_entries(
                key,
                meta.version,
                StreamId::MIN,
                StreamId::MAX,
                Some(1),
                false,
            )?
            .pop();
        let last = self
            .stream_entries(
                key,
                meta.version,
                StreamId::MIN,
                StreamId::MAX,
                Some(1),
                true,
            )?
            .pop();
        let entries = match full {
            None => Vec::new(),
            Some(count) => self.stream_entries(
                key,
                meta.version,
                StreamId::MIN,
                StreamId::MAX,
                (count > 0).then_some(count),
                false,
            )?,
        };
        let group_details = match full {
            None => Vec::new(),
            Some(count) => self.group_details(key, &meta, state, count)?,
        };
        Ok(Some(StreamInfo {
            groups: self.group_count(key, meta.version)?,
            group_details,
            length: meta.size,
            last_id: state.last_id,
            max_deleted_id: state.max_deleted_id,
            entries_added: state.entries_added,
            first_id: first.as_ref().map_or(StreamId::MIN, |e| e.id),
            first,
            last,
            entries,
        }))
    }

    /// XSETID: sets the last generated ID (and optionally the entries-added counter and
    /// the largest deleted ID) with Redis' checks.
    pub fn xsetid(
        &self,
        key: &[u8],
        last_id: StreamId,
        entries_added: Option<u64>,
        max_deleted_id: Option<StreamId>,
    ) -> Result<()> {
        let max_deleted_id = max_deleted_id.filter(|id| *id != StreamId::MIN);
        if max_deleted_id.is_some_and(|max| last_id < max) {
            return Err(TypeError::Stream(
                "The ID specified in XSETID is smaller than the provided max_deleted_entry_id",
            ));
        }
        let _guard = self.locks.lock_one(key);
        let Some((mut meta, mut state)) = self.stream(key)? else {
            return Err(TypeError::NoSuchKey);
        };
        if max_deleted_id.is_none() && last_id < state.max_deleted_id {
            return Err(TypeError::Stream(
                "The ID specified in XSETID is smaller than current max_deleted_entry_id",
            ));
        }
        if meta.size > 0 {
            let top = self
                .stream_entries(
                    key,
                    meta.version,
                    StreamId::MIN,
                    StreamId::MAX,
                    Some(1),
                    true,
                )?
                .pop()
                .map_or(StreamId::MIN, |e| e.id);
            if last_id < top {
                return Err(TypeError::Stream(
                    "The ID specified in XSETID is smaller than the target stream top item",
                ));
            }
            if entries_added.is_some_and(|n| n < meta.size) {
                return Err(TypeError::Stream(
                    "The entries_added specified in XSETID is smaller than the target stream length",
                ));
            }
        }
        state.last_id = last_id;
        if let Some(n) = entries_added {
            state.entries_added = n;
        }
        if let Some(max) = max_deleted_id {
            state.max_deleted_id = max;
        }
        let mut batch = self.storage.batch();
        self.put_stream(&mut batch, key, &mut meta, &state);
        self.storage.write(batch)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_order_and_step() {
        assert!(StreamId::new(1, 5) < StreamId::new(2, 0));
        assert_eq!(StreamId::new(1, u64::MAX).next(), Some(StreamId::new(2, 0)));
        assert_eq!(StreamId::MAX.next(), None);
        assert_eq!(StreamId::new(2, 0).prev(), Some(StreamId::new(1, u64::MAX)));
        assert_eq!(StreamId::MIN.prev(), None);
        let id = StreamId::new(7, 9);
        assert_eq!(StreamId::from_bytes(&id.to_bytes()), Some(id));
        assert_eq!(id.to_string(), "7-9");
    }

    #[test]
    fn fields_and_state_round_trip() {
        let fields: Vec<&[u8]> = vec![b"a", b"", b"ccc", b"d"];
        assert_eq!(
            decode_fields(&encode_fields(&fields)),
            vec![b"a".to_vec(), Vec::new(), b"ccc".to_vec(), b"d".to_vec()]
        );
        let state = StreamState {
            last_id: StreamId::new(3, 4),
            entries_added: 9,
            max_deleted_id: StreamId::new(1, 2),
        };
        assert_eq!(StreamState::decode(&state.encode()).unwrap(), state);
        assert_eq!(StreamState::decode(&[]).unwrap(), StreamState::default());
        assert!(StreamState::decode(&[1, 2, 3]).is_err());
    }
}
