//! The master side: PSYNC decides between a partial sync (the stream from the
//! replica's next sequence) and a full one; the stream and the full-sync file server
//! each run on a thread of their own with blocking I/O, so a slow or dead replica
//! costs no worker and never holds up clients.
//!
//! The wire, after the handshake (`REPLCONF listening-port <port>`):
//! - `PSYNC <replid> <seq>` → `+CONTINUE <replid>` then the stream: arrays
//!   `BATCH <seq> <raw write batch>` in commit order, and `PING <newest seq>` after a
//!   second of silence; the replica sends `REPLCONF ACK <seq>` back. Refused:
//!   `-ERR partial sync refused: <why>`, and the replica full-syncs.
//! - `REPLFULL [<checkpoint id>]` → `*` replid, checkpoint id, then name and size of
//!   each file of a checkpoint; then any number of `REPLFILE <name> <offset>`, each
//!   answered with a bulk of at most `FILE_CHUNK` bytes (paced by
//!   `max-replication-mb`), until the replica closes.

use std::io::{BufReader, Read, Seek, SeekFrom, Write};
use std::net::TcpStream;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use ferrokv_protocol::{read_reply, Frame, ProtocolVersion, Reply};
use tracing::{info, warn};

use super::state::{Checkpoint, Handoff, Peer};
use crate::error::CommandError;
use crate::server::Server;

/// Largest piece of a file one REPLFILE returns.
pub const FILE_CHUNK: usize = 4 << 20;

/// How long a checkpoint is reused for replicas that ask for a full sync (several
/// replicas at once share it) or resume one.
const CHECKPOINT_REUSE: Duration = Duration::from_secs(60);

/// Stream bytes buffered before a write to the socket.
const STREAM_BUFFER: usize = 1 << 20;

/// `PSYNC <replid> <seq>`: a partial sync from `seq + 1` if this node's history has
/// the replica's last write and its WAL still holds what follows.
pub fn psync(server: &Server, replid: &str, seq: u64) -> Result<Handoff, CommandError> {
    let repl = &server.replication;
    if repl.is_replica() {
        return Err(CommandError::err(
            "partial sync refused: this node is a replica",
        ));
    }
    let storage = server.db.storage();
    // Decided with no ingestion under way, and counted as starting before one can
    // begin (`Replication::ingest_unreplicated`).
    let _gate = repl.ingest_gate.lock();
    if seq < repl.ingest_mark(storage) {
        repl.sync_partial_err.fetch_add(1, Ordering::Relaxed);
        info!(
            "replication: partial sync from {seq} ({replid}) refused: files were ingested after it"
        );
        return Err(CommandError::err(
            "partial sync refused: data was ingested as files after that sequence",
        ));
    }
    // Writes applied but not yet flushed are not in the WAL file yet: a replica level
    // with them must not be sent to a full sync for it.
    storage.make_durable()?;
    let latest = storage.latest_sequence();
    let (my_replid, decision) = {
        let state = repl.state.lock();
        (state.replid.clone(), state.accepts(replid, seq, latest))
    };
    let refused = |why: String| {
        repl.sync_partial_err.fetch_add(1, Ordering::Relaxed);
        info!("replication: partial sync from {seq} ({replid}) refused: {why}");
        Err(CommandError::err(format!("partial sync refused: {why}")))
    };
    if let Err(refusal) = decision {
        return refused(format!("{refusal:?}"));
    }
    if seq < latest {
        match storage.wal_since(seq + 1).and_then(|mut r| r.next_batch()) {
            Ok(Some(batch)) if batch.sequence == seq + 1 => {}
            Ok(_) => return refused("the WAL does not start there".into()),
            Err(e) => return refused(e.to_string()),
        }
    }
    repl.sync_partial_ok.fetch_add(1, Ordering::Relaxed);
    repl.streams_starting.fetch_add(1, Ordering::AcqRel);
    Ok(Handoff::Stream {
        from: seq + 1,
        replid: my_replid,
        listening_port: 0,
        announced_ip: None,
    })
}

/// Runs a handed-off replication connection on a thread of its own.
pub fn spawn(server: Arc<Server>, socket: tokio::net::TcpStream, handoff: Handoff, ip: String) {
    let socket = match socket.into_std().and_then(|s| {
        s.set_nonblocking(false)?;
        Ok(s)
    }) {
        Ok(s) => s,
        Err(e) => {
            warn!("replication: cannot take the connection of {ip}: {e}");
            if matches!(handoff, Handoff::Stream { .. }) {
                server
                    .replication
                    .streams_starting
                    .fetch_sub(1, Ordering::AcqRel);
            }
            return;
        }
    };
    let name = match &handoff {
        Handoff::Stream { .. } => "repl-stream",
        Handoff::FullSync { .. } => "repl-fullsync",
    };
    let repl_server = server.clone();
    let spawned = std::thread::Builder::new()
        .name(name.into())
        .spawn(move || match handoff {
            Handoff::Stream {
                from,
                replid,
                listening_port,
                announced_ip,
            } => stream(
                &server,
                socket,
                from,
                &replid,
                announced_ip.unwrap_or(ip),
                listening_port,
            ),
            Handoff::FullSync { resume } => {
                if let Err(e) = serve_files(&server, socket, resume) {
                    info!("replication: full sync to {ip} ended: {e}");
                }
            }
        });
    if let Err(e) = spawned {
        warn!("replication: cannot start a thread: {e}");
        if name == "repl-stream" {
            repl_server
                .replication
                .streams_starting
                .fetch_sub(1, Ordering::AcqRel);
        }
    }
}

fn encode(frame: &Frame, out: &mut BytesMut) {
    frame.encode(ProtocolVersion::Resp2, out);
}

fn bulk(text: &str) -> Frame {
    Frame::bulk_from_str(text)
}

/// Streams every committed batch from `from` on to one replica, and reads its acks.
fn stream(server: &Arc<Server>, socket: TcpStream, from: u64, replid: &str, ip: String, port: u16) {
    let repl = &server.replication;
    let peer = Arc::new(Peer {
        ip: ip.clone(),
        port,
        // Nothing counts for WAIT until the replica says what is in its WAL.
        acked: std::sync::atomic::AtomicU64::new(0),
        closed: Default::default(),
        socket: parking_lot::Mutex::new(socket.try_clone().ok()),
    });
    repl.peers.lock().push(peer.clone());
    repl.streams_starting.fetch_sub(1, Ordering::AcqRel);
    info!("replication: streaming to {ip}:{port} from sequence {from}");
    if let Ok(reader) = socket.try_clone() {
        let (server, peer) = (server.clone(), peer.clone());
        let _ = std::thread::Builder::new()
            .name("repl-acks".into())
            .spawn(move || read_acks(&server, reader, &peer));
    }
    let reason = match write_stream(server, &socket, from, replid, &peer) {
        Ok(()) => "replica gone".to_string(),
        Err(e) => e,
    };
    peer.closed.store(true, Ordering::Release);
    let _ = socket.shutdown(std::net::Shutdown::Both);
    repl.peers.lock().retain(|p| !Arc::ptr_eq(p, &peer));
    repl.acks.send_modify(|n| *n += 1);
    info!("replication: stream to {ip}:{port} ended: {reason}");
}

fn write_stream(
    server: &Arc<Server>,
    mut socket: &TcpStream,
    from: u64,
    replid: &str,
    peer: &Peer,
) -> Result<(), String> {
    let repl = &server.replication;
    let storage = server.db.storage();
    let timeout = Duration::from_secs(server.config.read().repl_timeout.max(1));
    socket
        .set_write_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    let mut out = BytesMut::with_capacity(64 * 1024);
    out.extend_from_slice(format!("+CONTINUE {replid}\r\n").as_bytes());
    let mut next = from;
    let mut last_send = Instant::now() - Duration::from_secs(1);
    loop {
        if peer.closed.load(Ordering::Acquire) || server.replication.is_replica() {
            return Ok(());
        }
        let generation = repl.wal_generation();
        let mut reader = storage.wal_since(next).map_err(|e| e.to_string())?;
        while let Some(batch) = reader.next_batch().map_err(|e| e.to_string())? {
            encode(
                &Frame::Array(vec![
                    bulk("BATCH"),
                    bulk(&batch.sequence.to_string()),
                    Frame::bulk(Bytes::from(batch.data)),
                ]),
                &mut out,
            );
            next = batch.sequence + batch.count;
            if out.len() >= STREAM_BUFFER {
                socket.write_all(&out).map_err(|e| e.to_string())?;
                out.clear();
                last_send = Instant::now();
            }
        }
        if out.is_empty() && last_send.elapsed() >= Duration::from_secs(1) {
            encode(
                &Frame::Array(vec![bulk("PING"), bulk(&(next - 1).to_string())]),
                &mut out,
            );
        }
        if !out.is_empty() {
            socket.write_all(&out).map_err(|e| e.to_string())?;
            out.clear();
            last_send = Instant::now();
        }
        repl.wait_wal(generation, Duration::from_millis(500));
    }
}

/// A request read on a replication link, as text words.
fn text_words(request: &Reply) -> Vec<String> {
    request
        .words()
        .into_iter()
        .map(|w| String::from_utf8_lossy(w).into_owned())
        .collect()
}

/// Reads `REPLCONF ACK <seq>` from a replica until it goes away.
fn read_acks(server: &Server, socket: TcpStream, peer: &Peer) {
    let timeout = server.config.read().repl_timeout.max(1);
    let _ = socket.set_read_timeout(Some(Duration::from_secs(timeout)));
    let mut reader = BufReader::new(&socket);
    while !peer.closed.load(Ordering::Acquire) {
        let Ok(request) = read_reply(&mut reader, 1024) else {
            break;
        };
        if let [replconf, ack, seq] = text_words(&request).as_slice() {
            if replconf.eq_ignore_ascii_case("replconf") && ack.eq_ignore_ascii_case("ack") {
                match seq.parse::<u64>() {
                    // A replica ahead of its master applied something the master never
                    // wrote: it diverged, and counts for nothing.
                    Ok(seq) if seq <= server.db.storage().latest_sequence() => {
                        peer.acked.fetch_max(seq, Ordering::AcqRel);
                        server.replication.acks.send_modify(|n| *n += 1);
                    }
                    _ => break,
                }
            }
        }
    }
    peer.closed.store(true, Ordering::Release);
    let _ = socket.shutdown(std::net::Shutdown::Both);
}

/// The checkpoint to serve: `resume`'s if it is still kept, a recent one, or a new one
/// (replacing the old).
fn checkpoint_for(server: &Server, resume: Option<&str>) -> Result<Checkpoint, String> {
    // Not across an SST ingestion (which drops the kept checkpoint once it is done).
    let _gate = server.replication.ingest_gate.lock();
    {
        let mut current = server.replication.checkpoints.0.lock();
        let replid = server.replication.replid();
        if let Some(cp) = current.as_ref().filter(|cp| cp.replid == replid) {
            if resume == Some(cp.id.as_str()) || cp.made.elapsed() < CHECKPOINT_REUSE {
                // Kvrocks' words, which operators grep for.
                info!("replication: Using current existing checkpoint {}", cp.id);
                return Ok(cp.clone());
            }
        }
        let root = server
            .replication
            .data_dir()
            .join("replication-checkpoints");
        // Only one is kept: the previous one (and any left by a crash) goes.
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).map_err(|e| e.to_string())?;
        let id = format!("{}", ferrokv_types::now_ms());
        let dir = root.join(&id);
        server
            .db
            .storage()
            .checkpoint(&dir)
            .map_err(|e| e.to_string())?;
        let mut files = Vec::new();
        for entry in std::fs::read_dir(&dir).map_err(|e| e.to_string())? {
            let entry = entry.map_err(|e| e.to_string())?;
            let meta = entry.metadata().map_err(|e| e.to_string())?;
            if meta.is_file() {
                files.push((entry.file_name().to_string_lossy().into_owned(), meta.len()));
            }
        }
        files.sort();
        let cp = Checkpoint {
            id,
            dir,
            replid,
            files,
            made: Instant::now(),
        };
        info!(
            "replication: checkpoint {} for a full sync: {} files, {} bytes",
            cp.id,
            cp.files.len(),
            cp.files.iter().map(|f| f.1).sum::<u64>()
        );
        *current = Some(cp.clone());
        Ok(cp)
    }
}

/// Serves a checkpoint's files to a replica doing a full sync.
fn serve_files(
    server: &Arc<Server>,
    socket: TcpStream,
    resume: Option<String>,
) -> Result<(), String> {
    let repl = &server.replication;
    let timeout = Duration::from_secs(server.config.read().repl_timeout.max(1));
    socket
        .set_read_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    socket
        .set_write_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    let mut writer = &socket;
    let mut out = BytesMut::new();
    let cp = match checkpoint_for(server, resume.as_deref()) {
        Ok(cp) => cp,
        Err(e) => {
            encode(
                &Frame::error(format!("ERR cannot make a checkpoint: {e}")),
                &mut out,
            );
            let _ = writer.write_all(&out);
            return Err(e);
        }
    };
    repl.sync_full.fetch_add(1, Ordering::Relaxed);
    let mut listing = vec![bulk(&cp.replid), bulk(&cp.id)];
    for (name, size) in &cp.files {
        listing.push(bulk(name));
        listing.push(bulk(&size.to_string()));
    }
    encode(&Frame::Array(listing), &mut out);
    writer.write_all(&out).map_err(|e| e.to_string())?;
    let mut reader = BufReader::new(&socket);
    let mut chunk = vec![0u8; FILE_CHUNK];
    loop {
        let request = match read_reply(&mut reader, 4096) {
            Ok(request) => request,
            Err(_) => return Ok(()),
        };
        out.clear();
        match text_words(&request).as_slice() {
            [cmd, name, offset] if cmd.eq_ignore_ascii_case("replfile") => {
                let listed = cp.files.iter().any(|(n, _)| n == name);
                let offset = offset.parse::<u64>().ok();
                match (listed, offset) {
                    (true, Some(offset)) => {
                        let n = read_chunk(&cp.dir.join(name), offset, &mut chunk)
                            .map_err(|e| format!("reading {name}: {e}"))?;
                        let rate = server.config.read().max_replication_mb << 20;
                        repl.throttle.acquire(n as u64, rate);
                        encode(&Frame::bulk(Bytes::copy_from_slice(&chunk[..n])), &mut out);
                    }
                    _ => encode(&Frame::error("ERR no such file or offset"), &mut out),
                }
            }
            _ => encode(&Frame::error("ERR unknown full sync request"), &mut out),
        }
        writer.write_all(&out).map_err(|e| e.to_string())?;
    }
}

fn read_chunk(path: &std::path::Path, offset: u64, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut file = std::fs::File::open(path)?;
    file.seek(SeekFrom::Start(offset))?;
    let mut filled = 0;
    while filled < buf.len() {
        match file.read(&mut buf[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}
