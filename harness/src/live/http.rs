//! HTTP calls to the deployed app: sign-in tokens (HS256 JWTs, as the
//! backend's `token` command mints them), plain requests with a short
//! timeout, and a counted steady load for the rollout test.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Timeout of one request.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// A bearer token for user `sub`, signed with `secret` (valid one hour).
pub fn mint_token(secret: &str, sub: &str) -> String {
    #[derive(serde::Serialize)]
    struct Claims<'a> {
        sub: &'a str,
        exp: u64,
        iat: u64,
    }
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let claims = Claims { sub, exp: now + 3600, iat: now };
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("HS256 signing with an in-memory key cannot fail")
}

/// One answer: status, content type and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// `Content-Type` header, if any.
    pub content_type: String,
    /// Body as text.
    pub body: String,
}

impl Answer {
    /// The body as JSON (`Null` if it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// An HTTP client for one base URL (a tunnel or a LoadBalancer address).
#[derive(Debug, Clone)]
pub struct AppClient {
    base: String,
    http: reqwest::Client,
}

impl AppClient {
    /// A client for `base` (`http://127.0.0.1:PORT`, no trailing slash).
    pub fn new(base: impl Into<String>) -> Self {
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(Duration::from_secs(3))
            // No connection reuse: each request sees the current endpoints,
            // as a new browser connection would during a rollout.
            .pool_max_idle_per_host(0)
            .build()
            .expect("a plain reqwest client builds");
        AppClient { base: base.into().trim_end_matches('/').to_owned(), http }
    }

    /// The base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// `method path` with an optional bearer token and JSON body.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<serde_json::Value>,
    ) -> Result<Answer, reqwest::Error> {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await?;
        let status = resp.status().as_u16();
        let content_type =
            resp.headers().get(reqwest::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
        let body = resp.text().await?;
        Ok(Answer { status, content_type, body })
    }

    /// `GET path`.
    pub async fn get(&self, path: &str, token: Option<&str>) -> Result<Answer, reqwest::Error> {
        self.call(reqwest::Method::GET, path, token, None).await
    }

    /// `POST path` with a JSON body.
    pub async fn post(
        &self,
        path: &str,
        token: Option<&str>,
        body: serde_json::Value,
    ) -> Result<Answer, reqwest::Error> {
        self.call(reqwest::Method::POST, path, token, Some(body)).await
    }

    /// `GET path` until it answers `status` (at most `deadline`); the last answer or error on failure.
    pub async fn get_until(
        &self,
        path: &str,
        token: Option<&str>,
        status: u16,
        deadline: Duration,
    ) -> Result<Answer, String> {
        let until = tokio::time::Instant::now() + deadline;
        let mut backoff = Duration::from_millis(200);
        loop {
            let last = match self.get(path, token).await {
                Ok(a) if a.status == status => return Ok(a),
                Ok(a) => format!("{} answered {}: {}", path, a.status, short(&a.body)),
                Err(e) => format!("{path}: {e}"),
            };
            if tokio::time::Instant::now() + backoff > until {
                return Err(last);
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(2));
        }
    }
}

/// At most 200 characters of `s`, on one line.
pub fn short(s: &str) -> String {
    let one: String = s.chars().map(|c| if c == '\n' { ' ' } else { c }).collect();
    if one.chars().count() > 200 { format!("{}...", one.chars().take(200).collect::<String>()) } else { one }
}

/// Requests sent and failed by a [`SteadyLoad`].
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct LoadCount {
    /// Requests sent.
    pub sent: u64,
    /// Requests that failed (connection error, timeout, or a status other than the expected one).
    pub failed: u64,
    /// The first few failures, for the message.
    pub samples: Vec<String>,
}

/// A bounded loop of requests, one after another with a short pause,
/// counting failures, until stopped.
pub struct SteadyLoad {
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicU64>,
    handle: tokio::task::JoinHandle<LoadCount>,
}

impl SteadyLoad {
    /// Start `GET path` every `pause` against `client` (expects `status`).
    pub fn start(client: AppClient, path: String, token: Option<String>, status: u16, pause: Duration) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(AtomicU64::new(0));
        let (s, n) = (stop.clone(), sent.clone());
        let handle = tokio::spawn(async move {
            let mut count = LoadCount::default();
            while !s.load(Ordering::SeqCst) {
                count.sent += 1;
                n.fetch_add(1, Ordering::SeqCst);
                let problem = match client.get(&path, token.as_deref()).await {
                    Ok(a) if a.status == status => None,
                    Ok(a) => Some(format!("status {} ({})", a.status, short(&a.body))),
                    Err(e) => Some(format!("{e}")),
                };
                if let Some(p) = problem {
                    count.failed += 1;
                    if count.samples.len() < 5 {
                        count.samples.push(p);
                    }
                }
                tokio::time::sleep(pause).await;
            }
            count
        });
        SteadyLoad { stop, sent, handle }
    }

    /// Requests sent so far.
    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::SeqCst)
    }

    /// Stop and return the counts.
    pub async fn stop(self) -> LoadCount {
        self.stop.store(true, Ordering::SeqCst);
        self.handle.await.unwrap_or_else(|e| LoadCount {
            sent: 0,
            failed: 1,
            samples: vec![format!("load task failed: {e}")],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_is_hs256_with_sub_and_exp() {
        let t = mint_token("s3cret", "user-1");
        let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
        v.required_spec_claims = ["exp", "sub"].iter().map(|s| s.to_string()).collect();
        let data =
            jsonwebtoken::decode::<serde_json::Value>(&t, &jsonwebtoken::DecodingKey::from_secret(b"s3cret"), &v)
                .expect("valid token");
        assert_eq!(data.claims["sub"], "user-1");
        assert!(
            jsonwebtoken::decode::<serde_json::Value>(&t, &jsonwebtoken::DecodingKey::from_secret(b"other"), &v)
                .is_err()
        );
    }

    #[test]
    fn short_cuts_long_bodies() {
        assert_eq!(short("a\nb"), "a b");
        assert!(short(&"x".repeat(500)).ends_with("..."));
    }
}
