//! Hash commands.

use bytes::Bytes;
use ferrokv_protocol::Frame;

use super::{bulk_or_null, float_arg, int_arg, is, pairs, scan_args};
use crate::command::{cmd, flags::*, CommandSpec};
use crate::context::Context;
use crate::error::{CmdResult, CommandError};
use ferrokv_types::{LexBound, LexRange};

fn hset(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    let pairs = pairs(&args[2..], "hset")?;
    Ok(Frame::Integer(ctx.server.db.hset(&args[1], &pairs)? as i64))
}

fn hmset(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    let pairs = pairs(&args[2..], "hmset")?;
    ctx.server.db.hset(&args[1], &pairs)?;
    Ok(Frame::ok())
}

fn hsetnx(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    Ok(Frame::Integer(
        ctx.server.db.hsetnx(&args[1], &args[2], &args[3])? as i64,
    ))
}

fn hget(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    Ok(bulk_or_null(ctx.server.db.hget(&args[1], &args[2])?))
}

fn hmget(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    let fields: Vec<&[u8]> = args[2..].iter().map(|f| f.as_ref()).collect();
    let values = ctx.server.db.hmget(&args[1], &fields)?;
    Ok(Frame::Array(values.into_iter().map(bulk_or_null).collect()))
}

fn hdel(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    let fields: Vec<&[u8]> = args[2..].iter().map(|f| f.as_ref()).collect();
    Ok(Frame::Integer(ctx.server.db.hdel(&args[1], &fields)? as i64))
}

fn hlen(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    Ok(Frame::Integer(ctx.server.db.hlen(&args[1])? as i64))
}

fn hexists(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    Ok(Frame::Integer(
        ctx.server.db.hexists(&args[1], &args[2])? as i64
    ))
}

fn hstrlen(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    Ok(Frame::Integer(
        ctx.server.db.hstrlen(&args[1], &args[2])? as i64
    ))
}

fn hgetall(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    let pairs = ctx.server.db.hgetall(&args[1])?;
    Ok(Frame::Map(
        pairs
            .into_iter()
            .map(|(f, v)| (Frame::bulk(f), Frame::bulk(v)))
            .collect(),
    ))
}

/// `HRANGEBYLEX key min max [REV] [LIMIT offset count]`, Kvrocks' extension
/// (`src/commands/cmd_hash.cc`): with REV the two bounds are read as `max min`, as
/// ZREVRANGEBYLEX takes them. Bounds as Kvrocks' `ParseRangeLexSpec`
/// (`src/common/range_spec.cc`): `-`, `+`, `[field`, `(field`, with its error texts.
/// Replies a flat array of field, value, field, value... in RESP2 and RESP3 alike.
fn hrangebylex(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    let (mut rev, mut offset, mut count) = (false, 0, -1);
    let mut i = 4;
    while i < args.len() {
        if is(&args[i], "REV") {
            rev = true;
            i += 1;
        } else if is(&args[i], "LIMIT") {
            offset = int_arg(super::option_value(args, i + 1)?)?;
            count = int_arg(super::option_value(args, i + 2)?)?;
            i += 3;
        } else {
            return Err(CommandError::Syntax);
        }
    }
    let (min, max) = if rev {
        (&args[3], &args[2])
    } else {
        (&args[2], &args[3])
    };
    if min.as_ref() == b"+" || max.as_ref() == b"-" {
        return Err(CommandError::err("min > max"));
    }
    let bound = |text: &[u8], open: LexBound, which: &str| match text {
        b"-" | b"+" => Ok(open),
        [b'[', rest @ ..] => Ok(LexBound::Inclusive(rest.to_vec())),
        [b'(', rest @ ..] => Ok(LexBound::Exclusive(rest.to_vec())),
        _ => Err(CommandError::err(format!("the {which} is illegal"))),
    };
    let range = LexRange {
        min: bound(min, LexBound::Min, "min")?,
        max: bound(max, LexBound::Max, "max")?,
    };
    let pairs = ctx
        .server
        .db
        .hrangebylex(&args[1], &range, rev, offset, count)?;
    Ok(super::bulk_array(
        pairs.into_iter().flat_map(|(f, v)| [f, v]),
    ))
}

fn hkeys(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    let pairs = ctx.server.db.hgetall(&args[1])?;
    Ok(super::bulk_array(pairs.into_iter().map(|(f, _)| f)))
}

fn hvals(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    let pairs = ctx.server.db.hgetall(&args[1])?;
    Ok(super::bulk_array(pairs.into_iter().map(|(_, v)| v)))
}

fn hincrby(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    let delta = int_arg(&args[3])?;
    Ok(Frame::Integer(
        ctx.server.db.hincrby(&args[1], &args[2], delta)?,
    ))
}

fn hincrbyfloat(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    let delta = float_arg(&args[3])?;
    // Redis refuses a non-finite increment itself before looking at the field
    // (t_hash.c); a finite one that overflows is `NanOrInfinity`, from the addition.
    if !delta.is_finite() {
        return Err(CommandError::err("value is NaN or Infinity"));
    }
    Ok(Frame::bulk(
        ctx.server.db.hincrbyfloat(&args[1], &args[2], delta)?,
    ))
}

fn hscan(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    let scan = scan_args(ctx, &args[2..], false)?;
    let (pairs, next) =
        ctx.server
            .db
            .hscan(&args[1], &scan.start, scan.pattern.as_deref(), scan.count)?;
    let items = pairs
        .into_iter()
        .flat_map(|(f, v)| [Frame::bulk(f), Frame::bulk(v)])
        .collect();
    Ok(super::scan_reply(ctx, next, Frame::Array(items)))
}

fn hrandfield(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    let Some(count_arg) = args.get(2) else {
        let picked = ctx.server.db.hrandfield(&args[1], 1)?;
        return Ok(picked
            .into_iter()
            .next()
            .map_or(Frame::Null, |(f, _)| Frame::bulk(f)));
    };
    let count = super::count_arg(count_arg)?;
    let with_values = match args.get(3) {
        None => false,
        Some(a) if is(a, "WITHVALUES") && args.len() == 4 => true,
        Some(_) => return Err(CommandError::Syntax),
    };
    if count.unsigned_abs() > (i64::MAX as u64) / 2 && with_values {
        return Err(CommandError::err("value is out of range"));
    }
    let picked = ctx.server.db.hrandfield(&args[1], count)?;
    if with_values && ctx.client.protocol == ferrokv_protocol::ProtocolVersion::Resp3 {
        return Ok(Frame::Array(
            picked
                .into_iter()
                .map(|(f, v)| Frame::Array(vec![Frame::bulk(f), Frame::bulk(v)]))
                .collect(),
        ));
    }
    Ok(Frame::Array(
        picked
            .into_iter()
            .flat_map(|(f, v)| {
                let mut out = vec![Frame::bulk(f)];
                if with_values {
                    out.push(Frame::bulk(v));
                }
                out
            })
            .collect(),
    ))
}

const W: u32 = WRITE;
const R: u32 = READONLY;

#[rustfmt::skip]
pub const COMMANDS: &[CommandSpec] = &[
    cmd("hset", -4, W | FAST, 1, 1, 1, hset, "hash", "Sets fields of a hash."),
    cmd("hmset", -4, W | FAST, 1, 1, 1, hmset, "hash", "Sets fields of a hash (old form of HSET)."),
    cmd("hsetnx", 4, W | FAST, 1, 1, 1, hsetnx, "hash", "Sets a field only if it does not exist."),
    cmd("hget", 3, R | FAST, 1, 1, 1, hget, "hash", "Returns the value of a field."),
    cmd("hmget", -3, R | FAST, 1, 1, 1, hmget, "hash", "Returns the values of several fields."),
    cmd("hdel", -3, W | FAST, 1, 1, 1, hdel, "hash", "Deletes fields."),
    cmd("hlen", 2, R | FAST, 1, 1, 1, hlen, "hash", "Returns the number of fields."),
    cmd("hexists", 3, R | FAST, 1, 1, 1, hexists, "hash", "Tells whether a field exists."),
    cmd("hstrlen", 3, R | FAST, 1, 1, 1, hstrlen, "hash", "Returns the length of a field's value."),
    cmd("hgetall", 2, R, 1, 1, 1, hgetall, "hash", "Returns all fields and values."),
    cmd("hrangebylex", -4, R, 1, 1, 1, hrangebylex, "hash", "Returns the fields and values in a lex range of fields (Kvrocks)."),
    cmd("hkeys", 2, R, 1, 1, 1, hkeys, "hash", "Returns all fields."),
    cmd("hvals", 2, R, 1, 1, 1, hvals, "hash", "Returns all values."),
    cmd("hincrby", 4, W | FAST, 1, 1, 1, hincrby, "hash", "Increments an integer field."),
    cmd("hincrbyfloat", 4, W | FAST, 1, 1, 1, hincrbyfloat, "hash", "Increments a float field."),
    cmd("hscan", -3, R, 1, 1, 1, hscan, "hash", "Iterates over fields and values."),
    cmd("hrandfield", -2, R, 1, 1, 1, hrandfield, "hash", "Returns random fields."),
];
