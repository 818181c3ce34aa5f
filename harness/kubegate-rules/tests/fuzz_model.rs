//! Fuzzing the YAML-to-model loader: no input makes kubegate panic. Generated documents (Kubernetes-shaped
//! objects with random kinds, apiVersions, names, labels, waiver annotations and specs; JSON or YAML text; helm's
//! `# Source:` comments; then truncated, spliced and re-indented), YAML token soup and arbitrary bytes go through
//! `Model::from_str` (the raw path) and `Model::from_helm_output` (the Helm path, over template files that are
//! random text too). Each must give a model or a typed error ([`LoadManifestsError`]), never a panic; a model then
//! goes through every rule, raw-vs-Helm parity and every report format, which must not panic either.
//!
//! Normal runs try `PROPTEST_CASES` cases per property (default 64). `KUBEGATE_FUZZ_SECS=600` runs each
//! property for that long instead, in batches with fresh seeds, and prints how many cases ran
//! (docs/benchmarks.md has the 10-minute run). A failure prints the shrunk input.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use kubegate_core::app_routes::{AppSource, Framework, Route};
use kubegate_core::config::Config;
use kubegate_core::finding::DeployPath;
use kubegate_core::model::{LoadManifestsError, Model};
use kubegate_rules::outcome::check_models;
use kubegate_rules::report::{Format, RenderOptions, Report};
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::{Config as RunnerConfig, TestCaseError, TestError, TestRunner};
use serde_json::{Map, Value, json};

const KINDS: &[&str] = &[
    "Deployment",
    "StatefulSet",
    "DaemonSet",
    "Job",
    "CronJob",
    "Pod",
    "ReplicaSet",
    "Service",
    "ConfigMap",
    "Secret",
    "Namespace",
    "Ingress",
    "HorizontalPodAutoscaler",
    "PodDisruptionBudget",
    "NetworkPolicy",
    "ServiceAccount",
    "Role",
    "ClusterRole",
    "RoleBinding",
    "ClusterRoleBinding",
    "PersistentVolumeClaim",
    "ServiceMonitor",
    "List",
    "Kustomization",
    "Deploymnet",
    "",
];

const API_VERSIONS: &[&str] = &[
    "v1",
    "apps/v1",
    "apps/v1beta1",
    "batch/v1",
    "batch/v1beta1",
    "autoscaling/v2",
    "autoscaling/v1",
    "policy/v1",
    "policy/v1beta1",
    "networking.k8s.io/v1",
    "rbac.authorization.k8s.io/v1",
    "monitoring.coreos.com/v1",
    "extensions/v1beta1",
    "example.com/v1alpha1",
    "v2",
    "/",
    "",
];

/// Keys kubegate reads somewhere (so random trees reach the typed code paths), plus a few it does not.
const FIELDS: &[&str] = &[
    "name",
    "image",
    "imagePullPolicy",
    "ports",
    "containerPort",
    "port",
    "targetPort",
    "nodePort",
    "protocol",
    "livenessProbe",
    "readinessProbe",
    "startupProbe",
    "httpGet",
    "path",
    "scheme",
    "tcpSocket",
    "grpc",
    "exec",
    "command",
    "initialDelaySeconds",
    "periodSeconds",
    "timeoutSeconds",
    "failureThreshold",
    "env",
    "value",
    "valueFrom",
    "secretKeyRef",
    "configMapKeyRef",
    "key",
    "optional",
    "envFrom",
    "configMapRef",
    "secretRef",
    "resources",
    "limits",
    "requests",
    "cpu",
    "memory",
    "securityContext",
    "runAsUser",
    "runAsGroup",
    "runAsNonRoot",
    "readOnlyRootFilesystem",
    "allowPrivilegeEscalation",
    "privileged",
    "capabilities",
    "add",
    "drop",
    "seccompProfile",
    "selector",
    "matchLabels",
    "matchExpressions",
    "operator",
    "values",
    "template",
    "metadata",
    "labels",
    "annotations",
    "spec",
    "containers",
    "initContainers",
    "volumes",
    "volumeMounts",
    "hostPath",
    "hostNetwork",
    "hostPID",
    "replicas",
    "type",
    "data",
    "stringData",
    "strategy",
    "rollingUpdate",
    "maxSurge",
    "maxUnavailable",
    "scaleTargetRef",
    "minReplicas",
    "maxReplicas",
    "metrics",
    "minAvailable",
    "podSelector",
    "ingress",
    "from",
    "rules",
    "subjects",
    "roleRef",
    "items",
    "namespace",
    "automountServiceAccountToken",
    "serviceAccountName",
    "topologySpreadConstraints",
    "terminationGracePeriodSeconds",
    "lifecycle",
    "preStop",
    "jobTemplate",
    "schedule",
    "endpoints",
    "x",
];

/// Values that mean something to some rule.
const VALUES: &[&str] = &[
    "http",
    "8080",
    "-1",
    "99999",
    "Never",
    "Always",
    "IfNotPresent",
    "todo-chatbot-backend:latest",
    "backend",
    "frontend",
    "/health",
    "/ready",
    "/api/{id}",
    "TCP",
    "100m",
    "1Gi",
    "1e400",
    "ALL",
    "NET_ADMIN",
    "RollingUpdate",
    "Recreate",
    "25%",
    "150%",
    "LoadBalancer",
    "NodePort",
    "ClusterIP",
    "RuntimeDefault",
    "Unconfined",
    "In",
    "NotIn",
    "Exists",
    "http://todo-chatbot-backend:8000",
    "http://192.168.49.2:30080",
    "postgres://user:hunter2@db:5432/app",
    "sk-abcdefghijklmnopqrstuvwxyz012345",
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln",
    "KG-PROBE-003=one endpoint",
    "KG-NOPE-001=x",
    "KG-SEC-001",
    "",
    "~",
    "null",
    "true",
    "0x1F",
    "1_000",
    "é✓🦀",
];

/// Pieces of YAML syntax, for token soup and splicing.
const TOKENS: &[&str] = &[
    "---\n",
    "...\n",
    "\n",
    "  ",
    "    ",
    "\t",
    "- ",
    ": ",
    ":",
    "? ",
    "{",
    "}",
    "[",
    "]",
    ",",
    "&a ",
    "*a",
    "<<: *a\n",
    "!!binary ",
    "!!str ",
    "!!map ",
    "!custom ",
    "|\n",
    ">-\n",
    "\"",
    "'",
    "# comment\n",
    "# Source: chart/templates/x.yaml\n",
    "%YAML 1.2\n",
    "%TAG ! tag:x,2000:\n",
    "apiVersion: apps/v1\n",
    "kind: Deployment\n",
    "kind: List\nitems:\n",
    "metadata:\n  name: x\n",
    "spec:\n",
    "containers:\n",
    "- name: backend\n",
    "name: x\n",
    "labels: {a: b}\n",
    "kubegate.io/waive: ",
    "1",
    "-0.0",
    ".inf",
    "0o17",
    "null",
    "\u{feff}",
    "\r\n",
    "\\u0000",
    "é",
];

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        (-1e12f64..1e12).prop_map(|f| json!(f)),
        select(VALUES).prop_map(Value::from),
        "[a-z0-9./:-]{0,12}".prop_map(Value::from),
        "\\PC{0,12}".prop_map(Value::from),
    ]
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![4 => select(FIELDS).prop_map(String::from), 1 => "\\PC{0,8}"]
}

/// A random JSON tree whose keys are mostly Kubernetes field names.
fn tree() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(5, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(key(), inner, 0..6).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn string_map() -> impl Strategy<Value = Value> {
    prop::collection::btree_map(
        prop_oneof![
            select(&["app.kubernetes.io/name", "app.kubernetes.io/component", "kubegate.io/waive", "helm.sh/hook"][..])
                .prop_map(String::from),
            "[a-z./-]{0,10}",
        ],
        prop_oneof![select(VALUES).prop_map(Value::from), scalar()],
        0..4,
    )
    .prop_map(|m| Value::Object(m.into_iter().collect()))
}

/// A container: a name kubegate knows or not, and random values for the fields it reads.
fn container() -> impl Strategy<Value = Value> {
    (
        prop_oneof![select(&["backend", "frontend", "api", "web", ""][..]).prop_map(Value::from), scalar()],
        prop::collection::btree_map(select(FIELDS).prop_map(String::from), tree(), 0..8),
    )
        .prop_map(|(name, mut fields)| {
            fields.insert("name".into(), name);
            Value::Object(fields.into_iter().collect())
        })
}

/// A pod-template workload spec (Deployment-like), a Service-like spec, or any tree.
fn spec() -> impl Strategy<Value = Value> {
    let pod =
        (string_map(), prop::collection::vec(container(), 0..3), prop::collection::vec(container(), 0..2), tree())
            .prop_map(|(labels, containers, init, extra)| {
                json!({
                    "replicas": 2,
                    "selector": {"matchLabels": labels.clone()},
                    "template": {
                        "metadata": {"labels": labels},
                        "spec": {"containers": containers, "initContainers": init, "volumes": extra},
                    },
                })
            });
    let service = (string_map(), prop::collection::vec(tree(), 0..3), select(VALUES))
        .prop_map(|(selector, ports, ty)| json!({"selector": selector, "ports": ports, "type": ty}));
    prop_oneof![2 => pod, 1 => service, 1 => tree()]
}

/// An object with each top-level part present or not.
fn object() -> impl Strategy<Value = Value> {
    (
        prop::option::weighted(0.9, select(KINDS)),
        prop::option::weighted(0.9, select(API_VERSIONS)),
        prop::option::weighted(0.9, prop_oneof![select(VALUES).prop_map(Value::from), scalar()]),
        prop::option::of(select(&["todo-chatbot", "default", ""][..])),
        string_map(),
        string_map(),
        spec(),
        tree(),
    )
        .prop_map(|(kind, api, name, ns, labels, annotations, spec, data)| {
            let mut meta = Map::new();
            if let Some(n) = name {
                meta.insert("name".into(), n);
            }
            if let Some(ns) = ns {
                meta.insert("namespace".into(), ns.into());
            }
            meta.insert("labels".into(), labels);
            meta.insert("annotations".into(), annotations);
            let mut o = Map::new();
            if let Some(k) = kind {
                o.insert("kind".into(), k.into());
            }
            if let Some(a) = api {
                o.insert("apiVersion".into(), a.into());
            }
            o.insert("metadata".into(), Value::Object(meta));
            o.insert("spec".into(), spec);
            if kind == Some("List") {
                o.insert("items".into(), json!([data.clone()]));
            }
            o.insert("data".into(), data);
            Value::Object(o)
        })
}

/// A string kubegate may read meaning into, or any.
fn text() -> impl Strategy<Value = Value> {
    prop_oneof![3 => select(VALUES).prop_map(Value::from), 1 => "[a-z0-9-]{0,10}".prop_map(Value::from), 1 => "\\PC{0,8}".prop_map(Value::from)]
}

fn number() -> impl Strategy<Value = Value> {
    prop_oneof![
        3 => select(&[0i64, 1, 2, 3, 10, 30, 80, 3000, 8000, 10001, 65535, 65536, -1][..]).prop_map(Value::from),
        1 => any::<i32>().prop_map(Value::from),
    ]
}

fn port() -> impl Strategy<Value = Value> {
    prop_oneof![number(), select(&["http", "web", "8000", "htp", ""][..]).prop_map(Value::from)]
}

fn flag() -> impl Strategy<Value = Option<Value>> {
    prop::option::of(any::<bool>().prop_map(Value::from))
}

fn labels() -> impl Strategy<Value = Value> {
    prop::collection::btree_map(
        select(
            &["app", "app.kubernetes.io/name", "app.kubernetes.io/component", "app.kubernetes.io/instance", "tier"][..],
        )
        .prop_map(String::from),
        select(&["backend", "frontend", "todo", "todo-chatbot", "", "x"][..]).prop_map(Value::from),
        0..4,
    )
    .prop_map(|m| Value::Object(m.into_iter().collect()))
}

/// A map of the pairs that are present.
fn obj(pairs: Vec<(&str, Option<Value>)>) -> Value {
    Value::Object(pairs.into_iter().filter_map(|(k, v)| Some((k.to_string(), v?))).collect())
}

fn probe() -> impl Strategy<Value = Value> {
    let handler = prop_oneof![
        (prop::option::of(text()), port(), prop::option::of(select(&["HTTP", "HTTPS", "FTP"][..])))
            .prop_map(|(path, port, scheme)| json!({"httpGet": obj(vec![("path", path), ("port", Some(port)), ("scheme", scheme.map(Value::from))])})),
        port().prop_map(|p| json!({"tcpSocket": {"port": p}})),
        prop::collection::vec(text(), 0..3).prop_map(|c| json!({"exec": {"command": c}})),
        number().prop_map(|p| json!({"grpc": {"port": p}})),
    ];
    (
        handler,
        prop::option::of(number()),
        prop::option::of(number()),
        prop::option::of(number()),
        prop::option::of(number()),
    )
        .prop_map(|(mut h, initial, period, timeout, failures)| {
            if let Value::Object(m) = &mut h {
                for (k, v) in [
                    ("initialDelaySeconds", initial),
                    ("periodSeconds", period),
                    ("timeoutSeconds", timeout),
                    ("failureThreshold", failures),
                ] {
                    if let Some(v) = v {
                        m.insert(k.into(), v);
                    }
                }
            }
            h
        })
}

fn env_var() -> impl Strategy<Value = Value> {
    let name =
        || select(&["DATABASE_URL", "JWT_SECRET", "OPENAI_API_KEY", "BACKEND_URL", "PORT", "API_KEY_HEADER", "X"][..]);
    prop_oneof![
        (name(), text()).prop_map(|(n, v)| json!({"name": n, "value": v})),
        (name(), text(), text(), flag()).prop_map(|(n, s, k, o)| json!({"name": n, "valueFrom": {"secretKeyRef": obj(vec![("name", Some(s)), ("key", Some(k)), ("optional", o)])}})),
        (name(), text(), text()).prop_map(|(n, c, k)| json!({"name": n, "valueFrom": {"configMapKeyRef": {"name": c, "key": k}}})),
    ]
}

fn security_context() -> impl Strategy<Value = Value> {
    (
        prop::option::of(number()),
        flag(),
        flag(),
        flag(),
        flag(),
        prop::option::of(prop::collection::vec(text(), 0..3)),
        prop::option::of(prop::collection::vec(text(), 0..2)),
    )
        .prop_map(|(uid, non_root, ro, escalation, privileged, drop, add)| {
            let caps = (drop.is_some() || add.is_some())
                .then(|| obj(vec![("drop", drop.map(Value::from)), ("add", add.map(Value::from))]));
            obj(vec![
                ("runAsUser", uid),
                ("runAsNonRoot", non_root),
                ("readOnlyRootFilesystem", ro),
                ("allowPrivilegeEscalation", escalation),
                ("privileged", privileged),
                ("capabilities", caps),
            ])
        })
}

fn typed_container() -> impl Strategy<Value = Value> {
    let resources = prop::option::of(
        (prop::option::of(select(&["100m", "1", "0.5", "1Gi", "128Mi", "x", ""][..])), prop::option::of(select(&["500m", "2", "256Mi", "1Ti", "-1"][..])))
            .prop_map(|(r, l)| json!({"requests": obj(vec![("cpu", r.map(Value::from)), ("memory", Some(json!("128Mi")))]), "limits": obj(vec![("cpu", l.map(Value::from)), ("memory", l.map(Value::from))])})),
    );
    let ports = prop::option::of(prop::collection::vec(
        (number(), prop::option::of(select(&["http", "web", "metrics", "HTTP", ""][..])))
            .prop_map(|(n, name)| obj(vec![("containerPort", Some(n)), ("name", name.map(Value::from))])),
        0..3,
    ));
    (
        select(&["backend", "frontend", "api", "web", "sidecar", ""][..]),
        prop::option::of(select(
            &["todo-chatbot-backend:0.1.0", "todo-chatbot-frontend:latest", "nginx", "ghcr.io/x/y@sha256:00", ""][..],
        )),
        prop::option::of(select(&["Never", "Always", "IfNotPresent", "Sometimes"][..])),
        ports,
        prop::option::of(prop::collection::vec(env_var(), 0..4)),
        prop::option::of(prop::collection::vec(
            prop_oneof![
                text().prop_map(|n| json!({"configMapRef": {"name": n}})),
                text().prop_map(|n| json!({"secretRef": {"name": n}}))
            ],
            0..2,
        )),
        resources,
        prop::option::of(probe()),
        prop::option::of(probe()),
        prop::option::of(probe()),
        prop::option::of(security_context()),
        prop::option::of(number().prop_map(|s| json!({"preStop": {"sleep": {"seconds": s}}}))),
    )
        .prop_map(|(name, image, pull, ports, env, env_from, resources, live, ready, start, sc, lifecycle)| {
            obj(vec![
                ("name", Some(name.into())),
                ("image", image.map(Value::from)),
                ("imagePullPolicy", pull.map(Value::from)),
                ("ports", ports.map(Value::from)),
                ("env", env.map(Value::from)),
                ("envFrom", env_from.map(Value::from)),
                ("resources", resources),
                ("livenessProbe", live),
                ("readinessProbe", ready),
                ("startupProbe", start),
                ("securityContext", sc),
                ("lifecycle", lifecycle),
            ])
        })
}

fn pod_spec() -> impl Strategy<Value = Value> {
    let volume = prop_oneof![
        text().prop_map(|n| json!({"name": n, "emptyDir": {}})),
        (text(), text()).prop_map(|(n, p)| json!({"name": n, "hostPath": {"path": p}})),
        (text(), text(), text())
            .prop_map(|(n, s, k)| json!({"name": n, "secret": {"secretName": s, "items": [{"key": k, "path": "k"}]}})),
    ];
    (
        prop::collection::vec(typed_container(), 0..3),
        prop::option::of(prop::collection::vec(typed_container(), 0..2)),
        prop::option::of((prop::option::of(number()), flag(), prop::option::of(select(&["RuntimeDefault", "Unconfined", "Localhost"][..]))).prop_map(|(u, n, s)| obj(vec![("runAsUser", u), ("runAsNonRoot", n), ("seccompProfile", s.map(|t| json!({"type": t})))]))),
        flag(),
        flag(),
        prop::option::of(prop::collection::vec(volume, 0..3)),
        prop::option::of(number()),
        prop::option::of(labels().prop_map(|l| json!([{"maxSkew": 1, "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": "ScheduleAnyway", "labelSelector": {"matchLabels": l}}]))),
        prop::option::of(text()),
    )
        .prop_map(|(containers, init, sc, automount, host_network, volumes, grace, spread, sa)| {
            obj(vec![
                ("containers", Some(containers.into())),
                ("initContainers", init.map(Value::from)),
                ("securityContext", sc),
                ("automountServiceAccountToken", automount),
                ("hostNetwork", host_network),
                ("volumes", volumes.map(Value::from)),
                ("terminationGracePeriodSeconds", grace),
                ("topologySpreadConstraints", spread),
                ("serviceAccountName", sa),
            ])
        })
}

fn metadata() -> impl Strategy<Value = Value> {
    (
        select(
            &["todo-chatbot-backend", "todo-chatbot-frontend", "todo-chatbot-secrets", "todo-chatbot-config", "x"][..],
        ),
        prop::option::of(select(&["todo-chatbot", "default", "kube-system"][..])),
        labels(),
        prop::option::of(prop::collection::btree_map(
            select(&["kubegate.io/waive", "helm.sh/hook", "note", "checksum/config"][..]).prop_map(String::from),
            text(),
            0..3,
        )),
    )
        .prop_map(|(name, ns, labels, annotations)| {
            obj(vec![
                ("name", Some(name.into())),
                ("namespace", ns.map(Value::from)),
                ("labels", Some(labels)),
                ("annotations", annotations.map(|a| Value::Object(a.into_iter().collect()))),
            ])
        })
}

/// Objects of the right shape for their kind (they load, so the rules run on them), with random values.
fn typed_object() -> impl Strategy<Value = Value> {
    let template = || (labels(), pod_spec()).prop_map(|(l, spec)| json!({"metadata": {"labels": l}, "spec": spec}));
    let strategy = (
        prop::option::of(select(&["RollingUpdate", "Recreate"][..])),
        prop::option::of(port()),
        prop::option::of(port()),
    )
        .prop_map(|(t, s, u)| {
            obj(vec![
                ("type", t.map(Value::from)),
                ("rollingUpdate", Some(obj(vec![("maxSurge", s), ("maxUnavailable", u)]))),
            ])
        });
    let workload = (
        select(&["Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"][..]),
        metadata(),
        prop::option::of(number()),
        labels(),
        template(),
        prop::option::of(strategy),
    )
        .prop_map(|(kind, meta, replicas, selector, template, strategy)| {
            let mut spec = obj(vec![
                ("replicas", replicas),
                ("selector", Some(json!({"matchLabels": selector}))),
                ("template", Some(template)),
            ]);
            if let (Value::Object(m), Some(s)) = (&mut spec, strategy) {
                match kind {
                    "Deployment" => m.insert("strategy".into(), s),
                    "StatefulSet" => m.insert("serviceName".into(), json!("db")),
                    "DaemonSet" => m.remove("replicas"),
                    _ => None,
                };
            }
            json!({"apiVersion": "apps/v1", "kind": kind, "metadata": meta, "spec": spec})
        });
    let job = (metadata(), template(), any::<bool>()).prop_map(|(meta, template, cron)| {
        let job = json!({"template": template});
        if cron {
            json!({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": meta, "spec": {"schedule": "* * * * *", "jobTemplate": {"spec": job}}})
        } else {
            json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": meta, "spec": job})
        }
    });
    let pod = (metadata(), pod_spec())
        .prop_map(|(meta, spec)| json!({"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec}));
    let service = (metadata(), prop::option::of(select(&["ClusterIP", "NodePort", "LoadBalancer", "ExternalName", "Bogus"][..])), labels(), prop::collection::vec((prop::option::of(text()), number(), prop::option::of(port()), prop::option::of(number())), 0..3))
        .prop_map(|(meta, ty, selector, ports)| {
            let ports: Vec<Value> = ports.into_iter().map(|(n, p, t, np)| obj(vec![("name", n), ("port", Some(p)), ("targetPort", t), ("nodePort", np)])).collect();
            json!({"apiVersion": "v1", "kind": "Service", "metadata": meta, "spec": obj(vec![("type", ty.map(Value::from)), ("selector", Some(selector)), ("ports", Some(ports.into()))])})
        });
    let data = || {
        prop::collection::btree_map(
            select(&["BACKEND_URL", "DATABASE_URL", "JWT_SECRET", "LOG_LEVEL", "API_KEY_HEADER", "password"][..])
                .prop_map(String::from),
            text(),
            0..4,
        )
        .prop_map(|m| Value::Object(m.into_iter().collect()))
    };
    let config_map = (metadata(), data())
        .prop_map(|(meta, d)| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": d}));
    let secret = (metadata(), data(), any::<bool>()).prop_map(|(meta, d, string)| {
        let key = if string { "stringData" } else { "data" };
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": meta, "type": "Opaque", key: d})
    });
    let hpa = (metadata(), text(), prop::option::of(number()), number(), prop::option::of(number()))
        .prop_map(|(meta, target, min, max, cpu)| json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": meta, "spec": obj(vec![
            ("scaleTargetRef", Some(json!({"apiVersion": "apps/v1", "kind": "Deployment", "name": target}))),
            ("minReplicas", min), ("maxReplicas", Some(max)),
            ("metrics", cpu.map(|c| json!([{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": c}}}]))),
        ])}));
    let pdb = (metadata(), port(), labels()).prop_map(|(meta, min, l)| json!({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": meta, "spec": {"minAvailable": min, "selector": {"matchLabels": l}}}));
    let netpol = (metadata(), labels(), labels(), prop::option::of(number()))
        .prop_map(|(meta, pods, from, p)| json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": meta, "spec": {"podSelector": {"matchLabels": pods}, "policyTypes": ["Ingress"], "ingress": [{"from": [{"podSelector": {"matchLabels": from}}], "ports": [obj(vec![("port", p), ("protocol", Some("TCP".into()))])]}]}}));
    let small = (metadata(), select(&["Namespace", "ServiceAccount", "ClusterRole", "Role"][..]), flag()).prop_map(|(meta, kind, b)| match kind {
        "ServiceAccount" => json!({"apiVersion": "v1", "kind": kind, "metadata": meta, "automountServiceAccountToken": b}),
        "Namespace" => json!({"apiVersion": "v1", "kind": kind, "metadata": meta}),
        _ => json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind, "metadata": meta, "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]}),
    });
    let custom = (
        metadata(),
        select(&["monitoring.coreos.com/v1", "cert-manager.io/v1", "example.com/v1alpha1"][..]),
        tree(),
    )
        .prop_map(
            |(meta, api, spec)| json!({"apiVersion": api, "kind": "ServiceMonitor", "metadata": meta, "spec": spec}),
        );
    prop_oneof![4 => workload, 1 => job, 1 => pod, 2 => service, 1 => config_map, 1 => secret, 1 => hpa, 1 => pdb, 1 => netpol, 1 => small, 1 => custom]
}

/// The `n`-th node of `v` (depth first) replaced by `by`: one wrong type or unknown value in an object that is
/// otherwise right.
fn replace_nth(v: &mut Value, n: &mut usize, by: &Value) -> bool {
    if *n == 0 {
        *v = by.clone();
        return true;
    }
    *n -= 1;
    match v {
        Value::Object(m) => m.values_mut().any(|c| replace_nth(c, n, by)),
        Value::Array(a) => a.iter_mut().any(|c| replace_nth(c, n, by)),
        _ => false,
    }
}

/// A typed object, sometimes with one node replaced by a random tree; or a loose object.
fn any_object() -> impl Strategy<Value = Value> {
    prop_oneof![
        6 => typed_object(),
        1 => (typed_object(), 1usize..200, tree()).prop_map(|(mut o, mut n, by)| {
            replace_nth(&mut o, &mut n, &by);
            o
        }),
        1 => object(),
    ]
}

/// One document's text: YAML (block style) or JSON (flow style, also YAML), maybe under a helm `# Source:`.
fn document() -> impl Strategy<Value = String> {
    (any_object(), any::<bool>(), prop::option::of(0u8..4)).prop_map(|(o, as_json, source)| {
        let body = if as_json {
            serde_json::to_string(&o).unwrap_or_default()
        } else {
            serde_saphyr::to_string(&o).unwrap_or_else(|_| serde_json::to_string(&o).unwrap_or_default())
        };
        match source {
            Some(n) => format!("# Source: chart/templates/t{n}.yaml\n{body}"),
            None => body,
        }
    })
}

/// An edit of the text: truncation, an inserted token, a removed span, a duplicated or re-indented line.
#[derive(Debug, Clone)]
enum Edit {
    Truncate(usize),
    Insert(usize, String),
    Remove(usize, usize),
    DuplicateLine(usize),
    Indent(usize, usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        any::<usize>().prop_map(Edit::Truncate),
        (any::<usize>(), prop_oneof![select(TOKENS).prop_map(String::from), "\\PC{0,3}"])
            .prop_map(|(i, s)| Edit::Insert(i, s)),
        (any::<usize>(), 1usize..12).prop_map(|(i, n)| Edit::Remove(i, n)),
        any::<usize>().prop_map(Edit::DuplicateLine),
        (any::<usize>(), 1usize..5).prop_map(|(i, n)| Edit::Indent(i, n)),
    ]
}

fn apply(text: &str, e: &Edit) -> String {
    let chars: Vec<char> = text.chars().collect();
    // Positions wrap around the text, so any number is a valid place.
    let at = |i: &usize| i % (chars.len() + 1);
    let s = |range: std::ops::Range<usize>| chars[range].iter().collect::<String>();
    match e {
        Edit::Truncate(i) => s(0..at(i)),
        Edit::Insert(i, t) => format!("{}{t}{}", s(0..at(i)), s(at(i)..chars.len())),
        Edit::Remove(i, n) => {
            let start = at(i);
            format!("{}{}", s(0..start), s((start + n).min(chars.len())..chars.len()))
        }
        Edit::DuplicateLine(i) | Edit::Indent(i, _) => {
            let lines: Vec<&str> = text.split('\n').collect();
            let n = i % lines.len();
            let mut out: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
            match e {
                Edit::Indent(_, k) => out[n] = format!("{}{}", " ".repeat(*k), out[n]),
                _ => out.insert(n, lines[n].to_string()),
            }
            out.join("\n")
        }
    }
}

/// Several documents, then a few edits.
fn manifest_text() -> impl Strategy<Value = String> {
    let edits = prop_oneof![3 => Just(Vec::new()), 1 => prop::collection::vec(edit(), 1..4)];
    (prop::collection::vec(document(), 1..4), edits).prop_map(|(docs, edits)| {
        let mut text = docs.join("---\n");
        for e in &edits {
            text = apply(&text, e);
        }
        text
    })
}

/// Any input: mostly manifest-shaped, also token soup and arbitrary bytes.
fn input() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => manifest_text(),
        1 => prop::collection::vec(select(TOKENS), 0..60).prop_map(|t| t.concat()),
        1 => prop::collection::vec(any::<u8>(), 0..400).prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
    ]
}

/// An app whose routes KG-PROBE-006 compares the generated probes with (containers named `backend`).
fn apps() -> Vec<AppSource> {
    let route = |path: &str, subtree: bool| Route {
        path: path.into(),
        subtree,
        framework: Framework::FastApi,
        file: "backend/main.py".into(),
        line: 1,
    };
    vec![AppSource {
        dockerfile: "backend/Dockerfile".into(),
        context: "backend".into(),
        files_read: 1,
        routes: vec![route("/health", false), route("/api/{id}", false), route("/static", true), route("*", false)],
        mounts: vec!["/v1".into()],
        dynamic: None,
    }]
}

/// Every rule, parity and every report format over what loaded: must not panic (an invalid waiver is an error).
fn judge(raw: Option<&Model>, helm: Option<&Model>) {
    for config in [Config::default(), Config::absent()] {
        let Ok(outcome) = check_models(&config, raw, helm, None, None, &apps()) else { continue };
        let report = Report::from_check(&outcome, None);
        for format in [Format::Text, Format::Json, Format::Sarif, Format::Junit, Format::Markdown] {
            let _ = report.render(format, RenderOptions { color: format == Format::Text });
        }
    }
}

/// What the inputs came to: models loaded (and their objects), typed errors. Printed per property, so a run
/// shows the generators reach the typed model and the rules, not only the YAML parser's errors.
static LOADED: AtomicU64 = AtomicU64::new(0);
static OBJECTS: AtomicU64 = AtomicU64::new(0);
static REJECTED: AtomicU64 = AtomicU64::new(0);

fn count(result: &Result<Model, LoadManifestsError>) {
    match result {
        Ok(m) => {
            LOADED.fetch_add(1, Ordering::Relaxed);
            OBJECTS.fetch_add(m.objects.len() as u64, Ordering::Relaxed);
        }
        Err(_) => {
            REJECTED.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// A typed error names what it could not read.
fn typed(e: &LoadManifestsError) -> Result<(), TestCaseError> {
    prop_assert!(!e.to_string().is_empty(), "an error without a message: {e:?}");
    Ok(())
}

fn load_raw(text: &str) -> Result<(), TestCaseError> {
    let loaded = Model::from_str(text, Path::new("fuzz.yaml"), DeployPath::Raw);
    count(&loaded);
    match loaded {
        Ok(model) => judge(Some(&model), None),
        Err(e) => typed(&e)?,
    }
    Ok(())
}

fn load_helm(chart: &Path, text: &str, templates: &[String]) -> Result<(), TestCaseError> {
    for (i, t) in templates.iter().enumerate() {
        std::fs::write(chart.join("templates").join(format!("t{i}.yaml")), t)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
    }
    let raw = Model::from_str(text, Path::new("fuzz.yaml"), DeployPath::Raw).ok();
    let loaded = Model::from_helm_output(text, chart);
    count(&loaded);
    match loaded {
        Ok(model) => judge(raw.as_ref(), Some(&model)),
        Err(e) => typed(&e)?,
    }
    Ok(())
}

/// Run `test` on `strategy`: `PROPTEST_CASES` cases (default 64), or batches with fresh seeds for
/// `KUBEGATE_FUZZ_SECS` seconds. Panics with the shrunk input on a failure (a panic inside counts as one).
fn fuzz<S: Strategy>(name: &str, strategy: S, test: impl Fn(S::Value) -> Result<(), TestCaseError>)
where
    S::Value: std::fmt::Debug,
{
    let secs: Option<u64> = std::env::var("KUBEGATE_FUZZ_SECS").ok().and_then(|s| s.parse().ok());
    let cases: u32 = std::env::var("PROPTEST_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(64);
    let config = RunnerConfig {
        cases: if secs.is_some() { 2000 } else { cases },
        failure_persistence: None,
        ..RunnerConfig::default()
    };
    let deadline = secs.map(|s| Instant::now() + Duration::from_secs(s));
    let started = Instant::now();
    let mut ran: u64 = 0;
    loop {
        let mut runner = TestRunner::new(config.clone());
        match runner.run(&strategy, &test) {
            Ok(()) => ran += u64::from(config.cases),
            Err(TestError::Fail(why, input)) => panic!("{name}: {why}\nminimal input: {input:#?}"),
            Err(TestError::Abort(why)) => panic!("{name}: aborted: {why}"),
        }
        if deadline.is_none_or(|d| Instant::now() >= d) {
            break;
        }
    }
    eprintln!(
        "{name}: {ran} cases, no failure, in {:.1} s; loads in this process: {} models ({} objects), {} typed errors",
        started.elapsed().as_secs_f64(),
        LOADED.load(Ordering::Relaxed),
        OBJECTS.load(Ordering::Relaxed),
        REJECTED.load(Ordering::Relaxed)
    );
}

#[test]
fn the_raw_loader_never_panics() {
    fuzz("raw", input(), |text| load_raw(&text));
}

#[test]
fn the_helm_loader_never_panics() {
    let chart = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(chart.path().join("templates")).expect("templates/");
    let templates = prop::collection::vec(prop_oneof![input(), document()], 0..4);
    fuzz("helm", (input(), templates), |(text, templates)| load_helm(chart.path(), &text, &templates));
}

#[test]
fn edits_keep_within_the_text() {
    let text = "a: 1\nb: 2\n";
    assert_eq!(apply(text, &Edit::Truncate(11)), "");
    assert_eq!(apply(text, &Edit::Truncate(4)), "a: 1");
    assert_eq!(apply(text, &Edit::Indent(0, 2)), "  a: 1\nb: 2\n");
    assert_eq!(apply(text, &Edit::DuplicateLine(0)), "a: 1\na: 1\nb: 2\n");
    assert_eq!(apply("", &Edit::Remove(0, 5)), "");
    assert_eq!(apply("é", &Edit::Insert(0, "x".into())), "xé");
}
