//! Why manifests could not be read into the model: every variant names the file, the document and (when known)
//! the line, and the fix.

// LoadManifestsError carries its evidence (file, field, kind, name) inline and
// is built at most once per run: boxing it would only add noise.
#![allow(clippy::result_large_err)]

use std::path::PathBuf;

use crate::exit::{ExitCode, HasExitCode};

/// The manifests could not be read into the model. Every variant names the
/// file, the document and (when known) the line.
#[derive(Debug, thiserror::Error)]
pub enum LoadManifestsError {
    /// The directory could not be listed.
    #[error("cannot read manifests directory {}", dir.display())]
    ReadDir {
        /// Directory.
        dir: PathBuf,
        /// I/O error.
        #[source]
        source: std::io::Error,
    },
    /// No YAML files in the directory.
    #[error("no *.yaml or *.yml files in {}\n  fix: point --manifests (or `manifests` in kubegate.toml) at the manifests directory", dir.display())]
    NoManifests {
        /// Directory.
        dir: PathBuf,
    },
    /// A file could not be read.
    #[error("cannot read {}", file.display())]
    ReadFile {
        /// File.
        file: PathBuf,
        /// I/O error.
        #[source]
        source: std::io::Error,
    },
    /// YAML syntax error or duplicate key.
    #[error("{}:{}: document {document}: {message}", file.display(), fmt_line(*line))]
    Yaml {
        /// File.
        file: PathBuf,
        /// 1-based document index.
        document: usize,
        /// 1-based line.
        line: Option<usize>,
        /// The parser's message (with column).
        message: String,
    },
    /// A field the Kubernetes type does not have (typo, wrong indentation).
    #[error("{}:{}: document {document} ({kind}/{name}): unknown field `{field}`\n  fix: check the spelling and indentation against the {api_version} {kind} schema", file.display(), fmt_line(*line))]
    UnknownField {
        /// File.
        file: PathBuf,
        /// 1-based document index.
        document: usize,
        /// 1-based line of the field.
        line: Option<usize>,
        /// apiVersion of the object.
        api_version: String,
        /// Kind.
        kind: String,
        /// Name.
        name: String,
        /// Field path.
        field: String,
    },
    /// A kind of a built-in API group that the group does not have (a typo, or apiVersion/kind mismatch).
    /// Kinds of other groups (custom resources) are carried unstructured, not rejected.
    #[error("{}:{}: document {document}: unknown kind `{kind}` in apiVersion `{api_version}`\n  fix: check the kind's spelling and its apiVersion (Deployment apps/v1, Service v1, ...)", file.display(), fmt_line(*line))]
    UnknownKind {
        /// File.
        file: PathBuf,
        /// 1-based document index.
        document: usize,
        /// 1-based line.
        line: Option<usize>,
        /// apiVersion.
        api_version: String,
        /// Kind.
        kind: String,
    },
    /// A field with the wrong type or a missing required field.
    #[error("{}:{}: document {document} ({kind}): field `{field}`: {message}", file.display(), fmt_line(*line))]
    InvalidField {
        /// File.
        file: PathBuf,
        /// 1-based document index.
        document: usize,
        /// 1-based line.
        line: Option<usize>,
        /// Kind.
        kind: String,
        /// Field path.
        field: String,
        /// What the type expected.
        message: String,
    },
}

impl LoadManifestsError {
    /// The file and line the error names, when it names them.
    pub(super) fn location_mut(&mut self) -> Option<(&mut PathBuf, &mut Option<usize>)> {
        match self {
            LoadManifestsError::Yaml { file, line, .. }
            | LoadManifestsError::UnknownField { file, line, .. }
            | LoadManifestsError::UnknownKind { file, line, .. }
            | LoadManifestsError::InvalidField { file, line, .. } => Some((file, line)),
            _ => None,
        }
    }
}

impl HasExitCode for LoadManifestsError {
    fn exit_code(&self) -> ExitCode {
        ExitCode::BadInput
    }
}

fn fmt_line(line: Option<usize>) -> String {
    line.map(|l| l.to_string()).unwrap_or_else(|| "?".into())
}
