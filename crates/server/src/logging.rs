//! Logging: one line per event with a level, to stderr or to `<log-dir>/ferrokv.log`.
//! The level can change at run time (CONFIG SET log-level).

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Mutex;

use tracing::Level;
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::prelude::*;

use crate::config::Config;

static MAX_LEVEL: AtomicU8 = AtomicU8::new(2);

fn rank(level: &Level) -> u8 {
    match *level {
        Level::ERROR => 0,
        Level::WARN => 1,
        Level::INFO => 2,
        Level::DEBUG => 3,
        Level::TRACE => 4,
    }
}

/// Applies a `log-level` value.
pub fn set_level(name: &str) {
    let rank = match name {
        "debug" => 3,
        "warning" => 1,
        "error" | "fatal" => 0,
        _ => 2,
    };
    MAX_LEVEL.store(rank, Ordering::Relaxed);
}

pub fn init(config: &Config) -> Result<(), String> {
    set_level(&config.log_level);
    let filter = filter_fn(|meta| rank(meta.level()) <= MAX_LEVEL.load(Ordering::Relaxed));
    let layer = tracing_subscriber::fmt::layer()
        .with_target(false)
        .with_ansi(false);
    let registry = tracing_subscriber::registry();
    match config.log_dir.as_str() {
        "" | "stderr" => registry
            .with(layer.with_writer(std::io::stderr).with_filter(filter))
            .init(),
        "stdout" => registry
            .with(layer.with_writer(std::io::stdout).with_filter(filter))
            .init(),
        dir => {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("cannot create log-dir '{dir}': {e}"))?;
            let path = std::path::Path::new(dir).join("ferrokv.log");
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .map_err(|e| format!("cannot open log file '{}': {e}", path.display()))?;
            registry
                .with(layer.with_writer(Mutex::new(file)).with_filter(filter))
                .init()
        }
    }
    Ok(())
}
