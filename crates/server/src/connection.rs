//! One client connection: read, parse every complete request in the buffer (pipelining),
//! execute, write all replies at once. Idle or slow clients only cost their own task.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use ferrokv_protocol::{Frame, RequestParser};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tracing::{debug, warn};

use crate::blocking::{BlockSpec, OnTimeout, Wake};
use crate::client::{Action, Client};
use crate::dispatch::{self, Batchable};
use crate::server::Server;
use crate::workers::Placement;

/// Replies are flushed when this much is pending even if more requests are buffered,
/// so a huge pipeline does not grow the output buffer without bound.
const FLUSH_THRESHOLD: usize = 64 * 1024;

/// Buffers grown past this by one large request or reply are given back when idle.
const SHRINK_ABOVE: usize = 1024 * 1024;

/// Longest run of pipelined GETs, or of mergeable writes, served as one storage
/// operation.
const MAX_RUN: usize = 256;

/// Longest first argument taken as the key a writer moves by (workers.rs).
const MAX_PLACEMENT_KEY: usize = 512;

pub async fn serve(server: Arc<Server>, socket: TcpStream, addr: SocketAddr) {
    let _ = socket.set_nodelay(true);
    let local = socket.local_addr().unwrap_or(server.local_addr);
    let (max_clients, requirepass_empty, max_bulk, timeout_secs) = {
        let config = server.config.read();
        (
            config.maxclients,
            config.requirepass.is_empty(),
            config.proto_max_bulk_len,
            config.timeout,
        )
    };
    let mut socket = socket;
    if server.clients.count() >= max_clients {
        server
            .stats
            .rejected_connections
            .fetch_add(1, Ordering::Relaxed);
        let _ = socket
            .write_all(b"-ERR max number of clients reached\r\n")
            .await;
        return;
    }
    let info = server.clients.register(addr, local);
    info.fd.store(
        i64::from(std::os::fd::AsRawFd::as_raw_fd(&socket)),
        Ordering::Relaxed,
    );
    debug!("client {} connected from {addr}", info.id);
    let conn = Conn {
        client: Client::new(info, requirepass_empty),
        parser: RequestParser::new(max_bulk),
        input: BytesMut::with_capacity(4 * 1024),
        placement: Placement::default(),
        last_write_key: None,
        addr,
        timeout_secs,
    };
    drive(server, socket, conn).await
}

/// What a connection carries when it moves to another worker between two requests
/// (workers.rs): its client state, its unparsed input, what it did lately.
struct Conn {
    client: Client,
    parser: RequestParser,
    input: BytesMut,
    placement: Placement,
    /// A key of its latest write: a writer moves to the write worker of that key.
    last_write_key: Option<Bytes>,
    addr: SocketAddr,
    timeout_secs: u64,
}

/// How a session ended.
enum End {
    Closed(&'static str),
    /// To move to worker `.0`.
    Move(usize),
}

/// Serves the connection on the calling worker until it closes or moves.
fn drive(
    server: Arc<Server>,
    mut socket: TcpStream,
    mut conn: Conn,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> {
    Box::pin(async move {
        let workers = server.workers.get().cloned();
        let here = crate::workers::current();
        // Counted while the session runs, however it ends (a panicking command too).
        let stay = workers
            .as_ref()
            .zip(here)
            .map(|(workers, here)| workers.stay(here));
        if let Some(here) = here {
            conn.client
                .info
                .worker
                .store(here as u64, Ordering::Relaxed);
        }
        let end = session(&server, &mut conn, &mut socket).await;
        drop(stay);
        let reason = match end {
            End::Closed(reason) => reason,
            End::Move(to) => {
                let Some(workers) = workers else {
                    return close(&server, conn.client);
                };
                // Taken off this worker's reactor; the new worker registers it with its own.
                match socket.into_std() {
                    Ok(socket) => {
                        let addr = conn.addr;
                        workers.handle(to).spawn(async move {
                            match TcpStream::from_std(socket) {
                                Ok(socket) => drive(server, socket, conn).await,
                                Err(e) => {
                                    warn!("a worker cannot take the connection from {addr}: {e}");
                                    close(&server, conn.client);
                                }
                            }
                        });
                    }
                    Err(e) => {
                        warn!("cannot move the connection from {}: {e}", conn.addr);
                        close(&server, conn.client);
                    }
                }
                return;
            }
        };
        let mut client = conn.client;
        debug!("client {} closed: {reason}", client.id());
        if let Some(Action::Replicate(handoff)) =
            client.action.take_if(|a| matches!(a, Action::Replicate(_)))
        {
            server.clients.unregister(client.id());
            crate::replication::master::spawn(
                server.clone(),
                socket,
                handoff,
                conn.addr.ip().to_string(),
            );
            return;
        }
        close(&server, client);
    })
}

/// Forgets a connection that is gone.
fn close(server: &Arc<Server>, mut client: Client) {
    server.watches.unwatch(client.id(), &client.watched);
    let id = client.id();
    client.pubsub.clear(&server.pubsub, id);
    if let Some(slots) = client.importing.take() {
        // The source went away before committing: drop what it sent.
        crate::migration::import::link_closed(server, &slots);
    }
    server.clients.unregister(id);
    if matches!(client.action, Some(Action::Shutdown)) {
        server.request_shutdown();
    }
}

async fn session(server: &Arc<Server>, conn: &mut Conn, socket: &mut TcpStream) -> End {
    let Conn {
        client,
        parser,
        input,
        placement,
        last_write_key,
        timeout_secs,
        ..
    } = conn;
    let mut output = BytesMut::with_capacity(4 * 1024);
    let info = client.info.clone();
    let idle_limit = (*timeout_secs > 0).then(|| Duration::from_secs(*timeout_secs));
    // Where this connection may move (nowhere with one worker, or on a thread that is
    // not a worker).
    let placing = server
        .workers
        .get()
        .filter(|w| w.count() > 1)
        .zip(crate::workers::current());
    // A writer moves by its key only from a worker that is not a write worker.
    let records_key = placing.is_some_and(|(workers, here)| !workers.is_write_worker(here));
    // Consecutive GETs, or consecutive mergeable writes (`Batchable`), of a pipeline,
    // served together when the run ends.
    let mut run: Vec<Vec<Bytes>> = Vec::new();
    let mut run_kind = None;
    loop {
        loop {
            let parsed = parser.parse(input);
            let next_kind = match &parsed {
                // A subscribed connection's commands are checked one by one, and so are
                // all commands while CLIENT PAUSE is in force.
                // Keyspace notifications are derived per command (CommandSpec::run),
                // and PERFLOG samples commands one by one.
                Ok(Some(args))
                    if !client.pubsub.active()
                        && !server.pause.active()
                        && !server.notify.enabled()
                        && !server.perflog.active() =>
                {
                    Batchable::of(args)
                }
                _ => None,
            };
            if placing.is_some() {
                if let Ok(Some(args)) = &parsed {
                    let write = match next_kind {
                        Some(kind) => kind == Batchable::Write,
                        None => is_write(args),
                    };
                    placement.note(write);
                    // Only a connection about to move needs its key; a copy, so that
                    // the input buffer is not held by it. A long argument is no key
                    // (a script, an import's batch).
                    if write && records_key && placement.mostly_writes() {
                        *last_write_key = args
                            .get(1)
                            .filter(|key| key.len() <= MAX_PLACEMENT_KEY)
                            .map(|key| Bytes::copy_from_slice(key));
                    }
                }
            }
            if !run.is_empty() && (next_kind != run_kind || run.len() >= MAX_RUN) {
                if let Some(kind) = run_kind {
                    match dispatch::execute_run(server, client, kind, &run) {
                        Some(replies) => {
                            for reply in replies {
                                reply.encode(client.protocol, &mut output);
                            }
                            client.publish_state();
                        }
                        // Not servable as a run (a fenced slot, MULTI, ...): each
                        // request on its own, before the one just parsed.
                        None => {
                            for args in run.drain(..) {
                                if let Err(reason) =
                                    serve_one(server, client, socket, input, &mut output, args)
                                        .await
                                {
                                    return End::Closed(reason);
                                }
                            }
                        }
                    }
                }
                run.clear();
            }
            let args = match parsed {
                Ok(Some(args)) if next_kind.is_some() => {
                    run_kind = next_kind;
                    run.push(args);
                    continue;
                }
                Ok(Some(args)) => args,
                Ok(None) => break,
                Err(e) => {
                    Frame::from(crate::error::CommandError::err(e))
                        .encode(client.protocol, &mut output);
                    let _ = send(server, socket, &output).await;
                    return End::Closed("protocol error");
                }
            };
            if let Err(reason) = serve_one(server, client, socket, input, &mut output, args).await {
                return End::Closed(reason);
            }
        }
        if !output.is_empty() {
            if !send(server, socket, &output).await {
                return End::Closed("write failed");
            }
            output.clear();
        }
        // A huge reply or request must not pin its buffer for the connection's life.
        if output.capacity() > SHRINK_ABOVE {
            output = BytesMut::with_capacity(4 * 1024);
        }
        if input.is_empty() && input.capacity() > SHRINK_ABOVE {
            *input = BytesMut::with_capacity(4 * 1024);
        }
        if info.is_killed() {
            return End::Closed("killed");
        }
        // Every request read so far is answered: the moment to change workers.
        if let Some((workers, here)) = placing {
            let key = last_write_key.as_deref().unwrap_or_default();
            if let Some(to) = workers.destination(here, placement, key) {
                placement.reset();
                *last_write_key = None;
                return End::Move(to);
            }
        }
        let read = async {
            match idle_limit {
                Some(limit) => tokio::time::timeout(limit, socket.read_buf(input))
                    .await
                    .unwrap_or(Ok(0)),
                None => socket.read_buf(input).await,
            }
        };
        tokio::select! {
            result = read => match result {
                Ok(0) | Err(_) => return End::Closed("connection closed"),
                Ok(n) => {
                    info.last_active_ms.store(ferrokv_types::now_ms(), Ordering::Relaxed);
                    server.metrics.net_input_bytes.fetch_add(n as u64, Ordering::Relaxed);
                    info.note_buffers(input.len(), input.capacity(), output.capacity());
                }
            },
            _ = info.killed() => return End::Closed("killed"),
            line = crate::metrics::next_monitor_line(&mut client.monitor) => {
                if !send(server, socket, &line).await {
                    return End::Closed("write failed");
                }
            }
            Some(delivery) = client.pubsub.next() => {
                if let Some(push) = client.pubsub.push_for(delivery) {
                    push.encode(client.protocol, &mut output);
                }
                write_messages(client, &mut output);
                client.publish_state();
                if client.pubsub.overflowed() {
                    return End::Closed("pubsub queue overflow");
                }
            }
        }
    }
}

/// Whether a request not served in a run is a write (for [`Placement`]); scripts and
/// functions (`may_replicate`) count as writes.
fn is_write(args: &[Bytes]) -> bool {
    use crate::command::flags::{MAY_WRITE, WRITE};
    args.first()
        .and_then(|name| crate::commands::TABLE.get(name))
        .is_some_and(|spec| spec.has(WRITE | MAY_WRITE))
}

/// Serves one request that is not part of a run: CLIENT PAUSE, execution, a block or
/// another action the command asked for, its reply. `Err` ends the session, with the
/// reason.
async fn serve_one(
    server: &Arc<Server>,
    client: &mut Client,
    socket: &mut TcpStream,
    input: &mut BytesMut,
    output: &mut BytesMut,
    args: Vec<Bytes>,
) -> Result<(), &'static str> {
    if let Some(wait) = paused_for(server, &args) {
        if !send(server, socket, output).await {
            return Err("write failed");
        }
        output.clear();
        let mut wait = Some(wait);
        while let Some(left) = wait {
            tokio::time::sleep(left.min(Duration::from_millis(10))).await;
            wait = paused_for(server, &args);
        }
    }
    let mut reply = dispatch::execute(server, client, args);
    client.publish_state();
    // Messages already queued go first: a client publishing to a channel it
    // listens on gets the message before the PUBLISH reply, as in Redis.
    write_messages(client, output);
    if matches!(client.action, Some(Action::Block(_))) {
        let Some(Action::Block(block)) = client.action.take() else {
            unreachable!("checked just above")
        };
        if !send(server, socket, output).await {
            return Err("write failed");
        }
        output.clear();
        match wait_unblocked(server, client, socket, input, block).await {
            Some(unblocked) => reply = unblocked,
            None => return Err("closed while blocked"),
        }
    }
    match client.action.take() {
        None | Some(Action::Block(_)) => {}
        Some(Action::Shutdown) => {
            client.action = Some(Action::Shutdown);
            // The replies before SHUTDOWN go out, but a client that does not read them
            // must not hold the node up.
            let _ =
                tokio::time::timeout(Duration::from_secs(1), send(server, socket, output)).await;
            return Err("shutdown");
        }
        Some(Action::Close) => {
            reply.encode(client.protocol, output);
            let _ = send(server, socket, output).await;
            return Err("closed by command");
        }
        Some(Action::Offload(work)) => {
            // Replies so far go out first: the work may take a while.
            if !send(server, socket, output).await {
                return Err("write failed");
            }
            output.clear();
            reply = match tokio::task::spawn_blocking(move || work.run()).await {
                Ok(done) => {
                    client.sst_import = done.sst_import;
                    done.reply.unwrap_or_else(Frame::from)
                }
                Err(e) => Frame::from(crate::error::CommandError::err(format!(
                    "offloaded work failed: {e}"
                ))),
            };
        }
        Some(Action::Replicate(handoff)) => {
            client.action = Some(Action::Replicate(handoff));
            if !send(server, socket, output).await {
                return Err("write failed");
            }
            return Err("replication");
        }
        Some(Action::WaitReplicas {
            target,
            replicas,
            deadline,
        }) => {
            if !send(server, socket, output).await {
                return Err("write failed");
            }
            output.clear();
            reply = wait_replicas(server, client, target, replicas, deadline).await;
        }
    }
    client.publish_state();
    reply.encode(client.protocol, output);
    if output.len() >= FLUSH_THRESHOLD {
        if !send(server, socket, output).await {
            return Err("write failed");
        }
        output.clear();
    }
    Ok(())
}

/// Encodes the Pub/Sub messages waiting for this connection into `output`.
fn write_messages(client: &mut Client, output: &mut BytesMut) {
    while let Some(delivery) = client.pubsub.try_next() {
        if let Some(push) = client.pubsub.push_for(delivery) {
            push.encode(client.protocol, output);
        }
        if output.len() >= FLUSH_THRESHOLD {
            break;
        }
    }
}

/// Parks a blocked command on its keys and runs it again whenever one of them is
/// written, until it is served or its deadline passes. Keeps reading the socket so a
/// client that goes away is noticed (its further requests wait in `input`). `None`
/// when the connection is gone.
async fn wait_unblocked(
    server: &Arc<Server>,
    client: &mut Client,
    socket: &mut TcpStream,
    input: &mut BytesMut,
    block: BlockSpec,
) -> Option<Frame> {
    // Registered before the first retry, so a wake-up between the retry and the wait
    // is not lost.
    let waker = Arc::new(tokio::sync::Notify::new());
    let mut fence = None;
    match &block.wake {
        Wake::Keys(keys) => server.waiters.park(client.id(), keys, &waker),
        Wake::FenceLift => fence = server.cluster.as_ref().map(|c| c.fence.watch()),
    }
    let args = block.retry_args.clone().unwrap_or_default();
    let waits_on_keys = matches!(block.wake, Wake::Keys(_));
    let info = client.info.clone();
    let mut shutdown = server.shutdown_signal();
    let deadline = block.deadline.map(tokio::time::Instant::from_std);
    let outcome = loop {
        // Run again first: a write may have landed before we parked.
        let reply = dispatch::execute(server, client, args.clone());
        match client.action.take() {
            Some(Action::Block(_)) => {}
            // A key waited on that holds another type for now (a transaction replaced
            // it) does not end the wait: Redis serves a blocked client only when the
            // key is of its type, and leaves it blocked otherwise.
            None if waits_on_keys && is_wrong_type(&reply) => {}
            other => {
                client.action = other;
                break Some(reply);
            }
        }
        let timeout = async {
            match deadline {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        let woken = async {
            match fence.as_mut() {
                Some(fence) => fence.lifted().await,
                None => waker.notified().await,
            }
        };
        tokio::select! {
            _ = woken => {}
            _ = timeout => {
                match block.on_timeout {
                    OnTimeout::Reply => {}
                    OnTimeout::AbortTransaction => {
                        if let Some(multi) = client.multi.as_mut() {
                            multi.aborted = true;
                        }
                    }
                    OnTimeout::DiscardTransaction => {
                        crate::commands::discard_transaction(server, client)
                    }
                }
                break Some(block.timeout_reply.clone());
            }
            _ = info.killed() => break None,
            _ = shutdown.changed() => break None,
            read = socket.read_buf(input) => {
                if matches!(read, Ok(0) | Err(_)) {
                    break None;
                }
            }
        }
    };
    if let Wake::Keys(keys) = &block.wake {
        server.waiters.unpark(client.id(), keys);
    }
    outcome
}

/// How long CLIENT PAUSE holds this request (CLIENT itself never waits).
fn paused_for(server: &Server, args: &[Bytes]) -> Option<Duration> {
    if !server.pause.active() {
        return None;
    }
    let spec = crate::commands::TABLE.get(args.first()?)?;
    if spec.name == "client" {
        return None;
    }
    server
        .pause
        .remaining(spec.has(crate::command::flags::WRITE))
}

/// WAIT: until `replicas` replicas acknowledged `target` or `deadline` passes; the
/// reply is how many did.
async fn wait_replicas(
    server: &Arc<Server>,
    client: &Client,
    target: u64,
    replicas: usize,
    deadline: Option<std::time::Instant>,
) -> Frame {
    let repl = &server.replication;
    let mut acks = repl.acks.subscribe();
    let deadline = deadline.map(tokio::time::Instant::from_std);
    let mut shutdown = server.shutdown_signal();
    loop {
        acks.borrow_and_update();
        let count = repl.acked_count(target);
        if count >= replicas {
            return Frame::Integer(count as i64);
        }
        let timeout = async {
            match deadline {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = acks.changed() => {}
            _ = timeout => return Frame::Integer(repl.acked_count(target) as i64),
            _ = client.info.killed() => return Frame::Integer(repl.acked_count(target) as i64),
            _ = shutdown.changed() => return Frame::Integer(repl.acked_count(target) as i64),
        }
    }
}

fn is_wrong_type(reply: &Frame) -> bool {
    matches!(reply, Frame::Error(text) if text.starts_with("WRONGTYPE "))
}

/// Sends replies, after making the writes they acknowledge durable (group commit: one
/// WAL flush covers every write made by any client since the last one). If the WAL
/// cannot be flushed nothing is acknowledged and the connection is dropped.
async fn send(server: &Server, socket: &mut TcpStream, output: &[u8]) -> bool {
    let storage = server.db.storage();
    if storage.has_pending_writes() {
        // Let the other connections of this thread that have requests ready run first:
        // one WAL flush then covers all their writes.
        tokio::task::yield_now().await;
    }
    if let Err(e) = storage.make_durable() {
        tracing::error!("cannot make writes durable, dropping the connection: {e}");
        return false;
    }
    server
        .metrics
        .net_output_bytes
        .fetch_add(output.len() as u64, Ordering::Relaxed);
    socket.write_all(output).await.is_ok()
}
