//! Deploy both paths into their own namespaces, wait with diagnosis, reach
//! the app through a port-forward and the LoadBalancer, show a dead end on
//! a broken Helm upgrade, then clean up. One task, end to end, on a live
//! cluster (the suites do the same with assertions).
//!
//!   KUBECONFIG=target/kubegate/cluster/kubeconfig/admin.kubeconfig \
//!   KUBEGATE_SECRETS_ENV=/path/outside/repo/secrets.env \
//!   cargo run -p kubegate --example deploy_and_wait
//!
//! Secret values as verify makes them: the database URL from
//! KUBEGATE_DATABASE_URL (or `ci/setup.sh postgres`), the other keys from the
//! env file or the environment, JWT_SECRET generated; never printed.

use kubegate::access::{HttpClient, PortForward, RetryPolicy, load_balancer};
use kubegate::deploy::helm::{Helm, HelmInstall};
use kubegate::deploy::namespace::{GuardDiagnostics, create_namespace};
use kubegate::deploy::{RunId, client_for, raw};
use kubegate::finding::DeployPath;
use kubegate::live::context::live_secrets;
use kubegate::sweep::RunLock;
use kubegate::wait::Waiter;
use std::path::PathBuf;
use std::time::Duration;

#[tokio::main]
async fn main() {
    if let Err(e) = run().await {
        eprintln!("error: {e}");
        let mut src = e.source();
        while let Some(c) = src {
            eprintln!("  caused by: {c}");
            src = c.source();
        }
        std::process::exit(1);
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let kubeconfig = PathBuf::from(std::env::var("KUBECONFIG")?);
    let (client, config) = client_for(&kubeconfig, None).await?;
    let run = RunId::random();
    let _lock = RunLock::acquire(&run)?;
    eprintln!("run {run}");
    let env_file = std::env::var_os("KUBEGATE_SECRETS_ENV").map(PathBuf::from);
    // As verify makes them: the database URL from KUBEGATE_DATABASE_URL (or ci/setup.sh postgres), the other
    // keys from the env file or the environment.
    let secrets = live_secrets(&kubegate::config::Config::default(), None, env_file.as_deref())?;
    let redactor = secrets.redactor();
    let root = std::env::current_dir()?
        .ancestors()
        .find(|d| d.join("Cargo.lock").is_file())
        .map(PathBuf::from)
        .unwrap_or_default();

    // Raw path.
    let objects = raw::load_manifests(&root.join("manifests"))?;
    let labels = raw::namespace_labels(&objects);
    let mut raw_ns = create_namespace(&client, &config, &run, DeployPath::Raw, &labels).await?;
    raw_ns.set_diagnostics(GuardDiagnostics { redactor: redactor.clone(), rendered_manifests: None, helm: None });
    let t = std::time::Instant::now();
    let dry =
        raw::dry_run_all(&client, raw_ns.name(), &raw::prepare(&objects, raw_ns.name(), &Default::default(), &secrets))
            .await;
    eprintln!(
        "dry run: {}/{} accepted ({:.1}s)",
        dry.iter().filter(|o| o.result.is_ok()).count(),
        dry.len(),
        t.elapsed().as_secs_f64()
    );
    for o in dry.iter().filter(|o| o.result.is_err()) {
        eprintln!("  refused {}: {:?}", o.object, o.result.as_ref().err().map(|e| e.to_string()));
    }
    raw::deploy(&client, raw_ns.name(), &root.join("manifests"), &secrets, &Default::default()).await?;

    // Helm path, at the same time.
    let helm = Helm::new(Some(&kubeconfig), None)?.with_redactor(redactor.clone());
    let helm_ns = create_namespace(&client, &config, &run, DeployPath::Helm, &labels).await?;
    let install = HelmInstall::new(root.join("charts/todo-chatbot"), helm_ns.name());
    kubegate::deploy::helm::deploy(&client, &helm, &install, &secrets).await?;

    let mut failed = false;
    for ns in [raw_ns.name().to_owned(), helm_ns.name().to_owned()] {
        let w = Waiter::new(client.clone(), ns.as_str()).deadline(Duration::from_secs(120)).redactor(redactor.clone());
        for d in ["todo-chatbot-backend", "todo-chatbot-frontend"] {
            match w.deployment_rolled_out(d).await {
                Ok(r) => eprintln!(
                    "{ns}: {d} rolled out in {:.1}s (overhead after kubelet Ready: {:?})",
                    r.took.as_secs_f64(),
                    r.overhead()
                ),
                Err(e) => {
                    eprintln!("{e}");
                    failed = true;
                }
            }
        }
    }

    if failed {
        raw_ns.mark_failed(); // the guard writes diagnostics before deleting
    }
    let pf = PortForward::to_service(
        &client,
        raw_ns.name(),
        "todo-chatbot-backend",
        8000,
        "/health",
        Duration::from_secs(30),
    )
    .await?;
    let http = HttpClient::new(RetryPolicy::default())?;
    let r = http.get_ok(&format!("{}/ready", pf.base_url())).await?;
    eprintln!(
        "port-forward {} -> pod {:?}: /ready {} in {:.2}s",
        pf.base_url(),
        pf.current_pod(),
        r.status,
        pf.ready_after.as_secs_f64()
    );

    let w = Waiter::new(client.clone(), raw_ns.name()).deadline(Duration::from_secs(60));
    let (ep, rep) = load_balancer::wait_for_endpoint(&w, &client, "todo-chatbot-frontend", Some(80)).await?;
    let r = http.get_ok(&format!("{}/", ep.base_url())).await?;
    eprintln!(
        "LoadBalancer {} after {:.1}s: / {} {:?}",
        ep.base_url(),
        rep.took.as_secs_f64(),
        r.status,
        r.content_type
    );

    // A broken upgrade: an image that is not on the node -> dead end at once.
    helm.upgrade(&install.clone().with_set("image.backend.tag", "9.9.9")).await?;
    let w = Waiter::new(client.clone(), helm_ns.name()).deadline(Duration::from_secs(90)).redactor(redactor.clone());
    match w.deployment_rolled_out("todo-chatbot-backend").await {
        Ok(_) => eprintln!("UNEXPECTED: broken upgrade rolled out"),
        Err(e) => eprintln!("broken upgrade diagnosed:\n{e}"),
    }
    let hist = helm.history("todo-chatbot", helm_ns.name()).await?;
    helm.rollback("todo-chatbot", helm_ns.name(), 1).await?;
    match w.deployment_rolled_out("todo-chatbot-backend").await {
        Ok(r) => eprintln!("rollback from revision {} rolled out in {:.1}s", hist.len(), r.took.as_secs_f64()),
        Err(e) => eprintln!("rollback failed:\n{e}"),
    }

    drop(pf);
    for g in [raw_ns, helm_ns] {
        let name = g.name().to_owned();
        let t = std::time::Instant::now();
        match g.cleanup(&client, Duration::from_secs(120)).await {
            Ok(()) => eprintln!("{name} deleted in {:.1}s", t.elapsed().as_secs_f64()),
            Err(e) => eprintln!("{name}: {e}"),
        }
    }
    Ok(())
}
