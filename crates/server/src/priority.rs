//! CPU priority of bulk work (a migration's copy on the source, its SST building on the
//! destination): low, so that clients on other slots keep their latency, and watched,
//! so that the work still moves while clients keep every core busy.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use tracing::{debug, warn};

/// Lowers the calling thread's priority for bulk migration work (Linux: per thread):
/// a migration's copy on the source and its SST building on the destination then take
/// the CPU that client connections leave, so that their latency on other slots stays
/// near idle. `idle_class` (`migrate-idle-class`) puts the thread in the `SCHED_IDLE`
/// scheduling class: it runs only on a core no other thread wants, and a waking client
/// thread takes the core from it at once (with a nice value alone the bulk thread keeps
/// its time slice, and clients on other slots waited up to several milliseconds:
/// bench/migration.sh). Otherwise the thread runs at `nice` (`migrate-nice`, 0-19).
/// Call it only on threads that do bulk work for their whole life (a migration's copy
/// thread, the destination's build thread per shipped batch), and never on one that
/// takes what client threads wait for (the write gate, a fence, RocksDB's ingestion,
/// which stops writes). A [`StarvationGuard`] lifts an idle-class thread that gets no
/// CPU. Failure is harmless (the work runs at normal priority).
fn lower_priority(nice: i64, idle_class: bool) {
    #[cfg(target_os = "linux")]
    {
        let tid = current_tid();
        if idle_class {
            // The class has no nice levels of its own.
            set_idle_class(tid, true);
        } else {
            set_nice(tid, nice);
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (nice, idle_class);
}

/// Puts the calling thread at the bulk priority ([`lower_priority`]), after handing
/// `watch` the [`StarvationGuard`] that a thread at the clients' priority must then
/// tick (`None` without `idle_class`: nothing to guard). The guard is built and handed
/// over first, while this thread still has the clients' priority: a thread already in
/// the idle class might wait long for the CPU to do it. On a node where a bulk thread
/// was lifted within the last second the thread starts lifted (the destination builds
/// each shipped batch on a new thread, which would otherwise starve a whole window
/// again).
pub fn enter_bulk(nice: i64, idle_class: bool, watch: impl FnOnce(Option<StarvationGuard>)) {
    if !idle_class {
        watch(None);
        lower_priority(nice, false);
        return;
    }
    let mut guard = StarvationGuard::for_current_thread(nice);
    let lifted = recently_lifted();
    if lifted {
        set_nice(guard.tid, nice);
        guard.boosted_at = Some(Instant::now());
    }
    watch(Some(guard));
    if !lifted {
        lower_priority(nice, true);
    }
}

/// Runs `work` on a new thread named `name` at the bulk priority ([`enter_bulk`]) and
/// waits for it, ticking its guard. `Ok(None)` if the thread panicked; `Err` if it
/// could not start.
pub fn run_bulk<T: Send>(
    name: &str,
    nice: i64,
    idle_class: bool,
    work: impl FnOnce() -> T + Send,
) -> std::io::Result<Option<T>> {
    std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::channel::<Option<StarvationGuard>>();
        let thread =
            std::thread::Builder::new()
                .name(name.into())
                .spawn_scoped(scope, move || {
                    enter_bulk(nice, idle_class, |guard| {
                        let _ = tx.send(guard);
                    });
                    // Dropped when the work ends, however it ends: wakes the watcher.
                    let _running = tx;
                    work()
                })?;
        let mut guard = rx.recv().ok().flatten();
        while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
            rx.recv_timeout(Duration::from_millis(20))
        {
            if let Some(guard) = guard.as_mut() {
                guard.tick();
            }
        }
        Ok(thread.join().ok())
    })
}

/// How long a window the guard judges a thread over.
const WINDOW: Duration = Duration::from_millis(500);
/// A thread that waited for a core this share of the window or more is starved: the
/// clients leave it almost nothing.
const STARVED: f64 = 0.9;
/// How long a starved thread then runs in the normal class at its nice value before it
/// goes back to the idle class.
const BOOST: Duration = Duration::from_millis(500);

/// When a guard last lifted a thread, in milliseconds since [`epoch`] (0: never).
static LAST_LIFT_MS: AtomicU64 = AtomicU64::new(0);

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

fn since_epoch_ms(at: Instant) -> u64 {
    // Never 0, which means "never".
    at.duration_since(epoch()).as_millis() as u64 + 1
}

/// Whether a guard lifted a thread within the last window and boost.
fn recently_lifted() -> bool {
    let last = LAST_LIFT_MS.load(Ordering::Relaxed);
    last != 0 && since_epoch_ms(Instant::now()) < last + (WINDOW + BOOST).as_millis() as u64
}

/// Watches one bulk thread in the idle class from a thread at the clients' priority
/// (call [`StarvationGuard::tick`] every few milliseconds there). In the idle class a
/// thread gets almost no CPU while clients keep every core busy (its weight is 3
/// against a client thread's 1024): a migration's copy of a few hundred megabytes
/// would take hours. When the thread waited for a core ≥ 90% of a 500 ms window
/// (`/proc/self/task/<tid>/schedstat`, its run-queue wait), the guard moves it to the
/// normal class at `migrate-nice` for 500 ms, then back: under a saturating load the
/// work goes on at about half a niced thread's share, and clients on an idle-ish node
/// never see it. Leaving the idle class needs `CAP_SYS_NICE` or an `RLIMIT_NICE` of at
/// least 20 − `migrate-nice` (systemd's `LimitNICE=`); without either, or without
/// Linux' scheduler statistics, the guard says so once in the log and the thread stays
/// where it is.
#[derive(Debug)]
pub struct StarvationGuard {
    tid: i32,
    nice: i64,
    window_start: Instant,
    waited_at_start: u64,
    boosted_at: Option<Instant>,
    refused: bool,
}

impl StarvationGuard {
    /// A guard for the calling thread, which is to run in the idle class at `nice`.
    fn for_current_thread(nice: i64) -> StarvationGuard {
        let tid = current_tid();
        let waited = run_queue_wait_ns(tid);
        if waited.is_none() {
            say_once(format_args!(
                "cannot read /proc/self/task/{tid}/schedstat: a bulk migration thread that \
                 gets no CPU in the idle class will not be lifted"
            ));
        }
        StarvationGuard {
            tid,
            nice,
            window_start: Instant::now(),
            waited_at_start: waited.unwrap_or(0),
            boosted_at: None,
            refused: waited.is_none(),
        }
    }

    /// Judges the thread when a window has passed: lifts it if it starved, ends a lift
    /// that has run its time. Call only while the thread runs (its id is then its own).
    pub fn tick(&mut self) {
        if self.refused {
            return;
        }
        let now = Instant::now();
        if let Some(at) = self.boosted_at {
            if now.duration_since(at) >= BOOST {
                set_idle_class(self.tid, true);
                self.boosted_at = None;
                self.start_window(now);
            }
            return;
        }
        let elapsed = now.duration_since(self.window_start);
        if elapsed < WINDOW {
            return;
        }
        // Gone (the work ended): nothing to judge.
        let Some(waited) = run_queue_wait_ns(self.tid) else {
            return;
        };
        let starved = waited.saturating_sub(self.waited_at_start) as f64
            >= STARVED * elapsed.as_nanos() as f64;
        self.window_start = now;
        self.waited_at_start = waited;
        if !starved {
            return;
        }
        // The nice value first: raising it needs no privilege, and leaving the idle
        // class at nice n needs only RLIMIT_NICE >= 20 - n.
        set_nice(self.tid, self.nice);
        if set_idle_class(self.tid, false) {
            self.boosted_at = Some(now);
            LAST_LIFT_MS.store(since_epoch_ms(now), Ordering::Relaxed);
            debug!(
                "a starved bulk migration thread runs at nice {} for a while",
                self.nice
            );
        } else {
            self.refused = true;
            say_once(format_args!(
                "a bulk migration thread gets no CPU in the idle class and cannot be lifted \
                 out of it (needs CAP_SYS_NICE or RLIMIT_NICE >= {}); set \
                 migrate-idle-class no for migrations under a saturating load",
                20 - self.nice.clamp(0, 19)
            ));
        }
    }

    fn start_window(&mut self, now: Instant) {
        self.window_start = now;
        self.waited_at_start = run_queue_wait_ns(self.tid).unwrap_or(self.waited_at_start);
    }

    /// Whether the thread runs in the normal class now for want of CPU.
    #[cfg(test)]
    fn boosted(&self) -> bool {
        self.boosted_at.is_some()
    }
}

/// The guard's one warning, logged once per process.
fn say_once(message: std::fmt::Arguments<'_>) {
    static SAID: AtomicBool = AtomicBool::new(false);
    if !SAID.swap(true, Ordering::Relaxed) {
        warn!("{message}");
    }
}

#[cfg(target_os = "linux")]
fn current_tid() -> i32 {
    // SAFETY: gettid takes no arguments and cannot fail.
    unsafe { libc::syscall(libc::SYS_gettid) as i32 }
}

#[cfg(not(target_os = "linux"))]
fn current_tid() -> i32 {
    0
}

/// Raises `tid`'s nice value to `nice` (0-19), never lowering it.
fn set_nice(tid: i32, nice: i64) {
    #[cfg(target_os = "linux")]
    // SAFETY: plain system calls on a thread of this process.
    unsafe {
        let nice = nice.clamp(0, 19) as libc::c_int;
        if libc::getpriority(libc::PRIO_PROCESS, tid as libc::id_t) < nice {
            libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, nice);
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (tid, nice);
}

/// Moves `tid` into (`idle`) or out of the idle scheduling class; false if refused.
fn set_idle_class(tid: i32, idle: bool) -> bool {
    #[cfg(target_os = "linux")]
    // SAFETY: a plain system call on a thread of this process; `param` outlives it.
    unsafe {
        // Neither class has static priorities of its own.
        let param = libc::sched_param { sched_priority: 0 };
        let policy = if idle {
            libc::SCHED_IDLE
        } else {
            libc::SCHED_OTHER
        };
        libc::sched_setscheduler(tid, policy, &param) == 0
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (tid, idle);
        false
    }
}

/// Nanoseconds `tid` has spent runnable but waiting for a core (the second field of
/// Linux' `/proc/<pid>/task/<tid>/schedstat`); `None` once the thread is gone.
fn run_queue_wait_ns(tid: i32) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/self/task/{tid}/schedstat")).ok()?;
    text.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// The scheduling policy of `tid` (`stat` field 41: 0 normal, 5 idle).
    fn policy(tid: i32) -> Option<i64> {
        let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).ok()?;
        let after_name = &stat[stat.rfind(')')? + 2..];
        after_name.split_whitespace().nth(38)?.parse().ok()
    }

    /// Whether this process may move a thread at `nice` out of the idle class, tried
    /// on a thread of its own.
    fn can_leave_idle_class(nice: i64) -> bool {
        std::thread::spawn(move || {
            let tid = current_tid();
            set_idle_class(tid, true) && {
                set_nice(tid, nice);
                set_idle_class(tid, false)
            }
        })
        .join()
        .unwrap_or(false)
    }

    fn spin(stop: &AtomicBool) {
        while !stop.load(Ordering::Relaxed) {
            std::hint::black_box(0u64);
        }
    }

    /// A bulk thread spinning on its own, and its guard.
    fn bulk_thread(stop: &Arc<AtomicBool>) -> (std::thread::JoinHandle<()>, StarvationGuard) {
        let (tx, rx) = std::sync::mpsc::channel();
        let stop = stop.clone();
        let thread = std::thread::spawn(move || {
            enter_bulk(10, true, |guard| {
                let _ = tx.send(guard);
            });
            spin(&stop);
        });
        let guard = rx.recv().ok().flatten().expect("a guard in the idle class");
        (thread, guard)
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn a_starved_idle_thread_is_lifted_then_put_back_and_the_next_starts_lifted() {
        if !can_leave_idle_class(10) {
            eprintln!("skipped: needs CAP_SYS_NICE or RLIMIT_NICE >= 10");
            return;
        }
        let stop = Arc::new(AtomicBool::new(false));
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        // Client-priority threads keeping every core busy.
        let hogs: Vec<_> = (0..cores * 2)
            .map(|_| {
                let stop = stop.clone();
                std::thread::spawn(move || spin(&stop))
            })
            .collect();
        let (bulk, mut guard) = bulk_thread(&stop);
        let deadline = Instant::now() + Duration::from_secs(10);
        let (mut idle_first, mut lifted) = (false, false);
        // Until the lift has come and gone.
        while Instant::now() < deadline && (!lifted || guard.boosted()) {
            idle_first |= !lifted && policy(guard.tid) == Some(5);
            guard.tick();
            if guard.boosted() {
                lifted = true;
                assert_eq!(policy(guard.tid), Some(0));
            }
            assert!(!guard.refused, "refused although privileged");
            std::thread::sleep(Duration::from_millis(20));
        }
        let back = policy(guard.tid);
        // A bulk thread that starts now starts lifted, and goes idle after the boost.
        let (next, mut next_guard) = bulk_thread(&stop);
        let next_started = policy(next_guard.tid);
        let next_lifted = next_guard.boosted();
        std::thread::sleep(BOOST + Duration::from_millis(50));
        next_guard.tick();
        let next_after = policy(next_guard.tid);
        stop.store(true, Ordering::Relaxed);
        for thread in hogs.into_iter().chain([bulk, next]) {
            let _ = thread.join();
        }
        assert!(
            idle_first,
            "the bulk thread was never seen in the idle class"
        );
        assert!(lifted, "the starved thread was never lifted");
        assert_eq!(back, Some(5), "the boost ended in the idle class");
        assert!(next_lifted && next_started == Some(0), "{next_started:?}");
        assert_eq!(next_after, Some(5));
    }
}
