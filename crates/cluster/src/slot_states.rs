//! What this node knows about each slot beyond the topology: the migration states
//! (importing, imported, fenced, migrated away) that routing consults. A leaf module:
//! the topology owns a table of these, routing reads it.

use std::collections::HashMap;

use crate::slots::SlotSet;

/// What this node knows about a slot beyond the topology. Migration sets and clears
/// these; SETNODES and SETSLOT clear the committed records (`Imported`, `MigratedAway`)
/// once the topology has caught up.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum SlotState {
    #[default]
    Normal,
    /// Destination side, copy running: only the importing link and ASKING clients.
    Importing { source_id: String },
    /// Destination side, committed, topology not caught up: serve everyone.
    Imported { source_id: String },
    /// Source side, committed, topology not caught up: MOVED to the destination.
    MigratedAway { dest_id: String },
    /// Source side, cut-over: writes are held, reads go on.
    Fenced { dest_id: String },
}

/// The sparse per-slot state table: almost every slot is `Normal`, so only the others
/// are stored, and the common case is one empty-map check.
#[derive(Debug, Clone, Default)]
pub struct SlotStates {
    map: HashMap<u16, SlotState>,
}

static NORMAL: SlotState = SlotState::Normal;

impl SlotStates {
    pub fn get(&self, slot: u16) -> &SlotState {
        if self.map.is_empty() {
            return &NORMAL;
        }
        self.map.get(&slot).unwrap_or(&NORMAL)
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub(crate) fn set_one(&mut self, slot: u16, state: SlotState) {
        if state == SlotState::Normal {
            self.map.remove(&slot);
        } else {
            self.map.insert(slot, state);
        }
    }

    pub(crate) fn set(&mut self, slots: &SlotSet, state: &SlotState) {
        for slot in slots {
            self.set_one(slot, state.clone());
        }
    }

    /// Every slot that is not `Normal`, with its state (in no particular order).
    pub fn iter(&self) -> impl Iterator<Item = (u16, &SlotState)> + '_ {
        self.map.iter().map(|(&slot, state)| (slot, state))
    }

    pub fn slots_where(&self, pred: impl Fn(&SlotState) -> bool) -> SlotSet {
        self.map
            .iter()
            .filter(|(_, s)| pred(s))
            .map(|(&slot, _)| slot)
            .collect()
    }

    /// Drops the committed records, keeping what running jobs own.
    pub(crate) fn clear_records(&mut self) {
        self.map.retain(|_, s| {
            !matches!(
                s,
                SlotState::Imported { .. } | SlotState::MigratedAway { .. }
            )
        });
    }

    pub(crate) fn clear(&mut self) {
        self.map.clear();
    }
}
