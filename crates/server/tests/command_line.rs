//! The command line and config file: help, version, and one-line errors that touch nothing.

mod common;
use std::process::Command;

use common::{read_port_file, Reply, TestServer, BIN};

fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(BIN).args(args).output().expect("run");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn help_and_version() {
    let (code, out, _) = run(&["--help"]);
    assert_eq!(code, 0);
    assert!(out.contains("Usage: ferrokv-server"));
    let (code, out, _) = run(&["--version"]);
    assert_eq!(code, 0);
    assert!(out.starts_with("ferrokv-server "));
}

#[test]
fn bad_options_fail_with_one_line_and_touch_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data_arg = data.display().to_string();
    let cases: &[(&[&str], &str)] = &[
        (&["--nosuch", "1"], "unknown option 'nosuch'"),
        (
            &["--port", "70000"],
            "invalid value '70000' for option 'port'",
        ),
        (&["--port", "abc"], "invalid value 'abc' for option 'port'"),
        (&["--cluster-enabled", "maybe"], "option 'cluster-enabled'"),
        (&["--port"], "option '--port' needs a value"),
        (&["/no/such/file.conf"], "cannot read config file"),
    ];
    for (args, expected) in cases {
        let mut all = args.to_vec();
        all.extend(["--dir", &data_arg]);
        let (code, _, err) = run(&all);
        assert_ne!(code, 0, "{args:?}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains(expected), "{args:?}: {err}");
        assert!(!data.exists(), "{args:?} created the data dir");
    }
}

#[test]
fn config_file_errors_name_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("bad.conf");
    std::fs::write(&conf, "# comment\nport 7000\nbogus-option yes\n").unwrap();
    let (code, _, err) = run(&[conf.to_str().unwrap()]);
    assert_ne!(code, 0);
    assert!(
        err.contains("bad.conf:3: unknown option 'bogus-option'"),
        "{err}"
    );
}

#[test]
fn port_in_use_and_unusable_dir() {
    let server = TestServer::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (code, _, err) = run(&[
        "--port",
        &server.port.to_string(),
        "--dir",
        data.to_str().unwrap(),
    ]);
    assert_ne!(code, 0);
    assert!(err.contains("cannot listen on 127.0.0.1:"), "{err}");
    assert!(!data.exists());
    let file = dir.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    let (code, _, err) = run(&["--port", "0", "--dir", file.join("sub").to_str().unwrap()]);
    assert_ne!(code, 0);
    assert!(err.contains("cannot open database in"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn the_shipped_config_file_starts_a_server() {
    let dir = tempfile::tempdir().unwrap();
    let conf = concat!(env!("CARGO_MANIFEST_DIR"), "/../../ferrokv.conf");
    let data = dir.path().join("data");
    let port_file = dir.path().join("port");
    let mut child = Command::new(BIN)
        .args(["-c", conf, "--port", "0", "--dir", data.to_str().unwrap()])
        .arg("--port-file")
        .arg(&port_file)
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let port = loop {
        if let Some(port) = read_port_file(&port_file) {
            break port;
        }
        assert!(std::time::Instant::now() < deadline);
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let mut c = common::Raw::connect(port);
    assert_eq!(c.cmd(&["PING"]), Reply::Status("PONG".into()));
    // The configuration, INFO and CLIENT LIST show the port the kernel picked.
    assert_eq!(
        c.cmd(&["CONFIG", "GET", "port"]),
        Reply::Array(vec![Reply::bulk("port"), Reply::bulk(&port.to_string())])
    );
    assert_eq!(
        common::info_field(&mut c, "server", "tcp_port"),
        i64::from(port)
    );
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn docs_stand_alone() {
    // Every document is read inside the repository: no link may lead out of it.
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let mut files = vec![std::path::PathBuf::from(root).join("README.md")];
    for entry in std::fs::read_dir(format!("{root}/docs")).unwrap() {
        files.push(entry.unwrap().path());
    }
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for (number, line) in text.lines().enumerate() {
            assert!(
                !line.contains("../shared") && !line.contains("](../"),
                "{}:{}: {line}",
                file.display(),
                number + 1
            );
        }
    }
}
