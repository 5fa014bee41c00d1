//! Lists: elements are members keyed by a 64-bit position; the metadata's extra field
//! holds `[head:8][tail:8]` (elements live at head..tail). Pushing and popping at
//! either end is O(1); LINSERT and LREM rewrite the list as a new incarnation.

use ferrokv_storage::metadata::{CollectionMeta, DataType};
use ferrokv_storage::{Batch, Cf, StorageError};

use crate::{Database, Result, TypeError};

const MIDDLE: u64 = 1 << 63;

pub(crate) fn ends(meta: &CollectionMeta) -> (u64, u64) {
    let read = |at: usize| {
        meta.extra
            .get(at..at + 8)
            .and_then(|b| b.try_into().ok())
            .map(u64::from_be_bytes)
            .unwrap_or(MIDDLE)
    };
    (read(0), read(8))
}

pub(crate) fn set_ends(meta: &mut CollectionMeta, head: u64, tail: u64) {
    let mut extra = Vec::with_capacity(16);
    extra.extend_from_slice(&head.to_be_bytes());
    extra.extend_from_slice(&tail.to_be_bytes());
    meta.extra = extra;
    meta.size = tail - head;
}

/// Takes `count` positions at `end` of the list (nearest first: the order pushed
/// values take them) and records the new ends and size in `meta`.
pub(crate) fn take_positions(meta: &mut CollectionMeta, count: usize, end: End) -> Vec<u64> {
    let (mut head, mut tail) = ends(meta);
    let positions = (0..count)
        .map(|_| match end {
            End::Left => {
                head -= 1;
                head
            }
            End::Right => {
                tail += 1;
                tail - 1
            }
        })
        .collect();
    set_ends(meta, head, tail);
    positions
}

/// Which end of a list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    Left,
    Right,
}

/// Resolves Redis start/stop indexes (negative from the end) to an inclusive range of
/// offsets, or `None` when it is empty.
pub fn resolve_range(start: i64, stop: i64, len: u64) -> Option<(u64, u64)> {
    let len = len as i64;
    let start = if start < 0 {
        (len + start).max(0)
    } else {
        start
    };
    let stop = if stop < 0 {
        len + stop
    } else {
        stop.min(len - 1)
    };
    (start <= stop && start < len && stop >= 0).then_some((start as u64, stop as u64))
}

impl Database {
    fn list(&self, key: &[u8]) -> Result<Option<CollectionMeta>> {
        self.collection(key, DataType::List)
    }

    fn new_list(&self) -> CollectionMeta {
        let mut meta = self.new_collection(DataType::List);
        set_ends(&mut meta, MIDDLE, MIDDLE);
        meta
    }

    fn element(&self, key: &[u8], version: u64, position: u64) -> Result<Option<Vec<u8>>> {
        self.member(key, version, &position.to_be_bytes())
    }

    /// An empty list's metadata (positions start in the middle).
    pub(crate) fn new_list_meta(&self) -> CollectionMeta {
        self.new_list()
    }

    /// Appends `values` at the tail into `batch` and updates `meta` (written too).
    pub(crate) fn push_all(
        &self,
        batch: &mut Batch<'_>,
        key: &[u8],
        meta: &mut CollectionMeta,
        values: &[&[u8]],
    ) {
        self.push_into(batch, key, meta, values, End::Right);
    }

    /// Replaces `dst` with a list of what `compute` reads, `src` and `dst` locked so the
    /// read and the write are one step (SORT ... STORE). An empty result deletes `dst`.
    /// Returns the new length.
    pub fn store_list_computed<E: From<TypeError>>(
        &self,
        dst: &[u8],
        src: &[u8],
        compute: impl FnOnce(&Self) -> std::result::Result<Vec<Vec<u8>>, E>,
    ) -> std::result::Result<u64, E> {
        let _guard = self.locks.lock(&[src, dst]);
        let values = compute(self)?;
        let mut batch = self.storage.batch();
        self.delete_into(&mut batch, dst);
        let mut meta = self.new_list();
        if !values.is_empty() {
            let refs: Vec<&[u8]> = values.iter().map(Vec::as_slice).collect();
            self.push_into(&mut batch, dst, &mut meta, &refs, End::Right);
        }
        self.storage.write(batch).map_err(TypeError::from)?;
        Ok(meta.size)
    }

    /// LPUSH/RPUSH (and the X forms when `only_if_exists`): returns the new length.
    pub fn push(
        &self,
        key: &[u8],
        values: &[&[u8]],
        end: End,
        only_if_exists: bool,
    ) -> Result<u64> {
        let _guard = self.locks.lock_one(key);
        let mut meta = match self.list(key)? {
            Some(meta) => meta,
            None if only_if_exists => return Ok(0),
            None => self.new_list(),
        };
        let mut batch = self.storage.batch();
        self.push_into(&mut batch, key, &mut meta, values, end);
        self.storage.write(batch)?;
        Ok(meta.size)
    }

    fn push_into(
        &self,
        batch: &mut Batch<'_>,
        key: &[u8],
        meta: &mut CollectionMeta,
        values: &[&[u8]],
        end: End,
    ) {
        let positions = take_positions(meta, values.len(), end);
        for (value, position) in values.iter().zip(positions) {
            self.put_member(batch, key, meta.version, &position.to_be_bytes(), value);
        }
        self.put_collection(batch, key, meta);
    }

    /// LPOP/RPOP: removes up to `count` elements from one end.
    pub fn pop(&self, key: &[u8], end: End, count: u64) -> Result<Option<Vec<Vec<u8>>>> {
        let _guard = self.locks.lock_one(key);
        let Some(mut meta) = self.list(key)? else {
            return Ok(None);
        };
        let mut batch = self.storage.batch();
        let popped = self.pop_into(&mut batch, key, &mut meta, end, count)?;
        self.storage.write(batch)?;
        Ok(Some(popped))
    }

    fn pop_into(
        &self,
        batch: &mut Batch<'_>,
        key: &[u8],
        meta: &mut CollectionMeta,
        end: End,
        count: u64,
    ) -> Result<Vec<Vec<u8>>> {
        let (mut head, mut tail) = ends(meta);
        let mut popped = Vec::new();
        while popped.len() as u64 != count && head < tail {
            let position = match end {
                End::Left => {
                    head += 1;
                    head - 1
                }
                End::Right => {
                    tail -= 1;
                    tail
                }
            };
            // Lists are dense (LREM and LINSERT rewrite them): a missing element is
            // damage (a forged APPLYBATCH), and walking on over its positions could
            // take 2^64 steps.
            let Some(value) = self.element(key, meta.version, position)? else {
                return Err(TypeError::Storage(StorageError::Corrupt(
                    "list element missing",
                )));
            };
            popped.push(value);
            self.delete_member(batch, key, meta.version, &position.to_be_bytes());
        }
        set_ends(meta, head, tail);
        self.put_collection(batch, key, meta);
        Ok(popped)
    }

    pub fn llen(&self, key: &[u8]) -> Result<u64> {
        Ok(self.list(key)?.map_or(0, |m| m.size))
    }

    /// LRANGE.
    pub fn lrange(&self, key: &[u8], start: i64, stop: i64) -> Result<Vec<Vec<u8>>> {
        let mut out = Vec::new();
        self.lrange_with(key, start, stop, |value| out.push(value.to_vec()))?;
        Ok(out)
    }

    /// LRANGE handing each element, in order, to `visit` while it is borrowed from
    /// storage (a reply can be built from it without a copy per element).
    pub fn lrange_with(
        &self,
        key: &[u8],
        start: i64,
        stop: i64,
        mut visit: impl FnMut(&[u8]),
    ) -> Result<()> {
        let Some(meta) = self.list(key)? else {
            return Ok(());
        };
        let Some((first, last)) = resolve_range(start, stop, meta.size) else {
            return Ok(());
        };
        let (head, _) = ends(&meta);
        let wanted = (last - first + 1) as usize;
        let mut seen = 0;
        let from = (head + first).to_be_bytes();
        self.scan_few_members(Cf::Members, key, meta.version, &from, wanted, |_, value| {
            visit(value);
            seen += 1;
            seen < wanted
        })
    }

    /// All elements, in order.
    fn list_all(&self, key: &[u8]) -> Result<Vec<Vec<u8>>> {
        self.lrange(key, 0, -1)
    }

    pub fn lindex(&self, key: &[u8], index: i64) -> Result<Option<Vec<u8>>> {
        let Some(meta) = self.list(key)? else {
            return Ok(None);
        };
        let Some((offset, _)) = resolve_range(index, index, meta.size) else {
            return Ok(None);
        };
        if index >= 0 && index as u64 >= meta.size {
            return Ok(None);
        }
        let (head, _) = ends(&meta);
        self.element(key, meta.version, head + offset)
    }

    /// LSET.
    pub fn lset(&self, key: &[u8], index: i64, value: &[u8]) -> Result<()> {
        let _guard = self.locks.lock_one(key);
        let meta = self.list(key)?.ok_or(TypeError::NoSuchKey)?;
        let in_range = if index >= 0 {
            (index as u64) < meta.size
        } else {
            index.unsigned_abs() <= meta.size
        };
        if !in_range {
            return Err(TypeError::IndexOutOfRange);
        }
        let (head, tail) = ends(&meta);
        let position = if index >= 0 {
            head + index as u64
        } else {
            tail - index.unsigned_abs()
        };
        let mut batch = self.storage.batch();
        self.put_member(
            &mut batch,
            key,
            meta.version,
            &position.to_be_bytes(),
            value,
        );
        self.storage.write(batch)?;
        Ok(())
    }

    /// Replaces the whole list with `elements` as a new incarnation, keeping the expiry.
    fn rewrite_list(&self, key: &[u8], old: &CollectionMeta, elements: &[Vec<u8>]) -> Result<()> {
        let mut meta = self.new_list();
        meta.expire_ms = old.expire_ms;
        let refs: Vec<&[u8]> = elements.iter().map(Vec::as_slice).collect();
        let mut batch = self.storage.batch();
        if refs.is_empty() {
            self.delete_into(&mut batch, key);
        } else {
            self.push_into(&mut batch, key, &mut meta, &refs, End::Right);
        }
        self.storage.write(batch)?;
        Ok(())
    }

    /// LINSERT: -1 when the pivot is missing, 0 when the key is, else the new length.
    pub fn linsert(&self, key: &[u8], before: bool, pivot: &[u8], value: &[u8]) -> Result<i64> {
        let _guard = self.locks.lock_one(key);
        let Some(meta) = self.list(key)? else {
            return Ok(0);
        };
        let mut elements = self.list_all(key)?;
        let Some(at) = elements.iter().position(|e| e == pivot) else {
            return Ok(-1);
        };
        elements.insert(if before { at } else { at + 1 }, value.to_vec());
        self.rewrite_list(key, &meta, &elements)?;
        Ok(elements.len() as i64)
    }

    /// LREM: removes `count` occurrences (from the head if > 0, from the tail if < 0,
    /// all if 0); returns how many.
    pub fn lrem(&self, key: &[u8], count: i64, value: &[u8]) -> Result<u64> {
        let _guard = self.locks.lock_one(key);
        let Some(meta) = self.list(key)? else {
            return Ok(0);
        };
        let mut elements = self.list_all(key)?;
        let limit = if count == 0 {
            u64::MAX
        } else {
            count.unsigned_abs()
        };
        let mut removed = 0u64;
        let mut keep = vec![true; elements.len()];
        let order: Box<dyn Iterator<Item = usize>> = if count < 0 {
            Box::new((0..elements.len()).rev())
        } else {
            Box::new(0..elements.len())
        };
        for i in order {
            if removed == limit {
                break;
            }
            if elements[i] == value {
                keep[i] = false;
                removed += 1;
            }
        }
        if removed > 0 {
            let mut flags = keep.into_iter();
            elements.retain(|_| flags.next().unwrap_or(true));
            self.rewrite_list(key, &meta, &elements)?;
        }
        Ok(removed)
    }

    /// LTRIM.
    pub fn ltrim(&self, key: &[u8], start: i64, stop: i64) -> Result<()> {
        let _guard = self.locks.lock_one(key);
        let Some(mut meta) = self.list(key)? else {
            return Ok(());
        };
        let (head, tail) = ends(&meta);
        let mut batch = self.storage.batch();
        let (new_head, new_tail) = match resolve_range(start, stop, meta.size) {
            Some((first, last)) => (head + first, head + last + 1),
            None => (tail, tail),
        };
        for position in (head..new_head).chain(new_tail..tail) {
            self.delete_member(&mut batch, key, meta.version, &position.to_be_bytes());
        }
        set_ends(&mut meta, new_head, new_tail);
        self.put_collection(&mut batch, key, &meta);
        self.storage.write(batch)?;
        Ok(())
    }

    /// LPOS: positions of `value`; `rank` (non-zero) picks the n-th match from the head
    /// (> 0) or the tail (< 0); `count` 0 = all; `maxlen` 0 = no limit.
    pub fn lpos(
        &self,
        key: &[u8],
        value: &[u8],
        rank: i64,
        count: u64,
        maxlen: u64,
    ) -> Result<Vec<u64>> {
        let elements = self.list_all(key)?;
        let len = elements.len();
        let order: Box<dyn Iterator<Item = usize>> = if rank < 0 {
            Box::new((0..len).rev())
        } else {
            Box::new(0..len)
        };
        let mut skip = rank.unsigned_abs().saturating_sub(1);
        let mut out = Vec::new();
        for (scanned, i) in order.enumerate() {
            if maxlen != 0 && scanned as u64 >= maxlen {
                break;
            }
            if elements[i] == value {
                if skip > 0 {
                    skip -= 1;
                    continue;
                }
                out.push(i as u64);
                if count != 0 && out.len() as u64 >= count {
                    break;
                }
            }
        }
        Ok(out)
    }

    /// LMOVE/RPOPLPUSH: pops from one end of `src` and pushes to one end of `dst`.
    pub fn lmove(&self, src: &[u8], dst: &[u8], from: End, to: End) -> Result<Option<Vec<u8>>> {
        let _guard = self.locks.lock(&[src, dst]);
        let Some(mut src_meta) = self.list(src)? else {
            return Ok(None);
        };
        // Check the destination's type before changing anything.
        let dst_meta = if src == dst { None } else { self.list(dst)? };
        let mut batch = self.storage.batch();
        let popped = self.pop_into(&mut batch, src, &mut src_meta, from, 1)?;
        let Some(value) = popped.into_iter().next() else {
            return Ok(None);
        };
        let mut dst_meta = if src == dst {
            src_meta
        } else {
            dst_meta.unwrap_or_else(|| self.new_list())
        };
        self.push_into(&mut batch, dst, &mut dst_meta, &[&value], to);
        self.storage.write(batch)?;
        Ok(Some(value))
    }
}

#[cfg(test)]
mod tests {
    use super::resolve_range;

    #[test]
    fn ranges_follow_redis() {
        assert_eq!(resolve_range(0, -1, 5), Some((0, 4)));
        assert_eq!(resolve_range(-100, 100, 5), Some((0, 4)));
        assert_eq!(resolve_range(3, 1, 5), None);
        assert_eq!(resolve_range(5, 10, 5), None);
        assert_eq!(resolve_range(-2, -1, 5), Some((3, 4)));
        assert_eq!(resolve_range(0, -6, 5), None);
        assert_eq!(resolve_range(0, 0, 0), None);
    }
}
