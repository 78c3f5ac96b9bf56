//! Domain reconciler: observe -> claim -> certificate -> listener -> aliases -> report, and the
//! cleanup that undoes it in reverse.
//!
//! Each pass goes as far as AWS allows and requeues for what it waits on (never sleeping):
//! 1. the App, its HTTPS listener and load balancer, and the hosted zone (by id, by name, or
//!    the longest suffix of the hostname among the zones the operator may write to);
//! 2. the claim: an ownership TXT record per hostname (see [`crate::plan::domain`]); a name
//!    another Domain, external-dns or an unowned record holds is a `Conflict`, and nothing is
//!    written;
//! 3. the certificate: the one `spec.certificate.arn` names, or one the operator requests with
//!    every hostname on it, whose validation CNAMEs it writes; then it waits for `ISSUED`;
//! 4. the certificate on the App's listener, then alias A (and AAAA for a dual-stack load
//!    balancer) records to the load balancer, then their change `INSYNC`;
//! 5. only then `Ready=True`, which is when the App controller adds the hostnames to the App's
//!    listener rule: no request for a hostname reaches the App before its certificate serves
//!    and its records resolve.
//!
//! Route53 is read and written through [`super::zones::Zones`], shared by every Domain.

use super::validate;
use super::zones::Outcome;
use super::{Context, Error, failure, report};
use crate::api::conditions::{self, ConditionUpdate, Status, reason};
use crate::api::domain::{CertificateStatus as CertStatus, ChangeStatus as ChangeStat, DnsRecord};
use crate::api::{App, DeletionPolicy, Domain, DomainStatus, FINALIZER};
use crate::aws::acm::{Certificate, CertificateRequest, CertificateStatus};
use crate::aws::elbv2::{Listener, LoadBalancer};
use crate::aws::route53::{Change, ChangeAction, ChangeStatus, HostedZone, RecordType};
use crate::aws::{AwsErrorKind, OWNER_TAG, Tag, UID_TAG};
use crate::plan::domain::{self as plan, Claim, Claimant, ZoneRecords};
use kube::api::Api;
use kube::runtime::controller::Action;
use kube::runtime::finalizer::{Event as Finalizer, finalizer};
use kube::{Resource, ResourceExt};
use std::sync::Arc;
use std::time::Duration;

use super::events::EventType;

/// Kind name used in metrics and logs.
pub const KIND: &str = "Domain";

/// How soon a Domain whose App is missing is looked at again.
const APP_MISSING_RETRY: Duration = Duration::from_secs(30);
/// How soon a Domain waiting on its own change batch looks again.
const BATCH_WAIT: Duration = Duration::from_secs(1);
/// How soon a Domain waiting on ACM or on Route53 propagation looks again.
const SETTLE_WAIT: Duration = Duration::from_secs(3);

/// Reconciles one Domain.
pub async fn reconcile(domain: Arc<Domain>, ctx: Arc<Context>) -> Result<Action, Error> {
    let _timer = ctx.metrics.reconcile_started(KIND);
    let namespace = domain
        .namespace()
        .ok_or(Error::MissingMetadata("namespace"))?;
    let api: Api<Domain> = Api::namespaced(ctx.client.clone(), &namespace);
    let result = finalizer(&api, FINALIZER, domain.clone(), |event| async {
        match event {
            Finalizer::Apply(domain) => apply(&domain, &api, &ctx).await,
            Finalizer::Cleanup(domain) => cleanup(&domain, &api, &ctx).await,
        }
    })
    .await
    .map_err(|e| Error::Finalizer(Box::new(e)));
    failure::conclude(&api, domain.as_ref(), result, &ctx).await
}

/// Where a pass ended: the Ready condition it earned and when to look again.
struct Verdict {
    status: Status,
    reason: &'static str,
    message: String,
    requeue: Duration,
}

impl Verdict {
    fn waiting(reason: &'static str, message: impl Into<String>, requeue: Duration) -> Self {
        Verdict {
            status: Status::False,
            reason,
            message: message.into(),
            requeue,
        }
    }

    /// A refusal that only a change (of the spec, of AWS, of another object) can lift.
    fn refused(reason: &'static str, message: impl Into<String>, requeue: Duration) -> Self {
        Self::waiting(reason, message, requeue)
    }

    /// Whether the operator is still working towards Ready (as opposed to refusing).
    fn progressing(&self) -> bool {
        matches!(
            self.reason,
            reason::CLAIMING
                | reason::CERTIFICATE_PENDING
                | reason::RECORDS_PENDING
                | reason::PROPAGATING
        )
    }
}

/// Who this Domain is, to Route53 and ACM.
struct Identity {
    claimant: Claimant,
    /// Key of its change submissions.
    key: String,
    hostnames: Vec<String>,
}

fn identity(domain: &Domain, hostnames: Vec<String>, ctx: &Context) -> Result<Identity, Error> {
    let namespace = domain
        .namespace()
        .ok_or(Error::MissingMetadata("namespace"))?;
    let uid = domain.uid().ok_or(Error::MissingMetadata("uid"))?;
    let claimant = Claimant {
        owner: ctx.settings.policy.dns_owner_id.clone(),
        namespace: namespace.clone(),
        name: domain.name_any(),
        uid: uid.clone(),
    };
    Ok(Identity {
        key: format!("{namespace}/{}/{uid}", domain.name_any()),
        claimant,
        hostnames,
    })
}

async fn apply(cached: &Domain, api: &Api<Domain>, ctx: &Context) -> Result<Action, Error> {
    // Status is the memory of certificates requested: read it fresh, never from a lagging cache.
    let Some(domain) = api.get_opt(&cached.name_any()).await? else {
        return Ok(Action::await_change());
    };
    let valid = match validate::domain(&domain.spec, &ctx.settings.policy) {
        Ok(valid) => valid,
        Err(problems) => {
            report::invalid_spec(api, &domain, &problems, ctx).await?;
            return Ok(Action::await_change());
        }
    };
    let id = identity(&domain, valid.hostnames, ctx)?;
    let mut status = domain.status.clone().unwrap_or_default();
    // A hostname taken out of the spec stops being routed at once.
    status
        .routable_hostnames
        .retain(|h| id.hostnames.contains(h));
    let mut notices = Vec::new();
    let verdict = converge(&domain, &id, &mut status, &mut notices, ctx).await?;
    if verdict.status == Status::True {
        status.routable_hostnames = id.hostnames.clone();
    }
    let requeue = verdict.requeue;
    conclude(api, &domain, status, verdict, notices, ctx).await?;
    Ok(Action::requeue(requeue))
}

/// A milestone worth an Event of its own.
struct Milestone {
    reason: &'static str,
    note: String,
}

/// Writes the status and the Events of a pass: one Event per milestone, and one when the Ready
/// condition changes (a Warning when it refuses).
async fn conclude(
    api: &Api<Domain>,
    domain: &Domain,
    mut status: DomainStatus,
    verdict: Verdict,
    notices: Vec<Milestone>,
    ctx: &Context,
) -> Result<(), Error> {
    let generation = domain.metadata.generation;
    let now = ctx.clock.now();
    let progressing = verdict.progressing();
    let changed = conditions::set(
        &mut status.conditions,
        ConditionUpdate {
            type_: conditions::READY,
            status: verdict.status,
            reason: verdict.reason,
            message: verdict.message.clone(),
        },
        generation,
        now,
    );
    conditions::set(
        &mut status.conditions,
        ConditionUpdate {
            type_: conditions::PROGRESSING,
            status: if progressing {
                Status::True
            } else {
                Status::False
            },
            reason: if progressing {
                verdict.reason
            } else {
                reason::IDLE
            },
            message: if progressing {
                verdict.message.clone()
            } else {
                "nothing to do until the spec, the App or AWS changes".to_string()
            },
        },
        generation,
        now,
    );
    status.observed_generation = generation;
    report::patch_status(api, &domain.name_any(), domain.status.as_ref(), &status).await?;
    let object = domain.object_ref(&());
    for notice in notices {
        ctx.publish(
            &object,
            EventType::Normal,
            notice.reason,
            "Reconcile",
            notice.note,
        )
        .await;
    }
    if changed {
        let type_ = if verdict.status == Status::True || progressing {
            EventType::Normal
        } else {
            EventType::Warning
        };
        let reason = if verdict.status == Status::True {
            "Ready"
        } else {
            verdict.reason
        };
        ctx.publish(&object, type_, reason, "Reconcile", verdict.message)
            .await;
    }
    Ok(())
}

/// The App's listener ARN: its own, else the operator's default.
fn listener_of(app: &App, ctx: &Context) -> Option<String> {
    app.spec
        .routing
        .listener_arn
        .clone()
        .or_else(|| ctx.settings.defaults.listener_arn.clone())
}

fn aws(error: crate::aws::AwsError) -> Error {
    Error::Aws(error)
}

/// One pass towards Ready.
async fn converge(
    domain: &Domain,
    id: &Identity,
    status: &mut DomainStatus,
    notices: &mut Vec<Milestone>,
    ctx: &Context,
) -> Result<Verdict, Error> {
    let namespace = &id.claimant.namespace;
    let apps: Api<App> = Api::namespaced(ctx.client.clone(), namespace);
    let app_name = &domain.spec.app_ref.name;

    // 1. The App, its listener, the zone.
    let Some(app) = apps.get_opt(app_name).await? else {
        return Ok(Verdict::refused(
            reason::APP_NOT_FOUND,
            format!(
                "App {app_name} does not exist in this namespace; create it or fix spec.appRef.name"
            ),
            APP_MISSING_RETRY,
        ));
    };
    let Some(listener_arn) = listener_of(&app, ctx) else {
        return Ok(Verdict::refused(
            reason::NO_HTTPS_LISTENER,
            format!(
                "App {app_name} has no listener (spec.routing.listenerArn) and the operator has no default one"
            ),
            ctx.settings.resync(),
        ));
    };
    let Some((listener, load_balancer)) = ctx.listener(&listener_arn).await.map_err(aws)? else {
        return Ok(Verdict::refused(
            reason::NO_HTTPS_LISTENER,
            format!(
                "listener {listener_arn} of App {app_name} does not exist; fix the App's spec.routing.listenerArn"
            ),
            ctx.settings.resync(),
        ));
    };
    if !listener.protocol.eq_ignore_ascii_case("HTTPS") {
        return Ok(Verdict::refused(
            reason::NO_HTTPS_LISTENER,
            format!(
                "App {app_name} is on a {} listener (port {}), which cannot serve a certificate; point the App at an HTTPS listener with spec.routing.listenerArn",
                listener.protocol, listener.port
            ),
            ctx.settings.resync(),
        ));
    }
    // Another listener than the one the certificate was put on: nothing is routable there yet.
    if status
        .listener_arn
        .as_deref()
        .is_some_and(|arn| arn != listener.arn)
    {
        status.routable_hostnames.clear();
    }
    let zone = match resolve_zone(domain, id, ctx).await? {
        Ok(zone) => zone,
        Err(verdict) => return Ok(verdict),
    };
    status.hosted_zone_id = Some(zone.id.clone());
    status.hosted_zone_name = Some(zone.name.trim_end_matches('.').to_string());

    // 2. Our last batch, then the zone as it is now.
    if let Some(verdict) = last_batch(id, status, ctx)? {
        return Ok(verdict);
    }
    let records = ctx.zones.records(&zone.id).await.map_err(aws)?;
    let mut blockers = Vec::new();
    let mut claims = Vec::new();
    for host in &id.hostnames {
        match plan::claim_of(&records, host, &id.claimant) {
            Claim::Blocked(blocker) => blockers.push(blocker.describe(host)),
            Claim::Free => claims.push(Change {
                action: ChangeAction::Create,
                record: plan::owner_record(host, &id.claimant, domain.spec.ttl),
            }),
            Claim::Ours { record } => {
                let desired = plan::owner_record(host, &id.claimant, domain.spec.ttl);
                if !plan::same(&record, &desired) {
                    claims.push(Change {
                        action: ChangeAction::Upsert,
                        record: desired,
                    });
                }
            }
        }
    }
    if !blockers.is_empty() {
        status.records = owned_records(&records, id, status);
        return Ok(Verdict::refused(
            reason::CONFLICT,
            format!(
                "{}; nothing was written: remove the other claim or pick another hostname",
                blockers.join("; ")
            ),
            // A rival Domain's change or deletion wakes it sooner; a claim outside the
            // cluster's Domains is looked at again each resync.
            ctx.settings.resync(),
        ));
    }
    // Names this Domain served before and no longer does.
    let releases = releases(&records, id, status);
    if !claims.is_empty() || !releases.is_empty() {
        let mut changes = claims;
        changes.extend(releases);
        ctx.zones.submit(&zone.id, &id.key, changes);
        return Ok(Verdict::waiting(
            reason::CLAIMING,
            format!(
                "writing ownership records for {} in zone {}",
                id.hostnames.join(", "),
                zone.name.trim_end_matches('.')
            ),
            BATCH_WAIT,
        ));
    }

    // 3. The certificate, and its validation records.
    let certificate = match certificate(domain, id, status, notices, ctx).await? {
        Ok(certificate) => certificate,
        Err(verdict) => {
            status.records = owned_records(&records, id, status);
            return Ok(verdict);
        }
    };
    let mut validations = Vec::new();
    let mut missing = Vec::new();
    if status.certificate.as_ref().is_some_and(|c| c.managed)
        && certificate.status == CertificateStatus::PendingValidation
    {
        for v in &certificate.validations {
            match &v.record {
                Some(r) => {
                    validations.push(plan::validation_record(&r.name, &r.value, domain.spec.ttl))
                }
                None => missing.push(v.domain_name.clone()),
            }
        }
    }
    status.validation_records = certificate
        .validations
        .iter()
        .filter_map(|v| v.record.as_ref())
        .map(|r| DnsRecord {
            name: plan::fqdn(&r.name),
            type_: "CNAME".into(),
            value: Some(plan::fqdn(&r.value)),
        })
        .collect();
    status.validation_records.sort();
    status.validation_records.dedup();
    let writes: Vec<Change> = validations
        .iter()
        .filter(|r| plan::in_zone(&r.name, &zone.name))
        .filter_map(|r| plan::converge(&records, r.clone()))
        .collect();
    if !writes.is_empty() {
        ctx.zones.submit(&zone.id, &id.key, writes);
        status.records = owned_records(&records, id, status);
        return Ok(Verdict::waiting(
            reason::CERTIFICATE_PENDING,
            format!(
                "writing the validation records of certificate {}",
                certificate.arn
            ),
            BATCH_WAIT,
        ));
    }
    status.records = owned_records(&records, id, status);
    match certificate.status {
        CertificateStatus::Issued => {}
        CertificateStatus::PendingValidation if !missing.is_empty() => {
            return Ok(Verdict::waiting(
                reason::CERTIFICATE_PENDING,
                format!(
                    "waiting for ACM to give the validation records of certificate {} ({})",
                    certificate.arn,
                    missing.join(", ")
                ),
                SETTLE_WAIT,
            ));
        }
        CertificateStatus::PendingValidation => {
            return Ok(Verdict::waiting(
                reason::CERTIFICATE_PENDING,
                format!(
                    "certificate {} is PENDING_VALIDATION: ACM issues it once its validation records resolve",
                    certificate.arn
                ),
                SETTLE_WAIT,
            ));
        }
        other => {
            return Ok(Verdict::refused(
                reason::CERTIFICATE_FAILED,
                format!(
                    "certificate {} is {}; {}",
                    certificate.arn,
                    other.as_str(),
                    if status.certificate.as_ref().is_some_and(|c| c.managed) {
                        "delete and re-create the Domain to request a new one"
                    } else {
                        "give an issued certificate in spec.certificate.arn"
                    }
                ),
                ctx.settings.resync(),
            ));
        }
    }

    // 4. The certificate on the listener, then the aliases.
    let on_listener = ctx
        .listener_certificates(&listener.arn)
        .await
        .map_err(aws)?;
    if !on_listener.contains(&certificate.arn) {
        ctx.aws
            .elbv2
            .add_listener_certificate(&listener.arn, &certificate.arn)
            .await
            .map_err(aws)?;
        ctx.listener_certificate_changed(&listener.arn, &certificate.arn, true);
        notices.push(Milestone {
            reason: "CertificateAttached",
            note: format!(
                "attached certificate {} to listener {}",
                certificate.arn, listener.arn
            ),
        });
    }
    status.listener_arn = Some(listener.arn.clone());
    if let Some(c) = status.certificate.as_mut() {
        c.attached = true;
    }
    let aliases = alias_changes(&records, id, &load_balancer);
    if !aliases.is_empty() {
        ctx.zones.submit(&zone.id, &id.key, aliases);
        return Ok(Verdict::waiting(
            reason::RECORDS_PENDING,
            format!(
                "writing alias records for {} to load balancer {}",
                id.hostnames.join(", "),
                load_balancer.dns_name
            ),
            BATCH_WAIT,
        ));
    }

    // 5. Propagation, then the certificates this one replaced.
    if let Some(change) = status.change.as_mut()
        && change.status != "INSYNC"
    {
        match ctx.zones.change_status(&change.id).await.map_err(aws)? {
            ChangeStatus::InSync => change.status = "INSYNC".into(),
            ChangeStatus::Pending => {
                return Ok(Verdict::waiting(
                    reason::PROPAGATING,
                    format!(
                        "Route53 change {} is PENDING: the records are not yet on every Route53 server",
                        change.id
                    ),
                    SETTLE_WAIT,
                ));
            }
        }
    }
    retire_certificates(status, &listener, ctx).await?;
    let records_now = ctx.zones.records(&zone.id).await.map_err(aws)?;
    status.records = owned_records(&records_now, id, status);
    let expiry = status
        .certificate
        .as_ref()
        .and_then(|c| c.not_after.clone())
        .map(|t| format!(", valid until {t}"))
        .unwrap_or_default();
    Ok(Verdict {
        status: Status::True,
        reason: reason::AVAILABLE,
        message: format!(
            "{} resolve{} to load balancer {} with certificate {} (ISSUED{expiry}) on listener {}",
            id.hostnames.join(", "),
            if id.hostnames.len() == 1 { "s" } else { "" },
            load_balancer.dns_name,
            certificate.arn,
            listener.arn
        ),
        requeue: ctx.settings.resync(),
    })
}

/// The outcome of this Domain's last submitted batch: waiting while it is queued; its change
/// remembered once written; a refused batch is planned again from a fresh read of the zone.
fn last_batch(
    id: &Identity,
    status: &mut DomainStatus,
    ctx: &Context,
) -> Result<Option<Verdict>, Error> {
    match ctx.zones.outcome(&id.key) {
        None => Ok(None),
        Some(Outcome::Queued) => {
            // The condition already says what is being written; it stays as it is.
            let said = conditions::find(&status.conditions, conditions::READY)
                .filter(|c| {
                    c.status == "False"
                        && [
                            reason::CLAIMING,
                            reason::CERTIFICATE_PENDING,
                            reason::RECORDS_PENDING,
                        ]
                        .contains(&c.reason.as_str())
                })
                .map(|c| (c.reason.clone(), c.message.clone()));
            Ok(Some(match said {
                Some((r, message)) => Verdict::waiting(
                    [reason::CLAIMING, reason::CERTIFICATE_PENDING]
                        .into_iter()
                        .find(|known| *known == r)
                        .unwrap_or(reason::RECORDS_PENDING),
                    message,
                    BATCH_WAIT,
                ),
                None => Verdict::waiting(
                    reason::RECORDS_PENDING,
                    "waiting for the zone's next Route53 change batch",
                    BATCH_WAIT,
                ),
            }))
        }
        Some(Outcome::Written(info)) => {
            if status.change.as_ref().map(|c| &c.id) != Some(&info.id) {
                status.change = Some(ChangeStat {
                    id: info.id.clone(),
                    status: match info.status {
                        ChangeStatus::InSync => "INSYNC",
                        ChangeStatus::Pending => "PENDING",
                    }
                    .into(),
                });
            }
            Ok(None)
        }
        Some(Outcome::Failed(e)) if e.kind == AwsErrorKind::InvalidRequest => {
            tracing::info!(domain = %id.key, error = %e, "Route53 refused a change batch; planning again from a fresh read");
            Ok(None)
        }
        Some(Outcome::Failed(e)) => Err(aws(e)),
    }
}

/// The hostname a registry record name is for.
fn host_of_owner(name: &str) -> String {
    name.trim_start_matches(plan::OWNER_LABEL)
        .trim_start_matches('.')
        .trim_end_matches('.')
        .to_string()
}

/// The hosted zone of the Domain, or why there is none it may use.
async fn resolve_zone(
    domain: &Domain,
    id: &Identity,
    ctx: &Context,
) -> Result<Result<HostedZone, Verdict>, Error> {
    let policy = &ctx.settings.policy.allowed_hosted_zones;
    let allowed = |z: &HostedZone| {
        policy.is_empty() || policy.iter().any(|a| a == &z.id || plan::fqdn(a) == z.name)
    };
    let spec = domain.spec.hosted_zone.as_ref();
    let zone = if let Some(zone_id) = spec.and_then(|z| z.id.as_deref()) {
        let mut zones = ctx.zones.hosted_zones(false).await.map_err(aws)?;
        if !zones.iter().any(|z| z.id == zone_id) {
            zones = ctx.zones.hosted_zones(true).await.map_err(aws)?;
        }
        zones.into_iter().find(|z| z.id == zone_id)
    } else if let Some(name) = spec.and_then(|z| z.name.as_deref()) {
        ctx.zones
            .zones_named(name)
            .await
            .map_err(aws)?
            .into_iter()
            .filter(|z| !z.private)
            .min_by(|a, b| a.id.cmp(&b.id))
    } else {
        let host = plan::fqdn(&id.hostnames[0]);
        ctx.zones
            .hosted_zones(false)
            .await
            .map_err(aws)?
            .into_iter()
            .filter(|z| !z.private && plan::in_zone(&host, &z.name) && allowed(z))
            .max_by(|a, b| a.name.len().cmp(&b.name.len()).then(b.id.cmp(&a.id)))
    };
    let Some(zone) = zone else {
        let what = match spec {
            Some(z) => format!(
                "hosted zone {} does not exist in the account (or is private)",
                z.id.as_deref().or(z.name.as_deref()).unwrap_or_default()
            ),
            None => format!(
                "no public hosted zone{} holds {}",
                if policy.is_empty() {
                    String::new()
                } else {
                    format!(" the operator may write to ({})", policy.join(", "))
                },
                id.hostnames[0]
            ),
        };
        return Ok(Err(Verdict::refused(
            reason::HOSTED_ZONE_NOT_FOUND,
            format!("{what}; create it or fix spec.hostedZone"),
            ctx.settings.resync(),
        )));
    };
    if zone.private {
        return Ok(Err(Verdict::refused(
            reason::INVALID_SPEC,
            format!(
                "hosted zone {} ({}) is private: ACM cannot validate a certificate through it; name a public zone in spec.hostedZone",
                zone.name.trim_end_matches('.'),
                zone.id
            ),
            ctx.settings.resync(),
        )));
    }
    if !allowed(&zone) {
        return Ok(Err(Verdict::refused(
            reason::FORBIDDEN,
            format!(
                "hosted zone {} ({}) is not among the zones the operator may write to ({}); ask the platform team to allow it",
                zone.name.trim_end_matches('.'),
                zone.id,
                policy.join(", ")
            ),
            ctx.settings.resync(),
        )));
    }
    let outside: Vec<&String> = id
        .hostnames
        .iter()
        .filter(|h| !plan::in_zone(&plan::fqdn(h), &zone.name))
        .collect();
    if !outside.is_empty() {
        return Ok(Err(Verdict::refused(
            reason::INVALID_SPEC,
            format!(
                "{} not in hosted zone {}: every hostname and alias of a Domain must be in its zone; move them to another Domain",
                outside
                    .iter()
                    .map(|h| h.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                zone.name.trim_end_matches('.')
            ),
            ctx.settings.resync(),
        )));
    }
    Ok(Ok(zone))
}

/// The idempotency token of the certificate for these names: the same Domain and names give the
/// same token (so a request retried after a crash returns the first certificate), other names
/// another one.
fn certificate_token(uid: &str, names: &[String]) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("{uid}/{}", names.join(",")));
    // RequestCertificate takes 1-32 word characters.
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
}

fn same_names(certificate: &Certificate, hostnames: &[String]) -> bool {
    let mut have: Vec<String> = certificate
        .subject_alternative_names
        .iter()
        .map(|n| n.to_ascii_lowercase())
        .collect();
    let mut want: Vec<String> = hostnames.to_vec();
    have.sort();
    have.dedup();
    want.sort();
    have == want
}

/// The certificate that serves the Domain: the one the spec names (checked), else the one the
/// operator requested for exactly these names (requested, adopted or replaced as needed).
async fn certificate(
    domain: &Domain,
    id: &Identity,
    status: &mut DomainStatus,
    notices: &mut Vec<Milestone>,
    ctx: &Context,
) -> Result<Result<Certificate, Verdict>, Error> {
    let acm = &ctx.aws.acm;
    if let Some(arn) = domain
        .spec
        .certificate
        .as_ref()
        .and_then(|c| c.arn.as_deref())
    {
        // A managed certificate from before the spec named one is retired.
        if let Some(old) = status.certificate.take_if(|c| c.managed && c.arn != arn) {
            status.retired_certificates.push(old.arn);
        }
        let Some(certificate) = ctx.certificate(arn).await.map_err(aws)? else {
            return Ok(Err(Verdict::refused(
                reason::CERTIFICATE_NOT_FOUND,
                format!(
                    "certificate {arn} does not exist in ACM; fix spec.certificate.arn or remove it to have one requested"
                ),
                ctx.settings.resync(),
            )));
        };
        let uncovered: Vec<&String> = id
            .hostnames
            .iter()
            .filter(|h| {
                !certificate
                    .subject_alternative_names
                    .iter()
                    .any(|n| plan::covers(n, h))
            })
            .collect();
        if !uncovered.is_empty() {
            return Ok(Err(Verdict::refused(
                reason::CERTIFICATE_MISMATCH,
                format!(
                    "certificate {arn} covers {} but not {}; give a certificate for every hostname in spec.certificate.arn",
                    certificate.subject_alternative_names.join(", "),
                    uncovered
                        .iter()
                        .map(|h| h.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                ctx.settings.resync(),
            )));
        }
        record_certificate(status, &certificate, false);
        return Ok(Ok(certificate));
    }

    let current = match status.certificate.as_ref().filter(|c| c.managed) {
        Some(c) => ctx.certificate(&c.arn).await.map_err(aws)?,
        None => adopt(id, ctx).await?,
    };
    let certificate = match current {
        Some(c) if same_names(&c, &id.hostnames) => c,
        previous => {
            if let Some(previous) = previous {
                status.retired_certificates.push(previous.arn);
            }
            let (namespace, name) = (&id.claimant.namespace, &id.claimant.name);
            let request = CertificateRequest {
                domain_name: id.hostnames[0].clone(),
                subject_alternative_names: id.hostnames[1..].to_vec(),
                idempotency_token: certificate_token(&id.claimant.uid, &id.hostnames),
                tags: vec![
                    Tag::new(OWNER_TAG, format!("{namespace}/Domain/{name}")),
                    Tag::new(UID_TAG, id.claimant.uid.clone()),
                ],
            };
            let arn = acm.request_certificate(&request).await.map_err(aws)?;
            notices.push(Milestone {
                reason: "CertificateRequested",
                note: format!(
                    "requested certificate {arn} for {} with DNS validation",
                    id.hostnames.join(", ")
                ),
            });
            match acm.describe_certificate(&arn).await.map_err(aws)? {
                Some(c) => c,
                None => return Err(Error::Missing("certificate just requested")),
            }
        }
    };
    status
        .retired_certificates
        .retain(|a| *a != certificate.arn);
    record_certificate(status, &certificate, true);
    Ok(Ok(certificate))
}

/// A certificate the operator requested for this Domain whose ARN the status lost (it is
/// tagged with the Domain's UID).
async fn adopt(id: &Identity, ctx: &Context) -> Result<Option<Certificate>, Error> {
    let acm = &ctx.aws.acm;
    for summary in acm.list_certificates(&id.hostnames[0]).await.map_err(aws)? {
        let tags = acm.list_tags(&summary.arn).await.map_err(aws)?;
        if tags
            .iter()
            .any(|t| t.key == UID_TAG && t.value == id.claimant.uid)
        {
            return acm.describe_certificate(&summary.arn).await.map_err(aws);
        }
    }
    Ok(None)
}

fn record_certificate(status: &mut DomainStatus, certificate: &Certificate, managed: bool) {
    let attached = status
        .certificate
        .as_ref()
        .is_some_and(|c| c.arn == certificate.arn && c.attached);
    status.certificate = Some(CertStatus {
        arn: certificate.arn.clone(),
        status: certificate.status.as_str().to_string(),
        managed,
        not_after: certificate
            .not_after
            .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()),
        attached,
    });
}

/// Alias changes for every hostname: A (and AAAA when the load balancer is dual-stack) to it,
/// and an AAAA record of ours removed when it no longer is.
fn alias_changes(records: &ZoneRecords, id: &Identity, lb: &LoadBalancer) -> Vec<Change> {
    let mut changes = Vec::new();
    for host in &id.hostnames {
        for desired in plan::alias_records(
            host,
            &lb.dns_name,
            &lb.canonical_hosted_zone_id,
            lb.dual_stack,
        ) {
            changes.extend(plan::converge(records, desired));
        }
        if !lb.dual_stack {
            changes.extend(plan::delete(records, host, RecordType::Aaaa));
        }
    }
    changes
}

/// Deletions of what this Domain owns under names it no longer serves: their aliases, their
/// validation records, their ownership records.
fn releases(records: &ZoneRecords, id: &Identity, status: &DomainStatus) -> Vec<Change> {
    let served: Vec<String> = id.hostnames.iter().map(|h| plan::fqdn(h)).collect();
    let mut changes = Vec::new();
    for ((name, type_), record) in records.iter() {
        if *type_ != RecordType::Txt || !name.starts_with(&format!("{}.", plan::OWNER_LABEL)) {
            continue;
        }
        let host = plan::fqdn(&host_of_owner(name));
        let ours = record
            .values
            .iter()
            .filter_map(|v| Claimant::parse(v))
            .any(|c| c.same_domain(&id.claimant));
        if !ours || served.contains(&host) {
            continue;
        }
        changes.extend(owned_under(records, &host, status));
        changes.push(Change {
            action: ChangeAction::Delete,
            record: record.clone(),
        });
    }
    changes
}

/// Deletions of the aliases and validation records this Domain wrote at `host`.
fn owned_under(records: &ZoneRecords, host: &str, status: &DomainStatus) -> Vec<Change> {
    let mut changes = Vec::new();
    changes.extend(plan::delete(records, host, RecordType::A));
    changes.extend(plan::delete(records, host, RecordType::Aaaa));
    for written in status.records.iter().filter(|r| r.type_ == "CNAME") {
        let name = plan::fqdn(&written.name);
        if name.split_once('.').is_some_and(|(_, rest)| rest == host) {
            changes.extend(plan::delete(records, &name, RecordType::Cname));
        }
    }
    changes
}

/// The records this Domain owns in the zone now, for its status.
fn owned_records(records: &ZoneRecords, id: &Identity, status: &DomainStatus) -> Vec<DnsRecord> {
    let mut owned = Vec::new();
    let validations: Vec<String> = status
        .validation_records
        .iter()
        .map(|r| plan::fqdn(&r.name))
        .collect();
    for host in &id.hostnames {
        if !matches!(
            plan::claim_of(records, host, &id.claimant),
            Claim::Ours { .. }
        ) {
            continue;
        }
        let host = plan::fqdn(host);
        for ((name, type_), record) in records.range((host.clone(), RecordType::A)..) {
            if *name != host {
                break;
            }
            if matches!(type_, RecordType::A | RecordType::Aaaa) {
                owned.push(describe_record(record));
            }
        }
        if let Some(r) = records.get(&(plan::owner_record_name(&host), RecordType::Txt)) {
            owned.push(describe_record(r));
        }
        for name in validations
            .iter()
            .filter(|n| n.split_once('.').is_some_and(|(_, rest)| rest == host))
        {
            if let Some(r) = records.get(&(name.clone(), RecordType::Cname)) {
                owned.push(describe_record(r));
            }
        }
    }
    owned.sort();
    owned
}

fn describe_record(record: &crate::aws::route53::RecordSet) -> DnsRecord {
    DnsRecord {
        name: record.name.clone(),
        type_: record.type_.as_str().to_string(),
        value: record
            .alias
            .as_ref()
            .map(|a| a.dns_name.clone())
            .or_else(|| record.values.first().cloned()),
    }
}

/// Removes the certificates an earlier set of hostnames needed from the listener and deletes
/// them; one ACM still sees in use waits for the next pass.
async fn retire_certificates(
    status: &mut DomainStatus,
    listener: &Listener,
    ctx: &Context,
) -> Result<(), Error> {
    let mut kept = Vec::new();
    for arn in std::mem::take(&mut status.retired_certificates) {
        ctx.aws
            .elbv2
            .remove_listener_certificate(&listener.arn, &arn)
            .await
            .map_err(aws)?;
        ctx.listener_certificate_changed(&listener.arn, &arn, false);
        match ctx.aws.acm.delete_certificate(&arn).await {
            Ok(()) => {}
            Err(e) if e.kind == AwsErrorKind::InUse => kept.push(arn),
            Err(e) => return Err(aws(e)),
        }
    }
    status.retired_certificates = kept;
    Ok(())
}

/// Undoes what the Domain made, in reverse: its hostnames leave the App's rule first, then its
/// records, its certificate on the listener, and the certificate the operator requested.
async fn cleanup(cached: &Domain, api: &Api<Domain>, ctx: &Context) -> Result<Action, Error> {
    let domain = api
        .get_opt(&cached.name_any())
        .await?
        .unwrap_or_else(|| cached.clone());
    if domain.spec.deletion_policy == DeletionPolicy::Retain {
        ctx.publish(
            &domain.object_ref(&()),
            EventType::Normal,
            "Retained",
            "Delete",
            "deletionPolicy is Retain: the Domain's records and certificate are left in place"
                .to_string(),
        )
        .await;
        return Ok(Action::await_change());
    }
    let hostnames: Vec<String> = std::iter::once(&domain.spec.hostname)
        .chain(&domain.spec.aliases)
        .map(|h| h.trim_end_matches('.').to_ascii_lowercase())
        .collect();
    let id = identity(&domain, hostnames, ctx)?;
    let mut status = domain.status.clone().unwrap_or_default();
    let wait = |what: String, retry: Duration| Error::Waiting { what, retry };

    // The App stops routing the hostnames this Domain holds (it ignores a Domain being
    // deleted). A name the Domain never held (it lost a conflict) or the App lists in its own
    // spec.routing.hosts is routed for another reason: not waited for.
    if status.certificate.as_ref().is_some_and(|c| c.attached)
        && let Some((hosts, own)) = routed_hosts(&domain, ctx).await?
        && let Some(host) = id
            .hostnames
            .iter()
            .find(|h| hosts.contains(*h) && !own.contains(*h))
    {
        let what = format!(
            "App {} still routes {host}; waiting for it to leave the App's listener rule",
            domain.spec.app_ref.name
        );
        deleting(api, &domain, &mut status, &what, ctx).await?;
        return Err(wait(what, BATCH_WAIT));
    }

    if let Some(zone_id) = status.hosted_zone_id.clone() {
        match ctx.zones.outcome(&id.key) {
            Some(Outcome::Queued) => {
                return Err(wait(
                    "waiting for the zone's next Route53 change batch".into(),
                    BATCH_WAIT,
                ));
            }
            Some(Outcome::Failed(e)) if e.kind != AwsErrorKind::InvalidRequest => {
                return Err(aws(e));
            }
            _ => {}
        }
        let records = match ctx.zones.records(&zone_id).await {
            Ok(records) => records,
            Err(e) if e.kind == AwsErrorKind::NotFound => Arc::new(ZoneRecords::new()),
            Err(e) => return Err(aws(e)),
        };
        let mut changes = Vec::new();
        for host in &id.hostnames {
            if let Claim::Ours { record } = plan::claim_of(&records, host, &id.claimant) {
                changes.extend(owned_under(&records, &plan::fqdn(host), &status));
                changes.push(Change {
                    action: ChangeAction::Delete,
                    record,
                });
            }
        }
        if !changes.is_empty() {
            let what = format!(
                "deleting the records of {} from zone {zone_id}",
                id.hostnames.join(", ")
            );
            ctx.zones.submit(&zone_id, &id.key, changes);
            deleting(api, &domain, &mut status, &what, ctx).await?;
            return Err(wait(what, BATCH_WAIT));
        }
    }

    // The certificate comes off the listener unless another Domain there still serves it (one
    // named in several Domains' spec.certificate.arn, a shared wildcard for instance).
    let mut managed = status.retired_certificates.clone();
    managed.extend(
        status
            .certificate
            .as_ref()
            .filter(|c| c.managed)
            .map(|c| c.arn.clone()),
    );
    let mut detach = managed.clone();
    if let Some(c) = status.certificate.as_ref().filter(|c| !c.managed)
        && !shared(&domain, &c.arn, ctx).await?
    {
        detach.push(c.arn.clone());
    }
    if let Some(listener) = status.listener_arn.as_deref() {
        for arn in &detach {
            ctx.aws
                .elbv2
                .remove_listener_certificate(listener, arn)
                .await
                .map_err(aws)?;
            ctx.listener_certificate_changed(listener, arn, false);
        }
    }
    for arn in &managed {
        match ctx.aws.acm.delete_certificate(arn).await {
            Ok(()) => {}
            Err(e) if e.kind == AwsErrorKind::InUse => {
                let what = format!(
                    "certificate {arn} is still in use according to ACM; deleting it once the listener change has settled"
                );
                deleting(api, &domain, &mut status, &what, ctx).await?;
                return Err(wait(what, SETTLE_WAIT));
            }
            Err(e) => return Err(aws(e)),
        }
    }
    ctx.zones.forget(&id.key);
    tracing::info!(domain = %id.key, "deleted the Domain's records and certificate");
    Ok(Action::await_change())
}

/// Whether another Domain, not being deleted, serves `arn` on the same listener.
async fn shared(domain: &Domain, arn: &str, ctx: &Context) -> Result<bool, Error> {
    let all: Api<Domain> = Api::all(ctx.client.clone());
    let listener = domain
        .status
        .as_ref()
        .and_then(|s| s.listener_arn.as_deref());
    Ok(all
        .list(&kube::api::ListParams::default())
        .await?
        .items
        .iter()
        .filter(|d| d.uid() != domain.uid() && d.metadata.deletion_timestamp.is_none())
        .filter_map(|d| d.status.as_ref())
        .any(|s| {
            s.listener_arn.as_deref() == listener
                && s.certificate
                    .as_ref()
                    .is_some_and(|c| c.arn == arn && c.attached)
        }))
}

/// Reports the deletion's progress on the Domain.
async fn deleting(
    api: &Api<Domain>,
    domain: &Domain,
    status: &mut DomainStatus,
    what: &str,
    ctx: &Context,
) -> Result<(), Error> {
    conditions::set(
        &mut status.conditions,
        ConditionUpdate {
            type_: conditions::READY,
            status: Status::False,
            reason: reason::DELETING,
            message: what.to_string(),
        },
        domain.metadata.generation,
        ctx.clock.now(),
    );
    report::patch_status(api, &domain.name_any(), domain.status.as_ref(), status).await?;
    Ok(())
}

/// The hosts the App's listener rule matches, as read back from the listener, and the hosts of
/// the App's own spec; `None` when the App or its rule is gone.
async fn routed_hosts(
    domain: &Domain,
    ctx: &Context,
) -> Result<Option<(Vec<String>, Vec<String>)>, Error> {
    let namespace = domain.namespace().unwrap_or_default();
    let apps: Api<App> = Api::namespaced(ctx.client.clone(), &namespace);
    let Some(app) = apps.get_opt(&domain.spec.app_ref.name).await? else {
        return Ok(None);
    };
    let Some(rule_arn) = app
        .status
        .as_ref()
        .and_then(|s| s.listener_rule_arn.clone())
    else {
        return Ok(None);
    };
    let Some(listener) = listener_of(&app, ctx) else {
        return Ok(None);
    };
    let rules = match ctx.aws.elbv2.describe_rules(&listener).await {
        Ok(rules) => rules,
        Err(e) if e.kind == AwsErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(aws(e)),
    };
    let own: Vec<String> = app
        .spec
        .routing
        .hosts
        .iter()
        .map(|h| h.trim_end_matches('.').to_ascii_lowercase())
        .collect();
    Ok(rules.into_iter().find(|r| r.arn == rule_arn).map(|r| {
        let routed = r
            .conditions
            .host_headers
            .iter()
            .map(|h| h.to_ascii_lowercase())
            .collect();
        (routed, own)
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_certificate_token_is_a_word_of_32_characters_that_changes_with_the_names() {
        let a = certificate_token("uid-1", &["shop.example.com".into()]);
        let b = certificate_token(
            "uid-1",
            &["shop.example.com".into(), "www.shop.example.com".into()],
        );
        assert_eq!(a.len(), 32);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a, b);
        assert_eq!(a, certificate_token("uid-1", &["shop.example.com".into()]));
    }

    #[test]
    fn the_host_of_an_ownership_record_is_the_name_below_the_label() {
        assert_eq!(
            host_of_owner("_cygni-owner.shop.example.com."),
            "shop.example.com"
        );
    }
}
