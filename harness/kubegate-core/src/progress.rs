//! Progress output for long steps: one line per step on stderr, with the
//! time it took, so a person (or a CI log) sees where a run is.

use std::time::Instant;

/// A step in progress; prints `==> what` on start and `ok/failed (1.2s)` on finish.
pub struct Step {
    what: String,
    started: Instant,
    done: bool,
}

impl Step {
    /// Announce a step on stderr and start its clock.
    pub fn start(what: impl Into<String>) -> Self {
        let what = what.into();
        eprintln!("==> {what}");
        Self { what, started: Instant::now(), done: false }
    }

    /// A detail line under the current step.
    pub fn note(&self, line: impl AsRef<str>) {
        eprintln!("    {}", line.as_ref());
    }

    /// Finish the step as successful.
    pub fn ok(mut self) {
        self.done = true;
        eprintln!("    ok: {} ({:.1}s)", self.what, self.started.elapsed().as_secs_f64());
    }

    /// Finish the step as failed (the caller reports the error itself).
    pub fn failed(mut self) {
        self.done = true;
        eprintln!("    FAILED: {} ({:.1}s)", self.what, self.started.elapsed().as_secs_f64());
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

impl Drop for Step {
    fn drop(&mut self) {
        if !self.done {
            eprintln!("    interrupted: {} ({:.1}s)", self.what, self.started.elapsed().as_secs_f64());
        }
    }
}
