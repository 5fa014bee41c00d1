//! CLIENT PAUSE / CLIENT UNPAUSE (Redis 6.2 semantics): for a while, commands of
//! normal clients wait before they run — writes only (`WRITE`) or all of them
//! (`ALL`, the default). A controller pauses writes during a manual failover so the
//! replica catches up. CLIENT itself is never held, so UNPAUSE always gets through.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// The pause in force, if any.
#[derive(Default)]
pub struct Pause {
    until: Mutex<Option<(Instant, bool)>>,
    /// Set while a pause may be in force: every request reads it, so the lock above is
    /// only taken while a pause exists.
    maybe: AtomicBool,
}

impl Pause {
    /// Pauses until `until`: every command if `all`, else writes only. A later pause
    /// replaces an earlier one only if it ends later or is wider (as in Redis).
    pub fn set(&self, until: Instant, all: bool) {
        let mut current = self.until.lock();
        self.maybe.store(true, Ordering::Release);
        *current = Some(match *current {
            Some((end, was_all)) if end > Instant::now() => (end.max(until), was_all || all),
            _ => (until, all),
        });
    }

    pub fn unpause(&self) {
        *self.until.lock() = None;
        self.maybe.store(false, Ordering::Release);
    }

    /// How long a command must still wait, if the pause applies to it.
    pub fn remaining(&self, is_write: bool) -> Option<Duration> {
        if !self.maybe.load(Ordering::Acquire) {
            return None;
        }
        let current = *self.until.lock();
        let (until, all) = current?;
        let left = until.checked_duration_since(Instant::now())?;
        (all || is_write).then_some(left)
    }

    /// Whether any pause is in force (pipelined runs are then not merged).
    pub fn active(&self) -> bool {
        if !self.maybe.load(Ordering::Acquire) {
            return false;
        }
        let mut current = self.until.lock();
        let active = current.is_some_and(|(until, _)| until > Instant::now());
        if !active {
            // Expired: back to the lock-free path.
            *current = None;
            self.maybe.store(false, Ordering::Release);
        }
        active
    }
}
