//! The source side of a migration: `CLUSTERX MIGRATE` (validation and the job's thread),
//! and what the job runner may do to the node (`ClusterControl`): pause writes for the
//! snapshot, record and raise the fence, commit or abort the cut-over.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use ferrokv_cluster::{ClusterError, SlotSet, SlotState};
use ferrokv_migration::{ClusterControl, ControlError, Job, Options};
use ferrokv_protocol::Frame;
use ferrokv_storage::Storage;
use tracing::{info, warn};

use crate::error::CommandError;
use crate::server::Server;

/// The node as a migration job sees it (`ferrokv_migration::ClusterControl`).
pub(super) struct Host(pub(super) Arc<Server>);

impl ClusterControl for Host {
    fn storage(&self) -> &Storage {
        self.0.db.storage()
    }

    fn options(&self) -> Options {
        super::options(&self.0)
    }

    fn bulk_thread_started(&self, watch: &mut dyn FnMut(Box<dyn FnMut() + Send>)) {
        // Read before lowering: a low-priority thread must not hold the config lock.
        let (nice, idle_class) = {
            let config = self.0.config.read();
            (config.migrate_nice, config.migrate_idle_class)
        };
        crate::priority::enter_bulk(nice, idle_class, |guard| {
            if let Some(mut guard) = guard {
                watch(Box::new(move || guard.tick()));
            }
        });
    }

    fn pause_writes(&self, f: &mut dyn FnMut()) {
        // Every command holds the gate shared while it runs.
        let _no_command_in_flight = self.0.exec_gate.write();
        f();
    }

    fn prepare(&self, slots: &SlotSet, dest: &str) -> Result<(), ControlError> {
        let cluster = self.0.cluster.as_ref().ok_or(ControlError::NotCluster)?;
        cluster
            .preparing
            .lock()
            .push((dest.to_string(), slots.clone()));
        cluster.save_records()?;
        // The commit counts only once this shard's replicas hold the `committing`
        // record: a replica promoted later then settles the cut-over with the
        // destination instead of serving the slots as if nothing happened.
        let seq = self.0.db.storage().latest_sequence();
        let timeout = Duration::from_millis(self.0.config.read().migrate_io_timeout_ms);
        if !self.0.replication.wait_all_acked(seq, timeout) {
            cluster.preparing.lock().retain(|(_, s)| s != slots);
            super::save_records(cluster);
            return Err(ControlError::Refused(
                "the replicas did not acknowledge the cut-over in time".into(),
            ));
        }
        Ok(())
    }

    fn fence(&self, slots: &SlotSet, dest: &str) {
        let Some(cluster) = self.0.cluster.as_ref() else {
            return;
        };
        // Exclusive: every command that passed routing before the fence has finished,
        // so its write is in the WAL tail that is shipped next. Memory only: the
        // `committing` record was written by `prepare`.
        let _no_command_in_flight = self.0.exec_gate.write();
        cluster.state.write().set_fenced(slots, dest);
    }

    fn commit(&self, slots: &SlotSet, dest: &str) -> Result<(), ControlError> {
        let cluster = self.0.cluster.as_ref().ok_or(ControlError::NotCluster)?;
        cluster.state.write().set_migrated_away(slots, dest)?;
        // Lift the fence first: until `migrated` is on disk, the `committing` record
        // settles a crash the same way (the destination has committed). Held writes and
        // clients blocked on keys of the slots learn where they went.
        cluster.fence.lift();
        self.0.waiters.wake_all();
        self.0.pubsub.shard_slots_lost(|slot| slots.contains(slot));
        cluster.preparing.lock().retain(|(_, s)| s != slots);
        info!("migration of slots {slots} to {dest} committed");
        Ok(cluster.save_records()?)
    }

    fn abort(&self, slots: &SlotSet) {
        if let Some(cluster) = self.0.cluster.as_ref() {
            super::reset_slots_where(cluster, slots, |s| matches!(s, SlotState::Fenced { .. }));
            cluster.fence.lift();
            cluster.preparing.lock().retain(|(_, s)| s != slots);
            super::save_records(cluster);
        }
    }

    fn finished(&self, job: &Job) {
        if let Some(e) = Some(job.error()).filter(|e| !e.is_empty()) {
            warn!("migration job {} of slots {} ended: {e}", job.id, job.slots);
        }
        super::save_job_log(&self.0);
        self.0.waiters.signal(&super::job_key(&job.id));
    }

    fn limiter(&self) -> &ferrokv_migration::Throttle {
        &self.0.migrations.limiter
    }
}

/// `CLUSTERX MIGRATE <slots> <dst-id> [async|sync [timeout]]`: validates (in the order
/// of the spec) and starts a job; returns it so `sync` can wait.
pub fn start(
    server: &Arc<Server>,
    args: &[Bytes],
) -> Result<(Arc<Job>, Option<Option<Duration>>), CommandError> {
    let cluster = server.cluster.as_ref().ok_or(ClusterError::NotEnabled)?;
    let slots = SlotSet::parse(&String::from_utf8_lossy(&args[2]))?;
    let dest_id = String::from_utf8_lossy(&args[3]).into_owned();
    let wait = match args.get(4) {
        None => None,
        Some(a) if a.eq_ignore_ascii_case(b"async") => {
            if args.len() > 5 {
                return Err(CommandError::err(
                    "Async migration does not support timeout",
                ));
            }
            None
        }
        Some(a) if a.eq_ignore_ascii_case(b"sync") => match args.get(5) {
            None => Some(None),
            Some(t) => {
                let seconds = ferrokv_types::numbers::parse_i64(t).ok_or_else(|| {
                    CommandError::err("timeout is not an integer or out of range")
                })?;
                if seconds < 0 {
                    return Err(CommandError::err("timeout is negative"));
                }
                if args.len() > 6 {
                    return Err(CommandError::err("Invalid sync flag"));
                }
                Some((seconds > 0).then(|| Duration::from_secs(seconds as u64)))
            }
        },
        Some(_) => return Err(CommandError::err("Invalid sync flag")),
    };
    let state = cluster.state.read();
    let dest = state
        .node(&dest_id)
        .ok_or_else(|| CommandError::err("Can't find the destination node id"))?;
    if slots.is_empty() {
        return Err(CommandError::err("Slot range is invalid"));
    }
    let running = server.migrations.running();
    let busy = server.migrations.running_slots();
    let migrated = state.migrated_away_slots();
    if slots
        .iter()
        .any(|s| busy.contains(s) || migrated.contains(s))
    {
        return Err(CommandError::err(
            "Can't migrate slot which has been migrated",
        ));
    }
    if slots.iter().any(|s| !state.i_own(s)) {
        return Err(CommandError::err(
            "Can't migrate slot which doesn't belong to me",
        ));
    }
    if state.i_am_slave() {
        return Err(CommandError::err("Slave can't migrate slot"));
    }
    if !dest.is_master() {
        return Err(CommandError::err("Can't migrate slot to a slave"));
    }
    let myid = state.myid().unwrap_or_default().to_string();
    if dest.id == myid {
        return Err(CommandError::err("Can't migrate slot to myself"));
    }
    if running.iter().any(|j| j.dest == dest_id) || running.len() >= super::options(server).max_jobs
    {
        return Err(CommandError::err("There is already a migrating job"));
    }
    let job = Arc::new(Job::new(
        server.migrations.next_id(),
        slots,
        myid,
        dest_id,
        dest.host.clone(),
        dest.port,
    ));
    // Registered before the state's lock is released: a topology change waiting for the
    // lock then sees the job (`Server::update_topology`).
    server.migrations.add(job.clone());
    drop(state);
    let host: Arc<dyn ClusterControl> = Arc::new(Host(server.clone()));
    let runner_job = job.clone();
    std::thread::Builder::new()
        // Linux keeps 15 bytes of a thread's name: the job id would not fit.
        .name("migrate-job".into())
        .spawn(move || ferrokv_migration::run_job(runner_job, host))
        .map_err(|e| CommandError::err(format!("cannot start the migration: {e}")))?;
    info!(
        "migration job {} started: slots {} to {}",
        job.id, job.slots, job.dest
    );
    Ok((job, wait))
}

/// The reply of a finished job for `sync`: `+OK` or `-ERR <reason>`.
pub fn outcome(job: &Job) -> Frame {
    match job.state() {
        ferrokv_migration::JobState::Success => Frame::ok(),
        _ => CommandError::err(job.error()).into(),
    }
}

/// Fails every running job of this node (it stopped being a master: replication.md,
/// "Migration with replicas"); each aborts as a failed job does, the destination
/// dropping what it received.
pub fn abandon_jobs(server: &Server, reason: &str) {
    for job in server.migrations.running() {
        warn!("migration job {} of slots {}: {reason}", job.id, job.slots);
        job.request_abort(reason);
    }
}
