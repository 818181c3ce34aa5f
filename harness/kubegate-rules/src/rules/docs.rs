//! The catalog as Markdown: the generated part of `docs/rules.md` (between
//! [`BEGIN`] and [`END`]); the prose around it is written by hand.

use std::fmt::Write;

use super::catalog;

/// The line that opens the generated catalog in `docs/rules.md`.
pub const BEGIN: &str =
    "<!-- catalog: generated from harness/kubegate-rules/src/rules by rules::markdown_catalog; do not edit -->";
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

#[cfg(test)]
mod tests {
    use super::*;
    use kubegate_core::generated_docs::check_or_update;

    /// docs/rules.md holds the catalog as generated.
    #[test]
    fn docs_rules_md_catalog_is_generated() {
        let file = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/rules.md");
        let regenerate = "cargo nextest run -p kubegate-rules docs_rules_md_catalog_is_generated";
        if let Err(e) = check_or_update(file.as_ref(), BEGIN, END, &markdown_catalog(), regenerate) {
            panic!("{e}");
        }
    }
}
