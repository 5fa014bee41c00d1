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
    /// The writes [`ferrokv_types::RunWrite`] covers, in any mix: one write batch for
    /// the run (`Database::write_run`).
    Write,
}

impl Batchable {
    /// The kind of run `args` may join, if any. A write joins only in a form whose
    /// arguments are valid (arity, scores), so that its reply is the outcome of the
    /// write; anything else runs on its own and gets its error there.
    pub fn of(args: &[Bytes]) -> Option<Batchable> {
        match args {
            [name, _] if crate::commands::TABLE.get(name)?.name == "get" => Some(Batchable::Get),
            _ => run_write(args).map(|_| Batchable::Write),
        }
    }
}

/// A request as a write of a merged run, with its command's name (for the metrics) and
/// reply shape; `None` when it is not one of the forms a run serves.
fn run_write(args: &[Bytes]) -> Option<(&'static str, ferrokv_types::RunWrite<'_>)> {
    use ferrokv_types::{End, RunWrite};
    // By the table, not the name sent: a command may be renamed (rename-command).
    let name = crate::commands::TABLE.get(args.first()?)?.name;
    let (key, rest) = (args.get(1)?.as_ref(), &args[2..]);
    let write = match name {
        "set" if rest.len() == 1 => (
            "set",
            RunWrite::Set {
                key,
                value: &rest[0],
            },
        ),
        "hset" | "hmset" if !rest.is_empty() && rest.len().is_multiple_of(2) => (
            name,
            RunWrite::HSet {
                key,
                pairs: rest
                    .chunks_exact(2)
                    .map(|p| (p[0].as_ref(), p[1].as_ref()))
                    .collect(),
            },
        ),
        "lpush" | "rpush" if !rest.is_empty() => {
            let left = name == "lpush";
            (
                name,
                RunWrite::Push {
                    key,
                    values: rest.iter().map(Bytes::as_ref).collect(),
                    end: if left { End::Left } else { End::Right },
                },
            )
        }
        "sadd" if !rest.is_empty() => (
            "sadd",
            RunWrite::SAdd {
                key,
                members: rest.iter().map(Bytes::as_ref).collect(),
            },
        ),
        // A flag (NX, CH, ...) is no score: such a ZADD runs on its own.
        "zadd" if !rest.is_empty() && rest.len().is_multiple_of(2) => (
            "zadd",
            RunWrite::ZAdd {
                key,
                pairs: rest
                    .chunks_exact(2)
                    .map(|p| Some((crate::commands::score_arg(&p[0]).ok()?, p[1].as_ref())))
                    .collect::<Option<_>>()?,
            },
        ),
        _ => return None,
    };
    Some(write)
}

/// Serves a run of pipelined requests of one [`Batchable`] kind with one storage
/// operation: each request gets its own reply, in order. `None` when the run cannot be
/// served as one: the connection then serves each request on its own (as it would
/// have without pipelining), nothing having been done.
///
/// A run of writes is one atomic batch written under the locks of its keys, in which
/// each write sees the earlier ones (`Database::write_run`), so it is indistinguishable
/// from the same writes applied one after another: same replies (WRONGTYPE in place),
/// and afterwards, as after each write, `Server::touched` for every key written (WATCH
/// aborts, blocked clients woken). The exec gate is held from routing to those touches,
/// so no fence or EXEC falls in between.
///
/// In cluster mode each request is routed as alone (`Cluster::route`, in order): one
/// sent elsewhere (MOVED, ASK, CLUSTERDOWN, ...) gets its error in place and the others
/// are served together; one held at a fence makes the whole run go one by one, so that
/// it waits in the connection with the requests after it.
pub fn execute_run(
    server: &Arc<Server>,
    client: &mut Client,
    kind: Batchable,
    requests: &[Vec<Bytes>],
) -> Option<Vec<Frame>> {
    // Transactions queue, a replica checks each request (it refuses writes), and
    // keyspace notifications are derived per command (`CommandSpec::run`): the
    // connection forms no run for notifications, but any of these may have begun since
    // it did.
    if client.multi.is_some() || server.replication.is_replica() || server.notify.enabled() {
        return None;
    }
    let (names, writes): (Vec<&'static str>, Vec<_>) = match kind {
        Batchable::Get => (vec!["get"; requests.len()], Vec::new()),
        Batchable::Write => requests
            .iter()
            .map(|args| run_write(args))
            .collect::<Option<Vec<_>>>()?
            .into_iter()
            .unzip(),
    };
    if !client.authenticated {
        server
            .stats
            .commands_processed
            .fetch_add(requests.len() as u64, Ordering::Relaxed);
        return Some(
            requests
                .iter()
                .map(|_| CommandError::NoAuth.into())
                .collect(),
        );
    }
    let _gate = match crate::commands::shared_gate(server, &requests[0]) {
        Ok(gate) => gate,
        Err(e) => {
            server
                .stats
                .commands_processed
                .fetch_add(requests.len() as u64, Ordering::Relaxed);
            return Some(vec![Frame::from(e); requests.len()]);
        }
    };
    // `Batchable::of` matched name and arity; what remains to check is routing.
    let mut refused: Vec<Option<CommandError>> = Vec::new();
    if let Some(cluster) = server.cluster.as_ref() {
        let asking = client.asking;
        let serving_reads = server.replication.serving_reads();
        for args in requests {
            let routed = cluster.route(
                client,
                kind == Batchable::Write,
                serving_reads,
                std::iter::once(&args[1]),
            );
            match routed {
                Err(e) if e.is_fenced() => {
                    // Routed again one by one: ASKING applies to the first of them.
                    client.asking = asking;
                    return None;
                }
                routed => refused.push(routed.err()),
            }
        }
    }
    server
        .stats
        .commands_processed
        .fetch_add(requests.len() as u64, Ordering::Relaxed);
    let started = std::time::Instant::now();
    if refused.iter().all(Option::is_none) {
        let replies = match kind {
            Batchable::Get => get_run(server, requests),
            Batchable::Write => write_run(server, &names, &writes),
        };
        finish_run(server, client, &names, requests, &replies, started);
        return Some(replies);
    }
    // Some requests were sent elsewhere: the others are served together.
    let here: Vec<usize> = (0..requests.len())
        .filter(|&i| refused[i].is_none())
        .collect();
    let names: Vec<&'static str> = here.iter().map(|&i| names[i]).collect();
    let served: Vec<Vec<Bytes>> = here.iter().map(|&i| requests[i].clone()).collect();
    let replies = match kind {
        Batchable::Get => get_run(server, &served),
        Batchable::Write => {
            let writes: Vec<_> = here.iter().map(|&i| writes[i].clone()).collect();
            write_run(server, &names, &writes)
        }
    };
    finish_run(server, client, &names, &served, &replies, started);
    let mut replies = replies.into_iter();
    Some(
        refused
            .into_iter()
            .zip(requests)
            .map(|(refused, args)| match refused {
                Some(e) => {
                    crate::measure::rejected(server, args, &e);
                    Frame::from(e)
                }
                None => replies.next().unwrap_or(Frame::Null),
            })
            .collect(),
    )
}

/// What a served run records: INFO commandstats and the rest (`measure::batch`), and
/// the client's last command.
fn finish_run(
    server: &Server,
    client: &Client,
    names: &[&'static str],
    requests: &[Vec<Bytes>],
    replies: &[Frame],
    started: std::time::Instant,
) {
    if let Some(last) = names.last() {
        *client.info.last_command.lock() = last;
    }
    crate::measure::batch(server, &client.info, names, requests, replies, started);
}

fn get_run(server: &Server, requests: &[Vec<Bytes>]) -> Vec<Frame> {
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

fn write_run(
    server: &Server,
    names: &[&'static str],
    writes: &[ferrokv_types::RunWrite<'_>],
) -> Vec<Frame> {
    let outcomes = match server.db.write_run(writes) {
        Ok(outcomes) => outcomes,
        Err(e) => return vec![CommandError::from(e).into(); writes.len()],
    };
    outcomes
        .into_iter()
        .zip(names.iter().zip(writes))
        .map(|(outcome, (name, write))| match outcome {
            Ok(applied) => {
                if applied.changed {
                    server.touched(write.key());
                }
                match *name {
                    "set" | "hmset" => Frame::ok(),
                    _ => Frame::Integer(applied.count as i64),
                }
            }
            Err(e) => CommandError::from(e).into(),
        })
        .collect()
}
