//! One deployment of the chatbot by one path, in a namespace of its own,
//! and the variants the broken-deployment tests need (the same change made
//! through Helm values and through a manifest edit, so both paths break alike).

use super::CheckFailure;
use super::context::LiveContext;
use crate::deploy::helm::HelmInstall;
use crate::deploy::namespace::{GuardDiagnostics, create_namespace};
use crate::deploy::raw::{self, RawOverrides};
use crate::deploy::secret::SecretSet;
use crate::deploy::{NamespaceGuard, RunId};
use crate::diagnostics::HelmRef;
use crate::finding::DeployPath;
use crate::sweep::RunLock;
use crate::wait::{WaitReport, Waiter};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

/// A change to the deployment, expressed for both paths.
#[derive(Clone, Default)]
pub struct Variant {
    /// Short name, for messages (`shared`, `bad-image`, ...).
    pub name: String,
    /// `--set` pairs for the Helm path.
    pub helm_set: Vec<(String, String)>,
    /// Edits for the raw path.
    pub raw: RawOverrides,
    /// Secret values instead of the run's (e.g. one key missing).
    pub secrets: Option<SecretSet>,
    /// Wait for both rollouts after deploying (broken variants wait themselves).
    pub wait: bool,
}

impl std::fmt::Debug for Variant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Variant").field("name", &self.name).field("helm_set", &self.helm_set).finish()
    }
}

impl Variant {
    /// The deployment as committed, waited for.
    pub fn standard(name: impl Into<String>) -> Self {
        Variant { name: name.into(), wait: true, ..Default::default() }
    }

    /// Do not wait for the rollouts (the test waits, expecting a failure).
    pub fn no_wait(mut self) -> Self {
        self.wait = false;
        self
    }

    /// Use `image` for `component`'s container (`repository:tag`).
    pub fn image(mut self, component: &str, repository: &str, tag: &str) -> Self {
        self.helm_set.push((format!("image.{component}.repository"), repository.into()));
        self.helm_set.push((format!("image.{component}.tag"), tag.into()));
        self.raw = self.raw.with_image(component, format!("{repository}:{tag}"));
        self
    }

    /// Turn the app's fault switch on (kubegate.toml's `[liveness.switch]`):
    /// its Helm values, and its environment on `container` of the raw Deployments.
    pub fn fault_switch(mut self, container: &str, switch: &crate::config::FaultSwitch) -> Self {
        for (k, v) in &switch.helm_set {
            self.helm_set.push((k.clone(), v.clone()));
        }
        let (container, env) = (container.to_owned(), switch.env.clone());
        self.raw = self.raw.with_edit(move |v| {
            let Some(c) = container_named(v, &container) else { return };
            let list = c.as_object_mut().map(|o| o.entry("env").or_insert_with(|| serde_json::json!([])));
            if let Some(list) = list.and_then(|e| e.as_array_mut()) {
                for (name, value) in &env {
                    list.retain(|e| e["name"] != name.as_str());
                    list.push(serde_json::json!({"name": name, "value": value}));
                }
            }
        });
        self
    }

    /// One replica per component with a small CPU request, HPA floor 1 and
    /// no PDB floor: for the destructive tests' extra namespaces, so several
    /// fit beside the shared ones on a 2-core node. Probes, security context
    /// and limits stay as declared.
    pub fn small(mut self) -> Self {
        for c in ["backend", "frontend"] {
            self.helm_set.push((format!("replicaCount.{c}"), "1".into()));
            self.helm_set.push((format!("resources.{c}.requests.cpu"), "20m".into()));
            self.helm_set.push((format!("autoscaling.{c}.minReplicas"), "1".into()));
        }
        self.helm_set.push(("podDisruptionBudget.minAvailable".into(), "0".into()));
        self.raw = self.raw.with_edit(|v| match v["kind"].as_str() {
            Some("Deployment") => {
                v["spec"]["replicas"] = 1.into();
                if let Some(cs) = v.pointer_mut("/spec/template/spec/containers").and_then(|c| c.as_array_mut()) {
                    for c in cs {
                        if c.pointer("/resources/requests").is_some() {
                            c["resources"]["requests"]["cpu"] = "20m".into();
                        }
                    }
                }
            }
            Some("HorizontalPodAutoscaler") => v["spec"]["minReplicas"] = 1.into(),
            // minAvailable 0: the PDB stays but guards nothing (both paths alike).
            Some("PodDisruptionBudget") => v["spec"]["minAvailable"] = 0.into(),
            _ => {}
        });
        self
    }

    /// Strategy Recreate for both Deployments (every old pod goes before a
    /// new one starts): the broken variant the rollout check must catch.
    pub fn recreate_strategy(mut self) -> Self {
        self.helm_set.push(("updateStrategy.type".into(), "Recreate".into()));
        self.helm_set.push(("updateStrategy.rollingUpdate".into(), "null".into()));
        self.raw = self.raw.with_edit(|v| {
            if v["kind"] == "Deployment" {
                v["spec"]["strategy"] = serde_json::json!({"type": "Recreate"});
            }
        });
        self
    }

    /// Deploy with these secret values.
    pub fn secrets(mut self, s: SecretSet) -> Self {
        self.secrets = Some(s);
        self
    }

    /// A Helm `--set` only (the raw path gets `raw_edit`).
    pub fn helm_set(mut self, key: &str, value: &str) -> Self {
        self.helm_set.push((key.into(), value.into()));
        self
    }

    /// An edit of every raw object.
    pub fn raw_edit(mut self, edit: impl Fn(&mut serde_json::Value) + Send + Sync + 'static) -> Self {
        self.raw = self.raw.with_edit(edit);
        self
    }
}

/// The container named `name` of a Deployment object, if `v` is a Deployment that has one.
fn container_named<'a>(v: &'a mut serde_json::Value, name: &str) -> Option<&'a mut serde_json::Value> {
    if v["kind"] != "Deployment" {
        return None;
    }
    v.pointer_mut("/spec/template/spec/containers")?.as_array_mut()?.iter_mut().find(|c| c["name"] == name)
}

/// Marks `run` live for the sweeper ([`crate::sweep`]) while the returned
/// handle (or a clone) exists; one lock per run per process, shared by the
/// run's namespaces. `None` if another process holds it (it is live then).
pub fn hold_run(run: &RunId) -> Option<Arc<RunLock>> {
    static HELD: OnceLock<Mutex<HashMap<String, Weak<RunLock>>>> = OnceLock::new();
    let mut held = HELD.get_or_init(Default::default).lock().unwrap_or_else(|p| p.into_inner());
    if let Some(lock) = held.get(run.as_str()).and_then(Weak::upgrade) {
        return Some(lock);
    }
    let lock = Arc::new(RunLock::acquire(run).ok()?);
    held.insert(run.as_str().to_owned(), Arc::downgrade(&lock));
    Some(lock)
}

/// The chatbot deployed by one path into one namespace.
pub struct DeployedApp {
    /// raw or helm.
    pub path: DeployPath,
    /// The run the namespace belongs to.
    pub run: RunId,
    /// `kg-<run>-<path>`.
    pub namespace: String,
    /// The secret values this deployment got.
    pub secrets: SecretSet,
    /// How its API is called (kubegate.toml's `[auth]`).
    auth: crate::config::AuthConfig,
    /// The waits for its rollouts (empty when attached or not waited).
    pub waits: Vec<WaitReport>,
    /// The variant it was deployed with (an upgrade starts from it).
    pub variant: Variant,
    /// Deletes the namespace when dropped (`None`: someone else owns it).
    guard: Option<NamespaceGuard>,
    /// Keeps the run live for the sweeper while this app exists.
    #[allow(dead_code, reason = "held for its Drop, which ends the run's liveness")]
    run_lock: Option<Arc<RunLock>>,
}

impl std::fmt::Debug for DeployedApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeployedApp").field("path", &self.path).field("namespace", &self.namespace).finish()
    }
}

impl DeployedApp {
    /// Create the namespace of `path` for `run` (Pod Security labels taken
    /// from the path's own Namespace object), create the Secret and deploy;
    /// wait for both rollouts when the variant says so.
    pub async fn deploy(
        ctx: &LiveContext,
        run: &RunId,
        path: DeployPath,
        variant: &Variant,
    ) -> Result<Self, CheckFailure> {
        let secrets = variant.secrets.clone().unwrap_or_else(|| ctx.secrets.clone());
        let namespace = run.namespace(path);
        let fail = |object: &str, e: &dyn std::fmt::Display| {
            CheckFailure::new(
                path,
                object,
                ctx.redactor().redact_str(&format!("deploy ({}): {e:#}", variant.name)).into_owned(),
            )
        };
        let install = helm_install(ctx, &namespace, variant);
        let run_lock = hold_run(run);
        let (labels, rendered) = match path {
            DeployPath::Raw => {
                let objects =
                    raw::load_manifests(&ctx.manifests_dir()).map_err(|e| fail("manifests", &error_chain(&e)))?;
                (raw::namespace_labels(&objects), None)
            }
            DeployPath::Helm => {
                let text = ctx.helm.template(&install, true).await.map_err(|e| fail("chart", &error_chain(&e)))?;
                let objects =
                    raw::parse_documents(&text, &ctx.chart_dir()).map_err(|e| fail("chart", &error_chain(&e)))?;
                (raw::namespace_labels(&objects), Some(text))
            }
        };
        let guard = create_namespace(&ctx.client, &ctx.kube_config, run, path, &labels)
            .await
            .map_err(|e| fail(&format!("Namespace/{namespace}"), &error_chain(&e)))?;
        let guard = guard.with_diagnostics(GuardDiagnostics {
            redactor: secrets.redactor(),
            rendered_manifests: rendered,
            helm: (path == DeployPath::Helm)
                .then(|| HelmRef { helm: ctx.helm.clone(), release: ctx.config.release.clone() }),
        });
        let mut app = DeployedApp {
            path,
            run: run.clone(),
            namespace: namespace.clone(),
            secrets: secrets.clone(),
            auth: ctx.config.auth.clone(),
            waits: Vec::new(),
            variant: variant.clone(),
            guard: Some(guard),
            run_lock,
        };
        let deployed = match path {
            DeployPath::Raw => {
                raw::deploy(&ctx.client, &namespace, &ctx.manifests_dir(), &secrets, &variant.raw).await.map(|_| ())
            }
            DeployPath::Helm => {
                crate::deploy::helm::deploy(&ctx.client, &ctx.helm, &install, &secrets).await.map(|_| ())
            }
        };
        if let Err(e) = deployed {
            app.mark_failed();
            return Err(fail(&format!("Namespace/{namespace}"), &error_chain(&e)));
        }
        if variant.wait
            && let Err(f) = app.wait_rolled_out(ctx).await
        {
            app.mark_failed();
            return Err(f);
        }
        Ok(app)
    }

    /// An app deployed earlier (by another process) for `run`; this handle
    /// does not own its namespace.
    pub fn attach(ctx: &LiveContext, run: &RunId, path: DeployPath) -> Self {
        DeployedApp {
            path,
            run: run.clone(),
            namespace: run.namespace(path),
            secrets: ctx.secrets.clone(),
            auth: ctx.config.auth.clone(),
            waits: Vec::new(),
            variant: Variant::standard("shared"),
            guard: None,
            run_lock: hold_run(run),
        }
    }

    /// A handle on `namespace` that owns nothing and holds no run (unit tests).
    #[cfg(test)]
    pub(crate) fn detached(path: DeployPath, namespace: &str) -> Self {
        DeployedApp {
            path,
            run: RunId::random(),
            namespace: namespace.to_owned(),
            secrets: SecretSet::default(),
            auth: crate::config::AuthConfig::default(),
            waits: Vec::new(),
            variant: Variant::standard("detached"),
            guard: None,
            run_lock: None,
        }
    }

    /// The credential of `user` for this deployment's API, made from the value
    /// of `[auth]`'s Secret key as this deployment got it (`None`: no auth).
    pub fn credential(&self, user: &str) -> Option<super::http::Credential> {
        let value = self.secrets.get(&self.auth.secret, &self.auth.key).unwrap_or_default();
        super::http::Credential::new(&self.auth, value, user)
    }

    /// A credential of `user` made from another value of the key (one the app
    /// must refuse, or the value before a rotation).
    pub fn credential_from(&self, key_value: &str, user: &str) -> Option<super::http::Credential> {
        super::http::Credential::new(&self.auth, key_value, user)
    }

    /// A waiter for this namespace with the plan's deadline (the policy's
    /// `ready_within_secs`) and the run's redaction.
    pub fn waiter(&self, ctx: &LiveContext) -> Waiter {
        Waiter::new(ctx.client.clone(), &self.namespace)
            .deadline(ctx.config.policy.ready_within())
            .redactor(self.secrets.redactor())
            .load_balancer(Some(ctx.load_balancer()), Duration::from_secs(20))
    }

    /// Wait until every component's Deployment is rolled out; records the waits.
    pub async fn wait_rolled_out(&mut self, ctx: &LiveContext) -> Result<(), CheckFailure> {
        let waiter = self.waiter(ctx);
        let names: Vec<String> = ctx.components().iter().map(|c| ctx.deployment(c)).collect();
        let waits = futures::future::join_all(names.iter().map(|n| waiter.deployment_rolled_out(n))).await;
        for w in waits {
            match w {
                Ok(r) => self.waits.push(r),
                Err(e) => return Err(CheckFailure::from_wait(self.path, e)),
            }
        }
        Ok(())
    }

    /// The Helm install description of this app with `variant`'s values.
    pub fn helm_install(&self, ctx: &LiveContext, variant: &Variant) -> HelmInstall {
        helm_install(ctx, &self.namespace, variant)
    }

    /// Label selector of a component's pods: its Deployment's own
    /// `spec.selector.matchLabels`, as deployed.
    pub async fn pod_selector(&self, ctx: &LiveContext, component: &str) -> Result<String, CheckFailure> {
        let name = ctx.deployment(component);
        let api: kube::Api<k8s_openapi::api::apps::v1::Deployment> =
            kube::Api::namespaced(ctx.client.clone(), &self.namespace);
        let fail = |why: String| CheckFailure::new(self.path, format!("Deployment/{name}"), why);
        let d = api.get(&name).await.map_err(|e| fail(format!("cannot read its pod selector: {e}")))?;
        let labels = d.spec.and_then(|s| s.selector.match_labels).unwrap_or_default();
        if labels.is_empty() {
            return Err(fail("its spec.selector has no matchLabels".into()));
        }
        Ok(selector_text(&labels))
    }

    /// Write diagnostics before the namespace goes (the test failed).
    pub fn mark_failed(&mut self) {
        if let Some(g) = &mut self.guard {
            g.mark_failed();
        }
    }

    /// Delete the namespace now and wait for it to go (diagnostics first if
    /// marked failed); a no-op for an attached app.
    pub async fn teardown(mut self, ctx: &LiveContext) -> Result<(), crate::deploy::namespace::DeleteNamespaceError> {
        match self.guard.take() {
            Some(g) => g.cleanup(&ctx.client, Duration::from_secs(120)).await,
            None => Ok(()),
        }
    }

    /// Leave the namespace in place (someone else tears it down; the run
    /// stops being live for the sweeper once no app of it is left here).
    pub fn keep(mut self) -> String {
        self.run_lock = None;
        match self.guard.take() {
            Some(g) => g.disarm(),
            None => self.namespace.clone(),
        }
    }
}

fn helm_install(ctx: &LiveContext, namespace: &str, variant: &Variant) -> HelmInstall {
    let mut i = HelmInstall::new(ctx.chart_dir(), namespace);
    i.release = ctx.config.release.clone();
    i.existing_secret = ctx.config.secrets.first().map(|s| s.name.clone());
    for (k, v) in &variant.helm_set {
        i = i.with_set(k, v);
    }
    i
}

/// `e` and its sources, one per line.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(&format!("\n  caused by: {c}"));
        cur = c.source();
    }
    s
}

/// Labels as `k=v,...` (selectors in messages).
pub fn selector_text(labels: &BTreeMap<String, String>) -> String {
    labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fault_switch_edits_only_the_named_container() {
        let switch = crate::config::FaultSwitch {
            path: "/debug/hang".into(),
            env: [("HANG".to_owned(), "1".to_owned())].into(),
            helm_set: [("debug.hang".to_owned(), "true".to_owned())].into(),
        };
        let v = Variant::standard("t").fault_switch("api", &switch);
        assert_eq!(v.helm_set, [("debug.hang".to_owned(), "true".to_owned())]);
        let mut dep = serde_json::json!({"kind": "Deployment", "spec": {"template": {"spec": {"containers": [
            {"name": "api", "env": [{"name": "A", "value": "1"}, {"name": "HANG", "value": "0"}]}]}}}});
        let mut web = serde_json::json!({"kind": "Deployment", "spec": {"template": {"spec": {"containers": [
            {"name": "web"}]}}}});
        let mut svc = serde_json::json!({"kind": "Service", "spec": {}});
        let (dep0, web0, svc0) = (dep.clone(), web.clone(), svc.clone());
        for e in &v.raw.edits {
            e(&mut dep);
            e(&mut web);
            e(&mut svc);
        }
        assert_eq!(
            dep["spec"]["template"]["spec"]["containers"][0]["env"],
            serde_json::json!([{"name": "A", "value": "1"}, {"name": "HANG", "value": "1"}]),
            "set once, replacing the declared value"
        );
        assert_ne!(dep, dep0);
        assert_eq!((web, svc), (web0, svc0));
    }

    #[test]
    fn image_variant_sets_both_paths() {
        let v = Variant::standard("t").image("backend", "todo-chatbot-backend", "0.1.1");
        assert!(v.helm_set.contains(&("image.backend.tag".into(), "0.1.1".into())));
        assert_eq!(v.raw.images.get("backend").map(String::as_str), Some("todo-chatbot-backend:0.1.1"));
    }
}
