//! BGSAVE, LASTSAVE and FLUSHBACKUP as Kvrocks has them (`src/server/server.cc`,
//! `AsyncBgSaveDB`): a backup of the whole database made in the background into
//! `backup-dir`, one at a time, and its outcome in INFO persistence.
//!
//! Kvrocks writes a RocksDB BackupEngine directory; Ferrokv writes a RocksDB checkpoint
//! (hard links where the backup directory shares the data's file system, copies
//! elsewhere) named `checkpoint-<unix ms>`, a database `ferrokv-server --dir` opens as
//! it is. The newest complete one is kept, older ones are removed once a new one is
//! complete (Kvrocks' `max-backup-to-keep 1`); a failed one leaves nothing behind.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use parking_lot::Mutex;

use crate::config::Config;
use crate::error::CommandError;

/// What INFO persistence and LASTSAVE report.
#[derive(Debug)]
struct State {
    in_progress: bool,
    /// Unix seconds at which the last backup started; -1 before the first.
    last_started: i64,
    /// "ok" or "err" (Kvrocks' `last_bgsave_status`).
    last_status: &'static str,
    /// Seconds the last backup took; -1 before the first.
    last_duration: i64,
}

/// The backups of one node.
#[derive(Debug)]
pub struct Backups {
    state: Arc<Mutex<State>>,
}

impl Default for Backups {
    fn default() -> Self {
        Backups {
            state: Arc::new(Mutex::new(State {
                in_progress: false,
                last_started: -1,
                last_status: "ok",
                last_duration: -1,
            })),
        }
    }
}

const PREFIX: &str = "checkpoint-";

/// The backup directory: `backup-dir`, or `<dir>/backup` when it is empty (Kvrocks'
/// default).
pub fn directory(config: &Config) -> PathBuf {
    if config.backup_dir.is_empty() {
        config.data_dir().join("backup")
    } else {
        PathBuf::from(&config.backup_dir)
    }
}

/// Writes a consistent copy of the database into a directory that does not exist yet.
pub type Checkpointer = Box<dyn FnOnce(&Path) -> Result<(), String> + Send>;

impl Backups {
    /// BGSAVE: starts a backup into `dir` on its own thread, made by `checkpoint`.
    /// Errors: "bgsave in-progress" (Kvrocks' text) while one runs.
    pub fn start(&self, dir: PathBuf, checkpoint: Checkpointer) -> Result<(), CommandError> {
        {
            let mut state = self.state.lock();
            if state.in_progress {
                return Err(CommandError::err("bgsave in-progress"));
            }
            state.in_progress = true;
        }
        let shared = self.state.clone();
        let spawned = std::thread::Builder::new()
            .name("bgsave".into())
            .spawn(move || {
                let started = ferrokv_types::now_ms() as i64 / 1000;
                let clock = Instant::now();
                let outcome = backup_into(&dir, checkpoint);
                if let Err(e) = &outcome {
                    tracing::warn!("bgsave into {} failed: {e}", dir.display());
                }
                let mut state = shared.lock();
                state.in_progress = false;
                state.last_started = started;
                state.last_status = if outcome.is_ok() { "ok" } else { "err" };
                state.last_duration = clock.elapsed().as_secs() as i64;
            });
        if let Err(e) = spawned {
            self.state.lock().in_progress = false;
            return Err(CommandError::err(format!("cannot start bgsave: {e}")));
        }
        Ok(())
    }

    /// The INFO persistence lines of Kvrocks: `bgsave_in_progress`, `last_bgsave_time`
    /// (the server's start before the first backup), `last_bgsave_status`,
    /// `last_bgsave_time_sec`; each ends with CRLF.
    pub fn info(&self, started_unix: i64) -> String {
        let state = self.state.lock();
        format!(
            "bgsave_in_progress:{}\r\nlast_bgsave_time:{}\r\nlast_bgsave_status:{}\r\nlast_bgsave_time_sec:{}\r\n",
            u8::from(state.in_progress),
            last_save(&state, started_unix),
            state.last_status,
            state.last_duration,
        )
    }

    /// Whether a backup is being written (INFO's `rdb_bgsave_in_progress` too).
    pub fn in_progress(&self) -> bool {
        self.state.lock().in_progress
    }

    /// LASTSAVE: Unix seconds at which the last backup started, the server's start
    /// before the first (Kvrocks' `GetLastBgsaveTime`).
    pub fn last_save(&self, started_unix: i64) -> i64 {
        last_save(&self.state.lock(), started_unix)
    }

    /// FLUSHBACKUP: removes every complete backup in `dir` (not one being written).
    pub fn flush(dir: &Path) -> std::io::Result<()> {
        for old in complete_backups(dir)? {
            std::fs::remove_dir_all(old)?;
        }
        Ok(())
    }
}

fn last_save(state: &State, started_unix: i64) -> i64 {
    if state.last_started == -1 {
        started_unix
    } else {
        state.last_started
    }
}

/// The complete backups in `dir`, oldest first (their names sort by time).
fn complete_backups(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut found = Vec::new();
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(PREFIX) && !name.ends_with(".tmp") {
            found.push(entry.path());
        }
    }
    found.sort();
    Ok(found)
}

/// Writes a checkpoint under a temporary name, renames it complete, then removes the
/// older ones: a crash at any point leaves the previous backup or the new one whole.
fn backup_into(dir: &Path, checkpoint: Checkpointer) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    // One backup runs at a time: a partial one found here was cut off by a crash.
    for entry in std::fs::read_dir(dir).map_err(|e| e.to_string())?.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(PREFIX) && name.ends_with(".tmp") {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
    let name = format!("{PREFIX}{:016}", ferrokv_types::now_ms());
    let partial = dir.join(format!("{name}.tmp"));
    if let Err(e) = checkpoint(&partial) {
        let _ = std::fs::remove_dir_all(&partial);
        return Err(e);
    }
    let complete = dir.join(&name);
    std::fs::rename(&partial, &complete).map_err(|e| e.to_string())?;
    for old in complete_backups(dir).map_err(|e| e.to_string())? {
        if old != complete {
            std::fs::remove_dir_all(&old).map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}
