use super::*;
use crate::frame::{Frame, ProtocolVersion};

const MAX_BULK: usize = 512 * 1024 * 1024;

fn strs(args: &[&str]) -> Vec<Bytes> {
    args.iter()
        .map(|a| Bytes::copy_from_slice(a.as_bytes()))
        .collect()
}

fn multibulk(args: &[Bytes]) -> Vec<u8> {
    let mut out = BytesMut::new();
    Frame::Array(args.iter().cloned().map(Frame::Bulk).collect())
        .encode(ProtocolVersion::Resp2, &mut out);
    out.to_vec()
}

/// Every request the parser yields from `buf` until it needs more data.
fn drain(
    parser: &mut RequestParser,
    buf: &mut BytesMut,
    out: &mut Vec<Vec<Bytes>>,
) -> Result<(), ProtocolError> {
    while let Some(args) = parser.parse(buf)? {
        out.push(args);
    }
    Ok(())
}

/// Feeds `input` all at once; returns the requests and what is left over.
fn parse_all(input: &[u8]) -> Result<(Vec<Vec<Bytes>>, Vec<u8>), ProtocolError> {
    let mut parser = RequestParser::new(MAX_BULK);
    let mut buf = BytesMut::from(input);
    let mut out = Vec::new();
    drain(&mut parser, &mut buf, &mut out)?;
    Ok((out, buf.to_vec()))
}

/// Feeds `input` in pieces ending at each of `cuts` (and at its end).
fn parse_chunked(input: &[u8], cuts: &[usize]) -> Result<Vec<Vec<Bytes>>, ProtocolError> {
    let mut parser = RequestParser::new(MAX_BULK);
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    let mut start = 0;
    for &cut in cuts.iter().chain(std::iter::once(&input.len())) {
        let cut = cut.clamp(start, input.len());
        buf.extend_from_slice(&input[start..cut]);
        start = cut;
        drain(&mut parser, &mut buf, &mut out)?;
    }
    assert!(buf.is_empty(), "left over: {:?}", &buf[..]);
    Ok(out)
}

fn one(input: &[u8]) -> Vec<Bytes> {
    let (mut requests, rest) = parse_all(input).expect("valid request");
    assert_eq!(requests.len(), 1, "{requests:?}");
    assert!(rest.is_empty(), "left over: {rest:?}");
    requests.remove(0)
}

fn error(input: &[u8]) -> ProtocolError {
    parse_all(input).expect_err("protocol error")
}

fn incomplete(input: &[u8]) {
    let (requests, _) = parse_all(input).expect("no error while incomplete");
    assert!(requests.is_empty(), "{requests:?}");
}

// --- multibulk ---

#[test]
fn multibulk_request() {
    assert_eq!(
        one(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nvalue\r\n"),
        strs(&["SET", "k", "value"])
    );
}

#[test]
fn multibulk_binary_and_empty_args() {
    assert_eq!(
        one(b"*3\r\n$0\r\n\r\n$4\r\n\r\n\0\xff\r\n$1\r\n*\r\n"),
        vec![
            Bytes::new(),
            Bytes::from_static(b"\r\n\0\xff"),
            Bytes::from_static(b"*"),
        ]
    );
}

#[test]
fn pipelined_requests_in_one_buffer() {
    let input =
        b"*1\r\n$4\r\nPING\r\n*2\r\n$3\r\nGET\r\n$1\r\na\r\nECHO hi\r\n*1\r\n$4\r\nQUIT\r\n";
    let (requests, rest) = parse_all(input).unwrap();
    assert_eq!(
        requests,
        vec![
            strs(&["PING"]),
            strs(&["GET", "a"]),
            strs(&["ECHO", "hi"]),
            strs(&["QUIT"]),
        ]
    );
    assert!(rest.is_empty());
}

#[test]
fn parse_returns_one_request_at_a_time() {
    let mut parser = RequestParser::new(MAX_BULK);
    let mut buf = BytesMut::from(&b"*1\r\n$1\r\na\r\n*1\r\n$1\r\nb\r\n*1\r\n$1"[..]);
    assert_eq!(parser.parse(&mut buf).unwrap(), Some(strs(&["a"])));
    assert_eq!(&buf[..], b"*1\r\n$1\r\nb\r\n*1\r\n$1");
    assert_eq!(parser.parse(&mut buf).unwrap(), Some(strs(&["b"])));
    assert_eq!(parser.parse(&mut buf).unwrap(), None);
    buf.extend_from_slice(b"\r\nc\r\n");
    assert_eq!(parser.parse(&mut buf).unwrap(), Some(strs(&["c"])));
    assert!(buf.is_empty());
    assert_eq!(parser.parse(&mut buf).unwrap(), None);
}

#[test]
fn byte_by_byte_gives_the_same_requests() {
    let input: &[u8] = b"*2\r\n$3\r\nGET\r\n$3\r\nfoo\r\n*0\r\nSET \"a b\" 'c'\r\n\r\n*-1\r\n\
        *3\r\n$4\r\nHSET\r\n$0\r\n\r\n$12\r\nhello\r\nworld\r\nPING\n";
    let (whole, rest) = parse_all(input).unwrap();
    assert!(rest.is_empty());
    assert_eq!(
        whole,
        vec![
            strs(&["GET", "foo"]),
            strs(&["SET", "a b", "c"]),
            strs(&["HSET", "", "hello\r\nworld"]),
            strs(&["PING"]),
        ]
    );
    let every_byte: Vec<usize> = (1..input.len()).collect();
    assert_eq!(parse_chunked(input, &every_byte).unwrap(), whole);
}

#[test]
fn empty_and_negative_counts_are_skipped() {
    let (requests, rest) = parse_all(b"*0\r\n*-1\r\n*-5\r\n*1\r\n$4\r\nPING\r\n*0\r\n").unwrap();
    assert_eq!(requests, vec![strs(&["PING"])]);
    assert!(rest.is_empty());

    let mut parser = RequestParser::new(MAX_BULK);
    let mut buf = BytesMut::from(&b"*0\r\n"[..]);
    assert_eq!(parser.parse(&mut buf).unwrap(), None);
    assert!(buf.is_empty());
}

#[test]
fn multibulk_count_limit() {
    // The limit itself is fine: the parser waits for the arguments.
    incomplete(b"*1048576\r\n");
    assert_eq!(
        error(b"*1048577\r\n"),
        ProtocolError::InvalidMultibulkLength
    );
    assert_eq!(
        error(b"*3000000000\r\n"),
        ProtocolError::InvalidMultibulkLength
    );
}

#[test]
fn malformed_multibulk_counts() {
    for input in [
        &b"*\r\n"[..],
        b"*abc\r\n",
        b"*+1\r\n",
        b"*01\r\n",
        b"*-0\r\n",
        b"*-\r\n",
        b"*1 \r\n",
        b"* 1\r\n",
        b"*1.0\r\n",
        b"*99999999999999999999\r\n",
        b"*1\rX",
    ] {
        assert_eq!(
            error(input),
            ProtocolError::InvalidMultibulkLength,
            "{:?}",
            String::from_utf8_lossy(input)
        );
    }
}

#[test]
fn count_line_waits_for_the_byte_after_cr() {
    incomplete(b"*1\r");
    incomplete(b"*12");
}

#[test]
fn expected_dollar() {
    assert_eq!(
        error(b"*3\r\n$3\r\nSET\r\n$1\r\nx\r\nfooz\r\n"),
        ProtocolError::ExpectedDollar('f')
    );
    assert_eq!(error(b"*1\r\nfoo\r\n"), ProtocolError::ExpectedDollar('f'));
    assert_eq!(error(b"*1\r\n\r\n"), ProtocolError::ExpectedDollar('\r'));
    assert_eq!(
        error(b"*1\r\n:1\r\n").to_string(),
        "Protocol error: expected '$', got ':'"
    );
}

#[test]
fn expected_dollar_is_reported_once_the_line_is_complete() {
    // Redis only looks at the header once its CR has arrived.
    incomplete(b"*1\r\nfoo");
}

#[test]
fn invalid_bulk_lengths() {
    for input in [
        &b"*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$-10\r\n"[..],
        b"*1\r\n$-1\r\n",
        b"*1\r\n$blabla\r\n",
        b"*1\r\n$\r\n",
        b"*1\r\n$01\r\n",
        b"*1\r\n$+1\r\n",
        b"*1\r\n$1 \r\n",
        b"*1\r\n$99999999999999999999\r\n",
        b"*1\r\n$3\rXfoo\r\n",
    ] {
        assert_eq!(
            error(input),
            ProtocolError::InvalidBulkLength,
            "{:?}",
            String::from_utf8_lossy(input)
        );
    }
}

#[test]
fn bulk_length_limit() {
    let mut parser = RequestParser::new(5);
    let mut buf = BytesMut::from(&b"*1\r\n$5\r\nhello\r\n"[..]);
    assert_eq!(parser.parse(&mut buf).unwrap(), Some(strs(&["hello"])));

    let mut buf = BytesMut::from(&b"*1\r\n$6\r\n"[..]);
    assert_eq!(
        parser.parse(&mut buf),
        Err(ProtocolError::InvalidBulkLength)
    );

    parser.set_max_bulk_len(6);
    let mut buf = BytesMut::from(&b"*1\r\n$6\r\nhello!\r\n"[..]);
    assert_eq!(parser.parse(&mut buf).unwrap(), Some(strs(&["hello!"])));

    assert_eq!(
        error(b"*1\r\n$2000000000\r\n"),
        ProtocolError::InvalidBulkLength
    );
}

#[test]
fn bulk_data_must_end_with_crlf() {
    for input in [
        &b"*1\r\n$3\r\nfooXY"[..],
        b"*1\r\n$3\r\nfoo\rX",
        b"*1\r\n$3\r\nfoo\n\r",
        b"*2\r\n$1\r\nab\r\n$1\r\nc\r\n",
    ] {
        assert_eq!(error(input), ProtocolError::MissingBulkTerminator);
    }
    incomplete(b"*1\r\n$3\r\nfoo\r");
}

#[test]
fn too_big_mbulk_count_string() {
    let mut input = vec![b'*'];
    input.resize(MAX_LINE_LEN, b'1');
    incomplete(&input);
    input.push(b'1');
    assert_eq!(error(&input), ProtocolError::TooBigMultibulkCount);
}

#[test]
fn too_big_bulk_count_string() {
    let mut input = b"*1\r\n$".to_vec();
    input.resize(4 + MAX_LINE_LEN, b'A');
    incomplete(&input);
    input.push(b'A');
    assert_eq!(error(&input), ProtocolError::TooBigBulkCount);
}

#[test]
fn too_big_errors_also_when_arriving_in_pieces() {
    let mut parser = RequestParser::new(MAX_BULK);
    let mut buf = BytesMut::from(&b"*1\r\n$"[..]);
    let chunk = [b'9'; 1000];
    let mut result = Ok(None);
    for _ in 0..100 {
        buf.extend_from_slice(&chunk);
        result = parser.parse(&mut buf);
        if result.is_err() {
            break;
        }
    }
    assert_eq!(result, Err(ProtocolError::TooBigBulkCount));
}

#[test]
fn header_scan_resumes_where_it_stopped() {
    let mut parser = RequestParser::new(MAX_BULK);
    let mut buf = BytesMut::from(&b"*1\r\n$123"[..]);
    assert_eq!(parser.parse(&mut buf).unwrap(), None);
    // The count line is consumed; the rest of the bulk header was searched.
    assert_eq!(&buf[..], b"$123");
    assert_eq!(parser.scanned, 4);
    buf.extend_from_slice(b"\r");
    assert_eq!(parser.parse(&mut buf).unwrap(), None);
    assert_eq!(parser.scanned, 4);
    buf.extend_from_slice(b"\n");
    assert_eq!(parser.parse(&mut buf).unwrap(), None);
    assert_eq!(parser.scanned, 0);
    assert!(buf.is_empty());

    let mut parser = RequestParser::new(MAX_BULK);
    let mut buf = BytesMut::from(&b"GET ke"[..]);
    assert_eq!(parser.parse(&mut buf).unwrap(), None);
    assert_eq!(parser.scanned, 6);
}

#[test]
fn big_bulk_arriving_in_small_reads() {
    const LEN: usize = 8 * 1024 * 1024;
    let data: Vec<u8> = (0..LEN).map(|i| (i % 251) as u8).collect();
    let input = multibulk(&[
        Bytes::from_static(b"SET"),
        Bytes::from_static(b"k"),
        Bytes::from(data.clone()),
    ]);

    let mut parser = RequestParser::new(MAX_BULK);
    let mut buf = BytesMut::new();
    let mut result = None;
    for chunk in input.chunks(4096) {
        buf.extend_from_slice(chunk);
        if let Some(args) = parser.parse(&mut buf).unwrap() {
            assert!(result.is_none());
            result = Some(args);
        }
        if result.is_none()
            && parser
                .pending
                .as_ref()
                .is_some_and(|p| p.bulk_len == Some(LEN))
        {
            // Room for the rest of the bulk was reserved up to the cap.
            assert!(buf.capacity() - buf.len() >= MAX_BULK_PREALLOC.min(LEN + 2 - buf.len()));
        }
    }
    let args = result.expect("request complete");
    assert_eq!(args.len(), 3);
    assert_eq!(args[2].len(), LEN);
    assert!(args[2] == data);
    assert!(buf.is_empty());
}

#[test]
fn bulk_args_share_the_read_buffer() {
    let mut buf = BytesMut::from(&b"*2\r\n$3\r\nGET\r\n$5\r\nhello\r\n"[..]);
    let range = buf.as_ptr() as usize..buf.as_ptr() as usize + buf.len();
    let args = RequestParser::new(MAX_BULK)
        .parse(&mut buf)
        .unwrap()
        .unwrap();
    for arg in &args {
        assert!(
            range.contains(&(arg.as_ptr() as usize)),
            "{arg:?} was copied"
        );
    }
}

#[test]
fn parser_is_reusable_after_an_error() {
    let mut parser = RequestParser::new(MAX_BULK);
    let mut buf = BytesMut::from(&b"*2\r\n$3\r\nGET\r\n$x\r\n"[..]);
    assert_eq!(
        parser.parse(&mut buf),
        Err(ProtocolError::InvalidBulkLength)
    );
    let mut buf = BytesMut::from(&b"*1\r\n$4\r\nPING\r\n"[..]);
    assert_eq!(parser.parse(&mut buf).unwrap(), Some(strs(&["PING"])));
}

// --- inline ---

#[test]
fn inline_request() {
    assert_eq!(one(b"SET key value\r\n"), strs(&["SET", "key", "value"]));
    assert_eq!(one(b"PING\n"), strs(&["PING"]));
    assert_eq!(one(b"  GET\t\tkey  \r\n"), strs(&["GET", "key"]));
    // Only the CR right before the LF is part of the line end.
    assert_eq!(one(b"a\rb\r\n"), strs(&["a", "b"]));
    assert_eq!(one(b"a\r\r\n"), strs(&["a"]));
}

#[test]
fn inline_waits_for_newline() {
    incomplete(b"GET key");
    incomplete(b"GET key\r");
}

#[test]
fn empty_inline_lines_are_skipped() {
    let (requests, rest) = parse_all(b"\r\n\n   \r\n\t\x0b\x0c\n\r\rPING\r\n").unwrap();
    assert_eq!(requests, vec![strs(&["PING"])]);
    assert!(rest.is_empty());
    let (requests, rest) = parse_all(b"\r\n\r\n").unwrap();
    assert!(requests.is_empty());
    assert!(rest.is_empty());
}

#[test]
fn inline_vertical_tab_and_form_feed() {
    // Skipped between arguments (isspace) but not argument terminators.
    assert_eq!(one(b"\x0ba\x0bb c\r\n"), strs(&["a\x0bb", "c"]));
}

#[test]
fn inline_double_quotes() {
    assert_eq!(
        one(b"SET \"hello world\" \"\"\r\n"),
        strs(&["SET", "hello world", ""])
    );
    assert_eq!(
        one(b"\"a\\n\\r\\t\\b\\a\\\\\\\"\\q\"\r\n"),
        vec![Bytes::from_static(b"a\n\r\t\x08\x07\\\"q")]
    );
    assert_eq!(
        one(b"\"\\x41\\x7a\\xFF\\x0\\xg1\"\r\n"),
        vec![Bytes::from_static(b"Az\xffx0xg1")]
    );
    // A quote may open in the middle of an argument.
    assert_eq!(one(b"foo\"bar baz\"\r\n"), strs(&["foobar baz"]));
    assert_eq!(one(b"\"a\"\t\"b\"\n"), strs(&["a", "b"]));
}

#[test]
fn inline_single_quotes() {
    assert_eq!(
        one(b"SET 'it\\'s' '\\n \"x\"'\r\n"),
        strs(&["SET", "it's", "\\n \"x\""])
    );
    assert_eq!(one(b"''\r\n"), strs(&[""]));
}

#[test]
fn unbalanced_quotes() {
    for input in [
        &b"SET \"abc\r\n"[..],
        b"SET 'abc\r\n",
        b"SET \"abc\"def\r\n",
        b"SET 'a'b\r\n",
        b"SET \"\"\"test-key\"\"\" test-value\r\n",
        b"\"abc\\\"\r\n",
        b"\"abc\\\r\n",
        b"'abc\\'\r\n",
    ] {
        assert_eq!(
            error(input),
            ProtocolError::UnbalancedQuotes,
            "{:?}",
            String::from_utf8_lossy(input)
        );
    }
}

#[test]
fn too_big_inline_request() {
    let mut input = vec![b'a'; MAX_LINE_LEN];
    incomplete(&input);
    input.push(b'a');
    assert_eq!(error(&input), ProtocolError::TooBigInlineRequest);
}

#[test]
fn long_inline_line_arriving_whole_is_accepted() {
    // Like Redis, the limit is on waiting for a line end, not on line length.
    let mut input = b"ECHO ".to_vec();
    input.resize(MAX_LINE_LEN * 2, b'x');
    input.extend_from_slice(b"\r\n");
    let args = one(&input);
    assert_eq!(args.len(), 2);
    assert_eq!(args[1].len(), MAX_LINE_LEN * 2 - 5);
}

#[test]
fn inline_keeps_nul_bytes() {
    assert_eq!(
        one(b"SET a\0b c\r\n"),
        vec![
            Bytes::from_static(b"SET"),
            Bytes::from_static(b"a\0b"),
            Bytes::from_static(b"c")
        ]
    );
}

// --- helpers ---

#[test]
fn parse_i64_is_strict() {
    assert_eq!(parse_i64(b"0"), Some(0));
    assert_eq!(parse_i64(b"7"), Some(7));
    assert_eq!(parse_i64(b"-7"), Some(-7));
    assert_eq!(parse_i64(b"9223372036854775807"), Some(i64::MAX));
    assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
    for bad in [
        &b""[..],
        b"-",
        b"-0",
        b"00",
        b"01",
        b"+1",
        b" 1",
        b"1 ",
        b"1a",
        b"9223372036854775808",
        b"-9223372036854775809",
        b"18446744073709551616",
        b"000000000000000000001",
    ] {
        assert_eq!(parse_i64(bad), None, "{:?}", String::from_utf8_lossy(bad));
    }
}

// --- randomised round trip ---

/// Tiny xorshift generator: reproducible without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn random_arg(rng: &mut Rng) -> Bytes {
    // Mostly short arguments, some long enough to span many reads, with the
    // bytes that matter to the framing over-represented.
    let len = match rng.below(10) {
        0 => 0,
        1 => rng.below(5000),
        _ => rng.below(20),
    };
    const SPECIAL: &[u8] = b"\r\n$*\"' \\0";
    (0..len)
        .map(|_| {
            if rng.below(4) == 0 {
                SPECIAL[rng.below(SPECIAL.len())]
            } else {
                rng.next() as u8
            }
        })
        .collect::<Vec<u8>>()
        .into()
}

#[test]
fn random_requests_split_at_random_points() {
    let mut rng = Rng(0x2545_F491_4F6C_DD1D);
    for round in 0..300 {
        let mut input = Vec::new();
        let mut expected = Vec::new();
        for _ in 0..1 + rng.below(6) {
            match rng.below(8) {
                // Empty requests in between must be skipped.
                0 => input.extend_from_slice(if rng.below(2) == 0 {
                    b"*0\r\n"
                } else {
                    b"*-1\r\n"
                }),
                1 => {
                    let words: Vec<String> = (0..1 + rng.below(4))
                        .map(|_| format!("w{}", rng.next() % 1000))
                        .collect();
                    input.extend_from_slice(words.join(" ").as_bytes());
                    input.extend_from_slice(b"\r\n");
                    expected.push(words.iter().map(|w| Bytes::from(w.clone())).collect());
                }
                _ => {
                    let args: Vec<Bytes> = (0..1 + rng.below(6))
                        .map(|_| random_arg(&mut rng))
                        .collect();
                    input.extend_from_slice(&multibulk(&args));
                    expected.push(args);
                }
            }
        }
        let mut cuts: Vec<usize> = (0..rng.below(40))
            .map(|_| rng.below(input.len() + 1))
            .collect();
        cuts.sort_unstable();
        let got = parse_chunked(&input, &cuts).unwrap_or_else(|e| panic!("round {round}: {e}"));
        assert_eq!(got, expected, "round {round}, cuts {cuts:?}");
    }
}
