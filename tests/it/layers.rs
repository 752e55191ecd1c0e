//! The modules are a stack: each top-level module of `src/` may use only
//! the ones below it. A new upward `use crate::…` (an import cycle in the
//! making) fails this test, which names the file and the line.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Bottom to top. `doctor` is a command the CLI runs; both sit on `app`.
const STACK: &[&str] = &[
    "config", "auth", "db", "observe", "mcp", "http", "app", "doctor", "cli",
];

/// Crate-root items (`crate::VERSION`) anyone may use.
const ROOT_ITEMS: &[&str] = &["VERSION"];

/// Top-level modules named by `crate::…` paths in `source`, with their
/// line numbers; comments are skipped.
fn crate_paths(source: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (n, line) in source.lines().enumerate() {
        let code = match line.find("//") {
            Some(i) => &line[..i],
            None => line,
        };
        let mut rest = code;
        while let Some(i) = rest.find("crate::") {
            rest = &rest[i + "crate::".len()..];
            if let Some(group) = rest.strip_prefix('{') {
                // `crate::{a, b::c}`: the first segment of each entry.
                let end = group.find('}').unwrap_or(group.len());
                for entry in group[..end].split(',') {
                    let name: String = entry
                        .trim()
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .collect();
                    if !name.is_empty() {
                        out.push((n + 1, name));
                    }
                }
            } else {
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                out.push((n + 1, name));
            }
        }
    }
    out
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every use of a module at or above the user's own level, as messages.
fn violations(files: &[(String, String)]) -> (Vec<String>, BTreeMap<String, Vec<String>>) {
    let rank = |m: &str| STACK.iter().position(|s| *s == m);
    let mut bad = Vec::new();
    let mut graph: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (file, source) in files {
        let top = file
            .split('/')
            .next()
            .unwrap_or_default()
            .trim_end_matches(".rs");
        if top == "lib" || top == "main" {
            continue;
        }
        let Some(own) = rank(top) else {
            bad.push(format!(
                "src/{file}: module `{top}` is not in the stack {STACK:?}"
            ));
            continue;
        };
        for (line, used) in crate_paths(source) {
            if used == top || ROOT_ITEMS.contains(&used.as_str()) {
                continue;
            }
            let deps = graph.entry(top.to_owned()).or_default();
            if !deps.contains(&used) {
                deps.push(used.clone());
                deps.sort();
            }
            match rank(&used) {
                Some(r) if r < own => {}
                Some(_) => bad.push(format!(
                    "src/{file}:{line}: `{top}` uses `crate::{used}`, which is not below it in {STACK:?}"
                )),
                None => bad.push(format!(
                    "src/{file}:{line}: `crate::{used}` is not a module of the stack"
                )),
            }
        }
    }
    (bad, graph)
}

#[test]
fn modules_only_use_the_layers_below_them() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut paths = Vec::new();
    rust_files(&src, &mut paths);
    let files: Vec<(String, String)> = paths
        .iter()
        .map(|p| {
            let rel = p.strip_prefix(&src).expect("under src");
            (
                rel.to_string_lossy().replace('\\', "/"),
                std::fs::read_to_string(p).expect("read"),
            )
        })
        .collect();
    assert!(files.len() > 50, "found only {} files", files.len());
    let (bad, graph) = violations(&files);
    // `cargo test layers -- --nocapture` prints the graph.
    for (module, deps) in &graph {
        println!("{module} -> {}", deps.join(" "));
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
    // Every layer is reached: the scan sees the real imports.
    assert!(
        graph
            .get("mcp")
            .is_some_and(|d| d.contains(&"db".to_owned()))
    );
}

#[test]
fn an_upward_import_is_reported_with_its_line() {
    let files = vec![
        (
            "db/mod.rs".to_owned(),
            "use crate::config::Config;\n// crate::http in a comment\nuse crate::{auth, mcp::ServerState};\n".to_owned(),
        ),
        ("config/mod.rs".to_owned(), "fn f() { crate::VERSION; }\n".to_owned()),
    ];
    let (bad, _) = violations(&files);
    assert_eq!(bad.len(), 1, "{bad:?}");
    assert!(
        bad[0].starts_with("src/db/mod.rs:3: `db` uses `crate::mcp`"),
        "{bad:?}"
    );
}
