//! `ferrokv-ctl check`: every problem the tool can see, each with the command that fixes it.
//! The survey of the masters (data out of place, hand-overs pending, running jobs) is
//! shared with `fix`, which repairs what it finds.

use std::collections::BTreeMap;

use redis::Value;
use serde::Serialize;
use serde_json::json;

use crate::cluster::{short, Cluster};
use crate::conn::{as_int, as_text};
use crate::error::Result;
use crate::jobs::JobStatus;
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

/// Slots whose migration committed while the topology still names their old owner.
#[derive(Debug, Clone, Serialize)]
pub struct PendingHandOver {
    /// The owner in the topology: the job's source.
    pub source: String,
    /// The node serving them: the job's destination.
    pub destination: String,
    /// The slots.
    #[serde(serialize_with = "crate::slots::as_text")]
    pub slots: SlotSet,
    /// The source itself reports the commit (its CLUSTER SLOTS names the destination):
    /// only then is handing them over certain to lose nothing. Otherwise only the
    /// destination says so, and the source is still settling a cut-over in doubt.
    pub confirmed: bool,
}

/// Keys a master holds in slots it neither owns nor serves.
#[derive(Debug, Clone, Serialize)]
pub struct ForeignData {
    /// The master's id.
    pub id: String,
    /// Its `host:port`.
    pub addr: String,
    /// The slots holding keys.
    #[serde(serialize_with = "crate::slots::as_text")]
    pub slots: SlotSet,
    /// How many keys they hold.
    pub keys: i64,
}

/// What the masters report beyond the topology.
#[derive(Default)]
pub struct Survey {
    /// Committed jobs not handed over.
    pub pending: Vec<PendingHandOver>,
    /// Data out of place, per master.
    pub foreign: Vec<ForeignData>,
    /// Running jobs (every master's).
    pub running: Vec<JobStatus>,
    /// Slots a running job moves (on its source and destination both).
    pub moving: SlotSet,
    /// Problems met while surveying (stuck jobs), with their fixes.
    pub problems: Vec<Problem>,
}

/// Reads every master: the slots it serves (CLUSTER SLOTS), its jobs (MIGRATION STATUS)
/// and the keys it holds in slots it neither owns nor serves (COUNTKEYSINSLOT per slot,
/// pipelined; slots a running job moves are left out). Unreachable masters are skipped:
/// `Cluster::disagreements` reports them.
pub fn survey(cluster: &mut Cluster, password_hint: &str) -> Survey {
    let mut out = Survey::default();
    let owners: Vec<Option<String>> = cluster
        .topology
        .owners()
        .into_iter()
        .map(|o| o.map(|n| n.id.clone()))
        .collect();
    let masters: Vec<_> = cluster.topology.masters().cloned().collect();
    // Running jobs first: their slots are off limits to everything below.
    for m in &masters {
        let Ok(c) = cluster.conn(&m.id) else { continue };
        let addr = c.addr.clone();
        let Ok(jobs) = c.jobs() else { continue };
        for j in jobs.into_iter().filter(|j| j.running()) {
            if let Ok(slots) = SlotSet::parse(&j.slots) {
                out.moving.union_with(&slots);
            }
            if j.elapsed_ms > STUCK_MS && j.bytes_sent <= 0 && j.keys_sent <= 0 {
                out.problems.push(Problem {
                    problem: format!(
                        "job {} on {addr} (slots {}) has sent nothing in {} s",
                        j.id,
                        j.slots,
                        j.elapsed_ms / 1000
                    ),
                    fix: format!(
                        "redis-cli -h {} -p {}{password_hint} CLUSTERX MIGRATION CANCEL {}",
                        m.host, m.port, j.id
                    ),
                });
            }
            out.running.push(j);
        }
    }
    // (owner, serving) -> (every slot reported, slots the owner itself reports)
    let mut not_handed: BTreeMap<(String, String), (SlotSet, SlotSet)> = BTreeMap::new();
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
                            let entry = not_handed
                                .entry((owner.clone(), serving.clone()))
                                .or_default();
                            entry.0.insert(s);
                            if *owner == m.id {
                                entry.1.insert(s);
                            }
                        }
                    }
                }
            }
        }
        // Data in slots it neither owns nor serves (a committed import not yet handed
        // over is served, and is reported above).
        let foreign: Vec<u16> = (0..SLOTS as u16)
            .filter(|s| {
                !m.slots.contains(*s) && !serving_here.contains(*s) && !out.moving.contains(*s)
            })
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
                out.foreign.push(ForeignData {
                    id: m.id.clone(),
                    addr,
                    slots: holding,
                    keys: counts.iter().filter(|n| **n > 0).sum(),
                });
            }
        }
    }
    for ((source, destination), (all, confirmed)) in not_handed {
        let unconfirmed = all.difference(&confirmed);
        for (slots, confirmed) in [(confirmed, true), (unconfirmed, false)] {
            if !slots.is_empty() {
                out.pending.push(PendingHandOver {
                    source: source.clone(),
                    destination: destination.clone(),
                    slots,
                    confirmed,
                });
            }
        }
    }
    out
}

/// ` -a <password>` when the nodes have one, for the printed commands.
pub fn password_hint(ctx: &Ctx) -> &'static str {
    match ctx.password() {
        Some(_) => " -a <password>",
        None => "",
    }
}

/// Runs the subcommand.
pub fn run(ctx: &Ctx, seed: &str) -> Result<Report> {
    let mut cluster = Cluster::load(seed, ctx.password())?;
    let mut problems = Vec::new();
    let newest = cluster.newest_version();
    let pw = password_hint(ctx);
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
    let unowned: SlotSet = cluster
        .topology
        .owners()
        .iter()
        .enumerate()
        .filter(|(_, o)| o.is_none())
        .map(|(s, _)| s as u16)
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
    let survey = survey(&mut cluster, pw);
    problems.extend(survey.problems);
    let addr_of = |id: &str| {
        cluster
            .topology
            .by_id(id)
            .map(|n| (n.host.clone(), n.port))
            .unwrap_or_default()
    };
    for f in &survey.foreign {
        let (host, port) = addr_of(&f.id);
        problems.push(Problem {
            problem: format!(
                "{} ({}) holds {} keys in slots it does not own: {}",
                f.addr,
                short(&f.id),
                f.keys,
                f.slots
            ),
            fix: format!(
                "ferrokv-ctl fix {seed} (deletes them), or by hand: redis-cli -h {host} -p {port}{pw} CLUSTERX FLUSHSLOTS \"{}\"",
                f.slots
            ),
        });
    }
    for p in &survey.pending {
        let (from, to, slots) = (&p.source, &p.destination, &p.slots);
        if p.confirmed {
            problems.push(Problem {
                problem: format!(
                    "slots {slots} were migrated from {} to {} (committed) but not handed over",
                    short(from),
                    short(to)
                ),
                fix: format!(
                    "ferrokv-ctl fix {seed}, or by hand on every node, {} first, then {}: CLUSTERX SETSLOT \"{slots}\" NODE {to} {}",
                    short(to),
                    short(from),
                    newest + 1
                ),
            });
        } else {
            problems.push(Problem {
                problem: format!(
                    "{} serves slots {slots} it imported from {}, which has not recorded the commit (a cut-over in doubt)",
                    short(to),
                    short(from)
                ),
                fix: format!(
                    "wait: {} settles it with {} by itself; then ferrokv-ctl fix {seed}",
                    short(from),
                    short(to)
                ),
            });
        }
    }
    if problems.is_empty() {
        ctx.say(format!(
            "OK: {} nodes at version {newest}, all 16384 slots owned, no data out of place{}",
            cluster.topology.nodes.len(),
            if survey.running.is_empty() {
                String::new()
            } else {
                format!(", {} jobs running", survey.running.len())
            }
        ));
    }
    for p in &problems {
        ctx.say(format!("PROBLEM: {}\n    fix: {}", p.problem, p.fix));
    }
    Ok(Report {
        ok: problems.is_empty(),
        value: json!({"version": newest, "problems": problems, "running_jobs": survey.running}),
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
