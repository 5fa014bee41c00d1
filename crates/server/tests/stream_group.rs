//! Stream consumer groups against real servers: the same command sequences sent to
//! redis-server 7 and Ferrokv side by side (replies compared exactly, times blanked),
//! blocking XREADGROUP, idle times, the groups' life with their stream, restarts, and a
//! replica receiving groups, consumers and pending entries (the slot migration that
//! carries them is in migration.rs).

mod common;
use std::time::Duration;

use common::{Raw, Reply, TestServer};

/// Replies with times in them (idle, delivery and seen times) get them blanked, so the
/// two servers' clocks do not matter; everything else is compared as is.
fn blank_times(cmd: &[&str], reply: Reply) -> Reply {
    let name = cmd[0].to_ascii_uppercase();
    let sub = cmd
        .get(1)
        .map(|s| s.to_ascii_uppercase())
        .unwrap_or_default();
    match (name.as_str(), reply) {
        // Extended XPENDING rows: [id, consumer, idle, deliveries].
        ("XPENDING", Reply::Array(rows)) if cmd.len() > 3 => Reply::Array(
            rows.into_iter()
                .map(|row| match row {
                    Reply::Array(mut f) if f.len() == 4 => {
                        f[2] = Reply::Int(0);
                        Reply::Array(f)
                    }
                    other => other,
                })
                .collect(),
        ),
        ("XINFO", reply) if sub == "CONSUMERS" || sub == "STREAM" => blank_named(reply),
        (_, reply) => reply,
    }
}

/// Blanks `idle`, `seen-time` and the delivery times of PEL rows, at any depth.
fn blank_named(reply: Reply) -> Reply {
    match reply {
        Reply::Array(items) => {
            let mut out = Vec::with_capacity(items.len());
            let mut blank_next = false;
            let mut items = items.into_iter().peekable();
            while let Some(item) = items.next() {
                if blank_next {
                    out.push(Reply::Int(0));
                    blank_next = false;
                    continue;
                }
                if let Reply::Bulk(b) = &item {
                    blank_next = matches!(b.as_slice(), b"idle" | b"seen-time")
                        && matches!(items.peek(), Some(Reply::Int(_)));
                    if b.as_slice() == b"pending" {
                        out.push(item);
                        if let Some(Reply::Array(rows)) = items.next() {
                            out.push(Reply::Array(rows.into_iter().map(blank_pel_row).collect()));
                        }
                        continue;
                    }
                }
                out.push(blank_named(item));
            }
            Reply::Array(out)
        }
        Reply::Map(pairs) => blank_named(Reply::Array(
            pairs.into_iter().flat_map(|(k, v)| [k, v]).collect(),
        )),
        other => other,
    }
}

/// A PEL row of XINFO STREAM FULL: `[id, consumer, time, count]` or `[id, time, count]`.
fn blank_pel_row(row: Reply) -> Reply {
    match row {
        Reply::Array(mut f) if f.len() >= 3 => {
            let at = f.len() - 2;
            f[at] = Reply::Int(0);
            Reply::Array(f)
        }
        other => other,
    }
}

/// Sends each command of `table` (one a line, see [`common::commands`]) to both servers
/// and compares the replies: exact RESP bytes when no time is in them, decoded with
/// times blanked otherwise.
fn same(ours: &mut Raw, redis: &mut Raw, table: &str) {
    for args in &common::commands(table) {
        let timed = matches!(args[0].to_ascii_uppercase().as_str(), "XPENDING" | "XINFO")
            && !(args[0].eq_ignore_ascii_case("XPENDING") && args.len() == 3)
            && !args
                .get(1)
                .is_some_and(|s| s.eq_ignore_ascii_case("GROUPS"));
        if timed {
            let want = blank_times(args, redis.cmd(args));
            let got = blank_times(args, ours.cmd(args));
            assert_eq!(got, want, "{args:?}");
        } else {
            let want = redis.cmd_wire(args);
            let got = ours.cmd_wire(args);
            assert_eq!(got, want, "{args:?}");
        }
    }
}

/// The scenario both servers run, one command a line (see [`common::commands`]).
const SCENARIO: &str = "
    // XGROUP CREATE: the key must exist unless MKSTREAM; options and their errors.
    XGROUP CREATE s g $
    XGROUP CREATE s g $ MKSTREAM
    XGROUP CREATE s g $ MKSTREAM
    TYPE s
    XLEN s
    XGROUP CREATE s g2 1-x
    XGROUP CREATE s g2 +
    XGROUP CREATE s g2 0 ENTRIESREAD -2
    XGROUP CREATE s g2 0 ENTRIESREAD x
    XGROUP CREATE s g2 0 FOO
    XGROUP CREATE s g2 0 ENTRIESREAD 1 ENTRIESREAD 2 MKSTREAM
    XGROUP CREATE s
    XGROUP FOO s
    XGROUP HELP
    XGROUP HELP x
    SET str x
    XGROUP CREATE str g $ MKSTREAM
    XGROUP SETID nokey g 0
    XGROUP SETID s nog 0
    XGROUP DESTROY s nog
    XGROUP CREATECONSUMER s nog c
    XADD s 1-1 a 1
    XADD s 2-1 b 2
    XADD s 3-1 c 3
    XGROUP CREATE s g0 0
    XGROUP CREATE s g9 $ ENTRIESREAD 3
    XINFO GROUPS s
    XINFO STREAM s
    // Reading: new entries, the consumer's history, NOACK, errors.
    XREADGROUP GROUP g alice STREAMS s >
    XREADGROUP GROUP g0 alice COUNT 1 STREAMS s >
    XREADGROUP GROUP g0 bob STREAMS s >
    XREADGROUP GROUP g0 bob STREAMS s >
    XREADGROUP GROUP g0 alice STREAMS s 0
    XREADGROUP GROUP g0 bob COUNT 1 STREAMS s 0
    XREADGROUP GROUP g0 carol STREAMS s 0
    XREADGROUP GROUP g0 alice STREAMS s $
    XREADGROUP GROUP nog alice STREAMS s >
    XREADGROUP GROUP g0 alice STREAMS nokey >
    XREADGROUP GROUP g0 alice STREAMS str >
    XREADGROUP GROUP g0 alice STREAMS s > s
    XREADGROUP COUNT 1 STREAMS s > x
    XREADGROUP GROUP g0 a STREAMS s
    XREAD GROUP g0 a STREAMS s >
    XREAD NOACK STREAMS s 0
    XREAD STREAMS s >
    XINFO GROUPS s
    XINFO CONSUMERS s g0
    XINFO CONSUMERS s nog
    XINFO CONSUMERS nokey g
    XINFO CONSUMERS s
    XPENDING s g0
    XPENDING s g
    XPENDING s g0 - + 10
    XPENDING s g0 - + 10 bob
    XPENDING s g0 - + 10 nobody
    XPENDING s g0 (1-1 + 1
    XPENDING s g0 IDLE 0 - + 10
    XPENDING s g0 IDLE 100000 - + 10
    XPENDING s g0 - + x
    XPENDING s g0 x + 10
    XPENDING s g0 - +
    XPENDING s g0 IDLE 1 - +
    XPENDING s nog
    XPENDING nokey g - + x
    // Acknowledging.
    XACK s g0 1-1 1-1 9-9
    XACK s g0 x
    XACK nokey g0 x
    XACK s nog 1-1
    XPENDING s g0
    // Claiming.
    XCLAIM s g0 dave 0 2-1 9-9 JUSTID
    XCLAIM s g0 dave 0 3-1
    XCLAIM s g0 erin 0 1-1 FORCE RETRYCOUNT 7
    XCLAIM s g0 erin 0 1-1 JUSTID
    XCLAIM s g0 erin 100000 2-1
    XCLAIM s g0 erin 0 2-1 LASTID 5-0 JUSTID
    XCLAIM s g0 erin x 2-1
    XCLAIM s g0 erin 0 2-1 FOO
    XCLAIM s g0 erin 0 2-1 IDLE x
    XCLAIM s g0 erin 0 2-1 TIME x
    XCLAIM s g0 erin 0 2-1 RETRYCOUNT x
    XCLAIM s g0 erin 0 2-1 LASTID x
    XCLAIM nokey g0 erin x 2-1
    XCLAIM s g0 nobody 0 9-9
    XINFO GROUPS s
    XINFO CONSUMERS s g0
    XPENDING s g0 - + 10
    // XAUTOCLAIM, with a deleted entry in the PEL.
    XDEL s 2-1
    XAUTOCLAIM s g0 frank 0 0 COUNT 1
    XAUTOCLAIM s g0 frank 0 0 COUNT 1 JUSTID
    XAUTOCLAIM s g0 frank 0 0
    XAUTOCLAIM s g0 frank 0 (1-1 JUSTID
    XAUTOCLAIM s g0 frank 100000 0
    XAUTOCLAIM s g0 frank x 0
    XAUTOCLAIM s g0 frank 0 x
    XAUTOCLAIM s g0 frank 0 0 COUNT 0
    XAUTOCLAIM s g0 frank 0 0 FOO
    XAUTOCLAIM nokey g0 frank 0 0
    XPENDING s g0
    XINFO STREAM s FULL
    XINFO STREAM s FULL COUNT 1
    // History with a deleted entry, then lag after deletions.
    XADD s 6-1 d 4
    XREADGROUP GROUP g0 frank STREAMS s >
    XDEL s 3-1
    XREADGROUP GROUP g0 frank STREAMS s 0
    XREADGROUP GROUP g0 frank NOACK STREAMS s >
    XINFO GROUPS s
    XGROUP SETID s g 0
    XGROUP SETID s g - ENTRIESREAD 0
    XGROUP SETID s g 0 FOO
    XGROUP SETID s g 0 ENTRIESREAD -5
    XINFO GROUPS s
    XREADGROUP GROUP g zed NOACK STREAMS s >
    XINFO GROUPS s
    XGROUP SETID s g $
    XINFO GROUPS s
    // Consumers and groups go away.
    XGROUP CREATECONSUMER s g0 alice
    XGROUP CREATECONSUMER s g0 new
    XGROUP DELCONSUMER s g0 frank
    XGROUP DELCONSUMER s g0 nobody
    XPENDING s g0
    XINFO CONSUMERS s g0
    XGROUP DESTROY s g0
    XGROUP DESTROY s g0
    XINFO GROUPS s
    XINFO STREAM s
    // A stream that is deleted and created again has no groups.
    DEL s
    XADD s 1-1 a 1
    XINFO GROUPS s
    XREADGROUP GROUP g alice STREAMS s >
    // RENAME carries the groups.
    XGROUP CREATE s g 0
    XREADGROUP GROUP g alice STREAMS s >
    RENAME s t
    XPENDING t g
    XINFO GROUPS t
    XINFO GROUPS s
    // Transactions: a group read inside MULTI.
    MULTI
    XREADGROUP GROUP g bob BLOCK 100 STREAMS t >
    XACK t g 1-1
    EXEC
    ";

#[test]
fn group_commands_match_redis() {
    let mut pair = common::SideBySide::start(&[]);
    same(&mut pair.actual, &mut pair.expected, SCENARIO);
    // The same in RESP3: maps and nulls of their own.
    pair.expected.cmd(&["FLUSHALL"]);
    pair.actual.cmd(&["FLUSHALL"]);
    pair.hello("3");
    same(&mut pair.actual, &mut pair.expected, SCENARIO);
}

#[test]
fn xreadgroup_blocks_until_an_entry_arrives() {
    let server = TestServer::start(&[]);
    let mut c = server.raw();
    assert_eq!(
        c.cmd(&["XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"]),
        Reply::ok()
    );
    // Times out with a null array.
    assert_eq!(
        c.cmd_wire(&[
            "XREADGROUP",
            "GROUP",
            "g",
            "a",
            "BLOCK",
            "50",
            "STREAMS",
            "s",
            ">"
        ]),
        "*-1\r\n"
    );
    let mut waiter = server.raw();
    waiter.send(&Raw::encode(&[
        b"XREADGROUP",
        b"GROUP",
        b"g",
        b"a",
        b"BLOCK",
        b"0",
        b"STREAMS",
        b"s",
        b">",
    ]));
    common::wait_until("the reader blocks", Duration::from_secs(5), || {
        common::info_field(&mut c, "clients", "blocked_clients") == 1
    });
    assert_eq!(c.cmd(&["XADD", "s", "5-1", "f", "v"]), Reply::bulk("5-1"));
    assert_eq!(
        waiter.read(),
        Reply::Array(vec![Reply::Array(vec![
            Reply::bulk("s"),
            Reply::Array(vec![Reply::Array(vec![
                Reply::bulk("5-1"),
                Reply::Array(vec![Reply::bulk("f"), Reply::bulk("v")]),
            ])]),
        ])])
    );
    // Delivered to the group: pending for `a`, and a second reader gets nothing new.
    assert_eq!(c.cmd(&["XPENDING", "s", "g"]).items()[0], Reply::Int(1));
    assert_eq!(
        c.cmd_wire(&["XREADGROUP", "GROUP", "g", "b", "STREAMS", "s", ">"]),
        "*-1\r\n"
    );
}

#[test]
fn idle_times_and_min_idle_filters() {
    let server = TestServer::start(&[]);
    let mut c = server.raw();
    c.cmd_table(
        "
        XADD s 1-1 f v
        XADD s 2-1 f v
        XGROUP CREATE s g 0
        XREADGROUP GROUP g a COUNT 1 STREAMS s >
        ",
    );
    std::thread::sleep(Duration::from_millis(300));
    c.cmd(&["XREADGROUP", "GROUP", "g", "a", "STREAMS", "s", ">"]);
    let idle = c.cmd(&["XPENDING", "s", "g", "IDLE", "200", "-", "+", "10"]);
    assert_eq!(idle.items().len(), 1, "only the older entry: {idle:?}");
    let row = idle.items()[0].items();
    assert_eq!(row[0], Reply::bulk("1-1"));
    assert!(row[2].int() >= 300, "{row:?}");
    // XCLAIM with a min idle time takes only the old one.
    assert_eq!(
        c.cmd(&["XCLAIM", "s", "g", "b", "200", "1-1", "2-1", "JUSTID"]),
        Reply::Array(vec![Reply::bulk("1-1")])
    );
    // IDLE sets the delivery time in the past; TIME sets it absolutely.
    c.cmd(&[
        "XCLAIM", "s", "g", "b", "0", "2-1", "IDLE", "5000", "JUSTID",
    ]);
    let rows = c.cmd(&["XPENDING", "s", "g", "-", "+", "10"]).items();
    let idle_2 = rows[1].items()[2].int();
    assert!((5000..6000).contains(&idle_2), "{rows:?}");
    let consumers = c.cmd(&["XINFO", "CONSUMERS", "s", "g"]).items();
    assert_eq!(consumers.len(), 2);
    // XAUTOCLAIM moves both to c; seen time of c is fresh, a's grows.
    std::thread::sleep(Duration::from_millis(100));
    let claimed = c.cmd(&["XAUTOCLAIM", "s", "g", "c", "0", "0", "JUSTID"]);
    assert_eq!(
        claimed.items()[1],
        Reply::Array(vec![Reply::bulk("1-1"), Reply::bulk("2-1")])
    );
    let consumers = c.cmd(&["XINFO", "CONSUMERS", "s", "g"]).items();
    let idle_of = |name: &str| {
        consumers
            .iter()
            .map(Reply::items)
            .find(|f| f[1] == Reply::bulk(name))
            .map(|f| f[5].int())
            .expect("consumer listed")
    };
    assert!(idle_of("a") >= 100, "{consumers:?}");
    assert!(idle_of("c") < 100, "{consumers:?}");
}

#[test]
fn groups_live_and_die_with_their_stream_and_survive_restarts() {
    let mut server = TestServer::start(&[]);
    let mut c = server.raw();
    c.cmd(&["XADD", "s", "1-1", "f", "v"]);
    c.cmd(&["XGROUP", "CREATE", "s", "g", "0"]);
    c.cmd(&["XREADGROUP", "GROUP", "g", "a", "STREAMS", "s", ">"]);
    server.restart();
    let mut c = server.raw();
    let summary = c.cmd(&["XPENDING", "s", "g"]);
    assert_eq!(summary.items()[0], Reply::Int(1), "{summary:?}");
    // Expiry removes the groups with the stream.
    c.cmd(&["PEXPIRE", "s", "50"]);
    std::thread::sleep(Duration::from_millis(120));
    assert_eq!(
        c.cmd(&["XINFO", "GROUPS", "s"]),
        Reply::err("ERR no such key")
    );
    c.cmd(&["XADD", "s", "1-1", "f", "v"]);
    assert_eq!(c.cmd(&["XINFO", "GROUPS", "s"]), Reply::Array(vec![]));
    // Overwriting with another type and back, too.
    c.cmd(&["XGROUP", "CREATE", "s", "g", "0"]);
    c.cmd(&["SET", "s", "x"]);
    c.cmd(&["DEL", "s"]);
    c.cmd(&["XGROUP", "CREATE", "s", "g2", "0", "MKSTREAM"]);
    let groups = c.cmd(&["XINFO", "GROUPS", "s"]).items();
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0].items()[1], Reply::bulk("g2"));
}

/// Groups, consumers and pending entries reach a replica with the stream (they are
/// records under its key), and later group changes follow.
#[test]
fn groups_consumers_and_pending_entries_reach_a_replica() {
    let master = TestServer::start(&[]);
    let replica = TestServer::start(&[]);
    let mut m = master.raw();
    for id in ["1-1", "2-1", "3-1", "4-1"] {
        m.cmd(&["XADD", "s", id, "f", id]);
    }
    assert_eq!(m.cmd(&["XGROUP", "CREATE", "s", "g1", "0"]), Reply::ok());
    assert_eq!(
        m.cmd(&["XGROUP", "CREATE", "s", "g2", "$", "ENTRIESREAD", "4"]),
        Reply::ok()
    );
    m.cmd_table(
        "
        XREADGROUP GROUP g1 alice COUNT 2 STREAMS s >
        XREADGROUP GROUP g1 bob STREAMS s >
        XCLAIM s g1 bob 0 1-1 RETRYCOUNT 4 JUSTID
        XGROUP CREATECONSUMER s g2 idle
        ",
    );
    let port = master.port.to_string();
    assert_eq!(
        replica.raw().cmd(&["SLAVEOF", "127.0.0.1", &port]),
        Reply::ok()
    );
    let mut r = replica.raw();
    // XINFO STREAM FULL holds only absolute times: the copy must be identical.
    let full = m.cmd(&["XINFO", "STREAM", "s", "FULL"]);
    common::wait_until(
        "the replica has the groups",
        Duration::from_secs(30),
        || r.cmd(&["XINFO", "STREAM", "s", "FULL"]) == full,
    );
    // Changes after the sync follow: an ack, a destroyed group, a deleted consumer.
    assert_eq!(m.cmd(&["XACK", "s", "g1", "1-1", "3-1"]), Reply::Int(2));
    assert_eq!(m.cmd(&["XGROUP", "DESTROY", "s", "g2"]), Reply::Int(1));
    assert_eq!(
        m.cmd(&["XGROUP", "DELCONSUMER", "s", "g1", "alice"]),
        Reply::Int(1)
    );
    let full = m.cmd(&["XINFO", "STREAM", "s", "FULL"]);
    common::wait_until(
        "the replica follows the group changes",
        Duration::from_secs(30),
        || r.cmd(&["XINFO", "STREAM", "s", "FULL"]) == full,
    );
    // bob keeps 4-1; alice's 2-1 went with her.
    assert_eq!(
        r.cmd(&["XPENDING", "s", "g1"]),
        Reply::Array(vec![
            Reply::Int(1),
            Reply::bulk("4-1"),
            Reply::bulk("4-1"),
            Reply::Array(vec![Reply::Array(vec![
                Reply::bulk("bob"),
                Reply::bulk("1")
            ])]),
        ])
    );
}
