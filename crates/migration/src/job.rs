//! Migration jobs: what each one moves, where it is, and what it did.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

use ferrokv_cluster::SlotSet;
use ferrokv_storage::now_ms;
use parking_lot::Mutex;

use crate::throttle::Throttle;

/// Tunables, read again at every batch so that CONFIG SET applies to running jobs.
#[derive(Debug, Clone)]
pub struct Options {
    pub max_jobs: usize,
    pub batch_size_kb: u64,
    /// Node-wide limit, shared by all jobs; 0 = none.
    pub rate_limit_mb: u64,
    /// WAL lag (in sequence numbers) under which the cut-over starts.
    pub sequence_gap: u64,
    pub fence_max_ms: u64,
    /// Kvrocks' `migrate-speed`: commands per second of the copy (0 = no limit),
    /// counted as Kvrocks' redis-command migration sends them
    /// (src/cluster/slot_migrate.cc): one per key, and one per 16 members of a
    /// collection (its RPUSH/HSET/SADD/ZADD carry at most 16 items).
    pub commands_per_sec: u64,
    /// Ship the snapshot with `APPLYSST` (the destination builds and ingests SST
    /// files) rather than `APPLYBATCH`.
    pub snapshot_as_sst: bool,
    pub io_timeout_ms: u64,
    /// Password for the destination (the cluster's `requirepass`).
    pub password: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobState {
    Start,
    Success,
    Fail,
    Cancelled,
}

impl JobState {
    pub fn name(self) -> &'static str {
        match self {
            JobState::Start => "start",
            JobState::Success => "success",
            JobState::Fail => "fail",
            JobState::Cancelled => "cancelled",
        }
    }

    /// The state as CLUSTER INFO shows it (Kvrocks knows no `cancelled`).
    pub fn kvrocks_name(self) -> &'static str {
        match self {
            JobState::Cancelled => "fail",
            other => other.name(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobPhase {
    Connecting,
    Snapshot,
    Tail,
    Fence,
    Commit,
    Done,
}

impl JobPhase {
    pub fn name(self) -> &'static str {
        match self {
            JobPhase::Connecting => "connecting",
            JobPhase::Snapshot => "snapshot",
            JobPhase::Tail => "wal-tail",
            JobPhase::Fence => "fence",
            JobPhase::Commit => "commit",
            JobPhase::Done => "done",
        }
    }
}

/// One migration job, shared between its thread and the commands that read it.
pub struct Job {
    pub id: String,
    pub slots: SlotSet,
    pub source: String,
    pub dest: String,
    pub dest_host: String,
    pub dest_port: u16,
    pub started_at_ms: u64,
    progress: Mutex<(JobState, JobPhase, String)>,
    /// Keys in the slots at the snapshot (-1 until counted).
    pub keys_total: AtomicI64,
    pub keys_sent: AtomicU64,
    /// Bytes of the slots' records at the snapshot, as shipped (-1 until counted).
    pub bytes_total: AtomicI64,
    /// Record bytes shipped (batch headers left out), captured tail included.
    pub bytes_sent: AtomicU64,
    /// The byte rate limit in force for the job (bytes per second, 0 = none), which
    /// bounds the ETA from below.
    pub rate_limit: AtomicU64,
    pub fence_ms: AtomicU64,
    finished_at_ms: AtomicU64,
    cancel: AtomicBool,
    /// Why the job was stopped from outside when that is a failure, not a cancel
    /// (FLUSHDB on the source).
    abort_reason: Mutex<Option<String>>,
}

/// A point-in-time view of a job, for MIGRATION STATUS.
#[derive(Debug, Clone)]
pub struct JobStatus {
    pub id: String,
    pub slots: String,
    pub source: String,
    pub destination: String,
    pub state: JobState,
    pub phase: JobPhase,
    pub keys_total: i64,
    pub keys_sent: u64,
    pub bytes_total: i64,
    pub bytes_sent: u64,
    /// Progress of the copy by bytes, 0-100 (100 only once the job ended).
    pub percent: i64,
    pub rate_bytes_per_sec: u64,
    /// Time left, from the bytes left at the current rate: -1 while unknown, never 0
    /// before the job ends.
    pub eta_ms: i64,
    pub started_at_ms: u64,
    pub elapsed_ms: u64,
    pub fence_ms: u64,
    pub error: String,
}

impl Job {
    pub fn new(
        id: String,
        slots: SlotSet,
        source: String,
        dest: String,
        host: String,
        port: u16,
    ) -> Job {
        Job {
            id,
            slots,
            source,
            dest,
            dest_host: host,
            dest_port: port,
            started_at_ms: now_ms(),
            progress: Mutex::new((JobState::Start, JobPhase::Connecting, String::new())),
            keys_total: AtomicI64::new(-1),
            keys_sent: AtomicU64::new(0),
            bytes_total: AtomicI64::new(-1),
            rate_limit: AtomicU64::new(0),
            bytes_sent: AtomicU64::new(0),
            fence_ms: AtomicU64::new(0),
            finished_at_ms: AtomicU64::new(0),
            cancel: AtomicBool::new(false),
            abort_reason: Mutex::new(None),
        }
    }

    /// A finished job read back from the job log after a restart.
    pub fn restored(status: &JobStatus) -> Result<Job, String> {
        let slots = SlotSet::parse(&status.slots).map_err(|e| e.to_string())?;
        let job = Job::new(
            status.id.clone(),
            slots,
            status.source.clone(),
            status.destination.clone(),
            String::new(),
            0,
        );
        let job = Job {
            started_at_ms: status.started_at_ms,
            ..job
        };
        job.keys_total.store(status.keys_total, Ordering::Relaxed);
        job.keys_sent.store(status.keys_sent, Ordering::Relaxed);
        job.bytes_total.store(status.bytes_total, Ordering::Relaxed);
        job.bytes_sent.store(status.bytes_sent, Ordering::Relaxed);
        job.fence_ms.store(status.fence_ms, Ordering::Relaxed);
        job.finish(status.state, status.error.clone());
        job.finished_at_ms
            .store(status.started_at_ms + status.elapsed_ms, Ordering::Relaxed);
        Ok(job)
    }

    pub fn state(&self) -> JobState {
        self.progress.lock().0
    }

    pub fn is_running(&self) -> bool {
        self.state() == JobState::Start
    }

    pub fn error(&self) -> String {
        self.progress.lock().2.clone()
    }

    pub(crate) fn set_phase(&self, phase: JobPhase) {
        self.progress.lock().1 = phase;
    }

    pub(crate) fn finish(&self, state: JobState, error: String) {
        *self.progress.lock() = (state, JobPhase::Done, error);
        self.finished_at_ms.store(now_ms(), Ordering::Relaxed);
    }

    pub fn request_cancel(&self) {
        self.cancel.store(true, Ordering::Relaxed);
    }

    pub(crate) fn cancelled(&self) -> bool {
        self.cancel.load(Ordering::Relaxed)
    }

    /// Stops the job as a failure with `reason`.
    pub fn request_abort(&self, reason: &str) {
        *self.abort_reason.lock() = Some(reason.to_string());
        self.request_cancel();
    }

    pub(crate) fn abort_reason(&self) -> Option<String> {
        self.abort_reason.lock().clone()
    }

    pub fn status(&self) -> JobStatus {
        let (state, phase, error) = self.progress.lock().clone();
        let finished = self.finished_at_ms.load(Ordering::Relaxed);
        let end = if finished == 0 { now_ms() } else { finished };
        let elapsed_ms = end.saturating_sub(self.started_at_ms);
        let bytes_sent = self.bytes_sent.load(Ordering::Relaxed);
        let keys_sent = self.keys_sent.load(Ordering::Relaxed);
        let keys_total = self.keys_total.load(Ordering::Relaxed);
        let bytes_total = self.bytes_total.load(Ordering::Relaxed);
        let rate_bytes_per_sec = (bytes_sent * 1000).checked_div(elapsed_ms).unwrap_or(0);
        let (percent, eta_ms) = progress(
            state,
            bytes_total,
            bytes_sent,
            elapsed_ms,
            self.rate_limit.load(Ordering::Relaxed),
        );
        JobStatus {
            id: self.id.clone(),
            slots: self.slots.to_string(),
            source: self.source.clone(),
            destination: self.dest.clone(),
            state,
            phase,
            keys_total,
            keys_sent,
            bytes_total,
            bytes_sent,
            percent,
            rate_bytes_per_sec,
            eta_ms,
            started_at_ms: self.started_at_ms,
            elapsed_ms,
            fence_ms: self.fence_ms.load(Ordering::Relaxed),
            error,
        }
    }
}

/// Percent done and time left of a job, from bytes: the bytes left at the rate so far,
/// and never less than at the configured limit (`rate_limit` bytes/s, 0 = none). A
/// running job is never at 100% nor `eta_ms` 0 (the tail, the fence and the commit are
/// still ahead even when every byte of the snapshot went), an ended one always is.
/// `-1` while unknown.
fn progress(
    state: JobState,
    bytes_total: i64,
    bytes_sent: u64,
    elapsed_ms: u64,
    rate_limit: u64,
) -> (i64, i64) {
    if state != JobState::Start {
        return (100, 0);
    }
    let Ok(total) = u64::try_from(bytes_total) else {
        return (-1, -1);
    };
    let percent = (bytes_sent.min(total) * 100)
        .checked_div(total)
        .unwrap_or(99)
        .min(99) as i64;
    if bytes_sent == 0 {
        return (percent, -1);
    }
    let left = total.saturating_sub(bytes_sent);
    let at_rate = u128::from(left) * u128::from(elapsed_ms) / u128::from(bytes_sent);
    let at_limit = (u128::from(left) * 1000)
        .checked_div(u128::from(rate_limit))
        .unwrap_or(0);
    let eta = i64::try_from(at_rate.max(at_limit)).unwrap_or(i64::MAX);
    (percent, eta.max(1))
}

/// The jobs a node knows: the running ones and the last finished ones.
#[derive(Default)]
pub struct Migrations {
    jobs: Mutex<VecDeque<Arc<Job>>>,
    next_id: AtomicU64,
    /// `migrate-batch-rate-limit-mb` is node-wide: every job draws from this.
    pub limiter: Throttle,
}

const KEEP_FINISHED: usize = 16;

impl Migrations {
    pub fn next_id(&self) -> String {
        format!(
            "{}-{}",
            now_ms(),
            self.next_id.fetch_add(1, Ordering::Relaxed) + 1
        )
    }

    pub fn add(&self, job: Arc<Job>) {
        let mut jobs = self.jobs.lock();
        jobs.push_back(job);
        while jobs.iter().filter(|j| !j.is_running()).count() > KEEP_FINISHED {
            if let Some(at) = jobs.iter().position(|j| !j.is_running()) {
                jobs.remove(at);
            }
        }
    }

    pub fn all(&self) -> Vec<Arc<Job>> {
        self.jobs.lock().iter().cloned().collect()
    }

    pub fn get(&self, id: &str) -> Option<Arc<Job>> {
        self.jobs.lock().iter().find(|j| j.id == id).cloned()
    }

    pub fn running(&self) -> Vec<Arc<Job>> {
        self.jobs
            .lock()
            .iter()
            .filter(|j| j.is_running())
            .cloned()
            .collect()
    }

    /// Every slot a running job moves.
    pub fn running_slots(&self) -> SlotSet {
        self.jobs
            .lock()
            .iter()
            .filter(|j| j.is_running())
            .flat_map(|j| j.slots.iter())
            .collect()
    }

    pub fn newest(&self) -> Option<Arc<Job>> {
        self.jobs.lock().back().cloned()
    }

    /// The finished jobs, one line each, for the job log (tab-separated fields).
    pub fn finished_log(&self) -> String {
        self.jobs
            .lock()
            .iter()
            .filter(|j| !j.is_running())
            .map(|j| {
                let s = j.status();
                format!(
                    "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\n",
                    s.id,
                    s.slots,
                    s.source,
                    s.destination,
                    s.state.name(),
                    s.keys_total,
                    s.keys_sent,
                    s.bytes_sent,
                    s.started_at_ms,
                    s.elapsed_ms,
                    s.fence_ms,
                    s.error.replace(['\t', '\n'], " "),
                    s.bytes_total,
                )
            })
            .collect()
    }

    /// Reads back a job log written by `finished_log` (unreadable lines are skipped).
    pub fn load_finished(&self, log: &str) {
        for line in log.lines() {
            let f: Vec<&str> = line.split('\t').collect();
            // 13 fields; logs written before bytes_total have 12.
            if f.len() != 12 && f.len() != 13 {
                continue;
            }
            let state = match f[4] {
                "success" => JobState::Success,
                "cancelled" => JobState::Cancelled,
                _ => JobState::Fail,
            };
            let status = JobStatus {
                id: f[0].to_string(),
                slots: f[1].to_string(),
                source: f[2].to_string(),
                destination: f[3].to_string(),
                state,
                phase: JobPhase::Done,
                keys_total: f[5].parse().unwrap_or(-1),
                keys_sent: f[6].parse().unwrap_or(0),
                bytes_total: f.get(12).and_then(|v| v.parse().ok()).unwrap_or(-1),
                bytes_sent: f[7].parse().unwrap_or(0),
                percent: 100,
                rate_bytes_per_sec: 0,
                eta_ms: 0,
                started_at_ms: f[8].parse().unwrap_or(0),
                elapsed_ms: f[9].parse().unwrap_or(0),
                fence_ms: f[10].parse().unwrap_or(0),
                error: f[11].to_string(),
            };
            if let Ok(job) = Job::restored(&status) {
                self.add(Arc::new(job));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_is_by_bytes_and_never_done_before_the_end() {
        assert_eq!(progress(JobState::Start, -1, 0, 10, 0), (-1, -1));
        assert_eq!(progress(JobState::Start, 1000, 0, 10, 0), (0, -1));
        assert_eq!(progress(JobState::Start, 1000, 250, 100, 0), (25, 300));
        // A burst went faster than the limit allows for what is left.
        assert_eq!(progress(JobState::Start, 1000, 250, 100, 100), (25, 7500));
        // Every byte of the snapshot shipped, the job still running.
        assert_eq!(progress(JobState::Start, 1000, 1000, 100, 0), (99, 1));
        assert_eq!(progress(JobState::Start, 1000, 5000, 100, 0), (99, 1));
        assert_eq!(progress(JobState::Start, 0, 0, 100, 0), (99, -1));
        for ended in [JobState::Success, JobState::Fail, JobState::Cancelled] {
            assert_eq!(progress(ended, 1000, 10, 100, 0), (100, 0));
        }
    }

    #[test]
    fn the_job_log_round_trips_and_reads_older_lines() {
        let jobs = Migrations::default();
        let job = Job::new(
            "7-1".into(),
            SlotSet::parse("1-3").unwrap(),
            "s".into(),
            "d".into(),
            "h".into(),
            1,
        );
        job.bytes_total.store(4096, Ordering::Relaxed);
        job.finish(JobState::Fail, "boom\there".into());
        jobs.add(Arc::new(job));
        let log = jobs.finished_log();
        let back = Migrations::default();
        back.load_finished(&log);
        let status = back.get("7-1").expect("restored").status();
        assert_eq!(status.bytes_total, 4096);
        assert_eq!(status.state, JobState::Fail);
        assert_eq!(status.error, "boom here");
        // A line of an older log, without bytes_total.
        let old = "9-1\t5\ts\td\tsuccess\t1\t1\t10\t0\t5\t1\t\n";
        back.load_finished(old);
        assert_eq!(back.get("9-1").expect("old line").status().bytes_total, -1);
    }
}
