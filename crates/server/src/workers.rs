//! Connection threads and where each connection lives. Each worker thread runs its own
//! single-threaded tokio runtime and owns the connections placed on it: a request is
//! parsed, executed and answered on one thread, with no cross-thread wake-ups on the hot
//! path (on a small machine those wake-ups cost more than the work itself).
//!
//! Reads run in parallel on every worker, but writes meet in RocksDB's single write
//! queue and on the key locks of hot keys: two threads writing at once wait for each
//! other (futex hand-offs, `sched_yield` spins), which on two cores cost more than the
//! second thread gave (bench, pipelined HSET of one key: -30%). So a connection that
//! mostly writes moves, between two requests, to one of the first `write-workers`
//! workers (chosen by the key it writes, so that the writers of one hot key meet on
//! one thread), and a connection that mostly reads moves off a write worker when that
//! one carries more connections than another worker. See [`Placement`].
//!
//! Spreading readers only pays when one worker cannot carry them: with unpipelined
//! clients, two half-idle workers each sleep and wake for every few requests, and on a
//! machine whose cores the clients share, three busy threads (two workers, the
//! client) take turns on two cores (bench, unpipelined random GET: Redis' speed with
//! one worker, 0.53-0.70 of it with two). So with `adaptive-workers` on, readers
//! gather on worker 0 while every worker has spare time, and spread once one of them
//! is busy all the time (see [`Balance`]); a balancer thread decides every
//! [`Balance::WINDOW`] from the time each worker spent parked, waiting for work.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::runtime::Handle;
use tokio::sync::watch;

thread_local! {
    /// The index of the worker this thread is, on worker threads.
    static CURRENT: Cell<Option<usize>> = const { Cell::new(None) };
}

pub struct Workers {
    handles: Vec<Handle>,
    threads: parking_lot::Mutex<Vec<JoinHandle<()>>>,
    next: AtomicUsize,
    /// Connections on each worker.
    load: Vec<AtomicUsize>,
    /// Workers `0..write_workers` take the connections that mostly write.
    write_workers: usize,
    /// What the balancer last decided; `None` without one (`adaptive-workers no`, one
    /// worker, or no connection that moves): readers stay spread.
    balance: Option<Arc<Shared>>,
    stop: watch::Sender<bool>,
}

/// What the worker threads and the balancer thread share.
struct Shared {
    /// Each worker's idle time, kept by its runtime's park hooks.
    idle: Vec<Idle>,
    /// Whether readers gather on worker 0 now.
    gathered: AtomicBool,
    /// Whether each worker was busy all the last window.
    saturated: Vec<AtomicBool>,
    stop: AtomicBool,
}

/// The worker threads for `workers` (0: the default for this machine, see
/// [`default_count`]) with `write_workers` of them for writing connections (0: half,
/// at least one).
pub fn sizes(workers: usize, write_workers: usize) -> (usize, usize) {
    let count = match workers {
        0 => default_count(std::thread::available_parallelism().map_or(1, |n| n.get())),
        n => n,
    };
    let writers = match write_workers {
        0 => (count / 2).max(1),
        n => n.min(count),
    };
    (count, writers)
}

/// Workers for a machine of `cores` cores: one per core but one (left to RocksDB's
/// background work), and at least two where there are two cores: with one, reads could
/// not use the second core (bench, pipelined random GET on two cores: 270k requests/s
/// with one worker, 555k with two).
pub fn default_count(cores: usize) -> usize {
    cores.saturating_sub(1).max(cores.min(2)).max(1)
}

impl Workers {
    /// Starts `count` worker threads (`worker-0`, ...), the first `write_workers` of them
    /// for connections that mostly write, and with `adaptive` (and a connection that can
    /// move) the balancer thread. Errors: a runtime or thread cannot be created.
    pub fn start(count: usize, write_workers: usize, adaptive: bool) -> Result<Workers, String> {
        let (stop, _) = watch::channel(false);
        let count = count.max(1);
        let write_workers = write_workers.clamp(1, count);
        let balance = (adaptive && write_workers < count).then(|| {
            Arc::new(Shared {
                idle: (0..count).map(|_| Idle::default()).collect(),
                gathered: AtomicBool::new(true),
                saturated: (0..count).map(|_| AtomicBool::new(false)).collect(),
                stop: AtomicBool::new(false),
            })
        });
        let mut handles = Vec::new();
        let mut threads = Vec::new();
        for i in 0..count {
            let mut builder = tokio::runtime::Builder::new_current_thread();
            builder.enable_all();
            if let Some(shared) = &balance {
                let (parked, unparked) = (shared.clone(), shared.clone());
                builder
                    .on_thread_park(move || parked.idle[i].park())
                    .on_thread_unpark(move || unparked.idle[i].unpark());
            }
            let runtime = builder
                .build()
                .map_err(|e| format!("cannot start worker runtime: {e}"))?;
            handles.push(runtime.handle().clone());
            let mut stopped = stop.subscribe();
            let thread = std::thread::Builder::new()
                .name(format!("worker-{i}"))
                .spawn(move || {
                    CURRENT.set(Some(i));
                    runtime.block_on(async move {
                        let _ = stopped.wait_for(|stop| *stop).await;
                    });
                })
                .map_err(|e| format!("cannot start worker thread: {e}"))?;
            threads.push(thread);
        }
        if let Some(shared) = &balance {
            let shared = shared.clone();
            let thread = std::thread::Builder::new()
                .name("balancer".into())
                .spawn(move || run_balancer(&shared))
                .map_err(|e| format!("cannot start the balancer thread: {e}"))?;
            threads.push(thread);
        }
        Ok(Workers {
            handles,
            threads: parking_lot::Mutex::new(threads),
            next: AtomicUsize::new(0),
            load: (0..count).map(|_| AtomicUsize::new(0)).collect(),
            write_workers,
            balance,
            stop,
        })
    }

    /// The index of the worker for a new connection: round robin, passing over a
    /// worker that was busy all the balancer's last window (one running a long
    /// script, say: a SCRIPT KILL from a new connection then reaches a free worker);
    /// when all were, the one that last waited for work.
    pub fn next(&self) -> usize {
        let count = self.handles.len();
        let first = self.next.fetch_add(1, Ordering::Relaxed) % count;
        let Some(shared) = &self.balance else {
            return first;
        };
        let mut order = (0..count).map(|i| (first + i) % count);
        if let Some(free) = order.find(|&i| !shared.saturated[i].load(Ordering::Relaxed)) {
            return free;
        }
        // All busy: the one that waited for work last (one stuck in a script does not).
        (0..count)
            .max_by_key(|&i| shared.idle[i].last_park.load(Ordering::Relaxed))
            .unwrap_or(first)
    }

    /// Whether readers are served by more than one worker now: INFO's
    /// `io_threads_active` (Redis: whether its I/O threads are in use).
    pub fn spread(&self) -> bool {
        self.count() > 1 && !self.gathered()
    }

    /// Whether readers gather on worker 0 now (see [`Balance`]).
    fn gathered(&self) -> bool {
        self.balance
            .as_ref()
            .is_some_and(|shared| shared.gathered.load(Ordering::Relaxed))
    }

    /// The runtime of worker `index`. Panics if there is no such worker.
    pub fn handle(&self, index: usize) -> &Handle {
        &self.handles[index]
    }

    /// Whether worker `index` takes the connections that mostly write.
    pub fn is_write_worker(&self, index: usize) -> bool {
        index < self.write_workers
    }

    /// How many workers there are.
    pub fn count(&self) -> usize {
        self.handles.len()
    }

    /// A connection is on worker `index` until the guard is dropped (it closed, or moves
    /// to another worker).
    pub fn stay(&self, index: usize) -> Stay<'_> {
        self.load[index].fetch_add(1, Ordering::Relaxed);
        Stay {
            load: &self.load[index],
        }
    }

    /// Where a connection on worker `current` should live now, given its [`Placement`]:
    /// `None` to stay. `key` is a key it wrote last (the writers of one key meet on one
    /// write worker).
    pub fn destination(&self, current: usize, placement: &Placement, key: &[u8]) -> Option<usize> {
        if self.write_workers >= self.handles.len() {
            return None;
        }
        if placement.mostly_writes() {
            // A writer already on a write worker stays: moving writers of many keys
            // between write workers by each key would hand them off every few writes.
            if self.is_write_worker(current) {
                return None;
            }
            let to = if self.write_workers == 1 {
                0
            } else {
                usize::from(ferrokv_keyslot::key_slot(key)) % self.write_workers
            };
            return (to != current).then_some(to);
        }
        if !placement.mostly_reads() {
            return None;
        }
        if self.gathered() {
            return (current != 0).then_some(0);
        }
        if let Some(to) = self.room_for_reader(current) {
            return Some(to);
        }
        if current < self.write_workers {
            let (to, load) = (self.write_workers..self.handles.len())
                .map(|i| (i, self.load[i].load(Ordering::Relaxed)))
                .min_by_key(|&(_, load)| load)?;
            // Only to even out (by two connections or more, so that one reader does not
            // go back and forth): readers are served as well on any worker.
            return (load + 1 < self.load[current].load(Ordering::Relaxed)).then_some(to);
        }
        None
    }

    /// For a reader on worker `current` when that worker was saturated the balancer's
    /// last window: a worker that was not and holds fewer connections by two or more
    /// (a write worker too). Without it, readers that all connected while the other
    /// worker was saturated (a pipelined write burst just ended) stayed together on
    /// one worker while the other idled (A/B, GET P16: 375k-403k requests/s against
    /// 618k-769k with this).
    fn room_for_reader(&self, current: usize) -> Option<usize> {
        let shared = self.balance.as_ref()?;
        if !shared.saturated[current].load(Ordering::Relaxed) {
            return None;
        }
        let here = self.load[current].load(Ordering::Relaxed);
        (0..self.handles.len())
            .filter(|&i| i != current && !shared.saturated[i].load(Ordering::Relaxed))
            .map(|i| (i, self.load[i].load(Ordering::Relaxed)))
            .min_by_key(|&(_, load)| load)
            .filter(|&(_, load)| load + 1 < here)
            .map(|(to, _)| to)
    }

    /// Stops the worker threads (their remaining tasks are dropped) and the balancer,
    /// and waits for them.
    pub fn stop(&self) {
        let _ = self.stop.send(true);
        if let Some(shared) = &self.balance {
            shared.stop.store(true, Ordering::Relaxed);
        }
        for thread in std::mem::take(&mut *self.threads.lock()) {
            let _ = thread.join();
        }
    }
}

/// Counts a connection on its worker while it lives (see [`Workers::stay`]).
pub struct Stay<'a> {
    load: &'a AtomicUsize,
}

impl Drop for Stay<'_> {
    fn drop(&mut self) {
        self.load.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The balancer thread: every [`Balance::WINDOW`], each worker's busy share of the
/// window (the time it was not parked waiting for work) decides where readers go.
fn run_balancer(shared: &Shared) {
    let mut balance = Balance::default();
    let mut last: Vec<Duration> = shared.idle.iter().map(Idle::total).collect();
    let mut since = Instant::now();
    while !shared.stop.load(Ordering::Relaxed) {
        std::thread::sleep(Balance::WINDOW);
        let now = Instant::now();
        let wall = now.duration_since(since).as_secs_f64();
        since = now;
        let shares: Vec<f64> = shared
            .idle
            .iter()
            .zip(&mut last)
            .map(|(idle, last)| {
                let total = idle.total();
                let idle = total.saturating_sub(*last).as_secs_f64();
                *last = total;
                if wall > 0.0 {
                    (1.0 - idle / wall).clamp(0.0, 1.0)
                } else {
                    0.0
                }
            })
            .collect();
        for (flag, &share) in shared.saturated.iter().zip(&shares) {
            flag.store(share >= Balance::SATURATED, Ordering::Relaxed);
        }
        let gathered = balance.next(&shares);
        if gathered != shared.gathered.swap(gathered, Ordering::Relaxed) {
            tracing::debug!(
                "readers {} (workers' busy share of the last window: {shares:.2?})",
                if gathered {
                    "gather on worker 0"
                } else {
                    "spread"
                }
            );
        }
    }
}

/// How long a worker waited for work, parked: what its runtime's park and unpark hooks
/// record. A worker's busy time is the rest, whether it ran or waited for a core (one
/// that the other threads keep off a core is as saturated as one that runs all the
/// time), and a worker stuck in one long task (a script) counts as busy throughout.
#[derive(Default)]
struct Idle {
    /// Nanoseconds parked, up to the last unpark.
    parked_ns: AtomicU64,
    /// When the current park began (nanoseconds since [`since_epoch`]'s epoch, plus
    /// one); 0 while the worker runs.
    parked_at: AtomicU64,
    /// When the worker last parked (same clock).
    last_park: AtomicU64,
}

impl Idle {
    fn park(&self) {
        let now = since_epoch();
        self.last_park.store(now, Ordering::Relaxed);
        self.parked_at.store(now + 1, Ordering::Relaxed);
    }

    fn unpark(&self) {
        let at = self.parked_at.swap(0, Ordering::Relaxed);
        if at > 0 {
            let parked = since_epoch().saturating_sub(at - 1);
            self.parked_ns.fetch_add(parked, Ordering::Relaxed);
        }
    }

    /// Time parked since the worker started, the current park included.
    fn total(&self) -> Duration {
        let at = self.parked_at.load(Ordering::Relaxed);
        let current = if at > 0 {
            since_epoch().saturating_sub(at - 1)
        } else {
            0
        };
        Duration::from_nanos(self.parked_ns.load(Ordering::Relaxed) + current)
    }
}

/// Nanoseconds since the first call in this process: a clock that fits an atomic.
fn since_epoch() -> u64 {
    static EPOCH: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    let elapsed = EPOCH.get_or_init(Instant::now).elapsed();
    u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX)
}

/// Whether readers gather on worker 0 or spread over every worker, decided from each
/// worker's busy share of successive windows (0-1: the time it was not parked waiting
/// for work, over wall time): they spread as soon as one worker was busy
/// [`Balance::SATURATED`] of a window (it cannot take more), and gather again once the
/// workers' shares summed stay under [`Balance::GATHER_BELOW`] for
/// [`Balance::CALM_WINDOWS`] windows in a row (one worker would carry it with room to
/// spare). The gap between the two keeps a load near one worker's capacity from going
/// back and forth.
#[derive(Debug)]
pub struct Balance {
    gathered: bool,
    calm: u32,
}

impl Default for Balance {
    /// Gathered: a new server has nothing to spread.
    fn default() -> Balance {
        Balance {
            gathered: true,
            calm: 0,
        }
    }
}

impl Balance {
    /// How often the balancer decides.
    pub const WINDOW: Duration = Duration::from_millis(50);
    /// A worker's busy share of a window (0-1) at which it counts as saturated.
    pub const SATURATED: f64 = 0.95;
    /// The workers' summed busy shares under which one worker would do.
    pub const GATHER_BELOW: f64 = 0.8;
    /// Calm windows in a row before readers gather again.
    pub const CALM_WINDOWS: u32 = 4;

    /// Takes one window's shares (one per worker, 0-1 each) and says whether readers
    /// gather on worker 0 now.
    pub fn next(&mut self, shares: &[f64]) -> bool {
        if self.gathered {
            self.gathered = !shares.iter().any(|&share| share >= Self::SATURATED);
        } else if shares.iter().sum::<f64>() < Self::GATHER_BELOW {
            self.calm += 1;
            self.gathered = self.calm >= Self::CALM_WINDOWS;
        } else {
            self.calm = 0;
        }
        if self.gathered {
            self.calm = 0;
        }
        self.gathered
    }
}

/// The worker the calling thread is, if it is one.
pub fn current() -> Option<usize> {
    CURRENT.get()
}

/// What a connection did lately: +1 per write request, -1 per read, kept within
/// ±[`Placement::LIMIT`] so that a change of habit shows within that many requests.
#[derive(Debug, Default)]
pub struct Placement {
    score: i32,
}

impl Placement {
    const LIMIT: i32 = 32;
    /// The score at which a connection counts as mostly writing (or reading): half the
    /// limit, so a connection that does both about equally moves rarely.
    const MOVE_AT: i32 = 16;

    /// Notes one request.
    #[inline]
    pub fn note(&mut self, write: bool) {
        let step = if write { 1 } else { -1 };
        self.score = (self.score + step).clamp(-Self::LIMIT, Self::LIMIT);
    }

    pub fn mostly_writes(&self) -> bool {
        self.score >= Self::MOVE_AT
    }

    pub fn mostly_reads(&self) -> bool {
        self.score <= -Self::MOVE_AT
    }

    /// After a move: the connection must show its habit again before the next one.
    pub fn reset(&mut self) {
        self.score = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readers_spread_at_a_saturated_worker_and_gather_after_calm_windows() {
        let mut balance = Balance::default();
        // Busy but not saturated: one worker carries it.
        assert!(balance.next(&[0.9, 0.0]));
        assert!(!balance.next(&[0.96, 0.1]));
        // Spread, together above one worker's comfortable share: stay spread.
        assert!(!balance.next(&[0.6, 0.5]));
        for _ in 0..Balance::CALM_WINDOWS - 1 {
            assert!(!balance.next(&[0.3, 0.4]));
        }
        // A busy window restarts the count.
        assert!(!balance.next(&[0.5, 0.5]));
        for _ in 0..Balance::CALM_WINDOWS - 1 {
            assert!(!balance.next(&[0.1, 0.0]));
        }
        assert!(balance.next(&[0.1, 0.0]));
        // Gathered again: a calm or busy window keeps it so; a saturated worker, either
        // one, spreads.
        assert!(balance.next(&[0.0, 0.0]));
        assert!(!balance.next(&[0.2, 0.99]));
    }

    #[test]
    fn a_reader_on_a_saturated_worker_moves_to_one_with_room() {
        let workers = Workers::start(2, 1, true).expect("workers start");
        // Stopped first, so that the balancer does not rewrite the flags set below.
        workers.stop();
        let shared = workers.balance.as_ref().expect("adaptive");
        shared.gathered.store(false, Ordering::Relaxed);
        let mut reader = Placement::default();
        for _ in 0..Placement::LIMIT {
            reader.note(false);
        }
        let _on_one: Vec<Stay<'_>> = (0..6).map(|_| workers.stay(1)).collect();
        // Worker 1 (not a write worker) has room: its readers stay.
        assert_eq!(workers.destination(1, &reader, b""), None);
        // Saturated: they move to the write worker, which has room and fewer of them.
        shared.saturated[1].store(true, Ordering::Relaxed);
        assert_eq!(workers.destination(1, &reader, b""), Some(0));
        // Both saturated: nowhere better.
        shared.saturated[0].store(true, Ordering::Relaxed);
        assert_eq!(workers.destination(1, &reader, b""), None);
        // Evened out: no move for one connection's difference.
        shared.saturated[0].store(false, Ordering::Relaxed);
        let _on_zero: Vec<Stay<'_>> = (0..5).map(|_| workers.stay(0)).collect();
        assert_eq!(workers.destination(1, &reader, b""), None);
    }

    #[test]
    fn idle_time_counts_parks_the_current_one_included() {
        let idle = Idle::default();
        assert_eq!(idle.total(), Duration::ZERO);
        idle.park();
        std::thread::sleep(Duration::from_millis(20));
        // Still parked: the park so far counts.
        assert!(idle.total() >= Duration::from_millis(20));
        idle.unpark();
        let after_one = idle.total();
        assert!(after_one >= Duration::from_millis(20));
        // Running: nothing more counts.
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(idle.total(), after_one);
        // An unpark without a park (the hooks' first call) adds nothing.
        idle.unpark();
        assert_eq!(idle.total(), after_one);
    }

    #[test]
    fn default_count_keeps_a_core_for_rocksdb_except_on_two() {
        assert_eq!(default_count(1), 1);
        assert_eq!(default_count(2), 2);
        assert_eq!(default_count(4), 3);
        assert_eq!(default_count(16), 15);
        assert_eq!(sizes(5, 0), (5, 2));
        assert_eq!(sizes(2, 0), (2, 1));
        assert_eq!(sizes(1, 0), (1, 1));
        assert_eq!(sizes(4, 9), (4, 4));
    }

    #[test]
    fn a_habit_shows_after_half_the_limit_and_a_mix_stays_put() {
        let mut p = Placement::default();
        for _ in 0..15 {
            p.note(true);
        }
        assert!(!p.mostly_writes());
        p.note(true);
        assert!(p.mostly_writes());
        for _ in 0..100 {
            p.note(true);
        }
        // Clamped: 48 reads bring it to the read side, not 116.
        for _ in 0..47 {
            p.note(false);
        }
        assert!(!p.mostly_reads());
        p.note(false);
        assert!(p.mostly_reads());
        p.reset();
        for i in 0..1000 {
            p.note(i % 2 == 0);
            assert!(!p.mostly_writes() && !p.mostly_reads());
        }
    }
}
