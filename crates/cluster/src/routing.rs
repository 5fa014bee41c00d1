//! Where a keyed command may run: the routing decision of cluster.md "Routing every
//! keyed command", steps 1-7, as a pure function of the topology, the slot's migration
//! state and a few per-connection facts.

use crate::error::ClusterError;
use crate::slot_states::SlotState;
use crate::topology::{ClusterState, Role};

/// Per-connection facts the routing decision depends on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConnRouting {
    /// The previous command was ASKING (the server clears it after a command that
    /// passed routing).
    pub asking: bool,
    /// The connection sent READONLY.
    pub readonly: bool,
    /// The connection is the source node's importing link.
    pub importing_link: bool,
}

/// The routing decision for one keyed command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// Execute here.
    Local,
    /// `-MOVED <slot> <host>:<port>`.
    Moved { slot: u16, host: String, port: u16 },
    /// `-CLUSTERDOWN Hash slot not served`.
    ClusterDown,
    /// A write to a slot in its cut-over: hold it until the fence lifts and route it
    /// again; past `migrate-fence-max-ms` (or where it cannot wait, e.g. inside MULTI)
    /// reply [`ClusterError::Fenced`].
    Fenced,
}

impl Route {
    /// The error to reply instead of executing, or `None` for [`Route::Local`]. A
    /// [`Route::Fenced`] maps to the TRYAGAIN reply, for callers that cannot wait.
    pub fn to_error(&self) -> Option<ClusterError> {
        match self {
            Route::Local => None,
            Route::Moved { slot, host, port } => Some(ClusterError::Moved {
                slot: *slot,
                host: host.clone(),
                port: *port,
            }),
            Route::ClusterDown => Some(ClusterError::SlotNotServed),
            Route::Fenced => Some(ClusterError::Fenced),
        }
    }
}

/// The one slot all `slots` share, `None` for no keys, CROSSSLOT if they differ
/// (cluster.md step 1).
pub fn common_slot(slots: impl IntoIterator<Item = u16>) -> Result<Option<u16>, ClusterError> {
    let mut slots = slots.into_iter();
    let Some(first) = slots.next() else {
        return Ok(None);
    };
    if slots.all(|s| s == first) {
        Ok(Some(first))
    } else {
        Err(ClusterError::CrossSlot)
    }
}

impl ClusterState {
    /// Decides where a command on `slot` runs (cluster.md steps 2-7).
    pub fn route(&self, slot: u16, is_write: bool, conn: ConnRouting) -> Route {
        let Some(owner) = self.slot_owner(slot) else {
            return Route::ClusterDown;
        };
        let moved_to_owner = || Route::Moved {
            slot,
            host: owner.host.clone(),
            port: owner.port,
        };
        let state = self.states.get(slot);

        if let Some(master_id) = self
            .myself()
            .filter(|me| me.role == Role::Slave)
            .and_then(|me| me.master_id.as_deref())
        {
            return self
                .route_as_replica(slot, is_write, conn, master_id, owner.id.as_str())
                .unwrap_or_else(moved_to_owner);
        }

        if self.i_own(slot) {
            return match state {
                SlotState::MigratedAway { dest_id } => match self.shard_master_of(dest_id) {
                    Some(dest) => Route::Moved {
                        slot,
                        host: dest.host.clone(),
                        port: dest.port,
                    },
                    // Unreachable through the setters, which require a known
                    // destination; refusing is safer than serving a slot given away.
                    None => Route::ClusterDown,
                },
                SlotState::Fenced { .. } if is_write => Route::Fenced,
                _ => Route::Local,
            };
        }

        match state {
            SlotState::Importing { .. } if conn.importing_link || conn.asking => {
                return Route::Local
            }
            SlotState::Imported { .. } => return Route::Local,
            _ => {}
        }

        moved_to_owner()
    }

    /// A replica's decision (replication.md, "What a replica answers" and "Migration
    /// with replicas"), from the migration states replicated from its master: reads
    /// with READONLY of what the master serves run here; everything else goes to the
    /// node serving the slot. `None`: MOVED to the slot's owner.
    fn route_as_replica(
        &self,
        slot: u16,
        is_write: bool,
        conn: ConnRouting,
        master_id: &str,
        owner_id: &str,
    ) -> Option<Route> {
        let moved_to = |id: &str| {
            Some(match self.shard_master_of(id) {
                Some(n) => Route::Moved {
                    slot,
                    host: n.host.clone(),
                    port: n.port,
                },
                None => Route::ClusterDown,
            })
        };
        let local_read = !is_write && conn.readonly;
        match self.states.get(slot) {
            // The master committed a migration away: its destination serves it.
            SlotState::MigratedAway { dest_id } if owner_id == master_id => moved_to(dest_id),
            // The master committed an import: it serves the slot before the topology says so.
            SlotState::Imported { .. } if local_read => Some(Route::Local),
            SlotState::Imported { .. } => moved_to(master_id),
            _ if owner_id == master_id && local_read => Some(Route::Local),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::slots::SlotSet;
    use crate::topology::tests::{state_as, A, B, S};
    use crate::topology::SetNodesOutcome;

    const PLAIN: ConnRouting = ConnRouting {
        asking: false,
        readonly: false,
        importing_link: false,
    };

    fn moved(slot: u16, port: u16) -> Route {
        Route::Moved {
            slot,
            host: "127.0.0.1".into(),
            port,
        }
    }

    fn set(s: &str) -> SlotSet {
        SlotSet::parse(s).unwrap()
    }

    #[test]
    fn common_slot_and_crossslot() {
        assert_eq!(common_slot([]), Ok(None));
        assert_eq!(common_slot([7, 7, 7]), Ok(Some(7)));
        let err = common_slot([1, 2]).unwrap_err();
        assert_eq!(
            err.resp_text(),
            "CROSSSLOT Attempted to access keys that don't hash to the same slot"
        );
    }

    #[test]
    fn unowned_slot_is_clusterdown() {
        let mut st = crate::ClusterState::new();
        assert_eq!(st.route(0, false, PLAIN), Route::ClusterDown);
        st.set_nodes(
            &format!("{A} 127.0.0.1 30002 master - 0-100"),
            1,
            false,
            &["127.0.0.1".into()],
            30002,
        )
        .unwrap();
        assert_eq!(st.route(100, true, PLAIN), Route::Local);
        assert_eq!(st.route(101, false, PLAIN), Route::ClusterDown);
        assert_eq!(
            Route::ClusterDown.to_error().unwrap().resp_text(),
            "CLUSTERDOWN Hash slot not served"
        );
    }

    #[test]
    fn owner_serves_others_are_moved() {
        let st = state_as(30002);
        assert_eq!(st.route(0, true, PLAIN), Route::Local);
        assert_eq!(st.route(8191, false, PLAIN), Route::Local);
        assert_eq!(st.route(8192, false, PLAIN), moved(8192, 30003));
        assert_eq!(
            st.route(16383, true, PLAIN).to_error().unwrap().resp_text(),
            "MOVED 16383 127.0.0.1:30003"
        );
    }

    #[test]
    fn node_without_myself_moves_everything() {
        let st = state_as(1);
        assert_eq!(st.route(0, false, PLAIN), moved(0, 30002));
    }

    #[test]
    fn migrated_away_moves_reads_and_writes_to_destination() {
        let mut st = state_as(30002);
        st.set_migrated_away(&set("100-200"), B).unwrap();
        for w in [false, true] {
            assert_eq!(st.route(150, w, PLAIN), moved(150, 30003));
            assert_eq!(
                st.route(
                    150,
                    w,
                    ConnRouting {
                        asking: true,
                        readonly: true,
                        importing_link: true
                    }
                ),
                moved(150, 30003)
            );
        }
        assert_eq!(st.route(99, true, PLAIN), Route::Local);
        assert_eq!(
            st.set_migrated_away(&set("1"), "nobody"),
            Err(ClusterError::NoSuchDestination)
        );
    }

    #[test]
    fn fenced_holds_writes_only() {
        let mut st = state_as(30002);
        st.set_fenced(&set("5"), B);
        assert_eq!(st.route(5, true, PLAIN), Route::Fenced);
        assert_eq!(st.route(5, false, PLAIN), Route::Local);
        assert_eq!(st.route(6, true, PLAIN), Route::Local);
        assert_eq!(
            Route::Fenced.to_error().unwrap().resp_text(),
            "TRYAGAIN Can't write to slot being migrated which is in write forbidden phase"
        );
        st.set_normal(&set("5"));
        assert_eq!(st.route(5, true, PLAIN), Route::Local);
    }

    #[test]
    fn importing_serves_link_and_asking_only() {
        let mut st = state_as(30003);
        st.set_importing(&set("100-200"), A);
        assert_eq!(st.route(150, true, PLAIN), moved(150, 30002));
        assert_eq!(st.route(150, false, PLAIN), moved(150, 30002));
        let asking = ConnRouting {
            asking: true,
            ..PLAIN
        };
        let link = ConnRouting {
            importing_link: true,
            ..PLAIN
        };
        assert_eq!(st.route(150, true, asking), Route::Local);
        assert_eq!(st.route(150, true, link), Route::Local);
        // ASKING does not open slots that are not being imported.
        assert_eq!(st.route(300, true, asking), moved(300, 30002));
        assert_eq!(st.importing_slots().to_string(), "100-200");
    }

    #[test]
    fn imported_serves_everyone() {
        let mut st = state_as(30003);
        st.set_imported(&set("100-200"), A);
        assert_eq!(st.route(150, true, PLAIN), Route::Local);
        assert_eq!(st.route(150, false, PLAIN), Route::Local);
        assert_eq!(st.route(201, false, PLAIN), moved(201, 30002));
    }

    #[test]
    fn slave_reads_with_readonly_writes_moved_to_master() {
        let st = state_as(30004);
        let ro = ConnRouting {
            readonly: true,
            ..PLAIN
        };
        assert_eq!(st.route(10, false, ro), Route::Local);
        assert_eq!(st.route(10, false, PLAIN), moved(10, 30002));
        assert_eq!(st.route(10, true, ro), moved(10, 30002));
        // Not its master's slot: MOVED even with READONLY.
        assert_eq!(st.route(9000, false, ro), moved(9000, 30003));
    }

    #[test]
    fn slave_follows_its_masters_migration_states() {
        let mut st = state_as(30004);
        let ro = ConnRouting {
            readonly: true,
            ..PLAIN
        };
        // Source side: committed slots go to the destination, reads and writes.
        st.set_migrated_away(&set("0-9"), B).unwrap();
        assert_eq!(st.route(5, false, ro), moved(5, 30003));
        assert_eq!(st.route(5, true, PLAIN), moved(5, 30003));
        assert_eq!(st.route(10, false, ro), Route::Local);
        // Destination side: an import is hidden until committed, then read here.
        st.set_importing(&set("9000"), B);
        assert_eq!(st.route(9000, false, ro), moved(9000, 30003));
        st.set_imported(&set("9000"), B);
        assert_eq!(st.route(9000, false, ro), Route::Local);
        assert_eq!(st.route(9000, false, PLAIN), moved(9000, 30002));
        assert_eq!(st.route(9000, true, ro), moved(9000, 30002));
        // A fence on the master changes nothing here: writes go to the master anyway.
        st.set_fenced(&set("20"), B);
        assert_eq!(st.route(20, false, ro), Route::Local);
        assert_eq!(st.route(20, true, ro), moved(20, 30002));
    }

    #[test]
    fn setslot_clears_records_and_reports_deletions() {
        let mut st = state_as(30002);
        st.set_migrated_away(&set("100-200"), B).unwrap();
        st.set_fenced(&set("300"), B);
        let out = st.set_slot(&set("100-150"), B, 2).unwrap();
        assert_eq!(out.slots_to_delete.to_string(), "100-150");
        assert_eq!(st.migrated_away_slots().to_string(), "151-200");
        assert_eq!(st.fenced_slots().to_string(), "300");
        assert_eq!(st.route(120, true, PLAIN), moved(120, 30003));
        assert_eq!(st.route(160, true, PLAIN), moved(160, 30003));

        // On the destination, SETSLOT to itself turns Imported into Normal.
        let mut dst = state_as(30003);
        dst.set_imported(&set("100-200"), A);
        let out = dst.set_slot(&set("100-200"), B, 2).unwrap();
        assert!(out.slots_to_delete.is_empty());
        assert!(dst.imported_slots().is_empty());
        assert_eq!(dst.route(150, true, PLAIN), Route::Local);
    }

    #[test]
    fn setnodes_clears_records_and_reports_deletions() {
        let binds = ["127.0.0.1".to_string()];
        let mut st = state_as(30002);
        st.set_migrated_away(&set("0-9"), B).unwrap();
        st.set_importing(&set("9000"), B);
        st.set_imported(&set("9001"), B);
        // The new topology hands 0-4 to B; 5-9 stay with A, which keeps their records
        // (they are B's now) until a topology hands them over too.
        let text = format!(
            "{A} 127.0.0.1 30002 master - 5-8191\n\
             {B} 127.0.0.1 30003 master - 0-4 8192-16383\n\
             {S} 127.0.0.1 30004 slave {A}"
        );
        let out = st.set_nodes(&text, 2, false, &binds, 30002).unwrap();
        let SetNodesOutcome::Applied {
            slots_to_delete, ..
        } = out
        else {
            panic!("not applied");
        };
        assert_eq!(slots_to_delete.to_string(), "0-4");
        assert_eq!(st.migrated_away_slots().to_string(), "5-9");
        // 9001 is still B's in the topology: A keeps serving what it imported.
        assert_eq!(st.imported_slots().to_string(), "9001");
        // A running import survives a topology update.
        assert_eq!(st.importing_slots().to_string(), "9000");
        assert_eq!(st.route(7, true, PLAIN), moved(7, 30003));
        st.clear_migration_states();
        assert!(st.slot_states().is_empty());
    }

    #[test]
    fn a_failover_topology_that_has_not_moved_committed_slots_keeps_their_records() {
        let binds = ["127.0.0.1".to_string()];
        // The source A migrated 0-9 to B; B fails over to its replica S.
        let mut source = state_as(30002);
        source.set_migrated_away(&set("0-9"), B).unwrap();
        let dest_failover = format!(
            "{A} 127.0.0.1 30002 master - 0-8191\n\
             {S} 127.0.0.1 30004 master - 8192-16383\n\
             {B} 127.0.0.1 30003 slave {S}"
        );
        let out = source
            .set_nodes(&dest_failover, 2, false, &binds, 30002)
            .unwrap();
        let SetNodesOutcome::Applied {
            slots_to_delete, ..
        } = out
        else {
            panic!("not applied");
        };
        assert!(slots_to_delete.is_empty());
        assert_eq!(source.migrated_away_slots().to_string(), "0-9");
        // MOVED names the destination shard's new master.
        assert_eq!(source.route(5, true, PLAIN), moved(5, 30004));

        // The destination's promoted replica keeps serving what its master imported.
        let mut promoted = state_as(30004);
        promoted.set_imported(&set("0-9"), A);
        promoted
            .set_nodes(&dest_failover, 2, false, &binds, 30004)
            .unwrap();
        assert_eq!(promoted.imported_slots().to_string(), "0-9");
        assert_eq!(promoted.route(5, true, PLAIN), Route::Local);
    }
}
