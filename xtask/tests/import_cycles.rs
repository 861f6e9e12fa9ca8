//! No module of any workspace crate imports one that imports it back (directly or through
//! others). The check reads the `use` paths and qualified paths (`crate::a::b`, `super::x`,
//! `self::x`, and a `lib.rs` / `mod.rs` naming its own children) of every source file, resolves
//! each to the deepest module that exists, and looks for strongly connected components of more
//! than one file (Tarjan). Test modules (`#[cfg(test)]` to the end of a file) and comments are
//! left out: a test may look at its parent.
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Module path (`a::b`, "" for the crate root) of every `.rs` file under `src`.
fn modules(src: &Path) -> BTreeMap<String, PathBuf> {
    let mut out = BTreeMap::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            if p.extension().is_none_or(|x| x != "rs") {
                continue;
            }
            let rel = p.strip_prefix(src).unwrap().with_extension("");
            let mut parts: Vec<String> = rel.iter().map(|s| s.to_string_lossy().into_owned()).collect();
            if matches!(parts.last().map(|s| s.as_str()), Some("mod" | "lib" | "main")) {
                parts.pop();
            }
            out.insert(parts.join("::"), p);
        }
    }
    out
}

/// The source a module's imports are read from: comments and the test module removed.
fn code(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    let mut out = String::new();
    for line in text.lines() {
        if line.trim_start().starts_with("#[cfg(test)]") {
            break;
        }
        let line = match line.find("//") {
            Some(i) => &line[..i],
            None => line,
        };
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// Every path that starts with `crate`, `super` or `self`, or with a child module name when
/// `children` is given, with `{a, b::c}` groups expanded.
fn paths(code: &str, children: &BTreeSet<String>) -> Vec<Vec<String>> {
    let bytes: Vec<char> = code.chars().collect();
    let mut out = Vec::new();
    let ident = |c: char| c.is_alphanumeric() || c == '_';
    let mut i = 0;
    while i < bytes.len() {
        if ident(bytes[i]) && (i == 0 || !(ident(bytes[i - 1]) || bytes[i - 1] == ':')) {
            // Read `seg::seg::...` possibly ending in a `{ ... }` group.
            let (segs, end) = read_path(&bytes, i);
            if let Some(first) = segs.first().map(|s| s.as_str()) {
                if matches!(first, "crate" | "super" | "self") || (segs.len() > 1 && children.contains(first)) {
                    out.extend(expand(&bytes, segs, end));
                }
            }
            i = end.max(i + 1);
        } else {
            i += 1;
        }
    }
    out
}

fn read_path(b: &[char], mut i: usize) -> (Vec<String>, usize) {
    let mut segs = Vec::new();
    loop {
        let start = i;
        while i < b.len() && (b[i].is_alphanumeric() || b[i] == '_') {
            i += 1;
        }
        segs.push(b[start..i].iter().collect());
        if i + 1 < b.len() && b[i] == ':' && b[i + 1] == ':' && i + 2 < b.len() && (b[i + 2].is_alphanumeric() || b[i + 2] == '_') {
            i += 2;
        } else {
            return (segs, i);
        }
    }
}

/// `prefix::{a, b::c}` at `end` (pointing after the prefix) -> [prefix::a, prefix::b::c].
fn expand(b: &[char], prefix: Vec<String>, end: usize) -> Vec<Vec<String>> {
    if !(end + 2 < b.len() && b[end] == ':' && b[end + 1] == ':' && b[end + 2] == '{') {
        return vec![prefix];
    }
    let mut depth = 0;
    let mut j = end + 2;
    let mut inner = String::new();
    while j < b.len() {
        match b[j] {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    break;
                }
            }
            _ => {}
        }
        if depth >= 1 && !(depth == 1 && b[j] == '{') {
            inner.push(b[j]);
        }
        j += 1;
    }
    // Split on top-level commas.
    let mut items = Vec::new();
    let (mut d, mut cur) = (0, String::new());
    for c in inner.chars() {
        match c {
            '{' => d += 1,
            '}' => d -= 1,
            ',' if d == 0 => {
                items.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    items.push(cur);
    let mut out = Vec::new();
    for it in items.iter().map(|s| s.split_whitespace().collect::<String>()).filter(|s| !s.is_empty()) {
        let chars: Vec<char> = it.chars().collect();
        let (segs, e) = read_path(&chars, 0);
        let mut full = prefix.clone();
        full.extend(segs.into_iter().filter(|s| !s.is_empty()));
        out.extend(expand(&chars, full, e));
    }
    out
}

/// The module a path from module `from` names: the deepest existing module along it.
fn resolve(from: &str, path: &[String], known: &BTreeMap<String, PathBuf>, reexports: &BTreeMap<(String, String), String>) -> Option<String> {
    let mut base: Vec<String> = if from.is_empty() { vec![] } else { from.split("::").map(String::from).collect() };
    let mut rest = path;
    match path.first()?.as_str() {
        "crate" => {
            base.clear();
            rest = &path[1..];
        }
        "self" => rest = &path[1..],
        "super" => {
            let mut k = 0;
            while rest.get(k).is_some_and(|s| s == "super") {
                base.pop()?;
                k += 1;
            }
            rest = &rest[k..];
        }
        _ => {}
    }
    let mut best = base.join("::");
    for s in rest {
        base.push(s.clone());
        let m = base.join("::");
        if known.contains_key(&m) {
            best = m;
        } else {
            // An item a facade re-exports from one of its children stands for that child.
            if let Some(child) = reexports.get(&(best.clone(), s.clone())) {
                best = child.clone();
            }
            break;
        }
    }
    Some(best)
}

/// (facade module, re-exported name) -> the child module it comes from, for every
/// `pub use child::{A, B};` of a `lib.rs` / `mod.rs`.
fn reexports(known: &BTreeMap<String, PathBuf>) -> BTreeMap<(String, String), String> {
    let mut out = BTreeMap::new();
    for (m, file) in known {
        if !file.file_stem().is_some_and(|s| s == "mod" || s == "lib" || s == "main") {
            continue;
        }
        for stmt in code(file).split(';').map(str::trim).filter(|s| s.starts_with("pub use ")) {
            let body = &stmt["pub use ".len()..];
            for p in paths(body, &known.keys().map(|k| k.rsplit("::").next().unwrap().to_string()).collect()) {
                let p: Vec<String> = if matches!(p[0].as_str(), "crate" | "super" | "self") { p } else { std::iter::once("self".to_string()).chain(p).collect() };
                if let (Some(name), Some(child)) = (p.last(), resolve(m, &p, known, &BTreeMap::new())) {
                    if &child != m {
                        out.insert((m.clone(), name.clone()), child);
                    }
                }
            }
        }
    }
    out
}

/// Strongly connected components with more than one module (Tarjan, iterative enough for a crate).
fn cycles(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct T<'a> {
        e: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<String, usize>,
        low: BTreeMap<String, usize>,
        stack: Vec<String>,
        on: BTreeSet<String>,
        n: usize,
        out: Vec<Vec<String>>,
    }
    fn visit(t: &mut T, v: &str) {
        t.index.insert(v.into(), t.n);
        t.low.insert(v.into(), t.n);
        t.n += 1;
        t.stack.push(v.into());
        t.on.insert(v.into());
        for w in t.e.get(v).cloned().unwrap_or_default() {
            if !t.index.contains_key(&w) {
                visit(t, &w);
                let l = t.low[&w].min(t.low[v]);
                t.low.insert(v.into(), l);
            } else if t.on.contains(&w) {
                let l = t.index[&w].min(t.low[v]);
                t.low.insert(v.into(), l);
            }
        }
        if t.low[v] == t.index[v] {
            let mut comp = Vec::new();
            loop {
                let w = t.stack.pop().unwrap();
                t.on.remove(&w);
                comp.push(w.clone());
                if w == v {
                    break;
                }
            }
            if comp.len() > 1 {
                comp.sort();
                t.out.push(comp);
            }
        }
    }
    let mut t = T { e: edges, index: BTreeMap::new(), low: BTreeMap::new(), stack: vec![], on: BTreeSet::new(), n: 0, out: vec![] };
    for v in edges.keys() {
        if !t.index.contains_key(v) {
            visit(&mut t, v);
        }
    }
    t.out
}

/// Import edges between the modules of the crate whose sources are in `src`.
fn crate_edges(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let known = modules(src);
    let re = reexports(&known);
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (m, file) in &known {
        let is_dir_module = file.file_stem().is_some_and(|s| s == "mod" || s == "lib" || s == "main");
        let children: BTreeSet<String> = if is_dir_module {
            known.keys().filter_map(|k| {
                let rest = if m.is_empty() { Some(k.as_str()) } else { k.strip_prefix(&format!("{m}::")) };
                rest.filter(|r| !r.is_empty() && !r.contains("::")).map(String::from)
            }).collect()
        } else {
            BTreeSet::new()
        };
        let e = edges.entry(m.clone()).or_default();
        let src_code = code(file);
        // A facade's `pub use child::Item;` re-exports: a declaration, not a dependency.
        let own: String = if is_dir_module { src_code.split(';').filter(|s| !s.trim_start().starts_with("pub use ")).collect::<Vec<_>>().join(";") } else { src_code };
        for p in paths(&own, &children) {
            let p = if children.contains(&p[0]) { std::iter::once("self".to_string()).chain(p).collect() } else { p };
            if let Some(to) = resolve(m, &p, &known, &re) {
                if &to != m {
                    e.insert(to);
                }
            }
        }
    }
    edges
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

#[test]
fn no_module_imports_one_that_imports_it_back() {
    let root = workspace();
    let mut srcs: Vec<PathBuf> = std::fs::read_dir(root.join("crates")).unwrap().flatten().map(|e| e.path().join("src")).filter(|p| p.is_dir()).collect();
    srcs.push(root.join("xtask/src"));
    srcs.sort();
    let mut found = Vec::new();
    for src in &srcs {
        for c in cycles(&crate_edges(src)) {
            found.push(format!("{}: {}", src.parent().unwrap().strip_prefix(&root).unwrap().display(), c.join(" <-> ")));
        }
    }
    assert!(found.is_empty(), "import circles:\n  {}", found.join("\n  "));
}

/// The checker itself finds a circle, through a group import and `super`, and no false one.
#[test]
fn the_checker_finds_a_planted_circle() {
    let dir = std::env::temp_dir().join(format!("advedge-cycles-{}", std::process::id()));
    let src = dir.join("src");
    std::fs::create_dir_all(src.join("sub")).unwrap();
    std::fs::write(src.join("lib.rs"), "pub mod a;\npub mod b;\npub mod sub;\npub use a::A;\n").unwrap();
    std::fs::write(src.join("a.rs"), "use crate::{b::B, sub::c};\npub struct A;\n").unwrap();
    std::fs::write(src.join("b.rs"), "// use crate::a::A; (a comment)\npub struct B;\n#[cfg(test)]\nmod tests { use crate::a::A; }\n").unwrap();
    std::fs::write(src.join("sub/mod.rs"), "pub mod c;\n").unwrap();
    std::fs::write(src.join("sub/c.rs"), "use super::super::b::B;\n").unwrap();
    assert!(cycles(&crate_edges(&src)).is_empty());
    std::fs::write(src.join("sub/c.rs"), "use super::super::b::B;\npub fn f() { crate::a::A; }\n").unwrap();
    assert_eq!(cycles(&crate_edges(&src)), vec![vec!["a".to_string(), "sub::c".to_string()]]);
    let _ = std::fs::remove_dir_all(dir);
}
