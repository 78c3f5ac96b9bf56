use super::*;
use crate::api::app::SlotStatus;

fn identity() -> AppIdentity {
    AppIdentity {
        namespace: "shop".to_string(),
        name: "web".to_string(),
        uid: "5f0c2b9e-0000-4000-8000-000000000001".to_string(),
    }
}

fn valid() -> ValidatedApp {
    ValidatedApp {
        cluster: "prod".to_string(),
        subnets: vec!["subnet-0a1b2c3d4e5f60718".to_string()],
        security_groups: vec!["sg-0123456789abcdef0".to_string()],
        listener_arn: "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/edge/1/2"
            .to_string(),
        preview_listener_arn: None,
        execution_role_arn: "arn:aws:iam::123456789012:role/exec".to_string(),
    }
}

fn spec(value: serde_json::Value) -> AppSpec {
    serde_json::from_value(value).expect("spec")
}

fn web(image: &str) -> serde_json::Value {
    serde_json::json!({
        "replicas": 2,
        "container": {
            "image": image,
            "env": [{"name": "LOG_LEVEL", "value": "info"}],
            "secrets": [{"name": "DATABASE_URL",
                "valueFrom": "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf"}]
        },
        "routing": {"hosts": ["web.example.com"]},
        "strategy": {"canary": {"steps": [{"setWeight": 25}, {"pause": {"duration": "1m"}}]}}
    })
}

/// A status of an App whose revision 3 serves from slot a.
fn serving() -> AppStatus {
    AppStatus {
        current_revision: Some(3),
        stable_revision: Some(3),
        active_slot: Some(SlotName::A),
        slots: vec![SlotStatus {
            name: SlotName::A,
            revision: Some(3),
            service_arn: None,
            target_group_arn: None,
            task_definition_arn: None,
            desired: 2,
            running: 2,
            healthy: 2,
            weight: 100,
            rollout_state: None,
            requested_revision: None,
            failure: None,
        }],
        ..AppStatus::default()
    }
}

fn run(live: Option<&AppSpec>, new: &AppSpec, status: Option<&AppStatus>) -> AppDiff {
    run_with(live, new, status, "us-east-1")
}

fn run_with(
    live: Option<&AppSpec>,
    new: &AppSpec,
    status: Option<&AppStatus>,
    region: &str,
) -> AppDiff {
    let id = identity();
    let v = valid();
    diff(&Inputs {
        identity: &id,
        region,
        live: live.map(|spec| Side { spec, valid: &v }),
        status,
        new: Side {
            spec: new,
            valid: &v,
        },
        domains: &[],
        domain_hosts: &[],
    })
}

fn changed<'a>(d: &'a AppDiff, name: &str) -> Option<&'a FieldChange> {
    d.resources
        .iter()
        .flat_map(|r| r.fields.iter())
        .find(|f| f.name == name && f.differs())
        .map(|f| &f.change)
}

#[test]
fn same_spec_changes_nothing() {
    let live = spec(web("web:1"));
    let d = run(Some(&live), &live.clone(), Some(&serving()));
    assert!(!d.differs());
    assert_eq!(d.revision, None);
    assert_eq!(d.cost.peak, None);
}

#[test]
fn image_change_is_a_new_revision_rolled_out_with_the_canary_steps() {
    let live = spec(web("web:1"));
    let new = spec(web("web:2"));
    let d = run(Some(&live), &new, Some(&serving()));
    assert!(d.differs());
    assert_eq!(
        changed(&d, "image"),
        Some(&FieldChange::Changed {
            from: Value::shown("web:1"),
            to: Value::shown("web:2")
        })
    );
    let revision = d.revision.expect("a new revision");
    assert_eq!(revision.number, 4);
    assert!(
        revision
            .rollout
            .starts_with("canary: the new revision starts in service shop-web-")
    );
    assert!(
        revision.rollout.ends_with("-a in 4 steps"),
        "{}",
        revision.rollout
    );
    assert_eq!(
        revision.steps,
        vec![
            "1/4 setWeight 25",
            "2/4 pause 1m",
            "3/4 setWeight 100",
            "4/4 scale-down delay 30s"
        ]
    );
    // Same size and replicas: the steady cost does not move; the rollout peaks at both slots full.
    assert_eq!(d.cost.before, d.cost.before.map(|_| d.cost.after));
    let peak = d.cost.peak.expect("a peak");
    assert_eq!((peak.old.0, peak.new.0), (2, 2));
}

#[test]
fn replicas_change_scales_without_a_revision() {
    let live = spec(web("web:1"));
    let mut new = live.clone();
    new.replicas = 5;
    let d = run(Some(&live), &new, Some(&serving()));
    assert_eq!(d.revision, None);
    assert_eq!(
        changed(&d, "desired count (serving, slot a)"),
        Some(&FieldChange::Changed {
            from: Value::shown("2"),
            to: Value::shown("5")
        })
    );
    assert_eq!(d.cost.before.map(|b| b.0), Some(2));
    assert_eq!(d.cost.after.0, 5);
    assert_eq!(d.cost.peak, None);
}

#[test]
fn cpu_change_prices_both_sizes_and_the_rolling_peak() {
    let mut live = spec(web("web:1"));
    live.strategy = crate::api::Strategy::default();
    let mut new = live.clone();
    new.container.cpu = 512;
    new.container.memory = 1024;
    let d = run(Some(&live), &new, Some(&serving()));
    assert!(changed(&d, "cpu").is_some());
    assert_eq!(d.cost.before, Some((2, TaskSize::new(256, 512))));
    assert_eq!(d.cost.after, (2, TaskSize::new(512, 1024)));
    let peak = d.cost.peak.expect("rolling peak");
    assert_eq!(peak.old, (2, TaskSize::new(256, 512)));
    assert_eq!(peak.new, (2, TaskSize::new(512, 1024)));
    assert!(d.revision.unwrap().rollout.starts_with("rolling: "));
}

#[test]
fn new_app_shows_every_resource_created_and_no_peak() {
    let new = spec(web("web:1"));
    let d = run(None, &new, None);
    assert!(d.created);
    assert!(
        d.resources
            .iter()
            .flat_map(|r| &r.fields)
            .all(|f| matches!(f.change, FieldChange::Added(_)))
    );
    let revision = d.revision.expect("revision 1");
    assert_eq!(revision.number, 1);
    assert!(revision.rollout.starts_with("first revision"));
    assert!(
        revision.rollout.contains("shop-web-<uid>-a"),
        "{}",
        revision.rollout
    );
    assert_eq!(d.cost.before, None);
    assert_eq!(d.cost.peak, None);
}

#[test]
fn env_and_secret_values_are_compared_but_never_shown() {
    let live = spec(web("web:1"));
    let mut new = live.clone();
    new.container.env[0].value = "debug".to_string();
    new.container.secrets[0].value_from =
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:db2-XyZxYz".to_string();
    let d = run(Some(&live), &new, Some(&serving()));
    for name in ["env LOG_LEVEL", "secret DATABASE_URL"] {
        let Some(FieldChange::Changed { from, to }) = changed(&d, name) else {
            panic!("{name} changed");
        };
        assert_eq!(from.to_string(), "(value not shown)");
        assert_eq!(to.to_string(), "(value not shown)");
    }
    let text = format!("{d:?}");
    for secret in ["debug", "db2-XyZxYz", "db-AbCdEf"] {
        assert!(!text.contains(secret), "{secret} leaked");
    }
}

#[test]
fn routing_change_shows_the_rule_hosts_and_priority() {
    let live = spec(web("web:1"));
    let mut new = live.clone();
    new.routing.hosts.push("www.example.com".to_string());
    new.routing.priority = Some(120);
    let d = run(Some(&live), &new, Some(&serving()));
    assert_eq!(d.revision, None);
    assert!(matches!(
        changed(&d, "hosts"),
        Some(FieldChange::Changed { to, .. }) if to.to_string() == "web.example.com, www.example.com"
    ));
    assert!(matches!(
        changed(&d, "priority"),
        Some(FieldChange::Changed { to, .. }) if to.to_string() == "120"
    ));
}

#[test]
fn domain_records_follow_the_listener() {
    let live = spec(web("web:1"));
    let mut new = live.clone();
    new.routing.listener_arn =
        Some("arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/other/3/4".into());
    let domains = [PointingDomain {
        name: "web".to_string(),
        hostnames: vec!["shop.example.com".to_string()],
    }];
    let hosts = ["shop.example.com".to_string()];
    let id = identity();
    let base = valid();
    let unchanged = diff(&Inputs {
        identity: &id,
        region: "us-east-1",
        live: Some(Side {
            spec: &live,
            valid: &base,
        }),
        status: Some(&serving()),
        new: Side {
            spec: &live,
            valid: &base,
        },
        domains: &domains,
        domain_hosts: &hosts,
    });
    assert!(!unchanged.differs());
    assert!(
        unchanged
            .resources
            .iter()
            .any(|r| r.title.starts_with("DNS records"))
    );
    // The rule matches the Domain's hostname too.
    let rule_hosts = unchanged
        .resources
        .iter()
        .flat_map(|r| &r.fields)
        .find(|f| f.name == "hosts")
        .unwrap();
    assert_eq!(
        rule_hosts.change,
        FieldChange::Same(Value::shown("web.example.com, shop.example.com"))
    );
    let mut v = valid();
    v.listener_arn = new.routing.listener_arn.clone().unwrap();
    let moved = diff(&Inputs {
        identity: &id,
        region: "us-east-1",
        live: Some(Side {
            spec: &live,
            valid: &base,
        }),
        status: Some(&serving()),
        new: Side {
            spec: &new,
            valid: &v,
        },
        domains: &domains,
        domain_hosts: &hosts,
    });
    assert!(changed(&moved, "A alias shop.example.com (Domain web)").is_some());
}

#[test]
fn region_without_prices_keeps_the_diff_and_says_why() {
    let live = spec(web("web:1"));
    let d = run_with(Some(&live), &live, Some(&serving()), "mx-central-1");
    let error = d.cost.rates.unwrap_err();
    assert_eq!(error.region, "mx-central-1");
}
