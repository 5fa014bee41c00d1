//! Hashes: one member record per field, value = the field's value.

use ferrokv_storage::metadata::DataType;
use ferrokv_storage::Cf;

use crate::numbers::{format_float_human, parse_f64, parse_i64};
use crate::{Database, LexBound, LexRange, Page, Result, TypeError};

/// Fields and values, in field order.
pub type FieldValues = Vec<(Vec<u8>, Vec<u8>)>;

impl Database {
    /// HSET/HMSET: returns how many fields were new.
    pub fn hset(&self, key: &[u8], pairs: &[(&[u8], &[u8])]) -> Result<u64> {
        let _guard = self.locks.lock_one(key);
        let mut meta = self.collection_or_new(key, DataType::Hash)?;
        let mut batch = self.storage.batch();
        let mut added = 0;
        let mut seen = std::collections::HashSet::new();
        for (field, value) in pairs {
            if seen.insert(*field) && self.member(key, meta.version, field)?.is_none() {
                added += 1;
            }
            self.put_member(&mut batch, key, meta.version, field, value);
        }
        meta.size += added;
        self.put_collection(&mut batch, key, &meta);
        self.storage.write(batch)?;
        Ok(added)
    }

    /// HSETNX: sets the field only if it does not exist.
    pub fn hsetnx(&self, key: &[u8], field: &[u8], value: &[u8]) -> Result<bool> {
        let _guard = self.locks.lock_one(key);
        let mut meta = self.collection_or_new(key, DataType::Hash)?;
        if self.member(key, meta.version, field)?.is_some() {
            return Ok(false);
        }
        let mut batch = self.storage.batch();
        self.put_member(&mut batch, key, meta.version, field, value);
        meta.size += 1;
        self.put_collection(&mut batch, key, &meta);
        self.storage.write(batch)?;
        Ok(true)
    }

    pub fn hget(&self, key: &[u8], field: &[u8]) -> Result<Option<Vec<u8>>> {
        match self.collection(key, DataType::Hash)? {
            Some(meta) => self.member(key, meta.version, field),
            None => Ok(None),
        }
    }

    pub fn hmget(&self, key: &[u8], fields: &[&[u8]]) -> Result<Vec<Option<Vec<u8>>>> {
        let Some(meta) = self.collection(key, DataType::Hash)? else {
            return Ok(vec![None; fields.len()]);
        };
        fields
            .iter()
            .map(|f| self.member(key, meta.version, f))
            .collect()
    }

    /// HDEL: returns how many fields existed.
    pub fn hdel(&self, key: &[u8], fields: &[&[u8]]) -> Result<u64> {
        let _guard = self.locks.lock_one(key);
        self.remove_members(key, DataType::Hash, fields, |batch, version, member| {
            self.remove_plain_member(batch, key, version, member)
        })
    }

    pub fn hlen(&self, key: &[u8]) -> Result<u64> {
        Ok(self.collection(key, DataType::Hash)?.map_or(0, |m| m.size))
    }

    pub fn hexists(&self, key: &[u8], field: &[u8]) -> Result<bool> {
        Ok(self.hget(key, field)?.is_some())
    }

    pub fn hstrlen(&self, key: &[u8], field: &[u8]) -> Result<usize> {
        Ok(self.hget(key, field)?.map_or(0, |v| v.len()))
    }

    /// HGETALL (and HKEYS/HVALS): every field with its value, in field order.
    pub fn hgetall(&self, key: &[u8]) -> Result<FieldValues> {
        let Some(meta) = self.collection(key, DataType::Hash)? else {
            return Ok(Vec::new());
        };
        let mut out = Vec::with_capacity(meta.size.min(1 << 20) as usize);
        self.scan_members(
            Cf::Members,
            key,
            meta.version,
            &[],
            false,
            |field, value| {
                out.push((field.to_vec(), value.to_vec()));
                true
            },
        )?;
        Ok(out)
    }

    /// HRANGEBYLEX, Kvrocks' extension (`src/types/redis_hash.cc`, `Hash::RangeByLex`):
    /// the fields in `range` with their values, in field order (highest first when
    /// `rev`), after skipping `offset` of them (a negative offset skips none, as in
    /// Kvrocks), at most `count` (negative: all; 0: none).
    pub fn hrangebylex(
        &self,
        key: &[u8],
        range: &LexRange,
        rev: bool,
        offset: i64,
        count: i64,
    ) -> Result<FieldValues> {
        let mut out = Vec::new();
        if count == 0 {
            return Ok(out);
        }
        let Some(meta) = self.collection(key, DataType::Hash)? else {
            return Ok(out);
        };
        // Start at the near end's field (the scan skips an exclusive one below).
        let near = if rev { &range.max } else { &range.min };
        let start = match near {
            LexBound::Inclusive(m) | LexBound::Exclusive(m) => m.as_slice(),
            LexBound::Min | LexBound::Max => &[],
        };
        let mut skip = offset.max(0);
        self.scan_members(
            Cf::Members,
            key,
            meta.version,
            start,
            rev,
            |field, value| {
                let (inside_near, inside_far) = if rev {
                    (range.lte_max(field), range.gte_min(field))
                } else {
                    (range.gte_min(field), range.lte_max(field))
                };
                if !inside_near {
                    return true;
                }
                if !inside_far {
                    return false;
                }
                if skip > 0 {
                    skip -= 1;
                    return true;
                }
                out.push((field.to_vec(), value.to_vec()));
                count < 0 || (out.len() as i64) < count
            },
        )?;
        Ok(out)
    }

    /// Applies `update` to the current value of a field (None = missing) under the key
    /// lock and stores the result.
    fn hupdate<T>(
        &self,
        key: &[u8],
        field: &[u8],
        update: impl FnOnce(Option<&[u8]>) -> Result<(Vec<u8>, T)>,
    ) -> Result<T> {
        let _guard = self.locks.lock_one(key);
        let mut meta = self.collection_or_new(key, DataType::Hash)?;
        let current = self.member(key, meta.version, field)?;
        let (value, out) = update(current.as_deref())?;
        let mut batch = self.storage.batch();
        if current.is_none() {
            meta.size += 1;
        }
        self.put_member(&mut batch, key, meta.version, field, &value);
        self.put_collection(&mut batch, key, &meta);
        self.storage.write(batch)?;
        Ok(out)
    }

    pub fn hincrby(&self, key: &[u8], field: &[u8], delta: i64) -> Result<i64> {
        self.hupdate(key, field, |current| {
            let current = match current {
                None => 0,
                Some(v) => parse_i64(v).ok_or(TypeError::HashNotInteger)?,
            };
            let next = current.checked_add(delta).ok_or(TypeError::Overflow)?;
            Ok((next.to_string().into_bytes(), next))
        })
    }

    pub fn hincrbyfloat(&self, key: &[u8], field: &[u8], delta: f64) -> Result<String> {
        self.hupdate(key, field, |current| {
            let current = match current {
                None => 0.0,
                Some(v) => parse_f64(v).ok_or(TypeError::HashNotFloat)?,
            };
            let next = current + delta;
            if !next.is_finite() {
                return Err(TypeError::NanOrInfinity);
            }
            let text = format_float_human(next);
            Ok((text.clone().into_bytes(), text))
        })
    }

    /// HSCAN: up to about `count` fields from `cursor` (a field, inclusive) on; returns
    /// the matching pairs and the field to continue from (`None` = done).
    pub fn hscan(
        &self,
        key: &[u8],
        cursor: &[u8],
        pattern: Option<&[u8]>,
        count: usize,
    ) -> Result<Page<(Vec<u8>, Vec<u8>)>> {
        self.scan_page(
            key,
            DataType::Hash,
            cursor,
            pattern,
            count,
            |field, value| (field.to_vec(), value.to_vec()),
        )
    }

    /// HRANDFIELD: `count` > 0 distinct fields (at most all), < 0 `-count` fields that
    /// may repeat.
    pub fn hrandfield(&self, key: &[u8], count: i64) -> Result<FieldValues> {
        let all = self.hgetall(key)?;
        if all.is_empty() || count == 0 {
            return Ok(Vec::new());
        }
        crate::random_picks(all, count)
    }
}
