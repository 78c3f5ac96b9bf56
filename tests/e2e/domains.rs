//! Domains: the example Domain goes Ready only once its certificate is issued (after its
//! validation records exist) and attached and its alias records are in sync, and only then
//! does the App route it; deleting it removes what it made and nothing else. Claims: of two
//! Domains for one hostname exactly one wins, in one namespace or two, whatever the order; a
//! name that external-dns or nobody's registry holds is a Conflict and is left untouched.

use crate::harness::*;
use cygni::aws::acm::CertificateStatus;
use cygni::aws::route53::{Change, ChangeAction, RecordSet, RecordType};
use cygni::sim::aws::{SimService, WorldSnapshot};
use std::time::{Duration, Instant};

/// The example Domain's spec, as `examples/domain.yaml` has it.
fn example_spec() -> serde_json::Value {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/domain.yaml"))
            .expect("examples/domain.yaml");
    let doc: serde_json::Value = serde_yaml_ng::from_str(&text).expect("YAML");
    doc["spec"].clone()
}

fn spec_for(hostname: &str, app: &str) -> serde_json::Value {
    serde_json::json!({"hostname": hostname, "appRef": {"name": app}})
}

/// The records of the zone `example.com`, sorted.
fn zone_records(snapshot: &WorldSnapshot) -> Vec<RecordSet> {
    let mut records = snapshot
        .zone("example.com")
        .map(|z| z.records.clone())
        .unwrap_or_default();
    records.sort_by(|a, b| (&a.name, a.type_).cmp(&(&b.name, b.type_)));
    records
}

fn has(records: &[RecordSet], name: &str, type_: RecordType) -> bool {
    records.iter().any(|r| r.name == name && r.type_ == type_)
}

/// Host headers of every rule on the playground's listener.
fn routed(snapshot: &WorldSnapshot, listener: &str) -> Vec<String> {
    snapshot
        .listener(listener)
        .map(|l| {
            l.rules
                .iter()
                .flat_map(|r| r.conditions.host_headers.clone())
                .collect()
        })
        .unwrap_or_default()
}

fn listener_of(env: &Env) -> String {
    let snapshot = env.aws.snapshot();
    snapshot
        .load_balancers
        .iter()
        .flat_map(|lb| lb.listeners.iter())
        .find(|l| l.listener.port == 443)
        .map(|l| l.listener.arn.clone())
        .expect("the playground's HTTPS listener")
}

/// Writes a record as someone other than the operator would.
async fn write_outside(env: &Env, record: RecordSet) {
    let zone = env
        .aws
        .snapshot()
        .zone("example.com")
        .map(|z| z.zone.id.clone())
        .expect("zone");
    env.aws
        .services()
        .route53
        .change_record_sets(
            &zone,
            &[Change {
                action: ChangeAction::Create,
                record,
            }],
        )
        .await
        .expect("outside record written");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_domain_is_ready_only_once_certified_and_resolving_and_deletes_cleanly() {
    let env = Env::start().await;
    let listener = listener_of(&env);
    // Something the operator does not own, which must survive.
    write_outside(
        &env,
        RecordSet {
            name: "mail.example.com.".into(),
            type_: RecordType::Txt,
            ttl: Some(300),
            values: vec!["\"v=spf1 -all\"".into()],
            alias: None,
        },
    )
    .await;
    env.apply_app("shop", minimal("nginx:1.27")).await;
    env.wait_app("shop", "Ready", ready).await;
    let before = env.aws.snapshot();
    let records_before = zone_records(&before);
    let certificates_before = before
        .listener(&listener)
        .expect("listener")
        .certificates
        .clone();

    env.apply_domain("shop", example_spec()).await;
    let hosts = ["shop.example.com", "www.shop.example.com"];
    // Until Ready: an issued certificate always has its validation records in the zone, and the
    // App's rule never holds a hostname of a Domain that is not Ready.
    let start = Instant::now();
    let mut saw_pending = false;
    let domain = loop {
        let snapshot = env.aws.snapshot();
        let domain = env.domains().get("shop").await.expect("Domain");
        let status = domain.status.clone().unwrap_or_default();
        if let Some(cert) = status.certificate.as_ref() {
            let issued = snapshot
                .certificate(&cert.arn)
                .is_some_and(|c| c.status == CertificateStatus::Issued);
            saw_pending |= !issued;
            if issued {
                let records = zone_records(&snapshot);
                let validation = snapshot
                    .certificate(&cert.arn)
                    .expect("cert")
                    .validations
                    .clone();
                for v in validation {
                    let record = v.record.expect("validation record");
                    assert!(
                        has(&records, &record.name, RecordType::Cname),
                        "certificate issued before its validation record {} existed",
                        record.name
                    );
                }
            }
        }
        let ready_now = domain_ready(&domain).is_some_and(|(s, _, _)| s == "True");
        if !ready_now {
            let rule_hosts = routed(&snapshot, &listener);
            // The rule was read before the Domain: a hostname routed means it was Ready already.
            let fresh = env.domains().get("shop").await.expect("Domain");
            let ready_after = domain_ready(&fresh).is_some_and(|(s, _, _)| s == "True");
            for host in hosts {
                assert!(
                    ready_after || !rule_hosts.iter().any(|h| h == host),
                    "{host} was routed before the Domain was Ready"
                );
            }
        } else {
            break domain;
        }
        assert!(start.elapsed() < PATIENCE, "Domain never Ready: {status:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        saw_pending,
        "the certificate was never seen pending validation"
    );
    let status = domain.status.clone().expect("status");
    let cert = status.certificate.clone().expect("certificate");
    assert!(cert.managed && cert.attached, "{cert:?}");
    assert_eq!(cert.status, "ISSUED");
    assert!(cert.not_after.is_some(), "{cert:?}");
    assert_eq!(
        status.change.as_ref().map(|c| c.status.as_str()),
        Some("INSYNC")
    );
    assert_eq!(status.hosted_zone_name.as_deref(), Some("example.com"));

    let snapshot = env.aws.snapshot();
    let lb = snapshot
        .load_balancers
        .iter()
        .find(|lb| lb.listeners.iter().any(|l| l.listener.arn == listener))
        .expect("load balancer");
    let records = zone_records(&snapshot);
    for host in hosts {
        for type_ in [RecordType::A, RecordType::Aaaa] {
            let alias = records
                .iter()
                .find(|r| r.name == format!("{host}.") && r.type_ == type_)
                .and_then(|r| r.alias.clone())
                .unwrap_or_else(|| panic!("alias {type_:?} for {host}"));
            assert_eq!(
                alias.dns_name,
                format!("dualstack.{}.", lb.load_balancer.dns_name),
                "{host} {type_:?}"
            );
            assert_eq!(
                alias.hosted_zone_id,
                lb.load_balancer.canonical_hosted_zone_id
            );
        }
        assert!(has(
            &records,
            &format!("_cygni-owner.{host}."),
            RecordType::Txt
        ));
    }
    assert!(
        snapshot
            .listener(&listener)
            .expect("listener")
            .certificates
            .contains(&cert.arn)
    );
    // The App routes the hostnames once the Domain is Ready.
    env.wait_app("shop", "routing the Domain", |app| {
        let urls = app
            .status
            .as_ref()
            .map(|s| s.urls.clone())
            .unwrap_or_default();
        hosts
            .iter()
            .all(|h| urls.contains(&format!("https://{h}/")))
    })
    .await;
    let routed_now = routed(&env.aws.snapshot(), &listener);
    assert!(
        hosts.iter().all(|h| routed_now.iter().any(|r| r == h)),
        "{routed_now:?}"
    );
    env.wait_event("shop", "CertificateRequested").await;
    env.wait_event("shop", "Ready").await;

    // Deleted: the rule lets go first, then everything the Domain made goes, and nothing else.
    env.domains()
        .delete("shop", &Default::default())
        .await
        .expect("deleted");
    env.wait_domain_gone(None, "shop").await;
    let after = env.aws.snapshot();
    assert_eq!(zone_records(&after), records_before);
    assert_eq!(
        after.listener(&listener).expect("listener").certificates,
        certificates_before
    );
    assert!(
        after.certificate(&cert.arn).is_none(),
        "certificate left behind"
    );
    let routed_after = routed(&after, &listener);
    assert!(
        hosts.iter().all(|h| !routed_after.iter().any(|r| r == h)),
        "{routed_after:?}"
    );
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_two_domains_for_one_hostname_in_one_namespace_the_first_keeps_it_either_way() {
    let env = Env::start().await;
    env.apply_app("web", minimal("nginx:1.27")).await;
    env.wait_app("web", "Ready", ready).await;

    // One after the other: the first claimant keeps it, the second is told who has it.
    env.apply_domain("first", spec_for("web.example.com", "web"))
        .await;
    env.wait_domain("first", "Ready", domain_is("True", "Available"))
        .await;
    env.apply_domain("second", spec_for("web.example.com", "web"))
        .await;
    let second = env
        .wait_domain("second", "Conflict", domain_is("False", "Conflict"))
        .await;
    let (_, _, message) = domain_ready(&second).expect("Ready");
    assert!(
        message.contains(&format!("{}/first", env.namespace)),
        "{message}"
    );
    env.wait_event("second", "Conflict").await;
    // A few resyncs later the first is untouched.
    tokio::time::sleep(RESYNC * 3).await;
    env.wait_domain("first", "still Ready", domain_is("True", "Available"))
        .await;
    assert!(
        second
            .status
            .as_ref()
            .is_some_and(|s| s.certificate.is_none()),
        "the loser requested a certificate"
    );

    // At the same moment: exactly one wins, and the other stays in conflict.
    env.apply_app("api", minimal("nginx:1.27")).await;
    let (a, b) = tokio::join!(
        env.apply_domain("api-a", spec_for("api.example.com", "api")),
        env.apply_domain("api-b", spec_for("api.example.com", "api")),
    );
    drop((a, b));
    let settled = |d: &cygni::api::Domain| {
        domain_is("True", "Available")(d) || domain_is("False", "Conflict")(d)
    };
    env.wait_domain("api-a", "settled", settled).await;
    env.wait_domain("api-b", "settled", settled).await;
    tokio::time::sleep(RESYNC * 3).await;
    let a = env
        .wait_domain("api-a", "settled", settled)
        .await
        .status
        .unwrap_or_default();
    let b = env
        .wait_domain("api-b", "settled", settled)
        .await
        .status
        .unwrap_or_default();
    let winners = [&a, &b]
        .iter()
        .filter(|s| cygni::api::conditions::is_true(&s.conditions, "Ready"))
        .count();
    assert_eq!(winners, 1, "api-a: {a:?}\napi-b: {b:?}");
    let owners = zone_records(&env.aws.snapshot())
        .into_iter()
        .filter(|r| r.name == "_cygni-owner.api.example.com.")
        .count();
    assert_eq!(owners, 1);
    // The App routes the winner's hostname: deleting the loser does not wait for it, and leaves
    // the winner as it is.
    let (winner, loser) = if cygni::api::conditions::is_true(&a.conditions, "Ready") {
        ("api-a", "api-b")
    } else {
        ("api-b", "api-a")
    };
    env.wait_app("api", "routing the winner", |app| {
        app.status
            .as_ref()
            .is_some_and(|s| s.urls.contains(&"https://api.example.com/".to_string()))
    })
    .await;
    env.domains()
        .delete(loser, &Default::default())
        .await
        .expect("deleted");
    env.wait_domain_gone(None, loser).await;
    env.wait_domain(winner, "still Ready", domain_is("True", "Available"))
        .await;
    assert!(has(
        &zone_records(&env.aws.snapshot()),
        "_cygni-owner.api.example.com.",
        RecordType::Txt
    ));

    // The second gets the hostname once the first is gone.
    env.domains()
        .delete("first", &Default::default())
        .await
        .expect("deleted");
    env.wait_domain(
        "second",
        "Ready after the first left",
        domain_is("True", "Available"),
    )
    .await;
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_two_domains_for_one_hostname_in_two_namespaces_exactly_one_is_ready() {
    let mut env = Env::without_operator().await;
    let other = format!("{}-b", env.namespace);
    create_namespace(&env.client, &other).await;
    let operator = env.spawn_operator(&["--namespaces".to_string(), other.clone()]);
    env.apply_app("web", minimal("nginx:1.27")).await;
    let apps: kube::Api<cygni::api::App> = kube::Api::namespaced(env.client.clone(), &other);
    apps.patch(
        "web",
        &kube::api::PatchParams::apply("e2e").force(),
        &kube::api::Patch::Apply(&serde_json::json!({
            "apiVersion": "cygni.io/v1alpha1", "kind": "App",
            "metadata": {"name": "web", "namespace": other},
            "spec": {"container": {"image": "nginx:1.27", "port": 80}, "routing": {"paths": ["/b/*"]}},
        })),
    )
    .await
    .expect("App in the other namespace");
    // The other namespace's Domain first, then this one's.
    env.apply_domain_in(Some(&other), "shop", spec_for("shop.example.com", "web"))
        .await;
    env.wait_domain_in(
        Some(&other),
        "shop",
        "Ready",
        domain_is("True", "Available"),
    )
    .await;
    env.apply_domain("shop", spec_for("shop.example.com", "web"))
        .await;
    let here = env
        .wait_domain("shop", "Conflict", domain_is("False", "Conflict"))
        .await;
    let (_, _, message) = domain_ready(&here).expect("Ready");
    assert!(message.contains(&format!("{other}/shop")), "{message}");
    tokio::time::sleep(RESYNC * 3).await;
    env.wait_domain_in(
        Some(&other),
        "shop",
        "still Ready",
        domain_is("True", "Available"),
    )
    .await;
    env.wait_domain("shop", "still in conflict", domain_is("False", "Conflict"))
        .await;

    // Cleaned up while the operator runs, so that finalizers are honoured.
    for api in [
        kube::Api::<cygni::api::Domain>::namespaced(env.client.clone(), &other),
        env.domains(),
    ] {
        let _ = api.delete("shop", &Default::default()).await;
    }
    env.wait_domain_gone(Some(&other), "shop").await;
    if env.is_real_cluster() {
        let namespaces: kube::Api<k8s_openapi::api::core::v1::Namespace> =
            kube::Api::all(env.client.clone());
        let _ = namespaces.delete(&other, &Default::default()).await;
    }
    env.adopt_operator(operator);
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_held_by_external_dns_or_by_nobody_are_conflicts_and_stay_untouched() {
    let env = Env::start().await;
    env.apply_app("web", minimal("nginx:1.27")).await;
    env.wait_app("web", "Ready", ready).await;
    let external = [
        RecordSet {
            name: "ext.example.com.".into(),
            type_: RecordType::A,
            ttl: Some(60),
            values: vec!["192.0.2.10".into()],
            alias: None,
        },
        RecordSet {
            name: "a-ext.example.com.".into(),
            type_: RecordType::Txt,
            ttl: Some(300),
            values: vec![
                "\"heritage=external-dns,external-dns/owner=cluster-a,external-dns/resource=ingress/web/ext\""
                    .into(),
            ],
            alias: None,
        },
        RecordSet {
            name: "legacy.example.com.".into(),
            type_: RecordType::Cname,
            ttl: Some(60),
            values: vec!["old.example.net.".into()],
            alias: None,
        },
    ];
    for record in external.clone() {
        write_outside(&env, record).await;
    }
    let before = zone_records(&env.aws.snapshot());
    env.aws.reset_calls();
    env.apply_domain("ext", spec_for("ext.example.com", "web"))
        .await;
    env.apply_domain("legacy", spec_for("legacy.example.com", "web"))
        .await;
    let ext = env
        .wait_domain("ext", "Conflict", domain_is("False", "Conflict"))
        .await;
    let (_, _, message) = domain_ready(&ext).expect("Ready");
    assert!(message.contains("external-dns"), "{message}");
    assert!(message.contains("cluster-a"), "{message}");
    let legacy = env
        .wait_domain("legacy", "Conflict", domain_is("False", "Conflict"))
        .await;
    let (_, _, message) = domain_ready(&legacy).expect("Ready");
    assert!(
        message.contains("CNAME record that no Domain owns"),
        "{message}"
    );
    tokio::time::sleep(RESYNC * 3).await;
    assert_eq!(zone_records(&env.aws.snapshot()), before);
    let calls = env.aws.calls();
    for (service, operation) in [
        (SimService::Route53, "ChangeResourceRecordSets"),
        (SimService::Acm, "RequestCertificate"),
        (SimService::Elbv2, "AddListenerCertificates"),
    ] {
        assert_eq!(calls.get(service, operation), 0, "{operation}");
    }
    env.wait_event("ext", "Conflict").await;
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_domain_says_when_its_app_is_missing_or_its_listener_is_not_https() {
    let env = Env::start().await;
    env.apply_domain("orphan", spec_for("orphan.example.com", "nowhere"))
        .await;
    let orphan = env
        .wait_domain("orphan", "AppNotFound", domain_is("False", "AppNotFound"))
        .await;
    let (_, _, message) = domain_ready(&orphan).expect("Ready");
    assert!(message.contains("spec.appRef.name"), "{message}");

    let lb = env
        .aws
        .snapshot()
        .load_balancers
        .first()
        .map(|lb| lb.load_balancer.arn.clone())
        .expect("load balancer");
    let http = env.aws.add_http_listener(&lb, 80).expect("HTTP listener");
    let mut spec = minimal("nginx:1.27");
    spec["routing"] = serde_json::json!({"listenerArn": http});
    env.apply_app("plain", spec).await;
    env.apply_domain("plain", spec_for("plain.example.com", "plain"))
        .await;
    let plain = env
        .wait_domain(
            "plain",
            "NoHttpsListener",
            domain_is("False", "NoHttpsListener"),
        )
        .await;
    let (_, _, message) = domain_ready(&plain).expect("Ready");
    assert!(message.contains("HTTPS listener"), "{message}");
    assert_eq!(
        env.aws
            .calls()
            .get(SimService::Route53, "ChangeResourceRecordSets"),
        0
    );
    env.wait_event("plain", "NoHttpsListener").await;
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_the_app_leaves_its_domain_whole_and_saying_so_until_it_returns() {
    let env = Env::start().await;
    env.apply_app("web", minimal("nginx:1.27")).await;
    env.wait_app("web", "Ready", ready).await;
    env.apply_domain("web", spec_for("web.example.com", "web"))
        .await;
    env.wait_domain("web", "Ready", domain_is("True", "Available"))
        .await;
    let records = zone_records(&env.aws.snapshot());
    env.apps()
        .delete("web", &Default::default())
        .await
        .expect("App deleted");
    env.wait_gone("web").await;
    let orphan = env
        .wait_domain("web", "AppNotFound", domain_is("False", "AppNotFound"))
        .await;
    let (_, _, message) = domain_ready(&orphan).expect("Ready");
    assert!(message.contains("App web does not exist"), "{message}");
    // Nothing half deleted: the records are as they were.
    assert_eq!(zone_records(&env.aws.snapshot()), records);
    // The App back, the Domain is Ready again and routed.
    env.apply_app("web", minimal("nginx:1.27")).await;
    env.wait_domain("web", "Ready again", domain_is("True", "Available"))
        .await;
    env.wait_app("web", "routing the Domain", |app| {
        ready(app)
            && app
                .status
                .as_ref()
                .is_some_and(|s| s.urls.contains(&"https://web.example.com/".to_string()))
    })
    .await;
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changing_the_aliases_replaces_the_certificate_and_releases_the_alias_removed() {
    let env = Env::start().await;
    let listener = listener_of(&env);
    env.apply_app("web", minimal("nginx:1.27")).await;
    env.wait_app("web", "Ready", ready).await;
    let mut spec = spec_for("web.example.com", "web");
    spec["aliases"] = serde_json::json!(["old.web.example.com"]);
    env.apply_domain("web", spec.clone()).await;
    let first = env
        .wait_domain("web", "Ready", domain_is("True", "Available"))
        .await;
    let old = first
        .status
        .and_then(|s| s.certificate)
        .map(|c| c.arn)
        .expect("certificate");

    env.wait_app("web", "routing the Domain", |app| {
        app.status
            .as_ref()
            .is_some_and(|s| s.urls.contains(&"https://web.example.com/".to_string()))
    })
    .await;
    spec["aliases"] = serde_json::json!(["new.web.example.com"]);
    env.apply_domain("web", spec).await;
    // The hostname keeps being routed while the Domain converges again.
    let start = Instant::now();
    let second = loop {
        let routed_now = routed(&env.aws.snapshot(), &listener);
        assert!(
            routed_now.iter().any(|h| h == "web.example.com"),
            "web.example.com left the rule during the change: {routed_now:?}"
        );
        let domain = env.domains().get("web").await.expect("Domain");
        let done = domain_is("True", "Available")(&domain)
            && domain.status.as_ref().is_some_and(|s| {
                s.retired_certificates.is_empty()
                    && s.certificate.as_ref().is_some_and(|c| c.arn != old)
            });
        if done {
            break domain;
        }
        assert!(
            start.elapsed() < PATIENCE,
            "never Ready with the new alias: {:?}",
            domain.status
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let new = second
        .status
        .and_then(|s| s.certificate)
        .expect("certificate");
    let snapshot = env.aws.snapshot();
    let names = &snapshot
        .certificate(&new.arn)
        .expect("new certificate")
        .subject_alternative_names;
    assert_eq!(names, &["web.example.com", "new.web.example.com"]);
    assert!(
        snapshot.certificate(&old).is_none(),
        "the old certificate was not deleted"
    );
    let on_listener = &snapshot.listener(&listener).expect("listener").certificates;
    assert!(on_listener.contains(&new.arn) && !on_listener.contains(&old));
    let records = zone_records(&snapshot);
    assert!(has(&records, "new.web.example.com.", RecordType::A));
    assert!(!has(&records, "old.web.example.com.", RecordType::A));
    assert!(!has(
        &records,
        "_cygni-owner.old.web.example.com.",
        RecordType::Txt
    ));
    assert!(
        !records
            .iter()
            .any(|r| r.type_ == RecordType::Cname && r.name.ends_with(".old.web.example.com.")),
        "the removed alias's validation record is left"
    );
    env.stop().await;
}
