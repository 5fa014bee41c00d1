//! EVAL, EVALSHA, EVAL_RO, EVALSHA_RO, SCRIPT, FUNCTION, FCALL, FCALL_RO: Redis 7.0's
//! semantics and texts (src/eval.c, src/script.c, src/functions.c).
//!
//! A script runs with the exec gate held exclusively, as EXEC does: no other command
//! runs meanwhile, so nobody sees it half done, and no migration fence can fall in
//! the middle of it. Its commands go through the command table (`CommandSpec::run`),
//! so their writes take the normal storage path: replicas and migrations get them as
//! write batches, never the script.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use ferrokv_cluster::ClusterError;
use ferrokv_protocol::Frame;
use mlua::Function;
use parking_lot::{RwLockReadGuard, RwLockWriteGuard};

use super::{int_arg, is, text};
use crate::blocking::{BlockSpec, OnTimeout};
use crate::client::Action;
use crate::command::{cmd, flags::*, CommandSpec};
use crate::context::Context;
use crate::error::{CmdResult, CommandError};
use crate::scripting::{
    dump, library_metadata, sha1_hex, valid_name, CachedScript, Engine, Functions, Library,
    LibraryFunction, RunStatus, ScriptFlags,
};
use crate::server::Server;

/// The node record holding the FUNCTION libraries (a FUNCTION DUMP payload).
pub const FUNCTIONS_RECORD: &[u8] = b"ferrokv:functions";

/// Commands a script may not call: Redis 7.0's `NOSCRIPT` flag (src/commands/*.json),
/// as `name` or `container|subcommand`.
const DENIED_IN_SCRIPTS: &[&str] = &[
    "acl|cat",
    "acl|deluser",
    "acl|dryrun",
    "acl|genpass",
    "acl|getuser",
    "acl|list",
    "acl|load",
    "acl|log",
    "acl|save",
    "acl|setuser",
    "acl|users",
    "acl|whoami",
    "auth",
    "bgrewriteaof",
    "bgsave",
    "blmove",
    "blpop",
    "brpop",
    "brpoplpush",
    "bzpopmax",
    "bzpopmin",
    "client|caching",
    "client|getname",
    "client|getredir",
    "client|id",
    "client|info",
    "client|kill",
    "client|list",
    "client|no-evict",
    "client|pause",
    "client|reply",
    "client|setname",
    "client|tracking",
    "client|trackinginfo",
    "client|unblock",
    "client|unpause",
    "cluster|reset",
    "config|get",
    "config|resetstat",
    "config|rewrite",
    "config|set",
    "debug",
    "discard",
    "eval",
    "eval_ro",
    "evalsha",
    "evalsha_ro",
    "exec",
    "failover",
    "fcall",
    "fcall_ro",
    "function|delete",
    "function|dump",
    "function|flush",
    "function|kill",
    "function|list",
    "function|load",
    "function|restore",
    "function|stats",
    "hello",
    "latency|doctor",
    "latency|graph",
    "latency|histogram",
    "latency|history",
    "latency|latest",
    "latency|reset",
    "module|list",
    "module|load",
    "module|loadex",
    "module|unload",
    "monitor",
    "multi",
    "psubscribe",
    "psync",
    "punsubscribe",
    "quit",
    "replconf",
    "replicaof",
    "reset",
    "role",
    "save",
    "script|debug",
    "script|exists",
    "script|flush",
    "script|kill",
    "script|load",
    "shutdown",
    "slaveof",
    "ssubscribe",
    "subscribe",
    "sunsubscribe",
    "sync",
    "unsubscribe",
    "unwatch",
    "wait",
    "watch",
    // Ferrokv's own: cluster administration, migration and replication links.
    "clusterx",
    "cluster|import",
    "applybatch",
    "applysst",
    "replfull",
];

/// Commands Redis flags `may-replicate`: refused in read-only scripts like writes.
const MAY_REPLICATE: &[&str] = &["publish", "spublish"];

fn denied_in_scripts(spec: &CommandSpec, args: &[Bytes]) -> bool {
    if DENIED_IN_SCRIPTS.contains(&spec.name) {
        return true;
    }
    let Some(sub) = args.get(1) else { return false };
    let full = format!("{}|{}", spec.name, text(sub).to_ascii_lowercase());
    DENIED_IN_SCRIPTS.contains(&full.as_str())
}

/// Key positions of EVAL/FCALL: `numkeys` keys after the script (none when `numkeys`
/// is not a usable count; the command then replies with its error).
pub fn script_keys(args: &[Bytes]) -> Vec<usize> {
    let Some(n) = args
        .get(2)
        .and_then(|a| ferrokv_types::numbers::parse_i64(a))
    else {
        return Vec::new();
    };
    if n < 0 || n as usize > args.len().saturating_sub(3) {
        return Vec::new();
    }
    (3..3 + n as usize).collect()
}

/// `numkeys` checked as Redis does (`bad` is the text for a non-integer).
fn numkeys(args: &[Bytes], bad: Option<&str>) -> Result<usize, CommandError> {
    let n = match (int_arg(&args[2]), bad) {
        (Ok(n), _) => n,
        (Err(_), Some(text)) => return Err(CommandError::err(text)),
        (Err(e), None) => return Err(e),
    };
    if n > args.len() as i64 - 3 {
        return Err(CommandError::err(
            "Number of keys can't be greater than number of args",
        ));
    }
    if n < 0 {
        return Err(CommandError::err("Number of keys can't be negative"));
    }
    Ok(n as usize)
}

/// The exec gate, exclusively (unless EXEC already holds it). While another script
/// holds it past `busy-script-time`, the caller gets BUSY instead of waiting.
pub(crate) fn exclusive_gate<'a>(
    ctx: &Context<'_>,
    server: &'a Server,
) -> Result<Option<RwLockWriteGuard<'a, ()>>, CommandError> {
    if ctx.in_exec {
        return Ok(None);
    }
    loop {
        if let Some(gate) = server.exec_gate.try_write_for(Duration::from_millis(5)) {
            return Ok(Some(gate));
        }
        let status = &server.scripting.status;
        if status.busy() {
            return Err(CommandError::Busy {
                eval: status.is_eval.load(Ordering::Acquire),
            });
        }
    }
}

/// The exec gate, shared, for a command that is not a script (dispatch): BUSY when a
/// script holds it past `busy-script-time`, except for the commands that end the
/// script (`Ok(None)`: they run without the gate).
pub fn shared_gate<'a>(
    server: &'a Server,
    args: &[Bytes],
) -> Result<Option<RwLockReadGuard<'a, ()>>, CommandError> {
    if let Some(gate) = server.exec_gate.try_read() {
        return Ok(Some(gate));
    }
    loop {
        if let Some(gate) = server.exec_gate.try_read_for(Duration::from_millis(5)) {
            return Ok(Some(gate));
        }
        let status = &server.scripting.status;
        if status.busy() {
            if allowed_while_busy(args) {
                return Ok(None);
            }
            return Err(CommandError::Busy {
                eval: status.is_eval.load(Ordering::Acquire),
            });
        }
    }
}

/// What Redis still serves while a script is busy: SCRIPT KILL, FUNCTION KILL,
/// SHUTDOWN NOSAVE.
fn allowed_while_busy(args: &[Bytes]) -> bool {
    // By the table, not the name sent: the command may be renamed (rename-command).
    let Some(name) = args
        .first()
        .and_then(|n| super::TABLE.get(n))
        .map(|s| s.name)
    else {
        return false;
    };
    match (name, &args[1..]) {
        ("script" | "function", [sub]) => is(sub, "KILL"),
        ("shutdown", rest) => rest.iter().any(|a| is(a, "NOSAVE")),
        _ => false,
    }
}

/// Routing again under the exclusive gate (a fence may have fallen since dispatch
/// routed): a fenced slot holds the script like a write; `Some` is the held reply.
fn reroute(
    ctx: &mut Context<'_>,
    args: &[Bytes],
    keys: &[Bytes],
    write: bool,
) -> Result<Option<Frame>, CommandError> {
    let server = ctx.server.clone();
    let Some(cluster) = server.cluster.as_ref() else {
        return Ok(None);
    };
    if ctx.in_exec {
        return Ok(None);
    }
    match cluster.route(
        ctx.client,
        write,
        server.replication.serving_reads(),
        keys.iter(),
    ) {
        Ok(()) => Ok(None),
        Err(e) if e.is_fenced() => {
            let fence_max = server.config.read().migrate_fence_max_ms.max(1);
            ctx.client.action = Some(Action::Block(BlockSpec::at_fence(
                args.to_vec(),
                Duration::from_millis(fence_max),
                OnTimeout::Reply,
            )));
            Ok(Some(Frame::Null))
        }
        Err(e) => Err(e),
    }
}

/// Redis' `scriptPrepareForRun`: what a script's flags forbid before it starts.
fn prepare(ctx: &Context<'_>, flags: ScriptFlags, ro: bool) -> Result<(), CommandError> {
    if flags.compat {
        return Ok(());
    }
    if flags.no_cluster && ctx.server.cluster.is_some() {
        return Err(CommandError::err(
            "Can not run script on cluster, 'no-cluster' flag is set.",
        ));
    }
    if !flags.no_writes {
        if ctx.server.replication.is_replica() {
            return Err(CommandError::Prefixed(
                "READONLY",
                "Can not run script with write flag on readonly replica".into(),
            ));
        }
        if ro {
            return Err(CommandError::err(
                "Can not execute a script with write flag using *_ro command.",
            ));
        }
    }
    Ok(())
}

/// What the commands of one run are checked against.
struct CallState {
    read_only: bool,
    allow_cross_slot: bool,
    /// The slot the script works in (cluster mode): its declared keys', else the
    /// first key it touches.
    slot: Option<u16>,
}

/// Runs `function` for the calling client and returns its reply.
#[allow(clippy::too_many_arguments)]
fn run(
    ctx: &mut Context<'_>,
    engine: &Engine,
    function: &Function,
    funcname: &str,
    flags: ScriptFlags,
    ro: bool,
    is_eval: bool,
    keys: &[Bytes],
    argv: &[Bytes],
) -> Frame {
    let server = ctx.server.clone();
    let status = server.scripting.status.clone();
    status
        .busy_after_ms
        .store(server.config.read().busy_script_time, Ordering::Relaxed);
    let mut state = CallState {
        read_only: ro || flags.no_writes,
        // A script without a shebang (Redis 6 semantics) may touch keys of several
        // slots of this node, as Redis 7 lets it (script.c, SCRIPT_ALLOW_CROSS_SLOT).
        allow_cross_slot: flags.allow_cross_slot || flags.compat,
        slot: match (&server.cluster, keys.first()) {
            (Some(_), Some(key)) => Some(ferrokv_keyslot::key_slot(key)),
            _ => None,
        },
    };
    let in_exec = ctx.in_exec;
    // Blocking commands inside a script answer at once, as inside EXEC.
    ctx.in_exec = true;
    status.begin(is_eval);
    let reply = engine.run(function, funcname, keys, argv, &status, &mut |args| {
        script_call(ctx, &status, &mut state, args)
    });
    status.end();
    ctx.in_exec = in_exec;
    reply
}

/// One `redis.call` / `redis.pcall`: Redis' `scriptCall` checks, then the command.
fn script_call(
    ctx: &mut Context<'_>,
    status: &RunStatus,
    state: &mut CallState,
    args: Vec<Bytes>,
) -> Frame {
    match check_call(ctx, status, state, &args) {
        Ok(spec) => {
            let reply = spec.run(ctx, &args);
            // No command a script may call leaves anything for the connection to do.
            ctx.client.action = None;
            reply
        }
        Err(text) => Frame::Error(text),
    }
}

fn check_call(
    ctx: &mut Context<'_>,
    status: &RunStatus,
    state: &mut CallState,
    args: &[Bytes],
) -> Result<&'static CommandSpec, String> {
    let spec = args
        .first()
        .and_then(|name| super::TABLE.get(name))
        .ok_or("ERR Unknown Redis command called from script")?;
    if !spec.arity_ok(args.len()) {
        return Err("ERR Wrong number of args calling Redis command from script".into());
    }
    if denied_in_scripts(spec, args) {
        return Err("ERR This Redis command is not allowed from script".into());
    }
    let server = ctx.server.clone();
    let writes = spec.has(WRITE) || MAY_REPLICATE.contains(&spec.name);
    if state.read_only && writes {
        return Err("ERR Write commands are not allowed from read-only scripts.".into());
    }
    if let Err(e) = crate::replication::gate(&server, spec) {
        return Err(error_text(e));
    }
    if spec.has(WRITE) {
        status.wrote.store(true, Ordering::Release);
    }
    if let Some(cluster) = server.cluster.as_ref() {
        let positions = spec.key_positions(args);
        let keys: Vec<&Bytes> = positions.iter().filter_map(|&i| args.get(i)).collect();
        match cluster.route(
            ctx.client,
            spec.has(WRITE),
            server.replication.serving_reads(),
            keys.iter().copied(),
        ) {
            Ok(()) => {}
            // Kvrocks' cut-over: the slot's writes wait for the fence; a script cannot
            // wait halfway, its command fails instead.
            Err(e) if e.is_fenced() => return Err(error_text(e)),
            Err(CommandError::Cluster(ClusterError::SlotNotServed)) => {
                return Err(
                    "ERR Script attempted to execute a command while the cluster is down".into(),
                )
            }
            Err(_) => {
                return Err(
                    "ERR Script attempted to access a non local key in a cluster node".into(),
                )
            }
        }
        if let (Some(key), false) = (keys.first(), state.allow_cross_slot) {
            let slot = ferrokv_keyslot::key_slot(key);
            match state.slot {
                None => state.slot = Some(slot),
                Some(s) if s != slot => {
                    return Err(
                        "ERR Script attempted to access keys that do not hash to the same slot"
                            .into(),
                    )
                }
                Some(_) => {}
            }
        }
    }
    Ok(spec)
}

fn error_text(e: CommandError) -> String {
    match Frame::from(e) {
        Frame::Error(text) => text,
        _ => "ERR".into(),
    }
}

/// Compiles an EVAL body (its shebang checked first) into a cache entry.
fn compile_script(engine: &Engine, body: &[u8]) -> Result<CachedScript, CommandError> {
    let (flags, shebang_len) = crate::scripting::shebang_flags(body).map_err(CommandError::err)?;
    let function = engine
        .compile(&body[shebang_len..], "@user_script")
        .map_err(|e| CommandError::err(format!("Error compiling script (new function): {e}")))?;
    Ok(CachedScript { function, flags })
}

fn eval(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    eval_generic(ctx, args, false, false)
}

fn eval_ro(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    eval_generic(ctx, args, false, true)
}

fn evalsha(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    eval_generic(ctx, args, true, false)
}

fn evalsha_ro(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    eval_generic(ctx, args, true, true)
}

fn eval_generic(ctx: &mut Context<'_>, args: &[Bytes], by_sha: bool, ro: bool) -> CmdResult {
    let n = numkeys(args, None)?;
    if by_sha && args[1].len() != 40 {
        return Err(CommandError::NoScript);
    }
    let (keys, argv) = args[3..].split_at(n);
    let server = ctx.server.clone();
    let _gate = exclusive_gate(ctx, &server)?;
    if let Some(held) = reroute(ctx, args, keys, !ro)? {
        return Ok(held);
    }
    let mut eval = server.scripting.eval.lock();
    let sha = if by_sha {
        text(&args[1]).to_ascii_lowercase()
    } else {
        sha1_hex(&args[1])
    };
    if !eval.scripts.contains_key(&sha) {
        if by_sha {
            return Err(CommandError::NoScript);
        }
        let script = compile_script(&eval.engine, &args[1])?;
        eval.scripts.insert(sha.clone(), script);
    }
    let eval = &*eval;
    let Some(script) = eval.scripts.get(&sha) else {
        return Err(CommandError::NoScript);
    };
    prepare(ctx, script.flags, ro)?;
    Ok(run(
        ctx,
        &eval.engine,
        &script.function,
        &sha,
        script.flags,
        ro,
        true,
        keys,
        argv,
    ))
}

fn help(lines: &[&str]) -> CmdResult {
    Ok(Frame::Array(
        lines.iter().map(|line| Frame::simple(line)).collect(),
    ))
}

/// Redis' SCRIPT KILL / FUNCTION KILL (`scriptKill`).
fn kill(ctx: &Context<'_>, by_script: bool) -> CmdResult {
    let status = &ctx.server.scripting.status;
    if !status.running() {
        return Err(CommandError::NotBusy);
    }
    if status.wrote.load(Ordering::Acquire) {
        return Err(CommandError::Unkillable);
    }
    let is_eval = status.is_eval.load(Ordering::Acquire);
    if by_script != is_eval {
        return Err(CommandError::Busy { eval: is_eval });
    }
    status.killed.store(true, Ordering::Release);
    Ok(Frame::ok())
}

/// SCRIPT LOAD | EXISTS | FLUSH | KILL | DEBUG | HELP.
fn script(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    let sub = &args[1];
    let scripting = &ctx.server.scripting;
    let arity = |n: usize, exact: bool| {
        let ok = if exact {
            args.len() == n
        } else {
            args.len() >= n
        };
        if ok {
            Ok(())
        } else {
            Err(CommandError::WrongArity(format!(
                "script|{}",
                text(sub).to_ascii_lowercase()
            )))
        }
    };
    if is(sub, "LOAD") {
        arity(3, true)?;
        let sha = sha1_hex(&args[2]);
        let mut eval = scripting.eval.lock();
        if !eval.scripts.contains_key(&sha) {
            let script = compile_script(&eval.engine, &args[2])?;
            eval.scripts.insert(sha.clone(), script);
        }
        return Ok(Frame::bulk(sha));
    }
    if is(sub, "EXISTS") {
        arity(3, false)?;
        let eval = scripting.eval.lock();
        return Ok(Frame::Array(
            args[2..]
                .iter()
                .map(|sha| {
                    Frame::Integer(i64::from(
                        eval.scripts.contains_key(&text(sha).to_ascii_lowercase()),
                    ))
                })
                .collect(),
        ));
    }
    if is(sub, "FLUSH") {
        let valid = match args.len() {
            2 => true,
            3 => is(&args[2], "SYNC") || is(&args[2], "ASYNC"),
            _ => false,
        };
        if !valid {
            return Err(CommandError::err(
                "SCRIPT FLUSH only support SYNC|ASYNC option",
            ));
        }
        let engine = scripting
            .new_eval_engine()
            .map_err(|e| CommandError::err(e.to_string()))?;
        let mut eval = scripting.eval.lock();
        eval.engine = engine;
        eval.scripts.clear();
        return Ok(Frame::ok());
    }
    if is(sub, "KILL") {
        arity(2, true)?;
        return kill(ctx, true);
    }
    if is(sub, "DEBUG") {
        arity(3, true)?;
        return match &args[2] {
            a if is(a, "NO") => Ok(Frame::ok()),
            a if is(a, "YES") || is(a, "SYNC") => Err(CommandError::err(
                "SCRIPT DEBUG is not supported by Ferrokv (no Lua debugger)",
            )),
            _ => Err(CommandError::err("Use SCRIPT DEBUG YES/SYNC/NO")),
        };
    }
    if is(sub, "HELP") && args.len() == 2 {
        return help(&[
            "SCRIPT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "DEBUG (YES|SYNC|NO)",
            "    Set the debug mode for subsequent scripts executed.",
            "EXISTS <sha1> [<sha1> ...]",
            "    Return information about the existence of the scripts in the script cache.",
            "FLUSH [ASYNC|SYNC]",
            "    Flush the Lua scripts cache. Very dangerous on replicas.",
            "    When called without the optional mode argument, the behavior is determined by the",
            "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
            "    * ASYNC: Asynchronously flush the scripts cache.",
            "    * SYNC: Synchronously flush the scripts cache.",
            "KILL",
            "    Kill the currently executing Lua script.",
            "LOAD <script>",
            "    Load a script into the scripts cache without executing it.",
            "HELP",
            "    Prints this help.",
        ]);
    }
    Err(CommandError::UnknownSubcommand {
        command: "SCRIPT",
        sub: text(sub),
    })
}

// --- FUNCTION ---

/// A set of libraries built from their codes into a fresh interpreter: every change
/// (LOAD, DELETE, RESTORE, a replica catching up) builds the whole set, so a refused
/// change leaves the running set untouched.
fn build(ctx: &Context<'_>, codes: &[Vec<u8>]) -> Result<Functions, String> {
    build_for(ctx.server, codes)
}

/// Loads one library into `set` (Redis' `functionsCreateWithLibraryCtx`); errors are
/// whole reply texts.
fn add_library(set: &mut Functions, code: &[u8], replace: bool) -> Result<String, String> {
    let (engine, name, shebang_len) = library_metadata(code).map_err(|e| format!("ERR {e}"))?;
    if !valid_name(&name) {
        return Err("ERR Library names can only contain letters, numbers, or underscores(_) and must be at least one character long".into());
    }
    if !engine.eq_ignore_ascii_case("lua") {
        return Err(format!("ERR Engine '{engine}' not found"));
    }
    if set.libraries.contains_key(&name) && !replace {
        return Err(format!("ERR Library '{name}' already exists"));
    }
    let body = set
        .engine
        .compile(&code[shebang_len..], "@user_function")
        .map_err(|e| format!("ERR Error compiling function: {e}"))?;
    let registered = set
        .engine
        .load_library(body, Instant::now())
        .map_err(|e| format!("ERR Error registering functions: {e}"))?;
    if registered.is_empty() {
        return Err("ERR No functions registered".into());
    }
    for f in &registered {
        if set.functions.get(&f.name).is_some_and(|lib| *lib != name) {
            return Err(format!("ERR Function {} already exists", f.name));
        }
    }
    if let Some(old) = set.libraries.remove(&name) {
        for f in old.functions {
            set.functions.remove(&f.name);
        }
    }
    let mut functions = Vec::new();
    for f in registered {
        let mut flags = ScriptFlags::default();
        for flag in &f.flags {
            flags.set(flag);
        }
        set.functions.insert(f.name.clone(), name.clone());
        functions.push(LibraryFunction {
            name: f.name,
            description: f.description,
            flags,
            callback: f.callback,
        });
    }
    set.libraries.insert(
        name.clone(),
        Library {
            name: name.clone(),
            code: code.to_vec(),
            functions,
        },
    );
    Ok(name)
}

/// The libraries as their node record.
fn record_of(set: &Functions) -> Vec<u8> {
    dump::encode(set.libraries.values().map(|l| l.code.as_slice()))
}

/// Makes the in-memory libraries match the node record (a replica receives the
/// master's record through the replication stream; a restart reads it back).
pub fn sync_functions(server: &Arc<Server>) -> Result<(), CommandError> {
    let record = server.db.storage().node_record(FUNCTIONS_RECORD)?;
    let mut functions = server.scripting.functions.lock();
    if functions.record == record {
        return Ok(());
    }
    let codes = match &record {
        Some(payload) => dump::decode(payload).map_err(|e| CommandError::err(e.to_string()))?,
        None => Vec::new(),
    };
    let mut set = build_for(server, &codes).map_err(CommandError::Reply)?;
    set.record = record;
    *functions = set;
    Ok(())
}

fn build_for(server: &Arc<Server>, codes: &[Vec<u8>]) -> Result<Functions, String> {
    let engine = server
        .scripting
        .new_function_engine()
        .map_err(|e| format!("ERR {e}"))?;
    let mut set = Functions {
        engine,
        libraries: Default::default(),
        functions: Default::default(),
        record: None,
    };
    for code in codes {
        add_library(&mut set, code, false)?;
    }
    Ok(set)
}

/// Saves `set` as the node record and installs it.
fn install(ctx: &Context<'_>, current: &mut Functions, mut set: Functions) -> CmdResult {
    let record = record_of(&set);
    ctx.server
        .db
        .storage()
        .put_node_record(FUNCTIONS_RECORD, &record)?;
    set.record = Some(record);
    *current = set;
    Ok(Frame::ok())
}

fn codes(set: &Functions) -> Vec<Vec<u8>> {
    set.libraries.values().map(|l| l.code.clone()).collect()
}

/// FUNCTION LOAD | LIST | DELETE | FLUSH | DUMP | RESTORE | KILL | STATS | HELP.
fn function(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    let sub = &args[1];
    let wrong_arity =
        || CommandError::WrongArity(format!("function|{}", text(sub).to_ascii_lowercase()));
    if is(sub, "KILL") {
        if args.len() != 2 {
            return Err(wrong_arity());
        }
        return kill(ctx, false);
    }
    if is(sub, "HELP") && args.len() == 2 {
        return help(&[
            "FUNCTION <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "LOAD [REPLACE] <FUNCTION CODE>",
            "    Create a new library with the given library name and code.",
            "DELETE <LIBRARY NAME>",
            "    Delete the given library.",
            "LIST [LIBRARYNAME PATTERN] [WITHCODE]",
            "    Return general information on all the libraries:",
            "    * Library name",
            "    * The engine used to run the Library",
            "    * Library description",
            "    * Functions list",
            "    * Library code (if WITHCODE is given)",
            "    It also possible to get only function that matches a pattern using LIBRARYNAME argument.",
            "STATS",
            "    Return information about the current function running:",
            "    * Function name",
            "    * Command used to run the function",
            "    * Duration in MS that the function is running",
            "    If no function is running, return nil",
            "    In addition, returns a list of available engines.",
            "KILL",
            "    Kill the current running function.",
            "FLUSH [ASYNC|SYNC]",
            "    Delete all the libraries.",
            "    When called without the optional mode argument, the behavior is determined by the",
            "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
            "    * ASYNC: Asynchronously flush the libraries.",
            "    * SYNC: Synchronously flush the libraries.",
            "DUMP",
            "    Return a serialized payload representing the current libraries, can be restored using FUNCTION RESTORE command",
            "RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
            "    Restore the libraries represented by the given payload, it is possible to give a restore policy to",
            "    control how to handle existing libraries (default APPEND):",
            "    * FLUSH: delete all existing libraries.",
            "    * APPEND: appends the restored libraries to the existing libraries. On collision, abort.",
            "    * REPLACE: appends the restored libraries to the existing libraries, On collision, replace the old",
            "      libraries with the new libraries (notice that even on this option there is a chance of failure",
            "      in case of functions name collision with another library).",
            "HELP",
            "    Prints this help.",
        ]);
    }
    let writes = is(sub, "LOAD") || is(sub, "DELETE") || is(sub, "FLUSH") || is(sub, "RESTORE");
    if writes && ctx.server.replication.is_replica() {
        return Err(CommandError::ReadOnlyReplica);
    }
    let known = [
        "LOAD", "LIST", "DELETE", "FLUSH", "DUMP", "RESTORE", "STATS",
    ];
    if !known.iter().any(|k| is(sub, k)) {
        return Err(CommandError::UnknownSubcommand {
            command: "FUNCTION",
            sub: text(sub),
        });
    }
    sync_functions(ctx.server)?;
    let server = ctx.server.clone();
    let mut functions = server.scripting.functions.lock();
    if is(sub, "LOAD") {
        if args.len() < 3 {
            return Err(wrong_arity());
        }
        let mut replace = false;
        let mut i = 2;
        while i < args.len() - 1 {
            if is(&args[i], "REPLACE") {
                replace = true;
                i += 1;
                continue;
            }
            return Err(CommandError::err(format!(
                "Unknown option given: {}",
                text(&args[i])
            )));
        }
        let code = &args[args.len() - 1];
        let mut set = build(ctx, &codes(&functions)).map_err(CommandError::Reply)?;
        let name = add_library(&mut set, code, replace).map_err(CommandError::Reply)?;
        install(ctx, &mut functions, set)?;
        return Ok(Frame::bulk(name));
    }
    if is(sub, "DELETE") {
        if args.len() != 3 {
            return Err(wrong_arity());
        }
        let name = text(&args[2]);
        if !functions.libraries.contains_key(&name) {
            return Err(CommandError::err("Library not found"));
        }
        let rest: Vec<Vec<u8>> = functions
            .libraries
            .values()
            .filter(|l| l.name != name)
            .map(|l| l.code.clone())
            .collect();
        let set = build(ctx, &rest).map_err(CommandError::Reply)?;
        return install(ctx, &mut functions, set);
    }
    if is(sub, "FLUSH") {
        if args.len() > 3 {
            return Err(wrong_arity());
        }
        if args.len() == 3 && !is(&args[2], "SYNC") && !is(&args[2], "ASYNC") {
            return Err(CommandError::err(
                "FUNCTION FLUSH only supports SYNC|ASYNC option",
            ));
        }
        let set = build(ctx, &[]).map_err(CommandError::Reply)?;
        return install(ctx, &mut functions, set);
    }
    if is(sub, "DUMP") {
        if args.len() != 2 {
            return Err(wrong_arity());
        }
        return Ok(Frame::bulk(record_of(&functions)));
    }
    if is(sub, "RESTORE") {
        if args.len() < 3 {
            return Err(wrong_arity());
        }
        if args.len() > 4 {
            return Err(CommandError::err(format!(
                "unknown subcommand or wrong number of arguments for '{}'. Try FUNCTION HELP.",
                text(sub)
            )));
        }
        #[derive(PartialEq)]
        enum Policy {
            Append,
            Replace,
            Flush,
        }
        let policy =
            match args.get(3) {
                None => Policy::Append,
                Some(p) if is(p, "APPEND") => Policy::Append,
                Some(p) if is(p, "REPLACE") => Policy::Replace,
                Some(p) if is(p, "FLUSH") => Policy::Flush,
                Some(_) => return Err(CommandError::err(
                    "Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.",
                )),
            };
        let restored = dump::decode(&args[2]).map_err(|e| CommandError::err(e.to_string()))?;
        // The payload's libraries on their own first (as Redis loads them into a
        // context of their own), then joined to the current ones by the policy.
        let incoming = build(ctx, &restored).map_err(CommandError::Reply)?;
        let mut joined: Vec<Vec<u8>> = Vec::new();
        if policy != Policy::Flush {
            for lib in functions.libraries.values() {
                match incoming.libraries.get(&lib.name) {
                    Some(_) if policy == Policy::Append => {
                        return Err(CommandError::err(format!(
                            "Library {} already exists",
                            lib.name
                        )))
                    }
                    Some(_) => {}
                    None => joined.push(lib.code.clone()),
                }
            }
            for f in incoming.functions.keys() {
                let clash = functions.functions.get(f).is_some_and(|lib| {
                    !incoming.libraries.contains_key(lib) || policy != Policy::Replace
                });
                if clash {
                    return Err(CommandError::err(format!("Function {f} already exists")));
                }
            }
        }
        joined.extend(codes(&incoming));
        let set = build(ctx, &joined).map_err(CommandError::Reply)?;
        return install(ctx, &mut functions, set);
    }
    if is(sub, "LIST") {
        let mut with_code = false;
        let mut pattern: Option<Bytes> = None;
        let mut i = 2;
        while i < args.len() {
            if !with_code && is(&args[i], "WITHCODE") {
                with_code = true;
            } else if pattern.is_none() && is(&args[i], "LIBRARYNAME") {
                let Some(p) = args.get(i + 1) else {
                    return Err(CommandError::err("library name argument was not given"));
                };
                pattern = Some(p.clone());
                i += 1;
            } else {
                return Err(CommandError::err(format!(
                    "Unknown argument {}",
                    text(&args[i])
                )));
            }
            i += 1;
        }
        let mut out = Vec::new();
        for lib in functions.libraries.values() {
            if let Some(p) = &pattern {
                if !ferrokv_types::glob::matches(p, lib.name.as_bytes()) {
                    continue;
                }
            }
            let fns = lib
                .functions
                .iter()
                .map(|f| {
                    Frame::Map(vec![
                        (Frame::bulk("name"), Frame::bulk(f.name.clone())),
                        (
                            Frame::bulk("description"),
                            f.description.clone().map_or(Frame::Null, Frame::bulk),
                        ),
                        (
                            Frame::bulk("flags"),
                            Frame::Set(f.flags.names().into_iter().map(Frame::simple).collect()),
                        ),
                    ])
                })
                .collect();
            let mut fields = vec![
                (Frame::bulk("library_name"), Frame::bulk(lib.name.clone())),
                (Frame::bulk("engine"), Frame::bulk("LUA")),
                (Frame::bulk("functions"), Frame::Array(fns)),
            ];
            if with_code {
                fields.push((Frame::bulk("library_code"), Frame::bulk(lib.code.clone())));
            }
            out.push(Frame::Map(fields));
        }
        return Ok(Frame::Array(out));
    }
    // STATS
    if args.len() != 2 {
        return Err(wrong_arity());
    }
    // A function that runs holds the exec gate: STATS gets BUSY (or waits) meanwhile,
    // so it never sees one running.
    let running = Frame::Null;
    let count: usize = functions
        .libraries
        .values()
        .map(|l| l.functions.len())
        .sum();
    Ok(Frame::Map(vec![
        (Frame::bulk("running_script"), running),
        (
            Frame::bulk("engines"),
            Frame::Map(vec![(
                Frame::bulk("LUA"),
                Frame::Map(vec![
                    (
                        Frame::bulk("libraries_count"),
                        Frame::Integer(functions.libraries.len() as i64),
                    ),
                    (Frame::bulk("functions_count"), Frame::Integer(count as i64)),
                ]),
            )]),
        ),
    ]))
}

fn fcall(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    fcall_generic(ctx, args, false)
}

fn fcall_ro(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    fcall_generic(ctx, args, true)
}

fn fcall_generic(ctx: &mut Context<'_>, args: &[Bytes], ro: bool) -> CmdResult {
    let server = ctx.server.clone();
    let _gate = exclusive_gate(ctx, &server)?;
    sync_functions(&server)?;
    let functions = server.scripting.functions.lock();
    let name = text(&args[1]);
    let function = functions
        .functions
        .get(&name)
        .and_then(|lib| functions.libraries.get(lib))
        .and_then(|lib| lib.functions.iter().find(|f| f.name == name))
        .ok_or_else(|| CommandError::err("Function not found"))?;
    let n = numkeys(args, Some("Bad number of keys provided"))?;
    let (keys, argv) = args[3..].split_at(n);
    if let Some(held) = reroute(ctx, args, keys, !ro)? {
        return Ok(held);
    }
    prepare(ctx, function.flags, ro)?;
    Ok(run(
        ctx,
        &functions.engine,
        &function.callback,
        &name,
        function.flags,
        ro,
        false,
        keys,
        argv,
    ))
}

#[rustfmt::skip]
pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec { keys: Some(script_keys), ..cmd("eval", -3, MAY_WRITE | OWN_GATE | STALE | MOVABLE_KEYS, 0, 0, 0, eval, "scripting", "Runs a Lua script.") },
    CommandSpec { keys: Some(script_keys), ..cmd("evalsha", -3, MAY_WRITE | OWN_GATE | STALE | MOVABLE_KEYS, 0, 0, 0, evalsha, "scripting", "Runs a cached Lua script by its SHA1.") },
    CommandSpec { keys: Some(script_keys), ..cmd("eval_ro", -3, READONLY | OWN_GATE | STALE | MOVABLE_KEYS, 0, 0, 0, eval_ro, "scripting", "Runs a read-only Lua script.") },
    CommandSpec { keys: Some(script_keys), ..cmd("evalsha_ro", -3, READONLY | OWN_GATE | STALE | MOVABLE_KEYS, 0, 0, 0, evalsha_ro, "scripting", "Runs a cached read-only Lua script by its SHA1.") },
    CommandSpec { keys: Some(script_keys), ..cmd("fcall", -3, MAY_WRITE | OWN_GATE | STALE | MOVABLE_KEYS, 0, 0, 0, fcall, "scripting", "Calls a function of a library.") },
    CommandSpec { keys: Some(script_keys), ..cmd("fcall_ro", -3, READONLY | OWN_GATE | STALE | MOVABLE_KEYS, 0, 0, 0, fcall_ro, "scripting", "Calls a read-only function of a library.") },
    cmd("script", -2, STALE, 0, 0, 0, script, "scripting", "Manages the script cache."),
    cmd("function", -2, STALE, 0, 0, 0, function, "scripting", "Manages function libraries."),
];
