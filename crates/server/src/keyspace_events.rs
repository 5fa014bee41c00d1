//! The classes of keyspace notifications and the `notify-keyspace-events` flag string
//! (Redis 7's letters, validation and CONFIG GET normalisation, from its notify.c),
//! apart from the emission (`notify.rs`) so that the option table can validate it.

use std::sync::atomic::{AtomicU32, Ordering};

/// Event classes, one bit each (Redis' `NOTIFY_*`).
pub mod class {
    /// `K`: publish on `__keyspace@0__:<key>`.
    pub const KEYSPACE: u32 = 1 << 0;
    /// `E`: publish on `__keyevent@0__:<event>`.
    pub const KEYEVENT: u32 = 1 << 1;
    /// `g`: generic commands (DEL, EXPIRE, RENAME, ...).
    pub const GENERIC: u32 = 1 << 2;
    /// `$`: strings.
    pub const STRING: u32 = 1 << 3;
    /// `l`: lists.
    pub const LIST: u32 = 1 << 4;
    /// `s`: sets.
    pub const SET: u32 = 1 << 5;
    /// `h`: hashes.
    pub const HASH: u32 = 1 << 6;
    /// `z`: sorted sets.
    pub const ZSET: u32 = 1 << 7;
    /// `x`: a key removed because it expired.
    pub const EXPIRED: u32 = 1 << 8;
    /// `e`: a key evicted for memory (Ferrokv evicts nothing, the flag is accepted).
    pub const EVICTED: u32 = 1 << 9;
    /// `t`: streams.
    pub const STREAM: u32 = 1 << 10;
    /// `m`: a read of a key that does not exist (`keymiss`).
    pub const KEY_MISS: u32 = 1 << 11;
    /// `d`: module events (Ferrokv has no modules, the flag is accepted).
    pub const MODULE: u32 = 1 << 12;
    /// `n`: a key created (`new`).
    pub const NEW: u32 = 1 << 13;
    /// `A`: every class but `m` and `n`.
    pub const ALL: u32 =
        GENERIC | STRING | LIST | SET | HASH | ZSET | EXPIRED | EVICTED | STREAM | MODULE;
}

/// The letters of `notify-keyspace-events` and their classes, in the order Redis'
/// `keyspaceEventsFlagsToString` writes them back (K, E and m come last).
const LETTERS: &[(char, u32)] = &[
    ('g', class::GENERIC),
    ('$', class::STRING),
    ('l', class::LIST),
    ('s', class::SET),
    ('h', class::HASH),
    ('z', class::ZSET),
    ('x', class::EXPIRED),
    ('e', class::EVICTED),
    ('t', class::STREAM),
    ('d', class::MODULE),
    ('n', class::NEW),
];

/// Redis' text for a flag string with a letter it does not know (after
/// `CONFIG SET failed (possibly related to argument '...') - `).
pub const INVALID: &str = "Invalid event class character. Use 'Ag$lshzxeKEtmdn'.";

/// Parses a `notify-keyspace-events` value (letters are case-sensitive, as in Redis);
/// `None` when a character is not a class letter.
pub fn parse(text: &str) -> Option<u32> {
    let mut flags = 0;
    for c in text.chars() {
        flags |= match c {
            'A' => class::ALL,
            'K' => class::KEYSPACE,
            'E' => class::KEYEVENT,
            'm' => class::KEY_MISS,
            other => LETTERS.iter().find(|(l, _)| *l == other)?.1,
        };
    }
    Some(flags)
}

/// The value CONFIG GET shows: `A` for all of its classes, else each class letter, then
/// `K`, `E`, `m` (Redis 7.0's normalisation: `KEg$` reads back `g$KE`, `AKEn` `AKE`).
pub fn format(flags: u32) -> String {
    let mut out = String::new();
    if flags & class::ALL == class::ALL {
        // Redis writes no `n` after `A` (so `AKEn` reads back `AKE`).
        out.push('A');
    } else {
        for (letter, bit) in LETTERS {
            if flags & bit != 0 {
                out.push(*letter);
            }
        }
    }
    for (letter, bit) in [
        ('K', class::KEYSPACE),
        ('E', class::KEYEVENT),
        ('m', class::KEY_MISS),
    ] {
        if flags & bit != 0 {
            out.push(letter);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_parse_and_normalise_as_redis() {
        assert_eq!(parse("KEg$").map(format).as_deref(), Some("g$KE"));
        assert_eq!(parse("AKE").map(format).as_deref(), Some("AKE"));
        assert_eq!(parse("g$lshzxetdKE").map(format).as_deref(), Some("AKE"));
        assert_eq!(parse("KEA").map(format).as_deref(), Some("AKE"));
        assert_eq!(parse("Enm").map(format).as_deref(), Some("nEm"));
        assert_eq!(parse("AKEn").map(format).as_deref(), Some("AKE"));
        assert_eq!(parse("").map(format).as_deref(), Some(""));
        assert_eq!(parse("Z"), None);
        assert_eq!(parse("k"), None);
    }
}

/// The classes in force, read on every command (an atomic, not the config lock).
#[derive(Default)]
pub struct Notifier(AtomicU32);

impl Notifier {
    /// Installs the classes of a validated `notify-keyspace-events` value.
    pub fn set(&self, text: &str) {
        self.0.store(parse(text).unwrap_or(0), Ordering::Relaxed);
    }

    /// The classes in force.
    pub fn flags(&self) -> u32 {
        self.0.load(Ordering::Relaxed)
    }

    /// Whether any event can be published: a channel kind (K or E) and a class.
    pub fn enabled(&self) -> bool {
        let f = self.flags();
        f & (class::KEYSPACE | class::KEYEVENT) != 0
            && f & !(class::KEYSPACE | class::KEYEVENT) != 0
    }
}
