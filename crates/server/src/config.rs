//! Configuration: the option table (names, defaults, validation, documentation), the
//! Kvrocks/Redis config file format, `--option value` overrides and CONFIG REWRITE.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// How an option's value is validated.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    Bool,
    Int {
        min: i64,
        max: i64,
    },
    Str,
    Enum(&'static [&'static str]),
    /// Redis' `notify-keyspace-events` letters, normalised as its CONFIG GET shows them.
    KeyspaceEvents,
}

/// What CONFIG SET of an option must do beyond storing the value (applied by the
/// CONFIG command, which has the node at hand).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Nothing: readers pick the new value up.
    None,
    /// Change the log filter now.
    LogLevel,
    /// Apply the SLOWLOG threshold and length now.
    Slowlog,
    /// Turn fsync of the WAL on or off in storage.
    SyncWrites,
    /// Write nodes.conf now (`yes`) or delete it (`no`).
    PersistClusterNodes,
    /// Install the keyspace notification classes now.
    KeyspaceEvents,
    /// Apply the PERFLOG sampling settings now.
    Profiling,
}

/// One configurable option. The table below is the single source of truth: parsing,
/// CONFIG GET/SET, the typed [`Settings`] and the shipped ferrokv.conf are all derived
/// from or checked against it.
#[derive(Debug)]
pub struct OptionSpec {
    pub name: &'static str,
    pub default: &'static str,
    pub kind: Kind,
    /// Whether CONFIG SET may change it at run time.
    pub mutable: bool,
    /// Accepted so that Kvrocks config files load; Ferrokv does not use the value.
    pub kvrocks_only: bool,
    pub effect: Effect,
}

const INT_MAX: i64 = i64::MAX;

const BOOL: Kind = Kind::Bool;
const STR: Kind = Kind::Str;

const fn int(min: i64, max: i64) -> Kind {
    Kind::Int { min, max }
}

/// An option CONFIG SET may change.
const fn runtime(name: &'static str, default: &'static str, kind: Kind) -> OptionSpec {
    OptionSpec {
        name,
        default,
        kind,
        mutable: true,
        kvrocks_only: false,
        effect: Effect::None,
    }
}

/// An option fixed at start-up.
const fn startup(name: &'static str, default: &'static str, kind: Kind) -> OptionSpec {
    OptionSpec {
        mutable: false,
        ..runtime(name, default, kind)
    }
}

/// A Kvrocks option accepted (and settable) for compatibility, without effect here.
const fn kvrocks_only(name: &'static str, default: &'static str, kind: Kind) -> OptionSpec {
    OptionSpec {
        kvrocks_only: true,
        ..runtime(name, default, kind)
    }
}

impl OptionSpec {
    const fn on_set(self, effect: Effect) -> OptionSpec {
        OptionSpec { effect, ..self }
    }
}

/// Reads a typed value from an option's normalised text (validated against its
/// [`Kind`], so parsing cannot fail for values that came through the table).
trait OptionValue: Sized {
    fn read(text: &str) -> Self;
}

impl OptionValue for String {
    fn read(text: &str) -> Self {
        text.to_string()
    }
}

impl OptionValue for bool {
    fn read(text: &str) -> Self {
        text == "yes"
    }
}

macro_rules! int_option_value {
    ($($t:ty),*) => {$(
        impl OptionValue for $t {
            fn read(text: &str) -> Self {
                text.parse().unwrap_or_default()
            }
        }
    )*};
}
int_option_value!(i64, u16, u32, u64, usize);

/// Declares the option table and the typed [`Settings`] from one list of rows:
/// `field: Type = constructor("name", "default", kind) [=> Effect],`.
macro_rules! options {
    ($( $field:ident : $ty:ty = $ctor:ident($name:literal, $default:literal, $kind:expr) $(=> $effect:ident)? ,)*) => {
        /// Every option, in the order of ferrokv.conf.
        pub const OPTIONS: &[OptionSpec] = &[
            $( $ctor($name, $default, $kind)$(.on_set(Effect::$effect))?, )*
        ];

        /// The options as typed fields, read from the table's values: what the node's
        /// code reads (`config.timeout`, through `Config`'s `Deref`).
        #[derive(Debug, Clone)]
        // Kvrocks-only options have fields too, read by nothing.
        #[allow(dead_code)]
        pub struct Settings {
            $( #[doc = concat!("`", $name, "` (default `", $default, "`).")] pub $field: $ty, )*
        }

        impl Settings {
            fn read(values: &BTreeMap<&'static str, String>) -> Settings {
                Settings {
                    $( $field: OptionValue::read(values.get($name).map_or($default, String::as_str)), )*
                }
            }
        }
    };
}

#[rustfmt::skip]
options! {
    bind: String = startup("bind", "127.0.0.1", STR),
    port: u16 = startup("port", "6666", int(0, 65535)),
    port_file: String = startup("port-file", "", STR),
    dir: String = startup("dir", "ferrokv-data", STR),
    workers: usize = startup("workers", "0", int(0, 256)),
    write_workers: usize = startup("write-workers", "0", int(0, 256)),
    adaptive_workers: bool = startup("adaptive-workers", "yes", BOOL),
    tcp_backlog: u32 = startup("tcp-backlog", "511", int(1, 65535)),
    maxclients: usize = runtime("maxclients", "10000", int(1, 1_000_000)),
    timeout: u64 = runtime("timeout", "0", int(0, INT_MAX)),
    requirepass: String = runtime("requirepass", "", STR),
    proto_max_bulk_len: usize = runtime("proto-max-bulk-len", "536870912", int(1024 * 1024, INT_MAX)),
    slowlog_log_slower_than: i64 = runtime("slowlog-log-slower-than", "10000", int(-INT_MAX, INT_MAX)) => Slowlog,
    slowlog_max_len: i64 = runtime("slowlog-max-len", "128", int(0, INT_MAX)) => Slowlog,
    log_level: String = runtime("log-level", "info", Kind::Enum(&["debug", "info", "warning", "error", "fatal"])) => LogLevel,
    log_dir: String = startup("log-dir", "stderr", STR),
    pidfile: String = startup("pidfile", "", STR),
    cluster_enabled: bool = startup("cluster-enabled", "no", BOOL),
    persist_cluster_nodes_enabled: bool = runtime("persist-cluster-nodes-enabled", "yes", BOOL) => PersistClusterNodes,
    migrate_max_jobs: usize = runtime("migrate-max-jobs", "4", int(1, 1024)),
    migrate_batch_size_kb: u64 = runtime("migrate-batch-size-kb", "256", int(1, 1024 * 1024)),
    migrate_batch_rate_limit_mb: u64 = runtime("migrate-batch-rate-limit-mb", "0", int(0, INT_MAX)),
    migrate_sequence_gap: u64 = runtime("migrate-sequence-gap", "1000", int(0, INT_MAX)),
    migrate_fence_max_ms: u64 = runtime("migrate-fence-max-ms", "1000", int(1, INT_MAX)),
    migrate_io_timeout_ms: u64 = runtime("migrate-io-timeout-ms", "10000", int(100, INT_MAX)),
    migrate_speed: u64 = runtime("migrate-speed", "0", int(0, INT_MAX)),
    migrate_sst_file_mb: u64 = runtime("migrate-sst-file-mb", "64", int(0, 4096)),
    migrate_nice: i64 = runtime("migrate-nice", "10", int(0, 19)),
    migrate_idle_class: bool = runtime("migrate-idle-class", "yes", BOOL),
    migrate_pipeline_size: u64 = kvrocks_only("migrate-pipeline-size", "16", int(1, INT_MAX)),
    migrate_type: String = kvrocks_only("migrate-type", "raw-key-value", Kind::Enum(&["raw-key-value", "redis-command"])),
    busy_script_time: u64 = runtime("busy-script-time", "5000", int(0, INT_MAX)),
    slaveof: String = startup("slaveof", "", STR),
    replicaof: String = startup("replicaof", "", STR),
    masterauth: String = runtime("masterauth", "", STR),
    slave_read_only: bool = runtime("slave-read-only", "yes", BOOL),
    slave_serve_stale_data: bool = runtime("slave-serve-stale-data", "yes", BOOL),
    slave_priority: i64 = runtime("slave-priority", "100", int(0, INT_MAX)),
    replica_announce_ip: String = runtime("replica-announce-ip", "", STR),
    replica_announce_port: u16 = runtime("replica-announce-port", "0", int(0, 65535)),
    max_replication_mb: u64 = runtime("max-replication-mb", "0", int(0, INT_MAX)),
    repl_timeout: u64 = runtime("repl-timeout", "60", int(1, INT_MAX)),
    repl_namespace_enabled: bool = kvrocks_only("repl-namespace-enabled", "no", BOOL),
    slave_empty_db_before_fullsync: bool = kvrocks_only("slave-empty-db-before-fullsync", "no", BOOL),
    fullsync_recv_file_delay: u64 = kvrocks_only("fullsync-recv-file-delay", "0", int(0, INT_MAX)),
    rocksdb_compression: String = kvrocks_only("rocksdb.compression", "lz4", Kind::Enum(&["no", "snappy", "lz4", "zstd", "zlib"])),
    rocksdb_target_file_size_base: u64 = kvrocks_only("rocksdb.target_file_size_base", "128", int(1, INT_MAX)),
    rocksdb_max_write_buffer_number: u64 = kvrocks_only("rocksdb.max_write_buffer_number", "4", int(1, 256)),
    notify_keyspace_events: String = runtime("notify-keyspace-events", "", Kind::KeyspaceEvents) => KeyspaceEvents,
    resp3_enabled: bool = runtime("resp3-enabled", "yes", BOOL),
    txn_context_enabled: bool = kvrocks_only("txn-context-enabled", "no", BOOL),
    redis_cursor_compatible: bool = kvrocks_only("redis-cursor-compatible", "yes", BOOL),
    use_rsid_psync: bool = kvrocks_only("use-rsid-psync", "no", BOOL),
    log_retention_days: i64 = kvrocks_only("log-retention-days", "-1", int(-1, INT_MAX)),
    max_bitmap_to_string_mb: u64 = kvrocks_only("max-bitmap-to-string-mb", "16", int(0, INT_MAX)),
    backup_dir: String = runtime("backup-dir", "", STR),
    profiling_sample_ratio: u64 = runtime("profiling-sample-ratio", "0", int(0, 100)) => Profiling,
    profiling_sample_record_max_len: u64 = runtime("profiling-sample-record-max-len", "256", int(0, INT_MAX)) => Profiling,
    profiling_sample_record_threshold_ms: u64 = runtime("profiling-sample-record-threshold-ms", "100", int(0, INT_MAX)) => Profiling,
    profiling_sample_commands: String = runtime("profiling-sample-commands", "", STR) => Profiling,
    rocksdb_block_size: usize = startup("rocksdb.block_size", "16384", int(0, INT_MAX)),
    rocksdb_read_options_async_io: bool = kvrocks_only("rocksdb.read_options.async_io", "no", BOOL),
    rocksdb_write_options_write_batch_max_bytes: u64 = kvrocks_only("rocksdb.write_options.write_batch_max_bytes", "0", int(0, INT_MAX)),
    rocksdb_write_options_sync: bool = runtime("rocksdb.write_options.sync", "no", BOOL) => SyncWrites,
    rocksdb_wal_ttl_seconds: u64 = startup("rocksdb.wal_ttl_seconds", "10800", int(0, INT_MAX)),
    rocksdb_wal_size_limit_mb: u64 = startup("rocksdb.wal_size_limit_mb", "16384", int(0, INT_MAX)),
    rocksdb_block_cache_size: usize = startup("rocksdb.block_cache_size", "256", int(8, 1 << 20)),
    rocksdb_write_buffer_size: usize = startup("rocksdb.write_buffer_size", "16", int(1, 1 << 16)),
    rocksdb_compaction_low_cpu_priority: bool = startup("rocksdb.compaction_low_cpu_priority", "yes", BOOL),
}

/// The option that renames a command (repeatable, two words, not in [`OPTIONS`]: CONFIG
/// SET cannot change it, CONFIG GET lists one `<name> <new name>` value per line).
pub const RENAME_COMMAND: &str = "rename-command";

/// Splits a `rename-command` value into the command's name and its new name. The new
/// name may be quoted (`''` or `""` = removed); `None` unless there are exactly two.
fn split_rename(value: &str) -> Option<(String, String)> {
    let value = value.trim();
    let at = value.find(char::is_whitespace)?;
    let (name, rest) = (&value[..at], value[at..].trim());
    let new = match rest.as_bytes() {
        [q, inner @ .., last] if (*q == b'"' || *q == b'\'') && last == q => {
            std::str::from_utf8(inner).ok()?
        }
        _ if rest.contains(char::is_whitespace) || rest.is_empty() => return None,
        _ => rest,
    };
    if name.is_empty() || new.contains(char::is_whitespace) {
        return None;
    }
    Some((name.to_string(), new.to_string()))
}

pub fn spec(name: &str) -> Option<&'static OptionSpec> {
    OPTIONS.iter().find(|o| o.name == name)
}

/// Why a name/value pair was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigError {
    Unknown(String),
    Invalid {
        name: &'static str,
        value: String,
        reason: String,
    },
    Immutable(&'static str),
    /// Refused with a text of its own (Redis' for that option), shown as is.
    Refused {
        name: &'static str,
        reason: &'static str,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Unknown(name) => write!(f, "unknown option '{name}'"),
            ConfigError::Invalid {
                name,
                value,
                reason,
            } => {
                write!(f, "invalid value '{value}' for option '{name}': {reason}")
            }
            ConfigError::Immutable(name) => {
                write!(f, "option '{name}' cannot be changed at run time")
            }
            ConfigError::Refused { name, reason } => {
                write!(f, "invalid value for option '{name}': {reason}")
            }
        }
    }
}

fn normalise(spec: &'static OptionSpec, value: &str) -> Result<String, ConfigError> {
    let invalid = |reason: String| ConfigError::Invalid {
        name: spec.name,
        value: value.to_string(),
        reason,
    };
    match spec.kind {
        Kind::Bool => match value.to_ascii_lowercase().as_str() {
            "yes" => Ok("yes".into()),
            "no" => Ok("no".into()),
            _ => Err(invalid("must be yes or no".into())),
        },
        Kind::Int { min, max } => match value.parse::<i64>() {
            Ok(n) if (min..=max).contains(&n) => Ok(n.to_string()),
            _ => Err(invalid(format!(
                "must be an integer between {min} and {max}"
            ))),
        },
        Kind::Enum(choices) => {
            let lower = value.to_ascii_lowercase();
            if choices.contains(&lower.as_str()) {
                Ok(lower)
            } else {
                Err(invalid(format!("must be one of {}", choices.join(", "))))
            }
        }
        Kind::Str => Ok(value.to_string()),
        Kind::KeyspaceEvents => crate::keyspace_events::parse(value)
            .map(crate::keyspace_events::format)
            .ok_or(ConfigError::Refused {
                name: spec.name,
                reason: crate::keyspace_events::INVALID,
            }),
    }
}

/// The effective configuration of a running server: the options' texts (for CONFIG
/// GET and REWRITE) and the same values typed ([`Settings`], reached through `Deref`:
/// `config.maxclients`).
#[derive(Debug, Clone)]
pub struct Config {
    values: BTreeMap<&'static str, String>,
    settings: Settings,
    /// The file it was loaded from, for CONFIG REWRITE.
    pub file: Option<PathBuf>,
    /// `rename-command <name> <new name>` lines, in order, as written (Redis' and
    /// Kvrocks' option; an empty new name removes the command). Start-up only.
    pub renamed_commands: Vec<(String, String)>,
}

impl Default for Config {
    fn default() -> Self {
        let values = OPTIONS
            .iter()
            .map(|o| (o.name, o.default.to_string()))
            .collect();
        Config {
            settings: Settings::read(&values),
            values,
            file: None,
            renamed_commands: Vec::new(),
        }
    }
}

impl std::ops::Deref for Config {
    type Target = Settings;

    fn deref(&self) -> &Settings {
        &self.settings
    }
}

impl Config {
    /// Hands the `profiling-*` settings to PERFLOG.
    pub fn configure_perflog(&self, perflog: &crate::perflog::PerfLog) {
        perflog.configure(
            self.profiling_sample_ratio,
            self.profiling_sample_record_max_len,
            self.profiling_sample_record_threshold_ms,
            &self.profiling_sample_commands,
        );
    }

    /// Sets an option during start-up (immutability does not apply).
    pub fn set_initial(&mut self, name: &str, value: &str) -> Result<(), ConfigError> {
        let lower = name.to_ascii_lowercase();
        if lower == RENAME_COMMAND {
            let rename = split_rename(value).ok_or_else(|| ConfigError::Invalid {
                name: RENAME_COMMAND,
                value: value.to_string(),
                reason: "must be a command name and its new name (\"\" to remove it)".into(),
            })?;
            self.renamed_commands.push(rename);
            return Ok(());
        }
        let spec = spec(&lower).ok_or_else(|| ConfigError::Unknown(name.to_string()))?;
        let value = normalise(spec, value)?;
        self.values.insert(spec.name, value);
        self.settings = Settings::read(&self.values);
        Ok(())
    }

    /// CONFIG SET of one option.
    pub fn set_runtime(
        &mut self,
        name: &str,
        value: &str,
    ) -> Result<&'static OptionSpec, ConfigError> {
        let lower = name.to_ascii_lowercase();
        let spec = spec(&lower).ok_or_else(|| ConfigError::Unknown(name.to_string()))?;
        if !spec.mutable {
            return Err(ConfigError::Immutable(spec.name));
        }
        let value = normalise(spec, value)?;
        self.values.insert(spec.name, value);
        self.settings = Settings::read(&self.values);
        Ok(spec)
    }

    /// An option's text by its table name.
    fn get(&self, name: &str) -> &str {
        self.values.get(name).map_or("", String::as_str)
    }

    /// All (name, value) pairs, in table order.
    pub fn entries(&self) -> impl Iterator<Item = (&'static str, &str)> {
        OPTIONS.iter().map(move |o| (o.name, self.get(o.name)))
    }

    /// `bind`: the addresses to listen on.
    pub fn bind_addrs(&self) -> Vec<String> {
        self.bind.split_whitespace().map(str::to_string).collect()
    }

    /// `dir`: where the data and the node's state files live.
    pub fn data_dir(&self) -> PathBuf {
        PathBuf::from(&self.dir)
    }

    /// Loads a config file: `name value` per line, `#` comments, quoted values.
    pub fn load_file(&mut self, path: &Path) -> Result<(), String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read config file {}: {e}", path.display()))?;
        for (number, line) in text.lines().enumerate() {
            let Some((name, value)) =
                parse_line(line).map_err(|e| format!("{}:{}: {e}", path.display(), number + 1))?
            else {
                continue;
            };
            self.set_initial(&name, &value)
                .map_err(|e| format!("{}:{}: {e}", path.display(), number + 1))?;
        }
        self.file = Some(path.to_path_buf());
        Ok(())
    }

    /// CONFIG REWRITE: rewrites the file in place, keeping comments and order, changing
    /// the lines of options whose value differs and appending options missing from it.
    pub fn rewrite(&self) -> Result<(), String> {
        let path = self
            .file
            .as_ref()
            .ok_or_else(|| "The server is running without a config file".to_string())?;
        let old = std::fs::read_to_string(path).unwrap_or_default();
        let mut written = std::collections::HashSet::new();
        let mut out = String::new();
        for line in old.lines() {
            match parse_line(line) {
                Ok(Some((name, _))) => {
                    let lower = name.to_ascii_lowercase();
                    match spec(&lower) {
                        Some(spec) if written.insert(spec.name) => {
                            out.push_str(&format_line(spec.name, self.get(spec.name)));
                        }
                        // A repeated option: the first line now carries the value.
                        Some(_) => continue,
                        None => out.push_str(line),
                    }
                }
                _ => out.push_str(line),
            }
            out.push('\n');
        }
        for option in OPTIONS {
            if !written.contains(option.name) && self.get(option.name) != option.default {
                out.push_str(&format_line(option.name, self.get(option.name)));
                out.push('\n');
            }
        }
        crate::files::write_atomic(path, out.as_bytes())
            .map_err(|e| format!("Rewriting config file: {e}"))
    }
}

fn format_line(name: &str, value: &str) -> String {
    if value.is_empty() || value.contains(char::is_whitespace) || value.contains('"') {
        format!(
            "{name} \"{}\"",
            value.replace('\\', "\\\\").replace('"', "\\\"")
        )
    } else {
        format!("{name} {value}")
    }
}

/// Splits one config line into name and value; `None` for blank and comment lines.
fn parse_line(line: &str) -> Result<Option<(String, String)>, String> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return Ok(None);
    }
    let (name, rest) = match line.find(char::is_whitespace) {
        Some(at) => (&line[..at], line[at..].trim()),
        None => (line, ""),
    };
    let value = if let Some(quote) = rest.chars().next().filter(|c| *c == '"' || *c == '\'') {
        let mut value = String::new();
        let mut chars = rest[1..].chars();
        let mut closed = false;
        while let Some(c) = chars.next() {
            match c {
                '\\' => value.extend(chars.next()),
                c if c == quote => {
                    closed = true;
                    break;
                }
                c => value.push(c),
            }
        }
        let trailing: String = chars.collect();
        if !closed || !(trailing.trim().is_empty() || trailing.trim().starts_with('#')) {
            return Err("unbalanced quotes in value".into());
        }
        value
    } else {
        rest.to_string()
    };
    Ok(Some((name.to_string(), value)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_parse_like_redis() {
        assert_eq!(parse_line("  # comment").unwrap(), None);
        assert_eq!(
            parse_line("port 7001").unwrap(),
            Some(("port".into(), "7001".into()))
        );
        assert_eq!(
            parse_line("requirepass \"a b\\\"c\"").unwrap(),
            Some(("requirepass".into(), "a b\"c".into()))
        );
        assert_eq!(
            parse_line("bind 127.0.0.1 ::1").unwrap(),
            Some(("bind".into(), "127.0.0.1 ::1".into()))
        );
        assert!(parse_line("requirepass \"open").is_err());
    }

    #[test]
    fn values_are_validated() {
        let mut config = Config::default();
        assert!(config.set_initial("port", "70000").is_err());
        assert!(config.set_initial("cluster-enabled", "maybe").is_err());
        assert_eq!(
            config.set_initial("nosuch", "1"),
            Err(ConfigError::Unknown("nosuch".into()))
        );
        config.set_initial("Cluster-Enabled", "YES").unwrap();
        assert!(config.cluster_enabled);
        config.set_initial("port", "7001").unwrap();
        assert_eq!(config.port, 7001);
        config.set_runtime("migrate-fence-max-ms", "25").unwrap();
        assert_eq!(config.migrate_fence_max_ms, 25);
        assert_eq!(config.get("migrate-fence-max-ms"), "25");
        assert_eq!(
            config.set_runtime("port", "1").err(),
            Some(ConfigError::Immutable("port"))
        );
    }

    #[test]
    fn the_shipped_config_file_documents_every_option() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../ferrokv.conf");
        let text = std::fs::read_to_string(&path).unwrap();
        let mut config = Config::default();
        config.load_file(&path).unwrap();
        for option in OPTIONS {
            assert!(
                text.lines().any(|l| l
                    .trim_start()
                    .trim_start_matches('#')
                    .trim_start()
                    .starts_with(&format!("{} ", option.name))),
                "ferrokv.conf does not mention {}",
                option.name
            );
            assert_eq!(
                config.get(option.name),
                option.default,
                "{} in ferrokv.conf",
                option.name
            );
            let settings = text
                .lines()
                .filter(|l| {
                    parse_line(l)
                        .ok()
                        .flatten()
                        .is_some_and(|(n, _)| n == option.name)
                })
                .count();
            assert_eq!(
                settings, 1,
                "ferrokv.conf sets {} {settings} times",
                option.name
            );
        }
    }
}
