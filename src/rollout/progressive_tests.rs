//! Behaviour of the canary and blue-green state machine, driven with plain structs and a
//! simulated App that applies what the rollout asks for.

use super::*;
use crate::api::strategy::Strategy;

const REPLICAS: i32 = 4;
const DEADLINE: Duration = Duration::from_secs(600);

fn t0() -> jiff::Timestamp {
    jiff::Timestamp::from_second(1_800_000_000).expect("valid")
}

fn at(seconds: u64) -> jiff::Timestamp {
    t0().saturating_add(jiff::SignedDuration::from_secs(seconds as i64))
        .expect("valid")
}

/// A rollout of revision 2 over stable revision 1.
struct Rollout {
    spec: DeploymentSpec,
    steps: Vec<RolloutStep>,
}

impl Rollout {
    fn with(strategy: serde_json::Value) -> Rollout {
        let strategy: Strategy = serde_json::from_value(strategy).expect("strategy");
        let steps = steps::of(&strategy).expect("steps");
        let template = serde_json::from_value(serde_json::json!({
            "container": {"image": "web:2"},
            "healthCheck": {}, "network": {}, "iam": {}, "logs": {},
        }))
        .expect("template");
        Rollout {
            spec: DeploymentSpec {
                app: "web".into(),
                revision: 2,
                template_hash: "h2".into(),
                template,
                strategy,
                analysis: None,
                rollback_of: None,
                paused: false,
                abort: false,
                promote_full: false,
                promote_step: None,
                retry_attempt: 0,
            },
            steps,
        }
    }

    fn canary(steps: serde_json::Value) -> Rollout {
        Rollout::with(serde_json::json!({"canary": {"steps": steps, "scaleDownDelaySeconds": 30}}))
    }

    fn blue_green(extra: serde_json::Value) -> Rollout {
        let mut bg = serde_json::json!({"scaleDownDelaySeconds": 30});
        if let (Some(bg), Some(extra)) = (bg.as_object_mut(), extra.as_object()) {
            bg.extend(extra.clone());
        }
        Rollout::with(serde_json::json!({"blueGreen": bg}))
    }

    fn decide(&self, status: &DeploymentStatus, app: &AppView, now: jiff::Timestamp) -> Decision {
        self.decide_with(status, Some(app), None, now)
    }

    fn decide_with(
        &self,
        status: &DeploymentStatus,
        app: Option<&AppView>,
        verdict: Option<(usize, &Verdict)>,
        now: jiff::Timestamp,
    ) -> Decision {
        self.decide_all(status, app, verdict, None, now)
    }

    fn decide_background(
        &self,
        status: &DeploymentStatus,
        app: &AppView,
        background: &Verdict,
        now: jiff::Timestamp,
    ) -> Decision {
        self.decide_all(status, Some(app), None, Some(background), now)
    }

    fn decide_all(
        &self,
        status: &DeploymentStatus,
        app: Option<&AppView>,
        verdict: Option<(usize, &Verdict)>,
        background: Option<&Verdict>,
        now: jiff::Timestamp,
    ) -> Decision {
        decide(&Inputs {
            spec: &self.spec,
            steps: &self.steps,
            progress_deadline: DEADLINE,
            status,
            app,
            verdict,
            background,
            now,
        })
    }
}

/// The App as it stands: revision 1 stable, the new slot as given.
fn app(new_slot: Option<SlotView>) -> AppView {
    AppView {
        replicas: REPLICAS,
        current_revision: Some(2),
        stable_revision: Some(1),
        new_slot,
    }
}

/// The new slot running revision 2 with `tasks` healthy tasks and `weight` percent.
fn slot(tasks: i32, weight: i32) -> SlotView {
    SlotView {
        revision: Some(2),
        requested_revision: Some(2),
        desired: tasks,
        running: tasks,
        healthy: tasks,
        weight,
        rollout_state: Some(EcsRolloutState::Completed),
        failure: None,
    }
}

/// What the App controller does with a decision: the slot gets the size asked for (healthy at
/// once) and the weight asked for, as read back from the listener.
fn applied(status: &DeploymentStatus) -> AppView {
    let size = status.desired_replicas.unwrap_or(0);
    app(Some(slot(size, status.desired_weight.unwrap_or(0))))
}

fn phase(decision: &Decision) -> DeploymentPhase {
    decision.status.phase
}

fn step(decision: &Decision) -> Option<i32> {
    decision.status.current_step_index
}

fn reasons(decision: &Decision) -> Vec<&'static str> {
    decision.announcements.iter().map(|a| a.reason).collect()
}

/// Runs a rollout to its end against the simulated App, one decision per simulated second, and
/// returns the (desired weight, desired size) pairs it went through and the final status.
fn run_to_end(
    rollout: &Rollout,
    mut status: DeploymentStatus,
    mut promote_when_paused: bool,
    restart_each_step: bool,
) -> (Vec<(i32, i32)>, DeploymentStatus) {
    let mut seen = Vec::new();
    let mut rollout_spec = rollout.spec.clone();
    for second in 0..2_000 {
        let view = applied(&status);
        let current = Rollout {
            spec: rollout_spec.clone(),
            steps: rollout.steps.clone(),
        };
        let decision = current.decide(&status, &view, at(second));
        let pair = (
            decision.status.desired_weight.unwrap_or(0),
            decision.status.desired_replicas.unwrap_or(0),
        );
        if seen.last() != Some(&pair) {
            seen.push(pair);
        }
        status = decision.status;
        if restart_each_step {
            // What the API server stores and a restarted operator reads back.
            let json = serde_json::to_string(&status).expect("serializes");
            status = serde_json::from_str(&json).expect("deserializes");
        }
        if status.phase.is_terminal() {
            return (seen, status);
        }
        if promote_when_paused && status.phase == DeploymentPhase::Paused {
            rollout_spec.promote_step = status.current_step_index;
            promote_when_paused = true;
        }
    }
    panic!("the rollout never ended: {status:?}");
}

#[test]
fn a_weight_step_completes_only_when_the_weight_read_back_equals_the_desired_one() {
    let rollout = Rollout::canary(serde_json::json!([{"setWeight": 25}, {"pause": {}}]));
    let started = rollout.decide(&DeploymentStatus::default(), &app(None), at(0));
    assert_eq!(started.status.desired_weight, Some(25));
    assert_eq!(step(&started), Some(0));

    // The tasks are up, the listener still says 0%: not done.
    let before = rollout.decide(&started.status, &app(Some(slot(1, 0))), at(5));
    assert_eq!(step(&before), Some(0), "{:?}", before.status.message);
    assert!(
        before
            .status
            .message
            .as_deref()
            .unwrap_or_default()
            .contains("read back: 0%")
    );

    // A weight read back on another revision's slot does not count either.
    let mut other = slot(1, 25);
    other.revision = Some(1);
    let elsewhere = rollout.decide(&started.status, &app(Some(other)), at(6));
    assert_eq!(step(&elsewhere), Some(0));

    let verified = rollout.decide(&started.status, &app(Some(slot(1, 25))), at(7));
    assert_eq!(step(&verified), Some(1));
    assert_eq!(reasons(&verified), ["StepCompleted", "RolloutPaused"]);
}

#[test]
fn the_new_slot_runs_replicas_times_weight_rounded_up_before_traffic_moves() {
    let rollout = Rollout::canary(serde_json::json!([{"setWeight": 10}, {"setWeight": 60}]));
    let first = rollout.decide(&DeploymentStatus::default(), &app(None), at(0));
    assert_eq!(
        first.status.desired_replicas,
        Some(1),
        "10% of 4 rounds up to 1"
    );
    let waiting = rollout.decide(&first.status, &app(Some(slot(0, 0))), at(1));
    assert!(
        waiting
            .status
            .message
            .as_deref()
            .unwrap_or_default()
            .contains("0 of 1 tasks healthy before traffic moves"),
        "{:?}",
        waiting.status.message
    );
    let second = rollout.decide(&first.status, &app(Some(slot(1, 10))), at(2));
    assert_eq!(
        second.status.desired_replicas,
        Some(3),
        "60% of 4 rounds up to 3"
    );
}

#[test]
fn a_timed_pause_waits_for_the_time_left_and_then_continues() {
    let rollout =
        Rollout::canary(serde_json::json!([{"setWeight": 10}, {"pause": {"duration": "2m"}}]));
    let started = rollout.decide(&DeploymentStatus::default(), &app(None), at(0));
    let paused = rollout.decide(&started.status, &app(Some(slot(1, 10))), at(10));
    assert_eq!(phase(&paused), DeploymentPhase::Paused);
    assert_eq!(paused.requeue_after, Some(Duration::from_secs(120)));
    let later = rollout.decide(&paused.status, &app(Some(slot(1, 10))), at(70));
    assert_eq!(
        later.requeue_after,
        Some(Duration::from_secs(60)),
        "the time left, not the whole pause"
    );
    assert_eq!(step(&later), Some(1));
    let done = rollout.decide(&later.status, &app(Some(slot(1, 10))), at(130));
    assert_eq!(step(&done), Some(2), "on to full traffic");
    assert_eq!(done.status.desired_weight, Some(100));
    assert_eq!(phase(&done), DeploymentPhase::Progressing);
}

#[test]
fn a_pause_without_duration_waits_until_promoted_and_a_second_promotion_is_harmless() {
    let mut rollout =
        Rollout::canary(serde_json::json!([{"pause": {}}, {"setWeight": 50}, {"pause": {}}]));
    let paused = rollout.decide(&DeploymentStatus::default(), &app(None), at(0));
    assert_eq!(phase(&paused), DeploymentPhase::Paused);
    assert_eq!(
        paused.requeue_after, None,
        "nothing to wait for but a person"
    );
    let still = rollout.decide(&paused.status, &app(Some(slot(1, 0))), at(3600));
    assert_eq!(step(&still), Some(0));

    rollout.spec.promote_step = Some(0);
    let promoted = rollout.decide(&still.status, &app(Some(slot(1, 0))), at(3601));
    assert_eq!(step(&promoted), Some(1));
    assert!(reasons(&promoted).contains(&"StepCompleted"));
    // The same promotion again, once the rollout is past that step, changes nothing.
    let again = rollout.decide(&promoted.status, &app(Some(slot(2, 50))), at(3602));
    assert_eq!(step(&again), Some(2));
    assert_eq!(
        phase(&again),
        DeploymentPhase::Paused,
        "the second pause still waits"
    );
}

#[test]
fn a_pause_reached_from_a_promoted_pause_is_announced_once() {
    let mut rollout = Rollout::canary(serde_json::json!([{"pause": {}}, {"pause": {}}]));
    let first = rollout.decide(&DeploymentStatus::default(), &app(None), at(0));
    assert_eq!(phase(&first), DeploymentPhase::Paused);
    rollout.spec.promote_step = Some(0);
    let second = rollout.decide(&first.status, &app(None), at(10));
    assert_eq!(step(&second), Some(1));
    assert_eq!(reasons(&second), ["StepCompleted", "RolloutPaused"]);
    assert!(
        second.announcements[1]
            .message
            .contains("2/4 pause until promoted"),
        "{:?}",
        second.announcements
    );
    let again = rollout.decide(&second.status, &app(None), at(20));
    assert_eq!(
        reasons(&again),
        Vec::<&str>::new(),
        "no second announcement"
    );
}

#[test]
fn abort_returns_all_traffic_to_stable_at_once_and_scales_the_canary_down() {
    let mut rollout = Rollout::canary(serde_json::json!([{"setWeight": 50}, {"pause": {}}]));
    let started = rollout.decide(&DeploymentStatus::default(), &app(None), at(0));
    let paused = rollout.decide(&started.status, &app(Some(slot(2, 50))), at(5));
    rollout.spec.abort = true;
    let aborted = rollout.decide(&paused.status, &app(Some(slot(2, 50))), at(6));
    assert_eq!(phase(&aborted), DeploymentPhase::Aborted);
    assert_eq!(aborted.status.desired_weight, Some(0));
    assert_eq!(aborted.status.desired_replicas, Some(0));
    assert_eq!(reasons(&aborted), ["RolloutAborted"]);
    assert!(aborted.announcements[0].warning);
    assert_eq!(aborted.requeue_after, None);
}

#[test]
fn a_failed_analysis_returns_all_traffic_to_stable() {
    let rollout = Rollout::canary(
        serde_json::json!([{"setWeight": 20}, {"analysis": {"metrics": ["errors"]}}]),
    );
    let started = rollout.decide(&DeploymentStatus::default(), &app(None), at(0));
    let measuring = rollout.decide(&started.status, &app(Some(slot(1, 20))), at(5));
    assert_eq!(
        measuring.wants_analysis,
        Some((1, vec!["errors".to_string()]))
    );
    let verdict = Verdict::Failed("errors was 0.12, above 0.01".into());
    let failed = rollout.decide_with(
        &measuring.status,
        Some(&app(Some(slot(1, 20)))),
        Some((1, &verdict)),
        at(6),
    );
    assert_eq!(phase(&failed), DeploymentPhase::Failed);
    assert_eq!(failed.status.desired_weight, Some(0));
    assert_eq!(failed.status.desired_replicas, Some(0));
    assert!(
        failed
            .status
            .message
            .as_deref()
            .unwrap_or_default()
            .contains("0.12")
    );
}

#[test]
fn a_failed_background_metric_returns_all_traffic_to_stable_at_any_step() {
    let rollout = Rollout::canary(serde_json::json!([{"setWeight": 20}, {"pause": {}}]));
    let started = rollout.decide(&DeploymentStatus::default(), &app(None), at(0));
    let paused = rollout.decide(&started.status, &app(Some(slot(1, 20))), at(5));
    assert_eq!(phase(&paused), DeploymentPhase::Paused);
    let verdict = Verdict::Failed("error-rate measured 0.5 (…), above max 0.05".into());
    let failed =
        rollout.decide_background(&paused.status, &app(Some(slot(1, 20))), &verdict, at(6));
    assert_eq!(phase(&failed), DeploymentPhase::Failed);
    assert_eq!(failed.status.desired_weight, Some(0));
    assert_eq!(failed.status.desired_replicas, Some(0));
    assert_eq!(
        failed.status.message.as_deref(),
        Some(
            "analysis failed: error-rate measured 0.5 (…), above max 0.05; all traffic returns to revision 1"
        )
    );
}

#[test]
fn a_failed_background_metric_fails_the_rollout_even_while_a_user_holds_it() {
    let mut rollout = Rollout::canary(serde_json::json!([{"setWeight": 20}, {"setWeight": 50}]));
    let started = rollout.decide(&DeploymentStatus::default(), &app(None), at(0));
    rollout.spec.paused = true;
    let held = rollout.decide(&started.status, &app(Some(slot(1, 20))), at(5));
    assert_eq!(phase(&held), DeploymentPhase::Paused);
    let verdict = Verdict::Failed("error-rate measured 0.5 (…), above max 0.05".into());
    let failed = rollout.decide_background(&held.status, &app(Some(slot(1, 20))), &verdict, at(6));
    assert_eq!(phase(&failed), DeploymentPhase::Failed);
    assert_eq!(failed.status.desired_weight, Some(0));
}

#[test]
fn an_inconclusive_background_metric_holds_the_step_until_promoted_or_conclusive() {
    let mut rollout = Rollout::canary(serde_json::json!([{"setWeight": 20}, {"setWeight": 50}]));
    let started = rollout.decide(&DeploymentStatus::default(), &app(None), at(0));
    let verdict = Verdict::Inconclusive("error-rate: no data".into());
    let held = rollout.decide_background(&started.status, &app(Some(slot(1, 20))), &verdict, at(5));
    assert_eq!(phase(&held), DeploymentPhase::Paused);
    assert_eq!(
        step(&held),
        Some(0),
        "the verified weight does not complete the step"
    );
    assert_eq!(reasons(&held), ["RolloutPaused"]);
    assert!(
        held.requeue_after.is_some(),
        "background metrics keep measuring"
    );
    let again = rollout.decide_background(&held.status, &app(Some(slot(1, 20))), &verdict, at(10));
    assert!(reasons(&again).is_empty(), "announced once");
    let running = Verdict::Running(Duration::from_secs(10));
    let recovered =
        rollout.decide_background(&held.status, &app(Some(slot(1, 20))), &running, at(15));
    assert_eq!(
        step(&recovered),
        Some(1),
        "conclusive again: the step completes"
    );
    rollout.spec.promote_step = Some(0);
    let promoted =
        rollout.decide_background(&held.status, &app(Some(slot(1, 20))), &verdict, at(15));
    assert_eq!(step(&promoted), Some(1), "a person accepted the step");
}

#[test]
fn a_verdict_for_another_step_is_not_taken_for_the_current_one() {
    let rollout = Rollout::canary(serde_json::json!([
        {"analysis": {"metrics": ["a"]}}, {"setWeight": 10}, {"analysis": {"metrics": ["b"]}}
    ]));
    let passed = Verdict::Passed;
    let first = rollout.decide_with(
        &DeploymentStatus::default(),
        Some(&app(None)),
        Some((0, &passed)),
        at(0),
    );
    assert_eq!(step(&first), Some(1));
    let at_b = rollout.decide_with(
        &first.status,
        Some(&app(Some(slot(1, 10)))),
        Some((0, &passed)),
        at(1),
    );
    assert_eq!(step(&at_b), Some(2));
    assert_eq!(at_b.wants_analysis, Some((2, vec!["b".to_string()])));
}

#[test]
fn an_inconclusive_analysis_pauses_for_a_person() {
    let mut rollout = Rollout::canary(serde_json::json!([{"analysis": {"metrics": ["latency"]}}]));
    let verdict = Verdict::Inconclusive("no requests in the last 5 minutes".into());
    let paused = rollout.decide_with(
        &DeploymentStatus::default(),
        Some(&app(None)),
        Some((0, &verdict)),
        at(0),
    );
    assert_eq!(phase(&paused), DeploymentPhase::Paused);
    assert!(
        paused
            .status
            .message
            .as_deref()
            .unwrap_or_default()
            .contains("promote")
    );
    rollout.spec.promote_step = Some(0);
    let promoted = rollout.decide(&paused.status, &app(Some(slot(1, 0))), at(1));
    assert_eq!(step(&promoted), Some(1));
}

#[test]
fn a_newer_revision_supersedes_the_rollout() {
    let rollout = Rollout::canary(serde_json::json!([{"setWeight": 10}]));
    let started = rollout.decide(&DeploymentStatus::default(), &app(None), at(0));
    let mut newer = app(Some(slot(1, 10)));
    newer.current_revision = Some(3);
    let superseded = rollout.decide(&started.status, &newer, at(1));
    assert_eq!(phase(&superseded), DeploymentPhase::Superseded);
    assert_eq!(superseded.status.desired_weight, Some(0));
    assert_eq!(reasons(&superseded), ["RolloutSuperseded"]);
}

#[test]
fn a_step_that_never_completes_fails_at_the_progress_deadline_saying_what_is_missing() {
    let rollout = Rollout::canary(serde_json::json!([{"setWeight": 10}]));
    let started = rollout.decide(&DeploymentStatus::default(), &app(None), at(0));
    let unhealthy = app(Some(slot(0, 0)));
    let waiting = rollout.decide(&started.status, &unhealthy, at(300));
    assert_eq!(phase(&waiting), DeploymentPhase::Progressing);
    assert_eq!(waiting.requeue_after, Some(POLL));
    let late = rollout.decide(&waiting.status, &unhealthy, at(600));
    assert_eq!(phase(&late), DeploymentPhase::Failed);
    let message = late.status.message.clone().unwrap_or_default();
    assert!(message.contains("progress deadline of 600s"), "{message}");
    assert!(message.contains("0 of 1 tasks healthy"), "{message}");
    assert!(
        message.ends_with("all traffic returns to revision 1"),
        "{message}"
    );
}

#[test]
fn a_weight_never_read_back_fails_at_the_deadline_and_says_so() {
    let rollout = Rollout::canary(serde_json::json!([{"setWeight": 10}]));
    let started = rollout.decide(&DeploymentStatus::default(), &app(None), at(0));
    let late = rollout.decide(&started.status, &app(Some(slot(1, 0))), at(601));
    let message = late.status.message.clone().unwrap_or_default();
    assert!(message.contains("read back: 0%"), "{message}");
}

#[test]
fn pauses_are_not_bound_by_the_progress_deadline() {
    let rollout = Rollout::canary(serde_json::json!([{"pause": {"duration": "1h"}}]));
    let paused = rollout.decide(&DeploymentStatus::default(), &app(None), at(0));
    let later = rollout.decide(&paused.status, &app(Some(slot(1, 0))), at(1800));
    assert_eq!(phase(&later), DeploymentPhase::Paused);
}

#[test]
fn crashing_tasks_fail_the_rollout() {
    let rollout = Rollout::canary(serde_json::json!([{"setWeight": 10}]));
    let started = rollout.decide(&DeploymentStatus::default(), &app(None), at(0));
    let mut crashing = slot(0, 0);
    crashing.rollout_state = Some(EcsRolloutState::Failed);
    crashing.failure = Some("ECS deployment circuit breaker: tasks failed to start.".into());
    let failed = rollout.decide(&started.status, &app(Some(crashing)), at(20));
    assert_eq!(phase(&failed), DeploymentPhase::Failed);
    assert!(
        failed
            .status
            .message
            .as_deref()
            .unwrap_or_default()
            .contains("tasks failed to start"),
        "{:?}",
        failed.status.message
    );

    // The circuit breaker may also have rolled the slot back to what it ran before.
    let mut rolled_back = slot(1, 0);
    rolled_back.revision = Some(1);
    let failed = rollout.decide(&started.status, &app(Some(rolled_back)), at(20));
    assert_eq!(phase(&failed), DeploymentPhase::Failed);
}

#[test]
fn a_user_pause_holds_the_step_and_resume_continues_without_losing_pause_time() {
    let mut rollout =
        Rollout::canary(serde_json::json!([{"pause": {"duration": "10m"}}, {"setWeight": 50}]));
    let pausing = rollout.decide(&DeploymentStatus::default(), &app(None), at(0));
    rollout.spec.paused = true;
    let held = rollout.decide(&pausing.status, &app(Some(slot(1, 0))), at(60));
    assert_eq!(phase(&held), DeploymentPhase::Paused);
    assert_eq!(held.status.paused_at.as_ref().map(|t| t.0), Some(at(60)));
    assert_eq!(held.requeue_after, None);
    // Held past the pause's end: nothing moves while paused by a user.
    let still = rollout.decide(&held.status, &app(Some(slot(1, 0))), at(900));
    assert_eq!(step(&still), Some(0));
    assert_eq!(
        still.status.paused_at.as_ref().map(|t| t.0),
        Some(at(60)),
        "paused_at is kept"
    );
    rollout.spec.paused = false;
    let resumed = rollout.decide(&still.status, &app(Some(slot(1, 0))), at(901));
    assert_eq!(resumed.status.paused_at, None);
    assert!(reasons(&resumed).contains(&"RolloutResumed"));
    assert_eq!(
        step(&resumed),
        Some(1),
        "the pause's 10 minutes had passed since it started"
    );
}

#[test]
fn full_promotion_skips_to_full_traffic_but_not_past_its_verification() {
    let mut rollout =
        Rollout::canary(serde_json::json!([{"setWeight": 10}, {"pause": {}}, {"setWeight": 50}]));
    let started = rollout.decide(&DeploymentStatus::default(), &app(None), at(0));
    rollout.spec.promote_full = true;
    let promoted = rollout.decide(&started.status, &app(Some(slot(1, 10))), at(1));
    assert_eq!(step(&promoted), Some(3), "the final setWeight 100");
    assert_eq!(promoted.status.desired_weight, Some(100));
    assert_eq!(promoted.status.desired_replicas, Some(REPLICAS));
    assert_eq!(
        phase(&promoted),
        DeploymentPhase::Progressing,
        "100% still has to be read back"
    );
}

#[test]
fn retry_starts_again_from_the_first_step() {
    let mut rollout = Rollout::canary(serde_json::json!([{"setWeight": 10}, {"pause": {}}]));
    rollout.spec.abort = true;
    let aborted = rollout.decide(&DeploymentStatus::default(), &app(None), at(0));
    assert_eq!(phase(&aborted), DeploymentPhase::Aborted);
    rollout.spec.abort = false;
    rollout.spec.retry_attempt = 1;
    let retried = rollout.decide(&aborted.status, &app(Some(slot(0, 0))), at(10));
    assert_eq!(phase(&retried), DeploymentPhase::Progressing);
    assert_eq!(step(&retried), Some(0));
    assert_eq!(retried.status.observed_retry_attempt, 1);
    assert_eq!(retried.status.finished_at, None);
    assert!(reasons(&retried).contains(&"RolloutRetried"));
    // The same retry again is no new retry.
    let once = rollout.decide(&retried.status, &app(Some(slot(1, 10))), at(11));
    assert!(!reasons(&once).contains(&"RolloutRetried"));
}

#[test]
fn a_terminal_rollout_stays_as_it_ended() {
    let rollout = Rollout::canary(serde_json::json!([{"setWeight": 10}]));
    let (_, done) = run_to_end(&rollout, DeploymentStatus::default(), false, false);
    assert_eq!(done.phase, DeploymentPhase::Succeeded);
    let again = rollout.decide(&done, &app(Some(slot(4, 100))), at(5000));
    assert_eq!(again.status, done);
    assert!(again.announcements.is_empty());
}

#[test]
fn a_canary_goes_through_every_step_in_order_and_keeps_the_old_slot_for_the_delay() {
    let rollout = Rollout::canary(serde_json::json!([
        {"setWeight": 10}, {"pause": {"duration": "30s"}}, {"setWeight": 50}, {"pause": {}}
    ]));
    let (seen, done) = run_to_end(&rollout, DeploymentStatus::default(), true, false);
    assert_eq!(seen, vec![(10, 1), (50, 2), (100, REPLICAS)]);
    assert_eq!(done.phase, DeploymentPhase::Succeeded);
    assert_eq!(done.current_step.as_deref(), Some("6/6 done"));
}

#[test]
fn the_old_slot_stays_during_the_scale_down_delay_and_an_abort_then_switches_back() {
    let mut rollout = Rollout::blue_green(serde_json::json!({"autoPromotionSeconds": 0}));
    let mut status = DeploymentStatus::default();
    for second in 0..10 {
        status = rollout
            .decide(&status, &applied(&status), at(second))
            .status;
    }
    assert_eq!(
        rollout
            .steps
            .get(status.current_step_index.unwrap_or(0) as usize),
        Some(&RolloutStep::ScaleDownDelay(Duration::from_secs(30)))
    );
    assert_eq!(status.phase, DeploymentPhase::Progressing);
    assert_eq!(status.desired_weight, Some(100));
    rollout.spec.abort = true;
    let aborted = rollout.decide(&status, &applied(&status), at(11));
    assert_eq!(aborted.status.phase, DeploymentPhase::Aborted);
    assert_eq!(
        aborted.status.desired_weight,
        Some(0),
        "all traffic back to the old slot"
    );
}

#[test]
fn blue_green_previews_at_full_size_then_waits_for_promotion() {
    let mut rollout = Rollout::blue_green(serde_json::json!({}));
    let started = rollout.decide(&DeploymentStatus::default(), &app(None), at(0));
    assert_eq!(started.status.desired_replicas, Some(REPLICAS));
    assert_eq!(started.status.desired_weight, Some(0));
    let half = rollout.decide(&started.status, &app(Some(slot(2, 0))), at(5));
    assert_eq!(step(&half), Some(0), "the preview waits for every task");
    let waiting = rollout.decide(&half.status, &app(Some(slot(REPLICAS, 0))), at(10));
    assert_eq!(phase(&waiting), DeploymentPhase::Paused);
    assert_eq!(
        waiting.status.current_step.as_deref(),
        Some("2/4 promotion (manual)")
    );
    assert_eq!(waiting.status.desired_weight, Some(0));
    rollout.spec.promote_step = Some(1);
    let switching = rollout.decide(&waiting.status, &app(Some(slot(REPLICAS, 0))), at(20));
    assert_eq!(switching.status.current_step.as_deref(), Some("3/4 switch"));
    assert_eq!(switching.status.desired_weight, Some(100));
}

#[test]
fn blue_green_promotes_itself_after_the_auto_promotion_delay() {
    let rollout = Rollout::blue_green(serde_json::json!({"autoPromotionSeconds": 60}));
    let started = rollout.decide(&DeploymentStatus::default(), &app(None), at(0));
    let waiting = rollout.decide(&started.status, &app(Some(slot(REPLICAS, 0))), at(10));
    assert_eq!(phase(&waiting), DeploymentPhase::Paused);
    assert_eq!(waiting.requeue_after, Some(Duration::from_secs(60)));
    let switched = rollout.decide(&waiting.status, &app(Some(slot(REPLICAS, 0))), at(70));
    assert_eq!(switched.status.desired_weight, Some(100));
    assert!(
        switched
            .announcements
            .iter()
            .any(|a| a.message.contains("promoted automatically")),
        "{:?}",
        switched.announcements
    );
}

#[test]
fn the_same_inputs_give_the_same_decision() {
    let rollout =
        Rollout::canary(serde_json::json!([{"setWeight": 10}, {"pause": {"duration": "1m"}}]));
    let started = rollout.decide(&DeploymentStatus::default(), &app(None), at(0));
    let view = app(Some(slot(1, 10)));
    let once = rollout.decide(&started.status, &view, at(20));
    let twice = rollout.decide(&started.status, &view, at(20));
    assert_eq!(once, twice);
    // Deciding again from what was decided moves nothing and announces nothing.
    let after = rollout.decide(&once.status, &view, at(20));
    assert_eq!(after.status, once.status);
    assert!(after.announcements.is_empty(), "{:?}", after.announcements);
}

#[test]
fn a_restart_at_any_step_gives_the_same_run() {
    for rollout in [
        Rollout::canary(serde_json::json!([
            {"setWeight": 10}, {"pause": {"duration": "20s"}}, {"setCanaryScale": {"replicas": 3}},
            {"setWeight": 40}, {"pause": {}}, {"setWeight": 80}
        ])),
        Rollout::blue_green(serde_json::json!({"autoPromotionSeconds": 15})),
    ] {
        let straight = run_to_end(&rollout, DeploymentStatus::default(), true, false);
        let restarted = run_to_end(&rollout, DeploymentStatus::default(), true, true);
        assert_eq!(straight, restarted);
        assert_eq!(straight.1.phase, DeploymentPhase::Succeeded);
    }
}

#[test]
fn without_its_app_the_rollout_waits() {
    let rollout = Rollout::canary(serde_json::json!([{"setWeight": 10}]));
    let waiting = rollout.decide_with(&DeploymentStatus::default(), None, None, at(0));
    assert_eq!(phase(&waiting), DeploymentPhase::Pending);
    assert!(
        waiting
            .status
            .message
            .as_deref()
            .unwrap_or_default()
            .contains("does not exist")
    );
}

#[test]
fn a_step_start_is_kept_in_whole_seconds_rounded_up_so_no_pause_ends_early() {
    let rollout = Rollout::canary(serde_json::json!([{"pause": {"duration": "10s"}}]));
    let later = t0()
        .saturating_add(jiff::SignedDuration::from_millis(300))
        .expect("t");
    let started = rollout.decide(&DeploymentStatus::default(), &app(None), later);
    assert_eq!(
        started.status.step_started_at.as_ref().map(|t| t.0),
        Some(at(1))
    );
    // What the API server stores, read back: the same instant.
    let json = serde_json::to_string(&started.status).expect("serializes");
    let stored: DeploymentStatus = serde_json::from_str(&json).expect("reads");
    assert_eq!(stored.step_started_at, started.status.step_started_at);
    let early = rollout.decide(&stored, &app(Some(slot(1, 0))), at(10));
    assert_eq!(
        phase(&early),
        DeploymentPhase::Paused,
        "10 s after the rounded start only"
    );
    let done = rollout.decide(&stored, &app(Some(slot(1, 0))), at(11));
    assert_eq!(step(&done), Some(1));
}
