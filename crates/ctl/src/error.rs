//! The tool's errors: each says what went wrong, and which exit code it means.

use thiserror::Error;

/// Everything that can make a subcommand fail.
#[derive(Debug, Error)]
pub enum CtlError {
    /// The command line is valid for clap but asks for something impossible (exit 2).
    #[error("{0}")]
    Usage(String),
    /// A node could not be reached or answered with an error.
    #[error("{addr}: {source}")]
    Node {
        /// The node's address.
        addr: String,
        /// What the connection or the command returned.
        #[source]
        source: redis::RedisError,
    },
    /// A node answered something this tool cannot read.
    #[error("{addr}: unexpected reply to {command}: {detail}")]
    Reply {
        /// The node's address.
        addr: String,
        /// The command sent.
        command: String,
        /// What was wrong with the reply.
        detail: String,
    },
    /// The nodes do not agree on the topology version: nothing was changed.
    #[error("the nodes disagree on the cluster version (newest {newest}): {behind}; nothing was changed (run `ferrokv-ctl check` and bring them to the same version first)")]
    VersionMismatch {
        /// The highest version seen.
        newest: i64,
        /// The nodes behind, as `addr (id) is at version v`.
        behind: String,
    },
    /// Another tool changed the topology while this one was working: nothing was changed.
    #[error("the cluster version changed under us ({detail}): another controller is acting on this cluster; nothing was changed")]
    VersionRace {
        /// Which node refused, and what it said.
        detail: String,
    },
    /// A migration job ended without success; the source still serves the slots.
    #[error("migration job {id} on {source_addr} ended {state}: {message}; the source still serves the slots, the topology was not changed")]
    JobFailed {
        /// The job id on the source.
        id: String,
        /// The source's address.
        source_addr: String,
        /// `fail` or `cancelled`.
        state: String,
        /// The job's error field.
        message: String,
    },
    /// The operator declined the confirmation, or Ctrl-C came before anything started.
    #[error("aborted: {0}")]
    Aborted(String),
    /// Something the tool refuses to do because it would lose data or break the cluster.
    #[error("refused: {0}")]
    Refused(String),
    /// A hand-over did not reach every node.
    #[error("hand-over incomplete: {0}")]
    HandOver(String),
    /// Writing to the terminal or reading the confirmation failed.
    #[error("terminal: {0}")]
    Io(#[from] std::io::Error),
}

impl CtlError {
    /// The process exit code for this error: 2 for bad usage, 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            CtlError::Usage(_) => 2,
            _ => 1,
        }
    }

    /// A short machine-readable kind, for `--json`.
    pub fn kind(&self) -> &'static str {
        match self {
            CtlError::Usage(_) => "usage",
            CtlError::Node { .. } => "node",
            CtlError::Reply { .. } => "reply",
            CtlError::VersionMismatch { .. } => "version_mismatch",
            CtlError::VersionRace { .. } => "version_race",
            CtlError::JobFailed { .. } => "job_failed",
            CtlError::Aborted(_) => "aborted",
            CtlError::Refused(_) => "refused",
            CtlError::HandOver(_) => "handover",
            CtlError::Io(_) => "io",
        }
    }
}

/// Result of a subcommand step.
pub type Result<T> = std::result::Result<T, CtlError>;
