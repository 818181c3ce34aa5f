//! Static conformance: `kubegate check` (the real binary) over this repo's
//! manifests and chart, and over broken copies of them.
//!
//! - the clean tree passes on both paths, alone and together (exit 0);
//! - every mutant in `fixtures/mutants/` is caught by its rule on its path
//!   (exit 1; exit 2 for what is rejected while loading);
//! - bad input (malformed YAML, duplicate key, unknown field, a chart that
//!   does not render, helm missing, unknown config key) gives exit 2 and a
//!   one-screen error naming the file and the problem;
//! - every report format parses.
//!
//! Why here and not in harness/tests: `CARGO_BIN_EXE_kubegate` exists only
//! inside the kubegate package, but the suites live in their own crate (with
//! the nextest profiles keyed on `static_*` binaries). The binary is built
//! and located once per process by `kubegate_suites::kubegate_bin` (a no-op
//! `cargo build` when fresh; `KUBEGATE_BIN` overrides it).
//!
//! Needs helm (`ci/setup.sh tools`); without it the tests fail saying so.

#[path = "static/support.rs"]
mod support;

use support::*;

/// One test per mutant, so a report names the one that escaped.
macro_rules! mutants {
    ($($test:ident => $dir:literal,)*) => {
        mod mutant {
            $(
                #[test]
                fn $test() {
                    super::assert_mutant_caught($dir);
                }
            )*
        }

        /// Every directory under fixtures/mutants has its test above.
        #[test]
        fn every_mutant_has_a_test() {
            let listed: Vec<&str> = vec![$($dir),*];
            let found: Vec<String> = kubegate_suites::mutants::load_all(&kubegate_suites::mutants::mutants_dir())
                .unwrap_or_else(|e| panic!("{e}"))
                .into_iter()
                .map(|m| m.name)
                .collect();
            assert_eq!(found, listed, "add the new mutant to the mutants! list in static_conformance.rs");
            assert!(found.len() >= 30, "the issue asks for at least 30 mutants, found {}", found.len());
        }
    };
}

mutants! {
    automount_token => "automount-token",
    automount_token_unset => "automount-token-unset",
    beta_api_version => "beta-api-version",
    capabilities_added => "capabilities-added",
    chart_secret_default => "chart-secret-default",
    cluster_ip_hard_coded => "cluster-ip-hard-coded",
    configmap_key_missing => "configmap-key-missing",
    container_renamed => "container-renamed",
    default_namespace => "default-namespace",
    deployment_selector_mismatch => "deployment-selector-mismatch",
    duplicate_env => "duplicate-env",
    grace_period_short => "grace-period-short",
    host_network => "host-network",
    host_path => "host-path",
    host_port => "host-port",
    hpa_bounds => "hpa-bounds",
    hpa_missing => "hpa-missing",
    hpa_wrong_target => "hpa-wrong-target",
    image_not_configured => "image-not-configured",
    labels_inconsistent => "labels-inconsistent",
    latest_tag_pull_always => "latest-tag-pull-always",
    limits_missing => "limits-missing",
    loadbalancer_to_clusterip => "loadbalancer-to-clusterip",
    low_uid => "low-uid",
    networkpolicy_missing => "networkpolicy-missing",
    no_seccomp => "no-seccomp",
    no_topology_spread => "no-topology-spread",
    nodeport => "nodeport",
    parity_object_missing => "parity-object-missing",
    parity_value_drift => "parity-value-drift",
    password_in_configmap => "password-in-configmap",
    pdb_missing => "pdb-missing",
    privilege_escalation => "privilege-escalation",
    privileged => "privileged",
    probe_identical => "probe-identical",
    probe_liveness_removed => "probe-liveness-removed",
    probe_other_port => "probe-other-port",
    probe_path_not_in_contract => "probe-path-not-in-contract",
    probe_readiness_removed => "probe-readiness-removed",
    probe_route_not_served => "probe-route-not-served",
    probe_too_slow => "probe-too-slow",
    probe_wrong_port => "probe-wrong-port",
    recreate_strategy => "recreate-strategy",
    requests_above_limits => "requests-above-limits",
    required_key_not_wired => "required-key-not-wired",
    root_user => "root-user",
    secret_annotation => "secret-annotation",
    secret_clash => "secret-clash",
    secret_committed => "secret-committed",
    secret_key_unknown => "secret-key-unknown",
    secret_literal_env => "secret-literal-env",
    service_port_changed => "service-port-changed",
    service_selector_mismatch => "service-selector-mismatch",
    service_url_unknown_host => "service-url-unknown-host",
    target_port_typo => "target-port-typo",
    writable_root_fs => "writable-root-fs",
}

#[path = "static/clean.rs"]
mod clean;

#[path = "static/bad_input.rs"]
mod bad_input;

#[path = "static/formats.rs"]
mod formats;

#[path = "static/repos.rs"]
mod repos;
