//! Building the images of the deployment under test, as `kubegate.toml`
//! says, without a registry.
//!
//! Each component with a `build` table is built the way its team builds it:
//! an optional `prepare` command first (it produces what the context needs,
//! e.g. a compiled binary), then a plain `docker build` of the team's own
//! Dockerfile, tagged as the config names the image. A component without
//! `build` is an image the team built itself; kubegate takes it as the local
//! Docker engine has it. The reference chatbot is one such config: its
//! `prepare` is `ci/images/stage-binary.sh` (cargo is the builder stage, as no
//! base image can be pulled on kubegate's CI machines) and its Dockerfiles are
//! `FROM scratch`.
//!
//! [`ensure_built`] wraps [`build`] in a file lock so that parallel test
//! processes build once and then reuse the result. With
//! `KUBEGATE_PREBUILT_IMAGES=1` it builds nothing and takes the images Docker
//! already has ([`prebuilt`]): a CI job built them once and every test
//! partition `docker load`ed them (ci/workflows/*.yml).

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::exit::{ExitCode, HasExitCode};
use crate::process::{Cmd, CommandRunner, Output, RunCommandError, tail};
use crate::progress::Step;

/// When `1`, [`ensure_built`] takes the images as Docker has them ([`prebuilt`]).
pub const PREBUILT_ENV: &str = "KUBEGATE_PREBUILT_IMAGES";
/// What to tell a user whose Docker engine is missing or down.
pub const START_DOCKER_HINT: &str = "start Docker: ci/setup.sh docker";
/// Lines of a failed command's output kept as evidence.
const TAIL_LINES: usize = 30;
/// Deadline of a quick query (`docker version`, `docker image inspect`, `git`).
const QUERY_TIMEOUT: Duration = Duration::from_secs(120);
/// Deadline of a component's `prepare` command (a cold release build of the reference binaries takes minutes).
const PREPARE_TIMEOUT: Duration = Duration::from_secs(3600);
/// Deadline of one `docker build`.
const DOCKER_BUILD_TIMEOUT: Duration = Duration::from_secs(1800);

/// One component's image: its name and, when kubegate builds it, how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRecipe {
    /// Component name from kubegate.toml.
    pub component: String,
    /// Image reference to tag, with explicit tag (`todo-chatbot-backend:0.1.0`).
    pub image: String,
    /// How to build it; `None` = the team builds it, kubegate takes it as Docker has it.
    pub build: Option<DockerBuild>,
    /// Size budget in bytes (from `kubegate.toml`), if one is set.
    pub budget_bytes: Option<u64>,
}

/// A component's `build` table with its paths resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DockerBuild {
    /// The build context directory.
    pub context: PathBuf,
    /// The Dockerfile.
    pub dockerfile: PathBuf,
    /// `--build-arg`s besides `REVISION`.
    pub args: Vec<(String, String)>,
    /// The command run before `docker build` (empty = none), in [`DockerBuild::workdir`].
    pub prepare: Vec<String>,
    /// The config file's directory: where `prepare` runs.
    pub workdir: PathBuf,
}

/// An image that `docker build` produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltImage {
    /// Image reference (`name:tag`).
    pub image: String,
    /// Image id (`sha256:...`).
    pub id: String,
    /// Size in bytes as the engine reports it.
    pub size_bytes: u64,
}

/// Why the images could not be built. Each variant carries the evidence.
#[derive(Debug, thiserror::Error)]
pub enum BuildImagesError {
    /// No `docker` executable on PATH.
    #[error("`docker` not found on PATH; {START_DOCKER_HINT}")]
    DockerMissing,
    /// `docker` exists but the engine does not answer.
    #[error("the Docker engine is not answering (`docker version`: {stderr_tail}); {START_DOCKER_HINT}")]
    DockerDown {
        /// Tail of `docker version`'s stderr.
        stderr_tail: String,
    },
    /// A component's `build.context` holds no Dockerfile.
    #[error(
        "component `{component}`: no Dockerfile at {}\n  fix: point `build.context` (and `build.dockerfile`, relative to the context) of [[component]] `{component}` in kubegate.toml at your Dockerfile, or leave `build` out and build the image yourself",
        dockerfile.display()
    )]
    NoDockerfile {
        /// Component name from kubegate.toml.
        component: String,
        /// Where its Dockerfile was looked for.
        dockerfile: PathBuf,
    },
    /// A component without `build` names an image the local Docker engine does not have.
    #[error(
        "component `{component}`: Docker has no image {image} and kubegate.toml gives no `build` for it\n  fix: build and tag it yourself (`docker build -t {image} ...`), or add `build = {{ context = \"...\" }}` to the component"
    )]
    NotBuilt {
        /// Component name.
        component: String,
        /// The image.
        image: String,
    },
    /// A component's `prepare` command failed.
    #[error(
        "component `{component}`: `{command}` (build.prepare) failed with {status}\n--- output (tail) ---\n{output_tail}"
    )]
    Prepare {
        /// Component name.
        component: String,
        /// The command line.
        command: String,
        /// Exit status text.
        status: String,
        /// Last lines of its output.
        output_tail: String,
    },
    /// An I/O step failed (spawning a tool, staging the binary).
    #[error("{action} {}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file or program concerned.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// `docker build` failed.
    #[error(
        "component `{component}`: `{command}` failed with {status} building {image} (Docker's own output below)\n--- output (tail) ---\n{output_tail}"
    )]
    DockerBuild {
        /// Component name.
        component: String,
        /// The image being built.
        image: String,
        /// The command line.
        command: String,
        /// Exit status text.
        status: String,
        /// Last lines of its output.
        output_tail: String,
    },
    /// [`PREBUILT_ENV`] is set but Docker does not have the image.
    #[error(
        "{PREBUILT_ENV}=1 but Docker has no image {image} (`docker image inspect`: {stderr_tail}): `docker load` the images the build job saved, or unset {PREBUILT_ENV} to build them here"
    )]
    NotPrebuilt {
        /// The image.
        image: String,
        /// Tail of `docker image inspect`'s stderr.
        stderr_tail: String,
    },
    /// The liveness check's freezer image is to be built, and the kubegate
    /// source tree it is built from is not where this kubegate was built.
    #[error(
        "the liveness check freezes the app with kubegate's own image {image}, built from kubegate's source tree, and {} has none (no {missing})\n  fix: run kubegate built from a kubegate clone that is still in place (`cargo install --locked --path harness` in the clone), or set `[liveness] fault = \"switch\"` in kubegate.toml to use your app's own fault route",
        root.display()
    )]
    NoFreezerSource {
        /// The image.
        image: String,
        /// Where the source tree was looked for.
        root: PathBuf,
        /// The file that is missing.
        missing: String,
    },
    /// `docker image inspect` gave nothing usable after a successful build.
    #[error("`docker image inspect {image}` failed: {stderr_tail}")]
    Inspect {
        /// The image.
        image: String,
        /// Tail of its stderr.
        stderr_tail: String,
    },
}

impl HasExitCode for BuildImagesError {
    fn exit_code(&self) -> ExitCode {
        match self {
            BuildImagesError::DockerMissing
            | BuildImagesError::DockerDown { .. }
            | BuildImagesError::NoDockerfile { .. }
            | BuildImagesError::NotBuilt { .. }
            | BuildImagesError::NotPrebuilt { .. }
            | BuildImagesError::NoFreezerSource { .. }
            | BuildImagesError::Prepare { .. }
            | BuildImagesError::DockerBuild { .. } => ExitCode::BadInput,
            _ => ExitCode::Infrastructure,
        }
    }
}

/// The recipes for the components of `config`, paths resolved against the
/// config file's directory; a `build` whose Dockerfile is missing is an error
/// naming the component.
pub fn recipes(config: &crate::config::Config) -> Result<Vec<ImageRecipe>, BuildImagesError> {
    config
        .components
        .iter()
        .map(|c| {
            let build = match &c.build {
                None => None,
                Some(b) => {
                    let context = config.resolve(&b.context);
                    let dockerfile = context.join(b.dockerfile.as_deref().unwrap_or(Path::new("Dockerfile")));
                    if !dockerfile.is_file() {
                        return Err(BuildImagesError::NoDockerfile { component: c.name.clone(), dockerfile });
                    }
                    Some(DockerBuild {
                        context,
                        dockerfile,
                        args: b.args.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
                        prepare: b.prepare.clone(),
                        workdir: config.base_dir.clone(),
                    })
                }
            };
            Ok(ImageRecipe {
                component: c.name.clone(),
                image: c.image.clone(),
                build,
                budget_bytes: (c.image_size_mb > 0).then(|| crate::image_check::budget_bytes(c.image_size_mb)),
            })
        })
        .collect()
}

/// kubegate's own image for the liveness check (LIVE-PROBE-LIVENESS with
/// `[liveness] fault = "sigstop"`): `kubegate-freezer`, which SIGSTOPs a
/// container's processes from a hostPID pod on its node ([`crate::live::freeze`]).
pub const FREEZER_IMAGE: &str = concat!("kubegate-freezer:", env!("CARGO_PKG_VERSION"));
/// The freezer's crate, relative to kubegate's source tree (its Docker context).
const FREEZER_CRATE: &str = "harness/kubegate-freezer";
/// The script that compiles and stages a static binary (the reference images' `prepare`).
const STAGE_BINARY: &str = "ci/images/stage-binary.sh";

/// The kubegate source tree this kubegate was built from (the freezer's
/// recipe lives there).
fn kubegate_source() -> PathBuf {
    let harness = Path::new(env!("CARGO_MANIFEST_DIR"));
    harness.parent().unwrap_or(harness).to_path_buf()
}

/// The images kubegate itself needs for `config`'s live checks, besides the
/// components': the freezer, unless the liveness check uses the app's own
/// switch. Built and loaded with the components' images by `verify`,
/// `kubegate images build|load` and the live suites; never judged as the
/// app's images.
pub fn kubegate_recipes(config: &crate::config::Config) -> Result<Vec<ImageRecipe>, BuildImagesError> {
    kubegate_images(config).iter().map(|_| freezer_recipe(&kubegate_source())).collect()
}

/// The names of the images of [`kubegate_recipes`] (to load them, which
/// needs no source tree).
pub fn kubegate_images(config: &crate::config::Config) -> Vec<String> {
    match config.liveness.fault {
        crate::config::LivenessFault::Switch => Vec::new(),
        crate::config::LivenessFault::Sigstop => vec![FREEZER_IMAGE.to_owned()],
    }
}

/// The freezer's recipe from the source tree at `root`, the same two stages
/// as the reference images: `ci/images/stage-binary.sh` (cargo builds the
/// static musl binary into the crate's `dist/`), then `docker build` of the
/// crate's `FROM scratch` Dockerfile.
fn freezer_recipe(root: &Path) -> Result<ImageRecipe, BuildImagesError> {
    let context = root.join(FREEZER_CRATE);
    let dockerfile = context.join("Dockerfile");
    for needed in [dockerfile.clone(), root.join(STAGE_BINARY)] {
        if !needed.is_file() {
            let missing = needed.strip_prefix(root).unwrap_or(&needed).display().to_string();
            return Err(BuildImagesError::NoFreezerSource { image: FREEZER_IMAGE.into(), root: root.into(), missing });
        }
    }
    let dist = format!("{FREEZER_CRATE}/dist");
    Ok(ImageRecipe {
        component: "kubegate-freezer".into(),
        image: FREEZER_IMAGE.into(),
        build: Some(DockerBuild {
            context,
            dockerfile,
            args: vec![("VERSION".into(), env!("CARGO_PKG_VERSION").into())],
            prepare: ["bash", STAGE_BINARY, "kubegate-freezer", &dist].map(String::from).to_vec(),
            workdir: root.to_path_buf(),
        }),
        budget_bytes: None,
    })
}

/// Fail early, with the fix, when Docker is missing or its engine is down.
pub fn check_docker(runner: &dyn CommandRunner) -> Result<String, BuildImagesError> {
    let cmd = Cmd::new("docker", ["version", "--format", "{{.Server.Version}}"]).timeout(QUERY_TIMEOUT);
    let out = runner.run(&cmd).map_err(|e| run_error(e, "docker"))?;
    if out.success() {
        Ok(out.stdout.trim().to_owned())
    } else {
        Err(BuildImagesError::DockerDown { stderr_tail: tail(&out.stderr, 3) })
    }
}

/// Build the images of `recipes` (prepare, then `docker build`), printing
/// progress; an image the team builds itself must already be in Docker.
pub fn build(runner: &dyn CommandRunner, recipes: &[ImageRecipe]) -> Result<Vec<BuiltImage>, BuildImagesError> {
    let step = Step::start("checking the Docker engine");
    let version = check_docker(runner);
    if let Ok(v) = &version {
        step.note(format!("engine {v}"));
    }
    step.finish(version)?;
    recipes.iter().map(|r| build_one(runner, r)).collect()
}

fn build_one(runner: &dyn CommandRunner, r: &ImageRecipe) -> Result<BuiltImage, BuildImagesError> {
    let Some(b) = &r.build else {
        let step =
            Step::start(format!("{}: taking {} as Docker has it (no `build` in kubegate.toml)", r.component, r.image));
        let found = inspect(runner, &r.image).map_err(|e| match e {
            BuildImagesError::Inspect { image, .. } => {
                BuildImagesError::NotBuilt { component: r.component.clone(), image }
            }
            other => other,
        });
        return step.finish(found);
    };
    if let Some((program, args)) = b.prepare.split_first() {
        let prepare = without_crate_env(Cmd::new(program, args).current_dir(&b.workdir)).timeout(PREPARE_TIMEOUT);
        let step = Step::start(format!("{}: {prepare}", r.component));
        let (out, output_tail) = run_echoed(runner, &prepare)?;
        if !out.success() {
            step.failed();
            return Err(BuildImagesError::Prepare {
                component: r.component.clone(),
                command: prepare.to_string(),
                status: exit_text(&out),
                output_tail,
            });
        }
        step.ok();
    }
    let step = Step::start(format!("{}: docker build -t {} {}", r.component, r.image, b.context.display()));
    let docker = docker_build(&r.image, b, &git_revision(runner, &b.context));
    let (out, output_tail) = run_echoed(runner, &docker)?;
    if !out.success() {
        step.failed();
        return Err(BuildImagesError::DockerBuild {
            component: r.component.clone(),
            image: r.image.clone(),
            command: docker.to_string(),
            status: exit_text(&out),
            output_tail,
        });
    }
    let image = inspect(runner, &r.image)?;
    step.note(format!("{} {} ({})", image.image, short_id(&image.id), crate::image_check::size_text(image.size_bytes)));
    step.ok();
    Ok(image)
}

/// `docker build --tag <image> --file <dockerfile> --build-arg REVISION=<rev> [--build-arg k=v ...] <context>`.
fn docker_build(image: &str, b: &DockerBuild, revision: &str) -> Cmd {
    let mut cmd = Cmd::new("docker", ["build", "--tag", image])
        .arg("--file")
        .arg(b.dockerfile.display().to_string())
        .args(["--build-arg".to_string(), format!("REVISION={revision}")]);
    for (k, v) in &b.args {
        cmd = cmd.args(["--build-arg".to_string(), format!("{k}={v}")]);
    }
    cmd.arg(b.context.display().to_string()).timeout(DOCKER_BUILD_TIMEOUT)
}

/// [`build`] under a file lock in the cargo target directory, so parallel
/// callers (one process per test under nextest) build one at a time; cargo
/// and Docker's layer cache make the later builds quick no-ops.
pub fn ensure_built(runner: &dyn CommandRunner, recipes: &[ImageRecipe]) -> Result<Vec<BuiltImage>, BuildImagesError> {
    if std::env::var(PREBUILT_ENV).is_ok_and(|v| v == "1") {
        return prebuilt(runner, recipes);
    }
    let lock_path = crate::dirs::state_dir().join("images.lock");
    let io = |source| BuildImagesError::Io { action: "cannot lock", path: lock_path.clone(), source };
    if let Some(dir) = lock_path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let file = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(&lock_path).map_err(io)?;
    let mut lock = fd_lock::RwLock::new(file);
    let _guard = lock.write().map_err(io)?;
    build(runner, recipes)
}

/// The images of `recipes` as Docker has them, built by someone else
/// (`docker load`ed); an image Docker lacks is an error that says so.
pub fn prebuilt(runner: &dyn CommandRunner, recipes: &[ImageRecipe]) -> Result<Vec<BuiltImage>, BuildImagesError> {
    recipes
        .iter()
        .map(|r| {
            inspect(runner, &r.image).map_err(|e| match e {
                BuildImagesError::Inspect { image, stderr_tail } => {
                    BuildImagesError::NotPrebuilt { image, stderr_tail }
                }
                other => other,
            })
        })
        .collect()
}

/// Id and size of a local image.
pub fn inspect(runner: &dyn CommandRunner, image: &str) -> Result<BuiltImage, BuildImagesError> {
    let cmd = Cmd::new("docker", ["image", "inspect", "--format", "{{.Id}} {{.Size}}", image]).timeout(QUERY_TIMEOUT);
    let out = runner.run(&cmd).map_err(|e| match e {
        RunCommandError::NotFound { .. } => BuildImagesError::DockerMissing,
        other => run_error(other, "docker"),
    })?;
    let mut fields = out.stdout.split_whitespace();
    match (out.success(), fields.next(), fields.next().and_then(|s| s.parse().ok())) {
        (true, Some(id), Some(size_bytes)) => Ok(BuiltImage { image: image.to_owned(), id: id.to_owned(), size_bytes }),
        _ => Err(BuildImagesError::Inspect { image: image.to_owned(), stderr_tail: tail(&out.stderr, 3) }),
    }
}

/// `cmd` without the variables cargo sets for a crate's own tests and build
/// scripts (`CARGO_PKG_NAME`, `CARGO_MANIFEST_DIR`, `OUT_DIR`, ...). Called
/// from a test, they would differ from a shell's environment, and a
/// `prepare` that runs cargo would see build scripts that declare
/// `rerun-if-env-changed` on them (ring does) rebuild the whole dependency
/// tree on every alternation.
fn without_crate_env(mut cmd: Cmd) -> Cmd {
    const SET_FOR_CRATES: [&str; 8] = [
        "CARGO_PKG_",
        "CARGO_MANIFEST_",
        "CARGO_CFG_",
        "CARGO_CRATE_",
        "CARGO_BIN_",
        "CARGO_PRIMARY_PACKAGE",
        "CARGO_TARGET_TMPDIR",
        "OUT_DIR",
    ];
    for (key, _) in std::env::vars_os() {
        if let Some(k) = key.to_str()
            && SET_FOR_CRATES.iter().any(|prefix| k.starts_with(prefix))
        {
            cmd = cmd.env_remove(k);
        }
    }
    cmd
}

/// Short git revision of the checkout holding `dir`, for the OCI revision label; `unknown` outside git.
fn git_revision(runner: &dyn CommandRunner, dir: &Path) -> String {
    let cmd = Cmd::new("git", ["rev-parse", "--short=12", "HEAD"]).current_dir(dir).timeout(QUERY_TIMEOUT);
    runner
        .run_ok(&cmd)
        .map(|o| o.stdout.trim().to_owned())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

/// Run `cmd`, echoing its output under the step as it comes, and keep the
/// last lines as evidence for an error.
fn run_echoed(runner: &dyn CommandRunner, cmd: &Cmd) -> Result<(Output, String), BuildImagesError> {
    let mut kept = VecDeque::with_capacity(TAIL_LINES);
    let out = runner.run_streamed(cmd, &mut |line| {
        eprintln!("    | {line}");
        if kept.len() == TAIL_LINES {
            kept.pop_front();
        }
        kept.push_back(line.to_owned());
    });
    let kept = Vec::from(kept).join("\n");
    match out {
        Ok(out) => Ok((out, kept)),
        // Past its deadline: a failed run whose status says so.
        Err(RunCommandError::TimedOut { after_secs, .. }) => {
            Ok((Output::default(), format!("{kept}\n(killed after {after_secs}s)")))
        }
        Err(e) => Err(run_error(e, &cmd.program)),
    }
}

/// A command that could not run as a [`BuildImagesError`].
fn run_error(e: RunCommandError, program: &str) -> BuildImagesError {
    match e {
        RunCommandError::NotFound { .. } if program == "docker" => BuildImagesError::DockerMissing,
        RunCommandError::Spawn { source, .. } | RunCommandError::Log { source, .. } => {
            BuildImagesError::Io { action: "cannot run", path: program.into(), source }
        }
        other => BuildImagesError::Io {
            action: "cannot run",
            path: program.into(),
            source: std::io::Error::other(other.to_string()),
        },
    }
}

/// The exit as std's `ExitStatus` shows it (`exit status: 101`).
fn exit_text(out: &Output) -> String {
    match out.code {
        Some(code) => format!("exit status: {code}"),
        None => "a signal (killed)".into(),
    }
}

fn short_id(id: &str) -> &str {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    &hex[..hex.len().min(12)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recipes_follow_the_config_and_a_missing_dockerfile_names_the_component() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let config = crate::config::Config { base_dir: root.clone(), ..crate::config::Config::default() };
        let recipes = recipes(&config).expect("this repo has both Dockerfiles");
        let backend = recipes[0].build.as_ref().expect("the reference backend is built by kubegate");
        assert_eq!(
            (recipes[0].component.as_str(), recipes[0].image.as_str()),
            ("backend", "todo-chatbot-backend:0.1.0")
        );
        assert_eq!(backend.context, root.join("fixtures/backend"));
        assert_eq!(backend.dockerfile, root.join("fixtures/backend/Dockerfile"));
        assert_eq!(backend.prepare, ["bash", "ci/images/stage-binary.sh", "todo-backend", "fixtures/backend/dist"]);
        assert_eq!(backend.workdir, root);

        let mut odd = config.clone();
        odd.components[0].name = "worker".into();
        odd.components[0].build.as_mut().expect("build").context = "fixtures/worker".into();
        let err = super::recipes(&odd).expect_err("no fixtures/worker/Dockerfile");
        assert!(matches!(&err, BuildImagesError::NoDockerfile { component, .. } if component == "worker"));
        assert!(err.to_string().contains("build.context"), "{err}");
        assert_eq!(err.exit_code(), ExitCode::BadInput);

        odd.components[0].build = None;
        assert_eq!(super::recipes(&odd).expect("no build to check")[0].build, None);
    }

    #[test]
    fn the_freezer_is_built_from_kubegates_own_tree_unless_the_app_brings_a_switch() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let taskly = crate::config::Config::load(Some(&root.join("fixtures/taskly/kubegate.toml"))).expect("taskly");
        let recipes = kubegate_recipes(&taskly).expect("this tree holds the freezer");
        assert_eq!(recipes.len(), 1, "sigstop is the default: {recipes:?}");
        let freezer = &recipes[0];
        assert_eq!(freezer.image, FREEZER_IMAGE);
        assert!(FREEZER_IMAGE.starts_with("kubegate-freezer:"), "{FREEZER_IMAGE}");
        let b = freezer.build.as_ref().expect("kubegate builds it");
        assert_eq!(b.workdir, kubegate_source(), "built in kubegate's tree, not the team's");
        assert_eq!(b.context, kubegate_source().join("harness/kubegate-freezer"));
        assert_eq!(
            b.prepare,
            ["bash", "ci/images/stage-binary.sh", "kubegate-freezer", "harness/kubegate-freezer/dist"]
        );

        let mut switch = taskly.clone();
        switch.liveness.fault = crate::config::LivenessFault::Switch;
        assert_eq!(kubegate_recipes(&switch).expect("nothing to build"), []);

        let gone = tempfile::tempdir().expect("tempdir");
        let err = freezer_recipe(gone.path()).expect_err("no source tree");
        let text = err.to_string();
        assert!(text.contains("harness/kubegate-freezer/Dockerfile") && text.contains("fault = \"switch\""), "{text}");
        assert_eq!(err.exit_code(), ExitCode::BadInput);
    }

    #[test]
    fn docker_problems_are_bad_input_with_the_fix() {
        for err in [BuildImagesError::DockerMissing, BuildImagesError::DockerDown { stderr_tail: "refused".into() }] {
            assert_eq!(err.exit_code(), ExitCode::BadInput);
            assert!(err.to_string().contains(START_DOCKER_HINT), "{err}");
        }
    }

    #[test]
    fn prebuilt_images_are_inspected_not_built_and_a_missing_one_is_named() {
        use crate::process::FakeRunner;
        let recipe = |component: &str| ImageRecipe {
            component: component.into(),
            image: format!("todo-chatbot-{component}:0.1.0"),
            build: None,
            budget_bytes: None,
        };
        let fake = FakeRunner::new();
        fake.reply(
            &["docker", "image", "inspect"],
            [Output::ok("sha256:b 10\n"), Output::failed(1, "", "Error: No such image: todo-chatbot-frontend:0.1.0")],
        );
        let err = prebuilt(fake.as_ref(), &[recipe("backend"), recipe("frontend")]).expect_err("frontend missing");
        assert!(matches!(&err, BuildImagesError::NotPrebuilt { image, .. } if image == "todo-chatbot-frontend:0.1.0"));
        assert!(err.to_string().contains("docker load"), "{err}");
        assert_eq!(err.exit_code(), ExitCode::BadInput);
        assert!(fake.calls().iter().all(|c| c[..3] == ["docker", "image", "inspect"]), "{:?}", fake.calls());

        let fake = FakeRunner::new();
        fake.reply(&["docker", "image", "inspect"], [Output::ok("sha256:b 10\n")]);
        let got = prebuilt(fake.as_ref(), &[recipe("backend")]).expect("present");
        assert_eq!(
            got,
            [BuiltImage { image: "todo-chatbot-backend:0.1.0".into(), id: "sha256:b".into(), size_bytes: 10 }]
        );
    }

    #[test]
    fn build_prepares_then_docker_builds_the_teams_dockerfile_and_takes_a_self_built_image_as_is() {
        use crate::process::FakeRunner;
        let dir = tempfile::tempdir().expect("tempdir");
        let context = dir.path().join("api");
        let built_by_us = ImageRecipe {
            component: "api".into(),
            image: "taskly-api:1.0.0".into(),
            build: Some(DockerBuild {
                context: context.clone(),
                dockerfile: context.join("Dockerfile.prod"),
                args: vec![("VERSION".into(), "1.0.0".into())],
                prepare: vec!["make".into(), "dist".into()],
                workdir: dir.path().to_path_buf(),
            }),
            budget_bytes: None,
        };
        let built_by_team =
            ImageRecipe { component: "web".into(), image: "taskly-web:1.0.0".into(), build: None, budget_bytes: None };
        let fake = FakeRunner::new();
        fake.reply(&["docker", "version"], [Output::ok("28.1.1\n")]);
        fake.reply(&["make"], [Output::ok("built\n")]);
        fake.reply(&["git"], [Output::ok("0123456789ab\n")]);
        fake.reply(&["docker", "build"], [Output::ok("")]);
        fake.reply(&["docker", "image", "inspect"], [Output::ok("sha256:abc 1234\n"), Output::ok("sha256:def 99\n")]);

        let built = build(fake.as_ref(), &[built_by_us.clone(), built_by_team]).expect("built");
        assert_eq!(
            built[0],
            BuiltImage { image: "taskly-api:1.0.0".into(), id: "sha256:abc".into(), size_bytes: 1234 }
        );
        assert_eq!(built[1].image, "taskly-web:1.0.0");
        let argv = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let (ctx, dockerfile) = (context.display().to_string(), context.join("Dockerfile.prod").display().to_string());
        assert_eq!(
            fake.calls(),
            [
                argv(&["docker", "version", "--format", "{{.Server.Version}}"]),
                argv(&["make", "dist"]),
                argv(&["git", "rev-parse", "--short=12", "HEAD"]),
                argv(&[
                    "docker",
                    "build",
                    "--tag",
                    "taskly-api:1.0.0",
                    "--file",
                    &dockerfile,
                    "--build-arg",
                    "REVISION=0123456789ab",
                    "--build-arg",
                    "VERSION=1.0.0",
                    &ctx
                ]),
                argv(&["docker", "image", "inspect", "--format", "{{.Id}} {{.Size}}", "taskly-api:1.0.0"]),
                argv(&["docker", "image", "inspect", "--format", "{{.Id}} {{.Size}}", "taskly-web:1.0.0"]),
            ]
        );
        let prepare = &fake.commands()[1];
        assert_eq!(prepare.current_dir.as_deref(), Some(dir.path()));

        // The team's own image missing: named, with the fix.
        let fake = FakeRunner::new();
        fake.reply(&["docker", "version"], [Output::ok("28.1.1\n")]);
        fake.reply(&["docker", "image", "inspect"], [Output::failed(1, "", "Error: No such image: taskly-web:1.0.0")]);
        let missing =
            ImageRecipe { component: "web".into(), image: "taskly-web:1.0.0".into(), build: None, budget_bytes: None };
        let err = build(fake.as_ref(), &[missing]).expect_err("not in Docker");
        assert!(matches!(&err, BuildImagesError::NotBuilt { component, .. } if component == "web"));
        assert!(err.to_string().contains("docker build -t taskly-web:1.0.0"), "{err}");

        // A failing prepare: the component, the command and its own output.
        let fake = FakeRunner::new();
        fake.reply(&["docker", "version"], [Output::ok("28.1.1\n")]);
        fake.reply(&["make"], [Output::failed(2, "", "make: *** No rule to make target 'dist'.  Stop.\n")]);
        let err = build(fake.as_ref(), &[built_by_us]).expect_err("prepare fails");
        assert!(matches!(&err, BuildImagesError::Prepare { component, .. } if component == "api"));
        assert_eq!(err.exit_code(), ExitCode::BadInput);
    }

    #[test]
    fn a_failed_docker_build_keeps_the_output_tail_and_a_missing_docker_is_bad_input() {
        use crate::process::FakeRunner;
        let fake = FakeRunner::new();
        fake.set_programs(&[]);
        assert!(matches!(check_docker(fake.as_ref()), Err(BuildImagesError::DockerMissing)));
        let fake = FakeRunner::new();
        fake.reply(&["docker", "version"], [Output::failed(1, "", "Cannot connect to the Docker daemon\n")]);
        let err = check_docker(fake.as_ref()).expect_err("engine down");
        assert!(matches!(&err, BuildImagesError::DockerDown { stderr_tail } if stderr_tail.contains("Cannot connect")));
    }

    #[test]
    fn tail_keeps_the_last_lines() {
        assert_eq!(tail("a\nb\nc\n", 2), "b\nc");
        assert_eq!(short_id("sha256:0123456789abcdef"), "0123456789ab");
    }
}
