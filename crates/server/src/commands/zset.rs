//! Sorted-set commands.

use bytes::Bytes;
use ferrokv_protocol::{format_double, Frame, ProtocolVersion};
use ferrokv_types::numbers::parse_i64;
use ferrokv_types::DataType;
use ferrokv_types::{
    Aggregate, LexRange, RangeBy, RangeSpec, ScoreRange, ScoredMembers, ZAddOptions, ZSetOp,
};

use super::{float_arg, int_arg, is, scan_args};
use crate::blocking::timeout_seconds;
use crate::command::{cmd, flags::*, CommandSpec};
use crate::context::Context;
use crate::error::{CmdResult, CommandError};

fn refs(args: &[Bytes]) -> Vec<&[u8]> {
    args.iter().map(|a| a.as_ref()).collect()
}

/// A score argument: a float as Redis' `strtod` reads it, where a finite text that
/// overflows (`1e400`) is an error, not infinity.
pub(crate) fn score_arg(arg: &[u8]) -> Result<f64, CommandError> {
    let value = float_arg(arg)?;
    if value.is_infinite() && !arg.to_ascii_lowercase().windows(3).any(|w| w == b"inf") {
        return Err(CommandError::NotFloat);
    }
    Ok(value)
}

fn resp3(ctx: &Context<'_>) -> bool {
    ctx.client.protocol == ProtocolVersion::Resp3
}

fn not_float() -> CommandError {
    CommandError::err("min or max is not a float")
}

fn not_lex() -> CommandError {
    CommandError::err("min or max not valid string range item")
}

fn score_range(min: &[u8], max: &[u8]) -> Result<ScoreRange, CommandError> {
    ScoreRange::parse(min, max).ok_or_else(not_float)
}

fn lex_range(min: &[u8], max: &[u8]) -> Result<LexRange, CommandError> {
    LexRange::parse(min, max).ok_or_else(not_lex)
}

/// `member score member score ...` (scores are doubles: bulk strings in RESP2).
fn flat(items: ScoredMembers) -> Frame {
    Frame::Array(
        items
            .into_iter()
            .flat_map(|(m, s)| [Frame::bulk(m), Frame::Double(s)])
            .collect(),
    )
}

/// `[member, score]` pairs, as Redis 7 replies WITHSCORES in RESP3.
fn pairs(items: ScoredMembers) -> Frame {
    Frame::Array(
        items
            .into_iter()
            .map(|(m, s)| Frame::Array(vec![Frame::bulk(m), Frame::Double(s)]))
            .collect(),
    )
}

/// Members, with their scores when asked: flat in RESP2, pairs in RESP3.
fn scored_reply(ctx: &Context<'_>, items: ScoredMembers, withscores: bool) -> Frame {
    if !withscores {
        Frame::Array(items.into_iter().map(|(m, _)| Frame::bulk(m)).collect())
    } else if resp3(ctx) {
        pairs(items)
    } else {
        flat(items)
    }
}

/// ZADD; GEOADD calls it with the scores it computed, as Redis does.
pub(super) fn zadd(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    let mut options = ZAddOptions::default();
    let mut ch = false;
    let mut i = 2;
    while let Some(arg) = args.get(i) {
        match arg {
            a if is(a, "NX") => options.nx = true,
            a if is(a, "XX") => options.xx = true,
            a if is(a, "GT") => options.gt = true,
            a if is(a, "LT") => options.lt = true,
            a if is(a, "CH") => ch = true,
            a if is(a, "INCR") => options.incr = true,
            _ => break,
        }
        i += 1;
    }
    let rest = &args[i..];
    if rest.is_empty() || !rest.len().is_multiple_of(2) {
        return Err(CommandError::Syntax);
    }
    if options.nx && options.xx {
        return Err(CommandError::err(
            "XX and NX options at the same time are not compatible",
        ));
    }
    if (options.nx && (options.gt || options.lt)) || (options.gt && options.lt) {
        return Err(CommandError::err(
            "GT, LT, and/or NX options at the same time are not compatible",
        ));
    }
    if options.incr && rest.len() > 2 {
        return Err(CommandError::err(
            "INCR option supports a single increment-element pair",
        ));
    }
    let pairs = rest
        .chunks_exact(2)
        .map(|p| Ok((score_arg(&p[0])?, p[1].as_ref())))
        .collect::<Result<Vec<_>, CommandError>>()?;
    let outcome = ctx.server.db.zadd(&args[1], options, &pairs)?;
    if outcome.added + outcome.updated == 0 {
        // No member added, no score changed: Redis signals no modification, and a
        // transaction watching the key goes on.
        ctx.touches = Some(Vec::new());
    }
    if options.incr {
        return Ok(match outcome.score {
            Some(score) if outcome.processed > 0 => Frame::Double(score),
            _ => Frame::Null,
        });
    }
    let count = if ch {
        outcome.added + outcome.updated
    } else {
        outcome.added
    };
    Ok(Frame::Integer(count as i64))
}

fn zincrby(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    let delta = score_arg(&args[2])?;
    let options = ZAddOptions {
        incr: true,
        ..ZAddOptions::default()
    };
    let outcome = ctx
        .server
        .db
        .zadd(&args[1], options, &[(delta, &args[3])])?;
    Ok(outcome.score.map_or(Frame::Null, Frame::Double))
}

fn zrem(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    Ok(Frame::Integer(
        ctx.server.db.zrem(&args[1], &refs(&args[2..]))? as i64,
    ))
}

fn zcard(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    Ok(Frame::Integer(ctx.server.db.zcard(&args[1])? as i64))
}

fn zscore(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    Ok(ctx
        .server
        .db
        .zscore(&args[1], &args[2])?
        .map_or(Frame::Null, Frame::Double))
}

fn zmscore(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    let scores = ctx.server.db.zmscore(&args[1], &refs(&args[2..]))?;
    Ok(Frame::Array(
        scores
            .into_iter()
            .map(|s| s.map_or(Frame::Null, Frame::Double))
            .collect(),
    ))
}

fn rank(ctx: &mut Context<'_>, args: &[Bytes], rev: bool, name: &str) -> CmdResult {
    if args.len() > 4 {
        return Err(CommandError::WrongArity(name.to_string()));
    }
    let withscore = match args.get(3) {
        None => false,
        Some(a) if is(a, "WITHSCORE") => true,
        Some(_) => return Err(CommandError::Syntax),
    };
    Ok(match ctx.server.db.zrank(&args[1], &args[2], rev)? {
        Some((rank, score)) if withscore => {
            Frame::Array(vec![Frame::Integer(rank as i64), Frame::Double(score)])
        }
        Some((rank, _)) => Frame::Integer(rank as i64),
        None if withscore => Frame::NullArray,
        None => Frame::Null,
    })
}

fn zrank(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    rank(ctx, args, false, "zrank")
}

fn zrevrank(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    rank(ctx, args, true, "zrevrank")
}

fn zcount(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    let range = score_range(&args[2], &args[3])?;
    Ok(Frame::Integer(
        ctx.server.db.zcount(&args[1], RangeBy::Score(range))? as i64,
    ))
}

fn zlexcount(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    let range = lex_range(&args[2], &args[3])?;
    Ok(Frame::Integer(
        ctx.server.db.zcount(&args[1], RangeBy::Lex(range))? as i64,
    ))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Rank,
    Score,
    Lex,
}

/// Parses `min max [BYSCORE|BYLEX] [REV] [LIMIT offset count] [WITHSCORES]` starting
/// at `args[at]`, as Redis' `zrangeGenericCommand` does. The legacy commands fix the
/// kind and direction (so BYSCORE, BYLEX or REV are syntax errors there); the store
/// variant takes no WITHSCORES. Returns the range and WITHSCORES.
fn parse_range(
    args: &[Bytes],
    at: usize,
    mut kind: Option<Kind>,
    mut rev: Option<bool>,
    store: bool,
) -> Result<(RangeSpec, bool), CommandError> {
    let mut withscores = false;
    let mut offset = 0;
    let mut limit = -1;
    let mut j = at + 2;
    while j < args.len() {
        let left = args.len() - j - 1;
        let arg = &args[j];
        if !store && is(arg, "WITHSCORES") {
            withscores = true;
        } else if is(arg, "LIMIT") && left >= 2 {
            offset = int_arg(&args[j + 1])?;
            limit = int_arg(&args[j + 2])?;
            j += 2;
        } else if rev.is_none() && is(arg, "REV") {
            rev = Some(true);
        } else if kind.is_none() && is(arg, "BYLEX") {
            kind = Some(Kind::Lex);
        } else if kind.is_none() && is(arg, "BYSCORE") {
            kind = Some(Kind::Score);
        } else {
            return Err(CommandError::Syntax);
        }
        j += 1;
    }
    let rev = rev.unwrap_or(false);
    let kind = kind.unwrap_or(Kind::Rank);
    if limit != -1 && kind == Kind::Rank {
        return Err(CommandError::err(
            "syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
        ));
    }
    if withscores && kind == Kind::Lex {
        return Err(CommandError::err(
            "syntax error, WITHSCORES not supported in combination with BYLEX",
        ));
    }
    // The reverse forms take the range as `max min`.
    let (min, max) = if rev && kind != Kind::Rank {
        (&args[at + 1], &args[at])
    } else {
        (&args[at], &args[at + 1])
    };
    let by = match kind {
        Kind::Rank => RangeBy::Rank(int_arg(min)?, int_arg(max)?),
        Kind::Score => RangeBy::Score(score_range(min, max)?),
        Kind::Lex => RangeBy::Lex(lex_range(min, max)?),
    };
    Ok((
        RangeSpec {
            by,
            rev,
            offset,
            limit,
        },
        withscores,
    ))
}

fn range(
    ctx: &mut Context<'_>,
    args: &[Bytes],
    kind: Option<Kind>,
    rev: Option<bool>,
) -> CmdResult {
    let (spec, withscores) = parse_range(args, 2, kind, rev, false)?;
    let items = ctx.server.db.zrange(&args[1], &spec)?;
    Ok(scored_reply(ctx, items, withscores))
}

fn zrange(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    range(ctx, args, None, None)
}

fn zrevrange(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    range(ctx, args, Some(Kind::Rank), Some(true))
}

fn zrangebyscore(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    range(ctx, args, Some(Kind::Score), Some(false))
}

fn zrevrangebyscore(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    range(ctx, args, Some(Kind::Score), Some(true))
}

fn zrangebylex(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    range(ctx, args, Some(Kind::Lex), Some(false))
}

fn zrevrangebylex(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    range(ctx, args, Some(Kind::Lex), Some(true))
}

fn zrangestore(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    let (spec, _) = parse_range(args, 3, None, None, true)?;
    let size = ctx.server.db.zrangestore(&args[1], &args[2], &spec)?;
    Ok(Frame::Integer(size as i64))
}

fn zremrangebyrank(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    let by = RangeBy::Rank(int_arg(&args[2])?, int_arg(&args[3])?);
    Ok(Frame::Integer(ctx.server.db.zremrange(&args[1], by)? as i64))
}

fn zremrangebyscore(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    let by = RangeBy::Score(score_range(&args[2], &args[3])?);
    Ok(Frame::Integer(ctx.server.db.zremrange(&args[1], by)? as i64))
}

fn zremrangebylex(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    let by = RangeBy::Lex(lex_range(&args[2], &args[3])?);
    Ok(Frame::Integer(ctx.server.db.zremrange(&args[1], by)? as i64))
}

fn pop(ctx: &mut Context<'_>, args: &[Bytes], max: bool) -> CmdResult {
    if args.len() > 3 {
        return Err(CommandError::Syntax);
    }
    let count = match args.get(2) {
        None => None,
        Some(arg) => Some(
            u64::try_from(int_arg(arg)?)
                .map_err(|_| CommandError::err("value is out of range, must be positive"))?,
        ),
    };
    let items = ctx.server.db.zpop(&args[1], count.unwrap_or(1), max)?;
    // One member without a count: a flat pair even in RESP3, as Redis 7 does.
    Ok(if count.is_some() && resp3(ctx) {
        pairs(items)
    } else {
        flat(items)
    })
}

fn zpopmin(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    pop(ctx, args, false)
}

fn zpopmax(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    pop(ctx, args, true)
}

/// BZPOPMIN/BZPOPMAX `key [key ...] timeout`: `[key, member, score]`, or wait.
fn blocking_pop(ctx: &mut Context<'_>, args: &[Bytes], max: bool) -> CmdResult {
    let timeout = timeout_seconds(&args[args.len() - 1])?;
    let keys = &args[1..args.len() - 1];
    match ctx.server.db.zmpop(&refs(keys), 1, max)? {
        Some((key, mut items)) if !items.is_empty() => {
            let (member, score) = items.swap_remove(0);
            Ok(Frame::Array(vec![
                Frame::bulk(key),
                Frame::bulk(member),
                Frame::Double(score),
            ]))
        }
        _ => ctx.block(keys.to_vec(), timeout, Frame::NullArray, None),
    }
}

fn bzpopmin(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    blocking_pop(ctx, args, false)
}

fn bzpopmax(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    blocking_pop(ctx, args, true)
}

/// `[B]ZMPOP [timeout] numkeys key [key ...] MIN|MAX [COUNT count]`, numkeys at `at`.
fn mpop(ctx: &mut Context<'_>, args: &[Bytes], at: usize, blocking: bool) -> CmdResult {
    let timeout = if blocking {
        timeout_seconds(&args[1])?
    } else {
        None
    };
    let numkeys = parse_i64(&args[at])
        .filter(|n| *n > 0)
        .ok_or_else(|| CommandError::err("numkeys should be greater than 0"))?;
    let where_at = (numkeys as usize).saturating_add(at + 1);
    let Some(side) = args.get(where_at) else {
        return Err(CommandError::Syntax);
    };
    let max = match side {
        s if is(s, "MIN") => false,
        s if is(s, "MAX") => true,
        _ => return Err(CommandError::Syntax),
    };
    let mut count = None;
    let mut j = where_at + 1;
    while j < args.len() {
        if count.is_none() && is(&args[j], "COUNT") && j + 1 < args.len() {
            let n = parse_i64(&args[j + 1])
                .filter(|n| *n > 0)
                .ok_or_else(|| CommandError::err("count should be greater than 0"))?;
            count = Some(n as u64);
            j += 2;
        } else {
            return Err(CommandError::Syntax);
        }
    }
    let keys = &args[at + 1..where_at];
    match ctx.server.db.zmpop(&refs(keys), count.unwrap_or(1), max)? {
        Some((key, items)) => Ok(Frame::Array(vec![Frame::bulk(key), pairs(items)])),
        None if blocking => ctx.block(keys.to_vec(), timeout, Frame::NullArray, None),
        None => Ok(Frame::NullArray),
    }
}

fn zmpop(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    mpop(ctx, args, 1, false)
}

fn bzmpop(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    mpop(ctx, args, 2, true)
}

/// ZUNION/ZINTER/ZDIFF and their STORE forms: `[destination] numkeys key [key ...]
/// [WEIGHTS w ...] [AGGREGATE SUM|MIN|MAX] [WITHSCORES]`.
fn combine(
    ctx: &mut Context<'_>,
    args: &[Bytes],
    op: ZSetOp,
    store: bool,
    name: &str,
) -> CmdResult {
    let at = if store { 2 } else { 1 };
    let numkeys = int_arg(&args[at])?;
    if numkeys < 1 {
        return Err(CommandError::err(format!(
            "at least 1 input key is needed for '{name}' command"
        )));
    }
    let numkeys = numkeys as usize;
    if numkeys > args.len() - at - 1 {
        return Err(CommandError::Syntax);
    }
    let keys = refs(&args[at + 1..at + 1 + numkeys]);
    // Redis looks the inputs up (WRONGTYPE) before it reads the options.
    for key in &keys {
        if let Some(kind) = ctx.server.db.type_of(key)? {
            if kind != DataType::ZSet && kind != DataType::Set {
                return Err(ferrokv_types::TypeError::WrongType.into());
            }
        }
    }
    let mut weights = Vec::new();
    let mut aggregate = Aggregate::Sum;
    let mut withscores = false;
    let mut j = at + 1 + numkeys;
    while j < args.len() {
        let remaining = args.len() - j;
        let arg = &args[j];
        if op != ZSetOp::Diff && remaining > numkeys && is(arg, "WEIGHTS") {
            weights = args[j + 1..j + 1 + numkeys]
                .iter()
                .map(|w| float_arg(w).map_err(|_| CommandError::err("weight value is not a float")))
                .collect::<Result<_, _>>()?;
            j += 1 + numkeys;
        } else if op != ZSetOp::Diff && remaining >= 2 && is(arg, "AGGREGATE") {
            aggregate = match &args[j + 1] {
                a if is(a, "SUM") => Aggregate::Sum,
                a if is(a, "MIN") => Aggregate::Min,
                a if is(a, "MAX") => Aggregate::Max,
                _ => return Err(CommandError::Syntax),
            };
            j += 2;
        } else if !store && is(arg, "WITHSCORES") {
            withscores = true;
            j += 1;
        } else {
            return Err(CommandError::Syntax);
        }
    }
    let db = &ctx.server.db;
    if store {
        let size = db.zcombine_store(op, &args[1], &keys, &weights, aggregate)?;
        return Ok(Frame::Integer(size as i64));
    }
    let items = db.zcombine(op, &keys, &weights, aggregate)?;
    Ok(scored_reply(ctx, items, withscores))
}

fn zunion(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    combine(ctx, args, ZSetOp::Union, false, "zunion")
}

fn zinter(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    combine(ctx, args, ZSetOp::Inter, false, "zinter")
}

fn zdiff(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    combine(ctx, args, ZSetOp::Diff, false, "zdiff")
}

fn zunionstore(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    combine(ctx, args, ZSetOp::Union, true, "zunionstore")
}

fn zinterstore(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    combine(ctx, args, ZSetOp::Inter, true, "zinterstore")
}

fn zdiffstore(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    combine(ctx, args, ZSetOp::Diff, true, "zdiffstore")
}

fn zintercard(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    // Redis parses it with ZUNION & co. (`zunionInterDiffGenericCommand`).
    let numkeys = int_arg(&args[1])?;
    if numkeys < 1 {
        return Err(CommandError::err(
            "at least 1 input key is needed for 'zintercard' command",
        ));
    }
    let numkeys = numkeys as usize;
    if args.len() - 2 < numkeys {
        return Err(CommandError::Syntax);
    }
    // The keys are read (WRONGTYPE) before the options are parsed, as in Redis.
    let members = ctx.server.db.zcombine(
        ZSetOp::Inter,
        &refs(&args[2..2 + numkeys]),
        &[],
        Aggregate::Sum,
    )?;
    let mut limit = 0usize;
    match &args[2 + numkeys..] {
        [] => {}
        [kw, value] if is(kw, "LIMIT") => limit = super::set::limit_arg(value)?,
        _ => return Err(CommandError::Syntax),
    }
    let count = if limit == 0 {
        members.len()
    } else {
        members.len().min(limit)
    };
    Ok(Frame::Integer(count as i64))
}

fn zrandmember(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    let Some(count_arg) = args.get(2) else {
        let picked = ctx.server.db.zrandmember(&args[1], 1)?;
        return Ok(picked
            .into_iter()
            .next()
            .map_or(Frame::Null, |(m, _)| Frame::bulk(m)));
    };
    let count = super::count_arg(count_arg)?;
    let withscores = match args.get(3) {
        None => false,
        Some(a) if is(a, "WITHSCORES") && args.len() == 4 => true,
        Some(_) => return Err(CommandError::Syntax),
    };
    if withscores && !(-i64::MAX / 2..=i64::MAX / 2).contains(&count) {
        return Err(CommandError::err("value is out of range"));
    }
    let picked = ctx.server.db.zrandmember(&args[1], count)?;
    Ok(scored_reply(ctx, picked, withscores))
}

fn zscan(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    let scan = scan_args(ctx, &args[2..], false)?;
    let (items, next) =
        ctx.server
            .db
            .zscan(&args[1], &scan.start, scan.pattern.as_deref(), scan.count)?;
    let items = items
        .into_iter()
        .flat_map(|(m, s)| [Frame::bulk(m), Frame::bulk(format_double(s))])
        .collect();
    Ok(super::scan_reply(ctx, next, Frame::Array(items)))
}

/// The key positions of a numkeys form: the count at `at`, the keys after it.
fn numkeys_at(args: &[Bytes], at: usize) -> Vec<usize> {
    let n = args
        .get(at)
        .and_then(|n| ferrokv_types::numbers::parse_u64(n))
        .unwrap_or(0) as usize;
    (at + 1..(at + 1).saturating_add(n).min(args.len())).collect()
}

/// `ZUNIONSTORE destination numkeys key ...`: the destination and the inputs.
fn store_keys(args: &[Bytes]) -> Vec<usize> {
    let mut keys = vec![1];
    keys.extend(numkeys_at(args, 2));
    keys
}

/// `ZUNION numkeys key ...`, `ZMPOP numkeys key ...`.
fn numkeys_keys(args: &[Bytes]) -> Vec<usize> {
    numkeys_at(args, 1)
}

/// `BZMPOP timeout numkeys key ...`.
fn bzmpop_keys(args: &[Bytes]) -> Vec<usize> {
    numkeys_at(args, 2)
}

const W: u32 = WRITE;
const R: u32 = READONLY;

#[rustfmt::skip]
pub const COMMANDS: &[CommandSpec] = &[
    cmd("zadd", -4, W | FAST, 1, 1, 1, zadd, "sorted-set", "Adds members or updates their scores."),
    cmd("zincrby", 4, W | FAST, 1, 1, 1, zincrby, "sorted-set", "Increments the score of a member."),
    cmd("zrem", -3, W | FAST, 1, 1, 1, zrem, "sorted-set", "Removes members."),
    cmd("zcard", 2, R | FAST, 1, 1, 1, zcard, "sorted-set", "Returns the number of members."),
    cmd("zscore", 3, R | FAST, 1, 1, 1, zscore, "sorted-set", "Returns the score of a member."),
    cmd("zmscore", -3, R | FAST, 1, 1, 1, zmscore, "sorted-set", "Returns the scores of several members."),
    cmd("zrank", -3, R | FAST, 1, 1, 1, zrank, "sorted-set", "Returns the rank of a member, lowest score first."),
    cmd("zrevrank", -3, R | FAST, 1, 1, 1, zrevrank, "sorted-set", "Returns the rank of a member, highest score first."),
    cmd("zcount", 4, R | FAST, 1, 1, 1, zcount, "sorted-set", "Counts the members in a score range."),
    cmd("zlexcount", 4, R | FAST, 1, 1, 1, zlexcount, "sorted-set", "Counts the members in a lex range."),
    cmd("zrange", -4, R, 1, 1, 1, zrange, "sorted-set", "Returns members by rank, score or lex range."),
    cmd("zrevrange", -4, R, 1, 1, 1, zrevrange, "sorted-set", "Returns members by rank, highest score first."),
    cmd("zrangebyscore", -4, R, 1, 1, 1, zrangebyscore, "sorted-set", "Returns members in a score range."),
    cmd("zrevrangebyscore", -4, R, 1, 1, 1, zrevrangebyscore, "sorted-set", "Returns members in a score range, highest first."),
    cmd("zrangebylex", -4, R, 1, 1, 1, zrangebylex, "sorted-set", "Returns members in a lex range."),
    cmd("zrevrangebylex", -4, R, 1, 1, 1, zrevrangebylex, "sorted-set", "Returns members in a lex range, highest first."),
    cmd("zrangestore", -5, W, 1, 2, 1, zrangestore, "sorted-set", "Stores a range of members in another key."),
    cmd("zremrangebyrank", 4, W, 1, 1, 1, zremrangebyrank, "sorted-set", "Removes the members in a rank range."),
    cmd("zremrangebyscore", 4, W, 1, 1, 1, zremrangebyscore, "sorted-set", "Removes the members in a score range."),
    cmd("zremrangebylex", 4, W, 1, 1, 1, zremrangebylex, "sorted-set", "Removes the members in a lex range."),
    cmd("zpopmin", -2, W | FAST, 1, 1, 1, zpopmin, "sorted-set", "Removes and returns the lowest-scored members."),
    cmd("zpopmax", -2, W | FAST, 1, 1, 1, zpopmax, "sorted-set", "Removes and returns the highest-scored members."),
    cmd("bzpopmin", -3, W | FAST | BLOCKING, 1, -2, 1, bzpopmin, "sorted-set", "Pops the lowest-scored member, waiting for one."),
    cmd("bzpopmax", -3, W | FAST | BLOCKING, 1, -2, 1, bzpopmax, "sorted-set", "Pops the highest-scored member, waiting for one."),
    CommandSpec {
        keys: Some(numkeys_keys),
        flags: W | MOVABLE_KEYS,
        ..cmd("zmpop", -4, 0, 0, 0, 0, zmpop, "sorted-set", "Pops members from the first non-empty sorted set.")
    },
    CommandSpec {
        keys: Some(bzmpop_keys),
        flags: W | BLOCKING | MOVABLE_KEYS,
        ..cmd("bzmpop", -5, 0, 0, 0, 0, bzmpop, "sorted-set", "Pops members from the first non-empty sorted set, waiting for one.")
    },
    CommandSpec {
        keys: Some(store_keys),
        flags: W | MOVABLE_KEYS,
        ..cmd("zunionstore", -4, 0, 1, 1, 1, zunionstore, "sorted-set", "Stores the union of sorted sets.")
    },
    CommandSpec {
        keys: Some(store_keys),
        flags: W | MOVABLE_KEYS,
        ..cmd("zinterstore", -4, 0, 1, 1, 1, zinterstore, "sorted-set", "Stores the intersection of sorted sets.")
    },
    CommandSpec {
        keys: Some(store_keys),
        flags: W | MOVABLE_KEYS,
        ..cmd("zdiffstore", -4, 0, 1, 1, 1, zdiffstore, "sorted-set", "Stores the difference of sorted sets.")
    },
    CommandSpec {
        keys: Some(numkeys_keys),
        flags: R | MOVABLE_KEYS,
        ..cmd("zunion", -3, 0, 0, 0, 0, zunion, "sorted-set", "Returns the union of sorted sets.")
    },
    CommandSpec {
        keys: Some(numkeys_keys),
        flags: R | MOVABLE_KEYS,
        ..cmd("zinter", -3, 0, 0, 0, 0, zinter, "sorted-set", "Returns the intersection of sorted sets.")
    },
    CommandSpec {
        keys: Some(numkeys_keys),
        flags: R | MOVABLE_KEYS,
        ..cmd("zdiff", -3, 0, 0, 0, 0, zdiff, "sorted-set", "Returns the difference of sorted sets.")
    },
    CommandSpec {
        keys: Some(numkeys_keys),
        flags: R | MOVABLE_KEYS,
        ..cmd("zintercard", -3, 0, 0, 0, 0, zintercard, "sorted-set", "Counts the members of an intersection.")
    },
    cmd("zrandmember", -2, R, 1, 1, 1, zrandmember, "sorted-set", "Returns random members."),
    cmd("zscan", -3, R, 1, 1, 1, zscan, "sorted-set", "Iterates over members and scores."),
];
