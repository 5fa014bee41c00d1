//! Stream commands against a real server. Most expected replies (IDs, entries, XINFO
//! fields, error texts) were produced by redis-server 7.0 for the same commands.

mod common;
use std::time::{Duration, Instant};

use common::{Raw, Reply, TestServer};

/// Runs `cases` in order on one connection, each with its exact expected reply.
fn check(c: &mut Raw, cases: &[(&[&str], Reply)]) {
    for (args, expected) in cases {
        assert_eq!(&c.cmd(args), expected, "{args:?}");
    }
}

/// `[id, [field, value, ...]]`.
fn entry(id: &str, fields: &[&str]) -> Reply {
    Reply::Array(vec![
        Reply::bulk(id),
        Reply::Array(fields.iter().map(|f| Reply::bulk(f)).collect()),
    ])
}

/// XREAD's RESP2 reply for one stream.
fn read_reply(key: &str, entries: Vec<Reply>) -> Reply {
    Reply::Array(vec![Reply::Array(vec![
        Reply::bulk(key),
        Reply::Array(entries),
    ])])
}

fn parse_id(reply: &Reply) -> (u64, u64) {
    let text = reply.text();
    let (ms, seq) = text.split_once('-').expect("ms-seq");
    (ms.parse().unwrap(), seq.parse().unwrap())
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

#[test]
fn xadd_ids_options_and_errors() {
    let server = TestServer::start(&[]);
    let mut c = server.raw();
    check(&mut c, &[
        (&["xadd", "s", "0-0", "a", "1"], Reply::err("ERR The ID specified in XADD must be greater than 0-0")),
        (&["xadd", "s", "0", "a", "1"], Reply::err("ERR The ID specified in XADD must be greater than 0-0")),
        (&["exists", "s"], Reply::Int(0)),
        (&["xadd", "s", "0-*", "a", "1"], Reply::bulk("0-1")),
        (&["xadd", "s", "0-*", "a", "1"], Reply::bulk("0-2")),
        (&["xadd", "s", "5", "a", "1"], Reply::bulk("5-0")),
        (&["xadd", "s", "5", "a", "1"], Reply::err("ERR The ID specified in XADD is equal or smaller than the target stream top item")),
        (&["xadd", "s", "5-*", "f", "v", "g", "w"], Reply::bulk("5-1")),
        (&["xadd", "s", "4-*", "a", "1"], Reply::err("ERR The ID specified in XADD is equal or smaller than the target stream top item")),
        (&["xadd", "s", "5-1", "a", "1"], Reply::err("ERR The ID specified in XADD is equal or smaller than the target stream top item")),
        (&["xadd", "s", "4-9", "a", "1"], Reply::err("ERR The ID specified in XADD is equal or smaller than the target stream top item")),
        (&["xlen", "s"], Reply::Int(4)),
        (&["xadd", "s", "abc", "a", "1"], Reply::err("ERR Invalid stream ID specified as stream command argument")),
        (&["xadd", "s", "1-2-3", "a", "1"], Reply::err("ERR Invalid stream ID specified as stream command argument")),
        (&["xadd", "s", "-", "a", "1"], Reply::err("ERR Invalid stream ID specified as stream command argument")),
        (&["xadd", "s", "+", "a", "1"], Reply::err("ERR Invalid stream ID specified as stream command argument")),
        (&["xadd", "s", "1-", "a", "1"], Reply::err("ERR Invalid stream ID specified as stream command argument")),
        (&["xadd", "s", "-1", "a", "1"], Reply::err("ERR Invalid stream ID specified as stream command argument")),
        (&["xadd", "s", "18446744073709551616", "a", "1"], Reply::err("ERR Invalid stream ID specified as stream command argument")),
        (&["xadd", "s", "6-1", "a"], Reply::err("ERR wrong number of arguments for 'xadd' command")),
        (&["xadd", "s", "6-1", "a", "1", "b"], Reply::err("ERR wrong number of arguments for 'xadd' command")),
        (&["xadd", "s", "6-1"], Reply::err("ERR wrong number of arguments for 'xadd' command")),
        (&["xadd", "s", "nomkstream", "6", "a", "1"], Reply::bulk("6-0")),
        (&["xadd", "nos", "nomkstream", "1-1", "a", "1"], Reply::Nil),
        (&["exists", "nos"], Reply::Int(0)),
        (&["xadd", "s", "18446744073709551615-*", "a", "1"], Reply::bulk("18446744073709551615-0")),
        (&["xadd", "s", "18446744073709551615-18446744073709551615", "a", "1"], Reply::bulk("18446744073709551615-18446744073709551615")),
        (&["xadd", "s", "18446744073709551615-*", "a", "1"], Reply::err("ERR The stream has exhausted the last possible ID, unable to add more items")),
        (&["xadd", "s", "*", "a", "1"], Reply::err("ERR The stream has exhausted the last possible ID, unable to add more items")),
        (&["xadd", "s", "9-9", "a", "1"], Reply::err("ERR The stream has exhausted the last possible ID, unable to add more items")),
        (&["xlen", "s"], Reply::Int(7)),
        (&["type", "s"], Reply::Status("stream".into())),
        (&["set", "str", "x"], Reply::ok()),
        (&["xadd", "str", "1-1", "a", "1"], Reply::err("WRONGTYPE Operation against a key holding the wrong kind of value")),
        (&["xlen", "str"], Reply::err("WRONGTYPE Operation against a key holding the wrong kind of value")),
        (&["xlen", "nokey"], Reply::Int(0)),
        (&["xadd", "s2", "maxlen", "-1", "*", "a", "1"], Reply::err("ERR The MAXLEN argument must be >= 0.")),
        (&["xadd", "s2", "maxlen", "x", "*", "a", "1"], Reply::err("ERR value is not an integer or out of range")),
        (&["xadd", "s2", "maxlen", "1", "limit", "10", "*", "a", "1"], Reply::err("ERR syntax error, LIMIT cannot be used without the special ~ option")),
        (&["xadd", "s2", "maxlen", "~", "1", "limit", "-1", "*", "a", "1"], Reply::err("ERR The LIMIT argument must be >= 0.")),
        (&["xadd", "s2", "maxlen", "~", "1", "limit", "x", "*", "a", "1"], Reply::err("ERR value is not an integer or out of range")),
        (&["xadd", "s2", "minid", "abc", "*", "a", "1"], Reply::err("ERR Invalid stream ID specified as stream command argument")),
        (&["xadd", "s2", "minid", "-", "*", "a", "1"], Reply::err("ERR Invalid stream ID specified as stream command argument")),
        (&["xadd", "s2", "maxlen", "=", "1", "minid", "0", "*", "a", "1"], Reply::err("ERR syntax error, MAXLEN and MINID options at the same time are not compatible")),
        (&["xadd", "s2", "limit", "10", "1-1", "a", "1"], Reply::err("ERR syntax error, LIMIT cannot be used without specifying a trimming strategy")),
        (&["xadd", "s2", "limit", "0", "1-1", "a", "1"], Reply::err("ERR syntax error, LIMIT cannot be used without the special ~ option")),
        (&["xadd", "s2", "maxlen", "5", "a", "b"], Reply::err("ERR Invalid stream ID specified as stream command argument")),
        (&["exists", "s2"], Reply::Int(0)),
        (&["xadd", "t", "1-1", "a", "1"], Reply::bulk("1-1")),
        (&["xadd", "t", "2-1", "a", "2"], Reply::bulk("2-1")),
        (&["xadd", "t", "3-1", "a", "3"], Reply::bulk("3-1")),
        (&["xadd", "t", "maxlen", "2", "4-1", "a", "4"], Reply::bulk("4-1")),
        (&["xrange", "t", "-", "+"], Reply::Array(vec![entry("3-1", &["a", "3"]), entry("4-1", &["a", "4"])])),
        (&["xadd", "t", "MAXLEN", "=", "1", "5-1", "a", "5"], Reply::bulk("5-1")),
        (&["xrange", "t", "-", "+"], Reply::Array(vec![entry("5-1", &["a", "5"])])),
        (&["xadd", "t", "minid", "6", "6-1", "a", "6"], Reply::bulk("6-1")),
        (&["xrange", "t", "-", "+"], Reply::Array(vec![entry("6-1", &["a", "6"])])),
        (&["xadd", "t", "maxlen", "~", "1", "7-1", "a", "7"], Reply::bulk("7-1")),
        (&["xlen", "t"], Reply::Int(2)),
        (&["xadd", "t", "minid", "~", "8", "8-1", "a", "8"], Reply::bulk("8-1")),
        (&["xlen", "t"], Reply::Int(3)),
        (&["xadd", "t", "maxlen", "~", "0", "limit", "1000", "9-1", "a", "9"], Reply::bulk("9-1")),
        (&["xlen", "t"], Reply::Int(0)),
        (&["xadd", "t", "maxlen", "0", "10-1", "a", "10"], Reply::bulk("10-1")),
        (&["xlen", "t"], Reply::Int(0)),
        (&["exists", "t"], Reply::Int(1)),
        (&["xadd", "t", "nomkstream", "11-1", "a", "11"], Reply::bulk("11-1")),
        (&["xadd", "t", "minid", "100", "12-1", "a", "12"], Reply::bulk("12-1")),
        (&["xlen", "t"], Reply::Int(0)),
        (&["xinfo", "stream", "t"], Reply::Array(vec![Reply::bulk("length"), Reply::Int(0), Reply::bulk("radix-tree-keys"), Reply::Int(0), Reply::bulk("radix-tree-nodes"), Reply::Int(1), Reply::bulk("last-generated-id"), Reply::bulk("12-1"), Reply::bulk("max-deleted-entry-id"), Reply::bulk("0-0"), Reply::bulk("entries-added"), Reply::Int(12), Reply::bulk("recorded-first-entry-id"), Reply::bulk("0-0"), Reply::bulk("groups"), Reply::Int(0), Reply::bulk("first-entry"), Reply::Nil, Reply::bulk("last-entry"), Reply::Nil])),
    ]);
}

#[test]
fn xadd_generates_increasing_ids_from_the_clock() {
    let server = TestServer::start(&[]);
    let mut c = server.raw();
    let before = now_ms();
    let mut last = (0, 0);
    for _ in 0..50 {
        let id = parse_id(&c.cmd(&["XADD", "s", "*", "f", "v"]));
        assert!(id > last, "{id:?} after {last:?}");
        last = id;
    }
    assert!(last.0 >= before && last.0 <= now_ms() + 1, "{last:?}");
    let first = parse_id(&c.cmd(&["XRANGE", "s", "-", "+", "COUNT", "1"]).items()[0].items()[0]);
    assert!(first.0 >= before);
    // An ID in the future: `*` continues from it instead of going back.
    let future = now_ms() + 3_600_000;
    assert_eq!(
        c.cmd(&["XADD", "s", &format!("{future}-5"), "f", "v"]),
        Reply::bulk(&format!("{future}-5"))
    );
    assert_eq!(
        c.cmd(&["XADD", "s", "*", "f", "v"]),
        Reply::bulk(&format!("{future}-6"))
    );
    assert_eq!(
        c.cmd(&["XADD", "s", &format!("{future}-*"), "f", "v"]),
        Reply::bulk(&format!("{future}-7"))
    );
    assert_eq!(
        c.cmd(&["XADD", "s", &format!("{}-*", future + 1), "f", "v"]),
        Reply::bulk(&format!("{}-0", future + 1))
    );
    assert_eq!(c.cmd(&["XLEN", "s"]), Reply::Int(54));
    // Redis' lenient number parsing of IDs (strtoull after the strict parser).
    assert_eq!(c.cmd(&["XADD", "n", "+5-01", "f", "v"]), Reply::bulk("5-1"));
    assert_eq!(c.cmd(&["XADD", "n", " 6", "f", "v"]), Reply::bulk("6-0"));
}

#[test]
fn xrange_xrevrange_and_xdel() {
    let server = TestServer::start(&[]);
    let mut c = server.raw();
    check(
        &mut c,
        &[
            (&["xadd", "s", "1-1", "a", "1"], Reply::bulk("1-1")),
            (&["xadd", "s", "1-2", "b", "2"], Reply::bulk("1-2")),
            (
                &["xadd", "s", "2-1", "c", "3", "d", "4"],
                Reply::bulk("2-1"),
            ),
            (&["xadd", "s", "3-0", "e", "5"], Reply::bulk("3-0")),
            (
                &["xrange", "s", "-", "+"],
                Reply::Array(vec![
                    entry("1-1", &["a", "1"]),
                    entry("1-2", &["b", "2"]),
                    entry("2-1", &["c", "3", "d", "4"]),
                    entry("3-0", &["e", "5"]),
                ]),
            ),
            (
                &["xrange", "s", "-", "+", "count", "2"],
                Reply::Array(vec![entry("1-1", &["a", "1"]), entry("1-2", &["b", "2"])]),
            ),
            (&["xrange", "s", "-", "+", "COUNT", "0"], Reply::Nil),
            (&["xrange", "s", "-", "+", "count", "-1"], Reply::Nil),
            (
                &["xrange", "s", "1", "1"],
                Reply::Array(vec![entry("1-1", &["a", "1"]), entry("1-2", &["b", "2"])]),
            ),
            (
                &["xrange", "s", "1-2", "2"],
                Reply::Array(vec![
                    entry("1-2", &["b", "2"]),
                    entry("2-1", &["c", "3", "d", "4"]),
                ]),
            ),
            (
                &["xrange", "s", "(1-1", "(3-0"],
                Reply::Array(vec![
                    entry("1-2", &["b", "2"]),
                    entry("2-1", &["c", "3", "d", "4"]),
                ]),
            ),
            (
                &["xrange", "s", "(1", "2"],
                Reply::Array(vec![
                    entry("1-1", &["a", "1"]),
                    entry("1-2", &["b", "2"]),
                    entry("2-1", &["c", "3", "d", "4"]),
                ]),
            ),
            (
                &["xrange", "s", "(2", "+"],
                Reply::Array(vec![
                    entry("2-1", &["c", "3", "d", "4"]),
                    entry("3-0", &["e", "5"]),
                ]),
            ),
            (
                &["xrange", "s", "2-1", "2"],
                Reply::Array(vec![entry("2-1", &["c", "3", "d", "4"])]),
            ),
            (&["xrange", "s", "3", "-"], Reply::Array(vec![])),
            (&["xrange", "s", "0", "0"], Reply::Array(vec![])),
            (
                &["xrange", "s", "18446744073709551615", "+"],
                Reply::Array(vec![]),
            ),
            (
                &[
                    "xrange",
                    "s",
                    "18446744073709551615-18446744073709551615",
                    "+",
                ],
                Reply::Array(vec![]),
            ),
            (
                &["xrevrange", "s", "+", "-"],
                Reply::Array(vec![
                    entry("3-0", &["e", "5"]),
                    entry("2-1", &["c", "3", "d", "4"]),
                    entry("1-2", &["b", "2"]),
                    entry("1-1", &["a", "1"]),
                ]),
            ),
            (
                &["xrevrange", "s", "+", "-", "count", "2"],
                Reply::Array(vec![
                    entry("3-0", &["e", "5"]),
                    entry("2-1", &["c", "3", "d", "4"]),
                ]),
            ),
            (
                &["xrevrange", "s", "(3-0", "-"],
                Reply::Array(vec![
                    entry("2-1", &["c", "3", "d", "4"]),
                    entry("1-2", &["b", "2"]),
                    entry("1-1", &["a", "1"]),
                ]),
            ),
            (
                &["xrevrange", "s", "2", "(1"],
                Reply::Array(vec![
                    entry("2-1", &["c", "3", "d", "4"]),
                    entry("1-2", &["b", "2"]),
                    entry("1-1", &["a", "1"]),
                ]),
            ),
            (&["xrevrange", "s", "+", "-", "count", "0"], Reply::Nil),
            (&["xrevrange", "s", "-", "+"], Reply::Array(vec![])),
            (
                &["xrange", "s", "(-", "+"],
                Reply::err("ERR Invalid stream ID specified as stream command argument"),
            ),
            (
                &["xrange", "s", "-", "(+"],
                Reply::err("ERR Invalid stream ID specified as stream command argument"),
            ),
            (
                &["xrange", "s", "(", "+"],
                Reply::err("ERR Invalid stream ID specified as stream command argument"),
            ),
            (
                &[
                    "xrange",
                    "s",
                    "(18446744073709551615-18446744073709551615",
                    "+",
                ],
                Reply::err("ERR invalid start ID for the interval"),
            ),
            (
                &["xrange", "s", "-", "(0-0"],
                Reply::err("ERR invalid end ID for the interval"),
            ),
            (&["xrange", "s", "-", "(0"], Reply::Array(vec![])),
            (
                &["xrevrange", "s", "(-", "+"],
                Reply::err("ERR Invalid stream ID specified as stream command argument"),
            ),
            (
                &[
                    "xrevrange",
                    "s",
                    "+",
                    "(18446744073709551615-18446744073709551615",
                ],
                Reply::err("ERR invalid start ID for the interval"),
            ),
            (
                &["xrevrange", "s", "(0-0", "-"],
                Reply::err("ERR invalid end ID for the interval"),
            ),
            (
                &["xrange", "s", "-", "+", "count"],
                Reply::err("ERR syntax error"),
            ),
            (
                &["xrange", "s", "-", "+", "foo", "1"],
                Reply::err("ERR syntax error"),
            ),
            (
                &["xrange", "s", "-", "+", "count", "x"],
                Reply::err("ERR value is not an integer or out of range"),
            ),
            (
                &["xrange", "s", "abc", "+"],
                Reply::err("ERR Invalid stream ID specified as stream command argument"),
            ),
            (
                &["xrange", "s", "-", "1-x"],
                Reply::err("ERR Invalid stream ID specified as stream command argument"),
            ),
            (&["xrange", "nokey", "-", "+"], Reply::Array(vec![])),
            (
                &["xrange", "nokey", "-", "+", "count", "0"],
                Reply::Array(vec![]),
            ),
            (&["set", "str", "x"], Reply::ok()),
            (
                &["xrange", "str", "-", "+"],
                Reply::err("WRONGTYPE Operation against a key holding the wrong kind of value"),
            ),
            (
                &["xrevrange", "str", "+", "-"],
                Reply::err("WRONGTYPE Operation against a key holding the wrong kind of value"),
            ),
            (&["xdel", "s", "1-2", "9-9"], Reply::Int(1)),
            (&["xdel", "s", "1-2"], Reply::Int(0)),
            (
                &["xdel", "s", "abc", "1-1"],
                Reply::err("ERR Invalid stream ID specified as stream command argument"),
            ),
            (&["xlen", "s"], Reply::Int(3)),
            (&["xdel", "nokey", "abc"], Reply::Int(0)),
            (&["xdel", "s", "1-1", "2-1", "2-1", "3"], Reply::Int(3)),
            (&["xlen", "s"], Reply::Int(0)),
            (
                &["xdel", "str", "1-1"],
                Reply::err("WRONGTYPE Operation against a key holding the wrong kind of value"),
            ),
            (&["exists", "s"], Reply::Int(1)),
            (&["xrange", "s", "-", "+"], Reply::Array(vec![])),
            (
                &["xinfo", "stream", "s"],
                Reply::Array(vec![
                    Reply::bulk("length"),
                    Reply::Int(0),
                    Reply::bulk("radix-tree-keys"),
                    Reply::Int(0),
                    Reply::bulk("radix-tree-nodes"),
                    Reply::Int(1),
                    Reply::bulk("last-generated-id"),
                    Reply::bulk("3-0"),
                    Reply::bulk("max-deleted-entry-id"),
                    Reply::bulk("3-0"),
                    Reply::bulk("entries-added"),
                    Reply::Int(4),
                    Reply::bulk("recorded-first-entry-id"),
                    Reply::bulk("0-0"),
                    Reply::bulk("groups"),
                    Reply::Int(0),
                    Reply::bulk("first-entry"),
                    Reply::Nil,
                    Reply::bulk("last-entry"),
                    Reply::Nil,
                ]),
            ),
        ],
    );
}

#[test]
fn xtrim_exact_and_approximate() {
    let server = TestServer::start(&[]);
    let mut c = server.raw();
    check(&mut c, &[
        (&["xadd", "s", "1-1", "a", "1"], Reply::bulk("1-1")),
        (&["xadd", "s", "2-1", "a", "2"], Reply::bulk("2-1")),
        (&["xadd", "s", "3-1", "a", "3"], Reply::bulk("3-1")),
        (&["xadd", "s", "4-1", "a", "4"], Reply::bulk("4-1")),
        (&["xadd", "s", "5-1", "a", "5"], Reply::bulk("5-1")),
        (&["xtrim", "s", "maxlen", "10"], Reply::Int(0)),
        (&["xtrim", "s", "maxlen", "3"], Reply::Int(2)),
        (&["xrange", "s", "-", "+"], Reply::Array(vec![entry("3-1", &["a", "3"]), entry("4-1", &["a", "4"]), entry("5-1", &["a", "5"])])),
        (&["xtrim", "s", "minid", "4"], Reply::Int(1)),
        (&["xrange", "s", "-", "+"], Reply::Array(vec![entry("4-1", &["a", "4"]), entry("5-1", &["a", "5"])])),
        (&["xtrim", "s", "minid", "=", "5-1"], Reply::Int(1)),
        (&["xtrim", "s", "maxlen", "~", "0"], Reply::Int(1)),
        (&["xtrim", "s", "maxlen", "~", "0", "limit", "50"], Reply::Int(0)),
        (&["xlen", "s"], Reply::Int(0)),
        (&["xtrim", "s", "MINID", "6"], Reply::Int(0)),
        (&["xlen", "s"], Reply::Int(0)),
        (&["exists", "s"], Reply::Int(1)),
        (&["xinfo", "stream", "s"], Reply::Array(vec![Reply::bulk("length"), Reply::Int(0), Reply::bulk("radix-tree-keys"), Reply::Int(0), Reply::bulk("radix-tree-nodes"), Reply::Int(1), Reply::bulk("last-generated-id"), Reply::bulk("5-1"), Reply::bulk("max-deleted-entry-id"), Reply::bulk("0-0"), Reply::bulk("entries-added"), Reply::Int(5), Reply::bulk("recorded-first-entry-id"), Reply::bulk("0-0"), Reply::bulk("groups"), Reply::Int(0), Reply::bulk("first-entry"), Reply::Nil, Reply::bulk("last-entry"), Reply::Nil])),
        (&["xtrim", "s"], Reply::err("ERR wrong number of arguments for 'xtrim' command")),
        (&["xtrim", "s", "maxlen"], Reply::err("ERR wrong number of arguments for 'xtrim' command")),
        (&["xtrim", "s", "foo", "1"], Reply::err("ERR syntax error")),
        (&["xtrim", "s", "maxlen", "1", "extra"], Reply::err("ERR syntax error")),
        (&["xtrim", "s", "maxlen", "1", "limit", "5"], Reply::err("ERR syntax error, LIMIT cannot be used without the special ~ option")),
        (&["xtrim", "s", "minid", "-1"], Reply::err("ERR Invalid stream ID specified as stream command argument")),
        (&["xtrim", "s", "maxlen", "=", "-1"], Reply::err("ERR The MAXLEN argument must be >= 0.")),
        (&["xtrim", "s", "maxlen", "x"], Reply::err("ERR value is not an integer or out of range")),
        (&["xtrim", "s", "limit", "5"], Reply::err("ERR syntax error, LIMIT cannot be used without specifying a trimming strategy")),
        (&["xtrim", "s", "maxlen", "1", "minid", "1"], Reply::err("ERR syntax error, MAXLEN and MINID options at the same time are not compatible")),
        (&["xtrim", "nokey", "maxlen", "0"], Reply::Int(0)),
        (&["set", "str", "x"], Reply::ok()),
        (&["xtrim", "str", "maxlen", "0"], Reply::err("WRONGTYPE Operation against a key holding the wrong kind of value")),
    ]);
    // `~` removes whole nodes of 100 entries only, like Redis (checked against it).
    for i in 1..=250 {
        c.cmd(&["XADD", "big", &format!("{i}-1"), "a", &i.to_string()]);
    }
    check(
        &mut c,
        &[
            (&["XTRIM", "big", "MAXLEN", "~", "120"], Reply::Int(100)),
            (&["XLEN", "big"], Reply::Int(150)),
            (
                &["XTRIM", "big", "MAXLEN", "~", "0", "LIMIT", "99"],
                Reply::Int(0),
            ),
            (&["XTRIM", "big", "MINID", "~", "240"], Reply::Int(100)),
            (&["XLEN", "big"], Reply::Int(50)),
            (&["XTRIM", "big", "MINID", "~", "202"], Reply::Int(0)),
            (
                &["XADD", "big", "MAXLEN", "~", "10", "251-1", "a", "b"],
                Reply::bulk("251-1"),
            ),
            (&["XLEN", "big"], Reply::Int(51)),
            (
                &["XRANGE", "big", "-", "+", "COUNT", "1"],
                Reply::Array(vec![entry("201-1", &["a", "201"])]),
            ),
            (&["XTRIM", "big", "MAXLEN", "=", "1"], Reply::Int(50)),
            (
                &["XRANGE", "big", "-", "+"],
                Reply::Array(vec![entry("251-1", &["a", "b"])]),
            ),
        ],
    );
}

#[test]
fn xsetid() {
    let server = TestServer::start(&[]);
    let mut c = server.raw();
    check(&mut c, &[
        (&["xadd", "s", "5-1", "a", "1"], Reply::bulk("5-1")),
        (&["xadd", "s", "6-1", "a", "1"], Reply::bulk("6-1")),
        (&["xdel", "s", "5-1"], Reply::Int(1)),
        (&["xsetid", "s", "5-5"], Reply::err("ERR The ID specified in XSETID is smaller than the target stream top item")),
        (&["xsetid", "s", "6-0"], Reply::err("ERR The ID specified in XSETID is smaller than the target stream top item")),
        (&["xsetid", "s", "6-1"], Reply::ok()),
        (&["xsetid", "s", "7-0", "entriesadded", "0"], Reply::err("ERR The entries_added specified in XSETID is smaller than the target stream length")),
        (&["xsetid", "s", "7-0", "entriesadded", "1"], Reply::ok()),
        (&["xsetid", "s", "7-0", "maxdeletedid", "0-0"], Reply::ok()),
        (&["xinfo", "stream", "s"], Reply::Array(vec![Reply::bulk("length"), Reply::Int(1), Reply::bulk("radix-tree-keys"), Reply::Int(1), Reply::bulk("radix-tree-nodes"), Reply::Int(2), Reply::bulk("last-generated-id"), Reply::bulk("7-0"), Reply::bulk("max-deleted-entry-id"), Reply::bulk("5-1"), Reply::bulk("entries-added"), Reply::Int(1), Reply::bulk("recorded-first-entry-id"), Reply::bulk("6-1"), Reply::bulk("groups"), Reply::Int(0), Reply::bulk("first-entry"), entry("6-1", &["a", "1"]), Reply::bulk("last-entry"), entry("6-1", &["a", "1"])])),
        (&["xsetid", "s", "8", "entriesadded", "10", "maxdeletedid", "7-5"], Reply::ok()),
        (&["xinfo", "stream", "s"], Reply::Array(vec![Reply::bulk("length"), Reply::Int(1), Reply::bulk("radix-tree-keys"), Reply::Int(1), Reply::bulk("radix-tree-nodes"), Reply::Int(2), Reply::bulk("last-generated-id"), Reply::bulk("8-0"), Reply::bulk("max-deleted-entry-id"), Reply::bulk("7-5"), Reply::bulk("entries-added"), Reply::Int(10), Reply::bulk("recorded-first-entry-id"), Reply::bulk("6-1"), Reply::bulk("groups"), Reply::Int(0), Reply::bulk("first-entry"), entry("6-1", &["a", "1"]), Reply::bulk("last-entry"), entry("6-1", &["a", "1"])])),
        (&["xsetid", "s", "9-0", "maxdeletedid", "9-1"], Reply::err("ERR The ID specified in XSETID is smaller than the provided max_deleted_entry_id")),
        (&["xsetid", "s", "9-0", "entriesadded", "-1"], Reply::err("ERR entries_added must be positive")),
        (&["xsetid", "s", "1", "entriesadded", "x"], Reply::err("ERR value is not an integer or out of range")),
        (&["xsetid", "s", "-"], Reply::err("ERR Invalid stream ID specified as stream command argument")),
        (&["xsetid", "s", "9-*"], Reply::err("ERR Invalid stream ID specified as stream command argument")),
        (&["xsetid", "s", "9-0", "maxdeletedid", "+"], Reply::err("ERR Invalid stream ID specified as stream command argument")),
        (&["xsetid", "s", "9-0", "entriesadded"], Reply::err("ERR syntax error")),
        (&["xsetid", "s", "9-0", "foo", "1"], Reply::err("ERR syntax error")),
        (&["xsetid", "nokey", "1-1"], Reply::err("ERR no such key")),
        (&["set", "str", "x"], Reply::ok()),
        (&["xsetid", "str", "1-1"], Reply::err("WRONGTYPE Operation against a key holding the wrong kind of value")),
        (&["xsetid", "str", "1-1", "maxdeletedid", "2-2"], Reply::err("ERR The ID specified in XSETID is smaller than the provided max_deleted_entry_id")),
        (&["xadd", "s", "8-0", "a", "1"], Reply::err("ERR The ID specified in XADD is equal or smaller than the target stream top item")),
        (&["xadd", "s", "8-*", "a", "1"], Reply::bulk("8-1")),
        (&["xdel", "s", "6-1"], Reply::Int(1)),
        (&["xsetid", "s", "1-0", "maxdeletedid", "1-0"], Reply::err("ERR The ID specified in XSETID is smaller than the target stream top item")),
        (&["xinfo", "stream", "s"], Reply::Array(vec![Reply::bulk("length"), Reply::Int(1), Reply::bulk("radix-tree-keys"), Reply::Int(1), Reply::bulk("radix-tree-nodes"), Reply::Int(2), Reply::bulk("last-generated-id"), Reply::bulk("8-1"), Reply::bulk("max-deleted-entry-id"), Reply::bulk("7-5"), Reply::bulk("entries-added"), Reply::Int(11), Reply::bulk("recorded-first-entry-id"), Reply::bulk("8-1"), Reply::bulk("groups"), Reply::Int(0), Reply::bulk("first-entry"), entry("8-1", &["a", "1"]), Reply::bulk("last-entry"), entry("8-1", &["a", "1"])])),
        (&["xadd", "s", "1-1", "a", "1"], Reply::err("ERR The ID specified in XADD is equal or smaller than the target stream top item")),
    ]);
    // As in Redis 7.2+: without MAXDELETEDID the last ID may not go below the largest
    // deleted one.
    check(
        &mut c,
        &[
            (&["XADD", "e", "5-1", "a", "1"], Reply::bulk("5-1")),
            (&["XDEL", "e", "5-1"], Reply::Int(1)),
            (
                &["XSETID", "e", "4-0"],
                Reply::err(
                    "ERR The ID specified in XSETID is smaller than current max_deleted_entry_id",
                ),
            ),
            (&["XSETID", "e", "4-0", "MAXDELETEDID", "3-0"], Reply::ok()),
            // An empty stream may go back: it has no top item.
            (&["XSETID", "e", "3-0"], Reply::ok()),
            (&["XADD", "e", "3-*", "a", "1"], Reply::bulk("3-1")),
        ],
    );
}

#[test]
fn xread_and_xinfo() {
    let server = TestServer::start(&[]);
    let mut c = server.raw();
    check(&mut c, &[
        (&["xadd", "s", "1-1", "a", "1"], Reply::bulk("1-1")),
        (&["xadd", "s", "2-1", "b", "2", "c", "3"], Reply::bulk("2-1")),
        (&["xadd", "s", "3-1", "a", "1"], Reply::bulk("3-1")),
        (&["xadd", "t", "5-5", "x", "y"], Reply::bulk("5-5")),
        (&["xread", "count", "1", "streams", "s", "0"], Reply::Array(vec![Reply::Array(vec![Reply::bulk("s"), Reply::Array(vec![entry("1-1", &["a", "1"])])])])),
        (&["xread", "count", "-5", "streams", "s", "1-1"], Reply::Array(vec![Reply::Array(vec![Reply::bulk("s"), Reply::Array(vec![entry("2-1", &["b", "2", "c", "3"]), entry("3-1", &["a", "1"])])])])),
        (&["xread", "streams", "s", "t", "0", "0"], Reply::Array(vec![Reply::Array(vec![Reply::bulk("s"), Reply::Array(vec![entry("1-1", &["a", "1"]), entry("2-1", &["b", "2", "c", "3"]), entry("3-1", &["a", "1"])])]), Reply::Array(vec![Reply::bulk("t"), Reply::Array(vec![entry("5-5", &["x", "y"])])])])),
        (&["xread", "COUNT", "1", "streams", "s", "t", "2", "0-0"], Reply::Array(vec![Reply::Array(vec![Reply::bulk("s"), Reply::Array(vec![entry("2-1", &["b", "2", "c", "3"])])]), Reply::Array(vec![Reply::bulk("t"), Reply::Array(vec![entry("5-5", &["x", "y"])])])])),
        (&["xread", "streams", "s", "t", "3-1", "5-5"], Reply::Nil),
        (&["xread", "streams", "s", "nokey", "0", "0"], Reply::Array(vec![Reply::Array(vec![Reply::bulk("s"), Reply::Array(vec![entry("1-1", &["a", "1"]), entry("2-1", &["b", "2", "c", "3"]), entry("3-1", &["a", "1"])])])])),
        (&["xread", "count", "0", "streams", "s", "0"], Reply::Array(vec![Reply::Array(vec![Reply::bulk("s"), Reply::Array(vec![entry("1-1", &["a", "1"]), entry("2-1", &["b", "2", "c", "3"]), entry("3-1", &["a", "1"])])])])),
        (&["xread", "streams", "s", "2"], Reply::Array(vec![Reply::Array(vec![Reply::bulk("s"), Reply::Array(vec![entry("2-1", &["b", "2", "c", "3"]), entry("3-1", &["a", "1"])])])])),
        (&["xread", "streams", "s", "$"], Reply::Nil),
        (&["xread", "streams", "s", "18446744073709551615-18446744073709551615"], Reply::Nil),
        (&["xread", "count", "x", "streams", "s", "0"], Reply::err("ERR value is not an integer or out of range")),
        (&["xread", "streams", "s", "s2", "0"], Reply::err("ERR Unbalanced XREAD list of streams: for each stream key an ID or '$' must be specified.")),
        (&["xread", "block", "-1", "streams", "s", "0"], Reply::err("ERR timeout is negative")),
        (&["xread", "block", "x", "streams", "s", "0"], Reply::err("ERR timeout is not an integer or out of range")),
        (&["xread", "foo", "streams", "s", "0"], Reply::err("ERR syntax error")),
        (&["xread", "streams", "s", "abc"], Reply::err("ERR Invalid stream ID specified as stream command argument")),
        (&["xread", "streams", "s", "(1"], Reply::err("ERR Invalid stream ID specified as stream command argument")),
        (&["xread", "streams", "s", "-"], Reply::err("ERR Invalid stream ID specified as stream command argument")),
        (&["set", "str", "x"], Reply::ok()),
        (&["xread", "streams", "str", "0"], Reply::err("WRONGTYPE Operation against a key holding the wrong kind of value")),
        (&["xread", "count", "1", "block"], Reply::err("ERR syntax error")),
        (&["xinfo", "stream", "s", "full"], Reply::Array(vec![Reply::bulk("length"), Reply::Int(3), Reply::bulk("radix-tree-keys"), Reply::Int(1), Reply::bulk("radix-tree-nodes"), Reply::Int(2), Reply::bulk("last-generated-id"), Reply::bulk("3-1"), Reply::bulk("max-deleted-entry-id"), Reply::bulk("0-0"), Reply::bulk("entries-added"), Reply::Int(3), Reply::bulk("recorded-first-entry-id"), Reply::bulk("1-1"), Reply::bulk("entries"), Reply::Array(vec![entry("1-1", &["a", "1"]), entry("2-1", &["b", "2", "c", "3"]), entry("3-1", &["a", "1"])]), Reply::bulk("groups"), Reply::Array(vec![])])),
        (&["xinfo", "stream", "s", "full", "count", "1"], Reply::Array(vec![Reply::bulk("length"), Reply::Int(3), Reply::bulk("radix-tree-keys"), Reply::Int(1), Reply::bulk("radix-tree-nodes"), Reply::Int(2), Reply::bulk("last-generated-id"), Reply::bulk("3-1"), Reply::bulk("max-deleted-entry-id"), Reply::bulk("0-0"), Reply::bulk("entries-added"), Reply::Int(3), Reply::bulk("recorded-first-entry-id"), Reply::bulk("1-1"), Reply::bulk("entries"), Reply::Array(vec![entry("1-1", &["a", "1"])]), Reply::bulk("groups"), Reply::Array(vec![])])),
        (&["xinfo", "stream", "s", "FULL", "COUNT", "0"], Reply::Array(vec![Reply::bulk("length"), Reply::Int(3), Reply::bulk("radix-tree-keys"), Reply::Int(1), Reply::bulk("radix-tree-nodes"), Reply::Int(2), Reply::bulk("last-generated-id"), Reply::bulk("3-1"), Reply::bulk("max-deleted-entry-id"), Reply::bulk("0-0"), Reply::bulk("entries-added"), Reply::Int(3), Reply::bulk("recorded-first-entry-id"), Reply::bulk("1-1"), Reply::bulk("entries"), Reply::Array(vec![entry("1-1", &["a", "1"]), entry("2-1", &["b", "2", "c", "3"]), entry("3-1", &["a", "1"])]), Reply::bulk("groups"), Reply::Array(vec![])])),
        (&["xinfo", "stream", "s", "full", "count", "x"], Reply::err("ERR value is not an integer or out of range")),
        (&["xinfo", "stream", "s", "foo"], Reply::err("ERR unknown subcommand or wrong number of arguments for 'stream'. Try XINFO HELP.")),
        (&["xinfo", "stream", "s", "full", "count"], Reply::err("ERR unknown subcommand or wrong number of arguments for 'stream'. Try XINFO HELP.")),
        (&["xinfo", "stream", "nokey"], Reply::err("ERR no such key")),
        (&["xinfo", "stream", "str"], Reply::err("WRONGTYPE Operation against a key holding the wrong kind of value")),
        (&["xinfo", "foo"], Reply::err("ERR unknown subcommand 'foo'. Try XINFO HELP.")),
        (&["xinfo", "stream"], Reply::err("ERR wrong number of arguments for 'xinfo|stream' command")),
        (&["xinfo", "groups", "s"], Reply::Array(vec![])),
        (&["xinfo", "groups", "nokey"], Reply::err("ERR no such key")),
    ]);
    // `+`: the last entry of each stream (Redis 7.4).
    assert_eq!(
        c.cmd(&["XREAD", "STREAMS", "s", "nokey", "+", "+"]),
        read_reply("s", vec![entry("3-1", &["a", "1"])])
    );
    assert_eq!(
        c.cmd(&["XREAD", "STREAMS", "t", "s", "+", "3-1"]),
        read_reply("t", vec![entry("5-5", &["x", "y"])])
    );
    assert!(!c.cmd(&["XINFO", "HELP"]).items().is_empty());
    assert_eq!(
        c.cmd(&[
            "COMMAND", "GETKEYS", "XREAD", "COUNT", "2", "BLOCK", "10", "STREAMS", "a", "b", "0",
            "$"
        ]),
        Reply::Array(vec![Reply::bulk("a"), Reply::bulk("b")])
    );
}

#[test]
fn resp3_replies() {
    let server = TestServer::start(&[]);
    let mut c = server.raw();
    assert!(matches!(c.cmd(&["HELLO", "3"]), Reply::Map(_)));
    assert_eq!(c.cmd(&["XADD", "s", "1-1", "a", "1"]), Reply::bulk("1-1"));
    assert_eq!(
        c.cmd(&["XREAD", "STREAMS", "s", "0"]),
        Reply::Map(vec![(
            Reply::bulk("s"),
            Reply::Array(vec![entry("1-1", &["a", "1"])])
        )])
    );
    assert_eq!(c.cmd(&["XREAD", "STREAMS", "s", "$"]), Reply::Nil);
    let Reply::Map(info) = c.cmd(&["XINFO", "STREAM", "s"]) else {
        panic!("XINFO STREAM is a map in RESP3")
    };
    assert_eq!(info[0], (Reply::bulk("length"), Reply::Int(1)));
    assert_eq!(
        info[9],
        (Reply::bulk("last-entry"), entry("1-1", &["a", "1"]))
    );
}

#[test]
fn xread_block_is_woken_by_xadd_from_another_client() {
    let server = TestServer::start(&[]);
    let mut reader = server.raw();
    let mut writer = server.raw();
    assert_eq!(
        writer.cmd(&["XADD", "s", "1-1", "old", "1"]),
        Reply::bulk("1-1")
    );
    // `$` means entries newer than the last one when the command arrived.
    reader.send(&Raw::encode(&[
        b"XREAD", b"BLOCK", b"0", b"STREAMS", b"other", b"s", b"$", b"$",
    ]));
    std::thread::sleep(Duration::from_millis(200));
    // A write to an unrelated key does not serve it.
    assert_eq!(
        writer.cmd(&["XADD", "unrelated", "1-1", "f", "v"]),
        Reply::bulk("1-1")
    );
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(
        writer.cmd(&["XADD", "s", "2-1", "new", "2"]),
        Reply::bulk("2-1")
    );
    assert_eq!(
        reader.read(),
        read_reply("s", vec![entry("2-1", &["new", "2"])])
    );
    // The connection goes on normally afterwards.
    assert_eq!(reader.cmd(&["XLEN", "s"]), Reply::Int(2));

    // A stream that does not exist yet: created by the XADD that serves the reader.
    reader.send(&Raw::encode(&[
        b"XREAD", b"COUNT", b"5", b"BLOCK", b"5000", b"STREAMS", b"fresh", b"$",
    ]));
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        writer.cmd(&["XADD", "fresh", "7-7", "k", "v"]),
        Reply::bulk("7-7")
    );
    assert_eq!(
        reader.read(),
        read_reply("fresh", vec![entry("7-7", &["k", "v"])])
    );

    // `+` on an empty stream waits for the next entry.
    assert_eq!(
        writer.cmd(&["XADD", "plus", "MAXLEN", "0", "1-1", "k", "v"]),
        Reply::bulk("1-1")
    );
    reader.send(&Raw::encode(&[
        b"XREAD", b"BLOCK", b"5000", b"STREAMS", b"plus", b"+",
    ]));
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        writer.cmd(&["XADD", "plus", "2-2", "k", "v2"]),
        Reply::bulk("2-2")
    );
    assert_eq!(
        reader.read(),
        read_reply("plus", vec![entry("2-2", &["k", "v2"])])
    );

    // An explicit ID with entries already after it answers at once, BLOCK or not.
    assert_eq!(
        reader.cmd(&["XREAD", "BLOCK", "0", "STREAMS", "s", "1-1"]),
        read_reply("s", vec![entry("2-1", &["new", "2"])])
    );
}

#[test]
fn xread_block_times_out() {
    let server = TestServer::start(&[]);
    let mut c = server.raw();
    assert_eq!(c.cmd(&["XADD", "s", "1-1", "f", "v"]), Reply::bulk("1-1"));
    let started = Instant::now();
    assert_eq!(
        c.cmd(&["XREAD", "BLOCK", "300", "STREAMS", "s", "$"]),
        Reply::Nil
    );
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(290), "{waited:?}");
    assert!(waited < Duration::from_secs(5), "{waited:?}");
    // Entries older than the ID do not count; the wait still ends with the timeout.
    let started = Instant::now();
    assert_eq!(
        c.cmd(&["XREAD", "BLOCK", "200", "STREAMS", "s", "nokey", "1-1", "0"]),
        Reply::Nil
    );
    assert!(started.elapsed() >= Duration::from_millis(190));
    // Inside MULTI nothing blocks: the timeout reply comes at once.
    assert_eq!(c.cmd(&["MULTI"]), Reply::ok());
    assert_eq!(
        c.cmd(&["XREAD", "BLOCK", "0", "STREAMS", "s", "$"]),
        Reply::Status("QUEUED".into())
    );
    let started = Instant::now();
    assert_eq!(c.cmd(&["EXEC"]), Reply::Array(vec![Reply::Nil]));
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[test]
fn streams_survive_a_restart_and_follow_the_keyspace() {
    let mut server = TestServer::start(&[]);
    {
        let mut c = server.raw();
        assert_eq!(c.cmd(&["XADD", "s", "1-1", "a", "1"]), Reply::bulk("1-1"));
        assert_eq!(c.cmd(&["XADD", "s", "2-1", "b", "2"]), Reply::bulk("2-1"));
        assert_eq!(c.cmd(&["XDEL", "s", "2-1"]), Reply::Int(1));
        assert_eq!(
            c.cmd(&["XSETID", "s", "9-9", "ENTRIESADDED", "40"]),
            Reply::ok()
        );
    }
    server.restart();
    let mut c = server.raw();
    assert_eq!(
        c.cmd(&["XINFO", "STREAM", "s"]),
        Reply::Array(vec![
            Reply::bulk("length"),
            Reply::Int(1),
            Reply::bulk("radix-tree-keys"),
            Reply::Int(1),
            Reply::bulk("radix-tree-nodes"),
            Reply::Int(2),
            Reply::bulk("last-generated-id"),
            Reply::bulk("9-9"),
            Reply::bulk("max-deleted-entry-id"),
            Reply::bulk("2-1"),
            Reply::bulk("entries-added"),
            Reply::Int(40),
            Reply::bulk("recorded-first-entry-id"),
            Reply::bulk("1-1"),
            Reply::bulk("groups"),
            Reply::Int(0),
            Reply::bulk("first-entry"),
            entry("1-1", &["a", "1"]),
            Reply::bulk("last-entry"),
            entry("1-1", &["a", "1"]),
        ])
    );
    assert_eq!(c.cmd(&["TYPE", "s"]), Reply::Status("stream".into()));
    // DEL and re-create: nothing of the old incarnation shows through.
    assert_eq!(c.cmd(&["DEL", "s"]), Reply::Int(1));
    assert_eq!(c.cmd(&["XLEN", "s"]), Reply::Int(0));
    assert_eq!(c.cmd(&["XADD", "s", "1-1", "new", "1"]), Reply::bulk("1-1"));
    assert_eq!(
        c.cmd(&["XRANGE", "s", "-", "+"]),
        Reply::Array(vec![entry("1-1", &["new", "1"])])
    );
    // Expiry applies to streams like to any key.
    assert_eq!(c.cmd(&["PEXPIRE", "s", "50"]), Reply::Int(1));
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(c.cmd(&["XLEN", "s"]), Reply::Int(0));
    assert_eq!(
        c.cmd(&["XINFO", "STREAM", "s"]),
        Reply::err("ERR no such key")
    );
    assert_eq!(
        c.cmd(&["XADD", "s", "1-1", "again", "1"]),
        Reply::bulk("1-1")
    );
    assert_eq!(
        c.cmd(&["XRANGE", "s", "-", "+"]),
        Reply::Array(vec![entry("1-1", &["again", "1"])])
    );
    // The stream that came back has no groups of its predecessor (groups:
    // tests/stream_group.rs).
    assert_eq!(c.cmd(&["XGROUP", "CREATE", "s", "g", "$"]), Reply::ok());
    assert_eq!(c.cmd(&["XINFO", "GROUPS", "s"]).items().len(), 1);
}
