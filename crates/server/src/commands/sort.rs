//! SORT and SORT_RO (Redis' src/sort.c): the elements of a list, set or sorted set,
//! sorted numerically or by bytes, optionally by the values of other keys (BY), with
//! other keys' values in their place (GET), a slice (LIMIT), or stored as a list
//! (STORE).
//!
//! In cluster mode, as in Redis 7.2+, a BY or GET pattern must name keys of the sorted
//! key's slot (a hash tag, or no wildcard), since the keys it forms are read here.
//! `GET #` (the element itself) reads no key and is always allowed.

use std::cmp::Ordering;

use bytes::Bytes;
use ferrokv_protocol::Frame;
use ferrokv_types::{DataType, Database, RangeBy, RangeSpec};

use super::{int_arg, is};
use crate::command::{cmd, flags::*, CommandSpec};
use crate::context::Context;
use crate::error::{CmdResult, CommandError};

struct Options {
    desc: bool,
    alpha: bool,
    /// `(offset, count)`; a negative count is no limit.
    limit: Option<(i64, i64)>,
    by: Option<Bytes>,
    /// BY without `*`: the elements keep their stored order.
    dont_sort: bool,
    get: Vec<Bytes>,
    store: Option<Bytes>,
}

fn parse(ctx: &Context<'_>, args: &[Bytes], read_only: bool) -> Result<Options, CommandError> {
    let mut o = Options {
        desc: false,
        alpha: false,
        limit: None,
        by: None,
        dont_sort: false,
        get: Vec::new(),
        store: None,
    };
    let key_slot = ferrokv_keyslot::key_slot(&args[1]);
    let same_slot =
        |pattern: &[u8]| ctx.server.cluster.is_none() || pattern_slot(pattern) == Some(key_slot);
    let mut j = 2;
    while j < args.len() {
        let left = args.len() - j - 1;
        let arg = &args[j];
        if is(arg, "ASC") {
            o.desc = false;
        } else if is(arg, "DESC") {
            o.desc = true;
        } else if is(arg, "ALPHA") {
            o.alpha = true;
        } else if is(arg, "LIMIT") && left >= 2 {
            o.limit = Some((int_arg(&args[j + 1])?, int_arg(&args[j + 2])?));
            j += 2;
        } else if !read_only && is(arg, "STORE") && left >= 1 {
            o.store = Some(args[j + 1].clone());
            j += 1;
        } else if is(arg, "BY") && left >= 1 {
            let pattern = &args[j + 1];
            if !pattern.contains(&b'*') {
                o.dont_sort = true;
            } else if !same_slot(pattern) {
                return Err(CommandError::err(
                    "BY option of SORT denied in Cluster mode when keys formed by the pattern may be in different slots.",
                ));
            }
            o.by = Some(pattern.clone());
            j += 1;
        } else if is(arg, "GET") && left >= 1 {
            let pattern = &args[j + 1];
            if pattern.as_ref() != b"#" && !same_slot(pattern) {
                return Err(CommandError::err(
                    "GET option of SORT denied in Cluster mode when keys formed by the pattern may be in different slots.",
                ));
            }
            o.get.push(pattern.clone());
            j += 1;
        } else {
            return Err(CommandError::Syntax);
        }
        j += 1;
    }
    Ok(o)
}

/// The one slot every key a pattern can form hashes to, if there is one (Redis'
/// `patternHashSlot`): a hash tag before any wildcard, or no wildcard at all.
fn pattern_slot(pattern: &[u8]) -> Option<u16> {
    let mut open: Option<usize> = None;
    let mut empty_tag = false;
    for (i, &c) in pattern.iter().enumerate() {
        match c {
            b'*' | b'?' | b'[' | b'\\' => return None,
            b'{' if open.is_none() && !empty_tag => open = Some(i),
            b'}' => {
                if let Some(s) = open {
                    if i == s + 1 {
                        open = None;
                        empty_tag = true;
                    } else {
                        return Some(ferrokv_keyslot::key_slot(&pattern[s..=i]));
                    }
                }
            }
            _ => {}
        }
    }
    Some(ferrokv_keyslot::key_slot(pattern))
}

/// The value a pattern names for one element: `#` the element, `prefix*suffix` a
/// string key, `prefix*suffix->field` a hash field; `None` when missing or of another
/// type (Redis' `lookupKeyByPattern`).
fn lookup(db: &Database, pattern: &[u8], element: &[u8]) -> Result<Option<Vec<u8>>, CommandError> {
    if pattern == b"#" {
        return Ok(Some(element.to_vec()));
    }
    let Some(star) = pattern.iter().position(|&c| c == b'*') else {
        return Ok(None);
    };
    let after = &pattern[star + 1..];
    let arrow = after
        .windows(2)
        .position(|w| w == b"->")
        .filter(|&p| p + 2 < after.len());
    let (suffix, field) = match arrow {
        Some(p) => (&after[..p], Some(&after[p + 2..])),
        None => (after, None),
    };
    let mut key = pattern[..star].to_vec();
    key.extend_from_slice(element);
    key.extend_from_slice(suffix);
    Ok(match (db.type_of(&key)?, field) {
        (Some(DataType::Hash), Some(field)) => db.hget(&key, field)?,
        (Some(DataType::String), None) => db.get(&key)?,
        _ => None,
    })
}

/// The elements of the sorted key, in stored order (lists by position, sets and sorted
/// sets by member, sorted sets by score when not sorted further).
fn elements(db: &Database, key: &[u8], o: &Options) -> Result<Vec<Vec<u8>>, CommandError> {
    Ok(match db.type_of(key)? {
        None => Vec::new(),
        Some(DataType::List) => db.lrange(key, 0, -1)?,
        Some(DataType::Set) => db.smembers(key)?,
        Some(DataType::ZSet) => {
            let mut spec = RangeSpec::new(RangeBy::Rank(0, -1));
            spec.rev = o.dont_sort && o.desc;
            db.zrange(key, &spec)?.into_iter().map(|(m, _)| m).collect()
        }
        Some(_) => return Err(ferrokv_types::TypeError::WrongType.into()),
    })
}

/// Redis' `strtod` on a sort weight: an empty text is 0, anything else must be a
/// whole number (not NaN).
fn weight(text: &[u8]) -> Option<f64> {
    if text.is_empty() {
        return Some(0.0);
    }
    let s = std::str::from_utf8(text).ok()?;
    let v: f64 = match s.trim_start().to_ascii_lowercase().as_str() {
        "inf" | "+inf" | "infinity" | "+infinity" => f64::INFINITY,
        "-inf" | "-infinity" => f64::NEG_INFINITY,
        t => t.parse().ok()?,
    };
    (!v.is_nan()).then_some(v)
}

/// Runs the sort and returns the output values (GET results flattened), `None` for a
/// GET of a missing key.
fn run(db: &Database, key: &[u8], o: &Options) -> Result<Vec<Option<Vec<u8>>>, CommandError> {
    let mut alpha = o.alpha;
    let mut dont_sort = o.dont_sort;
    let mut by = o.by.as_ref();
    // A set has no order of its own: stored or scripted, Redis sorts it by bytes.
    if dont_sort && o.store.is_some() && db.type_of(key)? == Some(DataType::Set) {
        dont_sort = false;
        alpha = true;
        by = None;
    }
    let all = elements(db, key, o)?;
    let len = all.len() as i64;
    let (offset, count) = o.limit.unwrap_or((0, -1));
    let mut start = offset.clamp(0, len);
    let count = count.clamp(-1, len);
    let mut end = if count < 0 {
        len - 1
    } else {
        start + count - 1
    };
    if start >= len {
        start = len - 1;
        end = len - 2;
    }
    end = end.min(len - 1);
    let mut items: Vec<(Vec<u8>, f64, Option<Vec<u8>>)> =
        all.into_iter().map(|e| (e, 0.0, None)).collect();
    if dont_sort {
        if db.type_of(key)? == Some(DataType::List) && o.desc {
            items.reverse();
        }
    } else {
        let mut not_a_number = false;
        for item in &mut items {
            let value = match by {
                Some(pattern) => match lookup(db, pattern, &item.0)? {
                    Some(v) => v,
                    None => continue,
                },
                None => item.0.clone(),
            };
            if alpha {
                if by.is_some() {
                    item.2 = Some(value);
                }
            } else {
                match weight(&value) {
                    Some(w) => item.1 = w,
                    None => not_a_number = true,
                }
            }
        }
        if not_a_number {
            return Err(CommandError::err(
                "One or more scores can't be converted into double",
            ));
        }
        let by_pattern = by.is_some();
        items.sort_by(|x, y| {
            let order = if !alpha {
                x.1.partial_cmp(&y.1)
                    .unwrap_or(Ordering::Equal)
                    .then_with(|| x.0.cmp(&y.0))
            } else if by_pattern {
                // Elements whose BY key is missing come first.
                x.2.cmp(&y.2)
            } else {
                x.0.cmp(&y.0)
            };
            if o.desc {
                order.reverse()
            } else {
                order
            }
        });
    }
    let mut out = Vec::new();
    if end < start {
        return Ok(out);
    }
    for (element, _, _) in &items[start as usize..=end as usize] {
        if o.get.is_empty() {
            out.push(Some(element.clone()));
        }
        for pattern in &o.get {
            out.push(lookup(db, pattern, element)?);
        }
    }
    Ok(out)
}

fn sort_generic(ctx: &mut Context<'_>, args: &[Bytes], read_only: bool) -> CmdResult {
    let o = parse(ctx, args, read_only)?;
    let Some(dst) = o.store.clone() else {
        ctx.touches = Some(Vec::new());
        let out = run(&ctx.server.db, &args[1], &o)?;
        return Ok(Frame::Array(
            out.into_iter().map(super::bulk_or_null).collect(),
        ));
    };
    let stored = ctx.server.db.store_list_computed(&dst, &args[1], |db| {
        run(db, &args[1], &o).map(|out| out.into_iter().map(Option::unwrap_or_default).collect())
    })?;
    ctx.touches = Some(vec![dst]);
    Ok(Frame::Integer(stored as i64))
}

fn sort(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    sort_generic(ctx, args, false)
}

fn sort_ro(ctx: &mut Context<'_>, args: &[Bytes]) -> CmdResult {
    sort_generic(ctx, args, true)
}

/// Keys of SORT: the sorted key, and the key after the last STORE (Redis'
/// `sortGetKeys`, which skips LIMIT's, BY's and GET's arguments).
fn sort_keys(args: &[Bytes]) -> Vec<usize> {
    let mut keys = vec![1];
    let mut store = None;
    let mut i = 2;
    while i < args.len() {
        let skip = match &args[i] {
            a if is(a, "LIMIT") => 2,
            a if is(a, "GET") || is(a, "BY") => 1,
            a if is(a, "STORE") && i + 1 < args.len() => {
                store = Some(i + 1);
                1
            }
            _ => 0,
        };
        i += 1 + skip;
    }
    keys.extend(store);
    keys
}

#[rustfmt::skip]
pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec { keys: Some(sort_keys), flags: WRITE | MOVABLE_KEYS, ..cmd("sort", -2, 0, 1, 1, 1, sort, "generic", "Sorts a list, set or sorted set, optionally storing the result.") },
    cmd("sort_ro", -2, READONLY, 1, 1, 1, sort_ro, "generic", "Sorts a list, set or sorted set."),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pattern_slots_follow_redis() {
        let slot = ferrokv_keyslot::key_slot;
        assert_eq!(pattern_slot(b"w_*"), None);
        assert_eq!(pattern_slot(b"{t}w_*"), Some(slot(b"{t}")));
        assert_eq!(pattern_slot(b"{t}w_*->f"), Some(slot(b"t")));
        assert_eq!(pattern_slot(b"fixed"), Some(slot(b"fixed")));
        assert_eq!(pattern_slot(b"{}x{t}*"), None);
        assert_eq!(pattern_slot(b"a\\*"), None);
    }
}
