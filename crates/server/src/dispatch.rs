//! From a parsed request to a reply: lookup, arity, authentication, routing, MULTI
//! queueing, and execution under the exec gate (a write held at a cut-over fence waits
//! in the connection, see `migration::fence`).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use ferrokv_protocol::Frame;

use crate::blocking::{BlockSpec, OnTimeout};
use crate::client::{Action, Client, Queued};
use crate::command::{flags, CommandSpec};
use crate::context::Context;
use crate::error::CommandError;
use crate::server::Server;

/// Executes one request and returns its reply.
pub fn execute(server: &Arc<Server>, client: &mut Client, args: Vec<Bytes>) -> Frame {
    server
        .stats
        .commands_processed
        .fetch_add(1, Ordering::Relaxed);
    // Shared from routing to the end of execution: a fence or a capture registration
    // (which take it exclusively) can never fall between the routing decision and the
    // write it allowed.
    let gate = match crate::commands::shared_gate(server, &args) {
        Ok(gate) => gate,
        Err(e) => {
            crate::measure::rejected(server, &args, &e);
            return e.into();
        }
    };
    let spec = match check(server, client, &args) {
        Ok(spec) => spec,
        Err(e) if e.is_fenced() => {
            // Held until the cut-over ends, then routed again (MOVED, executed, or
            // queued in MULTI).
            let fence_max = server.config.read().migrate_fence_max_ms.max(1);
            let on_timeout = if client.multi.is_some() {
                OnTimeout::AbortTransaction
            } else {
                OnTimeout::Reply
            };
            client.action = Some(Action::Block(BlockSpec::at_fence(
                args,
                Duration::from_millis(fence_max),
                on_timeout,
            )));
            return Frame::Null;
        }
        Err(e) => {
            if let Some(multi) = client.multi.as_mut() {
                multi.aborted = true;
            }
            crate::measure::rejected(server, &args, &e);
            return e.into();
        }
    };
    *client.info.last_command.lock() = spec.name;
    if client.multi.is_some() && !spec.has(flags::NO_QUEUE) {
        if spec.has(flags::NO_MULTI) {
            if let Some(multi) = client.multi.as_mut() {
                multi.aborted = true;
            }
            return CommandError::err("Command not allowed inside a transaction").into();
        }
        if let Some(multi) = client.multi.as_mut() {
            multi.queued.push(Queued { args });
        }
        return Frame::simple("QUEUED");
    }
    let mut ctx = Context {
        server,
        client,
        in_exec: false,
        touches: None,
    };
    if spec.has(flags::NO_QUEUE) || spec.has(flags::OWN_GATE) {
        // Transaction control (EXEC, DISCARD, ...) and scripts take the gate
        // themselves.
        drop(gate);
    }
    let reply = spec.run(&mut ctx, &args);
    if let Some(Action::Block(block)) = client.action.as_mut() {
        block.retry_args.get_or_insert(args);
    }
    reply
}

/// The checks that come before a command may run or be queued.
fn check(
    server: &Server,
    client: &mut Client,
    args: &[Bytes],
) -> Result<&'static CommandSpec, CommandError> {
    let name = args.first().map(Bytes::as_ref).unwrap_or_default();
    let spec = crate::commands::TABLE.get(name);
    if !client.authenticated && !spec.is_some_and(|s| s.has(flags::NO_AUTH)) {
        return Err(CommandError::NoAuth);
    }
    let spec = spec.ok_or_else(|| CommandError::unknown_command(args))?;
    if !spec.arity_ok(args.len()) {
        return Err(CommandError::WrongArity(spec.name.to_string()));
    }
    if let Some(cluster) = server.cluster.as_ref() {
        let keys = spec.key_positions(args);
        cluster.route(
            client,
            spec.has(flags::WRITE) || spec.has(flags::MAY_WRITE),
            server.replication.serving_reads(),
            keys.iter().filter_map(|&i| args.get(i)),
        )?;
    }
    // A subscribed RESP2 connection can only read messages and manage its
    // subscriptions (RESP3 pushes travel beside replies, so it may do anything).
    if client.protocol == ferrokv_protocol::ProtocolVersion::Resp2
        && client.pubsub.active()
        && !spec.has(flags::SUBSCRIBED_CONTEXT)
    {
        return Err(CommandError::err(format!(
            "Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context",
            full_name(spec, args)
        )));
    }
    crate::replication::gate(server, spec)?;
    Ok(spec)
}

/// Commands Redis 7 declares as containers of subcommands: errors name them
/// `command|subcommand`.
const CONTAINERS: &[&str] = &[
    "client", "cluster", "command", "config", "memory", "object", "pubsub", "slowlog", "xgroup",
    "xinfo",
];

/// Redis' full name of a command: `client|info` for a container's subcommand.
fn full_name(spec: &CommandSpec, args: &[Bytes]) -> String {
    match args.get(1) {
        Some(sub) if CONTAINERS.contains(&spec.name) => format!(
            "{}|{}",
            spec.name,
            String::from_utf8_lossy(sub).to_ascii_lowercase()
        ),
        _ => spec.name.to_string(),
    }
}

/// Commands a pipeline may carry in runs that are served together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Batchable {
    /// `GET key`: one multi-get for the run.
    Get,
    /// `SET key value` without options: one write batch for the run.
    Set,
}

impl Batchable {
    pub fn of(args: &[Bytes]) -> Option<Batchable> {
        match args {
            [name, _] if name.eq_ignore_ascii_case(b"GET") => Some(Batchable::Get),
            [name, _, _] if name.eq_ignore_ascii_case(b"SET") => Some(Batchable::Set),
            _ => None,
        }
    }
}

/// Serves a run of pipelined plain GETs or plain SETs with one storage operation: each
/// request gets its own reply, in order.
/// A run of SETs is one atomic batch written under the key locks, so it is
/// indistinguishable from the same SETs applied one after another.
pub fn execute_run(
    server: &Arc<Server>,
    client: &mut Client,
    kind: Batchable,
    requests: &[Vec<Bytes>],
) -> Vec<Frame> {
    // Transactions queue, cluster mode routes each request on its own, and a replica
    // checks each (it refuses writes).
    if client.multi.is_some() || server.cluster.is_some() || server.replication.is_replica() {
        return requests
            .iter()
            .map(|args| execute(server, client, args.clone()))
            .collect();
    }
    server
        .stats
        .commands_processed
        .fetch_add(requests.len() as u64, Ordering::Relaxed);
    if !client.authenticated {
        return requests
            .iter()
            .map(|_| CommandError::NoAuth.into())
            .collect();
    }
    // `Batchable::of` matched name and arity; without cluster routing there is nothing
    // else to check.
    let _gate = match crate::commands::shared_gate(server, &requests[0]) {
        Ok(gate) => gate,
        Err(e) => return vec![Frame::from(e); requests.len()],
    };
    let name = if kind == Batchable::Get { "get" } else { "set" };
    *client.info.last_command.lock() = name;
    let started = std::time::Instant::now();
    let replies = match kind {
        Batchable::Get => {
            let keys: Vec<&[u8]> = requests.iter().map(|args| args[1].as_ref()).collect();
            match server.db.counting_lookups(|| server.db.get_many(&keys)) {
                Ok(values) => values
                    .into_iter()
                    .map(|value| match value {
                        Ok(v) => crate::commands::bulk_or_null(v),
                        Err(e) => CommandError::from(e).into(),
                    })
                    .collect(),
                Err(e) => vec![CommandError::from(e).into(); requests.len()],
            }
        }
        Batchable::Set => {
            let pairs: Vec<(&[u8], &[u8])> = requests
                .iter()
                .map(|args| (args[1].as_ref(), args[2].as_ref()))
                .collect();
            let reply = match server.db.mset(&pairs, false) {
                Ok(_) => {
                    for (key, _) in &pairs {
                        server.touched(key);
                    }
                    Frame::ok()
                }
                Err(e) => CommandError::from(e).into(),
            };
            vec![reply; requests.len()]
        }
    };
    crate::measure::batch(server, &client.info, name, requests, &replies, started);
    replies
}
