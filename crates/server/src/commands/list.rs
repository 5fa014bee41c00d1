//! List commands, including the blocking pops.

use bytes::Bytes;
use ferrokv_protocol::Frame;
use ferrokv_types::End;

use super::{bulk_array, bulk_or_null, int_arg, is, key_of_type, text};
use crate::blocking::timeout_seconds;
use crate::command::{cmd, flags::*, CommandSpec};
use crate::context::Context;
use crate::error::{CmdResult, CommandError};
use ferrokv_types::DataType;

fn refs(args: &[Bytes]) -> Vec<&[u8]> {
    args.iter().map(|a| a.as_ref()).collect()
}

fn end_arg(arg: &[u8]) -> Result<End, CommandError> {
    if is(arg, "LEFT") {
        Ok(End::Left)
    } else if is(arg, "RIGHT") {
        Ok(End::Right)
    } else {
        Err(CommandError::Syntax)
    }
}

fn push(ctx: &mut Context<'_>, args: &[Bytes], end: End, only_if_exists: bool) -> CmdResult {
    let len = ctx
        .server
        .db
        .push(&args[1], &refs(&args[2..]), end, only_if_exists)?;
    Ok(Frame::Integer(len as i64))
}

fn lpush(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    push(ctx, args, End::Left, false)
}

fn rpush(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    push(ctx, args, End::Right, false)
}

fn lpushx(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    push(ctx, args, End::Left, true)
}

fn rpushx(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    push(ctx, args, End::Right, true)
}

/// Redis' `getPositiveLongFromObjectOrReply` with its message: a non-integer gets the
/// same text as a negative one.
fn positive_count(arg: &[u8]) -> Result<u64, CommandError> {
    ferrokv_types::numbers::parse_u64(arg)
        .ok_or_else(|| CommandError::err("value is out of range, must be positive"))
}

fn pop(ctx: &mut Context<'_>, args: &[Bytes], end: End) -> CmdResult {
    // Redis checks the argument count before the count's value.
    if args.len() > 3 {
        return Err(CommandError::WrongArity(
            text(&args[0]).to_ascii_lowercase(),
        ));
    }
    match args.get(2) {
        None => {
            let popped = ctx.server.db.pop(&args[1], end, 1)?;
            Ok(bulk_or_null(popped.and_then(|p| p.into_iter().next())))
        }
        Some(count) => {
            let count = positive_count(count)?;
            Ok(match ctx.server.db.pop(&args[1], end, count)? {
                None => Frame::NullArray,
                Some(values) => bulk_array(values),
            })
        }
    }
}

fn lpop(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    pop(ctx, args, End::Left)
}

fn rpop(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    pop(ctx, args, End::Right)
}

fn llen(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    Ok(Frame::Integer(ctx.server.db.llen(&args[1])? as i64))
}

fn lrange(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    let (start, stop) = (int_arg(&args[2])?, int_arg(&args[3])?);
    // The elements side by side in one buffer, each reply a slice of it: one
    // allocation per reply rather than one per element.
    let (mut data, mut ends) = (Vec::new(), Vec::new());
    ctx.server.db.lrange_with(&args[1], start, stop, |value| {
        data.extend_from_slice(value);
        ends.push(data.len());
    })?;
    let data = Bytes::from(data);
    let mut from = 0;
    Ok(Frame::Array(
        ends.into_iter()
            .map(|end| {
                let element = Frame::Bulk(data.slice(from..end));
                from = end;
                element
            })
            .collect(),
    ))
}

fn lindex(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    if !key_of_type(ctx, &args[1], DataType::List)? {
        return Ok(Frame::Null);
    }
    Ok(bulk_or_null(
        ctx.server.db.lindex(&args[1], int_arg(&args[2])?)?,
    ))
}

fn lset(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    // Redis looks the key up (no such key, WRONGTYPE) before reading the index.
    if !key_of_type(ctx, &args[1], DataType::List)? {
        return Err(ferrokv_types::TypeError::NoSuchKey.into());
    }
    ctx.server.db.lset(&args[1], int_arg(&args[2])?, &args[3])?;
    Ok(Frame::ok())
}

fn linsert(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    let before = if is(&args[2], "BEFORE") {
        true
    } else if is(&args[2], "AFTER") {
        false
    } else {
        return Err(CommandError::Syntax);
    };
    Ok(Frame::Integer(
        ctx.server
            .db
            .linsert(&args[1], before, &args[3], &args[4])?,
    ))
}

fn lrem(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    let count = int_arg(&args[2])?;
    Ok(Frame::Integer(
        ctx.server.db.lrem(&args[1], count, &args[3])? as i64,
    ))
}

fn ltrim(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    let (start, stop) = (int_arg(&args[2])?, int_arg(&args[3])?);
    ctx.server.db.ltrim(&args[1], start, stop)?;
    Ok(Frame::ok())
}

fn lpos(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    let mut rank = 1i64;
    let mut count = None;
    let mut maxlen = 0u64;
    let mut i = 3;
    while i < args.len() {
        let value = args.get(i + 1).ok_or(CommandError::Syntax)?;
        match &args[i] {
            a if is(a, "RANK") => {
                let n = super::count_arg(value)?;
                if n == 0 {
                    return Err(CommandError::err("RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list"));
                }
                rank = n;
            }
            a if is(a, "COUNT") => {
                let n = int_arg(value)?;
                count = Some(
                    u64::try_from(n).map_err(|_| CommandError::err("COUNT can't be negative"))?,
                );
            }
            a if is(a, "MAXLEN") => {
                let n = int_arg(value)?;
                maxlen =
                    u64::try_from(n).map_err(|_| CommandError::err("MAXLEN can't be negative"))?;
            }
            _ => return Err(CommandError::Syntax),
        }
        i += 2;
    }
    let found = ctx
        .server
        .db
        .lpos(&args[1], &args[2], rank, count.unwrap_or(1), maxlen)?;
    Ok(match count {
        Some(_) => Frame::Array(
            found
                .into_iter()
                .map(|p| Frame::Integer(p as i64))
                .collect(),
        ),
        None => found
            .first()
            .map_or(Frame::Null, |p| Frame::Integer(*p as i64)),
    })
}

fn lmove(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    let (from, to) = (end_arg(&args[3])?, end_arg(&args[4])?);
    Ok(bulk_or_null(
        ctx.server.db.lmove(&args[1], &args[2], from, to)?,
    ))
}

fn rpoplpush(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    Ok(bulk_or_null(ctx.server.db.lmove(
        &args[1],
        &args[2],
        End::Right,
        End::Left,
    )?))
}

/// BLPOP/BRPOP: the first non-empty key, in argument order, gives `[key, element]`.
fn blocking_pop(ctx: &mut Context<'_>, args: &[Bytes], end: End) -> CmdResult {
    let timeout = timeout_seconds(&args[args.len() - 1])?;
    let keys = &args[1..args.len() - 1];
    for key in keys {
        if let Some(popped) = ctx.server.db.pop(key, end, 1)? {
            if let Some(value) = popped.into_iter().next() {
                return Ok(Frame::Array(vec![
                    Frame::Bulk(key.clone()),
                    Frame::bulk(value),
                ]));
            }
        }
    }
    ctx.block(keys.to_vec(), timeout, Frame::NullArray, None)
}

fn blpop(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    blocking_pop(ctx, args, End::Left)
}

fn brpop(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    blocking_pop(ctx, args, End::Right)
}

fn blocking_move(
    ctx: &mut Context<'_>,
    args: &[Bytes],
    from: End,
    to: End,
    timeout: &[u8],
) -> CmdResult {
    let timeout = timeout_seconds(timeout)?;
    match ctx.server.db.lmove(&args[1], &args[2], from, to)? {
        Some(value) => Ok(Frame::bulk(value)),
        // Redis: a timeout is a null array (`*-1`), but inside MULTI, where nothing
        // blocks, the command answers as LMOVE would, with a null bulk (`$-1`).
        None if ctx.in_exec => Ok(Frame::Null),
        None => ctx.block(vec![args[1].clone()], timeout, Frame::NullArray, None),
    }
}

fn blmove(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    let (from, to) = (end_arg(&args[3])?, end_arg(&args[4])?);
    blocking_move(ctx, args, from, to, &args[5])
}

fn brpoplpush(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    blocking_move(ctx, args, End::Right, End::Left, &args[3])
}

/// A `numkeys` argument as Redis' `getRangeLongFromObjectOrReply(.., 1, LONG_MAX, ..,
/// "numkeys should be greater than 0")` reads it: anything but a positive integer gets
/// that text (LMPOP, BLMPOP, SINTERCARD).
pub(super) fn numkeys_arg(arg: &[u8]) -> Result<usize, CommandError> {
    ferrokv_types::numbers::parse_i64(arg)
        .filter(|&n| n > 0)
        .map(|n| n as usize)
        .ok_or_else(|| CommandError::err("numkeys should be greater than 0"))
}

/// `[B]LMPOP [timeout] numkeys key... LEFT|RIGHT [COUNT n]`, from `at` = numkeys.
fn mpop(ctx: &mut Context<'_>, args: &[Bytes], at: usize, timeout: Option<&[u8]>) -> CmdResult {
    let numkeys = numkeys_arg(&args[at])?;
    let keys = args
        .get(at + 1..at + 1 + numkeys)
        .ok_or(CommandError::Syntax)?;
    let rest = &args[at + 1 + numkeys..];
    let (end, count) = match rest {
        [end] => (end_arg(end)?, 1),
        [end, kw, n] if is(kw, "COUNT") => {
            let end = end_arg(end)?;
            let n = ferrokv_types::numbers::parse_i64(n)
                .filter(|&n| n > 0)
                .ok_or_else(|| CommandError::err("count should be greater than 0"))?;
            (end, n as u64)
        }
        [end, ..] => {
            end_arg(end)?;
            return Err(CommandError::Syntax);
        }
        [] => return Err(CommandError::Syntax),
    };
    // Redis reads the timeout last, when it is about to block.
    let blocking = timeout.is_some();
    let timeout = timeout.map(timeout_seconds).transpose()?.flatten();
    for key in keys {
        if let Some(values) = ctx.server.db.pop(key, end, count)? {
            if !values.is_empty() {
                return Ok(Frame::Array(vec![
                    Frame::Bulk(key.clone()),
                    bulk_array(values),
                ]));
            }
        }
    }
    if blocking {
        ctx.block(keys.to_vec(), timeout, Frame::NullArray, None)
    } else {
        Ok(Frame::NullArray)
    }
}

fn lmpop(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    mpop(ctx, args, 1, None)
}

fn blmpop(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    mpop(ctx, args, 2, Some(&args[1]))
}

/// Keys of LMPOP (`numkeys` at 1) and BLMPOP (`numkeys` at 2).
fn mpop_keys(args: &[Bytes]) -> Vec<usize> {
    let at = if args
        .first()
        .is_some_and(|n| n.eq_ignore_ascii_case(b"blmpop"))
    {
        2
    } else {
        1
    };
    let n = args
        .get(at)
        .and_then(|n| ferrokv_types::numbers::parse_u64(n))
        .unwrap_or(0) as usize;
    (at + 1..(at + 1 + n).min(args.len())).collect()
}

const W: u32 = WRITE;
const R: u32 = READONLY;

#[rustfmt::skip]
pub const COMMANDS: &[CommandSpec] = &[
    cmd("lpush", -3, W | FAST, 1, 1, 1, lpush, "list", "Prepends elements."),
    cmd("rpush", -3, W | FAST, 1, 1, 1, rpush, "list", "Appends elements."),
    cmd("lpushx", -3, W | FAST, 1, 1, 1, lpushx, "list", "Prepends elements to an existing list."),
    cmd("rpushx", -3, W | FAST, 1, 1, 1, rpushx, "list", "Appends elements to an existing list."),
    cmd("lpop", -2, W | FAST, 1, 1, 1, lpop, "list", "Removes and returns the first elements."),
    cmd("rpop", -2, W | FAST, 1, 1, 1, rpop, "list", "Removes and returns the last elements."),
    cmd("llen", 2, R | FAST, 1, 1, 1, llen, "list", "Returns the length."),
    cmd("lrange", 4, R, 1, 1, 1, lrange, "list", "Returns a range of elements."),
    cmd("lindex", 3, R, 1, 1, 1, lindex, "list", "Returns an element by index."),
    cmd("lset", 4, W, 1, 1, 1, lset, "list", "Sets an element by index."),
    cmd("linsert", 5, W, 1, 1, 1, linsert, "list", "Inserts before or after an element."),
    cmd("lrem", 4, W, 1, 1, 1, lrem, "list", "Removes occurrences of an element."),
    cmd("ltrim", 4, W, 1, 1, 1, ltrim, "list", "Keeps only a range of elements."),
    cmd("lpos", -3, R, 1, 1, 1, lpos, "list", "Returns positions of an element."),
    cmd("lmove", 5, W, 1, 2, 1, lmove, "list", "Moves an element between lists."),
    cmd("rpoplpush", 3, W, 1, 2, 1, rpoplpush, "list", "Moves the last element to the head of another list."),
    cmd("blpop", -3, W | BLOCKING, 1, -2, 1, blpop, "list", "Pops the first element, waiting for one."),
    cmd("brpop", -3, W | BLOCKING, 1, -2, 1, brpop, "list", "Pops the last element, waiting for one."),
    cmd("blmove", 6, W | BLOCKING, 1, 2, 1, blmove, "list", "Moves an element, waiting for one."),
    cmd("brpoplpush", 4, W | BLOCKING, 1, 2, 1, brpoplpush, "list", "Moves the last element, waiting for one."),
    CommandSpec { keys: Some(mpop_keys), flags: W | MOVABLE_KEYS, ..cmd("lmpop", -4, 0, 0, 0, 0, lmpop, "list", "Pops elements from the first non-empty list.") },
    CommandSpec { keys: Some(mpop_keys), flags: W | BLOCKING | MOVABLE_KEYS, ..cmd("blmpop", -5, 0, 0, 0, 0, blmpop, "list", "Pops elements, waiting for a non-empty list.") },
];
