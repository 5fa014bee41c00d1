//! Slot migration on this node, both ends of the cut-over in one place: the source
//! (`source.rs`: CLUSTERX MIGRATE and what the job runner may do to the node), the
//! destination (`import.rs`: CLUSTER IMPORT, APPLYBATCH, the link's abort), recovery
//! after a restart (`recovery.rs`), and the fence that holds writes at the cut-over
//! (`fence.rs`). The data path itself (snapshot, captured tail, commit protocol) lives
//! in `ferrokv-migration`; the per-slot states and their file format in
//! `ferrokv-cluster`.

pub mod fence;
pub mod import;
pub mod recovery;
pub mod source;

use bytes::Bytes;
use ferrokv_cluster::{SlotSet, SlotState};
use ferrokv_migration::Options;
use tracing::warn;

use crate::cluster::Cluster;
use crate::server::Server;

/// Waiters on this key wake when job `id` ends (a `sync` MIGRATE, MIGRATION RESULT).
pub fn job_key(id: &str) -> Bytes {
    Bytes::from(format!("\0ferrokv:job:{id}"))
}

pub fn options(server: &Server) -> Options {
    let config = server.config.read();
    Options {
        max_jobs: config.migrate_max_jobs.max(1),
        batch_size_kb: config.migrate_batch_size_kb,
        rate_limit_mb: config.migrate_batch_rate_limit_mb,
        sequence_gap: config.migrate_sequence_gap,
        fence_max_ms: config.migrate_fence_max_ms,
        commands_per_sec: config.migrate_speed,
        snapshot_as_sst: config.migrate_sst_file_mb > 0,
        io_timeout_ms: config.migrate_io_timeout_ms,
        password: (!config.requirepass.is_empty()).then(|| config.requirepass.clone()),
    }
}

/// Sets back to normal those of `slots` whose state matches `which`; returns them.
pub(super) fn reset_slots_where(
    cluster: &Cluster,
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

/// Persists the migration states; a failure is logged (the states in memory stay right,
/// only a crash before the next successful save would lose them).
pub(super) fn save_records(cluster: &Cluster) {
    if let Err(e) = cluster.save_records() {
        warn!("cannot write migration.conf: {e}");
    }
}

pub(super) fn job_log_path(server: &Server) -> std::path::PathBuf {
    server.config.read().data_dir().join("migration-jobs.log")
}

/// The node record holding the finished jobs' log (replicated like the data).
pub const JOB_LOG_KEY: &[u8] = b"ferrokv:migration-jobs";

/// Keeps the finished jobs (the last 16) for MIGRATION STATUS across restarts.
pub(super) fn save_job_log(server: &Server) {
    // Jobs finish concurrently: the last file written must hold the latest log.
    static ONE_WRITER: parking_lot::Mutex<()> = parking_lot::Mutex::new(());
    let _one_writer = ONE_WRITER.lock();
    let path = job_log_path(server);
    let log = server.migrations.finished_log();
    if let Err(e) = crate::files::write_atomic(&path, log.as_bytes()) {
        warn!("cannot write {}: {e}", path.display());
    }
    // In the write stream too: a replica promoted after a job shows how it ended (the
    // controller reads `migrating_state: success` from the shard's master).
    // Replica mode covers a replica, and a node restarting as one.
    if !server.db.storage().replica_mode() {
        if let Err(e) = server
            .db
            .storage()
            .put_node_record(JOB_LOG_KEY, log.as_bytes())
        {
            warn!("cannot put the migration job log in the write stream: {e}");
        }
    }
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
