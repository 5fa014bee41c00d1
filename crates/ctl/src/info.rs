//! `ferrokv-ctl info`: one line per master, and the running jobs.

use serde_json::json;

use crate::cluster::Cluster;
use crate::error::Result;
use crate::jobs::human_bytes;
use crate::output::{Ctx, Report};

/// Runs the subcommand.
pub fn run(ctx: &Ctx, seed: &str) -> Result<Report> {
    let mut cluster = Cluster::load(seed, ctx.password())?;
    let problems = cluster.disagreements();
    ctx.say(format!("cluster version {}", cluster.version));
    let mut masters = Vec::new();
    let mut running = Vec::new();
    let nodes: Vec<_> = cluster.topology.masters().cloned().collect();
    for n in nodes {
        let replicas: Vec<String> = cluster
            .topology
            .replicas_of(&n.id)
            .map(|r| r.addr())
            .collect();
        let (keys, bytes) = match cluster.conn(&n.id) {
            Ok(c) => {
                let (keys, bytes) = c.size().unwrap_or((0, 0));
                if let Ok(jobs) = c.jobs() {
                    running.extend(jobs.into_iter().filter(|j| j.running()));
                }
                (Some(keys), Some(bytes))
            }
            Err(_) => (None, None),
        };
        ctx.say(format!(
            "{:<21} {} slots={:<5} keys={:<9} bytes={:<9} replicas=[{}] {}",
            n.addr(),
            n.id,
            n.slots.len(),
            keys.map_or("?".into(), |k| k.to_string()),
            bytes.map_or("?".into(), human_bytes),
            replicas.join(","),
            n.slots.brief()
        ));
        masters.push(json!({
            "addr": n.addr(), "id": n.id, "slots": n.slots.to_string(),
            "slot_count": n.slots.len(), "keys": keys, "bytes": bytes, "replicas": replicas,
        }));
    }
    for j in &running {
        ctx.say(format!(
            "job {} {}->{}: {}% {}",
            j.id,
            crate::cluster::short(&j.source),
            crate::cluster::short(&j.destination),
            j.percent.max(0),
            j.summary()
        ));
    }
    for p in &problems {
        ctx.say(format!("warning: {p}"));
    }
    Ok(Report {
        value: json!({"version": cluster.version, "masters": masters, "jobs": running, "problems": problems}),
        ok: problems.is_empty(),
    })
}
