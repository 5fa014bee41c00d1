//! Stream consumer groups: groups, consumers and pending entries (the PEL), stored in
//! the `scores` family under the stream's own member prefix (`[slot][len][key]
//! [version]`), which streams do not otherwise use. So they share everything the
//! stream's entries get: slot-first keys (migration copies them with the slot, a range
//! delete drops them), the version (DEL, expiry or overwrite of the stream makes them
//! garbage at once, reclaimed by the compaction filter), and RENAME's member copy.
//!
//! Records, after the stream's member prefix (integers big-endian):
//!
//! - group:    `[1][group]` → `[last delivered id:16][entries read:8, i64, -1 unknown]`
//! - consumer: `[2][group len:4][group][consumer]` → `[seen time ms:8]`
//! - pending:  `[3][group len:4][group][id:16]` → `[delivery ms:8][deliveries:8][consumer]`
//! - owned:    `[4][group len:4][group][consumer len:4][consumer][id:16]` → empty, the
//!   consumer's own pending list (Redis keeps the same two indexes, group and consumer).
//!
//! Groups and consumers list in byte order of their names, as Redis' radix trees do.
//! Semantics follow Redis 7.0 (src/t_stream.c): delivery counters, the entries-read
//! counter and lag estimate, XCLAIM/XAUTOCLAIM dropping pending entries whose stream
//! entry was deleted.

use ferrokv_storage::metadata::CollectionMeta;
use ferrokv_storage::{now_ms, Batch, Cf, StorageError};

use crate::dump::{StreamGroupValue, StreamValue};
use crate::stream::{decode_fields, StreamState};
use crate::{Database, Result, StreamEntry, StreamId, TypeError};

const GROUP: u8 = 1;
const CONSUMER: u8 = 2;
const PENDING: u8 = 3;
const OWNED: u8 = 4;

/// Redis' `SCG_INVALID_ENTRIES_READ`: the group's entries-read counter is unknown.
pub const ENTRIES_READ_UNKNOWN: i64 = -1;

/// What a group command found missing: Redis words the error per command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    Stream,
    Group,
}

/// The result of a group operation: storage errors outside, a missing stream or group
/// inside.
pub type GroupResult<T> = Result<std::result::Result<T, Missing>>;

/// Where XGROUP CREATE/SETID puts the group's last delivered ID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupStart {
    /// `$`: the stream's last ID (0-0 for a stream MKSTREAM creates).
    Last,
    Id(StreamId),
}

/// Outcome of XGROUP CREATE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupCreate {
    Created,
    /// `BUSYGROUP`.
    Exists,
    /// No stream and no MKSTREAM.
    NoStream,
}

/// What XREADGROUP reads from one stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupRead {
    /// `>`: entries never delivered to the group.
    New,
    /// An ID: the consumer's own pending entries after it.
    History(StreamId),
}

/// One stream entry as XREADGROUP history and XCLAIM return it: `None` fields for an
/// entry deleted while pending (Redis replies a nil in its place).
pub type MaybeEntry = (StreamId, Option<Vec<Vec<u8>>>);

/// One pending entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingEntry {
    pub id: StreamId,
    pub consumer: Vec<u8>,
    /// Unix time of the last delivery, in milliseconds.
    pub delivery_ms: u64,
    pub deliveries: u64,
}

/// XPENDING's summary form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingSummary {
    pub count: u64,
    /// Smallest and largest pending IDs (`None` when nothing is pending).
    pub range: Option<(StreamId, StreamId)>,
    /// Consumers with pending entries and how many, by name.
    pub consumers: Vec<(Vec<u8>, u64)>,
}

/// The query of XPENDING's extended form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingQuery {
    pub start: StreamId,
    pub end: StreamId,
    pub count: u64,
    /// IDLE: only entries not delivered for at least this many milliseconds (0 = all).
    pub min_idle_ms: u64,
    pub consumer: Option<Vec<u8>>,
}

/// XCLAIM's options (Redis' names).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClaimOptions {
    /// Only entries idle at least this long (milliseconds).
    pub min_idle_ms: u64,
    /// IDLE/TIME: the delivery time to record (Unix ms; out-of-range values mean now).
    pub delivery_ms: Option<i64>,
    /// RETRYCOUNT: the delivery counter to set.
    pub retry_count: Option<u64>,
    pub force: bool,
    pub justid: bool,
    /// LASTID: raises the group's last delivered ID.
    pub last_id: Option<StreamId>,
}

/// XAUTOCLAIM's arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AutoClaimQuery {
    /// Only entries idle at least this long (milliseconds).
    pub min_idle_ms: u64,
    /// The first pending ID to look at.
    pub start: StreamId,
    /// At most this many claimed (or found deleted); `count * 10` examined.
    pub count: u64,
    pub justid: bool,
}

/// What XAUTOCLAIM did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AutoClaim {
    /// Where the next call continues (0-0 at the end of the PEL).
    pub next: StreamId,
    /// Claimed entries (fields `None` with JUSTID).
    pub claimed: Vec<MaybeEntry>,
    /// Pending IDs whose entry no longer exists; they were removed from the PEL.
    pub deleted: Vec<StreamId>,
}

/// XINFO GROUPS: one group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupInfo {
    pub name: Vec<u8>,
    pub consumers: u64,
    pub pending: u64,
    pub last_id: StreamId,
    /// `None` when unknown (Redis replies nil).
    pub entries_read: Option<u64>,
    /// `None` when it cannot be computed (Redis replies nil).
    pub lag: Option<u64>,
}

/// XINFO CONSUMERS: one consumer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerInfo {
    pub name: Vec<u8>,
    pub pending: u64,
    /// Unix ms of the consumer's last read or claim.
    pub seen_ms: u64,
}

/// XINFO STREAM FULL: one group with its PEL and consumers (lists cut at the count).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupDetail {
    pub info: GroupInfo,
    pub pending: Vec<PendingEntry>,
    /// Each consumer with its first pending entries.
    pub consumers: Vec<(ConsumerInfo, Vec<PendingEntry>)>,
}

/// A group's stored state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Group {
    last_id: StreamId,
    entries_read: i64,
}

impl Group {
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(24);
        out.extend_from_slice(&self.last_id.to_bytes());
        out.extend_from_slice(&self.entries_read.to_be_bytes());
        out
    }

    fn decode(bytes: &[u8]) -> Result<Group> {
        let corrupt = || TypeError::Storage(StorageError::Corrupt("stream group"));
        let last_id = StreamId::from_bytes(bytes).ok_or_else(corrupt)?;
        let read: [u8; 8] = bytes
            .get(16..24)
            .and_then(|s| s.try_into().ok())
            .ok_or_else(corrupt)?;
        Ok(Group {
            last_id,
            entries_read: i64::from_be_bytes(read),
        })
    }
}

fn be_u64(bytes: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_be_bytes(bytes.get(at..at + 8)?.try_into().ok()?))
}

fn encode_nack(delivery_ms: u64, deliveries: u64, consumer: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + consumer.len());
    out.extend_from_slice(&delivery_ms.to_be_bytes());
    out.extend_from_slice(&deliveries.to_be_bytes());
    out.extend_from_slice(consumer);
    out
}

fn decode_nack(id: StreamId, bytes: &[u8]) -> Result<PendingEntry> {
    let corrupt = || TypeError::Storage(StorageError::Corrupt("stream pending entry"));
    Ok(PendingEntry {
        id,
        delivery_ms: be_u64(bytes, 0).ok_or_else(corrupt)?,
        deliveries: be_u64(bytes, 8).ok_or_else(corrupt)?,
        consumer: bytes.get(16..).ok_or_else(corrupt)?.to_vec(),
    })
}

fn group_member(group: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + group.len());
    out.push(GROUP);
    out.extend_from_slice(group);
    out
}

/// `[tag][group len:4][group]`: the prefix of a group's consumers, PEL or owned lists.
fn group_prefix(tag: u8, group: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(5 + group.len() + 24);
    out.push(tag);
    out.extend_from_slice(&(group.len() as u32).to_be_bytes());
    out.extend_from_slice(group);
    out
}

fn consumer_member(group: &[u8], consumer: &[u8]) -> Vec<u8> {
    let mut out = group_prefix(CONSUMER, group);
    out.extend_from_slice(consumer);
    out
}

fn pending_member(group: &[u8], id: StreamId) -> Vec<u8> {
    let mut out = group_prefix(PENDING, group);
    out.extend_from_slice(&id.to_bytes());
    out
}

fn owned_prefix(group: &[u8], consumer: &[u8]) -> Vec<u8> {
    let mut out = group_prefix(OWNED, group);
    out.extend_from_slice(&(consumer.len() as u32).to_be_bytes());
    out.extend_from_slice(consumer);
    out
}

fn owned_member(group: &[u8], consumer: &[u8], id: StreamId) -> Vec<u8> {
    let mut out = owned_prefix(group, consumer);
    out.extend_from_slice(&id.to_bytes());
    out
}

/// The stream facts Redis' lag and entries-read estimates use.
struct StreamFacts {
    length: u64,
    state: StreamState,
    first_id: StreamId,
}

impl StreamFacts {
    /// Redis' `streamRangeHasTombstones(s, start, NULL)`.
    fn has_tombstones_from(&self, start: StreamId) -> bool {
        let max_deleted = self.state.max_deleted_id;
        if self.length == 0 || max_deleted == StreamId::MIN {
            return false;
        }
        if self.first_id > max_deleted {
            return false;
        }
        start <= max_deleted
    }

    /// Redis' `streamEstimateDistanceFromFirstEverEntry`: the entries-read counter
    /// that `id` corresponds to, `ENTRIES_READ_UNKNOWN` when it cannot be known.
    fn estimate_distance(&self, id: StreamId) -> i64 {
        let added = self.state.entries_added as i64;
        if added == 0 {
            return 0;
        }
        if self.length == 0 && id <= self.state.last_id {
            return added;
        }
        match id.cmp(&self.state.last_id) {
            std::cmp::Ordering::Equal => return added,
            std::cmp::Ordering::Greater => return ENTRIES_READ_UNKNOWN,
            std::cmp::Ordering::Less => {}
        }
        let max_deleted = self.state.max_deleted_id;
        if max_deleted == StreamId::MIN || max_deleted < self.first_id {
            if id < self.first_id {
                return added - self.length as i64;
            } else if id == self.first_id {
                return added - self.length as i64 + 1;
            }
        }
        ENTRIES_READ_UNKNOWN
    }

    /// The group's lag (XINFO), `None` when it cannot be computed.
    fn lag(&self, group: &Group) -> Option<u64> {
        let added = self.state.entries_added as i64;
        if added == 0 {
            return Some(0);
        }
        if group.entries_read != ENTRIES_READ_UNKNOWN && !self.has_tombstones_from(group.last_id) {
            return Some((added - group.entries_read).max(0) as u64);
        }
        let read = self.estimate_distance(group.last_id);
        (read != ENTRIES_READ_UNKNOWN).then(|| (added - read).max(0) as u64)
    }
}

fn entries_read(group: &Group) -> Option<u64> {
    (group.entries_read >= 0).then_some(group.entries_read as u64)
}

impl Database {
    fn stream_facts(
        &self,
        key: &[u8],
        meta: &CollectionMeta,
        state: StreamState,
    ) -> Result<StreamFacts> {
        let first_id = self
            .stream_entries(
                key,
                meta.version,
                StreamId::MIN,
                StreamId::MAX,
                Some(1),
                false,
            )?
            .pop()
            .map_or(StreamId::MIN, |e| e.id);
        Ok(StreamFacts {
            length: meta.size,
            state,
            first_id,
        })
    }

    /// Visits the records of the group family whose member part starts with `prefix`,
    /// from `prefix + start`, passing the bytes after the prefix.
    fn scan_group_records(
        &self,
        key: &[u8],
        version: u64,
        prefix: &[u8],
        start: &[u8],
        mut visit: impl FnMut(&[u8], &[u8]) -> Result<bool>,
    ) -> Result<()> {
        let mut from = prefix.to_vec();
        from.extend_from_slice(start);
        let mut failure = None;
        self.scan_members(Cf::Scores, key, version, &from, false, |member, value| {
            let Some(rest) = member.strip_prefix(prefix) else {
                return false;
            };
            match visit(rest, value) {
                Ok(more) => more,
                Err(e) => {
                    failure = Some(e);
                    false
                }
            }
        })?;
        failure.map_or(Ok(()), Err)
    }

    fn group_record(&self, key: &[u8], version: u64, group: &[u8]) -> Result<Option<Group>> {
        match self.storage.get(
            Cf::Scores,
            &ferrokv_storage::encoding::member_key(key, version, &group_member(group)),
        )? {
            Some(raw) => Ok(Some(Group::decode(&raw)?)),
            None => Ok(None),
        }
    }

    fn put_group(
        &self,
        batch: &mut Batch<'_>,
        key: &[u8],
        version: u64,
        name: &[u8],
        group: &Group,
    ) {
        batch.put(
            Cf::Scores,
            ferrokv_storage::encoding::member_key(key, version, &group_member(name)),
            group.encode(),
        );
    }

    fn put_record(
        &self,
        batch: &mut Batch<'_>,
        key: &[u8],
        version: u64,
        member: &[u8],
        value: &[u8],
    ) {
        batch.put(
            Cf::Scores,
            ferrokv_storage::encoding::member_key(key, version, member),
            value,
        );
    }

    fn delete_record(&self, batch: &mut Batch<'_>, key: &[u8], version: u64, member: &[u8]) {
        batch.delete(
            Cf::Scores,
            ferrokv_storage::encoding::member_key(key, version, member),
        );
    }

    fn record(&self, key: &[u8], version: u64, member: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self
            .storage
            .get(
                Cf::Scores,
                &ferrokv_storage::encoding::member_key(key, version, member),
            )?
            .map(|v| v.to_vec()))
    }

    fn nack(
        &self,
        key: &[u8],
        version: u64,
        group: &[u8],
        id: StreamId,
    ) -> Result<Option<PendingEntry>> {
        match self.record(key, version, &pending_member(group, id))? {
            Some(raw) => Ok(Some(decode_nack(id, &raw)?)),
            None => Ok(None),
        }
    }

    /// Writes a pending entry (both indexes), moving it from its previous owner.
    fn put_nack(
        &self,
        batch: &mut Batch<'_>,
        key: &[u8],
        version: u64,
        group: &[u8],
        entry: &PendingEntry,
        previous_owner: Option<&[u8]>,
    ) {
        if let Some(old) = previous_owner.filter(|old| *old != entry.consumer.as_slice()) {
            self.delete_record(batch, key, version, &owned_member(group, old, entry.id));
        }
        self.put_record(
            batch,
            key,
            version,
            &pending_member(group, entry.id),
            &encode_nack(entry.delivery_ms, entry.deliveries, &entry.consumer),
        );
        self.put_record(
            batch,
            key,
            version,
            &owned_member(group, &entry.consumer, entry.id),
            b"",
        );
    }

    fn delete_nack(
        &self,
        batch: &mut Batch<'_>,
        key: &[u8],
        version: u64,
        group: &[u8],
        entry: &PendingEntry,
    ) {
        self.delete_record(batch, key, version, &pending_member(group, entry.id));
        self.delete_record(
            batch,
            key,
            version,
            &owned_member(group, &entry.consumer, entry.id),
        );
    }

    /// Records that `consumer` was seen now (creating it); true if it is new.
    fn touch_consumer(
        &self,
        batch: &mut Batch<'_>,
        key: &[u8],
        version: u64,
        group: &[u8],
        consumer: &[u8],
    ) -> Result<bool> {
        let member = consumer_member(group, consumer);
        let existed = self.record(key, version, &member)?.is_some();
        self.put_record(batch, key, version, &member, &now_ms().to_be_bytes());
        Ok(!existed)
    }

    /// Pending entries of a group (or of one consumer) with IDs in `[start, end]`, at
    /// most `limit`.
    fn pending_range(
        &self,
        key: &[u8],
        version: u64,
        group: &[u8],
        consumer: Option<&[u8]>,
        (start, end): (StreamId, StreamId),
        limit: u64,
    ) -> Result<Vec<PendingEntry>> {
        let mut out = Vec::new();
        if limit == 0 || start > end {
            return Ok(out);
        }
        match consumer {
            None => {
                let prefix = group_prefix(PENDING, group);
                self.scan_group_records(
                    key,
                    version,
                    &prefix,
                    &start.to_bytes(),
                    |rest, value| {
                        let Some(id) = StreamId::from_bytes(rest) else {
                            return Err(StorageError::Corrupt("stream pending key").into());
                        };
                        if id > end {
                            return Ok(false);
                        }
                        out.push(decode_nack(id, value)?);
                        Ok((out.len() as u64) < limit)
                    },
                )?;
            }
            Some(consumer) => {
                let prefix = owned_prefix(group, consumer);
                let mut ids = Vec::new();
                self.scan_group_records(key, version, &prefix, &start.to_bytes(), |rest, _| {
                    let Some(id) = StreamId::from_bytes(rest) else {
                        return Err(StorageError::Corrupt("stream owned key").into());
                    };
                    if id > end {
                        return Ok(false);
                    }
                    ids.push(id);
                    Ok((ids.len() as u64) < limit)
                })?;
                for id in ids {
                    if let Some(entry) = self.nack(key, version, group, id)? {
                        out.push(entry);
                    }
                }
            }
        }
        Ok(out)
    }

    /// Names of the groups of a stream, in name order.
    fn group_names(&self, key: &[u8], version: u64) -> Result<Vec<(Vec<u8>, Group)>> {
        let mut out = Vec::new();
        self.scan_group_records(key, version, &[GROUP], &[], |name, value| {
            out.push((name.to_vec(), Group::decode(value)?));
            Ok(true)
        })?;
        Ok(out)
    }

    /// Consumers of a group with their seen times, in name order.
    fn consumers(&self, key: &[u8], version: u64, group: &[u8]) -> Result<Vec<(Vec<u8>, u64)>> {
        let mut out = Vec::new();
        self.scan_group_records(
            key,
            version,
            &group_prefix(CONSUMER, group),
            &[],
            |name, value| {
                out.push((name.to_vec(), be_u64(value, 0).unwrap_or(0)));
                Ok(true)
            },
        )?;
        Ok(out)
    }

    fn owned_count(&self, key: &[u8], version: u64, group: &[u8], consumer: &[u8]) -> Result<u64> {
        let mut n = 0u64;
        self.scan_group_records(key, version, &owned_prefix(group, consumer), &[], |_, _| {
            n += 1;
            Ok(true)
        })?;
        Ok(n)
    }

    fn pending_count(&self, key: &[u8], version: u64, group: &[u8]) -> Result<u64> {
        let mut n = 0u64;
        self.scan_group_records(key, version, &group_prefix(PENDING, group), &[], |_, _| {
            n += 1;
            Ok(true)
        })?;
        Ok(n)
    }

    /// The stream and the group, or what is missing.
    fn stream_group(
        &self,
        key: &[u8],
        group: &[u8],
    ) -> GroupResult<(CollectionMeta, StreamState, Group)> {
        let Some((meta, state)) = self.stream(key)? else {
            return Ok(Err(Missing::Stream));
        };
        match self.group_record(key, meta.version, group)? {
            Some(g) => Ok(Ok((meta, state, g))),
            None => Ok(Err(Missing::Group)),
        }
    }

    /// XGROUP CREATE. `entries_read` is ENTRIESREAD (`ENTRIES_READ_UNKNOWN` if not
    /// given).
    pub fn xgroup_create(
        &self,
        key: &[u8],
        group: &[u8],
        start: GroupStart,
        mkstream: bool,
        entries_read: i64,
    ) -> Result<GroupCreate> {
        let _guard = self.locks.lock_one(key);
        let mut batch = self.storage.batch();
        let (meta, state) = match self.stream(key)? {
            Some(found) => found,
            None if !mkstream => return Ok(GroupCreate::NoStream),
            None => {
                let mut meta = self.new_collection(ferrokv_storage::metadata::DataType::Stream);
                let state = StreamState::default();
                self.put_stream(&mut batch, key, &mut meta, &state);
                (meta, state)
            }
        };
        if self.group_record(key, meta.version, group)?.is_some() {
            return Ok(GroupCreate::Exists);
        }
        let last_id = match start {
            GroupStart::Last => state.last_id,
            GroupStart::Id(id) => id,
        };
        self.put_group(
            &mut batch,
            key,
            meta.version,
            group,
            &Group {
                last_id,
                entries_read,
            },
        );
        self.storage.write(batch)?;
        Ok(GroupCreate::Created)
    }

    /// XGROUP SETID.
    pub fn xgroup_setid(
        &self,
        key: &[u8],
        group: &[u8],
        start: GroupStart,
        entries_read: i64,
    ) -> GroupResult<()> {
        let _guard = self.locks.lock_one(key);
        let (meta, state, _) = match self.stream_group(key, group)? {
            Ok(found) => found,
            Err(missing) => return Ok(Err(missing)),
        };
        let last_id = match start {
            GroupStart::Last => state.last_id,
            GroupStart::Id(id) => id,
        };
        let mut batch = self.storage.batch();
        self.put_group(
            &mut batch,
            key,
            meta.version,
            group,
            &Group {
                last_id,
                entries_read,
            },
        );
        self.storage.write(batch)?;
        Ok(Ok(()))
    }

    /// Deletes every group record whose member starts with `prefix`.
    fn delete_prefixed(
        &self,
        batch: &mut Batch<'_>,
        key: &[u8],
        version: u64,
        prefix: &[u8],
    ) -> Result<()> {
        let mut members = Vec::new();
        self.scan_group_records(key, version, prefix, &[], |rest, _| {
            let mut member = prefix.to_vec();
            member.extend_from_slice(rest);
            members.push(member);
            Ok(true)
        })?;
        for member in members {
            self.delete_record(batch, key, version, &member);
        }
        Ok(())
    }

    /// XGROUP DESTROY: whether the group existed (`Missing::Stream` without a stream).
    pub fn xgroup_destroy(&self, key: &[u8], group: &[u8]) -> GroupResult<bool> {
        let _guard = self.locks.lock_one(key);
        let meta = match self.stream_group(key, group)? {
            Ok((meta, _, _)) => meta,
            Err(Missing::Group) => return Ok(Ok(false)),
            Err(missing) => return Ok(Err(missing)),
        };
        let version = meta.version;
        let mut batch = self.storage.batch();
        self.delete_record(&mut batch, key, version, &group_member(group));
        for tag in [CONSUMER, PENDING, OWNED] {
            self.delete_prefixed(&mut batch, key, version, &group_prefix(tag, group))?;
        }
        self.storage.write(batch)?;
        Ok(Ok(true))
    }

    /// XGROUP CREATECONSUMER: whether the consumer is new.
    pub fn xgroup_createconsumer(
        &self,
        key: &[u8],
        group: &[u8],
        consumer: &[u8],
    ) -> GroupResult<bool> {
        let _guard = self.locks.lock_one(key);
        let meta = match self.stream_group(key, group)? {
            Ok((meta, _, _)) => meta,
            Err(missing) => return Ok(Err(missing)),
        };
        let member = consumer_member(group, consumer);
        if self.record(key, meta.version, &member)?.is_some() {
            return Ok(Ok(false));
        }
        let mut batch = self.storage.batch();
        self.put_record(
            &mut batch,
            key,
            meta.version,
            &member,
            &now_ms().to_be_bytes(),
        );
        self.storage.write(batch)?;
        Ok(Ok(true))
    }

    /// XGROUP DELCONSUMER: how many entries the consumer had pending (they are
    /// dropped from the group's PEL too).
    pub fn xgroup_delconsumer(
        &self,
        key: &[u8],
        group: &[u8],
        consumer: &[u8],
    ) -> GroupResult<u64> {
        let _guard = self.locks.lock_one(key);
        let meta = match self.stream_group(key, group)? {
            Ok((meta, _, _)) => meta,
            Err(missing) => return Ok(Err(missing)),
        };
        let version = meta.version;
        let member = consumer_member(group, consumer);
        if self.record(key, version, &member)?.is_none() {
            return Ok(Ok(0));
        }
        let owned = self.pending_range(
            key,
            version,
            group,
            Some(consumer),
            (StreamId::MIN, StreamId::MAX),
            u64::MAX,
        )?;
        let mut batch = self.storage.batch();
        for entry in &owned {
            self.delete_nack(&mut batch, key, version, group, entry);
        }
        self.delete_record(&mut batch, key, version, &member);
        self.storage.write(batch)?;
        Ok(Ok(owned.len() as u64))
    }

    /// Checks that the stream and group exist (XREADGROUP checks every key first).
    pub fn stream_group_exists(&self, key: &[u8], group: &[u8]) -> Result<bool> {
        Ok(self.stream_group(key, group)?.is_ok())
    }

    /// XREADGROUP on one stream. For `New`, `None` when nothing new is there (the
    /// caller may block); history reads always answer (possibly empty). Entries read
    /// as new join the PEL unless `noack`; history reads count a delivery.
    pub fn xreadgroup(
        &self,
        key: &[u8],
        group_name: &[u8],
        consumer: &[u8],
        read: GroupRead,
        count: Option<usize>,
        noack: bool,
    ) -> GroupResult<Option<Vec<MaybeEntry>>> {
        let _guard = self.locks.lock_one(key);
        let (meta, state, mut group) = match self.stream_group(key, group_name)? {
            Ok(found) => found,
            Err(missing) => return Ok(Err(missing)),
        };
        let version = meta.version;
        let now = now_ms();
        let mut batch = self.storage.batch();
        let mut out = Vec::new();
        match read {
            GroupRead::History(after) => {
                self.touch_consumer(&mut batch, key, version, group_name, consumer)?;
                if let Some(start) = after.next() {
                    let limit = count.map_or(u64::MAX, |c| c as u64);
                    let pending = self.pending_range(
                        key,
                        version,
                        group_name,
                        Some(consumer),
                        (start, StreamId::MAX),
                        limit,
                    )?;
                    for mut entry in pending {
                        match self.member(key, version, &entry.id.to_bytes())? {
                            Some(raw) => {
                                entry.delivery_ms = now;
                                entry.deliveries += 1;
                                self.put_nack(&mut batch, key, version, group_name, &entry, None);
                                out.push((entry.id, Some(decode_fields(&raw))));
                            }
                            None => out.push((entry.id, None)),
                        }
                    }
                }
            }
            GroupRead::New => {
                let Some(start) = group.last_id.next() else {
                    return Ok(Ok(None));
                };
                let entries =
                    self.stream_entries(key, version, start, StreamId::MAX, count, false)?;
                if entries.is_empty() {
                    return Ok(Ok(None));
                }
                self.touch_consumer(&mut batch, key, version, group_name, consumer)?;
                let facts = self.stream_facts(key, &meta, state)?;
                for StreamEntry { id, fields } in entries {
                    if id > group.last_id {
                        if group.entries_read != ENTRIES_READ_UNKNOWN
                            && !facts.has_tombstones_from(id)
                        {
                            group.entries_read += 1;
                        } else if facts.state.entries_added > 0 {
                            group.entries_read = facts.estimate_distance(id);
                        }
                        group.last_id = id;
                    }
                    if !noack {
                        let previous = self.nack(key, version, group_name, id)?;
                        let entry = PendingEntry {
                            id,
                            consumer: consumer.to_vec(),
                            delivery_ms: now,
                            deliveries: 1,
                        };
                        self.put_nack(
                            &mut batch,
                            key,
                            version,
                            group_name,
                            &entry,
                            previous.as_ref().map(|p| p.consumer.as_slice()),
                        );
                    }
                    out.push((id, Some(fields)));
                }
                self.put_group(&mut batch, key, version, group_name, &group);
            }
        }
        self.storage.write(batch)?;
        Ok(Ok(Some(out)))
    }

    /// XACK: how many of `ids` were pending (0 without stream or group).
    pub fn xack(&self, key: &[u8], group: &[u8], ids: &[StreamId]) -> Result<u64> {
        let _guard = self.locks.lock_one(key);
        let meta = match self.stream_group(key, group)? {
            Ok((meta, _, _)) => meta,
            Err(_) => return Ok(0),
        };
        let mut batch = self.storage.batch();
        let mut acked = 0;
        let mut seen = std::collections::HashSet::new();
        for &id in ids {
            if !seen.insert(id) {
                continue;
            }
            if let Some(entry) = self.nack(key, meta.version, group, id)? {
                self.delete_nack(&mut batch, key, meta.version, group, &entry);
                acked += 1;
            }
        }
        if acked > 0 {
            self.storage.write(batch)?;
        }
        Ok(acked)
    }

    /// XPENDING key group.
    pub fn xpending_summary(&self, key: &[u8], group: &[u8]) -> GroupResult<PendingSummary> {
        let meta = match self.stream_group(key, group)? {
            Ok((meta, _, _)) => meta,
            Err(missing) => return Ok(Err(missing)),
        };
        let all = self.pending_range(
            key,
            meta.version,
            group,
            None,
            (StreamId::MIN, StreamId::MAX),
            u64::MAX,
        )?;
        let mut consumers: std::collections::BTreeMap<Vec<u8>, u64> = Default::default();
        for entry in &all {
            *consumers.entry(entry.consumer.clone()).or_default() += 1;
        }
        Ok(Ok(PendingSummary {
            count: all.len() as u64,
            range: all.first().zip(all.last()).map(|(a, b)| (a.id, b.id)),
            consumers: consumers.into_iter().collect(),
        }))
    }

    /// XPENDING key group [IDLE ms] start end count [consumer].
    pub fn xpending_range(
        &self,
        key: &[u8],
        group: &[u8],
        query: &PendingQuery,
    ) -> GroupResult<Vec<PendingEntry>> {
        let meta = match self.stream_group(key, group)? {
            Ok((meta, _, _)) => meta,
            Err(missing) => return Ok(Err(missing)),
        };
        if let Some(consumer) = &query.consumer {
            if self
                .record(key, meta.version, &consumer_member(group, consumer))?
                .is_none()
            {
                return Ok(Ok(Vec::new()));
            }
        }
        let now = now_ms();
        let limit = if query.min_idle_ms > 0 {
            u64::MAX
        } else {
            query.count
        };
        let mut out = self.pending_range(
            key,
            meta.version,
            group,
            query.consumer.as_deref(),
            (query.start, query.end),
            limit,
        )?;
        if query.min_idle_ms > 0 {
            out.retain(|e| now.saturating_sub(e.delivery_ms) >= query.min_idle_ms);
            out.truncate(query.count.min(usize::MAX as u64) as usize);
        }
        Ok(Ok(out))
    }

    /// XCLAIM: the claimed entries (fields `None` with JUSTID).
    pub fn xclaim(
        &self,
        key: &[u8],
        group_name: &[u8],
        consumer: &[u8],
        ids: &[StreamId],
        options: &ClaimOptions,
    ) -> GroupResult<Vec<MaybeEntry>> {
        let _guard = self.locks.lock_one(key);
        let (meta, _, mut group) = match self.stream_group(key, group_name)? {
            Ok(found) => found,
            Err(missing) => return Ok(Err(missing)),
        };
        let version = meta.version;
        let now = now_ms();
        let mut batch = self.storage.batch();
        if let Some(last) = options.last_id {
            if last > group.last_id {
                group.last_id = last;
                self.put_group(&mut batch, key, version, group_name, &group);
            }
        }
        let delivery_ms = match options.delivery_ms {
            Some(t) if t >= 0 && (t as u64) <= now => t as u64,
            _ => now,
        };
        let mut out = Vec::new();
        let mut consumer_seen = false;
        // Repeated IDs act on the state the earlier ones left.
        let mut changed: std::collections::HashMap<StreamId, Option<PendingEntry>> =
            Default::default();
        for &id in ids {
            let current = match changed.get(&id) {
                Some(entry) => entry.clone(),
                None => self.nack(key, version, group_name, id)?,
            };
            let Some(raw) = self.member(key, version, &id.to_bytes())? else {
                if let Some(entry) = current {
                    self.delete_nack(&mut batch, key, version, group_name, &entry);
                    changed.insert(id, None);
                }
                continue;
            };
            let (mut entry, previous_owner) = match current {
                Some(entry) => {
                    if options.min_idle_ms > 0
                        && now.saturating_sub(entry.delivery_ms) < options.min_idle_ms
                    {
                        continue;
                    }
                    let owner = entry.consumer.clone();
                    (entry, Some(owner))
                }
                None if options.force => (
                    PendingEntry {
                        id,
                        consumer: consumer.to_vec(),
                        delivery_ms: now,
                        deliveries: 1,
                    },
                    None,
                ),
                None => continue,
            };
            if !consumer_seen {
                self.touch_consumer(&mut batch, key, version, group_name, consumer)?;
                consumer_seen = true;
            }
            entry.delivery_ms = delivery_ms;
            if let Some(n) = options.retry_count {
                entry.deliveries = n;
            } else if !options.justid {
                entry.deliveries += 1;
            }
            entry.consumer = consumer.to_vec();
            self.put_nack(
                &mut batch,
                key,
                version,
                group_name,
                &entry,
                previous_owner.as_deref(),
            );
            changed.insert(id, Some(entry));
            out.push((id, (!options.justid).then(|| decode_fields(&raw))));
        }
        self.storage.write(batch)?;
        Ok(Ok(out))
    }

    /// XAUTOCLAIM: claims up to `count` entries idle at least `min_idle_ms` from
    /// `start` on, examining at most `count * 10` (Redis' attempts factor).
    pub fn xautoclaim(
        &self,
        key: &[u8],
        group_name: &[u8],
        consumer: &[u8],
        query: &AutoClaimQuery,
    ) -> GroupResult<AutoClaim> {
        let AutoClaimQuery {
            min_idle_ms,
            start,
            count,
            justid,
        } = *query;
        let _guard = self.locks.lock_one(key);
        let meta = match self.stream_group(key, group_name)? {
            Ok((meta, _, _)) => meta,
            Err(missing) => return Ok(Err(missing)),
        };
        let version = meta.version;
        let now = now_ms();
        let mut attempts = count.saturating_mul(10);
        let candidates = self.pending_range(
            key,
            version,
            group_name,
            None,
            (start, StreamId::MAX),
            attempts.saturating_add(1),
        )?;
        let mut batch = self.storage.batch();
        let mut left = count;
        let mut result = AutoClaim {
            next: StreamId::MIN,
            claimed: Vec::new(),
            deleted: Vec::new(),
        };
        let mut consumer_seen = false;
        let mut at = 0;
        while attempts > 0 && left > 0 && at < candidates.len() {
            attempts -= 1;
            let mut entry = candidates[at].clone();
            at += 1;
            let Some(raw) = self.member(key, version, &entry.id.to_bytes())? else {
                self.delete_nack(&mut batch, key, version, group_name, &entry);
                result.deleted.push(entry.id);
                left -= 1;
                continue;
            };
            if min_idle_ms > 0 && now.saturating_sub(entry.delivery_ms) < min_idle_ms {
                continue;
            }
            if !consumer_seen {
                self.touch_consumer(&mut batch, key, version, group_name, consumer)?;
                consumer_seen = true;
            }
            let previous_owner = std::mem::replace(&mut entry.consumer, consumer.to_vec());
            entry.delivery_ms = now;
            if !justid {
                entry.deliveries += 1;
            }
            self.put_nack(
                &mut batch,
                key,
                version,
                group_name,
                &entry,
                Some(&previous_owner),
            );
            result
                .claimed
                .push((entry.id, (!justid).then(|| decode_fields(&raw))));
            left -= 1;
        }
        if let Some(next) = candidates.get(at) {
            result.next = next.id;
        }
        self.storage.write(batch)?;
        Ok(Ok(result))
    }

    fn group_info(
        &self,
        key: &[u8],
        version: u64,
        facts: &StreamFacts,
        name: Vec<u8>,
        group: &Group,
    ) -> Result<GroupInfo> {
        Ok(GroupInfo {
            consumers: self.consumers(key, version, &name)?.len() as u64,
            pending: self.pending_count(key, version, &name)?,
            last_id: group.last_id,
            entries_read: entries_read(group),
            lag: facts.lag(group),
            name,
        })
    }

    /// XINFO GROUPS; `None` without a stream.
    pub fn xinfo_groups(&self, key: &[u8]) -> Result<Option<Vec<GroupInfo>>> {
        let Some((meta, state)) = self.stream(key)? else {
            return Ok(None);
        };
        let facts = self.stream_facts(key, &meta, state)?;
        let mut out = Vec::new();
        for (name, group) in self.group_names(key, meta.version)? {
            out.push(self.group_info(key, meta.version, &facts, name, &group)?);
        }
        Ok(Some(out))
    }

    /// XINFO CONSUMERS.
    pub fn xinfo_consumers(&self, key: &[u8], group: &[u8]) -> GroupResult<Vec<ConsumerInfo>> {
        let meta = match self.stream_group(key, group)? {
            Ok((meta, _, _)) => meta,
            Err(missing) => return Ok(Err(missing)),
        };
        let mut out = Vec::new();
        for (name, seen_ms) in self.consumers(key, meta.version, group)? {
            out.push(ConsumerInfo {
                pending: self.owned_count(key, meta.version, group, &name)?,
                name,
                seen_ms,
            });
        }
        Ok(Ok(out))
    }

    /// The number of groups of a stream (XINFO STREAM).
    pub(crate) fn group_count(&self, key: &[u8], version: u64) -> Result<u64> {
        Ok(self.group_names(key, version)?.len() as u64)
    }

    /// XINFO STREAM FULL's groups: PEL and consumers' lists cut at `count` (0 = all).
    pub(crate) fn group_details(
        &self,
        key: &[u8],
        meta: &CollectionMeta,
        state: StreamState,
        count: usize,
    ) -> Result<Vec<GroupDetail>> {
        let limit = if count == 0 { u64::MAX } else { count as u64 };
        let version = meta.version;
        let facts = self.stream_facts(key, meta, state)?;
        let mut out = Vec::new();
        for (name, group) in self.group_names(key, version)? {
            let info = self.group_info(key, version, &facts, name.clone(), &group)?;
            let pending = self.pending_range(
                key,
                version,
                &name,
                None,
                (StreamId::MIN, StreamId::MAX),
                limit,
            )?;
            let mut consumers = Vec::new();
            for (consumer, seen_ms) in self.consumers(key, version, &name)? {
                let own = self.pending_range(
                    key,
                    version,
                    &name,
                    Some(&consumer),
                    (StreamId::MIN, StreamId::MAX),
                    limit,
                )?;
                let info = ConsumerInfo {
                    pending: self.owned_count(key, version, &name, &consumer)?,
                    name: consumer,
                    seen_ms,
                };
                consumers.push((info, own));
            }
            out.push(GroupDetail {
                info,
                pending,
                consumers,
            });
        }
        Ok(out)
    }
}

/// Redis' `streamEstimateDistanceFromFirstEverEntry` for a stream given by its counters:
/// the entries-read value of a group whose last delivered ID is `id`
/// (`ENTRIES_READ_UNKNOWN` when it cannot be known). Redis 7.0 uses it for groups
/// loaded from payloads older than 7.0, which carry no counter.
pub(crate) fn estimate_entries_read(
    length: u64,
    last_id: StreamId,
    max_deleted_id: StreamId,
    entries_added: u64,
    first_id: StreamId,
    id: StreamId,
) -> i64 {
    StreamFacts {
        length,
        state: StreamState {
            last_id,
            entries_added,
            max_deleted_id,
        },
        first_id,
    }
    .estimate_distance(id)
}

impl Database {
    /// The whole stream at `key` as DUMP serializes it: entries, counters, groups with
    /// their PELs and consumers. `None` when there is no stream.
    pub(crate) fn stream_value(&self, key: &[u8]) -> Result<Option<StreamValue>> {
        // Every group write holds the key's lock: holding it here keeps the PEL, the
        // consumers and the entries of one moment (a pending entry whose consumer was
        // deleted meanwhile would make a payload no Redis can load).
        let _guard = self.locks.lock_one(key);
        let Some((meta, state)) = self.stream(key)? else {
            return Ok(None);
        };
        let version = meta.version;
        let entries =
            self.stream_entries(key, version, StreamId::MIN, StreamId::MAX, None, false)?;
        let mut groups = Vec::new();
        for (name, group) in self.group_names(key, version)? {
            let pending = self.pending_range(
                key,
                version,
                &name,
                None,
                (StreamId::MIN, StreamId::MAX),
                u64::MAX,
            )?;
            let consumers = self.consumers(key, version, &name)?;
            groups.push(StreamGroupValue {
                name,
                last_id: group.last_id,
                entries_read: group.entries_read,
                pending,
                consumers,
            });
        }
        Ok(Some(StreamValue {
            entries,
            last_id: state.last_id,
            max_deleted_id: state.max_deleted_id,
            entries_added: state.entries_added,
            groups,
        }))
    }

    /// Adds a restored stream to `batch` under the new collection `meta` (fresh
    /// version): its entries, counters, groups, consumers and pending entries. Kept
    /// even when empty, as streams are.
    pub(crate) fn put_stream_value(
        &self,
        batch: &mut Batch<'_>,
        key: &[u8],
        meta: &mut CollectionMeta,
        value: &StreamValue,
    ) {
        let version = meta.version;
        for entry in &value.entries {
            let fields: Vec<&[u8]> = entry.fields.iter().map(Vec::as_slice).collect();
            self.put_member(
                batch,
                key,
                version,
                &entry.id.to_bytes(),
                &crate::stream::encode_fields(&fields),
            );
        }
        meta.size = value.entries.len() as u64;
        for group in &value.groups {
            let stored = Group {
                last_id: group.last_id,
                entries_read: group.entries_read,
            };
            self.put_group(batch, key, version, &group.name, &stored);
            for (consumer, seen_ms) in &group.consumers {
                self.put_record(
                    batch,
                    key,
                    version,
                    &consumer_member(&group.name, consumer),
                    &seen_ms.to_be_bytes(),
                );
            }
            for nack in &group.pending {
                self.put_nack(batch, key, version, &group.name, nack, None);
            }
        }
        let state = StreamState {
            last_id: value.last_id,
            entries_added: value.entries_added,
            max_deleted_id: value.max_deleted_id,
        };
        self.put_stream(batch, key, meta, &state);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_group_prefixes_do_not_collide() {
        let g = Group {
            last_id: StreamId::new(5, 6),
            entries_read: -1,
        };
        assert_eq!(Group::decode(&g.encode()).unwrap(), g);
        let nack = decode_nack(StreamId::new(1, 2), &encode_nack(7, 3, b"alice")).unwrap();
        assert_eq!(nack.consumer, b"alice");
        assert_eq!((nack.delivery_ms, nack.deliveries), (7, 3));
        // Group "a" + consumer "bc" and group "ab" + consumer "c" stay apart.
        assert_ne!(consumer_member(b"a", b"bc"), consumer_member(b"ab", b"c"));
        assert!(!owned_member(b"g", b"ab", StreamId::MIN).starts_with(&owned_prefix(b"g", b"a")));
    }

    #[test]
    fn distance_estimate_follows_redis() {
        let facts = StreamFacts {
            length: 3,
            state: StreamState {
                last_id: StreamId::new(3, 0),
                entries_added: 5,
                max_deleted_id: StreamId::MIN,
            },
            first_id: StreamId::new(1, 0),
        };
        assert_eq!(facts.estimate_distance(StreamId::new(3, 0)), 5);
        assert_eq!(facts.estimate_distance(StreamId::new(4, 0)), -1);
        assert_eq!(facts.estimate_distance(StreamId::new(0, 5)), 2);
        assert_eq!(facts.estimate_distance(StreamId::new(1, 0)), 3);
        assert_eq!(facts.estimate_distance(StreamId::new(2, 0)), -1);
        let group = Group {
            last_id: StreamId::MIN,
            entries_read: -1,
        };
        assert_eq!(facts.lag(&group), Some(3));
    }
}
