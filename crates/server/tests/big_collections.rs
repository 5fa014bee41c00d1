//! A 1,000,000-member hash, set and sorted set each: create, read ranges, delete.
//! Deletion is O(1) (the metadata goes, the members become garbage) and a compaction
//! then removes the members from disk. The list case lives in list.rs.

mod common;
use std::time::{Duration, Instant};

use common::{wait_for_members_gc, Reply, TestServer};

const MEMBERS: usize = 1_000_000;
const CHUNK: usize = 10_000;

fn fill(server: &TestServer, command: &str, key: &str, args_of: impl Fn(usize) -> Vec<String>) {
    let mut con = server.client();
    for start in (0..MEMBERS).step_by(CHUNK) {
        let mut cmd = redis::cmd(command);
        cmd.arg(key);
        for i in start..start + CHUNK {
            cmd.arg(args_of(i));
        }
        cmd.query::<i64>(&mut con).unwrap();
    }
}

fn delete_fast_then_gc(server: &TestServer, key: &str) {
    let mut c = server.raw();
    let start = Instant::now();
    assert_eq!(c.cmd(&["DEL", key]), Reply::Int(1));
    assert!(
        start.elapsed() < Duration::from_millis(200),
        "DEL is O(1): {:?}",
        start.elapsed()
    );
    assert_eq!(c.cmd(&["EXISTS", key]), Reply::Int(0));
    assert_eq!(c.cmd(&["COMPACT"]), Reply::ok());
    wait_for_members_gc(&mut c);
}

#[test]
fn million_member_hash() {
    let server = TestServer::start(&[]);
    fill(&server, "HSET", "h", |i| {
        vec![format!("f{i:07}"), format!("v{i}")]
    });
    let mut c = server.raw();
    assert_eq!(c.cmd(&["HLEN", "h"]), Reply::Int(MEMBERS as i64));
    assert_eq!(c.cmd(&["HGET", "h", "f0543210"]), Reply::bulk("v543210"));
    let page = c.cmd(&["HSCAN", "h", "0", "COUNT", "100"]).items();
    assert_eq!(page[1].items().len(), 200);
    delete_fast_then_gc(&server, "h");
}

#[test]
fn million_member_set() {
    let server = TestServer::start(&[]);
    fill(&server, "SADD", "s", |i| vec![format!("m{i:07}")]);
    let mut c = server.raw();
    assert_eq!(c.cmd(&["SCARD", "s"]), Reply::Int(MEMBERS as i64));
    assert_eq!(c.cmd(&["SISMEMBER", "s", "m0999999"]), Reply::Int(1));
    let page = c
        .cmd(&["SSCAN", "s", "0", "MATCH", "m00000*", "COUNT", "1000"])
        .items();
    // m0000000..m0000099 match.
    assert_eq!(page[1].items().len(), 100);
    delete_fast_then_gc(&server, "s");
}

#[test]
fn million_member_sorted_set() {
    let server = TestServer::start(&[]);
    fill(&server, "ZADD", "z", |i| {
        vec![i.to_string(), format!("m{i}")]
    });
    let mut c = server.raw();
    assert_eq!(c.cmd(&["ZCARD", "z"]), Reply::Int(MEMBERS as i64));
    assert_eq!(
        c.cmd(&["ZRANGE", "z", "999998", "1000000", "BYSCORE"]),
        Reply::Array(vec![Reply::bulk("m999998"), Reply::bulk("m999999")])
    );
    assert_eq!(
        c.cmd(&["ZRANGE", "z", "-2", "-1"]),
        Reply::Array(vec![Reply::bulk("m999998"), Reply::bulk("m999999")])
    );
    assert_eq!(c.cmd(&["ZCOUNT", "z", "(10", "20"]), Reply::Int(10));
    delete_fast_then_gc(&server, "z");
}
