//! The hand-over of migrated slots (issue 8): what clients and operators see from the
//! copy to SETSLOT. Each test reproduces one finding of the issue with two real nodes:
//! 1. a topology change (SETSLOT) while a job still copies the slots loses no write,
//!    lets no older migrated data overwrite a newer write, and leaves no orphaned data;
//! 3. between the commit and SETSLOT, the source leaves the migrated slots out of its
//!    keyless views and both nodes name the destination in CLUSTER SLOTS and SHARDS;
//! 4. an EXEC arriving while the slots are fenced is held like a plain write, then
//!    answered (never TRYAGAIN at once);
//! 5. progress and ETA count bytes: a big hash does not show 100% and `eta_ms 0` at the
//!    start of its copy.
//!
//! And for issue 13, with the same fence: EVAL and FCALL are held like a plain write
//! and then routed, and a shard-channel subscriber is served through the fence and let
//! go at the commit.

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::fixtures::{cluster_node, halves, set_nodes, two_masters};
use common::{job_field, wait_until, CommitDelay, Raw, Reply, TestServer};
use ferrokv_keyslot::key_slot;

const SRC: &str = "b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b1";
const DST: &str = "b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b2";

/// Two masters: the source owns 0-8191, the destination 8192-16383 (version 1).
struct Pair {
    src: TestServer,
    dst: TestServer,
}

impl Pair {
    fn start() -> Pair {
        let (src, dst) = two_masters(SRC, DST);
        Pair { src, dst }
    }

    /// `CLUSTERX SETSLOT <slots> NODE <id> <version>` on both nodes: their replies.
    fn setslot(&self, slots: &str, id: &str, version: i64) -> [Reply; 2] {
        let version = version.to_string();
        [&self.src, &self.dst].map(|node| {
            node.raw()
                .cmd(&["CLUSTERX", "SETSLOT", slots, "NODE", id, &version])
        })
    }
}

/// Two masters as [`Pair`], with the source's link to the destination through a
/// [`CommitDelay`] that holds its commit of slots 100-199 for 1.5 s: the topology names
/// the destination at the relay, so the link (and the commit) go through it, and the
/// destination learns its id from SETNODEID. The source holds 1,000 keys of 100-199,
/// and its fence may last 10 s.
fn fenced_pair() -> (TestServer, TestServer, CommitDelay) {
    let (src, dst) = (cluster_node(), cluster_node());
    let relay = CommitDelay::start(dst.port, "100-199", Duration::from_millis(1500));
    assert_eq!(dst.raw().cmd(&["CLUSTERX", "SETNODEID", DST]), Reply::ok());
    set_nodes(
        &[&src, &dst],
        &halves((SRC, src.port), (DST, relay.port)),
        1,
    );
    let fill: Vec<(String, String)> = keys_in("f", 100, 199, 1000)
        .into_iter()
        .map(|k| (k, "v".to_string()))
        .collect();
    write_all(&src, &fill);
    assert_eq!(
        src.raw()
            .cmd(&["CONFIG", "SET", "migrate-fence-max-ms", "10000"]),
        Reply::ok()
    );
    (src, dst, relay)
}

/// Starts moving 100-199 from the source (`s`) of a [`fenced_pair`] and returns once the
/// relay holds its commit: the source is fenced from then on.
fn migrate_into_the_fence(s: &mut Raw, relay: &CommitDelay) {
    assert_eq!(s.cmd(&["CLUSTERX", "MIGRATE", "100-199", DST]), Reply::ok());
    wait_until(
        "the source never sent its commit",
        Duration::from_secs(30),
        || relay.caught(),
    );
}

/// The MOVED error that sends `key` (or a shard channel) to the node on `port`.
fn moved_to(key: &str, port: u16) -> Reply {
    Reply::err(&format!(
        "MOVED {} 127.0.0.1:{port}",
        key_slot(key.as_bytes())
    ))
}

/// `count` keys `<prefix>:<n>` whose slots are in `first..=last`.
fn keys_in(prefix: &str, first: u16, last: u16, count: usize) -> Vec<String> {
    (0..)
        .map(|i| format!("{prefix}:{i}"))
        .filter(|k| (first..=last).contains(&key_slot(k.as_bytes())))
        .take(count)
        .collect()
}

/// Writes `pairs` to one node, pipelined.
fn write_all(node: &TestServer, pairs: &[(String, String)]) {
    let mut con = node.client();
    for chunk in pairs.chunks(1000) {
        let mut pipe = redis::pipe();
        for (k, v) in chunk {
            pipe.cmd("SET").arg(k).arg(v).ignore();
        }
        pipe.query::<()>(&mut con).expect("write");
    }
}

/// How many of `pairs` a node does not return with their value.
fn unreadable(node: &TestServer, pairs: &[(String, String)]) -> usize {
    let mut con = node.client();
    let mut bad = 0;
    for chunk in pairs.chunks(1000) {
        let mut pipe = redis::pipe();
        for (k, _) in chunk {
            pipe.cmd("GET").arg(k);
        }
        match pipe.query::<Vec<Option<String>>>(&mut con) {
            Ok(values) => {
                bad += chunk
                    .iter()
                    .zip(values)
                    .filter(|((_, v), got)| got.as_deref() != Some(v.as_str()))
                    .count()
            }
            Err(_) => bad += chunk.len(),
        }
    }
    bad
}

/// Values that do not compress (so that sizes on disk and on the wire agree).
fn noise(seed: usize, len: usize) -> String {
    let mut x = (seed as u64).wrapping_mul(6_364_136_223_846_793_005) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            char::from(b'a' + (x % 26) as u8)
        })
        .collect()
}

/// A reply as text, for messages: bulk strings quoted, errors with their `-`.
fn show(reply: &Reply) -> String {
    match reply {
        Reply::Bulk(b) => format!("{:?}", String::from_utf8_lossy(b)),
        Reply::Status(s) => format!("+{s}"),
        Reply::Error(e) => format!("-{e}"),
        Reply::Int(n) => n.to_string(),
        Reply::Nil => "(nil)".into(),
        Reply::Array(items) | Reply::Set(items) => format!(
            "[{}]",
            items.iter().map(show).collect::<Vec<_>>().join(", ")
        ),
        other => format!("{other:?}"),
    }
}

fn status(c: &mut Raw) -> Reply {
    c.cmd(&["CLUSTERX", "MIGRATION", "STATUS"])
}

fn state_of(status: &Reply) -> String {
    job_field(status, "state")
        .map(|s| s.text())
        .unwrap_or_else(|| panic!("no job in {}", show(status)))
}

fn int_field(status: &Reply, name: &str) -> i64 {
    job_field(status, name)
        .unwrap_or_else(|| panic!("STATUS has no {name}: {}", show(status)))
        .int()
}

/// Waits (up to 60 s) until the newest job is no longer running; its final status.
fn wait_job_end(c: &mut Raw) -> Reply {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let st = status(c);
        if state_of(&st) != "start" {
            return st;
        }
        assert!(
            Instant::now() < deadline,
            "the job did not end: {}",
            show(&st)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

// ---------------------------------------------------------------------------------
// Finding 1

#[test]
fn setslot_during_the_copy_loses_no_write_and_leaves_no_orphan() {
    let pair = Pair::start();
    let (first, last) = (2001u16, 4999u16);
    let slots = "2001-4999";
    let pad = "p".repeat(400);
    let fill: Vec<(String, String)> = keys_in("f", first, last, 8000)
        .into_iter()
        .enumerate()
        .map(|(i, k)| (k, format!("{i}:{pad}")))
        .collect();
    write_all(&pair.src, &fill);
    // A key of the last slot of the range: the copy reaches it last.
    let k = keys_in("late", last, last, 1).remove(0);
    let mut s = pair.src.raw();
    let mut d = pair.dst.raw();
    assert_eq!(s.cmd(&["SET", &k, "OLD"]), Reply::ok());

    s.cmd(&["CONFIG", "SET", "migrate-batch-rate-limit-mb", "1"]);
    s.cmd(&["CONFIG", "SET", "migrate-batch-size-kb", "64"]);
    assert_eq!(s.cmd(&["CLUSTERX", "MIGRATE", slots, DST]), Reply::ok());
    // A quarter copied.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let st = status(&mut s);
        assert_eq!(
            state_of(&st),
            "start",
            "the job ended before a quarter was copied: the test proves nothing ({})",
            show(&st)
        );
        let (sent, total) = (int_field(&st, "keys_sent"), int_field(&st, "keys_total"));
        if total > 0 && sent * 4 >= total {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the copy does not progress: {}",
            show(&st)
        );
        std::thread::sleep(Duration::from_millis(20));
    }

    let mut failures = Vec::new();
    let replies = pair.setslot(slots, DST, 2);
    let refused = replies.iter().any(|r| *r != Reply::ok());
    println!(
        "SETSLOT while the job copies: source {}, destination {}",
        show(&replies[0]),
        show(&replies[1])
    );
    if !refused {
        // Accepted: the destination owns the slots by topology, and takes a write.
        let set = d.cmd(&["SET", &k, "NEW"]);
        let end = wait_job_end(&mut s);
        let got = d.cmd(&["GET", &k]);
        println!(
            "SET k NEW on the destination: {}; job ended {}; GET k: {}",
            show(&set),
            state_of(&end),
            show(&got)
        );
        if set == Reply::ok() && got != Reply::bulk("NEW") {
            failures.push(format!(
                "SETSLOT was accepted while the job copied, SET {k} NEW on the new owner answered +OK, the job ended `{}`, and GET {k} returns {}: older migrated data overwrote an acknowledged write",
                state_of(&end),
                show(&got)
            ));
        } else if set != Reply::ok() {
            failures.push(format!(
                "SETSLOT was accepted on both nodes, but the new owner refused SET {k} NEW: {}",
                show(&set)
            ));
        }
        let lost = unreadable(&pair.dst, &fill);
        if lost != 0 {
            failures.push(format!(
                "{lost} of {} keys acknowledged on the source before the hand-over are not readable on the new owner",
                fill.len()
            ));
        }
    } else {
        // Refused: with a clear error, and the controller's way on (cancel, migrate
        // again, then SETSLOT) loses nothing.
        for (node, reply) in ["source", "destination"].iter().zip(&replies) {
            if let Reply::Error(text) = reply {
                assert!(
                    text.len() > 10,
                    "the {node} refused SETSLOT without a clear reason: {text:?}"
                );
            }
        }
        assert_eq!(
            s.cmd(&["CLUSTERX", "MIGRATION", "CANCEL", "ALL"]),
            Reply::Int(1),
            "the job is still running and can be cancelled"
        );
        let end = wait_job_end(&mut s);
        assert_eq!(state_of(&end), "cancelled", "{}", show(&end));
        s.cmd(&["CONFIG", "SET", "migrate-batch-rate-limit-mb", "0"]);
        let retry = s.cmd(&["CLUSTERX", "MIGRATE", slots, DST, "sync", "60"]);
        if retry != Reply::ok() {
            failures.push(format!(
                "after the refused SETSLOT and a cancel, the same MIGRATE failed: {}",
                show(&retry)
            ));
        }
        let replies = pair.setslot(slots, DST, 2);
        assert_eq!(
            replies,
            [Reply::ok(), Reply::ok()],
            "SETSLOT after the migration"
        );
        assert_eq!(d.cmd(&["SET", &k, "NEW"]), Reply::ok());
        assert_eq!(d.cmd(&["GET", &k]), Reply::bulk("NEW"));
        let lost = unreadable(&pair.dst, &fill);
        if lost != 0 {
            failures.push(format!(
                "{lost} of {} keys acknowledged on the source are not readable on the new owner after cancel, retry and SETSLOT",
                fill.len()
            ));
        }
    }

    // The source keeps nothing of slots it no longer owns.
    let start = Instant::now();
    let mut left = s.cmd(&["DBSIZE"]).int();
    while left != 0 && start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(100));
        left = s.cmd(&["DBSIZE"]).int();
    }
    if left != 0 {
        failures.push(format!(
            "the source still holds {left} keys of slots {slots}, which it no longer owns, {:?} after the job ended",
            start.elapsed()
        ));
    } else {
        // Not just hidden: given the slots back, the source has none of their data.
        let back = pair.setslot(slots, SRC, 3);
        assert_eq!(
            back,
            [Reply::ok(), Reply::ok()],
            "SETSLOT back to the source"
        );
        let held = s.cmd(&["DBSIZE"]).int();
        if held != 0 {
            failures.push(format!(
                "the source hid {held} keys of slots it did not own instead of deleting them (they reappear when it owns the slots again)"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

// ---------------------------------------------------------------------------------
// Finding 3

/// The port CLUSTER SLOTS names as the owner of each slot in `first..=last`.
fn slots_owner_ports(reply: &Reply, first: u16, last: u16) -> Vec<Option<i64>> {
    let mut owners = vec![None; (last - first) as usize + 1];
    for entry in reply.items() {
        let fields = entry.items();
        let (start, end) = (fields[0].int(), fields[1].int());
        let port = fields[2].items()[1].int();
        for slot in start.max(first as i64)..=end.min(last as i64) {
            owners[(slot - first as i64) as usize] = Some(port);
        }
    }
    owners
}

/// A field of a map reply (RESP3 map or RESP2 flat array).
fn map_field(reply: &Reply, name: &str) -> Option<Reply> {
    match reply {
        Reply::Map(pairs) => pairs
            .iter()
            .find(|(k, _)| *k == Reply::bulk(name))
            .map(|(_, v)| v.clone()),
        Reply::Array(fields) => fields
            .chunks(2)
            .find(|pair| pair.len() == 2 && pair[0] == Reply::bulk(name))
            .map(|pair| pair[1].clone()),
        _ => None,
    }
}

/// The slots CLUSTER SHARDS gives to the shard whose master has `port`.
fn shard_slots(reply: &Reply, port: u16) -> BTreeSet<i64> {
    let mut slots = BTreeSet::new();
    for shard in reply.items() {
        let nodes = map_field(&shard, "nodes")
            .map(|n| n.items())
            .unwrap_or_default();
        let is_master_here = nodes.iter().any(|n| {
            map_field(n, "port") == Some(Reply::Int(port as i64))
                && map_field(n, "role") == Some(Reply::bulk("master"))
        });
        if !is_master_here {
            continue;
        }
        let ranges = map_field(&shard, "slots")
            .map(|s| s.items())
            .unwrap_or_default();
        for pair in ranges.chunks(2) {
            let (a, b) = (pair[0].int(), pair[1].int());
            slots.extend(a..=b);
        }
    }
    slots
}

#[test]
fn between_commit_and_setslot_the_source_lists_only_what_it_serves_and_both_name_the_new_owner() {
    let pair = Pair::start();
    let moving: Vec<(String, String)> = keys_in("m", 0, 999, 2000)
        .into_iter()
        .map(|k| (k, "v".to_string()))
        .collect();
    let staying: Vec<(String, String)> = keys_in("s", 1000, 8191, 1000)
        .into_iter()
        .map(|k| (k, "v".to_string()))
        .collect();
    let theirs: Vec<(String, String)> = keys_in("d", 8192, 16383, 500)
        .into_iter()
        .map(|k| (k, "v".to_string()))
        .collect();
    write_all(&pair.src, &moving);
    write_all(&pair.src, &staying);
    write_all(&pair.dst, &theirs);
    let mut s = pair.src.raw();
    let mut d = pair.dst.raw();
    assert_eq!(
        s.cmd(&["CLUSTERX", "MIGRATE", "0-999", DST, "sync", "60"]),
        Reply::ok()
    );
    // Committed: the source answers MOVED for the slots.
    let probe = &moving[0].0;
    let probe_slot = key_slot(probe.as_bytes());
    assert_eq!(
        s.cmd(&["GET", probe]),
        Reply::err(&format!("MOVED {probe_slot} 127.0.0.1:{}", pair.dst.port)),
        "the job committed"
    );

    let mut failures = Vec::new();
    let staying_set: BTreeSet<String> = staying.iter().map(|(k, _)| k.clone()).collect();
    let is_moved = |k: &String| key_slot(k.as_bytes()) <= 999;

    let dbsize = s.cmd(&["DBSIZE"]).int();
    if dbsize != staying.len() as i64 {
        failures.push(format!(
            "DBSIZE on the source: {dbsize}, but it serves {} keys (the other {} answer MOVED)",
            staying.len(),
            moving.len()
        ));
    }
    let keys: BTreeSet<String> = s.cmd(&["KEYS", "*"]).strings().into_iter().collect();
    if keys != staying_set {
        failures.push(format!(
            "KEYS * on the source: {} keys, {} of migrated slots",
            keys.len(),
            keys.iter().filter(|k| is_moved(k)).count()
        ));
    }
    let mut scanned = Vec::new();
    let mut cursor = "0".to_string();
    loop {
        let items = s.cmd(&["SCAN", &cursor, "COUNT", "500"]).items();
        cursor = items[0].text();
        scanned.extend(items[1].strings());
        if cursor == "0" {
            break;
        }
    }
    let scanned_moved = scanned.iter().filter(|k| is_moved(k)).count();
    if scanned_moved != 0 || scanned.len() != staying.len() {
        failures.push(format!(
            "SCAN on the source: {} keys, {scanned_moved} of migrated slots",
            scanned.len()
        ));
    }
    let random_moved = (0..100)
        .map(|_| s.cmd(&["RANDOMKEY"]))
        .filter(|r| matches!(r, Reply::Bulk(k) if key_slot(k) <= 999))
        .count();
    if random_moved != 0 {
        failures.push(format!(
            "RANDOMKEY on the source returned a key of a migrated slot {random_moved} times in 100"
        ));
    }
    let in_probe_slot = moving
        .iter()
        .filter(|(k, _)| key_slot(k.as_bytes()) == probe_slot)
        .count() as i64;
    let slot_text = probe_slot.to_string();
    let count = s.cmd(&["CLUSTER", "COUNTKEYSINSLOT", &slot_text]);
    if count != Reply::Int(0) {
        failures.push(format!(
            "CLUSTER COUNTKEYSINSLOT {probe_slot} on the source: {} (migrated)",
            show(&count)
        ));
    }
    let listed = s.cmd(&["CLUSTER", "GETKEYSINSLOT", &slot_text, "100"]);
    if listed != Reply::Array(vec![]) {
        failures.push(format!(
            "CLUSTER GETKEYSINSLOT {probe_slot} on the source: {} (migrated)",
            show(&listed)
        ));
    }
    assert_eq!(
        d.cmd(&["CLUSTER", "COUNTKEYSINSLOT", &slot_text]),
        Reply::Int(in_probe_slot),
        "the destination lists the slot's keys"
    );
    let keyspace = s.cmd(&["INFO", "keyspace"]).text();
    let expected_line = format!("db0:keys={},", staying.len());
    if !keyspace.contains(&expected_line) {
        failures.push(format!(
            "INFO keyspace on the source: {:?}, expected {expected_line}...",
            keyspace.trim()
        ));
    }

    // Both nodes name the destination as the owner of the migrated slots.
    for (name, c) in [("source", &mut s), ("destination", &mut d)] {
        let slots = c.cmd(&["CLUSTER", "SLOTS"]);
        let owners = slots_owner_ports(&slots, 0, 8191);
        let wrong_moved = owners[..1000]
            .iter()
            .filter(|p| **p != Some(pair.dst.port as i64))
            .count();
        let wrong_staying = owners[1000..]
            .iter()
            .filter(|p| **p != Some(pair.src.port as i64))
            .count();
        if wrong_moved != 0 || wrong_staying != 0 {
            failures.push(format!(
                "CLUSTER SLOTS on the {name}: {wrong_moved} of the 1000 migrated slots not given to the destination, {wrong_staying} of the source's slots not given to the source: {}",
                show(&slots)
            ));
        }
        let shards = c.cmd(&["CLUSTER", "SHARDS"]);
        let of_dst = shard_slots(&shards, pair.dst.port);
        let of_src = shard_slots(&shards, pair.src.port);
        let dst_has_moved = (0..1000).filter(|s| of_dst.contains(s)).count();
        let src_has_moved = (0..1000).filter(|s| of_src.contains(s)).count();
        if dst_has_moved != 1000 || src_has_moved != 0 {
            failures.push(format!(
                "CLUSTER SHARDS on the {name}: the destination's shard has {dst_has_moved} of the 1000 migrated slots, the source's shard {src_has_moved}"
            ));
        }
    }

    // After SETSLOT on both, everything agrees (sanity of the end state).
    assert_eq!(pair.setslot("0-999", DST, 2), [Reply::ok(), Reply::ok()]);
    wait_until(
        "the source did not drop the migrated slots after SETSLOT",
        Duration::from_secs(10),
        || s.cmd(&["DBSIZE"]).int() == staying.len() as i64,
    );
    assert_eq!(
        unreadable(&pair.dst, &moving),
        0,
        "migrated keys on the destination"
    );
    assert!(
        failures.is_empty(),
        "between the commit and SETSLOT:\n{}",
        failures.join("\n")
    );
}

// ---------------------------------------------------------------------------------
// Finding 4

#[test]
fn exec_during_the_fence_is_held_then_answered_like_a_plain_write() {
    let (src, dst, relay) = fenced_pair();
    let mut s = src.raw();

    // A transaction queued before the cut-over, on a key of the moving slots.
    let tx_key = keys_in("tx", 100, 199, 1).remove(0);
    let mut tx = src.raw();
    assert_eq!(tx.cmd(&["MULTI"]), Reply::ok());
    assert_eq!(
        tx.cmd(&["SET", &tx_key, "from-exec"]),
        Reply::Status("QUEUED".into())
    );
    let plain_key = keys_in("plain", 100, 199, 1).remove(0);
    let mut plain = src.raw();

    migrate_into_the_fence(&mut s, &relay);
    // Fenced, the commit held back by the relay: a plain SET and the EXEC, at once.
    let sent = Instant::now();
    plain.send(&Raw::encode(&[b"SET", plain_key.as_bytes(), b"plain"]));
    tx.send(&Raw::encode(&[b"EXEC"]));
    let exec = tx.read();
    let exec_ms = sent.elapsed().as_millis();
    let plain_reply = plain.read();
    let plain_ms = sent.elapsed().as_millis();
    let end = wait_job_end(&mut s);
    println!(
        "inside the fence: EXEC answered {} after {exec_ms} ms; plain SET answered {} after {plain_ms} ms; job {} with fence_ms {}",
        show(&exec),
        show(&plain_reply),
        state_of(&end),
        job_field(&end, "fence_ms").map(|f| show(&f)).unwrap_or_default(),
    );
    assert_eq!(state_of(&end), "success", "{}", show(&end));
    let moved = moved_to(&plain_key, relay.port);
    // The scenario holds only if the plain write really was held by the fence.
    assert!(
        plain_reply == moved && plain_ms >= 500,
        "the plain SET was not held by the fence ({} after {plain_ms} ms): the test did not reach the fence",
        show(&plain_reply)
    );

    let is_tryagain = matches!(&exec, Reply::Error(e) if e.starts_with("TRYAGAIN"));
    assert!(
        !is_tryagain,
        "EXEC of a transaction queued before the cut-over got {} after {exec_ms} ms, while a plain SET sent at the same moment was held {plain_ms} ms and answered {}",
        show(&exec),
        show(&plain_reply)
    );
    match &exec {
        Reply::Error(e) if e.starts_with("MOVED") || e.starts_with("EXECABORT") => {}
        other => panic!(
            "the job committed, so the EXEC held by the fence must answer MOVED or EXECABORT, not {}",
            show(other)
        ),
    }
    assert!(
        exec_ms >= 500,
        "EXEC was answered after {exec_ms} ms: not held by the fence"
    );
    assert_eq!(
        dst.raw().cmd(&["GET", &tx_key]),
        Reply::Nil,
        "the refused transaction wrote nothing"
    );
}

/// Issue 13: a script on a slot at its cut-over is held at the fence like a plain
/// write and then routed (MOVED; it did not run on the source), and a RESP3 subscriber
/// of the slot's shard channel keeps getting its messages through the fence, then the
/// `sunsubscribe` push when the commit gives the slot away.
#[test]
fn scripts_are_held_at_the_fence_and_shard_subscribers_are_let_go_at_the_commit() {
    let (src, dst, relay) = fenced_pair();
    let mut s = src.raw();
    let lib = "#!lua name=l\nredis.register_function('bump', function(keys) return redis.call('incr', keys[1]) end)";
    for node in [&src, &dst] {
        assert_eq!(node.raw().cmd(&["FUNCTION", "LOAD", lib]), Reply::bulk("l"));
    }
    let [eval_key, fcall_key, channel] =
        ["eval", "fcall", "ch"].map(|p| keys_in(p, 100, 199, 1).remove(0));
    let mut sub = src.raw();
    assert!(matches!(sub.cmd(&["HELLO", "3"]), Reply::Map(_)));
    sub.send(&Raw::encode(&[b"SSUBSCRIBE", channel.as_bytes()]));
    assert_eq!(
        sub.read_wire(),
        format!(
            ">3\r\n$10\r\nssubscribe\r\n${}\r\n{channel}\r\n:1\r\n",
            channel.len()
        )
    );
    let (mut eval, mut fcall) = (src.raw(), src.raw());

    migrate_into_the_fence(&mut s, &relay);
    // Fenced: both scripts at once, and a shard message (not a write: served here).
    let sent = Instant::now();
    eval.send(&Raw::encode(&[
        b"EVAL",
        b"return redis.call('incr', KEYS[1])",
        b"1",
        eval_key.as_bytes(),
    ]));
    fcall.send(&Raw::encode(&[
        b"FCALL",
        b"bump",
        b"1",
        fcall_key.as_bytes(),
    ]));
    assert_eq!(s.cmd(&["SPUBLISH", &channel, "inside"]), Reply::Int(1));
    let published_ms = sent.elapsed().as_millis();
    let smessage = format!(
        ">3\r\n$8\r\nsmessage\r\n${}\r\n{channel}\r\n$6\r\ninside\r\n",
        channel.len()
    );
    assert_eq!(sub.read_wire(), smessage);
    let eval_reply = eval.read();
    let eval_ms = sent.elapsed().as_millis();
    let fcall_reply = fcall.read();
    let fcall_ms = sent.elapsed().as_millis();
    let end = wait_job_end(&mut s);
    println!(
        "inside the fence: SPUBLISH answered after {published_ms} ms; EVAL {} after {eval_ms} ms; FCALL {} after {fcall_ms} ms; job {} with fence_ms {}",
        show(&eval_reply),
        show(&fcall_reply),
        state_of(&end),
        job_field(&end, "fence_ms").map(|f| show(&f)).unwrap_or_default(),
    );
    assert_eq!(state_of(&end), "success", "{}", show(&end));
    assert!(
        published_ms < 500,
        "SPUBLISH waited {published_ms} ms: the fence holds writes only"
    );
    for (what, reply, ms, key) in [
        ("EVAL", &eval_reply, eval_ms, &eval_key),
        ("FCALL", &fcall_reply, fcall_ms, &fcall_key),
    ] {
        assert_eq!(*reply, moved_to(key, relay.port), "{what}");
        assert!(
            ms >= 500,
            "{what} answered after {ms} ms: not held by the fence"
        );
    }
    // The commit let the subscriber go (a RESP3 push, beside no reply).
    assert_eq!(
        sub.read_wire(),
        format!(
            ">3\r\n$12\r\nsunsubscribe\r\n${}\r\n{channel}\r\n:0\r\n",
            channel.len()
        )
    );
    assert_eq!(
        s.cmd(&["SPUBLISH", &channel, "after"]),
        moved_to(&channel, relay.port)
    );
    // The held scripts did not run on the source: on the destination, where MOVED
    // sends them, they run once.
    let mut d = dst.raw();
    for key in [&eval_key, &fcall_key] {
        assert_eq!(d.cmd(&["GET", key]), Reply::Nil, "{key}");
    }
    assert_eq!(
        d.cmd(&["EVAL", "return redis.call('incr', KEYS[1])", "1", &eval_key]),
        Reply::Int(1)
    );
    assert_eq!(d.cmd(&["FCALL", "bump", "1", &fcall_key]), Reply::Int(1));
}

// ---------------------------------------------------------------------------------
// Finding 5

/// One look at a running job: (elapsed_ms, eta_ms, bytes_sent, bytes_total, percent).
type Sample = (i64, i64, i64, Option<i64>, Option<i64>);

#[test]
fn progress_and_eta_count_bytes_for_a_big_hash() {
    let pair = Pair::start();
    let mut s = pair.src.raw();
    let hash = keys_in("h", 3000, 3000, 1).remove(0);
    {
        let mut con = pair.src.client();
        for chunk in 0..20 {
            let mut pipe = redis::pipe();
            pipe.cmd("HSET").arg(&hash);
            for i in chunk * 1000..(chunk + 1) * 1000 {
                pipe.arg(format!("field:{i}")).arg(noise(i, 100));
            }
            pipe.ignore();
            pipe.query::<()>(&mut con).expect("HSET");
        }
    }
    assert_eq!(s.cmd(&["HLEN", &hash]), Reply::Int(20_000));
    let small: Vec<(String, String)> = keys_in("small", 3000, 3000, 10)
        .into_iter()
        .map(|k| (k, "v".to_string()))
        .collect();
    write_all(&pair.src, &small);
    // About 2.5 MB at 1 MB/s.
    s.cmd(&["CONFIG", "SET", "migrate-batch-rate-limit-mb", "1"]);
    s.cmd(&["CONFIG", "SET", "migrate-batch-size-kb", "64"]);
    assert_eq!(s.cmd(&["CLUSTERX", "MIGRATE", "3000", DST]), Reply::ok());

    // (elapsed_ms, eta_ms, bytes_sent, bytes_total, percent) while running.
    let mut samples: Vec<Sample> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    let end = loop {
        let st = status(&mut s);
        if state_of(&st) != "start" {
            break st;
        }
        let field = |name: &str| job_field(&st, name).map(|r| r.int());
        samples.push((
            field("elapsed_ms").unwrap_or(-1),
            field("eta_ms").unwrap_or(-1),
            field("bytes_sent").unwrap_or(-1),
            field("bytes_total"),
            field("percent"),
        ));
        assert!(
            Instant::now() < deadline,
            "the job did not end: {}",
            show(&st)
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(state_of(&end), "success", "{}", show(&end));
    let total_ms = int_field(&end, "elapsed_ms");
    assert!(
        total_ms >= 1000 && samples.len() >= 10,
        "the throttled job took {total_ms} ms ({} samples): the test proves nothing",
        samples.len()
    );

    let mut failures = Vec::new();
    let zero_eta: Vec<i64> = samples.iter().filter(|s| s.1 == 0).map(|s| s.0).collect();
    if !zero_eta.is_empty() {
        failures.push(format!(
            "eta_ms was 0 while the job was running, at elapsed_ms {:?} of {total_ms}",
            &zero_eta[..zero_eta.len().min(10)]
        ));
    }
    // bytes_total is always there; -1 (unknown) only before the first byte is sent.
    let missing = samples.iter().filter(|s| s.3.is_none()).count();
    let unknown = samples
        .iter()
        .filter(|s| s.2 > 0 && s.3.is_some_and(|t| t <= 0))
        .count();
    if missing != 0 || unknown != 0 {
        failures.push(format!(
            "while the job ran, STATUS had no bytes_total in {missing} of {} samples, and a non-positive one after bytes were sent in {unknown}",
            samples.len()
        ));
    }
    // In the first half of the job (once bytes flow) the ETA is known; in its first
    // quarter, progress by bytes is not 100% (by keys it was, at once: one hash).
    let first_half: Vec<Sample> = samples
        .iter()
        .copied()
        .filter(|s| s.2 > 0 && s.0 * 2 < total_ms)
        .collect();
    if !first_half.iter().any(|s| s.1 > 0) {
        failures.push(format!(
            "no positive eta_ms in the first half of the job (first etas: {:?})",
            first_half.iter().map(|s| s.1).take(10).collect::<Vec<_>>()
        ));
    }
    for &(elapsed, _, sent, total, percent) in first_half.iter().filter(|s| s.0 * 4 < total_ms) {
        if let Some(total) = total.filter(|t| *t > 0) {
            if sent >= total {
                failures.push(format!(
                    "at {elapsed} ms of {total_ms}: bytes_sent {sent} of bytes_total {total}: 100% by bytes with most of the job to go"
                ));
                break;
            }
        }
        if let Some(p) = percent.filter(|p| *p >= 100) {
            failures.push(format!("at {elapsed} ms of {total_ms}: percent {p}"));
            break;
        }
    }
    println!(
        "progress samples (elapsed_ms, eta_ms, bytes_sent, bytes_total, percent): {:?}",
        samples
            .iter()
            .step_by((samples.len() / 8).max(1))
            .collect::<Vec<_>>()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(
        pair.dst.raw().cmd(&["HLEN", &hash]),
        Reply::Int(20_000),
        "the hash moved whole"
    );
}
