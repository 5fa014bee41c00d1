//! Connection and server commands against a real server.

mod common;
use std::time::{Duration, Instant};

use common::{Raw, Reply, TestServer};

#[test]
fn connection_commands() {
    let server = TestServer::start(&[]);
    let mut c = server.raw();
    assert_eq!(c.cmd(&["PING"]), Reply::Status("PONG".into()));
    assert_eq!(c.cmd(&["ping", "hi"]), Reply::bulk("hi"));
    assert_eq!(
        c.cmd(&["PING", "a", "b"]),
        Reply::err("ERR wrong number of arguments for 'ping' command")
    );
    assert_eq!(c.cmd(&["ECHO", "x y"]), Reply::bulk("x y"));
    assert_eq!(c.cmd(&["SELECT", "0"]), Reply::ok());
    assert_eq!(
        c.cmd(&["SELECT", "1"]),
        Reply::err("ERR DB index is out of range")
    );
    assert_eq!(
        c.cmd(&["NOSUCH", "a", "b"]),
        Reply::err("ERR unknown command 'NOSUCH', with args beginning with: 'a' 'b' ")
    );
    assert_eq!(
        c.cmd(&["NOSUCH"]),
        Reply::err("ERR unknown command 'NOSUCH', with args beginning with: ")
    );
    assert_eq!(c.cmd(&["CLIENT", "SETNAME", "worker-1"]), Reply::ok());
    assert_eq!(c.cmd(&["CLIENT", "GETNAME"]), Reply::bulk("worker-1"));
    assert_eq!(
        c.cmd(&["CLIENT", "SETNAME", "has space"]),
        Reply::err("ERR Client names cannot contain spaces, newlines or special characters.")
    );
    let id = c.cmd(&["CLIENT", "ID"]).int();
    let list = c.cmd(&["CLIENT", "LIST"]).text();
    assert!(list.contains(&format!("id={id} ")), "{list}");
    assert!(list.contains("name=worker-1"), "{list}");
    assert_eq!(c.cmd(&["CLIENT", "SETINFO", "LIB-NAME", "x"]), Reply::ok());
    assert_eq!(
        c.cmd(&["CLIENT", "BOGUS"]),
        Reply::err("ERR unknown subcommand 'BOGUS'. Try CLIENT HELP.")
    );
    // CLIENT KILL closes another connection.
    let mut victim = server.raw();
    let victim_id = victim.cmd(&["CLIENT", "ID"]).int();
    assert_eq!(
        c.cmd(&["CLIENT", "KILL", "ID", &victim_id.to_string()]),
        Reply::Int(1)
    );
    assert!(victim.is_closed());
    let mut victim = server.raw();
    // Once it has answered, the server has registered the connection.
    assert_eq!(victim.cmd(&["PING"]), Reply::Status("PONG".into()));
    let addr = victim.stream.local_addr().unwrap().to_string();
    assert_eq!(c.cmd(&["CLIENT", "KILL", &addr]), Reply::ok());
    assert!(victim.is_closed());
    assert_eq!(
        c.cmd(&["CLIENT", "KILL", "1.2.3.4:5"]),
        Reply::err("ERR No such client")
    );
    assert_eq!(c.cmd(&["QUIT"]), Reply::ok());
    assert!(c.is_closed());
}

#[test]
fn hello_switches_to_resp3() {
    let server = TestServer::start(&[]);
    let mut c = server.raw();
    let hello = c.cmd(&["HELLO", "3"]);
    let Reply::Map(fields) = hello else {
        panic!("HELLO 3 replies a map: {hello:?}")
    };
    assert!(fields.contains(&(Reply::bulk("proto"), Reply::Int(3))));
    assert!(fields.contains(&(Reply::bulk("mode"), Reply::bulk("standalone"))));
    assert_eq!(c.cmd(&["GET", "missing"]), Reply::Nil);
    c.send(&Raw::encode(&[b"GET", b"missing"]));
    // RESP3 null is `_`.
    let mut line = [0u8; 3];
    std::io::Read::read_exact(&mut c.stream, &mut line).unwrap();
    assert_eq!(&line, b"_\r\n");
    let mut c = server.raw();
    assert_eq!(
        c.cmd(&["HELLO", "4"]),
        Reply::err("NOPROTO unsupported protocol version")
    );
    assert_eq!(
        c.cmd(&["HELLO", "x"]),
        Reply::err("ERR Protocol version is not an integer or out of range")
    );
    let hello2 = c.cmd(&["HELLO", "2"]);
    assert!(
        matches!(hello2, Reply::Array(ref a) if a.len() == 14),
        "{hello2:?}"
    );
    // The redis crate's RESP3 mode works too.
    let client = redis::Client::open(format!("{}?protocol=resp3", server.url())).unwrap();
    let mut con = client.get_connection().unwrap();
    redis::cmd("SET")
        .arg("r3")
        .arg("v")
        .query::<()>(&mut con)
        .unwrap();
    let v: String = redis::cmd("GET").arg("r3").query(&mut con).unwrap();
    assert_eq!(v, "v");
}

#[test]
fn requirepass_and_auth() {
    let server = TestServer::start(&["--requirepass", "s3cret"]);
    let mut c = server.raw();
    assert_eq!(
        c.cmd(&["GET", "a"]),
        Reply::err("NOAUTH Authentication required.")
    );
    assert_eq!(
        c.cmd(&["NOSUCH"]),
        Reply::err("NOAUTH Authentication required.")
    );
    assert_eq!(
        c.cmd(&["AUTH", "wrong"]),
        Reply::err("WRONGPASS invalid username-password pair or user is disabled.")
    );
    assert_eq!(c.cmd(&["AUTH", "s3cret"]), Reply::ok());
    assert_eq!(c.cmd(&["SET", "a", "1"]), Reply::ok());
    let mut d = server.raw();
    assert_eq!(c.cmd(&["PING"]), Reply::Status("PONG".into()));
    assert!(matches!(
        d.cmd(&["HELLO", "3", "AUTH", "default", "s3cret"]),
        Reply::Map(_)
    ));
    assert_eq!(d.cmd(&["GET", "a"]), Reply::bulk("1"));
    let client =
        redis::Client::open(format!("redis://:s3cret@127.0.0.1:{}/", server.port)).unwrap();
    let mut con = client.get_connection().unwrap();
    let v: String = redis::cmd("GET").arg("a").query(&mut con).unwrap();
    assert_eq!(v, "1");
    let open = TestServer::start(&[]);
    assert_eq!(
        open.raw().cmd(&["AUTH", "x"]),
        Reply::err("ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?")
    );
}

#[test]
fn info_config_command_and_friends() {
    let server = TestServer::start(&[]);
    let mut c = server.raw();
    let info = c.cmd(&["INFO"]).text();
    for section in [
        "# Server",
        "# Clients",
        "# Memory",
        "# Persistence",
        "# Stats",
        "# Replication",
        "# Keyspace",
        "# Cluster",
    ] {
        assert!(info.contains(section), "INFO lacks {section}");
    }
    assert!(info.contains(&format!("tcp_port:{}\r\n", server.port)));
    c.cmd(&["SET", "k", "v", "EX", "100"]);
    c.cmd(&["SET", "k2", "v"]);
    let keyspace = c.cmd(&["INFO", "keyspace"]).text();
    assert!(
        keyspace.contains("db0:keys=2,expires=1,avg_ttl=0"),
        "{keyspace}"
    );
    assert!(!keyspace.contains("# Server"));
    assert_eq!(c.cmd(&["DBSIZE"]), Reply::Int(2));

    assert_eq!(
        c.cmd(&["CONFIG", "GET", "port"]),
        Reply::Array(vec![
            Reply::bulk("port"),
            Reply::bulk(&server.port.to_string())
        ])
    );
    assert_eq!(c.cmd(&["CONFIG", "GET", "nosuch"]), Reply::Array(vec![]));
    assert!(c.cmd(&["CONFIG", "GET", "*"]).items().len() > 20);
    assert_eq!(c.cmd(&["CONFIG", "SET", "maxclients", "500"]), Reply::ok());
    assert_eq!(
        c.cmd(&["CONFIG", "GET", "maxclients"]).items()[1],
        Reply::bulk("500")
    );
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "nosuch", "1"]),
        Reply::err("ERR Unknown option or number of arguments for CONFIG SET - 'nosuch'")
    );
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "port", "1"]),
        Reply::err("ERR CONFIG SET failed (possibly related to argument 'port') - can't set immutable config")
    );
    assert!(c
        .cmd(&["CONFIG", "SET", "maxclients", "lots"])
        .text()
        .starts_with("ERR CONFIG SET failed (possibly related to argument 'maxclients')"));
    assert_eq!(
        c.cmd(&["CONFIG", "REWRITE"]),
        Reply::err("ERR The server is running without a config file")
    );
    assert_eq!(
        c.cmd(&["CONFIG", "BOGUS"]),
        Reply::err("ERR unknown subcommand 'BOGUS'. Try CONFIG HELP.")
    );

    let count = c.cmd(&["COMMAND", "COUNT"]).int();
    assert!(count > 60, "{count}");
    assert_eq!(c.cmd(&["COMMAND"]).items().len() as i64, count);
    let get = c.cmd(&["COMMAND", "INFO", "get", "nosuch"]).items();
    assert_eq!(get[0].items()[0], Reply::bulk("get"));
    assert_eq!(get[0].items()[1], Reply::Int(2));
    assert_eq!(get[1], Reply::Nil);
    assert_eq!(
        c.cmd(&["COMMAND", "GETKEYS", "MSET", "a", "1", "b", "2"])
            .strings(),
        vec!["a", "b"]
    );
    assert_eq!(
        c.cmd(&["COMMAND", "GETKEYS", "PING"]),
        Reply::err("ERR The command has no key arguments")
    );
    assert_eq!(
        c.cmd(&["COMMAND", "GETKEYS", "NOSUCH", "a"]),
        Reply::err("ERR Invalid command specified")
    );
    assert_eq!(
        c.cmd(&["COMMAND", "GETKEYS", "GET"]),
        Reply::err("ERR Invalid number of arguments specified for command")
    );
    assert!(matches!(c.cmd(&["COMMAND", "DOCS", "get"]), Reply::Array(ref a) if a.len() == 2));

    let time = c.cmd(&["TIME"]).strings();
    assert!(time[0].parse::<u64>().unwrap() > 1_700_000_000);
    assert!(time[1].parse::<u32>().unwrap() < 1_000_000);

    assert_eq!(c.cmd(&["FLUSHDB"]), Reply::ok());
    assert_eq!(c.cmd(&["DBSIZE"]), Reply::Int(0));
    c.cmd(&["SET", "k", "v"]);
    assert_eq!(c.cmd(&["FLUSHALL", "ASYNC"]), Reply::ok());
    assert_eq!(c.cmd(&["DBSIZE"]), Reply::Int(0));
    assert_eq!(c.cmd(&["FLUSHALL", "NOW"]), Reply::err("ERR syntax error"));
}

#[test]
fn config_rewrite_keeps_the_file_and_applies_on_restart() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("node.conf");
    let port_file = dir.path().join("port");
    std::fs::write(
        &conf,
        format!(
            "# my node\nport 0\nport-file {}\ndir {}\nmaxclients 100\nlog-level warning\n",
            port_file.display(),
            dir.path().join("data").display()
        ),
    )
    .unwrap();
    let mut child = std::process::Command::new(common::BIN)
        .arg(&conf)
        .spawn()
        .unwrap();
    let port = loop {
        if let Some(port) = common::read_port_file(&port_file) {
            break port;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut c = Raw::connect(port);
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "maxclients", "200", "timeout", "30"]),
        Reply::ok()
    );
    assert_eq!(c.cmd(&["CONFIG", "REWRITE"]), Reply::ok());
    let text = std::fs::read_to_string(&conf).unwrap();
    assert!(text.starts_with("# my node\n"), "{text}");
    assert!(text.contains("maxclients 200\n"), "{text}");
    assert!(text.contains("timeout 30\n"), "{text}");
    assert!(!text.contains("maxclients 100"), "{text}");
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn shutdown_and_sigterm_exit_cleanly() {
    let mut server = TestServer::start(&[]);
    let mut c = server.raw();
    c.cmd(&["SET", "k", "v"]);
    assert_eq!(
        c.cmd(&["SHUTDOWN", "ABORT"]),
        Reply::err("ERR No shutdown in progress.")
    );
    c.send(&Raw::encode(&[b"SHUTDOWN"]));
    assert!(c.is_closed());
    assert!(server.wait_exit().success());
    server.restart();
    assert_eq!(server.raw().cmd(&["GET", "k"]), Reply::bulk("v"));
    assert!(server.terminate().success());
}

#[test]
fn idle_clients_are_closed_after_timeout() {
    let server = TestServer::start(&["--timeout", "1"]);
    let mut idle = server.raw();
    assert_eq!(idle.cmd(&["PING"]), Reply::Status("PONG".into()));
    let mut busy = server.raw();
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(1600) {
        assert_eq!(busy.cmd(&["PING"]), Reply::Status("PONG".into()));
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        idle.is_closed(),
        "an idle client is closed after `timeout` seconds"
    );
    assert_eq!(
        busy.cmd(&["PING"]),
        Reply::Status("PONG".into()),
        "an active one is not"
    );
}

/// Kvrocks' INFO rocksdb fields of RocksDB's background work: flushes and compactions
/// show while they run, and all four are 0 once the node is quiet.
#[test]
fn info_rocksdb_shows_background_work_until_it_settles() {
    let server = TestServer::start(&["--rocksdb.write_buffer_size", "1"]);
    let mut c = server.raw();
    let value = "v".repeat(1000);
    let mut pipeline = Vec::new();
    for i in 0..5000 {
        pipeline.extend(Raw::encode(&[
            b"SET",
            format!("k{i}").as_bytes(),
            value.as_bytes(),
        ]));
    }
    c.send(&pipeline);
    for _ in 0..5000 {
        assert_eq!(c.read(), Reply::ok());
    }
    assert_eq!(c.cmd(&["COMPACT"]), Reply::ok());
    let fields = [
        "num_running_flushes",
        "memtable_flush_pending",
        "compaction_pending",
        "num_running_compactions",
    ];
    let busy = |c: &mut Raw| -> i64 {
        fields
            .iter()
            .map(|f| common::info_field(c, "rocksdb", f))
            .sum()
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while busy(&mut c) > 0 {
        assert!(Instant::now() < deadline, "background work never settled");
        std::thread::sleep(Duration::from_millis(50));
    }
    // 5 MB through 1 MB memtables: flushed, so live in SST files.
    assert!(common::info_field(&mut c, "rocksdb", "live_sst_bytes") > 1_000_000);
}

fn backups_in(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut found: Vec<_> = std::fs::read_dir(dir)
        .map(|entries| entries.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    found.sort();
    found
}

fn wait_bgsave_done(c: &mut Raw) {
    common::wait_until("the bgsave ends", Duration::from_secs(20), || {
        common::info_field(c, "persistence", "bgsave_in_progress") == 0
    });
}

/// BGSAVE, LASTSAVE and FLUSHBACKUP as Kvrocks' tests (`unit/info`, `unit/config`) use
/// them; the backup is a database a second server opens and reads.
#[test]
fn bgsave_writes_a_backup_another_server_opens() {
    let mut server = TestServer::start(&[]);
    let mut c = server.raw();
    let started = c.cmd(&["LASTSAVE"]).int();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    assert!((now - 60..=now).contains(&started), "{started} vs {now}");
    let info = c.cmd(&["INFO", "persistence"]).text();
    for line in [
        "bgsave_in_progress:0",
        "last_bgsave_status:ok",
        "last_bgsave_time_sec:-1",
    ] {
        assert!(info.contains(line), "{line} missing from {info}");
    }
    assert_eq!(
        common::info_field(&mut c, "persistence", "last_bgsave_time"),
        started
    );

    for i in 0..100 {
        c.cmd(&["SET", &format!("k{i}"), &format!("v{i}")]);
    }
    c.cmd(&["HSET", "h", "f", "v"]);
    let default_dir = server.dir.join("backup");
    assert!(backups_in(&default_dir).is_empty());
    assert_eq!(c.cmd(&["BGSAVE"]), Reply::ok());
    wait_bgsave_done(&mut c);
    let info = c.cmd(&["INFO", "persistence"]).text();
    assert!(info.contains("last_bgsave_status:ok"), "{info}");
    let took = common::info_field(&mut c, "persistence", "last_bgsave_time_sec");
    assert!((0..3).contains(&took), "{took}");
    let last = common::info_field(&mut c, "persistence", "last_bgsave_time");
    assert!(last >= started, "{last} < {started}");
    assert_eq!(c.cmd(&["LASTSAVE"]).int(), last);
    let first = backups_in(&default_dir);
    assert_eq!(first.len(), 1, "{first:?}");

    // A second backup replaces the first; a write after the first shows in it only.
    c.cmd(&["SET", "later", "x"]);
    std::thread::sleep(Duration::from_millis(5));
    assert_eq!(c.cmd(&["BGSAVE"]), Reply::ok());
    wait_bgsave_done(&mut c);
    let second = backups_in(&default_dir);
    assert_eq!(second.len(), 1, "{second:?}");
    assert_ne!(second, first);

    // backup-dir moves where the next one goes; the old one stays.
    let other_dir = server.dir.join("backup2");
    let other = other_dir.display().to_string();
    assert_eq!(c.cmd(&["CONFIG", "SET", "backup-dir", &other]), Reply::ok());
    assert_eq!(
        c.cmd(&["CONFIG", "GET", "backup-dir"]),
        Reply::Array(vec![Reply::bulk("backup-dir"), Reply::bulk(&other)])
    );
    assert_eq!(c.cmd(&["BGSAVE"]), Reply::ok());
    wait_bgsave_done(&mut c);
    assert_eq!(backups_in(&other_dir).len(), 1);
    assert_eq!(backups_in(&default_dir), second);

    // The backup is a database: a server started on it has every key.
    server.terminate();
    let copy = TestServer::start_in(&second[0], &[]);
    let mut r = copy.raw();
    assert_eq!(r.cmd(&["GET", "k42"]), Reply::bulk("v42"));
    assert_eq!(r.cmd(&["HGET", "h", "f"]), Reply::bulk("v"));
    assert_eq!(r.cmd(&["GET", "later"]), Reply::bulk("x"));
    assert_eq!(r.cmd(&["DBSIZE"]), Reply::Int(102));
    drop(copy);

    server.start_again();
    let mut c = server.raw();
    assert_eq!(c.cmd(&["CONFIG", "SET", "backup-dir", &other]), Reply::ok());
    assert_eq!(c.cmd(&["FLUSHBACKUP"]), Reply::ok());
    assert!(backups_in(&other_dir).is_empty());
    assert_eq!(
        c.cmd(&["BGSAVE", "SCHEDULE"]),
        Reply::err("ERR wrong number of arguments for 'bgsave' command")
    );
}

fn hex_decode(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex"))
        .collect()
}

/// The `latest_sequence`, `updates` and `next_sequence` of a POLLUPDATES reply (RESP2:
/// a flat array of the three pairs).
fn poll(c: &mut Raw, args: &[&str]) -> (i64, Vec<Vec<u8>>, i64) {
    let mut full = vec!["POLLUPDATES"];
    full.extend_from_slice(args);
    let items = c.cmd(&full).items();
    assert_eq!(items.len(), 6, "{items:?}");
    assert_eq!(items[0], Reply::bulk("latest_sequence"));
    assert_eq!(items[2], Reply::bulk("updates"));
    assert_eq!(items[4], Reply::bulk("next_sequence"));
    let updates = items[3].strings().iter().map(|h| hex_decode(h)).collect();
    (items[1].int(), updates, items[5].int())
}

/// Kvrocks' POLLUPDATES feed (`unit/server/poll_updates_test.go`): the WAL's batches
/// after a sequence, which APPLYBATCH replays on another standalone server.
#[test]
fn pollupdates_feeds_applybatch_on_another_server() {
    let source = TestServer::start(&[]);
    let target = TestServer::start(&[]);
    let mut s = source.raw();
    let mut t = target.raw();
    for i in 0..10 {
        s.cmd(&["SET", &format!("key-{i}"), &i.to_string()]);
    }
    let (latest, first, next) = poll(&mut s, &["0", "MAX", "6"]);
    assert_eq!((latest, first.len(), next), (10, 6, 6));
    let (latest, rest, next) = poll(&mut s, &[&next.to_string(), "MAX", "6"]);
    assert_eq!((latest, rest.len(), next), (10, 4, 10));
    let (_, none, next) = poll(&mut s, &["10"]);
    assert_eq!((none.len(), next), (0, 10));
    for (i, batch) in first.iter().chain(&rest).enumerate() {
        let reply = t.cmd_bytes(&[b"APPLYBATCH", batch]);
        assert_eq!(reply, Reply::Int(batch.len() as i64));
        assert_eq!(
            t.cmd(&["GET", &format!("key-{i}")]),
            Reply::bulk(&i.to_string())
        );
    }

    // A batch of two records (HSET: metadata and field), then one of one (SET).
    let (source, target) = (TestServer::start(&[]), TestServer::start(&[]));
    let (mut s, mut t) = (source.raw(), target.raw());
    s.cmd(&["HSET", "h0", "f0", "v0"]);
    s.cmd(&["SET", "k0", "v0"]);
    assert!(matches!(
        s.cmd(&["POLLUPDATES", "1", "MAX", "1", "STRICT"]),
        Reply::Error(e) if e.starts_with("ERR mismatched sequence number")
    ));
    assert!(matches!(
        s.cmd(&["POLLUPDATES", "1", "MAX", "1"]),
        Reply::Array(_)
    ));
    let (latest, updates, next) = poll(&mut s, &["0", "MAX", "10", "STRICT"]);
    assert_eq!((latest, updates.len(), next), (3, 2, 3));
    for batch in &updates {
        assert!(matches!(
            t.cmd_bytes(&[b"APPLYBATCH", batch, b"lowpri"]),
            Reply::Int(_)
        ));
    }
    assert_eq!(t.cmd(&["GET", "k0"]), Reply::bulk("v0"));
    assert_eq!(t.cmd(&["HGET", "h0", "f0"]), Reply::bulk("v0"));

    for (args, error) in [
        (&["0", "MAX", "-1"][..], "ERR out of numeric range"),
        (&["0", "MAX", "1001"], "ERR out of numeric range"),
        (
            &["0", "FORMAT", "COMMAND"],
            "ERR invalid FORMAT option, only support RAW",
        ),
        (
            &["12", "FORMAT", "RAW"],
            "ERR next sequence is out of range",
        ),
        (
            &["1", "FORMAT", "EXTRA"],
            "ERR invalid FORMAT option, only support RAW",
        ),
        (&["0", "MAX"], "ERR no more item to parse"),
        (&["0", "BOGUS"], "ERR syntax error"),
        (&["x"], "ERR value is not an integer or out of range"),
    ] {
        let mut full = vec!["POLLUPDATES"];
        full.extend_from_slice(args);
        assert_eq!(s.cmd(&full), Reply::err(error), "{args:?}");
    }
    assert_eq!(
        t.cmd_bytes(&[b"APPLYBATCH", b"garbage"]),
        Reply::err("ERR corrupt record: write batch too short")
    );
    assert_eq!(
        t.cmd(&["APPLYBATCH", "x", "HIGHPRI"]),
        Reply::err("ERR only support LOWPRI option")
    );
    // A record whose slot prefix is not its key's slot (0xffff here) is refused.
    let forged = b"\0\0\0\0\0\0\0\0\x01\0\0\0\x05\x01\x03\xff\xffk\x0a\x01\0\0\0\0\0\0\0\0a";
    assert_eq!(
        t.cmd_bytes(&[b"APPLYBATCH", forged]),
        Reply::err("ERR corrupt record: write batch has records outside the allowed keys")
    );
    assert_eq!(t.cmd(&["DBSIZE"]), Reply::Int(2));
    // RESP3: a map.
    s.cmd(&["HELLO", "3"]);
    assert!(matches!(s.cmd(&["POLLUPDATES", "0"]), Reply::Map(m) if m.len() == 3));
}

/// POLLUPDATES from a sequence the WAL no longer holds is an error, not an empty page.
#[test]
fn pollupdates_reports_a_purged_wal() {
    let mut server = TestServer::start(&[
        "--rocksdb.wal_ttl_seconds",
        "1",
        "--rocksdb.wal_size_limit_mb",
        "1",
    ]);
    let mut c = server.raw();
    let value = "v".repeat(1000);
    let mut pipeline = Vec::new();
    for i in 0..1500 {
        pipeline.extend(Raw::encode(&[
            b"SET",
            format!("k{i}").as_bytes(),
            value.as_bytes(),
        ]));
    }
    c.send(&pipeline);
    for _ in 0..1500 {
        assert_eq!(c.read(), Reply::ok());
    }
    server.terminate();
    server.start_again();
    let mut c = server.raw();
    common::wait_until(
        "the old WAL files are purged",
        Duration::from_secs(30),
        || matches!(c.cmd(&["POLLUPDATES", "0", "STRICT"]), Reply::Error(_)),
    );
    assert_eq!(
        c.cmd(&["POLLUPDATES", "0"]),
        Reply::err("ERR the WAL no longer holds sequence 1")
    );
}

/// A list whose metadata outlives its elements (here: the second of two batches
/// applied alone) is reported as damaged by LPOP, not walked position by position.
#[test]
fn lpop_reports_a_list_without_its_elements() {
    let (source, target) = (TestServer::start(&[]), TestServer::start(&[]));
    let (mut s, mut t) = (source.raw(), target.raw());
    assert_eq!(s.cmd(&["RPUSH", "L", "a", "b", "c"]), Reply::Int(3));
    assert_eq!(s.cmd(&["LPOP", "L"]), Reply::bulk("a"));
    let (_, updates, _) = poll(&mut s, &["0"]);
    assert_eq!(updates.len(), 2);
    assert!(matches!(
        t.cmd_bytes(&[b"APPLYBATCH", &updates[1]]),
        Reply::Int(_)
    ));
    assert_eq!(t.cmd(&["LLEN", "L"]), Reply::Int(2));
    assert_eq!(
        t.cmd(&["LPOP", "L"]),
        Reply::err("ERR corrupt record: list element missing")
    );
    assert_eq!(t.cmd(&["PING"]), Reply::Status("PONG".into()));
}
