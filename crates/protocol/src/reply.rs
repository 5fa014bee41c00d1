//! Reading RESP2 replies from a blocking stream: what a node needs to talk to another
//! node as a client (the migration link). Lengths are checked against a cap before
//! anything is allocated, so a broken or hostile peer cannot make the reader allocate
//! more than the cap.

use std::io::{BufRead, Read};

use thiserror::Error;

/// One reply from a peer; error replies are [`ReplyError::Remote`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// `+<text>`
    Status(String),
    /// `:<n>`
    Int(i64),
    /// `$<len>` (`None`: `$-1`)
    Bulk(Option<Vec<u8>>),
    /// `*<count>` (`*-1` reads as an empty array)
    Array(Vec<Reply>),
}

impl Reply {
    /// The bulk strings of an array reply, in order (other items left out): how a
    /// command a node receives on a link it reads with [`read_reply`] looks.
    pub fn words(&self) -> Vec<&[u8]> {
        match self {
            Reply::Array(items) => items
                .iter()
                .filter_map(|item| match item {
                    Reply::Bulk(Some(b)) => Some(b.as_slice()),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        }
    }
}

/// A command as a client sends it: an array of bulk strings.
pub fn encode_command(args: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + args.iter().map(|a| a.len() + 16).sum::<usize>());
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for arg in args {
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
    out
}

#[derive(Debug, Error)]
pub enum ReplyError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// `-<text>`: the peer refused the command.
    #[error("{0}")]
    Remote(String),
    #[error("malformed reply: {0}")]
    Malformed(&'static str),
    #[error("reply of {0} bytes exceeds the limit")]
    TooLarge(i64),
}

/// Deepest array nesting read (the replies a node reads are flat or one level deep).
const MAX_DEPTH: usize = 8;

/// Reads one reply. `max_len` caps every bulk string's length and array's element
/// count; a longer line than `max_len` is refused too.
pub fn read_reply(reader: &mut impl BufRead, max_len: usize) -> Result<Reply, ReplyError> {
    read_at(reader, max_len, 0)
}

fn read_at(reader: &mut impl BufRead, max_len: usize, depth: usize) -> Result<Reply, ReplyError> {
    let line = read_line(reader, max_len)?;
    let (kind, rest) = line.split_at(line.len().min(1));
    let number = || {
        rest.parse::<i64>()
            .map_err(|_| ReplyError::Malformed("bad length or integer"))
    };
    let checked = |n: i64| -> Result<usize, ReplyError> {
        usize::try_from(n)
            .ok()
            .filter(|&n| n <= max_len)
            .ok_or(ReplyError::TooLarge(n))
    };
    match kind {
        "+" => Ok(Reply::Status(rest.to_string())),
        "-" => Err(ReplyError::Remote(rest.to_string())),
        ":" => Ok(Reply::Int(number()?)),
        "$" => {
            let len = number()?;
            if len < 0 {
                return Ok(Reply::Bulk(None));
            }
            let len = checked(len)?;
            let mut data = vec![0u8; len + 2];
            reader.read_exact(&mut data)?;
            if &data[len..] != b"\r\n" {
                return Err(ReplyError::Malformed("bulk string without CRLF"));
            }
            data.truncate(len);
            Ok(Reply::Bulk(Some(data)))
        }
        "*" => {
            let count = number()?;
            if count < 0 {
                return Ok(Reply::Array(Vec::new()));
            }
            if depth >= MAX_DEPTH {
                return Err(ReplyError::Malformed("arrays nested too deep"));
            }
            let count = checked(count)?;
            let mut items = Vec::with_capacity(count.min(1024));
            for _ in 0..count {
                items.push(read_at(reader, max_len, depth + 1)?);
            }
            Ok(Reply::Array(items))
        }
        _ => Err(ReplyError::Malformed("unknown reply type")),
    }
}

/// One line without its CRLF, at most `max_len` bytes.
fn read_line(reader: &mut impl BufRead, max_len: usize) -> Result<String, ReplyError> {
    let mut line = Vec::new();
    let limit = u64::try_from(max_len).unwrap_or(u64::MAX).saturating_add(2);
    let read = reader.by_ref().take(limit).read_until(b'\n', &mut line)?;
    if read == 0 {
        return Err(ReplyError::Io(std::io::ErrorKind::UnexpectedEof.into()));
    }
    if !line.ends_with(b"\r\n") {
        return Err(if read as u64 >= limit {
            ReplyError::TooLarge(read as i64)
        } else {
            ReplyError::Malformed("line without CRLF")
        });
    }
    line.truncate(line.len() - 2);
    String::from_utf8(line).map_err(|_| ReplyError::Malformed("line is not UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(bytes: &[u8], max: usize) -> Result<Reply, ReplyError> {
        read_reply(&mut std::io::BufReader::new(bytes), max)
    }

    #[test]
    fn reads_every_kind() {
        assert_eq!(read(b"+OK\r\n", 64).unwrap(), Reply::Status("OK".into()));
        assert_eq!(read(b":-7\r\n", 64).unwrap(), Reply::Int(-7));
        assert_eq!(
            read(b"$3\r\nabc\r\n", 64).unwrap(),
            Reply::Bulk(Some(b"abc".to_vec()))
        );
        assert_eq!(read(b"$-1\r\n", 64).unwrap(), Reply::Bulk(None));
        assert_eq!(
            read(b"*2\r\n:1\r\n$0\r\n\r\n", 64).unwrap(),
            Reply::Array(vec![Reply::Int(1), Reply::Bulk(Some(Vec::new()))])
        );
        match read(b"-ERR no\r\n", 64) {
            Err(ReplyError::Remote(text)) => assert_eq!(text, "ERR no"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn refuses_what_exceeds_the_cap_before_allocating() {
        assert!(matches!(
            read(b"$999999999999\r\n", 1024),
            Err(ReplyError::TooLarge(_))
        ));
        assert!(matches!(
            read(b"*100000\r\n", 1024),
            Err(ReplyError::TooLarge(_))
        ));
        let long_line = format!("+{}\r\n", "x".repeat(100));
        assert!(matches!(
            read(long_line.as_bytes(), 16),
            Err(ReplyError::TooLarge(_))
        ));
    }

    #[test]
    fn refuses_malformed_input() {
        for bad in [
            &b"?\r\n"[..],
            b"$3\r\nabcd\r\n",
            b":x\r\n",
            b"+OK\n",
            b"",
            b"$5\r\nab",
        ] {
            assert!(read(bad, 64).is_err(), "{bad:?}");
        }
        let deep = "*1\r\n".repeat(20) + ":1\r\n";
        assert!(matches!(
            read(deep.as_bytes(), 64),
            Err(ReplyError::Malformed(_))
        ));
    }
}
