//! `CLUSTERX FLUSHSLOTS` (Kvrocks' PR #3375) through real servers: its syntax and error
//! texts, what it deletes (the given slots, owned or not, and nothing else: KEYS, SCAN,
//! DBSIZE, COUNTKEYSINSLOT and GETKEYSINSLOT agree), WATCH, and its refusals while a job
//! or an import touches the slots.

mod common;
use std::collections::BTreeSet;
use std::time::Duration;

use common::fixtures::{cluster_node, set_nodes, two_masters};
use common::{wait_until, Raw, Reply, TestServer};

const ME: &str = "f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1";
const OTHER: &str = "f2f2f2f2f2f2f2f2f2f2f2f2f2f2f2f2f2f2f2f2";

fn slot_of(key: &str) -> u16 {
    ferrokv_keyslot::key_slot(key.as_bytes())
}

/// A node owning `mine` in a topology where a node that is never contacted owns the
/// rest; `version` is pushed as is.
fn set_topology(server: &TestServer, mine: (u16, u16), version: i64) {
    let (a, b) = mine;
    let mut other = Vec::new();
    if a > 0 {
        other.push(format!("0-{}", a - 1));
    }
    if b < 16383 {
        other.push(format!("{}-16383", b + 1));
    }
    let topology = format!(
        "{ME} 127.0.0.1 {} master - {a}-{b}\n{OTHER} 127.0.0.1 1 master - {}",
        server.port,
        other.join(" ")
    );
    set_nodes(&[server], &topology, version);
}

/// A node owning 0-8191 holding `n` keys `k:<i>` of those slots, then told (version 2)
/// that it owns only 0-4095: the keys of 4096-8191 stay, in slots it does not own.
fn node_with_foreign_data(n: usize) -> (TestServer, Vec<String>) {
    let server = cluster_node();
    set_topology(&server, (0, 8191), 1);
    let keys: Vec<String> = (0..)
        .map(|i| format!("k:{i}"))
        .filter(|k| slot_of(k) <= 8191)
        .take(n)
        .collect();
    let mut con = server.client();
    let mut pipe = redis::pipe();
    for k in &keys {
        pipe.cmd("SET").arg(k).arg(k).ignore();
    }
    pipe.query::<()>(&mut con).expect("load");
    set_topology(&server, (0, 4095), 2);
    (server, keys)
}

fn keys_listed(c: &mut Raw) -> BTreeSet<String> {
    c.cmd(&["KEYS", "*"]).strings().into_iter().collect()
}

fn keys_scanned(c: &mut Raw) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut cursor = "0".to_string();
    loop {
        let page = c.cmd(&["SCAN", &cursor, "COUNT", "100"]).items();
        cursor = page[0].text();
        out.extend(page[1].strings());
        if cursor == "0" {
            return out;
        }
    }
}

fn count_in(c: &mut Raw, slot: u16) -> i64 {
    c.cmd(&["CLUSTER", "COUNTKEYSINSLOT", &slot.to_string()])
        .int()
}

#[test]
fn syntax_and_error_texts() {
    let (server, _) = node_with_foreign_data(10);
    let mut c = server.raw();
    let cases: &[(&[&str], &str)] = &[
        (
            &["CLUSTERX", "FLUSHSLOTS"],
            "ERR CLUSTERX command, CLUSTERX VERSION|MYID|SETNODEID|SETNODES|SETSLOT|MIGRATE|MIGRATION|FLUSHSLOTS",
        ),
        (&["CLUSTERX", "FLUSHSLOTS", ""], "ERR No slots to parse."),
        (
            &["CLUSTERX", "FLUSHSLOTS", "   "],
            "ERR Invalid slots: `   `. No slots to parse. Please use spaces to separate slots.",
        ),
        (
            &["CLUSTERX", "FLUSHSLOTS", "abc"],
            "ERR Invalid slot id: not started as an integer",
        ),
        (
            &["CLUSTERX", "FLUSHSLOTS", "12x"],
            "ERR Invalid slot id: encounter non-integer characters",
        ),
        (
            &["CLUSTERX", "FLUSHSLOTS", "16384"],
            "ERR Invalid slot id: out of numeric range",
        ),
        (
            &["CLUSTERX", "FLUSHSLOTS", "-5"],
            "ERR Invalid slot range: `-5`. The character '-' can't appear in the first or last position.",
        ),
        (
            &["CLUSTERX", "FLUSHSLOTS", "1-2-3"],
            "ERR Invalid slot range: `1-2-3`. The slot range should be of the form `int1-int2`.",
        ),
        (
            &["CLUSTERX", "FLUSHSLOTS", "9-3"],
            "ERR Invalid slot range: `9-3`. The slot range `int1-int2` needs to satisfy the condition (int1 <= int2).",
        ),
        // One bad argument among good ones: the whole call is refused.
        (
            &["CLUSTERX", "FLUSHSLOTS", "0-10", "x"],
            "ERR Invalid slot id: not started as an integer",
        ),
    ];
    let before = c.cmd(&["DBSIZE"]);
    for (args, text) in cases {
        assert_eq!(c.cmd(args), Reply::err(text), "{args:?}");
    }
    assert_eq!(c.cmd(&["DBSIZE"]), before, "refused calls deleted nothing");
    // Lower case works as everywhere.
    assert_eq!(c.cmd(&["clusterx", "flushslots", "16383"]), Reply::ok());

    // Not inside MULTI (CLUSTERX is NO_MULTI), not without cluster mode.
    assert_eq!(c.cmd(&["MULTI"]), Reply::ok());
    assert_eq!(
        c.cmd(&["CLUSTERX", "FLUSHSLOTS", "0"]),
        Reply::err("ERR Command not allowed inside a transaction")
    );
    assert!(c.cmd(&["EXEC"]).text().starts_with("EXECABORT"));
    let plain = TestServer::start(&[]);
    assert_eq!(
        plain.raw().cmd(&["CLUSTERX", "FLUSHSLOTS", "0-100"]),
        Reply::err("ERR Cluster mode is not enabled")
    );
}

#[test]
fn deletes_the_given_slots_and_nothing_else() {
    let (server, keys) = node_with_foreign_data(3000);
    let mut c = server.raw();
    let all: BTreeSet<String> = keys.iter().cloned().collect();
    assert_eq!(c.cmd(&["DBSIZE"]), Reply::Int(3000));
    assert_eq!(keys_listed(&mut c), all, "foreign data is listed");
    assert_eq!(keys_scanned(&mut c), all);

    // Slots it does not own, in Kvrocks' one-argument form: a range, a single slot, and
    // a range touching the end of the owned part.
    let single = slot_of(
        &keys
            .iter()
            .find(|k| slot_of(k) > 6000)
            .cloned()
            .expect("key"),
    );
    let arg = format!("4096-5000 {single} 7000-8191");
    let gone = |k: &String| {
        let s = slot_of(k);
        (4096..=5000).contains(&s) || s == single || (7000..=8191).contains(&s)
    };
    let sample = keys
        .iter()
        .find(|k| gone(k))
        .map(|k| slot_of(k))
        .expect("a flushed slot with a key");
    assert!(count_in(&mut c, sample) > 0);
    assert_eq!(c.cmd(&["CLUSTERX", "FLUSHSLOTS", &arg]), Reply::ok());
    let left: BTreeSet<String> = keys.iter().filter(|k| !gone(k)).cloned().collect();
    assert!(left.len() < 3000 && !left.is_empty());
    assert_eq!(c.cmd(&["DBSIZE"]), Reply::Int(left.len() as i64));
    assert_eq!(keys_listed(&mut c), left);
    assert_eq!(keys_scanned(&mut c), left);
    assert_eq!(count_in(&mut c, sample), 0);
    assert_eq!(count_in(&mut c, single), 0);
    assert_eq!(
        c.cmd(&["CLUSTER", "GETKEYSINSLOT", &sample.to_string(), "10"]),
        Reply::Array(vec![])
    );
    // Keys of other slots keep their values, in owned and unowned slots alike.
    for k in left.iter().take(200) {
        let s = slot_of(k);
        if s <= 4095 {
            assert_eq!(c.cmd(&["GET", k]), Reply::bulk(k));
        }
        assert!(count_in(&mut c, s) > 0, "{k}");
    }

    // Ranges as separate arguments (Kvrocks' release notes), slots it owns included:
    // FLUSHSLOTS deletes owned data too.
    let owned_key = left
        .iter()
        .find(|k| slot_of(k) <= 4095)
        .cloned()
        .expect("an owned key");
    let owned_slot = slot_of(&owned_key);
    let before = c.cmd(&["DBSIZE"]).int();
    let in_owned = count_in(&mut c, owned_slot);
    assert_eq!(
        c.cmd(&[
            "CLUSTERX",
            "FLUSHSLOTS",
            &owned_slot.to_string(),
            "5001-6999"
        ]),
        Reply::ok()
    );
    assert_eq!(c.cmd(&["GET", &owned_key]), Reply::Nil);
    assert_eq!(count_in(&mut c, owned_slot), 0);
    let now = c.cmd(&["DBSIZE"]).int();
    let left: BTreeSet<String> = left
        .into_iter()
        .filter(|k| {
            let s = slot_of(k);
            s != owned_slot && !(5001..=6999).contains(&s)
        })
        .collect();
    assert_eq!(now as usize, left.len());
    assert!(now <= before - in_owned);
    assert_eq!(keys_listed(&mut c), left);
    // The owned slot takes writes again.
    assert_eq!(c.cmd(&["SET", &owned_key, "again"]), Reply::ok());
    assert_eq!(c.cmd(&["GET", &owned_key]), Reply::bulk("again"));
    // Flushing empty slots is fine; everything survives a restart as flushed.
    assert_eq!(c.cmd(&["CLUSTERX", "FLUSHSLOTS", "4096-8191"]), Reply::ok());
    let mut server = server;
    server.restart();
    let mut c = server.raw();
    let expected: BTreeSet<String> = left
        .into_iter()
        .filter(|k| slot_of(k) <= 4095)
        .chain([owned_key])
        .collect();
    assert_eq!(keys_listed(&mut c), expected);
}

#[test]
fn a_transaction_watching_a_flushed_key_fails() {
    let (server, keys) = node_with_foreign_data(200);
    // WATCH routes like any keyed command: both keys are in owned slots.
    let flushed = keys.iter().find(|k| slot_of(k) <= 4095).expect("owned key");
    let kept = keys
        .iter()
        .find(|k| slot_of(k) <= 4095 && slot_of(k) != slot_of(flushed))
        .expect("another owned key");
    let mut a = server.raw();
    let mut b = server.raw();
    let mut admin = server.raw();
    assert_eq!(a.cmd(&["WATCH", flushed]), Reply::ok());
    assert_eq!(b.cmd(&["WATCH", kept]), Reply::ok());
    let slot = slot_of(flushed).to_string();
    assert_eq!(admin.cmd(&["CLUSTERX", "FLUSHSLOTS", &slot]), Reply::ok());
    for c in [&mut a, &mut b] {
        assert_eq!(c.cmd(&["MULTI"]), Reply::ok());
        assert_eq!(c.cmd(&["SET", kept, "x"]), Reply::Status("QUEUED".into()));
    }
    assert_eq!(a.cmd(&["EXEC"]), Reply::Nil, "its watched key was deleted");
    assert_eq!(
        b.cmd(&["EXEC"]),
        Reply::Array(vec![Reply::ok()]),
        "another slot"
    );
}

#[test]
fn refused_while_an_import_touches_the_slots() {
    let server = cluster_node();
    set_topology(&server, (0, 8191), 1);
    let mut link = server.raw();
    let mut admin = server.raw();
    let key = (0..)
        .map(|i| format!("i{i}"))
        .find(|k| slot_of(k) == 10_000)
        .expect("a key");
    assert_eq!(link.cmd(&["CLUSTER", "IMPORT", "10000", "0"]), Reply::ok());
    assert_eq!(link.cmd(&["SET", &key, "v"]), Reply::ok());
    assert_eq!(
        admin.cmd(&["CLUSTERX", "FLUSHSLOTS", "9000-11000"]),
        Reply::err("ERR Can't flush slots being imported: 10000 (cancel the migration on its source or wait for it to end)")
    );
    // Slots the import does not touch may be flushed meanwhile.
    assert_eq!(
        admin.cmd(&["CLUSTERX", "FLUSHSLOTS", "9000-9999 10001-11000"]),
        Reply::ok()
    );
    assert_eq!(
        link.cmd(&["GET", &key]),
        Reply::bulk("v"),
        "the import kept its data"
    );

    // Committed but not handed over: this node serves the only copy.
    assert_eq!(link.cmd(&["CLUSTER", "IMPORT", "10000", "1"]), Reply::ok());
    assert_eq!(
        admin.cmd(&["CLUSTERX", "FLUSHSLOTS", "10000"]),
        Reply::err("ERR Can't flush slots imported but not yet handed over: 10000 (hand them over with CLUSTERX SETSLOT)")
    );
    assert_eq!(admin.cmd(&["GET", &key]), Reply::bulk("v"));
    // Once handed over elsewhere (the topology gives the slot to the other node), the
    // record is cleared and the now foreign data may go.
    assert_eq!(
        admin.cmd(&["CLUSTERX", "SETSLOT", "10000", "NODE", OTHER, "2"]),
        Reply::ok()
    );
    assert_eq!(
        admin.cmd(&["CLUSTER", "COUNTKEYSINSLOT", "10000"]),
        Reply::Int(1)
    );
    assert_eq!(admin.cmd(&["CLUSTERX", "FLUSHSLOTS", "10000"]), Reply::ok());
    assert_eq!(
        admin.cmd(&["CLUSTER", "COUNTKEYSINSLOT", "10000"]),
        Reply::Int(0)
    );
}

const SRC: &str = "e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1";
const DST: &str = "e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2";

fn job_state(c: &mut Raw) -> String {
    common::job_field(&c.cmd(&["CLUSTERX", "MIGRATION", "STATUS"]), "state")
        .map(|r| r.text())
        .unwrap_or_default()
}

#[test]
fn refused_on_both_ends_while_a_job_moves_the_slots() {
    let (src, dst) = two_masters(SRC, DST);
    let mut s = src.raw();
    let mut d = dst.raw();
    // 3,000 keys of 1 KB in slot 900 and a few in 901, copied at 1 MB/s: about 3 s.
    let tag = (0..)
        .map(|i| format!("t{i}"))
        .find(|k| slot_of(k) == 900)
        .expect("tag");
    let other = (0..)
        .map(|i| format!("o{i}"))
        .find(|k| slot_of(k) == 901)
        .expect("key");
    let mut con = src.client();
    let value = "x".repeat(1000);
    for chunk in 0..3 {
        let mut pipe = redis::pipe();
        for i in chunk * 1000..(chunk + 1) * 1000 {
            pipe.cmd("SET")
                .arg(format!("{{{tag}}}:{i}"))
                .arg(&value)
                .ignore();
        }
        pipe.query::<()>(&mut con).expect("load");
    }
    assert_eq!(s.cmd(&["SET", &other, "stays"]), Reply::ok());
    s.cmd(&["CONFIG", "SET", "migrate-batch-rate-limit-mb", "1"]);
    s.cmd(&["CONFIG", "SET", "migrate-batch-size-kb", "64"]);
    assert_eq!(s.cmd(&["CLUSTERX", "MIGRATE", "900", DST]), Reply::ok());
    wait_until("the copy started", Duration::from_secs(10), || {
        d.cmd(&["CLUSTER", "INFO"])
            .text()
            .contains("import_state: start")
    });
    assert_eq!(job_state(&mut s), "start");
    assert_eq!(
        s.cmd(&["CLUSTERX", "FLUSHSLOTS", "800-1000"]),
        Reply::err("ERR Can't flush slots being migrated: 900 (cancel the migration or wait for it to end)")
    );
    assert_eq!(
        d.cmd(&["CLUSTERX", "FLUSHSLOTS", "900"]),
        Reply::err("ERR Can't flush slots being imported: 900 (cancel the migration on its source or wait for it to end)")
    );
    assert_eq!(
        s.cmd(&["CLUSTER", "COUNTKEYSINSLOT", "900"]),
        Reply::Int(3000)
    );
    // Other slots of the source may go while the job runs, and the job goes on.
    assert_eq!(s.cmd(&["CLUSTERX", "FLUSHSLOTS", "901"]), Reply::ok());
    assert_eq!(s.cmd(&["GET", &other]), Reply::Nil);
    assert_eq!(job_state(&mut s), "start");

    // Cancelled: the slot is no longer moving and may be flushed on the source.
    let id = common::job_field(&s.cmd(&["CLUSTERX", "MIGRATION", "STATUS"]), "id")
        .expect("id")
        .text();
    assert_eq!(
        s.cmd(&["CLUSTERX", "MIGRATION", "CANCEL", &id]),
        Reply::Int(1)
    );
    wait_until("the job ended", Duration::from_secs(30), || {
        job_state(&mut s) == "cancelled"
    });
    wait_until("the import was dropped", Duration::from_secs(10), || {
        d.cmd(&["CLUSTER", "INFO"])
            .text()
            .contains("import_state: error")
    });
    assert_eq!(d.cmd(&["CLUSTERX", "FLUSHSLOTS", "900"]), Reply::ok());
    assert_eq!(s.cmd(&["CLUSTERX", "FLUSHSLOTS", "900"]), Reply::ok());
    assert_eq!(s.cmd(&["CLUSTER", "COUNTKEYSINSLOT", "900"]), Reply::Int(0));
    assert_eq!(s.cmd(&["DBSIZE"]), Reply::Int(0));
}
