//! `ferrokv-ctl watch`: every running job of the cluster, live.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use serde_json::json;

use crate::cluster::{short, Cluster};
use crate::error::Result;
use crate::output::{interrupted, Ctx, Report};

/// Runs the subcommand until Ctrl-C or `seconds`.
pub fn run(ctx: &Ctx, seed: &str, seconds: Option<u64>) -> Result<Report> {
    let mut cluster = Cluster::load(seed, ctx.password())?;
    let masters: Vec<String> = cluster.topology.masters().map(|m| m.id.clone()).collect();
    let multi = MultiProgress::new();
    let style = ProgressStyle::with_template("{prefix:.bold} [{bar:30.cyan/blue}] {pos:>3}% {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
    let mut bars: HashMap<(String, String), ProgressBar> = HashMap::new();
    let end = seconds.map(|s| Instant::now() + Duration::from_secs(s));
    let mut ticks = 0u64;
    if !ctx.json && seconds.is_none() {
        eprintln!("watching every job of the cluster; Ctrl-C to stop");
    }
    while !interrupted() && end.is_none_or(|e| Instant::now() < e) {
        for id in &masters {
            let Ok(c) = cluster.conn(id) else { continue };
            let Ok(jobs) = c.jobs() else { continue };
            for j in jobs {
                let key = (id.clone(), j.id.clone());
                if ctx.json {
                    if j.running() {
                        println!("{}", json!({"node": c.addr, "job": j}));
                    }
                    continue;
                }
                match bars.get(&key) {
                    Some(bar) if bar.is_finished() => {}
                    Some(bar) => {
                        bar.set_position(j.progress());
                        bar.set_message(j.summary());
                        if !j.running() {
                            bar.finish_with_message(format!("{} {}", j.slots, j.state));
                        }
                    }
                    None if j.running() => {
                        let bar = multi.add(ProgressBar::new(100));
                        bar.set_style(style.clone());
                        bar.set_prefix(format!(
                            "{} {}->{}",
                            j.id,
                            short(&j.source),
                            short(&j.destination)
                        ));
                        bar.set_position(j.progress());
                        bar.set_message(j.summary());
                        bars.insert(key, bar);
                    }
                    None => {}
                }
            }
        }
        ticks += 1;
        let step = Instant::now() + Duration::from_secs(1);
        while Instant::now() < step && !interrupted() {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    Ok(Report::ok(json!({"ticks": ticks})))
}
