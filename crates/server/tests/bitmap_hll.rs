//! Bitmap and HyperLogLog commands against a real server. Expected replies (counts,
//! bytes, error texts) were produced by redis-server 7.0 for the same commands.

mod common;
use std::time::Duration;

use common::{Raw, Reply, TestServer};

const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";
const NOT_HLL: &str = "WRONGTYPE Key is not a valid HyperLogLog string value.";

/// Runs `cases` in order on one connection, each with its exact expected reply.
fn check(c: &mut Raw, cases: &[(&[&str], Reply)]) {
    for (args, expected) in cases {
        assert_eq!(&c.cmd(args), expected, "{args:?}");
    }
}

#[test]
fn setbit_and_getbit() {
    let server = TestServer::start(&[]);
    let mut c = server.raw();
    check(
        &mut c,
        &[
            (&["setbit", "b", "7", "1"], Reply::Int(0)),
            (&["setbit", "b", "7", "0"], Reply::Int(1)),
            (&["setbit", "b", "7", "1"], Reply::Int(0)),
            (&["get", "b"], Reply::Bulk(b"\x01".to_vec())),
            (&["setbit", "b", "100", "1"], Reply::Int(0)),
            (&["strlen", "b"], Reply::Int(13)),
            (
                &["get", "b"],
                Reply::Bulk(b"\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x08".to_vec()),
            ),
            (&["getbit", "b", "7"], Reply::Int(1)),
            (&["getbit", "b", "6"], Reply::Int(0)),
            (&["getbit", "b", "100"], Reply::Int(1)),
            (&["getbit", "b", "101"], Reply::Int(0)),
            (&["getbit", "b", "10000"], Reply::Int(0)),
            (&["getbit", "nokey", "5"], Reply::Int(0)),
            (&["setbit", "nb", "0", "0"], Reply::Int(0)),
            (&["get", "nb"], Reply::Bulk(b"\x00".to_vec())),
            (&["exists", "nb"], Reply::Int(1)),
            (
                &["setbit", "b", "-1", "1"],
                Reply::err("ERR bit offset is not an integer or out of range"),
            ),
            (
                &["setbit", "b", "4294967296", "1"],
                Reply::err("ERR bit offset is not an integer or out of range"),
            ),
            (
                &["setbit", "b", "abc", "1"],
                Reply::err("ERR bit offset is not an integer or out of range"),
            ),
            (
                &["setbit", "b", "1", "2"],
                Reply::err("ERR bit is not an integer or out of range"),
            ),
            (
                &["setbit", "b", "1", "-1"],
                Reply::err("ERR bit is not an integer or out of range"),
            ),
            (
                &["setbit", "b", "1", "x"],
                Reply::err("ERR bit is not an integer or out of range"),
            ),
            (
                &["getbit", "b", "-1"],
                Reply::err("ERR bit offset is not an integer or out of range"),
            ),
            (
                &["getbit", "b", "4294967296"],
                Reply::err("ERR bit offset is not an integer or out of range"),
            ),
            (
                &["getbit", "b", "x"],
                Reply::err("ERR bit offset is not an integer or out of range"),
            ),
            (&["getbit", "b", "4294967295"], Reply::Int(0)),
            (&["hset", "h", "f", "v"], Reply::Int(1)),
            (
                &["setbit", "h", "1", "1"],
                Reply::err("WRONGTYPE Operation against a key holding the wrong kind of value"),
            ),
            (
                &["getbit", "h", "1"],
                Reply::err("WRONGTYPE Operation against a key holding the wrong kind of value"),
            ),
            (&["set", "s", "foobar"], Reply::ok()),
            (&["setbit", "s", "0", "1"], Reply::Int(0)),
            (&["get", "s"], Reply::Bulk(b"\xe6oobar".to_vec())),
            (&["getbit", "s", "1"], Reply::Int(1)),
            (&["getbit", "s", "2"], Reply::Int(1)),
        ],
    );
}

#[test]
fn bit_writes_keep_the_ttl() {
    let server = TestServer::start(&[]);
    let mut c = server.raw();
    assert_eq!(c.cmd(&["SET", "k", "a", "EX", "100"]), Reply::ok());
    assert_eq!(c.cmd(&["SETBIT", "k", "100", "1"]), Reply::Int(0));
    assert!(c.cmd(&["PTTL", "k"]).int() > 90_000);
    assert_eq!(
        c.cmd(&["BITFIELD", "k", "INCRBY", "u8", "#3", "5"]),
        Reply::Array(vec![Reply::Int(5)])
    );
    assert!(c.cmd(&["PTTL", "k"]).int() > 90_000);
    assert_eq!(c.cmd(&["PFADD", "h", "a"]), Reply::Int(1));
    assert_eq!(c.cmd(&["EXPIRE", "h", "100"]), Reply::Int(1));
    assert_eq!(c.cmd(&["PFADD", "h", "b", "c"]), Reply::Int(1));
    assert_eq!(c.cmd(&["PFMERGE", "h", "h"]), Reply::ok());
    assert!(c.cmd(&["PTTL", "h"]).int() > 90_000);
    // BITOP replaces its destination, expiry included, as SET does.
    assert_eq!(c.cmd(&["SET", "d", "x", "EX", "100"]), Reply::ok());
    assert_eq!(c.cmd(&["BITOP", "OR", "d", "k"]), Reply::Int(13));
    assert_eq!(c.cmd(&["TTL", "d"]), Reply::Int(-1));
    // A write to an expired key starts from nothing.
    assert_eq!(c.cmd(&["SET", "gone", "\u{ff}", "PX", "30"]), Reply::ok());
    std::thread::sleep(Duration::from_millis(60));
    assert_eq!(c.cmd(&["SETBIT", "gone", "0", "1"]), Reply::Int(0));
    assert_eq!(c.cmd(&["GET", "gone"]), Reply::Bulk(b"\x80".to_vec()));
    assert_eq!(c.cmd(&["TTL", "gone"]), Reply::Int(-1));
}

#[test]
fn bitcount_ranges() {
    let server = TestServer::start(&[]);
    let mut c = server.raw();
    check(
        &mut c,
        &[
            (&["set", "s", "foobar"], Reply::ok()),
            (&["bitcount", "s"], Reply::Int(26)),
            (&["bitcount", "s", "0", "0"], Reply::Int(4)),
            (&["bitcount", "s", "1", "1"], Reply::Int(6)),
            (&["bitcount", "s", "1", "1", "byte"], Reply::Int(6)),
            (&["bitcount", "s", "1", "1", "BYTE"], Reply::Int(6)),
            (&["bitcount", "s", "5", "30", "bit"], Reply::Int(17)),
            (&["bitcount", "s", "0", "-1"], Reply::Int(26)),
            (&["bitcount", "s", "-2", "-1"], Reply::Int(7)),
            (&["bitcount", "s", "-1", "-2"], Reply::Int(0)),
            (&["bitcount", "s", "100", "200"], Reply::Int(0)),
            (&["bitcount", "s", "-100", "100"], Reply::Int(26)),
            (&["bitcount", "s", "0", "-100"], Reply::Int(4)),
            (&["bitcount", "s", "3", "1"], Reply::Int(0)),
            (&["bitcount", "s", "0", "47", "bit"], Reply::Int(26)),
            (&["bitcount", "s", "1", "46", "bit"], Reply::Int(26)),
            (&["bitcount", "s", "-5", "-1", "bit"], Reply::Int(2)),
            (&["bitcount", "s", "-3", "-9", "bit"], Reply::Int(0)),
            (&["bitcount", "s", "9", "9", "bit"], Reply::Int(1)),
            (&["bitcount", "s", "10", "10", "BIT"], Reply::Int(1)),
            (&["bitcount", "s", "0"], Reply::err("ERR syntax error")),
            (
                &["bitcount", "s", "0", "1", "2"],
                Reply::err("ERR syntax error"),
            ),
            (
                &["bitcount", "s", "a", "1"],
                Reply::err("ERR value is not an integer or out of range"),
            ),
            (
                &["bitcount", "s", "0", "b"],
                Reply::err("ERR value is not an integer or out of range"),
            ),
            (
                &["bitcount", "s", "0", "1", "bit", "extra"],
                Reply::err("ERR syntax error"),
            ),
            (&["bitcount", "nokey"], Reply::Int(0)),
            (&["bitcount", "nokey", "0", "-1"], Reply::Int(0)),
            (&["hset", "h", "f", "v"], Reply::Int(1)),
            (
                &["bitcount", "h"],
                Reply::err("WRONGTYPE Operation against a key holding the wrong kind of value"),
            ),
        ],
    );
}

#[test]
fn bitpos_ranges() {
    let server = TestServer::start(&[]);
    let mut c = server.raw();
    check(
        &mut c,
        &[
            (
                &["bitfield", "p", "set", "u24", "0", "16773120"],
                Reply::Array(vec![Reply::Int(0)]),
            ),
            (&["get", "p"], Reply::Bulk(b"\xff\xf0\x00".to_vec())),
            (&["bitpos", "p", "0"], Reply::Int(12)),
            (&["bitpos", "p", "1"], Reply::Int(0)),
            (&["bitpos", "p", "0", "2"], Reply::Int(16)),
            (&["bitpos", "p", "1", "2"], Reply::Int(-1)),
            (&["bitpos", "p", "1", "2", "-1"], Reply::Int(-1)),
            (&["bitpos", "p", "0", "0", "0"], Reply::Int(-1)),
            (&["bitpos", "p", "0", "0", "-1"], Reply::Int(12)),
            (&["bitpos", "p", "1", "7", "15", "bit"], Reply::Int(7)),
            (&["bitpos", "p", "0", "7", "15", "bit"], Reply::Int(12)),
            (&["bitpos", "p", "0", "3", "10", "bit"], Reply::Int(-1)),
            (&["bitpos", "p", "1", "12", "23", "bit"], Reply::Int(-1)),
            (&["bitpos", "p", "0", "100"], Reply::Int(-1)),
            (&["bitpos", "p", "0", "-1"], Reply::Int(16)),
            (&["bitpos", "p", "1", "-3", "-2"], Reply::Int(0)),
            (&["bitpos", "p", "0", "-10", "-1", "bit"], Reply::Int(14)),
            (&["bitpos", "p", "1", "1", "0"], Reply::Int(-1)),
            (
                &["bitpos", "p", "0", "1", "BYTE"],
                Reply::err("ERR value is not an integer or out of range"),
            ),
            (
                &["bitpos", "p", "0", "8", "bit"],
                Reply::err("ERR value is not an integer or out of range"),
            ),
            (
                &["bitpos", "p", "1", "9", "bit"],
                Reply::err("ERR value is not an integer or out of range"),
            ),
            (&["bitpos", "p", "0", "0", "11", "bit"], Reply::Int(-1)),
            (&["bitpos", "nokey", "0"], Reply::Int(0)),
            (&["bitpos", "nokey", "1"], Reply::Int(-1)),
            (&["bitpos", "nokey", "0", "5", "10"], Reply::Int(0)),
            (
                &["bitfield", "ones", "set", "u16", "0", "65535"],
                Reply::Array(vec![Reply::Int(0)]),
            ),
            (&["bitpos", "ones", "0"], Reply::Int(16)),
            (&["bitpos", "ones", "0", "0", "-1"], Reply::Int(-1)),
            (&["bitpos", "ones", "0", "1"], Reply::Int(16)),
            (&["bitpos", "ones", "0", "0", "7", "bit"], Reply::Int(-1)),
            (
                &["bitpos", "ones", "0", "3", "bit"],
                Reply::err("ERR value is not an integer or out of range"),
            ),
            (&["bitpos", "ones", "1", "1"], Reply::Int(8)),
            (
                &["bitpos", "p", "2"],
                Reply::err("ERR The bit argument must be 1 or 0."),
            ),
            (
                &["bitpos", "p", "x"],
                Reply::err("ERR value is not an integer or out of range"),
            ),
            (
                &["bitpos", "p", "1", "x"],
                Reply::err("ERR value is not an integer or out of range"),
            ),
            (
                &["bitpos", "p", "1", "0", "x"],
                Reply::err("ERR value is not an integer or out of range"),
            ),
            (
                &["bitpos", "p", "1", "0", "1", "foo"],
                Reply::err("ERR syntax error"),
            ),
            (
                &["bitpos", "p", "1", "0", "1", "bit", "x"],
                Reply::err("ERR syntax error"),
            ),
            (&["hset", "h", "f", "v"], Reply::Int(1)),
            (
                &["bitpos", "h", "1"],
                Reply::err("WRONGTYPE Operation against a key holding the wrong kind of value"),
            ),
        ],
    );
    // An empty string holds no bit at all.
    assert_eq!(c.cmd(&["SET", "e", ""]), Reply::ok());
    assert_eq!(c.cmd(&["BITPOS", "e", "0"]), Reply::Int(-1));
    assert_eq!(c.cmd(&["BITPOS", "e", "1"]), Reply::Int(-1));
    assert_eq!(c.cmd(&["BITCOUNT", "e"]), Reply::Int(0));
}

#[test]
fn bitop() {
    let server = TestServer::start(&[]);
    let mut c = server.raw();
    check(
        &mut c,
        &[
            (&["set", "a", "abc"], Reply::ok()),
            (&["set", "b2", "abcdef"], Reply::ok()),
            (&["set", "c2", "zz"], Reply::ok()),
            (&["bitop", "and", "dst", "a", "b2"], Reply::Int(6)),
            (&["get", "dst"], Reply::Bulk(b"abc\x00\x00\x00".to_vec())),
            (&["bitop", "or", "dst", "a", "b2", "c2"], Reply::Int(6)),
            (&["get", "dst"], Reply::bulk("{zcdef")),
            (&["bitop", "xor", "dst", "a", "b2", "c2"], Reply::Int(6)),
            (&["get", "dst"], Reply::Bulk(b"zz\x00def".to_vec())),
            (&["bitop", "not", "dst", "a"], Reply::Int(3)),
            (&["get", "dst"], Reply::Bulk(b"\x9e\x9d\x9c".to_vec())),
            (&["bitop", "AND", "dst", "a"], Reply::Int(3)),
            (&["get", "dst"], Reply::bulk("abc")),
            (&["bitop", "and", "dst", "nokey", "nokey2"], Reply::Int(0)),
            (&["exists", "dst"], Reply::Int(0)),
            (&["bitop", "or", "dst", "a", "nokey"], Reply::Int(3)),
            (&["get", "dst"], Reply::bulk("abc")),
            (&["bitop", "xor", "dst", "nokey", "a"], Reply::Int(3)),
            (&["get", "dst"], Reply::bulk("abc")),
            (
                &["bitop", "foo", "dst", "a"],
                Reply::err("ERR syntax error"),
            ),
            (
                &["bitop", "not", "dst", "a", "b2"],
                Reply::err("ERR BITOP NOT must be called with a single source key."),
            ),
            (
                &["bitop", "not", "dst"],
                Reply::err("ERR wrong number of arguments for 'bitop' command"),
            ),
            (&["hset", "h", "f", "v"], Reply::Int(1)),
            (
                &["bitop", "or", "dst", "a", "h"],
                Reply::err("WRONGTYPE Operation against a key holding the wrong kind of value"),
            ),
            (&["bitop", "or", "h", "a"], Reply::Int(3)),
            (&["type", "h"], Reply::Status("string".into())),
        ],
    );
}

#[test]
fn bitfield_and_bitfield_ro() {
    let server = TestServer::start(&[]);
    let mut c = server.raw();
    check(&mut c, &[
        (&["bitfield", "bf", "set", "i8", "0", "-100"], Reply::Array(vec![Reply::Int(0)])),
        (&["bitfield", "bf", "get", "i8", "0"], Reply::Array(vec![Reply::Int(-100)])),
        (&["bitfield", "bf", "get", "u8", "0"], Reply::Array(vec![Reply::Int(156)])),
        (&["bitfield", "bf", "incrby", "i8", "0", "-100"], Reply::Array(vec![Reply::Int(56)])),
        (&["bitfield", "bf", "overflow", "sat", "incrby", "i8", "0", "100"], Reply::Array(vec![Reply::Int(127)])),
        (&["bitfield", "bf", "overflow", "fail", "incrby", "i8", "0", "1"], Reply::Array(vec![Reply::Nil])),
        (&["bitfield", "bf", "get", "i8", "0"], Reply::Array(vec![Reply::Int(127)])),
        (&["bitfield", "bf", "set", "u4", "#1", "15", "get", "u4", "#1", "get", "u4", "4", "get", "u8", "#0"], Reply::Array(vec![Reply::Int(15), Reply::Int(15), Reply::Int(15), Reply::Int(127)])),
        (&["bitfield", "bf", "overflow", "sat", "set", "u8", "8", "300", "get", "u8", "8"], Reply::Array(vec![Reply::Int(0), Reply::Int(255)])),
        (&["bitfield", "bf", "overflow", "wrap", "set", "u8", "8", "300", "get", "u8", "8"], Reply::Array(vec![Reply::Int(255), Reply::Int(44)])),
        (&["bitfield", "bf", "set", "i64", "64", "9223372036854775807", "incrby", "i64", "64", "1"], Reply::Array(vec![Reply::Int(0), Reply::Int(-9223372036854775808)])),
        (&["bitfield", "bf", "overflow", "sat", "incrby", "i64", "64", "-1", "incrby", "i64", "64", "-10"], Reply::Array(vec![Reply::Int(-9223372036854775808), Reply::Int(-9223372036854775808)])),
        (&["bitfield", "bf", "overflow", "fail", "incrby", "i64", "64", "-9223372036854775808", "get", "i64", "64"], Reply::Array(vec![Reply::Nil, Reply::Int(-9223372036854775808)])),
        (&["bitfield", "bf", "set", "u63", "128", "-1", "get", "u63", "128"], Reply::Array(vec![Reply::Int(0), Reply::Int(9223372036854775807)])),
        (&["bitfield", "bf", "overflow", "sat", "set", "u63", "128", "-1", "get", "u63", "128"], Reply::Array(vec![Reply::Int(9223372036854775807), Reply::Int(9223372036854775807)])),
        (&["bitfield", "bf", "set", "i5", "200", "15", "incrby", "i5", "200", "1", "overflow", "sat", "incrby", "i5", "200", "100", "incrby", "i5", "200", "-100", "overflow", "fail", "incrby", "i5", "200", "-1"], Reply::Array(vec![Reply::Int(0), Reply::Int(-16), Reply::Int(15), Reply::Int(-16), Reply::Nil])),
        (&["bitfield", "bf", "incrby", "u2", "300", "5", "overflow", "sat", "incrby", "u2", "300", "-5", "overflow", "fail", "incrby", "u2", "300", "-1", "incrby", "u2", "300", "4"], Reply::Array(vec![Reply::Int(1), Reply::Int(0), Reply::Nil, Reply::Nil])),
        (&["bitfield", "bf", "get", "i1", "0", "get", "u1", "0", "get", "i3", "1", "get", "u63", "1", "get", "i64", "1", "get", "i64", "1000"], Reply::Array(vec![Reply::Int(0), Reply::Int(0), Reply::Int(-1), Reply::Int(9163699341792116736), Reply::Int(-119345390125318143), Reply::Int(0)])),
        (&["get", "bf"], Reply::Bulk(b"\x7f,\x00\x00\x00\x00\x00\x00\x80\x00\x00\x00\x00\x00\x00\x00\xff\xff\xff\xff\xff\xff\xff\xfe\x00\x80\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00".to_vec())),
        (&["strlen", "bf"], Reply::Int(38)),
        (&["bitfield", "fk", "overflow", "fail", "incrby", "u8", "100", "300"], Reply::Array(vec![Reply::Nil])),
        (&["strlen", "fk"], Reply::Int(14)),
        (&["get", "fk"], Reply::Bulk(b"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00".to_vec())),
        (&["bitfield", "gk", "get", "u8", "0"], Reply::Array(vec![Reply::Int(0)])),
        (&["exists", "gk"], Reply::Int(0)),
        (&["set", "k2", "ab"], Reply::ok()),
        (&["bitfield", "k2", "get", "u8", "#0", "get", "i4", "4", "set", "u4", "0", "15", "incrby", "i64", "0", "-1", "get", "u63", "0"], Reply::Array(vec![Reply::Int(97), Reply::Int(1), Reply::Int(6), Reply::Int(-1053279362851274753), Reply::Int(8696732355429138431)])),
        (&["get", "k2"], Reply::Bulk(b"\xf1a\xff\xff\xff\xff\xff\xff".to_vec())),
        (&["bitfield_ro", "bf", "get", "i8", "0", "get", "u8", "#1"], Reply::Array(vec![Reply::Int(127), Reply::Int(44)])),
        (&["bitfield_ro", "bf", "overflow", "sat", "get", "u8", "0"], Reply::Array(vec![Reply::Int(127)])),
        (&["bitfield_ro", "nokey", "get", "u8", "0"], Reply::Array(vec![Reply::Int(0)])),
        (&["bitfield_ro", "bf", "set", "u8", "0", "1"], Reply::err("ERR BITFIELD_RO only supports the GET subcommand")),
        (&["bitfield_ro", "bf", "incrby", "u8", "0", "1"], Reply::err("ERR BITFIELD_RO only supports the GET subcommand")),
        (&["bitfield_ro", "bf", "set", "u8", "0", "x"], Reply::err("ERR value is not an integer or out of range")),
        (&["bitfield", "bf", "get", "u64", "0"], Reply::err("ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.")),
        (&["bitfield", "bf", "get", "i65", "0"], Reply::err("ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.")),
        (&["bitfield", "bf", "get", "u0", "0"], Reply::err("ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.")),
        (&["bitfield", "bf", "get", "x8", "0"], Reply::err("ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.")),
        (&["bitfield", "bf", "get", "u", "0"], Reply::err("ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.")),
        (&["bitfield", "bf", "get", "u8", "-1"], Reply::err("ERR bit offset is not an integer or out of range")),
        (&["bitfield", "bf", "get", "u8", "##2"], Reply::err("ERR bit offset is not an integer or out of range")),
        (&["bitfield", "bf", "get", "u8", "4294967296"], Reply::err("ERR bit offset is not an integer or out of range")),
        (&["bitfield", "bf", "get", "u8", "#536870912"], Reply::err("ERR bit offset is not an integer or out of range")),
        (&["bitfield", "bf", "get", "u8", "4294967295"], Reply::Array(vec![Reply::Int(0)])),
        (&["bitfield", "bf", "get", "u8"], Reply::err("ERR syntax error")),
        (&["bitfield", "bf", "overflow", "foo", "get", "u8", "0"], Reply::err("ERR Invalid OVERFLOW type specified")),
        (&["bitfield", "bf", "foo"], Reply::err("ERR syntax error")),
        (&["bitfield", "bf"], Reply::Array(vec![])),
        (&["bitfield_ro", "bf"], Reply::Array(vec![])),
        (&["bitfield", "bf", "set", "u8", "#0", "x"], Reply::err("ERR value is not an integer or out of range")),
        (&["bitfield", "bf", "overflow"], Reply::err("ERR syntax error")),
        (&["bitfield", "bf", "incrby", "u8", "0"], Reply::err("ERR syntax error")),
        (&["hset", "h", "f", "v"], Reply::Int(1)),
        (&["bitfield", "h", "get", "u8", "0"], Reply::err("WRONGTYPE Operation against a key holding the wrong kind of value")),
        (&["bitfield_ro", "h", "get", "u8", "0"], Reply::err("WRONGTYPE Operation against a key holding the wrong kind of value")),
    ]);
}

#[test]
fn bit_offsets_follow_proto_max_bulk_len() {
    let server = TestServer::start(&["--proto-max-bulk-len", "1048576"]);
    let mut c = server.raw();
    let limit = 1048576u64 * 8;
    let err = Reply::err("ERR bit offset is not an integer or out of range");
    assert_eq!(c.cmd(&["SETBIT", "k", &limit.to_string(), "1"]), err);
    assert_eq!(c.cmd(&["GETBIT", "k", &limit.to_string()]), err);
    assert_eq!(c.cmd(&["BITFIELD", "k", "GET", "u8", "#1048576"]), err);
    assert_eq!(
        c.cmd(&["BITFIELD", "k", "GET", "u8", "#1048575"]),
        Reply::Array(vec![Reply::Int(0)])
    );
    assert_eq!(
        c.cmd(&["SETBIT", "k", &(limit - 1).to_string(), "1"]),
        Reply::Int(0)
    );
    assert_eq!(c.cmd(&["STRLEN", "k"]), Reply::Int(1048576));
    assert_eq!(c.cmd(&["BITCOUNT", "k"]), Reply::Int(1));
    assert_eq!(c.cmd(&["BITPOS", "k", "1"]), Reply::Int(limit as i64 - 1));
}

/// PFADDs `elements` in batches of 1000.
fn pfadd_all(c: &mut Raw, key: &str, elements: &[String]) {
    for chunk in elements.chunks(1000) {
        let mut args = vec!["PFADD", key];
        args.extend(chunk.iter().map(String::as_str));
        assert!(matches!(c.cmd(&args), Reply::Int(0 | 1)));
    }
}

fn numbered(range: std::ops::Range<u32>) -> Vec<String> {
    range.map(|i| format!("e{i}")).collect()
}

#[test]
fn pfcount_matches_redis() {
    let server = TestServer::start(&[]);
    let mut c = server.raw();
    for (key, n, expected) in [
        ("h10", 10, 10),
        ("h1000", 1000, 1008),
        ("h20000", 20_000, 19_901),
        ("h100000", 100_000, 100_853),
    ] {
        pfadd_all(&mut c, key, &numbered(0..n));
        assert_eq!(c.cmd(&["PFCOUNT", key]), Reply::Int(expected), "{key}");
    }
    pfadd_all(&mut c, "hb", &numbered(50_000..150_000));
    assert_eq!(c.cmd(&["PFCOUNT", "hb"]), Reply::Int(99_750));
    // Several keys: the cardinality of the union (missing keys are empty).
    assert_eq!(c.cmd(&["PFCOUNT", "h100000", "hb"]), Reply::Int(149_907));
    assert_eq!(
        c.cmd(&["PFCOUNT", "h10", "h20000", "hb", "nokey"]),
        Reply::Int(118_993)
    );
    assert_eq!(c.cmd(&["PFMERGE", "m", "h20000", "hb"]), Reply::ok());
    assert_eq!(c.cmd(&["PFCOUNT", "m"]), Reply::Int(118_993));
    // Merging into an existing HLL keeps what it had.
    assert_eq!(c.cmd(&["PFMERGE", "m", "h10"]), Reply::ok());
    assert_eq!(c.cmd(&["PFCOUNT", "m"]), Reply::Int(118_993));
    // Elements of every length (the hash's tail bytes) and binary elements.
    let long: Vec<String> = (0..5000)
        .map(|i| format!("element-number-{i}-{}", "x".repeat(i % 13)))
        .collect();
    pfadd_all(&mut c, "long", &long);
    assert_eq!(c.cmd(&["PFCOUNT", "long"]), Reply::Int(5012));
    for i in 0..=255u8 {
        let mut args: Vec<Vec<u8>> = vec![b"PFADD".to_vec(), b"bin".to_vec()];
        args.extend((0..=255u8).step_by(16).map(|j| vec![i, j]));
        let refs: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
        c.cmd_bytes(&refs);
    }
    assert_eq!(c.cmd(&["PFCOUNT", "bin"]), Reply::Int(4090));
    assert_eq!(c.cmd(&["PFADD", "empty", ""]), Reply::Int(1));
    assert_eq!(c.cmd(&["PFCOUNT", "empty"]), Reply::Int(1));
}

#[test]
fn pfadd_replies_and_the_stored_format() {
    let server = TestServer::start(&[]);
    let mut c = server.raw();
    assert_eq!(c.cmd(&["PFADD", "new"]), Reply::Int(1));
    assert_eq!(c.cmd(&["PFADD", "new"]), Reply::Int(0));
    assert_eq!(c.cmd(&["PFCOUNT", "new"]), Reply::Int(0));
    assert_eq!(c.cmd(&["PFADD", "h", "a", "b", "c"]), Reply::Int(1));
    assert_eq!(c.cmd(&["PFADD", "h", "a", "b"]), Reply::Int(0));
    assert_eq!(c.cmd(&["PFADD", "h", "a", "d"]), Reply::Int(1));
    assert_eq!(c.cmd(&["PFCOUNT", "h"]), Reply::Int(4));
    assert_eq!(c.cmd(&["TYPE", "h"]), Reply::Status("string".into()));
    // Redis' dense encoding: "HYLL", encoding 0, cached cardinality, 16384 registers.
    let Reply::Bulk(value) = c.cmd(&["GET", "h"]) else {
        panic!("an HLL is a string")
    };
    assert_eq!(value.len(), 16 + 16384 * 6 / 8);
    assert_eq!(&value[..5], b"HYLL\x00");
    // The value is self-contained: copied to another key it counts the same.
    c.cmd_bytes(&[b"SET", b"copy", &value]);
    assert_eq!(c.cmd(&["PFCOUNT", "copy"]), Reply::Int(4));
    assert_eq!(c.cmd(&["PFCOUNT", "copy", "h"]), Reply::Int(4));
    assert_eq!(c.cmd(&["PFMERGE", "only"]), Reply::ok());
    assert_eq!(c.cmd(&["PFCOUNT", "only"]), Reply::Int(0));
    assert_eq!(c.cmd(&["EXISTS", "only"]), Reply::Int(1));
}

#[test]
fn sparse_hlls_written_by_redis_are_read() {
    let server = TestServer::start(&[]);
    let mut c = server.raw();
    // GET of `PFADD small a b c` on redis-server: the sparse encoding, cache valid.
    let small: &[u8] = b"HYLL\x01\x00\x00\x00\x03\x00\x00\x00\x00\x00\x00\x00\x60\xf3\x80\x50\xb1\x84\x4b\xfb\x80\x42\x5a";
    c.cmd_bytes(&[b"SET", b"small", small]);
    assert_eq!(c.cmd(&["PFCOUNT", "small"]), Reply::Int(3));
    // The same with the cache marked stale: the registers are read.
    let mut stale = small.to_vec();
    stale[15] |= 0x80;
    c.cmd_bytes(&[b"SET", b"stale", &stale]);
    assert_eq!(c.cmd(&["PFCOUNT", "stale"]), Reply::Int(3));
    assert_eq!(c.cmd(&["PFADD", "small", "d"]), Reply::Int(1));
    assert_eq!(c.cmd(&["PFCOUNT", "small"]), Reply::Int(4));
    assert_eq!(c.cmd(&["PFADD", "small", "a"]), Reply::Int(0));
    assert_eq!(
        c.cmd(&["PFCOUNT", "small", "stale", "nokey"]),
        Reply::Int(4)
    );
    assert_eq!(c.cmd(&["PFMERGE", "stale", "small"]), Reply::ok());
    assert_eq!(c.cmd(&["PFCOUNT", "stale"]), Reply::Int(4));
    // Sparse opcodes that do not cover the 16384 registers.
    let mut bad = small[..16].to_vec();
    bad[15] |= 0x80;
    bad.extend_from_slice(&[0x7f, 0xfe]);
    c.cmd_bytes(&[b"SET", b"bad", &bad]);
    let corrupt = Reply::err("INVALIDOBJ Corrupted HLL object detected");
    assert_eq!(c.cmd(&["PFCOUNT", "bad"]), corrupt);
    assert_eq!(c.cmd(&["PFMERGE", "m", "bad"]), corrupt);
}

#[test]
fn hll_errors() {
    let server = TestServer::start(&[]);
    let mut c = server.raw();
    assert_eq!(c.cmd(&["PFADD", "h", "a"]), Reply::Int(1));
    assert_eq!(c.cmd(&["SET", "s", "hello"]), Reply::ok());
    assert_eq!(c.cmd(&["SET", "hy", "HYLL"]), Reply::ok());
    c.cmd_bytes(&[
        b"SET",
        b"short",
        b"HYLL\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00",
    ]);
    c.cmd_bytes(&[
        b"SET",
        b"enc",
        b"HYLL\x02\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00",
    ]);
    for key in ["s", "hy", "short", "enc"] {
        assert_eq!(c.cmd(&["PFADD", key, "a"]), Reply::err(NOT_HLL), "{key}");
        assert_eq!(c.cmd(&["PFCOUNT", key]), Reply::err(NOT_HLL), "{key}");
        assert_eq!(c.cmd(&["PFCOUNT", "h", key]), Reply::err(NOT_HLL), "{key}");
        assert_eq!(c.cmd(&["PFMERGE", "h", key]), Reply::err(NOT_HLL), "{key}");
        assert_eq!(c.cmd(&["PFMERGE", key, "h"]), Reply::err(NOT_HLL), "{key}");
    }
    assert_eq!(c.cmd(&["GET", "s"]), Reply::bulk("hello"));
    assert_eq!(c.cmd(&["HSET", "hash", "f", "v"]), Reply::Int(1));
    assert_eq!(c.cmd(&["PFADD", "hash", "a"]), Reply::err(WRONGTYPE));
    assert_eq!(c.cmd(&["PFCOUNT", "hash"]), Reply::err(WRONGTYPE));
    assert_eq!(c.cmd(&["PFCOUNT", "h", "hash"]), Reply::err(WRONGTYPE));
    assert_eq!(c.cmd(&["PFMERGE", "hash", "h"]), Reply::err(WRONGTYPE));
    assert_eq!(
        c.cmd(&["PFADD"]),
        Reply::err("ERR wrong number of arguments for 'pfadd' command")
    );
    assert_eq!(
        c.cmd(&["PFCOUNT"]),
        Reply::err("ERR wrong number of arguments for 'pfcount' command")
    );
    assert_eq!(
        c.cmd(&["PFMERGE"]),
        Reply::err("ERR wrong number of arguments for 'pfmerge' command")
    );
    assert_eq!(c.cmd(&["PFCOUNT", "h"]), Reply::Int(1));
}
