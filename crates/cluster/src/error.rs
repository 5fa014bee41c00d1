//! Every error the cluster layer can report.
//!
//! `Display` is the message a client sees after the error's prefix;
//! [`ClusterError::prefix`] is that prefix (`ERR` for most, `MOVED`, `CROSSSLOT`,
//! `TRYAGAIN`, `CLUSTERDOWN` for those clients parse), and [`ClusterError::resp_text`]
//! the whole reply text.

use thiserror::Error;

/// Reply to a malformed `CLUSTERX` call.
pub const CLUSTERX_USAGE: &str =
    "CLUSTERX command, CLUSTERX VERSION|MYID|SETNODEID|SETNODES|SETSLOT|MIGRATE|MIGRATION|FLUSHSLOTS";

/// Reply to a malformed `CLUSTER` call.
pub const CLUSTER_USAGE: &str = "CLUSTER command, CLUSTER INFO|NODES|SLOTS|KEYSLOT|RESET|REPLICAS|IMPORT|SHARDS|MYID|COUNTKEYSINSLOT|GETKEYSINSLOT";

/// Kvrocks' text for a write that hits a slot in its migration cut-over.
pub const FENCED_WRITE_TEXT: &str =
    "Can't write to slot being migrated which is in write forbidden phase";

/// Why a single slot id could not be read; the wording is Kvrocks' integer parser's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotIdReason {
    NotStartedAsInteger,
    NonIntegerCharacters,
    OutOfRange,
}

impl std::fmt::Display for SlotIdReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SlotIdReason::NotStartedAsInteger => "not started as an integer",
            SlotIdReason::NonIntegerCharacters => "encounter non-integer characters",
            SlotIdReason::OutOfRange => "out of numeric range",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ClusterError {
    // --- slot lists (migration.md "Slot lists") ---
    #[error("No slots to parse.")]
    NoSlotsToParse,
    #[error("Invalid slots: `{0}`. No slots to parse. Please use spaces to separate slots.")]
    OnlySpaces(String),
    #[error("Invalid slot id: {0}")]
    InvalidSlotId(SlotIdReason),
    #[error(
        "Invalid slot range: `{0}`. The character '-' can't appear in the first or last position."
    )]
    SlotRangeDash(String),
    #[error("Invalid slot range: `{0}`. The slot range should be of the form `int1-int2`.")]
    SlotRangeForm(String),
    #[error("Invalid slot range: `{0}`. The slot range `int1-int2` needs to satisfy the condition (int1 <= int2).")]
    SlotRangeOrder(String),

    // --- topology text (CLUSTERX SETNODES) ---
    #[error("Invalid cluster nodes info")]
    InvalidNodesInfo,
    #[error("Invalid cluster node id")]
    InvalidNodeId,
    #[error("Invalid cluster node port")]
    InvalidPort,
    #[error("Invalid cluster node role")]
    InvalidRole,
    #[error("Slot is out of range")]
    SlotOutOfRange,
    #[error("Slot distribution is overlapped")]
    SlotOverlapped,
    #[error("Invalid nodes definition: Missing newline between node entries.")]
    MissingNewline,

    // --- versions and arguments ---
    #[error("Invalid cluster version")]
    InvalidClusterVersion,
    #[error("Invalid version")]
    InvalidVersion,
    #[error("Invalid setnodes options")]
    InvalidSetnodesOptions,
    #[error("Invalid setslot options")]
    InvalidSetslotOptions,
    /// SETSLOT's own wording for a node id that is not 40 characters.
    #[error("Invalid node id")]
    InvalidSetslotNodeId,
    #[error("value is not an integer or out of range")]
    NotAnInteger,
    #[error("No this node in the cluster")]
    NoSuchNode,
    #[error("The node isn't a master")]
    NotAMaster,
    #[error("Can't find the destination node id")]
    NoSuchDestination,
    #[error("Invalid import state")]
    InvalidImportState,

    // --- cluster state ---
    #[error("Cluster mode is not enabled")]
    NotEnabled,
    #[error("The cluster is not initialized")]
    NotInitialized,
    #[error("Can't reset cluster while migrating slot")]
    ResetWhileMigrating,
    #[error("Can't reset cluster while importing slot")]
    ResetWhileImporting,
    #[error("Can't reset cluster while database is not empty")]
    ResetDbNotEmpty,
    /// CLUSTERX FLUSHSLOTS of slots a running job moves (or is cutting over).
    #[error("Can't flush slots being migrated: {0} (cancel the migration or wait for it to end)")]
    FlushWhileMigrating(String),
    /// CLUSTERX FLUSHSLOTS of slots this node is importing.
    #[error("Can't flush slots being imported: {0} (cancel the migration on its source or wait for it to end)")]
    FlushWhileImporting(String),
    /// CLUSTERX FLUSHSLOTS of slots this node imported and serves, not yet handed over.
    #[error("Can't flush slots imported but not yet handed over: {0} (hand them over with CLUSTERX SETSLOT)")]
    FlushImported(String),

    // --- routing ---
    #[error("Attempted to access keys that don't hash to the same slot")]
    CrossSlot,
    #[error("Hash slot not served")]
    SlotNotServed,
    #[error("{slot} {host}:{port}")]
    Moved { slot: u16, host: String, port: u16 },
    /// A write held at a cut-over past `migrate-fence-max-ms` (Kvrocks' text).
    #[error("{}", FENCED_WRITE_TEXT)]
    Fenced,

    // --- usage ---
    #[error("{}", CLUSTERX_USAGE)]
    ClusterxUsage,
    #[error("{}", CLUSTER_USAGE)]
    ClusterUsage,

    // --- nodes.conf ---
    #[error("nodes.conf line {line}: {msg}")]
    NodesConfLine { line: usize, msg: String },
    #[error("nodes.conf: {0}")]
    NodesConf(String),
}

impl ClusterError {
    /// The error line's text as sent after `-`: `ERR <text>` unless the text carries its
    /// own prefix (MOVED, CROSSSLOT, TRYAGAIN, CLUSTERDOWN).
    pub fn resp_text(&self) -> String {
        format!("{} {self}", self.prefix())
    }

    /// The reply's first word: the ones Redis clients parse themselves (redirections,
    /// retries) keep their own, everything else is `ERR`.
    pub fn prefix(&self) -> &'static str {
        match self {
            ClusterError::CrossSlot => "CROSSSLOT",
            ClusterError::SlotNotServed | ClusterError::NotInitialized => "CLUSTERDOWN",
            ClusterError::Moved { .. } => "MOVED",
            ClusterError::Fenced => "TRYAGAIN",
            _ => "ERR",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resp_text_adds_err_only_without_own_prefix() {
        assert_eq!(
            ClusterError::InvalidClusterVersion.resp_text(),
            "ERR Invalid cluster version"
        );
        assert_eq!(
            ClusterError::CrossSlot.resp_text(),
            "CROSSSLOT Attempted to access keys that don't hash to the same slot"
        );
        assert_eq!(
            ClusterError::SlotNotServed.resp_text(),
            "CLUSTERDOWN Hash slot not served"
        );
        assert_eq!(
            ClusterError::NotInitialized.resp_text(),
            "CLUSTERDOWN The cluster is not initialized"
        );
        assert_eq!(
            ClusterError::Moved {
                slot: 12182,
                host: "10.0.0.2".into(),
                port: 7001
            }
            .resp_text(),
            "MOVED 12182 10.0.0.2:7001"
        );
        assert_eq!(
            ClusterError::Fenced.resp_text(),
            "TRYAGAIN Can't write to slot being migrated which is in write forbidden phase"
        );
    }

    #[test]
    fn usage_texts() {
        assert_eq!(
            ClusterError::ClusterxUsage.resp_text(),
            "ERR CLUSTERX command, CLUSTERX VERSION|MYID|SETNODEID|SETNODES|SETSLOT|MIGRATE|MIGRATION|FLUSHSLOTS"
        );
        assert_eq!(
            ClusterError::ClusterUsage.resp_text(),
            "ERR CLUSTER command, CLUSTER INFO|NODES|SLOTS|KEYSLOT|RESET|REPLICAS|IMPORT|SHARDS|MYID|COUNTKEYSINSLOT|GETKEYSINSLOT"
        );
    }

    #[test]
    fn plain_texts() {
        let cases = [
            (ClusterError::InvalidNodesInfo, "Invalid cluster nodes info"),
            (ClusterError::InvalidNodeId, "Invalid cluster node id"),
            (ClusterError::InvalidPort, "Invalid cluster node port"),
            (ClusterError::InvalidRole, "Invalid cluster node role"),
            (ClusterError::SlotOutOfRange, "Slot is out of range"),
            (
                ClusterError::SlotOverlapped,
                "Slot distribution is overlapped",
            ),
            (
                ClusterError::MissingNewline,
                "Invalid nodes definition: Missing newline between node entries.",
            ),
            (ClusterError::InvalidVersion, "Invalid version"),
            (
                ClusterError::InvalidSetnodesOptions,
                "Invalid setnodes options",
            ),
            (
                ClusterError::InvalidSetslotOptions,
                "Invalid setslot options",
            ),
            (ClusterError::InvalidSetslotNodeId, "Invalid node id"),
            (
                ClusterError::NotAnInteger,
                "value is not an integer or out of range",
            ),
            (ClusterError::NoSuchNode, "No this node in the cluster"),
            (ClusterError::NotAMaster, "The node isn't a master"),
            (ClusterError::NotEnabled, "Cluster mode is not enabled"),
            (
                ClusterError::ResetDbNotEmpty,
                "Can't reset cluster while database is not empty",
            ),
            (
                ClusterError::ResetWhileMigrating,
                "Can't reset cluster while migrating slot",
            ),
            (
                ClusterError::ResetWhileImporting,
                "Can't reset cluster while importing slot",
            ),
            (ClusterError::InvalidImportState, "Invalid import state"),
            (
                ClusterError::NoSuchDestination,
                "Can't find the destination node id",
            ),
        ];
        for (err, text) in cases {
            assert_eq!(err.to_string(), text);
            assert_eq!(err.resp_text(), format!("ERR {text}"));
        }
    }
}
