//! Command errors, and the one place where they become RESP error replies.

use ferrokv_protocol::Frame;
use ferrokv_types::TypeError;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum CommandError {
    #[error("ERR wrong number of arguments for '{0}' command")]
    WrongArity(String),
    #[error("ERR unknown command '{name}', with args beginning with: {args}")]
    UnknownCommand { name: String, args: String },
    #[error("ERR unknown subcommand '{sub}'. Try {command} HELP.")]
    UnknownSubcommand { command: &'static str, sub: String },
    #[error("ERR syntax error")]
    Syntax,
    #[error("ERR value is not an integer or out of range")]
    NotInteger,
    #[error("ERR value is not a valid float")]
    NotFloat,
    #[error("NOAUTH Authentication required.")]
    NoAuth,
    /// A write to a slot in a migration's cut-over: the connection holds it until the
    /// fence lifts; where it cannot wait, this is the reply.
    #[error("TRYAGAIN Can't write to slot being migrated which is in write forbidden phase")]
    Fenced,
    #[error("{0}")]
    Type(#[from] TypeError),
    /// Any other error; the text carries its own prefix (`ERR ...`, `MOVED ...`).
    #[error("{0}")]
    Raw(String),
}

impl CommandError {
    /// An `ERR <text>` error.
    pub fn err(text: impl std::fmt::Display) -> Self {
        CommandError::Raw(format!("ERR {text}"))
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

impl From<CommandError> for Frame {
    fn from(error: CommandError) -> Frame {
        Frame::Error(error.to_string())
    }
}

pub type CmdResult = Result<Frame, CommandError>;
