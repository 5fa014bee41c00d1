//! What an operator reaches for: INFO's fields and sections, SLOWLOG, MONITOR, ROLE,
//! MEMORY USAGE, OBJECT, CLIENT LIST's fields and CONFIG GET of Redis-only options,
//! compared with redis-server where Redis is the reference.

mod common;
use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::{info_field, same_as_redis_table, Raw, RedisServer, Reply, SideBySide, TestServer};

/// `field:value` lines of an INFO reply.
fn info_map(c: &mut Raw, sections: &[&str]) -> HashMap<String, String> {
    let mut args = vec!["INFO"];
    args.extend_from_slice(sections);
    c.cmd(&args)
        .text()
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.to_string(), v.trim().to_string()))
        .collect()
}

/// The section headers of an INFO reply.
fn headers(c: &mut Raw, sections: &[&str]) -> Vec<String> {
    let mut args = vec!["INFO"];
    args.extend_from_slice(sections);
    c.cmd(&args)
        .text()
        .lines()
        .filter_map(|l| l.strip_prefix("# "))
        .map(str::to_string)
        .collect()
}

#[test]
fn info_has_the_fields_dashboards_read() {
    let server = TestServer::start(&[]);
    let mut c = server.raw();
    let info = info_map(&mut c, &[]);
    for field in [
        "instantaneous_ops_per_sec",
        "keyspace_hits",
        "keyspace_misses",
        "total_net_input_bytes",
        "total_net_output_bytes",
        "used_memory",
        "used_memory_rss",
        "used_memory_peak",
        "evicted_keys",
        "total_error_replies",
    ] {
        let value = info.get(field).unwrap_or_else(|| panic!("no {field}"));
        assert!(value.parse::<u64>().is_ok(), "{field}:{value}");
    }
    for field in ["instantaneous_input_kbps", "instantaneous_output_kbps"] {
        let value = &info[field];
        assert!(value.parse::<f64>().is_ok(), "{field}:{value}");
        assert_eq!(value.split('.').nth(1).map(str::len), Some(2), "{value}");
    }
    assert_eq!(info["evicted_keys"], "0");
    assert_eq!(info["maxmemory_policy"], "noeviction");
}

#[test]
fn info_sections_default_all_and_everything() {
    let server = TestServer::start(&[]);
    let mut c = server.raw();
    c.cmd(&["SET", "k", "v"]);
    c.cmd(&["NOSUCH"]);
    let default = headers(&mut c, &[]);
    assert_eq!(default, headers(&mut c, &["default"]));
    assert!(
        !default.contains(&"Commandstats".to_string()),
        "{default:?}"
    );
    assert!(default.contains(&"Errorstats".to_string()), "{default:?}");
    let all = headers(&mut c, &["all"]);
    assert_eq!(all, headers(&mut c, &["everything"]));
    assert_eq!(
        all,
        [
            "Server",
            "Clients",
            "Memory",
            "Persistence",
            "Stats",
            "Replication",
            "CPU",
            "Commandstats",
            "Errorstats",
            "Cluster",
            "Keyspace",
            "RocksDB"
        ]
    );
    // Several sections at once, in INFO's order.
    assert_eq!(
        headers(&mut c, &["commandstats", "server"]),
        ["Server", "Commandstats"]
    );
    assert_eq!(headers(&mut c, &["nosuchsection"]), Vec::<String>::new());
}

#[test]
fn keyspace_hits_and_misses_count_reads_only() {
    let server = TestServer::start(&[]);
    let mut c = server.raw();
    c.cmd(&["SET", "a", "1"]);
    c.cmd(&["RPUSH", "l", "x"]);
    c.cmd(&["CONFIG", "RESETSTAT"]);
    let counts = |c: &mut Raw| {
        (
            info_field(c, "stats", "keyspace_hits"),
            info_field(c, "stats", "keyspace_misses"),
        )
    };
    assert_eq!(counts(&mut c), (0, 0));
    c.cmd(&["GET", "a"]);
    c.cmd(&["GET", "nope"]);
    c.cmd(&["LRANGE", "l", "0", "-1"]);
    c.cmd(&["MGET", "a", "nope", "nope2"]);
    assert_eq!(counts(&mut c), (3, 3));
    // Writes do not count, even those that read first.
    c.cmd(&["SET", "b", "2"]);
    c.cmd(&["RPUSH", "l", "y"]);
    c.cmd(&["DEL", "nope"]);
    assert_eq!(counts(&mut c), (3, 3));
    // Pipelined GETs are served together and count the same.
    let mut pipeline = Vec::new();
    for key in ["a", "b", "nope"] {
        pipeline.extend(Raw::encode(&[b"GET", key.as_bytes()]));
    }
    c.send(&pipeline);
    for _ in 0..3 {
        c.read();
    }
    assert_eq!(counts(&mut c), (5, 4));
}

#[test]
fn network_bytes_and_instantaneous_rates() {
    let server = TestServer::start(&[]);
    let mut c = server.raw();
    c.cmd(&["CONFIG", "RESETSTAT"]);
    let before_in = info_field(&mut c, "stats", "total_net_input_bytes");
    let request = Raw::encode(&[b"SET", b"key", &[b'v'; 1000]]);
    c.send(&request);
    assert_eq!(c.read(), Reply::ok());
    let after_in = info_field(&mut c, "stats", "total_net_input_bytes");
    // The INFO request itself is counted too.
    let info_request = Raw::encode(&[b"INFO", b"stats"]).len() as i64;
    assert_eq!(after_in - before_in, request.len() as i64 + info_request);
    let out_before = info_field(&mut c, "stats", "total_net_output_bytes");
    assert_eq!(c.cmd(&["GET", "key"]).text().len(), 1000);
    let out_after = info_field(&mut c, "stats", "total_net_output_bytes");
    assert!(out_after - out_before > 1000, "{out_before} -> {out_after}");

    // Under load the instantaneous rates move; they settle back to 0 after it.
    let port = server.port;
    let load = std::thread::spawn(move || {
        let mut l = Raw::connect(port);
        let start = Instant::now();
        while start.elapsed() < Duration::from_millis(1500) {
            l.cmd(&["SET", "k", "some value"]);
        }
    });
    std::thread::sleep(Duration::from_millis(1000));
    let info = info_map(&mut c, &["stats"]);
    load.join().unwrap();
    let ops: u64 = info["instantaneous_ops_per_sec"].parse().unwrap();
    let input: f64 = info["instantaneous_input_kbps"].parse().unwrap();
    let output: f64 = info["instantaneous_output_kbps"].parse().unwrap();
    assert!(ops > 100, "{ops}");
    assert!(input > 1.0 && output > 0.1, "{input} {output}");
    // Back to the rate of this polling (a few INFO calls per second).
    common::wait_until("rates back down", Duration::from_secs(5), || {
        std::thread::sleep(Duration::from_millis(200));
        info_field(&mut c, "stats", "instantaneous_ops_per_sec") < 20
    });
}

#[test]
fn used_memory_counts_rocksdb_and_the_heap() {
    let server = TestServer::start(&[]);
    let mut c = server.raw();
    let memory = |c: &mut Raw| info_map(c, &["memory"]);
    let m = memory(&mut c);
    let get = |m: &HashMap<String, String>, f: &str| m[f].parse::<u64>().unwrap();
    let parts = get(&m, "used_memory_heap")
        + get(&m, "used_memory_memtables")
        + get(&m, "used_memory_block_cache")
        + get(&m, "used_memory_table_readers");
    assert_eq!(get(&m, "used_memory"), parts);
    assert!(get(&m, "used_memory_heap") > 0);
    assert!(get(&m, "used_memory_rss") > 0);
    assert!(get(&m, "used_memory_peak") >= get(&m, "used_memory"));
    // 8 MB written land in the memtables, and used_memory grows with them.
    let value = vec![b'x'; 64 * 1024];
    for i in 0..128 {
        c.cmd_bytes(&[b"SET", format!("big{i}").as_bytes(), &value]);
    }
    let after = memory(&mut c);
    assert!(
        get(&after, "used_memory_memtables") >= get(&m, "used_memory_memtables") + 8_000_000,
        "{after:?}"
    );
    assert!(get(&after, "used_memory") >= get(&m, "used_memory") + 8_000_000);
    assert!(get(&after, "used_memory_peak") >= get(&after, "used_memory"));
    assert!(m["used_memory_human"].ends_with('M') || m["used_memory_human"].ends_with('K'));
}

#[test]
fn commandstats_and_errorstats_match_redis() {
    let mut pair = SideBySide::start(&[]);
    let (ours, theirs) = (&mut pair.actual, &mut pair.expected);
    same_as_redis_table(
        ours,
        theirs,
        "
        CONFIG RESETSTAT
        SET x 1
        GET x
        GET x
        GET
        LPUSH x a
        INCR x
        NOSUCH a
        MULTI
        INCR x
        EXEC
        ",
    );
    // Calls, rejected and failed calls as Redis counts them (times differ).
    let without_time = |line: &str| {
        line.split(',')
            .filter(|f| !f.starts_with("usec"))
            .collect::<Vec<_>>()
            .join(",")
    };
    let stats = |c: &mut Raw| {
        c.cmd(&["INFO", "commandstats"])
            .text()
            .lines()
            .filter(|l| l.starts_with("cmdstat_") && !l.starts_with("cmdstat_config"))
            .filter(|l| !l.starts_with("cmdstat_info"))
            .map(without_time)
            .collect::<Vec<_>>()
    };
    let ours_stats = stats(ours);
    let mut reference = stats(theirs);
    // Redis lists them in its hash table's order, Ferrokv by name.
    reference.sort();
    assert_eq!(ours_stats, reference);
    assert!(
        ours_stats.contains(&"cmdstat_get:calls=2,rejected_calls=1,failed_calls=0".to_string()),
        "{ours_stats:?}"
    );
    // The exact format, times included.
    let text = ours.cmd(&["INFO", "commandstats"]).text();
    let line = text
        .lines()
        .find(|l| l.starts_with("cmdstat_set:"))
        .unwrap();
    let fields: Vec<&str> = line["cmdstat_set:".len()..].split(',').collect();
    let names: Vec<&str> = fields
        .iter()
        .map(|f| f.split('=').next().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "calls",
            "usec",
            "usec_per_call",
            "rejected_calls",
            "failed_calls"
        ]
    );
    let per_call = fields[2].split('=').nth(1).unwrap();
    assert_eq!(per_call.split('.').nth(1).map(str::len), Some(2), "{line}");
    let errors = |c: &mut Raw| {
        c.cmd(&["INFO", "errorstats"])
            .text()
            .lines()
            .filter(|l| l.starts_with("errorstat_"))
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    assert_eq!(errors(ours), errors(theirs));
    assert_eq!(
        errors(ours),
        ["errorstat_ERR:count=2", "errorstat_WRONGTYPE:count=1"]
    );
    assert_eq!(
        info_field(ours, "stats", "total_error_replies"),
        info_field(theirs, "stats", "total_error_replies")
    );
}

#[test]
fn slowlog_get_len_reset_and_its_options() {
    let mut pair = SideBySide::start(&[]);
    let (c, theirs) = (&mut pair.actual, &mut pair.expected);
    same_as_redis_table(
        c,
        theirs,
        "
        CONFIG GET slowlog-log-slower-than
        CONFIG GET slowlog-max-len
        SLOWLOG GET -2
        SLOWLOG GET abc
        SLOWLOG BOGUS
        SLOWLOG
        SLOWLOG LEN x
        SLOWLOG RESET
        SLOWLOG LEN
        ",
    );
    // Everything is slow at 0 microseconds.
    c.cmd(&["CLIENT", "SETNAME", "slowpoke"]);
    c.cmd(&["CONFIG", "SET", "slowlog-log-slower-than", "0"]);
    c.cmd(&["SET", "k", "v"]);
    let long = "x".repeat(200);
    c.cmd(&["ECHO", &long]);
    let entries = c.cmd(&["SLOWLOG", "GET", "2"]).items();
    assert_eq!(entries.len(), 2);
    let newest = entries[0].items();
    assert_eq!(newest.len(), 6);
    let (id, when, micros) = (newest[0].int(), newest[1].int(), newest[2].int());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!((now - when).abs() < 5 && micros >= 0);
    assert_eq!(
        newest[3].strings(),
        [
            "ECHO".to_string(),
            format!("{}... (72 more bytes)", &long[..128])
        ]
    );
    assert!(newest[4].text().starts_with("127.0.0.1:"));
    assert_eq!(newest[5].text(), "slowpoke");
    assert_eq!(entries[1].items()[0].int(), id - 1);
    assert_eq!(entries[1].items()[3].strings(), ["SET", "k", "v"]);
    // The newest ten by default, all with -1; the length is capped by slowlog-max-len.
    for i in 0..20 {
        c.cmd(&["SET", "k", &i.to_string()]);
    }
    assert_eq!(c.cmd(&["SLOWLOG", "GET"]).items().len(), 10);
    assert!(c.cmd(&["SLOWLOG", "GET", "-1"]).items().len() > 20);
    c.cmd(&["CONFIG", "SET", "slowlog-max-len", "5"]);
    assert_eq!(c.cmd(&["SLOWLOG", "LEN"]), Reply::Int(5));
    assert_eq!(c.cmd(&["SLOWLOG", "RESET"]), Reply::ok());
    // AUTH and HELLO are never logged (they carry passwords).
    c.cmd(&["HELLO", "2"]);
    assert_eq!(c.cmd(&["SLOWLOG", "GET"]).items().len(), 1); // SLOWLOG RESET
                                                             // A negative threshold turns it off.
    c.cmd(&["CONFIG", "SET", "slowlog-log-slower-than", "-1"]);
    c.cmd(&["SLOWLOG", "RESET"]);
    c.cmd(&["SET", "k", "v"]);
    assert_eq!(c.cmd(&["SLOWLOG", "LEN"]), Reply::Int(0));
}

#[test]
fn monitor_relays_commands_of_other_clients() {
    let server = TestServer::start(&[]);
    let mut monitor = server.raw();
    assert_eq!(monitor.cmd(&["MONITOR"]), Reply::ok());
    let mut c = server.raw();
    let local = c.stream.local_addr().unwrap().to_string();
    c.cmd(&["SET", "k", "a \"quoted\"\nvalue"]);
    // Pipelined GETs are served together but shown one by one.
    let mut pipeline = Raw::encode(&[b"GET", b"k"]);
    pipeline.extend(Raw::encode(&[b"GET", b"k2"]));
    c.send(&pipeline);
    c.read();
    c.read();
    // Admin commands are not shown (as in Redis).
    c.cmd(&["CONFIG", "GET", "port"]);
    c.cmd(&["MULTI"]);
    c.cmd(&["INCR", "n"]);
    c.cmd(&["EXEC"]);
    let expected = [
        format!(r#"[0 {local}] "SET" "k" "a \"quoted\"\nvalue""#),
        format!(r#"[0 {local}] "GET" "k""#),
        format!(r#"[0 {local}] "GET" "k2""#),
        format!(r#"[0 {local}] "MULTI""#),
        format!(r#"[0 {local}] "INCR" "n""#),
        format!(r#"[0 {local}] "EXEC""#),
    ];
    for want in expected {
        let line = monitor.read().text();
        let (time, rest) = line.split_once(' ').unwrap();
        let (secs, micros) = time.split_once('.').unwrap();
        assert!(secs.parse::<u64>().is_ok() && micros.len() == 6, "{line}");
        assert_eq!(rest, want);
    }
    let list = c.cmd(&["CLIENT", "LIST"]).text();
    assert!(list.lines().any(|l| l.contains(" flags=O ")), "{list}");
}

#[test]
fn role_is_master_with_its_offset() {
    let server = TestServer::start(&[]);
    let redis = RedisServer::start();
    let mut c = server.raw();
    let role = c.cmd(&["ROLE"]);
    let shape = |r: &Reply| match r {
        Reply::Array(items) => (items[0].text(), items.len(), items[2].items().len()),
        other => panic!("{other:?}"),
    };
    assert_eq!(shape(&role), shape(&redis.raw().cmd(&["ROLE"])));
    c.cmd(&["SET", "k", "v"]);
    let offset = c.cmd(&["ROLE"]).items()[1].int();
    assert!(offset > 0);
    assert_eq!(
        offset,
        info_field(&mut c, "replication", "master_repl_offset")
    );
}

#[test]
fn memory_usage_and_object_report_honest_values() {
    let mut pair = SideBySide::start(&[]);
    let (c, theirs) = (&mut pair.actual, &mut pair.expected);
    same_as_redis_table(
        c,
        theirs,
        &format!(
            "
            SET n 12345
            SET short hello
            SET long {long}
            MEMORY USAGE missing
            MEMORY USAGE n SAMPLES -1
            MEMORY USAGE n SAMPLES abc
            MEMORY USAGE n BOGUS
            MEMORY BOGUS
            OBJECT ENCODING n
            OBJECT ENCODING short
            OBJECT ENCODING long
            OBJECT ENCODING missing
            OBJECT REFCOUNT missing
            OBJECT IDLETIME missing
            OBJECT FREQ short
            OBJECT BOGUS x
            OBJECT REFCOUNT short
            ",
            long = "x".repeat(100)
        ),
    );
    let usage = |c: &mut Raw, key: &str| c.cmd(&["MEMORY", "USAGE", key]).int();
    assert!(usage(c, "long") >= 100 + 4);
    assert!(usage(c, "long") > usage(c, "short"));
    // A collection: every element measured, or a sample scaled to the size.
    let fields: Vec<String> = (0..1000).map(|i| format!("field{i:04}")).collect();
    let mut hset = vec!["HSET".to_string(), "h".to_string()];
    for f in &fields {
        hset.push(f.clone());
        hset.push("value-value".into());
    }
    let refs: Vec<&str> = hset.iter().map(String::as_str).collect();
    c.cmd(&refs);
    let exact = c.cmd(&["MEMORY", "USAGE", "h", "SAMPLES", "0"]).int();
    let sampled = usage(c, "h");
    assert!(exact > 1000 * (9 + 11), "{exact}");
    assert!((exact - sampled).abs() < exact / 10, "{exact} vs {sampled}");
    // Collections are stored one record per element: the general encodings.
    c.cmd(&["RPUSH", "l", "a"]);
    c.cmd(&["SADD", "s", "1"]);
    c.cmd(&["ZADD", "z", "1", "a"]);
    c.cmd(&["XADD", "x", "*", "f", "v"]);
    for (key, encoding) in [
        ("h", "hashtable"),
        ("l", "quicklist"),
        ("s", "hashtable"),
        ("z", "skiplist"),
        ("x", "stream"),
    ] {
        assert_eq!(c.cmd(&["OBJECT", "ENCODING", key]), Reply::bulk(encoding));
    }
    assert_eq!(
        c.cmd(&["OBJECT", "IDLETIME", "h"]),
        Reply::err(
            "ERR Ferrokv does not track key access times, OBJECT IDLETIME is not available."
        )
    );
}

#[test]
fn client_list_shows_real_values() {
    let server = TestServer::start(&[]);
    let mut watcher = server.raw();
    let mut c = server.raw();
    let id = c.cmd(&["CLIENT", "ID"]).int();
    let line_of = |watcher: &mut Raw| {
        let list = watcher
            .cmd(&["CLIENT", "LIST", "ID", &id.to_string()])
            .text();
        list.trim_end()
            .split(' ')
            .filter_map(|f| f.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<HashMap<_, _>>()
    };
    let fields = line_of(&mut watcher);
    assert_eq!(fields["resp"], "2");
    assert!(fields["fd"].parse::<i64>().unwrap() > 2, "{fields:?}");
    assert_eq!(fields["multi"], "-1");
    assert_eq!(fields["flags"], "N");
    assert_eq!(fields["cmd"], "client");
    assert!(fields["rbs"].parse::<u64>().unwrap() > 0);
    assert!(fields["tot-mem"].parse::<u64>().unwrap() > 0);

    c.cmd(&["HELLO", "3"]);
    c.cmd(&["WATCH", "a", "b"]);
    c.cmd(&["MULTI"]);
    c.cmd(&["SET", "a", "1"]);
    c.cmd(&["SET", "b", "2"]);
    let fields = line_of(&mut watcher);
    assert_eq!(fields["resp"], "3");
    assert_eq!(fields["multi"], "2");
    assert_eq!(fields["watch"], "2");
    assert_eq!(fields["flags"], "x");
    assert!(fields["multi-mem"].parse::<u64>().unwrap() >= 10);
    c.cmd(&["EXEC"]);
    let fields = line_of(&mut watcher);
    assert_eq!(
        (fields["multi"].as_str(), fields["watch"].as_str()),
        ("-1", "0")
    );
    assert_eq!(fields["cmd"], "exec");

    // A blocked client is flagged as such.
    c.send(&Raw::encode(&[b"BLPOP", b"list", b"5"]));
    common::wait_until("flags=b", Duration::from_secs(5), || {
        line_of(&mut watcher)["flags"] == "b"
    });
    watcher.cmd(&["RPUSH", "list", "x"]);
    assert_eq!(c.read().items().len(), 2);
    assert_eq!(line_of(&mut watcher)["flags"], "N");
}

#[test]
fn config_get_answers_what_the_server_does() {
    let server = TestServer::start(&[]);
    let mut c = server.raw();
    let pair = |k: &str, v: &str| Reply::Array(vec![Reply::bulk(k), Reply::bulk(v)]);
    assert_eq!(
        c.cmd(&["CONFIG", "GET", "maxmemory"]),
        pair("maxmemory", "0")
    );
    assert_eq!(c.cmd(&["CONFIG", "GET", "save"]), pair("save", ""));
    assert_eq!(
        c.cmd(&["CONFIG", "GET", "appendonly"]),
        pair("appendonly", "no")
    );
    assert_eq!(
        c.cmd(&["CONFIG", "GET", "maxmemory-policy"]),
        pair("maxmemory-policy", "noeviction")
    );
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "maxmemory", "100mb"]),
        Reply::err(
            "ERR CONFIG SET failed (possibly related to argument 'maxmemory') - can't set immutable config"
        )
    );
    // redis-benchmark reads `save` and `appendonly` first and warns when it cannot.
    let out = std::process::Command::new("redis-benchmark")
        .args([
            "-p",
            &server.port.to_string(),
            "-n",
            "200",
            "-t",
            "set",
            "-q",
        ])
        .output()
        .expect("redis-benchmark (redis-tools)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(!text.contains("WARN"), "{text}");
    assert!(text.contains("SET:"), "{text}");
}

/// Kvrocks' DISK USAGE, with the bounds of Kvrocks' own test (`unit/disk`: within a
/// factor of 10 of the records' raw size) on a server whose memtables flush at 1 MB.
#[test]
fn disk_usage_reports_the_stored_bytes_of_a_key() {
    let server = TestServer::start(&["--rocksdb.write_buffer_size", "1"]);
    let mut c = server.raw();
    let within = |what: &str, got: i64, approx: usize| {
        let approx = approx as f64;
        assert!(
            (approx * 0.1..=approx * 10.0).contains(&(got as f64)),
            "{what}: {got} against ~{approx}"
        );
    };
    c.cmd(&["SET", "stringkey", &"A".repeat(1024)]);
    within("string", c.cmd(&["DISK", "usage", "stringkey"]).int(), 1024);
    let mut approx = 0;
    let mut pipeline = Vec::new();
    for i in 0..10_000 {
        let (f, v) = (format!("key{i}"), format!("value{i}"));
        approx += "hashkey".len() + f.len() + v.len() + 8;
        pipeline.extend(Raw::encode(&[
            b"HSET",
            b"hashkey",
            f.as_bytes(),
            v.as_bytes(),
        ]));
    }
    c.send(&pipeline);
    for _ in 0..10_000 {
        assert_eq!(c.read(), Reply::Int(1));
    }
    within("hash", c.cmd(&["DISK", "USAGE", "hashkey"]).int(), approx);
    assert_eq!(c.cmd(&["DISK", "usage", "nonexistentkey"]), Reply::Nil);
    assert_eq!(
        c.cmd(&["DISK", "usa", "hashkey"]),
        Reply::err("ERR Unknown operation")
    );
    assert_eq!(
        c.cmd(&["DISK", "usage"]),
        Reply::err("ERR wrong number of arguments for 'disk' command")
    );
}

/// Kvrocks' PERFLOG (`unit/perflog`): sampled SETs are logged with RocksDB's perf
/// context; commands not listed are not; LEN, GET and RESET.
#[test]
fn perflog_keeps_sampled_commands_with_their_perf_context() {
    let server = TestServer::start(&[]);
    let mut c = server.raw();
    assert_eq!(c.cmd(&["PERFLOG", "LEN"]), Reply::Int(0));
    for (name, value) in [
        ("profiling-sample-commands", "set"),
        ("profiling-sample-ratio", "100"),
        ("profiling-sample-record-threshold-ms", "0"),
    ] {
        assert_eq!(c.cmd(&["CONFIG", "SET", name, value]), Reply::ok());
    }
    for i in 0..10 {
        assert_eq!(c.cmd(&["SET", &format!("key-{i}"), "value"]), Reply::ok());
    }
    // Pipelined: each one still sampled.
    let mut pipeline = Vec::new();
    for i in 0..5 {
        pipeline.extend(Raw::encode(&[b"SET", format!("p-{i}").as_bytes(), b"v"]));
    }
    c.send(&pipeline);
    for _ in 0..5 {
        assert_eq!(c.read(), Reply::ok());
    }
    c.cmd(&["GET", "key-1"]);
    assert_eq!(c.cmd(&["PERFLOG", "LEN"]), Reply::Int(15));
    let newest = c.cmd(&["PERFLOG", "GET", "1"]).items();
    assert_eq!(newest.len(), 1);
    let entry = newest[0].items();
    assert_eq!(entry.len(), 6, "{entry:?}");
    assert_eq!(entry[0], Reply::Int(15));
    assert_eq!(entry[2], Reply::bulk("set"));
    assert!(entry[3].int() >= 0);
    assert!(entry[4].text().contains("write_memtable_time"), "{entry:?}");
    assert_eq!(c.cmd(&["PERFLOG", "GET"]).items().len(), 10);
    assert_eq!(c.cmd(&["PERFLOG", "GET", "*"]).items().len(), 15);
    assert_eq!(
        c.cmd(&["PERFLOG", "BOGUS"]),
        Reply::err("ERR PERFLOG subcommand must be one of RESET, LEN, GET")
    );
    // The log keeps profiling-sample-record-max-len entries, the newest.
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "profiling-sample-record-max-len", "3"]),
        Reply::ok()
    );
    assert_eq!(c.cmd(&["PERFLOG", "LEN"]), Reply::Int(3));
    assert_eq!(
        c.cmd(&["PERFLOG", "GET", "1"]).items()[0].items()[0],
        Reply::Int(15)
    );
    assert_eq!(c.cmd(&["PERFLOG", "RESET"]), Reply::ok());
    assert_eq!(c.cmd(&["PERFLOG", "LEN"]), Reply::Int(0));
    // A threshold no SET reaches, then sampling off.
    c.cmd(&[
        "CONFIG",
        "SET",
        "profiling-sample-record-threshold-ms",
        "100000",
    ]);
    c.cmd(&["SET", "slow?", "no"]);
    c.cmd(&["CONFIG", "SET", "profiling-sample-record-threshold-ms", "0"]);
    c.cmd(&["CONFIG", "SET", "profiling-sample-ratio", "0"]);
    c.cmd(&["SET", "off", "v"]);
    assert_eq!(c.cmd(&["PERFLOG", "LEN"]), Reply::Int(0));
}
