//! Converges N Apps (default 1,000; `CYGNI_BENCH_APPS` or the first argument) in the playground
//! and prints what it cost: AWS calls per App by operation, writes per App against the minimum,
//! reads per App per steady-state resync pass (the mean over three), time to converge, and peak RSS.
//!
//! Run with `cargo bench --bench converge` (or `cargo bench --bench converge -- 200`).

use cygni::api::App;
use cygni::api::conditions;
use cygni::playground::{Playground, PlaygroundArgs};
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Apps per load balancer: ALBs take at most 100 rules, so the bench spreads Apps over several.
const APPS_PER_LOAD_BALANCER: usize = 90;
/// AWS writes the smallest possible convergence of one rolling App needs: a task definition, a
/// target group, a listener rule and a service.
const MINIMUM_WRITES: f64 = 4.0;
/// The resync period of the measured operator.
const RESYNC: Duration = Duration::from_secs(20);
/// Resync periods the steady state is counted over: each App's resync is spread by ±10%, so one
/// period alone would catch some Apps twice and others not at all.
const STEADY_PASSES: u32 = 3;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let apps: usize = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .or_else(|| std::env::var("CYGNI_BENCH_APPS").ok())
        .map(|n| n.parse())
        .transpose()?
        .unwrap_or(1_000);

    // Logs only on request: they would drown the figures.
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
    let listeners: Vec<String> = (0..apps.div_ceil(APPS_PER_LOAD_BALANCER))
        .map(|i| playground.aws().add_load_balancer(&format!("bench-{i}")).1)
        .collect();
    playground.aws().reset_calls();

    let api: Api<App> = Api::namespaced(client.clone(), "bench");
    let start = Instant::now();
    for i in 0..apps {
        let app = serde_json::json!({
            "apiVersion": "cygni.io/v1alpha1", "kind": "App",
            "metadata": {"name": format!("app-{i:04}"), "namespace": "bench"},
            "spec": {
                "container": {"image": "nginx:1.27", "port": 80},
                "replicas": 2,
                // One path each: Apps with the same routes on one listener are a conflict.
                "routing": {
                    "listenerArn": listeners[i / APPS_PER_LOAD_BALANCER],
                    "paths": [format!("/app-{i:04}/*")],
                },
            },
        });
        api.patch(
            &format!("app-{i:04}"),
            &PatchParams::apply("bench"),
            &Patch::Apply(&app),
        )
        .await?;
    }
    let applied = start.elapsed();
    let mut last_report = Instant::now();
    loop {
        let listed = api.list(&ListParams::default()).await?.items;
        let mut waiting: BTreeMap<String, usize> = BTreeMap::new();
        for app in &listed {
            let ready = app
                .status
                .as_ref()
                .and_then(|s| conditions::find(&s.conditions, conditions::READY));
            if ready.is_none_or(|c| c.status != "True") {
                let reason = ready.map_or("no status yet".to_string(), |c| {
                    format!("{}: {:.100}", c.reason, c.message)
                });
                *waiting.entry(reason).or_default() += 1;
            }
        }
        let ready = listed.len() - waiting.values().sum::<usize>();
        if ready == apps {
            break;
        }
        if last_report.elapsed() >= Duration::from_secs(30) {
            eprintln!(
                "  {:>6.0} s: {ready} of {apps} Apps Ready",
                start.elapsed().as_secs_f64()
            );
            // Why the rest wait, most common first, so that a stall names its cause.
            let mut reasons: Vec<_> = waiting.into_iter().collect();
            reasons.sort_by_key(|r| std::cmp::Reverse(r.1));
            for (reason, count) in reasons.iter().take(5) {
                eprintln!("           {count:>5} × {reason}");
            }
            last_report = Instant::now();
        }
        if start.elapsed() > Duration::from_secs(3_600) {
            anyhow::bail!("only {ready} of {apps} Apps converged within an hour");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let converged = start.elapsed();
    let calls = playground.aws().calls();

    // Steady state: let the last writes settle, then count over a few resync periods.
    tokio::time::sleep(RESYNC).await;
    playground.aws().reset_calls();
    tokio::time::sleep(RESYNC * STEADY_PASSES).await;
    let steady = playground.aws().calls();

    let n = apps as f64;
    println!(
        "cygni converge benchmark: {apps} Apps on {} load balancers",
        listeners.len()
    );
    println!("  applied in              {:>8.1} s", applied.as_secs_f64());
    println!(
        "  converged (all Ready)   {:>8.1} s",
        converged.as_secs_f64()
    );
    println!("  AWS calls per App to converge, by operation:");
    let mut by_operation: BTreeMap<String, u64> = BTreeMap::new();
    for (service, operation, count) in calls.iter() {
        by_operation.insert(format!("{service:?} {operation}"), count.calls);
    }
    for (operation, count) in &by_operation {
        println!("    {operation:<40} {:>8.2}", *count as f64 / n);
    }
    println!(
        "  AWS calls per App       {:>8.2}",
        calls.total() as f64 / n
    );
    println!(
        "  AWS writes per App      {:>8.2}   (minimum {MINIMUM_WRITES:.0}; {:.2}x)",
        calls.writes() as f64 / n,
        calls.writes() as f64 / n / MINIMUM_WRITES
    );
    let passes = n * f64::from(STEADY_PASSES);
    println!(
        "  steady state, per {}s resync pass (mean of {STEADY_PASSES}): {:.2} reads and {:.2} writes per App",
        RESYNC.as_secs(),
        steady.reads() as f64 / passes,
        steady.writes() as f64 / passes
    );
    println!(
        "  peak RSS                {:>8.1} MiB",
        peak_rss_mib().unwrap_or(f64::NAN)
    );
    playground.stop().await?;
    Ok(())
}

/// The process's peak resident set size, from /proc.
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}
