//! RESP framing for Ferrokv: turns the bytes a client sends into argument
//! vectors and reply values into bytes, and reads a peer node's replies, knowing
//! nothing about what any command means.

mod error;
mod frame;
mod parse;
mod reply;

pub use bytes::{Bytes, BytesMut};
pub use error::ProtocolError;
pub use frame::{format_double, Frame, ProtocolVersion};
pub use parse::RequestParser;
pub use reply::{encode_command, read_reply, Reply, ReplyError};
