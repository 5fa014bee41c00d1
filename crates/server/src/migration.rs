//! Slot migration on this node: starting jobs (source side), the import side
//! (`CLUSTER IMPORT`, `APPLYBATCH`), and what the job runner needs from the node
//! (`ClusterControl`). The data path itself lives in `ferrokv-migration`.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use ferrokv_cluster::{ClusterError, SlotSet, SlotState};
use ferrokv_migration::{ClusterControl, Job, Options};
use ferrokv_protocol::Frame;
use ferrokv_storage::Storage;
use tracing::{info, warn};

use crate::client::Client;
use crate::error::CommandError;
use crate::server::Server;

/// Waiters on this key wake when a fence lifts.
pub const FENCE_KEY: &[u8] = b"\0ferrokv:fence";

/// Waiters on this key wake when job `id` ends.
pub fn job_key(id: &str) -> Bytes {
    Bytes::from(format!("\0ferrokv:job:{id}"))
}

pub fn options(server: &Server) -> Options {
    let config = server.config.read();
    let password = config.get("requirepass");
    Options {
        max_jobs: config.get_int("migrate-max-jobs").max(1) as usize,
        batch_size_kb: config.get_int("migrate-batch-size-kb") as u64,
        rate_limit_mb: config.get_int("migrate-batch-rate-limit-mb") as u64,
        sequence_gap: config.get_int("migrate-sequence-gap") as u64,
        fence_max_ms: config.get_int("migrate-fence-max-ms") as u64,
        keys_per_sec: config.get_int("migrate-speed") as u64,
        io_timeout_ms: config.get_int("migrate-io-timeout-ms") as u64,
        password: (!password.is_empty()).then(|| password.to_string()),
    }
}

struct Host(Arc<Server>);

impl ClusterControl for Host {
    fn storage(&self) -> &Storage {
        self.0.db.storage()
    }

    fn options(&self) -> Options {
        options(&self.0)
    }

    fn pause_writes(&self, f: &mut dyn FnMut()) {
        // Every command holds the gate shared while it runs.
        let _no_command_in_flight = self.0.exec_gate.write();
        f();
    }

    fn prepare(&self, slots: &SlotSet, dest: &str) -> Result<(), String> {
        let cluster = self.0.cluster.as_ref().ok_or("cluster mode is off")?;
        cluster
            .preparing
            .lock()
            .push((dest.to_string(), slots.clone()));
        cluster.save_records().map_err(|e| e.to_string())
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

    fn commit(&self, slots: &SlotSet, dest: &str) -> Result<(), String> {
        let cluster = self.0.cluster.as_ref().ok_or("cluster mode is off")?;
        cluster
            .state
            .write()
            .set_migrated_away(slots, dest)
            .map_err(|e| e.to_string())?;
        // Lift the fence first: until `migrated` is on disk, the `committing` record
        // settles a crash the same way (the destination has committed). Clients blocked
        // on keys of the slots learn where they went.
        self.0.waiters.wake_all();
        cluster.preparing.lock().retain(|(_, s)| s != slots);
        info!("migration of slots {slots} to {dest} committed");
        cluster.save_records().map_err(|e| e.to_string())
    }

    fn abort(&self, slots: &SlotSet) {
        if let Some(cluster) = self.0.cluster.as_ref() {
            reset_slots_where(cluster, slots, |s| matches!(s, SlotState::Fenced { .. }));
            self.0.waiters.signal(FENCE_KEY);
            cluster.preparing.lock().retain(|(_, s)| s != slots);
            save_records(cluster);
        }
        self.0.waiters.signal(FENCE_KEY);
    }

    fn finished(&self, job: &Job) {
        if let Some(e) = Some(job.error()).filter(|e| !e.is_empty()) {
            warn!("migration job {} of slots {} ended: {e}", job.id, job.slots);
        }
        save_job_log(&self.0);
        self.0.waiters.signal(&job_key(&job.id));
    }

    fn limiter(&self) -> &ferrokv_migration::RateLimiter {
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
    let busy: SlotSet = running.iter().flat_map(|j| j.slots.iter()).collect();
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
    if running.iter().any(|j| j.dest == dest_id) || running.len() >= options(server).max_jobs {
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
    drop(state);
    server.migrations.add(job.clone());
    let host: Arc<dyn ClusterControl> = Arc::new(Host(server.clone()));
    let runner_job = job.clone();
    std::thread::Builder::new()
        .name(format!("migrate-{}", job.id))
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
        _ => Frame::error(format!("ERR {}", job.error())),
    }
}

/// `CLUSTER IMPORT <slots> <state>` on the destination.
pub fn import(server: &Server, client: &mut Client, args: &[Bytes]) -> Result<Frame, CommandError> {
    let cluster = server.cluster.as_ref().ok_or(ClusterError::NotEnabled)?;
    let slots = SlotSet::parse(&String::from_utf8_lossy(&args[2]))?;
    let state = match ferrokv_types::numbers::parse_i64(&args[3]) {
        Some(s @ 0..=2) => s,
        _ => return Err(ClusterError::InvalidImportState.into()),
    };
    let source = {
        let topology = cluster.state.read();
        slots
            .iter()
            .next()
            .and_then(|s| topology.slot_owner(s))
            .map(|n| n.id.clone())
            .unwrap_or_default()
    };
    match state {
        0 => {
            {
                let topology = cluster.state.read();
                if slots.iter().any(|s| {
                    topology.i_own(s)
                        || matches!(topology.slot_state(s), SlotState::Imported { .. })
                }) {
                    // Importing would start by clearing the slots: never for data this
                    // node serves.
                    return Err(CommandError::err("Can't import slots this node serves"));
                }
            }
            // A clean slate: leftovers of an earlier attempt must not mix in.
            delete_slots(server, &slots);
            cluster.state.write().set_importing(&slots, &source);
            save_records(cluster);
            client.importing = Some(slots.clone());
            *server.newest_import.lock() = Some((slots, "start"));
        }
        1 => {
            cluster.state.write().set_imported(&slots, &source);
            save_records(cluster);
            client.importing = None;
            *server.newest_import.lock() = Some((slots, "success"));
        }
        _ => {
            abort_import(server, &slots);
            client.importing = None;
        }
    }
    Ok(Frame::ok())
}

/// Sets back to normal those of `slots` whose state matches `which`; returns them.
fn reset_slots_where(
    cluster: &crate::cluster::Cluster,
    slots: &SlotSet,
    which: impl Fn(&SlotState) -> bool,
) -> SlotSet {
    let mut state = cluster.state.write();
    let matching: SlotSet = slots
        .iter()
        .filter(|s| which(state.slot_state(*s)))
        .collect();
    state.set_normal(&matching);
    matching
}

/// Drops an import: its data goes and the slots are routed as before. Only slots still
/// being imported are touched: committed or owned data is never deleted this way.
pub fn abort_import(server: &Server, slots: &SlotSet) {
    let Some(cluster) = server.cluster.as_ref() else {
        return;
    };
    let importing = reset_slots_where(cluster, slots, |s| matches!(s, SlotState::Importing { .. }));
    save_records(cluster);
    delete_slots(server, &importing);
    *server.newest_import.lock() = Some((slots.clone(), "error"));
}

/// Persists the migration states; a failure is logged (the states in memory stay right,
/// only a crash before the next successful save would lose them).
fn save_records(cluster: &crate::cluster::Cluster) {
    if let Err(e) = cluster.save_records() {
        warn!("cannot write migration.conf: {e}");
    }
}

/// `CLUSTERX MIGRATION IMPORTSTATE <slots>`: how this node holds slots it imported,
/// asked by a source that must settle a cut-over in doubt.
pub fn import_state(server: &Server, slots: &SlotSet) -> &'static str {
    let Some(cluster) = server.cluster.as_ref() else {
        return "none";
    };
    let state = cluster.state.read();
    let mine = |s: u16| matches!(state.slot_state(s), SlotState::Imported { .. }) || state.i_own(s);
    if slots.iter().all(mine) {
        "imported"
    } else if slots
        .iter()
        .any(|s| matches!(state.slot_state(s), SlotState::Importing { .. }))
    {
        "importing"
    } else {
        "none"
    }
}

fn job_log_path(server: &Server) -> std::path::PathBuf {
    server.config.read().dir().join("migration-jobs.log")
}

/// Keeps the finished jobs (the last 16) for MIGRATION STATUS across restarts.
fn save_job_log(server: &Server) {
    // Jobs finish concurrently; the temporary file has one name.
    static ONE_WRITER: parking_lot::Mutex<()> = parking_lot::Mutex::new(());
    let _one_writer = ONE_WRITER.lock();
    let path = job_log_path(server);
    let tmp = path.with_extension("tmp");
    let written = std::fs::write(&tmp, server.migrations.finished_log())
        .and_then(|_| std::fs::rename(&tmp, &path));
    if let Err(e) = written {
        warn!("cannot write {}: {e}", path.display());
    }
}

/// After a restart: deletes the data of imports that never committed, and settles
/// the cut-overs that were in doubt with their destinations (in the background; the
/// slots stay fenced until then).
pub fn recover(server: &Arc<Server>) {
    if let Ok(log) = std::fs::read_to_string(job_log_path(server)) {
        server.migrations.load_finished(&log);
    }
    let Some(cluster) = server.cluster.as_ref() else {
        return;
    };
    if !cluster.dropped_imports.is_empty() {
        warn!(
            "dropping uncommitted import of slots {}",
            cluster.dropped_imports
        );
        delete_slots(server, &cluster.dropped_imports);
        save_records(cluster);
    }
    for (dest, slots) in cluster.in_doubt.clone() {
        let Some((host, port)) = cluster
            .state
            .read()
            .node(&dest)
            .map(|n| (n.host.clone(), n.port))
        else {
            continue;
        };
        let server = server.clone();
        let spawned = std::thread::Builder::new()
            .name("migration-recovery".into())
            .spawn(move || {
                let resolution =
                    ferrokv_migration::resolve_in_doubt(&host, port, &slots, &options(&server));
                let host = Host(server.clone());
                match resolution {
                    ferrokv_migration::Resolution::Committed => {
                        if let Err(e) = host.commit(&slots, &dest) {
                            warn!("recording the recovered commit of {slots} failed: {e}");
                        }
                    }
                    ferrokv_migration::Resolution::Aborted => host.abort(&slots),
                }
                info!("cut-over of slots {slots} to {dest} settled after restart: {resolution:?}");
            });
        if let Err(e) = spawned {
            warn!("cannot start migration recovery: {e}");
        }
    }
}

fn delete_slots(server: &Server, slots: &SlotSet) {
    for (first, last) in slots.ranges() {
        if let Err(e) = server.db.storage().delete_slot_range(first, last) {
            warn!("deleting slots {first}-{last} failed: {e}");
        }
    }
}

/// `APPLYBATCH <raw write batch>`: the importing link ships data.
pub fn apply_batch(server: &Server, client: &Client, data: &[u8]) -> Result<Frame, CommandError> {
    let Some(slots) = client.importing.as_ref() else {
        return Err(CommandError::err(
            "APPLYBATCH is only accepted on an importing link",
        ));
    };
    // Only records of the slots this link imports get in.
    let allowed =
        |key: &[u8]| ferrokv_storage::encoding::slot_of(key).is_some_and(|s| slots.contains(s));
    server
        .db
        .storage()
        .write_raw(data, &allowed)
        .map_err(|e| CommandError::err(e.to_string()))?;
    Ok(Frame::ok())
}

/// The migration and import blocks of CLUSTER INFO (newest of each).
pub fn info_lines(server: &Server) -> String {
    let mut out = String::new();
    if let Some(job) = server.migrations.newest() {
        out.push_str(&ferrokv_cluster::migration_info_block(
            &job.slots,
            &job.dest,
            job.state().kvrocks_name(),
        ));
    }
    if let Some((slots, state)) = server.newest_import.lock().clone() {
        out.push_str(&ferrokv_cluster::import_info_block(&slots, state));
    }
    out
}

/// This node's markers on its CLUSTER NODES line: running migrations and imports.
pub fn node_markers(server: &Server) -> String {
    let mut out = String::new();
    for job in server.migrations.running() {
        out.push_str(&ferrokv_cluster::migrating_marker(&job.slots, &job.dest));
    }
    if let Some(cluster) = server.cluster.as_ref() {
        let state = cluster.state.read();
        let importing = state.importing_slots();
        if !importing.is_empty() {
            let source = importing
                .iter()
                .next()
                .and_then(|s| match state.slot_state(s) {
                    SlotState::Importing { source_id } => Some(source_id.clone()),
                    _ => None,
                })
                .unwrap_or_default();
            out.push_str(&ferrokv_cluster::importing_marker(&importing, &source));
        }
    }
    out
}
