//! One Lua 5.1 interpreter (`mlua`, vendored) set up as Redis sets up its own: the
//! sandbox of `prelude.lua`, the `redis` API, and the conversions between Lua values
//! and replies in both directions (Redis 7.0's src/script_lua.c:
//! `redisProtocolToLuaType`, `luaReplyToRedisReply`, `luaArgsToRedisArgv`).
//!
//! The interpreter knows nothing of the node: a run gets the command bridge as a
//! closure (`Engine::run`), which executes one command and returns its reply.

use std::sync::Arc;

use bytes::Bytes;
use ferrokv_protocol::Frame;
use mlua::{
    ChunkMode, Function, HookTriggers, Lua, LuaOptions, MultiValue, StdLib, Table, Value, VmState,
};

use super::{format_lua_number, raise, strip_zeros, Raised, RunStatus, ScriptError};

/// Which API the interpreter offers: EVAL scripts (KEYS/ARGV globals), or FUNCTION
/// libraries (`redis.register_function` while loading, keys and args as arguments).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Mode {
    Eval,
    Function,
}

/// Memory a Lua state may allocate: a script that builds huge strings gets Lua's
/// "not enough memory" error instead of taking the node down.
const MEMORY_LIMIT: usize = 1 << 30;

/// Instructions between two checks of the run's deadline and kill flag (Redis' count).
const HOOK_EVERY: u32 = 100_000;

/// Nesting beyond which a returned table is refused (a table may contain itself).
const MAX_DEPTH: usize = 1000;

/// A Lua interpreter and the control table its prelude returned.
pub struct Engine {
    lua: Lua,
    ctl: Table,
}

/// A function registered by a library while it loads.
pub struct Registered {
    pub name: String,
    pub description: Option<String>,
    pub flags: Vec<String>,
    pub callback: Function,
}

/// What `redis.log` writes: the level (0 debug .. 3 warning) and the message.
fn log_line(level: i64, text: &str) {
    match level {
        3 => tracing::warn!(target: "script", "{text}"),
        2 => tracing::info!(target: "script", "{text}"),
        _ => tracing::debug!(target: "script", "{text}"),
    }
}

impl Engine {
    /// A fresh interpreter; `version` is what `redis.REDIS_VERSION` says (`x.y.z`).
    pub fn new(mode: Mode, version: &str) -> Result<Engine, ScriptError> {
        let libs = StdLib::TABLE | StdLib::STRING | StdLib::MATH | StdLib::DEBUG;
        // SAFETY: `debug` is what mlua calls unsafe; only the prelude's error handler
        // keeps `debug.getinfo` (as Redis' does), scripts never see the library.
        let lua = unsafe { Lua::unsafe_new_with(libs, LuaOptions::default()) };
        lua.set_memory_limit(MEMORY_LIMIT)
            .map_err(ScriptError::engine)?;
        let hooks = api_functions(&lua).map_err(ScriptError::engine)?;
        let version_num = version
            .split('.')
            .take(3)
            .fold(0i64, |n, part| n * 256 + part.parse::<i64>().unwrap_or(0));
        let mode_name = match mode {
            Mode::Eval => "eval",
            Mode::Function => "function",
        };
        let ctl: Table = lua
            .load(include_str!("prelude.lua"))
            .set_name("=ferrokv")
            .call((hooks, mode_name, version, version_num))
            .map_err(ScriptError::engine)?;
        lua.set_named_registry_value(CTL, &ctl)
            .map_err(ScriptError::engine)?;
        Ok(Engine { lua, ctl })
    }

    /// Compiles `body` under `name` (`@user_script`, `@user_function`) into a function
    /// of the sandbox. The error is Lua's message (`user_script:1: ...`).
    pub fn compile(&self, body: &[u8], name: &str) -> Result<Function, String> {
        let function = self
            .lua
            .load(body)
            .set_name(name)
            .set_mode(ChunkMode::Text)
            .into_function()
            .map_err(|e| match e {
                mlua::Error::SyntaxError { message, .. } => message,
                other => other.to_string(),
            })?;
        let env: Table = self.ctl.get("env").map_err(|e| e.to_string())?;
        let setfenv: Function = self.ctl.get("setfenv").map_err(|e| e.to_string())?;
        setfenv
            .call::<()>((function.clone(), env))
            .map_err(|e| e.to_string())?;
        Ok(function)
    }

    /// Runs a library body (FUNCTION LOAD): the functions it registered, or the error
    /// text (`ERR ...`).
    pub fn load_library(
        &self,
        body: Function,
        started: std::time::Instant,
    ) -> Result<Vec<Registered>, String> {
        let load: Function = self.ctl.get("load_library").map_err(|e| e.to_string())?;
        self.set_deadline_hook(started);
        let result = load.call::<(bool, Value)>(body);
        self.lua.remove_hook();
        let (ok, value) = result.map_err(|e| format!("ERR {e}"))?;
        if !ok {
            return Err(error_text(&value));
        }
        let Value::Table(list) = value else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for entry in list.sequence_values::<Table>() {
            let entry = entry.map_err(|e| e.to_string())?;
            let flags: Table = entry.get("flags").map_err(|e| e.to_string())?;
            out.push(Registered {
                name: entry.get("name").map_err(|e| e.to_string())?,
                description: entry.get("description").map_err(|e| e.to_string())?,
                flags: flags
                    .sequence_values::<String>()
                    .collect::<Result<_, _>>()
                    .map_err(|e| e.to_string())?,
                callback: entry.get("callback").map_err(|e| e.to_string())?,
            });
        }
        Ok(out)
    }

    /// FUNCTION LOAD's time limit (Redis' 500 ms): the hook stops a library body that
    /// runs longer.
    fn set_deadline_hook(&self, started: std::time::Instant) {
        self.lua.set_hook(
            HookTriggers::new().every_nth_instruction(HOOK_EVERY),
            move |_, _| {
                if started.elapsed() > std::time::Duration::from_millis(500) {
                    return Err(kill_error("FUNCTION LOAD timeout"));
                }
                Ok(VmState::Continue)
            },
        );
    }

    /// Runs `function` with `keys` and `args`, executing commands through `call` (its
    /// reply as a Frame, errors as `Frame::Error`). `funcname` names the script in
    /// error texts (the sha of an EVAL, the function's name). Returns the reply in the
    /// caller's terms.
    pub fn run(
        &self,
        function: &Function,
        funcname: &str,
        keys: &[Bytes],
        args: &[Bytes],
        status: &Arc<RunStatus>,
        call: &mut dyn FnMut(Vec<Bytes>) -> Frame,
    ) -> Frame {
        match self.run_inner(function, funcname, keys, args, status, call) {
            Ok(frame) => frame,
            Err(e) => Frame::Error(format!("ERR Error running script {funcname}, {e}")),
        }
    }

    fn run_inner(
        &self,
        function: &Function,
        funcname: &str,
        keys: &[Bytes],
        args: &[Bytes],
        status: &Arc<RunStatus>,
        call: &mut dyn FnMut(Vec<Bytes>) -> Frame,
    ) -> mlua::Result<Frame> {
        let lua = &self.lua;
        self.ctl.set("resp", 2)?;
        let keys_table = lua.create_sequence_from(
            keys.iter()
                .map(|k| lua.create_string(k))
                .collect::<mlua::Result<Vec<_>>>()?,
        )?;
        let args_table = lua.create_sequence_from(
            args.iter()
                .map(|a| lua.create_string(a))
                .collect::<mlua::Result<Vec<_>>>()?,
        )?;
        let hook_status = status.clone();
        lua.set_hook(
            HookTriggers::new().every_nth_instruction(HOOK_EVERY),
            move |lua, debug| {
                if hook_status.must_stop() && in_user_code(&debug) {
                    // As Redis: from now on the hook fires at every line, so a pcall
                    // that catches the error cannot keep the script alive.
                    lua.set_hook(
                        HookTriggers::new().every_line().every_nth_instruction(1000),
                        |_, debug| {
                            if !in_user_code(&debug) {
                                return Ok(VmState::Continue);
                            }
                            Err(kill_error("Script killed by user with SCRIPT KILL..."))
                        },
                    );
                    return Err(kill_error("Script killed by user with SCRIPT KILL..."));
                }
                Ok(VmState::Continue)
            },
        );
        let ctl = &self.ctl;
        let result = lua.scope(|scope| {
            let bridge = scope.create_function_mut(|lua, argv: MultiValue| {
                let args = match lua_args(&argv) {
                    Ok(args) => args,
                    Err(text) => return Ok((false, Value::Table(err_table(lua, &text)?))),
                };
                let reply = call(args);
                let resp3 = ctl.get::<i64>("resp")? == 3;
                match reply {
                    Frame::Error(text) => Ok((false, Value::Table(err_table(lua, &text)?))),
                    other => Ok((true, frame_to_lua(lua, &other, resp3)?)),
                }
            })?;
            ctl.set("call", bridge)?;
            let run: Function = ctl.get("run")?;
            run.call::<(bool, Value)>((function.clone(), keys_table, args_table))
        });
        lua.remove_hook();
        // The bridge died with the scope; make sure nothing can reach it.
        let _ = ctl.set("call", Value::Nil);
        let _ = ctl.set("running", false);
        let (ok, value) = result?;
        let resp3 = ctl.get::<i64>("resp")? == 3;
        if ok {
            return Ok(lua_to_frame(&value, resp3, 0));
        }
        Ok(run_error(&value, funcname))
    }
}

/// Whether the hook fired in the user's code: the prelude (which catches the kill
/// error and turns it into the reply) must be let finish.
fn in_user_code(debug: &mlua::Debug) -> bool {
    debug.source().source.as_deref() != Some("=ferrokv")
}

/// Where the control table lives in the registry.
const CTL: &str = "ferrokv.ctl";

/// The `redis.*` functions written in Rust (see `prelude.lua` for why), and the
/// conversion of Rust errors back into error tables.
fn api_functions(lua: &Lua) -> mlua::Result<Table> {
    let hooks = lua.create_table()?;
    hooks.set(
        "call",
        lua.create_function(|lua, args: MultiValue| {
            let ctl: Table = lua.named_registry_value(CTL)?;
            let command: Function = ctl.get("command")?;
            let (ok, reply) = command.call::<(bool, Value)>(args)?;
            if ok {
                return Ok(reply);
            }
            Err(raise(error_text(&reply)))
        })?,
    )?;
    hooks.set(
        "sha1hex",
        lua.create_function(|lua, args: MultiValue| {
            if args.len() != 1 {
                return Err(raise("ERR wrong number of arguments".into()));
            }
            let text = match args.into_iter().next() {
                Some(v @ (Value::String(_) | Value::Integer(_) | Value::Number(_))) => lua
                    .coerce_string(v)?
                    .map(|s| s.as_bytes().to_vec())
                    .unwrap_or_default(),
                _ => Vec::new(),
            };
            Ok(sha1_hex(&text))
        })?,
    )?;
    hooks.set(
        "log",
        lua.create_function(|lua, args: MultiValue| {
            if args.len() < 2 {
                return Err(raise(
                    "ERR redis.log() requires two arguments or more.".into(),
                ));
            }
            let mut args = args.into_iter();
            let level = args
                .next()
                .and_then(|v| lua.coerce_number(v).ok().flatten())
                .ok_or_else(|| raise("ERR First argument must be a number (log level).".into()))?
                .trunc();
            if !(0.0..=3.0).contains(&level) {
                return Err(raise("ERR Invalid debug level.".into()));
            }
            let mut parts = Vec::new();
            for v in args {
                if matches!(v, Value::String(_) | Value::Integer(_) | Value::Number(_)) {
                    if let Some(s) = lua.coerce_string(v)? {
                        parts.push(s.to_string_lossy());
                    }
                }
            }
            log_line(level as i64, &parts.join(" "));
            Ok(())
        })?,
    )?;
    hooks.set(
        "setresp",
        lua.create_function(|lua, args: MultiValue| {
            let ctl: Table = lua.named_registry_value(CTL)?;
            if !ctl.get::<Option<bool>>("running")?.unwrap_or(false) {
                return Err(raise(
                    "ERR redis.setresp can only be called inside a script invocation".into(),
                ));
            }
            if args.len() != 1 {
                return Err(raise("ERR redis.setresp() requires one argument.".into()));
            }
            let resp = args
                .into_iter()
                .next()
                .and_then(|v| lua.coerce_number(v).ok().flatten())
                .unwrap_or(0.0) as i64;
            if resp != 2 && resp != 3 {
                return Err(raise("ERR RESP version must be 2 or 3.".into()));
            }
            ctl.set("resp", resp)?;
            Ok(())
        })?,
    )?;
    hooks.set("cjson", super::cjson::library(lua)?)?;
    hooks.set(
        "error_table",
        lua.create_function(|lua, value: Value| {
            let text = match &value {
                Value::Error(e) => raised_text(e),
                other => format!("ERR {}", other.to_string().unwrap_or_default()),
            };
            let t = lua.create_table()?;
            t.raw_set("err", text)?;
            Ok(t)
        })?,
    )?;
    Ok(hooks)
}

/// The whole error text of an error raised in Rust: a `Raised` verbatim, anything
/// else as `ERR <message>`, without the layers mlua adds (callback wrapping,
/// tracebacks, "runtime error: ").
fn raised_text(e: &mlua::Error) -> String {
    match e {
        mlua::Error::CallbackError { cause, .. } => raised_text(cause),
        mlua::Error::WithContext { cause, .. } => raised_text(cause),
        mlua::Error::ExternalError(inner) => match inner.downcast_ref::<Raised>() {
            Some(Raised(text)) => text.clone(),
            None => format!("ERR {inner}"),
        },
        mlua::Error::RuntimeError(msg) | mlua::Error::MemoryError(msg) => format!("ERR {msg}"),
        other => format!("ERR {other}"),
    }
}

fn kill_error(text: &str) -> mlua::Error {
    raise(format!("ERR {text}"))
}

/// The error reply of a failed run (Redis' `luaCallFunction`): the located error
/// table as `<err> script: <name>, on <source>:<line>.`.
fn run_error(value: &Value, funcname: &str) -> Frame {
    let Value::Table(t) = value else {
        let msg = match value {
            Value::String(s) => String::from_utf8_lossy(&s.as_bytes()).into_owned(),
            _ => "execution failure".to_string(),
        };
        let msg: String = msg.chars().take(100).collect();
        // Redis' text ends with a newline, sent as a space.
        return Frame::Error(sanitize(&format!(
            "ERR Error running script {funcname}, {msg}\n"
        )));
    };
    let mut text = error_text(value);
    let source: Option<String> = t
        .raw_get::<Option<mlua::String>>("source")
        .ok()
        .flatten()
        .map(|s| s.to_string_lossy());
    let line = t.raw_get::<Value>("line").ok().and_then(|v| match v {
        Value::Integer(n) => Some(n.to_string()),
        Value::Number(n) => Some(format!("{}", n as i64)),
        Value::String(s) => Some(s.to_string_lossy()),
        _ => None,
    });
    if let (Some(source), Some(line)) = (source, line) {
        text.push_str(&format!(" script: {funcname}, on {source}:{line}."));
    }
    Frame::Error(sanitize(&text))
}

/// The `err` text of an error value (a table, or anything else as `ERR <text>`).
fn error_text(value: &Value) -> String {
    match value {
        Value::Table(t) => match t.raw_get::<Value>("err") {
            Ok(Value::String(s)) => s.to_string_lossy(),
            Ok(Value::Integer(n)) => n.to_string(),
            Ok(Value::Number(n)) => format_lua_number(n),
            _ => "ERR unknown error".to_string(),
        },
        Value::String(s) => format!("ERR {}", s.to_string_lossy()),
        Value::Error(e) => format!("ERR {e}"),
        other => format!("ERR {}", other.to_string().unwrap_or_default()),
    }
}

/// An error reply is one line: Redis turns CR and LF into spaces.
fn sanitize(text: &str) -> String {
    text.replace(['\r', '\n'], " ")
}

/// `{err = text}` as `redis.pcall` returns it.
fn err_table(lua: &Lua, text: &str) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.raw_set("err", text.trim_end_matches(['\r', '\n']))?;
    Ok(t)
}

/// The arguments of `redis.call`: strings, and numbers as `%.17g` (Redis'
/// `luaArgsToRedisArgv`); anything else is refused with Redis' texts.
fn lua_args(argv: &MultiValue) -> Result<Vec<Bytes>, String> {
    if argv.is_empty() {
        return Err("ERR Please specify at least one argument for this redis lib call".into());
    }
    let mut out = Vec::with_capacity(argv.len());
    for value in argv.iter() {
        match value {
            Value::String(s) => out.push(Bytes::copy_from_slice(&s.as_bytes())),
            Value::Integer(n) => out.push(Bytes::from(format_g17(*n as f64))),
            Value::Number(n) => out.push(Bytes::from(format_g17(*n))),
            _ => {
                return Err(
                    "ERR Lua redis lib command arguments must be strings or integers".into(),
                )
            }
        }
    }
    Ok(out)
}

/// C's `%.17g`.
pub fn format_g17(v: f64) -> String {
    if v.is_nan() {
        return if v.is_sign_negative() { "-nan" } else { "nan" }.into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf" } else { "-inf" }.into();
    }
    if v == 0.0 {
        return if v.is_sign_negative() { "-0" } else { "0" }.into();
    }
    const P: i32 = 17;
    let sci = format!("{:.*e}", (P - 1) as usize, v);
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if !(-4..P).contains(&exp) {
        let mantissa = strip_zeros(mantissa);
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exp.abs())
    } else {
        let decimals = (P - 1 - exp).max(0) as usize;
        strip_zeros(&format!("{v:.decimals$}")).to_string()
    }
}

/// A command's reply as the script sees it (Redis' `redisProtocolToLuaType`, through
/// the RESP version the script chose with `redis.setresp`).
fn frame_to_lua(lua: &Lua, frame: &Frame, resp3: bool) -> mlua::Result<Value> {
    Ok(match frame {
        Frame::Simple(s) => {
            let t = lua.create_table()?;
            t.raw_set("ok", s.as_str())?;
            Value::Table(t)
        }
        Frame::Error(s) => Value::Table(err_table(lua, s)?),
        Frame::Integer(n) => Value::Number(*n as f64),
        Frame::Bulk(b) => Value::String(lua.create_string(b)?),
        Frame::Null | Frame::NullArray => {
            if resp3 {
                Value::Nil
            } else {
                Value::Boolean(false)
            }
        }
        Frame::Array(items) | Frame::Push(items) | Frame::Replies(items) => {
            array_to_lua(lua, items, resp3)?
        }
        Frame::Set(items) => {
            if resp3 {
                let set = lua.create_table()?;
                for item in items {
                    set.raw_set(frame_to_lua(lua, item, resp3)?, true)?;
                }
                let t = lua.create_table()?;
                t.raw_set("set", set)?;
                Value::Table(t)
            } else {
                array_to_lua(lua, items, resp3)?
            }
        }
        Frame::Map(pairs) | Frame::Attribute(pairs) => {
            if resp3 {
                let map = lua.create_table()?;
                for (k, v) in pairs {
                    map.raw_set(frame_to_lua(lua, k, resp3)?, frame_to_lua(lua, v, resp3)?)?;
                }
                let t = lua.create_table()?;
                t.raw_set("map", map)?;
                Value::Table(t)
            } else {
                let t = lua.create_table()?;
                let mut i = 1;
                for (k, v) in pairs {
                    t.raw_set(i, frame_to_lua(lua, k, resp3)?)?;
                    t.raw_set(i + 1, frame_to_lua(lua, v, resp3)?)?;
                    i += 2;
                }
                Value::Table(t)
            }
        }
        Frame::Double(v) => {
            if resp3 {
                let t = lua.create_table()?;
                t.raw_set("double", *v)?;
                Value::Table(t)
            } else {
                Value::String(lua.create_string(ferrokv_protocol::format_double(*v))?)
            }
        }
        Frame::DoubleText(text) => {
            if resp3 {
                let t = lua.create_table()?;
                t.raw_set("double", text.parse::<f64>().unwrap_or(f64::NAN))?;
                Value::Table(t)
            } else {
                Value::String(lua.create_string(text)?)
            }
        }
        Frame::Boolean(b) => {
            if resp3 {
                Value::Boolean(*b)
            } else {
                Value::Number(if *b { 1.0 } else { 0.0 })
            }
        }
        Frame::Verbatim(data) => {
            if resp3 {
                let inner = lua.create_table()?;
                inner.raw_set("format", "txt")?;
                inner.raw_set("string", lua.create_string(data)?)?;
                let t = lua.create_table()?;
                t.raw_set("verbatim_string", inner)?;
                Value::Table(t)
            } else {
                Value::String(lua.create_string(data)?)
            }
        }
        Frame::BigNumber(text) => {
            if resp3 {
                let t = lua.create_table()?;
                t.raw_set("big_number", text.as_str())?;
                Value::Table(t)
            } else {
                Value::String(lua.create_string(text)?)
            }
        }
    })
}

fn array_to_lua(lua: &Lua, items: &[Frame], resp3: bool) -> mlua::Result<Value> {
    let t = lua.create_table_with_capacity(items.len(), 0)?;
    for (i, item) in items.iter().enumerate() {
        t.raw_set(i + 1, frame_to_lua(lua, item, resp3)?)?;
    }
    Ok(Value::Table(t))
}

/// A script's return value as a reply (Redis' `luaReplyToRedisReply`): strings are
/// bulk, numbers are truncated to integers, booleans depend on the script's RESP
/// (`false` is a null under RESP2), tables are an error (`err`), a status (`ok`), a
/// double, a big number, a verbatim string, a map, a set, or an array up to the first
/// nil.
pub fn lua_to_frame(value: &Value, resp3: bool, depth: usize) -> Frame {
    if depth > MAX_DEPTH {
        return Frame::Error("ERR reached lua stack limit".into());
    }
    match value {
        Value::String(s) => Frame::Bulk(Bytes::copy_from_slice(&s.as_bytes())),
        Value::Boolean(b) => {
            if resp3 {
                Frame::Boolean(*b)
            } else if *b {
                Frame::Integer(1)
            } else {
                Frame::Null
            }
        }
        Value::Integer(n) => Frame::Integer(*n),
        Value::Number(n) => Frame::Integer(truncate(*n)),
        Value::Table(t) => table_to_frame(t, resp3, depth),
        _ => Frame::Null,
    }
}

/// `(long long)` of a Lua number: toward zero, saturating (NaN is 0).
fn truncate(n: f64) -> i64 {
    if n.is_nan() {
        i64::MIN
    } else {
        n as i64
    }
}

fn table_to_frame(t: &Table, resp3: bool, depth: usize) -> Frame {
    let field = |name: &str| t.raw_get::<Value>(name).unwrap_or(Value::Nil);
    if let Value::String(_) = field("err") {
        return Frame::Error(sanitize(&error_text(&Value::Table(t.clone()))));
    }
    if let Value::String(s) = field("ok") {
        return Frame::Simple(sanitize(&s.to_string_lossy()));
    }
    match field("double") {
        Value::Number(n) => return Frame::Double(n),
        Value::Integer(n) => return Frame::Double(n as f64),
        _ => {}
    }
    if let Value::String(s) = field("big_number") {
        return Frame::BigNumber(sanitize(&s.to_string_lossy()));
    }
    if let Value::Table(v) = field("verbatim_string") {
        let format = v.raw_get::<Value>("format").unwrap_or(Value::Nil);
        let string = v.raw_get::<Value>("string").unwrap_or(Value::Nil);
        if let (Value::String(_), Value::String(s)) = (format, string) {
            return Frame::Verbatim(Bytes::copy_from_slice(&s.as_bytes()));
        }
    }
    if let Value::Table(map) = field("map") {
        let mut pairs = Vec::new();
        for pair in map.pairs::<Value, Value>() {
            let Ok((k, v)) = pair else { break };
            pairs.push((
                lua_to_frame(&k, resp3, depth + 1),
                lua_to_frame(&v, resp3, depth + 1),
            ));
        }
        return Frame::Map(pairs);
    }
    if let Value::Table(set) = field("set") {
        let mut items = Vec::new();
        for pair in set.pairs::<Value, Value>() {
            let Ok((k, _)) = pair else { break };
            items.push(lua_to_frame(&k, resp3, depth + 1));
        }
        return Frame::Set(items);
    }
    let mut items = Vec::new();
    let mut i = 1i64;
    loop {
        let v = t.raw_get::<Value>(i).unwrap_or(Value::Nil);
        if v == Value::Nil {
            break;
        }
        items.push(lua_to_frame(&v, resp3, depth + 1));
        i += 1;
    }
    Frame::Array(items)
}

/// Lower-case hex SHA-1 of `data` (script names, `redis.sha1hex`).
pub fn sha1_hex(data: &[u8]) -> String {
    sha1_smol::Sha1::from(data).digest().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn g17_matches_c() {
        assert_eq!(format_g17(1.5), "1.5");
        assert_eq!(format_g17(3.0), "3");
        assert_eq!(format_g17(0.1), "0.10000000000000001");
        assert_eq!(format_g17(1e20), "1e+20");
        assert_eq!(format_g17(-2.5e-7), "-2.4999999999999999e-07");
        assert_eq!(format_g17(123456789.0), "123456789");
    }
}
