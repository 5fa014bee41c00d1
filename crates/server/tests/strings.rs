//! String commands against a real server.

mod common;
use common::{Reply, TestServer};

#[test]
fn set_get_and_every_set_option() {
    let server = TestServer::start(&[]);
    let mut c = server.raw();
    assert_eq!(c.cmd(&["SET", "k", "v"]), Reply::ok());
    assert_eq!(c.cmd(&["GET", "k"]), Reply::bulk("v"));
    assert_eq!(c.cmd(&["GET", "missing"]), Reply::Nil);
    assert_eq!(c.cmd(&["SET", "k", "v2", "NX"]), Reply::Nil);
    assert_eq!(c.cmd(&["SET", "new", "v", "XX"]), Reply::Nil);
    assert_eq!(c.cmd(&["SET", "k", "v3", "XX", "GET"]), Reply::bulk("v"));
    assert_eq!(c.cmd(&["SET", "fresh", "x", "NX", "GET"]), Reply::Nil);
    assert_eq!(c.cmd(&["GET", "fresh"]), Reply::bulk("x"));
    assert_eq!(c.cmd(&["SET", "k", "v", "EX", "100"]), Reply::ok());
    let ttl = c.cmd(&["TTL", "k"]).int();
    assert!((99..=100).contains(&ttl), "{ttl}");
    assert_eq!(c.cmd(&["SET", "k", "v4", "KEEPTTL"]), Reply::ok());
    assert!(c.cmd(&["PTTL", "k"]).int() > 98_000);
    assert_eq!(c.cmd(&["SET", "k", "v5"]), Reply::ok());
    assert_eq!(c.cmd(&["TTL", "k"]), Reply::Int(-1));
    assert_eq!(c.cmd(&["SET", "k", "v", "PX", "100000"]), Reply::ok());
    assert!(c.cmd(&["PTTL", "k"]).int() > 99_000);
    let at = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 1000)
        .to_string();
    assert_eq!(c.cmd(&["SET", "k", "v", "EXAT", &at]), Reply::ok());
    assert_eq!(c.cmd(&["EXPIRETIME", "k"]).int().to_string(), at);
    let at_ms = format!("{}000", at);
    assert_eq!(c.cmd(&["SET", "k", "v", "PXAT", &at_ms]), Reply::ok());
    assert_eq!(c.cmd(&["PEXPIRETIME", "k"]).int().to_string(), at_ms);
    for bad in [
        &["SET", "k", "v", "NX", "XX"][..],
        &["SET", "k", "v", "EX", "10", "PX", "10"],
        &["SET", "k", "v", "KEEPTTL", "EX", "10"],
        &["SET", "k", "v", "EX"],
        &["SET", "k", "v", "BOGUS"],
    ] {
        assert_eq!(c.cmd(bad), Reply::err("ERR syntax error"), "{bad:?}");
    }
    assert_eq!(
        c.cmd(&["SET", "k", "v", "EX", "0"]),
        Reply::err("ERR invalid expire time in 'set' command")
    );
    assert_eq!(
        c.cmd(&["SET", "k", "v", "EX", "abc"]),
        Reply::err("ERR value is not an integer or out of range")
    );
    assert_eq!(
        c.cmd(&["SET", "k"]),
        Reply::err("ERR wrong number of arguments for 'set' command")
    );
}

#[test]
fn counters_and_their_errors() {
    let server = TestServer::start(&[]);
    let mut c = server.raw();
    assert_eq!(c.cmd(&["INCR", "n"]), Reply::Int(1));
    assert_eq!(c.cmd(&["INCRBY", "n", "41"]), Reply::Int(42));
    assert_eq!(c.cmd(&["DECR", "n"]), Reply::Int(41));
    assert_eq!(c.cmd(&["DECRBY", "n", "40"]), Reply::Int(1));
    assert_eq!(c.cmd(&["SET", "s", "abc"]), Reply::ok());
    assert_eq!(
        c.cmd(&["INCR", "s"]),
        Reply::err("ERR value is not an integer or out of range")
    );
    assert_eq!(
        c.cmd(&["INCRBY", "n", "x"]),
        Reply::err("ERR value is not an integer or out of range")
    );
    assert_eq!(c.cmd(&["SET", "big", "9223372036854775807"]), Reply::ok());
    assert_eq!(
        c.cmd(&["INCR", "big"]),
        Reply::err("ERR increment or decrement would overflow")
    );
    assert_eq!(
        c.cmd(&["DECRBY", "n", "-9223372036854775808"]),
        Reply::err("ERR decrement would overflow")
    );
    assert_eq!(c.cmd(&["SET", "f", "10.50"]), Reply::ok());
    assert_eq!(c.cmd(&["INCRBYFLOAT", "f", "0.1"]), Reply::bulk("10.6"));
    assert_eq!(c.cmd(&["INCRBYFLOAT", "f", "-5.1"]), Reply::bulk("5.5"));
    assert_eq!(c.cmd(&["INCRBYFLOAT", "nf", "3"]), Reply::bulk("3"));
    assert_eq!(
        c.cmd(&["INCRBYFLOAT", "s", "1"]),
        Reply::err("ERR value is not a valid float")
    );
    assert_eq!(
        c.cmd(&["INCRBYFLOAT", "f", "inf"]),
        Reply::err("ERR increment would produce NaN or Infinity")
    );
    // A counter keeps its TTL.
    assert_eq!(c.cmd(&["SET", "t", "1", "EX", "100"]), Reply::ok());
    assert_eq!(c.cmd(&["INCR", "t"]), Reply::Int(2));
    assert!(c.cmd(&["TTL", "t"]).int() > 0);
}

#[test]
fn ranges_append_and_multi_key_forms() {
    let server = TestServer::start(&[]);
    let mut c = server.raw();
    assert_eq!(c.cmd(&["APPEND", "a", "Hello"]), Reply::Int(5));
    assert_eq!(c.cmd(&["APPEND", "a", " World"]), Reply::Int(11));
    assert_eq!(c.cmd(&["STRLEN", "a"]), Reply::Int(11));
    assert_eq!(c.cmd(&["STRLEN", "none"]), Reply::Int(0));
    assert_eq!(c.cmd(&["GETRANGE", "a", "0", "4"]), Reply::bulk("Hello"));
    assert_eq!(c.cmd(&["GETRANGE", "a", "-5", "-1"]), Reply::bulk("World"));
    assert_eq!(c.cmd(&["GETRANGE", "a", "5", "1"]), Reply::bulk(""));
    assert_eq!(
        c.cmd(&["GETRANGE", "a", "0", "100"]),
        Reply::bulk("Hello World")
    );
    assert_eq!(c.cmd(&["SETRANGE", "a", "6", "Redis"]), Reply::Int(11));
    assert_eq!(c.cmd(&["GET", "a"]), Reply::bulk("Hello Redis"));
    assert_eq!(c.cmd(&["SETRANGE", "pad", "3", "x"]), Reply::Int(4));
    assert_eq!(c.cmd(&["GET", "pad"]), Reply::Bulk(b"\0\0\0x".to_vec()));
    assert_eq!(
        c.cmd(&["SETRANGE", "pad", "-1", "x"]),
        Reply::err("ERR offset is out of range")
    );
    assert_eq!(
        c.cmd(&["SETRANGE", "pad", "536870912", "x"]),
        Reply::err("ERR string exceeds maximum allowed size (proto-max-bulk-len)")
    );
    assert_eq!(c.cmd(&["MSET", "x", "1", "y", "2"]), Reply::ok());
    assert_eq!(
        c.cmd(&["MSET", "x", "1", "y"]),
        Reply::err("ERR wrong number of arguments for 'mset' command")
    );
    assert_eq!(
        c.cmd(&["MGET", "x", "nope", "y"]),
        Reply::Array(vec![Reply::bulk("1"), Reply::Nil, Reply::bulk("2")])
    );
    assert_eq!(c.cmd(&["MSETNX", "x", "9", "z", "9"]), Reply::Int(0));
    assert_eq!(c.cmd(&["GET", "z"]), Reply::Nil);
    assert_eq!(c.cmd(&["MSETNX", "z", "9", "w", "9"]), Reply::Int(1));
    assert_eq!(c.cmd(&["SETNX", "z", "1"]), Reply::Int(0));
    assert_eq!(c.cmd(&["SETNX", "q", "1"]), Reply::Int(1));
    assert_eq!(c.cmd(&["GETSET", "q", "2"]), Reply::bulk("1"));
    assert_eq!(c.cmd(&["GETDEL", "q"]), Reply::bulk("2"));
    assert_eq!(c.cmd(&["GETDEL", "q"]), Reply::Nil);
    assert_eq!(c.cmd(&["SETEX", "e", "100", "v"]), Reply::ok());
    assert!(c.cmd(&["TTL", "e"]).int() > 90);
    assert_eq!(
        c.cmd(&["SETEX", "e", "0", "v"]),
        Reply::err("ERR invalid expire time in 'setex' command")
    );
    assert_eq!(c.cmd(&["PSETEX", "e", "100000", "v"]), Reply::ok());
    assert_eq!(
        c.cmd(&["PSETEX", "e", "-1", "v"]),
        Reply::err("ERR invalid expire time in 'psetex' command")
    );
    assert_eq!(c.cmd(&["GETEX", "e", "PERSIST"]), Reply::bulk("v"));
    assert_eq!(c.cmd(&["TTL", "e"]), Reply::Int(-1));
    assert_eq!(c.cmd(&["GETEX", "e", "EX", "50"]), Reply::bulk("v"));
    assert!(c.cmd(&["TTL", "e"]).int() > 40);
    assert_eq!(
        c.cmd(&["GETEX", "e", "BOGUS"]),
        Reply::err("ERR syntax error")
    );
    assert_eq!(c.cmd(&["GETEX", "nope"]), Reply::Nil);
}

#[test]
fn binary_values_and_the_redis_crate() {
    let server = TestServer::start(&[]);
    let mut con = server.client();
    let value: Vec<u8> = (0..=255u8).cycle().take(10_000).collect();
    redis::cmd("SET")
        .arg(b"bin\0key")
        .arg(&value)
        .query::<()>(&mut con)
        .unwrap();
    let back: Vec<u8> = redis::cmd("GET").arg(b"bin\0key").query(&mut con).unwrap();
    assert_eq!(back, value);
    let mut pipe = redis::pipe();
    for i in 0..1000 {
        pipe.cmd("SET").arg(format!("p{i}")).arg(i).ignore();
    }
    pipe.cmd("GET").arg("p999");
    let (last,): (i64,) = pipe.query(&mut con).unwrap();
    assert_eq!(last, 999);
}

/// Kvrocks' CAS and CAD extensions, with the replies and error texts Kvrocks' own tests
/// (`tests/gocase/unit/type/strings`) check.
#[test]
fn cas_and_cad_as_kvrocks_has_them() {
    let server = TestServer::start(&[]);
    let mut c = server.raw();
    assert_eq!(c.cmd(&["CAS", "k", "old", "new"]), Reply::Int(-1));
    assert_eq!(c.cmd(&["EXISTS", "k"]), Reply::Int(0));
    assert_eq!(c.cmd(&["SET", "k", "old", "EX", "1000"]), Reply::ok());
    assert_eq!(c.cmd(&["CAS", "k", "ol", "new"]), Reply::Int(0));
    assert_eq!(c.cmd(&["GET", "k"]), Reply::bulk("old"));
    // A swap without an expiry option drops the old expiry, as Kvrocks' does.
    assert_eq!(c.cmd(&["CAS", "k", "old", "new"]), Reply::Int(1));
    assert_eq!(c.cmd(&["GET", "k"]), Reply::bulk("new"));
    assert_eq!(c.cmd(&["TTL", "k"]), Reply::Int(-1));

    for (unit, value, low, high) in [
        ("EX", "10".to_string(), 9_000, 10_000),
        ("px", "10000".to_string(), 9_000, 10_000),
        ("EXAT", (now_ms() / 1000 + 10).to_string(), 8_000, 10_000),
        ("PXAT", (now_ms() + 10_000).to_string(), 9_000, 10_000),
    ] {
        assert_eq!(c.cmd(&["SET", "k", "123"]), Reply::ok());
        // The same option twice: the last value counts.
        let args = ["CAS", "k", "123", "234", unit, "100000", unit, &value];
        assert_eq!(c.cmd(&args), Reply::Int(1), "{unit}");
        let pttl = c.cmd(&["PTTL", "k"]).int();
        assert!((low..=high).contains(&pttl), "{unit}: {pttl}");
    }
    assert_eq!(c.cmd(&["SET", "k", "123"]), Reply::ok());
    assert_eq!(
        c.cmd(&["CAS", "k", "123", "234", "PX", "200"]),
        Reply::Int(1)
    );
    std::thread::sleep(std::time::Duration::from_millis(400));
    assert_eq!(c.cmd(&["GET", "k"]), Reply::Nil);
    assert_eq!(c.cmd(&["CAS", "k", "234", "345"]), Reply::Int(-1));

    assert_eq!(c.cmd(&["SET", "k", "123"]), Reply::ok());
    for bad in [
        &["CAS", "k", "123", "234", "EX", "100", "PX", "100000"][..],
        &[
            "CAS", "k", "123", "234", "EX", "100", "EX", "10", "PX", "10000",
        ],
        &["CAS", "k", "123", "234", "EXAT", "100", "PXAT", "100000"],
        &["CAS", "k", "123", "234", "KEEPTTL"],
    ] {
        assert_eq!(c.cmd(bad), Reply::err("ERR syntax error"), "{bad:?}");
    }
    for (bad, error) in [
        (
            &["CAS", "k", "123", "234", "ex"][..],
            "ERR no more item to parse",
        ),
        (
            &["CAS", "k", "123", "234", "EX", "0"],
            "ERR out of numeric range",
        ),
        (
            &["CAS", "k", "123", "234", "EX", "x"],
            "ERR value is not an integer or out of range",
        ),
        (
            &["CAS", "k", "123"],
            "ERR wrong number of arguments for 'cas' command",
        ),
    ] {
        assert_eq!(c.cmd(bad), Reply::err(error), "{bad:?}");
    }
    // Errors leave the value alone.
    assert_eq!(c.cmd(&["GET", "k"]), Reply::bulk("123"));

    assert_eq!(c.cmd(&["LPUSH", "list", "123"]), Reply::Int(1));
    let wrongtype = Reply::err("WRONGTYPE Operation against a key holding the wrong kind of value");
    assert_eq!(c.cmd(&["CAS", "list", "123", "234"]), wrongtype);
    assert_eq!(c.cmd(&["CAD", "list", "123"]), wrongtype);

    assert_eq!(c.cmd(&["CAD", "gone", "123"]), Reply::Int(-1));
    assert_eq!(c.cmd(&["CAD", "k", "234"]), Reply::Int(0));
    assert_eq!(c.cmd(&["CAD", "k", "123"]), Reply::Int(1));
    assert_eq!(c.cmd(&["GET", "k"]), Reply::Nil);
    for bad in [&["CAD", "k"][..], &["CAD", "k", "1", "2"]] {
        assert_eq!(
            c.cmd(bad),
            Reply::err("ERR wrong number of arguments for 'cad' command")
        );
    }

    // A WATCHed key touched by CAS or CAD fails the transaction.
    let mut other = server.raw();
    for (write, value) in [
        (&["CAS", "w", "1", "2"][..], "1"),
        (&["CAD", "w", "2"], "2"),
    ] {
        assert_eq!(c.cmd(&["SET", "w", value]), Reply::ok());
        assert_eq!(c.cmd(&["WATCH", "w"]), Reply::ok());
        assert_eq!(other.cmd(write), Reply::Int(1));
        assert_eq!(c.cmd(&["MULTI"]), Reply::ok());
        assert_eq!(c.cmd(&["GET", "w"]), Reply::Status("QUEUED".into()));
        assert_eq!(c.cmd(&["EXEC"]), Reply::Nil);
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
