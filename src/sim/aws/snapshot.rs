//! A read-only copy of the whole simulated world, for assertions in tests and for the
//! playground's displays: what the APIs would return, plus what they hide (tasks, traffic).

use super::elbv2::ElbState;
use super::route53::DnsState;
use super::world::World;
use crate::aws::Tag;
use crate::aws::acm::Certificate;
use crate::aws::ecs::{Service, TaskDefinition};
use crate::aws::elbv2::{Listener, LoadBalancer, Rule, TargetGroup, TargetHealth, TargetState};
use crate::aws::route53::{ChangeInfo, ChangeStatus, HostedZone, RecordSet};
use jiff::Timestamp;

/// Everything in the simulated world at one instant.
#[derive(Clone, Debug, PartialEq)]
pub struct WorldSnapshot {
    /// Sim time of the snapshot.
    pub now: Timestamp,
    /// ECS clusters (ARNs).
    pub clusters: Vec<String>,
    /// Every task definition revision, ACTIVE and INACTIVE, by family then revision.
    pub task_definitions: Vec<TaskDefinition>,
    /// Services (including DRAINING and not yet forgotten INACTIVE ones) with their tasks.
    pub services: Vec<ServiceSnapshot>,
    /// Load balancers with their listeners.
    pub load_balancers: Vec<LoadBalancerSnapshot>,
    /// Target groups with their targets.
    pub target_groups: Vec<TargetGroupSnapshot>,
    /// Hosted zones with their records.
    pub zones: Vec<ZoneSnapshot>,
    /// Route53 changes not yet INSYNC.
    pub pending_changes: Vec<ChangeInfo>,
    /// ACM certificates (requested and imported).
    pub certificates: Vec<Certificate>,
    /// Current traffic per (target group, load balancer).
    pub traffic: Vec<TrafficSnapshot>,
    /// Scripted CloudWatch series.
    pub scripted_metrics: Vec<ScriptedMetricSnapshot>,
}

/// The identity of a scripted CloudWatch series.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScriptedMetricSnapshot {
    /// Namespace.
    pub namespace: String,
    /// Metric name.
    pub name: String,
    /// Dimensions (name, value), sorted.
    pub dimensions: Vec<(String, String)>,
}

/// A service as DescribeServices returns it, with its tasks.
#[derive(Clone, Debug, PartialEq)]
pub struct ServiceSnapshot {
    /// The service.
    pub service: Service,
    /// Its tasks, oldest first, stopped ones included for an hour.
    pub tasks: Vec<TaskSnapshot>,
}

/// One ECS task.
#[derive(Clone, Debug, PartialEq)]
pub struct TaskSnapshot {
    /// Task ARN.
    pub arn: String,
    /// Deployment that started it.
    pub deployment_id: String,
    /// Task definition it runs.
    pub task_definition_arn: String,
    /// Container image.
    pub image: String,
    /// Private IP (the target ID).
    pub ip: String,
    /// `lastStatus`: PROVISIONING, PENDING, RUNNING, DEACTIVATING or STOPPED.
    pub last_status: String,
    /// `desiredStatus`: RUNNING or STOPPED.
    pub desired_status: String,
    /// Why it stopped.
    pub stopped_reason: Option<String>,
    /// Its target's state in the service's target group, when registered.
    pub health: Option<TargetState>,
}

/// A load balancer with its listeners.
#[derive(Clone, Debug, PartialEq)]
pub struct LoadBalancerSnapshot {
    /// Name.
    pub name: String,
    /// As DescribeLoadBalancers returns it.
    pub load_balancer: LoadBalancer,
    /// Listeners.
    pub listeners: Vec<ListenerSnapshot>,
}

/// A listener with its rules and certificates.
#[derive(Clone, Debug, PartialEq)]
pub struct ListenerSnapshot {
    /// As DescribeListeners returns it.
    pub listener: Listener,
    /// Certificate ARNs, the default first.
    pub certificates: Vec<String>,
    /// Rules by priority, the default last.
    pub rules: Vec<Rule>,
}

/// A target group with its targets and tags.
#[derive(Clone, Debug, PartialEq)]
pub struct TargetGroupSnapshot {
    /// As DescribeTargetGroups returns it.
    pub target_group: TargetGroup,
    /// As DescribeTargetHealth returns them.
    pub targets: Vec<TargetHealth>,
    /// Tags.
    pub tags: Vec<Tag>,
}

/// A hosted zone with its records.
#[derive(Clone, Debug, PartialEq)]
pub struct ZoneSnapshot {
    /// The zone.
    pub zone: HostedZone,
    /// Records in ListResourceRecordSets order.
    pub records: Vec<RecordSet>,
}

/// Current traffic of one target group behind one load balancer.
#[derive(Clone, Debug, PartialEq)]
pub struct TrafficSnapshot {
    /// Target group ARN.
    pub target_group_arn: String,
    /// Load balancer ARN.
    pub load_balancer_arn: String,
    /// Requests per second its targets serve.
    pub requests_per_second: f64,
    /// Share of them answered with a target 5xx.
    pub error_rate: f64,
    /// Healthy targets.
    pub healthy_hosts: u32,
    /// Unhealthy targets.
    pub unhealthy_hosts: u32,
}

impl WorldSnapshot {
    /// The live service of that name (else the newest INACTIVE one).
    pub fn service(&self, name: &str) -> Option<&ServiceSnapshot> {
        self.services
            .iter()
            .find(|s| s.service.name == name && s.service.status != "INACTIVE")
            .or_else(|| self.services.iter().rev().find(|s| s.service.name == name))
    }

    /// The target group of that name.
    pub fn target_group(&self, name: &str) -> Option<&TargetGroupSnapshot> {
        self.target_groups
            .iter()
            .find(|t| t.target_group.name == name)
    }

    /// The (first) zone of that name, with or without the trailing dot.
    pub fn zone(&self, name: &str) -> Option<&ZoneSnapshot> {
        let name = super::route53::normalise(name);
        self.zones.iter().find(|z| z.zone.name == name)
    }

    /// The certificate with that ARN.
    pub fn certificate(&self, arn: &str) -> Option<&Certificate> {
        self.certificates.iter().find(|c| c.arn == arn)
    }

    /// The listener with that ARN.
    pub fn listener(&self, arn: &str) -> Option<&ListenerSnapshot> {
        self.load_balancers
            .iter()
            .flat_map(|l| l.listeners.iter())
            .find(|l| l.listener.arn == arn)
    }

    /// Current traffic of a target group (behind its first load balancer).
    pub fn traffic_of(&self, target_group_arn: &str) -> Option<&TrafficSnapshot> {
        self.traffic
            .iter()
            .find(|t| t.target_group_arn == target_group_arn)
    }
}

impl World {
    /// The snapshot at `self.now` (settle first).
    pub fn snapshot(&self) -> WorldSnapshot {
        let now = self.now;
        let task_definitions = self
            .ecs
            .families
            .values()
            .flat_map(|revs| revs.iter().map(|r| r.def.clone()))
            .collect();
        let services = self
            .ecs
            .services
            .iter()
            .map(|svc| ServiceSnapshot {
                service: self.describe_service(svc),
                tasks: svc
                    .tasks
                    .iter()
                    .map(|t| {
                        let health = if t.registered {
                            self.elb.target_group(&svc.target_group_arn).and_then(|tg| {
                                self.elb
                                    .describe_targets(tg, now)
                                    .into_iter()
                                    .find(|h| h.id == t.ip)
                                    .map(|h| h.state)
                            })
                        } else {
                            None
                        };
                        TaskSnapshot {
                            arn: t.arn.clone(),
                            deployment_id: t.deployment_id.clone(),
                            task_definition_arn: t.task_definition_arn.clone(),
                            image: t.image.clone(),
                            ip: t.ip.clone(),
                            last_status: t.status.as_str().to_string(),
                            desired_status: if t.desired_running {
                                "RUNNING"
                            } else {
                                "STOPPED"
                            }
                            .to_string(),
                            stopped_reason: t.stopped_reason.clone(),
                            health,
                        }
                    })
                    .collect(),
            })
            .collect();
        let load_balancers = self
            .elb
            .load_balancers
            .iter()
            .map(|lb| LoadBalancerSnapshot {
                name: lb.name.clone(),
                load_balancer: LoadBalancer {
                    arn: lb.arn.clone(),
                    dns_name: lb.dns_name.clone(),
                    canonical_hosted_zone_id: lb.zone_id.clone(),
                    vpc_id: lb.vpc_id.clone(),
                    dual_stack: lb.dual_stack,
                },
                listeners: self
                    .elb
                    .listeners
                    .iter()
                    .filter(|l| l.load_balancer_arn == lb.arn)
                    .map(|l| ListenerSnapshot {
                        listener: Listener {
                            arn: l.arn.clone(),
                            load_balancer_arn: l.load_balancer_arn.clone(),
                            port: l.port,
                            protocol: l.protocol.clone(),
                        },
                        certificates: ElbState::certificates_of(l),
                        rules: self
                            .elb
                            .rules_of(&l.arn)
                            .into_iter()
                            .map(ElbState::describe_rule)
                            .collect(),
                    })
                    .collect(),
            })
            .collect();
        let target_groups = self
            .elb
            .target_groups
            .values()
            .map(|tg| TargetGroupSnapshot {
                target_group: self.elb.describe_target_group(tg),
                targets: self.elb.describe_targets(tg, now),
                tags: tg.tags.clone(),
            })
            .collect();
        let zones = self
            .dns
            .zones
            .iter()
            .map(|z| ZoneSnapshot {
                zone: HostedZone {
                    id: z.id.clone(),
                    name: z.name.clone(),
                    private: z.private,
                },
                records: DnsState::sorted_records(z),
            })
            .collect();
        let pending_changes = self
            .dns
            .changes
            .iter()
            .filter(|c| self.dns.change_status(&c.id, now) == Some(ChangeStatus::Pending))
            .map(|c| ChangeInfo {
                id: c.id.clone(),
                status: ChangeStatus::Pending,
            })
            .collect();
        let certificates = self
            .acm
            .certificates
            .iter()
            .filter_map(|c| self.acm_describe_certificate(&c.arn).ok().flatten())
            .collect();
        let traffic = self
            .current_flows()
            .map(|((tg, lb), f)| TrafficSnapshot {
                target_group_arn: tg.clone(),
                load_balancer_arn: lb.clone(),
                requests_per_second: f.rps,
                error_rate: if f.rps > 0.0 { f.err_rps / f.rps } else { 0.0 },
                healthy_hosts: f.healthy_hosts,
                unhealthy_hosts: f.unhealthy_hosts,
            })
            .collect();
        WorldSnapshot {
            now,
            clusters: self.ecs.clusters.iter().map(|c| c.arn.clone()).collect(),
            task_definitions,
            services,
            load_balancers,
            target_groups,
            zones,
            pending_changes,
            certificates,
            traffic,
            scripted_metrics: self
                .metrics
                .scripted
                .iter()
                .map(|s| ScriptedMetricSnapshot {
                    namespace: s.namespace.clone(),
                    name: s.name.clone(),
                    dimensions: s.dimensions.clone(),
                })
                .collect(),
        }
    }
}
