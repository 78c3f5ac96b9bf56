//! Deterministic AWS names and tags for an App, derived from its namespace, name and UID, within
//! each service's naming rules. The same App always maps to the same names, so a create retried
//! after a crash finds the first resource instead of making a second (DESIGN.md principle 3).

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
    /// The `cygni.io/owner` tag value: `<namespace>/App/<name>`.
    pub fn owner(&self) -> String {
        format!("{}/App/{}", self.namespace, self.name)
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
        let digest = Sha256::digest(format!("{}/{slot:?}/{task_definition_arn}", self.uid));
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
