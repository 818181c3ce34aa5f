//! One deployment of the chatbot by one path, in a namespace of its own,
//! and the variants the broken-deployment tests need (the same change made
//! through Helm values and through a manifest edit, so both paths break alike).

use super::CheckFailure;
use super::context::LiveContext;
use crate::deploy::edit::{Edit, PostRenderer};
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

/// A change to the deployment, the same on both paths: [`Edit`]s of the
/// rendered objects (the raw path applies them to the manifests, the Helm
/// path runs them as its post-renderer), so no variant needs to know the
/// chart's values keys.
#[derive(Clone, Default)]
pub struct Variant {
    /// Short name, for messages (`shared`, `bad-image`, ...).
    pub name: String,
    /// Edits of both paths' objects.
    pub edits: Vec<Edit>,
    /// Edits of the Helm path's objects only (a chart drifting from the manifests).
    pub helm_edits: Vec<Edit>,
    /// `--set` pairs for the Helm path (tests of a chart's own values).
    pub helm_set: Vec<(String, String)>,
    /// Secret values instead of the run's (e.g. one key missing).
    pub secrets: Option<SecretSet>,
    /// Wait for both rollouts after deploying (broken variants wait themselves).
    pub wait: bool,
}

impl std::fmt::Debug for Variant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Variant")
            .field("name", &self.name)
            .field("edits", &self.edits)
            .field("helm_edits", &self.helm_edits)
            .field("helm_set", &self.helm_set)
            .finish()
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

    /// Add an edit of both paths' objects.
    pub fn edit(mut self, edit: Edit) -> Self {
        self.edits.push(edit);
        self
    }

    /// Add an edit of the Helm path's objects only.
    pub fn helm_edit(mut self, edit: Edit) -> Self {
        self.helm_edits.push(edit);
        self
    }

    /// Turn the app's fault switch on (kubegate.toml's `[liveness.switch]`):
    /// its environment on `container` (both paths, as edits) and its Helm values.
    pub fn fault_switch(mut self, container: &str, switch: &crate::config::FaultSwitch) -> Self {
        for (k, v) in &switch.helm_set {
            self.helm_set.push((k.clone(), v.clone()));
        }
        for (name, value) in &switch.env {
            self = self.edit(Edit::Env { container: container.into(), name: name.clone(), value: value.clone() });
        }
        self
    }

    /// Use `image` (`repository:tag`) for every container named `container`.
    pub fn image(self, container: &str, image: impl Into<String>) -> Self {
        self.edit(Edit::Image { container: container.into(), image: image.into() })
    }

    /// One replica per Deployment with a small CPU request, HPA floor 1 and
    /// no PDB floor: for the destructive tests' extra namespaces, so several
    /// fit beside the shared ones on a 2-core node. Probes, security context
    /// and limits stay as declared.
    pub fn small(self) -> Self {
        self.edit(Edit::Replicas { replicas: 1 })
            .edit(Edit::CpuRequest { cpu: "20m".into() })
            .edit(Edit::HpaMinReplicas { min: 1 })
            // The PDB stays but guards nothing (both paths alike).
            .edit(Edit::PdbGuardsNothing)
    }

    /// Strategy Recreate for every Deployment (every old pod goes before a
    /// new one starts): the broken variant the rollout check must catch.
    pub fn recreate_strategy(self) -> Self {
        self.edit(Edit::Recreate)
    }

    /// Deploy with these secret values.
    pub fn secrets(mut self, s: SecretSet) -> Self {
        self.secrets = Some(s);
        self
    }

    /// A Helm `--set` only (a test of the chart's own values).
    pub fn helm_set(mut self, key: &str, value: &str) -> Self {
        self.helm_set.push((key.into(), value.into()));
        self
    }

    /// The raw path's overrides.
    pub fn raw_overrides(&self) -> RawOverrides {
        RawOverrides::new(self.edits.clone())
    }

    /// Every edit the Helm path's post-renderer makes.
    fn helm_path_edits(&self) -> Vec<Edit> {
        self.edits.iter().chain(&self.helm_edits).cloned().collect()
    }
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
        let turn = ctx.deploy_turns.take().await;
        let install = helm_install(ctx, &namespace, variant).map_err(|e| fail("chart", &e))?;
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
                let mut labels = raw::namespace_labels(&objects);
                // Most charts hold no Namespace (`helm install --create-namespace`):
                // the team's manifests then declare its labels for both paths.
                if labels.is_empty() {
                    labels = raw::load_manifests(&ctx.manifests_dir())
                        .map(|o| raw::namespace_labels(&o))
                        .unwrap_or_default();
                }
                (labels, Some(text))
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
                let overrides = variant.raw_overrides();
                raw::deploy(&ctx.client, &namespace, &ctx.manifests_dir(), &secrets, &overrides).await.map(|_| ())
            }
            DeployPath::Helm => {
                crate::deploy::helm::deploy(&ctx.client, &ctx.helm, &install, &secrets).await.map(|_| ())
            }
        };
        drop(turn);
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
    /// `ready_within_secs`), the run's redaction and what the deployment
    /// promises its containers (so dead ends name the fields that break it).
    pub fn waiter(&self, ctx: &LiveContext) -> Waiter {
        Waiter::new(ctx.client.clone(), &self.namespace)
            .deadline(ctx.config.policy.ready_within())
            .redactor(self.secrets.redactor())
            .load_balancer(Some(ctx.load_balancer()), Duration::from_secs(20))
            .expectations(crate::wait::cause::Expectations::load(&ctx.config))
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

    /// The Helm install description of this app with `variant`'s values and edits.
    #[expect(clippy::result_large_err, reason = "the CheckFailure every check returns (async ones are not linted)")]
    pub fn helm_install(&self, ctx: &LiveContext, variant: &Variant) -> Result<HelmInstall, CheckFailure> {
        helm_install(ctx, &self.namespace, variant)
            .map_err(|e| CheckFailure::new(self.path, "chart", format!("{} ({}): {e}", self.namespace, variant.name)))
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

/// The Helm install of `variant` in `namespace`; its edits, if any, as a
/// post-renderer (files under kubegate's state directory, per namespace).
fn helm_install(ctx: &LiveContext, namespace: &str, variant: &Variant) -> Result<HelmInstall, String> {
    let mut i = HelmInstall::new(ctx.chart_dir(), namespace);
    i.release = ctx.config.release.clone();
    i.existing_secret = ctx.config.secrets.first().map(|s| s.name.clone());
    for (k, v) in &variant.helm_set {
        i = i.with_set(k, v);
    }
    let edits = variant.helm_path_edits();
    if !edits.is_empty() {
        let kubegate = ctx.kubegate_bin().map_err(|e| e.to_string())?;
        let dir = crate::dirs::state_dir().join("helm-edits").join(namespace);
        i.post_renderer = Some(PostRenderer::prepare(&kubegate, &edits, &dir).map_err(|e| e.to_string())?);
    }
    Ok(i)
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
    fn variants_are_edits_of_both_paths_and_helm_only_edits_stay_on_helm() {
        let v = Variant::standard("t").small().image("api", "api:2").helm_edit(Edit::Recreate);
        assert_eq!(v.raw_overrides().edits, v.edits, "the raw path gets the shared edits");
        assert!(v.edits.contains(&Edit::Image { container: "api".into(), image: "api:2".into() }));
        assert!(v.edits.contains(&Edit::Replicas { replicas: 1 }));
        assert!(!v.raw_overrides().edits.contains(&Edit::Recreate), "helm-only edits stay off the raw path");
        assert_eq!(v.helm_path_edits().last(), Some(&Edit::Recreate));
        assert!(v.helm_set.is_empty(), "no chart values keys are guessed");
    }

    #[test]
    fn the_fault_switch_edits_only_the_named_container() {
        let switch = crate::config::FaultSwitch {
            path: "/debug/hang".into(),
            env: [("HANG".to_owned(), "1".to_owned())].into(),
            helm_set: [("debug.hang".to_owned(), "true".to_owned())].into(),
        };
        let v = Variant::standard("t").fault_switch("api", &switch);
        assert_eq!(v.helm_set, [("debug.hang".to_owned(), "true".to_owned())]);
        assert_eq!(v.edits, [Edit::Env { container: "api".into(), name: "HANG".into(), value: "1".into() }]);
    }
}
