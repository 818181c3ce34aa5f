//! The Helm path's variants through the real `helm` and the real `kubegate`
//! binary as its post-renderer (Helm 4: a `postrenderer/v1` plugin; Helm 3:
//! the executable): the rendered chart carries the edits, the rest is as the
//! chart renders it. Needs helm only (`ci/setup.sh tools`).

use kubegate::deploy::edit::{Edit, PostRenderer};
use kubegate::deploy::helm::{Helm, HelmInstall};
use serde_json::Value;
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root").to_owned()
}

/// `helm template` of `chart` with `edits` run by the post-renderer.
fn render(chart: &str, edits: &[Edit]) -> Vec<Value> {
    let dir = tempfile::tempdir().expect("temp dir");
    let kubegate = PathBuf::from(env!("CARGO_BIN_EXE_kubegate"));
    let mut install = HelmInstall::new(repo().join(chart), "kg-post-render");
    install.post_renderer = Some(PostRenderer::prepare(&kubegate, edits, dir.path()).expect("edits written"));
    let helm = Helm::new(None, None).unwrap_or_else(|e| panic!("{e}\nfix: ci/setup.sh tools && source ci/env.sh"));
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let text = rt.block_on(helm.template(&install, false)).unwrap_or_else(|e| panic!("{e}"));
    serde_saphyr::from_multiple::<Value>(&text).expect("YAML").into_iter().filter(|d| !d.is_null()).collect()
}

fn deployments(docs: &[Value]) -> Vec<&Value> {
    docs.iter().filter(|d| d["kind"] == "Deployment").collect()
}

/// The Deployment container named `name`.
fn container(docs: &[Value], name: &str) -> Value {
    deployments(docs)
        .into_iter()
        .flat_map(|d| d["spec"]["template"]["spec"]["containers"].as_array().cloned().unwrap_or_default())
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("a container {name}"))
}

#[test]
fn a_teams_chart_is_broken_by_edits_not_by_its_values_keys() {
    // taskly's chart knows nothing of kubegate: no values key names replicas or images alike.
    let plain = render("fixtures/taskly/helm/taskly", &[]);
    let edits = [
        Edit::Replicas { replicas: 1 },
        Edit::Recreate,
        Edit::Image { container: "api".into(), image: "taskly-api:0.0.0-missing".into() },
        Edit::Set {
            kind: "Deployment".into(),
            container: Some("api".into()),
            pointer: "/readinessProbe/httpGet/path".into(),
            value: "/not-ready-here".into(),
        },
    ];
    let edited = render("fixtures/taskly/helm/taskly", &edits);
    assert_eq!(plain.len(), edited.len(), "the post-renderer keeps every document");
    for d in deployments(&edited) {
        assert_eq!(d["spec"]["replicas"], 1, "{}", d["metadata"]["name"]);
        assert_eq!(d["spec"]["strategy"]["type"], "Recreate");
    }
    let api = container(&edited, "api");
    assert_eq!(api["image"], "taskly-api:0.0.0-missing");
    assert_eq!(api["readinessProbe"]["httpGet"]["path"], "/not-ready-here");
    let web = container(&edited, "web");
    assert_ne!(web["image"], "taskly-api:0.0.0-missing", "only the named container changes");
}

#[test]
fn a_bad_edits_file_fails_helm_with_kubegates_message() {
    let dir = tempfile::tempdir().expect("temp dir");
    let kubegate = PathBuf::from(env!("CARGO_BIN_EXE_kubegate"));
    let p = PostRenderer::prepare(&kubegate, &[], dir.path()).expect("prepared");
    std::fs::write(&p.edits_file, "not json").expect("spoil the edits file");
    let mut install = HelmInstall::new(repo().join("charts/todo-chatbot"), "kg-post-render");
    install.post_renderer = Some(p);
    let helm = Helm::new(None, None).unwrap_or_else(|e| panic!("{e}\nfix: ci/setup.sh tools && source ci/env.sh"));
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let err = rt.block_on(helm.template(&install, false)).expect_err("a spoiled edits file fails the render");
    let text = err.to_string();
    assert!(text.contains("edits file"), "helm shows kubegate's own error: {text}");
}
