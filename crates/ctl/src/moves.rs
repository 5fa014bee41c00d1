//! Running slot moves: one `CLUSTERX MIGRATE` per move, progress from
//! `CLUSTERX MIGRATION STATUS`, and the hand-over the moment a job succeeds. Moves to
//! different destinations run at the same time; Ctrl-C cancels the running jobs.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;

use crate::cluster::{short, Cluster};
use crate::error::{CtlError, Result};
use crate::jobs::JobStatus;
use crate::output::{interrupted, Ctx};
use crate::slots::SlotSet;

/// Slots to move from one master to another.
#[derive(Debug, Clone, Serialize)]
pub struct Move {
    /// Source node id.
    pub source: String,
    /// Destination node id.
    pub destination: String,
    /// The slots.
    #[serde(serialize_with = "crate::slots::as_text")]
    pub slots: SlotSet,
}

/// How one move ended.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    /// The move.
    #[serde(flatten)]
    pub planned: Move,
    /// The job id on the source (empty if it never started).
    pub job: String,
    /// `success` (and handed over), `fail`, `cancelled`, `refused` (MIGRATE refused)
    /// or `not_started`.
    pub state: String,
    /// The job's last status.
    pub status: Option<JobStatus>,
    /// The version of the hand-over.
    pub version: Option<i64>,
    /// What went wrong.
    pub error: String,
}

struct Running {
    index: usize,
    job: String,
    bar: ProgressBar,
    cancel_sent: bool,
    /// When the source last reported this job.
    seen: Instant,
}

/// How long a source may fail to report a running job before the tool gives up on it.
const LOST_AFTER: Duration = Duration::from_secs(30);

/// Runs `moves` (each to be handed over when it succeeds) and returns how each ended.
/// `max_jobs` bounds the jobs running at once on one source.
pub fn run(ctx: &Ctx, cluster: &mut Cluster, moves: &[Move], max_jobs: usize) -> Vec<Outcome> {
    let multi = MultiProgress::with_draw_target(if ctx.bars() {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    });
    let style = ProgressStyle::with_template("{prefix:.bold} [{bar:30.cyan/blue}] {pos:>3}% {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
    let mut outcomes: Vec<Outcome> = moves
        .iter()
        .map(|m| Outcome {
            planned: m.clone(),
            job: String::new(),
            state: "not_started".into(),
            status: None,
            version: None,
            error: String::new(),
        })
        .collect();
    let mut pending: Vec<usize> = (0..moves.len()).collect();
    let mut running: Vec<Running> = Vec::new();
    let mut stop_starting = false;
    loop {
        if interrupted() {
            stop_starting = true;
        }
        // Start what may start: one job per destination, at most max_jobs per source.
        if !stop_starting {
            let mut i = 0;
            while i < pending.len() {
                let idx = pending[i];
                let m = &moves[idx];
                let dst_busy = running
                    .iter()
                    .any(|r| moves[r.index].destination == m.destination);
                let src_jobs = running
                    .iter()
                    .filter(|r| moves[r.index].source == m.source)
                    .count();
                if dst_busy || src_jobs >= max_jobs.max(1) {
                    i += 1;
                    continue;
                }
                pending.remove(i);
                match start(cluster, m) {
                    Ok(job) => {
                        let bar = multi.add(ProgressBar::new(100));
                        bar.set_style(style.clone());
                        bar.set_prefix(format!("{}->{}", short(&m.source), short(&m.destination)));
                        outcomes[idx].job = job.clone();
                        outcomes[idx].state = "start".into();
                        running.push(Running {
                            index: idx,
                            job,
                            bar,
                            cancel_sent: false,
                            seen: Instant::now(),
                        });
                    }
                    Err(e) => {
                        outcomes[idx].state = "refused".into();
                        outcomes[idx].error = e.to_string();
                        stop_starting = true;
                    }
                }
            }
        }
        if running.is_empty() && (pending.is_empty() || stop_starting) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
        // Poll every source once.
        let mut statuses: HashMap<String, Vec<JobStatus>> = HashMap::new();
        for r in &running {
            let src = moves[r.index].source.clone();
            if statuses.contains_key(&src) {
                continue;
            }
            let jobs = cluster
                .conn(&src)
                .and_then(|c| c.jobs())
                .unwrap_or_default();
            statuses.insert(src, jobs);
        }
        let mut still = Vec::new();
        for mut r in running.drain(..) {
            let m = &moves[r.index];
            if interrupted() && !r.cancel_sent {
                if let Ok(c) = cluster.conn(&m.source) {
                    let _ = c.call(&["CLUSTERX", "MIGRATION", "CANCEL", &r.job]);
                }
                r.cancel_sent = true;
                r.bar.set_message("cancelling");
            }
            let status = statuses
                .get(&m.source)
                .and_then(|jobs| jobs.iter().find(|j| j.id == r.job))
                .cloned();
            let Some(status) = status else {
                if r.seen.elapsed() > LOST_AFTER {
                    let out = &mut outcomes[r.index];
                    out.state = "unknown".into();
                    out.error = format!(
                        "the source stopped reporting job {} for {} s; its outcome is unknown: run `ferrokv-ctl check`",
                        r.job,
                        LOST_AFTER.as_secs()
                    );
                    stop_starting = true;
                    r.bar.abandon_with_message(out.error.clone());
                } else {
                    still.push(r);
                }
                continue;
            };
            r.seen = Instant::now();
            r.bar.set_position(status.progress());
            r.bar.set_message(status.summary());
            let out = &mut outcomes[r.index];
            out.status = Some(status.clone());
            if status.running() {
                still.push(r);
                continue;
            }
            out.state = status.state.clone();
            if status.state == "success" {
                r.bar
                    .set_message(format!("{} committed, handing over", status.slots));
                match cluster.hand_over(
                    &m.slots,
                    &m.destination,
                    &[&m.destination, &m.source],
                    Duration::from_secs(30),
                ) {
                    Ok(v) => {
                        out.version = Some(v);
                        r.bar.finish_with_message(format!(
                            "{} moved ({} keys, {} ms, fence {} ms), handed over at version {v}",
                            status.slots, status.keys_sent, status.elapsed_ms, status.fence_ms
                        ));
                    }
                    Err(e) => {
                        out.state = "handover_failed".into();
                        out.error = e.to_string();
                        stop_starting = true;
                        r.bar.abandon_with_message(format!("hand-over failed: {e}"));
                    }
                }
            } else {
                out.error = status.error.clone();
                stop_starting = true;
                r.bar.abandon_with_message(format!(
                    "{} {}: {}",
                    status.slots, status.state, status.error
                ));
            }
        }
        running = still;
    }
    outcomes
}

/// `CLUSTERX MIGRATE <slots> <dst>` on the source, and the new job's id.
fn start(cluster: &mut Cluster, m: &Move) -> Result<String> {
    let slots = m.slots.to_string();
    let conn = cluster.conn(&m.source)?;
    conn.text(&["CLUSTERX", "MIGRATE", &slots, &m.destination])?;
    let jobs = conn.jobs()?;
    jobs.iter()
        .filter(|j| {
            j.destination == m.destination
                && SlotSet::parse(&j.slots).ok().as_ref() == Some(&m.slots)
        })
        .max_by_key(|j| job_order(&j.id))
        .map(|j| j.id.clone())
        .ok_or_else(|| CtlError::Reply {
            addr: conn.addr.clone(),
            command: "CLUSTERX MIGRATION STATUS".into(),
            detail: format!("no job for slots {slots} after MIGRATE"),
        })
}

/// Job ids are `<start ms>-<counter>`: newest last.
fn job_order(id: &str) -> Vec<u64> {
    id.split('-').map(|p| p.parse().unwrap_or(0)).collect()
}

/// The error to exit with when some move did not end in a hand-over.
pub fn failure(cluster: &Cluster, outcomes: &[Outcome]) -> Option<CtlError> {
    let bad = outcomes
        .iter()
        .find(|o| o.state != "success" && o.state != "not_started")
        .or_else(|| outcomes.iter().find(|o| o.state != "success"))?;
    let addr = cluster
        .topology
        .by_id(&bad.planned.source)
        .map(|n| n.addr())
        .unwrap_or_default();
    Some(match bad.state.as_str() {
        "handover_failed" => CtlError::HandOver(bad.error.clone()),
        "refused" => CtlError::Refused(format!(
            "{addr} refused CLUSTERX MIGRATE {} {}: {}",
            bad.planned.slots, bad.planned.destination, bad.error
        )),
        "not_started" => CtlError::Aborted("interrupted before the move started".into()),
        _ => CtlError::JobFailed {
            id: bad.job.clone(),
            source_addr: addr,
            state: bad.state.clone(),
            message: if bad.error.is_empty() {
                "interrupted".into()
            } else {
                bad.error.clone()
            },
        },
    })
}
