//! Command errors, and the one place where errors become RESP error replies.
//!
//! Every error type of the node carries a prefix (`ERR`, `WRONGTYPE`, `MOVED`, `ASK`,
//! `TRYAGAIN`, `CROSSSLOT`, `CLUSTERDOWN`, `NOAUTH`, `EXECABORT`, ...) and a message
//! without it (its `Display`); [`CommandError`] gathers them, and `From<CommandError>
//! for Frame` joins the two as `-<PREFIX> <message>`. Texts follow Redis (src/server.c,
//! src/multi.c) and, for cluster mode, Kvrocks (src/cluster/*.cc).

use ferrokv_cluster::ClusterError;
use ferrokv_protocol::Frame;
use ferrokv_storage::StorageError;
use ferrokv_types::TypeError;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum CommandError {
    #[error("wrong number of arguments for '{0}' command")]
    WrongArity(String),
    #[error("unknown command '{name}', with args beginning with: {args}")]
    UnknownCommand { name: String, args: String },
    #[error("unknown subcommand '{sub}'. Try {command} HELP.")]
    UnknownSubcommand { command: &'static str, sub: String },
    #[error("syntax error")]
    Syntax,
    #[error("value is not an integer or out of range")]
    NotInteger,
    #[error("value is not a valid float")]
    NotFloat,
    /// `NOAUTH`: a command before AUTH on a server with a password.
    #[error("Authentication required.")]
    NoAuth,
    /// `WRONGPASS`: AUTH (or HELLO AUTH) with a wrong password.
    #[error("invalid username-password pair or user is disabled.")]
    WrongPass,
    /// `NOPROTO`: HELLO with a protocol version other than 2 or 3.
    #[error("unsupported protocol version")]
    NoProto,
    /// `READONLY`: a write on a replica (Redis' text, src/server.c).
    #[error("You can't write against a read only slave.")]
    ReadOnlyReplica,
    /// `MASTERDOWN`: a replica whose link is down, with `slave-serve-stale-data no`
    /// (Redis' text).
    #[error("Link with MASTER is down and slave-serve-stale-data is set to 'no'.")]
    MasterDown,
    /// `LOADING`: a standalone replica whose history its master has not accepted yet
    /// (replication.md, "Failover").
    #[error("Ferrokv is resyncing with its master")]
    Resyncing,
    /// `EXECABORT`: EXEC of a transaction in which a command was refused.
    #[error("Transaction discarded because of previous errors.")]
    ExecAbort,
    /// Data-type errors (`WRONGTYPE`, `ERR ...`).
    #[error(transparent)]
    Type(#[from] TypeError),
    /// Cluster errors: redirections, the cut-over's `TRYAGAIN`, topology errors.
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    /// `NOSCRIPT`: EVALSHA of a script the cache does not hold (Redis' text).
    #[error("No matching script. Please use EVAL.")]
    NoScript,
    /// `BUSY`: a script has run past `busy-script-time`; which KILL ends it depends
    /// on whether it is an EVAL script (`eval`) or a function (Redis' texts).
    #[error("Redis is busy running a script. You can only call {} KILL or SHUTDOWN NOSAVE.", if *eval { "SCRIPT" } else { "FUNCTION" })]
    Busy { eval: bool },
    /// `NOTBUSY`: SCRIPT KILL / FUNCTION KILL with no script running.
    #[error("No scripts in execution right now.")]
    NotBusy,
    /// `UNKILLABLE`: the running script already wrote.
    #[error("Sorry the script already executed write commands against the dataset. You can either wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command.")]
    Unkillable,
    /// A whole error reply made elsewhere (a library's load error, built with its
    /// prefix): sent as it is.
    #[error("{}", .0.split_once(' ').map_or(.0.as_str(), |(_, m)| m))]
    Reply(String),
    /// An error with a prefix of its own and its message.
    #[error("{1}")]
    Prefixed(&'static str, String),
    /// Any other error: `ERR <message>`.
    #[error("{0}")]
    Other(String),
}

impl CommandError {
    /// An `ERR <text>` error.
    pub fn err(text: impl std::fmt::Display) -> Self {
        CommandError::Other(text.to_string())
    }

    /// The reply's first word.
    pub fn prefix(&self) -> &'static str {
        match self {
            CommandError::NoAuth => "NOAUTH",
            CommandError::WrongPass => "WRONGPASS",
            CommandError::NoProto => "NOPROTO",
            CommandError::ExecAbort => "EXECABORT",
            CommandError::ReadOnlyReplica => "READONLY",
            CommandError::MasterDown => "MASTERDOWN",
            CommandError::Resyncing => "LOADING",
            CommandError::Type(e) => e.prefix(),
            CommandError::Cluster(e) => e.prefix(),
            CommandError::Prefixed(prefix, _) => prefix,
            CommandError::NoScript => "NOSCRIPT",
            CommandError::Busy { .. } => "BUSY",
            CommandError::NotBusy => "NOTBUSY",
            CommandError::Unkillable => "UNKILLABLE",
            _ => "ERR",
        }
    }

    /// Whether this is a write held at a migration's cut-over (the connection waits for
    /// the fence to lift instead of replying, where it can).
    pub fn is_fenced(&self) -> bool {
        matches!(self, CommandError::Cluster(ClusterError::Fenced))
    }

    /// Redis' text for an unknown command: the name and the first arguments, quoted,
    /// each followed by a space, at most 128 bytes of arguments.
    pub fn unknown_command(args: &[bytes::Bytes]) -> Self {
        let name = args.first().map(|n| lossy(n, 128)).unwrap_or_default();
        let mut listed = String::new();
        for arg in args.iter().skip(1) {
            let remaining = 128usize.saturating_sub(listed.len());
            if remaining == 0 {
                break;
            }
            listed.push('\'');
            listed.push_str(&lossy(arg, remaining));
            listed.push_str("' ");
        }
        CommandError::UnknownCommand { name, args: listed }
    }
}

fn lossy(bytes: &[u8], max: usize) -> String {
    String::from_utf8_lossy(&bytes[..bytes.len().min(max)]).into_owned()
}

impl From<StorageError> for CommandError {
    fn from(e: StorageError) -> Self {
        CommandError::Type(TypeError::Storage(e))
    }
}

impl From<CommandError> for Frame {
    fn from(error: CommandError) -> Frame {
        if let CommandError::Reply(text) = error {
            return Frame::Error(text);
        }
        Frame::Error(format!("{} {error}", error.prefix()))
    }
}

pub type CmdResult = Result<Frame, CommandError>;

#[cfg(test)]
mod tests {
    use super::*;

    fn text(e: CommandError) -> String {
        match Frame::from(e) {
            Frame::Error(text) => text,
            other => panic!("not an error: {other:?}"),
        }
    }

    #[test]
    fn every_kind_gets_its_prefix_once() {
        assert_eq!(text(CommandError::Syntax), "ERR syntax error");
        assert_eq!(
            text(CommandError::NoAuth),
            "NOAUTH Authentication required."
        );
        assert_eq!(
            text(CommandError::ExecAbort),
            "EXECABORT Transaction discarded because of previous errors."
        );
        assert_eq!(
            text(TypeError::WrongType.into()),
            "WRONGTYPE Operation against a key holding the wrong kind of value"
        );
        assert_eq!(
            text(TypeError::NotInteger.into()),
            "ERR value is not an integer or out of range"
        );
        assert_eq!(
            text(ClusterError::Fenced.into()),
            "TRYAGAIN Can't write to slot being migrated which is in write forbidden phase"
        );
        assert_eq!(
            text(
                ClusterError::Moved {
                    slot: 1,
                    host: "h".into(),
                    port: 2
                }
                .into()
            ),
            "MOVED 1 h:2"
        );
        assert_eq!(
            text(ClusterError::NotEnabled.into()),
            "ERR Cluster mode is not enabled"
        );
        assert_eq!(text(CommandError::err("boom")), "ERR boom");
        assert!(ClusterError::Fenced.resp_text().starts_with("TRYAGAIN "));
        assert!(CommandError::from(ClusterError::Fenced).is_fenced());
    }
}
