//! Connection commands: PING, ECHO, HELLO, AUTH, SELECT, QUIT, RESET, CLIENT.

use std::sync::atomic::Ordering;

use bytes::Bytes;
use ferrokv_protocol::{Frame, ProtocolVersion};

use super::{int_arg, is, text};
use crate::client::Action;
use crate::command::{cmd, flags::*, CommandSpec};
use crate::context::Context;
use crate::error::{CmdResult, CommandError};

fn ping(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    // A subscribed RESP2 connection gets Redis' subscribed form: `[pong, <arg or "">]`.
    if ctx.client.protocol == ProtocolVersion::Resp2
        && ctx.client.pubsub.active()
        && args.len() <= 2
    {
        return Ok(Frame::Array(vec![
            Frame::bulk_from_str("pong"),
            Frame::Bulk(args.get(1).cloned().unwrap_or_default()),
        ]));
    }
    match args.len() {
        1 => Ok(Frame::simple("PONG")),
        2 => Ok(Frame::Bulk(args[1].clone())),
        _ => Err(CommandError::WrongArity("ping".into())),
    }
}

fn echo(_ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    Ok(Frame::Bulk(args[1].clone()))
}

/// Checks a password against `requirepass`. Like Redis, the only user is `default`;
/// without `requirepass` it accepts any password but a bare `AUTH <password>` is an error.
fn authenticate(
    ctx: &mut Context<'_>,
    user: Option<&[u8]>,
    password: &[u8],
) -> Result<(), CommandError> {
    let required = ctx.server.config.read().requirepass.clone();
    if required.is_empty() && user.is_none() {
        return Err(CommandError::err(
            "AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?",
        ));
    }
    let user_ok = user.is_none_or(|u| u == b"default");
    if user_ok && (required.is_empty() || password == required.as_bytes()) {
        ctx.client.authenticated = true;
        return Ok(());
    }
    Err(CommandError::WrongPass)
}

fn auth(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    match args.len() {
        2 => authenticate(ctx, None, &args[1])?,
        3 => authenticate(ctx, Some(&args[1]), &args[2])?,
        _ => return Err(CommandError::Syntax),
    }
    Ok(Frame::ok())
}

fn hello(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    let mut protocol = ctx.client.protocol;
    let mut i = 1;
    if let Some(version) = args.get(1) {
        protocol = match ferrokv_types::numbers::parse_i64(version) {
            Some(2) => ProtocolVersion::Resp2,
            Some(3) => ProtocolVersion::Resp3,
            Some(_) => return Err(CommandError::NoProto),
            None => {
                return Err(CommandError::err(
                    "Protocol version is not an integer or out of range",
                ))
            }
        };
        i = 2;
    }
    let mut name = None;
    while i < args.len() {
        let more = args.len() - i - 1;
        if is(&args[i], "AUTH") && more > 0 {
            // Redis' form is AUTH <user> <password>; Kvrocks also takes AUTH <password>,
            // and tells them apart by what follows: 2 or 4 more arguments (a SETNAME
            // after the pair) mean a user name.
            if more == 2 || more == 4 {
                authenticate(ctx, Some(&args[i + 1]), &args[i + 2])?;
                i += 3;
            } else {
                authenticate(ctx, None, &args[i + 1])?;
                i += 2;
            }
        } else if is(&args[i], "SETNAME") && i + 1 < args.len() {
            name = Some(valid_client_name(&args[i + 1])?);
            i += 2;
        } else {
            return Err(CommandError::err(format!(
                "Syntax error in HELLO option '{}'",
                text(&args[i])
            )));
        }
    }
    if !ctx.client.authenticated {
        return Err(CommandError::Prefixed(
            "NOAUTH",
            "HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time".into(),
        ));
    }
    if let Some(name) = name {
        *ctx.client.info.name.lock() = name;
    }
    // Kvrocks' resp3-enabled no: HELLO 3 answers as HELLO 2 and the connection stays
    // in RESP2.
    if !ctx.server.config.read().resp3_enabled {
        protocol = ProtocolVersion::Resp2;
    }
    ctx.client.protocol = protocol;
    let role = if ctx.server.replication.is_replica() {
        "replica"
    } else {
        "master"
    };
    let mode = if ctx.server.cluster_enabled() {
        "cluster"
    } else {
        "standalone"
    };
    let proto = if protocol == ProtocolVersion::Resp3 {
        3
    } else {
        2
    };
    Ok(Frame::Map(vec![
        (
            Frame::bulk_from_str("server"),
            Frame::bulk_from_str("redis"),
        ),
        (
            Frame::bulk_from_str("version"),
            Frame::bulk_from_str(crate::info::REDIS_VERSION),
        ),
        (Frame::bulk_from_str("proto"), Frame::Integer(proto)),
        (
            Frame::bulk_from_str("id"),
            Frame::Integer(ctx.client.id() as i64),
        ),
        (Frame::bulk_from_str("mode"), Frame::bulk_from_str(mode)),
        (Frame::bulk_from_str("role"), Frame::bulk_from_str(role)),
        (Frame::bulk_from_str("modules"), Frame::Array(Vec::new())),
    ]))
}

fn select(_ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    match int_arg(&args[1])? {
        0 => Ok(Frame::ok()),
        _ => Err(CommandError::err("DB index is out of range")),
    }
}

fn quit(ctx: &mut Context<'_>, _args: &[Bytes]) -> CmdResult {
    ctx.client.action = Some(Action::Close);
    Ok(Frame::ok())
}

fn reset(ctx: &mut Context<'_>, _args: &[Bytes]) -> CmdResult {
    let watched = std::mem::take(&mut ctx.client.watched);
    ctx.server.watches.unwatch(ctx.client.id(), &watched);
    ctx.client.watch_dirty.store(false, Ordering::Relaxed);
    ctx.client.multi = None;
    ctx.client.info.in_multi.store(false, Ordering::Relaxed);
    ctx.client.protocol = ProtocolVersion::Resp2;
    ctx.client.asking = false;
    ctx.client.readonly = false;
    ctx.client.monitor = None;
    let client = ctx.client.id();
    ctx.client.pubsub.clear(&ctx.server.pubsub, client);
    *ctx.client.info.name.lock() = None;
    ctx.client.authenticated = ctx.server.config.read().requirepass.is_empty();
    Ok(Frame::simple("RESET"))
}

/// Whether a value CLIENT LIST shows is free of spaces, newlines and other special
/// characters (printable ASCII only), so that the listing splits on spaces.
fn printable_word(value: &[u8]) -> bool {
    value.iter().all(|b| (b'!'..=b'~').contains(b))
}

/// Client names may not contain spaces or control characters (they appear in CLIENT LIST).
fn valid_client_name(name: &[u8]) -> Result<Option<String>, CommandError> {
    if name.is_empty() {
        return Ok(None);
    }
    if !printable_word(name) {
        return Err(CommandError::err(
            "Client names cannot contain spaces, newlines or special characters.",
        ));
    }
    Ok(Some(text(name)))
}

fn client(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    let sub = &args[1];
    let argc = args.len();
    let arity_error = || CommandError::WrongArity(format!("client|{}", text(sub).to_lowercase()));
    if is(sub, "SETNAME") {
        if argc != 3 {
            return Err(arity_error());
        }
        *ctx.client.info.name.lock() = valid_client_name(&args[2])?;
        Ok(Frame::ok())
    } else if is(sub, "GETNAME") {
        Ok(match ctx.client.info.name.lock().clone() {
            Some(name) => Frame::bulk(name.into_bytes()),
            None => Frame::Null,
        })
    } else if is(sub, "ID") {
        Ok(Frame::Integer(ctx.client.id() as i64))
    } else if is(sub, "INFO") {
        let mut listing = ctx.client.info.describe(ferrokv_types::now_ms());
        listing.push('\n');
        Ok(Frame::Verbatim(Bytes::from(listing)))
    } else if is(sub, "LIST") {
        client_list(ctx, args)
    } else if is(sub, "KILL") {
        client_kill(ctx, args)
    } else if is(sub, "PAUSE") {
        // CLIENT PAUSE timeout [WRITE|ALL] (Redis 6.2).
        let all = match args.get(3) {
            None => true,
            Some(mode) if is(mode, "ALL") => true,
            Some(mode) if is(mode, "WRITE") => false,
            Some(_) => return Err(CommandError::Syntax),
        };
        if !(3..=4).contains(&argc) {
            return Err(arity_error());
        }
        let ms = ferrokv_types::numbers::parse_i64(&args[2])
            .ok_or_else(|| CommandError::err("timeout is not an integer or out of range"))?;
        if ms < 0 {
            return Err(CommandError::err("timeout is negative"));
        }
        ctx.server.pause.set(
            std::time::Instant::now() + std::time::Duration::from_millis(ms as u64),
            all,
        );
        Ok(Frame::ok())
    } else if is(sub, "UNPAUSE") {
        if argc != 2 {
            return Err(arity_error());
        }
        ctx.server.pause.unpause();
        Ok(Frame::ok())
    } else if is(sub, "SETINFO") {
        if argc != 4 {
            return Err(arity_error());
        }
        let slot = if is(&args[2], "LIB-NAME") {
            &ctx.client.info.lib_name
        } else if is(&args[2], "LIB-VER") {
            &ctx.client.info.lib_ver
        } else {
            return Err(CommandError::err(format!(
                "Unrecognized option '{}'",
                text(&args[2])
            )));
        };
        // Like names: CLIENT LIST must stay splittable on spaces.
        if !printable_word(&args[3]) {
            return Err(CommandError::err(format!(
                "{} cannot contain spaces, newlines or special characters.",
                text(&args[2])
            )));
        }
        *slot.lock() = (!args[3].is_empty()).then(|| text(&args[3]));
        Ok(Frame::ok())
    } else if is(sub, "NO-EVICT") || is(sub, "NO-TOUCH") {
        match args.get(2) {
            Some(v) if is(v, "ON") || is(v, "OFF") => Ok(Frame::ok()),
            _ => Err(CommandError::Syntax),
        }
    } else {
        Err(CommandError::UnknownSubcommand {
            command: "CLIENT",
            sub: text(sub),
        })
    }
}

/// A client type as CLIENT LIST and CLIENT KILL take it; Redis' error for others.
fn client_type(arg: &[u8]) -> Result<&'static str, CommandError> {
    match text(arg).to_ascii_lowercase().as_str() {
        "normal" => Ok("normal"),
        "master" => Ok("master"),
        "replica" | "slave" => Ok("replica"),
        "pubsub" => Ok("pubsub"),
        _ => Err(CommandError::err(format!(
            "Unknown client type '{}'",
            text(arg)
        ))),
    }
}

/// CLIENT LIST [TYPE type | ID id...].
fn client_list(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    let mut kind = None;
    let mut ids = None;
    match &args[2..] {
        [] => {}
        [kw, t] if is(kw, "TYPE") => kind = Some(client_type(t)?),
        [kw, list @ ..] if is(kw, "ID") && !list.is_empty() => {
            let parsed: Option<Vec<u64>> = list
                .iter()
                .map(|id| ferrokv_types::numbers::parse_u64(id))
                .collect();
            ids = Some(parsed.ok_or_else(|| CommandError::err("Invalid client ID"))?);
        }
        _ => return Err(CommandError::Syntax),
    }
    let now = ferrokv_types::now_ms();
    let mut listing = String::new();
    for client in ctx.server.clients.all() {
        let wanted = kind.is_none_or(|k| client.kind() == k)
            && ids.as_ref().is_none_or(|ids| ids.contains(&client.id));
        if wanted {
            listing.push_str(&client.describe(now));
            listing.push('\n');
        }
    }
    Ok(Frame::Verbatim(Bytes::from(listing)))
}

/// CLIENT KILL addr (old form, +OK) or CLIENT KILL <filter value>... (count).
fn client_kill(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    let clients = ctx.server.clients.all();
    if args.len() == 3 {
        let addr = text(&args[2]);
        let target = clients.iter().find(|c| c.addr.to_string() == addr);
        return match target {
            Some(target) => {
                kill_one(ctx, target);
                Ok(Frame::ok())
            }
            None if ctx.server.replication.drop_master_link(Some(&addr)) => Ok(Frame::ok()),
            None => Err(CommandError::err("No such client")),
        };
    }
    if !args.len().is_multiple_of(2) {
        return Err(CommandError::Syntax);
    }
    let mut id = None;
    let mut addr = None;
    let mut laddr = None;
    let mut skip_me = true;
    let mut kind = None;
    let mut max_age = None;
    for pair in args[2..].chunks_exact(2) {
        let value = text(&pair[1]);
        match &pair[0] {
            f if is(f, "ID") => {
                id = Some(
                    value
                        .parse::<u64>()
                        .ok()
                        .filter(|id| *id > 0)
                        .ok_or_else(|| CommandError::err("client-id should be greater than 0"))?,
                )
            }
            f if is(f, "TYPE") => kind = Some(client_type(&pair[1])?),
            f if is(f, "USER") => {
                // `default` is the only user.
                if value != "default" {
                    return Err(CommandError::err(format!("No such user '{value}'")));
                }
            }
            f if is(f, "MAXAGE") => {
                max_age = Some(value.parse::<u64>().map_err(|_| CommandError::Syntax)?);
            }
            f if is(f, "ADDR") => addr = Some(value),
            f if is(f, "LADDR") => laddr = Some(value),
            f if is(f, "SKIPME") => {
                skip_me = match value.to_ascii_lowercase().as_str() {
                    "yes" => true,
                    "no" => false,
                    _ => return Err(CommandError::Syntax),
                }
            }
            _ => return Err(CommandError::Syntax),
        }
    }
    let mut killed = 0;
    // Replicas' streams run off the client registry: TYPE replica (Redis' `slave`)
    // ends them, and each replica reconnects.
    if kind == Some("replica") && id.is_none() && laddr.is_none() && max_age.is_none() {
        for peer in ctx.server.replication.connected() {
            if addr
                .as_ref()
                .is_none_or(|a| format!("{}:{}", peer.ip, peer.port) == *a)
            {
                peer.kill();
                killed += 1;
            }
        }
    }
    // A replica's link to its master is Redis' `master` client: killing it makes the
    // replica reconnect (and continue where it was).
    if kind == Some("master")
        && id.is_none()
        && laddr.is_none()
        && max_age.is_none()
        && ctx.server.replication.drop_master_link(addr.as_deref())
    {
        killed += 1;
    }
    for client in &clients {
        let matches = id.is_none_or(|id| client.id == id)
            && addr.as_ref().is_none_or(|a| client.addr.to_string() == *a)
            && laddr
                .as_ref()
                .is_none_or(|a| client.local_addr.to_string() == *a)
            && kind.is_none_or(|k| client.kind() == k)
            && max_age.is_none_or(|age| client.created.elapsed().as_secs() >= age)
            && !(skip_me && client.id == ctx.client.id());
        if matches {
            kill_one(ctx, client);
            killed += 1;
        }
    }
    Ok(Frame::Integer(killed))
}

fn kill_one(ctx: &mut Context<'_>, target: &crate::client::ClientInfo) {
    if target.id == ctx.client.id() {
        ctx.client.action = Some(Action::Close);
    } else {
        target.kill();
    }
}

#[rustfmt::skip]
pub const COMMANDS: &[CommandSpec] = &[
    cmd("ping", -1, FAST | STALE | SUBSCRIBED_CONTEXT, 0, 0, 0, ping, "connection", "Returns PONG or the argument."),
    cmd("echo", 2, FAST, 0, 0, 0, echo, "connection", "Returns the argument."),
    cmd("hello", -1, FAST | NO_AUTH | STALE, 0, 0, 0, hello, "connection", "Handshake: protocol version, authentication, name."),
    cmd("auth", -2, FAST | NO_AUTH | STALE, 0, 0, 0, auth, "connection", "Authenticates the connection."),
    cmd("select", 2, FAST, 0, 0, 0, select, "connection", "Selects the database (only 0 exists)."),
    cmd("quit", -1, FAST | NO_AUTH | NO_QUEUE | SUBSCRIBED_CONTEXT, 0, 0, 0, quit, "connection", "Closes the connection."),
    cmd("reset", 1, FAST | NO_AUTH | NO_QUEUE | SUBSCRIBED_CONTEXT, 0, 0, 0, reset, "connection", "Resets the connection state."),
    cmd("client", -2, ADMIN, 0, 0, 0, client, "connection", "Connection management (SETNAME, GETNAME, ID, LIST, INFO, KILL, SETINFO)."),
];
