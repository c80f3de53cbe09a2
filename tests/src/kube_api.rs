//! A stand-in for the Kubernetes API server. No API server can run here (no etcd, no
//! kube-apiserver binary), so the tests serve API objects shaped exactly like
//! `kubectl get --raw` output (the files under `tests/fixtures/kube/`) over plain HTTP, with the
//! protocol the reflectors and TokenReview depend on:
//!
//! - list: `GET /api/v1/pods` answers a `PodList` whose `metadata.resourceVersion` is the
//!   collection's current version;
//! - watch: `GET …?watch=true&resourceVersion=RV` streams newline-delimited `WatchEvent`s: the
//!   events after RV from the collection's history, then new ones as they happen. A version older
//!   than the history's start (after [`KubeApi::expire_watches`]) gets an `ERROR` event with a
//!   `Status` of code 410 (Gone), as a real API server sends after etcd compaction; the client
//!   must list again;
//! - discovery: `GET /apis/GROUP/VERSION` answers an `APIResourceList` for the groups served, 404
//!   for the others (a CRD that is not installed);
//! - `POST /apis/authentication.k8s.io/v1/tokenreviews` answers from the tokens registered with
//!   [`KubeApi::service_account_token`]: authenticated when the token is known and bound to one of
//!   the requested audiences, with the ServiceAccount's user name, as kube-apiserver answers;
//! - every request must carry the kubeconfig's bearer token (401 otherwise).
//!
//! It runs on a thread of its own with its own runtime, so synchronous tests can use it.

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};
use tokio_stream::StreamExt as _;
use tokio_stream::wrappers::UnboundedReceiverStream;

/// The bearer token the generated kubeconfig carries.
pub const CLIENT_TOKEN: &str = "kube-api-test-client-token";

/// The stand-in could not be started.
#[derive(Debug, thiserror::Error)]
pub enum KubeApiError {
    #[error("cannot start the stand-in API server")]
    Start(#[source] std::io::Error),
    #[error("cannot read the fixture {}", .path.display())]
    Fixture {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the fixture {} is not JSON", .path.display())]
    FixtureJson {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("cannot write the kubeconfig")]
    Kubeconfig(#[source] std::io::Error),
}

/// The directory of the recorded objects.
pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/kube")
}

/// A fixture file, parsed.
pub fn fixture(name: &str) -> Result<Value, KubeApiError> {
    let path = fixtures_dir().join(name);
    let text = std::fs::read_to_string(&path).map_err(|source| KubeApiError::Fixture {
        path: path.clone(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|source| KubeApiError::FixtureJson { path, source })
}

/// One collection (`/api/v1/pods`): its objects, and its history of watch events.
#[derive(Debug)]
struct Collection {
    api_version: String,
    list_kind: String,
    items: BTreeMap<String, Value>,
    /// (resourceVersion, event line), oldest first.
    history: Vec<(u64, Bytes)>,
    /// Watches older than this are gone (410).
    history_starts: u64,
    watchers: Vec<mpsc::UnboundedSender<Bytes>>,
    lists: u64,
}

#[derive(Debug, Default)]
struct Shared {
    version: u64,
    collections: HashMap<String, Collection>,
    /// `group/version` → the resources (plural, kind, namespaced) it serves.
    groups: HashMap<String, Vec<(String, String, bool)>>,
    /// token → (user name, audiences).
    tokens: HashMap<String, (String, Vec<String>)>,
    reviews: u64,
}

type SharedState = Arc<Mutex<Shared>>;

/// The running stand-in; stops when dropped.
#[derive(Debug)]
pub struct KubeApi {
    addr: SocketAddr,
    shared: SharedState,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

fn key_of(object: &Value) -> String {
    let meta = &object["metadata"];
    match meta["namespace"].as_str() {
        Some(ns) => format!("{ns}/{}", meta["name"].as_str().unwrap_or_default()),
        None => meta["name"].as_str().unwrap_or_default().to_owned(),
    }
}

impl KubeApi {
    /// Starts serving on a free loopback port, with no collections yet.
    pub fn start() -> Result<Self, KubeApiError> {
        let listener = std::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
            .map_err(KubeApiError::Start)?;
        listener
            .set_nonblocking(true)
            .map_err(KubeApiError::Start)?;
        let addr = listener.local_addr().map_err(KubeApiError::Start)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(KubeApiError::Start)?;
        let shared = SharedState::default();
        let (stop, stopped) = oneshot::channel::<()>();
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(shared.clone());
        let thread = std::thread::spawn(move || {
            runtime.block_on(async move {
                let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                    return;
                };
                let _ = axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = stopped.await;
                    })
                    .await;
            });
        });
        Ok(KubeApi {
            addr,
            shared,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    fn with<T>(&self, f: impl FnOnce(&mut Shared) -> T) -> T {
        f(&mut self.shared.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Serves the list `list` (a `PodList`, `NodeList`, … as `kubectl get --raw` prints it) at
    /// `path` (`/api/v1/pods`); its `resourceVersion`s are replaced by this server's.
    pub fn serve_list(&self, path: &str, list: &Value) {
        let api_version = list["apiVersion"].as_str().unwrap_or("v1").to_owned();
        let list_kind = list["kind"].as_str().unwrap_or("List").to_owned();
        self.with(|s| {
            let mut items = BTreeMap::new();
            for item in list["items"].as_array().into_iter().flatten() {
                s.version += 1;
                let mut item = item.clone();
                item["metadata"]["resourceVersion"] = json!(s.version.to_string());
                items.insert(key_of(&item), item);
            }
            s.collections.insert(
                path.to_owned(),
                Collection {
                    api_version,
                    list_kind,
                    items,
                    history: Vec::new(),
                    history_starts: s.version,
                    watchers: Vec::new(),
                    lists: 0,
                },
            );
        });
    }

    /// Serves `group/version` (`crd.k8s.amazonaws.com/v1alpha1`) in discovery with one resource.
    pub fn serve_group(&self, group_version: &str, plural: &str, kind: &str, namespaced: bool) {
        self.with(|s| {
            s.groups.entry(group_version.to_owned()).or_default().push((
                plural.to_owned(),
                kind.to_owned(),
                namespaced,
            ));
        });
    }

    /// Adds or replaces `object` in the collection at `path`: watchers get `ADDED`/`MODIFIED`
    /// when `notify`, else the change is left out of the history, as if the watch had missed it
    /// (only a list shows it).
    pub fn put(&self, path: &str, mut object: Value, notify: bool) {
        self.with(|s| {
            s.version += 1;
            let version = s.version;
            let Some(c) = s.collections.get_mut(path) else {
                return;
            };
            object["metadata"]["resourceVersion"] = json!(version.to_string());
            let key = key_of(&object);
            let kind = if c.items.contains_key(&key) {
                "MODIFIED"
            } else {
                "ADDED"
            };
            c.items.insert(key, object.clone());
            if notify {
                c.record(version, kind, object);
            }
        });
    }

    /// Deletes `namespace/name` (or `name`) from the collection at `path`, notifying watchers
    /// when `notify`.
    pub fn delete(&self, path: &str, key: &str, notify: bool) {
        self.with(|s| {
            s.version += 1;
            let version = s.version;
            let Some(c) = s.collections.get_mut(path) else {
                return;
            };
            if let Some(mut object) = c.items.remove(key)
                && notify
            {
                object["metadata"]["resourceVersion"] = json!(version.to_string());
                c.record(version, "DELETED", object);
            }
        });
    }

    /// Compacts every collection's history: open watches get an `ERROR` event with a 410 Gone
    /// `Status` and end; a watch from an older version gets the same at once.
    pub fn expire_watches(&self) {
        self.with(|s| {
            let version = s.version;
            for c in s.collections.values_mut() {
                c.history.clear();
                c.history_starts = version;
                let gone = gone_event(version);
                for watcher in c.watchers.drain(..) {
                    let _ = watcher.send(gone.clone());
                }
            }
        });
    }

    /// How many times the collection at `path` was listed.
    pub fn lists(&self, path: &str) -> u64 {
        self.with(|s| s.collections.get(path).map_or(0, |c| c.lists))
    }

    /// How many watches of `path` are open.
    pub fn open_watches(&self, path: &str) -> usize {
        self.with(|s| {
            s.collections.get_mut(path).map_or(0, |c| {
                c.watchers.retain(|w| !w.is_closed());
                c.watchers.len()
            })
        })
    }

    /// Makes `token` a ServiceAccount token of `namespace/name` bound to `audiences`.
    pub fn service_account_token(
        &self,
        token: &str,
        namespace: &str,
        name: &str,
        audiences: &[&str],
    ) {
        self.with(|s| {
            s.tokens.insert(
                token.to_owned(),
                (
                    format!("system:serviceaccount:{namespace}:{name}"),
                    audiences.iter().map(|a| (*a).to_owned()).collect(),
                ),
            );
        });
    }

    /// How many TokenReviews were asked.
    pub fn token_reviews(&self) -> u64 {
        self.with(|s| s.reviews)
    }

    /// Writes a kubeconfig for this server (plain HTTP, bearer [`CLIENT_TOKEN`]) into `dir`.
    pub fn write_kubeconfig(&self, dir: &Path) -> Result<PathBuf, KubeApiError> {
        let path = dir.join("kubeconfig");
        let text = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: recorded\n  cluster:\n    server: {}\n\
             contexts:\n- name: recorded\n  context:\n    cluster: recorded\n    user: podwire-server\n\
             current-context: recorded\nusers:\n- name: podwire-server\n  user:\n    token: {CLIENT_TOKEN}\n",
            self.url()
        );
        std::fs::write(&path, text).map_err(KubeApiError::Kubeconfig)?;
        Ok(path)
    }
}

impl Drop for KubeApi {
    fn drop(&mut self) {
        self.with(|s| {
            for c in s.collections.values_mut() {
                c.watchers.clear();
            }
        });
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Collection {
    fn record(&mut self, version: u64, kind: &str, object: Value) {
        let line = event_line(kind, object);
        self.history.push((version, line.clone()));
        self.watchers.retain(|w| w.send(line.clone()).is_ok());
    }
}

fn event_line(kind: &str, object: Value) -> Bytes {
    let mut line = json!({"type": kind, "object": object}).to_string();
    line.push('\n');
    Bytes::from(line)
}

fn gone_event(version: u64) -> Bytes {
    event_line(
        "ERROR",
        json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": format!("too old resource version: {version}"), "reason": "Expired", "code": 410
        }),
    )
}

fn status(code: StatusCode, reason: &str, message: &str) -> Response {
    let body = json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message, "reason": reason, "code": code.as_u16()
    });
    (
        code,
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn json_response(value: &Value) -> Response {
    ([("content-type", "application/json")], value.to_string()).into_response()
}

async fn handle(State(shared): State<SharedState>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    if !authorized(&parts.headers) {
        return status(StatusCode::UNAUTHORIZED, "Unauthorized", "Unauthorized");
    }
    let body = axum::body::to_bytes(body, 1 << 20)
        .await
        .unwrap_or_default();
    let mut shared = shared.lock().unwrap_or_else(PoisonError::into_inner);
    match parts.method {
        Method::POST if parts.uri.path() == "/apis/authentication.k8s.io/v1/tokenreviews" => {
            token_review(&mut shared, &body)
        }
        Method::GET => get(&mut shared, &parts.uri),
        _ => status(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            "not served",
        ),
    }
}

fn authorized(headers: &HeaderMap) -> bool {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == format!("Bearer {CLIENT_TOKEN}"))
}

fn get(shared: &mut Shared, uri: &Uri) -> Response {
    let path = uri.path();
    let query: HashMap<String, String> = uri
        .query()
        .unwrap_or_default()
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    if let Some(group_version) = path.strip_prefix("/apis/")
        && group_version.matches('/').count() == 1
    {
        return discovery(shared, group_version);
    }
    let version = shared.version;
    let Some(c) = shared.collections.get_mut(path) else {
        return status(
            StatusCode::NOT_FOUND,
            "NotFound",
            "the server could not find the requested resource",
        );
    };
    let watch = query.get("watch").is_some_and(|w| w == "true" || w == "1");
    if !watch {
        c.lists += 1;
        let list = json!({
            "apiVersion": c.api_version, "kind": c.list_kind,
            "metadata": {"resourceVersion": version.to_string()},
            "items": c.items.values().collect::<Vec<_>>(),
        });
        return json_response(&list);
    }
    let from: u64 = query
        .get("resourceVersion")
        .and_then(|v| v.parse().ok())
        .unwrap_or(version);
    let (tx, rx) = mpsc::unbounded_channel();
    if from < c.history_starts {
        let _ = tx.send(gone_event(version));
        drop(tx);
    } else {
        for (_, line) in c.history.iter().filter(|(v, _)| *v > from) {
            let _ = tx.send(line.clone());
        }
        c.watchers.push(tx);
    }
    let stream = UnboundedReceiverStream::new(rx).map(Ok::<_, Infallible>);
    (
        [("content-type", "application/json")],
        Body::from_stream(stream),
    )
        .into_response()
}

fn discovery(shared: &Shared, group_version: &str) -> Response {
    let Some(resources) = shared.groups.get(group_version) else {
        return status(
            StatusCode::NOT_FOUND,
            "NotFound",
            "the server could not find the requested resource",
        );
    };
    let resources: Vec<Value> = resources
        .iter()
        .map(|(plural, kind, namespaced)| {
            json!({
                "name": plural, "singularName": kind.to_lowercase(), "namespaced": namespaced,
                "kind": kind, "verbs": ["delete","deletecollection","get","list","patch","create","update","watch"],
                "storageVersionHash": "kQ1kQ6j8ZGc="
            })
        })
        .collect();
    json_response(&json!({
        "kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version,
        "resources": resources
    }))
}

fn token_review(shared: &mut Shared, body: &[u8]) -> Response {
    shared.reviews += 1;
    let Ok(review) = serde_json::from_slice::<Value>(body) else {
        return status(StatusCode::BAD_REQUEST, "BadRequest", "not a TokenReview");
    };
    let token = review["spec"]["token"].as_str().unwrap_or_default();
    let wanted: Vec<&str> = review["spec"]["audiences"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let status_part = match shared.tokens.get(token) {
        Some((username, audiences))
            if wanted.is_empty() || wanted.iter().any(|w| audiences.iter().any(|a| a == w)) =>
        {
            let granted: Vec<&str> = if wanted.is_empty() {
                audiences.iter().map(String::as_str).collect()
            } else {
                wanted
                    .iter()
                    .copied()
                    .filter(|w| audiences.iter().any(|a| a == w))
                    .collect()
            };
            let uid = format!("{:08x}-0000-4000-8000-000000000000", username.len());
            json!({
                "authenticated": true,
                "user": {
                    "username": username, "uid": uid,
                    "groups": ["system:serviceaccounts", "system:serviceaccounts:podwire", "system:authenticated"],
                    "extra": {
                        "authentication.kubernetes.io/pod-name": ["podwire-agent-x7k2p"],
                        "authentication.kubernetes.io/node-name": ["ip-192-168-31-166.us-west-2.compute.internal"]
                    }
                },
                "audiences": granted
            })
        }
        Some((_, audiences)) => {
            json!({"user": {}, "error": format!("[invalid bearer token, token audiences {audiences:?} is invalid for the target audiences {wanted:?}]")})
        }
        None => {
            json!({"user": {}, "error": "[invalid bearer token, square/go-jose: error in cryptographic primitive]"})
        }
    };
    json_response(&json!({
        "kind": "TokenReview", "apiVersion": "authentication.k8s.io/v1",
        "metadata": {"creationTimestamp": null},
        "spec": review["spec"],
        "status": status_part
    }))
}
