//! Write batches, the one way to change the database, and the one record copier that
//! change capture, migration and APPLYBATCH share.

use std::sync::Arc;

use rocksdb::{ColumnFamily, WriteBatch, WriteBatchIteratorCf, DB};

use crate::{Cf, Storage};

/// Records applied together, atomically, by [`Storage::write`]. Made by
/// [`Storage::batch`] and tied to that storage (its column families); the records are
/// serialised as they are added, so writing a batch copies nothing more.
pub struct Batch<'a> {
    storage: &'a Storage,
    pub(crate) records: WriteBatch,
    /// Column family handles of `db`, looked up on first use (by name in RocksDB).
    /// Batches carry families by id, and ids are the same in every database of a node
    /// (created together, in `Cf::ALL` order), so a batch stays valid across a swap.
    handles: [Option<&'static ColumnFamily>; Cf::ALL.len()],
    /// Keeps the handles valid (declared after them: dropped last).
    db: Arc<DB>,
}

impl<'a> Batch<'a> {
    pub(crate) fn new(storage: &'a Storage) -> Self {
        Batch {
            storage,
            records: WriteBatch::default(),
            handles: [None; Cf::ALL.len()],
            db: storage.db_arc(),
        }
    }

    #[inline]
    fn handle(&mut self, cf: Cf) -> &'static ColumnFamily {
        let db = &self.db;
        self.handles[cf.index()].get_or_insert_with(|| {
            let handle = crate::db::handle(db, cf);
            // SAFETY: the handle lives as long as `db`, which this batch holds for as
            // long as it holds the handle.
            unsafe { std::mem::transmute::<&ColumnFamily, &'static ColumnFamily>(handle) }
        })
    }

    pub(crate) fn storage(&self) -> &'a Storage {
        self.storage
    }

    /// Sets `key` of `cf` to `value`.
    #[inline]
    pub fn put(&mut self, cf: Cf, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) {
        let handle = self.handle(cf);
        self.records.put_cf(handle, key, value);
    }

    /// Deletes `key` of `cf`.
    #[inline]
    pub fn delete(&mut self, cf: Cf, key: impl AsRef<[u8]>) {
        let handle = self.handle(cf);
        self.records.delete_cf(handle, key);
    }

    /// Deletes every key of `cf` in `[from, to)` (one range tombstone).
    pub(crate) fn delete_range(&mut self, cf: Cf, from: &[u8], to: &[u8]) {
        let handle = self.handle(cf);
        self.records.delete_range_cf(handle, from, to);
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Size of the serialised batch (`data().len()`).
    pub fn size_in_bytes(&self) -> usize {
        self.records.size_in_bytes()
    }

    /// The serialised batch (RocksDB's write batch format): what a migration ships, and
    /// what [`Storage::write_raw`] applies on another node.
    pub fn data(&self) -> &[u8] {
        self.records.data()
    }

    /// Removes every record, keeping the allocation.
    pub fn clear(&mut self) {
        self.records.clear();
    }

    /// Appends every record of a captured write.
    pub fn append(&mut self, captured: &CapturedWrite) {
        self.copy_records(&captured.0, |_| true);
    }

    /// The record copier: appends the put and delete records of `from` whose stored key
    /// `keep` accepts, in order. Merge records (Ferrokv writes none) and records of
    /// column families Ferrokv does not have are never copied. Reports how many records
    /// `from` holds and how many were copied, so that a caller can refuse a batch that
    /// was not copied whole.
    pub(crate) fn copy_records(
        &mut self,
        from: &WriteBatch,
        keep: impl FnMut(&[u8]) -> bool,
    ) -> Copied {
        let mut copier = Copier {
            out: self,
            keep,
            copied: Copied::default(),
        };
        from.iterate_cf(&mut copier);
        copier.copied
    }
}

/// What [`Batch::copy_records`] did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Copied {
    /// Records read from the source (of any kind).
    pub records: usize,
    /// Records appended to the batch.
    pub kept: usize,
}

impl Copied {
    /// Every record was copied.
    pub fn whole(&self) -> bool {
        self.kept == self.records
    }
}

struct Copier<'b, 'a, F> {
    out: &'b mut Batch<'a>,
    keep: F,
    copied: Copied,
}

impl<F: FnMut(&[u8]) -> bool> WriteBatchIteratorCf for Copier<'_, '_, F> {
    fn put_cf(&mut self, cf_id: u32, key: &[u8], value: &[u8]) {
        self.copied.records += 1;
        if let (Some(cf), true) = (Cf::from_id(cf_id), (self.keep)(key)) {
            self.out.put(cf, key, value);
            self.copied.kept += 1;
        }
    }

    fn delete_cf(&mut self, cf_id: u32, key: &[u8]) {
        self.copied.records += 1;
        if let (Some(cf), true) = (Cf::from_id(cf_id), (self.keep)(key)) {
            self.out.delete(cf, key);
            self.copied.kept += 1;
        }
    }

    fn merge_cf(&mut self, _cf_id: u32, _key: &[u8], _value: &[u8]) {
        self.copied.records += 1;
    }
}

/// The records of one applied write that a [`crate::WriteObserver`] wants, detached from
/// the storage: queued by the observer, then appended to a [`Batch`] to be shipped.
pub struct CapturedWrite(pub(crate) WriteBatch);

impl CapturedWrite {
    /// Number of records.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Size of the serialised records.
    pub fn size_in_bytes(&self) -> usize {
        self.0.size_in_bytes()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::encoding::{metadata_key_in_slot, slot_of};
    use crate::test_support::open;
    use crate::WriteObserver;

    fn get(storage: &Storage, cf: Cf, key: &[u8]) -> Option<Vec<u8>> {
        storage.get(cf, key).unwrap().map(|v| v.to_vec())
    }

    #[test]
    fn a_batch_is_written_whole_and_reads_back() {
        let (_dir, storage) = open();
        let (a, b) = (metadata_key_in_slot(1, b"a"), metadata_key_in_slot(2, b"b"));
        let mut batch = storage.batch();
        assert!(batch.is_empty());
        batch.put(Cf::Metadata, &a, b"1");
        batch.put(Cf::Members, &a, b"m");
        batch.put(Cf::Scores, &b, b"");
        assert_eq!(batch.len(), 3);
        assert!(!batch.is_empty());
        assert_eq!(batch.size_in_bytes(), batch.data().len());
        storage.write(batch).unwrap();
        assert_eq!(get(&storage, Cf::Metadata, &a), Some(b"1".to_vec()));
        assert_eq!(get(&storage, Cf::Members, &a), Some(b"m".to_vec()));
        assert_eq!(get(&storage, Cf::Scores, &b), Some(Vec::new()));
        assert_eq!(get(&storage, Cf::Metadata, &b), None);

        let mut batch = storage.batch();
        batch.delete(Cf::Members, &a);
        batch.put(Cf::Metadata, &a, b"2");
        storage.write(batch).unwrap();
        assert_eq!(get(&storage, Cf::Members, &a), None);
        assert_eq!(get(&storage, Cf::Metadata, &a), Some(b"2".to_vec()));
    }

    #[test]
    fn clear_empties_a_batch() {
        let (_dir, storage) = open();
        let mut batch = storage.batch();
        let empty = batch.data().to_vec();
        batch.put(Cf::Metadata, metadata_key_in_slot(1, b"a"), b"1");
        batch.clear();
        assert!(batch.is_empty());
        assert_eq!(batch.data(), &empty[..]);
        storage.write(batch).unwrap();
        assert_eq!(
            get(&storage, Cf::Metadata, &metadata_key_in_slot(1, b"a")),
            None
        );
    }

    #[test]
    fn data_round_trips_through_write_raw_on_another_storage() {
        let (_dir, source) = open();
        let (_dir2, dest) = open();
        let key = metadata_key_in_slot(9, b"k");
        let mut batch = source.batch();
        batch.put(Cf::Metadata, &key, b"v");
        batch.put(Cf::Scores, &key, b"s");
        batch.delete(Cf::Members, &key);
        dest.write_raw(batch.data(), &|_| true).unwrap();
        assert_eq!(get(&dest, Cf::Metadata, &key), Some(b"v".to_vec()));
        assert_eq!(get(&dest, Cf::Scores, &key), Some(b"s".to_vec()));
    }

    /// A batch of three records in slots 1, 2 and 3, in three families.
    fn three_records(storage: &Storage) -> Batch<'_> {
        let mut batch = storage.batch();
        batch.put(Cf::Metadata, metadata_key_in_slot(1, b"a"), b"1");
        batch.delete(Cf::Members, metadata_key_in_slot(2, b"b"));
        batch.put(Cf::Scores, metadata_key_in_slot(3, b"c"), b"3");
        batch
    }

    #[test]
    fn copy_records_keeps_what_keep_accepts_in_order() {
        let (_dir, storage) = open();
        let from = three_records(&storage);

        let mut all = storage.batch();
        let copied = all.copy_records(&from.records, |_| true);
        assert_eq!(
            copied,
            Copied {
                records: 3,
                kept: 3
            }
        );
        assert!(copied.whole());
        assert_eq!(
            all.data(),
            from.data(),
            "a whole copy is byte for byte the same"
        );

        let mut some = storage.batch();
        let copied = some.copy_records(&from.records, |key| slot_of(key) != Some(2));
        assert_eq!(
            copied,
            Copied {
                records: 3,
                kept: 2
            }
        );
        assert!(!copied.whole());
        let mut expected = storage.batch();
        expected.put(Cf::Metadata, metadata_key_in_slot(1, b"a"), b"1");
        expected.put(Cf::Scores, metadata_key_in_slot(3, b"c"), b"3");
        assert_eq!(some.data(), expected.data());

        let mut none = storage.batch();
        let copied = none.copy_records(&from.records, |_| false);
        assert_eq!(
            copied,
            Copied {
                records: 3,
                kept: 0
            }
        );
        assert!(none.is_empty());

        // Appending adds to what the batch holds.
        let mut twice = storage.batch();
        twice.copy_records(&from.records, |_| true);
        twice.copy_records(&from.records, |_| true);
        assert_eq!(twice.len(), 6);
    }

    #[test]
    fn copy_records_never_copies_merges_or_unknown_families() {
        let (_dir, storage) = open();
        let key = metadata_key_in_slot(1, b"a");
        let mut from = WriteBatch::default();
        from.merge_cf(crate::db::handle(&storage.db(), Cf::Metadata), &key, b"m");
        from.put(&key, b"default family"); // id 0: not one of Ferrokv's families
        from.put_cf(crate::db::handle(&storage.db(), Cf::Members), &key, b"v");
        let mut out = storage.batch();
        let copied = out.copy_records(&from, |_| true);
        assert_eq!(
            copied,
            Copied {
                records: 3,
                kept: 1
            }
        );
        assert!(!copied.whole());
        let mut expected = storage.batch();
        expected.put(Cf::Members, &key, b"v");
        assert_eq!(out.data(), expected.data());
    }

    #[test]
    fn write_raw_refuses_what_copy_records_would_not_copy_whole() {
        let (_dir, storage) = open();
        let key = metadata_key_in_slot(1, b"a");
        let mut merge = WriteBatch::default();
        merge.merge_cf(crate::db::handle(&storage.db(), Cf::Metadata), &key, b"m");
        let mut default_family = WriteBatch::default();
        default_family.put(&key, b"v");
        for data in [merge.data(), default_family.data()] {
            let error = storage.write_raw(data, &|_| true).unwrap_err();
            assert!(error.to_string().contains("outside the allowed keys"));
        }
        let batch = three_records(&storage);
        let error = storage
            .write_raw(batch.data(), &|key| slot_of(key) != Some(3))
            .unwrap_err();
        assert!(error.to_string().contains("outside the allowed keys"));
        // Trailing bytes: every record is allowed, but the batch is not what it says.
        let mut trailing = batch.data().to_vec();
        trailing.push(0);
        let error = storage.write_raw(&trailing, &|_| true).unwrap_err();
        assert!(error.to_string().contains("malformed"));
        assert_eq!(get(&storage, Cf::Metadata, &key), None, "nothing applied");
        storage.write_raw(batch.data(), &|_| true).unwrap();
        assert_eq!(get(&storage, Cf::Metadata, &key), Some(b"1".to_vec()));
    }

    struct Slot2(Mutex<Vec<CapturedWrite>>);

    impl WriteObserver for Slot2 {
        fn wants(&self, stored_key: &[u8]) -> bool {
            slot_of(stored_key) == Some(2)
        }

        fn captured(&self, write: CapturedWrite) {
            self.0.lock().unwrap().push(write);
        }
    }

    #[test]
    fn observers_capture_the_records_they_want_and_append_them() {
        let (_dir, storage) = open();
        let observer = Arc::new(Slot2(Mutex::new(Vec::new())));
        let registered: Arc<dyn WriteObserver> = observer.clone();
        storage.add_observer(registered.clone());
        storage.write(three_records(&storage)).unwrap();
        let mut elsewhere = storage.batch();
        elsewhere.put(Cf::Metadata, metadata_key_in_slot(5, b"e"), b"5");
        storage.write(elsewhere).unwrap();
        let mut twice = storage.batch();
        twice.put(Cf::Metadata, metadata_key_in_slot(2, b"x"), b"x");
        twice.put(Cf::Members, metadata_key_in_slot(2, b"y"), b"y");
        storage.write(twice).unwrap();
        storage.remove_observer(&registered);
        storage.write(three_records(&storage)).unwrap();

        let captured = std::mem::take(&mut *observer.0.lock().unwrap());
        assert_eq!(
            captured.iter().map(CapturedWrite::len).collect::<Vec<_>>(),
            [1, 2]
        );
        assert!(captured
            .iter()
            .all(|w| !w.is_empty() && w.size_in_bytes() > 12));
        let mut shipped = storage.batch();
        for write in &captured {
            shipped.append(write);
        }
        let mut expected = storage.batch();
        expected.delete(Cf::Members, metadata_key_in_slot(2, b"b"));
        expected.put(Cf::Metadata, metadata_key_in_slot(2, b"x"), b"x");
        expected.put(Cf::Members, metadata_key_in_slot(2, b"y"), b"y");
        assert_eq!(shipped.data(), expected.data());
    }
}
