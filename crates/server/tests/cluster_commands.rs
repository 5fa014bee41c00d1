//! Multi-key commands of issue 13 in cluster mode: their keys are routed like every
//! other command's (CROSSSLOT across slots, MOVED for another node's slot), including
//! the keys found inside their options (STORE, STOREDIST).

mod common;
use common::fixtures::half_of_two;
use common::{Reply, TestServer};

const ME: &str = "07c37dfeb235213a872192d90877d0cd55635b91";
const OTHER: &str = "cf81d7ff5e3f40fe9ee2b3e9c0ee3c1d3a12b8a2";

const CROSSSLOT: &str = "CROSSSLOT Attempted to access keys that don't hash to the same slot";

/// One node owning slots 0-8191; 8192-16383 belong to a node that is not running
/// (only MOVED replies name it).
fn node() -> TestServer {
    half_of_two(ME, OTHER)
}

#[test]
fn geo_store_keys_are_routed() {
    let server = node();
    let mut c = server.raw();
    // "bar" is slot 5061 (here), "foo" 12182 (the other node).
    assert_eq!(
        c.cmd(&["GEOADD", "{bar}g", "13.361389", "38.115556", "Palermo"]),
        Reply::Int(1)
    );
    assert_eq!(
        c.cmd(&["GEOADD", "foo", "13.361389", "38.115556", "Palermo"]),
        Reply::err("MOVED 12182 127.0.0.1:1")
    );
    let search = ["GEORADIUS", "{bar}g", "13", "38", "100", "km"];
    for store in ["STORE", "STOREDIST"] {
        let mut args = search.to_vec();
        args.extend([store, "other"]);
        assert_eq!(c.cmd(&args), Reply::err(CROSSSLOT), "{args:?}");
        let mut args = search.to_vec();
        args.extend([store, "{bar}dst"]);
        assert_eq!(c.cmd(&args), Reply::Int(1), "{args:?}");
    }
    assert_eq!(
        c.cmd(&[
            "GEORADIUSBYMEMBER",
            "{bar}g",
            "Palermo",
            "1",
            "km",
            "STORE",
            "x"
        ]),
        Reply::err(CROSSSLOT)
    );
    for (dst, want) in [("x", Reply::err(CROSSSLOT)), ("{bar}x", Reply::Int(1))] {
        let args = [
            "GEOSEARCHSTORE",
            dst,
            "{bar}g",
            "FROMLONLAT",
            "13",
            "38",
            "BYRADIUS",
            "100",
            "km",
        ];
        assert_eq!(c.cmd(&args), want, "{args:?}");
    }
    assert_eq!(
        c.cmd(&[
            "GEOSEARCH",
            "{bar}x",
            "FROMMEMBER",
            "Palermo",
            "BYRADIUS",
            "1",
            "m"
        ]),
        Reply::Array(vec![Reply::bulk("Palermo")])
    );
    // Without STORE only the source is a key.
    assert_eq!(
        c.cmd(&["GEORADIUS_RO", "{bar}g", "13", "38", "100", "km"]),
        Reply::Array(vec![Reply::bulk("Palermo")])
    );
}

#[test]
fn copy_and_sort_keys_are_routed() {
    let server = node();
    let mut c = server.raw();
    assert_eq!(c.cmd(&["RPUSH", "{bar}l", "2", "1"]), Reply::Int(2));
    assert_eq!(c.cmd(&["COPY", "{bar}l", "other"]), Reply::err(CROSSSLOT));
    assert_eq!(c.cmd(&["COPY", "{bar}l", "{bar}copy"]), Reply::Int(1));
    assert_eq!(
        c.cmd(&["SORT", "{bar}l", "STORE", "other"]),
        Reply::err(CROSSSLOT)
    );
    assert_eq!(
        c.cmd(&["SORT", "{bar}l", "LIMIT", "0", "1", "STORE", "{bar}dst"]),
        Reply::Int(1)
    );
    assert_eq!(
        c.cmd(&["SORT_RO", "foo"]),
        Reply::err("MOVED 12182 127.0.0.1:1")
    );
    // BY and GET patterns must form keys of the sorted key's slot.
    assert_eq!(
        c.cmd(&["SORT", "{bar}l", "BY", "w_*"]),
        Reply::err("ERR BY option of SORT denied in Cluster mode when keys formed by the pattern may be in different slots.")
    );
    assert_eq!(
        c.cmd(&["SORT", "{bar}l", "GET", "o_*"]),
        Reply::err("ERR GET option of SORT denied in Cluster mode when keys formed by the pattern may be in different slots.")
    );
    assert_eq!(
        c.cmd(&["MSET", "{bar}w_1", "9", "{bar}w_2", "3", "{bar}o_1", "one"]),
        Reply::ok()
    );
    assert_eq!(
        c.cmd(&["SORT", "{bar}l", "BY", "{bar}w_*", "GET", "#", "GET", "{bar}o_*"]),
        Reply::Array(vec![
            Reply::bulk("2"),
            Reply::Nil,
            Reply::bulk("1"),
            Reply::bulk("one")
        ])
    );
    // A constant BY (no sorting) reads no key.
    assert_eq!(
        c.cmd(&["SORT", "{bar}l", "BY", "nosort"]),
        Reply::Array(vec![Reply::bulk("2"), Reply::bulk("1")])
    );
}
