//! The node's cluster view: the topology state from `ferrokv-cluster`, kept in
//! `<dir>/nodes.conf`, and the routing check every keyed command passes through.

use std::path::PathBuf;

use bytes::Bytes;
use ferrokv_cluster::{
    common_slot, load_nodes_conf, remove_nodes_conf, save_nodes_conf, ClusterError, ClusterState,
    ConnRouting, Route, SlotSet, SlotState,
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
    /// The migration states (`<kind> <node-id> <slots>` per line): what a source
    /// migrated away or is committing, what a destination imported or is importing.
    /// They survive restarts, so both ends of a migration converge after a crash.
    records_path: PathBuf,
    /// Imports found uncommitted at start-up: their data is deleted once storage is up.
    pub dropped_imports: SlotSet,
    /// Cut-overs found in doubt at start-up: `(destination, slots)`, resolved with the
    /// destination once the node runs.
    pub in_doubt: Vec<(String, SlotSet)>,
    /// Cut-overs being prepared (recorded as `committing` before their fence).
    pub preparing: parking_lot::Mutex<Vec<(String, SlotSet)>>,
    /// One writer at a time for nodes.conf and migration.conf (their temporary files
    /// have fixed names; concurrent jobs and commands save them).
    files: parking_lot::Mutex<()>,
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
        let mut cluster = Cluster {
            state: RwLock::new(state),
            conf_path,
            records_path: dir.join("migration.conf"),
            dropped_imports: SlotSet::new(),
            in_doubt: Vec::new(),
            preparing: Default::default(),
            files: Default::default(),
        };
        cluster.in_doubt = cluster.load_records()?;
        Ok(cluster)
    }

    /// Reads `migration.conf`: the migration states in force when the node stopped.
    /// An import that had not committed is dropped (its data deleted: it is the
    /// source's to retry); a cut-over whose outcome is unknown stays fenced and is
    /// returned, to be resolved with the destination.
    fn load_records(&mut self) -> Result<Vec<(String, SlotSet)>, String> {
        let text = match std::fs::read_to_string(&self.records_path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(format!("cannot read {}: {e}", self.records_path.display())),
        };
        let mut in_doubt = Vec::new();
        let mut dropped_imports = SlotSet::new();
        let mut state = self.state.write();
        for (number, line) in text.lines().enumerate() {
            let bad = |e: &str| format!("{} line {}: {e}", self.records_path.display(), number + 1);
            let mut fields = line.splitn(3, ' ');
            let (Some(kind), Some(node), Some(slots)) =
                (fields.next(), fields.next(), fields.next())
            else {
                return Err(bad("expected `<kind> <node-id> <slots>`"));
            };
            let slots = SlotSet::parse(slots).map_err(|e| bad(&e.to_string()))?;
            match kind {
                "migrated" => state
                    .set_migrated_away(&slots, node)
                    .map_err(|e| bad(&e.to_string()))?,
                "imported" => state.set_imported(&slots, node),
                "importing" => dropped_imports.union_with(&slots),
                "committing" => {
                    state.set_fenced(&slots, node);
                    in_doubt.push((node.to_string(), slots));
                }
                other => return Err(bad(&format!("unknown record kind `{other}`"))),
            }
        }
        drop(state);
        self.dropped_imports = dropped_imports;
        Ok(in_doubt)
    }

    /// Writes every migration state of the node to `migration.conf` (atomically:
    /// temporary file, fsync, rename), so that decisions survive a crash.
    pub fn save_records(&self) -> std::io::Result<()> {
        let _one_writer = self.files.lock();
        let mut groups: std::collections::BTreeMap<(&'static str, String), SlotSet> =
            Default::default();
        {
            let state = self.state.read();
            for slot in 0..ferrokv_keyslot::SLOT_COUNT as u16 {
                let (kind, node) = match state.slot_state(slot) {
                    SlotState::Normal => continue,
                    SlotState::MigratedAway { dest_id } => ("migrated", dest_id),
                    SlotState::Fenced { dest_id } => ("committing", dest_id),
                    SlotState::Importing { source_id } => ("importing", source_id),
                    SlotState::Imported { source_id } => ("imported", source_id),
                };
                groups.entry((kind, node.clone())).or_default().insert(slot);
            }
        }
        for (dest, slots) in self.preparing.lock().iter() {
            groups
                .entry(("committing", dest.clone()))
                .or_default()
                .union_with(slots);
        }
        if groups.is_empty() {
            return match std::fs::remove_file(&self.records_path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            };
        }
        let text: String = groups
            .iter()
            .map(|((kind, node), slots)| format!("{kind} {node} {slots}\n"))
            .collect();
        let tmp = self.records_path.with_extension("tmp");
        {
            use std::io::Write;
            let mut file = std::fs::File::create(&tmp)?;
            file.write_all(text.as_bytes())?;
            file.sync_all()?;
        }
        std::fs::rename(&tmp, &self.records_path)?;
        if let Some(dir) = self.records_path.parent() {
            std::fs::File::open(dir)?.sync_all()?;
        }
        Ok(())
    }

    fn persist_enabled(server: &Server) -> bool {
        server
            .config
            .read()
            .get_bool("persist-cluster-nodes-enabled")
    }

    /// Writes nodes.conf now (CONFIG SET persist-cluster-nodes-enabled yes, or after a change).
    pub fn save(&self) -> Result<(), CommandError> {
        let _one_writer = self.files.lock();
        save_nodes_conf(&self.conf_path, &self.state.read())
            .map_err(|e| CommandError::err(format!("cannot write nodes.conf: {e}")))
    }

    pub fn remove_conf(&self) -> Result<(), CommandError> {
        let _one_writer = self.files.lock();
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
        // Clients blocked on keys whose slot changed owner must be redirected.
        server.waiters.wake_all();
        if Self::persist_enabled(server) {
            self.save()?;
        }
        self.save_records()
            .map_err(|e| CommandError::err(format!("cannot write migration.conf: {e}")))?;
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
