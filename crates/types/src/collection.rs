//! What every collection type shares: finding a key's live metadata (WRONGTYPE for
//! other types), starting a new incarnation, reading and writing members, and writing
//! the metadata back (an empty collection is deleted, as in Redis).

use ferrokv_storage::encoding::{member_key, member_prefix, metadata_key, prefix_end};
use ferrokv_storage::metadata::{self, CollectionMeta, DataType, Record};
use ferrokv_storage::{Batch, Cf};

use crate::{Database, Page, Result, TypeError};

/// The most members a read may visit through a pinned iterator
/// ([`Database::scan_few_members`]): what it pins stays in memory until it ends.
pub(crate) const SHORT_SCAN: usize = 1024;

/// Where a write's records go: straight into a write batch, or staged by a pipelined
/// run (`run.rs`), which applies them only once the whole write succeeded. Lets one
/// write step (such as [`crate::zset::zput`]) serve both.
pub(crate) trait Records {
    fn put(&mut self, cf: Cf, key: Vec<u8>, value: &[u8]);
    fn delete(&mut self, cf: Cf, key: Vec<u8>);
}

impl Records for Batch<'_> {
    fn put(&mut self, cf: Cf, key: Vec<u8>, value: &[u8]) {
        Batch::put(self, cf, key, value);
    }

    fn delete(&mut self, cf: Cf, key: Vec<u8>) {
        Batch::delete(self, cf, key);
    }
}

impl Database {
    /// The live metadata of `key` if it is a collection of type `kind`; `None` if the
    /// key does not exist (or expired); WRONGTYPE if it holds another type.
    pub(crate) fn collection(&self, key: &[u8], kind: DataType) -> Result<Option<CollectionMeta>> {
        let Some(raw) = self.live_record(key)? else {
            return Ok(None);
        };
        match metadata::decode(&raw)? {
            Record::Collection(meta) if meta.kind == kind => Ok(Some(meta)),
            _ => Err(TypeError::WrongType),
        }
    }

    /// The live collection, or a new empty one (fresh version, no expiry) to write into.
    pub(crate) fn collection_or_new(&self, key: &[u8], kind: DataType) -> Result<CollectionMeta> {
        Ok(match self.collection(key, kind)? {
            Some(meta) => meta,
            None => self.new_collection(kind),
        })
    }

    pub(crate) fn new_collection(&self, kind: DataType) -> CollectionMeta {
        CollectionMeta {
            kind,
            expire_ms: 0,
            version: self.new_version(),
            size: 0,
            extra: Vec::new(),
        }
    }

    /// Adds the metadata of `key` to `batch`; a collection left empty is deleted.
    pub(crate) fn put_collection(&self, batch: &mut Batch<'_>, key: &[u8], meta: &CollectionMeta) {
        if meta.size == 0 {
            batch.delete(Cf::Metadata, metadata_key(key));
        } else {
            batch.put(
                Cf::Metadata,
                metadata_key(key),
                metadata::encode_collection(meta),
            );
        }
    }

    pub(crate) fn member(
        &self,
        key: &[u8],
        version: u64,
        member: &[u8],
    ) -> Result<Option<Vec<u8>>> {
        Ok(self
            .storage
            .get(Cf::Members, &member_key(key, version, member))?
            .map(|v| v.to_vec()))
    }

    pub(crate) fn put_member(
        &self,
        batch: &mut Batch<'_>,
        key: &[u8],
        version: u64,
        member: &[u8],
        value: &[u8],
    ) {
        batch.put(Cf::Members, member_key(key, version, member), value);
    }

    pub(crate) fn delete_member(
        &self,
        batch: &mut Batch<'_>,
        key: &[u8],
        version: u64,
        member: &[u8],
    ) {
        batch.delete(Cf::Members, member_key(key, version, member));
    }

    /// Adds the distinct `members` (empty values) that are not there yet to the
    /// collection `key` of type `kind`, created if missing (SADD, SIADD; the caller
    /// holds the key's lock); returns how many were new. Nothing new: nothing written.
    pub(crate) fn add_plain_members(
        &self,
        key: &[u8],
        kind: DataType,
        members: &[&[u8]],
    ) -> Result<u64> {
        let mut meta = self.collection_or_new(key, kind)?;
        let mut batch = self.storage.batch();
        let mut added = 0;
        let mut seen = std::collections::HashSet::new();
        for member in members {
            if seen.insert(*member) && self.member(key, meta.version, member)?.is_none() {
                self.put_member(&mut batch, key, meta.version, member, b"");
                added += 1;
            }
        }
        if added > 0 {
            meta.size += added;
            self.put_collection(&mut batch, key, &meta);
            self.storage.write(batch)?;
        }
        Ok(added)
    }

    /// Deletes the distinct `members` of the collection `key` of type `kind` that exist
    /// (HDEL, SREM, ZREM; the caller holds the key's lock); returns how many existed.
    /// `remove(batch, version, member)` adds a member's deletion to the batch if it
    /// exists and says whether it did. The metadata is written back only when
    /// something went, deleting the key if empty.
    pub(crate) fn remove_members(
        &self,
        key: &[u8],
        kind: DataType,
        members: &[&[u8]],
        mut remove: impl FnMut(&mut Batch<'_>, u64, &[u8]) -> Result<bool>,
    ) -> Result<u64> {
        let Some(mut meta) = self.collection(key, kind)? else {
            return Ok(0);
        };
        let mut batch = self.storage.batch();
        let mut removed = 0;
        let mut seen = std::collections::HashSet::new();
        for member in members {
            if seen.insert(*member) && remove(&mut batch, meta.version, member)? {
                removed += 1;
            }
        }
        if removed > 0 {
            meta.size -= removed.min(meta.size);
            self.put_collection(&mut batch, key, &meta);
            self.storage.write(batch)?;
        }
        Ok(removed)
    }

    /// The `remove` of [`Database::remove_members`] for hashes and sets: the member's
    /// one record.
    pub(crate) fn remove_plain_member(
        &self,
        batch: &mut Batch<'_>,
        key: &[u8],
        version: u64,
        member: &[u8],
    ) -> Result<bool> {
        if self.member(key, version, member)?.is_none() {
            return Ok(false);
        }
        self.delete_member(batch, key, version, member);
        Ok(true)
    }

    /// One page of HSCAN/SSCAN/ZSCAN over the collection `key` of type `kind`: up to
    /// about `count` members from `cursor` (a member, inclusive) on, those matching
    /// `pattern` turned into items by `item(member, stored value)`, and the member to
    /// continue from (`None` = done).
    pub(crate) fn scan_page<T>(
        &self,
        key: &[u8],
        kind: DataType,
        cursor: &[u8],
        pattern: Option<&[u8]>,
        count: usize,
        mut item: impl FnMut(&[u8], &[u8]) -> T,
    ) -> Result<Page<T>> {
        let Some(meta) = self.collection(key, kind)? else {
            return Ok((Vec::new(), None));
        };
        let mut out = Vec::new();
        let mut next = None;
        let mut examined = 0;
        self.scan_members(
            Cf::Members,
            key,
            meta.version,
            cursor,
            false,
            |member, value| {
                if examined >= count.max(1) {
                    next = Some(member.to_vec());
                    return false;
                }
                examined += 1;
                if pattern.is_none_or(|p| crate::glob::matches(p, member)) {
                    out.push(item(member, value));
                }
                true
            },
        )?;
        Ok((out, next))
    }

    /// Visits the members of one incarnation in member order (or reverse), until `visit`
    /// returns false: forward from the first member at or after `start`, in reverse
    /// from the last member at or before it (`start` is relative to the member part;
    /// empty means from the first, or the last, member).
    pub(crate) fn scan_members(
        &self,
        cf: Cf,
        key: &[u8],
        version: u64,
        start: &[u8],
        reverse: bool,
        visit: impl FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<()> {
        self.walk_members(cf, key, version, start, reverse, false, visit)
    }

    /// [`Database::scan_members`] forward, for a read that visits at most `few` members:
    /// up to [`SHORT_SCAN`] of them, through a pinned iterator
    /// ([`ferrokv_storage::Storage::short_range_iter`]).
    pub(crate) fn scan_few_members(
        &self,
        cf: Cf,
        key: &[u8],
        version: u64,
        start: &[u8],
        few: usize,
        visit: impl FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<()> {
        self.walk_members(cf, key, version, start, false, few <= SHORT_SCAN, visit)
    }

    #[allow(clippy::too_many_arguments)]
    fn walk_members(
        &self,
        cf: Cf,
        key: &[u8],
        version: u64,
        start: &[u8],
        reverse: bool,
        short: bool,
        mut visit: impl FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<()> {
        let prefix = member_prefix(key, version);
        let upper = prefix_end(&prefix);
        let mut from = prefix.clone();
        from.extend_from_slice(start);
        // A forward scan starts where the iterator starts (one seek, not two: a seek
        // positions every memtable and file of the family, 15% of a pipelined
        // LRANGE_100).
        let lower = if reverse { &prefix } else { &from };
        let mut iter = if short {
            self.storage.short_range_iter(cf, lower, upper.as_deref())
        } else {
            self.storage.range_iter(cf, lower, upper.as_deref(), None)
        };
        match (reverse, start.is_empty()) {
            (false, _) => {}
            (true, true) => iter.seek_to_last(),
            (true, false) => iter.seek_for_prev(&from),
        }
        while let (Some(k), Some(v)) = (iter.key(), iter.value()) {
            if !visit(&k[prefix.len()..], v) {
                break;
            }
            if reverse {
                iter.prev();
            } else {
                iter.next();
            }
        }
        iter.status()?;
        Ok(())
    }
}
