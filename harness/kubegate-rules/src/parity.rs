//! Parity of the two deploy paths (AD-2): the raw manifests and the rendered
//! chart must describe the same objects, field by field. Helm's own labels
//! and annotations, and `helm test` hook objects, are left out.

use serde_json::Value;

use crate::rules::{PARITY_FIELDS, PARITY_OBJECTS};
use kubegate_core::config::Config;
use kubegate_core::finding::{DeployPath, Finding, ObjectRef, Severity, SourceLocation};
use kubegate_core::model::{Model, Object, join_index, join_key};

/// Labels Helm (or the chart convention) adds that raw manifests do not carry.
pub const IGNORED_LABELS: &[&str] = &["helm.sh/chart", "app.kubernetes.io/managed-by"];
/// Annotation prefixes Helm (or the chart convention) adds.
pub const IGNORED_ANNOTATION_PREFIXES: &[&str] = &["helm.sh/", "meta.helm.sh/", "checksum/"];

/// One difference between the paths.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ParityDiff {
    /// The object (`kind/name`).
    pub object: ObjectRef,
    /// Field path; `None` when the whole object exists on one path only.
    pub field: Option<String>,
    /// Value on the raw path (`None` = absent). Secret-looking values are redacted.
    pub raw: Option<String>,
    /// Value on the Helm path (`None` = absent).
    pub helm: Option<String>,
}

impl std::fmt::Display for ParityDiff {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let show = |v: &Option<String>| v.clone().unwrap_or_else(|| "(absent)".into());
        match &self.field {
            Some(field) => write!(f, "{} {field}: raw {}, helm {}", self.object, show(&self.raw), show(&self.helm)),
            None if self.raw.is_some() => write!(f, "{}: only in raw manifests", self.object),
            None => write!(f, "{}: only in the Helm chart", self.object),
        }
    }
}

/// Compare the two models; objects match by kind and name.
pub fn compare(raw: &Model, helm: &Model, config: &Config) -> Vec<ParityDiff> {
    fn relevant(m: &Model) -> Vec<&Object> {
        m.objects.iter().filter(|o| !o.is_helm_hook()).collect()
    }
    let raw_objs = relevant(raw);
    let helm_objs = relevant(helm);
    let mut diffs = Vec::new();
    for r in &raw_objs {
        match helm_objs.iter().find(|h| h.kind == r.kind && h.name == r.name) {
            Some(h) => {
                let secret_object = r.kind == "Secret";
                let mut d = Vec::new();
                diff_values(&normalise(&r.canonical_json()), &normalise(&h.canonical_json()), "", &mut d);
                diffs.extend(d.into_iter().map(|(field, a, b)| {
                    let redact = secret_object || looks_sensitive(&field, config);
                    ParityDiff {
                        object: r.object_ref(),
                        field: Some(field),
                        raw: a.map(|v| render(&v, redact)),
                        helm: b.map(|v| render(&v, redact)),
                    }
                }));
            }
            None => {
                diffs.push(ParityDiff { object: r.object_ref(), field: None, raw: Some("present".into()), helm: None });
            }
        }
    }
    for h in &helm_objs {
        if !raw_objs.iter().any(|r| r.kind == h.kind && r.name == h.name) {
            diffs.push(ParityDiff { object: h.object_ref(), field: None, raw: None, helm: Some("present".into()) });
        }
    }
    diffs
}

/// The diffs as KG-PARITY findings (reported on the Helm path, pointing at
/// the chart template; an object only in raw points at its manifest).
pub fn findings(diffs: &[ParityDiff], raw: &Model, helm: &Model) -> Vec<Finding> {
    let source_of = |m: &Model, o: &ObjectRef, field: Option<&str>| -> Option<SourceLocation> {
        let obj = m.find(&o.kind, &o.name)?;
        Some(SourceLocation {
            file: obj.source.file.clone(),
            line: field.and_then(|f| obj.line_of(f)).or(obj.source.line),
            show: obj.source.show.clone(),
        })
    };
    // Labels only the chart sets (its helpers' standard labels) change nothing that runs: selectors are compared
    // as fields of their own. One Low finding per object lists them, instead of one High finding per label.
    let (added_labels, diffs): (Vec<&ParityDiff>, Vec<&ParityDiff>) = diffs.iter().partition(|d| chart_added_label(d));
    let mut by_object: Vec<(&ObjectRef, Vec<&str>)> = Vec::new();
    for d in &added_labels {
        let label = d.field.as_deref().unwrap_or_default();
        match by_object.iter_mut().find(|(o, _)| *o == &d.object) {
            Some((_, labels)) => labels.push(label),
            None => by_object.push((&d.object, vec![label])),
        }
    }
    let grouped = by_object.into_iter().map(|(object, labels)| {
        let mut f = PARITY_FIELDS.finding(
            DeployPath::Helm,
            object.clone(),
            Some("metadata.labels".into()),
            format!(
                "{object}: the chart adds label(s) the manifest lacks: {} (its helpers' labels; selectors are compared on their own)",
                labels.join(", ")
            ),
            Some("Add the same labels to the manifest (or drop them from the chart's helpers) to keep the paths identical.".into()),
            source_of(helm, object, None),
        );
        f.severity = Severity::Low;
        f
    });
    let per_field = diffs
        .iter()
        .map(|d| {
            let (rule, path, source, fix) = match (&d.field, &d.raw) {
                (Some(f), _) => (
                    &PARITY_FIELDS,
                    DeployPath::Helm,
                    source_of(helm, &d.object, Some(f)),
                    format!("Make the chart render `{f}` as the manifest has it (or change the manifest), so both paths deploy the same thing."),
                ),
                (None, Some(_)) => (
                    &PARITY_OBJECTS,
                    DeployPath::Raw,
                    source_of(raw, &d.object, None),
                    "Add a template for this object to the chart, or remove it from manifests/.".into(),
                ),
                (None, None) => (
                    &PARITY_OBJECTS,
                    DeployPath::Helm,
                    source_of(helm, &d.object, None),
                    "Add this object to manifests/, or stop the chart rendering it.".into(),
                ),
            };
            rule.finding(path, d.object.clone(), d.field.clone(), d.to_string(), Some(fix), source)
        })
        .collect::<Vec<_>>();
    per_field.into_iter().chain(grouped).collect()
}

/// A label present on the Helm side only, on the object or its pod template.
fn chart_added_label(d: &ParityDiff) -> bool {
    let Some(field) = d.field.as_deref() else { return false };
    let on_labels =
        ["metadata.labels", "spec.template.metadata.labels", "spec.jobTemplate.spec.template.metadata.labels"]
            .iter()
            .any(|prefix| field.strip_prefix(prefix).is_some_and(|rest| rest.starts_with(['.', '['])));
    on_labels && d.raw.is_none()
}

/// Drop Helm's labels/annotations, nulls and empty maps/lists.
fn normalise(v: &Value) -> Value {
    let mut v = v.clone();
    strip_helm_metadata(&mut v, &["metadata"]);
    strip_helm_metadata(&mut v, &["spec", "template", "metadata"]);
    strip_empty(&mut v);
    v
}

fn strip_helm_metadata(v: &mut Value, at: &[&str]) {
    let mut cur = v;
    for k in at {
        match cur.get_mut(*k) {
            Some(next) => cur = next,
            None => return,
        }
    }
    if let Some(labels) = cur.get_mut("labels").and_then(Value::as_object_mut) {
        labels.retain(|k, _| !IGNORED_LABELS.contains(&k.as_str()));
    }
    if let Some(ann) = cur.get_mut("annotations").and_then(Value::as_object_mut) {
        ann.retain(|k, _| !IGNORED_ANNOTATION_PREFIXES.iter().any(|p| k.starts_with(p)));
    }
}

fn strip_empty(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.values_mut().for_each(strip_empty);
            m.retain(|_, x| !is_empty(x));
        }
        Value::Array(a) => a.iter_mut().for_each(strip_empty),
        _ => {}
    }
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

fn diff_values(a: &Value, b: &Value, path: &str, out: &mut Vec<(String, Option<Value>, Option<Value>)>) {
    match (a, b) {
        (Value::Object(ma), Value::Object(mb)) => {
            for (k, va) in ma {
                let p = join_key(path, k);
                match mb.get(k) {
                    Some(vb) => diff_values(va, vb, &p, out),
                    None => out.push((p, Some(va.clone()), None)),
                }
            }
            for (k, vb) in mb {
                if !ma.contains_key(k) {
                    out.push((join_key(path, k), None, Some(vb.clone())));
                }
            }
        }
        (Value::Array(aa), Value::Array(ab)) => {
            for i in 0..aa.len().max(ab.len()) {
                let p = join_index(path, i);
                match (aa.get(i), ab.get(i)) {
                    (Some(x), Some(y)) => diff_values(x, y, &p, out),
                    (x, y) => out.push((p, x.cloned(), y.cloned())),
                }
            }
        }
        _ if a == b => {}
        _ => out.push((path.to_string(), Some(a.clone()), Some(b.clone()))),
    }
}

fn looks_sensitive(field: &str, config: &Config) -> bool {
    let f = field.to_ascii_lowercase();
    config.policy.secret_key_patterns.iter().any(|p| f.contains(&p.to_ascii_lowercase()))
}

fn render(v: &Value, redact: bool) -> String {
    if redact {
        return "(redacted)".into();
    }
    let s = match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if s.chars().count() > 80 { format!("{}...", s.chars().take(77).collect::<String>()) } else { s }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    const RAW: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\n  labels: {app.kubernetes.io/name: x}\ndata:\n  LOG_LEVEL: info\n";

    fn model(text: &str, path: DeployPath) -> Model {
        Model::from_str(text, Path::new("t.yaml"), path).expect("parses")
    }

    #[test]
    fn helm_labels_are_ignored() {
        let helm = RAW.replace(
            "{app.kubernetes.io/name: x}",
            "{app.kubernetes.io/name: x, helm.sh/chart: c-1, app.kubernetes.io/managed-by: Helm}",
        );
        assert!(compare(&model(RAW, DeployPath::Raw), &model(&helm, DeployPath::Helm), &Config::default()).is_empty());
    }

    #[test]
    fn equal_quantities_in_different_forms_agree() {
        let dep = |cpu: &str| {
            format!(
                "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: d}}\nspec:\n  selector: {{matchLabels: {{a: b}}}}\n  template:\n    metadata: {{labels: {{a: b}}}}\n    spec:\n      containers: [{{name: c, image: i:1, resources: {{limits: {{cpu: {cpu}}}}}}}]\n"
            )
        };
        let d =
            compare(&model(&dep("1"), DeployPath::Raw), &model(&dep("\"1\""), DeployPath::Helm), &Config::default());
        assert!(d.is_empty(), "{d:?}");
        let d = compare(&model(&dep("1"), DeployPath::Raw), &model(&dep("2"), DeployPath::Helm), &Config::default());
        assert_eq!(d.len(), 1);
    }

    #[test]
    fn labels_only_the_chart_adds_are_one_low_finding_per_object() {
        let helm = RAW.replace(
            "  labels: {app.kubernetes.io/name: x}\n",
            "  labels:\n    app.kubernetes.io/name: x\n    app.kubernetes.io/version: v1\n    app.kubernetes.io/instance: r\n",
        );
        let (raw, helm) = (model(RAW, DeployPath::Raw), model(&helm, DeployPath::Helm));
        let d = compare(&raw, &helm, &Config::default());
        assert_eq!(d.len(), 2, "{d:?}");
        let f = findings(&d, &raw, &helm);
        assert_eq!(f.len(), 1, "{f:#?}");
        assert_eq!(f[0].severity, Severity::Low);
        assert!(
            f[0].message.contains("app.kubernetes.io/version") && f[0].message.contains("app.kubernetes.io/instance"),
            "{}",
            f[0].message
        );
        let changed = RAW.replace("{app.kubernetes.io/name: x}", "{app.kubernetes.io/name: other}");
        let changed = model(&changed, DeployPath::Helm);
        let f = findings(&compare(&raw, &changed, &Config::default()), &raw, &changed);
        assert_eq!(f[0].severity, Severity::High, "a label whose value differs stays a High finding");
    }

    #[test]
    fn field_difference_names_path_and_both_values() {
        let helm = RAW.replace("LOG_LEVEL: info", "LOG_LEVEL: debug");
        let d = compare(&model(RAW, DeployPath::Raw), &model(&helm, DeployPath::Helm), &Config::default());
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].to_string(), "ConfigMap/cfg data.LOG_LEVEL: raw info, helm debug");
    }

    #[test]
    fn missing_objects_and_secret_values() {
        let helm = format!(
            "{}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: extra}}\n",
            RAW.replace("LOG_LEVEL: info", "LOG_LEVEL: info\n  API_TOKEN: abc")
        );
        let d = compare(&model(RAW, DeployPath::Raw), &model(&helm, DeployPath::Helm), &Config::default());
        let text: Vec<String> = d.iter().map(|x| x.to_string()).collect();
        assert!(text.contains(&"ConfigMap/cfg data.API_TOKEN: raw (absent), helm (redacted)".to_string()), "{text:?}");
        assert!(text.contains(&"ConfigMap/extra: only in the Helm chart".to_string()), "{text:?}");
    }
}
