//! `cygni diff -f`: what applying a manifest would change, against a converged App and against a
//! namespace without it, with the exit codes of `kubectl diff` (0 same, 1 differences, 2 error).

use crate::harness::*;

/// Runs `cygni diff` on `manifest` in the test's namespace, priced in us-east-1 (so that an App
/// not yet in the cluster, whose region nothing reports, is priced too). Returns the exit code,
/// standard output and standard error.
fn diff(env: &Env, manifest: &serde_json::Value) -> (i32, String, String) {
    let file = std::env::temp_dir().join(format!(
        "{}-{:08x}.yaml",
        env.namespace,
        rand::random::<u32>()
    ));
    std::fs::write(&file, serde_yaml_ng::to_string(manifest).expect("yaml")).expect("written");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_cygni"))
        .args(["diff", "-f"])
        .arg(&file)
        .args(["--region", "us-east-1", "--field-manager", "e2e"])
        .arg("--namespace")
        .arg(&env.namespace)
        .arg("--kubeconfig")
        .arg(env.kubeconfig_path())
        .env_remove("AWS_REGION")
        .output()
        .expect("cygni runs");
    let _ = std::fs::remove_file(&file);
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn manifest(name: &str, spec: serde_json::Value) -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "cygni.io/v1alpha1", "kind": "App",
        "metadata": {"name": name},
        "spec": spec,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diff_of_a_converged_app_shows_each_change_and_its_cost() {
    let env = Env::start().await;
    let spec = minimal("nginx:1.27");
    env.apply_app("web", spec.clone()).await;
    env.wait_app("web", "revision 1 stable", stable_at(1)).await;

    // The spec it runs: nothing to change.
    let (code, out, err) = diff(&env, &manifest("web", spec.clone()));
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.starts_with(&format!("App {}/web: no changes\n", env.namespace)),
        "{out}"
    );
    assert!(
        out.contains("steady: 2 × 0.25 vCPU/0.5 GB = $18.02/month (unchanged)"),
        "{out}"
    );

    // A new image: a new task definition revision rolled out in place, same steady cost, and
    // the rolling peak (maximumPercent 200) apart.
    let mut image = spec.clone();
    image["container"]["image"] = serde_json::json!("nginx:1.28");
    let (code, out, err) = diff(&env, &manifest("web", image));
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains("revision 2: a new task definition revision is registered"),
        "{out}"
    );
    assert!(
        out.contains("rollout: rolling: ECS replaces the tasks of service"),
        "{out}"
    );
    assert!(out.contains("~ image: nginx:1.27 -> nginx:1.28"), "{out}");
    assert!(out.contains("(unchanged)"), "{out}");
    assert!(
        out.contains("rollout peak (ECS maximumPercent 200): 2 × 0.25 vCPU/0.5 GB + 2 × 0.25 vCPU/0.5 GB = $36.04/month"),
        "{out}"
    );

    // More CPU and replicas: the cost before and after.
    let mut bigger = spec.clone();
    bigger["replicas"] = serde_json::json!(3);
    bigger["container"]["cpu"] = serde_json::json!(512);
    bigger["container"]["memory"] = serde_json::json!(1024);
    let (code, out, err) = diff(&env, &manifest("web", bigger));
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("~ cpu: 256 -> 512"), "{out}");
    assert!(
        out.contains("~ desired count (serving, slot a): 2 -> 3"),
        "{out}"
    );
    // 2 x 9.010025 = 18.02; 3 x (0.5 x 0.04048 + 1 x 0.004445) x 730 = 54.06.
    assert!(
        out.contains("steady: 2 × 0.25 vCPU/0.5 GB = $18.02/month -> 3 × 0.5 vCPU/1 GB = $54.06/month (+$36.04/month)"),
        "{out}"
    );

    // `cygni status` shows what runs now, priced in the region of the App's services (the
    // simulated account's eu-west-1).
    let (ok, out, err) = env.cygni(&["status", "web"]);
    assert!(ok, "{err}");
    assert!(
        out.contains(
            "\n  cost: 2 tasks × 0.25 vCPU/0.5 GB = $18.02/month (eu-west-1, x86_64, prices of "
        ),
        "{out}"
    );

    // Nothing was applied: the App still runs revision 1 with the old image.
    let app = env.apps().get("web").await.expect("App");
    assert_eq!(app.spec.container.image, "nginx:1.27");
    assert_eq!(app.status.and_then(|s| s.current_revision), Some(1));
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diff_of_an_app_not_in_the_cluster_shows_everything_created() {
    let env = Env::start().await;
    let mut spec = minimal("nginx:1.27");
    spec["container"]["secrets"] = serde_json::json!([{
        "name": "API_KEY",
        "valueFrom": "arn:aws:ssm:eu-west-1:123456789012:parameter/api-key-Zq9"
    }]);
    let (code, out, err) = diff(&env, &manifest("fresh", spec));
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.starts_with(&format!(
            "App {}/fresh: not in the cluster: everything is created\n",
            env.namespace
        )),
        "{out}"
    );
    assert!(
        out.contains("revision 1: its task definition is registered"),
        "{out}"
    );
    assert!(
        out.contains("rollout: first revision: ECS starts it in place"),
        "{out}"
    );
    assert!(
        out.contains(&format!("task definition {}-fresh-<uid>", env.namespace)),
        "{out}"
    );
    assert!(out.contains("+ image: nginx:1.27"), "{out}");
    assert!(out.contains("+ secret API_KEY: (value not shown)"), "{out}");
    assert!(!out.contains("api-key-Zq9"), "{out}");
    assert!(
        out.contains("steady: 2 × 0.25 vCPU/0.5 GB = $18.02/month"),
        "{out}"
    );
    assert!(!out.contains("rollout peak"), "{out}");
    // The dry run stored nothing.
    assert!(env.apps().get_opt("fresh").await.expect("read").is_none());
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diff_of_an_invalid_app_names_the_field_and_exits_2() {
    let env = Env::start().await;
    // The API server's schema: not a Fargate size.
    let mut size = minimal("nginx:1.27");
    size["container"]["cpu"] = serde_json::json!(256);
    size["container"]["memory"] = serde_json::json!(4096);
    let (code, out, err) = diff(&env, &manifest("bad", size));
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        err.contains("App ") && err.contains("/bad is invalid"),
        "{err}"
    );
    assert!(
        err.contains("cpu and memory are not a Fargate size"),
        "{err}"
    );

    // The operator's rules: a name in both env and secrets.
    let mut twice = minimal("nginx:1.27");
    twice["container"]["env"] = serde_json::json!([{"name": "TOKEN", "value": "x"}]);
    twice["container"]["secrets"] = serde_json::json!([{
        "name": "TOKEN",
        "valueFrom": "arn:aws:ssm:eu-west-1:123456789012:parameter/token"
    }]);
    let (code, out, err) = diff(&env, &manifest("twice", twice));
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        err.contains("spec.container.secrets[0].name: TOKEN is also set in spec.container.env"),
        "{err}"
    );
    env.stop().await;
}
