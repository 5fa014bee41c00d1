//! `ferrokv-ctl add-node` and `del-node`.

use serde_json::json;

use crate::cluster::{short, Cluster};
use crate::conn::Conn;
use crate::error::{CtlError, Result};
use crate::output::{Ctx, Report};
use crate::slots::SlotSet;
use crate::topology::{new_node_id, split_addr, NodeEntry};

/// Adds a fresh node as an empty master, or a replica of `replica_of`.
pub fn add(ctx: &Ctx, new: &str, existing: &str, replica_of: Option<&str>) -> Result<Report> {
    let (host, port) = split_addr(new)?;
    let mut cluster = Cluster::load_agreed(existing, ctx.password())?;
    if cluster.topology.nodes.iter().any(|n| n.addr() == new) {
        return Err(CtlError::Usage(format!("{new} is already in the cluster")));
    }
    let master = match replica_of {
        Some(name) => {
            let m = cluster.topology.find(name)?;
            if !m.is_master() {
                return Err(CtlError::Usage(format!("{name} is not a master")));
            }
            Some(m.id.clone())
        }
        None => None,
    };
    let mut conn = Conn::open(new, ctx.password())?;
    let cluster_info = conn.info("cluster")?;
    if cluster_info.get("cluster_enabled").map(String::as_str) != Some("1") {
        return Err(CtlError::Refused(format!(
            "{new} runs without cluster mode (start it with --cluster-enabled yes)"
        )));
    }
    let v = conn.version()?;
    if v >= 0 {
        return Err(CtlError::Refused(format!(
            "{new} is already in a cluster (version {v}); CLUSTER RESET HARD it first"
        )));
    }
    let keys = conn.int(&["DBSIZE"])?;
    if keys > 0 {
        return Err(CtlError::Refused(format!(
            "{new} holds {keys} keys; FLUSHALL it first"
        )));
    }
    let id = new_node_id();
    let mut topology = cluster.topology.clone();
    topology.nodes.push(NodeEntry {
        id: id.clone(),
        host,
        port,
        master: master.clone(),
        slots: SlotSet::new(),
    });
    cluster.claim()?;
    conn.text(&["CLUSTERX", "SETNODEID", &id])?;
    let version = cluster.push_setnodes(&topology, &mut [&mut conn])?;
    ctx.say(format!(
        "Added {new} as {} {id}, version {version}",
        match &master {
            Some(m) => format!("replica of {}:", short(m)),
            None => "master".to_string(),
        }
    ));
    Ok(Report::ok(
        json!({"id": id, "addr": new, "master": master, "version": version}),
    ))
}

/// Removes a node that owns no slots, then empties and resets it.
pub fn del(ctx: &Ctx, seed: &str, name: &str) -> Result<Report> {
    let mut cluster = Cluster::load_agreed(seed, ctx.password())?;
    let target = cluster.topology.find(name)?.clone();
    if !target.slots.is_empty() {
        return Err(CtlError::Refused(format!(
            "{} owns {} slots; move them first (ferrokv-ctl rebalance {seed} --weight {}=0, or reshard)",
            target.addr(),
            target.slots.len(),
            target.id
        )));
    }
    let replicas: Vec<String> = cluster
        .topology
        .replicas_of(&target.id)
        .map(|r| r.addr())
        .collect();
    if !replicas.is_empty() {
        return Err(CtlError::Refused(format!(
            "{} has replicas ({}); remove them first",
            target.addr(),
            replicas.join(", ")
        )));
    }
    if cluster.topology.nodes.len() == 1 {
        return Err(CtlError::Refused(
            "it is the last node of the cluster".into(),
        ));
    }
    let mut topology = cluster.topology.clone();
    topology.nodes.retain(|n| n.id != target.id);
    cluster.claim()?;
    let version = cluster.push_setnodes(&topology, &mut [])?;
    let conn = cluster.conn(&target.id)?;
    conn.text(&["FLUSHALL"])?;
    conn.text(&["CLUSTER", "RESET", "HARD"])?;
    ctx.say(format!(
        "Removed {} ({}); the cluster is at version {version}; the node was flushed and reset",
        target.addr(),
        target.id
    ));
    Ok(Report::ok(
        json!({"removed": target.id, "addr": target.addr(), "version": version}),
    ))
}
