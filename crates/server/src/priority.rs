//! CPU priority of bulk work (a migration's copy on the source, its SST building on the
//! destination): low, so that clients on other slots keep their latency, and watched,
//! so that the work still moves while clients keep every core busy.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tracing::{info, warn};

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
pub fn lower_priority(nice: i64, idle_class: bool) {
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

/// Runs `work` on a new thread named `name` at the bulk priority ([`lower_priority`])
/// and waits for it, lifting it while it starves in the idle class
/// ([`StarvationGuard`]). `Ok(None)` if the thread panicked; `Err` if it could not
/// start.
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
                    lower_priority(nice, idle_class);
                    let _ = tx.send(idle_class.then(|| StarvationGuard::for_current_thread(nice)));
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

/// Watches one bulk thread in the idle class from a thread at the clients' priority
/// (call [`StarvationGuard::tick`] every few milliseconds there). In the idle class a
/// thread gets almost no CPU while clients keep every core busy (its weight is 3
/// against a client thread's 1024): a migration's copy of a few hundred megabytes
/// would take hours. When the thread waited for a core ≥ 90% of a 500 ms window
/// (`/proc/self/task/<tid>/schedstat`, its run-queue wait), the guard moves it to the
/// normal class at `migrate-nice` for 500 ms, then back: under a saturating load the
/// work goes on at about half a niced thread's share, and clients on an idle-ish node
/// never see it. Leaving the idle class needs `CAP_SYS_NICE` or an `RLIMIT_NICE` of at
/// least 20 − `migrate-nice` (systemd's `LimitNICE=`); without either the guard says so
/// once in the log and the thread stays where it is.
#[derive(Debug)]
pub struct StarvationGuard {
    tid: i32,
    nice: i64,
    window_start: Instant,
    waited_at_start: u64,
    boosted_at: Option<Instant>,
    /// Times the thread was lifted, for the log.
    lifts: u32,
    refused: bool,
}

impl StarvationGuard {
    /// A guard for the calling thread, which runs in the idle class at `nice` (call it
    /// after [`lower_priority`] on the bulk thread, then hand the guard to a watcher).
    pub fn for_current_thread(nice: i64) -> StarvationGuard {
        let tid = current_tid();
        StarvationGuard {
            tid,
            nice,
            window_start: Instant::now(),
            waited_at_start: run_queue_wait_ns(tid).unwrap_or(0),
            boosted_at: None,
            lifts: 0,
            refused: false,
        }
    }

    /// Judges the thread when a window has passed: boosts it if it starved, ends a
    /// boost that has run its time.
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
            self.lifts += 1;
        } else {
            self.refused = true;
            static SAID: AtomicBool = AtomicBool::new(false);
            if SAID.swap(true, Ordering::Relaxed) {
                return;
            }
            warn!(
                "a bulk migration thread gets no CPU in the idle class and cannot be lifted \
                 out of it (needs CAP_SYS_NICE or RLIMIT_NICE >= {}); set \
                 migrate-idle-class no for migrations under a saturating load",
                20 - self.nice.clamp(0, 19)
            );
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

impl Drop for StarvationGuard {
    fn drop(&mut self) {
        if self.lifts > 0 {
            info!(
                "a bulk migration thread starved in the idle class and was lifted to its \
                 nice value {} times ({} ms each)",
                self.lifts,
                BOOST.as_millis()
            );
        }
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

    fn spin(stop: &AtomicBool) {
        while !stop.load(Ordering::Relaxed) {
            std::hint::black_box(0u64);
        }
    }

    /// One test, in this order: the CPU hogs of the second part would starve the first.
    #[test]
    #[cfg(target_os = "linux")]
    fn the_guard_leaves_an_idle_thread_on_a_free_core_and_lifts_a_starved_one() {
        an_idle_thread_on_a_free_core_is_left_alone();
        an_idle_thread_that_gets_no_cpu_is_lifted_then_put_back();
    }

    fn an_idle_thread_that_gets_no_cpu_is_lifted_then_put_back() {
        let stop = Arc::new(AtomicBool::new(false));
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        // Client-priority threads keeping every core busy.
        let hogs: Vec<_> = (0..cores * 2)
            .map(|_| {
                let stop = stop.clone();
                std::thread::spawn(move || spin(&stop))
            })
            .collect();
        let (tx, rx) = std::sync::mpsc::channel();
        let bulk = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                lower_priority(10, true);
                let _ = tx.send(StarvationGuard::for_current_thread(10));
                spin(&stop);
            })
        };
        let mut guard = rx.recv().expect("the bulk thread starts");
        assert_eq!(policy(guard.tid), Some(5));
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut lifted = false;
        // Until the lift has come and gone.
        while Instant::now() < deadline && (!lifted || guard.boosted()) {
            guard.tick();
            if guard.boosted() {
                lifted = true;
                assert_eq!(policy(guard.tid), Some(0));
            }
            assert!(
                !guard.refused,
                "this test needs CAP_SYS_NICE or RLIMIT_NICE"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let back = policy(guard.tid);
        stop.store(true, Ordering::Relaxed);
        for hog in hogs {
            let _ = hog.join();
        }
        let _ = bulk.join();
        assert!(lifted, "the starved thread was never lifted");
        assert_eq!(back, Some(5), "the boost ended in the idle class");
    }

    fn an_idle_thread_on_a_free_core_is_left_alone() {
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = std::sync::mpsc::channel();
        let bulk = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                lower_priority(10, true);
                let _ = tx.send(StarvationGuard::for_current_thread(10));
                // Mostly asleep, as a copy waiting on its destination.
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(5));
                }
            })
        };
        let mut guard = rx.recv().expect("the bulk thread starts");
        let until = Instant::now() + WINDOW * 3;
        while Instant::now() < until {
            guard.tick();
            assert!(!guard.boosted());
            std::thread::sleep(Duration::from_millis(20));
        }
        stop.store(true, Ordering::Relaxed);
        let _ = bulk.join();
    }
}
