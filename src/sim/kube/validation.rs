//! Validation of a custom object against a CRD version's `openAPIV3Schema`, with the errors worded
//! exactly as a real API server (1.33 to 1.36) words them in `Status.details.causes` and in the 422
//! `Status.message`.
//!
//! The server validates a custom object in a fixed order, and this module follows it:
//!
//! 1. the OpenAPI schema (kube-openapi's validators, turned into field errors by
//!    apiextensions-apiserver): `type`, `nullable`, `enum`, bounds, lengths, `pattern`, item and
//!    property counts, `required`;
//! 2. the uniqueness of `x-kubernetes-list-type: set` items and `map` keys;
//! 3. the CEL rules (`x-kubernetes-validations`), evaluated with kube-cel, but only when step 1
//!    found no "blocking" error (wrong type, missing, unsupported, too long, too many); otherwise
//!    the server adds one fieldless note saying the rules were not checked.
//!
//! On an update the server "ratchets" (GA and locked on since 1.33): an error in a part of the
//! object that did not change is not reported (CEL failures become warnings, which this module
//! drops). Passing the old object to [`validate`] or [`validate_rules`] does the same.
//!
//! What the server does before validation is assumed done the way it does it: unknown fields
//! pruned (see [`unknown_fields`] for the strict-decoding report), a `null` in a non-nullable
//! property dropped, and defaults applied (a missing field that has a `default` counts as set).
//! Not covered: `anyOf`/`oneOf`/`not`, string `format`s (`date-time`, `uri`, ...), ObjectMeta
//! validation of `metadata`, and the CEL cost budget.
//!
//! The wording changed twice within the supported range, see [`ServerRelease`].

use std::collections::HashSet;
use std::error::Error as _;
use std::fmt;

use kube::core::cel::cel::{Context, ExecutionError, Program, Value as CelValue};
use kube::core::cel::{ErrorKind as CelErrorKind, ValidationError, Validator};
use serde_json::{Map, Number, Value};

/// How the server prints a field path that is empty: `field.Path.String()` of a nil path.
const NIL_FIELD: &str = "<nil>";

/// What the server says when a rule calls an operator or function with the wrong argument types
/// (possible only where types are dynamic, as with int-or-string).
const NO_SUCH_OVERLOAD: &str = concat!(
    "'no such overload': call arguments did not match a supported operator, ",
    "function or macro signature"
);

/// The schema keyword that holds CEL rules.
const RULES: &str = "x-kubernetes-validations";

/// Root fields the server validates on its own (ObjectMeta, TypeMeta): the schema only types them.
const META_FIELDS: [&str; 3] = ["apiVersion", "kind", "metadata"];

/// The fieldless note the server adds when a blocking schema error made it skip the CEL rules.
const RULES_NOT_CHECKED: &str = concat!(
    "some validation rules were not checked because the object was invalid; ",
    "correct the existing errors to complete validation"
);

/// One field-level error, as the API server reports it in `Status.details.causes`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    /// The field path, e.g. `spec.container.port` or `spec.steps[1].setWeight`; `<nil>` for an
    /// error about the object as a whole, as the server prints it.
    pub field: String,
    /// What kind of problem this is; [`FieldErrorKind::reason`] gives the cause `reason`.
    pub kind: FieldErrorKind,
    /// The full text after `"<field>: "`, e.g. `Required value` or
    /// `Invalid value: 0: spec.container.port in body should be greater than or equal to 1`.
    pub message: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl std::error::Error for FieldError {}

/// The kinds of field error a custom object can get, one per `field.ErrorType` the server uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FieldErrorKind {
    /// A required field is missing.
    Required,
    /// A value breaks a rule (bounds, pattern, length minimum, CEL rule).
    Invalid,
    /// A value is not one of the `enum` values.
    NotSupported,
    /// A string is longer than `maxLength`.
    TooLong,
    /// A list (or map) has more than `maxItems` (`maxProperties`) entries.
    TooMany,
    /// A value is not of the schema's `type`.
    TypeInvalid,
    /// A CEL rule with `reason: FieldValueForbidden` failed.
    Forbidden,
    /// A set item or map-list key appears twice, or a CEL rule with `reason: FieldValueDuplicate`
    /// failed.
    Duplicate,
}

impl FieldErrorKind {
    /// The cause `reason` (`metav1.CauseType`) the server puts in `Status.details.causes`.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Required => "FieldValueRequired",
            Self::Invalid => "FieldValueInvalid",
            Self::NotSupported => "FieldValueNotSupported",
            Self::TooLong => "FieldValueTooLong",
            Self::TooMany => "FieldValueTooMany",
            Self::TypeInvalid => "FieldValueTypeInvalid",
            Self::Forbidden => "FieldValueForbidden",
            Self::Duplicate => "FieldValueDuplicate",
        }
    }

    /// The words that open the message (`field.ErrorType.String()`).
    fn label(self) -> &'static str {
        match self {
            Self::Required => "Required value",
            Self::Invalid | Self::TypeInvalid => "Invalid value",
            Self::NotSupported => "Unsupported value",
            Self::TooLong => "Too long",
            Self::TooMany => "Too many",
            Self::Forbidden => "Forbidden",
            Self::Duplicate => "Duplicate value",
        }
    }

    /// Whether the server skips the CEL rules when a schema error of this kind is present
    /// (`hasBlockingErr` in the custom resource strategy).
    fn blocks_rules(self) -> bool {
        matches!(
            self,
            Self::NotSupported | Self::Required | Self::TooLong | Self::TooMany | Self::TypeInvalid
        )
    }
}

/// The API server release whose wording is reproduced. Two changes fall inside 1.33 to 1.36:
///
/// - 1.34 renders values through JSON (kubernetes#132314), so the fieldless "rules were not
///   checked" note reads `Invalid value: null` instead of `Invalid value: "null"`, and a duplicate
///   map-list key reads `{"name":"a"}` instead of Go syntax. That this change shipped in 1.34
///   rather than 1.35 is inferred from its merge window, not confirmed;
/// - 1.35 stops printing the schema type of a node whose CEL rule failed (kubernetes#132798,
///   #133832): `spec: Invalid value: "object": <message>` became `spec: Invalid value: <message>`,
///   and a rule on a scalar shows the value, `spec.name: Invalid value: "UPPER": <message>`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ServerRelease {
    /// Kubernetes 1.33.
    V1_33,
    /// Kubernetes 1.34.
    V1_34,
    /// Kubernetes 1.35 and later (1.36 words errors the same way); the default.
    #[default]
    V1_35,
}

/// Checks `object` against the schema alone (no CEL rules), as the server does on create: the
/// OpenAPI value validations, then set and map-list uniqueness.
pub fn validate_structure(schema: &Value, object: &Value) -> Vec<FieldError> {
    structure_errors(ServerRelease::default(), schema, object, None)
}

/// Evaluates the CEL rules (`x-kubernetes-validations`) of every node present in `object`.
///
/// With `old` (an update), transition rules that use `oldSelf` run against the matching old
/// value, and a failure of any other rule on a part of the object that did not change is dropped,
/// as the server's ratcheting turns it into a warning.
pub fn validate_rules(schema: &Value, object: &Value, old: Option<&Value>) -> Vec<FieldError> {
    rule_errors(ServerRelease::default(), schema, object, old)
}

/// Validates `object` the way the server does on create (`old` is `None`) or update: schema
/// first, then the CEL rules unless the schema found a blocking error (then a fieldless note takes
/// their place, only when the schema has rules at all). Errors in unchanged parts are ratcheted.
pub fn validate(schema: &Value, object: &Value, old: Option<&Value>) -> Vec<FieldError> {
    validate_for(ServerRelease::default(), schema, object, old)
}

/// [`validate`], worded as the given server release words it.
pub fn validate_for(
    release: ServerRelease,
    schema: &Value,
    object: &Value,
    old: Option<&Value>,
) -> Vec<FieldError> {
    let mut errors = structure_errors(release, schema, object, old);
    if !has_rules(schema) {
        // The server builds no CEL validator for a schema without rules, so it adds no note.
        return errors;
    }
    if errors.iter().any(|e| e.kind.blocks_rules()) {
        errors.push(FieldError {
            field: NIL_FIELD.to_string(),
            kind: FieldErrorKind::Invalid,
            message: body(
                FieldErrorKind::Invalid,
                Some(&render_null(release)),
                RULES_NOT_CHECKED,
            ),
        });
    } else {
        errors.extend(rule_errors(release, schema, object, old));
    }
    errors
}

/// The `Status.message` of the 422 the server returns for an invalid object, e.g.
/// `App.cygni.io "web" is invalid: spec.a: Required value`, or with several errors
/// `App.cygni.io "web" is invalid: [spec.a: Required value, spec.b: ...]`. Identical errors are
/// listed once, as the server's error aggregate does.
pub fn invalid_message(kind: &str, group: &str, name: &str, errors: &[FieldError]) -> String {
    let qualified = if group.is_empty() {
        kind.to_string()
    } else {
        format!("{kind}.{group}")
    };
    let mut seen = HashSet::new();
    let unique: Vec<String> = errors
        .iter()
        .map(ToString::to_string)
        .filter(|line| seen.insert(line.clone()))
        .collect();
    let head = format!("{qualified} {} is invalid", go_quote(name));
    match unique.as_slice() {
        [] => head,
        [only] => format!("{head}: {only}"),
        several => format!("{head}: [{}]", several.join(", ")),
    }
}

/// The fields of `object` the schema does not declare, as dotted paths (`spec.foo`,
/// `spec.steps[0].bar`), sorted. The server prunes them silently by default; with strict field
/// validation (what `kubectl apply` asks for) it refuses the request with
/// `strict decoding error: unknown field "spec.foo", unknown field "spec.bar"`.
///
/// Follows the server's pruning: `apiVersion`, `kind` and `metadata` are skipped at the root and
/// in embedded resources, and nothing under `x-kubernetes-preserve-unknown-fields` is unknown
/// except inside declared properties.
pub fn unknown_fields(schema: &Value, object: &Value) -> Vec<String> {
    let mut found = Vec::new();
    collect_unknown(Some(schema), object, "", true, &mut found);
    found.sort();
    found
}

// ---------------------------------------------------------------------------------------------
// Schema (kube-openapi) validation
// ---------------------------------------------------------------------------------------------

fn structure_errors(
    release: ServerRelease,
    schema: &Value,
    object: &Value,
    old: Option<&Value>,
) -> Vec<FieldError> {
    let mut walk = SchemaWalk {
        release,
        errors: Vec::new(),
    };
    walk.node(schema, object, old, "", true);
    // Uniqueness is ratcheted all or nothing: on update the server skips the check when the old
    // object already fails it, and otherwise checks the whole new object.
    let old_fails = old.is_some_and(|old| {
        let mut probe = SchemaWalk {
            release,
            errors: Vec::new(),
        };
        probe.list_uniqueness(schema, old, "");
        !probe.errors.is_empty()
    });
    if !old_fails {
        walk.list_uniqueness(schema, object, "");
    }
    walk.errors
}

/// Collects errors while walking the schema and the object together.
struct SchemaWalk {
    release: ServerRelease,
    errors: Vec<FieldError>,
}

impl SchemaWalk {
    fn push(&mut self, path: &str, kind: FieldErrorKind, bad: Option<&str>, detail: &str) {
        self.errors.push(FieldError {
            field: shown(path).to_string(),
            kind,
            message: body(kind, bad, detail),
        });
    }

    /// One schema node. `path` is kube-openapi's name for it, which is also the error's field:
    /// properties and map keys joined with `.`, list items as `[i]`.
    fn node(&mut self, schema: &Value, value: &Value, old: Option<&Value>, path: &str, root: bool) {
        if old == Some(value) {
            // Ratcheting: nothing under an unchanged value is reported on update.
            return;
        }
        if value.is_null() {
            // For null the server runs only the type and enum validators.
            if !declared_types(schema).is_empty() && !is_nullable(schema) {
                self.type_error(schema, path, "null");
            }
            self.check_enum(schema, value, path);
            return;
        }
        self.check_type(schema, value, path);
        match value {
            Value::String(text) => self.check_string(schema, text, path),
            Value::Number(number) => self.check_number(schema, number, path),
            Value::Array(items) => self.check_array(schema, items, old, path),
            _ => {}
        }
        self.check_enum(schema, value, path);
        if let Value::Object(fields) = value {
            self.check_object(schema, fields, old, path, root);
        }
    }

    fn check_type(&mut self, schema: &Value, value: &Value, path: &str) {
        let types = declared_types(schema);
        if types.is_empty() {
            return;
        }
        let actual = json_type(value);
        let integral_float = actual == "number"
            && value.as_f64().is_some_and(is_json_integer)
            && types.contains(&"integer");
        let integer_as_number = actual == "integer" && types.contains(&"number");
        if !(types.contains(&actual) || integral_float || integer_as_number) {
            self.type_error(schema, path, actual);
        }
    }

    /// `Invalid value: "string": spec.replicas in body must be of type integer: "string"`.
    fn type_error(&mut self, schema: &Value, path: &str, actual: &str) {
        let expected = declared_types(schema).join(",");
        let quoted = go_quote(actual);
        let detail = format!("{path} in body must be of type {expected}: {quoted}");
        self.push(path, FieldErrorKind::TypeInvalid, Some(&quoted), &detail);
    }

    fn check_string(&mut self, schema: &Value, text: &str, path: &str) {
        // kube-openapi counts characters (runes), although the server's message says bytes.
        let length = text.chars().count() as u64;
        let quoted = go_quote(text);
        // The string validator stops at its first failure.
        if let Some(max) = uint_keyword(schema, "maxLength")
            && length > max
        {
            let unit = if max == 1 { "byte" } else { "bytes" };
            let detail = format!("may not be more than {max} {unit}");
            self.push(path, FieldErrorKind::TooLong, None, &detail);
        } else if let Some(min) = uint_keyword(schema, "minLength")
            && length < min
        {
            let detail = format!("{path} in body should be at least {min} chars long");
            self.push(path, FieldErrorKind::Invalid, Some(&quoted), &detail);
        } else if let Some(pattern) = schema.get("pattern").and_then(Value::as_str) {
            let detail = match pattern_matches(pattern, text) {
                Ok(true) => return,
                Ok(false) => format!("{path} in body should match '{pattern}'"),
                Err(cause) => format!(
                    "{path} in body should match '{pattern}, but pattern is invalid: {cause}'"
                ),
            };
            self.push(path, FieldErrorKind::Invalid, Some(&quoted), &detail);
        }
    }

    fn check_number(&mut self, schema: &Value, number: &Number, path: &str) {
        let value = GoNumber::from_json(number);
        let shown_value = value.to_string();
        let mut failures = Vec::new();
        if let Some(factor) = schema.get("multipleOf").and_then(Value::as_f64)
            && let Some(factor) = value.not_multiple_of(factor)
        {
            failures.push(format!("{path} in body should be a multiple of {factor}"));
        }
        if let Some(bound) = schema.get("minimum").and_then(Value::as_f64) {
            let exclusive = flag(schema, "exclusiveMinimum");
            if let Some(bound) = value.below(bound, exclusive) {
                let relation = if exclusive {
                    "greater than"
                } else {
                    "greater than or equal to"
                };
                failures.push(format!("{path} in body should be {relation} {bound}"));
            }
        }
        if let Some(bound) = schema.get("maximum").and_then(Value::as_f64) {
            let exclusive = flag(schema, "exclusiveMaximum");
            if let Some(bound) = value.above(bound, exclusive) {
                let relation = if exclusive {
                    "less than"
                } else {
                    "less than or equal to"
                };
                failures.push(format!("{path} in body should be {relation} {bound}"));
            }
        }
        for detail in failures {
            self.push(path, FieldErrorKind::Invalid, Some(&shown_value), &detail);
        }
    }

    fn check_array(&mut self, schema: &Value, items: &[Value], old: Option<&Value>, path: &str) {
        if let Some(item_schema) = schema.get("items").filter(|s| s.is_object()) {
            for (i, item) in items.iter().enumerate() {
                let old_item = correlated_item(schema, item, old);
                self.node(item_schema, item, old_item, &index_path(path, i), false);
            }
        }
        let count = items.len() as u64;
        if let Some(min) = uint_keyword(schema, "minItems")
            && count < min
        {
            let detail = format!("{path} in body should have at least {min} items");
            self.push(
                path,
                FieldErrorKind::Invalid,
                Some(&count.to_string()),
                &detail,
            );
        }
        if let Some(max) = uint_keyword(schema, "maxItems")
            && count > max
        {
            self.push(
                path,
                FieldErrorKind::TooMany,
                Some(&count.to_string()),
                &too_many_detail(max),
            );
        }
    }

    fn check_enum(&mut self, schema: &Value, value: &Value, path: &str) {
        let Some(allowed) = schema.get("enum").and_then(Value::as_array) else {
            return;
        };
        // kube-openapi never matches null against an enum, not even a listed null.
        if allowed.is_empty() || (!value.is_null() && allowed.iter().any(|a| enum_equal(a, value)))
        {
            return;
        }
        let listed: Vec<String> = allowed
            .iter()
            .map(|a| match a {
                Value::String(text) => go_quote(text),
                other => go_quote(&go_json(other)),
            })
            .collect();
        let detail = format!("supported values: {}", listed.join(", "));
        let bad = render_value(value, self.release);
        self.push(path, FieldErrorKind::NotSupported, Some(&bad), &detail);
    }

    fn check_object(
        &mut self,
        schema: &Value,
        fields: &Map<String, Value>,
        old: Option<&Value>,
        path: &str,
        root: bool,
    ) {
        let count = fields.len() as u64;
        // The object validator returns at once on a property-count failure.
        if let Some(min) = uint_keyword(schema, "minProperties")
            && count < min
        {
            let detail = format!("{path} in body should have at least {min} properties");
            self.push(
                path,
                FieldErrorKind::Invalid,
                Some(&count.to_string()),
                &detail,
            );
            return;
        }
        if let Some(max) = uint_keyword(schema, "maxProperties")
            && count > max
        {
            // Wording unconfirmed: apiextensions maps this to field.TooMany, whose text says items.
            let bad = count.to_string();
            self.push(
                path,
                FieldErrorKind::TooMany,
                Some(&bad),
                &too_many_detail(max),
            );
            return;
        }
        let properties = schema.get("properties").and_then(Value::as_object);
        let declared = |name: &str| properties.is_some_and(|p| p.contains_key(name));
        if let Some(extra) = schema.get("additionalProperties").filter(|s| s.is_object()) {
            for (key, value) in fields.iter().filter(|(key, _)| !declared(key)) {
                let old_value = old.and_then(|o| o.get(key));
                self.node(extra, value, old_value, &child_path(path, key), false);
            }
        }
        if let Some(properties) = properties {
            for (name, property) in properties {
                let Some(value) = fields.get(name) else {
                    continue;
                };
                let field = child_path(path, name);
                let old_value = old.and_then(|o| o.get(name));
                if root && META_FIELDS.contains(&name.as_str()) {
                    // ObjectMeta and TypeMeta are checked elsewhere; the schema only types them.
                    if old_value != Some(value) {
                        self.check_type(property, value, &field);
                    }
                } else if value.is_null() && !is_nullable(property) {
                    // Dropped before validation (and replaced by its default, if it has one).
                } else {
                    self.node(property, value, old_value, &field, false);
                }
            }
        }
        for name in schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            let property = properties.and_then(|p| p.get(name));
            let defaulted = property.is_some_and(|p| p.get("default").is_some());
            let present = match fields.get(name) {
                None => false,
                Some(Value::Null) => property.is_none_or(is_nullable),
                Some(_) => true,
            };
            if !present && !defaulted {
                self.push(&child_path(path, name), FieldErrorKind::Required, None, "");
            }
        }
    }

    /// `x-kubernetes-list-type` uniqueness. This check builds its own paths with `field.Path`, so
    /// map keys are written `[key]` here, unlike in the schema errors above.
    fn list_uniqueness(&mut self, schema: &Value, value: &Value, path: &str) {
        match value {
            Value::Object(fields) => {
                let properties = schema.get("properties").and_then(Value::as_object);
                if let Some(extra) = schema.get("additionalProperties").filter(|s| s.is_object()) {
                    for (key, child) in fields {
                        self.list_uniqueness(extra, child, &key_path(path, key));
                    }
                }
                for (name, property) in properties.into_iter().flatten() {
                    if let Some(child) = fields.get(name) {
                        self.list_uniqueness(property, child, &child_path(path, name));
                    }
                }
            }
            Value::Array(items) => {
                match list_type(schema) {
                    Some("set") => self.duplicate_set_items(items, path),
                    Some("map") => self.duplicate_map_keys(schema, items, path),
                    _ => {}
                }
                if let Some(item_schema) = schema.get("items").filter(|s| s.is_object()) {
                    for (i, item) in items.iter().enumerate() {
                        self.list_uniqueness(item_schema, item, &index_path(path, i));
                    }
                }
            }
            _ => {}
        }
    }

    fn duplicate_set_items(&mut self, items: &[Value], path: &str) {
        for i in first_repeats(items) {
            let bad = render_value(&items[i], self.release);
            self.push(
                &index_path(path, i),
                FieldErrorKind::Duplicate,
                Some(&bad),
                "",
            );
        }
    }

    fn duplicate_map_keys(&mut self, schema: &Value, items: &[Value], path: &str) {
        if let Some((i, item)) = items
            .iter()
            .enumerate()
            .find(|(_, item)| !item.is_object() && !item.is_null())
        {
            // The server stops at the first item that is not an object.
            let bad = render_value(item, self.release);
            let detail = "must be an object for an array of list-type map";
            self.push(
                &index_path(path, i),
                FieldErrorKind::Invalid,
                Some(&bad),
                detail,
            );
            return;
        }
        let key_fields = list_map_keys(schema);
        let keys: Vec<Value> = items
            .iter()
            .map(|item| {
                let mut key = Map::new();
                for field in &key_fields {
                    if let Some(value) = item.get(field) {
                        key.insert(field.clone(), value.clone());
                    }
                }
                Value::Object(key)
            })
            .collect();
        for i in first_repeats(&keys) {
            let bad = render_value(&keys[i], self.release);
            self.push(
                &index_path(path, i),
                FieldErrorKind::Duplicate,
                Some(&bad),
                "",
            );
        }
    }
}

/// Indices of the second occurrence of each repeated value: the server reports a repeat once,
/// however many times it appears. Values compare as their JSON, so `1` and `1.0` differ, as an
/// int64 and a float64 do in Go.
fn first_repeats(items: &[Value]) -> Vec<usize> {
    let mut seen: Vec<(String, usize)> = Vec::new();
    let mut repeats = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let text = item.to_string();
        match seen.iter_mut().find(|(known, _)| *known == text) {
            Some((_, times)) => {
                *times += 1;
                if *times == 2 {
                    repeats.push(i);
                }
            }
            None => seen.push((text, 1)),
        }
    }
    repeats
}

/// The server's pruning walk (`prune`), recording what it would delete.
fn collect_unknown(
    schema: Option<&Value>,
    value: &Value,
    path: &str,
    embedded: bool,
    found: &mut Vec<String>,
) {
    if let Some(schema) = schema
        && flag(schema, "x-kubernetes-preserve-unknown-fields")
    {
        keep_unknown(Some(schema), value, path, embedded, found);
        return;
    }
    match value {
        Value::Object(fields) => {
            let Some(schema) = schema else {
                // Nothing is declared here, so every field is unknown.
                found.extend(fields.keys().map(|key| child_path(path, key)));
                return;
            };
            let embedded = embedded || flag(schema, "x-kubernetes-embedded-resource");
            for (key, child) in fields {
                if embedded && META_FIELDS.contains(&key.as_str()) {
                    continue;
                }
                match declared_child(schema, key) {
                    Some(child_schema) => {
                        collect_unknown(child_schema, child, &child_path(path, key), false, found);
                    }
                    None => found.push(child_path(path, key)),
                }
            }
        }
        Value::Array(items) => {
            let item_schema = schema.and_then(|s| s.get("items"));
            for (i, item) in items.iter().enumerate() {
                collect_unknown(item_schema, item, &index_path(path, i), false, found);
            }
        }
        _ => {}
    }
}

/// The server's walk under `x-kubernetes-preserve-unknown-fields` (`skipPrune`): undeclared
/// fields are kept, declared ones are pruned as usual.
fn keep_unknown(
    schema: Option<&Value>,
    value: &Value,
    path: &str,
    embedded: bool,
    found: &mut Vec<String>,
) {
    let Some(schema) = schema else {
        return;
    };
    match value {
        Value::Object(fields) => {
            let embedded = embedded || flag(schema, "x-kubernetes-embedded-resource");
            for (key, child) in fields {
                if embedded && META_FIELDS.contains(&key.as_str()) {
                    continue;
                }
                if let Some(child_schema) = declared_child(schema, key) {
                    collect_unknown(child_schema, child, &child_path(path, key), false, found);
                }
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                keep_unknown(
                    schema.get("items"),
                    item,
                    &index_path(path, i),
                    false,
                    found,
                );
            }
        }
        _ => {}
    }
}

/// How a schema declares the field `key`: `None` when it does not, `Some(None)` when it does
/// without a schema for the value (`additionalProperties: true`).
fn declared_child<'s>(schema: &'s Value, key: &str) -> Option<Option<&'s Value>> {
    if let Some(property) = schema.get("properties").and_then(|p| p.get(key)) {
        return Some(Some(property));
    }
    let extra = schema.get("additionalProperties")?;
    Some(extra.is_object().then_some(extra))
}

// ---------------------------------------------------------------------------------------------
// CEL rules
// ---------------------------------------------------------------------------------------------

fn rule_errors(
    release: ServerRelease,
    schema: &Value,
    object: &Value,
    old: Option<&Value>,
) -> Vec<FieldError> {
    if !has_rules(schema) {
        return Vec::new();
    }
    let validator = Validator::new();
    let mut walk = RuleWalk {
        release,
        validator: &validator,
        errors: Vec::new(),
    };
    let unchanged = old == Some(object);
    walk.node(schema, object, old, "", unchanged);
    walk.errors
}

/// Evaluates rules node by node, so that each failure gets the server's field path (map keys as
/// `[key]`), the node's schema type and the ratcheting decision, which kube-cel's own walk does
/// not provide.
struct RuleWalk<'v> {
    release: ServerRelease,
    validator: &'v Validator,
    errors: Vec<FieldError>,
}

impl RuleWalk<'_> {
    /// `unchanged`: this node, or its nearest ancestor the server can correlate with the old
    /// object, equals its old value; failures of rules without `oldSelf` are then ratcheted.
    fn node(
        &mut self,
        schema: &Value,
        value: &Value,
        old: Option<&Value>,
        path: &str,
        unchanged: bool,
    ) {
        if value.is_null() {
            // The server evaluates rules on non-null values only.
            return;
        }
        self.evaluate(schema, schema, value, old, path, unchanged);
        for branch in schema
            .get("allOf")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            self.evaluate(schema, branch, value, old, path, unchanged);
        }
        match value {
            Value::Array(items) => {
                let Some(item_schema) = schema.get("items").filter(|s| s.is_object()) else {
                    return;
                };
                for (i, item) in items.iter().enumerate() {
                    // Only map-list items are correlated; others inherit the list's verdict.
                    let old_item = correlated_item(schema, item, old);
                    let same = old_item.map_or(unchanged, |o| o == item);
                    self.node(item_schema, item, old_item, &index_path(path, i), same);
                }
            }
            Value::Object(fields) => {
                let properties = schema.get("properties").and_then(Value::as_object);
                let declared = |name: &str| properties.is_some_and(|p| p.contains_key(name));
                if let Some(extra) = schema.get("additionalProperties").filter(|s| s.is_object()) {
                    for (key, child) in fields.iter().filter(|(key, _)| !declared(key)) {
                        let old_child = old.and_then(|o| o.get(key));
                        let same = old_child.map_or(unchanged, |o| o == child);
                        self.node(extra, child, old_child, &key_path(path, key), same);
                    }
                }
                for (name, property) in properties.into_iter().flatten() {
                    if let Some(child) = fields.get(name) {
                        let old_child = old.and_then(|o| o.get(name));
                        let same = old_child.map_or(unchanged, |o| o == child);
                        self.node(property, child, old_child, &child_path(path, name), same);
                    }
                }
            }
            _ => {}
        }
    }

    /// Runs the rules written on `holder` (the node schema or one of its `allOf` branches)
    /// against the node, one rule at a time so each failure is tied to its rule.
    fn evaluate(
        &mut self,
        schema: &Value,
        holder: &Value,
        value: &Value,
        old: Option<&Value>,
        path: &str,
        unchanged: bool,
    ) {
        let Some(rules) = holder.get(RULES).and_then(Value::as_array) else {
            return;
        };
        for rule in rules {
            if unchanged && !uses_old_self(rule) {
                // The server evaluates it and turns a failure into a warning; drop it.
                continue;
            }
            let single = schema_with_only_rule(schema, rule);
            if let Err(failures) = self.validator.validate(&single, value, old) {
                for failure in failures.into_vec() {
                    let error = self.convert(&failure, rule, schema, value, path);
                    self.errors.push(error);
                }
            }
        }
    }

    fn convert(
        &self,
        failure: &ValidationError,
        rule: &Value,
        schema: &Value,
        value: &Value,
        path: &str,
    ) -> FieldError {
        let node_type = schema.get("type").and_then(Value::as_str).unwrap_or("");
        let schema_type = go_quote(node_type);
        match failure.kind {
            CelErrorKind::ValidationFailure => {
                self.rule_failure(failure, rule, schema, node_type, value, path)
            }
            CelErrorKind::EvaluationError => {
                let cause = failure
                    .source()
                    .and_then(|s| s.downcast_ref::<ExecutionError>());
                let detail = match cause {
                    Some(ExecutionError::NoSuchOverload) => {
                        format!("{NO_SUCH_OVERLOAD} for rule: {}", rule_error_string(rule))
                    }
                    _ => format!(
                        "{} evaluating rule: {}",
                        cel_go_error_text(cause, &failure.message),
                        rule_error_string(rule)
                    ),
                };
                invalid(path, Some(&schema_type), &detail)
            }
            CelErrorKind::CompilationFailure | CelErrorKind::InvalidRule => {
                // The server refuses such a CRD; if one got through, this is what it would say.
                let detail = format!("rule compile error: {}", failure.message);
                invalid(path, Some(&schema_type), &detail)
            }
            // Unsupported CEL features (kube-cel fails closed), schema depth, and any kind added
            // later: no server equivalent, so the evaluator's own explanation is passed on.
            _ => invalid(path, Some(&schema_type), &failure.message),
        }
    }

    /// A rule that evaluated to false: `<path>: Invalid value: <value>: <message>`, where the
    /// path honours the rule's `fieldPath` and the kind its `reason`.
    fn rule_failure(
        &self,
        failure: &ValidationError,
        rule: &Value,
        schema: &Value,
        node_type: &str,
        value: &Value,
        path: &str,
    ) -> FieldError {
        let detail = failure_detail(rule, &failure.message);
        let at = match rule.get("fieldPath").and_then(Value::as_str) {
            Some(field_path) if !field_path.is_empty() => {
                child_path(path, &normalize_rule_field_path(field_path, schema))
            }
            _ => path.to_string(),
        };
        let bad = match self.release {
            ServerRelease::V1_33 | ServerRelease::V1_34 => Some(go_quote(node_type)),
            ServerRelease::V1_35 if matches!(node_type, "object" | "array") => None,
            ServerRelease::V1_35 => Some(render_value(value, self.release)),
        };
        let kind = match rule.get("reason").and_then(Value::as_str) {
            Some("FieldValueForbidden") => FieldErrorKind::Forbidden,
            Some("FieldValueRequired") => FieldErrorKind::Required,
            Some("FieldValueDuplicate") => FieldErrorKind::Duplicate,
            _ => FieldErrorKind::Invalid,
        };
        let message = match kind {
            FieldErrorKind::Forbidden | FieldErrorKind::Required => body(kind, None, &detail),
            // field.Duplicate takes the value but no detail.
            FieldErrorKind::Duplicate => body(kind, bad.as_deref(), ""),
            _ => body(kind, bad.as_deref(), &detail),
        };
        FieldError {
            field: shown(&at).to_string(),
            kind,
            message,
        }
    }
}

fn invalid(path: &str, bad: Option<&str>, detail: &str) -> FieldError {
    FieldError {
        field: shown(path).to_string(),
        kind: FieldErrorKind::Invalid,
        message: body(FieldErrorKind::Invalid, bad, detail),
    }
}

/// The failure message: the `messageExpression` result when it produced one, else the
/// `message`, else `failed rule: <rule>` (`ruleMessageOrDefault`), trimmed as the server trims.
fn failure_detail(rule: &Value, evaluated: &str) -> String {
    if rule.get("messageExpression").is_some() {
        let text = evaluated.trim();
        // The server ignores an empty or multi-line result and falls back to the message.
        if !text.is_empty() && !text.contains('\n') {
            return text.to_string();
        }
    }
    match rule.get("message").and_then(Value::as_str).map(str::trim) {
        Some(message) if !message.is_empty() => message.to_string(),
        _ => format!("failed rule: {}", rule_text(rule)),
    }
}

/// `ruleErrorString`: the rule's message when it has one, else the rule itself.
fn rule_error_string(rule: &Value) -> String {
    match rule.get("message").and_then(Value::as_str).map(str::trim) {
        Some(message) if !message.is_empty() => message.to_string(),
        _ => rule_text(rule),
    }
}

fn rule_text(rule: &Value) -> String {
    rule.get("rule")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// The server decides this from the compiled expression; a rule that merely mentions `oldSelf`
/// in a string literal is the only case where this reading differs.
fn uses_old_self(rule: &Value) -> bool {
    rule_text(rule).contains("oldSelf")
}

/// The text cel-go gives for the runtime errors rules commonly hit; cel-rust words them
/// differently. Unconfirmed beyond `no such key` and `division by zero`: other errors keep
/// cel-rust's text.
fn cel_go_error_text(cause: Option<&ExecutionError>, fallback: &str) -> String {
    match cause {
        Some(ExecutionError::NoSuchKey(key)) => format!("no such key: {key}"),
        Some(ExecutionError::DivisionByZero(_)) => "division by zero".to_string(),
        Some(ExecutionError::RemainderByZero(_)) => "modulus by zero".to_string(),
        Some(other) => other.to_string(),
        None => fallback.to_string(),
    }
}

/// A copy of the node schema carrying only `rule`, with the rules of nested nodes removed, so
/// that kube-cel evaluates exactly that rule (with the node's types and defaults) and nothing else.
fn schema_with_only_rule(schema: &Value, rule: &Value) -> Value {
    let mut copy = schema.clone();
    if let Value::Object(fields) = &mut copy {
        fields.remove("allOf");
        strip_nested_rules(fields);
        fields.insert(RULES.to_string(), Value::Array(vec![rule.clone()]));
    }
    copy
}

fn strip_nested_rules(fields: &mut Map<String, Value>) {
    fn strip(schema: &mut Value) {
        if let Value::Object(fields) = schema {
            fields.remove(RULES);
            strip_nested_rules(fields);
        }
    }
    if let Some(Value::Object(properties)) = fields.get_mut("properties") {
        properties.values_mut().for_each(strip);
    }
    for keyword in ["items", "additionalProperties", "not"] {
        if let Some(nested) = fields.get_mut(keyword) {
            strip(nested);
        }
    }
    for keyword in ["allOf", "anyOf", "oneOf"] {
        if let Some(Value::Array(branches)) = fields.get_mut(keyword) {
            branches.iter_mut().for_each(strip);
        }
    }
}

fn has_rules(schema: &Value) -> bool {
    let Some(fields) = schema.as_object() else {
        return false;
    };
    if fields
        .get(RULES)
        .and_then(Value::as_array)
        .is_some_and(|rules| !rules.is_empty())
    {
        return true;
    }
    let nested_properties = fields
        .get("properties")
        .and_then(Value::as_object)
        .into_iter()
        .flat_map(|p| p.values());
    let nested_single = ["items", "additionalProperties"]
        .into_iter()
        .filter_map(|k| fields.get(k));
    let nested_branches = fields
        .get("allOf")
        .and_then(Value::as_array)
        .into_iter()
        .flatten();
    nested_properties
        .chain(nested_single)
        .chain(nested_branches)
        .any(has_rules)
}

/// The server validates a rule's `fieldPath` against the schema and prints it as a `field.Path`:
/// `.spec.name` becomes `spec.name`, and `.labels['app']` becomes `labels[app]` when `labels` is
/// a map. Paths it would not parse (the CRD would have been refused) are used with the leading
/// dot removed.
fn normalize_rule_field_path(field_path: &str, schema: &Value) -> String {
    parse_rule_field_path(field_path, schema)
        .unwrap_or_else(|| field_path.trim_start_matches('.').to_string())
}

fn parse_rule_field_path(field_path: &str, schema: &Value) -> Option<String> {
    let mut out = String::new();
    let mut node = Some(schema);
    let mut rest = field_path;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('.') {
            let end = after.find(['.', '[']).unwrap_or(after.len());
            let name = &after[..end];
            if name.is_empty() {
                return None;
            }
            out = child_path(&out, name);
            node = node
                .and_then(|n| n.get("properties"))
                .and_then(|p| p.get(name));
            rest = &after[end..];
        } else if let Some(after) = rest.strip_prefix("['") {
            let end = after.find("']")?;
            let name = &after[..end];
            let property = node
                .and_then(|n| n.get("properties"))
                .and_then(|p| p.get(name));
            if property.is_some() {
                out = child_path(&out, name);
                node = property;
            } else {
                out = key_path(&out, name);
                node = node.and_then(|n| n.get("additionalProperties"));
            }
            rest = &after[end + 2..];
        } else if let Some(after) = rest.strip_prefix('[') {
            let end = after.find(']')?;
            out = format!("{out}[{}]", &after[..end]);
            node = node.and_then(|n| n.get("items"));
            rest = &after[end + 1..];
        } else {
            return None;
        }
    }
    Some(out)
}

// ---------------------------------------------------------------------------------------------
// Schema helpers
// ---------------------------------------------------------------------------------------------

/// The types a node accepts: its `type`, or integer and string for `x-kubernetes-int-or-string`
/// (the server converts that extension to the type list `[integer, string]`).
fn declared_types(schema: &Value) -> Vec<&str> {
    if flag(schema, "x-kubernetes-int-or-string") {
        return vec!["integer", "string"];
    }
    schema
        .get("type")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .into_iter()
        .collect()
}

fn is_nullable(schema: &Value) -> bool {
    flag(schema, "nullable")
}

fn flag(schema: &Value, keyword: &str) -> bool {
    schema.get(keyword).and_then(Value::as_bool) == Some(true)
}

fn uint_keyword(schema: &Value, keyword: &str) -> Option<u64> {
    let value = schema.get(keyword)?;
    value
        .as_u64()
        .or_else(|| value.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64))
}

fn list_type(schema: &Value) -> Option<&str> {
    schema.get("x-kubernetes-list-type").and_then(Value::as_str)
}

fn list_map_keys(schema: &Value) -> Vec<String> {
    schema
        .get("x-kubernetes-list-map-keys")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect()
}

/// The old item a new list item corresponds to. The server correlates only `map` lists, by their
/// key fields; `set` and atomic list items have no old counterpart.
fn correlated_item<'o>(
    list_schema: &Value,
    item: &Value,
    old_list: Option<&'o Value>,
) -> Option<&'o Value> {
    if list_type(list_schema) != Some("map") {
        return None;
    }
    let keys = list_map_keys(list_schema);
    old_list?
        .as_array()?
        .iter()
        .find(|old| keys.iter().all(|k| old.get(k) == item.get(k)))
}

/// The JSON type kube-openapi infers from a decoded value: integers decode to int64, other
/// numbers to float64.
fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::String(_) => "string",
        Value::Number(n) if n.is_i64() => "integer",
        Value::Number(_) => "number",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Enum membership: numbers compare by value (Go converts the data to the enum value's type),
/// everything else must be equal.
fn enum_equal(allowed: &Value, value: &Value) -> bool {
    match (allowed, value) {
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        _ => allowed == value,
    }
}

/// `swag.IsFloat64AJSONInteger`: whole, and within the range JSON integers round-trip in.
fn is_json_integer(f: f64) -> bool {
    const LIMIT: f64 = 9_007_199_254_740_992.0; // 2^53
    f.is_finite() && f.abs() <= LIMIT && f.fract() == 0.0
}

/// Runs a regular expression through the CEL library's `matches`, the regex engine already in
/// the dependency tree. Go's RE2 and Rust's regex agree on syntax; they differ only in that Go's
/// `\d`, `\w`, `\s` are ASCII-only.
fn pattern_matches(pattern: &str, text: &str) -> Result<bool, String> {
    thread_local! {
        static MATCHER: Option<(Program, Context<'static>)> =
            Program::compile("text.matches(pattern)")
                .ok()
                .map(|program| (program, Context::default()));
    }
    MATCHER.with(|matcher| {
        let Some((program, root)) = matcher else {
            return Err("no regular expression engine".to_string());
        };
        let mut scope = root.new_inner_scope();
        scope.add_variable_from_value("text", text);
        scope.add_variable_from_value("pattern", pattern);
        match program.execute(&scope) {
            Ok(CelValue::Bool(matched)) => Ok(matched),
            Ok(other) => Err(format!("unexpected result {other:?}")),
            Err(error) => Err(error.to_string()),
        }
    })
}

// ---------------------------------------------------------------------------------------------
// Numbers as Go sees them
// ---------------------------------------------------------------------------------------------

/// A decoded JSON number: the server decodes integers that fit to int64 and everything else to
/// float64, and kube-openapi compares and prints the two differently.
#[derive(Clone, Copy, Debug)]
enum GoNumber {
    Int(i64),
    Float(f64),
}

impl GoNumber {
    fn from_json(number: &Number) -> Self {
        match number.as_i64() {
            Some(i) => Self::Int(i),
            None => Self::Float(number.as_f64().unwrap_or(f64::NAN)),
        }
    }

    /// The bound, as printed, when the value is under it. An int64 value is compared with the
    /// bound truncated to int64, as kube-openapi does.
    fn below(self, bound: f64, exclusive: bool) -> Option<String> {
        match self {
            Self::Int(v) => {
                let b = bound as i64;
                (v < b || (exclusive && v == b)).then(|| b.to_string())
            }
            Self::Float(v) => (v < bound || (exclusive && v == bound)).then(|| go_float(bound)),
        }
    }

    /// The bound, as printed, when the value is over it.
    fn above(self, bound: f64, exclusive: bool) -> Option<String> {
        match self {
            Self::Int(v) => {
                let b = bound as i64;
                (v > b || (exclusive && v == b)).then(|| b.to_string())
            }
            Self::Float(v) => (v > bound || (exclusive && v == bound)).then(|| go_float(bound)),
        }
    }

    /// The factor, as printed, when the value is not a multiple of it.
    fn not_multiple_of(self, factor: f64) -> Option<String> {
        if factor <= 0.0 {
            // The server refuses such a CRD.
            return None;
        }
        match self {
            Self::Int(v) if factor as i64 != 0 => {
                let f = factor as i64;
                (v % f != 0).then(|| f.to_string())
            }
            Self::Int(v) => Self::Float(v as f64).not_multiple_of(factor),
            Self::Float(v) => {
                let ratio = if factor < 1.0 {
                    1.0 / factor * v
                } else {
                    v / factor
                };
                (!is_json_integer(ratio)).then(|| go_float(factor))
            }
        }
    }
}

impl fmt::Display for GoNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Int(i) => write!(f, "{i}"),
            Self::Float(x) => f.write_str(&go_float(*x)),
        }
    }
}

/// Shortest decimal digits and decimal exponent of a finite, non-zero float: `1.5e6` gives
/// ("15", 6).
fn float_digits(f: f64) -> (String, i32) {
    let scientific = format!("{:e}", f.abs());
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    (digits, exponent.parse().unwrap_or(0))
}

/// Go's `%v` for a float64 (`strconv.FormatFloat(f, 'g', -1, 64)`): plain decimals, but
/// exponent form from 1e+06 up and below 1e-04, as in `1e+06` or `1.5e-07`.
fn go_float(f: f64) -> String {
    if !f.is_finite() {
        return if f.is_nan() {
            "NaN".to_string()
        } else if f > 0.0 {
            "+Inf".to_string()
        } else {
            "-Inf".to_string()
        };
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0" } else { "0" }.to_string();
    }
    let (digits, exponent) = float_digits(f);
    let sign = if f < 0.0 { "-" } else { "" };
    if !(-4..6).contains(&exponent) {
        format!("{sign}{}", exponent_form(&digits, exponent))
    } else {
        format!("{sign}{}", plain_form(&digits, exponent))
    }
}

/// Go's `encoding/json` for a float64: plain decimals unless below 1e-6 or from 1e21 up, where it
/// writes `1e+21` and `1e-7`.
fn go_json_float(f: f64) -> String {
    if !f.is_finite() {
        return "null".to_string();
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0" } else { "0" }.to_string();
    }
    let (digits, exponent) = float_digits(f);
    let sign = if f < 0.0 { "-" } else { "" };
    let abs = f.abs();
    if !(1e-6..1e21).contains(&abs) {
        let text = exponent_form(&digits, exponent);
        // encoding/json trims a leading zero in a negative two-digit exponent: e-07 -> e-7.
        format!("{sign}{}", text.replacen("e-0", "e-", 1))
    } else {
        format!("{sign}{}", plain_form(&digits, exponent))
    }
}

fn exponent_form(digits: &str, exponent: i32) -> String {
    let (first, rest) = digits.split_at(1.min(digits.len()));
    let mantissa = if rest.is_empty() {
        first.to_string()
    } else {
        format!("{first}.{rest}")
    };
    let exponent_sign = if exponent < 0 { '-' } else { '+' };
    format!("{mantissa}e{exponent_sign}{:02}", exponent.unsigned_abs())
}

fn plain_form(digits: &str, exponent: i32) -> String {
    let point = exponent + 1;
    let count = digits.len() as i32;
    if point <= 0 {
        format!("0.{}{digits}", "0".repeat(point.unsigned_abs() as usize))
    } else if point >= count {
        format!("{digits}{}", "0".repeat((point - count) as usize))
    } else {
        let (whole, fraction) = digits.split_at(point as usize);
        format!("{whole}.{fraction}")
    }
}

// ---------------------------------------------------------------------------------------------
// Rendering values and messages the way apimachinery does
// ---------------------------------------------------------------------------------------------

/// `field.Error.ErrorBody()`: the type's words, then the bad value unless omitted, then the
/// detail.
fn body(kind: FieldErrorKind, bad: Option<&str>, detail: &str) -> String {
    let mut text = kind.label().to_string();
    if let Some(bad) = bad {
        text.push_str(": ");
        text.push_str(bad);
    }
    if !detail.is_empty() {
        text.push_str(": ");
        text.push_str(detail);
    }
    text
}

fn too_many_detail(max: u64) -> String {
    let unit = if max == 1 { "item" } else { "items" };
    format!("must have at most {max} {unit}")
}

/// A bad value as `ErrorBody` prints it: strings quoted, numbers and booleans bare, anything
/// else as JSON from 1.34 on (Go syntax before).
fn render_value(value: &Value, release: ServerRelease) -> String {
    match value {
        Value::String(text) => go_quote(text),
        Value::Number(number) => GoNumber::from_json(number).to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Null => render_null(release),
        Value::Array(_) | Value::Object(_) => match release {
            ServerRelease::V1_33 => go_syntax(value),
            _ => go_json(value),
        },
    }
}

/// A nil bad value: the string "null" (quoted) up to 1.33, JSON `null` from 1.34.
fn render_null(release: ServerRelease) -> String {
    match release {
        ServerRelease::V1_33 => go_quote("null"),
        _ => "null".to_string(),
    }
}

/// Go's `%#v` of a decoded JSON value (maps print with sorted keys).
fn go_syntax(value: &Value) -> String {
    match value {
        Value::Null => "interface {}(nil)".to_string(),
        Value::String(text) => go_quote(text),
        Value::Number(number) => GoNumber::from_json(number).to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Array(items) => {
            let inner: Vec<String> = items.iter().map(go_syntax).collect();
            format!("[]interface {{}}{{{}}}", inner.join(", "))
        }
        Value::Object(fields) => {
            let mut keys: Vec<&String> = fields.keys().collect();
            keys.sort();
            let inner: Vec<String> = keys
                .into_iter()
                .map(|k| format!("{}:{}", go_quote(k), go_syntax(&fields[k])))
                .collect();
            format!("map[string]interface {{}}{{{}}}", inner.join(", "))
        }
    }
}

/// Go's `json.Marshal` of a decoded JSON value: sorted keys, HTML-safe string escapes.
fn go_json(value: &Value) -> String {
    match value {
        Value::Null => "null".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Number(number) => match GoNumber::from_json(number) {
            GoNumber::Int(i) => i.to_string(),
            GoNumber::Float(f) => go_json_float(f),
        },
        Value::String(text) => go_json_string(text),
        Value::Array(items) => {
            let inner: Vec<String> = items.iter().map(go_json).collect();
            format!("[{}]", inner.join(","))
        }
        Value::Object(fields) => {
            let mut keys: Vec<&String> = fields.keys().collect();
            keys.sort();
            let inner: Vec<String> = keys
                .into_iter()
                .map(|k| format!("{}:{}", go_json_string(k), go_json(&fields[k])))
                .collect();
            format!("{{{}}}", inner.join(","))
        }
    }
}

fn go_json_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", u32::from(c)));
            }
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Go's `%q` (`strconv.Quote`): double quotes, backslash escapes for quotes, backslashes and
/// control characters; printable Unicode kept as is.
fn go_quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{07}' => out.push_str("\\a"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{0b}' => out.push_str("\\v"),
            c if u32::from(c) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\x{:02x}", u32::from(c)));
            }
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

// ---------------------------------------------------------------------------------------------
// Paths
// ---------------------------------------------------------------------------------------------

fn child_path(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_string()
    } else {
        format!("{parent}.{name}")
    }
}

fn index_path(parent: &str, index: usize) -> String {
    format!("{parent}[{index}]")
}

fn key_path(parent: &str, key: &str) -> String {
    format!("{parent}[{key}]")
}

/// An empty path is the object itself, which the server prints as `<nil>`.
fn shown(path: &str) -> &str {
    if path.is_empty() { NIL_FIELD } else { path }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A trimmed-down App schema with one field per check. Built in pieces because one `json!`
    /// this deep exceeds the macro recursion limit.
    fn app_schema() -> Value {
        let mut spec = json!({
            "replicas": {"type": "integer", "format": "int32", "minimum": 0, "maximum": 100},
            "minReady": {"type": "integer", "minimum": 0, "exclusiveMinimum": true},
            "surge": {"type": "integer", "maximum": 100, "exclusiveMaximum": true},
            "batch": {"type": "integer", "multipleOf": 5},
            "weight": {"type": "number", "maximum": 0.5},
            "deletionPolicy": {"type": "string", "enum": ["Delete", "Retain"]},
            "cpu": {"type": "integer", "enum": [256, 512, 1024]},
            "hostname": {"type": "string", "maxLength": 253, "pattern": "^[a-z0-9.-]+$"},
            "code": {"type": "string", "maxLength": 3},
            "region": {"type": "string", "minLength": 1},
            "port": {"x-kubernetes-int-or-string": true},
            "note": {"type": "string", "nullable": true},
            "paused": {"type": "boolean"},
            "tags": {"type": "object", "additionalProperties": {"type": "string", "maxLength": 8}}
        });
        spec["container"] = json!({
            "type": "object",
            "required": ["image"],
            "properties": {
                "image": {"type": "string"},
                "port": {"type": "integer", "minimum": 1, "maximum": 65535}
            }
        });
        spec["subnets"] = json!({
            "type": "array",
            "minItems": 1,
            "maxItems": 10,
            "x-kubernetes-list-type": "set",
            "items": {"type": "string"}
        });
        spec["env"] = json!({
            "type": "array",
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["name"],
            "items": {
                "type": "object",
                "required": ["name"],
                "properties": {"name": {"type": "string"}, "value": {"type": "string"}}
            }
        });
        let step = json!({
            "type": "object",
            "properties": {
                "setWeight": {"type": "integer", "minimum": 0, "maximum": 100},
                "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}
            }
        });
        let canary =
            json!({"type": "object", "properties": {"steps": {"type": "array", "items": step}}});
        spec["strategy"] = json!({"type": "object", "properties": {"canary": canary}});
        json!({
            "type": "object",
            "required": ["spec"],
            "properties": {
                "apiVersion": {"type": "string"},
                "kind": {"type": "string"},
                "metadata": {"type": "object"},
                "spec": {"type": "object", "required": ["container"], "properties": spec}
            }
        })
    }

    /// An App whose spec is a valid one with `fields` set on top.
    fn app_with(fields: Value) -> Value {
        let mut spec = json!({"container": {"image": "web:1"}});
        if let (Some(spec), Some(fields)) = (spec.as_object_mut(), fields.as_object()) {
            spec.extend(fields.clone());
        }
        json!({"apiVersion": "cygni.io/v1alpha1", "kind": "App", "metadata": {"name": "web"}, "spec": spec})
    }

    fn lines(errors: &[FieldError]) -> Vec<String> {
        errors.iter().map(ToString::to_string).collect()
    }

    fn structure(fields: Value) -> Vec<String> {
        lines(&validate_structure(&app_schema(), &app_with(fields)))
    }

    /// A schema with CEL rules on an object, a scalar, a map and a transition rule.
    fn ruled_schema() -> Value {
        json!({
            "type": "object",
            "properties": {
                "metadata": {"type": "object"},
                "spec": {
                    "type": "object",
                    "x-kubernetes-validations": [
                        {"rule": "self.minReplicas <= self.maxReplicas", "message": "minReplicas must not exceed maxReplicas"}
                    ],
                    "properties": {
                        "minReplicas": {"type": "integer", "minimum": 0},
                        "maxReplicas": {"type": "integer"},
                        "name": {"type": "string", "x-kubernetes-validations": [{"rule": "self.matches('^[a-z]+$')"}]},
                        "region": {
                            "type": "string",
                            "x-kubernetes-validations": [{"rule": "self == oldSelf", "message": "region is immutable"}]
                        },
                        "limits": {
                            "type": "object",
                            "additionalProperties": {
                                "type": "integer",
                                "x-kubernetes-validations": [{"rule": "self > 0", "message": "must be positive"}]
                            }
                        },
                        "type": {"type": "string", "enum": ["web", "worker"]}
                    }
                }
            }
        })
    }

    fn ruled(spec: Value) -> Value {
        json!({"metadata": {"name": "web"}, "spec": spec})
    }

    // --- schema checks ---------------------------------------------------------------------

    #[test]
    fn valid_object_has_no_errors() {
        let object = app_with(json!({
            "replicas": 3, "deletionPolicy": "Retain", "hostname": "web.example.com",
            "port": "http", "subnets": ["subnet-1"], "tags": {"team": "web"},
            "env": [{"name": "A", "value": "1"}, {"name": "B"}]
        }));
        assert_eq!(validate(&app_schema(), &object, None), vec![]);
    }

    #[test]
    fn missing_required_field_is_reported_with_its_path() {
        let object = json!({"spec": {"container": {}}});
        let errors = validate_structure(&app_schema(), &object);
        assert_eq!(lines(&errors), ["spec.container.image: Required value"]);
        assert_eq!(errors[0].kind, FieldErrorKind::Required);
    }

    #[test]
    fn required_field_with_a_default_counts_as_set() {
        let mut schema = app_schema();
        schema["properties"]["spec"]["properties"]["container"]["properties"]["image"]["default"] =
            json!("web:latest");
        let object = json!({"spec": {"container": {}}});
        assert_eq!(validate_structure(&schema, &object), vec![]);
    }

    #[test]
    fn wrong_type_is_reported_with_the_type_it_got() {
        let errors = validate_structure(&app_schema(), &app_with(json!({"replicas": "three"})));
        assert_eq!(
            lines(&errors),
            [
                r#"spec.replicas: Invalid value: "string": spec.replicas in body must be of type integer: "string""#
            ]
        );
        assert_eq!(errors[0].kind, FieldErrorKind::TypeInvalid);
    }

    #[test]
    fn whole_float_is_accepted_as_an_integer() {
        assert_eq!(structure(json!({"replicas": 3.0})), Vec::<String>::new());
    }

    #[test]
    fn fractional_number_is_not_an_integer() {
        assert_eq!(
            structure(json!({"replicas": 2.5})),
            [
                r#"spec.replicas: Invalid value: "number": spec.replicas in body must be of type integer: "number""#
            ]
        );
    }

    #[test]
    fn null_property_that_is_not_nullable_is_dropped_before_validation() {
        let object = json!({"spec": {"container": {"image": null}}});
        assert_eq!(
            lines(&validate_structure(&app_schema(), &object)),
            ["spec.container.image: Required value"]
        );
    }

    #[test]
    fn nullable_property_accepts_null() {
        assert_eq!(structure(json!({"note": null})), Vec::<String>::new());
    }

    #[test]
    fn null_list_item_is_reported_as_type_null() {
        assert_eq!(
            structure(json!({"subnets": ["subnet-1", null]})),
            [
                r#"spec.subnets[1]: Invalid value: "null": spec.subnets[1] in body must be of type string: "null""#
            ]
        );
    }

    #[test]
    fn int_or_string_accepts_both_and_names_both_otherwise() {
        assert_eq!(structure(json!({"port": 8080})), Vec::<String>::new());
        assert_eq!(
            structure(json!({"port": true})),
            [
                r#"spec.port: Invalid value: "boolean": spec.port in body must be of type integer,string: "boolean""#
            ]
        );
    }

    #[test]
    fn value_outside_the_enum_lists_the_supported_values() {
        let errors = validate_structure(&app_schema(), &app_with(json!({"deletionPolicy": "Foo"})));
        assert_eq!(
            lines(&errors),
            [
                r#"spec.deletionPolicy: Unsupported value: "Foo": supported values: "Delete", "Retain""#
            ]
        );
        assert_eq!(errors[0].kind, FieldErrorKind::NotSupported);
    }

    #[test]
    fn numeric_enum_values_are_quoted_in_the_supported_list() {
        assert_eq!(
            structure(json!({"cpu": 300})),
            [r#"spec.cpu: Unsupported value: 300: supported values: "256", "512", "1024""#]
        );
    }

    #[test]
    fn value_below_minimum_is_reported_with_the_bound() {
        assert_eq!(
            structure(json!({"container": {"image": "web:1", "port": 0}})),
            [
                "spec.container.port: Invalid value: 0: spec.container.port in body should be greater than or equal to 1"
            ]
        );
    }

    #[test]
    fn value_above_maximum_is_reported_with_the_bound() {
        let errors = validate_structure(&app_schema(), &app_with(json!({"replicas": 200})));
        assert_eq!(
            lines(&errors),
            [
                "spec.replicas: Invalid value: 200: spec.replicas in body should be less than or equal to 100"
            ]
        );
        assert_eq!(errors[0].kind, FieldErrorKind::Invalid);
    }

    #[test]
    fn exclusive_bounds_use_the_strict_wording() {
        assert_eq!(
            structure(json!({"minReady": 0, "surge": 100})),
            [
                "spec.minReady: Invalid value: 0: spec.minReady in body should be greater than 0",
                "spec.surge: Invalid value: 100: spec.surge in body should be less than 100",
            ]
        );
    }

    #[test]
    fn float_values_and_bounds_print_as_go_prints_them() {
        assert_eq!(
            structure(json!({"weight": 0.75})),
            [
                "spec.weight: Invalid value: 0.75: spec.weight in body should be less than or equal to 0.5"
            ]
        );
    }

    #[test]
    fn value_that_is_not_a_multiple_is_reported() {
        assert_eq!(
            structure(json!({"batch": 7})),
            ["spec.batch: Invalid value: 7: spec.batch in body should be a multiple of 5"]
        );
    }

    #[test]
    fn int32_format_is_ignored() {
        let mut schema = app_schema();
        schema["properties"]["spec"]["properties"]["replicas"]["maximum"] = json!(1e12);
        let object = app_with(json!({"replicas": 5_000_000_000_i64}));
        assert_eq!(validate_structure(&schema, &object), vec![]);
    }

    #[test]
    fn string_over_max_length_is_too_long_without_its_value() {
        let errors = validate_structure(
            &app_schema(),
            &app_with(json!({"hostname": "a".repeat(254)})),
        );
        assert_eq!(
            lines(&errors),
            ["spec.hostname: Too long: may not be more than 253 bytes"]
        );
        assert_eq!(errors[0].kind, FieldErrorKind::TooLong);
    }

    #[test]
    fn max_length_counts_characters_not_bytes() {
        assert_eq!(structure(json!({"code": "äöü"})), Vec::<String>::new());
    }

    #[test]
    fn string_under_min_length_is_reported_with_its_value() {
        assert_eq!(
            structure(json!({"region": ""})),
            [
                r#"spec.region: Invalid value: "": spec.region in body should be at least 1 chars long"#
            ]
        );
    }

    #[test]
    fn string_not_matching_the_pattern_is_reported_with_the_pattern() {
        assert_eq!(
            structure(json!({"hostname": "Bad_Host"})),
            [
                r#"spec.hostname: Invalid value: "Bad_Host": spec.hostname in body should match '^[a-z0-9.-]+$'"#
            ]
        );
    }

    #[test]
    fn list_over_max_items_is_too_many() {
        let subnets: Vec<String> = (0..12).map(|i| format!("subnet-{i}")).collect();
        let errors = validate_structure(&app_schema(), &app_with(json!({"subnets": subnets})));
        assert_eq!(
            lines(&errors),
            ["spec.subnets: Too many: 12: must have at most 10 items"]
        );
        assert_eq!(errors[0].kind, FieldErrorKind::TooMany);
    }

    #[test]
    fn list_under_min_items_is_reported_with_its_length() {
        assert_eq!(
            structure(json!({"subnets": []})),
            ["spec.subnets: Invalid value: 0: spec.subnets in body should have at least 1 items"]
        );
    }

    #[test]
    fn list_item_errors_use_bracketed_indices() {
        let steps = json!({"canary": {"steps": [{"setWeight": 10}, {"setWeight": 150}]}});
        assert_eq!(
            structure(json!({"strategy": steps})),
            [
                "spec.strategy.canary.steps[1].setWeight: Invalid value: 150: spec.strategy.canary.steps[1].setWeight in body should be less than or equal to 100"
            ]
        );
    }

    #[test]
    fn map_values_are_validated_under_dotted_keys() {
        assert_eq!(
            structure(json!({"tags": {"team": "platform-engineering"}})),
            ["spec.tags.team: Too long: may not be more than 8 bytes"]
        );
    }

    #[test]
    fn root_metadata_is_only_type_checked() {
        let mut object = app_with(json!({}));
        object["metadata"] = json!({"name": 42});
        assert_eq!(validate_structure(&app_schema(), &object), vec![]);
        object["metadata"] = json!("web");
        assert_eq!(
            lines(&validate_structure(&app_schema(), &object)),
            [
                r#"metadata: Invalid value: "string": metadata in body must be of type object: "string""#
            ]
        );
    }

    #[test]
    fn repeated_set_item_is_a_duplicate_at_its_second_position() {
        let errors = validate_structure(
            &app_schema(),
            &app_with(json!({"subnets": ["subnet-1", "subnet-2", "subnet-1", "subnet-1"]})),
        );
        assert_eq!(
            lines(&errors),
            [r#"spec.subnets[2]: Duplicate value: "subnet-1""#]
        );
        assert_eq!(errors[0].kind, FieldErrorKind::Duplicate);
    }

    #[test]
    fn repeated_map_list_key_is_a_duplicate_showing_the_key() {
        let env = json!([{"name": "A", "value": "1"}, {"name": "A", "value": "2"}]);
        let object = app_with(json!({"env": env}));
        assert_eq!(
            lines(&validate_structure(&app_schema(), &object)),
            [r#"spec.env[1]: Duplicate value: {"name":"A"}"#]
        );
        assert_eq!(
            lines(&validate_for(
                ServerRelease::V1_33,
                &app_schema(),
                &object,
                None
            )),
            [r#"spec.env[1]: Duplicate value: map[string]interface {}{"name":"A"}"#]
        );
    }

    #[test]
    fn duplicate_already_in_the_old_object_is_not_reported_on_update() {
        let old = app_with(json!({"subnets": ["subnet-1", "subnet-1"]}));
        let new = app_with(json!({"subnets": ["subnet-1", "subnet-1"], "replicas": 2}));
        assert_eq!(validate(&app_schema(), &new, Some(&old)), vec![]);
    }

    #[test]
    fn new_duplicate_is_reported_on_update() {
        let old = app_with(json!({"subnets": ["subnet-1"]}));
        let new = app_with(json!({"subnets": ["subnet-1", "subnet-1"]}));
        assert_eq!(
            lines(&validate(&app_schema(), &new, Some(&old))),
            [r#"spec.subnets[1]: Duplicate value: "subnet-1""#]
        );
    }

    // --- unknown fields --------------------------------------------------------------------

    #[test]
    fn unknown_fields_are_listed_as_sorted_dotted_and_indexed_paths() {
        let object = app_with(json!({
            "foo": 1,
            "strategy": {"canary": {"steps": [{"setWeight": 10, "bar": true}]}}
        }));
        assert_eq!(
            unknown_fields(&app_schema(), &object),
            ["spec.foo", "spec.strategy.canary.steps[0].bar"]
        );
    }

    #[test]
    fn fields_under_preserve_unknown_fields_are_not_unknown() {
        let steps = json!([{"extra": {"anything": {"goes": [1, 2]}}}]);
        let object = app_with(json!({"strategy": {"canary": {"steps": steps}}}));
        assert_eq!(unknown_fields(&app_schema(), &object), Vec::<String>::new());
    }

    #[test]
    fn unknown_fields_skip_type_and_object_meta_at_the_root() {
        let mut object = app_with(json!({}));
        object["metadata"]["labels"] = json!({"app": "web"});
        object["status"] = json!({"phase": "Ready"});
        assert_eq!(unknown_fields(&app_schema(), &object), ["status"]);
    }

    // --- CEL rules -------------------------------------------------------------------------

    #[test]
    fn failed_rule_on_an_object_prints_its_message_without_a_value() {
        let object = ruled(json!({"minReplicas": 5, "maxReplicas": 2}));
        let errors = validate_rules(&ruled_schema(), &object, None);
        assert_eq!(
            lines(&errors),
            ["spec: Invalid value: minReplicas must not exceed maxReplicas"]
        );
        assert_eq!(errors[0].kind, FieldErrorKind::Invalid);
    }

    #[test]
    fn failed_rule_before_1_35_prints_the_schema_type_as_the_value() {
        let object = ruled(json!({"minReplicas": 5, "maxReplicas": 2}));
        assert_eq!(
            lines(&validate_for(
                ServerRelease::V1_34,
                &ruled_schema(),
                &object,
                None
            )),
            [r#"spec: Invalid value: "object": minReplicas must not exceed maxReplicas"#]
        );
    }

    #[test]
    fn failed_rule_without_a_message_prints_the_rule_and_the_scalar_value() {
        let object = ruled(json!({"minReplicas": 1, "maxReplicas": 2, "name": "Web"}));
        assert_eq!(
            lines(&validate_rules(&ruled_schema(), &object, None)),
            [r#"spec.name: Invalid value: "Web": failed rule: self.matches('^[a-z]+$')"#]
        );
    }

    #[test]
    fn rule_field_path_moves_the_error_to_that_field() {
        let mut schema = ruled_schema();
        schema["properties"]["spec"]["x-kubernetes-validations"][0]["fieldPath"] =
            json!(".maxReplicas");
        let object = ruled(json!({"minReplicas": 5, "maxReplicas": 2}));
        assert_eq!(
            lines(&validate_rules(&schema, &object, None)),
            ["spec.maxReplicas: Invalid value: minReplicas must not exceed maxReplicas"]
        );
    }

    #[test]
    fn rule_reason_forbidden_is_worded_as_forbidden() {
        let mut schema = ruled_schema();
        schema["properties"]["spec"]["x-kubernetes-validations"][0]["reason"] =
            json!("FieldValueForbidden");
        let errors = validate_rules(
            &schema,
            &ruled(json!({"minReplicas": 5, "maxReplicas": 2})),
            None,
        );
        assert_eq!(
            lines(&errors),
            ["spec: Forbidden: minReplicas must not exceed maxReplicas"]
        );
        assert_eq!(errors[0].kind, FieldErrorKind::Forbidden);
    }

    #[test]
    fn rule_on_a_map_value_is_addressed_with_brackets() {
        let object = ruled(json!({"minReplicas": 1, "maxReplicas": 2, "limits": {"cpu": 0}}));
        assert_eq!(
            lines(&validate_rules(&ruled_schema(), &object, None)),
            ["spec.limits[cpu]: Invalid value: 0: must be positive"]
        );
    }

    #[test]
    fn transition_rule_rejects_a_change_on_update() {
        let old = ruled(json!({"minReplicas": 1, "maxReplicas": 2, "region": "eu-west-1"}));
        let new = ruled(json!({"minReplicas": 1, "maxReplicas": 2, "region": "us-east-1"}));
        assert_eq!(
            lines(&validate_rules(&ruled_schema(), &new, Some(&old))),
            [r#"spec.region: Invalid value: "us-east-1": region is immutable"#]
        );
    }

    #[test]
    fn transition_rule_is_not_evaluated_on_create() {
        let object = ruled(json!({"minReplicas": 1, "maxReplicas": 2, "region": "us-east-1"}));
        assert_eq!(validate_rules(&ruled_schema(), &object, None), vec![]);
    }

    #[test]
    fn unchanged_value_failing_a_rule_is_ratcheted_on_update() {
        let old = ruled(json!({"minReplicas": 1, "maxReplicas": 2, "name": "Web"}));
        let new = ruled(json!({"minReplicas": 1, "maxReplicas": 3, "name": "Web"}));
        assert_eq!(validate_rules(&ruled_schema(), &new, Some(&old)), vec![]);
    }

    #[test]
    fn rule_that_cannot_be_evaluated_names_the_error_and_the_rule() {
        let object = ruled(json!({"minReplicas": 1}));
        assert_eq!(
            lines(&validate_rules(&ruled_schema(), &object, None)),
            [
                r#"spec: Invalid value: "object": no such key: maxReplicas evaluating rule: minReplicas must not exceed maxReplicas"#
            ]
        );
    }

    // --- the whole pipeline ----------------------------------------------------------------

    #[test]
    fn blocking_schema_error_skips_the_rules_and_adds_a_note() {
        let object = ruled(json!({"minReplicas": 5, "maxReplicas": 2, "type": "cron"}));
        assert_eq!(
            lines(&validate(&ruled_schema(), &object, None)),
            [
                r#"spec.type: Unsupported value: "cron": supported values: "web", "worker""#,
                "<nil>: Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation",
            ]
        );
    }

    #[test]
    fn skipped_rules_note_quotes_null_on_1_33() {
        let object = ruled(json!({"minReplicas": 5, "maxReplicas": 2, "type": "cron"}));
        let errors = validate_for(ServerRelease::V1_33, &ruled_schema(), &object, None);
        assert_eq!(
            errors[1].message,
            r#"Invalid value: "null": some validation rules were not checked because the object was invalid; correct the existing errors to complete validation"#
        );
    }

    #[test]
    fn non_blocking_schema_error_still_runs_the_rules() {
        let object = ruled(json!({"minReplicas": -1, "maxReplicas": -2}));
        assert_eq!(
            lines(&validate(&ruled_schema(), &object, None)),
            [
                "spec.minReplicas: Invalid value: -1: spec.minReplicas in body should be greater than or equal to 0",
                "spec: Invalid value: minReplicas must not exceed maxReplicas",
            ]
        );
    }

    #[test]
    fn schema_without_rules_gets_no_skipped_rules_note() {
        let object = app_with(json!({"replicas": "three"}));
        assert_eq!(validate(&app_schema(), &object, None).len(), 1);
    }

    #[test]
    fn unchanged_invalid_field_is_ratcheted_on_update() {
        let old = app_with(json!({"replicas": 200}));
        let new = app_with(json!({"replicas": 200, "paused": true}));
        assert_eq!(validate(&app_schema(), &new, Some(&old)), vec![]);
    }

    #[test]
    fn changed_invalid_field_is_reported_on_update() {
        let old = app_with(json!({"replicas": 200}));
        let new = app_with(json!({"replicas": 300}));
        assert_eq!(
            lines(&validate(&app_schema(), &new, Some(&old))),
            [
                "spec.replicas: Invalid value: 300: spec.replicas in body should be less than or equal to 100"
            ]
        );
    }

    // --- messages --------------------------------------------------------------------------

    fn required(field: &str) -> FieldError {
        FieldError {
            field: field.to_string(),
            kind: FieldErrorKind::Required,
            message: "Required value".to_string(),
        }
    }

    #[test]
    fn invalid_message_with_one_error_has_no_brackets() {
        assert_eq!(
            invalid_message("App", "cygni.io", "web", &[required("spec.a")]),
            r#"App.cygni.io "web" is invalid: spec.a: Required value"#
        );
    }

    #[test]
    fn invalid_message_with_several_errors_brackets_them() {
        assert_eq!(
            invalid_message(
                "App",
                "cygni.io",
                "web",
                &[required("spec.a"), required("spec.b")]
            ),
            r#"App.cygni.io "web" is invalid: [spec.a: Required value, spec.b: Required value]"#
        );
    }

    #[test]
    fn invalid_message_lists_identical_errors_once() {
        assert_eq!(
            invalid_message(
                "App",
                "cygni.io",
                "web",
                &[required("spec.a"), required("spec.a")]
            ),
            r#"App.cygni.io "web" is invalid: spec.a: Required value"#
        );
    }

    #[test]
    fn invalid_message_for_the_core_group_names_the_kind_alone() {
        assert_eq!(
            invalid_message("Secret", "", "db", &[required("data")]),
            r#"Secret "db" is invalid: data: Required value"#
        );
    }

    #[test]
    fn display_prints_the_field_then_the_message() {
        assert_eq!(required("spec.a").to_string(), "spec.a: Required value");
    }

    #[test]
    fn reasons_are_the_server_cause_types() {
        let kinds = [
            (FieldErrorKind::Required, "FieldValueRequired"),
            (FieldErrorKind::Invalid, "FieldValueInvalid"),
            (FieldErrorKind::NotSupported, "FieldValueNotSupported"),
            (FieldErrorKind::TooLong, "FieldValueTooLong"),
            (FieldErrorKind::TooMany, "FieldValueTooMany"),
            (FieldErrorKind::TypeInvalid, "FieldValueTypeInvalid"),
            (FieldErrorKind::Forbidden, "FieldValueForbidden"),
            (FieldErrorKind::Duplicate, "FieldValueDuplicate"),
        ];
        for (kind, reason) in kinds {
            assert_eq!(kind.reason(), reason);
        }
    }

    #[test]
    fn floats_print_like_go_verb_v() {
        let cases = [
            (1.0, "1"),
            (0.5, "0.5"),
            (-2.25, "-2.25"),
            (123_456.0, "123456"),
            (1e6, "1e+06"),
            (1.5e-7, "1.5e-07"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
        ];
        for (value, printed) in cases {
            assert_eq!(go_float(value), printed, "{value}");
        }
    }

    #[test]
    fn floats_in_json_print_like_go_encoding_json() {
        let cases = [
            (0.5, "0.5"),
            (1e20, "100000000000000000000"),
            (1e21, "1e+21"),
            (1e-7, "1e-7"),
        ];
        for (value, printed) in cases {
            assert_eq!(go_json_float(value), printed, "{value}");
        }
    }

    #[test]
    fn strings_are_quoted_like_go_verb_q() {
        assert_eq!(go_quote("a\"b\\c\n\u{1}é"), r#""a\"b\\c\n\x01é""#);
    }
}
