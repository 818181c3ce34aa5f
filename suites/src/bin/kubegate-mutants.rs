//! `kubegate-mutants build OUT`: build every mutant of `fixtures/mutants/`
//! into `OUT/<name>/` (a patched copy of the deployment) with a
//! `mutant.json` saying how to check it, so scripts (ci/bench/check.sh) can
//! run kubegate and other tools over the same broken trees.
//! `kubegate-mutants list` prints `name path expected-rules`.

use std::path::PathBuf;
use std::process::ExitCode;

use kubegate_suites::mutants::{self, MutantPath};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["list"] => list(),
        ["build", out] => build(PathBuf::from(out)),
        _ => Err("usage: kubegate-mutants list | kubegate-mutants build OUT_DIR".to_string()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kubegate-mutants: error: {e}");
            ExitCode::from(2)
        }
    }
}

fn path_name(p: MutantPath) -> &'static str {
    match p {
        MutantPath::Raw => "raw",
        MutantPath::Helm => "helm",
        MutantPath::Both => "both",
        MutantPath::Parity => "parity",
    }
}

fn list() -> Result<(), String> {
    for m in mutants::load_all(&mutants::mutants_dir()).map_err(|e| e.to_string())? {
        println!("{} {} {}", m.name, path_name(m.spec.path), m.spec.expect.join(","));
    }
    Ok(())
}

fn build(out: PathBuf) -> Result<(), String> {
    let all = mutants::load_all(&mutants::mutants_dir()).map_err(|e| e.to_string())?;
    std::fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    for m in &all {
        let dir = out.join(&m.name);
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        let values = m.build(&mutants::repo_root(), &dir).map_err(|e| e.to_string())?;
        let meta = serde_json::json!({
            "name": m.name,
            "description": m.spec.description,
            "path": path_name(m.spec.path),
            "expect": m.spec.expect,
            "exit": m.spec.exit,
            "values": values.map(|v| v.display().to_string()),
        });
        let file = dir.join("mutant.json");
        std::fs::write(&file, serde_json::to_string_pretty(&meta).unwrap_or_default())
            .map_err(|e| format!("{}: {e}", file.display()))?;
    }
    eprintln!("built {} mutants under {}", all.len(), out.display());
    Ok(())
}
