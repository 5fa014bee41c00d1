//! The `cjson` library Redis bundles (lua-cjson 2.1 with its defaults): `cjson.encode`,
//! `cjson.decode` and `cjson.null`. Encoding follows lua-cjson's rules (numbers as
//! `%.14g`, `/` escaped, empty tables as objects, tables with only positive integer
//! keys as arrays unless excessively sparse, nesting up to 1000) and its error texts;
//! decoding uses serde_json, so its error texts are serde_json's, after lua-cjson's
//! first words.

use mlua::{LightUserData, Lua, Table, Value};

use super::{format_lua_number, raise};

/// lua-cjson's default nesting limit.
const MAX_DEPTH: usize = 1000;

/// The `cjson` table.
pub fn library(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set(
        "encode",
        lua.create_function(|lua, args: mlua::MultiValue| {
            if args.len() != 1 {
                return Err(raise(
                    "ERR bad argument #1 to 'encode' (expected 1 argument)".into(),
                ));
            }
            let mut out = Vec::new();
            let value = args.into_iter().next().unwrap_or(Value::Nil);
            encode(&value, 0, &mut out).map_err(|e| raise(located(lua, &e)))?;
            lua.create_string(out)
        })?,
    )?;
    t.set(
        "decode",
        lua.create_function(|lua, text: mlua::String| {
            let parsed: serde_json::Value =
                serde_json::from_slice(&text.as_bytes()).map_err(|e| {
                    raise(located(
                        lua,
                        &format!("Expected value but found invalid token: {e}"),
                    ))
                })?;
            decode(lua, &parsed, 0)
        })?,
    )?;
    t.set("null", LightUserData(std::ptr::null_mut()))?;
    Ok(t)
}

/// `ERR <caller's file>:<line>: <text>`, as lua-cjson's `luaL_error` words it.
fn located(lua: &Lua, text: &str) -> String {
    let place = lua.inspect_stack(1).and_then(|d| {
        let line = d.curr_line();
        let src = d.source().short_src.map(|s| s.into_owned())?;
        (line > 0).then(|| format!("{src}:{line}: "))
    });
    format!("ERR {}{text}", place.unwrap_or_default())
}

fn encode(value: &Value, depth: usize, out: &mut Vec<u8>) -> Result<(), String> {
    match value {
        Value::Nil => out.extend_from_slice(b"null"),
        Value::LightUserData(p) if p.0.is_null() => out.extend_from_slice(b"null"),
        Value::Boolean(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Integer(n) => out.extend_from_slice(format_lua_number(*n as f64).as_bytes()),
        Value::Number(n) => {
            if !n.is_finite() {
                return Err("Cannot serialise number: must not be NaN or Inf".into());
            }
            out.extend_from_slice(format_lua_number(*n).as_bytes());
        }
        Value::String(s) => encode_string(&s.as_bytes(), out),
        Value::Table(t) => {
            if depth + 1 > MAX_DEPTH {
                return Err(format!(
                    "Cannot serialise, excessive nesting ({})",
                    depth + 1
                ));
            }
            encode_table(t, depth + 1, out)?;
        }
        other => {
            return Err(format!(
                "Cannot serialise {}: type not supported",
                other.type_name()
            ))
        }
    }
    Ok(())
}

fn encode_string(s: &[u8], out: &mut Vec<u8>) {
    out.push(b'"');
    for &b in s {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'/' => out.extend_from_slice(b"\\/"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            b if b < 0x20 || b == 0x7f => {
                out.extend_from_slice(format!("\\u{:04x}", b).as_bytes());
            }
            b => out.push(b),
        }
    }
    out.push(b'"');
}

/// lua-cjson's `lua_array_length`: the array length, or `None` for an object.
fn array_length(t: &Table) -> Result<Option<usize>, String> {
    let mut max = 0usize;
    let mut items = 0usize;
    for pair in t.pairs::<Value, Value>() {
        let (k, _) = pair.map_err(|e| e.to_string())?;
        let index = match k {
            Value::Integer(n) if n >= 1 => n as usize,
            Value::Number(n) if n >= 1.0 && n.fract() == 0.0 => n as usize,
            _ => return Ok(None),
        };
        max = max.max(index);
        items += 1;
    }
    if max > items * 2 && max > 10 {
        return Err("Cannot serialise table: excessively sparse array".into());
    }
    Ok(if items == 0 { None } else { Some(max) })
}

fn encode_table(t: &Table, depth: usize, out: &mut Vec<u8>) -> Result<(), String> {
    match array_length(t)? {
        Some(len) => {
            out.push(b'[');
            for i in 1..=len {
                if i > 1 {
                    out.push(b',');
                }
                let v: Value = t.raw_get(i).map_err(|e| e.to_string())?;
                encode(&v, depth, out)?;
            }
            out.push(b']');
        }
        None => {
            out.push(b'{');
            let mut first = true;
            for pair in t.pairs::<Value, Value>() {
                let (k, v) = pair.map_err(|e| e.to_string())?;
                if !first {
                    out.push(b',');
                }
                first = false;
                match &k {
                    Value::String(s) => encode_string(&s.as_bytes(), out),
                    Value::Integer(n) => {
                        encode_string(format_lua_number(*n as f64).as_bytes(), out)
                    }
                    Value::Number(n) => encode_string(format_lua_number(*n).as_bytes(), out),
                    _ => {
                        return Err(
                            "Cannot serialise table: table key must be a number or string".into(),
                        )
                    }
                }
                out.push(b':');
                encode(&v, depth, out)?;
            }
            out.push(b'}');
        }
    }
    Ok(())
}

fn decode(lua: &Lua, value: &serde_json::Value, depth: usize) -> mlua::Result<Value> {
    if depth > MAX_DEPTH {
        return Err(raise(format!(
            "ERR Found too many nested data structures ({depth})"
        )));
    }
    Ok(match value {
        serde_json::Value::Null => Value::LightUserData(LightUserData(std::ptr::null_mut())),
        serde_json::Value::Bool(b) => Value::Boolean(*b),
        serde_json::Value::Number(n) => Value::Number(n.as_f64().unwrap_or(0.0)),
        serde_json::Value::String(s) => Value::String(lua.create_string(s)?),
        serde_json::Value::Array(items) => {
            let t = lua.create_table_with_capacity(items.len(), 0)?;
            for (i, item) in items.iter().enumerate() {
                t.raw_set(i + 1, decode(lua, item, depth + 1)?)?;
            }
            Value::Table(t)
        }
        serde_json::Value::Object(map) => {
            let t = lua.create_table_with_capacity(0, map.len())?;
            for (k, v) in map {
                t.raw_set(k.as_str(), decode(lua, v, depth + 1)?)?;
            }
            Value::Table(t)
        }
    })
}
