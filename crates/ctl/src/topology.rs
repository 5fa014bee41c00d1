//! The cluster topology as the nodes report it (CLUSTER NODES) and as SETNODES takes it.

use crate::error::{CtlError, Result};
use crate::slots::SlotSet;

/// One node of the topology.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeEntry {
    /// The 40-character node id.
    pub id: String,
    /// Host clients use to reach it.
    pub host: String,
    /// Its port.
    pub port: u16,
    /// `None` for a master, `Some(master id)` for a replica.
    pub master: Option<String>,
    /// Slots it owns (masters only).
    pub slots: SlotSet,
}

impl NodeEntry {
    /// `host:port`.
    pub fn addr(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// Whether the node is a master.
    pub fn is_master(&self) -> bool {
        self.master.is_none()
    }

    /// Its line in a SETNODES text.
    fn setnodes_line(&self) -> String {
        match &self.master {
            None if self.slots.is_empty() => {
                format!("{} {} {} master -", self.id, self.host, self.port)
            }
            None => format!(
                "{} {} {} master - {}",
                self.id, self.host, self.port, self.slots
            ),
            Some(m) => format!("{} {} {} slave {}", self.id, self.host, self.port, m),
        }
    }
}

/// A whole topology.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Topology {
    /// The nodes, in the order the cluster lists them.
    pub nodes: Vec<NodeEntry>,
}

impl Topology {
    /// Parses a `CLUSTER NODES` reply (migration markers `[...]` are skipped).
    pub fn parse_cluster_nodes(addr: &str, text: &str) -> Result<Topology> {
        let bad = |detail: String| CtlError::Reply {
            addr: addr.to_string(),
            command: "CLUSTER NODES".into(),
            detail,
        };
        let mut nodes = Vec::new();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.len() < 8 {
                return Err(bad(format!("short line `{line}`")));
            }
            let hostport = fields[1].split('@').next().unwrap_or(fields[1]);
            let (host, port) =
                split_addr(hostport).map_err(|_| bad(format!("address in `{line}`")))?;
            let master = if fields[2].contains("master") {
                None
            } else {
                Some(fields[3].to_string())
            };
            let mut slots = SlotSet::new();
            for item in fields.iter().skip(8).filter(|f| !f.starts_with('[')) {
                let one = SlotSet::parse(item).map_err(|_| bad(format!("slot `{item}`")))?;
                for s in one.iter() {
                    slots.insert(s);
                }
            }
            nodes.push(NodeEntry {
                id: fields[0].to_string(),
                host,
                port,
                master,
                slots,
            });
        }
        if nodes.is_empty() {
            return Err(bad("no nodes".into()));
        }
        Ok(Topology { nodes })
    }

    /// The SETNODES text: one line per node.
    pub fn setnodes_text(&self) -> String {
        self.nodes
            .iter()
            .map(NodeEntry::setnodes_line)
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The masters.
    pub fn masters(&self) -> impl Iterator<Item = &NodeEntry> {
        self.nodes.iter().filter(|n| n.is_master())
    }

    /// The replicas of master `id`.
    pub fn replicas_of<'a>(&'a self, id: &'a str) -> impl Iterator<Item = &'a NodeEntry> + 'a {
        self.nodes
            .iter()
            .filter(move |n| n.master.as_deref() == Some(id))
    }

    /// The node with this id.
    pub fn by_id(&self, id: &str) -> Option<&NodeEntry> {
        self.nodes.iter().find(|n| n.id == id)
    }

    /// A node named by id, id prefix (8 characters or more), or `host:port`.
    pub fn find(&self, name: &str) -> Result<&NodeEntry> {
        if let Some(n) = self.nodes.iter().find(|n| n.id == name || n.addr() == name) {
            return Ok(n);
        }
        let by_prefix: Vec<_> = self
            .nodes
            .iter()
            .filter(|n| name.len() >= 8 && n.id.starts_with(name))
            .collect();
        match by_prefix.as_slice() {
            [one] => Ok(one),
            _ => Err(CtlError::Usage(format!(
                "no node `{name}` in the cluster (give its id or host:port)"
            ))),
        }
    }

    /// The owner of each slot (`None`: unowned).
    pub fn owners(&self) -> Vec<Option<&NodeEntry>> {
        let mut owners = vec![None; crate::slots::SLOTS];
        for n in self.masters() {
            for s in n.slots.iter() {
                if let Some(o) = owners.get_mut(usize::from(s)) {
                    *o = Some(n);
                }
            }
        }
        owners
    }
}

/// Splits `host:port`.
pub fn split_addr(addr: &str) -> Result<(String, u16)> {
    let bad = || CtlError::Usage(format!("`{addr}` is not host:port"));
    let (host, port) = addr.rsplit_once(':').ok_or_else(bad)?;
    let port: u16 = port.parse().map_err(|_| bad())?;
    if host.is_empty() || port == 0 {
        return Err(bad());
    }
    Ok((host.to_string(), port))
}

/// A fresh random 40-hex node id.
pub fn new_node_id() -> String {
    use rand::Rng;
    let mut rng = rand::thread_rng();
    (0..40)
        .map(|_| char::from_digit(rng.gen_range(0..16), 16).unwrap_or('0'))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cluster_nodes_with_markers() {
        let text = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa1 127.0.0.1:7001@17001 myself,master - 0 1 3 connected 0-5 7 [8-9->-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa2]\n\
aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa2 127.0.0.1:7002@17002 master - 0 1 3 connected 8-16383\n\
aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa3 127.0.0.1:7003@17003 slave aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa1 0 1 3 connected\n";
        let t = Topology::parse_cluster_nodes("x", text).unwrap();
        assert_eq!(t.nodes.len(), 3);
        assert_eq!(t.nodes[0].slots.to_string(), "0-5 7");
        assert_eq!(t.nodes[2].master.as_deref(), Some(t.nodes[0].id.as_str()));
        assert!(t.setnodes_text().contains("127.0.0.1 7003 slave aaaa"));
        assert_eq!(t.find("127.0.0.1:7002").unwrap().id, t.nodes[1].id);
        assert_eq!(new_node_id().len(), 40);
    }
}
