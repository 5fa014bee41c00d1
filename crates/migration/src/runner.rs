//! The life of a job on the source node.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferrokv_cluster::SlotSet;
use ferrokv_storage::encoding::{slot_of, slot_range_bounds};
use ferrokv_storage::{Batch, CapturedWrite, Cf, Storage, WriteObserver};
use parking_lot::Mutex;

use crate::client::{Link, LinkError};
use crate::job::{Job, JobPhase, JobState, Options};

/// What a job needs from the node it runs on.
pub trait ClusterControl: Send + Sync {
    fn storage(&self) -> &Storage;
    fn options(&self) -> Options;
    /// Runs `f` while no write is in flight and none can start.
    fn pause_writes(&self, f: &mut dyn FnMut());
    /// Durably records that a cut-over of `slots` to `dest` is starting, so that a
    /// crash from here on is settled with the destination at restart.
    fn prepare(&self, slots: &SlotSet, dest: &str) -> Result<(), String>;
    /// Holds new writes to `slots` and returns once no write to them is in flight.
    fn fence(&self, slots: &SlotSet, dest: &str);
    /// The destination committed: the slots are migrated away (durably), writes to
    /// them get MOVED to the destination from now on.
    fn commit(&self, slots: &SlotSet, dest: &str) -> Result<(), String>;
    /// The job failed: the source serves the slots again as if nothing happened.
    fn abort(&self, slots: &SlotSet);
    /// The job ended (any way): wake whoever waits on it.
    fn finished(&self, job: &Job);
    /// The node-wide migration rate limiter.
    fn limiter(&self) -> &crate::throttle::Throttle;
}

enum Failure {
    Cancelled,
    Error(String),
}

impl From<LinkError> for Failure {
    fn from(e: LinkError) -> Self {
        Failure::Error(e.to_string())
    }
}

impl From<ferrokv_storage::StorageError> for Failure {
    fn from(e: ferrokv_storage::StorageError) -> Self {
        Failure::Error(e.to_string())
    }
}

/// Runs a job to its end on the calling thread.
pub fn run_job(job: Arc<Job>, control: Arc<dyn ClusterControl>) {
    let mut fenced = false;
    let outcome = migrate(&job, control.as_ref(), &mut fenced);
    match outcome {
        Ok(()) => job.finish(JobState::Success, String::new()),
        Err(failure) => {
            let (state, error) = match failure {
                Failure::Cancelled => match job.abort_reason() {
                    Some(reason) => (JobState::Fail, reason),
                    None => (JobState::Cancelled, "cancelled".to_string()),
                },
                Failure::Error(e) => (JobState::Fail, e),
            };
            control.abort(&job.slots);
            job.finish(state, error);
        }
    }
    control.finished(&job);
}

struct Sender<'a> {
    link: Link,
    job: &'a Job,
    control: &'a dyn ClusterControl,
}

impl Sender<'_> {
    fn check(&self) -> Result<(), Failure> {
        if self.job.cancelled() {
            return Err(Failure::Cancelled);
        }
        Ok(())
    }

    /// Ships one raw batch, honouring the rate limit.
    fn send(&mut self, batch: &Batch<'_>) -> Result<(), Failure> {
        if batch.is_empty() {
            return Ok(());
        }
        self.check()?;
        let data = batch.data();
        self.link.call(&[b"APPLYBATCH", data])?;
        let bytes = data.len() as u64;
        self.job.bytes_sent.fetch_add(bytes, Ordering::Relaxed);
        let limit = self.control.options().rate_limit_mb * 1024 * 1024;
        self.control.limiter().acquire(bytes, limit);
        Ok(())
    }
}

/// The tail of a job: every write to its slots since the snapshot, in write order.
struct Capture {
    slots: SlotSet,
    queue: Mutex<VecDeque<CapturedWrite>>,
    queued_bytes: AtomicU64,
}

/// Captured writes a job may hold before it gives up (the destination cannot keep up
/// with the writes to the slots).
const MAX_CAPTURED_BYTES: u64 = 1 << 30;

impl WriteObserver for Capture {
    fn wants(&self, stored_key: &[u8]) -> bool {
        slot_of(stored_key).is_some_and(|slot| self.slots.contains(slot))
    }

    fn captured(&self, write: CapturedWrite) {
        self.queued_bytes
            .fetch_add(write.size_in_bytes() as u64, Ordering::Relaxed);
        self.queue.lock().push_back(write);
    }
}

impl Capture {
    fn pending(&self) -> usize {
        self.queue.lock().len()
    }

    /// Ships everything captured so far, whole captured writes per shipped batch.
    fn drain(&self, sender: &mut Sender<'_>, storage: &Storage) -> Result<(), Failure> {
        if self.queued_bytes.load(Ordering::Relaxed) > MAX_CAPTURED_BYTES {
            return Err(Failure::Error(
                "writes to the slots outpace the migration (over 1 GB waiting)".into(),
            ));
        }
        let limit = sender.control.options().batch_size_kb.max(1) * 1024;
        let mut out = storage.batch();
        while let Some(write) = self.queue.lock().pop_front() {
            self.queued_bytes
                .fetch_sub(write.size_in_bytes() as u64, Ordering::Relaxed);
            out.append(&write);
            if out.size_in_bytes() as u64 >= limit {
                sender.send(&out)?;
                out.clear();
            }
        }
        sender.send(&out)
    }
}

/// Unregisters the capture however the job ends.
struct Registered<'a> {
    storage: &'a Storage,
    observer: Arc<dyn WriteObserver>,
}

impl Drop for Registered<'_> {
    fn drop(&mut self) {
        self.storage.remove_observer(&self.observer);
    }
}

fn migrate(job: &Job, control: &dyn ClusterControl, fenced: &mut bool) -> Result<(), Failure> {
    let options = control.options();
    let timeout = Duration::from_millis(options.io_timeout_ms.max(100));
    let mut link = Link::connect(&job.dest_host, job.dest_port, timeout)?;
    if let Some(password) = options.password.as_deref() {
        link.call(&[b"AUTH", password.as_bytes()])?;
    }
    let slots_text = job.slots.to_string();
    link.call(&[b"CLUSTER", b"IMPORT", slots_text.as_bytes(), b"0"])?;
    let mut sender = Sender { link, job, control };
    let storage = control.storage();

    // 1. Start capturing writes to the slots and take the snapshot, with no write in
    //    flight: every write is then in the snapshot or in the capture (or both, which
    //    replays to the same result).
    job.set_phase(JobPhase::Snapshot);
    let capture = Arc::new(Capture {
        slots: job.slots.clone(),
        queue: Mutex::new(VecDeque::new()),
        queued_bytes: AtomicU64::new(0),
    });
    let observer: Arc<dyn WriteObserver> = capture.clone();
    let mut snapshot = None;
    control.pause_writes(&mut || {
        storage.add_observer(observer.clone());
        snapshot = Some(storage.snapshot());
    });
    let _registered = Registered { storage, observer };
    let Some(snapshot) = snapshot else {
        return Err(Failure::Error("no snapshot".into()));
    };
    // Counting first (keys only, not members) gives progress and an ETA.
    let mut total = 0i64;
    for (first, last) in job.slots.ranges() {
        let (start, end) = slot_range_bounds(first, last);
        let mut iter = storage.range_iter(Cf::Metadata, &start, Some(&end), Some(&snapshot));
        while iter.valid() {
            total += 1;
            iter.next();
        }
    }
    job.keys_total.store(total, Ordering::Relaxed);
    let mut keys = 0u64;
    let copy_start = Instant::now();
    for (first, last) in job.slots.ranges() {
        let (start, end) = slot_range_bounds(first, last);
        for cf in Cf::ALL {
            let mut batch = storage.batch();
            let mut iter = storage.range_iter(cf, &start, Some(&end), Some(&snapshot));
            while let (Some(key), Some(value)) = (iter.key(), iter.value()) {
                batch.put(cf, key, value);
                if cf == Cf::Metadata {
                    keys += 1;
                    job.keys_sent.fetch_add(1, Ordering::Relaxed);
                    if let Some(wait) = pace_keys(control, keys, copy_start) {
                        // Throttled: what is ready goes now, so the copy streams.
                        sender.send(&batch)?;
                        batch.clear();
                        std::thread::sleep(wait);
                    }
                }
                if batch.size_in_bytes() as u64 >= control.options().batch_size_kb.max(1) * 1024 {
                    sender.send(&batch)?;
                    batch.clear();
                }
                iter.next();
            }
            iter.status()?;
            sender.send(&batch)?;
        }
    }
    drop(snapshot);
    job.keys_total.store(keys as i64, Ordering::Relaxed);

    // 2. Ship the captured tail until little is pending, 3. fence, 4. the last tail.
    job.set_phase(JobPhase::Tail);
    loop {
        capture.drain(&mut sender, storage)?;
        if capture.pending() as u64 <= control.options().sequence_gap {
            break;
        }
    }
    job.set_phase(JobPhase::Fence);
    // Persisted before the fence, so the fence itself costs no fsync here.
    control
        .prepare(&job.slots, &job.dest)
        .map_err(Failure::Error)?;
    let fence_start = Instant::now();
    control.fence(&job.slots, &job.dest);
    *fenced = true;
    capture.drain(&mut sender, storage)?;

    // 5. Commit on the destination, then here.
    job.set_phase(JobPhase::Commit);
    sender.check()?;
    let committed = sender
        .link
        .call(&[b"CLUSTER", b"IMPORT", slots_text.as_bytes(), b"1"]);
    job.fence_ms
        .store(fence_start.elapsed().as_millis() as u64, Ordering::Relaxed);
    if committed.is_err() {
        // Whether the destination committed is unknown: ask it until it answers
        // (the slots stay fenced meanwhile: never two writers).
        let options = control.options();
        match resolve_in_doubt(&job.dest_host, job.dest_port, &job.slots, &options) {
            Resolution::Committed => {}
            Resolution::Aborted => {
                return Err(Failure::Error(
                    "the destination did not confirm the commit; the migration was rolled back"
                        .into(),
                ))
            }
        }
    }
    control
        .commit(&job.slots, &job.dest)
        .map_err(Failure::Error)?;
    job.fence_ms
        .store(fence_start.elapsed().as_millis() as u64, Ordering::Relaxed);
    Ok(())
}

/// Kvrocks' `migrate-speed`: how long to wait so that `keys` keys since `start` stay
/// under the configured keys per second (`None`: no wait).
fn pace_keys(control: &dyn ClusterControl, keys: u64, start: Instant) -> Option<Duration> {
    let per_sec = control.options().keys_per_sec;
    if per_sec == 0 {
        return None;
    }
    let due = Duration::from_secs_f64(keys as f64 / per_sec as f64);
    due.checked_sub(start.elapsed())
        .filter(|wait| !wait.is_zero())
}

/// How a cut-over whose commit went unanswered ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    Committed,
    Aborted,
}

/// Settles a cut-over in doubt with the destination: if it holds the slots as
/// imported, the migration committed; otherwise it is told to abort (it deletes what it
/// received) and the migration is rolled back. Retries until the destination answers.
pub fn resolve_in_doubt(host: &str, port: u16, slots: &SlotSet, options: &Options) -> Resolution {
    let timeout = Duration::from_millis(options.io_timeout_ms.max(100));
    let slots_text = slots.to_string();
    loop {
        let attempt = (|| -> Result<Resolution, LinkError> {
            let mut link = Link::connect(host, port, timeout)?;
            if let Some(password) = options.password.as_deref() {
                link.call(&[b"AUTH", password.as_bytes()])?;
            }
            let state = link.call(&[
                b"CLUSTERX",
                b"MIGRATION",
                b"IMPORTSTATE",
                slots_text.as_bytes(),
            ])?;
            if state == ferrokv_protocol::Reply::Bulk(Some(b"imported".to_vec())) {
                return Ok(Resolution::Committed);
            }
            link.call(&[b"CLUSTER", b"IMPORT", slots_text.as_bytes(), b"2"])?;
            Ok(Resolution::Aborted)
        })();
        match attempt {
            Ok(resolution) => return resolution,
            Err(_) => std::thread::sleep(Duration::from_millis(500)),
        }
    }
}
