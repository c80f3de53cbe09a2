//! "Who held IP X at T" over a large history: closed intervals seeded straight into
//! `pod_attachment_history` with one `INSERT … SELECT` over `generate_series` (real rows, every
//! column and index of the real table), then the store's own `ip_holders`, the query behind
//! `GET /api/v1/ips/{ip}?at=`, asked for random addresses and times.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use podwire_server::store::Store;

/// Seeded addresses start at 100.64.0.0 (outside the simulated fleet's 10.0.0.0/8).
const FIRST_IP: Ipv4Addr = Ipv4Addr::new(100, 64, 0, 0);
/// Each seeded address was held this many times, one hour apart, for 50 minutes each.
const INTERVALS_PER_IP: i64 = 20;

fn seed_start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 10, 1, 0, 0, 0)
        .single()
        .unwrap_or_default()
}

/// Adds `rows` closed intervals (rounded up to whole addresses) held by pods of the existing
/// nodes; returns how many addresses they cover.
pub async fn seed(store: &Store, rows: i64) -> anyhow::Result<i64> {
    let ips = (rows + INTERVALS_PER_IP - 1) / INTERVALS_PER_IP;
    // Interval k of address i: from start + k hours + (i mod 600) s, for 50 minutes. The pod
    // key is computed as the store computes it (first 4 bytes of SHA-256 of namespace/name).
    sqlx::query(
        "INSERT INTO pod_attachment_history (valid_from, valid_to, netns_inode, node_id, route_table, \
             pod_key, wiring, vlan_id, ip, mac, eni_mac, interface, pod_namespace, pod_name, host_veth, \
             bridge, egress_device, problem_codes) \
         SELECT v.valid_from, v.valid_from + interval '50 minutes', 4026532000 + g, \
             (SELECT min(id) FROM nodes) + (v.i % (SELECT count(*) FROM nodes))::int, \
             2 + (v.i % 2)::int, \
             ('x' || encode(substr(sha256(convert_to('shop/' || v.pod, 'UTF8')), 1, 4), 'hex'))::bit(32)::int4, \
             'aws-vpc-cni', NULL, $1::inet + v.i, \
             ('02:00:' || lpad(to_hex(v.i >> 16), 2, '0') || ':' || lpad(to_hex((v.i >> 8) & 255), 2, '0') \
                 || ':' || lpad(to_hex(v.i & 255), 2, '0') || ':01')::macaddr, \
             '02:d1:7d:e3:9c:02'::macaddr, 'eth0', 'shop', v.pod, 'eni' || lpad(to_hex(g), 11, '0'), \
             NULL, 'eth1', NULL \
         FROM generate_series(0, $2 - 1) AS g, \
             LATERAL (SELECT g / $3 AS i, g % $3 AS k) AS ik, \
             LATERAL (SELECT ik.i, $4::timestamptz + ik.k * interval '1 hour' + (ik.i % 600) * interval '1 second' \
                 AS valid_from, 'checkout-' || ik.i || '-' || ik.k AS pod) AS v",
    )
    .bind(IpAddr::V4(FIRST_IP))
    .bind(ips * INTERVALS_PER_IP)
    .bind(INTERVALS_PER_IP)
    .bind(seed_start())
    .execute(store.pool())
    .await?;
    sqlx::query("ANALYZE pod_attachment_history")
        .execute(store.pool())
        .await?;
    Ok(ips)
}

/// Latencies of `lookups` sequential `ip_holders` calls, and how many answers matched the
/// seeded history. A tenth ask for addresses no pod held.
pub async fn lookups(
    store: &Store,
    ips: i64,
    lookups: usize,
) -> anyhow::Result<(Vec<Duration>, usize)> {
    let start = seed_start();
    let span_s = INTERVALS_PER_IP * 3600;
    let mut random = SplitMix(0x5eed);
    let mut latencies = Vec::with_capacity(lookups);
    let mut correct = 0;
    for n in 0..lookups {
        let unheld = n % 10 == 9;
        let i = if unheld {
            ips + (random.next() % 1000) as i64
        } else {
            (random.next() % ips as u64) as i64
        };
        let offset_s = (random.next() % span_s as u64) as i64;
        let at = start + chrono::Duration::seconds(offset_s);
        let ip = IpAddr::V4(Ipv4Addr::from(u32::from(FIRST_IP) + i as u32));
        let asked = Instant::now();
        let holders = store.ip_holders(ip, at).await?;
        latencies.push(asked.elapsed());
        // held iff `at` falls in the first 50 minutes after the address's hourly start
        let into_hour = (offset_s - i % 600).rem_euclid(3600);
        let in_span = offset_s - i % 600 >= 0;
        let expected = usize::from(!unheld && in_span && into_hour < 50 * 60);
        if holders.len() == expected {
            correct += 1;
        }
    }
    latencies.sort();
    Ok((latencies, correct))
}

/// A small deterministic generator (splitmix64): the same questions every run.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}
