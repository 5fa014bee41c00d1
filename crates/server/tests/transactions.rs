//! MULTI/EXEC/DISCARD/WATCH against a real server, with a second client making conflicts.

mod common;
use common::{Reply, TestServer};

#[test]
fn multi_exec_discard_and_queueing_errors() {
    let server = TestServer::start(&[]);
    let mut c = server.raw();
    assert_eq!(c.cmd(&["MULTI"]), Reply::ok());
    assert_eq!(c.cmd(&["SET", "a", "1"]), Reply::Status("QUEUED".into()));
    assert_eq!(c.cmd(&["INCR", "a"]), Reply::Status("QUEUED".into()));
    assert_eq!(c.cmd(&["GET", "a"]), Reply::Status("QUEUED".into()));
    assert_eq!(
        c.cmd(&["EXEC"]),
        Reply::Array(vec![Reply::ok(), Reply::Int(2), Reply::bulk("2")])
    );
    assert_eq!(c.cmd(&["EXEC"]), Reply::err("ERR EXEC without MULTI"));
    assert_eq!(c.cmd(&["DISCARD"]), Reply::err("ERR DISCARD without MULTI"));

    c.cmd(&["MULTI"]);
    assert_eq!(
        c.cmd(&["MULTI"]),
        Reply::err("ERR MULTI calls can not be nested")
    );
    c.cmd(&["SET", "a", "3"]);
    assert_eq!(c.cmd(&["DISCARD"]), Reply::ok());
    assert_eq!(c.cmd(&["GET", "a"]), Reply::bulk("2"));

    // Runtime errors do not stop the others.
    c.cmd(&["SET", "s", "abc"]);
    c.cmd(&["MULTI"]);
    c.cmd(&["INCR", "s"]);
    c.cmd(&["SET", "b", "1"]);
    let replies = c.cmd(&["EXEC"]).items();
    assert_eq!(
        replies[0],
        Reply::err("ERR value is not an integer or out of range")
    );
    assert_eq!(replies[1], Reply::ok());

    // Queue-time errors abort the whole transaction.
    c.cmd(&["MULTI"]);
    assert!(matches!(c.cmd(&["NOSUCHCMD"]), Reply::Error(_)));
    assert_eq!(
        c.cmd(&["GET"]),
        Reply::err("ERR wrong number of arguments for 'get' command")
    );
    c.cmd(&["SET", "c", "1"]);
    assert_eq!(
        c.cmd(&["EXEC"]),
        Reply::err("EXECABORT Transaction discarded because of previous errors.")
    );
    assert_eq!(c.cmd(&["GET", "c"]), Reply::Nil);
    c.cmd(&["MULTI"]);
    assert_eq!(
        c.cmd(&["WATCH", "x"]),
        Reply::err("ERR WATCH inside MULTI is not allowed")
    );
    assert_eq!(c.cmd(&["EXEC"]), Reply::Array(vec![]));
}

#[test]
fn watch_detects_writes_from_other_clients() {
    let server = TestServer::start(&[]);
    let mut a = server.raw();
    let mut b = server.raw();
    a.cmd(&["SET", "w", "1"]);

    // Untouched: EXEC runs.
    a.cmd(&["WATCH", "w"]);
    a.cmd(&["MULTI"]);
    a.cmd(&["INCR", "w"]);
    assert_eq!(a.cmd(&["EXEC"]), Reply::Array(vec![Reply::Int(2)]));

    // Touched by another client: EXEC returns nil and does nothing.
    a.cmd(&["WATCH", "w"]);
    b.cmd(&["SET", "w", "10"]);
    a.cmd(&["MULTI"]);
    a.cmd(&["INCR", "w"]);
    assert_eq!(a.cmd(&["EXEC"]), Reply::Nil);
    assert_eq!(a.cmd(&["GET", "w"]), Reply::bulk("10"));

    // EXEC forgets the watches: the next transaction is clean.
    a.cmd(&["MULTI"]);
    a.cmd(&["INCR", "w"]);
    assert_eq!(a.cmd(&["EXEC"]), Reply::Array(vec![Reply::Int(11)]));

    // UNWATCH, and writes to other keys, do not abort.
    a.cmd(&["WATCH", "w"]);
    a.cmd(&["UNWATCH"]);
    b.cmd(&["SET", "w", "0"]);
    a.cmd(&["WATCH", "w2"]);
    b.cmd(&["SET", "unrelated", "0"]);
    a.cmd(&["MULTI"]);
    a.cmd(&["INCR", "w"]);
    assert_eq!(a.cmd(&["EXEC"]), Reply::Array(vec![Reply::Int(1)]));

    // Deleting, expiring and flushing count as touching.
    for touch in [&["DEL", "w"][..], &["EXPIRE", "w", "100"], &["FLUSHDB"]] {
        a.cmd(&["SET", "w", "1"]);
        a.cmd(&["WATCH", "w"]);
        b.cmd(touch);
        a.cmd(&["MULTI"]);
        a.cmd(&["GET", "w"]);
        assert_eq!(a.cmd(&["EXEC"]), Reply::Nil, "{touch:?}");
    }
}

#[test]
fn transactions_through_the_redis_crate() {
    let server = TestServer::start(&[]);
    let mut con = server.client();
    let (x, y): (i64, i64) = redis::pipe()
        .atomic()
        .cmd("INCRBY")
        .arg("x")
        .arg(5)
        .cmd("INCRBY")
        .arg("y")
        .arg(7)
        .query(&mut con)
        .unwrap();
    assert_eq!((x, y), (5, 7));
    // The optimistic-locking helper retries until it wins.
    let mut other = server.client();
    let mut attempts = 0;
    let value: i64 = redis::transaction(&mut con, &["x"], |con, pipe| {
        attempts += 1;
        let current: i64 = redis::cmd("GET").arg("x").query(con)?;
        if attempts == 1 {
            redis::cmd("SET")
                .arg("x")
                .arg(100)
                .query::<()>(&mut other)?;
        }
        pipe.set("x", current * 2).ignore().get("x").query(con)
    })
    .map(|(v,): (i64,)| v)
    .unwrap();
    assert_eq!(attempts, 2);
    assert_eq!(value, 200);
}
