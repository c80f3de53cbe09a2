//! `podwire-agent inspect` on a flannel node: pods on cni0 reach another node's pod CIDR through
//! flannel.1, whose underlay eth0 carries the traffic; plus a pod without a cache entry and one
//! in an unnamed namespace.

use anyhow::Context as _;
use podwire_e2e::agent::Inspect;
use podwire_e2e::expect::assert_node_resolved;
use podwire_e2e::topology::ExtraPods;
use podwire_e2e::topology::flannel::FlannelNode;

#[test]
fn every_pod_is_resolved_exactly_as_built() -> anyhow::Result<()> {
    let node = FlannelNode::new()
        .pods(4)
        .extra_pods(ExtraPods {
            without_cache_entry: true,
            unnamed_netns: true,
        })
        .build()
        .context("build a flannel node")?;
    let report = Inspect::on(&node).json().context("inspect --json")?;
    assert_node_resolved(&report, &node);
    Ok(())
}
