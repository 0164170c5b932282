//! The house's shape, checked so that it stays: one subject per file, short
//! functions, typed errors, modules that import in one direction, and a
//! test-helper folder a reader can take in at a glance (ARCHITECTURE.md).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

const MAX_FILE_LINES: usize = 400;
const MAX_FN_LINES: usize = 80;
const MAX_CLI_FILE_LINES: usize = 250;
const MAX_HELPER_ENTRIES: usize = 12;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Every production Rust file of the core and the binding, with its lines
/// before its test module. A `tests.rs` is a test module of its own.
fn production_sources() -> Vec<(PathBuf, Vec<String>)> {
    let mut files = Vec::new();
    for dir in ["core/src", "src"] {
        collect(&repo().join(dir), "rs", &mut files);
    }
    files
        .into_iter()
        .filter(|p| p.file_name().is_some_and(|n| n != "tests.rs"))
        .map(|p| {
            let text = fs::read_to_string(&p).unwrap();
            let lines: Vec<String> = text
                .lines()
                .take_while(|l| !l.starts_with("#[cfg(test)]"))
                .map(str::to_owned)
                .collect();
            (p, lines)
        })
        .collect()
}

fn collect(dir: &Path, ext: &str, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect(&path, ext, out);
        } else if path.extension().is_some_and(|e| e == ext) {
            out.push(path);
        }
    }
}

fn shown(path: &Path) -> String {
    path.strip_prefix(repo())
        .unwrap_or(path)
        .display()
        .to_string()
}

#[test]
fn no_production_file_holds_two_subjects() {
    let long: Vec<String> = production_sources()
        .iter()
        .filter(|(_, lines)| lines.len() > MAX_FILE_LINES)
        .map(|(p, lines)| format!("{} ({} lines)", shown(p), lines.len()))
        .collect();
    assert!(long.is_empty(), "over {MAX_FILE_LINES} lines: {long:?}");
}

#[test]
fn no_function_runs_past_eighty_lines() {
    let mut long = Vec::new();
    for (path, lines) in production_sources() {
        for (start, line) in lines.iter().enumerate() {
            let code = line.trim_start();
            let indent = &line[..line.len() - code.len()];
            let is_fn = ["fn ", "pub fn ", "async fn ", "pub async fn "]
                .iter()
                .any(|p| code.starts_with(p))
                || (code.starts_with("pub(") && code.contains(") fn ")
                    || code.contains(") async fn "));
            if !is_fn || code.ends_with(';') {
                continue;
            }
            let closing = format!("{indent}}}");
            if let Some(len) = lines[start..].iter().position(|l| *l == closing) {
                if len + 1 > MAX_FN_LINES {
                    long.push(format!(
                        "{}:{} ({} lines)",
                        shown(&path),
                        start + 1,
                        len + 1
                    ));
                }
            }
        }
    }
    assert!(
        long.is_empty(),
        "functions over {MAX_FN_LINES} lines: {long:?}"
    );
}

#[test]
fn errors_are_typed_not_strings() {
    let stringly: Vec<String> = production_sources()
        .iter()
        .flat_map(|(path, lines)| {
            lines
                .iter()
                .enumerate()
                .filter(|(_, l)| l.contains(", String>") && l.contains("Result<"))
                .map(move |(i, _)| format!("{}:{}", shown(path), i + 1))
        })
        .collect();
    assert!(stringly.is_empty(), "Result<_, String>: {stringly:?}");
}

/// Within a folder of modules, `use super::x` and `use crate::folder::x`
/// are edges between siblings; the graph has no cycle, and nothing imports
/// from the folder's own root (`use super::Name` of a parent item).
#[test]
fn modules_import_in_one_direction() {
    let mut problems = Vec::new();
    for folder in [
        "connection",
        "rotation",
        "rotation/discovery",
        "error",
        "locations",
    ] {
        let dir = repo().join("core/src").join(folder);
        let mut files = Vec::new();
        collect(&dir, "rs", &mut files);
        let modules: BTreeSet<String> = files
            .iter()
            .filter(|p| p.parent() == Some(dir.as_path()))
            .filter_map(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
            .filter(|m| m != "mod" && m != "tests")
            .chain(
                fs::read_dir(&dir)
                    .unwrap()
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.join("mod.rs").exists())
                    .filter_map(|p| p.file_name().map(|s| s.to_string_lossy().into_owned())),
            )
            .collect();
        let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for module in &modules {
            let file = match dir.join(format!("{module}.rs")) {
                f if f.exists() => f,
                _ => dir.join(module).join("mod.rs"),
            };
            let text = fs::read_to_string(&file).unwrap();
            let production = text.split("#[cfg(test)]").next().unwrap_or("");
            let crate_prefix = format!("crate::{}::", folder.replace('/', "::"));
            for line in use_statements(production) {
                let Some(path) = line
                    .strip_prefix("use super::")
                    .or_else(|| line.strip_prefix(&format!("use {crate_prefix}")))
                else {
                    continue;
                };
                for first in first_segments(path) {
                    if modules.contains(&first) {
                        edges.entry(module.clone()).or_default().insert(first);
                    } else if first.chars().next().is_some_and(char::is_uppercase) {
                        problems.push(format!(
                            "{folder}/{module} imports {first} back up from {folder}'s root"
                        ));
                    }
                }
            }
        }
        if let Some(cycle) = find_cycle(&edges) {
            problems.push(format!("{folder}: import circle {}", cycle.join(" -> ")));
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

/// Each top-level `use` statement, joined onto one line.
fn use_statements(source: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current: Option<String> = None;
    for line in source.lines() {
        match current.as_mut() {
            Some(statement) => statement.push_str(line.trim()),
            None if line.starts_with("use ") => current = Some(line.to_owned()),
            None => continue,
        }
        if line.trim_end().ends_with(';') {
            out.extend(current.take());
        }
    }
    out
}

/// The first segment of each path a `use` names: `a::B` gives `a`,
/// `{a::B, C}` gives `a` and `C`.
fn first_segments(path: &str) -> Vec<String> {
    let path = path.trim_end_matches(';');
    let items = match path.strip_prefix('{') {
        Some(inner) => inner.trim_end_matches('}').to_owned(),
        None => path.to_owned(),
    };
    let mut out = Vec::new();
    let mut depth = 0;
    let mut item = String::new();
    for c in items.chars().chain([',']) {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                let first = item
                    .trim()
                    .split("::")
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_owned();
                if !first.is_empty() && first != "self" {
                    out.push(first);
                }
                item.clear();
                continue;
            }
            _ => {}
        }
        item.push(c);
    }
    out
}

fn find_cycle(edges: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = path.iter().position(|n| n == node) {
            let mut cycle = path[i..].to_vec();
            cycle.push(node.to_owned());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in edges.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, edges, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    edges
        .keys()
        .find_map(|n| visit(n, edges, &mut Vec::new(), &mut done))
}

#[test]
fn the_cli_files_stay_small() {
    let mut files = Vec::new();
    collect(&repo().join("cli"), "js", &mut files);
    let long: Vec<String> = files
        .iter()
        .map(|p| (p, fs::read_to_string(p).unwrap().lines().count()))
        .filter(|(_, n)| *n > MAX_CLI_FILE_LINES)
        .map(|(p, n)| format!("{} ({n} lines)", shown(p)))
        .collect();
    assert!(long.is_empty(), "over {MAX_CLI_FILE_LINES} lines: {long:?}");
}

#[test]
fn the_test_helpers_fit_on_one_screen() {
    let entries: Vec<String> = fs::read_dir(repo().join("__test__/helpers"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        entries.len() <= MAX_HELPER_ENTRIES,
        "__test__/helpers has {} entries at its top level: {entries:?}",
        entries.len()
    );
}
