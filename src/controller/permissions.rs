//! The Kubernetes permissions the operator needs, in one place: the chart's RBAC grants exactly
//! these (`tests/chart.rs` checks it) and `cygni doctor` asks the API server whether the
//! operator's service account holds each of them.

/// One RBAC rule: every verb on every resource of every group listed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rule {
    /// API groups (`""` is the core group).
    pub groups: &'static [&'static str],
    /// Resources, `resource/subresource` for a subresource.
    pub resources: &'static [&'static str],
    /// Verbs.
    pub verbs: &'static [&'static str],
}

/// What the controllers need wherever they watch App, Deployment and Domain objects (a
/// ClusterRole when they watch every namespace, a Role in each watched namespace otherwise).
pub const WATCH_RULES: &[Rule] = &[
    // Read and watch all three kinds, patch them (finalizers, annotations).
    Rule {
        groups: &["cygni.io"],
        resources: &["apps", "domains"],
        verbs: &["get", "list", "watch", "patch"],
    },
    // The App controller creates and prunes its Deployments.
    Rule {
        groups: &["cygni.io"],
        resources: &["deployments"],
        verbs: &["get", "list", "watch", "patch", "create", "delete"],
    },
    Rule {
        groups: &["cygni.io"],
        resources: &["apps/status", "deployments/status", "domains/status"],
        verbs: &["get", "patch"],
    },
    // The API server checks `update` on finalizers for ownerReferences with blockOwnerDeletion.
    Rule {
        groups: &["cygni.io"],
        resources: &[
            "apps/finalizers",
            "deployments/finalizers",
            "domains/finalizers",
        ],
        verbs: &["update"],
    },
    // Events, listed first so that a restarted operator finds those it already published.
    Rule {
        groups: &["events.k8s.io"],
        resources: &["events"],
        verbs: &["list", "create", "patch"],
    },
    // Webhook analysis headers may read their value from a Secret, by name only.
    Rule {
        groups: &[""],
        resources: &["secrets"],
        verbs: &["get"],
    },
];

/// API group of the leader election Lease.
pub const LEASE_GROUP: &str = "coordination.k8s.io";

/// One permission: a verb on a resource of a group, on any object or on one name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct Permission {
    /// API group (`""` is the core group).
    pub group: String,
    /// Resource, `resource/subresource` for a subresource.
    pub resource: String,
    /// Verb.
    pub verb: String,
    /// The one object name it is limited to, if any.
    pub name: Option<String>,
}

impl Permission {
    /// A permission on any object.
    pub fn new(group: &str, resource: &str, verb: &str) -> Self {
        Permission {
            group: group.to_string(),
            resource: resource.to_string(),
            verb: verb.to_string(),
            name: None,
        }
    }

    /// The same permission limited to one object name.
    pub fn named(mut self, name: &str) -> Self {
        self.name = Some(name.to_string());
        self
    }

    /// `create leases.coordination.k8s.io` as kubectl spells it (`get secrets` for core, with
    /// `/name` when limited to one object).
    pub fn describe(&self) -> String {
        let resource = match self.resource.split_once('/') {
            Some((main, sub)) if !self.group.is_empty() => format!("{main}.{}/{sub}", self.group),
            _ if !self.group.is_empty() => format!("{}.{}", self.resource, self.group),
            _ => self.resource.clone(),
        };
        match &self.name {
            Some(name) => format!("{} {resource} {name}", self.verb),
            None => format!("{} {resource}", self.verb),
        }
    }
}

/// Every permission the rules grant, expanded to one per (group, resource, verb).
pub fn expand(rules: &[Rule]) -> Vec<Permission> {
    let mut out = Vec::new();
    for rule in rules {
        for group in rule.groups {
            for resource in rule.resources {
                for verb in rule.verbs {
                    out.push(Permission::new(group, resource, verb));
                }
            }
        }
    }
    out
}

/// The permissions the controllers need where they watch objects.
pub fn watch_permissions() -> Vec<Permission> {
    expand(WATCH_RULES)
}

/// The permissions of leader election in the Lease's namespace: `create` cannot be limited by
/// name (the authorizer does not know the name before the object exists), `get` and `update`
/// are limited to the operator's own Lease.
pub fn lease_permissions(lease_name: &str) -> Vec<Permission> {
    vec![
        Permission::new(LEASE_GROUP, "leases", "create"),
        Permission::new(LEASE_GROUP, "leases", "get").named(lease_name),
        Permission::new(LEASE_GROUP, "leases", "update").named(lease_name),
    ]
}

/// Grants `rules` everywhere (a ClusterRole and ClusterRoleBinding named `name`) and the Lease
/// rules in `lease_namespace` (a Role and RoleBinding `<name>-leader-election`) to the service
/// account `account_namespace/account_name`, as the chart's default install does. Applied with
/// server-side apply, so granting again changes nothing.
pub async fn grant(
    client: &kube::Client,
    name: &str,
    account_namespace: &str,
    account_name: &str,
    rules: &[Rule],
    lease_namespace: &str,
    lease_name: &str,
) -> kube::Result<()> {
    use k8s_openapi::api::rbac::v1::{
        ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, RoleRef, Subject,
    };
    use kube::api::{Api, Patch, PatchParams};
    let strings = |items: &[&str]| Some(items.iter().map(|s| s.to_string()).collect());
    let subject = Subject {
        kind: "ServiceAccount".into(),
        name: account_name.into(),
        namespace: Some(account_namespace.into()),
        api_group: None,
    };
    let params = PatchParams::apply("cygni").force();
    let cluster_role = ClusterRole {
        metadata: kube::api::ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        rules: Some(
            rules
                .iter()
                .map(|r| PolicyRule {
                    api_groups: strings(r.groups),
                    resources: strings(r.resources),
                    verbs: r.verbs.iter().map(|v| v.to_string()).collect(),
                    ..Default::default()
                })
                .collect(),
        ),
        ..Default::default()
    };
    Api::<ClusterRole>::all(client.clone())
        .patch(name, &params, &Patch::Apply(&cluster_role))
        .await?;
    let binding = ClusterRoleBinding {
        metadata: kube::api::ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".into(),
            kind: "ClusterRole".into(),
            name: name.into(),
        },
        subjects: Some(vec![subject.clone()]),
    };
    Api::<ClusterRoleBinding>::all(client.clone())
        .patch(name, &params, &Patch::Apply(&binding))
        .await?;
    let lease = format!("{name}-leader-election");
    let role = Role {
        metadata: kube::api::ObjectMeta {
            name: Some(lease.clone()),
            namespace: Some(lease_namespace.into()),
            ..Default::default()
        },
        rules: Some(vec![
            PolicyRule {
                api_groups: strings(&[LEASE_GROUP]),
                resources: strings(&["leases"]),
                verbs: vec!["create".into()],
                ..Default::default()
            },
            PolicyRule {
                api_groups: strings(&[LEASE_GROUP]),
                resources: strings(&["leases"]),
                resource_names: Some(vec![lease_name.into()]),
                verbs: vec!["get".into(), "update".into()],
                ..Default::default()
            },
        ]),
    };
    Api::<Role>::namespaced(client.clone(), lease_namespace)
        .patch(&lease, &params, &Patch::Apply(&role))
        .await?;
    let lease_binding = RoleBinding {
        metadata: kube::api::ObjectMeta {
            name: Some(lease.clone()),
            namespace: Some(lease_namespace.into()),
            ..Default::default()
        },
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".into(),
            kind: "Role".into(),
            name: lease.clone(),
        },
        subjects: Some(vec![subject]),
    };
    Api::<RoleBinding>::namespaced(client.clone(), lease_namespace)
        .patch(&lease, &params, &Patch::Apply(&lease_binding))
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permissions_are_described_as_kubectl_names_resources() {
        assert_eq!(
            Permission::new("cygni.io", "apps/status", "patch").describe(),
            "patch apps.cygni.io/status"
        );
        assert_eq!(
            Permission::new("", "secrets", "get").describe(),
            "get secrets"
        );
        assert_eq!(
            Permission::new(LEASE_GROUP, "leases", "update")
                .named("cygni-operator")
                .describe(),
            "update leases.coordination.k8s.io cygni-operator"
        );
    }

    #[test]
    fn rules_expand_to_one_permission_per_verb_and_resource() {
        let all = watch_permissions();
        assert_eq!(all.len(), 8 + 6 + 6 + 3 + 3 + 1);
        assert!(all.contains(&Permission::new("cygni.io", "deployments", "delete")));
        assert!(!all.contains(&Permission::new("cygni.io", "apps", "delete")));
    }
}
