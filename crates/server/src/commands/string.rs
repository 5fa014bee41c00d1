//! String commands.

use bytes::Bytes;
use ferrokv_protocol::Frame;
use ferrokv_types::{SetCondition, SetExpiry, SetOptions};

use super::{absolute_expiry, bulk_or_null, int_arg, invalid_expire, is, ExpiryUnit};
use crate::command::{cmd, flags::*, CommandSpec};
use crate::context::Context;
use crate::error::{CmdResult, CommandError};

/// Parses `EX n | PX n | EXAT n | PXAT n` at `args[i]`, returning the absolute expiry.
fn expiry_option(args: &[Bytes], i: usize, command: &str) -> Result<Option<u64>, CommandError> {
    let unit = match &args[i] {
        a if is(a, "EX") => ExpiryUnit::Seconds,
        a if is(a, "PX") => ExpiryUnit::Millis,
        a if is(a, "EXAT") => ExpiryUnit::UnixSeconds,
        a if is(a, "PXAT") => ExpiryUnit::UnixMillis,
        _ => return Ok(None),
    };
    let value = int_arg(args.get(i + 1).ok_or(CommandError::Syntax)?)?;
    if value <= 0 {
        return Err(invalid_expire(command));
    }
    let at = absolute_expiry(unit, value).ok_or_else(|| invalid_expire(command))?;
    Ok(Some(at as u64))
}

fn set(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    let mut options = SetOptions::default();
    let mut expiry_given = false;
    let mut i = 3;
    while i < args.len() {
        let arg = &args[i];
        if is(arg, "NX") && options.condition == SetCondition::Always {
            options.condition = SetCondition::IfMissing;
        } else if is(arg, "XX") && options.condition == SetCondition::Always {
            options.condition = SetCondition::IfExists;
        } else if is(arg, "GET") {
            options.get = true;
        } else if is(arg, "KEEPTTL") && !expiry_given {
            options.expiry = SetExpiry::Keep;
            expiry_given = true;
        } else if let Some(at) = expiry_option(args, i, "set")? {
            if expiry_given {
                return Err(CommandError::Syntax);
            }
            options.expiry = SetExpiry::At(at);
            expiry_given = true;
            i += 1;
        } else {
            return Err(CommandError::Syntax);
        }
        i += 1;
    }
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
    let expiry = match args.len() {
        2 => SetExpiry::Keep,
        3 if is(&args[2], "PERSIST") => SetExpiry::Clear,
        4 if ["EX", "PX", "EXAT", "PXAT"].iter().any(|o| is(&args[2], o)) => {
            // Redis looks the key up before it reads the expiry value: a missing key
            // is nil whatever the value (`GETEX missing EX 0`), an existing one gets
            // the value's error.
            if ctx.server.db.get(&args[1])?.is_none() {
                return Ok(Frame::Null);
            }
            match expiry_option(args, 2, "getex")? {
                Some(at) => SetExpiry::At(at),
                None => return Err(CommandError::Syntax),
            }
        }
        _ => return Err(CommandError::Syntax),
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

const W: u32 = WRITE;
const R: u32 = READONLY;

#[rustfmt::skip]
pub const COMMANDS: &[CommandSpec] = &[
    cmd("get", 2, R | FAST, 1, 1, 1, get, "string", "Returns the string value of a key."),
    cmd("set", -3, W, 1, 1, 1, set, "string", "Sets the string value of a key, with options."),
    cmd("setnx", 3, W | FAST, 1, 1, 1, setnx, "string", "Sets a key only if it does not exist."),
    cmd("setex", 4, W, 1, 1, 1, setex, "string", "Sets a key with an expiry in seconds."),
    cmd("psetex", 4, W, 1, 1, 1, psetex, "string", "Sets a key with an expiry in milliseconds."),
    cmd("getset", 3, W | FAST, 1, 1, 1, getset, "string", "Sets a key and returns its old value."),
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
