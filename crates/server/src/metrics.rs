//! What an operator measures: per-command statistics (INFO commandstats), error
//! statistics (INFO errorstats), network traffic and the instantaneous rates derived
//! from it, keyspace hits and misses, the slow log, MONITOR's feed and the memory
//! accounting behind INFO memory.
//!
//! Every command passes through [`call`] (or [`batch`] for pipelined GET/SET runs), so
//! all of these see the same commands, including the ones EXEC runs.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use ferrokv_protocol::Frame;
use parking_lot::Mutex;
use tokio::sync::broadcast;

use crate::command::{flags, CommandSpec, CommandTable};
use crate::context::Context;
use crate::error::CommandError;
use crate::server::Server;

/// Counters of one command, as INFO commandstats shows them.
#[derive(Default)]
pub struct CommandStat {
    pub calls: AtomicU64,
    pub usec: AtomicU64,
    /// Refused before running (arity, authentication, routing).
    pub rejected: AtomicU64,
    /// Ran and replied with an error.
    pub failed: AtomicU64,
}

/// Redis keeps at most this many distinct error codes in errorstats, so that a client
/// sending made-up error prefixes (they cannot here, but MOVED/ASK carry none) cannot
/// grow the table without bound.
const MAX_ERROR_CODES: usize = 128;

/// Samples kept for the instantaneous rates, one every [`SAMPLE_EVERY`]: the rates
/// are averaged over the last 1.6 seconds, as in Redis.
const SAMPLES: usize = 16;
const SAMPLE_EVERY: Duration = Duration::from_millis(100);

/// One entry of the slow log.
pub struct SlowEntry {
    pub id: u64,
    pub unix_secs: u64,
    pub micros: u64,
    pub args: Vec<Bytes>,
    pub client_addr: String,
    pub client_name: String,
}

/// Redis' limits on what a slow log entry keeps of a command.
const SLOWLOG_MAX_ARGS: usize = 32;
const SLOWLOG_MAX_ARG_LEN: usize = 128;

#[derive(Default)]
struct Rates {
    next: usize,
    ops: [f64; SAMPLES],
    input: [f64; SAMPLES],
    output: [f64; SAMPLES],
    last: Option<(Instant, u64, u64, u64)>,
}

impl Rates {
    fn average(values: &[f64; SAMPLES]) -> f64 {
        values.iter().sum::<f64>() / SAMPLES as f64
    }
}

/// Operator-facing measurements of one node.
pub struct Metrics {
    commands: HashMap<&'static str, CommandStat>,
    errors: Mutex<BTreeMap<String, u64>>,
    pub total_error_replies: AtomicU64,
    pub net_input_bytes: AtomicU64,
    pub net_output_bytes: AtomicU64,
    rates: Mutex<Rates>,
    /// Mirrors of `slowlog-log-slower-than` and `slowlog-max-len`, read on every
    /// command without taking the configuration lock.
    slowlog_slower_than: AtomicI64,
    slowlog_max_len: AtomicUsize,
    slowlog: Mutex<VecDeque<SlowEntry>>,
    slowlog_next_id: AtomicU64,
    monitor: broadcast::Sender<Bytes>,
    /// Largest `used_memory` seen (INFO's used_memory_peak).
    pub memory_peak: AtomicU64,
}

impl Metrics {
    pub fn new(table: &CommandTable, slower_than: i64, max_len: i64) -> Metrics {
        // A monitor that falls this far behind skips lines rather than holding memory.
        let (monitor, _) = broadcast::channel(16 * 1024);
        Metrics {
            commands: table
                .iter()
                .map(|spec| (spec.name, CommandStat::default()))
                .collect(),
            errors: Mutex::new(BTreeMap::new()),
            total_error_replies: AtomicU64::new(0),
            net_input_bytes: AtomicU64::new(0),
            net_output_bytes: AtomicU64::new(0),
            rates: Mutex::new(Rates::default()),
            slowlog_slower_than: AtomicI64::new(slower_than),
            slowlog_max_len: AtomicUsize::new(usize::try_from(max_len).unwrap_or(0)),
            slowlog: Mutex::new(VecDeque::new()),
            slowlog_next_id: AtomicU64::new(0),
            monitor,
            memory_peak: AtomicU64::new(0),
        }
    }

    /// Applies the slow log options after CONFIG SET.
    pub fn configure_slowlog(&self, slower_than: i64, max_len: i64) {
        self.slowlog_slower_than
            .store(slower_than, Ordering::Relaxed);
        let max_len = usize::try_from(max_len).unwrap_or(0);
        self.slowlog_max_len.store(max_len, Ordering::Relaxed);
        let mut log = self.slowlog.lock();
        log.truncate(max_len);
    }

    /// The counters of every command that was called or rejected, by name.
    pub fn command_stats(&self) -> Vec<(&'static str, &CommandStat)> {
        let mut used: Vec<_> = self
            .commands
            .iter()
            .filter(|(_, s)| {
                s.calls.load(Ordering::Relaxed) > 0 || s.rejected.load(Ordering::Relaxed) > 0
            })
            .map(|(name, stat)| (*name, stat))
            .collect();
        used.sort_by_key(|(name, _)| *name);
        used
    }

    /// Error replies by error code (the first word of the message).
    pub fn error_stats(&self) -> Vec<(String, u64)> {
        self.errors
            .lock()
            .iter()
            .map(|(code, count)| (code.clone(), *count))
            .collect()
    }

    /// Instantaneous operations per second and input/output kilobytes per second.
    pub fn instantaneous(&self) -> (f64, f64, f64) {
        let rates = self.rates.lock();
        (
            Rates::average(&rates.ops),
            Rates::average(&rates.input),
            Rates::average(&rates.output),
        )
    }

    /// CONFIG RESETSTAT.
    pub fn reset(&self) {
        for stat in self.commands.values() {
            for counter in [&stat.calls, &stat.usec, &stat.rejected, &stat.failed] {
                counter.store(0, Ordering::Relaxed);
            }
        }
        self.errors.lock().clear();
        for counter in [
            &self.total_error_replies,
            &self.net_input_bytes,
            &self.net_output_bytes,
        ] {
            counter.store(0, Ordering::Relaxed);
        }
        *self.rates.lock() = Rates::default();
        self.memory_peak.store(0, Ordering::Relaxed);
    }

    fn note_error(&self, message: &str) {
        self.total_error_replies.fetch_add(1, Ordering::Relaxed);
        let code = message.split(' ').next().unwrap_or_default();
        let mut errors = self.errors.lock();
        if let Some(count) = errors.get_mut(code) {
            *count += 1;
        } else if errors.len() < MAX_ERROR_CODES {
            errors.insert(code.to_string(), 1);
        }
    }

    /// Slow log entries, newest first; `None` = all of them.
    pub fn slowlog_get(&self, count: Option<usize>) -> Vec<Frame> {
        let log = self.slowlog.lock();
        log.iter()
            .take(count.unwrap_or(usize::MAX))
            .map(|entry| {
                Frame::Array(vec![
                    Frame::Integer(entry.id as i64),
                    Frame::Integer(entry.unix_secs as i64),
                    Frame::Integer(entry.micros as i64),
                    Frame::Array(entry.args.iter().cloned().map(Frame::Bulk).collect()),
                    Frame::bulk_from_str(&entry.client_addr),
                    Frame::bulk_from_str(&entry.client_name),
                ])
            })
            .collect()
    }

    pub fn slowlog_len(&self) -> usize {
        self.slowlog.lock().len()
    }

    pub fn slowlog_reset(&self) {
        self.slowlog.lock().clear();
    }

    /// A receiver of the MONITOR feed.
    pub fn subscribe_monitor(&self) -> broadcast::Receiver<Bytes> {
        self.monitor.subscribe()
    }

    fn slow(&self, micros: u64) -> bool {
        let threshold = self.slowlog_slower_than.load(Ordering::Relaxed);
        threshold >= 0 && micros >= threshold as u64
    }

    fn log_slow(&self, micros: u64, args: &[Bytes], client: &crate::client::ClientInfo) {
        let max_len = self.slowlog_max_len.load(Ordering::Relaxed);
        if max_len == 0 {
            return;
        }
        let entry = SlowEntry {
            id: self.slowlog_next_id.fetch_add(1, Ordering::Relaxed),
            unix_secs: ferrokv_types::now_ms() / 1000,
            micros,
            args: slowlog_args(args),
            client_addr: client.addr.to_string(),
            client_name: client.name.lock().clone().unwrap_or_default(),
        };
        let mut log = self.slowlog.lock();
        log.push_front(entry);
        log.truncate(max_len);
    }

    fn feed_monitors(&self, client: &crate::client::ClientInfo, args: &[Bytes]) {
        if self.monitor.receiver_count() == 0 {
            return;
        }
        let _ = self.monitor.send(Bytes::from(monitor_line(client, args)));
    }
}

/// What the slow log keeps of a command: at most 32 arguments (the last one then says
/// how many more there were), each cut to 128 bytes with a note of the rest.
fn slowlog_args(args: &[Bytes]) -> Vec<Bytes> {
    let shown = if args.len() > SLOWLOG_MAX_ARGS {
        SLOWLOG_MAX_ARGS - 1
    } else {
        args.len()
    };
    let mut kept: Vec<Bytes> = args[..shown]
        .iter()
        .map(|arg| {
            if arg.len() > SLOWLOG_MAX_ARG_LEN {
                let mut cut = arg[..SLOWLOG_MAX_ARG_LEN].to_vec();
                cut.extend_from_slice(
                    format!("... ({} more bytes)", arg.len() - SLOWLOG_MAX_ARG_LEN).as_bytes(),
                );
                Bytes::from(cut)
            } else {
                arg.clone()
            }
        })
        .collect();
    if shown < args.len() {
        kept.push(Bytes::from(format!(
            "... ({} more arguments)",
            args.len() - shown
        )));
    }
    kept
}

/// A MONITOR line: `+<unix time with microseconds> [0 <client address>] "arg" ...`,
/// each argument quoted and escaped as Redis does.
fn monitor_line(client: &crate::client::ClientInfo, args: &[Bytes]) -> Vec<u8> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let mut line = format!(
        "+{}.{:06} [0 {}]",
        now.as_secs(),
        now.subsec_micros(),
        client.addr
    )
    .into_bytes();
    for arg in args {
        line.extend_from_slice(b" \"");
        for &b in arg.iter() {
            match b {
                b'\\' => line.extend_from_slice(b"\\\\"),
                b'"' => line.extend_from_slice(b"\\\""),
                b'\n' => line.extend_from_slice(b"\\n"),
                b'\r' => line.extend_from_slice(b"\\r"),
                b'\t' => line.extend_from_slice(b"\\t"),
                0x07 => line.extend_from_slice(b"\\a"),
                0x08 => line.extend_from_slice(b"\\b"),
                b' '..=b'~' => line.push(b),
                _ => line.extend_from_slice(format!("\\x{b:02x}").as_bytes()),
            }
        }
        line.push(b'"');
    }
    line.extend_from_slice(b"\r\n");
    line
}

/// The next line for a MONITOR connection; never resolves for other connections. A
/// monitor too slow to keep up skips the lines it missed.
pub async fn next_monitor_line(feed: &mut Option<broadcast::Receiver<Bytes>>) -> Bytes {
    let Some(receiver) = feed.as_mut() else {
        return std::future::pending().await;
    };
    loop {
        match receiver.recv().await {
            Ok(line) => return line,
            Err(broadcast::error::RecvError::Lagged(_)) => continue,
            Err(broadcast::error::RecvError::Closed) => return std::future::pending().await,
        }
    }
}

/// Runs a command that passed the checks and records it: counts and time (INFO
/// commandstats), error replies (errorstats), the slow log and MONITOR. The lookups of
/// read-only commands count as keyspace hits or misses.
pub fn call(ctx: &mut Context<'_>, spec: &'static CommandSpec, args: &[Bytes]) -> Frame {
    let started = Instant::now();
    let reply = if spec.has(flags::READONLY) {
        let server = ctx.server;
        server.db.counting_lookups(|| (spec.handler)(ctx, args))
    } else {
        (spec.handler)(ctx, args)
    }
    .unwrap_or_else(Frame::from);
    if matches!(ctx.client.action, Some(crate::client::Action::Block(_))) {
        // Not served yet: recorded when it runs again and is served.
        return reply;
    }
    let micros = started.elapsed().as_micros() as u64;
    let metrics = &ctx.server.metrics;
    if let Some(stat) = metrics.commands.get(spec.name) {
        stat.calls.fetch_add(1, Ordering::Relaxed);
        stat.usec.fetch_add(micros, Ordering::Relaxed);
        if let Frame::Error(message) = &reply {
            stat.failed.fetch_add(1, Ordering::Relaxed);
            metrics.note_error(message);
        }
    }
    // AUTH and HELLO carry passwords; Redis keeps them out of both.
    let private = spec.has(flags::NO_AUTH);
    if !private && metrics.slow(micros) {
        metrics.log_slow(micros, args, &ctx.client.info);
    }
    if !private && !spec.has(flags::ADMIN) {
        metrics.feed_monitors(&ctx.client.info, args);
    }
    reply
}

/// Records a command refused before it ran (unknown, wrong arity, NOAUTH, routing):
/// its error reply, and a rejected call of the command if it exists.
pub fn rejected(server: &Server, args: &[Bytes], error: &CommandError) {
    let metrics = &server.metrics;
    if let Some(stat) = args
        .first()
        .and_then(|name| server.commands.get(name))
        .and_then(|spec| metrics.commands.get(spec.name))
    {
        stat.rejected.fetch_add(1, Ordering::Relaxed);
    }
    metrics.note_error(&error.to_string());
}

/// Records a pipelined run of plain GETs or SETs served together: one call each,
/// sharing the run's time.
pub fn batch(
    server: &Server,
    client: &crate::client::ClientInfo,
    name: &'static str,
    requests: &[Vec<Bytes>],
    replies: &[Frame],
    started: Instant,
) {
    let metrics = &server.metrics;
    let micros = started.elapsed().as_micros() as u64;
    if let Some(stat) = metrics.commands.get(name) {
        stat.calls
            .fetch_add(requests.len() as u64, Ordering::Relaxed);
        stat.usec.fetch_add(micros, Ordering::Relaxed);
    }
    for reply in replies {
        if let Frame::Error(message) = reply {
            if let Some(stat) = metrics.commands.get(name) {
                stat.failed.fetch_add(1, Ordering::Relaxed);
            }
            metrics.note_error(message);
        }
    }
    let each = micros / requests.len().max(1) as u64;
    for args in requests {
        if metrics.slow(each) {
            metrics.log_slow(each, args, client);
        }
        metrics.feed_monitors(client, args);
    }
}

/// Every 100 ms: a sample of the operation and traffic rates, and every second the
/// memory peak.
pub async fn sample(server: Arc<Server>) {
    let mut ticker = tokio::time::interval(SAMPLE_EVERY);
    let mut ticks = 0u64;
    loop {
        ticker.tick().await;
        let metrics = &server.metrics;
        let now = Instant::now();
        let ops = server.stats.commands_processed.load(Ordering::Relaxed);
        let input = metrics.net_input_bytes.load(Ordering::Relaxed);
        let output = metrics.net_output_bytes.load(Ordering::Relaxed);
        {
            let mut rates = metrics.rates.lock();
            if let Some((at, last_ops, last_in, last_out)) = rates.last {
                let secs = now.duration_since(at).as_secs_f64().max(1e-3);
                let i = rates.next;
                rates.ops[i] = ops.saturating_sub(last_ops) as f64 / secs;
                rates.input[i] = input.saturating_sub(last_in) as f64 / secs / 1024.0;
                rates.output[i] = output.saturating_sub(last_out) as f64 / secs / 1024.0;
                rates.next = (i + 1) % SAMPLES;
            }
            rates.last = Some((now, ops, input, output));
        }
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

/// Resident set size from /proc (0 where it cannot be read).
pub fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|p| p.parse::<u64>().ok())
        })
        .map_or(0, |pages| pages * 4096)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slowlog_keeps_what_redis_keeps() {
        let long = Bytes::from(vec![b'a'; 200]);
        let args: Vec<Bytes> = (0..40).map(|_| long.clone()).collect();
        let kept = slowlog_args(&args);
        assert_eq!(kept.len(), 32);
        assert_eq!(kept[31].as_ref(), b"... (9 more arguments)");
        assert!(kept[0].ends_with(b"... (72 more bytes)"));
        assert_eq!(kept[0].len(), 128 + "... (72 more bytes)".len());
    }
}
