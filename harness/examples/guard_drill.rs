//! Drills for teardown on a live cluster:
//!
//! - `guard_drill panic`: deploy the raw path with the Secret lacking
//!   JWT_SECRET, show the CreateContainerConfigError dead end, then panic:
//!   the guard writes the diagnostics bundle and deletes the namespace.
//! - `guard_drill hang`: make a namespace under a run lock and sleep; `kill -9`
//!   it, then `kubegate sweep` removes the namespace.
//!
//!   KUBECONFIG=... KUBEGATE_SECRETS_ENV=... cargo run -p kubegate --example guard_drill -- panic

use kubegate::deploy::namespace::{GuardDiagnostics, create_namespace};
use kubegate::deploy::{RunId, client_for, raw};
use kubegate::finding::DeployPath;
use kubegate::sweep::RunLock;
use kubegate::wait::Waiter;
use std::path::PathBuf;
use std::time::Duration;

#[tokio::main]
async fn main() {
    let mode = std::env::args().nth(1).unwrap_or_default();
    let kubeconfig = PathBuf::from(std::env::var("KUBECONFIG").expect("KUBECONFIG set"));
    let (client, config) = client_for(&kubeconfig, None).await.expect("client");
    let run = RunId::random();
    let _lock = RunLock::acquire(&run).expect("run lock");
    let root = std::env::current_dir()
        .expect("cwd")
        .ancestors()
        .find(|d| d.join("Cargo.lock").is_file())
        .map(PathBuf::from)
        .expect("workspace root");
    let objects = raw::load_manifests(&root.join("manifests")).expect("manifests");
    let labels = raw::namespace_labels(&objects);
    let mut guard = create_namespace(&client, &config, &run, DeployPath::Raw, &labels).await.expect("namespace");
    eprintln!("run {run}: namespace {}", guard.name());
    match mode.as_str() {
        "hang" => {
            eprintln!("pid {} holds run {run}; kill -9 me", std::process::id());
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
        "panic" => {
            let env_file = std::env::var_os("KUBEGATE_SECRETS_ENV").map(PathBuf::from);
            let config = kubegate::config::Config::default();
            let secrets =
                kubegate::live::context::live_secrets(&config, None, env_file.as_deref()).expect("secret values");
            guard.set_diagnostics(GuardDiagnostics {
                redactor: secrets.redactor(),
                rendered_manifests: Some(
                    std::fs::read_to_string(root.join("manifests/30-backend-deployment.yaml")).unwrap_or_default(),
                ),
                helm: None,
            });
            let (secret, key) = config.required_key().expect("the reference app needs JWT_SECRET");
            let broken = secrets.without(secret, key);
            raw::deploy(&client, guard.name(), &root.join("manifests"), &broken, &Default::default())
                .await
                .expect("deploy");
            let w = Waiter::new(client.clone(), guard.name())
                .deadline(Duration::from_secs(90))
                .redactor(secrets.redactor());
            let err =
                w.deployment_rolled_out("todo-chatbot-backend").await.expect_err("missing key must be a dead end");
            eprintln!("{err}");
            panic!("drill: panicking with the namespace still there; the guard must collect and delete");
        }
        other => eprintln!("unknown mode {other:?}: use panic or hang"),
    }
}
