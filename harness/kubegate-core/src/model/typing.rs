//! From JSON to a typed object: every stable Kubernetes kind kubegate knows, as its k8s-openapi type (unknown
//! fields and wrong types rejected with their path); custom resources and non-stable apiVersions carried
//! unstructured, so one unusual object is a finding on that object, not an abort.

// LoadManifestsError carries its evidence inline and is built at most once per run.
#![allow(clippy::result_large_err)]

use std::collections::BTreeMap;
use std::path::Path;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::yaml::{join_index, join_key};
use super::{LoadManifestsError, Object};
use crate::finding::{DeployPath, SourceLocation};

/// One table of the typed kinds: variant, k8s-openapi type, apiVersion, kind. Generates [`Typed`] and the
/// per-variant code, so adding a kind is one line.
macro_rules! typed_kinds {
    ($($(#[doc = $doc:literal])* $variant:ident($ty:ty) = $api:literal $kind:literal,)*) => {
        /// The typed form of an object: one variant per stable kind kubegate knows, and
        /// [`Typed::Unstructured`] for the rest (custom resources, non-stable apiVersions).
        #[derive(Debug, Clone)]
        #[allow(clippy::large_enum_variant)] // built once per object; boxing buys nothing here
        pub enum Typed {
            $($(#[doc = $doc])* $variant($ty),)*
            /// A custom resource, or an object of a non-stable apiVersion: only its metadata is typed; its JSON
            /// is kept as written.
            Unstructured(ObjectMeta),
        }

        impl Typed {
            /// The object's metadata.
            pub fn meta(&self) -> &ObjectMeta {
                match self {
                    $(Typed::$variant(o) => &o.metadata,)*
                    Typed::Unstructured(m) => m,
                }
            }

            /// The typed object serialised back to JSON (canonical forms); `None` for an unstructured one.
            pub(super) fn to_json(&self) -> Option<Result<Value, serde_json::Error>> {
                match self {
                    $(Typed::$variant(o) => Some(serde_json::to_value(o)),)*
                    Typed::Unstructured(_) => None,
                }
            }

            /// `Some` when (apiVersion, kind) is a typed kind: the typed object, or the path and message of the
            /// field that does not fit.
            fn from_json(
                api_version: &str,
                kind: &str,
                json: &Value,
                unknown: &mut Vec<String>,
            ) -> Option<Result<Typed, (String, String)>> {
                match (api_version, kind) {
                    $(($api, $kind) => Some(typed_from_json(json, unknown).map(Typed::$variant)),)*
                    _ => None,
                }
            }

            /// The stable apiVersion of a kind kubegate types (the first listed, e.g. `autoscaling/v2`).
            pub fn stable_api_version(kind: &str) -> Option<&'static str> {
                [$(($kind, $api),)*].into_iter().find(|(k, _)| *k == kind).map(|(_, a)| a)
            }
        }
    };
}

use k8s_openapi::api::apps::v1 as apps;
use k8s_openapi::api::autoscaling::{v1 as autoscaling_v1, v2 as autoscaling_v2};
use k8s_openapi::api::batch::v1 as batch;
use k8s_openapi::api::core::v1 as core;
use k8s_openapi::api::networking::v1 as networking;
use k8s_openapi::api::policy::v1 as policy;
use k8s_openapi::api::rbac::v1 as rbac;
use k8s_openapi::api::scheduling::v1 as scheduling;
use k8s_openapi::api::storage::v1 as storage;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1 as apiextensions;

typed_kinds! {
    /// v1 Namespace.
    Namespace(core::Namespace) = "v1" "Namespace",
    /// v1 ConfigMap.
    ConfigMap(core::ConfigMap) = "v1" "ConfigMap",
    /// v1 Secret.
    Secret(core::Secret) = "v1" "Secret",
    /// v1 ServiceAccount.
    ServiceAccount(core::ServiceAccount) = "v1" "ServiceAccount",
    /// v1 Service.
    Service(core::Service) = "v1" "Service",
    /// v1 Pod (e.g. a `helm test` hook).
    Pod(core::Pod) = "v1" "Pod",
    /// v1 PersistentVolumeClaim.
    PersistentVolumeClaim(core::PersistentVolumeClaim) = "v1" "PersistentVolumeClaim",
    /// v1 PersistentVolume.
    PersistentVolume(core::PersistentVolume) = "v1" "PersistentVolume",
    /// v1 ResourceQuota.
    ResourceQuota(core::ResourceQuota) = "v1" "ResourceQuota",
    /// v1 LimitRange.
    LimitRange(core::LimitRange) = "v1" "LimitRange",
    /// v1 Endpoints.
    Endpoints(core::Endpoints) = "v1" "Endpoints",
    /// apps/v1 Deployment.
    Deployment(apps::Deployment) = "apps/v1" "Deployment",
    /// apps/v1 StatefulSet.
    StatefulSet(apps::StatefulSet) = "apps/v1" "StatefulSet",
    /// apps/v1 DaemonSet.
    DaemonSet(apps::DaemonSet) = "apps/v1" "DaemonSet",
    /// apps/v1 ReplicaSet.
    ReplicaSet(apps::ReplicaSet) = "apps/v1" "ReplicaSet",
    /// batch/v1 Job.
    Job(batch::Job) = "batch/v1" "Job",
    /// batch/v1 CronJob.
    CronJob(batch::CronJob) = "batch/v1" "CronJob",
    /// autoscaling/v2 HorizontalPodAutoscaler.
    Hpa(autoscaling_v2::HorizontalPodAutoscaler) = "autoscaling/v2" "HorizontalPodAutoscaler",
    /// autoscaling/v1 HorizontalPodAutoscaler (stable, but the plan wants v2).
    HpaV1(autoscaling_v1::HorizontalPodAutoscaler) = "autoscaling/v1" "HorizontalPodAutoscaler",
    /// policy/v1 PodDisruptionBudget.
    Pdb(policy::PodDisruptionBudget) = "policy/v1" "PodDisruptionBudget",
    /// networking.k8s.io/v1 NetworkPolicy.
    NetworkPolicy(networking::NetworkPolicy) = "networking.k8s.io/v1" "NetworkPolicy",
    /// networking.k8s.io/v1 Ingress.
    Ingress(networking::Ingress) = "networking.k8s.io/v1" "Ingress",
    /// networking.k8s.io/v1 IngressClass.
    IngressClass(networking::IngressClass) = "networking.k8s.io/v1" "IngressClass",
    /// rbac.authorization.k8s.io/v1 Role.
    Role(rbac::Role) = "rbac.authorization.k8s.io/v1" "Role",
    /// rbac.authorization.k8s.io/v1 RoleBinding.
    RoleBinding(rbac::RoleBinding) = "rbac.authorization.k8s.io/v1" "RoleBinding",
    /// rbac.authorization.k8s.io/v1 ClusterRole.
    ClusterRole(rbac::ClusterRole) = "rbac.authorization.k8s.io/v1" "ClusterRole",
    /// rbac.authorization.k8s.io/v1 ClusterRoleBinding.
    ClusterRoleBinding(rbac::ClusterRoleBinding) = "rbac.authorization.k8s.io/v1" "ClusterRoleBinding",
    /// storage.k8s.io/v1 StorageClass.
    StorageClass(storage::StorageClass) = "storage.k8s.io/v1" "StorageClass",
    /// scheduling.k8s.io/v1 PriorityClass.
    PriorityClass(scheduling::PriorityClass) = "scheduling.k8s.io/v1" "PriorityClass",
    /// apiextensions.k8s.io/v1 CustomResourceDefinition.
    CustomResourceDefinition(apiextensions::CustomResourceDefinition) = "apiextensions.k8s.io/v1" "CustomResourceDefinition",
}

/// Whether an apiVersion is alpha or beta (`v1beta1`, `v2alpha1`, ...).
pub fn is_unstable_api_version(api_version: &str) -> bool {
    let version = api_version.rsplit('/').next().unwrap_or(api_version);
    version.contains("alpha") || version.contains("beta")
}

/// Whether an apiVersion belongs to Kubernetes itself (the core group, a group without a dot such as `apps`, or a
/// `*.k8s.io` group) rather than to a custom resource's group.
pub fn is_builtin_api_version(api_version: &str) -> bool {
    match api_version.rsplit_once('/') {
        None => true,
        Some((group, _)) => !group.contains('.') || group.ends_with(".k8s.io"),
    }
}

/// Type one document: a kind kubegate knows into its k8s-openapi type, anything else of another group or of a
/// non-stable apiVersion as [`Typed::Unstructured`]. A kind its built-in group does not have is bad input.
pub(super) fn type_object(
    json: Value,
    lines: BTreeMap<String, usize>,
    file: &Path,
    document: usize,
    start: Option<usize>,
    path: DeployPath,
) -> Result<Object, LoadManifestsError> {
    let str_field = |k: &str| json.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let api_version = str_field("apiVersion");
    let kind = str_field("kind");
    let invalid = |field: &str, message: String| LoadManifestsError::InvalidField {
        file: file.to_path_buf(),
        document,
        line: lines.get(field).copied().or(start),
        kind: if kind.is_empty() { "?".into() } else { kind.clone() },
        field: field.to_string(),
        message,
    };
    if !json.is_object() {
        return Err(invalid(".", "a Kubernetes object must be a mapping".into()));
    }
    if api_version.is_empty() {
        return Err(invalid("apiVersion", "missing (every object needs apiVersion and kind)".into()));
    }
    if kind.is_empty() {
        return Err(invalid("kind", "missing (every object needs apiVersion and kind)".into()));
    }
    let mut unknown: Vec<String> = Vec::new();
    let typed = match Typed::from_json(&api_version, &kind, &json, &mut unknown) {
        Some(typed) => typed.map_err(|(f, m)| invalid(&f, m))?,
        None if is_unstable_api_version(&api_version) || !is_builtin_api_version(&api_version) => {
            // Only the metadata is read; unknown metadata fields of a resource kubegate does not own are not its
            // business.
            let meta = json.get("metadata").cloned().unwrap_or(Value::Null);
            let meta: ObjectMeta = typed_from_json(&meta, &mut Vec::new())
                .map_err(|(f, m)| invalid(&if f == "." { "metadata".into() } else { format!("metadata.{f}") }, m))?;
            Typed::Unstructured(meta)
        }
        None => {
            return Err(LoadManifestsError::UnknownKind {
                file: file.to_path_buf(),
                document,
                line: lines.get("kind").copied().or(start),
                api_version,
                kind,
            });
        }
    };
    let meta = json.get("metadata");
    let name = meta.and_then(|m| m.get("name")).and_then(Value::as_str).unwrap_or("").to_string();
    if name.is_empty() {
        return Err(invalid("metadata.name", "missing: every object needs a name".into()));
    }
    if let Some(field) = unknown.into_iter().next() {
        return Err(LoadManifestsError::UnknownField {
            file: file.to_path_buf(),
            document,
            line: lines.get(&field).copied().or(start),
            api_version,
            kind,
            name,
            field,
        });
    }
    let namespace = meta.and_then(|m| m.get("namespace")).and_then(Value::as_str).map(String::from);
    Ok(Object {
        api_version,
        kind,
        name,
        namespace,
        path,
        source: SourceLocation { file: file.to_path_buf(), line: start, show: None },
        document,
        typed,
        json,
        lines,
    })
}

/// Deserialize a typed object, collecting ignored (unknown) field paths and
/// naming the path of a type error.
fn typed_from_json<T: DeserializeOwned>(json: &Value, unknown: &mut Vec<String>) -> Result<T, (String, String)> {
    let mut record = |p: serde_ignored::Path<'_>| unknown.push(ignored_path(&p));
    let de = serde_ignored::Deserializer::new(json.clone(), &mut record);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let mut field = String::new();
        for seg in e.path() {
            field = match seg {
                serde_path_to_error::Segment::Seq { index } => join_index(&field, *index),
                serde_path_to_error::Segment::Map { key } => join_key(&field, key),
                serde_path_to_error::Segment::Enum { variant } => join_key(&field, variant),
                serde_path_to_error::Segment::Unknown => join_key(&field, "?"),
            };
        }
        (if field.is_empty() { ".".into() } else { field }, e.inner().to_string())
    })
}

fn ignored_path(p: &serde_ignored::Path<'_>) -> String {
    match p {
        serde_ignored::Path::Root => String::new(),
        serde_ignored::Path::Seq { parent, index } => join_index(&ignored_path(parent), *index),
        serde_ignored::Path::Map { parent, key } => join_key(&ignored_path(parent), key),
        serde_ignored::Path::Some { parent }
        | serde_ignored::Path::NewtypeStruct { parent }
        | serde_ignored::Path::NewtypeVariant { parent } => ignored_path(parent),
    }
}
