//! What an operator reaches for: SLOWLOG, MONITOR, ROLE, MEMORY USAGE, OBJECT.

use bytes::Bytes;
use ferrokv_protocol::Frame;

use super::{int_arg, is, text};
use crate::command::{cmd, flags::*, CommandSpec};
use crate::context::Context;
use crate::error::{CmdResult, CommandError};

fn help(lines: &[&str]) -> CmdResult {
    Ok(Frame::Array(
        lines.iter().map(|line| Frame::simple(line)).collect(),
    ))
}

fn wrong_arity(command: &str, sub: &[u8]) -> CommandError {
    CommandError::WrongArity(format!("{command}|{}", text(sub).to_lowercase()))
}

/// SLOWLOG GET [count] | LEN | RESET | HELP.
fn slowlog(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    let sub = &args[1];
    let metrics = &ctx.server.metrics;
    if is(sub, "GET") {
        if args.len() > 3 {
            return Err(wrong_arity("slowlog", sub));
        }
        let count = match args.get(2) {
            // Redis' default: the ten newest entries.
            None => Some(10),
            Some(arg) => match ferrokv_types::numbers::parse_i64(arg) {
                Some(-1) => None,
                Some(n) if n >= 0 => Some(usize::try_from(n).unwrap_or(usize::MAX)),
                _ => {
                    return Err(CommandError::err(
                        "count should be greater than or equal to -1",
                    ))
                }
            },
        };
        Ok(Frame::Array(metrics.slowlog_get(count)))
    } else if is(sub, "LEN") && args.len() == 2 {
        Ok(Frame::Integer(metrics.slowlog_len() as i64))
    } else if is(sub, "RESET") && args.len() == 2 {
        metrics.slowlog_reset();
        Ok(Frame::ok())
    } else if is(sub, "HELP") && args.len() == 2 {
        help(&[
            "SLOWLOG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "GET [<count>]",
            "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
            "    Entries are made of:",
            "    id, timestamp, time in microseconds, arguments array, client IP and port,",
            "    client name",
            "LEN",
            "    Return the length of the slowlog.",
            "RESET",
            "    Reset the slowlog.",
            "HELP",
            "    Print this help.",
        ])
    } else if ["LEN", "RESET", "HELP"].iter().any(|s| is(sub, s)) {
        Err(wrong_arity("slowlog", sub))
    } else {
        Err(CommandError::UnknownSubcommand {
            command: "SLOWLOG",
            sub: text(sub),
        })
    }
}

/// `PERFLOG GET [n|*] | LEN | RESET`, Kvrocks' (`src/commands/cmd_server.cc`,
/// `CommandPerfLog`): the sampled commands, newest first (GET: 10 by default; `*`, 0 or
/// less: all). Another subcommand: Kvrocks' "ERR PERFLOG subcommand must be one of
/// RESET, LEN, GET".
fn perflog(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    let log = &ctx.server.perflog;
    let sub = &args[1];
    if is(sub, "LEN") {
        Ok(Frame::Integer(log.len() as i64))
    } else if is(sub, "RESET") {
        log.reset();
        Ok(Frame::ok())
    } else if is(sub, "GET") {
        let count = match args.get(2) {
            None => Some(10),
            Some(n) if n.as_ref() == b"*" => None,
            Some(n) => usize::try_from(int_arg(n)?).ok().filter(|&n| n > 0),
        };
        Ok(Frame::Array(log.get(count)))
    } else {
        Err(CommandError::err(
            "PERFLOG subcommand must be one of RESET, LEN, GET",
        ))
    }
}

/// MONITOR: from now on the connection relays every command the node runs.
fn monitor(ctx: &mut Context<'_>, _args: &[Bytes]) -> CmdResult {
    if ctx.client.monitor.is_none() {
        ctx.client.monitor = Some(ctx.server.metrics.subscribe_monitor());
    }
    Ok(Frame::ok())
}

/// MEMORY USAGE key [SAMPLES n] | HELP.
fn memory(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    let sub = &args[1];
    if is(sub, "USAGE") {
        let key = args.get(2).ok_or_else(|| wrong_arity("memory", sub))?;
        let samples = match &args[3..] {
            [] => ferrokv_types::DEFAULT_MEMORY_SAMPLES,
            [kw, n] if is(kw, "SAMPLES") => {
                let n = int_arg(n)?;
                if n < 0 {
                    return Err(CommandError::Syntax);
                }
                usize::try_from(n).unwrap_or(usize::MAX)
            }
            _ => return Err(CommandError::Syntax),
        };
        let size = ctx.server.db.stored_size(key, samples)?;
        Ok(size.map_or(Frame::Null, |n| {
            Frame::Integer(i64::try_from(n).unwrap_or(i64::MAX))
        }))
    } else if is(sub, "HELP") && args.len() == 2 {
        help(&[
            "MEMORY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "USAGE <key> [SAMPLES <count>]",
            "    Return memory in bytes used by <key> and its value. Nested values are",
            "    sampled up to <count> times (default: 5, 0 means sample all).",
            "HELP",
            "    Print this help.",
        ])
    } else {
        Err(CommandError::UnknownSubcommand {
            command: "MEMORY",
            sub: text(sub),
        })
    }
}

/// `DISK USAGE key`, Kvrocks' (`src/commands/cmd_server.cc`, `CommandDisk`): the bytes
/// of every record of the key as stored (keys and values, before compression: each
/// element measured, no sampling); nil for a missing key; another operation is
/// "ERR Unknown operation", Kvrocks' text.
fn disk(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    if !is(&args[1], "USAGE") {
        return Err(CommandError::err("Unknown operation"));
    }
    let size = ctx.server.db.stored_size(&args[2], 0)?;
    Ok(size.map_or(Frame::Null, |n| {
        Frame::Integer(i64::try_from(n).unwrap_or(i64::MAX))
    }))
}

/// OBJECT ENCODING|FREQ|IDLETIME|REFCOUNT key | HELP.
fn object(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    let sub = &args[1];
    let known = ["ENCODING", "FREQ", "IDLETIME", "REFCOUNT"]
        .iter()
        .any(|s| is(sub, s));
    if known {
        if args.len() != 3 {
            return Err(wrong_arity("object", sub));
        }
        let Some(encoding) = ctx.server.db.encoding(&args[2])? else {
            return Ok(Frame::Null);
        };
        if is(sub, "ENCODING") {
            Ok(Frame::bulk_from_str(encoding))
        } else if is(sub, "REFCOUNT") {
            // Values are never shared between keys.
            Ok(Frame::Integer(1))
        } else if is(sub, "FREQ") {
            // Redis' answer when no LFU policy is set, which is always the case here:
            // nothing is evicted, so access frequency is not tracked.
            Err(CommandError::err(
                "An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.",
            ))
        } else {
            // Tracking reads would turn every read into a write to disk.
            Err(CommandError::err(
                "Ferrokv does not track key access times, OBJECT IDLETIME is not available.",
            ))
        }
    } else if is(sub, "HELP") && args.len() == 2 {
        help(&[
            "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "ENCODING <key>",
            "    Return the kind of internal representation used in order to store the value",
            "    associated with a <key>.",
            "FREQ <key>",
            "    Return the access frequency index of the <key>. The returned integer is",
            "    proportional to the logarithm of the recent access frequency of the key.",
            "IDLETIME <key>",
            "    Return the idle time of the <key>, that is the approximated number of",
            "    seconds elapsed since the last access to the key.",
            "REFCOUNT <key>",
            "    Return the number of references of the value associated with the specified",
            "    <key>.",
            "HELP",
            "    Print this help.",
        ])
    } else {
        Err(CommandError::UnknownSubcommand {
            command: "OBJECT",
            sub: text(sub),
        })
    }
}

/// OBJECT and MEMORY USAGE name their key at position 2.
fn key_after_subcommand(args: &[Bytes]) -> Vec<usize> {
    if args.len() >= 3 && !is(&args[1], "HELP") {
        vec![2]
    } else {
        Vec::new()
    }
}

#[rustfmt::skip]
pub const COMMANDS: &[CommandSpec] = &[
    cmd("slowlog", -2, ADMIN | LOADING | STALE, 0, 0, 0, slowlog, "server", "Reads or resets the slow log (GET, LEN, RESET)."),
    cmd("perflog", -2, ADMIN | LOADING | STALE, 0, 0, 0, perflog, "server", "Reads or resets the log of sampled commands (GET, LEN, RESET; Kvrocks)."),
    cmd("monitor", 1, ADMIN | NO_MULTI | LOADING | STALE, 0, 0, 0, monitor, "server", "Relays every command the node runs."),
    CommandSpec { keys: Some(key_after_subcommand), ..cmd("memory", -2, READONLY | MOVABLE_KEYS, 0, 0, 0, memory, "server", "Reports the storage bytes of a key (USAGE).") },
    CommandSpec { keys: Some(key_after_subcommand), ..cmd("disk", 3, READONLY | MOVABLE_KEYS, 0, 0, 0, disk, "server", "Reports the stored bytes of a key (USAGE, Kvrocks).") },
    CommandSpec { keys: Some(key_after_subcommand), ..cmd("object", -2, READONLY | MOVABLE_KEYS, 0, 0, 0, object, "generic", "Inspects a key (ENCODING, FREQ, IDLETIME, REFCOUNT).") },
];
