//! The HTTP routes an application's own source declares, read from the build context of one of the repository's
//! Dockerfiles, and whether a path (a probe's) is among them. The reading is the `kubegate` crate's
//! (`app_source`); this is what it found and how a rule asks it, with no I/O.
//!
//! Which Dockerfile builds a container ([`app_for`]): the one whose directory's name is the image's repository
//! name, one of the dash-separated words that end it, the container's name or the pod's
//! `app.kubernetes.io/component` label (`backend/Dockerfile` builds `todo-chatbot-backend:1.0`); the shallowest
//! such Dockerfile wins, and two at the same depth leave the container unjudged.

/// A web framework whose route declarations are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Framework {
    /// `@app.get("/health")`, `@router.get(...)`, `APIRouter(prefix=...)`, `include_router(..., prefix=...)`.
    FastApi,
    /// `@app.route("/health")`, `Blueprint(url_prefix=...)`, `register_blueprint(..., url_prefix=...)`.
    Flask,
    /// `app.get('/health', ...)`, `router.get(...)`, `app.use('/api', ...)` (Express, and alike: Fastify, Hono).
    Express,
    /// `app/**/page.tsx`, `app/**/route.ts`, `pages/**.js`, `public/**` of a package that depends on `next`.
    NextJs,
    /// `.route("/health", ...)`, `.nest("/api", ...)`.
    Axum,
}

impl std::fmt::Display for Framework {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Framework::FastApi => "FastAPI",
            Framework::Flask => "Flask",
            Framework::Express => "Express",
            Framework::NextJs => "Next.js",
            Framework::Axum => "axum",
        })
    }
}

/// One declared route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The path as declared, its router's own prefix included (`/api/health`, `/tasks/{id}`, `/[...slug]`).
    pub path: String,
    /// Every path below `path` is served too (`app.use('/api', ...)`, `.nest(...)`, a static mount).
    pub subtree: bool,
    /// The framework that declares it.
    pub framework: Framework,
    /// The source file, relative to the repository root.
    pub file: String,
    /// 1-based line of the declaration.
    pub line: usize,
}

/// The application one Dockerfile builds, as its build context's source declares it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppSource {
    /// The Dockerfile, relative to the repository root (`backend/Dockerfile`).
    pub dockerfile: String,
    /// Its directory, the build context (`backend`).
    pub context: String,
    /// Source files read (those `.dockerignore` leaves in the context).
    pub files_read: usize,
    /// Declared routes, in file order.
    pub routes: Vec<Route>,
    /// Prefixes a router is mounted under (`include_router(r, prefix="/api")`, `app.use('/api', r)`,
    /// `.nest("/api", r)`): a route may be served under any of them.
    pub mounts: Vec<String>,
    /// A route declared with a path that is not a literal (`.route(&config.health_path, ...)`), as `file:line`:
    /// any path may be served, so none is judged missing.
    pub dynamic: Option<String>,
}

impl AppSource {
    /// The directory's last component (`backend` of `services/backend`); empty for the repository root.
    pub fn name(&self) -> &str {
        if self.context == "." { "" } else { self.context.rsplit('/').next().unwrap_or_default() }
    }

    /// Whether the source says enough to judge a path: some literal route, and none that is not literal.
    pub fn judges(&self) -> bool {
        !self.routes.is_empty() && self.dynamic.is_none()
    }

    /// The frameworks whose routes were read, in order, without repeats.
    pub fn frameworks(&self) -> Vec<Framework> {
        let mut out: Vec<Framework> = self.routes.iter().map(|r| r.framework).collect();
        out.sort();
        out.dedup();
        out
    }

    /// Whether a request for `path` (a probe's `httpGet.path`) reaches a declared route: a route matches it
    /// segment by segment (`{id}`, `:id`, `<id>`, `[id]` match one segment; `*`, `{*rest}`, `{rest:path}`,
    /// `[...slug]` the rest), a subtree route matches every path below it, and a route may be reached under any
    /// mount prefix (nested mounts up to three deep).
    pub fn serves(&self, path: &str) -> bool {
        let path = normalize(path);
        self.serves_below(&path, 3)
    }

    fn serves_below(&self, path: &str, depth: usize) -> bool {
        if self.routes.iter().any(|r| route_matches(r, path)) {
            return true;
        }
        depth > 0
            && self.mounts.iter().any(|m| {
                let m = normalize(m);
                m != "/"
                    && match path.strip_prefix(m.as_str()) {
                        Some("") => self.serves_below("/", depth - 1),
                        Some(rest) if rest.starts_with('/') => self.serves_below(rest, depth - 1),
                        _ => false,
                    }
            })
    }
}

/// `/health` from `health`, `/health/`, `/health?x=1`; `/` from the empty path.
fn normalize(path: &str) -> String {
    let path = path.split(['?', '#']).next().unwrap_or_default();
    let trimmed = path.trim_matches('/');
    format!("/{trimmed}")
}

fn route_matches(route: &Route, path: &str) -> bool {
    let pattern = normalize(&route.path);
    let pattern: Vec<&str> = pattern.split('/').filter(|s| !s.is_empty()).collect();
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    for (i, p) in pattern.iter().enumerate() {
        match segment_kind(p) {
            Segment::Rest { optional } => return optional || segments.len() > i,
            Segment::One => {
                if segments.len() <= i {
                    return false;
                }
            }
            Segment::Literal => {
                if segments.get(i) != Some(p) {
                    return false;
                }
            }
        }
    }
    segments.len() == pattern.len() || (route.subtree && segments.len() > pattern.len())
}

enum Segment {
    Literal,
    One,
    /// The rest of the path (at least one segment unless optional).
    Rest {
        optional: bool,
    },
}

fn segment_kind(s: &str) -> Segment {
    let rest = s == "*"
        || s == "(.*)"
        || s.starts_with("{*")
        || (s.starts_with('*') && s.len() > 1)
        || (s.starts_with('{') && s.ends_with(":path}"))
        || (s.starts_with("<path:") && s.ends_with('>'))
        || s.starts_with("[...");
    if s.starts_with("[[...") {
        return Segment::Rest { optional: true };
    }
    if rest {
        return Segment::Rest { optional: s == "*" || s == "(.*)" };
    }
    let one = (s.starts_with('{') && s.ends_with('}'))
        || s.starts_with(':')
        || (s.starts_with('<') && s.ends_with('>'))
        || (s.starts_with('[') && s.ends_with(']'));
    if one { Segment::One } else { Segment::Literal }
}

/// The app a container runs, when exactly one Dockerfile plausibly builds it (see the module doc): `image` is the
/// container's image, `names` its container name and component label.
pub fn app_for<'a>(apps: &'a [AppSource], image: &str, names: &[&str]) -> Option<&'a AppSource> {
    let repository = image_repository(image);
    let words: Vec<&str> = repository.split(['-', '_']).collect();
    let builds = |a: &AppSource| {
        let dir = a.name();
        if dir.is_empty() {
            return false;
        }
        let n = dir.split(['-', '_']).count();
        dir == repository
            || names.contains(&dir)
            || (words.len() >= n && words[words.len() - n..].join("-") == dir.replace('_', "-"))
    };
    let depth = |a: &AppSource| a.context.split('/').count();
    let candidates: Vec<&AppSource> = apps.iter().filter(|a| builds(a)).collect();
    let shallowest = candidates.iter().map(|a| depth(a)).min()?;
    let mut at_depth = candidates.into_iter().filter(|a| depth(a) == shallowest);
    let one = at_depth.next()?;
    at_depth.next().is_none().then_some(one)
}

/// `todo-backend` of `ghcr.io/team/todo-backend:1.0@sha256:...`.
fn image_repository(image: &str) -> &str {
    let no_digest = image.split('@').next().unwrap_or_default();
    let last = no_digest.rsplit('/').next().unwrap_or_default();
    last.split(':').next().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(path: &str, subtree: bool) -> Route {
        Route { path: path.into(), subtree, framework: Framework::FastApi, file: "main.py".into(), line: 1 }
    }

    fn app(context: &str, routes: &[(&str, bool)], mounts: &[&str]) -> AppSource {
        AppSource {
            dockerfile: format!("{context}/Dockerfile"),
            context: context.into(),
            files_read: 1,
            routes: routes.iter().map(|(p, s)| route(p, *s)).collect(),
            mounts: mounts.iter().map(|m| m.to_string()).collect(),
            dynamic: None,
        }
    }

    #[test]
    fn literal_parameter_and_catch_all_routes() {
        let a = app(
            "backend",
            &[("/health", false), ("/tasks/{id}", false), ("/users/:id/tasks", false), ("/static/{rest:path}", false)],
            &[],
        );
        for served in ["/health", "/health/", "health", "/health?full=1", "/tasks/7", "/users/3/tasks", "/static/a/b"] {
            assert!(a.serves(served), "{served}");
        }
        for missing in ["/healthz", "/health/ready", "/tasks", "/tasks/7/x", "/users/3", "/static", "/"] {
            assert!(!a.serves(missing), "{missing}");
        }
        let next = app("web", &[("/", false), ("/api/health", false), ("/docs/[...slug]", false)], &[]);
        assert!(next.serves("/") && next.serves("/api/health") && next.serves("/docs/a/b"));
        assert!(!next.serves("/docs") && !next.serves("/health"));
        let optional = app("web", &[("/shop/[[...slug]]", false)], &[]);
        assert!(optional.serves("/shop") && optional.serves("/shop/a/b"));
        let express = app("web", &[("*", false)], &[]);
        assert!(express.serves("/") && express.serves("/anything/at/all"));
    }

    #[test]
    fn subtrees_and_mount_prefixes() {
        let a = app("web", &[("/healthz", false), ("/api", true)], &[]);
        assert!(a.serves("/api") && a.serves("/api/health") && a.serves("/healthz"));
        assert!(!a.serves("/apiv2") && !a.serves("/ready"));
        let mounted = app("backend", &[("/health", false), ("/live", false)], &["/api", "/v1"]);
        assert!(mounted.serves("/api/health") && mounted.serves("/v1/live") && mounted.serves("/api/v1/live"));
        assert!(!mounted.serves("/apihealth") && !mounted.serves("/api/ready"));
    }

    #[test]
    fn judging_needs_literal_routes_only() {
        let mut a = app("backend", &[("/health", false)], &[]);
        assert!(a.judges());
        a.dynamic = Some("backend/main.py:4".into());
        assert!(!a.judges());
        assert!(!app("backend", &[], &[]).judges());
    }

    #[test]
    fn the_dockerfile_whose_directory_names_the_image_or_container() {
        let apps = [app("backend", &[], &[]), app("frontend", &[], &[]), app("mcp-server", &[], &[])];
        let dir = |image: &str, names: &[&str]| app_for(&apps, image, names).map(|a| a.context.clone());
        assert_eq!(dir("todo-chatbot-backend:0.1.0", &["api"]), Some("backend".into()));
        assert_eq!(dir("ghcr.io/team/todo-frontend:latest@sha256:00", &[]), Some("frontend".into()));
        assert_eq!(dir("registry:5000/todo-mcp-server", &[]), Some("mcp-server".into()));
        assert_eq!(dir("busybox", &["frontend"]), Some("frontend".into()));
        assert_eq!(dir("postgres:16", &["db", "database"]), None);
        assert_eq!(dir("todo-backendx", &[]), None, "a word, not a substring");
        // The shallowest wins; two at one depth judge nothing.
        let nested = [app("backend", &[], &[]), app("fixtures/repos/x/backend", &[], &[])];
        assert_eq!(app_for(&nested, "backend", &[]).map(|a| a.context.as_str()), Some("backend"));
        let twins = [app("a/backend", &[], &[]), app("b/backend", &[], &[])];
        assert_eq!(app_for(&twins, "backend", &[]), None);
        let root = [app(".", &[], &[])];
        assert_eq!(app_for(&root, "backend", &[]), None, "the repository root names no component");
    }
}
