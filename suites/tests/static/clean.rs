//! The clean tree: zero unwaived findings on both paths, alone and together.

use crate::support::*;

fn assert_clean(cmd: &mut assert_cmd::Command, scopes: &[&str]) {
    let run = cmd.assert().append_context("expected", "the clean tree passes").code(0);
    let json = json(&run);
    assert_eq!(json["passed"], true, "{run}");
    assert_eq!(json["summary"]["findings"], 0, "{run}");
    let checked: Vec<&str> =
        json["summary"]["by_scope"].as_object().expect("by_scope").keys().map(String::as_str).collect();
    let mut want = scopes.to_vec();
    want.sort();
    assert_eq!(checked, want, "scopes checked\n{run}");
    for scope in scopes.iter().filter(|s| **s != "parity") {
        let objects = json["summary"]["by_scope"][scope]["objects"].as_u64().unwrap_or(0);
        assert!(objects >= 10, "{scope}: only {objects} objects read\n{run}");
    }
}

#[test]
fn clean_tree_passes_on_both_paths_and_parity() {
    require_helm();
    assert_clean(kubegate(&repo()).args(["check", "--format", "json"]), &["raw", "helm", "parity"]);
}

/// Each deploy path alone: its flag, its directory, and the one scope it checks.
#[rstest::rstest]
#[case::raw("--manifests", "manifests", "raw")]
#[case::helm("--chart", "charts/todo-chatbot", "helm")]
fn clean_path_alone_passes(#[case] flag: &str, #[case] dir: &str, #[case] scope: &str) {
    if scope == "helm" {
        require_helm();
    }
    assert_clean(kubegate(&repo()).args(["check", "--format", "json", flag, dir]), &[scope]);
}

/// The mutant builder rewrites patched YAML files; a rewrite that changes
/// nothing must leave the tree clean, or mutants could be caught for the
/// builder's sake instead of their own.
#[test]
fn rewritten_but_unchanged_copy_passes() {
    use kubegate_suites::mutants::{Mutant, MutantPath, MutantSpec, Patch};
    require_helm();
    let mut patches = Vec::new();
    for entry in std::fs::read_dir(repo().join("manifests")).expect("manifests") {
        let p = entry.expect("entry").path();
        if p.extension().is_none_or(|e| e != "yaml") {
            continue;
        }
        let yaml = std::fs::read_to_string(&p).expect("read");
        let docs: Vec<serde_json::Value> = serde_saphyr::from_multiple(&yaml).expect("yaml");
        for doc in docs.iter().filter(|d| !d.is_null()) {
            let name = doc["metadata"]["name"].as_str().expect("name").to_string();
            patches.push(Patch {
                file: p.strip_prefix(repo()).expect("relative").to_path_buf(),
                kind: doc["kind"].as_str().map(str::to_string),
                name: Some(name.clone()),
                at: Some("metadata.name".into()),
                set: Some(toml::Value::String(name)),
                remove: false,
                append: None,
                find: None,
                replace: None,
                count: None,
                content: None,
                delete: false,
            });
        }
    }
    let mutant = Mutant {
        name: "noop".into(),
        spec: MutantSpec {
            description: "every manifest rewritten by the YAML round trip, nothing changed".into(),
            path: MutantPath::Parity,
            expect: Vec::new(),
            exit: 0,
            error_contains: Vec::new(),
            patches,
            values: None,
        },
    };
    let built = tempfile::tempdir().expect("tempdir");
    mutant.build(&repo(), built.path()).unwrap_or_else(|e| panic!("{e}"));
    let original = std::fs::read_to_string(repo().join("manifests/30-backend-deployment.yaml")).expect("read");
    let rewritten = std::fs::read_to_string(built.path().join("manifests/30-backend-deployment.yaml")).expect("read");
    assert_ne!(original, rewritten, "the round trip should have rewritten the file (comments dropped)");
    assert_clean(
        kubegate(built.path()).args(["check", "--format", "json"]).args(config_args(built.path())),
        &["raw", "helm", "parity"],
    );
}
