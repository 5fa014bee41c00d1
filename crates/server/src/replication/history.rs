//! The replication history of a node and where its database lives, kept in
//! `<dir>/replication.conf` (written atomically: it is the commit point of a full
//! sync's swap).
//!
//! A history is named by a replication id (40 hex characters). A master keeps its id
//! across restarts; a replica takes its master's; a promoted replica starts a new one
//! and remembers the previous one with the sequence it ended at. A master lets a node
//! resume (partial sync) only from a point of its own history: its id up to its newest
//! write, or its previous id up to where that ended. Equal sequence numbers prove
//! nothing: an old master's writes after the promotion point are in no history of
//! the new master, so it full-syncs (replication.md, "Failover").

use std::path::Path;

/// What `replication.conf` holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplState {
    /// The history this node's data belongs to.
    pub replid: String,
    /// The history before the last promotion, and the sequence it ended at.
    pub prev: Option<(String, u64)>,
    /// The directory of the database, relative to the data directory, after a full
    /// sync swapped one in; `None` is the data directory itself.
    pub db_dir: Option<String>,
    /// Standalone mode: the master set by SLAVEOF/REPLICAOF (the role survives
    /// restarts). Cluster mode takes the role from the topology instead.
    pub master: Option<(String, u16)>,
    /// The node was (last told it is) a replica: its history is its master's, so it
    /// must start a new one before it takes a write as a master.
    pub following: bool,
}

/// Why a partial sync is refused (the master full-syncs the replica instead).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The replica's id is not in this node's history.
    UnknownHistory,
    /// The replica applied writes past the point where its history and this node's
    /// part (or past this node's newest write).
    Diverged,
}

impl ReplState {
    /// A fresh history.
    pub fn new() -> ReplState {
        ReplState {
            replid: new_replid(),
            prev: None,
            db_dir: None,
            master: None,
            following: false,
        }
    }

    /// Whether a node whose last applied write is `their_seq` in history `their_id`
    /// may continue from this node, whose newest write is `my_latest`.
    pub fn accepts(&self, their_id: &str, their_seq: u64, my_latest: u64) -> Result<(), Refusal> {
        if their_id == self.replid {
            return if their_seq <= my_latest {
                Ok(())
            } else {
                Err(Refusal::Diverged)
            };
        }
        match &self.prev {
            Some((id, ended)) if id == their_id => {
                if their_seq <= *ended {
                    Ok(())
                } else {
                    Err(Refusal::Diverged)
                }
            }
            _ => Err(Refusal::UnknownHistory),
        }
    }

    /// A promotion at sequence `at`: a new history that continues this one.
    pub fn promote(&mut self, at: u64) {
        let old = std::mem::replace(&mut self.replid, new_replid());
        self.prev = Some((old, at));
    }

    /// `replication.conf`'s text.
    pub fn render(&self) -> String {
        let mut text = format!("replid {}\n", self.replid);
        if let Some((id, at)) = &self.prev {
            text.push_str(&format!("prev {id} {at}\n"));
        }
        if let Some(dir) = &self.db_dir {
            text.push_str(&format!("db {dir}\n"));
        }
        if let Some((host, port)) = &self.master {
            text.push_str(&format!("master {host} {port}\n"));
        }
        if self.following {
            text.push_str("role replica\n");
        }
        text
    }

    /// Reads `replication.conf`; the line at fault on error.
    pub fn parse(text: &str) -> Result<ReplState, String> {
        let mut state = ReplState {
            replid: String::new(),
            prev: None,
            db_dir: None,
            master: None,
            following: false,
        };
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let bad = || format!("bad line in replication.conf: '{line}'");
            match fields.as_slice() {
                ["replid", id] if is_replid(id) => state.replid = id.to_string(),
                ["prev", id, at] if is_replid(id) => {
                    state.prev = Some((id.to_string(), at.parse().map_err(|_| bad())?))
                }
                ["db", dir] if is_db_dir(dir) => state.db_dir = Some(dir.to_string()),
                ["role", "replica"] => state.following = true,
                ["role", "master"] => state.following = false,
                ["master", host, port] => {
                    state.master = Some((host.to_string(), port.parse().map_err(|_| bad())?))
                }
                _ => return Err(bad()),
            }
        }
        if state.replid.is_empty() {
            return Err("replication.conf has no replid line".into());
        }
        Ok(state)
    }

    /// Loads `<dir>/replication.conf`, or a fresh state when there is none.
    pub fn load(dir: &Path) -> Result<ReplState, String> {
        let path = dir.join(FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => ReplState::parse(&text).map_err(|e| format!("{}: {e}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(ReplState::new()),
            Err(e) => Err(format!("cannot read {}: {e}", path.display())),
        }
    }

    /// Writes `<dir>/replication.conf` atomically.
    pub fn save(&self, dir: &Path) -> std::io::Result<()> {
        crate::files::write_atomic(&dir.join(FILE), self.render().as_bytes())
    }
}

pub(crate) const FILE: &str = "replication.conf";

/// A database directory name a full sync creates (`db-<digits>`), the only kind
/// `replication.conf` may point at.
pub fn is_db_dir(name: &str) -> bool {
    name.strip_prefix("db-")
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

fn is_replid(id: &str) -> bool {
    id.len() == 40 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

/// 40 random hex characters.
pub fn new_replid() -> String {
    use rand::Rng;
    let mut rng = rand::thread_rng();
    (0..40)
        .map(|_| char::from_digit(rng.gen_range(0..16), 16).unwrap_or('0'))
        .collect()
}

/// At start-up: deletes database directories a crash left behind (a swap prepared
/// but not committed, or committed but whose old database was not yet deleted).
pub(crate) fn clean_leftovers(dir: &Path, state: &ReplState) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if is_db_dir(&name) && state.db_dir.as_deref() != Some(name.as_str()) {
            tracing::info!("replication: removing the unused database directory {name}");
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
    if state.db_dir.is_some() && dir.join("CURRENT").exists() {
        // The database in use moved to a subdirectory; the old one was not deleted.
        let _ = ferrokv_storage::wal::destroy(dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_master_accepts_its_own_history_up_to_its_newest_write() {
        let state = ReplState::new();
        let id = state.replid.clone();
        assert_eq!(state.accepts(&id, 100, 100), Ok(()));
        assert_eq!(state.accepts(&id, 0, 100), Ok(()));
        assert_eq!(state.accepts(&id, 101, 100), Err(Refusal::Diverged));
        assert_eq!(
            state.accepts(&new_replid(), 5, 100),
            Err(Refusal::UnknownHistory)
        );
    }

    #[test]
    fn a_promoted_replica_accepts_the_old_history_only_up_to_the_promotion() {
        let mut state = ReplState::new();
        let old = state.replid.clone();
        state.promote(90);
        assert_ne!(state.replid, old);
        // A sibling replica that was behind or level follows partially.
        assert_eq!(state.accepts(&old, 80, 120), Ok(()));
        assert_eq!(state.accepts(&old, 90, 120), Ok(()));
        // The old master wrote past the promotion point: equal or not, it diverged.
        assert_eq!(state.accepts(&old, 91, 120), Err(Refusal::Diverged));
        assert_eq!(state.accepts(&old, 120, 120), Err(Refusal::Diverged));
        // Promoted twice: the oldest history is forgotten.
        state.promote(120);
        assert_eq!(state.accepts(&old, 80, 130), Err(Refusal::UnknownHistory));
    }

    #[test]
    fn the_file_round_trips_and_bad_lines_are_named() {
        let mut state = ReplState::new();
        state.promote(7);
        state.db_dir = Some("db-1700000000000".into());
        state.master = Some(("10.0.0.1".into(), 6379));
        state.following = true;
        assert_eq!(ReplState::parse(&state.render()), Ok(state.clone()));
        state.following = false;
        state.prev = None;
        state.db_dir = None;
        state.master = None;
        assert_eq!(ReplState::parse(&state.render()), Ok(state));
        assert!(ReplState::parse("replid xyz\n")
            .unwrap_err()
            .contains("replid xyz"));
        assert!(ReplState::parse("db ../etc\n").is_err());
        assert!(ReplState::parse("").is_err());
    }
}
