//! Waivers: deliberate exceptions, each naming a rule and a reason. A waived
//! finding stays in the report (listed separately, with its reason) and does
//! not fail the run.
//!
//! Two sources: the annotation `kubegate.io/waive: <RULE>=<reason>[,<RULE>=<reason>]`
//! on an object (or on its pod template), and `[[waiver]]` entries in kubegate.toml.

use kubegate_core::config::Config;
use kubegate_core::finding::Finding;
use kubegate_core::model::Model;

/// The waiver annotation key.
pub const ANNOTATION: &str = "kubegate.io/waive";

/// Parse an annotation value into (rule, reason) pairs. Entries without `=`
/// or with an empty reason are returned as errors (a waiver needs a reason).
pub fn parse_annotation(value: &str) -> Vec<Result<(String, String), String>> {
    value
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(|entry| match entry.split_once('=') {
            Some((rule, reason)) if !reason.trim().is_empty() => {
                Ok((rule.trim().to_string(), reason.trim().to_string()))
            }
            _ => Err(entry.to_string()),
        })
        .collect()
}

/// The reason an object waives `rule`, from its annotations or its pod template's.
fn annotation_reason(model: &Model, finding: &Finding) -> Option<String> {
    let obj = model.objects.iter().find(|o| o.kind == finding.object.kind && o.name == finding.object.name)?;
    let mut sources = vec![obj.annotations()];
    if let Some(pod) = obj.pod()
        && let Some(a) = pod.meta.and_then(|m| m.annotations.as_ref())
    {
        sources.push(a);
    }
    sources.into_iter().filter_map(|a| a.get(ANNOTATION)).find_map(|v| {
        parse_annotation(v).into_iter().flatten().find(|(r, _)| *r == finding.rule_id).map(|(_, reason)| reason)
    })
}

/// The reason a `[[waiver]]` of the config gives for this finding.
fn config_reason(config: &Config, finding: &Finding) -> Option<String> {
    config
        .waivers
        .iter()
        .find(|w| {
            w.rule == finding.rule_id
                && (w.object == "*" || w.object == finding.object.to_string())
                && w.path.is_none_or(|p| p == finding.path)
        })
        .map(|w| w.reason.clone())
}

/// Mark every finding a waiver covers (`waived = Some(reason)`). `models`
/// are the models the findings came from (matched by deploy path).
pub fn apply(findings: &mut [Finding], config: &Config, models: &[&Model]) {
    for f in findings.iter_mut() {
        if f.waived.is_some() {
            continue;
        }
        let from_annotation = models.iter().filter(|m| m.path == f.path).find_map(|m| annotation_reason(m, f));
        f.waived = from_annotation
            .map(|r| format!("{r} (annotation {ANNOTATION})"))
            .or_else(|| config_reason(config, f).map(|r| format!("{r} (kubegate.toml [[waiver]])")));
    }
}

/// Annotation entries that cannot be waivers (no reason, unknown rule), as
/// `(object, entry)`; `check` turns them into bad-input errors.
pub fn invalid_annotations(model: &Model) -> Vec<(String, String)> {
    let mut bad = Vec::new();
    for obj in &model.objects {
        let mut values: Vec<&String> = obj.annotations().get(ANNOTATION).into_iter().collect();
        if let Some(pod) = obj.pod()
            && let Some(v) = pod.meta.and_then(|m| m.annotations.as_ref()).and_then(|a| a.get(ANNOTATION))
        {
            values.push(v);
        }
        for v in values {
            for entry in parse_annotation(v) {
                match entry {
                    Err(e) => {
                        bad.push((obj.object_ref().to_string(), format!("`{e}` has no reason (write RULE=reason)")));
                    }
                    Ok((rule, _)) if rule.parse::<kubegate_core::rule_id::RuleId>().is_err() => {
                        bad.push((obj.object_ref().to_string(), format!("unknown rule `{rule}`")));
                    }
                    Ok(_) => {}
                }
            }
        }
    }
    bad
}

#[cfg(test)]
mod tests {
    use super::*;
    use kubegate_core::finding::{DeployPath, ObjectRef, Severity};
    use std::path::Path;

    fn finding(rule: &str, kind: &str, name: &str) -> Finding {
        Finding {
            rule_id: rule.into(),
            severity: Severity::Medium,
            path: DeployPath::Raw,
            object: ObjectRef { kind: kind.into(), name: name.into(), namespace: None },
            field: None,
            message: "m".into(),
            fix: "f".into(),
            source: None,
            waived: None,
        }
    }

    #[test]
    fn annotation_on_pod_template_waives_with_reason() {
        let text = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  selector: {matchLabels: {a: b}}\n  template:\n    metadata:\n      labels: {a: b}\n      annotations:\n        kubegate.io/waive: KG-PROBE-003=same endpoint by design, KG-SEC-002=legacy uid\n    spec:\n      containers: [{name: c, image: i:1}]\n";
        let model = Model::from_str(text, Path::new("t.yaml"), DeployPath::Raw).expect("parses");
        let mut fs = vec![finding("KG-PROBE-003", "Deployment", "web"), finding("KG-SEC-007", "Deployment", "web")];
        apply(&mut fs, &Config::default(), &[&model]);
        assert!(fs[0].waived.as_deref().is_some_and(|r| r.starts_with("same endpoint by design")));
        assert_eq!(fs[1].waived, None);
    }

    #[test]
    fn config_waiver_matches_object_and_path() {
        let mut config = Config::default();
        config.waivers.push(kubegate_core::config::Waiver {
            rule: "KG-WL-003".into(),
            object: "Deployment/web".into(),
            path: Some(DeployPath::Helm),
            reason: "single node".into(),
        });
        let model = Model { path: DeployPath::Raw, root: ".".into(), objects: vec![] };
        let mut fs = vec![finding("KG-WL-003", "Deployment", "web")];
        apply(&mut fs, &config, &[&model]);
        assert_eq!(fs[0].waived, None, "waiver is for the helm path only");
        fs[0].path = DeployPath::Helm;
        apply(&mut fs, &config, &[&model]);
        assert!(fs[0].waived.is_some());
    }

    #[test]
    fn annotation_without_reason_is_invalid() {
        assert_eq!(parse_annotation("KG-SEC-001"), vec![Err("KG-SEC-001".to_string())]);
        assert_eq!(parse_annotation("A=b, C = d "), vec![Ok(("A".into(), "b".into())), Ok(("C".into(), "d".into()))]);
    }
}
