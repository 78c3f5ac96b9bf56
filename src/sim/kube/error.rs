//! The errors the simulated API server answers with, each rendered as the `Status` object (and
//! HTTP code) a real API server sends for the same failure, with the same message wording.

use serde_json::{Value, json};

use super::validation::FieldError;

/// The resource an error is about: its group, its plural name and the object's name. The server
/// words most messages as `<plural>.<group> "<name>"` (`<plural> "<name>"` for the core group).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Target {
    /// API group, empty for the core group.
    pub group: String,
    /// Plural resource name, e.g. `apps`.
    pub resource: String,
    /// Object name.
    pub name: String,
}

impl Target {
    /// A target from its three parts.
    pub fn new(group: &str, resource: &str, name: &str) -> Self {
        Self {
            group: group.to_string(),
            resource: resource.to_string(),
            name: name.to_string(),
        }
    }

    /// `apps.cygni.io "web"`, or `namespaces "x"` for the core group.
    fn quoted(&self) -> String {
        format!("{} {}", self.qualified(), go_quote(&self.name))
    }

    /// `apps.cygni.io`, or `namespaces` for the core group.
    fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.resource.clone()
        } else {
            format!("{}.{}", self.resource, self.group)
        }
    }

    fn details(&self) -> Value {
        let mut details = json!({ "name": self.name, "kind": self.resource });
        if !self.group.is_empty() {
            details["group"] = json!(self.group);
        }
        details
    }
}

/// One conflict of a server-side apply: another manager owns a field the applier sets to a
/// different value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApplyConflict {
    /// The manager as the server prints it: `"kubectl"`, or `"kube" using v1` for an update.
    pub manager: String,
    /// The field path as the server prints it: `.spec.replicas`, `.spec.env[name="A"].value`.
    pub field: String,
}

/// A request the simulated server refuses, with the HTTP status and `Status.reason` of the real one.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 404 for an object that does not exist.
    #[error("{} not found", .0.quoted())]
    NotFound(Target),
    /// 409 for a create whose name is taken.
    #[error("{} already exists", .0.quoted())]
    AlreadyExists(Target),
    /// 409 for a write whose precondition (resourceVersion, uid) does not hold.
    #[error("Operation cannot be fulfilled on {}: {message}", .target.quoted())]
    Conflict {
        /// The object written.
        target: Target,
        /// Why, e.g. the "object has been modified" sentence.
        message: String,
    },
    /// 409 for a server-side apply that would take fields from other managers without `force`.
    #[error("{}", apply_conflict_message(.conflicts))]
    ApplyConflicts {
        /// The object applied.
        target: Target,
        /// Every conflicting field.
        conflicts: Vec<ApplyConflict>,
    },
    /// 422 for an object that fails validation.
    #[error("{}", super::validation::invalid_message(.kind, .group, .name, .errors))]
    Invalid {
        /// The object's kind, e.g. `App`.
        kind: String,
        /// The kind's group.
        group: String,
        /// The object's name.
        name: String,
        /// The field errors, in the server's order.
        errors: Vec<FieldError>,
    },
    /// 403 for a request the server forbids on principle (e.g. content in a terminating
    /// namespace).
    #[error("{} is forbidden: {message}", .target.quoted())]
    Forbidden {
        /// The object concerned.
        target: Target,
        /// Why.
        message: String,
    },
    /// 400 for a malformed request.
    #[error("{0}")]
    BadRequest(String),
    /// 404 for a path that names no resource the server serves.
    #[error("the server could not find the requested resource")]
    NoSuchResource,
    /// 405 for a verb the resource does not support.
    #[error("the server does not allow this method on the requested resource")]
    MethodNotAllowed,
    /// 406 for an `Accept` header the server cannot satisfy.
    #[error("only the following media types are accepted: application/json, application/yaml")]
    NotAcceptable,
    /// 410 for a resourceVersion older than the retained history.
    #[error("{0}")]
    Expired(String),
    /// 413 for a body over the size limit.
    #[error("the request is too large")]
    TooLarge,
    /// 415 for a body in a format the endpoint does not take.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 500 for a failure of the simulator itself.
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    /// The HTTP status code.
    pub fn code(&self) -> u16 {
        match self {
            Self::NotFound(_) | Self::NoSuchResource => 404,
            Self::AlreadyExists(_) | Self::Conflict { .. } | Self::ApplyConflicts { .. } => 409,
            Self::Invalid { .. } => 422,
            Self::Forbidden { .. } => 403,
            Self::BadRequest(_) => 400,
            Self::MethodNotAllowed => 405,
            Self::NotAcceptable => 406,
            Self::Expired(_) => 410,
            Self::TooLarge => 413,
            Self::UnsupportedMediaType(_) => 415,
            Self::Internal(_) => 500,
        }
    }

    /// The `Status.reason`.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::NotFound(_) | Self::NoSuchResource => "NotFound",
            Self::AlreadyExists(_) => "AlreadyExists",
            Self::Conflict { .. } | Self::ApplyConflicts { .. } => "Conflict",
            Self::Invalid { .. } => "Invalid",
            Self::Forbidden { .. } => "Forbidden",
            Self::BadRequest(_) => "BadRequest",
            Self::MethodNotAllowed => "MethodNotAllowed",
            Self::NotAcceptable => "NotAcceptable",
            Self::Expired(_) => "Expired",
            Self::TooLarge => "RequestEntityTooLarge",
            Self::UnsupportedMediaType(_) => "UnsupportedMediaType",
            Self::Internal(_) => "InternalError",
        }
    }

    /// The `Status` object the server sends as the response body (and in a watch `ERROR` event).
    pub fn status(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.to_string(),
            "reason": self.reason(),
            "code": self.code(),
        });
        let details = match self {
            Self::NotFound(target)
            | Self::AlreadyExists(target)
            | Self::Conflict { target, .. }
            | Self::Forbidden { target, .. } => Some(target.details()),
            Self::ApplyConflicts { target, conflicts } => {
                let mut details = target.details();
                details["causes"] = conflicts
                    .iter()
                    .map(|c| {
                        json!({
                            "reason": "FieldManagerConflict",
                            "message": format!("conflict with {}", c.manager),
                            "field": c.field,
                        })
                    })
                    .collect();
                Some(details)
            }
            Self::Invalid {
                kind,
                group,
                name,
                errors,
            } => {
                let mut details = json!({ "name": name, "kind": kind });
                if !group.is_empty() {
                    details["group"] = json!(group);
                }
                details["causes"] = errors
                    .iter()
                    .map(|e| {
                        json!({ "reason": e.kind.reason(), "message": e.message, "field": e.field })
                    })
                    .collect();
                Some(details)
            }
            Self::NoSuchResource => Some(json!({})),
            _ => None,
        };
        if let Some(details) = details {
            status["details"] = details;
        }
        status
    }
}

/// `Apply failed with 1 conflict: conflict with "kubectl": .spec.replicas`, or for several, one
/// block per manager in name order, as structured-merge-diff and the API server word it.
fn apply_conflict_message(conflicts: &[ApplyConflict]) -> String {
    let count = conflicts.len();
    let plural = if count == 1 { "" } else { "s" };
    let body = match conflicts {
        [only] => format!("conflict with {}: {}", only.manager, only.field),
        _ => {
            let mut managers: Vec<&str> = conflicts.iter().map(|c| c.manager.as_str()).collect();
            managers.sort_unstable();
            managers.dedup();
            let mut lines = Vec::new();
            for manager in managers {
                lines.push(format!("conflicts with {manager}:"));
                for conflict in conflicts.iter().filter(|c| c.manager == manager) {
                    lines.push(format!("- {}", conflict.field));
                }
            }
            lines.join("\n")
        }
    };
    format!("Apply failed with {count} conflict{plural}: {body}")
}

/// Go's `%q` for the strings the server quotes: names and paths, where only `"` and `\` need
/// escaping in practice.
pub fn go_quote(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_else(|_| format!("\"{text}\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_found_names_the_group_qualified_resource() {
        let error = ApiError::NotFound(Target::new("cygni.io", "apps", "web"));
        assert_eq!(error.to_string(), r#"apps.cygni.io "web" not found"#);
        let status = error.status();
        assert_eq!(status["code"], 404);
        assert_eq!(status["details"]["kind"], "apps");
        assert_eq!(status["details"]["group"], "cygni.io");
    }

    #[test]
    fn core_group_resources_are_not_qualified() {
        let error = ApiError::NotFound(Target::new("", "namespaces", "x"));
        assert_eq!(error.to_string(), r#"namespaces "x" not found"#);
        assert!(error.status()["details"].get("group").is_none());
    }

    #[test]
    fn one_apply_conflict_reads_like_the_server() {
        let error = ApiError::ApplyConflicts {
            target: Target::new("cygni.io", "apps", "web"),
            conflicts: vec![ApplyConflict {
                manager: "\"kubectl\"".into(),
                field: ".spec.replicas".into(),
            }],
        };
        assert_eq!(
            error.to_string(),
            r#"Apply failed with 1 conflict: conflict with "kubectl": .spec.replicas"#
        );
    }

    #[test]
    fn several_apply_conflicts_are_grouped_by_manager() {
        let conflict = |manager: &str, field: &str| ApplyConflict {
            manager: manager.into(),
            field: field.into(),
        };
        let error = ApiError::ApplyConflicts {
            target: Target::new("cygni.io", "apps", "web"),
            conflicts: vec![
                conflict("\"b\"", ".spec.x"),
                conflict("\"a\"", ".spec.y"),
                conflict("\"b\"", ".spec.z"),
            ],
        };
        assert_eq!(
            error.to_string(),
            "Apply failed with 3 conflicts: conflicts with \"a\":\n- .spec.y\nconflicts with \"b\":\n- .spec.x\n- .spec.z"
        );
    }
}
