//! The library works from `kubegate.toml` and the contract alone (issue 10):
//! no string literal and no comment of its code (tests aside) names the
//! reference app's Secret key, API paths or fault routes. The reference's
//! own values live where its defaults are defined
//! (`harness/kubegate-core/src/config.rs`, [`Config::default`]) and in its
//! contract (`fixtures/contracts/openapi.yaml`).
//!
//! [`Config::default`]: kubegate::config::Config::default

use std::path::{Path, PathBuf};

/// What the library must not hold.
const FORBIDDEN: [&str; 3] = ["JWT_SECRET", "/api/tasks", "/fault/"];

/// Files that define the reference's defaults: they may.
const REFERENCE_DEFAULTS: [&str; 1] = ["harness/kubegate-core/src/config.rs"];

/// For now: LIVE-PROBE-LIVENESS still calls the reference's fault route
/// (`liveness_restart` and its table entry); the branch that freezes the
/// container with SIGSTOP instead removes both, and these two lines with it.
const PENDING: [(&str, &str); 2] =
    [("harness/src/live/probes.rs", "/fault/"), ("harness/src/live/checks.rs", "/fault/")];

/// Crates whose doc comments may show the reference's names as examples
/// (the rules explain themselves on the reference's manifests).
const DOC_EXAMPLES_ALLOWED: [&str; 1] = ["harness/kubegate-rules/"];

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Code,
    Str,
    Comment,
}

/// The file cut into code, string literals (char literals count as code)
/// and comments, as byte ranges.
fn lex(src: &str) -> Vec<(Kind, usize, usize)> {
    let b = src.as_bytes();
    let ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    let mut out = Vec::new();
    let (mut i, mut code_from) = (0, 0);
    let push = |out: &mut Vec<(Kind, usize, usize)>, kind, from: usize, to: usize, code_from: &mut usize| {
        if *code_from < from {
            out.push((Kind::Code, *code_from, from));
        }
        out.push((kind, from, to));
        *code_from = to;
    };
    while i < b.len() {
        let c = b[i];
        let next = b.get(i + 1).copied();
        if c == b'/' && next == Some(b'/') {
            let end = src[i..].find('\n').map_or(b.len(), |n| i + n);
            push(&mut out, Kind::Comment, i, end, &mut code_from);
            i = end;
        } else if c == b'/' && next == Some(b'*') {
            let (mut depth, mut j) = (1, i + 2);
            while j < b.len() && depth > 0 {
                if b[j] == b'/' && b.get(j + 1) == Some(&b'*') {
                    depth += 1;
                    j += 2;
                } else if b[j] == b'*' && b.get(j + 1) == Some(&b'/') {
                    depth -= 1;
                    j += 2;
                } else {
                    j += 1;
                }
            }
            push(&mut out, Kind::Comment, i, j, &mut code_from);
            i = j;
        } else if c == b'"' {
            let mut j = i + 1;
            while j < b.len() && b[j] != b'"' {
                j += if b[j] == b'\\' { 2 } else { 1 };
            }
            push(&mut out, Kind::Str, i, (j + 1).min(b.len()), &mut code_from);
            i = j + 1;
        } else if c == b'r' && (i == 0 || !ident(b[i - 1]) || (b[i - 1] == b'b' && (i < 2 || !ident(b[i - 2])))) {
            // A raw string: r"..", r#".."#, br"..".
            let hashes = b[i + 1..].iter().take_while(|&&h| h == b'#').count();
            if b.get(i + 1 + hashes) == Some(&b'"') {
                let close = format!("\"{}", "#".repeat(hashes));
                let body = i + 2 + hashes;
                let end = src[body..].find(&close).map_or(b.len(), |n| body + n + close.len());
                push(&mut out, Kind::Str, i, end, &mut code_from);
                i = end;
            } else {
                i += 1;
            }
        } else if c == b'\'' {
            // A char literal ('x', '\n', '{'), else a lifetime.
            if next == Some(b'\\') {
                // The escaped character itself may be a quote ('\'').
                i = src.get(i + 3..).and_then(|r| r.find('\'')).map_or(b.len(), |n| i + 3 + n + 1);
            } else if let Some(ch) = src[i + 1..].chars().next()
                && b.get(i + 1 + ch.len_utf8()) == Some(&b'\'')
            {
                i += 2 + ch.len_utf8();
            } else {
                i += 1;
            }
        } else {
            i += 1;
        }
    }
    if code_from < b.len() {
        out.push((Kind::Code, code_from, b.len()));
    }
    out
}

/// `src` with string literals, char literals and comments blanked (same
/// length, newlines kept), so braces and attributes can be found in it.
fn masked(src: &str, parts: &[(Kind, usize, usize)]) -> Vec<u8> {
    let mut m = src.as_bytes().to_vec();
    for &(kind, from, to) in parts {
        if kind != Kind::Code {
            for c in &mut m[from..to] {
                if *c != b'\n' {
                    *c = b' ';
                }
            }
        }
    }
    // Char literals hold braces too ('{'): blank what is between quotes of one char.
    let mut i = 0;
    while i + 2 < m.len() {
        if m[i] == b'\'' && m[i + 2] == b'\'' {
            m[i + 1] = b' ';
            i += 3;
        } else {
            i += 1;
        }
    }
    m
}

/// Byte ranges of items compiled for tests only (`#[cfg(test)]`,
/// `#[cfg(any(test, ...))]`), and the names of test-only modules declared
/// with `mod name;` (files of their own).
fn test_only(m: &[u8]) -> (Vec<(usize, usize)>, Vec<String>) {
    let text = String::from_utf8_lossy(m);
    let (mut ranges, mut files) = (Vec::new(), Vec::new());
    let mut from = 0;
    while let Some(at) = text[from..].find("#[cfg(").map(|n| from + n) {
        from = at + 6;
        let Some(close) = text[at..].find(")]").map(|n| at + n) else { break };
        let cond: String = text[at + 6..close].chars().filter(|c| !c.is_whitespace()).collect();
        let is_test = cond == "test"
            || (cond.starts_with("any(") && cond.split(|c: char| !c.is_alphanumeric()).any(|w| w == "test"));
        if !is_test {
            continue;
        }
        // The item: up to its first `;` or the `}` matching its first `{`.
        let mut depth = 0usize;
        let mut end = text.len();
        for (j, c) in text[close + 2..].char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        end = close + 2 + j + 1;
                        break;
                    }
                }
                ';' if depth == 0 => {
                    end = close + 2 + j + 1;
                    let item = text[close + 2..end].trim();
                    if let Some(name) = item.trim_start_matches("pub ").strip_prefix("mod ") {
                        files.push(name.trim_end_matches(';').trim().to_owned());
                    }
                    break;
                }
                _ => {}
            }
        }
        ranges.push((at, end));
        from = end;
    }
    (ranges, files)
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// Every `FORBIDDEN` string in a string literal or comment of library code,
/// as `file:line: text`.
fn findings(repo: &Path) -> Vec<String> {
    let mut roots = vec![repo.join("harness/src")];
    for e in std::fs::read_dir(repo.join("harness")).expect("harness/").flatten() {
        if e.file_name().to_string_lossy().starts_with("kubegate-") {
            roots.push(e.path().join("src"));
        }
    }
    let mut files = Vec::new();
    for r in &roots {
        rust_files(r, &mut files);
    }
    files.sort();
    let read = |file: &Path| std::fs::read_to_string(file).expect("readable source");
    // Test-only modules of their own (`#[cfg(test)] mod x;`): `x.rs` and all below `x/`.
    let mut test_modules: Vec<PathBuf> = Vec::new();
    for file in &files {
        let src = read(file);
        let (_, mods) = test_only(&masked(&src, &lex(&src)));
        // `a/b.rs` declares its modules in `a/b/`; `mod.rs`, `lib.rs` and `main.rs` in their own directory.
        let stem = file.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        let dir = if ["mod", "lib", "main"].contains(&stem.as_str()) {
            file.parent().map(Path::to_path_buf).unwrap_or_default()
        } else {
            file.with_extension("")
        };
        test_modules.extend(mods.iter().map(|m| dir.join(m)));
    }
    let mut out = Vec::new();
    for file in &files {
        let rel = file.strip_prefix(repo).unwrap_or(file).to_string_lossy().replace('\\', "/");
        let under_test = test_modules.iter().any(|m| file == &m.with_extension("rs") || file.starts_with(m));
        if REFERENCE_DEFAULTS.contains(&rel.as_str()) || under_test {
            continue;
        }
        let src = read(file);
        let parts = lex(&src);
        let (ranges, _) = test_only(&masked(&src, &parts));
        for &(kind, from, to) in &parts {
            if kind == Kind::Code || ranges.iter().any(|&(a, b)| from >= a && to <= b) {
                continue;
            }
            if kind == Kind::Comment && DOC_EXAMPLES_ALLOWED.iter().any(|p| rel.starts_with(p)) {
                continue;
            }
            let text = &src[from..to];
            for f in FORBIDDEN {
                if text.contains(f) && !PENDING.contains(&(rel.as_str(), f)) {
                    let line = src[..from].matches('\n').count() + 1;
                    out.push(format!("{rel}:{line}: {f} in {}", text.trim()));
                }
            }
        }
    }
    out
}

#[test]
fn library_code_holds_no_reference_literal() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("repository root");
    let found = findings(repo);
    assert!(
        found.is_empty(),
        "the library names the reference app (take it from kubegate.toml or the contract instead):\n  {}",
        found.join("\n  ")
    );
}

#[test]
fn the_scan_sees_literals_and_comments_but_not_tests() {
    let src = r##"
/// Calls /api/tasks.
fn a() -> &'static str { let c = '{'; let q = '\''; "/api/tasks" }
fn b() -> &'static str { r#"JWT_SECRET"# }
#[cfg(test)]
mod tests {
    fn t() { let _ = "/fault/liveness"; let _ = '}'; }
}
fn c() -> &'static str { "/fault/x" }
#[cfg(any(test, feature = "kit"))]
pub mod kit;
"##;
    let parts = lex(src);
    let (ranges, mods) = test_only(&masked(src, &parts));
    assert_eq!(mods, ["kit"]);
    let seen: Vec<&str> = parts
        .iter()
        .filter(|(k, from, to)| *k != Kind::Code && !ranges.iter().any(|&(a, b)| *from >= a && *to <= b))
        .map(|&(_, from, to)| &src[from..to])
        .collect();
    assert_eq!(seen, ["/// Calls /api/tasks.", "\"/api/tasks\"", "r#\"JWT_SECRET\"#", "\"/fault/x\""]);
}
