//! Probes, live (P12): deadlines, contract endpoints, database outage, liveness fault, a replaced pod.

use kubegate::live::app::Variant;
use kubegate::live::database::TestDatabase;
use kubegate::live::probes;
use kubegate_suites::live::{finish, fresh_context, own};

per_path!(
    /// Pods Running within 60 s and Ready within 90 s of creation.
    ready_within_plan_deadlines, |ctx, app| probes::rollout_deadlines(ctx, app).await
);

per_path!(
    /// Every contract operation answers through its Service (port-forward) as declared.
    contract_endpoints_answer, |ctx, app| probes::endpoints(ctx, app).await
);

per_path_own!(
    /// Database stopped: backend NotReady, out of the EndpointSlice, no restart; restarted: Ready.
    database_outage, |path| {
        let ctx = fresh_context().await;
        let ip = ctx.cluster.node_ip.expect("the cluster reports the node IP pods reach the host through");
        let db = TestDatabase::start(ip).unwrap_or_else(|e| panic!("[{path}] test database: {e}"));
        let mut secrets = ctx.secrets.clone();
        secrets.set("DATABASE_URL", db.url());
        let app = own(&ctx, path, &Variant::standard("db-outage").small().secrets(secrets)).await;
        let result = probes::database_outage(&ctx, &app, &db).await;
        finish(&ctx, app, result).await;
    }
);

per_path_own!(
    /// POST /fault/liveness (FAULT_INJECTION=enabled) makes the kubelet restart the container.
    liveness_failure_restarts_container, |path| {
        let ctx = fresh_context().await;
        let app = own(&ctx, path, &Variant::standard("liveness").small().fault_injection()).await;
        let result = probes::liveness_restart(&ctx, &app).await;
        finish(&ctx, app, result).await;
    }
);

per_path_own!(
    /// A deleted backend pod is replaced and Ready; an open port-forward reaches the new pod.
    replaced_pod_is_followed, |path| {
        let ctx = fresh_context().await;
        let app = own(&ctx, path, &Variant::standard("replaced").small()).await;
        let result = probes::tunnel_follows_replacement(&ctx, &app).await;
        finish(&ctx, app, result).await;
    }
);
