//! Pub/Sub through real servers: the same steps on redis-server 7 and Ferrokv side by
//! side, every connection's bytes compared after every step (confirmations, message
//! order, the subscribed RESP2 context, RESP3 pushes); then cluster mode: shard
//! channels routed by slot, node-local PUBLISH, and the `sunsubscribe` push when a
//! slot migrates away or is handed to another node.

mod common;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::fixtures::{key_in_slot, two_masters};
use common::{Raw, Reply, TestServer};

/// A connection read by bytes: everything a server sent until it has been quiet a
/// moment, so pushes that follow a reply are seen too.
struct Conn {
    stream: TcpStream,
}

impl Conn {
    fn open(port: u16) -> Conn {
        let stream = common::connect_retrying(port);
        Conn { stream }
    }

    fn send(&mut self, args: &[&str]) {
        let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        self.stream.write_all(&Raw::encode(&args)).expect("send");
    }

    /// Reads until nothing arrived for `quiet`.
    fn drain(&mut self, quiet: Duration) -> Vec<u8> {
        let mut out = Vec::new();
        let mut buf = [0u8; 64 * 1024];
        self.stream.set_read_timeout(Some(quiet)).expect("timeout");
        loop {
            match self.stream.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(_) => break,
            }
        }
        out
    }

    /// Reads until `want` bytes arrived (or 10 s passed).
    fn read_exact_len(&mut self, want: usize) -> Vec<u8> {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut out = Vec::new();
        while out.len() < want && Instant::now() < deadline {
            out.extend(self.drain(Duration::from_millis(50)));
        }
        out
    }
}

/// A step: which connection sends what; `compare: false` sends without comparing
/// (HELLO's reply names the server).
struct Step<'a> {
    conn: usize,
    args: &'a [&'a str],
    compare: bool,
}

const fn on(conn: usize, args: &'static [&'static str]) -> Step<'static> {
    Step {
        conn,
        args,
        compare: true,
    }
}

const fn quietly(conn: usize, args: &'static [&'static str]) -> Step<'static> {
    Step {
        conn,
        args,
        compare: false,
    }
}

const A: usize = 0;
const B: usize = 1;

const STEPS: &[Step] = &[
    on(A, &["SUBSCRIBE", "news", "sport", "news"]),
    on(A, &["PSUBSCRIBE", "n*"]),
    on(B, &["PUBLISH", "news", "hello"]),
    on(B, &["PUBLISH", "sport", "goal"]),
    on(B, &["PUBLISH", "nba", "dunk"]),
    on(B, &["PUBLISH", "weather", "rain"]),
    on(A, &["GET", "x"]),
    on(A, &["CLIENT", "INFO"]),
    on(A, &["PING"]),
    on(A, &["PING", "hi"]),
    on(A, &["PING", "a", "b"]),
    on(A, &["SUBSCRIBE"]),
    on(B, &["PUBSUB", "CHANNELS", "*o*"]),
    on(B, &["PUBSUB", "CHANNELS", "n*"]),
    on(B, &["PUBSUB", "CHANNELS", "a", "b"]),
    on(B, &["PUBSUB", "NUMSUB", "news", "sport", "none"]),
    on(B, &["PUBSUB", "NUMSUB"]),
    on(B, &["PUBSUB", "NUMPAT"]),
    on(B, &["PUBSUB", "NUMPAT", "x"]),
    on(B, &["PUBSUB", "FOO"]),
    on(B, &["PUBSUB", "HELP"]),
    on(A, &["SSUBSCRIBE", "orders"]),
    on(B, &["PUBSUB", "SHARDCHANNELS"]),
    on(B, &["PUBSUB", "SHARDNUMSUB", "orders", "none"]),
    on(B, &["SPUBLISH", "orders", "o1"]),
    on(B, &["PUBLISH", "orders", "not shard"]),
    on(A, &["SUNSUBSCRIBE", "orders", "other"]),
    on(A, &["SUNSUBSCRIBE"]),
    on(A, &["UNSUBSCRIBE", "news"]),
    on(B, &["PUBLISH", "news", "pattern only"]),
    on(A, &["PUNSUBSCRIBE", "n*", "x*"]),
    on(A, &["GET", "x"]),
    on(A, &["UNSUBSCRIBE"]),
    on(A, &["GET", "x"]),
    on(A, &["UNSUBSCRIBE"]),
    on(A, &["PUNSUBSCRIBE"]),
    on(A, &["SUNSUBSCRIBE"]),
    // Transactions queue subscriptions; EXEC carries their confirmations.
    on(B, &["MULTI"]),
    on(B, &["SUBSCRIBE", "t1", "t2"]),
    on(B, &["EXEC"]),
    on(B, &["GET", "x"]),
    on(B, &["RESET"]),
    on(B, &["GET", "x"]),
    // RESP3: pushes beside replies, any command allowed, publishing to oneself.
    quietly(A, &["HELLO", "3"]),
    on(A, &["SUBSCRIBE", "news"]),
    on(A, &["GET", "x"]),
    on(A, &["PING"]),
    on(A, &["PUBLISH", "news", "to myself"]),
    on(B, &["PUBLISH", "news", "from b"]),
    on(A, &["SSUBSCRIBE", "orders"]),
    on(B, &["SPUBLISH", "orders", "o2"]),
    on(A, &["UNSUBSCRIBE"]),
    on(A, &["RESET"]),
    on(B, &["PUBSUB", "NUMSUB", "news"]),
    on(B, &["PUBSUB", "SHARDNUMSUB", "orders"]),
    on(B, &["PUBLISH", "news", "nobody"]),
];

#[test]
fn pubsub_matches_redis_step_by_step() {
    let redis = common::RedisServer::start();
    let ours = TestServer::start(&[]);
    let mut theirs = [Conn::open(redis.port), Conn::open(redis.port)];
    let mut mine = [Conn::open(ours.port), Conn::open(ours.port)];
    let quiet = Duration::from_millis(100);
    for (i, step) in STEPS.iter().enumerate() {
        theirs[step.conn].send(step.args);
        mine[step.conn].send(step.args);
        for conn in [A, B] {
            let want = theirs[conn].drain(quiet);
            // As many bytes as Redis sent (a loaded machine may be slow), then
            // anything more.
            let mut got = mine[conn].read_exact_len(want.len());
            got.extend(mine[conn].drain(Duration::from_millis(20)));
            if step.compare {
                assert_eq!(
                    String::from_utf8_lossy(&got),
                    String::from_utf8_lossy(&want),
                    "step {i} {:?}, connection {conn}",
                    step.args
                );
            }
        }
    }
}

/// QUIT is one of the commands a subscribed RESP2 connection may send: `+OK`, then the
/// server closes the connection, on both servers.
#[test]
fn quit_ends_a_subscribed_connection() {
    let redis = common::RedisServer::start();
    let ours = TestServer::start(&[]);
    for port in [redis.port, ours.port] {
        let mut sub = Raw::connect(port);
        assert_eq!(
            sub.cmd(&["SUBSCRIBE", "c"]),
            Reply::Array(vec![
                Reply::bulk("subscribe"),
                Reply::bulk("c"),
                Reply::Int(1)
            ])
        );
        assert_eq!(sub.cmd(&["QUIT"]), Reply::ok(), "port {port}");
        assert!(sub.is_closed(), "port {port}: still open after QUIT");
        let mut other = Raw::connect(port);
        common::wait_until("the subscription ends", Duration::from_secs(5), || {
            other.cmd(&["PUBSUB", "NUMSUB", "c"])
                == Reply::Array(vec![Reply::bulk("c"), Reply::Int(0)])
        });
    }
}

#[test]
fn messages_arrive_in_publish_order() {
    let redis = common::RedisServer::start();
    let ours = TestServer::start(&[]);
    for port in [redis.port, ours.port] {
        let mut sub = Conn::open(port);
        sub.send(&["SUBSCRIBE", "c"]);
        sub.drain(Duration::from_millis(50));
        // Several publishers at once; each one's messages keep their order.
        let publishers: Vec<_> = (0..4)
            .map(|p| {
                std::thread::spawn(move || {
                    let mut c = Raw::connect(port);
                    let mut pipeline = Vec::new();
                    for i in 0..500 {
                        let payload = format!("{p}:{i}");
                        pipeline.extend(Raw::encode(&[b"PUBLISH", b"c", payload.as_bytes()]));
                    }
                    c.send(&pipeline);
                    for _ in 0..500 {
                        assert_eq!(c.read(), Reply::Int(1));
                    }
                })
            })
            .collect();
        for p in publishers {
            p.join().expect("publisher");
        }
        let one = |p: usize, i: usize| {
            let payload = format!("{p}:{i}");
            format!(
                "*3\r\n$7\r\nmessage\r\n$1\r\nc\r\n${}\r\n{payload}\r\n",
                payload.len()
            )
        };
        let total: usize = (0..4)
            .flat_map(|p| (0..500).map(move |i| one(p, i).len()))
            .sum();
        let bytes = sub.read_exact_len(total);
        let text = String::from_utf8_lossy(&bytes);
        assert_eq!(bytes.len(), total, "port {port}");
        for p in 0..4 {
            let mut at = 0;
            for i in 0..500 {
                let found = text[at..].find(&one(p, i)).map(|f| f + at);
                at =
                    found.unwrap_or_else(|| panic!("port {port}: {p}:{i} missing or out of order"));
            }
        }
    }
}

const SRC: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa1";
const DST: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa2";

fn sunsubscribe(channel: &str, count: usize) -> String {
    format!(
        "*3\r\n$12\r\nsunsubscribe\r\n${}\r\n{channel}\r\n:{count}\r\n",
        channel.len()
    )
}

#[test]
fn shard_channels_route_by_slot_and_end_when_the_slot_moves() {
    let (src, dst) = two_masters(SRC, DST);
    let mut c = src.raw();
    // Shard channels hash to slots as keys do.
    let here = key_in_slot(&mut c, 100, "ch");
    let stays = key_in_slot(&mut c, 200, "ch");
    let there = key_in_slot(&mut c, 9000, "ch");
    // Routing: MOVED for another node's slot, CROSSSLOT across slots.
    assert_eq!(
        c.cmd(&["SSUBSCRIBE", &there]),
        Reply::err(&format!("MOVED 9000 127.0.0.1:{}", dst.port))
    );
    assert_eq!(
        c.cmd(&["SPUBLISH", &there, "x"]),
        Reply::err(&format!("MOVED 9000 127.0.0.1:{}", dst.port))
    );
    assert_eq!(
        c.cmd(&["SSUBSCRIBE", &here, &stays]),
        Reply::err("CROSSSLOT Attempted to access keys that don't hash to the same slot")
    );
    // PUBLISH is node-local: a subscriber of the other node hears nothing.
    let mut far = Conn::open(dst.port);
    far.send(&["SUBSCRIBE", "plain"]);
    far.drain(Duration::from_millis(50));
    assert_eq!(c.cmd(&["PUBLISH", "plain", "x"]), Reply::Int(0));
    assert!(far.drain(Duration::from_millis(100)).is_empty());

    let mut sub = Conn::open(src.port);
    sub.send(&["SSUBSCRIBE", &here]);
    sub.send(&["SSUBSCRIBE", &stays]);
    sub.drain(Duration::from_millis(50));
    assert_eq!(c.cmd(&["SPUBLISH", &here, "m1"]), Reply::Int(1));
    let m1 = format!(
        "*3\r\n$8\r\nsmessage\r\n${}\r\n{here}\r\n$2\r\nm1\r\n",
        here.len()
    );
    assert_eq!(
        String::from_utf8_lossy(&sub.drain(Duration::from_millis(100))),
        m1
    );

    // The slot migrates away: its channel's subscription ends with a push; the other
    // slot's stays.
    assert_eq!(
        c.cmd(&["CLUSTERX", "MIGRATE", "100", DST, "sync", "30"]),
        Reply::ok()
    );
    assert_eq!(
        String::from_utf8_lossy(&sub.drain(Duration::from_millis(200))),
        sunsubscribe(&here, 1)
    );
    assert_eq!(c.cmd(&["SPUBLISH", &stays, "m2"]), Reply::Int(1));
    assert!(!sub.drain(Duration::from_millis(100)).is_empty());
    // The channel now lives on the destination.
    assert_eq!(
        c.cmd(&["SSUBSCRIBE", &here]),
        Reply::err(&format!("MOVED 100 127.0.0.1:{}", dst.port))
    );
    let mut d = dst.raw();
    assert_eq!(
        d.cmd(&["PUBSUB", "SHARDNUMSUB", &here]),
        Reply::Array(vec![Reply::bulk(&here), Reply::Int(0)])
    );

    // A topology change that gives slot 200 away ends its subscriptions too; the
    // connection leaves the subscribed state and may run any command again.
    let topology = format!(
        "{SRC} 127.0.0.1 {} master - 0-99 101-199 201-8191\n{DST} 127.0.0.1 {} master - 100 200 8192-16383",
        src.port, dst.port
    );
    for node in [&src, &dst] {
        assert_eq!(
            node.raw().cmd(&["CLUSTERX", "SETNODES", &topology, "2"]),
            Reply::ok()
        );
    }
    assert_eq!(
        String::from_utf8_lossy(&sub.drain(Duration::from_millis(200))),
        sunsubscribe(&stays, 0)
    );
    sub.send(&["PING"]);
    assert_eq!(
        String::from_utf8_lossy(&sub.drain(Duration::from_millis(100))),
        "+PONG\r\n"
    );
}

#[test]
fn a_subscriber_that_does_not_read_is_disconnected_not_buffered_forever() {
    let server = TestServer::start(&[]);
    let mut sub = Conn::open(server.port);
    sub.send(&["SUBSCRIBE", "flood"]);
    sub.drain(Duration::from_millis(50));
    let mut publisher = server.raw();
    let payload = "x".repeat(1024);
    // More messages than the queue holds, faster than the socket takes them.
    let mut pipeline = Vec::new();
    for _ in 0..1000 {
        pipeline.extend(Raw::encode(&[b"PUBLISH", b"flood", payload.as_bytes()]));
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut gone = false;
    while Instant::now() < deadline && !gone {
        publisher.send(&pipeline);
        for _ in 0..1000 {
            publisher.read();
        }
        gone = publisher.cmd(&["PUBSUB", "NUMSUB", "flood"]).items()[1] == Reply::Int(0);
    }
    assert!(gone, "the stalled subscriber was dropped");
}

/// UNSUBSCRIBE and PUNSUBSCRIBE without names leave the subscriptions in the order
/// they were made (Kvrocks' "PUBLISH/SUBSCRIBE after UNSUBSCRIBE without arguments").
#[test]
fn unsubscribing_from_all_confirms_in_subscription_order() {
    let server = TestServer::start(&[]);
    let mut c = server.raw();
    for (subscribe, unsubscribe, names) in [
        ("SUBSCRIBE", "unsubscribe", ["chan3", "chan1", "chan2"]),
        ("PSUBSCRIBE", "punsubscribe", ["p3*", "p1*", "p2*"]),
    ] {
        let mut args = vec![subscribe];
        args.extend(names);
        c.send(&Raw::encode(
            &args.iter().map(|a| a.as_bytes()).collect::<Vec<_>>(),
        ));
        for _ in names {
            c.read();
        }
        c.send(&Raw::encode(&[unsubscribe.to_uppercase().as_bytes()]));
        for (left, name) in names.iter().enumerate() {
            assert_eq!(
                c.read(),
                Reply::Array(vec![
                    Reply::bulk(unsubscribe),
                    Reply::bulk(name),
                    Reply::Int((names.len() - left - 1) as i64),
                ]),
                "{unsubscribe}"
            );
        }
    }
}

/// Kvrocks' MPUBLISH: several messages to one channel, in order, replying the sum of the
/// receivers (two subscribers, a channel and a pattern: 3 messages × 2).
#[test]
fn mpublish_posts_each_message_in_turn() {
    let ours = TestServer::start(&[]);
    let mut sub = Raw::connect(ours.port);
    let mut psub = Raw::connect(ours.port);
    sub.cmd(&["SUBSCRIBE", "news"]);
    psub.cmd(&["PSUBSCRIBE", "ne*"]);
    let mut c = Raw::connect(ours.port);
    assert_eq!(c.cmd(&["MPUBLISH", "news", "a", "b", "c"]), Reply::Int(6));
    assert_eq!(c.cmd(&["MPUBLISH", "nobody", "a"]), Reply::Int(0));
    for m in ["a", "b", "c"] {
        assert_eq!(
            sub.read(),
            Reply::Array(vec![
                Reply::bulk("message"),
                Reply::bulk("news"),
                Reply::bulk(m)
            ])
        );
        assert_eq!(
            psub.read(),
            Reply::Array(vec![
                Reply::bulk("pmessage"),
                Reply::bulk("ne*"),
                Reply::bulk("news"),
                Reply::bulk(m)
            ])
        );
    }
    assert_eq!(
        c.cmd(&["MPUBLISH", "news"]),
        Reply::err("ERR wrong number of arguments for 'mpublish' command")
    );
}
