//! YAML with lines: serde-saphyr documents (duplicate keys and syntax errors rejected) turned into JSON, with
//! the 1-based line of every field path, and the field-path notation findings use (`a.b[0]["k8s.io/x"]`).

// LoadManifestsError carries its evidence inline and is built at most once per run.
#![allow(clippy::result_large_err)]

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;
use serde_saphyr::Spanned;

use super::LoadManifestsError;

/// A YAML node with the line of every value, as serde-saphyr reports it.
enum Node {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Str(String),
    Seq(Vec<Spanned<Node>>),
    Map(Vec<(Spanned<Node>, Spanned<Node>)>),
}

impl<'de> serde::Deserialize<'de> for Node {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Node;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("any YAML value")
            }
            fn visit_unit<E>(self) -> Result<Node, E> {
                Ok(Node::Null)
            }
            fn visit_none<E>(self) -> Result<Node, E> {
                Ok(Node::Null)
            }
            fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
                <Node as serde::Deserialize>::deserialize(d)
            }
            fn visit_bool<E>(self, v: bool) -> Result<Node, E> {
                Ok(Node::Bool(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Node, E> {
                Ok(Node::Int(v))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Node, E> {
                Ok(Node::UInt(v))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Node, E> {
                Ok(Node::Float(v))
            }
            fn visit_str<E>(self, v: &str) -> Result<Node, E> {
                Ok(Node::Str(v.to_string()))
            }
            fn visit_string<E>(self, v: String) -> Result<Node, E> {
                Ok(Node::Str(v))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element::<Spanned<Node>>()? {
                    items.push(item);
                }
                Ok(Node::Seq(items))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
                let mut entries = Vec::new();
                while let Some(k) = map.next_key::<Spanned<Node>>()? {
                    let v = map.next_value::<Spanned<Node>>()?;
                    entries.push((k, v));
                }
                Ok(Node::Map(entries))
            }
        }
        d.deserialize_any(V)
    }
}

/// Append a map key to a field path: `a.b`, or `a["k8s.io/x"]` when the key
/// is not a plain identifier.
pub fn join_key(parent: &str, key: &str) -> String {
    let plain = !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    match (parent.is_empty(), plain) {
        (true, true) => key.to_string(),
        (false, true) => format!("{parent}.{key}"),
        (_, false) => format!("{parent}[{key:?}]"),
    }
}

/// Append a sequence index to a field path: `a[0]`.
pub fn join_index(parent: &str, index: usize) -> String {
    format!("{parent}[{index}]")
}

fn line_of_span<T>(s: &Spanned<T>) -> Option<usize> {
    let l = s.referenced.line();
    (l > 0).then_some(l as usize)
}

/// Convert a node to JSON and record the line of each field path.
fn to_json(
    node: &Spanned<Node>,
    path: &str,
    lines: &mut BTreeMap<String, usize>,
) -> Result<Value, (String, Option<usize>, String)> {
    if let Some(l) = line_of_span(node) {
        lines.entry(path.to_string()).or_insert(l);
    }
    Ok(match &node.value {
        Node::Null => Value::Null,
        Node::Bool(b) => Value::Bool(*b),
        Node::Int(i) => Value::from(*i),
        Node::UInt(u) => Value::from(*u),
        Node::Float(f) => serde_json::Number::from_f64(*f)
            .map(Value::Number)
            .ok_or_else(|| (path.to_string(), line_of_span(node), format!("non-finite number {f}")))?,
        Node::Str(s) => Value::String(s.clone()),
        Node::Seq(items) => Value::Array(
            items.iter().enumerate().map(|(i, n)| to_json(n, &join_index(path, i), lines)).collect::<Result<_, _>>()?,
        ),
        Node::Map(entries) => {
            let mut m = serde_json::Map::new();
            for (k, v) in entries {
                let key = match &k.value {
                    Node::Str(s) => s.clone(),
                    Node::Int(i) => i.to_string(),
                    Node::UInt(u) => u.to_string(),
                    Node::Bool(b) => b.to_string(),
                    Node::Null => "null".into(),
                    _ => return Err((path.to_string(), line_of_span(k), "a mapping key must be a scalar".into())),
                };
                let child = join_key(path, &key);
                if m.contains_key(&key) {
                    return Err((child, line_of_span(k), format!("duplicate key `{key}`")));
                }
                if let Some(l) = line_of_span(k) {
                    lines.insert(child.clone(), l);
                }
                let value = to_json(v, &child, lines)?;
                m.insert(key, value);
            }
            Value::Object(m)
        }
    })
}

/// serde-saphyr's message without its advice to the programmer (an option
/// a user cannot set).
fn yaml_message(e: &serde_saphyr::Error) -> String {
    e.without_snippet().to_string().replace(", set DuplicateKeyPolicy in Options if acceptable", "")
}

/// One YAML document of a text, as JSON with the line of every field path.
pub(super) struct Document {
    /// 1-based index of the document in the text.
    pub index: usize,
    /// The document as JSON.
    pub json: Value,
    /// Field path (`spec.replicas`) -> 1-based line.
    pub lines: BTreeMap<String, usize>,
    /// 1-based line where the document starts.
    pub start: Option<usize>,
}

/// Every non-empty document of `text`, with duplicate keys and syntax errors rejected (naming `file`, the
/// document and the line).
pub(super) fn documents(text: &str, file: &Path) -> Result<Vec<Document>, LoadManifestsError> {
    let mut out = Vec::new();
    let mut reader = text.as_bytes();
    for (i, doc) in serde_saphyr::read::<_, Spanned<Node>>(&mut reader).enumerate() {
        let index = i + 1;
        let node = doc.map_err(|e| LoadManifestsError::Yaml {
            file: file.to_path_buf(),
            document: index,
            line: e.location().map(|l| l.line() as usize).filter(|l| *l > 0),
            message: yaml_message(&e),
        })?;
        if matches!(node.value, Node::Null) {
            continue;
        }
        let mut lines = BTreeMap::new();
        let json = to_json(&node, "", &mut lines).map_err(|(field, line, message)| LoadManifestsError::Yaml {
            file: file.to_path_buf(),
            document: index,
            line,
            message: format!("at `{field}`: {message}"),
        })?;
        out.push(Document { index, json, lines, start: line_of_span(&node) });
    }
    Ok(out)
}

/// Parse a single-document YAML file (values.yaml, the OpenAPI contract)
/// into JSON, with the same duplicate-key and syntax checks as manifests.
pub fn parse_yaml_value(text: &str, file: &Path) -> Result<Value, LoadManifestsError> {
    let mut reader = text.as_bytes();
    let mut docs = serde_saphyr::read::<_, Spanned<Node>>(&mut reader);
    let Some(first) = docs.next() else { return Ok(Value::Null) };
    let node = first.map_err(|e| LoadManifestsError::Yaml {
        file: file.to_path_buf(),
        document: 1,
        line: e.location().map(|l| l.line() as usize).filter(|l| *l > 0),
        message: yaml_message(&e),
    })?;
    let mut lines = BTreeMap::new();
    to_json(&node, "", &mut lines).map_err(|(field, line, message)| LoadManifestsError::Yaml {
        file: file.to_path_buf(),
        document: 1,
        line,
        message: format!("at `{field}`: {message}"),
    })
}

/// The lines of a rendered object's fields in the chart template it came from: a field whose key occurs as often
/// in the template as in the rendered document gets the template line of the same occurrence; other fields get
/// none (then [`super::Object::line_of`] falls back to the nearest enclosing field that has one).
pub(super) fn template_lines(rendered: &BTreeMap<String, usize>, template: &str) -> BTreeMap<String, usize> {
    let mut by_key: BTreeMap<&str, Vec<(usize, &String)>> = BTreeMap::new();
    for (field, line) in rendered {
        if let Some(key) = last_key(field) {
            by_key.entry(key).or_default().push((*line, field));
        }
    }
    let mut out = BTreeMap::new();
    for (key, mut fields) in by_key {
        let in_template: Vec<usize> =
            template.lines().enumerate().filter(|(_, l)| writes_key(l, key)).map(|(i, _)| i + 1).collect();
        if in_template.len() == fields.len() {
            fields.sort();
            for ((_, field), line) in fields.into_iter().zip(in_template) {
                out.insert(field.clone(), line);
            }
        }
    }
    out
}

/// The last map key of a field path (`c` of `a.b.c`, `k8s.io/x` of `a["k8s.io/x"]`); `None` for a list item.
fn last_key(field: &str) -> Option<&str> {
    if let Some(quoted) = field.strip_suffix("\"]") {
        return quoted.rsplit_once("[\"").map(|(_, k)| k);
    }
    if field.ends_with(']') {
        return None;
    }
    Some(field.rsplit_once('.').map(|(_, k)| k).unwrap_or(field))
}

/// Whether a template line writes `key:` (plain or quoted, or as a list item's first key).
fn writes_key(line: &str, key: &str) -> bool {
    let l = line.trim_start();
    let l = l.strip_prefix('-').map(str::trim_start).unwrap_or(l);
    let rest = l
        .strip_prefix(key)
        .or_else(|| l.strip_prefix('"').and_then(|r| r.strip_prefix(key)).and_then(|r| r.strip_prefix('"')));
    rest.is_some_and(|r| r.starts_with(':'))
}
