//! `ferrokv-ctl create`: a cluster from fresh nodes.

use serde_json::json;

use crate::conn::Conn;
use crate::error::{CtlError, Result};
use crate::output::{Ctx, Report};
use crate::slots::{SlotSet, SLOTS};
use crate::topology::{new_node_id, split_addr, NodeEntry, Topology};

/// Runs the subcommand.
pub fn run(ctx: &Ctx, addrs: &[String], replicas: usize) -> Result<Report> {
    let group = replicas + 1;
    if !addrs.len().is_multiple_of(group) {
        return Err(CtlError::Usage(format!(
            "{} nodes cannot make masters with {replicas} replicas each",
            addrs.len()
        )));
    }
    let masters = addrs.len() / group;
    for (i, a) in addrs.iter().enumerate() {
        split_addr(a)?;
        if addrs[..i].contains(a) {
            return Err(CtlError::Usage(format!("{a} is given twice")));
        }
    }
    let mut conns = Vec::new();
    for a in addrs {
        let mut c = Conn::open(a, ctx.password())?;
        let cluster_info = c.info("cluster")?;
        if cluster_info.get("cluster_enabled").map(String::as_str) != Some("1") {
            return Err(CtlError::Refused(format!(
                "{a} runs without cluster mode (start it with --cluster-enabled yes)"
            )));
        }
        let v = c.version()?;
        if v >= 0 {
            return Err(CtlError::Refused(format!(
                "{a} is already in a cluster (version {v}); CLUSTER RESET HARD it first"
            )));
        }
        let keys = c.int(&["DBSIZE"])?;
        if keys > 0 {
            return Err(CtlError::Refused(format!(
                "{a} holds {keys} keys; FLUSHALL it first"
            )));
        }
        conns.push(c);
    }
    let mut nodes = Vec::new();
    for (i, a) in addrs.iter().enumerate() {
        let (host, port) = split_addr(a)?;
        let (master, slots) = if i < masters {
            let lo = i * SLOTS / masters;
            let hi = (i + 1) * SLOTS / masters - 1;
            let mut s = SlotSet::new();
            s.insert_range(lo as u16, hi as u16);
            (None, s)
        } else {
            let m: &NodeEntry = &nodes[(i - masters) % masters];
            (Some(m.id.clone()), SlotSet::new())
        };
        nodes.push(NodeEntry {
            id: new_node_id(),
            host,
            port,
            master,
            slots,
        });
    }
    let topology = Topology { nodes };
    for n in &topology.nodes {
        match &n.master {
            None => ctx.say(format!("master {} {} slots {}", n.addr(), n.id, n.slots)),
            Some(m) => ctx.say(format!("replica {} {} of {m}", n.addr(), n.id)),
        }
    }
    ctx.confirm("Create this cluster?")?;
    let text = topology.setnodes_text();
    for (c, n) in conns.iter_mut().zip(&topology.nodes) {
        c.text(&["CLUSTERX", "SETNODEID", &n.id])?;
    }
    for c in conns.iter_mut() {
        c.text(&["CLUSTERX", "SETNODES", &text, "1"])?;
    }
    ctx.say(format!("Cluster created: {} masters, version 1", masters));
    let nodes: Vec<_> = topology
        .nodes
        .iter()
        .map(|n| {
            json!({"id": n.id, "addr": n.addr(), "master": n.master, "slots": n.slots.to_string()})
        })
        .collect();
    Ok(Report::ok(json!({"version": 1, "nodes": nodes})))
}
