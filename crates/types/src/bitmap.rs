//! Bitmaps: bit operations on string values, with Redis' semantics (bit 0 is the most
//! significant bit of the first byte; a missing key is an endless run of zero bits).
//! Writes keep the key's expiry, since they modify the string in place.

use ferrokv_storage::encoding::metadata_key;
use ferrokv_storage::metadata::{self, Record};
use ferrokv_storage::Cf;

use crate::{Database, Result, TypeError};

/// BITOP's operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BitOp {
    And,
    Or,
    Xor,
    Not,
}

/// BITFIELD's overflow policies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overflow {
    Wrap,
    Sat,
    Fail,
}

/// What one BITFIELD operation does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BitfieldAction {
    Get,
    Set(i64),
    IncrBy(i64),
}

/// One BITFIELD operation on a field of `bits` bits at bit `offset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BitfieldOp {
    pub action: BitfieldAction,
    pub signed: bool,
    /// 1..=64 signed, 1..=63 unsigned.
    pub bits: u32,
    pub offset: u64,
    pub overflow: Overflow,
}

/// A bit range of BITCOUNT/BITPOS: indexes in bytes or bits, negative from the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BitRange {
    pub start: i64,
    /// `None`: up to the end of the string (BITPOS without an end).
    pub end: Option<i64>,
    pub in_bits: bool,
}

fn bit_at(value: &[u8], offset: u64) -> u8 {
    let byte = (offset >> 3) as usize;
    value.get(byte).map_or(0, |b| (b >> (7 - (offset & 7))) & 1)
}

fn read_field(value: &[u8], offset: u64, bits: u32) -> u64 {
    (0..u64::from(bits)).fold(0u64, |acc, i| {
        (acc << 1) | u64::from(bit_at(value, offset + i))
    })
}

fn write_field(value: &mut [u8], offset: u64, bits: u32, field: u64) {
    for i in 0..u64::from(bits) {
        let bit = (field >> (u64::from(bits) - 1 - i)) & 1;
        let at = offset + i;
        let byte = &mut value[(at >> 3) as usize];
        let mask = 1u8 << (7 - (at & 7));
        if bit == 1 {
            *byte |= mask;
        } else {
            *byte &= !mask;
        }
    }
}

fn sign_extend(raw: u64, bits: u32) -> i64 {
    if bits < 64 && raw & (1u64 << (bits - 1)) != 0 {
        (raw | (u64::MAX << bits)) as i64
    } else {
        raw as i64
    }
}

/// The low `bits` bits of `value` as the field type would hold them.
fn wrap(value: i128, bits: u32, signed: bool) -> i128 {
    let low = (value as u128 as u64)
        & if bits == 64 {
            u64::MAX
        } else {
            (1u64 << bits) - 1
        };
    if signed {
        i128::from(sign_extend(low, bits))
    } else {
        i128::from(low)
    }
}

/// Applies Redis' overflow rules: the value to store, or `None` when FAIL refuses.
fn fit(value: i128, bits: u32, signed: bool, overflow: Overflow) -> Option<i128> {
    let (min, max) = if signed {
        (-(1i128 << (bits - 1)), (1i128 << (bits - 1)) - 1)
    } else {
        (0, (1i128 << bits) - 1)
    };
    if (min..=max).contains(&value) {
        return Some(value);
    }
    match overflow {
        Overflow::Wrap => Some(wrap(value, bits, signed)),
        Overflow::Sat => Some(if value > max { max } else { min }),
        Overflow::Fail => None,
    }
}

/// Resolves a BITCOUNT/BITPOS range against a string of `len` bytes into an inclusive
/// bit range, `None` when empty. Follows Redis' clamping of negative indexes.
fn bit_bounds(len: u64, range: &BitRange) -> Option<(u64, u64)> {
    let total = if range.in_bits {
        len as i64 * 8
    } else {
        len as i64
    };
    let mut start = range.start;
    let mut end = range.end.unwrap_or(total - 1);
    if start < 0 {
        start += total;
    }
    if end < 0 {
        end += total;
    }
    start = start.max(0);
    end = end.max(0).min(total - 1);
    if start > end || total == 0 {
        return None;
    }
    if range.in_bits {
        Some((start as u64, end as u64))
    } else {
        Some((start as u64 * 8, end as u64 * 8 + 7))
    }
}

impl Database {
    /// A string for a read-modify-write bit command: `(expiry, value)`; WRONGTYPE for
    /// other types. Shared with the HyperLogLog commands.
    pub(crate) fn string_for_bits(&self, key: &[u8]) -> Result<Option<(u64, Vec<u8>)>> {
        let Some(raw) = self.live_record(key)? else {
            return Ok(None);
        };
        match metadata::decode(&raw)? {
            Record::String { expire_ms, value } => Ok(Some((expire_ms, value.to_vec()))),
            Record::Collection(_) => Err(TypeError::WrongType),
        }
    }

    /// Stores a string value with the given expiry.
    pub(crate) fn put_string_value(&self, key: &[u8], expire_ms: u64, value: &[u8]) -> Result<()> {
        let mut batch = self.storage.batch();
        batch.put(
            Cf::Metadata,
            metadata_key(key),
            metadata::encode_string(expire_ms, value),
        );
        Ok(self.storage.write(batch)?)
    }

    /// SETBIT: returns the bit's previous value. The string grows (zero-padded) to
    /// hold `offset`; the caller has checked `offset` against the size limit.
    pub fn setbit(&self, key: &[u8], offset: u64, on: bool) -> Result<u8> {
        let _guard = self.locks.lock_one(key);
        let (expire_ms, mut value) = self.string_for_bits(key)?.unwrap_or((0, Vec::new()));
        let byte = (offset >> 3) as usize;
        let old = bit_at(&value, offset);
        let grow = value.len() <= byte;
        if grow {
            value.resize(byte + 1, 0);
        }
        if grow || old != u8::from(on) {
            let mask = 1u8 << (7 - (offset & 7));
            if on {
                value[byte] |= mask;
            } else {
                value[byte] &= !mask;
            }
            self.put_string_value(key, expire_ms, &value)?;
        }
        Ok(old)
    }

    /// GETBIT.
    pub fn getbit(&self, key: &[u8], offset: u64) -> Result<u8> {
        Ok(self.get(key)?.map_or(0, |v| bit_at(&v, offset)))
    }

    /// BITCOUNT, over the whole string or a range.
    pub fn bitcount(&self, key: &[u8], range: Option<BitRange>) -> Result<u64> {
        let Some(value) = self.get(key)? else {
            return Ok(0);
        };
        let Some(range) = range else {
            return Ok(value.iter().map(|b| u64::from(b.count_ones())).sum());
        };
        // Redis returns 0 at once for two negative indexes in the wrong order.
        if let Some(end) = range.end {
            if range.start < 0 && end < 0 && range.start > end {
                return Ok(0);
            }
        }
        let Some((first, last)) = bit_bounds(value.len() as u64, &range) else {
            return Ok(0);
        };
        let (first_byte, last_byte) = ((first >> 3) as usize, (last >> 3) as usize);
        let mut count: u64 = value[first_byte..=last_byte]
            .iter()
            .map(|b| u64::from(b.count_ones()))
            .sum();
        // Remove the bits of the edge bytes outside the range.
        let head = value[first_byte] & !(0xffu8 >> (first & 7));
        count -= u64::from(head.count_ones());
        if last & 7 != 7 {
            let tail = value[last_byte] & (0xffu8 >> ((last & 7) + 1));
            count -= u64::from(tail.count_ones());
        }
        Ok(count)
    }

    /// BITPOS: the first bit set to `bit`, or -1. Without an explicit end, a search
    /// for a 0 bit that finds none answers the first bit after the string.
    pub fn bitpos(&self, key: &[u8], bit: bool, range: Option<BitRange>) -> Result<i64> {
        let Some(value) = self.get(key)? else {
            return Ok(if bit { -1 } else { 0 });
        };
        let range = range.unwrap_or(BitRange {
            start: 0,
            end: None,
            in_bits: false,
        });
        let Some((first, last)) = bit_bounds(value.len() as u64, &range) else {
            return Ok(-1);
        };
        let want = u8::from(bit);
        let mut pos = first;
        while pos <= last {
            // Skip whole bytes that cannot hold the bit.
            if pos & 7 == 0 && pos + 7 <= last {
                let b = value[(pos >> 3) as usize];
                if (bit && b == 0) || (!bit && b == 0xff) {
                    pos += 8;
                    continue;
                }
            }
            if bit_at(&value, pos) == want {
                return Ok(pos as i64);
            }
            pos += 1;
        }
        if !bit && range.end.is_none() {
            return Ok(value.len() as i64 * 8);
        }
        Ok(-1)
    }

    /// BITOP: stores the result in `dest` (deleted when empty) and returns its length.
    pub fn bitop(&self, op: BitOp, dest: &[u8], keys: &[&[u8]]) -> Result<usize> {
        let mut all: Vec<&[u8]> = keys.to_vec();
        all.push(dest);
        let _guard = self.locks.lock(&all);
        let mut sources = Vec::with_capacity(keys.len());
        for key in keys {
            sources.push(self.get(key)?.unwrap_or_default());
        }
        let len = sources.iter().map(Vec::len).max().unwrap_or(0);
        if len == 0 {
            let mut batch = self.storage.batch();
            self.delete_into(&mut batch, dest);
            self.storage.write(batch)?;
            return Ok(0);
        }
        let byte = |s: &Vec<u8>, i: usize| s.get(i).copied().unwrap_or(0);
        let result: Vec<u8> = (0..len)
            .map(|i| {
                let mut iter = sources.iter();
                let first = iter.next().map_or(0, |s| byte(s, i));
                match op {
                    BitOp::Not => !first,
                    BitOp::And => iter.fold(first, |acc, s| acc & byte(s, i)),
                    BitOp::Or => iter.fold(first, |acc, s| acc | byte(s, i)),
                    BitOp::Xor => iter.fold(first, |acc, s| acc ^ byte(s, i)),
                }
            })
            .collect();
        self.put_string_value(dest, 0, &result)?;
        Ok(len)
    }

    /// BITFIELD/BITFIELD_RO: one reply per operation, `None` where OVERFLOW FAIL
    /// refused a write. When any operation writes, the string first grows to hold
    /// every written field, as in Redis (even if FAIL then writes nothing).
    pub fn bitfield(&self, key: &[u8], ops: &[BitfieldOp]) -> Result<Vec<Option<i64>>> {
        let writes = ops.iter().any(|op| op.action != BitfieldAction::Get);
        if !writes {
            let value = self.get(key)?.unwrap_or_default();
            return Ok(ops
                .iter()
                .map(|op| {
                    let raw = read_field(&value, op.offset, op.bits);
                    Some(if op.signed {
                        sign_extend(raw, op.bits)
                    } else {
                        raw as i64
                    })
                })
                .collect());
        }
        let _guard = self.locks.lock_one(key);
        let existing = self.string_for_bits(key)?;
        let (expire_ms, mut value) = existing.clone().unwrap_or((0, Vec::new()));
        let needed = ops
            .iter()
            .filter(|op| op.action != BitfieldAction::Get)
            .map(|op| ((op.offset + u64::from(op.bits) - 1) >> 3) as usize + 1)
            .max()
            .unwrap_or(0);
        if value.len() < needed {
            value.resize(needed, 0);
        }
        let mut out = Vec::with_capacity(ops.len());
        for op in ops {
            let raw = read_field(&value, op.offset, op.bits);
            let old = if op.signed {
                i128::from(sign_extend(raw, op.bits))
            } else {
                i128::from(raw)
            };
            let (target, reply_new) = match op.action {
                BitfieldAction::Get => {
                    out.push(Some(old as i64));
                    continue;
                }
                BitfieldAction::Set(v) => {
                    // An unsigned field takes the bits of the 64-bit argument.
                    let v = if op.signed {
                        i128::from(v)
                    } else {
                        i128::from(v as u64)
                    };
                    (v, false)
                }
                BitfieldAction::IncrBy(delta) => (old + i128::from(delta), true),
            };
            match fit(target, op.bits, op.signed, op.overflow) {
                Some(new) => {
                    write_field(&mut value, op.offset, op.bits, new as u64);
                    out.push(Some(if reply_new { new as i64 } else { old as i64 }));
                }
                None => out.push(None),
            }
        }
        if existing.as_ref().map(|(_, v)| v) != Some(&value) {
            self.put_string_value(key, expire_ms, &value)?;
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_read_and_write_msb_first() {
        let mut v = vec![0u8; 3];
        write_field(&mut v, 4, 8, 0xab);
        assert_eq!(v, vec![0x0a, 0xb0, 0]);
        assert_eq!(read_field(&v, 4, 8), 0xab);
        assert_eq!(sign_extend(read_field(&v, 4, 4), 4), -6);
        assert_eq!(read_field(&v, 20, 16), 0);
    }

    #[test]
    fn overflow_rules() {
        assert_eq!(fit(300, 8, false, Overflow::Wrap), Some(44));
        assert_eq!(fit(300, 8, false, Overflow::Sat), Some(255));
        assert_eq!(fit(-1, 8, false, Overflow::Sat), Some(0));
        assert_eq!(fit(128, 8, true, Overflow::Wrap), Some(-128));
        assert_eq!(fit(-129, 8, true, Overflow::Sat), Some(-128));
        assert_eq!(fit(128, 8, true, Overflow::Fail), None);
        assert_eq!(
            fit(i128::from(i64::MAX) + 1, 64, true, Overflow::Wrap),
            Some(i128::from(i64::MIN))
        );
        assert_eq!(
            fit(u64::MAX as i128, 63, false, Overflow::Sat),
            Some((1i128 << 63) - 1)
        );
    }

    #[test]
    fn ranges_follow_redis_clamping() {
        let r = |start, end, in_bits| BitRange {
            start,
            end: Some(end),
            in_bits,
        };
        assert_eq!(bit_bounds(3, &r(0, -1, false)), Some((0, 23)));
        assert_eq!(bit_bounds(3, &r(-100, 100, false)), Some((0, 23)));
        assert_eq!(bit_bounds(3, &r(5, 10, true)), Some((5, 10)));
        assert_eq!(bit_bounds(3, &r(2, 1, false)), None);
        assert_eq!(bit_bounds(0, &r(0, -1, false)), None);
    }
}
