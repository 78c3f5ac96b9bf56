//! One leader: operators started with the default Lease settings (the chart's pods, or `cygni
//! run` by hand next to them) compete for one Lease, and only its holder acts.

use crate::harness::*;
use cygni::controller::runtime::DEFAULT_LEASE_NAMESPACE;
use k8s_openapi::api::coordination::v1::Lease;
use kube::api::Api;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

/// Who holds the default Lease, once someone does.
async fn holder(env: &Env) -> String {
    let leases: Api<Lease> = Api::namespaced(env.client.clone(), DEFAULT_LEASE_NAMESPACE);
    let start = Instant::now();
    loop {
        if let Some(holder) = leases
            .get_opt("cygni-operator")
            .await
            .expect("Lease readable")
            .and_then(|l| l.spec)
            .and_then(|s| s.holder_identity)
        {
            return holder;
        }
        assert!(start.elapsed() < PATIENCE, "nobody took the Lease");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The replicas that reported Events about the App `name`.
async fn reporters(env: &Env, name: &str) -> BTreeSet<String> {
    env.events_of(name)
        .await
        .into_iter()
        .filter_map(|e| e.reporting_instance)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_two_operators_with_the_default_lease_settings_exactly_one_acts() {
    let env = Env::without_operator().await;
    if env.is_real_cluster() {
        create_namespace(&env.client, DEFAULT_LEASE_NAMESPACE).await;
    }
    let identity = |name: &str| vec!["--identity".to_string(), name.to_string()];
    let mut one = Some(env.spawn_operator(&identity("operator-one")));
    let mut two = Some(env.spawn_operator(&identity("operator-two")));
    let leader = holder(&env).await;
    env.apply_app("web", minimal("nginx:1.27")).await;
    env.wait_app("web", "Ready", stable_at(1)).await;
    assert_eq!(
        reporters(&env, "web").await,
        BTreeSet::from([leader.clone()]),
        "only the Lease holder acts"
    );

    // The leader stops (releasing the Lease); the other one takes over and acts.
    let (stopped, standby) = if leader == "operator-one" {
        (one.take(), two.take())
    } else {
        (two.take(), one.take())
    };
    stopped.expect("leader").stop().await;
    env.set_image("web", "nginx:1.28").await;
    env.wait_app("web", "Ready on revision 2", stable_at(2))
        .await;
    let successor = holder(&env).await;
    assert_ne!(successor, leader);
    assert_eq!(
        reporters(&env, "web").await,
        BTreeSet::from([leader, successor]),
    );
    let standby = standby.expect("standby");
    assert!(!standby.finished(), "the successor keeps running");
    // Deleted while an operator runs, so nothing is left behind with a finalizer.
    env.apps()
        .delete("web", &kube::api::DeleteParams::default())
        .await
        .expect("delete accepted");
    env.wait_gone("web").await;
    standby.stop().await;
    env.stop().await;
}
