//! Active expiry: keys are invisible once expired (checked on every read); this task
//! reclaims them in the background, a bounded slice at a time.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tracing::warn;

use crate::server::Server;

const BUDGET_PER_TICK: usize = 500;

pub async fn active_expire(server: Arc<Server>) {
    let mut cursor: Vec<u8> = Vec::new();
    let mut shutdown = server.shutdown_signal();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(100)) => {}
            _ = shutdown.changed() => return,
        }
        // A replica writes nothing itself: expired keys are hidden by the clock until
        // the master's delete arrives (replication.md).
        if server.replication.is_replica() {
            continue;
        }
        // Never wait for the gate: this task shares its thread with the accept loop,
        // and a running script or EXEC holds the gate for as long as it runs (a new
        // client must still get in, to be told BUSY or to send SCRIPT KILL). Keys
        // expire at the next tick instead, as Redis expires none during a script.
        let Some(gate) = server.exec_gate.try_read() else {
            continue;
        };
        let result = server.db.expire_cycle(&cursor, BUDGET_PER_TICK);
        drop(gate);
        match result {
            Ok((deleted, next)) => {
                for key in &deleted {
                    server.touched(key);
                }
                crate::notify::expired(&server, &deleted);
                server
                    .stats
                    .expired_keys
                    .fetch_add(deleted.len() as u64, Ordering::Relaxed);
                cursor = next.unwrap_or_default();
            }
            Err(e) => warn!("active expiry failed: {e}"),
        }
    }
}
