//! The modules of `crates/server/src` and `crates/cluster/src` read in one order: no
//! module reaches, directly or through others, back to a module that reaches it. The
//! one allowed loop is a command family and the `commands` module that lists it.
//! Dependencies are read off the source (`crate::a::b` and `super::x` paths).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Module name (path under `src` without `.rs`, `mod.rs` as its directory) → source.
fn modules(src: &Path) -> BTreeMap<String, String> {
    fn walk(dir: &Path, src: &Path, out: &mut BTreeMap<String, String>) {
        for entry in std::fs::read_dir(dir).expect("read src") {
            let path: PathBuf = entry.expect("entry").path();
            if path.is_dir() {
                walk(&path, src, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let rel = path.strip_prefix(src).expect("under src");
                let mut name = rel.with_extension("").to_string_lossy().replace('\\', "/");
                if let Some(dir) = name.strip_suffix("/mod") {
                    name = dir.to_string();
                }
                let text = std::fs::read_to_string(&path).expect("read module");
                // Tests may reach anywhere.
                let text = match text.find("#[cfg(test)]") {
                    Some(at) => text[..at].to_string(),
                    None => text,
                };
                out.insert(name, text);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(src, src, &mut out);
    out
}

/// The modules `text` (module `me`) refers to, among `known`.
fn references(me: &str, text: &str, known: &BTreeSet<String>) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let parent = me.rsplit_once('/').map(|(p, _)| p.to_string());
    for (prefix, base) in [("crate::", None), ("super::", parent.clone())] {
        let mut rest = text;
        while let Some(at) = rest.find(prefix) {
            rest = &rest[at + prefix.len()..];
            let path: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                .collect();
            let mut segments: Vec<&str> = path.split("::").filter(|s| !s.is_empty()).collect();
            if let Some(base) = &base {
                segments.insert(0, base);
            } else if prefix == "super::" {
                continue;
            }
            // The longest prefix of the path that names a module.
            for len in (1..=segments.len()).rev() {
                let name = segments[..len].join("/");
                if known.contains(&name) {
                    if name != me {
                        found.insert(name);
                    }
                    break;
                }
            }
        }
    }
    found
}

fn cycles(src: &Path, allowed: impl Fn(&str, &str) -> bool) -> Vec<String> {
    let modules = modules(src);
    let known: BTreeSet<String> = modules.keys().cloned().collect();
    let graph: BTreeMap<String, BTreeSet<String>> = modules
        .iter()
        .map(|(name, text)| {
            let refs = references(name, text, &known)
                .into_iter()
                .filter(|to| !allowed(name, to))
                .collect();
            (name.clone(), refs)
        })
        .collect();
    // A module is on a cycle when it reaches itself.
    let mut problems = Vec::new();
    for start in graph.keys() {
        let mut stack: Vec<(String, Vec<String>)> = vec![(start.clone(), vec![start.clone()])];
        let mut seen = BTreeSet::new();
        while let Some((node, path)) = stack.pop() {
            for next in &graph[&node] {
                if next == start {
                    problems.push(format!("{} -> {start}", path.join(" -> ")));
                    stack.clear();
                    break;
                }
                if seen.insert(next.clone()) {
                    let mut longer = path.clone();
                    longer.push(next.clone());
                    stack.push((next.clone(), longer));
                }
            }
        }
    }
    problems
}

#[test]
fn server_modules_have_no_import_cycle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    // The command table lists the families, and the families use its helpers.
    let allowed = |from: &str, to: &str| from.starts_with("commands/") && to == "commands";
    let found = cycles(&src, allowed);
    assert!(found.is_empty(), "import cycles:\n{}", found.join("\n"));
}

#[test]
fn cluster_modules_have_no_import_cycle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../cluster/src");
    let found = cycles(&src, |_, _| false);
    assert!(found.is_empty(), "import cycles:\n{}", found.join("\n"));
}

#[test]
fn the_checker_sees_a_cycle() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("a.rs"), "use crate::b::X;").unwrap();
    std::fs::write(dir.path().join("b.rs"), "fn f() { crate::a::g() }").unwrap();
    std::fs::write(dir.path().join("c.rs"), "use crate::a;").unwrap();
    let found = cycles(dir.path(), |_, _| false);
    assert_eq!(found.len(), 2, "{found:?}");
}
