//! The layering rule of ARCHITECTURE.md, enforced: no import cycle between
//! files of `harness/src` or `proxies/src`, nor between the harness's
//! top-level modules. A failure prints each cycle with the path that makes
//! every step of it.

mod graph;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use graph::{components, cycles, Crate, Edges};

fn read_tree(dir: &Path, prefix: &str, out: &mut BTreeMap<String, String>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|err| panic!("reading {}: {err}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        let name = path
            .file_name()
            .expect("a file name")
            .to_string_lossy()
            .into_owned();
        let relative = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}/{name}")
        };
        if path.is_dir() {
            read_tree(&path, &relative, out);
        } else if name.ends_with(".rs") {
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|err| panic!("reading {}: {err}", path.display()));
            out.insert(relative, text);
        }
    }
}

fn crate_sources(krate: &str) -> BTreeMap<String, String> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(krate)
        .join("src");
    let mut files = BTreeMap::new();
    read_tree(&src, "", &mut files);
    files
}

fn file_edges(files: &BTreeMap<String, String>) -> (Crate, Edges) {
    let krate = Crate::parse(files, "lib.rs").unwrap_or_else(|err| panic!("{err}"));
    let edges = krate.edges();
    (krate, edges)
}

/// Files collapsed to their top-level module (`api`, `scenario`, ...).
fn module_edges(krate: &Crate, edges: &Edges) -> Edges {
    let mut modules = Edges::new();
    for ((from, to), why) in edges {
        let (a, b) = (krate.top_level_of(from), krate.top_level_of(to));
        if a != b && a != "crate" && b != "crate" {
            modules
                .entry((a, b))
                .or_insert_with(|| format!("{from} -> {to}: {why}"));
        }
    }
    modules
}

fn assert_acyclic(what: &str, edges: &Edges) {
    assert_only_known_cycles(what, edges, &[]);
}

/// Fails on any cycle not in `known` (each the sorted member list of one),
/// and on a known cycle that is gone, so the list only ever shrinks.
fn assert_only_known_cycles(what: &str, edges: &Edges, known: &[&[&str]]) {
    let found = components(edges);
    let new: Vec<&str> = found
        .iter()
        .filter(|c| !known.iter().any(|k| c.members.iter().eq(k.iter())))
        .map(|c| c.text.as_str())
        .collect();
    assert!(
        new.is_empty(),
        "import cycles in {what}:\n{}",
        new.join("\n")
    );
    let gone: Vec<String> = known
        .iter()
        .filter(|k| !found.iter().any(|c| c.members.iter().eq(k.iter())))
        .map(|k| k.join(", "))
        .collect();
    assert!(
        gone.is_empty(),
        "known import cycles in {what} are gone (or changed): remove them from the list: {}",
        gone.join("; ")
    );
}

/// Cycles that exist and are being removed; nothing may be added here.
const PROXIES_KNOWN_CYCLES: &[&[&str]] = &[];

#[test]
fn harness_files_import_each_other_one_way() {
    let (_, edges) = file_edges(&crate_sources("harness"));
    assert_acyclic("harness/src (files)", &edges);
}

#[test]
fn harness_top_level_modules_import_each_other_one_way() {
    let (krate, edges) = file_edges(&crate_sources("harness"));
    assert_acyclic(
        "harness/src (top-level modules)",
        &module_edges(&krate, &edges),
    );
}

#[test]
fn proxies_files_import_each_other_one_way() {
    let (_, edges) = file_edges(&crate_sources("proxies"));
    assert_only_known_cycles("proxies/src (files)", &edges, PROXIES_KNOWN_CYCLES);
}

/// Sanity check of the real graph: edges we know exist are found, so an
/// empty cycle list is not an analysis that sees nothing.
#[test]
fn the_real_graph_has_the_edges_the_code_has() {
    let (_, edges) = file_edges(&crate_sources("harness"));
    let has = |from: &str, to: &str| edges.contains_key(&(from.to_owned(), to.to_owned()));
    assert!(has("runner.rs", "topology.rs"), "{edges:#?}");
    assert!(has("cli/drill.rs", "runner.rs"), "{edges:#?}");
    let files: BTreeSet<&str> = edges.keys().map(|(from, _)| from.as_str()).collect();
    assert!(
        files.len() > 40,
        "only {} files import anything",
        files.len()
    );
}

fn tree(files: &[(&str, &str)]) -> BTreeMap<String, String> {
    files
        .iter()
        .map(|(path, text)| ((*path).to_owned(), (*text).to_owned()))
        .collect()
}

fn synthetic_edges(files: &[(&str, &str)]) -> Edges {
    file_edges(&tree(files)).1
}

#[test]
fn a_planted_cycle_between_two_files_is_reported_with_its_paths() {
    let edges = synthetic_edges(&[
        ("lib.rs", "pub mod a;\npub mod b;\n"),
        ("a.rs", "use crate::b::Bee;\npub struct Ay(Bee);\n"),
        (
            "b.rs",
            "pub struct Bee;\npub fn make() -> crate::a::Ay { todo!() }\n",
        ),
    ]);
    let found = cycles(&edges);
    assert_eq!(
        found,
        ["2 members: a.rs -> b.rs (use crate::b::Bee) -> a.rs (crate::a::Ay)"],
        "{edges:#?}"
    );
}

#[test]
fn a_cycle_through_super_nested_groups_and_a_reexport_is_found() {
    // a/x.rs -> b.rs through a re-export of a/y.rs's item at the crate root;
    // b.rs -> a/x.rs through a nested group; a/y.rs is not in the cycle.
    let edges = synthetic_edges(&[
        ("lib.rs", "pub mod a;\npub mod b;\npub use a::y::Why;\n"),
        ("a/mod.rs", "pub mod x;\npub mod y;\n"),
        (
            "a/x.rs",
            "use crate::b::{self as bee};\npub fn f() { bee::g(); }\npub struct Ex;\n",
        ),
        ("a/y.rs", "pub struct Why;\n"),
        (
            "b.rs",
            "use crate::{a::{x::{Ex}}, Why};\npub fn g() -> (Ex, Why) { todo!() }\n",
        ),
    ]);
    let found = cycles(&edges);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].starts_with("2 members: a/x.rs -> b.rs"),
        "{found:?}"
    );
    assert!(
        edges.contains_key(&("b.rs".into(), "a/y.rs".into())),
        "{edges:#?}"
    );
    assert!(
        !edges.contains_key(&("lib.rs".into(), "a/y.rs".into())),
        "{edges:#?}"
    );
}

#[test]
fn a_path_inside_a_macro_counts() {
    let edges = synthetic_edges(&[
        ("lib.rs", "pub mod a;\npub mod b;\n"),
        (
            "a.rs",
            "pub const N: u8 = 1;\npub fn f() { let _ = crate::b::M; }\n",
        ),
        (
            "b.rs",
            "pub const M: u8 = 2;\npub fn g() { println!(\"{}\", super::a::N); }\n",
        ),
    ]);
    assert_eq!(cycles(&edges).len(), 1, "{edges:#?}");
}

#[test]
fn tests_facades_and_uses_of_the_enclosing_hub_are_not_edges() {
    let edges = synthetic_edges(&[
        ("lib.rs", "pub mod m;\n"),
        ("m/mod.rs", "mod kid;\npub use kid::Kid;\npub struct Parent;\npub fn f() -> Kid { todo!() }\n#[cfg(test)]\nmod tests { use crate::other::X; }\n"),
        ("m/kid.rs", "use super::Parent;\npub struct Kid(Parent);\npub fn g() -> crate::m::Parent { todo!() }\n"),
    ]);
    assert!(cycles(&edges).is_empty(), "{edges:#?}");
    assert_eq!(
        edges.keys().collect::<Vec<_>>(),
        [&("m/mod.rs".to_owned(), "m/kid.rs".to_owned())],
        "the hub using its file is an edge; its file using the hub is not"
    );
}

#[test]
fn a_cycle_between_sibling_files_of_a_hub_is_found() {
    let edges = synthetic_edges(&[
        ("lib.rs", "pub mod m;\n"),
        ("m/mod.rs", "pub mod one;\npub mod two;\npub struct Hub;\n"),
        (
            "m/one.rs",
            "use super::two::Two;\npub struct One(Two, super::Hub);\n",
        ),
        (
            "m/two.rs",
            "pub struct Two;\npub fn f() -> super::one::One { todo!() }\n",
        ),
    ]);
    assert_eq!(cycles(&edges).len(), 1, "{edges:#?}");
}

#[test]
#[should_panic(expected = "known import cycles in t are gone")]
fn a_known_cycle_that_is_gone_fails_until_it_is_struck_off() {
    let edges = synthetic_edges(&[("lib.rs", "pub mod a;\n"), ("a.rs", "pub fn f() {}\n")]);
    assert_only_known_cycles("t", &edges, &[&["a.rs", "b.rs"]]);
}

#[test]
fn paths_out_of_the_crate_are_not_edges() {
    let edges = synthetic_edges(&[
        ("lib.rs", "pub mod a;\n"),
        ("a.rs", "use std::sync::Arc;\nuse tokio::time::Instant;\npub fn f() -> Option<Arc<Instant>> { ::std::option::Option::None }\n"),
    ]);
    assert!(edges.is_empty(), "{edges:#?}");
}

#[test]
fn a_cycle_between_top_level_modules_is_reported_even_when_files_are_acyclic() {
    let files = tree(&[
        ("lib.rs", "pub mod a;\npub mod b;\n"),
        ("a/mod.rs", "pub mod one;\npub mod two;\n"),
        ("a/one.rs", "pub fn f() { crate::b::g(); }\n"),
        ("a/two.rs", "pub fn h() {}\n"),
        (
            "b.rs",
            "pub fn g() {}\npub fn k() { crate::a::two::h(); }\n",
        ),
    ]);
    let (krate, edges) = file_edges(&files);
    assert!(cycles(&edges).is_empty(), "{edges:#?}");
    let modules = module_edges(&krate, &edges);
    assert_eq!(cycles(&modules).len(), 1, "{modules:#?}");
}

/// The most lines a source file's code (its `#[cfg(test)]` tail aside) may
/// have without saying why at its top.
const MAX_LINES: usize = 700;

/// The marker of a file that says why it is longer, in its first lines.
const LONG_MARKER: &str = "// Longer than 700 lines: ";

/// Lines of code before the file's test module, unless it gives a reason.
fn overlong(files: &BTreeMap<String, String>) -> Vec<String> {
    files
        .iter()
        .filter(|(_, text)| !text.lines().take(5).any(|l| l.starts_with(LONG_MARKER)))
        .filter_map(|(path, text)| {
            let lines: Vec<&str> = text.lines().collect();
            let code = lines
                .windows(2)
                .position(|w| w[0].trim() == "#[cfg(test)]" && w[1].starts_with("mod tests"))
                .unwrap_or(lines.len());
            (code > MAX_LINES).then(|| format!("{path}: {code} lines"))
        })
        .collect()
}

/// Files being split now; nothing may be added here.
const KNOWN_LONG: &[(&str, &str)] = &[("proxies", "proxy.rs")];

#[test]
fn no_source_file_is_longer_than_700_lines_without_a_reason() {
    let mut found = Vec::new();
    for krate in ["harness", "proxies"] {
        for file in overlong(&crate_sources(krate)) {
            found.push(format!("{krate}/src/{file}"));
        }
    }
    let known = |entry: &str| {
        KNOWN_LONG
            .iter()
            .any(|(krate, file)| entry.starts_with(&format!("{krate}/src/{file}:")))
    };
    let new: Vec<&String> = found.iter().filter(|f| !known(f)).collect();
    assert!(
        new.is_empty(),
        "split these files, or say why at their top with `{LONG_MARKER}…`: {new:?}"
    );
    let gone: Vec<String> = KNOWN_LONG
        .iter()
        .map(|(krate, file)| format!("{krate}/src/{file}"))
        .filter(|k| !found.iter().any(|f| f.starts_with(&format!("{k}:"))))
        .collect();
    assert!(
        gone.is_empty(),
        "no longer too long (or gone): remove from KNOWN_LONG: {gone:?}"
    );
}

#[test]
fn a_long_file_needs_a_reason_and_its_tests_do_not_count() {
    let code = "fn f() {}\n".repeat(MAX_LINES + 1);
    let tests = format!(
        "{}#[cfg(test)]\nmod tests {{\n{}}}\n",
        "fn f() {}\n".repeat(10),
        code
    );
    let reasoned = format!("//! A module.\n{LONG_MARKER}one table of every kind.\n{code}");
    let files = tree(&[
        ("long.rs", &code),
        ("tested.rs", &tests),
        ("reasoned.rs", &reasoned),
    ]);
    assert_eq!(
        overlong(&files),
        [format!("long.rs: {} lines", MAX_LINES + 1)]
    );
}

/// Not a check: prints the harness's top-level module graph, for redrawing
/// ARCHITECTURE.md (`cargo test -p faultline-harness --test layers -- --ignored --nocapture`).
#[test]
#[ignore = "prints the module graph; asserts nothing"]
fn print_the_harness_module_graph() {
    let (krate, edges) = file_edges(&crate_sources("harness"));
    let mut by_module: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (from, to) in module_edges(&krate, &edges).keys() {
        by_module
            .entry(from.clone())
            .or_default()
            .insert(to.clone());
    }
    for (module, uses) in by_module {
        println!(
            "{module} -> {}",
            uses.into_iter().collect::<Vec<_>>().join(", ")
        );
    }
}
