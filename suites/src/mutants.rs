//! Mutants: broken variants of the deployment under test, each proving that
//! one rule catches what it claims. A mutant is a directory under
//! `fixtures/mutants/` with a `mutant.toml`:
//!
//! ```toml
//! description = "liveness probe removed from the backend"
//! path = "both"               # where it must be caught: raw | helm | both | parity
//! expect = ["KG-PROBE-001"]   # rule ids that must fire there
//! # exit = 2                  # for input kubegate rejects while loading (default 1)
//! # error_contains = ["..."]  # with exit = 2: text the error must name
//!
//! [[patch]]                   # a YAML edit of one document of a manifest
//! file = "manifests/30-backend-deployment.yaml"
//! at = "spec.template.spec.containers[name=backend].livenessProbe"
//! remove = true               # or: set = <value>, or: append = <value> (to a list)
//!
//! [[patch]]                   # a text edit (chart templates are not YAML)
//! file = "charts/todo-chatbot/templates/backend-deployment.yaml"
//! find = "livenessProbe:"     # must occur exactly `count` times (default 1)
//! replace = "x-removed:"
//!
//! [[patch]]                   # a new file, or a deleted one
//! file = "manifests/90-secret.yaml"
//! content = "..."             # or: delete = true
//!
//! values = """                # a values file for the chart (helm and parity runs)
//! image: {backend: {tag: latest}}
//! """
//! ```
//!
//! Mutants are built into a fresh directory from a COPY of the repo's
//! `kubegate.toml`, `manifests/`, `charts/` and `fixtures/contracts/`, so they
//! stay small and track the real files; a patch whose anchor is gone fails
//! the build loudly instead of silently testing nothing. The repo itself is
//! never modified.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

/// Where a mutant must be caught.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MutantPath {
    /// `kubegate check --manifests` alone.
    Raw,
    /// `kubegate check --chart` alone.
    Helm,
    /// Both of the above, each on its own.
    Both,
    /// The full check (both paths and their comparison).
    Parity,
}

/// `mutant.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MutantSpec {
    /// What is broken, one line.
    pub description: String,
    /// Where it must be caught.
    pub path: MutantPath,
    /// Rule ids that must fire (all of them).
    pub expect: Vec<String>,
    /// Expected exit code (1 = findings; 2 = rejected while loading).
    #[serde(default = "default_exit")]
    pub exit: i32,
    /// With `exit = 2`: substrings the error output must contain.
    #[serde(default)]
    pub error_contains: Vec<String>,
    /// Edits applied to the copy, in order.
    #[serde(default, rename = "patch")]
    pub patches: Vec<Patch>,
    /// Extra values file for the chart (YAML text).
    pub values: Option<String>,
}

fn default_exit() -> i32 {
    1
}

/// One edit of the copy. Exactly one of the operations is given.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Patch {
    /// File relative to the copy's root (`manifests/...`, `charts/...`).
    pub file: PathBuf,
    /// YAML edits: only the document of this kind...
    pub kind: Option<String>,
    /// ...and this name (needed when the file has several documents).
    pub name: Option<String>,
    /// YAML edits: field path, `a.b[0].c` or `containers[name=backend]`.
    pub at: Option<String>,
    /// Set the field (created with its parents when missing).
    pub set: Option<toml::Value>,
    /// Remove the field.
    #[serde(default)]
    pub remove: bool,
    /// Append to the list at `at`.
    pub append: Option<toml::Value>,
    /// Text edit: the text to find...
    pub find: Option<String>,
    /// ...and what replaces it.
    pub replace: Option<String>,
    /// How often `find` must occur (default 1).
    pub count: Option<usize>,
    /// Create (or overwrite) the file with this text.
    pub content: Option<String>,
    /// Delete the file.
    #[serde(default)]
    pub delete: bool,
}

/// A mutant read from `fixtures/mutants/<name>/mutant.toml`.
#[derive(Debug, Clone)]
pub struct Mutant {
    /// Directory name.
    pub name: String,
    /// Its specification.
    pub spec: MutantSpec,
}

/// A mutant could not be read or built: the fixture is wrong (or the files
/// it patches changed), not kubegate.
#[derive(Debug, thiserror::Error)]
pub enum BuildMutantError {
    /// I/O on the fixture or the copy.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// `mutant.toml` is invalid.
    #[error("{}: {message}", path.display())]
    Spec {
        /// The mutant.toml.
        path: PathBuf,
        /// toml's message.
        message: String,
    },
    /// A patch does not apply any more.
    #[error("mutant `{mutant}`, patch #{index} on {}: {problem}\n  fix: update fixtures/mutants/{mutant}/mutant.toml to the current file", file.display())]
    Patch {
        /// Mutant name.
        mutant: String,
        /// 1-based patch number.
        index: usize,
        /// Patched file.
        file: PathBuf,
        /// What went wrong.
        problem: String,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BuildMutantError + '_ {
    move |source| BuildMutantError::Io { path: path.to_path_buf(), source }
}

/// The workspace root (this crate's parent directory).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from(".."))
}

/// `fixtures/mutants/` of the repo.
pub fn mutants_dir() -> PathBuf {
    repo_root().join("fixtures").join("mutants")
}

/// Every mutant under `dir`, sorted by name.
pub fn load_all(dir: &Path) -> Result<Vec<Mutant>, BuildMutantError> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io(dir))? {
        let entry = entry.map_err(io(dir))?;
        let spec_file = entry.path().join("mutant.toml");
        if spec_file.is_file() {
            out.push(load(&spec_file)?);
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// One mutant from its `mutant.toml`.
pub fn load(spec_file: &Path) -> Result<Mutant, BuildMutantError> {
    let text = std::fs::read_to_string(spec_file).map_err(io(spec_file))?;
    let spec: MutantSpec = toml::from_str(&text)
        .map_err(|e| BuildMutantError::Spec { path: spec_file.to_path_buf(), message: e.to_string() })?;
    let name =
        spec_file.parent().and_then(Path::file_name).map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    if spec.expect.is_empty() {
        return Err(BuildMutantError::Spec { path: spec_file.to_path_buf(), message: "`expect` names no rule".into() });
    }
    Ok(Mutant { name, spec })
}

/// The parts of the repo a check reads, copied under `dest`.
pub const COPIED: &[&str] = &["kubegate.toml", "manifests", "charts", "fixtures/contracts"];

/// Copy [`COPIED`] from `repo` to `dest` (what exists of it).
pub fn copy_tree(repo: &Path, dest: &Path) -> Result<(), BuildMutantError> {
    for part in COPIED {
        let from = repo.join(part);
        let to = dest.join(part);
        if from.is_dir() {
            copy_dir(&from, &to)?;
        } else if from.is_file() {
            if let Some(parent) = to.parent() {
                std::fs::create_dir_all(parent).map_err(io(parent))?;
            }
            std::fs::copy(&from, &to).map_err(io(&from))?;
        }
    }
    Ok(())
}

fn copy_dir(from: &Path, to: &Path) -> Result<(), BuildMutantError> {
    std::fs::create_dir_all(to).map_err(io(to))?;
    for entry in std::fs::read_dir(from).map_err(io(from))? {
        let entry = entry.map_err(io(from))?;
        let src = entry.path();
        let dst = to.join(entry.file_name());
        if src.is_dir() {
            copy_dir(&src, &dst)?;
        } else {
            std::fs::copy(&src, &dst).map_err(io(&src))?;
        }
    }
    Ok(())
}

/// Name of the values file a mutant's `values` is written to (in the copy's root).
pub const VALUES_FILE: &str = "mutant-values.yaml";

impl Mutant {
    /// Copy the repo's deployment to `dest` and apply the patches; returns
    /// the values file to add to helm runs, if any.
    pub fn build(&self, repo: &Path, dest: &Path) -> Result<Option<PathBuf>, BuildMutantError> {
        copy_tree(repo, dest)?;
        for (i, p) in self.spec.patches.iter().enumerate() {
            let err = |problem: String| BuildMutantError::Patch {
                mutant: self.name.clone(),
                index: i + 1,
                file: p.file.clone(),
                problem,
            };
            apply(p, &dest.join(&p.file)).map_err(err)?;
        }
        match &self.spec.values {
            Some(text) => {
                let file = dest.join(VALUES_FILE);
                std::fs::write(&file, text).map_err(io(&file))?;
                Ok(Some(file))
            }
            None => Ok(None),
        }
    }
}

fn apply(p: &Patch, file: &Path) -> Result<(), String> {
    if p.delete {
        return std::fs::remove_file(file).map_err(|e| format!("cannot delete: {e}"));
    }
    if let Some(content) = &p.content {
        if let Some(parent) = file.parent() {
            std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
        }
        return std::fs::write(file, content).map_err(|e| e.to_string());
    }
    let text = std::fs::read_to_string(file).map_err(|e| format!("cannot read: {e}"))?;
    if let Some(find) = &p.find {
        let replace = p.replace.as_deref().ok_or("`find` without `replace`")?;
        let want = p.count.unwrap_or(1);
        let found = text.matches(find.as_str()).count();
        if found != want {
            return Err(format!("`{find}` occurs {found} times, expected {want}"));
        }
        return std::fs::write(file, text.replace(find.as_str(), replace)).map_err(|e| e.to_string());
    }
    let at = p.at.as_deref().ok_or("a patch needs one of: at (+ set/remove/append), find/replace, content, delete")?;
    let mut docs: Vec<Value> = serde_saphyr::from_multiple(&text).map_err(|e| format!("not YAML: {e}"))?;
    docs.retain(|d| !d.is_null());
    let matches: Vec<usize> = docs
        .iter()
        .enumerate()
        .filter(|(_, d)| p.kind.as_deref().is_none_or(|k| d["kind"] == k))
        .filter(|(_, d)| p.name.as_deref().is_none_or(|n| d["metadata"]["name"] == n))
        .map(|(i, _)| i)
        .collect();
    let [index] = matches[..] else {
        return Err(format!("{} documents match kind {:?} name {:?}; name exactly one", matches.len(), p.kind, p.name));
    };
    let doc = &mut docs[index];
    let steps = parse_path(at)?;
    if p.remove {
        let (last, parents) = steps.split_last().ok_or("empty path")?;
        let parent = walk(doc, parents, false)?;
        let removed = match (parent, last) {
            (Value::Object(m), Step::Key(k)) => m.remove(k).is_some(),
            (Value::Array(a), Step::Index(i)) if *i < a.len() => {
                a.remove(*i);
                true
            }
            // The first entry of that name, as `set` and `append` address it.
            (Value::Array(a), Step::Named(n)) => match a.iter().position(|e| e["name"] == n.as_str()) {
                Some(i) => {
                    a.remove(i);
                    true
                }
                None => false,
            },
            _ => false,
        };
        if !removed {
            return Err(format!("`{at}` does not exist"));
        }
    } else if let Some(v) = &p.set {
        *walk(doc, &steps, true)? = to_json(v)?;
    } else if let Some(v) = &p.append {
        match walk(doc, &steps, true)? {
            Value::Array(a) => a.push(to_json(v)?),
            Value::Null => *walk(doc, &steps, true)? = Value::Array(vec![to_json(v)?]),
            other => return Err(format!("`{at}` is not a list but {other}")),
        }
    } else {
        return Err("`at` needs one of set, remove, append".into());
    }
    let out: Vec<String> = docs
        .iter()
        .map(|d| serde_saphyr::to_string(d).map_err(|e| format!("cannot write YAML: {e}")))
        .collect::<Result<_, _>>()?;
    std::fs::write(file, out.join("---\n")).map_err(|e| e.to_string())
}

fn to_json(v: &toml::Value) -> Result<Value, String> {
    serde_json::to_value(v).map_err(|e| e.to_string())
}

#[derive(Debug)]
enum Step {
    Key(String),
    Index(usize),
    /// `[name=x]`: the list element whose `name` is x.
    Named(String),
}

fn parse_path(at: &str) -> Result<Vec<Step>, String> {
    let mut steps = Vec::new();
    for part in at.split('.') {
        let (key, mut rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !key.is_empty() {
            steps.push(Step::Key(key.to_string()));
        }
        while let Some(stripped) = rest.strip_prefix('[') {
            let end = stripped.find(']').ok_or_else(|| format!("unclosed `[` in `{at}`"))?;
            let inner = &stripped[..end];
            steps.push(match inner.strip_prefix("name=") {
                Some(n) => Step::Named(n.to_string()),
                None => Step::Index(inner.parse().map_err(|_| format!("bad index `{inner}` in `{at}`"))?),
            });
            rest = &stripped[end + 1..];
        }
    }
    Ok(steps)
}

/// The value at `steps`; with `create`, missing object keys are created.
fn walk<'a>(mut v: &'a mut Value, steps: &[Step], create: bool) -> Result<&'a mut Value, String> {
    for step in steps {
        v = match step {
            Step::Key(k) => {
                if v.is_null() && create {
                    *v = Value::Object(Default::default());
                }
                let m = v.as_object_mut().ok_or_else(|| format!("`{k}`: parent is not a map"))?;
                if !m.contains_key(k) && !create {
                    return Err(format!("`{k}` does not exist"));
                }
                m.entry(k.clone()).or_insert(Value::Null)
            }
            Step::Index(i) => {
                let a = v.as_array_mut().ok_or_else(|| format!("[{i}]: not a list"))?;
                let len = a.len();
                a.get_mut(*i).ok_or_else(|| format!("[{i}]: the list has {len} elements"))?
            }
            Step::Named(n) => {
                let a = v.as_array_mut().ok_or_else(|| format!("[name={n}]: not a list"))?;
                a.iter_mut().find(|e| e["name"] == n.as_str()).ok_or_else(|| format!("no element named `{n}`"))?
            }
        };
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn patch(at: &str) -> Patch {
        Patch {
            file: "x.yaml".into(),
            kind: None,
            name: None,
            at: Some(at.into()),
            set: None,
            remove: false,
            append: None,
            find: None,
            replace: None,
            count: None,
            content: None,
            delete: false,
        }
    }

    const DOC: &str = "kind: Deployment\nmetadata: {name: a}\nspec:\n  containers:\n    - name: app\n      image: x:1\n      env: [{name: A, value: '1'}]\n";

    #[test]
    fn set_remove_append_round_trip() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("x.yaml");
        std::fs::write(&file, DOC).expect("write");
        let mut p = patch("spec.containers[name=app].image");
        p.set = Some(toml::Value::String("x:latest".into()));
        apply(&p, &file).expect("set");
        let mut p = patch("spec.containers[0].env");
        p.append = Some(toml::Value::Table(toml::from_str("name = 'A'\nvalue = '2'").expect("toml")));
        apply(&p, &file).expect("append");
        let mut p = patch("spec.containers[0].env[name=A]");
        p.remove = true;
        apply(&p, &file).expect("remove by name");
        let v: Value = serde_saphyr::from_str(&std::fs::read_to_string(&file).expect("read")).expect("yaml");
        assert_eq!(v["spec"]["containers"][0]["image"], "x:latest");
        assert_eq!(v["spec"]["containers"][0]["env"].as_array().map(Vec::len), Some(1), "one of two A removed: {v}");
        let mut p = patch("spec.missing.field");
        p.remove = true;
        assert!(apply(&p, &file).expect_err("missing").contains("does not exist"));
    }

    #[test]
    fn find_must_match_exactly() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("t.yaml");
        std::fs::write(&file, "a: 1\nb: 1\n").expect("write");
        let mut p = patch("");
        p.at = None;
        p.find = Some(": 1".into());
        p.replace = Some(": 2".into());
        assert!(apply(&p, &file).expect_err("twice").contains("occurs 2 times"));
        p.count = Some(2);
        apply(&p, &file).expect("both");
        assert_eq!(std::fs::read_to_string(&file).expect("read"), "a: 2\nb: 2\n");
    }
}
