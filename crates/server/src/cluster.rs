//! The node's cluster view: the topology state from `ferrokv-cluster`, kept in
//! `<dir>/nodes.conf`, and the routing check every keyed command passes through.

use std::path::PathBuf;

use bytes::Bytes;
use ferrokv_cluster::{
    common_slot, load_nodes_conf, remove_nodes_conf, save_nodes_conf, ClusterError, ClusterState,
    ConnRouting, Route, SlotSet,
};
use parking_lot::RwLock;
use tracing::{info, warn};

use crate::client::Client;
use crate::command::{flags, CommandSpec};
use crate::error::CommandError;
use crate::server::Server;

pub struct Cluster {
    pub state: RwLock<ClusterState>,
    conf_path: PathBuf,
    /// Slots this node migrated away whose hand-over the topology has not caught up
    /// with: `<dest-id> <slots>` per line. Survives restarts, so a restarted source
    /// still answers MOVED instead of serving slots it gave away.
    migrated_path: PathBuf,
}

impl Cluster {
    /// Loads `<dir>/nodes.conf` if present; a corrupt file stops start-up.
    pub fn open(dir: &std::path::Path) -> Result<Cluster, String> {
        let conf_path = dir.join("nodes.conf");
        let state = load_nodes_conf(&conf_path)
            .map_err(|e| format!("cannot load cluster topology: {e}"))?
            .unwrap_or_default();
        if state.is_initialised() {
            info!(
                "cluster topology version {} loaded from {}",
                state.version(),
                conf_path.display()
            );
        }
        let cluster = Cluster {
            state: RwLock::new(state),
            conf_path,
            migrated_path: dir.join("migrated.conf"),
        };
        cluster.load_migrated()?;
        Ok(cluster)
    }

    fn load_migrated(&self) -> Result<(), String> {
        let text = match std::fs::read_to_string(&self.migrated_path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(format!("cannot read {}: {e}", self.migrated_path.display())),
        };
        let mut state = self.state.write();
        for (number, line) in text.lines().enumerate() {
            let Some((dest, slots)) = line.split_once(' ') else {
                continue;
            };
            let bad =
                |e: String| format!("{} line {}: {e}", self.migrated_path.display(), number + 1);
            let slots = SlotSet::parse(slots).map_err(|e| bad(e.to_string()))?;
            state
                .set_migrated_away(&slots, dest)
                .map_err(|e| bad(e.to_string()))?;
        }
        Ok(())
    }

    /// Writes the migrated-away records (atomically: temporary file, fsync, rename).
    pub fn save_migrated(&self) -> std::io::Result<()> {
        let mut by_dest: std::collections::BTreeMap<String, SlotSet> = Default::default();
        {
            let state = self.state.read();
            for slot in state.migrated_away_slots().iter() {
                if let ferrokv_cluster::SlotState::MigratedAway { dest_id } = state.slot_state(slot)
                {
                    by_dest.entry(dest_id.clone()).or_default().insert(slot);
                }
            }
        }
        if by_dest.is_empty() {
            return match std::fs::remove_file(&self.migrated_path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            };
        }
        let text: String = by_dest
            .iter()
            .map(|(dest, slots)| format!("{dest} {slots}\n"))
            .collect();
        let tmp = self.migrated_path.with_extension("tmp");
        {
            use std::io::Write;
            let mut file = std::fs::File::create(&tmp)?;
            file.write_all(text.as_bytes())?;
            file.sync_all()?;
        }
        std::fs::rename(&tmp, &self.migrated_path)
    }

    fn persist_enabled(server: &Server) -> bool {
        server
            .config
            .read()
            .get_bool("persist-cluster-nodes-enabled")
    }

    /// Writes nodes.conf now (CONFIG SET persist-cluster-nodes-enabled yes, or after a change).
    pub fn save(&self) -> Result<(), CommandError> {
        save_nodes_conf(&self.conf_path, &self.state.read())
            .map_err(|e| CommandError::err(format!("cannot write nodes.conf: {e}")))
    }

    pub fn remove_conf(&self) -> Result<(), CommandError> {
        remove_nodes_conf(&self.conf_path)
            .map_err(|e| CommandError::err(format!("cannot remove nodes.conf: {e}")))
    }

    /// Applies a topology change to a copy, so a refused change leaves nothing behind;
    /// then installs it, persists it, and deletes the data of slots that `change` says
    /// were handed over to another node.
    pub fn update(
        &self,
        server: &Server,
        change: impl FnOnce(&mut ClusterState) -> Result<SlotSet, ClusterError>,
    ) -> Result<(), CommandError> {
        let mut state = self.state.write();
        let mut next = state.clone();
        let to_delete = change(&mut next)?;
        *state = next;
        drop(state);
        if Self::persist_enabled(server) {
            self.save()?;
        }
        self.save_migrated()
            .map_err(|e| CommandError::err(format!("cannot write migrated.conf: {e}")))?;
        for (first, last) in to_delete.ranges() {
            if let Err(e) = server.db.storage().delete_slot_range(first, last) {
                warn!("deleting handed-over slots {first}-{last} failed: {e}");
            }
        }
        Ok(())
    }

    /// CLUSTER RESET: forget topology, id and version, and remove nodes.conf.
    pub fn reset(&self, _server: &Server) -> Result<(), CommandError> {
        self.state.write().reset();
        self.remove_conf()
    }

    /// Slots whose data must not be listed (still being imported).
    pub fn hidden_slots(&self) -> SlotSet {
        self.state.read().importing_slots()
    }
}

/// The routing check (cluster.md "Routing every keyed command"): the one place where a
/// keyed command is sent elsewhere. Keyless commands always run here.
pub fn route(
    server: &Server,
    client: &mut Client,
    spec: &CommandSpec,
    args: &[Bytes],
) -> Result<(), CommandError> {
    let Some(cluster) = server.cluster.as_ref() else {
        return Ok(());
    };
    let positions = spec.key_positions(args);
    let slots = positions
        .iter()
        .filter_map(|&i| args.get(i))
        .map(|key| ferrokv_keyslot::key_slot(key));
    let Some(slot) = common_slot(slots)? else {
        return Ok(());
    };
    let conn = ConnRouting {
        asking: client.asking,
        readonly: client.readonly,
        importing_link: false,
    };
    let route = cluster
        .state
        .read()
        .route(slot, spec.has(flags::WRITE), conn);
    if route == Route::Fenced {
        return Err(CommandError::Fenced);
    }
    match route.to_error() {
        None => {
            debug_assert_eq!(route, Route::Local);
            client.asking = false;
            Ok(())
        }
        Some(error) => Err(error.into()),
    }
}
