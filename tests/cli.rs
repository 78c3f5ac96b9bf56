//! The `cygni` binary as a user meets it: `crds` prints what `crds/` holds, `run --help` documents
//! every flag, `run` and the rollout controls against a cluster they cannot reach fail fast with
//! one clear line, and linked as `kubectl-cygni` the binary is a kubectl plugin.

use std::process::Command;

fn cygni() -> Command {
    Command::new(env!("CARGO_BIN_EXE_cygni"))
}

#[test]
fn crds_command_prints_exactly_the_crds_folder() {
    let output = cygni().arg("crds").output().expect("cygni runs");
    assert!(output.status.success());
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("crds");
    let mut files: Vec<_> = std::fs::read_dir(&root)
        .expect("crds/")
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    let folder: String = files
        .iter()
        .map(|p| std::fs::read_to_string(p).expect("readable"))
        .collect();
    assert!(
        String::from_utf8_lossy(&output.stdout) == folder,
        "crds/ differs from `cygni crds`"
    );
}

#[test]
fn run_help_documents_every_flag_with_its_environment_variable() {
    let output = cygni()
        .args(["run", "--help"])
        .output()
        .expect("cygni runs");
    let help = String::from_utf8_lossy(&output.stdout);
    for flag in [
        "--namespaces",
        "--aws-region",
        "--aws-endpoint-url",
        "--aws-backend",
        "--ecs-cluster",
        "--subnets",
        "--security-groups",
        "--listener-arn",
        "--execution-role-arn",
        "--allowed-clusters",
        "--allowed-listeners",
        "--allowed-hosted-zones",
        "--resync-period",
        "--concurrency",
        "--listen-addr",
        "--leader-election",
        "--lease-name",
        "--lease-namespace",
        "--lease-duration",
        "--identity",
        "--log-format",
    ] {
        assert!(help.contains(flag), "run --help lacks {flag}");
    }
    assert!(
        help.contains("[env: CYGNI_ECS_CLUSTER="),
        "flags name their env variable"
    );
}

#[test]
fn run_against_an_unreachable_cluster_exits_with_one_line() {
    let dir = std::env::temp_dir().join(format!("cygni-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let kubeconfig = dir.join("kubeconfig");
    // Port 1 on loopback: nothing listens there, so the connection is refused at once.
    std::fs::write(
        &kubeconfig,
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {server: \"http://127.0.0.1:1\"}\n\
         contexts:\n- name: x\n  context: {cluster: c, user: u}\ncurrent-context: x\nusers:\n- name: u\n  user: {}\n",
    )
    .expect("kubeconfig written");
    let output = cygni()
        .args(["run", "--listen-addr", "127.0.0.1:0"])
        .env("KUBECONFIG", &kubeconfig)
        .env_remove("RUST_LOG")
        .output()
        .expect("cygni runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "exit code is non-zero");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line on stderr, got:\n{stderr}");
    assert!(
        lines[0]
            .starts_with("error: cannot reach the Kubernetes API server at http://127.0.0.1:1/"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"));
}

#[test]
fn sim_backend_is_accepted_and_still_needs_a_cluster() {
    let output = cygni()
        .args(["run", "--aws-backend", "sim"])
        .env("KUBECONFIG", "/nonexistent")
        .output()
        .expect("cygni runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.starts_with("error: no Kubernetes configuration"),
        "{stderr}"
    );
}

#[test]
fn crds_into_a_pipe_whose_reader_is_gone_exits_quietly() {
    let mut child = cygni()
        .arg("crds")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("cygni runs");
    // Close the reading end before anything is read, as `| head -0` would.
    drop(child.stdout.take());
    let output = child.wait_with_output().expect("cygni exits");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "exit status {:?}: {stderr}",
        output.status
    );
    assert!(stderr.is_empty(), "{stderr}");
}

#[test]
fn logs_have_no_colours_when_not_written_to_a_terminal() {
    use std::io::BufRead;
    let dir = std::env::temp_dir().join(format!("cygni-cli-logs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let mut child = cygni()
        .args([
            "playground",
            "--port",
            "0",
            "--listen-addr",
            "127.0.0.1:0",
            "--kubeconfig",
        ])
        .arg(dir.join("kubeconfig"))
        .env("RUST_LOG", "info")
        .env_remove("NO_COLOR")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("cygni runs");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    while let Ok(line) = rx.recv_timeout(std::time::Duration::from_secs(30)) {
        let done = line.contains("controllers running");
        lines.push(line);
        if done {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        lines.iter().any(|l| l.contains("controllers running")),
        "the playground logged: {lines:?}"
    );
    for line in &lines {
        assert!(!line.contains('\u{1b}'), "ANSI escape in {line:?}");
    }
}

/// A kubeconfig whose server is loopback port 1, where nothing listens.
fn dead_kubeconfig(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("cygni-cli-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let kubeconfig = dir.join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {server: \"http://127.0.0.1:1\"}\n\
         contexts:\n- name: x\n  context: {cluster: c, user: u}\ncurrent-context: x\nusers:\n- name: u\n  user: {}\n",
    )
    .expect("kubeconfig written");
    kubeconfig
}

#[test]
fn controls_against_an_unreachable_cluster_exit_with_one_line() {
    let kubeconfig = dead_kubeconfig("controls");
    for control in [
        vec!["status", "web"],
        vec!["promote", "web"],
        vec!["rollback", "web", "--to-revision", "1"],
    ] {
        let output = cygni()
            .args(&control)
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .output()
            .expect("cygni runs");
        assert!(!output.status.success(), "{control:?} exits non-zero");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(stderr.lines().count(), 1, "{control:?}: {stderr}");
        assert!(
            stderr.starts_with(
                "error: cannot reach the Kubernetes API server at http://127.0.0.1:1/: "
            ),
            "{control:?}: {stderr}"
        );
    }
    let missing = cygni()
        .args(["status", "web", "--kubeconfig", "/nonexistent/kubeconfig"])
        .output()
        .expect("cygni runs");
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(
        stderr.starts_with("error: cannot read kubeconfig /nonexistent/kubeconfig: "),
        "{stderr}"
    );
}

#[test]
fn linked_as_kubectl_cygni_it_is_a_kubectl_plugin() {
    let dir = std::env::temp_dir().join(format!("cygni-plugin-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let link = dir.join("kubectl-cygni");
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_cygni"), &link).expect("link");
    let output = Command::new(&link)
        .arg("--help")
        .output()
        .expect("kubectl-cygni runs");
    let help = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success());
    assert!(help.contains("Usage: kubectl cygni "), "{help}");
    for control in [
        "status", "promote", "abort", "retry", "pause", "resume", "rollback", "history",
    ] {
        assert!(
            help.contains(&format!("\n  {control} ")),
            "{control} in {help}"
        );
    }
}

#[test]
fn doctor_reports_an_unreachable_cluster_as_a_failed_check_and_exits_non_zero() {
    let kubeconfig = dead_kubeconfig("doctor");
    let output = cygni()
        .args(["doctor", "--aws-backend", "sim", "--ecs-cluster", "web"])
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .output()
        .expect("cygni runs");
    assert_eq!(output.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let first = stdout.lines().next().unwrap_or_default();
    assert!(
        first.starts_with("FAIL  Kubernetes API") && first.contains("http://127.0.0.1:1/"),
        "{stdout}"
    );
    assert!(
        stdout.contains("fix: point KUBECONFIG"),
        "the fix is under the failure:\n{stdout}"
    );
    assert!(
        stdout.contains("cluster web not found"),
        "the AWS checks still run:\n{stdout}"
    );
    assert!(stdout.trim_end().ends_with("failed"), "{stdout}");
}

#[test]
fn doctor_prints_one_json_document_for_scripts() {
    let kubeconfig = dead_kubeconfig("doctor-json");
    let output = cygni()
        .args(["doctor", "-o", "json", "--aws-backend", "sim"])
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .output()
        .expect("cygni runs");
    assert_eq!(output.status.code(), Some(1));
    let json: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("stdout is one JSON document");
    assert_eq!(json["failed"], 1, "{json}");
    let first = &json["checks"][0];
    assert_eq!(first["name"], "Kubernetes API");
    assert_eq!(first["outcome"], "fail");
    assert!(first["fix"].is_string());
    let outcomes: Vec<&str> = json["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .filter_map(|c| c["outcome"].as_str())
        .collect();
    assert!(
        outcomes
            .iter()
            .all(|o| ["pass", "warn", "fail"].contains(o)),
        "{outcomes:?}"
    );
}

#[test]
fn doctor_help_leaves_out_the_flags_that_only_shape_the_running_operator() {
    let help = cygni()
        .args(["doctor", "--help"])
        .output()
        .expect("cygni runs");
    let help = String::from_utf8_lossy(&help.stdout);
    for shown in [
        "--service-account",
        "--ecs-cluster",
        "--allowed-hosted-zones",
    ] {
        assert!(help.contains(shown), "{shown} is listed:\n{help}");
    }
    for hidden in [
        "--listen-addr",
        "--leader-election",
        "--resync-period",
        "--lease-name",
    ] {
        assert!(!help.contains(hidden), "{hidden} is not listed:\n{help}");
    }
    // Still accepted, so the operator's flags and variables can be passed as they are.
    let output = cygni()
        .args([
            "doctor",
            "--aws-backend",
            "sim",
            "--listen-addr",
            "0.0.0.0:9090",
        ])
        .arg("--kubeconfig")
        .arg(dead_kubeconfig("doctor-run-flags"))
        .output()
        .expect("cygni runs");
    assert_eq!(
        output.status.code(),
        Some(1),
        "the checks ran and one failed"
    );
    assert!(String::from_utf8_lossy(&output.stdout).starts_with("FAIL  Kubernetes API"));
}

#[test]
fn doctor_refuses_a_service_account_without_a_namespace() {
    let output = cygni()
        .args([
            "doctor",
            "--aws-backend",
            "sim",
            "--service-account",
            "cygni",
        ])
        .arg("--kubeconfig")
        .arg(dead_kubeconfig("doctor-sa"))
        .output()
        .expect("cygni runs");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.starts_with(
            "error: --service-account: `cygni` is not a service account: write <namespace>/<name>"
        ),
        "{stderr}"
    );
}

#[test]
fn diff_exits_2_on_errors_like_kubectl_diff() {
    let kubeconfig = dead_kubeconfig("diff");
    let manifest = kubeconfig.with_file_name("app.yaml");
    std::fs::write(
        &manifest,
        "apiVersion: cygni.io/v1alpha1\nkind: App\nmetadata: {name: web}\nspec:\n  container: {image: nginx:1.27}\n",
    )
    .expect("manifest written");
    // The cluster cannot be reached: one line, exit 2 (1 means "differences").
    let unreachable = cygni()
        .args(["diff", "-f"])
        .arg(&manifest)
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .output()
        .expect("cygni runs");
    assert_eq!(unreachable.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&unreachable.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr
            .starts_with("error: cannot reach the Kubernetes API server at http://127.0.0.1:1/: "),
        "{stderr}"
    );
    // A file that is not there, and one that is not YAML, before any cluster is asked.
    let missing = cygni()
        .args(["diff", "-f", "/nonexistent/app.yaml"])
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .output()
        .expect("cygni runs");
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&missing.stderr)
            .starts_with("error: cannot read /nonexistent/app.yaml: "),
        "{}",
        String::from_utf8_lossy(&missing.stderr)
    );
    let mut not_yaml = cygni()
        .args(["diff", "-f", "-"])
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("cygni runs");
    {
        use std::io::Write;
        let mut stdin = not_yaml.stdin.take().expect("stdin");
        stdin.write_all(b"kind: [App\n").expect("written");
    }
    let not_yaml = not_yaml.wait_with_output().expect("cygni ends");
    assert_eq!(not_yaml.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&not_yaml.stderr)
            .starts_with("error: document 1 is not valid YAML"),
        "{}",
        String::from_utf8_lossy(&not_yaml.stderr)
    );
}
