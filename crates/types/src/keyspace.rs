//! Type-independent key operations: existence, deletion, expiry, renaming, iteration.

use ferrokv_storage::encoding::{
    decode_metadata_key, member_prefix, metadata_key, prefix_end, slot_range_bounds,
};
use ferrokv_storage::metadata::{self, encode_collection, DataType, Record};
use ferrokv_storage::{Batch, Cf};
use rand::Rng;

use crate::glob;
use crate::{Database, Page, Result, TypeError};
use ferrokv_storage::now_ms;

/// The answer of TTL/PTTL/EXPIRETIME.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ttl {
    Missing,
    NoExpiry,
    /// Absolute expiry in Unix milliseconds.
    ExpiresAt(u64),
}

/// The NX/XX/GT/LT options of EXPIRE and friends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpireCondition {
    Always,
    /// Only if the key has no expiry.
    Nx,
    /// Only if the key has an expiry.
    Xx,
    /// Only if the new expiry is greater (no expiry counts as infinite).
    Gt,
    /// Only if the new expiry is less (no expiry counts as infinite).
    Lt,
    /// XX and LT together: the key has an expiry and the new one is less.
    XxLt,
}

/// One page of SCAN: the keys found and where to continue (`None` = done).
#[derive(Debug, Default)]
pub struct ScanPage {
    pub keys: Vec<Vec<u8>>,
    pub next: Option<Vec<u8>>,
}

/// Which slots a listing may show (cluster mode hides slots still being imported).
pub type SlotFilter<'a> = &'a dyn Fn(u16) -> bool;

impl Database {
    /// DEL/UNLINK: how many of `keys` existed.
    pub fn del(&self, keys: &[&[u8]]) -> Result<usize> {
        let _guard = self.locks.lock(keys);
        let mut batch = self.storage.batch();
        let mut deleted = 0;
        let mut seen = std::collections::HashSet::new();
        for key in keys {
            if seen.insert(*key) && self.live_record(key)?.is_some() {
                self.delete_into(&mut batch, key);
                deleted += 1;
            }
        }
        if deleted > 0 {
            self.storage.write(batch)?;
        }
        Ok(deleted)
    }

    /// EXISTS: how many of `keys` exist (a key named twice counts twice).
    pub fn exists(&self, keys: &[&[u8]]) -> Result<usize> {
        let mut count = 0;
        for key in keys {
            if self.live_record(key)?.is_some() {
                count += 1;
            }
        }
        Ok(count)
    }

    /// TYPE.
    pub fn type_of(&self, key: &[u8]) -> Result<Option<DataType>> {
        match self.live_record(key)? {
            None => Ok(None),
            Some(raw) => Ok(Some(Database::decode(&raw)?.kind())),
        }
    }

    /// Sets an absolute expiry; a time in the past deletes the key. Returns whether the
    /// expiry was applied (false: no such key or condition not met).
    pub fn expire_at(&self, key: &[u8], at_ms: u64, condition: ExpireCondition) -> Result<bool> {
        let _guard = self.locks.lock_one(key);
        let Some(mut raw) = self.live_record(key)? else {
            return Ok(false);
        };
        let current = Database::decode(&raw)?.expire_ms();
        let allowed = match condition {
            ExpireCondition::Always => true,
            ExpireCondition::Nx => current == 0,
            ExpireCondition::Xx => current != 0,
            ExpireCondition::Gt => current != 0 && at_ms > current,
            ExpireCondition::Lt => current == 0 || at_ms < current,
            ExpireCondition::XxLt => current != 0 && at_ms < current,
        };
        if !allowed {
            return Ok(false);
        }
        let mut batch = self.storage.batch();
        if at_ms <= now_ms() {
            self.delete_into(&mut batch, key);
        } else {
            metadata::set_expire_in_place(&mut raw, at_ms)?;
            batch.put(Cf::Metadata, metadata_key(key), raw);
        }
        self.storage.write(batch)?;
        Ok(true)
    }

    /// PERSIST: removes the expiry; true if there was one.
    pub fn persist(&self, key: &[u8]) -> Result<bool> {
        let _guard = self.locks.lock_one(key);
        let Some(mut raw) = self.live_record(key)? else {
            return Ok(false);
        };
        if Database::decode(&raw)?.expire_ms() == 0 {
            return Ok(false);
        }
        metadata::set_expire_in_place(&mut raw, 0)?;
        let mut batch = self.storage.batch();
        batch.put(Cf::Metadata, metadata_key(key), raw);
        self.storage.write(batch)?;
        Ok(true)
    }

    /// TTL family.
    pub fn ttl(&self, key: &[u8]) -> Result<Ttl> {
        Ok(match self.live_record(key)? {
            None => Ttl::Missing,
            Some(raw) => match Database::decode(&raw)?.expire_ms() {
                0 => Ttl::NoExpiry,
                at => Ttl::ExpiresAt(at),
            },
        })
    }

    /// RENAME / RENAMENX. Returns false when `only_if_missing` and the destination
    /// exists; `NoSuchKey` when the source does not exist.
    pub fn rename(&self, src: &[u8], dst: &[u8], only_if_missing: bool) -> Result<bool> {
        let _guard = self.locks.lock(&[src, dst]);
        let Some(raw) = self.live_record(src)? else {
            return Err(TypeError::NoSuchKey);
        };
        if src == dst {
            return Ok(!only_if_missing);
        }
        if only_if_missing && self.live_record(dst)?.is_some() {
            return Ok(false);
        }
        let mut batch = self.storage.batch();
        self.delete_into(&mut batch, src);
        self.put_copy(&mut batch, src, &raw, dst)?;
        self.storage.write(batch)?;
        Ok(true)
    }

    /// Adds to `batch` a copy of `src`'s record `raw` (value and expiry) under `dst`: a
    /// string as it is, a collection under a new version with every member copied
    /// (RENAME and COPY; the caller holds both keys' locks).
    fn put_copy(&self, batch: &mut Batch<'_>, src: &[u8], raw: &[u8], dst: &[u8]) -> Result<()> {
        match Database::decode(raw)? {
            Record::String { .. } => batch.put(Cf::Metadata, metadata_key(dst), raw),
            Record::Collection(mut meta) => {
                let old_version = meta.version;
                meta.version = self.new_version();
                self.copy_members(batch, src, old_version, dst, meta.version)?;
                batch.put(Cf::Metadata, metadata_key(dst), encode_collection(&meta));
            }
        }
        Ok(())
    }

    /// COPY: copies `src` (value and expiry) to `dst`. False when `src` is missing, or
    /// `dst` exists and `replace` is not set.
    pub fn copy(&self, src: &[u8], dst: &[u8], replace: bool) -> Result<bool> {
        let _guard = self.locks.lock(&[src, dst]);
        let Some(raw) = self.live_record(src)? else {
            return Ok(false);
        };
        if !replace && self.live_record(dst)?.is_some() {
            return Ok(false);
        }
        let mut batch = self.storage.batch();
        self.delete_into(&mut batch, dst);
        self.put_copy(&mut batch, src, &raw, dst)?;
        self.storage.write(batch)?;
        Ok(true)
    }

    /// Copies every member record of one collection incarnation to another key/version.
    fn copy_members(
        &self,
        batch: &mut Batch<'_>,
        src: &[u8],
        src_version: u64,
        dst: &[u8],
        dst_version: u64,
    ) -> Result<()> {
        let from = member_prefix(src, src_version);
        let to = member_prefix(dst, dst_version);
        let upper = prefix_end(&from);
        for cf in [Cf::Members, Cf::Scores] {
            let mut iter = self.storage.range_iter(cf, &from, upper.as_deref(), None);
            while let (Some(key), Some(value)) = (iter.key(), iter.value()) {
                let mut new_key = to.clone();
                new_key.extend_from_slice(&key[from.len()..]);
                batch.put(cf, new_key, value);
                iter.next();
            }
            iter.status()?;
        }
        Ok(())
    }

    /// Visits live keys in stored order starting at `from` (a stored metadata key),
    /// calling `visit(user_key, record)` until it returns false. Returns the stored key
    /// at which the walk stopped, or `None` at the end.
    fn walk(
        &self,
        from: &[u8],
        upper: Option<&[u8]>,
        mut visit: impl FnMut(u16, &[u8], &Record<'_>) -> bool,
    ) -> Result<Option<Vec<u8>>> {
        let now = now_ms();
        let mut iter = self.storage.range_iter(Cf::Metadata, from, upper, None);
        while let (Some(stored), Some(value)) = (iter.key(), iter.value()) {
            if let (Some((slot, user_key)), Ok(record)) =
                (decode_metadata_key(stored), metadata::decode(value))
            {
                if !record.is_expired(now) && !visit(slot, user_key, &record) {
                    return Ok(Some(stored.to_vec()));
                }
            }
            iter.next();
        }
        iter.status()?;
        Ok(None)
    }

    /// KEYS.
    pub fn keys(&self, pattern: &[u8], visible: SlotFilter<'_>) -> Result<Vec<Vec<u8>>> {
        let mut out = Vec::new();
        let match_all = pattern == b"*";
        self.walk(&[], None, |slot, key, _| {
            if visible(slot) && (match_all || glob::matches(pattern, key)) {
                out.push(key.to_vec());
            }
            true
        })?;
        Ok(out)
    }

    /// SCAN: examines about `count` keys from the stored key `cursor` on.
    pub fn scan(
        &self,
        cursor: &[u8],
        pattern: Option<&[u8]>,
        count: usize,
        kind: Option<&[u8]>,
        visible: SlotFilter<'_>,
    ) -> Result<ScanPage> {
        let mut page = ScanPage::default();
        let mut examined = 0;
        page.next = self.walk(cursor, None, |slot, key, record| {
            if examined >= count.max(1) {
                return false;
            }
            examined += 1;
            let type_ok =
                kind.is_none_or(|k| k.eq_ignore_ascii_case(record.kind().name().as_bytes()));
            if visible(slot) && type_ok && pattern.is_none_or(|p| glob::matches(p, key)) {
                page.keys.push(key.to_vec());
            }
            true
        })?;
        Ok(page)
    }

    /// DBSIZE.
    pub fn dbsize(&self, visible: SlotFilter<'_>) -> Result<u64> {
        Ok(self.key_counts(visible)?.0)
    }

    /// Live keys and, of those, keys with an expiry (INFO keyspace).
    pub fn key_counts(&self, visible: SlotFilter<'_>) -> Result<(u64, u64)> {
        let (mut keys, mut expires) = (0, 0);
        self.walk(&[], None, |slot, _, record| {
            if visible(slot) {
                keys += 1;
                expires += u64::from(record.expire_ms() != 0);
            }
            true
        })?;
        Ok((keys, expires))
    }

    /// Number of live keys in one slot (CLUSTER COUNTKEYSINSLOT).
    pub fn count_keys_in_slot(&self, slot: u16) -> Result<u64> {
        let (start, end) = slot_range_bounds(slot, slot);
        let mut count = 0;
        self.walk(&start, Some(&end), |_, _, _| {
            count += 1;
            true
        })?;
        Ok(count)
    }

    /// Up to `limit` live keys of one slot (CLUSTER GETKEYSINSLOT).
    pub fn keys_in_slot(&self, slot: u16, limit: usize) -> Result<Vec<Vec<u8>>> {
        let (start, end) = slot_range_bounds(slot, slot);
        let mut out = Vec::new();
        self.walk(&start, Some(&end), |_, key, _| {
            if out.len() >= limit {
                return false;
            }
            out.push(key.to_vec());
            true
        })?;
        Ok(out)
    }

    /// RANDOMKEY: a random live key, or `None` if there is none.
    pub fn random_key(&self, visible: SlotFilter<'_>) -> Result<Option<Vec<u8>>> {
        let start: [u8; 2] = rand::thread_rng().gen::<u16>().to_be_bytes();
        let mut found = None;
        for (from, upper) in [(&start[..], None), (&[][..], Some(&start[..]))] {
            self.walk(from, upper, |slot, key, _| {
                if visible(slot) {
                    found = Some(key.to_vec());
                    return false;
                }
                true
            })?;
            if found.is_some() {
                break;
            }
        }
        Ok(found)
    }

    /// FLUSHDB/FLUSHALL.
    pub fn flush_all(&self) -> Result<()> {
        Ok(self.storage.delete_all()?)
    }

    /// One step of active expiry: looks at up to `budget` records from the stored key
    /// `cursor` on and deletes the expired ones. Returns the deleted user keys and where
    /// to continue (`None` = wrapped around).
    pub fn expire_cycle(&self, cursor: &[u8], budget: usize) -> Result<Page<Vec<u8>>> {
        let now = now_ms();
        let mut expired = Vec::new();
        let mut examined = 0;
        let mut iter = self.storage.range_iter(Cf::Metadata, cursor, None, None);
        let mut next = None;
        while let (Some(stored), Some(value)) = (iter.key(), iter.value()) {
            if examined >= budget {
                next = Some(stored.to_vec());
                break;
            }
            examined += 1;
            if let (Some((_, key)), Ok(record)) =
                (decode_metadata_key(stored), metadata::decode(value))
            {
                if record.is_expired(now) {
                    expired.push(key.to_vec());
                }
            }
            iter.next();
        }
        drop(iter);
        let mut deleted = Vec::new();
        for key in expired {
            let _guard = self.locks.lock_one(&key);
            // Re-check under the lock: the key may have been rewritten meanwhile.
            let stored = metadata_key(&key);
            let still_expired = match self.storage.get(Cf::Metadata, &stored)? {
                Some(raw) => metadata::decode(&raw).is_ok_and(|r| r.is_expired(now_ms())),
                None => false,
            };
            if still_expired {
                let mut batch = self.storage.batch();
                self.delete_into(&mut batch, &key);
                self.storage.write(batch)?;
                deleted.push(key);
            }
        }
        Ok((deleted, next))
    }
}
