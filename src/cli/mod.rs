//! The rollout controls of the `cygni` binary (also a kubectl plugin when installed or linked as
//! `kubectl-cygni`): `status`, `promote`, `abort`, `retry`, `pause`, `resume`, `rollback` and
//! `history`. Each reads the App and its Deployments, patches a Deployment's spec (or, for a
//! rollback, the App's template) as the API defines, prints what it changed, and fails with one
//! line when there is nothing to do. What a control patches is decided in [`controls`].

pub mod controls;
pub mod diff;
pub mod render;
pub mod running_cost;

use crate::api::{App, Deployment};
use crate::controller::app::APP_LABEL;
use crate::plan::naming;
use anyhow::{Context as _, bail};
use clap::{Args, Subcommand};
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::{Client, ResourceExt};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::Duration;

/// Field manager of the changes the controls make, so `managedFields` tells them from Git's and
/// the operator's.
pub const FIELD_MANAGER: &str = "cygni-cli";

/// Which App, in which cluster and namespace.
#[derive(Args, Clone, Debug)]
pub struct Target {
    /// Name of the App.
    pub app: String,
    /// Namespace of the App. Defaults to the kubeconfig context's namespace.
    #[arg(short, long)]
    pub namespace: Option<String>,
    /// Kubeconfig file. Defaults to KUBECONFIG, then ~/.kube/config, then the pod's service account.
    #[arg(long, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,
    /// Kubeconfig context to use.
    #[arg(long)]
    pub context: Option<String>,
}

/// The rollout controls.
#[derive(Subcommand, Debug)]
pub enum Control {
    /// Show an App's rollout: steps, weights per slot, tasks, pause time left, analysis.
    Status {
        #[command(flatten)]
        target: Target,
        /// Keep showing it as it changes (redrawn in place on a terminal), until the rollout ends.
        #[arg(short, long)]
        watch: bool,
    },
    /// Complete the current pause (or promotion step) of an App's rollout.
    Promote {
        #[command(flatten)]
        target: Target,
        /// Skip every remaining step and analysis and send all traffic to the new revision.
        #[arg(long)]
        full: bool,
    },
    /// Stop an App's rollout and return all traffic to the stable revision at once.
    Abort {
        #[command(flatten)]
        target: Target,
    },
    /// Start an aborted or failed rollout again from its first step.
    Retry {
        #[command(flatten)]
        target: Target,
    },
    /// Hold an App's rollout at its current step.
    Pause {
        #[command(flatten)]
        target: Target,
    },
    /// Let a paused rollout continue.
    Resume {
        #[command(flatten)]
        target: Target,
    },
    /// Put an earlier revision's template back on the App; the operator rolls it out as a new
    /// revision with the App's strategy.
    Rollback {
        #[command(flatten)]
        target: Target,
        /// The revision to go back to (see `cygni history`).
        #[arg(long = "to-revision", value_name = "N")]
        to_revision: i64,
    },
    /// List an App's revisions with their phase, image and times.
    History {
        #[command(flatten)]
        target: Target,
    },
}

impl Control {
    /// Runs the control, printing to standard output.
    pub async fn run(self) -> anyhow::Result<()> {
        let mut out = std::io::stdout().lock();
        match self {
            Control::Status { target, watch } => {
                let session = Session::connect(&target).await?;
                if watch {
                    session.watch(&mut out).await
                } else {
                    let (app, deployments) = session.observe().await?;
                    write!(
                        out,
                        "{}",
                        render::status(
                            &app,
                            &deployments,
                            jiff::Timestamp::now(),
                            render::Clock::Live
                        )
                    )?;
                    Ok(())
                }
            }
            Control::History { target } => {
                let session = Session::connect(&target).await?;
                let (app, deployments) = session.observe().await?;
                write!(out, "{}", render::history(&app, &deployments))?;
                Ok(())
            }
            Control::Promote { target, full } => {
                let line = Session::connect(&target).await?.promote(full).await?;
                writeln!(out, "{line}")?;
                Ok(())
            }
            Control::Abort { target } => {
                let line = Session::connect(&target).await?.abort().await?;
                writeln!(out, "{line}")?;
                Ok(())
            }
            Control::Retry { target } => {
                let line = Session::connect(&target).await?.retry().await?;
                writeln!(out, "{line}")?;
                Ok(())
            }
            Control::Pause { target } => {
                let line = Session::connect(&target).await?.pause(true).await?;
                writeln!(out, "{line}")?;
                Ok(())
            }
            Control::Resume { target } => {
                let line = Session::connect(&target).await?.pause(false).await?;
                writeln!(out, "{line}")?;
                Ok(())
            }
            Control::Rollback {
                target,
                to_revision,
            } => {
                let (line, note) = Session::connect(&target)
                    .await?
                    .rollback(to_revision)
                    .await?;
                writeln!(out, "{line}")?;
                if let Some(note) = note {
                    eprintln!("note: {note}");
                }
                Ok(())
            }
        }
    }
}

/// A connection to the App's namespace.
struct Session {
    client: Client,
    namespace: String,
    app: String,
}

impl Session {
    async fn connect(target: &Target) -> anyhow::Result<Session> {
        let options = kube::config::KubeConfigOptions {
            context: target.context.clone(),
            ..kube::config::KubeConfigOptions::default()
        };
        let config = match &target.kubeconfig {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read kubeconfig {}", path.display()))?;
                let kubeconfig = kube::config::Kubeconfig::from_yaml(&text).map_err(|e| {
                    anyhow::anyhow!("kubeconfig {} is not valid: {e}", path.display())
                })?;
                kube::Config::from_custom_kubeconfig(kubeconfig, &options)
                    .await
                    .map_err(|e| anyhow::anyhow!("kubeconfig {}: {e}", path.display()))?
            }
            None if target.context.is_some() => kube::Config::from_kubeconfig(&options)
                .await
                .map_err(|e| anyhow::anyhow!("kubeconfig: {e}"))?,
            // The causes kube lists (no in-cluster variables, no current context) say less than
            // what to do.
            None => kube::Config::infer().await.map_err(|_| {
                anyhow::anyhow!(
                    "no Kubernetes configuration: set KUBECONFIG, pass --kubeconfig, or run in a pod"
                )
            })?,
        };
        let namespace = target
            .namespace
            .clone()
            .unwrap_or_else(|| config.default_namespace.clone());
        let mut config = config;
        let agent = format!("{FIELD_MANAGER}/{}", env!("CARGO_PKG_VERSION"));
        if let Ok(value) = axum::http::HeaderValue::from_str(&agent) {
            config.headers.push((axum::http::header::USER_AGENT, value));
        }
        let url = config.cluster_url.to_string();
        let client = Client::try_from(config).context("invalid Kubernetes client configuration")?;
        crate::controller::runtime::probe(&client, &url).await?;
        Ok(Session {
            client,
            namespace,
            app: target.app.clone(),
        })
    }

    fn apps(&self) -> Api<App> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    fn deployments(&self) -> Api<Deployment> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    async fn app(&self) -> anyhow::Result<App> {
        match self.apps().get_opt(&self.app).await {
            Ok(Some(app)) => Ok(app),
            Ok(None) => bail!("App {} not found in namespace {}", self.app, self.namespace),
            Err(e) => bail!(
                "cannot read App {}: {}",
                self.app,
                crate::controller::describe_kube(&e)
            ),
        }
    }

    /// The App and its Deployments.
    async fn observe(&self) -> anyhow::Result<(App, Vec<Deployment>)> {
        let app = self.app().await?;
        let selector = format!("{APP_LABEL}={}", naming::app_label(&self.app));
        let uid = app.uid();
        let list = self
            .deployments()
            .list(&ListParams::default().labels(&selector))
            .await
            .map_err(|e| anyhow::anyhow!(crate::controller::describe_kube(&e)))?;
        let deployments = list
            .items
            .into_iter()
            .filter(|d| {
                d.owner_references()
                    .iter()
                    .any(|o| Some(&o.uid) == uid.as_ref())
            })
            .collect();
        Ok((app, deployments))
    }

    /// The Deployment of the App's current revision.
    async fn current(&self) -> anyhow::Result<(App, Deployment)> {
        let app = self.app().await?;
        let Some(revision) = app.status.as_ref().and_then(|s| s.current_revision) else {
            bail!("App {} has no revision yet", self.app);
        };
        let name = naming::deployment_name(&self.app, revision);
        match self.deployments().get_opt(&name).await {
            Ok(Some(d)) => Ok((app, d)),
            Ok(None) => bail!("Deployment {name} of App {} not found", self.app),
            Err(e) => bail!(
                "cannot read Deployment {name}: {}",
                crate::controller::describe_kube(&e)
            ),
        }
    }

    async fn patch_deployment(&self, name: &str, spec: serde_json::Value) -> anyhow::Result<()> {
        let params = PatchParams {
            field_manager: Some(FIELD_MANAGER.to_string()),
            ..PatchParams::default()
        };
        self.deployments()
            .patch(
                name,
                &params,
                &Patch::Merge(&serde_json::json!({ "spec": spec })),
            )
            .await
            .map_err(|e| {
                anyhow::anyhow!(
                    "cannot patch Deployment {name}: {}",
                    crate::controller::describe_kube(&e)
                )
            })?;
        Ok(())
    }

    /// Sends a control's patch, if it has one, and returns the line it prints.
    async fn apply(&self, d: &Deployment, change: controls::Change) -> anyhow::Result<String> {
        if let Some(spec) = change.spec {
            self.patch_deployment(&d.name_any(), spec).await?;
        }
        Ok(change.line)
    }

    async fn promote(&self, full: bool) -> anyhow::Result<String> {
        let (_, d) = self.current().await?;
        let change = controls::promote(&d, full)?;
        self.apply(&d, change).await
    }

    async fn abort(&self) -> anyhow::Result<String> {
        let (app, d) = self.current().await?;
        let stable = app.status.and_then(|s| s.stable_revision);
        let change = controls::abort(&d, stable)?;
        self.apply(&d, change).await
    }

    async fn retry(&self) -> anyhow::Result<String> {
        let (_, d) = self.current().await?;
        let change = controls::retry(&d)?;
        self.apply(&d, change).await
    }

    async fn pause(&self, paused: bool) -> anyhow::Result<String> {
        let (_, d) = self.current().await?;
        let change = controls::pause(&d, paused)?;
        self.apply(&d, change).await
    }

    /// Puts revision `n`'s template back on the App. Returns what was done and, for an App an
    /// Argo CD application manages, a note on what self-heal will do.
    async fn rollback(&self, n: i64) -> anyhow::Result<(String, Option<String>)> {
        let (app, deployments) = self.observe().await?;
        let Some(target) = deployments.iter().find(|d| d.spec.revision == n) else {
            let mut kept: Vec<i64> = deployments.iter().map(|d| d.spec.revision).collect();
            kept.sort_unstable();
            let kept: Vec<String> = kept.iter().map(ToString::to_string).collect();
            bail!(
                "revision {n} of App {} is not in its history (kept: {})",
                self.app,
                if kept.is_empty() {
                    "none".to_string()
                } else {
                    kept.join(", ")
                }
            );
        };
        let template = &target.spec.template;
        if app.spec.template() == *template {
            bail!(
                "nothing to roll back: App {} already runs revision {n}'s template",
                self.app
            );
        }
        // The App's template becomes revision n's exactly: what revision n did not have is set
        // to null in the merge patch, so it goes too.
        let current = serde_json::to_value(app.spec.template())?;
        let wanted = serde_json::to_value(template)?;
        let patch = serde_json::json!({
            "spec": crate::controller::report::merge_patch(&current, &wanted)
        });
        let params = PatchParams {
            field_manager: Some(FIELD_MANAGER.to_string()),
            ..PatchParams::default()
        };
        self.apps()
            .patch(&self.app, &params, &Patch::Merge(&patch))
            .await
            .map_err(|e| {
                anyhow::anyhow!(
                    "cannot patch App {}: {}",
                    self.app,
                    crate::controller::describe_kube(&e)
                )
            })?;
        let next = app
            .status
            .as_ref()
            .and_then(|s| s.current_revision)
            .map_or(1, |c| c + 1);
        let line = format!(
            "rolled App {} back to revision {n} (image {}): the operator rolls it out as revision {next}",
            self.app, template.container.image
        );
        Ok((line, argo_cd_note(&app)))
    }

    /// Shows the status until the current revision's rollout ends: redrawn in place on a
    /// terminal, a new block for each change otherwise.
    async fn watch(&self, out: &mut impl Write) -> anyhow::Result<()> {
        let terminal = std::io::stdout().is_terminal();
        let mut last = String::new();
        loop {
            let (app, deployments) = self.observe().await?;
            let clock = if terminal {
                render::Clock::Live
            } else {
                render::Clock::Fixed
            };
            let text = render::status(&app, &deployments, jiff::Timestamp::now(), clock);
            if terminal {
                // Home and clear, then the whole picture: a redraw in place.
                write!(out, "\x1b[H\x1b[2J{text}")?;
                out.flush()?;
            } else if text != last {
                writeln!(out, "{text}")?;
                out.flush()?;
            }
            last = text;
            if rollout_over(&app, &deployments) {
                return Ok(());
            }
            tokio::select! {
                _ = tokio::signal::ctrl_c() => return Ok(()),
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
    }
}

/// Whether the current revision's rollout ended and the App reports it.
fn rollout_over(app: &App, deployments: &[Deployment]) -> bool {
    let status = app.status.clone().unwrap_or_default();
    let Some(current) = status.current_revision else {
        return false;
    };
    deployments
        .iter()
        .find(|d| d.spec.revision == current)
        .and_then(|d| d.status.as_ref())
        .is_some_and(|s| s.phase.is_terminal())
        && status.observed_generation == app.metadata.generation
}

/// What an Argo CD application managing the App does to a rollback made here.
fn argo_cd_note(app: &App) -> Option<String> {
    let tracked = app.labels().contains_key("app.kubernetes.io/instance")
        || app
            .annotations()
            .contains_key("argocd.argoproj.io/tracking-id");
    tracked.then(|| {
        format!(
            "App {} is managed by Argo CD: with self-heal on it puts Git's template back and undoes this rollback; revert the change in Git (docs/rollouts.md, section Rollback under GitOps)",
            app.name_any()
        )
    })
}
