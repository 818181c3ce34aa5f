//! The chatbot's images under testcontainers: built once per run with
//! `kubegate::images`, started with the settings a pod would get, reached
//! over mapped ports from the test.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use testcontainers::core::{Host, IntoContainerPort};
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, GenericImage, ImageExt};

use super::contract::Answer;
use super::docker_api;
use super::postgres::HOST_FROM_CONTAINER;

/// The fix a person needs when Docker is not there.
pub use kubegate::images::START_DOCKER_HINT as START_DOCKER;

/// The repo root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").canonicalize().expect("repo root exists")
}

/// kubegate.toml of this repo (or its defaults).
pub fn config() -> kubegate::config::Config {
    let root = repo_root();
    let file = root.join("kubegate.toml");
    let mut config =
        kubegate::config::Config::load(file.is_file().then_some(file.as_path())).expect("kubegate.toml loads");
    config.base_dir = root;
    config
}

/// Build (or reuse) both images and point testcontainers at the engine.
/// Fails, never skips, when Docker is missing or down.
pub fn images() -> &'static Vec<kubegate::images::BuiltImage> {
    static BUILT: OnceLock<Vec<kubegate::images::BuiltImage>> = OnceLock::new();
    BUILT.get_or_init(|| {
        if let Err(e) = kubegate::images::check_docker(&kubegate::process::SystemRunner) {
            // The error already ends with "start Docker: ci/setup.sh docker".
            panic!("the container suite needs a Docker engine: {e}");
        }
        let host = docker_api::docker_host().unwrap_or_else(|e| panic!("Docker API: {e}\n{START_DOCKER}"));
        // SAFETY: set before testcontainers reads its configuration, from the
        // first test code that runs; no other thread reads DOCKER_HOST.
        unsafe { std::env::set_var("DOCKER_HOST", &host) };
        let config = config();
        let recipes = kubegate::images::recipes(&config).expect("recipes for both components");
        kubegate::images::ensure_built(&kubegate::process::SystemRunner, &recipes)
            .unwrap_or_else(|e| panic!("building the images failed: {e}"))
    })
}

/// `name:tag` of a component's image from the config.
pub fn image_ref(component: &str) -> String {
    config().component(component).unwrap_or_else(|| panic!("component {component} in kubegate.toml")).image.clone()
}

fn generic(component: &str, port: u16) -> GenericImage {
    images();
    let reference = image_ref(component);
    let (name, tag) = reference.rsplit_once(':').expect("image reference has a tag");
    GenericImage::new(name, tag).with_exposed_port(port.tcp())
}

/// A started container and the URL its port is mapped to on this host.
pub struct Running {
    /// The container (removed on drop).
    pub container: ContainerAsync<GenericImage>,
    /// `http://127.0.0.1:<mapped port>`.
    pub url: String,
    /// Address on the Docker bridge (what another container uses).
    pub bridge_ip: std::net::IpAddr,
    /// Seconds from `docker start` until `/health` answered 200.
    pub ready_after: Duration,
}

impl Running {
    /// The container's id.
    pub fn id(&self) -> &str {
        self.container.id()
    }

    /// Its stdout and stderr so far, as text.
    pub async fn logs(&self) -> String {
        let out = self.container.stdout_to_vec().await.unwrap_or_default();
        let err = self.container.stderr_to_vec().await.unwrap_or_default();
        format!("{}{}", String::from_utf8_lossy(&out), String::from_utf8_lossy(&err))
    }
}

/// What a backend container gets in its environment.
#[derive(Clone, Debug)]
pub struct BackendEnv {
    /// DATABASE_URL (host part as a container sees it).
    pub database_url: String,
    /// JWT_SECRET.
    pub jwt_secret: String,
    /// OPENAI_API_KEY (`None`: fallback mode).
    pub openai_api_key: Option<String>,
    /// OPENAI_BASE_URL.
    pub openai_base_url: Option<String>,
    /// FAULT_INJECTION=enabled.
    pub fault_injection: bool,
}

impl BackendEnv {
    /// Host database, a fresh random JWT secret, fallback mode, no faults.
    pub fn with_host_database() -> Self {
        let database_url = super::postgres::host_database_url_for_containers().unwrap_or_else(|e| panic!("{e}"));
        BackendEnv {
            database_url,
            jwt_secret: format!("kg-test-jwt-{:016x}", rand::random::<u64>()),
            openai_api_key: None,
            openai_base_url: None,
            fault_injection: false,
        }
    }
}

/// Start the backend image as a pod would run it (read-only root, all
/// capabilities dropped, no new privileges) and wait for `/health`.
pub async fn start_backend(env: &BackendEnv) -> Running {
    let mut request = generic("backend", 8000)
        .with_env_var("DATABASE_URL", &env.database_url)
        .with_env_var("JWT_SECRET", &env.jwt_secret)
        .with_env_var("ENVIRONMENT", "test")
        .with_env_var("LOG_LEVEL", "info")
        .with_host(HOST_FROM_CONTAINER, Host::HostGateway)
        .with_readonly_rootfs(true)
        .with_cap_drop("ALL")
        .with_security_opt("no-new-privileges")
        .with_startup_timeout(Duration::from_secs(60));
    if let Some(key) = &env.openai_api_key {
        request = request.with_env_var("OPENAI_API_KEY", key);
    }
    if let Some(url) = &env.openai_base_url {
        request = request.with_env_var("OPENAI_BASE_URL", url);
    }
    if env.fault_injection {
        request = request.with_env_var("FAULT_INJECTION", "enabled");
    }
    start(request, 8000).await
}

/// [`start_backend`], then wait until `/ready` answers 200 (migrations done).
pub async fn start_backend_ready(env: &BackendEnv) -> Running {
    let backend = start_backend(env).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match get(&format!("{}/ready", backend.url), None).await {
            Ok(a) if a.status == 200 => return backend,
            last if Instant::now() > deadline => {
                panic!("backend /ready not 200 within 30s (last: {last:?}); log:\n{}", backend.logs().await)
            }
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// Start the frontend image with BACKEND_URL pointing at `backend_url`.
pub async fn start_frontend(backend_url: &str) -> Running {
    start_frontend_with(backend_url, &[]).await
}

/// [`start_frontend`] with extra environment variables.
pub async fn start_frontend_with(backend_url: &str, extra_env: &[(&str, &str)]) -> Running {
    let mut request = generic("frontend", 3000)
        .with_env_var("BACKEND_URL", backend_url)
        .with_env_var("LOG_LEVEL", "info")
        .with_readonly_rootfs(true)
        .with_cap_drop("ALL")
        .with_security_opt("no-new-privileges")
        .with_startup_timeout(Duration::from_secs(60));
    for (name, value) in extra_env {
        request = request.with_env_var(*name, *value);
    }
    start(request, 3000).await
}

async fn start(request: testcontainers::ContainerRequest<GenericImage>, port: u16) -> Running {
    let started = Instant::now();
    let container = request.start().await.unwrap_or_else(|e| panic!("container did not start: {e}\n{START_DOCKER}"));
    let mapped = container.get_host_port_ipv4(port).await.expect("mapped port");
    // testcontainers' get_bridge_ip_address looks up the network "default",
    // which Docker 20.10 reports for the bridge; ask the engine directly.
    let bridge_ip = docker(&["inspect", "--format", "{{.NetworkSettings.IPAddress}}", container.id()])
        .trim()
        .parse()
        .expect("container has a bridge IP address");
    let url = format!("http://127.0.0.1:{mapped}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(a) = get(&format!("{url}/health"), None).await
            && a.status == 200
        {
            break;
        }
        if Instant::now() > deadline {
            let out = container.stdout_to_vec().await.unwrap_or_default();
            panic!("{url}/health did not answer 200 within 30s; container log:\n{}", String::from_utf8_lossy(&out));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Running { container, url, bridge_ip, ready_after: started.elapsed() }
}

fn client() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(|| reqwest::Client::builder().timeout(Duration::from_secs(30)).build().expect("http client"))
}

/// Send one request; `token` becomes `Authorization: Bearer <token>`.
pub async fn send(
    method: &str,
    url: &str,
    token: Option<&str>,
    body: Option<serde_json::Value>,
) -> Result<Answer, String> {
    let method = reqwest::Method::from_bytes(method.as_bytes()).map_err(|e| e.to_string())?;
    let mut req = client().request(method, url);
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    if let Some(body) = body {
        req = req.json(&body);
    }
    let res = req.send().await.map_err(|e| format!("{url}: {e}"))?;
    let status = res.status().as_u16();
    let content_type = res.headers().get(reqwest::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(String::from);
    let body = res.bytes().await.map_err(|e| format!("{url}: {e}"))?.to_vec();
    Ok(Answer { status, content_type, body })
}

/// `GET url`.
pub async fn get(url: &str, token: Option<&str>) -> Result<Answer, String> {
    send("GET", url, token, None).await
}

/// An HS256 bearer token for user `sub`, signed with `secret`, valid for an hour.
pub fn token(secret: &str, sub: &str) -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs();
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &serde_json::json!({ "sub": sub, "exp": now + 3600, "iat": now }),
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("token signs")
}

/// `docker <args>` (the CLI negotiates the API version itself); stdout on success.
pub fn docker(args: &[&str]) -> String {
    use kubegate::process::{Cmd, CommandRunner as _, RunCommandError, SystemRunner};
    match SystemRunner.run_ok(&Cmd::new("docker", args.iter().copied())) {
        Ok(out) => out.stdout,
        Err(e @ (RunCommandError::NotFound { .. } | RunCommandError::Spawn { .. })) => {
            panic!("docker: {e}\n{START_DOCKER}")
        }
        Err(e) => panic!("docker {args:?} failed: {e}"),
    }
}
