use bytes::{BufMut, Bytes, BytesMut};

/// Which reply dialect a connection speaks; `HELLO 3` switches to RESP3.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProtocolVersion {
    Resp2,
    Resp3,
}

/// A reply value. The server builds RESP3-shaped values once and lets
/// [`Frame::encode`] downgrade them for RESP2 clients, the way Redis does.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    Simple(String),
    /// Full text without the leading `-`, prefix included (`ERR ...`,
    /// `WRONGTYPE ...`).
    Error(String),
    Integer(i64),
    Bulk(Bytes),
    /// A missing value (`$-1` in RESP2).
    Null,
    /// A missing aggregate (`*-1` in RESP2); RESP3 has a single null.
    NullArray,
    Array(Vec<Frame>),
    /// Sent as a flat array of keys and values to RESP2 clients.
    Map(Vec<(Frame, Frame)>),
    Set(Vec<Frame>),
    /// Sent as a bulk string of [`format_double`]'s text to RESP2 clients.
    Double(f64),
    /// A double whose text the command chose (Redis' `addReplyHumanLongDouble`, e.g.
    /// GEOPOS coordinates as `13.36138933897018433`): `,text` in RESP3, a bulk string
    /// in RESP2.
    DoubleText(String),
    /// Sent as the integer 1 or 0 to RESP2 clients.
    Boolean(bool),
    /// A big number (its decimal text); a bulk string in RESP2.
    BigNumber(String),
    /// Plain text (`txt`) verbatim string; a bulk string in RESP2.
    Verbatim(Bytes),
    /// Out-of-band message (pub/sub, invalidation); an array in RESP2.
    Push(Vec<Frame>),
    /// RESP3 attributes (`|n`), sent as they are in both protocols: only Kvrocks'
    /// `DEBUG PROTOCOL attrib` replies with one.
    Attribute(Vec<(Frame, Frame)>),
    /// Several replies in a row for one command, each encoded on its own (SUBSCRIBE
    /// and UNSUBSCRIBE confirm every channel with a reply of its own, as Redis does).
    Replies(Vec<Frame>),
}

impl Frame {
    pub fn ok() -> Frame {
        Frame::Simple("OK".to_owned())
    }

    pub fn simple(s: &str) -> Frame {
        Frame::Simple(s.to_owned())
    }

    /// `msg` must already carry its prefix (`ERR ...`).
    pub fn error(msg: impl Into<String>) -> Frame {
        Frame::Error(msg.into())
    }

    pub fn bulk(b: impl Into<Bytes>) -> Frame {
        Frame::Bulk(b.into())
    }

    pub fn bulk_from_str(s: &str) -> Frame {
        Frame::Bulk(Bytes::copy_from_slice(s.as_bytes()))
    }

    /// Appends the wire form of this frame to `out`.
    pub fn encode(&self, version: ProtocolVersion, out: &mut BytesMut) {
        let resp3 = version == ProtocolVersion::Resp3;
        match self {
            Frame::Simple(s) => put_line(out, b'+', s.as_bytes()),
            Frame::Error(s) => put_line(out, b'-', s.as_bytes()),
            Frame::Integer(n) => put_int(out, b':', *n),
            Frame::Bulk(data) => put_bulk(out, data),
            Frame::Null if resp3 => out.extend_from_slice(b"_\r\n"),
            Frame::Null => out.extend_from_slice(b"$-1\r\n"),
            Frame::NullArray if resp3 => out.extend_from_slice(b"_\r\n"),
            Frame::NullArray => out.extend_from_slice(b"*-1\r\n"),
            Frame::Array(items) => put_aggregate(out, b'*', items, version),
            Frame::Map(pairs) => {
                if resp3 {
                    put_len(out, b'%', pairs.len());
                } else {
                    put_len(out, b'*', pairs.len().saturating_mul(2));
                }
                for (key, value) in pairs {
                    key.encode(version, out);
                    value.encode(version, out);
                }
            }
            Frame::Set(items) => {
                put_aggregate(out, if resp3 { b'~' } else { b'*' }, items, version)
            }
            Frame::Double(v) => {
                let text = format_double(*v);
                if resp3 {
                    put_line(out, b',', text.as_bytes());
                } else {
                    put_bulk(out, text.as_bytes());
                }
            }
            Frame::DoubleText(text) if resp3 => put_line(out, b',', text.as_bytes()),
            Frame::DoubleText(text) => put_bulk(out, text.as_bytes()),
            Frame::Boolean(b) => out.extend_from_slice(match (resp3, b) {
                (true, true) => b"#t\r\n",
                (true, false) => b"#f\r\n",
                (false, true) => b":1\r\n",
                (false, false) => b":0\r\n",
            }),
            Frame::BigNumber(text) if resp3 => put_line(out, b'(', text.as_bytes()),
            Frame::BigNumber(text) => put_bulk(out, text.as_bytes()),
            Frame::Verbatim(data) if resp3 => {
                const FORMAT: &[u8] = b"txt:";
                put_len(out, b'=', data.len().saturating_add(FORMAT.len()));
                out.reserve(FORMAT.len() + data.len() + 2);
                out.extend_from_slice(FORMAT);
                out.extend_from_slice(data);
                out.extend_from_slice(b"\r\n");
            }
            Frame::Verbatim(data) => put_bulk(out, data),
            Frame::Push(items) => {
                put_aggregate(out, if resp3 { b'>' } else { b'*' }, items, version)
            }
            Frame::Attribute(pairs) => {
                put_len(out, b'|', pairs.len());
                for (key, value) in pairs {
                    key.encode(version, out);
                    value.encode(version, out);
                }
            }
            Frame::Replies(frames) => {
                for frame in frames {
                    frame.encode(version, out);
                }
            }
        }
    }
}

/// Redis' text for a double reply (`d2string` of Redis 7.2, src/util.c): `nan`, `inf`,
/// `-inf`, `0` and `-0`; an integral value within ±2^62 as an integer (`3`); any other
/// value as its shortest round-tripping digits (Redis uses Grisu, `fpconv_dtoa`), laid
/// out like this:
///
/// - plain digits and trailing zeros when the value is integral and its decimal exponent
///   is less than the digit count + 7 (`12345678901234567000`);
/// - a plain fraction when the exponent of its last digit is above -7, or its leading
///   digit's exponent is within ±3 (`0.1`, `0.000001`, `1234.5`);
/// - scientific notation otherwise, with an explicit sign and no padding of the exponent
///   (`1.7976931348623157e+308`, `1e-7`, `1e+20`).
pub fn format_double(v: f64) -> String {
    if v.is_nan() {
        return "nan".to_owned();
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf" } else { "-inf" }.to_owned();
    }
    if v == 0.0 {
        return if v.is_sign_negative() { "-0" } else { "0" }.to_owned();
    }
    // Redis' `double2ll`: within ±LLONG_MAX/2 an integral value prints as an integer.
    const HALF_RANGE: f64 = (i64::MAX / 2) as f64;
    if (-HALF_RANGE..=HALF_RANGE).contains(&v) && v.fract() == 0.0 {
        return (v as i64).to_string();
    }
    // Rust's `{:e}` gives the shortest round-tripping digits: `d.ddde[-]x`.
    let sci = format!("{:e}", v.abs());
    let (mantissa, exponent) = sci.split_once('e').unwrap_or((&sci, "0"));
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let lead_exp: i32 = exponent.parse().unwrap_or(0);
    let ndigits = digits.len() as i32;
    // The value is `digits` × 10^k.
    let k = lead_exp - ndigits + 1;
    let exp = lead_exp.abs();
    let mut out = String::with_capacity(24);
    if v < 0.0 {
        out.push('-');
    }
    if k >= 0 && exp < ndigits + 7 {
        out.push_str(&digits);
        out.extend(std::iter::repeat_n('0', k as usize));
    } else if k < 0 && (k > -7 || exp < 4) {
        let offset = ndigits + k;
        if offset <= 0 {
            out.push_str("0.");
            out.extend(std::iter::repeat_n('0', (-offset) as usize));
            out.push_str(&digits);
        } else {
            out.push_str(&digits[..offset as usize]);
            out.push('.');
            out.push_str(&digits[offset as usize..]);
        }
    } else {
        out.push_str(&digits[..1]);
        if ndigits > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push('e');
        out.push(if lead_exp < 0 { '-' } else { '+' });
        out.push_str(&exp.to_string());
    }
    out
}

fn put_line(out: &mut BytesMut, prefix: u8, text: &[u8]) {
    out.reserve(text.len() + 3);
    out.put_u8(prefix);
    let start = out.len();
    out.extend_from_slice(text);
    // A CR or LF would end the line early and desynchronise the client, so
    // Redis turns them into spaces; so do we, for errors and status alike.
    if memchr::memchr2(b'\r', b'\n', text).is_some() {
        for b in &mut out[start..] {
            if *b == b'\r' || *b == b'\n' {
                *b = b' ';
            }
        }
    }
    out.extend_from_slice(b"\r\n");
}

fn put_int(out: &mut BytesMut, prefix: u8, n: i64) {
    out.put_u8(prefix);
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
    out.extend_from_slice(b"\r\n");
}

fn put_len(out: &mut BytesMut, prefix: u8, n: usize) {
    out.put_u8(prefix);
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
    out.extend_from_slice(b"\r\n");
}

fn put_bulk(out: &mut BytesMut, data: &[u8]) {
    // One reservation for header, payload and trailer instead of letting a
    // large payload trigger its own growth after the header was written.
    out.reserve(data.len() + 24);
    put_len(out, b'$', data.len());
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

fn put_aggregate(out: &mut BytesMut, prefix: u8, items: &[Frame], version: ProtocolVersion) {
    put_len(out, prefix, items.len());
    for item in items {
        item.encode(version, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ProtocolVersion::{Resp2, Resp3};

    fn enc(frame: &Frame, version: ProtocolVersion) -> Vec<u8> {
        let mut out = BytesMut::new();
        frame.encode(version, &mut out);
        out.to_vec()
    }

    /// Asserts the RESP2 and RESP3 encodings of `frame`.
    fn check(frame: Frame, resp2: &[u8], resp3: &[u8]) {
        assert_eq!(
            enc(&frame, Resp2),
            resp2,
            "RESP2 of {frame:?}: {:?}",
            String::from_utf8_lossy(&enc(&frame, Resp2))
        );
        assert_eq!(
            enc(&frame, Resp3),
            resp3,
            "RESP3 of {frame:?}: {:?}",
            String::from_utf8_lossy(&enc(&frame, Resp3))
        );
    }

    #[test]
    fn constructors() {
        assert_eq!(Frame::ok(), Frame::Simple("OK".into()));
        assert_eq!(Frame::simple("PONG"), Frame::Simple("PONG".into()));
        assert_eq!(Frame::error("ERR x"), Frame::Error("ERR x".into()));
        assert_eq!(
            Frame::error(String::from("WRONGTYPE y")),
            Frame::Error("WRONGTYPE y".into())
        );
        assert_eq!(
            Frame::bulk(&b"ab"[..]),
            Frame::Bulk(Bytes::from_static(b"ab"))
        );
        assert_eq!(
            Frame::bulk(vec![1u8, 2]),
            Frame::Bulk(Bytes::from(vec![1u8, 2]))
        );
        assert_eq!(Frame::bulk_from_str("hé"), Frame::Bulk(Bytes::from("hé")));
    }

    #[test]
    fn simple() {
        check(Frame::ok(), b"+OK\r\n", b"+OK\r\n");
        check(Frame::simple(""), b"+\r\n", b"+\r\n");
    }

    #[test]
    fn simple_never_contains_line_breaks() {
        check(
            Frame::simple("a\r\nb\nc\r"),
            b"+a  b c \r\n",
            b"+a  b c \r\n",
        );
    }

    #[test]
    fn error() {
        check(
            Frame::error("ERR unknown command 'foo'"),
            b"-ERR unknown command 'foo'\r\n",
            b"-ERR unknown command 'foo'\r\n",
        );
        check(
            Frame::error("WRONGTYPE Operation against a key"),
            b"-WRONGTYPE Operation against a key\r\n",
            b"-WRONGTYPE Operation against a key\r\n",
        );
    }

    #[test]
    fn error_never_contains_line_breaks() {
        check(
            Frame::error("ERR bad\r\nthing\n"),
            b"-ERR bad  thing \r\n",
            b"-ERR bad  thing \r\n",
        );
    }

    #[test]
    fn integer() {
        check(Frame::Integer(0), b":0\r\n", b":0\r\n");
        check(Frame::Integer(42), b":42\r\n", b":42\r\n");
        check(Frame::Integer(-7), b":-7\r\n", b":-7\r\n");
        check(
            Frame::Integer(i64::MIN),
            b":-9223372036854775808\r\n",
            b":-9223372036854775808\r\n",
        );
        check(
            Frame::Integer(i64::MAX),
            b":9223372036854775807\r\n",
            b":9223372036854775807\r\n",
        );
    }

    #[test]
    fn bulk() {
        check(
            Frame::bulk_from_str("foo"),
            b"$3\r\nfoo\r\n",
            b"$3\r\nfoo\r\n",
        );
        check(Frame::bulk_from_str(""), b"$0\r\n\r\n", b"$0\r\n\r\n");
        // Bulk strings are binary safe: CR/LF inside are kept.
        check(
            Frame::bulk(&b"a\r\n\0b"[..]),
            b"$5\r\na\r\n\0b\r\n",
            b"$5\r\na\r\n\0b\r\n",
        );
    }

    #[test]
    fn replies_are_encoded_one_after_another() {
        let push = |n| Frame::Push(vec![Frame::bulk_from_str("subscribe"), Frame::Integer(n)]);
        check(
            Frame::Replies(vec![push(1), push(2)]),
            b"*2\r\n$9\r\nsubscribe\r\n:1\r\n*2\r\n$9\r\nsubscribe\r\n:2\r\n",
            b">2\r\n$9\r\nsubscribe\r\n:1\r\n>2\r\n$9\r\nsubscribe\r\n:2\r\n",
        );
    }

    #[test]
    fn big_bulk() {
        let data = vec![b'x'; 100_000];
        let mut expected = b"$100000\r\n".to_vec();
        expected.extend_from_slice(&data);
        expected.extend_from_slice(b"\r\n");
        check(Frame::bulk(data), &expected, &expected);
    }

    #[test]
    fn nulls() {
        check(Frame::Null, b"$-1\r\n", b"_\r\n");
        check(Frame::NullArray, b"*-1\r\n", b"_\r\n");
    }

    #[test]
    fn array() {
        check(Frame::Array(vec![]), b"*0\r\n", b"*0\r\n");
        check(
            Frame::Array(vec![
                Frame::Integer(1),
                Frame::bulk_from_str("a"),
                Frame::Array(vec![Frame::Null]),
            ]),
            b"*3\r\n:1\r\n$1\r\na\r\n*1\r\n$-1\r\n",
            b"*3\r\n:1\r\n$1\r\na\r\n*1\r\n_\r\n",
        );
    }

    #[test]
    fn map() {
        check(Frame::Map(vec![]), b"*0\r\n", b"%0\r\n");
        check(
            Frame::Map(vec![
                (Frame::bulk_from_str("k"), Frame::Integer(1)),
                (Frame::simple("s"), Frame::Boolean(true)),
            ]),
            b"*4\r\n$1\r\nk\r\n:1\r\n+s\r\n:1\r\n",
            b"%2\r\n$1\r\nk\r\n:1\r\n+s\r\n#t\r\n",
        );
    }

    #[test]
    fn set() {
        check(Frame::Set(vec![]), b"*0\r\n", b"~0\r\n");
        check(
            Frame::Set(vec![Frame::bulk_from_str("a"), Frame::bulk_from_str("b")]),
            b"*2\r\n$1\r\na\r\n$1\r\nb\r\n",
            b"~2\r\n$1\r\na\r\n$1\r\nb\r\n",
        );
    }

    #[test]
    fn double() {
        check(Frame::Double(1.5), b"$3\r\n1.5\r\n", b",1.5\r\n");
        check(Frame::Double(3.0), b"$1\r\n3\r\n", b",3\r\n");
        check(Frame::Double(-0.25), b"$5\r\n-0.25\r\n", b",-0.25\r\n");
        check(Frame::Double(f64::INFINITY), b"$3\r\ninf\r\n", b",inf\r\n");
        check(
            Frame::Double(f64::NEG_INFINITY),
            b"$4\r\n-inf\r\n",
            b",-inf\r\n",
        );
        check(Frame::Double(f64::NAN), b"$3\r\nnan\r\n", b",nan\r\n");
        check(
            Frame::DoubleText("13.36138933897018433".into()),
            b"$20\r\n13.36138933897018433\r\n",
            b",13.36138933897018433\r\n",
        );
    }

    #[test]
    fn boolean() {
        check(Frame::Boolean(true), b":1\r\n", b"#t\r\n");
        check(Frame::Boolean(false), b":0\r\n", b"#f\r\n");
    }

    #[test]
    fn verbatim() {
        check(
            Frame::Verbatim(Bytes::from_static(b"Some string")),
            b"$11\r\nSome string\r\n",
            b"=15\r\ntxt:Some string\r\n",
        );
        check(
            Frame::Verbatim(Bytes::new()),
            b"$0\r\n\r\n",
            b"=4\r\ntxt:\r\n",
        );
    }

    #[test]
    fn push() {
        check(
            Frame::Push(vec![
                Frame::bulk_from_str("message"),
                Frame::bulk_from_str("ch"),
                Frame::bulk_from_str("hi"),
            ]),
            b"*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n",
            b">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n",
        );
    }

    #[test]
    fn version_reaches_nested_frames() {
        let frame = Frame::Array(vec![Frame::Map(vec![(
            Frame::Set(vec![Frame::Double(0.5)]),
            Frame::Push(vec![Frame::NullArray, Frame::Boolean(false)]),
        )])]);
        check(
            frame,
            b"*1\r\n*2\r\n*1\r\n$3\r\n0.5\r\n*2\r\n*-1\r\n:0\r\n",
            b"*1\r\n%1\r\n~1\r\n,0.5\r\n>2\r\n_\r\n#f\r\n",
        );
    }

    #[test]
    fn encode_appends() {
        let mut out = BytesMut::from(&b"prev"[..]);
        Frame::Integer(1).encode(Resp2, &mut out);
        Frame::ok().encode(Resp2, &mut out);
        assert_eq!(&out[..], b"prev:1\r\n+OK\r\n");
    }

    #[test]
    fn format_double_text() {
        let cases: [(f64, &str); 23] = [
            (3.0, "3"),
            (-3.0, "-3"),
            (0.0, "0"),
            (-0.0, "-0"),
            (1.5, "1.5"),
            (0.1, "0.1"),
            (0.1 + 0.2, "0.30000000000000004"),
            (-2.5, "-2.5"),
            (10.5, "10.5"),
            (1e20, "1e+20"),
            (1e-7, "1e-7"),
            (1e-6, "0.000001"),
            (1.5e-7, "1.5e-7"),
            (0.000123, "0.000123"),
            (1234.5678, "1234.5678"),
            (9007199254740993.0, "9007199254740992"),
            (4611686018427387904.0, "4611686018427387904"),
            (1.2345678901234567e19, "12345678901234567000"),
            (f64::MAX, "1.7976931348623157e+308"),
            (-f64::MAX, "-1.7976931348623157e+308"),
            (5e-324, "5e-324"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
        ];
        for (v, text) in cases {
            assert_eq!(format_double(v), text, "{v:?}");
        }
        assert_eq!(format_double(f64::NAN), "nan");
    }

    #[test]
    fn format_double_round_trips() {
        let mut state = 0x9E37_79B9_7F4A_7C15_u64;
        for _ in 0..20_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let v = f64::from_bits(state);
            let text = format_double(v);
            if v.is_nan() {
                assert_eq!(text, "nan");
                continue;
            }
            let back: f64 = text.parse().expect("format_double output parses");
            assert_eq!(back.to_bits(), v.to_bits(), "{v:?} -> {text}");
            assert!(text.len() <= 25, "{text}");
        }
    }
}
