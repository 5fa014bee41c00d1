//! Kvrocks' sorted integers (SIADD, SIRANGE, ...): its own test's steps
//! (tests/gocase/unit/type/sint), the error texts, and how the type behaves as a key.

mod common;
use common::{Reply, TestServer};

fn ints(values: &[&str]) -> Reply {
    Reply::Array(values.iter().map(|v| Reply::bulk(v)).collect())
}

#[test]
fn kvrocks_sorted_int_steps() {
    let server = TestServer::start(&[]);
    let mut c = server.raw();
    assert_eq!(c.cmd(&["SIADD", "mysi", "1"]), Reply::Int(1));
    assert_eq!(c.cmd(&["SIADD", "mysi", "2"]), Reply::Int(1));
    assert_eq!(c.cmd(&["SIADD", "mysi", "2"]), Reply::Int(0));
    assert_eq!(
        c.cmd(&["SIADD", "mysi", "3", "4", "5", "123", "245"]),
        Reply::Int(5)
    );
    assert_eq!(c.cmd(&["SICARD", "mysi"]), Reply::Int(7));
    assert_eq!(
        c.cmd(&["SIREVRANGE", "mysi", "0", "3"]),
        ints(&["245", "123", "5"])
    );
    assert_eq!(
        c.cmd(&["SIREVRANGE", "mysi", "0", "3", "cursor", "5"]),
        ints(&["4", "3", "2"])
    );
    assert_eq!(
        c.cmd(&["SIRANGE", "mysi", "0", "3", "cursor", "123"]),
        ints(&["245"])
    );
    assert_eq!(
        c.cmd(&["SIRANGE", "mysi", "1", "2"]),
        ints(&["2", "3"]),
        "offset 1, limit 2"
    );
    assert_eq!(
        c.cmd(&["SIRANGE", "mysi", "0", "-1"]),
        ints(&["1", "2", "3", "4", "5", "123", "245"])
    );
    assert_eq!(
        c.cmd(&["SIRANGEBYVALUE", "mysi", "1", "(5"]),
        ints(&["1", "2", "3", "4"])
    );
    assert_eq!(
        c.cmd(&["SIREVRANGEBYVALUE", "mysi", "5", "(1"]),
        ints(&["5", "4", "3", "2"])
    );
    assert_eq!(
        c.cmd(&["SIRANGEBYVALUE", "mysi", "(1", "+inf", "LIMIT", "1", "2"]),
        ints(&["3", "4"])
    );
    assert_eq!(
        c.cmd(&["SIRANGEBYVALUE", "mysi", "-inf", "+inf", "LIMIT", "-1", "0"]),
        ints(&["1", "2", "3", "4", "5", "123", "245"])
    );
    assert_eq!(
        c.cmd(&["SIEXISTS", "mysi", "1", "88", "2"]),
        Reply::Array(vec![Reply::Int(1), Reply::Int(0), Reply::Int(1)])
    );
    assert_eq!(c.cmd(&["SIREM", "mysi", "2"]), Reply::Int(1));
    assert_eq!(c.cmd(&["SIREM", "mysi", "2", "999"]), Reply::Int(0));
    assert_eq!(c.cmd(&["SICARD", "mysi"]), Reply::Int(6));
    // The largest integer sorts last.
    assert_eq!(
        c.cmd(&["SIADD", "mysi", "18446744073709551615"]),
        Reply::Int(1)
    );
    assert_eq!(
        c.cmd(&["SIREVRANGE", "mysi", "0", "1"]),
        ints(&["18446744073709551615"])
    );
}

#[test]
fn errors_and_the_type_as_a_key() {
    let server = TestServer::start(&[]);
    let mut c = server.raw();
    let not_integer = Reply::err("ERR value is not an integer or out of range");
    assert_eq!(c.cmd(&["SIADD", "si", "1", "x"]), not_integer);
    assert_eq!(c.cmd(&["SIADD", "si", "-1"]), not_integer);
    assert_eq!(c.cmd(&["EXISTS", "si"]), Reply::Int(0), "nothing added");
    assert_eq!(c.cmd(&["SIRANGE", "si", "x", "1"]), not_integer);
    assert_eq!(
        c.cmd(&["SIRANGE", "si", "0", "1", "nocursor", "1"]),
        Reply::err("ERR syntax error")
    );
    assert_eq!(
        c.cmd(&["SIRANGEBYVALUE", "si", "+inf", "1"]),
        Reply::err("ERR min > max")
    );
    assert_eq!(
        c.cmd(&["SIRANGEBYVALUE", "si", "a", "1"]),
        Reply::err("ERR the min isn't integer")
    );
    assert_eq!(
        c.cmd(&["SIRANGEBYVALUE", "si", "1", "(b"]),
        Reply::err("ERR the max isn't integer")
    );
    assert_eq!(
        c.cmd(&["SIADD", "si"]),
        Reply::err("ERR wrong number of arguments for 'siadd' command")
    );
    // Missing key: empty answers.
    assert_eq!(c.cmd(&["SICARD", "si"]), Reply::Int(0));
    assert_eq!(c.cmd(&["SIRANGE", "si", "0", "10"]), Reply::Array(vec![]));
    // A key like any other.
    assert_eq!(c.cmd(&["SIADD", "si", "7", "3"]), Reply::Int(2));
    assert_eq!(c.cmd(&["TYPE", "si"]), Reply::Status("sortedint".into()));
    assert_eq!(
        c.cmd(&["SCAN", "0", "TYPE", "sortedint"]).items()[1],
        Reply::Array(vec![Reply::bulk("si")])
    );
    assert!(c.cmd(&["GET", "si"]).text().starts_with("WRONGTYPE"));
    assert_eq!(c.cmd(&["SET", "str", "v"]), Reply::ok());
    assert!(c
        .cmd(&["SIADD", "str", "1"])
        .text()
        .starts_with("WRONGTYPE"));
    assert_eq!(c.cmd(&["COPY", "si", "si2"]), Reply::Int(1));
    assert_eq!(c.cmd(&["RENAME", "si", "si3"]), Reply::ok());
    assert_eq!(c.cmd(&["SIRANGE", "si3", "0", "0"]), ints(&["3", "7"]));
    assert_eq!(c.cmd(&["SIRANGE", "si2", "0", "0"]), ints(&["3", "7"]));
    assert!(c
        .cmd(&["DUMP", "si2"])
        .text()
        .contains("DUMP of this key type is not supported"));
    assert_eq!(c.cmd(&["DEL", "si2", "si3"]), Reply::Int(2));
    assert_eq!(c.cmd(&["SIRANGE", "si3", "0", "0"]), Reply::Array(vec![]));
}
