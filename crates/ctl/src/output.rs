//! What every subcommand shares: the options, the text/JSON output, the confirmation,
//! Ctrl-C, and the exit code.

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::{json, Value};

use crate::error::{CtlError, Result};

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Makes Ctrl-C (SIGINT) set a flag that long-running subcommands poll.
pub fn install_ctrl_c() {
    // The first Ctrl-C asks the running command to stop cleanly (a reshard cancels its
    // job and waits for it to end); a second one exits at once.
    let _ = ctrlc::set_handler(|| {
        if INTERRUPTED.swap(true, Ordering::SeqCst) {
            eprintln!("ferrokv-ctl: interrupted twice, exiting without waiting");
            std::process::exit(130);
        }
    });
}

/// Whether Ctrl-C was pressed.
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// What a subcommand hands back: its JSON report, and whether it found no problem.
pub struct Report {
    /// The machine-readable result.
    pub value: Value,
    /// `false`: problems found (exit 1).
    pub ok: bool,
}

impl Report {
    /// A successful report.
    pub fn ok(value: Value) -> Report {
        Report { value, ok: true }
    }
}

/// Options shared by every subcommand.
pub struct Ctx {
    /// `--json`.
    pub json: bool,
    /// `-a/--password`.
    pub password: Option<String>,
    /// `--yes`.
    pub yes: bool,
}

impl Ctx {
    /// From the global options.
    pub fn new(json: bool, password: Option<String>) -> Ctx {
        Ctx {
            json,
            password,
            yes: false,
        }
    }

    /// The same with `--yes` as given.
    pub fn with_yes(&self, yes: bool) -> Ctx {
        Ctx {
            json: self.json,
            password: self.password.clone(),
            yes,
        }
    }

    /// The password, borrowed.
    pub fn password(&self) -> Option<&str> {
        self.password.as_deref()
    }

    /// A line of human output (nothing with `--json`).
    pub fn say(&self, line: impl AsRef<str>) {
        if !self.json {
            println!("{}", line.as_ref());
        }
    }

    /// Whether progress bars may be drawn.
    pub fn bars(&self) -> bool {
        !self.json
    }

    /// Asks before acting, unless `--yes`.
    pub fn confirm(&self, question: &str) -> Result<()> {
        if self.yes {
            return Ok(());
        }
        if self.json || !std::io::stdin().is_terminal() {
            return Err(CtlError::Usage(
                "not a terminal: add --yes to act without confirmation".into(),
            ));
        }
        print!("{question} [y/N] ");
        std::io::stdout().flush()?;
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        match line.trim() {
            "y" | "Y" | "yes" | "YES" => Ok(()),
            _ => Err(CtlError::Aborted(
                "not confirmed; nothing was changed".into(),
            )),
        }
    }

    /// Prints the result and turns it into the exit code.
    pub fn finish(&self, result: Result<Report>) -> ExitCode {
        match result {
            Ok(report) => {
                if self.json {
                    let mut value = report.value;
                    if let Value::Object(map) = &mut value {
                        map.insert("ok".into(), Value::Bool(report.ok));
                    }
                    println!("{value}");
                }
                ExitCode::from(if report.ok { 0 } else { 1 })
            }
            Err(e) => {
                if self.json {
                    println!(
                        "{}",
                        json!({"ok": false, "error": e.to_string(), "kind": e.kind()})
                    );
                } else {
                    eprintln!("ferrokv-ctl: {e}");
                }
                ExitCode::from(e.exit_code())
            }
        }
    }
}
