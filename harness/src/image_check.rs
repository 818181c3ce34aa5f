//! What a built image must be (P11), defined once for `kubegate verify` and
//! the container suite: within its size budget, counted in MiB (the unit of
//! `image_size_mb` in kubegate.toml), and running as a numeric non-root user
//! AND group of at least the policy's `min_uid` (a bare `USER 10001` leaves
//! the process in the root group 0).

use std::time::Duration;

use crate::process::{Cmd, CommandRunner, RunCommandError};

/// Bytes in a MiB, the one unit of image sizes.
pub const MIB: u64 = 1024 * 1024;
/// The UID and GID the reference chatbot's images run as.
pub const NON_ROOT_ID: u32 = 10001;
/// The reference images' `USER`, as `docker image inspect` shows it.
pub const NON_ROOT_USER: &str = "10001:10001";
/// Deadline of `docker image inspect`.
const INSPECT_TIMEOUT: Duration = Duration::from_secs(60);

/// A budget of `mib` MiB in bytes.
pub fn budget_bytes(mib: u64) -> u64 {
    mib * MIB
}

/// `12.3 MiB`, for messages and notes.
pub fn size_text(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / MIB as f64)
}

/// Why an image of `size_bytes` breaks a budget of `budget_mib` MiB, if it does.
pub fn over_budget(size_bytes: u64, budget_mib: u64) -> Option<String> {
    (size_bytes > budget_bytes(budget_mib)).then(|| format!("{}, budget {budget_mib} MiB", size_text(size_bytes)))
}

/// Why an image's configured `user` is not non-root, if it is not: it must be
/// numeric `UID:GID`, both at least `min_uid` (`[policy] min_uid`).
pub fn user_problem(user: &str, min_uid: i64) -> Option<String> {
    let user = user.trim();
    let ids: Option<Vec<i64>> =
        user.split_once(':').map(|(u, g)| [u, g].iter().filter_map(|x| x.parse().ok()).collect());
    match ids {
        Some(ids) if ids.len() == 2 && ids.iter().all(|id| *id >= min_uid) => None,
        _ => Some(format!(
            "image user is {user:?}, not a numeric non-root UID:GID of at least {min_uid} (e.g. {NON_ROOT_USER})"
        )),
    }
}

/// The `USER` an image is configured with (`docker image inspect`), trimmed.
pub fn configured_user(runner: &dyn CommandRunner, image: &str) -> Result<String, RunCommandError> {
    let cmd = Cmd::new("docker", ["image", "inspect", "--format", "{{.Config.User}}", image]).timeout(INSPECT_TIMEOUT);
    Ok(runner.run_ok(&cmd)?.stdout.trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::process::{FakeRunner, Output};

    #[test]
    fn budgets_count_mib() {
        assert_eq!(over_budget(30 * MIB, 30), None);
        assert_eq!(over_budget(30 * MIB + 1, 30).as_deref(), Some("30.0 MiB, budget 30 MiB"));
        // 31,000,000 bytes are 29.6 MiB: within a 30 MiB budget, over a 30 MB one.
        assert_eq!(over_budget(31_000_000, 30), None);
        assert_eq!(size_text(31_000_000), "29.6 MiB");
    }

    #[test]
    fn only_a_numeric_uid_and_gid_at_the_policys_floor_is_non_root() {
        assert_eq!(user_problem("10001:10001\n", 10000), None);
        assert_eq!(user_problem("20000:20000", 10000), None);
        for user in ["", "0", "root", "0:0", "10001", "10001:0", "1000:1000", "app", "app:app"] {
            assert!(user_problem(user, 10000).is_some(), "{user:?} must not pass");
        }
    }

    #[test]
    fn configured_user_asks_docker_for_the_image_user() {
        let fake = FakeRunner::new();
        fake.reply(&["docker", "image", "inspect"], [Output::ok("10001:10001\n")]);
        assert_eq!(configured_user(fake.as_ref(), "app:1").expect("inspected"), "10001:10001");
        assert_eq!(fake.calls(), [["docker", "image", "inspect", "--format", "{{.Config.User}}", "app:1"]]);
        let fake = FakeRunner::new();
        fake.reply(&["docker"], [Output::failed(1, "", "No such image: app:1")]);
        let err = configured_user(fake.as_ref(), "app:1").expect_err("no image");
        assert!(err.to_string().contains("No such image"), "{err}");
    }
}
