//! Replication's commands: SLAVEOF/REPLICAOF, ROLE, WAIT, and the ones replicas send
//! their master (REPLCONF, PSYNC, REPLFULL; see `replication::master` for the wire).

use std::time::{Duration, Instant};

use bytes::Bytes;
use ferrokv_protocol::Frame;

use super::{int_arg, is, text};
use crate::client::Action;
use crate::command::{cmd, flags::*, CommandSpec};
use crate::context::Context;
use crate::error::{CmdResult, CommandError};
use crate::replication::state::Handoff;

/// `SLAVEOF|REPLICAOF <host> <port> | NO ONE` (standalone; Redis' texts). Replies at
/// once; the sync runs in the background.
fn slaveof(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    if ctx.server.cluster.is_some() {
        return Err(CommandError::err("can't change to slave in cluster mode"));
    }
    if is(&args[1], "NO") && is(&args[2], "ONE") {
        crate::replication::set_master(ctx.server, None, true);
        return Ok(Frame::ok());
    }
    let host = text(&args[1]);
    let port: u16 = text(&args[2])
        .parse()
        .map_err(|_| CommandError::err("port should be number"))?;
    let me = ctx.server.local_addr;
    let my_port = ctx.server.config.read().port;
    let local = host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback() || ip == me.ip());
    if local && port == my_port {
        return Err(CommandError::err("can't replicate itself"));
    }
    if ctx
        .server
        .replication
        .connected()
        .iter()
        .any(|p| p.port == port && (p.ip == host || local))
    {
        return Err(CommandError::err("can't replicate your own replicas"));
    }
    crate::replication::set_master(ctx.server, Some((host, port)), true);
    Ok(Frame::ok())
}

/// ROLE, as Redis: `master <seq> [[ip, port, acked]...]` or
/// `slave <host> <port> <state> <applied seq>`.
fn role(ctx: &mut Context<'_>, _args: &[Bytes]) -> CmdResult {
    let repl = &ctx.server.replication;
    let seq = ctx.server.db.storage().latest_sequence() as i64;
    Ok(Frame::Array(match repl.master() {
        None => vec![
            Frame::bulk_from_str("master"),
            Frame::Integer(seq),
            Frame::Array(
                repl.connected()
                    .iter()
                    .map(|p| {
                        Frame::Array(vec![
                            Frame::bulk_from_str(&p.ip),
                            Frame::bulk_from_str(&p.port.to_string()),
                            Frame::bulk_from_str(
                                &p.acked
                                    .load(std::sync::atomic::Ordering::Acquire)
                                    .to_string(),
                            ),
                        ])
                    })
                    .collect(),
            ),
        ],
        Some((host, port)) => vec![
            Frame::bulk_from_str("slave"),
            Frame::bulk_from_str(&host),
            Frame::Integer(i64::from(port)),
            Frame::bulk_from_str(repl.link.state().as_str()),
            Frame::Integer(seq),
        ],
    }))
}

/// `WAIT numreplicas timeout`: blocks this connection until that many replicas
/// acknowledged every write made so far, or `timeout` ms (0: forever).
fn wait(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    if ctx.server.replication.is_replica() {
        return Err(CommandError::err(
            "WAIT cannot be used with replica instances. Please also note that since Redis 4.0 if a replica is configured to be writable (which is not the default) writes to replicas are just local and are not propagated.",
        ));
    }
    let replicas = int_arg(&args[1])?;
    let timeout = int_arg(&args[2])?;
    if timeout < 0 {
        return Err(CommandError::err("timeout is negative"));
    }
    let target = ctx.server.db.storage().latest_sequence();
    let replicas = usize::try_from(replicas.max(0)).unwrap_or(usize::MAX);
    let count = ctx.server.replication.acked_count(target);
    if count >= replicas || ctx.in_exec || ctx.client.multi.is_some() {
        return Ok(Frame::Integer(count as i64));
    }
    ctx.client.action = Some(Action::WaitReplicas {
        target,
        replicas,
        deadline: (timeout > 0).then(|| Instant::now() + Duration::from_millis(timeout as u64)),
    });
    Ok(Frame::Null)
}

/// `REPLCONF <option> <value> ...`: what a replica tells its master before PSYNC
/// (`listening-port` is kept for INFO and ROLE; the rest is accepted as Redis does).
fn replconf(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    if args.len().is_multiple_of(2) {
        return Err(CommandError::Syntax);
    }
    for pair in args[1..].chunks(2) {
        if is(&pair[0], "listening-port") {
            ctx.client.replica_port = text(&pair[1])
                .parse()
                .map_err(|_| CommandError::err("port should be number"))?;
        } else if is(&pair[0], "ip-address") {
            // An address or host name: shown in INFO and ROLE, so nothing else.
            let ip = text(&pair[1]);
            let valid = !ip.is_empty()
                && ip.len() <= 255
                && ip
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b".-:_".contains(&b));
            if !valid {
                return Err(CommandError::err("invalid ip-address"));
            }
            ctx.client.replica_ip = Some(ip);
        } else if !["capa", "ack", "getack", "rdb-only"]
            .iter()
            .any(|o| is(&pair[0], o))
        {
            return Err(CommandError::err(format!(
                "Unrecognized REPLCONF option: {}",
                text(&pair[0])
            )));
        }
    }
    Ok(Frame::ok())
}

/// `PSYNC <replid> <seq>`: continue a replica from its last applied sequence.
fn psync(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    let replid = text(&args[1]);
    let seq = text(&args[2])
        .parse::<u64>()
        .map_err(|_| CommandError::NotInteger)?;
    let mut handoff = crate::replication::master::psync(ctx.server, &replid, seq)?;
    if let Handoff::Stream {
        listening_port,
        announced_ip,
        ..
    } = &mut handoff
    {
        *listening_port = ctx.client.replica_port;
        *announced_ip = ctx.client.replica_ip.clone();
    }
    ctx.client.action = Some(Action::Replicate(handoff));
    Ok(Frame::Null)
}

/// `REPLFULL [<checkpoint id>]`: serve a full sync on this connection.
fn replfull(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    if ctx.server.replication.is_replica() {
        return Err(CommandError::err(
            "full sync refused: this node is a replica",
        ));
    }
    ctx.client.action = Some(Action::Replicate(Handoff::FullSync {
        resume: args.get(1).map(|a| text(a)),
    }));
    Ok(Frame::Null)
}

/// `POLLUPDATES sequence [MAX n] [STRICT] [FORMAT RAW]`, Kvrocks' change feed
/// (`src/commands/cmd_server.cc`, `CommandPollUpdates`): up to `n` (1-1000, default 16)
/// write batches of the WAL after `sequence`, each as the hex of RocksDB's serialised
/// batch (what APPLYBATCH takes), with `latest_sequence` and `next_sequence` (the last
/// sequence the reply covers, to pass back). A map in RESP3, a flat array in RESP2.
/// STRICT refuses a first batch that does not start at `sequence + 1`.
fn pollupdates(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    let sequence = u64::try_from(int_arg(&args[1])?).map_err(|_| CommandError::NotInteger)?;
    let (mut max, mut strict) = (16, false);
    let mut i = 2;
    while i < args.len() {
        if is(&args[i], "MAX") {
            max = int_arg(super::option_value(args, i + 1)?)?;
            if !(1..=1000).contains(&max) {
                return Err(CommandError::err("out of numeric range"));
            }
            i += 2;
        } else if is(&args[i], "STRICT") {
            strict = true;
            i += 1;
        } else if is(&args[i], "FORMAT") {
            if !is(super::option_value(args, i + 1)?, "RAW") {
                return Err(CommandError::err("invalid FORMAT option, only support RAW"));
            }
            i += 2;
        } else {
            return Err(CommandError::Syntax);
        }
    }
    let storage = ctx.server.db.storage();
    let latest = storage.latest_sequence();
    let wanted = sequence.saturating_add(1);
    if wanted > latest.saturating_add(1) {
        return Err(CommandError::err("next sequence is out of range"));
    }
    let read = || -> Result<_, CommandError> {
        if wanted == latest + 1 {
            return Ok(Vec::new());
        }
        // The WAL is read from its files: what writers left in its buffer goes first.
        storage.make_durable()?;
        Ok(storage.wal_batches_after(sequence, max as usize)?)
    };
    let mut batches = read()?;
    if batches.is_empty() && wanted <= latest {
        // A writer counted in `latest` may not have reached the buffer's flush yet.
        std::thread::sleep(std::time::Duration::from_millis(5));
        batches = read()?;
        if batches.is_empty() {
            // Writes exist past `sequence` but the WAL no longer holds them.
            return Err(ferrokv_storage::StorageError::WalGone(wanted).into());
        }
    }
    if let (true, Some(first)) = (strict, batches.first()) {
        if first.sequence != wanted {
            return Err(CommandError::err(format!(
                "mismatched sequence number, expected {wanted} but got {}",
                first.sequence
            )));
        }
    }
    let next = batches
        .last()
        .map_or(sequence, |b| b.sequence + b.count.max(1) - 1);
    let updates = batches.iter().map(|b| Frame::bulk(hex(&b.data))).collect();
    Ok(Frame::Map(vec![
        (
            Frame::bulk("latest_sequence"),
            Frame::Integer(latest as i64),
        ),
        (Frame::bulk("updates"), Frame::Array(updates)),
        (Frame::bulk("next_sequence"), Frame::Integer(next as i64)),
    ]))
}

/// Lower-case hex, as Kvrocks' `util::StringToHex` writes it.
fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 15)] as char);
    }
    out
}

#[rustfmt::skip]
pub const COMMANDS: &[CommandSpec] = &[
    cmd("slaveof", 3, ADMIN | NO_MULTI | STALE, 0, 0, 0, slaveof, "server", "Makes this node a replica of another, or a master (NO ONE)."),
    cmd("replicaof", 3, ADMIN | NO_MULTI | STALE, 0, 0, 0, slaveof, "server", "Makes this node a replica of another, or a master (NO ONE)."),
    cmd("role", 1, FAST | LOADING | STALE, 0, 0, 0, role, "server", "Returns the replication role, offsets and replicas."),
    cmd("wait", 3, 0, 0, 0, 0, wait, "generic", "Waits until replicas acknowledged this connection's writes."),
    cmd("replconf", -1, ADMIN | NO_MULTI | STALE | LOADING, 0, 0, 0, replconf, "server", "Replica handshake options."),
    cmd("psync", 3, ADMIN | NO_MULTI | STALE | LOADING, 0, 0, 0, psync, "server", "Continues a replica from a sequence (partial sync)."),
    cmd("pollupdates", -2, ADMIN | STALE, 0, 0, 0, pollupdates, "server", "Returns write batches of the WAL after a sequence (Kvrocks)."),
    cmd("replfull", -1, ADMIN | NO_MULTI | STALE | LOADING, 0, 0, 0, replfull, "server", "Serves a full sync (a checkpoint's files) on this connection."),
];
