//! HTTP calls to the deployed app: the credential `[auth]` asks for (an HS256
//! JWT, as the reference backend's `token` command mints it, or a static key
//! in a header), plain requests with a short timeout, and a counted steady
//! load for the rollout test.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Timeout of one request.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// What a request carries to prove who sends it, as kubegate.toml's `[auth]`
/// says. `Debug` hides the value.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential {
    header: String,
    value: String,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credential({}: ***)", self.header)
    }
}

impl Credential {
    /// The credential of user `user` made from `key_value` (the value of
    /// `[auth]`'s Secret key, or another one to prove it is refused): `None`
    /// when the scheme is `none`.
    pub fn new(auth: &crate::config::AuthConfig, key_value: &str, user: &str) -> Option<Credential> {
        use crate::config::AuthScheme;
        match auth.scheme {
            AuthScheme::None => None,
            AuthScheme::BearerJwt => Some(Credential {
                header: "authorization".into(),
                value: format!("Bearer {}", mint_token(key_value, user)),
            }),
            AuthScheme::Header => Some(Credential { header: auth.header.clone(), value: key_value.to_owned() }),
        }
    }

    /// The header it goes in.
    pub fn header(&self) -> &str {
        &self.header
    }
}

/// A bearer token for user `sub`, signed with `secret` (valid one hour).
fn mint_token(secret: &str, sub: &str) -> String {
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
    /// The pods that answered, from [`SERVED_BY_HEADER`] (empty when the app does not say).
    pub served_by: Vec<String>,
}

impl Answer {
    /// The body as JSON (`Null` if it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or(serde_json::Value::Null)
    }

    /// `404 (served by web-1, backend-2): {"error":...}`, for a message: which
    /// pods answered tells a misrouted request (another Service, a stale
    /// route) from the app's own answer.
    pub fn described(&self) -> String {
        let by = if self.served_by.is_empty() {
            format!("no {SERVED_BY_HEADER} header")
        } else {
            format!("served by {}", self.served_by.join(", "))
        };
        let content_type = if self.content_type.is_empty() { "no content type" } else { &self.content_type };
        format!("{} ({by}; {content_type}): {}", self.status, short(&self.body))
    }
}

/// The pods named by the [`SERVED_BY_HEADER`] headers, in hop order.
fn served_by(headers: &reqwest::header::HeaderMap) -> Vec<String> {
    headers
        .get_all(SERVED_BY_HEADER)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(',').map(|p| p.trim().to_owned()))
        .filter(|p| !p.is_empty())
        .collect()
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

    /// `method path` with an optional credential, not sent yet.
    fn request(&self, method: reqwest::Method, path: &str, auth: Option<&Credential>) -> reqwest::RequestBuilder {
        let req = self.http.request(method, format!("{}{path}", self.base));
        match auth {
            Some(c) => req.header(c.header.as_str(), c.value.as_str()),
            None => req,
        }
    }

    /// `method path` with an optional credential and JSON body.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        auth: Option<&Credential>,
        body: Option<serde_json::Value>,
    ) -> Result<Answer, reqwest::Error> {
        let mut req = self.request(method, path, auth);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await?;
        let status = resp.status().as_u16();
        let content_type =
            resp.headers().get(reqwest::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
        let served_by = served_by(resp.headers());
        let body = resp.text().await?;
        Ok(Answer { status, content_type, body, served_by })
    }

    /// `GET path`.
    pub async fn get(&self, path: &str, auth: Option<&Credential>) -> Result<Answer, reqwest::Error> {
        self.call(reqwest::Method::GET, path, auth, None).await
    }

    /// `POST path` with a JSON body.
    pub async fn post(
        &self,
        path: &str,
        auth: Option<&Credential>,
        body: serde_json::Value,
    ) -> Result<Answer, reqwest::Error> {
        self.call(reqwest::Method::POST, path, auth, Some(body)).await
    }

    /// `GET path`, recorded for a [`SteadyLoad`] (`seq` and `at` are the caller's).
    pub async fn get_recorded(&self, path: &str, auth: Option<&Credential>, status: u16) -> RequestRecord {
        let started = std::time::Instant::now();
        let (lost, detail, served_by) = match self.request(reqwest::Method::GET, path, auth).send().await {
            Ok(resp) => {
                let served_by = served_by(resp.headers());
                let got = resp.status().as_u16();
                match resp.text().await {
                    Ok(_) if got == status => (None, String::new(), served_by),
                    Ok(body) => (Some(Lost::Status(got)), format!("status {got} ({})", short(&body)), served_by),
                    Err(e) => (Some(Lost::of(&e)), one_line_chain(&e), served_by),
                }
            }
            Err(e) => (Some(Lost::of(&e)), one_line_chain(&e), Vec::new()),
        };
        RequestRecord { seq: 0, at: Duration::ZERO, took: started.elapsed(), lost, detail, served_by }
    }

    /// `GET path` until it answers `status` (at most `deadline`); the last answer or error on failure.
    pub async fn get_until(
        &self,
        path: &str,
        auth: Option<&Credential>,
        status: u16,
        deadline: Duration,
    ) -> Result<Answer, LastAnswer> {
        let until = tokio::time::Instant::now() + deadline;
        let mut backoff = Duration::from_millis(200);
        loop {
            let last = match self.get(path, auth).await {
                Ok(a) if a.status == status => return Ok(a),
                Ok(a) => LastAnswer { status: Some(a.status), text: format!("{path} answered {}", a.described()) },
                Err(e) => LastAnswer { status: None, text: format!("{path}: {e}") },
            };
            if tokio::time::Instant::now() + backoff > until {
                return Err(last);
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(2));
        }
    }
}

/// The last answer (or error) of a call that never got the status it wanted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastAnswer {
    /// Its status; `None` when nothing answered.
    pub status: Option<u16>,
    /// What it was, for a message (`/v1/tasks answered 502: ...`).
    pub text: String,
}

impl std::fmt::Display for LastAnswer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

/// An error and its causes on one line (for a request's record).
pub(crate) fn one_line_chain(e: &reqwest::Error) -> String {
    super::app::error_chain(e).replace("\n  caused by: ", ": ")
}

/// At most 200 characters of `s`, on one line.
pub fn short(s: &str) -> String {
    let one: String = s.chars().map(|c| if c == '\n' { ' ' } else { c }).collect();
    if one.chars().count() > 200 { format!("{}...", one.chars().take(200).collect::<String>()) } else { one }
}

/// The response header through which an app may say which pod answered.
/// Optional: apps that set it (the reference app does, and its frontend
/// proxy adds its own pod after the backend's) let a lost request be laid
/// beside the pods that served the requests around it.
pub const SERVED_BY_HEADER: &str = "x-served-by";

/// How one request of a [`SteadyLoad`] went wrong, by the hop it points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Lost {
    /// No TCP connection: nothing accepted it behind the address (refused, unreachable, connect timeout).
    Connect,
    /// Connected, then closed or reset before any answer: the pod that accepted it went away.
    ClosedBeforeAnswer,
    /// No answer within [`REQUEST_TIMEOUT`].
    Timeout,
    /// An answer with another status than expected (a 502 is the frontend saying its backend hop failed).
    Status(u16),
    /// Anything else (the error chain says what).
    Other,
}

impl Lost {
    /// Which hop this points at, for a request sent to a frontend that proxies to a backend.
    pub fn hop(&self) -> &'static str {
        match self {
            Lost::Connect => {
                "client -> address: no pod accepted the connection (kube-proxy still sent it to a pod that no longer listens, or none was there)"
            }
            Lost::ClosedBeforeAnswer => {
                "client -> pod: a pod accepted the connection and closed it without answering (it was shutting down)"
            }
            Lost::Timeout => {
                "no answer in time: a hop behind the address held the request (a connection to a pod that is gone)"
            }
            Lost::Status(502..=504) => {
                "frontend -> backend: the frontend answered, but its request to the backend failed"
            }
            Lost::Status(_) => "the app answered with an unexpected status",
            Lost::Other => "unclassified client error",
        }
    }

    /// Classify a client error by walking its source chain.
    pub fn of(e: &reqwest::Error) -> Lost {
        // A connect that timed out is a connect error first: no pod took the connection.
        if e.is_connect() {
            return Lost::Connect;
        }
        if e.is_timeout() {
            return Lost::Timeout;
        }
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
        while let Some(s) = source {
            if let Some(io) = s.downcast_ref::<std::io::Error>() {
                use std::io::ErrorKind::*;
                match io.kind() {
                    ConnectionReset | ConnectionAborted | BrokenPipe | UnexpectedEof => {
                        return Lost::ClosedBeforeAnswer;
                    }
                    TimedOut => return Lost::Timeout,
                    ConnectionRefused => return Lost::Connect,
                    _ => {}
                }
            }
            let text = s.to_string();
            if text.contains("closed before message completed") || text.contains("connection reset") {
                return Lost::ClosedBeforeAnswer;
            }
            source = s.source();
        }
        Lost::Other
    }
}

/// One request of a [`SteadyLoad`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RequestRecord {
    /// Its number in the load, from 1.
    pub seq: u64,
    /// When it was sent, since the load's origin.
    #[serde(serialize_with = "millis")]
    pub at: Duration,
    /// How long it took.
    #[serde(serialize_with = "millis")]
    pub took: Duration,
    /// `None` when it got the expected status.
    pub lost: Option<Lost>,
    /// The error chain or the unexpected answer, when lost.
    pub detail: String,
    /// The pods that answered, from [`SERVED_BY_HEADER`] (empty when the app does not say).
    pub served_by: Vec<String>,
}

impl std::fmt::Display for RequestRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "#{} at +{:.2}s ({} ms)", self.seq, self.at.as_secs_f64(), self.took.as_millis())?;
        match &self.lost {
            None => write!(f, " ok")?,
            Some(l) => write!(f, " lost ({l:?}): {}", self.detail)?,
        }
        if !self.served_by.is_empty() {
            write!(f, " served by {}", self.served_by.join(" <- "))?;
        }
        Ok(())
    }
}

fn millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_millis() as u64)
}

/// Requests sent and lost by a [`SteadyLoad`], each one recorded.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct LoadCount {
    /// Requests sent.
    pub sent: u64,
    /// Requests lost (connection error, timeout, or a status other than the expected one).
    pub failed: u64,
    /// Every request, in order (not in reports: the lost ones are in `lost`).
    #[serde(skip)]
    pub records: Vec<RequestRecord>,
}

impl LoadCount {
    /// The lost requests.
    pub fn lost(&self) -> impl Iterator<Item = &RequestRecord> {
        self.records.iter().filter(|r| r.lost.is_some())
    }

    /// The last request before `seq` and the first after it that got an answer naming a pod.
    pub fn neighbours(&self, seq: u64) -> (Option<&RequestRecord>, Option<&RequestRecord>) {
        let answered = |r: &&RequestRecord| r.lost.is_none() && !r.served_by.is_empty();
        let before = self.records.iter().rev().filter(|r| r.seq < seq).find(answered);
        let after = self.records.iter().filter(|r| r.seq > seq).find(answered);
        (before, after)
    }

    /// The last time each pod answered the client directly (the last pod in
    /// [`SERVED_BY_HEADER`]: a proxy appends itself after its backend).
    pub fn last_served(&self) -> std::collections::BTreeMap<String, Duration> {
        let mut last = std::collections::BTreeMap::new();
        for r in self.records.iter().filter(|r| r.lost.is_none()) {
            if let Some(pod) = r.served_by.last() {
                last.insert(pod.clone(), r.at);
            }
        }
        last
    }
}

/// A bounded loop of requests, one after another with a short pause, each
/// on a new connection (the client keeps none idle), recorded until stopped.
pub struct SteadyLoad {
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicU64>,
    handle: tokio::task::JoinHandle<LoadCount>,
}

impl SteadyLoad {
    /// Start `GET path` every `pause` against `client` (expects `status`);
    /// request times count from `origin`.
    pub fn start(
        client: AppClient,
        path: String,
        auth: Option<Credential>,
        status: u16,
        pause: Duration,
        origin: tokio::time::Instant,
    ) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(AtomicU64::new(0));
        let (s, n) = (stop.clone(), sent.clone());
        let handle = tokio::spawn(async move {
            let mut count = LoadCount::default();
            while !s.load(Ordering::SeqCst) {
                count.sent += 1;
                n.fetch_add(1, Ordering::SeqCst);
                let at = origin.elapsed();
                let record = client.get_recorded(&path, auth.as_ref(), status).await;
                let record = RequestRecord { seq: count.sent, at, ..record };
                if record.lost.is_some() {
                    count.failed += 1;
                }
                count.records.push(record);
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
            sent: 1,
            failed: 1,
            records: vec![RequestRecord {
                seq: 1,
                at: Duration::ZERO,
                took: Duration::ZERO,
                lost: Some(Lost::Other),
                detail: format!("load task failed: {e}"),
                served_by: Vec::new(),
            }],
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
    fn credentials_follow_the_auth_scheme_and_hide_their_value() {
        use crate::config::{AuthConfig, AuthScheme};
        let auth = |scheme| AuthConfig { scheme, header: "x-api-key".into(), ..AuthConfig::default() };
        assert_eq!(Credential::new(&auth(AuthScheme::None), "k", "u"), None);
        let key = Credential::new(&auth(AuthScheme::Header), "k3y", "u").expect("header");
        assert_eq!((key.header(), key.value.as_str()), ("x-api-key", "k3y"));
        assert!(!format!("{key:?}").contains("k3y"));
        let jwt = Credential::new(&auth(AuthScheme::BearerJwt), "s3cret", "u").expect("jwt");
        assert_eq!(jwt.header(), "authorization");
        assert!(jwt.value.starts_with("Bearer ey"), "a JWT");
    }

    #[test]
    fn short_cuts_long_bodies() {
        assert_eq!(short("a\nb"), "a b");
        assert!(short(&"x".repeat(500)).ends_with("..."));
    }
}
