//! Sets: one member record per element, empty value.

use std::collections::BTreeSet;

use ferrokv_storage::metadata::DataType;
use ferrokv_storage::Cf;

use crate::{Database, Page, Result};

/// What SMOVE did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Moved {
    /// The member was not in the source (or the source is missing).
    NotMoved,
    /// Removed from the source; the destination already had it (or is the source).
    AlreadyThere,
    /// Removed from the source and added to the destination.
    Added,
}

/// How SINTER/SUNION/SDIFF combine their inputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetOp {
    Inter,
    Union,
    Diff,
}

impl Database {
    /// SADD: returns how many elements were new.
    pub fn sadd(&self, key: &[u8], members: &[&[u8]]) -> Result<u64> {
        let _guard = self.locks.lock_one(key);
        self.add_plain_members(key, DataType::Set, members)
    }

    /// SREM: returns how many elements existed.
    pub fn srem(&self, key: &[u8], members: &[&[u8]]) -> Result<u64> {
        let _guard = self.locks.lock_one(key);
        self.srem_locked(key, members)
    }

    fn srem_locked(&self, key: &[u8], members: &[&[u8]]) -> Result<u64> {
        self.remove_members(key, DataType::Set, members, |batch, version, member| {
            self.remove_plain_member(batch, key, version, member)
        })
    }

    pub fn scard(&self, key: &[u8]) -> Result<u64> {
        Ok(self.collection(key, DataType::Set)?.map_or(0, |m| m.size))
    }

    /// SISMEMBER/SMISMEMBER.
    pub fn sismember(&self, key: &[u8], members: &[&[u8]]) -> Result<Vec<bool>> {
        let Some(meta) = self.collection(key, DataType::Set)? else {
            return Ok(vec![false; members.len()]);
        };
        members
            .iter()
            .map(|m| Ok(self.member(key, meta.version, m)?.is_some()))
            .collect()
    }

    /// SMEMBERS: every element, in byte order.
    pub fn smembers(&self, key: &[u8]) -> Result<Vec<Vec<u8>>> {
        let Some(meta) = self.collection(key, DataType::Set)? else {
            return Ok(Vec::new());
        };
        let mut out = Vec::with_capacity(meta.size.min(1 << 20) as usize);
        self.scan_members(Cf::Members, key, meta.version, &[], false, |member, _| {
            out.push(member.to_vec());
            true
        })?;
        Ok(out)
    }

    /// SRANDMEMBER: `count` > 0 distinct elements, < 0 `-count` elements that may repeat.
    pub fn srandmember(&self, key: &[u8], count: i64) -> Result<Vec<Vec<u8>>> {
        let all = self.smembers(key)?;
        if all.is_empty() || count == 0 {
            return Ok(Vec::new());
        }
        crate::random_picks(all, count)
    }

    /// SPOP: removes and returns up to `count` random elements.
    pub fn spop(&self, key: &[u8], count: u64) -> Result<Vec<Vec<u8>>> {
        let _guard = self.locks.lock_one(key);
        let mut picked = self.srandmember(key, count.min(i64::MAX as u64) as i64)?;
        picked.truncate(count as usize);
        let refs: Vec<&[u8]> = picked.iter().map(Vec::as_slice).collect();
        self.srem_locked(key, &refs)?;
        Ok(picked)
    }

    /// SMOVE: moves one element; says whether it moved and whether the destination
    /// gained it.
    pub fn smove(&self, src: &[u8], dst: &[u8], member: &[u8]) -> Result<Moved> {
        let _guard = self.locks.lock(&[src, dst]);
        let Some(mut src_meta) = self.collection(src, DataType::Set)? else {
            return Ok(Moved::NotMoved);
        };
        let mut dst_meta = self.collection_or_new(dst, DataType::Set)?;
        if self.member(src, src_meta.version, member)?.is_none() {
            return Ok(Moved::NotMoved);
        }
        if src == dst {
            return Ok(Moved::AlreadyThere);
        }
        let mut outcome = Moved::AlreadyThere;
        let mut batch = self.storage.batch();
        self.delete_member(&mut batch, src, src_meta.version, member);
        src_meta.size -= 1;
        self.put_collection(&mut batch, src, &src_meta);
        if self.member(dst, dst_meta.version, member)?.is_none() {
            self.put_member(&mut batch, dst, dst_meta.version, member, b"");
            dst_meta.size += 1;
            self.put_collection(&mut batch, dst, &dst_meta);
            outcome = Moved::Added;
        }
        self.storage.write(batch)?;
        Ok(outcome)
    }

    /// Reads a set for a combination (missing = empty; WRONGTYPE for other types).
    fn set_contents(&self, key: &[u8]) -> Result<BTreeSet<Vec<u8>>> {
        Ok(self.smembers(key)?.into_iter().collect())
    }

    /// SINTER/SUNION/SDIFF.
    pub fn scombine(&self, op: SetOp, keys: &[&[u8]]) -> Result<Vec<Vec<u8>>> {
        let mut sets = Vec::with_capacity(keys.len());
        for key in keys {
            sets.push(self.set_contents(key)?);
        }
        let mut iter = sets.into_iter();
        let Some(mut acc) = iter.next() else {
            return Ok(Vec::new());
        };
        for set in iter {
            match op {
                SetOp::Inter => acc.retain(|m| set.contains(m)),
                SetOp::Union => acc.extend(set),
                SetOp::Diff => acc.retain(|m| !set.contains(m)),
            }
        }
        Ok(acc.into_iter().collect())
    }

    /// SINTERSTORE/SUNIONSTORE/SDIFFSTORE: replaces `dst` (whatever it held) with the
    /// result; returns its size.
    pub fn scombine_store(&self, op: SetOp, dst: &[u8], keys: &[&[u8]]) -> Result<u64> {
        let mut all: Vec<&[u8]> = keys.to_vec();
        all.push(dst);
        let _guard = self.locks.lock(&all);
        let result = self.scombine(op, keys)?;
        let mut batch = self.storage.batch();
        self.delete_into(&mut batch, dst);
        let mut meta = self.new_collection(DataType::Set);
        for member in &result {
            self.put_member(&mut batch, dst, meta.version, member, b"");
        }
        meta.size = result.len() as u64;
        self.put_collection(&mut batch, dst, &meta);
        self.storage.write(batch)?;
        Ok(meta.size)
    }

    /// SSCAN: up to about `count` elements from `cursor` (inclusive) on.
    pub fn sscan(
        &self,
        key: &[u8],
        cursor: &[u8],
        pattern: Option<&[u8]>,
        count: usize,
    ) -> Result<Page<Vec<u8>>> {
        self.scan_page(key, DataType::Set, cursor, pattern, count, |member, _| {
            member.to_vec()
        })
    }
}
