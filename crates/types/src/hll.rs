//! HyperLogLog, compatible with Redis: string values in Redis' format (`HYLL` magic,
//! encoding byte, cached cardinality, 16384 six-bit registers), elements hashed with
//! MurmurHash64A, and Redis' estimator (Ertl's improved estimator), so that PFCOUNT
//! answers exactly what redis-server answers for the same elements. Ferrokv writes the
//! dense encoding only; it reads both the dense and the sparse encoding.

use crate::{Database, Result, TypeError};

const P: u32 = 14;
const Q: usize = 64 - P as usize;
const REGISTERS: usize = 1 << P;
const BITS: usize = 6;
const REGISTER_MAX: u8 = (1 << BITS) - 1;
const HEADER_LEN: usize = 16;
const DENSE_LEN: usize = HEADER_LEN + REGISTERS * BITS / 8;
const ENCODING_DENSE: u8 = 0;
const ENCODING_SPARSE: u8 = 1;
const ALPHA_INF: f64 = 0.721_347_520_444_481_7;
const SEED: u64 = 0xadc8_3b19;

/// MurmurHash2, 64-bit version, as in Redis (little-endian reads on every platform).
pub fn murmur_hash64a(data: &[u8], seed: u64) -> u64 {
    const M: u64 = 0xc6a4_a793_5bd1_e995;
    const R: u32 = 47;
    let mut h = seed ^ (data.len() as u64).wrapping_mul(M);
    let mut chunks = data.chunks_exact(8);
    for chunk in &mut chunks {
        let mut k = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h ^= k;
        h = h.wrapping_mul(M);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        for (i, b) in rest.iter().enumerate() {
            h ^= u64::from(*b) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> R;
    h = h.wrapping_mul(M);
    h ^= h >> R;
    h
}

/// The register an element maps to, and the length of its `000..1` pattern.
fn pattern(element: &[u8]) -> (usize, u8) {
    let hash = murmur_hash64a(element, SEED);
    let index = (hash & (REGISTERS as u64 - 1)) as usize;
    let rest = (hash >> P) | (1u64 << Q);
    (index, rest.trailing_zeros() as u8 + 1)
}

fn dense_get(registers: &[u8], index: usize) -> u8 {
    let bit = index * BITS;
    let (byte, shift) = (bit / 8, bit % 8);
    let b0 = u16::from(registers[byte]);
    let b1 = u16::from(registers.get(byte + 1).copied().unwrap_or(0));
    (((b0 >> shift) | (b1 << (8 - shift))) & u16::from(REGISTER_MAX)) as u8
}

fn dense_set(registers: &mut [u8], index: usize, value: u8) {
    let bit = index * BITS;
    let (byte, shift) = (bit / 8, bit % 8);
    let v = u16::from(value) << shift;
    let mask = u16::from(REGISTER_MAX) << shift;
    registers[byte] = (registers[byte] & !(mask as u8)) | (v as u8);
    if shift + BITS > 8 {
        let high_mask = (mask >> 8) as u8;
        registers[byte + 1] = (registers[byte + 1] & !high_mask) | (v >> 8) as u8;
    }
}

/// Registers, one byte each.
type Raw = [u8; REGISTERS];

/// An empty HLL in the dense encoding (cached cardinality 0, valid).
fn new_dense() -> Vec<u8> {
    let mut value = vec![0u8; DENSE_LEN];
    value[..4].copy_from_slice(b"HYLL");
    value[4] = ENCODING_DENSE;
    value
}

/// Checks that `value` is an HLL (Redis' `isHLLObjectOrReply`).
fn check(value: &[u8]) -> Result<()> {
    if value.len() < HEADER_LEN
        || &value[..4] != b"HYLL"
        || value[4] > ENCODING_SPARSE
        || (value[4] == ENCODING_DENSE && value.len() != DENSE_LEN)
    {
        return Err(TypeError::NotHyperLogLog);
    }
    Ok(())
}

/// Merges the registers of a checked HLL value into `raw` (maximum per register).
fn merge_into(raw: &mut Raw, value: &[u8]) -> Result<()> {
    let registers = &value[HEADER_LEN..];
    if value[4] == ENCODING_DENSE {
        for (i, slot) in raw.iter_mut().enumerate() {
            *slot = (*slot).max(dense_get(registers, i));
        }
        return Ok(());
    }
    // Sparse: ZERO (00xxxxxx), XZERO (01xxxxxx yyyyyyyy), VAL (1vvvvvxx) opcodes.
    let mut index = 0usize;
    let mut p = 0usize;
    while p < registers.len() {
        let op = registers[p];
        if op & 0xc0 == 0 {
            index += usize::from(op & 0x3f) + 1;
            p += 1;
        } else if op & 0xc0 == 0x40 {
            let next = *registers.get(p + 1).ok_or(TypeError::CorruptHyperLogLog)?;
            index += ((usize::from(op & 0x3f) << 8) | usize::from(next)) + 1;
            p += 2;
        } else {
            let run = usize::from(op & 0x3) + 1;
            let value = ((op >> 2) & 0x1f) + 1;
            if index + run > REGISTERS {
                return Err(TypeError::CorruptHyperLogLog);
            }
            for slot in &mut raw[index..index + run] {
                *slot = (*slot).max(value);
            }
            index += run;
            p += 1;
        }
    }
    if index != REGISTERS {
        return Err(TypeError::CorruptHyperLogLog);
    }
    Ok(())
}

fn sigma(mut x: f64) -> f64 {
    if x == 1.0 {
        return f64::INFINITY;
    }
    let mut y = 1.0;
    let mut z = x;
    loop {
        x *= x;
        let z_prime = z;
        z += x * y;
        y += y;
        if z_prime == z {
            return z;
        }
    }
}

fn tau(mut x: f64) -> f64 {
    if x == 0.0 || x == 1.0 {
        return 0.0;
    }
    let mut y = 1.0;
    let mut z = 1.0 - x;
    loop {
        x = x.sqrt();
        let z_prime = z;
        y *= 0.5;
        z -= (1.0 - x).powf(2.0) * y;
        if z_prime == z {
            return z / 3.0;
        }
    }
}

/// Redis' `hllCount` on raw registers.
fn estimate(raw: &Raw) -> u64 {
    let mut histogram = [0u32; 64];
    for &r in raw.iter() {
        histogram[usize::from(r)] += 1;
    }
    let m = REGISTERS as f64;
    let mut z = m * tau((m - f64::from(histogram[Q + 1])) / m);
    for j in (1..=Q).rev() {
        z += f64::from(histogram[j]);
        z *= 0.5;
    }
    z += m * sigma(f64::from(histogram[0]) / m);
    (ALPHA_INF * m * m / z).round() as u64
}

/// The cached cardinality of a stored HLL, if valid.
fn cached(value: &[u8]) -> Option<u64> {
    let card: [u8; 8] = value[8..16].try_into().ok()?;
    (card[7] & 0x80 == 0).then(|| u64::from_le_bytes(card))
}

fn invalidate_cache(value: &mut [u8]) {
    value[15] |= 0x80;
}

/// A dense HLL value holding `raw` (cache invalid).
fn dense_from_raw(raw: &Raw) -> Vec<u8> {
    let mut value = new_dense();
    for (i, &r) in raw.iter().enumerate() {
        if r != 0 {
            dense_set(&mut value[HEADER_LEN..], i, r);
        }
    }
    invalidate_cache(&mut value);
    value
}

impl Database {
    /// Reads an HLL string for a command: `None` if missing, NotHyperLogLog for other
    /// strings, WRONGTYPE for other types.
    fn hll_value(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let value = self.get(key)?;
        if let Some(v) = &value {
            check(v)?;
        }
        Ok(value)
    }

    /// PFADD: true when a register changed (or the key was created).
    pub fn pfadd(&self, key: &[u8], elements: &[&[u8]]) -> Result<bool> {
        let _guard = self.locks.lock_one(key);
        let (expire_ms, mut value, created) = match self.string_for_bits(key)? {
            None => (0, new_dense(), true),
            Some((expire_ms, value)) => {
                check(&value)?;
                if value[4] == ENCODING_SPARSE {
                    let mut raw = [0u8; REGISTERS];
                    merge_into(&mut raw, &value)?;
                    let mut dense = dense_from_raw(&raw);
                    dense[8..16].copy_from_slice(&value[8..16]);
                    (expire_ms, dense, false)
                } else {
                    (expire_ms, value, false)
                }
            }
        };
        let mut updated = false;
        for element in elements {
            let (index, count) = pattern(element);
            let registers = &mut value[HEADER_LEN..];
            if count > dense_get(registers, index) {
                dense_set(registers, index, count);
                updated = true;
            }
        }
        if updated {
            invalidate_cache(&mut value);
        }
        if updated || created {
            self.put_string_value(key, expire_ms, &value)?;
        }
        Ok(updated || created)
    }

    /// PFCOUNT: the estimated cardinality of the union of the keys' HLLs.
    pub fn pfcount(&self, keys: &[&[u8]]) -> Result<u64> {
        if let [key] = keys {
            let Some(value) = self.hll_value(key)? else {
                return Ok(0);
            };
            if let Some(card) = cached(&value) {
                return Ok(card);
            }
            let mut raw = [0u8; REGISTERS];
            merge_into(&mut raw, &value)?;
            return Ok(estimate(&raw));
        }
        let mut raw = [0u8; REGISTERS];
        for key in keys {
            if let Some(value) = self.hll_value(key)? {
                merge_into(&mut raw, &value)?;
            }
        }
        Ok(estimate(&raw))
    }

    /// PFMERGE: `dest` becomes the union of itself and `sources` (keeping its expiry).
    pub fn pfmerge(&self, dest: &[u8], sources: &[&[u8]]) -> Result<()> {
        let mut all: Vec<&[u8]> = sources.to_vec();
        all.push(dest);
        let _guard = self.locks.lock(&all);
        let mut raw = [0u8; REGISTERS];
        let mut expire_ms = 0;
        if let Some((expire, value)) = self.string_for_bits(dest)? {
            check(&value)?;
            merge_into(&mut raw, &value)?;
            expire_ms = expire;
        }
        for key in sources {
            if let Some(value) = self.hll_value(key)? {
                merge_into(&mut raw, &value)?;
            }
        }
        self.put_string_value(dest, expire_ms, &dense_from_raw(&raw))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registers_round_trip_without_touching_neighbours() {
        let mut regs = vec![0u8; REGISTERS * BITS / 8];
        for i in 0..REGISTERS {
            dense_set(&mut regs, i, (i % 64) as u8);
        }
        for i in 0..REGISTERS {
            assert_eq!(dense_get(&regs, i), (i % 64) as u8, "register {i}");
        }
        dense_set(&mut regs, 5, 0);
        assert_eq!(dense_get(&regs, 4), 4);
        assert_eq!(dense_get(&regs, 5), 0);
        assert_eq!(dense_get(&regs, 6), 6);
    }

    #[test]
    fn empty_and_small_estimates() {
        let raw = [0u8; REGISTERS];
        assert_eq!(estimate(&raw), 0);
        let mut raw = [0u8; REGISTERS];
        for e in [&b"a"[..], b"b", b"c"] {
            let (i, c) = pattern(e);
            raw[i] = raw[i].max(c);
        }
        assert_eq!(estimate(&raw), 3);
    }

    #[test]
    fn validation() {
        assert!(check(b"hello").is_err());
        assert!(check(&new_dense()).is_ok());
        let mut bad = new_dense();
        bad.pop();
        assert!(check(&bad).is_err());
        // A sparse HLL of only zero registers: one XZERO opcode covering 16384.
        let mut sparse = new_dense()[..HEADER_LEN].to_vec();
        sparse[4] = ENCODING_SPARSE;
        sparse.extend_from_slice(&[0x40 | 0x3f, 0xff]);
        let mut raw = [0u8; REGISTERS];
        merge_into(&mut raw, &sparse).unwrap();
        assert!(raw.iter().all(|&r| r == 0));
    }
}
