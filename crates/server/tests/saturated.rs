//! Work under a load that keeps every core busy at the clients' priority. Its own test
//! binary: `cargo test` runs binaries one after another, so its CPU hogs slow no other
//! test.

mod common;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::fixtures::{fill_slot, key_in_slot, two_masters};
use common::{can_leave_idle_class, job_field, thread_priorities, Reply};

const SRC: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa1";
const DST: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa2";

/// With the copy in the idle class (the default) and every core kept busy at the
/// clients' priority, the copy gets no CPU: the node lifts it to `migrate-nice` while it
/// starves, and the migration ends under the load.
#[test]
fn a_starved_idle_class_copy_is_lifted_and_the_migration_ends() {
    if !can_leave_idle_class(10) {
        eprintln!("skipped: lifting a thread out of the idle class needs CAP_SYS_NICE or RLIMIT_NICE >= 10");
        return;
    }
    let (src, dst) = two_masters(SRC, DST);
    let mut s = src.raw();
    let tag = key_in_slot(&mut s, 302, "t");
    fill_slot(&src, &tag, 50_000, 200);
    for node in [&src, &dst] {
        let mut c = node.raw();
        assert_eq!(
            c.cmd(&["CONFIG", "SET", "migrate-idle-class", "yes"]),
            Reply::ok()
        );
        assert_eq!(c.cmd(&["CONFIG", "SET", "migrate-nice", "10"]), Reply::ok());
    }
    let stop = Arc::new(AtomicBool::new(false));
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let hogs: Vec<_> = (0..cores)
        .map(|_| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    std::hint::black_box(0u64);
                }
            })
        })
        .collect();
    assert_eq!(s.cmd(&["CLUSTERX", "MIGRATE", "302", DST]), Reply::ok());
    let deadline = Instant::now() + Duration::from_secs(60);
    let (mut lifted, mut state) = (false, Reply::Nil);
    while Instant::now() < deadline {
        // The source's copy thread, or one of the destination's build threads.
        lifted |= thread_priorities(src.pid(), "migrate-copy").contains(&(10, 0))
            || thread_priorities(dst.pid(), "import-build").contains(&(10, 0));
        state =
            job_field(&s.cmd(&["CLUSTERX", "MIGRATION", "STATUS"]), "state").unwrap_or(Reply::Nil);
        if state != Reply::bulk("start") {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    stop.store(true, Ordering::Relaxed);
    for hog in hogs {
        let _ = hog.join();
    }
    assert_eq!(state, Reply::bulk("success"), "the migration under load");
    assert!(
        lifted,
        "no bulk thread was seen lifted to (nice 10, SCHED_OTHER)"
    );
    let mut d = dst.raw();
    assert_eq!(
        d.cmd(&["CLUSTER", "COUNTKEYSINSLOT", "302"]),
        Reply::Int(50_000)
    );
}
