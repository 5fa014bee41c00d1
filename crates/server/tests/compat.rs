//! Replies that must be Redis' own, checked side by side with a real redis-server (the
//! reference is Redis 7.x; where the installed 7.0 differs from 7.2, the 7.2 answer is
//! written out).

mod common;
use common::{same_as_redis, same_as_redis_table, Raw, Reply, SideBySide, TestServer};

/// Sends `args` to both and compares the exact bytes of the replies.
fn same_wire(ours: &mut Raw, redis: &mut Raw, args: &[&str]) {
    let expected = redis.cmd_wire(args);
    assert_eq!(ours.cmd_wire(args), expected, "{args:?}");
}

#[test]
fn blocking_timeouts_reply_as_redis_in_resp2_and_resp3_in_and_out_of_multi() {
    let pair = SideBySide::start(&[]);
    let blocking: &[&[&str]] = &[
        &["BRPOPLPUSH", "src", "dst", "0.05"],
        &["BLMOVE", "src", "dst", "LEFT", "RIGHT", "0.05"],
        &["BLPOP", "l1", "l2", "0.05"],
        &["BRPOP", "l1", "0.05"],
        &["BZPOPMIN", "z1", "0.05"],
        &["BZPOPMAX", "z1", "z2", "0.05"],
        &["BZMPOP", "0.05", "1", "z1", "MIN"],
        &["BLMPOP", "0.05", "2", "l1", "l2", "LEFT", "COUNT", "2"],
        &["XREAD", "BLOCK", "50", "STREAMS", "s1", "0"],
    ];
    for protocol in ["2", "3"] {
        let (mut ours, mut theirs) = (pair.ferrokv.raw(), pair.redis_server.raw());
        // (The HELLO replies differ: version and client id.)
        ours.cmd(&["HELLO", protocol]);
        theirs.cmd(&["HELLO", protocol]);
        for args in blocking {
            // Blocking, until the timeout.
            same_wire(&mut ours, &mut theirs, args);
            // Inside MULTI nothing blocks: the timeout reply comes at once in EXEC.
            same_wire(&mut ours, &mut theirs, &["MULTI"]);
            same_wire(&mut ours, &mut theirs, args);
            same_wire(&mut ours, &mut theirs, &["EXEC"]);
        }
    }
    // The two cases, written out.
    let mut c = pair.ferrokv.raw();
    assert_eq!(c.cmd_wire(&["BRPOPLPUSH", "src", "dst", "0.1"]), "*-1\r\n");
    assert_eq!(
        c.cmd_wire(&["BLMOVE", "src", "dst", "LEFT", "RIGHT", "0.1"]),
        "*-1\r\n"
    );
}

#[test]
fn counts_at_the_edge_of_64_bits_are_refused_before_the_key_is_looked_up() {
    let mut pair = SideBySide::start(&[]);
    let (ours, theirs) = (&mut pair.actual, &mut pair.expected);
    same_as_redis_table(
        ours,
        theirs,
        "
        SADD s a b c
        HSET h f v
        ZADD z 1 m
        RPUSH l foo
        ",
    );
    let min = "-9223372036854775808";
    same_as_redis_table(
        ours,
        theirs,
        &format!(
            "
            SRANDMEMBER s {min}
            SRANDMEMBER missing {min}
            HRANDFIELD h {min}
            HRANDFIELD missing {min}
            HRANDFIELD h {min} WITHVALUES
            ZRANDMEMBER z {min}
            ZRANDMEMBER missing {min}
            // Wrong type: the range is still checked first.
            SRANDMEMBER h {min}
            HRANDFIELD s {min}
            "
        ),
    );
    // Redis 7.2 checks LPOS RANK the same way (7.0 still replied with a position).
    let out_of_range = Reply::err(
        "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807",
    );
    for key in ["l", "missing", "s"] {
        assert_eq!(
            ours.cmd(&["LPOS", key, "foo", "RANK", min]),
            out_of_range,
            "{key}"
        );
    }
    // One past the edge is a rank like any other (no such match here).
    same_as_redis_table(
        ours,
        theirs,
        "
        LPOS l foo RANK -9223372036854775807
        LPOS l foo RANK -1
        SRANDMEMBER missing -9223372036854775807
        ",
    );
}

#[test]
fn getex_looks_the_key_up_before_the_expiry() {
    let mut pair = SideBySide::start(&[]);
    let (ours, theirs) = (&mut pair.actual, &mut pair.expected);
    same_as_redis_table(
        ours,
        theirs,
        "
        GETEX missing EX 0
        GETEX missing EX -1
        GETEX missing PX 0
        GETEX missing EXAT 0
        GETEX missing EX abc
        GETEX missing EX 9223372036854775807
        GETEX missing PERSIST EX 1
        GETEX missing BOGUS
        GETEX missing EX
        SET x 1
        GETEX x EX 0
        GETEX x EX abc
        GETEX x EX 9223372036854775807
        GETEX x PERSIST EX 1
        GETEX x EX 100
        TTL x
        RPUSH list a
        GETEX list EX 0
        ",
    );
}

#[test]
fn client_list_and_kill_filters_reply_as_redis() {
    let mut pair = SideBySide::start(&[]);
    let (ours, theirs) = (&mut pair.actual, &mut pair.expected);
    same_as_redis_table(
        ours,
        theirs,
        "
        CLIENT LIST TYPE bogus
        CLIENT LIST TYPE
        CLIENT LIST bogus
        CLIENT LIST ID abc
        CLIENT LIST TYPE master
        CLIENT LIST TYPE replica
        CLIENT LIST TYPE slave
        CLIENT LIST TYPE pubsub
        CLIENT LIST ID 999999
        CLIENT KILL TYPE bogus
        CLIENT KILL USER nobody
        CLIENT KILL MAXAGE x
        CLIENT KILL ID 0
        CLIENT KILL ID 999999
        CLIENT KILL TYPE normal SKIPME yes
        ",
    );
    // A name with a space: not writable in a table.
    same_as_redis(ours, theirs, &[&["CLIENT", "SETNAME", "a b"]]);
    // The normal clients are listed, by type and by id.
    let id = ours.cmd(&["CLIENT", "ID"]).int();
    let normal = ours.cmd(&["CLIENT", "LIST", "TYPE", "normal"]).text();
    assert!(normal.contains(&format!("id={id} ")), "{normal}");
    let by_id = ours
        .cmd(&["CLIENT", "LIST", "ID", &id.to_string(), "424242"])
        .text();
    assert_eq!(by_id.lines().count(), 1, "{by_id}");
    assert!(by_id.starts_with(&format!("id={id} ")), "{by_id}");
}

#[test]
fn client_setinfo_refuses_what_would_break_client_list() {
    let server = TestServer::start(&[]);
    let mut c = server.raw();
    // Redis 7.2's replies (7.0 has no SETINFO).
    assert_eq!(
        c.cmd(&["CLIENT", "SETINFO", "LIB-NAME", "a b"]),
        Reply::err("ERR LIB-NAME cannot contain spaces, newlines or special characters.")
    );
    assert_eq!(
        c.cmd(&["CLIENT", "SETINFO", "lib-ver", "1.0\n"]),
        Reply::err("ERR lib-ver cannot contain spaces, newlines or special characters.")
    );
    assert_eq!(
        c.cmd(&["CLIENT", "SETINFO", "BOGUS", "x"]),
        Reply::err("ERR Unrecognized option 'BOGUS'")
    );
    assert_eq!(
        c.cmd(&["CLIENT", "SETINFO", "LIB-NAME"]),
        Reply::err("ERR wrong number of arguments for 'client|setinfo' command")
    );
    assert_eq!(
        c.cmd(&["CLIENT", "SETINFO", "LIB-NAME", "redis-rs"]),
        Reply::ok()
    );
    assert_eq!(
        c.cmd(&["CLIENT", "SETINFO", "LIB-VER", "0.27"]),
        Reply::ok()
    );
    let info = c.cmd(&["CLIENT", "INFO"]).text();
    assert!(
        info.contains(" lib-name=redis-rs lib-ver=0.27 io-thread="),
        "{info}"
    );
    // An empty value clears it.
    assert_eq!(c.cmd(&["CLIENT", "SETINFO", "LIB-NAME", ""]), Reply::ok());
    let info = c.cmd(&["CLIENT", "INFO"]).text();
    assert!(info.contains(" lib-name= "), "{info}");
}

/// The ACL categories COMMAND INFO lists (its seventh field).
fn categories(c: &mut Raw, command: &str) -> Vec<String> {
    let info = c.cmd(&["COMMAND", "INFO", command]).items();
    info[0].items()[6].strings()
}

#[test]
fn command_info_spells_acl_categories_as_redis() {
    let mut pair = SideBySide::start(&[]);
    let (ours, theirs) = (&mut pair.actual, &mut pair.expected);
    for command in [
        "get",
        "set",
        "zadd",
        "zrange",
        "bzpopmin",
        "blpop",
        "lpush",
        "hset",
        "sadd",
        "sinter",
        "setbit",
        "pfadd",
        "xadd",
        "del",
        "exists",
        "expire",
        "flushall",
        "keys",
        "dbsize",
        "ping",
        "echo",
        "multi",
        "exec",
        "watch",
        "geoadd",
        "geopos",
        "georadius",
        "georadius_ro",
        "geosearch",
        "geosearchstore",
    ] {
        assert_eq!(
            categories(ours, command),
            categories(theirs, command),
            "{command}"
        );
    }
    assert_eq!(categories(ours, "zadd"), ["@write", "@sortedset", "@fast"]);
}

#[test]
fn unsupported_commands_get_redis_unknown_command_error() {
    let mut pair = SideBySide::start(&[]);
    let (ours, theirs) = (&mut pair.actual, &mut pair.expected);
    // Commands Ferrokv does not have (docs/commands.md lists them) answer exactly as
    // Redis answers a command it does not know.
    for args in [
        &["LOLWUT", "VERSION", "5"][..],
        &["SAVE"],
        &["LATENCY", "DOCTOR"],
    ] {
        let got = ours.cmd(args);
        let mut unknown: Vec<&str> = vec!["NOSUCHCOMMAND"];
        unknown.extend_from_slice(&args[1..]);
        let reference = theirs
            .cmd(&unknown)
            .text()
            .replace("NOSUCHCOMMAND", args[0]);
        assert_eq!(got, Reply::Error(reference), "{args:?}");
    }
    // Every command docs/commands.md lists as not implemented.
    let docs = include_str!("../../../docs/commands.md");
    let section = docs
        .split("## Not implemented")
        .nth(1)
        .and_then(|s| s.split("Subcommands missing").next())
        .expect("docs/commands.md lists the missing commands");
    let names: Vec<&str> = section
        .split(|c: char| c.is_whitespace() || c == ':')
        .filter(|w| {
            w.len() > 2
                && w.chars()
                    .all(|c| c.is_ascii_uppercase() || c == '_' || c == '-')
        })
        .filter(|w| !["ERR", "RESP", "AOF", "WAL"].contains(w))
        .collect();
    assert!(names.len() >= 15, "{names:?}");
    for name in names {
        let reply = ours.cmd(&[name, "x"]);
        assert_eq!(
            reply,
            Reply::Error(format!(
                "ERR unknown command '{name}', with args beginning with: 'x' "
            )),
            "{name}"
        );
    }
}

/// Repeated options and extra arguments as Kvrocks' tests (and Redis) have them: a
/// repeated expiry option counts its last value, two kinds are a syntax error;
/// SPOP/SRANDMEMBER refuse a third argument; a count reaching the size returns the
/// whole collection in its stored order.
#[test]
fn repeated_options_and_whole_collections_as_redis() {
    let mut pair = SideBySide::start(&[]);
    let (ours, theirs) = (&mut pair.actual, &mut pair.expected);
    same_as_redis_table(
        ours,
        theirs,
        "
        SET foo bar EX 1 EX 2 EX 10
        TTL foo
        SET foo bar PX 1 PX 100000
        TTL foo
        SET foo bar EX 10 PX 10000
        SET foo bar KEEPTTL KEEPTTL
        SET foo bar EX 10 KEEPTTL
        SET foo bar NX NX
        SET foo bar XX XX GET
        SET foo bar NX XX
        SET foo bar EX
        GETEX foo EX 1 EX 10
        TTL foo
        GETEX foo PXAT 99999999999999 PXAT 99999999999998
        PEXPIRETIME foo
        GETEX foo PERSIST PERSIST
        TTL foo
        GETEX foo PERSIST EX 10
        GETEX foo EX 10 PERSIST
        GETEX foo EX
        GETEX foo KEEPTTL
        SADD myset a
        SPOP myset 1 1
        SRANDMEMBER myset 1 1
        HSET h key1 value1 key2 value2 key3 value3
        HRANDFIELD h 5
        HRANDFIELD h 3 WITHVALUES
        ",
    );
}
