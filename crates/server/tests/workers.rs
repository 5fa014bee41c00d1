//! Connections and worker threads (workers.rs): a connection that mostly writes moves
//! to a write worker between two requests, a reader stays where it was accepted unless
//! a write worker carries more connections than another, and a move is invisible to the
//! client (replies in order, partial requests, transactions, WATCH, blocking commands).
//! With `adaptive-workers` (the default) readers gather on worker 0 until a worker is
//! saturated, and new connections pass over a saturated worker.

mod common;
use std::time::Duration;

use common::{Raw, Reply, TestServer};

/// The worker serving `c` now (CLIENT INFO's `io-thread`).
fn worker_of(c: &mut Raw) -> u64 {
    let info = c.cmd(&["CLIENT", "INFO"]).text();
    let field = info
        .split_whitespace()
        .find_map(|f| f.strip_prefix("io-thread="))
        .unwrap_or_else(|| panic!("no io-thread in {info}"));
    field.parse().expect("a worker index")
}

fn set_many(c: &mut Raw, prefix: &str, n: usize) {
    for i in 0..n {
        assert_eq!(c.cmd(&["SET", &format!("{prefix}{i}"), "v"]), Reply::ok());
    }
}

fn get_many(c: &mut Raw, key: &str, n: usize) {
    for _ in 0..n {
        assert_eq!(c.cmd(&["GET", key]), Reply::bulk("v"));
    }
}

#[test]
fn writers_gather_on_the_write_worker_and_readers_stay_spread() {
    let server = TestServer::start(&["--workers", "2", "--adaptive-workers", "no"]);
    let mut readers: Vec<Raw> = (0..4).map(|_| server.raw()).collect();
    assert_eq!(
        common::info_field(&mut readers[0], "stats", "io_threads_active"),
        1
    );
    let mut writers: Vec<Raw> = (0..4).map(|_| server.raw()).collect();
    // Accepted round robin.
    let placed: Vec<u64> = writers.iter_mut().map(worker_of).collect();
    assert!(placed.contains(&0) && placed.contains(&1), "{placed:?}");

    for (i, w) in writers.iter_mut().enumerate() {
        set_many(w, &format!("w{i}:"), 20);
        assert_eq!(worker_of(w), 0, "writer {i}");
    }
    assert_eq!(writers[0].cmd(&["SET", "shared", "v"]), Reply::ok());
    let before: Vec<u64> = readers.iter_mut().map(worker_of).collect();
    for r in readers.iter_mut() {
        get_many(r, "shared", 40);
    }
    let after: Vec<u64> = readers.iter_mut().map(worker_of).collect();
    // Worker 0 now carries the writers: readers there move off it, none moves onto it.
    for (b, a) in before.iter().zip(&after) {
        assert!(
            *a == 1 || *b == 0 && *a == 0,
            "before {before:?} after {after:?}"
        );
    }
    assert!(after.contains(&1), "{after:?}");

    // Writers that turn readers leave the write worker while it carries more
    // connections than the other: with the readers gone, half of them.
    drop(readers);
    std::thread::sleep(Duration::from_millis(200));
    for w in writers.iter_mut() {
        get_many(w, "shared", 40);
    }
    let mut now: Vec<u64> = writers.iter_mut().map(worker_of).collect();
    now.sort_unstable();
    assert_eq!(now, [0, 0, 1, 1], "writers turned readers");
    // Everything written is there, whichever worker wrote it.
    let mut c = server.raw();
    for i in 0..4 {
        assert_eq!(c.cmd(&["GET", &format!("w{i}:19")]), Reply::bulk("v"));
    }
}

#[test]
fn readers_gather_on_one_worker_and_a_saturated_one_is_passed_over() {
    let server = TestServer::start(&["--workers", "2", "--busy-script-time", "100"]);
    let mut setup = server.raw();
    assert_eq!(setup.cmd(&["SET", "shared", "v"]), Reply::ok());
    assert_eq!(
        common::info_field(&mut setup, "stats", "io_threads_active"),
        0
    );
    let mut readers: Vec<Raw> = (0..4).map(|_| server.raw()).collect();
    // Accepted round robin while no worker is saturated, then gathered by their reads.
    let placed: Vec<u64> = readers.iter_mut().map(worker_of).collect();
    assert!(placed.contains(&0) && placed.contains(&1), "{placed:?}");
    for r in readers.iter_mut() {
        get_many(r, "shared", 40);
    }
    let gathered: Vec<u64> = readers.iter_mut().map(worker_of).collect();
    assert_eq!(gathered, [0, 0, 0, 0]);

    // A script spinning on worker 0 saturates it: every new connection lands on the
    // other worker and is answered (BUSY), one of them stops the script.
    let mut runner = readers.pop().expect("a reader");
    runner.send(&Raw::encode(&[
        b"EVAL",
        b"local i = 0 while true do i = i + 1 end",
        b"0",
    ]));
    std::thread::sleep(Duration::from_millis(400));
    for _ in 0..3 {
        let mut c = server.raw();
        assert_eq!(
            c.cmd(&["PING"]),
            Reply::err("BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.")
        );
    }
    let mut killer = server.raw();
    assert_eq!(killer.cmd(&["SCRIPT", "KILL"]), Reply::ok());
    assert!(runner.read().text().starts_with("ERR Script killed"));
    assert_eq!(worker_of(&mut killer), 1);

    // Calm again: readers gather once more, the killer's connection among them.
    std::thread::sleep(Duration::from_millis(500));
    get_many(&mut killer, "shared", 40);
    assert_eq!(worker_of(&mut killer), 0);
    for r in readers.iter_mut() {
        assert_eq!(worker_of(r), 0);
    }
    assert_eq!(
        common::info_field(&mut setup, "stats", "io_threads_active"),
        0
    );
}

#[test]
fn with_as_many_write_workers_as_workers_nobody_moves() {
    let server = TestServer::start(&["--workers", "2", "--write-workers", "2"]);
    let mut conns: Vec<Raw> = (0..4).map(|_| server.raw()).collect();
    let placed: Vec<u64> = conns.iter_mut().map(worker_of).collect();
    for (i, c) in conns.iter_mut().enumerate() {
        set_many(c, &format!("k{i}:"), 40);
    }
    let after: Vec<u64> = conns.iter_mut().map(worker_of).collect();
    assert_eq!(placed, after);
    assert!(after.contains(&0) && after.contains(&1), "{after:?}");
    let mut c = server.raw();
    assert_eq!(
        c.cmd(&["CONFIG", "GET", "write-workers"]).strings(),
        ["write-workers", "2"]
    );
}

#[test]
fn one_worker_serves_everything() {
    let server = TestServer::start(&["--workers", "1"]);
    let mut c = server.raw();
    set_many(&mut c, "k", 40);
    assert_eq!(worker_of(&mut c), 0);
}

/// A connection on worker `n`, found by opening connections until one lands there
/// (they are placed round robin).
fn on_worker(server: &TestServer, n: u64) -> Raw {
    for _ in 0..8 {
        let mut c = server.raw();
        if worker_of(&mut c) == n {
            return c;
        }
    }
    panic!("no connection landed on worker {n}");
}

fn on_worker_1(server: &TestServer) -> Raw {
    on_worker(server, 1)
}

#[test]
fn a_move_keeps_pipelined_replies_in_order_and_a_request_cut_in_two() {
    let server = TestServer::start(&["--workers", "2"]);
    let mut c = on_worker_1(&server);
    // One burst: the writes that make it a writer, reads and writes mixed after them,
    // and the first half of one more request. Replies come back in order.
    let mut burst = Vec::new();
    for i in 0..20 {
        burst.extend(Raw::encode(&[b"INCR", b"counter"]));
        if i % 5 == 4 {
            burst.extend(Raw::encode(&[b"GET", b"counter"]));
        }
    }
    let last = Raw::encode(&[b"RPUSH", b"list", b"after-the-move"]);
    let (first_half, second_half) = last.split_at(last.len() / 2);
    burst.extend_from_slice(first_half);
    c.send(&burst);
    let mut n = 0;
    for i in 0..20 {
        n += 1;
        assert_eq!(c.read(), Reply::Int(n));
        if i % 5 == 4 {
            assert_eq!(c.read(), Reply::bulk(&n.to_string()));
        }
    }
    // The connection moves with the half request in its buffer.
    std::thread::sleep(Duration::from_millis(100));
    c.send(second_half);
    assert_eq!(c.read(), Reply::Int(1));
    assert_eq!(worker_of(&mut c), 0);
    assert_eq!(
        c.cmd(&["LRANGE", "list", "0", "-1"]).strings(),
        ["after-the-move"]
    );
}

#[test]
fn a_transaction_and_its_watch_survive_a_move() {
    let server = TestServer::start(&["--workers", "2"]);
    let mut other = server.raw();

    // WATCH on worker 1, then the writes that move it, then EXEC on worker 0.
    let mut c = on_worker_1(&server);
    assert_eq!(c.cmd(&["WATCH", "watched"]), Reply::ok());
    assert_eq!(c.cmd(&["MULTI"]), Reply::ok());
    for i in 0..20 {
        assert_eq!(
            c.cmd(&["SET", &format!("queued{i}"), "v"]),
            Reply::Status("QUEUED".into())
        );
    }
    // Queued commands count as writes too: the move comes inside MULTI.
    assert_eq!(c.cmd(&["EXEC"]).items().len(), 20);
    assert_eq!(worker_of(&mut c), 0);
    assert_eq!(c.cmd(&["GET", "queued19"]), Reply::bulk("v"));

    let mut c = on_worker_1(&server);
    assert_eq!(c.cmd(&["WATCH", "watched"]), Reply::ok());
    set_many(&mut c, "move", 20);
    assert_eq!(worker_of(&mut c), 0);
    assert_eq!(other.cmd(&["SET", "watched", "changed"]), Reply::ok());
    assert_eq!(c.cmd(&["MULTI"]), Reply::ok());
    assert_eq!(
        c.cmd(&["SET", "watched", "mine"]),
        Reply::Status("QUEUED".into())
    );
    assert_eq!(c.cmd(&["EXEC"]), Reply::Nil);
    assert_eq!(other.cmd(&["GET", "watched"]), Reply::bulk("changed"));
}

#[test]
fn a_moved_connection_blocks_and_is_woken_from_the_other_worker() {
    let server = TestServer::start(&["--workers", "2"]);
    let mut c = on_worker_1(&server);
    set_many(&mut c, "k", 20);
    assert_eq!(worker_of(&mut c), 0);
    let mut pusher = on_worker_1(&server);
    c.send(&Raw::encode(&[b"BLPOP", b"queue", b"5"]));
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(pusher.cmd(&["RPUSH", "queue", "x"]), Reply::Int(1));
    assert_eq!(c.read().strings(), ["queue", "x"]);
}

#[test]
fn the_redis_crate_pipelines_through_a_move() {
    use redis::Commands;
    let server = TestServer::start(&["--workers", "2"]);
    let mut con = server.client();
    let mut pipe = redis::pipe();
    for i in 0..40 {
        pipe.cmd("SET").arg(format!("k{i}")).arg(i).ignore();
    }
    for i in 0..200 {
        pipe.cmd("HSET")
            .arg("h")
            .arg(format!("f{i}"))
            .arg(i)
            .ignore();
        pipe.cmd("HGET").arg("h").arg(format!("f{i}"));
    }
    let values: Vec<i64> = pipe.query(&mut con).expect("pipeline");
    assert_eq!(values, (0..200).collect::<Vec<i64>>());
    let len: i64 = con.hlen("h").expect("hlen");
    assert_eq!(len, 200);
    let info: String = redis::cmd("CLIENT")
        .arg("INFO")
        .query(&mut con)
        .expect("client info");
    assert!(info.contains(" io-thread=0"), "{info}");
}

#[test]
fn a_writer_of_many_keys_moves_once_and_scripts_count_as_writes() {
    let server = TestServer::start(&["--workers", "3", "--write-workers", "2"]);
    // A connection accepted on worker 2, the one that is not a write worker.
    let mut c = on_worker(&server, 2);
    set_many(&mut c, "first", 20);
    let writer_worker = worker_of(&mut c);
    assert!(writer_worker < 2, "moved to a write worker");
    // Keys of every slot from now on: it stays where it is.
    for round in 0..10 {
        set_many(&mut c, &format!("r{round}:"), 20);
        assert_eq!(worker_of(&mut c), writer_worker, "round {round}");
    }

    let mut s = on_worker(&server, 2);
    for i in 0..20 {
        assert_eq!(
            s.cmd(&[
                "EVAL",
                "return redis.call('SET', KEYS[1], ARGV[1])",
                "1",
                "script",
                &i.to_string()
            ]),
            Reply::ok()
        );
    }
    assert!(worker_of(&mut s) < 2, "a script writer moved");
}

#[test]
fn pubsub_and_closing_connections_after_moves() {
    let server = TestServer::start(&["--workers", "2"]);
    let mut sub = on_worker_1(&server);
    set_many(&mut sub, "k", 20);
    assert_eq!(worker_of(&mut sub), 0);
    assert_eq!(sub.cmd(&["SUBSCRIBE", "ch"]).items().len(), 3);
    let mut publisher = on_worker_1(&server);
    for i in 0..100 {
        assert_eq!(
            publisher.cmd(&["PUBLISH", "ch", &i.to_string()]),
            Reply::Int(1)
        );
    }
    for i in 0..100 {
        let message = sub.read().strings();
        assert_eq!(message, ["message", "ch", &i.to_string()]);
    }

    // Connections that close right after the writes that move them, and one killed
    // then: the registry forgets every one.
    let mut admin = server.raw();
    let base = common::info_field(&mut admin, "clients", "connected_clients");
    for round in 0..20 {
        let mut c = server.raw();
        let id = c.cmd(&["CLIENT", "ID"]).int();
        let mut burst = Vec::new();
        for i in 0..20 {
            burst.extend(Raw::encode(&[
                b"SET",
                format!("c{round}:{i}").as_bytes(),
                b"v",
            ]));
        }
        c.send(&burst);
        drop(c);
        if round % 2 == 0 {
            let _ = admin.cmd(&["CLIENT", "KILL", "ID", &id.to_string()]);
        }
    }
    common::wait_until(
        "closed connections forgotten",
        Duration::from_secs(10),
        || common::info_field(&mut admin, "clients", "connected_clients") == base,
    );
    assert_eq!(admin.cmd(&["PING"]), Reply::Status("PONG".into()));
}
