//! Converges N Apps (default 1,000; `CYGNI_BENCH_APPS` or the first argument) in the playground
//! and prints what it cost: AWS calls per App by operation, writes per App against the minimum,
//! App reconciles per App (full ones, and those that returned before any read), AWS reads per App
//! per steady-state resync pass by operation (the mean over three), the reaction time from an App
//! change to its first AWS write (p50, p99), the operator's own heap (what it frees when it stops,
//! counted by this binary's allocator) beside the process's peak RSS, and time to converge.
//!
//! With `--throttle`, the simulated ECS and ELBv2 refuse 10% of calls with their throttling
//! errors and their clients keep a spaced rate of 20 requests per second (the SDK adapters'
//! default rate); the bench then prints the busiest second of each service.
//!
//! Run with `cargo bench --bench converge` (or `cargo bench --bench converge -- 200 --throttle`).

use cygni::api::App;
use cygni::api::conditions;
use cygni::playground::{Playground, PlaygroundArgs};
use cygni::sim::aws::{Faults, SimService};
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicIsize, Ordering};
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
/// Apps changed one at a time to time the reaction.
const REACTION_SAMPLES: usize = 100;
/// The client-side rate of ECS and ELBv2 in the throttling mode.
const THROTTLED_RATE: u32 = 20;

/// The system allocator, counting the bytes in use, so that the operator's heap can be told
/// apart from the simulators' in one process.
struct Counting;

static IN_USE: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the layout is passed on unchanged.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            IN_USE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) };
        IN_USE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as for `alloc` and `dealloc`.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            IN_USE.fetch_add(
                new_size as isize - layout.size() as isize,
                Ordering::Relaxed,
            );
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn heap_mib() -> f64 {
    IN_USE.load(Ordering::Relaxed) as f64 / (1024.0 * 1024.0)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let throttle = std::env::args().any(|a| a == "--throttle");
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
    // A port free now, so that the bench can read the operator's metrics.
    args.listen_addr = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    let metrics = args.listen_addr;
    let mut playground = Playground::start(&args).await?;
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
    if throttle {
        for service in [SimService::Ecs, SimService::Elbv2] {
            playground
                .aws()
                .set_faults(service, Faults::throttling(0.1));
            playground.aws().set_client_rate(service, THROTTLED_RATE);
        }
    }
    playground.aws().reset_calls();
    let reconciles_before = reconciles(metrics)?;

    let api: Api<App> = Api::namespaced(client.clone(), "bench");
    let start = Instant::now();
    for i in 0..apps {
        api.patch(
            &name(i),
            &PatchParams::apply("bench"),
            &Patch::Apply(&app(i, &listeners, 2)),
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
    let converge_reconciles = reconciles(metrics)?.since(&reconciles_before);
    let peaks: Vec<(SimService, usize)> = [SimService::Ecs, SimService::Elbv2]
        .into_iter()
        .map(|s| (s, playground.aws().peak_per_second(s)))
        .collect();

    // Steady state: let the last writes settle, then count over a few resync periods.
    tokio::time::sleep(RESYNC).await;
    playground.aws().reset_calls();
    let steady_before = reconciles(metrics)?;
    tokio::time::sleep(RESYNC * STEADY_PASSES).await;
    let steady = playground.aws().calls();
    let steady_reconciles = reconciles(metrics)?.since(&steady_before);

    // Reaction: one App at a time gets one more task; the time until the first AWS write.
    let mut reactions = Vec::new();
    let samples = REACTION_SAMPLES.min(apps);
    for i in 0..samples {
        let index = i * apps / samples;
        let writes = playground.aws().calls().writes();
        let changed = Instant::now();
        api.patch(
            &name(index),
            &PatchParams::apply("bench"),
            &Patch::Apply(&app(index, &listeners, 3)),
        )
        .await?;
        while playground.aws().calls().writes() == writes {
            if changed.elapsed() > Duration::from_secs(60) {
                anyhow::bail!("no AWS write within a minute of changing {}", name(index));
            }
            tokio::time::sleep(Duration::from_micros(500)).await;
        }
        reactions.push(changed.elapsed());
        // Let the change's other writes land before the next one is timed.
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    reactions.sort();

    // The operator's own heap: what it frees when it stops, the simulators staying up.
    let cached = cached_objects(&client).await?;
    let with_operator = heap_mib();
    playground.stop_operator().await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let without_operator = heap_mib();

    let n = apps as f64;
    println!(
        "cygni converge benchmark: {apps} Apps on {} load balancers{}",
        listeners.len(),
        if throttle {
            format!(
                " (throttling: 10% of ECS and ELBv2 calls refused, clients at {THROTTLED_RATE}/s)"
            )
        } else {
            String::new()
        }
    );
    println!("  applied in              {:>8.1} s", applied.as_secs_f64());
    println!(
        "  converged (all Ready)   {:>8.1} s",
        converged.as_secs_f64()
    );
    println!("  AWS calls per App to converge, by operation:");
    print_by_operation(&calls, n);
    println!(
        "  AWS calls per App       {:>8.2}",
        calls.total() as f64 / n
    );
    println!(
        "  AWS reads per App       {:>8.2}",
        calls.reads() as f64 / n
    );
    println!(
        "  AWS writes per App      {:>8.2}   (minimum {MINIMUM_WRITES:.0}; {:.2}x)",
        calls.writes() as f64 / n,
        calls.writes() as f64 / n / MINIMUM_WRITES
    );
    println!(
        "  App reconciles per App  {:>8.2}   (and {:.2} that returned before any read)",
        converge_reconciles.full / n,
        converge_reconciles.skipped / n
    );
    for (service, peak) in &peaks {
        println!("  busiest second, {service:?}: {peak} calls");
    }
    let passes = n * f64::from(STEADY_PASSES);
    println!(
        "  steady state, per {}s resync pass (mean of {STEADY_PASSES}): {:.3} reads and {:.3} writes per App, {:.2} reconciles per App",
        RESYNC.as_secs(),
        steady.reads() as f64 / passes,
        steady.writes() as f64 / passes,
        steady_reconciles.full / passes,
    );
    print_by_operation(&steady, passes);
    let percentile = |p: f64| {
        reactions
            .get(((reactions.len() as f64 * p).ceil() as usize).saturating_sub(1))
            .map_or(f64::NAN, |d| d.as_secs_f64() * 1000.0)
    };
    println!(
        "  reaction, App change to first AWS write ({} samples): p50 {:.1} ms, p99 {:.1} ms",
        reactions.len(),
        percentile(0.50),
        percentile(0.99)
    );
    println!(
        "  operator heap           {:>8.1} MiB   ({cached} objects cached; heap {with_operator:.1} MiB with it, {without_operator:.1} MiB without)",
        with_operator - without_operator
    );
    println!(
        "  peak RSS (all)          {:>8.1} MiB",
        peak_rss_mib().unwrap_or(f64::NAN)
    );
    playground.stop().await?;
    Ok(())
}

fn name(i: usize) -> String {
    format!("app-{i:04}")
}

fn app(i: usize, listeners: &[String], replicas: u32) -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "cygni.io/v1alpha1", "kind": "App",
        "metadata": {"name": name(i), "namespace": "bench"},
        "spec": {
            "container": {"image": "nginx:1.27", "port": 80},
            "replicas": replicas,
            // One path each: Apps with the same routes on one listener are a conflict.
            "routing": {
                "listenerArn": listeners[i / APPS_PER_LOAD_BALANCER],
                "paths": [format!("/app-{i:04}/*")],
            },
        },
    })
}

fn print_by_operation(calls: &cygni::sim::aws::CallCounts, per: f64) {
    let mut by_operation: BTreeMap<String, u64> = BTreeMap::new();
    for (service, operation, count) in calls.iter() {
        by_operation.insert(format!("{service:?} {operation}"), count.calls);
    }
    for (operation, count) in &by_operation {
        println!("    {operation:<40} {:>8.3}", *count as f64 / per);
    }
}

/// Objects the operator's caches hold: the Apps and Deployments it watches.
async fn cached_objects(client: &kube::Client) -> anyhow::Result<usize> {
    let apps: Api<App> = Api::namespaced(client.clone(), "bench");
    let deployments: Api<cygni::api::Deployment> = Api::namespaced(client.clone(), "bench");
    Ok(apps
        .list_metadata(&ListParams::default())
        .await?
        .items
        .len()
        + deployments
            .list_metadata(&ListParams::default())
            .await?
            .items
            .len())
}

/// App reconciles counted by the operator.
#[derive(Clone, Copy, Debug, Default)]
struct Reconciles {
    full: f64,
    skipped: f64,
}

impl Reconciles {
    fn since(&self, before: &Reconciles) -> Reconciles {
        Reconciles {
            full: self.full - before.full,
            skipped: self.skipped - before.skipped,
        }
    }
}

fn reconciles(addr: std::net::SocketAddr) -> anyhow::Result<Reconciles> {
    use std::io::{Read, Write};
    // The operator starts serving its metrics a moment after the playground is up.
    let started = Instant::now();
    let mut stream = loop {
        match std::net::TcpStream::connect(addr) {
            Ok(stream) => break stream,
            Err(_) if started.elapsed() < Duration::from_secs(10) => {
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => return Err(e.into()),
        }
    };
    stream.write_all(b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n")?;
    let mut text = String::new();
    stream.read_to_string(&mut text)?;
    let value = |metric: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(metric))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    Ok(Reconciles {
        full: value(r#"cygni_reconciles_total{kind="App"}"#),
        skipped: value(r#"cygni_reconciles_skipped_total{kind="App"}"#),
    })
}

/// The process's peak resident set size, from /proc.
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}
