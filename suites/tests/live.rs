//! Live suites: the chatbot deployed by BOTH paths (raw manifests, Helm
//! chart) on a real cluster, checked by the same library functions
//! `kubegate verify` runs (`kubegate::live`). Every check is one test per
//! path (`<suite>::<check>::raw` / `::helm`), so nextest's JUnit lists each
//! case per path; every failure names its path.
//!
//! Needs a cluster with the images loaded: `ci/setup.sh k8s` (the local
//! provider by default; `KUBEGATE_PROVIDER=minikube|kind|existing`
//! overrides). Without one every test FAILS with "start a cluster:
//! ci/setup.sh k8s". Non-destructive tests share one deployment per path
//! (`kubegate_suites::live::shared`); destructive ones get their own
//! namespaces. The binary runs in nextest's `cluster` group (one test at a
//! time); `zz_teardown` runs last and removes the shared namespaces.

/// One test per deploy path running `$body` against the shared deployment.
macro_rules! per_path {
    ($(#[$meta:meta])* $name:ident, |$ctx:ident, $app:ident| $body:expr) => {
        $(#[$meta])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            async fn check($ctx: &kubegate::live::context::LiveContext, $app: &kubegate::live::app::DeployedApp) -> kubegate::live::CheckResult {
                $body
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn raw() {
                let (ctx, app) = kubegate_suites::live::shared(kubegate::finding::DeployPath::Raw).await;
                kubegate_suites::live::expect_pass(check(&ctx, &app).await);
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn helm() {
                let (ctx, app) = kubegate_suites::live::shared(kubegate::finding::DeployPath::Helm).await;
                kubegate_suites::live::expect_pass(check(&ctx, &app).await);
            }
        }
    };
}

/// One test per deploy path calling `$body(path)` (destructive tests that
/// make their own namespaces).
macro_rules! per_path_own {
    ($(#[$meta:meta])* $name:ident, |$path:ident| $body:expr) => {
        $(#[$meta])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            async fn check($path: kubegate::finding::DeployPath) {
                $body
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn raw() {
                check(kubegate::finding::DeployPath::Raw).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn helm() {
                check(kubegate::finding::DeployPath::Helm).await;
            }
        }
    };
}

mod live {
    pub mod broken;
    pub mod constitution;
    pub mod loadbalancer;
    pub mod parity;
    pub mod probes;
    pub mod rollout;
    pub mod secrets;
}

/// Runs last (nextest orders a binary's tests by name and runs this binary
/// one test at a time): deletes the shared namespaces of this run. A run
/// killed before this point is swept by the next run's first test.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zz_teardown() {
    let gone = kubegate_suites::live::teardown_shared().await;
    eprintln!("    removed shared namespaces: {gone:?}");
}
