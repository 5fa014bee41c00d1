//! Keyspace notifications (`notify-keyspace-events`) against redis-server 7 side by
//! side: a subscriber to `__key*__:*` on each, the same commands on both, and the
//! sequences of messages (channel and payload, in order) compared; the option's
//! validation and CONFIG GET normalisation compared too.

mod common;
use std::time::Duration;

use common::{same_as_redis, Raw, Reply, TestServer};

/// The channel of the marker published after the commands: it matches the pattern,
/// so the subscriber knows it has everything before it.
const END: &str = "__keyend__:done";

/// Subscribes to every keyspace and keyevent channel of `port`.
fn subscriber(port: u16) -> Raw {
    let mut sub = Raw::connect(port);
    let confirm = sub.cmd(&["PSUBSCRIBE", "__key*__:*"]);
    assert_eq!(confirm.items()[0].text(), "psubscribe");
    sub
}

/// Reads `(channel, payload)` messages until the end marker.
fn messages(sub: &mut Raw) -> Vec<(String, String)> {
    let mut out = Vec::new();
    loop {
        let msg = sub.read().strings();
        assert_eq!(msg[0], "pmessage", "{msg:?}");
        if msg[2] == END {
            return out;
        }
        out.push((msg[2].clone(), msg[3].clone()));
    }
}

/// How the commands are sent.
#[derive(Clone, Copy)]
enum Sending {
    /// Each after the reply to the one before.
    OneByOne,
    /// All in one write: a pipeline, whose writes Ferrokv may merge into one batch.
    Pipelined,
}

/// On the server at `port`, with `notify-keyspace-events` set to `flags`: runs
/// `commands`, waits `pause`, and returns the replies and the notifications a
/// subscriber got, in order.
fn notifications(
    port: u16,
    flags: &str,
    commands: &[Vec<&str>],
    sending: Sending,
    pause: Duration,
) -> (Vec<Reply>, Vec<(String, String)>) {
    let mut c = Raw::connect(port);
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "notify-keyspace-events", flags]),
        Reply::ok()
    );
    let mut sub = subscriber(port);
    let replies = match sending {
        Sending::OneByOne => commands.iter().map(|args| c.cmd(args)).collect(),
        Sending::Pipelined => {
            let mut pipeline = Vec::new();
            for args in commands {
                let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
                pipeline.extend_from_slice(&Raw::encode(&args));
            }
            c.send(&pipeline);
            commands.iter().map(|_| c.read()).collect()
        }
    };
    std::thread::sleep(pause);
    c.cmd(&["PUBLISH", END, "x"]);
    (replies, messages(&mut sub))
}

/// Runs the commands of `table` (one a line, see [`common::commands`]) on both servers
/// with `flags`, and compares the replies and then the notifications each subscriber
/// got.
fn compare(flags: &str, table: &str, pause_before_end: Duration) {
    let redis = common::RedisServer::start();
    let ferrokv = TestServer::start(&[]);
    let commands = common::commands(table);
    let [(their_replies, theirs), (our_replies, ours)] = [redis.port, ferrokv.port]
        .map(|port| notifications(port, flags, &commands, Sending::OneByOne, pause_before_end));
    for (i, args) in commands.iter().enumerate() {
        assert_eq!(our_replies[i], their_replies[i], "reply to {args:?}");
    }
    for (i, want) in theirs.iter().enumerate() {
        assert_eq!(
            ours.get(i),
            Some(want),
            "message {i}: redis sent {theirs:#?}\nferrokv sent {ours:#?}"
        );
    }
    assert_eq!(ours.len(), theirs.len(), "ferrokv sent more: {ours:#?}");
    assert!(!theirs.is_empty(), "redis sent nothing");
}

#[test]
fn config_validation_and_normalisation_match_redis() {
    let redis = common::RedisServer::start();
    let ours = TestServer::start(&[]);
    let get: &[&str] = &["CONFIG", "GET", "notify-keyspace-events"];
    let mut steps: Vec<Vec<&str>> = Vec::new();
    for flags in [
        "",
        "KEg$",
        "AKE",
        "KEA",
        "AKEn",
        "Enm",
        "g$lshzxetdKE",
        "K",
        "x",
        "Z",
        "k",
        "KE A",
    ] {
        steps.push(vec!["CONFIG", "SET", "notify-keyspace-events", flags]);
        steps.push(get.to_vec());
    }
    let steps: Vec<&[&str]> = steps.iter().map(Vec::as_slice).collect();
    same_as_redis(&mut ours.raw(), &mut redis.raw(), &steps);
}

#[test]
fn the_option_loads_from_the_command_line_and_stays_off_by_default() {
    // The option as CONFIG GET shows it, and the notifications of one SET.
    let option_and_set = |server: &TestServer| {
        let mut c = server.raw();
        let option = c
            .cmd(&["CONFIG", "GET", "notify-keyspace-events"])
            .strings();
        let mut sub = subscriber(server.port);
        c.cmd(&["SET", "k", "v"]);
        c.cmd(&["PUBLISH", END, "x"]);
        (option, messages(&mut sub))
    };
    let (option, sent) = option_and_set(&TestServer::start(&[]));
    assert_eq!(option, ["notify-keyspace-events", ""]);
    assert!(sent.is_empty(), "nothing when off");

    let (option, sent) = option_and_set(&TestServer::start(&["--notify-keyspace-events", "KEA"]));
    assert_eq!(option, ["notify-keyspace-events", "AKE"]);
    assert_eq!(
        sent,
        [
            ("__keyspace@0__:k".to_string(), "set".to_string()),
            ("__keyevent@0__:set".to_string(), "k".to_string())
        ]
    );
}

#[test]
fn strings_and_generic_commands_notify_as_redis() {
    compare(
        "KEA",
        "
            SET s 1
            SET s 2 NX
            SET s 3 XX EX 100
            SET s2 v GET
            SETNX s x
            SETNX s3 x
            SETEX s4 100 v
            PSETEX s5 100000 v
            GETSET s 4
            MSET m1 1 m2 2
            MSETNX m1 1 m3 3
            MSETNX m4 1 m5 3
            INCR n
            DECRBY n 5
            INCRBYFLOAT f 1.5
            APPEND s tail
            SETRANGE s 2 xy
            SETRANGE s 2 ''
            GETDEL s2
            GETDEL s2
            GETEX s3 EX 100
            GETEX s3 PERSIST
            EXPIRE s 100
            EXPIRE nosuch 100
            PEXPIREAT s4 100000000000000
            PERSIST s
            PERSIST s
            EXPIRE s5 -1
            RENAME m1 r1
            RENAMENX m2 r1
            RENAMENX m2 r2
            DEL r1 nosuch r2 r1
            UNLINK m3
            SETBIT b 7 1
            BITOP OR b2 b nosuch
            BITOP AND b2 nosuch
            BITFIELD b3 SET u8 0 200 GET u8 0
            BITFIELD b3 GET u8 0
            PFADD h1 a b
            PFADD h1 a
            PFMERGE h2 h1
            ",
        Duration::ZERO,
    );
}

#[test]
fn collections_notify_as_redis() {
    compare(
        "KEA",
        "
            LPUSH l a b
            RPUSH l c
            LPUSHX nosuch a
            RPUSHX l d
            LINSERT l BEFORE c x
            LINSERT l BEFORE zz x
            LSET l 0 B
            LREM l 0 x
            LMOVE l l2 LEFT RIGHT
            RPOPLPUSH l l2
            LTRIM l 0 0
            LPOP l
            RPOP l2 5
            LPOP l2
            LTRIM nosuch 0 1
            RPUSH l3 a b c
            LMPOP 2 nosuch l3 RIGHT COUNT 2
            BLPOP l3 1
            HSET h a 1 b 2
            HSETNX h a x
            HSETNX h c 3
            HINCRBY h n 2
            HINCRBYFLOAT h f 0.5
            HDEL h zz
            HDEL h a b c n f
            SADD s a b c
            SADD s a
            SREM s a
            SMOVE s t b
            SINTERSTORE st s t
            SUNIONSTORE st s t
            SDIFFSTORE sd s s
            SPOP s
            SPOP t 5
            ZADD z 1 a 2 b 3 c
            ZADD z NX 1 a
            ZADD z CH 5 a
            ZADD z INCR 1 b
            ZINCRBY z 1 c
            ZREM z zz
            ZREM z a
            ZUNIONSTORE zu 1 z
            ZINTERSTORE zi 2 z nosuch
            ZRANGESTORE zr z 0 0
            ZREMRANGEBYSCORE zu 0 3
            ZREMRANGEBYRANK zu 0 -1
            ZPOPMIN z
            ZPOPMAX z 3
            ZADD z2 1 a 2 b
            ZMPOP 1 z2 MAX
            BZPOPMIN z2 1
            XADD x 1-1 f v
            XADD x 2-1 f v
            XADD x 3-1 f v
            XDEL x 1-1
            XDEL x 9-9
            XTRIM x MAXLEN 1
            XSETID x 5-0
            XGROUP CREATE x g 0
            XGROUP CREATECONSUMER x g c
            XGROUP CREATECONSUMER x g c
            XGROUP SETID x g $
            XGROUP DELCONSUMER x g c
            XGROUP DESTROY x g
            XGROUP DESTROY x g
            DEL x zr zi st sd
            ",
        Duration::ZERO,
    );
}

#[test]
fn active_expiry_sends_expired() {
    // No command touches the keys after they expire: Redis' lazy expiry would send
    // `expired` from the command instead, and Ferrokv hides expired keys by the clock.
    compare(
        "KEA",
        "
            SET e1 v PX 50
            PEXPIRE e1 60
            HSET e2 f v
            // Far enough apart that both expiries remove e1 first (in one cycle the
            // order is Redis' hash order).
            PEXPIRE e2 700
            ",
        Duration::from_millis(2000),
    );
}

#[test]
fn classes_filter_and_new_and_keymiss_as_redis() {
    // Keyevent channels only, strings and lists only.
    compare(
        "E$l",
        "
            SET a 1
            EXPIRE a 100
            LPUSH l x
            HSET h f v
            DEL a l
            ",
        Duration::ZERO,
    );
    // New keys and reads of missing keys, on keyspace channels.
    compare(
        "Knm",
        "
            SET a 1
            SET a 2
            GET a
            GET missing
            MGET a m1 m2
            LPUSH l x
            RPUSH l y
            MSET b 1 c 2 a 3
            SADD s m
            ZADD z 1 m
            HSET h f v
            XADD x 1-1 f v
            INCR n
            ",
        Duration::ZERO,
    );
}

/// With notifications on, a pipeline of the writes Ferrokv otherwise merges into one
/// batch gets the events of each write, in order, as from redis-server.
#[test]
fn pipelined_writes_notify_as_redis_does() {
    let commands = common::commands(
        "
        SET s v
        HSET h f v g w
        SADD set a b
        SADD set a
        LPUSH l x
        RPUSH l y z
        ZADD z 1 m
        // Not the same score again: a ZADD replying 0 is taken as an update (the
        // approximation the module docs of notify.rs describe).
        ZADD z 2 m
        HSET s f v
        GET s
        SET h v
        ",
    );
    let redis = common::RedisServer::start();
    let ferrokv = TestServer::start(&[]);
    let [(their_replies, theirs), (our_replies, ours)] = [redis.port, ferrokv.port]
        .map(|port| notifications(port, "KEA", &commands, Sending::Pipelined, Duration::ZERO));
    assert_eq!(our_replies, their_replies);
    assert_eq!(ours, theirs);
    assert!(theirs.len() > 10, "redis sent {theirs:?}");
}
