//! The destination side of a migration: `CLUSTER IMPORT` (start, commit, abort), the
//! importing link's `APPLYBATCH`, the abort when the link closes before the commit, and
//! `CLUSTERX MIGRATION IMPORTSTATE`, which a source asks to settle a cut-over in doubt.
//! The connection that sent `CLUSTER IMPORT <slots> 0` is the importing link: routing
//! lets it read and write those slots (`ConnRouting::importing_link`).

use std::sync::Arc;

use bytes::Bytes;
use ferrokv_cluster::{ClusterError, SlotSet, SlotState};
use ferrokv_protocol::Frame;
use ferrokv_storage::SstImport;

use crate::client::{Action, Client, Offload, Offloaded};
use crate::error::CommandError;
use crate::server::Server;

/// `CLUSTER IMPORT <slots> <state>` on the destination.
pub fn import(server: &Server, client: &mut Client, args: &[Bytes]) -> Result<Frame, CommandError> {
    let cluster = server.cluster.as_ref().ok_or(ClusterError::NotEnabled)?;
    let slots = SlotSet::parse(&String::from_utf8_lossy(&args[2]))?;
    let state = match ferrokv_types::numbers::parse_i64(&args[3]) {
        Some(s @ 0..=2) => s,
        _ => return Err(ClusterError::InvalidImportState.into()),
    };
    // A node that became a replica (failover) takes no part in an import any more: the
    // source's job fails (replication.md, "Migration with replicas").
    if server.replication.is_replica() {
        return Err(CommandError::err("Slave can't import slot"));
    }
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
                // Kvrocks' checks and texts (src/cluster/cluster.cc, ImportSlotRange).
                if topology.i_am_slave() {
                    return Err(CommandError::err("Slave can't import slot"));
                }
                if slots.iter().any(|s| {
                    topology.i_own(s)
                        || matches!(topology.slot_state(s), SlotState::Imported { .. })
                }) {
                    // Importing starts by clearing the slots: never for data this node
                    // serves.
                    return Err(CommandError::err("Can't import slot which belongs to me"));
                }
            }
            // A clean slate: leftovers of an earlier attempt must not mix in. Empty
            // slots get no tombstone, so that ingested files overlap nothing and land
            // in the bottommost level (`apply_sst`).
            let storage = server.db.storage();
            let leftovers: SlotSet = slots
                .ranges()
                .into_iter()
                .filter(|(first, last)| {
                    !storage.slot_range_is_empty(*first, *last).unwrap_or(false)
                })
                .flat_map(|(first, last)| first..=last)
                .collect();
            server.delete_slots(&leftovers);
            client.sst_import = None;
            client.sst_done = false;
            cluster.state.write().set_importing(&slots, &source);
            super::save_records(cluster);
            client.importing = Some(slots.clone());
            *server.newest_import.lock() = Some((slots, "start"));
        }
        1 => {
            // Every snapshot file is in before the commit (the tail may be empty).
            finish_sst(server, client)?;
            {
                let topology = cluster.state.read();
                let ours = |s: u16| {
                    matches!(
                        topology.slot_state(s),
                        SlotState::Importing { .. } | SlotState::Imported { .. }
                    )
                };
                if !slots.iter().all(ours) {
                    // A commit for slots whose import was dropped (link closed, abort)
                    // would serve slots this node holds no data for.
                    return Err(CommandError::err(format!(
                        "Can't finish importing slots that are not being imported: {slots}"
                    )));
                }
            }
            // The commit counts only once this shard's replicas hold every imported
            // record (then the commit record too): a replica promoted later serves
            // what was committed, never a part of it (replication.md).
            let timeout =
                std::time::Duration::from_millis(server.config.read().migrate_io_timeout_ms);
            let repl = &server.replication;
            let started = std::time::Instant::now();
            if !repl.wait_all_acked(server.db.storage().latest_sequence(), timeout) {
                return Err(CommandError::err(
                    "the replicas did not acknowledge the imported data in time",
                ));
            }
            cluster.state.write().set_imported(&slots, &source);
            super::save_records(cluster);
            let left = timeout.saturating_sub(started.elapsed());
            if !repl.wait_all_acked(server.db.storage().latest_sequence(), left) {
                // Undone, so that the source's abort leaves one writer.
                cluster.state.write().set_importing(&slots, &source);
                super::save_records(cluster);
                return Err(CommandError::err(
                    "the replicas did not acknowledge the commit in time",
                ));
            }
            client.importing = None;
            *server.newest_import.lock() = Some((slots, "success"));
        }
        _ => {
            // Files not yet ingested are deleted; ingested ones go with the range
            // delete of the abort.
            client.sst_import = None;
            abort_import(server, &slots);
            client.importing = None;
        }
    }
    Ok(Frame::ok())
}

/// Drops an import: its data goes and the slots are routed as before. Only slots still
/// being imported are touched: committed or owned data is never deleted this way.
pub fn abort_import(server: &Server, slots: &SlotSet) {
    let Some(cluster) = server.cluster.as_ref() else {
        return;
    };
    // Not while a link ingests files: they go in first, and the range delete covers
    // them (an ingestion after it would bring the records back).
    let _gate = server.import_gate.lock();
    let importing =
        super::reset_slots_where(cluster, slots, |s| matches!(s, SlotState::Importing { .. }));
    super::save_records(cluster);
    server.delete_slots(&importing);
    *server.newest_import.lock() = Some((slots.clone(), "error"));
}

/// The importing link closed: unless the import committed, what it sent goes.
pub fn link_closed(server: &Server, slots: &SlotSet) {
    tracing::warn!("importing link for slots {slots} closed before commit; dropping the import");
    abort_import(server, slots);
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

/// `APPLYBATCH <raw write batch>`: the importing link ships data. Snapshot records
/// still waiting in SST files are ingested first: a tail write must come after the
/// snapshot record it replaces (an ingested file gets a newer sequence number than
/// everything written before it).
pub fn apply_batch(
    server: &Server,
    client: &mut Client,
    data: &[u8],
) -> Result<Frame, CommandError> {
    finish_sst(server, client)?;
    let Some(slots) = client.importing.as_ref() else {
        // Outside a cluster there is no slot to protect: any well-formed batch of
        // Ferrokv's own records goes in, as Kvrocks' APPLYBATCH takes any (the feed
        // of POLLUPDATES applied elsewhere), replying its size in bytes.
        if server.cluster_enabled() {
            return Err(CommandError::err(
                "APPLYBATCH is only accepted on an importing link",
            ));
        }
        let well_formed = ferrokv_storage::encoding::is_well_formed_key;
        server
            .db
            .storage()
            .write_raw(data, &well_formed)
            .map_err(|e| CommandError::err(e.to_string()))?;
        return Ok(Frame::Integer(data.len() as i64));
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

/// Where importing links stage their SST files (cleared at start-up).
pub fn sst_staging_dir(server: &Server) -> std::path::PathBuf {
    server.config.read().data_dir().join("import-sst")
}

/// `APPLYSST <raw write batch>`: records of the source's snapshot, in ascending key
/// order per column family (puts only); an empty one ends the snapshot. They are built
/// into SST files of `migrate-sst-file-mb` and ingested (no WAL, no memtable) on a
/// blocking thread (`Action::Offload`), unless a replica follows this node, which
/// reads the WAL only: then, with `migrate-sst-file-mb 0`, or after the snapshot's end,
/// they are written as a batch, exactly as `APPLYBATCH` would.
pub fn apply_sst(
    server: &Arc<Server>,
    client: &mut Client,
    data: &Bytes,
) -> Result<Frame, CommandError> {
    let Some(slots) = client.importing.clone() else {
        return Err(CommandError::err(
            "APPLYSST is only accepted on an importing link",
        ));
    };
    let storage = server.db.storage();
    if data.is_empty() {
        // The snapshot's end: what waits in files goes in, before any tail batch.
        client.sst_done = true;
        if let Some(import) = client.sst_import.take() {
            offload(server, client, import, None, slots);
        }
        return Ok(Frame::ok());
    }
    let file_mb = server.config.read().migrate_sst_file_mb;
    let import = match client.sst_import.take() {
        Some(import) => import,
        None if client.sst_done || file_mb == 0 || !server.replication.may_ingest() => {
            let allowed = |key: &[u8]| {
                ferrokv_storage::encoding::slot_of(key).is_some_and(|s| slots.contains(s))
            };
            storage
                .write_raw(data, &allowed)
                .map_err(|e| CommandError::err(e.to_string()))?;
            return Ok(Frame::ok());
        }
        None => {
            let prefix = format!("{}-{}", std::process::id(), client.id());
            storage
                .sst_import(&sst_staging_dir(server), &prefix, file_mb << 20)
                .map_err(|e| CommandError::err(e.to_string()))?
        }
    };
    offload(server, client, import, Some(data.clone()), slots);
    Ok(Frame::ok())
}

/// Adds `data` to the link's SST files (`None`: ingests what waits in them) on a
/// blocking thread; the import comes back to the link unless it failed or ended.
fn offload(
    server: &Arc<Server>,
    client: &mut Client,
    mut import: SstImport,
    data: Option<Bytes>,
    slots: SlotSet,
) {
    let server = server.clone();
    client.action = Some(Action::Offload(Offload::new(move || {
        let reply = ingest_step(&server, &mut import, data.as_deref(), &slots);
        let keep = reply.is_ok() && data.is_some();
        Offloaded {
            reply: reply.map(|()| Frame::ok()),
            sst_import: keep.then_some(import),
        }
    })));
}

/// Adds records to the import (`None`: finishes it), and ingests the files that
/// filled up, if the slots are still being imported and no replica follows this node.
fn ingest_step(
    server: &Server,
    import: &mut SstImport,
    data: Option<&[u8]>,
    slots: &SlotSet,
) -> Result<(), CommandError> {
    let storage = server.db.storage();
    let failed = |e: ferrokv_storage::StorageError| CommandError::err(e.to_string());
    if let Some(data) = data {
        let allowed =
            |key: &[u8]| ferrokv_storage::encoding::slot_of(key).is_some_and(|s| slots.contains(s));
        // Building is the bulk of the work: on a thread at the bulk priority. Ingesting
        // stops the node's writes for a moment and fsyncs RocksDB's manifest: on this
        // thread, at the clients' priority, so that a preempted low-priority thread
        // never holds their writes.
        let (nice, idle_class) = {
            let config = server.config.read();
            (config.migrate_nice, config.migrate_idle_class)
        };
        crate::priority::run_bulk("import-build", nice, idle_class, || {
            import.add(storage, data, &allowed)
        })
        .map_err(|e| CommandError::err(format!("cannot start a build thread: {e}")))?
        .unwrap_or(Err(ferrokv_storage::StorageError::Refused(
            "the SST build thread panicked",
        )))
        .map_err(failed)?;
        if !import.full() {
            return Ok(());
        }
    }
    // An abort takes the gate too: files go in only before its range delete.
    let _gate = server.import_gate.lock();
    let importing = server.cluster.as_ref().is_some_and(|cluster| {
        let state = cluster.state.read();
        slots
            .iter()
            .all(|s| matches!(state.slot_state(s), SlotState::Importing { .. }))
    });
    if !importing {
        return Err(CommandError::err(format!(
            "slots {slots} are no longer being imported"
        )));
    }
    server
        .replication
        .ingest_unreplicated(storage, || {
            let before = import.ingested_files;
            let done = match data {
                Some(_) => import.ingest_full(),
                None => import.finish(),
            };
            server.stats.imported_sst_files.fetch_add(
                import.ingested_files - before,
                std::sync::atomic::Ordering::Relaxed,
            );
            done?;
            Ok(import.ingested_files > before)
        })
        .unwrap_or(Err(ferrokv_storage::StorageError::Refused(
            "a replica attached during an SST import; retry the migration (it then ships batches)",
        )))
        .map_err(failed)
}

/// Ingests the snapshot records of the link still waiting in SST files (on this
/// thread: a source that announced the snapshot's end left nothing waiting).
fn finish_sst(server: &Server, client: &mut Client) -> Result<(), CommandError> {
    client.sst_done = true;
    let Some(mut import) = client.sst_import.take() else {
        return Ok(());
    };
    if !import.pending() {
        return Ok(());
    }
    let Some(slots) = client.importing.clone() else {
        return Ok(());
    };
    ingest_step(server, &mut import, None, &slots)
}
