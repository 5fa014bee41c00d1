//! Pub/Sub commands: (P|S)SUBSCRIBE, (P|S)UNSUBSCRIBE, PUBLISH, SPUBLISH, PUBSUB.
//! Replies follow Redis 7 (src/pubsub.c): one confirmation per channel, counts of
//! channels and patterns together and of shard channels on their own. Shard channels
//! are the keys of SSUBSCRIBE, SUNSUBSCRIBE and SPUBLISH, so cluster routing sends
//! them to the slot's node (MOVED, CROSSSLOT) like any keyed command.

use bytes::Bytes;
use ferrokv_protocol::Frame;

use super::{is, text};
use crate::command::{cmd, flags::*, CommandSpec};
use crate::context::Context;
use crate::error::{CmdResult, CommandError};
use crate::pubsub::Kind;

fn subscribe_to(ctx: &mut Context<'_>, args: &[Bytes], kind: Kind) -> CmdResult {
    let client = ctx.client.id();
    let registry = &ctx.server.pubsub;
    let confirmations = args[1..]
        .iter()
        .map(|name| ctx.client.pubsub.subscribe(registry, client, kind, name))
        .collect();
    Ok(Frame::Replies(confirmations))
}

fn unsubscribe_from(ctx: &mut Context<'_>, args: &[Bytes], kind: Kind) -> CmdResult {
    let client = ctx.client.id();
    let confirmations = ctx
        .client
        .pubsub
        .unsubscribe(&ctx.server.pubsub, client, kind, &args[1..]);
    Ok(Frame::Replies(confirmations))
}

fn subscribe(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    subscribe_to(ctx, args, Kind::Channel)
}

fn psubscribe(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    subscribe_to(ctx, args, Kind::Pattern)
}

fn ssubscribe(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    subscribe_to(ctx, args, Kind::Shard)
}

fn unsubscribe(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    unsubscribe_from(ctx, args, Kind::Channel)
}

fn punsubscribe(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    unsubscribe_from(ctx, args, Kind::Pattern)
}

fn sunsubscribe(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    unsubscribe_from(ctx, args, Kind::Shard)
}

fn publish(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    Ok(Frame::Integer(
        ctx.server.pubsub.publish(&args[1], &args[2]) as i64,
    ))
}

/// `MPUBLISH channel message [message ...]`, Kvrocks' extension
/// (`src/commands/cmd_pubsub.cc`): each message in turn, as PUBLISH; replies the sum of
/// the receivers.
fn mpublish(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    let receivers: usize = args[2..]
        .iter()
        .map(|message| ctx.server.pubsub.publish(&args[1], message))
        .sum();
    Ok(Frame::Integer(receivers as i64))
}

fn spublish(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    Ok(Frame::Integer(
        ctx.server.pubsub.spublish(&args[1], &args[2]) as i64,
    ))
}

const PUBSUB_HELP: &[&str] = &[
    "PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CHANNELS [<pattern>]",
    "    Return the currently active channels matching a <pattern> (default: '*').",
    "NUMPAT",
    "    Return number of subscriptions to patterns.",
    "NUMSUB [<channel> ...]",
    "    Return the number of subscribers for the specified channels, excluding",
    "    pattern subscriptions(default: no channels).",
    "SHARDCHANNELS [<pattern>]",
    "    Return the currently active shard level channels matching a <pattern> (default: '*').",
    "SHARDNUMSUB [<shardchannel> ...]",
    "    Return the number of subscribers for the specified shard level channel(s)",
    "HELP",
    "    Prints this help.",
];

fn pubsub(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    let sub = &args[1];
    let registry = &ctx.server.pubsub;
    let arity = |name: &str| CommandError::WrongArity(format!("pubsub|{name}"));
    let list = |kind: Kind| {
        if args.len() > 3 {
            return Err(CommandError::err(format!(
                "unknown subcommand or wrong number of arguments for '{}'. Try PUBSUB HELP.",
                text(sub)
            )));
        }
        let mut channels = registry.active(kind, args.get(2).map(|p| p.as_ref()));
        channels.sort();
        Ok(Frame::Array(
            channels.into_iter().map(Frame::Bulk).collect(),
        ))
    };
    let counts = |kind: Kind| {
        Frame::Array(
            args[2..]
                .iter()
                .flat_map(|name| {
                    [
                        Frame::Bulk(name.clone()),
                        Frame::Integer(registry.subscribers(kind, name) as i64),
                    ]
                })
                .collect(),
        )
    };
    if is(sub, "HELP") {
        if args.len() != 2 {
            return Err(arity("help"));
        }
        return Ok(Frame::Array(
            PUBSUB_HELP.iter().map(|line| Frame::simple(line)).collect(),
        ));
    }
    if is(sub, "CHANNELS") {
        return list(Kind::Channel);
    }
    if is(sub, "SHARDCHANNELS") {
        return list(Kind::Shard);
    }
    if is(sub, "NUMSUB") {
        return Ok(counts(Kind::Channel));
    }
    if is(sub, "SHARDNUMSUB") {
        return Ok(counts(Kind::Shard));
    }
    if is(sub, "NUMPAT") {
        if args.len() != 2 {
            return Err(arity("numpat"));
        }
        return Ok(Frame::Integer(registry.pattern_count() as i64));
    }
    Err(CommandError::UnknownSubcommand {
        command: "PUBSUB",
        sub: text(sub),
    })
}

/// Allowed on a RESP2 connection that is subscribed (see `dispatch`).
const S: u32 = SUBSCRIBED_CONTEXT;

#[rustfmt::skip]
pub const COMMANDS: &[CommandSpec] = &[
    cmd("subscribe", -2, S | LOADING | STALE, 0, 0, 0, subscribe, "pubsub", "Listens for messages published to channels."),
    cmd("psubscribe", -2, S | LOADING | STALE, 0, 0, 0, psubscribe, "pubsub", "Listens for messages published to channels matching patterns."),
    cmd("ssubscribe", -2, S | LOADING | STALE, 1, -1, 1, ssubscribe, "pubsub", "Listens for messages published to shard channels."),
    cmd("unsubscribe", -1, S | LOADING | STALE, 0, 0, 0, unsubscribe, "pubsub", "Stops listening to channels."),
    cmd("punsubscribe", -1, S | LOADING | STALE, 0, 0, 0, punsubscribe, "pubsub", "Stops listening to channel patterns."),
    cmd("sunsubscribe", -1, S | LOADING | STALE, 1, -1, 1, sunsubscribe, "pubsub", "Stops listening to shard channels."),
    cmd("publish", 3, LOADING | STALE | FAST, 0, 0, 0, publish, "pubsub", "Posts a message to a channel (this node's subscribers)."),
    cmd("mpublish", -3, LOADING | STALE | FAST, 0, 0, 0, mpublish, "pubsub", "Posts several messages to a channel in turn (Kvrocks)."),
    cmd("spublish", 3, LOADING | STALE | FAST, 1, 1, 1, spublish, "pubsub", "Posts a message to a shard channel."),
    cmd("pubsub", -2, LOADING | STALE, 0, 0, 0, pubsub, "pubsub", "Lists channels and counts subscribers."),
];
