//! Sorted sets: two records per member. The members family maps a member to its score
//! (ZSCORE, membership), and the scores family holds one `[score:8][member]` key with an
//! empty value per member, so that the members are ordered by score, then member bytes:
//! every ranged read (by rank, score or lex) is one iteration over it. Both families
//! are always written in the same batch.
//!
//! Scores are stored, in both families, with an order-preserving encoding of the f64
//! (sign bit flipped for positives, every bit flipped for negatives, big-endian), so
//! byte order is numeric order, `-inf` first and `+inf` last. `-0` is stored as `0`.

use std::collections::{HashMap, HashSet};

use ferrokv_storage::encoding::{member_key, prefix_end};
use ferrokv_storage::metadata::{CollectionMeta, DataType, Record};
use ferrokv_storage::{Batch, Cf, StorageError};

use crate::collection::Records;
use crate::{Database, Result, TypeError};

/// Members with their scores, in the order a command replies them.
pub type ScoredMembers = Vec<(Vec<u8>, f64)>;

/// The order-preserving 8-byte encoding of a score.
pub fn encode_score(score: f64) -> [u8; 8] {
    let score = if score == 0.0 { 0.0 } else { score };
    let bits = score.to_bits();
    let bits = if bits >> 63 == 1 {
        !bits
    } else {
        bits ^ (1 << 63)
    };
    bits.to_be_bytes()
}

/// Decodes [`encode_score`]; `None` if `bytes` is not 8 bytes long.
pub fn decode_score(bytes: &[u8]) -> Option<f64> {
    let bits = u64::from_be_bytes(bytes.try_into().ok()?);
    let bits = if bits >> 63 == 1 {
        bits ^ (1 << 63)
    } else {
        !bits
    };
    Some(f64::from_bits(bits))
}

/// `-0` becomes `0`; every stored or replied score goes through here.
pub(crate) fn normalize(score: f64) -> f64 {
    if score == 0.0 {
        0.0
    } else {
        score
    }
}

/// Parses a score bound the way `strtod` does for Redis: `-inf`, `+inf`, an empty text
/// is 0. `None` for anything else that is not a number.
fn parse_bound_value(text: &[u8]) -> Option<f64> {
    if text.is_empty() {
        return Some(0.0);
    }
    crate::numbers::parse_f64(text)
}

/// A score interval, each end inclusive or exclusive (`(` prefix).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScoreRange {
    pub min: f64,
    pub min_exclusive: bool,
    pub max: f64,
    pub max_exclusive: bool,
}

impl ScoreRange {
    /// Parses `min` and `max` as ZRANGEBYSCORE takes them; `None` when either is not a
    /// float ("ERR min or max is not a float").
    pub fn parse(min: &[u8], max: &[u8]) -> Option<ScoreRange> {
        let bound = |text: &[u8]| match text {
            [b'(', rest @ ..] => parse_bound_value(rest).map(|v| (v, true)),
            _ => parse_bound_value(text).map(|v| (v, false)),
        };
        let (min, min_exclusive) = bound(min)?;
        let (max, max_exclusive) = bound(max)?;
        Some(ScoreRange {
            min,
            min_exclusive,
            max,
            max_exclusive,
        })
    }

    /// Everything, `-inf` to `+inf`.
    pub fn all() -> ScoreRange {
        ScoreRange {
            min: f64::NEG_INFINITY,
            min_exclusive: false,
            max: f64::INFINITY,
            max_exclusive: false,
        }
    }

    fn above_min(&self, score: f64) -> bool {
        if self.min_exclusive {
            score > self.min
        } else {
            score >= self.min
        }
    }

    fn below_max(&self, score: f64) -> bool {
        if self.max_exclusive {
            score < self.max
        } else {
            score <= self.max
        }
    }

    fn is_empty(&self) -> bool {
        self.min > self.max || (self.min == self.max && (self.min_exclusive || self.max_exclusive))
    }
}

/// One end of a lex range: `-`, `+`, `[member` or `(member`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LexBound {
    Min,
    Max,
    Inclusive(Vec<u8>),
    Exclusive(Vec<u8>),
}

impl LexBound {
    fn parse(text: &[u8]) -> Option<LexBound> {
        match text {
            b"-" => Some(LexBound::Min),
            b"+" => Some(LexBound::Max),
            [b'[', rest @ ..] => Some(LexBound::Inclusive(rest.to_vec())),
            [b'(', rest @ ..] => Some(LexBound::Exclusive(rest.to_vec())),
            _ => None,
        }
    }
}

/// A member interval for the BYLEX forms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LexRange {
    pub min: LexBound,
    pub max: LexBound,
}

impl LexRange {
    /// Parses `min` and `max` as ZRANGEBYLEX takes them; `None` when either is not a
    /// valid item ("ERR min or max not valid string range item").
    pub fn parse(min: &[u8], max: &[u8]) -> Option<LexRange> {
        Some(LexRange {
            min: LexBound::parse(min)?,
            max: LexBound::parse(max)?,
        })
    }

    pub(crate) fn gte_min(&self, member: &[u8]) -> bool {
        match &self.min {
            LexBound::Min => true,
            LexBound::Max => false,
            LexBound::Inclusive(m) => member >= m.as_slice(),
            LexBound::Exclusive(m) => member > m.as_slice(),
        }
    }

    pub(crate) fn lte_max(&self, member: &[u8]) -> bool {
        match &self.max {
            LexBound::Min => false,
            LexBound::Max => true,
            LexBound::Inclusive(m) => member <= m.as_slice(),
            LexBound::Exclusive(m) => member < m.as_slice(),
        }
    }
}

/// What a range selects.
#[derive(Debug, Clone, PartialEq)]
pub enum RangeBy {
    /// Ranks `start..=stop`, negative from the end (in the direction of the range).
    Rank(i64, i64),
    Score(ScoreRange),
    Lex(LexRange),
}

/// A ZRANGE-style selection: what, in which direction, and which slice of it
/// (`offset`, `limit`; a negative limit means no limit, a negative offset nothing).
#[derive(Debug, Clone, PartialEq)]
pub struct RangeSpec {
    pub by: RangeBy,
    pub rev: bool,
    pub offset: i64,
    pub limit: i64,
}

impl RangeSpec {
    /// The whole range `by`, forward, without LIMIT.
    pub fn new(by: RangeBy) -> RangeSpec {
        RangeSpec {
            by,
            rev: false,
            offset: 0,
            limit: -1,
        }
    }
}

/// ZADD's conditions. CH only changes the reply, so the command handles it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ZAddOptions {
    pub nx: bool,
    pub xx: bool,
    pub gt: bool,
    pub lt: bool,
    pub incr: bool,
}

/// What ZADD did.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ZAddOutcome {
    /// New members.
    pub added: u64,
    /// Existing members whose score changed.
    pub updated: u64,
    /// Members the conditions let through (changed or not).
    pub processed: u64,
    /// The score of the last member let through (the INCR reply).
    pub score: Option<f64>,
}

/// How ZUNION/ZINTER combine the scores of one member.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Aggregate {
    #[default]
    Sum,
    Min,
    Max,
}

impl Aggregate {
    fn apply(self, acc: f64, value: f64) -> f64 {
        match self {
            Aggregate::Sum => {
                let sum = acc + value;
                if sum.is_nan() {
                    0.0
                } else {
                    sum
                }
            }
            Aggregate::Min => acc.min(value),
            Aggregate::Max => acc.max(value),
        }
    }
}

/// ZUNION, ZINTER or ZDIFF.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ZSetOp {
    Union,
    Inter,
    Diff,
}

/// Score order, then member order: the order of the scores family.
fn sort_scored(items: &mut ScoredMembers) {
    items.sort_by(|a, b| a.1.total_cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
}

impl Database {
    pub(crate) fn score_key(key: &[u8], version: u64, score: f64, member: &[u8]) -> Vec<u8> {
        let mut entry = Vec::with_capacity(8 + member.len());
        entry.extend_from_slice(&encode_score(score));
        entry.extend_from_slice(member);
        member_key(key, version, &entry)
    }

    /// The stored score of a member.
    fn zmember_score(&self, key: &[u8], version: u64, member: &[u8]) -> Result<Option<f64>> {
        stored_score(self.member(key, version, member)?)
    }

    /// Writes `member` with `score`, replacing its index entry for `old` if it had one.
    /// Writes a member that is not in the set yet (RESTORE).
    pub(crate) fn zput_new(
        &self,
        batch: &mut Batch<'_>,
        key: &[u8],
        version: u64,
        member: &[u8],
        score: f64,
    ) {
        zput(batch, key, version, member, None, score);
    }

    /// Deletes `member` (whose score is `score`) from both families.
    fn zdelete(&self, batch: &mut Batch<'_>, key: &[u8], version: u64, member: &[u8], score: f64) {
        self.delete_member(batch, key, version, member);
        batch.delete(Cf::Scores, Self::score_key(key, version, score, member));
    }

    /// Visits the members in score order (or reverse), starting at the first entry at
    /// or after `seek` (forward) or at or before it (reverse), relative to the
    /// `[score][member]` part; `visit(score, member)` returns false to stop.
    fn walk_scores(
        &self,
        key: &[u8],
        version: u64,
        reverse: bool,
        seek: Option<&[u8]>,
        mut visit: impl FnMut(f64, &[u8]) -> bool,
    ) -> Result<()> {
        self.scan_members(
            Cf::Scores,
            key,
            version,
            seek.unwrap_or_default(),
            reverse,
            |entry, _| {
                if entry.len() < 8 {
                    return true;
                }
                let score = decode_score(&entry[..8]).unwrap_or(0.0);
                visit(score, &entry[8..])
            },
        )
    }

    /// The members of a live sorted set selected by `spec`, in reply order.
    fn zselect(
        &self,
        key: &[u8],
        meta: &CollectionMeta,
        spec: &RangeSpec,
    ) -> Result<ScoredMembers> {
        let mut out = Vec::new();
        let version = meta.version;
        match &spec.by {
            RangeBy::Rank(start, stop) => {
                let len = meta.size as i64;
                let mut start = if *start < 0 { len + start } else { *start };
                let mut end = if *stop < 0 { len + stop } else { *stop };
                start = start.max(0);
                if start > end || start >= len {
                    return Ok(out);
                }
                end = end.min(len - 1);
                let mut window = Window::new(start, end - start + 1);
                self.walk_scores(key, version, spec.rev, None, |score, member| {
                    window.offer(&mut out, member, score)
                })?;
            }
            RangeBy::Score(range) => {
                if range.is_empty() || spec.offset < 0 || spec.limit == 0 {
                    return Ok(out);
                }
                let seek = if spec.rev {
                    prefix_end(&encode_score(range.max))
                } else {
                    Some(encode_score(range.min).to_vec())
                };
                let mut window = Window::new(spec.offset, spec.limit);
                self.walk_scores(key, version, spec.rev, seek.as_deref(), |score, member| {
                    let (before, after) = if spec.rev {
                        (!range.below_max(score), !range.above_min(score))
                    } else {
                        (!range.above_min(score), !range.below_max(score))
                    };
                    if before {
                        return true;
                    }
                    if after {
                        return false;
                    }
                    window.offer(&mut out, member, score)
                })?;
            }
            RangeBy::Lex(range) => {
                if spec.offset < 0 || spec.limit == 0 {
                    return Ok(out);
                }
                // Like Redis: skip to the first member inside the near end, then take
                // members until one is past the far end (meaningful when all scores
                // are equal, as the BYLEX forms require).
                let mut inside = false;
                let mut window = Window::new(spec.offset, spec.limit);
                self.walk_scores(key, version, spec.rev, None, |score, member| {
                    let (near, far) = if spec.rev {
                        (range.lte_max(member), range.gte_min(member))
                    } else {
                        (range.gte_min(member), range.lte_max(member))
                    };
                    if !inside {
                        if !near {
                            return true;
                        }
                        inside = true;
                    }
                    if !far {
                        return false;
                    }
                    window.offer(&mut out, member, score)
                })?;
            }
        }
        Ok(out)
    }

    /// ZADD (and ZINCRBY with `incr`): applies the pairs in order under the key lock.
    pub fn zadd(
        &self,
        key: &[u8],
        options: ZAddOptions,
        pairs: &[(f64, &[u8])],
    ) -> Result<ZAddOutcome> {
        let _guard = self.locks.lock_one(key);
        let mut outcome = ZAddOutcome::default();
        let existing = self.collection(key, DataType::ZSet)?;
        if existing.is_none() && options.xx {
            return Ok(outcome);
        }
        let mut meta = existing.unwrap_or_else(|| self.new_collection(DataType::ZSet));
        let mut batch = self.storage.batch();
        // Scores written by earlier pairs of this command (a member may repeat).
        let mut pending: HashMap<&[u8], f64> = HashMap::new();
        for (score, member) in pairs {
            let current = match pending.get(member) {
                Some(s) => Some(*s),
                None => self.zmember_score(key, meta.version, member)?,
            };
            let new_score = match current {
                None => {
                    if options.xx {
                        continue;
                    }
                    outcome.added += 1;
                    *score
                }
                Some(current) => {
                    if options.nx {
                        continue;
                    }
                    let new_score = if options.incr {
                        current + score
                    } else {
                        *score
                    };
                    if new_score.is_nan() {
                        return Err(TypeError::ScoreNaN);
                    }
                    if (options.lt && new_score >= current) || (options.gt && new_score <= current)
                    {
                        continue;
                    }
                    if new_score == current {
                        outcome.processed += 1;
                        outcome.score = Some(normalize(current));
                        continue;
                    }
                    outcome.updated += 1;
                    new_score
                }
            };
            let new_score = normalize(new_score);
            outcome.processed += 1;
            outcome.score = Some(new_score);
            zput(&mut batch, key, meta.version, member, current, new_score);
            pending.insert(*member, new_score);
        }
        if outcome.added + outcome.updated > 0 {
            meta.size += outcome.added;
            self.put_collection(&mut batch, key, &meta);
            self.storage.write(batch)?;
        }
        Ok(outcome)
    }

    /// ZREM: returns how many members existed.
    pub fn zrem(&self, key: &[u8], members: &[&[u8]]) -> Result<u64> {
        let _guard = self.locks.lock_one(key);
        self.remove_members(key, DataType::ZSet, members, |batch, version, member| {
            let Some(score) = self.zmember_score(key, version, member)? else {
                return Ok(false);
            };
            self.zdelete(batch, key, version, member, score);
            Ok(true)
        })
    }

    pub fn zcard(&self, key: &[u8]) -> Result<u64> {
        Ok(self.collection(key, DataType::ZSet)?.map_or(0, |m| m.size))
    }

    pub fn zscore(&self, key: &[u8], member: &[u8]) -> Result<Option<f64>> {
        match self.collection(key, DataType::ZSet)? {
            Some(meta) => self.zmember_score(key, meta.version, member),
            None => Ok(None),
        }
    }

    pub fn zmscore(&self, key: &[u8], members: &[&[u8]]) -> Result<Vec<Option<f64>>> {
        let Some(meta) = self.collection(key, DataType::ZSet)? else {
            return Ok(vec![None; members.len()]);
        };
        members
            .iter()
            .map(|m| self.zmember_score(key, meta.version, m))
            .collect()
    }

    /// ZRANK/ZREVRANK: the rank of a member (from the lowest score, or the highest with
    /// `rev`) and its score.
    pub fn zrank(&self, key: &[u8], member: &[u8], rev: bool) -> Result<Option<(u64, f64)>> {
        let Some(meta) = self.collection(key, DataType::ZSet)? else {
            return Ok(None);
        };
        let Some(score) = self.zmember_score(key, meta.version, member)? else {
            return Ok(None);
        };
        let target = (score, member);
        let mut rank = 0u64;
        let mut found = false;
        self.walk_scores(key, meta.version, false, None, |s, m| {
            if s == target.0 && m == target.1 {
                found = true;
                return false;
            }
            rank += 1;
            true
        })?;
        if !found {
            return Ok(None);
        }
        let rank = if rev {
            meta.size.saturating_sub(1).saturating_sub(rank)
        } else {
            rank
        };
        Ok(Some((rank, score)))
    }

    /// ZRANGE in all its forms (and the legacy commands).
    pub fn zrange(&self, key: &[u8], spec: &RangeSpec) -> Result<ScoredMembers> {
        match self.collection(key, DataType::ZSet)? {
            Some(meta) => self.zselect(key, &meta, spec),
            None => Ok(Vec::new()),
        }
    }

    /// ZCOUNT / ZLEXCOUNT: how many members a range holds.
    pub fn zcount(&self, key: &[u8], by: RangeBy) -> Result<u64> {
        Ok(self.zrange(key, &RangeSpec::new(by))?.len() as u64)
    }

    /// Replaces `dst` (whatever it held) with `items`; returns the new size. An empty
    /// result deletes `dst`.
    fn zreplace(&self, batch: &mut Batch<'_>, dst: &[u8], items: &[(Vec<u8>, f64)]) -> u64 {
        self.delete_into(batch, dst);
        let mut meta = self.new_collection(DataType::ZSet);
        let mut seen = HashSet::new();
        for (member, score) in items {
            if seen.insert(member.as_slice()) {
                zput(batch, dst, meta.version, member, None, *score);
            }
        }
        meta.size = seen.len() as u64;
        self.put_collection(batch, dst, &meta);
        meta.size
    }

    /// ZRANGESTORE: stores the selected range of `src` in `dst`; returns its size.
    pub fn zrangestore(&self, dst: &[u8], src: &[u8], spec: &RangeSpec) -> Result<u64> {
        let _guard = self.locks.lock(&[src, dst]);
        let items = self.zrange(src, spec)?;
        let mut batch = self.storage.batch();
        let size = self.zreplace(&mut batch, dst, &items);
        self.storage.write(batch)?;
        Ok(size)
    }

    /// Replaces `dst` with what `compute` reads from `src`, both keys locked, so the
    /// read and the write are one step (GEOSEARCHSTORE, GEORADIUS STORE); an empty
    /// result deletes `dst`. Returns the new size.
    pub fn zstore_computed<E: From<TypeError>>(
        &self,
        dst: &[u8],
        src: &[u8],
        compute: impl FnOnce(&Self) -> std::result::Result<ScoredMembers, E>,
    ) -> std::result::Result<u64, E> {
        let _guard = self.locks.lock(&[src, dst]);
        let items = compute(self)?;
        let mut batch = self.storage.batch();
        let size = self.zreplace(&mut batch, dst, &items);
        self.storage.write(batch).map_err(TypeError::from)?;
        Ok(size)
    }

    /// ZREMRANGEBYRANK/SCORE/LEX: removes the members of a range; returns how many.
    pub fn zremrange(&self, key: &[u8], by: RangeBy) -> Result<u64> {
        let _guard = self.locks.lock_one(key);
        let Some(mut meta) = self.collection(key, DataType::ZSet)? else {
            return Ok(0);
        };
        let doomed = self.zselect(key, &meta, &RangeSpec::new(by))?;
        self.zremove_locked(key, &mut meta, &doomed)
    }

    fn zremove_locked(
        &self,
        key: &[u8],
        meta: &mut CollectionMeta,
        items: &[(Vec<u8>, f64)],
    ) -> Result<u64> {
        if items.is_empty() {
            return Ok(0);
        }
        let mut batch = self.storage.batch();
        for (member, score) in items {
            self.zdelete(&mut batch, key, meta.version, member, *score);
        }
        let removed = items.len() as u64;
        meta.size -= removed.min(meta.size);
        self.put_collection(&mut batch, key, meta);
        self.storage.write(batch)?;
        Ok(removed)
    }

    /// ZPOPMIN/ZPOPMAX: removes and returns up to `count` members from the low (or,
    /// with `max`, the high) end.
    pub fn zpop(&self, key: &[u8], count: u64, max: bool) -> Result<ScoredMembers> {
        let _guard = self.locks.lock_one(key);
        let Some(mut meta) = self.collection(key, DataType::ZSet)? else {
            return Ok(Vec::new());
        };
        if count == 0 {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        self.walk_scores(key, meta.version, max, None, |score, member| {
            out.push((member.to_vec(), score));
            (out.len() as u64) < count
        })?;
        self.zremove_locked(key, &mut meta, &out)?;
        Ok(out)
    }

    /// ZMPOP/BZMPOP/BZPOPMIN/BZPOPMAX: pops from the first non-empty key of `keys`.
    pub fn zmpop(
        &self,
        keys: &[&[u8]],
        count: u64,
        max: bool,
    ) -> Result<Option<(Vec<u8>, ScoredMembers)>> {
        for key in keys {
            let popped = self.zpop(key, count, max)?;
            if !popped.is_empty() {
                return Ok(Some((key.to_vec(), popped)));
            }
        }
        Ok(None)
    }

    /// The contents of a sorted set, or of a set (every score 1), for ZUNION & co.
    fn zcontents(&self, key: &[u8]) -> Result<HashMap<Vec<u8>, f64>> {
        let Some(raw) = self.live_record(key)? else {
            return Ok(HashMap::new());
        };
        match Database::decode(&raw)? {
            Record::Collection(meta) if meta.kind == DataType::ZSet => {
                let mut out = HashMap::with_capacity(meta.size.min(1 << 20) as usize);
                self.walk_scores(key, meta.version, false, None, |score, member| {
                    out.insert(member.to_vec(), score);
                    true
                })?;
                Ok(out)
            }
            Record::Collection(meta) if meta.kind == DataType::Set => {
                Ok(self.smembers(key)?.into_iter().map(|m| (m, 1.0)).collect())
            }
            _ => Err(TypeError::WrongType),
        }
    }

    /// ZUNION/ZINTER/ZDIFF: the combined members in score order. `weights` (one per
    /// key, or empty for all 1) scale the inputs of a union or intersection.
    pub fn zcombine(
        &self,
        op: ZSetOp,
        keys: &[&[u8]],
        weights: &[f64],
        aggregate: Aggregate,
    ) -> Result<ScoredMembers> {
        let mut inputs = Vec::with_capacity(keys.len());
        for key in keys {
            inputs.push(self.zcontents(key)?);
        }
        let weight = |i: usize, score: f64| {
            let w = weights.get(i).copied().unwrap_or(1.0) * score;
            if w.is_nan() {
                0.0
            } else {
                w
            }
        };
        let mut iter = inputs.into_iter().enumerate();
        let Some((_, first)) = iter.next() else {
            return Ok(Vec::new());
        };
        let mut acc: HashMap<Vec<u8>, f64> = match op {
            ZSetOp::Diff => first,
            _ => first.into_iter().map(|(m, s)| (m, weight(0, s))).collect(),
        };
        for (i, input) in iter {
            match op {
                ZSetOp::Union => {
                    for (member, score) in input {
                        let value = weight(i, score);
                        acc.entry(member)
                            .and_modify(|a| *a = aggregate.apply(*a, value))
                            .or_insert(value);
                    }
                }
                ZSetOp::Inter => {
                    acc.retain(|member, a| match input.get(member) {
                        Some(score) => {
                            *a = aggregate.apply(*a, weight(i, *score));
                            true
                        }
                        None => false,
                    });
                }
                ZSetOp::Diff => acc.retain(|member, _| !input.contains_key(member)),
            }
        }
        let mut out: ScoredMembers = acc.into_iter().map(|(m, s)| (m, normalize(s))).collect();
        sort_scored(&mut out);
        Ok(out)
    }

    /// ZUNIONSTORE/ZINTERSTORE/ZDIFFSTORE: replaces `dst` with the result; returns its
    /// size.
    pub fn zcombine_store(
        &self,
        op: ZSetOp,
        dst: &[u8],
        keys: &[&[u8]],
        weights: &[f64],
        aggregate: Aggregate,
    ) -> Result<u64> {
        let mut all: Vec<&[u8]> = keys.to_vec();
        all.push(dst);
        let _guard = self.locks.lock(&all);
        let result = self.zcombine(op, keys, weights, aggregate)?;
        let mut batch = self.storage.batch();
        let size = self.zreplace(&mut batch, dst, &result);
        self.storage.write(batch)?;
        Ok(size)
    }

    /// Every member with its score, in member order.
    fn zall_by_member(&self, key: &[u8]) -> Result<ScoredMembers> {
        let Some(meta) = self.collection(key, DataType::ZSet)? else {
            return Ok(Vec::new());
        };
        let mut out = Vec::with_capacity(meta.size.min(1 << 20) as usize);
        self.scan_members(
            Cf::Members,
            key,
            meta.version,
            &[],
            false,
            |member, value| {
                out.push((member.to_vec(), decode_score(value).unwrap_or(0.0)));
                true
            },
        )?;
        Ok(out)
    }

    /// ZRANDMEMBER: `count` > 0 distinct members (at most all), < 0 `-count` members
    /// that may repeat.
    pub fn zrandmember(&self, key: &[u8], count: i64) -> Result<ScoredMembers> {
        if count == 0 {
            // Still a type check, as Redis does.
            self.collection(key, DataType::ZSet)?;
            return Ok(Vec::new());
        }
        let all = self.zall_by_member(key)?;
        if all.is_empty() {
            return Ok(Vec::new());
        }
        crate::random_picks(all, count)
    }

    /// ZSCAN: up to about `count` members from `cursor` (a member, inclusive) on;
    /// returns the matching members with their scores and where to continue.
    pub fn zscan(
        &self,
        key: &[u8],
        cursor: &[u8],
        pattern: Option<&[u8]>,
        count: usize,
    ) -> Result<(ScoredMembers, Option<Vec<u8>>)> {
        self.scan_page(
            key,
            DataType::ZSet,
            cursor,
            pattern,
            count,
            |member, value| (member.to_vec(), decode_score(value).unwrap_or(0.0)),
        )
    }
}

/// The score a member's record holds (`None`: no such member); a record that is not
/// a score is corruption.
pub(crate) fn stored_score(raw: Option<Vec<u8>>) -> Result<Option<f64>> {
    raw.map(|raw| {
        decode_score(&raw).ok_or(TypeError::Storage(StorageError::Corrupt(
            "bad sorted-set score",
        )))
    })
    .transpose()
}

/// Writes `member` of the sorted set `key` (at `version`) with `score` (normalised):
/// its member record and its score-index entry, replacing the index entry for `old`
/// if it had one. ZADD, the sorted-set stores and RESTORE write through it, directly
/// or staged in a pipelined run.
pub(crate) fn zput(
    out: &mut impl Records,
    key: &[u8],
    version: u64,
    member: &[u8],
    old: Option<f64>,
    score: f64,
) {
    let score = normalize(score);
    if let Some(old) = old {
        out.delete(Cf::Scores, Database::score_key(key, version, old, member));
    }
    out.put(
        Cf::Members,
        member_key(key, version, member),
        &encode_score(score),
    );
    out.put(
        Cf::Scores,
        Database::score_key(key, version, score, member),
        b"",
    );
}

/// A `LIMIT offset count` over a walk in order: skips `offset` members, then keeps
/// members until `limit` are kept (`limit` < 0: all that follow).
struct Window {
    offset: i64,
    limit: i64,
    skipped: i64,
}

impl Window {
    fn new(offset: i64, limit: i64) -> Window {
        Window {
            offset,
            limit,
            skipped: 0,
        }
    }

    /// Takes the next member of the walk into `out` (unless it is skipped); false once
    /// the window is full, to end the walk.
    fn offer(&mut self, out: &mut ScoredMembers, member: &[u8], score: f64) -> bool {
        if self.skipped < self.offset {
            self.skipped += 1;
            return true;
        }
        out.push((member.to_vec(), score));
        self.limit < 0 || (out.len() as i64) < self.limit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn score_encoding_preserves_order() {
        let scores = [
            f64::NEG_INFINITY,
            -1e300,
            -2.5,
            -1.0,
            -f64::MIN_POSITIVE,
            0.0,
            f64::MIN_POSITIVE,
            0.5,
            1.0,
            3.0,
            1e300,
            f64::INFINITY,
        ];
        for pair in scores.windows(2) {
            assert!(encode_score(pair[0]) < encode_score(pair[1]), "{pair:?}");
        }
        for s in scores {
            assert_eq!(decode_score(&encode_score(s)), Some(s));
        }
        assert_eq!(encode_score(-0.0), encode_score(0.0));
        assert_eq!(decode_score(b"short"), None);
    }

    #[test]
    fn bounds_parse_like_redis() {
        let r = ScoreRange::parse(b"(1", b"+inf").unwrap();
        assert!(r.min_exclusive && !r.max_exclusive);
        assert!(!r.above_min(1.0) && r.above_min(1.5) && r.below_max(f64::INFINITY));
        assert!(ScoreRange::parse(b"x", b"1").is_none());
        assert!(ScoreRange::parse(b"1", b"(nan").is_none());
        assert!(ScoreRange::parse(b"(1", b"(1").unwrap().is_empty());
        assert!(LexRange::parse(b"a", b"+").is_none());
        assert!(LexRange::parse(b"-", b"+x").is_none());
        let l = LexRange::parse(b"(b", b"[d").unwrap();
        assert!(!l.gte_min(b"b") && l.gte_min(b"ba") && l.lte_max(b"d") && !l.lte_max(b"da"));
    }
}
