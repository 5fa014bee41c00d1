//! Sorted-set commands against a real server: every command, its edge cases and error
//! texts, RESP2 and RESP3 reply shapes, and blocking pops woken by other clients.

mod common;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{Raw, Reply, TestServer};

const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";
const NOT_FLOAT: &str = "ERR value is not a valid float";
const NOT_INT: &str = "ERR value is not an integer or out of range";
const SYNTAX: &str = "ERR syntax error";
const MINMAX_FLOAT: &str = "ERR min or max is not a float";
const MINMAX_LEX: &str = "ERR min or max not valid string range item";

fn bulks(items: &[&str]) -> Reply {
    Reply::Array(items.iter().map(|s| Reply::bulk(s)).collect())
}

fn err(text: &str) -> Reply {
    Reply::err(text)
}

/// The exact bytes of one reply to `args`, on a fresh connection (tells `*-1` from `$-1`).
fn wire(port: u16, args: &[&str]) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let bytes: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
    stream.write_all(&Raw::encode(&bytes)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut buf = vec![0u8; 4096];
    let n = stream.read(&mut buf).unwrap();
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

/// `z` = a:1 b:2 c:3 d:4 e:5.
fn abcde(c: &mut Raw) {
    assert_eq!(
        c.cmd(&["ZADD", "z", "1", "a", "2", "b", "3", "c", "4", "d", "5", "e"]),
        Reply::Int(5)
    );
}

/// A fresh server and a connection to it, `z` filled by [`abcde`]; the server lives as
/// long as the first of the pair.
fn with_abcde() -> (TestServer, Raw) {
    let server = TestServer::start(&[]);
    let mut c = server.raw();
    abcde(&mut c);
    (server, c)
}

#[test]
fn zadd_flags_and_errors() {
    let server = TestServer::start(&[]);
    let mut c = server.raw();
    assert_eq!(
        c.cmd(&["ZADD", "z", "1", "a", "2", "b", "3", "c"]),
        Reply::Int(3)
    );
    assert_eq!(c.cmd(&["ZADD", "z", "1", "a"]), Reply::Int(0));
    assert_eq!(
        c.cmd(&["ZADD", "z", "CH", "5", "a", "2", "b"]),
        Reply::Int(1)
    );
    assert_eq!(c.cmd(&["ZSCORE", "z", "a"]), Reply::bulk("5"));
    assert_eq!(
        c.cmd(&["ZADD", "z", "NX", "10", "a", "4", "d"]),
        Reply::Int(1)
    );
    assert_eq!(c.cmd(&["ZSCORE", "z", "a"]), Reply::bulk("5"));
    assert_eq!(
        c.cmd(&["ZADD", "z", "XX", "6", "a", "7", "e"]),
        Reply::Int(0)
    );
    assert_eq!(c.cmd(&["ZSCORE", "z", "a"]), Reply::bulk("6"));
    assert_eq!(c.cmd(&["ZSCORE", "z", "e"]), Reply::Nil);
    // GT / LT only move scores one way; new members are still added.
    assert_eq!(
        c.cmd(&["ZADD", "z", "GT", "CH", "1", "a", "8", "b", "9", "f"]),
        Reply::Int(2)
    );
    assert_eq!(
        c.cmd(&["ZMSCORE", "z", "a", "b", "f"]),
        bulks(&["6", "8", "9"])
    );
    assert_eq!(
        c.cmd(&["ZADD", "z", "LT", "CH", "1", "a", "80", "b"]),
        Reply::Int(1)
    );
    assert_eq!(c.cmd(&["ZMSCORE", "z", "a", "b"]), bulks(&["1", "8"]));
    assert_eq!(
        c.cmd(&["ZADD", "z", "XX", "GT", "CH", "2", "a", "2", "new"]),
        Reply::Int(1)
    );
    assert_eq!(c.cmd(&["ZSCORE", "z", "new"]), Reply::Nil);
    // INCR.
    assert_eq!(
        c.cmd(&["ZADD", "z", "INCR", "2.5", "a"]),
        Reply::bulk("4.5")
    );
    assert_eq!(c.cmd(&["ZADD", "z", "INCR", "NX", "1", "a"]), Reply::Nil);
    assert_eq!(
        c.cmd(&["ZADD", "z", "INCR", "XX", "1", "nobody"]),
        Reply::Nil
    );
    assert_eq!(c.cmd(&["ZADD", "z", "INCR", "GT", "-1", "a"]), Reply::Nil);
    assert_eq!(
        c.cmd(&["ZADD", "z", "INCR", "LT", "-1", "a"]),
        Reply::bulk("3.5")
    );
    assert_eq!(
        c.cmd(&["ZADD", "z", "incr", "nx", "7", "g"]),
        Reply::bulk("7")
    );
    assert_eq!(
        wire(server.port, &["ZADD", "z", "INCR", "NX", "1", "a"]),
        "$-1\r\n"
    );
    // Repeated members in one call apply in order.
    assert_eq!(c.cmd(&["ZADD", "d", "1", "m", "2", "m"]), Reply::Int(1));
    assert_eq!(
        c.cmd(&["ZADD", "d", "CH", "3", "m", "4", "m"]),
        Reply::Int(2)
    );
    assert_eq!(
        c.cmd(&["ZRANGE", "d", "0", "-1", "WITHSCORES"]),
        bulks(&["m", "4"])
    );
    assert_eq!(c.cmd(&["ZCOUNT", "d", "-inf", "+inf"]), Reply::Int(1));
    assert_eq!(c.cmd(&["ZCARD", "d"]), Reply::Int(1));
    // XX on a missing key creates nothing.
    assert_eq!(c.cmd(&["ZADD", "none", "XX", "1", "a"]), Reply::Int(0));
    assert_eq!(c.cmd(&["EXISTS", "none"]), Reply::Int(0));
    // -0 is stored as 0; special values.
    assert_eq!(
        c.cmd(&["ZADD", "s", "-0", "zero", "+inf", "top", "-inf", "bottom"]),
        Reply::Int(3)
    );
    assert_eq!(c.cmd(&["ZSCORE", "s", "zero"]), Reply::bulk("0"));
    assert_eq!(c.cmd(&["ZSCORE", "s", "top"]), Reply::bulk("inf"));
    assert_eq!(c.cmd(&["ZSCORE", "s", "bottom"]), Reply::bulk("-inf"));
    assert_eq!(c.cmd(&["ZADD", "s", "0.1", "tenth"]), Reply::Int(1));
    assert_eq!(c.cmd(&["ZSCORE", "s", "tenth"]), Reply::bulk("0.1"));
    assert_eq!(
        c.cmd(&["ZRANGE", "s", "0", "-1"]),
        bulks(&["bottom", "zero", "tenth", "top"])
    );
    // Errors.
    assert_eq!(
        c.cmd(&["ZADD", "z", "NX", "XX", "1", "a"]),
        err("ERR XX and NX options at the same time are not compatible")
    );
    let gt_lt = "ERR GT, LT, and/or NX options at the same time are not compatible";
    assert_eq!(c.cmd(&["ZADD", "z", "GT", "LT", "1", "a"]), err(gt_lt));
    assert_eq!(c.cmd(&["ZADD", "z", "GT", "NX", "1", "a"]), err(gt_lt));
    assert_eq!(c.cmd(&["ZADD", "z", "LT", "NX", "1", "a"]), err(gt_lt));
    let errors: &[(&[&str], &str)] = &[
        (
            &["ZADD", "z", "INCR", "1", "a", "2", "b"],
            "ERR INCR option supports a single increment-element pair",
        ),
        (&["ZADD", "z", "1", "a", "2"], SYNTAX),
        (&["ZADD", "z", "NX", "1"], SYNTAX),
        (&["ZADD", "z", "x", "a"], NOT_FLOAT),
        (&["ZADD", "z", "nan", "a"], NOT_FLOAT),
        (&["ZADD", "z", "1e400", "a"], NOT_FLOAT),
        (&["ZADD", "z", "1", "ok", "x", "a"], NOT_FLOAT),
    ];
    for (args, want) in errors {
        assert_eq!(c.cmd(args), err(want), "{args:?}");
    }
    assert_eq!(
        c.cmd(&["ZSCORE", "z", "ok"]),
        Reply::Nil,
        "a bad score adds nothing"
    );
    assert_eq!(
        c.cmd(&["ZADD", "z", "1"]),
        err("ERR wrong number of arguments for 'zadd' command")
    );
    c.cmd(&["SET", "str", "v"]);
    assert_eq!(c.cmd(&["ZADD", "str", "1", "a"]), err(WRONGTYPE));
}

#[test]
fn zincrby_zrem_zcard_zscore() {
    let server = TestServer::start(&[]);
    let mut c = server.raw();
    assert_eq!(c.cmd(&["ZINCRBY", "z", "2", "a"]), Reply::bulk("2"));
    assert_eq!(c.cmd(&["ZINCRBY", "z", "-0.5", "a"]), Reply::bulk("1.5"));
    assert_eq!(c.cmd(&["ZINCRBY", "z", "x", "a"]), err(NOT_FLOAT));
    assert_eq!(c.cmd(&["ZADD", "z", "+inf", "i"]), Reply::Int(1));
    assert_eq!(
        c.cmd(&["ZINCRBY", "z", "-inf", "i"]),
        err("ERR resulting score is not a number (NaN)")
    );
    assert_eq!(c.cmd(&["ZSCORE", "z", "i"]), Reply::bulk("inf"));
    assert_eq!(c.cmd(&["ZCARD", "z"]), Reply::Int(2));
    assert_eq!(c.cmd(&["ZCARD", "nope"]), Reply::Int(0));
    assert_eq!(c.cmd(&["ZSCORE", "nope", "a"]), Reply::Nil);
    assert_eq!(
        c.cmd(&["ZMSCORE", "z", "a", "nope", "i"]),
        Reply::Array(vec![Reply::bulk("1.5"), Reply::Nil, Reply::bulk("inf")])
    );
    assert_eq!(
        c.cmd(&["ZMSCORE", "nope", "a", "b"]),
        Reply::Array(vec![Reply::Nil, Reply::Nil])
    );
    assert_eq!(c.cmd(&["TYPE", "z"]), Reply::Status("zset".into()));
    assert_eq!(c.cmd(&["ZREM", "z", "a", "a", "nope"]), Reply::Int(1));
    assert_eq!(c.cmd(&["ZREM", "nope", "a"]), Reply::Int(0));
    assert_eq!(c.cmd(&["ZRANGE", "z", "0", "-1"]), bulks(&["i"]));
    assert_eq!(c.cmd(&["ZREM", "z", "i"]), Reply::Int(1));
    assert_eq!(
        c.cmd(&["EXISTS", "z"]),
        Reply::Int(0),
        "an emptied zset is deleted"
    );
    c.cmd(&["SET", "str", "v"]);
    for args in [
        &["ZINCRBY", "str", "1", "a"][..],
        &["ZREM", "str", "a"],
        &["ZCARD", "str"],
        &["ZSCORE", "str", "a"],
        &["ZMSCORE", "str", "a"],
        &["ZRANK", "str", "a"],
        &["ZRANGE", "str", "0", "-1"],
        &["ZRANGEBYSCORE", "str", "-inf", "+inf"],
        &["ZRANGEBYLEX", "str", "-", "+"],
        &["ZCOUNT", "str", "-inf", "+inf"],
        &["ZLEXCOUNT", "str", "-", "+"],
        &["ZPOPMIN", "str"],
        &["ZREMRANGEBYRANK", "str", "0", "-1"],
        &["ZRANDMEMBER", "str"],
        &["ZSCAN", "str", "0"],
        &["ZUNION", "1", "str"],
        &["ZRANGESTORE", "dst", "str", "0", "-1"],
    ] {
        assert_eq!(c.cmd(args), err(WRONGTYPE), "{args:?}");
    }
    // A sorted set is not a string either.
    c.cmd(&["ZADD", "z", "1", "a"]);
    assert_eq!(c.cmd(&["GET", "z"]), err(WRONGTYPE));
    assert_eq!(c.cmd(&["SADD", "z", "a"]), err(WRONGTYPE));
}

#[test]
fn zrank_and_zrevrank() {
    let server = TestServer::start(&[]);
    let mut c = server.raw();
    abcde(&mut c);
    assert_eq!(c.cmd(&["ZRANK", "z", "a"]), Reply::Int(0));
    assert_eq!(c.cmd(&["ZRANK", "z", "e"]), Reply::Int(4));
    assert_eq!(c.cmd(&["ZREVRANK", "z", "a"]), Reply::Int(4));
    assert_eq!(c.cmd(&["ZREVRANK", "z", "d"]), Reply::Int(1));
    assert_eq!(
        c.cmd(&["ZRANK", "z", "c", "WITHSCORE"]),
        Reply::Array(vec![Reply::Int(2), Reply::bulk("3")])
    );
    assert_eq!(
        c.cmd(&["ZREVRANK", "z", "c", "withscore"]),
        Reply::Array(vec![Reply::Int(2), Reply::bulk("3")])
    );
    assert_eq!(c.cmd(&["ZRANK", "z", "nope"]), Reply::Nil);
    assert_eq!(c.cmd(&["ZRANK", "nope", "a"]), Reply::Nil);
    assert_eq!(wire(server.port, &["ZRANK", "z", "nope"]), "$-1\r\n");
    assert_eq!(
        wire(server.port, &["ZRANK", "z", "nope", "WITHSCORE"]),
        "*-1\r\n"
    );
    assert_eq!(
        wire(server.port, &["ZREVRANK", "nope", "a", "WITHSCORE"]),
        "*-1\r\n"
    );
    assert_eq!(c.cmd(&["ZRANK", "z", "a", "WITHSCORES"]), err(SYNTAX));
    assert_eq!(
        c.cmd(&["ZRANK", "z", "a", "WITHSCORE", "x"]),
        err("ERR wrong number of arguments for 'zrank' command")
    );
    // Equal scores rank by member.
    c.cmd(&["ZADD", "eq", "1", "b", "1", "a", "1", "c", "0", "z"]);
    assert_eq!(c.cmd(&["ZRANK", "eq", "b"]), Reply::Int(2));
    assert_eq!(
        c.cmd(&["ZRANGE", "eq", "0", "-1"]),
        bulks(&["z", "a", "b", "c"])
    );
}

#[test]
fn zrange_by_rank() {
    let (_server, mut c) = with_abcde();
    let cases: &[(&[&str], &[&str])] = &[
        (&["ZRANGE", "z", "0", "-1"], &["a", "b", "c", "d", "e"]),
        (&["ZRANGE", "z", "1", "2"], &["b", "c"]),
        (&["ZRANGE", "z", "-2", "-1"], &["d", "e"]),
        (&["ZRANGE", "z", "-100", "1"], &["a", "b"]),
        (&["ZRANGE", "z", "3", "100"], &["d", "e"]),
        (&["ZRANGE", "z", "3", "1"], &[]),
        (&["ZRANGE", "z", "5", "10"], &[]),
        (&["ZRANGE", "z", "-1", "-2"], &[]),
        (&["ZRANGE", "nope", "0", "-1"], &[]),
        (
            &["ZRANGE", "z", "0", "1", "WITHSCORES"],
            &["a", "1", "b", "2"],
        ),
        (&["ZRANGE", "z", "0", "1", "REV"], &["e", "d"]),
        (
            &["ZRANGE", "z", "-2", "-1", "REV", "WITHSCORES"],
            &["b", "2", "a", "1"],
        ),
        (&["ZREVRANGE", "z", "0", "2"], &["e", "d", "c"]),
        (&["ZREVRANGE", "z", "-1", "-1", "WITHSCORES"], &["a", "1"]),
    ];
    for (args, want) in cases {
        assert_eq!(c.cmd(args), bulks(want), "{args:?}");
    }
    let errors: &[(&[&str], &str)] = &[
        (
            &["ZRANGE", "z", "0", "-1", "LIMIT", "0", "2"],
            "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
        ),
        (&["ZRANGE", "z", "a", "-1"], NOT_INT),
        (&["ZRANGE", "z", "0", "-1", "FOO"], SYNTAX),
        (&["ZRANGE", "z", "0", "-1", "LIMIT", "1"], SYNTAX),
        (&["ZRANGE", "z", "0", "-1", "REV", "REV"], SYNTAX),
        (&["ZRANGE", "z", "0", "-1", "BYSCORE", "BYLEX"], SYNTAX),
        (&["ZREVRANGE", "z", "0", "-1", "REV"], SYNTAX),
        (
            &["ZRANGE", "z", "0"],
            "ERR wrong number of arguments for 'zrange' command",
        ),
    ];
    for (args, want) in errors {
        assert_eq!(c.cmd(args), err(want), "{args:?}");
    }
}

#[test]
fn zrange_by_score() {
    let (_server, mut c) = with_abcde();
    c.cmd(&["ZADD", "z", "-1.5", "neg", "-inf", "ninf", "+inf", "pinf"]);
    let all = ["ninf", "neg", "a", "b", "c", "d", "e", "pinf"];
    assert_eq!(c.cmd(&["ZRANGEBYSCORE", "z", "-inf", "+inf"]), bulks(&all));
    assert_eq!(
        c.cmd(&["ZRANGE", "z", "-inf", "inf", "BYSCORE"]),
        bulks(&all)
    );
    let cases: &[(&[&str], &[&str])] = &[
        (&["ZRANGEBYSCORE", "z", "2", "4"], &["b", "c", "d"]),
        (&["ZRANGEBYSCORE", "z", "(2", "4"], &["c", "d"]),
        (&["ZRANGEBYSCORE", "z", "2", "(4"], &["b", "c"]),
        (&["ZRANGEBYSCORE", "z", "(2", "(4"], &["c"]),
        (&["ZRANGEBYSCORE", "z", "(3", "(3"], &[]),
        (&["ZRANGEBYSCORE", "z", "3", "3"], &["c"]),
        (&["ZRANGEBYSCORE", "z", "4", "2"], &[]),
        (&["ZRANGEBYSCORE", "z", "-2", "0"], &["neg"]),
        (&["ZRANGEBYSCORE", "z", "(-inf", "(1"], &["neg"]),
        (&["ZRANGEBYSCORE", "z", "(5", "+inf"], &["pinf"]),
        (&["ZRANGEBYSCORE", "z", "(5", "(+inf"], &[]),
        (&["ZRANGEBYSCORE", "nope", "-inf", "+inf"], &[]),
        (
            &["ZRANGEBYSCORE", "z", "1", "2", "WITHSCORES"],
            &["a", "1", "b", "2"],
        ),
    ];
    for (args, want) in cases {
        assert_eq!(c.cmd(args), bulks(want), "{args:?}");
    }
    // LIMIT offset count: negative count = all, negative offset = nothing.
    let cases: &[(&[&str], &[&str])] = &[
        (
            &["ZRANGEBYSCORE", "z", "1", "5", "LIMIT", "1", "2"],
            &["b", "c"],
        ),
        (
            &["ZRANGEBYSCORE", "z", "1", "5", "LIMIT", "3", "-1"],
            &["d", "e"],
        ),
        (&["ZRANGEBYSCORE", "z", "1", "5", "LIMIT", "0", "0"], &[]),
        (&["ZRANGEBYSCORE", "z", "1", "5", "LIMIT", "10", "5"], &[]),
        (&["ZRANGEBYSCORE", "z", "1", "5", "LIMIT", "-1", "5"], &[]),
        (
            &[
                "ZRANGEBYSCORE",
                "z",
                "1",
                "5",
                "WITHSCORES",
                "LIMIT",
                "4",
                "1",
            ],
            &["e", "5"],
        ),
    ];
    for (args, want) in cases {
        assert_eq!(c.cmd(args), bulks(want), "{args:?}");
    }
    // Reverse forms take max first.
    let cases: &[(&[&str], &[&str])] = &[
        (&["ZREVRANGEBYSCORE", "z", "4", "2"], &["d", "c", "b"]),
        (&["ZREVRANGEBYSCORE", "z", "(4", "(2"], &["c"]),
        (&["ZREVRANGEBYSCORE", "z", "2", "4"], &[]),
        (
            &["ZREVRANGEBYSCORE", "z", "+inf", "-inf", "LIMIT", "1", "3"],
            &["e", "d", "c"],
        ),
        (
            &[
                "ZREVRANGEBYSCORE",
                "z",
                "5",
                "1",
                "WITHSCORES",
                "LIMIT",
                "0",
                "2",
            ],
            &["e", "5", "d", "4"],
        ),
        (
            &[
                "ZRANGE",
                "z",
                "(5",
                "3",
                "BYSCORE",
                "REV",
                "LIMIT",
                "0",
                "5",
                "WITHSCORES",
            ],
            &["d", "4", "c", "3"],
        ),
        (
            &["ZRANGE", "z", "1", "5", "BYSCORE", "LIMIT", "1", "-5"],
            &["b", "c", "d", "e"],
        ),
    ];
    for (args, want) in cases {
        assert_eq!(c.cmd(args), bulks(want), "{args:?}");
    }
    // Errors.
    let errors: &[(&[&str], &str)] = &[
        (&["ZRANGEBYSCORE", "z", "a", "5"], MINMAX_FLOAT),
        (&["ZRANGEBYSCORE", "z", "1", "(x"], MINMAX_FLOAT),
        (&["ZRANGEBYSCORE", "z", "nan", "1"], MINMAX_FLOAT),
        (&["ZRANGE", "z", "[1", "5", "BYSCORE"], MINMAX_FLOAT),
        (
            &["ZRANGEBYSCORE", "z", "1", "5", "LIMIT", "x", "1"],
            NOT_INT,
        ),
        (&["ZRANGEBYSCORE", "z", "1", "5", "LIMIT", "1"], SYNTAX),
        (&["ZRANGEBYSCORE", "z", "1", "5", "REV"], SYNTAX),
        (&["ZRANGEBYSCORE", "z", "1", "5", "BYLEX"], SYNTAX),
    ];
    for (args, want) in errors {
        assert_eq!(c.cmd(args), err(want), "{args:?}");
    }
    // ZCOUNT.
    assert_eq!(c.cmd(&["ZCOUNT", "z", "-inf", "+inf"]), Reply::Int(8));
    assert_eq!(c.cmd(&["ZCOUNT", "z", "(1", "3"]), Reply::Int(2));
    assert_eq!(c.cmd(&["ZCOUNT", "z", "3", "1"]), Reply::Int(0));
    assert_eq!(c.cmd(&["ZCOUNT", "nope", "-inf", "+inf"]), Reply::Int(0));
    assert_eq!(c.cmd(&["ZCOUNT", "z", "x", "1"]), err(MINMAX_FLOAT));
}

#[test]
fn zrange_by_lex() {
    let server = TestServer::start(&[]);
    let mut c = server.raw();
    for m in ["a", "b", "c", "d", "e", "f", "g"] {
        c.cmd(&["ZADD", "l", "0", m]);
    }
    let cases: &[(&[&str], &[&str])] = &[
        (&["ZRANGEBYLEX", "l", "-", "[c"], &["a", "b", "c"]),
        (&["ZRANGEBYLEX", "l", "-", "(c"], &["a", "b"]),
        (
            &["ZRANGEBYLEX", "l", "[aaa", "(g"],
            &["b", "c", "d", "e", "f"],
        ),
        (&["ZRANGEBYLEX", "l", "(e", "+"], &["f", "g"]),
        (&["ZRANGEBYLEX", "l", "+", "-"], &[]),
        (&["ZRANGEBYLEX", "l", "[d", "[b"], &[]),
        (&["ZRANGEBYLEX", "nope", "-", "+"], &[]),
        (
            &["ZRANGEBYLEX", "l", "-", "+", "LIMIT", "2", "3"],
            &["c", "d", "e"],
        ),
        (
            &["ZRANGEBYLEX", "l", "-", "+", "LIMIT", "5", "-1"],
            &["f", "g"],
        ),
        (&["ZRANGEBYLEX", "l", "-", "+", "LIMIT", "-1", "2"], &[]),
        (&["ZREVRANGEBYLEX", "l", "[c", "-"], &["c", "b", "a"]),
        (&["ZREVRANGEBYLEX", "l", "+", "(e"], &["g", "f"]),
        (
            &["ZREVRANGEBYLEX", "l", "+", "-", "LIMIT", "1", "2"],
            &["f", "e"],
        ),
        (&["ZRANGE", "l", "[b", "[d", "BYLEX"], &["b", "c", "d"]),
        (
            &["ZRANGE", "l", "[d", "[b", "BYLEX", "REV"],
            &["d", "c", "b"],
        ),
        (
            &["ZRANGE", "l", "+", "-", "BYLEX", "REV", "LIMIT", "0", "2"],
            &["g", "f"],
        ),
    ];
    for (args, want) in cases {
        assert_eq!(c.cmd(args), bulks(want), "{args:?}");
    }
    assert_eq!(c.cmd(&["ZLEXCOUNT", "l", "-", "+"]), Reply::Int(7));
    assert_eq!(c.cmd(&["ZLEXCOUNT", "l", "[b", "(f"]), Reply::Int(4));
    assert_eq!(c.cmd(&["ZLEXCOUNT", "nope", "-", "+"]), Reply::Int(0));
    // Errors.
    let errors: &[(&[&str], &str)] = &[
        (&["ZRANGEBYLEX", "l", "a", "+"], MINMAX_LEX),
        (&["ZRANGEBYLEX", "l", "-", "+x"], MINMAX_LEX),
        (&["ZRANGEBYLEX", "l", "", "+"], MINMAX_LEX),
        (&["ZLEXCOUNT", "l", "-", "b"], MINMAX_LEX),
        (&["ZRANGE", "l", "0", "-1", "BYLEX"], MINMAX_LEX),
        (
            &["ZRANGE", "l", "-", "+", "BYLEX", "WITHSCORES"],
            "ERR syntax error, WITHSCORES not supported in combination with BYLEX",
        ),
        (
            &["ZRANGEBYLEX", "l", "-", "+", "WITHSCORES"],
            "ERR syntax error, WITHSCORES not supported in combination with BYLEX",
        ),
    ];
    for (args, want) in errors {
        assert_eq!(c.cmd(args), err(want), "{args:?}");
    }
    // ZREMRANGEBYLEX.
    assert_eq!(c.cmd(&["ZREMRANGEBYLEX", "l", "[b", "(d"]), Reply::Int(2));
    assert_eq!(
        c.cmd(&["ZRANGE", "l", "0", "-1"]),
        bulks(&["a", "d", "e", "f", "g"])
    );
    assert_eq!(c.cmd(&["ZREMRANGEBYLEX", "l", "x", "+"]), err(MINMAX_LEX));
    assert_eq!(c.cmd(&["ZREMRANGEBYLEX", "l", "-", "+"]), Reply::Int(5));
    assert_eq!(c.cmd(&["EXISTS", "l"]), Reply::Int(0));
}

#[test]
fn zremrange_by_rank_and_score() {
    let (_server, mut c) = with_abcde();
    assert_eq!(c.cmd(&["ZREMRANGEBYRANK", "z", "0", "1"]), Reply::Int(2));
    assert_eq!(c.cmd(&["ZRANGE", "z", "0", "-1"]), bulks(&["c", "d", "e"]));
    assert_eq!(c.cmd(&["ZREMRANGEBYRANK", "z", "-1", "-1"]), Reply::Int(1));
    assert_eq!(c.cmd(&["ZREMRANGEBYRANK", "z", "5", "10"]), Reply::Int(0));
    assert_eq!(c.cmd(&["ZREMRANGEBYRANK", "z", "1", "0"]), Reply::Int(0));
    assert_eq!(c.cmd(&["ZREMRANGEBYRANK", "z", "x", "0"]), err(NOT_INT));
    assert_eq!(
        c.cmd(&["ZREMRANGEBYRANK", "nope", "0", "-1"]),
        Reply::Int(0)
    );
    assert_eq!(
        c.cmd(&["ZRANGE", "z", "0", "-1", "WITHSCORES"]),
        bulks(&["c", "3", "d", "4"])
    );
    c.cmd(&["DEL", "z"]);
    abcde(&mut c);
    assert_eq!(c.cmd(&["ZREMRANGEBYSCORE", "z", "(1", "3"]), Reply::Int(2));
    assert_eq!(c.cmd(&["ZRANGE", "z", "0", "-1"]), bulks(&["a", "d", "e"]));
    assert_eq!(
        c.cmd(&["ZREMRANGEBYSCORE", "z", "(5", "+inf"]),
        Reply::Int(0)
    );
    assert_eq!(
        c.cmd(&["ZREMRANGEBYSCORE", "z", "x", "1"]),
        err(MINMAX_FLOAT)
    );
    assert_eq!(
        c.cmd(&["ZREMRANGEBYSCORE", "z", "-inf", "+inf"]),
        Reply::Int(3)
    );
    assert_eq!(c.cmd(&["EXISTS", "z"]), Reply::Int(0));
    assert_eq!(c.cmd(&["ZCARD", "z"]), Reply::Int(0));
}

#[test]
fn zrangestore() {
    let (_server, mut c) = with_abcde();
    assert_eq!(c.cmd(&["ZRANGESTORE", "dst", "z", "1", "3"]), Reply::Int(3));
    assert_eq!(
        c.cmd(&["ZRANGE", "dst", "0", "-1", "WITHSCORES"]),
        bulks(&["b", "2", "c", "3", "d", "4"])
    );
    assert_eq!(
        c.cmd(&[
            "ZRANGESTORE",
            "dst",
            "z",
            "5",
            "(2",
            "BYSCORE",
            "REV",
            "LIMIT",
            "1",
            "2"
        ]),
        Reply::Int(2)
    );
    assert_eq!(c.cmd(&["ZRANGE", "dst", "0", "-1"]), bulks(&["c", "d"]));
    assert_eq!(
        c.cmd(&["ZRANGESTORE", "dst", "z", "[a", "[b", "BYLEX"]),
        Reply::Int(2)
    );
    assert_eq!(c.cmd(&["ZRANGE", "dst", "0", "-1"]), bulks(&["a", "b"]));
    assert_eq!(
        c.cmd(&["ZRANGESTORE", "dst", "z", "0", "-1", "REV"]),
        Reply::Int(5)
    );
    assert_eq!(c.cmd(&["ZCARD", "dst"]), Reply::Int(5));
    // An empty result deletes the destination, whatever it held.
    assert_eq!(
        c.cmd(&["ZRANGESTORE", "dst", "z", "10", "20"]),
        Reply::Int(0)
    );
    assert_eq!(c.cmd(&["EXISTS", "dst"]), Reply::Int(0));
    c.cmd(&["SET", "str", "v"]);
    assert_eq!(c.cmd(&["ZRANGESTORE", "str", "z", "0", "0"]), Reply::Int(1));
    assert_eq!(c.cmd(&["TYPE", "str"]), Reply::Status("zset".into()));
    c.cmd(&["SET", "str2", "v"]);
    assert_eq!(
        c.cmd(&["ZRANGESTORE", "str2", "nope", "0", "-1"]),
        Reply::Int(0)
    );
    assert_eq!(c.cmd(&["EXISTS", "str2"]), Reply::Int(0));
    assert_eq!(
        c.cmd(&["ZRANGESTORE", "dst", "z", "0", "-1", "WITHSCORES"]),
        err(SYNTAX)
    );
    assert_eq!(
        c.cmd(&["ZRANGESTORE", "dst", "z", "0", "-1", "LIMIT", "0", "1"]),
        err(
            "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX"
        )
    );
    // The source may be the destination.
    assert_eq!(c.cmd(&["ZRANGESTORE", "z", "z", "0", "1"]), Reply::Int(2));
    assert_eq!(
        c.cmd(&["ZRANGE", "z", "0", "-1", "WITHSCORES"]),
        bulks(&["a", "1", "b", "2"])
    );
}

#[test]
fn zpopmin_zpopmax() {
    let (_server, mut c) = with_abcde();
    let cases: &[(&[&str], &[&str])] = &[
        (&["ZPOPMIN", "z"], &["a", "1"]),
        (&["ZPOPMAX", "z"], &["e", "5"]),
        (&["ZPOPMIN", "z", "2"], &["b", "2", "c", "3"]),
        (&["ZPOPMIN", "z", "0"], &[]),
        (&["ZPOPMAX", "z", "10"], &["d", "4"]),
    ];
    for (args, want) in cases {
        assert_eq!(c.cmd(args), bulks(want), "{args:?}");
    }
    assert_eq!(c.cmd(&["EXISTS", "z"]), Reply::Int(0));
    assert_eq!(c.cmd(&["ZPOPMIN", "z"]), bulks(&[]));
    assert_eq!(c.cmd(&["ZPOPMAX", "z", "3"]), bulks(&[]));
    let errors: &[(&[&str], &str)] = &[
        (
            &["ZPOPMIN", "z", "-1"],
            "ERR value is out of range, must be positive",
        ),
        (&["ZPOPMIN", "z", "x"], NOT_INT),
        (&["ZPOPMIN", "z", "1", "2"], SYNTAX),
    ];
    for (args, want) in errors {
        assert_eq!(c.cmd(args), err(want), "{args:?}");
    }
}

#[test]
fn zmpop_and_bzmpop() {
    let server = TestServer::start(&[]);
    let mut c = server.raw();
    c.cmd(&["ZADD", "z2", "1", "a", "2", "b", "3", "c"]);
    let popped = |key: &str, items: &[(&str, &str)]| {
        Reply::Array(vec![
            Reply::bulk(key),
            Reply::Array(items.iter().map(|(m, s)| bulks(&[m, s])).collect()),
        ])
    };
    assert_eq!(
        c.cmd(&["ZMPOP", "2", "z1", "z2", "MIN"]),
        popped("z2", &[("a", "1")])
    );
    assert_eq!(
        c.cmd(&["ZMPOP", "2", "z1", "z2", "MAX", "COUNT", "5"]),
        popped("z2", &[("c", "3"), ("b", "2")])
    );
    assert_eq!(wire(server.port, &["ZMPOP", "1", "z2", "MIN"]), "*-1\r\n");
    let errors: &[(&[&str], &str)] = &[
        (
            &["ZMPOP", "0", "z", "MIN"],
            "ERR numkeys should be greater than 0",
        ),
        (&["ZMPOP", "1", "z", "MIDDLE"], SYNTAX),
        (&["ZMPOP", "3", "z", "MIN"], SYNTAX),
        (
            &["ZMPOP", "1", "z", "MIN", "COUNT", "0"],
            "ERR count should be greater than 0",
        ),
        (
            &["ZMPOP", "1", "z", "MIN", "COUNT", "1", "COUNT", "1"],
            SYNTAX,
        ),
    ];
    for (args, want) in errors {
        assert_eq!(c.cmd(args), err(want), "{args:?}");
    }
    c.cmd(&["ZADD", "z3", "7", "x"]);
    assert_eq!(
        c.cmd(&["BZMPOP", "1", "2", "z1", "z3", "MIN"]),
        popped("z3", &[("x", "7")])
    );
    let start = Instant::now();
    assert_eq!(
        wire(server.port, &["BZMPOP", "0.2", "1", "z1", "MIN"]),
        "*-1\r\n"
    );
    assert!(start.elapsed() >= Duration::from_millis(150));
    // Woken by a write from another client.
    let mut waiter = server.raw();
    waiter.send(&Raw::encode(&[
        b"BZMPOP", b"5", b"1", b"wake", b"MAX", b"COUNT", b"2",
    ]));
    std::thread::sleep(Duration::from_millis(200));
    c.cmd(&["ZADD", "wake", "1", "p", "2", "q", "3", "r"]);
    assert_eq!(waiter.read(), popped("wake", &[("r", "3"), ("q", "2")]));
}

#[test]
fn blocking_pops() {
    let server = TestServer::start(&[]);
    let mut c = server.raw();
    // Data already there: no waiting; keys are tried in order.
    c.cmd(&["ZADD", "b", "1", "x", "2", "y"]);
    assert_eq!(c.cmd(&["BZPOPMIN", "a", "b", "0"]), bulks(&["b", "x", "1"]));
    assert_eq!(c.cmd(&["BZPOPMAX", "a", "b", "1"]), bulks(&["b", "y", "2"]));
    assert_eq!(c.cmd(&["EXISTS", "b"]), Reply::Int(0));
    // Timing out.
    let start = Instant::now();
    assert_eq!(c.cmd(&["BZPOPMIN", "a", "b", "0.3"]), Reply::Nil);
    let waited = start.elapsed();
    assert!(waited >= Duration::from_millis(250), "{waited:?}");
    assert!(waited < Duration::from_secs(5), "{waited:?}");
    assert_eq!(wire(server.port, &["BZPOPMAX", "a", "0.1"]), "*-1\r\n");
    // Woken by ZADD from another client.
    let mut waiter = server.raw();
    waiter.send(&Raw::encode(&[b"BZPOPMIN", b"q1", b"q2", b"0"]));
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(c.cmd(&["ZADD", "q2", "5", "m", "3", "n"]), Reply::Int(2));
    assert_eq!(waiter.read(), bulks(&["q2", "n", "3"]));
    assert_eq!(c.cmd(&["ZRANGE", "q2", "0", "-1"]), bulks(&["m"]));
    // BZPOPMAX woken by a ZUNIONSTORE into the key.
    waiter.send(&Raw::encode(&[b"BZPOPMAX", b"u", b"10"]));
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(c.cmd(&["ZUNIONSTORE", "u", "1", "q2"]), Reply::Int(1));
    assert_eq!(waiter.read(), bulks(&["u", "m", "5"]));
    // Two waiters, one member at a time: one is served, the other keeps waiting.
    let mut w1 = server.raw();
    let mut w2 = server.raw();
    w1.send(&Raw::encode(&[b"BZPOPMIN", b"one", b"10"]));
    w2.send(&Raw::encode(&[b"BZPOPMIN", b"one", b"10"]));
    std::thread::sleep(Duration::from_millis(200));
    c.cmd(&["ZADD", "one", "1", "first"]);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        c.cmd(&["EXISTS", "one"]),
        Reply::Int(0),
        "popped by one waiter"
    );
    c.cmd(&["ZADD", "one", "2", "second"]);
    let mut got = [w1.read(), w2.read()].map(|r| r.strings());
    got.sort();
    assert_eq!(got[0], ["one", "first", "1"]);
    assert_eq!(got[1], ["one", "second", "2"]);
    // Errors.
    assert_eq!(
        c.cmd(&["BZPOPMIN", "a", "x"]),
        err("ERR timeout is not a float or out of range")
    );
    assert_eq!(
        c.cmd(&["BZPOPMIN", "a", "-1"]),
        err("ERR timeout is negative")
    );
    c.cmd(&["SET", "str", "v"]);
    assert_eq!(c.cmd(&["BZPOPMIN", "str", "0"]), err(WRONGTYPE));
    assert_eq!(
        c.cmd(&["BZPOPMIN", "a"]),
        err("ERR wrong number of arguments for 'bzpopmin' command")
    );
    // Inside MULTI nothing blocks: the timeout reply at once.
    assert_eq!(c.cmd(&["MULTI"]), Reply::ok());
    assert_eq!(
        c.cmd(&["BZPOPMIN", "empty", "0"]),
        Reply::Status("QUEUED".into())
    );
    assert_eq!(c.cmd(&["EXEC"]), Reply::Array(vec![Reply::Nil]));
}

#[test]
fn union_inter_diff() {
    let server = TestServer::start(&[]);
    let mut c = server.raw();
    c.cmd(&["ZADD", "z1", "1", "a", "2", "b", "3", "c"]);
    c.cmd(&["ZADD", "z2", "10", "b", "20", "c", "30", "d"]);
    c.cmd(&["SADD", "s", "c", "d", "e"]);
    assert_eq!(
        c.cmd(&["ZUNIONSTORE", "out", "2", "z1", "z2"]),
        Reply::Int(4)
    );
    assert_eq!(
        c.cmd(&["ZRANGE", "out", "0", "-1", "WITHSCORES"]),
        bulks(&["a", "1", "b", "12", "c", "23", "d", "30"])
    );
    assert_eq!(
        c.cmd(&[
            "ZUNIONSTORE",
            "out",
            "2",
            "z1",
            "z2",
            "WEIGHTS",
            "2",
            "0.5",
            "AGGREGATE",
            "MAX"
        ]),
        Reply::Int(4)
    );
    assert_eq!(
        c.cmd(&["ZRANGE", "out", "0", "-1", "WITHSCORES"]),
        bulks(&["a", "2", "b", "5", "c", "10", "d", "15"])
    );
    assert_eq!(
        c.cmd(&["ZINTERSTORE", "out", "2", "z1", "z2", "AGGREGATE", "min"]),
        Reply::Int(2)
    );
    assert_eq!(
        c.cmd(&["ZRANGE", "out", "0", "-1", "WITHSCORES"]),
        bulks(&["b", "2", "c", "3"])
    );
    // Plain sets count with score 1.
    assert_eq!(
        c.cmd(&["ZINTERSTORE", "out", "3", "z1", "z2", "s"]),
        Reply::Int(1)
    );
    let cases: &[(&[&str], &[&str])] = &[
        (&["ZRANGE", "out", "0", "-1", "WITHSCORES"], &["c", "24"]),
        (
            &["ZUNION", "2", "z1", "s", "WITHSCORES"],
            &["a", "1", "d", "1", "e", "1", "b", "2", "c", "4"],
        ),
        (
            &[
                "ZINTER",
                "2",
                "z1",
                "z2",
                "WEIGHTS",
                "1",
                "-1",
                "WITHSCORES",
            ],
            &["c", "-17", "b", "-8"],
        ),
        (&["ZINTER", "2", "z1", "nope"], &[]),
        (&["ZDIFF", "2", "z1", "z2"], &["a"]),
        (
            &["ZDIFF", "3", "z2", "z1", "nope", "WITHSCORES"],
            &["d", "30"],
        ),
    ];
    for (args, want) in cases {
        assert_eq!(c.cmd(args), bulks(want), "{args:?}");
    }
    assert_eq!(c.cmd(&["ZDIFFSTORE", "out", "2", "z2", "s"]), Reply::Int(1));
    assert_eq!(
        c.cmd(&["ZRANGE", "out", "0", "-1", "WITHSCORES"]),
        bulks(&["b", "10"])
    );
    // An empty result removes the destination.
    assert_eq!(
        c.cmd(&["ZINTERSTORE", "out", "2", "z1", "nope"]),
        Reply::Int(0)
    );
    assert_eq!(c.cmd(&["EXISTS", "out"]), Reply::Int(0));
    // inf * 0 counts as 0, and the destination may be an input.
    c.cmd(&["ZADD", "inf", "+inf", "a"]);
    assert_eq!(
        c.cmd(&["ZUNIONSTORE", "z1", "2", "z1", "inf", "WEIGHTS", "1", "0"]),
        Reply::Int(3)
    );
    assert_eq!(c.cmd(&["ZSCORE", "z1", "a"]), Reply::bulk("1"));
    assert_eq!(c.cmd(&["ZINTERCARD", "2", "z1", "z2"]), Reply::Int(2));
    assert_eq!(
        c.cmd(&["ZINTERCARD", "2", "z1", "z2", "LIMIT", "1"]),
        Reply::Int(1)
    );
    assert_eq!(c.cmd(&["ZINTERCARD", "3", "z1", "z2", "s"]), Reply::Int(1));
    // Errors.
    let errors: &[(&[&str], &str)] = &[
        (
            &["ZUNIONSTORE", "out", "0", "z1"],
            "ERR at least 1 input key is needed for 'zunionstore' command",
        ),
        (
            &["ZINTER", "0", "z1"],
            "ERR at least 1 input key is needed for 'zinter' command",
        ),
        (&["ZUNIONSTORE", "out", "3", "z1", "z2"], SYNTAX),
        (&["ZUNIONSTORE", "out", "x", "z1"], NOT_INT),
        (
            &["ZUNIONSTORE", "out", "2", "z1", "z2", "WEIGHTS", "1", "x"],
            "ERR weight value is not a float",
        ),
        (
            &["ZUNIONSTORE", "out", "2", "z1", "z2", "WEIGHTS", "1"],
            SYNTAX,
        ),
        (
            &["ZUNIONSTORE", "out", "1", "z1", "AGGREGATE", "AVG"],
            SYNTAX,
        ),
        (&["ZUNIONSTORE", "out", "1", "z1", "WITHSCORES"], SYNTAX),
        (&["ZDIFF", "1", "z1", "WEIGHTS", "1"], SYNTAX),
        (
            &["ZINTERCARD", "0", "z1"],
            "ERR at least 1 input key is needed for 'zintercard' command",
        ),
        (&["ZINTERCARD", "3", "z1"], SYNTAX),
        (
            &["ZINTERCARD", "1", "z1", "LIMIT", "-1"],
            "ERR LIMIT can't be negative",
        ),
    ];
    for (args, want) in errors {
        assert_eq!(c.cmd(args), err(want), "{args:?}");
    }
    c.cmd(&["SET", "str", "v"]);
    assert_eq!(
        c.cmd(&["ZUNIONSTORE", "out", "2", "z1", "str"]),
        err(WRONGTYPE)
    );
    assert_eq!(c.cmd(&["ZINTER", "2", "str", "z1"]), err(WRONGTYPE));
    // The destination may hold any type: it is replaced.
    assert_eq!(c.cmd(&["ZUNIONSTORE", "str", "1", "z2"]), Reply::Int(3));
    assert_eq!(c.cmd(&["TYPE", "str"]), Reply::Status("zset".into()));
    // COMMAND GETKEYS finds the movable keys.
    assert_eq!(
        c.cmd(&[
            "COMMAND",
            "GETKEYS",
            "ZUNIONSTORE",
            "out",
            "2",
            "z1",
            "z2",
            "WEIGHTS",
            "1",
            "2"
        ]),
        bulks(&["out", "z1", "z2"])
    );
}

#[test]
fn zrandmember_and_zscan() {
    let (_server, mut c) = with_abcde();
    let one = c.cmd(&["ZRANDMEMBER", "z"]).text();
    assert!(["a", "b", "c", "d", "e"].contains(&one.as_str()));
    assert_eq!(c.cmd(&["ZRANDMEMBER", "nope"]), Reply::Nil);
    assert_eq!(c.cmd(&["ZRANDMEMBER", "nope", "3"]), bulks(&[]));
    assert_eq!(c.cmd(&["ZRANDMEMBER", "z", "0"]), bulks(&[]));
    let mut distinct = c.cmd(&["ZRANDMEMBER", "z", "10"]).strings();
    distinct.sort();
    assert_eq!(distinct, ["a", "b", "c", "d", "e"]);
    assert_eq!(c.cmd(&["ZRANDMEMBER", "z", "3"]).items().len(), 3);
    let repeated = c.cmd(&["ZRANDMEMBER", "z", "-12"]).strings();
    assert_eq!(repeated.len(), 12);
    let with = c.cmd(&["ZRANDMEMBER", "z", "-4", "WITHSCORES"]).strings();
    assert_eq!(with.len(), 8);
    for pair in with.chunks(2) {
        let expected = (pair[0].as_bytes()[0] - b'a' + 1).to_string();
        assert_eq!(pair[1], expected, "{pair:?}");
    }
    let errors: &[(&[&str], &str)] = &[
        (&["ZRANDMEMBER", "z", "1", "FOO"], SYNTAX),
        (&["ZRANDMEMBER", "z", "x"], NOT_INT),
        (
            &["ZRANDMEMBER", "z", "-9223372036854775807", "WITHSCORES"],
            "ERR value is out of range",
        ),
    ];
    for (args, want) in errors {
        assert_eq!(c.cmd(args), err(want), "{args:?}");
    }
    // ZSCAN walks every member once, with its score.
    for i in 0..30 {
        c.cmd(&["ZADD", "big", &i.to_string(), &format!("m{i}")]);
    }
    let mut seen = std::collections::BTreeMap::new();
    let mut cursor = "0".to_string();
    loop {
        let reply = c.cmd(&["ZSCAN", "big", &cursor, "COUNT", "7"]).items();
        cursor = reply[0].text();
        for pair in reply[1].strings().chunks(2) {
            seen.insert(pair[0].clone(), pair[1].clone());
        }
        if cursor == "0" {
            break;
        }
    }
    assert_eq!(seen.len(), 30);
    assert_eq!(seen["m17"], "17");
    let matched = c
        .cmd(&["ZSCAN", "big", "0", "MATCH", "m2*", "COUNT", "100"])
        .items();
    assert_eq!(matched[0], Reply::bulk("0"));
    assert_eq!(
        matched[1].strings().len(),
        22,
        "m2 and m20..m29 with scores"
    );
    assert_eq!(
        c.cmd(&["ZSCAN", "nope", "0"]),
        Reply::Array(vec![Reply::bulk("0"), bulks(&[])])
    );
    assert_eq!(c.cmd(&["ZSCAN", "big", "0", "COUNT", "0"]), err(SYNTAX));
}

#[test]
fn resp3_reply_shapes() {
    let server = TestServer::start(&[]);
    let mut c = server.raw();
    assert!(matches!(c.cmd(&["HELLO", "3"]), Reply::Map(_)));
    let d = |s: &str| Reply::Double(s.into());
    let pair = |m: &str, s: &str| Reply::Array(vec![Reply::bulk(m), Reply::Double(s.into())]);
    assert_eq!(
        c.cmd(&["ZADD", "z", "1.5", "a", "2", "b", "+inf", "c"]),
        Reply::Int(3)
    );
    assert_eq!(c.cmd(&["ZSCORE", "z", "a"]), d("1.5"));
    assert_eq!(c.cmd(&["ZSCORE", "z", "c"]), d("inf"));
    assert_eq!(c.cmd(&["ZSCORE", "z", "nope"]), Reply::Nil);
    assert_eq!(c.cmd(&["ZINCRBY", "z", "1", "b"]), d("3"));
    assert_eq!(c.cmd(&["ZADD", "z", "INCR", "1", "b"]), d("4"));
    assert_eq!(
        c.cmd(&["ZMSCORE", "z", "a", "nope"]),
        Reply::Array(vec![d("1.5"), Reply::Nil])
    );
    assert_eq!(
        c.cmd(&["ZRANGE", "z", "0", "1", "WITHSCORES"]),
        Reply::Array(vec![pair("a", "1.5"), pair("b", "4")])
    );
    assert_eq!(
        c.cmd(&["ZRANGEBYSCORE", "z", "-inf", "(4", "WITHSCORES"]),
        Reply::Array(vec![pair("a", "1.5")])
    );
    assert_eq!(c.cmd(&["ZRANGE", "z", "0", "0"]), bulks(&["a"]));
    assert_eq!(
        c.cmd(&["ZRANK", "z", "b", "WITHSCORE"]),
        Reply::Array(vec![Reply::Int(1), d("4")])
    );
    assert_eq!(c.cmd(&["ZRANK", "z", "nope", "WITHSCORE"]), Reply::Nil);
    assert_eq!(
        c.cmd(&["ZUNION", "1", "z", "WITHSCORES"]),
        Reply::Array(vec![pair("a", "1.5"), pair("b", "4"), pair("c", "inf")])
    );
    let rand = c.cmd(&["ZRANDMEMBER", "z", "-2", "WITHSCORES"]).items();
    assert_eq!(rand.len(), 2);
    assert!(rand
        .iter()
        .all(|p| matches!(p, Reply::Array(a) if a.len() == 2)));
    // ZSCAN scores stay strings.
    let scan = c.cmd(&["ZSCAN", "z", "0"]).items();
    assert!(scan[1].items().contains(&Reply::bulk("1.5")));
    // ZPOPMIN without a count is flat; with one, pairs.
    assert_eq!(
        c.cmd(&["ZPOPMIN", "z"]),
        Reply::Array(vec![Reply::bulk("a"), d("1.5")])
    );
    assert_eq!(
        c.cmd(&["ZPOPMIN", "z", "1"]),
        Reply::Array(vec![pair("b", "4")])
    );
    assert_eq!(
        c.cmd(&["BZPOPMAX", "z", "0"]),
        Reply::Array(vec![Reply::bulk("z"), Reply::bulk("c"), d("inf")])
    );
    assert_eq!(c.cmd(&["BZPOPMAX", "z", "0.05"]), Reply::Nil);
}

#[test]
fn lifecycle_rename_expire_and_redis_crate() {
    let server = TestServer::start(&[]);
    let mut c = server.raw();
    abcde(&mut c);
    assert_eq!(c.cmd(&["RENAME", "z", "r"]), Reply::ok());
    assert_eq!(c.cmd(&["ZRANGEBYSCORE", "r", "2", "3"]), bulks(&["b", "c"]));
    assert_eq!(c.cmd(&["ZSCORE", "r", "e"]), Reply::bulk("5"));
    assert_eq!(c.cmd(&["ZCARD", "z"]), Reply::Int(0));
    // A deleted and recreated key does not see its old members.
    assert_eq!(c.cmd(&["DEL", "r"]), Reply::Int(1));
    assert_eq!(c.cmd(&["ZADD", "r", "9", "new"]), Reply::Int(1));
    assert_eq!(
        c.cmd(&["ZRANGE", "r", "0", "-1", "WITHSCORES"]),
        bulks(&["new", "9"])
    );
    assert_eq!(
        c.cmd(&["ZRANGEBYSCORE", "r", "-inf", "+inf"]),
        bulks(&["new"])
    );
    // Expired keys vanish at once.
    assert_eq!(c.cmd(&["PEXPIRE", "r", "50"]), Reply::Int(1));
    std::thread::sleep(Duration::from_millis(120));
    assert_eq!(c.cmd(&["ZCARD", "r"]), Reply::Int(0));
    assert_eq!(c.cmd(&["ZADD", "r", "1", "fresh"]), Reply::Int(1));
    assert_eq!(c.cmd(&["ZRANGE", "r", "0", "-1"]), bulks(&["fresh"]));
    assert_eq!(c.cmd(&["TTL", "r"]), Reply::Int(-1));
    // Binary members and a large set through the ecosystem client.
    let mut con = server.client();
    let added: i64 = redis::cmd("ZADD")
        .arg("bin")
        .arg(1)
        .arg(&b"\x00\xff"[..])
        .arg(2)
        .arg(&b"\xff"[..])
        .query(&mut con)
        .unwrap();
    assert_eq!(added, 2);
    let members: Vec<Vec<u8>> = redis::cmd("ZRANGE")
        .arg("bin")
        .arg(0)
        .arg(-1)
        .query(&mut con)
        .unwrap();
    assert_eq!(members, vec![b"\x00\xff".to_vec(), b"\xff".to_vec()]);
    let mut pipe = redis::pipe();
    for i in 0..500 {
        pipe.cmd("ZADD")
            .arg("many")
            .arg(i % 50)
            .arg(format!("m{i:03}"))
            .ignore();
    }
    pipe.query::<()>(&mut con).unwrap();
    let card: i64 = redis::cmd("ZCARD").arg("many").query(&mut con).unwrap();
    assert_eq!(card, 500);
    let top: Vec<(String, f64)> = redis::cmd("ZREVRANGE")
        .arg("many")
        .arg(0)
        .arg(1)
        .arg("WITHSCORES")
        .query(&mut con)
        .unwrap();
    assert_eq!(
        top,
        vec![("m499".to_string(), 49.0), ("m449".to_string(), 49.0)]
    );
    let rank: i64 = redis::cmd("ZRANK")
        .arg("many")
        .arg("m001")
        .query(&mut con)
        .unwrap();
    assert_eq!(rank, 10, "score 0 has m000..m450 (10 members), then m001");
    let counted: i64 = redis::cmd("ZCOUNT")
        .arg("many")
        .arg("(10")
        .arg(20)
        .query(&mut con)
        .unwrap();
    assert_eq!(counted, 100);
}
