//! Brings N Domains (default 1,000; `CYGNI_BENCH_DOMAINS` or the first argument) in one hosted
//! zone to Ready in the playground and prints what it cost in Route53: calls by operation, change
//! batches against the fewest Route53's per-request limits allow, the peak request rate (Route53
//! allows five per second per account), the time until all are Ready, and the Route53 calls of
//! one steady-state resync pass.
//!
//! The Domains point at N/4 Apps (an ALB rule takes five condition values: four hostnames and
//! the App's path) spread over load balancers of 90 Apps each (an ALB listener takes 100 rules),
//! and share one wildcard certificate given by ARN: an ALB takes 25 certificates by default, so
//! a thousand hostnames on a few load balancers is what a wildcard is for.
//!
//! Run with `cargo bench --bench domains` (or `cargo bench --bench domains -- 200`).

use cygni::api::conditions;
use cygni::api::{App, Domain};
use cygni::playground::{Playground, PlaygroundArgs};
use cygni::sim::aws::SimService;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Hostnames per App: with the App's own path, the five condition values of an ALB rule.
const DOMAINS_PER_APP: usize = 4;
/// Apps per load balancer: ALB listeners take at most 100 rules.
const APPS_PER_LOAD_BALANCER: usize = 90;
/// Resync period of the measured operator.
const RESYNC: Duration = Duration::from_secs(20);
/// ChangeResourceRecordSets: ResourceRecord elements per request.
const RECORDS_PER_REQUEST: usize = 1000;

async fn wait_ready<K>(api: &Api<K>, want: usize, what: &str, start: Instant) -> anyhow::Result<()>
where
    K: kube::Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
    K: HasConditions,
{
    let mut last_report = Instant::now();
    loop {
        let listed = api.list(&ListParams::default()).await?.items;
        let mut waiting: BTreeMap<String, usize> = BTreeMap::new();
        for object in &listed {
            let ready = object.ready();
            if ready.as_ref().is_none_or(|(s, _)| s != "True") {
                let reason = ready.map_or("no status yet".to_string(), |(_, r)| r);
                *waiting.entry(reason).or_default() += 1;
            }
        }
        let ready = listed.len() - waiting.values().sum::<usize>();
        if ready == want {
            return Ok(());
        }
        if last_report.elapsed() >= Duration::from_secs(30) {
            eprintln!(
                "  {:>6.0} s: {ready} of {want} {what} Ready; waiting: {waiting:?}",
                start.elapsed().as_secs_f64()
            );
            last_report = Instant::now();
        }
        if start.elapsed() > Duration::from_secs(3_600) {
            anyhow::bail!("only {ready} of {want} {what} Ready within an hour");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The Ready condition of an object: (status, "reason: message").
trait HasConditions {
    fn ready(&self) -> Option<(String, String)>;
}

impl HasConditions for App {
    fn ready(&self) -> Option<(String, String)> {
        let c = conditions::find(&self.status.as_ref()?.conditions, conditions::READY)?;
        Some((c.status.clone(), c.reason.clone()))
    }
}

impl HasConditions for Domain {
    fn ready(&self) -> Option<(String, String)> {
        let c = conditions::find(&self.status.as_ref()?.conditions, conditions::READY)?;
        Some((c.status.clone(), c.reason.clone()))
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let domains: usize = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .or_else(|| std::env::var("CYGNI_BENCH_DOMAINS").ok())
        .map(|n| n.parse())
        .transpose()?
        .unwrap_or(1_000);
    if std::env::var_os("RUST_LOG").is_some() {
        cygni::telemetry::init_logging(cygni::config::LogFormat::Text);
    }
    let mut args = PlaygroundArgs::for_tests(100.0, RESYNC);
    args.concurrency = 32;
    let playground = Playground::start(&args).await?;
    let client = playground.client();
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    namespaces
        .create(
            &PostParams::default(),
            &serde_json::from_value(serde_json::json!({"metadata": {"name": "bench"}}))?,
        )
        .await?;
    let apps_needed = domains.div_ceil(DOMAINS_PER_APP);
    let listeners: Vec<String> = (0..apps_needed.div_ceil(APPS_PER_LOAD_BALANCER))
        .map(|i| playground.aws().add_load_balancer(&format!("bench-{i}")).1)
        .collect();
    let wildcard = playground.aws().import_certificate("*.example.com");

    let apps: Api<App> = Api::namespaced(client.clone(), "bench");
    let start = Instant::now();
    for i in 0..apps_needed {
        let app = serde_json::json!({
            "apiVersion": "cygni.io/v1alpha1", "kind": "App",
            "metadata": {"name": format!("app-{i:04}"), "namespace": "bench"},
            "spec": {
                "container": {"image": "nginx:1.27", "port": 80},
                "routing": {
                    "listenerArn": listeners[i / APPS_PER_LOAD_BALANCER],
                    "paths": [format!("/app-{i:04}/*")],
                },
            },
        });
        apps.patch(
            &format!("app-{i:04}"),
            &PatchParams::apply("bench"),
            &Patch::Apply(&app),
        )
        .await?;
    }
    wait_ready(&apps, apps_needed, "Apps", start).await?;
    eprintln!(
        "  {apps_needed} Apps Ready after {:.0} s",
        start.elapsed().as_secs_f64()
    );

    playground.aws().reset_calls();
    let api: Api<Domain> = Api::namespaced(client.clone(), "bench");
    let start = Instant::now();
    for i in 0..domains {
        let domain = serde_json::json!({
            "apiVersion": "cygni.io/v1alpha1", "kind": "Domain",
            "metadata": {"name": format!("d-{i:04}"), "namespace": "bench"},
            "spec": {
                "hostname": format!("d-{i:04}.example.com"),
                "appRef": {"name": format!("app-{:04}", i / DOMAINS_PER_APP)},
                "hostedZone": {"name": "example.com"},
                "certificate": {"arn": wildcard},
            },
        });
        api.patch(
            &format!("d-{i:04}"),
            &PatchParams::apply("bench"),
            &Patch::Apply(&domain),
        )
        .await?;
    }
    let applied = start.elapsed();
    wait_ready(&api, domains, "Domains", start).await?;
    let ready = start.elapsed();
    let calls = playground.aws().calls();
    let peak = playground.aws().route53_peak_per_second();

    // One steady-state pass: let the last reconciles settle, then count one resync period.
    tokio::time::sleep(RESYNC).await;
    playground.aws().reset_calls();
    tokio::time::sleep(RESYNC).await;
    let steady = playground.aws().calls();
    let steady_peak = playground.aws().route53_peak_per_second();

    // Each Domain writes its ownership TXT, then (once its certificate is on the listener) an
    // alias A record: two phases, each at least ceil(N / 1000) requests.
    let minimum_batches = 2 * domains.div_ceil(RECORDS_PER_REQUEST);
    let batches = calls.get(SimService::Route53, "ChangeResourceRecordSets");
    println!(
        "cygni domains benchmark: {domains} Domains in one hosted zone, on {apps_needed} Apps and {} load balancers",
        listeners.len()
    );
    println!("  applied in              {:>8.1} s", applied.as_secs_f64());
    println!("  all Ready after         {:>8.1} s", ready.as_secs_f64());
    println!("  Route53 calls to Ready, by operation:");
    for (service, operation, count) in calls.iter() {
        if service == SimService::Route53 {
            println!("    {operation:<28} {:>8}", count.calls);
        }
    }
    println!(
        "  change batches          {batches:>8}   (fewest the limits allow: {minimum_batches})"
    );
    println!("  peak Route53 rate       {peak:>8} requests in one second (limit 5)");
    println!("  other AWS calls to Ready, by operation:");
    for (service, operation, count) in calls.iter() {
        if service != SimService::Route53 && count.calls > 0 {
            println!(
                "    {:<28} {:>8}",
                format!("{service:?} {operation}"),
                count.calls
            );
        }
    }
    println!(
        "  steady state, one {}s resync pass: {} Route53 calls ({} ListResourceRecordSets pages), {} writes, peak {} per second",
        RESYNC.as_secs(),
        steady
            .iter()
            .filter(|(s, _, _)| *s == SimService::Route53)
            .map(|(_, _, c)| c.calls)
            .sum::<u64>(),
        steady.get(SimService::Route53, "ListResourceRecordSets"),
        steady.writes(),
        steady_peak
    );
    playground.stop().await?;
    Ok(())
}
