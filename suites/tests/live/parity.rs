//! Parity, live (P14): both paths hold the same objects and give the same answers.

use kubegate::finding::DeployPath;
use kubegate::live::parity;
use kubegate_suites::live::{expect_pass, shared};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_objects_equal_raw_helm() {
    let (ctx, raw) = shared(DeployPath::Raw).await;
    let (_, helm) = shared(DeployPath::Helm).await;
    expect_pass(parity::objects_equal(&ctx, &raw, &helm).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_answers_raw_helm() {
    let (ctx, raw) = shared(DeployPath::Raw).await;
    let (_, helm) = shared(DeployPath::Helm).await;
    expect_pass(parity::same_answers(&ctx, &raw, &helm).await);
}
