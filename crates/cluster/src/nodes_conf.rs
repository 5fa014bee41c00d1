//! `<dir>/nodes.conf`, in Kvrocks' format so that either server can read the other's:
//!
//! ```text
//! version 3
//! id 67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1
//! node 67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1 127.0.0.1 30002 master - 0-8191
//! node 07c37dfeb235213a872192d90877d0cd55635b91 127.0.0.1 30004 slave 67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1
//! ```
//!
//! Migration states are not part of it: they are in `migration.conf` (`records.rs`). Text
//! only: the server reads and writes the file.

use std::fmt::Write as _;

use crate::error::ClusterError;
use crate::topology::{parse_i64, ClusterState, Role, TopologyBuilder, NODE_ID_LEN};

/// The file's text for `state`.
pub fn to_nodes_conf(state: &ClusterState) -> String {
    let mut out = format!("version {}\n", state.version());
    // Kvrocks writes `id ` with nothing after it when unknown; leaving the line out
    // reads back the same in both servers.
    if let Some(id) = state.myid() {
        let _ = writeln!(out, "id {id}");
    }
    for n in state.nodes() {
        let _ = write!(out, "node {} {} {} ", n.id, n.host, n.port);
        match (n.role, &n.master_id) {
            (Role::Slave, Some(master)) => {
                let fail = if n.failed { ",fail" } else { "" };
                let _ = write!(out, "slave{fail} {master}");
            }
            _ => {
                out.push_str("master -");
                if !n.slots.is_empty() {
                    let _ = write!(out, " {}", n.slots);
                }
            }
        }
        out.push('\n');
    }
    out
}

fn line_err(line: usize, msg: impl Into<String>) -> ClusterError {
    ClusterError::NodesConfLine {
        line,
        msg: msg.into(),
    }
}

/// Reads a nodes.conf text back. Blank lines and `#` comments are skipped; anything
/// else that is not `version`, `id` or `node` is an error naming the line.
pub fn parse_nodes_conf(text: &str) -> Result<ClusterState, ClusterError> {
    let mut version: Option<(i64, usize)> = None;
    let mut id: Option<String> = None;
    let mut builder = TopologyBuilder::new();

    for (i, raw) in text.lines().enumerate() {
        let line_no = i + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, value) = match line.split_once(|c: char| c.is_ascii_whitespace()) {
            Some((k, v)) => (k, v.trim()),
            None => (line, ""),
        };
        match key {
            "version" => {
                if version.is_some() {
                    return Err(line_err(line_no, "duplicate version line"));
                }
                let v = parse_i64(value.as_bytes())
                    .filter(|&v| v >= -1)
                    .ok_or_else(|| line_err(line_no, format!("invalid version `{value}`")))?;
                version = Some((v, line_no));
            }
            // Kvrocks skips an empty value: the node had no id yet.
            "id" if value.is_empty() => {}
            "id" => {
                if id.is_some() {
                    return Err(line_err(line_no, "duplicate id line"));
                }
                if value.len() != NODE_ID_LEN {
                    return Err(line_err(line_no, ClusterError::InvalidNodeId.to_string()));
                }
                id = Some(value.to_string());
            }
            "node" => builder
                .add_line(value)
                .map_err(|e| line_err(line_no, e.to_string()))?,
            _ => return Err(line_err(line_no, format!("unknown key `{key}`"))),
        }
    }

    let mut state = ClusterState::new();
    state.myid = id;
    match version {
        None if builder.is_empty() => {}
        None => {
            return Err(ClusterError::NodesConf(
                "node lines without a version line".into(),
            ))
        }
        Some((-1, line)) if !builder.is_empty() => {
            return Err(line_err(line, "version -1 with node lines"));
        }
        Some((-1, _)) => {}
        Some((v, line)) => {
            let topology = builder
                .finish()
                .map_err(|_| line_err(line, format!("version {v} without node lines")))?;
            state.install(topology, v);
        }
    }
    state.refresh_me();
    Ok(state)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::tests::{state_as, three_nodes, A, B, S};

    #[test]
    fn dump_format() {
        let st = state_as(30002);
        assert_eq!(
            to_nodes_conf(&st),
            format!(
                "version 1\nid {A}\n\
                 node {A} 127.0.0.1 30002 master - 0-8191\n\
                 node {B} 127.0.0.1 30003 master - 8192-16383\n\
                 node {S} 127.0.0.1 30004 slave {A}\n"
            )
        );
    }

    #[test]
    fn round_trip_merges_slot_ranges() {
        let text = format!(
            "{A} 127.0.0.1 30002 master - 0-1 2 4-8191 8192 8193 10000 10002-11002 16381 16382-16383\n\
             {B} 127.0.0.1 30003 master - 3\n\
             {S} 127.0.0.1 30004 slave {A}"
        );
        let mut st = ClusterState::new();
        st.set_nodes(&text, 7, false, &["127.0.0.1".into()], 30002)
            .unwrap();

        let back = parse_nodes_conf(&to_nodes_conf(&st)).unwrap();
        assert_eq!(back.version(), 7);
        assert_eq!(back.myid(), Some(A));
        assert!(back.i_am_master());
        assert_eq!(
            back.node(A).unwrap().slots.to_string(),
            "0-2 4-8193 10000 10002-11002 16381-16383"
        );
        assert_eq!(back.slot_owner(3).map(|n| n.id.as_str()), Some(B));
        assert_eq!(back.node(S).unwrap().master_id.as_deref(), Some(A));
        assert_eq!(back.nodes(), st.nodes());
        assert_eq!(to_nodes_conf(&back), to_nodes_conf(&st));

        // Overwriting works too.
        st.set_slot(&crate::SlotSet::from_range(3, 3), A, 8)
            .unwrap();
        let back = parse_nodes_conf(&to_nodes_conf(&st)).unwrap();
        assert_eq!(back.version(), 8);
        assert_eq!(
            back.node(A).unwrap().slots.to_string(),
            "0-8193 10000 10002-11002 16381-16383"
        );
    }

    #[test]
    fn reads_kvrocks_output() {
        // Kvrocks puts two spaces before the slots and writes `id ` when it has none.
        let text = format!("version 2\nid \nnode {A} 127.0.0.1 30002 master -  0-16383\n");
        let st = parse_nodes_conf(&text).unwrap();
        assert_eq!(st.version(), 2);
        assert_eq!(st.myid(), None);
        assert_eq!(st.assigned_slots(), 16384);
    }

    #[test]
    fn id_without_topology_round_trips() {
        let mut st = ClusterState::new();
        st.set_node_id(A).unwrap();
        let text = to_nodes_conf(&st);
        assert_eq!(text, format!("version -1\nid {A}\n"));
        let back = parse_nodes_conf(&text).unwrap();
        assert_eq!(back.version(), -1);
        assert_eq!(back.myid(), Some(A));
        assert!(!back.is_initialised());
        assert!(parse_nodes_conf("").unwrap().nodes().is_empty());
    }

    #[test]
    fn corrupt_files_name_the_line() {
        let node = format!("node {A} 127.0.0.1 30002 master - 0-100");
        let cases = [
            (
                format!("version 1\n{node}\nbogus 3\n"),
                "nodes.conf line 3: unknown key `bogus`",
            ),
            (
                format!("version x\n{node}\n"),
                "nodes.conf line 1: invalid version `x`",
            ),
            (
                format!("version -2\n{node}\n"),
                "nodes.conf line 1: invalid version `-2`",
            ),
            (
                format!("version 1\nid abc\n{node}\n"),
                "nodes.conf line 2: Invalid cluster node id",
            ),
            (
                format!("version 1\n\n{node}\nnode {B} h 1 master - 50\n"),
                "nodes.conf line 4: Slot distribution is overlapped",
            ),
            (
                format!("version 1\nnode {A} h port master -\n"),
                "nodes.conf line 2: Invalid cluster node port",
            ),
            (
                format!("version 1\nversion 2\n{node}\n"),
                "nodes.conf line 2: duplicate version line",
            ),
            (
                format!("version 3\nid {A}\n"),
                "nodes.conf line 1: version 3 without node lines",
            ),
            (
                format!("version -1\n{node}\n"),
                "nodes.conf line 1: version -1 with node lines",
            ),
            (
                format!("{node}\n"),
                "nodes.conf: node lines without a version line",
            ),
        ];
        for (text, msg) in cases {
            assert_eq!(
                parse_nodes_conf(&text).unwrap_err().to_string(),
                msg,
                "{text}"
            );
        }
    }

    #[test]
    fn comments_blank_lines_and_crlf() {
        let text = format!("# saved by ferrokv\r\n\r\nversion 1\r\nnode {A} h 1 master - 0\r\n");
        let st = parse_nodes_conf(&text).unwrap();
        assert_eq!(st.version(), 1);
        assert_eq!(st.assigned_slots(), 1);
    }

    #[test]
    fn three_nodes_fixture_round_trips_in_memory() {
        let mut st = ClusterState::new();
        st.set_nodes(&three_nodes(), 3, false, &["127.0.0.1".into()], 30004)
            .unwrap();
        let back = parse_nodes_conf(&to_nodes_conf(&st)).unwrap();
        assert!(back.i_am_slave());
        assert_eq!(back.my_master().map(|n| n.id.as_str()), Some(A));
    }
}
