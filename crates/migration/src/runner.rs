//! The life of a job on the source node: connect, snapshot and copy, captured tail,
//! fence, commit, and the resolution of a commit whose reply was lost. The node is
//! reached through [`ClusterControl`] and the destination through [`Destination`], so
//! the whole protocol runs against an in-memory destination in the unit tests below.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferrokv_cluster::SlotSet;
use ferrokv_storage::encoding::{slot_of, slot_range_bounds};
use ferrokv_storage::{Batch, CapturedWrite, Cf, Snapshot, Storage, WriteObserver};
use parking_lot::Mutex;

use ferrokv_protocol::Reply;
use thiserror::Error;

use crate::client::{Link, LinkError};
use crate::job::{Job, JobPhase, JobState, Options};
use crate::throttle::Throttle;

/// The job's end of the link to the destination: one command, one reply.
pub trait Destination: Send {
    /// Sends one command and waits for its reply; an error reply is
    /// [`LinkError::Remote`].
    fn call(&mut self, args: &[&[u8]]) -> Result<Reply, LinkError>;
    /// Sends one command; its reply is read by a later [`Destination::receive`]
    /// (replies come in command order).
    fn send(&mut self, args: &[&[u8]]) -> Result<(), LinkError>;
    /// The reply to the oldest command sent with [`Destination::send`] and not yet
    /// received; an error reply is [`LinkError::Remote`].
    fn receive(&mut self) -> Result<Reply, LinkError>;
}

/// Data commands a job may have sent and not yet seen answered: the destination
/// parses one while the next is read from the snapshot and sent (the two nodes work at
/// once), and at most this many batches wait in buffers.
const WINDOW: usize = 4;

impl Destination for Link {
    fn call(&mut self, args: &[&[u8]]) -> Result<Reply, LinkError> {
        Link::call(self, args)
    }

    fn send(&mut self, args: &[&[u8]]) -> Result<(), LinkError> {
        Link::send(self, args)
    }

    fn receive(&mut self) -> Result<Reply, LinkError> {
        Link::read(self)
    }
}

/// Why the node could not do what a job asked of it.
#[derive(Debug, Error)]
pub enum ControlError {
    #[error("cluster mode is not enabled")]
    NotCluster,
    /// `migration.conf` could not be written: the decision would not survive a crash.
    #[error("cannot record the migration: {0}")]
    Records(#[from] std::io::Error),
    #[error("{0}")]
    Topology(#[from] ferrokv_cluster::ClusterError),
    /// The node cannot take the step now (e.g. its replicas did not acknowledge it).
    #[error("{0}")]
    Refused(String),
}

/// What a job needs from the node it runs on.
pub trait ClusterControl: Send + Sync {
    fn storage(&self) -> &Storage;
    fn options(&self) -> Options;
    /// Runs `f` while no write is in flight and none can start.
    fn pause_writes(&self, f: &mut dyn FnMut());
    /// Durably records that a cut-over of `slots` to `dest` is starting, so that a
    /// crash from here on is settled with the destination at restart.
    fn prepare(&self, slots: &SlotSet, dest: &str) -> Result<(), ControlError>;
    /// Holds new writes to `slots` and returns once no write to them is in flight.
    fn fence(&self, slots: &SlotSet, dest: &str);
    /// The destination committed: the slots are migrated away (durably), writes to
    /// them get MOVED to the destination from now on.
    fn commit(&self, slots: &SlotSet, dest: &str) -> Result<(), ControlError>;
    /// The job failed: the source serves the slots again as if nothing happened.
    fn abort(&self, slots: &SlotSet);
    /// The job ended (any way): wake whoever waits on it.
    fn finished(&self, job: &Job);
    /// The node-wide migration rate limiter.
    fn limiter(&self) -> &Throttle;
    /// Called on the thread that scans and ships the snapshot, before it starts: the
    /// node lowers that thread's CPU priority (`migrate-idle-class`, `migrate-nice`).
    /// The job's own thread, which takes the write gate, the fence and the commit,
    /// keeps its priority: a low-priority thread holding what client threads wait for
    /// would make them wait for the CPU it cannot get. Before lowering, the node may
    /// hand `watch` a watcher, which the job's thread then calls about every 20 ms
    /// while the copy runs (the node lifts a copy that gets no CPU at its low
    /// priority).
    fn bulk_thread_started(&self, watch: &mut dyn FnMut(Box<dyn FnMut() + Send>)) {
        let _ = watch;
    }
    /// Opens a link to a destination (a TCP connection; tests substitute their own).
    fn connect(
        &self,
        host: &str,
        port: u16,
        timeout: Duration,
    ) -> Result<Box<dyn Destination>, LinkError> {
        Ok(Box::new(Link::connect(host, port, timeout)?))
    }
}

/// Opens an authenticated link to the job's destination.
fn open_link(
    control: &dyn ClusterControl,
    host: &str,
    port: u16,
    options: &Options,
) -> Result<Box<dyn Destination>, LinkError> {
    let timeout = Duration::from_millis(options.io_timeout_ms.max(100));
    let mut link = control.connect(host, port, timeout)?;
    if let Some(password) = options.password.as_deref() {
        link.call(&[b"AUTH", password.as_bytes()])?;
    }
    Ok(link)
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

impl From<ControlError> for Failure {
    fn from(e: ControlError) -> Self {
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

/// Collection members per command of Kvrocks' redis-command migration
/// (`kMaxItemsInCommand`): what `migrate-speed` counts as one command.
const ITEMS_PER_COMMAND: u64 = 16;

/// The settings the copy thread reads, as atomics: it runs at the lowest CPU priority
/// and must not hold the node's config lock (a `CONFIG SET` waiting behind it would
/// hold up every client reading the config). The job thread refreshes them.
struct Pace {
    batch_size_kb: AtomicU64,
    commands_per_sec: AtomicU64,
    rate_limit_mb: AtomicU64,
}

impl Pace {
    fn new(options: &Options) -> Pace {
        let pace = Pace {
            batch_size_kb: AtomicU64::new(0),
            commands_per_sec: AtomicU64::new(0),
            rate_limit_mb: AtomicU64::new(0),
        };
        pace.update(options);
        pace
    }

    /// CONFIG SET applies to running jobs: the job thread calls this as it goes.
    fn update(&self, options: &Options) {
        self.batch_size_kb
            .store(options.batch_size_kb.max(1), Ordering::Relaxed);
        self.commands_per_sec
            .store(options.commands_per_sec, Ordering::Relaxed);
        self.rate_limit_mb
            .store(options.rate_limit_mb, Ordering::Relaxed);
    }

    fn batch_bytes(&self) -> u64 {
        self.batch_size_kb.load(Ordering::Relaxed) * 1024
    }
}

struct Sender<'a> {
    link: Box<dyn Destination>,
    job: &'a Job,
    control: &'a dyn ClusterControl,
    pace: &'a Pace,
    /// Snapshot records go as `APPLYSST`.
    sst: bool,
    /// The destination answered an `APPLYSST`.
    sst_accepted: bool,
    /// Commands sent whose replies were not read yet.
    in_flight: usize,
}

impl Sender<'_> {
    fn check(&self) -> Result<(), Failure> {
        if self.job.cancelled() {
            return Err(Failure::Cancelled);
        }
        Ok(())
    }

    /// Reads the replies of every command sent: all applied, or the first error.
    fn drain(&mut self) -> Result<(), Failure> {
        while self.in_flight > 0 {
            self.in_flight -= 1;
            self.link.receive()?;
        }
        Ok(())
    }

    /// One command and its reply, after every pipelined one was answered.
    fn call(&mut self, args: &[&[u8]]) -> Result<Reply, Failure> {
        self.drain()?;
        Ok(self.link.call(args)?)
    }

    /// Ships one raw batch, honouring the rate limit.
    fn send(&mut self, batch: &Batch<'_>) -> Result<(), Failure> {
        self.send_as(b"APPLYBATCH", batch)
    }

    /// Ships snapshot records (sorted per column family): `APPLYSST` unless disabled,
    /// or the destination does not know it (an older version), then `APPLYBATCH`.
    fn send_snapshot(&mut self, batch: &Batch<'_>) -> Result<(), Failure> {
        if !self.sst {
            return self.send(batch);
        }
        match self.send_as(b"APPLYSST", batch) {
            Err(Failure::Error(e)) if e.contains("unknown command") => {
                self.sst = false;
                self.send(batch)
            }
            other => other,
        }
    }

    /// Tells a destination that took `APPLYSST` that the snapshot is complete (an
    /// empty `APPLYSST`): it ingests what waits in its files then, off its client
    /// threads, rather than when the first tail batch or the commit comes.
    fn end_snapshot(&mut self) -> Result<(), Failure> {
        if !(self.sst && self.sst_accepted) {
            return Ok(());
        }
        self.link.send(&[b"APPLYSST", b""])?;
        self.in_flight += 1;
        self.wait_window()
    }

    /// Reads replies until at most `WINDOW` commands are unanswered.
    fn wait_window(&mut self) -> Result<(), Failure> {
        while self.in_flight > WINDOW {
            self.in_flight -= 1;
            self.link.receive()?;
        }
        Ok(())
    }

    fn send_as(&mut self, command: &[u8], batch: &Batch<'_>) -> Result<(), Failure> {
        if batch.is_empty() {
            return Ok(());
        }
        self.check()?;
        let data = batch.data();
        if command == b"APPLYSST" && !self.sst_accepted {
            // The first goes alone: an older destination refuses it, and what follows
            // must then go as APPLYBATCH.
            self.drain()?;
            self.link.call(&[command, data])?;
            self.sst_accepted = true;
        } else {
            self.link.send(&[command, data])?;
            self.in_flight += 1;
            self.wait_window()?;
        }
        // The records' bytes, as `bytes_total` counts them: a throttled copy ships many
        // small batches, and their headers must not run the progress ahead.
        let bytes = data.len().saturating_sub(BATCH_HEADER) as u64;
        self.job.bytes_sent.fetch_add(bytes, Ordering::Relaxed);
        let limit = self
            .pace
            .rate_limit_mb
            .load(Ordering::Relaxed)
            .saturating_mul(1024 * 1024);
        self.job.rate_limit.store(limit, Ordering::Relaxed);
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
        sender.pace.update(&sender.control.options());
        let limit = sender.pace.batch_bytes();
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

/// Bytes a record adds to a shipped batch beyond its key and value (tag, column
/// family, two lengths): what makes `bytes_total` comparable with `bytes_sent`.
const RECORD_OVERHEAD: u64 = 4;

/// A RocksDB write batch's header (sequence number and count), not counted as
/// shipped data.
const BATCH_HEADER: usize = 12;

fn migrate(job: &Job, control: &dyn ClusterControl, fenced: &mut bool) -> Result<(), Failure> {
    let options = control.options();
    let link = open_link(control, &job.dest_host, job.dest_port, &options)?;
    let pace = Pace::new(&options);
    let mut sender = Sender {
        link,
        job,
        control,
        pace: &pace,
        sst: options.snapshot_as_sst,
        sst_accepted: false,
        in_flight: 0,
    };
    let slots_text = job.slots.to_string();
    sender.call(&[b"CLUSTER", b"IMPORT", slots_text.as_bytes(), b"0"])?;
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
    // The bulk of the work, on a thread of its own at the node's bulk priority; this
    // thread keeps the copy's settings current meanwhile and calls its watcher.
    let watcher: Mutex<Option<Box<dyn FnMut() + Send>>> = Mutex::new(None);
    let keys = std::thread::scope(|scope| {
        // Dropped when the copy ends, however it ends: wakes the loop below at once.
        let (running, ended) = std::sync::mpsc::channel::<()>();
        let copy = std::thread::Builder::new()
            .name("migrate-copy".into())
            .spawn_scoped(scope, || {
                let _running = running;
                control.bulk_thread_started(&mut |watch| *watcher.lock() = Some(watch));
                copy_snapshot(job, &mut sender, storage, &snapshot)
            })
            .map_err(|e| Failure::Error(format!("cannot start the copy thread: {e}")))?;
        while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
            ended.recv_timeout(Duration::from_millis(20))
        {
            pace.update(&control.options());
            if let Some(watch) = watcher.lock().as_mut() {
                watch();
            }
        }
        copy.join()
            .unwrap_or_else(|_| Err(Failure::Error("the copy thread panicked".into())))
    })?;
    drop(snapshot);
    sender.end_snapshot()?;
    job.keys_total.store(keys as i64, Ordering::Relaxed);

    // 2. Ship the captured tail until little is pending, 3. fence, 4. the last tail.
    job.set_phase(JobPhase::Tail);
    loop {
        capture.drain(&mut sender, storage)?;
        if capture.pending() as u64 <= control.options().sequence_gap {
            break;
        }
    }
    // Every batch so far applied before the cut-over starts.
    sender.drain()?;
    job.set_phase(JobPhase::Fence);
    // Persisted before the fence, so the fence itself costs no fsync here.
    control.prepare(&job.slots, &job.dest)?;
    let fence_start = Instant::now();
    control.fence(&job.slots, &job.dest);
    *fenced = true;
    capture.drain(&mut sender, storage)?;

    // 5. Commit on the destination, then here.
    job.set_phase(JobPhase::Commit);
    sender.check()?;
    // The last tail's replies first: a refused batch fails the job before the commit.
    sender.drain()?;
    let committed = sender
        .link
        .call(&[b"CLUSTER", b"IMPORT", slots_text.as_bytes(), b"1"]);
    job.fence_ms
        .store(fence_start.elapsed().as_millis() as u64, Ordering::Relaxed);
    if committed.is_err() {
        // Whether the destination committed is unknown: ask it until it answers
        // (the slots stay fenced meanwhile: never two writers).
        match resolve_in_doubt(control, &job.dest_host, job.dest_port, &job.slots) {
            Resolution::Committed => {}
            Resolution::Aborted => {
                return Err(Failure::Error(
                    "the destination did not confirm the commit; the migration was rolled back"
                        .into(),
                ))
            }
        }
    }
    control.commit(&job.slots, &job.dest)?;
    job.fence_ms
        .store(fence_start.elapsed().as_millis() as u64, Ordering::Relaxed);
    Ok(())
}

/// Counts the snapshot of the job's slots (progress and ETA), then ships every record
/// of it; returns the number of keys shipped.
fn copy_snapshot(
    job: &Job,
    sender: &mut Sender<'_>,
    storage: &Storage,
    snapshot: &Snapshot,
) -> Result<u64, Failure> {
    // Counting first gives progress and an ETA: keys from the metadata, bytes from
    // every record (a key holding a large collection weighs what its members weigh).
    let (mut keys_total, mut bytes_total) = (0i64, 0i64);
    for (first, last) in job.slots.ranges() {
        let (start, end) = slot_range_bounds(first, last);
        for cf in Cf::ALL {
            let mut iter = storage.scan_iter(cf, &start, Some(&end), Some(snapshot));
            while let (Some(key), Some(value)) = (iter.key(), iter.value()) {
                if cf == Cf::Metadata {
                    keys_total += 1;
                }
                bytes_total += (key.len() + value.len()) as i64 + RECORD_OVERHEAD as i64;
                iter.next();
            }
            iter.status()?;
        }
    }
    job.keys_total.store(keys_total, Ordering::Relaxed);
    job.bytes_total.store(bytes_total, Ordering::Relaxed);
    let throttle = Throttle::with_burst(Duration::from_millis(10));
    let pace = sender.pace;
    let mut keys = 0u64;
    // Members of the collection being copied, and which one it is (its key and
    // version): Kvrocks sends a collection as ⌈members / 16⌉ commands.
    let mut members = 0u64;
    let mut collection: Vec<u8> = Vec::new();
    for (first, last) in job.slots.ranges() {
        let (start, end) = slot_range_bounds(first, last);
        for cf in Cf::ALL {
            let mut batch = storage.batch();
            let mut iter = storage.scan_iter(cf, &start, Some(&end), Some(snapshot));
            while let (Some(key), Some(value)) = (iter.key(), iter.value()) {
                batch.put(cf, key, value);
                let mut full = batch.size_in_bytes() as u64 >= pace.batch_bytes();
                let commands_per_sec = pace.commands_per_sec.load(Ordering::Relaxed);
                let command = match cf {
                    Cf::Metadata => {
                        keys += 1;
                        job.keys_sent.fetch_add(1, Ordering::Relaxed);
                        true
                    }
                    // Without a limit the members are not counted (a 10-million-member
                    // hash would pay for nothing).
                    Cf::Members if commands_per_sec == 0 => false,
                    Cf::Members => {
                        let owner = ferrokv_storage::encoding::decode_member_key(key)
                            .map_or(0, |m| key.len() - m.member.len());
                        if key[..owner] != collection[..] {
                            collection.clear();
                            collection.extend_from_slice(&key[..owner]);
                            members = 0;
                        }
                        members += 1;
                        // The first 16 go with the key's own command (its metadata).
                        members > 1 && (members - 1).is_multiple_of(ITEMS_PER_COMMAND)
                    }
                    // The score index comes with the members (ZADD carries both).
                    Cf::Scores => false,
                };
                if command && !throttle.try_acquire(1, commands_per_sec) {
                    // Throttled: what is ready goes now, so the copy streams.
                    sender.send_snapshot(&batch)?;
                    batch.clear();
                    full = false;
                    throttle.acquire(1, commands_per_sec);
                }
                if full {
                    sender.send_snapshot(&batch)?;
                    batch.clear();
                }
                iter.next();
            }
            iter.status()?;
            sender.send_snapshot(&batch)?;
        }
    }
    Ok(keys)
}

/// How a cut-over whose commit went unanswered ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    Committed,
    Aborted,
}

/// Settles a cut-over in doubt with the destination at `host:port`: if it holds the
/// slots as imported, the migration committed; otherwise it is told to abort (it
/// deletes what it received) and the migration is rolled back. Retries every 500 ms
/// until the destination answers.
pub fn resolve_in_doubt(
    control: &dyn ClusterControl,
    host: &str,
    port: u16,
    slots: &SlotSet,
) -> Resolution {
    let slots_text = slots.to_string();
    loop {
        let attempt = (|| -> Result<Resolution, LinkError> {
            let mut link = open_link(control, host, port, &control.options())?;
            let state = link.call(&[
                b"CLUSTERX",
                b"MIGRATION",
                b"IMPORTSTATE",
                slots_text.as_bytes(),
            ])?;
            if state == Reply::Bulk(Some(b"imported".to_vec())) {
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

#[cfg(test)]
mod tests {
    //! The job runner against an in-memory destination and a node double over a real
    //! RocksDB: the phases in order, a failure at each step, and both outcomes of a
    //! commit whose reply was lost.

    use super::*;
    use ferrokv_storage::encoding::metadata_key_in_slot;
    use ferrokv_storage::StorageOptions;

    /// Where the scripted destination fails.
    #[derive(Clone, Copy, PartialEq, Eq, Debug)]
    enum FailAt {
        Nowhere,
        Connect,
        ImportStart,
        /// The n-th APPLYBATCH (from 1).
        Batch(usize),
        /// The commit's reply is lost; IMPORTSTATE then answers `imported` or not.
        CommitLost {
            committed: bool,
        },
        /// The destination does not know APPLYSST (an older version).
        NoSst,
    }

    #[derive(Default)]
    struct Destinations {
        /// Every command the destination received, as `NAME SUB` text.
        calls: Mutex<Vec<String>>,
        batches: AtomicU64,
        connects: AtomicU64,
    }

    struct Fake {
        shared: Arc<Destinations>,
        fail: FailAt,
        /// Replies to pipelined commands, not yet received.
        pending: VecDeque<Result<Reply, LinkError>>,
    }

    impl Destination for Fake {
        fn send(&mut self, args: &[&[u8]]) -> Result<(), LinkError> {
            let reply = self.call(args);
            self.pending.push_back(reply);
            Ok(())
        }

        fn receive(&mut self) -> Result<Reply, LinkError> {
            self.pending.pop_front().unwrap_or(Err(LinkError::Protocol))
        }

        fn call(&mut self, args: &[&[u8]]) -> Result<Reply, LinkError> {
            let text = |a: &[u8]| String::from_utf8_lossy(a).into_owned();
            let name = text(args[0]);
            let call = match name.as_str() {
                "CLUSTER" | "CLUSTERX" => {
                    format!("{name} {} {}", text(args[1]), text(args[args.len() - 1]))
                }
                _ => name.clone(),
            };
            self.shared.calls.lock().push(call.clone());
            let refuse = || Err(LinkError::Remote("ERR scripted failure".into()));
            match (call.as_str(), self.fail) {
                ("CLUSTER IMPORT 0", FailAt::ImportStart) => refuse(),
                ("APPLYBATCH", FailAt::Batch(n)) => {
                    let seen = self.shared.batches.fetch_add(1, Ordering::Relaxed) + 1;
                    if seen as usize == n {
                        refuse()
                    } else {
                        Ok(Reply::Status("OK".into()))
                    }
                }
                ("APPLYSST", FailAt::NoSst) => Err(LinkError::Remote(
                    "ERR unknown command 'APPLYSST', with args beginning with: ".into(),
                )),
                ("APPLYBATCH", _) => {
                    self.shared.batches.fetch_add(1, Ordering::Relaxed);
                    Ok(Reply::Status("OK".into()))
                }
                ("CLUSTER IMPORT 1", FailAt::CommitLost { .. }) => {
                    Err(LinkError::Io(std::io::ErrorKind::ConnectionReset.into()))
                }
                (c, FailAt::CommitLost { committed }) if c.starts_with("CLUSTERX MIGRATION") => {
                    let state: &[u8] = if committed { b"imported" } else { b"importing" };
                    Ok(Reply::Bulk(Some(state.to_vec())))
                }
                _ => Ok(Reply::Status("OK".into())),
            }
        }
    }

    struct Node {
        storage: Storage,
        events: Mutex<Vec<&'static str>>,
        throttle: Throttle,
        dest: Arc<Destinations>,
        fail: FailAt,
        /// `snapshot_as_sst` of the options.
        sst: bool,
        _dir: tempfile::TempDir,
    }

    impl Node {
        fn new(fail: FailAt) -> Node {
            let dir = tempfile::tempdir().expect("tempdir");
            let storage = Storage::open(dir.path(), &StorageOptions::default()).expect("open");
            // 300 keys in slots 5 and 6, one in slot 9 (not moving).
            let mut batch = storage.batch();
            for i in 0..300u32 {
                let slot = 5 + (i % 2) as u16;
                batch.put(
                    Cf::Metadata,
                    metadata_key_in_slot(slot, format!("k{i}").as_bytes()),
                    [7u8; 100],
                );
            }
            batch.put(Cf::Metadata, metadata_key_in_slot(9, b"stays"), b"x");
            storage.write(batch).expect("write");
            Node {
                storage,
                events: Mutex::new(Vec::new()),
                throttle: Throttle::default(),
                dest: Arc::default(),
                fail,
                sst: false,
                _dir: dir,
            }
        }

        fn events(&self) -> Vec<&'static str> {
            self.events.lock().clone()
        }

        fn calls(&self) -> Vec<String> {
            self.dest.calls.lock().clone()
        }
    }

    impl ClusterControl for Node {
        fn storage(&self) -> &Storage {
            &self.storage
        }
        fn options(&self) -> Options {
            Options {
                max_jobs: 4,
                // Small batches, so a job ships several.
                batch_size_kb: 4,
                rate_limit_mb: 0,
                sequence_gap: 0,
                fence_max_ms: 1000,
                commands_per_sec: 0,
                snapshot_as_sst: self.sst,
                io_timeout_ms: 1000,
                password: None,
            }
        }
        fn pause_writes(&self, f: &mut dyn FnMut()) {
            self.events.lock().push("pause");
            f();
        }
        fn prepare(&self, _: &SlotSet, _: &str) -> Result<(), ControlError> {
            self.events.lock().push("prepare");
            Ok(())
        }
        fn fence(&self, _: &SlotSet, _: &str) {
            self.events.lock().push("fence");
        }
        fn commit(&self, _: &SlotSet, _: &str) -> Result<(), ControlError> {
            self.events.lock().push("commit");
            Ok(())
        }
        fn abort(&self, _: &SlotSet) {
            self.events.lock().push("abort");
        }
        fn finished(&self, _: &Job) {
            self.events.lock().push("finished");
        }
        fn limiter(&self) -> &Throttle {
            &self.throttle
        }
        fn connect(&self, _: &str, _: u16, _: Duration) -> Result<Box<dyn Destination>, LinkError> {
            self.dest.connects.fetch_add(1, Ordering::Relaxed);
            if self.fail == FailAt::Connect {
                return Err(LinkError::Io(std::io::ErrorKind::ConnectionRefused.into()));
            }
            Ok(Box::new(Fake {
                shared: self.dest.clone(),
                fail: self.fail,
                pending: VecDeque::new(),
            }))
        }
    }

    fn run(fail: FailAt) -> (Arc<Node>, Arc<Job>) {
        let node = Arc::new(Node::new(fail));
        let job = Arc::new(Job::new(
            "1-1".into(),
            SlotSet::parse("5-6").expect("slots"),
            "src".into(),
            "dst".into(),
            "127.0.0.1".into(),
            1,
        ));
        run_job(job.clone(), node.clone());
        (node, job)
    }

    #[test]
    fn a_job_copies_its_slots_then_fences_and_commits() {
        let (node, job) = run(FailAt::Nowhere);
        let status = job.status();
        assert_eq!(status.state, JobState::Success, "{}", status.error);
        assert_eq!(
            node.events(),
            vec!["pause", "prepare", "fence", "commit", "finished"]
        );
        let calls = node.calls();
        assert_eq!(calls.first().map(String::as_str), Some("CLUSTER IMPORT 0"));
        assert_eq!(calls.last().map(String::as_str), Some("CLUSTER IMPORT 1"));
        let batches = calls.iter().filter(|c| *c == "APPLYBATCH").count();
        assert!(
            batches >= 8,
            "300 records of ~110 bytes in 4 KB batches: {batches}"
        );
        assert_eq!(status.keys_total, 300, "slot 9 is not counted");
        assert_eq!(status.keys_sent, 300);
        assert!(status.bytes_total >= 300 * 100, "{}", status.bytes_total);
        assert!(status.bytes_sent as i64 >= status.bytes_total, "{status:?}");
        assert_eq!((status.percent, status.eta_ms), (100, 0));
    }

    #[test]
    fn a_failure_before_the_fence_aborts_and_never_commits() {
        for fail in [
            FailAt::Connect,
            FailAt::ImportStart,
            FailAt::Batch(1),
            FailAt::Batch(5),
        ] {
            let (node, job) = run(fail);
            let status = job.status();
            assert_eq!(status.state, JobState::Fail, "{fail:?}");
            assert!(!status.error.is_empty(), "{fail:?}: a failure says why");
            assert_eq!(
                node.events().last().copied(),
                Some("finished"),
                "{fail:?}: {:?}",
                node.events()
            );
            assert!(node.events().contains(&"abort"), "{fail:?}");
            assert!(!node.events().contains(&"commit"), "{fail:?}");
            assert!(!node.events().contains(&"fence"), "{fail:?}");
            assert!(
                !node.calls().contains(&"CLUSTER IMPORT 1".to_string()),
                "{fail:?}"
            );
        }
        let (_, job) = run(FailAt::Batch(1));
        assert!(job.error().contains("scripted failure"), "{}", job.error());
    }

    #[test]
    fn a_lost_commit_reply_is_settled_with_the_destination() {
        let (node, job) = run(FailAt::CommitLost { committed: true });
        assert_eq!(job.state(), JobState::Success, "{}", job.error());
        assert!(node.events().contains(&"commit"));
        assert!(
            node.calls().contains(&"CLUSTERX MIGRATION 5-6".to_string()),
            "{:?}",
            node.calls()
        );
        assert_eq!(
            node.dest.connects.load(Ordering::Relaxed),
            2,
            "a new link asks"
        );

        let (node, job) = run(FailAt::CommitLost { committed: false });
        assert_eq!(job.state(), JobState::Fail);
        assert!(job.error().contains("rolled back"), "{}", job.error());
        assert!(!node.events().contains(&"commit"));
        assert!(node.events().contains(&"abort"));
        assert_eq!(
            node.calls().last().map(String::as_str),
            Some("CLUSTER IMPORT 2"),
            "the destination is told to drop the import"
        );
    }

    #[test]
    fn the_snapshot_goes_as_sst_records_and_the_tail_as_batches_after_it() {
        for fail in [FailAt::Nowhere, FailAt::NoSst] {
            let mut node = Node::new(fail);
            node.sst = true;
            let node = Arc::new(node);
            // A write captured after the snapshot: it travels in the tail.
            let job = Arc::new(Job::new(
                "1-3".into(),
                SlotSet::parse("5-6").expect("slots"),
                "src".into(),
                "dst".into(),
                "127.0.0.1".into(),
                1,
            ));
            let writer = {
                let node = node.clone();
                std::thread::spawn(move || {
                    for i in 0..50u32 {
                        let mut batch = node.storage.batch();
                        batch.put(
                            Cf::Metadata,
                            metadata_key_in_slot(5, format!("late{i}").as_bytes()),
                            b"v",
                        );
                        node.storage.write(batch).expect("write");
                    }
                })
            };
            run_job(job.clone(), node.clone());
            writer.join().expect("writer");
            assert_eq!(job.state(), JobState::Success, "{fail:?}: {}", job.error());
            let calls = node.calls();
            let data: Vec<&str> = calls
                .iter()
                .map(String::as_str)
                .filter(|c| c.starts_with("APPLY"))
                .collect();
            let last_sst = data.iter().rposition(|c| *c == "APPLYSST");
            let first_batch = data.iter().position(|c| *c == "APPLYBATCH");
            match fail {
                FailAt::NoSst => {
                    assert_eq!(last_sst, Some(0), "one refused try, then batches: {data:?}");
                    assert!(first_batch.is_some());
                }
                _ => {
                    assert!(
                        last_sst.is_some_and(|i| i >= 6),
                        "300 records in 4 KB: {data:?}"
                    );
                    if let Some(first_batch) = first_batch {
                        assert!(
                            first_batch > last_sst.unwrap_or(0),
                            "no tail batch before the snapshot's last records: {data:?}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn a_cancelled_job_ends_cancelled_and_aborts() {
        let node = Arc::new(Node::new(FailAt::Nowhere));
        let job = Arc::new(Job::new(
            "1-2".into(),
            SlotSet::parse("5").expect("slots"),
            "src".into(),
            "dst".into(),
            "127.0.0.1".into(),
            1,
        ));
        job.request_cancel();
        run_job(job.clone(), node.clone());
        assert_eq!(job.state(), JobState::Cancelled);
        assert_eq!(node.events().last().copied(), Some("finished"));
        assert!(node.events().contains(&"abort"));
        assert!(!node.events().contains(&"commit"));
    }
}
