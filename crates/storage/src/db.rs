use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};

use arc_swap::ArcSwap;
use rocksdb::{
    BlockBasedOptions, Cache, ColumnFamily, ColumnFamilyDescriptor, Options, ReadOptions,
    WriteBatch, WriteOptions, DB,
};

use crate::encoding::slot_range_bounds;
use crate::gc::StaleMemberFilterFactory;
use crate::{Batch, CapturedWrite, Pinned, RangeIter, Snapshot, StorageError, WriteObserver};

/// Ferrokv's column families. Every one of them is keyed slot-first (see `encoding`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cf {
    /// One record per user key: type, expiry, and the value of a string.
    Metadata,
    /// Members of collections.
    Members,
    /// The score index of sorted sets.
    Scores,
}

impl Cf {
    pub const ALL: [Cf; 3] = [Cf::Metadata, Cf::Members, Cf::Scores];

    /// The family of a RocksDB column family id, as write batches carry it: ids follow
    /// creation order, `default` (0) and then `ALL`, created together at first open.
    #[inline]
    pub(crate) fn from_id(id: u32) -> Option<Cf> {
        Cf::ALL.get((id as usize).checked_sub(1)?).copied()
    }

    /// Position in `ALL`.
    #[inline]
    pub(crate) fn index(self) -> usize {
        self as usize
    }

    fn name(self) -> &'static str {
        match self {
            Cf::Metadata => "metadata",
            Cf::Members => "members",
            Cf::Scores => "scores",
        }
    }
}

/// Tunables of the storage engine, set from the server configuration.
#[derive(Debug, Clone)]
pub struct StorageOptions {
    /// fsync the WAL on every write (`rocksdb.write_options.sync`). Off, an acknowledged
    /// write still survives `kill -9` (it is in the OS page cache); on, it also survives
    /// a power cut.
    pub sync_writes: bool,
    /// Keep archived WAL files this long so a migration or replica can catch up.
    pub wal_ttl_seconds: u64,
    /// ...and up to this size.
    pub wal_size_limit_mb: u64,
    pub block_cache_mb: usize,
    /// Memtable size of the metadata family, in MB (`rocksdb.write_buffer_size`); the
    /// member families get a quarter of it (at least 1 MB).
    pub write_buffer_mb: usize,
    /// Uncompressed bytes of records per SST data block (`rocksdb.block_size`, Kvrocks'
    /// option and default, 16 KiB). Smaller blocks cost a scan, or a range read, one
    /// block-cache lookup and one block set-up per few records: with RocksDB's 4 KiB a
    /// migration's copy of 1 KiB values spent 16% of its thread in the cache for three
    /// records a block (perf, bench/migration.sh).
    pub block_size: usize,
    /// Run RocksDB's compaction threads at the lowest CPU priority (nice 19;
    /// `rocksdb.compaction_low_cpu_priority`). Flushes keep the normal priority.
    pub compaction_low_cpu_priority: bool,
}

impl Default for StorageOptions {
    fn default() -> Self {
        StorageOptions {
            sync_writes: false,
            wal_ttl_seconds: 3 * 3600,
            wal_size_limit_mb: 16 * 1024,
            block_cache_mb: 256,
            write_buffer_mb: 16,
            block_size: 16 * 1024,
            compaction_low_cpu_priority: true,
        }
    }
}

/// The RocksDB database of one node.
///
/// The database itself can be replaced while the node runs ([`Storage::swap_in`], a
/// replica's full sync): every operation reads the current one, and what a read hands
/// out keeps its own database open.
pub struct Storage {
    pub(crate) db: ArcSwap<DB>,
    pub(crate) options: StorageOptions,
    write_opts: WriteOptions,
    pub(crate) path: RwLock<PathBuf>,
    /// Called after each WAL flush that made new writes durable (replication streams
    /// wake on it).
    durable_hook: OnceLock<Box<dyn Fn() + Send + Sync>>,
    /// fsync when the WAL is flushed (`rocksdb.write_options.sync`).
    sync_wal: AtomicBool,
    /// Writes applied so far, and how many of them are known to be in the WAL file.
    /// The WAL is flushed by `make_durable` (group commit), not by every write.
    pub(crate) writes: AtomicU64,
    pub(crate) durable: AtomicU64,
    pub(crate) flush_lock: Mutex<()>,
    /// Change capture (slot migration); `observing` lets writes skip the lock when empty.
    observers: RwLock<Vec<Arc<dyn WriteObserver>>>,
    observing: AtomicBool,
    /// Set while the node is a replica: every write of its own is refused
    /// ([`StorageError::ReadOnlyReplica`]), so nothing but its master's batches can move
    /// its sequence (a write of its own would make it skip one of the master's).
    replica_mode: AtomicBool,
}

impl Storage {
    /// Opens (creating if needed) the database in `dir`.
    pub fn open(dir: &Path, options: &StorageOptions) -> Result<Self, StorageError> {
        let db = open_db(dir, options)?;
        Ok(Storage {
            db: ArcSwap::new(db),
            options: options.clone(),
            write_opts: WriteOptions::default(),
            path: RwLock::new(dir.to_path_buf()),
            durable_hook: OnceLock::new(),
            sync_wal: AtomicBool::new(options.sync_writes),
            writes: AtomicU64::new(0),
            durable: AtomicU64::new(0),
            flush_lock: Mutex::new(()),
            observers: RwLock::new(Vec::new()),
            observing: AtomicBool::new(false),
            replica_mode: AtomicBool::new(false),
        })
    }

    /// The directory of the database in use.
    pub fn path(&self) -> PathBuf {
        self.path.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The database in use, for one short operation.
    #[inline]
    pub(crate) fn db(&self) -> arc_swap::Guard<Arc<DB>> {
        self.db.load()
    }

    /// The database in use, kept open by the caller for as long as it holds it.
    #[inline]
    pub(crate) fn db_arc(&self) -> Arc<DB> {
        self.db.load_full()
    }

    /// Counts a write applied, for `make_durable`.
    #[inline]
    pub(crate) fn note_write(&self) {
        self.writes.fetch_add(1, Ordering::AcqRel);
    }

    /// Runs `hook` after every WAL flush that made new writes durable. Set once.
    pub fn set_durable_hook(&self, hook: Box<dyn Fn() + Send + Sync>) {
        let _ = self.durable_hook.set(hook);
    }
}

/// Opens (creating if needed) a database with Ferrokv's families in `dir`.
pub(crate) fn open_db(dir: &Path, options: &StorageOptions) -> Result<Arc<DB>, StorageError> {
    {
        std::fs::create_dir_all(dir).map_err(|source| StorageError::Dir {
            path: dir.display().to_string(),
            source,
        })?;
        let mut db_opts = Options::default();
        db_opts.create_if_missing(true);
        db_opts.create_missing_column_families(true);
        db_opts.set_wal_ttl_seconds(options.wal_ttl_seconds);
        db_opts.set_wal_size_limit_mb(options.wal_size_limit_mb);
        db_opts.increase_parallelism(2);
        db_opts.set_max_background_jobs(2);
        db_opts.set_keep_log_file_num(4);
        // Group commit: writes fill the WAL buffer and `make_durable` hands it to the
        // OS (one write(2) for everything written meanwhile) before replies go out.
        db_opts.set_manual_wal_flush(true);
        if options.compaction_low_cpu_priority {
            // Compactions rewrite data already safe in SST files and can wait: at nice 19
            // they take the CPU client threads leave (bench/migration.sh: a destination's
            // compaction after ingesting a migration's files delayed clients of the
            // source on the same machine by milliseconds). Flushes keep their priority,
            // so a busy node's memtables still drain and writes do not stall.
            let mut env = rocksdb::Env::new()?;
            env.lower_thread_pool_cpu_priority();
            db_opts.set_env(&env);
        }

        // RocksDB's lock-free clock cache (its own advice over LRU), sized by itself
        // (estimated entry charge 0): every point read looks up filter, index and data
        // blocks, and the LRU cache's shard mutex and list upkeep were 5.5% of the
        // server's CPU under unpipelined HSET of random fields (A/B: HSET P1 +4-8%
        // requests/s, -4-7% CPU per request; GET P1 +3-5%; P16 unchanged within noise).
        let cache = Cache::new_hyper_clock_cache(options.block_cache_mb.max(8) << 20, 0);
        let db_cell = Arc::new(OnceLock::new());
        let cfs = Cf::ALL.iter().map(|cf| {
            let mut table = table_format(options);
            table.set_block_cache(&cache);
            table.set_cache_index_and_filter_blocks(true);
            // Point reads of random keys (perf, `GET` pipelined over a million keys):
            // L0's filters and indexes stay in the cache rather than being looked up
            // and evicted.
            table.set_pin_l0_filter_and_index_blocks_in_cache(true);
            let mut cf_opts = Options::default();
            cf_opts.set_block_based_table_factory(&table);
            // Members of large collections arrive in random order: an insert (and the
            // existence check before it) walks the member family's skip list, and a
            // quarter of the metadata's memtable keeps that walk in the CPU's cache
            // (perf, pipelined HSET/SADD/ZADD of random members: 24% in the skip-list
            // insert; 4 MB against 16: SADD +30%, ZADD +28%, HSET +8%, LPUSH and
            // LRANGE unchanged; 2 MB: no better, LPUSH worse from more flushes).
            let write_buffer_mb = match cf {
                Cf::Metadata => options.write_buffer_mb,
                Cf::Members | Cf::Scores => options.write_buffer_mb / 4,
            };
            cf_opts.set_write_buffer_size(write_buffer_mb.max(1) << 20);
            // Eight level-0 files before they are compacted into level 1, not four:
            // while the data set is small, each such compaction rewrites all of level 1,
            // and on two cores that CPU is taken from clients (perf, pipelined HSET of
            // random fields: compactions 21% of the server's CPU). A point read probes
            // the extra files' filters, pinned in the cache (A/B, pipelined random GET
            // after 400k SETs: 4.0-5.9 against 5.4-6.9 µs of CPU per request; HSET
            // 15.9-18.3 against 21.1-23.3 µs, both with the cache filled at flush, see
            // below). Range reads merge more files: LRANGE_100 of one list 5% slower.
            cf_opts.set_level_zero_file_num_compaction_trigger(8);
            // Most point reads of random keys and members miss every memtable (the
            // record is in an SST file, or does not exist yet: a new member): without
            // a filter each miss is a full skip-list search, 30% of the CPU of a
            // pipelined random GET (15% with it), and the insert that follows a new
            // member's check walks the list again. The filter is allocated with each
            // memtable: 2% of its size (~20 bits per 100-byte record).
            cf_opts.set_memtable_prefix_bloom_ratio(0.02);
            cf_opts.set_memtable_whole_key_filtering(true);
            cf_opts.set_compression_type(rocksdb::DBCompressionType::Lz4);
            // L0 and the level it compacts into hold the newest data, rewritten soon by
            // the next compaction: compressing them costs CPU on the write path (LZ4
            // showed in the profile of pipelined SETs) for space held only briefly.
            {
                use rocksdb::DBCompressionType::{Lz4, None};
                cf_opts.set_compression_per_level(&[None, None, Lz4, Lz4, Lz4, Lz4, Lz4]);
            }
            if *cf != Cf::Metadata {
                cf_opts.set_compaction_filter_factory(StaleMemberFilterFactory::new(
                    db_cell.clone(),
                    "ferrokv.stale_members",
                ));
            }
            ColumnFamilyDescriptor::new(cf.name(), cf_opts)
        });
        let db = Arc::new(DB::open_cf_descriptors(&db_opts, dir, cfs)?);
        let _ = db_cell.set(Arc::downgrade(&db));
        for cf in Cf::ALL {
            // A freshly flushed file's blocks go into the block cache as they are
            // written, rather than being read back from the file by the next point read
            // of them (perf, pipelined HSET of random fields: `ReadBlock` of new files
            // 6% of the server's CPU). Flushes only: a compaction's output mixes old,
            // cold data, which would push hot blocks out of a cache smaller than the
            // database (RocksDB's advice for `kFlushAndCompaction`). The rocksdb crate
            // has no setter for this table option, hence the options string.
            db.set_options_cf(
                handle(&db, cf),
                &[(
                    "block_based_table_factory",
                    "{prepopulate_block_cache=kFlushOnly}",
                )],
            )?;
        }
        Ok(db)
    }
}

/// The format of every SST file of the families, whether a flush or compaction writes
/// it or a migration's import builds it ([`crate::SstImport`]): block size, bloom filter
/// (10 bits a key), and a hash index in each data block, so a point read finds its key
/// through a hash of the block's keys rather than a binary search of its restart points
/// (perf, `GET` pipelined over a million keys).
pub(crate) fn table_format(options: &StorageOptions) -> BlockBasedOptions {
    let mut table = BlockBasedOptions::default();
    table.set_block_size(options.block_size);
    table.set_bloom_filter(10.0, false);
    table.set_data_block_index_type(rocksdb::DataBlockIndexType::BinaryAndHash);
    table.set_data_block_hash_ratio(0.75);
    table
}

/// The handle of `cf` in `db`. The families are created at open time and never dropped.
pub(crate) fn handle(db: &DB, cf: Cf) -> &ColumnFamily {
    db.cf_handle(cf.name())
        .expect("column family created at open")
}

impl Storage {
    /// Changes the fsync policy of later flushes.
    pub fn set_sync_writes(&self, sync: bool) {
        self.sync_wal.store(sync, Ordering::Relaxed);
    }

    /// True when some write is not yet durable.
    pub fn has_pending_writes(&self) -> bool {
        self.durable.load(Ordering::Acquire) < self.writes.load(Ordering::Acquire)
    }

    /// Makes every write applied so far durable (in the WAL file, and fsynced if so
    /// configured). Call before acknowledging writes; cheap when nothing is pending, and
    /// one flush covers every writer that got in before it (group commit).
    pub fn make_durable(&self) -> Result<(), StorageError> {
        let target = self.writes.load(Ordering::Acquire);
        if self.durable.load(Ordering::Acquire) >= target {
            return Ok(());
        }
        let _one_at_a_time = self.flush_lock.lock().unwrap_or_else(|e| e.into_inner());
        if self.durable.load(Ordering::Acquire) >= target {
            return Ok(());
        }
        // Everything counted in `upto` has returned from `write`, so it is in the buffer.
        let upto = self.writes.load(Ordering::Acquire);
        self.db().flush_wal(self.sync_wal.load(Ordering::Relaxed))?;
        self.durable.fetch_max(upto, Ordering::AcqRel);
        if let Some(hook) = self.durable_hook.get() {
            hook();
        }
        Ok(())
    }

    pub fn get(&self, cf: Cf, key: &[u8]) -> Result<Option<Pinned<'_>>, StorageError> {
        let db = self.db_arc();
        let Some(slice) = db.get_pinned_cf(handle(&db, cf), key)? else {
            return Ok(None);
        };
        // SAFETY: the slice borrows from `db`, which `Pinned` keeps alive (and drops
        // after the slice).
        let slice: rocksdb::DBPinnableSlice<'static> = unsafe { std::mem::transmute(slice) };
        Ok(Some(Pinned {
            slice,
            _db: db,
            _life: PhantomData,
        }))
    }

    /// Reads several keys of one column family at once (RocksDB's batched `MultiGet`:
    /// the filters and blocks of each file are probed for all the keys together);
    /// `sorted` when `keys` are in ascending order (RocksDB then skips sorting them).
    pub fn multi_get(
        &self,
        cf: Cf,
        keys: &[Vec<u8>],
        sorted: bool,
    ) -> Result<Vec<Option<Vec<u8>>>, StorageError> {
        let db = self.db();
        db.batched_multi_get_cf(handle(&db, cf), keys, sorted)
            .into_iter()
            .map(|r| {
                r.map(|value| value.map(|v| v.to_vec()))
                    .map_err(StorageError::from)
            })
            .collect()
    }

    /// A new, empty batch of writes to this storage.
    #[inline]
    pub fn batch(&self) -> Batch<'_> {
        Batch::new(self)
    }

    /// Turns replica mode on (the node follows a master: its own writes are refused) or
    /// off (it is a master). Set before a node that starts as a replica writes anything.
    pub fn set_replica_mode(&self, on: bool) {
        self.replica_mode.store(on, Ordering::SeqCst);
    }

    /// Whether writes of this node's own are refused (see [`Storage::set_replica_mode`]).
    pub fn replica_mode(&self) -> bool {
        self.replica_mode.load(Ordering::SeqCst)
    }

    /// `Err(ReadOnlyReplica)` in replica mode: every write path of the node's own goes
    /// through it.
    pub(crate) fn check_writable(&self) -> Result<(), StorageError> {
        if self.replica_mode() {
            return Err(StorageError::ReadOnlyReplica);
        }
        Ok(())
    }

    /// Applies a batch atomically. It is visible at once and durable after the next
    /// `make_durable`. Refused in replica mode.
    pub fn write(&self, batch: Batch<'_>) -> Result<(), StorageError> {
        self.check_writable()?;
        debug_assert!(
            std::ptr::eq(batch.storage(), self),
            "a batch is written to the storage that made it"
        );
        let captured = if self.observing.load(Ordering::Acquire) {
            self.capture(&batch.records)
        } else {
            Vec::new()
        };
        self.db().write_opt(batch.records, &self.write_opts)?;
        self.note_write();
        // Handed over only once applied: an observer never sees a write that failed.
        for (observer, records) in captured {
            observer.captured(records);
        }
        Ok(())
    }

    fn capture(&self, batch: &WriteBatch) -> Vec<(Arc<dyn WriteObserver>, CapturedWrite)> {
        let observers = self
            .observers
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        observers
            .into_iter()
            .filter_map(|observer| {
                let mut wanted = self.batch();
                wanted.copy_records(batch, |key| observer.wants(key));
                (!wanted.is_empty()).then(|| (observer, CapturedWrite(wanted.records)))
            })
            .collect()
    }

    /// Starts change capture for `observer`. The caller makes sure no write is in
    /// flight while it registers (and takes its snapshot), so that every write is
    /// either in the snapshot or captured.
    pub fn add_observer(&self, observer: Arc<dyn WriteObserver>) {
        let mut observers = self.observers.write().unwrap_or_else(|e| e.into_inner());
        observers.push(observer);
        self.observing.store(true, Ordering::Release);
    }

    pub fn remove_observer(&self, observer: &Arc<dyn WriteObserver>) {
        let mut observers = self.observers.write().unwrap_or_else(|e| e.into_inner());
        observers.retain(|o| !Arc::ptr_eq(o, observer));
        self.observing
            .store(!observers.is_empty(), Ordering::Release);
    }

    /// A consistent point-in-time view.
    pub fn snapshot(&self) -> Snapshot<'_> {
        let db = self.db_arc();
        let inner = db.snapshot();
        // SAFETY: the snapshot borrows from `db`, which `Snapshot` keeps alive (and
        // drops after it).
        let inner: rocksdb::Snapshot<'static> = unsafe { std::mem::transmute(inner) };
        Snapshot {
            inner,
            db,
            _life: PhantomData,
        }
    }

    /// An iterator over `[lower, upper)` of one column family, optionally at a snapshot,
    /// positioned at `lower`.
    pub fn range_iter(
        &self,
        cf: Cf,
        lower: &[u8],
        upper: Option<&[u8]>,
        snapshot: Option<&Snapshot<'_>>,
    ) -> RangeIter<'_> {
        self.iter_with(ReadOptions::default(), cf, lower, upper, snapshot)
    }

    /// [`Storage::range_iter`] for a read of a few records (up to about a thousand): the
    /// keys and values it passes stay pinned where RocksDB holds them rather than being
    /// copied at each step (perf, pipelined `LRANGE_100`: 8-10% less CPU per request).
    /// The blocks it reads stay in memory until it is dropped, which is why long scans
    /// do not use it.
    pub fn short_range_iter(&self, cf: Cf, lower: &[u8], upper: Option<&[u8]>) -> RangeIter<'_> {
        let mut opts = ReadOptions::default();
        opts.set_pin_data(true);
        self.iter_with(opts, cf, lower, upper, None)
    }

    /// [`Storage::range_iter`] for one pass over much data (a migration's snapshot):
    /// the blocks it reads do not enter the block cache (they would push out what
    /// clients read, and grow the process by the cache's size), and files are read
    /// ahead in large pieces.
    pub fn scan_iter(
        &self,
        cf: Cf,
        lower: &[u8],
        upper: Option<&[u8]>,
        snapshot: Option<&Snapshot<'_>>,
    ) -> RangeIter<'_> {
        let mut opts = ReadOptions::default();
        opts.fill_cache(false);
        opts.set_readahead_size(2 << 20);
        // With an upper bound, RocksDB would otherwise trim each readahead to the bound
        // by looking every block ahead up in the block cache: 7% of a migration's copy
        // thread (perf, bench/migration.sh), for a scan that reads to its bound anyway.
        opts.set_auto_readahead_size(false);
        self.iter_with(opts, cf, lower, upper, snapshot)
    }

    fn iter_with(
        &self,
        mut opts: ReadOptions,
        cf: Cf,
        lower: &[u8],
        upper: Option<&[u8]>,
        snapshot: Option<&Snapshot<'_>>,
    ) -> RangeIter<'_> {
        opts.set_iterate_lower_bound(lower.to_vec());
        if let Some(upper) = upper {
            opts.set_iterate_upper_bound(upper.to_vec());
        }
        // A snapshot is read in the database it was taken in.
        let db = match snapshot {
            Some(snapshot) => {
                opts.set_snapshot(&snapshot.inner);
                snapshot.db.clone()
            }
            None => self.db_arc(),
        };
        let iter = db.raw_iterator_cf_opt(handle(&db, cf), opts);
        // SAFETY: the iterator borrows from `db`, which `RangeIter` keeps alive (and
        // drops after it).
        let mut iter: rocksdb::DBRawIterator<'static> = unsafe { std::mem::transmute(iter) };
        iter.seek(lower);
        RangeIter {
            iter,
            _db: db,
            _life: PhantomData,
        }
    }

    /// Removes every record of slots `first..=last` in every column family: one range
    /// tombstone per family, whatever the amount of data.
    pub fn delete_slot_range(&self, first: u16, last: u16) -> Result<(), StorageError> {
        let (start, end) = slot_range_bounds(first, last);
        let mut batch = self.batch();
        for cf in Cf::ALL {
            batch.delete_range(cf, &start, &end);
        }
        self.write(batch)
    }

    /// Removes everything (FLUSHDB/FLUSHALL): one range tombstone per family, at once.
    /// The space comes back as compaction reaches the tombstones (or with COMPACT).
    pub fn delete_all(&self) -> Result<(), StorageError> {
        self.delete_slot_range(0, ferrokv_keyslot::MAX_SLOT)
    }

    /// Compacts every column family completely (COMPACT): drops deleted records and,
    /// through the compaction filter, members of deleted collections.
    pub fn compact_all(&self) {
        let db = self.db();
        for cf in Cf::ALL {
            db.compact_range_cf(handle(&db, cf), None::<&[u8]>, None::<&[u8]>);
        }
    }

    /// Sequence number of the newest write.
    pub fn latest_sequence(&self) -> u64 {
        self.db().latest_sequence_number()
    }

    /// Applies a batch received as raw bytes ([`Batch::data`] on another node) if every
    /// record's stored key is one `allowed` accepts, else refuses it. The batch is rebuilt
    /// record by record rather than handed to RocksDB as is: a malformed batch would put
    /// the whole database in a read-only error state, so one is refused here instead.
    pub fn write_raw(
        &self,
        data: &[u8],
        allowed: &dyn Fn(&[u8]) -> bool,
    ) -> Result<(), StorageError> {
        let copy = self.checked_copy(data, allowed)?;
        self.write(copy)
    }

    /// The checks of [`Storage::write_raw`]: the batch rebuilt record by record, if
    /// every record is one `allowed` accepts and the batch is well-formed.
    pub(crate) fn checked_copy(
        &self,
        data: &[u8],
        allowed: &dyn Fn(&[u8]) -> bool,
    ) -> Result<Batch<'_>, StorageError> {
        let declared = data
            .get(8..12)
            .and_then(|b| b.try_into().ok())
            .map(u32::from_le_bytes)
            .ok_or(StorageError::Corrupt("write batch too short"))?;
        let mut copy = self.batch();
        let copied = copy.copy_records(&WriteBatch::from_data(data), allowed);
        if !copied.whole() {
            // A key outside the allowed set, a merge record or an unknown family.
            return Err(StorageError::Corrupt(
                "write batch has records outside the allowed keys",
            ));
        }
        // Rebuilt through the API, a well-formed batch comes out byte for byte the same
        // (but its sequence number): anything else (trailing bytes, odd encodings) is
        // refused.
        if copied.records != declared as usize || copy.data().get(12..) != data.get(12..) {
            return Err(StorageError::Corrupt("malformed write batch"));
        }
        Ok(copy)
    }

    /// Makes every acknowledged write durable and flushes memtables: the clean-shutdown path.
    pub fn flush(&self) -> Result<(), StorageError> {
        self.make_durable()?;
        let db = self.db();
        db.flush_wal(true)?;
        for cf in Cf::ALL {
            db.flush_cf(handle(&db, cf))?;
        }
        Ok(())
    }

    /// Estimated number of keys of a column family (RocksDB's own estimate).
    pub fn estimate_keys(&self, cf: Cf) -> u64 {
        let db = self.db();
        db.property_int_value_cf(handle(&db, cf), "rocksdb.estimate-num-keys")
            .ok()
            .flatten()
            .unwrap_or(0)
    }

    /// Bytes of live SST files of all families.
    pub fn disk_usage(&self) -> u64 {
        let db = self.db();
        Cf::ALL
            .iter()
            .filter_map(|cf| {
                db.property_int_value_cf(handle(&db, *cf), "rocksdb.live-sst-files-size")
                    .ok()
                    .flatten()
            })
            .sum()
    }

    /// Memory RocksDB holds, in bytes: memtables, the block cache (shared by all
    /// families, so counted once) and table readers (indexes and filters kept outside
    /// the cache).
    pub fn memory_bytes(&self) -> (u64, u64, u64) {
        let db = self.db();
        let property = |cf: Cf, name: &str| {
            db.property_int_value_cf(handle(&db, cf), name)
                .ok()
                .flatten()
                .unwrap_or(0)
        };
        let table_readers = Cf::ALL
            .iter()
            .map(|cf| property(*cf, "rocksdb.estimate-table-readers-mem"))
            .sum();
        (
            self.memtable_bytes(),
            property(Cf::Metadata, "rocksdb.block-cache-usage"),
            table_readers,
        )
    }

    /// RocksDB's background work now, as Kvrocks' INFO rocksdb shows it (src/server/
    /// server.cc): `[running flushes, memtables waiting for a flush (families with one),
    /// families waiting for a compaction, running compactions]`.
    pub fn background_work(&self) -> [u64; 4] {
        let db = self.db();
        let whole = |name: &str| db.property_int_value(name).ok().flatten().unwrap_or(0);
        let per_family = |name: &str| -> u64 {
            Cf::ALL
                .iter()
                .filter_map(|cf| {
                    db.property_int_value_cf(handle(&db, *cf), name)
                        .ok()
                        .flatten()
                })
                .sum()
        };
        [
            whole("rocksdb.num-running-flushes"),
            per_family("rocksdb.mem-table-flush-pending"),
            per_family("rocksdb.compaction-pending"),
            whole("rocksdb.num-running-compactions"),
        ]
    }

    /// Approximate memory held by memtables.
    pub fn memtable_bytes(&self) -> u64 {
        let db = self.db();
        Cf::ALL
            .iter()
            .filter_map(|cf| {
                db.property_int_value_cf(handle(&db, *cf), "rocksdb.cur-size-all-mem-tables")
                    .ok()
                    .flatten()
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encoding::metadata_key_in_slot;
    use crate::test_support::open;

    fn put(storage: &Storage, slot: u16, key: &[u8]) {
        let mut batch = storage.batch();
        batch.put(Cf::Metadata, metadata_key_in_slot(slot, key), b"v");
        storage.write(batch).unwrap();
    }

    fn count(storage: &Storage) -> usize {
        let mut iter = storage.range_iter(Cf::Metadata, &[], None, None);
        let mut n = 0;
        while iter.valid() {
            n += 1;
            iter.next();
        }
        n
    }

    #[test]
    fn family_ids_and_indexes_follow_all() {
        for (i, cf) in Cf::ALL.into_iter().enumerate() {
            assert_eq!(cf.index(), i);
            assert_eq!(Cf::from_id(i as u32 + 1), Some(cf));
        }
        assert_eq!(Cf::from_id(0), None, "default");
        assert_eq!(Cf::from_id(Cf::ALL.len() as u32 + 1), None);
    }

    /// The tuning set after open is what RocksDB records for each data family (its
    /// latest OPTIONS file), so a misspelt options string cannot pass unnoticed.
    #[test]
    fn data_families_cache_flushed_blocks_and_compact_at_eight_files() {
        let (dir, _storage) = open();
        let latest = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|entry| entry.ok().map(|e| e.file_name().into_string().unwrap()))
            .filter(|name| name.starts_with("OPTIONS-"))
            .max_by_key(|name| name[8..].parse::<u64>().unwrap_or(0))
            .expect("an OPTIONS file");
        let text = std::fs::read_to_string(dir.path().join(latest)).unwrap();
        for cf in Cf::ALL {
            let section = text
                .split("[CFOptions \"")
                .find(|s| s.starts_with(&format!("{}\"", cf.name())))
                .unwrap_or_else(|| panic!("no section for {}", cf.name()));
            let section = section.split("[TableOptions").collect::<Vec<_>>();
            assert!(
                section[0].contains("level0_file_num_compaction_trigger=8"),
                "{}",
                cf.name()
            );
            assert!(
                section[1].contains("prepopulate_block_cache=kFlushOnly"),
                "{}",
                cf.name()
            );
        }
    }

    #[test]
    fn slot_range_delete_removes_exactly_the_range() {
        let (_dir, storage) = open();
        for slot in [0u16, 99, 100, 150, 200, 201, 16383] {
            put(&storage, slot, b"k");
        }
        storage.delete_slot_range(100, 200).unwrap();
        assert_eq!(count(&storage), 4);
        storage.delete_slot_range(16383, 16383).unwrap();
        assert_eq!(count(&storage), 3);
    }

    #[test]
    fn shipped_batches_replay_onto_another_database() {
        let (_dir, source) = open();
        let (_dir2, dest) = open();
        for (slot, key) in [(5, b"a"), (6, b"b")] {
            let mut batch = source.batch();
            batch.put(Cf::Metadata, metadata_key_in_slot(slot, key), b"v");
            dest.write_raw(batch.data(), &|_| true).unwrap();
            source.write(batch).unwrap();
        }
        assert_eq!(count(&source), 2);
        assert_eq!(count(&dest), 2);
    }

    #[test]
    fn malformed_foreign_batches_are_refused_and_leave_the_database_writable() {
        let (_dir, storage) = open();
        for garbage in [
            &b""[..],
            b"short",
            b"\0\0\0\0\0\0\0\0\x05\0\0\0\x01\x03abc",
            b"\0\0\0\0\0\0\0\0\0\0\0\0\xf2\xff\xff\xff\x07",
        ] {
            assert!(storage.write_raw(garbage, &|_| true).is_err());
        }
        let mut batch = storage.batch();
        batch.put(Cf::Metadata, metadata_key_in_slot(7, b"k"), b"v");
        assert!(
            storage
                .write_raw(batch.data(), &|key| key[..2] == [0, 8])
                .is_err(),
            "slot 7 not allowed"
        );
        storage
            .write_raw(batch.data(), &|key| key[..2] == [0, 7])
            .unwrap();
        put(&storage, 1, b"still writable");
        assert_eq!(count(&storage), 2);
    }

    #[test]
    fn snapshots_do_not_see_later_writes() {
        let (_dir, storage) = open();
        put(&storage, 1, b"a");
        let snapshot = storage.snapshot();
        put(&storage, 1, b"b");
        let mut iter = storage.range_iter(Cf::Metadata, &[], None, Some(&snapshot));
        let mut n = 0;
        while iter.valid() {
            n += 1;
            iter.next();
        }
        assert_eq!(n, 1);
    }
}
