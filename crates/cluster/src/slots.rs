//! Sets of hash slots and the `<slots>` argument syntax of CLUSTERX MIGRATE / SETSLOT.

use std::fmt;

use ferrokv_keyslot::{MAX_SLOT, SLOT_COUNT};

use crate::error::{ClusterError, SlotIdReason};

const WORDS: usize = SLOT_COUNT / 64;

/// A set of hash slots, one bit per slot (2 KiB, heap-allocated so that moving it is cheap).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SlotSet {
    bits: Box<[u64; WORDS]>,
}

impl Default for SlotSet {
    fn default() -> Self {
        Self::new()
    }
}

impl SlotSet {
    pub fn new() -> Self {
        SlotSet {
            bits: Box::new([0; WORDS]),
        }
    }

    /// Every slot of the cluster.
    pub fn full() -> Self {
        SlotSet {
            bits: Box::new([u64::MAX; WORDS]),
        }
    }

    /// `start..=end`, clamped to the slot space; empty if `start > end`.
    pub fn from_range(start: u16, end: u16) -> Self {
        let mut set = Self::new();
        set.insert_range(start, end);
        set
    }

    /// Adds `slot`; returns whether it was newly added. Slots above 16383 are ignored
    /// (returns false) rather than panicking, because callers pass client input.
    pub fn insert(&mut self, slot: u16) -> bool {
        if slot > MAX_SLOT {
            return false;
        }
        let (w, b) = (usize::from(slot) / 64, slot % 64);
        let was = self.bits[w] & (1 << b) != 0;
        self.bits[w] |= 1 << b;
        !was
    }

    /// Adds `start..=end`, clamped to the slot space.
    pub fn insert_range(&mut self, start: u16, end: u16) {
        let end = end.min(MAX_SLOT);
        if start > end {
            return;
        }
        for slot in start..=end {
            self.insert(slot);
        }
    }

    /// Removes `slot`; returns whether it was present.
    pub fn remove(&mut self, slot: u16) -> bool {
        if slot > MAX_SLOT {
            return false;
        }
        let (w, b) = (usize::from(slot) / 64, slot % 64);
        let was = self.bits[w] & (1 << b) != 0;
        self.bits[w] &= !(1 << b);
        was
    }

    pub fn contains(&self, slot: u16) -> bool {
        slot <= MAX_SLOT && self.bits[usize::from(slot) / 64] & (1 << (slot % 64)) != 0
    }

    pub fn len(&self) -> usize {
        self.bits.iter().map(|w| w.count_ones() as usize).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.bits.iter().all(|&w| w == 0)
    }

    pub fn clear(&mut self) {
        *self.bits = [0; WORDS];
    }

    /// Slots in ascending order.
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            set: self,
            word: 0,
            rest: self.bits[0],
        }
    }

    pub fn union(&self, other: &SlotSet) -> SlotSet {
        let mut out = self.clone();
        out.union_with(other);
        out
    }

    pub fn union_with(&mut self, other: &SlotSet) {
        for (a, b) in self.bits.iter_mut().zip(other.bits.iter()) {
            *a |= b;
        }
    }

    pub fn intersection(&self, other: &SlotSet) -> SlotSet {
        let mut out = self.clone();
        for (a, b) in out.bits.iter_mut().zip(other.bits.iter()) {
            *a &= b;
        }
        out
    }

    /// Slots of `self` that are not in `other`.
    pub fn difference(&self, other: &SlotSet) -> SlotSet {
        let mut out = self.clone();
        for (a, b) in out.bits.iter_mut().zip(other.bits.iter()) {
            *a &= !b;
        }
        out
    }

    pub fn intersects(&self, other: &SlotSet) -> bool {
        self.bits
            .iter()
            .zip(other.bits.iter())
            .any(|(a, b)| a & b != 0)
    }

    pub fn is_subset(&self, other: &SlotSet) -> bool {
        self.bits
            .iter()
            .zip(other.bits.iter())
            .all(|(a, b)| a & !b == 0)
    }

    /// Maximal runs of consecutive slots, ascending: `{0,1,2,4}` -> `[(0,2),(4,4)]`.
    pub fn ranges(&self) -> Vec<(u16, u16)> {
        let mut out: Vec<(u16, u16)> = Vec::new();
        for slot in self.iter() {
            match out.last_mut() {
                Some((_, end)) if u32::from(*end) + 1 == u32::from(slot) => *end = slot,
                _ => out.push((slot, slot)),
            }
        }
        out
    }

    /// Parses a `<slots>` argument: space-separated `N` and `A-B` items, merged.
    ///
    /// Follows Kvrocks' `ParseSlotRanges` texts, except that every item counts and that
    /// `1--3` is a form error instead of being read as `1-3`.
    pub fn parse(arg: &str) -> Result<SlotSet, ClusterError> {
        if arg.is_empty() {
            return Err(ClusterError::NoSlotsToParse);
        }
        let mut set = SlotSet::new();
        let mut any = false;
        for item in arg.split(' ').filter(|s| !s.is_empty()) {
            any = true;
            let (start, end) = parse_slot_item(item)?;
            set.insert_range(start, end);
        }
        if !any {
            return Err(ClusterError::OnlySpaces(arg.to_string()));
        }
        Ok(set)
    }
}

fn parse_slot_item(item: &str) -> Result<(u16, u16), ClusterError> {
    if !item.contains('-') {
        let slot = parse_slot_id(item).map_err(ClusterError::InvalidSlotId)?;
        return Ok((slot, slot));
    }
    if item.starts_with('-') || item.ends_with('-') {
        return Err(ClusterError::SlotRangeDash(item.to_string()));
    }
    // Empty parts are kept (unlike Kvrocks' Split) so that `1--3` counts as three parts.
    let mut parts = item.split('-');
    let (Some(a), Some(b), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(ClusterError::SlotRangeForm(item.to_string()));
    };
    match (parse_slot_id(a), parse_slot_id(b)) {
        (Ok(start), Ok(end)) if start <= end => Ok((start, end)),
        _ => Err(ClusterError::SlotRangeOrder(item.to_string())),
    }
}

/// Reads a decimal slot id in `0..=16383`, reporting failures the way Kvrocks' `ParseInt`
/// does: an overflowing digit run is a range error even when junk follows it, while junk
/// after an in-`int` value is reported before the slot-range check.
pub(crate) fn parse_slot_id(s: &str) -> Result<u16, SlotIdReason> {
    let bytes = s.as_bytes();
    let digits = bytes.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 {
        return Err(SlotIdReason::NotStartedAsInteger);
    }
    let mut value: i64 = 0;
    for &b in &bytes[..digits] {
        value = value * 10 + i64::from(b - b'0');
        if value > i64::from(i32::MAX) {
            return Err(SlotIdReason::OutOfRange);
        }
    }
    if digits != bytes.len() {
        return Err(SlotIdReason::NonIntegerCharacters);
    }
    u16::try_from(value)
        .ok()
        .filter(|&v| v <= MAX_SLOT)
        .ok_or(SlotIdReason::OutOfRange)
}

/// Ascending iterator over the slots of a [`SlotSet`].
pub struct Iter<'a> {
    set: &'a SlotSet,
    word: usize,
    rest: u64,
}

impl Iterator for Iter<'_> {
    type Item = u16;

    fn next(&mut self) -> Option<u16> {
        loop {
            if self.rest != 0 {
                let bit = self.rest.trailing_zeros() as usize;
                self.rest &= self.rest - 1;
                // word < 256 and bit < 64, so the slot always fits in u16.
                return u16::try_from(self.word * 64 + bit).ok();
            }
            self.word += 1;
            if self.word >= WORDS {
                return None;
            }
            self.rest = self.set.bits[self.word];
        }
    }
}

impl<'a> IntoIterator for &'a SlotSet {
    type Item = u16;
    type IntoIter = Iter<'a>;

    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

impl FromIterator<u16> for SlotSet {
    fn from_iter<I: IntoIterator<Item = u16>>(iter: I) -> Self {
        let mut set = SlotSet::new();
        for slot in iter {
            set.insert(slot);
        }
        set
    }
}

impl Extend<u16> for SlotSet {
    fn extend<I: IntoIterator<Item = u16>>(&mut self, iter: I) {
        for slot in iter {
            self.insert(slot);
        }
    }
}

/// Merged ranges separated by one space: `0-2 4-8193 10000`.
impl fmt::Display for SlotSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (start, end)) in self.ranges().into_iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            if start == end {
                write!(f, "{start}")?;
            } else {
                write!(f, "{start}-{end}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for SlotSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SlotSet[{self}]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(arg: &str) -> String {
        match SlotSet::parse(arg) {
            Ok(set) => panic!("{arg:?} parsed as {set}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn basic_set_operations() {
        let mut s = SlotSet::new();
        assert!(s.is_empty());
        assert!(s.insert(5));
        assert!(!s.insert(5));
        assert!(!s.insert(16384));
        assert!(s.insert(16383));
        assert!(s.contains(5) && s.contains(16383) && !s.contains(6) && !s.contains(60000));
        assert_eq!(s.len(), 2);
        assert_eq!(s.iter().collect::<Vec<_>>(), vec![5, 16383]);
        assert!(s.remove(5));
        assert!(!s.remove(5));
        assert_eq!(SlotSet::full().len(), 16384);
        assert_eq!(SlotSet::full().to_string(), "0-16383");
        assert_eq!(SlotSet::from_range(10, 5).len(), 0);
        assert_eq!(
            SlotSet::from_range(16380, u16::MAX).to_string(),
            "16380-16383"
        );

        let a = SlotSet::from_range(0, 10);
        let b = SlotSet::from_range(10, 20);
        let c = SlotSet::from_range(11, 20);
        assert!(a.intersects(&b));
        assert!(!a.intersects(&c));
        assert_eq!(a.union(&c).to_string(), "0-20");
        assert_eq!(a.intersection(&b).to_string(), "10");
        assert_eq!(b.difference(&a).to_string(), "11-20");
        assert!(c.is_subset(&b) && !b.is_subset(&c));
    }

    #[test]
    fn display_merges_ranges() {
        let s: SlotSet = [0, 1, 2, 4, 5, 6, 10000, 16383].into_iter().collect();
        assert_eq!(s.to_string(), "0-2 4-6 10000 16383");
        assert_eq!(
            s.ranges(),
            vec![(0, 2), (4, 6), (10000, 10000), (16383, 16383)]
        );
        assert_eq!(SlotSet::new().to_string(), "");
    }

    #[test]
    fn parse_valid_lists() {
        assert_eq!(SlotSet::parse("1234").unwrap().to_string(), "1234");
        assert_eq!(
            SlotSet::parse("1234-1236").unwrap().to_string(),
            "1234-1236"
        );
        assert_eq!(SlotSet::parse("7-7").unwrap().to_string(), "7");
        assert_eq!(
            SlotSet::parse("10229  16301 4710 3557-8559 ")
                .unwrap()
                .to_string(),
            "3557-8559 10229 16301"
        );
        // Overlapping and adjacent items merge.
        assert_eq!(SlotSet::parse("0-4 5-9").unwrap().to_string(), "0-9");
        assert_eq!(SlotSet::parse("0-10 5-20 3").unwrap().to_string(), "0-20");
        assert_eq!(SlotSet::parse("0 16383").unwrap().to_string(), "0 16383");
        assert_eq!(SlotSet::parse("0-16383").unwrap().len(), 16384);
        // Every item counts, not only the first (Kvrocks' shortcut).
        assert_eq!(SlotSet::parse("1 3 5").unwrap().len(), 3);
    }

    #[test]
    fn parse_empty() {
        assert_eq!(err(""), "No slots to parse.");
    }

    #[test]
    fn parse_only_spaces() {
        assert_eq!(
            err("    "),
            "Invalid slots: `    `. No slots to parse. Please use spaces to separate slots."
        );
    }

    #[test]
    fn parse_not_started_as_integer() {
        assert_eq!(err("abc"), "Invalid slot id: not started as an integer");
        assert_eq!(err("+5"), "Invalid slot id: not started as an integer");
    }

    #[test]
    fn parse_non_integer_characters() {
        assert_eq!(
            err("830849ad"),
            "Invalid slot id: encounter non-integer characters"
        );
        assert_eq!(
            err("1 2x"),
            "Invalid slot id: encounter non-integer characters"
        );
    }

    #[test]
    fn parse_out_of_numeric_range() {
        assert_eq!(err("1683093429"), "Invalid slot id: out of numeric range");
        assert_eq!(err("16384"), "Invalid slot id: out of numeric range");
        assert_eq!(
            err("99999999999999999999999"),
            "Invalid slot id: out of numeric range"
        );
    }

    #[test]
    fn parse_leading_or_trailing_dash() {
        for item in ["-1234-3456", "1234-3456-", "-6351", "-", "5-"] {
            assert_eq!(
                err(item),
                format!("Invalid slot range: `{item}`. The character '-' can't appear in the first or last position.")
            );
        }
        // The item, not the whole argument, is quoted.
        assert_eq!(
            err("1 2 -3"),
            "Invalid slot range: `-3`. The character '-' can't appear in the first or last position."
        );
    }

    #[test]
    fn parse_more_than_two_numbers() {
        for item in ["12-34-56", "1--3"] {
            assert_eq!(
                err(item),
                format!("Invalid slot range: `{item}`. The slot range should be of the form `int1-int2`.")
            );
        }
    }

    #[test]
    fn parse_start_after_end_or_end_out_of_range() {
        for item in ["3456-1234", "0-16384", "1-x", "x-1"] {
            assert_eq!(
                err(item),
                format!("Invalid slot range: `{item}`. The slot range `int1-int2` needs to satisfy the condition (int1 <= int2).")
            );
        }
    }

    #[test]
    fn parse_errors_after_valid_items() {
        let prefix = "10229  16301 4710 3557-8559 ";
        assert_eq!(
            err(&format!("{prefix}830849ad")),
            "Invalid slot id: encounter non-integer characters"
        );
        assert_eq!(
            err(&format!("{prefix}3456-1234")),
            "Invalid slot range: `3456-1234`. The slot range `int1-int2` needs to satisfy the condition (int1 <= int2)."
        );
    }
}
