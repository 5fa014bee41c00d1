//! `ferrokv-server`: a Redis-protocol key-value server on RocksDB whose cluster mode is
//! wire-compatible with Apache Kvrocks. This crate is the node itself: configuration,
//! networking, the command table and the commands.

mod backup;
mod blocking;
mod client;
mod cluster;
mod command;
mod commands;
mod config;
mod connection;
mod context;
mod dispatch;
mod error;
mod expiry;
mod files;
mod heap;
mod info;
mod keyspace_events;
mod logging;
mod measure;
mod metrics;
mod migration;
mod node;
mod notify;
mod pause;
mod perflog;
mod priority;
mod pubsub;
mod registry;
mod replication;
mod scripting;
mod server;
mod watch;
mod workers;

use std::path::PathBuf;
use std::process::ExitCode;

use config::Config;

// Many small, short-lived allocations per request (arguments, keys, replies): mimalloc
// serves them markedly faster than the system allocator. It counts what it holds for
// INFO memory (see heap.rs).
#[global_allocator]
static ALLOCATOR: heap::Counting = heap::Counting(mimalloc::MiMalloc);

const USAGE: &str = "\
Usage: ferrokv-server [CONFIG_FILE | -c CONFIG_FILE] [--<option> <value> ...]

Starts a Ferrokv node. Without a config file every option has its default
(bind 127.0.0.1, port 6666, dir ./ferrokv-data). Options use the config file's
names, e.g.:
  ferrokv-server --port 7001 --dir /var/lib/ferrokv/7001 --cluster-enabled yes

  -c, --config FILE   read options from FILE (Kvrocks/Redis format)
  -h, --help          print this help
  -v, --version       print the version
See ferrokv.conf for every option and its default.";

enum Cli {
    Run(Box<Config>),
    Exit(String),
}

fn parse_command_line(args: &[String]) -> Result<Cli, String> {
    let mut file: Option<PathBuf> = None;
    let mut overrides: Vec<(String, String)> = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        match arg.as_str() {
            "-h" | "--help" => return Ok(Cli::Exit(USAGE.to_string())),
            "-v" | "--version" => {
                return Ok(Cli::Exit(format!(
                    "ferrokv-server {}",
                    env!("CARGO_PKG_VERSION")
                )))
            }
            "-c" | "--config" => {
                let path = args
                    .get(i + 1)
                    .ok_or_else(|| format!("option '{arg}' needs a file name"))?;
                file = Some(PathBuf::from(path));
                i += 2;
            }
            _ if arg.starts_with("--") => {
                let name = &arg[2..];
                let value = args
                    .get(i + 1)
                    .filter(|v| !v.starts_with("--"))
                    .ok_or_else(|| format!("option '--{name}' needs a value"))?;
                overrides.push((name.to_string(), value.clone()));
                i += 2;
            }
            _ if file.is_none() && i == 0 => {
                file = Some(PathBuf::from(arg));
                i += 1;
            }
            _ => return Err(format!("unexpected argument '{arg}' (see --help)")),
        }
    }
    let mut config = Config::default();
    if let Some(path) = file {
        config.load_file(&path)?;
    }
    for (name, value) in overrides {
        config
            .set_initial(&name, &value)
            .map_err(|e| e.to_string())?;
    }
    Ok(Cli::Run(Box::new(config)))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let config = match parse_command_line(&args) {
        Ok(Cli::Run(config)) => *config,
        Ok(Cli::Exit(text)) => {
            println!("{text}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("ferrokv-server: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(e) = logging::init(&config) {
        eprintln!("ferrokv-server: {e}");
        return ExitCode::FAILURE;
    }
    if let Err(e) = commands::install_renames(&config.renamed_commands) {
        eprintln!("ferrokv-server: {e}");
        return ExitCode::FAILURE;
    }
    // This runtime accepts connections and runs background work; connections are served
    // by the worker threads (see workers.rs).
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("ferrokv-server: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(node::run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ferrokv-server: {e}");
            ExitCode::FAILURE
        }
    }
}
