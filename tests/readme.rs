//! The README's quick start, run exactly as written: the playground is started as the README's
//! first command starts it (the `cygni` binary `cargo run` builds), then every line of the quick
//! start block runs in one shell, in order, with the repository's kubectl. If a command in the
//! README stops working, this test fails.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The code blocks of a Markdown text fenced with ```` ```sh ````, in order.
fn shell_blocks(markdown: &str) -> Vec<Vec<String>> {
    let mut blocks = Vec::new();
    let mut current: Option<Vec<String>> = None;
    for line in markdown.lines() {
        match (&mut current, line.trim_end()) {
            (None, "```sh") => current = Some(Vec::new()),
            (Some(_), "```") => blocks.extend(current.take()),
            (Some(block), text) => block.push(text.to_string()),
            (None, _) => {}
        }
    }
    blocks
}

/// The quick start: the block that begins by pointing kubectl at the playground.
fn quick_start() -> Vec<String> {
    let readme = std::fs::read_to_string(repo().join("README.md")).expect("README.md");
    let blocks = shell_blocks(&readme);
    assert!(
        blocks
            .first()
            .is_some_and(|b| b.iter().any(|l| l.starts_with("cargo run -- playground"))),
        "the README's first block starts the playground: {blocks:?}"
    );
    blocks
        .into_iter()
        .find(|b| b.first().map(String::as_str) == Some("export KUBECONFIG=.cygni/kubeconfig"))
        .expect("a quick start block that begins with `export KUBECONFIG=.cygni/kubeconfig`")
}

/// A playground started the README's way, in `dir`; killed when dropped.
struct RunningPlayground(Child);

impl Drop for RunningPlayground {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `cygni playground` in `dir` (free ports, so that a playground already running on the
/// machine is left alone) and waits until it has written its kubeconfig and says it runs.
fn start_playground(dir: &Path) -> RunningPlayground {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cygni"))
        .args(["playground", "--port", "0", "--listen-addr", "127.0.0.1:0"])
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("cygni playground starts");
    let stdout = child.stdout.take().expect("stdout");
    let playground = RunningPlayground(child);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let start = Instant::now();
    loop {
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("the playground prints its banner");
        if line.starts_with("Ctrl-C stops it") {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "no banner");
    }
    assert!(
        dir.join(".cygni/kubeconfig").is_file(),
        "kubeconfig written"
    );
    playground
}

#[test]
fn the_quick_start_runs_as_written() {
    let kubectl_dir = repo().join(".tools/bin");
    assert!(
        kubectl_dir.join("kubectl").is_file(),
        "{} is missing: run `.ci/install-tools` to install kubectl (CI does)",
        kubectl_dir.display()
    );
    let commands = quick_start();
    let dir = std::env::temp_dir().join(format!("cygni-readme-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    // The quick start runs from the repository root: `examples/` is there, and `target/debug`
    // holds the binary `cargo run` built (the one this test runs).
    std::os::unix::fs::symlink(repo().join("examples"), dir.join("examples")).expect("examples");
    let bin = Path::new(env!("CARGO_BIN_EXE_cygni"))
        .parent()
        .expect("the binary's folder")
        .to_path_buf();
    std::fs::create_dir_all(dir.join("target")).expect("target");
    std::os::unix::fs::symlink(&bin, dir.join("target/debug")).expect("target/debug");
    let _playground = start_playground(&dir);

    // One shell, so `export` carries over; each command echoed first, as a transcript.
    let mut script = String::from("set -euo pipefail\n");
    for command in &commands {
        script.push_str(&format!("printf '$ %s\\n' {}\n", shell_quote(command)));
        script.push_str(command);
        script.push_str(" 2>&1\n");
    }
    let path = format!(
        "{}:{}",
        kubectl_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let output = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(&dir)
        .env("PATH", path)
        .env_remove("KUBECONFIG")
        .output()
        .expect("bash runs");
    let transcript = String::from_utf8_lossy(&output.stdout);
    println!("{transcript}");
    assert!(
        output.status.success(),
        "the quick start failed:\n{transcript}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for expected in [
        "app.cygni.io/hello condition met",
        "domain.cygni.io/shop condition met",
        "deployment.cygni.io/hello-1",
        "Warning  RolloutFailed",
        "revision 2 keeps serving",
        "app.cygni.io \"hello\" deleted",
        "> 2/7 analysis error-rate, latency",
        "promoted shop-2 fully: it skips to 6/7 setWeight 100",
        "app.cygni.io/shop condition met",
    ] {
        assert!(
            transcript.contains(expected),
            "the transcript lacks {expected:?}:\n{transcript}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// `text` as one single-quoted shell word.
fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

#[test]
fn shell_blocks_are_read_in_order() {
    let text = "intro\n```sh\na\nb\n```\nmore\n```text\nx\n```\n```sh\nc\n```\n";
    assert_eq!(
        shell_blocks(text),
        vec![
            vec!["a".to_string(), "b".to_string()],
            vec!["c".to_string()]
        ]
    );
}
