//! Set commands.

use bytes::Bytes;
use ferrokv_protocol::Frame;
use ferrokv_types::Moved;
use ferrokv_types::SetOp;

use super::{bulk_array, int_arg, is, scan_args};
use crate::command::{cmd, flags::*, CommandSpec};
use crate::context::Context;
use crate::error::{CmdResult, CommandError};

fn refs(args: &[Bytes]) -> Vec<&[u8]> {
    args.iter().map(|a| a.as_ref()).collect()
}

fn sadd(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    let added = ctx.server.db.sadd(&args[1], &refs(&args[2..]))?;
    if added == 0 {
        // Nothing added, nothing modified (Redis signals only an addition): a
        // transaction watching the set goes on.
        ctx.touches = Some(Vec::new());
    }
    Ok(Frame::Integer(added as i64))
}

fn srem(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    Ok(Frame::Integer(
        ctx.server.db.srem(&args[1], &refs(&args[2..]))? as i64,
    ))
}

fn scard(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    Ok(Frame::Integer(ctx.server.db.scard(&args[1])? as i64))
}

fn sismember(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    let found = ctx.server.db.sismember(&args[1], &[&args[2]])?;
    Ok(Frame::Integer(
        found.first().copied().unwrap_or(false) as i64
    ))
}

fn smismember(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    let found = ctx.server.db.sismember(&args[1], &refs(&args[2..]))?;
    Ok(Frame::Array(
        found
            .into_iter()
            .map(|f| Frame::Integer(f as i64))
            .collect(),
    ))
}

fn smembers(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    let members = ctx.server.db.smembers(&args[1])?;
    Ok(Frame::Set(members.into_iter().map(Frame::bulk).collect()))
}

fn srandmember(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    // Redis: `SRANDMEMBER key [count]`, anything more is a syntax error.
    if args.len() > 3 {
        return Err(CommandError::Syntax);
    }
    match args.get(2) {
        None => {
            let picked = ctx.server.db.srandmember(&args[1], 1)?;
            Ok(picked.into_iter().next().map_or(Frame::Null, Frame::bulk))
        }
        Some(count) => {
            let count = super::count_arg(count)?;
            Ok(bulk_array(ctx.server.db.srandmember(&args[1], count)?))
        }
    }
}

fn spop(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    if args.len() > 3 {
        return Err(CommandError::Syntax);
    }
    match args.get(2) {
        None => {
            let picked = ctx.server.db.spop(&args[1], 1)?;
            Ok(picked.into_iter().next().map_or(Frame::Null, Frame::bulk))
        }
        Some(count) => {
            let count = u64::try_from(int_arg(count)?)
                .map_err(|_| CommandError::err("value is out of range, must be positive"))?;
            let picked = ctx.server.db.spop(&args[1], count)?;
            Ok(Frame::Set(picked.into_iter().map(Frame::bulk).collect()))
        }
    }
}

fn smove(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    let moved = ctx.server.db.smove(&args[1], &args[2], &args[3])?;
    // A destination that already had the member is not modified (Redis signals it
    // only when the member was added): a transaction watching it goes on.
    ctx.touches = Some(match moved {
        _ if args[1] == args[2] => Vec::new(),
        Moved::Added => vec![args[1].clone(), args[2].clone()],
        Moved::AlreadyThere => vec![args[1].clone()],
        Moved::NotMoved => Vec::new(),
    });
    Ok(Frame::Integer(i64::from(moved != Moved::NotMoved)))
}

fn combine(ctx: &mut Context<'_>, args: &[Bytes], op: SetOp) -> CmdResult {
    let members = ctx.server.db.scombine(op, &refs(&args[1..]))?;
    Ok(Frame::Set(members.into_iter().map(Frame::bulk).collect()))
}

fn sinter(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    combine(ctx, args, SetOp::Inter)
}

fn sunion(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    combine(ctx, args, SetOp::Union)
}

fn sdiff(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    combine(ctx, args, SetOp::Diff)
}

fn store(ctx: &mut Context<'_>, args: &[Bytes], op: SetOp) -> CmdResult {
    let size = ctx
        .server
        .db
        .scombine_store(op, &args[1], &refs(&args[2..]))?;
    Ok(Frame::Integer(size as i64))
}

fn sinterstore(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    store(ctx, args, SetOp::Inter)
}

fn sunionstore(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    store(ctx, args, SetOp::Union)
}

fn sdiffstore(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    store(ctx, args, SetOp::Diff)
}

/// `SINTERCARD numkeys key [key ...] [LIMIT limit]`: the keys follow numkeys.
fn numkeys_positions(args: &[Bytes]) -> Vec<usize> {
    let n = args
        .get(1)
        .and_then(|n| ferrokv_types::numbers::parse_u64(n))
        .unwrap_or(0) as usize;
    (2..(2 + n).min(args.len())).collect()
}

/// The LIMIT of SINTERCARD and ZINTERCARD: Redis' `getPositiveLongFromObjectOrReply`
/// with "LIMIT can't be negative", which a non-integer gets too.
pub(super) fn limit_arg(arg: &[u8]) -> Result<usize, CommandError> {
    ferrokv_types::numbers::parse_u64(arg)
        .map(|n| n as usize)
        .ok_or_else(|| CommandError::err("LIMIT can't be negative"))
}

fn sintercard(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    let numkeys = super::list::numkeys_arg(&args[1])?;
    if args.len() - 2 < numkeys {
        return Err(CommandError::err(
            "Number of keys can't be greater than number of args",
        ));
    }
    let mut limit = 0usize;
    let rest = &args[2 + numkeys..];
    match rest {
        [] => {}
        [kw, value] if is(kw, "LIMIT") => limit = limit_arg(value)?,
        _ => return Err(CommandError::Syntax),
    }
    let members = ctx
        .server
        .db
        .scombine(SetOp::Inter, &refs(&args[2..2 + numkeys]))?;
    let count = if limit == 0 {
        members.len()
    } else {
        members.len().min(limit)
    };
    Ok(Frame::Integer(count as i64))
}

fn sscan(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    let scan = scan_args(ctx, &args[2..], false)?;
    let (members, next) =
        ctx.server
            .db
            .sscan(&args[1], &scan.start, scan.pattern.as_deref(), scan.count)?;
    Ok(super::scan_reply(ctx, next, bulk_array(members)))
}

const W: u32 = WRITE;
const R: u32 = READONLY;

#[rustfmt::skip]
pub const COMMANDS: &[CommandSpec] = &[
    cmd("sadd", -3, W | FAST, 1, 1, 1, sadd, "set", "Adds elements to a set."),
    cmd("srem", -3, W | FAST, 1, 1, 1, srem, "set", "Removes elements from a set."),
    cmd("scard", 2, R | FAST, 1, 1, 1, scard, "set", "Returns the number of elements."),
    cmd("sismember", 3, R | FAST, 1, 1, 1, sismember, "set", "Tells whether an element is in a set."),
    cmd("smismember", -3, R | FAST, 1, 1, 1, smismember, "set", "Tells whether each element is in a set."),
    cmd("smembers", 2, R, 1, 1, 1, smembers, "set", "Returns all elements."),
    cmd("srandmember", -2, R, 1, 1, 1, srandmember, "set", "Returns random elements."),
    cmd("spop", -2, W | FAST, 1, 1, 1, spop, "set", "Removes and returns random elements."),
    cmd("smove", 4, W | FAST, 1, 2, 1, smove, "set", "Moves an element to another set."),
    cmd("sinter", -2, R, 1, -1, 1, sinter, "set", "Intersects sets."),
    cmd("sunion", -2, R, 1, -1, 1, sunion, "set", "Unites sets."),
    cmd("sdiff", -2, R, 1, -1, 1, sdiff, "set", "Subtracts sets."),
    cmd("sinterstore", -3, W, 1, -1, 1, sinterstore, "set", "Stores an intersection."),
    cmd("sunionstore", -3, W, 1, -1, 1, sunionstore, "set", "Stores a union."),
    cmd("sdiffstore", -3, W, 1, -1, 1, sdiffstore, "set", "Stores a difference."),
    CommandSpec { keys: Some(numkeys_positions), flags: R | MOVABLE_KEYS, ..cmd("sintercard", -3, 0, 0, 0, 0, sintercard, "set", "Counts the elements of an intersection.") },
    cmd("sscan", -3, R, 1, 1, 1, sscan, "set", "Iterates over elements."),
];
