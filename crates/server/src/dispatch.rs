//! From a parsed request to a reply: lookup, arity, authentication, MULTI queueing,
//! execution under the exec gate, and the after-effects every write shares (WATCH).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;
use ferrokv_protocol::Frame;

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
    let gate = server.exec_gate.read();
    let spec = match check(server, client, &args) {
        Ok(spec) => spec,
        Err(CommandError::Fenced) if client.multi.is_none() => {
            // Held until the cut-over ends, then routed again (MOVED or executed).
            let fence_max = server.config.read().get_int("migrate-fence-max-ms").max(1) as u64;
            client.action = Some(Action::Block(crate::blocking::BlockSpec {
                keys: vec![Bytes::from_static(crate::migration::FENCE_KEY)],
                deadline: Some(
                    std::time::Instant::now() + std::time::Duration::from_millis(fence_max),
                ),
                timeout_reply: CommandError::Fenced.into(),
                retry_args: Some(args),
            }));
            return Frame::Null;
        }
        Err(e) => {
            if let Some(multi) = client.multi.as_mut() {
                multi.aborted = true;
            }
            crate::metrics::rejected(server, &args, &e);
            return e.into();
        }
    };
    *client.info.last_command.lock() = spec.name;
    if client.multi.is_some() && !spec.has(flags::NO_QUEUE) {
        if spec.has(flags::NO_MULTI) {
            if let Some(multi) = client.multi.as_mut() {
                multi.aborted = true;
            }
            return Frame::error("ERR Command not allowed inside a transaction");
        }
        if let Some(multi) = client.multi.as_mut() {
            multi.queued.push(Queued { spec, args });
        }
        return Frame::simple("QUEUED");
    }
    let mut ctx = Context {
        server,
        client,
        in_exec: false,
    };
    if spec.has(flags::NO_QUEUE) {
        // Transaction control (EXEC, DISCARD, ...) takes the gate itself.
        drop(gate);
    }
    let reply = run(&mut ctx, spec, &args);
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
    let spec = server.commands.get(name);
    if !client.authenticated && !spec.is_some_and(|s| s.has(flags::NO_AUTH)) {
        return Err(CommandError::NoAuth);
    }
    let spec = spec.ok_or_else(|| CommandError::unknown_command(args))?;
    if !spec.arity_ok(args.len()) {
        return Err(CommandError::WrongArity(spec.name.to_string()));
    }
    crate::cluster::route(server, client, spec, args)?;
    Ok(spec)
}

/// Runs a command that passed the checks (directly, or from EXEC), then lets everyone
/// interested know which keys a successful write touched.
pub fn run(ctx: &mut Context<'_>, spec: &'static CommandSpec, args: &[Bytes]) -> Frame {
    let reply = crate::metrics::call(ctx, spec, args);
    let blocked = matches!(ctx.client.action, Some(Action::Block(_)));
    if spec.has(flags::WRITE) && !blocked && !matches!(reply, Frame::Error(_)) {
        for position in spec.key_positions(args) {
            if let Some(key) = args.get(position) {
                ctx.server.touched(key);
            }
        }
    }
    reply
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
    // Transactions queue, and cluster mode routes each request on its own.
    if client.multi.is_some() || server.cluster.is_some() {
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
    let _gate = server.exec_gate.read();
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
    crate::metrics::batch(server, &client.info, name, requests, &replies, started);
    replies
}
