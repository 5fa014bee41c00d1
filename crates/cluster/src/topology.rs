//! The topology pushed by the controller (CLUSTERX SETNODES / SETSLOT / SETNODEID) and
//! what this node knows about itself.

use std::collections::HashMap;

use ferrokv_keyslot::SLOT_COUNT;

use crate::error::ClusterError;
use crate::slot_states::{SlotState, SlotStates};
use crate::slots::{parse_slot_id, SlotSet};

/// Length of a node id (Redis Cluster's 40 hex characters; only the length is checked,
/// as in Kvrocks).
pub const NODE_ID_LEN: usize = 40;

/// Offset of the cluster-bus port that CLUSTER NODES shows after `@`.
pub const CLUSTER_PORT_INCR: u32 = 10000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Master,
    Slave,
}

impl Role {
    /// The word used in CLUSTER NODES and nodes.conf.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Master => "master",
            Role::Slave => "slave",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterNode {
    pub id: String,
    pub host: String,
    pub port: u16,
    pub role: Role,
    /// The master a slave replicates; always `None` for a master.
    pub master_id: Option<String>,
    /// Slots owned; always empty for a slave.
    pub slots: SlotSet,
    /// The role was given as `slave,fail` (kvrocks-controller's mark of a failed old
    /// master turned replica): shown as given, replicated from like any slave.
    pub failed: bool,
}

impl ClusterNode {
    pub fn is_master(&self) -> bool {
        self.role == Role::Master
    }

    /// `port + 10000`, computed wide because Kvrocks prints it without wrapping.
    pub fn bus_port(&self) -> u32 {
        u32::from(self.port) + CLUSTER_PORT_INCR
    }
}

/// Parses the `<nodes>` argument of CLUSTERX SETNODES.
///
/// Checks run in Kvrocks' order, line by line: field count, id, port, role, master id,
/// slave-with-slots, then each slot item in turn (so an overlap may be reported before a
/// later malformed item).
pub fn parse_nodes(text: &str) -> Result<Vec<ClusterNode>, ClusterError> {
    Ok(parse_topology(text)?.nodes)
}

pub(crate) struct Topology {
    pub(crate) nodes: Vec<ClusterNode>,
    pub(crate) index: HashMap<String, u16>,
    pub(crate) owners: Vec<Option<u16>>,
}

pub(crate) fn parse_topology(text: &str) -> Result<Topology, ClusterError> {
    let mut builder = TopologyBuilder::new();
    // Empty lines are skipped like Kvrocks' Split does; a trailing '\r' is tolerated so
    // that a topology typed on Windows or sent through a CRLF-happy tool still parses.
    for line in text.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if !line.is_empty() {
            builder.add_line(line)?;
        }
    }
    builder.finish()
}

/// Builds a topology one node line at a time, so that nodes.conf can name the bad line.
pub(crate) struct TopologyBuilder {
    nodes: Vec<ClusterNode>,
    index: HashMap<String, u16>,
    owners: Vec<Option<u16>>,
}

impl TopologyBuilder {
    pub(crate) fn new() -> Self {
        TopologyBuilder {
            nodes: Vec::new(),
            index: HashMap::new(),
            owners: vec![None; SLOT_COUNT],
        }
    }

    pub(crate) fn add_line(&mut self, line: &str) -> Result<(), ClusterError> {
        let fields: Vec<&str> = line.split(' ').filter(|f| !f.is_empty()).collect();
        if fields.len() < 5 {
            return Err(ClusterError::InvalidNodesInfo);
        }
        let id = fields[0];
        if id.len() != NODE_ID_LEN {
            return Err(ClusterError::InvalidNodeId);
        }
        let host = fields[1];
        let port = parse_port(fields[2]).ok_or(ClusterError::InvalidPort)?;
        let (role_word, failed) = match fields[3].split_once(',') {
            Some((word, flag)) if flag.eq_ignore_ascii_case("fail") => (word, true),
            Some(_) => return Err(ClusterError::InvalidRole),
            None => (fields[3], false),
        };
        let role = if role_word.eq_ignore_ascii_case("master") && !failed {
            Role::Master
        } else if role_word.eq_ignore_ascii_case("slave")
            || role_word.eq_ignore_ascii_case("replica")
        {
            Role::Slave
        } else {
            return Err(ClusterError::InvalidRole);
        };
        let master_field = fields[4];
        let master_id = match role {
            Role::Master if master_field == "-" => None,
            Role::Slave if master_field.len() == NODE_ID_LEN => Some(master_field.to_string()),
            _ => return Err(ClusterError::InvalidNodeId),
        };
        if role == Role::Slave && fields.len() != 5 {
            return Err(ClusterError::InvalidNodesInfo);
        }
        // Kvrocks silently lets the later line win, leaving the earlier line's slots
        // pointing at it; refusing is the only unambiguous reading.
        if self.index.contains_key(id) {
            return Err(ClusterError::InvalidNodesInfo);
        }
        let node_index =
            u16::try_from(self.nodes.len()).map_err(|_| ClusterError::InvalidNodesInfo)?;

        let mut slots = SlotSet::new();
        for item in &fields[5..] {
            let (start, end) = parse_node_slot_item(item)?;
            for slot in start..=end {
                let owner = &mut self.owners[usize::from(slot)];
                if owner.is_some() {
                    return Err(ClusterError::SlotOverlapped);
                }
                *owner = Some(node_index);
                slots.insert(slot);
            }
        }

        self.index.insert(id.to_string(), node_index);
        self.nodes.push(ClusterNode {
            id: id.to_string(),
            host: host.to_string(),
            port,
            role,
            master_id,
            slots,
            failed,
        });
        Ok(())
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    pub(crate) fn finish(self) -> Result<Topology, ClusterError> {
        if self.nodes.is_empty() {
            return Err(ClusterError::InvalidNodesInfo);
        }
        Ok(Topology {
            nodes: self.nodes,
            index: self.index,
            owners: self.owners,
        })
    }
}

fn parse_port(s: &str) -> Option<u16> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// A slot item of a topology line. Unlike slot lists, a range must be strictly
/// increasing (`5-5` is refused, as in Kvrocks), and every malformed item is
/// "Slot is out of range". Items with empty parts (`-5`, `1--3`), which Kvrocks reads
/// leniently, are refused too: a controller never sends them.
fn parse_node_slot_item(item: &str) -> Result<(u16, u16), ClusterError> {
    if !item.contains('-') {
        // A node id glued to the slots of the previous line: say so rather than
        // "Slot is out of range", as Kvrocks does.
        if item.len() == NODE_ID_LEN && item.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ClusterError::MissingNewline);
        }
        let slot = parse_slot_id(item).map_err(|_| ClusterError::SlotOutOfRange)?;
        return Ok((slot, slot));
    }
    let mut parts = item.split('-');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(a), Some(b), None) => match (parse_slot_id(a), parse_slot_id(b)) {
            (Ok(start), Ok(end)) if start < end => Ok((start, end)),
            _ => Err(ClusterError::SlotOutOfRange),
        },
        _ => Err(ClusterError::SlotOutOfRange),
    }
}

/// Parsed arguments of `CLUSTERX SETNODES <nodes> <version> [force]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetNodesArgs {
    pub nodes: String,
    pub version: i64,
    pub force: bool,
}

/// Parses the arguments after `CLUSTERX SETNODES` (`args[0]` is the nodes text).
///
/// As in Kvrocks the version is read before the options are looked at, and a negative
/// version passes here (it is `Invalid cluster version` from [`ClusterState::set_nodes`]).
pub fn parse_setnodes_args(args: &[&[u8]]) -> Result<SetNodesArgs, ClusterError> {
    let (nodes, version, rest) = match args {
        [nodes, version, rest @ ..] => (nodes, version, rest),
        _ => return Err(ClusterError::ClusterxUsage),
    };
    let version = parse_i64(version).ok_or(ClusterError::InvalidVersion)?;
    let force = match rest {
        [] => false,
        [flag] if flag.eq_ignore_ascii_case(b"force") => true,
        _ => return Err(ClusterError::InvalidSetnodesOptions),
    };
    Ok(SetNodesArgs {
        nodes: String::from_utf8_lossy(nodes).into_owned(),
        version,
        force,
    })
}

/// Parsed arguments of `CLUSTERX SETSLOT <slots> NODE <id> <version>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetSlotArgs {
    pub slots: SlotSet,
    pub node_id: String,
    pub version: i64,
}

/// Parses the arguments after `CLUSTERX SETSLOT`, in Kvrocks' order: slots, `NODE`,
/// id length, version integer, version sign.
pub fn parse_setslot_args(args: &[&[u8]]) -> Result<SetSlotArgs, ClusterError> {
    let [slots, node_kw, node_id, version] = args else {
        return Err(ClusterError::ClusterxUsage);
    };
    let slots = SlotSet::parse(&String::from_utf8_lossy(slots))?;
    if !node_kw.eq_ignore_ascii_case(b"node") {
        return Err(ClusterError::InvalidSetslotOptions);
    }
    if node_id.len() != NODE_ID_LEN {
        return Err(ClusterError::InvalidSetslotNodeId);
    }
    let node_id = std::str::from_utf8(node_id)
        .map_err(|_| ClusterError::InvalidSetslotNodeId)?
        .to_string();
    let version = parse_i64(version).ok_or(ClusterError::NotAnInteger)?;
    if version < 0 {
        return Err(ClusterError::InvalidVersion);
    }
    Ok(SetSlotArgs {
        slots,
        node_id,
        version,
    })
}

/// A decimal i64 with an optional `-`; no `+`, no spaces (Kvrocks uses `from_chars`).
pub(crate) fn parse_i64(bytes: &[u8]) -> Option<i64> {
    if bytes.first() == Some(&b'+') {
        return None;
    }
    std::str::from_utf8(bytes).ok()?.parse().ok()
}

/// What a CLUSTERX SETNODES did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetNodesOutcome {
    /// Same version without `force`: nothing changed (reply `+OK`, do not persist).
    Unchanged,
    Applied {
        /// Slots this node had migrated away and does not own in the new topology: the
        /// server deletes their data (one range delete).
        slots_to_delete: SlotSet,
        /// The node id was (re)learned from the bind address and port.
        myid_learned: bool,
    },
}

/// What a CLUSTERX SETSLOT did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetSlotOutcome {
    /// Slots this node had migrated away that now belong to another node: delete locally.
    pub slots_to_delete: SlotSet,
}

/// The whole cluster view of one node: topology, version, own id, and the per-slot
/// migration states used by routing.
#[derive(Debug, Clone)]
pub struct ClusterState {
    pub(crate) version: i64,
    pub(crate) myid: Option<String>,
    pub(crate) nodes: Vec<ClusterNode>,
    pub(crate) index: HashMap<String, u16>,
    /// Per slot, the index in `nodes` of its owner.
    pub(crate) owners: Vec<Option<u16>>,
    /// Index of this node in `nodes`, derived from `myid`.
    pub(crate) me: Option<u16>,
    pub(crate) states: SlotStates,
}

impl Default for ClusterState {
    fn default() -> Self {
        Self::new()
    }
}

impl ClusterState {
    /// A node that has received no topology yet (version -1).
    pub fn new() -> Self {
        ClusterState {
            version: -1,
            myid: None,
            nodes: Vec::new(),
            index: HashMap::new(),
            owners: vec![None; SLOT_COUNT],
            me: None,
            states: SlotStates::default(),
        }
    }

    pub fn version(&self) -> i64 {
        self.version
    }

    pub fn myid(&self) -> Option<&str> {
        self.myid.as_deref()
    }

    /// Whether a SETNODES has been applied (CLUSTER NODES etc. answer CLUSTERDOWN until then).
    pub fn is_initialised(&self) -> bool {
        self.version >= 0
    }

    /// `Err(NotInitialized)` before the first SETNODES; for CLUSTER NODES|SLOTS|INFO|REPLICAS.
    pub fn check_initialised(&self) -> Result<(), ClusterError> {
        if self.is_initialised() {
            Ok(())
        } else {
            Err(ClusterError::NotInitialized)
        }
    }

    /// Nodes in the order the controller listed them.
    pub fn nodes(&self) -> &[ClusterNode] {
        &self.nodes
    }

    pub fn node(&self, id: &str) -> Option<&ClusterNode> {
        self.index
            .get(id)
            .and_then(|&i| self.nodes.get(usize::from(i)))
    }

    pub fn slot_owner(&self, slot: u16) -> Option<&ClusterNode> {
        let owner = (*self.owners.get(usize::from(slot))?)?;
        self.nodes.get(usize::from(owner))
    }

    /// The node that serves `slot` now: its owner in the topology, except for slots
    /// whose migration committed before the topology caught up, which the destination
    /// serves (`MigratedAway` here names it, `Imported` here means this node). What
    /// CLUSTER SLOTS and SHARDS report, so a client refreshing its slot map on a MOVED
    /// from either end of the migration follows it at once.
    pub fn serving_node(&self, slot: u16) -> Option<&ClusterNode> {
        match self.states.get(slot) {
            SlotState::MigratedAway { dest_id } => self.node(dest_id),
            SlotState::Imported { .. } => self.myself(),
            _ => self.slot_owner(slot),
        }
        .or_else(|| self.slot_owner(slot))
    }

    /// The slots `id` serves now (see [`ClusterState::serving_node`]).
    pub fn serving_slots(&self, id: &str) -> SlotSet {
        let mut slots = self.node(id).map(|n| n.slots.clone()).unwrap_or_default();
        for (slot, state) in self.states.iter() {
            match state {
                SlotState::MigratedAway { dest_id } if dest_id == id => {
                    slots.insert(slot);
                }
                SlotState::Imported { .. } if self.myid.as_deref() == Some(id) => {
                    slots.insert(slot);
                }
                SlotState::MigratedAway { .. } | SlotState::Imported { .. } => {
                    slots.remove(slot);
                }
                _ => {}
            }
        }
        slots
    }

    pub fn myself(&self) -> Option<&ClusterNode> {
        self.me.and_then(|i| self.nodes.get(usize::from(i)))
    }

    pub fn i_am_master(&self) -> bool {
        self.myself().is_some_and(ClusterNode::is_master)
    }

    pub fn i_am_slave(&self) -> bool {
        self.myself().is_some_and(|n| n.role == Role::Slave)
    }

    /// The master this node must replicate from, when the topology makes it a slave of
    /// a known node.
    pub fn my_master(&self) -> Option<&ClusterNode> {
        let master_id = self.myself()?.master_id.as_deref()?;
        self.node(master_id)
    }

    /// Whether this node owns `slot` in the topology (migration states aside).
    pub fn i_own(&self, slot: u16) -> bool {
        self.me.is_some() && self.owners.get(usize::from(slot)).copied().flatten() == self.me
    }

    /// Whether `id` is this node or its master.
    pub fn in_my_shard(&self, id: &str) -> bool {
        self.myself()
            .is_some_and(|me| me.id == id || me.master_id.as_deref() == Some(id))
    }

    /// The node serving `id`'s shard now: `id` if it is a master, else its master (a
    /// failover made the node a replica; MOVED must name the shard's current master).
    pub fn shard_master_of(&self, id: &str) -> Option<&ClusterNode> {
        let node = self.node(id)?;
        match node.master_id.as_deref() {
            Some(master) => self.node(master),
            None => Some(node),
        }
    }

    /// Slots this node owns in the topology.
    pub fn my_slots(&self) -> SlotSet {
        self.myself().map(|n| n.slots.clone()).unwrap_or_default()
    }

    /// Number of slots that have an owner.
    pub fn assigned_slots(&self) -> usize {
        self.owners.iter().filter(|o| o.is_some()).count()
    }

    /// Masters that own at least one slot (CLUSTER INFO's `cluster_size`).
    pub fn cluster_size(&self) -> usize {
        self.nodes
            .iter()
            .filter(|n| n.is_master() && !n.slots.is_empty())
            .count()
    }

    /// Slaves of master `id`, in topology order.
    pub fn replicas_of(&self, id: &str) -> Result<Vec<&ClusterNode>, ClusterError> {
        let node = self.node(id).ok_or(ClusterError::InvalidNodeId)?;
        if !node.is_master() {
            return Err(ClusterError::NotAMaster);
        }
        Ok(self
            .nodes
            .iter()
            .filter(|n| n.master_id.as_deref() == Some(id))
            .collect())
    }

    /// CLUSTERX SETNODEID.
    pub fn set_node_id(&mut self, id: &str) -> Result<(), ClusterError> {
        if id.len() != NODE_ID_LEN {
            return Err(ClusterError::InvalidNodeId);
        }
        self.myid = Some(id.to_string());
        self.refresh_me();
        Ok(())
    }

    /// CLUSTERX SETNODES. `bind_addrs` and `port` identify this node's own entry: the
    /// first entry whose port equals `port` and whose host is one of `bind_addrs`
    /// (exact text match; a server bound to a wildcard address should pass its
    /// interface addresses, or use [`ClusterState::set_nodes_matching`]).
    pub fn set_nodes(
        &mut self,
        nodes_text: &str,
        version: i64,
        force: bool,
        bind_addrs: &[String],
        port: u16,
    ) -> Result<SetNodesOutcome, ClusterError> {
        self.set_nodes_matching(nodes_text, version, force, |h, p| {
            p == port && bind_addrs.iter().any(|b| b == h)
        })
    }

    /// [`ClusterState::set_nodes`] with a caller-supplied test for "this host and port
    /// are mine".
    pub fn set_nodes_matching(
        &mut self,
        nodes_text: &str,
        version: i64,
        force: bool,
        is_my_addr: impl Fn(&str, u16) -> bool,
    ) -> Result<SetNodesOutcome, ClusterError> {
        if version < 0 {
            return Err(ClusterError::InvalidClusterVersion);
        }
        if !force {
            if self.version > version {
                return Err(ClusterError::InvalidClusterVersion);
            }
            if self.version == version {
                return Ok(SetNodesOutcome::Unchanged);
            }
        }
        let topology = parse_topology(nodes_text)?;

        let migrated_away = self
            .states
            .slots_where(|s| matches!(s, SlotState::MigratedAway { .. }));

        self.install(topology, version);

        let mut myid_learned = false;
        if self.myid.is_none() || force {
            if let Some(n) = self.nodes.iter().find(|n| is_my_addr(&n.host, n.port)) {
                self.myid = Some(n.id.clone());
                myid_learned = true;
            }
        }
        self.refresh_me();

        // A topology that still gives committed slots to the source's shard does not
        // clear their records: clearing waits for one that hands them over (to the
        // destination's shard), else the source's shard would serve slots the
        // destination's serves too, e.g. after a failover (replication.md, "Migration
        // with replicas").
        let kept: Vec<(u16, SlotState)> = self
            .states
            .iter()
            .filter(|(slot, state)| {
                let owner = self.slot_owner(*slot).map(|n| n.id.clone());
                let owner_in_my_shard = owner.as_deref().is_some_and(|id| self.in_my_shard(id));
                match state {
                    SlotState::MigratedAway { .. } => owner_in_my_shard,
                    SlotState::Imported { source_id } => {
                        !owner_in_my_shard
                            && owner.as_deref().is_some_and(|id| {
                                self.shard_master_of(source_id).map(|n| n.id.as_str()) == Some(id)
                                    || id == source_id
                            })
                    }
                    _ => false,
                }
            })
            .map(|(slot, state)| (slot, state.clone()))
            .collect();
        let mut slots_to_delete = migrated_away.difference(&self.my_slots());
        self.states.clear_records();
        for (slot, state) in kept {
            slots_to_delete.remove(slot);
            self.states.set_one(slot, state);
        }
        Ok(SetNodesOutcome::Applied {
            slots_to_delete,
            myid_learned,
        })
    }

    pub(crate) fn install(&mut self, topology: Topology, version: i64) {
        self.version = version;
        self.nodes = topology.nodes;
        self.index = topology.index;
        self.owners = topology.owners;
        self.refresh_me();
    }

    /// CLUSTERX SETSLOT: gives `slots` to master `node_id` and sets the version, which
    /// must be exactly the current one plus one. A refused call changes nothing.
    pub fn set_slot(
        &mut self,
        slots: &SlotSet,
        node_id: &str,
        version: i64,
    ) -> Result<SetSlotOutcome, ClusterError> {
        // Kvrocks also refuses version 0, i.e. SETSLOT before any SETNODES.
        if version <= 0 || self.version.checked_add(1) != Some(version) {
            return Err(ClusterError::InvalidClusterVersion);
        }
        if node_id.len() != NODE_ID_LEN {
            return Err(ClusterError::InvalidNodeId);
        }
        let &target = self.index.get(node_id).ok_or(ClusterError::NoSuchNode)?;
        let target_node = self
            .nodes
            .get(usize::from(target))
            .ok_or(ClusterError::NoSuchNode)?;
        if !target_node.is_master() {
            return Err(ClusterError::NotAMaster);
        }

        self.version = version;
        let mut slots_to_delete = SlotSet::new();
        for slot in slots {
            let Some(owner) = self.owners.get_mut(usize::from(slot)) else {
                continue;
            };
            if let Some(old) = owner.replace(target) {
                if let Some(old_node) = self.nodes.get_mut(usize::from(old)) {
                    old_node.slots.remove(slot);
                }
            }
            if let Some(t) = self.nodes.get_mut(usize::from(target)) {
                t.slots.insert(slot);
            }
            match self.states.get(slot) {
                SlotState::MigratedAway { .. } => {
                    if self.me != Some(target) {
                        slots_to_delete.insert(slot);
                    }
                    self.states.set_one(slot, SlotState::Normal);
                }
                // The topology has caught up with the commit.
                SlotState::Imported { .. } => self.states.set_one(slot, SlotState::Normal),
                // Running jobs own Importing/Fenced and clear them themselves.
                _ => {}
            }
        }
        Ok(SetSlotOutcome { slots_to_delete })
    }

    /// CLUSTER RESET: forgets topology, id and version; the server has already checked
    /// that no migration or import runs and that the database is empty.
    pub fn reset(&mut self) {
        *self = ClusterState::new();
    }

    pub(crate) fn refresh_me(&mut self) {
        self.me = self
            .myid
            .as_deref()
            .filter(|_| self.version >= 0)
            .and_then(|id| self.index.get(id).copied());
    }
}

/// The per-slot migration states (see `slot_states.rs`), set by the migration on both
/// ends and read by routing.
impl ClusterState {
    pub fn slot_state(&self, slot: u16) -> &SlotState {
        self.states.get(slot)
    }

    pub fn slot_states(&self) -> &SlotStates {
        &self.states
    }

    /// Destination, copy phase started.
    pub fn set_importing(&mut self, slots: &SlotSet, source_id: &str) {
        self.states.set(
            slots,
            &SlotState::Importing {
                source_id: source_id.to_string(),
            },
        );
    }

    /// Destination, job committed.
    pub fn set_imported(&mut self, slots: &SlotSet, source_id: &str) {
        self.states.set(
            slots,
            &SlotState::Imported {
                source_id: source_id.to_string(),
            },
        );
    }

    /// Source, job committed: MOVED to `dest_id`, which must be in the topology.
    pub fn set_migrated_away(
        &mut self,
        slots: &SlotSet,
        dest_id: &str,
    ) -> Result<(), ClusterError> {
        if self.node(dest_id).is_none() {
            return Err(ClusterError::NoSuchDestination);
        }
        self.states.set(
            slots,
            &SlotState::MigratedAway {
                dest_id: dest_id.to_string(),
            },
        );
        Ok(())
    }

    /// Source, cut-over started.
    pub fn set_fenced(&mut self, slots: &SlotSet, dest_id: &str) {
        self.states.set(
            slots,
            &SlotState::Fenced {
                dest_id: dest_id.to_string(),
            },
        );
    }

    /// Back to `Normal` (job failed or cancelled, fence lifted without commit).
    pub fn set_normal(&mut self, slots: &SlotSet) {
        self.states.set(slots, &SlotState::Normal);
    }

    pub fn clear_migration_states(&mut self) {
        self.states.clear();
    }

    pub fn importing_slots(&self) -> SlotSet {
        self.states
            .slots_where(|s| matches!(s, SlotState::Importing { .. }))
    }

    pub fn imported_slots(&self) -> SlotSet {
        self.states
            .slots_where(|s| matches!(s, SlotState::Imported { .. }))
    }

    pub fn migrated_away_slots(&self) -> SlotSet {
        self.states
            .slots_where(|s| matches!(s, SlotState::MigratedAway { .. }))
    }

    pub fn fenced_slots(&self) -> SlotSet {
        self.states
            .slots_where(|s| matches!(s, SlotState::Fenced { .. }))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub const A: &str = "67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1";
    pub const B: &str = "17ed2db8d677e59ec4a4cefb06858cf2a1a89fa1";
    pub const S: &str = "07c37dfeb235213a872192d90877d0cd55635b91";

    /// A owns 0-8191 at 127.0.0.1:30002, B owns 8192-16383 at :30003, S is A's slave.
    pub fn three_nodes() -> String {
        format!(
            "{A} 127.0.0.1 30002 master - 0-8191\n\
             {B} 127.0.0.1 30003 master - 8192-16383\n\
             {S} 127.0.0.1 30004 slave {A}"
        )
    }

    pub fn state_as(port: u16) -> ClusterState {
        let mut st = ClusterState::new();
        st.set_nodes(&three_nodes(), 1, false, &["127.0.0.1".to_string()], port)
            .unwrap();
        st
    }

    fn parse_err(text: &str) -> String {
        parse_nodes(text).unwrap_err().to_string()
    }

    #[test]
    fn parses_a_topology() {
        let nodes = parse_nodes(&three_nodes()).unwrap();
        assert_eq!(nodes.len(), 3);
        assert_eq!(nodes[0].id, A);
        assert_eq!(nodes[0].port, 30002);
        assert_eq!(nodes[0].role, Role::Master);
        assert_eq!(nodes[0].master_id, None);
        assert_eq!(nodes[0].slots.to_string(), "0-8191");
        assert_eq!(nodes[2].role, Role::Slave);
        assert_eq!(nodes[2].master_id.as_deref(), Some(A));
        assert!(nodes[2].slots.is_empty());
    }

    #[test]
    fn roles_are_case_insensitive_and_replica_is_slave() {
        let text = format!("{A} h 1 MASTER - 0\n{S} h 2 Replica {A}\n{B} h 3 SLAVE {A}");
        let nodes = parse_nodes(&text).unwrap();
        assert_eq!(nodes[0].role, Role::Master);
        assert_eq!(nodes[1].role, Role::Slave);
        assert_eq!(nodes[2].role, Role::Slave);
    }

    #[test]
    fn a_failed_slave_is_a_slave_shown_as_given() {
        let text = format!("{A} h 1 master - 0-16383\n{S} h 2 slave,fail {A}");
        let nodes = parse_nodes(&text).unwrap();
        assert_eq!(nodes[1].role, Role::Slave);
        assert!(nodes[1].failed && !nodes[0].failed);
        for bad in ["master,fail", "slave,myself", "slave,"] {
            let text = format!("{A} h 1 master - 0-16383\n{S} h 2 {bad} {A}");
            assert_eq!(parse_nodes(&text), Err(ClusterError::InvalidRole), "{bad}");
        }
    }

    #[test]
    fn tolerates_blank_lines_extra_spaces_and_crlf() {
        let text = format!("\n{A}  127.0.0.1 30002 master -  0-10   12\r\n\n");
        let nodes = parse_nodes(&text).unwrap();
        assert_eq!(nodes[0].slots.to_string(), "0-10 12");
    }

    #[test]
    fn invalid_nodes_info() {
        assert_eq!(parse_err(""), "Invalid cluster nodes info");
        assert_eq!(parse_err("\n\n"), "Invalid cluster nodes info");
        assert_eq!(
            parse_err(&format!("{S} 127.0.0.1 30004 slave")),
            "Invalid cluster nodes info"
        );
        // A slave with slots.
        assert_eq!(
            parse_err(&format!("{S} 127.0.0.1 30004 slave {A} 0-10")),
            "Invalid cluster nodes info"
        );
        // The same id twice.
        assert_eq!(
            parse_err(&format!("{A} h 1 master - 0\n{A} h 2 master - 1")),
            "Invalid cluster nodes info"
        );
    }

    #[test]
    fn invalid_node_id() {
        assert_eq!(
            parse_err(&format!("{} 127.0.0.1 30004 slave {A}", &S[..39])),
            "Invalid cluster node id"
        );
        // A slave without a master, a master with one.
        assert_eq!(
            parse_err(&format!("{S} 127.0.0.1 30004 slave -")),
            "Invalid cluster node id"
        );
        assert_eq!(
            parse_err(&format!("{A} 127.0.0.1 30002 master {S} 5461-10922")),
            "Invalid cluster node id"
        );
    }

    #[test]
    fn invalid_port() {
        // The port is checked before the master id (Kvrocks' order).
        assert_eq!(
            parse_err(&format!("{A} 127.0.0.1 unknown master {S} 5461-10922")),
            "Invalid cluster node port"
        );
        assert_eq!(
            parse_err(&format!("{A} h 65536 master -")),
            "Invalid cluster node port"
        );
        assert_eq!(
            parse_err(&format!("{A} h -1 master -")),
            "Invalid cluster node port"
        );
        assert!(parse_nodes(&format!("{A} h 65535 master -")).is_ok());
    }

    #[test]
    fn invalid_role() {
        assert_eq!(
            parse_err(&format!("{A} h 1 leader -")),
            "Invalid cluster node role"
        );
    }

    #[test]
    fn slot_out_of_range() {
        for slots in [
            "5461-0", "54610", "16384", "5-5", "0-16384", "x", "1-2-3", "-5", "1--3",
        ] {
            assert_eq!(
                parse_err(&format!("{A} 127.0.0.1 30002 master - {slots}")),
                "Slot is out of range",
                "{slots}"
            );
        }
    }

    #[test]
    fn slot_overlapped() {
        assert_eq!(
            parse_err(&format!(
                "{A} 127.0.0.1 30002 master - 0-126\n{B} 127.0.0.1 30003 master - 0-16383"
            )),
            "Slot distribution is overlapped"
        );
        // Within one node as well.
        assert_eq!(
            parse_err(&format!("{A} h 1 master - 0-10 5")),
            "Slot distribution is overlapped"
        );
    }

    #[test]
    fn missing_newline() {
        assert_eq!(
            parse_err(&format!(
                "{A} 127.0.0.1 30002 master - 0-100 {B} 127.0.0.1 30003 master - 101-200"
            )),
            "Invalid nodes definition: Missing newline between node entries."
        );
    }

    #[test]
    fn kvrocks_valid_example() {
        let nodes = parse_nodes(&format!(
            "{A} 127.0.0.1 30002 master - 0 123-456 789 831 8192-16381 16382 16383"
        ))
        .unwrap();
        assert_eq!(nodes[0].slots.to_string(), "0 123-456 789 831 8192-16383");
    }

    #[test]
    fn version_rules() {
        let binds = ["127.0.0.1".to_string()];
        let mut st = ClusterState::new();
        assert_eq!(st.version(), -1);
        assert!(!st.is_initialised());
        assert_eq!(st.check_initialised(), Err(ClusterError::NotInitialized));

        assert_eq!(
            st.set_nodes(&three_nodes(), -1, false, &binds, 30002),
            Err(ClusterError::InvalidClusterVersion)
        );
        assert_eq!(
            st.set_nodes(&three_nodes(), -1, true, &binds, 30002),
            Err(ClusterError::InvalidClusterVersion)
        );
        assert!(matches!(
            st.set_nodes(&three_nodes(), 5, false, &binds, 30002),
            Ok(SetNodesOutcome::Applied { .. })
        ));
        assert_eq!(st.version(), 5);
        assert!(st.is_initialised());

        // Lower without force.
        assert_eq!(
            st.set_nodes(&three_nodes(), 4, false, &binds, 30002),
            Err(ClusterError::InvalidClusterVersion)
        );
        // Equal without force: OK and nothing changes, not even with a bad text.
        let other = format!("{A} 127.0.0.1 30002 master - 0-16383");
        assert_eq!(
            st.set_nodes(&other, 5, false, &binds, 30002),
            Ok(SetNodesOutcome::Unchanged)
        );
        assert_eq!(
            st.set_nodes("garbage", 5, false, &binds, 30002),
            Ok(SetNodesOutcome::Unchanged)
        );
        assert_eq!(st.nodes().len(), 3);
        // Force applies any non-negative version, lower or equal.
        assert!(st.set_nodes(&other, 2, true, &binds, 30002).is_ok());
        assert_eq!(st.version(), 2);
        assert_eq!(st.nodes().len(), 1);
        assert!(st.set_nodes(&three_nodes(), 2, true, &binds, 30002).is_ok());
        assert_eq!(st.nodes().len(), 3);
        // A bad topology changes nothing.
        assert_eq!(
            st.set_nodes("garbage", 9, false, &binds, 30002),
            Err(ClusterError::InvalidNodesInfo)
        );
        assert_eq!(st.version(), 2);
        assert_eq!(st.nodes().len(), 3);
    }

    #[test]
    fn learns_myid_from_bind_and_port() {
        let st = state_as(30003);
        assert_eq!(st.myid(), Some(B));
        assert!(st.i_am_master());
        assert_eq!(st.myself().map(|n| n.port), Some(30003));

        let st = state_as(30004);
        assert!(st.i_am_slave());
        assert_eq!(st.my_master().map(|n| n.id.as_str()), Some(A));

        // No match: no id.
        let st = state_as(1);
        assert_eq!(st.myid(), None);
        assert!(st.myself().is_none());
        assert!(!st.i_am_master());
    }

    #[test]
    fn myid_is_kept_unless_forced() {
        let binds = ["127.0.0.1".to_string()];
        let mut st = ClusterState::new();
        st.set_node_id(B).unwrap();
        // Not initialised yet: no myself.
        assert!(st.myself().is_none());
        let out = st
            .set_nodes(&three_nodes(), 1, false, &binds, 30002)
            .unwrap();
        assert_eq!(
            out,
            SetNodesOutcome::Applied {
                slots_to_delete: SlotSet::new(),
                myid_learned: false
            }
        );
        assert_eq!(st.myid(), Some(B));
        let out = st
            .set_nodes(&three_nodes(), 1, true, &binds, 30002)
            .unwrap();
        assert!(matches!(
            out,
            SetNodesOutcome::Applied {
                myid_learned: true,
                ..
            }
        ));
        assert_eq!(st.myid(), Some(A));
        // Force without a match keeps the id.
        st.set_nodes(&three_nodes(), 2, true, &binds, 1).unwrap();
        assert_eq!(st.myid(), Some(A));
    }

    #[test]
    fn set_nodes_matching_uses_the_callback() {
        let mut st = ClusterState::new();
        st.set_nodes_matching(&three_nodes(), 1, false, |h, p| {
            h == "127.0.0.1" && p == 30004
        })
        .unwrap();
        assert_eq!(st.myid(), Some(S));
    }

    #[test]
    fn set_node_id() {
        let mut st = state_as(1);
        assert_eq!(st.set_node_id("abc"), Err(ClusterError::InvalidNodeId));
        assert_eq!(st.myid(), None);
        st.set_node_id(A).unwrap();
        assert_eq!(st.myself().map(|n| n.id.as_str()), Some(A));
        // An id not in the topology is remembered, without a myself.
        st.set_node_id(&"f".repeat(40)).unwrap();
        assert!(st.myself().is_none());
    }

    #[test]
    fn queries() {
        let st = state_as(30002);
        assert_eq!(st.slot_owner(0).map(|n| n.id.as_str()), Some(A));
        assert_eq!(st.slot_owner(16383).map(|n| n.id.as_str()), Some(B));
        assert!(st.slot_owner(16384).is_none());
        assert!(st.i_own(100) && !st.i_own(9000));
        assert_eq!(st.assigned_slots(), 16384);
        assert_eq!(st.cluster_size(), 2);
        assert_eq!(st.node(S).map(|n| n.port), Some(30004));
        assert!(st.node("nope").is_none());
        assert_eq!(st.my_slots().to_string(), "0-8191");
    }

    #[test]
    fn replicas_of() {
        let st = state_as(30002);
        let r = st.replicas_of(A).unwrap();
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].id, S);
        assert!(st.replicas_of(B).unwrap().is_empty());
        assert_eq!(st.replicas_of(S), Err(ClusterError::NotAMaster));
        assert_eq!(
            st.replicas_of("1234567890"),
            Err(ClusterError::InvalidNodeId)
        );
    }

    #[test]
    fn set_slot_moves_slots_and_bumps_version() {
        let mut st = state_as(30002);
        let slots = SlotSet::parse("0-99 200").unwrap();
        let out = st.set_slot(&slots, B, 2).unwrap();
        assert!(out.slots_to_delete.is_empty());
        assert_eq!(st.version(), 2);
        assert_eq!(st.slot_owner(50).map(|n| n.id.as_str()), Some(B));
        assert_eq!(st.slot_owner(200).map(|n| n.id.as_str()), Some(B));
        assert_eq!(st.node(A).unwrap().slots.to_string(), "100-199 201-8191");
        assert_eq!(st.node(B).unwrap().slots.to_string(), "0-99 200 8192-16383");
        assert_eq!(st.assigned_slots(), 16384);
        // Next one must be 3.
        assert!(st.set_slot(&slots, A, 3).is_ok());
        assert_eq!(st.node(A).unwrap().slots.to_string(), "0-8191");
    }

    #[test]
    fn set_slot_refusals_change_nothing() {
        let mut st = state_as(30002);
        let slots = SlotSet::parse("0-99").unwrap();
        let before = format!("{:?}", st.nodes());
        for (node, version, err) in [
            (B, 1, ClusterError::InvalidClusterVersion),
            (B, 3, ClusterError::InvalidClusterVersion),
            (B, 0, ClusterError::InvalidClusterVersion),
            (B, -5, ClusterError::InvalidClusterVersion),
            ("x", 2, ClusterError::InvalidNodeId),
            (
                "ffffffffffffffffffffffffffffffffffffffff",
                2,
                ClusterError::NoSuchNode,
            ),
            (S, 2, ClusterError::NotAMaster),
        ] {
            assert_eq!(st.set_slot(&slots, node, version), Err(err));
            assert_eq!(st.version(), 1);
            assert_eq!(format!("{:?}", st.nodes()), before);
        }
        // And the state is still usable (Kvrocks crashes here).
        assert!(st.set_slot(&slots, B, 2).is_ok());
    }

    #[test]
    fn set_slot_before_setnodes_is_refused() {
        let mut st = ClusterState::new();
        assert_eq!(
            st.set_slot(&SlotSet::from_range(0, 1), A, 0),
            Err(ClusterError::InvalidClusterVersion)
        );
    }

    #[test]
    fn reset_forgets_everything() {
        let mut st = state_as(30002);
        st.reset();
        assert_eq!(st.version(), -1);
        assert_eq!(st.myid(), None);
        assert!(st.nodes().is_empty());
        assert!(st.slot_owner(0).is_none());
    }

    #[test]
    fn setnodes_args() {
        let a = parse_setnodes_args(&[b"x", b"7"]).unwrap();
        assert_eq!((a.nodes.as_str(), a.version, a.force), ("x", 7, false));
        let a = parse_setnodes_args(&[b"x", b"7", b"FORCE"]).unwrap();
        assert!(a.force);
        // A negative version passes parsing; set_nodes refuses it.
        assert_eq!(parse_setnodes_args(&[b"x", b"-1"]).unwrap().version, -1);
        assert_eq!(
            parse_setnodes_args(&[b"x", b"v1"]).unwrap_err().to_string(),
            "Invalid version"
        );
        assert_eq!(
            parse_setnodes_args(&[b"x", b"1", b"hard"])
                .unwrap_err()
                .to_string(),
            "Invalid setnodes options"
        );
        assert_eq!(
            parse_setnodes_args(&[b"x", b"1", b"force", b"force"])
                .unwrap_err()
                .to_string(),
            "Invalid setnodes options"
        );
        // The version is read before the options.
        assert_eq!(
            parse_setnodes_args(&[b"x", b"v", b"hard"])
                .unwrap_err()
                .to_string(),
            "Invalid version"
        );
        assert_eq!(
            parse_setnodes_args(&[b"x"]),
            Err(ClusterError::ClusterxUsage)
        );
    }

    #[test]
    fn setslot_args() {
        let id = A.as_bytes();
        let a = parse_setslot_args(&[b"0-9 20", b"node", id, b"3"]).unwrap();
        assert_eq!(a.slots.to_string(), "0-9 20");
        assert_eq!((a.node_id.as_str(), a.version), (A, 3));
        assert_eq!(
            parse_setslot_args(&[b"1", b"nod", id, b"3"])
                .unwrap_err()
                .to_string(),
            "Invalid setslot options"
        );
        assert_eq!(
            parse_setslot_args(&[b"1", b"NODE", b"abc", b"3"])
                .unwrap_err()
                .to_string(),
            "Invalid node id"
        );
        assert_eq!(
            parse_setslot_args(&[b"1", b"NODE", id, b"x"])
                .unwrap_err()
                .to_string(),
            "value is not an integer or out of range"
        );
        assert_eq!(
            parse_setslot_args(&[b"1", b"NODE", id, b"-1"])
                .unwrap_err()
                .to_string(),
            "Invalid version"
        );
        // Slot-list errors come first of all.
        assert_eq!(
            parse_setslot_args(&[b"5-1", b"nod", b"abc", b"x"]).unwrap_err().to_string(),
            "Invalid slot range: `5-1`. The slot range `int1-int2` needs to satisfy the condition (int1 <= int2)."
        );
        // Then NODE, then the id, then the version.
        assert_eq!(
            parse_setslot_args(&[b"1", b"nod", b"abc", b"x"])
                .unwrap_err()
                .to_string(),
            "Invalid setslot options"
        );
        assert_eq!(
            parse_setslot_args(&[b"1", b"node", b"abc", b"x"])
                .unwrap_err()
                .to_string(),
            "Invalid node id"
        );
        assert_eq!(
            parse_setslot_args(&[b"1", b"node", id]),
            Err(ClusterError::ClusterxUsage)
        );
    }
}
