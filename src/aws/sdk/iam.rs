//! [`Iam`] over the AWS SDK: SimulatePrincipalPolicy, every page.

use super::RateLimit;
use super::error::failed;
use crate::aws::AwsResult;
use crate::aws::iam::{Decision, Evaluation, Iam, Simulation};
use async_trait::async_trait;
use aws_sdk_iam::Client;
use aws_sdk_iam::types::{ContextEntry, ContextKeyTypeEnum, PolicyEvaluationDecisionType};

/// Service name in errors.
const SERVICE: &str = "iam";
/// Default client-side rate: IAM's control plane allows a few requests per second.
pub const DEFAULT_REQUESTS_PER_SECOND: u32 = 5;

/// AWS IAM through the SDK.
#[derive(Clone, Debug)]
pub struct SdkIam {
    client: Client,
    rate: RateLimit,
}

impl SdkIam {
    /// The adapter with the default rate.
    pub fn new(client: Client) -> Self {
        SdkIam {
            client,
            rate: RateLimit::per_second(DEFAULT_REQUESTS_PER_SECOND),
        }
    }
}

#[async_trait]
impl Iam for SdkIam {
    async fn simulate_principal_policy(
        &self,
        simulation: &Simulation,
    ) -> AwsResult<Vec<Evaluation>> {
        const OP: &str = "SimulatePrincipalPolicy";
        let context: Vec<ContextEntry> = simulation
            .context
            .iter()
            .map(|entry| {
                ContextEntry::builder()
                    .context_key_name(&entry.key)
                    .set_context_key_values(Some(entry.values.clone()))
                    .context_key_type(if entry.list {
                        ContextKeyTypeEnum::StringList
                    } else {
                        ContextKeyTypeEnum::String
                    })
                    .build()
            })
            .collect();
        let mut out = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            self.rate.acquire().await;
            let output = self
                .client
                .simulate_principal_policy()
                .policy_source_arn(&simulation.principal_arn)
                .set_action_names(Some(simulation.actions.clone()))
                .set_resource_arns(
                    (!simulation.resource_arns.is_empty())
                        .then(|| simulation.resource_arns.clone()),
                )
                .set_context_entries((!context.is_empty()).then(|| context.clone()))
                .set_marker(marker.clone())
                .send()
                .await
                .map_err(failed(SERVICE, OP))?;
            out.extend(output.evaluation_results().iter().map(|r| Evaluation {
                action: r.eval_action_name().to_owned(),
                decision: match r.eval_decision() {
                    PolicyEvaluationDecisionType::Allowed => Decision::Allowed,
                    PolicyEvaluationDecisionType::ExplicitDeny => Decision::ExplicitDeny,
                    _ => Decision::ImplicitDeny,
                },
            }));
            match output.marker() {
                Some(next) if output.is_truncated() => marker = Some(next.to_owned()),
                _ => break,
            }
        }
        Ok(out)
    }
}
