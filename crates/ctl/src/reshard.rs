//! `ferrokv-ctl reshard`: one job moving a slot list from one master to another.

use serde_json::json;

use crate::cluster::{short, Cluster};
use crate::error::{CtlError, Result};
use crate::moves::{self, Move};
use crate::output::{interrupted, Ctx, Report};
use crate::slots::SlotSet;

/// Runs the subcommand.
pub fn run(
    ctx: &Ctx,
    seed: &str,
    from: &str,
    to: &str,
    slots: Option<&str>,
    count: Option<usize>,
) -> Result<Report> {
    let mut cluster = Cluster::load_agreed(seed, ctx.password())?;
    let src = cluster.topology.find(from)?.clone();
    let dst = cluster.topology.find(to)?.clone();
    if !src.is_master() || !dst.is_master() {
        return Err(CtlError::Usage("--from and --to must be masters".into()));
    }
    if src.id == dst.id {
        return Err(CtlError::Usage("--from and --to are the same node".into()));
    }
    let slots = match (slots, count) {
        (Some(list), _) => {
            let set = SlotSet::parse(list)?;
            let foreign = set.difference(&src.slots);
            if !foreign.is_empty() {
                return Err(CtlError::Usage(format!(
                    "{} does not own slots {foreign}",
                    src.addr()
                )));
            }
            set
        }
        (None, Some(n)) => {
            if n == 0 || n > src.slots.len() {
                return Err(CtlError::Usage(format!(
                    "--count must be between 1 and the {} slots {} owns",
                    src.slots.len(),
                    src.addr()
                )));
            }
            src.slots.iter().take(n).collect()
        }
        (None, None) => return Err(CtlError::Usage("give --slots or --count".into())),
    };
    ctx.say(format!(
        "Moving {} slots ({}) from {} ({}) to {} ({}), cluster version {}",
        slots.len(),
        slots.brief(),
        src.addr(),
        short(&src.id),
        dst.addr(),
        short(&dst.id),
        cluster.version
    ));
    ctx.confirm("Proceed?")?;
    if interrupted() {
        return Err(CtlError::Aborted("interrupted; nothing was changed".into()));
    }
    cluster.claim()?;
    let planned = vec![Move {
        source: src.id.clone(),
        destination: dst.id.clone(),
        slots,
    }];
    let outcomes = moves::run(ctx, &mut cluster, &planned, 1);
    if let Some(e) = moves::failure(&cluster, &outcomes) {
        return Err(e);
    }
    let out = outcomes.first();
    if let Some(o) = out {
        ctx.say(format!(
            "Done: {} handed over to {} at version {}",
            o.planned.slots.brief(),
            dst.addr(),
            o.version.unwrap_or(cluster.version)
        ));
    }
    let interrupted_late = interrupted();
    if interrupted_late {
        ctx.say("Ctrl-C came after the job had committed: the slots were handed over anyway");
    }
    Ok(Report {
        value: json!({ "moves": outcomes, "version": cluster.version }),
        // Ctrl-C after the commit: the move is done and handed over, but the operator
        // asked to stop, so say it did not go as asked.
        ok: !interrupted_late,
    })
}
