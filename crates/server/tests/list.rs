//! List commands, including blocking pops woken by other clients.

mod common;
use std::time::{Duration, Instant};

use common::{Raw, Reply, TestServer};

fn bulks(items: &[&str]) -> Reply {
    Reply::Array(items.iter().map(|s| Reply::bulk(s)).collect())
}

#[test]
fn push_pop_range_index() {
    let server = TestServer::start(&[]);
    let mut c = server.raw();
    assert_eq!(c.cmd(&["RPUSH", "l", "a", "b", "c"]), Reply::Int(3));
    assert_eq!(c.cmd(&["LPUSH", "l", "z", "y"]), Reply::Int(5));
    assert_eq!(
        c.cmd(&["LRANGE", "l", "0", "-1"]),
        bulks(&["y", "z", "a", "b", "c"])
    );
    assert_eq!(c.cmd(&["LRANGE", "l", "-2", "100"]), bulks(&["b", "c"]));
    assert_eq!(c.cmd(&["LRANGE", "l", "3", "1"]), bulks(&[]));
    assert_eq!(c.cmd(&["LLEN", "l"]), Reply::Int(5));
    assert_eq!(c.cmd(&["LINDEX", "l", "0"]), Reply::bulk("y"));
    assert_eq!(c.cmd(&["LINDEX", "l", "-1"]), Reply::bulk("c"));
    assert_eq!(c.cmd(&["LINDEX", "l", "5"]), Reply::Nil);
    assert_eq!(c.cmd(&["LINDEX", "l", "-6"]), Reply::Nil);
    assert_eq!(c.cmd(&["LPOP", "l"]), Reply::bulk("y"));
    assert_eq!(c.cmd(&["RPOP", "l", "2"]), bulks(&["c", "b"]));
    assert_eq!(c.cmd(&["LPOP", "nope", "2"]), Reply::Nil);
    assert_eq!(c.cmd(&["LPOP", "nope"]), Reply::Nil);
    assert_eq!(
        c.cmd(&["LPOP", "l", "-1"]),
        Reply::err("ERR value is out of range, must be positive")
    );
    assert_eq!(c.cmd(&["LPUSHX", "nope", "a"]), Reply::Int(0));
    assert_eq!(c.cmd(&["RPUSHX", "l", "q"]), Reply::Int(3));
    assert_eq!(c.cmd(&["LPOP", "l", "10"]), bulks(&["z", "a", "q"]));
    assert_eq!(
        c.cmd(&["EXISTS", "l"]),
        Reply::Int(0),
        "an emptied list is deleted"
    );
    c.cmd(&["SET", "s", "v"]);
    assert_eq!(
        c.cmd(&["LPUSH", "s", "a"]),
        Reply::err("WRONGTYPE Operation against a key holding the wrong kind of value")
    );
    assert_eq!(c.cmd(&["TYPE", "l2"]), Reply::Status("none".into()));
    c.cmd(&["RPUSH", "l2", "x"]);
    assert_eq!(c.cmd(&["TYPE", "l2"]), Reply::Status("list".into()));
}

#[test]
fn set_insert_remove_trim_pos_move() {
    let server = TestServer::start(&[]);
    let mut c = server.raw();
    c.cmd(&["RPUSH", "l", "a", "b", "a", "c", "a"]);
    assert_eq!(c.cmd(&["LSET", "l", "1", "B"]), Reply::ok());
    assert_eq!(c.cmd(&["LSET", "l", "-1", "A"]), Reply::ok());
    assert_eq!(
        c.cmd(&["LSET", "l", "5", "x"]),
        Reply::err("ERR index out of range")
    );
    assert_eq!(
        c.cmd(&["LSET", "nope", "0", "x"]),
        Reply::err("ERR no such key")
    );
    assert_eq!(
        c.cmd(&["LRANGE", "l", "0", "-1"]),
        bulks(&["a", "B", "a", "c", "A"])
    );
    assert_eq!(c.cmd(&["LINSERT", "l", "BEFORE", "c", "x"]), Reply::Int(6));
    assert_eq!(c.cmd(&["LINSERT", "l", "AFTER", "c", "y"]), Reply::Int(7));
    assert_eq!(c.cmd(&["LINSERT", "l", "AFTER", "zz", "y"]), Reply::Int(-1));
    assert_eq!(
        c.cmd(&["LINSERT", "nope", "AFTER", "a", "y"]),
        Reply::Int(0)
    );
    assert_eq!(
        c.cmd(&["LINSERT", "l", "MIDDLE", "a", "y"]),
        Reply::err("ERR syntax error")
    );
    assert_eq!(
        c.cmd(&["LRANGE", "l", "0", "-1"]),
        bulks(&["a", "B", "a", "x", "c", "y", "A"])
    );
    assert_eq!(c.cmd(&["LREM", "l", "-1", "a"]), Reply::Int(1));
    assert_eq!(
        c.cmd(&["LRANGE", "l", "0", "-1"]),
        bulks(&["a", "B", "x", "c", "y", "A"])
    );
    assert_eq!(c.cmd(&["LPOS", "l", "c"]), Reply::Int(3));
    assert_eq!(c.cmd(&["LPOS", "l", "nope"]), Reply::Nil);
    c.cmd(&["RPUSH", "p", "a", "b", "a", "a"]);
    assert_eq!(
        c.cmd(&["LPOS", "p", "a", "COUNT", "0"]),
        Reply::Array(vec![Reply::Int(0), Reply::Int(2), Reply::Int(3)])
    );
    assert_eq!(c.cmd(&["LPOS", "p", "a", "RANK", "-1"]), Reply::Int(3));
    assert_eq!(
        c.cmd(&["LPOS", "p", "a", "RANK", "2", "MAXLEN", "2"]),
        Reply::Nil
    );
    assert_eq!(
        c.cmd(&["LPOS", "p", "a", "RANK", "0"]),
        Reply::err("ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list")
    );
    assert_eq!(
        c.cmd(&["LPOS", "p", "a", "COUNT", "-1"]),
        Reply::err("ERR COUNT can't be negative")
    );
    assert_eq!(c.cmd(&["LTRIM", "l", "1", "-2"]), Reply::ok());
    assert_eq!(
        c.cmd(&["LRANGE", "l", "0", "-1"]),
        bulks(&["B", "x", "c", "y"])
    );
    assert_eq!(c.cmd(&["LTRIM", "l", "5", "10"]), Reply::ok());
    assert_eq!(c.cmd(&["EXISTS", "l"]), Reply::Int(0));
    c.cmd(&["RPUSH", "src", "1", "2", "3"]);
    assert_eq!(
        c.cmd(&["LMOVE", "src", "dst", "LEFT", "RIGHT"]),
        Reply::bulk("1")
    );
    assert_eq!(c.cmd(&["RPOPLPUSH", "src", "dst"]), Reply::bulk("3"));
    assert_eq!(c.cmd(&["LRANGE", "dst", "0", "-1"]), bulks(&["3", "1"]));
    assert_eq!(
        c.cmd(&["LMOVE", "src", "src", "LEFT", "RIGHT"]),
        Reply::bulk("2")
    );
    assert_eq!(
        c.cmd(&["LMOVE", "empty", "dst", "LEFT", "RIGHT"]),
        Reply::Nil
    );
    assert_eq!(
        c.cmd(&["LMPOP", "2", "empty", "dst", "LEFT", "COUNT", "5"]),
        Reply::Array(vec![Reply::bulk("dst"), bulks(&["3", "1"])])
    );
    assert_eq!(c.cmd(&["LMPOP", "1", "empty", "LEFT"]), Reply::Nil);
}

#[test]
fn blocking_pops_wake_on_push_and_time_out() {
    let server = TestServer::start(&[]);
    let mut waiter = server.raw();
    waiter.send(&Raw::encode(&[b"BLPOP", b"q1", b"q2", b"5"]));
    std::thread::sleep(Duration::from_millis(100));
    let mut pusher = server.raw();
    assert_eq!(
        pusher.cmd(&["PING"]),
        Reply::Status("PONG".into()),
        "others are not blocked"
    );
    assert_eq!(pusher.cmd(&["RPUSH", "q2", "job"]), Reply::Int(1));
    assert_eq!(waiter.read(), bulks(&["q2", "job"]));
    assert_eq!(pusher.cmd(&["LLEN", "q2"]), Reply::Int(0));

    // Served at once when data is there.
    pusher.cmd(&["RPUSH", "q1", "a", "b"]);
    assert_eq!(waiter.cmd(&["BRPOP", "q1", "0"]), bulks(&["q1", "b"]));

    // Timeout: null array.
    let start = Instant::now();
    assert_eq!(waiter.cmd(&["BLPOP", "empty", "0.2"]), Reply::Nil);
    assert!(start.elapsed() >= Duration::from_millis(190));
    assert_eq!(
        waiter.cmd(&["BLPOP", "empty", "-1"]),
        Reply::err("ERR timeout is negative")
    );
    assert_eq!(
        waiter.cmd(&["BLPOP", "empty", "abc"]),
        Reply::err("ERR timeout is not a float or out of range")
    );

    // BLMOVE waits for its source.
    waiter.send(&Raw::encode(&[
        b"BLMOVE", b"from", b"to", b"LEFT", b"LEFT", b"5",
    ]));
    std::thread::sleep(Duration::from_millis(100));
    pusher.cmd(&["RPUSH", "from", "x"]);
    assert_eq!(waiter.read(), Reply::bulk("x"));
    assert_eq!(pusher.cmd(&["LRANGE", "to", "0", "-1"]), bulks(&["x"]));
    assert_eq!(
        waiter.cmd(&["BLMOVE", "from", "to", "LEFT", "LEFT", "0.1"]),
        Reply::Nil
    );

    // Inside MULTI a blocking pop does not block.
    waiter.cmd(&["MULTI"]);
    waiter.cmd(&["BLPOP", "empty", "0"]);
    assert_eq!(waiter.cmd(&["EXEC"]), Reply::Array(vec![Reply::Nil]));

    // Two waiters, one push each.
    let mut w2 = server.raw();
    waiter.send(&Raw::encode(&[b"BLPOP", b"shared", b"5"]));
    w2.send(&Raw::encode(&[b"BLPOP", b"shared", b"5"]));
    std::thread::sleep(Duration::from_millis(100));
    pusher.cmd(&["RPUSH", "shared", "1"]);
    pusher.cmd(&["RPUSH", "shared", "2"]);
    let mut got = vec![waiter.read().items()[1].text(), w2.read().items()[1].text()];
    got.sort();
    assert_eq!(got, vec!["1", "2"]);
}

#[test]
fn a_million_elements() {
    let server = TestServer::start(&[]);
    let mut con = server.client();
    let chunk: Vec<String> = (0..10_000).map(|i| format!("{i}")).collect();
    for _ in 0..100 {
        redis::cmd("RPUSH")
            .arg("big")
            .arg(&chunk)
            .query::<i64>(&mut con)
            .unwrap();
    }
    let mut c = server.raw();
    assert_eq!(c.cmd(&["LLEN", "big"]), Reply::Int(1_000_000));
    assert_eq!(c.cmd(&["LINDEX", "big", "500000"]), Reply::bulk("0"));
    assert_eq!(
        c.cmd(&["LRANGE", "big", "999998", "-1"]),
        bulks(&["9998", "9999"])
    );
    let start = Instant::now();
    assert_eq!(c.cmd(&["DEL", "big"]), Reply::Int(1));
    assert!(start.elapsed() < Duration::from_millis(200), "DEL is O(1)");
    assert_eq!(c.cmd(&["LLEN", "big"]), Reply::Int(0));
    // The members are garbage now; a compaction removes them from disk.
    assert_eq!(c.cmd(&["COMPACT"]), Reply::ok());
    common::wait_for_members_gc(&mut c);
}
