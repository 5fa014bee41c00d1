//! Sets of the 16,384 hash slots, parsed and printed as Kvrocks slot lists (`0-10 20`).

use crate::error::{CtlError, Result};

/// Number of hash slots.
pub const SLOTS: usize = 16384;

/// A set of slots, kept sorted and unique.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SlotSet(std::collections::BTreeSet<u16>);

impl SlotSet {
    /// The empty set.
    pub fn new() -> SlotSet {
        SlotSet::default()
    }

    /// Parses space-separated `N` and `A-B` items (a usage error otherwise).
    pub fn parse(text: &str) -> Result<SlotSet> {
        let mut set = SlotSet::new();
        for item in text.split([' ', ',']).filter(|s| !s.is_empty()) {
            let bad = || CtlError::Usage(format!("invalid slot or slot range `{item}`"));
            let (a, b) = match item.split_once('-') {
                Some((a, b)) => (a, b),
                None => (item, item),
            };
            let a: u16 = a.parse().map_err(|_| bad())?;
            let b: u16 = b.parse().map_err(|_| bad())?;
            if a > b || usize::from(b) >= SLOTS {
                return Err(bad());
            }
            set.insert_range(a, b);
        }
        if set.is_empty() {
            return Err(CtlError::Usage(format!("no slots in `{text}`")));
        }
        Ok(set)
    }

    /// Adds `a..=b`.
    pub fn insert_range(&mut self, a: u16, b: u16) {
        self.0.extend(a..=b);
    }

    /// Adds one slot.
    pub fn insert(&mut self, slot: u16) {
        self.0.insert(slot);
    }

    /// Whether `slot` is in the set.
    pub fn contains(&self, slot: u16) -> bool {
        self.0.contains(&slot)
    }

    /// Number of slots.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The slots in order.
    pub fn iter(&self) -> impl Iterator<Item = u16> + '_ {
        self.0.iter().copied()
    }

    /// Slots of `self` not in `other`.
    pub fn difference(&self, other: &SlotSet) -> SlotSet {
        SlotSet(self.0.difference(&other.0).copied().collect())
    }

    /// Slots in both.
    pub fn intersection(&self, other: &SlotSet) -> SlotSet {
        SlotSet(self.0.intersection(&other.0).copied().collect())
    }

    /// Adds every slot of `other`.
    pub fn union_with(&mut self, other: &SlotSet) {
        self.0.extend(other.0.iter().copied());
    }

    /// Merged ranges, in order.
    pub fn ranges(&self) -> Vec<(u16, u16)> {
        let mut out: Vec<(u16, u16)> = Vec::new();
        for s in self.iter() {
            match out.last_mut() {
                Some((_, end)) if u32::from(*end) + 1 == u32::from(s) => *end = s,
                _ => out.push((s, s)),
            }
        }
        out
    }
}

impl SlotSet {
    /// The list when short, else a summary (`1234 slots in 56 ranges, 0-99 ... 16000-16383`).
    pub fn brief(&self) -> String {
        let text = self.to_string();
        if text.len() <= 100 {
            return text;
        }
        let ranges = self.ranges();
        let show = |(a, b): (u16, u16)| {
            if a == b {
                a.to_string()
            } else {
                format!("{a}-{b}")
            }
        };
        format!(
            "{} slots in {} ranges, {} ... {}",
            self.len(),
            ranges.len(),
            ranges.first().copied().map(show).unwrap_or_default(),
            ranges.last().copied().map(show).unwrap_or_default()
        )
    }
}

/// Serializes a slot set as its slot list text (`"0-10 20"`), for `#[serde(serialize_with)]`.
pub fn as_text<S: serde::Serializer>(
    slots: &SlotSet,
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(&slots.to_string())
}

impl FromIterator<u16> for SlotSet {
    fn from_iter<I: IntoIterator<Item = u16>>(iter: I) -> SlotSet {
        SlotSet(iter.into_iter().collect())
    }
}

impl std::fmt::Display for SlotSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut first = true;
        for (a, b) in self.ranges() {
            if !first {
                f.write_str(" ")?;
            }
            first = false;
            if a == b {
                write!(f, "{a}")?;
            } else {
                write!(f, "{a}-{b}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_merged() {
        let s = SlotSet::parse("5-9 0-4 20 21").unwrap();
        assert_eq!(s.to_string(), "0-9 20-21");
        assert_eq!(s.len(), 12);
        assert!(SlotSet::parse("5-3").is_err());
        assert!(SlotSet::parse("16384").is_err());
        assert!(SlotSet::parse(" ").is_err());
    }
}
