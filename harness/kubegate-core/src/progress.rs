//! Progress output for long steps: one line per step on stderr, with the
//! time it took, so a person (or a CI log) sees where a run is.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

/// A step in progress; prints `==> what` on start and `ok/failed (1.2s)` on
/// finish. A step under which something failed ([`Step::fail`]) never
/// finishes as ok: [`Step::ok`] prints it as failed, with the count.
pub struct Step {
    what: String,
    started: Instant,
    done: bool,
    failures: AtomicUsize,
}

impl Step {
    /// Announce a step on stderr and start its clock.
    pub fn start(what: impl Into<String>) -> Self {
        let what = what.into();
        eprintln!("==> {what}");
        Self { what, started: Instant::now(), done: false, failures: AtomicUsize::new(0) }
    }

    /// A detail line under the current step.
    pub fn note(&self, line: impl AsRef<str>) {
        eprintln!("    {}", line.as_ref());
    }

    /// A detail line about something under the step that failed (a check, a
    /// namespace that would not go): the step then finishes as failed.
    pub fn fail(&self, line: impl AsRef<str>) {
        self.failures.fetch_add(1, Ordering::Relaxed);
        self.note(line);
    }

    /// Finish the step: ok, unless something under it failed.
    pub fn ok(mut self) {
        self.done = true;
        let failures = self.failures.load(Ordering::Relaxed);
        eprintln!("{}", finish_line(&self.what, self.started.elapsed().as_secs_f64(), failures, false));
    }

    /// Finish the step as failed (the caller reports the error itself).
    pub fn failed(mut self) {
        self.done = true;
        let failures = self.failures.load(Ordering::Relaxed);
        eprintln!("{}", finish_line(&self.what, self.started.elapsed().as_secs_f64(), failures, true));
    }

    /// Finish the step as `result` says (ok or failed) and hand it back, so
    /// a call site reads `step.finish(run(&cmd))?`.
    pub fn finish<T, E>(self, result: Result<T, E>) -> Result<T, E> {
        if result.is_ok() {
            self.ok();
        } else {
            self.failed();
        }
        result
    }

    /// Seconds since the step started.
    pub fn elapsed_secs(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }
}

/// The line a step finishes with: `    ok: what (1.2s)`, or `    FAILED: ...`
/// when the caller says so or `failures` things under it failed.
pub fn finish_line(what: &str, secs: f64, failures: usize, failed: bool) -> String {
    match (failed, failures) {
        (false, 0) => format!("    ok: {what} ({secs:.1}s)"),
        (_, 0) => format!("    FAILED: {what} ({secs:.1}s)"),
        (_, 1) => format!("    FAILED: {what} ({secs:.1}s; 1 failure above)"),
        (_, n) => format!("    FAILED: {what} ({secs:.1}s; {n} failures above)"),
    }
}

impl Drop for Step {
    fn drop(&mut self) {
        if !self.done {
            eprintln!("    interrupted: {} ({:.1}s)", self.what, self.started.elapsed().as_secs_f64());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_with_failures_under_it_never_reads_ok() {
        assert_eq!(finish_line("deploying", 1.24, 0, false), "    ok: deploying (1.2s)");
        assert_eq!(finish_line("checks", 2.0, 2, false), "    FAILED: checks (2.0s; 2 failures above)");
        assert_eq!(finish_line("checks", 2.0, 1, true), "    FAILED: checks (2.0s; 1 failure above)");
        assert_eq!(finish_line("checks", 2.0, 0, true), "    FAILED: checks (2.0s)");
        let step = Step::start("two checks");
        step.note("pass");
        step.fail("FAIL");
        assert_eq!(step.failures.load(Ordering::Relaxed), 1);
        step.ok();
    }
}
