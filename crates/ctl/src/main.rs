//! `ferrokv-ctl`: the operator's tool for a Ferrokv cluster. Stateless: every run reads
//! the topology from the nodes and pushes changes with the next version.

mod check;
mod cluster;
mod conn;
mod create;
mod error;
mod failover;
mod fix;
mod info;
mod jobs;
mod moves;
mod nodes;
mod output;
mod rebalance;
mod reshard;
mod slots;
mod topology;
mod watch;

use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use crate::output::Ctx;

/// Create, inspect, check, fix and reshard a Ferrokv (Kvrocks-compatible) cluster.
#[derive(Parser, Debug)]
#[command(name = "ferrokv-ctl", version, about)]
struct Cli {
    /// Password of the nodes (`requirepass`).
    #[arg(short = 'a', long, global = true)]
    password: Option<String>,
    /// Machine-readable output on stdout (JSON), no progress bars.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

/// What to balance by.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum By {
    /// Number of slots.
    Slots,
    /// Number of keys (CLUSTER COUNTKEYSINSLOT).
    Keys,
    /// Bytes, estimated per slot: its keys times its node's bytes per key (RocksDB's
    /// live SST and memtable sizes over the node's keys).
    Bytes,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Make a cluster of fresh nodes: ids, slots spread evenly over the masters, version 1.
    Create {
        /// The nodes, `host:port` (the first ones become masters).
        #[arg(required = true)]
        nodes: Vec<String>,
        /// Replicas per master.
        #[arg(long, default_value_t = 0)]
        replicas: usize,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
    /// One line per master: address, id, slots, keys, bytes, replicas; running jobs.
    Info {
        /// Any node of the cluster.
        node: String,
    },
    /// Look for problems; each is printed with the command that fixes it (exit 1 if any).
    Check {
        /// Any node of the cluster.
        node: String,
    },
    /// Repair what `check` finds: hand over committed jobs, delete data of slots a node does not own.
    Fix {
        /// Any node of the cluster.
        node: String,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
    /// Move slots from one master to another online, then hand them over.
    Reshard {
        /// Any node of the cluster.
        node: String,
        /// Source master (id, id prefix or host:port).
        #[arg(long)]
        from: String,
        /// Destination master (id, id prefix or host:port).
        #[arg(long)]
        to: String,
        /// The slots to move (`"0-100 200"`).
        #[arg(long, conflicts_with = "count", required_unless_present = "count")]
        slots: Option<String>,
        /// How many of the source's slots to move (its first ones).
        #[arg(long)]
        count: Option<usize>,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
    /// Even out the masters: a plan of moves, then jobs in parallel to different destinations.
    Rebalance {
        /// Any node of the cluster.
        node: String,
        /// What to even out.
        #[arg(long, value_enum, default_value_t = By::Slots)]
        by: By,
        /// Do nothing when every master is within this many percent of its target.
        #[arg(long, default_value_t = 2.0)]
        threshold: f64,
        /// A master's weight (`<id|host:port>=W`, default 1; 0 empties it).
        #[arg(long = "weight")]
        weights: Vec<String>,
        /// Print the plan and stop.
        #[arg(long)]
        dry_run: bool,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
    /// Add a fresh node to the cluster, as an empty master or a replica.
    AddNode {
        /// The new node, `host:port`.
        new: String,
        /// Any node of the cluster.
        existing: String,
        /// Make it a replica of this master (id, id prefix or host:port).
        #[arg(long)]
        replica_of: Option<String>,
    },
    /// Remove a node that owns no slots, then FLUSHALL and CLUSTER RESET HARD it.
    DelNode {
        /// Any node of the cluster.
        node: String,
        /// The node to remove (id, id prefix or host:port).
        id: String,
    },
    /// Promote a replica to master of its shard: writes paused on the master until the
    /// replica has every one, then the topology with the roles swapped, then unpause.
    Failover {
        /// Any node of the cluster.
        node: String,
        /// The replica to promote (id, id prefix or host:port).
        replica: String,
        /// Promote it even if it did not catch up within --wait-ms (its missing writes are lost).
        #[arg(long)]
        force: bool,
        /// How long writes stay paused waiting for the replica to catch up, in milliseconds.
        #[arg(long, default_value_t = 5000)]
        wait_ms: u64,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
    /// Live view of every running migration job (with --json, one line per job per second).
    Watch {
        /// Any node of the cluster.
        node: String,
        /// Stop after this many seconds (default: until Ctrl-C).
        #[arg(long)]
        seconds: Option<u64>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let ctx = Ctx::new(cli.json, cli.password.clone());
    output::install_ctrl_c();
    let result = match cli.command {
        Command::Create {
            nodes,
            replicas,
            yes,
        } => create::run(&ctx.with_yes(yes), &nodes, replicas),
        Command::Info { node } => info::run(&ctx, &node),
        Command::Check { node } => check::run(&ctx, &node),
        Command::Fix { node, yes } => fix::run(&ctx.with_yes(yes), &node),
        Command::Reshard {
            node,
            from,
            to,
            slots,
            count,
            yes,
        } => reshard::run(
            &ctx.with_yes(yes),
            &node,
            &from,
            &to,
            slots.as_deref(),
            count,
        ),
        Command::Rebalance {
            node,
            by,
            threshold,
            weights,
            dry_run,
            yes,
        } => rebalance::run(&ctx.with_yes(yes), &node, by, threshold, &weights, dry_run),
        Command::AddNode {
            new,
            existing,
            replica_of,
        } => nodes::add(&ctx, &new, &existing, replica_of.as_deref()),
        Command::DelNode { node, id } => nodes::del(&ctx, &node, &id),
        Command::Failover {
            node,
            replica,
            force,
            wait_ms,
            yes,
        } => failover::run(
            &ctx.with_yes(yes),
            &node,
            &replica,
            force,
            std::time::Duration::from_millis(wait_ms),
        ),
        Command::Watch { node, seconds } => watch::run(&ctx, &node, seconds),
    };
    ctx.finish(result)
}
