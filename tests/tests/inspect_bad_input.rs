//! Bad input never costs more than what is bad: damaged cache files, a broken conflist, an ipamd
//! that is down or answers garbage, and a pod namespace deleted while the agent collects — each is
//! recorded as an error of its source, and every other pod is still resolved exactly.

use anyhow::Context as _;
use std::time::Duration;

use podwire_e2e::agent::{HoldFile, Inspect, InspectReport};
use podwire_e2e::expect::{node_differences, pod_differences};
use podwire_e2e::topology::vpc_cni::VpcCniNode;
use podwire_e2e::topology::vpc_cni::ipamd::IpamdMode;
use podwire_e2e::topology::{BuiltNode, BuiltPod, CacheDamage};

/// The node's pods except `skip`, compared with the report; the report may list the skipped ones.
fn differences_except(report: &InspectReport, node: &BuiltNode, skip: &[&BuiltPod]) -> Vec<String> {
    let skipped: Vec<String> = skip.iter().map(|p| p.ip.to_string()).collect();
    node_differences(report, node)
        .into_iter()
        .filter(|line| !skipped.iter().any(|ip| line.contains(&format!("({ip})"))))
        .collect()
}

fn assert_error(report: &InspectReport, source: &str, naming: &str) {
    assert!(
        report
            .node
            .errors
            .iter()
            .any(|e| e.source == source && e.names(naming)),
        "no {source} error naming {naming}; errors: {:#?}",
        report.node.errors
    );
}

#[test]
fn damaged_cache_files_are_recorded_and_every_other_pod_is_resolved() -> anyhow::Result<()> {
    let node = VpcCniNode::new()
        .pods(2, 2, 1)
        .build()
        .context("build a VPC CNI node")?;
    let truncated = &node.pods[0];
    let wrong_kind = &node.pods[2];
    let truncated_file = node
        .damage_cache_entry(truncated, CacheDamage::Truncated)
        .context("truncate a cache file")?;
    let wrong_kind_file = node
        .damage_cache_entry(wrong_kind, CacheDamage::WrongKind)
        .context("rewrite a cache file's kind")?;

    let report = Inspect::on(&node).json().context("inspect --json")?;
    for file in [&truncated_file, &wrong_kind_file] {
        let name = file
            .file_name()
            .and_then(|n| n.to_str())
            .context("a file name")?;
        assert_error(&report, "cni_cache", name);
    }
    let others = differences_except(&report, &node, &[truncated, wrong_kind]);
    assert!(others.is_empty(), "{}", others.join("\n"));

    // The damaged pods lose their identity, not their path: raw facts and `no_cni_cache_entry`.
    for damaged in [truncated, wrong_kind] {
        let mut unnamed = damaged.clone();
        unnamed.cache_entry = None;
        let reported = report
            .pods
            .iter()
            .find(|p| p.ip.as_deref() == Some(damaged.ip.to_string().as_str()))
            .unwrap_or_else(|| panic!("{} is not reported", damaged.ip));
        let differences = pod_differences(reported, &unnamed);
        assert!(
            differences.is_empty(),
            "{}: {}",
            damaged.ip,
            differences.join("; ")
        );
    }
    Ok(())
}

#[test]
fn a_broken_conflist_is_recorded_and_every_pod_is_resolved() -> anyhow::Result<()> {
    let node = VpcCniNode::new()
        .pods(2, 2, 1)
        .build()
        .context("build a VPC CNI node")?;
    node.write_broken_conflist()
        .context("write a broken conflist")?;
    let report = Inspect::on(&node).json().context("inspect --json")?;
    assert_error(&report, "cni_config", "99-broken.conflist");
    let differences = node_differences(&report, &node);
    assert!(differences.is_empty(), "{}", differences.join("\n"));
    Ok(())
}

#[test]
fn ipamd_down_is_recorded_and_every_pod_is_resolved() -> anyhow::Result<()> {
    let node = VpcCniNode::new()
        .pods(2, 2, 1)
        .ipamd(IpamdMode::Down)
        .build()
        .context("build a VPC CNI node")?;
    let report = Inspect::on(&node).json().context("inspect --json")?;
    assert!(
        report.node.errors.iter().any(|e| e.source == "ipamd"),
        "no ipamd error: {:#?}",
        report.node.errors
    );
    let differences = node_differences(&report, &node);
    assert!(differences.is_empty(), "{}", differences.join("\n"));
    Ok(())
}

#[test]
fn ipamd_garbage_is_recorded_and_every_pod_is_resolved() -> anyhow::Result<()> {
    let node = VpcCniNode::new()
        .pods(2, 2, 1)
        .ipamd(IpamdMode::Garbage)
        .build()
        .context("build a VPC CNI node")?;
    let report = Inspect::on(&node).json().context("inspect --json")?;
    assert!(
        report.node.errors.iter().any(|e| e.source == "ipamd"),
        "no ipamd error: {:#?}",
        report.node.errors
    );
    let differences = node_differences(&report, &node);
    assert!(differences.is_empty(), "{}", differences.join("\n"));
    Ok(())
}

#[test]
fn a_namespace_deleted_during_collection_is_recorded_and_every_other_pod_is_resolved()
-> anyhow::Result<()> {
    let mut node = VpcCniNode::new()
        .pods(2, 2, 1)
        .build()
        .context("build a VPC CNI node")?;
    let victim = node.pods[2].clone();
    let victim_netns = victim.netns.name().context("a named namespace")?.to_owned();

    let hold = HoldFile::create().context("a hold file")?;
    let running = Inspect::on(&node)
        .hold_after_discovery(&hold)
        .spawn_json()
        .context("start inspect")?;
    hold.wait_until_ready(Duration::from_secs(30))
        .context("the agent finishes discovery")?;
    node.delete_pod_netns(&victim_netns)
        .context("delete the pod's namespace")?;
    hold.release().context("let the agent go on")?;
    let report = running.finish().context("inspect --json")?;

    assert_error(&report, "netlink", &victim_netns);
    let others = differences_except(&report, &node, &[&victim]);
    assert!(others.is_empty(), "{}", others.join("\n"));
    // Whatever the agent still knows of the vanished pod, it must not claim a complete path.
    if let Some(reported) = report
        .pods
        .iter()
        .find(|p| p.ip.as_deref() == Some(victim.ip.to_string().as_str()))
    {
        assert!(
            !reported.problems.is_empty(),
            "{} reported without problems",
            victim.ip
        );
    }
    Ok(())
}
