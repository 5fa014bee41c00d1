//! MULTI/EXEC/DISCARD/WATCH/UNWATCH.

use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use ferrokv_protocol::Frame;
use ferrokv_types::Ttl;

use crate::blocking::{BlockSpec, OnTimeout};
use crate::client::{Action, Client, MultiState};
use crate::command::{cmd, flags::*, CommandSpec};
use crate::context::Context;
use crate::error::{CmdResult, CommandError};
use crate::server::Server;

fn multi(ctx: &mut Context<'_>, _args: &[Bytes]) -> CmdResult {
    if ctx.client.multi.is_some() {
        return Err(CommandError::err("MULTI calls can not be nested"));
    }
    ctx.client.multi = Some(MultiState::default());
    ctx.client.info.in_multi.store(true, Ordering::Relaxed);
    Ok(Frame::ok())
}

/// Forgets the transaction and the watched keys.
fn end_transaction(ctx: &mut Context<'_>) -> Option<MultiState> {
    ctx.client.info.in_multi.store(false, Ordering::Relaxed);
    unwatch_all(ctx);
    ctx.client.multi.take()
}

fn unwatch_all(ctx: &mut Context<'_>) {
    let watched = std::mem::take(&mut ctx.client.watched);
    ctx.server.watches.unwatch(ctx.client.id(), &watched);
    ctx.client.watch_dirty.store(false, Ordering::Relaxed);
    ctx.client.watch_expiry = None;
}

/// Ends the connection's transaction from outside a command (EXEC held at a fence past
/// its deadline).
pub fn discard_transaction(server: &Server, client: &mut Client) {
    client.info.in_multi.store(false, Ordering::Relaxed);
    let watched = std::mem::take(&mut client.watched);
    server.watches.unwatch(client.id(), &watched);
    client.watch_dirty.store(false, Ordering::Relaxed);
    client.watch_expiry = None;
    client.multi = None;
}

fn exec(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    let server = ctx.server.clone();
    // Exclusive: no other command runs while the queued ones do.
    let _gate = server.exec_gate.write();
    let expired = ctx
        .client
        .watch_expiry
        .is_some_and(|at| at <= ferrokv_types::now_ms());
    let dirty = ctx.client.watch_dirty.load(Ordering::Relaxed) || expired;
    let Some(state) = ctx.client.multi.as_ref() else {
        return Err(CommandError::err("EXEC without MULTI"));
    };
    if state.aborted {
        end_transaction(ctx);
        return Err(CommandError::ExecAbort);
    }
    if dirty {
        end_transaction(ctx);
        return Ok(Frame::NullArray);
    }
    let mut commands = Vec::with_capacity(state.queued.len());
    let mut unknown = None;
    for queued in &state.queued {
        match queued.args.first().and_then(|name| super::TABLE.get(name)) {
            Some(spec) => commands.push((spec, queued.args.clone())),
            None => unknown = Some(CommandError::unknown_command(&queued.args)),
        }
    }
    // The node may have become a replica since the commands were queued: a write must
    // not run then (it would make this node diverge from its new master; Redis refuses
    // EXEC the same way).
    if let Some(error) = commands
        .iter()
        .find_map(|(spec, _)| crate::replication::gate(&server, spec).err())
    {
        end_transaction(ctx);
        return Err(error);
    }
    if let Some(error) = unknown {
        end_transaction(ctx);
        return Err(error);
    }
    // Routing may have changed since the commands were queued (a migration fenced or
    // moved a slot): under the exclusive gate, check again before running any of them.
    // A fenced slot holds EXEC like a plain write, the transaction still open.
    if let Some(cluster) = server.cluster.as_ref() {
        for (spec, queued) in &commands {
            let keys = spec.key_positions(queued);
            let routed = cluster.route(
                ctx.client,
                spec.has(WRITE) || spec.has(MAY_WRITE),
                server.replication.serving_reads(),
                keys.iter().filter_map(|&i| queued.get(i)),
            );
            match routed {
                Ok(()) => {}
                Err(e) if e.is_fenced() && !ctx.in_exec => {
                    let fence_max = server.config.read().migrate_fence_max_ms.max(1);
                    ctx.client.action = Some(Action::Block(BlockSpec::at_fence(
                        args.to_vec(),
                        Duration::from_millis(fence_max),
                        OnTimeout::DiscardTransaction,
                    )));
                    return Ok(Frame::Null);
                }
                Err(e) => {
                    end_transaction(ctx);
                    return Err(e);
                }
            }
        }
    }
    end_transaction(ctx);
    ctx.in_exec = true;
    let replies = commands
        .into_iter()
        .map(|(spec, args)| spec.run(ctx, &args))
        .collect();
    ctx.in_exec = false;
    Ok(Frame::Array(replies))
}

fn discard(ctx: &mut Context<'_>, _args: &[Bytes]) -> CmdResult {
    if ctx.client.multi.is_none() {
        return Err(CommandError::err("DISCARD without MULTI"));
    }
    end_transaction(ctx);
    Ok(Frame::ok())
}

fn watch(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    if ctx.client.multi.is_some() {
        return Err(CommandError::err("WATCH inside MULTI is not allowed"));
    }
    for key in &args[1..] {
        if !ctx.client.watched.iter().any(|k| k == key) {
            ctx.server
                .watches
                .watch(ctx.client.id(), &ctx.client.watch_dirty, key);
            ctx.client.watched.push(key.to_vec());
            // Registered first: a write between the two is seen by the registration.
            if let Ttl::ExpiresAt(at) = ctx.server.db.ttl(key)? {
                let earliest = ctx.client.watch_expiry.map_or(at, |e| e.min(at));
                ctx.client.watch_expiry = Some(earliest);
            }
        }
    }
    Ok(Frame::ok())
}

fn unwatch(ctx: &mut Context<'_>, _args: &[Bytes]) -> CmdResult {
    unwatch_all(ctx);
    Ok(Frame::ok())
}

#[rustfmt::skip]
pub const COMMANDS: &[CommandSpec] = &[
    cmd("multi", 1, FAST | NO_QUEUE, 0, 0, 0, multi, "transactions", "Starts a transaction."),
    cmd("exec", 1, NO_QUEUE, 0, 0, 0, exec, "transactions", "Executes the queued commands."),
    cmd("discard", 1, FAST | NO_QUEUE, 0, 0, 0, discard, "transactions", "Discards the queued commands."),
    cmd("watch", -2, FAST | NO_QUEUE, 1, -1, 1, watch, "transactions", "Watches keys for an optimistic transaction."),
    cmd("unwatch", 1, FAST | NO_QUEUE, 0, 0, 0, unwatch, "transactions", "Forgets the watched keys."),
];
