use bytes::{Buf, Bytes, BytesMut};

use crate::error::ProtocolError;

/// Longest header or inline line we wait for (Redis' PROTO_INLINE_MAX_SIZE):
/// a client that sends this much without a line end is not speaking RESP,
/// and waiting longer would only let it grow our buffer.
const MAX_LINE_LEN: usize = 64 * 1024;

/// Most arguments one request may announce.
const MAX_MULTIBULK_LEN: i64 = 1024 * 1024;

/// Caps the argv preallocation, so that a bare `*1048576` header cannot make
/// us allocate for a million arguments that may never come (Redis caps it
/// the same way).
const MAX_ARGS_PREALLOC: usize = 1024;

/// Caps how much room is reserved for a bulk whose header announced more
/// than the buffer holds. Reserving the whole announced length would let a
/// header alone make us allocate up to proto-max-bulk-len; reserving nothing
/// would leave a large bulk to arrive through small reads. Past this,
/// `BytesMut`'s doubling growth keeps the total copying linear.
const MAX_BULK_PREALLOC: usize = 1024 * 1024;

/// Incremental parser for client requests, multibulk (`*2\r\n$3\r\nGET...`)
/// or inline (`GET key\r\n`), following Redis' `processMultibulkBuffer` and
/// `processInlineBuffer`.
///
/// The parser keeps what it learnt between calls, so a request arriving in
/// many small reads is parsed once, not from its start on every read. For
/// that to hold, the caller must only append to the buffer between calls.
#[derive(Debug)]
pub struct RequestParser {
    max_bulk_len: usize,
    /// Bytes at the front of the buffer already known to hold no line end,
    /// so a line arriving in many reads is searched once overall.
    scanned: usize,
    /// The request being assembled once its `*<n>` line has been consumed.
    pending: Option<Multibulk>,
}

#[derive(Debug)]
struct Multibulk {
    /// Arguments still to read.
    remaining: usize,
    args: Vec<Bytes>,
    /// Length of the next argument once its `$<len>` line has been consumed.
    bulk_len: Option<usize>,
}

impl RequestParser {
    /// `max_bulk_len` is Redis' proto-max-bulk-len: the longest single
    /// argument accepted.
    pub fn new(max_bulk_len: usize) -> Self {
        RequestParser {
            max_bulk_len,
            scanned: 0,
            pending: None,
        }
    }

    /// Applies to bulk headers not yet read.
    pub fn set_max_bulk_len(&mut self, n: usize) {
        self.max_bulk_len = n;
    }

    /// Parses one complete request from the front of `buf`, consuming its
    /// bytes.
    ///
    /// `Ok(None)` means more data is needed; whatever was consumed is
    /// remembered, so call again with the same buffer once more bytes have
    /// been appended. Empty requests (`*0`, `*-1`, blank inline lines) are
    /// consumed and skipped, as Redis does. After an error the connection
    /// must be closed: the error's `Display` is the reply text after `-ERR `.
    pub fn parse(&mut self, buf: &mut BytesMut) -> Result<Option<Vec<Bytes>>, ProtocolError> {
        let result = self.parse_request(buf);
        if result.is_err() {
            // Leave the parser usable for a fresh buffer rather than half-way
            // through a request that will never complete.
            self.scanned = 0;
            self.pending = None;
        }
        result
    }

    fn parse_request(&mut self, buf: &mut BytesMut) -> Result<Option<Vec<Bytes>>, ProtocolError> {
        loop {
            if self.pending.is_some() {
                return self.read_args(buf);
            }
            let Some(&first) = buf.first() else {
                return Ok(None);
            };
            if first == b'*' {
                if !self.read_count(buf)? {
                    return Ok(None);
                }
            } else {
                match self.read_inline(buf)? {
                    Inline::NeedMore => return Ok(None),
                    Inline::Empty => {}
                    Inline::Request(args) => return Ok(Some(args)),
                }
            }
        }
    }

    /// Consumes the `*<n>` line. Returns false if it is not complete yet;
    /// true if it was consumed, leaving `pending` set unless the request is
    /// empty.
    fn read_count(&mut self, buf: &mut BytesMut) -> Result<bool, ProtocolError> {
        let Some(cr) = find_line_end(&mut self.scanned, buf, ProtocolError::TooBigMultibulkCount)?
        else {
            return Ok(false);
        };
        let count = match (buf[cr + 1], parse_i64(&buf[1..cr])) {
            (b'\n', Some(n)) if n <= MAX_MULTIBULK_LEN => n,
            _ => return Err(ProtocolError::InvalidMultibulkLength),
        };
        buf.advance(cr + 2);
        self.scanned = 0;
        // Zero or negative counts are empty requests that Redis ignores.
        if let Ok(remaining @ 1..) = usize::try_from(count) {
            self.pending = Some(Multibulk {
                remaining,
                args: Vec::with_capacity(remaining.min(MAX_ARGS_PREALLOC)),
                bulk_len: None,
            });
        }
        Ok(true)
    }

    /// Reads the arguments of the pending multibulk request, as far as the
    /// buffer goes.
    fn read_args(&mut self, buf: &mut BytesMut) -> Result<Option<Vec<Bytes>>, ProtocolError> {
        let Some(request) = self.pending.as_mut() else {
            return Ok(None);
        };
        while request.remaining > 0 {
            let len = match request.bulk_len {
                Some(len) => len,
                None => {
                    let Some(cr) =
                        find_line_end(&mut self.scanned, buf, ProtocolError::TooBigBulkCount)?
                    else {
                        return Ok(None);
                    };
                    // Checked only once the line is complete, as Redis does:
                    // checking earlier would turn some "too big bulk count
                    // string" errors into this one and differ from Redis.
                    if buf[0] != b'$' {
                        return Err(ProtocolError::ExpectedDollar(char::from(buf[0])));
                    }
                    let len = match (buf[cr + 1], parse_i64(&buf[1..cr])) {
                        (b'\n', Some(n)) => usize::try_from(n)
                            .ok()
                            .filter(|&n| n <= self.max_bulk_len)
                            .ok_or(ProtocolError::InvalidBulkLength)?,
                        _ => return Err(ProtocolError::InvalidBulkLength),
                    };
                    buf.advance(cr + 2);
                    self.scanned = 0;
                    request.bulk_len = Some(len);
                    len
                }
            };
            let needed = len.checked_add(2).ok_or(ProtocolError::InvalidBulkLength)?;
            if buf.len() < needed {
                buf.reserve((needed - buf.len()).min(MAX_BULK_PREALLOC));
                return Ok(None);
            }
            if buf[len..needed] != *b"\r\n" {
                return Err(ProtocolError::MissingBulkTerminator);
            }
            // Zero-copy: the argument shares the read buffer's allocation.
            let arg = buf.split_to(len).freeze();
            buf.advance(2);
            request.args.push(arg);
            request.remaining -= 1;
            request.bulk_len = None;
        }
        Ok(self.pending.take().map(|request| request.args))
    }

    fn read_inline(&mut self, buf: &mut BytesMut) -> Result<Inline, ProtocolError> {
        let from = self.scanned.min(buf.len());
        let Some(offset) = memchr::memchr(b'\n', &buf[from..]) else {
            if buf.len() > MAX_LINE_LEN {
                return Err(ProtocolError::TooBigInlineRequest);
            }
            self.scanned = buf.len();
            return Ok(Inline::NeedMore);
        };
        let newline = from + offset;
        let end = match newline.checked_sub(1) {
            Some(before) if buf[before] == b'\r' => before,
            _ => newline,
        };
        let args = split_args(&buf[..end]);
        buf.advance(newline + 1);
        self.scanned = 0;
        match args {
            None => Err(ProtocolError::UnbalancedQuotes),
            Some(args) if args.is_empty() => Ok(Inline::Empty),
            Some(args) => Ok(Inline::Request(args)),
        }
    }
}

enum Inline {
    NeedMore,
    Empty,
    Request(Vec<Bytes>),
}

/// Finds the CR ending the header line at the front of `buf`, once the byte
/// after it has arrived too. `scanned` carries the search position across
/// calls.
fn find_line_end(
    scanned: &mut usize,
    buf: &[u8],
    too_big: ProtocolError,
) -> Result<Option<usize>, ProtocolError> {
    let from = (*scanned).min(buf.len());
    match memchr::memchr(b'\r', &buf[from..]) {
        Some(offset) => {
            let cr = from + offset;
            if cr + 1 < buf.len() {
                Ok(Some(cr))
            } else {
                *scanned = cr;
                Ok(None)
            }
        }
        None if buf.len() > MAX_LINE_LEN => Err(too_big),
        None => {
            *scanned = buf.len();
            Ok(None)
        }
    }
}

/// Redis' `string2ll`: plain decimal, optional `-`, no `+`, no leading zeros,
/// no `-0`, fewer than 21 bytes. Lengths are held to the same strictness so
/// that exactly the requests Redis rejects are rejected.
fn parse_i64(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() >= 21 {
        return None;
    }
    if s == b"0" {
        return Some(0);
    }
    let (negative, digits) = match s.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, s),
    };
    if !matches!(digits.first(), Some(b'1'..=b'9')) {
        return None;
    }
    let mut magnitude: u64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        magnitude = magnitude
            .checked_mul(10)?
            .checked_add(u64::from(d - b'0'))?;
    }
    if negative {
        0i64.checked_sub_unsigned(magnitude)
    } else {
        i64::try_from(magnitude).ok()
    }
}

/// C `isspace` in the C locale, which is what Redis skips between arguments
/// (note: includes `\v`, unlike `u8::is_ascii_whitespace`).
fn is_c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r')
}

fn hex_value(b: Option<&u8>) -> Option<u8> {
    char::from(*b?)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

/// Redis' `sdssplitargs`: splits an inline line into arguments, honouring
/// double quotes (with `\n \r \t \b \a \xHH` and `\<any>` escapes) and single
/// quotes (with `\'`). `None` means unbalanced quotes, which includes a
/// closing quote followed by anything but whitespace.
///
/// Unlike Redis, which stops at a NUL byte because it works on C strings,
/// NUL is an ordinary byte here.
fn split_args(line: &[u8]) -> Option<Vec<Bytes>> {
    let mut args = Vec::new();
    let mut i = 0;
    loop {
        while line.get(i).is_some_and(|&b| is_c_space(b)) {
            i += 1;
        }
        if i >= line.len() {
            return Some(args);
        }
        let mut arg = Vec::new();
        let mut in_double = false;
        let mut in_single = false;
        loop {
            let c = line.get(i).copied();
            if in_double {
                match c {
                    None => return None,
                    Some(b'\\') if line.get(i + 1) == Some(&b'x') => {
                        match (hex_value(line.get(i + 2)), hex_value(line.get(i + 3))) {
                            (Some(hi), Some(lo)) => {
                                arg.push(hi * 16 + lo);
                                i += 4;
                            }
                            _ => {
                                arg.push(b'x');
                                i += 2;
                            }
                        }
                    }
                    Some(b'\\') if i + 1 < line.len() => {
                        arg.push(match line[i + 1] {
                            b'n' => b'\n',
                            b'r' => b'\r',
                            b't' => b'\t',
                            b'b' => b'\x08',
                            b'a' => b'\x07',
                            other => other,
                        });
                        i += 2;
                    }
                    Some(b'"') => {
                        if line.get(i + 1).is_some_and(|&b| !is_c_space(b)) {
                            return None;
                        }
                        i += 1;
                        break;
                    }
                    Some(b) => {
                        arg.push(b);
                        i += 1;
                    }
                }
            } else if in_single {
                match c {
                    None => return None,
                    Some(b'\\') if line.get(i + 1) == Some(&b'\'') => {
                        arg.push(b'\'');
                        i += 2;
                    }
                    Some(b'\'') => {
                        if line.get(i + 1).is_some_and(|&b| !is_c_space(b)) {
                            return None;
                        }
                        i += 1;
                        break;
                    }
                    Some(b) => {
                        arg.push(b);
                        i += 1;
                    }
                }
            } else {
                match c {
                    None => break,
                    // Redis ends an unquoted argument only at these four, not
                    // at every isspace byte.
                    Some(b' ' | b'\n' | b'\r' | b'\t') => {
                        i += 1;
                        break;
                    }
                    Some(b'"') => {
                        in_double = true;
                        i += 1;
                    }
                    Some(b'\'') => {
                        in_single = true;
                        i += 1;
                    }
                    Some(b) => {
                        arg.push(b);
                        i += 1;
                    }
                }
            }
        }
        args.push(Bytes::from(arg));
    }
}

#[cfg(test)]
mod tests;
