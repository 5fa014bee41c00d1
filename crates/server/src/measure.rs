//! What running a command records in the node's [`Metrics`](crate::metrics::Metrics):
//! calls, time, errors, SLOWLOG, the MONITOR feed, keyspace hits; plus the periodic
//! sampling of rates and the memory figures INFO reports. The counters themselves live
//! in `metrics.rs`, which the node's state holds; this module needs the node, so it
//! comes after it.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use ferrokv_protocol::Frame;

use crate::context::Context;
use crate::error::{CmdResult, CommandError};
use crate::metrics::rss_bytes;
use crate::server::Server;

/// What the metrics need to know of a command (from its table row).
#[derive(Debug, Clone, Copy)]
pub struct Measure {
    pub name: &'static str,
    /// A read: its key lookups count as keyspace hits and misses.
    pub counts_lookups: bool,
    /// Carries a password (AUTH, HELLO): kept out of SLOWLOG and MONITOR.
    pub private: bool,
    /// An administrative command: kept out of MONITOR, as Redis does.
    pub admin: bool,
}

/// Runs a command that passed the checks and records it: counts and time (INFO
/// commandstats), error replies (errorstats), the slow log and MONITOR. The lookups of
/// read-only commands count as keyspace hits or misses.
pub fn call(
    ctx: &mut Context<'_>,
    measure: Measure,
    args: &[Bytes],
    handler: fn(&mut Context<'_>, &[Bytes]) -> CmdResult,
) -> Frame {
    let sampled = ctx.server.perflog.should_sample(measure.name);
    if sampled {
        ferrokv_storage::perf::begin_sample();
    }
    let started = Instant::now();
    let reply = if measure.counts_lookups {
        let server = ctx.server;
        server.db.counting_lookups(|| handler(ctx, args))
    } else {
        handler(ctx, args)
    }
    .unwrap_or_else(Frame::from);
    // Counting stops on this thread whatever happens next.
    let report = sampled.then(ferrokv_storage::perf::end_sample);
    if matches!(ctx.client.action, Some(crate::client::Action::Block(_))) {
        // Not served yet: recorded when it runs again and is served.
        return reply;
    }
    let micros = started.elapsed().as_micros() as u64;
    if let Some(report) = report {
        ctx.server.perflog.record(measure.name, micros, report);
    }
    let metrics = &ctx.server.metrics;
    if let Some(stat) = metrics.command(measure.name) {
        stat.calls.fetch_add(1, Ordering::Relaxed);
        stat.usec.fetch_add(micros, Ordering::Relaxed);
        if let Frame::Error(message) = &reply {
            stat.failed.fetch_add(1, Ordering::Relaxed);
            metrics.note_error(message);
        }
    }
    // AUTH and HELLO carry passwords; Redis keeps them out of both.
    let private = measure.private;
    if !private && metrics.slow(micros) {
        metrics.log_slow(micros, args, &ctx.client.info);
    }
    if !private && !measure.admin {
        metrics.feed_monitors(&ctx.client.info, args);
    }
    reply
}

/// Records a command refused before it ran (unknown, wrong arity, NOAUTH, routing):
/// its error reply, and a rejected call of the command if it exists.
pub fn rejected(server: &Server, args: &[Bytes], error: &CommandError) {
    let metrics = &server.metrics;
    let name = args
        .first()
        .and_then(|name| std::str::from_utf8(name).ok())
        .map(str::to_ascii_lowercase);
    if let Some(stat) = name.and_then(|name| metrics.command(name.as_str())) {
        stat.rejected.fetch_add(1, Ordering::Relaxed);
    }
    metrics.note_error(&format!("{} {error}", error.prefix()));
}

/// Records a pipelined run served together (`dispatch::execute_run`): one call of
/// `names[i]` for `requests[i]`, each with an equal share of the run's time.
pub fn batch(
    server: &Server,
    client: &crate::client::ClientInfo,
    names: &[&'static str],
    requests: &[Vec<Bytes>],
    replies: &[Frame],
    started: Instant,
) {
    let metrics = &server.metrics;
    let micros = started.elapsed().as_micros() as u64;
    let each = micros / requests.len().max(1) as u64;
    // Runs are mostly of one command: its counters are looked up once per stretch.
    let mut current: Option<(&str, Option<&crate::metrics::CommandStat>)> = None;
    for ((name, args), reply) in names.iter().zip(requests).zip(replies) {
        let stat = match current {
            Some((last, stat)) if last == *name => stat,
            _ => {
                let stat = metrics.command(name);
                current = Some((name, stat));
                stat
            }
        };
        if let Some(stat) = stat {
            stat.calls.fetch_add(1, Ordering::Relaxed);
            stat.usec.fetch_add(each, Ordering::Relaxed);
        }
        if let Frame::Error(message) = reply {
            if let Some(stat) = stat {
                stat.failed.fetch_add(1, Ordering::Relaxed);
            }
            metrics.note_error(message);
        }
        if metrics.slow(each) {
            metrics.log_slow(each, args, client);
        }
        metrics.feed_monitors(client, args);
    }
}

/// Every 100 ms: a sample of the operation and traffic rates, and every second the
/// memory peak.
pub async fn sample(server: Arc<Server>) {
    let mut ticker = tokio::time::interval(crate::metrics::SAMPLE_EVERY);
    let mut ticks = 0u64;
    loop {
        ticker.tick().await;
        let ops = server.stats.commands_processed.load(Ordering::Relaxed);
        server.metrics.sample_rates(ops);
        if ticks.is_multiple_of(10) {
            memory(&server);
        }
        ticks += 1;
    }
}

/// Where the node's memory goes, in bytes.
pub struct Memory {
    /// Allocated by the server itself (connections, buffers, replies).
    pub heap: u64,
    pub memtables: u64,
    pub block_cache: u64,
    /// Indexes and filters of open SST files held outside the block cache.
    pub table_readers: u64,
    /// All of the above: INFO's used_memory.
    pub used: u64,
    pub rss: u64,
    pub peak: u64,
}

/// Measures memory now and updates the peak.
pub fn memory(server: &Server) -> Memory {
    let heap = crate::heap::allocated_bytes();
    let (memtables, block_cache, table_readers) = server.db.storage().memory_bytes();
    let used = heap + memtables + block_cache + table_readers;
    let peak = server
        .metrics
        .memory_peak
        .fetch_max(used, Ordering::Relaxed)
        .max(used);
    Memory {
        heap,
        memtables,
        block_cache,
        table_readers,
        used,
        rss: rss_bytes(),
        peak,
    }
}
