//! Durability: clean restarts and `kill -9` never lose an acknowledged write.

mod common;
use common::{Reply, TestServer};

#[test]
fn acknowledged_writes_survive_kill_9() {
    let mut server = TestServer::start(&[]);
    let mut con = server.client();
    // Pipelined in chunks: every reply received is an acknowledged write.
    for chunk in 0..10 {
        let mut pipe = redis::pipe();
        for i in chunk * 1000..(chunk + 1) * 1000 {
            pipe.cmd("SET")
                .arg(format!("key:{i}"))
                .arg(format!("value:{i}"))
                .ignore();
        }
        pipe.query::<()>(&mut con).unwrap();
    }
    redis::cmd("SET")
        .arg("ttl")
        .arg("v")
        .arg("EX")
        .arg(1000)
        .query::<()>(&mut con)
        .unwrap();
    drop(con);
    server.kill9();
    server.restart();
    let mut c = server.raw();
    assert_eq!(c.cmd(&["DBSIZE"]), Reply::Int(10_001));
    let mut con = server.client();
    let keys: Vec<String> = (0..10_000).map(|i| format!("key:{i}")).collect();
    let values: Vec<String> = redis::cmd("MGET").arg(&keys).query(&mut con).unwrap();
    for (i, v) in values.iter().enumerate() {
        assert_eq!(v, &format!("value:{i}"));
    }
    assert!(
        c.cmd(&["TTL", "ttl"]).int() > 900,
        "expiry survives restarts"
    );
}

#[test]
fn clean_restart_keeps_everything_and_deletes_stay_deleted() {
    let mut server = TestServer::start(&[]);
    let mut c = server.raw();
    c.cmd(&["MSET", "a", "1", "b", "2", "c", "3"]);
    c.cmd(&["DEL", "b"]);
    c.cmd(&["INCR", "a"]);
    assert!(server.terminate().success());
    server.restart();
    let mut c = server.raw();
    assert_eq!(
        c.cmd(&["MGET", "a", "b", "c"]),
        Reply::Array(vec![Reply::bulk("2"), Reply::Nil, Reply::bulk("3")])
    );
}

#[test]
fn fsync_policy_option_works() {
    let mut server = TestServer::start(&["--rocksdb.write_options.sync", "yes"]);
    let mut c = server.raw();
    assert_eq!(c.cmd(&["SET", "durable", "yes"]), Reply::ok());
    assert!(c
        .cmd(&["INFO", "persistence"])
        .text()
        .contains("wal_fsync_every_write:1"));
    server.kill9();
    server.restart();
    assert_eq!(server.raw().cmd(&["GET", "durable"]), Reply::bulk("yes"));
}
