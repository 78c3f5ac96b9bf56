//! Conformance of the Kubernetes API simulator (`cygni::sim::kube`): each test starts a server on
//! a free loopback port and drives it the way the operator (kube client, kube-runtime) and a
//! person (the real kubectl in `.tools/bin`) do, one behaviour per test.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use futures::{AsyncBufReadExt, StreamExt, TryStreamExt};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Event as CoreEvent, Namespace, Secret};
use k8s_openapi::api::events::v1::Event as EventsV1;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams,
    PropagationPolicy, WatchEvent, WatchParams,
};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, Resource, ResourceExt};
use serde_json::{Value, json};

use cygni::api::{App, Domain};
use cygni::sim::kube::{ApiServer, RunningServer};

// ---------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------

/// A running simulator with the project's CRDs installed, and a client for it.
struct Cluster {
    running: RunningServer,
    client: Client,
}

impl Cluster {
    async fn start() -> Self {
        Self::start_with(ApiServer::new()).await
    }

    async fn start_with(server: ApiServer) -> Self {
        for crd in cygni::api::crd::all() {
            server
                .install_crd(&crd)
                .expect("the project's CRDs install");
        }
        Self::serve(server).await
    }

    /// A server without CRDs (kubectl installs them).
    async fn bare() -> Self {
        Self::serve(ApiServer::new()).await
    }

    async fn serve(server: ApiServer) -> Self {
        let running = server
            .serve("127.0.0.1:0".parse().expect("loopback address"))
            .await
            .expect("the simulator binds a free port");
        let client = running.client();
        Self { running, client }
    }

    fn apps(&self) -> Api<App> {
        Api::namespaced(self.client.clone(), "default")
    }

    fn dynamic_apps(&self) -> Api<DynamicObject> {
        Api::namespaced_with(
            self.client.clone(),
            "default",
            &ApiResource::erase::<App>(&()),
        )
    }

    fn config_maps(&self) -> Api<ConfigMap> {
        Api::namespaced(self.client.clone(), "default")
    }

    /// A raw request: status code, headers and JSON body (Null when not JSON).
    async fn raw(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Value>,
    ) -> (u16, axum::http::HeaderMap, Value) {
        let mut request = axum::http::Request::builder().method(method).uri(path);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let body = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
        let response = self
            .client
            .send(
                request
                    .body(kube::client::Body::from(body))
                    .expect("request builds"),
            )
            .await
            .expect("the simulator answers");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response
            .into_body()
            .collect_bytes()
            .await
            .expect("body reads");
        (
            status,
            headers,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    async fn get_json(&self, path: &str) -> Value {
        let (status, _, body) = self.raw("GET", path, &[], None).await;
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }
}

/// An App manifest with the given name and image.
fn app_json(name: &str, image: &str) -> Value {
    json!({
        "apiVersion": "cygni.io/v1alpha1",
        "kind": "App",
        "metadata": {"name": name},
        "spec": {"container": {"image": image}},
    })
}

fn app(name: &str, image: &str) -> App {
    serde_json::from_value(app_json(name, image)).expect("an App from JSON")
}

fn dynamic(value: Value) -> DynamicObject {
    serde_json::from_value(value).expect("a DynamicObject from JSON")
}

fn config_map(name: &str, data: Value) -> ConfigMap {
    serde_json::from_value(json!({"metadata": {"name": name}, "data": data})).expect("ConfigMap")
}

/// The `Status` of a failed kube call.
fn status_of<T: std::fmt::Debug>(result: Result<T, kube::Error>) -> kube::core::Status {
    match result {
        Err(kube::Error::Api(status)) => *status,
        other => panic!("expected an API error Status, got {other:?}"),
    }
}

async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..100 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting until {what}");
}

async fn gone<K>(api: Api<K>, name: &str) -> bool
where
    K: Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    matches!(api.get_opt(name).await, Ok(None))
}

// ---------------------------------------------------------------------------------------------
// 1. Discovery and OpenAPI
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn discovery_lists_groups_versions_and_resources_with_names_verbs_and_categories() {
    let cluster = Cluster::start().await;
    let version = cluster.get_json("/version").await;
    assert_eq!(version["major"], "1");
    let api = cluster.get_json("/api").await;
    assert_eq!(api["versions"], json!(["v1"]));
    let groups = cluster.get_json("/apis").await;
    let names: Vec<&str> = groups["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .map(|g| g["name"].as_str().expect("name"))
        .collect();
    for group in [
        "cygni.io",
        "events.k8s.io",
        "coordination.k8s.io",
        "apiextensions.k8s.io",
    ] {
        assert!(names.contains(&group), "{group} in {names:?}");
    }
    let group = cluster.get_json("/apis/cygni.io").await;
    assert_eq!(group["preferredVersion"]["version"], "v1alpha1");
    let list = cluster.get_json("/apis/cygni.io/v1alpha1").await;
    let apps = list["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .find(|r| r["name"] == "apps")
        .expect("apps listed");
    assert_eq!(apps["kind"], "App");
    assert_eq!(apps["singularName"], "app");
    assert_eq!(apps["namespaced"], true);
    assert_eq!(apps["shortNames"], json!(["cxapp"]));
    assert_eq!(apps["categories"], json!(["cygni"]));
    assert!(
        apps["verbs"]
            .as_array()
            .expect("verbs")
            .contains(&json!("watch"))
    );
    assert!(
        list["resources"]
            .as_array()
            .expect("resources")
            .iter()
            .any(|r| r["name"] == "apps/status")
    );
    let core = cluster.get_json("/api/v1").await;
    assert!(
        core["resources"]
            .as_array()
            .expect("core")
            .iter()
            .any(|r| r["name"] == "configmaps" && r["shortNames"] == json!(["cm"]))
    );

    // kube's own discovery walks the same documents.
    let discovery = kube::discovery::Discovery::new(cluster.client.clone())
        .run()
        .await
        .expect("kube discovery runs");
    assert!(discovery.has_group("cygni.io"));
}

#[tokio::test]
async fn aggregated_discovery_answers_the_accept_header_kubectl_sends_first() {
    let cluster = Cluster::start().await;
    let accept = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";
    let (status, headers, body) = cluster
        .raw("GET", "/apis", &[("Accept", accept)], None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        headers["content-type"],
        "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
    );
    assert_eq!(body["kind"], "APIGroupDiscoveryList");
    let cygni = body["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|i| i["metadata"]["name"] == "cygni.io")
        .expect("cygni.io group");
    let apps = cygni["versions"][0]["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .find(|r| r["resource"] == "apps")
        .expect("apps");
    assert_eq!(apps["scope"], "Namespaced");
    assert_eq!(apps["responseKind"]["kind"], "App");
    assert_eq!(apps["subresources"][0]["subresource"], "status");
    let (_, headers, core) = cluster
        .raw("GET", "/api", &[("Accept", accept)], None)
        .await;
    assert!(
        headers["content-type"]
            .to_str()
            .expect("ascii")
            .contains("as=APIGroupDiscoveryList")
    );
    assert_eq!(core["items"][0]["metadata"]["name"], "");
}

#[tokio::test]
async fn openapi_v3_serves_crd_schemas_and_built_in_kinds() {
    let cluster = Cluster::start().await;
    let index = cluster.get_json("/openapi/v3").await;
    let url = index["paths"]["apis/cygni.io/v1alpha1"]["serverRelativeURL"]
        .as_str()
        .expect("the cygni group version is indexed");
    let document = cluster.get_json(url).await;
    let app = &document["components"]["schemas"]["io.cygni.v1alpha1.App"];
    assert!(
        app["properties"]["spec"]["properties"]["container"]["properties"]["image"]["description"]
            .is_string()
    );
    assert_eq!(app["x-kubernetes-group-version-kind"][0]["kind"], "App");
    let core_url = index["paths"]["api/v1"]["serverRelativeURL"]
        .as_str()
        .expect("core indexed");
    let core = cluster.get_json(core_url).await;
    assert!(core["components"]["schemas"]["io.k8s.api.core.v1.ConfigMap"].is_object());
    let v2 = cluster.get_json("/openapi/v2").await;
    assert!(v2["definitions"]["io.cygni.v1alpha1.App"].is_object());
}

#[tokio::test]
async fn a_created_crd_is_established_and_served_at_once() {
    let cluster = Cluster::bare().await;
    let crds: Api<CustomResourceDefinition> = Api::all(cluster.client.clone());
    let widget: CustomResourceDefinition = serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com",
            "scope": "Cluster",
            "names": {"plural": "widgets", "kind": "Widget"},
            "versions": [{"name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                    "spec": {"type": "object", "properties": {"size": {"type": "integer"}}}}}}}],
        },
    }))
    .expect("CRD");
    let created = crds
        .create(&PostParams::default(), &widget)
        .await
        .expect("CRD created");
    let status = created.status.expect("status filled");
    let conditions = status.conditions.expect("conditions");
    for type_ in ["NamesAccepted", "Established"] {
        assert!(
            conditions
                .iter()
                .any(|c| c.type_ == type_ && c.status == "True"),
            "{type_}"
        );
    }
    let accepted = status.accepted_names.expect("acceptedNames");
    assert_eq!(accepted.kind, "Widget");
    assert_eq!(accepted.singular.as_deref(), Some("widget"));
    // Served right away, cluster scoped.
    let widgets: Api<DynamicObject> = Api::all_with(
        cluster.client.clone(),
        &ApiResource::from_gvk(&kube::core::GroupVersionKind::gvk(
            "example.com",
            "v1",
            "Widget",
        )),
    );
    let w = widgets
        .create(
            &PostParams::default(),
            &dynamic(json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {"size": 3}})),
        )
        .await
        .expect("a cluster-scoped custom object");
    assert_eq!(w.metadata.namespace, None);
    assert_eq!(w.data["spec"]["size"], 3);
}

// ---------------------------------------------------------------------------------------------
// 2. Resources
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn the_initial_namespaces_exist_and_namespaces_can_be_created() {
    let cluster = Cluster::start().await;
    let namespaces: Api<Namespace> = Api::all(cluster.client.clone());
    let names: Vec<String> = namespaces
        .list(&ListParams::default())
        .await
        .expect("list")
        .items
        .iter()
        .map(|n| n.name_any())
        .collect();
    assert_eq!(
        names,
        vec!["default", "kube-node-lease", "kube-public", "kube-system"]
    );
    let created = namespaces
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "team-a"}})).expect("ns"),
        )
        .await
        .expect("namespace created");
    assert_eq!(
        created.status.and_then(|s| s.phase).as_deref(),
        Some("Active")
    );
}

#[tokio::test]
async fn a_secrets_string_data_is_stored_as_data_and_its_type_defaults_to_opaque() {
    let cluster = Cluster::start().await;
    let secrets: Api<Secret> = Api::namespaced(cluster.client.clone(), "default");
    let secret: Secret = serde_json::from_value(json!({
        "metadata": {"name": "token"},
        "data": {"a": "b2xk", "b": "a2VwdA=="},
        "stringData": {"a": "new value"},
    }))
    .expect("secret");
    let created = secrets
        .create(&PostParams::default(), &secret)
        .await
        .expect("secret");
    assert_eq!(created.string_data, None);
    assert_eq!(created.type_.as_deref(), Some("Opaque"));
    let data = created.data.expect("data");
    assert_eq!(data["a"].0, b"new value");
    assert_eq!(data["b"].0, b"kept");
}

#[tokio::test]
async fn config_maps_secrets_and_leases_are_stored() {
    let cluster = Cluster::start().await;
    let cm = cluster
        .config_maps()
        .create(
            &PostParams::default(),
            &config_map("settings", json!({"a": "1"})),
        )
        .await
        .expect("config map");
    assert_eq!(cm.data.expect("data")["a"], "1");
    let secrets: Api<Secret> = Api::namespaced(cluster.client.clone(), "default");
    let secret: Secret = serde_json::from_value(
        json!({"metadata": {"name": "s"}, "type": "Opaque", "data": {"k": "dg=="}}),
    )
    .expect("secret");
    secrets
        .create(&PostParams::default(), &secret)
        .await
        .expect("secret");
    assert_eq!(
        secrets.get("s").await.expect("get").type_.as_deref(),
        Some("Opaque")
    );
    let leases: Api<Lease> = Api::namespaced(cluster.client.clone(), "kube-system");
    let lease: Lease = serde_json::from_value(json!({"metadata": {"name": "cygni-leader"},
        "spec": {"holderIdentity": "a", "leaseDurationSeconds": 15}}))
    .expect("lease");
    let mut stored = leases
        .create(&PostParams::default(), &lease)
        .await
        .expect("lease");
    stored.spec.as_mut().expect("spec").holder_identity = Some("b".into());
    let replaced = leases
        .replace("cygni-leader", &PostParams::default(), &stored)
        .await
        .expect("replace");
    assert_eq!(
        replaced.spec.expect("spec").holder_identity.as_deref(),
        Some("b")
    );
    // Leader election replaces with a stale copy -> conflict.
    let stale = leases
        .replace("cygni-leader", &PostParams::default(), &stored)
        .await;
    assert_eq!(status_of(stale).code, 409);
}

#[tokio::test]
async fn events_recorded_as_events_v1_are_read_as_core_v1_with_an_involved_object_selector() {
    let cluster = Cluster::start().await;
    let web = cluster
        .apps()
        .create(&PostParams::default(), &app("web", "web:1"))
        .await
        .expect("app");
    let recorder = Recorder::new(
        cluster.client.clone(),
        Reporter {
            controller: "cygni".into(),
            instance: Some("cygni-0".into()),
        },
    );
    let reference = web.object_ref(&());
    let event = Event {
        type_: EventType::Normal,
        reason: "Created".into(),
        note: Some("Created ECS service web-a".into()),
        action: "Reconcile".into(),
        secondary: None,
    };
    recorder
        .publish(&event, &reference)
        .await
        .expect("published");
    // The same event again becomes a series (a patch of the stored event).
    recorder
        .publish(&event, &reference)
        .await
        .expect("published twice");

    let core: Api<CoreEvent> = Api::namespaced(cluster.client.clone(), "default");
    let selector = format!(
        "involvedObject.name=web,involvedObject.namespace=default,involvedObject.kind=App,involvedObject.uid={}",
        web.uid().expect("uid")
    );
    let found = core
        .list(&ListParams::default().fields(&selector))
        .await
        .expect("list")
        .items;
    assert_eq!(found.len(), 1, "{found:?}");
    let e = &found[0];
    assert_eq!(e.message.as_deref(), Some("Created ECS service web-a"));
    assert_eq!(e.reporting_component.as_deref(), Some("cygni"));
    assert_eq!(e.reason.as_deref(), Some("Created"));
    assert_eq!(e.series.as_ref().map(|s| s.count), Some(Some(2)));
    assert!(
        core.list(&ListParams::default().fields("involvedObject.name=other"))
            .await
            .expect("list")
            .items
            .is_empty()
    );

    let v1: Api<EventsV1> = Api::namespaced(cluster.client.clone(), "default");
    let same = v1
        .list(&ListParams::default().fields("regarding.name=web"))
        .await
        .expect("list")
        .items;
    assert_eq!(same[0].note.as_deref(), Some("Created ECS service web-a"));
    assert_eq!(same[0].reporting_controller.as_deref(), Some("cygni"));

    // A core/v1 event reads back as events.k8s.io/v1.
    let legacy: CoreEvent = serde_json::from_value(json!({
        "metadata": {"name": "legacy"},
        "involvedObject": {"kind": "App", "name": "web", "namespace": "default"},
        "message": "old style", "reason": "Legacy", "type": "Warning", "count": 3,
        "source": {"component": "someone"},
    }))
    .expect("core event");
    core.create(&PostParams::default(), &legacy)
        .await
        .expect("core event created");
    let converted = v1.get("legacy").await.expect("read as events.k8s.io/v1");
    assert_eq!(converted.note.as_deref(), Some("old style"));
    assert_eq!(converted.deprecated_count, Some(3));
    assert_eq!(
        converted.regarding.and_then(|r| r.name).as_deref(),
        Some("web")
    );
    let by_source = core
        .list(&ListParams::default().fields("source=someone,type=Warning"))
        .await
        .expect("list");
    assert_eq!(by_source.items.len(), 1);
}

// ---------------------------------------------------------------------------------------------
// 3. Object identity, resourceVersion and errors
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn create_sets_uid_timestamp_generation_and_an_increasing_resource_version() {
    let cluster = Cluster::start().await;
    let a = cluster
        .apps()
        .create(&PostParams::default(), &app("a", "web:1"))
        .await
        .expect("a");
    let b = cluster
        .apps()
        .create(&PostParams::default(), &app("b", "web:1"))
        .await
        .expect("b");
    assert!(a.metadata.uid.is_some());
    assert!(a.metadata.creation_timestamp.is_some());
    assert_eq!(a.metadata.generation, Some(1));
    let rv = |x: &App| {
        x.resource_version()
            .expect("rv")
            .parse::<u64>()
            .expect("decimal")
    };
    assert!(rv(&b) > rv(&a));
}

#[tokio::test]
async fn an_update_with_a_stale_resource_version_conflicts_with_the_real_message() {
    let cluster = Cluster::start().await;
    let apps = cluster.apps();
    let first = apps
        .create(&PostParams::default(), &app("web", "web:1"))
        .await
        .expect("created");
    let mut newer = first.clone();
    newer.spec.replicas = 3;
    apps.replace("web", &PostParams::default(), &newer)
        .await
        .expect("first update");
    let mut stale = first;
    stale.spec.replicas = 4;
    let status = status_of(apps.replace("web", &PostParams::default(), &stale).await);
    assert_eq!(status.code, 409);
    assert_eq!(status.reason, "Conflict");
    assert_eq!(
        status.message,
        "Operation cannot be fulfilled on apps.cygni.io \"web\": the object has been modified; please apply your changes to the latest version and try again"
    );
}

#[tokio::test]
async fn a_custom_resource_update_must_name_a_resource_version() {
    let cluster = Cluster::start().await;
    let mut created = cluster
        .apps()
        .create(&PostParams::default(), &app("web", "web:1"))
        .await
        .expect("created");
    created.metadata.resource_version = None;
    let status = status_of(
        cluster
            .apps()
            .replace("web", &PostParams::default(), &created)
            .await,
    );
    assert_eq!(status.code, 422);
    assert_eq!(
        status.message,
        "App.cygni.io \"web\" is invalid: metadata.resourceVersion: Invalid value: 0x0: must be specified for an update"
    );
}

#[tokio::test]
async fn creating_an_existing_name_is_already_exists() {
    let cluster = Cluster::start().await;
    let apps = cluster.apps();
    apps.create(&PostParams::default(), &app("web", "web:1"))
        .await
        .expect("created");
    let status = status_of(
        apps.create(&PostParams::default(), &app("web", "web:1"))
            .await,
    );
    assert_eq!(status.code, 409);
    assert_eq!(status.reason, "AlreadyExists");
    assert_eq!(status.message, "apps.cygni.io \"web\" already exists");
}

#[tokio::test]
async fn a_missing_object_is_not_found_with_the_real_status_shape() {
    let cluster = Cluster::start().await;
    let (code, _, body) = cluster
        .raw(
            "GET",
            "/apis/cygni.io/v1alpha1/namespaces/default/apps/nope",
            &[],
            None,
        )
        .await;
    assert_eq!(code, 404);
    assert_eq!(
        body,
        json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": "apps.cygni.io \"nope\" not found", "reason": "NotFound",
            "details": {"name": "nope", "group": "cygni.io", "kind": "apps"}, "code": 404,
        })
    );
}

// ---------------------------------------------------------------------------------------------
// 4. List and watch
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn lists_paginate_with_limit_and_continue() {
    let cluster = Cluster::start().await;
    for i in 0..5 {
        cluster
            .config_maps()
            .create(
                &PostParams::default(),
                &config_map(&format!("cm-{i}"), json!({})),
            )
            .await
            .expect("cm");
    }
    let first = cluster
        .config_maps()
        .list(&ListParams::default().limit(2))
        .await
        .expect("page 1");
    assert_eq!(first.items.len(), 2);
    assert_eq!(first.metadata.remaining_item_count, Some(3));
    let token = first.metadata.continue_.clone().expect("continue token");
    let second = cluster
        .config_maps()
        .list(&ListParams::default().limit(2).continue_token(&token))
        .await
        .expect("page 2");
    let third = cluster
        .config_maps()
        .list(
            &ListParams::default()
                .limit(2)
                .continue_token(second.metadata.continue_.as_deref().expect("token")),
        )
        .await
        .expect("page 3");
    assert!(third.metadata.continue_.is_none());
    let names: Vec<String> = first
        .items
        .iter()
        .chain(&second.items)
        .chain(&third.items)
        .map(|c| c.name_any())
        .collect();
    assert_eq!(names, vec!["cm-0", "cm-1", "cm-2", "cm-3", "cm-4"]);
}

#[tokio::test]
async fn label_selectors_support_equality_sets_and_existence() {
    let cluster = Cluster::start().await;
    let labelled = |name: &str, labels: Value| -> ConfigMap {
        serde_json::from_value(json!({"metadata": {"name": name, "labels": labels}})).expect("cm")
    };
    let cms = cluster.config_maps();
    cms.create(
        &PostParams::default(),
        &labelled("a", json!({"app": "web", "tier": "front"})),
    )
    .await
    .expect("a");
    cms.create(
        &PostParams::default(),
        &labelled("b", json!({"app": "web", "tier": "back", "legacy": "yes"})),
    )
    .await
    .expect("b");
    cms.create(&PostParams::default(), &labelled("c", json!({"app": "db"})))
        .await
        .expect("c");
    let names = |selector: &'static str| {
        let cms = cms.clone();
        async move {
            cms.list(&ListParams::default().labels(selector))
                .await
                .expect("list")
                .items
                .iter()
                .map(|c| c.name_any())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(names("app=web").await, vec!["a", "b"]);
    assert_eq!(names("app==web,tier!=back").await, vec!["a"]);
    assert_eq!(names("tier in (front, back)").await, vec!["a", "b"]);
    assert_eq!(names("app notin (web)").await, vec!["c"]);
    assert_eq!(names("legacy").await, vec!["b"]);
    assert_eq!(names("app,!legacy").await, vec!["a", "c"]);
}

#[tokio::test]
async fn field_selectors_match_name_and_namespace_and_unknown_fields_are_refused() {
    let cluster = Cluster::start().await;
    cluster
        .apps()
        .create(&PostParams::default(), &app("a", "web:1"))
        .await
        .expect("a");
    cluster
        .apps()
        .create(&PostParams::default(), &app("b", "web:1"))
        .await
        .expect("b");
    let all: Api<App> = Api::all(cluster.client.clone());
    let found = all
        .list(&ListParams::default().fields("metadata.name=b,metadata.namespace=default"))
        .await
        .expect("list");
    assert_eq!(found.items.len(), 1);
    assert_eq!(found.items[0].name_any(), "b");
    let status = status_of(
        all.list(&ListParams::default().fields("spec.replicas=1"))
            .await,
    );
    assert_eq!(status.code, 400);
    assert_eq!(status.message, "field label not supported: spec.replicas");
}

#[tokio::test]
async fn kube_runtime_watcher_lists_then_follows_changes() {
    let cluster = Cluster::start().await;
    cluster
        .apps()
        .create(&PostParams::default(), &app("before", "web:1"))
        .await
        .expect("before");
    let stream = watcher(cluster.apps(), watcher::Config::default()).applied_objects();
    let mut stream = Box::pin(stream);
    let first = stream.try_next().await.expect("watch").expect("an object");
    assert_eq!(first.name_any(), "before");
    let apps = cluster.apps();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        apps.create(&PostParams::default(), &app("after", "web:1"))
            .await
            .expect("after");
    });
    let next = tokio::time::timeout(Duration::from_secs(5), stream.try_next())
        .await
        .expect("a change arrives")
        .expect("watch")
        .expect("an object");
    assert_eq!(next.name_any(), "after");
}

#[tokio::test]
async fn kube_runtime_streaming_list_receives_initial_events_and_their_end_bookmark() {
    let cluster = Cluster::start().await;
    cluster
        .apps()
        .create(&PostParams::default(), &app("one", "web:1"))
        .await
        .expect("one");
    let stream = watcher(cluster.apps(), watcher::Config::default().streaming_lists());
    let mut stream = Box::pin(stream);
    let mut saw_init_done = false;
    let mut names = Vec::new();
    while let Some(event) = tokio::time::timeout(Duration::from_secs(5), stream.next())
        .await
        .expect("events")
    {
        match event.expect("no watch error") {
            watcher::Event::InitApply(a) => names.push(a.name_any()),
            watcher::Event::InitDone => {
                saw_init_done = true;
                break;
            }
            _ => {}
        }
    }
    assert!(saw_init_done);
    assert_eq!(names, vec!["one"]);
}

#[tokio::test]
async fn a_watch_from_a_retained_resource_version_replays_what_it_missed() {
    let cluster = Cluster::start().await;
    let apps = cluster.apps();
    let created = apps
        .create(&PostParams::default(), &app("web", "web:1"))
        .await
        .expect("created");
    let since = created.resource_version().expect("rv");
    apps.patch(
        "web",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"replicas": 5}})),
    )
    .await
    .expect("patched");
    apps.delete("web", &DeleteParams::default())
        .await
        .expect("deleted");
    let mut events = Box::pin(
        apps.watch(&WatchParams::default().timeout(2), &since)
            .await
            .expect("watch"),
    );
    let mut kinds = Vec::new();
    while let Some(event) = events.try_next().await.expect("event") {
        match event {
            WatchEvent::Modified(a) => kinds.push(format!("MODIFIED {}", a.spec.replicas)),
            WatchEvent::Deleted(a) => kinds.push(format!("DELETED {}", a.name_any())),
            other => kinds.push(format!("{other:?}")),
        }
        if kinds.len() == 2 {
            break;
        }
    }
    assert_eq!(kinds, vec!["MODIFIED 5", "DELETED web"]);
}

#[tokio::test]
async fn a_watch_from_a_resource_version_older_than_the_history_gets_410_expired() {
    let cluster = Cluster::start_with(ApiServer::new().with_history_limit(5)).await;
    let cms = cluster.config_maps();
    let first = cms
        .create(&PostParams::default(), &config_map("c", json!({"n": "0"})))
        .await
        .expect("created");
    for i in 1..10 {
        cms.patch(
            "c",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"n": i.to_string()}})),
        )
        .await
        .expect("patched");
    }
    let mut events = Box::pin(
        cms.watch(
            &WatchParams::default().timeout(2),
            &first.resource_version().expect("rv"),
        )
        .await
        .expect("watch"),
    );
    match events.try_next().await.expect("an event") {
        Some(WatchEvent::Error(status)) => {
            assert_eq!(status.code, 410);
            assert_eq!(status.reason, "Expired");
            assert!(
                status.message.starts_with("too old resource version: "),
                "{}",
                status.message
            );
        }
        other => panic!("expected a 410 ERROR event, got {other:?}"),
    }
}

#[tokio::test]
async fn watches_that_allow_bookmarks_receive_them() {
    let cluster =
        Cluster::start_with(ApiServer::new().with_bookmark_interval(Duration::from_millis(100)))
            .await;
    let apps = cluster.apps();
    let mut events = Box::pin(
        apps.watch(
            &WatchParams {
                bookmarks: true,
                ..WatchParams::default().timeout(3)
            },
            "0",
        )
        .await
        .expect("watch"),
    );
    let event = tokio::time::timeout(Duration::from_secs(3), events.try_next())
        .await
        .expect("in time")
        .expect("event");
    match event {
        Some(WatchEvent::Bookmark(b)) => assert!(!b.metadata.resource_version.is_empty()),
        other => panic!("expected a bookmark, got {other:?}"),
    }
}

#[tokio::test]
async fn a_selector_watch_sees_an_update_that_stops_matching_as_deleted() {
    let cluster = Cluster::start().await;
    let cms = cluster.config_maps();
    let created = cms
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "x", "labels": {"app": "web"}}}))
                .expect("cm"),
        )
        .await
        .expect("created");
    let mut events = Box::pin(
        cms.watch(
            &WatchParams::default().labels("app=web").timeout(2),
            &created.resource_version().expect("rv"),
        )
        .await
        .expect("watch"),
    );
    cms.patch(
        "x",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"app": "db"}}})),
    )
    .await
    .expect("relabelled");
    match events.try_next().await.expect("event") {
        Some(WatchEvent::Deleted(cm)) => assert_eq!(cm.name_any(), "x"),
        other => panic!("expected DELETED, got {other:?}"),
    }
}

#[tokio::test]
async fn metadata_lists_and_watches_return_partial_object_metadata() {
    let cluster = Cluster::start().await;
    cluster
        .apps()
        .create(&PostParams::default(), &app("web", "web:1"))
        .await
        .expect("created");
    let list = cluster
        .apps()
        .list_metadata(&ListParams::default())
        .await
        .expect("metadata list");
    assert_eq!(list.items[0].metadata.name.as_deref(), Some("web"));
    let metadata: Api<kube::core::PartialObjectMeta<App>> =
        Api::namespaced(cluster.client.clone(), "default");
    let stream = watcher(metadata, watcher::Config::default()).applied_objects();
    let mut stream = Box::pin(stream);
    let first = tokio::time::timeout(Duration::from_secs(5), stream.try_next())
        .await
        .expect("in time")
        .expect("watch")
        .expect("an object");
    assert_eq!(first.metadata.name.as_deref(), Some("web"));
}

// ---------------------------------------------------------------------------------------------
// 5. Generation and the status subresource
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn generation_bumps_only_when_the_spec_changes() {
    let cluster = Cluster::start().await;
    let apps = cluster.apps();
    apps.create(&PostParams::default(), &app("web", "web:1"))
        .await
        .expect("created");
    let labelled = apps
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"a": "b"}}})),
        )
        .await
        .expect("label");
    assert_eq!(labelled.metadata.generation, Some(1));
    let status = apps
        .patch_status(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"currentRevision": 1}})),
        )
        .await
        .expect("status");
    assert_eq!(status.metadata.generation, Some(1));
    let spec = apps
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 7}})),
        )
        .await
        .expect("spec");
    assert_eq!(spec.metadata.generation, Some(2));
}

#[tokio::test]
async fn main_resource_writes_ignore_status_and_status_writes_ignore_the_rest() {
    let cluster = Cluster::start().await;
    let apps = cluster.dynamic_apps();
    let mut with_status = app_json("web", "web:1");
    with_status["status"] = json!({"currentRevision": 9});
    let created = apps
        .create(&PostParams::default(), &dynamic(with_status))
        .await
        .expect("created");
    assert!(
        created.data.get("status").is_none(),
        "status dropped on create"
    );

    // PATCH main: status ignored.
    let patched = apps
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 3}, "status": {"currentRevision": 2}})),
        )
        .await
        .expect("main patch");
    assert_eq!(patched.data["spec"]["replicas"], 3);
    assert!(patched.data.get("status").is_none());
    // PATCH status: spec ignored.
    let patched = apps
        .patch_status(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 5}, "status": {"currentRevision": 2}})),
        )
        .await
        .expect("status patch");
    assert_eq!(patched.data["spec"]["replicas"], 3);
    assert_eq!(patched.data["status"]["currentRevision"], 2);
    // PUT status: spec ignored.
    let mut replacement = patched.clone();
    replacement.data["spec"]["replicas"] = json!(8);
    replacement.data["status"]["currentRevision"] = json!(4);
    let put = apps
        .replace_status("web", &PostParams::default(), &replacement)
        .await
        .expect("status put");
    assert_eq!(put.data["spec"]["replicas"], 3);
    assert_eq!(put.data["status"]["currentRevision"], 4);
    // PUT main: status ignored.
    let mut replacement = put.clone();
    replacement.data["spec"]["replicas"] = json!(6);
    replacement.data["status"]["currentRevision"] = json!(1);
    let put = apps
        .replace("web", &PostParams::default(), &replacement)
        .await
        .expect("main put");
    assert_eq!(put.data["spec"]["replicas"], 6);
    assert_eq!(put.data["status"]["currentRevision"], 4);
}

// ---------------------------------------------------------------------------------------------
// 6. Patches and server-side apply
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn merge_and_json_patches_apply_to_custom_resources() {
    let cluster = Cluster::start().await;
    let apps = cluster.apps();
    apps.create(&PostParams::default(), &app("web", "web:1"))
        .await
        .expect("created");
    let merged = apps
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"container": {"image": "web:2"}}})),
        )
        .await
        .expect("merge");
    assert_eq!(merged.spec.container.image, "web:2");
    // RFC 6902, sent as kubectl and client-go send it.
    let path = "/apis/cygni.io/v1alpha1/namespaces/default/apps/web";
    let json_patch = [("Content-Type", "application/json-patch+json")];
    let operations = json!([
        {"op": "test", "path": "/spec/container/image", "value": "web:2"},
        {"op": "replace", "path": "/spec/replicas", "value": 4},
    ]);
    let (code, _, patched) = cluster
        .raw("PATCH", path, &json_patch, Some(operations))
        .await;
    assert_eq!(code, 200, "{patched}");
    assert_eq!(patched["spec"]["replicas"], 4);
    let failing = json!([{"op": "test", "path": "/spec/replicas", "value": 1}]);
    let (code, _, status) = cluster.raw("PATCH", path, &json_patch, Some(failing)).await;
    assert_eq!(code, 422, "{status}");
    assert_eq!(status["reason"], "Invalid");
}

#[tokio::test]
async fn strategic_merge_patch_is_unsupported_for_custom_resources_and_merges_built_ins() {
    let cluster = Cluster::start().await;
    cluster
        .apps()
        .create(&PostParams::default(), &app("web", "web:1"))
        .await
        .expect("created");
    let status = status_of(
        cluster
            .apps()
            .patch(
                "web",
                &PatchParams::default(),
                &Patch::Strategic(json!({"spec": {"replicas": 2}})),
            )
            .await,
    );
    assert_eq!(status.code, 415);
    assert_eq!(status.reason, "UnsupportedMediaType");
    assert_eq!(
        status.message,
        "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml"
    );
    cluster
        .config_maps()
        .create(&PostParams::default(), &config_map("c", json!({"a": "1"})))
        .await
        .expect("cm");
    let patched = cluster
        .config_maps()
        .patch(
            "c",
            &PatchParams::default(),
            &Patch::Strategic(json!({"data": {"b": "2"}})),
        )
        .await
        .expect("strategic patch of a ConfigMap");
    assert_eq!(patched.data.expect("data").len(), 2);
}

fn apply_params(manager: &str) -> PatchParams {
    PatchParams::apply(manager)
}

#[tokio::test]
async fn server_side_apply_records_managers_and_refuses_conflicts_without_force() {
    let cluster = Cluster::start().await;
    let apps = cluster.dynamic_apps();
    let mut manifest = app_json("web", "web:1");
    manifest["spec"]["replicas"] = json!(2);
    let created = apps
        .patch("web", &apply_params("kubectl"), &Patch::Apply(&manifest))
        .await
        .expect("apply creates");
    let managed = created
        .metadata
        .managed_fields
        .clone()
        .expect("managed fields");
    assert_eq!(managed.len(), 1);
    assert_eq!(managed[0].manager.as_deref(), Some("kubectl"));
    assert_eq!(managed[0].operation.as_deref(), Some("Apply"));
    let fields = serde_json::to_value(&managed[0].fields_v1).expect("fields");
    assert!(fields["f:spec"]["f:replicas"].is_object(), "{fields}");

    let mut other = app_json("web", "web:1");
    other["spec"]["replicas"] = json!(5);
    let status = status_of(
        apps.patch("web", &apply_params("autoscaler"), &Patch::Apply(&other))
            .await,
    );
    assert_eq!(status.code, 409);
    assert_eq!(status.reason, "Conflict");
    assert_eq!(
        status.message,
        "Apply failed with 1 conflict: conflict with \"kubectl\": .spec.replicas"
    );
    let cause = &status.details.expect("details").causes[0];
    assert_eq!(cause.reason, "FieldManagerConflict");
    assert_eq!(cause.field, ".spec.replicas");

    // With force the field moves to the applier.
    let forced = apps
        .patch(
            "web",
            &apply_params("autoscaler").force(),
            &Patch::Apply(&other),
        )
        .await
        .expect("forced");
    assert_eq!(forced.data["spec"]["replicas"], 5);
    let owners: Vec<String> = forced
        .metadata
        .managed_fields
        .expect("managed")
        .iter()
        .filter_map(|m| m.manager.clone())
        .collect();
    assert!(owners.contains(&"autoscaler".to_string()));
    // kubectl no longer owns replicas: a re-apply with a different value is a conflict only with autoscaler.
    let mut again = app_json("web", "web:1");
    again["spec"]["replicas"] = json!(2);
    let status = status_of(
        apps.patch("web", &apply_params("kubectl"), &Patch::Apply(&again))
            .await,
    );
    assert_eq!(
        status.message,
        "Apply failed with 1 conflict: conflict with \"autoscaler\": .spec.replicas"
    );
}

#[tokio::test]
async fn apply_removes_fields_the_manager_applied_before_and_omits_now() {
    let cluster = Cluster::start().await;
    let apps = cluster.dynamic_apps();
    let mut first = app_json("web", "web:1");
    first["metadata"]["labels"] = json!({"team": "a", "tier": "front"});
    apps.patch("web", &apply_params("kubectl"), &Patch::Apply(&first))
        .await
        .expect("first apply");
    let mut second = app_json("web", "web:1");
    second["metadata"]["labels"] = json!({"team": "a"});
    let applied = apps
        .patch("web", &apply_params("kubectl"), &Patch::Apply(&second))
        .await
        .expect("second apply");
    let labels = applied.metadata.labels.expect("labels");
    assert_eq!(labels.get("team").map(String::as_str), Some("a"));
    assert!(!labels.contains_key("tier"));
}

#[tokio::test]
async fn a_forced_status_apply_by_the_operator_leaves_kubectls_spec_alone() {
    let cluster = Cluster::start().await;
    let apps = cluster.dynamic_apps();
    let mut manifest = app_json("web", "web:1");
    manifest["spec"]["replicas"] = json!(2);
    apps.patch("web", &apply_params("kubectl"), &Patch::Apply(&manifest))
        .await
        .expect("kubectl apply");
    let status = json!({
        "apiVersion": "cygni.io/v1alpha1", "kind": "App", "metadata": {"name": "web"},
        "status": {"observedGeneration": 1, "currentRevision": 1},
    });
    let after = apps
        .patch_status(
            "web",
            &apply_params("cygni").force(),
            &Patch::Apply(&status),
        )
        .await
        .expect("status apply");
    assert_eq!(after.data["spec"]["replicas"], 2);
    assert_eq!(after.data["status"]["currentRevision"], 1);
    let managed = after.metadata.managed_fields.expect("managed");
    let status_entry = managed
        .iter()
        .find(|m| m.manager.as_deref() == Some("cygni"))
        .expect("cygni entry");
    assert_eq!(status_entry.subresource.as_deref(), Some("status"));
    // kubectl can re-apply its spec without conflicts.
    apps.patch("web", &apply_params("kubectl"), &Patch::Apply(&manifest))
        .await
        .expect("kubectl re-apply");
}

#[tokio::test]
async fn map_lists_merge_by_key_in_server_side_apply() {
    let cluster = Cluster::start().await;
    let apps = cluster.dynamic_apps();
    let mut one = app_json("web", "web:1");
    one["spec"]["container"]["env"] = json!([{"name": "A", "value": "1"}]);
    apps.patch("web", &apply_params("one"), &Patch::Apply(&one))
        .await
        .expect("first");
    let mut two = app_json("web", "web:1");
    two["spec"]["container"]["env"] = json!([{"name": "B", "value": "2"}]);
    let merged = apps
        .patch("web", &apply_params("two"), &Patch::Apply(&two))
        .await
        .expect("second");
    let names: Vec<&str> = merged.data["spec"]["container"]["env"]
        .as_array()
        .expect("env")
        .iter()
        .map(|e| e["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names, vec!["A", "B"]);
}

#[tokio::test]
async fn apply_without_a_field_manager_is_refused() {
    let cluster = Cluster::start().await;
    let (code, _, body) = cluster
        .raw(
            "PATCH",
            "/apis/cygni.io/v1alpha1/namespaces/default/apps/web",
            &[("Content-Type", "application/apply-patch+yaml")],
            Some(app_json("web", "web:1")),
        )
        .await;
    assert_eq!(code, 422, "{body}");
    assert!(
        body["message"]
            .as_str()
            .expect("message")
            .contains("fieldManager: Required value")
    );
}

// ---------------------------------------------------------------------------------------------
// 7. Finalizers, deletion and garbage collection
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn deleting_an_object_with_a_finalizer_marks_it_until_the_finalizer_is_removed() {
    let cluster = Cluster::start().await;
    let apps = cluster.apps();
    let mut web = app("web", "web:1");
    web.metadata.finalizers = Some(vec![cygni::api::FINALIZER.into()]);
    apps.create(&PostParams::default(), &web)
        .await
        .expect("created");
    let deleted = apps
        .delete("web", &DeleteParams::default())
        .await
        .expect("delete accepted");
    let marked = deleted.left().expect("the object, not a Status");
    assert!(marked.metadata.deletion_timestamp.is_some());
    assert_eq!(marked.metadata.generation, Some(2));
    // Still there.
    assert!(apps.get_opt("web").await.expect("get").is_some());
    // Adding a finalizer now is refused.
    let status = status_of(
        apps.patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"finalizers": [cygni::api::FINALIZER, "other/x"]}})),
        )
        .await,
    );
    assert_eq!(status.code, 422);
    assert_eq!(
        status.message,
        "App.cygni.io \"web\" is invalid: metadata.finalizers: Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{\"other/x\"}"
    );
    // Watch for the deletion, then remove the finalizer.
    let rv = marked.resource_version().expect("rv");
    let mut events = Box::pin(
        apps.watch(
            &WatchParams::default()
                .fields("metadata.name=web")
                .timeout(3),
            &rv,
        )
        .await
        .expect("watch"),
    );
    apps.patch(
        "web",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .expect("finalizer removed");
    let mut saw_deleted = false;
    while let Some(event) = events.try_next().await.expect("event") {
        if let WatchEvent::Deleted(_) = event {
            saw_deleted = true;
            break;
        }
    }
    assert!(saw_deleted);
    assert!(gone(apps.clone(), "web").await);
}

#[tokio::test]
async fn deleting_an_object_without_finalizers_removes_it_at_once() {
    let cluster = Cluster::start().await;
    let apps = cluster.apps();
    apps.create(&PostParams::default(), &app("web", "web:1"))
        .await
        .expect("created");
    let result = apps
        .delete("web", &DeleteParams::default())
        .await
        .expect("deleted");
    let status = result.right().expect("a success Status");
    assert_eq!(status.details.expect("details").name, "web");
    assert!(gone(apps.clone(), "web").await);
}

fn owned_config_map(name: &str, owner: &App) -> ConfigMap {
    serde_json::from_value(json!({
        "metadata": {"name": name, "ownerReferences": [{
            "apiVersion": "cygni.io/v1alpha1", "kind": "App", "name": owner.name_any(),
            "uid": owner.uid().expect("uid"), "controller": true, "blockOwnerDeletion": true,
        }]},
        "data": {},
    }))
    .expect("owned config map")
}

#[tokio::test]
async fn dependents_are_garbage_collected_in_the_background_when_their_owner_goes() {
    let cluster = Cluster::start().await;
    let owner = cluster
        .apps()
        .create(&PostParams::default(), &app("web", "web:1"))
        .await
        .expect("owner");
    let cms = cluster.config_maps();
    cms.create(
        &PostParams::default(),
        &owned_config_map("web-config", &owner),
    )
    .await
    .expect("dependent");
    let mut dependent_with_finalizer = owned_config_map("web-held", &owner);
    dependent_with_finalizer.metadata.finalizers = Some(vec!["example.com/hold".into()]);
    cms.create(&PostParams::default(), &dependent_with_finalizer)
        .await
        .expect("held dependent");
    cluster
        .apps()
        .delete("web", &DeleteParams::background())
        .await
        .expect("owner deleted");
    eventually("the dependent is collected", || {
        gone(cms.clone(), "web-config")
    })
    .await;
    // The held dependent is only marked for deletion.
    let held = cms.get("web-held").await.expect("still there");
    assert!(held.metadata.deletion_timestamp.is_some());
}

#[tokio::test]
async fn orphan_propagation_keeps_dependents_without_the_owner_reference() {
    let cluster = Cluster::start().await;
    let owner = cluster
        .apps()
        .create(&PostParams::default(), &app("web", "web:1"))
        .await
        .expect("owner");
    let cms = cluster.config_maps();
    cms.create(
        &PostParams::default(),
        &owned_config_map("web-config", &owner),
    )
    .await
    .expect("dependent");
    cluster
        .apps()
        .delete("web", &DeleteParams::orphan())
        .await
        .expect("orphan delete");
    eventually("the owner is gone", || gone(cluster.apps(), "web")).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let orphan = cms.get("web-config").await.expect("the dependent stays");
    assert!(
        orphan
            .metadata
            .owner_references
            .unwrap_or_default()
            .is_empty()
    );
}

#[tokio::test]
async fn foreground_deletion_removes_dependents_before_the_owner() {
    let cluster = Cluster::start().await;
    let owner = cluster
        .apps()
        .create(&PostParams::default(), &app("web", "web:1"))
        .await
        .expect("owner");
    let cms = cluster.config_maps();
    cms.create(
        &PostParams::default(),
        &owned_config_map("web-config", &owner),
    )
    .await
    .expect("dependent");
    let params = DeleteParams {
        propagation_policy: Some(PropagationPolicy::Foreground),
        ..DeleteParams::default()
    };
    let marked = cluster
        .apps()
        .delete("web", &params)
        .await
        .expect("foreground delete")
        .left()
        .expect("object");
    assert!(
        marked
            .finalizers()
            .contains(&"foregroundDeletion".to_string())
    );
    eventually("the owner is gone", || gone(cluster.apps(), "web")).await;
    assert!(gone(cms.clone(), "web-config").await);
}

#[tokio::test]
async fn kube_runtime_finalizer_helper_runs_cleanup_before_the_object_goes() {
    let cluster = Cluster::start().await;
    let apps = cluster.apps();
    apps.create(&PostParams::default(), &app("web", "web:1"))
        .await
        .expect("created");
    let reconcile = |api: Api<App>| async move {
        let latest = Arc::new(api.get("web").await.expect("get"));
        kube::runtime::finalizer::finalizer(
            &api,
            cygni::api::FINALIZER,
            latest,
            |event| async move {
                match event {
                    kube::runtime::finalizer::Event::Apply(_)
                    | kube::runtime::finalizer::Event::Cleanup(_) => {
                        Ok::<_, std::io::Error>(kube::runtime::controller::Action::await_change())
                    }
                }
            },
        )
        .await
        .expect("finalizer step")
    };
    reconcile(apps.clone()).await; // adds the finalizer
    assert_eq!(
        apps.get("web").await.expect("get").finalizers(),
        vec![cygni::api::FINALIZER.to_string()]
    );
    apps.delete("web", &DeleteParams::default())
        .await
        .expect("delete");
    reconcile(apps.clone()).await; // cleanup removes it
    assert!(gone(apps.clone(), "web").await);
}

#[tokio::test]
async fn deleting_a_namespace_removes_its_contents_then_the_namespace() {
    let cluster = Cluster::start().await;
    let namespaces: Api<Namespace> = Api::all(cluster.client.clone());
    namespaces
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "team-a"}})).expect("ns"),
        )
        .await
        .expect("namespace");
    let cms: Api<ConfigMap> = Api::namespaced(cluster.client.clone(), "team-a");
    let mut held = config_map("c", json!({}));
    held.metadata.finalizers = Some(vec!["example.com/hold".into()]);
    cms.create(&PostParams::default(), &held)
        .await
        .expect("content");
    let terminating = namespaces
        .delete("team-a", &DeleteParams::default())
        .await
        .expect("delete")
        .left()
        .expect("the namespace");
    assert_eq!(
        terminating.status.and_then(|s| s.phase).as_deref(),
        Some("Terminating")
    );
    let status = status_of(
        cms.create(&PostParams::default(), &config_map("late", json!({})))
            .await,
    );
    assert_eq!(status.code, 403);
    assert_eq!(
        status.message,
        "configmaps \"late\" is forbidden: unable to create new content in namespace team-a because it is being terminated"
    );
    // The content is being deleted; once its finalizer goes, so does the namespace.
    eventually("the content is marked for deletion", || {
        let cms = cms.clone();
        async move {
            cms.get("c")
                .await
                .is_ok_and(|c| c.metadata.deletion_timestamp.is_some())
        }
    })
    .await;
    assert!(namespaces.get_opt("team-a").await.expect("get").is_some());
    cms.patch(
        "c",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .expect("finalizer removed");
    eventually("the namespace is gone", || {
        gone(namespaces.clone(), "team-a")
    })
    .await;
}

#[tokio::test]
async fn deleting_a_crd_removes_its_objects_then_stops_serving_them() {
    let cluster = Cluster::start().await;
    cluster
        .apps()
        .create(&PostParams::default(), &app("web", "web:1"))
        .await
        .expect("created");
    let crds: Api<CustomResourceDefinition> = Api::all(cluster.client.clone());
    crds.delete("apps.cygni.io", &DeleteParams::default())
        .await
        .expect("CRD delete");
    eventually("the CRD is gone", || gone(crds.clone(), "apps.cygni.io")).await;
    let (code, _, _) = cluster
        .raw(
            "GET",
            "/apis/cygni.io/v1alpha1/namespaces/default/apps",
            &[],
            None,
        )
        .await;
    assert_eq!(code, 404);
    // Installing it again serves an empty collection.
    cluster
        .running
        .api_server()
        .install_crd(&cygni::api::crd::all()[0])
        .expect("reinstalled");
    let apps = cluster
        .apps()
        .list(&ListParams::default())
        .await
        .expect("list");
    assert!(apps.items.is_empty());
}

// ---------------------------------------------------------------------------------------------
// 8. Validation, defaults and pruning
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn schema_defaults_are_applied_on_create() {
    let cluster = Cluster::start().await;
    let created = cluster
        .dynamic_apps()
        .create(&PostParams::default(), &dynamic(app_json("web", "web:1")))
        .await
        .expect("created");
    assert_eq!(created.data["spec"]["container"]["port"], 8080);
    assert_eq!(created.data["spec"]["container"]["cpu"], 256);
    assert_eq!(created.data["spec"]["deletionPolicy"], "Delete");
}

#[tokio::test]
async fn unknown_fields_are_pruned_warned_about_or_refused_when_strict() {
    let cluster = Cluster::start().await;
    let mut manifest = app_json("web", "web:1");
    manifest["spec"]["foo"] = json!(1);
    let path = "/apis/cygni.io/v1alpha1/namespaces/default/apps";
    let json_type = [("Content-Type", "application/json")];
    let (code, _, body) = cluster
        .raw(
            "POST",
            &format!("{path}?fieldValidation=Strict"),
            &json_type,
            Some(manifest.clone()),
        )
        .await;
    assert_eq!(code, 400);
    assert_eq!(
        body["message"],
        "App in version \"v1alpha1\" cannot be handled as a App: strict decoding error: unknown field \"spec.foo\""
    );
    let (code, headers, body) = cluster
        .raw(
            "POST",
            &format!("{path}?fieldValidation=Warn"),
            &json_type,
            Some(manifest.clone()),
        )
        .await;
    assert_eq!(code, 201);
    assert!(body["spec"].get("foo").is_none(), "pruned");
    assert_eq!(
        headers["warning"],
        "299 - \"unknown field \\\"spec.foo\\\"\""
    );
    manifest["metadata"]["name"] = json!("quiet");
    let (code, headers, _) = cluster
        .raw(
            "POST",
            &format!("{path}?fieldValidation=Ignore"),
            &json_type,
            Some(manifest),
        )
        .await;
    assert_eq!(code, 201);
    assert!(headers.get("warning").is_none());
}

#[tokio::test]
async fn invalid_objects_are_refused_with_422_and_field_causes() {
    let cluster = Cluster::start().await;
    let mut manifest = app_json("bad", "web:1");
    manifest["spec"]["container"]["port"] = json!(0);
    let status = status_of(
        cluster
            .dynamic_apps()
            .create(&PostParams::default(), &dynamic(manifest))
            .await,
    );
    assert_eq!(status.code, 422);
    assert_eq!(status.reason, "Invalid");
    assert_eq!(
        status.message,
        "App.cygni.io \"bad\" is invalid: spec.container.port: Invalid value: 0: spec.container.port in body should be greater than or equal to 1"
    );
    let details = status.details.expect("details");
    assert_eq!(details.kind, "App");
    assert_eq!(details.group, "cygni.io");
    assert_eq!(details.causes[0].field, "spec.container.port");
    assert_eq!(details.causes[0].reason, "FieldValueInvalid");
}

#[tokio::test]
async fn cel_rules_see_the_old_object_on_update() {
    let cluster = Cluster::start().await;
    let domains: Api<Domain> = Api::namespaced(cluster.client.clone(), "default");
    let domain: Domain = serde_json::from_value(json!({
        "apiVersion": "cygni.io/v1alpha1", "kind": "Domain", "metadata": {"name": "shop"},
        "spec": {"hostname": "shop.example.com", "appRef": {"name": "shop"}, "hostedZone": {"name": "example.com"}},
    }))
    .expect("domain");
    domains
        .create(&PostParams::default(), &domain)
        .await
        .expect("created");
    let status = status_of(
        domains
            .patch(
                "shop",
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"hostname": "other.example.com"}})),
            )
            .await,
    );
    assert_eq!(status.code, 422, "{}", status.message);
    assert!(
        status.message.contains("spec.hostname"),
        "{}",
        status.message
    );
}

#[tokio::test]
async fn names_must_be_dns_subdomains() {
    let cluster = Cluster::start().await;
    let status = status_of(
        cluster
            .apps()
            .create(&PostParams::default(), &app("Bad_Name", "web:1"))
            .await,
    );
    assert_eq!(status.code, 422);
    assert!(
        status.message.starts_with("App.cygni.io \"Bad_Name\" is invalid: metadata.name: Invalid value: \"Bad_Name\": a lowercase RFC 1123 subdomain"),
        "{}",
        status.message
    );
}

#[tokio::test]
async fn creating_in_a_namespace_that_does_not_exist_is_not_found() {
    let cluster = Cluster::start().await;
    let apps: Api<App> = Api::namespaced(cluster.client.clone(), "nowhere");
    let status = status_of(
        apps.create(&PostParams::default(), &app("web", "web:1"))
            .await,
    );
    assert_eq!(status.code, 404);
    assert_eq!(status.message, "namespaces \"nowhere\" not found");
}

// ---------------------------------------------------------------------------------------------
// 9. Server-side printing
// ---------------------------------------------------------------------------------------------

const TABLE_ACCEPT: &str = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";

#[tokio::test]
async fn tables_use_the_crd_printer_columns_with_partial_object_metadata_rows() {
    let cluster = Cluster::start().await;
    cluster
        .apps()
        .create(&PostParams::default(), &app("web", "web:1"))
        .await
        .expect("created");
    cluster
        .apps()
        .patch_status("web", &PatchParams::default(), &Patch::Merge(json!({"status": {"conditions": [
            {"type": "Ready", "status": "True", "reason": "Converged", "message": "", "lastTransitionTime": "2026-01-01T00:00:00Z"}]}})))
        .await
        .expect("status");
    let (code, _, table) = cluster
        .raw(
            "GET",
            "/apis/cygni.io/v1alpha1/namespaces/default/apps",
            &[("Accept", TABLE_ACCEPT)],
            None,
        )
        .await;
    assert_eq!(code, 200);
    assert_eq!(table["kind"], "Table");
    let columns: Vec<(&str, i64)> = table["columnDefinitions"]
        .as_array()
        .expect("columns")
        .iter()
        .map(|c| {
            (
                c["name"].as_str().expect("name"),
                c["priority"].as_i64().expect("priority"),
            )
        })
        .collect();
    assert_eq!(columns[0], ("Name", 0));
    assert!(columns.contains(&("Ready", 0)));
    assert!(columns.contains(&("Image", 1)));
    let row = &table["rows"][0];
    assert_eq!(row["cells"][0], "web");
    assert_eq!(row["cells"][1], "True");
    assert_eq!(row["object"]["kind"], "PartialObjectMetadata");
    assert_eq!(row["object"]["metadata"]["name"], "web");
    let (_, _, namespaces) = cluster
        .raw(
            "GET",
            "/api/v1/namespaces",
            &[("Accept", TABLE_ACCEPT)],
            None,
        )
        .await;
    let names: Vec<&str> = namespaces["columnDefinitions"]
        .as_array()
        .expect("cols")
        .iter()
        .map(|c| c["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names, vec!["Name", "Status", "Age"]);
}

#[tokio::test]
async fn table_watches_stream_one_row_tables() {
    let cluster = Cluster::start().await;
    let request = axum::http::Request::builder()
        .uri("/apis/cygni.io/v1alpha1/namespaces/default/apps?watch=true&timeoutSeconds=2")
        .header("Accept", TABLE_ACCEPT)
        .body(Vec::new())
        .expect("request");
    let mut lines = cluster
        .client
        .request_stream(request)
        .await
        .expect("watch")
        .lines();
    cluster
        .apps()
        .create(&PostParams::default(), &app("web", "web:1"))
        .await
        .expect("created");
    let line = lines.next().await.expect("a line").expect("readable");
    let event: Value = serde_json::from_str(&line).expect("json");
    assert_eq!(event["type"], "ADDED");
    assert_eq!(event["object"]["kind"], "Table");
    assert_eq!(event["object"]["rows"][0]["cells"][0], "web");
}

// ---------------------------------------------------------------------------------------------
// 10. Dry run
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn dry_run_validates_but_changes_nothing() {
    let cluster = Cluster::start().await;
    let apps = cluster.apps();
    let dry = PostParams {
        dry_run: true,
        ..PostParams::default()
    };
    let preview = apps
        .create(&dry, &app("web", "web:1"))
        .await
        .expect("dry-run create");
    assert_eq!(preview.name_any(), "web");
    assert!(gone(apps.clone(), "web").await);
    let status = status_of(apps.create(&dry, &app("Bad", "web:1")).await);
    assert_eq!(status.code, 422);
    apps.create(&PostParams::default(), &app("web", "web:1"))
        .await
        .expect("real create");
    let patch = PatchParams {
        dry_run: true,
        ..PatchParams::default()
    };
    let previewed = apps
        .patch(
            "web",
            &patch,
            &Patch::Merge(json!({"spec": {"replicas": 9}})),
        )
        .await
        .expect("dry-run patch");
    assert_eq!(previewed.spec.replicas, 9);
    assert_ne!(apps.get("web").await.expect("get").spec.replicas, 9);
    let delete = DeleteParams {
        dry_run: true,
        ..DeleteParams::default()
    };
    apps.delete("web", &delete).await.expect("dry-run delete");
    assert!(apps.get_opt("web").await.expect("get").is_some());
}

// ---------------------------------------------------------------------------------------------
// A kube-runtime controller end to end
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_kube_runtime_controller_reconciles_and_applies_status() {
    use kube::runtime::controller::{Action, Controller};
    let cluster = Cluster::start().await;
    let apps = cluster.apps();
    apps.create(&PostParams::default(), &app("web", "web:1"))
        .await
        .expect("created");
    let context = Arc::new(apps.clone());
    let controller = Controller::new(apps.clone(), watcher::Config::default())
        .run(
            |app: Arc<App>, api: Arc<Api<App>>| async move {
                let status = json!({
                    "apiVersion": "cygni.io/v1alpha1", "kind": "App",
                    "metadata": {"name": app.name_any()},
                    "status": {"observedGeneration": app.metadata.generation},
                });
                api.patch_status(
                    &app.name_any(),
                    &PatchParams::apply("cygni").force(),
                    &Patch::Apply(&status),
                )
                .await
                .map(|_| Action::await_change())
            },
            |_, _: &kube::Error, _| Action::await_change(),
            context,
        )
        .for_each(|_| async {});
    let handle = tokio::spawn(controller);
    eventually("the controller observes generation 1", || {
        let apps = apps.clone();
        async move {
            let observed = apps
                .get("web")
                .await
                .ok()
                .and_then(|a| a.status)
                .and_then(|s| s.observed_generation);
            observed == Some(1)
        }
    })
    .await;
    apps.patch(
        "web",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"replicas": 4}})),
    )
    .await
    .expect("spec change");
    eventually("the controller observes generation 2", || {
        let apps = apps.clone();
        async move {
            let observed = apps
                .get("web")
                .await
                .ok()
                .and_then(|a| a.status)
                .and_then(|s| s.observed_generation);
            observed == Some(2)
        }
    })
    .await;
    handle.abort();
}

// ---------------------------------------------------------------------------------------------
// The real kubectl
// ---------------------------------------------------------------------------------------------

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// kubectl pointed at one cluster, with its own kubeconfig and discovery cache.
struct Kubectl {
    binary: PathBuf,
    dir: PathBuf,
}

impl Kubectl {
    fn for_cluster(cluster: &Cluster, test: &str) -> Self {
        let binary = repo().join(".tools/bin/kubectl");
        assert!(
            binary.exists(),
            "kubectl is missing at {}: run .ci/install-tools",
            binary.display()
        );
        let dir =
            std::env::temp_dir().join(format!("cygni-kube-sim-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        std::fs::write(dir.join("kubeconfig"), cluster.running.kubeconfig())
            .expect("kubeconfig written");
        Self { binary, dir }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(&self.binary);
        command
            .args(args)
            .arg(format!("--cache-dir={}", self.dir.join("cache").display()))
            .env("KUBECONFIG", self.dir.join("kubeconfig"))
            .env("HOME", &self.dir)
            .current_dir(repo());
        command
    }

    /// Runs kubectl to completion (in a blocking thread): (success, stdout, stderr).
    async fn run(&self, args: &[&str]) -> (bool, String, String) {
        let mut command = self.command(args);
        let output = tokio::task::spawn_blocking(move || command.output())
            .await
            .expect("join")
            .expect("kubectl runs");
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }

    async fn ok(&self, args: &[&str]) -> String {
        let (success, stdout, stderr) = self.run(args).await;
        assert!(success, "kubectl {args:?} failed:\n{stdout}\n{stderr}");
        stdout
    }
}

impl Drop for Kubectl {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn cluster_with_examples(test: &str) -> (Cluster, Kubectl) {
    let cluster = Cluster::bare().await;
    let kubectl = Kubectl::for_cluster(&cluster, test);
    (cluster, kubectl)
}

#[tokio::test]
async fn kubectl_applies_the_crds_then_every_example() {
    let (_cluster, kubectl) = cluster_with_examples("apply").await;
    let crds = kubectl.ok(&["apply", "-f", "crds/"]).await;
    assert_eq!(crds.matches(" created").count(), 3, "{crds}");
    let examples = kubectl.ok(&["apply", "-f", "examples/"]).await;
    let expected = std::fs::read_dir(repo().join("examples"))
        .expect("examples/")
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "yaml"))
        })
        .count();
    assert_eq!(examples.matches(" created").count(), expected, "{examples}");
    // Applying again stores nothing new. (kubectl still says "configured" for manifests whose
    // lists have defaulted items, as against a real server: its merge patch replaces the list,
    // and the server finds the result equal to what it has.)
    let before = kubectl
        .ok(&[
            "get",
            "cygni",
            "-o",
            "jsonpath={.items[*].metadata.resourceVersion}",
        ])
        .await;
    kubectl.ok(&["apply", "-f", "examples/"]).await;
    let after = kubectl
        .ok(&[
            "get",
            "cygni",
            "-o",
            "jsonpath={.items[*].metadata.resourceVersion}",
        ])
        .await;
    assert!(!before.trim().is_empty());
    assert_eq!(before, after);
}

#[tokio::test]
async fn kubectl_rejects_each_invalid_example_with_the_message_it_expects() {
    let (_cluster, kubectl) = cluster_with_examples("invalid").await;
    kubectl.ok(&["apply", "-f", "crds/"]).await;
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo().join("examples/invalid"))
        .expect("examples/invalid")
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    assert!(!files.is_empty());
    for file in files {
        let text = std::fs::read_to_string(&file).expect("readable");
        let expected = text
            .lines()
            .find_map(|l| l.strip_prefix("# expect: "))
            .unwrap_or_else(|| panic!("{} has no `# expect:` line", file.display()));
        let path = file.to_string_lossy().into_owned();
        let (success, stdout, stderr) = kubectl.run(&["apply", "-f", &path]).await;
        assert!(!success, "{path} was accepted:\n{stdout}");
        assert!(
            stderr.contains(expected),
            "{path}: expected\n  {expected}\nin\n  {stderr}"
        );
    }
}

#[tokio::test]
async fn kubectl_get_lists_the_category_and_short_name_with_printer_columns() {
    let (_cluster, kubectl) = cluster_with_examples("get").await;
    kubectl.ok(&["apply", "-f", "crds/"]).await;
    kubectl.ok(&["apply", "-f", "examples/"]).await;
    let category = kubectl.ok(&["get", "cygni"]).await;
    assert!(category.contains("app.cygni.io/shop"), "{category}");
    assert!(category.contains("domain.cygni.io/shop"), "{category}");
    let apps = kubectl.ok(&["get", "cxapp"]).await;
    let header: Vec<&str> = apps
        .lines()
        .next()
        .expect("header")
        .split_whitespace()
        .collect();
    assert_eq!(
        header,
        vec![
            "NAME", "READY", "REASON", "REVISION", "STABLE", "CANARY%", "AGE"
        ]
    );
    let wide = kubectl.ok(&["get", "cxapp", "-o", "wide"]).await;
    assert!(
        wide.lines().next().expect("header").contains("IMAGE"),
        "{wide}"
    );
    assert!(wide.contains("shop:2.3.0"), "{wide}");
}

#[tokio::test]
async fn kubectl_get_watch_prints_changes() {
    let (cluster, kubectl) = cluster_with_examples("watch").await;
    kubectl.ok(&["apply", "-f", "crds/"]).await;
    cluster
        .apps()
        .create(&PostParams::default(), &app("web", "web:1"))
        .await
        .expect("created");
    let mut child = kubectl
        .command(&["get", "cxapp", "-w"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kubectl get -w starts");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    cluster
        .apps()
        .create(&PostParams::default(), &app("second", "web:1"))
        .await
        .expect("second");
    tokio::time::sleep(Duration::from_millis(1000)).await;
    child.kill().expect("kubectl stops");
    let output = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .expect("join")
        .expect("output");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(
        lines.first().is_some_and(|l| l.starts_with("NAME")),
        "{stdout}"
    );
    assert!(lines.iter().any(|l| l.starts_with("web ")), "{stdout}");
    assert!(lines.iter().any(|l| l.starts_with("second ")), "{stdout}");
}

#[tokio::test]
async fn kubectl_describe_shows_the_objects_events() {
    let (cluster, kubectl) = cluster_with_examples("describe").await;
    kubectl.ok(&["apply", "-f", "crds/"]).await;
    let web = cluster
        .apps()
        .create(&PostParams::default(), &app("web", "web:1"))
        .await
        .expect("created");
    let recorder = Recorder::new(
        cluster.client.clone(),
        Reporter {
            controller: "cygni".into(),
            instance: None,
        },
    );
    recorder
        .publish(
            &Event {
                type_: EventType::Warning,
                reason: "InvalidSpec".into(),
                note: Some("the listener ARN is not in this account".into()),
                action: "Reconcile".into(),
                secondary: None,
            },
            &web.object_ref(&()),
        )
        .await
        .expect("event");
    let described = kubectl.ok(&["describe", "app", "web"]).await;
    assert!(described.contains("Name:         web"), "{described}");
    let events = described
        .split("Events:")
        .nth(1)
        .expect("an Events section");
    assert!(events.contains("Warning"), "{described}");
    assert!(events.contains("InvalidSpec"), "{described}");
    assert!(
        events.contains("the listener ARN is not in this account"),
        "{described}"
    );
}

#[tokio::test]
async fn kubectl_explain_prints_the_crd_field_documentation() {
    let (_cluster, kubectl) = cluster_with_examples("explain").await;
    kubectl.ok(&["apply", "-f", "crds/"]).await;
    let explained = kubectl.ok(&["explain", "app.spec.container"]).await;
    assert!(explained.contains("KIND:       App"), "{explained}");
    assert!(
        explained.contains("FIELD: container <Object>"),
        "{explained}"
    );
    assert!(
        explained.contains("image\t<string> -required-"),
        "{explained}"
    );
}

#[tokio::test]
async fn kubectl_patches_the_status_subresource() {
    let (cluster, kubectl) = cluster_with_examples("status").await;
    kubectl.ok(&["apply", "-f", "crds/"]).await;
    cluster
        .apps()
        .create(&PostParams::default(), &app("web", "web:1"))
        .await
        .expect("created");
    let patch = r#"{"status":{"currentRevision":3},"spec":{"replicas":9}}"#;
    kubectl
        .ok(&[
            "patch",
            "app",
            "web",
            "--subresource=status",
            "--type=merge",
            "-p",
            patch,
        ])
        .await;
    let web = cluster.apps().get("web").await.expect("get");
    assert_eq!(web.status.and_then(|s| s.current_revision), Some(3));
    assert_ne!(web.spec.replicas, 9);
    let columns = kubectl.ok(&["get", "cxapp", "web", "--no-headers"]).await;
    assert!(columns.split_whitespace().any(|c| c == "3"), "{columns}");
}

#[tokio::test]
async fn kubectl_delete_waits_until_a_finalizer_is_removed() {
    let (cluster, kubectl) = cluster_with_examples("delete").await;
    kubectl.ok(&["apply", "-f", "crds/"]).await;
    let mut web = app("web", "web:1");
    web.metadata.finalizers = Some(vec![cygni::api::FINALIZER.into()]);
    cluster
        .apps()
        .create(&PostParams::default(), &web)
        .await
        .expect("created");
    let apps = cluster.apps();
    let remover = tokio::spawn(async move {
        eventually("kubectl marked the App for deletion", || {
            let apps = apps.clone();
            async move {
                apps.get("web")
                    .await
                    .is_ok_and(|a| a.metadata.deletion_timestamp.is_some())
            }
        })
        .await;
        tokio::time::sleep(Duration::from_millis(1500)).await;
        apps.patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"finalizers": null}})),
        )
        .await
        .expect("finalizer removed");
    });
    let started = std::time::Instant::now();
    let out = kubectl.ok(&["delete", "app", "web", "--timeout=20s"]).await;
    assert!(out.contains("deleted"), "{out}");
    assert!(
        started.elapsed() >= Duration::from_millis(1500),
        "kubectl returned before the finalizer went"
    );
    remover.await.expect("remover");
    assert!(gone(cluster.apps(), "web").await);
}

#[tokio::test]
async fn writes_without_a_field_manager_are_recorded_under_the_user_agent_or_unknown() {
    let cluster = Cluster::start().await;
    let path = "/api/v1/namespaces/default/configmaps";
    let body = |name: &str| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"k": "v"}});
    let (status, _, created) = cluster
        .raw(
            "POST",
            path,
            &[("user-agent", "cygni/0.1.0 (linux)")],
            Some(body("by-agent")),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(
        created["metadata"]["managedFields"][0]["manager"], "cygni",
        "{created}"
    );
    let (status, _, created) = cluster
        .raw("POST", path, &[], Some(body("by-nobody")))
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(
        created["metadata"]["managedFields"][0]["manager"],
        "unknown"
    );
}

// ---------------------------------------------------------------------------------------------
// RBAC and access reviews

#[tokio::test]
async fn access_reviews_are_answered_from_the_stored_rbac_and_are_create_only() {
    let cluster = Cluster::start().await;
    let (status, _, _) = cluster
        .raw(
            "POST",
            "/apis/rbac.authorization.k8s.io/v1/clusterroles",
            &[("content-type", "application/json")],
            Some(json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                "metadata": {"name": "app-reader"},
                "rules": [{"apiGroups": ["cygni.io"], "resources": ["apps"], "verbs": ["get", "list"]}]})),
        )
        .await;
    assert_eq!(status, 201);
    let (status, _, binding) = cluster
        .raw(
            "POST",
            "/apis/rbac.authorization.k8s.io/v1/namespaces/default/rolebindings",
            &[("content-type", "application/json")],
            Some(
                json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                "metadata": {"name": "readers"},
                "roleRef": {"kind": "ClusterRole", "name": "app-reader"},
                "subjects": [{"kind": "ServiceAccount", "name": "web"}]}),
            ),
        )
        .await;
    assert_eq!(status, 201);
    assert_eq!(
        binding["roleRef"]["apiGroup"], "rbac.authorization.k8s.io",
        "roleRef.apiGroup is defaulted"
    );
    let review = |namespace: &str, verb: &str| {
        json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
            "spec": {"user": "system:serviceaccount:default:web",
                "resourceAttributes": {"namespace": namespace, "verb": verb, "group": "cygni.io", "resource": "apps"}}})
    };
    let path = "/apis/authorization.k8s.io/v1/subjectaccessreviews";
    let json = [("content-type", "application/json")];
    let (status, _, answer) = cluster
        .raw("POST", path, &json, Some(review("default", "list")))
        .await;
    assert_eq!(status, 201);
    assert_eq!(
        answer["status"],
        json!({"allowed": true, "reason": "RBAC: allowed by RoleBinding \"readers/default\" of ClusterRole \"app-reader\" to ServiceAccount \"web/default\""})
    );
    let (_, _, answer) = cluster
        .raw("POST", path, &json, Some(review("default", "delete")))
        .await;
    assert_eq!(answer["status"], json!({"allowed": false}));
    let (_, _, answer) = cluster
        .raw("POST", path, &json, Some(review("other", "list")))
        .await;
    assert_eq!(
        answer["status"],
        json!({"allowed": false}),
        "a RoleBinding is one namespace's"
    );
    let (status, _, _) = cluster.raw("GET", path, &[], None).await;
    assert_eq!(status, 405, "reviews are answered, never listed");
    let discovery = cluster.get_json("/apis/authorization.k8s.io/v1").await;
    assert_eq!(discovery["resources"][0]["verbs"], json!(["create"]));

    let (status, _, error) = cluster
        .raw(
            "PATCH",
            "/apis/rbac.authorization.k8s.io/v1/namespaces/default/rolebindings/readers",
            &[("content-type", "application/merge-patch+json")],
            Some(json!({"roleRef": {"name": "other"}})),
        )
        .await;
    assert_eq!(status, 422);
    assert_eq!(
        error["message"],
        "RoleBinding.rbac.authorization.k8s.io \"readers\" is invalid: roleRef: Invalid value: rbac.RoleRef{APIGroup:\"rbac.authorization.k8s.io\", Kind:\"ClusterRole\", Name:\"other\"}: cannot change roleRef"
    );
}
