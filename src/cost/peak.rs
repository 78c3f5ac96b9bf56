//! The tasks a rollout runs at its busiest moment, per strategy, from the same step list and
//! deployment bounds the operator uses: `rolling` up to ECS's `maximumPercent` of the desired
//! count; `canary` the stable slot at full size plus the canary slot at its step's size (full
//! size once all traffic is on it, for the scale-down delay); `blueGreen` both slots at full size.

use super::TaskSize;
use crate::api::Strategy;
use crate::api::strategy::StrategyKind;
use crate::rollout::steps::{self, RolloutStep};

/// The busiest moment of a rollout: tasks of the revision that serves now and of the new one.
#[derive(Clone, Debug, PartialEq)]
pub struct Peak {
    /// Tasks of the revision serving now, and their size.
    pub old: (i32, TaskSize),
    /// Tasks of the new revision, and their size.
    pub new: (i32, TaskSize),
    /// When it happens, in a few words.
    pub when: String,
}

impl Peak {
    /// Tasks in all.
    pub fn tasks(&self) -> i32 {
        self.old.0 + self.new.0
    }
}

/// What a rollout from the serving revision to a new template runs at its peak.
#[derive(Clone, Debug)]
pub struct RolloutShape<'a> {
    /// The strategy the new revision rolls out with.
    pub strategy: &'a Strategy,
    /// The App's replicas once the change is applied.
    pub replicas: i32,
    /// Tasks serving now.
    pub serving: i32,
    /// Size of the tasks serving now.
    pub old_size: TaskSize,
    /// Size of the new revision's tasks.
    pub new_size: TaskSize,
}

/// The peak of a rollout; an App's first revision has none beyond its steady size, since
/// nothing runs before it.
pub fn peak(shape: &RolloutShape<'_>, first_revision: bool) -> Option<Peak> {
    let n = shape.replicas.max(0);
    if first_revision {
        return None;
    }
    match shape.strategy.kind() {
        StrategyKind::Rolling => {
            let (_, max_percent) = crate::plan::app::deployment_bounds(shape.strategy);
            // ECS rounds maximumPercent of the desired count down, and never goes below the
            // desired count itself.
            let total = (i64::from(n) * i64::from(max_percent) / 100).max(i64::from(n));
            let total = i32::try_from(total).unwrap_or(n);
            let old = shape.serving.clamp(0, total);
            Some(Peak {
                old: (old, shape.old_size),
                new: (total - old, shape.new_size),
                when: format!("ECS maximumPercent {max_percent}"),
            })
        }
        StrategyKind::Canary | StrategyKind::BlueGreen => {
            let rollout = steps::of(shape.strategy).ok()?;
            let (index, new) = rollout
                .iter()
                .enumerate()
                .map(|(i, _)| (i, steps::replicas_at(&rollout, i, n)))
                .fold(None::<(usize, i32)>, |best, (i, tasks)| match best {
                    Some((_, most)) if most >= tasks => best,
                    _ => Some((i, tasks)),
                })?;
            Some(Peak {
                old: (n, shape.old_size),
                new: (new, shape.new_size),
                when: step_label(&rollout, index),
            })
        }
    }
}

fn step_label(rollout: &[RolloutStep], index: usize) -> String {
    let step = rollout
        .get(index)
        .map_or(String::new(), ToString::to_string);
    format!("from step {}/{} {step}", index + 1, rollout.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::strategy::{BlueGreenStrategy, CanaryStep, CanaryStrategy, RollingStrategy};

    fn size() -> TaskSize {
        TaskSize::new(256, 512)
    }

    fn shape(strategy: &Strategy, replicas: i32) -> RolloutShape<'_> {
        RolloutShape {
            strategy,
            replicas,
            serving: replicas,
            old_size: size(),
            new_size: TaskSize::new(512, 1024),
        }
    }

    fn canary(weights: &[i32]) -> Strategy {
        Strategy {
            rolling: None,
            canary: Some(CanaryStrategy {
                steps: weights
                    .iter()
                    .map(|w| CanaryStep {
                        set_weight: Some(*w),
                        set_canary_scale: None,
                        pause: None,
                        analysis: None,
                    })
                    .collect(),
                scale_down_delay_seconds: 30,
            }),
            blue_green: None,
            ..Strategy::default()
        }
    }

    #[test]
    fn rolling_peaks_at_max_percent_of_the_desired_count() {
        let strategy = Strategy::default();
        let peak = peak(&shape(&strategy, 4), false).unwrap();
        assert_eq!(peak.old.0, 4);
        assert_eq!(peak.new.0, 4);
        assert_eq!(peak.when, "ECS maximumPercent 200");
    }

    #[test]
    fn rolling_rounds_max_percent_down_like_ecs() {
        let strategy = Strategy {
            rolling: Some(RollingStrategy {
                min_healthy_percent: 50,
                max_percent: 150,
            }),
            ..Strategy::default()
        };
        // 3 x 150% = 4.5: ECS runs at most 4.
        let peak = peak(&shape(&strategy, 3), false).unwrap();
        assert_eq!((peak.old.0, peak.new.0), (3, 1));
    }

    #[test]
    fn canary_peaks_with_both_slots_full_during_the_scale_down_delay() {
        let strategy = canary(&[10, 50]);
        let peak = peak(&shape(&strategy, 4), false).unwrap();
        assert_eq!((peak.old.0, peak.new.0), (4, 4));
        assert_eq!(peak.when, "from step 3/4 setWeight 100");
        assert_eq!(peak.new.1, TaskSize::new(512, 1024));
    }

    #[test]
    fn blue_green_runs_both_slots_at_full_size_from_the_preview() {
        let strategy = Strategy {
            rolling: None,
            canary: None,
            blue_green: Some(BlueGreenStrategy {
                auto_promotion_seconds: None,
                pre_promotion_analysis: None,
                post_promotion_analysis: None,
                scale_down_delay_seconds: 300,
                preview_listener_arn: None,
            }),
            ..Strategy::default()
        };
        let peak = peak(&shape(&strategy, 3), false).unwrap();
        assert_eq!(peak.tasks(), 6);
        assert_eq!(peak.when, "from step 1/4 preview");
    }

    #[test]
    fn first_revision_has_no_peak_beyond_its_size() {
        let strategy = canary(&[10]);
        assert_eq!(peak(&shape(&strategy, 4), true), None);
    }
}
