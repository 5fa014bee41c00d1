//! The destination side of an import as Kvrocks' own tests drive it (CLUSTER IMPORT by
//! hand, from one connection), its refusals, what CLUSTER RESET does after a finished
//! job, the CLUSTERX usage text, and INFO's `sequence`.

mod common;
use std::time::Duration;

use common::fixtures::{half_of_two, key_in_slot, two_masters};
use common::{wait_until, Raw, Reply, TestServer};

const ME: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb1";
const OTHER: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb2";

/// One node owning slots 0-8191; 8192-16383 belong to a node that is not running
/// (only MOVED replies name it).
fn node() -> TestServer {
    half_of_two(ME, OTHER)
}

fn import_state(c: &mut Raw) -> String {
    let info = c.cmd(&["CLUSTER", "INFO"]).text();
    info.lines()
        .find_map(|l| l.strip_prefix("import_state: "))
        .unwrap_or_else(|| panic!("no import_state in {info}"))
        .to_string()
}

#[test]
fn the_importing_connection_reads_and_writes_its_slots_and_an_abort_drops_them() {
    let server = node();
    let mut link = server.raw();
    let mut other = server.raw();
    let key = key_in_slot(&mut link, 10000, "k");
    let moved = Reply::err("MOVED 10000 127.0.0.1:1");

    assert_eq!(link.cmd(&["CLUSTER", "IMPORT", "10000", "0"]), Reply::ok());
    assert_eq!(link.cmd(&["SET", &key, "v"]), Reply::ok());
    assert_eq!(link.cmd(&["GET", &key]), Reply::bulk("v"));
    assert_eq!(
        other.cmd(&["GET", &key]),
        moved,
        "others are sent to the owner"
    );
    assert_eq!(import_state(&mut other), "start");
    assert_eq!(
        other.cmd(&["DBSIZE"]),
        Reply::Int(0),
        "an import is not listed"
    );

    assert_eq!(link.cmd(&["CLUSTER", "IMPORT", "10000", "2"]), Reply::ok());
    assert_eq!(import_state(&mut other), "error");
    // Not importing any more: had the key survived, DBSIZE would count it.
    assert_eq!(
        other.cmd(&["DBSIZE"]),
        Reply::Int(0),
        "the import's data is gone"
    );
    assert_eq!(
        link.cmd(&["GET", &key]),
        moved,
        "the link lost its permission"
    );

    // A commit for slots no longer being imported is refused.
    assert!(link
        .cmd(&["CLUSTER", "IMPORT", "10000", "1"])
        .text()
        .starts_with("ERR "));
}

#[test]
fn a_commit_makes_the_import_visible_to_everyone() {
    let server = node();
    let mut link = server.raw();
    let key = key_in_slot(&mut link, 9000, "c");
    assert_eq!(link.cmd(&["CLUSTER", "IMPORT", "9000", "0"]), Reply::ok());
    assert_eq!(link.cmd(&["SET", &key, "kept"]), Reply::ok());
    assert_eq!(link.cmd(&["CLUSTER", "IMPORT", "9000", "1"]), Reply::ok());
    let mut other = server.raw();
    assert_eq!(import_state(&mut other), "success");
    assert_eq!(other.cmd(&["GET", &key]), Reply::bulk("kept"));
    assert_eq!(other.cmd(&["DBSIZE"]), Reply::Int(1));
}

#[test]
fn closing_the_importing_connection_drops_the_import() {
    let server = node();
    let mut link = server.raw();
    let key = key_in_slot(&mut link, 11000, "k");
    assert_eq!(link.cmd(&["CLUSTER", "IMPORT", "11000", "0"]), Reply::ok());
    assert_eq!(link.cmd(&["SET", &key, "slot11000"]), Reply::ok());
    assert_eq!(link.cmd(&["GET", &key]), Reply::bulk("slot11000"));
    drop(link);
    let mut other = server.raw();
    wait_until("import_state: error", Duration::from_secs(5), || {
        import_state(&mut other) == "error"
    });
    assert_eq!(other.cmd(&["DBSIZE"]), Reply::Int(0));
}

#[test]
fn imports_are_refused_on_a_slave_and_for_owned_slots() {
    let server = node();
    let mut c = server.raw();
    assert_eq!(
        c.cmd(&["CLUSTER", "IMPORT", "100", "0"]),
        Reply::err("ERR Can't import slot which belongs to me")
    );
    assert_eq!(
        c.cmd(&["CLUSTER", "IMPORT", "8000-8300", "0"]),
        Reply::err("ERR Can't import slot which belongs to me"),
        "any owned slot in the list"
    );
    let as_slave = format!(
        "{OTHER} 127.0.0.1 1 master - 0-16383\n{ME} 127.0.0.1 {} slave {OTHER}",
        server.port
    );
    assert_eq!(
        c.cmd(&["CLUSTERX", "SETNODES", &as_slave, "2"]),
        Reply::ok()
    );
    assert_eq!(
        c.cmd(&["CLUSTER", "IMPORT", "1", "0"]),
        Reply::err("ERR Slave can't import slot")
    );
    assert_eq!(
        c.cmd(&["CLUSTER", "IMPORT", "1", "7"]),
        Reply::err("ERR Invalid import state")
    );
}

#[test]
fn setnodeid_with_a_bad_id_gets_the_clusterx_usage_error() {
    let server = TestServer::start(&["--cluster-enabled", "yes"]);
    let mut c = server.raw();
    let usage = Reply::err(
        "ERR CLUSTERX command, CLUSTERX VERSION|MYID|SETNODEID|SETNODES|SETSLOT|MIGRATE|MIGRATION|FLUSHSLOTS",
    );
    for bad in ["a", &"c".repeat(39), &"c".repeat(41)] {
        assert_eq!(c.cmd(&["CLUSTERX", "SETNODEID", bad]), usage, "{bad}");
    }
    assert_eq!(c.cmd(&["CLUSTERX", "SETNODEID"]), usage);
    assert_eq!(c.cmd(&["CLUSTERX", "SETNODEID", ME]), Reply::ok());
    assert_eq!(c.cmd(&["CLUSTERX", "MYID"]), Reply::bulk(ME));
}

#[test]
fn info_reports_the_rocksdb_sequence() {
    let server = TestServer::start(&[]);
    let mut c = server.raw();
    let sequence = |c: &mut Raw| {
        let info = c.cmd(&["INFO"]).text();
        info.lines()
            .find_map(|l| l.strip_prefix("sequence:"))
            .unwrap_or_else(|| panic!("plain INFO has no sequence: {info}"))
            .trim()
            .parse::<u64>()
            .expect("a number")
    };
    let before = sequence(&mut c);
    c.cmd(&["SET", "a", "1"]);
    c.cmd(&["SET", "b", "2"]);
    let after = sequence(&mut c);
    assert!(after > 0 && after >= before + 2, "{before} -> {after}");
    let keyspace = c.cmd(&["INFO", "keyspace"]).text();
    assert!(
        keyspace.contains(&format!("sequence:{after}\r\n")),
        "{keyspace}"
    );
}

#[test]
fn a_node_whose_job_ended_can_be_flushed_and_reset() {
    let (src, dst) = two_masters(ME, OTHER);
    let mut s = src.raw();
    let key = key_in_slot(&mut s, 5, "r");
    s.cmd(&["SET", &key, "v"]);
    assert_eq!(
        s.cmd(&["CLUSTERX", "MIGRATE", "0-8191", OTHER, "sync", "30"]),
        Reply::ok()
    );
    assert_eq!(
        s.cmd(&["DBSIZE"]),
        Reply::Int(0),
        "migrated slots are not listed"
    );
    assert_eq!(s.cmd(&["FLUSHALL"]), Reply::ok());
    assert_eq!(s.cmd(&["CLUSTER", "RESET", "HARD"]), Reply::ok());
    assert_eq!(s.cmd(&["CLUSTERX", "VERSION"]), Reply::bulk("-1"));
    assert!(
        !src.dir.join("migration.conf").exists(),
        "the reset forgot the migrated records"
    );
    // The destination kept the data.
    assert_eq!(dst.raw().cmd(&["GET", &key]), Reply::bulk("v"));
}
