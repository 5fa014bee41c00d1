//! What an operator measures: per-command statistics (INFO commandstats), error
//! statistics (INFO errorstats), network traffic and the instantaneous rates derived
//! from it, keyspace hits and misses, the slow log, MONITOR's feed and the memory
//! accounting behind INFO memory.
//!
//! Every command passes through [`call`] (or [`batch`] for pipelined GET/SET runs), so
//! all of these see the same commands, including the ones EXEC runs.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use ferrokv_protocol::Frame;
use parking_lot::Mutex;
use tokio::sync::broadcast;

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
pub const SAMPLE_EVERY: Duration = Duration::from_millis(100);

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
    /// One sample of the instantaneous rates: commands (`ops`, the total so far) and
    /// network bytes since the previous sample.
    pub fn sample_rates(&self, ops: u64) {
        let now = Instant::now();
        let input = self.net_input_bytes.load(Ordering::Relaxed);
        let output = self.net_output_bytes.load(Ordering::Relaxed);
        let mut rates = self.rates.lock();
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

    /// The counters of command `name` (lower case), if it is one.
    pub fn command(&self, name: &str) -> Option<&CommandStat> {
        self.commands.get(name)
    }

    /// Counters for every command of `names` (the command table's).
    pub fn new(
        names: impl Iterator<Item = &'static str>,
        slower_than: i64,
        max_len: i64,
    ) -> Metrics {
        // A monitor that falls this far behind skips lines rather than holding memory.
        let (monitor, _) = broadcast::channel(16 * 1024);
        Metrics {
            commands: names.map(|name| (name, CommandStat::default())).collect(),
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

    pub fn note_error(&self, message: &str) {
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

    pub fn slow(&self, micros: u64) -> bool {
        let threshold = self.slowlog_slower_than.load(Ordering::Relaxed);
        threshold >= 0 && micros >= threshold as u64
    }

    pub fn log_slow(&self, micros: u64, args: &[Bytes], client: &crate::client::ClientInfo) {
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

    pub fn feed_monitors(&self, client: &crate::client::ClientInfo, args: &[Bytes]) {
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
