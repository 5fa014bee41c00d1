//! Keyspace notifications (`notify-keyspace-events`), as Redis 7 sends them: for each
//! change of a key, `__keyspace@0__:<key>` gets the event name and
//! `__keyevent@0__:<event>` gets the key (Redis' notify.c; Ferrokv has one database, 0).
//!
//! Emission is central: `CommandSpec::run` (command.rs) records which of a
//! command's keys existed before it ran ([`Before::capture`], only while a class is
//! enabled and someone is subscribed), and afterwards [`Before::emit`] derives the
//! events from the command's name, its arguments, its reply and which keys exist now,
//! in the order Redis' commands call `notifyKeyspaceEvent`. The active expiry
//! publishes `expired` itself ([`expired`]).
//!
//! What a reply cannot tell is approximated, and said in docs/commands.md: `ZADD`
//! without `CH` replying 0 is taken as an update (Redis sends `zadd` only when a score
//! changed), `SMOVE` always announces `sadd` on the destination, `GETEX PERSIST`
//! announces `persist` even for a key without a TTL, and trimming by `XADD MAXLEN`
//! sends no `xtrim`.

use std::collections::HashMap;

use bytes::{BufMut, Bytes, BytesMut};
use ferrokv_protocol::Frame;

use crate::keyspace_events::class;
use crate::server::Server;

/// One event: its class, Redis' name for it, and the key.
type Event = (u32, &'static str, Bytes);

/// Publishes one event on the channels its class and the flags ask for.
fn publish(server: &Server, flags: u32, (cls, event, key): &Event) {
    if flags & cls == 0 {
        return;
    }
    if flags & class::KEYSPACE != 0 {
        let channel = concat(b"__keyspace@0__:", key);
        server
            .pubsub
            .publish(&channel, &Bytes::from_static(event.as_bytes()));
    }
    if flags & class::KEYEVENT != 0 {
        let channel = concat(b"__keyevent@0__:", event.as_bytes());
        server.pubsub.publish(&channel, key);
    }
}

fn concat(prefix: &[u8], rest: &[u8]) -> Bytes {
    let mut b = BytesMut::with_capacity(prefix.len() + rest.len());
    b.put_slice(prefix);
    b.put_slice(rest);
    b.freeze()
}

/// `expired` for keys the active expiry removed.
pub fn expired(server: &Server, keys: &[Vec<u8>]) {
    let flags = server.notify.flags();
    if !server.notify.enabled() || flags & class::EXPIRED == 0 || server.pubsub.is_empty() {
        return;
    }
    for key in keys {
        publish(
            server,
            flags,
            &(class::EXPIRED, "expired", Bytes::copy_from_slice(key)),
        );
    }
}

/// Which of a command's keys existed before it ran.
pub struct Before {
    flags: u32,
    existed: HashMap<Bytes, bool>,
}

/// What emission needs to know of the command that runs (from its table row; passed in
/// so that this module does not reach back into the command table).
pub struct Call<'a> {
    pub name: &'static str,
    pub write: bool,
    pub read: bool,
    /// Positions of its key arguments.
    pub keys: &'a [usize],
}

impl Before {
    /// Records the keys' existence, when an event of this command could reach anyone
    /// (a class enabled, a subscriber at all); `None` otherwise, at no cost.
    pub fn capture(server: &Server, call: &Call<'_>, args: &[Bytes]) -> Option<Before> {
        if !server.notify.enabled() || server.pubsub.is_empty() {
            return None;
        }
        let flags = server.notify.flags();
        let miss = call.read && flags & class::KEY_MISS != 0;
        if !call.write && !miss {
            return None;
        }
        let existed = call
            .keys
            .iter()
            .filter_map(|&p| args.get(p))
            .map(|k| (k.clone(), exists(server, k)))
            .collect();
        Some(Before { flags, existed })
    }

    /// Publishes what the command did, derived from its reply and the keys now.
    pub fn emit(self, server: &Server, call: &Call<'_>, args: &[Bytes], reply: &Frame) {
        if matches!(reply, Frame::Error(_)) {
            return;
        }
        let mut events = Vec::new();
        if call.read {
            for &p in call.keys {
                if let Some(k) = args.get(p) {
                    if !self.existed(k) {
                        events.push((class::KEY_MISS, "keymiss", k.clone()));
                    }
                }
            }
        } else {
            let mut d = Derive {
                server,
                before: &self,
                events: Vec::new(),
            };
            d.command(call.name, args, reply);
            // `new` comes right before the first event of a key the command created
            // (Redis sends it from dbAdd, inside the command).
            let mut announced: Vec<Bytes> = Vec::new();
            for event in d.events {
                let key = &event.2;
                if !announced.contains(key) && !self.existed(key) && event.1 != "del" {
                    announced.push(key.clone());
                    if exists(server, key) {
                        events.push((class::NEW, "new", key.clone()));
                    }
                }
                events.push(event);
            }
        }
        for event in &events {
            publish(server, self.flags, event);
        }
    }

    fn existed(&self, key: &[u8]) -> bool {
        self.existed.get(key).copied().unwrap_or(false)
    }
}

fn exists(server: &Server, key: &[u8]) -> bool {
    server.db.exists(&[key]).is_ok_and(|n| n > 0)
}

/// The events of one successful write command.
struct Derive<'a> {
    server: &'a Server,
    before: &'a Before,
    events: Vec<Event>,
}

impl Derive<'_> {
    fn push(&mut self, cls: u32, event: &'static str, key: &Bytes) {
        self.events.push((cls, event, key.clone()));
    }

    /// `event` on `key`, then `del` if that emptied it (pops, removals).
    fn removed(&mut self, cls: u32, event: &'static str, key: &Bytes) {
        self.push(cls, event, key);
        if self.before.existed(key) && !exists(self.server, key) {
            self.push(class::GENERIC, "del", key);
        }
    }

    /// A STORE command: `event` on the destination when the result is not empty,
    /// else `del` if it existed.
    fn stored(&mut self, cls: u32, event: &'static str, key: &Bytes, reply: &Frame) {
        if int(reply).is_some_and(|n| n > 0) {
            self.push(cls, event, key);
        } else if self.before.existed(key) {
            self.push(class::GENERIC, "del", key);
        }
    }

    fn command(&mut self, name: &str, args: &[Bytes], reply: &Frame) {
        let Some(key) = args.get(1) else { return };
        let positive = int(reply).is_some_and(|n| n > 0);
        let some = !matches!(reply, Frame::Null | Frame::NullArray)
            && !matches!(reply, Frame::Array(a) if a.is_empty());
        match name {
            "del" | "unlink" => {
                let mut seen: Vec<&Bytes> = Vec::new();
                for k in &args[1..] {
                    if !seen.contains(&k) && self.before.existed(k) && !exists(self.server, k) {
                        self.push(class::GENERIC, "del", k);
                    }
                    seen.push(k);
                }
            }
            "expire" | "pexpire" | "expireat" | "pexpireat" if positive => {
                if exists(self.server, key) {
                    self.push(class::GENERIC, "expire", key);
                } else {
                    self.push(class::GENERIC, "del", key);
                }
            }
            "persist" if positive => self.push(class::GENERIC, "persist", key),
            "rename" | "renamenx" => {
                let dst = args.get(2).unwrap_or(key);
                let done = matches!(reply, Frame::Simple(_)) || positive;
                if done && dst != key {
                    self.push(class::GENERIC, "rename_from", key);
                    self.push(class::GENERIC, "rename_to", dst);
                }
            }
            "set" => {
                let has = |w: &str| args[3.min(args.len())..].iter().any(|a| eq(a, w));
                let applied = if has("get") {
                    !(has("nx") && self.before.existed(key)
                        || has("xx") && !self.before.existed(key))
                } else {
                    matches!(reply, Frame::Simple(_))
                };
                if applied {
                    self.push(class::STRING, "set", key);
                    if ["ex", "px", "exat", "pxat"].iter().any(|w| has(w)) {
                        self.push(class::GENERIC, "expire", key);
                    }
                }
            }
            "setnx" if positive => self.push(class::STRING, "set", key),
            "setex" | "psetex" => {
                self.push(class::STRING, "set", key);
                self.push(class::GENERIC, "expire", key);
            }
            "getset" => self.push(class::STRING, "set", key),
            "mset" => {
                for k in args[1..].iter().step_by(2) {
                    self.push(class::STRING, "set", k);
                }
            }
            "msetnx" if positive => {
                for k in args[1..].iter().step_by(2) {
                    self.push(class::STRING, "set", k);
                }
            }
            "getdel" if some => self.push(class::GENERIC, "del", key),
            "getex" if some => {
                let has = |w: &str| args[2.min(args.len())..].iter().any(|a| eq(a, w));
                if ["ex", "px", "exat", "pxat"].iter().any(|w| has(w)) {
                    if exists(self.server, key) {
                        self.push(class::GENERIC, "expire", key);
                    } else {
                        self.push(class::GENERIC, "del", key);
                    }
                } else if has("persist") {
                    self.push(class::GENERIC, "persist", key);
                }
            }
            "incr" | "decr" | "incrby" | "decrby" => self.push(class::STRING, "incrby", key),
            "incrbyfloat" => self.push(class::STRING, "incrbyfloat", key),
            "append" => self.push(class::STRING, "append", key),
            "setrange" if args.get(3).is_some_and(|v| !v.is_empty()) => {
                self.push(class::STRING, "setrange", key)
            }
            "setbit" => self.push(class::STRING, "setbit", key),
            "bitop" => {
                if let Some(dst) = args.get(2) {
                    self.stored(class::STRING, "set", dst, reply);
                }
            }
            "bitfield" => {
                let changes = args[2.min(args.len())..]
                    .iter()
                    .any(|a| eq(a, "set") || eq(a, "incrby"));
                if changes {
                    self.push(class::STRING, "setbit", key);
                }
            }
            "pfadd" if positive => self.push(class::STRING, "pfadd", key),
            "pfmerge" => self.push(class::STRING, "pfadd", key),
            "lpush" | "lpushx" if positive => self.push(class::LIST, "lpush", key),
            "rpush" | "rpushx" if positive => self.push(class::LIST, "rpush", key),
            "lpop" if some => self.removed(class::LIST, "lpop", key),
            "rpop" if some => self.removed(class::LIST, "rpop", key),
            "lset" => self.push(class::LIST, "lset", key),
            "linsert" if positive => self.push(class::LIST, "linsert", key),
            "lrem" if positive => self.removed(class::LIST, "lrem", key),
            "ltrim" if self.before.existed(key) => self.removed(class::LIST, "ltrim", key),
            "lmove" | "blmove" | "rpoplpush" | "brpoplpush" if some => {
                let Some(dst) = args.get(2) else { return };
                let (from_left, to_left) = if name.contains("rpoplpush") {
                    (false, true)
                } else {
                    (
                        args.get(3).is_some_and(|a| eq(a, "left")),
                        args.get(4).is_some_and(|a| eq(a, "left")),
                    )
                };
                self.push(class::LIST, if to_left { "lpush" } else { "rpush" }, dst);
                self.removed(class::LIST, if from_left { "lpop" } else { "rpop" }, key);
            }
            "blpop" | "brpop" => {
                if let Some(k) = first_bulk(reply) {
                    let event = if name == "blpop" { "lpop" } else { "rpop" };
                    self.removed(class::LIST, event, &k);
                }
            }
            "lmpop" | "blmpop" => {
                if let Some(k) = first_bulk(reply) {
                    let left = args.iter().any(|a| eq(a, "left"));
                    self.removed(class::LIST, if left { "lpop" } else { "rpop" }, &k);
                }
            }
            "hset" | "hmset" => self.push(class::HASH, "hset", key),
            "hsetnx" if positive => self.push(class::HASH, "hset", key),
            "hdel" if positive => self.removed(class::HASH, "hdel", key),
            "hincrby" => self.push(class::HASH, "hincrby", key),
            "hincrbyfloat" => self.push(class::HASH, "hincrbyfloat", key),
            "sadd" if positive => self.push(class::SET, "sadd", key),
            "srem" if positive => self.removed(class::SET, "srem", key),
            "spop" if some => self.removed(class::SET, "spop", key),
            "smove" if positive => {
                let Some(dst) = args.get(2) else { return };
                if dst != key {
                    self.removed(class::SET, "srem", key);
                    self.push(class::SET, "sadd", dst);
                }
            }
            "sinterstore" | "sunionstore" | "sdiffstore" => {
                let event = match name {
                    "sinterstore" => "sinterstore",
                    "sunionstore" => "sunionstore",
                    _ => "sdiffstore",
                };
                self.stored(class::SET, event, key, reply);
            }
            "zadd" => {
                let has = |w: &str| args[2.min(args.len())..].iter().any(|a| eq(a, w));
                if has("incr") {
                    if some {
                        self.push(class::ZSET, "zincr", key);
                    }
                } else if positive || (!has("ch") && !has("nx")) {
                    self.push(class::ZSET, "zadd", key);
                }
            }
            "zincrby" => self.push(class::ZSET, "zincr", key),
            "zrem" if positive => self.removed(class::ZSET, "zrem", key),
            "zremrangebyrank" if positive => self.removed(class::ZSET, "zremrangebyrank", key),
            "zremrangebyscore" if positive => self.removed(class::ZSET, "zremrangebyscore", key),
            "zremrangebylex" if positive => self.removed(class::ZSET, "zremrangebylex", key),
            "zpopmin" if some => self.removed(class::ZSET, "zpopmin", key),
            "zpopmax" if some => self.removed(class::ZSET, "zpopmax", key),
            "bzpopmin" | "bzpopmax" => {
                if let Some(k) = first_bulk(reply) {
                    let event = if name == "bzpopmin" {
                        "zpopmin"
                    } else {
                        "zpopmax"
                    };
                    self.removed(class::ZSET, event, &k);
                }
            }
            "zmpop" | "bzmpop" => {
                if let Some(k) = first_bulk(reply) {
                    let min = args.iter().any(|a| eq(a, "min"));
                    self.removed(class::ZSET, if min { "zpopmin" } else { "zpopmax" }, &k);
                }
            }
            "zrangestore" => {
                if let Some(dst) = args.get(1) {
                    self.stored(class::ZSET, "zrangestore", dst, reply);
                }
            }
            "zunionstore" | "zinterstore" | "zdiffstore" => {
                let event = match name {
                    "zunionstore" => "zunionstore",
                    "zinterstore" => "zinterstore",
                    _ => "zdiffstore",
                };
                self.stored(class::ZSET, event, key, reply);
            }
            "xadd" if some => self.push(class::STREAM, "xadd", key),
            "xdel" if positive => self.push(class::STREAM, "xdel", key),
            "xtrim" if positive => self.push(class::STREAM, "xtrim", key),
            "xsetid" => self.push(class::STREAM, "xsetid", key),
            "xgroup" => {
                let Some(stream) = args.get(2) else { return };
                let sub = key;
                let event = if eq(sub, "create") {
                    Some("xgroup-create")
                } else if eq(sub, "setid") {
                    Some("xgroup-setid")
                } else if eq(sub, "destroy") && positive {
                    Some("xgroup-destroy")
                } else if eq(sub, "createconsumer") && positive {
                    Some("xgroup-createconsumer")
                } else if eq(sub, "delconsumer") {
                    Some("xgroup-delconsumer")
                } else {
                    None
                };
                if let Some(event) = event {
                    self.push(class::STREAM, event, stream);
                }
            }
            _ => {}
        }
    }
}

fn eq(arg: &[u8], word: &str) -> bool {
    arg.eq_ignore_ascii_case(word.as_bytes())
}

fn int(reply: &Frame) -> Option<i64> {
    match reply {
        Frame::Integer(n) => Some(*n),
        Frame::Boolean(b) => Some(i64::from(*b)),
        _ => None,
    }
}

/// The key a blocking or multi-key pop names first in its reply (`[key, ...]`).
fn first_bulk(reply: &Frame) -> Option<Bytes> {
    match reply {
        Frame::Array(items) => match items.first() {
            Some(Frame::Bulk(k)) => Some(k.clone()),
            _ => None,
        },
        _ => None,
    }
}
