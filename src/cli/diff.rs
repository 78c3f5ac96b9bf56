//! `cygni diff -f app.yaml`: what applying the Apps of a file would change in AWS and what they
//! would cost a month, before anything is applied. Each App is validated by the API server (a
//! server-side dry-run apply, like `kubectl diff`) and by the operator's own rules, then compared
//! with the live App through [`crate::plan::diff`]. Nothing is read from AWS: the live side is the
//! App's spec and status, so the command needs only read access to the cluster (and the right to
//! dry-run an apply) and works in a GitOps review.

use super::{FIELD_MANAGER, Session, Target};
use crate::api::{App, Domain};
use crate::config::{OperatorDefaults, Policy};
use crate::controller::validate::{self, InvalidSpec, ValidatedApp};
use crate::cost::{self, Rates, TaskSize, dollars};
use crate::plan::diff::{self, AppDiff, FieldChange, PointingDomain, Side};
use crate::plan::naming::AppIdentity;
use anyhow::{Context as _, bail};
use clap::Args;
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::{Client, ResourceExt};
use std::fmt::Write as _;
use std::io::Read as _;
use std::path::PathBuf;

/// What `cygni diff` exits with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Applying the file changes nothing in AWS (exit 0).
    Same,
    /// Applying it changes something (exit 1).
    Differs,
}

/// Exit code of an error (an invalid spec, an unreachable cluster), as `kubectl diff` has it.
pub const EXIT_ERROR: u8 = 2;

/// Options of `cygni diff`.
#[derive(Args, Clone, Debug)]
pub struct DiffArgs {
    /// File of App manifests (several documents allowed), a folder of such files (not its
    /// subfolders), or `-` for standard input.
    #[arg(short = 'f', long = "filename", value_name = "FILE")]
    pub file: PathBuf,
    /// Namespace of Apps whose manifest names none. Defaults to the kubeconfig context's.
    #[arg(short, long)]
    pub namespace: Option<String>,
    /// Kubeconfig file. Defaults to KUBECONFIG, then ~/.kube/config, then the pod's service account.
    #[arg(long, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,
    /// Kubeconfig context to use.
    #[arg(long)]
    pub context: Option<String>,
    /// AWS region to price in and to name in the log configuration. Defaults to the region of the
    /// App's resources in its status, then of its listener ARN; an App with neither is not priced.
    #[arg(long, env = "AWS_REGION")]
    pub region: Option<String>,
    /// Field manager of the dry-run apply. Use the one that applies the Apps (Argo CD's
    /// `argocd-controller`, `kubectl`'s `kubectl`) for fields the file leaves out to count as
    /// removed; with another one they keep what the other manager set.
    #[arg(long, default_value = FIELD_MANAGER)]
    pub field_manager: String,
    /// The operator's defaults, for Apps that leave fields to them (same flags and environment
    /// variables as `cygni run`). Unset ones are shown as `(operator default)`.
    #[command(flatten)]
    pub defaults: OperatorDefaults,
}

/// The region of an App that has no status yet and leaves its listener to the operator.
const UNKNOWN_REGION: &str = "(operator's region)";

/// Shown for a value the operator fills in from a default this command was not given.
const OPERATOR_DEFAULT: &str = "(operator default)";

impl DiffArgs {
    /// Prints the differences of every App in the file; `Differs` when any App would change.
    pub async fn run(&self, out: &mut impl std::io::Write) -> anyhow::Result<Outcome> {
        let text = read(&self.file)?;
        let documents = documents(&text)?;
        let target = Target {
            app: String::new(),
            namespace: self.namespace.clone(),
            kubeconfig: self.kubeconfig.clone(),
            context: self.context.clone(),
        };
        let session = Session::connect(&target).await?;
        let mut outcome = Outcome::Same;
        let mut apps = 0;
        for document in documents {
            let kind = document["kind"].as_str().unwrap_or_default().to_string();
            let name = document["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            if kind != "App" || document["apiVersion"] != "cygni.io/v1alpha1" {
                eprintln!(
                    "note: {} {name} is not an App (cygni.io/v1alpha1): not compared",
                    if kind.is_empty() { "a document" } else { &kind }
                );
                continue;
            }
            if name.is_empty() {
                bail!("an App in {} has no metadata.name", self.file.display());
            }
            let namespace = document["metadata"]["namespace"]
                .as_str()
                .map_or(session.namespace.clone(), str::to_string);
            let app = self
                .diff_one(&session.client, &namespace, &name, &document)
                .await?;
            write!(out, "{}", render(&app))?;
            if app.differs() {
                outcome = Outcome::Differs;
            }
            apps += 1;
        }
        if apps == 0 {
            bail!("{} has no App to compare", self.file.display());
        }
        Ok(outcome)
    }

    async fn diff_one(
        &self,
        client: &Client,
        namespace: &str,
        name: &str,
        document: &serde_json::Value,
    ) -> anyhow::Result<AppDiff> {
        let apps: Api<App> = Api::namespaced(client.clone(), namespace);
        let live = apps
            .get_opt(name)
            .await
            .map_err(|e| anyhow::anyhow!("cannot read App {namespace}/{name}: {}", describe(&e)))?;
        // The API server's own checks (schema, CEL rules) and defaults, as `kubectl diff` gets
        // them: a server-side apply that stores nothing.
        let mut params = PatchParams::apply(&self.field_manager).force();
        params.dry_run = true;
        let mut document = document.clone();
        document["metadata"]["namespace"] = serde_json::Value::String(namespace.to_string());
        let new = apps
            .patch(name, &params, &Patch::Apply(&document))
            .await
            .map_err(|e| match &e {
                kube::Error::Api(status) if status.code == 422 => {
                    // The server's message starts `App.cygni.io "web" is invalid: `.
                    let message = status.message.trim_end_matches('.');
                    let causes = message
                        .split_once(" is invalid: ")
                        .map_or(message, |(_, causes)| causes);
                    anyhow::anyhow!("App {namespace}/{name} is invalid: {causes}")
                }
                _ => anyhow::anyhow!("cannot dry-run App {namespace}/{name}: {}", describe(&e)),
            })?;
        let defaults = self.defaults.or(&placeholders());
        let policy = Policy::default();
        let valid_new = validate::app(&new.spec, &defaults, &policy)
            .map_err(|problems| invalid(namespace, name, &problems))?;
        let live_valid = match &live {
            Some(l) => match validate::app(&l.spec, &defaults, &policy) {
                Ok(valid) => Some(valid),
                Err(problems) => {
                    // The operator converges nothing for an invalid spec, so there is no
                    // converged state to compare with.
                    eprintln!(
                        "note: the live App {namespace}/{name} is invalid ({}): everything is shown as created",
                        validate::describe(&problems)
                    );
                    None
                }
            },
            None => None,
        };
        let domains: Api<Domain> = Api::namespaced(client.clone(), namespace);
        let domains = domains
            .list(&ListParams::default())
            .await
            .map_err(|e| anyhow::anyhow!("cannot list Domains in {namespace}: {}", describe(&e)))?
            .items;
        let domain_hosts = crate::controller::app::routable_hostnames(name, &domains);
        let pointing: Vec<PointingDomain> = domains
            .iter()
            .filter(|d| d.spec.app_ref.name == name && d.metadata.deletion_timestamp.is_none())
            .map(|d| PointingDomain {
                name: d.name_any(),
                hostnames: std::iter::once(d.spec.hostname.clone())
                    .chain(d.spec.aliases.iter().cloned())
                    .collect(),
            })
            .collect();
        let status = live.as_ref().and_then(|l| l.status.clone());
        let region = self.region(status.as_ref(), &valid_new);
        let identity = AppIdentity {
            namespace: namespace.to_string(),
            name: name.to_string(),
            uid: live.as_ref().and_then(|l| l.uid()).unwrap_or_default(),
        };
        let live_side = match (&live, &live_valid) {
            (Some(l), Some(valid)) => Some((l.spec.clone(), valid.clone())),
            _ => None,
        };
        Ok(diff::diff(&diff::Inputs {
            identity: &identity,
            region: &region,
            live: live_side.as_ref().map(|(spec, valid)| Side { spec, valid }),
            status: status.as_ref(),
            new: Side {
                spec: &new.spec,
                valid: &valid_new,
            },
            domains: &pointing,
            domain_hosts: &domain_hosts,
        }))
    }

    /// The flag, else the region of the App's resources, else of its listener.
    fn region(&self, status: Option<&crate::api::AppStatus>, valid: &ValidatedApp) -> String {
        if let Some(region) = &self.region {
            return region.clone();
        }
        let from_status = status.and_then(|s| {
            s.slots
                .iter()
                .filter_map(|slot| slot.service_arn.as_deref())
                .chain(s.listener_rule_arn.as_deref())
                .find_map(cost::region_of_arn)
                .map(str::to_string)
        });
        from_status
            .or_else(|| cost::region_of_arn(&valid.listener_arn).map(str::to_string))
            .unwrap_or_else(|| UNKNOWN_REGION.to_string())
    }
}

/// Defaults that stand for the operator's, which this command does not know.
fn placeholders() -> OperatorDefaults {
    OperatorDefaults {
        ecs_cluster: Some(OPERATOR_DEFAULT.to_string()),
        subnets: vec![OPERATOR_DEFAULT.to_string()],
        security_groups: vec![OPERATOR_DEFAULT.to_string()],
        listener_arn: Some(OPERATOR_DEFAULT.to_string()),
        preview_listener_arn: Some("(operator default, if it has one)".to_string()),
        execution_role_arn: Some(OPERATOR_DEFAULT.to_string()),
    }
}

fn invalid(namespace: &str, name: &str, problems: &[InvalidSpec]) -> anyhow::Error {
    let mut text = format!("App {namespace}/{name} is invalid:");
    for problem in problems {
        let _ = write!(text, "\n  {}: {}", problem.field, problem.message);
    }
    anyhow::anyhow!(text)
}

fn describe(error: &kube::Error) -> String {
    crate::controller::describe_kube(error)
}

fn read(file: &PathBuf) -> anyhow::Result<String> {
    if file.as_os_str() == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("cannot read standard input")?;
        return Ok(text);
    }
    if file.is_dir() {
        // Like `kubectl diff -f <folder>`: its YAML and JSON files, not its subfolders.
        let mut paths: Vec<PathBuf> = std::fs::read_dir(file)
            .with_context(|| format!("cannot read {}", file.display()))?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|p| {
                p.is_file()
                    && p.extension()
                        .is_some_and(|e| e == "yaml" || e == "yml" || e == "json")
            })
            .collect();
        paths.sort();
        let mut text = String::new();
        for path in paths {
            let one = std::fs::read_to_string(&path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            text.push_str("\n---\n");
            text.push_str(&one);
        }
        return Ok(text);
    }
    std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))
}

/// The YAML documents of a file, as JSON; empty documents are left out.
pub fn documents(text: &str) -> anyhow::Result<Vec<serde_json::Value>> {
    use serde::Deserialize;
    let mut out = Vec::new();
    for (i, document) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
        let value = serde_json::Value::deserialize(document)
            .with_context(|| format!("document {} is not valid YAML", i + 1))?;
        if !value.is_null() {
            out.push(value);
        }
    }
    Ok(out)
}

/// What `cygni diff` prints for one App.
pub fn render(d: &AppDiff) -> String {
    let mut out = String::new();
    let headline = if d.created {
        "not in the cluster: everything is created"
    } else if d.differs() {
        "changes"
    } else {
        "no changes"
    };
    let _ = writeln!(out, "App {}: {headline}", d.app);
    if let Some(revision) = &d.revision {
        let what = if d.created {
            "its task definition is registered"
        } else {
            "a new task definition revision is registered"
        };
        let _ = writeln!(out, "  revision {}: {what}", revision.number);
        let _ = writeln!(out, "    rollout: {}", revision.rollout);
        for step in &revision.steps {
            let _ = writeln!(out, "      {step}");
        }
    }
    for resource in &d.resources {
        if !d.created && !resource.differs() {
            continue;
        }
        let _ = writeln!(out, "  {}", resource.title);
        for field in resource.fields.iter().filter(|f| d.created || f.differs()) {
            let line = match &field.change {
                FieldChange::Added(v) => format!("+ {}: {v}", field.name),
                FieldChange::Removed(v) => format!("- {}: {v}", field.name),
                FieldChange::Changed { from, to } => {
                    format!("~ {}: {from} -> {to}", field.name)
                }
                FieldChange::Same(v) => format!("  {}: {v}", field.name),
            };
            let _ = writeln!(out, "    {line}");
        }
    }
    out.push_str(&render_cost(&d.cost));
    out
}

fn render_cost(c: &diff::CostChange) -> String {
    let mut out = String::new();
    let rates = match &c.rates {
        Ok(rates) => rates,
        Err(no_price) => {
            let sizes = |(tasks, size): (i32, TaskSize)| format!("{tasks} × {size}");
            let steady = match c.before {
                Some(before) if before != c.after => {
                    format!("{} -> {}", sizes(before), sizes(c.after))
                }
                _ => sizes(c.after),
            };
            let why = if c.region == UNKNOWN_REGION {
                "the App's region is not known before it runs: pass --region to price it"
                    .to_string()
            } else {
                no_price.to_string()
            };
            let _ = writeln!(out, "  cost: {why} (steady: {steady})");
            return out;
        }
    };
    let _ = writeln!(
        out,
        "  cost (Fargate Linux on-demand, {}, {}, prices of {}, {} hours a month)",
        c.region,
        c.architecture,
        c.date,
        cost::HOURS_PER_MONTH
    );
    let after = monthly(rates, c.after);
    match c.before {
        Some(before_tasks) if before_tasks == c.after => {
            let _ = writeln!(out, "    steady: {} (unchanged)", priced(rates, c.after));
        }
        Some(before_tasks) => {
            let before = monthly(rates, before_tasks);
            let delta = after - before;
            let sign = if delta >= 0.0 { "+" } else { "-" };
            let _ = writeln!(
                out,
                "    steady: {} -> {} ({sign}{}/month)",
                priced(rates, before_tasks),
                priced(rates, c.after),
                dollars(delta.abs())
            );
        }
        None => {
            let _ = writeln!(out, "    steady: {}", priced(rates, c.after));
        }
    }
    if let Some(peak) = &c.peak {
        let parts: Vec<String> = [peak.old, peak.new]
            .iter()
            .filter(|(tasks, _)| *tasks > 0)
            .map(|(tasks, size)| format!("{tasks} × {size}"))
            .collect();
        let total = monthly(rates, peak.old) + monthly(rates, peak.new);
        let _ = writeln!(
            out,
            "    rollout peak ({}): {} = {}/month while it lasts",
            peak.when,
            parts.join(" + "),
            dollars(total)
        );
    }
    out
}

fn monthly(rates: &Rates, (tasks, size): (i32, TaskSize)) -> f64 {
    rates.monthly(tasks, &size)
}

fn priced(rates: &Rates, (tasks, size): (i32, TaskSize)) -> String {
    format!(
        "{tasks} × {size} = {}/month",
        dollars(rates.monthly(tasks, &size))
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cost::peak::Peak;
    use crate::plan::diff::{CostChange, Field, NewRevision, Resource};

    fn cost(before: Option<(i32, TaskSize)>, after: (i32, TaskSize)) -> CostChange {
        CostChange {
            region: "us-east-1".to_string(),
            architecture: cost::Architecture::X86_64,
            rates: cost::table().rates("us-east-1", cost::Architecture::X86_64),
            date: cost::table().date.clone(),
            before,
            after,
            peak: None,
        }
    }

    #[test]
    fn documents_skip_empty_ones_and_keep_order() {
        let docs = documents("---\nkind: App\n---\n\n---\nkind: Domain\n").unwrap();
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[1]["kind"], "Domain");
    }

    #[test]
    fn cost_shows_before_after_and_the_difference() {
        let small = TaskSize::new(256, 512);
        let text = render_cost(&cost(Some((2, small)), (4, small)));
        // 2 x 9.010025 = 18.02; 4 x = 36.04.
        assert!(
            text.contains(
                "steady: 2 × 0.25 vCPU/0.5 GB = $18.02/month -> 4 × 0.25 vCPU/0.5 GB = $36.04/month (+$18.02/month)"
            ),
            "{text}"
        );
        assert!(text.contains(&format!(
            "prices of {}, 730 hours a month",
            cost::table().date
        )));
    }

    #[test]
    fn peak_is_shown_apart_from_the_steady_cost() {
        let small = TaskSize::new(256, 512);
        let mut c = cost(Some((2, small)), (2, small));
        c.peak = Some(Peak {
            old: (2, small),
            new: (2, small),
            when: "from step 3/4 setWeight 100".to_string(),
        });
        let text = render_cost(&c);
        assert!(text.contains("steady: 2 × 0.25 vCPU/0.5 GB = $18.02/month (unchanged)"));
        assert!(text.contains(
            "rollout peak (from step 3/4 setWeight 100): 2 × 0.25 vCPU/0.5 GB + 2 × 0.25 vCPU/0.5 GB = $36.04/month while it lasts"
        ));
    }

    #[test]
    fn region_without_prices_is_one_line_with_the_table_date() {
        let mut c = cost(None, (2, TaskSize::new(256, 512)));
        c.rates = cost::table().rates("mx-central-1", cost::Architecture::X86_64);
        assert_eq!(
            render_cost(&c),
            format!(
                "  cost: no price for region mx-central-1 (x86_64) in the table dated {} (steady: 2 × 0.25 vCPU/0.5 GB)\n",
                cost::table().date
            )
        );
    }

    #[test]
    fn unchanged_resources_are_left_out_of_a_changed_app() {
        let small = TaskSize::new(256, 512);
        let d = AppDiff {
            app: "shop/web".to_string(),
            created: false,
            resources: vec![Resource {
                title: "listener rule".to_string(),
                fields: vec![Field {
                    name: "paths".to_string(),
                    change: FieldChange::Same(crate::plan::diff::Value::shown("/*")),
                }],
            }],
            revision: Some(NewRevision {
                number: 2,
                rollout: "rolling: in place".to_string(),
                steps: Vec::new(),
            }),
            cost: cost(Some((2, small)), (2, small)),
        };
        let text = render(&d);
        assert!(text.starts_with("App shop/web: changes\n  revision 2: a new task definition"));
        assert!(!text.contains("listener rule"), "{text}");
    }
}
