//! The Dockerfile and the Helm chart describe the same container, checked without a container
//! engine: the Dockerfile is read with a small parser of the instructions it uses, the chart is
//! rendered with `helm template`, and the two must agree on
//! - the binary: the path the build stage installs the release build at is the one the runtime
//!   stage copies, the path ENTRYPOINT runs and the chart's `command`; CMD is the chart's first arg;
//! - the user: USER is numeric and equals the chart's runAsUser/runAsGroup;
//! - the port: EXPOSE is `cygni run`'s default listen port, the chart's container port and the
//!   port both probes use;
//! - the version: the crate version is the chart's appVersion and the default image tag.
//!
//! It also checks what the image promises on its own: base images pinned by an exact version tag
//! or a digest, a builder at least the crate's rust-version, `cargo build --release --locked`, a
//! runtime stage that adds nothing but the binary, and a `.dockerignore` that keeps build output
//! and local tools out of the context.
//!
//! Each check is a function from the parsed files to a list of problems; the tests at the end feed
//! it a Dockerfile or chart changed in one place to show that it fails.

use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;
use std::process::Command;

use serde::Deserialize as _;
use serde_yaml_ng::Value;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn dockerfile_text() -> String {
    fs::read_to_string(repo().join("Dockerfile")).expect("Dockerfile at the repository root")
}

// ---------------------------------------------------------------------------------------------
// Dockerfile

/// One instruction, with continuation lines joined.
#[derive(Debug, Clone)]
struct Instruction {
    keyword: String,
    args: String,
}

/// Instructions in order; comments, parser directives and blank lines are skipped.
fn instructions(text: &str) -> Vec<Instruction> {
    let mut out = Vec::new();
    let mut pending = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if pending.is_empty() && (trimmed.is_empty() || trimmed.starts_with('#')) {
            continue;
        }
        // A comment inside a continued instruction is dropped, as Docker does.
        if trimmed.starts_with('#') {
            continue;
        }
        if let Some(head) = trimmed.strip_suffix('\\') {
            pending.push_str(head);
            pending.push(' ');
            continue;
        }
        pending.push_str(trimmed);
        let (keyword, args) = pending
            .split_once(char::is_whitespace)
            .unwrap_or((&pending, ""));
        out.push(Instruction {
            keyword: keyword.to_ascii_uppercase(),
            args: args.trim().to_owned(),
        });
        pending.clear();
    }
    out
}

/// One build stage: its base image (ARGs resolved), its name, its instructions.
#[derive(Debug)]
struct Stage {
    base: String,
    name: Option<String>,
    body: Vec<Instruction>,
}

/// The stages of a Dockerfile, with the global ARG defaults substituted into each FROM.
fn stages(text: &str) -> Vec<Stage> {
    let mut globals = BTreeMap::new();
    let mut stages: Vec<Stage> = Vec::new();
    for instruction in instructions(text) {
        match instruction.keyword.as_str() {
            "ARG" if stages.is_empty() => {
                let (name, value) = instruction
                    .args
                    .split_once('=')
                    .unwrap_or((&instruction.args, ""));
                globals.insert(name.to_owned(), value.to_owned());
            }
            "FROM" => {
                let words: Vec<&str> = instruction.args.split_whitespace().collect();
                let mut base = words.first().copied().unwrap_or_default().to_owned();
                for (name, value) in &globals {
                    base = base.replace(&format!("${{{name}}}"), value);
                }
                let name = match words.as_slice() {
                    [_, as_word, name] if as_word.eq_ignore_ascii_case("as") => {
                        Some((*name).to_owned())
                    }
                    _ => None,
                };
                stages.push(Stage {
                    base,
                    name,
                    body: Vec::new(),
                });
            }
            _ => {
                if let Some(stage) = stages.last_mut() {
                    stage.body.push(instruction);
                }
            }
        }
    }
    stages
}

fn json_words(args: &str, what: &str) -> Result<Vec<String>, String> {
    serde_json::from_str(args)
        .map_err(|_| format!("{what} must be in exec form (a JSON array), got {args:?}"))
}

/// What the Dockerfile says about the image.
#[derive(Debug, Clone)]
struct Image {
    builder: String,
    runtime: String,
    /// The build stage's RUN instructions.
    build_runs: Vec<String>,
    /// Runtime-stage COPY instructions as (from stage, source, destination).
    copies: Vec<(Option<String>, String, String)>,
    /// Instructions of the runtime stage other than COPY and the metadata ones.
    runtime_extras: Vec<String>,
    user: Option<String>,
    exposed: Vec<String>,
    entrypoint: Vec<String>,
    cmd: Vec<String>,
}

fn image(text: &str) -> Result<Image, String> {
    let stages = stages(text);
    let [build, runtime] = stages.as_slice() else {
        return Err(format!(
            "expected two stages (build, runtime), found {}",
            stages.len()
        ));
    };
    let build_runs = build
        .body
        .iter()
        .filter(|i| i.keyword == "RUN")
        .map(|i| i.args.clone())
        .collect();
    let mut image = Image {
        builder: build.base.clone(),
        runtime: runtime.base.clone(),
        build_runs,
        copies: Vec::new(),
        runtime_extras: Vec::new(),
        user: None,
        exposed: Vec::new(),
        entrypoint: Vec::new(),
        cmd: Vec::new(),
    };
    for instruction in &runtime.body {
        let args = &instruction.args;
        match instruction.keyword.as_str() {
            "COPY" => {
                let mut from = None;
                let mut paths = Vec::new();
                for word in args.split_whitespace() {
                    if let Some(stage) = word.strip_prefix("--from=") {
                        from = Some(stage.to_owned());
                    } else if !word.starts_with("--") {
                        paths.push(word.to_owned());
                    }
                }
                let [source, destination] = paths.as_slice() else {
                    return Err(format!(
                        "COPY with one source and one destination, got {args:?}"
                    ));
                };
                image
                    .copies
                    .push((from, source.clone(), destination.clone()));
            }
            "USER" => image.user = Some(args.clone()),
            "EXPOSE" => image
                .exposed
                .extend(args.split_whitespace().map(str::to_owned)),
            "ENTRYPOINT" => image.entrypoint = json_words(args, "ENTRYPOINT")?,
            "CMD" => image.cmd = json_words(args, "CMD")?,
            "LABEL" => {}
            other => image.runtime_extras.push(format!("{other} {args}")),
        }
    }
    if build.name.is_none() {
        return Err("the build stage needs a name (FROM ... AS build)".into());
    }
    if let Some((from, ..)) = image.copies.first()
        && from.as_deref() != build.name.as_deref()
    {
        return Err(format!(
            "the runtime stage copies from {from:?}, not from the build stage {:?}",
            build.name
        ));
    }
    Ok(image)
}

// ---------------------------------------------------------------------------------------------
// The rendered chart

fn helm_template(args: &[&str]) -> String {
    let helm = repo().join(".tools/bin/helm");
    assert!(
        helm.is_file(),
        "{} is missing: run `.ci/install-tools` to install helm (CI does)",
        helm.display()
    );
    let output = Command::new(helm)
        .args(["template", "t", "charts/cygni"])
        .args(args)
        .current_dir(repo())
        .output()
        .expect("helm runs");
    assert!(
        output.status.success(),
        "helm template failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("helm prints UTF-8")
}

/// What the rendered chart says about the operator container.
#[derive(Debug, Clone)]
struct Chart {
    app_version: String,
    image: String,
    command: Vec<String>,
    args: Vec<String>,
    run_as_user: Option<i64>,
    run_as_group: Option<i64>,
    run_as_non_root: bool,
    read_only_root: bool,
    container_ports: BTreeMap<String, i64>,
    /// Port of each probe, as rendered (a number or a port name).
    probe_ports: BTreeMap<String, Value>,
    listen_addr: Option<String>,
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_sequence()
        .map(|items| {
            items
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn rendered_chart(rendered: &str) -> Chart {
    let chart_yaml: Value = serde_yaml_ng::from_str(
        &fs::read_to_string(repo().join("charts/cygni/Chart.yaml")).expect("Chart.yaml"),
    )
    .expect("Chart.yaml is YAML");
    let deployment = serde_yaml_ng::Deserializer::from_str(rendered)
        .map(|doc| Value::deserialize(doc).expect("rendered manifests are YAML"))
        .find(|doc| doc["kind"] == "Deployment")
        .expect("the chart renders a Deployment");
    let pod = &deployment["spec"]["template"]["spec"];
    let container = pod["containers"]
        .as_sequence()
        .and_then(|c| c.iter().find(|c| c["name"] == "operator"))
        .expect("a container named operator");
    // The container's context wins over the pod's, as in Kubernetes.
    let security = |field: &str| {
        let own = &container["securityContext"][field];
        if own.is_null() {
            pod["securityContext"][field].clone()
        } else {
            own.clone()
        }
    };
    let container_ports = container["ports"]
        .as_sequence()
        .into_iter()
        .flatten()
        .map(|p| {
            (
                p["name"].as_str().unwrap_or_default().to_owned(),
                p["containerPort"].as_i64().unwrap_or_default(),
            )
        })
        .collect();
    let probe_ports = ["livenessProbe", "readinessProbe"]
        .into_iter()
        .map(|probe| {
            (
                probe.to_owned(),
                container[probe]["httpGet"]["port"].clone(),
            )
        })
        .collect();
    let listen_addr = container["env"]
        .as_sequence()
        .into_iter()
        .flatten()
        .find(|e| e["name"] == "CYGNI_LISTEN_ADDR")
        .and_then(|e| e["value"].as_str().map(str::to_owned));
    Chart {
        app_version: chart_yaml["appVersion"]
            .as_str()
            .expect("Chart.yaml has appVersion")
            .to_owned(),
        image: container["image"].as_str().unwrap_or_default().to_owned(),
        command: strings(&container["command"]),
        args: strings(&container["args"]),
        run_as_user: security("runAsUser").as_i64(),
        run_as_group: security("runAsGroup").as_i64(),
        run_as_non_root: security("runAsNonRoot").as_bool() == Some(true),
        read_only_root: container["securityContext"]["readOnlyRootFilesystem"].as_bool()
            == Some(true),
        container_ports,
        probe_ports,
        listen_addr,
    }
}

// ---------------------------------------------------------------------------------------------
// The checks

/// The `<version>` of `cygni run --help`'s `[default: 0.0.0.0:<port>]` for --listen-addr.
fn default_listen_port() -> String {
    let help = Command::new(env!("CARGO_BIN_EXE_cygni"))
        .args(["run", "--help"])
        .output()
        .expect("cygni run --help");
    let help = String::from_utf8_lossy(&help.stdout);
    let section = help
        .split("--listen-addr")
        .nth(1)
        .expect("`cygni run` has --listen-addr");
    let default = section
        .split("[default: ")
        .nth(1)
        .and_then(|rest| rest.split(']').next())
        .expect("--listen-addr has a default");
    default
        .rsplit(':')
        .next()
        .expect("the default is host:port")
        .to_owned()
}

/// Where the build stage puts the release binary: the last path of the RUN that builds it.
fn built_binary(image: &Image) -> Option<String> {
    let run = image
        .build_runs
        .iter()
        .find(|run| run.contains("cargo build"))?;
    let tail = run.split("cargo build").nth(1)?;
    if !tail.contains("target/release/cygni") {
        return None;
    }
    tail.split_whitespace().last().map(str::to_owned)
}

/// Disagreements between the Dockerfile, the rendered chart, the crate and `cygni run`.
fn disagreements(
    image: &Image,
    chart: &Chart,
    crate_version: &str,
    listen_port: &str,
) -> Vec<String> {
    let mut problems = Vec::new();

    // The binary.
    let built = built_binary(image);
    if built.is_none() {
        problems.push(
            "the build stage has no RUN that builds target/release/cygni and installs it".into(),
        );
    }
    match image.copies.as_slice() {
        [(_, source, destination)] => {
            if built.as_deref() != Some(source.as_str()) {
                problems.push(format!(
                    "the runtime stage copies {source}, but the build stage installs the binary at {built:?}"
                ));
            }
            if image.entrypoint.first() != Some(destination) {
                problems.push(format!(
                    "ENTRYPOINT runs {:?}, but the binary is copied to {destination}",
                    image.entrypoint
                ));
            }
        }
        copies => problems.push(format!(
            "the runtime stage must copy exactly one file, the binary; it copies {copies:?}"
        )),
    }
    if chart.command != image.entrypoint {
        problems.push(format!(
            "the chart's command {:?} is not the image's ENTRYPOINT {:?}",
            chart.command, image.entrypoint
        ));
    }
    if image.cmd != ["run"] || chart.args.first().map(String::as_str) != Some("run") {
        problems.push(format!(
            "CMD {:?} and the chart's first arg {:?} must both be `run`",
            image.cmd,
            chart.args.first()
        ));
    }

    // The user.
    let user = image.user.as_deref().unwrap_or("");
    let (uid, gid) = user.split_once(':').unwrap_or((user, ""));
    match uid.parse::<i64>() {
        Ok(0) => problems.push("USER is root (0)".into()),
        Ok(uid) if Some(uid) != chart.run_as_user => problems.push(format!(
            "USER {uid} is not the chart's runAsUser {:?}",
            chart.run_as_user
        )),
        Ok(_) => {}
        Err(_) => problems.push(format!(
            "USER must be numeric (uid:gid) so that runAsNonRoot can verify it, got {user:?}"
        )),
    }
    if gid.parse::<i64>().ok() != chart.run_as_group {
        problems.push(format!(
            "USER's group {gid:?} is not the chart's runAsGroup {:?}",
            chart.run_as_group
        ));
    }
    if !chart.run_as_non_root || !chart.read_only_root {
        problems.push("the chart must set runAsNonRoot and readOnlyRootFilesystem".into());
    }

    // The port.
    let exposed: Vec<&str> = image.exposed.iter().map(String::as_str).collect();
    if exposed != [listen_port] {
        problems.push(format!(
            "EXPOSE {exposed:?} is not the port `cygni run` listens on by default ({listen_port})"
        ));
    }
    let port = |value: &Value| match value {
        Value::Number(n) => n.as_i64(),
        Value::String(name) => chart.container_ports.get(name).copied(),
        _ => None,
    };
    let expected: Option<i64> = listen_port.parse().ok();
    for (probe, value) in &chart.probe_ports {
        if port(value) != expected {
            problems.push(format!(
                "the chart's {probe} uses port {value:?}, not the exposed {listen_port}"
            ));
        }
    }
    if chart.container_ports.get("http-metrics").copied() != expected {
        problems.push(format!(
            "the chart's container port http-metrics is {:?}, not the exposed {listen_port}",
            chart.container_ports.get("http-metrics")
        ));
    }
    if chart
        .listen_addr
        .as_deref()
        .and_then(|addr| addr.rsplit(':').next())
        != Some(listen_port)
    {
        problems.push(format!(
            "the chart's CYGNI_LISTEN_ADDR {:?} does not use port {listen_port}",
            chart.listen_addr
        ));
    }

    // The version.
    if chart.app_version != crate_version {
        problems.push(format!(
            "Chart.yaml appVersion {} is not the crate version {crate_version}",
            chart.app_version
        ));
    }
    if !chart.image.ends_with(&format!(":{crate_version}")) {
        problems.push(format!(
            "the chart's default image {} is not tagged with the crate version {crate_version}",
            chart.image
        ));
    }
    problems
}

/// `major.minor.patch` of a version at the start of `text` (`1.95.0-slim-bookworm`).
fn exact_version(text: &str) -> Option<(u64, u64, u64)> {
    let version = text.split('-').next()?;
    let parts: Vec<u64> = version
        .split('.')
        .map(str::parse)
        .collect::<Result<_, _>>()
        .ok()?;
    match parts.as_slice() {
        [major, minor, patch] => Some((*major, *minor, *patch)),
        _ => None,
    }
}

/// What the image promises on its own.
fn image_problems(image: &Image, rust_version: &str) -> Vec<String> {
    let mut problems = Vec::new();
    for base in [&image.builder, &image.runtime] {
        let pinned_by_digest = base.contains("@sha256:");
        let tag = base
            .rsplit_once(':')
            .map(|(_, tag)| tag)
            .filter(|tag| !tag.contains('/'));
        let floating = matches!(tag, None | Some("latest"));
        let exact = tag.and_then(exact_version).is_some();
        // Distroless publishes no version tags: its variant tag is exact for the Debian release
        // named in the image (cc-debian12), and a digest pins it fully.
        let distroless = base.starts_with("gcr.io/distroless/") && base.contains("-debian");
        if floating || !(pinned_by_digest || exact || distroless) {
            problems.push(format!(
                "base image {base} is not pinned by an exact version tag or a digest"
            ));
        }
    }
    let builder_tag = image.builder.split(['@']).next().unwrap_or_default();
    match builder_tag
        .rsplit_once(':')
        .and_then(|(_, tag)| exact_version(tag))
    {
        Some((major, minor, _)) => {
            let needed: Vec<u64> = rust_version
                .split('.')
                .filter_map(|p| p.parse().ok())
                .collect();
            if (major, minor) < (needed[0], needed.get(1).copied().unwrap_or(0)) {
                problems.push(format!(
                    "builder {} is older than the crate's rust-version {rust_version}",
                    image.builder
                ));
            }
        }
        None => problems.push(format!(
            "the builder {} names no exact Rust version",
            image.builder
        )),
    }
    if !image
        .build_runs
        .iter()
        .any(|run| run.contains("cargo build --release --locked"))
    {
        problems.push("the build stage must run `cargo build --release --locked`".into());
    }
    if !image.runtime_extras.is_empty() {
        problems.push(format!(
            "the runtime stage adds more than the binary: {:?}",
            image.runtime_extras
        ));
    }
    problems
}

fn rust_version() -> String {
    let manifest = fs::read_to_string(repo().join("Cargo.toml")).expect("Cargo.toml");
    let line = manifest
        .lines()
        .find_map(|l| l.strip_prefix("rust-version = "))
        .expect("Cargo.toml sets rust-version");
    line.trim_matches('"').to_owned()
}

fn real() -> (Image, Chart) {
    let image = image(&dockerfile_text()).unwrap_or_else(|e| panic!("Dockerfile: {e}"));
    (image, rendered_chart(&helm_template(&[])))
}

// ---------------------------------------------------------------------------------------------
// Tests

#[test]
fn the_dockerfile_and_the_chart_describe_the_same_container() {
    let (image, chart) = real();
    let problems = disagreements(
        &image,
        &chart,
        env!("CARGO_PKG_VERSION"),
        &default_listen_port(),
    );
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn the_image_is_pinned_built_locked_and_holds_only_the_binary() {
    let (image, _) = real();
    let problems = image_problems(&image, &rust_version());
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn the_build_context_leaves_out_build_output_and_local_tools() {
    let ignore = fs::read_to_string(repo().join(".dockerignore")).expect(".dockerignore");
    let entries: Vec<&str> = ignore
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| l.trim_end_matches('/'))
        .collect();
    for needed in ["target", ".tools", ".venv", ".cygni", ".git"] {
        assert!(
            entries.contains(&needed),
            ".dockerignore lacks {needed}: {entries:?}"
        );
    }
}

/// The problems `disagreements` finds in a Dockerfile edited by `edit` against the real chart.
fn with_dockerfile(edit: impl Fn(&str) -> String) -> Vec<String> {
    let text = dockerfile_text();
    let edited = edit(&text);
    assert_ne!(edited, text, "the edit changes the Dockerfile");
    let image = image(&edited).unwrap_or_else(|e| panic!("edited Dockerfile: {e}"));
    let (_, chart) = real();
    disagreements(
        &image,
        &chart,
        env!("CARGO_PKG_VERSION"),
        &default_listen_port(),
    )
}

fn assert_found(problems: &[String], needle: &str) {
    assert!(
        problems.iter().any(|p| p.contains(needle)),
        "expected a problem mentioning {needle:?}, got {problems:#?}"
    );
}

#[test]
fn a_binary_copied_from_elsewhere_than_the_build_output_is_found() {
    let problems = with_dockerfile(|t| {
        t.replace(
            "COPY --from=build /out/cygni",
            "COPY --from=build /src/cygni",
        )
    });
    assert_found(&problems, "the runtime stage copies /src/cygni");
}

#[test]
fn an_entrypoint_that_is_not_the_copied_binary_is_found() {
    let problems = with_dockerfile(|t| {
        t.replace(
            "ENTRYPOINT [\"/usr/local/bin/cygni\"]",
            "ENTRYPOINT [\"/cygni\"]",
        )
    });
    assert_found(&problems, "ENTRYPOINT runs [\"/cygni\"]");
    assert_found(&problems, "the chart's command");
}

#[test]
fn a_user_other_than_the_charts_is_found() {
    let problems = with_dockerfile(|t| t.replace("USER 65532:65532", "USER 1000:1000"));
    assert_found(&problems, "USER 1000 is not the chart's runAsUser");
    let named = with_dockerfile(|t| t.replace("USER 65532:65532", "USER nonroot"));
    assert_found(&named, "USER must be numeric");
}

#[test]
fn an_exposed_port_other_than_the_listen_port_is_found() {
    let problems = with_dockerfile(|t| t.replace("EXPOSE 8080", "EXPOSE 9090"));
    assert_found(&problems, "EXPOSE [\"9090\"]");
}

#[test]
fn a_chart_port_or_probe_other_than_the_exposed_one_is_found() {
    let (image, _) = real();
    let listen = default_listen_port();
    let moved = rendered_chart(&helm_template(&["--set", "metrics.port=9090"]));
    let problems = disagreements(&image, &moved, env!("CARGO_PKG_VERSION"), &listen);
    assert_found(&problems, "livenessProbe uses port");
    assert_found(&problems, "container port http-metrics is Some(9090)");
    assert_found(&problems, "CYGNI_LISTEN_ADDR");
}

#[test]
fn a_chart_user_or_version_other_than_the_images_is_found() {
    let (image, chart) = real();
    let listen = default_listen_port();
    let other_user = rendered_chart(&helm_template(&[
        "--set",
        "podSecurityContext.runAsUser=1000",
    ]));
    assert_found(
        &disagreements(&image, &other_user, env!("CARGO_PKG_VERSION"), &listen),
        "is not the chart's runAsUser Some(1000)",
    );
    let problems = disagreements(&image, &chart, "9.9.9", &listen);
    assert_found(&problems, "appVersion");
    assert_found(&problems, "not tagged with the crate version 9.9.9");
}

#[test]
fn floating_base_images_an_old_builder_and_extra_layers_are_found() {
    let text = dockerfile_text();
    let edited = text
        .replace("rust:1.95.0-slim-bookworm", "rust:latest")
        .replace("gcr.io/distroless/cc-debian12:nonroot", "debian:bookworm");
    let problems = image_problems(&image(&edited).expect("parses"), &rust_version());
    assert_found(&problems, "rust:latest is not pinned");
    assert_found(&problems, "debian:bookworm is not pinned");

    let old = text.replace("rust:1.95.0-slim-bookworm", "rust:1.80.0-slim-bookworm");
    assert_found(
        &image_problems(&image(&old).expect("parses"), &rust_version()),
        "older than the crate's rust-version",
    );

    let unlocked = text.replace("--release --locked", "--release");
    assert_found(
        &image_problems(&image(&unlocked).expect("parses"), &rust_version()),
        "cargo build --release --locked",
    );

    let shelled = text.replace("USER 65532:65532", "RUN mkdir /data\nUSER 65532:65532");
    assert_found(
        &image_problems(&image(&shelled).expect("parses"), &rust_version()),
        "adds more than the binary",
    );

    let digest = text.replace(
        "gcr.io/distroless/cc-debian12:nonroot",
        &format!(
            "gcr.io/distroless/cc-debian12:nonroot@sha256:{}",
            "0".repeat(64)
        ),
    );
    assert!(image_problems(&image(&digest).expect("parses"), &rust_version()).is_empty());
}

#[test]
fn the_parser_joins_continued_lines_and_skips_comments() {
    let parsed = instructions("# c\nFROM a AS b\nRUN one \\\n  # inside\n  two\nUSER 1:1\n");
    let shape: Vec<(String, String)> = parsed.into_iter().map(|i| (i.keyword, i.args)).collect();
    assert_eq!(
        shape,
        [
            ("FROM".to_owned(), "a AS b".to_owned()),
            ("RUN".to_owned(), "one  two".to_owned()),
            ("USER".to_owned(), "1:1".to_owned()),
        ]
    );
}
