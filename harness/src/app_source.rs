//! The application source behind a repository's images: every `Dockerfile` (or `Dockerfile.*`) at most three
//! directories below the root, its directory taken as the build context, and the routes ([`crate::routes`]) of the
//! source files there that `.dockerignore` leaves in. What a check passes to KG-PROBE-006; which Dockerfile builds
//! which container is [`kubegate_core::app_routes::app_for`].
//!
//! Kept small on purpose: a Dockerfile at the root (its context is the whole repository, its directory names no
//! component) and one built with another context (`docker build -f docker/api.Dockerfile .`) are not read, and
//! files above 256 KiB or beyond 2,000 per context are skipped, so a check stays well under a second.

use std::path::Path;

use kubegate_core::app_routes::{AppSource, Framework, Route};

use crate::discover::SKIPPED_DIRS;

/// How far below the root Dockerfiles are looked for (`services/api/Dockerfile` is two).
const DOCKERFILE_DEPTH: usize = 3;
/// Source files read per build context, at most.
const MAX_FILES: usize = 2000;
/// Larger files (bundles, generated code) are not read.
const MAX_FILE_BYTES: u64 = 256 * 1024;

/// The apps of the repository at `root`, by build context; an unreadable directory is skipped.
pub fn find(root: &Path) -> Vec<AppSource> {
    let mut contexts = Vec::new();
    dockerfiles(root, root, 0, &mut contexts);
    contexts.sort();
    contexts.dedup_by(|a, b| a.0 == b.0);
    contexts.into_iter().map(|(context, dockerfile)| read_context(root, &context, dockerfile)).collect()
}

/// `(context, dockerfile)` pairs, relative to `root`.
fn dockerfiles(root: &Path, dir: &Path, depth: usize, out: &mut Vec<(String, String)>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let mut entries: Vec<_> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
    entries.sort();
    for path in entries {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if path.is_dir() {
            if depth < DOCKERFILE_DEPTH && !name.starts_with('.') && !SKIPPED_DIRS.contains(&name) {
                dockerfiles(root, &path, depth + 1, out);
            }
        } else if depth > 0 && (name == "Dockerfile" || name.starts_with("Dockerfile.")) {
            out.push((relative(root, dir), relative(root, &path)));
        }
    }
}

fn read_context(root: &Path, context: &str, dockerfile: String) -> AppSource {
    let dir = root.join(context);
    let ignore = Ignore::read(&dir.join(".dockerignore"));
    let next = std::fs::read_to_string(dir.join("package.json")).is_ok_and(|t| t.contains("\"next\""));
    let mut app = AppSource { dockerfile, context: context.to_string(), ..AppSource::default() };
    let mut files = Vec::new();
    source_files(&dir, &dir, 0, &ignore, &mut files);
    for rel in files {
        let file = format!("{context}/{rel}");
        if next {
            if let Some(path) = crate::routes::nextjs_route(&rel) {
                app.routes.push(Route {
                    path,
                    subtree: false,
                    framework: Framework::NextJs,
                    file: file.clone(),
                    line: 1,
                });
                continue;
            }
            if rel.starts_with("next.config.") {
                // Rewrites, redirects and a basePath move routes where the files do not say.
                let text = std::fs::read_to_string(dir.join(&rel)).unwrap_or_default();
                if ["rewrites", "redirects", "basePath"].iter().any(|w| text.contains(w)) && app.dynamic.is_none() {
                    app.dynamic = Some(file.clone());
                }
            }
        }
        let Ok(text) = std::fs::read_to_string(dir.join(&rel)) else { continue };
        app.files_read += 1;
        crate::routes::read_file(&mut app, &file, &text);
    }
    app
}

/// Files under `dir` (relative to `base`, `/`-separated) that may declare routes, at most [`MAX_FILES`].
fn source_files(base: &Path, dir: &Path, depth: usize, ignore: &Ignore, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let mut entries: Vec<_> = entries.filter_map(Result::ok).collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        if out.len() >= MAX_FILES {
            return;
        }
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        let rel = relative(base, &path);
        let Ok(meta) = entry.metadata() else { continue };
        if meta.is_dir() {
            if depth < 8 && !name.starts_with('.') && !SKIPPED_DIRS.contains(&name.as_str()) {
                source_files(base, &path, depth + 1, ignore, out);
            }
        } else if meta.len() <= MAX_FILE_BYTES && !ignore.excludes(&rel) && is_source(&rel) {
            out.push(rel);
        }
    }
}

fn is_source(rel: &str) -> bool {
    let ext = rel.rsplit_once('.').map(|(_, e)| e).unwrap_or_default();
    matches!(ext, "py" | "js" | "mjs" | "cjs" | "ts" | "mts" | "cts" | "jsx" | "tsx" | "rs")
        || rel.starts_with("public/")
        || rel.starts_with("next.config.")
}

fn relative(root: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(root).unwrap_or(path);
    let parts: Vec<String> = rel.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
    if parts.is_empty() { ".".into() } else { parts.join("/") }
}

/// A `.dockerignore`: patterns relative to the context, `*`, `?` and `**`, `!` to let a path back in; the last
/// pattern that matches a path or one of its directories decides.
#[derive(Debug, Default)]
struct Ignore {
    rules: Vec<(bool, Vec<String>)>,
}

impl Ignore {
    fn read(file: &Path) -> Self {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        Self::parse(&text)
    }

    fn parse(text: &str) -> Self {
        let rules = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(|l| {
                let (keep, pattern) = match l.strip_prefix('!') {
                    Some(p) => (true, p.trim()),
                    None => (false, l),
                };
                let pattern = pattern.trim_start_matches("./").trim_matches('/');
                (keep, pattern.split('/').filter(|s| !s.is_empty()).map(str::to_string).collect())
            })
            .collect();
        Ignore { rules }
    }

    fn excludes(&self, rel: &str) -> bool {
        let segments: Vec<&str> = rel.split('/').collect();
        let mut excluded = false;
        for (keep, pattern) in &self.rules {
            let hit = (1..=segments.len()).any(|n| glob_path(pattern, &segments[..n]));
            if hit {
                excluded = !keep;
            }
        }
        excluded
    }
}

fn glob_path(pattern: &[String], path: &[&str]) -> bool {
    match pattern.split_first() {
        None => path.is_empty(),
        Some((p, rest)) if p == "**" => (0..=path.len()).any(|skip| glob_path(rest, &path[skip..])),
        Some((p, rest)) => path.split_first().is_some_and(|(s, tail)| glob(p, s) && glob_path(rest, tail)),
    }
}

/// `*` and `?` within one path segment.
fn glob(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, files: &[(&str, &str)]) {
        for (path, text) in files {
            let file = root.join(path);
            std::fs::create_dir_all(file.parent().expect("parent")).expect("mkdir");
            std::fs::write(file, text).expect("write");
        }
    }

    #[test]
    fn dockerignore_patterns() {
        let ignore = Ignore::parse("# only the binary\n*\n!dist/app\n");
        assert!(ignore.excludes("src/main.rs") && ignore.excludes("main.py") && !ignore.excludes("dist/app"));
        let ignore = Ignore::parse("node_modules\n**/*.test.js\n/tests/\n*.md\n!README.md\n");
        assert!(ignore.excludes("node_modules/x/index.js") && ignore.excludes("src/a.test.js"));
        assert!(ignore.excludes("tests/test_main.py") && ignore.excludes("CHANGES.md"));
        assert!(!ignore.excludes("README.md") && !ignore.excludes("src/a.js") && !ignore.excludes("app/tests.py"));
        assert!(glob("*.py", "main.py") && glob("m?in*", "main.py") && !glob("*.py", "main.pyc"));
    }

    #[test]
    fn each_dockerfile_directory_is_an_app_with_its_routes() {
        let dir = tempfile::tempdir().expect("tempdir");
        write(
            dir.path(),
            &[
                ("Dockerfile", "FROM scratch\n"),
                ("backend/Dockerfile", "FROM python:3.12-slim\n"),
                ("backend/Dockerfile.dev", "FROM python:3.12-slim\n"),
                (
                    "backend/app/main.py",
                    "from fastapi import FastAPI\napp = FastAPI()\n@app.get('/health')\ndef h(): ...\n",
                ),
                (
                    "backend/tests/test_main.py",
                    "from fastapi import FastAPI\n@app.get('/only-in-tests')\ndef t(): ...\n",
                ),
                ("backend/.dockerignore", "tests\n"),
                ("frontend/Dockerfile", "FROM node:20-alpine\n"),
                ("frontend/package.json", r#"{"dependencies": {"next": "14.2.0"}}"#),
                ("frontend/app/page.tsx", "export default function Page() {}\n"),
                ("frontend/app/api/health/route.ts", "export function GET() {}\n"),
                ("frontend/node_modules/x/server.js", "const express = require('express'); app.get('/x', h)\n"),
                ("a/b/c/d/Dockerfile", "FROM scratch\n"),
                ("bin/Dockerfile", "FROM scratch\n"),
                ("bin/dist/todo", "binary"),
            ],
        );
        let apps = find(dir.path());
        let summary: Vec<(String, String, Vec<String>)> = apps
            .iter()
            .map(|a| (a.context.clone(), a.dockerfile.clone(), a.routes.iter().map(|r| r.path.clone()).collect()))
            .collect();
        assert_eq!(
            summary,
            [
                ("backend".to_string(), "backend/Dockerfile".to_string(), vec!["/health".to_string()]),
                ("bin".into(), "bin/Dockerfile".into(), vec![]),
                ("frontend".into(), "frontend/Dockerfile".into(), vec!["/api/health".into(), "/".into()]),
            ]
        );
        assert_eq!(apps[0].routes[0].file, "backend/app/main.py");
        assert!(apps[2].routes.iter().all(|r| r.framework == Framework::NextJs));
        assert!(!apps[1].judges(), "no source: nothing to judge");
    }

    #[test]
    fn the_fixture_repositories() {
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let repos = workspace.join("fixtures/repos");
        let apps = find(&repos.join("chart-only"));
        let backend = apps.iter().find(|a| a.context == "backend").expect("backend/Dockerfile");
        assert!(backend.judges() && backend.serves("/health") && !backend.serves("/health/ready"));
        let frontend = apps.iter().find(|a| a.context == "frontend").expect("frontend/Dockerfile");
        assert!(frontend.judges() && frontend.serves("/api/health") && frontend.serves("/"));
        let raw = find(&repos.join("raw-only"));
        assert!(raw.iter().all(|a| a.serves("/api/health") || a.serves("/healthz")));
        // The chatbot's own images: .dockerignore lets only the binary in, and the probe paths are configured.
        let own = find(&workspace.join("fixtures"));
        let backend = own.iter().find(|a| a.context == "backend").expect("fixtures/backend");
        assert_eq!(backend.files_read, 0, "{backend:?}");
    }
}
