//! Dashboard benchmark (not a test): a store of 500 nodes / 50,000 pods with a month of history,
//! then the latency of `/api/v1/pods` pages, the node page and the pod page, in one run.
//!
//! Snapshots are synthetic VPC CNI-like nodes (routed veths, rule 512 per pod, CNI cache entries)
//! stored through the store with the real resolver; the month of closed intervals is bulk SQL
//! matching the schema (each pod slot replaced every ~3 days). Requests go through `app()`
//! in-process (`oneshot`), so figures are the server's own time, database included.
//!
//! ```text
//! DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \
//!   cargo run --release -p podwire-server --bin bench-dashboard [-- NODES PODS_PER_NODE]
//! ```
//! It creates and drops its own database `podwire_bench_dashboard`.

use std::str::FromStr;
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::body::Body;
use axum::http::Request;
use http_body_util::BodyExt;
use podwire_node_state::{
    Address, CniCacheEntry, IpFamily, Link, LinkKind, NetnsState, NodeIdentity, NodeSnapshot,
    OperState, PolicyRule, Route, RouteScope, RouteType, RuleAction,
};
use podwire_server::api::{AppState, app};
use podwire_server::store::{NodeKey, Store};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Executor};
use tower::ServiceExt;

fn link(ifindex: u32, name: &str, kind: LinkKind, mac: [u8; 6], peer: Option<(u32, i32)>) -> Link {
    Link {
        ifindex,
        name: name.into(),
        kind,
        mac: Some(podwire_node_state::MacAddr(mac)),
        mtu: 9001,
        admin_up: true,
        oper_state: OperState::Up,
        master: None,
        link: peer.map(|p| p.0),
        link_netnsid: peer.map(|p| p.1),
    }
}

fn route(table: u32, dst: &str, oif: u32, gw: Option<&str>, scope: RouteScope) -> Route {
    Route {
        table,
        destination: dst.parse().expect("bench route"),
        route_type: RouteType::Unicast,
        protocol: 4,
        scope,
        metric: 0,
        tos: 0,
        pref_src: None,
        source: None,
        oif: Some(oif),
        gateway: gw.map(|g| g.parse().expect("bench gateway")),
        onlink: false,
        nexthops: vec![],
    }
}

/// A VPC CNI-like node: eth0, one routed veth per pod, rule 512 per pod, a cache entry per pod.
fn node_snapshot(node: usize, pods: usize, collected_at_ms: i64) -> NodeSnapshot {
    let third = |i: usize| (node * pods + i) / 250;
    let ip = |i: usize| {
        format!(
            "10.{}.{}.{}",
            64 + third(i) / 256,
            third(i) % 256,
            (node * pods + i) % 250 + 2
        )
    };
    let mut host = NetnsState {
        inode: 4026531840,
        path: "/proc/1/ns/net".into(),
        ..NetnsState::default()
    };
    host.links.push(link(
        2,
        "eth0",
        LinkKind::Device,
        [2, 0, 0, 0, (node >> 8) as u8, node as u8],
        None,
    ));
    host.routes.push(route(
        254,
        "0.0.0.0/0",
        2,
        Some("10.0.0.1"),
        RouteScope::Universe,
    ));
    let mut snapshot = NodeSnapshot {
        node: NodeIdentity {
            cluster: format!("cluster-{}", node % 5),
            node_name: format!("ip-10-0-{}-{}", node / 250, node % 250),
            boot_id: "bench".into(),
            kernel: "6.1.0".into(),
            agent_version: "0.1.0".into(),
            collected_at_unix_ms: collected_at_ms,
            collection_duration_us: 1000,
        },
        probe_destination: Some("192.0.2.1".parse().expect("probe")),
        ..NodeSnapshot::default()
    };
    for i in 0..pods {
        let veth_index = 10 + i as u32;
        let name = format!("eni{node:04x}{i:05x}");
        host.links.push(link(
            veth_index,
            &name,
            LinkKind::Veth,
            [0x36, 0, 0, (node >> 8) as u8, node as u8, i as u8],
            Some((3, i as i32)),
        ));
        host.routes.push(route(
            254,
            &format!("{}/32", ip(i)),
            veth_index,
            None,
            RouteScope::Link,
        ));
        host.rules.push(PolicyRule {
            family: IpFamily::V4,
            priority: 512,
            invert: false,
            source: None,
            destination: Some(format!("{}/32", ip(i)).parse().expect("rule")),
            iif: None,
            oif: None,
            fwmark: None,
            fwmask: None,
            tos: 0,
            ip_proto: None,
            sport: None,
            dport: None,
            uid_range: None,
            l3mdev: false,
            suppress_prefixlength: None,
            suppress_ifgroup: None,
            action: RuleAction::Lookup { table: 254 },
        });
        let netns_path = format!("/var/run/netns/cni-{node}-{i}");
        let mut ns = NetnsState {
            inode: 4026540000 + i as u64,
            name: Some(format!("cni-{node}-{i}")),
            path: netns_path.clone(),
            nsid: Some(i as i32),
            ..NetnsState::default()
        };
        ns.links.push(link(
            3,
            "eth0",
            LinkKind::Veth,
            [0x66, 0, 0, (node >> 8) as u8, node as u8, i as u8],
            Some((veth_index, 0)),
        ));
        ns.addresses.push(Address {
            ifindex: 3,
            address: format!("{}/32", ip(i)).parse().expect("address"),
            peer: None,
            scope: RouteScope::Universe,
        });
        ns.routes.push(route(
            254,
            "0.0.0.0/0",
            3,
            Some("169.254.1.1"),
            RouteScope::Universe,
        ));
        snapshot.namespaces.push(ns);
        snapshot.cni.cache.push(CniCacheEntry {
            file: format!("var/lib/cni/results/aws-cni-{node}-{i}-eth0"),
            network_name: "aws-cni".into(),
            container_id: format!("{node:08x}{i:08x}"),
            if_name: "eth0".into(),
            pod_namespace: Some(["default", "payments", "web", "kube-system"][i % 4].into()),
            pod_name: Some(format!("app-{node}-{i}")),
            pod_uid: None,
            netns_path: Some(netns_path),
            ips: vec![format!("{}/32", ip(i)).parse().expect("ip")],
            gateways: vec![],
            interfaces: vec![],
            plugin_types: vec!["aws-cni".into()],
            cni_version: Some("1.0.0".into()),
        });
    }
    snapshot.host = host;
    snapshot
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

async fn measure(state: &AppState, label: &str, uris: &[String]) -> anyhow::Result<()> {
    let mut times = Vec::with_capacity(uris.len());
    for uri in uris {
        let started = Instant::now();
        let response = app(state.clone())
            .oneshot(Request::get(uri.as_str()).body(Body::empty())?)
            .await?;
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        times.push(started.elapsed());
        anyhow::ensure!(
            status.is_success(),
            "{uri}: {status} {}",
            String::from_utf8_lossy(&body)
        );
    }
    times.sort();
    println!(
        "{label:<28} n={:<4} p50={:>7.1} ms  p99={:>7.1} ms  max={:>7.1} ms",
        times.len(),
        percentile(&times, 0.5).as_secs_f64() * 1e3,
        percentile(&times, 0.99).as_secs_f64() * 1e3,
        times.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
    );
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let nodes: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(500);
    let pods: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(100);
    let url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let admin = PgConnectOptions::from_str(&url)?;
    let name = "podwire_bench_dashboard";
    let mut conn = admin
        .connect()
        .await
        .context("connecting to DATABASE_URL")?;
    conn.execute(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .await?;
    conn.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .await?;
    let pool = PgPoolOptions::new()
        .max_connections(8)
        .connect_with(admin.clone().database(name))
        .await?;
    let store = Store::new(pool.clone());
    store.migrate().await?;

    let now = chrono::Utc::now();
    let month_ago = now - chrono::Duration::days(30);
    let started = Instant::now();
    for node in 0..nodes {
        // Each node's first snapshot a month ago, its current one an hour ago.
        for at in [month_ago, now - chrono::Duration::hours(1)] {
            let mut snapshot = node_snapshot(node, pods, at.timestamp_millis());
            if at != month_ago {
                snapshot.node.boot_id = "bench-2".into();
            }
            let resolution = podwire_node_state::resolver::resolve(&snapshot);
            let key = NodeKey {
                cluster: snapshot.node.cluster.clone(),
                name: snapshot.node.node_name.clone(),
            };
            store.record_snapshot(&key, &snapshot, &resolution).await?;
        }
    }
    println!(
        "stored {} snapshots of {nodes} nodes × {pods} pods in {:.1} s",
        nodes * 2,
        started.elapsed().as_secs_f64()
    );

    // A month of churn: every pod slot had 10 earlier tenants, each ~3 days, other names and IPs.
    let started = Instant::now();
    pool.execute(sqlx::AssertSqlSafe(format!(
        "INSERT INTO pod_attachment_history (valid_from, valid_to, netns_inode, node_id, route_table, pod_key, \
             wiring, ip, mac, eni_mac, interface, pod_namespace, pod_name, host_veth, egress_device) \
         SELECT '{from}'::timestamptz + (g * interval '3 days') + (c.netns_inode % 1000) * interval '1 second', \
                '{from}'::timestamptz + ((g + 1) * interval '3 days'), \
                c.netns_inode + 1000000 * (g + 1), c.node_id, 254, hashtext(c.pod_namespace || '/old-' || g || '-' || c.pod_name), \
                c.wiring, c.ip, c.mac, c.eni_mac, c.interface, c.pod_namespace, 'old-' || g || '-' || c.pod_name, \
                c.host_veth, c.egress_device \
         FROM current_pod_attachments c CROSS JOIN generate_series(0, 9) g",
        from = month_ago.to_rfc3339()
    )))
    .await?;
    pool.execute("ANALYZE").await?;
    let (history,): (i64,) = sqlx::query_as("SELECT count(*) FROM pod_attachment_history")
        .fetch_one(&pool)
        .await?;
    let (current,): (i64,) = sqlx::query_as("SELECT count(*) FROM current_pod_attachments")
        .fetch_one(&pool)
        .await?;
    println!(
        "history: {current} open intervals, {history} closed ({:.1} s to generate)",
        started.elapsed().as_secs_f64()
    );

    let state = AppState::new(store, chrono::Duration::seconds(90));
    // Pages of /api/v1/pods: walk the whole cluster-wide list by cursor, 100 per page, now and
    // two weeks ago; plus filtered pages.
    let mut uris = Vec::new();
    let two_weeks =
        (now - chrono::Duration::days(14)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    for at in [None, Some(two_weeks.clone())] {
        let at_param = at.map(|a| format!("&at={a}")).unwrap_or_default();
        let mut cursor: Option<String> = None;
        for _ in 0..100 {
            let uri = format!(
                "/api/v1/pods?limit=100{at_param}{}",
                cursor
                    .as_ref()
                    .map(|c| format!("&cursor={c}"))
                    .unwrap_or_default()
            );
            let response = app(state.clone())
                .oneshot(Request::get(uri.as_str()).body(Body::empty())?)
                .await?;
            let body: serde_json::Value =
                serde_json::from_slice(&response.into_body().collect().await?.to_bytes())?;
            uris.push(uri);
            cursor = body["next_cursor"].as_str().map(str::to_owned);
            if cursor.is_none() {
                break;
            }
        }
    }
    for node in (0..nodes).step_by((nodes / 50).max(1)) {
        uris.push(format!(
            "/api/v1/pods?cluster=cluster-{}&node=ip-10-0-{}-{}",
            node % 5,
            node / 250,
            node % 250
        ));
        uris.push(format!(
            "/api/v1/pods?namespace=payments&limit=100&at={two_weeks}"
        ));
    }
    measure(&state, "/api/v1/pods pages", &uris).await?;

    let node_uris: Vec<String> = (0..200)
        .map(|i| {
            let node = (i * 7919) % nodes;
            format!(
                "/nodes/cluster-{}/ip-10-0-{}-{}",
                node % 5,
                node / 250,
                node % 250
            )
        })
        .collect();
    measure(&state, "node page (100 pods)", &node_uris).await?;
    let pod_uris: Vec<String> = (0..200)
        .map(|i| {
            let node = (i * 7919) % nodes;
            let pod = (i * 31) % pods;
            format!(
                "/pods/{}/app-{node}-{pod}",
                ["default", "payments", "web", "kube-system"][pod % 4]
            )
        })
        .collect();
    measure(&state, "pod page", &pod_uris).await?;
    let overview = vec!["/".to_owned(); 10];
    measure(&state, "overview page", &overview).await?;

    pool.close().await;
    conn.execute(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .await?;
    Ok(())
}
