//! Replication (replication.md): a master streams every committed write batch of its
//! WAL to its replicas, unchanged and in order; a replica applies them with the same
//! sequence numbers, after a full sync (a checkpoint of the master, swapped in) when it
//! cannot resume. The role comes from the topology (cluster mode) or SLAVEOF/REPLICAOF
//! (standalone).
//!
//! - `state`: what the node holds (role, history, link, replicas);
//! - `history`: replication ids, the partial-sync rule, `replication.conf`;
//! - `master`: PSYNC, the stream to one replica, the full-sync file server;
//! - `replica`: the follower thread (handshake, full sync, apply, acks);
//! - `records`: migration states in the stream.

pub mod history;
pub mod master;
pub mod records;
pub mod replica;
pub mod state;

use std::sync::atomic::Ordering;
use std::sync::Arc;

use tracing::{info, warn};

use crate::command::{flags, CommandSpec};
use crate::error::CommandError;
use crate::server::Server;
use state::LinkState;

/// Makes the node a replica of `master` (`None`: a master). Same master as now: nothing
/// changes. Becoming a master after being a replica (also across a restart: the role
/// is persisted first) starts a new history; becoming a replica stops serving reads
/// until the new master accepts this node's history.
pub fn set_master(server: &Arc<Server>, master: Option<(String, u16)>, persist_standalone: bool) {
    let repl = &server.replication;
    // One role change at a time; the follower's lock is held only briefly, so INFO and
    // ROLE answer while an old follower is being stopped.
    let _one_change = repl.role_change.lock();
    let following = repl.state.lock().following;
    let current = repl.master();
    if current == master && (master.is_some() || !following) {
        return;
    }
    let old = repl.follower.lock().take();
    if let Some(old) = old {
        info!(
            "replication: stop following {}:{}",
            old.master.0, old.master.1
        );
        old.stop();
    }
    // A checkpoint made under the old role would hand out another history's data.
    repl.checkpoints.clear();
    {
        let mut state = repl.state.lock();
        let mut changed = false;
        if persist_standalone && state.master != master {
            state.master = master.clone();
            changed = true;
        }
        if master.is_none() && state.following {
            let latest = server.db.storage().latest_sequence();
            state.promote(latest);
            state.following = false;
            changed = true;
            info!(
                "replication: promoted to master at sequence {latest}, history {}",
                state.replid
            );
        } else if master.is_some() && !state.following {
            // Persisted before the follower starts: a restart as a master then starts
            // a new history instead of keeping the one it takes from its master.
            state.following = true;
            changed = true;
        }
        if changed {
            if let Err(e) = repl.save(&state) {
                warn!("cannot write replication.conf: {e}");
            }
        }
    }
    match master {
        None => {
            server.db.storage().set_replica_mode(false);
            repl.replica.store(false, Ordering::Release);
            repl.link.serving.store(true, Ordering::Release);
            repl.link.set_state(LinkState::Connect);
            records::settle_after_promotion(server);
        }
        Some(master) => {
            info!("replication: following {}:{}", master.0, master.1);
            server.db.storage().set_replica_mode(true);
            repl.replica.store(true, Ordering::Release);
            // Nothing this node took as a master is served once it knows it is a
            // replica: its history must be checked first.
            repl.link.serving.store(false, Ordering::Release);
            repl.link.set_state(LinkState::Connect);
            // Its own replicas would follow a history that is about to change.
            for peer in repl.peers.lock().drain(..) {
                peer.kill();
            }
            crate::migration::source::abandon_jobs(server, "the node became a replica");
            *repl.follower.lock() = Some(replica::start(server.clone(), master));
        }
    }
    server.waiters.wake_all();
}

/// Cluster mode: the role the topology gives this node (after SETNODES, SETNODEID,
/// CLUSTER RESET, and at start-up).
pub fn follow_topology(server: &Arc<Server>) {
    let Some(cluster) = server.cluster.as_ref() else {
        return;
    };
    let master = {
        let state = cluster.state.read();
        state.my_master().map(|n| (n.host.clone(), n.port))
    };
    set_master(server, master, false);
}

/// At start-up: the role from the topology (cluster mode), else from `slaveof` /
/// `replicaof` in the configuration, else the one SLAVEOF left in replication.conf.
pub fn start_role(server: &Arc<Server>) {
    if server.cluster.is_some() {
        follow_topology(server);
        return;
    }
    set_master(server, configured_master(server), false);
}

/// The master a node starting up will follow (as [`start_role`] decides it), known
/// before it follows it: the node starts in replica mode (storage refuses its own
/// writes) before anything of its start-up could write (settling migration records,
/// loading FUNCTION libraries).
pub fn initial_master(server: &Server) -> Option<(String, u16)> {
    match server.cluster.as_ref() {
        Some(cluster) => {
            let state = cluster.state.read();
            state.my_master().map(|n| (n.host.clone(), n.port))
        }
        None => configured_master(server),
    }
}

/// Standalone mode: `slaveof` / `replicaof` in the configuration, else the master
/// SLAVEOF left in replication.conf.
fn configured_master(server: &Server) -> Option<(String, u16)> {
    let configured = {
        let config = server.config.read();
        [config.slaveof.clone(), config.replicaof.clone()]
            .into_iter()
            .find(|v| !v.trim().is_empty())
    };
    match configured {
        Some(text) => parse_master(&text),
        None => server.replication.state.lock().master.clone(),
    }
}

/// `<host> <port>` of the `slaveof`/`replicaof` option (`no one`: none).
fn parse_master(text: &str) -> Option<(String, u16)> {
    let mut words = text.split_whitespace();
    let (host, port) = (words.next()?, words.next()?);
    if host.eq_ignore_ascii_case("no") && port.eq_ignore_ascii_case("one") {
        return None;
    }
    match port.parse() {
        Ok(port) => Some((host.to_string(), port)),
        Err(_) => {
            warn!("replication: ignoring '{text}': the port is not a number");
            None
        }
    }
}

/// What a replica refuses before a command runs (after cluster routing, which sends
/// keyed writes to the master): writes (`READONLY`), anything but the commands that
/// work on stale data when the link is down and `slave-serve-stale-data no`
/// (`MASTERDOWN`), and reads before its master accepted its history (`LOADING`).
pub fn gate(server: &Server, spec: &CommandSpec) -> Result<(), CommandError> {
    let repl = &server.replication;
    if !repl.is_replica() {
        return Ok(());
    }
    if !spec.has(flags::STALE) && !repl.link.is_up() && !server.config.read().slave_serve_stale_data
    {
        return Err(CommandError::MasterDown);
    }
    if spec.has(flags::WRITE) {
        return Err(CommandError::ReadOnlyReplica);
    }
    if spec.has(flags::READONLY) && !repl.serving_reads() {
        return Err(CommandError::Resyncing);
    }
    Ok(())
}

/// INFO's `# Replication` section (replication.md, "INFO and ROLE"; Redis' and
/// Kvrocks' field names).
pub fn info(server: &Server, out: &mut String) -> std::fmt::Result {
    use std::fmt::Write;
    let repl = &server.replication;
    let seq = server.db.storage().latest_sequence();
    let peers = repl.connected();
    out.push_str("# Replication\r\n");
    match repl.master() {
        None => write!(out, "role:master\r\nconnected_slaves:{}\r\n", peers.len())?,
        Some((host, port)) => {
            let link = &repl.link;
            let last_io = link.last_io_ms.load(Ordering::Relaxed);
            let ago = if last_io == 0 {
                -1
            } else {
                (ferrokv_types::now_ms().saturating_sub(last_io) / 1000) as i64
            };
            write!(
                out,
                "role:slave\r\nmaster_host:{host}\r\nmaster_port:{port}\r\nmaster_link_status:{}\r\nmaster_sync_unrecoverable_error:no\r\nmaster_sync_in_progress:{}\r\nmaster_last_io_seconds_ago:{ago}\r\nslave_repl_offset:{seq}\r\nslave_priority:{}\r\nslave_read_only:1\r\nmaster_sync_total_bytes:{}\r\nmaster_sync_read_bytes:{}\r\nconnected_slaves:{}\r\n",
                if link.is_up() { "up" } else { "down" },
                u8::from(link.state() == LinkState::Sync),
                server.config.read().slave_priority,
                link.sync_total_bytes.load(Ordering::Relaxed),
                link.sync_read_bytes.load(Ordering::Relaxed),
                peers.len(),
            )?
        }
    }
    for (i, peer) in peers.iter().enumerate() {
        let acked = peer.acked.load(Ordering::Acquire);
        write!(
            out,
            "slave{i}:ip={},port={},state=online,offset={acked},lag={}\r\n",
            peer.ip,
            peer.port,
            seq.saturating_sub(acked)
        )?;
    }
    write!(
        out,
        "master_replid:{}\r\nmaster_repl_offset:{seq}\r\n",
        repl.replid()
    )
}

/// Stops the follower at shutdown.
pub fn stop(server: &Server) {
    if let Some(follower) = server.replication.follower.lock().take() {
        follower.stop();
    }
}
