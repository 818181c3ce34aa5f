//! Building the chatbot's container images without a registry.
//!
//! No base image can be pulled on kubegate's CI machines, so each image is
//! `FROM scratch` with one static musl executable. The build has two stages,
//! the same on every machine:
//! 1. cargo (the builder stage): `cargo build --release --target
//!    x86_64-unknown-linux-musl -p todo-backend -p todo-frontend`;
//! 2. Docker: the binary is staged into `fixtures/<component>/dist/` (the
//!    only file `.dockerignore` admits) and `docker build` packages it with
//!    the component's Dockerfile, tagged as `kubegate.toml` names it
//!    (`todo-chatbot-backend:0.1.0`, `todo-chatbot-frontend:0.1.0`).
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
/// Rust target of the static binaries.
pub const MUSL_TARGET: &str = "x86_64-unknown-linux-musl";
/// What to tell a user whose Docker engine is missing or down.
pub const START_DOCKER_HINT: &str = "start Docker: ci/setup.sh docker";
/// Lines of a failed command's output kept as evidence.
const TAIL_LINES: usize = 30;
/// Deadline of a quick query (`docker version`, `docker image inspect`, `git`, `cargo metadata`).
const QUERY_TIMEOUT: Duration = Duration::from_secs(120);
/// Deadline of `cargo build --release` of the binaries.
const CARGO_BUILD_TIMEOUT: Duration = Duration::from_secs(3600);
/// Deadline of one `docker build`.
const DOCKER_BUILD_TIMEOUT: Duration = Duration::from_secs(1800);

/// How to build one image of this repo's chatbot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRecipe {
    /// Component name (`backend`, `frontend`).
    pub component: String,
    /// Image reference to tag, with explicit tag (`todo-chatbot-backend:0.1.0`).
    pub image: String,
    /// Cargo package that produces the executable (`todo-backend`).
    pub package: String,
    /// Docker build context: the directory holding Dockerfile and .dockerignore.
    pub context: PathBuf,
    /// Size budget in bytes (from `kubegate.toml`), if one is set.
    pub budget_bytes: Option<u64>,
}

impl ImageRecipe {
    /// Where the Dockerfile expects the binary (`<context>/dist/<package>`).
    pub fn staged_binary(&self) -> PathBuf {
        self.context.join("dist").join(&self.package)
    }
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
    /// A component of `kubegate.toml` has no recipe in this repo.
    #[error(
        "component `{component}` has no Dockerfile at {}: `kubegate images build` builds this repo's chatbot; build other images yourself and tag them as kubegate.toml says",
        dockerfile.display()
    )]
    NoRecipe {
        /// Component name from kubegate.toml.
        component: String,
        /// Where its Dockerfile was looked for.
        dockerfile: PathBuf,
    },
    /// `cargo metadata` or `cargo build` failed.
    #[error("`{command}` failed with {status}\n--- output (tail) ---\n{output_tail}")]
    Cargo {
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
    #[error("`{command}` failed with {status} building {image}\n--- output (tail) ---\n{output_tail}")]
    DockerBuild {
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
            | BuildImagesError::NoRecipe { .. }
            | BuildImagesError::NotPrebuilt { .. } => ExitCode::BadInput,
            _ => ExitCode::Infrastructure,
        }
    }
}

/// The recipes for the components of `config`: `fixtures/<component>/` with
/// cargo package `todo-<component>`, resolved against `root` (the repo).
pub fn recipes(config: &crate::config::Config, root: &Path) -> Result<Vec<ImageRecipe>, BuildImagesError> {
    config
        .components
        .iter()
        .map(|c| {
            let context = root.join("fixtures").join(&c.name);
            let dockerfile = context.join("Dockerfile");
            if !dockerfile.is_file() {
                return Err(BuildImagesError::NoRecipe { component: c.name.clone(), dockerfile });
            }
            Ok(ImageRecipe {
                component: c.name.clone(),
                image: c.image.clone(),
                package: format!("todo-{}", c.name),
                context,
                budget_bytes: (c.image_size_mb > 0).then(|| crate::image_check::budget_bytes(c.image_size_mb)),
            })
        })
        .collect()
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

/// Build the binaries and then the images of `recipes`, printing progress.
pub fn build(
    runner: &dyn CommandRunner,
    root: &Path,
    recipes: &[ImageRecipe],
) -> Result<Vec<BuiltImage>, BuildImagesError> {
    let step = Step::start("checking the Docker engine");
    let version = check_docker(runner);
    if let Ok(v) = &version {
        step.note(format!("engine {v}"));
    }
    step.finish(version)?;

    let target_dir = cargo_target_dir(runner, root)?;
    let cargo = cargo_command(root)
        .args(["build", "--release", "--target", MUSL_TARGET])
        .args(recipes.iter().flat_map(|r| ["-p".to_string(), r.package.clone()]))
        .timeout(CARGO_BUILD_TIMEOUT);
    let step = Step::start(format!("building the static binaries ({MUSL_TARGET}, release)"));
    let (out, output_tail) = run_echoed(runner, &cargo)?;
    if !out.success() {
        step.failed();
        return Err(BuildImagesError::Cargo { command: cargo.to_string(), status: exit_text(&out), output_tail });
    }
    step.ok();

    let revision = git_revision(runner, root);
    let mut built = Vec::new();
    for r in recipes {
        let binary = target_dir.join(MUSL_TARGET).join("release").join(&r.package);
        let staged = r.staged_binary();
        let io = |action, path: &Path| {
            let path = path.to_path_buf();
            move |source| BuildImagesError::Io { action, path, source }
        };
        let dist = staged.parent().unwrap_or(&r.context);
        std::fs::create_dir_all(dist).map_err(io("cannot create", dist))?;
        // Copy to a temporary name, then rename: a concurrent `docker build`
        // never reads half a binary.
        let tmp = staged.with_extension("partial");
        std::fs::copy(&binary, &tmp).map_err(io("cannot copy the binary", &binary))?;
        std::fs::rename(&tmp, &staged).map_err(io("cannot stage", &staged))?;

        let step = Step::start(format!("docker build -t {} {}", r.image, r.context.display()));
        let docker = docker_build(r, &revision);
        let (out, output_tail) = run_echoed(runner, &docker)?;
        if !out.success() {
            step.failed();
            return Err(BuildImagesError::DockerBuild {
                image: r.image.clone(),
                command: docker.to_string(),
                status: exit_text(&out),
                output_tail,
            });
        }
        let image = inspect(runner, &r.image)?;
        step.note(format!(
            "{} {} ({})",
            image.image,
            short_id(&image.id),
            crate::image_check::size_text(image.size_bytes)
        ));
        step.ok();
        built.push(image);
    }
    Ok(built)
}

/// `docker build --tag <image> --build-arg REVISION=<rev> <context>`.
fn docker_build(r: &ImageRecipe, revision: &str) -> Cmd {
    Cmd::new("docker", ["build", "--tag", &r.image, "--build-arg", &format!("REVISION={revision}")])
        .arg(r.context.display().to_string())
        .timeout(DOCKER_BUILD_TIMEOUT)
}

/// [`build`] under a file lock in the cargo target directory, so parallel
/// callers (one process per test under nextest) build one at a time; cargo
/// and Docker's layer cache make the later builds quick no-ops.
pub fn ensure_built(
    runner: &dyn CommandRunner,
    root: &Path,
    recipes: &[ImageRecipe],
) -> Result<Vec<BuiltImage>, BuildImagesError> {
    if std::env::var(PREBUILT_ENV).is_ok_and(|v| v == "1") {
        return prebuilt(runner, recipes);
    }
    let lock_path = cargo_target_dir(runner, root)?.join("kubegate-images.lock");
    let io = |source| BuildImagesError::Io { action: "cannot lock", path: lock_path.clone(), source };
    if let Some(dir) = lock_path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let file = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(&lock_path).map_err(io)?;
    let mut lock = fd_lock::RwLock::new(file);
    let _guard = lock.write().map_err(io)?;
    build(runner, root, recipes)
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

/// Cargo's target directory for the workspace at `root` (honours
/// `CARGO_TARGET_DIR` and `.cargo/config.toml`).
fn cargo_target_dir(runner: &dyn CommandRunner, root: &Path) -> Result<PathBuf, BuildImagesError> {
    let cmd = cargo_command(root).args(["metadata", "--format-version", "1", "--no-deps"]).timeout(QUERY_TIMEOUT);
    let out = runner.run(&cmd).map_err(|e| run_error(e, "cargo"))?;
    let parsed = serde_json::from_str::<serde_json::Value>(&out.stdout).ok();
    match parsed.as_ref().and_then(|v| v.get("target_directory")).and_then(|v| v.as_str()) {
        Some(dir) if out.success() => Ok(PathBuf::from(dir)),
        _ => Err(BuildImagesError::Cargo {
            command: cmd.to_string(),
            status: exit_text(&out),
            output_tail: tail(&out.stderr, TAIL_LINES),
        }),
    }
}

/// `cargo` in `root` without the variables cargo sets for a crate's own
/// tests and build scripts (`CARGO_PKG_NAME`, `CARGO_MANIFEST_DIR`, `OUT_DIR`,
/// ...). Called from a test, they would differ from a shell's environment,
/// and build scripts that declare `rerun-if-env-changed` on them (ring does)
/// would rebuild the whole dependency tree on every alternation.
fn cargo_command(root: &Path) -> Cmd {
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
    let mut cmd =
        Cmd::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()), Vec::<String>::new()).current_dir(root);
    for (key, _) in std::env::vars_os() {
        if let Some(k) = key.to_str()
            && SET_FOR_CRATES.iter().any(|prefix| k.starts_with(prefix))
        {
            cmd = cmd.env_remove(k);
        }
    }
    cmd
}

/// Short git revision of `root` for the OCI revision label; `unknown` outside git.
fn git_revision(runner: &dyn CommandRunner, root: &Path) -> String {
    let cmd = Cmd::new("git", ["rev-parse", "--short=12", "HEAD"]).current_dir(root).timeout(QUERY_TIMEOUT);
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
    fn recipes_follow_the_config_and_refuse_unknown_components() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let config = crate::config::Config::default();
        let recipes = recipes(&config, &root).expect("this repo has both Dockerfiles");
        let names: Vec<_> =
            recipes.iter().map(|r| (r.component.as_str(), r.image.as_str(), r.package.as_str())).collect();
        assert_eq!(
            names,
            [
                ("backend", "todo-chatbot-backend:0.1.0", "todo-backend"),
                ("frontend", "todo-chatbot-frontend:0.1.0", "todo-frontend")
            ]
        );
        assert!(recipes[1].staged_binary().ends_with("fixtures/frontend/dist/todo-frontend"));

        let mut odd = config.clone();
        odd.components[0].name = "worker".into();
        let err = super::recipes(&odd, &root).expect_err("no fixtures/worker");
        assert!(matches!(err, BuildImagesError::NoRecipe { .. }));
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
            package: format!("todo-{component}"),
            context: PathBuf::from("/nowhere"),
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
    fn build_runs_cargo_then_docker_for_each_image_through_the_runner() {
        use crate::process::FakeRunner;
        let dir = tempfile::tempdir().expect("tempdir");
        let target = dir.path().join("target");
        let release = target.join(MUSL_TARGET).join("release");
        std::fs::create_dir_all(&release).expect("mkdir");
        std::fs::write(release.join("todo-backend"), "binary").expect("binary");
        let context = dir.path().join("fixtures/backend");
        let recipe = ImageRecipe {
            component: "backend".into(),
            image: "todo-chatbot-backend:0.1.0".into(),
            package: "todo-backend".into(),
            context: context.clone(),
            budget_bytes: None,
        };
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let fake = FakeRunner::new();
        fake.reply(&["docker", "version"], [Output::ok("28.1.1\n")]);
        fake.reply(&[&cargo, "metadata"], [Output::ok(serde_json::json!({ "target_directory": target }).to_string())]);
        fake.reply(&[&cargo, "build"], [Output::ok("   Compiling todo-backend\n")]);
        fake.reply(&["git"], [Output::ok("0123456789ab\n")]);
        fake.reply(&["docker", "build"], [Output::ok("")]);
        fake.reply(&["docker", "image", "inspect"], [Output::ok("sha256:abc 1234\n")]);

        let built = build(fake.as_ref(), dir.path(), std::slice::from_ref(&recipe)).expect("built");
        assert_eq!(built, [BuiltImage { image: recipe.image.clone(), id: "sha256:abc".into(), size_bytes: 1234 }]);
        assert_eq!(std::fs::read_to_string(recipe.staged_binary()).expect("staged"), "binary");
        let argv = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let context = context.display().to_string();
        assert_eq!(
            fake.calls(),
            [
                argv(&["docker", "version", "--format", "{{.Server.Version}}"]),
                argv(&[&cargo, "metadata", "--format-version", "1", "--no-deps"]),
                argv(&[&cargo, "build", "--release", "--target", MUSL_TARGET, "-p", "todo-backend"]),
                argv(&["git", "rev-parse", "--short=12", "HEAD"]),
                argv(&["docker", "build", "--tag", &recipe.image, "--build-arg", "REVISION=0123456789ab", &context]),
                argv(&["docker", "image", "inspect", "--format", "{{.Id}} {{.Size}}", &recipe.image]),
            ]
        );
        let cargo_build = &fake.commands()[2];
        assert_eq!(cargo_build.current_dir.as_deref(), Some(dir.path()));
        assert!(cargo_build.env_remove.iter().all(|k| !k.starts_with("PATH")));
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
