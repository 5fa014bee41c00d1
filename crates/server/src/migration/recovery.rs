//! After a restart: imports that never committed are dropped, and cut-overs that were
//! in doubt (a `committing` record) are settled with their destinations; the slots stay
//! fenced until then (never two writers).

use std::sync::Arc;

use ferrokv_migration::ClusterControl;
use tracing::{info, warn};

use super::source::Host;
use crate::server::Server;

/// After a restart: deletes the data of imports that never committed, and settles
/// the cut-overs that were in doubt with their destinations (in the background; the
/// slots stay fenced until then).
pub fn recover(server: &Arc<Server>) {
    // SST files an importing link was building when the node stopped: never ingested,
    // and their import is dropped below.
    let _ = std::fs::remove_dir_all(super::import::sst_staging_dir(server));
    if let Ok(log) = std::fs::read_to_string(super::job_log_path(server)) {
        server.migrations.load_finished(&log);
    }
    let Some(cluster) = server.cluster.as_ref() else {
        return;
    };
    // A replica settles nothing itself: its states are its master's, from the stream
    // (`replication::records`).
    if cluster.state.read().i_am_slave() {
        return;
    }
    if !cluster.dropped_imports.is_empty() {
        warn!(
            "dropping uncommitted import of slots {}",
            cluster.dropped_imports
        );
        server.delete_slots(&cluster.dropped_imports);
        super::save_records(cluster);
    }
    for (dest, slots) in cluster.in_doubt.clone() {
        settle_in_doubt(server, dest, slots);
    }
}

/// Settles a cut-over in doubt (a `committing` record with no outcome) with its
/// destination, in the background; the slots stay fenced until then.
pub fn settle_in_doubt(server: &Arc<Server>, dest: String, slots: ferrokv_cluster::SlotSet) {
    let Some(cluster) = server.cluster.as_ref() else {
        return;
    };
    {
        let Some((host, port)) = cluster
            .state
            .read()
            .node(&dest)
            .map(|n| (n.host.clone(), n.port))
        else {
            return;
        };
        let server = server.clone();
        let spawned = std::thread::Builder::new()
            .name("migration-recovery".into())
            .spawn(move || {
                let control = Host(server.clone());
                let resolution = ferrokv_migration::resolve_in_doubt(&control, &host, port, &slots);
                let host = control;
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
