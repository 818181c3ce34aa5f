//! Secrets, live (P5): values used, never leaked, missing key diagnosed, rotation.

use kubegate::live::app::Variant;
use kubegate::live::secrets;
use kubegate_suites::live::{finish, fresh_context, own};

per_path!(
    /// JWT_SECRET signs accepted tokens (another secret: 401); DATABASE_URL connects.
    pods_use_the_secret_values, |ctx, app| secrets::values_in_use(ctx, app).await
);

per_path!(
    /// The actual values appear in no ConfigMap, annotation, event, pod spec, Helm record,
    /// log, or kubegate artifact.
    no_value_leaks, |ctx, app| {
        // This run's artifacts (diagnostics bundles land in target/kubegate/<run-id>/).
        let artifacts = kubegate::dirs::artifacts_dir().join(app.run.as_str());
        secrets::no_leaks(ctx, app, &[artifacts.as_path()]).await
    }
);

per_path_own!(
    /// Rotating JWT_SECRET + rollout restart: the new value works, an old token is refused.
    rotation_takes_effect, |path| {
        let ctx = fresh_context().await;
        let mut app = own(&ctx, path, &Variant::standard("rotation").small()).await;
        let result = secrets::rotation(&ctx, &mut app).await;
        finish(&ctx, app, result).await;
    }
);
