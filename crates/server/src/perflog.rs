//! PERFLOG, Kvrocks' log of sampled commands with what RocksDB did for them
//! (`src/stats/log_collector.cc`, `PerfEntry`; the sampling in
//! `src/server/redis_connection.cc`). Settings: `profiling-sample-ratio` (percent of
//! the calls of a sampled command, 0 = off), `profiling-sample-commands` (names,
//! comma-separated, or `*`), `profiling-sample-record-threshold-ms` (kept only when at
//! least this slow; 0 = all), `profiling-sample-record-max-len` (entries kept).

use std::collections::{HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use ferrokv_protocol::Frame;
use parking_lot::{Mutex, RwLock};
use rand::Rng;

/// One sampled call.
#[derive(Debug)]
struct Entry {
    id: u64,
    /// Unix seconds.
    time: u64,
    command: &'static str,
    micros: u64,
    perf_context: String,
}

/// Which commands are sampled.
#[derive(Debug, Default)]
enum Sampled {
    #[default]
    None,
    All,
    Some(HashSet<String>),
}

/// The log and its settings.
#[derive(Debug, Default)]
pub struct PerfLog {
    ratio: AtomicU64,
    threshold_ms: AtomicU64,
    max_len: AtomicUsize,
    commands: RwLock<Sampled>,
    entries: Mutex<VecDeque<Entry>>,
    next_id: AtomicU64,
}

impl PerfLog {
    /// Applies the four `profiling-*` settings.
    pub fn configure(&self, ratio: u64, max_len: u64, threshold_ms: u64, commands: &str) {
        self.ratio.store(ratio.min(100), Ordering::Relaxed);
        self.threshold_ms.store(threshold_ms, Ordering::Relaxed);
        let max_len = usize::try_from(max_len).unwrap_or(usize::MAX);
        self.max_len.store(max_len, Ordering::Relaxed);
        let names: Vec<&str> = commands
            .split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .collect();
        *self.commands.write() = if names.contains(&"*") {
            Sampled::All
        } else if names.is_empty() {
            Sampled::None
        } else {
            Sampled::Some(names.iter().map(|n| n.to_ascii_lowercase()).collect())
        };
        let mut entries = self.entries.lock();
        if max_len > 0 {
            entries.truncate(max_len);
        }
    }

    /// Whether sampling is on (`profiling-sample-ratio` above 0): pipelined runs are
    /// then served one command at a time, so that each can be sampled.
    pub fn active(&self) -> bool {
        self.ratio.load(Ordering::Relaxed) > 0
    }

    /// Whether this call of `command` is sampled (then the caller wraps it in
    /// `ferrokv_storage::perf::begin_sample` and [`PerfLog::record`]).
    pub fn should_sample(&self, command: &str) -> bool {
        let ratio = self.ratio.load(Ordering::Relaxed);
        if ratio == 0 {
            return false;
        }
        let listed = match &*self.commands.read() {
            Sampled::None => false,
            Sampled::All => true,
            Sampled::Some(names) => names.contains(command),
        };
        listed && (ratio >= 100 || rand::thread_rng().gen_range(0..100) < ratio)
    }

    /// Keeps a sampled call if it was slow enough and touched the database.
    pub fn record(&self, command: &'static str, micros: u64, perf_context: String) {
        let threshold = self.threshold_ms.load(Ordering::Relaxed);
        if (threshold > 0 && micros / 1000 < threshold) || perf_context.is_empty() {
            return;
        }
        let entry = Entry {
            id: self.next_id.fetch_add(1, Ordering::Relaxed) + 1,
            time: ferrokv_types::now_ms() / 1000,
            command,
            micros,
            perf_context,
        };
        let max_len = self.max_len.load(Ordering::Relaxed);
        let mut entries = self.entries.lock();
        if max_len > 0 && entries.len() >= max_len {
            entries.pop_back();
        }
        entries.push_front(entry);
    }

    pub fn len(&self) -> usize {
        self.entries.lock().len()
    }

    pub fn reset(&self) {
        self.entries.lock().clear();
    }

    /// The newest `count` entries (all for `None`), newest first, each
    /// `[id, time, command, duration µs, perf context, iostats context]` as Kvrocks'
    /// `PerfEntry::ToRedisString` (the I/O stats context is not collected: empty).
    pub fn get(&self, count: Option<usize>) -> Vec<Frame> {
        let entries = self.entries.lock();
        let take = count.unwrap_or(entries.len());
        entries
            .iter()
            .take(take)
            .map(|e| {
                Frame::Array(vec![
                    Frame::Integer(e.id as i64),
                    Frame::Integer(e.time as i64),
                    Frame::bulk(e.command),
                    Frame::Integer(e.micros as i64),
                    Frame::bulk(e.perf_context.clone()),
                    Frame::bulk(""),
                ])
            })
            .collect()
    }
}
