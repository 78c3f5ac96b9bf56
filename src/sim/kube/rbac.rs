//! Role-based access control as the API server's RBAC authorizer applies it: Roles,
//! ClusterRoles and their bindings (`rbac.authorization.k8s.io/v1`, defaulted and validated as
//! the real server does), and `authorization.k8s.io/v1` SubjectAccessReviews answered from them
//! with the real authorizer's rule matching and `status.reason` wording
//! (`RBAC: allowed by ClusterRoleBinding "x" of ClusterRole "y" to ServiceAccount "name/namespace"`).
//!
//! Differences from a real server: the server itself authorizes nothing (every request is
//! allowed, as for a cluster administrator), so neither privilege-escalation checks on writing
//! roles nor the bootstrap roles exist; aggregated ClusterRoles (`aggregationRule`) keep the
//! rules they were written with, since no controller fills them in; only the RBAC authorizer
//! answers reviews (there is no Node or webhook authorizer, and `system:masters` has no special
//! standing); tables of bindings show no `Role` column.

use super::error::{ApiError, go_quote};
use super::registry::ResourceType;
use super::store::Store;
use super::validation::{FieldError, FieldErrorKind};
use serde_json::{Value, json};

/// API group of the RBAC kinds.
pub const RBAC_GROUP: &str = "rbac.authorization.k8s.io";
/// API group of access reviews.
pub const AUTHORIZATION_GROUP: &str = "authorization.k8s.io";
/// Storage bucket of Roles.
pub const ROLES: &str = "rbac.authorization.k8s.io/roles";
/// Storage bucket of RoleBindings.
pub const ROLE_BINDINGS: &str = "rbac.authorization.k8s.io/rolebindings";
/// Storage bucket of ClusterRoles.
pub const CLUSTER_ROLES: &str = "rbac.authorization.k8s.io/clusterroles";
/// Storage bucket of ClusterRoleBindings.
pub const CLUSTER_ROLE_BINDINGS: &str = "rbac.authorization.k8s.io/clusterrolebindings";
/// Storage bucket name of SubjectAccessReviews (never written: a review is answered, not kept).
pub const SUBJECT_ACCESS_REVIEWS: &str = "authorization.k8s.io/subjectaccessreviews";

fn is_rbac(resource: &ResourceType) -> bool {
    resource.group == RBAC_GROUP
}

/// Whether the resource is SubjectAccessReview, which only answers `create`.
pub fn is_access_review(resource: &ResourceType) -> bool {
    resource.store == SUBJECT_ACCESS_REVIEWS
}

/// The v1 defaults of the RBAC kinds: a subject's `apiGroup` (`""` for a ServiceAccount, the RBAC
/// group for a User or Group) and a binding's `roleRef.apiGroup`.
pub fn apply_defaults(resource: &ResourceType, object: &mut Value) {
    if !is_rbac(resource) || !resource.kind.ends_with("Binding") {
        return;
    }
    if let Some(role_ref) = object.get_mut("roleRef").and_then(Value::as_object_mut) {
        let empty = role_ref
            .get("apiGroup")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty);
        if empty {
            role_ref.insert("apiGroup".into(), json!(RBAC_GROUP));
        }
    }
    if let Some(subjects) = object.get_mut("subjects").and_then(Value::as_array_mut) {
        for subject in subjects.iter_mut().filter_map(Value::as_object_mut) {
            let empty = subject
                .get("apiGroup")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty);
            let kind = subject.get("kind").and_then(Value::as_str).unwrap_or("");
            if empty && matches!(kind, "User" | "Group") {
                subject.insert("apiGroup".into(), json!(RBAC_GROUP));
            }
        }
    }
}

fn field(path: String, kind: FieldErrorKind, detail: &str) -> FieldError {
    let head = match kind {
        FieldErrorKind::Required => "Required value",
        _ => "Invalid value",
    };
    FieldError {
        field: path,
        kind,
        message: if detail.is_empty() {
            head.to_string()
        } else {
            format!("{head}: {detail}")
        },
    }
}

fn not_supported(path: String, value: &str, supported: &[&str]) -> FieldError {
    let listed: Vec<String> = supported.iter().map(|s| go_quote(s)).collect();
    FieldError {
        field: path,
        kind: FieldErrorKind::NotSupported,
        message: format!(
            "Unsupported value: {}: supported values: {}",
            go_quote(value),
            listed.join(", ")
        ),
    }
}

fn strings(value: &Value) -> Vec<&str> {
    value
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

fn text<'v>(value: &'v Value, key: &str) -> &'v str {
    value.get(key).and_then(Value::as_str).unwrap_or("")
}

/// The real server's validation of the RBAC kinds (`pkg/apis/rbac/validation`): rules need verbs
/// and either resources with API groups or non-resource URLs; a binding's `roleRef` names a
/// Role or ClusterRole of the RBAC group and never changes; subjects are ServiceAccounts (a
/// namespace is required in a ClusterRoleBinding), Users or Groups.
pub fn validate(resource: &ResourceType, new: &Value, old: Option<&Value>) -> Vec<FieldError> {
    if !is_rbac(resource) {
        return Vec::new();
    }
    let mut errors = Vec::new();
    let namespaced = resource.namespaced;
    match resource.kind.as_str() {
        "Role" | "ClusterRole" => {
            for (i, rule) in new
                .get("rules")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .enumerate()
            {
                let path = format!("rules[{i}]");
                if strings(&rule["verbs"]).is_empty() {
                    errors.push(field(
                        format!("{path}.verbs"),
                        FieldErrorKind::Required,
                        "verbs must contain at least one value",
                    ));
                }
                let urls = strings(&rule["nonResourceURLs"]);
                if !urls.is_empty() {
                    let shown = format!(
                        "[]string{{{}}}",
                        urls.iter()
                            .map(|u| go_quote(u))
                            .collect::<Vec<_>>()
                            .join(", ")
                    );
                    if namespaced {
                        errors.push(field(
                            format!("{path}.nonResourceURLs"),
                            FieldErrorKind::Invalid,
                            &format!("{shown}: namespaced rules cannot apply to non-resource URLs"),
                        ));
                    }
                    if !strings(&rule["apiGroups"]).is_empty()
                        || !strings(&rule["resources"]).is_empty()
                        || !strings(&rule["resourceNames"]).is_empty()
                    {
                        errors.push(field(
                            format!("{path}.nonResourceURLs"),
                            FieldErrorKind::Invalid,
                            &format!(
                                "{shown}: rules cannot apply to both regular resources and non-resource URLs"
                            ),
                        ));
                    }
                    continue;
                }
                if rule
                    .get("apiGroups")
                    .and_then(Value::as_array)
                    .is_none_or(Vec::is_empty)
                {
                    errors.push(field(
                        format!("{path}.apiGroups"),
                        FieldErrorKind::Required,
                        "resource rules must supply at least one api group",
                    ));
                }
                if strings(&rule["resources"]).is_empty() {
                    errors.push(field(
                        format!("{path}.resources"),
                        FieldErrorKind::Required,
                        "resource rules must supply at least one resource",
                    ));
                }
            }
        }
        "RoleBinding" | "ClusterRoleBinding" => {
            let role_ref = &new["roleRef"];
            let group = text(role_ref, "apiGroup");
            if group != RBAC_GROUP {
                errors.push(not_supported(
                    "roleRef.apiGroup".into(),
                    group,
                    &[RBAC_GROUP],
                ));
            }
            let kind = text(role_ref, "kind");
            let kinds: &[&str] = if namespaced {
                &["Role", "ClusterRole"]
            } else {
                &["ClusterRole"]
            };
            if !kinds.contains(&kind) {
                errors.push(not_supported("roleRef.kind".into(), kind, kinds));
            }
            if text(role_ref, "name").is_empty() {
                errors.push(field("roleRef.name".into(), FieldErrorKind::Required, ""));
            }
            for (i, subject) in new
                .get("subjects")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .enumerate()
            {
                errors.extend(subject_errors(
                    subject,
                    namespaced,
                    &format!("subjects[{i}]"),
                ));
            }
            if let Some(old) = old
                && old.get("roleRef") != new.get("roleRef")
            {
                errors.push(FieldError {
                    field: "roleRef".into(),
                    kind: FieldErrorKind::Invalid,
                    message: format!(
                        "Invalid value: rbac.RoleRef{{APIGroup:{}, Kind:{}, Name:{}}}: cannot change roleRef",
                        go_quote(group),
                        go_quote(kind),
                        go_quote(text(role_ref, "name"))
                    ),
                });
            }
        }
        _ => {}
    }
    errors
}

fn subject_errors(subject: &Value, namespaced: bool, path: &str) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let name = text(subject, "name");
    if name.is_empty() {
        errors.push(field(format!("{path}.name"), FieldErrorKind::Required, ""));
    }
    let group = text(subject, "apiGroup");
    match text(subject, "kind") {
        "ServiceAccount" => {
            if !group.is_empty() {
                errors.push(not_supported(format!("{path}.apiGroup"), group, &[""]));
            }
            if !namespaced && text(subject, "namespace").is_empty() {
                errors.push(field(
                    format!("{path}.namespace"),
                    FieldErrorKind::Required,
                    "",
                ));
            }
        }
        "User" | "Group" => {
            if group != RBAC_GROUP {
                errors.push(not_supported(
                    format!("{path}.apiGroup"),
                    group,
                    &[RBAC_GROUP],
                ));
            }
        }
        other => errors.push(not_supported(
            format!("{path}.kind"),
            other,
            &["ServiceAccount", "User", "Group"],
        )),
    }
    errors
}

/// What a review asks: may this user (with these groups) do this?
struct Request<'a> {
    user: &'a str,
    groups: Vec<&'a str>,
    namespace: &'a str,
    verb: &'a str,
    group: &'a str,
    resource: &'a str,
    subresource: &'a str,
    name: &'a str,
    /// A non-resource URL (`/healthz`), when the review is about one.
    path: Option<&'a str>,
}

fn matches_any(values: &[&str], wanted: &str) -> bool {
    values.iter().any(|v| *v == "*" || *v == wanted)
}

/// The RBAC authorizer's `RuleAllows`.
fn rule_allows(request: &Request<'_>, rule: &Value) -> bool {
    if let Some(path) = request.path {
        if !matches_any(&strings(&rule["verbs"]), request.verb) {
            return false;
        }
        return strings(&rule["nonResourceURLs"]).iter().any(|url| {
            *url == "*"
                || *url == path
                || url
                    .strip_suffix('*')
                    .is_some_and(|prefix| path.starts_with(prefix))
        });
    }
    let combined = if request.subresource.is_empty() {
        request.resource.to_string()
    } else {
        format!("{}/{}", request.resource, request.subresource)
    };
    let resource_matches = strings(&rule["resources"]).iter().any(|r| {
        *r == "*"
            || *r == combined
            || (!request.subresource.is_empty()
                && r.len() == request.subresource.len() + 2
                && r.starts_with("*/")
                && r.ends_with(request.subresource))
    });
    let names = strings(&rule["resourceNames"]);
    matches_any(&strings(&rule["verbs"]), request.verb)
        && matches_any(&strings(&rule["apiGroups"]), request.group)
        && resource_matches
        && (names.is_empty() || names.contains(&request.name))
}

/// Whether a binding's subject is the requesting user (`appliesToUser`): a ServiceAccount
/// subject without a namespace takes the binding's.
fn applies_to(request: &Request<'_>, subject: &Value, binding_namespace: &str) -> bool {
    let name = text(subject, "name");
    match text(subject, "kind") {
        "User" => request.user == name,
        "Group" => request.groups.contains(&name),
        "ServiceAccount" => {
            let namespace = match text(subject, "namespace") {
                "" => binding_namespace,
                n => n,
            };
            !namespace.is_empty()
                && request.user == format!("system:serviceaccount:{namespace}:{name}")
        }
        _ => false,
    }
}

/// `describeSubject`: a ServiceAccount as `"name/namespace"`, others by name.
fn describe_subject(subject: &Value, binding_namespace: &str) -> String {
    let kind = text(subject, "kind");
    let name = text(subject, "name");
    if kind == "ServiceAccount" {
        let namespace = match text(subject, "namespace") {
            "" => binding_namespace,
            n => n,
        };
        return format!("{kind} {}", go_quote(&format!("{name}/{namespace}")));
    }
    format!("{kind} {}", go_quote(name))
}

/// The rules a binding's `roleRef` resolves to, or the lister's not-found error.
fn referenced_rules<'s>(
    store: &'s Store,
    role_ref: &Value,
    namespace: &str,
) -> Result<Vec<&'s Value>, String> {
    let name = text(role_ref, "name");
    let (bucket, key, resource) = match text(role_ref, "kind") {
        "Role" => (ROLES, (namespace.to_string(), name.to_string()), "role"),
        _ => (
            CLUSTER_ROLES,
            (String::new(), name.to_string()),
            "clusterrole",
        ),
    };
    let role = store
        .get(bucket, &key)
        .ok_or_else(|| format!("{resource}.{RBAC_GROUP} {} not found", go_quote(name)))?;
    Ok(role
        .get("rules")
        .and_then(Value::as_array)
        .map(|r| r.iter().collect())
        .unwrap_or_default())
}

/// The RBAC authorizer's decision: the allowing binding's description, or the errors met.
fn authorize(store: &Store, request: &Request<'_>) -> (bool, String) {
    let mut errors: Vec<String> = Vec::new();
    for binding in store.list(CLUSTER_ROLE_BINDINGS, None) {
        let Some(subject) = binding
            .get("subjects")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .find(|s| applies_to(request, s, ""))
        else {
            continue;
        };
        match referenced_rules(store, &binding["roleRef"], "") {
            Ok(rules) => {
                if rules.iter().any(|rule| rule_allows(request, rule)) {
                    let role_ref = &binding["roleRef"];
                    return (
                        true,
                        format!(
                            "RBAC: allowed by ClusterRoleBinding {} of {} {} to {}",
                            go_quote(text(&binding["metadata"], "name")),
                            text(role_ref, "kind"),
                            go_quote(text(role_ref, "name")),
                            describe_subject(subject, "")
                        ),
                    );
                }
            }
            Err(e) => errors.push(e),
        }
    }
    if !request.namespace.is_empty() {
        for binding in store.list(ROLE_BINDINGS, Some(request.namespace)) {
            let namespace = text(&binding["metadata"], "namespace");
            let Some(subject) = binding
                .get("subjects")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .find(|s| applies_to(request, s, namespace))
            else {
                continue;
            };
            match referenced_rules(store, &binding["roleRef"], namespace) {
                Ok(rules) => {
                    if rules.iter().any(|rule| rule_allows(request, rule)) {
                        let role_ref = &binding["roleRef"];
                        return (
                            true,
                            format!(
                                "RBAC: allowed by RoleBinding {} of {} {} to {}",
                                go_quote(&format!(
                                    "{}/{namespace}",
                                    text(&binding["metadata"], "name")
                                )),
                                text(role_ref, "kind"),
                                go_quote(text(role_ref, "name")),
                                describe_subject(subject, namespace)
                            ),
                        );
                    }
                }
                Err(e) => errors.push(e),
            }
        }
    }
    let reason = if errors.is_empty() {
        String::new()
    } else if errors.len() == 1 {
        format!("RBAC: {}", errors[0])
    } else {
        format!("RBAC: [{}]", errors.join(", "))
    };
    (false, reason)
}

fn invalid_review(errors: Vec<FieldError>) -> ApiError {
    ApiError::Invalid {
        kind: "SubjectAccessReview".into(),
        group: AUTHORIZATION_GROUP.into(),
        name: String::new(),
        errors,
    }
}

/// Answers a SubjectAccessReview (POST): the review as sent, with `status.allowed` and
/// `status.reason` filled in by the RBAC authorizer. Nothing is stored.
pub fn review(store: &Store, resource: &ResourceType, mut body: Value) -> Result<Value, ApiError> {
    let spec = body.get("spec").cloned().unwrap_or(Value::Null);
    let attributes = spec.get("resourceAttributes");
    let non_resource = spec.get("nonResourceAttributes");
    let mut errors = Vec::new();
    match (attributes, non_resource) {
        (Some(_), Some(n)) => errors.push(field(
            "spec.nonResourceAttributes".into(),
            FieldErrorKind::Invalid,
            &format!(
                "\"{}\": cannot be specified in combination with resourceAttributes",
                serde_json::to_string(n).unwrap_or_default()
            ),
        )),
        (None, None) => errors.push(field(
            "spec.resourceAttributes".into(),
            FieldErrorKind::Invalid,
            "\"null\": exactly one of nonResourceAttributes or resourceAttributes must be specified",
        )),
        _ => {}
    }
    let user = text(&spec, "user");
    let groups = strings(&spec["groups"]);
    if user.is_empty() && groups.is_empty() {
        errors.push(field(
            "spec.user".into(),
            FieldErrorKind::Invalid,
            "\"\": at least one of user or group must be specified",
        ));
    }
    if !errors.is_empty() {
        return Err(invalid_review(errors));
    }
    let request = match (attributes, non_resource) {
        (Some(a), _) => Request {
            user,
            groups,
            namespace: text(a, "namespace"),
            verb: text(a, "verb"),
            group: text(a, "group"),
            resource: text(a, "resource"),
            subresource: text(a, "subresource"),
            name: text(a, "name"),
            path: None,
        },
        (None, Some(n)) => Request {
            user,
            groups,
            namespace: "",
            verb: text(n, "verb"),
            group: "",
            resource: "",
            subresource: "",
            name: "",
            path: Some(text(n, "path")),
        },
        (None, None) => unreachable!("refused above"),
    };
    let (allowed, reason) = authorize(store, &request);
    let mut status = json!({ "allowed": allowed });
    if !reason.is_empty() {
        status["reason"] = json!(reason);
    }
    if let Some(fields) = body.as_object_mut() {
        fields.insert("apiVersion".into(), json!(resource.api_version()));
        fields.insert("kind".into(), json!(resource.kind));
        fields
            .entry("metadata")
            .or_insert_with(|| json!({ "creationTimestamp": null }));
        fields.insert("status".into(), status);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::kube::registry::Registry;

    fn put(store: &mut Store, bucket: &str, namespace: &str, object: Value) {
        let name = object["metadata"]["name"].as_str().unwrap().to_string();
        store.put(bucket, (namespace.to_string(), name), object);
    }

    fn sar_type() -> ResourceType {
        Registry::builtin()
            .find(AUTHORIZATION_GROUP, "v1", "subjectaccessreviews")
            .expect("served")
            .as_ref()
            .clone()
    }

    fn ask(store: &Store, namespace: &str, verb: &str, resource: &str) -> Value {
        let (resource, subresource) = resource.split_once('/').unwrap_or((resource, ""));
        let body = json!({
            "apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
            "spec": {
                "user": "system:serviceaccount:ops:cygni",
                "groups": ["system:serviceaccounts", "system:serviceaccounts:ops", "system:authenticated"],
                "resourceAttributes": {"namespace": namespace, "verb": verb, "group": "cygni.io",
                    "resource": resource, "subresource": subresource}
            }
        });
        review(store, &sar_type(), body).expect("answered")["status"].clone()
    }

    fn cluster_role(store: &mut Store) {
        put(
            store,
            CLUSTER_ROLES,
            "",
            json!({"metadata": {"name": "cygni"}, "rules": [
                {"apiGroups": ["cygni.io"], "resources": ["apps", "*/status"], "verbs": ["get", "list"]}
            ]}),
        );
    }

    #[test]
    fn a_cluster_role_binding_allows_and_says_which_binding_in_the_real_wording() {
        let mut store = Store::new();
        cluster_role(&mut store);
        put(
            &mut store,
            CLUSTER_ROLE_BINDINGS,
            "",
            json!({"metadata": {"name": "cygni-binding"},
                "roleRef": {"apiGroup": RBAC_GROUP, "kind": "ClusterRole", "name": "cygni"},
                "subjects": [{"kind": "ServiceAccount", "name": "cygni", "namespace": "ops"}]}),
        );
        assert_eq!(
            ask(&store, "", "list", "apps"),
            json!({"allowed": true, "reason": "RBAC: allowed by ClusterRoleBinding \"cygni-binding\" of ClusterRole \"cygni\" to ServiceAccount \"cygni/ops\""})
        );
        assert_eq!(
            ask(&store, "web", "get", "domains/status")["allowed"],
            json!(true),
            "*/status matches every status subresource"
        );
        assert_eq!(ask(&store, "", "delete", "apps"), json!({"allowed": false}));
    }

    #[test]
    fn a_role_binding_allows_only_in_its_namespace_and_may_leave_the_subject_namespace_out() {
        let mut store = Store::new();
        cluster_role(&mut store);
        put(
            &mut store,
            ROLE_BINDINGS,
            "ops",
            json!({"metadata": {"name": "b", "namespace": "ops"},
                "roleRef": {"apiGroup": RBAC_GROUP, "kind": "ClusterRole", "name": "cygni"},
                "subjects": [{"kind": "ServiceAccount", "name": "cygni"}]}),
        );
        assert_eq!(
            ask(&store, "ops", "get", "apps")["reason"],
            json!(
                "RBAC: allowed by RoleBinding \"b/ops\" of ClusterRole \"cygni\" to ServiceAccount \"cygni/ops\""
            )
        );
        assert_eq!(ask(&store, "web", "get", "apps")["allowed"], json!(false));
        assert_eq!(ask(&store, "", "get", "apps")["allowed"], json!(false));
    }

    #[test]
    fn a_binding_to_a_missing_role_denies_with_the_lookup_error() {
        let mut store = Store::new();
        put(
            &mut store,
            CLUSTER_ROLE_BINDINGS,
            "",
            json!({"metadata": {"name": "b"},
                "roleRef": {"apiGroup": RBAC_GROUP, "kind": "ClusterRole", "name": "gone"},
                "subjects": [{"kind": "Group", "apiGroup": RBAC_GROUP, "name": "system:serviceaccounts"}]}),
        );
        assert_eq!(
            ask(&store, "", "get", "apps"),
            json!({"allowed": false, "reason": "RBAC: clusterrole.rbac.authorization.k8s.io \"gone\" not found"})
        );
    }

    #[test]
    fn a_review_without_user_or_attributes_is_invalid() {
        let error = review(
            &Store::new(),
            &sar_type(),
            json!({"spec": {"resourceAttributes": {"verb": "get"}}}),
        )
        .unwrap_err();
        assert!(
            error
                .to_string()
                .contains("at least one of user or group must be specified"),
            "{error}"
        );
    }

    #[test]
    fn rules_without_verbs_or_resources_and_bindings_to_unknown_kinds_are_invalid() {
        let registry = Registry::builtin();
        let role = registry.find(RBAC_GROUP, "v1", "roles").unwrap();
        let errors = validate(&role, &json!({"rules": [{"apiGroups": [""]}]}), None);
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["rules[0].verbs", "rules[0].resources"]);

        let binding = registry
            .find(RBAC_GROUP, "v1", "clusterrolebindings")
            .unwrap();
        let errors = validate(
            &binding,
            &json!({"roleRef": {"apiGroup": RBAC_GROUP, "kind": "Role", "name": "x"},
                "subjects": [{"kind": "ServiceAccount", "name": "a"}]}),
            None,
        );
        let messages: Vec<String> = errors
            .iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect();
        assert_eq!(
            messages,
            [
                "roleRef.kind: Unsupported value: \"Role\": supported values: \"ClusterRole\"",
                "subjects[0].namespace: Required value"
            ]
        );
    }
}
