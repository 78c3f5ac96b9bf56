//! Label selectors (`app=web,tier!=db,env in (a,b),!legacy`) and field selectors
//! (`metadata.name=web,involvedObject.kind=App`) as the API server parses and applies them.

use std::collections::BTreeMap;

use serde_json::Value;

/// A selector string the server cannot parse.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct SelectorError(pub String);

/// One label requirement.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Requirement {
    /// `key=value`, `key==value`, `key in (a,b)`.
    In(String, Vec<String>),
    /// `key!=value`, `key notin (a,b)`.
    NotIn(String, Vec<String>),
    /// `key`.
    Exists(String),
    /// `!key`.
    DoesNotExist(String),
    /// `key>3`, `key<3` (integers).
    Gt(String, i64),
    /// `key<3`.
    Lt(String, i64),
}

/// A parsed label selector; all requirements must hold.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LabelSelector(Vec<Requirement>);

impl LabelSelector {
    /// Parses the `labelSelector` query parameter.
    pub fn parse(text: &str) -> Result<Self, SelectorError> {
        let mut requirements = Vec::new();
        let mut lexer = Lexer::new(text);
        loop {
            lexer.skip_spaces();
            if lexer.at_end() {
                break;
            }
            requirements.push(parse_requirement(&mut lexer)?);
            lexer.skip_spaces();
            if lexer.at_end() {
                break;
            }
            if !lexer.eat(",") {
                return Err(SelectorError(format!(
                    "unable to parse requirement: found '{}', expected: ','",
                    lexer.rest()
                )));
            }
        }
        Ok(Self(requirements))
    }

    /// Whether `labels` satisfy every requirement.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.0.iter().all(|r| match r {
            Requirement::In(key, values) => labels.get(key).is_some_and(|v| values.contains(v)),
            Requirement::NotIn(key, values) => labels.get(key).is_none_or(|v| !values.contains(v)),
            Requirement::Exists(key) => labels.contains_key(key),
            Requirement::DoesNotExist(key) => !labels.contains_key(key),
            Requirement::Gt(key, n) => labels
                .get(key)
                .and_then(|v| v.parse::<i64>().ok())
                .is_some_and(|v| v > *n),
            Requirement::Lt(key, n) => labels
                .get(key)
                .and_then(|v| v.parse::<i64>().ok())
                .is_some_and(|v| v < *n),
        })
    }

    /// Whether the object's `metadata.labels` satisfy the selector.
    pub fn matches_object(&self, object: &Value) -> bool {
        if self.0.is_empty() {
            return true;
        }
        let labels: BTreeMap<String, String> = object
            .pointer("/metadata/labels")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
                    .collect()
            })
            .unwrap_or_default();
        self.matches(&labels)
    }
}

struct Lexer<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Lexer<'a> {
    fn new(text: &'a str) -> Self {
        Self { text, pos: 0 }
    }
    fn rest(&self) -> &'a str {
        &self.text[self.pos..]
    }
    fn at_end(&self) -> bool {
        self.pos >= self.text.len()
    }
    fn skip_spaces(&mut self) {
        let trimmed = self.rest().trim_start();
        self.pos = self.text.len() - trimmed.len();
    }
    fn eat(&mut self, token: &str) -> bool {
        if self.rest().starts_with(token) {
            self.pos += token.len();
            true
        } else {
            false
        }
    }
    /// A key or value: everything up to a space, operator or separator.
    fn word(&mut self) -> &'a str {
        let rest = self.rest();
        let end = rest
            .find(|c: char| c.is_whitespace() || "=!,()<>".contains(c))
            .unwrap_or(rest.len());
        self.pos += end;
        &rest[..end]
    }
}

fn parse_requirement(lexer: &mut Lexer<'_>) -> Result<Requirement, SelectorError> {
    if lexer.eat("!") {
        lexer.skip_spaces();
        let key = lexer.word();
        check_key(key)?;
        return Ok(Requirement::DoesNotExist(key.to_string()));
    }
    let key = lexer.word().to_string();
    check_key(&key)?;
    lexer.skip_spaces();
    if lexer.at_end() || lexer.rest().starts_with(',') {
        return Ok(Requirement::Exists(key));
    }
    if lexer.eat("==") || lexer.eat("=") {
        lexer.skip_spaces();
        let value = lexer.word();
        check_value(value)?;
        return Ok(Requirement::In(key, vec![value.to_string()]));
    }
    if lexer.eat("!=") {
        lexer.skip_spaces();
        let value = lexer.word();
        check_value(value)?;
        return Ok(Requirement::NotIn(key, vec![value.to_string()]));
    }
    if lexer.eat(">") || lexer.eat("gt") {
        return Ok(Requirement::Gt(key, number(lexer)?));
    }
    if lexer.eat("<") || lexer.eat("lt") {
        return Ok(Requirement::Lt(key, number(lexer)?));
    }
    let operator = lexer.word();
    let negated = match operator {
        "in" => false,
        "notin" => true,
        other => {
            return Err(SelectorError(format!(
                "unable to parse requirement: found '{other}', expected: in, notin, =, ==, !=, gt, lt"
            )));
        }
    };
    lexer.skip_spaces();
    if !lexer.eat("(") {
        return Err(SelectorError(format!(
            "unable to parse requirement: found '{}', expected: '('",
            lexer.rest()
        )));
    }
    let mut values = Vec::new();
    loop {
        lexer.skip_spaces();
        if lexer.eat(")") {
            break;
        }
        let value = lexer.word();
        check_value(value)?;
        values.push(value.to_string());
        lexer.skip_spaces();
        if lexer.eat(")") {
            break;
        }
        if !lexer.eat(",") {
            return Err(SelectorError(format!(
                "unable to parse requirement: found '{}', expected: ',', ')'",
                lexer.rest()
            )));
        }
    }
    Ok(if negated {
        Requirement::NotIn(key, values)
    } else {
        Requirement::In(key, values)
    })
}

fn number(lexer: &mut Lexer<'_>) -> Result<i64, SelectorError> {
    lexer.skip_spaces();
    let word = lexer.word();
    word.parse()
        .map_err(|_| SelectorError(format!("unable to parse requirement: for 'gt', 'lt' operators, the value must be an integer: {word}")))
}

fn check_key(key: &str) -> Result<(), SelectorError> {
    let name = key.rsplit('/').next().unwrap_or(key);
    let valid = !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric());
    if valid {
        Ok(())
    } else {
        Err(SelectorError(format!(
            "unable to parse requirement: invalid label key \"{key}\": name part must consist of \
             alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric \
             character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is \
             '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
        )))
    }
}

fn check_value(value: &str) -> Result<(), SelectorError> {
    let valid = value.len() <= 63
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    if valid {
        Ok(())
    } else {
        Err(SelectorError(format!(
            "unable to parse requirement: invalid label value: \"{value}\": at key: must be 63 \
             characters or less and must consist of alphanumeric characters, '-', '_' or '.'"
        )))
    }
}

/// One field requirement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldRequirement {
    /// Field path, e.g. `involvedObject.name`.
    pub field: String,
    /// Value compared with.
    pub value: String,
    /// `!=` rather than `=`.
    pub negated: bool,
}

/// A parsed field selector; all requirements must hold.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldSelector(pub Vec<FieldRequirement>);

impl FieldSelector {
    /// Parses the `fieldSelector` query parameter (with `\,`, `\=` and `\\` escapes).
    pub fn parse(text: &str) -> Result<Self, SelectorError> {
        let mut requirements = Vec::new();
        for part in split_unescaped(text, ',') {
            if part.trim().is_empty() {
                continue;
            }
            let (field, value, negated) = if let Some((f, v)) = split_operator(&part, "!=") {
                (f, v, true)
            } else if let Some((f, v)) = split_operator(&part, "==") {
                (f, v, false)
            } else if let Some((f, v)) = split_operator(&part, "=") {
                (f, v, false)
            } else {
                return Err(SelectorError(format!(
                    "invalid selector: '{text}'; can't understand '{part}'"
                )));
            };
            requirements.push(FieldRequirement {
                field: field.trim().to_string(),
                value: unescape(value.trim()),
                negated,
            });
        }
        Ok(Self(requirements))
    }

    /// The fields named, to check each is supported.
    pub fn fields(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|r| r.field.as_str())
    }

    /// The value required for `field` with `=`, if any (e.g. `metadata.name` for a single-object
    /// watch).
    pub fn required(&self, field: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|r| r.field == field && !r.negated)
            .map(|r| r.value.as_str())
    }

    /// Whether the object satisfies every requirement. Field values are read by path from the
    /// object (`source` reads `source.component`, as the server's field set for events does);
    /// absent fields compare as the empty string.
    pub fn matches(&self, object: &Value) -> bool {
        self.0.iter().all(|r| {
            let actual = field_value(object, &r.field);
            (actual == r.value) != r.negated
        })
    }
}

/// The string value a field selector compares for `field`.
pub fn field_value(object: &Value, field: &str) -> String {
    let path = match field {
        "source" => "source.component",
        "deprecatedSource" => "deprecatedSource.component",
        other => other,
    };
    let mut node = object;
    for part in path.split('.') {
        match node.get(part) {
            Some(next) => node = next,
            None => return String::new(),
        }
    }
    match node {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn split_unescaped(text: &str, separator: char) -> Vec<String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut escaped = false;
    for c in text.chars() {
        if escaped {
            current.push('\\');
            current.push(c);
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == separator {
            parts.push(std::mem::take(&mut current));
        } else {
            current.push(c);
        }
    }
    parts.push(current);
    parts
}

/// Splits at the first unescaped `operator`.
fn split_operator<'a>(part: &'a str, operator: &str) -> Option<(&'a str, &'a str)> {
    let mut search = 0;
    while let Some(found) = part[search..].find(operator) {
        let at = search + found;
        let backslashes = part[..at].chars().rev().take_while(|c| *c == '\\').count();
        if backslashes % 2 == 0 {
            // `!=` must not be read as `=` preceded by `!`, nor `==` as `=`.
            if operator == "=" && (part[..at].ends_with('!') || part[at + 1..].starts_with('=')) {
                return None;
            }
            return Some((&part[..at], &part[at + operator.len()..]));
        }
        search = at + operator.len();
    }
    None
}

fn unescape(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(next) = chars.next() {
                out.push(next);
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn equality_and_inequality() {
        let s = LabelSelector::parse("app=web,tier==front,env!=prod").unwrap();
        assert!(s.matches(&labels(&[("app", "web"), ("tier", "front")])));
        assert!(!s.matches(&labels(&[
            ("app", "web"),
            ("tier", "front"),
            ("env", "prod")
        ])));
        assert!(!s.matches(&labels(&[("app", "db"), ("tier", "front")])));
    }

    #[test]
    fn set_based_requirements() {
        let s = LabelSelector::parse("env in (a, b),tier notin (db),team,!legacy").unwrap();
        assert!(s.matches(&labels(&[("env", "a"), ("team", "x")])));
        assert!(!s.matches(&labels(&[("env", "c"), ("team", "x")])));
        assert!(!s.matches(&labels(&[("env", "a"), ("team", "x"), ("tier", "db")])));
        assert!(!s.matches(&labels(&[("env", "a")])));
        assert!(!s.matches(&labels(&[("env", "a"), ("team", "x"), ("legacy", "1")])));
    }

    #[test]
    fn prefixed_keys_and_empty_selector() {
        let s = LabelSelector::parse("app.kubernetes.io/part-of=shop").unwrap();
        assert!(s.matches(&labels(&[("app.kubernetes.io/part-of", "shop")])));
        assert!(LabelSelector::parse("").unwrap().matches(&labels(&[])));
    }

    #[test]
    fn malformed_label_selectors_are_refused() {
        assert!(LabelSelector::parse("app in web").is_err());
        assert!(LabelSelector::parse("a=b c").is_err());
        assert!(LabelSelector::parse("-bad=x").is_err());
    }

    #[test]
    fn field_selectors_read_nested_fields() {
        let s = FieldSelector::parse("involvedObject.kind=App,involvedObject.name==web").unwrap();
        let event = json!({"involvedObject": {"kind": "App", "name": "web"}});
        assert!(s.matches(&event));
        assert!(
            !FieldSelector::parse("type!=Normal")
                .unwrap()
                .matches(&json!({"type": "Normal"}))
        );
        assert!(
            FieldSelector::parse("source=cygni")
                .unwrap()
                .matches(&json!({"source": {"component": "cygni"}}))
        );
        assert_eq!(s.required("involvedObject.name"), Some("web"));
    }

    #[test]
    fn field_selector_escapes() {
        let s = FieldSelector::parse(r"metadata.name=a\,b").unwrap();
        assert_eq!(s.0[0].value, "a,b");
        assert!(FieldSelector::parse("nonsense").is_err());
    }
}
