//! The AWS checks of `cygni doctor`: credentials and region, the ECS clusters, subnets and
//! security groups, the listeners, the hosted zones Domains may use, and (in `iam`) the IAM
//! actions. Each check is a pure function of what the calls answered; [`checks`] makes the calls.

use super::report::Check;
use crate::aws::ec2::{Ec2, SecurityGroup, Subnet};
use crate::aws::ecs::{Clusters, Ecs};
use crate::aws::elbv2::{Elbv2, Listener, LoadBalancer, Rule};
use crate::aws::iam::Iam;
use crate::aws::route53::{HostedZone, Route53};
use crate::aws::sts::{CallerIdentity, Sts};
use crate::aws::{AwsError, AwsErrorKind, AwsResult};
use crate::config::{OperatorDefaults, Policy};
use std::sync::Arc;

/// The AWS services doctor asks, behind their traits.
#[derive(Clone)]
pub struct Account {
    /// STS.
    pub sts: Arc<dyn Sts>,
    /// EC2.
    pub ec2: Arc<dyn Ec2>,
    /// IAM.
    pub iam: Arc<dyn Iam>,
    /// ECS.
    pub ecs: Arc<dyn Ecs>,
    /// ELBv2.
    pub elbv2: Arc<dyn Elbv2>,
    /// Route53.
    pub route53: Arc<dyn Route53>,
    /// The region the clients use; empty when none was found.
    pub region: String,
}

impl Account {
    /// The SDK clients, from the same settings as the operator's.
    pub async fn sdk(region: Option<String>, endpoint_url: Option<String>) -> Account {
        use crate::aws::sdk;
        let config = sdk::sdk_config(region, endpoint_url).await;
        let services = sdk::services_from_config(&config);
        Account {
            sts: Arc::new(sdk::SdkSts::new(aws_sdk_sts::Client::new(&config))),
            ec2: Arc::new(sdk::SdkEc2::new(aws_sdk_ec2::Client::new(&config))),
            iam: Arc::new(sdk::SdkIam::new(aws_sdk_iam::Client::new(&config))),
            ecs: services.ecs,
            elbv2: services.elbv2,
            route53: services.route53,
            region: services.region,
        }
    }

    /// The simulated account of `sim`.
    pub fn sim(sim: &crate::sim::aws::AwsSim) -> Account {
        let services = sim.services();
        Account {
            sts: sim.sts(),
            ec2: sim.ec2(),
            iam: sim.iam(),
            ecs: services.ecs,
            elbv2: services.elbv2,
            route53: services.route53,
            region: services.region,
        }
    }
}

/// An AWS error as one line: its code and message.
fn said(error: &AwsError) -> String {
    format!(
        "{} {}: {}: {}",
        error.service, error.operation, error.code, error.message
    )
}

/// The credentials work: STS says whose they are.
pub fn credentials_check(identity: &AwsResult<CallerIdentity>) -> Check {
    match identity {
        Ok(me) => Check::pass(
            "AWS credentials",
            format!("account {}, {}", me.account, me.arn),
        ),
        Err(error) => Check::fail(
            "AWS credentials",
            said(error),
            "give the operator an IAM role (serviceAccount.roleArn for IRSA, or an EKS Pod Identity association); outside a pod set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY",
        ),
    }
}

/// A region is configured.
pub fn region_check(region: &str) -> Check {
    if region.is_empty() {
        Check::fail(
            "AWS region",
            "no region: none given and none in the environment or profile",
            "set --aws-region or AWS_REGION (the chart's aws.region)",
        )
    } else {
        Check::pass("AWS region", region.to_string())
    }
}

/// One ECS cluster (the default or an allowed one) exists and is ACTIVE.
pub fn cluster_check(title: &str, cluster: &str, answer: &AwsResult<Clusters>) -> Check {
    let create = format!(
        "create it (`aws ecs create-cluster --cluster-name {}`) or point --ecs-cluster / --allowed-clusters at an existing one",
        cluster.rsplit('/').next().unwrap_or(cluster)
    );
    let answer = match answer {
        Ok(answer) => answer,
        Err(error) => return Check::fail(title, said(error), create),
    };
    let short = cluster.rsplit('/').next().unwrap_or(cluster);
    if let Some(found) = answer
        .found
        .iter()
        .find(|c| c.name == short || c.arn == cluster)
    {
        if found.status != "ACTIVE" {
            return Check::fail(title, format!("{} is {}", found.arn, found.status), create);
        }
        let providers = if found.capacity_providers.is_empty() {
            "no capacity providers (services use launch type FARGATE)".to_string()
        } else {
            format!("capacity providers {}", found.capacity_providers.join(", "))
        };
        return Check::pass(title, format!("{} is ACTIVE, {providers}", found.arn));
    }
    let reason = answer
        .failures
        .iter()
        .map(|(arn, reason)| format!("{arn} ({reason})"))
        .collect::<Vec<_>>()
        .join(", ");
    Check::fail(
        title,
        format!("cluster {cluster} not found: {reason}"),
        create,
    )
}

/// The default subnets exist; a warning when they span several VPCs or one zone only.
pub fn subnets_check(answer: Option<&AwsResult<Vec<Subnet>>>) -> Check {
    const TITLE: &str = "Subnets";
    let Some(answer) = answer else {
        return Check::warn(
            TITLE,
            "no default subnets",
            "set --subnets (the chart's ecs.subnets), or every App must set spec.network.subnets",
        );
    };
    let subnets = match answer {
        Ok(subnets) => subnets,
        Err(error) => {
            return Check::fail(
                TITLE,
                said(error),
                "set --subnets to subnets of the load balancer's VPC in this region and account",
            );
        }
    };
    let listed = subnets
        .iter()
        .map(|s| format!("{} ({}, {})", s.id, s.availability_zone, s.vpc_id))
        .collect::<Vec<_>>()
        .join(", ");
    let mut vpcs: Vec<&str> = subnets.iter().map(|s| s.vpc_id.as_str()).collect();
    vpcs.sort_unstable();
    vpcs.dedup();
    if vpcs.len() > 1 {
        return Check::fail(
            TITLE,
            format!("{listed}: in {} VPCs", vpcs.len()),
            "a service's subnets must all be in one VPC: the load balancer's",
        );
    }
    let mut zones: Vec<&str> = subnets
        .iter()
        .map(|s| s.availability_zone.as_str())
        .collect();
    zones.sort_unstable();
    zones.dedup();
    if zones.len() < 2 {
        return Check::warn(
            TITLE,
            format!("{listed}: one availability zone only"),
            "add a subnet in a second zone, so tasks survive the loss of one",
        );
    }
    Check::pass(TITLE, listed)
}

/// The default security groups exist, in the subnets' VPC.
pub fn security_groups_check(
    answer: Option<&AwsResult<Vec<SecurityGroup>>>,
    subnets_vpc: Option<&str>,
) -> Check {
    const TITLE: &str = "Security groups";
    let Some(answer) = answer else {
        return Check::warn(
            TITLE,
            "no default security groups",
            "set --security-groups (the chart's ecs.securityGroups), or every App must set spec.network.securityGroups",
        );
    };
    let groups = match answer {
        Ok(groups) => groups,
        Err(error) => {
            return Check::fail(
                TITLE,
                said(error),
                "set --security-groups to groups of the subnets' VPC",
            );
        }
    };
    let listed = groups
        .iter()
        .map(|g| format!("{} ({}, {})", g.id, g.name, g.vpc_id))
        .collect::<Vec<_>>()
        .join(", ");
    if let Some(vpc) = subnets_vpc
        && groups.iter().any(|g| g.vpc_id != vpc)
    {
        return Check::fail(
            TITLE,
            format!("{listed}: not all in the subnets' VPC {vpc}"),
            "use security groups of the subnets' VPC",
        );
    }
    Check::pass(TITLE, listed)
}

/// What was read about one listener.
#[derive(Clone, Debug)]
pub struct ListenerFacts {
    /// DescribeListeners (`None`: not found).
    pub listener: AwsResult<Option<Listener>>,
    /// Its certificates, the default first.
    pub certificates: AwsResult<Vec<String>>,
    /// Its rules, the default last.
    pub rules: AwsResult<Vec<Rule>>,
    /// Its load balancer.
    pub load_balancer: Option<AwsResult<Option<LoadBalancer>>>,
}

/// A listener exists, speaks HTTPS with a certificate when Domains are to be used, and its
/// default action does not catch traffic meant for Apps.
pub fn listener_check(
    title: &str,
    arn: &str,
    facts: &ListenerFacts,
    domains: bool,
    subnets_vpc: Option<&str>,
) -> Check {
    let fix_arn = "set --listener-arn (the chart's loadBalancer.listenerArn) to a listener of an Application Load Balancer in this region";
    let listener = match &facts.listener {
        Ok(Some(listener)) => listener,
        Ok(None) => {
            return Check::fail(
                title,
                format!("listener {arn} not found (ListenerNotFound)"),
                fix_arn,
            );
        }
        Err(error) => return Check::fail(title, said(error), fix_arn),
    };
    let mut seen = format!("{} on port {}", listener.protocol, listener.port);
    if listener.protocol == "HTTPS" {
        match &facts.certificates {
            Ok(certificates) if !certificates.is_empty() => {
                seen.push_str(&format!(", {} certificate(s)", certificates.len()));
            }
            Ok(_) => {
                return Check::fail(
                    title,
                    format!("{seen} without a certificate"),
                    "give the listener a default certificate",
                );
            }
            Err(error) => return Check::fail(title, said(error), fix_arn),
        }
    } else if domains {
        return Check::fail(
            title,
            format!("{seen}: Domains need HTTPS to serve their certificates"),
            "use an HTTPS listener (port 443 with a default certificate) for Apps with Domains",
        );
    }
    if let (Some(Ok(Some(lb))), Some(vpc)) = (&facts.load_balancer, subnets_vpc)
        && lb.vpc_id != vpc
    {
        return Check::fail(
            title,
            format!(
                "{seen}; its load balancer is in {}, the subnets in {vpc}",
                lb.vpc_id
            ),
            "use subnets of the load balancer's VPC: its target groups can only reach tasks there",
        );
    }
    match &facts.rules {
        Ok(rules) => match rules.iter().find(|r| r.priority.is_none()) {
            Some(default) if !default.forward.is_empty() => {
                let groups = default
                    .forward
                    .iter()
                    .map(|t| t.target_group_arn.as_str())
                    .collect::<Vec<_>>()
                    .join(", ");
                Check::warn(
                    title,
                    format!("{seen}; the default action forwards to {groups}"),
                    "requests for a hostname no App serves yet (or for an App being deleted) reach that target group: make the default action a fixed response (404)",
                )
            }
            _ => Check::pass(
                title,
                format!(
                    "{seen}; the default action answers by itself (fixed response or redirect)"
                ),
            ),
        },
        Err(error) => Check::fail(title, said(error), fix_arn),
    }
}

/// The hosted zones Domains may write to exist (by ID or by name).
pub fn zones_check(
    allowed: &[String],
    zones: &AwsResult<Vec<HostedZone>>,
    by_name: &[(String, AwsResult<Vec<HostedZone>>)],
) -> Check {
    const TITLE: &str = "Hosted zones";
    let zones = match zones {
        Ok(zones) => zones,
        Err(error) => {
            return Check::fail(
                TITLE,
                said(error),
                "let the operator's role list hosted zones (docs/iam-policy.json)",
            );
        }
    };
    let show = |z: &HostedZone| {
        format!(
            "{} ({}{})",
            z.name,
            z.id,
            if z.private { ", private" } else { "" }
        )
    };
    if allowed.is_empty() {
        if zones.is_empty() {
            return Check::warn(
                TITLE,
                "the account has no hosted zone: Domains cannot be used",
                "create a public hosted zone for your domain, and set --allowed-hosted-zones to it",
            );
        }
        return Check::pass(
            TITLE,
            format!(
                "any zone may be used (no --allowed-hosted-zones): {}",
                zones.iter().map(show).collect::<Vec<_>>().join(", ")
            ),
        );
    }
    let mut found = Vec::new();
    let mut missing = Vec::new();
    for entry in allowed {
        let id = entry.trim_start_matches("/hostedzone/");
        if let Some(zone) = zones.iter().find(|z| z.id == id) {
            found.push(show(zone));
            continue;
        }
        match by_name
            .iter()
            .find(|(name, _)| name == entry)
            .map(|(_, a)| a)
        {
            Some(Ok(named)) if !named.is_empty() => found.extend(named.iter().map(show)),
            Some(Err(error)) => missing.push(format!("{entry} ({})", said(error))),
            _ => missing.push(entry.clone()),
        }
    }
    if missing.is_empty() {
        Check::pass(TITLE, found.join(", "))
    } else {
        Check::fail(
            TITLE,
            format!("not found: {}", missing.join(", ")),
            "set --allowed-hosted-zones (the chart's allowed.hostedZones) to zones of this account, by ID (Z...) or name",
        )
    }
}

/// Whether a zone entry is an ID (`Z` and uppercase alphanumerics) rather than a name.
fn is_zone_id(entry: &str) -> bool {
    let id = entry.trim_start_matches("/hostedzone/");
    id.starts_with('Z')
        && id
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
}

/// Every AWS check, with the operator's defaults and policy.
pub async fn checks(
    account: &Account,
    defaults: &OperatorDefaults,
    policy: &Policy,
    operator_role: Option<&str>,
) -> Vec<Check> {
    let identity = account.sts.get_caller_identity().await;
    let mut out = vec![credentials_check(&identity), region_check(&account.region)];

    let mut clusters: Vec<(String, &str)> = Vec::new();
    if let Some(cluster) = &defaults.ecs_cluster {
        clusters.push((cluster.clone(), "ECS cluster"));
    } else {
        out.push(Check::warn(
            "ECS cluster",
            "no default cluster",
            "set --ecs-cluster (the chart's ecs.cluster), or every App must set spec.cluster",
        ));
    }
    for allowed in &policy.allowed_clusters {
        if !clusters.iter().any(|(c, _)| c == allowed) {
            clusters.push((allowed.clone(), "Allowed ECS cluster"));
        }
    }
    for (cluster, title) in &clusters {
        let answer = account
            .ecs
            .describe_clusters(std::slice::from_ref(cluster))
            .await;
        out.push(cluster_check(title, cluster, &answer));
    }

    let subnets = if defaults.subnets.is_empty() {
        None
    } else {
        Some(account.ec2.describe_subnets(&defaults.subnets).await)
    };
    let subnets_vpc: Option<String> = match &subnets {
        Some(Ok(found)) => found.first().map(|s| s.vpc_id.clone()),
        _ => None,
    };
    out.push(subnets_check(subnets.as_ref()));
    let groups = if defaults.security_groups.is_empty() {
        None
    } else {
        Some(
            account
                .ec2
                .describe_security_groups(&defaults.security_groups)
                .await,
        )
    };
    out.push(security_groups_check(
        groups.as_ref(),
        subnets_vpc.as_deref(),
    ));

    let domains = !policy.allowed_hosted_zones.is_empty();
    let mut listeners: Vec<(String, String)> = Vec::new();
    match &defaults.listener_arn {
        Some(arn) => listeners.push(("Listener".into(), arn.clone())),
        None => out.push(Check::warn(
            "Listener",
            "no default listener",
            "set --listener-arn (the chart's loadBalancer.listenerArn), or every App must set spec.routing.listenerArn",
        )),
    }
    if let Some(arn) = &defaults.preview_listener_arn {
        listeners.push(("Preview listener".into(), arn.clone()));
    }
    for allowed in &policy.allowed_listeners {
        if !listeners.iter().any(|(_, a)| a == allowed) {
            listeners.push(("Allowed listener".into(), allowed.clone()));
        }
    }
    for (title, arn) in &listeners {
        let facts = listener_facts(account, arn).await;
        // The preview listener is a test port: it serves no Domain.
        let https_needed = domains && title != "Preview listener";
        out.push(listener_check(
            title,
            arn,
            &facts,
            https_needed,
            subnets_vpc.as_deref(),
        ));
    }

    let zones = account.route53.list_hosted_zones().await;
    let mut by_name = Vec::new();
    for entry in policy
        .allowed_hosted_zones
        .iter()
        .filter(|e| !is_zone_id(e))
    {
        by_name.push((
            entry.clone(),
            account.route53.hosted_zones_by_name(entry).await,
        ));
    }
    out.push(zones_check(&policy.allowed_hosted_zones, &zones, &by_name));

    out.push(super::iam::check(account, identity.as_ref().ok(), operator_role, policy).await);
    out
}

async fn listener_facts(account: &Account, arn: &str) -> ListenerFacts {
    let listener = account.elbv2.describe_listener(arn).await;
    let (certificates, rules, load_balancer) = match &listener {
        Ok(Some(l)) => (
            account.elbv2.describe_listener_certificates(arn).await,
            account.elbv2.describe_rules(arn).await,
            Some(
                account
                    .elbv2
                    .describe_load_balancer(&l.load_balancer_arn)
                    .await,
            ),
        ),
        _ => (Ok(Vec::new()), Ok(Vec::new()), None),
    };
    ListenerFacts {
        listener,
        certificates,
        rules,
        load_balancer,
    }
}

/// Whether an error says the caller lacks a permission.
pub fn access_denied(error: &AwsError) -> bool {
    error.kind == AwsErrorKind::AccessDenied
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::ecs::Cluster;
    use crate::aws::elbv2::WeightedTarget;
    use crate::doctor::report::Outcome;

    #[test]
    fn a_missing_cluster_fails_naming_it_and_how_to_create_it() {
        let answer = Ok(Clusters {
            found: Vec::new(),
            failures: vec![(
                "arn:aws:ecs:eu-west-1:1:cluster/web".into(),
                "MISSING".into(),
            )],
        });
        let check = cluster_check("ECS cluster", "web", &answer);
        assert_eq!(check.outcome, Outcome::Fail);
        assert_eq!(
            check.detail,
            "cluster web not found: arn:aws:ecs:eu-west-1:1:cluster/web (MISSING)"
        );
        assert!(
            check
                .fix
                .unwrap()
                .contains("aws ecs create-cluster --cluster-name web")
        );
        let active = Ok(Clusters {
            found: vec![Cluster {
                arn: "arn:aws:ecs:eu-west-1:1:cluster/web".into(),
                name: "web".into(),
                status: "INACTIVE".into(),
                capacity_providers: Vec::new(),
            }],
            failures: Vec::new(),
        });
        assert_eq!(
            cluster_check("ECS cluster", "web", &active).outcome,
            Outcome::Fail
        );
    }

    fn listener(protocol: &str, default_forward: Vec<WeightedTarget>) -> ListenerFacts {
        ListenerFacts {
            listener: Ok(Some(Listener {
                arn: "l".into(),
                load_balancer_arn: "lb".into(),
                port: 443,
                protocol: protocol.into(),
            })),
            certificates: Ok(vec!["cert".into()]),
            rules: Ok(vec![Rule {
                arn: "r".into(),
                priority: None,
                conditions: Default::default(),
                forward: default_forward,
            }]),
            load_balancer: None,
        }
    }

    #[test]
    fn a_listener_forwarding_by_default_warns_and_http_fails_when_domains_are_used() {
        let fixed = listener_check("Listener", "l", &listener("HTTPS", Vec::new()), true, None);
        assert_eq!(fixed.outcome, Outcome::Pass, "{}", fixed.detail);
        let forward = listener_check(
            "Listener",
            "l",
            &listener(
                "HTTPS",
                vec![WeightedTarget {
                    target_group_arn: "tg-legacy".into(),
                    weight: 1,
                }],
            ),
            true,
            None,
        );
        assert_eq!(forward.outcome, Outcome::Warn);
        assert!(forward.detail.contains("forwards to tg-legacy"));
        assert_eq!(
            listener_check("Listener", "l", &listener("HTTP", Vec::new()), true, None).outcome,
            Outcome::Fail
        );
        assert_eq!(
            listener_check("Listener", "l", &listener("HTTP", Vec::new()), false, None).outcome,
            Outcome::Pass
        );
    }

    #[test]
    fn allowed_zones_are_found_by_id_or_name_and_missing_ones_named() {
        let zones = Ok(vec![HostedZone {
            id: "ZABC".into(),
            name: "example.com.".into(),
            private: false,
        }]);
        let ok = zones_check(&["ZABC".into()], &zones, &[]);
        assert_eq!(ok.outcome, Outcome::Pass);
        let bad = zones_check(
            &["ZABC".into(), "ZNOPE".into(), "other.org".into()],
            &zones,
            &[("other.org".into(), Ok(Vec::new()))],
        );
        assert_eq!(bad.outcome, Outcome::Fail);
        assert_eq!(bad.detail, "not found: ZNOPE, other.org");
        assert!(is_zone_id("Z0123ABC") && !is_zone_id("example.com"));
    }

    #[test]
    fn subnets_in_two_vpcs_fail() {
        let subnet = |id: &str, vpc: &str, az: &str| Subnet {
            id: id.into(),
            vpc_id: vpc.into(),
            availability_zone: az.into(),
            available_ips: 10,
        };
        let two = Ok(vec![subnet("a", "v1", "z1"), subnet("b", "v2", "z2")]);
        assert_eq!(subnets_check(Some(&two)).outcome, Outcome::Fail);
        let good = Ok(vec![subnet("a", "v1", "z1"), subnet("b", "v1", "z2")]);
        assert_eq!(subnets_check(Some(&good)).outcome, Outcome::Pass);
        assert_eq!(subnets_check(None).outcome, Outcome::Warn);
    }
}
