//! `ferrokv-ctl rebalance`: a plan of moves evening out the masters, then the moves.

use std::collections::BTreeMap;

use serde_json::json;

use crate::cluster::{short, Cluster};
use crate::error::{CtlError, Result};
use crate::moves::{self, Move};
use crate::output::{Ctx, Report};
use crate::slots::SlotSet;
use crate::By;

/// A master's share of the load.
struct Share {
    id: String,
    addr: String,
    weight: f64,
    /// (slot, its load), in slot order.
    slots: Vec<(u16, i64)>,
    load: i64,
    target: f64,
}

/// Runs the subcommand.
pub fn run(
    ctx: &Ctx,
    seed: &str,
    by: By,
    threshold: f64,
    weights: &[String],
    dry_run: bool,
) -> Result<Report> {
    if !(0.0..=100.0).contains(&threshold) {
        return Err(CtlError::Usage(
            "--threshold is a percentage, 0 to 100".into(),
        ));
    }
    let mut cluster = Cluster::load_agreed(seed, ctx.password())?;
    let mut wmap: BTreeMap<String, f64> = BTreeMap::new();
    for w in weights {
        let (name, value) = w
            .rsplit_once('=')
            .ok_or_else(|| CtlError::Usage(format!("--weight `{w}` is not <node>=<weight>")))?;
        let value: f64 = value
            .parse()
            .ok()
            .filter(|v: &f64| v.is_finite() && *v >= 0.0)
            .ok_or_else(|| CtlError::Usage(format!("--weight `{w}`: not a weight")))?;
        let node = cluster.topology.find(name)?;
        if !node.is_master() {
            return Err(CtlError::Usage(format!("--weight `{w}`: not a master")));
        }
        wmap.insert(node.id.clone(), value);
    }
    let masters: Vec<_> = cluster.topology.masters().cloned().collect();
    let mut shares = Vec::new();
    let mut per_key_of: BTreeMap<String, f64> = BTreeMap::new();
    for m in &masters {
        let slots: Vec<u16> = m.slots.iter().collect();
        let loads: Vec<i64> = match by {
            By::Slots => vec![1; slots.len()],
            By::Keys | By::Bytes => {
                let cmds: Vec<Vec<String>> = slots
                    .iter()
                    .map(|s| vec!["CLUSTER".into(), "COUNTKEYSINSLOT".into(), s.to_string()])
                    .collect();
                let conn = cluster.conn(&m.id)?;
                let keys = conn.pipeline_ints(&cmds)?;
                if by == By::Bytes {
                    // No node reports bytes per slot: a slot weighs its keys times its
                    // node's bytes per key (operations.md, "rebalance --by bytes").
                    let (node_keys, node_bytes) = conn.size()?;
                    let per_key = if node_keys > 0 {
                        node_bytes as f64 / node_keys as f64
                    } else {
                        0.0
                    };
                    per_key_of.insert(m.id.clone(), per_key);
                    keys.iter()
                        .map(|k| (*k as f64 * per_key).round() as i64)
                        .collect()
                } else {
                    keys
                }
            }
        };
        let slots: Vec<(u16, i64)> = slots.into_iter().zip(loads).collect();
        shares.push(Share {
            id: m.id.clone(),
            addr: m.addr(),
            weight: wmap.get(&m.id).copied().unwrap_or(1.0),
            load: slots.iter().map(|s| s.1).sum(),
            slots,
            target: 0.0,
        });
    }
    let total: i64 = shares.iter().map(|s| s.load).sum();
    let wsum: f64 = shares.iter().map(|s| s.weight).sum();
    if wsum <= 0.0 {
        return Err(CtlError::Usage("every master has weight 0".into()));
    }
    for s in shares.iter_mut() {
        s.target = total as f64 * s.weight / wsum;
    }
    let unit = total as f64 / wsum;
    let within = |s: &Share| {
        if s.weight == 0.0 {
            s.slots.is_empty()
        } else {
            (s.load as f64 - s.target).abs() <= threshold / 100.0 * s.target.max(unit)
        }
    };
    let what = match by {
        By::Slots => "slots",
        By::Keys => "keys",
        By::Bytes => "bytes",
    };
    for s in &shares {
        let estimate = match per_key_of.get(&s.id) {
            Some(per_key) => format!(" (estimated: {per_key:.0} bytes per key)"),
            None => String::new(),
        };
        ctx.say(format!(
            "{:<21} {} {what}={} target={:.0} weight={}{estimate}",
            s.addr,
            short(&s.id),
            s.load,
            s.target,
            s.weight
        ));
    }
    let masters_json: Vec<_> = shares
        .iter()
        .map(|s| {
            json!({
                "id": s.id, "addr": s.addr, "load": s.load, "target": s.target.round() as i64,
                "weight": s.weight, "bytes_per_key": per_key_of.get(&s.id),
            })
        })
        .collect();
    let plan = if shares.iter().all(within) {
        Vec::new()
    } else {
        plan_moves(&shares)
    };
    if plan.is_empty() {
        ctx.say(format!("Balanced within {threshold}%: nothing to move"));
        return Ok(Report::ok(
            json!({"by": what, "masters": masters_json, "plan": [], "moves": []}),
        ));
    }
    for m in &plan {
        ctx.say(format!(
            "move {} slots {} -> {}: {}",
            m.slots.len(),
            short(&m.source),
            short(&m.destination),
            m.slots.brief()
        ));
    }
    if dry_run {
        return Ok(Report::ok(
            json!({"by": what, "masters": masters_json, "plan": plan, "dry_run": true}),
        ));
    }
    ctx.confirm("Run this plan?")?;
    let max_jobs = masters
        .iter()
        .filter_map(|m| {
            let c = cluster.conn(&m.id).ok()?;
            let v = c.call(&["CONFIG", "GET", "migrate-max-jobs"]).ok()?;
            match v {
                redis::Value::Array(items) => items.get(1).and_then(crate::conn::as_int),
                _ => None,
            }
        })
        .min()
        .unwrap_or(4)
        .max(1) as usize;
    cluster.claim()?;
    let outcomes = moves::run(ctx, &mut cluster, &plan, max_jobs);
    if let Some(e) = moves::failure(&cluster, &outcomes) {
        return Err(e);
    }
    ctx.say(format!("Rebalanced at version {}", cluster.version));
    Ok(Report {
        ok: !crate::output::interrupted(),
        value: json!({"by": what, "masters": masters_json, "plan": plan, "moves": outcomes, "version": cluster.version}),
    })
}

/// Greedy: each donor gives slots (from its highest) to the recipients in turn.
fn plan_moves(shares: &[Share]) -> Vec<Move> {
    let mut deficits: Vec<(String, f64)> = shares
        .iter()
        .filter(|s| s.weight > 0.0 && (s.load as f64) < s.target)
        .map(|s| (s.id.clone(), s.target - s.load as f64))
        .collect();
    let mut out: BTreeMap<(String, String), SlotSet> = BTreeMap::new();
    for donor in shares
        .iter()
        .filter(|s| s.load as f64 > s.target || s.weight == 0.0)
    {
        let drain = donor.weight == 0.0;
        let mut surplus = donor.load as f64 - donor.target;
        for &(slot, load) in donor.slots.iter().rev() {
            if !drain && surplus < load.max(1) as f64 / 2.0 {
                break;
            }
            if !drain && load == 0 {
                continue;
            }
            // The recipient with the largest deficit left takes it.
            let Some(rec) = deficits
                .iter_mut()
                .filter(|d| drain || d.1 >= load.max(1) as f64 / 2.0)
                .max_by(|a, b| a.1.total_cmp(&b.1))
            else {
                if drain {
                    continue;
                }
                break;
            };
            rec.1 -= load as f64;
            surplus -= load as f64;
            out.entry((donor.id.clone(), rec.0.clone()))
                .or_default()
                .insert(slot);
        }
    }
    out.into_iter()
        .map(|((source, destination), slots)| Move {
            source,
            destination,
            slots,
        })
        .collect()
}
