//! The App's listener rule conditions: what they are (the App's hosts, its Ready Domains'
//! hostnames, its paths), whether they fit an ALB rule, and whether another rule on the listener
//! already takes the same requests. Pure functions over plain types.

use crate::api::AppSpec;
use crate::aws::elbv2::{Rule, RuleConditions};
use std::collections::BTreeSet;

/// ALB quota: condition values (hosts and paths together) per rule.
pub const MAX_CONDITION_VALUES: usize = 5;
/// ALB quota: `*` and `?` wildcards per rule, across its condition values.
pub const MAX_WILDCARDS: usize = 5;

/// The rule's conditions: the App's hosts and the Ready Domains' hostnames (lowercase, without a
/// trailing dot, each once), and its paths.
pub fn rule_conditions(spec: &AppSpec, domain_hosts: &[String]) -> RuleConditions {
    let mut hosts: Vec<String> = Vec::new();
    for host in spec.routing.hosts.iter().chain(domain_hosts) {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        if !hosts.contains(&host) {
            hosts.push(host);
        }
    }
    RuleConditions {
        host_headers: hosts,
        path_patterns: spec.routing.paths.clone(),
    }
}

/// Why conditions do not fit one ALB rule, as a sentence naming what to change; `None` when they
/// fit.
pub fn exceeds_limits(conditions: &RuleConditions, domain_hosts: &[String]) -> Option<String> {
    let values = conditions.host_headers.len() + conditions.path_patterns.len();
    let from_domains = if domain_hosts.is_empty() {
        String::new()
    } else {
        format!(
            " (Ready Domains add {})",
            domain_hosts
                .iter()
                .map(|h| h.trim_end_matches('.').to_ascii_lowercase())
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    if values > MAX_CONDITION_VALUES {
        return Some(format!(
            "the rule would have {values} condition values, {} hosts and {} paths{from_domains}, and an ALB rule takes at most {MAX_CONDITION_VALUES}: remove hosts or paths",
            conditions.host_headers.len(),
            conditions.path_patterns.len(),
        ));
    }
    let wildcards: usize = conditions
        .host_headers
        .iter()
        .chain(&conditions.path_patterns)
        .map(|v| v.chars().filter(|c| *c == '*' || *c == '?').count())
        .sum();
    if wildcards > MAX_WILDCARDS {
        return Some(format!(
            "the rule would have {wildcards} wildcards (* and ?){from_domains}, and an ALB rule takes at most {MAX_WILDCARDS}: use fewer wildcards in hosts and paths"
        ));
    }
    None
}

/// Whether two rules match exactly the same requests: the same hosts (case does not matter) and
/// the same paths, in any order.
pub fn same_requests(a: &RuleConditions, b: &RuleConditions) -> bool {
    let hosts = |c: &RuleConditions| -> BTreeSet<String> {
        c.host_headers
            .iter()
            .map(|h| h.trim_end_matches('.').to_ascii_lowercase())
            .collect()
    };
    let paths =
        |c: &RuleConditions| -> BTreeSet<String> { c.path_patterns.iter().cloned().collect() };
    hosts(a) == hosts(b) && paths(a) == paths(b)
}

/// The rule that takes the requests `wanted` describes ahead of the App's own rule `own`: another
/// rule with the same conditions and, when the App has a rule, a lower priority (the ALB evaluates
/// the lowest first, so the other one never lets a request through). `None` when the App's rule is
/// the one that serves.
pub fn conflicting<'a>(
    own: Option<&Rule>,
    others: &'a [Rule],
    wanted: &RuleConditions,
) -> Option<&'a Rule> {
    let own_priority = own.and_then(|r| r.priority);
    others
        .iter()
        .filter(|r| own.is_none_or(|o| o.arn != r.arn))
        .filter(|r| same_requests(&r.conditions, wanted))
        .filter_map(|r| r.priority.map(|p| (p, r)))
        .filter(|(p, _)| own_priority.is_none_or(|mine| *p < mine))
        .min_by_key(|(p, _)| *p)
        .map(|(_, r)| r)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conditions(hosts: &[&str], paths: &[&str]) -> RuleConditions {
        RuleConditions {
            host_headers: hosts.iter().map(|h| h.to_string()).collect(),
            path_patterns: paths.iter().map(|p| p.to_string()).collect(),
        }
    }

    fn rule(arn: &str, priority: i32, hosts: &[&str], paths: &[&str]) -> Rule {
        Rule {
            arn: arn.into(),
            priority: Some(priority),
            conditions: conditions(hosts, paths),
            forward: vec![],
        }
    }

    #[test]
    fn a_second_app_with_the_same_hosts_and_paths_conflicts_with_the_first() {
        let first = [rule("first", 1200, &[], &["/*"])];
        let wanted = conditions(&[], &["/*"]);
        assert_eq!(
            conflicting(None, &first, &wanted).map(|r| r.arn.as_str()),
            Some("first")
        );
    }

    #[test]
    fn of_two_rules_for_the_same_requests_the_lower_priority_serves() {
        let mine = rule("mine", 3000, &["a.example.com"], &["/*"]);
        let other = rule("other", 2000, &["A.example.com."], &["/*"]);
        let wanted = conditions(&["a.example.com"], &["/*"]);
        assert_eq!(
            conflicting(Some(&mine), std::slice::from_ref(&other), &wanted).map(|r| r.arn.as_str()),
            Some("other"),
            "mine never gets a request"
        );
        assert!(
            conflicting(Some(&other), std::slice::from_ref(&mine), &wanted).is_none(),
            "the first claimant is untouched"
        );
    }

    #[test]
    fn overlapping_but_different_conditions_do_not_conflict() {
        let others = [
            rule("api", 1100, &[], &["/api/*"]),
            rule("host", 1200, &["shop.example.com"], &["/*"]),
        ];
        assert!(conflicting(None, &others, &conditions(&[], &["/*"])).is_none());
    }

    #[test]
    fn more_than_five_condition_values_are_refused_naming_the_domains_that_added_hosts() {
        let wanted = conditions(
            &["a.example.com", "b.example.com", "c.example.com"],
            &["/x/*", "/y/*", "/z/*"],
        );
        let why = exceeds_limits(&wanted, &["c.example.com".into()]).expect("too many");
        assert!(why.contains("6 condition values"), "{why}");
        assert!(why.contains("Ready Domains add c.example.com"), "{why}");
        assert!(exceeds_limits(&conditions(&["a.example.com"], &["/*"]), &[]).is_none());
    }

    #[test]
    fn more_than_five_wildcards_are_refused() {
        let wanted = conditions(&["*.example.com", "*.example.org"], &["/a*", "/b*", "/c?*"]);
        let why = exceeds_limits(&wanted, &[]).expect("too many wildcards");
        assert!(why.contains("6 wildcards"), "{why}");
    }
}
