//! Cluster topology and slot routing state for Ferrokv's Kvrocks-compatible cluster mode.
//!
//! This crate's one job is to know who owns which slot and where a keyed command may
//! run: the topology pushed by CLUSTERX SETNODES / SETSLOT, this node's identity, the
//! per-slot migration states that routing consults, and the exact reply texts of the
//! CLUSTER / CLUSTERX commands. It is pure logic, without I/O: the texts of `nodes.conf` and
//! `migration.conf` are produced and parsed here; the server reads and writes the
//! files. Storage, networking and the migration data path live elsewhere.

mod error;
mod format;
mod nodes_conf;
mod records;
mod routing;
mod slot_states;
mod slots;
mod topology;

pub use error::{ClusterError, SlotIdReason, CLUSTERX_USAGE, CLUSTER_USAGE, FENCED_WRITE_TEXT};
pub use format::{
    cluster_info, cluster_nodes, cluster_nodes_at, cluster_replicas, cluster_replicas_at,
    cluster_shards, cluster_slots, import_info_block, importing_marker, migrating_marker,
    migration_info_block, NodeAddr, Shard, ShardNode, SlotsEntry,
};
pub use nodes_conf::{parse_nodes_conf, to_nodes_conf};
pub use records::{parse_records, records_of, render_records, Record, RecordKind, RecordsError};
pub use routing::{common_slot, ConnRouting, Route};
pub use slot_states::{SlotState, SlotStates};
pub use slots::{Iter as SlotIter, SlotSet};
pub use topology::{
    parse_nodes, parse_setnodes_args, parse_setslot_args, ClusterNode, ClusterState, Role,
    SetNodesArgs, SetNodesOutcome, SetSlotArgs, SetSlotOutcome, CLUSTER_PORT_INCR, NODE_ID_LEN,
};
