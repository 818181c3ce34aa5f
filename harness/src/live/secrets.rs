//! Secrets, live: the pods use the Secret's values, no value shows up
//! anywhere it should not (searched for the actual values), a missing key
//! is diagnosed as CreateContainerConfigError, and a rotated `[auth]` key
//! takes effect after a rollout restart while old tokens stop working.

use super::app::{DeployedApp, error_chain};
use super::context::{LiveContext, random_secret};
use super::http::short;
use super::tunnel::Tunnel;
use super::{CheckFailure, CheckResult, Passed};
use crate::deploy::secret::apply_secrets;
use crate::finding::DeployPath;
use crate::redact::Redactor;
use crate::wait::diagnose::DeadEndKind;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{ConfigMap, Event, Pod, Secret, Service};
use kube::Resource;
use kube::api::{Api, ListParams, LogParams};
use std::path::Path;

/// Pods use the values: a credential made from `[auth]`'s Secret key is
/// accepted and one made from another value refused; the API's readiness
/// path (which needs the database of the database key) answers 200.
pub async fn values_in_use(ctx: &LiveContext, app: &DeployedApp) -> CheckResult {
    let obj = format!("Deployment/{}", ctx.deployment(ctx.api()));
    let tunnel = Tunnel::to_service(ctx, app, ctx.api()).await?;
    let c = tunnel.client();
    let user = format!("kg-secret-{}-{}", app.run, app.path);
    let good = app.credential(&user);
    let bad = app.credential_from(&random_secret(), &user);
    let fail = |m: String| CheckFailure::new(app.path, &obj, m);
    let path = ctx.config.request.path.as_str();
    let a = c.get(path, good.as_ref()).await.map_err(|e| fail(format!("GET {path}: {e}")))?;
    if a.status != 200 {
        return Err(fail(format!(
            "a credential made from the Secret's {} was refused ({}): {}",
            ctx.config.auth.key,
            a.status,
            short(&a.body)
        )));
    }
    let b = c.get(path, bad.as_ref()).await.map_err(|e| fail(format!("GET {path}: {e}")))?;
    if b.status != 401 {
        return Err(fail(format!("a token signed with another secret answered {} (want 401)", b.status)));
    }
    let ready = ctx.readiness_path(ctx.api());
    let r = c.get(ready, None).await.map_err(|e| fail(format!("GET {ready}: {e}")))?;
    if r.status != 200 {
        return Err(fail(format!(
            "{ready} answered {}: the API cannot use its database ({}): {}",
            r.status,
            ctx.config.database_key().map_or("no database_key in kubegate.toml", |(_, k)| k),
            short(&r.body)
        )));
    }
    Ok(Passed::note(format!(
        "{} makes accepted credentials (another value: 401); {} connects ({ready} 200)",
        ctx.config.auth.key,
        ctx.config.database_key().map_or("the database", |(_, k)| k)
    )))
}

/// Where one leak was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leak {
    /// Which key's value.
    pub keys: Vec<String>,
    /// Where (`ConfigMap/x data`, `Pod/y log`, a file path, ...).
    pub place: String,
}

/// Record the keys whose values `data` contains, under `place`.
fn scan(r: &Redactor, place: String, data: &[u8], leaks: &mut Vec<Leak>) {
    let keys = r.leaks_in(data);
    if !keys.is_empty() {
        leaks.push(Leak { keys, place });
    }
}

fn annotations_of<K: Resource>(o: &K) -> String {
    serde_json::to_string(&o.meta().annotations).unwrap_or_default()
}

/// Every place in the cluster where a secret value must not be, searched for
/// the app's actual values: ConfigMaps, annotations of every app object,
/// events, pod specs, container logs, Secrets other than the app's (the Helm
/// release records decoded), `helm get values --all` and `helm get manifest`,
/// and the files under `artifacts` (kubegate's own reports and bundles).
pub async fn find_leaks(
    ctx: &LiveContext,
    app: &DeployedApp,
    artifacts: &[&Path],
) -> Result<(Vec<Leak>, usize), CheckFailure> {
    let r = app.secrets.redactor();
    let ns = &app.namespace;
    let err = |what: &str, e: kube::Error| {
        CheckFailure::new(app.path, format!("Namespace/{ns}"), format!("cannot list {what}: {e}"))
    };
    let lp = ListParams::default();
    let mut leaks = Vec::new();
    let mut places = 0usize;

    for cm in Api::<ConfigMap>::namespaced(ctx.client.clone(), ns).list(&lp).await.map_err(|e| err("ConfigMaps", e))? {
        let name = cm.metadata.name.clone().unwrap_or_default();
        scan(
            &r,
            format!("ConfigMap/{name} (data and annotations)"),
            serde_json::to_string(&cm).unwrap_or_default().as_bytes(),
            &mut leaks,
        );
        places += 1;
    }
    for d in Api::<Deployment>::namespaced(ctx.client.clone(), ns).list(&lp).await.map_err(|e| err("Deployments", e))? {
        let name = d.metadata.name.clone().unwrap_or_default();
        // The whole object: annotations, and env literals of the pod template.
        scan(
            &r,
            format!("Deployment/{name} (spec and annotations)"),
            serde_json::to_string(&d).unwrap_or_default().as_bytes(),
            &mut leaks,
        );
        places += 1;
    }
    for rs in
        Api::<ReplicaSet>::namespaced(ctx.client.clone(), ns).list(&lp).await.map_err(|e| err("ReplicaSets", e))?
    {
        scan(
            &r,
            format!("ReplicaSet/{} annotations", rs.metadata.name.clone().unwrap_or_default()),
            annotations_of(&rs).as_bytes(),
            &mut leaks,
        );
        places += 1;
    }
    for s in Api::<Service>::namespaced(ctx.client.clone(), ns).list(&lp).await.map_err(|e| err("Services", e))? {
        scan(
            &r,
            format!("Service/{} annotations", s.metadata.name.clone().unwrap_or_default()),
            annotations_of(&s).as_bytes(),
            &mut leaks,
        );
        places += 1;
    }
    let pods_api: Api<Pod> = Api::namespaced(ctx.client.clone(), ns);
    for p in pods_api.list(&lp).await.map_err(|e| err("Pods", e))? {
        let name = p.metadata.name.clone().unwrap_or_default();
        scan(
            &r,
            format!("Pod/{name} (spec and annotations)"),
            serde_json::to_string(&p.spec).unwrap_or_default().as_bytes(),
            &mut leaks,
        );
        scan(&r, format!("Pod/{name} annotations"), annotations_of(&p).as_bytes(), &mut leaks);
        places += 2;
        for c in p.spec.iter().flat_map(|s| s.containers.iter()) {
            let lp = LogParams { container: Some(c.name.clone()), ..Default::default() };
            if let Ok(log) = pods_api.logs(&name, &lp).await {
                scan(&r, format!("Pod/{name} container {} log", c.name), log.as_bytes(), &mut leaks);
                places += 1;
            }
        }
    }
    for e in Api::<Event>::namespaced(ctx.client.clone(), ns).list(&lp).await.map_err(|e| err("Events", e))? {
        scan(
            &r,
            format!("Event {}", e.metadata.name.clone().unwrap_or_default()),
            serde_json::to_string(&e).unwrap_or_default().as_bytes(),
            &mut leaks,
        );
        places += 1;
    }
    for s in Api::<Secret>::namespaced(ctx.client.clone(), ns).list(&lp).await.map_err(|e| err("Secrets", e))? {
        let name = s.metadata.name.clone().unwrap_or_default();
        scan(&r, format!("Secret/{name} annotations"), annotations_of(&s).as_bytes(), &mut leaks);
        places += 1;
        if s.type_.as_deref() == Some("helm.sh/release.v1") {
            // The release record: data.release = base64(gzip(JSON of the release)).
            if let Some(rel) = s.data.as_ref().and_then(|d| d.get("release")) {
                let decoded = decode_release(&rel.0).unwrap_or_else(|why| why.into_bytes());
                scan(&r, format!("Secret/{name} (Helm release record, decoded)"), &decoded, &mut leaks);
                places += 1;
            }
        } else if !app.secrets.contains(&name) {
            scan(
                &r,
                format!("Secret/{name} data"),
                serde_json::to_string(&s.data).unwrap_or_default().as_bytes(),
                &mut leaks,
            );
            places += 1;
        }
    }
    if app.path == DeployPath::Helm {
        let release = ctx.config.release.as_str();
        // kubegate's Helm wrapper redacts its output, so ask a plain one:
        // the search must see what `helm get` really prints.
        let plain = crate::deploy::helm::Helm::new(Some(&ctx.cluster.kubeconfig), ctx.cluster.context.as_deref())
            .map_err(|e| CheckFailure::new(app.path, "helm", error_chain(&e)))?;
        for args in [vec!["get", "values", release, "--all"], vec!["get", "manifest", release]] {
            let mut a: Vec<String> = args.iter().map(|s| s.to_string()).collect();
            a.extend(["--namespace".to_owned(), ns.clone()]);
            let text = plain.run(&a).await.map_err(|e| CheckFailure::new(app.path, "helm release", error_chain(&e)))?;
            scan(&r, format!("helm {}", args.join(" ")), text.as_bytes(), &mut leaks);
            places += 1;
        }
    }
    for root in artifacts {
        for file in walk(root) {
            if let Ok(data) = std::fs::read(&file) {
                scan(&r, file.display().to_string(), &data, &mut leaks);
                places += 1;
            }
        }
    }
    Ok((leaks, places))
}

/// Decode a Helm release record (base64 of gzip of JSON) with `gzip -dc`.
fn decode_release(data: &[u8]) -> Result<Vec<u8>, String> {
    use crate::process::{Cmd, CommandRunner as _, SystemRunner};
    use base64::Engine as _;
    let gz = base64::engine::general_purpose::STANDARD
        .decode(data)
        .map_err(|e| format!("release record not base64: {e}"))?;
    let gunzip = Cmd::new("gzip", ["-dc"]).stdin(gz);
    let out = SystemRunner.run(&gunzip).map_err(|e| format!("cannot run gzip: {e}"))?;
    // The record is JSON, so UTF-8: the runner's text output loses nothing.
    if out.success() { Ok(out.stdout.into_bytes()) } else { Err("gzip could not decode the release record".into()) }
}

/// Every file below `root` (none if it does not exist).
fn walk(root: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            if d.is_file() {
                out.push(d);
            }
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() { stack.push(p) } else { out.push(p) }
        }
    }
    out
}

/// No secret value anywhere it should not be (see [`find_leaks`]).
pub async fn no_leaks(ctx: &LiveContext, app: &DeployedApp, artifacts: &[&Path]) -> CheckResult {
    let (leaks, places) = find_leaks(ctx, app, artifacts).await?;
    if !leaks.is_empty() {
        let lines: Vec<String> = leaks.iter().map(|l| format!("{} in {}", l.keys.join("+"), l.place)).collect();
        return Err(CheckFailure::new(
            app.path,
            format!("Namespace/{}", app.namespace),
            format!("secret values found where they must not be:\n  {}", lines.join("\n  ")),
        ));
    }
    Ok(Passed::note(format!(
        "searched {places} places for the actual values of {:?}: none found",
        app.secrets.iter().flat_map(|(_, v)| v.keys()).collect::<Vec<_>>()
    )))
}

/// The app was deployed without a key it needs ([`crate::config::Config::required_key`]):
/// the backend's rollout ends in CreateContainerConfigError naming the key.
pub async fn missing_key_is_diagnosed(ctx: &LiveContext, app: &DeployedApp) -> CheckResult {
    let backend = ctx.deployment(ctx.api());
    let obj = format!("Deployment/{backend}");
    let Some((_, key)) = ctx.config.required_key() else {
        return Err(CheckFailure::new(
            app.path,
            "kubegate.toml",
            "every Secret key is the database key or optional: there is no required key to leave out",
        ));
    };
    match app.waiter(ctx).deployment_rolled_out(&backend).await {
        Ok(_) => Err(CheckFailure::new(app.path, &obj, format!("rolled out although the Secret lacks {key}"))),
        Err(e) => {
            let f = CheckFailure::from_wait(app.path, e);
            match &f.dead_end {
                Some(d)
                    if d.kind == DeadEndKind::ContainerConfig
                        && format!("{} {} {}", d.reason, d.message, d.hint).contains(key) =>
                {
                    Ok(Passed::note(format!("diagnosed: {}: {}", d.reason, d.message)))
                }
                _ => Err(CheckFailure::new(
                    app.path,
                    &obj,
                    format!("want a CreateContainerConfigError naming {key}; the wait ended with: {f}"),
                )),
            }
        }
    }
}

/// Rotate `[auth]`'s key and restart the backend's rollout: a token signed with
/// the new value works, one signed with the old value is refused.
pub async fn rotation(ctx: &LiveContext, app: &mut DeployedApp) -> CheckResult {
    let backend = ctx.deployment(ctx.api());
    let obj = format!("Deployment/{backend}");
    let user = format!("kg-rotate-{}-{}", app.run, app.path);
    let (secret, key) = (ctx.config.auth.secret.as_str(), ctx.config.auth.key.as_str());
    let old_secret = app.secrets.get(secret, key).unwrap_or_default().to_owned();
    let old_token = app.credential(&user);
    {
        let t = Tunnel::to_service(ctx, app, ctx.api()).await?;
        let a = t
            .client()
            .get(&ctx.config.request.path, old_token.as_ref())
            .await
            .map_err(|e| CheckFailure::new(app.path, &obj, format!("{e}")))?;
        if a.status != 200 {
            return Err(CheckFailure::new(
                app.path,
                &obj,
                format!("before rotation the current token answered {}", a.status),
            ));
        }
    }
    let rotated = app.secrets.with(secret, key, random_secret());
    apply_secrets(&ctx.client, &app.namespace, &rotated)
        .await
        .map_err(|e| CheckFailure::new(app.path, format!("Secret/{secret}"), error_chain(&e)))?;
    // Both values stay redacted in everything that follows (the old one under a key of its own).
    app.secrets = rotated.with(secret, &format!("{key}_OLD"), old_secret.as_str());
    let deps: Api<Deployment> = Api::namespaced(ctx.client.clone(), &app.namespace);
    deps.restart(&backend).await.map_err(|e| CheckFailure::new(app.path, &obj, format!("rollout restart: {e}")))?;
    let report =
        app.waiter(ctx).deployment_rolled_out(&backend).await.map_err(|e| CheckFailure::from_wait(app.path, e))?;
    let new_token = app.credential(&user);
    let t = Tunnel::to_service(ctx, app, ctx.api()).await?;
    let c = t.client();
    let n = c
        .get_until(&ctx.config.request.path, new_token.as_ref(), 200, std::time::Duration::from_secs(20))
        .await
        .map_err(|last| {
            CheckFailure::new(
                app.path,
                &obj,
                format!("after rotation and restart a credential made from the new {key} is refused: {last}"),
            )
        })?;
    let o = c
        .get(&ctx.config.request.path, old_token.as_ref())
        .await
        .map_err(|e| CheckFailure::new(app.path, &obj, format!("{e}")))?;
    if o.status != 401 {
        return Err(CheckFailure::new(
            app.path,
            &obj,
            format!("after rotation a credential made from the OLD {key} answered {} (want 401)", o.status),
        ));
    }
    let _ = n; // the 200 itself is the proof
    Ok(Passed::note(format!("rolled out in {:.1}s; new token 200, old token 401", report.took.as_secs_f64())))
}
