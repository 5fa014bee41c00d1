//! Kvrocks' sorted integers (src/types/redis_sortedint.cc): a set of unsigned 64-bit
//! integers kept in numeric order. Each integer is one member record whose member part
//! is its 8 big-endian bytes (so the members family's byte order is numeric order),
//! with an empty value.

use ferrokv_storage::metadata::DataType;
use ferrokv_storage::Cf;

use crate::{Database, Result};

/// SIRANGEBYVALUE's bounds (`(` makes one exclusive) and its `LIMIT offset count`
/// (as Kvrocks: `offset` < 0 skips nothing, `count` ≤ 0 takes all).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IntRange {
    pub min: u64,
    pub min_exclusive: bool,
    pub max: u64,
    pub max_exclusive: bool,
    pub offset: i64,
    pub count: i64,
}

impl IntRange {
    fn contains(&self, id: u64) -> bool {
        let above = if self.min_exclusive {
            id > self.min
        } else {
            id >= self.min
        };
        let below = if self.max_exclusive {
            id < self.max
        } else {
            id <= self.max
        };
        above && below
    }
}

fn member_of(id: u64) -> [u8; 8] {
    id.to_be_bytes()
}

fn id_of(member: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(member.try_into().ok()?))
}

impl Database {
    /// SIADD: returns how many integers were new.
    pub fn siadd(&self, key: &[u8], ids: &[u64]) -> Result<u64> {
        let _guard = self.locks.lock_one(key);
        let members: Vec<[u8; 8]> = ids.iter().map(|&id| member_of(id)).collect();
        let members: Vec<&[u8]> = members.iter().map(|m| m.as_slice()).collect();
        self.add_plain_members(key, DataType::SortedInt, &members)
    }

    /// SIREM: returns how many integers were there.
    pub fn sirem(&self, key: &[u8], ids: &[u64]) -> Result<u64> {
        let _guard = self.locks.lock_one(key);
        let members: Vec<[u8; 8]> = ids.iter().map(|&id| member_of(id)).collect();
        let members: Vec<&[u8]> = members.iter().map(|m| m.as_slice()).collect();
        self.remove_members(
            key,
            DataType::SortedInt,
            &members,
            |batch, version, member| self.remove_plain_member(batch, key, version, member),
        )
    }

    /// SICARD.
    pub fn sicard(&self, key: &[u8]) -> Result<u64> {
        Ok(self
            .collection(key, DataType::SortedInt)?
            .map_or(0, |m| m.size))
    }

    /// SIEXISTS: for each integer, whether it is there.
    pub fn siexists(&self, key: &[u8], ids: &[u64]) -> Result<Vec<bool>> {
        let Some(meta) = self.collection(key, DataType::SortedInt)? else {
            return Ok(vec![false; ids.len()]);
        };
        ids.iter()
            .map(|&id| Ok(self.member(key, meta.version, &member_of(id))?.is_some()))
            .collect()
    }

    /// SIRANGE / SIREVRANGE (`reverse`): from `cursor` on (an integer, itself excluded;
    /// 0 = from the first, or in reverse from the last), skip `offset` integers and
    /// take up to `limit` (0 = all), as Kvrocks' `Sortedint::Range`.
    pub fn sirange(
        &self,
        key: &[u8],
        cursor: u64,
        offset: u64,
        limit: u64,
        reverse: bool,
    ) -> Result<Vec<u64>> {
        let start = if reverse && cursor == 0 {
            u64::MAX
        } else {
            cursor
        };
        let mut out = Vec::new();
        let mut position = 0u64;
        self.walk_ints(key, start, reverse, |id| {
            if id == cursor {
                return true;
            }
            position += 1;
            if position <= offset {
                return true;
            }
            out.push(id);
            limit == 0 || (out.len() as u64) < limit
        })?;
        Ok(out)
    }

    /// SIRANGEBYVALUE / SIREVRANGEBYVALUE (`reverse`, from `max` down).
    pub fn sirange_by_value(&self, key: &[u8], range: IntRange, reverse: bool) -> Result<Vec<u64>> {
        let start = if reverse { range.max } else { range.min };
        let mut out = Vec::new();
        let mut skipped = 0i64;
        self.walk_ints(key, start, reverse, |id| {
            if !range.contains(id) {
                // Past the far end: done; at the near end (an exclusive bound): on.
                return if reverse {
                    id >= range.max
                } else {
                    id <= range.min
                };
            }
            if skipped < range.offset {
                skipped += 1;
                return true;
            }
            out.push(id);
            range.count <= 0 || (out.len() as i64) < range.count
        })?;
        Ok(out)
    }

    /// Visits the integers of `key` in order (or reverse) from `start` (at or after
    /// it, or at or before it in reverse) until `visit` returns false; a missing key
    /// has none.
    fn walk_ints(
        &self,
        key: &[u8],
        start: u64,
        reverse: bool,
        mut visit: impl FnMut(u64) -> bool,
    ) -> Result<()> {
        let Some(meta) = self.collection(key, DataType::SortedInt)? else {
            return Ok(());
        };
        self.scan_members(
            Cf::Members,
            key,
            meta.version,
            &member_of(start),
            reverse,
            |member, _| id_of(member).is_none_or(&mut visit),
        )
    }
}
