//! Test helpers for rule unit tests: a small clean deployment (the chatbot as
//! names.md describes it) that passes every rule, and helpers that run the
//! rules on it or on a mutated copy.

use std::path::Path;

use crate::outcome::check_models;
use kubegate_core::config::Config;
use kubegate_core::contract::Contract;
use kubegate_core::finding::{DeployPath, Finding};
use kubegate_core::model::Model;

const POD_SECURITY: &str = "      automountServiceAccountToken: false
      terminationGracePeriodSeconds: 30
      securityContext:
        runAsNonRoot: true
        runAsUser: 10001
        runAsGroup: 10001
        fsGroup: 10001
        seccompProfile: {type: RuntimeDefault}
";

const CONTAINER_SECURITY: &str = "          securityContext:
            allowPrivilegeEscalation: false
            readOnlyRootFilesystem: true
            capabilities: {drop: [ALL]}
          resources:
            requests: {cpu: 100m, memory: 128Mi}
            limits: {cpu: 500m, memory: 256Mi}
          lifecycle:
            preStop: {sleep: {seconds: 5}}
          livenessProbe:
            httpGet: {path: /health, port: http}
            initialDelaySeconds: 10
            periodSeconds: 30
            timeoutSeconds: 2
            failureThreshold: 3
          readinessProbe:
            httpGet: {path: /ready, port: http}
            initialDelaySeconds: 5
            periodSeconds: 10
            timeoutSeconds: 2
            failureThreshold: 3
          startupProbe:
            httpGet: {path: /health, port: http}
            periodSeconds: 2
            failureThreshold: 30
          volumeMounts: [{name: tmp, mountPath: /tmp}]
";

fn labels(component: &str, indent: &str) -> String {
    format!(
        "{indent}app.kubernetes.io/name: todo-chatbot\n{indent}app.kubernetes.io/instance: todo-chatbot\n{indent}app.kubernetes.io/component: {component}\n{indent}app.kubernetes.io/part-of: todo-chatbot\n{indent}app.kubernetes.io/version: 0.1.0\n"
    )
}

fn selector(component: &str, indent: &str) -> String {
    format!(
        "{indent}app.kubernetes.io/name: todo-chatbot\n{indent}app.kubernetes.io/instance: todo-chatbot\n{indent}app.kubernetes.io/component: {component}\n"
    )
}

fn deployment(component: &str, port: u16, env: &str) -> String {
    let l2 = labels(component, "    ");
    let l6 = labels(component, "        ");
    let s6 = selector(component, "      ");
    format!(
        "apiVersion: apps/v1
kind: Deployment
metadata:
  name: todo-chatbot-{component}
  namespace: todo-chatbot
  labels:
{l2}spec:
  replicas: 2
  strategy:
    type: RollingUpdate
    rollingUpdate: {{maxSurge: 1, maxUnavailable: 0}}
  selector:
    matchLabels:
{s6}  template:
    metadata:
      labels:
{l6}    spec:
{POD_SECURITY}      topologySpreadConstraints:
        - maxSkew: 1
          topologyKey: kubernetes.io/hostname
          whenUnsatisfiable: ScheduleAnyway
          labelSelector:
            matchLabels:
{s12}      volumes: [{{name: tmp, emptyDir: {{}}}}]
      containers:
        - name: {component}
          image: todo-chatbot-{component}:0.1.0
          imagePullPolicy: Never
          ports: [{{name: http, containerPort: {port}}}]
{env}{CONTAINER_SECURITY}",
        s12 = selector(component, "              "),
    )
}

fn service(component: &str, ty: &str, port: u16) -> String {
    let l2 = labels(component, "    ");
    let s4 = selector(component, "    ");
    format!(
        "apiVersion: v1
kind: Service
metadata:
  name: todo-chatbot-{component}
  namespace: todo-chatbot
  labels:
{l2}spec:
  type: {ty}
  selector:
{s4}  ports: [{{name: http, port: {port}, targetPort: http}}]
"
    )
}

fn hpa_pdb(component: &str) -> String {
    let l2 = labels(component, "    ");
    let s6 = selector(component, "      ");
    format!(
        "apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: todo-chatbot-{component}
  namespace: todo-chatbot
  labels:
{l2}spec:
  scaleTargetRef: {{apiVersion: apps/v1, kind: Deployment, name: todo-chatbot-{component}}}
  minReplicas: 2
  maxReplicas: 4
  metrics:
    - type: Resource
      resource: {{name: cpu, target: {{type: Utilization, averageUtilization: 70}}}}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: todo-chatbot-{component}
  namespace: todo-chatbot
  labels:
{l2}spec:
  minAvailable: 1
  selector:
    matchLabels:
{s6}"
    )
}

const BACKEND_ENV: &str = "          env:
            - {name: DATABASE_URL, valueFrom: {secretKeyRef: {name: todo-chatbot-secrets, key: DATABASE_URL}}}
            - {name: JWT_SECRET, valueFrom: {secretKeyRef: {name: todo-chatbot-secrets, key: JWT_SECRET}}}
            - {name: OPENAI_API_KEY, valueFrom: {secretKeyRef: {name: todo-chatbot-secrets, key: OPENAI_API_KEY, optional: true}}}
            - {name: PORT, value: \"8000\"}
          envFrom: [{configMapRef: {name: todo-chatbot-config}}]
";

const FRONTEND_ENV: &str = "          env:
            - {name: BACKEND_URL, valueFrom: {configMapKeyRef: {name: todo-chatbot-config, key: BACKEND_URL}}}
";

/// The clean tree: passes every rule with the default config and [`CONTRACT`].
pub fn base() -> String {
    let ns = "apiVersion: v1
kind: Namespace
metadata:
  name: todo-chatbot
  labels: {name: todo-chatbot, environment: local, pod-security.kubernetes.io/enforce: restricted}
";
    let cm = format!(
        "apiVersion: v1
kind: ConfigMap
metadata:
  name: todo-chatbot-config
  namespace: todo-chatbot
  labels:
{}data:
  BACKEND_URL: http://todo-chatbot-backend:8000
  ENVIRONMENT: local
  LOG_LEVEL: info
  OPENAI_BASE_URL: https://api.openai.com/v1
  OPENAI_MODEL: gpt-4o-mini
  ALLOWED_ORIGINS: http://localhost:3000
",
        labels("config", "    ")
    );
    let netpol = format!(
        "apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: todo-chatbot-backend
  namespace: todo-chatbot
  labels:
{}spec:
  podSelector:
    matchLabels:
{}  policyTypes: [Ingress]
  ingress:
    - from:
        - podSelector:
            matchLabels:
{}      ports: [{{port: 8000, protocol: TCP}}]
",
        labels("backend", "    "),
        selector("backend", "      "),
        selector("frontend", "              ")
    );
    [
        ns.to_string(),
        cm,
        deployment("backend", 8000, BACKEND_ENV),
        service("backend", "ClusterIP", 8000),
        hpa_pdb("backend"),
        netpol,
        deployment("frontend", 3000, FRONTEND_ENV),
        service("frontend", "LoadBalancer", 80),
        hpa_pdb("frontend"),
    ]
    .join("---\n")
}

/// The contract the clean tree follows.
pub const CONTRACT: &str = r#"openapi: 3.1.0
info: {title: chatbot, version: 0.1.0}
paths:
  /health:
    get:
      x-kubegate-service: [backend, frontend]
      x-kubegate-probe: liveness
      responses: {"200": {description: alive}}
  /ready:
    get:
      x-kubegate-service: [backend, frontend]
      x-kubegate-probe: readiness
      responses: {"200": {description: ready}, "503": {description: not ready}}
  /:
    get:
      x-kubegate-service: frontend
      responses: {"200": {description: chat page}}
"#;

/// Findings of `yaml` (as the raw path) with the default config.
pub fn findings(yaml: &str) -> Vec<Finding> {
    findings_with(yaml, &Config::default())
}

/// Findings of `yaml` (as the raw path) with `config`.
pub fn findings_with(yaml: &str, config: &Config) -> Vec<Finding> {
    findings_with_apps(yaml, config, &[])
}

/// Findings of `yaml` (as the raw path) with `config` and the app sources `apps` (KG-PROBE-006).
pub fn findings_with_apps(yaml: &str, config: &Config, apps: &[kubegate_core::app_routes::AppSource]) -> Vec<Finding> {
    let model = Model::from_str(yaml, Path::new("test.yaml"), DeployPath::Raw).expect("test YAML loads");
    let contract = Contract::parse(CONTRACT, Path::new("openapi.yaml")).expect("test contract parses");
    check_models(config, Some(&model), None, Some(&contract), None, apps).expect("check runs").findings
}

/// Unwaived findings of one rule.
pub fn of_rule(yaml: &str, rule: &str) -> Vec<Finding> {
    findings(yaml).into_iter().filter(|f| f.rule_id == rule && f.waived.is_none()).collect()
}

/// Replace exactly one occurrence of `from` (panics otherwise, so a test
/// cannot silently mutate nothing).
pub fn mutate(from: &str, to: &str) -> String {
    let b = base();
    assert!(b.contains(from), "mutation target not in base: {from}");
    b.replacen(from, to, 1)
}

/// Assert the clean base does not break `rule` and the mutant does, and return the mutant's findings.
pub fn assert_caught(rule: &str, mutant: &str) -> Vec<Finding> {
    assert!(of_rule(&base(), rule).is_empty(), "clean base breaks {rule}: {:#?}", of_rule(&base(), rule));
    let f = of_rule(mutant, rule);
    assert!(!f.is_empty(), "mutant not caught by {rule}; findings: {:#?}", findings(mutant));
    for x in &f {
        assert!(!x.message.is_empty() && !x.fix.is_empty());
    }
    f
}

#[test]
fn clean_base_has_no_findings() {
    let f = findings(&base());
    assert!(f.is_empty(), "{f:#?}");
}
