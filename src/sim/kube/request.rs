//! What the server reads from an HTTP request: the path (which resource, namespace, name and
//! subresource), the query parameters and the negotiated response form (JSON object, `Table`,
//! `PartialObjectMetadata`).

use std::collections::HashMap;

use super::error::ApiError;
use super::table::IncludeObject;

/// A parsed resource path: `/api/v1/namespaces/default/configmaps/x`,
/// `/apis/cygni.io/v1alpha1/apps`, `/apis/cygni.io/v1alpha1/namespaces/d/apps/web/status`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourcePath {
    /// API group, empty for core.
    pub group: String,
    /// Version.
    pub version: String,
    /// Namespace from the path, if the path has one.
    pub namespace: Option<String>,
    /// Plural resource name.
    pub plural: String,
    /// Object name, for item paths.
    pub name: Option<String>,
    /// Subresource (`status`), for subresource paths.
    pub subresource: Option<String>,
}

impl ResourcePath {
    /// Parses the part after `/api/v1` or `/apis/<group>/<version>`.
    pub fn parse(group: &str, version: &str, rest: &[&str]) -> Option<Self> {
        let make =
            |namespace: Option<&str>, plural: &str, name: Option<&str>, sub: Option<&str>| {
                Some(Self {
                    group: group.to_string(),
                    version: version.to_string(),
                    namespace: namespace.map(str::to_string),
                    plural: plural.to_string(),
                    name: name.map(str::to_string),
                    subresource: sub.map(str::to_string),
                })
            };
        match rest {
            [plural] => make(None, plural, None, None),
            ["namespaces", name, sub @ ("status" | "finalize")] => {
                make(None, "namespaces", Some(name), Some(sub))
            }
            ["namespaces", ns, plural] => make(Some(ns), plural, None, None),
            ["namespaces", ns, plural, name] => make(Some(ns), plural, Some(name), None),
            ["namespaces", ns, plural, name, sub] => make(Some(ns), plural, Some(name), Some(sub)),
            [plural, name] => make(None, plural, Some(name), None),
            [plural, name, sub] => make(None, plural, Some(name), Some(sub)),
            _ => None,
        }
    }
}

/// Query parameters (last value wins).
#[derive(Clone, Debug, Default)]
pub struct Query(HashMap<String, String>);

impl Query {
    /// Parses a raw query string.
    pub fn parse(raw: Option<&str>) -> Self {
        Self(
            raw.map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
                .unwrap_or_default(),
        )
    }

    /// The value of `name`, if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// A boolean flag (`true`, `1`).
    pub fn flag(&self, name: &str) -> bool {
        matches!(self.get(name), Some("true" | "1" | "True"))
    }

    /// An optional boolean (`sendInitialEvents`).
    pub fn optional_flag(&self, name: &str) -> Option<bool> {
        self.get(name).map(|v| matches!(v, "true" | "1" | "True"))
    }

    /// A non-negative integer parameter.
    pub fn number(&self, name: &str) -> Result<Option<u64>, ApiError> {
        match self.get(name) {
            None | Some("") => Ok(None),
            Some(text) => text.parse().map(Some).map_err(|_| {
                ApiError::BadRequest(format!(
                    "invalid {name} parameter: {text:?} is not a number"
                ))
            }),
        }
    }

    /// `dryRun`: only `All` is valid.
    pub fn dry_run(&self) -> Result<bool, ApiError> {
        match self.get("dryRun") {
            None | Some("") => Ok(false),
            Some("All") => Ok(true),
            Some(other) => Err(ApiError::BadRequest(format!(
                "Invalid dry run value: {other}, supported values are [All]"
            ))),
        }
    }
}

/// The form of the response body the client asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Form {
    /// The object(s) as JSON.
    Object,
    /// A `meta.k8s.io/v1` Table.
    Table(IncludeObject),
    /// `PartialObjectMetadata` / `PartialObjectMetadataList`.
    Metadata,
}

impl Form {
    /// Negotiates from the `Accept` header: the first acceptable media type wins.
    pub fn negotiate(accept: &str, include: Option<&str>) -> Result<Self, ApiError> {
        if accept.trim().is_empty() {
            return Ok(Self::Object);
        }
        for part in accept.split(',') {
            let params: Vec<&str> = part.split(';').map(str::trim).collect();
            let media = params.first().copied().unwrap_or_default();
            let has = |p: &str| params.contains(&p);
            match media {
                "application/json" | "application/yaml" | "*/*" | "application/*" => {
                    if has("as=Table") {
                        if has("g=meta.k8s.io") && (has("v=v1") || has("v=v1beta1")) {
                            return Ok(Self::Table(IncludeObject::parse(include)));
                        }
                        continue;
                    }
                    if has("as=PartialObjectMetadata") || has("as=PartialObjectMetadataList") {
                        if has("g=meta.k8s.io") {
                            return Ok(Self::Metadata);
                        }
                        continue;
                    }
                    if params.iter().any(|p| p.starts_with("as=")) {
                        continue;
                    }
                    return Ok(Self::Object);
                }
                _ => continue,
            }
        }
        Err(ApiError::NotAcceptable)
    }
}

/// The manager a real API server records for a write with neither `fieldManager` nor a user agent.
const UNKNOWN_MANAGER: &str = "unknown";

/// The field manager of a request: `fieldManager`, else the user agent's program name, as the
/// server derives it (`kubectl/v1.36.0 (linux/amd64)` gives `kubectl`), else `unknown`, which is
/// what a real server records for a client that sends neither.
pub fn field_manager(query: &Query, user_agent: &str) -> Result<String, ApiError> {
    if let Some(manager) = query.get("fieldManager") {
        if manager.chars().count() > 128 {
            return Err(ApiError::BadRequest(
                "fieldManager: Too long: may not be more than 128 bytes".into(),
            ));
        }
        return Ok(manager.to_string());
    }
    let program: String = user_agent
        .split('/')
        .next()
        .unwrap_or_default()
        .chars()
        .filter(|c| !c.is_control())
        .take(128)
        .collect();
    Ok(if program.trim().is_empty() {
        UNKNOWN_MANAGER.to_string()
    } else {
        program
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_name_resource_namespace_name_and_subresource() {
        let p = ResourcePath::parse(
            "cygni.io",
            "v1alpha1",
            &["namespaces", "d", "apps", "web", "status"],
        )
        .unwrap();
        assert_eq!(p.namespace.as_deref(), Some("d"));
        assert_eq!(p.plural, "apps");
        assert_eq!(p.name.as_deref(), Some("web"));
        assert_eq!(p.subresource.as_deref(), Some("status"));
        let ns = ResourcePath::parse("", "v1", &["namespaces", "d", "status"]).unwrap();
        assert_eq!(ns.plural, "namespaces");
        assert_eq!(ns.name.as_deref(), Some("d"));
        let list = ResourcePath::parse("", "v1", &["namespaces", "d", "configmaps"]).unwrap();
        assert_eq!(list.plural, "configmaps");
        assert_eq!(list.name, None);
    }

    #[test]
    fn kubectl_accept_headers_negotiate_tables() {
        let accept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";
        assert_eq!(
            Form::negotiate(accept, None).unwrap(),
            Form::Table(IncludeObject::Metadata)
        );
        assert_eq!(
            Form::negotiate("application/json", None).unwrap(),
            Form::Object
        );
        assert_eq!(
            Form::negotiate(
                "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1",
                None
            )
            .unwrap(),
            Form::Metadata
        );
        assert!(Form::negotiate("application/vnd.kubernetes.protobuf", None).is_err());
        assert_eq!(
            Form::negotiate("application/vnd.kubernetes.protobuf,*/*", None).unwrap(),
            Form::Object
        );
    }

    #[test]
    fn the_field_manager_defaults_to_the_user_agent_program() {
        let q = Query::parse(None);
        assert_eq!(
            field_manager(&q, "kubectl/v1.36.0 (linux/amd64) kubernetes/abc").unwrap(),
            "kubectl"
        );
        let q = Query::parse(Some("fieldManager=cygni"));
        assert_eq!(field_manager(&q, "kube/5").unwrap(), "cygni");
        assert_eq!(field_manager(&Query::parse(None), "").unwrap(), "unknown");
    }
}
