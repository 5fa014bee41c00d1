//! Command families, one file each (parsing and replies; storage logic lives in
//! `ferrokv-types`). Each file ends with its rows of the command table.

mod bitmap;
mod cluster;
mod connection;
mod geo;
mod hash;
mod hll;
mod keyspace;
mod list;
mod operator;
mod pubsub;
mod replication;
mod scripting;
mod server;
mod set;
mod sort;
mod sortedint;
mod stream;
mod stream_group;
mod string;
mod transaction;
mod zset;

pub use scripting::{shared_gate, sync_functions};
pub use transaction::discard_transaction;
pub(crate) use zset::score_arg;

use bytes::Bytes;
use ferrokv_protocol::Frame;

use crate::command::CommandTable;
use crate::context::Context;
use crate::error::CommandError;

/// Every command family's rows.
const FAMILIES: &[&[crate::command::CommandSpec]] = &[
    bitmap::COMMANDS,
    cluster::COMMANDS,
    connection::COMMANDS,
    geo::COMMANDS,
    hash::COMMANDS,
    hll::COMMANDS,
    server::COMMANDS,
    set::COMMANDS,
    sort::COMMANDS,
    sortedint::COMMANDS,
    keyspace::COMMANDS,
    list::COMMANDS,
    operator::COMMANDS,
    replication::COMMANDS,
    scripting::COMMANDS,
    pubsub::COMMANDS,
    stream::COMMANDS,
    stream_group::COMMANDS,
    string::COMMANDS,
    transaction::COMMANDS,
    zset::COMMANDS,
];

/// The `rename-command` lines of the configuration, installed once at start-up
/// ([`install_renames`]) before the first command is looked up.
static RENAMES: std::sync::OnceLock<Vec<(String, String)>> = std::sync::OnceLock::new();

/// Applies the configuration's `rename-command` lines to [`TABLE`]; must run before
/// any command is looked up (the node's start). Errors name an unknown command.
pub fn install_renames(renames: &[(String, String)]) -> Result<(), String> {
    CommandTable::new(FAMILIES, renames)?;
    RENAMES
        .set(renames.to_vec())
        .map_err(|_| "commands were renamed already".to_string())
}

/// Every command of the node, by name (after the configuration's renames).
pub static TABLE: std::sync::LazyLock<CommandTable> = std::sync::LazyLock::new(|| {
    let renames = RENAMES.get().map_or(&[][..], Vec::as_slice);
    // install_renames checked the renames; without them the table cannot fail.
    CommandTable::new(FAMILIES, renames)
        .or_else(|_| CommandTable::new(FAMILIES, &[]))
        .unwrap_or_else(|e| unreachable!("the command table without renames: {e}"))
});

/// A strict integer argument.
/// The value of an option at `args[at]`, or the error of Kvrocks' `CommandParser` when
/// the arguments end before it ("ERR no more item to parse"), for Kvrocks' own commands.
pub fn option_value(args: &[Bytes], at: usize) -> Result<&Bytes, CommandError> {
    args.get(at)
        .ok_or_else(|| CommandError::err("no more item to parse"))
}

pub fn int_arg(arg: &[u8]) -> Result<i64, CommandError> {
    ferrokv_types::numbers::parse_i64(arg).ok_or(CommandError::NotInteger)
}

/// A count-like argument whose sign selects a behaviour (negative counts of random
/// picks, LPOS RANK): its magnitude must fit in 64 bits so that negating it cannot
/// overflow. Redis checks this range before it looks the key up, so callers parse with
/// it first.
pub fn count_arg(arg: &[u8]) -> Result<i64, CommandError> {
    let n = int_arg(arg)?;
    if n == i64::MIN {
        return Err(CommandError::err(format!(
            "value is out of range, value must between {} and {}",
            -i64::MAX,
            i64::MAX
        )));
    }
    Ok(n)
}

/// A float argument.
pub fn float_arg(arg: &[u8]) -> Result<f64, CommandError> {
    ferrokv_types::numbers::parse_f64(arg).ok_or(CommandError::NotFloat)
}

/// Case-insensitive comparison of an argument with an ASCII keyword.
pub fn is(arg: &[u8], keyword: &str) -> bool {
    arg.eq_ignore_ascii_case(keyword.as_bytes())
}

/// An argument as text (lossy), for messages and names.
pub fn text(arg: &[u8]) -> String {
    String::from_utf8_lossy(arg).into_owned()
}

/// A reply of optional values: bulk or nil.
pub fn bulk_or_null(value: Option<Vec<u8>>) -> Frame {
    value.map_or(Frame::Null, |v| Frame::Bulk(Bytes::from(v)))
}

/// An array of bulk strings.
pub fn bulk_array(items: impl IntoIterator<Item = Vec<u8>>) -> Frame {
    Frame::Array(
        items
            .into_iter()
            .map(|v| Frame::Bulk(Bytes::from(v)))
            .collect(),
    )
}

/// Units of a relative or absolute expiry argument.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum ExpiryUnit {
    Seconds,
    Millis,
    UnixSeconds,
    UnixMillis,
}

/// Turns an expiry argument into absolute Unix milliseconds. `None` when the value
/// overflows; the caller decides what a past time means.
pub fn absolute_expiry(unit: ExpiryUnit, value: i64) -> Option<i64> {
    let now = ferrokv_types::now_ms() as i64;
    match unit {
        ExpiryUnit::Seconds => value.checked_mul(1000)?.checked_add(now),
        ExpiryUnit::Millis => value.checked_add(now),
        ExpiryUnit::UnixSeconds => value.checked_mul(1000),
        ExpiryUnit::UnixMillis => Some(value),
    }
}

/// Redis' error for an unusable expiry.
pub fn invalid_expire(command: &str) -> CommandError {
    CommandError::err(format!("invalid expire time in '{command}' command"))
}

/// The parsed `cursor [MATCH pattern] [COUNT n] [TYPE t]` of the SCAN family.
pub struct ScanArgs {
    /// Where to continue: empty for cursor 0.
    pub start: Vec<u8>,
    pub pattern: Option<Vec<u8>>,
    pub count: usize,
    pub kind: Option<Vec<u8>>,
}

/// Parses `args` = `cursor [options...]`. Cursors are small integers handed out by the
/// server (the Rust `redis` crate parses them as numbers); each maps to the position to
/// continue from. An unknown cursor restarts the iteration, which SCAN's guarantees
/// allow (elements may be returned more than once).
pub fn scan_args(
    ctx: &Context<'_>,
    args: &[Bytes],
    allow_type: bool,
) -> Result<ScanArgs, CommandError> {
    let cursor = ferrokv_types::numbers::parse_u64(&args[0])
        .ok_or_else(|| CommandError::err("invalid cursor"))?;
    let mut scan = ScanArgs {
        start: if cursor == 0 {
            Vec::new()
        } else {
            ctx.server
                .scan_cursors
                .lock()
                .position(cursor)
                .unwrap_or_default()
        },
        pattern: None,
        count: 10,
        kind: None,
    };
    let mut i = 1;
    while i < args.len() {
        let value = args.get(i + 1).ok_or(CommandError::Syntax)?;
        match &args[i] {
            a if is(a, "MATCH") => scan.pattern = Some(value.to_vec()),
            a if is(a, "COUNT") => {
                let n = int_arg(value)?;
                if n < 1 {
                    return Err(CommandError::Syntax);
                }
                scan.count = n as usize;
            }
            a if allow_type && is(a, "TYPE") => scan.kind = Some(value.to_vec()),
            _ => return Err(CommandError::Syntax),
        }
        i += 2;
    }
    Ok(scan)
}

/// `[next cursor, items]`, saving where to continue.
pub fn scan_reply(ctx: &Context<'_>, next: Option<Vec<u8>>, items: Frame) -> Frame {
    let cursor = match next {
        Some(position) => ctx.server.scan_cursors.lock().save(position),
        None => 0,
    };
    Frame::Array(vec![Frame::bulk(cursor.to_string()), items])
}

/// For commands that, like Redis, look the key up before parsing their other
/// arguments: `Ok(false)` when the key is missing, WRONGTYPE when it holds another type.
pub fn key_of_type(
    ctx: &Context<'_>,
    key: &[u8],
    kind: ferrokv_types::DataType,
) -> Result<bool, CommandError> {
    match ctx.server.db.type_of(key)? {
        None => Ok(false),
        Some(t) if t == kind => Ok(true),
        Some(_) => Err(ferrokv_types::TypeError::WrongType.into()),
    }
}

/// A name/value (or key/value) pair of arguments.
pub type Pair<'a> = (&'a [u8], &'a [u8]);

/// Splits `args` into pairs; an odd count is a wrong number of arguments for `command`.
pub fn pairs<'a>(args: &'a [Bytes], command: &str) -> Result<Vec<Pair<'a>>, CommandError> {
    if args.is_empty() || !args.len().is_multiple_of(2) {
        return Err(CommandError::WrongArity(command.to_string()));
    }
    Ok(args
        .chunks_exact(2)
        .map(|pair| (pair[0].as_ref(), pair[1].as_ref()))
        .collect())
}
