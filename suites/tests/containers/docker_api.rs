//! A pass-through for the Docker API that lowers the API version in request
//! paths to what the engine supports.
//!
//! Why: testcontainers 0.28 (bollard 0.21) talks API v1.49+ without
//! negotiating, while Debian 12's `docker.io` engine (20.10) answers only up
//! to v1.41 and refuses newer paths with "client version ... is too new".
//! The calls testcontainers makes (create, start, inspect, logs, stop,
//! remove) exist unchanged in v1.41, so rewriting `/v1.49/...` to
//! `/v1.41/...` is enough. On an engine that supports the requested version
//! nothing is rewritten. Connection upgrades (exec/attach) are not relayed:
//! the images have no shell and the suite never execs into them.

use std::path::PathBuf;
use std::sync::OnceLock;

use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response, Uri};
use hyper_util::rt::TokioIo;
use tokio::net::{UnixListener, UnixStream};

/// The engine's own socket.
const ENGINE_SOCKET: &str = "/var/run/docker.sock";

/// `DOCKER_HOST` value for testcontainers: the engine itself when it speaks
/// the client's API version, else this process's pass-through socket.
/// Started once per process, on its own thread and runtime, so it outlives
/// every test's runtime.
pub fn docker_host() -> Result<String, String> {
    static HOST: OnceLock<Result<String, String>> = OnceLock::new();
    HOST.get_or_init(start).clone()
}

fn start() -> Result<String, String> {
    let max = engine_api_version()?;
    // DOCKER_HOST may name another unix socket (rootless Docker): relay to it.
    let engine = match std::env::var("DOCKER_HOST") {
        Ok(host) if host.starts_with("unix://") => PathBuf::from(&host["unix://".len()..]),
        Ok(host) if !host.is_empty() => return Ok(host),
        _ => PathBuf::from(ENGINE_SOCKET),
    };
    let dir = std::env::temp_dir().join(format!("kubegate-docker-api-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let socket = dir.join("docker.sock");
    let _ = std::fs::remove_file(&socket);
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let path = socket.clone();
    std::thread::Builder::new()
        .name("docker-api-shim".into())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = ready_tx.send(Err(format!("runtime: {e}")));
                    return;
                }
            };
            runtime.block_on(async move {
                let listener = match UnixListener::bind(&path) {
                    Ok(l) => l,
                    Err(e) => {
                        let _ = ready_tx.send(Err(format!("cannot listen on {}: {e}", path.display())));
                        return;
                    }
                };
                let _ = ready_tx.send(Ok(()));
                serve(listener, engine, max).await;
            });
        })
        .map_err(|e| format!("cannot start the Docker API pass-through thread: {e}"))?;
    ready_rx.recv().map_err(|e| format!("pass-through thread died: {e}"))??;
    Ok(format!("unix://{}", socket.display()))
}

/// The highest API version the engine supports (`ApiVersion` of `/version`,
/// which answers on an unversioned path), e.g. `1.41`.
fn engine_api_version() -> Result<String, String> {
    use kubegate::process::{Cmd, CommandRunner as _, SystemRunner};
    let cmd = Cmd::new("docker", ["version", "--format", "{{.Server.APIVersion}}"]);
    Ok(SystemRunner.run_ok(&cmd).map_err(|e| e.to_string())?.stdout.trim().to_owned())
}

async fn serve(listener: UnixListener, engine: PathBuf, max: String) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let (engine, max) = (engine.clone(), max.clone());
        tokio::spawn(async move {
            let service = service_fn(move |req| forward(req, engine.clone(), max.clone()));
            let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
        });
    }
}

/// `/v1.49/containers/json` -> `/v1.41/containers/json` when 1.49 > `max`.
fn lower_version(path_and_query: &str, max: &str) -> Option<String> {
    let rest = path_and_query.strip_prefix("/v")?;
    let (version, tail) = rest.split_once('/')?;
    let parse = |v: &str| -> Option<(u32, u32)> {
        let (a, b) = v.split_once('.')?;
        Some((a.parse().ok()?, b.parse().ok()?))
    };
    (parse(version)? > parse(max)?).then(|| format!("/v{max}/{tail}"))
}

async fn forward(
    mut req: Request<Incoming>,
    engine: PathBuf,
    max: String,
) -> Result<Response<Incoming>, std::io::Error> {
    let original = req.uri().path_and_query().map(|p| p.as_str().to_owned()).unwrap_or_else(|| "/".into());
    if let Some(lowered) = lower_version(&original, &max) {
        *req.uri_mut() = lowered.parse::<Uri>().map_err(std::io::Error::other)?;
    }
    let stream = UnixStream::connect(&engine).await?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(std::io::Error::other)?;
    tokio::spawn(connection);
    sender.send_request(req).await.map_err(std::io::Error::other)
}

#[test]
fn only_newer_versions_are_lowered() {
    assert_eq!(lower_version("/v1.49/containers/json?all=1", "1.41").as_deref(), Some("/v1.41/containers/json?all=1"));
    assert_eq!(lower_version("/v1.41/info", "1.41"), None);
    assert_eq!(lower_version("/v1.40/info", "1.41"), None);
    assert_eq!(lower_version("/_ping", "1.41"), None);
}
