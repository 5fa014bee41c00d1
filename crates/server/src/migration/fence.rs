//! The cut-over fence: while a job ships its last captured writes, writes to its slots
//! are held (migration.md, "Cut-over"). The slots are marked `Fenced` in the topology
//! state (routing answers `Route::Fenced` for writes); a held write waits here, and
//! whoever ends the cut-over, commit or abort, lifts the fence, which makes every held
//! write route again (MOVED to the destination, or executed).

use tokio::sync::watch;

/// The node's fence: one generation counter that every lift bumps. Held writes watch
/// it; a waiter subscribes before it routes, so a lift between its routing and its
/// wait is never missed.
pub struct Fence {
    lifts: watch::Sender<u64>,
}

impl Default for Fence {
    fn default() -> Self {
        Fence {
            lifts: watch::channel(0).0,
        }
    }
}

impl Fence {
    /// Wakes every held write so it routes again (the cut-over ended either way).
    pub fn lift(&self) {
        self.lifts.send_modify(|generation| *generation += 1);
    }

    /// A handle to wait for the next lift with.
    pub fn watch(&self) -> FenceWatch {
        FenceWatch(self.lifts.subscribe())
    }
}

/// Waits for the lifts that come after it was made.
pub struct FenceWatch(watch::Receiver<u64>);

impl FenceWatch {
    /// Returns at the next lift.
    pub async fn lifted(&mut self) {
        if self.0.changed().await.is_err() {
            // The node is going away; its fence never lifts again.
            std::future::pending::<()>().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_lift_after_watching_is_seen_and_earlier_ones_are_not() {
        let fence = Fence::default();
        fence.lift();
        let mut watch = fence.watch();
        let early = tokio::time::timeout(std::time::Duration::from_millis(20), watch.lifted());
        assert!(
            early.await.is_err(),
            "a lift before watching woke the waiter"
        );
        fence.lift();
        tokio::time::timeout(std::time::Duration::from_secs(1), watch.lifted())
            .await
            .expect("the lift was missed");
    }
}
