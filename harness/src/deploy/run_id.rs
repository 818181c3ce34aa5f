//! The id of one kubegate run: it names the run's namespaces, its lock
//! file and its reports directory.

use crate::finding::DeployPath;

/// A short random id of one kubegate run: 6 characters `[a-z0-9]`,
/// starting with a letter, so `kg-<id>-raw` is a valid namespace name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RunId(String);

impl RunId {
    /// A fresh random id.
    pub fn random() -> Self {
        use rand::Rng as _;
        const LETTERS: &[u8] = b"abcdefghijklmnopqrstuvwxyz";
        const ALNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
        let mut rng = rand::rng();
        let mut s = String::with_capacity(6);
        s.push(LETTERS[rng.random_range(0..LETTERS.len())] as char);
        for _ in 0..5 {
            s.push(ALNUM[rng.random_range(0..ALNUM.len())] as char);
        }
        RunId(s)
    }

    /// An id given on the command line or read from a label; `None` unless
    /// it is 1-20 characters of `[a-z0-9]` (so it is safe in names and paths).
    pub fn parse(s: &str) -> Option<Self> {
        let ok = !s.is_empty() && s.len() <= 20 && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        ok.then(|| RunId(s.to_owned()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The namespace of one deploy path of this run: `kg-<runid>-<path>`.
    pub fn namespace(&self, path: DeployPath) -> String {
        format!("kg-{}-{}", self.0, path)
    }

    /// A namespace of this run beside `path`'s, for one purpose:
    /// `kg-<runid>-<path>-<purpose>`.
    pub fn helper_namespace(&self, path: DeployPath, purpose: &str) -> String {
        format!("{}-{purpose}", self.namespace(path))
    }
}

impl std::fmt::Display for RunId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_ids_are_valid_namespace_parts() {
        for _ in 0..200 {
            let id = RunId::random();
            assert_eq!(id.as_str().len(), 6);
            assert!(id.as_str().as_bytes()[0].is_ascii_lowercase());
            assert_eq!(RunId::parse(id.as_str()), Some(id.clone()));
            let ns = id.namespace(DeployPath::Helm);
            assert!(ns.starts_with("kg-") && ns.ends_with("-helm") && ns.len() <= 63);
        }
        let id = RunId::parse("abc123").expect("valid");
        assert_eq!(id.helper_namespace(DeployPath::Raw, "freezer"), "kg-abc123-raw-freezer");
        assert!(RunId::parse("Bad/../id").is_none());
        assert!(RunId::parse("").is_none());
    }
}
