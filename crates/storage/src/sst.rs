//! Bulk import as SST files: sorted records of a migration's snapshot are written into
//! RocksDB table files (`SstFileWriter`) in a staging directory and each finished file
//! is ingested (`IngestExternalFile`, moved, not copied): no WAL, no memtable, no
//! compaction of the imported data through the upper levels.
//!
//! Ingested records get a sequence number newer than everything already in the
//! database (or the bottommost level when nothing overlaps them), and they are not in
//! the WAL: a replica following the WAL never sees them (the server guards that, see
//! `Storage::ingest_guarded`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rocksdb::{IngestExternalFileOptions, Options, SstFileWriter, WriteBatchIteratorCf, DB};

use crate::{Cf, Storage, StorageError, StorageOptions};

/// One column family's file being written.
struct Open {
    /// Declared before `_options`: dropped first (it borrows them).
    writer: SstFileWriter<'static>,
    _options: Box<Options>,
    path: PathBuf,
    records: u64,
    /// Bytes of keys and values added (what the chunk size bounds: compression makes
    /// the file's own size say little about how much it holds).
    bytes: u64,
}

/// SST files being built from sorted records, one open file per column family; a file
/// is ingested once `chunk_bytes` of keys and values went in ([`SstImport::ingest_full`]),
/// and the rest by [`SstImport::finish`].
/// Dropped unfinished, its open files are deleted (never ingested).
///
/// Records of each family must arrive in strictly ascending key order (a migration's
/// snapshot does: it is read with a range iterator), else [`SstImport::add`] fails.
pub struct SstImport {
    db: Arc<DB>,
    dir: PathBuf,
    /// File names start with this (one import's files never clash with another's).
    prefix: String,
    chunk_bytes: u64,
    /// The node's storage options (the files' table format).
    storage_options: StorageOptions,
    open: [Option<Open>; Cf::ALL.len()],
    files: u64,
    /// Records ingested so far.
    pub ingested_records: u64,
    /// Files ingested so far.
    pub ingested_files: u64,
}

// SAFETY: the RocksDB writers are used by one thread at a time (`&mut self`), and
// RocksDB's `SstFileWriter` has no thread affinity; the rest is `Send` already.
unsafe impl Send for SstImport {}

impl Storage {
    /// Starts an SST import staging its files in `dir` (created if missing; it must be
    /// on the database's file system, files are moved into it), named from `prefix`,
    /// each ingested once it holds about `chunk_bytes` bytes of keys and values (at
    /// least 1 MiB).
    pub fn sst_import(
        &self,
        dir: &Path,
        prefix: &str,
        chunk_bytes: u64,
    ) -> Result<SstImport, StorageError> {
        self.check_writable()?;
        std::fs::create_dir_all(dir).map_err(|source| StorageError::Dir {
            path: dir.display().to_string(),
            source,
        })?;
        Ok(SstImport {
            db: self.db_arc(),
            dir: dir.to_path_buf(),
            prefix: prefix.to_string(),
            chunk_bytes: chunk_bytes.max(1 << 20),
            storage_options: self.options.clone(),
            open: Default::default(),
            files: 0,
            ingested_records: 0,
            ingested_files: 0,
        })
    }

    /// Whether slots `first..=last` hold no record in any family (an import then needs
    /// no range tombstone before it starts, and its files land below everything).
    pub fn slot_range_is_empty(&self, first: u16, last: u16) -> Result<bool, StorageError> {
        let (start, end) = crate::encoding::slot_range_bounds(first, last);
        for cf in Cf::ALL {
            let iter = self.range_iter(cf, &start, Some(&end), None);
            if iter.valid() {
                return Ok(false);
            }
            iter.status()?;
        }
        Ok(true)
    }
}

/// The table format of the families ([`crate::db::table_format`]), for files that will
/// be ingested into them, LZ4-compressed as the levels they land in.
fn writer_options(storage: &StorageOptions) -> Options {
    let table = crate::db::table_format(storage);
    let mut options = Options::default();
    // Written back as it goes: finishing a file then syncs its last megabyte, not the
    // whole file (the importing link's worker thread waits for that).
    options.set_bytes_per_sync(1 << 20);
    options.set_block_based_table_factory(&table);
    options.set_compression_type(rocksdb::DBCompressionType::Lz4);
    options
}

impl SstImport {
    /// Adds the records of a raw write batch ([`crate::Batch::data`] of another node),
    /// checked as [`Storage::write_raw`] checks them: every stored key must be one
    /// `allowed` accepts, and only puts are accepted (a snapshot has nothing else).
    /// Ingests nothing: see [`SstImport::full`].
    pub fn add(
        &mut self,
        storage: &Storage,
        data: &[u8],
        allowed: &dyn Fn(&[u8]) -> bool,
    ) -> Result<(), StorageError> {
        let checked = storage.checked_copy(data, allowed)?;
        let mut sink = Sink {
            import: self,
            error: None,
        };
        checked.records.iterate_cf(&mut sink);
        match sink.error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Whether a file holds the chunk size: time for [`SstImport::ingest_full`].
    pub fn full(&self) -> bool {
        self.open
            .iter()
            .flatten()
            .any(|o| o.bytes >= self.chunk_bytes)
    }

    /// Finishes and ingests the files that hold the chunk size.
    pub fn ingest_full(&mut self) -> Result<(), StorageError> {
        for cf in Cf::ALL {
            let full = self.open[cf.index()]
                .as_ref()
                .is_some_and(|o| o.bytes >= self.chunk_bytes);
            if full {
                self.ingest(cf)?;
            }
        }
        Ok(())
    }

    /// Whether records wait in files not yet ingested.
    pub fn pending(&self) -> bool {
        self.open.iter().any(Option::is_some)
    }

    /// Finishes and ingests every open file: afterwards, every record added is in the
    /// database.
    pub fn finish(&mut self) -> Result<(), StorageError> {
        for cf in Cf::ALL {
            self.ingest(cf)?;
        }
        Ok(())
    }

    fn put(&mut self, cf: Cf, key: &[u8], value: &[u8]) -> Result<(), StorageError> {
        let slot = &mut self.open[cf.index()];
        if slot.is_none() {
            let options = Box::new(writer_options(&self.storage_options));
            // SAFETY: the writer borrows `options`, which is boxed (it does not move) and
            // dropped after the writer (field order of `Open`).
            let options_ref: &'static Options =
                unsafe { std::mem::transmute::<&Options, &'static Options>(&options) };
            let writer = SstFileWriter::create(options_ref);
            self.files += 1;
            let path = self
                .dir
                .join(format!("{}-{}-{}.sst", self.prefix, cf.index(), self.files));
            writer.open(&path)?;
            *slot = Some(Open {
                writer,
                _options: options,
                path,
                records: 0,
                bytes: 0,
            });
        }
        let open = slot.as_mut().expect("opened above");
        open.writer.put(key, value)?;
        open.records += 1;
        open.bytes += (key.len() + value.len()) as u64;
        Ok(())
    }

    /// Finishes the open file of `cf`, if any, and ingests it.
    fn ingest(&mut self, cf: Cf) -> Result<(), StorageError> {
        let Some(mut open) = self.open[cf.index()].take() else {
            return Ok(());
        };
        let result = (|| -> Result<(), StorageError> {
            open.writer.finish()?;
            let mut opts = IngestExternalFileOptions::default();
            opts.set_move_files(true);
            self.db.ingest_external_file_cf_opts(
                crate::db::handle(&self.db, cf),
                &opts,
                vec![&open.path],
            )?;
            Ok(())
        })();
        // Moved into the database on success (the name here is a hard link then);
        // on failure nothing references it.
        let _ = std::fs::remove_file(&open.path);
        result?;
        self.ingested_records += open.records;
        self.ingested_files += 1;
        Ok(())
    }
}

impl Drop for SstImport {
    fn drop(&mut self) {
        for open in self.open.iter_mut().filter_map(Option::take) {
            let path = open.path.clone();
            drop(open);
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Routes the records of a checked batch into the open files.
struct Sink<'a> {
    import: &'a mut SstImport,
    error: Option<StorageError>,
}

impl WriteBatchIteratorCf for Sink<'_> {
    fn put_cf(&mut self, cf_id: u32, key: &[u8], value: &[u8]) {
        if self.error.is_some() {
            return;
        }
        let Some(cf) = Cf::from_id(cf_id) else {
            self.error = Some(StorageError::Corrupt("record of an unknown column family"));
            return;
        };
        if let Err(e) = self.import.put(cf, key, value) {
            self.error = Some(e);
        }
    }

    fn delete_cf(&mut self, _cf_id: u32, _key: &[u8]) {
        self.error
            .get_or_insert(StorageError::Corrupt("a delete in sorted records"));
    }

    fn merge_cf(&mut self, _cf_id: u32, _key: &[u8], _value: &[u8]) {
        self.error
            .get_or_insert(StorageError::Corrupt("a merge in sorted records"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encoding::metadata_key_in_slot;
    use crate::test_support::open;

    /// A raw batch of puts of `keys` (value: 100 bytes of the key's index).
    fn batch(source: &Storage, cf: Cf, keys: &[Vec<u8>]) -> Vec<u8> {
        let mut batch = source.batch();
        for (i, key) in keys.iter().enumerate() {
            batch.put(cf, key, [i as u8; 100]);
        }
        batch.data().to_vec()
    }

    fn key(slot: u16, i: u32) -> Vec<u8> {
        metadata_key_in_slot(slot, format!("k{i:08}").as_bytes())
    }

    fn staged(dir: &Path) -> usize {
        std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
    }

    #[test]
    fn sorted_records_are_ingested_in_chunks_and_read_back() {
        let (_dir, storage) = open();
        let (_src_dir, source) = open();
        let stage = tempfile::tempdir().unwrap();
        let mut import = storage.sst_import(stage.path(), "t", 1 << 20).unwrap();
        // 30,500 records of ~115 bytes: ~3.4 MB, three full files and a last one.
        for chunk in 0..31u32 {
            let keys: Vec<_> = (chunk * 1000..((chunk + 1) * 1000).min(30_500))
                .map(|i| key(7, i))
                .collect();
            import
                .add(&storage, &batch(&source, Cf::Metadata, &keys), &|_| true)
                .unwrap();
            if import.full() {
                import.ingest_full().unwrap();
            }
        }
        assert!(import.ingested_files >= 3, "{}", import.ingested_files);
        assert!(
            import.pending(),
            "{} files, {} records",
            import.ingested_files,
            import.ingested_records
        );
        import.finish().unwrap();
        assert!(!import.pending());
        assert_eq!(import.ingested_records, 30_500);
        assert_eq!(staged(stage.path()), 0, "moved into the database");
        let value = storage.get(Cf::Metadata, &key(7, 29_999)).unwrap().unwrap();
        assert_eq!(value.as_ref(), &[(999 % 256) as u8; 100][..]);
        let value = storage.get(Cf::Metadata, &key(7, 30_499)).unwrap().unwrap();
        assert_eq!(value.as_ref(), &[(499 % 256) as u8; 100][..]);
        // A range delete covers ingested records.
        storage.delete_slot_range(7, 7).unwrap();
        assert!(storage.get(Cf::Metadata, &key(7, 0)).unwrap().is_none());
        assert!(storage.slot_range_is_empty(7, 7).unwrap());
    }

    /// Data blocks in the live SST files of `cf` (RocksDB's aggregated table properties).
    fn data_blocks(storage: &Storage, cf: Cf) -> u64 {
        let db = storage.db();
        let text = db
            .property_value_cf(
                crate::db::handle(&db, cf),
                "rocksdb.aggregated-table-properties",
            )
            .unwrap()
            .unwrap();
        let count = text.split("# data blocks=").nth(1).unwrap();
        count[..count.find(';').unwrap()].parse().unwrap()
    }

    #[test]
    fn files_flushed_and_imported_take_the_configured_block_size() {
        let keys: Vec<_> = (0..2000).map(|i| key(5, i)).collect();
        let mut blocks = Vec::new();
        for block_size in [1024, 64 * 1024] {
            let options = StorageOptions {
                block_size,
                ..StorageOptions::default()
            };
            let dir = tempfile::tempdir().unwrap();
            let flushed = Storage::open(&dir.path().join("flushed"), &options).unwrap();
            let imported = Storage::open(&dir.path().join("imported"), &options).unwrap();
            let data = batch(&flushed, Cf::Metadata, &keys);
            flushed.write_raw(&data, &|_| true).unwrap();
            flushed.flush().unwrap();
            let mut import = imported
                .sst_import(&dir.path().join("stage"), "t", 1 << 30)
                .unwrap();
            import.add(&imported, &data, &|_| true).unwrap();
            import.finish().unwrap();
            blocks.push([
                data_blocks(&flushed, Cf::Metadata),
                data_blocks(&imported, Cf::Metadata),
            ]);
        }
        // 2,000 records of ~115 bytes: ~230 KB, a few hundred 1 KiB blocks, four 64 KiB.
        let (small, large) = (blocks[0], blocks[1]);
        for (small, large) in small.into_iter().zip(large) {
            assert!(small >= 150 && large <= 6, "{blocks:?}");
        }
    }

    #[test]
    fn records_out_of_order_deletes_and_foreign_keys_are_refused() {
        let (_dir, storage) = open();
        let (_src_dir, source) = open();
        let stage = tempfile::tempdir().unwrap();
        let mut import = storage.sst_import(stage.path(), "t", 1 << 20).unwrap();
        let sorted = batch(&source, Cf::Members, &[key(3, 1), key(3, 2)]);
        import.add(&storage, &sorted, &|_| true).unwrap();
        let backwards = batch(&source, Cf::Members, &[key(3, 1)]);
        assert!(import.add(&storage, &backwards, &|_| true).is_err());

        let mut import = storage.sst_import(stage.path(), "u", 1 << 20).unwrap();
        let mut with_delete = source.batch();
        with_delete.delete(Cf::Members, key(3, 5));
        assert!(import.add(&storage, with_delete.data(), &|_| true).is_err());
        let other_slot = batch(&source, Cf::Members, &[key(4, 1)]);
        let only_slot_3 = |k: &[u8]| crate::encoding::slot_of(k) == Some(3);
        assert!(import.add(&storage, &other_slot, &only_slot_3).is_err());
    }

    #[test]
    fn an_import_dropped_unfinished_leaves_no_file_and_no_record() {
        let (_dir, storage) = open();
        let (_src_dir, source) = open();
        let stage = tempfile::tempdir().unwrap();
        let mut import = storage.sst_import(stage.path(), "t", 1 << 20).unwrap();
        import
            .add(&storage, &batch(&source, Cf::Scores, &[key(9, 1)]), &|_| {
                true
            })
            .unwrap();
        assert_eq!(staged(stage.path()), 1);
        drop(import);
        assert_eq!(staged(stage.path()), 0);
        assert!(storage.get(Cf::Scores, &key(9, 1)).unwrap().is_none());
    }
}
