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

use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;

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
    stop: watch::Sender<bool>,
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
    /// for connections that mostly write. Errors: a runtime or thread cannot be created.
    pub fn start(count: usize, write_workers: usize) -> Result<Workers, String> {
        let (stop, _) = watch::channel(false);
        let count = count.max(1);
        let mut handles = Vec::new();
        let mut threads = Vec::new();
        for i in 0..count {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
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
        Ok(Workers {
            handles,
            threads: parking_lot::Mutex::new(threads),
            next: AtomicUsize::new(0),
            load: (0..count).map(|_| AtomicUsize::new(0)).collect(),
            write_workers: write_workers.clamp(1, count),
            stop,
        })
    }

    /// The index of the next worker for a new connection, round robin.
    pub fn next(&self) -> usize {
        self.next.fetch_add(1, Ordering::Relaxed) % self.handles.len()
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
        if placement.mostly_reads() && current < self.write_workers {
            let (to, load) = (self.write_workers..self.handles.len())
                .map(|i| (i, self.load[i].load(Ordering::Relaxed)))
                .min_by_key(|&(_, load)| load)?;
            // Only to even out (by two connections or more, so that one reader does not
            // go back and forth): readers are served as well on any worker.
            return (load + 1 < self.load[current].load(Ordering::Relaxed)).then_some(to);
        }
        None
    }

    /// Stops the worker threads (their remaining tasks are dropped) and waits for them.
    pub fn stop(&self) {
        let _ = self.stop.send(true);
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

/// Lowers the calling thread's priority for bulk migration work (Linux: per thread):
/// a migration's copy on the source and its SST building on the destination then take
/// the CPU that client connections leave, so that their latency on other slots stays
/// near idle. `idle_class` (`migrate-idle-class`) puts the thread in the `SCHED_IDLE`
/// scheduling class: it runs only on a core no other thread wants, and a waking client
/// thread takes the core from it at once (with a nice value alone the bulk thread keeps
/// its time slice, and clients on other slots waited up to several milliseconds:
/// bench/migration.sh). Otherwise the thread runs at `nice` (`migrate-nice`, 0-19).
/// A thread cannot raise its priority back without privileges: call it only on threads
/// that do bulk work for their whole life (a migration's copy thread, the destination's
/// build thread per shipped batch), and never on one that takes what client threads
/// wait for (the write gate, a fence, RocksDB's ingestion, which stops writes).
/// Failure is harmless (the work runs at normal priority).
pub fn lower_priority(nice: i64, idle_class: bool) {
    #[cfg(target_os = "linux")]
    // SAFETY: plain system calls on the calling thread; `param` outlives the call.
    unsafe {
        if idle_class {
            // The class has no nice levels of its own.
            let param = libc::sched_param { sched_priority: 0 };
            libc::sched_setscheduler(0, libc::SCHED_IDLE, &param);
        } else {
            let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
            let nice = nice.clamp(0, 19) as libc::c_int;
            if libc::getpriority(libc::PRIO_PROCESS, tid) < nice {
                libc::setpriority(libc::PRIO_PROCESS, tid, nice);
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (nice, idle_class);
}

#[cfg(test)]
mod tests {
    use super::*;

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
