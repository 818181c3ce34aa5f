//! Bad input: exit 2 and a one-screen error that names the file and the
//! problem (and never a panic or a hang).

use std::path::Path;

use crate::support::*;

/// Exit 2, short, no panic, naming every `needle`.
fn assert_bad_input(run: &Run, needles: &[&str]) {
    assert_eq!(run.code, Some(2), "bad input must exit 2\n{}", run.explain());
    assert!(!run.stderr.contains("panicked"), "kubegate panicked\n{}", run.explain());
    let lines = run.stderr.lines().count();
    assert!((1..=24).contains(&lines), "the error should fit one screen, got {lines} lines\n{}", run.explain());
    for n in needles {
        assert!(run.stderr.contains(n), "the error does not name `{n}`\n{}", run.explain());
    }
    assert!(run.stdout.is_empty(), "no report on bad input\n{}", run.explain());
}

fn edit(root: &Path, file: &str, find: &str, replace: &str) {
    let path = root.join(file);
    let text = std::fs::read_to_string(&path).expect("read");
    assert!(text.contains(find), "{file} no longer contains `{find}`: update this test");
    std::fs::write(&path, text.replacen(find, replace, 1)).expect("write");
}

fn check_raw(root: &Path) -> Run {
    kubegate_in(root, &["check", "--manifests", "manifests"], &[])
}

#[test]
fn malformed_yaml_names_file_and_line() {
    let dir = copy_of_repo();
    edit(dir.path(), "manifests/31-backend-service.yaml", "  selector:\n", "  selector: [unclosed\n");
    let run = check_raw(dir.path());
    assert_bad_input(&run, &["31-backend-service.yaml:"]);
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
    let run = check_raw(dir.path());
    assert_bad_input(&run, &["31-backend-service.yaml", "type"]);
}

#[test]
fn unknown_field_names_file_object_and_field() {
    let dir = copy_of_repo();
    edit(dir.path(), "manifests/30-backend-deployment.yaml", "          livenessProbe:\n", "          livenesProbe:\n");
    let run = check_raw(dir.path());
    assert_bad_input(&run, &["30-backend-deployment.yaml", "livenesProbe", "todo-chatbot-backend"]);
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
    let run = kubegate_in(dir.path(), &["check", "--chart", "charts/todo-chatbot"], &[]);
    assert_bad_input(&run, &["cannot render the Helm chart", "backend-deployment.yaml"]);
}

#[test]
fn helm_missing_from_path() {
    let empty = tempfile::tempdir().expect("tempdir");
    let empty_path = empty.path().display().to_string();
    // No helm on PATH nor in the tool cache (KUBEGATE_CACHE and XDG_CACHE_HOME point at an empty dir).
    let run = kubegate_in(
        &repo(),
        &["check", "--chart", "charts/todo-chatbot"],
        &[("PATH", &empty_path), ("KUBEGATE_CACHE", &empty_path), ("XDG_CACHE_HOME", &empty_path)],
    );
    assert_bad_input(&run, &["`helm` not found", "ci/setup.sh tools"]);
}

#[test]
fn unknown_config_key_names_line() {
    let dir = copy_of_repo();
    let file = dir.path().join("kubegate.toml");
    let mut text = std::fs::read_to_string(&file).unwrap_or_default();
    text.insert_str(0, "namspace = \"typo\"\n");
    std::fs::write(&file, text).expect("write");
    let run = kubegate_in(dir.path(), &["check", "--config", "kubegate.toml", "--manifests", "manifests"], &[]);
    assert_bad_input(&run, &["kubegate.toml:1", "namspace"]);
}

#[test]
fn missing_manifests_directory() {
    let run = kubegate_in(&repo(), &["check", "--manifests", "no-such-dir"], &[]);
    assert_bad_input(&run, &["no-such-dir"]);
}

#[test]
fn values_without_chart_is_a_usage_error() {
    let run = kubegate_in(&repo(), &["check", "--manifests", "manifests", "--values", "x.yaml"], &[]);
    assert_bad_input(&run, &["--values needs a chart"]);
}
