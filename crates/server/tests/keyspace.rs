//! Keyspace commands and TTL semantics against a real server.

mod common;
use std::collections::HashSet;
use std::time::Duration;

use common::{Reply, TestServer};

#[test]
fn delete_exists_type_rename() {
    let server = TestServer::start(&[]);
    let mut c = server.raw();
    c.cmd(&["MSET", "a", "1", "b", "2", "c", "3"]);
    assert_eq!(c.cmd(&["EXISTS", "a", "b", "nope", "a"]), Reply::Int(3));
    assert_eq!(c.cmd(&["DEL", "a", "nope", "a"]), Reply::Int(1));
    assert_eq!(c.cmd(&["UNLINK", "b"]), Reply::Int(1));
    assert_eq!(c.cmd(&["TYPE", "c"]), Reply::Status("string".into()));
    assert_eq!(c.cmd(&["TYPE", "a"]), Reply::Status("none".into()));
    assert_eq!(c.cmd(&["RENAME", "c", "d"]), Reply::ok());
    assert_eq!(c.cmd(&["GET", "d"]), Reply::bulk("3"));
    assert_eq!(
        c.cmd(&["RENAME", "nope", "x"]),
        Reply::err("ERR no such key")
    );
    c.cmd(&["SET", "e", "5"]);
    assert_eq!(c.cmd(&["RENAMENX", "d", "e"]), Reply::Int(0));
    assert_eq!(c.cmd(&["RENAMENX", "d", "f"]), Reply::Int(1));
    assert_eq!(c.cmd(&["RENAME", "f", "f"]), Reply::ok());
    c.cmd(&["SET", "t", "v", "EX", "100"]);
    assert_eq!(c.cmd(&["RENAME", "t", "u"]), Reply::ok());
    assert!(c.cmd(&["TTL", "u"]).int() > 90, "RENAME keeps the TTL");
}

#[test]
fn expiry_commands_and_conditions() {
    let server = TestServer::start(&[]);
    let mut c = server.raw();
    c.cmd(&["SET", "k", "v"]);
    assert_eq!(c.cmd(&["TTL", "k"]), Reply::Int(-1));
    assert_eq!(c.cmd(&["TTL", "none"]), Reply::Int(-2));
    assert_eq!(c.cmd(&["PTTL", "none"]), Reply::Int(-2));
    assert_eq!(c.cmd(&["EXPIRETIME", "k"]), Reply::Int(-1));
    assert_eq!(c.cmd(&["EXPIRE", "k", "100", "XX"]), Reply::Int(0));
    assert_eq!(c.cmd(&["EXPIRE", "k", "100", "NX"]), Reply::Int(1));
    assert_eq!(c.cmd(&["EXPIRE", "k", "200", "NX"]), Reply::Int(0));
    assert_eq!(c.cmd(&["EXPIRE", "k", "50", "GT"]), Reply::Int(0));
    assert_eq!(c.cmd(&["EXPIRE", "k", "200", "GT"]), Reply::Int(1));
    assert_eq!(c.cmd(&["EXPIRE", "k", "300", "LT"]), Reply::Int(0));
    assert_eq!(c.cmd(&["EXPIRE", "k", "150", "LT"]), Reply::Int(1));
    assert_eq!(
        c.cmd(&["EXPIRE", "k", "1", "NX", "XX"]),
        Reply::err("ERR NX and XX, GT or LT options at the same time are not compatible")
    );
    assert_eq!(
        c.cmd(&["EXPIRE", "k", "1", "GT", "LT"]),
        Reply::err("ERR GT and LT options at the same time are not compatible")
    );
    assert_eq!(
        c.cmd(&["EXPIRE", "k", "1", "FOO"]),
        Reply::err("ERR Unsupported option FOO")
    );
    assert_eq!(
        c.cmd(&["EXPIRE", "k", "x"]),
        Reply::err("ERR value is not an integer or out of range")
    );
    assert_eq!(c.cmd(&["PERSIST", "k"]), Reply::Int(1));
    assert_eq!(c.cmd(&["PERSIST", "k"]), Reply::Int(0));
    assert_eq!(c.cmd(&["PEXPIRE", "k", "100000"]), Reply::Int(1));
    let at = c.cmd(&["PEXPIRETIME", "k"]).int();
    assert_eq!(
        c.cmd(&["PEXPIREAT", "k", &(at + 1000).to_string()]),
        Reply::Int(1)
    );
    assert_eq!(c.cmd(&["PEXPIRETIME", "k"]), Reply::Int(at + 1000));
    assert_eq!(c.cmd(&["EXPIREAT", "k", "4102444800"]), Reply::Int(1));
    assert_eq!(c.cmd(&["EXPIRETIME", "k"]), Reply::Int(4102444800));
    // A time in the past deletes the key at once.
    assert_eq!(c.cmd(&["EXPIRE", "k", "-1"]), Reply::Int(1));
    assert_eq!(c.cmd(&["EXISTS", "k"]), Reply::Int(0));
    assert_eq!(c.cmd(&["EXPIRE", "k", "10"]), Reply::Int(0));
}

#[test]
fn expired_keys_vanish_at_once_and_are_reclaimed_in_the_background() {
    let server = TestServer::start(&[]);
    let mut c = server.raw();
    for i in 0..50 {
        c.cmd(&["SET", &format!("short{i}"), "v", "PX", "100"]);
    }
    c.cmd(&["SET", "long", "v", "EX", "100"]);
    c.cmd(&["SET", "forever", "v"]);
    std::thread::sleep(Duration::from_millis(150));
    // Lazy: invisible on read even before the background task ran.
    assert_eq!(c.cmd(&["GET", "short0"]), Reply::Nil);
    assert_eq!(c.cmd(&["EXISTS", "short1"]), Reply::Int(0));
    assert_eq!(c.cmd(&["TTL", "short2"]), Reply::Int(-2));
    assert_eq!(c.cmd(&["DBSIZE"]), Reply::Int(2));
    let mut keys = c.cmd(&["KEYS", "*"]).strings();
    keys.sort();
    assert_eq!(keys, vec!["forever", "long"]);
    // SET NX treats an expired key as missing.
    assert_eq!(c.cmd(&["SET", "short3", "new", "NX"]), Reply::ok());
    // Active: the background task deletes them and counts them.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let info = c.cmd(&["INFO", "stats"]).text();
        let expired: u64 = info
            .lines()
            .find_map(|l| l.strip_prefix("expired_keys:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        if expired >= 49 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "active expiry did not run: {info}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(c.cmd(&["GET", "short3"]), Reply::bulk("new"));
}

#[test]
fn keys_scan_and_randomkey() {
    let server = TestServer::start(&[]);
    let mut c = server.raw();
    assert_eq!(c.cmd(&["RANDOMKEY"]), Reply::Nil);
    for i in 0..300 {
        c.cmd(&["SET", &format!("user:{i}"), "v"]);
    }
    c.cmd(&["SET", "other", "v"]);
    assert_eq!(c.cmd(&["KEYS", "user:*"]).items().len(), 300);
    assert_eq!(c.cmd(&["KEYS", "user:1?"]).items().len(), 10);
    assert_eq!(c.cmd(&["KEYS", "oth[a-f]r"]).strings(), vec!["other"]);
    // Full SCAN: every key exactly once across pages, cursors are integers.
    let mut seen = HashSet::new();
    let mut cursor = "0".to_string();
    let mut pages = 0;
    loop {
        let reply = c
            .cmd(&["SCAN", &cursor, "MATCH", "user:*", "COUNT", "25"])
            .items();
        cursor = reply[0].text();
        cursor.parse::<u64>().expect("numeric cursor");
        for key in reply[1].strings() {
            assert!(seen.insert(key), "duplicate in one full scan");
        }
        pages += 1;
        if cursor == "0" {
            break;
        }
    }
    assert_eq!(seen.len(), 300);
    assert!(pages > 5, "COUNT bounds the page size ({pages} pages)");
    let typed = c
        .cmd(&["SCAN", "0", "TYPE", "hash", "COUNT", "1000"])
        .items();
    assert!(typed[1].items().is_empty());
    let strings = c
        .cmd(&["SCAN", "0", "TYPE", "string", "COUNT", "1000"])
        .items();
    assert_eq!(strings[1].items().len(), 301);
    assert_eq!(
        c.cmd(&["SCAN", "0", "COUNT", "0"]),
        Reply::err("ERR syntax error")
    );
    assert_eq!(
        c.cmd(&["SCAN", "0", "BOGUS", "1"]),
        Reply::err("ERR syntax error")
    );
    assert_eq!(c.cmd(&["SCAN", "abc"]), Reply::err("ERR invalid cursor"));
    let random = c.cmd(&["RANDOMKEY"]).text();
    assert!(random.starts_with("user:") || random == "other");
    // The redis crate's scan iterator works unmodified.
    let mut con = server.client();
    let iter: redis::Iter<String> = redis::cmd("SCAN")
        .cursor_arg(0)
        .arg("MATCH")
        .arg("user:*")
        .clone()
        .iter(&mut con)
        .unwrap();
    assert_eq!(iter.collect::<HashSet<_>>().len(), 300);
}

/// Kvrocks' `RDB LOAD`: an RDB file written by the real redis-server (`SAVE`), with
/// every type in Redis' compact and plain encodings, two databases, an expiry; NX keeps
/// existing keys; a damaged file is refused.
#[test]
fn rdb_load_reads_what_redis_server_saved() {
    let redis = common::RedisServer::start();
    let mut r = redis.raw();
    let mut big = vec!["RPUSH".to_string(), "biglist".into()];
    big.extend((0..601).map(|i| format!("{}", i * 100_003)));
    let big: Vec<&str> = big.iter().map(String::as_str).collect();
    r.cmd(&big);
    r.cmd_table(
        "
        SET s hello
        SET n 12345
        SET ttl x
        PEXPIRE ttl 100000
        RPUSH l a b c
        HSET h f1 v1 f2 v2
        SADD ints 1 2 3
        SADD words x y
        ZADD z 1.5 a 2 b
        XADD st 1-1 field value
        SET keep redis
        SELECT 1
        SET only-in-db-1 yes
        SELECT 0
        ",
    );
    let mut long_hash = vec!["HSET".to_string(), "bighash".into()];
    for i in 0..300 {
        long_hash.push(format!("field-{i}"));
        long_hash.push("v".repeat(80));
    }
    let long_hash: Vec<&str> = long_hash.iter().map(String::as_str).collect();
    r.cmd(&long_hash);
    assert_eq!(r.cmd(&["SAVE"]), Reply::ok());
    let dir = r.cmd(&["CONFIG", "GET", "dir"]).strings()[1].clone();
    let file = std::path::Path::new(&dir).join("dump.rdb");
    let path = file.display().to_string();

    let server = TestServer::start(&[]);
    let mut c = server.raw();
    c.cmd(&["SET", "keep", "ferrokv"]);
    assert_eq!(c.cmd(&["RDB", "LOAD", &path, "NX"]), Reply::ok());
    assert_eq!(c.cmd(&["GET", "keep"]), Reply::bulk("ferrokv"));
    assert_eq!(c.cmd(&["GET", "s"]), Reply::bulk("hello"));
    assert_eq!(c.cmd(&["GET", "n"]), Reply::bulk("12345"));
    let pttl = c.cmd(&["PTTL", "ttl"]).int();
    assert!((90_000..=100_000).contains(&pttl), "{pttl}");
    assert_eq!(
        c.cmd(&["LRANGE", "l", "0", "-1"]).strings(),
        ["a", "b", "c"]
    );
    assert_eq!(c.cmd(&["LLEN", "biglist"]), Reply::Int(601));
    assert_eq!(
        c.cmd(&["LINDEX", "biglist", "600"]),
        Reply::bulk("60001800")
    );
    assert_eq!(c.cmd(&["HGET", "h", "f2"]), Reply::bulk("v2"));
    assert_eq!(c.cmd(&["HLEN", "bighash"]), Reply::Int(300));
    assert_eq!(c.cmd(&["SMEMBERS", "ints"]).strings().len(), 3);
    assert_eq!(c.cmd(&["SISMEMBER", "words", "y"]), Reply::Int(1));
    assert_eq!(c.cmd(&["ZSCORE", "z", "a"]), Reply::bulk("1.5"));
    assert_eq!(c.cmd(&["XLEN", "st"]), Reply::Int(1));
    assert_eq!(c.cmd(&["EXISTS", "only-in-db-1"]), Reply::Int(0));
    // Without NX the file's keys replace; DB picks the database.
    assert_eq!(c.cmd(&["RDB", "LOAD", &path]), Reply::ok());
    assert_eq!(c.cmd(&["GET", "keep"]), Reply::bulk("redis"));
    assert_eq!(c.cmd(&["RDB", "load", &path, "DB", "1"]), Reply::ok());
    assert_eq!(c.cmd(&["GET", "only-in-db-1"]), Reply::bulk("yes"));

    let mut damaged = std::fs::read(&file).expect("read dump.rdb");
    let middle = damaged.len() / 2;
    damaged[middle] ^= 0x55;
    let damaged_path = std::path::Path::new(&dir).join("damaged.rdb");
    std::fs::write(&damaged_path, &damaged).expect("write");
    let reply = c.cmd(&["RDB", "LOAD", &damaged_path.display().to_string()]);
    assert!(
        reply == Reply::err("ERR DUMP payload version or checksum are wrong")
            || reply == Reply::err("ERR Bad data format"),
        "{reply:?}"
    );
    std::fs::write(&damaged_path, b"REDIS0009\xff").expect("write");
    assert_eq!(
        c.cmd(&["RDB", "LOAD", &damaged_path.display().to_string()]),
        Reply::err("ERR Bad data format")
    );
    // Expiries Redis reads as negative (2^63 ms and above) are in the past.
    let mut forged = b"REDIS0009\xfe\x00\xfc".to_vec();
    forged.extend_from_slice(&[0xff; 8]);
    forged.extend_from_slice(b"\x00\x05never\x01v\xff");
    forged.extend_from_slice(&[0; 8]);
    std::fs::write(&damaged_path, &forged).expect("write");
    let forged_path = damaged_path.display().to_string();
    assert_eq!(c.cmd(&["RDB", "LOAD", &forged_path]), Reply::ok());
    assert_eq!(c.cmd(&["EXISTS", "never"]), Reply::Int(0));
    for not_a_file in ["/no/such/file.rdb", "/dev/zero", "/tmp"] {
        let reply = c.cmd(&["RDB", "LOAD", not_a_file]);
        let refused = matches!(&reply, Reply::Error(e) if e.starts_with("ERR cannot read"));
        assert!(refused, "{not_a_file}: {reply:?}");
    }
    assert_eq!(
        c.cmd(&["RDB", "SAVE", &path]),
        Reply::err("ERR unknown subcommand")
    );
    assert_eq!(
        c.cmd(&["RDB", "LOAD", &path, "XX"]),
        Reply::err("ERR syntax error")
    );
    assert_eq!(c.cmd(&["PING"]), Reply::Status("PONG".into()));
}
