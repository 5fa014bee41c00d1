//! The text format of `migration.conf`: the migration states a node must remember across
//! a restart so that both ends of a migration converge after a crash (migration.md,
//! "Safety" rule 3). Pure functions; the server reads and writes the file.
//!
//! One record per line, `<kind> <node-id> <slots>`, slots as a slot list
//! (`0-9 100`): `migrated` (source, committed: MOVED to the node), `committing`
//! (source, cut-over in doubt: settled with the destination at restart), `importing`
//! (destination, copy running: dropped at restart), `imported` (destination,
//! committed). Lines are sorted by kind name, then node id.

use std::collections::BTreeMap;
use std::fmt;

use crate::slot_states::{SlotState, SlotStates};
use crate::slots::SlotSet;

/// What a record says about its slots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum RecordKind {
    /// Source: committed, the topology has not caught up.
    Migrated,
    /// Source: the cut-over started; its outcome is settled with the destination.
    Committing,
    /// Destination: the copy is running (not committed).
    Importing,
    /// Destination: committed, the topology has not caught up.
    Imported,
}

impl RecordKind {
    /// The word the file uses.
    pub fn name(self) -> &'static str {
        match self {
            RecordKind::Migrated => "migrated",
            RecordKind::Committing => "committing",
            RecordKind::Importing => "importing",
            RecordKind::Imported => "imported",
        }
    }

    fn parse(word: &str) -> Option<RecordKind> {
        [
            RecordKind::Migrated,
            RecordKind::Committing,
            RecordKind::Importing,
            RecordKind::Imported,
        ]
        .into_iter()
        .find(|k| k.name() == word)
    }
}

/// One line of `migration.conf`: `slots` are in state `kind` with peer `node` (the
/// destination for the source's kinds, the source for the destination's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub kind: RecordKind,
    pub node: String,
    pub slots: SlotSet,
}

/// A line that cannot be read: its number (from 1) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordsError {
    pub line: usize,
    pub message: String,
}

impl fmt::Display for RecordsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for RecordsError {}

/// Reads the records of a `migration.conf` text; the first unreadable line is an error.
pub fn parse_records(text: &str) -> Result<Vec<Record>, RecordsError> {
    let mut records = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let bad = |message: String| RecordsError {
            line: number + 1,
            message,
        };
        let mut fields = line.splitn(3, ' ');
        let (Some(kind), Some(node), Some(slots)) = (fields.next(), fields.next(), fields.next())
        else {
            return Err(bad("expected `<kind> <node-id> <slots>`".into()));
        };
        let kind =
            RecordKind::parse(kind).ok_or_else(|| bad(format!("unknown record kind `{kind}`")))?;
        let slots = SlotSet::parse(slots).map_err(|e| bad(e.to_string()))?;
        records.push(Record {
            kind,
            node: node.to_string(),
            slots,
        });
    }
    Ok(records)
}

/// The file text for `records`, one line each, grouped by (kind, node) and sorted.
/// Empty when there is nothing to remember (the server then removes the file).
pub fn render_records(records: &[Record]) -> String {
    let mut groups: BTreeMap<(&'static str, &str), SlotSet> = BTreeMap::new();
    for record in records {
        groups
            .entry((record.kind.name(), record.node.as_str()))
            .or_default()
            .union_with(&record.slots);
    }
    groups
        .iter()
        .filter(|(_, slots)| !slots.is_empty())
        .map(|((kind, node), slots)| format!("{kind} {node} {slots}\n"))
        .collect()
}

/// The records that describe `states`: every slot not `Normal`, by kind and peer.
pub fn records_of(states: &SlotStates) -> Vec<Record> {
    let mut groups: BTreeMap<(RecordKind, String), SlotSet> = BTreeMap::new();
    for (slot, state) in states.iter() {
        let (kind, node) = match state {
            SlotState::Normal => continue,
            SlotState::MigratedAway { dest_id } => (RecordKind::Migrated, dest_id),
            SlotState::Fenced { dest_id } => (RecordKind::Committing, dest_id),
            SlotState::Importing { source_id } => (RecordKind::Importing, source_id),
            SlotState::Imported { source_id } => (RecordKind::Imported, source_id),
        };
        groups.entry((kind, node.clone())).or_default().insert(slot);
    }
    groups
        .into_iter()
        .map(|((kind, node), slots)| Record { kind, node, slots })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(s: &str) -> SlotSet {
        SlotSet::parse(s).unwrap()
    }

    #[test]
    fn round_trip_groups_and_sorts() {
        let records = vec![
            Record {
                kind: RecordKind::Importing,
                node: "b".into(),
                slots: set("5"),
            },
            Record {
                kind: RecordKind::Migrated,
                node: "a".into(),
                slots: set("0-4"),
            },
            Record {
                kind: RecordKind::Migrated,
                node: "a".into(),
                slots: set("10"),
            },
            Record {
                kind: RecordKind::Committing,
                node: "c".into(),
                slots: set("7-8"),
            },
        ];
        let text = render_records(&records);
        assert_eq!(text, "committing c 7-8\nimporting b 5\nmigrated a 0-4 10\n");
        let back = parse_records(&text).unwrap();
        assert_eq!(render_records(&back), text);
        assert_eq!(back[2].slots, set("0-4 10"));
    }

    #[test]
    fn nothing_to_remember_is_empty() {
        assert_eq!(render_records(&[]), "");
        assert_eq!(parse_records("").unwrap(), vec![]);
    }

    #[test]
    fn bad_lines_are_named() {
        let err = parse_records("migrated a 1\nimported b\n").unwrap_err();
        assert_eq!(err.line, 2);
        assert_eq!(
            err.to_string(),
            "line 2: expected `<kind> <node-id> <slots>`"
        );
        let err = parse_records("moved a 1").unwrap_err();
        assert_eq!(err.to_string(), "line 1: unknown record kind `moved`");
        let err = parse_records("migrated a 1-x").unwrap_err();
        assert_eq!(err.line, 1);
        assert!(err.message.starts_with("Invalid slot"), "{}", err.message);
    }

    #[test]
    fn states_become_records() {
        let mut states = SlotStates::default();
        let dest = SlotState::MigratedAway {
            dest_id: "d".into(),
        };
        states.set(&set("1-3"), &dest);
        states.set(
            &set("9"),
            &SlotState::Fenced {
                dest_id: "d".into(),
            },
        );
        states.set(
            &set("20"),
            &SlotState::Importing {
                source_id: "s".into(),
            },
        );
        let text = render_records(&records_of(&states));
        assert_eq!(text, "committing d 9\nimporting s 20\nmigrated d 1-3\n");
    }
}
