//! Connection threads. Each worker thread runs its own single-threaded tokio runtime and
//! owns the connections handed to it for their whole life: a request is parsed,
//! executed and answered on one thread, with no cross-thread wake-ups on the hot path
//! (on a small machine those wake-ups cost more than the work itself).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;

use tokio::runtime::Handle;
use tokio::sync::watch;

pub struct Workers {
    handles: Vec<Handle>,
    threads: Vec<JoinHandle<()>>,
    next: AtomicUsize,
    stop: watch::Sender<bool>,
}

impl Workers {
    pub fn start(count: usize) -> Result<Workers, String> {
        let (stop, _) = watch::channel(false);
        let mut handles = Vec::new();
        let mut threads = Vec::new();
        for i in 0..count.max(1) {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| format!("cannot start worker runtime: {e}"))?;
            handles.push(runtime.handle().clone());
            let mut stopped = stop.subscribe();
            let thread = std::thread::Builder::new()
                .name(format!("worker-{i}"))
                .spawn(move || {
                    runtime.block_on(async move {
                        let _ = stopped.wait_for(|stop| *stop).await;
                    });
                })
                .map_err(|e| format!("cannot start worker thread: {e}"))?;
            threads.push(thread);
        }
        Ok(Workers {
            handles,
            threads,
            next: AtomicUsize::new(0),
            stop,
        })
    }

    /// The runtime of the next worker, round robin.
    pub fn next(&self) -> &Handle {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.handles.len();
        &self.handles[i]
    }

    /// Stops the worker threads (their remaining tasks are dropped) and waits for them.
    pub fn stop(self) {
        let _ = self.stop.send(true);
        for thread in self.threads {
            let _ = thread.join();
        }
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
