//! Metrics of AWS calls: a layer in front of every AWS service trait that counts each call the
//! controllers make by service, operation and outcome (`cygni_aws_calls_total`) and times it
//! (`cygni_aws_call_duration_seconds`). It sits outside the client's retries (the SDK's, or
//! [`super::retry`] for the simulator), so a call counts once, with the outcome the controller
//! saw: `throttling` means AWS still throttled it after every retry.

use super::{AwsResult, AwsServices};
use crate::telemetry::Metrics;
use std::future::Future;
use std::sync::Arc;

/// The services with every call counted in `metrics`.
pub fn with_metrics(services: AwsServices, metrics: Arc<Metrics>) -> AwsServices {
    let meter = Meter { metrics };
    AwsServices {
        ecs: Arc::new(Metered {
            inner: services.ecs,
            meter: meter.clone(),
        }),
        elbv2: Arc::new(Metered {
            inner: services.elbv2,
            meter: meter.clone(),
        }),
        route53: Arc::new(Metered {
            inner: services.route53,
            meter: meter.clone(),
        }),
        acm: Arc::new(Metered {
            inner: services.acm,
            meter: meter.clone(),
        }),
        cloudwatch: Arc::new(Metered {
            inner: services.cloudwatch,
            meter,
        }),
        region: services.region,
    }
}

/// Records calls into the operator's metrics.
#[derive(Clone)]
struct Meter {
    metrics: Arc<Metrics>,
}

impl Meter {
    /// Awaits `call` and records it as `operation` of `service`.
    async fn record<T>(
        &self,
        service: &'static str,
        operation: &'static str,
        call: impl Future<Output = AwsResult<T>>,
    ) -> AwsResult<T> {
        let start = std::time::Instant::now();
        let outcome = call.await;
        let kind = outcome.as_ref().err().map(|error| error.kind);
        self.metrics
            .aws_call(service, operation, kind, start.elapsed());
        outcome
    }
}

/// A service whose calls are counted.
struct Metered<T: ?Sized> {
    inner: Arc<T>,
    meter: Meter,
}

/// Implements `$trait` for `Metered<dyn $trait>`: each call goes to the inner service through
/// [`Meter::record`], under its AWS operation name.
macro_rules! metered {
    (
        $trait:ident, $service:literal;
        $(fn $name:ident($($arg:ident: $ty:ty),* $(,)?) -> $ret:ty = $operation:literal;)*
    ) => {
        #[async_trait::async_trait]
        impl $trait for Metered<dyn $trait> {
            $(async fn $name(&self, $($arg: $ty),*) -> $ret {
                self.meter
                    .record($service, $operation, self.inner.$name($($arg),*))
                    .await
            })*
        }
    };
}

super::calls::for_each_service!(metered);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::aws::{AwsSim, Faults, SimConfig, SimService};

    #[tokio::test]
    async fn each_call_is_counted_by_service_operation_and_outcome() {
        let metrics = Arc::new(Metrics::default());
        let sim = AwsSim::new(SimConfig::default());
        let aws = with_metrics(sim.services(), metrics.clone());
        aws.route53
            .list_hosted_zones()
            .await
            .expect("an unthrottled call succeeds");
        let missing = aws
            .ecs
            .describe_services("nowhere", &["web-a".to_string()])
            .await;
        assert!(missing.is_err(), "the cluster does not exist");
        sim.set_faults(SimService::Route53, Faults::throttling(1.0));
        let throttled = aws.route53.list_hosted_zones().await;
        assert!(throttled.is_err(), "every Route53 call is throttled");

        let text = metrics.render();
        for line in [
            r#"cygni_aws_calls_total{service="route53",operation="ListHostedZones",outcome="ok"} 1"#,
            r#"cygni_aws_calls_total{service="ecs",operation="DescribeServices",outcome="not_found"} 1"#,
            r#"cygni_aws_calls_total{service="route53",operation="ListHostedZones",outcome="throttling"} 1"#,
            r#"cygni_aws_call_duration_seconds_count{service="route53"} 2"#,
        ] {
            assert!(text.contains(line), "{line} in {text}");
        }
    }
}
