//! Migration jobs as `CLUSTERX MIGRATION STATUS` reports them.

use redis::Value;
use serde::Serialize;

use crate::conn::{as_int, as_text};

/// One job's status.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct JobStatus {
    /// Job id, unique on its source.
    pub id: String,
    /// The slots it moves.
    pub slots: String,
    /// Source node id.
    pub source: String,
    /// Destination node id.
    pub destination: String,
    /// `start`, `success`, `fail` or `cancelled`.
    pub state: String,
    /// Where the job is now.
    pub phase: String,
    /// Keys to send (-1: unknown yet).
    pub keys_total: i64,
    /// Keys sent.
    pub keys_sent: i64,
    /// Bytes to send (-1: unknown yet).
    pub bytes_total: i64,
    /// Bytes sent.
    pub bytes_sent: i64,
    /// Progress by bytes, 0-100.
    pub percent: i64,
    /// Current rate.
    pub rate_bytes_per_sec: i64,
    /// Estimated time left (-1: unknown).
    pub eta_ms: i64,
    /// Time since the job started.
    pub elapsed_ms: i64,
    /// How long writes were held at the cut-over.
    pub fence_ms: i64,
    /// Why it failed (empty otherwise).
    pub error: String,
}

impl JobStatus {
    /// Reads one STATUS entry (RESP2 flat array or RESP3 map).
    pub fn from_value(v: &Value) -> Option<JobStatus> {
        let pairs: Vec<(String, &Value)> = match v {
            Value::Array(items) => items
                .chunks(2)
                .filter_map(|p| match p {
                    [k, v] => Some((as_text(k)?, v)),
                    _ => None,
                })
                .collect(),
            Value::Map(items) => items
                .iter()
                .filter_map(|(k, v)| Some((as_text(k)?, v)))
                .collect(),
            _ => return None,
        };
        let text = |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .and_then(|(_, v)| as_text(v))
                .unwrap_or_default()
        };
        let int = |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .and_then(|(_, v)| as_int(v))
                .unwrap_or(-1)
        };
        let id = text("id");
        if id.is_empty() {
            return None;
        }
        Some(JobStatus {
            id,
            slots: text("slots"),
            source: text("source"),
            destination: text("destination"),
            state: text("state"),
            phase: text("phase"),
            keys_total: int("keys_total"),
            keys_sent: int("keys_sent"),
            bytes_total: int("bytes_total"),
            bytes_sent: int("bytes_sent"),
            percent: int("percent"),
            rate_bytes_per_sec: int("rate_bytes_per_sec"),
            eta_ms: int("eta_ms"),
            elapsed_ms: int("elapsed_ms"),
            fence_ms: int("fence_ms"),
            error: text("error"),
        })
    }

    /// Whether the job is still running.
    pub fn running(&self) -> bool {
        self.state == "start"
    }

    /// Progress for the bar, 0-100: by keys once they are counted (the count is exact,
    /// while the byte total is an estimate), else the node's percent by bytes.
    pub fn progress(&self) -> u64 {
        let p = if self.keys_total > 0 {
            self.keys_sent.saturating_mul(100) / self.keys_total
        } else if self.state == "success" {
            100
        } else {
            self.percent
        };
        p.clamp(0, 100) as u64
    }

    /// One line for the bar's message: keys, rate, ETA.
    pub fn summary(&self) -> String {
        let keys = if self.keys_total >= 0 {
            format!("{}/{} keys", self.keys_sent, self.keys_total)
        } else {
            format!("{} keys", self.keys_sent)
        };
        let eta = if self.eta_ms >= 0 {
            format!("ETA {:.1}s", self.eta_ms as f64 / 1000.0)
        } else {
            "ETA ?".to_string()
        };
        format!(
            "{} {keys}, {}/s, {eta} [{}]",
            self.slots,
            human_bytes(self.rate_bytes_per_sec),
            self.phase
        )
    }
}

/// `1.5 MB`-style sizes.
pub fn human_bytes(n: i64) -> String {
    let n = n.max(0) as f64;
    if n >= 1e9 {
        format!("{:.1} GB", n / 1e9)
    } else if n >= 1e6 {
        format!("{:.1} MB", n / 1e6)
    } else if n >= 1e3 {
        format!("{:.1} kB", n / 1e3)
    } else {
        format!("{n} B")
    }
}
