//! RocksDB's per-thread perf context, for sampling one command (Kvrocks' PERFLOG,
//! `src/server/redis_connection.cc`: `IsProfilingEnabled`, `RecordProfilingSampleIfNeed`).

use rocksdb::perf::{set_perf_stats, PerfContext, PerfStatsLevel};

/// Starts counting on this thread (counts and times except mutexes, Kvrocks' level),
/// from zero.
pub fn begin_sample() {
    set_perf_stats(PerfStatsLevel::EnableTimeExceptForMutex);
    PerfContext::default().reset();
}

/// Stops counting on this thread and returns what RocksDB counted since
/// [`begin_sample`], as RocksDB's `PerfContext::ToString(true)` writes it
/// (`name = value` pairs, zero counters left out; empty when the command read and
/// wrote nothing).
pub fn end_sample() -> String {
    let report = PerfContext::default().report(true);
    set_perf_stats(PerfStatsLevel::Disable);
    report
}
