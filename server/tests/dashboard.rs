//! The full API and the pages through `app().oneshot()` on a real Postgres, with hand-built
//! snapshots (the browser test in `tests/` uses real ones): the OpenAPI document is walked and
//! every GET it lists is called; cursors, CSV and problem documents are checked; key pages are
//! compared with insta snapshots.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] functions: a failed unwrap is a failed test"
)]
mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use common::TestDb;
use common::fixtures::{Pod, node_state, pod, t};
use http_body_util::BodyExt;
use podwire_node_state::ec2::{Ec2Attachment, Ec2Eni, Ec2SecurityGroup};
use podwire_server::api::{AppState, app};
use podwire_server::enrich::model::{
    DescribedSubnet, Ec2Observation, InstanceTypeLimits, NodeInstance,
};
use podwire_server::store::{EniFilter, NodeKey};
use serde_json::Value;
use tower::ServiceExt;

struct Fixture {
    db: TestDb,
}

impl Fixture {
    /// Node `ip-172-31-55-1` in `prod`: at 12:00 `shop/web-1` and `shop/db-0` on the primary ENI,
    /// at 12:10 `shop/web-1` moved to ENI 1 and `shop/db-0` gone; a second node with 3 pods.
    async fn new() -> Fixture {
        let f = Fixture {
            db: TestDb::new().await,
        };
        let web = pod("shop", "web-1", 4026532001, "172.31.55.218");
        let db_pod = pod("shop", "db-0", 4026532002, "172.31.55.219");
        f.record("ip-172-31-55-1", t(12, 0), &[web.clone(), db_pod])
            .await;
        f.record("ip-172-31-55-1", t(12, 10), &[web.on_eni(1)])
            .await;
        let others = [
            pod("kube-system", "coredns-1", 4026532101, "172.31.60.10"),
            pod("kube-system", "coredns-2", 4026532102, "172.31.60.11"),
            pod("web", "api-1", 4026532103, "172.31.60.12"),
        ];
        f.record("ip-172-31-60-2", t(12, 0), &others).await;
        f.describe_in_ec2().await;
        f
    }

    /// What EC2 enrichment would have stored for `ip-172-31-55-1` by 12:00: its ENIs as EC2
    /// describes them (ids and MACs as the node reports them), their subnet with a free count
    /// that drops at 12:10, and its m5.large instance. The other node stays undescribed.
    async fn describe_in_ec2(&self) {
        let store = &self.db.store;
        let enis = store
            .enis_at(
                &EniFilter {
                    node: Some("ip-172-31-55-1".into()),
                    ..EniFilter::default()
                },
                t(12, 10),
            )
            .await
            .expect("node's ENIs");
        let node_id = enis.first().expect("the node reports ENIs").node_id;
        let described: Vec<Ec2Eni> = enis
            .iter()
            .map(|e| Ec2Eni {
                network_interface_id: e.eni.eni_id.clone(),
                interface_type: Some("interface".into()),
                description: Some(if e.eni.is_primary {
                    String::new()
                } else {
                    "aws-K8S-i-0a1b2c3d4e5f60718".into()
                }),
                mac_address: e.eni.mac.map(|m| m.to_string()),
                subnet_id: e.eni.subnet_id.clone(),
                vpc_id: Some("vpc-0c0ffee0c0ffee000".into()),
                groups: vec![Ec2SecurityGroup {
                    group_id: "sg-0e1e2e3e4e5e6e7e8".into(),
                    group_name: Some("eks-node".into()),
                }],
                attachment: Some(Ec2Attachment {
                    instance_id: Some("i-0a1b2c3d4e5f60718".into()),
                    device_index: Some(i32::try_from(e.eni.device_number).unwrap()),
                    ..Ec2Attachment::default()
                }),
                ..Ec2Eni::default()
            })
            .collect();
        let subnet = |available| DescribedSubnet {
            subnet_id: "subnet-0a1b2c3d4e5f60718".into(),
            vpc_id: Some("vpc-0c0ffee0c0ffee000".into()),
            cidr: Some("172.31.48.0/20".parse().unwrap()),
            availability_zone: Some("eu-west-1a".into()),
            available: Some(available),
        };
        for (at, available) in [(t(12, 0), 4000), (t(12, 10), 3990)] {
            store
                .record_ec2_refresh(&Ec2Observation {
                    at,
                    asked_macs: described.iter().filter_map(Ec2Eni::mac).collect(),
                    enis: described.clone(),
                    subnets: vec![subnet(available)],
                    instance_types: vec![InstanceTypeLimits {
                        instance_type: "m5.large".into(),
                        max_enis: 3,
                        ipv4_per_eni: 10,
                        ipv6_per_eni: Some(10),
                    }],
                    node_instances: vec![NodeInstance {
                        node_id,
                        instance_id: "i-0a1b2c3d4e5f60718".into(),
                        instance_type: Some("m5.large".into()),
                    }],
                    calls: 4,
                })
                .await
                .expect("record an EC2 refresh");
        }
    }

    /// Stores the node's real snapshot (a VPC CNI node with ipamd state), resolved by the real
    /// resolver.
    async fn record(&self, node: &str, at: chrono::DateTime<chrono::Utc>, pods: &[Pod]) {
        let (snapshot, resolution) = node_state("prod", node, at, pods);
        let key = NodeKey {
            cluster: "prod".into(),
            name: node.into(),
        };
        self.db
            .store
            .record_snapshot(&key, &snapshot, &resolution)
            .await
            .expect("record snapshot");
    }

    fn state(&self) -> AppState {
        AppState::new(self.db.store.clone(), chrono::Duration::days(36500))
    }

    async fn get(&self, uri: &str) -> (StatusCode, String, String) {
        self.get_with(uri, None).await
    }

    async fn get_with(&self, uri: &str, accept: Option<&str>) -> (StatusCode, String, String) {
        let mut request = Request::get(uri);
        if let Some(accept) = accept {
            request = request.header(header::ACCEPT, accept);
        }
        let response = app(self.state())
            .oneshot(request.body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (
            status,
            content_type,
            String::from_utf8_lossy(&bytes).into_owned(),
        )
    }

    async fn json(&self, uri: &str) -> (StatusCode, Value) {
        let (status, _, body) = self.get(uri).await;
        (
            status,
            serde_json::from_str(&body).unwrap_or(Value::String(body)),
        )
    }
}

/// A value for each path parameter the fixture has data for.
fn example(parameter: &str) -> &'static str {
    match parameter {
        "cluster" => "prod",
        "name" => "web-1",
        "namespace" => "shop",
        "eni_id" => "eni-0bc88d2e1f78e70a2",
        "subnet_id" => "subnet-0a1b2c3d4e5f60718",
        "ip" => "172.31.55.218",
        other => panic!("no example for path parameter {other}"),
    }
}

#[tokio::test]
async fn every_get_in_the_openapi_document_answers() {
    let f = Fixture::new().await;
    let (_, enis) = f.json("/api/v1/enis").await;
    assert_eq!(enis["enis"].as_array().map(Vec::len), Some(4), "{enis}");
    let (status, doc) = f.json("/api/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    let paths = doc["paths"].as_object().unwrap();
    let mut called = Vec::new();
    for (template, item) in paths {
        let Some(get) = item.get("get") else { continue };
        // Fill each path parameter; node paths take a node name, pod paths a pod name.
        let mut uri = template.clone();
        for parameter in get["parameters"].as_array().into_iter().flatten() {
            if parameter["in"] != "path" {
                continue;
            }
            let name = parameter["name"].as_str().unwrap();
            let value = if name == "name" && template.starts_with("/api/v1/nodes") {
                "ip-172-31-55-1"
            } else {
                example(name)
            };
            uri = uri.replace(&format!("{{{name}}}"), value);
        }
        let uri = format!(
            "{uri}{}at=2026-11-20T12:05:00Z",
            if uri.contains('?') { "&" } else { "?" }
        );
        let uri = if template.ends_with("/diff")
            || template.ends_with("/history")
            || template.ends_with("/timeline")
            || template.ends_with("/search")
        {
            // these take other time parameters (or none)
            match template.as_str() {
                t if t.ends_with("/diff") => uri.replace("at=", "to="),
                t if t.ends_with("/history") => uri.replace("at=", "to="),
                t if t.ends_with("/search") => uri.replace('?', "?q=web&"),
                _ => uri.split('?').next().unwrap().to_owned(),
            }
        } else {
            uri
        };
        let (status, body) = f.json(&uri).await;
        assert_eq!(status, StatusCode::OK, "{uri}: {body}");
        assert!(body.is_object(), "{uri}");
        called.push(template.clone());
    }
    assert!(called.len() >= 13, "{called:?}");
}

#[tokio::test]
async fn pods_come_a_page_at_a_time_with_a_cursor() {
    let f = Fixture::new().await;
    let mut seen = Vec::new();
    let mut uri = "/api/v1/pods?limit=2&at=2026-11-20T12:05:00Z".to_owned();
    loop {
        let (status, body) = f.json(&uri).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        for p in body["pods"].as_array().unwrap() {
            seen.push(format!(
                "{}/{}",
                p["namespace"].as_str().unwrap(),
                p["name"].as_str().unwrap()
            ));
        }
        match body["next_cursor"].as_str() {
            Some(cursor) => {
                uri = format!("/api/v1/pods?limit=2&at=2026-11-20T12:05:00Z&cursor={cursor}")
            }
            None => break,
        }
    }
    assert_eq!(
        seen,
        [
            "shop/db-0",
            "shop/web-1",
            "kube-system/coredns-1",
            "kube-system/coredns-2",
            "web/api-1"
        ]
    );
    let (status, body) = f.json("/api/v1/pods?cursor=garbage").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "bad_parameter");
}

#[tokio::test]
async fn lists_answer_csv_and_errors_are_problem_documents() {
    let f = Fixture::new().await;
    let (status, content_type, body) = f.get("/api/v1/pods?format=csv&node=ip-172-31-55-1").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(content_type, "text/csv; charset=utf-8");
    let lines: Vec<&str> = body.lines().collect();
    assert!(
        lines[0].starts_with("cluster,node,namespace,name,interface,ip,"),
        "{body}"
    );
    assert_eq!(lines.len(), 2, "{body}");
    assert!(
        lines[1].starts_with("prod,ip-172-31-55-1,shop,web-1,eth0,172.31.55.218,"),
        "{body}"
    );

    let (_, content_type, body) = f.get_with("/api/v1/nodes", Some("text/csv")).await;
    assert_eq!(content_type, "text/csv; charset=utf-8");
    assert_eq!(body.lines().count(), 3, "{body}");
    for uri in [
        "/api/v1/enis?format=csv",
        "/api/v1/subnets?format=csv",
        "/api/v1/ipam/pools?format=csv",
    ] {
        let (status, content_type, _) = f.get(uri).await;
        assert_eq!(
            (status, content_type.as_str()),
            (StatusCode::OK, "text/csv; charset=utf-8"),
            "{uri}"
        );
    }

    let (status, content_type, body) = f.get("/api/v1/pods/shop/nope").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(content_type, "application/problem+json");
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["type"], "urn:podwire:problem:not_found");
    assert_eq!(body["status"], 404);
    assert_eq!(body["title"], "Not Found");
    let (status, content_type, _) = f.get("/api/v2/pods").await;
    assert_eq!(
        (status, content_type.as_str()),
        (StatusCode::NOT_FOUND, "application/problem+json")
    );
    let (status, content_type, body) = f.get("/no/such/page").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(content_type.starts_with("text/html"));
    assert!(body.contains("no page at /no/such/page"));
}

#[tokio::test]
async fn history_endpoints_answer_the_questions_of_the_write_ups() {
    let f = Fixture::new().await;
    // who held 172.31.55.219 at 12:05, and not at 12:15
    let (_, before) = f
        .json("/api/v1/ips/172.31.55.219?at=2026-11-20T12:05:00Z")
        .await;
    assert_eq!(before["holders"][0]["name"], "db-0");
    let (_, after) = f
        .json("/api/v1/ips/172.31.55.219?at=2026-11-20T12:15:00Z")
        .await;
    assert_eq!(after["holders"], serde_json::json!([]));
    // web-1's timeline: main table, then table 2
    let (_, timeline) = f.json("/api/v1/pods/shop/web-1/timeline").await;
    let tables: Vec<_> = timeline["intervals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["route_table"].clone())
        .collect();
    assert_eq!(tables, [serde_json::json!(254), serde_json::json!(2)]);
    // the node's diff over the move names the pods that changed
    let (status, diff) = f
        .json("/api/v1/nodes/prod/ip-172-31-55-1/diff?from=2026-11-20T12:05:00Z&to=2026-11-20T12:15:00Z")
        .await;
    assert_eq!(status, StatusCode::OK, "{diff}");
    assert_eq!(
        diff["changes"]["pods"]["removed"],
        serde_json::json!([
            "shop/db-0 eth0 172.31.55.219 → eth0 (table main)",
            "shop/web-1 eth0 172.31.55.218 → eth0 (table main)"
        ])
    );
    assert_eq!(
        diff["changes"]["pods"]["added"],
        serde_json::json!(["shop/web-1 eth0 172.31.55.218 → eth1 (table 2)"])
    );
    // search by IP as of a time finds the pod
    let (_, found) = f
        .json("/api/v1/search?q=172.31.55.218&at=2026-11-20T12:05:00Z")
        .await;
    assert_eq!(found["pods"][0]["name"], "web-1");
    assert_eq!(found["understood_as"], "IP address 172.31.55.218");
}

/// Times that change from run to run (liveness is judged now) are replaced before comparing.
fn stable(html: &str) -> String {
    let mut out = String::new();
    for line in html.lines() {
        if line.contains("last heard") {
            out.push_str("[liveness line]\n");
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

#[tokio::test]
async fn key_pages_render_as_before() {
    let f = Fixture::new().await;
    for (name, uri) in [
        ("overview", "/?at=2026-11-20T12:05:00Z"),
        ("nodes", "/nodes?at=2026-11-20T12:05:00Z"),
        ("pod", "/pods/shop/web-1?at=2026-11-20T12:15:00Z"),
        (
            "node_diff",
            "/nodes/prod/ip-172-31-55-1/diff?from=2026-11-20T12:05:00Z&to=2026-11-20T12:15:00Z",
        ),
        ("search", "/search?q=172.31.55.218&at=2026-11-20T12:05:00Z"),
        ("eni", "/enis/eni-0bc88d2e1f78e70a2?at=2026-11-20T12:15:00Z"),
        ("subnets", "/subnets?at=2026-11-20T12:15:00Z"),
        (
            "subnet",
            "/subnets/subnet-0a1b2c3d4e5f60718?at=2026-11-20T12:15:00Z&days=1",
        ),
    ] {
        let (status, content_type, body) = f.get(uri).await;
        assert_eq!(status, StatusCode::OK, "{uri}: {body}");
        assert_eq!(content_type, "text/html; charset=utf-8");
        // nodes page shows "last seen" times: drop that column's cells
        let body = if name == "nodes" {
            body.lines()
                .map(|l| {
                    if l.contains("UTC</td></tr>") || l.contains("stale") {
                        "[liveness cell]"
                    } else {
                        l
                    }
                })
                .collect::<Vec<_>>()
                .join("\n")
        } else {
            body
        };
        insta::assert_snapshot!(name, stable(&body));
    }
}

#[tokio::test]
async fn pages_keep_the_time_in_their_links_and_refuse_bad_times() {
    let f = Fixture::new().await;
    let (_, _, body) = f.get("/nodes?at=2026-11-20T12:05:00Z").await;
    assert!(
        body.contains(r#"href="/nodes/prod/ip-172-31-55-1?at=2026-11-20T12:05:00Z""#),
        "{body}"
    );
    // the header's time field sends local-style times; they are UTC
    let (status, _, body) = f.get("/pods/shop/db-0?at=2026-11-20T12:05").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("172.31.55.219"));
    let (status, _, body) = f.get("/?at=yesterday").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("is not a time"), "{body}");
}
