//! Cluster commands (Kvrocks-compatible): CLUSTERX for the controller, CLUSTER for
//! clients and tools, and the per-connection ASKING/READONLY/READWRITE flags.

use bytes::Bytes;
use ferrokv_cluster::{
    cluster_info, cluster_nodes, cluster_replicas, cluster_shards, cluster_slots,
    parse_setnodes_args, parse_setslot_args, ClusterError, NodeAddr, SetNodesOutcome, SlotSet,
    NODE_ID_LEN,
};
use ferrokv_protocol::Frame;

use super::{int_arg, is, text};
use crate::command::{cmd, flags::*, CommandSpec};
use crate::context::Context;
use crate::error::{CmdResult, CommandError};

/// The node's cluster state; `Cluster mode is not enabled` on a standalone node.
fn cluster_of<'a>(ctx: &Context<'a>) -> Result<&'a crate::cluster::Cluster, CommandError> {
    ctx.server
        .cluster
        .as_ref()
        .ok_or_else(|| ClusterError::NotEnabled.into())
}

fn clusterx(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    let cluster = cluster_of(ctx)?;
    let sub = &args[1];
    let rest: Vec<&[u8]> = args[2..].iter().map(|a| a.as_ref()).collect();
    if is(sub, "VERSION") && rest.is_empty() {
        Ok(Frame::bulk(cluster.state.read().version().to_string()))
    } else if is(sub, "MYID") && rest.is_empty() {
        Ok(Frame::bulk(
            cluster.state.read().myid().unwrap_or("").to_string(),
        ))
    } else if is(sub, "SETNODEID") && rest.len() == 1 && rest[0].len() == NODE_ID_LEN {
        change_topology(ctx.server, |state| {
            state.set_node_id(&text(rest[0])).map(|_| SlotSet::new())
        })?;
        Ok(Frame::ok())
    } else if is(sub, "SETNODES") && (2..=3).contains(&rest.len()) {
        let parsed = parse_setnodes_args(&rest)?;
        let (bind, port) = {
            let config = ctx.server.config.read();
            (config.bind_addrs(), config.port)
        };
        change_topology(ctx.server, |state| {
            match state.set_nodes(&parsed.nodes, parsed.version, parsed.force, &bind, port)? {
                SetNodesOutcome::Unchanged => Ok(SlotSet::new()),
                SetNodesOutcome::Applied {
                    slots_to_delete, ..
                } => Ok(slots_to_delete),
            }
        })?;
        Ok(Frame::ok())
    } else if is(sub, "MIGRATE") && (2..=4).contains(&rest.len()) {
        let (job, wait) = crate::migration::source::start(ctx.server, args)?;
        match wait {
            None => Ok(Frame::ok()),
            Some(timeout) => {
                let id = Bytes::from(job.id.clone());
                let retry = vec![
                    Bytes::from_static(b"CLUSTERX"),
                    Bytes::from_static(b"MIGRATION"),
                    Bytes::from_static(b"RESULT"),
                    id,
                ];
                ctx.block(
                    vec![crate::migration::job_key(&job.id)],
                    timeout,
                    Frame::Null,
                    Some(retry),
                )
            }
        }
    } else if is(sub, "MIGRATION") && !rest.is_empty() {
        migration(ctx, &rest)
    } else if is(sub, "FLUSHSLOTS") && !rest.is_empty() {
        // Kvrocks' form is one argument holding the list (`"0 2 4 6-9"`); its release
        // notes also show the ranges as separate arguments: both are read.
        let mut slots = SlotSet::new();
        for arg in &rest {
            slots.union_with(&SlotSet::parse(&text(arg))?);
        }
        ctx.server.flush_slots(&slots)?;
        Ok(Frame::ok())
    } else if is(sub, "SETSLOT") && rest.len() == 4 {
        let parsed = parse_setslot_args(&rest)?;
        change_topology(ctx.server, |state| {
            state
                .set_slot(&parsed.slots, &parsed.node_id, parsed.version)
                .map(|outcome| outcome.slots_to_delete)
        })?;
        Ok(Frame::ok())
    } else {
        Err(ClusterError::ClusterxUsage.into())
    }
}

fn node_addr(node: &NodeAddr) -> Frame {
    Frame::Array(vec![
        Frame::bulk(node.host.clone()),
        Frame::Integer(node.port.into()),
        Frame::bulk(node.id.clone()),
    ])
}

fn slot_arg(arg: &[u8]) -> Result<u16, CommandError> {
    ferrokv_types::numbers::parse_i64(arg)
        .and_then(|n| u16::try_from(n).ok())
        .filter(|n| *n <= ferrokv_keyslot::MAX_SLOT)
        .ok_or_else(|| CommandError::err("Invalid slot"))
}

fn cluster(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    let sub = &args[1];
    let argc = args.len();
    if is(sub, "KEYSLOT") && argc == 3 {
        // Works before the topology is set, and on any node.
        return Ok(Frame::Integer(ferrokv_keyslot::key_slot(&args[2]).into()));
    }
    let cluster = cluster_of(ctx)?;
    if is(sub, "INFO") && argc == 2 {
        let state = cluster.state.read();
        Ok(Frame::bulk(cluster_info(
            &state,
            &crate::migration::info_lines(ctx.server),
        )?))
    } else if is(sub, "NODES") && argc == 2 {
        let markers = crate::migration::node_markers(ctx.server);
        let state = cluster.state.read();
        Ok(Frame::bulk(cluster_nodes(&state, &markers)?))
    } else if is(sub, "SLOTS") && argc == 2 {
        let state = cluster.state.read();
        let entries = cluster_slots(&state)?
            .iter()
            .map(|entry| {
                let mut fields = vec![
                    Frame::Integer(entry.start.into()),
                    Frame::Integer(entry.end.into()),
                    node_addr(&entry.master),
                ];
                fields.extend(entry.replicas.iter().map(node_addr));
                Frame::Array(fields)
            })
            .collect();
        Ok(Frame::Array(entries))
    } else if is(sub, "SHARDS") && argc == 2 {
        let state = cluster.state.read();
        let shards = cluster_shards(&state)?
            .into_iter()
            .map(|shard| {
                let nodes = shard
                    .nodes
                    .into_iter()
                    .map(|n| {
                        Frame::Map(vec![
                            (Frame::bulk_from_str("id"), Frame::bulk(n.id)),
                            (Frame::bulk_from_str("port"), Frame::Integer(n.port.into())),
                            (Frame::bulk_from_str("ip"), Frame::bulk(n.ip)),
                            (Frame::bulk_from_str("endpoint"), Frame::bulk(n.endpoint)),
                            (Frame::bulk_from_str("role"), Frame::bulk_from_str(n.role)),
                            (
                                Frame::bulk_from_str("replication-offset"),
                                Frame::Integer(n.replication_offset),
                            ),
                            (
                                Frame::bulk_from_str("health"),
                                Frame::bulk_from_str(n.health),
                            ),
                        ])
                    })
                    .collect();
                Frame::Map(vec![
                    (
                        Frame::bulk_from_str("slots"),
                        Frame::Array(
                            shard
                                .slots
                                .into_iter()
                                .map(|s| Frame::Integer(s.into()))
                                .collect(),
                        ),
                    ),
                    (Frame::bulk_from_str("nodes"), Frame::Array(nodes)),
                ])
            })
            .collect();
        Ok(Frame::Array(shards))
    } else if is(sub, "IMPORT") && argc == 4 {
        crate::migration::import::import(ctx.server, ctx.client, args)
    } else if is(sub, "MYID") && argc == 2 {
        Ok(Frame::bulk(
            cluster.state.read().myid().unwrap_or("").to_string(),
        ))
    } else if is(sub, "REPLICAS") && argc == 3 {
        let state = cluster.state.read();
        Ok(Frame::bulk(cluster_replicas(&state, &text(&args[2]))?))
    } else if is(sub, "COUNTKEYSINSLOT") && argc == 3 {
        let slot = slot_arg(&args[2])?;
        let hidden = cluster.hidden_slots().contains(slot);
        let count = if hidden {
            0
        } else {
            ctx.server.db.count_keys_in_slot(slot)?
        };
        Ok(Frame::Integer(count as i64))
    } else if is(sub, "GETKEYSINSLOT") && argc == 4 {
        let slot = slot_arg(&args[2])?;
        let limit = int_arg(&args[3])
            .ok()
            .filter(|n| *n >= 0)
            .ok_or_else(|| CommandError::err("Invalid slot or number of keys"))?;
        let hidden = cluster.hidden_slots().contains(slot);
        let keys = if hidden {
            Vec::new()
        } else {
            ctx.server.db.keys_in_slot(slot, limit as usize)?
        };
        Ok(super::bulk_array(keys))
    } else if is(sub, "RESET")
        && (argc == 2 || (argc == 3 && (is(&args[2], "HARD") || is(&args[2], "SOFT"))))
    {
        let state = cluster.state.read();
        // Slots migrated away and not yet handed over do not stop a reset: the job has
        // ended, and the reset forgets their records with the topology
        // (kvrocks-controller resets a node it removed this way, after FLUSHALL).
        if !state.fenced_slots().is_empty() || !ctx.server.migrations.running().is_empty() {
            return Err(ClusterError::ResetWhileMigrating.into());
        }
        if !state.importing_slots().is_empty() {
            return Err(ClusterError::ResetWhileImporting.into());
        }
        drop(state);
        if ctx.server.db.dbsize(&|_| true)? > 0 {
            return Err(ClusterError::ResetDbNotEmpty.into());
        }
        cluster.state.write().reset();
        cluster.remove_topology_file()?;
        cluster
            .save_records()
            .map_err(|e| CommandError::err(format!("cannot write migration.conf: {e}")))?;
        // No topology, no master: a replica becomes a master (as in Kvrocks).
        crate::replication::follow_topology(ctx.server);
        Ok(Frame::ok())
    } else {
        Err(ClusterError::ClusterUsage.into())
    }
}

/// `CLUSTERX MIGRATION STATUS [id] | CANCEL id|ALL` (and RESULT id, what a `sync`
/// MIGRATE waits on).
fn migration(ctx: &mut Context<'_>, rest: &[&[u8]]) -> CmdResult {
    let migrations = &ctx.server.migrations;
    let no_such = || CommandError::err("No such migration job");
    match rest {
        [sub] if is(sub, "STATUS") => Ok(Frame::Array(
            migrations.all().iter().map(|j| status_frame(j)).collect(),
        )),
        [sub, id] if is(sub, "STATUS") => {
            let job = migrations.get(&text(id)).ok_or_else(no_such)?;
            Ok(Frame::Array(vec![status_frame(&job)]))
        }
        [sub, id] if is(sub, "CANCEL") => {
            let targets: Vec<_> = if is(id, "ALL") {
                migrations.running()
            } else {
                let job = migrations.get(&text(id)).ok_or_else(no_such)?;
                if !job.is_running() {
                    return Err(no_such());
                }
                vec![job]
            };
            for job in &targets {
                job.request_cancel();
            }
            Ok(Frame::Integer(targets.len() as i64))
        }
        [sub, slots] if is(sub, "IMPORTSTATE") => {
            let slots = SlotSet::parse(&text(slots))?;
            Ok(Frame::bulk_from_str(
                crate::migration::import::import_state(ctx.server, &slots),
            ))
        }
        [sub, id] if is(sub, "RESULT") => {
            let job = migrations.get(&text(id)).ok_or_else(no_such)?;
            if job.is_running() {
                return ctx.block(
                    vec![crate::migration::job_key(&job.id)],
                    None,
                    Frame::Null,
                    None,
                );
            }
            Ok(crate::migration::source::outcome(&job))
        }
        _ => Err(ClusterError::ClusterxUsage.into()),
    }
}

fn status_frame(job: &ferrokv_migration::Job) -> Frame {
    let s = job.status();
    let field = |name: &str, value: Frame| (Frame::bulk_from_str(name), value);
    Frame::Map(vec![
        field("id", Frame::bulk(s.id)),
        field("slots", Frame::bulk(s.slots)),
        field("source", Frame::bulk(s.source)),
        field("destination", Frame::bulk(s.destination)),
        field("state", Frame::bulk_from_str(s.state.name())),
        field("phase", Frame::bulk_from_str(s.phase.name())),
        field("keys_total", Frame::Integer(s.keys_total)),
        field("keys_sent", Frame::Integer(s.keys_sent as i64)),
        field("bytes_total", Frame::Integer(s.bytes_total)),
        field("bytes_sent", Frame::Integer(s.bytes_sent as i64)),
        field("percent", Frame::Integer(s.percent)),
        field(
            "rate_bytes_per_sec",
            Frame::Integer(s.rate_bytes_per_sec as i64),
        ),
        field("eta_ms", Frame::Integer(s.eta_ms)),
        field("started_at_ms", Frame::Integer(s.started_at_ms as i64)),
        field("elapsed_ms", Frame::Integer(s.elapsed_ms as i64)),
        field("fence_ms", Frame::Integer(s.fence_ms as i64)),
        field("error", Frame::bulk(s.error)),
    ])
}

/// `APPLYBATCH <raw write batch> [LOWPRI]`: on an importing link, a migration's tail;
/// elsewhere outside a cluster, Kvrocks' general form (LOWPRI accepted, as Kvrocks).
fn applybatch(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    match args.get(2) {
        None => {}
        Some(option) if args.len() == 3 && is(option, "LOWPRI") => {}
        Some(_) if args.len() > 3 => return Err(CommandError::WrongArity("applybatch".into())),
        Some(_) => return Err(CommandError::err("only support LOWPRI option")),
    }
    crate::migration::import::apply_batch(ctx.server, ctx.client, &args[1])
}

fn applysst(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    crate::migration::import::apply_sst(ctx.server, ctx.client, &args[1])
}

fn asking(ctx: &mut Context<'_>, _args: &[Bytes]) -> CmdResult {
    cluster_of(ctx)?;
    ctx.client.asking = true;
    Ok(Frame::ok())
}

fn readonly(ctx: &mut Context<'_>, _args: &[Bytes]) -> CmdResult {
    cluster_of(ctx)?;
    ctx.client.readonly = true;
    Ok(Frame::ok())
}

fn readwrite(ctx: &mut Context<'_>, _args: &[Bytes]) -> CmdResult {
    cluster_of(ctx)?;
    ctx.client.readonly = false;
    Ok(Frame::ok())
}

/// A topology change (`Server::update_topology`), then the replication role it gives
/// this node (a `slave` line: follow that master; otherwise a master).
fn change_topology(
    server: &std::sync::Arc<crate::server::Server>,
    change: impl FnOnce(&mut ferrokv_cluster::ClusterState) -> Result<SlotSet, ClusterError>,
) -> Result<(), CommandError> {
    server.update_topology(change)?;
    crate::replication::follow_topology(server);
    Ok(())
}

#[rustfmt::skip]
pub const COMMANDS: &[CommandSpec] = &[
    cmd("clusterx", -2, ADMIN | NO_MULTI | STALE, 0, 0, 0, clusterx, "cluster", "Topology administration (VERSION, MYID, SETNODEID, SETNODES, SETSLOT), slot migration (MIGRATE, MIGRATION) and FLUSHSLOTS."),
    cmd("cluster", -2, STALE, 0, 0, 0, cluster, "cluster", "Cluster information (INFO, NODES, SLOTS, SHARDS, MYID, KEYSLOT, COUNTKEYSINSLOT, GETKEYSINSLOT, REPLICAS, RESET)."),
    cmd("asking", 1, FAST, 0, 0, 0, asking, "cluster", "Lets the next command run on a slot being imported."),
    cmd("applybatch", -2, WRITE | ADMIN | NO_MULTI, 0, 0, 0, applybatch, "cluster", "Applies a raw write batch: a migration's on an importing link, any outside a cluster (Kvrocks)."),
    cmd("applysst", 2, WRITE | ADMIN | NO_MULTI, 0, 0, 0, applysst, "cluster", "Adds sorted snapshot records to the SST files an importing link builds and ingests (slot migration)."),
    cmd("readonly", 1, FAST, 0, 0, 0, readonly, "cluster", "Lets a replica serve reads of its master's slots."),
    cmd("readwrite", 1, FAST, 0, 0, 0, readwrite, "cluster", "Ends READONLY."),
];
