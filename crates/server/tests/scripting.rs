//! Scripting through real processes: EVAL/EVALSHA/SCRIPT and FUNCTION/FCALL compared
//! byte for byte with redis-server (RESP2 and RESP3, errors included), then what only
//! Ferrokv can show: atomicity against a concurrent reader, BUSY and SCRIPT KILL,
//! libraries surviving a restart and reaching a replica, cluster routing (CROSSSLOT,
//! MOVED, undeclared keys) and scripts INCRementing keys across a slot's cut-over.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::fixtures::{counter_value, fill_slot, key_in_slot, two_masters, RedirectedWriter};
use common::{wait_until, Raw, RedisServer, Reply, TestServer};

/// Runs every command on both servers and compares the replies' bytes.
fn same_bytes(ours: &mut Raw, redis: &mut Raw, commands: &[Vec<String>]) {
    for args in commands {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let expected = redis.cmd_wire(&args);
        let got = ours.cmd_wire(&args);
        assert_eq!(got, expected, "{args:?}");
    }
}

fn c(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

fn eval(script: &str, rest: &[&str]) -> Vec<String> {
    let mut v = c(&["EVAL", script]);
    v.extend(rest.iter().map(|s| s.to_string()));
    v
}

/// Scripts whose replies and errors must match Redis in either protocol.
fn common_scripts() -> Vec<Vec<String>> {
    vec![
        c(&["DEL", "k", "h", "s", "z", "n", "l"]),
        eval("return 1", &["0"]),
        eval("return {1,2,3.7,'a',nil,4}", &["0"]),
        eval("return -3.9", &["0"]),
        eval("return 'x'", &["0"]),
        eval("return true", &["0"]),
        eval("return false", &["0"]),
        eval("return nil", &["0"]),
        eval("return {}", &["0"]),
        eval("return {{1,{2}},'b'}", &["0"]),
        eval("return redis.call('set',KEYS[1],ARGV[1])", &["1", "k", "v"]),
        eval("return redis.call('get',KEYS[1])", &["1", "k"]),
        eval("return redis.call('get','nokey')", &["0"]),
        eval("return redis.call('type',KEYS[1])", &["1", "k"]),
        eval("return redis.call('incr','k')", &["0"]),
        eval("return redis.pcall('incr','k')", &["0"]),
        eval(
            "local ok, e = pcall(redis.call, 'incr', 'k') return e",
            &["0"],
        ),
        eval("local r = redis.pcall('incr','k') return r['err']", &["0"]),
        eval("return {err='My Error'}", &["0"]),
        eval("return {ok='fine'}", &["0"]),
        eval("return redis.error_reply('x')", &["0"]),
        eval("return redis.error_reply('-WRONG thing')", &["0"]),
        eval("return redis.error_reply(1)", &["0"]),
        eval("return redis.status_reply('FOO')", &["0"]),
        eval("error('foo')", &["0"]),
        eval("error({err='TABLE err'})", &["0"]),
        eval("x = 1", &["0"]),
        eval("return a", &["0"]),
        eval("string.foo = 1", &["0"]),
        eval("redis.foo = 1", &["0"]),
        eval("rawset(_G, 'x', 1) return 1", &["0"]),
        eval("return os.time()", &["0"]),
        eval("return loadfile", &["0"]),
        eval("return print", &["0"]),
        eval("return dofile", &["0"]),
        eval("return setfenv", &["0"]),
        eval("return type(loadstring)", &["0"]),
        eval("return redis.call('nosuch')", &["0"]),
        eval("return redis.call('set','k')", &["0"]),
        eval("return redis.call()", &["0"]),
        eval("return redis.call({})", &["0"]),
        eval("return redis.call('set', 'k', true)", &["0"]),
        eval("return redis.call('set','n',1.5)", &["0"]),
        c(&["GET", "n"]),
        eval("return redis.call('set','n',3.0)", &["0"]),
        c(&["GET", "n"]),
        eval("return redis.call('set','n',0.1)", &["0"]),
        c(&["GET", "n"]),
        eval("return redis.call('eval','return 1','0')", &["0"]),
        eval("return redis.call('multi')", &["0"]),
        eval("return redis.call('blpop','l','0')", &["0"]),
        eval("return redis.call('subscribe','ch')", &["0"]),
        eval("return redis.sha1hex('')", &["0"]),
        eval("return redis.sha1hex(12)", &["0"]),
        eval("return redis.sha1hex()", &["0"]),
        eval("return redis.log(redis.LOG_WARNING, 'from a test')", &["0"]),
        eval("return redis.log(9, 'x')", &["0"]),
        eval("return redis.log('x')", &["0"]),
        eval(
            "return {redis.LOG_DEBUG, redis.LOG_VERBOSE, redis.LOG_NOTICE, redis.LOG_WARNING}",
            &["0"],
        ),
        eval("return #KEYS + #ARGV", &["2", "a", "b", "c"]),
        eval("return {KEYS[1], ARGV[1]}", &["1", "a", "b"]),
        eval("return string.format('%d-%s', 42, ('x'):upper())", &["0"]),
        eval("return table.concat({'a','b'}, ',')", &["0"]),
        eval("return math.floor(2.7)", &["0"]),
        eval("return tostring(1e100)", &["0"]),
        eval("return cjson.encode({1,2,3})", &["0"]),
        eval("return cjson.encode({a='x/y'})", &["0"]),
        eval("return cjson.encode({})", &["0"]),
        eval("return cjson.encode({1.5, true, false, 'q\"\\n', 1e20, -0.25})", &["0"]),
        eval("return cjson.encode(cjson.decode('{\"a\":[1,2,{\"b\":null}]}'))", &["0"]),
        eval("local t = cjson.decode('[1,\"x\",true,2.5]') return {t[1], t[2], tostring(t[3]), t[4] * 2}", &["0"]),
        eval("return cjson.encode({[1]=1,[100]=2})", &["0"]),
        eval("return cjson.encode(function() end)", &["0"]),
        eval("return cjson.encode(0/0)", &["0"]),
        eval("return type(cjson.null)", &["0"]),
        eval("cjson.encode = nil", &["0"]),
        eval("return {double=3.5}", &["0"]),
        eval("return {double=2}", &["0"]),
        eval("return {big_number='123'}", &["0"]),
        eval("return {map={a=1}}", &["0"]),
        eval("return {set={a=true}}", &["0"]),
        eval("return {map={a={1,2}}}", &["0"]),
        c(&["HSET", "h", "f", "v"]),
        c(&["SADD", "s", "m"]),
        c(&["ZADD", "z", "1.5", "m"]),
        eval("return redis.call('hgetall', KEYS[1])", &["1", "h"]),
        eval(
            "redis.setresp(3) return redis.call('hgetall', KEYS[1])",
            &["1", "h"],
        ),
        eval(
            "redis.setresp(3) local r = redis.call('hgetall', KEYS[1]) return type(r.map)",
            &["1", "h"],
        ),
        eval(
            "redis.setresp(3) return redis.call('smembers', 's')",
            &["0"],
        ),
        eval(
            "redis.setresp(3) return redis.call('zscore', 'z', 'm')",
            &["0"],
        ),
        eval("return redis.call('zscore', 'z', 'm')", &["0"]),
        eval("redis.setresp(3) return redis.call('get','nokey')", &["0"]),
        eval(
            "redis.setresp(3) return redis.call('get','nokey') == nil",
            &["0"],
        ),
        eval("redis.setresp(3) return true", &["0"]),
        eval("redis.setresp(3) return false", &["0"]),
        eval("redis.setresp(4)", &["0"]),
        eval("redis.setresp()", &["0"]),
        eval("return 1", &["-1"]),
        eval("return 1", &["2", "a"]),
        eval("return 1", &["x"]),
        c(&["EVAL", "return 1"]),
        eval("syntax error here", &["0"]),
        eval("return", &["0"]),
        eval("#!lua\nreturn 1", &["0"]),
        eval(
            "#!lua flags=no-writes\nreturn redis.call('get','k')",
            &["0"],
        ),
        eval(
            "#!lua flags=no-writes\nreturn redis.call('set','k','v')",
            &["0"],
        ),
        eval("#!lua flags=bogus\nreturn 1", &["0"]),
        eval("#!lua foo=bar\nreturn 1", &["0"]),
        eval("#!python\nreturn 1", &["0"]),
        eval("#!lua", &["0"]),
        eval("#!lua\nerror('line two')", &["0"]),
        c(&["EVAL_RO", "return redis.call('set','k','v')", "0"]),
        c(&["EVAL_RO", "return redis.call('get','k')", "0"]),
        c(&["EVAL_RO", "#!lua\nreturn 1", "0"]),
        c(&["EVAL_RO", "#!lua flags=no-writes\nreturn 1", "0"]),
        c(&["EVALSHA", "0000", "0"]),
        c(&["EVALSHA", "0000000000000000000000000000000000000000", "0"]),
        c(&["SCRIPT", "LOAD", "return 'loaded'"]),
        c(&["EVALSHA", "f4fd9d5f2ee0c6aa35b4c6cb50bc1e2b4d6f7bd1", "0"]),
        c(&["SCRIPT", "LOAD", "syntax error"]),
        c(&["SCRIPT", "LOAD", "#!lua flags=nope\n"]),
        c(&[
            "SCRIPT",
            "EXISTS",
            "0000000000000000000000000000000000000000",
        ]),
        c(&["SCRIPT", "KILL"]),
        c(&["SCRIPT", "FLUSH", "bad"]),
        c(&["SCRIPT", "NOSUCH"]),
        c(&["SCRIPT", "LOAD"]),
        c(&["SCRIPT", "HELP"]),
        c(&["FUNCTION", "KILL"]),
    ]
}

#[test]
fn eval_matches_redis_in_resp2_and_resp3() {
    let ours_server = TestServer::start(&[]);
    let redis_server = RedisServer::start();
    let mut ours = ours_server.raw();
    let mut redis = redis_server.raw();
    same_bytes(&mut ours, &mut redis, &common_scripts());

    // A loaded script by its sha, in either case; EXISTS; FLUSH forgets it.
    let sha = redis.cmd(&["SCRIPT", "LOAD", "return ARGV[1]"]).text();
    assert_eq!(ours.cmd(&["SCRIPT", "LOAD", "return ARGV[1]"]).text(), sha);
    let upper = sha.to_uppercase();
    same_bytes(
        &mut ours,
        &mut redis,
        &[
            c(&["EVALSHA", &sha, "0", "arg"]),
            c(&["EVALSHA", &upper, "0", "arg"]),
            c(&["EVALSHA_RO", &sha, "0", "arg"]),
            c(&["SCRIPT", "EXISTS", &sha, &upper, "ffff"]),
            c(&["SCRIPT", "FLUSH"]),
            c(&["SCRIPT", "EXISTS", &sha]),
            c(&["EVALSHA", &sha, "0", "arg"]),
            c(&["SCRIPT", "FLUSH", "ASYNC"]),
        ],
    );

    // RESP3 callers: nulls, booleans, maps, sets, doubles and big numbers.
    ours.cmd_wire(&["HELLO", "3"]);
    redis.cmd_wire(&["HELLO", "3"]);
    same_bytes(&mut ours, &mut redis, &common_scripts());
}

fn function_load(code: &str) -> Vec<String> {
    c(&["FUNCTION", "LOAD", code])
}

#[test]
fn functions_match_redis() {
    let ours_server = TestServer::start(&[]);
    let redis_server = RedisServer::start();
    let mut ours = ours_server.raw();
    let mut redis = redis_server.raw();
    let lib = "#!lua name=mylib\n\
        redis.register_function('echo', function(keys, args) return args[1] end)\n\
        redis.register_function{function_name='setter', callback=function(keys, args) return redis.call('set', keys[1], args[1]) end, description='sets'}\n\
        redis.register_function{function_name='getter', callback=function(keys, args) return redis.call('get', keys[1]) end, flags={'no-writes'}}\n\
        redis.register_function('fails', function(keys, args) error('boom') end)\n\
        redis.register_function('global', function(keys, args) return KEYS end)";
    let steps = vec![
        c(&["FUNCTION", "FLUSH"]),
        function_load(lib),
        function_load(lib),
        c(&["FCALL", "echo", "0", "hello"]),
        c(&["FCALL", "setter", "1", "fk", "fv"]),
        c(&["FCALL", "getter", "1", "fk"]),
        c(&["FCALL_RO", "getter", "1", "fk"]),
        c(&["FCALL_RO", "setter", "1", "fk", "x"]),
        c(&["FCALL", "fails", "0"]),
        c(&["FCALL", "global", "0"]),
        c(&["FCALL", "nosuch", "0"]),
        c(&["FCALL", "echo", "x"]),
        c(&["FCALL", "echo", "-1"]),
        c(&["FCALL", "echo", "3", "a"]),
        c(&["FUNCTION", "LIST", "LIBRARYNAME"]),
        c(&["FUNCTION", "LIST", "BOGUS"]),
        c(&["FUNCTION", "STATS"]),
        function_load("return 1"),
        function_load("#!lua\nreturn 1"),
        function_load("#!lua name=a b=c\nreturn 1"),
        function_load("#!lua name=a name=b\nreturn 1"),
        function_load("#!js name=a\nreturn 1"),
        function_load("#!lua name=bad-name\nreturn 1"),
        function_load("#!lua name=empty\nreturn 1"),
        function_load("#!lua name=broken\nthis is not lua"),
        function_load("#!lua name=other\nredis.register_function('echo', function() return 1 end)"),
        function_load("#!lua name=r1\nredis.register_function('a')"),
        function_load("#!lua name=r2\nredis.register_function('a', 'b', 'c')"),
        function_load("#!lua name=r3\nredis.register_function({}, function() end)"),
        function_load("#!lua name=r4\nredis.register_function{function_name='f'}"),
        function_load("#!lua name=r5\nredis.register_function{callback=function() end}"),
        function_load("#!lua name=r6\nredis.register_function{function_name='f', callback=function() end, flags={'bogus'}}"),
        function_load("#!lua name=r7\nredis.register_function{function_name='f', callback=function() end, bogus=1}"),
        function_load("#!lua name=r8\nredis.register_function('bad-name', function() end)"),
        function_load("#!lua name=r9\nredis.register_function('f', function() end)\nredis.register_function('f', function() end)"),
        function_load("#!lua name=r10\nredis.call('ping')"),
        function_load("#!lua name=r11\nlocal s = string.len('x')"),
        c(&["FUNCTION", "LOAD", "BOGUS", "#!lua name=x\n"]),
        c(&["FUNCTION", "LOAD", "REPLACE"]),
        c(&[
            "FUNCTION",
            "LOAD",
            "REPLACE",
            "#!lua name=mylib\nredis.register_function('echo', function(keys, args) return 'v2 ' .. args[1] end)",
        ]),
        c(&["FCALL", "echo", "0", "again"]),
        c(&["FCALL", "setter", "1", "fk", "x"]),
        // One function per library from here: Redis lists them in hash order.
        c(&["FUNCTION", "LIST"]),
        c(&["FUNCTION", "LIST", "WITHCODE"]),
        c(&["FUNCTION", "LIST", "LIBRARYNAME", "my*"]),
        c(&["FUNCTION", "LIST", "LIBRARYNAME", "other*"]),
        c(&["FUNCTION", "LOAD", "#!lua name=flagged\nredis.register_function{function_name='f', callback=function() return 1 end, flags={'no-writes', 'allow-oom'}, description='with flags'}"]),
        c(&["FUNCTION", "LIST", "LIBRARYNAME", "flagged"]),
        c(&["FCALL_RO", "f", "0"]),
        c(&["FUNCTION", "RESTORE", "garbage"]),
        c(&["FUNCTION", "RESTORE", "garbage", "BOGUS"]),
        c(&["FUNCTION", "FLUSH", "bad"]),
        c(&["FUNCTION", "DELETE", "nosuch"]),
        c(&["FUNCTION", "DELETE", "mylib"]),
        c(&["FUNCTION", "LIST"]),
        c(&["FUNCTION", "NOSUCH"]),
    ];
    same_bytes(&mut ours, &mut redis, &steps);

    // Libraries move both ways through FUNCTION DUMP / RESTORE (Redis compresses its
    // payload, Ferrokv does not: both read either).
    let long_lib = format!(
        "#!lua name=big\n-- {}\nredis.register_function('big', function() return 'big' end)",
        "padding ".repeat(50)
    );
    for side in [&mut ours, &mut redis] {
        side.cmd(&["FUNCTION", "FLUSH"]);
    }
    redis.cmd(&["FUNCTION", "LOAD", &long_lib]);
    let from_redis = redis.cmd(&["FUNCTION", "DUMP"]);
    let Reply::Bulk(payload) = from_redis else {
        panic!("DUMP: {from_redis:?}")
    };
    assert_eq!(
        ours.cmd_bytes(&[b"FUNCTION", b"RESTORE", &payload]),
        Reply::ok()
    );
    assert_eq!(
        ours.cmd_bytes(&[b"FUNCTION", b"RESTORE", &payload]),
        Reply::err("ERR Library big already exists")
    );
    assert_eq!(
        ours.cmd_bytes(&[b"FUNCTION", b"RESTORE", &payload, b"REPLACE"]),
        Reply::ok()
    );
    same_bytes(
        &mut ours,
        &mut redis,
        &[
            c(&["FCALL", "big", "0"]),
            c(&["FUNCTION", "LIST", "WITHCODE"]),
        ],
    );
    ours.cmd(&[
        "FUNCTION",
        "LOAD",
        "#!lua name=mine\nredis.register_function('mine', function() return 'mine' end)",
    ]);
    let Reply::Bulk(payload) = ours.cmd(&["FUNCTION", "DUMP"]) else {
        panic!("no dump")
    };
    assert_eq!(
        redis.cmd_bytes(&[b"FUNCTION", b"RESTORE", &payload, b"FLUSH"]),
        Reply::ok()
    );
    same_bytes(
        &mut ours,
        &mut redis,
        &[
            c(&["FCALL", "mine", "0"]),
            c(&["FCALL", "big", "0"]),
            c(&["FUNCTION", "LIST", "WITHCODE", "LIBRARYNAME", "mine"]),
            c(&["FUNCTION", "LIST", "WITHCODE", "LIBRARYNAME", "big"]),
        ],
    );
    let mut damaged = payload.clone();
    let last = damaged.len() - 1;
    damaged[last] ^= 0xff;
    assert_eq!(
        ours.cmd_bytes(&[b"FUNCTION", b"RESTORE", &damaged]),
        redis.cmd_bytes(&[b"FUNCTION", b"RESTORE", &damaged])
    );
}

#[test]
fn malformed_scripts_and_arguments_get_errors_not_crashes() {
    let server = TestServer::start(&[]);
    let mut c = server.raw();
    // The first script grows a string to the 1 GiB memory limit: seconds, and 15 s
    // seen on a loaded two-core machine.
    c.stream
        .set_read_timeout(Some(Duration::from_secs(120)))
        .expect("timeout");
    let nasty = [
        "return string.rep('x', 1e10)",
        "local t = {} t[1] = t return t",
        "local function f() return f() + 1 end return f()",
        "return redis.call(string.rep('a', 100000))",
        "return coroutine.wrap(function() redis.call('set','co','1') end)()",
        "return loadstring('x = 1')()",
        "return getmetatable('').__index.upper('a')",
        "getmetatable('').__index = nil",
        "return setmetatable(_G, {})",
        "\x00\x01\x02",
        "\x1bLua",
    ];
    for script in nasty {
        // Any reply will do, as long as the server gives one and stays up.
        let reply = c.cmd(&["EVAL", script, "0"]);
        println!("{script:?} -> {reply:?}");
    }
    for args in [
        &["EVAL"][..],
        &["EVAL", "return 1", "99999999999999999999"],
        &["EVALSHA", "", "0"],
        &["FCALL", "", "0"],
        &["FUNCTION", "RESTORE", ""],
        &["SCRIPT", "EXISTS"],
    ] {
        assert!(matches!(c.cmd(args), Reply::Error(_)), "{args:?}");
    }
    assert_eq!(c.cmd(&["PING"]), Reply::Status("PONG".into()));
    // Nothing a script did leaks into the next one.
    let reply = c.cmd(&["EVAL", "return x", "0"]).text();
    assert!(reply.contains("nonexistent global variable 'x'"), "{reply}");
    assert_eq!(
        c.cmd(&["EVAL", "return ('a'):upper() .. string.upper('b')", "0"]),
        Reply::bulk("AB")
    );
    assert_eq!(
        c.cmd(&["EVAL", "return ('a'):upper()", "0"]),
        Reply::bulk("A")
    );
}

#[test]
fn a_concurrent_reader_never_sees_half_a_script() {
    let server = TestServer::start(&[]);
    let port = server.port;
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut c = Raw::connect(port);
            let mut runs = 0;
            while !stop.load(Ordering::Relaxed) {
                // Two writes with work between them: a reader that could run in the
                // gap would see a != b.
                let reply = c.cmd(&[
                    "EVAL",
                    "redis.call('incr', KEYS[1]) local x = 0 for i = 1, 20000 do x = x + i end redis.call('incr', KEYS[2]) return x",
                    "2",
                    "a",
                    "b",
                ]);
                assert!(matches!(reply, Reply::Int(_)), "{reply:?}");
                runs += 1;
            }
            runs
        })
    };
    let mut reader = server.raw();
    let mut seen = 0;
    for _ in 0..2000 {
        let values = reader.cmd(&["MGET", "a", "b"]);
        let items = values.items();
        if items[0] != Reply::Nil {
            seen += 1;
        }
        assert_eq!(items[0], items[1], "half a script seen: {values:?}");
    }
    stop.store(true, Ordering::Relaxed);
    let runs = writer.join().unwrap();
    assert!(runs > 0 && seen > 0, "runs {runs}, seen {seen}");
}

#[test]
fn busy_script_kill_and_unkillable() {
    let server = TestServer::start(&["--workers", "2", "--busy-script-time", "100"]);
    let mut runner = server.raw();
    let mut other = server.raw();
    assert_eq!(
        other.cmd(&["SCRIPT", "KILL"]),
        Reply::err("NOTBUSY No scripts in execution right now.")
    );
    runner.send(&Raw::encode(&[
        b"EVAL",
        b"local i = 0 while true do i = i + 1 end",
        b"0",
    ]));
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(
        other.cmd(&["GET", "x"]),
        Reply::err("BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.")
    );
    assert_eq!(
        other.cmd(&["FUNCTION", "KILL"]),
        Reply::err("BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.")
    );
    // Clients that connect during the script get in and are told so too (they are
    // placed on a worker that is not running it).
    for _ in 0..3 {
        let mut late = server.raw();
        assert_eq!(
            late.cmd(&["PING"]),
            Reply::err("BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.")
        );
    }
    assert_eq!(other.cmd(&["SCRIPT", "KILL"]), Reply::ok());
    let killed = runner.read().text();
    assert!(
        killed.starts_with("ERR Script killed by user with SCRIPT KILL... script: ")
            && killed.ends_with(", on @user_script:1."),
        "{killed}"
    );
    assert_eq!(other.cmd(&["GET", "x"]), Reply::Nil);

    // A script that wrote cannot be killed; it ends by itself, its writes whole.
    runner.send(&Raw::encode(&[
        b"EVAL",
        b"redis.call('set','x','1') local t0 = tonumber(redis.call('time')[1]) while tonumber(redis.call('time')[1]) - t0 < 2 do end redis.call('set','y','1') return 1",
        b"0",
    ]));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        other.cmd(&["SCRIPT", "KILL"]),
        Reply::err("UNKILLABLE Sorry the script already executed write commands against the dataset. You can either wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command.")
    );
    assert_eq!(runner.read(), Reply::Int(1));
    assert_eq!(other.cmd(&["MGET", "x", "y"]).strings(), vec!["1", "1"]);
}

/// SIGTERM stops a node even while a script loops forever, as SHUTDOWN NOSAVE does, and
/// what was acknowledged before it is there after the restart.
#[test]
fn sigterm_stops_a_node_running_an_endless_script() {
    let mut server = TestServer::start(&["--workers", "2", "--busy-script-time", "100"]);
    let mut runner = server.raw();
    let mut other = server.raw();
    assert_eq!(other.cmd(&["SET", "before", "1"]), Reply::ok());
    // It wrote, so SCRIPT KILL could not stop it.
    runner.send(&Raw::encode(&[
        b"EVAL",
        b"redis.call('set','x','1') while true do end",
        b"0",
    ]));
    wait_until("the script is running", Duration::from_secs(10), || {
        other.cmd(&["PING"]) != Reply::Status("PONG".into())
    });
    let started = Instant::now();
    let status = server.terminate();
    assert!(status.success(), "{status}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    server.start_again();
    assert_eq!(server.raw().cmd(&["GET", "before"]), Reply::bulk("1"));
}

#[test]
fn functions_survive_a_restart_and_reach_a_replica() {
    let mut master = TestServer::start(&[]);
    let lib = "#!lua name=counter\n\
        redis.register_function('bump', function(keys) return redis.call('incr', keys[1]) end)\n\
        redis.register_function{function_name='peek', callback=function(keys) return redis.call('get', keys[1]) end, flags={'no-writes'}}";
    let mut m = master.raw();
    assert_eq!(m.cmd(&["FUNCTION", "LOAD", lib]), Reply::bulk("counter"));
    assert_eq!(m.cmd(&["FCALL", "bump", "1", "n"]), Reply::Int(1));
    master.restart();
    let mut m = master.raw();
    assert_eq!(m.cmd(&["FCALL", "bump", "1", "n"]), Reply::Int(2));
    assert_eq!(m.cmd(&["FUNCTION", "LIST"]).items().len(), 1);

    let replica = TestServer::start(&[]);
    let port = master.port.to_string();
    assert_eq!(
        replica.raw().cmd(&["SLAVEOF", "127.0.0.1", &port]),
        Reply::ok()
    );
    let mut r = replica.raw();
    wait_until(
        "the replica has the script's writes",
        Duration::from_secs(30),
        || r.cmd(&["GET", "n"]) == Reply::bulk("2"),
    );
    // A script's writes reach the replica as writes.
    assert_eq!(
        m.cmd(&[
            "EVAL",
            "redis.call('set', KEYS[1], 'from-script') return redis.call('incr', KEYS[2])",
            "2",
            "s",
            "n"
        ]),
        Reply::Int(3)
    );
    wait_until(
        "the replica has the new writes",
        Duration::from_secs(30),
        || {
            r.cmd(&["MGET", "s", "n"])
                == Reply::Array(vec![Reply::bulk("from-script"), Reply::bulk("3")])
        },
    );
    // Effects, not the script: a value only that run could produce (the clock to the
    // microsecond, Lua's random numbers) arrives as the master wrote it.
    let stamp = m.cmd(&[
        "EVAL",
        "local t = redis.call('time') local v = t[1] .. '.' .. t[2] .. ':' .. tostring(math.random()) redis.call('set', KEYS[1], v) return v",
        "1",
        "stamp",
    ]);
    assert!(matches!(stamp, Reply::Bulk(_)), "{stamp:?}");
    wait_until(
        "the replica has the script's value, not a value of its own",
        Duration::from_secs(30),
        || r.cmd(&["GET", "stamp"]) == stamp,
    );
    // The library came with the stream; read-only functions run there, writing ones
    // are refused, and a new library on the master shows up.
    assert_eq!(r.cmd(&["FCALL_RO", "peek", "1", "n"]), Reply::bulk("3"));
    assert_eq!(
        r.cmd(&["FCALL", "bump", "1", "n"]),
        Reply::err("READONLY Can not run script with write flag on readonly replica")
    );
    let refused = r
        .cmd(&["EVAL", "return redis.call('set','a','b')", "0"])
        .text();
    assert!(
        refused.starts_with("READONLY You can't write against a read only slave. script: "),
        "{refused}"
    );
    assert_eq!(
        r.cmd(&["FUNCTION", "LOAD", lib]),
        Reply::err("READONLY You can't write against a read only slave.")
    );
    m.cmd(&["FUNCTION", "LOAD", "#!lua name=two\nredis.register_function{function_name='two', callback=function() return 2 end, flags={'no-writes'}}"]);
    wait_until(
        "the new library reaches the replica",
        Duration::from_secs(30),
        || r.cmd(&["FCALL_RO", "two", "0"]) == Reply::Int(2),
    );
}

const NODE1: &str = "cccccccccccccccccccccccccccccccccccccc01";
const NODE2: &str = "cccccccccccccccccccccccccccccccccccccc02";

#[test]
fn cluster_routing_of_scripts() {
    let (node_a, node_b) = two_masters(NODE1, NODE2);
    let mut a = node_a.raw();
    let here = key_in_slot(&mut a, 100, "here");
    let here_too = key_in_slot(&mut a, 200, "also");
    let there = key_in_slot(&mut a, 9000, "there");
    let set = "return redis.call('set', KEYS[1], 'v')";
    assert_eq!(a.cmd(&["EVAL", set, "1", &here]), Reply::ok());
    assert_eq!(
        a.cmd(&["EVAL", set, "2", &here, &here_too]),
        Reply::err("CROSSSLOT Attempted to access keys that don't hash to the same slot")
    );
    assert_eq!(
        a.cmd(&["EVAL", set, "1", &there]),
        Reply::err(&format!("MOVED 9000 127.0.0.1:{}", node_b.port))
    );
    assert_eq!(
        a.cmd(&["FCALL", "nosuch", "1", &there]),
        Reply::err(&format!("MOVED 9000 127.0.0.1:{}", node_b.port))
    );
    // Undeclared keys: only keys this node serves; with a shebang, the declared slot
    // only (a script without one, of Redis 6 semantics, may cross slots, as in Redis 7
    // and Kvrocks' TestEvalScriptFlags "Old style").
    assert_eq!(
        a.cmd(&[
            "EVAL",
            "return redis.call('get', ARGV[1])",
            "1",
            &here,
            &here_too,
        ]),
        Reply::Nil
    );
    let reply = a.cmd(&[
        "EVAL",
        "#!lua\nreturn redis.call('get', ARGV[1])",
        "1",
        &here,
        &here_too,
    ]);
    assert!(
        reply.text().starts_with(
            "ERR Script attempted to access keys that do not hash to the same slot script: "
        ),
        "{reply:?}"
    );
    let reply = a.cmd(&["EVAL", "return redis.call('get', ARGV[1])", "0", &there]);
    assert!(
        reply.text().starts_with(
            "ERR Script attempted to access a non local key in a cluster node script: "
        ),
        "{reply:?}"
    );
    assert_eq!(
        a.cmd(&[
            "EVAL",
            "redis.call('set', ARGV[1], 'x') return redis.call('get', ARGV[1])",
            "0",
            &here_too
        ]),
        Reply::bulk("x")
    );
    assert_eq!(
        a.cmd(&["EVAL", "#!lua flags=no-cluster\nreturn 1", "0"]),
        Reply::err("ERR Can not run script on cluster, 'no-cluster' flag is set.")
    );
    assert_eq!(
        a.cmd(&["EVAL", "#!lua flags=allow-cross-slot-keys\nredis.call('set', ARGV[1], 1) return redis.call('set', ARGV[2], 1)", "0", &here, &here_too]),
        Reply::ok()
    );
}

#[test]
fn scripts_incrementing_across_a_cut_over_lose_and_double_nothing() {
    let (node_a, node_b) = two_masters(NODE1, NODE2);
    let mut a = node_a.raw();
    let counter = key_in_slot(&mut a, 500, "counter");
    // Bulk data so that the copy takes a while.
    fill_slot(&node_a, &counter, 10_000, 100);
    let lib = "#!lua name=l\nredis.register_function('bump', function(keys) return redis.call('incr', keys[1]) end)";
    for node in [&node_a, &node_b] {
        assert_eq!(node.raw().cmd(&["FUNCTION", "LOAD", lib]), Reply::bulk("l"));
    }
    let writers = [
        vec![
            "EVAL".to_string(),
            "return redis.call('incr', KEYS[1])".into(),
            "1".into(),
            counter.clone(),
        ],
        vec!["FCALL".into(), "bump".into(), "1".into(), counter.clone()],
    ]
    .map(|command| RedirectedWriter::start(node_a.port, node_b.port, command));
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        a.cmd(&["CLUSTERX", "MIGRATE", "500", NODE2, "sync", "60"]),
        Reply::ok()
    );
    std::thread::sleep(Duration::from_millis(200));
    let acknowledged: i64 = writers.into_iter().map(RedirectedWriter::stop).sum();
    let value = counter_value(&node_b, &counter);
    assert_eq!(
        value, acknowledged,
        "every acknowledged increment is there, once"
    );
    assert!(value > 0);
}
