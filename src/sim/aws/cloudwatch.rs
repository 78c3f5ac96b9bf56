//! Simulated CloudWatch GetMetricData: the AWS/ApplicationELB metrics that follow from the
//! simulated traffic (each listener rule receives a fixed request rate, split by the forward
//! action's weights; each target answers as its image behaves), plus series a test scripts, and
//! metric math expressions over them ([`super::metric_math`]). DescribeAlarms evaluates alarms
//! over the same series ([`super::alarms`]).
//!
//! A caller on another clock than the world's ([`super::SimConfig::caller_clock`]) has its
//! GetMetricData windows moved by (world now - caller now) on the way in and the returned
//! timestamps moved back on the way out, so "the last five minutes" of the operator are the last
//! five minutes of the simulated account.
//!
//! Traffic is recorded per (target group, load balancer) flow as a piecewise-constant timeline (a
//! new entry whenever that flow's weights, targets or their health change), so a query over any
//! past window integrates exactly what happened then, and the record grows with the changes, not
//! with the number of flows times the changes.

use super::AwsSim;
use super::alarms::MetricAlarm;
use super::config::SimService;
use super::elbv2::Health;
use super::metric_math::{self, Evaluation, ExpressionInput, MathError, MetricInput};
use super::world::{Fail, SimResult, World, after_secs};
use crate::aws::AwsResult;
use crate::aws::cloudwatch::{AlarmState, CloudWatch, DataQuery, MetricQuery, MetricSeries};
use async_trait::async_trait;
use jiff::{SignedDuration, Timestamp};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// z-score of the 99th percentile of a standard normal distribution.
const Z99: f64 = 2.326_347_874;
/// GetMetricData: at most 500 queries per request.
const MAX_QUERIES: usize = 500;
/// MetricDataQuery.Expression: at most 2048 characters.
const MAX_EXPRESSION: usize = 2048;

/// A scripted series: value at a sample time, `None` for no datapoint.
pub(crate) type SeriesFn = Arc<dyn Fn(Timestamp) -> Option<f64> + Send + Sync>;

/// A series a test scripted.
#[derive(Clone)]
pub(crate) struct ScriptedMetric {
    pub namespace: String,
    pub name: String,
    /// Sorted (name, value) pairs.
    pub dimensions: Vec<(String, String)>,
    pub series: SeriesFn,
}

/// Traffic of one (target group, load balancer) pair from one instant of its timeline to the next.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Flow {
    /// Requests per second served by the target group's targets.
    pub rps: f64,
    /// Of which answered with a target 5xx.
    pub err_rps: f64,
    /// Latency mixture: (requests per second, mu, sigma) of log-normal components.
    pub latency: Vec<(f64, f64, f64)>,
    pub healthy_hosts: u32,
    pub unhealthy_hosts: u32,
}

/// The traffic at one instant.
#[derive(Clone, Debug, Default, PartialEq)]
struct Traffic {
    /// Keyed by (target group ARN, load balancer ARN).
    flows: BTreeMap<(String, String), Flow>,
    /// Requests per second per load balancer that no target could take (HTTP 503 from the ELB).
    unserved: BTreeMap<String, f64>,
}

/// A piecewise-constant timeline: each value holds from its instant until the next entry's.
pub(crate) type Timeline<T> = Vec<(Timestamp, T)>;

/// CloudWatch state.
#[derive(Clone, Default)]
pub(crate) struct MetricsState {
    /// Keyed by (target group ARN, load balancer ARN); `None` while no rule forwards there.
    pub flows: BTreeMap<(String, String), Timeline<Option<Flow>>>,
    /// Requests per second per load balancer that no target could take.
    pub unserved: BTreeMap<String, Timeline<f64>>,
    pub scripted: Vec<ScriptedMetric>,
    /// Metric alarms by name.
    pub alarms: BTreeMap<String, MetricAlarm>,
}

/// Records `value` from `at` on, unless the timeline already holds it.
fn record<T: PartialEq + Default>(line: &mut Timeline<T>, at: Timestamp, value: T) {
    match line.last_mut() {
        Some((_, last)) if *last == value => {}
        Some((t, last)) if *t == at => *last = value,
        None if value == T::default() => {}
        _ => line.push((at, value)),
    }
}

/// The value in force at `t`.
fn value_at<T>(line: &Timeline<T>, t: Timestamp) -> Option<&T> {
    let after = line.partition_point(|(at, _)| *at <= t);
    after.checked_sub(1).map(|i| &line[i].1)
}

/// The pieces of a timeline that overlap `[from, to)`, with how many seconds each overlaps.
fn overlaps<T>(line: &Timeline<T>, from: Timestamp, to: Timestamp) -> Vec<(f64, &T)> {
    let mut out = Vec::new();
    for (i, (at, value)) in line.iter().enumerate() {
        let start = (*at).max(from);
        let end = line.get(i + 1).map_or(to, |(next, _)| (*next).min(to));
        if end > start {
            out.push((end.duration_since(start).as_secs_f64(), value));
        }
    }
    out
}

/// Log-normal parameters from a median and a 99th percentile.
fn lognormal(p50: f64, p99: f64) -> (f64, f64) {
    let p50 = p50.max(1e-6);
    let sigma = ((p99.max(p50) / p50).ln() / Z99).max(1e-6);
    (p50.ln(), sigma)
}

/// erf, Abramowitz and Stegun 7.1.26 (absolute error below 1.5e-7).
fn erf(x: f64) -> f64 {
    let sign = if x < 0.0 { -1.0 } else { 1.0 };
    let x = x.abs();
    let t = 1.0 / (1.0 + 0.327_591_1 * x);
    let poly = t
        * (0.254_829_592
            + t * (-0.284_496_736
                + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    sign * (1.0 - poly * (-x * x).exp())
}

fn normal_cdf(z: f64) -> f64 {
    0.5 * (1.0 + erf(z / std::f64::consts::SQRT_2))
}

/// Quantile `q` (0-1) of a mixture of log-normals, by bisection on log(x).
fn mixture_quantile(components: &[(f64, f64, f64)], q: f64) -> f64 {
    let total: f64 = components.iter().map(|c| c.0).sum();
    if total <= 0.0 {
        return 0.0;
    }
    let cdf = |log_x: f64| {
        components
            .iter()
            .map(|(w, mu, s)| w * normal_cdf((log_x - mu) / s))
            .sum::<f64>()
            / total
    };
    let mut lo = components
        .iter()
        .map(|(_, mu, s)| mu - 8.0 * s)
        .fold(f64::INFINITY, f64::min);
    let mut hi = components
        .iter()
        .map(|(_, mu, s)| mu + 8.0 * s)
        .fold(f64::NEG_INFINITY, f64::max);
    for _ in 0..80 {
        let mid = (lo + hi) / 2.0;
        if cdf(mid) < q {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    ((lo + hi) / 2.0).exp()
}

fn mixture_mean(components: &[(f64, f64, f64)]) -> f64 {
    let total: f64 = components.iter().map(|c| c.0).sum();
    if total <= 0.0 {
        return 0.0;
    }
    components
        .iter()
        .map(|(w, mu, s)| w * (mu + s * s / 2.0).exp())
        .sum::<f64>()
        / total
}

/// A statistic of GetMetricData's MetricStat.Stat.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Stat {
    Sum,
    Average,
    Minimum,
    Maximum,
    SampleCount,
    Percentile(f64),
}

pub(super) fn parse_stat(text: &str) -> Option<Stat> {
    // CloudWatch User Guide, "CloudWatch statistics definitions".
    match text {
        "Sum" => Some(Stat::Sum),
        "Average" => Some(Stat::Average),
        "Minimum" => Some(Stat::Minimum),
        "Maximum" => Some(Stat::Maximum),
        "SampleCount" => Some(Stat::SampleCount),
        _ => {
            let p: f64 = text.strip_prefix('p')?.parse().ok()?;
            (p > 0.0 && p <= 100.0).then_some(Stat::Percentile(p / 100.0))
        }
    }
}

/// A statistic over samples (nearest-rank percentiles).
fn stat_of_samples(samples: &[f64], stat: Stat) -> Option<f64> {
    if samples.is_empty() {
        return None;
    }
    let sum: f64 = samples.iter().sum();
    Some(match stat {
        Stat::Sum => sum,
        Stat::Average => sum / samples.len() as f64,
        Stat::Minimum => samples.iter().copied().fold(f64::INFINITY, f64::min),
        Stat::Maximum => samples.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        Stat::SampleCount => samples.len() as f64,
        Stat::Percentile(q) => {
            let mut sorted = samples.to_vec();
            sorted.sort_by(f64::total_cmp);
            let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
            sorted[rank - 1]
        }
    })
}

/// What one period of traffic adds up to, for the selected flows.
#[derive(Default)]
struct Window {
    served: f64,
    errors: f64,
    unserved: f64,
    latency: Vec<(f64, f64, f64)>,
}

fn invalid_value(message: impl Into<String>) -> Fail {
    // CloudWatch API Reference, Common Errors: InvalidParameterValue (HTTP 400).
    Fail::invalid("InvalidParameterValue", message)
}

fn valid_query_id(id: &str) -> bool {
    let mut chars = id.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A Period GetMetricData accepts: a multiple of 60, or one of the high-resolution `short` ones.
fn valid_period(period: i32, short: &[i32]) -> bool {
    if period < 60 {
        short.contains(&period)
    } else {
        period % 60 == 0
    }
}

fn expression_error(id: &str, err: &MathError) -> Fail {
    // The console's wording: "Error in expression e1 [Invalid syntax]".
    Fail::invalid(
        "ValidationError",
        format!("Error in expression {id} [{err}]"),
    )
}

/// The starts of the periods of `period` seconds that a window `[start, end)` holds up to `now`:
/// from `start` rounded down to the minute (to the period when shorter), every `period` seconds.
fn period_starts(start: Timestamp, end: Timestamp, period: i64, now: Timestamp) -> Vec<Timestamp> {
    let align = period.clamp(1, 60);
    let mut t = start.as_second().div_euclid(align) * align;
    let mut out = Vec::new();
    while t < end.as_second() {
        let Ok(from) = Timestamp::from_second(t) else {
            break;
        };
        if from >= now {
            break;
        }
        out.push(from);
        t += period.max(1);
    }
    out
}

/// Which built-in series a query names.
enum Source {
    /// `TargetGroup` + `LoadBalancer`: one flow.
    TargetGroup(String, String),
    /// `LoadBalancer` alone: every flow of the load balancer, plus its 503s.
    LoadBalancer(String),
}

impl World {
    /// Recomputes the traffic at `self.now` and extends the timelines whose flow changed.
    pub fn record_traffic(&mut self) {
        let now = self.now;
        let Traffic {
            mut flows,
            mut unserved,
        } = self.current_traffic();
        for (key, line) in &mut self.metrics.flows {
            record(line, now, flows.remove(key));
        }
        for (key, flow) in flows {
            record(self.metrics.flows.entry(key).or_default(), now, Some(flow));
        }
        for (lb, line) in &mut self.metrics.unserved {
            record(line, now, unserved.remove(lb).unwrap_or_default());
        }
        for (lb, rps) in unserved {
            record(self.metrics.unserved.entry(lb).or_default(), now, rps);
        }
    }

    /// The flows in force now, for the world snapshot.
    pub fn current_flows(&self) -> impl Iterator<Item = (&(String, String), &Flow)> {
        self.metrics
            .flows
            .iter()
            .filter_map(|(key, line)| Some((key, line.last()?.1.as_ref()?)))
    }

    /// The traffic now: every rule's request rate split by weight; a target group serves from its
    /// healthy targets, or from its unhealthy ones when none is healthy (ALB fails open), or not
    /// at all (the ELB answers 503).
    fn current_traffic(&self) -> Traffic {
        let now = self.now;
        let rate = self.requests_per_second.max(0.0);
        let mut traffic = Traffic::default();
        for rule in self
            .elb
            .rules
            .iter()
            .filter(|r| r.priority.is_some() && !r.forward.is_empty())
        {
            let Some(listener) = self.elb.listener(&rule.listener_arn) else {
                continue;
            };
            let lb = listener.load_balancer_arn.clone();
            let total: i64 = rule
                .forward
                .iter()
                .map(|f| i64::from(f.weight.max(0)))
                .sum();
            for forward in &rule.forward {
                let Some(tg) = self.elb.target_group(&forward.target_group_arn) else {
                    continue;
                };
                let key = (tg.arn.clone(), lb.clone());
                let live: Vec<_> = tg
                    .targets
                    .iter()
                    .filter(|t| t.drain_until.is_none())
                    .collect();
                let health: Vec<Health> = live
                    .iter()
                    .map(|t| t.health(&tg.health_check, now))
                    .collect();
                let flow = traffic.flows.entry(key).or_default();
                flow.healthy_hosts =
                    health.iter().filter(|h| **h == Health::Healthy).count() as u32;
                flow.unhealthy_hosts =
                    health.iter().filter(|h| **h == Health::Unhealthy).count() as u32;
                if total == 0 || forward.weight <= 0 {
                    continue;
                }
                let share = rate * f64::from(forward.weight) / total as f64;
                let healthy: Vec<_> = live
                    .iter()
                    .zip(&health)
                    .filter(|(_, h)| **h == Health::Healthy)
                    .map(|(t, _)| *t)
                    .collect();
                // Targets in `initial` get no requests; with none healthy the ALB fails open to
                // the unhealthy ones (Target groups, "Health checks for your target groups").
                let serving = if healthy.is_empty() {
                    live.iter()
                        .zip(&health)
                        .filter(|(_, h)| **h == Health::Unhealthy)
                        .map(|(t, _)| *t)
                        .collect()
                } else {
                    healthy
                };
                if serving.is_empty() {
                    *traffic.unserved.entry(lb.clone()).or_default() += share;
                    continue;
                }
                let each = share / serving.len() as f64;
                flow.rps += share;
                for target in serving {
                    flow.err_rps += each * target.behaviour.error_rate();
                    let (p50, p99) = target.behaviour.latency();
                    let (mu, sigma) = lognormal(p50, p99);
                    match flow.latency.iter_mut().find(|c| c.1 == mu && c.2 == sigma) {
                        Some(c) => c.0 += each,
                        None => flow.latency.push((each, mu, sigma)),
                    }
                }
            }
            if total == 0 {
                *traffic.unserved.entry(lb).or_default() += rate;
            }
        }
        traffic
    }

    fn window(&self, source: &Source, from: Timestamp, to: Timestamp) -> Window {
        let mut window = Window::default();
        let lines: Vec<&Timeline<Option<Flow>>> = match source {
            Source::TargetGroup(tg, lb) => self
                .metrics
                .flows
                .get(&(tg.clone(), lb.clone()))
                .into_iter()
                .collect(),
            Source::LoadBalancer(lb) => self
                .metrics
                .flows
                .iter()
                .filter(|((_, l), _)| l == lb)
                .map(|(_, line)| line)
                .collect(),
        };
        for line in lines {
            for (seconds, flow) in overlaps(line, from, to) {
                let Some(flow) = flow else { continue };
                window.served += flow.rps * seconds;
                window.errors += flow.err_rps * seconds;
                for (w, mu, sigma) in &flow.latency {
                    window.latency.push((w * seconds, *mu, *sigma));
                }
            }
        }
        if let Source::LoadBalancer(lb) = source
            && let Some(line) = self.metrics.unserved.get(lb)
        {
            for (seconds, rps) in overlaps(line, from, to) {
                window.unserved += rps * seconds;
            }
        }
        window
    }

    fn resolve_source(&self, dimensions: &[(String, String)]) -> Option<Source> {
        let lb_of = |value: &str| {
            self.elb
                .load_balancers
                .iter()
                .find(|l| l.dimension() == value)
                .map(|l| l.arn.clone())
        };
        match dimensions {
            [(lb_key, lb), (tg_key, tg)] if lb_key == "LoadBalancer" && tg_key == "TargetGroup" => {
                let tg = self
                    .elb
                    .target_groups
                    .values()
                    .find(|t| t.dimension() == *tg)?
                    .arn
                    .clone();
                Some(Source::TargetGroup(tg, lb_of(lb)?))
            }
            [(key, lb)] if key == "LoadBalancer" => Some(Source::LoadBalancer(lb_of(lb)?)),
            _ => None,
        }
    }

    /// One period of a built-in AWS/ApplicationELB metric.
    fn builtin_value(
        &self,
        metric: &str,
        source: &Source,
        stat: Stat,
        from: Timestamp,
        to: Timestamp,
    ) -> Option<f64> {
        // ELB User Guide, "CloudWatch metrics for your Application Load Balancer": count metrics
        // report only non-zero values; their Minimum, Maximum and Average are 1.
        let count = |n: f64| {
            let n = n.round();
            (n >= 1.0).then_some(match stat {
                Stat::Sum | Stat::SampleCount => n,
                _ => 1.0,
            })
        };
        let lb_level = matches!(source, Source::LoadBalancer(_));
        match metric {
            "RequestCount" => {
                let w = self.window(source, from, to);
                count(w.served + w.unserved)
            }
            "HTTPCode_Target_5XX_Count" => count(self.window(source, from, to).errors),
            "HTTPCode_Target_2XX_Count" => {
                let w = self.window(source, from, to);
                count(w.served - w.errors)
            }
            "HTTPCode_ELB_5XX_Count" if lb_level => count(self.window(source, from, to).unserved),
            "TargetResponseTime" => {
                let w = self.window(source, from, to);
                let n = w.served.round();
                if n < 1.0 {
                    return None;
                }
                Some(match stat {
                    Stat::Average => mixture_mean(&w.latency),
                    Stat::Sum => mixture_mean(&w.latency) * n,
                    Stat::SampleCount => n,
                    Stat::Minimum => mixture_quantile(&w.latency, 0.001),
                    Stat::Maximum => mixture_quantile(&w.latency, 0.999),
                    Stat::Percentile(q) => mixture_quantile(&w.latency, q.min(0.9999)),
                })
            }
            "HealthyHostCount" | "UnHealthyHostCount" if !lb_level => {
                let Source::TargetGroup(tg, lb) = source else {
                    return None;
                };
                let samples: Vec<f64> = sample_times(from, to)
                    .into_iter()
                    .filter_map(|t| {
                        let line = self.metrics.flows.get(&(tg.clone(), lb.clone()))?;
                        let flow = value_at(line, t)?.as_ref()?;
                        Some(f64::from(if metric == "HealthyHostCount" {
                            flow.healthy_hosts
                        } else {
                            flow.unhealthy_hosts
                        }))
                    })
                    .collect();
                stat_of_samples(&samples, stat)
            }
            _ => None,
        }
    }

    /// GetMetricData over `[start, end)` in sim time: one series per entry that returns data, in
    /// request order, newest datapoint first.
    pub fn cw_get_metric_data(
        &self,
        queries: &[DataQuery],
        start: Timestamp,
        end: Timestamp,
    ) -> SimResult<Vec<MetricSeries>> {
        // GetMetricData: MetricDataQueries 1-500, unique IDs starting with a lowercase letter,
        // StartTime before EndTime, Period a multiple of 60 (or 1, 5, 10, 30 for high resolution;
        // an expression's Period also 20), Expression 1-2048 characters.
        if queries.len() > MAX_QUERIES {
            return Err(invalid_value(format!(
                "The collection MetricDataQueries must not have a size greater than {MAX_QUERIES}."
            )));
        }
        if start >= end {
            return Err(invalid_value(
                "The parameter StartTime must be less than the parameter EndTime.",
            ));
        }
        let mut metrics: HashMap<String, MetricInput> = HashMap::new();
        let mut expressions: HashMap<String, ExpressionInput> = HashMap::new();
        for (i, q) in queries.iter().enumerate() {
            let member = i + 1;
            let id = q.id();
            if !valid_query_id(id) {
                return Err(Fail::invalid(
                    "ValidationError",
                    format!(
                        "The value {id} for parameter MetricDataQueries.member.{member}.Id is not valid: it must start with a lowercase letter and contain only letters, numbers and underscores.",
                    ),
                ));
            }
            if queries[..i].iter().any(|o| o.id() == id) {
                return Err(Fail::invalid(
                    "ValidationError",
                    "The values for parameter id in MetricDataQueries are not unique.",
                ));
            }
            match q {
                DataQuery::Metric { query, .. } => {
                    let period = query.period_seconds;
                    if !valid_period(period, &[1, 5, 10, 30]) {
                        return Err(invalid_value(format!(
                            "The parameter MetricDataQueries.member.{member}.MetricStat.Period must be a multiple of 60, or 1, 5, 10 or 30, but was {period}."
                        )));
                    }
                    let stat = parse_stat(&query.stat).ok_or_else(|| {
                        Fail::invalid(
                            "ValidationError",
                            format!(
                                "The value {} for parameter MetricDataQueries.member.{member}.MetricStat.Stat is not a valid statistic.",
                                query.stat
                            ),
                        )
                    })?;
                    let points = self.series(query, stat, start, end);
                    metrics.insert(
                        id.to_owned(),
                        MetricInput {
                            points: points.timestamps.into_iter().zip(points.values).collect(),
                            period_seconds: i64::from(period),
                        },
                    );
                }
                DataQuery::Expression {
                    expression,
                    period_seconds,
                    ..
                } => {
                    if expression.is_empty() || expression.chars().count() > MAX_EXPRESSION {
                        return Err(Fail::invalid(
                            "ValidationError",
                            format!(
                                "1 validation error detected: Value at 'metricDataQueries.{member}.member.expression' failed to satisfy constraint: Member must have length between 1 and {MAX_EXPRESSION}"
                            ),
                        ));
                    }
                    let period = *period_seconds;
                    if !valid_period(period, &[1, 5, 10, 20, 30]) {
                        return Err(invalid_value(format!(
                            "The parameter MetricDataQueries.member.{member}.Period must be a multiple of 60, or 1, 5, 10, 20 or 30, but was {period}."
                        )));
                    }
                    let expr =
                        metric_math::parse(expression).map_err(|err| expression_error(id, &err))?;
                    expressions.insert(
                        id.to_owned(),
                        ExpressionInput {
                            expr,
                            period_seconds: i64::from(period),
                        },
                    );
                }
            }
        }
        let now = self.now;
        let grid = move |period: i64| period_starts(start, end, period, now);
        let mut evaluation = Evaluation::new(&metrics, &expressions, &grid);
        let mut out = Vec::new();
        for q in queries.iter().filter(|q| q.returns_data()) {
            let id = q.id();
            let points = match q {
                DataQuery::Metric { .. } => metrics.get(id).map(|m| m.points.clone()),
                DataQuery::Expression { .. } => Some(
                    evaluation
                        .series(id)
                        .map_err(|err| expression_error(id, &err))?,
                ),
            }
            .unwrap_or_default();
            // GetMetricData's default ScanBy is TimestampDescending: newest first.
            let (timestamps, values) = points.into_iter().rev().unzip();
            out.push(MetricSeries {
                id: id.to_owned(),
                values,
                timestamps,
            });
        }
        Ok(out)
    }

    /// The datapoints of one metric over `[start, end)`, one per period up to now, newest first.
    pub(super) fn series(
        &self,
        q: &MetricQuery,
        stat: Stat,
        start: Timestamp,
        end: Timestamp,
    ) -> MetricSeries {
        let mut dimensions = q.dimensions.clone();
        dimensions.sort();
        let scripted = self.metrics.scripted.iter().find(|s| {
            s.namespace == q.namespace && s.name == q.metric_name && s.dimensions == dimensions
        });
        let source = if scripted.is_none() && q.namespace == "AWS/ApplicationELB" {
            self.resolve_source(&dimensions)
        } else {
            None
        };
        let period = i64::from(q.period_seconds);
        let mut values = Vec::new();
        let mut timestamps = Vec::new();
        for from in period_starts(start, end, period, self.now) {
            let to = Timestamp::from_second(from.as_second() + period)
                .unwrap_or(end)
                .min(end)
                .min(self.now);
            let value = match (scripted, &source) {
                (Some(s), _) => {
                    let samples: Vec<f64> = sample_times_every(from, to, period.min(60))
                        .into_iter()
                        .filter_map(|at| (s.series)(at))
                        .collect();
                    stat_of_samples(&samples, stat)
                }
                (None, Some(source)) => self.builtin_value(&q.metric_name, source, stat, from, to),
                (None, None) => None,
            };
            if let Some(v) = value {
                values.push(v);
                timestamps.push(from);
            }
        }
        // GetMetricData's default ScanBy is TimestampDescending: newest first.
        values.reverse();
        timestamps.reverse();
        MetricSeries {
            id: q.id.clone(),
            values,
            timestamps,
        }
    }
}

/// One sample per minute of a period (or one at its start when shorter).
fn sample_times(from: Timestamp, to: Timestamp) -> Vec<Timestamp> {
    sample_times_every(from, to, 60)
}

fn sample_times_every(from: Timestamp, to: Timestamp, every: i64) -> Vec<Timestamp> {
    let mut out = vec![from];
    let mut t = from;
    loop {
        t = after_secs(t, every as f64);
        if t >= to {
            break;
        }
        out.push(t);
    }
    out
}

/// `t` moved by `shift`, saturating.
fn shifted(t: Timestamp, shift: SignedDuration) -> Timestamp {
    t.saturating_add(shift).unwrap_or(t)
}

/// The [`CloudWatch`] trait over the shared world.
pub(crate) struct SimCloudWatch {
    pub sim: AwsSim,
}

#[async_trait]
impl CloudWatch for SimCloudWatch {
    async fn get_metric_data(
        &self,
        queries: &[DataQuery],
        start: Timestamp,
        end: Timestamp,
    ) -> AwsResult<Vec<MetricSeries>> {
        let caller = self.sim.caller_clock.clone();
        self.sim
            .call(SimService::CloudWatch, "GetMetricData", false, move |w| {
                // The caller's window, moved to end where it ends relative to the caller's now
                // (see `SimConfig::caller_clock`); the answer is moved back into caller time.
                let shift = caller.map_or(SignedDuration::ZERO, |c| c.now().duration_until(w.now));
                let mut series =
                    w.cw_get_metric_data(queries, shifted(start, shift), shifted(end, shift))?;
                for s in &mut series {
                    for t in &mut s.timestamps {
                        *t = shifted(*t, -shift);
                    }
                }
                Ok(series)
            })
            .await
    }

    async fn describe_alarms(&self, names: &[String]) -> AwsResult<Vec<AlarmState>> {
        // As the SDK adapter: no names, no call (DescribeAlarms would list every alarm).
        if names.is_empty() {
            return Ok(Vec::new());
        }
        self.sim
            .call(SimService::CloudWatch, "DescribeAlarms", false, |w| {
                w.cw_describe_alarms(names)
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lognormal_quantiles_match_the_given_median_and_p99() {
        let (mu, sigma) = lognormal(0.1, 0.4);
        let components = [(1.0, mu, sigma)];
        assert!((mixture_quantile(&components, 0.5) - 0.1).abs() < 1e-3);
        assert!((mixture_quantile(&components, 0.99) - 0.4).abs() < 5e-3);
    }

    #[test]
    fn nearest_rank_percentile_of_samples() {
        let samples = [5.0, 1.0, 3.0, 2.0, 4.0];
        assert_eq!(stat_of_samples(&samples, Stat::Percentile(0.5)), Some(3.0));
        assert_eq!(stat_of_samples(&samples, Stat::Percentile(1.0)), Some(5.0));
        assert_eq!(stat_of_samples(&samples, Stat::Average), Some(3.0));
    }

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(1_700_000_000 + seconds).unwrap()
    }

    #[test]
    fn a_timeline_records_only_changes_and_the_last_value_of_an_instant() {
        let mut line: Timeline<f64> = Vec::new();
        record(&mut line, at(0), 0.0);
        assert!(line.is_empty(), "zero before anything happened is implied");
        record(&mut line, at(10), 5.0);
        record(&mut line, at(20), 5.0);
        record(&mut line, at(30), 7.0);
        record(&mut line, at(30), 8.0);
        assert_eq!(line, vec![(at(10), 5.0), (at(30), 8.0)]);
        assert_eq!(value_at(&line, at(9)), None);
        assert_eq!(value_at(&line, at(10)), Some(&5.0));
        assert_eq!(value_at(&line, at(29)), Some(&5.0));
        assert_eq!(value_at(&line, at(45)), Some(&8.0));
    }

    #[test]
    fn a_window_integrates_the_pieces_it_overlaps() {
        let line: Timeline<f64> = vec![(at(10), 5.0), (at(30), 8.0)];
        let pieces = overlaps(&line, at(0), at(40));
        assert_eq!(pieces, vec![(20.0, &5.0), (10.0, &8.0)]);
        let pieces = overlaps(&line, at(20), at(25));
        assert_eq!(pieces, vec![(5.0, &5.0)]);
        assert!(overlaps(&line, at(0), at(10)).is_empty());
    }
}
