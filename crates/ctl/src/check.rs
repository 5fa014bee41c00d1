//! `ferrokv-ctl check`: every problem the tool can see, each with the command that fixes it.

use std::collections::BTreeMap;

use redis::Value;
use serde::Serialize;
use serde_json::json;

use crate::cluster::{short, Cluster};
use crate::conn::{as_int, as_text};
use crate::error::Result;
use crate::output::{Ctx, Report};
use crate::slots::{SlotSet, SLOTS};
use crate::topology::Topology;

/// One problem and its fix.
#[derive(Debug, Serialize)]
pub struct Problem {
    /// What is wrong.
    pub problem: String,
    /// The command that fixes it.
    pub fix: String,
}

/// A job in state start for this long with nothing sent is stuck.
const STUCK_MS: i64 = 60_000;

/// Runs the subcommand.
pub fn run(ctx: &Ctx, seed: &str) -> Result<Report> {
    let mut cluster = Cluster::load(seed, ctx.password())?;
    let mut problems = Vec::new();
    let newest = cluster.newest_version();
    let pw = match ctx.password() {
        Some(_) => " -a <password>",
        None => "",
    };
    let text = cluster.topology.setnodes_text();
    for p in cluster.disagreements() {
        problems.push(Problem {
            fix: if p.contains("unreachable") {
                "start the node again, or remove it: ferrokv-ctl del-node <host:port> <id>".into()
            } else {
                format!(
                    "redis-cli -h <host> -p <port>{pw} CLUSTERX SETNODES \"{}\" {newest} force",
                    text.replace('\n', "\\n")
                )
            },
            problem: p,
        });
    }
    // Every node reports the same topology.
    let ids: Vec<String> = cluster.views.keys().cloned().collect();
    for id in &ids {
        let Ok(c) = cluster.conn(id) else { continue };
        let addr = c.addr.clone();
        if let Ok(t) = c.text(&["CLUSTER", "NODES"]) {
            if let Ok(theirs) = Topology::parse_cluster_nodes(&addr, &t) {
                if theirs.setnodes_text() != text {
                    problems.push(Problem {
                        problem: format!("{addr} holds a different topology than {seed}"),
                        fix: format!(
                            "redis-cli -h {} -p {}{pw} CLUSTERX SETNODES \"<the topology of {seed}>\" {newest} force",
                            addr.rsplit_once(':').map_or("", |x| x.0),
                            addr.rsplit_once(':').map_or("", |x| x.1)
                        ),
                    });
                }
            }
        }
    }
    // Every slot owned exactly once (the nodes refuse overlaps; unowned slots remain).
    let owners: Vec<Option<String>> = cluster
        .topology
        .owners()
        .into_iter()
        .map(|o| o.map(|n| n.id.clone()))
        .collect();
    let unowned: SlotSet = (0..SLOTS as u16)
        .filter(|s| owners.get(usize::from(*s)).is_some_and(|o| o.is_none()))
        .collect();
    let first_master = cluster.topology.masters().next().map(|m| m.id.clone());
    if !unowned.is_empty() {
        problems.push(Problem {
            problem: format!("{} slots have no owner: {unowned}", unowned.len()),
            fix: format!(
                "on every node: CLUSTERX SETSLOT \"{unowned}\" NODE {} {}",
                first_master.as_deref().unwrap_or("<master-id>"),
                newest + 1
            ),
        });
    }
    let masters: Vec<_> = cluster.topology.masters().cloned().collect();
    let mut not_handed: BTreeMap<(String, String), SlotSet> = BTreeMap::new();
    let mut running = Vec::new();
    for m in &masters {
        let Ok(c) = cluster.conn(&m.id) else { continue };
        let addr = c.addr.clone();
        // Slots whose job committed but were not handed over: CLUSTER SLOTS names the
        // node serving them, the topology the owner.
        let mut serving_here = SlotSet::new();
        if let Ok(v) = c.call(&["CLUSTER", "SLOTS"]) {
            for (slots, serving) in serving_ranges(&v) {
                for s in slots.iter() {
                    if serving == m.id {
                        serving_here.insert(s);
                    }
                    if let Some(Some(owner)) = owners.get(usize::from(s)) {
                        if *owner != serving {
                            not_handed
                                .entry((owner.clone(), serving.clone()))
                                .or_default()
                                .insert(s);
                        }
                    }
                }
            }
        }
        // Data in slots it neither owns nor serves (a committed import not yet handed
        // over is served, and is reported below).
        let foreign: Vec<u16> = (0..SLOTS as u16)
            .filter(|s| !m.slots.contains(*s) && !serving_here.contains(*s))
            .collect();
        let cmds: Vec<Vec<String>> = foreign
            .iter()
            .map(|s| {
                vec![
                    "CLUSTER".to_string(),
                    "COUNTKEYSINSLOT".to_string(),
                    s.to_string(),
                ]
            })
            .collect();
        if let Ok(counts) = c.pipeline_ints(&cmds) {
            let holding: SlotSet = foreign
                .iter()
                .zip(&counts)
                .filter(|(_, n)| **n > 0)
                .map(|(s, _)| *s)
                .collect();
            if !holding.is_empty() {
                let keys: i64 = counts.iter().filter(|n| **n > 0).sum();
                problems.push(Problem {
                    problem: format!(
                        "{addr} ({}) holds {keys} keys in slots it does not own: {holding}",
                        short(&m.id)
                    ),
                    fix: format!(
                        "no server command deletes them yet (FLUSHSLOTS is not implemented); clients cannot see them; list them with: redis-cli -h {} -p {}{pw} CLUSTER GETKEYSINSLOT <slot> 100",
                        m.host, m.port
                    ),
                });
            }
        }
        // Stuck jobs.
        if let Ok(jobs) = c.jobs() {
            for j in jobs.into_iter().filter(|j| j.running()) {
                if j.elapsed_ms > STUCK_MS && j.bytes_sent <= 0 && j.keys_sent <= 0 {
                    problems.push(Problem {
                        problem: format!(
                            "job {} on {addr} (slots {}) has sent nothing in {} s",
                            j.id,
                            j.slots,
                            j.elapsed_ms / 1000
                        ),
                        fix: format!(
                            "redis-cli -h {} -p {}{pw} CLUSTERX MIGRATION CANCEL {}",
                            m.host, m.port, j.id
                        ),
                    });
                }
                running.push(j);
            }
        }
    }
    for ((from, to), slots) in &not_handed {
        problems.push(Problem {
            problem: format!(
                "slots {slots} were migrated from {} to {} (committed) but not handed over",
                short(from),
                short(to)
            ),
            fix: format!(
                "on every node, {} first: CLUSTERX SETSLOT \"{slots}\" NODE {to} <version+1>",
                short(to)
            ),
        });
    }
    if problems.is_empty() {
        ctx.say(format!(
            "OK: {} nodes at version {newest}, all 16384 slots owned, no data out of place{}",
            cluster.topology.nodes.len(),
            if running.is_empty() {
                String::new()
            } else {
                format!(", {} jobs running", running.len())
            }
        ));
    }
    for p in &problems {
        ctx.say(format!("PROBLEM: {}\n    fix: {}", p.problem, p.fix));
    }
    Ok(Report {
        ok: problems.is_empty(),
        value: json!({"version": newest, "problems": problems, "running_jobs": running}),
    })
}

/// `CLUSTER SLOTS` as (slots, id of the node serving them).
fn serving_ranges(v: &Value) -> Vec<(SlotSet, String)> {
    let Value::Array(entries) = v else {
        return Vec::new();
    };
    entries
        .iter()
        .filter_map(|e| {
            let Value::Array(fields) = e else { return None };
            let a = as_int(fields.first()?)?;
            let b = as_int(fields.get(1)?)?;
            let Value::Array(node) = fields.get(2)? else {
                return None;
            };
            let id = as_text(node.get(2)?)?;
            let mut s = SlotSet::new();
            s.insert_range(u16::try_from(a).ok()?, u16::try_from(b).ok()?);
            Some((s, id))
        })
        .collect()
}
