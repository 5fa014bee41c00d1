//! The life cycle of a node: bind, open storage and the cluster view, recover
//! migrations, accept connections, background work, graceful shutdown.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferrokv_storage::StorageOptions;
use ferrokv_types::Database;
use parking_lot::{Mutex, RwLock};
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::watch;
use tracing::{error, info, warn};

use crate::client::ClientRegistry;
use crate::config::Config;
use crate::server::{ScanCursors, Server, Stats};
use crate::watch::Watches;

/// Binds every configured address before anything touches the disk, so that a port in
/// use is reported without side effects.
fn bind_listeners(config: &Config) -> Result<Vec<TcpListener>, String> {
    let mut port = config.port;
    let backlog = config.tcp_backlog;
    let mut listeners: Vec<TcpListener> = Vec::new();
    for host in config.bind_addrs() {
        // Port 0: the first address gets a free port from the kernel, the others the same.
        if let Some(first) = listeners.first() {
            port = first.local_addr().map_or(port, |a| a.port());
        }
        let addr: SocketAddr = format!("{host}:{port}")
            .parse()
            .or_else(|_| format!("[{host}]:{port}").parse())
            .map_err(|_| format!("invalid bind address '{host}'"))?;
        let socket = if addr.is_ipv4() {
            TcpSocket::new_v4()
        } else {
            TcpSocket::new_v6()
        }
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
        socket
            .set_reuseaddr(true)
            .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
        socket
            .bind(addr)
            .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
        listeners.push(
            socket
                .listen(backlog)
                .map_err(|e| format!("cannot listen on {addr}: {e}"))?,
        );
    }
    if listeners.is_empty() {
        return Err("no bind address configured".into());
    }
    Ok(listeners)
}

fn storage_options(config: &Config) -> StorageOptions {
    StorageOptions {
        sync_writes: config.rocksdb_write_options_sync,
        wal_ttl_seconds: config.rocksdb_wal_ttl_seconds,
        wal_size_limit_mb: config.rocksdb_wal_size_limit_mb,
        block_cache_mb: config.rocksdb_block_cache_size,
        write_buffer_mb: config.rocksdb_write_buffer_size,
        block_size: config.rocksdb_block_size,
        compaction_low_cpu_priority: config.rocksdb_compaction_low_cpu_priority,
    }
}

/// Runs a node until it is shut down. Errors are start-up failures, one line each.
pub async fn run(mut config: Config) -> Result<(), String> {
    let listeners = bind_listeners(&config)?;
    let port = announce_port(&mut config, &listeners)?;
    let dir = config.data_dir();
    std::fs::create_dir_all(&dir)
        .map_err(|e| format!("cannot open database in '{}': {e}", dir.display()))?;
    // A full sync may have moved the database to a directory of its own.
    let (replication, db_dir) = crate::replication::state::Replication::open(&dir)?;
    let db = Database::open(&db_dir, &storage_options(&config))
        .map_err(|e| format!("cannot open database in '{}': {e}", db_dir.display()))?;
    let cluster = if config.cluster_enabled {
        Some(crate::cluster::Cluster::open(&dir)?)
    } else {
        None
    };
    let pidfile = config.pidfile.clone();
    if !pidfile.is_empty() {
        std::fs::write(&pidfile, format!("{}\n", std::process::id()))
            .map_err(|e| format!("cannot write pidfile '{pidfile}': {e}"))?;
    }
    let local_addr = listeners[0]
        .local_addr()
        .map_err(|e| format!("cannot read listening address: {e}"))?;
    let (shutdown_tx, _) = watch::channel(false);
    let metrics = crate::metrics::Metrics::new(
        crate::commands::TABLE.iter().map(|spec| spec.name),
        config.slowlog_log_slower_than,
        config.slowlog_max_len,
    );
    let scripting = crate::scripting::Scripting::new(crate::info::REDIS_VERSION)
        .map_err(|e| format!("cannot start the Lua interpreter: {e}"))?;
    let server = Arc::new(Server {
        db,
        cluster,
        config: RwLock::new(config),
        clients: ClientRegistry::default(),
        watches: Watches::default(),
        migrations: ferrokv_migration::Migrations::default(),
        replication,
        pause: Default::default(),
        newest_import: Mutex::new(None),
        import_gate: Mutex::new(()),
        waiters: crate::blocking::KeyWaiters::default(),
        pubsub: crate::pubsub::PubSub::default(),
        notify: Default::default(),
        stats: Stats::default(),
        metrics,
        scan_cursors: Mutex::new(ScanCursors::default()),
        exec_gate: RwLock::new(()),
        scripting,
        started: Instant::now(),
        backups: Default::default(),
        perflog: Default::default(),
        run_id: random_hex(40),
        local_addr,
        shutdown_tx,
        workers: std::sync::OnceLock::new(),
    });
    server
        .notify
        .set(&server.config.read().notify_keyspace_events);
    server.config.read().configure_perflog(&server.perflog);
    info!(
        "ferrokv {} ready: listening on port {}, data in {}",
        env!("CARGO_PKG_VERSION"),
        local_addr.port(),
        dir.display()
    );
    write_port_file(&server.config.read(), port)?;

    let workers = {
        let (count, writers, adaptive) = {
            let config = server.config.read();
            let (count, writers) = crate::workers::sizes(config.workers, config.write_workers);
            (count, writers, config.adaptive_workers)
        };
        Arc::new(crate::workers::Workers::start(count, writers, adaptive)?)
    };
    let _ = server.workers.set(workers.clone());
    server
        .db
        .storage()
        .set_durable_hook(server.replication.wal_hook());
    // A node that restarts as a replica must not write anything of its own on the way
    // (its next write would take the sequence number of its master's next batch).
    server
        .db
        .storage()
        .set_replica_mode(crate::replication::initial_master(&server).is_some());
    crate::replication::records::install_sink(&server);
    crate::migration::recovery::recover(&server);
    // FUNCTION libraries persist as a node record: load them back.
    if let Err(e) = crate::commands::sync_functions(&server) {
        error!("cannot load the FUNCTION libraries: {e}");
    }
    if let Some(cluster) = server.cluster.as_ref() {
        if cluster.state.read().i_am_slave() {
            crate::replication::records::reload(&server);
        }
    }
    crate::replication::start_role(&server);
    let mut accept_tasks = Vec::new();
    for listener in listeners {
        accept_tasks.push(tokio::spawn(accept_loop(
            server.clone(),
            workers.clone(),
            listener,
        )));
    }
    tokio::spawn(crate::expiry::active_expire(server.clone()));
    tokio::spawn(crate::measure::sample(server.clone()));

    let mut shutdown = server.shutdown_signal();
    tokio::select! {
        _ = shutdown.changed() => info!("shutdown requested by a client"),
        _ = signal_received() => info!("shutdown requested by signal"),
    }
    server.request_shutdown();
    for task in accept_tasks {
        task.abort();
    }
    // Connections finish the command they are running, then close.
    server.clients.kill_all();
    let deadline = Instant::now() + Duration::from_secs(5);
    while server.clients.count() > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    crate::replication::stop(&server);
    workers.stop();
    if let Err(e) = server.db.flush() {
        error!("flushing the database at shutdown failed: {e}");
    }
    if !pidfile.is_empty() {
        let _ = std::fs::remove_file(&pidfile);
    }
    info!("ferrokv stopped");
    Ok(())
}

async fn signal_received() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        std::future::pending::<()>().await;
        return;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}

async fn accept_loop(
    server: Arc<Server>,
    workers: Arc<crate::workers::Workers>,
    listener: TcpListener,
) {
    loop {
        let (socket, addr) = match listener.accept().await {
            Ok(pair) => pair,
            Err(e) => {
                // Out of file descriptors and similar: back off instead of spinning.
                warn!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        server
            .stats
            .connections_received
            .fetch_add(1, Ordering::Relaxed);
        // Re-registered with the worker's own reactor, where it stays.
        let socket = match socket.into_std() {
            Ok(socket) => socket,
            Err(e) => {
                warn!("cannot hand the connection from {addr} to a worker: {e}");
                continue;
            }
        };
        let server = server.clone();
        let worker = workers.next();
        workers.handle(worker).spawn(async move {
            match tokio::net::TcpStream::from_std(socket) {
                Ok(socket) => crate::connection::serve(server, socket, addr).await,
                Err(e) => warn!("a worker cannot take the connection from {addr}: {e}"),
            }
        });
    }
}

/// With `port 0` the kernel picked the port: the configuration takes the real one, so
/// that CONFIG GET, INFO and CLUSTER replies show where the node listens.
fn announce_port(config: &mut Config, listeners: &[TcpListener]) -> Result<u16, String> {
    let port = listeners
        .first()
        .and_then(|l| l.local_addr().ok())
        .map(|a| a.port())
        .ok_or("cannot read the listening port")?;
    config
        .set_initial("port", &port.to_string())
        .map_err(|e| e.to_string())?;
    Ok(port)
}

/// `port-file`: once the node answers, the port it listens on, for whoever started it
/// with port 0 (written atomically, so a reader never sees half).
fn write_port_file(config: &Config, port: u16) -> Result<(), String> {
    if config.port_file.is_empty() {
        return Ok(());
    }
    let path = std::path::Path::new(&config.port_file);
    crate::files::write_atomic(path, format!("{port}\n").as_bytes())
        .map_err(|e| format!("cannot write port-file '{}': {e}", path.display()))
}

fn random_hex(len: usize) -> String {
    use rand::Rng;
    let mut rng = rand::thread_rng();
    (0..len)
        .map(|_| char::from_digit(rng.gen_range(0..16), 16).unwrap_or('0'))
        .collect()
}
