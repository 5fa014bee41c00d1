//! Kvrocks' HRANGEBYLEX against a real server, with the cases of Kvrocks' own tests
//! (`tests/cppunit/types/hash_test.cc`, `HRangeByLex`) and its parser's error texts.

mod common;
use common::{Reply, TestServer};

fn fields(reply: Reply) -> Vec<String> {
    let items = reply.strings();
    // Field, value, field, value...: every value here is the field upper-cased.
    for pair in items.chunks(2) {
        assert_eq!(pair[1], pair[0].to_uppercase(), "{items:?}");
    }
    items.into_iter().step_by(2).collect()
}

#[test]
fn hrangebylex_walks_fields_in_order_with_bounds_rev_and_limit() {
    let server = TestServer::start(&[]);
    let mut c = server.raw();
    let mut args = vec!["HSET".to_string(), "h".into()];
    for f in ["key0", "key1", "key2", "key3", "a", "b", "z"] {
        args.push(f.into());
        args.push(f.to_uppercase());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    assert_eq!(c.cmd(&args), Reply::Int(7));
    let range = |c: &mut common::Raw, args: &[&str]| {
        let mut full = vec!["HRANGEBYLEX", "h"];
        full.extend_from_slice(args);
        fields(c.cmd(&full))
    };
    assert_eq!(
        range(&mut c, &["[key0", "[key3"]),
        ["key0", "key1", "key2", "key3"]
    );
    assert_eq!(range(&mut c, &["(key0", "[key3"]), ["key1", "key2", "key3"]);
    assert_eq!(range(&mut c, &["[key0", "(key3"]), ["key0", "key1", "key2"]);
    assert_eq!(range(&mut c, &["(key0", "(key3"]), ["key1", "key2"]);
    assert_eq!(
        range(&mut c, &["[key0", "[key3", "LIMIT", "1", "100"]),
        ["key1", "key2", "key3"]
    );
    assert_eq!(
        range(&mut c, &["[key0", "[key3", "LIMIT", "1", "1"]),
        ["key1"]
    );
    assert!(range(&mut c, &["[key0", "[key3", "LIMIT", "0", "0"]).is_empty());
    assert!(range(&mut c, &["[key0", "[key3", "LIMIT", "1000", "1000"]).is_empty());
    // A negative offset skips nothing, a negative count takes all (Kvrocks).
    assert_eq!(
        range(&mut c, &["[key0", "[key3", "LIMIT", "-5", "-1"]),
        ["key0", "key1", "key2", "key3"]
    );
    assert_eq!(
        range(&mut c, &["-", "+"]),
        ["a", "b", "key0", "key1", "key2", "key3", "z"]
    );
    assert_eq!(
        range(&mut c, &["+", "-", "REV"]),
        ["z", "key3", "key2", "key1", "key0", "b", "a"]
    );
    assert_eq!(range(&mut c, &["[key2", "(key0", "REV"]), ["key2", "key1"]);
    assert_eq!(
        range(&mut c, &["(key3", "-", "rev", "limit", "1", "2"]),
        ["key1", "key0"]
    );
    assert_eq!(range(&mut c, &["[b", "[b"]), ["b"]);
    assert!(range(&mut c, &["(b", "(b"]).is_empty());
    assert!(range(&mut c, &["[y", "[c"]).is_empty());
    assert!(fields(c.cmd(&["HRANGEBYLEX", "missing", "-", "+"])).is_empty());

    for (args, error) in [
        (&["+", "[a"][..], "ERR min > max"),
        (&["[a", "-"], "ERR min > max"),
        (&["-", "+", "REV"], "ERR min > max"),
        (&["a", "+"], "ERR the min is illegal"),
        (&["-", "b"], "ERR the max is illegal"),
        (&["-", ""], "ERR the max is illegal"),
        (&["-", "+", "BOGUS"], "ERR syntax error"),
        (&["-", "+", "LIMIT", "1"], "ERR no more item to parse"),
        (
            &["-", "+", "LIMIT", "x", "1"],
            "ERR value is not an integer or out of range",
        ),
    ] {
        let mut full = vec!["HRANGEBYLEX", "h"];
        full.extend_from_slice(args);
        assert_eq!(c.cmd(&full), Reply::err(error), "{args:?}");
    }
    assert_eq!(
        c.cmd(&["HRANGEBYLEX", "h", "-"]),
        Reply::err("ERR wrong number of arguments for 'hrangebylex' command")
    );
    c.cmd(&["SET", "s", "v"]);
    assert_eq!(
        c.cmd(&["HRANGEBYLEX", "s", "-", "+"]),
        Reply::err("WRONGTYPE Operation against a key holding the wrong kind of value")
    );
    // RESP3 keeps the flat array of Kvrocks.
    c.cmd(&["HELLO", "3"]);
    assert_eq!(
        c.cmd(&["HRANGEBYLEX", "h", "[a", "[a"]),
        Reply::Array(vec![Reply::bulk("a"), Reply::bulk("A")])
    );
}
