//! Kvrocks' sorted-integer commands (src/commands/cmd_sortedint.cc): SIADD, SIREM,
//! SICARD, SIEXISTS, SIRANGE, SIREVRANGE, SIRANGEBYVALUE, SIREVRANGEBYVALUE, with
//! Kvrocks' arguments, replies (integers as bulk strings in ranges) and error texts.

use bytes::Bytes;
use ferrokv_protocol::Frame;
use ferrokv_types::numbers::parse_i64;
use ferrokv_types::sortedint::IntRange;

use super::{bulk_array, is};
use crate::command::{cmd, flags::*, CommandSpec};
use crate::context::Context;
use crate::error::{CmdResult, CommandError};

/// An unsigned 64-bit integer argument, the whole range: decimal digits only, no sign
/// and no leading zero (stricter than Kvrocks' `strtoull`, which takes `-1` as
/// 2^64-1 and `+5` or `007` as numbers).
fn full_u64(arg: &[u8]) -> Option<u64> {
    if arg.is_empty() || !arg.iter().all(u8::is_ascii_digit) || (arg.len() > 1 && arg[0] == b'0') {
        return None;
    }
    std::str::from_utf8(arg).ok()?.parse().ok()
}

fn id_arg(arg: &[u8]) -> Result<u64, CommandError> {
    full_u64(arg).ok_or(CommandError::NotInteger)
}

fn ids(args: &[Bytes]) -> Result<Vec<u64>, CommandError> {
    args.iter().map(|a| id_arg(a)).collect()
}

fn id_array(ids: Vec<u64>) -> Frame {
    bulk_array(ids.into_iter().map(|id| id.to_string().into_bytes()))
}

fn siadd(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    let ids = ids(&args[2..])?;
    let added = ctx.server.db.siadd(&args[1], &ids)?;
    if added == 0 {
        // Nothing added, nothing modified: a transaction watching the key goes on.
        ctx.touches = Some(Vec::new());
    }
    Ok(Frame::Integer(added as i64))
}

fn sirem(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    let ids = ids(&args[2..])?;
    Ok(Frame::Integer(ctx.server.db.sirem(&args[1], &ids)? as i64))
}

fn sicard(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    Ok(Frame::Integer(ctx.server.db.sicard(&args[1])? as i64))
}

fn siexists(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    let ids = ids(&args[2..])?;
    let found = ctx.server.db.siexists(&args[1], &ids)?;
    Ok(Frame::Array(
        found
            .into_iter()
            .map(|f| Frame::Integer(f as i64))
            .collect(),
    ))
}

/// SIRANGE key offset limit [CURSOR id]: a negative limit (`0 -1`) takes all, as
/// Kvrocks' unsigned parse of `-1` does.
fn range(ctx: &mut Context<'_>, args: &[Bytes], reverse: bool) -> CmdResult {
    let offset = id_arg(&args[2])?;
    let limit = match parse_i64(&args[3]) {
        Some(n) if n < 0 => 0,
        _ => id_arg(&args[3])?,
    };
    let cursor = match args.len() {
        4 => 0,
        6 if is(&args[4], "CURSOR") => id_arg(&args[5])?,
        _ => return Err(CommandError::Syntax),
    };
    let ids = ctx
        .server
        .db
        .sirange(&args[1], cursor, offset, limit, reverse)?;
    Ok(id_array(ids))
}

fn sirange(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    range(ctx, args, false)
}

fn sirevrange(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    range(ctx, args, true)
}

/// One bound of SIRANGEBYVALUE: `-inf`/`+inf`, an integer, or `(` and an integer.
fn bound(arg: &[u8], infinity: u64, which: &str) -> Result<(u64, bool), CommandError> {
    if arg == b"-inf" && infinity == 0 || arg == b"+inf" && infinity == u64::MAX {
        return Ok((infinity, false));
    }
    let (digits, exclusive) = match arg.strip_prefix(b"(") {
        Some(rest) => (rest, true),
        None => (arg, false),
    };
    full_u64(digits)
        .map(|id| (id, exclusive))
        .ok_or_else(|| CommandError::err(format!("the {which} isn't integer")))
}

/// SIRANGEBYVALUE key min max [LIMIT offset count]; the reverse form takes max first.
fn range_by_value(ctx: &mut Context<'_>, args: &[Bytes], reverse: bool) -> CmdResult {
    let (min, max) = if reverse {
        (&args[3], &args[2])
    } else {
        (&args[2], &args[3])
    };
    if min.as_ref() == b"+inf" || max.as_ref() == b"-inf" {
        return Err(CommandError::err("min > max"));
    }
    let (min, min_exclusive) = bound(min, 0, "min")?;
    let (max, max_exclusive) = bound(max, u64::MAX, "max")?;
    let (offset, count) = match args.len() {
        4 => (-1, -1),
        7 if is(&args[4], "LIMIT") => {
            let int = |a: &[u8]| parse_i64(a).ok_or(CommandError::NotInteger);
            (int(&args[5])?, int(&args[6])?)
        }
        _ => return Err(CommandError::Syntax),
    };
    let range = IntRange {
        min,
        min_exclusive,
        max,
        max_exclusive,
        offset,
        count,
    };
    Ok(id_array(
        ctx.server.db.sirange_by_value(&args[1], range, reverse)?,
    ))
}

fn sirangebyvalue(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    range_by_value(ctx, args, false)
}

fn sirevrangebyvalue(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    range_by_value(ctx, args, true)
}

#[rustfmt::skip]
pub const COMMANDS: &[CommandSpec] = &[
    cmd("siadd", -3, WRITE, 1, 1, 1, siadd, "sortedint", "Adds integers to a sorted-integer set (Kvrocks)."),
    cmd("sirem", -3, WRITE, 1, 1, 1, sirem, "sortedint", "Removes integers from a sorted-integer set (Kvrocks)."),
    cmd("sicard", 2, READONLY | FAST, 1, 1, 1, sicard, "sortedint", "Counts the integers of a sorted-integer set (Kvrocks)."),
    cmd("siexists", -3, READONLY, 1, 1, 1, siexists, "sortedint", "Tells which integers a sorted-integer set holds (Kvrocks)."),
    cmd("sirange", -4, READONLY, 1, 1, 1, sirange, "sortedint", "Returns integers by position, from a cursor (Kvrocks)."),
    cmd("sirevrange", -4, READONLY, 1, 1, 1, sirevrange, "sortedint", "Returns integers by position, highest first (Kvrocks)."),
    cmd("sirangebyvalue", -4, READONLY, 1, 1, 1, sirangebyvalue, "sortedint", "Returns integers in a value range (Kvrocks)."),
    cmd("sirevrangebyvalue", -4, READONLY, 1, 1, 1, sirevrangebyvalue, "sortedint", "Returns integers in a value range, highest first (Kvrocks)."),
];
