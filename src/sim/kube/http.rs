//! The HTTP face of the server: one handler that routes a request by path (discovery, OpenAPI,
//! resources), reads its parameters and body, runs the operation on the store and writes the
//! response (JSON object, list, Table, Status, or a watch stream).

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use serde_json::{Value, json};

use super::ApiServer;
use super::discovery;
use super::error::ApiError;
use super::openapi;
use super::ops::{
    self, DeleteOptions, FieldValidation, PatchType, Propagation, Subresource, WriteOptions,
};
use super::registry::ResourceType;
use super::request::{Form, Query, ResourcePath, field_manager};
use super::selector::{FieldSelector, LabelSelector};
use super::table;
use super::watch::{self, Start, WatchSpec};

/// The largest request body accepted (the real server's limit is 3 MiB).
const BODY_LIMIT: usize = 3 * 1024 * 1024;

/// How long a watch without `timeoutSeconds` stays open.
const DEFAULT_WATCH_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// A response before it becomes HTTP.
enum Reply {
    Json(StatusCode, Value, Vec<String>),
    Typed(StatusCode, &'static str, Value),
    Text(StatusCode, &'static str),
    Stream(Body),
}

impl From<ApiError> for Reply {
    fn from(error: ApiError) -> Self {
        Reply::Json(
            StatusCode::from_u16(error.code()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            error.status(),
            Vec::new(),
        )
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        match self {
            Reply::Json(status, body, warnings) => {
                let mut response = (status, body.to_string()).into_response();
                let headers = response.headers_mut();
                headers.insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
                for warning in warnings {
                    let text = format!("299 - {}", super::error::go_quote(&warning));
                    if let Ok(value) = HeaderValue::from_str(&text) {
                        headers.append(header::WARNING, value);
                    }
                }
                response
            }
            Reply::Typed(status, content_type, body) => {
                let mut response = (status, body.to_string()).into_response();
                response
                    .headers_mut()
                    .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
                response
            }
            Reply::Text(status, text) => {
                let mut response = (status, text).into_response();
                response.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/plain; charset=utf-8"),
                );
                response
            }
            Reply::Stream(body) => {
                let mut response = Response::new(body);
                let headers = response.headers_mut();
                headers.insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
                headers.insert(
                    header::CACHE_CONTROL,
                    HeaderValue::from_static("no-cache, private"),
                );
                response
            }
        }
    }
}

/// Everything of a request the operations need.
struct Call {
    method: Method,
    query: Query,
    headers: HeaderMap,
    body: Bytes,
}

impl Call {
    fn header(&self, name: header::HeaderName) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }
}

/// The axum handler for every path.
pub async fn handle(State(server): State<ApiServer>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = match axum::body::to_bytes(body, BODY_LIMIT).await {
        Ok(bytes) => bytes,
        Err(_) => return Reply::from(ApiError::TooLarge).into_response(),
    };
    let path = parts.uri.path().to_string();
    let call = Call {
        method: parts.method,
        query: Query::parse(parts.uri.query()),
        headers: parts.headers,
        body,
    };
    let reply = route(&server, &path, &call);
    tracing::debug!(method = %call.method, path, "kube sim request");
    reply.into_response()
}

fn route(server: &ApiServer, path: &str, call: &Call) -> Reply {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let accept = call.header(header::ACCEPT).to_string();
    let result = match segments.as_slice() {
        [] => Ok(Reply::Json(
            StatusCode::OK,
            json!({"paths": ["/api", "/api/v1", "/apis", "/openapi/v2", "/openapi/v3", "/version"]}),
            Vec::new(),
        )),
        ["healthz" | "livez" | "readyz", ..] => Ok(Reply::Text(StatusCode::OK, "ok")),
        ["version"] => Ok(Reply::Json(
            StatusCode::OK,
            discovery::version(),
            Vec::new(),
        )),
        ["api"] => Ok(discovery_root(server, &accept, true)),
        ["apis"] => Ok(discovery_root(server, &accept, false)),
        ["api", "v1"] => server
            .with_store(|s| discovery::resource_list(&s.registry, "", "v1"))
            .map(|v| Reply::Json(StatusCode::OK, v, Vec::new()))
            .ok_or(ApiError::NoSuchResource),
        ["apis", group] => server
            .with_store(|s| discovery::api_group(&s.registry, group))
            .map(|v| Reply::Json(StatusCode::OK, v, Vec::new()))
            .ok_or(ApiError::NoSuchResource),
        ["apis", group, version] => server
            .with_store(|s| discovery::resource_list(&s.registry, group, version))
            .map(|v| Reply::Json(StatusCode::OK, v, Vec::new()))
            .ok_or(ApiError::NoSuchResource),
        ["openapi", "v2"] => {
            if accept.is_empty() || accept.contains("application/json") || accept.contains("*/*") {
                Ok(Reply::Json(
                    StatusCode::OK,
                    server.with_store(|s| openapi::v2(&s.registry)),
                    Vec::new(),
                ))
            } else {
                Err(ApiError::NotAcceptable)
            }
        }
        ["openapi", "v3"] => Ok(Reply::Json(
            StatusCode::OK,
            server.with_store(|s| openapi::v3_index(&s.registry)),
            Vec::new(),
        )),
        ["openapi", "v3", rest @ ..] => server
            .with_store(|s| openapi::v3_for_path(&s.registry, &rest.join("/")))
            .map(|v| Reply::Json(StatusCode::OK, v, Vec::new()))
            .ok_or(ApiError::NoSuchResource),
        ["api", "v1", rest @ ..] => match ResourcePath::parse("", "v1", rest) {
            Some(p) => resource(server, &p, call),
            None => Err(ApiError::NoSuchResource),
        },
        ["apis", group, version, rest @ ..] => match ResourcePath::parse(group, version, rest) {
            Some(p) => resource(server, &p, call),
            None => Err(ApiError::NoSuchResource),
        },
        _ => Err(ApiError::NoSuchResource),
    };
    result.unwrap_or_else(Reply::from)
}

fn discovery_root(server: &ApiServer, accept: &str, legacy: bool) -> Reply {
    if discovery::wants_aggregated(accept) {
        let document = server.with_store(|s| discovery::aggregated(&s.registry, legacy));
        return Reply::Typed(StatusCode::OK, discovery::AGGREGATED_CONTENT_TYPE, document);
    }
    let document = if legacy {
        discovery::api_versions(&server.address())
    } else {
        server.with_store(|s| discovery::api_group_list(&s.registry))
    };
    Reply::Json(StatusCode::OK, document, Vec::new())
}

fn resource(server: &ApiServer, path: &ResourcePath, call: &Call) -> Result<Reply, ApiError> {
    let resource = server
        .with_store(|s| s.registry.find(&path.group, &path.version, &path.plural))
        .ok_or(ApiError::NoSuchResource)?;
    if path.namespace.is_some() && !resource.namespaced {
        return Err(ApiError::NoSuchResource);
    }
    let subresource = match path.subresource.as_deref() {
        None => Subresource::Main,
        Some("status") if resource.status_subresource => Subresource::Status,
        Some(_) => return Err(ApiError::NoSuchResource),
    };
    let namespace = path.namespace.as_deref();
    let accept = call.header(header::ACCEPT);
    let form = Form::negotiate(accept, call.query.get("includeObject"))?;
    if super::rbac::is_access_review(&resource) {
        // A review is answered, never stored: create is its only verb.
        if path.name.is_some() || call.method != Method::POST {
            return Err(ApiError::MethodNotAllowed);
        }
        let body = parse_body(call)?;
        let answer = server.with_store(|s| super::rbac::review(s, &resource, body))?;
        return Ok(object_reply(
            &resource,
            StatusCode::CREATED,
            answer,
            Vec::new(),
            form,
        ));
    }
    match (&path.name, &call.method) {
        (None, &Method::GET) => {
            if call.query.flag("watch") {
                watch_collection(server, &resource, namespace, call, form)
            } else {
                list(server, &resource, namespace, call, form)
            }
        }
        (None, &Method::POST) => {
            if resource.namespaced && namespace.is_none() {
                return Err(ApiError::MethodNotAllowed);
            }
            let body = parse_body(call)?;
            let options = write_options(call)?;
            let outcome =
                server.with_store_mut(|s| ops::create(s, &resource, namespace, body, &options))?;
            // A dry-run create answers 201 as well, with the object it would have stored.
            let status = StatusCode::CREATED;
            Ok(object_reply(
                &resource,
                status,
                outcome.object,
                outcome.warnings,
                form,
            ))
        }
        (None, &Method::DELETE) => delete_collection(server, &resource, namespace, call),
        (Some(name), &Method::GET) => {
            let object = server.with_store(|s| {
                let key = (
                    if resource.namespaced {
                        namespace.unwrap_or_default().to_string()
                    } else {
                        String::new()
                    },
                    name.clone(),
                );
                s.get(&resource.store, &key)
                    .map(|o| ops::view(&resource, o))
            });
            let object = object.ok_or_else(|| {
                ApiError::NotFound(super::error::Target::new(
                    &resource.group,
                    &resource.plural,
                    name,
                ))
            })?;
            Ok(object_reply(
                &resource,
                StatusCode::OK,
                object,
                Vec::new(),
                form,
            ))
        }
        (Some(name), &Method::PUT) => {
            let body = parse_body(call)?;
            let options = write_options(call)?;
            let outcome = server.with_store_mut(|s| {
                ops::update(s, &resource, namespace, name, body, subresource, &options)
            })?;
            wake_if_deleting(server, &outcome.object);
            Ok(object_reply(
                &resource,
                StatusCode::OK,
                outcome.object,
                outcome.warnings,
                form,
            ))
        }
        (Some(name), &Method::PATCH) => {
            let content_type = call.header(header::CONTENT_TYPE);
            let patch_type = PatchType::from_content_type(content_type)?;
            let mut options = write_options(call)?;
            options.force = call.query.flag("force");
            if options.force && patch_type != PatchType::Apply {
                return Err(ApiError::BadRequest(
                    "force: Forbidden: may not be specified for non-apply patch".into(),
                ));
            }
            if patch_type == PatchType::Apply {
                options.field_manager = call
                    .query
                    .get("fieldManager")
                    .unwrap_or_default()
                    .to_string();
            }
            let outcome = server.with_store_mut(|s| {
                ops::patch(
                    s,
                    &resource,
                    namespace,
                    name,
                    patch_type,
                    &call.body,
                    subresource,
                    &options,
                )
            })?;
            wake_if_deleting(server, &outcome.object);
            let status = if outcome.created {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            Ok(object_reply(
                &resource,
                status,
                outcome.object,
                outcome.warnings,
                form,
            ))
        }
        (Some(name), &Method::DELETE) if subresource == Subresource::Main => {
            let options = delete_options(call)?;
            let deleted =
                server.with_store_mut(|s| ops::delete(s, &resource, namespace, name, &options))?;
            server.wake_collector();
            if deleted.gone {
                let mut details = json!({"name": name, "kind": resource.plural});
                if !resource.group.is_empty() {
                    details["group"] = json!(resource.group);
                }
                if let Some(uid) = deleted.object.pointer("/metadata/uid") {
                    details["uid"] = uid.clone();
                }
                Ok(Reply::Json(
                    StatusCode::OK,
                    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details}),
                    Vec::new(),
                ))
            } else {
                Ok(object_reply(
                    &resource,
                    StatusCode::OK,
                    deleted.object,
                    Vec::new(),
                    form,
                ))
            }
        }
        _ => Err(ApiError::MethodNotAllowed),
    }
}

fn object_reply(
    resource: &ResourceType,
    status: StatusCode,
    object: Value,
    warnings: Vec<String>,
    form: Form,
) -> Reply {
    let body = match form {
        Form::Object => object,
        Form::Metadata => table::partial_metadata(&object),
        Form::Table(include) => {
            let rv = object
                .pointer("/metadata/resourceVersion")
                .cloned()
                .unwrap_or_default();
            table::table(
                resource,
                &[object],
                json!({"resourceVersion": rv}),
                include,
                true,
                Timestamp::now(),
            )
        }
    };
    Reply::Json(status, body, warnings)
}

/// Parses a JSON (or YAML) request body.
fn parse_body(call: &Call) -> Result<Value, ApiError> {
    let content_type = call.header(header::CONTENT_TYPE);
    if content_type.contains("protobuf") || content_type.contains("cbor") {
        return Err(ApiError::UnsupportedMediaType(format!(
            "the body of the request was in an unknown format - accepted media types include: \
             application/json, application/yaml (got {content_type})"
        )));
    }
    if content_type.contains("yaml") {
        serde_yaml_ng::from_slice(&call.body)
            .map_err(|e| ApiError::BadRequest(format!("error decoding YAML: {e}")))
    } else {
        serde_json::from_slice(&call.body).map_err(|e| {
            ApiError::BadRequest(format!("error decoding the request body as JSON: {e}"))
        })
    }
}

fn write_options(call: &Call) -> Result<WriteOptions, ApiError> {
    Ok(WriteOptions {
        dry_run: call.query.dry_run()?,
        field_manager: field_manager(&call.query, call.header(header::USER_AGENT))?,
        field_validation: FieldValidation::parse(call.query.get("fieldValidation"))?,
        force: false,
    })
}

fn delete_options(call: &Call) -> Result<DeleteOptions, ApiError> {
    let body: Value = if call.body.is_empty() {
        json!({})
    } else {
        serde_json::from_slice(&call.body)
            .map_err(|e| ApiError::BadRequest(format!("error decoding DeleteOptions: {e}")))?
    };
    let policy = call
        .query
        .get("propagationPolicy")
        .or_else(|| body["propagationPolicy"].as_str());
    let orphan = call
        .query
        .optional_flag("orphanDependents")
        .or_else(|| body["orphanDependents"].as_bool());
    let propagation = match (policy, orphan) {
        (Some("Background"), _) => Propagation::Background,
        (Some("Foreground"), _) => Propagation::Foreground,
        (Some("Orphan"), _) => Propagation::Orphan,
        (Some(other), _) => {
            return Err(ApiError::BadRequest(format!(
                "propagationPolicy: Unsupported value: \"{other}\": supported values: \"Foreground\", \"Background\", \"Orphan\""
            )));
        }
        (None, Some(true)) => Propagation::Orphan,
        (None, _) => Propagation::Background,
    };
    let dry_run = call.query.dry_run()?
        || body["dryRun"]
            .as_array()
            .is_some_and(|a| a.iter().any(|v| v == "All"));
    Ok(DeleteOptions {
        dry_run,
        propagation,
        uid: body
            .pointer("/preconditions/uid")
            .and_then(Value::as_str)
            .map(str::to_string),
        resource_version: body
            .pointer("/preconditions/resourceVersion")
            .and_then(Value::as_str)
            .map(str::to_string),
    })
}

fn selectors(
    resource: &ResourceType,
    query: &Query,
) -> Result<(LabelSelector, FieldSelector), ApiError> {
    let labels = LabelSelector::parse(query.get("labelSelector").unwrap_or_default())
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let fields = FieldSelector::parse(query.get("fieldSelector").unwrap_or_default())
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    for field in fields.fields() {
        if !resource.supports_field(field) {
            return Err(ApiError::BadRequest(format!(
                "field label not supported: {field}"
            )));
        }
    }
    Ok((labels, fields))
}

/// The continue token: the list's revision and the last key returned, hex encoded.
fn continue_token(revision: u64, namespace: &str, name: &str) -> String {
    let key: String = format!("{namespace}\u{0}{name}")
        .bytes()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("{revision}.{key}")
}

fn parse_continue(token: &str) -> Result<(u64, (String, String)), ApiError> {
    let invalid = || {
        ApiError::BadRequest("continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)".into())
    };
    let (revision, key) = token.split_once('.').ok_or_else(invalid)?;
    let revision: u64 = revision.parse().map_err(|_| invalid())?;
    let bytes: Vec<u8> = (0..key.len())
        .step_by(2)
        .map(|i| {
            key.get(i..i + 2)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        })
        .collect::<Option<_>>()
        .ok_or_else(invalid)?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    let (ns, name) = text.split_once('\u{0}').ok_or_else(invalid)?;
    Ok((revision, (ns.to_string(), name.to_string())))
}

fn list(
    server: &ApiServer,
    resource: &Arc<ResourceType>,
    namespace: Option<&str>,
    call: &Call,
    form: Form,
) -> Result<Reply, ApiError> {
    let (labels, fields) = selectors(resource, &call.query)?;
    let limit = call.query.number("limit")?.filter(|l| *l > 0);
    let start = call
        .query
        .get("continue")
        .filter(|c| !c.is_empty())
        .map(parse_continue)
        .transpose()?;
    let requested_rv = call.query.get("resourceVersion").unwrap_or_default();
    let exact = call.query.get("resourceVersionMatch") == Some("Exact");
    let (items, revision, next, remaining) = server.with_store(|s| {
        if exact && requested_rv != s.revision.to_string() {
            return Err(ApiError::Expired(format!(
                "too old resource version: {requested_rv} ({})",
                s.revision
            )));
        }
        let revision = start.as_ref().map_or(s.revision, |(rv, _)| *rv);
        let bucket = s.objects.get(&resource.store);
        let mut matching = Vec::new();
        for ((ns, name), stored) in bucket.into_iter().flatten() {
            if resource.namespaced && namespace.is_some_and(|n| n != ns) {
                continue;
            }
            if let Some((_, after)) = &start
                && (ns, name) <= (&after.0, &after.1)
            {
                continue;
            }
            // Labels read the same in every version of an object, so they are checked before
            // the (copying) conversion to the requested version.
            if !labels.matches_object(stored) {
                continue;
            }
            let object = ops::view(resource, stored);
            if fields.matches(&object) {
                matching.push(((ns.clone(), name.clone()), object));
            }
        }
        let total = matching.len();
        let mut next = None;
        let mut remaining = None;
        if let Some(limit) = limit
            && total > limit as usize
        {
            matching.truncate(limit as usize);
            if let Some(((ns, name), _)) = matching.last() {
                next = Some(continue_token(revision, ns, name));
            }
            remaining = Some(total - limit as usize);
        }
        Ok((
            matching.into_iter().map(|(_, o)| o).collect::<Vec<_>>(),
            revision,
            next,
            remaining,
        ))
    })?;
    let mut metadata = json!({"resourceVersion": revision.to_string()});
    if let Some(token) = next {
        metadata["continue"] = json!(token);
        metadata["remainingItemCount"] = json!(remaining.unwrap_or_default());
    }
    let body = match form {
        Form::Table(include) => {
            table::table(resource, &items, metadata, include, true, Timestamp::now())
        }
        Form::Metadata => json!({
            "kind": "PartialObjectMetadataList",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": metadata,
            "items": items.iter().map(table::partial_metadata).collect::<Vec<_>>(),
        }),
        Form::Object => json!({
            "kind": format!("{}List", resource.kind),
            "apiVersion": resource.api_version(),
            "metadata": metadata,
            "items": items,
        }),
    };
    Ok(Reply::Json(StatusCode::OK, body, Vec::new()))
}

fn watch_collection(
    server: &ApiServer,
    resource: &Arc<ResourceType>,
    namespace: Option<&str>,
    call: &Call,
    form: Form,
) -> Result<Reply, ApiError> {
    let (labels, fields) = selectors(resource, &call.query)?;
    let spec = WatchSpec {
        resource: resource.clone(),
        namespace: namespace
            .filter(|_| resource.namespaced)
            .map(str::to_string),
        labels,
        fields,
        form,
        bookmarks: call.query.flag("allowWatchBookmarks"),
    };
    let rv = call.query.get("resourceVersion").unwrap_or_default();
    let start = match (call.query.optional_flag("sendInitialEvents"), rv) {
        (Some(true), _) => {
            if call.query.get("resourceVersionMatch") != Some("NotOlderThan") {
                return Err(ApiError::Invalid {
                    kind: "ListOptions".into(),
                    group: "meta.k8s.io".into(),
                    name: String::new(),
                    errors: vec![super::validation::FieldError {
                        field: "resourceVersionMatch".into(),
                        kind: super::validation::FieldErrorKind::Forbidden,
                        message: "Forbidden: sendInitialEvents requires setting resourceVersionMatch to NotOlderThan".into(),
                    }],
                });
            }
            Start::InitialEvents
        }
        (Some(false), "" | "0") => Start::Now,
        (_, "" | "0") => Start::CurrentState,
        (_, number) => {
            Start::After(number.parse().map_err(|_| {
                ApiError::BadRequest(format!("invalid resource version: {number:?}"))
            })?)
        }
    };
    let timeout = call
        .query
        .number("timeoutSeconds")?
        .map_or(DEFAULT_WATCH_TIMEOUT, Duration::from_secs);
    let opened = server.with_store(|s| watch::open(s, &spec, &start));
    Ok(Reply::Stream(watch::stream(
        opened,
        spec,
        server.store(),
        timeout,
        server.bookmark_interval(),
        server.shutdown_signal(),
    )))
}

fn delete_collection(
    server: &ApiServer,
    resource: &Arc<ResourceType>,
    namespace: Option<&str>,
    call: &Call,
) -> Result<Reply, ApiError> {
    let (labels, fields) = selectors(resource, &call.query)?;
    let options = delete_options(call)?;
    let deleted = server.with_store_mut(|s| {
        let names: Vec<(String, String)> = s
            .list(&resource.store, namespace.filter(|_| resource.namespaced))
            .into_iter()
            .map(|o| ops::view(resource, o))
            .filter(|o| labels.matches_object(o) && fields.matches(o))
            .filter_map(|o| {
                Some((
                    o.pointer("/metadata/namespace")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string(),
                    o.pointer("/metadata/name")
                        .and_then(Value::as_str)?
                        .to_string(),
                ))
            })
            .collect();
        let mut items = Vec::new();
        for (ns, name) in names {
            let ns = (!ns.is_empty()).then_some(ns.as_str());
            if let Ok(deleted) = ops::delete(s, resource, ns, &name, &options) {
                items.push(deleted.object);
            }
        }
        items
    });
    server.wake_collector();
    Ok(Reply::Json(
        StatusCode::OK,
        json!({
            "kind": format!("{}List", resource.kind),
            "apiVersion": resource.api_version(),
            "metadata": {},
            "items": deleted,
        }),
        Vec::new(),
    ))
}

/// Wakes the garbage collector after a write that can cascade: a write to an object being deleted
/// (the last finalizer removed, say). Other writes are picked up by its periodic pass.
fn wake_if_deleting(server: &ApiServer, object: &Value) {
    if object.pointer("/metadata/deletionTimestamp").is_some() {
        server.wake_collector();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continue_tokens_round_trip() {
        let token = continue_token(42, "default", "web");
        assert_eq!(
            parse_continue(&token).unwrap(),
            (42, ("default".into(), "web".into()))
        );
        assert!(parse_continue("garbage").is_err());
    }
}
