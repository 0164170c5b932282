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
            let is_fn = declares_fn(code);
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

/// Whether a line begins a function: any visibility, then any of `const`,
/// `async`, `unsafe`, `extern "C"`, then `fn`.
fn declares_fn(code: &str) -> bool {
    let mut rest = code;
    if let Some(after) = rest.strip_prefix("pub") {
        rest = match after.strip_prefix('(') {
            Some(inner) => inner.split_once(')').map_or("", |(_, r)| r),
            None => after,
        }
        .trim_start();
    }
    loop {
        let before = rest;
        for qualifier in ["const ", "async ", "unsafe ", "extern \"C\" "] {
            rest = rest.strip_prefix(qualifier).unwrap_or(rest);
        }
        if rest == before {
            return rest.starts_with("fn ");
        }
    }
}

#[test]
fn errors_are_typed_not_strings() {
    let mut stringly = Vec::new();
    for (path, lines) in production_sources() {
        let text = lines.join(" ");
        let text: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
        for (at, _) in text.match_indices("Result<") {
            let args = generic_args(&text[at + "Result<".len()..]);
            if let Some(error) = args.get(1) {
                // A borrowed `&str` names something (a column, say); an
                // owned or static string is a message standing in for a type.
                if matches!(error.as_str(), "String" | "&'static str" | "Box<str>") {
                    stringly.push(format!("{}: Result<{}>", shown(&path), args.join(", ")));
                }
            }
        }
    }
    assert!(stringly.is_empty(), "errors as strings: {stringly:?}");
}

/// The top-level arguments of a generic whose `<` was just read.
fn generic_args(text: &str) -> Vec<String> {
    let (mut depth, mut args, mut current) = (0usize, Vec::new(), String::new());
    for c in text.chars() {
        match c {
            '<' | '(' | '[' => depth += 1,
            '>' | ')' | ']' if depth == 0 => break,
            '>' | ')' | ']' => depth -= 1,
            ',' if depth == 0 => {
                args.push(current.trim().to_owned());
                current.clear();
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    args.push(current.trim().to_owned());
    args
}

/// Within a folder, the files' `use`s of `super::…` (as many as reach the
/// folder) and of `crate::folder::…` name either a sibling module, an edge
/// of the folder's graph, which has no circle; or an item of the folder's
/// root, an import back up, which is refused whatever its case. Files in a
/// subfolder count as their subfolder's module.
#[test]
fn modules_import_in_one_direction() {
    let mut problems = Vec::new();
    for folder in [
        "connection",
        "connection/url",
        "document",
        "error",
        "locations",
        "rotation",
        "rotation/discovery",
    ] {
        let dir = repo().join("core/src").join(folder);
        let mut files = Vec::new();
        collect(&dir, "rs", &mut files);
        let modules: BTreeSet<String> = fs::read_dir(&dir)
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter_map(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
            .filter(|m| m != "mod" && m != "tests")
            .collect();
        let crate_prefix = format!("crate::{}::", folder.replace('/', "::"));
        let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for file in &files {
            let rel = file.strip_prefix(&dir).unwrap();
            let parts: Vec<String> = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            let module = parts[0].trim_end_matches(".rs").to_owned();
            let name = parts.last().map(String::as_str).unwrap_or("");
            if module == "mod" || module == "tests" || name == "tests.rs" {
                continue;
            }
            // How many `super::` lead from this file to the folder.
            let up = parts.len() - usize::from(name == "mod.rs");
            let to_folder = "super::".repeat(up);
            let text = fs::read_to_string(file).unwrap();
            let production = text.split("#[cfg(test)]").next().unwrap_or("");
            for path in use_statements(production) {
                let Some(path) = path
                    .strip_prefix(to_folder.as_str())
                    .filter(|rest| !rest.starts_with("super::"))
                    .or_else(|| path.strip_prefix(crate_prefix.as_str()))
                else {
                    continue;
                };
                for first in first_segments(path) {
                    if first == module {
                        continue;
                    }
                    if modules.contains(&first) {
                        edges.entry(module.clone()).or_default().insert(first);
                    } else {
                        problems.push(format!(
                            "{} imports {first} back up from {folder}'s root",
                            shown(file)
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

/// The path of each top-level `use` statement, whatever its visibility,
/// joined onto one line.
fn use_statements(source: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current: Option<String> = None;
    for line in source.lines() {
        match current.as_mut() {
            Some(statement) => statement.push_str(line.trim()),
            None => match use_path(line) {
                Some(path) => current = Some(path.to_owned()),
                None => continue,
            },
        }
        if line.trim_end().ends_with(';') {
            out.extend(current.take());
        }
    }
    out
}

/// What follows `use` in a line that begins a `use`, after any visibility.
fn use_path(line: &str) -> Option<&str> {
    let rest = match line.strip_prefix("pub") {
        Some(after) => match after.strip_prefix('(') {
            Some(inner) => inner.split_once(')')?.1,
            None => after,
        }
        .trim_start(),
        None => line,
    };
    rest.strip_prefix("use ")
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
