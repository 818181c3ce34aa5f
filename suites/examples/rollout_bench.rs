//! The rolling-upgrade check, repeated: `ci/bench/rollout.sh` runs this.
//!
//! One deployment per path (both at once, each in its own namespace), then
//! N upgrades under load on each, back and forth between the built tag and
//! the upgrade tag (each a real rolling update of both Deployments, measured
//! by the same `rollout::upgrade_under_load_to` and `rollout::judge` as the
//! live suite). One TSV line per upgrade on stdout:
//! `label path run sent lost upgrade_s propagation`; every lost request is
//! laid out on stderr beside the pod and endpoint changes around it.
//! Exit 1 when any request was lost.
//!
//! usage: rollout_bench [RUNS (20)] [LABEL (idle)]

use kubegate::finding::DeployPath;
use kubegate::live::app::Variant;
use kubegate::live::rollout;
use kubegate_suites::live::{fresh_context, own};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> std::process::ExitCode {
    let mut args = std::env::args().skip(1);
    let runs: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(20);
    let label = args.next().unwrap_or_else(|| "idle".into());
    let ctx = fresh_context().await;
    let built_tag = ctx.config.components[0].image.rsplit_once(':').map(|(_, t)| t.to_owned()).unwrap_or_default();
    let bench = |path: DeployPath| {
        let (ctx, label, built_tag) = (&ctx, &label, &built_tag);
        async move {
            let mut app = own(ctx, path, &Variant::standard("rollout-bench").small()).await;
            let mut lost_total = 0;
            for run in 1..=runs {
                let tag = if run % 2 == 1 { rollout::UPGRADE_TAG } else { built_tag.as_str() };
                let line = match rollout::upgrade_under_load_to(ctx, &mut app, tag).await {
                    Ok(out) => {
                        let propagation = rollout::late_answers(&out.load, &out.events).unwrap_or_else(|| "-".into());
                        if let Err(f) = rollout::judge(ctx, &app, &out).await {
                            eprintln!("[{label} {path} run {run}] {f}\n{}", f.evidence.as_deref().unwrap_or_default());
                        }
                        lost_total += out.load.failed;
                        format!(
                            "{label}\t{path}\t{run}\t{}\t{}\t{:.1}\t{propagation}",
                            out.load.sent, out.load.failed, out.upgrade_secs
                        )
                    }
                    Err(f) => {
                        lost_total += 1;
                        eprintln!("[{label} {path} run {run}] the upgrade itself failed: {f}");
                        format!("{label}\t{path}\t{run}\t-\t-\t-\tupgrade failed")
                    }
                };
                println!("{line}");
            }
            let _ = app.teardown(ctx).await;
            lost_total
        }
    };
    let (raw, helm) = tokio::join!(bench(DeployPath::Raw), bench(DeployPath::Helm));
    if raw + helm == 0 { std::process::ExitCode::SUCCESS } else { std::process::ExitCode::from(1) }
}
