//! The steps of a progressive rollout, built once from a Deployment's frozen strategy: a canary's
//! steps as written followed by full traffic and the scale-down delay, or a blue-green's fixed
//! sequence (preview, pre-promotion analysis, promotion, switch, post-promotion analysis,
//! scale-down delay). The state machine walks this list; what each step asks for (weight and
//! size of the new slot) is derived from it, never stored.

use crate::api::strategy::{CanaryScale, Strategy, StrategyKind};
use std::fmt;
use std::time::Duration;

/// How big the new revision's slot is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scale {
    /// Follows the traffic weight: replicas x weight, rounded up, at least one task.
    MatchWeight,
    /// This many tasks.
    Replicas(i32),
    /// This share (percent) of the App's replicas, rounded up.
    Percent(i32),
    /// The App's replicas.
    Full,
}

/// When an analysis runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AnalysisPoint {
    /// A canary step.
    Step,
    /// Blue-green, before the switch.
    PrePromotion,
    /// Blue-green, after the switch.
    PostPromotion,
}

/// One step of a progressive rollout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RolloutStep {
    /// Send this share of traffic (percent) to the new revision; complete once read back.
    SetWeight(i32),
    /// Size the new slot; complete once its tasks are healthy.
    SetScale(Scale),
    /// Blue-green: the new slot at full size and healthy, without traffic.
    Preview,
    /// Wait this long, or until promoted when `None`.
    Pause(Option<Duration>),
    /// Run these metrics and continue only if they pass.
    Analysis {
        /// Metric names (defined in `spec.analysis.metrics`).
        metrics: Vec<String>,
        /// Where in the rollout.
        point: AnalysisPoint,
    },
    /// Blue-green: wait for promotion, or promote by itself after this long.
    AwaitPromotion(Option<Duration>),
    /// Blue-green: all traffic to the new revision at once; complete once read back.
    Switch,
    /// All traffic is on the new revision; the previous one stays at full size this long so an
    /// abort can switch back at once.
    ScaleDownDelay(Duration),
}

impl RolloutStep {
    /// The traffic weight (percent) this step sets, if it sets one.
    pub fn weight(&self) -> Option<i32> {
        match self {
            RolloutStep::SetWeight(w) => Some(*w),
            RolloutStep::Preview => Some(0),
            RolloutStep::Switch | RolloutStep::ScaleDownDelay(_) => Some(100),
            _ => None,
        }
    }

    /// The size this step gives the new slot, if it sets one.
    pub fn scale(&self) -> Option<Scale> {
        match self {
            RolloutStep::SetScale(scale) => Some(*scale),
            RolloutStep::Preview => Some(Scale::Full),
            _ => None,
        }
    }

    /// The step's kind, as the `step` label of the step duration metric says it.
    pub fn kind(&self) -> &'static str {
        match self {
            RolloutStep::SetWeight(_) => "setWeight",
            RolloutStep::SetScale(_) => "setCanaryScale",
            RolloutStep::Preview => "preview",
            RolloutStep::Pause(_) => "pause",
            RolloutStep::Analysis { point, .. } => match point {
                AnalysisPoint::Step => "analysis",
                AnalysisPoint::PrePromotion => "prePromotionAnalysis",
                AnalysisPoint::PostPromotion => "postPromotionAnalysis",
            },
            RolloutStep::AwaitPromotion(_) => "promotion",
            RolloutStep::Switch => "switch",
            RolloutStep::ScaleDownDelay(_) => "scaleDownDelay",
        }
    }

    /// Whether the step waits on AWS (tasks becoming healthy, a weight being read back), so that
    /// the progress deadline bounds it.
    pub fn waits_on_aws(&self) -> bool {
        matches!(
            self,
            RolloutStep::SetWeight(_)
                | RolloutStep::SetScale(_)
                | RolloutStep::Preview
                | RolloutStep::Switch
        )
    }
}

impl fmt::Display for RolloutStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RolloutStep::SetWeight(w) => write!(f, "setWeight {w}"),
            RolloutStep::SetScale(Scale::MatchWeight) => {
                write!(f, "setCanaryScale matchTrafficWeight")
            }
            RolloutStep::SetScale(Scale::Replicas(n)) => write!(f, "setCanaryScale {n} tasks"),
            RolloutStep::SetScale(Scale::Percent(p)) => write!(f, "setCanaryScale {p}%"),
            RolloutStep::SetScale(Scale::Full) => write!(f, "setCanaryScale full"),
            RolloutStep::Preview => write!(f, "preview"),
            RolloutStep::Pause(Some(d)) => write!(f, "pause {}", duration_text(*d)),
            RolloutStep::Pause(None) => write!(f, "pause until promoted"),
            RolloutStep::Analysis { metrics, point } => {
                let prefix = match point {
                    AnalysisPoint::Step => "analysis",
                    AnalysisPoint::PrePromotion => "pre-promotion analysis",
                    AnalysisPoint::PostPromotion => "post-promotion analysis",
                };
                write!(f, "{prefix} {}", metrics.join(", "))
            }
            RolloutStep::AwaitPromotion(Some(d)) => {
                write!(f, "promotion (automatic after {})", duration_text(*d))
            }
            RolloutStep::AwaitPromotion(None) => write!(f, "promotion (manual)"),
            RolloutStep::Switch => write!(f, "switch"),
            RolloutStep::ScaleDownDelay(d) => write!(f, "scale-down delay {}", duration_text(*d)),
        }
    }
}

/// A duration as a person writes it: `90s` is `1m30s`, `3600s` is `1h`.
pub fn duration_text(d: Duration) -> String {
    let total = d.as_secs();
    let (h, m, s) = (total / 3600, total / 60 % 60, total % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if s > 0 || out.is_empty() {
        out.push_str(&format!("{s}s"));
    }
    out
}

/// A step of a strategy that cannot be turned into a rollout step (a pause duration that does
/// not parse): its index and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StepError {
    /// Index of the step in `spec.strategy.canary.steps`.
    pub index: usize,
    /// What is wrong.
    pub message: String,
}

/// The rollout steps of a strategy; empty for `rolling`, which ECS rolls in place.
pub fn of(strategy: &Strategy) -> Result<Vec<RolloutStep>, Vec<StepError>> {
    match strategy.kind() {
        StrategyKind::Rolling => Ok(Vec::new()),
        StrategyKind::Canary => canary(strategy),
        StrategyKind::BlueGreen => Ok(blue_green(strategy)),
    }
}

fn canary(strategy: &Strategy) -> Result<Vec<RolloutStep>, Vec<StepError>> {
    let Some(canary) = &strategy.canary else {
        return Ok(Vec::new());
    };
    let mut steps = Vec::new();
    let mut errors = Vec::new();
    for (index, step) in canary.steps.iter().enumerate() {
        if let Some(weight) = step.set_weight {
            steps.push(RolloutStep::SetWeight(weight.clamp(0, 100)));
        } else if let Some(scale) = &step.set_canary_scale {
            steps.push(RolloutStep::SetScale(scale_of(scale)));
        } else if let Some(pause) = &step.pause {
            match pause.duration.as_deref().map(crate::config::parse_duration) {
                None => steps.push(RolloutStep::Pause(None)),
                Some(Ok(d)) => steps.push(RolloutStep::Pause(Some(d))),
                Some(Err(message)) => errors.push(StepError { index, message }),
            }
        } else if let Some(analysis) = &step.analysis {
            steps.push(RolloutStep::Analysis {
                metrics: analysis.metrics.clone(),
                point: AnalysisPoint::Step,
            });
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    // After the last step the new revision gets all traffic, then the previous one is kept for
    // the scale-down delay.
    steps.push(RolloutStep::SetWeight(100));
    steps.push(RolloutStep::ScaleDownDelay(seconds(
        canary.scale_down_delay_seconds,
    )));
    Ok(steps)
}

fn blue_green(strategy: &Strategy) -> Vec<RolloutStep> {
    let Some(bg) = &strategy.blue_green else {
        return Vec::new();
    };
    let mut steps = vec![RolloutStep::Preview];
    if let Some(pre) = &bg.pre_promotion_analysis {
        steps.push(RolloutStep::Analysis {
            metrics: pre.metrics.clone(),
            point: AnalysisPoint::PrePromotion,
        });
    }
    steps.push(RolloutStep::AwaitPromotion(
        bg.auto_promotion_seconds.map(seconds),
    ));
    steps.push(RolloutStep::Switch);
    if let Some(post) = &bg.post_promotion_analysis {
        steps.push(RolloutStep::Analysis {
            metrics: post.metrics.clone(),
            point: AnalysisPoint::PostPromotion,
        });
    }
    steps.push(RolloutStep::ScaleDownDelay(seconds(
        bg.scale_down_delay_seconds,
    )));
    steps
}

fn scale_of(scale: &CanaryScale) -> Scale {
    match (scale.replicas, scale.weight) {
        (Some(n), _) => Scale::Replicas(n.max(0)),
        (None, Some(p)) => Scale::Percent(p.clamp(0, 100)),
        (None, None) => Scale::MatchWeight,
    }
}

fn seconds(value: i32) -> Duration {
    Duration::from_secs(u64::try_from(value).unwrap_or(0))
}

/// The index of the step a full promotion jumps to: the first step from which all traffic is on
/// the new revision (a canary's final `setWeight 100`, a blue-green's switch).
pub fn full_traffic_index(steps: &[RolloutStep]) -> usize {
    steps
        .iter()
        .rposition(|s| matches!(s, RolloutStep::SetWeight(100) | RolloutStep::Switch))
        .unwrap_or(steps.len())
}

/// The traffic weight the rollout asks for at step `index`: the last weight set at or before it.
pub fn weight_at(steps: &[RolloutStep], index: usize) -> i32 {
    steps
        .iter()
        .take(index + 1)
        .rev()
        .find_map(RolloutStep::weight)
        .unwrap_or(0)
}

/// The tasks the new slot runs at step `index` of an App with `replicas`: full size once all
/// traffic is on it, else the last size set at or before it (following the weight by default).
pub fn replicas_at(steps: &[RolloutStep], index: usize, replicas: i32) -> i32 {
    let weight = weight_at(steps, index);
    if weight >= 100 {
        return replicas;
    }
    let scale = steps
        .iter()
        .take(index + 1)
        .rev()
        .find_map(RolloutStep::scale)
        .unwrap_or(Scale::MatchWeight);
    match scale {
        Scale::MatchWeight => crate::plan::app::canary_scale(replicas, weight),
        Scale::Replicas(n) => n,
        Scale::Percent(p) => ceil_share(replicas, p),
        Scale::Full => replicas,
    }
}

fn ceil_share(replicas: i32, percent: i32) -> i32 {
    let product = i64::from(replicas) * i64::from(percent);
    i32::try_from((product + 99).div_euclid(100)).unwrap_or(replicas)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strategy(value: serde_json::Value) -> Strategy {
        serde_json::from_value(value).expect("strategy")
    }

    #[test]
    fn a_canary_ends_with_full_traffic_and_the_scale_down_delay() {
        let steps = of(&strategy(serde_json::json!({"canary": {
            "steps": [{"setWeight": 10}, {"pause": {"duration": "1m"}}, {"setWeight": 50}, {"pause": {}}],
            "scaleDownDelaySeconds": 45,
        }})))
        .expect("valid");
        assert_eq!(
            steps,
            vec![
                RolloutStep::SetWeight(10),
                RolloutStep::Pause(Some(Duration::from_secs(60))),
                RolloutStep::SetWeight(50),
                RolloutStep::Pause(None),
                RolloutStep::SetWeight(100),
                RolloutStep::ScaleDownDelay(Duration::from_secs(45)),
            ]
        );
        assert_eq!(full_traffic_index(&steps), 4);
    }

    #[test]
    fn a_blue_green_previews_then_waits_for_promotion_then_switches() {
        let steps = of(&strategy(serde_json::json!({"blueGreen": {
            "prePromotionAnalysis": {"metrics": ["smoke"]},
            "postPromotionAnalysis": {"metrics": ["errors"]},
            "autoPromotionSeconds": 120,
        }})))
        .expect("valid");
        assert_eq!(steps[0], RolloutStep::Preview);
        assert!(matches!(
            &steps[1],
            RolloutStep::Analysis {
                point: AnalysisPoint::PrePromotion,
                ..
            }
        ));
        assert_eq!(
            steps[2],
            RolloutStep::AwaitPromotion(Some(Duration::from_secs(120)))
        );
        assert_eq!(steps[3], RolloutStep::Switch);
        assert!(matches!(
            &steps[4],
            RolloutStep::Analysis {
                point: AnalysisPoint::PostPromotion,
                ..
            }
        ));
        assert_eq!(
            steps[5],
            RolloutStep::ScaleDownDelay(Duration::from_secs(30))
        );
        assert_eq!(full_traffic_index(&steps), 3);
        assert_eq!(weight_at(&steps, 2), 0);
        assert_eq!(
            replicas_at(&steps, 0, 3),
            3,
            "the preview runs at full size"
        );
    }

    #[test]
    fn the_canary_size_follows_the_weight_unless_set() {
        let steps = of(&strategy(serde_json::json!({"canary": {"steps": [
            {"setWeight": 10},
            {"setCanaryScale": {"replicas": 3}},
            {"setWeight": 20},
            {"setCanaryScale": {"matchTrafficWeight": true}},
            {"setWeight": 60},
        ]}})))
        .expect("valid");
        assert_eq!(replicas_at(&steps, 0, 10), 1);
        assert_eq!(replicas_at(&steps, 1, 10), 3);
        assert_eq!(replicas_at(&steps, 2, 10), 3, "an explicit size holds");
        assert_eq!(replicas_at(&steps, 4, 10), 6);
        assert_eq!(replicas_at(&steps, 5, 10), 10, "full traffic, full size");
    }

    #[test]
    fn a_pause_that_does_not_parse_names_its_step() {
        let mut s = strategy(
            serde_json::json!({"canary": {"steps": [{"setWeight": 10}, {"pause": {"duration": "5m"}}]}}),
        );
        if let Some(canary) = s.canary.as_mut() {
            canary.steps[1].pause = Some(crate::api::strategy::PauseStep {
                duration: Some("soon".into()),
            });
        }
        let errors = of(&s).unwrap_err();
        assert_eq!(errors[0].index, 1);
    }

    #[test]
    fn durations_read_as_people_write_them() {
        assert_eq!(duration_text(Duration::from_secs(90)), "1m30s");
        assert_eq!(duration_text(Duration::from_secs(3600)), "1h");
        assert_eq!(duration_text(Duration::ZERO), "0s");
    }
}
