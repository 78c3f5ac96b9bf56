//! The Kubernetes checks of `cygni doctor`: the API server answers, the CRDs it serves are this
//! binary's, and the operator's service account holds every permission the operator needs
//! (asked with SubjectAccessReviews, so the cluster's own RBAC authorizer answers). The checks are
//! pure functions of what was read; [`checks`] reads it.

use super::report::Check;
use crate::controller::permissions::{self, Permission};
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Client;
use kube::api::{Api, PostParams};
use serde_json::Value;

/// The service account the chart's default install runs the operator as.
pub const DEFAULT_SERVICE_ACCOUNT: &str = "cygni-system/cygni";

/// A service account, `<namespace>/<name>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceAccount {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
}

impl ServiceAccount {
    /// Parses `<namespace>/<name>`.
    pub fn parse(text: &str) -> Result<ServiceAccount, String> {
        match text.split_once('/') {
            Some((namespace, name))
                if !namespace.is_empty() && !name.is_empty() && !name.contains('/') =>
            {
                Ok(ServiceAccount {
                    namespace: namespace.to_string(),
                    name: name.to_string(),
                })
            }
            _ => Err(format!(
                "`{text}` is not a service account: write <namespace>/<name>, e.g. {DEFAULT_SERVICE_ACCOUNT}"
            )),
        }
    }

    /// The user name its tokens authenticate as.
    pub fn user(&self) -> String {
        format!("system:serviceaccount:{}:{}", self.namespace, self.name)
    }

    /// The groups its tokens carry.
    pub fn groups(&self) -> Vec<String> {
        vec![
            "system:serviceaccounts".to_string(),
            format!("system:serviceaccounts:{}", self.namespace),
            "system:authenticated".to_string(),
        ]
    }
}

impl std::fmt::Display for ServiceAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// The API server's answer to "who are you", or why there was none.
pub fn api_check(url: &str, version: &Result<String, String>) -> Check {
    match version {
        Ok(version) => Check::pass(
            "Kubernetes API",
            format!("{url} answers, version {version}"),
        ),
        Err(error) => Check::fail(
            "Kubernetes API",
            format!("{url}: {error}"),
            "point KUBECONFIG (or --kubeconfig, --context) at the cluster the operator runs in",
        ),
    }
}

/// The first place where `installed` differs from `wanted`, as a JSON path, with what each holds.
fn first_difference(path: &str, wanted: &Value, installed: &Value) -> Option<String> {
    match (wanted, installed) {
        (Value::Object(w), Value::Object(i)) => {
            for (key, value) in w {
                let child = format!("{path}.{key}");
                match i.get(key) {
                    None => return Some(format!("{child} is missing")),
                    Some(other) => {
                        if let Some(d) = first_difference(&child, value, other) {
                            return Some(d);
                        }
                    }
                }
            }
            // The API server fills some fields in (`names.listKind`, defaults): only a field
            // of the installed schema that this version does not have is a difference.
            if !path.ends_with(".properties") {
                return None;
            }
            i.keys()
                .find(|key| !w.contains_key(*key))
                .map(|key| format!("{path}.{key} is not in this version's schema"))
        }
        (Value::Array(w), Value::Array(i)) if w.len() == i.len() => w
            .iter()
            .zip(i)
            .enumerate()
            .find_map(|(n, (a, b))| first_difference(&format!("{path}[{n}]"), a, b)),
        _ if wanted == installed => None,
        _ => Some(format!("{path} differs")),
    }
}

/// Whether the CRD the cluster serves is this binary's: the same group, names and scope, and
/// per version the same served and storage flags and the same schema.
pub fn crd_check(wanted: &Value, installed: &Result<Option<Value>, String>) -> Check {
    let name = wanted["metadata"]["name"].as_str().unwrap_or_default();
    let title = format!("CRD {name}");
    let fix = "apply this version's CRDs: `cygni crds | kubectl apply --server-side -f -` (or upgrade the chart, whose crds/ folder holds them)";
    let installed = match installed {
        Ok(Some(installed)) => installed,
        Ok(None) => return Check::fail(title, "not installed", fix),
        Err(error) => {
            return Check::fail(
                title,
                format!("cannot read it: {error}"),
                "run doctor with a user that may get customresourcedefinitions",
            );
        }
    };
    let wanted_spec = &wanted["spec"];
    let installed_spec = &installed["spec"];
    for key in ["group", "names", "scope"] {
        if let Some(d) = first_difference(
            &format!("spec.{key}"),
            &wanted_spec[key],
            &installed_spec[key],
        ) {
            return Check::fail(title, format!("not this version's: {d}"), fix);
        }
    }
    let installed_versions = installed_spec["versions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for version in wanted_spec["versions"].as_array().into_iter().flatten() {
        let v = version["name"].as_str().unwrap_or_default();
        let Some(other) = installed_versions
            .iter()
            .find(|o| o["name"].as_str() == Some(v))
        else {
            return Check::fail(title, format!("version {v} is not served"), fix);
        };
        for key in ["served", "storage", "schema", "subresources"] {
            let path = format!("{v}.{key}");
            if let Some(d) = first_difference(&path, &version[key], &other[key]) {
                return Check::fail(title, format!("not this version's: {d}"), fix);
            }
        }
    }
    let versions: Vec<&str> = wanted_spec["versions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v["name"].as_str())
        .collect();
    Check::pass(
        title,
        format!("installed, {} schema as this binary's", versions.join(", ")),
    )
}

/// One permission asked about, where, and the answer (allowed, reason) or why there was none.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Review {
    /// The permission.
    pub permission: Permission,
    /// Namespace asked about; empty for every namespace.
    pub namespace: String,
    /// `(allowed, status.reason)`, or the error.
    pub answer: Result<(bool, String), String>,
}

/// Whether the service account holds every permission of one scope (every namespace, one
/// namespace, or the Lease's).
pub fn rbac_check(title: &str, account: &ServiceAccount, reviews: &[Review], fix: &str) -> Check {
    if let Some(error) = reviews.iter().find_map(|r| r.answer.as_ref().err()) {
        return Check::fail(
            title,
            format!("cannot ask the API server: {error}"),
            "run doctor with a user that may create subjectaccessreviews (cluster administrators may)",
        );
    }
    let denied: Vec<String> = reviews
        .iter()
        .filter(|r| !matches!(r.answer, Ok((true, _))))
        .map(|r| r.permission.describe())
        .collect();
    if denied.is_empty() {
        let mut reasons: Vec<&str> = reviews
            .iter()
            .filter_map(|r| r.answer.as_ref().ok().map(|(_, reason)| reason.as_str()))
            .filter(|r| !r.is_empty())
            .collect();
        reasons.sort_unstable();
        reasons.dedup();
        let by = reasons
            .iter()
            .map(|r| r.trim_start_matches("RBAC: allowed by "))
            .collect::<Vec<_>>()
            .join("; ");
        return Check::pass(
            title,
            format!(
                "ServiceAccount {account} may do all {} (by {by})",
                reviews.len()
            ),
        );
    }
    Check::fail(
        title,
        format!(
            "ServiceAccount {account} may not {} ({} of {} missing)",
            denied.join(", "),
            denied.len(),
            reviews.len()
        ),
        fix,
    )
}

/// Asks whether `account` may do `permission` in `namespace` (empty: every namespace).
async fn review(
    client: &Client,
    account: &ServiceAccount,
    permission: &Permission,
    namespace: &str,
) -> Result<(bool, String), String> {
    let (resource, subresource) = match permission.resource.split_once('/') {
        Some((r, s)) => (r.to_string(), Some(s.to_string())),
        None => (permission.resource.clone(), None),
    };
    let request = SubjectAccessReview {
        spec: SubjectAccessReviewSpec {
            user: Some(account.user()),
            groups: Some(account.groups()),
            resource_attributes: Some(ResourceAttributes {
                group: Some(permission.group.clone()),
                resource: Some(resource),
                subresource,
                verb: Some(permission.verb.clone()),
                name: permission.name.clone(),
                namespace: (!namespace.is_empty()).then(|| namespace.to_string()),
                ..ResourceAttributes::default()
            }),
            ..SubjectAccessReviewSpec::default()
        },
        ..SubjectAccessReview::default()
    };
    let answer = Api::<SubjectAccessReview>::all(client.clone())
        .create(&PostParams::default(), &request)
        .await
        .map_err(|e| crate::controller::describe_kube(&e))?;
    let status = answer.status.unwrap_or_default();
    Ok((status.allowed, status.reason.unwrap_or_default()))
}

async fn reviews(
    client: &Client,
    account: &ServiceAccount,
    wanted: &[Permission],
    namespace: &str,
) -> Vec<Review> {
    let mut out = Vec::new();
    for permission in wanted {
        out.push(Review {
            permission: permission.clone(),
            namespace: namespace.to_string(),
            answer: review(client, account, permission, namespace).await,
        });
    }
    out
}

/// What the operator's Kubernetes access looks like, for [`checks`].
#[derive(Clone, Debug)]
pub struct Scope {
    /// Namespaces the operator watches; empty for all.
    pub namespaces: Vec<String>,
    /// Whether it elects a leader.
    pub leader_election: bool,
    /// Namespace of its Lease.
    pub lease_namespace: String,
    /// Name of its Lease.
    pub lease_name: String,
}

/// Every Kubernetes check against the API at `url`.
pub async fn checks(
    client: &Client,
    url: &str,
    account: &ServiceAccount,
    scope: &Scope,
) -> Vec<Check> {
    let version = match tokio::time::timeout(
        std::time::Duration::from_secs(10),
        client.apiserver_version(),
    )
    .await
    {
        Ok(Ok(info)) => Ok(info.git_version),
        Ok(Err(error)) => Err(crate::controller::describe_connection(&error)),
        Err(_) => Err("no answer within 10s".to_string()),
    };
    let mut out = vec![api_check(url, &version)];
    if version.is_err() {
        return out;
    }
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    for definition in crate::api::crd::all() {
        let wanted = serde_json::to_value(&definition).unwrap_or_default();
        let name = definition.metadata.name.clone().unwrap_or_default();
        let installed = crds
            .get_opt(&name)
            .await
            .map(|found| found.and_then(|crd| serde_json::to_value(crd).ok()))
            .map_err(|e| crate::controller::describe_kube(&e));
        out.push(crd_check(&wanted, &installed));
    }
    let watch = permissions::watch_permissions();
    let chart = "install the chart with rbac.create=true (and watchNamespaces as the operator's --namespaces), or grant these rules (docs/doctor.md)";
    if scope.namespaces.is_empty() {
        let found = reviews(client, account, &watch, "").await;
        out.push(rbac_check("RBAC, all namespaces", account, &found, chart));
    } else {
        for namespace in &scope.namespaces {
            let found = reviews(client, account, &watch, namespace).await;
            out.push(rbac_check(
                &format!("RBAC in {namespace}"),
                account,
                &found,
                chart,
            ));
        }
    }
    if scope.leader_election {
        let lease = permissions::lease_permissions(&scope.lease_name);
        let found = reviews(client, account, &lease, &scope.lease_namespace).await;
        out.push(rbac_check(
            &format!("RBAC for the Lease in {}", scope.lease_namespace),
            account,
            &found,
            &format!(
                "install the chart into {} with leaderElection.enabled=true, or grant the Lease rules (docs/doctor.md)",
                scope.lease_namespace
            ),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::report::Outcome;

    fn account() -> ServiceAccount {
        ServiceAccount::parse("cygni-system/cygni").unwrap()
    }

    #[test]
    fn service_accounts_are_namespace_slash_name() {
        assert_eq!(account().user(), "system:serviceaccount:cygni-system:cygni");
        assert!(
            ServiceAccount::parse("cygni")
                .unwrap_err()
                .contains("<namespace>/<name>")
        );
    }

    #[test]
    fn the_generated_crds_pass_and_a_changed_schema_is_named() {
        let wanted = serde_json::to_value(&crate::api::crd::all()[0]).unwrap();
        assert_eq!(
            crd_check(&wanted, &Ok(Some(wanted.clone()))).outcome,
            Outcome::Pass
        );
        let mut old = wanted.clone();
        old["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]
            .as_object_mut()
            .unwrap()
            .remove("spec");
        let check = crd_check(&wanted, &Ok(Some(old)));
        assert_eq!(check.outcome, Outcome::Fail);
        assert_eq!(
            check.detail,
            "not this version's: v1alpha1.schema.openAPIV3Schema.properties.spec is missing"
        );
        let mut newer = wanted.clone();
        newer["spec"]["names"]["listKind"] = serde_json::json!("AppList");
        newer["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["gone"] =
            serde_json::json!({"type": "string"});
        assert_eq!(
            crd_check(&wanted, &Ok(Some(newer))).detail,
            "not this version's: v1alpha1.schema.openAPIV3Schema.properties.gone is not in this version's schema",
            "fields the server fills in are no difference, a schema property is"
        );
        let missing = crd_check(&wanted, &Ok(None));
        assert_eq!(
            (missing.outcome, missing.detail.as_str()),
            (Outcome::Fail, "not installed")
        );
    }

    fn review(verb: &str, allowed: bool) -> Review {
        Review {
            permission: Permission::new("cygni.io", "apps", verb),
            namespace: String::new(),
            answer: Ok((
                allowed,
                if allowed {
                    "RBAC: allowed by ClusterRoleBinding \"c\" of ClusterRole \"c\" to ServiceAccount \"cygni/cygni-system\"".into()
                } else {
                    String::new()
                },
            )),
        }
    }

    #[test]
    fn rbac_passes_with_the_binding_named_and_fails_naming_each_missing_permission() {
        let ok = rbac_check(
            "RBAC",
            &account(),
            &[review("get", true), review("list", true)],
            "fix",
        );
        assert_eq!(ok.outcome, Outcome::Pass);
        assert!(
            ok.detail
                .contains("may do all 2 (by ClusterRoleBinding \"c\""),
            "{}",
            ok.detail
        );
        let bad = rbac_check(
            "RBAC",
            &account(),
            &[review("get", true), review("watch", false)],
            "fix",
        );
        assert_eq!(bad.outcome, Outcome::Fail);
        assert_eq!(
            bad.detail,
            "ServiceAccount cygni-system/cygni may not watch apps.cygni.io (1 of 2 missing)"
        );
    }
}
