//! Migration records in the write stream (replication.md, "Migration with replicas"):
//! a master writes each new migration.conf text into its database as a node record,
//! so the WAL carries it to replicas in order with the data; a replica installs it
//! into its cluster view after the batch that carries it. A replica promoted with a
//! migration in flight settles it: an uncommitted import is dropped, a cut-over in
//! doubt is settled with the destination as after a restart.

use std::sync::{Arc, Weak};

use ferrokv_cluster::{parse_records, Record, RecordKind, SlotSet};
use tracing::{info, warn};

use crate::server::Server;

/// The node record holding the migration states.
pub const RECORDS_KEY: &[u8] = b"ferrokv:migration-records";

/// Makes a master's migration.conf changes travel in its stream.
pub fn install_sink(server: &Arc<Server>) {
    let Some(cluster) = server.cluster.as_ref() else {
        return;
    };
    let weak: Weak<Server> = Arc::downgrade(server);
    cluster.set_records_sink(Box::new(move |text| {
        let Some(server) = weak.upgrade() else {
            return;
        };
        // A replica writes nothing: its records come from its master. Replica mode is
        // on whenever the node is a replica, and already from the start of a node that
        // restarts as one, before its role is set.
        if server.db.storage().replica_mode() {
            return;
        }
        let storage = server.db.storage();
        if let Err(e) = storage
            .put_node_record(RECORDS_KEY, text.as_bytes())
            .and_then(|()| storage.make_durable())
        {
            warn!("cannot put the migration states in the write stream: {e}");
        }
    }));
}

/// After a replicated batch: if it carries new migration states, install them.
pub fn after_batch(server: &Server, data: &[u8]) {
    if server.cluster.is_some() && memchr::memmem::find(data, RECORDS_KEY).is_some() {
        reload(server);
    }
}

/// Installs the migration states of the master (the node record) as this replica's.
pub fn reload(server: &Server) {
    let Some(cluster) = server.cluster.as_ref() else {
        return;
    };
    let text = match server.db.storage().node_record(RECORDS_KEY) {
        Ok(text) => text.unwrap_or_default(),
        Err(e) => {
            warn!("cannot read the replicated migration states: {e}");
            return;
        }
    };
    let records = match parse_records(&String::from_utf8_lossy(&text)) {
        Ok(records) => records,
        Err(e) => {
            warn!("replicated migration states unreadable: {e}");
            return;
        }
    };
    {
        let mut state = cluster.state.write();
        state.clear_migration_states();
        for Record { kind, node, slots } in records {
            match kind {
                RecordKind::Migrated => {
                    if let Err(e) = state.set_migrated_away(&slots, &node) {
                        warn!("replicated record of slots {slots}: {e}");
                    }
                }
                RecordKind::Imported => state.set_imported(&slots, &node),
                RecordKind::Importing => state.set_importing(&slots, &node),
                RecordKind::Committing => state.set_fenced(&slots, &node),
            }
        }
    }
    if let Err(e) = cluster.save_records() {
        warn!("cannot write migration.conf: {e}");
    }
    server.waiters.wake_all();
}

/// A replica became master with migration states of its old master: an import that
/// had not committed is dropped (the source aborts or already did); a cut-over in
/// doubt is settled with the destination, the slots fenced until then.
pub fn settle_after_promotion(server: &Arc<Server>) {
    let Some(cluster) = server.cluster.as_ref() else {
        return;
    };
    // The old master's finished jobs: CLUSTER INFO and MIGRATION STATUS show them here.
    match server
        .db
        .storage()
        .node_record(crate::migration::JOB_LOG_KEY)
    {
        Ok(Some(log)) => server
            .migrations
            .load_finished(&String::from_utf8_lossy(&log)),
        Ok(None) => {}
        Err(e) => warn!("cannot read the replicated migration job log: {e}"),
    }
    let (importing, in_doubt) = {
        let state = cluster.state.read();
        let importing = state.importing_slots();
        let mut in_doubt: Vec<(String, SlotSet)> = Vec::new();
        for (slot, s) in state.slot_states().iter() {
            if let ferrokv_cluster::SlotState::Fenced { dest_id } = s {
                match in_doubt.iter_mut().find(|(d, _)| d == dest_id) {
                    Some((_, slots)) => {
                        slots.insert(slot);
                    }
                    None => {
                        let mut slots = SlotSet::new();
                        slots.insert(slot);
                        in_doubt.push((dest_id.clone(), slots));
                    }
                }
            }
        }
        (importing, in_doubt)
    };
    if !importing.is_empty() {
        info!("promoted: dropping the uncommitted import of slots {importing}");
        cluster.state.write().set_normal(&importing);
        server.delete_slots(&importing);
    }
    if !importing.is_empty() || !in_doubt.is_empty() {
        if let Err(e) = cluster.save_records() {
            warn!("cannot write migration.conf: {e}");
        }
    }
    for (dest, slots) in in_doubt {
        info!("promoted: settling the cut-over of slots {slots} with {dest}");
        crate::migration::recovery::settle_in_doubt(server, dest, slots);
    }
}
