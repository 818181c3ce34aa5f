//! Route declarations of common web frameworks, read from one source file's text: FastAPI and Flask decorators,
//! Express-style `app.get('/x', ...)`, axum's `.route("/x", ...)`, and Next.js routes from a file's path. Plain
//! text scanning, no parser: a declaration it cannot read as a literal path marks the app as having routes it
//! cannot know ([`AppSource::dynamic`]), so a probe is never judged on a guess.

use std::collections::BTreeMap;

use kubegate_core::app_routes::{AppSource, Framework, Route};

/// Read the routes `text` (the file `file`, relative to the repository root) declares into `app`.
pub fn read_file(app: &mut AppSource, file: &str, text: &str) {
    let ext = file.rsplit_once('.').map(|(_, e)| e).unwrap_or_default();
    let first = app.routes.len();
    match ext {
        "py" => python(app, file, text),
        "js" | "mjs" | "cjs" | "ts" | "mts" | "cts" | "jsx" | "tsx" => express(app, file, text),
        "rs" => axum(app, file, text),
        _ => {}
    }
    // In the file's order, whatever kind of declaration each is.
    app.routes[first..].sort_by_key(|r| r.line);
}

/// The route a Next.js file serves, from its path relative to the build context: `app/**/page.tsx` and
/// `app/**/route.ts` (route groups `(x)` and slots `@x` dropped, `_private` folders skipped), `pages/**` (`index`
/// is its directory; `_app`, `_document`, `api/_x` are not routes), and `public/**` as static files. `src/app` and
/// `src/pages` alike.
pub fn nextjs_route(rel: &str) -> Option<String> {
    let rel = rel.strip_prefix("src/").filter(|r| r.starts_with("app/") || r.starts_with("pages/")).unwrap_or(rel);
    let parts: Vec<&str> = rel.split('/').collect();
    let (&first, rest) = parts.split_first()?;
    let (&file, dirs) = rest.split_last()?;
    let (stem, ext) = file.rsplit_once('.')?;
    let code = matches!(ext, "js" | "jsx" | "ts" | "tsx" | "mjs");
    let join = |segments: Vec<&str>| format!("/{}", segments.join("/"));
    match first {
        "app" if code && matches!(stem, "page" | "route") => {
            if dirs.iter().any(|d| d.starts_with('_')) {
                return None;
            }
            let kept =
                dirs.iter().copied().filter(|d| !(d.starts_with('@') || (d.starts_with('(') && d.ends_with(')'))));
            Some(join(kept.collect()))
        }
        "pages" if code => {
            if stem.starts_with('_') || dirs.iter().any(|d| d.starts_with('_')) {
                return None;
            }
            let mut segments: Vec<&str> = dirs.to_vec();
            if stem != "index" {
                segments.push(stem);
            }
            Some(join(segments))
        }
        "public" => Some(join(rest.to_vec())),
        _ => None,
    }
}

/// Python: FastAPI and Flask. Only files that import one of them are read.
fn python(app: &mut AppSource, file: &str, text: &str) {
    let framework = if text.contains("fastapi") {
        Framework::FastApi
    } else if text.contains("flask") {
        Framework::Flask
    } else {
        return;
    };
    // `api = APIRouter(prefix="/api")`, `bp = Blueprint("x", __name__, url_prefix="/x")`.
    let mut prefixes: BTreeMap<&str, String> = BTreeMap::new();
    for constructor in ["APIRouter(", "Blueprint("] {
        for (at, _) in text.match_indices(constructor) {
            let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
            let Some((var, _)) = text[line_start..at].split_once('=') else { continue };
            let var = var.split(':').next().unwrap_or_default().trim();
            let args = call_args(&text[at + constructor.len()..]);
            if let Some(p) = keyword(args, "prefix").or_else(|| keyword(args, "url_prefix")) {
                prefixes.insert(var, p);
            }
        }
    }
    let methods = ["get", "post", "put", "delete", "patch", "head", "options", "api_route", "route", "websocket"];
    for call in calls(text, &methods) {
        let line_start = text[..call.at].rfind('\n').map_or(0, |i| i + 1);
        if !text[line_start..call.at].trim_start().starts_with('@') {
            continue;
        }
        let prefix = prefixes.get(call.receiver).map(String::as_str).unwrap_or_default();
        match call.arg {
            Arg::Literal(path) => {
                app.routes.push(route(&format!("{prefix}{path}"), false, framework, file, text, call.at));
            }
            Arg::Other => note_dynamic(app, file, text, call.at),
        }
    }
    for call in calls(text, &["add_api_route", "add_url_rule", "mount"]) {
        let prefix = prefixes.get(call.receiver).map(String::as_str).unwrap_or_default();
        if let Arg::Literal(path) = call.arg {
            let subtree = call.method == "mount";
            app.routes.push(route(&format!("{prefix}{path}"), subtree, framework, file, text, call.at));
        }
    }
    for call in calls(text, &["include_router", "register_blueprint"]) {
        let args = call_args(&text[call.at + call.method.len() + 2..]);
        if let Some(p) = keyword(args, "prefix").or_else(|| keyword(args, "url_prefix")) {
            app.mounts.push(p);
        }
    }
}

/// JavaScript / TypeScript servers: Express and its look-alikes (Fastify, Koa's router, Hono). Only files that
/// name one of them are read, so a page's `axios.get('/api/x')` is not taken for a route.
fn express(app: &mut AppSource, file: &str, text: &str) {
    if !["express", "fastify", "koa", "hono", "Router("].iter().any(|w| text.contains(w)) {
        return;
    }
    let methods = ["get", "post", "put", "delete", "patch", "all", "head", "options", "route"];
    for call in calls(text, &methods) {
        match call.arg {
            Arg::Literal(path) if path.starts_with('/') || path.starts_with('*') => {
                app.routes.push(route(&path, false, Framework::Express, file, text, call.at));
            }
            // `app.get(HEALTH_PATH, handler)`: a route whose path is not written here. `map.get(key)` has no
            // second argument, and other receivers are not servers.
            Arg::Other if is_server(call.receiver) && first_arg_then_comma(&text[call.at..]) => {
                note_dynamic(app, file, text, call.at);
            }
            _ => {}
        }
    }
    for call in calls(text, &["use"]) {
        if let Arg::Literal(path) = call.arg
            && path.starts_with('/')
        {
            // `app.use('/api', router)` mounts a router, `app.use('/api', proxy)` serves the whole subtree:
            // either way a path below it may be served.
            app.mounts.push(path.clone());
            app.routes.push(route(&path, true, Framework::Express, file, text, call.at));
        }
    }
}

/// Rust: axum's router. Only files that name axum's `Router` are read.
fn axum(app: &mut AppSource, file: &str, text: &str) {
    if !text.contains("Router") {
        return;
    }
    for call in calls(text, &["route", "route_service"]) {
        match call.arg {
            Arg::Literal(path) => app.routes.push(route(&path, false, Framework::Axum, file, text, call.at)),
            Arg::Other => note_dynamic(app, file, text, call.at),
        }
    }
    for call in calls(text, &["nest", "nest_service"]) {
        match call.arg {
            Arg::Literal(path) => {
                app.mounts.push(path.clone());
                app.routes.push(route(&path, true, Framework::Axum, file, text, call.at));
            }
            Arg::Other => note_dynamic(app, file, text, call.at),
        }
    }
}

fn is_server(receiver: &str) -> bool {
    let r = receiver.to_ascii_lowercase();
    ["app", "server", "router", "fastify", "api", "routes"].iter().any(|w| r == *w || r.ends_with(w))
}

fn route(path: &str, subtree: bool, framework: Framework, file: &str, text: &str, at: usize) -> Route {
    Route { path: path.to_string(), subtree, framework, file: file.to_string(), line: line_of(text, at) }
}

fn note_dynamic(app: &mut AppSource, file: &str, text: &str, at: usize) {
    if app.dynamic.is_none() {
        app.dynamic = Some(format!("{file}:{}", line_of(text, at)));
    }
}

fn line_of(text: &str, at: usize) -> usize {
    text[..at].matches('\n').count() + 1
}

/// A call's first argument.
#[derive(Debug, PartialEq)]
enum Arg {
    /// A string literal without interpolation.
    Literal(String),
    /// Anything else (a variable, an f-string, a template literal with `${}`).
    Other,
}

/// `receiver.method(arg`: `at` is the offset of the `.`.
struct Call<'a> {
    receiver: &'a str,
    method: &'static str,
    at: usize,
    arg: Arg,
}

/// Every `<identifier>.<method>(` of `text` with one of `methods`.
fn calls<'a>(text: &'a str, methods: &[&'static str]) -> Vec<Call<'a>> {
    let mut out = Vec::new();
    for &method in methods {
        let needle = format!(".{method}(");
        for (at, _) in text.match_indices(&needle) {
            // `app\n  .get(` is `app.get(`.
            let before = text[..at].trim_end();
            let start = before.rfind(|c: char| !(c.is_alphanumeric() || c == '_' || c == '$')).map_or(0, |i| i + 1);
            let receiver = &before[start..];
            // No receiver is a chain (axum's `Router::new().route(...)`), or not a call at all.
            if receiver.is_empty() && !before.ends_with(')') {
                continue;
            }
            let arg = first_arg(&text[at + needle.len()..]);
            out.push(Call { receiver, method, at, arg });
        }
    }
    out.sort_by_key(|c| c.at);
    out
}

/// The first argument of a call, `rest` starting right after its `(`.
fn first_arg(rest: &str) -> Arg {
    let rest = rest.trim_start();
    let (raw_prefix, rest) = match rest.char_indices().find(|(_, c)| !matches!(c, 'r' | 'b' | 'u' | 'R' | 'B' | 'U')) {
        Some((i, _)) => rest.split_at(i),
        None => return Arg::Other,
    };
    if raw_prefix.len() > 2 {
        return Arg::Other;
    }
    let Some(quote) = rest.chars().next().filter(|c| matches!(c, '"' | '\'' | '`')) else { return Arg::Other };
    let body = &rest[1..];
    let mut value = String::new();
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => value.extend(chars.next()),
            c if c == quote => {
                if quote == '`' && value.contains("${") {
                    return Arg::Other;
                }
                return Arg::Literal(value);
            }
            '\n' if quote != '`' => return Arg::Other,
            c => value.push(c),
        }
    }
    Arg::Other
}

/// Whether the first argument of the call at `from` (its `.`) is followed by a comma: a second argument.
fn first_arg_then_comma(from: &str) -> bool {
    let Some(open) = from.find('(') else { return false };
    let args = call_args(&from[open + 1..]);
    let mut depth = 0;
    for c in args.chars() {
        match c {
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => depth -= 1,
            ',' if depth == 0 => return true,
            _ => {}
        }
    }
    false
}

/// The text of a call's arguments, `rest` starting right after its `(`, up to the matching `)` (quotes not
/// considered: a `)` inside a string ends it early, which only shortens what keyword arguments are searched).
fn call_args(rest: &str) -> &str {
    let mut depth = 0usize;
    for (i, c) in rest.char_indices() {
        match c {
            '(' => depth += 1,
            ')' if depth == 0 => return &rest[..i],
            ')' => depth -= 1,
            _ => {}
        }
    }
    rest
}

/// The string literal of keyword argument `name=` in `args`.
fn keyword(args: &str, name: &str) -> Option<String> {
    let needle = format!("{name}=");
    for (at, _) in args.match_indices(&needle) {
        let boundary = args[..at].chars().next_back().is_none_or(|c| !(c.is_alphanumeric() || c == '_'));
        if boundary && let Arg::Literal(v) = first_arg(&args[at + needle.len()..]) {
            return Some(v);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(file: &str, text: &str) -> AppSource {
        let mut app = AppSource::default();
        read_file(&mut app, file, text);
        app
    }

    fn paths(app: &AppSource) -> Vec<String> {
        app.routes.iter().map(|r| format!("{}{}", r.path, if r.subtree { "/**" } else { "" })).collect()
    }

    #[test]
    fn fastapi_routes_with_router_prefixes_and_mounts() {
        let app = read(
            "backend/app/main.py",
            r#"import os
from fastapi import APIRouter, FastAPI

app = FastAPI()
api: APIRouter = APIRouter(
    prefix="/api",
    tags=["todos"],
)
TOKEN = os.environ.get("TOKEN_MINUTES", "30")

@app.get("/health")
def health():
    return {}

@api.get('/todos/{todo_id}')
def todo(todo_id: int):
    return {}

@app.api_route("/ready", methods=["GET", "HEAD"])
def ready():
    return {}

app.include_router(api)
app.include_router(users.router, prefix="/v1")
app.mount("/static", StaticFiles(directory="static"))
"#,
        );
        assert_eq!(paths(&app), ["/health", "/api/todos/{todo_id}", "/ready", "/static/**"]);
        assert_eq!(app.mounts, ["/v1"]);
        assert_eq!((app.routes[0].line, app.routes[0].framework), (11, Framework::FastApi));
        assert!(app.judges());
        assert!(app.serves("/api/todos/3") && app.serves("/v1/health") && !app.serves("/health/ready"));
    }

    #[test]
    fn flask_routes_and_blueprints() {
        let app = read(
            "api/app.py",
            "from flask import Flask, Blueprint\napp = Flask(__name__)\nbp = Blueprint('h', __name__, url_prefix='/health')\n\n@bp.route('/live')\ndef live(): ...\n@app.get('/')\ndef index(): ...\napp.register_blueprint(bp)\n",
        );
        assert_eq!(paths(&app), ["/health/live", "/"]);
        assert_eq!(app.routes[0].framework, Framework::Flask);
    }

    #[test]
    fn python_without_a_framework_or_with_computed_paths() {
        assert!(read("worker.py", "@app.get('/x')\ndef f(): ...\n").routes.is_empty(), "no framework imported");
        let app = read("main.py", "from fastapi import FastAPI\n@app.get(settings.health_path)\ndef h(): ...\n");
        assert_eq!(app.dynamic.as_deref(), Some("main.py:2"));
        assert!(!app.judges());
        let client = read("t.py", "from fastapi.testclient import TestClient\nclient.get('/health')\n");
        assert!(client.routes.is_empty(), "a call that is not a decorator declares nothing");
    }

    #[test]
    fn express_routes_mounts_and_catch_alls() {
        let app = read(
            "frontend/server.js",
            r#"const express = require("express");
const app = express();
const cache = new Map();
app.get("/healthz", (req, res) => res.json({ ok: true }));
app.use("/api", async (req, res) => { res.send(cache.get(req.url)); });
app.use(express.static("dist"));
router.get(`/items/:id`, handler);
app.get("*", (req, res) => res.sendFile("index.html"));
const r = await axios.get("http://backend:8000/api/todos");
"#,
        );
        assert_eq!(paths(&app), ["/healthz", "/api/**", "/items/:id", "*"]);
        assert_eq!(app.mounts, ["/api"]);
        assert!(app.dynamic.is_none(), "cache.get(x) is no route");
        let computed =
            read("server.ts", "import express from 'express'\napp.get(HEALTH_PATH, (req, res) => res.end())\n");
        assert_eq!(computed.dynamic.as_deref(), Some("server.ts:2"));
        let templated = read("server.ts", "import express from 'express'\napp.get(`${base}/health`, h)\n");
        assert!(templated.dynamic.is_some() && templated.routes.is_empty());
        assert!(read("page.tsx", "const r = await axios.get('/api/todos')\n").routes.is_empty(), "client code");
    }

    #[test]
    fn axum_routes_nests_and_computed_paths() {
        let app = read(
            "src/server.rs",
            "use axum::Router;\nRouter::new()\n    .route(\"/health\", get(health))\n    .route(\"/tasks/{id}\", get(one))\n    .nest(\"/api\", api());\n",
        );
        assert_eq!(paths(&app), ["/health", "/tasks/{id}", "/api/**"]);
        assert_eq!(app.routes[1].line, 4);
        let computed = read("src/http.rs", "use axum::Router;\nRouter::new().route(&config.liveness_path, get(h))\n");
        assert_eq!(computed.dynamic.as_deref(), Some("src/http.rs:2"));
    }

    #[test]
    fn nextjs_routes_from_paths() {
        let cases = [
            ("app/page.tsx", Some("/")),
            ("app/api/health/route.ts", Some("/api/health")),
            ("src/app/(marketing)/about/page.jsx", Some("/about")),
            ("app/@modal/login/page.tsx", Some("/login")),
            ("app/_lib/page.tsx", None),
            ("app/layout.tsx", None),
            ("app/blog/[slug]/page.tsx", Some("/blog/[slug]")),
            ("pages/index.js", Some("/")),
            ("pages/api/health.js", Some("/api/health")),
            ("src/pages/todos/[id].tsx", Some("/todos/[id]")),
            ("pages/_app.tsx", None),
            ("public/robots.txt", Some("/robots.txt")),
            ("lib/page.tsx", None),
            ("app/page.css", None),
        ];
        for (file, want) in cases {
            assert_eq!(nextjs_route(file).as_deref(), want, "{file}");
        }
    }
}
