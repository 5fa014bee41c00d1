//! `ferrokv-ctl failover`: promote a replica to master of its shard, without losing a
//! write its master acknowledged.
//!
//! The sequence is kvrocks-controller's manual failover, made safe: writes on the
//! master are paused (`CLIENT PAUSE <ms> WRITE`), the replica must have applied every
//! batch the master committed (its `slave_repl_offset` equal to the master's
//! `master_repl_offset`, both RocksDB sequence numbers), and only then is the topology
//! with the two roles swapped pushed, the promoted node first. The writes held by the
//! pause then route against the new topology: the old master answers `MOVED` to the
//! new one, so none of them lands on a node that is about to become a replica.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::cluster::{short, Cluster};
use crate::conn::Conn;
use crate::error::{CtlError, Result};
use crate::output::{Ctx, Report};
use crate::slots::SlotSet;
use crate::topology::{NodeEntry, Topology};

/// How long the catch-up may take past the pause before the topology is pushed: the
/// pause is `wait + PUSH_MARGIN`, so it still holds writes while SETNODES goes out.
const PUSH_MARGIN: Duration = Duration::from_secs(10);

/// How often the offsets are read while waiting for the replica.
const POLL: Duration = Duration::from_millis(20);

/// Runs the subcommand: promotes `replica_name` (id, id prefix or host:port), waiting up
/// to `wait` for it to catch up while the master's writes are paused. `force` promotes
/// it even when it did not catch up (the writes it lacks are then lost).
pub fn run(
    ctx: &Ctx,
    seed: &str,
    replica_name: &str,
    force: bool,
    wait: Duration,
) -> Result<Report> {
    let mut cluster = Cluster::load_agreed(seed, ctx.password())?;
    let replica = cluster.topology.find(replica_name)?.clone();
    let Some(master_id) = replica.master.clone() else {
        return Err(CtlError::Refused(format!(
            "{} ({}) is a master, not a replica: give the id of a replica (a `slave` line in CLUSTER NODES)",
            replica.addr(),
            short(&replica.id)
        )));
    };
    let master = match cluster.topology.by_id(&master_id) {
        Some(m) if m.is_master() => m.clone(),
        Some(m) => {
            return Err(CtlError::Refused(format!(
                "{} replicates {}, which is itself a replica; fail over its master's shard instead",
                replica.addr(),
                m.addr()
            )))
        }
        None => {
            return Err(CtlError::Refused(format!(
                "{} replicates {master_id}, which is not in the topology",
                replica.addr()
            )))
        }
    };
    let link = replica_link(cluster.conn(&replica.id)?)?;
    if link.get("role").map(String::as_str) != Some("slave") {
        return Err(CtlError::Refused(format!(
            "{} does not act as a replica yet (INFO replication role:{}); try again when it follows {}",
            replica.addr(),
            link.get("role").map(String::as_str).unwrap_or("?"),
            master.addr()
        )));
    }
    if link.get("master_link_status").map(String::as_str) != Some("up") {
        return Err(CtlError::Refused(format!(
            "the link of {} to its master {} is down (master_link_status:{}); it may lack writes, nothing was changed",
            replica.addr(),
            master.addr(),
            link.get("master_link_status")
                .map(String::as_str)
                .unwrap_or("?")
        )));
    }
    let topology = swapped(&cluster.topology, &master, &replica);
    ctx.say(format!(
        "Failover of {} ({}, {} slots): {} ({}) becomes master, {} its replica; cluster version {}",
        master.addr(),
        short(&master.id),
        master.slots.len(),
        replica.addr(),
        short(&replica.id),
        master.addr(),
        cluster.version
    ));
    ctx.confirm("Fail over?")?;
    cluster.claim()?;

    let pause = wait + PUSH_MARGIN;
    let paused_at = Instant::now();
    let pause_ms = pause.as_millis().to_string();
    cluster
        .conn(&master.id)?
        .text(&["CLIENT", "PAUSE", &pause_ms, "WRITE"])?;
    // From here on every way out lifts the pause on the old master.
    let result = switch(
        ctx,
        &mut cluster,
        &topology,
        &master,
        &replica,
        force,
        wait,
        paused_at + pause,
    );
    if result.is_err() && !unpause_is_safe(&mut cluster, &master, &replica) {
        // The promoted node has the new topology and the old master not: lifting the
        // pause would let the old master take writes as a second master of the slots.
        let e = result.err().map(|e| e.to_string()).unwrap_or_default();
        return Err(CtlError::HandOver(format!(
            "{e}; {} was promoted but {} still believes it is master: its writes stay paused (for {} s at most); push the topology to it now (ferrokv-ctl check {seed} names the command)",
            replica.addr(),
            master.addr(),
            pause.as_secs()
        )));
    }
    let unpaused = cluster
        .conn(&master.id)
        .and_then(|c| c.text(&["CLIENT", "UNPAUSE"]));
    let report = result?;
    if let Err(e) = unpaused {
        // The pause ends by itself when its time is up; the topology is already pushed,
        // so the held writes will get MOVED then.
        ctx.say(format!(
            "warning: CLIENT UNPAUSE on {} failed ({e}); its pause ends by itself within {} s",
            master.addr(),
            pause.as_secs()
        ));
    }
    Ok(report)
}

/// Waits for the catch-up, then pushes the topology; the caller unpauses.
#[allow(clippy::too_many_arguments)]
fn switch(
    ctx: &Ctx,
    cluster: &mut Cluster,
    topology: &Topology,
    master: &NodeEntry,
    replica: &NodeEntry,
    force: bool,
    wait: Duration,
    pause_ends: Instant,
) -> Result<Report> {
    let deadline = Instant::now() + wait;
    let (master_seq, replica_seq) = loop {
        let master_seq = offset(cluster.conn(&master.id)?, "master_repl_offset")?;
        let replica_seq = offset(cluster.conn(&replica.id)?, "slave_repl_offset")?;
        if replica_seq == master_seq {
            // Equal once is not enough when a write that passed the pause check just
            // before it was set commits now: read the master again.
            let again = offset(cluster.conn(&master.id)?, "master_repl_offset")?;
            if again == master_seq {
                break (master_seq, replica_seq);
            }
        }
        if Instant::now() >= deadline {
            break (master_seq, replica_seq);
        }
        std::thread::sleep(POLL);
    };
    let caught_up = master_seq == replica_seq;
    if !caught_up && !force {
        return Err(CtlError::Refused(format!(
            "{} did not catch up with {} within {} ms (applied sequence {replica_seq}, master at {master_seq}); writes were unpaused and nothing was changed (--force promotes it anyway, losing what it lacks)",
            replica.addr(),
            master.addr(),
            wait.as_millis()
        )));
    }
    if !caught_up {
        ctx.say(format!(
            "warning: {} is {} sequence numbers behind {}; promoting it anyway (--force): those writes are lost",
            replica.addr(),
            master_seq.saturating_sub(replica_seq),
            master.addr()
        ));
    }
    if Instant::now() >= pause_ends {
        // Writes may have resumed on the old master: promoting now could drop some
        // that were acknowledged after the check.
        return Err(CtlError::Refused(format!(
            "the write pause on {} ended before the topology could be pushed; nothing was changed, try again",
            master.addr()
        )));
    }
    let version = cluster.push_setnodes_first(topology, &[&replica.id, &master.id])?;
    ctx.say(format!(
        "{} ({}) is master of {} slots at version {version}; {} follows it (applied sequence {replica_seq}, master was at {master_seq})",
        replica.addr(),
        short(&replica.id),
        master.slots.len(),
        master.addr()
    ));
    Ok(Report::ok(json!({
        "promoted": replica.id,
        "promoted_addr": replica.addr(),
        "old_master": master.id,
        "old_master_addr": master.addr(),
        "version": version,
        "master_offset": master_seq,
        "replica_offset": replica_seq,
        "caught_up": caught_up,
    })))
}

/// After a failed switch: whether the old master may take writes again, that is the
/// promoted node has not moved past the old master's version (nothing was pushed to
/// it, or both got the new topology). Unknown counts as unsafe.
fn unpause_is_safe(cluster: &mut Cluster, master: &NodeEntry, replica: &NodeEntry) -> bool {
    let promoted = cluster.conn(&replica.id).and_then(|c| c.version());
    let old = cluster.conn(&master.id).and_then(|c| c.version());
    matches!((promoted, old), (Ok(p), Ok(o)) if p <= o)
}

/// INFO replication of the replica.
fn replica_link(conn: &mut Conn) -> Result<HashMap<String, String>> {
    conn.info("replication")
}

/// A sequence number from INFO replication.
fn offset(conn: &mut Conn, field: &str) -> Result<u64> {
    let info = conn.info("replication")?;
    info.get(field)
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| CtlError::Reply {
            addr: conn.addr.clone(),
            command: "INFO replication".into(),
            detail: format!("no {field} field"),
        })
}

/// The topology with `replica` promoted: it owns `master`'s slots, `master` and every
/// other replica of that shard follow it. Other shards are unchanged.
pub fn swapped(topology: &Topology, master: &NodeEntry, replica: &NodeEntry) -> Topology {
    let mut out = topology.clone();
    for n in out.nodes.iter_mut() {
        if n.id == replica.id {
            n.master = None;
            n.slots = master.slots.clone();
        } else if n.id == master.id || n.master.as_deref() == Some(master.id.as_str()) {
            n.master = Some(replica.id.clone());
            n.slots = SlotSet::new();
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swapping_moves_the_slots_and_the_followers() {
        let text = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa1 127.0.0.1:7001@17001 myself,master - 0 1 3 connected 0-8000\n\
aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa2 127.0.0.1:7002@17002 master - 0 1 3 connected 8001-16383\n\
aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa3 127.0.0.1:7003@17003 slave aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa1 0 1 3 connected\n\
aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa4 127.0.0.1:7004@17004 slave aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa1 0 1 3 connected\n\
aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa5 127.0.0.1:7005@17005 slave aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa2 0 1 3 connected\n";
        let t = Topology::parse_cluster_nodes("x", text).unwrap();
        let m = t.nodes[0].clone();
        let r = t.nodes[2].clone();
        let s = swapped(&t, &m, &r);
        assert_eq!(s.nodes[2].master, None);
        assert_eq!(s.nodes[2].slots.to_string(), "0-8000");
        assert_eq!(s.nodes[0].master.as_deref(), Some(r.id.as_str()));
        assert!(s.nodes[0].slots.is_empty());
        assert_eq!(s.nodes[3].master.as_deref(), Some(r.id.as_str()));
        assert_eq!(s.nodes[4].master.as_deref(), Some(t.nodes[1].id.as_str()));
        assert_eq!(s.nodes[1].slots.to_string(), "8001-16383");
        let text = s.setnodes_text();
        assert!(text.contains("127.0.0.1 7001 slave aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa3"));
        assert!(text.contains("127.0.0.1 7003 master - 0-8000"));
    }
}
