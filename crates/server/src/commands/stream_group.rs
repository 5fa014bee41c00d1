//! Stream consumer-group commands: XGROUP, XREADGROUP, XACK, XPENDING, XCLAIM,
//! XAUTOCLAIM (XINFO GROUPS/CONSUMERS are in `stream.rs` with the rest of XINFO).
//! Argument order, checks and error texts follow Redis 7.0 (src/t_stream.c); the
//! storage side is `ferrokv_types` (`stream_group.rs`).

use bytes::Bytes;
use ferrokv_protocol::{Frame, ProtocolVersion};
use ferrokv_types::{
    AutoClaimQuery, ClaimOptions, GroupCreate, GroupRead, GroupStart, MaybeEntry, Missing,
    PendingQuery, StreamId, ENTRIES_READ_UNKNOWN,
};

use super::stream::{
    entry_frame, id_frame, interval_id, no_group_for_key, parse_id_full, strict_id, xread_args,
    xread_keys,
};
use super::{int_arg, is, text};
use crate::command::{cmd, flags::*, CommandSpec};
use crate::context::Context;
use crate::error::{CmdResult, CommandError};

fn nogroup(message: String) -> CommandError {
    CommandError::Prefixed("NOGROUP", message)
}

/// The NOGROUP text of XPENDING, XCLAIM and XAUTOCLAIM.
fn no_key_or_group(key: &[u8], group: &[u8]) -> CommandError {
    nogroup(format!(
        "No such key '{}' or consumer group '{}'",
        text(key),
        text(group)
    ))
}

fn key_must_exist() -> CommandError {
    CommandError::err(
        "The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically.",
    )
}

/// An entry as a group read returns it: `[id, fields]`, or `[id, nil]` when it was
/// deleted while pending.
fn maybe_entry_frame((id, fields): MaybeEntry) -> Frame {
    match fields {
        Some(fields) => entry_frame(ferrokv_types::StreamEntry { id, fields }),
        None => Frame::Array(vec![id_frame(id), Frame::NullArray]),
    }
}

/// ENTRIESREAD's value: an integer, positive or -1.
fn entries_read_arg(arg: &[u8]) -> Result<i64, CommandError> {
    let n = int_arg(arg)?;
    if n < 0 && n != ENTRIES_READ_UNKNOWN {
        return Err(CommandError::err(
            "value for ENTRIESREAD must be positive or -1",
        ));
    }
    Ok(n)
}

const XGROUP_HELP: &[&str] = &[
    "XGROUP <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CREATE <key> <groupname> <id|$> [option]",
    "    Create a new consumer group. Options are:",
    "    * MKSTREAM",
    "      Create the empty stream if it does not exist.",
    "    * ENTRIESREAD entries_read",
    "      Set the group's entries_read counter (internal use).",
    "CREATECONSUMER <key> <groupname> <consumer>",
    "    Create a new consumer in the specified group.",
    "DELCONSUMER <key> <groupname> <consumer>",
    "    Remove the specified consumer.",
    "DESTROY <key> <groupname>",
    "    Remove the specified group.",
    "SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]",
    "    Set the current group ID and entries_read counter.",
    "HELP",
    "    Prints this help.",
];

fn xgroup(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    let sub = &args[1];
    let (name, arity): (&str, i32) = if is(sub, "HELP") {
        ("help", 2)
    } else if is(sub, "CREATE") {
        ("create", -5)
    } else if is(sub, "SETID") {
        ("setid", -5)
    } else if is(sub, "DESTROY") {
        ("destroy", 4)
    } else if is(sub, "CREATECONSUMER") {
        ("createconsumer", 5)
    } else if is(sub, "DELCONSUMER") {
        ("delconsumer", 5)
    } else {
        return Err(CommandError::UnknownSubcommand {
            command: "XGROUP",
            sub: text(sub),
        });
    };
    let argc = args.len() as i32;
    if (arity >= 0 && argc != arity) || (arity < 0 && argc < -arity) {
        return Err(CommandError::WrongArity(format!("xgroup|{name}")));
    }
    if name == "help" {
        return Ok(Frame::Array(
            XGROUP_HELP.iter().map(|line| Frame::simple(line)).collect(),
        ));
    }
    let sub_syntax = || {
        CommandError::err(format!(
            "unknown subcommand or wrong number of arguments for '{}'. Try XGROUP HELP.",
            text(sub)
        ))
    };
    let (key, group) = (&args[2], &args[3]);
    let db = &ctx.server.db;
    // CREATE's options are parsed before the key is looked up, as in Redis.
    let mut mkstream = false;
    let mut entries_read = ENTRIES_READ_UNKNOWN;
    if name == "create" {
        let mut i = 5;
        while i < args.len() {
            if is(&args[i], "MKSTREAM") {
                mkstream = true;
                i += 1;
            } else if is(&args[i], "ENTRIESREAD") && i + 1 < args.len() {
                entries_read = entries_read_arg(&args[i + 1])?;
                i += 2;
            } else {
                return Err(sub_syntax());
            }
        }
    }
    let last_id = db.stream_last_id(key)?;
    if last_id.is_none() && !mkstream {
        return Err(key_must_exist());
    }
    if matches!(name, "setid" | "createconsumer" | "delconsumer")
        && !db.stream_group_exists(key, group)?
    {
        return Err(no_group_for_key(key, group));
    }
    let missing = |m: Missing| match m {
        Missing::Stream => key_must_exist(),
        Missing::Group => no_group_for_key(key, group),
    };
    match name {
        "create" => {
            if args.len() > 8 {
                return Err(sub_syntax());
            }
            let start = match args[4].as_ref() {
                b"$" => GroupStart::Last,
                id => GroupStart::Id(strict_id(id)?),
            };
            match db.xgroup_create(key, group, start, mkstream, entries_read)? {
                GroupCreate::Created => Ok(Frame::ok()),
                GroupCreate::Exists => Err(CommandError::Prefixed(
                    "BUSYGROUP",
                    "Consumer Group name already exists".into(),
                )),
                GroupCreate::NoStream => Err(key_must_exist()),
            }
        }
        "setid" => {
            if args.len() != 5 && args.len() != 7 {
                return Err(sub_syntax());
            }
            // SETID takes `-` and `+` (Redis parses it with the non-strict parser).
            let start = match args[4].as_ref() {
                b"$" => GroupStart::Last,
                id => {
                    let (ms, seq) = parse_id_full(id, 0, false, false)?;
                    GroupStart::Id(StreamId::new(ms, seq.unwrap_or(0)))
                }
            };
            let mut entries_read = ENTRIES_READ_UNKNOWN;
            if args.len() == 7 {
                if !is(&args[5], "ENTRIESREAD") {
                    return Err(sub_syntax());
                }
                entries_read = entries_read_arg(&args[6])?;
            }
            db.xgroup_setid(key, group, start, entries_read)?
                .map_err(missing)?;
            Ok(Frame::ok())
        }
        "destroy" => {
            let destroyed = db.xgroup_destroy(key, group)?.map_err(missing)?;
            Ok(Frame::Integer(i64::from(destroyed)))
        }
        "createconsumer" => {
            let created = db
                .xgroup_createconsumer(key, group, &args[4])?
                .map_err(missing)?;
            Ok(Frame::Integer(i64::from(created)))
        }
        _ => {
            let pending = db
                .xgroup_delconsumer(key, group, &args[4])?
                .map_err(missing)?;
            Ok(Frame::Integer(pending as i64))
        }
    }
}

fn xreadgroup(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    let parsed = xread_args(args, true)?;
    let Some((group, consumer)) = parsed.group.clone() else {
        return Err(CommandError::err("Missing GROUP option for XREADGROUP"));
    };
    let keys = &args[parsed.streams_at..parsed.streams_at + parsed.streams];
    let id_args = &args[parsed.streams_at + parsed.streams..];
    let db = &ctx.server.db;
    let no_group = |key: &[u8]| {
        nogroup(format!(
            "No such key '{}' or consumer group '{}' in XREADGROUP with GROUP option",
            text(key),
            text(&group)
        ))
    };
    // Every key and ID is checked before anything is read, as in Redis.
    let mut reads = Vec::with_capacity(keys.len());
    for (key, id) in keys.iter().zip(id_args) {
        if !db.stream_group_exists(key, &group)? {
            return Err(no_group(key));
        }
        reads.push(match id.as_ref() {
            b"$" => return Err(CommandError::err(
                "The $ ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would just return an empty result set.",
            )),
            b">" => GroupRead::New,
            other => match strict_id(other)? {
                // Redis marks `>` with the largest ID internally, so it reads new
                // entries when given that ID too.
                StreamId::MAX => GroupRead::New,
                id => GroupRead::History(id),
            },
        });
    }
    let mut served = Vec::new();
    for (key, read) in keys.iter().zip(reads) {
        let outcome = db
            .xreadgroup(key, &group, &consumer, read, parsed.count, parsed.noack)?
            .map_err(|_| no_group(key))?;
        if let Some(entries) = outcome {
            let entries = Frame::Array(entries.into_iter().map(maybe_entry_frame).collect());
            served.push((Frame::Bulk(key.clone()), entries));
        }
    }
    if !served.is_empty() {
        if ctx.client.protocol == ProtocolVersion::Resp3 {
            return Ok(Frame::Map(served));
        }
        return Ok(Frame::Array(
            served
                .into_iter()
                .map(|(key, entries)| Frame::Array(vec![key, entries]))
                .collect(),
        ));
    }
    match parsed.block {
        // `>` reads stay `>`: the retry reads whatever arrived after the group's last ID.
        Some(timeout) => ctx.block(keys.to_vec(), timeout, Frame::NullArray, None),
        None => Ok(Frame::NullArray),
    }
}

fn xack(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    let (key, group) = (&args[1], &args[2]);
    if !ctx.server.db.stream_group_exists(key, group)? {
        return Ok(Frame::Integer(0));
    }
    // All IDs are parsed first: an XACK either acknowledges or fails as a whole.
    let ids = args[3..]
        .iter()
        .map(|a| strict_id(a))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Frame::Integer(ctx.server.db.xack(key, group, &ids)? as i64))
}

fn xpending(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    let (key, group) = (&args[1], &args[2]);
    let argc = args.len();
    if argc != 3 && !(6..=9).contains(&argc) {
        return Err(CommandError::Syntax);
    }
    // The range arguments are parsed before the key is looked up, as in Redis.
    let mut query = None;
    if argc >= 6 {
        let mut at = 3;
        let mut min_idle_ms = 0;
        if is(&args[3], "IDLE") {
            min_idle_ms = int_arg(&args[4])?.max(0) as u64;
            if argc < 8 {
                return Err(CommandError::Syntax);
            }
            at += 2;
        }
        let count = int_arg(&args[at + 2])?.max(0) as u64;
        let (mut start, start_ex) = interval_id(&args[at], 0)?;
        if start_ex {
            start = start
                .next()
                .ok_or_else(|| CommandError::err("invalid start ID for the interval"))?;
        }
        let (mut end, end_ex) = interval_id(&args[at + 1], u64::MAX)?;
        if end_ex {
            end = end
                .prev()
                .ok_or_else(|| CommandError::err("invalid end ID for the interval"))?;
        }
        // Arguments past the consumer are ignored, as Redis does.
        let consumer = args.get(at + 3).map(|c| c.to_vec());
        query = Some(PendingQuery {
            start,
            end,
            count,
            min_idle_ms,
            consumer,
        });
    }
    let db = &ctx.server.db;
    let Some(query) = query else {
        let summary = db
            .xpending_summary(key, group)?
            .map_err(|_| no_key_or_group(key, group))?;
        let Some((first, last)) = summary.range else {
            return Ok(Frame::Array(vec![
                Frame::Integer(0),
                Frame::Null,
                Frame::Null,
                Frame::NullArray,
            ]));
        };
        let consumers = summary
            .consumers
            .into_iter()
            .map(|(name, n)| Frame::Array(vec![Frame::bulk(name), Frame::bulk(n.to_string())]))
            .collect();
        return Ok(Frame::Array(vec![
            Frame::Integer(summary.count as i64),
            id_frame(first),
            id_frame(last),
            Frame::Array(consumers),
        ]));
    };
    let entries = db
        .xpending_range(key, group, &query)?
        .map_err(|_| no_key_or_group(key, group))?;
    let now = ferrokv_types::now_ms();
    Ok(Frame::Array(
        entries
            .into_iter()
            .map(|e| {
                Frame::Array(vec![
                    id_frame(e.id),
                    Frame::bulk(e.consumer),
                    Frame::Integer(now.saturating_sub(e.delivery_ms) as i64),
                    Frame::Integer(e.deliveries as i64),
                ])
            })
            .collect(),
    ))
}

fn claimed_frame(entries: Vec<MaybeEntry>, justid: bool) -> Frame {
    Frame::Array(
        entries
            .into_iter()
            .map(|(id, fields)| match fields {
                _ if justid => id_frame(id),
                Some(fields) => entry_frame(ferrokv_types::StreamEntry { id, fields }),
                None => Frame::Null,
            })
            .collect(),
    )
}

fn xclaim(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    let (key, group, consumer) = (&args[1], &args[2], &args[3]);
    let db = &ctx.server.db;
    if !db.stream_group_exists(key, group)? {
        return Err(no_key_or_group(key, group));
    }
    let invalid = |what: &str| CommandError::err(format!("Invalid {what} argument for XCLAIM"));
    let mut options = ClaimOptions {
        min_idle_ms: int_arg(&args[4])
            .map_err(|_| invalid("min-idle-time"))?
            .max(0) as u64,
        ..ClaimOptions::default()
    };
    // The IDs run until the first argument that is not one; options follow.
    let mut ids = Vec::new();
    let mut i = 5;
    while i < args.len() {
        match strict_id(&args[i]) {
            Ok(id) => ids.push(id),
            Err(_) => break,
        }
        i += 1;
    }
    let now = ferrokv_types::now_ms() as i64;
    while i < args.len() {
        let more = i + 1 < args.len();
        let opt = &args[i];
        if is(opt, "FORCE") {
            options.force = true;
        } else if is(opt, "JUSTID") {
            options.justid = true;
        } else if is(opt, "IDLE") && more {
            i += 1;
            let idle = int_arg(&args[i]).map_err(|_| invalid("IDLE option"))?;
            options.delivery_ms = Some(now.saturating_sub(idle));
        } else if is(opt, "TIME") && more {
            i += 1;
            options.delivery_ms = Some(int_arg(&args[i]).map_err(|_| invalid("TIME option"))?);
        } else if is(opt, "RETRYCOUNT") && more {
            i += 1;
            let n = int_arg(&args[i]).map_err(|_| invalid("RETRYCOUNT option"))?;
            options.retry_count = (n >= 0).then_some(n as u64);
        } else if is(opt, "LASTID") && more {
            i += 1;
            options.last_id = Some(strict_id(&args[i])?);
        } else {
            return Err(CommandError::err(format!(
                "Unrecognized XCLAIM option '{}'",
                text(opt)
            )));
        }
        i += 1;
    }
    let claimed = db
        .xclaim(key, group, consumer, &ids, &options)?
        .map_err(|_| no_key_or_group(key, group))?;
    Ok(claimed_frame(claimed, options.justid))
}

fn xautoclaim(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    let (key, group, consumer) = (&args[1], &args[2], &args[3]);
    let min_idle_ms = int_arg(&args[4])
        .map_err(|_| CommandError::err("Invalid min-idle-time argument for XAUTOCLAIM"))?
        .max(0) as u64;
    let (mut start, start_ex) = interval_id(&args[5], 0)?;
    if start_ex {
        start = start
            .next()
            .ok_or_else(|| CommandError::err("invalid start ID for the interval"))?;
    }
    // Redis' bound keeps `count * attempts` within a C long.
    const MAX_COUNT: i64 = i64::MAX / 16;
    let mut count = 100u64;
    let mut justid = false;
    let mut i = 6;
    while i < args.len() {
        if is(&args[i], "COUNT") && i + 1 < args.len() {
            count = int_arg(&args[i + 1])
                .ok()
                .filter(|n| (1..=MAX_COUNT).contains(n))
                .ok_or_else(|| CommandError::err("COUNT must be > 0"))? as u64;
            i += 2;
        } else if is(&args[i], "JUSTID") {
            justid = true;
            i += 1;
        } else {
            return Err(CommandError::Syntax);
        }
    }
    let outcome = ctx
        .server
        .db
        .xautoclaim(
            key,
            group,
            consumer,
            &AutoClaimQuery {
                min_idle_ms,
                start,
                count,
                justid,
            },
        )?
        .map_err(|_| no_key_or_group(key, group))?;
    Ok(Frame::Array(vec![
        id_frame(outcome.next),
        claimed_frame(outcome.claimed, justid),
        Frame::Array(outcome.deleted.into_iter().map(id_frame).collect()),
    ]))
}

const W: u32 = WRITE;

#[rustfmt::skip]
pub const COMMANDS: &[CommandSpec] = &[
    cmd("xgroup", -2, W, 2, 2, 1, xgroup, "stream", "Creates, changes and removes consumer groups and consumers."),
    CommandSpec {
        keys: Some(xread_keys),
        flags: W | BLOCKING | MOVABLE_KEYS,
        ..cmd("xreadgroup", -7, 0, 0, 0, 0, xreadgroup, "stream", "Reads entries for a consumer of a group, optionally waiting.")
    },
    cmd("xack", -4, W | FAST, 1, 1, 1, xack, "stream", "Acknowledges pending entries of a group."),
    cmd("xpending", -3, READONLY, 1, 1, 1, xpending, "stream", "Returns the pending entries of a group."),
    cmd("xclaim", -6, W | FAST, 1, 1, 1, xclaim, "stream", "Transfers pending entries to another consumer."),
    cmd("xautoclaim", -6, W | FAST, 1, 1, 1, xautoclaim, "stream", "Transfers idle pending entries to another consumer, scanning the PEL."),
];
