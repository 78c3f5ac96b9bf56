//! The Argo CD resource customizations in `argocd/`: the health scripts of App, Deployment and
//! Domain and the rollout actions of Deployment, run on objects built from the real API types and
//! serialized as Argo CD hands them to Lua; and the ready-to-merge snippets, which must embed
//! exactly those Lua files.
//!
//! The Lua environment stands in for Argo CD's (gopher-lua, Lua 5.1): the scripts get the object
//! as the global `obj` and run with the base and table libraries only. Argo CD also opens
//! `package` and its own restricted `os`; the scripts use neither, and no `string` or `math`
//! library is open, as in Argo CD, so a script that reaches for one fails here too. JSON null
//! becomes nil, as in Argo CD. An action's result is applied the way Argo CD applies it: the JSON
//! merge patch from the live object to the returned one. Empty arrays keep an array metatable on
//! the way in so they come back as arrays, which Argo CD gets by comparing the returned object
//! with the live one.
//!
//! Regenerate the snippets after editing a Lua file:
//! `CYGNI_WRITE_ARGOCD=1 cargo nextest run --test argocd`.

use cygni::api::conditions::{self, ConditionUpdate, Status, reason};
use cygni::api::deployment::{AnalysisPhase, DeploymentPhase, MetricResult};
use cygni::api::domain::{CertificateStatus, DomainStatus};
use cygni::api::{App, AppStatus, Deployment, DeploymentSpec, DeploymentStatus, Domain};
use cygni::cli::controls;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use mlua::serde::SerializeOptions;
use mlua::{Lua, LuaOptions, LuaSerdeExt, StdLib};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const REGENERATE: &str = "regenerate with `CYGNI_WRITE_ARGOCD=1 cargo nextest run --test argocd`";

/// The actions, in the order the snippet defines them.
const ACTIONS: [&str; 6] = [
    "promote",
    "promote-full",
    "abort",
    "retry",
    "pause",
    "resume",
];

/// The health statuses Argo CD accepts from a script.
const HEALTH: [&str; 6] = [
    "Healthy",
    "Progressing",
    "Degraded",
    "Suspended",
    "Missing",
    "Unknown",
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

fn script(path: &str) -> String {
    let file = root().join("argocd").join(path);
    std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()))
}

fn at(seconds: i64) -> jiff::Timestamp {
    jiff::Timestamp::from_second(1_780_000_000 + seconds).expect("valid timestamp")
}

// ---------------------------------------------------------------------------------------------
// The Lua side: Argo CD's environment and how it runs each kind of script.

/// A Lua state shaped like Argo CD's, with `object` as `obj`.
fn argo_cd_lua(object: &Value) -> Lua {
    let lua = Lua::new_with(StdLib::TABLE, LuaOptions::default()).expect("Lua 5.1 starts");
    let options = SerializeOptions::new()
        .serialize_none_to_null(false)
        .serialize_unit_to_null(false);
    let obj = lua.to_value_with(object, options).expect("object converts");
    lua.globals().set("obj", obj).expect("obj is set");
    lua
}

fn json<T: serde::Serialize>(object: &T) -> Value {
    serde_json::to_value(object).expect("serializes")
}

/// What a health script says of `object`: its status and message.
fn health<T: serde::Serialize>(kind: &str, object: &T) -> (String, String) {
    let path = format!("health/{kind}.lua");
    let lua = argo_cd_lua(&json(object));
    let hs: mlua::Table = lua
        .load(script(&path))
        .set_name(&path)
        .eval()
        .unwrap_or_else(|e| panic!("{path}: {e}"));
    let status: String = hs.get("status").expect("hs.status is a string");
    let message: Option<String> = hs.get("message").expect("hs.message is a string or nil");
    assert!(
        HEALTH.contains(&status.as_str()),
        "{path} returned {status}"
    );
    (status, message.unwrap_or_default())
}

/// Which actions discovery offers (true) or shows disabled (false).
fn discovery(d: &Deployment) -> BTreeMap<String, bool> {
    let path = "actions/Deployment/discovery.lua";
    let lua = argo_cd_lua(&json(d));
    let actions: mlua::Table = lua
        .load(script(path))
        .set_name(path)
        .eval()
        .unwrap_or_else(|e| panic!("{path}: {e}"));
    actions
        .pairs::<String, mlua::Table>()
        .map(|pair| {
            let (name, action) = pair.expect("name = {disabled = ...}");
            let disabled: Option<bool> = action.get("disabled").expect("disabled is a bool");
            (name, !disabled.unwrap_or(false))
        })
        .collect()
}

/// The Deployment after Argo CD runs `action` on it: the merge patch from the live object to the
/// script's result, applied to the live object. An `error(...)` in the script is an `Err`.
fn run_action(d: &Deployment, action: &str) -> Result<Value, String> {
    let path = format!("actions/Deployment/{action}.lua");
    let live = json(d);
    let lua = argo_cd_lua(&live);
    let returned: mlua::Value = lua
        .load(script(&path))
        .set_name(&path)
        .eval()
        .map_err(|e| e.to_string())?;
    let returned: Value = lua
        .from_value(returned)
        .expect("the result converts to JSON");
    let patch = cygni::controller::report::merge_patch(&numbers(&live), &numbers(&returned));
    let mut after = numbers(&live);
    json_patch::merge(&mut after, &patch);
    Ok(after)
}

/// The Deployment after the CLI's patch of its spec.
fn patched(d: &Deployment, spec: &Value) -> Value {
    let mut after = numbers(&json(d));
    json_patch::merge(&mut after, &numbers(&serde_json::json!({ "spec": spec })));
    after
}

/// Every number as a float: Lua 5.1 has only one number type.
fn numbers(value: &Value) -> Value {
    match value {
        Value::Number(n) => serde_json::json!(n.as_f64().expect("finite")),
        Value::Array(items) => Value::Array(items.iter().map(numbers).collect()),
        Value::Object(map) => {
            Value::Object(map.iter().map(|(k, v)| (k.clone(), numbers(v))).collect())
        }
        other => other.clone(),
    }
}

// ---------------------------------------------------------------------------------------------
// Fixtures from the real types, shaped like the operator writes them.

fn example_app(file: &str) -> App {
    let text = std::fs::read_to_string(root().join("examples").join(file)).expect("example");
    serde_yaml_ng::from_str(&text).expect("example App parses")
}

fn set(
    list: &mut Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition>,
    type_: &str,
    status: Status,
    reason: &str,
    message: &str,
    generation: i64,
) {
    conditions::set(
        list,
        ConditionUpdate {
            type_,
            status,
            reason,
            message: message.to_string(),
        },
        Some(generation),
        at(0),
    );
}

/// Revision 3 of an example App, at generation 2 and observed, with its phase's Ready condition
/// as the Deployment controller reports it.
fn deployment(example: &str, phase: DeploymentPhase, message: &str) -> Deployment {
    let app = example_app(example);
    let name = app.metadata.name.clone().expect("named");
    let mut d = Deployment::new(
        &format!("{name}-3"),
        DeploymentSpec {
            app: name,
            revision: 3,
            template_hash: "5d8f7c9b".to_string(),
            template: app.spec.template(),
            strategy: app.spec.strategy.clone(),
            analysis: app.spec.analysis.clone(),
            rollback_of: None,
            paused: false,
            abort: false,
            promote_full: false,
            promote_step: None,
            retry_attempt: 0,
        },
    );
    d.metadata.namespace = Some("shop".to_string());
    d.metadata.generation = Some(2);
    d.metadata.uid = Some("9a1c2d3e-0000-4000-8000-000000000003".to_string());
    let mut status = DeploymentStatus {
        observed_generation: Some(2),
        phase,
        message: Some(message.to_string()),
        started_at: Some(Time(at(0))),
        ..DeploymentStatus::default()
    };
    let (ready, why) = match phase {
        DeploymentPhase::Succeeded => (Status::True, "Succeeded"),
        DeploymentPhase::Failed => (Status::False, "Failed"),
        DeploymentPhase::Superseded => (Status::False, "Superseded"),
        DeploymentPhase::Aborted => (Status::False, "Aborted"),
        DeploymentPhase::Paused => (Status::Unknown, "Paused"),
        DeploymentPhase::Pending => (Status::Unknown, "Pending"),
        DeploymentPhase::Progressing => (Status::Unknown, "Progressing"),
    };
    set(&mut status.conditions, "Ready", ready, why, message, 2);
    if phase.is_terminal() {
        status.finished_at = Some(Time(at(600)));
    }
    d.status = Some(status);
    d
}

/// A canary of `examples/app-canary.yaml` at step `index` (of: setWeight 10, analysis,
/// setWeight 50, pause 5m, analysis, then setWeight 100 and the scale-down delay).
fn canary_at(phase: DeploymentPhase, index: i32, message: &str) -> Deployment {
    at_step(
        deployment("app-canary.yaml", phase, message),
        index,
        CANARY_STEPS,
    )
}

const CANARY_STEPS: &[&str] = &[
    "setWeight 10",
    "analysis error-rate, latency",
    "setWeight 50",
    "pause 5m",
    "analysis error-rate, latency",
    "setWeight 100",
    "scale-down delay 1m",
];

/// A blue-green of `examples/app-blue-green.yaml` at step `index` (of: preview, pre-promotion
/// analysis, promotion, switch, scale-down delay).
fn blue_green_at(phase: DeploymentPhase, index: i32, message: &str) -> Deployment {
    at_step(
        deployment("app-blue-green.yaml", phase, message),
        index,
        BLUE_GREEN_STEPS,
    )
}

const BLUE_GREEN_STEPS: &[&str] = &[
    "preview",
    "pre-promotion analysis smoke-test",
    "promotion (manual)",
    "switch",
    "scale-down delay 5m",
];

fn at_step(mut d: Deployment, index: i32, labels: &[&str]) -> Deployment {
    let status = d.status.as_mut().expect("status");
    status.current_step_index = Some(index);
    status.current_step = Some(format!(
        "{}/{} {}",
        index + 1,
        labels.len(),
        labels[usize::try_from(index).expect("index")]
    ));
    status.step_started_at = Some(Time(at(60)));
    d
}

fn rolling(phase: DeploymentPhase, message: &str) -> Deployment {
    deployment("app-rolling.yaml", phase, message)
}

/// A user's change to the spec the operator has not observed yet.
fn unobserved(mut d: Deployment) -> Deployment {
    d.metadata.generation = Some(3);
    d
}

/// The canary App with the status the App controller reports.
fn app(observed: Option<i64>) -> App {
    let mut app = example_app("app-canary.yaml");
    app.metadata.namespace = Some("shop".to_string());
    app.metadata.generation = Some(4);
    app.metadata.uid = Some("9a1c2d3e-0000-4000-8000-000000000000".to_string());
    app.status = Some(AppStatus {
        observed_generation: observed,
        current_revision: Some(3),
        stable_revision: Some(2),
        template_hash: Some("5d8f7c9b".to_string()),
        urls: vec!["https://shop.internal.example.com/".to_string()],
        ..AppStatus::default()
    });
    app
}

/// The App's three conditions: Ready, Progressing, Degraded.
fn app_with(
    ready: (Status, &str, &str),
    progressing: (Status, &str),
    degraded: (Status, &str, &str),
) -> App {
    let mut app = app(Some(4));
    let status = app.status.as_mut().expect("status");
    let list = &mut status.conditions;
    set(list, conditions::READY, ready.0, ready.1, ready.2, 4);
    set(
        list,
        conditions::PROGRESSING,
        progressing.0,
        progressing.1,
        ready.2,
        4,
    );
    set(
        list,
        conditions::DEGRADED,
        degraded.0,
        degraded.1,
        degraded.2,
        4,
    );
    app
}

const NO_FAILURE: (Status, &str, &str) = (Status::False, reason::AS_EXPECTED, "no failure");

fn domain(ready: Option<(Status, &str, &str)>) -> Domain {
    let text = std::fs::read_to_string(root().join("examples/domain.yaml")).expect("example");
    let mut domain: Domain = serde_yaml_ng::from_str(&text).expect("example Domain parses");
    domain.metadata.namespace = Some("shop".to_string());
    domain.metadata.generation = Some(1);
    if let Some((status, why, message)) = ready {
        let mut s = DomainStatus {
            observed_generation: Some(1),
            hosted_zone_id: Some("Z0123456789ABCDEFGHIJ".to_string()),
            hosted_zone_name: Some("example.com".to_string()),
            ..DomainStatus::default()
        };
        let working = matches!(
            why,
            reason::CLAIMING
                | reason::CERTIFICATE_PENDING
                | reason::RECORDS_PENDING
                | reason::PROPAGATING
        );
        set(&mut s.conditions, "Ready", status, why, message, 1);
        set(
            &mut s.conditions,
            "Progressing",
            if working { Status::True } else { Status::False },
            if working { why } else { reason::IDLE },
            message,
            1,
        );
        domain.status = Some(s);
    }
    domain
}

// ---------------------------------------------------------------------------------------------
// App health.

#[test]
fn app_without_a_status_is_progressing() {
    let mut app = app(None);
    app.status = None;
    assert_eq!(
        health("App", &app),
        (
            "Progressing".into(),
            "waiting for the operator to report on the App".into()
        )
    );
}

#[test]
fn app_whose_new_generation_is_not_observed_yet_is_progressing() {
    let mut app = app_with(
        (
            Status::True,
            reason::AVAILABLE,
            "revision 3 serves 100% with 4 tasks",
        ),
        (Status::False, reason::IDLE),
        NO_FAILURE,
    );
    app.status.as_mut().expect("status").observed_generation = Some(3);
    assert_eq!(
        health("App", &app),
        (
            "Progressing".into(),
            "waiting for the operator to observe generation 4 (the status describes generation 3)"
                .into()
        )
    );
}

#[test]
fn app_converging_a_new_revision_is_progressing() {
    let app = app_with(
        (
            Status::False,
            reason::PROGRESSING,
            "rolling out revision 3: 3/7 setWeight 50: 2 of 2 tasks healthy",
        ),
        (Status::True, reason::ROLLING_OUT),
        NO_FAILURE,
    );
    assert_eq!(
        health("App", &app),
        (
            "Progressing".into(),
            "rolling out revision 3: 3/7 setWeight 50: 2 of 2 tasks healthy".into()
        )
    );
}

#[test]
fn app_serving_its_revision_with_all_traffic_is_healthy() {
    let app = app_with(
        (
            Status::True,
            reason::AVAILABLE,
            "revision 3 serves 100% with 4 tasks",
        ),
        (Status::False, reason::IDLE),
        NO_FAILURE,
    );
    assert_eq!(
        health("App", &app),
        (
            "Healthy".into(),
            "revision 3 serves 100% with 4 tasks".into()
        )
    );
}

#[test]
fn app_whose_rollout_failed_is_degraded_while_the_stable_revision_serves() {
    let message = "revision 3 failed (tasks failed to start: CannotPullContainerError); revision 2 keeps serving";
    let app = app_with(
        (Status::False, reason::ROLLOUT_FAILED, message),
        (Status::False, reason::IDLE),
        (Status::True, reason::ROLLOUT_FAILED, message),
    );
    assert_eq!(health("App", &app), ("Degraded".into(), message.into()));
}

#[test]
fn app_whose_analysis_failed_is_degraded() {
    let message = "revision 3 failed (analysis failed: error-rate measured 0.042, above 0.01); revision 2 keeps serving";
    let app = app_with(
        (Status::False, reason::ANALYSIS_FAILED, message),
        (Status::False, reason::IDLE),
        (Status::True, reason::ANALYSIS_FAILED, message),
    );
    assert_eq!(health("App", &app), ("Degraded".into(), message.into()));
}

#[test]
fn app_whose_rollout_was_aborted_is_degraded() {
    let message = "revision 3 was aborted; revision 2 serves all traffic";
    let app = app_with(
        (Status::False, "RolloutAborted", message),
        (Status::False, reason::IDLE),
        (Status::True, "RolloutAborted", message),
    );
    assert_eq!(health("App", &app), ("Degraded".into(), message.into()));
}

#[test]
fn app_whose_new_revision_crashes_during_its_rollout_is_degraded() {
    let crash = "the tasks of revision 3 in slot b fail (Essential container in task exited); revision 2 keeps serving";
    let app = app_with(
        (
            Status::False,
            reason::PROGRESSING,
            "rolling out revision 3: 1/7 setWeight 10: 0 of 1 tasks healthy",
        ),
        (Status::True, reason::ROLLING_OUT),
        (Status::True, "NewRevisionFailing", crash),
    );
    assert_eq!(health("App", &app), ("Degraded".into(), crash.into()));
}

#[test]
fn app_whose_rollout_is_paused_is_suspended() {
    let message = "revision 3 is paused (paused at 4/7 pause 5m: paused until 2026-05-28T20:31:40Z); revision 2 keeps serving";
    let app = app_with(
        (Status::False, "Paused", message),
        (Status::Unknown, "Paused"),
        NO_FAILURE,
    );
    assert_eq!(health("App", &app), ("Suspended".into(), message.into()));
}

#[test]
fn app_with_an_invalid_spec_is_degraded() {
    let message = "spec.network.subnets: no subnets given and the operator has no default; set spec.network.subnets or the operator's --subnets";
    let app = app_with(
        (Status::False, reason::INVALID_SPEC, message),
        (Status::False, reason::IDLE),
        NO_FAILURE,
    );
    assert_eq!(health("App", &app), ("Degraded".into(), message.into()));
}

#[test]
fn app_the_operator_may_not_act_on_in_aws_is_degraded() {
    let message = "AWS denied ecs:CreateService to the operator (AccessDeniedException: not authorized); grant it to the operator's IAM role as docs/iam-policy.json does";
    let app = app_with(
        (Status::False, reason::ACCESS_DENIED, message),
        (Status::True, reason::ROLLING_OUT),
        NO_FAILURE,
    );
    assert_eq!(health("App", &app), ("Degraded".into(), message.into()));
}

#[test]
fn app_waiting_for_aws_to_settle_is_progressing() {
    let message = "ELBV2 DeleteTargetGroup is waiting for AWS to settle (ResourceInUse: in use); it is tried again";
    let app = app_with(
        (Status::False, reason::CONVERGING, message),
        (Status::True, reason::ROLLING_OUT),
        NO_FAILURE,
    );
    assert_eq!(health("App", &app), ("Progressing".into(), message.into()));
}

#[test]
fn app_accepted_but_not_yet_converged_is_progressing() {
    let mut app = app(Some(4));
    let status = app.status.as_mut().expect("status");
    set(
        &mut status.conditions,
        conditions::READY,
        Status::Unknown,
        reason::ACCEPTED,
        "the spec is valid; creating revision 1",
        4,
    );
    assert_eq!(
        health("App", &app),
        (
            "Progressing".into(),
            "the spec is valid; creating revision 1".into()
        )
    );
}

#[test]
fn app_being_deleted_is_progressing() {
    let mut app = app_with(
        (
            Status::False,
            reason::DELETING,
            "deleting: the listener rule, then the ECS services",
        ),
        (Status::False, reason::IDLE),
        NO_FAILURE,
    );
    app.metadata.deletion_timestamp = Some(Time(at(900)));
    assert_eq!(
        health("App", &app),
        (
            "Progressing".into(),
            "deleting: the listener rule, then the ECS services".into()
        )
    );
}

// ---------------------------------------------------------------------------------------------
// Deployment health: every phase, a spec change not yet observed, a refusal.

#[test]
fn pending_deployment_is_progressing() {
    let d = deployment(
        "app-canary.yaml",
        DeploymentPhase::Pending,
        "App shop does not exist",
    );
    assert_eq!(
        health("Deployment", &d),
        ("Progressing".into(), "App shop does not exist".into())
    );
}

#[test]
fn progressing_deployment_is_progressing_with_its_step() {
    let d = canary_at(
        DeploymentPhase::Progressing,
        2,
        "3/7 setWeight 50: 2 of 2 tasks healthy, waiting for 50% on the listener",
    );
    assert_eq!(
        health("Deployment", &d),
        (
            "Progressing".into(),
            "3/7 setWeight 50: 2 of 2 tasks healthy, waiting for 50% on the listener".into()
        )
    );
}

#[test]
fn paused_deployment_is_suspended() {
    let d = canary_at(
        DeploymentPhase::Paused,
        3,
        "paused at 4/7 pause 5m: paused until 2026-05-28T20:31:40Z",
    );
    assert_eq!(
        health("Deployment", &d),
        (
            "Suspended".into(),
            "paused at 4/7 pause 5m: paused until 2026-05-28T20:31:40Z".into()
        )
    );
}

#[test]
fn blue_green_deployment_waiting_for_promotion_is_suspended() {
    let d = blue_green_at(
        DeploymentPhase::Paused,
        2,
        "paused at 3/5 promotion (manual): waiting for promotion",
    );
    assert_eq!(health("Deployment", &d).0, "Suspended");
}

#[test]
fn succeeded_deployment_is_healthy() {
    let d = canary_at(
        DeploymentPhase::Succeeded,
        6,
        "revision 3 serves all traffic; the previous revision is scaled down",
    );
    assert_eq!(
        health("Deployment", &d),
        (
            "Healthy".into(),
            "revision 3 serves all traffic; the previous revision is scaled down".into()
        )
    );
}

#[test]
fn superseded_deployment_is_healthy() {
    let message = "revision 4 replaced revision 3 before it finished; traffic starts again from the stable revision";
    let d = canary_at(DeploymentPhase::Superseded, 2, message);
    assert_eq!(health("Deployment", &d), ("Healthy".into(), message.into()));
}

#[test]
fn failed_deployment_is_degraded() {
    let message =
        "analysis failed: error-rate measured 0.042, above 0.01; all traffic returns to revision 2";
    let mut d = canary_at(DeploymentPhase::Failed, 1, message);
    d.status
        .as_mut()
        .expect("status")
        .analysis
        .push(MetricResult {
            name: "error-rate".to_string(),
            step_index: Some(1),
            phase: AnalysisPhase::Failed,
            count: 2,
            failures: 2,
            last_value: Some(0.042),
            last_measured_at: Some(Time(at(180))),
            message: Some("0.042 is above 0.01".to_string()),
            started_at: Some(Time(at(60))),
            consecutive_errors: 0,
            measurements: Vec::new(),
        });
    assert_eq!(
        health("Deployment", &d),
        ("Degraded".into(), message.into())
    );
}

#[test]
fn aborted_deployment_is_degraded() {
    let message = "aborted by a user: all traffic returns to revision 2";
    let d = canary_at(DeploymentPhase::Aborted, 3, message);
    assert_eq!(
        health("Deployment", &d),
        ("Degraded".into(), message.into())
    );
}

#[test]
fn rolling_deployment_follows_its_phase() {
    let d = rolling(DeploymentPhase::Progressing, "ECS is replacing the tasks");
    assert_eq!(health("Deployment", &d).0, "Progressing");
    let d = rolling(
        DeploymentPhase::Succeeded,
        "revision 3 serves all traffic; the previous revision is scaled down",
    );
    assert_eq!(health("Deployment", &d).0, "Healthy");
}

#[test]
fn deployment_whose_spec_change_is_not_observed_yet_is_progressing() {
    let mut d = unobserved(canary_at(
        DeploymentPhase::Paused,
        3,
        "paused at 4/7 pause 5m",
    ));
    d.spec.abort = true;
    assert_eq!(
        health("Deployment", &d),
        (
            "Progressing".into(),
            "waiting for the operator to observe generation 3 (the status describes generation 2)"
                .into()
        )
    );
}

#[test]
fn deployment_without_a_status_is_progressing() {
    let mut d = canary_at(DeploymentPhase::Pending, 0, "");
    d.status = None;
    assert_eq!(
        health("Deployment", &d),
        (
            "Progressing".into(),
            "waiting for the operator to start the rollout".into()
        )
    );
}

#[test]
fn deployment_the_operator_refuses_is_degraded() {
    let message = "spec.strategy.canary.steps[3].pause.duration: 5x is not a duration; write it like 30s, 5m or 1h30m";
    let mut d = canary_at(DeploymentPhase::Progressing, 2, "3/7 setWeight 50");
    let status = d.status.as_mut().expect("status");
    set(
        &mut status.conditions,
        "Ready",
        Status::False,
        reason::INVALID_SPEC,
        message,
        2,
    );
    assert_eq!(
        health("Deployment", &d),
        ("Degraded".into(), message.into())
    );
}

// ---------------------------------------------------------------------------------------------
// Domain health.

#[test]
fn domain_without_a_status_is_progressing() {
    assert_eq!(
        health("Domain", &domain(None)),
        (
            "Progressing".into(),
            "waiting for the operator to report on the Domain".into()
        )
    );
}

#[test]
fn domain_whose_certificate_is_pending_is_progressing() {
    let message = "certificate arn:aws:acm:eu-west-1:123456789012:certificate/0b1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c4d is PENDING_VALIDATION: ACM issues it once its validation records resolve";
    let mut d = domain(Some((Status::False, reason::CERTIFICATE_PENDING, message)));
    d.status.as_mut().expect("status").certificate = Some(CertificateStatus {
        arn: "arn:aws:acm:eu-west-1:123456789012:certificate/0b1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c4d"
            .to_string(),
        status: "PENDING_VALIDATION".to_string(),
        managed: true,
        not_after: None,
        attached: false,
    });
    assert_eq!(health("Domain", &d), ("Progressing".into(), message.into()));
}

#[test]
fn domain_whose_records_propagate_is_progressing() {
    let message =
        "Route53 change C0123456789 is PENDING: the records are not yet on every Route53 server";
    let d = domain(Some((Status::False, reason::PROPAGATING, message)));
    assert_eq!(health("Domain", &d), ("Progressing".into(), message.into()));
}

#[test]
fn ready_domain_is_healthy() {
    let message = "shop.example.com, www.shop.example.com resolve to load balancer internal-shop-123.eu-west-1.elb.amazonaws.com with certificate arn:aws:acm:eu-west-1:123456789012:certificate/0b1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c4d (ISSUED) on listener arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/app/shop/50dc6c495c0c9188/f2f7dc8efc522ab2";
    let d = domain(Some((Status::True, reason::AVAILABLE, message)));
    assert_eq!(health("Domain", &d), ("Healthy".into(), message.into()));
}

#[test]
fn domain_in_conflict_is_degraded() {
    let message = "shop.example.com is owned by external-dns (owner default, TXT shop.example.com); nothing was written: remove the other claim or pick another hostname";
    let d = domain(Some((Status::False, reason::CONFLICT, message)));
    assert_eq!(health("Domain", &d), ("Degraded".into(), message.into()));
}

#[test]
fn invalid_domain_is_degraded() {
    let message = "spec.hostname: shop.example.org is in no allowed hosted zone; use one of example.com or add its zone to --allowed-hosted-zones";
    let d = domain(Some((Status::False, reason::INVALID_SPEC, message)));
    assert_eq!(health("Domain", &d), ("Degraded".into(), message.into()));
}

#[test]
fn domain_whose_app_is_missing_is_degraded() {
    let message = "App shop does not exist in this namespace; create it or fix spec.appRef.name";
    let d = domain(Some((Status::False, reason::APP_NOT_FOUND, message)));
    assert_eq!(health("Domain", &d), ("Degraded".into(), message.into()));
}

#[test]
fn domain_whose_new_generation_is_not_observed_yet_is_progressing() {
    let mut d = domain(Some((Status::True, reason::AVAILABLE, "ready")));
    d.metadata.generation = Some(2);
    assert_eq!(
        health("Domain", &d),
        (
            "Progressing".into(),
            "waiting for the operator to observe generation 2 (the status describes generation 1)"
                .into()
        )
    );
}

#[test]
fn domain_being_deleted_is_progressing() {
    let mut d = domain(Some((Status::True, reason::AVAILABLE, "ready")));
    d.metadata.deletion_timestamp = Some(Time(at(900)));
    assert_eq!(
        health("Domain", &d),
        ("Progressing".into(), "the Domain is being deleted".into())
    );
}

// ---------------------------------------------------------------------------------------------
// Actions: discovery offers exactly what the CLI would patch, and each action patches what the
// CLI patches.

/// Deployments in every phase, at every kind of step, with each of the user's intents.
fn rollouts() -> Vec<(&'static str, Deployment)> {
    use DeploymentPhase::*;
    let mut paused_by_user = canary_at(Paused, 2, "paused by a user at 3/7 setWeight 50");
    paused_by_user.spec.paused = true;
    let mut promoted = canary_at(Paused, 3, "paused at 4/7 pause 5m");
    promoted.spec.promote_step = Some(3);
    let mut fully = canary_at(Progressing, 2, "3/7 setWeight 50");
    fully.spec.promote_full = true;
    let mut aborting = unobserved(canary_at(Progressing, 2, "3/7 setWeight 50"));
    aborting.spec.abort = true;
    let mut retried = canary_at(Failed, 1, "analysis failed");
    retried.spec.retry_attempt = 2;
    retried
        .status
        .as_mut()
        .expect("status")
        .observed_retry_attempt = 2;
    vec![
        (
            "canary pending",
            deployment("app-canary.yaml", Pending, "waiting to start"),
        ),
        (
            "canary at setWeight",
            canary_at(Progressing, 0, "1/7 setWeight 10"),
        ),
        (
            "canary at analysis",
            canary_at(
                Progressing,
                1,
                "2/7 analysis: measuring error-rate, latency",
            ),
        ),
        (
            "canary at a pause",
            canary_at(Paused, 3, "paused at 4/7 pause 5m"),
        ),
        (
            "canary held by inconclusive background analysis",
            canary_at(
                Paused,
                2,
                "paused at 3/7 setWeight 50: error-rate inconclusive",
            ),
        ),
        ("canary paused by a user", paused_by_user),
        ("canary already promoted past its pause", promoted),
        ("canary promoted fully", fully),
        ("canary abort not yet observed", aborting),
        (
            "canary in its scale-down delay",
            canary_at(Progressing, 6, "7/7 scale-down delay 1m"),
        ),
        (
            "canary succeeded",
            canary_at(
                Succeeded,
                6,
                "revision 3 serves all traffic; the previous revision is scaled down",
            ),
        ),
        (
            "canary failed",
            canary_at(Failed, 1, "analysis failed: error-rate"),
        ),
        ("canary failed after two retries", retried),
        ("canary aborted", canary_at(Aborted, 3, "aborted by a user")),
        (
            "canary superseded",
            canary_at(Superseded, 2, "revision 4 replaced revision 3"),
        ),
        (
            "blue-green at preview",
            blue_green_at(Progressing, 0, "1/5 preview"),
        ),
        (
            "blue-green at pre-promotion analysis",
            blue_green_at(Progressing, 1, "2/5 pre-promotion analysis"),
        ),
        (
            "blue-green awaiting promotion",
            blue_green_at(Paused, 2, "paused at 3/5 promotion (manual)"),
        ),
        (
            "blue-green switching",
            blue_green_at(Progressing, 3, "4/5 switch"),
        ),
        (
            "blue-green in its scale-down delay",
            blue_green_at(Progressing, 4, "5/5 scale-down delay 5m"),
        ),
        (
            "blue-green aborted",
            blue_green_at(Aborted, 4, "aborted by a user"),
        ),
        (
            "rolling in progress",
            rolling(Progressing, "ECS is replacing the tasks"),
        ),
        ("rolling failed", rolling(Failed, "circuit breaker")),
    ]
}

/// What the CLI's control does to `d`: the spec patch when it writes one.
fn cli(d: &Deployment, action: &str) -> Option<Value> {
    let change = match action {
        "promote" => controls::promote(d, false),
        "promote-full" => controls::promote(d, true),
        "abort" => controls::abort(d, Some(2)),
        "retry" => controls::retry(d),
        "pause" => controls::pause(d, true),
        "resume" => controls::pause(d, false),
        other => panic!("no control {other}"),
    };
    change.ok().and_then(|c| c.spec)
}

#[test]
fn discovery_offers_each_action_exactly_when_the_cli_would_patch() {
    for (case, d) in rollouts() {
        let offered = discovery(&d);
        assert_eq!(
            offered.keys().map(String::as_str).collect::<Vec<_>>(),
            {
                let mut names = ACTIONS.to_vec();
                names.sort_unstable();
                names
            },
            "{case}: discovery lists every action"
        );
        for action in ACTIONS {
            assert_eq!(
                offered[action],
                cli(&d, action).is_some(),
                "{case}: {action} offered by Argo CD = {}, patched by the CLI = {}",
                offered[action],
                cli(&d, action).is_some()
            );
        }
    }
}

#[test]
fn each_action_patches_the_deployment_as_the_cli_does() {
    let mut checked = BTreeMap::new();
    for (case, d) in rollouts() {
        for action in ACTIONS {
            let Some(spec) = cli(&d, action) else {
                continue;
            };
            let after = run_action(&d, action).unwrap_or_else(|e| panic!("{case}: {action}: {e}"));
            let expected = patched(&d, &spec);
            assert!(
                after == expected,
                "{case}: {action} leaves spec {} where the CLI's patch leaves {}",
                after["spec"],
                expected["spec"]
            );
            assert_ne!(
                after,
                numbers(&json(&d)),
                "{case}: {action} changes the spec"
            );
            *checked.entry(action).or_insert(0) += 1;
        }
    }
    assert_eq!(
        checked.keys().copied().collect::<Vec<_>>(),
        {
            let mut names = ACTIONS.to_vec();
            names.sort_unstable();
            names
        },
        "every action ran on at least one rollout"
    );
}

#[test]
fn promote_is_offered_at_a_step_that_waits_and_on_a_held_rollout_only() {
    use DeploymentPhase::*;
    let offered = |d: &Deployment| discovery(d)["promote"];
    assert!(offered(&canary_at(Paused, 3, "pause")));
    assert!(offered(&canary_at(Progressing, 1, "analysis")));
    assert!(offered(&canary_at(Progressing, 6, "scale-down delay")));
    assert!(offered(&blue_green_at(Paused, 2, "promotion")));
    assert!(offered(&canary_at(Paused, 2, "held at setWeight 50")));
    assert!(!offered(&canary_at(Progressing, 2, "setWeight 50")));
    assert!(!offered(&blue_green_at(Progressing, 3, "switch")));
    assert!(!offered(&deployment("app-canary.yaml", Pending, "")));
}

#[test]
fn promote_names_the_current_step_so_a_second_run_changes_nothing() {
    let d = canary_at(DeploymentPhase::Paused, 3, "paused at 4/7 pause 5m");
    let after = run_action(&d, "promote").expect("promote runs");
    assert_eq!(after["spec"]["promoteStep"], serde_json::json!(3.0));
    let mut promoted = d.clone();
    promoted.spec.promote_step = Some(3);
    assert!(!discovery(&promoted)["promote"]);
}

#[test]
fn promote_on_a_rollout_that_has_not_started_fails_with_a_reason() {
    let d = deployment("app-canary.yaml", DeploymentPhase::Pending, "waiting");
    let error = run_action(&d, "promote").expect_err("nothing to promote");
    assert!(
        error.contains("nothing to promote yet: the rollout has not started its steps"),
        "{error}"
    );
}

#[test]
fn retry_is_offered_for_failed_and_aborted_rollouts_only() {
    use DeploymentPhase::*;
    for phase in [
        Pending,
        Progressing,
        Paused,
        Succeeded,
        Failed,
        Aborted,
        Superseded,
    ] {
        let d = canary_at(phase, 2, "step 3");
        assert_eq!(
            discovery(&d)["retry"],
            matches!(phase, Failed | Aborted),
            "{phase}"
        );
    }
}

#[test]
fn retry_of_a_rollout_that_has_not_failed_is_refused_with_the_cli_reason() {
    let d = canary_at(DeploymentPhase::Progressing, 2, "3/7 setWeight 50");
    let error = run_action(&d, "retry").expect_err("nothing to retry");
    let cli = controls::retry(&d).expect_err("the CLI refuses too");
    assert!(error.contains(&cli.to_string()), "{error} / {cli}");
}

#[test]
fn retry_counts_the_attempt_and_clears_abort() {
    let mut d = canary_at(DeploymentPhase::Aborted, 3, "aborted by a user");
    d.spec.abort = true;
    d.spec.retry_attempt = 1;
    let after = run_action(&d, "retry").expect("retry runs");
    assert_eq!(after["spec"]["abort"], serde_json::json!(false));
    assert_eq!(after["spec"]["retryAttempt"], serde_json::json!(2.0));
}

#[test]
fn a_finished_rollout_offers_nothing_but_a_retry_when_it_failed() {
    use DeploymentPhase::*;
    for phase in [Succeeded, Superseded, Failed, Aborted] {
        let offered: Vec<String> = discovery(&canary_at(phase, 2, "done"))
            .into_iter()
            .filter(|(_, on)| *on)
            .map(|(name, _)| name)
            .collect();
        let expected: Vec<String> = if matches!(phase, Failed | Aborted) {
            vec!["retry".to_string()]
        } else {
            Vec::new()
        };
        assert_eq!(offered, expected, "{phase}");
    }
}

#[test]
fn a_rolling_deployment_offers_no_control() {
    for phase in [DeploymentPhase::Progressing, DeploymentPhase::Failed] {
        let d = rolling(phase, "ECS");
        assert!(discovery(&d).values().all(|on| !on), "{phase}");
    }
}

#[test]
fn pause_and_resume_are_offered_in_turn() {
    let mut d = canary_at(DeploymentPhase::Progressing, 2, "3/7 setWeight 50");
    let offered = discovery(&d);
    assert!(offered["pause"] && !offered["resume"]);
    d.spec.paused = true;
    let offered = discovery(&d);
    assert!(!offered["pause"] && offered["resume"]);
}

// ---------------------------------------------------------------------------------------------
// The snippets.

/// The Lua files in the order the snippets hold them: health of each kind, discovery, actions.
fn data_entries(indent: &str) -> String {
    let block = |text: &str, by: &str| -> String {
        text.lines()
            .map(|line| {
                if line.is_empty() {
                    "\n".to_string()
                } else {
                    format!("{by}{line}\n")
                }
            })
            .collect()
    };
    let mut out = String::new();
    for kind in ["App", "Deployment", "Domain"] {
        out.push_str(&format!(
            "{indent}resource.customizations.health.cygni.io_{kind}: |\n"
        ));
        out.push_str(&block(
            &script(&format!("health/{kind}.lua")),
            &format!("{indent}  "),
        ));
    }
    out.push_str(&format!(
        "{indent}resource.customizations.actions.cygni.io_Deployment: |\n"
    ));
    out.push_str(&format!("{indent}  discovery.lua: |\n"));
    out.push_str(&block(
        &script("actions/Deployment/discovery.lua"),
        &format!("{indent}    "),
    ));
    out.push_str(&format!("{indent}  definitions:\n"));
    for action in ACTIONS {
        out.push_str(&format!("{indent}  - name: {action}\n"));
        out.push_str(&format!("{indent}    action.lua: |\n"));
        out.push_str(&block(
            &script(&format!("actions/Deployment/{action}.lua")),
            &format!("{indent}      "),
        ));
    }
    out
}

const GENERATED: &str = "# Generated from argocd/health and argocd/actions by tests/argocd.rs; edit the Lua files and\n# regenerate with `CYGNI_WRITE_ARGOCD=1 cargo nextest run --test argocd`. docs/argocd.md\n# explains what each script does.\n";

fn config_map() -> String {
    format!(
        "# Argo CD resource customizations for Cygni: the health of App, Deployment and Domain, and\n# the rollout actions of Deployment (promote, promote-full, abort, retry, pause, resume).\n# Merge into the argocd-cm ConfigMap of Argo CD 2.1 or newer:\n#   kubectl patch configmap argocd-cm -n argocd --type merge --patch-file argocd/argocd-cm.yaml\n{GENERATED}apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: argocd-cm\n  namespace: argocd\n  labels:\n    app.kubernetes.io/name: argocd-cm\n    app.kubernetes.io/part-of: argocd\ndata:\n{}",
        data_entries("  ")
    )
}

fn helm_values() -> String {
    format!(
        "# The same resource customizations as argocd/argocd-cm.yaml, as values of the argo-cd Helm\n# chart (they go into argocd-cm through configs.cm):\n#   helm upgrade argocd argo/argo-cd -n argocd --reuse-values -f argocd/argo-cd-values.yaml\n{GENERATED}configs:\n  cm:\n{}",
        data_entries("    ")
    )
}

fn check_or_write(file: &str, rendered: &str) {
    let path = root().join("argocd").join(file);
    if std::env::var_os("CYGNI_WRITE_ARGOCD").is_some() {
        std::fs::write(&path, rendered).expect("snippet written");
        return;
    }
    let on_disk = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("argocd/{file}: {e}; {REGENERATE}"));
    assert!(on_disk == rendered, "argocd/{file} is stale; {REGENERATE}");
}

#[test]
fn config_map_snippet_is_generated_from_the_lua_files() {
    check_or_write("argocd-cm.yaml", &config_map());
}

#[test]
fn helm_values_snippet_is_generated_from_the_lua_files() {
    check_or_write("argo-cd-values.yaml", &helm_values());
}

/// Each key of `data` checked against the Lua file it must hold, as Argo CD parses it.
fn assert_embeds_the_lua_files(data: &serde_yaml_ng::Mapping, file: &str) {
    let text = |key: &str| -> String {
        data.get(key)
            .and_then(|v| v.as_str())
            .unwrap_or_else(|| panic!("{file}: no {key}"))
            .to_string()
    };
    assert_eq!(
        data.len(),
        4,
        "{file}: three health checks and one set of actions"
    );
    for kind in ["App", "Deployment", "Domain"] {
        assert!(
            text(&format!("resource.customizations.health.cygni.io_{kind}"))
                == script(&format!("health/{kind}.lua")),
            "{file}: the health of {kind} differs from argocd/health/{kind}.lua; {REGENERATE}"
        );
    }
    let actions: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&text("resource.customizations.actions.cygni.io_Deployment"))
            .expect("the actions are YAML");
    assert!(
        actions["discovery.lua"].as_str()
            == Some(script("actions/Deployment/discovery.lua").as_str()),
        "{file}: discovery.lua differs; {REGENERATE}"
    );
    let definitions = actions["definitions"].as_sequence().expect("definitions");
    let names: Vec<&str> = definitions
        .iter()
        .map(|d| d["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names, ACTIONS, "{file}: one definition per action");
    for definition in definitions {
        let name = definition["name"].as_str().expect("name");
        assert!(
            definition["action.lua"].as_str()
                == Some(script(&format!("actions/Deployment/{name}.lua")).as_str()),
            "{file}: {name} differs from argocd/actions/Deployment/{name}.lua; {REGENERATE}"
        );
    }
}

#[test]
fn config_map_snippet_embeds_exactly_the_lua_files() {
    let text = std::fs::read_to_string(root().join("argocd/argocd-cm.yaml")).expect("snippet");
    let cm: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).expect("YAML");
    assert_eq!(cm["kind"].as_str(), Some("ConfigMap"));
    assert_eq!(cm["metadata"]["name"].as_str(), Some("argocd-cm"));
    assert_embeds_the_lua_files(
        cm["data"].as_mapping().expect("data"),
        "argocd/argocd-cm.yaml",
    );
}

#[test]
fn helm_values_snippet_embeds_exactly_the_lua_files() {
    let text = std::fs::read_to_string(root().join("argocd/argo-cd-values.yaml")).expect("values");
    let values: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).expect("YAML");
    assert_embeds_the_lua_files(
        values["configs"]["cm"].as_mapping().expect("configs.cm"),
        "argocd/argo-cd-values.yaml",
    );
}

#[test]
fn every_lua_file_is_in_the_snippets() {
    let mut files = Vec::new();
    for dir in ["health", "actions/Deployment"] {
        for entry in std::fs::read_dir(root().join("argocd").join(dir)).expect("folder") {
            let name = entry
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .into_owned();
            files.push(format!("{dir}/{name}"));
        }
    }
    files.sort();
    let mut expected: Vec<String> = ["App", "Deployment", "Domain"]
        .iter()
        .map(|k| format!("health/{k}.lua"))
        .chain(std::iter::once(
            "actions/Deployment/discovery.lua".to_string(),
        ))
        .chain(
            ACTIONS
                .iter()
                .map(|a| format!("actions/Deployment/{a}.lua")),
        )
        .collect();
    expected.sort();
    assert_eq!(
        files, expected,
        "argocd/ holds exactly the scripts the snippets embed"
    );
}
