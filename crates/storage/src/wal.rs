//! What replication is built on: the committed write batches in the WAL (a master's
//! stream), applying them unchanged on a replica (so both number their writes alike),
//! consistent copies of the whole database (checkpoints, a full sync), and swapping a
//! received copy in while the node runs.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use rocksdb::checkpoint::Checkpoint;
use rocksdb::{Options, WriteBatch, DB};

use crate::db::open_db;
use crate::{Storage, StorageError};

/// One committed write batch as RocksDB wrote it to its WAL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalBatch {
    /// Sequence number of the batch's first record; the batch uses `count` numbers
    /// from there.
    pub sequence: u64,
    /// Number of records (sequence numbers used).
    pub count: u64,
    /// RocksDB's serialised write batch, as [`Storage::apply_replicated`] takes it.
    pub data: Vec<u8>,
}

/// Reads the committed batches from a sequence on ([`Storage::wal_since`]).
pub struct WalReader {
    iter: rocksdb::DBWALIterator,
    // Declared after `iter`: the database stays open until the iterator is gone.
    _db: Arc<DB>,
    next: u64,
}

impl WalReader {
    /// The next committed batch, `None` at the end of what is durable now (a later
    /// reader from [`WalReader::next_sequence`] sees what was written since).
    /// `Err(Gap)` when the WAL skips the expected sequence (files were purged).
    pub fn next_batch(&mut self) -> Result<Option<WalBatch>, StorageError> {
        let Some(item) = self.iter.next() else {
            return Ok(None);
        };
        let (sequence, batch) = item?;
        if sequence != self.next {
            return Err(StorageError::WalGap {
                wanted: self.next,
                found: sequence,
            });
        }
        let count = batch.len() as u64;
        self.next = sequence + count;
        Ok(Some(WalBatch {
            sequence,
            count,
            data: batch.data().to_vec(),
        }))
    }

    /// The sequence number the next batch starts at.
    pub fn next_sequence(&self) -> u64 {
        self.next
    }
}

impl Storage {
    /// The committed batches from sequence `from` on (the first must start exactly
    /// there). `Err(WalGone)` when the WAL no longer holds it. With `from` past the
    /// newest write, an empty reader.
    pub fn wal_since(&self, from: u64) -> Result<WalReader, StorageError> {
        let db = self.db_arc();
        let latest = db.latest_sequence_number();
        if from > latest + 1 {
            return Err(StorageError::WalGone(from));
        }
        // The crate's iterator yields the batches that start after the sequence it is
        // given; one starting before `from` but covering it is skipped, and then
        // `next_batch` reports the gap.
        let iter = db
            .get_updates_since(from.saturating_sub(1))
            .map_err(|_| StorageError::WalGone(from))?;
        Ok(WalReader {
            iter,
            _db: db,
            next: from,
        })
    }

    /// Up to `max` committed batches, those starting after sequence `after`, in order
    /// (Kvrocks' POLLUPDATES). When `after + 1` falls inside a batch, the first one
    /// returned is the next whole batch. `Err(WalGone)` when the WAL no longer reaches
    /// back there.
    pub fn wal_batches_after(&self, after: u64, max: usize) -> Result<Vec<WalBatch>, StorageError> {
        let db = self.db_arc();
        let iter = db
            .get_updates_since(after)
            .map_err(|_| StorageError::WalGone(after + 1))?;
        let mut batches = Vec::new();
        for item in iter.take(max) {
            let (sequence, batch) = item?;
            batches.push(WalBatch {
                sequence,
                count: batch.len() as u64,
                data: batch.data().to_vec(),
            });
        }
        Ok(batches)
    }

    /// Applies a batch of the master unchanged, as the next write of this database:
    /// refused unless it starts right after the newest write here (a replica writes
    /// nothing else, so both number every record alike).
    pub fn apply_replicated(&self, sequence: u64, data: &[u8]) -> Result<(), StorageError> {
        if data.len() < 12 {
            return Err(StorageError::Corrupt("write batch too short"));
        }
        let latest = self.latest_sequence();
        if sequence != latest + 1 {
            return Err(StorageError::OutOfOrder {
                expected: latest + 1,
                got: sequence,
            });
        }
        let batch = WriteBatch::from_data(data);
        self.db().write(batch)?;
        self.note_write();
        Ok(())
    }

    /// A consistent copy of the whole database in `dir` (which must not exist), made of
    /// hard links where it can; the copy's newest sequence is returned with it.
    pub fn checkpoint(&self, dir: &Path) -> Result<(), StorageError> {
        let db = self.db_arc();
        Checkpoint::new(&db)?.create_checkpoint(dir)?;
        Ok(())
    }

    /// Replaces the database in use with the one in `dir` (a checkpoint received in a
    /// full sync), while the node runs: new operations use the new one at once; the
    /// old one closes when its last reader is done, and then its files are deleted (the
    /// whole directory if `remove_dir`, else RocksDB's files only). Returns the old
    /// database's directory.
    pub fn swap_in(&self, dir: &Path, remove_dir: bool) -> Result<PathBuf, StorageError> {
        let new = open_db(dir, &self.options)?;
        // No flush in flight while the counters restart for the new database: a flush
        // of the old one must not mark the new one's writes durable.
        let _no_flush = self.flush_lock.lock().unwrap_or_else(|e| e.into_inner());
        let old = self.db.swap(new);
        let old_path = std::mem::replace(
            &mut *self.path.write().unwrap_or_else(|e| e.into_inner()),
            dir.to_path_buf(),
        );
        self.writes.store(0, Ordering::Release);
        self.durable.store(0, Ordering::Release);
        let path = old_path.clone();
        let retire = move || {
            while Arc::strong_count(&old) > 1 {
                std::thread::sleep(Duration::from_millis(5));
            }
            drop(old);
            if remove_dir {
                let _ = std::fs::remove_dir_all(&path);
            } else {
                let _ = destroy(&path);
            }
        };
        std::thread::Builder::new()
            .name("retire-db".into())
            .spawn(retire)
            .map_err(|e| StorageError::Dir {
                path: old_path.display().to_string(),
                source: e,
            })?;
        Ok(old_path)
    }
}

impl Storage {
    /// Writes a record of the node's own (not a user key: RocksDB's `default` family,
    /// which nothing else uses, migration never copies and only replication carries).
    /// Refused in replica mode (its records come from its master).
    pub fn put_node_record(&self, name: &[u8], value: &[u8]) -> Result<(), StorageError> {
        self.check_writable()?;
        let db = self.db();
        let mut batch = WriteBatch::default();
        batch.put(name, value);
        db.write(batch)?;
        self.note_write();
        Ok(())
    }

    /// Reads a record written by [`Storage::put_node_record`] (here or on the master).
    pub fn node_record(&self, name: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self.db().get(name)?)
    }
}

/// Deletes the RocksDB files of the database in `dir` (and `dir` if nothing else is in
/// it); other files there are left alone.
pub fn destroy(dir: &Path) -> Result<(), StorageError> {
    DB::destroy(&Options::default(), dir)?;
    Ok(())
}

/// The newest sequence number of the database in `dir`, opened read-only (a received
/// checkpoint, before it is swapped in).
pub fn sequence_of(dir: &Path) -> Result<u64, StorageError> {
    let names = DB::list_cf(&Options::default(), dir)?;
    let db = DB::open_cf_for_read_only(&Options::default(), dir, names, false)?;
    Ok(db.latest_sequence_number())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encoding::metadata_key_in_slot;
    use crate::test_support::open;
    use crate::Cf;

    fn put(storage: &Storage, key: &[u8], n: usize) {
        let mut batch = storage.batch();
        for i in 0..n {
            batch.put(Cf::Metadata, metadata_key_in_slot(1, key), [i as u8]);
        }
        storage.write(batch).unwrap();
        storage.make_durable().unwrap();
    }

    #[test]
    fn batches_replay_with_the_same_sequence_numbers() {
        let (_d1, master) = open();
        let (_d2, replica) = open();
        put(&master, b"a", 1);
        put(&master, b"b", 3);
        put(&master, b"c", 2);
        let mut reader = master.wal_since(1).unwrap();
        let mut seen = Vec::new();
        while let Some(batch) = reader.next_batch().unwrap() {
            replica
                .apply_replicated(batch.sequence, &batch.data)
                .unwrap();
            seen.push((batch.sequence, batch.count));
        }
        assert_eq!(seen, [(1, 1), (2, 3), (5, 2)]);
        assert_eq!(reader.next_sequence(), 7);
        assert_eq!(replica.latest_sequence(), master.latest_sequence());
        // Caught up: nothing more, and a new reader sees later writes.
        assert!(master.wal_since(7).unwrap().next_batch().unwrap().is_none());
        put(&master, b"d", 1);
        let batch = master.wal_since(7).unwrap().next_batch().unwrap().unwrap();
        assert_eq!((batch.sequence, batch.count), (7, 1));
        // Out of order is refused and changes nothing.
        assert!(matches!(
            replica.apply_replicated(9, &batch.data),
            Err(StorageError::OutOfOrder {
                expected: 7,
                got: 9
            })
        ));
        replica.apply_replicated(7, &batch.data).unwrap();
        assert_eq!(replica.latest_sequence(), 7);
    }

    #[test]
    fn a_sequence_inside_a_batch_is_a_gap() {
        let (_d, master) = open();
        put(&master, b"a", 3);
        put(&master, b"b", 1);
        let mut reader = master.wal_since(2).unwrap();
        assert!(matches!(
            reader.next_batch(),
            Err(StorageError::WalGap { wanted: 2, .. })
        ));
        assert!(matches!(
            master.wal_since(10),
            Err(StorageError::WalGone(10))
        ));
    }

    #[test]
    fn a_checkpoint_swaps_in_with_its_sequence() {
        let (dir, master) = open();
        let (_d2, replica) = open();
        put(&master, b"a", 2);
        let copy = dir.path().join("copy");
        master.checkpoint(&copy).unwrap();
        assert_eq!(sequence_of(&copy).unwrap(), 2);
        put(&replica, b"other", 5);
        let held = replica
            .get(Cf::Metadata, &metadata_key_in_slot(1, b"other"))
            .unwrap();
        let old = replica.swap_in(&copy, false).unwrap();
        // A reader of the old database still reads it.
        assert_eq!(held.as_deref(), Some(&[4u8][..]));
        drop(held);
        assert_eq!(replica.latest_sequence(), 2);
        assert!(replica
            .get(Cf::Metadata, &metadata_key_in_slot(1, b"other"))
            .unwrap()
            .is_none());
        assert_eq!(
            replica
                .get(Cf::Metadata, &metadata_key_in_slot(1, b"a"))
                .unwrap()
                .as_deref(),
            Some(&[1u8][..])
        );
        assert_ne!(old, copy);
        // The replica goes on from the checkpoint's sequence.
        let batch = master.wal_since(3);
        assert!(batch.unwrap().next_batch().unwrap().is_none());
        put(&master, b"b", 1);
        let batch = master.wal_since(3).unwrap().next_batch().unwrap().unwrap();
        replica
            .apply_replicated(batch.sequence, &batch.data)
            .unwrap();
        assert_eq!(replica.latest_sequence(), 3);
    }
}
