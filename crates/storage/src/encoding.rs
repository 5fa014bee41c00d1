//! Stored key layout. Every stored key begins with the 2-byte big-endian slot id of the
//! user key, in standalone mode too, so that a node's data can later join a cluster
//! and a slot range is always one contiguous key range in every column family.
//!
//! - metadata CF: `[slot:2][user key]`
//! - members CF:  `[slot:2][key length:4][user key][version:8][member]`
//! - score CF:    `[slot:2][key length:4][user key][version:8][score:8][member]`
//!
//! The key length in member keys keeps `a` + member `bc` apart from `ab` + member `c`.
//! The version makes a whole collection disappear in O(1): a new incarnation of a key
//! gets a new version and the old members become unreachable garbage.

use ferrokv_keyslot::key_slot;

/// The slot of a stored key of any column family (its first two bytes); `None` when
/// the key is too short to have one.
#[inline]
pub fn slot_of(stored_key: &[u8]) -> Option<u16> {
    Some(u16::from_be_bytes([
        *stored_key.first()?,
        *stored_key.get(1)?,
    ]))
}

/// Metadata key of a user key.
pub fn metadata_key(user_key: &[u8]) -> Vec<u8> {
    metadata_key_in_slot(key_slot(user_key), user_key)
}

/// Metadata key of a user key whose slot is already known.
pub fn metadata_key_in_slot(slot: u16, user_key: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(2 + user_key.len());
    out.extend_from_slice(&slot.to_be_bytes());
    out.extend_from_slice(user_key);
    out
}

/// Splits a metadata key into slot and user key.
pub fn decode_metadata_key(stored: &[u8]) -> Option<(u16, &[u8])> {
    Some((slot_of(stored)?, &stored[2..]))
}

/// Prefix shared by every member of one incarnation (version) of a collection.
pub fn member_prefix(user_key: &[u8], version: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(2 + 4 + user_key.len() + 8 + 16);
    out.extend_from_slice(&key_slot(user_key).to_be_bytes());
    out.extend_from_slice(&(user_key.len() as u32).to_be_bytes());
    out.extend_from_slice(user_key);
    out.extend_from_slice(&version.to_be_bytes());
    out
}

/// Stored key of one member of a collection.
pub fn member_key(user_key: &[u8], version: u64, member: &[u8]) -> Vec<u8> {
    let mut out = member_prefix(user_key, version);
    out.extend_from_slice(member);
    out
}

/// A member key split into its parts.
#[derive(Debug, PartialEq, Eq)]
pub struct MemberKey<'a> {
    pub slot: u16,
    pub user_key: &'a [u8],
    pub version: u64,
    pub member: &'a [u8],
}

/// Splits a stored member key; `None` if it is too short to be one.
pub fn decode_member_key(stored: &[u8]) -> Option<MemberKey<'_>> {
    let slot = slot_of(stored)?;
    let len_bytes: [u8; 4] = stored.get(2..6)?.try_into().ok()?;
    let key_len = u32::from_be_bytes(len_bytes) as usize;
    let key_end = 6usize.checked_add(key_len)?;
    let user_key = stored.get(6..key_end)?;
    let version_bytes: [u8; 8] = stored.get(key_end..key_end + 8)?.try_into().ok()?;
    Some(MemberKey {
        slot,
        user_key,
        version: u64::from_be_bytes(version_bytes),
        member: &stored[key_end + 8..],
    })
}

/// Whether `stored` is a key this node could have written: a metadata key or a member
/// key whose slot prefix is the slot of its user key (a raw batch from outside,
/// APPLYBATCH, is held to it).
pub fn is_well_formed_key(stored: &[u8]) -> bool {
    let metadata = decode_metadata_key(stored).is_some_and(|(slot, key)| slot == key_slot(key));
    let member = decode_member_key(stored).is_some_and(|m| m.slot == key_slot(m.user_key));
    metadata || member
}

/// The smallest key that sorts after every key starting with `prefix`, or `None` when
/// no such key exists (the prefix is all 0xff).
pub fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last != 0xff {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// Stored-key bounds `[start, end)` covering slots `first..=last` in every column family.
pub fn slot_range_bounds(first: u16, last: u16) -> (Vec<u8>, Vec<u8>) {
    let end = u32::from(last) + 1;
    (
        first.to_be_bytes().to_vec(),
        (end as u16).to_be_bytes().to_vec(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_keys_are_grouped_by_slot() {
        let k = metadata_key(b"foo");
        assert_eq!(&k[..2], &12182u16.to_be_bytes());
        assert_eq!(decode_metadata_key(&k), Some((12182, &b"foo"[..])));
    }

    #[test]
    fn every_stored_key_starts_with_its_slot() {
        assert_eq!(slot_of(&metadata_key(b"foo")), Some(12182));
        assert_eq!(slot_of(&member_key(b"foo", 7, b"m")), Some(12182));
        assert_eq!(slot_of(&metadata_key_in_slot(16383, b"")), Some(16383));
        assert_eq!(slot_of(&[0x01, 0x02, 0xff]), Some(0x0102));
        assert_eq!(slot_of(&[0x3f]), None);
        assert_eq!(slot_of(&[]), None);
        assert_eq!(decode_metadata_key(&[0x3f]), None);
        assert_eq!(decode_metadata_key(&[0, 5]), Some((5, &b""[..])));
    }

    #[test]
    fn member_keys_round_trip_and_do_not_collide() {
        let a = member_key(b"a", 7, b"bc");
        let b = member_key(b"ab", 7, b"c");
        assert_ne!(a, b);
        let decoded = decode_member_key(&a).unwrap();
        assert_eq!(decoded.user_key, b"a");
        assert_eq!(decoded.version, 7);
        assert_eq!(decoded.member, b"bc");
        assert!(decode_member_key(&a[..5]).is_none());
    }

    #[test]
    fn slot_bounds_cover_the_last_slot() {
        let (start, end) = slot_range_bounds(16000, 16383);
        assert_eq!(start, vec![0x3e, 0x80]);
        assert_eq!(end, vec![0x40, 0x00]);
        assert!(metadata_key_in_slot(16383, b"\xff\xff") < end);
    }

    #[test]
    fn prefix_end_skips_ff_bytes() {
        assert_eq!(prefix_end(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(prefix_end(b"a\xff"), Some(b"b".to_vec()));
        assert_eq!(prefix_end(b"\xff\xff"), None);
    }
}
