//! Keyspace commands: existence, deletion, expiry, renaming, iteration.

use bytes::Bytes;
use ferrokv_protocol::Frame;
use ferrokv_types::{ExpireCondition, Ttl};

use super::{absolute_expiry, bulk_array, int_arg, is, text, ExpiryUnit};
use crate::command::{cmd, flags::*, CommandSpec};
use crate::context::Context;
use crate::error::{CmdResult, CommandError};

fn keys_of(args: &[Bytes]) -> Vec<&[u8]> {
    args.iter().map(|k| k.as_ref()).collect()
}

fn del(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    Ok(Frame::Integer(
        ctx.server.db.del(&keys_of(&args[1..]))? as i64
    ))
}

fn exists(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    Ok(Frame::Integer(
        ctx.server.db.exists(&keys_of(&args[1..]))? as i64
    ))
}

fn type_(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    let name = ctx
        .server
        .db
        .type_of(&args[1])?
        .map_or("none", |t| t.name());
    Ok(Frame::simple(name))
}

fn expire_generic(
    ctx: &mut Context<'_>,
    args: &[Bytes],
    unit: ExpiryUnit,
    name: &str,
) -> CmdResult {
    // Redis validates the options before the time.
    let mut condition = ExpireCondition::Always;
    for arg in &args[3..] {
        let next = match arg {
            a if is(a, "NX") => ExpireCondition::Nx,
            a if is(a, "XX") => ExpireCondition::Xx,
            a if is(a, "GT") => ExpireCondition::Gt,
            a if is(a, "LT") => ExpireCondition::Lt,
            a => return Err(CommandError::err(format!("Unsupported option {}", text(a)))),
        };
        condition = match (condition, next) {
            (ExpireCondition::Always, c) => c,
            (c, n) if c == n => c,
            (ExpireCondition::Nx, _) | (_, ExpireCondition::Nx) => {
                return Err(CommandError::err(
                    "NX and XX, GT or LT options at the same time are not compatible",
                ))
            }
            (ExpireCondition::Xx, ExpireCondition::Lt)
            | (ExpireCondition::Lt, ExpireCondition::Xx) => ExpireCondition::XxLt,
            (ExpireCondition::Xx, c) | (c, ExpireCondition::Xx) => c,
            _ => {
                return Err(CommandError::err(
                    "GT and LT options at the same time are not compatible",
                ))
            }
        };
    }
    let value = int_arg(&args[2])?;
    let at = absolute_expiry(unit, value).ok_or_else(|| super::invalid_expire(name))?;
    let applied = ctx
        .server
        .db
        .expire_at(&args[1], at.max(0) as u64, condition)?;
    Ok(Frame::Integer(applied as i64))
}

fn expire(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    expire_generic(ctx, args, ExpiryUnit::Seconds, "expire")
}

fn pexpire(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    expire_generic(ctx, args, ExpiryUnit::Millis, "pexpire")
}

fn expireat(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    expire_generic(ctx, args, ExpiryUnit::UnixSeconds, "expireat")
}

fn pexpireat(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    expire_generic(ctx, args, ExpiryUnit::UnixMillis, "pexpireat")
}

/// Shared body of TTL/PTTL/EXPIRETIME/PEXPIRETIME: -2 missing, -1 no expiry.
fn ttl_generic(ctx: &mut Context<'_>, key: &[u8], show: impl Fn(u64) -> i64) -> CmdResult {
    Ok(Frame::Integer(match ctx.server.db.ttl(key)? {
        Ttl::Missing => -2,
        Ttl::NoExpiry => -1,
        Ttl::ExpiresAt(at) => show(at),
    }))
}

fn remaining_ms(at: u64) -> i64 {
    at.saturating_sub(ferrokv_types::now_ms()) as i64
}

fn ttl(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    // Redis rounds the remaining time to the nearest second.
    ttl_generic(ctx, &args[1], |at| (remaining_ms(at) + 500) / 1000)
}

fn pttl(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    ttl_generic(ctx, &args[1], remaining_ms)
}

fn expiretime(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    ttl_generic(ctx, &args[1], |at| (at / 1000) as i64)
}

fn pexpiretime(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    ttl_generic(ctx, &args[1], |at| at as i64)
}

fn persist(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    Ok(Frame::Integer(ctx.server.db.persist(&args[1])? as i64))
}

fn rename(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    ctx.server.db.rename(&args[1], &args[2], false)?;
    Ok(Frame::ok())
}

fn renamenx(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    Ok(Frame::Integer(
        ctx.server.db.rename(&args[1], &args[2], true)? as i64,
    ))
}

fn keys(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    let visible = ctx.visible_slots();
    Ok(bulk_array(ctx.server.db.keys(&args[1], &*visible)?))
}

fn scan(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    let scan = super::scan_args(ctx, &args[1..], true)?;
    let visible = ctx.visible_slots();
    let page = ctx.server.db.scan(
        &scan.start,
        scan.pattern.as_deref(),
        scan.count,
        scan.kind.as_deref(),
        &*visible,
    )?;
    drop(visible);
    Ok(super::scan_reply(ctx, page.next, bulk_array(page.keys)))
}

fn randomkey(ctx: &mut Context<'_>, _args: &[Bytes]) -> CmdResult {
    let visible = ctx.visible_slots();
    Ok(super::bulk_or_null(ctx.server.db.random_key(&*visible)?))
}

/// `COPY source destination [DB db] [REPLACE]`. Ferrokv has one database: `DB 0` is
/// accepted, any other index gets Redis' reply for a database that does not exist.
fn copy(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    let mut replace = false;
    let mut i = 3;
    while i < args.len() {
        if is(&args[i], "REPLACE") {
            replace = true;
        } else if is(&args[i], "DB") && i + 1 < args.len() {
            let db = ferrokv_types::numbers::parse_i64(&args[i + 1])
                .filter(|n| i32::try_from(*n).is_ok())
                .ok_or(CommandError::NotInteger)?;
            if db != 0 {
                return Err(CommandError::err("DB index is out of range"));
            }
            i += 1;
        } else {
            return Err(CommandError::Syntax);
        }
        i += 1;
    }
    if args[1] == args[2] {
        return Err(CommandError::err(
            "source and destination objects are the same",
        ));
    }
    let copied = ctx.server.db.copy(&args[1], &args[2], replace)?;
    // Only the destination changes, and only when something was copied.
    ctx.touches = Some(if copied {
        vec![args[2].clone()]
    } else {
        Vec::new()
    });
    Ok(Frame::Integer(i64::from(copied)))
}

/// `DUMP key`: the value in Redis' serialization format (`ferrokv_types::dump`), nil
/// when the key is missing.
fn dump(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    Ok(match ctx.server.db.dump_value(&args[1])? {
        Some((value, _)) => Frame::bulk(ferrokv_types::dump::encode(&value)),
        None => Frame::Null,
    })
}

/// `RESTORE key ttl payload [REPLACE] [ABSTTL] [IDLETIME s] [FREQ f]`, checked in
/// Redis' order: options, BUSYKEY, TTL, payload. Ferrokv keeps no LRU/LFU state, so
/// IDLETIME and FREQ are validated and have no further effect.
fn restore(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    let (mut replace, mut absttl) = (false, false);
    let (mut idle, mut freq) = (false, false);
    let mut i = 4;
    while i < args.len() {
        let more = i + 1 < args.len();
        match &args[i] {
            a if is(a, "REPLACE") => replace = true,
            a if is(a, "ABSTTL") => absttl = true,
            a if is(a, "IDLETIME") && more && !freq => {
                if int_arg(&args[i + 1])? < 0 {
                    return Err(CommandError::err("Invalid IDLETIME value, must be >= 0"));
                }
                idle = true;
                i += 1;
            }
            a if is(a, "FREQ") && more && !idle => {
                if !(0..=255).contains(&int_arg(&args[i + 1])?) {
                    return Err(CommandError::err(
                        "Invalid FREQ value, must be >= 0 and <= 255",
                    ));
                }
                freq = true;
                i += 1;
            }
            _ => return Err(CommandError::Syntax),
        }
        i += 1;
    }
    let key = &args[1];
    let busy = || CommandError::Prefixed("BUSYKEY", "Target key name already exists.".to_string());
    if !replace && ctx.server.db.exists(&[key.as_ref()])? > 0 {
        return Err(busy());
    }
    let ttl = int_arg(&args[2])?;
    if ttl < 0 {
        return Err(CommandError::err("Invalid TTL value, must be >= 0"));
    }
    let value = ferrokv_types::dump::decode(&args[3]).map_err(|e| match e {
        ferrokv_types::dump::PayloadError::VersionOrChecksum => {
            CommandError::err("DUMP payload version or checksum are wrong")
        }
        ferrokv_types::dump::PayloadError::BadFormat => CommandError::err("Bad data format"),
    })?;
    let expire_at = match ttl {
        0 => 0,
        t if absttl => t,
        t => t.saturating_add(ferrokv_types::now_ms() as i64),
    };
    if expire_at != 0 && expire_at <= ferrokv_types::now_ms() as i64 {
        // Already expired: nothing is created, and REPLACE still removes the old key.
        if replace {
            ctx.server.db.del(&[key.as_ref()])?;
        } else {
            ctx.touches = Some(Vec::new());
        }
        return Ok(Frame::ok());
    }
    if !ctx
        .server
        .db
        .restore_value(key, &value, expire_at as u64, replace)?
    {
        return Err(busy());
    }
    Ok(Frame::ok())
}

/// `RDB LOAD path [NX] [DB index]`, Kvrocks' (`src/commands/cmd_server.cc`,
/// `CommandRdb`): loads the keys of database `index` (0 by default) from a Redis RDB
/// file on this node's file system, replacing keys of the same name unless NX (which
/// keeps them); keys already expired are left out. Outside a cluster only: a cluster
/// node would hold keys of slots it does not serve. Errors: Kvrocks' "ERR unknown
/// subcommand", the file's I/O error, "ERR Bad data format" or "ERR DUMP payload
/// version or checksum are wrong" for a file it cannot read (keys before the fault stay
/// loaded, as in Kvrocks).
fn rdb(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    if !is(&args[1], "LOAD") {
        return Err(CommandError::err("unknown subcommand"));
    }
    let path = super::option_value(args, 2)?;
    let (mut replace, mut db) = (true, 0u64);
    let mut i = 3;
    while i < args.len() {
        if is(&args[i], "NX") {
            replace = false;
            i += 1;
        } else if is(&args[i], "DB") {
            let index = super::option_value(args, i + 1)?;
            db = u64::try_from(int_arg(index)?).map_err(|_| CommandError::NotInteger)?;
            i += 2;
        } else {
            return Err(CommandError::Syntax);
        }
    }
    if ctx.server.cluster_enabled() {
        return Err(CommandError::err(
            "RDB LOAD is not available in cluster mode",
        ));
    }
    let path =
        std::path::Path::new(<std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(path));
    let cannot = |why: String| CommandError::err(format!("cannot read {}: {why}", path.display()));
    // Checked before opening: a FIFO blocks the open itself, a device (/dev/zero) would
    // be read without end.
    let meta = std::fs::metadata(path).map_err(|e| cannot(e.to_string()))?;
    if !meta.is_file() {
        return Err(cannot("not a regular file".into()));
    }
    // One handle for the magic (a large file that is no RDB file is not read whole) and
    // the rest.
    use std::io::Read;
    let mut file = std::fs::File::open(path).map_err(|e| cannot(e.to_string()))?;
    let mut data = vec![0u8; 5];
    file.read_exact(&mut data)
        .map_err(|_| CommandError::err("Bad data format"))?;
    if data != b"REDIS" {
        return Err(CommandError::err("Bad data format"));
    }
    file.read_to_end(&mut data)
        .map_err(|e| cannot(e.to_string()))?;
    let database = &ctx.server.db;
    let now = ferrokv_types::now_ms();
    let mut loaded = Vec::new();
    let outcome = ferrokv_types::dump::parse_rdb(&data, |entry| {
        // Redis reads the expiry as signed: 2^63 and above are in the past.
        let expired =
            entry.expire_ms != 0 && (entry.expire_ms <= now || entry.expire_ms > i64::MAX as u64);
        if entry.db != db || expired {
            return Ok(());
        }
        if database.restore_value(&entry.key, &entry.value, entry.expire_ms, replace)? {
            loaded.push(Bytes::from(entry.key));
        }
        Ok::<(), ferrokv_types::TypeError>(())
    });
    ctx.touches = Some(loaded);
    match outcome {
        Ok(written) => written?,
        Err(ferrokv_types::dump::PayloadError::VersionOrChecksum) => {
            return Err(CommandError::err(
                "DUMP payload version or checksum are wrong",
            ))
        }
        Err(ferrokv_types::dump::PayloadError::BadFormat) => {
            return Err(CommandError::err("Bad data format"))
        }
    }
    Ok(Frame::ok())
}

const W: u32 = WRITE;
const R: u32 = READONLY;

#[rustfmt::skip]
pub const COMMANDS: &[CommandSpec] = &[
    cmd("del", -2, W, 1, -1, 1, del, "generic", "Deletes keys."),
    cmd("unlink", -2, W | FAST, 1, -1, 1, del, "generic", "Deletes keys (reclaimed in the background)."),
    cmd("exists", -2, R | FAST, 1, -1, 1, exists, "generic", "Counts the given keys that exist."),
    cmd("type", 2, R | FAST, 1, 1, 1, type_, "generic", "Returns the type of a key."),
    cmd("expire", -3, W | FAST, 1, 1, 1, expire, "generic", "Sets a key's time to live in seconds."),
    cmd("pexpire", -3, W | FAST, 1, 1, 1, pexpire, "generic", "Sets a key's time to live in milliseconds."),
    cmd("expireat", -3, W | FAST, 1, 1, 1, expireat, "generic", "Sets a key's expiry as a Unix time in seconds."),
    cmd("pexpireat", -3, W | FAST, 1, 1, 1, pexpireat, "generic", "Sets a key's expiry as a Unix time in milliseconds."),
    cmd("ttl", 2, R | FAST, 1, 1, 1, ttl, "generic", "Returns a key's time to live in seconds."),
    cmd("pttl", 2, R | FAST, 1, 1, 1, pttl, "generic", "Returns a key's time to live in milliseconds."),
    cmd("expiretime", 2, R | FAST, 1, 1, 1, expiretime, "generic", "Returns a key's expiry as a Unix time in seconds."),
    cmd("pexpiretime", 2, R | FAST, 1, 1, 1, pexpiretime, "generic", "Returns a key's expiry as a Unix time in milliseconds."),
    cmd("persist", 2, W | FAST, 1, 1, 1, persist, "generic", "Removes a key's expiry."),
    cmd("dump", 2, R, 1, 1, 1, dump, "generic", "Serializes a key's value in Redis' DUMP format."),
    cmd("restore", -4, W, 1, 1, 1, restore, "generic", "Creates a key from a DUMP payload."),
    cmd("rdb", -3, W | ADMIN | NO_MULTI, 0, 0, 0, rdb, "server", "Loads the keys of a Redis RDB file (LOAD; Kvrocks)."),
    cmd("copy", -3, W, 1, 2, 1, copy, "generic", "Copies a key's value and expiry to another key."),
    cmd("rename", 3, W, 1, 2, 1, rename, "generic", "Renames a key."),
    cmd("renamenx", 3, W | FAST, 1, 2, 1, renamenx, "generic", "Renames a key if the new name is free."),
    cmd("keys", 2, R, 0, 0, 0, keys, "generic", "Returns the keys matching a pattern."),
    cmd("scan", -2, R, 0, 0, 0, scan, "generic", "Iterates over the keys."),
    cmd("randomkey", 1, R, 0, 0, 0, randomkey, "generic", "Returns a random key."),
];
