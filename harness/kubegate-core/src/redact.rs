//! Secret redaction: every string or byte buffer kubegate writes (logs,
//! events, diagnostics, reports) goes through a [`Redactor`] built from the
//! secret values in play, so no value leaves the process in the clear.
//!
//! A value is matched verbatim, in its standard and URL-safe base64 forms
//! (how it appears in a Secret's `data` or in `helm get` output), and, for a
//! URL with a password (a `DATABASE_URL`), the password on its own (database
//! drivers print it in connection errors).

use std::borrow::Cow;

/// Replaces known secret values with `[REDACTED:<KEY>]`.
#[derive(Clone, Default)]
pub struct Redactor {
    /// (needle, key) pairs, longest needle first so a value wins over a
    /// shorter value it contains.
    needles: Vec<(Vec<u8>, String)>,
}

// Never print the needles themselves.
impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Redactor({} needles)", self.needles.len())
    }
}

impl Redactor {
    /// A redactor for the given `(key, value)` pairs; empty values are ignored
    /// (an empty needle would match everywhere and means "no secret").
    pub fn new<K, V>(pairs: impl IntoIterator<Item = (K, V)>) -> Self
    where
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let mut r = Redactor::default();
        for (k, v) in pairs {
            r.add(k.as_ref(), v.as_ref());
        }
        r
    }

    /// Add one secret value under `key` (and its derived forms).
    pub fn add(&mut self, key: &str, value: &str) {
        use base64::Engine as _;
        if value.is_empty() {
            return;
        }
        let mut forms: Vec<String> = vec![
            value.to_owned(),
            base64::engine::general_purpose::STANDARD.encode(value),
            base64::engine::general_purpose::URL_SAFE.encode(value),
            base64::engine::general_purpose::STANDARD_NO_PAD.encode(value),
        ];
        if let Some(pw) = url_password(value) {
            // Too short a password would redact ordinary words; 4+ chars is a
            // floor that keeps reports readable without hiding real secrets.
            if pw.len() >= 4 {
                forms.push(pw.clone());
                forms.push(percent_decode(&pw));
            }
        }
        for f in forms {
            if !f.is_empty() && !self.needles.iter().any(|(n, _)| n == f.as_bytes()) {
                self.needles.push((f.into_bytes(), key.to_owned()));
            }
        }
        self.needles.sort_by_key(|n| std::cmp::Reverse(n.0.len()));
    }

    /// True when no secret is known (everything passes unchanged).
    pub fn is_empty(&self) -> bool {
        self.needles.is_empty()
    }

    /// The text with every known value replaced.
    pub fn redact_str<'a>(&self, text: &'a str) -> Cow<'a, str> {
        match self.redact_bytes(text.as_bytes()) {
            Cow::Borrowed(_) => Cow::Borrowed(text),
            Cow::Owned(bytes) => Cow::Owned(String::from_utf8_lossy(&bytes).into_owned()),
        }
    }

    /// The bytes with every known value replaced.
    pub fn redact_bytes<'a>(&self, data: &'a [u8]) -> Cow<'a, [u8]> {
        if self.needles.is_empty() || !self.needles.iter().any(|(n, _)| find(data, n, 0).is_some()) {
            return Cow::Borrowed(data);
        }
        let mut out = Vec::with_capacity(data.len());
        let mut i = 0;
        'outer: while i < data.len() {
            for (needle, key) in &self.needles {
                if data[i..].starts_with(needle) {
                    out.extend_from_slice(format!("[REDACTED:{key}]").as_bytes());
                    i += needle.len();
                    continue 'outer;
                }
            }
            out.push(data[i]);
            i += 1;
        }
        Cow::Owned(out)
    }

    /// True when `text` contains any known value (used by the secrets suite
    /// and by tests that scan artifacts).
    pub fn leaks_in(&self, data: &[u8]) -> Vec<String> {
        let mut keys: Vec<String> =
            self.needles.iter().filter(|(n, _)| find(data, n, 0).is_some()).map(|(_, k)| k.clone()).collect();
        keys.sort();
        keys.dedup();
        keys
    }
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    (from..=hay.len() - needle.len()).find(|&i| &hay[i..i + needle.len()] == needle)
}

/// The password of `scheme://user:password@host/...`, if any.
fn url_password(value: &str) -> Option<String> {
    let rest = value.split_once("://")?.1;
    let userinfo = rest.split('/').next()?.rsplit_once('@')?.0;
    let pw = userinfo.split_once(':')?.1;
    (!pw.is_empty()).then(|| pw.to_owned())
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = |c: u8| (c as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;

    #[test]
    fn replaces_plain_and_base64_forms() {
        let r = Redactor::new([("JWT_SECRET", "s3cr3t-value"), ("OPENAI_API_KEY", "sk-abc123")]);
        let b64 = base64::engine::general_purpose::STANDARD.encode("s3cr3t-value");
        let text = format!("jwt=s3cr3t-value data={b64} key=sk-abc123 ok");
        let out = r.redact_str(&text);
        assert_eq!(out, "jwt=[REDACTED:JWT_SECRET] data=[REDACTED:JWT_SECRET] key=[REDACTED:OPENAI_API_KEY] ok");
        assert!(r.leaks_in(out.as_bytes()).is_empty());
    }

    #[test]
    fn untouched_text_is_borrowed() {
        let r = Redactor::new([("K", "value")]);
        assert!(matches!(r.redact_str("nothing here"), Cow::Borrowed(_)));
    }

    #[test]
    fn database_url_password_alone_is_redacted() {
        let r = Redactor::new([("DATABASE_URL", "postgres://todo:p%40ssw0rd@10.0.0.1:5432/todo")]);
        let out = r.redact_str("FATAL: password p@ssw0rd rejected; raw p%40ssw0rd");
        assert_eq!(out, "FATAL: password [REDACTED:DATABASE_URL] rejected; raw [REDACTED:DATABASE_URL]");
    }

    #[test]
    fn empty_values_are_ignored_and_debug_hides_values() {
        let r = Redactor::new([("OPENAI_API_KEY", "")]);
        assert!(r.is_empty());
        let r = Redactor::new([("K", "hunter22")]);
        assert!(!format!("{r:?}").contains("hunter22"));
    }

    #[test]
    fn longer_value_wins_over_contained_value() {
        let r = Redactor::new([("SHORT", "abcd"), ("LONG", "abcdefgh")]);
        assert_eq!(r.redact_str("x abcdefgh y abcd"), "x [REDACTED:LONG] y [REDACTED:SHORT]");
    }

    #[test]
    fn bytes_are_redacted_and_leaks_reported() {
        let r = Redactor::new([("K", "hunter22")]);
        let data = b"\x00\x01hunter22\xff".to_vec();
        assert_eq!(r.leaks_in(&data), vec!["K".to_owned()]);
        let out = r.redact_bytes(&data);
        assert_eq!(&*out, b"\x00\x01[REDACTED:K]\xff");
    }
}
