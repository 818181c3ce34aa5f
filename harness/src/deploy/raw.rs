//! The raw-manifest path: every object of `manifests/`, server-side applied
//! in dependency order into the run's namespace (the Namespace object itself
//! is skipped: kubegate creates it), and a server-side dry run of the same.
//!
//! Objects are loaded by the shared [`crate::model`] and sent as their JSON
//! form, so the API server, not a local schema, decides what is valid.

use super::edit::Edit;
use super::{DeployError, FIELD_MANAGER};
use crate::finding::ObjectRef;
use kube::api::{Api, DynamicObject, GroupVersionKind, Patch, PatchParams};
use kube::discovery::ApiResource;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One object read from a manifest file.
#[derive(Debug, Clone)]
pub struct ManifestObject {
    /// The object as written (JSON form of the YAML document).
    pub value: Value,
    /// The file it came from.
    pub file: PathBuf,
}

impl ManifestObject {
    /// `kind` of the object.
    pub fn kind(&self) -> &str {
        self.value["kind"].as_str().unwrap_or("")
    }
    /// `metadata.name` of the object.
    pub fn name(&self) -> &str {
        self.value["metadata"]["name"].as_str().unwrap_or("")
    }
    /// `apiVersion` of the object.
    pub fn api_version(&self) -> &str {
        self.value["apiVersion"].as_str().unwrap_or("")
    }
    /// The object's reference, for reports.
    pub fn object_ref(&self) -> ObjectRef {
        ObjectRef {
            kind: self.kind().to_owned(),
            name: self.name().to_owned(),
            namespace: self.value["metadata"]["namespace"].as_str().map(str::to_owned),
        }
    }
}

/// Every object of every `*.yaml`/`*.yml` file directly in `dir`, parsed
/// by the shared [`crate::model`] (every document, duplicate keys rejected).
pub fn load_manifests(dir: &Path) -> Result<Vec<ManifestObject>, DeployError> {
    let m = crate::model::Model::load_dir(dir)
        .map_err(|e| DeployError::LoadManifest { file: dir.to_owned(), reason: format!("{e:#}") })?;
    Ok(from_model(&m))
}

/// Every object in a multi-document YAML text (e.g. `helm template` output).
pub fn parse_documents(text: &str, file: &Path) -> Result<Vec<ManifestObject>, DeployError> {
    let m = crate::model::Model::from_str(text, file, crate::finding::DeployPath::Raw)
        .map_err(|e| DeployError::LoadManifest { file: file.to_owned(), reason: format!("{e:#}") })?;
    Ok(from_model(&m))
}

fn from_model(m: &crate::model::Model) -> Vec<ManifestObject> {
    m.objects.iter().map(|o| ManifestObject { value: o.json.clone(), file: o.source.file.clone() }).collect()
}

/// Apply rank of a kind: configuration first, then what uses it.
pub fn apply_rank(kind: &str) -> u8 {
    match kind {
        "Namespace" => 0,
        "ServiceAccount" => 1,
        "Role" | "RoleBinding" => 2,
        "ConfigMap" => 3,
        "Secret" => 4,
        "PersistentVolumeClaim" => 5,
        "Service" => 6,
        "Deployment" | "StatefulSet" | "DaemonSet" => 7,
        "HorizontalPodAutoscaler" => 8,
        "PodDisruptionBudget" => 9,
        "NetworkPolicy" => 10,
        _ => 11,
    }
}

/// What to change in the manifests for one deployment (the same edits the
/// Helm path runs as its post-renderer: [`super::edit`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RawOverrides {
    /// Edits, in order.
    pub edits: Vec<Edit>,
}

impl RawOverrides {
    /// These edits.
    pub fn new(edits: Vec<Edit>) -> Self {
        RawOverrides { edits }
    }
}

/// The objects to send, in apply order: the Namespace and any committed
/// Secret named in `secrets` dropped (kubegate makes both), namespace set to
/// `namespace`, overrides applied, `status` removed.
pub fn prepare(
    objects: &[ManifestObject],
    namespace: &str,
    overrides: &RawOverrides,
    secrets: &super::secret::SecretSet,
) -> Vec<ManifestObject> {
    let mut out: Vec<ManifestObject> = objects
        .iter()
        .filter(|o| o.kind() != "Namespace" && !(o.kind() == "Secret" && secrets.contains(o.name())))
        .cloned()
        .map(|mut o| {
            if let Some(meta) = o.value.get_mut("metadata").and_then(Value::as_object_mut) {
                meta.insert("namespace".into(), namespace.into());
            }
            if let Some(obj) = o.value.as_object_mut() {
                obj.remove("status");
            }
            super::edit::apply_all(&overrides.edits, &mut o.value);
            o
        })
        .collect();
    out.sort_by_key(|o| apply_rank(o.kind())); // stable: file order within a rank
    out
}

/// The labels of the Namespace document in `objects`, if any.
pub fn namespace_labels(objects: &[ManifestObject]) -> BTreeMap<String, String> {
    objects
        .iter()
        .find(|o| o.kind() == "Namespace")
        .and_then(|o| serde_json::from_value(o.value["metadata"]["labels"].clone()).ok())
        .unwrap_or_default()
}

/// The outcome for one object of a server-side apply or dry run.
#[derive(Debug)]
pub struct ApplyOutcome {
    /// Which object.
    pub object: ObjectRef,
    /// The file it came from.
    pub file: PathBuf,
    /// `Ok` with the object the server returned, or why it was refused.
    pub result: Result<DynamicObject, DeployError>,
}

/// Resolves kinds to API resources once per kind (discovery is slow).
#[derive(Default)]
struct Kinds(BTreeMap<String, ApiResource>);

impl Kinds {
    async fn resolve(&mut self, client: &kube::Client, o: &ManifestObject) -> Result<ApiResource, DeployError> {
        let key = format!("{}/{}", o.api_version(), o.kind());
        if let Some(ar) = self.0.get(&key) {
            return Ok(ar.clone());
        }
        let (group, version) = match o.api_version().split_once('/') {
            Some((g, v)) => (g, v),
            None => ("", o.api_version()),
        };
        let gvk = GroupVersionKind::gvk(group, version, o.kind());
        let (ar, _caps) =
            kube::discovery::pinned_kind(client, &gvk).await.map_err(|source| DeployError::UnknownKind {
                api_version: o.api_version().to_owned(),
                kind: o.kind().to_owned(),
                name: o.name().to_owned(),
                source: Box::new(source),
            })?;
        self.0.insert(key, ar.clone());
        Ok(ar)
    }
}

async fn apply_one(
    client: &kube::Client,
    kinds: &mut Kinds,
    o: &ManifestObject,
    namespace: &str,
    params: &PatchParams,
) -> Result<DynamicObject, DeployError> {
    let ar = kinds.resolve(client, o).await?;
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), namespace, &ar);
    api.patch(o.name(), params, &Patch::Apply(&o.value)).await.map_err(|source| DeployError::Api {
        action: if params.dry_run { "server-side dry run of" } else { "apply" },
        kind: o.kind().to_owned(),
        name: o.name().to_owned(),
        namespace: namespace.to_owned(),
        source: Box::new(source),
    })
}

/// Server-side apply (`kubegate` field manager, forced) of every prepared
/// object, in order; stops at the first refusal, which names the object.
pub async fn apply_all(
    client: &kube::Client,
    namespace: &str,
    objects: &[ManifestObject],
) -> Result<Vec<DynamicObject>, DeployError> {
    let params = PatchParams::apply(FIELD_MANAGER).force();
    let mut kinds = Kinds::default();
    let mut out = Vec::with_capacity(objects.len());
    for o in objects {
        out.push(apply_one(client, &mut kinds, o, namespace, &params).await?);
    }
    Ok(out)
}

/// A server-side dry run of every prepared object: each one is checked
/// (no early stop), so the constitution suite can report all refusals.
/// The namespace must exist (admission runs in it).
pub async fn dry_run_all(client: &kube::Client, namespace: &str, objects: &[ManifestObject]) -> Vec<ApplyOutcome> {
    let params = PatchParams::apply(FIELD_MANAGER).force().dry_run();
    let mut kinds = Kinds::default();
    let mut out = Vec::with_capacity(objects.len());
    for o in objects {
        let result = apply_one(client, &mut kinds, o, namespace, &params).await;
        out.push(ApplyOutcome { object: o.object_ref(), file: o.file.clone(), result });
    }
    out
}

/// The whole raw path after the namespace exists: the Secret from `secrets`,
/// then every object of `manifests_dir` with `overrides`.
pub async fn deploy(
    client: &kube::Client,
    namespace: &str,
    manifests_dir: &Path,
    secrets: &super::secret::SecretSet,
    overrides: &RawOverrides,
) -> Result<Vec<DynamicObject>, DeployError> {
    let objects = load_manifests(manifests_dir)?;
    super::secret::apply_secrets(client, namespace, secrets).await?;
    apply_all(client, namespace, &prepare(&objects, namespace, overrides, secrets)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOCS: &str = r#"
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: np, namespace: todo-chatbot}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: todo-chatbot-backend, namespace: todo-chatbot}
spec:
  template:
    spec:
      containers:
        - {name: backend, image: todo-chatbot-backend:0.1.0}
status: {replicas: 2}
---
apiVersion: v1
kind: Namespace
metadata:
  name: todo-chatbot
  labels: {name: todo-chatbot, pod-security.kubernetes.io/enforce: restricted}
---
---
apiVersion: v1
kind: ConfigMap
metadata: {name: todo-chatbot-config, namespace: todo-chatbot}
---
apiVersion: v1
kind: Service
metadata: {name: todo-chatbot-backend}
"#;

    fn objects() -> Vec<ManifestObject> {
        parse_documents(DOCS, Path::new("m.yaml")).expect("valid fixture")
    }

    #[test]
    fn every_document_is_read_and_empty_ones_skipped() {
        assert_eq!(objects().len(), 5);
    }

    #[test]
    fn prepare_orders_rewrites_namespace_and_skips_namespace_object() {
        let ours =
            crate::deploy::secret::SecretSet::from_secrets([("todo-chatbot-secrets".to_owned(), Default::default())]);
        let p = prepare(&objects(), "kg-abc-raw", &RawOverrides::default(), &ours);
        let kinds: Vec<&str> = p.iter().map(|o| o.kind()).collect();
        assert_eq!(kinds, ["ConfigMap", "Service", "Deployment", "NetworkPolicy"]);
        assert!(p.iter().all(|o| o.value["metadata"]["namespace"] == "kg-abc-raw"));
        assert!(p.iter().all(|o| o.value.get("status").is_none()));
    }

    #[test]
    fn image_override_and_edits_apply() {
        let ov = RawOverrides::new(vec![
            Edit::Image { container: "backend".into(), image: "todo-chatbot-backend:missing".into() },
            Edit::Replicas { replicas: 1 },
        ]);
        let p = prepare(&objects(), "ns", &ov, &Default::default());
        let d = p.iter().find(|o| o.kind() == "Deployment").expect("deployment");
        assert_eq!(d.value["spec"]["template"]["spec"]["containers"][0]["image"], "todo-chatbot-backend:missing");
        assert_eq!(d.value["spec"]["replicas"], 1);
    }

    #[test]
    fn namespace_labels_come_from_the_namespace_document() {
        let l = namespace_labels(&objects());
        assert_eq!(l.get("pod-security.kubernetes.io/enforce").map(String::as_str), Some("restricted"));
    }

    #[test]
    fn duplicate_keys_and_nameless_documents_are_errors() {
        let dup = "apiVersion: v1\nkind: ConfigMap\nkind: Secret\nmetadata: {name: x}\n";
        assert!(parse_documents(dup, Path::new("d.yaml")).is_err());
        let err = parse_documents("apiVersion: v1\nkind: ConfigMap\n", Path::new("n.yaml")).expect_err("no name");
        assert!(err.to_string().contains("n.yaml"), "{err}");
    }
}
