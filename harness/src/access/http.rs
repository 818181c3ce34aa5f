//! A small HTTP client for the suites: retries with exponential backoff
//! under an overall deadline, and errors that say what was tried and what
//! came back last.

use crate::redact::Redactor;
use std::time::{Duration, Instant};

/// How hard to try.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Overall deadline for all attempts.
    pub deadline: Duration,
    /// Timeout of one request.
    pub per_request: Duration,
    /// First pause between attempts; doubled each time up to `max_backoff`.
    pub initial_backoff: Duration,
    /// Longest pause between attempts.
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            deadline: Duration::from_secs(30),
            per_request: Duration::from_secs(5),
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(2),
        }
    }
}

impl RetryPolicy {
    /// The default policy with another overall deadline.
    pub fn with_deadline(deadline: Duration) -> Self {
        RetryPolicy { deadline, ..Default::default() }
    }
    /// A single attempt (no retry): for counting failures under load.
    pub fn once(timeout: Duration) -> Self {
        RetryPolicy {
            deadline: timeout,
            per_request: timeout,
            initial_backoff: Duration::ZERO,
            max_backoff: Duration::ZERO,
        }
    }
}

/// A response, fully read.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// `Content-Type`, if any.
    pub content_type: Option<String>,
    /// The body.
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// Body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    /// Body as JSON.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_slice(&self.body)
    }
    /// True for 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// Why a request did not give an acceptable answer in time.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// No acceptable answer before the deadline; `last` is the last outcome.
    #[error("{method} {url}: no acceptable answer within {}s after {attempts} attempts; last: {last}", deadline.as_secs_f64())]
    Deadline {
        /// The request method.
        method: String,
        /// The URL asked.
        url: String,
        /// How long it kept trying.
        deadline: Duration,
        /// How many requests were sent.
        attempts: u32,
        /// The last answer or error.
        last: String,
    },
    /// The client could not be built.
    #[error("cannot build the HTTP client")]
    Build(#[source] reqwest::Error),
}

/// A request to send (rebuilt for every attempt).
#[derive(Debug, Clone)]
pub struct Request {
    /// `GET`, `POST`, ...
    pub method: reqwest::Method,
    /// Full URL.
    pub url: String,
    /// Extra headers (e.g. `Authorization`).
    pub headers: Vec<(String, String)>,
    /// JSON body, if any.
    pub json: Option<serde_json::Value>,
}

impl Request {
    /// `GET url`.
    pub fn get(url: impl Into<String>) -> Self {
        Request { method: reqwest::Method::GET, url: url.into(), headers: Vec::new(), json: None }
    }
    /// `<method> url` with a JSON body.
    pub fn json(method: reqwest::Method, url: impl Into<String>, body: serde_json::Value) -> Self {
        Request { method, url: url.into(), headers: Vec::new(), json: Some(body) }
    }
    /// Add a header.
    pub fn header(mut self, k: impl Into<String>, v: impl Into<String>) -> Self {
        self.headers.push((k.into(), v.into()));
        self
    }
    /// `Authorization: Bearer <token>`.
    pub fn bearer(self, token: &str) -> Self {
        self.header("Authorization", format!("Bearer {token}"))
    }
}

/// HTTP client with retries, backoff and a deadline.
#[derive(Debug, Clone)]
pub struct HttpClient {
    inner: reqwest::Client,
    policy: RetryPolicy,
    redactor: Redactor,
}

impl HttpClient {
    /// A client with `policy` (no proxy, no redirects followed).
    pub fn new(policy: RetryPolicy) -> Result<Self, HttpError> {
        let inner = reqwest::Client::builder()
            .timeout(policy.per_request)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .build()
            .map_err(HttpError::Build)?;
        Ok(HttpClient { inner, policy, redactor: Redactor::default() })
    }

    /// Redact these values from error messages (bodies may echo secrets).
    pub fn with_redactor(mut self, r: Redactor) -> Self {
        self.redactor = r;
        self
    }

    /// The policy in use.
    pub fn policy(&self) -> RetryPolicy {
        self.policy
    }

    /// `GET url`, retried on transport errors and 502/503/504; any other
    /// status is returned as it is.
    pub async fn get(&self, url: &str) -> Result<HttpResponse, HttpError> {
        self.send(&Request::get(url), |r| !matches!(r.status, 502..=504)).await
    }

    /// `GET url` until it answers 2xx.
    pub async fn get_ok(&self, url: &str) -> Result<HttpResponse, HttpError> {
        self.send(&Request::get(url), HttpResponse::is_success).await
    }

    /// Send `req` until `accept` holds for the response or the deadline passes.
    pub async fn send(&self, req: &Request, accept: impl Fn(&HttpResponse) -> bool) -> Result<HttpResponse, HttpError> {
        let started = Instant::now();
        let mut backoff = self.policy.initial_backoff;
        let mut attempts = 0;
        let mut last;
        loop {
            attempts += 1;
            match self.once(req).await {
                Ok(resp) if accept(&resp) => return Ok(resp),
                Ok(resp) => {
                    let body: String = resp.text().chars().take(300).collect();
                    last = format!("HTTP {}: {}", resp.status, body.trim());
                }
                Err(e) => last = error_chain(&e),
            }
            let left = self.policy.deadline.saturating_sub(started.elapsed());
            // A zero initial backoff means "no retry" (RetryPolicy::once).
            if left.is_zero() || self.policy.initial_backoff.is_zero() {
                return Err(HttpError::Deadline {
                    method: req.method.to_string(),
                    url: req.url.clone(),
                    deadline: self.policy.deadline,
                    attempts,
                    last: self.redactor.redact_str(&last).into_owned(),
                });
            }
            tokio::time::sleep(backoff.min(left)).await;
            backoff = (backoff * 2).min(self.policy.max_backoff);
        }
    }

    /// One attempt, no retry.
    pub async fn once(&self, req: &Request) -> Result<HttpResponse, reqwest::Error> {
        let mut b = self.inner.request(req.method.clone(), &req.url);
        for (k, v) in &req.headers {
            b = b.header(k, v);
        }
        if let Some(j) = &req.json {
            b = b.json(j);
        }
        let resp = b.send().await?;
        let status = resp.status().as_u16();
        let content_type = resp.headers().get("content-type").and_then(|v| v.to_str().ok()).map(str::to_owned);
        let body = resp.bytes().await?.to_vec();
        Ok(HttpResponse { status, content_type, body })
    }
}

/// An error and its causes on one line.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        s.push_str(": ");
        s.push_str(&c.to_string());
        src = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A server answering 503 `fail_first` times, then 200 `ok`.
    async fn flaky_server(fail_first: u32) -> (String, Arc<AtomicU32>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let hits = Arc::new(AtomicU32::new(0));
        let h = hits.clone();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let n = h.fetch_add(1, Ordering::SeqCst);
                let mut buf = [0u8; 1024];
                let _ = s.read(&mut buf).await;
                let (code, body) = if n < fail_first { ("503 Service Unavailable", "down") } else { ("200 OK", "ok") };
                let resp =
                    format!("HTTP/1.1 {code}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len());
                let _ = s.write_all(resp.as_bytes()).await;
            }
        });
        (format!("http://{addr}/health"), hits)
    }

    #[tokio::test]
    async fn retries_until_ok() {
        let (url, hits) = flaky_server(2).await;
        let c = HttpClient::new(RetryPolicy::with_deadline(Duration::from_secs(5))).expect("client");
        let r = c.get_ok(&url).await.expect("third attempt succeeds");
        assert_eq!(r.text(), "ok");
        assert_eq!(hits.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn deadline_reports_last_answer() {
        let (url, _) = flaky_server(u32::MAX).await;
        let policy = RetryPolicy { deadline: Duration::from_millis(600), ..Default::default() };
        let c = HttpClient::new(policy).expect("client");
        let started = Instant::now();
        let err = c.get_ok(&url).await.expect_err("never ok");
        assert!(started.elapsed() < Duration::from_secs(3), "deadline respected");
        let m = err.to_string();
        assert!(m.contains("HTTP 503: down") && m.contains(&url), "{m}");
    }

    #[tokio::test]
    async fn connection_refused_is_retried_then_reported() {
        // Bind and drop to get a port nobody listens on.
        let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
        let c = HttpClient::new(RetryPolicy { deadline: Duration::from_millis(400), ..Default::default() })
            .expect("client");
        let err = c.get(&format!("http://127.0.0.1:{port}/")).await.expect_err("refused");
        match err {
            HttpError::Deadline { attempts, .. } => assert!(attempts >= 2, "retried: {attempts}"),
            other => panic!("unexpected {other}"),
        }
    }

    #[tokio::test]
    async fn once_policy_makes_one_attempt() {
        let (url, hits) = flaky_server(u32::MAX).await;
        let c = HttpClient::new(RetryPolicy::once(Duration::from_secs(2))).expect("client");
        assert!(c.get_ok(&url).await.is_err());
        assert_eq!(hits.load(Ordering::SeqCst), 1);
    }
}
