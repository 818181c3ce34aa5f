//! KG-SEC: the pod and container security context (Pod Security Standards
//! restricted, plus host access and the service-account token).

use super::{RuleContext, Sink, containers};

pub(super) fn check(ctx: &RuleContext<'_>, sink: &mut Sink<'_>) {
    let policy = &ctx.config.policy;
    for (obj, pod) in ctx.model.pods() {
        let p = pod.spec;
        let prefix = pod.prefix;
        for (flag, value) in [("hostNetwork", p.host_network), ("hostPID", p.host_pid), ("hostIPC", p.host_ipc)] {
            if value == Some(true) {
                sink.report("KG-SEC-008", obj, format!("{prefix}.{flag}"), format!("pod spec sets {flag}: true"), None);
            }
        }
        for (i, v) in p.volumes.as_deref().unwrap_or(&[]).iter().enumerate() {
            if let Some(hp) = &v.host_path {
                let sock = if hp.path.contains("docker.sock") || hp.path.contains("containerd.sock") {
                    " (container runtime socket: root on the node)"
                } else {
                    ""
                };
                sink.report(
                    "KG-SEC-009",
                    obj,
                    format!("{prefix}.volumes[{i}].hostPath"),
                    format!("volume `{}` mounts host path {}{sock}", v.name, hp.path),
                    None,
                );
            }
        }
        if p.automount_service_account_token != Some(false) {
            let sa = p.service_account_name.as_deref().unwrap_or("default");
            // The pod's own field wins over its ServiceAccount's: only an unset
            // pod field falls back to what the ServiceAccount says.
            let sa_off = p.automount_service_account_token.is_none()
                && ctx.model.objects.iter().any(|o| match &o.typed {
                    crate::model::Typed::ServiceAccount(s) => {
                        o.name == sa && s.automount_service_account_token == Some(false)
                    }
                    _ => false,
                });
            if !sa_off {
                sink.report(
                    "KG-SEC-011",
                    obj,
                    format!("{prefix}.automountServiceAccountToken"),
                    format!(
                        "automountServiceAccountToken is {} and ServiceAccount `{sa}` does not disable it: the API token is mounted",
                        p.automount_service_account_token.map(|b| b.to_string()).unwrap_or_else(|| "unset".into())
                    ),
                    None,
                );
            }
        }
        if let Some(fs) = p.security_context.as_ref().and_then(|s| s.fs_group)
            && fs < policy.min_uid
        {
            sink.report(
                "KG-SEC-002",
                obj,
                format!("{prefix}.securityContext.fsGroup"),
                format!("fsGroup {fs} is below {}", policy.min_uid),
                None,
            );
        }
    }
    for cv in containers(ctx.model) {
        let name = &cv.c.name;
        let psc = cv.pod.spec.security_context.as_ref();
        let csc = cv.c.security_context.as_ref();
        let pfx = cv.pod.prefix;
        // Container settings override the pod's.
        let run_as_non_root = csc.and_then(|s| s.run_as_non_root).or(psc.and_then(|s| s.run_as_non_root));
        let run_as_user = csc.and_then(|s| s.run_as_user).or(psc.and_then(|s| s.run_as_user));
        let run_as_group = csc.and_then(|s| s.run_as_group).or(psc.and_then(|s| s.run_as_group));
        if run_as_non_root != Some(true) || run_as_user == Some(0) {
            let why = if run_as_user == Some(0) {
                "runs as UID 0".to_string()
            } else {
                format!("runAsNonRoot is {}", run_as_non_root.map(|b| b.to_string()).unwrap_or_else(|| "unset".into()))
            };
            sink.report(
                "KG-SEC-001",
                cv.obj,
                cv.at("securityContext.runAsNonRoot"),
                format!("container `{name}`: {why}"),
                None,
            );
        }
        for (field, v) in [("runAsUser", run_as_user), ("runAsGroup", run_as_group)] {
            match v {
                Some(id) if id >= policy.min_uid => {}
                Some(id) => sink.report(
                    "KG-SEC-002",
                    cv.obj,
                    cv.at(&format!("securityContext.{field}")),
                    format!("container `{name}`: {field} {id} is below {}", policy.min_uid),
                    None,
                ),
                None => sink.report(
                    "KG-SEC-002",
                    cv.obj,
                    format!("{pfx}.securityContext.{field}"),
                    format!("container `{name}`: {field} is not set (the image decides)"),
                    None,
                ),
            }
        }
        if csc.and_then(|s| s.read_only_root_filesystem) != Some(true) {
            sink.report(
                "KG-SEC-003",
                cv.obj,
                cv.at("securityContext.readOnlyRootFilesystem"),
                format!("container `{name}`: root filesystem is writable"),
                None,
            );
        }
        if csc.and_then(|s| s.allow_privilege_escalation) != Some(false) {
            sink.report(
                "KG-SEC-004",
                cv.obj,
                cv.at("securityContext.allowPrivilegeEscalation"),
                format!(
                    "container `{name}`: allowPrivilegeEscalation is {}",
                    csc.and_then(|s| s.allow_privilege_escalation)
                        .map(|b| b.to_string())
                        .unwrap_or_else(|| "unset (defaults to true)".into())
                ),
                None,
            );
        }
        if csc.and_then(|s| s.privileged) == Some(true) {
            sink.report(
                "KG-SEC-005",
                cv.obj,
                cv.at("securityContext.privileged"),
                format!("container `{name}` is privileged"),
                None,
            );
        }
        let caps = csc.and_then(|s| s.capabilities.as_ref());
        let drops_all = caps.and_then(|c| c.drop.as_ref()).is_some_and(|d| d.iter().any(|x| x == "ALL"));
        let bad_adds: Vec<&String> = caps
            .and_then(|c| c.add.as_ref())
            .map(|a| a.iter().filter(|x| !policy.allowed_capabilities.contains(x)).collect())
            .unwrap_or_default();
        if !drops_all {
            sink.report(
                "KG-SEC-006",
                cv.obj,
                cv.at("securityContext.capabilities.drop"),
                format!("container `{name}` does not drop ALL capabilities"),
                None,
            );
        }
        if !bad_adds.is_empty() {
            let list: Vec<&str> = bad_adds.iter().map(|s| s.as_str()).collect();
            sink.report(
                "KG-SEC-006",
                cv.obj,
                cv.at("securityContext.capabilities.add"),
                format!("container `{name}` adds capabilities {}", list.join(", ")),
                None,
            );
        }
        let seccomp = csc
            .and_then(|s| s.seccomp_profile.as_ref())
            .or(psc.and_then(|s| s.seccomp_profile.as_ref()))
            .map(|p| p.type_.clone());
        if !matches!(seccomp.as_deref(), Some("RuntimeDefault" | "Localhost")) {
            sink.report(
                "KG-SEC-007",
                cv.obj,
                format!("{pfx}.securityContext.seccompProfile"),
                format!("container `{name}`: seccompProfile is {}", seccomp.unwrap_or_else(|| "unset".into())),
                None,
            );
        }
        for (i, port) in cv.c.ports.as_deref().unwrap_or(&[]).iter().enumerate() {
            if let Some(hp) = port.host_port {
                sink.report(
                    "KG-SEC-010",
                    cv.obj,
                    cv.at(&format!("ports[{i}].hostPort")),
                    format!("container `{name}` binds hostPort {hp}"),
                    None,
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::{assert_caught, mutate};

    #[test]
    fn run_as_non_root() {
        assert_caught("KG-SEC-001", &mutate("        runAsNonRoot: true\n", ""));
        assert_caught(
            "KG-SEC-001",
            &mutate("allowPrivilegeEscalation: false\n", "allowPrivilegeEscalation: false\n            runAsUser: 0\n"),
        );
    }

    #[test]
    fn low_uid() {
        let f = assert_caught("KG-SEC-002", &mutate("runAsUser: 10001", "runAsUser: 1000"));
        assert!(f[0].message.contains("1000 is below 10000"), "{}", f[0].message);
        assert_caught("KG-SEC-002", &mutate("fsGroup: 10001", "fsGroup: 0"));
    }

    #[test]
    fn writable_root() {
        assert_caught("KG-SEC-003", &mutate("readOnlyRootFilesystem: true", "readOnlyRootFilesystem: false"));
    }

    #[test]
    fn privilege_escalation() {
        assert_caught("KG-SEC-004", &mutate("allowPrivilegeEscalation: false", "allowPrivilegeEscalation: true"));
    }

    #[test]
    fn privileged() {
        assert_caught(
            "KG-SEC-005",
            &mutate("allowPrivilegeEscalation: false", "allowPrivilegeEscalation: false\n            privileged: true"),
        );
    }

    #[test]
    fn capabilities() {
        assert_caught("KG-SEC-006", &mutate("capabilities: {drop: [ALL]}", "capabilities: {drop: [NET_RAW]}"));
        assert_caught(
            "KG-SEC-006",
            &mutate("capabilities: {drop: [ALL]}", "capabilities: {drop: [ALL], add: [SYS_ADMIN]}"),
        );
    }

    #[test]
    fn seccomp() {
        assert_caught(
            "KG-SEC-007",
            &mutate("seccompProfile: {type: RuntimeDefault}", "seccompProfile: {type: Unconfined}"),
        );
    }

    #[test]
    fn host_namespaces() {
        assert_caught(
            "KG-SEC-008",
            &mutate(
                "      automountServiceAccountToken: false\n",
                "      automountServiceAccountToken: false\n      hostNetwork: true\n",
            ),
        );
    }

    #[test]
    fn host_path() {
        let f = assert_caught(
            "KG-SEC-009",
            &mutate(
                "volumes: [{name: tmp, emptyDir: {}}]",
                "volumes: [{name: tmp, hostPath: {path: /var/run/docker.sock}}]",
            ),
        );
        assert!(f[0].message.contains("docker.sock"));
    }

    #[test]
    fn host_port() {
        assert_caught(
            "KG-SEC-010",
            &mutate(
                "ports: [{name: http, containerPort: 8000}]",
                "ports: [{name: http, containerPort: 8000, hostPort: 8000}]",
            ),
        );
    }

    #[test]
    fn token_automount() {
        assert_caught("KG-SEC-011", &mutate("      automountServiceAccountToken: false\n", ""));
    }
}
