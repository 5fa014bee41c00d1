//! A minimal blocking RESP client for the link to the destination node.

use std::io::{BufReader, Write};
use std::net::TcpStream;
use std::time::Duration;

use ferrokv_protocol::{read_reply, Reply, ReplyError};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum LinkError {
    #[error("cannot reach the destination: {0}")]
    Io(#[from] std::io::Error),
    #[error("destination replied an error: {0}")]
    Remote(String),
    #[error("destination sent a malformed reply")]
    Protocol,
}

/// The largest reply the link reads: the destination answers with short statuses.
const MAX_REPLY: usize = 1024 * 1024;

/// Arguments at least this long are written to the socket directly.
const DIRECT_ARG: usize = 16 * 1024;

pub struct Link {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Link {
    pub fn connect(host: &str, port: u16, timeout: Duration) -> Result<Link, LinkError> {
        let addr = std::net::ToSocketAddrs::to_socket_addrs(&(host, port))?
            .next()
            .ok_or(LinkError::Protocol)?;
        let stream = TcpStream::connect_timeout(&addr, timeout)?;
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
        stream.set_nodelay(true)?;
        Ok(Link {
            reader: BufReader::new(stream.try_clone()?),
            writer: stream,
        })
    }

    /// Sends one command and waits for its reply; an error reply is `LinkError::Remote`.
    pub fn call(&mut self, args: &[&[u8]]) -> Result<Reply, LinkError> {
        self.writer
            .write_all(&ferrokv_protocol::encode_command(args))?;
        self.read()
    }

    /// Sends one command without waiting for its reply (read later with `read`, in
    /// order: pipelining).
    pub fn send(&mut self, args: &[&[u8]]) -> Result<(), LinkError> {
        // Large arguments (a batch of records) go to the socket as they are, not copied
        // into one buffer with the framing first: the copy cost as much as the read.
        let mut framing = format!("*{}\r\n", args.len()).into_bytes();
        for arg in args {
            framing.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
            if arg.len() < DIRECT_ARG {
                framing.extend_from_slice(arg);
            } else {
                self.writer.write_all(&framing)?;
                framing.clear();
                self.writer.write_all(arg)?;
            }
            framing.extend_from_slice(b"\r\n");
        }
        self.writer.write_all(&framing)?;
        Ok(())
    }

    /// Reads the reply to the oldest command sent and not yet answered.
    pub fn read(&mut self) -> Result<Reply, LinkError> {
        read_reply(&mut self.reader, MAX_REPLY).map_err(|e| match e {
            ReplyError::Io(e) => LinkError::Io(e),
            ReplyError::Remote(text) => LinkError::Remote(text),
            ReplyError::Malformed(_) | ReplyError::TooLarge(_) => LinkError::Protocol,
        })
    }
}
