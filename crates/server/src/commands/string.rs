//! String commands.

use bytes::Bytes;
use ferrokv_protocol::Frame;
use ferrokv_types::{SetCondition, SetExpiry, SetOptions};

use super::{absolute_expiry, bulk_or_null, int_arg, invalid_expire, is, ExpiryUnit};
use crate::command::{cmd, flags::*, CommandSpec};
use crate::context::Context;
use crate::error::{CmdResult, CommandError};

/// The expiry option of SET and GETEX as Redis' `parseExtendedStringArgumentsOrReply`
/// reads it: one kind (EX, PX, EXAT, PXAT with a value, KEEPTTL for SET, PERSIST for
/// GETEX), which may be repeated (the last value counts, `SET k v EX 1 EX 10`); two
/// different kinds are a syntax error.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ExpiryArg {
    None,
    Keep,
    Persist,
    /// The unit, and the position of the value (read once the options are known).
    Value(ExpiryUnit, usize),
}

impl ExpiryArg {
    /// Takes the option at `args[i]` if it is an expiry option this command has
    /// (`keyword`: KEEPTTL or PERSIST); returns how many arguments it used (0: not an
    /// expiry option).
    fn take(&mut self, args: &[Bytes], i: usize, keyword: &str) -> Result<usize, CommandError> {
        let arg = &args[i];
        let (next, used) = if is(arg, keyword) {
            let next = if keyword == "KEEPTTL" {
                ExpiryArg::Keep
            } else {
                ExpiryArg::Persist
            };
            (next, 1)
        } else {
            let Some(unit) = expiry_unit(arg) else {
                return Ok(0);
            };
            if i + 1 >= args.len() {
                return Err(CommandError::Syntax);
            }
            (ExpiryArg::Value(unit, i + 1), 2)
        };
        let same_kind = match (*self, next) {
            (ExpiryArg::None, _) => true,
            (ExpiryArg::Value(a, _), ExpiryArg::Value(b, _)) => a == b,
            (a, b) => a == b,
        };
        if !same_kind {
            return Err(CommandError::Syntax);
        }
        *self = next;
        Ok(used)
    }

    /// The absolute expiry (Unix ms) of an EX/PX/EXAT/PXAT option.
    fn at(self, args: &[Bytes], command: &str) -> Result<Option<u64>, CommandError> {
        let ExpiryArg::Value(unit, at) = self else {
            return Ok(None);
        };
        let value = int_arg(&args[at])?;
        if value <= 0 {
            return Err(invalid_expire(command));
        }
        let at = absolute_expiry(unit, value).ok_or_else(|| invalid_expire(command))?;
        Ok(Some(at as u64))
    }
}

/// The unit an expiry keyword (EX, PX, EXAT, PXAT, any case) names.
fn expiry_unit(arg: &[u8]) -> Option<ExpiryUnit> {
    Some(match arg {
        a if is(a, "EX") => ExpiryUnit::Seconds,
        a if is(a, "PX") => ExpiryUnit::Millis,
        a if is(a, "EXAT") => ExpiryUnit::UnixSeconds,
        a if is(a, "PXAT") => ExpiryUnit::UnixMillis,
        _ => return None,
    })
}

/// `CAS key old new [EX s|PX ms|EXAT s|PXAT ms]`, Kvrocks' extension
/// (`src/commands/cmd_string.cc`): options parsed as Kvrocks' `ParseExpireFlags` does,
/// one kind which may repeat (the last value counts), a missing value "ERR no more item
/// to parse", a value below 1 "ERR out of numeric range". Replies 1, 0 or -1 (see
/// `Database::compare_and_set`).
fn cas(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    let mut expiry: Option<(ExpiryUnit, i64)> = None;
    let mut i = 4;
    while i < args.len() {
        let unit = expiry_unit(&args[i]).ok_or(CommandError::Syntax)?;
        if expiry.is_some_and(|(kind, _)| kind != unit) {
            return Err(CommandError::Syntax);
        }
        let value = super::option_value(args, i + 1)?;
        let value = int_arg(value)?;
        if value < 1 {
            return Err(CommandError::err("out of numeric range"));
        }
        expiry = Some((unit, value));
        i += 2;
    }
    let expire_ms = match expiry {
        None => 0,
        Some((unit, value)) => absolute_expiry(unit, value).ok_or_else(|| invalid_expire("cas"))?,
    };
    let reply = ctx
        .server
        .db
        .compare_and_set(&args[1], &args[2], &args[3], expire_ms as u64)?;
    Ok(Frame::Integer(reply))
}

/// `CAD key value`, Kvrocks' compare-and-delete: 1 deleted, 0 another value, -1 no key.
fn cad(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    let reply = ctx.server.db.compare_and_delete(&args[1], &args[2])?;
    Ok(Frame::Integer(reply))
}

fn set(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    let mut options = SetOptions::default();
    let mut expiry = ExpiryArg::None;
    let mut i = 3;
    while i < args.len() {
        let arg = &args[i];
        // As Redis: NX and XX exclude each other, each may repeat.
        if is(arg, "NX") && options.condition != SetCondition::IfExists {
            options.condition = SetCondition::IfMissing;
        } else if is(arg, "XX") && options.condition != SetCondition::IfMissing {
            options.condition = SetCondition::IfExists;
        } else if is(arg, "GET") {
            options.get = true;
        } else {
            match expiry.take(args, i, "KEEPTTL")? {
                0 => return Err(CommandError::Syntax),
                used => i += used - 1,
            }
        }
        i += 1;
    }
    options.expiry = match expiry {
        ExpiryArg::Keep => SetExpiry::Keep,
        other => match other.at(args, "set")? {
            Some(at) => SetExpiry::At(at),
            None => options.expiry,
        },
    };
    let outcome = ctx.server.db.set(&args[1], &args[2], options)?;
    Ok(match (options.get, outcome.written) {
        (true, _) => bulk_or_null(outcome.old),
        (false, true) => Frame::ok(),
        (false, false) => Frame::Null,
    })
}

fn setnx(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    let options = SetOptions {
        condition: SetCondition::IfMissing,
        ..SetOptions::default()
    };
    let outcome = ctx.server.db.set(&args[1], &args[2], options)?;
    Ok(Frame::Integer(outcome.written as i64))
}

fn set_with_ttl(ctx: &mut Context<'_>, args: &[Bytes], unit: ExpiryUnit, name: &str) -> CmdResult {
    let ttl = int_arg(&args[2])?;
    if ttl <= 0 {
        return Err(invalid_expire(name));
    }
    let at = absolute_expiry(unit, ttl).ok_or_else(|| invalid_expire(name))?;
    let options = SetOptions {
        expiry: SetExpiry::At(at as u64),
        ..SetOptions::default()
    };
    ctx.server.db.set(&args[1], &args[3], options)?;
    Ok(Frame::ok())
}

fn setex(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    set_with_ttl(ctx, args, ExpiryUnit::Seconds, "setex")
}

fn psetex(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    set_with_ttl(ctx, args, ExpiryUnit::Millis, "psetex")
}

fn get(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    Ok(bulk_or_null(ctx.server.db.get(&args[1])?))
}

fn getset(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    let options = SetOptions {
        get: true,
        ..SetOptions::default()
    };
    Ok(bulk_or_null(
        ctx.server.db.set(&args[1], &args[2], options)?.old,
    ))
}

fn getdel(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    Ok(bulk_or_null(ctx.server.db.getdel(&args[1])?))
}

fn getex(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    let mut expiry = ExpiryArg::None;
    let mut i = 2;
    while i < args.len() {
        match expiry.take(args, i, "PERSIST")? {
            0 => return Err(CommandError::Syntax),
            used => i += used,
        }
    }
    let expiry = match expiry {
        ExpiryArg::None => SetExpiry::Keep,
        ExpiryArg::Persist => SetExpiry::Clear,
        value => {
            // Redis looks the key up before it reads the expiry value: a missing key
            // is nil whatever the value (`GETEX missing EX 0`), an existing one gets
            // the value's error.
            if ctx.server.db.get(&args[1])?.is_none() {
                return Ok(Frame::Null);
            }
            match value.at(args, "getex")? {
                Some(at) => SetExpiry::At(at),
                None => return Err(CommandError::Syntax),
            }
        }
    };
    Ok(bulk_or_null(ctx.server.db.getex(&args[1], expiry)?))
}

fn mget(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    let keys: Vec<&[u8]> = args[1..].iter().map(|k| k.as_ref()).collect();
    let values = ctx.server.db.mget(&keys)?;
    Ok(Frame::Array(values.into_iter().map(bulk_or_null).collect()))
}

fn mset(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    ctx.server
        .db
        .mset(&super::pairs(&args[1..], "mset")?, false)?;
    Ok(Frame::ok())
}

fn msetnx(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    let written = ctx
        .server
        .db
        .mset(&super::pairs(&args[1..], "msetnx")?, true)?;
    Ok(Frame::Integer(written as i64))
}

fn incr_by(ctx: &mut Context<'_>, key: &[u8], delta: i64) -> CmdResult {
    Ok(Frame::Integer(ctx.server.db.incr_by(key, delta)?))
}

fn incr(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    incr_by(ctx, &args[1], 1)
}

fn decr(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    incr_by(ctx, &args[1], -1)
}

fn incrby(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    incr_by(ctx, &args[1], int_arg(&args[2])?)
}

fn decrby(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    let delta = int_arg(&args[2])?;
    let negated = delta
        .checked_neg()
        .ok_or_else(|| CommandError::err("decrement would overflow"))?;
    incr_by(ctx, &args[1], negated)
}

fn incrbyfloat(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    // Redis checks the key's type before the increment argument.
    super::key_of_type(ctx, &args[1], ferrokv_types::DataType::String)?;
    let delta = super::float_arg(&args[2])?;
    if !delta.is_finite() {
        return Err(ferrokv_types::TypeError::NanOrInfinity.into());
    }
    let value = ctx.server.db.incr_by_float(&args[1], delta)?;
    Ok(Frame::bulk(value.into_bytes()))
}

fn append(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    Ok(Frame::Integer(
        ctx.server.db.append(&args[1], &args[2])? as i64
    ))
}

fn strlen(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    Ok(Frame::Integer(ctx.server.db.strlen(&args[1])? as i64))
}

fn getrange(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    let (start, end) = (int_arg(&args[2])?, int_arg(&args[3])?);
    Ok(Frame::bulk(ctx.server.db.getrange(&args[1], start, end)?))
}

fn setrange(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    let offset = int_arg(&args[2])?;
    let offset =
        usize::try_from(offset).map_err(|_| CommandError::err("offset is out of range"))?;
    Ok(Frame::Integer(
        ctx.server.db.setrange(&args[1], offset, &args[3])? as i64,
    ))
}

/// `LCS key1 key2 [LEN] [IDX] [MINMATCHLEN n] [WITHMATCHLEN]`: the longest common
/// subsequence of two strings (Redis 7's LCS; missing keys are empty strings), its
/// length, or the matching ranges, walked from the ends as Redis walks them.
fn lcs(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    let value = |key: &[u8]| -> Result<Vec<u8>, CommandError> {
        match ctx.server.db.type_of(key)? {
            None => Ok(Vec::new()),
            Some(ferrokv_types::DataType::String) => {
                Ok(ctx.server.db.get(key)?.unwrap_or_default())
            }
            Some(_) => Err(CommandError::err(
                "The specified keys must contain string values",
            )),
        }
    };
    let (a, b) = (value(&args[1])?, value(&args[2])?);
    let (mut get_len, mut get_idx, mut with_match_len) = (false, false, false);
    let mut min_match_len: u64 = 0;
    let mut i = 3;
    while i < args.len() {
        match &args[i] {
            x if is(x, "IDX") => get_idx = true,
            x if is(x, "LEN") => get_len = true,
            x if is(x, "WITHMATCHLEN") => with_match_len = true,
            x if is(x, "MINMATCHLEN") && i + 1 < args.len() => {
                min_match_len = int_arg(&args[i + 1])?.max(0) as u64;
                i += 1;
            }
            _ => return Err(CommandError::Syntax),
        }
        i += 1;
    }
    if get_len && get_idx {
        return Err(CommandError::err(
            "If you want both the length and indexes, please just use IDX.",
        ));
    }
    // The table is (|a|+1) × (|b|+1) 32-bit cells, bounded as Redis bounds it.
    let cells = (a.len() as u128 + 1) * (b.len() as u128 + 1);
    if cells * 4 > ctx.server.config.read().proto_max_bulk_len as u128 {
        return Err(CommandError::err(
            "Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len",
        ));
    }
    let width = b.len() + 1;
    let mut table = vec![0u32; cells as usize];
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            table[i * width + j] = if a[i - 1] == b[j - 1] {
                table[(i - 1) * width + j - 1] + 1
            } else {
                table[(i - 1) * width + j].max(table[i * width + j - 1])
            };
        }
    }
    let total = table[a.len() * width + b.len()];
    if get_len {
        return Ok(Frame::Integer(i64::from(total)));
    }
    // Walk back from the ends; a run of matches that are adjacent in both strings is
    // one range, reported when it ends.
    let mut sequence = vec![0u8; total as usize];
    let mut left = total as usize;
    let mut ranges = Vec::new();
    let mut current: Option<(usize, usize, usize, usize)> = None; // a_start, a_end, b_start, b_end
    let (mut i, mut j) = (a.len(), b.len());
    while i > 0 && j > 0 {
        let mut emit = false;
        if a[i - 1] == b[j - 1] {
            left -= 1;
            sequence[left] = a[i - 1];
            current = match current {
                None => Some((i - 1, i - 1, j - 1, j - 1)),
                Some((a_start, a_end, b_start, b_end)) if a_start == i && b_start == j => {
                    Some((i - 1, a_end, j - 1, b_end))
                }
                Some(range) => {
                    // Not adjacent: the previous range ends; this match starts the next.
                    ranges.push(range);
                    Some((i - 1, i - 1, j - 1, j - 1))
                }
            };
            if let Some((a_start, _, b_start, _)) = current {
                emit = a_start == 0 || b_start == 0;
            }
            i -= 1;
            j -= 1;
        } else {
            if table[(i - 1) * width + j] > table[i * width + j - 1] {
                i -= 1;
            } else {
                j -= 1;
            }
            emit = current.is_some();
        }
        if emit {
            if let Some(range) = current.take() {
                ranges.push(range);
            }
        }
    }
    if !get_idx {
        return Ok(Frame::bulk(sequence));
    }
    let matches = ranges
        .into_iter()
        .filter(|(a_start, a_end, _, _)| {
            min_match_len == 0 || (a_end - a_start + 1) as u64 >= min_match_len
        })
        .map(|(a_start, a_end, b_start, b_end)| {
            let pair = |s: usize, e: usize| {
                Frame::Array(vec![Frame::Integer(s as i64), Frame::Integer(e as i64)])
            };
            let mut item = vec![pair(a_start, a_end), pair(b_start, b_end)];
            if with_match_len {
                item.push(Frame::Integer((a_end - a_start + 1) as i64));
            }
            Frame::Array(item)
        })
        .collect();
    Ok(Frame::Map(vec![
        (Frame::bulk("matches"), Frame::Array(matches)),
        (Frame::bulk("len"), Frame::Integer(i64::from(total))),
    ]))
}

const W: u32 = WRITE;
const R: u32 = READONLY;

#[rustfmt::skip]
pub const COMMANDS: &[CommandSpec] = &[
    cmd("get", 2, R | FAST, 1, 1, 1, get, "string", "Returns the string value of a key."),
    cmd("lcs", -3, R, 1, 2, 1, lcs, "string", "Finds the longest common subsequence of two strings."),
    cmd("set", -3, W, 1, 1, 1, set, "string", "Sets the string value of a key, with options."),
    cmd("setnx", 3, W | FAST, 1, 1, 1, setnx, "string", "Sets a key only if it does not exist."),
    cmd("setex", 4, W, 1, 1, 1, setex, "string", "Sets a key with an expiry in seconds."),
    cmd("psetex", 4, W, 1, 1, 1, psetex, "string", "Sets a key with an expiry in milliseconds."),
    cmd("getset", 3, W | FAST, 1, 1, 1, getset, "string", "Sets a key and returns its old value."),
    cmd("cas", -4, W, 1, 1, 1, cas, "string", "Sets a key to a new value if its value is the given one (Kvrocks)."),
    cmd("cad", 3, W, 1, 1, 1, cad, "string", "Deletes a key if its value is the given one (Kvrocks)."),
    cmd("getdel", 2, W | FAST, 1, 1, 1, getdel, "string", "Returns a key's value and deletes it."),
    cmd("getex", -2, W | FAST, 1, 1, 1, getex, "string", "Returns a key's value and changes its expiry."),
    cmd("mget", -2, R | FAST, 1, -1, 1, mget, "string", "Returns the values of several keys."),
    cmd("mset", -3, W, 1, -1, 2, mset, "string", "Sets several keys."),
    cmd("msetnx", -3, W, 1, -1, 2, msetnx, "string", "Sets several keys only if none exists."),
    cmd("incr", 2, W | FAST, 1, 1, 1, incr, "string", "Increments an integer value by one."),
    cmd("decr", 2, W | FAST, 1, 1, 1, decr, "string", "Decrements an integer value by one."),
    cmd("incrby", 3, W | FAST, 1, 1, 1, incrby, "string", "Increments an integer value."),
    cmd("decrby", 3, W | FAST, 1, 1, 1, decrby, "string", "Decrements an integer value."),
    cmd("incrbyfloat", 3, W | FAST, 1, 1, 1, incrbyfloat, "string", "Increments a float value."),
    cmd("append", 3, W | FAST, 1, 1, 1, append, "string", "Appends to a string."),
    cmd("strlen", 2, R | FAST, 1, 1, 1, strlen, "string", "Returns the length of a string."),
    cmd("getrange", 4, R, 1, 1, 1, getrange, "string", "Returns a substring."),
    cmd("substr", 4, R, 1, 1, 1, getrange, "string", "Returns a substring (old name of GETRANGE)."),
    cmd("setrange", 4, W, 1, 1, 1, setrange, "string", "Overwrites part of a string."),
];
