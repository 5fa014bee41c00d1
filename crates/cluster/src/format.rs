//! Replies of CLUSTER INFO, NODES, REPLICAS, SLOTS and SHARDS, as text or plain data that
//! the server encodes in RESP.

use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::ClusterError;
use crate::slots::SlotSet;
use crate::topology::{ClusterNode, ClusterState, Role};

/// CLUSTER INFO. `extra_lines` (the migration and import blocks, already `\r\n`-ended,
/// see [`migration_info_block`] / [`import_info_block`]) is appended as is; the caller
/// passes it only on a master, as Kvrocks does.
pub fn cluster_info(state: &ClusterState, extra_lines: &str) -> Result<String, ClusterError> {
    state.check_initialised()?;
    let assigned = state.assigned_slots();
    let version = state.version();
    let mut out = String::with_capacity(256 + extra_lines.len());
    let _ = write!(
        out,
        "cluster_state:ok\r\n\
         cluster_slots_assigned:{assigned}\r\n\
         cluster_slots_ok:{assigned}\r\n\
         cluster_slots_pfail:0\r\n\
         cluster_slots_fail:0\r\n\
         cluster_known_nodes:{}\r\n\
         cluster_size:{}\r\n\
         cluster_current_epoch:{version}\r\n\
         cluster_my_epoch:{version}\r\n",
        state.nodes().len(),
        state.cluster_size(),
    );
    out.push_str(extra_lines);
    Ok(out)
}

/// Kvrocks' migration block of CLUSTER INFO (`state`: start|success|fail).
pub fn migration_info_block(slots: &SlotSet, dest_id: &str, state: &str) -> String {
    format!(
        "migrating_slot(s): {slots}\r\ndestination_node: {dest_id}\r\nmigrating_state: {state}\r\n"
    )
}

/// Kvrocks' import block of CLUSTER INFO (`state`: start|success|error).
pub fn import_info_block(slots: &SlotSet, state: &str) -> String {
    format!("importing_slot(s): {slots}\r\nimport_state: {state}\r\n")
}

/// The marker of a running migration on this node's CLUSTER NODES line: one
/// ` [<range>->-<dst>]` per range, so that no bracket holds a space that would break
/// clients splitting the line into fields.
pub fn migrating_marker(slots: &SlotSet, dest_id: &str) -> String {
    marker(slots, "->-", dest_id)
}

/// The marker of a running import: one ` [<range>-<-<src>]` per range.
pub fn importing_marker(slots: &SlotSet, source_id: &str) -> String {
    marker(slots, "-<-", source_id)
}

fn marker(slots: &SlotSet, arrow: &str, id: &str) -> String {
    let mut out = String::new();
    for (start, end) in slots.ranges() {
        if start == end {
            let _ = write!(out, " [{start}{arrow}{id}]");
        } else {
            let _ = write!(out, " [{start}-{end}{arrow}{id}]");
        }
    }
    out
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// CLUSTER NODES, with Kvrocks' ping-sent / pong-received fields (`now - 1`, `now` in
/// milliseconds: every node always looks freshly reachable, as there is no gossip).
pub fn cluster_nodes(state: &ClusterState, my_extra: &str) -> Result<String, ClusterError> {
    cluster_nodes_at(state, my_extra, now_ms())
}

/// [`cluster_nodes`] at a given time, for deterministic output.
///
/// One line per node in topology order:
/// `<id> <host>:<port>@<port+10000> <flags> <master-id|-> <ping> <pong> <version> connected[ <ranges>]`
/// and `my_extra` (e.g. [`migrating_marker`]) at the end of this node's own line. Every
/// line carries the cluster version, slaves included, as in Kvrocks.
pub fn cluster_nodes_at(
    state: &ClusterState,
    my_extra: &str,
    now_ms: u64,
) -> Result<String, ClusterError> {
    state.check_initialised()?;
    let me = state.myid();
    let mut out = String::new();
    for n in state.nodes() {
        let is_me = me == Some(n.id.as_str());
        node_line_head(&mut out, n, is_me);
        let _ = write!(
            out,
            " {} {} {} connected",
            now_ms.saturating_sub(1),
            now_ms,
            state.version()
        );
        if n.is_master() && !n.slots.is_empty() {
            let _ = write!(out, " {}", n.slots);
        }
        if is_me {
            out.push_str(my_extra);
        }
        out.push('\n');
    }
    Ok(out)
}

fn node_line_head(out: &mut String, n: &ClusterNode, is_me: bool) {
    let _ = write!(out, "{} {}:{}@{} ", n.id, n.host, n.port, n.bus_port());
    if is_me {
        out.push_str("myself,");
    }
    match (n.role, &n.master_id) {
        (Role::Slave, Some(master)) => {
            let fail = if n.failed { ",fail" } else { "" };
            let _ = write!(out, "slave{fail} {master}");
        }
        _ => out.push_str("master -"),
    }
}

/// CLUSTER REPLICAS <id>: the CLUSTER NODES lines of the master's slaves (Kvrocks
/// prints them without the `myself` flag).
pub fn cluster_replicas(state: &ClusterState, master_id: &str) -> Result<String, ClusterError> {
    cluster_replicas_at(state, master_id, now_ms())
}

/// [`cluster_replicas`] at a given time.
pub fn cluster_replicas_at(
    state: &ClusterState,
    master_id: &str,
    now_ms: u64,
) -> Result<String, ClusterError> {
    state.check_initialised()?;
    let mut out = String::new();
    for n in state.replicas_of(master_id)? {
        node_line_head(&mut out, n, false);
        let _ = writeln!(
            out,
            " {} {} {} connected",
            now_ms.saturating_sub(1),
            now_ms,
            state.version()
        );
    }
    Ok(out)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeAddr {
    pub host: String,
    pub port: u16,
    pub id: String,
}

impl NodeAddr {
    fn of(n: &ClusterNode) -> Self {
        NodeAddr {
            host: n.host.clone(),
            port: n.port,
            id: n.id.clone(),
        }
    }
}

/// One CLUSTER SLOTS entry: `[start, end, [host, port, id], [replica...]...]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotsEntry {
    pub start: u16,
    pub end: u16,
    pub master: NodeAddr,
    pub replicas: Vec<NodeAddr>,
}

/// CLUSTER SLOTS: one entry per maximal run of slots with the same owner, ascending.
pub fn cluster_slots(state: &ClusterState) -> Result<Vec<SlotsEntry>, ClusterError> {
    state.check_initialised()?;
    let mut out = Vec::new();
    let mut run: Option<(u16, u16, &ClusterNode)> = None;
    for slot in 0..=ferrokv_keyslot::MAX_SLOT {
        let owner = state.serving_node(slot);
        match (&mut run, owner) {
            (Some((_, end, cur)), Some(o)) if std::ptr::eq(*cur, o) => *end = slot,
            _ => {
                if let Some((start, end, n)) = run.take() {
                    out.push(slots_entry(state, start, end, n));
                }
                run = owner.map(|o| (slot, slot, o));
            }
        }
    }
    if let Some((start, end, n)) = run {
        out.push(slots_entry(state, start, end, n));
    }
    Ok(out)
}

fn slots_entry(state: &ClusterState, start: u16, end: u16, n: &ClusterNode) -> SlotsEntry {
    SlotsEntry {
        start,
        end,
        master: NodeAddr::of(n),
        replicas: state
            .replicas_of(&n.id)
            .unwrap_or_default()
            .into_iter()
            .map(NodeAddr::of)
            .collect(),
    }
}

/// A node of a CLUSTER SHARDS entry, with Redis 7's fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardNode {
    pub id: String,
    pub port: u16,
    pub ip: String,
    pub endpoint: String,
    /// `master` or `replica`.
    pub role: &'static str,
    /// 0 here; the server may fill in its own offset for its own entry.
    pub replication_offset: i64,
    /// Always `online`: without gossip there is no failure detection.
    pub health: &'static str,
}

/// One CLUSTER SHARDS entry: a master and its replicas.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shard {
    /// Flat `start, end, start, end, ...` as Redis sends it.
    pub slots: Vec<u16>,
    pub nodes: Vec<ShardNode>,
}

/// CLUSTER SHARDS: one shard per master in topology order (masters without slots too,
/// as in Redis), its replicas after it. A slave whose master is unknown forms a shard
/// of its own, with no slots, so that it is not hidden.
pub fn cluster_shards(state: &ClusterState) -> Result<Vec<Shard>, ClusterError> {
    state.check_initialised()?;
    let shard_node = |n: &ClusterNode| ShardNode {
        id: n.id.clone(),
        port: n.port,
        ip: n.host.clone(),
        endpoint: n.host.clone(),
        role: if n.is_master() { "master" } else { "replica" },
        replication_offset: 0,
        health: "online",
    };
    let mut out = Vec::new();
    for n in state.nodes() {
        let orphan = !n.is_master()
            && n.master_id
                .as_deref()
                .and_then(|m| state.node(m))
                .is_none_or(|m| !m.is_master());
        if n.is_master() {
            let mut nodes = vec![shard_node(n)];
            nodes.extend(
                state
                    .replicas_of(&n.id)
                    .unwrap_or_default()
                    .into_iter()
                    .map(shard_node),
            );
            out.push(Shard {
                slots: state
                    .serving_slots(&n.id)
                    .ranges()
                    .into_iter()
                    .flat_map(|(a, b)| [a, b])
                    .collect(),
                nodes,
            });
        } else if orphan {
            out.push(Shard {
                slots: Vec::new(),
                nodes: vec![shard_node(n)],
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::tests::{state_as, A, B, S};

    #[test]
    fn not_initialised_is_clusterdown() {
        let st = ClusterState::new();
        for r in [
            cluster_info(&st, "").map(|_| ()),
            cluster_nodes(&st, "").map(|_| ()),
            cluster_slots(&st).map(|_| ()),
            cluster_shards(&st).map(|_| ()),
            cluster_replicas(&st, A).map(|_| ()),
        ] {
            assert_eq!(
                r.unwrap_err().resp_text(),
                "CLUSTERDOWN The cluster is not initialized"
            );
        }
    }

    #[test]
    fn slots_and_shards_name_who_serves_after_a_commit() {
        // Source A migrated 100-200 to B; the topology still says A.
        let mut src = state_as(30002);
        src.set_migrated_away(&SlotSet::parse("100-200").unwrap(), B)
            .unwrap();
        let slots = cluster_slots(&src).unwrap();
        let runs: Vec<(u16, u16, u16)> = slots
            .iter()
            .map(|e| (e.start, e.end, e.master.port))
            .collect();
        assert_eq!(
            runs,
            vec![
                (0, 99, 30002),
                (100, 200, 30003),
                (201, 8191, 30002),
                (8192, 16383, 30003)
            ]
        );
        let shards = cluster_shards(&src).unwrap();
        assert_eq!(shards[0].slots, vec![0, 99, 201, 8191]);
        assert_eq!(shards[1].slots, vec![100, 200, 8192, 16383]);
        // The destination B imported them: it names itself.
        let mut dst = state_as(30003);
        dst.set_imported(&SlotSet::parse("100-200").unwrap(), A);
        let runs: Vec<(u16, u16, u16)> = cluster_slots(&dst)
            .unwrap()
            .iter()
            .map(|e| (e.start, e.end, e.master.port))
            .collect();
        assert_eq!(runs[1], (100, 200, 30003));
        // CLUSTER NODES keeps the topology, as controllers read it.
        assert!(cluster_nodes(&src, "").unwrap().contains("0-8191"));
    }

    #[test]
    fn info_lines() {
        let mut st = ClusterState::new();
        st.set_nodes(
            &format!(
                "{A} 127.0.0.1 30002 master - 0-99\n\
                 {B} 127.0.0.1 30003 master -\n\
                 {S} 127.0.0.1 30004 slave {A}"
            ),
            3,
            false,
            &["127.0.0.1".into()],
            30002,
        )
        .unwrap();
        let block = migration_info_block(&SlotSet::parse("5-9 20").unwrap(), B, "start");
        assert_eq!(
            cluster_info(&st, &block).unwrap(),
            format!(
                "cluster_state:ok\r\n\
                 cluster_slots_assigned:100\r\n\
                 cluster_slots_ok:100\r\n\
                 cluster_slots_pfail:0\r\n\
                 cluster_slots_fail:0\r\n\
                 cluster_known_nodes:3\r\n\
                 cluster_size:1\r\n\
                 cluster_current_epoch:3\r\n\
                 cluster_my_epoch:3\r\n\
                 migrating_slot(s): 5-9 20\r\n\
                 destination_node: {B}\r\n\
                 migrating_state: start\r\n"
            )
        );
        assert_eq!(
            import_info_block(&SlotSet::parse("7").unwrap(), "success"),
            "importing_slot(s): 7\r\nimport_state: success\r\n"
        );
    }

    #[test]
    fn nodes_lines() {
        let st = state_as(30002);
        let extra = migrating_marker(&SlotSet::parse("100-200 300").unwrap(), B);
        assert_eq!(extra, format!(" [100-200->-{B}] [300->-{B}]"));
        assert_eq!(
            cluster_nodes_at(&st, &extra, 1000).unwrap(),
            format!(
                "{A} 127.0.0.1:30002@40002 myself,master - 999 1000 1 connected 0-8191{extra}\n\
                 {B} 127.0.0.1:30003@40003 master - 999 1000 1 connected 8192-16383\n\
                 {S} 127.0.0.1:30004@40004 slave {A} 999 1000 1 connected\n"
            )
        );
        let st = state_as(30004);
        let text = cluster_nodes_at(&st, " [x]", 5).unwrap();
        assert!(text.contains(&format!(
            "{S} 127.0.0.1:30004@40004 myself,slave {A} 4 5 1 connected [x]\n"
        )));
        assert_eq!(
            importing_marker(&SlotSet::parse("9").unwrap(), A),
            format!(" [9-<-{A}]")
        );
        // Merged ranges, a master without slots has no trailing space.
        let mut st = ClusterState::new();
        st.set_nodes(
            &format!("{A} h 7000 master - 0-1 2 4-8191 8192 8193 10000\n{B} h 65535 master -"),
            1,
            false,
            &[],
            0,
        )
        .unwrap();
        assert_eq!(
            cluster_nodes_at(&st, "", 0).unwrap(),
            format!(
                "{A} h:7000@17000 master - 0 0 1 connected 0-2 4-8193 10000\n\
                 {B} h:65535@75535 master - 0 0 1 connected\n"
            )
        );
        // The wall-clock version has the same shape.
        assert_eq!(cluster_nodes(&st, "").unwrap().lines().count(), 2);
    }

    #[test]
    fn replicas_lines() {
        let st = state_as(30004);
        assert_eq!(
            cluster_replicas_at(&st, A, 10).unwrap(),
            format!("{S} 127.0.0.1:30004@40004 slave {A} 9 10 1 connected\n")
        );
        assert_eq!(cluster_replicas_at(&st, B, 10).unwrap(), "");
        assert_eq!(
            cluster_replicas(&st, S).unwrap_err().to_string(),
            "The node isn't a master"
        );
        assert_eq!(
            cluster_replicas(&st, "1234567890").unwrap_err().to_string(),
            "Invalid cluster node id"
        );
    }

    #[test]
    fn slots_entries() {
        let mut st = state_as(30002);
        st.set_slot(&SlotSet::parse("100-199").unwrap(), B, 2)
            .unwrap();
        let entries = cluster_slots(&st).unwrap();
        let summary: Vec<(u16, u16, u16, usize)> = entries
            .iter()
            .map(|e| (e.start, e.end, e.master.port, e.replicas.len()))
            .collect();
        assert_eq!(
            summary,
            vec![
                (0, 99, 30002, 1),
                (100, 199, 30003, 0),
                (200, 8191, 30002, 1),
                (8192, 16383, 30003, 0),
            ]
        );
        assert_eq!(
            entries[0].replicas[0],
            NodeAddr {
                host: "127.0.0.1".into(),
                port: 30004,
                id: S.into()
            }
        );
        assert_eq!(entries[0].master.id, A);

        // Unowned slots split runs and are left out.
        let mut st = ClusterState::new();
        st.set_nodes(&format!("{A} h 1 master - 0-9 20-29"), 1, false, &[], 0)
            .unwrap();
        let ranges: Vec<(u16, u16)> = cluster_slots(&st)
            .unwrap()
            .iter()
            .map(|e| (e.start, e.end))
            .collect();
        assert_eq!(ranges, vec![(0, 9), (20, 29)]);
    }

    #[test]
    fn shards() {
        let mut st = ClusterState::new();
        let orphan = "f".repeat(40);
        st.set_nodes(
            &format!(
                "{A} 10.0.0.1 7000 master - 0-10 20\n\
                 {S} 10.0.0.3 7002 slave {A}\n\
                 {B} 10.0.0.2 7001 master -\n\
                 {orphan} 10.0.0.4 7003 slave {}",
                "e".repeat(40)
            ),
            1,
            false,
            &[],
            0,
        )
        .unwrap();
        let shards = cluster_shards(&st).unwrap();
        assert_eq!(shards.len(), 3);
        assert_eq!(shards[0].slots, vec![0, 10, 20, 20]);
        assert_eq!(shards[0].nodes.len(), 2);
        assert_eq!(
            shards[0].nodes[1],
            ShardNode {
                id: S.into(),
                port: 7002,
                ip: "10.0.0.3".into(),
                endpoint: "10.0.0.3".into(),
                role: "replica",
                replication_offset: 0,
                health: "online",
            }
        );
        assert_eq!(shards[0].nodes[0].role, "master");
        assert!(shards[1].slots.is_empty());
        assert_eq!(shards[1].nodes[0].id, B);
        assert_eq!(shards[2].nodes[0].id, orphan);
    }
}
