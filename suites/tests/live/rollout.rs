//! Rollout safety, live (P12): an upgrade to a new image tag under load loses no request.

use kubegate::live::app::Variant;
use kubegate::live::rollout;
use kubegate_suites::live::{finish, fresh_context, own};

per_path_own!(
    /// `helm upgrade` (raw: re-apply) to tag 0.1.1 under a steady load: zero failed requests.
    upgrade_under_load_loses_nothing, |path| {
        let ctx = fresh_context().await;
        let mut app = own(&ctx, path, &Variant::standard("upgrade").small()).await;
        let result = rollout::no_request_lost(&ctx, &mut app).await;
        finish(&ctx, app, result).await;
    }
);
