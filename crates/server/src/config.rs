//! Configuration: the option table (names, defaults, validation, documentation), the
//! Kvrocks/Redis config file format, `--option value` overrides and CONFIG REWRITE.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// How an option's value is validated.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    Bool,
    Int { min: i64, max: i64 },
    Str,
    Enum(&'static [&'static str]),
}

/// One configurable option. The table below is the single source of truth: parsing,
/// CONFIG GET/SET and the shipped ferrokv.conf are all checked against it.
#[derive(Debug)]
pub struct OptionSpec {
    pub name: &'static str,
    pub default: &'static str,
    pub kind: Kind,
    /// Whether CONFIG SET may change it at run time.
    pub mutable: bool,
}

const INT_MAX: i64 = i64::MAX;

pub const OPTIONS: &[OptionSpec] = &[
    OptionSpec {
        name: "bind",
        default: "127.0.0.1",
        kind: Kind::Str,
        mutable: false,
    },
    OptionSpec {
        name: "port",
        default: "6666",
        kind: Kind::Int { min: 1, max: 65535 },
        mutable: false,
    },
    OptionSpec {
        name: "dir",
        default: "ferrokv-data",
        kind: Kind::Str,
        mutable: false,
    },
    OptionSpec {
        name: "workers",
        default: "0",
        kind: Kind::Int { min: 0, max: 256 },
        mutable: false,
    },
    OptionSpec {
        name: "tcp-backlog",
        default: "511",
        kind: Kind::Int { min: 1, max: 65535 },
        mutable: false,
    },
    OptionSpec {
        name: "maxclients",
        default: "10000",
        kind: Kind::Int {
            min: 1,
            max: 1_000_000,
        },
        mutable: true,
    },
    OptionSpec {
        name: "timeout",
        default: "0",
        kind: Kind::Int {
            min: 0,
            max: INT_MAX,
        },
        mutable: true,
    },
    OptionSpec {
        name: "requirepass",
        default: "",
        kind: Kind::Str,
        mutable: true,
    },
    OptionSpec {
        name: "proto-max-bulk-len",
        default: "536870912",
        kind: Kind::Int {
            min: 1024 * 1024,
            max: INT_MAX,
        },
        mutable: true,
    },
    OptionSpec {
        name: "log-level",
        default: "info",
        kind: Kind::Enum(&["debug", "info", "warning", "error", "fatal"]),
        mutable: true,
    },
    OptionSpec {
        name: "log-dir",
        default: "stderr",
        kind: Kind::Str,
        mutable: false,
    },
    OptionSpec {
        name: "pidfile",
        default: "",
        kind: Kind::Str,
        mutable: false,
    },
    OptionSpec {
        name: "cluster-enabled",
        default: "no",
        kind: Kind::Bool,
        mutable: false,
    },
    OptionSpec {
        name: "persist-cluster-nodes-enabled",
        default: "yes",
        kind: Kind::Bool,
        mutable: true,
    },
    OptionSpec {
        name: "migrate-max-jobs",
        default: "4",
        kind: Kind::Int { min: 1, max: 1024 },
        mutable: true,
    },
    OptionSpec {
        name: "migrate-batch-size-kb",
        default: "256",
        kind: Kind::Int {
            min: 1,
            max: 1024 * 1024,
        },
        mutable: true,
    },
    OptionSpec {
        name: "migrate-batch-rate-limit-mb",
        default: "0",
        kind: Kind::Int {
            min: 0,
            max: INT_MAX,
        },
        mutable: true,
    },
    OptionSpec {
        name: "migrate-sequence-gap",
        default: "1000",
        kind: Kind::Int {
            min: 0,
            max: INT_MAX,
        },
        mutable: true,
    },
    OptionSpec {
        name: "migrate-fence-max-ms",
        default: "1000",
        kind: Kind::Int {
            min: 1,
            max: INT_MAX,
        },
        mutable: true,
    },
    OptionSpec {
        name: "migrate-io-timeout-ms",
        default: "10000",
        kind: Kind::Int {
            min: 100,
            max: INT_MAX,
        },
        mutable: true,
    },
    OptionSpec {
        name: "migrate-speed",
        default: "4096",
        kind: Kind::Int {
            min: 0,
            max: INT_MAX,
        },
        mutable: true,
    },
    OptionSpec {
        name: "migrate-pipeline-size",
        default: "16",
        kind: Kind::Int {
            min: 1,
            max: INT_MAX,
        },
        mutable: true,
    },
    OptionSpec {
        name: "migrate-type",
        default: "raw-key-value",
        kind: Kind::Enum(&["raw-key-value", "redis-command"]),
        mutable: true,
    },
    OptionSpec {
        name: "rocksdb.write_options.sync",
        default: "no",
        kind: Kind::Bool,
        mutable: false,
    },
    OptionSpec {
        name: "rocksdb.wal_ttl_seconds",
        default: "10800",
        kind: Kind::Int {
            min: 0,
            max: INT_MAX,
        },
        mutable: false,
    },
    OptionSpec {
        name: "rocksdb.wal_size_limit_mb",
        default: "16384",
        kind: Kind::Int {
            min: 0,
            max: INT_MAX,
        },
        mutable: false,
    },
    OptionSpec {
        name: "rocksdb.block_cache_size",
        default: "256",
        kind: Kind::Int {
            min: 8,
            max: 1 << 20,
        },
        mutable: false,
    },
    OptionSpec {
        name: "rocksdb.write_buffer_size",
        default: "64",
        kind: Kind::Int {
            min: 1,
            max: 1 << 16,
        },
        mutable: false,
    },
];

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
    }
}

/// The effective configuration of a running server.
#[derive(Debug, Clone)]
pub struct Config {
    values: BTreeMap<&'static str, String>,
    /// The file it was loaded from, for CONFIG REWRITE.
    pub file: Option<PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            values: OPTIONS
                .iter()
                .map(|o| (o.name, o.default.to_string()))
                .collect(),
            file: None,
        }
    }
}

impl Config {
    /// Sets an option during start-up (immutability does not apply).
    pub fn set_initial(&mut self, name: &str, value: &str) -> Result<(), ConfigError> {
        let lower = name.to_ascii_lowercase();
        let spec = spec(&lower).ok_or_else(|| ConfigError::Unknown(name.to_string()))?;
        let value = normalise(spec, value)?;
        self.values.insert(spec.name, value);
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
        Ok(spec)
    }

    pub fn get(&self, name: &str) -> &str {
        self.values.get(name).map_or("", String::as_str)
    }

    pub fn get_int(&self, name: &str) -> i64 {
        self.get(name).parse().unwrap_or(0)
    }

    pub fn get_bool(&self, name: &str) -> bool {
        self.get(name) == "yes"
    }

    /// All (name, value) pairs, in table order.
    pub fn entries(&self) -> impl Iterator<Item = (&'static str, &str)> {
        OPTIONS.iter().map(move |o| (o.name, self.get(o.name)))
    }

    pub fn port(&self) -> u16 {
        u16::try_from(self.get_int("port")).unwrap_or(6666)
    }

    pub fn bind_addrs(&self) -> Vec<String> {
        self.get("bind")
            .split_whitespace()
            .map(str::to_string)
            .collect()
    }

    pub fn dir(&self) -> PathBuf {
        PathBuf::from(self.get("dir"))
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
        let tmp = path.with_extension("rewrite.tmp");
        std::fs::write(&tmp, out)
            .and_then(|_| std::fs::rename(&tmp, path))
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
        assert!(config.get_bool("cluster-enabled"));
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
        }
    }
}
