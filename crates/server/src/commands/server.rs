//! Server commands: INFO, CONFIG, COMMAND, DBSIZE, FLUSHDB/FLUSHALL, SHUTDOWN, TIME, DEBUG.

use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use ferrokv_protocol::Frame;

use super::{is, text};
use crate::client::Action;
use crate::command::{cmd, flags, flags::*, CommandSpec};
use crate::config::{ConfigError, Effect};
use crate::context::Context;
use crate::error::{CmdResult, CommandError};

fn info(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    let requested: Vec<String> = args[1..].iter().map(|a| text(a).to_lowercase()).collect();
    let body = crate::info::render(ctx.server, &requested);
    Ok(Frame::Verbatim(Bytes::from(body)))
}

fn config(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    let sub = &args[1];
    let arity = |ok: bool| {
        if ok {
            Ok(())
        } else {
            Err(CommandError::WrongArity(format!(
                "config|{}",
                text(sub).to_lowercase()
            )))
        }
    };
    if is(sub, "GET") {
        arity(args.len() >= 3)?;
        let config = ctx.server.config.read();
        let mut pairs = Vec::new();
        for (name, value) in config.entries().chain(FIXED_OPTIONS.iter().copied()) {
            let wanted = args[2..]
                .iter()
                .any(|p| ferrokv_types::glob::matches(&p.to_ascii_lowercase(), name.as_bytes()));
            if wanted {
                pairs.push((Frame::bulk_from_str(name), Frame::bulk_from_str(value)));
            }
        }
        // One `<name> <new name>` per rename-command line, as Kvrocks lists them.
        let renames_wanted = args[2..].iter().any(|p| {
            ferrokv_types::glob::matches(
                &p.to_ascii_lowercase(),
                crate::config::RENAME_COMMAND.as_bytes(),
            )
        });
        if renames_wanted {
            for (name, new_name) in &config.renamed_commands {
                pairs.push((
                    Frame::bulk_from_str(crate::config::RENAME_COMMAND),
                    Frame::bulk(if new_name.is_empty() {
                        format!("{name} \"\"")
                    } else {
                        format!("{name} {new_name}")
                    }),
                ));
            }
        }
        Ok(Frame::Map(pairs))
    } else if is(sub, "SET") {
        arity(args.len() >= 4 && args.len().is_multiple_of(2))?;
        config_set(ctx, &args[2..])
    } else if is(sub, "REWRITE") {
        arity(args.len() == 2)?;
        ctx.server
            .config
            .read()
            .rewrite()
            .map_err(CommandError::err)?;
        Ok(Frame::ok())
    } else if is(sub, "RESETSTAT") {
        arity(args.len() == 2)?;
        let stats = &ctx.server.stats;
        for counter in [
            &stats.connections_received,
            &stats.rejected_connections,
            &stats.commands_processed,
            &stats.expired_keys,
        ] {
            counter.store(0, Ordering::Relaxed);
        }
        ctx.server.metrics.reset();
        ctx.server.db.reset_keyspace_stats();
        Ok(Frame::ok())
    } else {
        Err(CommandError::UnknownSubcommand {
            command: "CONFIG",
            sub: text(sub),
        })
    }
}

/// Redis options whose value is fixed by how Ferrokv works, answered by CONFIG GET so
/// that tools asking (redis-benchmark asks for `save` and `appendonly`) get the truth:
/// no memory limit and no eviction (data lives on disk), no RDB snapshots and no AOF
/// (every write goes through RocksDB's write-ahead log instead), one database.
const FIXED_OPTIONS: &[(&str, &str)] = &[
    ("maxmemory", "0"),
    ("maxmemory-policy", "noeviction"),
    ("save", ""),
    ("appendonly", "no"),
    ("databases", "1"),
];

/// CONFIG SET of one or more pairs: all are validated before any is applied.
fn config_set(ctx: &mut Context<'_>, pairs: &[Bytes]) -> CmdResult {
    let mut config_lock = ctx.server.config.write();
    let config = &mut *config_lock;
    let mut updated = config.clone();
    let mut effects = Vec::new();
    for pair in pairs.chunks_exact(2) {
        let name = text(&pair[0]);
        if FIXED_OPTIONS
            .iter()
            .any(|(fixed, _)| fixed.eq_ignore_ascii_case(&name))
        {
            return Err(CommandError::err(format!(
                "CONFIG SET failed (possibly related to argument '{name}') - can't set immutable config"
            )));
        }
        let spec = updated.set_runtime(&name, &text(&pair[1])).map_err(|e| match e {
            ConfigError::Unknown(_) => CommandError::err(format!(
                "Unknown option or number of arguments for CONFIG SET - '{name}'"
            )),
            ConfigError::Immutable(_) => CommandError::err(format!(
                "CONFIG SET failed (possibly related to argument '{name}') - can't set immutable config"
            )),
            ConfigError::Invalid { reason, value, .. } => CommandError::err(format!(
                "CONFIG SET failed (possibly related to argument '{name}') - argument '{value}' {reason}"
            )),
            ConfigError::Refused { reason, .. } => CommandError::err(format!(
                "CONFIG SET failed (possibly related to argument '{name}') - {reason}"
            )),
        })?;
        if spec.kvrocks_only {
            tracing::info!(
                "{} is accepted for Kvrocks compatibility and has no effect",
                spec.name
            );
        }
        if !effects.contains(&spec.effect) {
            effects.push(spec.effect);
        }
    }
    *config = updated;
    let config = config.clone();
    drop(config_lock);
    for effect in effects {
        match effect {
            Effect::None => {}
            Effect::LogLevel => crate::logging::set_level(&config.log_level),
            Effect::KeyspaceEvents => ctx.server.notify.set(&config.notify_keyspace_events),
            Effect::Profiling => config.configure_perflog(&ctx.server.perflog),
            Effect::Slowlog => ctx
                .server
                .metrics
                .configure_slowlog(config.slowlog_log_slower_than, config.slowlog_max_len),
            Effect::SyncWrites => ctx
                .server
                .db
                .storage()
                .set_sync_writes(config.rocksdb_write_options_sync),
            Effect::PersistClusterNodes => {
                if let Some(cluster) = ctx.server.cluster.as_ref() {
                    if config.persist_cluster_nodes_enabled {
                        cluster.save_topology()?;
                    } else {
                        cluster.remove_topology_file()?;
                    }
                }
            }
        }
    }
    Ok(Frame::ok())
}

/// One entry of COMMAND / COMMAND INFO, in Redis 7's ten-field layout.
fn command_entry(spec: &CommandSpec) -> Frame {
    let flag_names = flags::NAMES
        .iter()
        .filter(|(flag, _)| spec.has(*flag))
        .map(|(_, name)| Frame::simple(name))
        .collect();
    let key_specs = if spec.first_key > 0 {
        vec![Frame::Map(vec![
            (Frame::bulk_from_str("flags"), Frame::Array(Vec::new())),
            (
                Frame::bulk_from_str("begin_search"),
                Frame::Map(vec![
                    (Frame::bulk_from_str("type"), Frame::bulk_from_str("index")),
                    (
                        Frame::bulk_from_str("spec"),
                        Frame::Map(vec![(
                            Frame::bulk_from_str("index"),
                            Frame::Integer(spec.first_key.into()),
                        )]),
                    ),
                ]),
            ),
            (
                Frame::bulk_from_str("find_keys"),
                Frame::Map(vec![
                    (Frame::bulk_from_str("type"), Frame::bulk_from_str("range")),
                    (
                        Frame::bulk_from_str("spec"),
                        Frame::Map(vec![
                            (
                                Frame::bulk_from_str("lastkey"),
                                Frame::Integer(if spec.last_key < 0 {
                                    spec.last_key.into()
                                } else {
                                    (spec.last_key - spec.first_key).into()
                                }),
                            ),
                            (
                                Frame::bulk_from_str("keystep"),
                                Frame::Integer(spec.step.into()),
                            ),
                            (Frame::bulk_from_str("limit"), Frame::Integer(0)),
                        ]),
                    ),
                ]),
            ),
        ])]
    } else {
        Vec::new()
    };
    Frame::Array(vec![
        Frame::bulk_from_str(spec.name),
        Frame::Integer(spec.arity.into()),
        Frame::Set(flag_names),
        Frame::Integer(spec.first_key.into()),
        Frame::Integer(spec.last_key.into()),
        Frame::Integer(spec.step.into()),
        Frame::Set(
            acl_categories(spec)
                .into_iter()
                .map(|c| Frame::simple(&format!("@{c}")))
                .collect(),
        ),
        Frame::Array(Vec::new()),
        Frame::Array(key_specs),
        Frame::Array(Vec::new()),
    ])
}

/// The ACL categories of a command, spelled and ordered as Redis lists them (by
/// category number: keyspace, read, write, set, sortedset, list, hash, string, bitmap,
/// hyperloglog, geo, stream, pubsub, admin, fast, slow, blocking, dangerous,
/// connection, transaction).
fn acl_categories(spec: &CommandSpec) -> Vec<&'static str> {
    // Commands on the key space as a whole, which Redis also calls dangerous when they
    // can touch every key.
    const KEYSPACE: &[&str] = &["dbsize", "flushall", "flushdb", "keys", "randomkey", "scan"];
    const DANGEROUS: &[&str] = &["flushall", "flushdb", "keys", "info", "sort"];
    let mut categories = Vec::new();
    if spec.group == "generic" || KEYSPACE.contains(&spec.name) {
        categories.push("keyspace");
    }
    if spec.has(flags::READONLY) {
        categories.push("read");
    }
    if spec.has(flags::WRITE) {
        categories.push("write");
    }
    let data_type = match spec.group {
        "set" => Some("set"),
        "sorted-set" => Some("sortedset"),
        "list" => Some("list"),
        "hash" => Some("hash"),
        "string" => Some("string"),
        "bitmap" => Some("bitmap"),
        "hyperloglog" => Some("hyperloglog"),
        "geo" => Some("geo"),
        "stream" => Some("stream"),
        _ => None,
    };
    categories.extend(data_type);
    if spec.has(flags::ADMIN) {
        categories.push("admin");
    }
    categories.push(if spec.has(flags::FAST) {
        "fast"
    } else {
        "slow"
    });
    if spec.has(flags::BLOCKING) {
        categories.push("blocking");
    }
    if spec.has(flags::ADMIN) || DANGEROUS.contains(&spec.name) {
        categories.push("dangerous");
    }
    match spec.group {
        "connection" => categories.push("connection"),
        "transactions" => categories.push("transaction"),
        _ => {}
    }
    categories
}

fn command(_ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    let table = &*super::TABLE;
    let Some(sub) = args.get(1) else {
        let mut specs: Vec<_> = table.iter().collect();
        specs.sort_by_key(|s| s.name);
        return Ok(Frame::Array(specs.into_iter().map(command_entry).collect()));
    };
    if is(sub, "COUNT") {
        Ok(Frame::Integer(table.len() as i64))
    } else if is(sub, "LIST") {
        let mut names: Vec<_> = table.iter().map(|s| s.name).collect();
        names.sort_unstable();
        Ok(Frame::Array(
            names.into_iter().map(Frame::bulk_from_str).collect(),
        ))
    } else if is(sub, "INFO") {
        Ok(Frame::Array(
            args[2..]
                .iter()
                .map(|name| table.get(name).map_or(Frame::Null, command_entry))
                .collect(),
        ))
    } else if is(sub, "DOCS") {
        let mut specs: Vec<_> = if args.len() > 2 {
            args[2..].iter().filter_map(|n| table.get(n)).collect()
        } else {
            table.iter().collect()
        };
        specs.sort_by_key(|s| s.name);
        Ok(Frame::Map(
            specs
                .into_iter()
                .map(|spec| {
                    (
                        Frame::bulk_from_str(spec.name),
                        Frame::Map(vec![
                            (
                                Frame::bulk_from_str("summary"),
                                Frame::bulk_from_str(spec.summary),
                            ),
                            (Frame::bulk_from_str("since"), Frame::bulk_from_str("1.0.0")),
                            (
                                Frame::bulk_from_str("group"),
                                Frame::bulk_from_str(spec.group),
                            ),
                        ]),
                    )
                })
                .collect(),
        ))
    } else if is(sub, "GETKEYS") {
        let target = &args[2..];
        let spec = target
            .first()
            .and_then(|name| table.get(name))
            .ok_or_else(|| CommandError::err("Invalid command specified"))?;
        if !spec.arity_ok(target.len()) {
            return Err(CommandError::err(
                "Invalid number of arguments specified for command",
            ));
        }
        let positions = spec.key_positions(target);
        if positions.is_empty() {
            return Err(CommandError::err("The command has no key arguments"));
        }
        Ok(Frame::Array(
            positions
                .into_iter()
                .filter_map(|i| target.get(i).cloned().map(Frame::Bulk))
                .collect(),
        ))
    } else {
        Err(CommandError::UnknownSubcommand {
            command: "COMMAND",
            sub: text(sub),
        })
    }
}

/// DBSIZE, and Kvrocks' `DBSIZE SCAN` (which starts its background key count): the
/// count here is always exact, so SCAN has nothing to start and replies OK.
fn dbsize(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    match args.get(1) {
        None => {}
        Some(sub) if is(sub, "SCAN") && args.len() == 2 => return Ok(Frame::ok()),
        Some(_) => return Err(CommandError::err("DBSIZE subcommand only supports scan")),
    }
    let visible = ctx.visible_slots();
    Ok(Frame::Integer(ctx.server.db.dbsize(&*visible)? as i64))
}

fn flushdb(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    match args.get(1) {
        None => {}
        Some(mode) if is(mode, "ASYNC") || is(mode, "SYNC") => {}
        Some(_) => return Err(CommandError::Syntax),
    }
    if args.len() > 2 {
        return Err(CommandError::Syntax);
    }
    // A migration cannot move data that is being deleted under it (migration.md).
    for job in ctx.server.migrations.running() {
        job.request_abort("FLUSHDB/FLUSHALL on the source during the migration");
    }
    // Redis (touchAllWatchedKeysInDb) fails only the transactions watching a key that
    // exists: a watched key that was already missing is not changed by the flush.
    let mut existing = Vec::new();
    for key in ctx.server.watches.keys() {
        if ctx.server.db.exists(&[key.as_slice()])? > 0 {
            existing.push(key);
        }
    }
    ctx.server.db.flush_all()?;
    for key in &existing {
        ctx.server.watches.touch(key);
    }
    Ok(Frame::ok())
}

fn shutdown(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    for arg in &args[1..] {
        if is(arg, "ABORT") {
            return Err(CommandError::err("No shutdown in progress."));
        }
        if !["NOSAVE", "SAVE", "NOW", "FORCE"]
            .iter()
            .any(|k| is(arg, k))
        {
            return Err(CommandError::Syntax);
        }
    }
    // A running script stops now, not once this connection is done (its output may
    // wait on a client that does not read); Server::request_shutdown stops it too.
    ctx.server.scripting.status.stop_for_shutdown();
    ctx.client.action = Some(Action::Shutdown);
    Ok(Frame::ok())
}

fn time(_ctx: &mut Context<'_>, _args: &[Bytes]) -> CmdResult {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    Ok(Frame::Array(vec![
        Frame::bulk(now.as_secs().to_string()),
        Frame::bulk(now.subsec_micros().to_string()),
    ]))
}

/// DEBUG SLEEP <seconds>: the whole node stops serving commands for that long (it holds
/// the exec gate, as Redis' and Kvrocks' DEBUG SLEEP block their event loops), then
/// replies OK. DEBUG PROTOCOL <type>: one reply of each RESP type, with Kvrocks' values
/// (src/commands/cmd_server.cc), for testing clients.
fn debug(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    if is(&args[1], "SLEEP") && args.len() == 3 {
        let seconds = super::float_arg(&args[2])?;
        if seconds > 0.0 {
            let duration = Duration::from_secs_f64(seconds.min(1e6));
            let server = ctx.server.clone();
            // BUSY while a script holds the gate; inside EXEC it is held already.
            let _gate = super::scripting::exclusive_gate(ctx, &server)?;
            std::thread::sleep(duration);
        }
        return Ok(Frame::ok());
    }
    if is(&args[1], "PROTOCOL") && args.len() == 3 {
        return debug_protocol(&args[2]);
    }
    Err(CommandError::UnknownSubcommand {
        command: "DEBUG",
        sub: text(&args[1]),
    })
}

fn debug_protocol(kind: &[u8]) -> CmdResult {
    let ints = || (0..3).map(Frame::Integer).collect::<Vec<_>>();
    Ok(match kind.to_ascii_lowercase().as_slice() {
        b"string" => Frame::bulk_from_str("Hello World"),
        b"integer" => Frame::Integer(12345),
        // Kvrocks' value, not an approximation of pi.
        #[allow(clippy::approx_constant)]
        b"double" => Frame::Double(3.141),
        b"array" => Frame::Array(ints()),
        b"set" => Frame::Set(ints()),
        b"map" => Frame::Map(
            (0..3)
                .map(|i| (Frame::Integer(i), Frame::Boolean(i == 1)))
                .collect(),
        ),
        b"bignum" => Frame::BigNumber("1234567999999999999999999999999999999".into()),
        b"true" => Frame::Boolean(true),
        b"false" => Frame::Boolean(false),
        b"null" => Frame::Null,
        b"attrib" => Frame::Attribute(vec![(
            Frame::bulk_from_str("key-popularity"),
            Frame::Array(vec![Frame::bulk_from_str("key:123"), Frame::Integer(90)]),
        )]),
        b"verbatim" => Frame::Verbatim(Bytes::from_static(b"verbatim string")),
        _ => {
            return Err(CommandError::err(
                "Wrong protocol type name. Please use one of the following: string|integer|double|array|set|bignum|true|false|null|attrib|verbatim",
            ))
        }
    })
}

/// COMPACT (as in Kvrocks): a full compaction in the background; reclaims deleted
/// records and the members of deleted or expired collections.
fn compact(ctx: &mut Context<'_>, _args: &[Bytes]) -> CmdResult {
    let server = ctx.server.clone();
    server.stats.compactions.fetch_add(1, Ordering::Relaxed);
    std::thread::Builder::new()
        .name("compact".into())
        .spawn(move || server.db.storage().compact_all())
        .map_err(|e| CommandError::err(format!("cannot start compaction: {e}")))?;
    Ok(Frame::ok())
}

/// BGSAVE (Kvrocks' form, no arguments): a backup into `backup-dir` in the background,
/// replying OK at once (see [`crate::backup`]).
fn bgsave(ctx: &mut Context<'_>, _args: &[Bytes]) -> CmdResult {
    let dir = crate::backup::directory(&ctx.server.config.read());
    let server = ctx.server.clone();
    let checkpoint = Box::new(move |into: &std::path::Path| {
        server
            .db
            .storage()
            .checkpoint(into)
            .map_err(|e| e.to_string())
    });
    ctx.server.backups.start(dir, checkpoint)?;
    Ok(Frame::ok())
}

/// LASTSAVE: Unix seconds at which the last BGSAVE started (the server's start before
/// the first), as Kvrocks replies.
fn lastsave(ctx: &mut Context<'_>, _args: &[Bytes]) -> CmdResult {
    let started = ctx.server.started_unix();
    Ok(Frame::Integer(ctx.server.backups.last_save(started)))
}

/// FLUSHBACKUP (Kvrocks'): removes the backups BGSAVE made.
fn flushbackup(ctx: &mut Context<'_>, _args: &[Bytes]) -> CmdResult {
    let dir = crate::backup::directory(&ctx.server.config.read());
    crate::backup::Backups::flush(&dir)
        .map_err(|e| CommandError::err(format!("cannot remove the backups: {e}")))?;
    Ok(Frame::ok())
}

#[rustfmt::skip]
pub const COMMANDS: &[CommandSpec] = &[
    cmd("bgsave", 1, ADMIN, 0, 0, 0, bgsave, "server", "Backs the database up into backup-dir in the background (Kvrocks)."),
    cmd("lastsave", 1, FAST | LOADING | STALE, 0, 0, 0, lastsave, "server", "Returns the Unix time of the last BGSAVE."),
    cmd("flushbackup", 1, ADMIN, 0, 0, 0, flushbackup, "server", "Removes the backups BGSAVE made (Kvrocks)."),
    cmd("compact", 1, ADMIN, 0, 0, 0, compact, "server", "Compacts the database in the background."),
    cmd("info", -1, LOADING | STALE, 0, 0, 0, info, "server", "Returns information and statistics about the server."),
    cmd("config", -2, ADMIN | STALE, 0, 0, 0, config, "server", "Reads and changes the configuration (GET, SET, REWRITE, RESETSTAT)."),
    cmd("command", -1, LOADING | STALE, 0, 0, 0, command, "server", "Describes the commands (COUNT, LIST, INFO, DOCS, GETKEYS)."),
    cmd("dbsize", -1, READONLY | FAST, 0, 0, 0, dbsize, "server", "Returns the number of keys."),
    cmd("flushdb", -1, WRITE, 0, 0, 0, flushdb, "server", "Removes all keys."),
    cmd("flushall", -1, WRITE, 0, 0, 0, flushdb, "server", "Removes all keys."),
    cmd("shutdown", -1, ADMIN | NO_MULTI, 0, 0, 0, shutdown, "server", "Stops the server cleanly."),
    cmd("time", 1, FAST | LOADING | STALE, 0, 0, 0, time, "server", "Returns the server time."),
    cmd("debug", -2, ADMIN | OWN_GATE, 0, 0, 0, debug, "server", "Debugging aids (SLEEP, PROTOCOL)."),
];
