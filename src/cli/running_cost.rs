//! The running cost line of `cygni status`: the tasks the App's status says run in each slot,
//! each at the size of the revision the slot runs, priced from the shipped table in the region of
//! the App's ECS services. Pure.

use crate::api::{App, Deployment};
use crate::cost::{self, TaskSize, dollars};
use crate::plan::diff::ARCHITECTURE;
use std::collections::BTreeMap;

/// `cost: 2 tasks × 0.25 vCPU/0.5 GB = $18.02/month (us-east-1, x86_64, prices of ...)`, or
/// `None` before the App reported any slot.
pub fn line(app: &App, deployments: &[Deployment]) -> Option<String> {
    let status = app.status.as_ref()?;
    if status.slots.is_empty() {
        return None;
    }
    let mut tasks: BTreeMap<TaskSize, i32> = BTreeMap::new();
    for slot in status.slots.iter().filter(|s| s.running > 0) {
        let container = slot
            .revision
            .and_then(|r| deployments.iter().find(|d| d.spec.revision == r))
            .map_or(&app.spec.container, |d| &d.spec.template.container);
        *tasks
            .entry(TaskSize::new(container.cpu, container.memory))
            .or_default() += slot.running;
    }
    if tasks.is_empty() {
        return Some("cost: no tasks running".to_string());
    }
    let what = tasks
        .iter()
        .map(|(size, n)| format!("{n} {} × {size}", if *n == 1 { "task" } else { "tasks" }))
        .collect::<Vec<_>>()
        .join(" + ");
    let region = status
        .slots
        .iter()
        .filter_map(|s| s.service_arn.as_deref())
        .find_map(cost::region_of_arn);
    let Some(region) = region else {
        return Some(format!("cost: {what} (region not reported yet)"));
    };
    let table = cost::table();
    Some(match table.rates(region, ARCHITECTURE) {
        Ok(rates) => {
            let monthly: f64 = tasks.iter().map(|(size, n)| rates.monthly(*n, size)).sum();
            format!(
                "cost: {what} = {}/month ({region}, {ARCHITECTURE}, prices of {})",
                dollars(monthly),
                table.date
            )
        }
        Err(no_price) => format!("cost: {what}: {no_price}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(region: &str, running: &[(&str, i64, i32)]) -> App {
        let slots: Vec<serde_json::Value> = running
            .iter()
            .map(|(name, revision, n)| {
                serde_json::json!({
                    "name": name, "revision": revision, "running": n, "desired": n,
                    "serviceArn": format!("arn:aws:ecs:{region}:123456789012:service/prod/web-{name}")
                })
            })
            .collect();
        serde_json::from_value(serde_json::json!({
            "apiVersion": "cygni.io/v1alpha1", "kind": "App",
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": {"container": {"image": "web:2", "cpu": 512, "memory": 1024}},
            "status": {"slots": slots}
        }))
        .expect("app")
    }

    fn deployment(revision: i64, cpu: i32, memory: i32) -> Deployment {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "cygni.io/v1alpha1", "kind": "Deployment",
            "metadata": {"name": format!("web-{revision}"), "namespace": "shop"},
            "spec": {
                "app": "web", "revision": revision, "templateHash": "h",
                "template": {
                    "container": {"image": "web:1", "cpu": cpu, "memory": memory},
                    "healthCheck": {}, "network": {}, "iam": {}, "logs": {}
                },
                "strategy": {"rolling": {}}
            }
        }))
        .expect("deployment")
    }

    #[test]
    fn running_tasks_are_priced_at_their_revisions_size() {
        let app = app("us-east-1", &[("a", 1, 2), ("b", 2, 1)]);
        let text = line(&app, &[deployment(1, 256, 512), deployment(2, 512, 1024)]).unwrap();
        // 2 x 9.010025 + 1 x 18.02005 = 36.0401.
        assert_eq!(
            text,
            format!(
                "cost: 2 tasks × 0.25 vCPU/0.5 GB + 1 task × 0.5 vCPU/1 GB = $36.04/month (us-east-1, x86_64, prices of {})",
                cost::table().date
            )
        );
    }

    #[test]
    fn region_without_prices_still_counts_the_tasks() {
        let app = app("mx-central-1", &[("a", 1, 4)]);
        let text = line(&app, &[deployment(1, 256, 512)]).unwrap();
        assert_eq!(
            text,
            format!(
                "cost: 4 tasks × 0.25 vCPU/0.5 GB: no price for region mx-central-1 (x86_64) in the table dated {}",
                cost::table().date
            )
        );
    }

    #[test]
    fn an_app_without_slots_reports_no_cost_yet() {
        let app = app("us-east-1", &[]);
        assert_eq!(line(&app, &[]), None);
    }
}
