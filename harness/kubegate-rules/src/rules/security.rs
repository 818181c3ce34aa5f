//! KG-SEC: the pod and container security context (Pod Security Standards
//! restricted, plus host access and the service-account token).

use k8s_openapi::api::core::v1::{PodSecurityContext, SecurityContext};

use super::{Check, ContainerView, Rule, RuleContext, RuleId, Sink, containers};
use kubegate_core::finding::Severity;

pub(super) const RULES: &[Rule] = &[
    NON_ROOT,
    MIN_UID,
    READ_ONLY_ROOT,
    NO_PRIVILEGE_ESCALATION,
    NOT_PRIVILEGED,
    CAPABILITIES,
    SECCOMP,
    NO_HOST_NAMESPACES,
    NO_HOST_PATH,
    NO_HOST_PORT,
    NO_TOKEN_AUTOMOUNT,
];

const NON_ROOT: Rule = Rule {
    id: RuleId::Sec001,
    severity: Severity::High,
    title: "runAsNonRoot is true",
    rationale: "A root process in a container is one kernel bug from root on the node (PSS restricted).",
    fix: "Set securityContext.runAsNonRoot: true on the pod or container.",
    check: Check::Model(non_root),
};

const MIN_UID: Rule = Rule {
    id: RuleId::Sec002,
    severity: Severity::Low,
    title: "UID/GID above the minimum (10000)",
    rationale: "Low UIDs collide with host users.",
    fix: "Set runAsUser/runAsGroup/fsGroup to 10001 or higher.",
    check: Check::Model(min_uid),
};

const READ_ONLY_ROOT: Rule = Rule {
    id: RuleId::Sec003,
    severity: Severity::Medium,
    title: "readOnlyRootFilesystem is true",
    rationale: "A writable root lets an attacker drop tools into the container.",
    fix: "Set readOnlyRootFilesystem: true and mount an emptyDir where the app writes.",
    check: Check::Model(read_only_root),
};

const NO_PRIVILEGE_ESCALATION: Rule = Rule {
    id: RuleId::Sec004,
    severity: Severity::High,
    title: "allowPrivilegeEscalation is false",
    rationale: "setuid binaries could gain privileges (PSS restricted).",
    fix: "Set securityContext.allowPrivilegeEscalation: false.",
    check: Check::Model(no_privilege_escalation),
};

const NOT_PRIVILEGED: Rule = Rule {
    id: RuleId::Sec005,
    severity: Severity::Critical,
    title: "container is not privileged",
    rationale: "A privileged container is root on the node (PSS baseline).",
    fix: "Remove securityContext.privileged or set it to false.",
    check: Check::Model(not_privileged),
};

const CAPABILITIES: Rule = Rule {
    id: RuleId::Sec006,
    severity: Severity::High,
    title: "capabilities drop ALL and add none beyond the allowed",
    rationale: "Default capabilities (NET_RAW, ...) are not needed by a web service (PSS restricted).",
    fix: "Set capabilities.drop: [ALL] and no add (NET_BIND_SERVICE at most).",
    check: Check::Model(capabilities),
};

const SECCOMP: Rule = Rule {
    id: RuleId::Sec007,
    severity: Severity::Medium,
    title: "seccompProfile is RuntimeDefault",
    rationale: "Without a seccomp profile every syscall is open (PSS restricted).",
    fix: "Set securityContext.seccompProfile.type: RuntimeDefault.",
    check: Check::Model(seccomp),
};

const NO_HOST_NAMESPACES: Rule = Rule {
    id: RuleId::Sec008,
    severity: Severity::Critical,
    title: "no hostNetwork, hostPID or hostIPC",
    rationale: "Host namespaces break pod isolation (PSS baseline).",
    fix: "Remove hostNetwork/hostPID/hostIPC.",
    check: Check::Model(no_host_namespaces),
};

const NO_HOST_PATH: Rule = Rule {
    id: RuleId::Sec009,
    severity: Severity::High,
    title: "no hostPath volumes (no docker.sock)",
    rationale: "A hostPath mount exposes the node's files; docker.sock is root on the node.",
    fix: "Use emptyDir, a ConfigMap or a PersistentVolumeClaim.",
    check: Check::Model(no_host_path),
};

const NO_HOST_PORT: Rule = Rule {
    id: RuleId::Sec010,
    severity: Severity::Medium,
    title: "no hostPort",
    rationale: "hostPort ties pods to nodes and bypasses NetworkPolicy.",
    fix: "Remove hostPort; expose through a Service.",
    check: Check::Model(no_host_port),
};

const NO_TOKEN_AUTOMOUNT: Rule = Rule {
    id: RuleId::Sec011,
    severity: Severity::Medium,
    title: "automountServiceAccountToken is false",
    rationale: "The pods need no Kubernetes API access; a mounted token is a free credential for an attacker.",
    fix: "Set automountServiceAccountToken: false on the pod spec.",
    check: Check::Model(no_token_automount),
};

/// The pod's and the container's security contexts (the container's settings win).
fn contexts<'a>(cv: &ContainerView<'a>) -> (Option<&'a PodSecurityContext>, Option<&'a SecurityContext>) {
    (cv.pod.spec.security_context.as_ref(), cv.c.security_context.as_ref())
}

fn unset_or<T: ToString>(v: Option<T>) -> String {
    v.map(|b| b.to_string()).unwrap_or_else(|| "unset".into())
}

fn non_root(ctx: &RuleContext<'_>, sink: &mut Sink<'_>) {
    for cv in containers(ctx.model) {
        let (psc, csc) = contexts(&cv);
        let run_as_non_root = csc.and_then(|s| s.run_as_non_root).or(psc.and_then(|s| s.run_as_non_root));
        let run_as_user = csc.and_then(|s| s.run_as_user).or(psc.and_then(|s| s.run_as_user));
        if run_as_non_root != Some(true) || run_as_user == Some(0) {
            let why = if run_as_user == Some(0) {
                "runs as UID 0".to_string()
            } else {
                format!("runAsNonRoot is {}", unset_or(run_as_non_root))
            };
            sink.report(
                cv.obj,
                cv.at("securityContext.runAsNonRoot"),
                format!("container `{}`: {why}", cv.c.name),
                None,
            );
        }
    }
}

fn min_uid(ctx: &RuleContext<'_>, sink: &mut Sink<'_>) {
    let min = ctx.config.policy.min_uid;
    for (obj, pod) in ctx.model.pods() {
        if let Some(fs) = pod.spec.security_context.as_ref().and_then(|s| s.fs_group)
            && fs < min
        {
            sink.report(
                obj,
                format!("{}.securityContext.fsGroup", pod.prefix),
                format!("fsGroup {fs} is below {min}"),
                None,
            );
        }
    }
    for cv in containers(ctx.model) {
        let (psc, csc) = contexts(&cv);
        let name = &cv.c.name;
        let run_as_user = csc.and_then(|s| s.run_as_user).or(psc.and_then(|s| s.run_as_user));
        let run_as_group = csc.and_then(|s| s.run_as_group).or(psc.and_then(|s| s.run_as_group));
        for (field, v) in [("runAsUser", run_as_user), ("runAsGroup", run_as_group)] {
            match v {
                Some(id) if id >= min => {}
                Some(id) => sink.report(
                    cv.obj,
                    cv.at(&format!("securityContext.{field}")),
                    format!("container `{name}`: {field} {id} is below {min}"),
                    None,
                ),
                None => sink.report(
                    cv.obj,
                    format!("{}.securityContext.{field}", cv.pod.prefix),
                    format!("container `{name}`: {field} is not set (the image decides)"),
                    None,
                ),
            }
        }
    }
}

fn read_only_root(ctx: &RuleContext<'_>, sink: &mut Sink<'_>) {
    for cv in containers(ctx.model) {
        if contexts(&cv).1.and_then(|s| s.read_only_root_filesystem) != Some(true) {
            sink.report(
                cv.obj,
                cv.at("securityContext.readOnlyRootFilesystem"),
                format!("container `{}`: root filesystem is writable", cv.c.name),
                None,
            );
        }
    }
}

fn no_privilege_escalation(ctx: &RuleContext<'_>, sink: &mut Sink<'_>) {
    for cv in containers(ctx.model) {
        let allow = contexts(&cv).1.and_then(|s| s.allow_privilege_escalation);
        if allow != Some(false) {
            sink.report(
                cv.obj,
                cv.at("securityContext.allowPrivilegeEscalation"),
                format!(
                    "container `{}`: allowPrivilegeEscalation is {}",
                    cv.c.name,
                    allow.map(|b| b.to_string()).unwrap_or_else(|| "unset (defaults to true)".into())
                ),
                None,
            );
        }
    }
}

fn not_privileged(ctx: &RuleContext<'_>, sink: &mut Sink<'_>) {
    for cv in containers(ctx.model) {
        if contexts(&cv).1.and_then(|s| s.privileged) == Some(true) {
            sink.report(
                cv.obj,
                cv.at("securityContext.privileged"),
                format!("container `{}` is privileged", cv.c.name),
                None,
            );
        }
    }
}

fn capabilities(ctx: &RuleContext<'_>, sink: &mut Sink<'_>) {
    let allowed = &ctx.config.policy.allowed_capabilities;
    for cv in containers(ctx.model) {
        let name = &cv.c.name;
        let caps = contexts(&cv).1.and_then(|s| s.capabilities.as_ref());
        let drops_all = caps.and_then(|c| c.drop.as_ref()).is_some_and(|d| d.iter().any(|x| x == "ALL"));
        let bad_adds: Vec<&str> = caps
            .and_then(|c| c.add.as_ref())
            .map(|a| a.iter().filter(|x| !allowed.contains(x)).map(String::as_str).collect())
            .unwrap_or_default();
        if !drops_all {
            sink.report(
                cv.obj,
                cv.at("securityContext.capabilities.drop"),
                format!("container `{name}` does not drop ALL capabilities"),
                None,
            );
        }
        if !bad_adds.is_empty() {
            sink.report(
                cv.obj,
                cv.at("securityContext.capabilities.add"),
                format!("container `{name}` adds capabilities {}", bad_adds.join(", ")),
                None,
            );
        }
    }
}

fn seccomp(ctx: &RuleContext<'_>, sink: &mut Sink<'_>) {
    for cv in containers(ctx.model) {
        let (psc, csc) = contexts(&cv);
        let seccomp = csc
            .and_then(|s| s.seccomp_profile.as_ref())
            .or(psc.and_then(|s| s.seccomp_profile.as_ref()))
            .map(|p| p.type_.clone());
        if !matches!(seccomp.as_deref(), Some("RuntimeDefault" | "Localhost")) {
            sink.report(
                cv.obj,
                format!("{}.securityContext.seccompProfile", cv.pod.prefix),
                format!("container `{}`: seccompProfile is {}", cv.c.name, unset_or(seccomp)),
                None,
            );
        }
    }
}

fn no_host_namespaces(ctx: &RuleContext<'_>, sink: &mut Sink<'_>) {
    for (obj, pod) in ctx.model.pods() {
        let p = pod.spec;
        for (flag, value) in [("hostNetwork", p.host_network), ("hostPID", p.host_pid), ("hostIPC", p.host_ipc)] {
            if value == Some(true) {
                sink.report(obj, format!("{}.{flag}", pod.prefix), format!("pod spec sets {flag}: true"), None);
            }
        }
    }
}

fn no_host_path(ctx: &RuleContext<'_>, sink: &mut Sink<'_>) {
    for (obj, pod) in ctx.model.pods() {
        for (i, v) in pod.spec.volumes.as_deref().unwrap_or(&[]).iter().enumerate() {
            let Some(hp) = &v.host_path else { continue };
            let sock = if hp.path.contains("docker.sock") || hp.path.contains("containerd.sock") {
                " (container runtime socket: root on the node)"
            } else {
                ""
            };
            sink.report(
                obj,
                format!("{}.volumes[{i}].hostPath", pod.prefix),
                format!("volume `{}` mounts host path {}{sock}", v.name, hp.path),
                None,
            );
        }
    }
}

fn no_host_port(ctx: &RuleContext<'_>, sink: &mut Sink<'_>) {
    for cv in containers(ctx.model) {
        for (i, port) in cv.c.ports.as_deref().unwrap_or(&[]).iter().enumerate() {
            if let Some(hp) = port.host_port {
                sink.report(
                    cv.obj,
                    cv.at(&format!("ports[{i}].hostPort")),
                    format!("container `{}` binds hostPort {hp}", cv.c.name),
                    None,
                );
            }
        }
    }
}

fn no_token_automount(ctx: &RuleContext<'_>, sink: &mut Sink<'_>) {
    for (obj, pod) in ctx.model.pods() {
        let p = pod.spec;
        if p.automount_service_account_token == Some(false) {
            continue;
        }
        let sa = p.service_account_name.as_deref().unwrap_or("default");
        // The pod's own field wins over its ServiceAccount's: only an unset
        // pod field falls back to what the ServiceAccount says.
        let sa_off = p.automount_service_account_token.is_none()
            && ctx.model.objects.iter().any(|o| match &o.typed {
                kubegate_core::model::Typed::ServiceAccount(s) => {
                    o.name == sa && s.automount_service_account_token == Some(false)
                }
                _ => false,
            });
        if !sa_off {
            sink.report(
                obj,
                format!("{}.automountServiceAccountToken", pod.prefix),
                format!(
                    "automountServiceAccountToken is {} and ServiceAccount `{sa}` does not disable it: the API token is mounted",
                    unset_or(p.automount_service_account_token)
                ),
                None,
            );
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
