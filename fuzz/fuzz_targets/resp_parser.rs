//! Feeds arbitrary bytes to `RequestParser`, whole and in arbitrary pieces,
//! and checks that chunking never changes the outcome, that every parsed
//! request survives a re-encode/re-parse round trip, and that nothing panics.
//!
//! Input layout: `[ctrl, seed, payload...]`.
//! - `ctrl` bits 0-1: proto-max-bulk-len (0, 8, 4096 or 512 MiB);
//! - `ctrl` bits 2-3: chunking (one piece, byte by byte, random 1..=16,
//!   random 1..=1024), piece sizes drawn from `seed`;
//! - `ctrl` high nibble 1: pad the payload past 64 KiB with the `seed` byte,
//!   so that small inputs reach the "too big ..." limits (padding rather than
//!   repeating, because a repeated request would make thousands of requests
//!   per run and slow the search a hundredfold). Byte-by-byte feeding becomes
//!   1..=64 for such runs, for the same reason.
#![no_main]

use ferrokv_protocol::{Bytes, BytesMut, Frame, ProtocolError, ProtocolVersion, RequestParser};
use libfuzzer_sys::fuzz_target;

const MAX_BULK_CHOICES: [usize; 4] = [0, 8, 4096, 512 * 1024 * 1024];
const PAD_TO: usize = 66 * 1024;

#[derive(Debug, PartialEq)]
enum End {
    /// Waiting for more data, with this many bytes left in the buffer.
    NeedMore(usize),
    Failed(ProtocolError),
}

/// Feeds `data` in pieces of the sizes `piece` returns, draining the parser
/// after each.
fn run(data: &[u8], max_bulk: usize, mut piece: impl FnMut() -> usize) -> (Vec<Vec<Bytes>>, End) {
    let mut parser = RequestParser::new(max_bulk);
    let mut buf = BytesMut::new();
    let mut requests = Vec::new();
    let mut fed = 0;
    while fed < data.len() {
        let end = fed.saturating_add(piece().max(1)).min(data.len());
        buf.extend_from_slice(&data[fed..end]);
        fed = end;
        loop {
            match parser.parse(&mut buf) {
                Ok(Some(args)) => requests.push(args),
                Ok(None) => break,
                Err(e) => return (requests, End::Failed(e)),
            }
        }
    }
    (requests, End::NeedMore(buf.len()))
}

fn is_too_big(e: &ProtocolError) -> bool {
    matches!(
        e,
        ProtocolError::TooBigMultibulkCount
            | ProtocolError::TooBigBulkCount
            | ProtocolError::TooBigInlineRequest
    )
}

fn check_round_trip(args: &[Bytes]) {
    assert!(!args.is_empty(), "empty requests must be skipped");
    let mut wire = BytesMut::new();
    Frame::Array(args.iter().cloned().map(Frame::Bulk).collect())
        .encode(ProtocolVersion::Resp2, &mut wire);
    let mut parser = RequestParser::new(usize::MAX);
    let again = parser.parse(&mut wire).expect("re-encoded request parses");
    assert_eq!(
        again.as_deref(),
        Some(args),
        "round trip changed the request"
    );
    assert!(wire.is_empty(), "round trip left bytes behind");

    // Status and error lines must stay one line whatever text they carry.
    let text = String::from_utf8_lossy(&args[0]).into_owned();
    for frame in [Frame::Error(text.clone()), Frame::Simple(text)] {
        let mut out = BytesMut::new();
        frame.encode(ProtocolVersion::Resp3, &mut out);
        let line_ends = out.iter().filter(|&&b| b == b'\r' || b == b'\n').count();
        assert_eq!(line_ends, 2);
        assert!(out.ends_with(b"\r\n"));
    }
}

fuzz_target!(|input: &[u8]| {
    let [ctrl, seed, payload @ ..] = input else {
        return;
    };
    let max_bulk = MAX_BULK_CHOICES[usize::from(ctrl & 3)];
    let mut data = payload.to_vec();
    let padded = ctrl >> 4 == 1;
    if padded {
        data.resize(data.len().max(PAD_TO), *seed);
    }

    let (whole, whole_end) = run(&data, max_bulk, || usize::MAX);

    let mut state = u64::from(*seed) | 0x9E37_79B9_7F4A_7C00;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let (chunked, chunked_end) = match (ctrl >> 2) & 3 {
        0 => run(&data, max_bulk, || usize::MAX),
        1 if !padded => run(&data, max_bulk, || 1),
        1 => run(&data, max_bulk, || 1 + (next() % 64) as usize),
        2 => run(&data, max_bulk, || 1 + (next() % 16) as usize),
        _ => run(&data, max_bulk, || 1 + (next() % 1024) as usize),
    };

    match &chunked_end {
        // How long a line may be depends on how much of it had arrived when
        // the parser looked: Redis too accepts a long line that arrives at
        // once and refuses one that trickles in. Up to there, though, both
        // ways must agree.
        End::Failed(e) if is_too_big(e) => {
            assert!(
                whole.len() >= chunked.len() && whole[..chunked.len()] == chunked[..],
                "chunked requests are not a prefix of whole-buffer requests"
            );
        }
        _ => {
            assert_eq!(chunked, whole, "chunking changed the requests");
            assert_eq!(chunked_end, whole_end, "chunking changed the outcome");
        }
    }

    // The chunked requests were just checked against these; a payload of
    // many small pipelined requests gains nothing from checking them all.
    for args in whole.iter().take(64) {
        check_round_trip(args);
    }
});
