//! The IAM check of `cygni doctor`: every statement of the documented policy
//! (`docs/iam-policy.json`, compiled in) becomes one SimulatePrincipalPolicy request for the
//! operator's role, on a resource of this account that the statement's ARN pattern matches and
//! with a request context that meets its conditions (the tags the operator writes, the service a
//! role is passed to). A caller that may not simulate gets a warning, not a failure.

use super::aws::{Account, access_denied};
use super::report::Check;
use crate::aws::iam::{ContextEntry, Decision, Simulation};
use crate::aws::sts::CallerIdentity;
use crate::config::Policy;
use serde_json::Value;

/// The policy the operator's role needs, as documented.
const POLICY: &str = include_str!("../../docs/iam-policy.json");

/// The value doctor puts where a policy pattern has a wildcard or a condition wants a value.
const PLACEHOLDER: &str = "cygni-doctor";

/// Condition keys whose values are lists.
const LIST_KEYS: &[&str] = &["aws:TagKeys", "route53:ChangeResourceRecordSetsRecordTypes"];

/// The role ARN behind an STS identity: `arn:aws:sts::1:assumed-role/R/session` is
/// `arn:aws:iam::1:role/R` (a role with a path needs `--operator-role-arn`); users are themselves.
pub fn principal_of(caller_arn: &str) -> String {
    if let Some(rest) = caller_arn.strip_prefix("arn:aws:sts::")
        && let Some((account, resource)) = rest.split_once(':')
        && let Some(role) = resource
            .strip_prefix("assumed-role/")
            .and_then(|r| r.split('/').next())
    {
        return format!("arn:aws:iam::{account}:role/{role}");
    }
    caller_arn.to_string()
}

/// A concrete ARN that `pattern` matches: the region and account filled in, other wildcards
/// replaced by [`PLACEHOLDER`], the hosted zone placeholder by the first allowed zone ID.
fn resource_for(pattern: &str, region: &str, account: &str, zone: &str) -> String {
    let mut parts: Vec<String> = pattern.splitn(6, ':').map(str::to_string).collect();
    if parts.len() == 6 {
        if parts[3] == "*" {
            parts[3] = region.to_string();
        }
        if parts[4] == "*" {
            parts[4] = account.to_string();
        }
        parts[5] = parts[5]
            .replace("REPLACE_WITH_HOSTED_ZONE_ID", zone)
            .replace('*', PLACEHOLDER);
    }
    parts.join(":")
}

fn strings(value: &Value) -> Vec<String> {
    match value {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    }
}

/// A request context that meets every condition of a statement.
fn context_for(conditions: &Value) -> Vec<ContextEntry> {
    let mut out: Vec<ContextEntry> = Vec::new();
    let Some(operators) = conditions.as_object() else {
        return out;
    };
    for (operator, keys) in operators {
        for (key, value) in keys.as_object().into_iter().flatten() {
            let values = match operator.as_str() {
                // `"Null": {"k": "false"}` wants the key present; "true" wants it absent.
                "Null" if value.as_str() == Some("false") => vec![PLACEHOLDER.to_string()],
                "Null" => continue,
                op if op.ends_with("StringLike") => strings(value)
                    .into_iter()
                    .map(|v| v.replace('*', PLACEHOLDER))
                    .collect(),
                _ => strings(value),
            };
            let list = LIST_KEYS.contains(&key.as_str()) || operator.starts_with("ForAllValues");
            let mut values = values;
            if !list {
                // A single-valued key takes one of the values the statement accepts.
                values.truncate(1);
            }
            match out.iter_mut().find(|e| &e.key == key) {
                // A key constrained twice (`Null` and `StringEquals`) takes the stricter value.
                Some(entry) if operator != "Null" => entry.values = values,
                Some(_) => {}
                None => out.push(ContextEntry {
                    key: key.clone(),
                    values,
                    list,
                }),
            }
        }
    }
    out
}

/// One simulation per statement of the documented policy.
pub fn simulations(
    principal: &str,
    region: &str,
    account: &str,
    zone: &str,
) -> Vec<(String, Simulation)> {
    let policy: Value = serde_json::from_str(POLICY).unwrap_or_default();
    policy["Statement"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| s["Effect"] == "Allow")
        .map(|statement| {
            let resources: Vec<String> = strings(&statement["Resource"])
                .iter()
                .filter(|r| r.as_str() != "*")
                .map(|r| resource_for(r, region, account, zone))
                .collect();
            (
                statement["Sid"].as_str().unwrap_or_default().to_string(),
                Simulation {
                    principal_arn: principal.to_string(),
                    actions: strings(&statement["Action"]),
                    resource_arns: resources,
                    context: context_for(&statement["Condition"]),
                },
            )
        })
        .collect()
}

/// The IAM check: every action of the documented policy allowed for the operator's role.
pub async fn check(
    account: &Account,
    identity: Option<&CallerIdentity>,
    operator_role: Option<&str>,
    policy: &Policy,
) -> Check {
    const TITLE: &str = "IAM actions";
    let Some(identity) = identity else {
        return Check::fail(
            TITLE,
            "not checked: the credentials do not work",
            "fix the AWS credentials first",
        );
    };
    let principal = operator_role.map_or_else(|| principal_of(&identity.arn), str::to_string);
    let zone = policy
        .allowed_hosted_zones
        .iter()
        .find(|z| z.starts_with('Z'))
        .cloned()
        .unwrap_or_else(|| "Z0000000000000000000".to_string());
    let mut denied: Vec<String> = Vec::new();
    let mut actions = 0;
    for (sid, simulation) in simulations(&principal, &account.region, &identity.account, &zone) {
        match account.iam.simulate_principal_policy(&simulation).await {
            Ok(evaluations) => {
                actions += evaluations.len();
                denied.extend(
                    evaluations
                        .iter()
                        .filter(|e| e.decision != Decision::Allowed)
                        .map(|e| format!("{} ({sid})", e.action)),
                );
            }
            Err(error) if access_denied(&error) => {
                return Check::warn(
                    TITLE,
                    format!(
                        "not checked: {} may not simulate policies ({}: {})",
                        identity.arn, error.code, error.message
                    ),
                    "run doctor with credentials allowed iam:SimulatePrincipalPolicy on the operator's role (docs/doctor.md), or compare the role's policy with docs/iam-policy.json by hand",
                );
            }
            Err(error) => {
                return Check::fail(
                    TITLE,
                    format!("{principal}: {}: {}", error.code, error.message),
                    "pass the operator's role with --operator-role-arn (a role with a path cannot be derived from its session)",
                );
            }
        }
    }
    if denied.is_empty() {
        Check::pass(
            TITLE,
            format!("{principal} may do all {actions} actions of docs/iam-policy.json"),
        )
    } else {
        Check::fail(
            TITLE,
            format!("{principal} may not {}", denied.join(", ")),
            "attach docs/iam-policy.json (with your hosted zone IDs) to the operator's role",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_assumed_role_session_is_simulated_as_its_role() {
        assert_eq!(
            principal_of("arn:aws:sts::111122223333:assumed-role/cygni-operator/botocore-session"),
            "arn:aws:iam::111122223333:role/cygni-operator"
        );
        assert_eq!(
            principal_of("arn:aws:iam::111122223333:user/ops"),
            "arn:aws:iam::111122223333:user/ops"
        );
    }

    #[test]
    fn every_statement_becomes_a_simulation_whose_context_meets_its_conditions() {
        let all = simulations("arn:aws:iam::1:role/r", "eu-west-1", "1", "ZABC");
        let policy: Value = serde_json::from_str(POLICY).unwrap();
        assert_eq!(all.len(), policy["Statement"].as_array().unwrap().len());
        let (_, create) = all
            .iter()
            .find(|(sid, _)| sid == "EcsCreateServiceTagged")
            .unwrap();
        assert_eq!(
            create.resource_arns,
            ["arn:aws:ecs:eu-west-1:1:service/cygni-doctor/cygni-doctor"]
        );
        assert!(
            create
                .context
                .iter()
                .any(|c| c.key.starts_with("aws:RequestTag/"))
        );
        let (_, records) = all
            .iter()
            .find(|(sid, _)| sid == "Route53ChangeRecordsInAllowedZones")
            .unwrap();
        assert_eq!(records.resource_arns, ["arn:aws:route53:::hostedzone/ZABC"]);
        assert!(records.context.iter().all(|c| c.list));
    }
}
