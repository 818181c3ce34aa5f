//! `kubegate init [DIR]`: write a commented `kubegate.toml` describing the repository in DIR, from what
//! [`crate::discover`] finds there (chart, manifests, release, namespace, components, the CLI-created Secret).
//! Never overwrites a file without `--force`; refuses (exit 2) when part of the repository cannot be read, since a
//! config inferred from half of it would be wrong.

use std::fmt::Write as _;
use std::path::PathBuf;

use crate::config::Component;
use crate::discover::{ComponentFound, Discovery, ProbeFound, discover};
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

/// The commented kubegate.toml describing `d`: the values of [`crate::infer::config`] (what `kubegate check`
/// uses without a file), with what was found next to them.
pub fn config_text(d: &Discovery) -> String {
    let config = crate::infer::config(d);
    let mut t = String::new();
    let _ = writeln!(t, "# kubegate.toml written by `kubegate init` from what it found here:");
    for line in d.to_string().lines() {
        let _ = writeln!(t, "#   {line}");
    }
    t.push_str("# Check each value; unknown keys are errors, a key left out is absent. Rule ids: docs/rules.md.\n\n");

    let _ = writeln!(t, "namespace = {}", quoted(&config.namespace));
    let _ = writeln!(t, "release = {}", quoted(&config.release));
    match d.manifests.first() {
        Some(_) => {
            let _ = writeln!(t, "manifests = {}", quoted(&config.manifests.to_string_lossy()));
        }
        None => t.push_str("# No raw manifests found (a chart-only repository).\n"),
    }
    for m in d.manifests.iter().skip(1) {
        let _ = writeln!(t, "# also raw manifests: {}", quoted(&m.path));
    }
    match (crate::infer::contract(d), &d.contract) {
        (Some(path), _) => {
            t.push_str(
                "# The OpenAPI contract the probes are checked against (x-kubegate-service / x-kubegate-probe).\n",
            );
            let _ = writeln!(t, "contract = {}", quoted(path));
        }
        (None, Some(found)) => {
            let why = found.unreadable.as_deref().unwrap_or_default();
            let _ = writeln!(t, "# {} is not used: {}", found.path, why.replace('\n', " "));
            let _ = writeln!(t, "# contract = {}", quoted(&found.path));
        }
        (None, None) => {
            t.push_str("# No OpenAPI contract: the contract rules report that they were not run. To add one:\n");
            t.push_str("# contract = \"openapi.yaml\"\n");
        }
    }

    let chart = crate::infer::chart(d);
    if let Some(c) = chart {
        let _ = writeln!(t, "\n[chart]\npath = {}", quoted(&c.path));
        let _ = writeln!(t, "# Values files passed with -f, in order (found: {}).", list(&c.values_files));
        t.push_str("values = []\n");
    }
    for c in d.charts.iter().filter(|c| Some(c.path.as_str()) != chart.map(|c| c.path.as_str())) {
        let _ = writeln!(t, "# also a chart: {}", quoted(&c.path));
    }

    for s in crate::infer::cli_secrets(d) {
        t.push_str("\n# Created from the command line, never committed (AD-5).\n");
        let _ = writeln!(t, "[[secret]]\nname = {}\nkeys = {}", quoted(&s.name), list(&crate::infer::all_keys(s)));
        if !s.defined_in.is_empty() {
            t.push_str(
                "# The tree defines a Secret of this name too: helm install clashes with the CLI-created one.\n",
            );
        }
    }
    for s in d.secrets.iter().filter(|s| config.secret(&s.name).is_none()) {
        let _ = writeln!(t, "# also read: Secret {} (defined in the tree), keys {}", quoted(&s.name), list(&s.keys));
    }

    let found: Vec<&ComponentFound> = crate::infer::components(d).collect();
    for (c, comp) in found.iter().zip(&config.components) {
        component_text(&mut t, c, comp);
    }
    let source = found.first().map(|c| c.source.as_str());
    for c in d.components.iter().filter(|c| Some(c.source.as_str()) == source && !found.contains(c)) {
        let _ = writeln!(
            t,
            "\n# {} ({}) is not a Deployment: [[component]] describes Deployments only.",
            c.workload, c.name
        );
    }
    t.push_str(concat!(
        "\n# The liveness check freezes the API container with SIGSTOP (from a hostPID pod on its node; nothing\n",
        "# needed from the app). To use a fault route of the app instead (POST makes its liveness endpoint fail):\n",
        "# [liveness]\n",
        "# fault = \"switch\"\n",
        "# [liveness.switch]\n",
        "# path = \"/...\"                  # the route to POST\n",
        "# env = { NAME = \"value\" }       # turns it on: raw manifests, on the API container\n",
        "# helm_set = { \"key\" = \"value\" } # turns it on: the chart's values (--set)\n",
    ));
    t.push_str(
        "\n# [policy] is the plan's (pull policy Never, LoadBalancer frontend, ...): see docs/rules.md to relax it.\n",
    );
    let policy = &config.policy;
    let _ = writeln!(
        t,
        "[policy]\n# true: every component Deployment needs its own autoscaling/v2 HPA (KG-HPA-001).\nrequire_hpa = {}",
        policy.require_hpa
    );
    t
}

fn component_text(t: &mut String, found: &ComponentFound, c: &Component) {
    let _ = writeln!(t, "\n[[component]]");
    let _ = writeln!(t, "name = {}", quoted(&c.name));
    let _ = writeln!(t, "deployment = {}", quoted(&c.deployment));
    let _ = writeln!(t, "container = {}", quoted(&c.container));
    let _ = writeln!(t, "image = {}", quoted(&c.image));
    if c.port != 0 {
        let _ = writeln!(t, "port = {}", c.port);
        let unnamed = if c.port_name.is_empty() { "  # unnamed" } else { "" };
        let _ = writeln!(t, "port_name = {}{unnamed}", quoted(&c.port_name));
    }
    if found.service.is_some() {
        let _ = writeln!(t, "service = {}", quoted(&c.service));
        let _ = writeln!(t, "service_port = {}", c.service_port);
    }
    let note = match &found.service {
        Some(s) if s.service_type != c.service_type => {
            format!("  # found {}; the plan wants {}", s.service_type, c.service_type)
        }
        Some(_) => String::new(),
        None => "  # no Service selects its pods".into(),
    };
    let _ = writeln!(t, "service_type = {}{note}", quoted(&c.service_type));
    for (key, path, probe) in
        [("liveness_path", &c.liveness_path, &found.liveness), ("readiness_path", &c.readiness_path, &found.readiness)]
    {
        let note = match probe {
            None => "  # no probe".to_string(),
            Some(ProbeFound::Http { .. }) => String::new(),
            Some(other) => format!("  # {other} probe, not HTTP"),
        };
        let _ = writeln!(t, "{key} = {}{note}", quoted(path));
    }
    let _ = writeln!(t, "secret_keys = {}", list(&c.secret_keys));
    let _ = writeln!(t, "config_keys = {}", list(&c.config_keys));
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
        assert_eq!(config.secrets.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), ["web-secrets"]);
        assert_eq!(config.components.len(), 1);
        let web = &config.components[0];
        assert_eq!((web.deployment.as_str(), web.port, web.port_name.as_str()), ("web", 3000, ""));
        assert_eq!((web.service_port, web.service_type.as_str()), (80, "LoadBalancer"));
        assert_eq!((web.liveness_path.as_str(), web.readiness_path.as_str()), ("", "/ready"));
        assert!(text.contains("# found NodePort; the plan wants LoadBalancer"), "{text}");
        assert!(!config.policy.require_hpa, "a per-component HPA is not inferred as required");
        let mut inferred = crate::infer::config(&discover(dir.path()).expect("discover"));
        inferred.base_dir = config.base_dir.clone();
        assert_eq!(config, inferred, "init writes what a check without config uses");
        assert!(init(&args).is_err(), "a second init without --force keeps the file");
        assert!(init(&InitArgs { force: true, ..args }).is_ok(), "--force overwrites");
    }
}
