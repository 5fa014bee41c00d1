//! A minimal blocking RESP client for the link to the destination node.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

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

/// A reply from the destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Status(String),
    Int(i64),
    Bulk(Option<Vec<u8>>),
    Array(Vec<Reply>),
}

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
        let mut out = Vec::with_capacity(64 + args.iter().map(|a| a.len() + 16).sum::<usize>());
        out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
        for arg in args {
            out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
            out.extend_from_slice(arg);
            out.extend_from_slice(b"\r\n");
        }
        self.writer.write_all(&out)?;
        self.read()
    }

    fn line(&mut self) -> Result<String, LinkError> {
        let mut line = String::new();
        if self.reader.read_line(&mut line)? == 0 {
            return Err(LinkError::Io(std::io::ErrorKind::UnexpectedEof.into()));
        }
        Ok(line.trim_end_matches(['\r', '\n']).to_string())
    }

    fn read(&mut self) -> Result<Reply, LinkError> {
        let line = self.line()?;
        let (kind, rest) = line.split_at(line.len().min(1));
        let number = || rest.parse::<i64>().map_err(|_| LinkError::Protocol);
        match kind {
            "+" => Ok(Reply::Status(rest.to_string())),
            "-" => Err(LinkError::Remote(rest.to_string())),
            ":" => Ok(Reply::Int(number()?)),
            "$" => {
                let len = number()?;
                if len < 0 {
                    return Ok(Reply::Bulk(None));
                }
                let mut data = vec![0u8; len as usize + 2];
                self.reader.read_exact(&mut data)?;
                data.truncate(len as usize);
                Ok(Reply::Bulk(Some(data)))
            }
            "*" => {
                let len = number()?;
                let mut items = Vec::new();
                for _ in 0..len.max(0) {
                    items.push(self.read()?);
                }
                Ok(Reply::Array(items))
            }
            _ => Err(LinkError::Protocol),
        }
    }
}
