//! Live suites: the chatbot deployed by BOTH paths (raw manifests, Helm
//! chart) on a real cluster. The cases are generated from the one table of
//! live checks (`kubegate::live::checks::CHECKS`), which `kubegate verify`
//! runs too: one case per check and path (`live::<suite>::<test>::raw` /
//! `::helm`, parity checks `::raw_helm`), so nextest's JUnit lists each case
//! per path and every failure names its path. The broken deployments that
//! must fail them are in `live/broken.rs`.
//!
//! This is a libtest-mimic harness (`harness = false`): nextest lists and
//! runs its cases like any other test binary, one process per case.
//!
//! Needs a cluster with the images loaded: `ci/setup.sh k8s` (the local
//! provider by default; `KUBEGATE_PROVIDER=minikube|kind|existing`
//! overrides). Without one every case FAILS with "start a cluster:
//! ci/setup.sh k8s". `KUBEGATE_CONFIG=fixtures/taskly/kubegate.toml` checks
//! that deployment instead of this repo's chatbot (the `broken` cases are the
//! chatbot's own). Checks that only look share one deployment per path
//! (`kubegate_suites::live::shared`); destructive ones deploy in namespaces
//! of their own, so cases run several at a time. `zz_teardown` is listed
//! last: it waits until no case of this run uses the shared deployments,
//! then removes them.

use kubegate::finding::DeployPath;
use kubegate::live::checks::{CHECKS, LiveCheck, Record, Run, Scope, run_own};
use kubegate::live::run::{Deployed, run_one};
use kubegate_suites::live::{expect_pass, fresh_context, shared};
use libtest_mimic::{Arguments, Failed, Trial};

mod live {
    pub mod broken;
}

fn main() {
    let args = Arguments::from_args();
    let mut trials: Vec<Trial> = CHECKS
        .iter()
        .flat_map(|check| {
            check
                .scopes()
                .iter()
                .map(move |scope| Trial::test(check.test_name(scope), move || block_on(check_case(check, scope))))
        })
        .collect();
    trials.extend(live::broken::trials());
    trials.push(Trial::test("zz_teardown", || {
        block_on(async {
            let gone = kubegate_suites::live::teardown_shared().await;
            eprintln!("    removed shared namespaces: {gone:?}");
        })
    }));
    libtest_mimic::run(&args, trials).exit();
}

/// Run one case on a runtime of its own (each nextest case is a process).
pub fn block_on(case: impl Future<Output = ()>) -> Result<(), Failed> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Failed::from(format!("cannot start a tokio runtime: {e}")))?;
    rt.block_on(case);
    Ok(())
}

/// One check on one scope, exactly as `kubegate verify` runs it.
async fn check_case(check: &'static LiveCheck, scope: &str) {
    let record = Record::default();
    let result = match check.run {
        Run::Own(..) | Run::OwnDatabase(..) => {
            let ctx = fresh_context().await;
            let path = kubegate::live::path_of(scope);
            run_own(&Scope { ctx: &ctx, artifacts: &[], record: &record }, check, path).await
        }
        Run::Pair(_) => {
            let (ctx, raw) = shared(DeployPath::Raw).await;
            let (_, helm) = shared(DeployPath::Helm).await;
            let (raw, helm) = (Ok(raw), Ok(helm));
            let scope_ = Scope { ctx: &ctx, artifacts: &[], record: &record };
            run_one(&scope_, &Deployed { raw: &raw, helm: &helm }, check, scope).await.result
        }
        Run::Shared(_) | Run::SharedLast(_) => {
            let path = kubegate::live::path_of(scope);
            let (ctx, app) = shared(path).await;
            // This run's artifacts (diagnostics bundles land in target/kubegate/<run-id>/).
            let artifacts = [kubegate::dirs::artifacts_dir().join(app.run.as_str())];
            let (mut raw, mut helm) = (Err(not_this_path()), Err(not_this_path()));
            *(if path == DeployPath::Helm { &mut helm } else { &mut raw }) = Ok(app);
            let scope_ = Scope { ctx: &ctx, artifacts: &artifacts, record: &record };
            run_one(&scope_, &Deployed { raw: &raw, helm: &helm }, check, scope).await.result
        }
    };
    expect_pass(result);
}

/// The other path's slot of a one-path case (never read: the case runs on its own path).
fn not_this_path() -> kubegate::live::CheckFailure {
    kubegate::live::CheckFailure::both("deployments", "this case runs on the other path")
}
