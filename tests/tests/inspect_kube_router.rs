//! `podwire-agent inspect` on a kube-router node: pods on kube-bridge reach another node's pod
//! CIDR over the BGP-learned route through eth0; plus a pod without a cache entry and one in an
//! unnamed namespace.

use anyhow::Context as _;
use podwire_e2e::agent::Inspect;
use podwire_e2e::expect::assert_node_resolved;
use podwire_e2e::topology::ExtraPods;
use podwire_e2e::topology::kube_router::KubeRouterNode;

#[test]
fn every_pod_is_resolved_exactly_as_built() -> anyhow::Result<()> {
    let node = KubeRouterNode::new()
        .pods(4)
        .extra_pods(ExtraPods {
            without_cache_entry: true,
            unnamed_netns: true,
        })
        .build()
        .context("build a kube-router node")?;
    let report = Inspect::on(&node).json().context("inspect --json")?;
    assert_node_resolved(&report, &node);
    Ok(())
}
