//! The command table: every command is a row of data (name, arity, flags, key positions,
//! handler), declared at the end of its family's file under `commands/`.

use std::collections::HashMap;

use bytes::Bytes;
use ferrokv_protocol::Frame;

use crate::client::Action;
use crate::context::Context;
use crate::error::CmdResult;

/// Command flags (Redis' names, as COMMAND INFO reports them).
pub mod flags {
    pub const WRITE: u32 = 1;
    pub const READONLY: u32 = 1 << 1;
    pub const ADMIN: u32 = 1 << 2;
    pub const FAST: u32 = 1 << 3;
    /// Allowed before AUTH.
    pub const NO_AUTH: u32 = 1 << 4;
    /// Not queued inside MULTI; runs at once (EXEC, DISCARD, WATCH, ...).
    pub const NO_QUEUE: u32 = 1 << 5;
    /// Refused inside MULTI.
    pub const NO_MULTI: u32 = 1 << 6;
    pub const LOADING: u32 = 1 << 7;
    pub const STALE: u32 = 1 << 8;
    /// May block the client (blocking pops, DEBUG SLEEP).
    pub const BLOCKING: u32 = 1 << 9;
    /// Keys are not at fixed positions; the spec's `keys` function finds them.
    pub const MOVABLE_KEYS: u32 = 1 << 10;
    /// Allowed on a RESP2 connection in the subscribed state (the subscribe family,
    /// PING, QUIT, RESET, as Redis hard-codes them); not a flag COMMAND reports.
    pub const SUBSCRIBED_CONTEXT: u32 = 1 << 11;
    /// May write through the commands it runs (EVAL, FCALL): routed like a write in
    /// cluster mode, yet not refused on a replica (the script's own writes are).
    pub const MAY_WRITE: u32 = 1 << 12;
    /// Takes the exec gate itself, exclusively (scripts): dispatch lets go of it
    /// before the handler runs, and the handler routes again under its own.
    pub const OWN_GATE: u32 = 1 << 13;

    pub const NAMES: &[(u32, &str)] = &[
        (WRITE, "write"),
        (READONLY, "readonly"),
        (ADMIN, "admin"),
        (FAST, "fast"),
        (NO_AUTH, "no_auth"),
        (NO_MULTI, "no_multi"),
        (LOADING, "loading"),
        (STALE, "stale"),
        (BLOCKING, "blocking"),
        (MOVABLE_KEYS, "movablekeys"),
        (MAY_WRITE, "may_replicate"),
    ];
}

pub type Handler = fn(&mut Context<'_>, &[Bytes]) -> CmdResult;

/// Finds the key positions of a command whose keys move (after a `numkeys`, after
/// `STREAMS`, ...).
pub type KeyFinder = fn(&[Bytes]) -> Vec<usize>;

/// One row of the command table.
pub struct CommandSpec {
    pub name: &'static str,
    /// Redis convention: `n` exactly n arguments (name included), `-n` at least n.
    pub arity: i32,
    pub flags: u32,
    /// Position of the first key (0 = no keys), of the last (negative: from the end),
    /// and the step between keys.
    pub first_key: i32,
    pub last_key: i32,
    pub step: i32,
    /// For commands with movable keys: finds the key positions.
    pub keys: Option<KeyFinder>,
    pub handler: Handler,
    pub summary: &'static str,
    pub group: &'static str,
}

impl CommandSpec {
    pub fn has(&self, flag: u32) -> bool {
        self.flags & flag != 0
    }

    pub fn arity_ok(&self, argc: usize) -> bool {
        let argc = argc as i64;
        let arity = i64::from(self.arity);
        if arity >= 0 {
            argc == arity
        } else {
            argc >= -arity
        }
    }

    /// Runs the command (it passed the checks: directly, or from EXEC), then lets
    /// everyone interested know which keys a successful write touched (WATCH, blocked
    /// clients, keyspace notifications).
    pub fn run(&self, ctx: &mut Context<'_>, args: &[Bytes]) -> Frame {
        let measure = crate::measure::Measure {
            name: self.name,
            counts_lookups: self.has(flags::READONLY),
            private: self.has(flags::NO_AUTH),
            admin: self.has(flags::ADMIN),
        };
        ctx.touches = None;
        // Key positions only when an event could be published (no cost otherwise).
        let keys = if ctx.server.notify.enabled() {
            self.key_positions(args)
        } else {
            Vec::new()
        };
        let call = crate::notify::Call {
            name: self.name,
            write: self.has(flags::WRITE),
            read: self.has(flags::READONLY),
            keys: &keys,
        };
        let before = crate::notify::Before::capture(ctx.server, &call, args);
        let reply = crate::measure::call(ctx, measure, args, self.handler);
        let touches = ctx.touches.take();
        let blocked = matches!(ctx.client.action, Some(Action::Block(_)));
        if let Some(before) = before.filter(|_| !blocked) {
            before.emit(ctx.server, &call, args, &reply);
        }
        if self.has(flags::WRITE) && !blocked && !matches!(reply, Frame::Error(_)) {
            if let Some(keys) = touches {
                for key in &keys {
                    ctx.server.touched(key);
                }
                return reply;
            }
            for position in self.key_positions(args) {
                if let Some(key) = args.get(position) {
                    ctx.server.touched(key);
                }
            }
        }
        reply
    }

    /// Positions of the key arguments in `args` (args[0] is the command name).
    pub fn key_positions(&self, args: &[Bytes]) -> Vec<usize> {
        if let Some(find) = self.keys {
            return find(args);
        }
        if self.first_key <= 0 {
            return Vec::new();
        }
        let argc = args.len() as i64;
        let last = if self.last_key < 0 {
            argc + i64::from(self.last_key)
        } else {
            i64::from(self.last_key).min(argc - 1)
        };
        let step = i64::from(self.step.max(1));
        (i64::from(self.first_key)..=last)
            .step_by(step as usize)
            .map(|i| i as usize)
            .collect()
    }
}

/// Builds a table row; keeps the per-family tables short and aligned.
#[allow(clippy::too_many_arguments)]
pub const fn cmd(
    name: &'static str,
    arity: i32,
    flags: u32,
    first_key: i32,
    last_key: i32,
    step: i32,
    handler: Handler,
    group: &'static str,
    summary: &'static str,
) -> CommandSpec {
    CommandSpec {
        name,
        arity,
        flags,
        first_key,
        last_key,
        step,
        keys: None,
        handler,
        summary,
        group,
    }
}

/// Command names are short and trusted (the table is ours): a cheap hash beats SipHash
/// on the lookup every request makes.
type NameMap = HashMap<&'static str, &'static CommandSpec, rustc_hash::FxBuildHasher>;

/// All commands by lower-case name.
pub struct CommandTable {
    by_name: NameMap,
}

impl CommandTable {
    /// The table of `families`, with the `rename-command` lines `renames` applied in
    /// order: `(name, new name)`, an empty new name removing the command. The spec
    /// keeps its own name (replies and COMMAND INFO show it, as in Kvrocks). Errors
    /// name a command that does not exist (or was renamed away already).
    pub fn new(
        families: &[&'static [CommandSpec]],
        renames: &[(String, String)],
    ) -> Result<Self, String> {
        let mut by_name: NameMap = families
            .iter()
            .flat_map(|family| family.iter())
            .map(|spec| (spec.name, spec))
            .collect();
        for (name, new_name) in renames {
            let spec = by_name
                .remove(name.to_ascii_lowercase().as_str())
                .ok_or_else(|| format!("rename-command: no such command '{name}'"))?;
            if !new_name.is_empty() {
                let lower = new_name.to_ascii_lowercase();
                if by_name.contains_key(lower.as_str()) {
                    return Err(format!(
                        "rename-command: target command name '{new_name}' already exists"
                    ));
                }
                // Start-up configuration, a handful of names: leaked once.
                let new_name: &'static str = Box::leak(lower.into_boxed_str());
                by_name.insert(new_name, spec);
            }
        }
        Ok(CommandTable { by_name })
    }

    /// Looks a command up by name in any letter case, without allocating for the
    /// usual short names.
    pub fn get(&self, name: &[u8]) -> Option<&'static CommandSpec> {
        let mut buf = [0u8; 32];
        if name.len() <= buf.len() {
            let lower = &mut buf[..name.len()];
            lower.copy_from_slice(name);
            lower.make_ascii_lowercase();
            return std::str::from_utf8(lower)
                .ok()
                .and_then(|n| self.by_name.get(n).copied());
        }
        // Only a renamed command can have a name this long.
        std::str::from_utf8(name)
            .ok()
            .and_then(|n| self.by_name.get(n.to_ascii_lowercase().as_str()).copied())
    }

    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    pub fn iter(&self) -> impl Iterator<Item = &'static CommandSpec> + '_ {
        self.by_name.values().copied()
    }
}
