//! Bad input: exit 2 and a one-screen error that names the file and the
//! problem (and never a panic or a hang).

use std::path::Path;

use predicates::prelude::*;

use crate::support::*;

/// Exit 2, no panic, short, naming every `needle`, no report.
fn assert_bad_input(cmd: &mut assert_cmd::Command, needles: &[&str]) {
    let fits_one_screen = predicate::function(|e: &str| (1..=24).contains(&e.lines().count()))
        .fn_name("the error fits one screen (1 to 24 lines)");
    let mut run = cmd.assert().code(2).stderr(predicate::str::contains("panicked").not()).stderr(fits_one_screen);
    for n in needles {
        run = run.stderr(predicate::str::contains(*n));
    }
    run.stdout(predicate::str::is_empty());
}

fn edit(root: &Path, file: &str, find: &str, replace: &str) {
    let path = root.join(file);
    let text = std::fs::read_to_string(&path).expect("read");
    assert!(text.contains(find), "{file} no longer contains `{find}`: update this test");
    std::fs::write(&path, text.replacen(find, replace, 1)).expect("write");
}

fn check_raw(root: &Path) -> assert_cmd::Command {
    let mut cmd = kubegate(root);
    cmd.args(["check", "--manifests", "manifests"]);
    cmd
}

#[test]
fn malformed_yaml_names_file_and_line() {
    let dir = copy_of_repo();
    edit(dir.path(), "manifests/31-backend-service.yaml", "  selector:\n", "  selector: [unclosed\n");
    assert_bad_input(&mut check_raw(dir.path()), &["31-backend-service.yaml:"]);
}

#[test]
fn duplicate_key_is_rejected() {
    let dir = copy_of_repo();
    edit(
        dir.path(),
        "manifests/31-backend-service.yaml",
        "  type: ClusterIP\n",
        "  type: ClusterIP\n  type: NodePort\n",
    );
    assert_bad_input(&mut check_raw(dir.path()), &["31-backend-service.yaml", "type"]);
}

#[test]
fn unknown_field_names_file_object_and_field() {
    let dir = copy_of_repo();
    edit(dir.path(), "manifests/30-backend-deployment.yaml", "          livenessProbe:\n", "          livenesProbe:\n");
    assert_bad_input(
        &mut check_raw(dir.path()),
        &["30-backend-deployment.yaml", "livenesProbe", "todo-chatbot-backend"],
    );
}

#[test]
fn chart_that_does_not_render() {
    require_helm();
    let dir = copy_of_repo();
    edit(
        dir.path(),
        "charts/todo-chatbot/templates/backend-deployment.yaml",
        "replicas: {{ .Values.replicaCount.backend }}",
        "replicas: {{ .Values.replicaCount.backend",
    );
    assert_bad_input(
        kubegate(dir.path()).args(["check", "--chart", "charts/todo-chatbot"]),
        &["cannot render the Helm chart", "backend-deployment.yaml"],
    );
}

#[test]
fn helm_missing_from_path() {
    let empty = tempfile::tempdir().expect("tempdir");
    let empty_path = empty.path().display().to_string();
    // No helm on PATH nor in the tool cache (KUBEGATE_CACHE and XDG_CACHE_HOME point at an empty dir).
    assert_bad_input(
        kubegate(&repo())
            .args(["check", "--chart", "charts/todo-chatbot"])
            .env("PATH", &empty_path)
            .env("KUBEGATE_CACHE", &empty_path)
            .env("XDG_CACHE_HOME", &empty_path),
        &["`helm` not found", "ci/setup.sh tools"],
    );
}

#[test]
fn unknown_config_key_names_line() {
    let dir = copy_of_repo();
    let file = dir.path().join("kubegate.toml");
    let mut text = std::fs::read_to_string(&file).unwrap_or_default();
    text.insert_str(0, "namspace = \"typo\"\n");
    std::fs::write(&file, text).expect("write");
    assert_bad_input(
        kubegate(dir.path()).args(["check", "--config", "kubegate.toml", "--manifests", "manifests"]),
        &["kubegate.toml:1", "namspace"],
    );
}

#[test]
fn missing_manifests_directory() {
    assert_bad_input(kubegate(&repo()).args(["check", "--manifests", "no-such-dir"]), &["no-such-dir"]);
}

#[test]
fn values_without_chart_is_a_usage_error() {
    assert_bad_input(
        kubegate(&repo()).args(["check", "--manifests", "manifests", "--values", "x.yaml"]),
        &["--values needs a chart"],
    );
}
