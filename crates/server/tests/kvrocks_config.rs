//! What Kvrocks' own tests (tests/gocase) rely on when they start a node: the config
//! lines they write (`resp3-enabled`, `txn-context-enabled`, `rename-command`, ...),
//! `DEBUG PROTOCOL` and `DEBUG SLEEP`, and HELLO's Kvrocks forms.

mod common;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{Reply, TestServer, BIN};

/// A server started from a config file holding `lines` (as Kvrocks' test harness does:
/// `name value` lines, then `-c <file>`).
fn start_with_file(lines: &[&str], extra: &[&str]) -> (TestServer, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("kvrocks.conf");
    std::fs::write(&conf, lines.join("\n") + "\n").unwrap();
    let mut args = vec!["-c", conf.to_str().unwrap()];
    args.extend_from_slice(extra);
    (TestServer::start(&args), dir)
}

#[test]
fn the_options_kvrocks_tests_write_load_and_read_back() {
    let lines = [
        "cluster-enabled no",
        "resp3-enabled no",
        "txn-context-enabled yes",
        "use-rsid-psync yes",
        "redis-cursor-compatible yes",
        "rocksdb.read_options.async_io yes",
        "rocksdb.block_size 100",
        "rocksdb.write_options.write_batch_max_bytes 0",
        "log-retention-days 0",
        "max-bitmap-to-string-mb 16",
        "profiling-sample-ratio 0",
        "backup-dir /tmp/backup",
        "rocksdb.target_file_size_base 16",
        "rocksdb.max_write_buffer_number 2",
        "repl-namespace-enabled no",
        "migrate-type redis-command",
    ];
    let (server, _conf) = start_with_file(&lines, &[]);
    let mut c = server.raw();
    for line in lines {
        let (name, value) = line.split_once(' ').unwrap();
        assert_eq!(
            c.cmd(&["CONFIG", "GET", name]),
            Reply::Array(vec![Reply::bulk(name), Reply::bulk(value)]),
            "{name}"
        );
    }
    for (name, value) in [("txn-context-enabled", "no"), ("resp3-enabled", "yes")] {
        assert_eq!(c.cmd(&["CONFIG", "SET", name, value]), Reply::ok());
        assert_eq!(
            c.cmd(&["CONFIG", "GET", name]),
            Reply::Array(vec![Reply::bulk(name), Reply::bulk(value)])
        );
    }
    assert!(c
        .cmd(&["CONFIG", "SET", "txn-context-enabled", "maybe"])
        .text()
        .contains("txn-context-enabled"));
    // The block size shapes the files as they are written: read-only, as in Kvrocks.
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "rocksdb.block_size", "4096"]).text(),
        "ERR CONFIG SET failed (possibly related to argument 'rocksdb.block_size') - can't set immutable config"
    );
    // And the node with 100-byte blocks stores and reads back as any other.
    let value = "v".repeat(1000);
    for i in 0..200 {
        assert_eq!(c.cmd(&["SET", &format!("k{i}"), &value]), Reply::ok());
    }
    assert_eq!(c.cmd(&["GET", "k199"]), Reply::bulk(&value));
}

#[test]
fn hello_3_stays_in_resp2_while_resp3_is_disabled() {
    let server = TestServer::start(&["--resp3-enabled", "no"]);
    let mut c = server.raw();
    let hello = c.cmd_wire(&["HELLO", "3"]);
    assert!(hello.starts_with("*14\r\n"), "{hello}");
    assert!(hello.contains("$5\r\nproto\r\n:2\r\n"), "{hello}");
    assert_eq!(c.cmd_wire(&["DEBUG", "PROTOCOL", "null"]), "$-1\r\n");
    // Enabled again at run time: the next HELLO 3 switches.
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "resp3-enabled", "yes"]),
        Reply::ok()
    );
    let hello = c.cmd_wire(&["HELLO", "3"]);
    assert!(hello.starts_with("%7\r\n"), "{hello}");
    assert!(hello.contains("$5\r\nproto\r\n:3\r\n"), "{hello}");
    assert_eq!(c.cmd_wire(&["DEBUG", "PROTOCOL", "null"]), "_\r\n");
}

#[test]
fn rename_command_renames_and_removes_commands() {
    let (server, _conf) = start_with_file(
        &[
            "rename-command KEYS RENAMED_KEYS",
            "rename-command CONFIG ''",
            "rename-command get \"GETNEW\"",
        ],
        &[],
    );
    let mut c = server.raw();
    assert_eq!(
        c.cmd(&["KEYS", "*"]),
        Reply::err("ERR unknown command 'KEYS', with args beginning with: '*' ")
    );
    assert!(c
        .cmd(&["CONFIG", "GET", "port"])
        .text()
        .starts_with("ERR unknown command 'CONFIG'"));
    assert!(c
        .cmd(&["GET", "k"])
        .text()
        .starts_with("ERR unknown command 'GET'"));
    assert_eq!(c.cmd(&["SET", "k", "v"]), Reply::ok());
    assert_eq!(c.cmd(&["getnew", "k"]), Reply::bulk("v"));
    assert_eq!(
        c.cmd(&["renamed_keys", "*"]),
        Reply::Array(vec![Reply::bulk("k")])
    );
    // COMMAND INFO knows the new name only, and shows the command's own name.
    assert_eq!(
        c.cmd(&["COMMAND", "INFO", "KEYS"]),
        Reply::Array(vec![Reply::Nil])
    );
    let info = c.cmd(&["COMMAND", "INFO", "RENAMED_KEYS"]).items();
    assert_eq!(info[0].items()[0], Reply::bulk("keys"));
    drop(server);

    let (server, _conf) = start_with_file(
        &["rename-command GET GETNEW", "rename-command SET SETNEW"],
        &[],
    );
    let mut c = server.raw();
    assert_eq!(
        c.cmd(&["CONFIG", "GET", "rename-command"]),
        Reply::Array(vec![
            Reply::bulk("rename-command"),
            Reply::bulk("GET GETNEW"),
            Reply::bulk("rename-command"),
            Reply::bulk("SET SETNEW"),
        ])
    );
}

#[test]
fn rename_command_errors_stop_the_start_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    for (line, expected) in [
        ("rename-command NOSUCH X", "no such command 'NOSUCH'"),
        ("rename-command KEYS", "option 'rename-command'"),
        ("rename-command KEYS A B", "option 'rename-command'"),
        (
            "rename-command GET set",
            "target command name 'set' already exists",
        ),
    ] {
        let conf = dir.path().join("bad.conf");
        std::fs::write(&conf, format!("{line}\n")).unwrap();
        let out = Command::new(BIN)
            .args(["-c", conf.to_str().unwrap(), "--port", "0", "--dir"])
            .arg(&data)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_ne!(out.status.code(), Some(0), "{line}");
        assert_eq!(err.lines().count(), 1, "{line}: {err}");
        assert!(err.contains(expected), "{line}: {err}");
        assert!(!data.exists(), "{line} created the data dir");
    }
}

#[test]
fn debug_protocol_replies_each_type_as_kvrocks() {
    let server = TestServer::start(&[]);
    let mut c = server.raw();
    let cases = [
        ("string", "$11\r\nHello World\r\n", "$11\r\nHello World\r\n"),
        ("integer", ":12345\r\n", ":12345\r\n"),
        ("double", "$5\r\n3.141\r\n", ",3.141\r\n"),
        (
            "array",
            "*3\r\n:0\r\n:1\r\n:2\r\n",
            "*3\r\n:0\r\n:1\r\n:2\r\n",
        ),
        (
            "set",
            "*3\r\n:0\r\n:1\r\n:2\r\n",
            "~3\r\n:0\r\n:1\r\n:2\r\n",
        ),
        (
            "map",
            "*6\r\n:0\r\n:0\r\n:1\r\n:1\r\n:2\r\n:0\r\n",
            "%3\r\n:0\r\n#f\r\n:1\r\n#t\r\n:2\r\n#f\r\n",
        ),
        (
            "bignum",
            "$37\r\n1234567999999999999999999999999999999\r\n",
            "(1234567999999999999999999999999999999\r\n",
        ),
        ("true", ":1\r\n", "#t\r\n"),
        ("false", ":0\r\n", "#f\r\n"),
        ("null", "$-1\r\n", "_\r\n"),
        (
            "attrib",
            "|1\r\n$14\r\nkey-popularity\r\n*2\r\n$7\r\nkey:123\r\n:90\r\n",
            "|1\r\n$14\r\nkey-popularity\r\n*2\r\n$7\r\nkey:123\r\n:90\r\n",
        ),
        (
            "verbatim",
            "$15\r\nverbatim string\r\n",
            "=19\r\ntxt:verbatim string\r\n",
        ),
    ];
    for (kind, resp2, _) in cases {
        assert_eq!(c.cmd_wire(&["DEBUG", "PROTOCOL", kind]), resp2, "{kind}");
    }
    c.cmd(&["HELLO", "3"]);
    for (kind, _, resp3) in cases {
        assert_eq!(c.cmd_wire(&["DEBUG", "PROTOCOL", kind]), resp3, "{kind}");
    }
    assert!(c
        .cmd(&["DEBUG", "PROTOCOL", "nosuch"])
        .text()
        .contains("Wrong protocol type name"));
}

#[test]
fn debug_sleep_freezes_the_node_as_in_redis() {
    let server = TestServer::start(&[]);
    let mut sleeper = server.raw();
    let mut other = server.raw();
    assert_eq!(other.cmd(&["PING"]), Reply::Status("PONG".into()));
    let start = Instant::now();
    sleeper.send(&common::Raw::encode(&[b"DEBUG", b"SLEEP", b"1"]));
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(other.cmd(&["SET", "k", "v"]), Reply::ok());
    assert!(start.elapsed() >= Duration::from_millis(900));
    assert_eq!(sleeper.read(), Reply::ok());
}

#[test]
fn hello_takes_kvrocks_password_only_auth_and_tells_the_role() {
    let server = TestServer::start(&["--requirepass", "foobar"]);
    let mut c = server.raw();
    // Kvrocks' form: AUTH <password>, then SETNAME.
    let hello = c.cmd(&["HELLO", "2", "AUTH", "foobar", "SETNAME", "kvrocks"]);
    let fields = hello.items();
    assert_eq!(fields[10], Reply::bulk("role"));
    assert_eq!(fields[11], Reply::bulk("master"));
    assert_eq!(c.cmd(&["CLIENT", "GETNAME"]), Reply::bulk("kvrocks"));
    // Redis' form: AUTH <user> <password>.
    let mut c = server.raw();
    assert!(matches!(
        c.cmd(&["HELLO", "3", "AUTH", "default", "foobar"]),
        Reply::Map(_)
    ));
    let mut c = server.raw();
    assert!(c
        .cmd(&["HELLO", "3", "AUTH", "wrong"])
        .text()
        .starts_with("WRONGPASS"));

    let replica = TestServer::start(&["--masterauth", "foobar"]);
    let mut r = replica.raw();
    assert_eq!(
        r.cmd(&["SLAVEOF", "127.0.0.1", &server.port.to_string()]),
        Reply::ok()
    );
    let fields = r.cmd(&["HELLO", "2"]).items();
    assert_eq!(fields[11], Reply::bulk("replica"));
}

#[test]
fn dbsize_scan_is_accepted_as_in_kvrocks() {
    let server = TestServer::start(&[]);
    let mut c = server.raw();
    c.cmd(&["SET", "a", "1"]);
    assert_eq!(c.cmd(&["DBSIZE", "SCAN"]), Reply::ok());
    assert_eq!(c.cmd(&["DBSIZE"]), Reply::Int(1));
    assert_eq!(
        c.cmd(&["DBSIZE", "nosuch"]),
        Reply::err("ERR DBSIZE subcommand only supports scan")
    );
}
