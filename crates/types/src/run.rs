//! Pipelined writes applied together ([`Database::write_run`]): a run of SET, HSET,
//! LPUSH/RPUSH, SADD and ZADD requests becomes one storage batch, so the run costs one
//! RocksDB write (one WAL record, one memtable insert pass) and each key's metadata is
//! read once and written once, however many requests of the run touch it.
//!
//! The outcome is the one of applying the writes one after another: each write sees
//! what the earlier writes of the run did (an overlay of the metadata and members they
//! wrote, consulted before storage), fails on its own (WRONGTYPE in place) without
//! leaving anything behind, and replies as it would have alone.

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

use ferrokv_storage::encoding::{member_key, metadata_key};
use ferrokv_storage::metadata::{self, CollectionMeta, DataType, Record};
use ferrokv_storage::{Batch, Cf};

use crate::collection::Records;
use crate::list::{take_positions, End};
use crate::zset::{normalize, stored_score, zput};
use crate::{Database, Result, TypeError};

/// One write of a run. Only the forms whose reply depends on nothing but the key's
/// type and the members already present: SET without options, HSET (HMSET), LPUSH,
/// RPUSH, SADD, ZADD without options.
#[derive(Debug, Clone, PartialEq)]
pub enum RunWrite<'a> {
    /// `SET key value`: replaces whatever the key holds, clears its TTL. Outcome 0.
    Set { key: &'a [u8], value: &'a [u8] },
    /// `HSET key field value ...`: outcome = fields that were new.
    HSet {
        key: &'a [u8],
        pairs: Vec<(&'a [u8], &'a [u8])>,
    },
    /// `LPUSH`/`RPUSH key value ...`: outcome = the list's new length.
    Push {
        key: &'a [u8],
        values: Vec<&'a [u8]>,
        end: End,
    },
    /// `SADD key member ...`: outcome = members that were new.
    SAdd {
        key: &'a [u8],
        members: Vec<&'a [u8]>,
    },
    /// `ZADD key score member ...` (no options): outcome = members that were new.
    ZAdd {
        key: &'a [u8],
        pairs: Vec<(f64, &'a [u8])>,
    },
}

/// What one write of a run did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Applied {
    /// The write's outcome (see [`RunWrite`]).
    pub count: u64,
    /// False when it changed nothing (SADD of members all present, ZADD of the scores
    /// they have): Redis then signals no modification, and WATCH goes on.
    pub changed: bool,
}

impl<'a> RunWrite<'a> {
    /// The key the write changes.
    pub fn key(&self) -> &'a [u8] {
        match self {
            RunWrite::Set { key, .. }
            | RunWrite::HSet { key, .. }
            | RunWrite::Push { key, .. }
            | RunWrite::SAdd { key, .. }
            | RunWrite::ZAdd { key, .. } => key,
        }
    }
}

/// What a key holds at this point of the run.
enum Held<'a> {
    Missing,
    /// A string: `Some(value)` when a SET of this run wrote it (its record is written
    /// at the end), `None` when it is the stored one.
    String(Option<&'a [u8]>),
    /// A collection of any type; `dirty` when this run changed its metadata.
    Collection {
        meta: CollectionMeta,
        dirty: bool,
    },
}

/// One record a write stages; applied to the batch (and the overlay) only when the
/// whole write succeeded.
enum Staged {
    Put(Cf, Vec<u8>, Vec<u8>),
    Delete(Cf, Vec<u8>),
}

impl Records for Vec<Staged> {
    fn put(&mut self, cf: Cf, key: Vec<u8>, value: &[u8]) {
        self.push(Staged::Put(cf, key, value.to_vec()));
    }

    fn delete(&mut self, cf: Cf, key: Vec<u8>) {
        self.push(Staged::Delete(cf, key));
    }
}

/// The state of a run being applied.
struct Run<'d, 'a> {
    db: &'d Database,
    /// Index into `held` of each key touched so far (first-touch order).
    index: HashMap<&'a [u8], usize>,
    held: Vec<(&'a [u8], Held<'a>)>,
    /// Members-family records this run wrote, by stored key (the overlay of reads).
    members: HashMap<Vec<u8>, Vec<u8>>,
    /// Versions of collections this run created: nothing of them is stored yet, so
    /// their members are looked up in the overlay only.
    fresh: HashSet<u64>,
    /// Stored members read ahead in one batch ([`Run::read_ahead`]), as they were
    /// before the run (consulted after the overlay).
    stored: HashMap<Vec<u8>, Option<Vec<u8>>>,
    batch: Batch<'d>,
}

impl Database {
    /// Applies `writes` in order as one atomic batch, under the locks of all their keys.
    /// Returns each write's outcome (see [`RunWrite`]) or its own error (WRONGTYPE, a
    /// failed read); the outer error is a failed batch write, after which nothing of the
    /// run is applied.
    pub fn write_run(&self, writes: &[RunWrite<'_>]) -> Result<Vec<Result<Applied>>> {
        let keys: Vec<&[u8]> = writes.iter().map(RunWrite::key).collect();
        let _guard = self.locks.lock(&keys);
        let mut run = Run {
            db: self,
            index: HashMap::with_capacity_and_hasher(keys.len(), Default::default()),
            held: Vec::with_capacity(keys.len()),
            members: HashMap::default(),
            fresh: HashSet::default(),
            stored: HashMap::default(),
            batch: self.storage.batch(),
        };
        run.read_ahead(writes);
        let outcomes: Vec<Result<Applied>> = writes.iter().map(|write| run.apply(write)).collect();
        let Run {
            held, mut batch, ..
        } = run;
        for (key, held) in held {
            match held {
                Held::String(Some(value)) => batch.put(
                    Cf::Metadata,
                    metadata_key(key),
                    metadata::encode_string(0, value),
                ),
                Held::Collection { meta, dirty: true } => {
                    self.put_collection(&mut batch, key, &meta)
                }
                _ => {}
            }
        }
        if !batch.is_empty() {
            self.storage.write(batch)?;
        }
        Ok(outcomes)
    }
}

impl<'d, 'a> Run<'d, 'a> {
    fn apply(&mut self, write: &RunWrite<'a>) -> Result<Applied> {
        if let RunWrite::Set { key, value } = write {
            // SET replaces whatever is there: nothing to read.
            let held = Held::String(Some(value));
            match self.index.get(key) {
                Some(&slot) => self.held[slot].1 = held,
                None => self.add(key, held),
            }
            return Ok(Applied {
                count: 0,
                changed: true,
            });
        }
        let slot = self.slot(write.key())?;
        let kind = match write {
            RunWrite::HSet { .. } => DataType::Hash,
            RunWrite::Push { .. } => DataType::List,
            RunWrite::SAdd { .. } => DataType::Set,
            RunWrite::ZAdd { .. } => DataType::ZSet,
            RunWrite::Set { .. } => unreachable!("handled above"),
        };
        let mut meta = match &self.held[slot].1 {
            Held::Missing => {
                let meta = if kind == DataType::List {
                    self.db.new_list_meta()
                } else {
                    self.db.new_collection(kind)
                };
                self.fresh.insert(meta.version);
                meta
            }
            Held::Collection { meta, .. } if meta.kind == kind => meta.clone(),
            _ => return Err(TypeError::WrongType),
        };
        // Staged, then applied once the whole write succeeded: a write that fails
        // leaves nothing behind, as alone.
        let mut staged = Vec::new();
        let key = write.key();
        // The outcome, or `None` when the write changes nothing.
        let outcome = match write {
            RunWrite::HSet { pairs, .. } => {
                let mut added = 0;
                let mut seen = HashSet::default();
                for (field, value) in pairs {
                    let stored = member_key(key, meta.version, field);
                    if seen.insert(*field) && !self.member_exists(&stored, meta.version)? {
                        added += 1;
                    }
                    staged.push(Staged::Put(Cf::Members, stored, value.to_vec()));
                }
                meta.size += added;
                // HSET rewrites the metadata even when no field is new.
                Some(added)
            }
            RunWrite::SAdd { members, .. } => {
                let mut added = 0;
                let mut seen = HashSet::default();
                for member in members {
                    let stored = member_key(key, meta.version, member);
                    if seen.insert(*member) && !self.member_exists(&stored, meta.version)? {
                        staged.push(Staged::Put(Cf::Members, stored, Vec::new()));
                        added += 1;
                    }
                }
                meta.size += added;
                // Nothing new: nothing written, as SADD alone.
                (added > 0).then_some(added)
            }
            RunWrite::ZAdd { pairs, .. } => {
                let mut added = 0;
                let mut changed = 0;
                let mut pending: HashMap<&[u8], f64> = HashMap::default();
                for (score, member) in pairs {
                    let stored = member_key(key, meta.version, member);
                    let current = match pending.get(member) {
                        Some(s) => Some(*s),
                        None => self.member_score(&stored, meta.version)?,
                    };
                    if current == Some(*score) {
                        continue;
                    }
                    if current.is_none() {
                        added += 1;
                    }
                    changed += 1;
                    zput(&mut staged, key, meta.version, member, current, *score);
                    pending.insert(member, normalize(*score));
                }
                meta.size += added;
                // Same scores again: nothing written, as ZADD alone.
                (changed > 0).then_some(added)
            }
            RunWrite::Push { values, end, .. } => {
                let positions = take_positions(&mut meta, values.len(), *end);
                for (value, position) in values.iter().zip(positions) {
                    staged.push(Staged::Put(
                        Cf::Members,
                        member_key(key, meta.version, &position.to_be_bytes()),
                        value.to_vec(),
                    ));
                }
                Some(meta.size)
            }
            RunWrite::Set { .. } => unreachable!("handled above"),
        };
        // `None`: the write changed nothing and writes nothing (the key stays as it
        // was; a version it would have created is never stored).
        let Some(count) = outcome else {
            return Ok(Applied {
                count: 0,
                changed: false,
            });
        };
        // A list's elements are never read back within a run (a push only needs the
        // metadata): only the other types' members go into the overlay.
        let overlay = kind != DataType::List;
        for record in staged {
            match record {
                Staged::Put(cf, stored, value) => {
                    self.batch.put(cf, &stored, &value);
                    if overlay && cf == Cf::Members {
                        self.members.insert(stored, value);
                    }
                }
                Staged::Delete(cf, stored) => self.batch.delete(cf, &stored),
            }
        }
        self.held[slot].1 = Held::Collection { meta, dirty: true };
        Ok(Applied {
            count,
            changed: true,
        })
    }

    /// Reads the stored members the run's HSET, SADD and ZADD writes will check, all
    /// in one batched lookup rather than one point read each (they are a third of the
    /// CPU of pipelined HSET of random fields). Only members of collections stored
    /// before the run: what the run itself writes is in the overlay. A failed read
    /// leaves the checks to their own reads.
    fn read_ahead(&mut self, writes: &[RunWrite<'a>]) {
        let mut keys = Vec::new();
        for write in writes {
            let (kind, members): (DataType, Vec<&[u8]>) = match write {
                RunWrite::HSet { pairs, .. } => {
                    (DataType::Hash, pairs.iter().map(|p| p.0).collect())
                }
                RunWrite::SAdd { members, .. } => (DataType::Set, members.clone()),
                RunWrite::ZAdd { pairs, .. } => {
                    (DataType::ZSet, pairs.iter().map(|p| p.1).collect())
                }
                RunWrite::Set { .. } | RunWrite::Push { .. } => continue,
            };
            let Ok(slot) = self.slot(write.key()) else {
                continue;
            };
            if let Held::Collection { meta, .. } = &self.held[slot].1 {
                if meta.kind == kind {
                    keys.extend(
                        members
                            .into_iter()
                            .map(|m| member_key(write.key(), meta.version, m)),
                    );
                }
            }
        }
        // One member alone gains nothing from a batch.
        if keys.len() < 2 {
            return;
        }
        keys.sort_unstable();
        keys.dedup();
        if let Ok(values) = self.db.storage.multi_get(Cf::Members, &keys, true) {
            self.stored = keys.into_iter().zip(values).collect();
        }
    }

    /// The position in `held` of `key`, read from storage on first use.
    fn slot(&mut self, key: &'a [u8]) -> Result<usize> {
        if let Some(&slot) = self.index.get(key) {
            return Ok(slot);
        }
        let held = match self.db.live_record(key)? {
            None => Held::Missing,
            Some(raw) => match metadata::decode(&raw)? {
                Record::String { .. } => Held::String(None),
                Record::Collection(meta) => Held::Collection { meta, dirty: false },
            },
        };
        self.add(key, held);
        Ok(self.held.len() - 1)
    }

    fn add(&mut self, key: &'a [u8], held: Held<'a>) {
        self.index.insert(key, self.held.len());
        self.held.push((key, held));
    }

    /// The value of a member (by stored key) as this run left it.
    fn member_value(&self, stored: &[u8], version: u64) -> Result<Option<Vec<u8>>> {
        if let Some(value) = self.members.get(stored) {
            return Ok(Some(value.clone()));
        }
        if self.fresh.contains(&version) {
            return Ok(None);
        }
        if let Some(value) = self.stored.get(stored) {
            return Ok(value.clone());
        }
        Ok(self
            .db
            .storage
            .get(Cf::Members, stored)?
            .map(|v| v.to_vec()))
    }

    fn member_exists(&self, stored: &[u8], version: u64) -> Result<bool> {
        if self.members.contains_key(stored) {
            return Ok(true);
        }
        if self.fresh.contains(&version) {
            return Ok(false);
        }
        if let Some(value) = self.stored.get(stored) {
            return Ok(value.is_some());
        }
        Ok(self.db.storage.get(Cf::Members, stored)?.is_some())
    }

    fn member_score(&self, stored: &[u8], version: u64) -> Result<Option<f64>> {
        stored_score(self.member_value(stored, version)?)
    }
}

#[cfg(test)]
mod tests {
    use ferrokv_storage::StorageOptions;

    use super::*;
    use crate::zset::{RangeBy, RangeSpec};
    use crate::SetOptions;

    const KEYS: [&[u8]; 3] = [b"a", b"b", b"c"];
    const ITEMS: [&[u8]; 4] = [b"x", b"y", b"z", b""];
    const SCORES: [f64; 5] = [0.0, -0.0, 1.0, 2.5, f64::INFINITY];

    fn open() -> (tempfile::TempDir, Database) {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::open(dir.path(), &StorageOptions::default()).unwrap();
        (dir, db)
    }

    /// The same write applied alone, through the ordinary operation of its command.
    fn alone(db: &Database, write: &RunWrite<'_>) -> Result<Applied> {
        let changed = |count: u64| Applied {
            count,
            changed: count > 0,
        };
        match write {
            RunWrite::Set { key, value } => {
                db.set(key, value, SetOptions::default())?;
                Ok(Applied {
                    count: 0,
                    changed: true,
                })
            }
            RunWrite::HSet { key, pairs } => Ok(Applied {
                count: db.hset(key, pairs)?,
                changed: true,
            }),
            RunWrite::Push { key, values, end } => Ok(Applied {
                count: db.push(key, values, *end, false)?,
                changed: true,
            }),
            RunWrite::SAdd { key, members } => db.sadd(key, members).map(changed),
            RunWrite::ZAdd { key, pairs } => {
                let outcome = db.zadd(key, Default::default(), pairs)?;
                Ok(Applied {
                    count: outcome.added,
                    changed: outcome.added + outcome.updated > 0,
                })
            }
        }
    }

    /// Everything the keys hold, read through the ordinary reads (the score index
    /// included, through ZRANGE).
    fn state(db: &Database) -> Vec<String> {
        KEYS.iter()
            .map(|key| match db.type_of(key).unwrap() {
                None => "none".to_string(),
                Some(DataType::String) => format!("{:?}", db.get(key).unwrap()),
                Some(DataType::Hash) => format!("{:?}", db.hgetall(key).unwrap()),
                Some(DataType::List) => format!("{:?}", db.lrange(key, 0, -1).unwrap()),
                Some(DataType::Set) => format!("{:?}", db.smembers(key).unwrap()),
                Some(DataType::ZSet) => format!(
                    "{:?} {}",
                    db.zrange(key, &RangeSpec::new(RangeBy::Rank(0, -1)))
                        .unwrap(),
                    db.zcard(key).unwrap()
                ),
                Some(other) => format!("{other:?}"),
            })
            .collect()
    }

    /// Xorshift: reproducible without another dependency.
    struct Rng(u64);

    impl Rng {
        fn below(&mut self, n: usize) -> usize {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 % n as u64) as usize
        }
    }

    fn random_write(r: &mut Rng) -> RunWrite<'static> {
        let key = KEYS[r.below(KEYS.len())];
        let n = 1 + r.below(3);
        let kind = r.below(6);
        let mut items =
            || -> Vec<&'static [u8]> { (0..n).map(|_| ITEMS[r.below(ITEMS.len())]).collect() };
        match kind {
            0 => RunWrite::Set { key, value: b"v" },
            1 => RunWrite::HSet {
                key,
                pairs: items().into_iter().map(|i| (i, i)).collect(),
            },
            2 => RunWrite::Push {
                key,
                values: items(),
                end: End::Left,
            },
            3 => RunWrite::Push {
                key,
                values: items(),
                end: End::Right,
            },
            4 => RunWrite::SAdd {
                key,
                members: items(),
            },
            _ => {
                let members: Vec<&[u8]> = items();
                RunWrite::ZAdd {
                    key,
                    pairs: members
                        .into_iter()
                        .enumerate()
                        .map(|(i, m)| (SCORES[(m.len() * 7 + i + n) % SCORES.len()], m))
                        .collect(),
                }
            }
        }
    }

    #[test]
    fn a_run_does_what_its_writes_do_one_after_another() {
        let (_d1, merged) = open();
        let (_d2, single) = open();
        let mut r = Rng(0x5eed);
        for round in 0..300 {
            let run: Vec<RunWrite<'_>> =
                (0..1 + r.below(24)).map(|_| random_write(&mut r)).collect();
            let got = merged.write_run(&run).unwrap();
            let want: Vec<Result<Applied>> = run.iter().map(|w| alone(&single, w)).collect();
            for (i, (got, want)) in got.iter().zip(&want).enumerate() {
                assert_eq!(
                    format!("{got:?}"),
                    format!("{want:?}"),
                    "round {round}, write {i} of {run:?}"
                );
            }
            assert_eq!(state(&merged), state(&single), "round {round}: {run:?}");
        }
    }

    #[test]
    fn a_failed_write_leaves_nothing_and_later_writes_see_earlier_ones() {
        let (_dir, db) = open();
        let outcomes = db
            .write_run(&[
                RunWrite::Set {
                    key: b"s",
                    value: b"1",
                },
                RunWrite::SAdd {
                    key: b"s",
                    members: vec![b"m"],
                },
                RunWrite::SAdd {
                    key: b"t",
                    members: vec![b"m", b"m"],
                },
                RunWrite::SAdd {
                    key: b"t",
                    members: vec![b"m"],
                },
                RunWrite::Push {
                    key: b"t",
                    values: vec![b"v"],
                    end: End::Left,
                },
            ])
            .unwrap();
        assert_eq!(outcomes[0].as_ref().unwrap().count, 0);
        assert!(matches!(outcomes[1], Err(TypeError::WrongType)));
        assert_eq!(
            outcomes[2].as_ref().unwrap(),
            &Applied {
                count: 1,
                changed: true
            }
        );
        assert_eq!(
            outcomes[3].as_ref().unwrap(),
            &Applied {
                count: 0,
                changed: false
            }
        );
        assert!(matches!(outcomes[4], Err(TypeError::WrongType)));
        assert_eq!(db.get(b"s").unwrap(), Some(b"1".to_vec()));
        assert_eq!(db.smembers(b"t").unwrap(), vec![b"m".to_vec()]);
    }
}
