//! The cluster as read from its nodes: topology, version, one connection per node, and
//! the pushes that change the topology (each with the next version, on every node).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::conn::Conn;
use crate::error::{CtlError, Result};
use crate::slots::SlotSet;
use crate::topology::Topology;

/// What one node said when the cluster was read.
pub struct NodeView {
    /// Its connection, if it could be reached.
    pub conn: Option<Conn>,
    /// Its version, if it answered.
    pub version: Option<i64>,
    /// Why it could not be read.
    pub error: Option<String>,
}

/// The cluster: the seed's topology and every node's connection and version.
pub struct Cluster {
    /// The topology as the seed reports it.
    pub topology: Topology,
    /// The version every node agrees on (the seed's when they do not).
    pub version: i64,
    /// Per node id.
    pub views: BTreeMap<String, NodeView>,
}

impl Cluster {
    /// Reads the cluster through `seed`. Nodes that cannot be reached or answer another
    /// version are recorded in `views`; [`Cluster::require_agreement`] refuses them.
    pub fn load(seed: &str, password: Option<&str>) -> Result<Cluster> {
        let mut conn = Conn::open(seed, password)?;
        let version = conn.version()?;
        if version < 0 {
            return Err(CtlError::Refused(format!(
                "{seed} is not part of a cluster yet (CLUSTERX VERSION is -1); use `ferrokv-ctl create`"
            )));
        }
        let text = conn.text(&["CLUSTER", "NODES"])?;
        let topology = Topology::parse_cluster_nodes(seed, &text)?;
        let mut views = BTreeMap::new();
        for node in &topology.nodes {
            let addr = node.addr();
            let view = match Conn::open(&addr, password) {
                Ok(mut c) => match c.version() {
                    Ok(v) => NodeView {
                        conn: Some(c),
                        version: Some(v),
                        error: None,
                    },
                    Err(e) => NodeView {
                        conn: Some(c),
                        version: None,
                        error: Some(e.to_string()),
                    },
                },
                Err(e) => NodeView {
                    conn: None,
                    version: None,
                    error: Some(e.to_string()),
                },
            };
            views.insert(node.id.clone(), view);
        }
        Ok(Cluster {
            topology,
            version,
            views,
        })
    }

    /// Like [`Cluster::load`], then refuses unless every node answers the same version.
    pub fn load_agreed(seed: &str, password: Option<&str>) -> Result<Cluster> {
        let cluster = Cluster::load(seed, password)?;
        cluster.require_agreement()?;
        Ok(cluster)
    }

    /// The newest version any node answered.
    pub fn newest_version(&self) -> i64 {
        self.views
            .values()
            .filter_map(|v| v.version)
            .max()
            .unwrap_or(self.version)
            .max(self.version)
    }

    /// Nodes that are unreachable or behind the newest version, as readable text.
    pub fn disagreements(&self) -> Vec<String> {
        let newest = self.newest_version();
        let mut out = Vec::new();
        for node in &self.topology.nodes {
            match self.views.get(&node.id) {
                Some(NodeView {
                    version: Some(v), ..
                }) if *v == newest => {}
                Some(NodeView {
                    version: Some(v), ..
                }) => out.push(format!(
                    "{} ({}) is at version {v}, behind {newest}",
                    node.addr(),
                    short(&node.id)
                )),
                Some(NodeView { error, .. }) => out.push(format!(
                    "{} ({}) is unreachable: {}",
                    node.addr(),
                    short(&node.id),
                    error.as_deref().unwrap_or("no answer")
                )),
                None => out.push(format!("{} was not read", node.addr())),
            }
        }
        out
    }

    /// Refuses unless every node is reachable and on the same version.
    pub fn require_agreement(&self) -> Result<()> {
        let problems = self.disagreements();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(CtlError::VersionMismatch {
                newest: self.newest_version(),
                behind: problems.join("; "),
            })
        }
    }

    /// The connection to node `id`.
    pub fn conn(&mut self, id: &str) -> Result<&mut Conn> {
        self.views
            .get_mut(id)
            .and_then(|v| v.conn.as_mut())
            .ok_or_else(|| CtlError::Refused(format!("node {id} is not reachable")))
    }

    /// Claims the next version before changing anything: `CLUSTERX SETSLOT` of one
    /// slot to its current owner with version+1, node by node in id order. SETSLOT
    /// takes exactly current+1, so of two tools racing from the same version only one
    /// gets past the first node; the other gets `Invalid cluster version` there and
    /// stops, having changed nothing. No slot changes owner.
    pub fn claim(&mut self) -> Result<()> {
        // Tests widen the window between reading the version and claiming the next one,
        // so that two controllers racing is reproducible.
        if let Some(ms) = std::env::var("FERROKV_CTL_TEST_PAUSE_MS")
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
        {
            std::thread::sleep(Duration::from_millis(ms));
        }
        let Some((slot, owner)) = self
            .topology
            .masters()
            .find_map(|n| n.slots.iter().next().map(|s| (s, n.id.clone())))
        else {
            return Err(CtlError::Refused("no slot is owned by any node".into()));
        };
        let next = self.version + 1;
        let ids: Vec<String> = self.views.keys().cloned().collect();
        let slot_text = slot.to_string();
        for (i, id) in ids.iter().enumerate() {
            let (addr, res) = self.setslot_on(id, &slot_text, &owner, next)?;
            if let Err(e) = res {
                return Err(CtlError::VersionRace {
                    detail: if i == 0 {
                        format!("{addr} refused version {next}: {e}")
                    } else {
                        format!("{addr} refused version {next} after other nodes took it: {e}")
                    },
                });
            }
        }
        self.version = next;
        Ok(())
    }

    /// Hands `slots` over to `dst`: `CLUSTERX SETSLOT <slots> NODE <dst> <version+1>`
    /// on every node, `first` ones first (destination, then source). When the first
    /// node refuses the version (another tool moved it on), the versions are read again
    /// and the push retried, for up to `patience`: a committed job must be handed over.
    pub fn hand_over(
        &mut self,
        slots: &SlotSet,
        dst: &str,
        first: &[&str],
        patience: Duration,
    ) -> Result<i64> {
        let deadline = Instant::now() + patience;
        loop {
            match self.push_setslot(slots, dst, first) {
                Err(CtlError::VersionRace { .. }) if Instant::now() < deadline => loop {
                    // Another tool is pushing: wait until the nodes agree again.
                    std::thread::sleep(Duration::from_millis(200));
                    match self.refresh_version() {
                        Ok(()) => break,
                        Err(e) if Instant::now() >= deadline => return Err(e),
                        Err(_) => {}
                    }
                },
                other => return other,
            }
        }
    }

    /// Reads every node's version again; they must agree.
    pub fn refresh_version(&mut self) -> Result<()> {
        let mut seen = Vec::new();
        for (id, view) in self.views.iter_mut() {
            if let Some(c) = view.conn.as_mut() {
                let v = c.version()?;
                view.version = Some(v);
                seen.push((id.clone(), c.addr.clone(), v));
            }
        }
        let newest = seen.iter().map(|s| s.2).max().unwrap_or(self.version);
        let behind: Vec<String> = seen
            .iter()
            .filter(|s| s.2 != newest)
            .map(|s| format!("{} is at version {}, behind {newest}", s.1, s.2))
            .collect();
        if !behind.is_empty() {
            return Err(CtlError::VersionMismatch {
                newest,
                behind: behind.join("; "),
            });
        }
        self.version = newest;
        Ok(())
    }

    /// `CLUSTERX SETSLOT <slots> NODE <node> <version>` on node `id`: its address and
    /// the node's answer (an unreachable node is the outer error).
    fn setslot_on(
        &mut self,
        id: &str,
        slots: &str,
        node: &str,
        version: i64,
    ) -> Result<(String, Result<String>)> {
        let conn = self.conn(id)?;
        let addr = conn.addr.clone();
        let version = version.to_string();
        let answer = conn.text(&["CLUSTERX", "SETSLOT", slots, "NODE", node, &version]);
        Ok((addr, answer))
    }

    fn push_setslot(&mut self, slots: &SlotSet, dst: &str, first: &[&str]) -> Result<i64> {
        let next = self.version + 1;
        let order = self.order(first);
        let slot_text = slots.to_string();
        let mut done: Vec<String> = Vec::new();
        for id in &order {
            let (addr, res) = self.setslot_on(id, &slot_text, dst, next)?;
            if let Err(e) = res {
                if done.is_empty() && e.to_string().contains("version") {
                    return Err(CtlError::VersionRace {
                        detail: format!("{addr}: {e}"),
                    });
                }
                return Err(CtlError::HandOver(format!(
                    "{addr} refused: {e}; done on [{}]; run on every remaining node: CLUSTERX SETSLOT \"{slot_text}\" NODE {dst} {next}",
                    done.join(", ")
                )));
            }
            done.push(addr);
        }
        self.version = next;
        self.apply_setslot(slots, dst);
        Ok(next)
    }

    /// Pushes a whole topology with version+1 to every node of it and to `extra`
    /// connections (a node being added), `first` ones first.
    pub fn push_setnodes(&mut self, topology: &Topology, extra: &mut [&mut Conn]) -> Result<i64> {
        self.push_setnodes_ordered(topology, &[], extra)
    }

    /// Pushes a whole topology with version+1 to every node of it, the nodes `first`
    /// in that order, then the rest (a failover: the promoted node before the others).
    pub fn push_setnodes_first(&mut self, topology: &Topology, first: &[&str]) -> Result<i64> {
        self.push_setnodes_ordered(topology, first, &mut [])
    }

    fn push_setnodes_ordered(
        &mut self,
        topology: &Topology,
        first: &[&str],
        extra: &mut [&mut Conn],
    ) -> Result<i64> {
        let next = self.version + 1;
        let text = topology.setnodes_text();
        let version_text = next.to_string();
        let order = self.order(first);
        let mut done: Vec<String> = Vec::new();
        for id in order
            .iter()
            .filter(|id| topology.by_id(id).is_some())
            .cloned()
            .collect::<Vec<_>>()
        {
            let conn = self.conn(&id)?;
            let addr = conn.addr.clone();
            if let Err(e) = conn.text(&["CLUSTERX", "SETNODES", &text, &version_text]) {
                return Err(CtlError::HandOver(format!(
                    "{addr} refused the topology: {e}; done on [{}]",
                    done.join(", ")
                )));
            }
            done.push(addr);
        }
        for conn in extra.iter_mut() {
            if let Err(e) = conn.text(&["CLUSTERX", "SETNODES", &text, &version_text]) {
                return Err(CtlError::HandOver(format!(
                    "{} refused the topology: {e}; done on [{}]",
                    conn.addr,
                    done.join(", ")
                )));
            }
            done.push(conn.addr.clone());
        }
        self.version = next;
        self.topology = topology.clone();
        Ok(next)
    }

    /// Node ids: `first` ones in that order, then the rest in id order.
    fn order(&self, first: &[&str]) -> Vec<String> {
        let mut order: Vec<String> = first
            .iter()
            .filter(|id| self.views.contains_key(**id))
            .map(|s| s.to_string())
            .collect();
        for id in self.views.keys() {
            if !order.contains(id) {
                order.push(id.clone());
            }
        }
        order
    }

    fn apply_setslot(&mut self, slots: &SlotSet, dst: &str) {
        for n in self.topology.nodes.iter_mut() {
            if n.id == dst {
                for s in slots.iter() {
                    n.slots.insert(s);
                }
            } else {
                n.slots = n.slots.difference(slots);
            }
        }
    }
}

/// The first 8 characters of a node id.
pub fn short(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}
