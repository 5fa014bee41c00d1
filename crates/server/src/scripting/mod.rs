//! What the node holds for scripting: the EVAL interpreter and its script cache (in
//! memory, per node, as Redis), the FUNCTION interpreter and its libraries (persisted
//! as a node record, so they survive restarts and reach replicas), and the state of
//! the script running now (for `busy-script-time`, BUSY and SCRIPT KILL).
//!
//! Running a script needs the node and the calling connection; that lives with the
//! commands (`commands/scripting.rs`). Nothing here reaches the server.

mod cjson;
pub mod dump;
pub mod lua;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mlua::Function;
use parking_lot::Mutex;
use thiserror::Error;

pub use lua::{sha1_hex, Engine, Mode};

/// Errors of the scripting machinery itself (the interpreter could not be set up);
/// errors of scripts are replies.
#[derive(Debug, Error)]
pub enum ScriptError {
    #[error("Lua engine: {0}")]
    Engine(String),
}

impl ScriptError {
    fn engine(e: mlua::Error) -> Self {
        ScriptError::Engine(e.to_string())
    }
}

/// Script flags of a shebang (`#!lua flags=...`) or of `redis.register_function`
/// (Redis' `scripts_flags_def`).
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub struct ScriptFlags {
    /// No shebang: an EVAL script of Redis 6 semantics (may write, checked per
    /// command).
    pub compat: bool,
    pub no_writes: bool,
    pub allow_oom: bool,
    pub allow_stale: bool,
    pub no_cluster: bool,
    pub allow_cross_slot: bool,
}

impl ScriptFlags {
    /// Sets a flag by its name; false when the name is unknown.
    pub fn set(&mut self, name: &str) -> bool {
        match name {
            "no-writes" => self.no_writes = true,
            "allow-oom" => self.allow_oom = true,
            "allow-stale" => self.allow_stale = true,
            "no-cluster" => self.no_cluster = true,
            "allow-cross-slot-keys" => self.allow_cross_slot = true,
            _ => return false,
        }
        true
    }

    /// The names of the flags set, in Redis' order.
    pub fn names(&self) -> Vec<&'static str> {
        [
            (self.no_writes, "no-writes"),
            (self.allow_oom, "allow-oom"),
            (self.allow_stale, "allow-stale"),
            (self.no_cluster, "no-cluster"),
            (self.allow_cross_slot, "allow-cross-slot-keys"),
        ]
        .into_iter()
        .filter_map(|(on, name)| on.then_some(name))
        .collect()
    }
}

/// Parses an EVAL script's shebang line (Redis' `evalExtractShebangFlags`): its flags
/// and the length of the line (the body runs from the newline on, so line numbers
/// stay right). The error is Redis' text without `ERR `.
pub fn shebang_flags(body: &[u8]) -> Result<(ScriptFlags, usize), String> {
    if !body.starts_with(b"#!") {
        return Ok((
            ScriptFlags {
                compat: true,
                ..ScriptFlags::default()
            },
            0,
        ));
    }
    let end = body
        .iter()
        .position(|&b| b == b'\n')
        .ok_or("Invalid script shebang")?;
    let line = String::from_utf8_lossy(&body[..end]);
    let parts: Vec<&str> = line.split_ascii_whitespace().collect();
    let Some(engine) = parts.first() else {
        return Err("Invalid engine in script shebang".into());
    };
    if *engine != "#!lua" {
        return Err(format!("Unexpected engine in script shebang: {engine}"));
    }
    let mut flags = ScriptFlags::default();
    for part in &parts[1..] {
        let Some(list) = part.strip_prefix("flags=") else {
            return Err(format!("Unknown lua shebang option: {part}"));
        };
        for name in list.split(',') {
            if !flags.set(name) {
                return Err(format!("Unexpected flag in script shebang: {name}"));
            }
        }
    }
    Ok((flags, end))
}

/// A script of the EVAL cache.
pub struct CachedScript {
    pub function: Function,
    pub flags: ScriptFlags,
}

/// The EVAL interpreter and the scripts it compiled, by lower-case sha1.
pub struct EvalScripts {
    pub engine: Engine,
    pub scripts: HashMap<String, CachedScript>,
}

/// A function of a library.
pub struct LibraryFunction {
    pub name: String,
    pub description: Option<String>,
    pub flags: ScriptFlags,
    pub callback: Function,
}

/// A loaded library: its name, its whole code (shebang included) and its functions.
pub struct Library {
    pub name: String,
    pub code: Vec<u8>,
    pub functions: Vec<LibraryFunction>,
}

/// The FUNCTION interpreter and its libraries, by name; `functions` maps a function
/// name to its library.
pub struct Functions {
    pub engine: Engine,
    pub libraries: BTreeMap<String, Library>,
    pub functions: HashMap<String, String>,
    /// The node record these libraries were loaded from or saved as (a replica
    /// reloads when the master's record differs).
    pub record: Option<Vec<u8>>,
}

/// The script running now: when it started, whether it wrote, whether SCRIPT KILL
/// asked it to stop. Read by other connections without any lock.
pub struct RunStatus {
    running: AtomicBool,
    started_ms: AtomicU64,
    epoch: Instant,
    /// Set by SCRIPT KILL / FUNCTION KILL; the hook raises the kill error.
    pub killed: AtomicBool,
    /// The script ran a write command: it can no longer be killed.
    pub wrote: AtomicBool,
    /// The node is shutting down: this script and any that starts after it stop at
    /// once (unlike `killed`, never cleared).
    stopping: AtomicBool,
    /// EVAL (true) or FCALL (false): which KILL stops it, which BUSY text others get.
    pub is_eval: AtomicBool,
    /// `busy-script-time` in milliseconds (0: never busy).
    pub busy_after_ms: AtomicU64,
}

impl RunStatus {
    fn new() -> RunStatus {
        RunStatus {
            running: AtomicBool::new(false),
            started_ms: AtomicU64::new(0),
            epoch: Instant::now(),
            killed: AtomicBool::new(false),
            wrote: AtomicBool::new(false),
            stopping: AtomicBool::new(false),
            is_eval: AtomicBool::new(true),
            busy_after_ms: AtomicU64::new(5000),
        }
    }

    /// Marks a script as started.
    pub fn begin(&self, is_eval: bool) {
        self.killed.store(false, Ordering::Release);
        self.wrote.store(false, Ordering::Release);
        self.is_eval.store(is_eval, Ordering::Release);
        self.started_ms
            .store(self.epoch.elapsed().as_millis() as u64, Ordering::Release);
        self.running.store(true, Ordering::Release);
    }

    /// Marks the script as finished.
    pub fn end(&self) {
        self.running.store(false, Ordering::Release);
        self.killed.store(false, Ordering::Release);
    }

    pub fn running(&self) -> bool {
        self.running.load(Ordering::Acquire)
    }

    /// SHUTDOWN, SIGTERM, SIGINT: the running script and every later one stop at their
    /// next hook, whether they wrote or not (as SHUTDOWN NOSAVE stops a Redis script).
    pub fn stop_for_shutdown(&self) {
        self.stopping.store(true, Ordering::Release);
    }

    /// Whether the running script must raise the kill error now.
    pub fn must_stop(&self) -> bool {
        self.killed.load(Ordering::Acquire) || self.stopping.load(Ordering::Acquire)
    }

    /// When the running script started (the process start if none runs).
    pub fn started(&self) -> Instant {
        self.epoch + Duration::from_millis(self.started_ms.load(Ordering::Acquire))
    }

    /// A script has run longer than `busy-script-time`: other clients get BUSY.
    pub fn busy(&self) -> bool {
        let limit = self.busy_after_ms.load(Ordering::Relaxed);
        self.running() && limit > 0 && self.started().elapsed() >= Duration::from_millis(limit)
    }
}

/// Everything scripting of one node.
pub struct Scripting {
    pub eval: Mutex<EvalScripts>,
    pub functions: Mutex<Functions>,
    pub status: Arc<RunStatus>,
    version: String,
}

impl Scripting {
    /// Both interpreters, empty; `version` is the Redis version the node reports.
    pub fn new(version: &str) -> Result<Scripting, ScriptError> {
        Ok(Scripting {
            eval: Mutex::new(EvalScripts {
                engine: Engine::new(Mode::Eval, version)?,
                scripts: HashMap::new(),
            }),
            functions: Mutex::new(Functions {
                engine: Engine::new(Mode::Function, version)?,
                libraries: BTreeMap::new(),
                functions: HashMap::new(),
                record: None,
            }),
            status: Arc::new(RunStatus::new()),
            version: version.to_string(),
        })
    }

    /// A fresh EVAL interpreter (SCRIPT FLUSH): Redis also starts a new Lua state.
    pub fn new_eval_engine(&self) -> Result<Engine, ScriptError> {
        Engine::new(Mode::Eval, &self.version)
    }

    /// A fresh FUNCTION interpreter (FUNCTION FLUSH, or loading a whole set again).
    pub fn new_function_engine(&self) -> Result<Engine, ScriptError> {
        Engine::new(Mode::Function, &self.version)
    }
}

/// The parsed metadata line of a library (`#!lua name=<name>`): engine and name, or
/// Redis' error text (without `ERR `), `functionExtractLibMetaData`.
pub fn library_metadata(code: &[u8]) -> Result<(String, String, usize), String> {
    if !code.starts_with(b"#!") {
        return Err("Missing library metadata".into());
    }
    let end = code
        .iter()
        .position(|&b| b == b'\n')
        .ok_or("Invalid library metadata")?;
    let line = String::from_utf8_lossy(&code[..end]);
    let parts: Vec<&str> = line.split_ascii_whitespace().collect();
    let Some(engine) = parts.first() else {
        return Err("Invalid library metadata".into());
    };
    let engine = engine.trim_start_matches("#!").to_string();
    let mut name = None;
    for part in &parts[1..] {
        if part.len() >= 5 && part[..5].eq_ignore_ascii_case("name=") {
            if name.is_some() {
                return Err(
                    "Invalid metadata value, name argument was given multiple times".into(),
                );
            }
            name = Some(part[5..].to_string());
            continue;
        }
        return Err(format!("Invalid metadata value given: {part}"));
    }
    let name = name.ok_or("Library name was not given")?;
    Ok((engine, name, end))
}

/// Redis' rule for library and function names.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// A Lua error whose text (prefix included) becomes the script's error reply.
pub(crate) fn raise(text: String) -> mlua::Error {
    mlua::Error::external(Raised(text))
}

/// An error a `redis.*` function or the kill hook raises: its text (prefix included)
/// is what the script's error reply carries.
#[derive(Debug)]
pub(crate) struct Raised(pub String);

impl std::fmt::Display for Raised {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Raised {}

/// Lua's own number text (`%.14g`), as `tostring` gives it.
pub(crate) fn format_lua_number(n: f64) -> String {
    let s = format!("{:.13e}", n);
    let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if !(-4..14).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{}e{sign}{:02}", strip_zeros(mantissa), exp.abs())
    } else {
        let decimals = (13 - exp).max(0) as usize;
        strip_zeros(&format!("{n:.decimals$}")).to_string()
    }
}

/// A number's text without trailing fraction zeros (`1.50` → `1.5`, `2.0` → `2`).
pub(crate) fn strip_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}
