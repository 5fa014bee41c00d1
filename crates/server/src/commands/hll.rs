//! HyperLogLog commands.

use bytes::Bytes;
use ferrokv_protocol::Frame;

use crate::command::{cmd, flags::*, CommandSpec};
use crate::context::Context;
use crate::error::CmdResult;

fn refs(args: &[Bytes]) -> Vec<&[u8]> {
    args.iter().map(|a| a.as_ref()).collect()
}

fn pfadd(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    let changed = ctx.server.db.pfadd(&args[1], &refs(&args[2..]))?;
    Ok(Frame::Integer(i64::from(changed)))
}

fn pfcount(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    Ok(Frame::Integer(
        ctx.server.db.pfcount(&refs(&args[1..]))? as i64
    ))
}

fn pfmerge(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    ctx.server.db.pfmerge(&args[1], &refs(&args[2..]))?;
    Ok(Frame::ok())
}

const W: u32 = WRITE;
const R: u32 = READONLY;

#[rustfmt::skip]
pub const COMMANDS: &[CommandSpec] = &[
    cmd("pfadd", -2, W | FAST, 1, 1, 1, pfadd, "hyperloglog", "Adds elements to a HyperLogLog."),
    cmd("pfcount", -2, R, 1, -1, 1, pfcount, "hyperloglog", "Estimates the cardinality of HyperLogLogs."),
    cmd("pfmerge", -2, W, 1, -1, 1, pfmerge, "hyperloglog", "Merges HyperLogLogs into a key."),
];
