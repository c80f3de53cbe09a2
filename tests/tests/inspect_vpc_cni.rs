//! `podwire-agent inspect` on an Amazon VPC CNI node: every pod resolved exactly as built — the
//! primary ENI's pods through main to eth0, the secondary ENI's through rule 1536 and table 2 to
//! eth1, branch-ENI pods through their iif rules and table 100+N to `vlan.eth.N` on the trunk —
//! in agreement with the kernel.

use anyhow::Context as _;
use podwire_e2e::agent::Inspect;
use podwire_e2e::expect::{assert_node_resolved, pod_differences};
use podwire_e2e::netns::inode_of;
use podwire_e2e::topology::vpc_cni::VpcCniNode;
use podwire_e2e::topology::{ExtraPods, PodNetns};

#[test]
fn every_pod_is_resolved_exactly_as_built() -> anyhow::Result<()> {
    let node = VpcCniNode::new()
        .pods(2, 2, 2)
        .build()
        .context("build a VPC CNI node")?;
    let report = Inspect::on(&node).json().context("inspect --json")?;
    assert_node_resolved(&report, &node);
    assert_eq!(
        report.node.probe.destination.as_deref(),
        Some(node.probe.to_string().as_str()),
        "the probe given with --probe-dst"
    );
    Ok(())
}

#[test]
fn a_pod_without_a_cache_entry_is_reported_with_its_raw_facts_and_a_problem() -> anyhow::Result<()>
{
    let node = VpcCniNode::new()
        .pods(1, 1, 0)
        .extra_pods(ExtraPods {
            without_cache_entry: true,
            unnamed_netns: false,
        })
        .build()
        .context("build a VPC CNI node")?;
    let report = Inspect::on(&node).json().context("inspect --json")?;
    // Checks the uncached pod's IP, host veth, table, egress device, ENI MAC, kernel agreement
    // and its single `no_cni_cache_entry` problem, and every other pod exactly.
    assert_node_resolved(&report, &node);
    let uncached = node
        .pods
        .iter()
        .find(|p| p.cache_entry.is_none())
        .context("the uncached pod")?;
    let reported = report
        .pods
        .iter()
        .find(|p| p.ip.as_deref() == Some(uncached.ip.to_string().as_str()))
        .context("the uncached pod is reported")?;
    assert!(
        reported.has_problem("no_cni_cache_entry"),
        "{:?}",
        reported.problems
    );
    Ok(())
}

#[test]
fn an_unnamed_pod_namespace_is_found_through_proc() -> anyhow::Result<()> {
    let node = VpcCniNode::new()
        .pods(1, 1, 1)
        .extra_pods(ExtraPods {
            without_cache_entry: false,
            unnamed_netns: true,
        })
        .build()
        .context("build a VPC CNI node")?;
    let report = Inspect::on(&node).json().context("inspect --json")?;
    assert_node_resolved(&report, &node);

    let unnamed = node
        .pods
        .iter()
        .find(|p| matches!(p.netns, PodNetns::Unnamed { .. }))
        .context("the unnamed pod")?;
    let reported = report
        .pods
        .iter()
        .find(|p| p.ip.as_deref() == Some(unnamed.ip.to_string().as_str()))
        .context("the unnamed pod is reported")?;
    assert!(pod_differences(reported, unnamed).is_empty());
    let netns = &reported.path["netns"];
    assert!(
        netns["name"].is_null(),
        "an unnamed namespace has no name: {netns}"
    );
    let path = netns["path"].as_str().context("netns.path")?;
    assert!(
        path.starts_with("/proc/") && path.ends_with("/ns/net"),
        "{path}"
    );
    let inode = inode_of(unnamed.netns.path().as_ref()).context("the holder's namespace")?;
    assert_eq!(netns["inode"].as_u64(), Some(inode), "{netns}");
    Ok(())
}
