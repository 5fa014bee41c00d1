//! INFO: the sections Redis tools read, built from live counters.

use std::fmt::Write;
use std::sync::atomic::Ordering;

use crate::server::Server;

/// The Redis version Ferrokv reports to clients that check it (HELLO, INFO).
pub const REDIS_VERSION: &str = "7.2.0";

/// Every section, in the order INFO lists them (Redis' order; `rocksdb` is Kvrocks').
pub const SECTIONS: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "commandstats",
    "errorstats",
    "cluster",
    "keyspace",
    "rocksdb",
];

/// Sections left out of a plain INFO (and `INFO default`), as in Redis: one line per
/// command used is too much for the default reply.
const NOT_DEFAULT: &[&str] = &["commandstats"];

fn human(bytes: u64) -> String {
    let units = ["B", "K", "M", "G", "T"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < units.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.2}{}", units[unit])
}

fn cpu_seconds() -> (f64, f64) {
    // /proc/self/stat fields 14 and 15: user and system time in clock ticks.
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return (0.0, 0.0);
    };
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
            / 100.0
    };
    (ticks(12), ticks(11))
}

/// Writes one section (without checking that the name is known).
fn section(server: &Server, name: &str, out: &mut String) {
    let config = server.config.read();
    let stats = &server.stats;
    let uptime = server.started.elapsed().as_secs();
    // `write!` to a String cannot fail.
    let _ = match name {
        "server" => write!(
            out,
            "# Server\r\nredis_version:{REDIS_VERSION}\r\nferrokv_version:{}\r\nredis_mode:{}\r\nos:{} {}\r\narch_bits:64\r\nprocess_id:{}\r\nrun_id:{}\r\ntcp_port:{}\r\nuptime_in_seconds:{uptime}\r\nuptime_in_days:{}\r\nexecutable:{}\r\nconfig_file:{}\r\n",
            env!("CARGO_PKG_VERSION"),
            if config.cluster_enabled { "cluster" } else { "standalone" },
            std::env::consts::OS,
            std::env::consts::ARCH,
            std::process::id(),
            server.run_id,
            config.port,
            uptime / 86400,
            std::env::current_exe().map(|p| p.display().to_string()).unwrap_or_default(),
            config.file.as_ref().map(|p| p.display().to_string()).unwrap_or_default(),
        ),
        "clients" => write!(
            out,
            "# Clients\r\nconnected_clients:{}\r\nmaxclients:{}\r\nblocked_clients:{}\r\n",
            server.clients.count(),
            config.maxclients,
            server.waiters.blocked_clients(),
        ),
        "memory" => {
            let m = crate::measure::memory(server);
            write!(
                out,
                "# Memory\r\nused_memory:{}\r\nused_memory_human:{}\r\nused_memory_rss:{}\r\nused_memory_rss_human:{}\r\nused_memory_peak:{}\r\nused_memory_peak_human:{}\r\nused_memory_heap:{}\r\nused_memory_memtables:{}\r\nused_memory_block_cache:{}\r\nused_memory_table_readers:{}\r\nused_disk_bytes:{}\r\nmaxmemory:0\r\nmaxmemory_human:0B\r\nmaxmemory_policy:noeviction\r\nmem_allocator:mimalloc\r\n",
                m.used,
                human(m.used),
                m.rss,
                human(m.rss),
                m.peak,
                human(m.peak),
                m.heap,
                m.memtables,
                m.block_cache,
                m.table_readers,
                server.db.storage().disk_usage(),
            )
        }
        "persistence" => write!(
            out,
            "# Persistence\r\nloading:0\r\nasync_loading:0\r\nrdb_bgsave_in_progress:{}\r\n{}aof_enabled:0\r\nwal_enabled:1\r\nwal_fsync_every_write:{}\r\n",
            u8::from(server.backups.in_progress()),
            server.backups.info(server.started_unix()),
            u8::from(config.rocksdb_write_options_sync),
        ),
        "stats" => {
            let metrics = &server.metrics;
            let (ops, input_kbps, output_kbps) = metrics.instantaneous();
            let (hits, misses) = server.db.keyspace_hits_misses();
            let channels = server
                .pubsub
                .active(crate::pubsub::Kind::Channel, None)
                .len();
            let patterns = server.pubsub.pattern_count();
            write!(
                out,
                "# Stats\r\ntotal_connections_received:{}\r\ntotal_commands_processed:{}\r\ninstantaneous_ops_per_sec:{}\r\ntotal_net_input_bytes:{}\r\ntotal_net_output_bytes:{}\r\ninstantaneous_input_kbps:{input_kbps:.2}\r\ninstantaneous_output_kbps:{output_kbps:.2}\r\nrejected_connections:{}\r\nexpired_keys:{}\r\nevicted_keys:0\r\nkeyspace_hits:{hits}\r\nkeyspace_misses:{misses}\r\npubsub_channels:{channels}\r\npubsub_patterns:{patterns}\r\ntotal_error_replies:{}\r\nsync_full:{}\r\nsync_partial_ok:{}\r\nsync_partial_err:{}\r\nio_threads_active:{}\r\n",
                stats.connections_received.load(Ordering::Relaxed),
                stats.commands_processed.load(Ordering::Relaxed),
                ops.round() as u64,
                metrics.net_input_bytes.load(Ordering::Relaxed),
                metrics.net_output_bytes.load(Ordering::Relaxed),
                stats.rejected_connections.load(Ordering::Relaxed),
                stats.expired_keys.load(Ordering::Relaxed),
                metrics.total_error_replies.load(Ordering::Relaxed),
                server.replication.sync_full.load(Ordering::Relaxed),
                server.replication.sync_partial_ok.load(Ordering::Relaxed),
                server.replication.sync_partial_err.load(Ordering::Relaxed),
                u8::from(server.workers.get().is_some_and(|w| w.spread())),
            )
        }
        "replication" => crate::replication::info(server, out),
        "commandstats" => {
            out.push_str("# Commandstats\r\n");
            for (name, stat) in server.metrics.command_stats() {
                let calls = stat.calls.load(Ordering::Relaxed);
                let usec = stat.usec.load(Ordering::Relaxed);
                let per_call = if calls == 0 {
                    0.0
                } else {
                    usec as f64 / calls as f64
                };
                let _ = write!(
                    out,
                    "cmdstat_{name}:calls={calls},usec={usec},usec_per_call={per_call:.2},rejected_calls={},failed_calls={}\r\n",
                    stat.rejected.load(Ordering::Relaxed),
                    stat.failed.load(Ordering::Relaxed),
                );
            }
            Ok(())
        }
        "errorstats" => {
            out.push_str("# Errorstats\r\n");
            for (code, count) in server.metrics.error_stats() {
                let _ = write!(out, "errorstat_{code}:count={count}\r\n");
            }
            Ok(())
        }
        "cpu" => {
            let (sys, user) = cpu_seconds();
            write!(out, "# CPU\r\nused_cpu_sys:{sys:.2}\r\nused_cpu_user:{user:.2}\r\n")
        }
        "keyspace" => {
            out.push_str("# Keyspace\r\n");
            drop(config);
            // Slots still being imported, or migrated away, are not this node's data.
            let hidden = server.cluster.as_ref().map(|c| c.hidden_slots());
            let visible = |slot: u16| hidden.as_ref().is_none_or(|h| !h.contains(slot));
            if let Ok((keys, expires)) = server.db.key_counts(&visible) {
                if keys > 0 {
                    let _ = write!(out, "db0:keys={keys},expires={expires},avg_ttl=0\r\n");
                }
            }
            // Kvrocks' field (src/server/server.cc, keyspace section): the newest
            // RocksDB sequence number; kvrocks-controller reads it to pick the most
            // advanced replica at failover.
            write!(out, "sequence:{}\r\n", server.db.storage().latest_sequence())
        }
        "cluster" => write!(
            out,
            "# Cluster\r\ncluster_enabled:{}\r\n",
            u8::from(config.cluster_enabled)
        ),
        "rocksdb" => {
            let storage = server.db.storage();
            let [flushes, flush_pending, compaction_pending, compactions] =
                storage.background_work();
            write!(
                out,
                "# RocksDB\r\nestimate_keys_metadata:{}\r\nestimate_keys_members:{}\r\nestimate_keys_scores:{}\r\nlive_sst_bytes:{}\r\nmemtable_bytes:{}\r\nlatest_sequence:{}\r\ncompactions_requested:{}\r\nimported_sst_files:{}\r\nnum_running_flushes:{}\r\nmemtable_flush_pending:{}\r\ncompaction_pending:{}\r\nnum_running_compactions:{}\r\n",
                storage.estimate_keys(ferrokv_storage::Cf::Metadata),
                storage.estimate_keys(ferrokv_storage::Cf::Members),
                storage.estimate_keys(ferrokv_storage::Cf::Scores),
                storage.disk_usage(),
                storage.memtable_bytes(),
                storage.latest_sequence(),
                stats.compactions.load(Ordering::Relaxed),
                stats.imported_sst_files.load(Ordering::Relaxed),
                flushes,
                flush_pending,
                compaction_pending,
                compactions,
            )
        }
        _ => Ok(()),
    };
}

/// The INFO text for the requested section names (lower case): none or `default`
/// for the default sections, `all` or `everything` for every section (Ferrokv has no
/// modules, so the two are the same), or any list of names and these.
pub fn render(server: &Server, requested: &[String]) -> String {
    let asked = |name: &str| requested.iter().any(|r| r == name);
    let all = asked("all") || asked("everything");
    let default = requested.is_empty() || asked("default");
    let wanted: Vec<&str> = SECTIONS
        .iter()
        .copied()
        .filter(|s| all || asked(s) || (default && !NOT_DEFAULT.contains(s)))
        .collect();
    let mut out = String::new();
    for (i, name) in wanted.iter().enumerate() {
        if i > 0 {
            out.push_str("\r\n");
        }
        section(server, name, &mut out);
    }
    out
}
