//! `ferrokv-ctl fix`: repairs what `check` finds and can be repaired without a choice to
//! make: committed jobs that were never handed over get their hand-over (the same
//! version+1 `CLUSTERX SETSLOT` sequence as after a reshard), and keys a master keeps in
//! slots it neither owns nor serves are deleted (`CLUSTERX FLUSHSLOTS`). Slots a running
//! job moves are never touched, and the nodes refuse FLUSHSLOTS for them anyway.

use std::time::Duration;

use serde::Serialize;
use serde_json::json;

use crate::check::{self, ForeignData, PendingHandOver};
use crate::cluster::{short, Cluster};
use crate::error::{CtlError, Result};
use crate::output::{Ctx, Report};
use crate::slots::SlotSet;

/// A hand-over done.
#[derive(Debug, Serialize)]
struct HandedOver {
    source: String,
    destination: String,
    #[serde(serialize_with = "crate::slots::as_text")]
    slots: SlotSet,
    version: i64,
}

/// Data deleted on one node (or refused, with why).
#[derive(Debug, Serialize)]
struct Flushed {
    id: String,
    addr: String,
    #[serde(serialize_with = "crate::slots::as_text")]
    slots: SlotSet,
    keys: i64,
    /// Empty when deleted.
    error: String,
}

/// Runs the subcommand.
pub fn run(ctx: &Ctx, seed: &str) -> Result<Report> {
    let pw = check::password_hint(ctx);
    let mut cluster = Cluster::load_agreed(seed, ctx.password())?;
    let found = check::survey(&mut cluster, pw);
    let (hand_overs, in_doubt): (Vec<PendingHandOver>, Vec<PendingHandOver>) =
        found.pending.into_iter().partition(|p| p.confirmed);
    let planned_flush: Vec<ForeignData> = found.foreign;
    for p in &hand_overs {
        ctx.say(format!(
            "hand over slots {} from {} to {}: the job committed, the topology still names {}",
            p.slots.brief(),
            short(&p.source),
            short(&p.destination),
            short(&p.source)
        ));
    }
    for f in &planned_flush {
        ctx.say(format!(
            "delete {} keys on {} ({}) in slots it does not own: {}",
            f.keys,
            f.addr,
            short(&f.id),
            f.slots.brief()
        ));
    }
    let mut left: Vec<String> = in_doubt
        .iter()
        .map(|p| {
            format!(
                "slots {} imported by {} from {}: the source has not recorded the commit yet (it settles that by itself); run fix again later",
                p.slots.brief(),
                short(&p.destination),
                short(&p.source)
            )
        })
        .collect();
    if !found.running.is_empty() {
        ctx.say(format!(
            "left alone: slots {} of {} running jobs",
            found.moving.brief(),
            found.running.len()
        ));
    }
    if hand_overs.is_empty() && planned_flush.is_empty() {
        ctx.say("Nothing to fix");
        for l in &left {
            ctx.say(format!("not fixed: {l}"));
        }
        return Ok(Report {
            ok: left.is_empty(),
            value: json!({"version": cluster.version, "handed_over": [], "flushed": [], "left": left}),
        });
    }
    ctx.confirm("Fix these?")?;

    let mut handed = Vec::new();
    if !hand_overs.is_empty() {
        cluster.claim()?;
        for p in &hand_overs {
            let version = cluster.hand_over(
                &p.slots,
                &p.destination,
                &[&p.destination, &p.source],
                Duration::from_secs(30),
            )?;
            ctx.say(format!(
                "handed over slots {} to {} at version {version}",
                p.slots.brief(),
                short(&p.destination)
            ));
            handed.push(HandedOver {
                source: p.source.clone(),
                destination: p.destination.clone(),
                slots: p.slots.clone(),
                version,
            });
        }
    }

    // Read again just before deleting: only what was planned and is still out of place
    // on the same topology goes (a hand-over deletes the source's copy by itself).
    let mut flushed = Vec::new();
    if !planned_flush.is_empty() {
        let mut cluster = Cluster::load_agreed(seed, ctx.password())?;
        let now = check::survey(&mut cluster, pw);
        for f in &planned_flush {
            let Some(still) = now.foreign.iter().find(|n| n.id == f.id) else {
                continue;
            };
            let slots = f.slots.intersection(&still.slots);
            if slots.is_empty() {
                continue;
            }
            let result = flush(&mut cluster, &f.id, &slots);
            let error = match &result {
                Ok(()) => {
                    ctx.say(format!(
                        "deleted {} keys on {} (slots {})",
                        still.keys,
                        f.addr,
                        slots.brief()
                    ));
                    String::new()
                }
                Err(e) => {
                    left.push(format!("slots {} on {}: {e}", slots.brief(), f.addr));
                    e.to_string()
                }
            };
            flushed.push(Flushed {
                id: f.id.clone(),
                addr: f.addr.clone(),
                slots,
                keys: still.keys,
                error,
            });
        }
    }
    for l in &left {
        ctx.say(format!("not fixed: {l}"));
    }
    Ok(Report {
        ok: left.is_empty(),
        value: json!({
            "version": cluster.version,
            "handed_over": handed,
            "flushed": flushed,
            "left": left,
        }),
    })
}

/// `CLUSTERX FLUSHSLOTS` on node `id`, provided its topology is still the version the
/// plan was made from: a topology pushed in between may have given it those slots.
fn flush(cluster: &mut Cluster, id: &str, slots: &SlotSet) -> Result<()> {
    let expected = cluster.version;
    let conn = cluster.conn(id)?;
    let version = conn.version()?;
    if version != expected {
        return Err(CtlError::VersionRace {
            detail: format!(
                "{} is at version {version}, the plan was made at {expected}",
                conn.addr
            ),
        });
    }
    conn.text(&["CLUSTERX", "FLUSHSLOTS", &slots.to_string()])?;
    Ok(())
}
