//! The catalog as Markdown: the generated part of `docs/rules.md` (between
//! [`BEGIN`] and [`END`]); the prose around it is written by hand.

use std::fmt::Write;

use super::catalog;

/// The line that opens the generated catalog in `docs/rules.md`.
pub const BEGIN: &str = "<!-- catalog: generated from harness/src/rules by rules::markdown_catalog; do not edit -->";
/// The line that closes it.
pub const END: &str = "<!-- end of catalog -->";

/// One `### FAMILY` section with a table per family, in catalog order.
pub fn markdown_catalog() -> String {
    let mut out = String::new();
    let mut family = "";
    for r in catalog() {
        if r.family() != family {
            family = r.family();
            let _ = write!(out, "\n### {family}\n\n| id | severity | asserts | why | fix |\n|---|---|---|---|---|\n");
        }
        let _ = writeln!(out, "| `{}` | {:?} | {} | {} | {} |", r.id, r.severity, r.title, r.rationale, r.fix);
    }
    out
}

/// `doc` with the text between [`BEGIN`] and [`END`] replaced by the
/// catalog; `None` when the markers are missing.
pub fn with_catalog(doc: &str) -> Option<String> {
    let start = doc.find(BEGIN)? + BEGIN.len();
    let end = start + doc[start..].find(END)?;
    Some(format!("{}\n{}\n{}", &doc[..start], markdown_catalog().trim_end(), &doc[end..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// docs/rules.md holds the catalog as generated. To regenerate it:
    /// `KUBEGATE_UPDATE_DOCS=1 cargo nextest run -p kubegate docs_rules_md_catalog_is_generated`.
    #[test]
    fn docs_rules_md_catalog_is_generated() {
        let file = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/rules.md");
        let doc = std::fs::read_to_string(file).expect("docs/rules.md exists");
        let want = with_catalog(&doc).unwrap_or_else(|| panic!("docs/rules.md lacks the lines `{BEGIN}` and `{END}`"));
        if std::env::var_os("KUBEGATE_UPDATE_DOCS").is_some() {
            std::fs::write(file, &want).expect("write docs/rules.md");
            return;
        }
        assert!(
            doc == want,
            "docs/rules.md is stale: the catalog in harness/src/rules changed.\n  fix: run `KUBEGATE_UPDATE_DOCS=1 cargo nextest run -p kubegate docs_rules_md_catalog_is_generated`"
        );
    }
}
