//! Generated sections of hand-written docs (the rule catalog in
//! docs/rules.md, the live checks in docs/live.md): the lines between two
//! markers come from code, and a test keeps file and code equal.

use std::path::Path;

/// The environment variable that makes [`check_or_update`] rewrite a stale
/// section instead of failing.
pub const UPDATE_ENV: &str = "KUBEGATE_UPDATE_DOCS";

/// `doc` with the lines between the `begin` and `end` marker lines replaced by
/// `body`; `None` when a marker is missing.
pub fn with_section(doc: &str, begin: &str, end: &str, body: &str) -> Option<String> {
    let start = doc.find(begin)? + begin.len();
    let stop = start + doc[start..].find(end)?;
    Some(format!("{}\n{}\n{}", &doc[..start], body.trim_matches('\n'), &doc[stop..]))
}

/// For a test: `Ok` when `file`'s section equals `body`; with
/// [`UPDATE_ENV`] set, writes the fresh section instead. `regenerate` is the
/// command the failure message tells the reader to run.
pub fn check_or_update(file: &Path, begin: &str, end: &str, body: &str, regenerate: &str) -> Result<(), String> {
    let doc = std::fs::read_to_string(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    let fresh = with_section(&doc, begin, end, body)
        .ok_or_else(|| format!("{} lacks the marker lines `{begin}` and `{end}`", file.display()))?;
    if std::env::var_os(UPDATE_ENV).is_some() {
        return std::fs::write(file, &fresh).map_err(|e| format!("cannot write {}: {e}", file.display()));
    }
    if fresh == doc {
        Ok(())
    } else {
        Err(format!(
            "{} is stale: its generated section no longer matches the code.\n  fix: run `{UPDATE_ENV}=1 {regenerate}`",
            file.display()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_section_between_the_markers_is_replaced_and_the_rest_kept() {
        let doc = "intro\n<!-- b -->\nold\nlines\n<!-- e -->\noutro\n";
        assert_eq!(
            with_section(doc, "<!-- b -->", "<!-- e -->", "new\n").as_deref(),
            Some("intro\n<!-- b -->\nnew\n<!-- e -->\noutro\n")
        );
        assert_eq!(with_section(doc, "<!-- x -->", "<!-- e -->", "new"), None);
    }

    #[test]
    fn a_stale_file_fails_with_the_command_to_run_and_a_fresh_one_passes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("doc.md");
        std::fs::write(&file, "<!-- b -->\nold\n<!-- e -->\n").expect("write");
        let err = check_or_update(&file, "<!-- b -->", "<!-- e -->", "new", "make docs").expect_err("stale");
        assert!(err.contains("KUBEGATE_UPDATE_DOCS=1 make docs"), "{err}");
        std::fs::write(&file, "<!-- b -->\nnew\n<!-- e -->\n").expect("write");
        check_or_update(&file, "<!-- b -->", "<!-- e -->", "new", "make docs").expect("fresh");
    }
}
