//! Kubernetes API simulator: the parts of an API server the operator and kubectl rely on, served
//! over HTTP on loopback so the real `kube` client (watchers, controllers, the finalizer helper,
//! the event recorder) and a real kubectl talk to it unmodified.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use cygni::sim::kube::ApiServer;
//! let server = ApiServer::new();
//! for crd in cygni::api::crd::all() {
//!     server.install_crd(&crd).expect("the project's CRDs install");
//! }
//! let running = server.serve("127.0.0.1:0".parse().expect("address")).await?;
//! let client = running.client(); // or write running.kubeconfig() for kubectl
//! # drop(client);
//! running.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! # What it serves
//!
//! - Discovery (`/version`, `/api`, `/apis`, group and group-version documents, and the
//!   aggregated `apidiscovery.k8s.io/v2` form), `/openapi/v3` built from the CRD schemas (and a
//!   small schema for each built-in kind), a JSON `/openapi/v2`.
//! - Namespaces (`default`, `kube-system`, `kube-public`, `kube-node-lease` exist from the
//!   start), ConfigMaps, Secrets, Leases, CustomResourceDefinitions, Events in core/v1 and
//!   events.k8s.io/v1 (one store, converted as the real server converts them), and every custom
//!   resource of an installed CRD, namespaced or cluster scoped, with its status subresource.
//! - One store-wide resourceVersion; get, list (label and field selectors, `limit`/`continue`),
//!   watch (replay from a retained resourceVersion, 410 `Expired` beyond the last 10,000
//!   changes, bookmarks, `sendInitialEvents`), create, update, merge / JSON / apply patches
//!   (`strategic-merge-patch` is refused with 415 for custom resources, as the real server does),
//!   delete and deletecollection, `dryRun=All`.
//! - The object lifecycle: `metadata.generation`, the status subresource split, finalizers and
//!   `deletionTimestamp`, ownerReference garbage collection (Background, Foreground, Orphan),
//!   namespace termination, CRD instance cleanup, field ownership in `managedFields` with
//!   server-side apply conflicts.
//! - Custom object admission: pruning (or 400 for unknown fields under
//!   `fieldValidation=Strict`, a `Warning` header under `Warn`), schema defaults, structural and
//!   CEL validation ([`validation`]) with the real 422 wording, and DNS-subdomain names.
//! - Server-side printing: `Table` responses (and watch events) with the CRD's printer columns,
//!   the `cygni` category and `cx*` short names in discovery.
//!
//! # Layout
//!
//! | module | what it holds |
//! |---|---|
//! | `http` (private) | routing, parameters, responses |
//! | [`request`] | path parsing, query parameters, `Accept` negotiation, field manager |
//! | [`registry`] | the served types: built-ins and one per CRD version, printer columns |
//! | [`store`] | objects, the revision counter, the bounded change history |
//! | [`ops`] | create, update, patch, apply, delete: the strategy every write goes through |
//! | [`apply`], [`fields`] | server-side apply and `managedFields` |
//! | [`validation`] | structural and CEL validation worded as the API server words it |
//! | [`selector`] | label and field selectors |
//! | `watch` (private) | watch streams, replay, bookmarks |
//! | `gc` (private) | garbage collector, namespace and CRD cleanup, event expiry |
//! | [`events`] | core/v1 <-> events.k8s.io/v1 conversion |
//! | [`rbac`] | Roles, bindings and SubjectAccessReviews answered as the RBAC authorizer does |
//! | [`table`] | server-side printing |
//! | [`discovery`], [`openapi`] | discovery documents and OpenAPI |
//! | [`error`] | `Status` responses |
//!
//! # Differences from a real API server
//!
//! Deliberate simplifications, each something a real cluster does and this one does not:
//!
//! - No authentication, authorization, admission webhooks, API priority and fairness, audit, or
//!   TLS; every request is allowed. RBAC objects are kept and SubjectAccessReviews are answered
//!   from them as the RBAC authorizer would ([`rbac`]), but they govern no request.
//! - Only JSON is spoken (and YAML request bodies are read). A protobuf request body is refused
//!   with 415, which is what `kubectl create namespace|configmap|secret` (imperative commands
//!   that use kubectl's typed clients) send: use `kubectl apply -f` or `kubectl create -f`
//!   instead. A protobuf-only `Accept` gets 406 (kubectl asks `/openapi/v2` that way and falls
//!   back; JSON `/openapi/v2` is served when asked for).
//! - Built-in kinds other than the RBAC ones are not validated beyond `metadata.name` (a DNS
//!   label for namespaces, a DNS subdomain otherwise); their lists are atomic for server-side apply, and a strategic merge
//!   patch on them is applied as a JSON merge patch (directives such as `$patch` are dropped).
//!   Labels and annotations are not validated on any kind. A CRD's own spec is only checked for
//!   its name (`<plural>.<group>`), not for a structural schema. Events and Leases are not
//!   validated (the real server requires e.g. `reportingController` on events.k8s.io/v1).
//! - CRDs are established at once (no asynchronous naming controller); a CRD with several
//!   versions serves each with `conversion: None` semantics (only `apiVersion` changes).
//! - A list is always served from the current state: `resourceVersionMatch=Exact` for any
//!   revision but the current one answers 410, and the pages of a paginated list are not a
//!   snapshot (each page reads the current state after the previous page's last key, and every
//!   page reports the first page's resourceVersion so a following watch replays whatever changed
//!   in between). Continue tokens are opaque but not the real server's format. `limit` is
//!   honoured even with `resourceVersion=0` (the real server's cache ignores it).
//! - Table cells of non-string values in `string` printer columns are printed as JSON where Go
//!   prints `map[...]`. (`date` columns are rendered as ages such as `5m`, as the real server's
//!   table convertor does; `kubectl get crd` shows the raw `Created At` timestamp, as it does on
//!   a real cluster.) Built-in kinds get a small set of columns (`Name`, `Status`, `Data`,
//!   `Type`, `Age`, the event columns), not every column of the real printers.
//! - Watches send a bookmark every few seconds (configurable with
//!   [`ApiServer::with_bookmark_interval`]) when `allowWatchBookmarks` is set, rather than about
//!   once a minute; a watcher that falls more than 10,000 changes behind is closed (the client
//!   resumes from its last resourceVersion). The history kept for resuming watches is the last
//!   10,000 changes ([`ApiServer::with_history_limit`]) rather than etcd's five-minute window.
//!   Watches without `timeoutSeconds` last 30 minutes.
//! - Garbage collection deletes a dependent only when all of its owners are gone; it does not
//!   remove dangling references from dependents that still have a live owner, and it does not
//!   check that an owner reference's kind matches the owner (only the uid). `blockOwnerDeletion`
//!   is not enforced: foreground deletion waits for every dependent.
//! - Field ownership is tracked at leaf granularity with structured-merge-diff's rules for the
//!   common cases (struct fields, `map` lists by key, `set` lists by value, atomic lists and
//!   maps); `x-kubernetes-list-type` is read from the CRD schema, and ObjectMeta's finalizers and
//!   ownerReferences get their real types. Fields an applier drops are removed when nobody else
//!   owns them; emptied parent maps are left in place.
//! - `metadata.generation` is maintained for custom resources and CRDs only (as on a real
//!   server, ConfigMaps, Secrets, Namespaces, Events and Leases have none). Without a status
//!   subresource a status change bumps it, as it does on a real server.
//! - No `kubernetes` Service, no nodes, pods or service accounts, and no `all` category:
//!   `kubectl get all` fails with "the server doesn't have a resource type".

pub mod apply;
pub mod discovery;
pub mod error;
pub mod events;
pub mod fields;
mod gc;
mod http;
pub mod openapi;
pub mod ops;
pub mod rbac;
pub mod registry;
pub mod request;
pub mod selector;
pub mod store;
pub mod table;
pub mod validation;
mod watch;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use serde_json::{Value, json};
use tokio::sync::Notify;

pub use error::ApiError;
use ops::WriteOptions;
use store::Store;

/// The namespaces a fresh server has.
const INITIAL_NAMESPACES: [&str; 4] = ["default", "kube-system", "kube-public", "kube-node-lease"];

/// How often watches that allow bookmarks get one, unless configured otherwise.
const DEFAULT_BOOKMARK_INTERVAL: Duration = Duration::from_secs(5);

/// The simulated API server: the store and the HTTP router. Cloning shares the same state.
#[derive(Clone)]
pub struct ApiServer {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<Mutex<Store>>,
    /// Where the store is kept on disk, when it is.
    state: Mutex<Option<std::path::PathBuf>>,
    collector: Notify,
    address: Mutex<String>,
    bookmark_interval: Mutex<Duration>,
    shutdown: tokio::sync::watch::Sender<bool>,
}

impl std::fmt::Debug for ApiServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiServer")
            .field("address", &self.address())
            .finish_non_exhaustive()
    }
}

impl Default for ApiServer {
    fn default() -> Self {
        Self::new()
    }
}

impl ApiServer {
    /// A server with the namespaces `default`, `kube-system`, `kube-public` and
    /// `kube-node-lease`, and no CRDs.
    pub fn new() -> Self {
        let (shutdown, _) = tokio::sync::watch::channel(false);
        let server = Self {
            inner: Arc::new(Inner {
                store: Arc::new(Mutex::new(Store::new())),
                state: Mutex::new(None),
                collector: Notify::new(),
                address: Mutex::new(String::new()),
                bookmark_interval: Mutex::new(DEFAULT_BOOKMARK_INTERVAL),
                shutdown,
            }),
        };
        let options = WriteOptions {
            field_manager: "kube-apiserver".into(),
            ..WriteOptions::default()
        };
        server.with_store_mut(|store| {
            let Some(namespaces) = store.registry.find("", "v1", "namespaces") else {
                return;
            };
            for name in INITIAL_NAMESPACES {
                let body =
                    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}});
                if let Err(error) = ops::create(store, &namespaces, None, body, &options) {
                    tracing::error!(%error, name, "could not create an initial namespace");
                }
            }
        });
        server
    }

    /// Creates a namespace, as `kubectl create namespace` would; one that exists is left alone.
    pub fn create_namespace(&self, name: &str) -> Result<(), ApiError> {
        let options = WriteOptions {
            field_manager: "cygni-playground".into(),
            ..WriteOptions::default()
        };
        self.with_store_mut(|store| {
            let namespaces = store
                .registry
                .find("", "v1", "namespaces")
                .ok_or(ApiError::NoSuchResource)?;
            let body = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}});
            match ops::create(store, &namespaces, None, body, &options) {
                Ok(_) | Err(ApiError::AlreadyExists(_)) => Ok(()),
                Err(error) => Err(error),
            }
        })
    }

    /// Sends watch bookmarks this often (default 5 s) to watches that allow them.
    pub fn with_bookmark_interval(self, every: Duration) -> Self {
        if let Ok(mut interval) = self.inner.bookmark_interval.lock() {
            *interval = every;
        }
        self
    }

    /// Keeps only the last `changes` changes for watches to resume from (default 10,000); a
    /// watch from an older resourceVersion gets a 410 `Expired` error event.
    pub fn with_history_limit(self, changes: usize) -> Self {
        self.with_store_mut(|store| store.history_limit = changes.max(1));
        self
    }

    /// Installs a CRD: the same effect as POSTing it (or PUTting it over an existing one with the
    /// same name). Returns the stored CRD.
    pub fn install_crd(&self, crd: &CustomResourceDefinition) -> Result<Value, ApiError> {
        let mut body = serde_json::to_value(crd).map_err(|e| ApiError::Internal(e.to_string()))?;
        body["apiVersion"] = json!("apiextensions.k8s.io/v1");
        body["kind"] = json!("CustomResourceDefinition");
        let options = WriteOptions {
            field_manager: "cygni-playground".into(),
            ..WriteOptions::default()
        };
        self.with_store_mut(|store| {
            let resource = store
                .registry
                .find("apiextensions.k8s.io", "v1", "customresourcedefinitions")
                .ok_or(ApiError::NoSuchResource)?;
            let name = crd.metadata.name.clone().unwrap_or_default();
            let key = (String::new(), name.clone());
            let outcome = match store.get(&resource.store, &key).cloned() {
                Some(existing) => {
                    body["metadata"]["resourceVersion"] =
                        existing["metadata"]["resourceVersion"].clone();
                    ops::update(
                        store,
                        &resource,
                        None,
                        &name,
                        body,
                        ops::Subresource::Main,
                        &options,
                    )?
                }
                None => ops::create(store, &resource, None, body, &options)?,
            };
            Ok(outcome.object)
        })
    }

    /// Binds `addr` (port 0 picks a free port), starts serving in the background, and returns a
    /// handle with the URL, a kubeconfig and a client.
    pub async fn serve(&self, addr: SocketAddr) -> std::io::Result<RunningServer> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let local = listener.local_addr()?;
        if let Ok(mut address) = self.inner.address.lock() {
            *address = local.to_string();
        }
        let router = axum::Router::new()
            .fallback(http::handle)
            .with_state(self.clone());
        let mut stop = self.inner.shutdown.subscribe();
        let mut stop_gc = self.inner.shutdown.subscribe();
        let server_task = tokio::spawn(async move {
            let shutdown = async move {
                // Either a shutdown request or the sender dropping ends the server.
                let _ = stop.wait_for(|stopped| *stopped).await;
            };
            if let Err(error) = axum::serve(listener, router)
                .with_graceful_shutdown(shutdown)
                .await
            {
                tracing::error!(%error, "kube simulator stopped serving");
            }
        });
        let server = self.clone();
        let gc_task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tokio::select! {
                    _ = server.inner.collector.notified() => {}
                    _ = tick.tick() => {}
                    _ = stop_gc.wait_for(|stopped| *stopped) => break,
                }
                // Passes repeat while they make progress (a cascade takes several).
                for _ in 0..16 {
                    if !server.with_store_mut(gc::collect) {
                        break;
                    }
                }
            }
        });
        Ok(RunningServer {
            server: self.clone(),
            address: local,
            server_task,
            gc_task,
        })
    }

    fn store(&self) -> Arc<Mutex<Store>> {
        self.inner.store.clone()
    }

    fn lock(&self) -> MutexGuard<'_, Store> {
        // A panic while holding the lock leaves the store consistent enough for a simulator.
        self.inner
            .store
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn with_store<T>(&self, f: impl FnOnce(&Store) -> T) -> T {
        f(&self.lock())
    }

    fn with_store_mut<T>(&self, f: impl FnOnce(&mut Store) -> T) -> T {
        let mut store = self.lock();
        let before = store.revision;
        let out = f(&mut store);
        if store.revision != before {
            self.persist(&store);
        }
        out
    }

    /// Writes the store to its file, when it is kept in one (atomically: a restart reads the old
    /// objects or the new ones, never half). A failure is logged; the next write tries again.
    fn persist(&self, store: &Store) {
        let state = self
            .inner
            .state
            .lock()
            .map(|s| s.clone())
            .unwrap_or_default();
        let Some(path) = state else {
            return;
        };
        let write = || -> std::io::Result<()> {
            let bytes = serde_json::to_vec(&store.persisted())
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
            let tmp = path.with_extension("json.tmp");
            std::fs::write(&tmp, bytes)?;
            std::fs::rename(&tmp, &path)
        };
        if let Err(error) = write() {
            tracing::warn!(%error, path = %path.display(), "cannot write the Kubernetes objects");
        }
    }

    /// Keeps the objects in the file `path` from now on: the objects written there before are
    /// read back first (watches from before get `410 Expired` and list again, as after an etcd
    /// compaction), then every change is written. Returns whether objects were read back.
    pub fn keep_in(&self, path: &std::path::Path) -> std::io::Result<bool> {
        let resumed = match std::fs::read(path) {
            Ok(bytes) => {
                let persisted: serde_json::Value = serde_json::from_slice(&bytes)
                    .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
                self.lock().restore(&persisted);
                true
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
            Err(e) => return Err(e),
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        if let Ok(mut state) = self.inner.state.lock() {
            *state = Some(path.to_path_buf());
        }
        let store = self.lock();
        self.persist(&store);
        Ok(resumed)
    }

    fn wake_collector(&self) {
        self.inner.collector.notify_one();
    }

    fn address(&self) -> String {
        self.inner
            .address
            .lock()
            .map(|a| a.clone())
            .unwrap_or_default()
    }

    fn bookmark_interval(&self) -> Duration {
        self.inner
            .bookmark_interval
            .lock()
            .map(|d| *d)
            .unwrap_or(DEFAULT_BOOKMARK_INTERVAL)
    }

    fn shutdown_signal(&self) -> tokio::sync::watch::Receiver<bool> {
        self.inner.shutdown.subscribe()
    }
}

/// A server that is listening.
#[derive(Debug)]
pub struct RunningServer {
    server: ApiServer,
    address: SocketAddr,
    server_task: tokio::task::JoinHandle<()>,
    gc_task: tokio::task::JoinHandle<()>,
}

/// The cluster, context and user name in the kubeconfig.
const KUBECONFIG_NAME: &str = "cygni-playground";

impl RunningServer {
    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// The address listened on.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The server state (to install CRDs while it runs).
    pub fn api_server(&self) -> &ApiServer {
        &self.server
    }

    /// A kubeconfig for kubectl: cluster, context and user `cygni-playground`, no credentials,
    /// namespace `default`.
    pub fn kubeconfig(&self) -> String {
        format!(
            "apiVersion: v1\n\
             kind: Config\n\
             clusters:\n\
             - name: {KUBECONFIG_NAME}\n  cluster:\n    server: {url}\n\
             contexts:\n\
             - name: {KUBECONFIG_NAME}\n  context:\n    cluster: {KUBECONFIG_NAME}\n    user: {KUBECONFIG_NAME}\n    namespace: default\n\
             current-context: {KUBECONFIG_NAME}\n\
             users:\n\
             - name: {KUBECONFIG_NAME}\n  user: {{}}\n\
             preferences: {{}}\n",
            url = self.url()
        )
    }

    /// A kube client for this server (default namespace `default`).
    pub fn client(&self) -> kube::Client {
        match kube::Client::try_from(self.config()) {
            Ok(client) => client,
            Err(error) => unreachable!("a plain-http kube client cannot fail to build: {error}"),
        }
    }

    /// A client configuration for the API (plain HTTP, namespace `default`).
    pub fn config(&self) -> kube::Config {
        let uri: axum::http::Uri = match self.url().parse() {
            Ok(uri) => uri,
            Err(_) => unreachable!("an http URL of a socket address always parses"),
        };
        let mut config = kube::Config::new(uri);
        config.default_namespace = "default".into();
        config
    }

    /// Stops serving: open watches end, the listener closes, and background work stops.
    pub async fn shutdown(self) {
        self.server.inner.shutdown.send_replace(true);
        let _ = tokio::time::timeout(Duration::from_secs(5), self.server_task).await;
        let _ = tokio::time::timeout(Duration::from_secs(1), self.gc_task).await;
        self.server.inner.shutdown.send_replace(false);
    }
}
