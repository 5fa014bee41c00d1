//! Online slot migration between two real nodes: data of every type moves, clients
//! keep writing, the seed scenario of the Kvrocks proposal, validation errors, status.

mod common;
use std::time::{Duration, Instant};

use common::fixtures::{
    cluster_node, counter_value, fill_slot, halves, key_in_slot, keys_in_slot, set_nodes,
    RedirectedWriter,
};
use common::{info_field, thread_priorities, wait_until, Raw, Reply, TestServer};

const SRC: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa1";
const DST: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa2";
const SLAVE: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa3";

struct Pair {
    src: TestServer,
    dst: TestServer,
}

impl Pair {
    fn start() -> Pair {
        let pair = Pair {
            src: cluster_node(),
            dst: cluster_node(),
        };
        set_nodes(&[&pair.src, &pair.dst], &pair.topology(1), 1);
        pair
    }

    /// The two halves, and a replica of the destination that is never contacted.
    fn topology(&self, _version: i64) -> String {
        let masters = halves((SRC, self.src.port), (DST, self.dst.port));
        format!("{masters}\n{SLAVE} 127.0.0.1 1 slave {DST}")
    }
}

fn status_field(status: &Reply, name: &str) -> Reply {
    // The newest job is listed last.
    let items = status.items();
    let fields = items.last().expect("a job").items();
    let at = fields
        .iter()
        .position(|f| *f == Reply::bulk(name))
        .unwrap_or_else(|| panic!("no {name} in {fields:?}"));
    fields[at + 1].clone()
}

#[test]
fn every_type_moves_with_its_ttl_and_routing_follows() {
    let pair = Pair::start();
    let mut s = pair.src.raw();
    let slot = 100;
    let [string, hash, list, set, zset, stream, ttl, sortint] = keys_in_slot(
        &mut s,
        slot,
        [
            "str", "hash", "list", "set", "zset", "stream", "ttl", "sortint",
        ],
    );
    s.cmd(&["SET", &string, "v"]);
    s.cmd(&["HSET", &hash, "f1", "a", "f2", "b"]);
    s.cmd(&["RPUSH", &list, "x", "y", "z"]);
    s.cmd(&["SADD", &set, "m1", "m2"]);
    s.cmd(&["ZADD", &zset, "1", "one", "2", "two"]);
    s.cmd(&["XADD", &stream, "1-1", "f", "v"]);
    s.cmd(&["SET", &ttl, "t", "EX", "1000"]);
    // Kvrocks' sorted integers, as its slotmigrate test writes them.
    assert_eq!(
        s.cmd(&["SIADD", &sortint, "2", "4", "1", "3"]),
        Reply::Int(4)
    );
    assert_eq!(s.cmd(&["SIREM", &sortint, "1"]), Reply::Int(1));
    assert_eq!(s.cmd(&["EXPIRE", &sortint, "1000"]), Reply::Int(1));
    let other = key_in_slot(&mut s, 200, "other");
    s.cmd(&["SET", &other, "stays"]);

    assert_eq!(
        s.cmd(&["CLUSTERX", "MIGRATE", "100", DST, "sync", "30"]),
        Reply::ok()
    );
    let moved = Reply::err(&format!("MOVED 100 127.0.0.1:{}", pair.dst.port));
    assert_eq!(
        s.cmd(&["GET", &string]),
        moved,
        "reads on the source get MOVED"
    );
    assert_eq!(s.cmd(&["SET", &string, "w"]), moved, "writes too");
    assert_eq!(
        s.cmd(&["GET", &other]),
        Reply::bulk("stays"),
        "other slots untouched"
    );

    let mut d = pair.dst.raw();
    assert_eq!(d.cmd(&["GET", &string]), Reply::bulk("v"));
    assert_eq!(d.cmd(&["HGET", &hash, "f2"]), Reply::bulk("b"));
    assert_eq!(
        d.cmd(&["LRANGE", &list, "0", "-1"]).strings(),
        vec!["x", "y", "z"]
    );
    assert_eq!(d.cmd(&["SCARD", &set]), Reply::Int(2));
    assert_eq!(d.cmd(&["ZSCORE", &zset, "two"]), Reply::bulk("2"));
    assert_eq!(d.cmd(&["XLEN", &stream]), Reply::Int(1));
    assert_eq!(
        d.cmd(&["SIRANGE", &sortint, "0", "-1"]).strings(),
        vec!["2", "3", "4"]
    );
    assert!((990..=1000).contains(&d.cmd(&["TTL", &sortint]).int()));
    let remaining = d.cmd(&["TTL", &ttl]).int();
    assert!(
        (990..=1000).contains(&remaining),
        "absolute expiry moved: {remaining}"
    );
    assert_eq!(
        d.cmd(&["GET", &other]),
        Reply::err(&format!("MOVED 200 127.0.0.1:{}", pair.src.port))
    );

    let info = s.cmd(&["CLUSTER", "INFO"]).text();
    assert!(info.contains("migrating_slot(s): 100\r\n"), "{info}");
    assert!(
        info.contains(&format!("destination_node: {DST}\r\n")),
        "{info}"
    );
    assert!(info.contains("migrating_state: success\r\n"), "{info}");
    let info = d.cmd(&["CLUSTER", "INFO"]).text();
    assert!(
        info.contains("importing_slot(s): 100\r\nimport_state: success\r\n"),
        "{info}"
    );

    let status = s.cmd(&["CLUSTERX", "MIGRATION", "STATUS"]);
    assert_eq!(status_field(&status, "state"), Reply::bulk("success"));
    assert_eq!(status_field(&status, "slots"), Reply::bulk("100"));
    assert_eq!(status_field(&status, "keys_sent"), Reply::Int(8));
    assert_eq!(status_field(&status, "eta_ms"), Reply::Int(0));
    assert_eq!(status_field(&status, "error"), Reply::bulk(""));

    // After SETSLOT on both, the source drops the slot's data.
    for node in [&pair.src, &pair.dst] {
        assert_eq!(
            node.raw()
                .cmd(&["CLUSTERX", "SETSLOT", "100", "NODE", DST, "2"]),
            Reply::ok()
        );
    }
    assert_eq!(s.cmd(&["CLUSTER", "COUNTKEYSINSLOT", "100"]), Reply::Int(0));
    assert_eq!(s.cmd(&["GET", &string]), moved);
}

#[test]
fn the_seed_scenario() {
    let pair = Pair::start();
    let mut s = pair.src.raw();
    let key = key_in_slot(&mut s, 115, "k");
    s.cmd(&["SET", &key, "v"]);
    for slots in ["114-116", "117-118", "112-113"] {
        assert_eq!(
            s.cmd(&["CLUSTERX", "MIGRATE", slots, DST, "sync"]),
            Reply::ok(),
            "{slots}"
        );
    }
    for slots in [
        "114-116", "117-118", "112", "112-112", "113", "113-113", "112-113", "112-120", "110-112",
    ] {
        assert_eq!(
            s.cmd(&["CLUSTERX", "MIGRATE", slots, DST]),
            Reply::err("ERR Can't migrate slot which has been migrated"),
            "{slots}"
        );
    }
    assert_eq!(
        s.cmd(&["SET", &key, "w"]),
        Reply::err(&format!("MOVED 115 127.0.0.1:{}", pair.dst.port))
    );
    for node in [&pair.src, &pair.dst] {
        assert_eq!(
            node.raw()
                .cmd(&["CLUSTERX", "SETSLOT", "112-118", "NODE", DST, "2"]),
            Reply::ok()
        );
    }
    for slots in ["114-116", "112", "110-112"] {
        assert_eq!(
            s.cmd(&["CLUSTERX", "MIGRATE", slots, DST]),
            Reply::err("ERR Can't migrate slot which doesn't belong to me"),
            "{slots}"
        );
    }
    // Migrating 100 and 200 does not block 150.
    assert_eq!(
        s.cmd(&["CLUSTERX", "MIGRATE", "100", DST, "sync"]),
        Reply::ok()
    );
    assert_eq!(
        s.cmd(&["CLUSTERX", "MIGRATE", "200", DST, "sync"]),
        Reply::ok()
    );
    assert_eq!(
        s.cmd(&["CLUSTERX", "MIGRATE", "150", DST, "sync"]),
        Reply::ok()
    );
}

#[test]
fn validation_errors_in_order() {
    let pair = Pair::start();
    let mut s = pair.src.raw();
    let cases: &[(&[&str], &str)] = &[
        (&["CLUSTERX", "MIGRATE", "", DST], "ERR No slots to parse."),
        (
            &["CLUSTERX", "MIGRATE", "1--3", DST],
            "ERR Invalid slot range: `1--3`. The slot range should be of the form `int1-int2`.",
        ),
        (
            &[
                "CLUSTERX",
                "MIGRATE",
                "100",
                "0000000000000000000000000000000000000000",
            ],
            "ERR Can't find the destination node id",
        ),
        (
            &["CLUSTERX", "MIGRATE", "9000", DST],
            "ERR Can't migrate slot which doesn't belong to me",
        ),
        (
            &["CLUSTERX", "MIGRATE", "100", SLAVE],
            "ERR Can't migrate slot to a slave",
        ),
        (
            &["CLUSTERX", "MIGRATE", "100", SRC],
            "ERR Can't migrate slot to myself",
        ),
        (
            &["CLUSTERX", "MIGRATE", "100", DST, "async", "10"],
            "ERR Async migration does not support timeout",
        ),
        (
            &["CLUSTERX", "MIGRATE", "100", DST, "sync", "x"],
            "ERR timeout is not an integer or out of range",
        ),
        (
            &["CLUSTERX", "MIGRATE", "100", DST, "sync", "-1"],
            "ERR timeout is negative",
        ),
        (
            &["CLUSTERX", "MIGRATE", "100", DST, "bogus"],
            "ERR Invalid sync flag",
        ),
        (
            &["CLUSTERX", "MIGRATION", "STATUS", "nope"],
            "ERR No such migration job",
        ),
        (
            &["CLUSTERX", "MIGRATION", "CANCEL", "nope"],
            "ERR No such migration job",
        ),
    ];
    for (args, expected) in cases {
        assert_eq!(s.cmd(args), Reply::err(expected), "{args:?}");
    }
    assert_eq!(
        s.cmd(&["CLUSTERX", "MIGRATION", "STATUS"]),
        Reply::Array(vec![])
    );
    assert_eq!(
        s.cmd(&["CLUSTERX", "MIGRATION", "CANCEL", "ALL"]),
        Reply::Int(0)
    );
    let mut d = pair.dst.raw();
    assert_eq!(
        d.cmd(&["CLUSTER", "IMPORT", "1", "7"]),
        Reply::err("ERR Invalid import state")
    );
    let served = key_in_slot(&mut d, 9000, "k");
    d.cmd(&["SET", &served, "v"]);
    assert_eq!(
        d.cmd(&["CLUSTER", "IMPORT", "9000", "0"]),
        Reply::err("ERR Can't import slot which belongs to me")
    );
    assert_eq!(
        d.cmd(&["GET", &served]),
        Reply::bulk("v"),
        "its data is untouched"
    );
    assert_eq!(
        d.cmd(&["APPLYBATCH", "x"]),
        Reply::err("ERR APPLYBATCH is only accepted on an importing link")
    );
}

#[test]
fn a_failed_job_leaves_the_source_serving() {
    let mut pair = Pair::start();
    let mut s = pair.src.raw();
    let key = key_in_slot(&mut s, 300, "k");
    s.cmd(&["SET", &key, "v"]);
    pair.dst.kill9();
    let reply = s.cmd(&["CLUSTERX", "MIGRATE", "300", DST, "sync"]);
    assert!(
        reply.text().starts_with("ERR cannot reach the destination"),
        "{reply:?}"
    );
    assert_eq!(s.cmd(&["GET", &key]), Reply::bulk("v"));
    assert_eq!(s.cmd(&["SET", &key, "w"]), Reply::ok());
    let status = s.cmd(&["CLUSTERX", "MIGRATION", "STATUS"]);
    assert_eq!(status_field(&status, "state"), Reply::bulk("fail"));
    assert!(s
        .cmd(&["CLUSTER", "INFO"])
        .text()
        .contains("migrating_state: fail\r\n"));
    // The same command again is the retry, once the destination is back.
    pair.dst.restart();
    assert_eq!(
        s.cmd(&["CLUSTERX", "MIGRATE", "300", DST, "sync"]),
        Reply::ok()
    );
    assert_eq!(pair.dst.raw().cmd(&["GET", &key]), Reply::bulk("w"));
}

#[test]
fn no_acknowledged_write_is_lost_while_clients_keep_writing() {
    let pair = Pair::start();
    let mut s = pair.src.raw();
    let counter = key_in_slot(&mut s, 500, "counter");
    // Bulk data so that the copy takes a while.
    fill_slot(&pair.src, &counter, 20_000, 100);
    let writer = RedirectedWriter::start(
        pair.src.port,
        pair.dst.port,
        vec!["INCR".into(), counter.clone()],
    );
    std::thread::sleep(Duration::from_millis(200));
    let start = Instant::now();
    assert_eq!(
        s.cmd(&["CLUSTERX", "MIGRATE", "500", DST, "sync", "60"]),
        Reply::ok()
    );
    let took = start.elapsed();
    std::thread::sleep(Duration::from_millis(200));
    let acknowledged = writer.stop();
    let value = counter_value(&pair.dst, &counter);
    assert_eq!(
        value, acknowledged,
        "every acknowledged INCR is there, once"
    );
    assert_eq!(
        pair.dst.raw().cmd(&["CLUSTER", "COUNTKEYSINSLOT", "500"]),
        Reply::Int(20_001)
    );
    let status = s.cmd(&["CLUSTERX", "MIGRATION", "STATUS"]);
    let fence_ms = status_field(&status, "fence_ms").int();
    assert!(fence_ms < 1000, "writes were held {fence_ms} ms");
    println!("migrated 20,001 keys in {took:?}, fence {fence_ms} ms");
}

/// Fills `slot` with 3,000 keys of 1 KB, starts migrating it at 1 MB/s (about 3 s) and
/// returns once the copy is well under way, with the hash tag of the keys.
fn start_slow_migration(pair: &Pair, s: &mut Raw, slot: i64) -> String {
    let tag = key_in_slot(s, slot, "t");
    fill_slot(&pair.src, &tag, 3000, 1000);
    s.cmd(&["CONFIG", "SET", "migrate-batch-rate-limit-mb", "1"]);
    s.cmd(&["CONFIG", "SET", "migrate-batch-size-kb", "64"]);
    assert_eq!(
        s.cmd(&["CLUSTERX", "MIGRATE", &slot.to_string(), DST]),
        Reply::ok()
    );
    std::thread::sleep(Duration::from_millis(700));
    tag
}

/// Waits up to 10 s for the destination `d` to drop its import (`import_state: error`
/// in CLUSTER INFO), failing with `what`.
fn wait_import_dropped(d: &mut Raw, what: &str) {
    wait_until(what, Duration::from_secs(10), || {
        d.cmd(&["CLUSTER", "INFO"])
            .text()
            .contains("import_state: error")
    });
}

fn wait_for_state(c: &mut Raw, state: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status = c.cmd(&["CLUSTERX", "MIGRATION", "STATUS"]);
        if status_field(&status, "state") == Reply::bulk(state) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "job never reached {state}: {status:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn committed_migrations_survive_kill_9_of_either_node() {
    let mut pair = Pair::start();
    let mut s = pair.src.raw();
    let key = key_in_slot(&mut s, 42, "k");
    s.cmd(&["SET", &key, "v"]);
    assert_eq!(
        s.cmd(&["CLUSTERX", "MIGRATE", "42", DST, "sync"]),
        Reply::ok()
    );
    pair.src.restart();
    pair.dst.restart();
    let moved = Reply::err(&format!("MOVED 42 127.0.0.1:{}", pair.dst.port));
    assert_eq!(
        pair.src.raw().cmd(&["GET", &key]),
        moved,
        "the source still answers MOVED"
    );
    assert_eq!(
        pair.dst.raw().cmd(&["GET", &key]),
        Reply::bulk("v"),
        "the destination still serves"
    );
    assert_eq!(
        pair.src.raw().cmd(&["CLUSTERX", "MIGRATE", "42", DST]),
        Reply::err("ERR Can't migrate slot which has been migrated")
    );
    // Both nodes still tell clients who serves the slot now, and the source does not
    // list what it no longer serves.
    for node in [&pair.src, &pair.dst] {
        assert_eq!(
            slot_server_port(&mut node.raw(), 42),
            pair.dst.port,
            "CLUSTER SLOTS on port {} after the restart",
            node.port
        );
    }
    assert_eq!(pair.src.raw().cmd(&["DBSIZE"]), Reply::Int(0));
}

/// The port CLUSTER SLOTS names as serving `slot`.
fn slot_server_port(c: &mut Raw, slot: i64) -> u16 {
    let slots = c.cmd(&["CLUSTER", "SLOTS"]);
    slots
        .items()
        .iter()
        .find_map(|entry| {
            let fields = entry.items();
            let (start, end) = (fields[0].int(), fields[1].int());
            (start..=end)
                .contains(&slot)
                .then(|| fields[2].items()[1].int() as u16)
        })
        .unwrap_or_else(|| panic!("slot {slot} not in {slots:?}"))
}

#[test]
fn killing_the_destination_mid_copy_rolls_back_on_both_sides() {
    let mut pair = Pair::start();
    let mut s = pair.src.raw();
    let tag = start_slow_migration(&pair, &mut s, 700);
    pair.dst.kill9();
    wait_for_state(&mut s, "fail");
    assert_eq!(
        s.cmd(&["GET", &format!("{{{tag}}}:1")]).text().len(),
        1000,
        "the source serves"
    );
    assert_eq!(s.cmd(&["SET", &format!("{{{tag}}}:1"), "new"]), Reply::ok());
    pair.dst.restart();
    let mut d = pair.dst.raw();
    assert_eq!(
        d.cmd(&["CLUSTER", "COUNTKEYSINSLOT", "700"]),
        Reply::Int(0),
        "partial import dropped"
    );
    assert_eq!(d.cmd(&["DBSIZE"]), Reply::Int(0));
    // A retry is the same command.
    s.cmd(&["CONFIG", "SET", "migrate-batch-rate-limit-mb", "0"]);
    assert_eq!(
        s.cmd(&["CLUSTERX", "MIGRATE", "700", DST, "sync"]),
        Reply::ok()
    );
    assert_eq!(
        d.cmd(&["CLUSTER", "COUNTKEYSINSLOT", "700"]),
        Reply::Int(3000)
    );
    assert_eq!(d.cmd(&["GET", &format!("{{{tag}}}:1")]), Reply::bulk("new"));
}

#[test]
fn killing_the_source_mid_copy_leaves_nothing_on_the_destination() {
    let mut pair = Pair::start();
    let mut s = pair.src.raw();
    start_slow_migration(&pair, &mut s, 800);
    let mut d = pair.dst.raw();
    assert!(d
        .cmd(&["CLUSTER", "INFO"])
        .text()
        .contains("import_state: start"));
    assert_eq!(
        d.cmd(&["DBSIZE"]),
        Reply::Int(0),
        "importing data is not listed"
    );
    pair.src.kill9();
    wait_import_dropped(&mut d, "the destination did not drop the import");
    assert_eq!(d.cmd(&["CLUSTER", "COUNTKEYSINSLOT", "800"]), Reply::Int(0));
    pair.src.restart();
    let mut s = pair.src.raw();
    assert_eq!(
        s.cmd(&["CLUSTER", "COUNTKEYSINSLOT", "800"]),
        Reply::Int(3000),
        "the source serves"
    );
}

#[test]
fn a_cut_over_in_doubt_is_settled_with_the_destination_after_a_restart() {
    let mut pair = Pair::start();
    let mut s = pair.src.raw();
    let committed = key_in_slot(&mut s, 60, "c");
    let never = key_in_slot(&mut s, 61, "n");
    s.cmd(&["SET", &committed, "1"]);
    s.cmd(&["SET", &never, "2"]);
    assert_eq!(
        s.cmd(&["CLUSTERX", "MIGRATE", "60", DST, "sync"]),
        Reply::ok()
    );

    // As if the source had crashed after the destination committed slot 60, before
    // recording it: the destination holds it as imported, so the source commits.
    let settle = |pair: &mut Pair, record: String, key: &str, expect: Reply| {
        pair.src.kill9();
        std::fs::write(pair.src.dir.join("migration.conf"), record).unwrap();
        pair.src.restart();
        let mut s = pair.src.raw();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let got = s.cmd(&["GET", key]);
            if got == expect {
                break;
            }
            assert!(Instant::now() < deadline, "not settled: {got:?}");
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    let moved = Reply::err(&format!("MOVED 60 127.0.0.1:{}", pair.dst.port));
    settle(
        &mut pair,
        format!("committing {DST} 60\n"),
        &committed,
        moved,
    );
    assert_eq!(pair.dst.raw().cmd(&["GET", &committed]), Reply::bulk("1"));

    // As if it had crashed while slot 61's cut-over was in flight and the destination
    // never committed: the destination is told to abort, the source serves again.
    settle(
        &mut pair,
        format!("migrated {DST} 60\ncommitting {DST} 61\n"),
        &never,
        Reply::bulk("2"),
    );
    assert_eq!(pair.src.raw().cmd(&["SET", &never, "3"]), Reply::ok());
    assert_eq!(
        pair.dst.raw().cmd(&["GET", &committed]),
        Reply::bulk("1"),
        "committed data is never deleted"
    );
}

fn job_id(c: &mut Raw) -> String {
    status_field(&c.cmd(&["CLUSTERX", "MIGRATION", "STATUS"]), "id").text()
}

#[test]
fn cancel_and_flushdb_stop_a_running_job() {
    let pair = Pair::start();
    let mut s = pair.src.raw();
    let tag = key_in_slot(&mut s, 900, "t");
    fill_slot(&pair.src, &tag, 3000, 1000);
    s.cmd(&["CONFIG", "SET", "migrate-batch-rate-limit-mb", "1"]);
    s.cmd(&["CONFIG", "SET", "migrate-batch-size-kb", "64"]);
    assert_eq!(s.cmd(&["CLUSTERX", "MIGRATE", "900", DST]), Reply::ok());
    std::thread::sleep(Duration::from_millis(300));
    let id = job_id(&mut s);
    let status = s.cmd(&["CLUSTERX", "MIGRATION", "STATUS", &id]);
    assert_eq!(status_field(&status, "state"), Reply::bulk("start"));
    assert_eq!(
        status_field(&status, "keys_total"),
        Reply::Int(3000),
        "counted before the copy"
    );
    assert!(
        status_field(&status, "eta_ms").int() > 0,
        "an ETA while running"
    );
    assert_eq!(
        s.cmd(&["CLUSTERX", "MIGRATION", "CANCEL", &id]),
        Reply::Int(1)
    );
    wait_for_state(&mut s, "cancelled");
    assert!(s
        .cmd(&["CLUSTER", "INFO"])
        .text()
        .contains("migrating_state: fail\r\n"));
    assert_eq!(
        s.cmd(&["CLUSTERX", "MIGRATION", "CANCEL", &id]),
        Reply::err("ERR No such migration job"),
        "a finished job cannot be cancelled"
    );
    let mut d = pair.dst.raw();
    wait_until(
        "the destination kept the cancelled import",
        Duration::from_secs(10),
        || {
            d.cmd(&["CLUSTER", "COUNTKEYSINSLOT", "900"]) == Reply::Int(0)
                && d.cmd(&["CLUSTER", "INFO"])
                    .text()
                    .contains("import_state: error")
        },
    );
    assert_eq!(
        s.cmd(&["CLUSTER", "COUNTKEYSINSLOT", "900"]),
        Reply::Int(3000)
    );

    // FLUSHDB on the source fails the job.
    assert_eq!(s.cmd(&["CLUSTERX", "MIGRATE", "900", DST]), Reply::ok());
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(s.cmd(&["FLUSHDB"]), Reply::ok());
    wait_for_state(&mut s, "fail");
    let error = status_field(&s.cmd(&["CLUSTERX", "MIGRATION", "STATUS"]), "error").text();
    assert!(error.contains("FLUSHDB"), "{error}");
}

#[test]
fn finished_jobs_are_listed_after_a_restart() {
    let mut pair = Pair::start();
    let mut s = pair.src.raw();
    assert_eq!(
        s.cmd(&["CLUSTERX", "MIGRATE", "5-6", DST, "sync"]),
        Reply::ok()
    );
    let id = job_id(&mut s);
    pair.src.restart();
    let mut s = pair.src.raw();
    let status = s.cmd(&["CLUSTERX", "MIGRATION", "STATUS", &id]);
    assert_eq!(status_field(&status, "state"), Reply::bulk("success"));
    assert_eq!(status_field(&status, "slots"), Reply::bulk("5-6"));
    assert_eq!(status_field(&status, "destination"), Reply::bulk(DST));
}

/// Migrates `slot` at `migrate-speed` `speed`: still running after `running_at`,
/// done no sooner than `at_least` (`what` names the load in the message).
fn migrate_slowly(
    s: &mut Raw,
    slot: &str,
    speed: &str,
    running_at: Duration,
    at_least: Duration,
    what: &str,
) {
    s.cmd(&["CONFIG", "SET", "migrate-speed", speed]);
    let start = Instant::now();
    assert_eq!(s.cmd(&["CLUSTERX", "MIGRATE", slot, DST]), Reply::ok());
    std::thread::sleep(running_at);
    assert!(s
        .cmd(&["CLUSTER", "INFO"])
        .text()
        .contains("migrating_state: start\r\n"));
    wait_for_state(s, "success");
    assert!(
        start.elapsed() >= at_least,
        "{what} at {speed}/s: {:?}",
        start.elapsed()
    );
}

#[test]
fn kvrocks_migrate_speed_slows_the_copy() {
    let pair = Pair::start();
    let mut s = pair.src.raw();
    let tag = key_in_slot(&mut s, 1000, "t");
    fill_slot(&pair.src, &tag, 300, 10);
    migrate_slowly(
        &mut s,
        "1000",
        "500",
        Duration::from_millis(200),
        Duration::from_millis(550),
        "300 keys",
    );

    // One collection counts one command per 16 members, as Kvrocks' migration sends
    // them (its "Slow migrate speed" case: 1000 elements at 16 commands per second).
    let list = key_in_slot(&mut s, 1001, "list");
    let elements: Vec<String> = (0..1000).map(|i| i.to_string()).collect();
    let mut lpush = vec!["LPUSH", list.as_str()];
    lpush.extend(elements.iter().map(String::as_str));
    assert_eq!(s.cmd(&lpush), Reply::Int(1000));
    migrate_slowly(
        &mut s,
        "1001",
        "32",
        Duration::from_millis(1000),
        Duration::from_millis(1500),
        "63 commands",
    );
    assert_eq!(pair.dst.raw().cmd(&["LLEN", &list]), Reply::Int(1000));
}

#[test]
fn sync_migrate_replies_nil_when_its_timeout_passes_and_the_job_goes_on() {
    let pair = Pair::start();
    let mut s = pair.src.raw();
    let tag = key_in_slot(&mut s, 1100, "t");
    fill_slot(&pair.src, &tag, 1500, 10);
    s.cmd(&["CONFIG", "SET", "migrate-speed", "1000"]);
    let start = Instant::now();
    assert_eq!(
        s.cmd(&["CLUSTERX", "MIGRATE", "1100", DST, "sync", "1"]),
        Reply::Nil
    );
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_millis(1400),
        "{waited:?}"
    );
    assert_eq!(
        status_field(&s.cmd(&["CLUSTERX", "MIGRATION", "STATUS"]), "state"),
        Reply::bulk("start")
    );
    wait_for_state(&mut s, "success");
    assert_eq!(
        pair.dst.raw().cmd(&["CLUSTER", "COUNTKEYSINSLOT", "1100"]),
        Reply::Int(1500)
    );
}

#[test]
fn during_the_copy_the_destination_serves_only_asking_clients() {
    let pair = Pair::start();
    let mut s = pair.src.raw();
    let tag = key_in_slot(&mut s, 1200, "t");
    fill_slot(&pair.src, &tag, 1000, 10);
    s.cmd(&["CONFIG", "SET", "migrate-speed", "1000"]);
    assert_eq!(s.cmd(&["CLUSTERX", "MIGRATE", "1200", DST]), Reply::ok());
    std::thread::sleep(Duration::from_millis(300));
    let mut d = pair.dst.raw();
    let key = format!("{{{tag}}}:1");
    let moved = Reply::err(&format!("MOVED 1200 127.0.0.1:{}", pair.src.port));
    assert_eq!(
        d.cmd(&["GET", &key]),
        moved,
        "everyone else is sent to the source"
    );
    assert_eq!(d.cmd(&["ASKING"]), Reply::ok());
    let asked = d.cmd(&["GET", &key]);
    assert!(
        matches!(asked, Reply::Nil | Reply::Bulk(_)),
        "ASKING lets one command through (it sees what arrived so far): {asked:?}"
    );
    assert_eq!(d.cmd(&["GET", &key]), moved, "the flag lasts one command");
    assert_eq!(
        d.cmd(&["CLUSTER", "COUNTKEYSINSLOT", "1200"]),
        Reply::Int(0),
        "not listed yet"
    );
    let nodes = s.cmd(&["CLUSTER", "NODES"]).text();
    assert!(nodes.contains(&format!("[1200->-{DST}]")), "{nodes}");
    let nodes = d.cmd(&["CLUSTER", "NODES"]).text();
    assert!(nodes.contains(&format!("[1200-<-{SRC}]")), "{nodes}");
    wait_for_state(&mut s, "success");
    assert_eq!(
        d.cmd(&["GET", &key]),
        Reply::bulk("xxxxxxxxxx"),
        "after the commit, everyone"
    );
}

#[test]
fn jobs_to_different_destinations_run_at_once() {
    let (a, b, c) = (cluster_node(), cluster_node(), cluster_node());
    let topology = format!(
        "{SRC} 127.0.0.1 {} master - 0-8191\n{DST} 127.0.0.1 {} master - 8192-12000\n{SLAVE} 127.0.0.1 {} master - 12001-16383",
        a.port, b.port, c.port
    );
    set_nodes(&[&a, &b, &c], &topology, 1);
    let mut s = a.raw();
    let t1 = key_in_slot(&mut s, 10, "t");
    let t2 = key_in_slot(&mut s, 20, "u");
    fill_slot(&a, &t1, 500, 10);
    fill_slot(&a, &t2, 500, 10);
    s.cmd(&["CONFIG", "SET", "migrate-speed", "1000"]);
    assert_eq!(s.cmd(&["CLUSTERX", "MIGRATE", "10", DST]), Reply::ok());
    assert_eq!(
        s.cmd(&["CLUSTERX", "MIGRATE", "11", DST]),
        Reply::err("ERR There is already a migrating job"),
        "one job per destination"
    );
    assert_eq!(
        s.cmd(&["CLUSTERX", "MIGRATE", "20", SLAVE]),
        Reply::ok(),
        "another destination"
    );
    let running = s.cmd(&["CLUSTERX", "MIGRATION", "STATUS"]).items();
    assert_eq!(running.len(), 2);
    s.cmd(&["CONFIG", "SET", "migrate-speed", "0"]);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let states: Vec<Reply> = s
            .cmd(&["CLUSTERX", "MIGRATION", "STATUS"])
            .items()
            .iter()
            .map(|job| {
                let fields = job.items();
                let at = fields
                    .iter()
                    .position(|f| *f == Reply::bulk("state"))
                    .unwrap();
                fields[at + 1].clone()
            })
            .collect();
        if states.iter().all(|st| *st == Reply::bulk("success")) {
            break;
        }
        assert!(
            Instant::now() < deadline && !states.contains(&Reply::bulk("fail")),
            "{states:?} {:?}",
            s.cmd(&["CLUSTERX", "MIGRATION", "STATUS"])
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        b.raw().cmd(&["CLUSTER", "COUNTKEYSINSLOT", "10"]),
        Reply::Int(500)
    );
    assert_eq!(
        c.raw().cmd(&["CLUSTER", "COUNTKEYSINSLOT", "20"]),
        Reply::Int(500)
    );
}

#[test]
fn clients_blocked_on_a_moving_key_are_redirected() {
    let pair = Pair::start();
    let mut s = pair.src.raw();
    let queue = key_in_slot(&mut s, 1300, "q");
    let mut blocked = pair.src.raw();
    blocked.send(&Raw::encode(&[b"BLPOP", queue.as_bytes(), b"10"]));
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(
        s.cmd(&["CLUSTERX", "MIGRATE", "1300", DST, "sync"]),
        Reply::ok()
    );
    let start = Instant::now();
    assert_eq!(
        blocked.read(),
        Reply::err(&format!("MOVED 1300 127.0.0.1:{}", pair.dst.port))
    );
    assert!(start.elapsed() < Duration::from_secs(2));
}

#[test]
fn malformed_batches_on_an_importing_link_are_refused_and_the_node_stays_writable() {
    let pair = Pair::start();
    let mut link = pair.dst.raw();
    assert_eq!(link.cmd(&["CLUSTER", "IMPORT", "100", "0"]), Reply::ok());
    let garbage: [&[u8]; 4] = [
        b"x",
        b"\0\0\0\0\0\0\0\0\x05\0\0\0\x01\x03abc",
        b"\0\0\0\0\0\0\0\0\0\0\0\0\xf2\xff\xff\xff\x07",
        b"\0\0\0\0\0\0\0\0\x01\0\0\0\x01\x02\x00\x00garbage-after",
    ];
    for data in garbage {
        let reply = link.cmd_bytes(&[b"APPLYBATCH", data]);
        assert!(matches!(reply, Reply::Error(_)), "{reply:?}");
    }
    let mut d = pair.dst.raw();
    let key = key_in_slot(&mut d, 9000, "k");
    assert_eq!(
        d.cmd(&["SET", &key, "v"]),
        Reply::ok(),
        "the database is still writable"
    );
    assert_eq!(d.cmd(&["GET", &key]), Reply::bulk("v"));
}

#[test]
fn stream_groups_consumers_and_pending_entries_move_with_the_slot() {
    let pair = Pair::start();
    let mut s = pair.src.raw();
    let stream = key_in_slot(&mut s, 100, "stream");
    for id in ["1-1", "2-1", "3-1", "4-1"] {
        s.cmd(&["XADD", &stream, id, "f", id]);
    }
    assert_eq!(
        s.cmd(&["XGROUP", "CREATE", &stream, "g1", "0"]),
        Reply::ok()
    );
    assert_eq!(
        s.cmd(&["XGROUP", "CREATE", &stream, "g2", "$"]),
        Reply::ok()
    );
    s.cmd_table(&format!(
        "
        XREADGROUP GROUP g1 alice COUNT 2 STREAMS {stream} >
        XREADGROUP GROUP g1 bob STREAMS {stream} >
        XACK {stream} g1 3-1
        XCLAIM {stream} g1 bob 0 1-1 RETRYCOUNT 5 JUSTID
        XGROUP CREATECONSUMER {stream} g2 idle
        "
    ));
    // Every time in the full description is absolute, so it must be the same there.
    let full = s.cmd(&["XINFO", "STREAM", &stream, "FULL"]);
    let pending = s.cmd(&["XPENDING", &stream, "g1", "-", "+", "10"]);
    assert_eq!(pending.items().len(), 3, "{pending:?}");

    assert_eq!(
        s.cmd(&["CLUSTERX", "MIGRATE", "100", DST, "sync", "30"]),
        Reply::ok()
    );
    let mut d = pair.dst.raw();
    assert_eq!(d.cmd(&["XINFO", "STREAM", &stream, "FULL"]), full);
    let summary = d.cmd(&["XPENDING", &stream, "g1"]);
    assert_eq!(
        summary,
        Reply::Array(vec![
            Reply::Int(3),
            Reply::bulk("1-1"),
            Reply::bulk("4-1"),
            Reply::Array(vec![
                Reply::Array(vec![Reply::bulk("alice"), Reply::bulk("1")]),
                Reply::Array(vec![Reply::bulk("bob"), Reply::bulk("2")]),
            ]),
        ])
    );
    // The groups work on the destination: g2 reads nothing old, g1's bob acks.
    assert_eq!(
        d.cmd_wire(&["XREADGROUP", "GROUP", "g2", "c", "STREAMS", &stream, ">"]),
        "*-1\r\n"
    );
    assert_eq!(d.cmd(&["XACK", &stream, "g1", "1-1", "4-1"]), Reply::Int(2));
    d.cmd(&["XADD", &stream, "5-1", "f", "5"]);
    let read = d.cmd(&["XREADGROUP", "GROUP", "g2", "c", "STREAMS", &stream, ">"]);
    assert_eq!(read.items()[0].items()[1].items().len(), 1, "{read:?}");
    // Hand-over: the source drops the slot's records, groups included.
    let topology = format!(
        "{SRC} 127.0.0.1 {} master - 0-99 101-8191\n{DST} 127.0.0.1 {} master - 100 8192-16383",
        pair.src.port, pair.dst.port
    );
    set_nodes(&[&pair.src, &pair.dst], &topology, 2);
    assert_eq!(s.cmd(&["CLUSTER", "COUNTKEYSINSLOT", "100"]), Reply::Int(0));
    assert_eq!(d.cmd(&["XINFO", "GROUPS", &stream]).items().len(), 2);
}

/// SST files the node ingested for importing links (INFO rocksdb).
fn ingested(c: &mut Raw) -> i64 {
    info_field(c, "rocksdb", "imported_sst_files")
}

#[test]
fn the_sst_path_moves_every_type_with_exact_expiry_times() {
    let pair = Pair::start();
    let mut s = pair.src.raw();
    let mut d = pair.dst.raw();
    // 1 MiB files: the big hash alone fills several, ingested while the copy goes on.
    assert_eq!(
        d.cmd(&["CONFIG", "SET", "migrate-sst-file-mb", "1"]),
        Reply::ok()
    );
    let slot = 300;
    let [string, hash, big, list, set, zset, stream] = keys_in_slot(
        &mut s,
        slot,
        ["str", "hash", "big", "list", "set", "zset", "stream"],
    );
    s.cmd(&["SET", &string, "v"]);
    s.cmd(&["HSET", &hash, "f1", "a", "f2", "b"]);
    let value = "h".repeat(100);
    for chunk in 0..30 {
        let mut args = vec!["HSET".to_string(), big.clone()];
        for i in chunk * 1000..(chunk + 1) * 1000 {
            args.push(format!("field:{i}"));
            args.push(value.clone());
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        assert_eq!(s.cmd(&args), Reply::Int(1000));
    }
    s.cmd(&["RPUSH", &list, "x", "y", "z"]);
    s.cmd(&["SADD", &set, "m1", "m2", "m3"]);
    s.cmd(&["ZADD", &zset, "1.5", "one", "2", "two", "-3", "three"]);
    for id in ["1-1", "2-1", "3-1"] {
        s.cmd(&["XADD", &stream, id, "f", id]);
    }
    s.cmd_table(&format!(
        "
        XGROUP CREATE {stream} g 0
        XREADGROUP GROUP g c COUNT 2 STREAMS {stream} >
        "
    ));
    // Exact expiry times, different for each key (a copy that rewrote them would not
    // keep the milliseconds).
    let keys = [&string, &hash, &big, &list, &set, &zset, &stream];
    for (i, key) in keys.iter().enumerate() {
        let at = (4_102_444_800_000u64 + 1_234 * i as u64 + 7).to_string();
        assert_eq!(s.cmd(&["PEXPIREAT", key, &at]), Reply::Int(1), "{key}");
    }
    let reads = |c: &mut Raw| -> Vec<Reply> {
        let mut out = vec![
            c.cmd(&["GET", &string]),
            c.cmd(&["HGETALL", &hash]),
            c.cmd(&["HLEN", &big]),
            c.cmd(&["HGET", &big, "field:29999"]),
            c.cmd(&["LRANGE", &list, "0", "-1"]),
            c.cmd(&["SMISMEMBER", &set, "m1", "m2", "m3", "m4"]),
            c.cmd(&["ZRANGE", &zset, "0", "-1", "WITHSCORES"]),
            c.cmd(&["XINFO", "STREAM", &stream, "FULL"]),
        ];
        for key in keys {
            out.push(c.cmd(&["PEXPIRETIME", key]));
            out.push(c.cmd(&["TYPE", key]));
        }
        out
    };
    let before = reads(&mut s);
    assert_eq!(before[2], Reply::Int(30_000));

    assert_eq!(
        s.cmd(&["CLUSTERX", "MIGRATE", &slot.to_string(), DST, "sync", "60"]),
        Reply::ok()
    );
    assert_eq!(
        reads(&mut d),
        before,
        "the destination serves the same data"
    );
    let files = ingested(&mut d);
    assert!(
        files >= 5,
        "~3.5 MB of hash members in 1 MiB files, plus metadata and scores: {files} files"
    );
    assert_eq!(
        s.cmd(&["GET", &string]),
        Reply::err(&format!("MOVED {slot} 127.0.0.1:{}", pair.dst.port))
    );
    // Served after a restart too (ingested files are in the database, not the WAL).
    let mut pair = pair;
    pair.dst.restart();
    let mut d = pair.dst.raw();
    assert_eq!(reads(&mut d), before, "after a restart of the destination");
    // And writable like any other data.
    assert_eq!(d.cmd(&["HSET", &big, "field:0", "new"]), Reply::Int(0));
    assert_eq!(d.cmd(&["HGET", &big, "field:0"]), Reply::bulk("new"));
}

/// Starts a migration of `slot` (6,000 keys of 1 KB, copied at 2 MB/s, so about 3 s)
/// to a destination that ingests 1 MiB files, and returns once the destination
/// ingested some.
fn start_slow_sst_migration(pair: &Pair, s: &mut Raw, slot: i64) -> String {
    let tag = key_in_slot(s, slot, "t");
    fill_slot(&pair.src, &tag, 6000, 1000);
    let mut d = pair.dst.raw();
    d.cmd(&["CONFIG", "SET", "migrate-sst-file-mb", "1"]);
    let before = ingested(&mut d);
    s.cmd(&["CONFIG", "SET", "migrate-batch-rate-limit-mb", "2"]);
    s.cmd(&["CONFIG", "SET", "migrate-batch-size-kb", "64"]);
    assert_eq!(
        s.cmd(&["CLUSTERX", "MIGRATE", &slot.to_string(), DST]),
        Reply::ok()
    );
    wait_until(
        "the destination never ingested a file",
        Duration::from_secs(20),
        || ingested(&mut d) > before,
    );
    let status = s.cmd(&["CLUSTERX", "MIGRATION", "STATUS"]);
    assert_eq!(
        status_field(&status, "state"),
        Reply::bulk("start"),
        "still copying: {status:?}"
    );
    tag
}

/// No record of `slot` on `node`: the slot is no longer being imported there, so
/// COUNTKEYSINSLOT and DBSIZE count what its storage holds.
fn assert_slot_empty(node: &TestServer, slot: i64, when: &str) {
    let mut c = node.raw();
    assert!(
        !c.cmd(&["CLUSTER", "NODES"]).text().contains("<-"),
        "{when}: still importing"
    );
    assert_eq!(
        c.cmd(&["CLUSTER", "COUNTKEYSINSLOT", &slot.to_string()]),
        Reply::Int(0),
        "{when}"
    );
    assert_eq!(c.cmd(&["DBSIZE"]), Reply::Int(0), "{when}");
}

#[test]
fn a_cancelled_or_aborted_sst_import_leaves_nothing_on_the_destination() {
    let mut pair = Pair::start();
    let mut s = pair.src.raw();

    // Cancelled on the source once files are in: the destination's range delete
    // covers them, also after a restart.
    start_slow_sst_migration(&pair, &mut s, 1200);
    let id = job_id(&mut s);
    assert_eq!(
        s.cmd(&["CLUSTERX", "MIGRATION", "CANCEL", &id]),
        Reply::Int(1)
    );
    wait_for_state(&mut s, "cancelled");
    let mut d = pair.dst.raw();
    wait_import_dropped(&mut d, "the destination kept the cancelled import");
    assert_slot_empty(&pair.dst, 1200, "after the cancel");
    pair.dst.restart();
    assert_slot_empty(&pair.dst, 1200, "after the cancel and a restart");

    // The source killed mid-copy: the link closes, the destination drops the import.
    start_slow_sst_migration(&pair, &mut s, 1300);
    pair.src.kill9();
    let mut d = pair.dst.raw();
    wait_import_dropped(&mut d, "the destination did not drop the import");
    assert_slot_empty(&pair.dst, 1300, "after the source died");
    pair.dst.restart();
    assert_slot_empty(&pair.dst, 1300, "after that and a restart");
    pair.src.restart();
    let mut s = pair.src.raw();

    // The destination killed while it builds and ingests files: it restarts with the
    // import dropped, the source's job fails and it serves the slot.
    let tag = start_slow_sst_migration(&pair, &mut s, 1400);
    pair.dst.kill9();
    wait_for_state(&mut s, "fail");
    pair.dst.restart();
    assert_slot_empty(&pair.dst, 1400, "after kill -9 of the destination");
    assert_eq!(
        s.cmd(&["CLUSTER", "COUNTKEYSINSLOT", "1400"]),
        Reply::Int(6000),
        "the source serves"
    );
    // No staged file outlives the restart.
    let staged = pair.dst.dir.join("import-sst");
    let left = std::fs::read_dir(&staged).map(|d| d.count()).unwrap_or(0);
    assert_eq!(left, 0, "files left in {}", staged.display());

    // A retry moves everything.
    s.cmd(&["CONFIG", "SET", "migrate-batch-rate-limit-mb", "0"]);
    assert_eq!(
        s.cmd(&["CLUSTERX", "MIGRATE", "1400", DST, "sync", "60"]),
        Reply::ok()
    );
    let mut d = pair.dst.raw();
    assert_eq!(
        d.cmd(&["CLUSTER", "COUNTKEYSINSLOT", "1400"]),
        Reply::Int(6000)
    );
    assert_eq!(
        d.cmd(&["GET", &format!("{{{tag}}}:5999")]).text().len(),
        1000
    );
}

#[test]
fn bulk_migration_threads_run_in_the_idle_class_or_at_migrate_nice() {
    const SCHED_IDLE: i64 = 5;
    let pair = Pair::start();
    let mut s = pair.src.raw();
    // The default, which test servers turn off (BACKGROUND_AT_CLIENT_PRIORITY).
    assert_eq!(
        s.cmd(&["CONFIG", "SET", "migrate-idle-class", "yes"]),
        Reply::ok()
    );
    // The thread copying the snapshot runs in the idle class; the job's own
    // thread (write gate, fence, commit) and the client threads keep their priority.
    start_slow_sst_migration(&pair, &mut s, 300);
    assert_eq!(
        thread_priorities(pair.src.pid(), "migrate-job"),
        [(0, 0)],
        "(nice, policy) of the job thread"
    );
    // Sampled until seen: on a loaded machine the starvation guard may be lifting the
    // copy for half a second.
    wait_until(
        "the copy thread in the idle class at (nice 0, SCHED_IDLE)",
        Duration::from_secs(10),
        || thread_priorities(pair.src.pid(), "migrate-copy") == [(0, SCHED_IDLE)],
    );
    for node in [&pair.src, &pair.dst] {
        assert!(
            thread_priorities(node.pid(), "worker-")
                .iter()
                .all(|&(nice, policy)| nice == 0 && policy == 0),
            "client threads keep their priority"
        );
    }
    wait_for_state(&mut s, "success");
    wait_until("the job's threads end", Duration::from_secs(10), || {
        thread_priorities(pair.src.pid(), "migrate-").is_empty()
    });

    // `migrate-idle-class no`: the next job's copy runs at `migrate-nice`.
    s.cmd(&["CONFIG", "SET", "migrate-idle-class", "no"]);
    s.cmd(&["CONFIG", "SET", "migrate-nice", "7"]);
    assert_eq!(
        s.cmd(&["CONFIG", "GET", "migrate-idle-class"]).strings(),
        ["migrate-idle-class", "no"]
    );
    start_slow_migration(&pair, &mut s, 301);
    assert_eq!(thread_priorities(pair.src.pid(), "migrate-job"), [(0, 0)]);
    assert_eq!(thread_priorities(pair.src.pid(), "migrate-copy"), [(7, 0)]);
    wait_for_state(&mut s, "success");
}

#[test]
fn compaction_threads_run_at_the_lowest_priority_unless_configured_otherwise() {
    for (args, lowered) in [
        // The default, which test servers turn off (BACKGROUND_AT_CLIENT_PRIORITY).
        (&["--rocksdb.compaction_low_cpu_priority", "yes"][..], true),
        (&["--rocksdb.compaction_low_cpu_priority", "no"][..], false),
    ] {
        let server = TestServer::start(args);
        let mut c = server.raw();
        for i in 0..100 {
            c.cmd(&["SET", &format!("k{i}"), "v"]);
        }
        // RocksDB applies the priority when a pool thread picks up its next job.
        assert_eq!(c.cmd(&["COMPACT"]), Reply::ok());
        let at_19 = || {
            thread_priorities(server.pid(), "rocksdb:low")
                .iter()
                .any(|&(n, _)| n == 19)
        };
        if lowered {
            wait_until(
                "a compaction thread at nice 19",
                Duration::from_secs(10),
                at_19,
            );
        } else {
            std::thread::sleep(Duration::from_millis(300));
            assert!(!at_19(), "compaction threads keep their priority");
        }
        assert!(
            thread_priorities(server.pid(), "rocksdb:high")
                .iter()
                .all(|&(n, _)| n == 0),
            "flush threads keep their priority"
        );
    }
}
