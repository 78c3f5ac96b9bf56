//! Deterministic names and tags derived from an App, within each system's naming rules: its AWS
//! resources (from its namespace, name and UID) and its Deployment objects and labels (from its
//! name). The same App always maps to the same names, so a create retried after a crash finds
//! the first resource instead of making a second; any legal App name (253 characters) in any
//! namespace (63) gives valid names, shortened with a hash where a limit is tighter.

use crate::api::AppTemplate;
use crate::api::app::SlotName;
use crate::aws::{OWNER_TAG, Tag, UID_TAG};
use sha2::{Digest, Sha256};

/// ECS task definition families and service names: at most 255 letters, digits, hyphens and
/// underscores.
const ECS_NAME_MAX: usize = 255;
/// ELBv2 target group names: at most 32 alphanumerics and hyphens, no hyphen at either end.
const TARGET_GROUP_NAME_MAX: usize = 32;
/// ECS CreateService client tokens: at most 36 ASCII characters.
const CLIENT_TOKEN_MAX: usize = 36;
/// ALB listener rule priorities.
const PRIORITY_MAX: i32 = 50_000;
/// Kubernetes object names (DNS subdomains).
const OBJECT_NAME_MAX: usize = 253;
/// Kubernetes label values.
const LABEL_VALUE_MAX: usize = 63;
/// AWS tag values (ECS and ELBv2).
const TAG_VALUE_MAX: usize = 256;
/// Hex characters of a hash that keep shortened names apart.
const HASH_LEN: usize = 8;

/// Who an App is, for naming and tagging.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppIdentity {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// UID.
    pub uid: String,
}

impl AppIdentity {
    /// The `cygni.io/owner` tag value: `<namespace>/App/<name>`, the name shortened (with a hash
    /// of it) when the whole would pass AWS's 256 characters. The UID tag identifies the App; this
    /// one tells a person whose resource it is.
    pub fn owner(&self) -> String {
        let prefix = format!("{}/App/", self.namespace);
        format!(
            "{prefix}{}",
            shorten(&self.name, TAG_VALUE_MAX - prefix.len())
        )
    }

    /// Tags put on every AWS resource of the App.
    pub fn tags(&self) -> Vec<Tag> {
        vec![
            Tag::new(OWNER_TAG, self.owner()),
            Tag::new(UID_TAG, &self.uid),
        ]
    }

    /// Whether tags mark a resource as this App's.
    pub fn owns(&self, tags: &[Tag]) -> bool {
        tags.iter().any(|t| t.key == UID_TAG && t.value == self.uid)
    }

    /// Eight hex characters of the UID: enough to tell Apps apart when names are truncated.
    fn short_uid(&self) -> String {
        hex(&Sha256::digest(self.uid.as_bytes()))[..8].to_string()
    }

    /// Task definition family: `<namespace>-<name>-<uid8>`.
    pub fn family(&self) -> String {
        let suffix = format!("-{}", self.short_uid());
        let stem = sanitize(&format!("{}-{}", self.namespace, self.name));
        format!("{}{suffix}", truncate(&stem, ECS_NAME_MAX - suffix.len()))
    }

    /// ECS service name of a slot: `<family>-a` or `<family>-b`.
    pub fn service_name(&self, slot: SlotName) -> String {
        let suffix = format!("-{}-{}", self.short_uid(), slot_letter(slot));
        let stem = sanitize(&format!("{}-{}", self.namespace, self.name));
        format!("{}{suffix}", truncate(&stem, ECS_NAME_MAX - suffix.len()))
    }

    /// Target group name of a slot: `<name>-<uid8>-a`, at most 32 characters.
    pub fn target_group_name(&self, slot: SlotName) -> String {
        let suffix = format!("-{}-{}", self.short_uid(), slot_letter(slot));
        let stem = sanitize(&self.name);
        let stem = truncate(&stem, TARGET_GROUP_NAME_MAX - suffix.len());
        let stem = stem.trim_matches('-');
        let stem = if stem.is_empty() { "app" } else { stem };
        format!("{stem}{suffix}")
    }

    /// Name of the container in the task definition.
    pub fn container_name(&self) -> String {
        "app".to_string()
    }

    /// Default CloudWatch Logs group: `/cygni/<namespace>/<name>`.
    pub fn log_group(&self) -> String {
        format!("/cygni/{}/{}", self.namespace, self.name)
    }

    /// Idempotency token for creating a slot's service with a given task definition.
    pub fn client_token(&self, slot: SlotName, task_definition_arn: &str) -> String {
        let digest = Sha256::digest(format!("{}/{slot}/{task_definition_arn}", self.uid));
        hex(&digest)[..CLIENT_TOKEN_MAX].to_string()
    }

    /// The listener rule priority the App prefers: derived from the UID so that Apps spread over
    /// the range; [`free_priority`] probes from here.
    pub fn preferred_priority(&self) -> i32 {
        let digest = Sha256::digest(self.uid.as_bytes());
        let n = u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]);
        // Keep the low 1000 priorities for rules people write by hand.
        1_000 + i32::try_from(n % u32::try_from(PRIORITY_MAX - 1_000).unwrap_or(1)).unwrap_or(0)
    }
}

/// The name of an App's Deployment for one revision: `<app>-<revision>`, or, when that would pass
/// 253 characters, the App's name shortened with a hash of it: `<app prefix>-<hash>-<revision>`.
pub fn deployment_name(app: &str, revision: i64) -> String {
    let suffix = format!("-{revision}");
    format!("{}{suffix}", shorten(app, OBJECT_NAME_MAX - suffix.len()))
}

/// The value of the `cygni.io/app` label on an App's Deployments: the App's name, or, past a
/// label's 63 characters, its name shortened with a hash of it. The App's Deployments are also
/// told apart by their owner reference, so two long names sharing a label never mix.
pub fn app_label(app: &str) -> String {
    shorten(app, LABEL_VALUE_MAX)
}

/// `text` if it has at most `max` characters, else its first characters, without a trailing `.`
/// or `-`, then `-` and a hash of the whole text: unique, deterministic, and still a valid DNS
/// subdomain, label value or tag when `text` is one.
fn shorten(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let hash = &hex(&Sha256::digest(text.as_bytes()))[..HASH_LEN];
    let mut keep = max.saturating_sub(HASH_LEN + 1).min(text.len());
    while !text.is_char_boundary(keep) {
        keep -= 1;
    }
    let stem = text[..keep].trim_end_matches(['.', '-']);
    format!("{stem}-{hash}")
}

/// The first priority at or after `preferred` (wrapping) that no other rule uses.
pub fn free_priority(preferred: i32, used: &[i32]) -> Option<i32> {
    let start = preferred.clamp(1, PRIORITY_MAX);
    (0..PRIORITY_MAX)
        .map(|offset| (start - 1 + offset) % PRIORITY_MAX + 1)
        .find(|p| !used.contains(p))
}

/// Hash of a template: the first 16 hex characters of the SHA-256 of its JSON form. Serde
/// serializes struct fields in declaration order, so equal templates hash equally.
pub fn template_hash(template: &AppTemplate) -> String {
    let json = serde_json::to_vec(template).unwrap_or_default();
    hex(&Sha256::digest(&json))[..16].to_string()
}

fn slot_letter(slot: SlotName) -> &'static str {
    match slot {
        SlotName::A => "a",
        SlotName::B => "b",
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Lowercase letters, digits and single hyphens; anything else becomes a hyphen.
fn sanitize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        let c = if c.is_ascii_alphanumeric() {
            c.to_ascii_lowercase()
        } else {
            '-'
        };
        if !(c == '-' && out.ends_with('-')) {
            out.push(c);
        }
    }
    out
}

fn truncate(text: &str, max: usize) -> &str {
    // `sanitize` output is ASCII, so byte slicing is safe.
    &text[..text.len().min(max)]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(namespace: &str, name: &str) -> AppIdentity {
        AppIdentity {
            namespace: namespace.into(),
            name: name.into(),
            uid: "6f1c2b1e-8f7e-4a43-9a4e-0d2c3b4a5f60".into(),
        }
    }

    #[test]
    fn names_are_stable_for_the_same_app() {
        assert_eq!(
            app("shop", "web").service_name(SlotName::A),
            app("shop", "web").service_name(SlotName::A)
        );
        assert_ne!(
            app("shop", "web").service_name(SlotName::A),
            app("shop", "web").service_name(SlotName::B)
        );
    }

    #[test]
    fn target_group_names_fit_elbv2_rules_even_for_long_names() {
        let long = app("ns", &"very-long-application-name-".repeat(9));
        for slot in [SlotName::A, SlotName::B] {
            let name = long.target_group_name(slot);
            assert!(name.len() <= 32, "{name}");
            assert!(!name.starts_with('-') && !name.ends_with('-'), "{name}");
            assert!(
                name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'),
                "{name}"
            );
        }
    }

    #[test]
    fn ecs_names_fit_255_characters() {
        let long = app(&"n".repeat(63), &"x".repeat(253));
        assert!(long.service_name(SlotName::B).len() <= 255);
        assert!(long.family().len() <= 255);
    }

    #[test]
    fn apps_with_the_same_name_in_other_namespaces_get_other_names_through_the_uid() {
        let mut other = app("shop", "web");
        other.uid = "11111111-2222-3333-4444-555555555555".into();
        assert_ne!(
            app("shop", "web").target_group_name(SlotName::A),
            other.target_group_name(SlotName::A)
        );
    }

    /// The longest legal names: a 63-character namespace and a 253-character App name.
    fn longest() -> AppIdentity {
        let name = format!("{}.{}", "a".repeat(126), "b-c".repeat(42));
        assert_eq!(name.len(), 253);
        app(&"n".repeat(63), &name)
    }

    fn is_dns_subdomain(name: &str) -> bool {
        name.len() <= 253
            && name.split('.').all(|label| {
                !label.is_empty()
                    && label
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                    && !label.starts_with('-')
                    && !label.ends_with('-')
            })
    }

    #[test]
    fn every_derived_name_is_valid_for_the_longest_legal_app() {
        let id = longest();
        for slot in [SlotName::A, SlotName::B] {
            let tg = id.target_group_name(slot);
            assert!(tg.len() <= 32, "{tg}");
            let service = id.service_name(slot);
            assert!(service.len() <= 255 && !service.contains('.'), "{service}");
        }
        assert!(id.family().len() <= 255);
        for tag in id.tags() {
            assert!(tag.value.len() <= 256, "{}: {}", tag.key, tag.value.len());
        }
        assert_eq!(id.owner().len(), 256);
        for revision in [1, 99, i64::from(i32::MAX)] {
            let name = deployment_name(&id.name, revision);
            assert!(is_dns_subdomain(&name), "{name}");
            assert!(name.ends_with(&format!("-{revision}")), "{name}");
        }
        let label = app_label(&id.name);
        assert!(label.len() <= 63, "{label}");
        assert!(
            label.starts_with(|c: char| c.is_ascii_alphanumeric())
                && label.ends_with(|c: char| c.is_ascii_alphanumeric()),
            "{label}"
        );
    }

    #[test]
    fn short_names_are_kept_as_they_are() {
        assert_eq!(deployment_name("web", 3), "web-3");
        assert_eq!(app_label("web"), "web");
        assert_eq!(app("shop", "web").owner(), "shop/App/web");
        let exact = "x".repeat(251);
        assert_eq!(deployment_name(&exact, 1), format!("{exact}-1"));
        assert_eq!(app_label(&"y".repeat(63)), "y".repeat(63));
    }

    #[test]
    fn long_names_that_share_a_prefix_stay_apart() {
        let a = format!("{}-one", "p".repeat(250));
        let b = format!("{}-two", "p".repeat(250));
        assert_ne!(deployment_name(&a, 1), deployment_name(&b, 1));
        assert_ne!(app_label(&a), app_label(&b));
        assert_ne!(app("ns", &a).owner(), app("ns", &b).owner());
    }

    #[test]
    fn client_token_fits_ecs_limit() {
        let token = app("shop", "web")
            .client_token(SlotName::A, "arn:aws:ecs:eu-west-1:1:task-definition/x:1");
        assert_eq!(token.len(), 36);
    }

    #[test]
    fn free_priority_skips_used_ones_and_wraps() {
        assert_eq!(free_priority(10, &[10, 11]), Some(12));
        assert_eq!(free_priority(50_000, &[50_000]), Some(1));
    }

    #[test]
    fn equal_templates_hash_equally_and_a_new_image_changes_the_hash() {
        let spec: crate::api::AppSpec =
            serde_json::from_value(serde_json::json!({"container": {"image": "web:1"}}))
                .expect("spec");
        let mut other = spec.clone();
        assert_eq!(
            template_hash(&spec.template()),
            template_hash(&other.template())
        );
        other.replicas = 9;
        assert_eq!(
            template_hash(&spec.template()),
            template_hash(&other.template()),
            "replicas are not part of it"
        );
        other.container.image = "web:2".into();
        assert_ne!(
            template_hash(&spec.template()),
            template_hash(&other.template())
        );
    }
}
