//! Bad input never crashes or wedges the server.

mod common;
use std::io::{Read, Write};
use std::time::{Duration, Instant};

use common::{Raw, Reply, TestServer};

fn error_then_close(server: &TestServer, bytes: &[u8]) -> String {
    let mut c = server.raw();
    c.send(bytes);
    let reply = c.read();
    assert!(c.is_closed(), "connection must be closed after {reply:?}");
    match reply {
        Reply::Error(text) => text,
        other => panic!("expected a protocol error, got {other:?}"),
    }
}

#[test]
fn malformed_requests_get_protocol_errors_and_the_server_survives() {
    let server = TestServer::start(&[]);
    assert_eq!(
        error_then_close(&server, b"*abc\r\n"),
        "ERR Protocol error: invalid multibulk length"
    );
    assert_eq!(
        error_then_close(&server, b"*2\r\n$3\r\nGET\r\n:1\r\n"),
        "ERR Protocol error: expected '$', got ':'"
    );
    assert_eq!(
        error_then_close(&server, b"*1\r\n$-5\r\n"),
        "ERR Protocol error: invalid bulk length"
    );
    assert_eq!(
        error_then_close(&server, b"*1\r\n$99999999999999999999\r\n"),
        "ERR Protocol error: invalid bulk length"
    );
    assert_eq!(
        error_then_close(&server, b"*1\r\n$536870913\r\n"),
        "ERR Protocol error: invalid bulk length"
    );
    assert_eq!(
        error_then_close(&server, b"*99999999\r\n"),
        "ERR Protocol error: invalid multibulk length"
    );
    assert_eq!(
        error_then_close(&server, b"SET \"unbalanced\r\n"),
        "ERR Protocol error: unbalanced quotes in request"
    );
    let long_inline = vec![b'a'; 70 * 1024];
    assert_eq!(
        error_then_close(&server, &long_inline),
        "ERR Protocol error: too big inline request"
    );
    // Still serving.
    assert_eq!(server.raw().cmd(&["PING"]), Reply::Status("PONG".into()));
}

#[test]
fn quirks_redis_tolerates_are_tolerated() {
    let server = TestServer::start(&[]);
    let mut c = server.raw();
    // Empty and null multibulks are ignored; the next command is answered.
    c.send(b"*0\r\n*-1\r\n*1\r\n$4\r\nPING\r\n");
    assert_eq!(c.read(), Reply::Status("PONG".into()));
    // Inline commands, as telnet and redis-cli send them, with quoting.
    c.send(b"SET inline \"hello world\"\r\nGET inline\n\r\n");
    assert_eq!(c.read(), Reply::ok());
    assert_eq!(c.read(), Reply::bulk("hello world"));
    // Pipelining: many commands in one write, answered in order.
    let mut batch = Vec::new();
    for i in 0..500 {
        batch.extend(Raw::encode(&[b"INCR", b"counter"]));
        let _ = i;
    }
    c.send(&batch);
    for i in 1..=500 {
        assert_eq!(c.read(), Reply::Int(i));
    }
    // A command split into single bytes is still one command.
    for byte in Raw::encode(&[b"ECHO", b"split"]) {
        c.send(&[byte]);
    }
    assert_eq!(c.read(), Reply::bulk("split"));
}

#[test]
fn big_values_up_to_the_limit_and_a_lowered_limit() {
    let server = TestServer::start(&[]);
    let mut c = server.raw();
    let big = vec![b'x'; 20 * 1024 * 1024];
    assert_eq!(c.cmd_bytes(&[b"SET", b"big", &big]), Reply::ok());
    assert_eq!(c.cmd(&["STRLEN", "big"]), Reply::Int(big.len() as i64));
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "proto-max-bulk-len", "1048576"]),
        Reply::ok()
    );
    let mut fresh = server.raw();
    fresh.send(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2000000\r\n");
    assert_eq!(
        fresh.read(),
        Reply::err("ERR Protocol error: invalid bulk length")
    );
}

#[test]
fn half_sent_commands_and_idle_clients_do_not_block_others() {
    let server = TestServer::start(&[]);
    let mut stalled = common::connect_retrying(server.port);
    stalled
        .write_all(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$100\r\nonly-a-bit")
        .unwrap();
    let mut idle = Vec::new();
    for _ in 0..2000 {
        idle.push(common::connect_retrying(server.port));
    }
    let start = Instant::now();
    let mut c = server.raw();
    assert_eq!(c.cmd(&["SET", "other", "ok"]), Reply::ok());
    assert_eq!(c.cmd(&["GET", "other"]), Reply::bulk("ok"));
    assert!(start.elapsed() < Duration::from_secs(2));
    // Connections are registered by the thread that serves them: give it a moment.
    let deadline = Instant::now() + Duration::from_secs(10);
    while common::info_field(&mut c, "clients", "connected_clients") < 2002 {
        assert!(
            Instant::now() < deadline,
            "idle connections were not all accepted"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // The stalled client finishes its command later and gets its reply.
    stalled.write_all(&[b'y'; 90]).unwrap();
    stalled.write_all(b"\r\n").unwrap();
    let mut reply = [0u8; 5];
    stalled
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stalled.read_exact(&mut reply).unwrap();
    assert_eq!(&reply, b"+OK\r\n");
}

#[test]
fn random_garbage_never_kills_the_server() {
    let server = TestServer::start(&[]);
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for _ in 0..300 {
        let mut stream = common::connect_retrying(server.port);
        stream
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let len = (next() % 200) as usize;
        let alphabet = b"*$:+-\r\n0123456789abcSETGET \"'\\x";
        let garbage: Vec<u8> = (0..len)
            .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
            .collect();
        let _ = stream.write_all(&garbage);
        let mut sink = [0u8; 1024];
        let _ = stream.read(&mut sink);
    }
    assert_eq!(server.raw().cmd(&["PING"]), Reply::Status("PONG".into()));
}

#[test]
fn huge_random_pick_counts_are_refused_not_fatal() {
    let server = TestServer::start(&[]);
    let mut c = server.raw();
    c.cmd(&["SADD", "s", "a", "b"]);
    c.cmd(&["HSET", "h", "f", "v"]);
    c.cmd(&["ZADD", "z", "1", "m"]);
    for cmd in [
        &["SRANDMEMBER", "s", "-1000000000"][..],
        &["HRANDFIELD", "h", "-1000000000"],
        &["ZRANDMEMBER", "z", "-1000000000"],
    ] {
        assert_eq!(
            c.cmd(cmd),
            Reply::err("ERR value is out of range"),
            "{cmd:?}"
        );
    }
    assert_eq!(c.cmd(&["SRANDMEMBER", "s", "-5"]).items().len(), 5);
    assert_eq!(
        c.cmd(&["SRANDMEMBER", "missing", "-1000000000"]),
        Reply::Array(vec![])
    );
    assert_eq!(c.cmd(&["PING"]), Reply::Status("PONG".into()));
}
