//! Changes to a deployment's rendered objects, made alike on both paths and
//! without knowing the chart: the raw path applies them to the manifests
//! before sending; the Helm path runs them as Helm's post-renderer
//! (`kubegate post-render EDITS`), so a broken or small variant needs none of
//! the chart's values keys (a team's chart has its own, or none).
//!
//! Edits are data (serialised to a file the post-renderer reads), not
//! closures, because Helm runs the post-renderer as another process.

use crate::process::{Cmd, SystemRunner};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// One change, applied to every object it concerns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "edit", rename_all = "kebab-case")]
pub enum Edit {
    /// `spec.replicas` of every Deployment.
    Replicas {
        /// The replica count.
        replicas: i64,
    },
    /// The CPU request of every container that declares requests.
    CpuRequest {
        /// A quantity, e.g. `20m`.
        cpu: String,
    },
    /// `spec.minReplicas` of every HorizontalPodAutoscaler.
    HpaMinReplicas {
        /// The floor.
        min: i64,
    },
    /// Every PodDisruptionBudget stays but guards nothing (`minAvailable: 0`).
    PdbGuardsNothing,
    /// The image of every Deployment container named `container`.
    Image {
        /// Container name.
        container: String,
        /// `repository:tag`.
        image: String,
    },
    /// An environment variable added to every Deployment container named `container`.
    Env {
        /// Container name.
        container: String,
        /// Variable name.
        name: String,
        /// Its value (never a secret: this file is on disk).
        value: String,
    },
    /// Strategy `Recreate` for every Deployment (every old pod goes before a new one starts).
    Recreate,
    /// Set the field at JSON `pointer` in every object of `kind`; with
    /// `container`, the pointer is relative to each of its Deployment
    /// containers of that name (`/readinessProbe/httpGet/path`).
    Set {
        /// Object kind, e.g. `Deployment`.
        kind: String,
        /// Container name, for a pointer inside a container.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        container: Option<String>,
        /// RFC 6901 pointer; missing objects on the way are created.
        pointer: String,
        /// The new value.
        value: Value,
    },
}

impl Edit {
    /// Apply to one object (objects it does not concern are left alone).
    pub fn apply(&self, obj: &mut Value) {
        let kind = obj["kind"].as_str().unwrap_or_default().to_owned();
        match self {
            Edit::Replicas { replicas } if kind == "Deployment" => obj["spec"]["replicas"] = (*replicas).into(),
            Edit::CpuRequest { cpu } => {
                for c in containers(obj, None) {
                    if c.pointer("/resources/requests").is_some() {
                        c["resources"]["requests"]["cpu"] = cpu.clone().into();
                    }
                }
            }
            Edit::HpaMinReplicas { min } if kind == "HorizontalPodAutoscaler" => {
                obj["spec"]["minReplicas"] = (*min).into();
            }
            Edit::PdbGuardsNothing if kind == "PodDisruptionBudget" => {
                if let Some(spec) = obj["spec"].as_object_mut() {
                    spec.remove("maxUnavailable");
                    spec.insert("minAvailable".into(), 0.into());
                }
            }
            Edit::Image { container, image } => {
                for c in containers(obj, Some(container)) {
                    c["image"] = image.clone().into();
                }
            }
            Edit::Env { container, name, value } => {
                for c in containers(obj, Some(container)) {
                    let env = c.as_object_mut().map(|o| o.entry("env").or_insert_with(|| Value::Array(Vec::new())));
                    if let Some(list) = env.and_then(Value::as_array_mut) {
                        list.retain(|e| e["name"] != name.as_str());
                        list.push(serde_json::json!({"name": name, "value": value}));
                    }
                }
            }
            Edit::Recreate if kind == "Deployment" => obj["spec"]["strategy"] = serde_json::json!({"type": "Recreate"}),
            Edit::Set { kind: k, container: None, pointer, value } if *k == kind => set_at(obj, pointer, value.clone()),
            Edit::Set { kind: k, container: Some(name), pointer, value } if *k == kind => {
                for c in containers(obj, Some(name)) {
                    set_at(c, pointer, value.clone());
                }
            }
            _ => {}
        }
    }
}

/// Apply every edit, in order, to one object.
pub fn apply_all(edits: &[Edit], obj: &mut Value) {
    for e in edits {
        e.apply(obj);
    }
}

/// The containers (and init containers) of a Deployment's pod template,
/// all or those named `name`.
fn containers<'a>(obj: &'a mut Value, name: Option<&'a str>) -> impl Iterator<Item = &'a mut Value> + 'a {
    let is_deployment = obj["kind"] == "Deployment";
    let spec = obj.pointer_mut("/spec/template/spec").filter(|_| is_deployment).and_then(Value::as_object_mut);
    spec.into_iter()
        .flat_map(|s| s.iter_mut().filter(|(k, _)| *k == "containers" || *k == "initContainers"))
        .filter_map(|(_, list)| list.as_array_mut())
        .flatten()
        .filter(move |c| name.is_none_or(|n| c["name"] == n))
}

/// Set `pointer` in `v`, creating objects on the way.
fn set_at(v: &mut Value, pointer: &str, value: Value) {
    let mut at = v;
    for token in pointer.split('/').skip(1) {
        let token = token.replace("~1", "/").replace("~0", "~");
        if !at.is_object() {
            *at = Value::Object(Default::default());
        }
        at = &mut at[token.as_str()];
    }
    *at = value;
}

/// Helm's output could not be post-rendered.
#[derive(Debug, thiserror::Error)]
pub enum PostRenderError {
    /// The edits file is missing or not kubegate's format.
    #[error("cannot read the edits file {file}: {reason}")]
    Edits {
        /// The file.
        file: PathBuf,
        /// Why.
        reason: String,
    },
    /// Helm's rendered manifests are not YAML.
    #[error("the rendered manifests are not YAML: {0}")]
    Yaml(String),
    /// Writing the plugin or edits file failed.
    #[error("cannot write {file}: {source}")]
    Write {
        /// The file.
        file: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// The post-renderer itself: Helm's rendered stream in, every document with
/// the edits applied out (as JSON documents, which YAML parsers read).
pub fn post_render(edits: &[Edit], rendered: &str) -> Result<String, PostRenderError> {
    let docs: Vec<Value> = serde_saphyr::from_multiple(rendered).map_err(|e| PostRenderError::Yaml(e.to_string()))?;
    let mut out = String::new();
    for mut doc in docs.into_iter().filter(|d| !d.is_null()) {
        apply_all(edits, &mut doc);
        out.push_str("---\n");
        out.push_str(&doc.to_string());
        out.push('\n');
    }
    Ok(out)
}

/// Where the post-renderer leaves its error (Helm 4 does not pass a
/// plugin's stderr on): beside the edits file.
pub fn error_file(edits_file: &Path) -> PathBuf {
    edits_file.with_extension("error")
}

/// Read an edits file written by [`PostRenderer::prepare`].
pub fn read_edits(file: &Path) -> Result<Vec<Edit>, PostRenderError> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| PostRenderError::Edits { file: file.to_owned(), reason: e.to_string() })?;
    serde_json::from_str(&text).map_err(|e| PostRenderError::Edits { file: file.to_owned(), reason: e.to_string() })
}

/// Name of the Helm 4 post-renderer plugin kubegate writes for a deployment.
const PLUGIN: &str = "kubegate-edits";

/// A deployment's edits as Helm post-renderer arguments: the `kubegate`
/// binary that runs `post-render`, and the files it needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostRenderer {
    /// The kubegate binary (`kubegate post-render FILE`).
    pub kubegate: PathBuf,
    /// The edits file.
    pub edits_file: PathBuf,
    /// `HELM_PLUGINS` for Helm 4 (its `--post-renderer` takes a plugin name).
    pub plugins_dir: PathBuf,
}

impl PostRenderer {
    /// The post-renderer's own error of the last run, if it failed.
    pub fn last_error(&self) -> Option<String> {
        std::fs::read_to_string(error_file(&self.edits_file)).ok()
    }

    /// Write `edits` and the Helm 4 plugin under `dir` (one per deployment:
    /// its namespace's state directory).
    pub fn prepare(kubegate: &Path, edits: &[Edit], dir: &Path) -> Result<Self, PostRenderError> {
        let write = |file: PathBuf, text: String| -> Result<PathBuf, PostRenderError> {
            if let Some(parent) = file.parent() {
                std::fs::create_dir_all(parent)
                    .map_err(|source| PostRenderError::Write { file: file.clone(), source })?;
            }
            std::fs::write(&file, text).map_err(|source| PostRenderError::Write { file: file.clone(), source })?;
            Ok(file)
        };
        let edits_text = serde_json::to_string_pretty(edits).unwrap_or_default();
        let edits_file = write(dir.join("edits.json"), edits_text)?;
        let _ = std::fs::remove_file(error_file(&edits_file));
        let plugins_dir = dir.join("helm-plugins");
        // Helm 4's plugin manifest; the edits file comes as its argument.
        let manifest = format!(
            "apiVersion: v1\ntype: postrenderer/v1\nname: {PLUGIN}\nversion: 0.1.0\nruntime: subprocess\nruntimeConfig:\n  platformCommand:\n    - command: {}\n      args: [\"post-render\"]\n",
            Value::from(kubegate.display().to_string())
        );
        write(plugins_dir.join(PLUGIN).join("plugin.yaml"), manifest)?;
        Ok(PostRenderer { kubegate: kubegate.to_owned(), edits_file, plugins_dir })
    }

    /// The `helm` arguments for `major` (3: an executable path; 4: a plugin name).
    pub fn helm_args(&self, major: u32) -> Vec<String> {
        let file = self.edits_file.display().to_string();
        if major >= 4 {
            vec!["--post-renderer".into(), PLUGIN.into(), "--post-renderer-args".into(), file]
        } else {
            let bin = self.kubegate.display().to_string();
            vec![
                "--post-renderer".into(),
                bin,
                "--post-renderer-args".into(),
                "post-render".into(),
                "--post-renderer-args".into(),
                file,
            ]
        }
    }
}

/// The major version of the `helm` at `bin` (`v4.1.4+g05fa379` -> 4); 3 when unreadable.
pub fn helm_major(bin: &Path) -> u32 {
    let cmd = Cmd::new(bin.display().to_string(), ["version", "--short"]);
    let out = crate::process::CommandRunner::run(&SystemRunner, &cmd).map(|o| o.stdout).unwrap_or_default();
    parse_major(&out).unwrap_or(3)
}

fn parse_major(version: &str) -> Option<u32> {
    version.trim().trim_start_matches('v').split('.').next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment() -> Value {
        json!({"kind": "Deployment", "metadata": {"name": "api"}, "spec": {"replicas": 2, "template": {"spec": {
            "containers": [
                {"name": "api", "image": "api:1", "resources": {"requests": {"cpu": "100m"}}},
                {"name": "sidecar", "image": "s:1"}]}}}})
    }

    #[test]
    fn each_edit_changes_only_what_it_names() {
        let mut d = deployment();
        apply_all(
            &[
                Edit::Replicas { replicas: 1 },
                Edit::CpuRequest { cpu: "20m".into() },
                Edit::Image { container: "api".into(), image: "api:2".into() },
                Edit::Env { container: "api".into(), name: "A".into(), value: "1".into() },
                Edit::Recreate,
                Edit::Set {
                    kind: "Deployment".into(),
                    container: Some("api".into()),
                    pointer: "/readinessProbe/httpGet/path".into(),
                    value: "/nope".into(),
                },
            ],
            &mut d,
        );
        assert_eq!(d["spec"]["replicas"], 1);
        assert_eq!(d["spec"]["strategy"]["type"], "Recreate");
        let api = &d["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(api["image"], "api:2");
        assert_eq!(api["resources"]["requests"]["cpu"], "20m");
        assert_eq!(api["env"], json!([{"name": "A", "value": "1"}]));
        assert_eq!(api["readinessProbe"]["httpGet"]["path"], "/nope");
        let sidecar = &d["spec"]["template"]["spec"]["containers"][1];
        assert_eq!(sidecar, &json!({"name": "sidecar", "image": "s:1"}), "untouched: no requests, other name");
    }

    #[test]
    fn kind_bound_edits_leave_other_kinds_alone() {
        let mut svc = json!({"kind": "Service", "spec": {"ports": [{"port": 80}]}});
        let before = svc.clone();
        apply_all(&[Edit::Replicas { replicas: 1 }, Edit::Recreate, Edit::PdbGuardsNothing], &mut svc);
        assert_eq!(svc, before);
        let mut pdb = json!({"kind": "PodDisruptionBudget", "spec": {"maxUnavailable": 1}});
        Edit::PdbGuardsNothing.apply(&mut pdb);
        assert_eq!(pdb["spec"], json!({"minAvailable": 0}));
        let mut hpa = json!({"kind": "HorizontalPodAutoscaler", "spec": {"minReplicas": 2}});
        Edit::HpaMinReplicas { min: 1 }.apply(&mut hpa);
        assert_eq!(hpa["spec"]["minReplicas"], 1);
    }

    #[test]
    fn post_render_edits_every_document_and_keeps_the_rest() {
        let rendered = "---\n# Source: c/templates/svc.yaml\napiVersion: v1\nkind: Service\nmetadata:\n  name: api\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: api\nspec:\n  replicas: 3\n---\n";
        let out = post_render(&[Edit::Replicas { replicas: 1 }], rendered).expect("renders");
        let docs: Vec<Value> = serde_saphyr::from_multiple(&out).expect("output is YAML");
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0]["kind"], "Service");
        assert_eq!(docs[1]["spec"]["replicas"], 1);
        assert!(post_render(&[], "a: [unclosed").is_err());
    }

    #[test]
    fn edits_survive_the_file_and_helm_gets_the_right_flags() {
        let dir = tempfile::tempdir().expect("temp dir");
        let edits = vec![Edit::Recreate, Edit::Image { container: "web".into(), image: "web:2".into() }];
        let p = PostRenderer::prepare(Path::new("/opt/kubegate"), &edits, dir.path()).expect("prepared");
        assert_eq!(read_edits(&p.edits_file).expect("read back"), edits);
        let plugin = std::fs::read_to_string(p.plugins_dir.join(PLUGIN).join("plugin.yaml")).expect("plugin");
        assert!(plugin.contains("type: postrenderer/v1") && plugin.contains("command: \"/opt/kubegate\""), "{plugin}");
        assert_eq!(p.helm_args(4)[..2], ["--post-renderer".to_owned(), PLUGIN.to_owned()]);
        assert_eq!(p.helm_args(3)[1], "/opt/kubegate");
        assert_eq!(parse_major("v4.1.4+g05fa379"), Some(4));
        assert_eq!(parse_major("v3.19.0"), Some(3));
    }
}
