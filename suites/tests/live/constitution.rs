//! The constitution, live (P3, P5, P12): dry run, Pod Security, declared pod specs, HPA.

use kubegate::live::constitution;

per_path!(
    /// A server-side dry run accepts every object of the path.
    dry_run, |ctx, app| constitution::dry_run(ctx, app).await
);

per_path!(
    /// The namespace enforces `restricted`: a privileged pod is refused, the app's pods run.
    pod_security_restricted, |ctx, app| constitution::pod_security(ctx, app).await
);

per_path!(
    /// Running pods carry the declared securityContext, resources and probes.
    pods_carry_declared_spec, |ctx, app| constitution::pod_specs(ctx, app).await
);

per_path!(
    /// Each HPA reads metrics and the backend's scales up under CPU load and decides to scale down
    /// after; on a cluster with no metrics API, each says why not (reported as a known limitation).
    hpa_scales_under_load_or_says_why, |ctx, app| constitution::hpa(ctx, app).await
);
