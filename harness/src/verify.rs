//! `kubegate verify` as a library call, the main job in one function:
//! build the images, ensure a cluster, load the images, check both paths
//! statically, deploy both paths, run every live suite, write the reports
//! (JUnit, JSON, Markdown with a pass/fail table per principle and path),
//! tear down. Each step prints progress; [`VerifyOutcome`] carries the
//! report and the timings `ci/bench/verify.sh` reads.

use crate::check::{CheckError, CheckRequest};
use crate::config::{Config, LoadConfigError};
use crate::deploy::RunId;
use crate::exit::{ExitCode, HasExitCode};
use crate::finding::{DeployPath, Finding, ObjectRef, Severity};
use crate::image_check::{configured_user, over_budget, size_text, user_problem};
use crate::images::{BuildImagesError, BuiltImage};
use crate::live::context::{LiveContext, PrepareLiveError, live_secrets};
use crate::live::run::{LiveRun, RunOptions, run_all};
use crate::process::{CommandRunner, SystemRunner};
use crate::progress::Step;
use crate::provider::{ClusterInfo, ProviderConfig, ProviderError, ProviderKind, provider_for};
use crate::report::{Case, CheckInfo, Format, RenderOptions, Report, ScopeSummary};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// What to verify and how.
#[derive(Debug, Clone)]
pub struct VerifyRequest {
    /// The deployment under test.
    pub config: Config,
    /// Which provider to use.
    pub provider: ProviderKind,
    /// How to start it.
    pub provider_config: ProviderConfig,
    /// Leave the namespaces in place.
    pub keep: bool,
    /// Where to write reports (default `target/kubegate/<run-id>/`).
    pub report_dir: Option<PathBuf>,
    /// Run the destructive checks too (default true).
    pub destructive: bool,
    /// Destructive checks at once (each in a namespace of its own).
    pub parallel: usize,
    /// Values for the Secrets' keys (`--env-file`); `None` = the environment.
    pub env_file: Option<PathBuf>,
}

/// Why verify could not reach a verdict (a failed check is not an error: it is in the report).
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// kubegate.toml is invalid.
    #[error(transparent)]
    Config(#[from] LoadConfigError),
    /// The images could not be built.
    #[error("building the images failed")]
    Images(#[source] BuildImagesError),
    /// The static check could not run.
    #[error("the static check could not run")]
    Check(#[source] CheckError),
    /// No cluster.
    #[error("no cluster: start one with `ci/setup.sh k8s` (local) or pass --provider minikube|kind|existing")]
    Cluster(#[source] ProviderError),
    /// The images could not be loaded into the cluster.
    #[error("loading the images into the cluster failed")]
    LoadImages(#[source] ProviderError),
    /// Client, helm or secrets could not be prepared.
    #[error(transparent)]
    Prepare(#[from] PrepareLiveError),
    /// A report could not be written.
    #[error("cannot write the report {}", path.display())]
    WriteReport {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

impl HasExitCode for VerifyError {
    fn exit_code(&self) -> ExitCode {
        match self {
            VerifyError::Config(_) => ExitCode::BadInput,
            VerifyError::Images(e) => e.exit_code(),
            VerifyError::Check(e) => e.exit_code(),
            VerifyError::Cluster(e) => match e.exit_code() {
                ExitCode::BadInput => ExitCode::BadInput,
                _ => ExitCode::Cluster,
            },
            VerifyError::LoadImages(_) => ExitCode::Cluster,
            VerifyError::Prepare(e) => e.exit_code(),
            VerifyError::WriteReport { .. } => ExitCode::Infrastructure,
        }
    }
}

/// Timings of one run, for people and for `ci/bench/verify.sh`.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Timings {
    /// Seconds from start to verdict.
    pub verdict_secs: f64,
    /// Seconds per step.
    pub steps: Vec<(String, f64)>,
    /// Rollout waits: what, seconds the wait took, seconds between the
    /// kubelet's Ready and the wait noticing it.
    pub waits: Vec<WaitTiming>,
    /// Requests sent and lost during each rolling upgrade.
    pub upgrades: Vec<UpgradeTiming>,
    /// How long each namespace of the run took to go.
    pub teardowns: Vec<TeardownTiming>,
}

/// One namespace's teardown.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TeardownTiming {
    /// raw or helm.
    pub path: String,
    /// The destructive check whose namespace it was, or `shared`.
    pub of: String,
    /// Seconds from the start of the teardown to the namespace gone.
    pub secs: f64,
}

/// One rollout wait.
#[derive(Debug, Clone, serde::Serialize)]
pub struct WaitTiming {
    /// raw or helm.
    pub path: String,
    /// What was waited for.
    pub what: String,
    /// Seconds the wait took.
    pub took_secs: f64,
    /// Seconds from the kubelet's Ready to the wait's end (API timestamps
    /// have second resolution).
    pub overhead_secs: Option<f64>,
}

/// One rolling upgrade under load.
#[derive(Debug, Clone, serde::Serialize)]
pub struct UpgradeTiming {
    /// raw or helm.
    pub path: String,
    /// Requests sent.
    pub sent: u64,
    /// Requests that failed.
    pub lost: u64,
    /// Seconds the upgrade took.
    pub upgrade_secs: f64,
}

/// The verdict and where it was written.
#[derive(Debug)]
pub struct VerifyOutcome {
    /// The run id (namespaces `kg-<id>-raw|helm`).
    pub run: RunId,
    /// The whole report.
    pub report: Report,
    /// Where the reports are.
    pub report_dir: PathBuf,
    /// Timings.
    pub timings: Timings,
    /// Namespaces left behind (`--keep`, or a deletion that failed).
    pub left: Vec<String>,
}

impl VerifyOutcome {
    /// `Success` when every case passed (or is waived), else `Findings`.
    pub fn exit_code(&self) -> ExitCode {
        self.report.exit_code()
    }
}

/// The principle of the plan's constitution a static rule family proves.
pub fn principle_of_family(family: &str) -> &'static str {
    match family {
        "SEC" | "SECRET" | "NET" | "NS" => "P5",
        "IMG" => "P11",
        "RES" | "PROBE" | "HPA" | "WL" | "CONTRACT" => "P12",
        "PARITY" | "LABEL" => "P14",
        // SVC, ENV (ConfigMaps for settings), API (stable kinds): the containerized architecture.
        _ => "P3",
    }
}

/// Image checks (P11), one case each per image.
const IMAGE_CHECKS: [(&str, &str); 2] = [
    ("LIVE-IMAGE-BUDGET", "each image is within its size budget"),
    ("LIVE-IMAGE-NONROOT", "each image runs as the non-root user and group 10001 by default"),
];

fn image_cases(runner: &dyn CommandRunner, built: &[BuiltImage], config: &Config) -> Vec<Case> {
    let mut budget = Vec::new();
    let mut user = Vec::new();
    for b in built {
        let comp = config.components.iter().find(|c| c.image == b.image);
        let limit = comp.map(|c| c.image_size_mb).unwrap_or(0);
        if let Some(why) = over_budget(b.size_bytes, limit).filter(|_| limit > 0) {
            budget.push(image_finding("LIVE-IMAGE-BUDGET", &b.image, why));
        }
        let problem = match configured_user(runner, &b.image) {
            Ok(u) => user_problem(&u, config.policy.min_uid),
            Err(e) => Some(format!("cannot read the image user: {e}")),
        };
        if let Some(why) = problem {
            user.push(image_finding("LIVE-IMAGE-NONROOT", &b.image, why));
        }
    }
    let mut c = Case::from_findings("LIVE-IMAGE-BUDGET", "images", budget);
    c.note =
        Some(built.iter().map(|b| format!("{} {}", b.image, size_text(b.size_bytes))).collect::<Vec<_>>().join(", "));
    vec![c, Case::from_findings("LIVE-IMAGE-NONROOT", "images", user)]
}

fn image_finding(id: &str, image: &str, message: String) -> Finding {
    Finding {
        rule_id: id.into(),
        severity: Severity::High,
        path: DeployPath::Raw,
        object: ObjectRef { kind: "Image".into(), name: image.into(), namespace: None },
        field: None,
        message,
        fix: "see P11: FROM scratch, one static binary, USER 10001:10001".into(),
        source: None,
        waived: None,
    }
}

/// The static check's report with each rule's family replaced by its principle.
fn static_part(config: &Config) -> Result<Report, CheckError> {
    let started = Instant::now();
    let outcome = crate::check::run(&CheckRequest::from_config(config.clone()))?;
    let mut r = Report::from_check(&outcome, Some(started.elapsed()));
    for c in &mut r.checks {
        c.family = principle_of_family(&c.family).to_owned();
    }
    Ok(r)
}

/// Run the whole job. Errors mean no verdict could be reached; a failed
/// check is in the outcome's report.
pub async fn verify(req: &VerifyRequest) -> Result<VerifyOutcome, VerifyError> {
    let started = Instant::now();
    let run = RunId::random();
    let report_dir = req.report_dir.clone().unwrap_or_else(|| crate::dirs::artifacts_dir().join(run.as_str()));
    let mut timings = Timings::default();
    eprintln!("kubegate verify: run {run}, provider {}, reports in {}", req.provider, report_dir.display());
    let mut lap = Instant::now();
    let mut mark = |timings: &mut Timings, name: &str| {
        timings.steps.push((name.to_owned(), lap.elapsed().as_secs_f64()));
        lap = Instant::now();
    };

    // Live for the sweeper (of this and other runs) until the end.
    let _live = crate::live::app::hold_run(&run);

    let mut recipes = crate::images::recipes(&req.config).map_err(VerifyError::Images)?;
    let components = recipes.len();
    // kubegate's own images (the liveness check's freezer) only serve the destructive checks.
    if req.destructive {
        recipes.extend(crate::images::kubegate_recipes(&req.config).map_err(VerifyError::Images)?);
    }
    let mut built = tokio::task::spawn_blocking(move || crate::images::ensure_built(&SystemRunner, &recipes))
        .await
        .map_err(|e| {
            VerifyError::Images(BuildImagesError::Io {
                action: "image build task failed:",
                path: PathBuf::from(e.to_string()),
                source: std::io::Error::other("join"),
            })
        })?
        .map_err(VerifyError::Images)?;
    // Only the components' images are judged (P11); kubegate's own are loaded.
    let own_images = built.split_off(components.min(built.len()));
    mark(&mut timings, "images");

    let step = Step::start("static check of both paths (rules, contract, parity)");
    let static_report = static_part(&req.config);
    if let Ok(r) = &static_report {
        step.note(format!("{} cases, {} failing findings", r.cases.len(), r.failing().count()));
    }
    let static_report = step.finish(static_report).map_err(VerifyError::Check)?;
    mark(&mut timings, "static check");

    let kind = req.provider;
    let pcfg = req.provider_config.clone();
    let cluster: ClusterInfo =
        tokio::task::spawn_blocking(move || crate::provider::ensure::ensure_cluster(kind, &pcfg))
            .await
            .map_err(|e| VerifyError::Cluster(ProviderError::Refused(format!("cluster task failed: {e}"))))?
            .map_err(VerifyError::Cluster)?;
    mark(&mut timings, "cluster");

    let ctx = LiveContext::connect(
        cluster.clone(),
        req.config.clone(),
        live_secrets(&req.config, cluster.node_ip, req.env_file.as_deref())?,
    )
    .await?;

    let step = Step::start("sweeping what earlier killed runs left behind");
    let pg = crate::postgres::sweep_stale();
    match crate::sweep::find_leftovers(&ctx.client, None).await {
        Ok(left) => {
            for l in &left {
                step.note(format!("leftover namespace {} (run {}, {}s old)", l.namespace, l.run, l.age.as_secs()));
            }
            let swept = crate::sweep::sweep(&ctx.client, Some(&ctx.helm), left, Duration::from_secs(120)).await;
            for s in swept.iter().filter(|s| s.result.is_err()) {
                step.fail(format!(
                    "could not remove {}: {}",
                    s.leftover.namespace,
                    s.result.as_ref().err().map(|e| e.to_string()).unwrap_or_default()
                ));
            }
            step.note(format!("{} namespace(s) and {pg} stale test database(s) removed", swept.len()));
            step.ok();
        }
        Err(e) => {
            step.note(format!("cannot list leftovers: {e}"));
            step.failed();
        }
    }
    mark(&mut timings, "sweep");
    let step = Step::start("loading the images into the cluster (and the upgrade tag)");
    let mut images: Vec<String> = built.iter().chain(&own_images).map(|b| b.image.clone()).collect();
    if req.destructive {
        match crate::live::rollout::retag_images(&SystemRunner, &ctx) {
            Ok(more) => images.extend(more),
            Err(e) => step.note(format!("cannot re-tag for the upgrade check: {e}")),
        }
    }
    let (kind, pcfg, imgs) = (req.provider, req.provider_config.clone(), images.clone());
    let loaded = tokio::task::spawn_blocking(move || provider_for(kind, &pcfg).load_images(&imgs))
        .await
        .map_err(|e| VerifyError::LoadImages(ProviderError::Refused(format!("load task failed: {e}"))))?;
    if let Err(e) = loaded {
        step.failed();
        return Err(VerifyError::LoadImages(e));
    }
    step.note(images.join(", "));
    step.ok();
    mark(&mut timings, "load images");

    let opts = RunOptions {
        destructive: req.destructive,
        artifacts: vec![report_dir.clone()],
        keep: req.keep,
        parallel: req.parallel,
    };
    let live = run_all(&ctx, &run, &opts).await;
    mark(&mut timings, "live suites");

    let report = assemble(&static_report, &built, &req.config, &live, started.elapsed());
    timings.verdict_secs = started.elapsed().as_secs_f64();
    for (path, w) in &live.waits {
        timings.waits.push(WaitTiming {
            path: path.to_string(),
            what: w.what.clone(),
            took_secs: w.took.as_secs_f64(),
            overhead_secs: w.overhead().map(|d| d.as_secs_f64()),
        });
    }
    for (path, u) in &live.upgrades {
        timings.upgrades.push(UpgradeTiming {
            path: path.to_string(),
            sent: u.load.sent,
            lost: u.load.failed,
            upgrade_secs: u.upgrade_secs,
        });
    }
    for t in &live.teardowns {
        timings.teardowns.push(TeardownTiming {
            path: t.path.to_string(),
            of: t.of.to_string(),
            secs: t.took.as_secs_f64(),
        });
    }
    write_reports(&report, &timings, &report_dir, &ctx.redactor())?;
    Ok(VerifyOutcome { run, report, report_dir, timings, left: live.left })
}

/// One report: static cases (families mapped to principles), image cases,
/// live cases; scopes raw, helm, parity, images.
fn assemble(static_report: &Report, built: &[BuiltImage], config: &Config, live: &LiveRun, took: Duration) -> Report {
    let mut checks: Vec<CheckInfo> = static_report.checks.clone();
    checks.extend(crate::live::CHECKS.iter().map(CheckInfo::from));
    for (id, title) in IMAGE_CHECKS {
        checks.push(CheckInfo {
            id: id.into(),
            family: "P11".into(),
            severity: Severity::High,
            title: title.into(),
            rationale: "P11 container image standards".into(),
            fix: "FROM scratch, one static binary, USER 10001:10001".into(),
        });
    }
    let mut scopes: Vec<ScopeSummary> = static_report.scopes.clone();
    for name in ["raw", "helm", "parity", "images"] {
        if !scopes.iter().any(|s| s.name == name) {
            scopes.push(ScopeSummary { name: name.into(), source: None, objects: None });
        }
    }
    let redactor = crate::redact::Redactor::default();
    let mut cases = static_report.cases.clone();
    cases.extend(image_cases(&SystemRunner, built, config));
    cases.extend(live.runs.iter().map(|r| r.to_case(&redactor)));
    // Principles first, in the plan's order, so the table reads P3 .. P14.
    let order = ["P3", "P5", "P11", "P12", "P14"];
    checks.sort_by_key(|c| order.iter().position(|p| *p == c.family).unwrap_or(order.len()));
    let subject = Some(config.release.clone());
    Report {
        title: format!("kubegate verify {}", config.release),
        subject,
        checks,
        scopes,
        cases,
        duration: Some(took),
    }
}

/// report.json, junit.xml, summary.md, report.txt and timings.json, each redacted.
fn write_reports(
    report: &Report,
    timings: &Timings,
    dir: &Path,
    redactor: &crate::redact::Redactor,
) -> Result<(), VerifyError> {
    std::fs::create_dir_all(dir).map_err(|source| VerifyError::WriteReport { path: dir.to_owned(), source })?;
    let opts = RenderOptions { color: false };
    for (file, format) in [
        ("report.json", Format::Json),
        ("junit.xml", Format::Junit),
        ("summary.md", Format::Markdown),
        ("report.txt", Format::Text),
    ] {
        let text = report.render(format, opts).unwrap_or_else(|e| format!("cannot render: {e}"));
        let path = dir.join(file);
        std::fs::write(&path, redactor.redact_str(&text).as_bytes())
            .map_err(|source| VerifyError::WriteReport { path, source })?;
    }
    let path = dir.join("timings.json");
    let json = serde_json::to_string_pretty(timings).unwrap_or_default();
    std::fs::write(&path, json).map_err(|source| VerifyError::WriteReport { path, source })?;
    Ok(())
}

/// The final table: one row per principle, one column per scope,
/// `PASS n/m`, `FAIL (ids)` or `-`.
pub fn verdict_table(report: &Report) -> String {
    use crate::report::Status;
    let scopes: Vec<&str> = report.scopes.iter().map(|s| s.name.as_str()).collect();
    let mut out = format!("{:<10}", "principle");
    for s in &scopes {
        out.push_str(&format!(" {s:<28}"));
    }
    out.push('\n');
    for family in report.families() {
        out.push_str(&format!("{family:<10}"));
        for s in &scopes {
            let cases: Vec<&Case> = report
                .cases
                .iter()
                .filter(|c| c.scope == *s && report.check(&c.check).is_some_and(|k| k.family == family))
                .collect();
            let cell = if cases.is_empty() {
                "-".to_owned()
            } else {
                let failed: Vec<&str> =
                    cases.iter().filter(|c| c.status == Status::Failed).map(|c| c.check.as_str()).collect();
                let waived = cases.iter().filter(|c| c.status == Status::Waived).count();
                let ok = cases.iter().filter(|c| matches!(c.status, Status::Passed | Status::Waived)).count();
                if failed.is_empty() {
                    let w = if waived > 0 { format!(" ({waived} waived/limited)") } else { String::new() };
                    format!("PASS {ok}/{}{w}", cases.len())
                } else {
                    format!("FAIL {}/{}", failed.len(), cases.len())
                }
            };
            out.push_str(&format!(" {cell:<28}"));
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_family_maps_to_a_principle_of_the_plan() {
        for r in crate::rules::catalog() {
            assert!(["P3", "P5", "P11", "P12", "P14"].contains(&principle_of_family(r.family())), "{}", r.id);
        }
        assert_eq!(principle_of_family("PROBE"), "P12");
        assert_eq!(principle_of_family("SECRET"), "P5");
    }

    #[test]
    fn image_cases_flag_a_root_user_and_an_image_over_budget() {
        use crate::process::{FakeRunner, Output};
        let fake = FakeRunner::new();
        fake.reply(
            &["docker", "image", "inspect", "--format", "{{.Config.User}}", "todo-chatbot-backend:0.1.0"],
            [Output::ok("10001:10001\n")],
        );
        // A bare `USER 10001` runs in the root group.
        fake.reply(&["docker", "image", "inspect", "--format", "{{.Config.User}}"], [Output::ok("10001\n")]);
        let config = Config::default();
        let built = [
            BuiltImage { image: "todo-chatbot-backend:0.1.0".into(), id: "sha256:a".into(), size_bytes: 9_000_000 },
            BuiltImage { image: "todo-chatbot-frontend:0.1.0".into(), id: "sha256:b".into(), size_bytes: 600_000_000 },
        ];
        let cases = image_cases(fake.as_ref(), &built, &config);
        let failing = |id: &str| {
            cases
                .iter()
                .find(|c| c.check == id)
                .expect("case")
                .findings
                .iter()
                .map(|f| f.object.name.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(failing("LIVE-IMAGE-BUDGET"), ["todo-chatbot-frontend:0.1.0"]);
        assert_eq!(failing("LIVE-IMAGE-NONROOT"), ["todo-chatbot-frontend:0.1.0"]);
        assert_eq!(fake.calls().len(), 2);
        assert_eq!(
            fake.calls()[0],
            ["docker", "image", "inspect", "--format", "{{.Config.User}}", "todo-chatbot-backend:0.1.0"]
        );
    }

    #[test]
    fn table_marks_failures_per_principle_and_scope() {
        let checks = vec![
            CheckInfo {
                id: "A".into(),
                family: "P5".into(),
                severity: Severity::High,
                title: "a".into(),
                rationale: String::new(),
                fix: String::new(),
            },
            CheckInfo {
                id: "B".into(),
                family: "P12".into(),
                severity: Severity::High,
                title: "b".into(),
                rationale: String::new(),
                fix: String::new(),
            },
        ];
        let scopes =
            ["raw", "helm"].iter().map(|n| ScopeSummary { name: (*n).into(), source: None, objects: None }).collect();
        let bad = image_finding("B", "x", "broken".into());
        let cases = vec![
            Case::from_findings("A", "raw", vec![]),
            Case::from_findings("A", "helm", vec![]),
            Case::from_findings("B", "raw", vec![]),
            Case::from_findings("B", "helm", vec![bad]),
        ];
        let r = Report { title: "t".into(), subject: None, checks, scopes, cases, duration: None };
        let t = verdict_table(&r);
        let p12 = t.lines().find(|l| l.starts_with("P12")).expect("P12 row");
        assert!(p12.contains("PASS 1/1") && p12.contains("FAIL 1/1"), "{t}");
        assert!(t.lines().find(|l| l.starts_with("P5")).expect("P5 row").matches("PASS 1/1").count() == 2, "{t}");
    }
}
