//! One connection to one node, and the commands the tool sends.

use std::collections::HashMap;
use std::time::Duration;

use redis::{ConnectionAddr, ConnectionInfo, RedisConnectionInfo, Value};

use crate::error::{CtlError, Result};

/// A connection to a node.
pub struct Conn {
    /// `host:port`.
    pub addr: String,
    con: redis::Connection,
}

impl Conn {
    /// Connects (with AUTH when a password is given), with 5 s to connect and 30 s per reply.
    pub fn open(addr: &str, password: Option<&str>) -> Result<Conn> {
        let (host, port) = crate::topology::split_addr(addr)?;
        let info = ConnectionInfo {
            addr: ConnectionAddr::Tcp(host, port),
            redis: RedisConnectionInfo {
                db: 0,
                username: None,
                password: password.map(str::to_string),
                protocol: redis::ProtocolVersion::RESP2,
            },
        };
        let err = |source| CtlError::Node {
            addr: addr.to_string(),
            source,
        };
        let client = redis::Client::open(info).map_err(err)?;
        let con = client
            .get_connection_with_timeout(Duration::from_secs(5))
            .map_err(err)?;
        con.set_read_timeout(Some(Duration::from_secs(30)))
            .map_err(err)?;
        con.set_write_timeout(Some(Duration::from_secs(30)))
            .map_err(err)?;
        Ok(Conn {
            addr: addr.to_string(),
            con,
        })
    }

    /// Sends a command and returns its reply.
    pub fn call(&mut self, args: &[&str]) -> Result<Value> {
        let mut cmd = redis::cmd(args.first().copied().unwrap_or("PING"));
        for a in args.iter().skip(1) {
            cmd.arg(*a);
        }
        cmd.query(&mut self.con).map_err(|source| CtlError::Node {
            addr: self.addr.clone(),
            source,
        })
    }

    /// Sends a command whose reply is text (bulk or status).
    pub fn text(&mut self, args: &[&str]) -> Result<String> {
        let v = self.call(args)?;
        as_text(&v).ok_or_else(|| self.bad(args, format!("{v:?}")))
    }

    /// Sends a command whose reply is an integer.
    pub fn int(&mut self, args: &[&str]) -> Result<i64> {
        let v = self.call(args)?;
        as_int(&v).ok_or_else(|| self.bad(args, format!("{v:?}")))
    }

    /// Many COUNTKEYSINSLOT-like integer commands in one pipeline.
    pub fn pipeline_ints(&mut self, cmds: &[Vec<String>]) -> Result<Vec<i64>> {
        let mut pipe = redis::pipe();
        for c in cmds {
            let mut cmd = redis::cmd(c.first().map(String::as_str).unwrap_or("PING"));
            for a in c.iter().skip(1) {
                cmd.arg(a.as_str());
            }
            pipe.add_command(cmd);
        }
        let values: Vec<Value> = pipe.query(&mut self.con).map_err(|source| CtlError::Node {
            addr: self.addr.clone(),
            source,
        })?;
        values
            .iter()
            .map(|v| as_int(v).ok_or_else(|| self.bad(&["pipeline"], format!("{v:?}"))))
            .collect()
    }

    /// `CLUSTERX VERSION`.
    pub fn version(&mut self) -> Result<i64> {
        let t = self.text(&["CLUSTERX", "VERSION"])?;
        t.trim()
            .parse()
            .map_err(|_| self.bad(&["CLUSTERX", "VERSION"], t.clone()))
    }

    /// `INFO <section>` as field → value.
    pub fn info(&mut self, section: &str) -> Result<HashMap<String, String>> {
        let text = self.text(&["INFO", section])?;
        Ok(text
            .lines()
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.to_string(), v.trim().to_string()))
            .collect())
    }

    /// The node's size: keys (INFO keyspace) and bytes (INFO rocksdb: live SST files
    /// plus memtables).
    pub fn size(&mut self) -> Result<(i64, i64)> {
        let keys = self
            .info("keyspace")?
            .get("db0")
            .and_then(|db| {
                db.split(',')
                    .find_map(|f| f.strip_prefix("keys=").map(str::to_string))
            })
            .and_then(|k| k.parse::<i64>().ok())
            .unwrap_or(0);
        let rocks = self.info("rocksdb")?;
        let num = |k: &str| {
            rocks
                .get(k)
                .and_then(|v| v.parse::<i64>().ok())
                .unwrap_or(0)
        };
        Ok((keys, num("live_sst_bytes") + num("memtable_bytes")))
    }

    /// Every job `CLUSTERX MIGRATION STATUS` knows.
    pub fn jobs(&mut self) -> Result<Vec<crate::jobs::JobStatus>> {
        let args = ["CLUSTERX", "MIGRATION", "STATUS"];
        let v = self.call(&args)?;
        let Value::Array(items) = v else {
            return Err(self.bad(&args, format!("{v:?}")));
        };
        items
            .iter()
            .map(|item| {
                crate::jobs::JobStatus::from_value(item)
                    .ok_or_else(|| self.bad(&args, format!("{item:?}")))
            })
            .collect()
    }

    fn bad(&self, args: &[&str], detail: String) -> CtlError {
        CtlError::Reply {
            addr: self.addr.clone(),
            command: args.iter().take(3).copied().collect::<Vec<_>>().join(" "),
            detail,
        }
    }
}

/// A bulk or status reply as text.
pub fn as_text(v: &Value) -> Option<String> {
    match v {
        Value::BulkString(b) => Some(String::from_utf8_lossy(b).into_owned()),
        Value::SimpleString(s) => Some(s.clone()),
        Value::Okay => Some("OK".into()),
        Value::Int(i) => Some(i.to_string()),
        Value::VerbatimString { text, .. } => Some(text.clone()),
        _ => None,
    }
}

/// An integer reply (or a bulk holding one).
pub fn as_int(v: &Value) -> Option<i64> {
    match v {
        Value::Int(i) => Some(*i),
        other => as_text(other).and_then(|t| t.trim().parse().ok()),
    }
}
