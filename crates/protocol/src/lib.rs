//! RESP framing for Ferrokv: turns the bytes a client sends into argument
//! vectors and reply values into bytes, knowing nothing about what any
//! command means.

mod error;
mod frame;
mod parse;

pub use bytes::{Bytes, BytesMut};
pub use error::ProtocolError;
pub use frame::{format_double, Frame, ProtocolVersion};
pub use parse::RequestParser;
