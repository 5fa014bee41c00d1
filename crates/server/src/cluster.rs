//! The node's cluster view: the topology state from `ferrokv-cluster`, kept in
//! `<dir>/nodes.conf`, the migration records kept in `<dir>/migration.conf`, the cut-over
//! fence, and the routing check every keyed command passes through.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use ferrokv_cluster::{
    common_slot, parse_nodes_conf, parse_records, records_of, render_records, to_nodes_conf,
    ClusterState, ConnRouting, Record, RecordKind, Route, SlotSet,
};
use parking_lot::{Mutex, RwLock};
use tracing::info;

use crate::client::Client;
use crate::error::CommandError;
use crate::files::{remove_if_present, write_atomic};
use crate::migration::fence::Fence;

/// What receives each new migration.conf text besides the file.
pub type RecordsSink = Box<dyn Fn(&str) + Send + Sync>;

pub struct Cluster {
    pub state: RwLock<ClusterState>,
    conf_path: PathBuf,
    /// The migration states (`ferrokv_cluster::records`): what a source migrated away or
    /// is committing, what a destination imported or is importing. They survive
    /// restarts, so both ends of a migration converge after a crash.
    records_path: PathBuf,
    /// Imports found uncommitted at start-up: their data is deleted once storage is up.
    pub dropped_imports: SlotSet,
    /// Cut-overs found in doubt at start-up: `(destination, slots)`, resolved with the
    /// destination once the node runs.
    pub in_doubt: Vec<(String, SlotSet)>,
    /// Cut-overs being prepared (recorded as `committing` before their fence).
    pub preparing: Mutex<Vec<(String, SlotSet)>>,
    /// Writes held at a cut-over wait for this to lift.
    pub fence: Fence,
    /// One writer at a time for nodes.conf and migration.conf, so the last file written
    /// describes the latest state.
    files: Mutex<()>,
    /// Also given every new migration.conf text: a master puts it in its write stream,
    /// so replicas hold the same states in order with the data (replication.md).
    records_sink: std::sync::OnceLock<RecordsSink>,
}

impl Cluster {
    /// Loads `<dir>/nodes.conf` and `<dir>/migration.conf` if present; a corrupt file
    /// stops start-up with its line named.
    pub fn open(dir: &Path) -> Result<Cluster, String> {
        let conf_path = dir.join("nodes.conf");
        let state = match read_if_present(&conf_path)? {
            Some(text) => {
                parse_nodes_conf(&text).map_err(|e| format!("cannot load cluster topology: {e}"))?
            }
            None => ClusterState::default(),
        };
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
            fence: Fence::default(),
            files: Default::default(),
            records_sink: Default::default(),
        };
        cluster.load_records()?;
        Ok(cluster)
    }

    /// Reads `migration.conf`: the migration states in force when the node stopped.
    /// An import that had not committed is dropped (its data deleted: it is the
    /// source's to retry); a cut-over whose outcome is unknown stays fenced, to be
    /// resolved with the destination.
    fn load_records(&mut self) -> Result<(), String> {
        let Some(text) = read_if_present(&self.records_path)? else {
            return Ok(());
        };
        let path = self.records_path.display().to_string();
        let records = parse_records(&text).map_err(|e| format!("{path} {e}"))?;
        let mut state = self.state.write();
        for Record { kind, node, slots } in records {
            match kind {
                RecordKind::Migrated => state
                    .set_migrated_away(&slots, &node)
                    .map_err(|e| format!("{path}: {e}"))?,
                RecordKind::Imported => state.set_imported(&slots, &node),
                RecordKind::Importing => self.dropped_imports.union_with(&slots),
                RecordKind::Committing => {
                    state.set_fenced(&slots, &node);
                    self.in_doubt.push((node, slots));
                }
            }
        }
        Ok(())
    }

    /// Writes every migration state of the node to `migration.conf` (atomically), so
    /// that decisions survive a crash; removes the file when there is nothing to keep.
    pub fn save_records(&self) -> std::io::Result<()> {
        let _one_writer = self.files.lock();
        let mut records = records_of(self.state.read().slot_states());
        for (dest, slots) in self.preparing.lock().iter() {
            records.push(Record {
                kind: RecordKind::Committing,
                node: dest.clone(),
                slots: slots.clone(),
            });
        }
        let text = render_records(&records);
        if let Some(sink) = self.records_sink.get() {
            sink(&text);
        }
        if text.is_empty() {
            return remove_if_present(&self.records_path);
        }
        write_atomic(&self.records_path, text.as_bytes())
    }

    /// Sets what [`Cluster::save_records`] also hands every new text to. Set once.
    pub fn set_records_sink(&self, sink: RecordsSink) {
        let _ = self.records_sink.set(sink);
    }

    /// Writes nodes.conf now (after a change, or CONFIG SET persist-cluster-nodes-enabled yes).
    pub fn save_topology(&self) -> Result<(), CommandError> {
        let _one_writer = self.files.lock();
        let text = to_nodes_conf(&self.state.read());
        write_atomic(&self.conf_path, text.as_bytes())
            .map_err(|e| CommandError::err(format!("cannot write nodes.conf: {e}")))
    }

    /// Removes nodes.conf (CLUSTER RESET, or CONFIG SET persist-cluster-nodes-enabled no).
    pub fn remove_topology_file(&self) -> Result<(), CommandError> {
        let _one_writer = self.files.lock();
        remove_if_present(&self.conf_path)
            .map_err(|e| CommandError::err(format!("cannot remove nodes.conf: {e}")))
    }

    /// Slots whose data must not be listed or counted (KEYS, SCAN, DBSIZE, RANDOMKEY,
    /// COUNTKEYSINSLOT, GETKEYSINSLOT, INFO keyspace): those still being imported, and
    /// those migrated away whose data waits for the hand-over to be deleted.
    pub fn hidden_slots(&self) -> SlotSet {
        let state = self.state.read();
        let mut hidden = state.importing_slots();
        hidden.union_with(&state.migrated_away_slots());
        hidden
    }

    /// The routing check (cluster.md "Routing every keyed command"): the one place where
    /// a keyed command is sent elsewhere. `keys` are the command's key arguments; a
    /// command without keys always runs here. Clears ASKING once a command passed.
    /// `serving_reads` is false on a replica whose master has not accepted its
    /// history yet: READONLY then counts for nothing (replication.md, "Failover").
    pub fn route<'k>(
        &self,
        client: &mut Client,
        is_write: bool,
        serving_reads: bool,
        keys: impl IntoIterator<Item = &'k Bytes>,
    ) -> Result<(), CommandError> {
        let slots = keys.into_iter().map(|key| ferrokv_keyslot::key_slot(key));
        let Some(slot) = common_slot(slots)? else {
            return Ok(());
        };
        let conn = ConnRouting {
            asking: client.asking,
            readonly: client.readonly && serving_reads,
            importing_link: client.importing.as_ref().is_some_and(|s| s.contains(slot)),
        };
        match self.state.read().route(slot, is_write, conn) {
            Route::Local => {
                client.asking = false;
                Ok(())
            }
            other => match other.to_error() {
                Some(error) => Err(error.into()),
                None => Ok(()),
            },
        }
    }
}

fn read_if_present(path: &Path) -> Result<Option<String>, String> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}
