//! `kubegate init [DIR]`: write a commented `kubegate.toml` describing the repository in DIR, from what
//! [`crate::discover`] finds there (chart, manifests, release, namespace, components, the CLI-created Secret).
//! Never overwrites a file without `--force`; refuses (exit 2) when part of the repository cannot be read, since a
//! config inferred from half of it would be wrong.

use std::fmt::Write as _;
use std::path::PathBuf;

use crate::discover::{ComponentFound, Discovery, KeyedObject, ProbeFound, discover};
use crate::exit::{ExitCode, HasExitCode};

/// Arguments of `kubegate init`.
#[derive(Debug, clap::Args)]
pub struct InitArgs {
    /// The repository to describe.
    #[arg(value_name = "DIR", default_value = ".")]
    pub dir: PathBuf,
    /// Write here instead of DIR/kubegate.toml.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Overwrite the file if it exists.
    #[arg(long)]
    pub force: bool,
}

/// `kubegate init` wrote nothing.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    /// DIR cannot be searched.
    #[error(transparent)]
    Discover(#[from] crate::discover::DiscoverError),
    /// The file exists and --force was not given.
    #[error("{} already exists\n  fix: pass --force to overwrite it, or --output FILE to write elsewhere", path.display())]
    Exists {
        /// The file.
        path: PathBuf,
    },
    /// Part of the repository could not be read (e.g. a chart that does not render).
    #[error("cannot describe {} while part of it cannot be read:\n{}", dir.display(), problems.join("\n"))]
    Unreadable {
        /// The repository.
        dir: PathBuf,
        /// One line (or block) per problem, helm's message included.
        problems: Vec<String>,
    },
    /// Nothing to describe.
    #[error("found no Helm chart (Chart.yaml) and no directory of Kubernetes YAML under {}", dir.display())]
    Empty {
        /// The repository.
        dir: PathBuf,
    },
    /// The file could not be written.
    #[error("cannot write {}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

impl HasExitCode for InitError {
    fn exit_code(&self) -> ExitCode {
        match self {
            InitError::Discover(e) => e.exit_code(),
            _ => ExitCode::BadInput,
        }
    }
}

/// Run `kubegate init`; returns the process exit code.
pub fn run(args: InitArgs) -> i32 {
    match init(&args) {
        Ok((path, discovery)) => {
            print!("{discovery}");
            println!("wrote {}", path.display());
            ExitCode::Success as i32
        }
        Err(e) => super::fail("init", &e, e.exit_code()),
    }
}

fn init(args: &InitArgs) -> Result<(PathBuf, Discovery), InitError> {
    let path = args.output.clone().unwrap_or_else(|| args.dir.join("kubegate.toml"));
    if path.exists() && !args.force {
        return Err(InitError::Exists { path });
    }
    let discovery = discover(&args.dir)?;
    if !discovery.problems.is_empty() {
        let problems = discovery.problems.iter().map(|p| format!("  {p}")).collect();
        return Err(InitError::Unreadable { dir: args.dir.clone(), problems });
    }
    if discovery.charts.is_empty() && discovery.manifests.is_empty() {
        return Err(InitError::Empty { dir: args.dir.clone() });
    }
    let text = config_text(&discovery);
    std::fs::write(&path, text).map_err(|source| InitError::Write { path: path.clone(), source })?;
    Ok((path, discovery))
}

/// A TOML string literal.
fn quoted(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

fn list<'a>(items: impl IntoIterator<Item = &'a String>) -> String {
    format!("[{}]", items.into_iter().map(|s| quoted(s)).collect::<Vec<_>>().join(", "))
}

/// Frontends are exposed with a LoadBalancer (AD-3); everything else stays inside the cluster.
fn is_frontend(c: &ComponentFound) -> bool {
    ["front", "web", "ui"].iter().any(|w| c.name.contains(w) || c.container.contains(w))
}

/// The Secret `[secret]` describes: the one the plan creates from the command line (AD-5), i.e. one the README
/// creates, else one created outside the tree; among those, the one the pods read most keys of.
fn cli_secret(d: &Discovery) -> Option<&KeyedObject> {
    let rank = |s: &KeyedObject| (!s.readme_keys.is_empty(), s.defined_in.is_empty(), all_keys(s).len());
    d.secrets
        .iter()
        .filter(|s| !s.readme_keys.is_empty() || s.defined_in.is_empty())
        .max_by(|a, b| rank(a).cmp(&rank(b)).then_with(|| b.name.cmp(&a.name)))
}

/// Keys the pods read and keys the README creates.
fn all_keys(s: &KeyedObject) -> std::collections::BTreeSet<&String> {
    s.keys.iter().chain(&s.readme_keys).collect()
}

/// The commented kubegate.toml describing `d`.
pub fn config_text(d: &Discovery) -> String {
    let mut t = String::new();
    let _ = writeln!(t, "# kubegate.toml written by `kubegate init` from what it found here:");
    for line in d.to_string().lines() {
        let _ = writeln!(t, "#   {line}");
    }
    t.push_str("# Check each value; unknown keys are errors. Rule ids and knobs: docs/rules.md.\n\n");

    let chart = d.charts.iter().find(|c| c.objects.is_some()).or(d.charts.first());
    let _ = writeln!(t, "namespace = {}", quoted(&d.namespace.value));
    let release = chart.map(|c| c.release.value.as_str()).unwrap_or(&d.namespace.value);
    let _ = writeln!(t, "release = {}", quoted(release));
    match d.manifests.first() {
        Some(m) => {
            let _ = writeln!(t, "manifests = {}", quoted(&m.path));
        }
        None => t.push_str("# No raw manifests found (a chart-only repository).\n"),
    }
    for m in d.manifests.iter().skip(1) {
        let _ = writeln!(t, "# also raw manifests: {}", quoted(&m.path));
    }
    t.push_str("# No OpenAPI contract is written; the contract rules need one.\n");

    if let Some(c) = chart {
        let _ = writeln!(t, "\n[chart]\npath = {}", quoted(&c.path));
        let _ = writeln!(t, "# Values files passed with -f, in order (found: {}).", list(&c.values_files));
        t.push_str("values = []\n");
    }
    for c in d.charts.iter().filter(|c| Some(c.path.as_str()) != chart.map(|c| c.path.as_str())) {
        let _ = writeln!(t, "# also a chart: {}", quoted(&c.path));
    }

    let secret = cli_secret(d);
    if let Some(s) = secret {
        t.push_str("\n# Created from the command line, never committed (AD-5).\n");
        let _ = writeln!(t, "[secret]\nname = {}\nkeys = {}", quoted(&s.name), list(all_keys(s)));
        if !s.defined_in.is_empty() {
            t.push_str(
                "# The chart renders a Secret of this name too: helm install clashes with the CLI-created one.\n",
            );
        }
    }
    for s in d.secrets.iter().filter(|s| Some(&s.name) != secret.map(|c| &c.name)) {
        let where_ = if s.defined_in.is_empty() { "created outside the tree" } else { "defined in the tree" };
        let _ = writeln!(t, "# also read: Secret {} ({where_}), keys {}", quoted(&s.name), list(all_keys(s)));
    }

    // One source's components: the chart's (what gets installed), else the first manifest directory's.
    let source = chart
        .filter(|c| c.objects.is_some())
        .map(|c| c.path.clone())
        .or_else(|| d.manifests.first().map(|m| m.path.clone()));
    for c in d.components.iter().filter(|c| Some(&c.source) == source.as_ref()) {
        component_text(&mut t, c);
    }
    t.push_str(
        "\n# [policy] is the plan's (pull policy Never, LoadBalancer frontend, ...): see docs/rules.md to relax it.\n",
    );
    t
}

fn component_text(t: &mut String, c: &ComponentFound) {
    let (kind, name) = c.workload.split_once('/').unwrap_or(("", &c.workload));
    // Components are Deployments today; other workloads are shown, commented out.
    let prefix = if kind == "Deployment" { "" } else { "# " };
    if kind != "Deployment" {
        let _ = writeln!(t, "\n# {} is a {kind}: [[component]] describes Deployments only.", c.workload);
    } else {
        t.push('\n');
    }
    let mut lines: Vec<(String, String)> = vec![
        ("name".into(), quoted(&c.name)),
        ("deployment".into(), quoted(name)),
        ("container".into(), quoted(&c.container)),
        ("image".into(), quoted(&c.image)),
    ];
    if let Some(p) = c.ports.first() {
        lines.push(("port".into(), p.number.to_string()));
        lines.push(("port_name".into(), quoted(p.name.as_deref().unwrap_or(""))));
    }
    if let Some(s) = &c.service {
        let planned = if is_frontend(c) { "LoadBalancer" } else { "ClusterIP" };
        lines.push(("service".into(), quoted(&s.name)));
        lines.push(("service_port".into(), s.port.to_string()));
        let note = if s.service_type == planned {
            String::new()
        } else {
            format!("  # found {}; the plan wants {planned}", s.service_type)
        };
        lines.push(("service_type".into(), format!("{}{note}", quoted(planned))));
    }
    for (key, probe) in [("liveness_path", &c.liveness), ("readiness_path", &c.readiness)] {
        match probe {
            Some(ProbeFound::Http { path, .. }) => lines.push((key.into(), quoted(path))),
            Some(other) => lines.push((key.into(), format!("\"\"  # {other} probe, not HTTP"))),
            None => lines.push((key.into(), "\"\"  # no probe".into())),
        }
    }
    lines.push(("secret_keys".into(), list(&c.secret_keys)));
    lines.push(("config_keys".into(), list(&c.config_keys)));
    let _ = writeln!(t, "{prefix}[[component]]");
    for (key, value) in lines {
        let _ = writeln!(t, "{prefix}{key} = {value}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn existing_file_is_kept_without_force() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("kubegate.toml");
        std::fs::write(&path, "# mine\n").expect("write");
        let args = InitArgs { dir: dir.path().to_path_buf(), output: None, force: false };
        let err = init(&args).expect_err("exists");
        assert!(matches!(err, InitError::Exists { .. }));
        assert_eq!(err.exit_code(), ExitCode::BadInput);
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "# mine\n");
    }

    #[test]
    fn an_empty_directory_is_bad_input() {
        let dir = tempfile::tempdir().expect("tempdir");
        let args = InitArgs { dir: dir.path().to_path_buf(), output: None, force: false };
        assert!(matches!(init(&args), Err(InitError::Empty { .. })));
        assert!(!dir.path().join("kubegate.toml").exists());
    }

    #[test]
    fn raw_manifests_give_a_config_kubegate_reads() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("k8s")).expect("mkdir");
        std::fs::write(
            dir.path().join("k8s/app.yaml"),
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: shop}\nspec:\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec:\n      containers:\n      - name: web\n        image: web:1\n        ports: [{containerPort: 3000}]\n        env:\n        - {name: KEY, valueFrom: {secretKeyRef: {name: web-secrets, key: KEY}}}\n        readinessProbe: {httpGet: {path: /ready, port: 3000}}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: shop}\nspec:\n  type: NodePort\n  selector: {app: web}\n  ports: [{port: 80, targetPort: 3000}]\n",
        )
        .expect("write");
        let args = InitArgs { dir: dir.path().to_path_buf(), output: None, force: false };
        let (path, _) = init(&args).expect("init");
        let text = std::fs::read_to_string(&path).expect("read");
        let config = crate::config::Config::parse(&text, &path).unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(config.namespace, "shop");
        assert_eq!(config.manifests, PathBuf::from("k8s"));
        assert_eq!(config.secret.name, "web-secrets");
        assert_eq!(config.components.len(), 1);
        let web = &config.components[0];
        assert_eq!((web.deployment.as_str(), web.port, web.port_name.as_str()), ("web", 3000, ""));
        assert_eq!((web.service_port, web.service_type.as_str()), (80, "LoadBalancer"));
        assert_eq!((web.liveness_path.as_str(), web.readiness_path.as_str()), ("", "/ready"));
        assert!(text.contains("# found NodePort; the plan wants LoadBalancer"), "{text}");
        assert!(init(&args).is_err(), "a second init without --force keeps the file");
        assert!(init(&InitArgs { force: true, ..args }).is_ok(), "--force overwrites");
    }
}
