//! The shared state of a running node: storage, cluster view, configuration, clients,
//! migrations, and the hooks every write shares. Its life cycle (bind, accept,
//! shutdown) is `node.rs`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::time::Instant;

use ferrokv_cluster::{ClusterError, ClusterState, SlotSet};
use ferrokv_types::Database;
use parking_lot::{Mutex, RwLock};
use tokio::sync::watch;
use tracing::warn;

use crate::client::ClientRegistry;
use crate::config::Config;
use crate::error::CommandError;
use crate::watch::Watches;

/// Counters INFO reports.
#[derive(Default)]
pub struct Stats {
    pub connections_received: AtomicU64,
    pub rejected_connections: AtomicU64,
    pub commands_processed: AtomicU64,
    pub expired_keys: AtomicU64,
    pub compactions: AtomicU64,
    /// SST files importing links ingested (a migration's snapshot).
    pub imported_sst_files: AtomicU64,
}

/// SCAN cursors: clients get small numbers (the Rust `redis` crate parses cursors as
/// integers), the server remembers which stored key each one continues from.
#[derive(Default)]
pub struct ScanCursors {
    next: u64,
    positions: HashMap<u64, Vec<u8>>,
    order: std::collections::VecDeque<u64>,
}

impl ScanCursors {
    const KEEP: usize = 16 * 1024;

    pub fn save(&mut self, position: Vec<u8>) -> u64 {
        self.next += 1;
        let id = self.next;
        self.positions.insert(id, position);
        self.order.push_back(id);
        if self.order.len() > Self::KEEP {
            if let Some(old) = self.order.pop_front() {
                self.positions.remove(&old);
            }
        }
        id
    }

    pub fn position(&self, id: u64) -> Option<Vec<u8>> {
        self.positions.get(&id).cloned()
    }
}

pub struct Server {
    pub db: Database,
    /// Present when `cluster-enabled yes`.
    pub cluster: Option<crate::cluster::Cluster>,
    pub config: RwLock<Config>,
    pub clients: ClientRegistry,
    pub watches: Watches,
    pub migrations: ferrokv_migration::Migrations,
    /// Role, history, connected replicas, the follower (replication.md).
    pub replication: crate::replication::state::Replication,
    /// CLIENT PAUSE: until when, and whether reads wait too.
    pub pause: crate::pause::Pause,
    /// The newest import this node took part in, for CLUSTER INFO.
    pub newest_import: Mutex<Option<(ferrokv_cluster::SlotSet, &'static str)>>,
    /// Held while an importing link ingests SST files and while an import is dropped:
    /// files are ingested only into slots still being imported, so an abort's range
    /// delete always comes after (and covers) them.
    pub import_gate: Mutex<()>,
    pub waiters: crate::blocking::KeyWaiters,
    /// Pub/Sub subscribers of this node.
    pub pubsub: crate::pubsub::PubSub,
    /// The keyspace notification classes in force (`notify-keyspace-events`).
    pub notify: crate::keyspace_events::Notifier,
    pub stats: Stats,
    pub metrics: crate::metrics::Metrics,
    pub scan_cursors: Mutex<ScanCursors>,
    /// Normal commands hold it shared; EXEC and FLUSH hold it exclusively, so nobody
    /// observes a transaction half-applied.
    pub exec_gate: RwLock<()>,
    /// The EVAL script cache, the FUNCTION libraries and the running script.
    pub scripting: crate::scripting::Scripting,
    pub started: Instant,
    /// PERFLOG's sampled commands.
    pub perflog: crate::perflog::PerfLog,
    /// BGSAVE's backups and their outcome.
    pub backups: crate::backup::Backups,
    pub run_id: String,
    pub local_addr: SocketAddr,
    pub(crate) shutdown_tx: watch::Sender<bool>,
    /// The connection threads, once started.
    pub workers: std::sync::OnceLock<std::sync::Arc<crate::workers::Workers>>,
}

impl Server {
    /// Stops the node: SHUTDOWN, SIGTERM and SIGINT all come here. A script running now
    /// would hold the shutdown up (the node joins its workers), so it is stopped the way
    /// SHUTDOWN NOSAVE stops it; Redis exits without waiting for a busy script either.
    pub fn request_shutdown(&self) {
        self.scripting.status.stop_for_shutdown();
        let _ = self.shutdown_tx.send(true);
    }

    pub fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.shutdown_tx.subscribe()
    }

    /// A write changed `key`: transactions watching it fail, clients blocked on it
    /// try again.
    pub fn touched(&self, key: &[u8]) {
        self.watches.touch(key);
        self.waiters.signal(key);
    }

    /// Unix seconds at which this server started.
    pub fn started_unix(&self) -> i64 {
        (ferrokv_types::now_ms() / 1000) as i64 - self.started.elapsed().as_secs() as i64
    }

    pub fn cluster_enabled(&self) -> bool {
        self.cluster.is_some()
    }

    /// Applies a topology change (CLUSTERX SETNODES/SETSLOT/SETNODEID) to a copy, so a
    /// refused change leaves nothing behind; then installs it, persists it, and deletes
    /// the data of slots that `change` says were handed over to another node.
    pub fn update_topology(
        &self,
        change: impl FnOnce(&mut ClusterState) -> Result<SlotSet, ClusterError>,
    ) -> Result<(), CommandError> {
        let cluster = self.cluster.as_ref().ok_or(ClusterError::NotEnabled)?;
        let mut state = cluster.state.write();
        let mut next = state.clone();
        let to_delete = change(&mut next)?;
        let served_before = served_slots(&state);
        // A change of owner under a running migration would let the copy overwrite newer
        // writes on the new owner and leave the source's data orphaned: refused, the
        // job must end first (migration.md, "Hand-over"). Jobs register under the
        // state's read lock, so none can start unseen while this write lock is held.
        // A replica runs no job: the in-flight states it holds are its master's, and
        // are settled when it is promoted (replication::records). A master the change
        // turns into a replica fails its jobs instead (never two writers).
        let replica = self.replication.is_replica() || next.i_am_slave();
        let mut moving = SlotSet::new();
        if !replica {
            moving = self.migrations.running_slots();
            moving.union_with(&state.importing_slots());
            moving.union_with(&state.fenced_slots());
        }
        let owner = |s: &ClusterState, slot: u16| s.slot_owner(slot).map(|n| n.id.clone());
        // A failover inside the shard that holds the slots (a replica of the old owner
        // now owns them) is no change of shard: the job fails or goes on as
        // replication.md says, with one writer.
        let same_shard = |old: &str, new: &str| {
            state.node(new).and_then(|n| n.master_id.as_deref()) == Some(old)
                || next.node(old).and_then(|n| n.master_id.as_deref()) == Some(new)
        };
        let changed: SlotSet = moving
            .iter()
            .filter(|&slot| match (owner(&state, slot), owner(&next, slot)) {
                (Some(old), Some(new)) => old != new && !same_shard(&old, &new),
                (old, new) => old != new,
            })
            .collect();
        if !changed.is_empty() {
            return Err(CommandError::err(format!(
                "Can't change the owner of slots being migrated: {changed} (cancel the migration or wait for it to end)"
            )));
        }
        let served_after = served_slots(&next);
        *state = next;
        drop(state);
        // Shard channels of slots this node no longer serves lose their subscribers.
        self.pubsub
            .shard_slots_lost(|slot| served_before.contains(slot) && !served_after.contains(slot));
        // Clients blocked on keys whose slot changed owner must be redirected.
        self.waiters.wake_all();
        if self.config.read().persist_cluster_nodes_enabled {
            cluster.save_topology()?;
        }
        cluster
            .save_records()
            .map_err(|e| CommandError::err(format!("cannot write migration.conf: {e}")))?;
        // A replica's copy of the handed-over data goes with its master's range delete.
        if !replica {
            self.delete_slots(&to_delete);
        }
        Ok(())
    }

    /// `CLUSTERX FLUSHSLOTS`: deletes every record of `slots` on this node, whether it
    /// owns them or not (as Kvrocks does). Refused, with nothing deleted, when any of
    /// them is moved by a running job or cutting over here, is being imported here, or
    /// was imported here and not yet handed over (this node serves the only copy).
    pub fn flush_slots(&self, slots: &SlotSet) -> Result<(), CommandError> {
        let cluster = self.cluster.as_ref().ok_or(ClusterError::NotEnabled)?;
        // A replica writes nothing itself (its master's FLUSHSLOTS reaches it).
        if self.replication.is_replica() {
            return Err(CommandError::ReadOnlyReplica);
        }
        // Held until the data is gone: a job registers under the state's read lock and
        // an import starts under its write lock, so neither can begin in between.
        let state = cluster.state.write();
        let mut migrating = self.migrations.running_slots();
        migrating.union_with(&state.fenced_slots());
        for (_, prepared) in cluster.preparing.lock().iter() {
            migrating.union_with(prepared);
        }
        let busy = slots.intersection(&migrating);
        if !busy.is_empty() {
            return Err(ClusterError::FlushWhileMigrating(busy.to_string()).into());
        }
        let busy = slots.intersection(&state.importing_slots());
        if !busy.is_empty() {
            return Err(ClusterError::FlushWhileImporting(busy.to_string()).into());
        }
        let busy = slots.intersection(&state.imported_slots());
        if !busy.is_empty() {
            return Err(ClusterError::FlushImported(busy.to_string()).into());
        }
        for (first, last) in slots.ranges() {
            self.db
                .storage()
                .delete_slot_range(first, last)
                .map_err(|e| CommandError::err(format!("deleting slots {first}-{last}: {e}")))?;
        }
        drop(state);
        self.watches
            .touch_where(|key| slots.contains(ferrokv_keyslot::key_slot(key)));
        Ok(())
    }

    /// Deletes every record of `slots` (one range delete per run of slots); failures are
    /// logged, the data stays hidden by routing.
    pub fn delete_slots(&self, slots: &SlotSet) {
        // A replica writes nothing itself: its master's range deletes reach it.
        if self.replication.is_replica() {
            return;
        }
        for (first, last) in slots.ranges() {
            if let Err(e) = self.db.storage().delete_slot_range(first, last) {
                warn!("deleting slots {first}-{last} failed: {e}");
            }
        }
    }
}

/// The slots this node serves in `state`: its own (migrations applied), or its
/// master's when it is a replica. Shard channels of other slots have no subscribers
/// here.
fn served_slots(state: &ClusterState) -> SlotSet {
    let me = match state.my_master().or(state.myself()) {
        Some(node) => node.id.clone(),
        None => return SlotSet::default(),
    };
    state.serving_slots(&me)
}
