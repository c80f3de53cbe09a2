//! The inspect command line as an engineer on a node uses it: `--pod NS/NAME`, the human table,
//! and the probe the agent picks when none is given.

use anyhow::Context as _;
use std::net::IpAddr;

use podwire_e2e::agent::Inspect;
use podwire_e2e::expect::{errors_about_node, pod_differences};
use podwire_e2e::topology::vpc_cni::VpcCniNode;

#[test]
fn pod_filter_reports_exactly_that_pod() -> anyhow::Result<()> {
    let node = VpcCniNode::new()
        .pods(2, 2, 1)
        .build()
        .context("build a VPC CNI node")?;
    let branch = node
        .pods
        .iter()
        .find(|p| p.expected.vlan_id.is_some())
        .context("a branch-ENI pod")?;
    let report = Inspect::on(&node)
        .pod(&branch.qualified_name())
        .json()
        .context("inspect --pod --json")?;
    assert_eq!(report.pods.len(), 1, "{:#?}", report.pods);
    let differences = pod_differences(&report.pods[0], branch);
    assert!(differences.is_empty(), "{}", differences.join("\n"));
    Ok(())
}

#[test]
fn the_human_table_has_the_columns_and_a_line_per_pod() -> anyhow::Result<()> {
    let node = VpcCniNode::new()
        .pods(1, 1, 1)
        .build()
        .context("build a VPC CNI node")?;
    let table = Inspect::on(&node).table().context("inspect")?;
    let header = table
        .lines()
        .find(|l| l.to_ascii_lowercase().contains("wiring"))
        .unwrap_or_else(|| panic!("no header line naming the wiring column:\n{table}"));
    let header = header.to_ascii_lowercase();
    for column in [
        "namespace",
        "ip",
        "veth",
        "bridge",
        "table",
        "egress",
        "eni",
        "mac",
        "problems",
    ] {
        assert!(
            header.contains(column),
            "no {column} column in {header:?}\n{table}"
        );
    }
    for pod in &node.pods {
        let line = table
            .lines()
            .find(|l| l.contains(&pod.name))
            .unwrap_or_else(|| panic!("no line for {}:\n{table}", pod.qualified_name()));
        for value in [
            pod.ip.to_string(),
            pod.host_veth.clone(),
            pod.expected.egress_device.clone(),
            pod.expected.eni_mac.clone(),
            pod.expected.wiring.to_owned(),
        ] {
            assert!(
                line.to_ascii_lowercase().contains(&value),
                "{}: {value} missing from {line:?}",
                pod.qualified_name()
            );
        }
    }
    Ok(())
}

#[test]
fn without_probe_dst_the_agent_names_its_probe_and_the_kernel_agrees() -> anyhow::Result<()> {
    let node = VpcCniNode::new()
        .pods(2, 2, 1)
        .build()
        .context("build a VPC CNI node")?;
    let report = Inspect::on(&node)
        .without_probe()
        .json()
        .context("inspect --json")?;
    let probe = &report.node.probe;
    let destination: IpAddr = probe
        .destination
        .as_deref()
        .context("a probe destination")?
        .parse()
        .context("the probe is an IP address")?;
    assert!(
        probe
            .reason
            .as_deref()
            .is_some_and(|r| !r.trim().is_empty()),
        "the agent says why it chose {destination}"
    );
    assert!(
        !node.pods.iter().any(|p| IpAddr::V4(p.ip) == destination),
        "the probe {destination} is a pod on this node"
    );
    assert_eq!(report.pods.len(), node.pods.len());
    for pod in &report.pods {
        assert_eq!(pod.kernel, "agrees", "{}", pod.label());
        assert!(pod.egress_device.is_some(), "{}", pod.label());
        assert!(
            pod.problems.is_empty(),
            "{}: {:?}",
            pod.label(),
            pod.problems
        );
    }
    let errors = errors_about_node(&report, &node);
    assert!(errors.is_empty(), "{errors:#?}");
    Ok(())
}

#[test]
fn timings_name_every_phase_on_stderr_and_leave_the_report_alone() -> anyhow::Result<()> {
    let node = VpcCniNode::new()
        .pods(1, 1, 0)
        .build()
        .context("build a VPC CNI node")?;
    let argv = Inspect::on(&node).command(true)?.arg("--timings").argv();
    let (program, args) = argv.split_first().context("a command")?;
    let output = std::process::Command::new(program)
        .args(args)
        .output()
        .context("run inspect --timings")?;
    assert!(output.status.success(), "{output:?}");
    let report: podwire_e2e::agent::InspectReport =
        serde_json::from_slice(&output.stdout).context("standard output is the report")?;
    assert_eq!(report.pods.len(), 2);
    let stderr = String::from_utf8(output.stderr)?;
    for phase in [
        "host dump",
        "netns discovery",
        "host nsids",
        "cni files",
        "vpc cni: checkpoint, ipamd",
        "pod namespaces",
        "resolution, asking the kernel",
        "output",
    ] {
        assert!(
            stderr.lines().any(|l| l.ends_with(&format!("  {phase}"))),
            "no {phase} line in:\n{stderr}"
        );
    }
    Ok(())
}
