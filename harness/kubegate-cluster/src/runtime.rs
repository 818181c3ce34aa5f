//! Async code called from sync code: the providers and the process runner
//! are sync (they run inside `spawn_blocking` or a plain test), the kube
//! client and tokio's process support are async.

use std::future::Future;

/// Run a future to completion from sync code, on a thread of its own with
/// its own runtime (so it also works when called inside a tokio runtime).
pub fn block_on<F>(fut: F) -> F::Output
where
    F: Future + Send,
    F::Output: Send,
{
    std::thread::scope(|s| {
        s.spawn(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a tokio runtime can be built (needs only a thread and a timer)")
                .block_on(fut)
        })
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_on_works_inside_a_runtime() {
        let rt = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
        let v = rt.block_on(async { block_on(async { 41 + 1 }) });
        assert_eq!(v, 42);
    }
}
