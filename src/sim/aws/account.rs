//! The simulated account's identity, network and IAM, as `cygni doctor` asks about them: STS
//! GetCallerIdentity (the caller is the role `cygni-operator`, as under IRSA), EC2
//! DescribeSubnets and DescribeSecurityGroups over the world's VPCs, and IAM
//! SimulatePrincipalPolicy, which allows everything: the world has no IAM (see the module docs
//! of `sim::aws`), so every caller may do every action.

use super::world::{Fail, SimResult, World};
use super::{AwsSim, SimService};
use crate::aws::AwsResult;
use crate::aws::ec2::{Ec2, SecurityGroup, Subnet};
use crate::aws::iam::{Decision, Evaluation, Iam, Simulation};
use crate::aws::sts::{CallerIdentity, Sts};
use async_trait::async_trait;
use std::sync::Arc;

/// The role the simulated credentials belong to.
pub const CALLER_ROLE: &str = "cygni-operator";

/// Free addresses the simulated subnets report: a /20 less AWS's five reserved ones.
const SUBNET_ADDRESSES: i32 = 4091;

/// EC2's answer naming IDs it does not know: one (`The subnet ID 'x' does not exist`) or several
/// (`The subnet IDs 'x, y' do not exist`).
fn not_found(code: &str, what: &str, plural: &str, missing: &[&String]) -> Fail {
    let listed = missing
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let message = if missing.len() == 1 {
        format!("The {what} '{listed}' does not exist")
    } else {
        format!("The {plural} '{listed}' do not exist")
    };
    Fail::not_found(code, message)
}

impl World {
    fn sts_caller_identity(&self) -> CallerIdentity {
        CallerIdentity {
            account: self.account.clone(),
            arn: format!(
                "arn:aws:sts::{}:assumed-role/{CALLER_ROLE}/cygni",
                self.account
            ),
            user_id: "AROASIMULATEDROLE0001:cygni".to_string(),
        }
    }

    fn ec2_describe_subnets(&self, ids: &[String]) -> SimResult<Vec<Subnet>> {
        let mut found = Vec::new();
        let mut missing = Vec::new();
        for id in ids {
            let subnet = self.vpcs.iter().find_map(|vpc| {
                vpc.subnets
                    .iter()
                    .position(|s| &s.id == id)
                    .map(|index| (vpc, index))
            });
            match subnet {
                Some((vpc, index)) => found.push(Subnet {
                    id: id.clone(),
                    vpc_id: vpc.id.clone(),
                    // Subnets of the default VPC are one per zone, in zone order.
                    availability_zone: format!(
                        "{}{}",
                        self.region,
                        char::from(b'a' + (index % 26) as u8)
                    ),
                    available_ips: SUBNET_ADDRESSES,
                }),
                None => missing.push(id),
            }
        }
        if !missing.is_empty() {
            return Err(not_found(
                "InvalidSubnetID.NotFound",
                "subnet ID",
                "subnet IDs",
                &missing,
            ));
        }
        Ok(found)
    }

    fn ec2_describe_security_groups(&self, ids: &[String]) -> SimResult<Vec<SecurityGroup>> {
        let mut found = Vec::new();
        let mut missing = Vec::new();
        for id in ids {
            match self
                .vpcs
                .iter()
                .find(|vpc| vpc.security_groups.contains(id))
            {
                Some(vpc) => found.push(SecurityGroup {
                    id: id.clone(),
                    name: "default".to_string(),
                    vpc_id: vpc.id.clone(),
                }),
                None => missing.push(id),
            }
        }
        if !missing.is_empty() {
            return Err(not_found(
                "InvalidGroup.NotFound",
                "security group",
                "security groups",
                &missing,
            ));
        }
        Ok(found)
    }

    fn iam_simulate(&self, simulation: &Simulation) -> SimResult<Vec<Evaluation>> {
        let arn = &simulation.principal_arn;
        let shape = arn
            .strip_prefix("arn:aws:iam::")
            .and_then(|rest| rest.split_once(':'));
        match shape {
            Some((account, resource))
                if account == self.account
                    && (resource.starts_with("role/") || resource.starts_with("user/")) => {}
            _ => {
                return Err(Fail::invalid(
                    "InvalidInput",
                    format!(
                        "Invalid ARN {arn}: not a user or role of account {}",
                        self.account
                    ),
                ));
            }
        }
        Ok(simulation
            .actions
            .iter()
            .map(|action| Evaluation {
                action: action.clone(),
                decision: Decision::Allowed,
            })
            .collect())
    }
}

struct SimSts {
    sim: AwsSim,
}

struct SimEc2 {
    sim: AwsSim,
}

struct SimIam {
    sim: AwsSim,
}

#[async_trait]
impl Sts for SimSts {
    async fn get_caller_identity(&self) -> AwsResult<CallerIdentity> {
        self.sim
            .call(SimService::Sts, "GetCallerIdentity", false, |w| {
                Ok(w.sts_caller_identity())
            })
            .await
    }
}

#[async_trait]
impl Ec2 for SimEc2 {
    async fn describe_subnets(&self, ids: &[String]) -> AwsResult<Vec<Subnet>> {
        self.sim
            .call(SimService::Ec2, "DescribeSubnets", false, |w| {
                w.ec2_describe_subnets(ids)
            })
            .await
    }

    async fn describe_security_groups(&self, ids: &[String]) -> AwsResult<Vec<SecurityGroup>> {
        self.sim
            .call(SimService::Ec2, "DescribeSecurityGroups", false, |w| {
                w.ec2_describe_security_groups(ids)
            })
            .await
    }
}

#[async_trait]
impl Iam for SimIam {
    async fn simulate_principal_policy(
        &self,
        simulation: &Simulation,
    ) -> AwsResult<Vec<Evaluation>> {
        self.sim
            .call(SimService::Iam, "SimulatePrincipalPolicy", false, |w| {
                w.iam_simulate(simulation)
            })
            .await
    }
}

impl AwsSim {
    /// STS over this world.
    pub fn sts(&self) -> Arc<dyn Sts> {
        Arc::new(SimSts { sim: self.clone() })
    }

    /// EC2 over this world.
    pub fn ec2(&self) -> Arc<dyn Ec2> {
        Arc::new(SimEc2 { sim: self.clone() })
    }

    /// IAM over this world.
    pub fn iam(&self) -> Arc<dyn Iam> {
        Arc::new(SimIam { sim: self.clone() })
    }
}

impl AwsSim {
    /// The operator defaults `cygni run --aws-backend sim` would take from this world, for what
    /// of the playground's setup it holds (the cluster and load balancer `playground`, its 443
    /// and 8443 listeners, the default VPC), without making what it lacks: an empty world gives
    /// only the network.
    pub fn playground_defaults_found(&self) -> crate::config::OperatorDefaults {
        let world = self.lock();
        let cluster = world
            .ecs
            .clusters
            .iter()
            .find(|c| c.name == "playground")
            .map(|c| c.name.clone());
        let lb = world
            .elb
            .load_balancers
            .iter()
            .find(|l| l.name == "playground")
            .map(|l| l.arn.clone());
        let listener_on = |port: i32| {
            lb.as_ref().and_then(|lb| {
                world
                    .elb
                    .listeners
                    .iter()
                    .find(|l| &l.load_balancer_arn == lb && l.port == port)
                    .map(|l| l.arn.clone())
            })
        };
        let vpc = world.default_vpc();
        crate::config::OperatorDefaults {
            ecs_cluster: cluster,
            subnets: vpc.subnets.iter().map(|s| s.id.clone()).collect(),
            security_groups: vpc.security_groups.clone(),
            listener_arn: listener_on(443),
            preview_listener_arn: listener_on(8443),
            execution_role_arn: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::aws::SimConfig;

    #[tokio::test]
    async fn unknown_subnets_fail_the_call_naming_them_as_ec2_does() {
        let sim = AwsSim::new(SimConfig::default());
        let known = sim.network().subnets;
        let ok = sim.ec2().describe_subnets(&known).await.expect("known");
        assert_eq!(ok.len(), 2);
        assert_eq!(ok[1].availability_zone, "eu-west-1b");
        let error = sim
            .ec2()
            .describe_subnets(&[known[0].clone(), "subnet-123".to_string()])
            .await
            .unwrap_err();
        assert_eq!(error.code, "InvalidSubnetID.NotFound");
        assert_eq!(error.message, "The subnet ID 'subnet-123' does not exist");
        let error = sim
            .ec2()
            .describe_security_groups(&["sg-1".to_string(), "sg-2".to_string()])
            .await
            .unwrap_err();
        assert_eq!(
            error.message,
            "The security groups 'sg-1, sg-2' do not exist"
        );
    }

    #[tokio::test]
    async fn the_caller_is_the_operator_role_and_may_do_everything() {
        let sim = AwsSim::new(SimConfig::default());
        let me = sim.sts().get_caller_identity().await.expect("identity");
        assert_eq!(
            me.arn,
            "arn:aws:sts::123456789012:assumed-role/cygni-operator/cygni"
        );
        let answer = sim
            .iam()
            .simulate_principal_policy(&Simulation {
                principal_arn: "arn:aws:iam::123456789012:role/cygni-operator".into(),
                actions: vec!["ecs:CreateService".into()],
                resource_arns: Vec::new(),
                context: Vec::new(),
            })
            .await
            .expect("simulated");
        assert_eq!(answer[0].decision, Decision::Allowed);
    }
}
