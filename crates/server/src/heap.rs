//! The global allocator: mimalloc, counting the bytes the server holds so that INFO's
//! `used_memory` can include the process heap (RocksDB's own memory is reported by
//! RocksDB; it allocates through the C++ runtime, not through this allocator).

use std::alloc::{GlobalAlloc, Layout};
use std::cell::Cell;
use std::sync::atomic::{AtomicI64, Ordering};

/// Bytes allocated and not yet freed, across all threads (up to the per-thread slack).
static ALLOCATED: AtomicI64 = AtomicI64::new(0);

/// Each thread accumulates its changes and publishes them past this many bytes: one
/// shared atomic per allocation would make the worker threads contend on a cache line.
const SLACK: i64 = 256 * 1024;

thread_local! {
    // `const` and without a destructor: safe to use from inside the allocator.
    static PENDING: Cell<i64> = const { Cell::new(0) };
}

fn account(delta: i64) {
    // `try_with` fails only while the thread is being torn down; the change is then
    // published directly.
    let published = PENDING.try_with(|pending| {
        let total = pending.get() + delta;
        if total.abs() >= SLACK {
            ALLOCATED.fetch_add(total, Ordering::Relaxed);
            pending.set(0);
        } else {
            pending.set(total);
        }
    });
    if published.is_err() {
        ALLOCATED.fetch_add(delta, Ordering::Relaxed);
    }
}

/// Bytes currently allocated by the server's own code (never negative; each thread
/// may hold up to 256 KB unpublished).
pub fn allocated_bytes() -> u64 {
    u64::try_from(ALLOCATED.load(Ordering::Relaxed)).unwrap_or(0)
}

/// mimalloc with byte accounting.
pub struct Counting(pub mimalloc::MiMalloc);

// SAFETY: every method forwards to mimalloc unchanged; the accounting only reads the
// layout sizes and touches a thread-local cell and an atomic, neither of which allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let ptr = self.0.alloc(layout);
        if !ptr.is_null() {
            account(layout.size() as i64);
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let ptr = self.0.alloc_zeroed(layout);
        if !ptr.is_null() {
            account(layout.size() as i64);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        self.0.dealloc(ptr, layout);
        account(-(layout.size() as i64));
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let new = self.0.realloc(ptr, layout, new_size);
        if !new.is_null() {
            account(new_size as i64 - layout.size() as i64);
        }
        new
    }
}
