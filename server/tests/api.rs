//! The REST API through `app().oneshot()`: no socket, a real Postgres, snapshots of a VPC CNI node
//! stored with their resolution by the real resolver, and re-resolved by it for pod paths.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::TestDb;
use common::fixtures::{Pod, node_state, pod, t};
use http_body_util::BodyExt;
use podwire_server::api::{AppState, app};
use podwire_server::store::NodeKey;
use serde_json::Value;
use tower::ServiceExt;

/// A store with one node whose pod `shop/web-1` moves from the primary ENI to ENI 1 at 12:10,
/// and whose `shop/db-0` is deleted then.
struct Fixture {
    db: TestDb,
}

impl Fixture {
    async fn new() -> Fixture {
        let fixture = Fixture {
            db: TestDb::new().await,
        };
        let web = pod("shop", "web-1", 4026532001, "172.31.55.218");
        let db_pod = pod("shop", "db-0", 4026532002, "172.31.55.219");
        fixture.record(t(12, 0), &[web.clone(), db_pod]).await;
        fixture.record(t(12, 10), &[web.on_eni(1)]).await;
        fixture
    }

    async fn record(&self, at: chrono::DateTime<chrono::Utc>, pods: &[Pod]) {
        let (snapshot, resolution) = node_state("prod", "ip-172-31-55-1", at, pods);
        let key = NodeKey {
            cluster: "prod".into(),
            name: "ip-172-31-55-1".into(),
        };
        self.db
            .store
            .record_snapshot(&key, &snapshot, &resolution)
            .await
            .expect("record snapshot");
    }

    fn state(&self) -> AppState {
        AppState::new(self.db.store.clone(), chrono::Duration::seconds(90))
    }

    async fn get(&self, uri: &str) -> (StatusCode, Value) {
        get(self.state(), uri).await
    }
}

async fn get(state: AppState, uri: &str) -> (StatusCode, Value) {
    let response = app(state)
        .oneshot(Request::get(uri).body(Body::empty()).expect("test support"))
        .await
        .unwrap();
    let status = response.status();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("test support")
        .to_bytes();
    let body = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    (status, body)
}

fn pod_names(body: &Value, list: &str) -> Vec<String> {
    body[list]
        .as_array()
        .expect("a list")
        .iter()
        .map(|p| {
            format!(
                "{}/{}",
                p["namespace"].as_str().expect("test support"),
                p["name"].as_str().expect("test support")
            )
        })
        .collect()
}

#[tokio::test]
async fn pods_as_of_a_time_and_now() {
    let f = Fixture::new().await;
    let (status, body) = f.get("/api/v1/pods?at=2026-11-20T12:05:00Z").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(pod_names(&body, "pods"), ["shop/db-0", "shop/web-1"]);
    assert_eq!(body["pods"][1]["eni_mac"], "02:d1:7d:e3:9c:01");
    assert_eq!(body["pods"][1]["valid_to"], "2026-11-20T12:10:00Z");

    let (status, body) = f
        .get("/api/v1/pods?cluster=prod&node=ip-172-31-55-1&namespace=shop")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(pod_names(&body, "pods"), ["shop/web-1"]);
    assert_eq!(body["pods"][0]["route_table"], 2);
    assert_eq!(body["pods"][0]["egress_device"], "eth1");
    assert_eq!(body["pods"][0]["valid_to"], Value::Null);
    assert_eq!(body["truncated"], false);

    let (_, other) = f.get("/api/v1/pods?cluster=staging").await;
    assert_eq!(pod_names(&other, "pods"), Vec::<String>::new());
}

#[tokio::test]
async fn who_held_an_ip_before_and_after_the_pod_went_away() {
    let f = Fixture::new().await;
    let (status, body) = f
        .get("/api/v1/ips/172.31.55.219?at=2026-11-20T12:09:59Z")
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(pod_names(&body, "holders"), ["shop/db-0"]);
    assert_eq!(body["holders"][0]["node"], "ip-172-31-55-1");
    assert_eq!(body["holders"][0]["valid_from"], "2026-11-20T12:00:00Z");
    assert_eq!(body["holders"][0]["valid_to"], "2026-11-20T12:10:00Z");
    let (status, body) = f
        .get("/api/v1/ips/172.31.55.219?at=2026-11-20T12:10:00Z")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["holders"], Value::Array(vec![]));
}

#[tokio::test]
async fn pod_path_is_re_resolved_from_the_snapshot_valid_then() {
    let f = Fixture::new().await;
    let (status, before) = f
        .get("/api/v1/pods/shop/web-1?at=2026-11-20T12:05:00Z")
        .await;
    assert_eq!(status, StatusCode::OK, "{before}");
    let iface = &before["interfaces"][0];
    assert_eq!(iface["path"]["egress"]["egress_device"]["name"], "eth0");
    assert_eq!(iface["path"]["egress"]["table"], 254);
    assert_eq!(iface["snapshot"]["valid_from"], "2026-11-20T12:00:00Z");
    assert_eq!(iface["valid_to"], "2026-11-20T12:10:00Z");

    let (status, now) = f.get("/api/v1/pods/shop/web-1").await;
    assert_eq!(status, StatusCode::OK);
    let iface = &now["interfaces"][0];
    assert_eq!(iface["path"]["egress"]["egress_device"]["name"], "eth1");
    assert_eq!(iface["path"]["egress"]["eni_mac"], "02:d1:7d:e3:9c:02");
    assert_eq!(iface["path"]["pod_interface"]["ip"], "172.31.55.218/32");
    assert_eq!(iface["snapshot"]["collected_at"], "2026-11-20T12:10:00Z");
}

#[tokio::test]
async fn unknown_pod_is_404_with_a_message() {
    let f = Fixture::new().await;
    let (status, body) = f.get("/api/v1/pods/shop/db-0").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"], "not_found");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .starts_with("pod shop/db-0 at "),
        "{body}"
    );
    let (status, _) = f
        .get("/api/v1/pods/shop/db-0?at=2026-11-20T12:01:00Z")
        .await;
    assert_eq!(status, StatusCode::OK, "it existed then");
    let (status, body) = f.get("/api/v1/nowhere").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::NOT_FOUND, Some("no_such_route"))
    );
}

#[tokio::test]
async fn bad_parameters_are_400_with_what_was_expected() {
    let f = Fixture::new().await;
    let cases = [
        (
            "/api/v1/ips/172.31.300.1",
            "invalid ip \"172.31.300.1\": expected an IPv4 or IPv6 address such as 172.31.55.218",
        ),
        (
            "/api/v1/ips/10.0.0.1?at=yesterday",
            "invalid at \"yesterday\": expected an RFC 3339 time such as 2026-11-20T13:05:00Z",
        ),
        (
            "/api/v1/pods?at=2026-11-20",
            "invalid at \"2026-11-20\": expected an RFC 3339 time such as 2026-11-20T13:05:00Z",
        ),
        (
            "/api/v1/pods?limit=0",
            "invalid limit \"0\": expected a number from 1 to 10000",
        ),
        (
            "/api/v1/pods/shop/web-1?at=12:00",
            "invalid at \"12:00\": expected an RFC 3339 time such as 2026-11-20T13:05:00Z",
        ),
    ];
    for (uri, message) in cases {
        let (status, body) = f.get(uri).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}: {body}");
        assert_eq!(body["error"], "bad_parameter", "{uri}");
        assert_eq!(body["message"], message, "{uri}");
    }
    let (status, body) = f.get("/api/v1/pods?namepsace=shop").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "bad_query");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("unknown field `namepsace`"),
        "{body}"
    );
}

#[tokio::test]
async fn nodes_report_liveness_and_health_endpoints_answer() {
    let f = Fixture::new().await;
    let (status, body) = f.get("/api/v1/nodes").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["nodes"][0]["name"], "ip-172-31-55-1");
    assert_eq!(
        body["nodes"][0]["stale"], false,
        "a snapshot was just stored"
    );
    assert_eq!(body["stale_after_seconds"], 90);
    sqlx::query("UPDATE nodes SET last_heartbeat_at = now() - interval '5 minutes'")
        .execute(f.db.store.pool())
        .await
        .unwrap();
    let (_, body) = f.get("/api/v1/nodes").await;
    assert_eq!(body["nodes"][0]["stale"], true);

    assert_eq!(
        f.get("/healthz").await,
        (StatusCode::OK, serde_json::json!({"status": "ok"}))
    );
    assert_eq!(
        f.get("/readyz").await,
        (StatusCode::OK, serde_json::json!({"status": "ready"}))
    );
}

#[tokio::test]
async fn database_errors_are_not_sent_to_clients() {
    let f = Fixture::new().await;
    // a broken schema stands in for any internal failure: the SQL error stays in the log
    sqlx::query("ALTER TABLE nodes RENAME COLUMN boot_id TO boot")
        .execute(f.db.store.pool())
        .await
        .unwrap();
    let (status, body) = f.get("/api/v1/nodes").await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        body,
        serde_json::json!({
            "type": "urn:podwire:problem:internal",
            "title": "Internal Server Error",
            "status": 500,
            "detail": "internal error",
            "error": "internal",
            "message": "internal error"
        })
    );
    // the database going away: readiness and queries say unavailable, health stays up
    f.db.store.pool().close().await;
    let (status, body) = f.get("/readyz").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, Some("unavailable"))
    );
    let (status, _) = f.get("/api/v1/pods").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(f.get("/healthz").await.0, StatusCode::OK);
}
