//! Stream commands; the consumer-group commands are in `stream_group.rs`.

use bytes::Bytes;
use ferrokv_protocol::{Frame, ProtocolVersion};
use ferrokv_types::{IdSpec, StreamEntry, StreamId, Trim, TrimStrategy, XAddOptions};

use super::{int_arg, is};
use crate::blocking::timeout_millis;
use crate::command::{cmd, flags::*, CommandSpec};
use crate::context::Context;
use crate::error::{CmdResult, CommandError};

pub(super) fn invalid_id() -> CommandError {
    CommandError::err("Invalid stream ID specified as stream command argument")
}

/// Redis' `string2ull`: a strict integer first, else `strtoull` (leading spaces and a
/// sign allowed, the whole text consumed, no overflow).
fn parse_u64_like_redis(text: &[u8]) -> Option<u64> {
    if let Some(v) = ferrokv_types::numbers::parse_i64(text) {
        return u64::try_from(v).ok();
    }
    let mut rest = text;
    while let [b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c, tail @ ..] = rest {
        rest = tail;
    }
    let negative = match rest {
        [b'-', tail @ ..] => {
            rest = tail;
            true
        }
        [b'+', tail @ ..] => {
            rest = tail;
            false
        }
        _ => false,
    };
    if rest.is_empty() || !rest.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut value: u64 = 0;
    for d in rest {
        value = value.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    Some(if negative {
        value.wrapping_neg()
    } else {
        value
    })
}

/// A parsed ID argument: `ms-seq`, `ms` (sequence `missing_seq`), or with `allow_auto`
/// `ms-*` (sequence `None`). Without `strict`, `-` and `+` are the smallest and largest.
pub(super) fn parse_id_full(
    arg: &[u8],
    missing_seq: u64,
    strict: bool,
    allow_auto: bool,
) -> Result<(u64, Option<u64>), CommandError> {
    if arg.len() > 127 {
        return Err(invalid_id());
    }
    if !strict && arg.len() == 1 {
        match arg[0] {
            b'-' => return Ok((0, Some(0))),
            b'+' => return Ok((u64::MAX, Some(u64::MAX))),
            _ => {}
        }
    }
    let (ms_part, seq_part) = match arg.iter().position(|&b| b == b'-') {
        Some(dash) => (&arg[..dash], Some(&arg[dash + 1..])),
        None => (arg, None),
    };
    let ms = parse_u64_like_redis(ms_part).ok_or_else(invalid_id)?;
    let seq = match seq_part {
        None => Some(missing_seq),
        Some(b"*") if allow_auto => None,
        Some(seq) => Some(parse_u64_like_redis(seq).ok_or_else(invalid_id)?),
    };
    Ok((ms, seq))
}

/// A complete ID where `-` and `+` are not allowed (XDEL, XSETID, XREAD, MINID).
pub(super) fn strict_id(arg: &[u8]) -> Result<StreamId, CommandError> {
    let (ms, seq) = parse_id_full(arg, 0, true, false)?;
    Ok(StreamId::new(ms, seq.unwrap_or(0)))
}

/// An XRANGE bound: `-`, `+`, an ID (a bare `ms` gets `missing_seq`), or an exclusive
/// `(ID`. Returns the ID and whether it is exclusive.
pub(super) fn interval_id(arg: &[u8], missing_seq: u64) -> Result<(StreamId, bool), CommandError> {
    if arg.len() > 1 && arg[0] == b'(' {
        let (ms, seq) = parse_id_full(&arg[1..], missing_seq, true, false)?;
        return Ok((StreamId::new(ms, seq.unwrap_or(missing_seq)), true));
    }
    let (ms, seq) = parse_id_full(arg, missing_seq, false, false)?;
    Ok((StreamId::new(ms, seq.unwrap_or(missing_seq)), false))
}

pub(super) fn entry_frame(entry: StreamEntry) -> Frame {
    Frame::Array(vec![
        Frame::bulk(entry.id.to_string()),
        Frame::Array(entry.fields.into_iter().map(Frame::bulk).collect()),
    ])
}

pub(super) fn entries_frame(entries: Vec<StreamEntry>) -> Frame {
    Frame::Array(entries.into_iter().map(entry_frame).collect())
}

pub(super) fn id_frame(id: StreamId) -> Frame {
    Frame::bulk(id.to_string())
}

/// Parses `[MAXLEN|MINID [=|~] threshold] [LIMIT n]` (and for XADD `NOMKSTREAM` and
/// the ID) from `args[2..]` as Redis does. Returns the trim, NOMKSTREAM, and for XADD
/// the ID and the position of the first field.
struct AddTrimArgs {
    trim: Option<Trim>,
    no_create: bool,
    id: IdSpec,
    next: usize,
}

fn add_trim_args(args: &[Bytes], xadd: bool) -> Result<AddTrimArgs, CommandError> {
    let mut strategy: Option<TrimStrategy> = None;
    let mut approx = false;
    let mut limit: Option<i64> = None;
    let mut no_create = false;
    let mut id = IdSpec::Auto;
    let mut i = 2;
    while i < args.len() {
        let more = args.len() - 1 - i;
        let opt = &args[i];
        if xadd && opt.as_ref() == b"*" {
            break;
        } else if (is(opt, "MAXLEN") || is(opt, "MINID")) && more > 0 {
            if strategy.is_some() {
                return Err(CommandError::err(
                    "syntax error, MAXLEN and MINID options at the same time are not compatible",
                ));
            }
            approx = false;
            let next = &args[i + 1];
            if more >= 2 && (next.as_ref() == b"~" || next.as_ref() == b"=") {
                approx = next.as_ref() == b"~";
                i += 1;
            }
            let value = &args[i + 1];
            strategy = Some(if is(opt, "MAXLEN") {
                let max = int_arg(value)?;
                if max < 0 {
                    return Err(CommandError::err("The MAXLEN argument must be >= 0."));
                }
                TrimStrategy::MaxLen(max as u64)
            } else {
                TrimStrategy::MinId(strict_id(value)?)
            });
            i += 2;
            continue;
        } else if is(opt, "LIMIT") && more > 0 {
            let n = int_arg(&args[i + 1])?;
            if n < 0 {
                return Err(CommandError::err("The LIMIT argument must be >= 0."));
            }
            limit = Some(n);
            i += 2;
            continue;
        } else if xadd && is(opt, "NOMKSTREAM") {
            no_create = true;
        } else if xadd {
            let (ms, seq) = parse_id_full(opt, 0, true, true)?;
            id = match seq {
                Some(seq) => IdSpec::Explicit(StreamId::new(ms, seq)),
                None => IdSpec::AutoSeq(ms),
            };
            break;
        } else {
            return Err(CommandError::Syntax);
        }
        i += 1;
    }
    if limit.is_some_and(|n| n != 0) && strategy.is_none() {
        return Err(CommandError::err(
            "syntax error, LIMIT cannot be used without specifying a trimming strategy",
        ));
    }
    if !xadd && strategy.is_none() {
        return Err(CommandError::err(
            "syntax error, XTRIM must be called with a trimming strategy",
        ));
    }
    if limit.is_some() && !approx {
        return Err(CommandError::err(
            "syntax error, LIMIT cannot be used without the special ~ option",
        ));
    }
    let limit = match limit {
        Some(n) => n as u64,
        None if approx => 10_000,
        None => 0,
    };
    Ok(AddTrimArgs {
        trim: strategy.map(|strategy| Trim {
            strategy,
            approx,
            limit,
        }),
        no_create,
        id,
        next: i,
    })
}

fn xadd(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    let parsed = add_trim_args(args, true)?;
    let fields = &args[(parsed.next + 1).min(args.len())..];
    if fields.is_empty() || !fields.len().is_multiple_of(2) {
        return Err(CommandError::WrongArity("xadd".into()));
    }
    let fields: Vec<&[u8]> = fields.iter().map(|f| f.as_ref()).collect();
    let options = XAddOptions {
        no_create: parsed.no_create,
        id: parsed.id,
        trim: parsed.trim,
    };
    let id = ctx.server.db.xadd(&args[1], &fields, &options)?;
    Ok(id.map_or(Frame::Null, id_frame))
}

fn xlen(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    Ok(Frame::Integer(ctx.server.db.xlen(&args[1])? as i64))
}

fn range(ctx: &mut Context<'_>, args: &[Bytes], reverse: bool) -> CmdResult {
    let (start_arg, end_arg) = if reverse {
        (&args[3], &args[2])
    } else {
        (&args[2], &args[3])
    };
    let (mut start, start_ex) = interval_id(start_arg, 0)?;
    if start_ex {
        start = start
            .next()
            .ok_or_else(|| CommandError::err("invalid start ID for the interval"))?;
    }
    let (mut end, end_ex) = interval_id(end_arg, u64::MAX)?;
    if end_ex {
        end = end
            .prev()
            .ok_or_else(|| CommandError::err("invalid end ID for the interval"))?;
    }
    let mut count = None;
    let mut i = 4;
    while i < args.len() {
        if is(&args[i], "COUNT") && i + 1 < args.len() {
            count = Some(int_arg(&args[i + 1])?.max(0) as usize);
            i += 2;
        } else {
            return Err(CommandError::Syntax);
        }
    }
    if ctx.server.db.stream_last_id(&args[1])?.is_none() {
        return Ok(Frame::Array(Vec::new()));
    }
    if count == Some(0) {
        return Ok(Frame::NullArray);
    }
    let entries = ctx.server.db.xrange(&args[1], start, end, count, reverse)?;
    Ok(entries_frame(entries))
}

fn xrange(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    range(ctx, args, false)
}

fn xrevrange(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    range(ctx, args, true)
}

fn xdel(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    if ctx.server.db.stream_last_id(&args[1])?.is_none() {
        return Ok(Frame::Integer(0));
    }
    let ids = args[2..]
        .iter()
        .map(|a| strict_id(a))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Frame::Integer(ctx.server.db.xdel(&args[1], &ids)? as i64))
}

fn xtrim(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    let parsed = add_trim_args(args, false)?;
    let Some(trim) = parsed.trim else {
        return Err(CommandError::Syntax);
    };
    Ok(Frame::Integer(ctx.server.db.xtrim(&args[1], &trim)? as i64))
}

/// Where XREAD reads a stream from.
#[derive(Clone, Copy)]
enum ReadFrom {
    /// Entries with a greater ID.
    After(StreamId),
    /// `+`: the last entry.
    Last,
}

/// The parsed `[GROUP g c] [COUNT n] [BLOCK ms] [NOACK] STREAMS key... id...` of
/// XREAD and XREADGROUP (Redis parses both with one function, in this order).
pub(super) struct XReadArgs {
    pub count: Option<usize>,
    pub block: Option<Option<std::time::Duration>>,
    pub streams_at: usize,
    pub streams: usize,
    /// XREADGROUP: the group and the consumer.
    pub group: Option<(Bytes, Bytes)>,
    pub noack: bool,
}

pub(super) fn xread_args(args: &[Bytes], xreadgroup: bool) -> Result<XReadArgs, CommandError> {
    let mut parsed = XReadArgs {
        count: None,
        block: None,
        streams_at: 0,
        streams: 0,
        group: None,
        noack: false,
    };
    let mut i = 1;
    while i < args.len() {
        let more = args.len() - 1 - i;
        let opt = &args[i];
        if is(opt, "GROUP") && more >= 2 {
            if !xreadgroup {
                return Err(CommandError::err(
                    "The GROUP option is only supported by XREADGROUP. You called XREAD instead.",
                ));
            }
            parsed.group = Some((args[i + 1].clone(), args[i + 2].clone()));
            i += 3;
        } else if is(opt, "NOACK") {
            if !xreadgroup {
                return Err(CommandError::err(
                    "The NOACK option is only supported by XREADGROUP. You called XREAD instead.",
                ));
            }
            parsed.noack = true;
            i += 1;
        } else if is(opt, "BLOCK") && more > 0 {
            parsed.block = Some(timeout_millis(&args[i + 1])?);
            i += 2;
        } else if is(opt, "COUNT") && more > 0 {
            let n = int_arg(&args[i + 1])?.max(0) as usize;
            parsed.count = (n > 0).then_some(n);
            i += 2;
        } else if is(opt, "STREAMS") && more > 0 {
            if !more.is_multiple_of(2) {
                return Err(CommandError::err(
                    "Unbalanced XREAD list of streams: for each stream key an ID or '$' must be specified.",
                ));
            }
            parsed.streams_at = i + 1;
            parsed.streams = more / 2;
            if xreadgroup && parsed.group.is_none() {
                return Err(CommandError::err("Missing GROUP option for XREADGROUP"));
            }
            return Ok(parsed);
        } else {
            return Err(CommandError::Syntax);
        }
    }
    Err(CommandError::Syntax)
}

/// XREAD's and XREADGROUP's key positions: the first half of the arguments after
/// STREAMS.
pub(super) fn xread_keys(args: &[Bytes]) -> Vec<usize> {
    let mut i = 1;
    while i < args.len() {
        let arg = &args[i];
        if is(arg, "BLOCK") || is(arg, "COUNT") {
            i += 2;
        } else if is(arg, "GROUP") {
            i += 3;
        } else if is(arg, "NOACK") {
            i += 1;
        } else if is(arg, "STREAMS") {
            let rest = args.len() - i - 1;
            if rest == 0 || !rest.is_multiple_of(2) {
                return Vec::new();
            }
            return (i + 1..i + 1 + rest / 2).collect();
        } else {
            break;
        }
    }
    Vec::new()
}

fn xread(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    let parsed = xread_args(args, false)?;
    let keys = &args[parsed.streams_at..parsed.streams_at + parsed.streams];
    let id_args = &args[parsed.streams_at + parsed.streams..];
    let db = &ctx.server.db;
    // Resolve the IDs first (`$` = the stream's last ID now), as Redis does; a wait
    // then continues from these, so nothing written meanwhile is missed.
    let mut from = Vec::with_capacity(keys.len());
    let mut resolved = Vec::with_capacity(keys.len());
    for (key, id) in keys.iter().zip(id_args) {
        let last = db.stream_last_id(key)?.unwrap_or(StreamId::MIN);
        from.push(match id.as_ref() {
            b"$" => ReadFrom::After(last),
            b"+" => ReadFrom::Last,
            b">" => return Err(CommandError::err(
                "The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option.",
            )),
            other => ReadFrom::After(strict_id(other)?),
        });
        resolved.push(last);
    }
    let mut served = Vec::new();
    for (key, from) in keys.iter().zip(&from) {
        let entries = match *from {
            ReadFrom::Last => db.xrange(key, StreamId::MIN, StreamId::MAX, Some(1), true)?,
            ReadFrom::After(id) => match id.next() {
                Some(start) => db.xrange(key, start, StreamId::MAX, parsed.count, false)?,
                None => Vec::new(),
            },
        };
        if !entries.is_empty() {
            served.push((key.clone(), entries));
        }
    }
    if !served.is_empty() {
        if ctx.client.protocol == ProtocolVersion::Resp3 {
            return Ok(Frame::Map(
                served
                    .into_iter()
                    .map(|(key, entries)| (Frame::Bulk(key), entries_frame(entries)))
                    .collect(),
            ));
        }
        return Ok(Frame::Array(
            served
                .into_iter()
                .map(|(key, entries)| Frame::Array(vec![Frame::Bulk(key), entries_frame(entries)]))
                .collect(),
        ));
    }
    let Some(timeout) = parsed.block else {
        return Ok(Frame::NullArray);
    };
    // Wait for entries after what existed: `$` and `+` become the last IDs resolved.
    let mut retry = args.to_vec();
    for (i, last) in resolved.iter().enumerate() {
        let at = parsed.streams_at + parsed.streams + i;
        if matches!(retry[at].as_ref(), b"$" | b"+") {
            retry[at] = Bytes::from(last.to_string());
        }
    }
    ctx.block(keys.to_vec(), timeout, Frame::NullArray, Some(retry))
}

/// The NOGROUP text of XGROUP and XINFO CONSUMERS.
pub(super) fn no_group_for_key(key: &[u8], group: &[u8]) -> CommandError {
    CommandError::Prefixed(
        "NOGROUP",
        format!(
            "No such consumer group '{}' for key name '{}'",
            super::text(group),
            super::text(key)
        ),
    )
}

fn no_such_key() -> CommandError {
    ferrokv_types::TypeError::NoSuchKey.into()
}

/// Redis 7.0's XINFO HELP text.
const XINFO_HELP: &[&str] = &[
    "XINFO <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CONSUMERS <key> <groupname>",
    "    Show consumers of <groupname>.",
    "GROUPS <key>",
    "    Show the stream consumer groups.",
    "STREAM <key> [FULL [COUNT <count>]",
    "    Show information about the stream.",
    "HELP",
    "    Prints this help.",
];

fn map_frame(fields: Vec<(&str, Frame)>) -> Frame {
    Frame::Map(
        fields
            .into_iter()
            .map(|(name, value)| (Frame::bulk_from_str(name), value))
            .collect(),
    )
}

fn optional_count(value: Option<u64>) -> Frame {
    value.map_or(Frame::Null, |n| Frame::Integer(n as i64))
}

fn xinfo(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    let sub = &args[1];
    if is(sub, "HELP") {
        // XINFO HELP is a subcommand of arity 2 in Redis.
        if args.len() != 2 {
            return Err(CommandError::WrongArity("xinfo|help".to_string()));
        }
        return Ok(Frame::Array(
            XINFO_HELP.iter().map(|line| Frame::simple(line)).collect(),
        ));
    }
    let arity_error = |name: &str| CommandError::WrongArity(format!("xinfo|{name}"));
    if is(sub, "GROUPS") {
        if args.len() != 3 {
            return Err(arity_error("groups"));
        }
        let Some(groups) = ctx.server.db.xinfo_groups(&args[2])? else {
            return Err(no_such_key());
        };
        return Ok(Frame::Array(
            groups
                .into_iter()
                .map(|g| {
                    map_frame(vec![
                        ("name", Frame::bulk(g.name)),
                        ("consumers", Frame::Integer(g.consumers as i64)),
                        ("pending", Frame::Integer(g.pending as i64)),
                        ("last-delivered-id", id_frame(g.last_id)),
                        ("entries-read", optional_count(g.entries_read)),
                        ("lag", optional_count(g.lag)),
                    ])
                })
                .collect(),
        ));
    }
    if is(sub, "CONSUMERS") {
        if args.len() != 4 {
            return Err(arity_error("consumers"));
        }
        let (key, group) = (&args[2], &args[3]);
        if ctx.server.db.stream_last_id(key)?.is_none() {
            return Err(no_such_key());
        }
        let consumers = ctx
            .server
            .db
            .xinfo_consumers(key, group)?
            .map_err(|_| no_group_for_key(key, group))?;
        let now = ferrokv_types::now_ms();
        return Ok(Frame::Array(
            consumers
                .into_iter()
                .map(|c| {
                    map_frame(vec![
                        ("name", Frame::bulk(c.name)),
                        ("pending", Frame::Integer(c.pending as i64)),
                        ("idle", Frame::Integer(now.saturating_sub(c.seen_ms) as i64)),
                    ])
                })
                .collect(),
        ));
    }
    if !is(sub, "STREAM") {
        return Err(CommandError::UnknownSubcommand {
            command: "XINFO",
            sub: super::text(sub),
        });
    }
    if args.len() < 3 {
        return Err(arity_error("stream"));
    }
    // The key is checked before the options, as in Redis.
    if ctx.server.db.stream_last_id(&args[2])?.is_none() {
        return Err(no_such_key());
    }
    let syntax = || {
        CommandError::err(format!(
            "unknown subcommand or wrong number of arguments for '{}'. Try XINFO HELP.",
            super::text(sub)
        ))
    };
    let full = match &args[3..] {
        [] => None,
        [f] if is(f, "FULL") => Some(10),
        [f, c, n] if is(f, "FULL") && is(c, "COUNT") => Some(int_arg(n)?.max(0) as usize),
        _ => return Err(syntax()),
    };
    let Some(info) = ctx.server.db.xinfo_stream(&args[2], full)? else {
        return Err(no_such_key());
    };
    let radix_keys = info.length.div_ceil(100) as i64;
    let mut fields = vec![
        ("length", Frame::Integer(info.length as i64)),
        ("radix-tree-keys", Frame::Integer(radix_keys)),
        ("radix-tree-nodes", Frame::Integer(radix_keys + 1)),
        ("last-generated-id", id_frame(info.last_id)),
        ("max-deleted-entry-id", id_frame(info.max_deleted_id)),
        ("entries-added", Frame::Integer(info.entries_added as i64)),
        ("recorded-first-entry-id", id_frame(info.first_id)),
    ];
    if full.is_some() {
        fields.push(("entries", entries_frame(info.entries)));
        let groups = info
            .group_details
            .into_iter()
            .map(|g| {
                let pel = g
                    .pending
                    .into_iter()
                    .map(|p| {
                        Frame::Array(vec![
                            id_frame(p.id),
                            Frame::bulk(p.consumer),
                            Frame::Integer(p.delivery_ms as i64),
                            Frame::Integer(p.deliveries as i64),
                        ])
                    })
                    .collect();
                let consumers = g
                    .consumers
                    .into_iter()
                    .map(|(c, own)| {
                        let own = own
                            .into_iter()
                            .map(|p| {
                                Frame::Array(vec![
                                    id_frame(p.id),
                                    Frame::Integer(p.delivery_ms as i64),
                                    Frame::Integer(p.deliveries as i64),
                                ])
                            })
                            .collect();
                        map_frame(vec![
                            ("name", Frame::bulk(c.name)),
                            ("seen-time", Frame::Integer(c.seen_ms as i64)),
                            ("pel-count", Frame::Integer(c.pending as i64)),
                            ("pending", Frame::Array(own)),
                        ])
                    })
                    .collect();
                map_frame(vec![
                    ("name", Frame::bulk(g.info.name)),
                    ("last-delivered-id", id_frame(g.info.last_id)),
                    ("entries-read", optional_count(g.info.entries_read)),
                    ("lag", optional_count(g.info.lag)),
                    ("pel-count", Frame::Integer(g.info.pending as i64)),
                    ("pending", Frame::Array(pel)),
                    ("consumers", Frame::Array(consumers)),
                ])
            })
            .collect();
        fields.push(("groups", Frame::Array(groups)));
    } else {
        fields.push(("groups", Frame::Integer(info.groups as i64)));
        fields.push(("first-entry", info.first.map_or(Frame::Null, entry_frame)));
        fields.push(("last-entry", info.last.map_or(Frame::Null, entry_frame)));
    }
    Ok(map_frame(fields))
}

fn xsetid(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    let last_id = strict_id(&args[2])?;
    let mut entries_added = None;
    let mut max_deleted = None;
    let mut i = 3;
    while i < args.len() {
        let more = i + 1 < args.len();
        if is(&args[i], "ENTRIESADDED") && more {
            let n = int_arg(&args[i + 1])?;
            if n < 0 {
                return Err(CommandError::err("entries_added must be positive"));
            }
            entries_added = Some(n as u64);
        } else if is(&args[i], "MAXDELETEDID") && more {
            let id = strict_id(&args[i + 1])?;
            if last_id < id {
                return Err(CommandError::err(
                    "The ID specified in XSETID is smaller than the provided max_deleted_entry_id",
                ));
            }
            max_deleted = Some(id);
        } else {
            return Err(CommandError::Syntax);
        }
        i += 2;
    }
    ctx.server
        .db
        .xsetid(&args[1], last_id, entries_added, max_deleted)?;
    Ok(Frame::ok())
}

const W: u32 = WRITE;
const R: u32 = READONLY;

#[rustfmt::skip]
pub const COMMANDS: &[CommandSpec] = &[
    cmd("xadd", -5, W | FAST, 1, 1, 1, xadd, "stream", "Appends an entry to a stream."),
    cmd("xlen", 2, R | FAST, 1, 1, 1, xlen, "stream", "Returns the number of entries of a stream."),
    cmd("xrange", -4, R, 1, 1, 1, xrange, "stream", "Returns the entries of an ID range."),
    cmd("xrevrange", -4, R, 1, 1, 1, xrevrange, "stream", "Returns the entries of an ID range, newest first."),
    cmd("xdel", -3, W | FAST, 1, 1, 1, xdel, "stream", "Deletes entries by ID."),
    cmd("xtrim", -4, W, 1, 1, 1, xtrim, "stream", "Removes the oldest entries."),
    CommandSpec {
        keys: Some(xread_keys),
        flags: R | BLOCKING | MOVABLE_KEYS,
        ..cmd("xread", -4, 0, 0, 0, 0, xread, "stream", "Reads entries from streams, optionally waiting.")
    },
    cmd("xinfo", -2, R, 2, 2, 1, xinfo, "stream", "Returns information about a stream."),
    cmd("xsetid", -3, W | FAST, 1, 1, 1, xsetid, "stream", "Sets the last ID and counters of a stream."),
];
