//! The `cygni` command line: run the operator, try it in the playground, check what it needs
//! (`doctor`), or print its CRDs.

use clap::{Parser, Subcommand};
use cygni::config::{LogFormat, RunArgs};
use std::path::PathBuf;
use std::process::ExitCode;

/// Deploy container apps to Amazon ECS on Fargate from Kubernetes, with progressive delivery,
/// DNS and TLS. Installed or linked as `kubectl-cygni`, it is also a kubectl plugin
/// (`kubectl cygni promote web`).
#[derive(Parser, Debug)]
#[command(name = "cygni", version, about, long_about = None)]
struct Cli {
    /// Log format: `text` for people, `json` for log pipelines. Level from RUST_LOG (default info).
    #[arg(long, global = true, env = "CYGNI_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the operator with an in-process Kubernetes API and simulated AWS, for trying it out:
    /// point kubectl at the kubeconfig it writes and apply the examples.
    Playground(Box<cygni::playground::PlaygroundArgs>),
    /// Run the operator against the cluster of the in-cluster service account or KUBECONFIG.
    Run(Box<RunArgs>),
    /// Print the CustomResourceDefinitions as YAML, or write one file per CRD into a folder.
    Crds {
        /// Write `<plural>.cygni.io.yaml` files into this folder instead of printing.
        #[arg(long, value_name = "DIR")]
        write: Option<PathBuf>,
    },
    /// Check that everything the operator needs is in place (Kubernetes API, CRDs, RBAC, AWS
    /// credentials, cluster, network, listeners, hosted zones, IAM): one line per check, with
    /// the fix. Takes the same flags and variables as `run`; exits non-zero when a check fails.
    Doctor(Box<cygni::doctor::DoctorArgs>),
    /// Show what applying App manifests would change in AWS (task definition, services, rule,
    /// records) and their monthly Fargate cost before and after, from the live Apps' spec and
    /// status: no AWS access needed. Exits 0 when nothing changes, 1 when something does, 2 on
    /// an error or an invalid spec, like `kubectl diff`.
    Diff(Box<cygni::cli::diff::DiffArgs>),
    #[command(flatten)]
    Control(cygni::cli::Control),
}

/// The name the binary was run as: `kubectl-cygni` when kubectl runs it as a plugin.
fn invoked_as() -> String {
    std::env::args_os()
        .next()
        .and_then(|a| {
            std::path::Path::new(&a)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
        })
        .unwrap_or_default()
}

fn main() -> ExitCode {
    use clap::{CommandFactory, FromArgMatches};
    let mut command = Cli::command();
    if invoked_as() == "kubectl-cygni" {
        command = command.bin_name("kubectl cygni");
    }
    let cli = match Cli::from_arg_matches(&command.get_matches()) {
        Ok(cli) => cli,
        Err(error) => error.exit(),
    };
    cygni::telemetry::init_logging(cli.log_format);
    let result = match cli.command {
        Command::Run(args) => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(anyhow::Error::from)
            .and_then(|runtime| runtime.block_on(cygni::controller::runtime::run(*args))),
        Command::Playground(args) => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(anyhow::Error::from)
            .and_then(|runtime| runtime.block_on(cygni::playground::run(*args))),
        Command::Crds { write } => crds(write),
        Command::Doctor(args) => {
            match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(anyhow::Error::from)
                .and_then(|runtime| runtime.block_on(cygni::doctor::run(*args)))
            {
                Ok(true) => Ok(()),
                // The report said what failed; the exit code says that something did.
                Ok(false) => return ExitCode::FAILURE,
                Err(error) => Err(error),
            }
        }
        // Its own exit codes: 1 means "differences", not failure.
        Command::Diff(args) => return diff(&args),
        Command::Control(control) => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(anyhow::Error::from)
            .and_then(|runtime| runtime.block_on(control.run())),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // The reader went away (`cygni crds | head`): nothing is wrong, stop quietly.
        Err(error) if closed_pipe(&error) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {}", one_line(&error));
            ExitCode::FAILURE
        }
    }
}

/// `cygni diff`, with `kubectl diff`'s exit codes: 0 same, 1 differences, 2 error.
fn diff(args: &cygni::cli::diff::DiffArgs) -> ExitCode {
    use cygni::cli::diff::{EXIT_ERROR, Outcome};
    let result = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(anyhow::Error::from)
        .and_then(|runtime| runtime.block_on(args.run(&mut std::io::stdout().lock())));
    match result {
        Ok(Outcome::Same) => ExitCode::SUCCESS,
        Ok(Outcome::Differs) => ExitCode::from(1),
        Err(error) if closed_pipe(&error) => ExitCode::SUCCESS,
        Err(error) => {
            // An invalid spec lists one problem a line; other errors fit on one.
            let text = error.to_string();
            if text.contains('\n') {
                eprintln!("error: {text}");
            } else {
                eprintln!("error: {}", one_line(&error));
            }
            ExitCode::from(EXIT_ERROR)
        }
    }
}

fn crds(write: Option<PathBuf>) -> anyhow::Result<()> {
    use cygni::api::crd;
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match write {
        None => out.write_all(crd::render_all()?.as_bytes())?,
        Some(dir) => {
            std::fs::create_dir_all(&dir)?;
            for definition in crd::all() {
                let path = dir.join(crd::file_name(&definition));
                std::fs::write(&path, crd::to_yaml(&definition)?)?;
                writeln!(out, "wrote {}", path.display())?;
            }
        }
    }
    out.flush()?;
    Ok(())
}

/// Whether an error is a write to a pipe whose reader has gone.
fn closed_pipe(error: &anyhow::Error) -> bool {
    error
        .chain()
        .filter_map(|cause| cause.downcast_ref::<std::io::Error>())
        .any(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
}

/// The error and its causes on one line, without repeating a cause its parent already quotes.
fn one_line(error: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
    }
    parts.join(": ").replace('\n', " ")
}
