//! String commands' storage logic.

use ferrokv_storage::encoding::metadata_key;
use ferrokv_storage::metadata::{self, Record};
use ferrokv_storage::Cf;

use crate::numbers::{format_float_human, parse_f64, parse_i64};
use crate::{Database, Result, TypeError};
use ferrokv_storage::now_ms;

/// Largest string Redis allows (512 MB); SETRANGE and APPEND must not exceed it.
pub const MAX_STRING_LEN: usize = 512 * 1024 * 1024;

/// When SET may write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetCondition {
    Always,
    IfMissing,
    IfExists,
}

/// What SET does with the key's expiry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetExpiry {
    /// Remove any expiry.
    Clear,
    /// Expire at this Unix time in milliseconds.
    At(u64),
    /// Keep the expiry the key had (KEEPTTL).
    Keep,
}

#[derive(Debug, Clone, Copy)]
pub struct SetOptions {
    pub condition: SetCondition,
    pub expiry: SetExpiry,
    /// Return the previous value (SET ... GET, GETSET).
    pub get: bool,
}

impl Default for SetOptions {
    fn default() -> Self {
        SetOptions {
            condition: SetCondition::Always,
            expiry: SetExpiry::Clear,
            get: false,
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
pub struct SetOutcome {
    pub written: bool,
    /// The previous string value, when `get` was asked for.
    pub old: Option<Vec<u8>>,
}

/// A live key as a read-modify-write command sees it.
enum Current {
    Missing,
    String { expire_ms: u64, value: Vec<u8> },
    Other { expire_ms: u64 },
}

impl Database {
    fn current(&self, key: &[u8]) -> Result<Current> {
        let Some(raw) = self.live_record(key)? else {
            return Ok(Current::Missing);
        };
        Ok(match Database::decode(&raw)? {
            Record::String { expire_ms, value } => Current::String {
                expire_ms,
                value: value.to_vec(),
            },
            Record::Collection(meta) => Current::Other {
                expire_ms: meta.expire_ms,
            },
        })
    }

    fn put_string(&self, key: &[u8], expire_ms: u64, value: &[u8]) -> Result<()> {
        let mut batch = self.storage.batch();
        batch.put(
            Cf::Metadata,
            metadata_key(key),
            metadata::encode_string(expire_ms, value),
        );
        Ok(self.storage.write(batch)?)
    }

    /// GET: the value of a string key.
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let Some(raw) = self.storage.get(Cf::Metadata, &metadata_key(key))? else {
            self.note_lookup(false);
            return Ok(None);
        };
        let record = metadata::decode(&raw)?;
        let live = !record.is_expired(now_ms());
        self.note_lookup(live);
        match record {
            _ if !live => Ok(None),
            Record::String { value, .. } => Ok(Some(value.to_vec())),
            Record::Collection(_) => Err(TypeError::WrongType),
        }
    }

    /// GET of several keys at once (one RocksDB multi-get): per key its value, or
    /// WRONGTYPE for a key of another type. Serves pipelined GETs.
    pub fn get_many(&self, keys: &[&[u8]]) -> Result<Vec<Result<Option<Vec<u8>>>>> {
        self.live_values(keys, |record| match record {
            Record::String { value, .. } => Ok(Some(value.to_vec())),
            Record::Collection(_) => Err(TypeError::WrongType),
        })
    }

    /// MGET: values of several keys; keys of other types read as missing.
    pub fn mget(&self, keys: &[&[u8]]) -> Result<Vec<Option<Vec<u8>>>> {
        self.live_values(keys, |record| match record {
            Record::String { value, .. } => Ok(Some(value.to_vec())),
            Record::Collection(_) => Ok(None),
        })?
        .into_iter()
        .collect()
    }

    /// Reads the records of `keys` at once (one RocksDB multi-get) and hands each live
    /// one to `read`; a missing or expired key is `Ok(None)`. Counts hits and misses
    /// for INFO's keyspace statistics.
    fn live_values<T>(
        &self,
        keys: &[&[u8]],
        read: impl Fn(Record<'_>) -> Result<Option<T>>,
    ) -> Result<Vec<Result<Option<T>>>> {
        let stored: Vec<Vec<u8>> = keys.iter().map(|k| metadata_key(k)).collect();
        let now = now_ms();
        Ok(self
            .storage
            .multi_get(Cf::Metadata, &stored, false)?
            .into_iter()
            .map(|raw| {
                let Some(raw) = raw else {
                    self.note_lookup(false);
                    return Ok(None);
                };
                let record = metadata::decode(&raw)?;
                let live = !record.is_expired(now);
                self.note_lookup(live);
                if live {
                    read(record)
                } else {
                    Ok(None)
                }
            })
            .collect())
    }

    /// SET with every option.
    pub fn set(&self, key: &[u8], value: &[u8], options: SetOptions) -> Result<SetOutcome> {
        let plain = options.condition == SetCondition::Always
            && options.expiry != SetExpiry::Keep
            && !options.get;
        let _guard = self.locks.lock_one(key);
        if plain {
            let expire_ms = match options.expiry {
                SetExpiry::At(ms) => ms,
                _ => 0,
            };
            self.put_string(key, expire_ms, value)?;
            return Ok(SetOutcome {
                written: true,
                old: None,
            });
        }
        let current = self.current(key)?;
        let (exists, old_expire, old_value) = match current {
            Current::Missing => (false, 0, None),
            Current::String { expire_ms, value } => (true, expire_ms, Some(value)),
            Current::Other { expire_ms } => {
                if options.get {
                    return Err(TypeError::WrongType);
                }
                (true, expire_ms, None)
            }
        };
        let allowed = match options.condition {
            SetCondition::Always => true,
            SetCondition::IfMissing => !exists,
            SetCondition::IfExists => exists,
        };
        if allowed {
            let expire_ms = match options.expiry {
                SetExpiry::Clear => 0,
                SetExpiry::At(ms) => ms,
                SetExpiry::Keep => old_expire,
            };
            self.put_string(key, expire_ms, value)?;
        }
        Ok(SetOutcome {
            written: allowed,
            old: if options.get { old_value } else { None },
        })
    }

    /// MSET (all keys) or MSETNX (only when none exists); returns whether it wrote.
    pub fn mset(&self, pairs: &[(&[u8], &[u8])], only_if_none_exist: bool) -> Result<bool> {
        let keys: Vec<&[u8]> = pairs.iter().map(|(k, _)| *k).collect();
        let _guard = self.locks.lock(&keys);
        if only_if_none_exist {
            for key in &keys {
                if self.live_record(key)?.is_some() {
                    return Ok(false);
                }
            }
        }
        let mut batch = self.storage.batch();
        for (key, value) in pairs {
            batch.put(
                Cf::Metadata,
                metadata_key(key),
                metadata::encode_string(0, value),
            );
        }
        self.storage.write(batch)?;
        Ok(true)
    }

    /// Reads a string for modification: `(expiry, value)`, WRONGTYPE for other types.
    fn string_for_update(&self, key: &[u8]) -> Result<Option<(u64, Vec<u8>)>> {
        match self.current(key)? {
            Current::Missing => Ok(None),
            Current::String { expire_ms, value } => Ok(Some((expire_ms, value))),
            Current::Other { .. } => Err(TypeError::WrongType),
        }
    }

    /// INCRBY/DECRBY/INCR/DECR.
    pub fn incr_by(&self, key: &[u8], delta: i64) -> Result<i64> {
        let _guard = self.locks.lock_one(key);
        let (expire_ms, current) = match self.string_for_update(key)? {
            None => (0, 0),
            Some((expire_ms, value)) => {
                (expire_ms, parse_i64(&value).ok_or(TypeError::NotInteger)?)
            }
        };
        let next = current.checked_add(delta).ok_or(TypeError::Overflow)?;
        self.put_string(key, expire_ms, next.to_string().as_bytes())?;
        Ok(next)
    }

    /// INCRBYFLOAT; returns the new value as Redis prints it.
    pub fn incr_by_float(&self, key: &[u8], delta: f64) -> Result<String> {
        let _guard = self.locks.lock_one(key);
        let (expire_ms, current) = match self.string_for_update(key)? {
            None => (0, 0.0),
            Some((expire_ms, value)) => (expire_ms, parse_f64(&value).ok_or(TypeError::NotFloat)?),
        };
        let next = current + delta;
        if !next.is_finite() {
            return Err(TypeError::NanOrInfinity);
        }
        let text = format_float_human(next);
        self.put_string(key, expire_ms, text.as_bytes())?;
        Ok(text)
    }

    /// APPEND; returns the new length.
    pub fn append(&self, key: &[u8], suffix: &[u8]) -> Result<usize> {
        let _guard = self.locks.lock_one(key);
        let (expire_ms, mut value) = self.string_for_update(key)?.unwrap_or((0, Vec::new()));
        if value.len() + suffix.len() > MAX_STRING_LEN {
            return Err(TypeError::TooLarge);
        }
        value.extend_from_slice(suffix);
        self.put_string(key, expire_ms, &value)?;
        Ok(value.len())
    }

    /// STRLEN.
    pub fn strlen(&self, key: &[u8]) -> Result<usize> {
        Ok(self.get(key)?.map_or(0, |v| v.len()))
    }

    /// GETRANGE with Redis' index rules (negative from the end, clamped).
    pub fn getrange(&self, key: &[u8], start: i64, end: i64) -> Result<Vec<u8>> {
        let value = self.get(key)?.unwrap_or_default();
        let len = value.len() as i64;
        if len == 0 || (start < 0 && end < 0 && start > end) {
            return Ok(Vec::new());
        }
        let norm = |i: i64| if i < 0 { (len + i).max(0) } else { i };
        let (start, end) = (norm(start), norm(end).min(len - 1));
        if start > end {
            return Ok(Vec::new());
        }
        Ok(value[start as usize..=end as usize].to_vec())
    }

    /// SETRANGE; returns the new length.
    pub fn setrange(&self, key: &[u8], offset: usize, patch: &[u8]) -> Result<usize> {
        let _guard = self.locks.lock_one(key);
        let existing = self.string_for_update(key)?;
        if patch.is_empty() {
            return Ok(existing.map_or(0, |(_, v)| v.len()));
        }
        if offset.saturating_add(patch.len()) > MAX_STRING_LEN {
            return Err(TypeError::TooLarge);
        }
        let (expire_ms, mut value) = existing.unwrap_or((0, Vec::new()));
        if value.len() < offset + patch.len() {
            value.resize(offset + patch.len(), 0);
        }
        value[offset..offset + patch.len()].copy_from_slice(patch);
        self.put_string(key, expire_ms, &value)?;
        Ok(value.len())
    }

    /// CAS, Kvrocks' compare-and-swap (`src/types/redis_string.cc`, `String::CAS`): sets
    /// `key` to `new` with the expiry `expire_ms` (Unix ms, 0 = none; the old expiry is
    /// not kept) when its value is `expected`. Returns 1 when it wrote, 0 when the value
    /// differs, -1 when the key does not exist; WRONGTYPE for a key of another type.
    pub fn compare_and_set(
        &self,
        key: &[u8],
        expected: &[u8],
        new: &[u8],
        expire_ms: u64,
    ) -> Result<i64> {
        let _guard = self.locks.lock_one(key);
        match self.string_for_update(key)? {
            None => Ok(-1),
            Some((_, value)) if value != expected => Ok(0),
            Some(_) => {
                self.put_string(key, expire_ms, new)?;
                Ok(1)
            }
        }
    }

    /// CAD, Kvrocks' compare-and-delete (`String::CAD`): deletes `key` when its value is
    /// `expected`. Replies as [`Database::compare_and_set`].
    pub fn compare_and_delete(&self, key: &[u8], expected: &[u8]) -> Result<i64> {
        let _guard = self.locks.lock_one(key);
        match self.string_for_update(key)? {
            None => Ok(-1),
            Some((_, value)) if value != expected => Ok(0),
            Some(_) => {
                let mut batch = self.storage.batch();
                self.delete_into(&mut batch, key);
                self.storage.write(batch)?;
                Ok(1)
            }
        }
    }

    /// GETDEL.
    pub fn getdel(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let _guard = self.locks.lock_one(key);
        let value = self.get(key)?;
        if value.is_some() {
            let mut batch = self.storage.batch();
            self.delete_into(&mut batch, key);
            self.storage.write(batch)?;
        }
        Ok(value)
    }

    /// GETEX: the value, changing the expiry when `expiry` is given (`Keep` = no change).
    pub fn getex(&self, key: &[u8], expiry: SetExpiry) -> Result<Option<Vec<u8>>> {
        let _guard = self.locks.lock_one(key);
        let Some((old_expire, value)) = self.string_for_update(key)? else {
            return Ok(None);
        };
        let expire_ms = match expiry {
            SetExpiry::Keep => return Ok(Some(value)),
            SetExpiry::Clear => 0,
            SetExpiry::At(ms) => ms,
        };
        if expire_ms != 0 && expire_ms <= now_ms() {
            let mut batch = self.storage.batch();
            self.delete_into(&mut batch, key);
            self.storage.write(batch)?;
        } else if expire_ms != old_expire {
            self.put_string(key, expire_ms, &value)?;
        }
        Ok(Some(value))
    }
}
