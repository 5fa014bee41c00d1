//! Bitmap commands: bit operations on string values.

use bytes::Bytes;
use ferrokv_protocol::Frame;
use ferrokv_types::{BitOp, BitRange, BitfieldAction, BitfieldOp, Overflow};

use super::{int_arg, is};
use crate::command::{cmd, flags::*, CommandSpec};
use crate::context::Context;
use crate::error::{CmdResult, CommandError};

fn offset_error() -> CommandError {
    CommandError::err("bit offset is not an integer or out of range")
}

/// Parses a bit offset as Redis does: a non-negative integer whose byte fits in
/// `proto-max-bulk-len`; with `field_bits`, `#n` means `n * field_bits` (BITFIELD).
fn bit_offset(ctx: &Context<'_>, arg: &[u8], field_bits: Option<u32>) -> Result<u64, CommandError> {
    let (digits, multiply) = match (arg.first(), field_bits) {
        (Some(b'#'), Some(bits)) => (&arg[1..], bits),
        _ => (arg, 1),
    };
    let offset = ferrokv_types::numbers::parse_i64(digits)
        .and_then(|n| n.checked_mul(i64::from(multiply)))
        .filter(|n| *n >= 0)
        .ok_or_else(offset_error)? as u64;
    let max_bulk = ctx.server.config.read().proto_max_bulk_len.max(1) as u64;
    if offset >> 3 >= max_bulk {
        return Err(offset_error());
    }
    Ok(offset)
}

fn setbit(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    let offset = bit_offset(ctx, &args[2], None)?;
    let on = match ferrokv_types::numbers::parse_i64(&args[3]) {
        Some(0) => false,
        Some(1) => true,
        _ => return Err(CommandError::err("bit is not an integer or out of range")),
    };
    Ok(Frame::Integer(i64::from(
        ctx.server.db.setbit(&args[1], offset, on)?,
    )))
}

fn getbit(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    let offset = bit_offset(ctx, &args[2], None)?;
    Ok(Frame::Integer(i64::from(
        ctx.server.db.getbit(&args[1], offset)?,
    )))
}

/// `BYTE | BIT`: true for bits.
fn unit(arg: &[u8]) -> Result<bool, CommandError> {
    if is(arg, "BIT") {
        Ok(true)
    } else if is(arg, "BYTE") {
        Ok(false)
    } else {
        Err(CommandError::Syntax)
    }
}

fn bitcount(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    let range = match args.len() {
        2 => None,
        4 | 5 => Some(BitRange {
            start: int_arg(&args[2])?,
            end: Some(int_arg(&args[3])?),
            in_bits: args.get(4).map(|u| unit(u)).transpose()?.unwrap_or(false),
        }),
        _ => return Err(CommandError::Syntax),
    };
    Ok(Frame::Integer(
        ctx.server.db.bitcount(&args[1], range)? as i64
    ))
}

fn bitpos(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    let bit = match int_arg(&args[2])? {
        0 => false,
        1 => true,
        _ => return Err(CommandError::err("The bit argument must be 1 or 0.")),
    };
    let range = match args.len() {
        3 => None,
        4..=6 => Some(BitRange {
            start: int_arg(&args[3])?,
            in_bits: args.get(5).map(|u| unit(u)).transpose()?.unwrap_or(false),
            end: args.get(4).map(|e| int_arg(e)).transpose()?,
        }),
        _ => return Err(CommandError::Syntax),
    };
    Ok(Frame::Integer(ctx.server.db.bitpos(&args[1], bit, range)?))
}

fn bitop(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    let op = match &args[1] {
        a if is(a, "AND") => BitOp::And,
        a if is(a, "OR") => BitOp::Or,
        a if is(a, "XOR") => BitOp::Xor,
        a if is(a, "NOT") => BitOp::Not,
        _ => return Err(CommandError::Syntax),
    };
    let sources: Vec<&[u8]> = args[3..].iter().map(|a| a.as_ref()).collect();
    if op == BitOp::Not && sources.len() != 1 {
        return Err(CommandError::err(
            "BITOP NOT must be called with a single source key.",
        ));
    }
    Ok(Frame::Integer(
        ctx.server.db.bitop(op, &args[2], &sources)? as i64
    ))
}

/// `i<bits>` (1..=64) or `u<bits>` (1..=63).
fn field_type(arg: &[u8]) -> Result<(bool, u32), CommandError> {
    let invalid = || {
        CommandError::err(
            "Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.",
        )
    };
    let signed = match arg.first() {
        Some(b'i') => true,
        Some(b'u') => false,
        _ => return Err(invalid()),
    };
    let bits = ferrokv_types::numbers::parse_i64(&arg[1..]).ok_or_else(invalid)?;
    let max = if signed { 64 } else { 63 };
    if !(1..=max).contains(&bits) {
        return Err(invalid());
    }
    Ok((signed, bits as u32))
}

fn bitfield_generic(ctx: &mut Context<'_>, args: &[Bytes], read_only: bool) -> CmdResult {
    let mut ops = Vec::new();
    let mut overflow = Overflow::Wrap;
    let mut i = 2;
    while i < args.len() {
        let remaining = args.len() - i - 1;
        let sub = &args[i];
        let action_arity = if is(sub, "GET") && remaining >= 2 {
            0
        } else if (is(sub, "SET") || is(sub, "INCRBY")) && remaining >= 3 {
            1
        } else if is(sub, "OVERFLOW") && remaining >= 1 {
            let kind = &args[i + 1];
            overflow = if is(kind, "WRAP") {
                Overflow::Wrap
            } else if is(kind, "SAT") {
                Overflow::Sat
            } else if is(kind, "FAIL") {
                Overflow::Fail
            } else {
                return Err(CommandError::err("Invalid OVERFLOW type specified"));
            };
            i += 2;
            continue;
        } else {
            return Err(CommandError::Syntax);
        };
        let (signed, bits) = field_type(&args[i + 1])?;
        let offset = bit_offset(ctx, &args[i + 2], Some(bits))?;
        let action = if action_arity == 0 {
            BitfieldAction::Get
        } else {
            let value = int_arg(&args[i + 3])?;
            if is(sub, "SET") {
                BitfieldAction::Set(value)
            } else {
                BitfieldAction::IncrBy(value)
            }
        };
        ops.push(BitfieldOp {
            action,
            signed,
            bits,
            offset,
            overflow,
        });
        i += 3 + action_arity;
    }
    if read_only && ops.iter().any(|op| op.action != BitfieldAction::Get) {
        return Err(CommandError::err(
            "BITFIELD_RO only supports the GET subcommand",
        ));
    }
    let replies = ctx.server.db.bitfield(&args[1], &ops)?;
    Ok(Frame::Array(
        replies
            .into_iter()
            .map(|r| r.map_or(Frame::Null, Frame::Integer))
            .collect(),
    ))
}

fn bitfield(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    bitfield_generic(ctx, args, false)
}

fn bitfield_ro(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    bitfield_generic(ctx, args, true)
}

const W: u32 = WRITE;
const R: u32 = READONLY;

#[rustfmt::skip]
pub const COMMANDS: &[CommandSpec] = &[
    cmd("setbit", 4, W, 1, 1, 1, setbit, "bitmap", "Sets or clears a bit and returns its old value."),
    cmd("getbit", 3, R | FAST, 1, 1, 1, getbit, "bitmap", "Returns a bit."),
    cmd("bitcount", -2, R, 1, 1, 1, bitcount, "bitmap", "Counts the set bits of a string or range."),
    cmd("bitpos", -3, R, 1, 1, 1, bitpos, "bitmap", "Finds the first set or clear bit."),
    cmd("bitop", -4, W, 2, -1, 1, bitop, "bitmap", "Combines strings bitwise into a key."),
    cmd("bitfield", -2, W, 1, 1, 1, bitfield, "bitmap", "Reads and writes integer fields of a string."),
    cmd("bitfield_ro", -2, R | FAST, 1, 1, 1, bitfield_ro, "bitmap", "Reads integer fields of a string."),
];
