//! The replica side: one thread follows the master. It connects, asks to continue
//! from its last applied batch (PSYNC), full-syncs when refused (the master's
//! checkpoint, received into `<dir>/replication-staging`, resumable, swapped in), then
//! applies the stream batch by batch and acknowledges what is applied and in its WAL.
//! On any error it drops the link and tries again a second later.

use std::io::{BufReader, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferrokv_protocol::{read_reply, Reply, ReplyError};
use parking_lot::Mutex;
use thiserror::Error;
use tracing::{info, warn};

use super::history::ReplState;
use super::state::{Follower, LinkState};
use crate::server::Server;

const STAGING: &str = "replication-staging";
/// Records which master checkpoint the staging directory holds.
const STAGING_SOURCE: &str = ".source";

#[derive(Debug, Error)]
pub enum FollowError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("master replied: {0}")]
    Master(String),
    #[error("malformed reply from the master: {0}")]
    Protocol(&'static str),
    #[error("{0}")]
    Storage(#[from] ferrokv_storage::StorageError),
    #[error("stopped")]
    Stopped,
}

/// Starts following `master`.
pub(super) fn start(server: Arc<Server>, master: (String, u16)) -> Follower {
    let stop = Arc::new(AtomicBool::new(false));
    let socket = Arc::new(Mutex::new(None));
    let thread = {
        let (stop, socket, master) = (stop.clone(), socket.clone(), master.clone());
        std::thread::Builder::new()
            .name("repl-follow".into())
            .spawn(move || follow(&server, &master, &stop, &socket))
            .map_err(|e| warn!("replication: cannot start the follower: {e}"))
            .ok()
    };
    Follower {
        master,
        stop,
        socket,
        thread,
    }
}

fn follow(
    server: &Arc<Server>,
    master: &(String, u16),
    stop: &AtomicBool,
    slot: &Mutex<Option<TcpStream>>,
) {
    let link = &server.replication.link;
    while !stop.load(Ordering::Acquire) {
        link.set_state(LinkState::Connecting);
        match session(server, master, stop, slot) {
            Err(FollowError::Stopped) => break,
            Err(e) if !stop.load(Ordering::Acquire) => {
                warn!("replication: link with {}:{} lost: {e}", master.0, master.1)
            }
            _ => {}
        }
        slot.lock().take();
        link.set_state(LinkState::Connect);
        server.waiters.wake_all();
        let retry = Instant::now() + Duration::from_secs(1);
        while Instant::now() < retry && !stop.load(Ordering::Acquire) {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// A blocking RESP connection to the master.
struct MasterLink {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl MasterLink {
    fn connect(
        master: &(String, u16),
        timeout: Duration,
        slot: &Mutex<Option<TcpStream>>,
    ) -> Result<MasterLink, FollowError> {
        let addr = (master.0.as_str(), master.1)
            .to_socket_addrs()?
            .next()
            .ok_or(FollowError::Protocol("unresolvable master address"))?;
        // Short: stopping the follower (a role change) waits for this thread.
        let stream = TcpStream::connect_timeout(&addr, timeout.min(Duration::from_secs(3)))?;
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
        stream.set_nodelay(true)?;
        *slot.lock() = Some(stream.try_clone()?);
        Ok(MasterLink {
            reader: BufReader::with_capacity(1 << 20, stream.try_clone()?),
            writer: stream,
        })
    }

    fn send(&mut self, args: &[&[u8]]) -> Result<(), FollowError> {
        self.writer
            .write_all(&ferrokv_protocol::encode_command(args))?;
        Ok(())
    }

    fn read(&mut self, max: usize) -> Result<Reply, FollowError> {
        read_reply(&mut self.reader, max).map_err(|e| match e {
            ReplyError::Io(e) => FollowError::Io(e),
            ReplyError::Remote(text) => FollowError::Master(text),
            ReplyError::Malformed(what) => FollowError::Protocol(what),
            ReplyError::TooLarge(_) => FollowError::Protocol("reply too large"),
        })
    }

    fn call(&mut self, args: &[&[u8]]) -> Result<Reply, FollowError> {
        self.send(args)?;
        self.read(1 << 20)
    }
}

fn session(
    server: &Arc<Server>,
    master: &(String, u16),
    stop: &AtomicBool,
    slot: &Mutex<Option<TcpStream>>,
) -> Result<(), FollowError> {
    let (timeout, masterauth, port, announce_ip) = {
        let config = server.config.read();
        let port = match config.replica_announce_port {
            0 => config.port,
            p => p,
        };
        (
            Duration::from_secs(config.repl_timeout.max(1)),
            config.masterauth.clone(),
            port,
            config.replica_announce_ip.clone(),
        )
    };
    let mut link = MasterLink::connect(master, timeout, slot)?;
    if !masterauth.is_empty() {
        link.call(&[b"AUTH", masterauth.as_bytes()])?;
    }
    link.call(&[b"REPLCONF", b"listening-port", port.to_string().as_bytes()])?;
    if !announce_ip.is_empty() {
        link.call(&[b"REPLCONF", b"ip-address", announce_ip.as_bytes()])?;
    }
    let storage = server.db.storage();
    // Every command that passed the replica check while this node was still a master
    // has finished once the exclusive gate is had: its write is in the sequence sent
    // below (and makes the master refuse to continue, as it should).
    // Waited for in steps: a role change (SLAVEOF, SETNODES) runs under the shared
    // gate and joins this thread after setting `stop`.
    while server
        .exec_gate
        .try_write_for(Duration::from_millis(10))
        .is_none()
    {
        if stop.load(Ordering::Acquire) {
            return Err(FollowError::Stopped);
        }
    }
    loop {
        if stop.load(Ordering::Acquire) {
            return Err(FollowError::Stopped);
        }
        // What is applied is in the WAL before the master counts it for WAIT.
        storage.make_durable()?;
        let replid = server.replication.replid();
        let seq = storage.latest_sequence();
        match link.call(&[b"PSYNC", replid.as_bytes(), seq.to_string().as_bytes()]) {
            Ok(Reply::Status(status)) => {
                let Some(new_id) = status.strip_prefix("CONTINUE ") else {
                    return Err(FollowError::Protocol("unexpected PSYNC reply"));
                };
                adopt_history(server, new_id.trim())?;
                info!(
                    "replication: continuing from sequence {seq} with {}:{}",
                    master.0, master.1
                );
                return apply_stream(server, &mut link, stop);
            }
            Err(FollowError::Master(why)) if why.contains("partial sync refused") => {
                info!(
                    "replication: {why}; full sync from {}:{}",
                    master.0, master.1
                );
                // A separate connection: this one stays idle meanwhile, and may time
                // out; a new session then starts over from PSYNC.
                full_sync(server, master, stop, slot, timeout, &masterauth)?;
                link = MasterLink::connect(master, timeout, slot)?;
                if !masterauth.is_empty() {
                    link.call(&[b"AUTH", masterauth.as_bytes()])?;
                }
                link.call(&[b"REPLCONF", b"listening-port", port.to_string().as_bytes()])?;
                if !announce_ip.is_empty() {
                    link.call(&[b"REPLCONF", b"ip-address", announce_ip.as_bytes()])?;
                }
            }
            Err(e) => return Err(e),
            Ok(_) => return Err(FollowError::Protocol("unexpected PSYNC reply")),
        }
    }
}

/// The master accepted this node's history: it is the master's from now on.
fn adopt_history(server: &Server, replid: &str) -> Result<(), FollowError> {
    let repl = &server.replication;
    let mut state = repl.state.lock();
    if state.replid != replid {
        state.replid = replid.to_string();
        state.prev = None;
        repl.save(&state)?;
    }
    drop(state);
    repl.link.serving.store(true, Ordering::Release);
    Ok(())
}

/// Applies the stream until the link breaks or the follower is stopped.
fn apply_stream(
    server: &Arc<Server>,
    link: &mut MasterLink,
    stop: &AtomicBool,
) -> Result<(), FollowError> {
    let repl = &server.replication;
    let storage = server.db.storage();
    let max = server.config.read().proto_max_bulk_len.max(1 << 20) + 1024;
    repl.link.set_state(LinkState::Connected);
    server.waiters.wake_all();
    let mut acked = 0;
    let mut last_ack = Instant::now();
    loop {
        if stop.load(Ordering::Acquire) {
            return Err(FollowError::Stopped);
        }
        let reply = link.read(max)?;
        repl.link
            .last_io_ms
            .store(ferrokv_types::now_ms(), Ordering::Relaxed);
        match reply.words().as_slice() {
            [kind, seq, data] if kind.eq_ignore_ascii_case(b"BATCH") => {
                let seq = std::str::from_utf8(seq)
                    .ok()
                    .and_then(|s| s.parse::<u64>().ok())
                    .ok_or(FollowError::Protocol("bad batch sequence"))?;
                storage.apply_replicated(seq, data)?;
                super::records::after_batch(server, data);
            }
            [kind, _] if kind.eq_ignore_ascii_case(b"PING") => {}
            _ => return Err(FollowError::Protocol("unknown stream item")),
        }
        // Acknowledged once nothing more is waiting: everything applied is then made
        // durable with one WAL flush, and the master learns it at once (WAIT).
        let latest = storage.latest_sequence();
        if link.reader.buffer().is_empty()
            && (latest != acked || last_ack.elapsed() >= Duration::from_secs(1))
        {
            storage.make_durable()?;
            link.send(&[b"REPLCONF", b"ACK", latest.to_string().as_bytes()])?;
            acked = latest;
            last_ack = Instant::now();
        }
    }
}

/// Receives the master's checkpoint into the staging directory (keeping the files of
/// an interrupted transfer of the same master), then swaps it in.
fn full_sync(
    server: &Arc<Server>,
    master: &(String, u16),
    stop: &AtomicBool,
    slot: &Mutex<Option<TcpStream>>,
    timeout: Duration,
    masterauth: &str,
) -> Result<(), FollowError> {
    let repl = &server.replication;
    repl.link.set_state(LinkState::Sync);
    let dir = repl.data_dir().to_path_buf();
    let staging = dir.join(STAGING);
    std::fs::create_dir_all(&staging)?;
    let previous = std::fs::read_to_string(staging.join(STAGING_SOURCE)).unwrap_or_default();
    let mut previous = previous.split_whitespace();
    let (prev_replid, prev_id) = (previous.next().map(str::to_string), previous.next());

    let mut link = MasterLink::connect(master, timeout, slot)?;
    if !masterauth.is_empty() {
        link.call(&[b"AUTH", masterauth.as_bytes()])?;
    }
    let listing = match prev_id {
        Some(id) => link.call(&[b"REPLFULL", id.as_bytes()])?,
        None => link.call(&[b"REPLFULL"])?,
    };
    let fields = listing.words();
    if fields.len() < 2 || !fields.len().is_multiple_of(2) {
        return Err(FollowError::Protocol("bad REPLFULL reply"));
    }
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let replid = text(fields[0]);
    let checkpoint = text(fields[1]);
    let mut files = Vec::new();
    for pair in fields[2..].chunks(2) {
        let name = text(pair[0]);
        let size: u64 = text(pair[1])
            .parse()
            .map_err(|_| FollowError::Protocol("bad file size"))?;
        if name.is_empty() || name.contains('/') || name.starts_with('.') {
            return Err(FollowError::Protocol("bad file name"));
        }
        files.push((name, size));
    }
    // Files of another master's checkpoint are of no use.
    if prev_replid.as_deref() != Some(replid.as_str()) {
        clear_dir(&staging)?;
    }
    std::fs::write(
        staging.join(STAGING_SOURCE),
        format!("{replid} {checkpoint}\n"),
    )?;
    for entry in std::fs::read_dir(&staging)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name != STAGING_SOURCE && !files.iter().any(|(n, _)| *n == name) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    let total: u64 = files.iter().map(|f| f.1).sum();
    let started = Instant::now();
    let mut fetched = 0u64;
    let mut skipped = 0;
    repl.link.sync_total_bytes.store(total, Ordering::Relaxed);
    repl.link.sync_read_bytes.store(0, Ordering::Relaxed);
    for (name, size) in &files {
        let path = staging.join(name);
        let have = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        // SST files never change once written, so a part received earlier is kept;
        // the small descriptor files are fetched whole every time.
        let mut offset = if name.ends_with(".sst") && have <= *size {
            have
        } else {
            0
        };
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(offset == 0)
            .open(&path)?;
        std::io::Seek::seek(&mut file, std::io::SeekFrom::Start(offset))?;
        if offset == *size {
            skipped += 1;
        }
        while offset < *size {
            if stop.load(Ordering::Acquire) {
                return Err(FollowError::Stopped);
            }
            let reply =
                link.call_large(&[b"REPLFILE", name.as_bytes(), offset.to_string().as_bytes()])?;
            let Reply::Bulk(Some(data)) = reply else {
                return Err(FollowError::Protocol("bad REPLFILE reply"));
            };
            if data.is_empty() {
                return Err(FollowError::Protocol("file shorter than listed"));
            }
            file.write_all(&data)?;
            offset += data.len() as u64;
            fetched += data.len() as u64;
            repl.link.sync_read_bytes.store(fetched, Ordering::Relaxed);
        }
        file.sync_all()?;
    }
    drop(link);
    slot.lock().take();
    info!(
        "replication: received checkpoint {checkpoint} ({total} bytes, {fetched} fetched, skip count: {skipped}) in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    // The received database goes to a directory of its own; replication.conf naming
    // it (with the master's history) is the commit point.
    let name = format!("db-{}", ferrokv_types::now_ms());
    let target = dir.join(&name);
    let _ = std::fs::remove_file(staging.join(STAGING_SOURCE));
    std::fs::rename(&staging, &target)?;
    let sequence = ferrokv_storage::wal::sequence_of(&target)?;
    {
        let mut state = repl.state.lock();
        let mut next: ReplState = state.clone();
        next.replid = replid;
        next.prev = None;
        next.db_dir = Some(name);
        repl.save(&next)?;
        *state = next;
    }
    let old_path = server.db.storage().path();
    // The replaced database's files go once its last reader is done: whole if it was
    // a `db-*` directory, only RocksDB's files if it was the data directory.
    server
        .db
        .storage()
        .swap_in(&target, old_path.parent() == Some(dir.as_path()))?;
    repl.checkpoints.clear();
    super::records::reload(server);
    repl.link.full_syncs.fetch_add(1, Ordering::Relaxed);
    repl.link.serving.store(true, Ordering::Release);
    server.waiters.wake_all();
    info!("replication: full sync done, at sequence {sequence}");
    Ok(())
}

impl MasterLink {
    fn call_large(&mut self, args: &[&[u8]]) -> Result<Reply, FollowError> {
        self.send(args)?;
        self.read(super::master::FILE_CHUNK + 1024)
    }
}

fn clear_dir(dir: &Path) -> std::io::Result<()> {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir)
}
