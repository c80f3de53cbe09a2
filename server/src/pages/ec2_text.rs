//! How the pages write what EC2 enrichment says: the hops a pod's path ends with (the ENI, its
//! security groups, its subnet), the one-line forms the ENI and subnet pages reuse, and the
//! note that says the facts may be out of date.

use podwire_node_state::resolver::Egress;

use super::chrome::{enc, time};
use super::pod::Hop;
use crate::enrich::model::{EnrichmentStatus, StoredSubnet};
use crate::read::{Ec2Facts, PodInterfaceAt};

/// `sg-0123 (eks-node), sg-0456 (payments-pods)`.
pub(crate) fn security_groups(facts: &Ec2Facts) -> String {
    let groups = &facts.eni.eni.groups;
    if groups.is_empty() {
        return "none".to_owned();
    }
    groups
        .iter()
        .map(|g| match &g.group_name {
            Some(name) => format!("{} ({name})", g.group_id),
            None => g.group_id.clone(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// `192.168.0.0/19 · 8180 free · vpc-0abc · us-west-2a`, from what EC2 described.
pub(crate) fn subnet_facts(subnet: &StoredSubnet) -> String {
    let mut parts = Vec::new();
    if let Some(cidr) = subnet.cidr {
        parts.push(cidr.to_string());
    }
    match subnet.available {
        Some(free) => parts.push(format!("{free} free")),
        None => parts.push("free count not sampled".to_owned()),
    }
    if let Some(vpc) = &subnet.vpc_id {
        parts.push(vpc.clone());
    }
    if let Some(zone) = &subnet.availability_zone {
        parts.push(zone.clone());
    }
    parts.join(" · ")
}

/// The hops that end a path at an ENI EC2 described: the ENI, its security groups, its subnet.
fn described_hops(facts: &Ec2Facts, at_query: &str) -> Vec<Hop> {
    let e = &facts.eni.eni;
    let mut text = format!(
        "{} ({}, {})",
        e.network_interface_id,
        facts.eni.kind.as_str(),
        e.mac_address.as_deref().unwrap_or("no MAC")
    );
    if let Some(vlan) = e.vlan_id() {
        text.push_str(&format!(" · vlan {vlan}"));
    }
    if let Some(description) = e.description.as_deref().filter(|d| !d.is_empty()) {
        text.push_str(&format!(" · “{description}”"));
    }
    let mut hops = vec![
        Hop {
            what: "ENI",
            text,
            href: Some(format!("/enis/{}{at_query}", enc(&e.network_interface_id))),
        },
        Hop {
            what: "security groups",
            text: security_groups(facts),
            href: None,
        },
    ];
    if let Some(subnet_id) = &e.subnet_id {
        let facts_text = facts
            .subnet
            .as_ref()
            .map(subnet_facts)
            .or_else(|| e.vpc_id.clone())
            .unwrap_or_else(|| "not described".to_owned());
        hops.push(Hop {
            what: "subnet",
            text: format!("{subnet_id} · {facts_text}"),
            href: Some(format!("/subnets/{}{at_query}", enc(subnet_id))),
        });
    }
    hops
}

/// The hops that end `egress` of interface `i`: EC2's ENI joined by the MAC the egress ends on
/// when enrichment described it, else what the node's ipamd says, else the bare MAC.
pub(crate) fn eni_hops(i: &PodInterfaceAt, egress: &Egress, at_query: &str) -> Vec<Hop> {
    let mac = egress.eni_mac;
    let described = [i.ec2.as_ref(), i.snat_ec2.as_ref()]
        .into_iter()
        .flatten()
        .find(|f| mac.is_some() && f.eni.eni.mac() == mac);
    if let Some(facts) = described {
        return described_hops(facts, at_query);
    }
    let hop = match &i.eni {
        Some(eni) if mac.is_some() && eni.mac == mac => Hop {
            what: "ENI",
            text: format!(
                "{} ({}, {}, subnet {}) · security groups: not enriched",
                eni.eni_id,
                eni.role(),
                mac.map(|m| m.to_string()).unwrap_or_default(),
                eni.subnet_id.as_deref().unwrap_or("unknown"),
            ),
            href: Some(format!("/enis/{}{}", enc(&eni.eni_id), at_query)),
        },
        _ => Hop {
            what: "ENI",
            text: match (mac, egress.vlan_id) {
                (Some(mac), Some(vlan)) => format!(
                    "branch ENI {mac} (vlan {vlan} on trunk {}) · id, security groups: not enriched",
                    egress.trunk_device.as_deref().unwrap_or("?")
                ),
                (Some(mac), None) => {
                    format!("MAC {mac} · ENI id: not reported by ipamd, not enriched")
                }
                (None, _) => "none: the path stays on the node or was not resolved".to_owned(),
            },
            href: None,
        },
    };
    vec![hop]
}

/// A warning when EC2 facts may be out of date: the latest refresh failed, or none completed.
/// `None` when they are current, or when enrichment never ran against this database (the hops
/// say `not enriched` then).
pub(crate) fn stale_note(status: &EnrichmentStatus) -> Option<String> {
    if !status.configured || !status.stale {
        return None;
    }
    let mut note = "EC2 facts may be out of date:".to_owned();
    match (&status.last_error, status.last_error_at) {
        (Some(error), Some(at)) => note.push_str(&format!(
            " the latest refresh failed at {} ({error}).",
            time(at)
        )),
        _ => note.push_str(" no refresh has completed yet."),
    }
    match status.last_success_at {
        Some(at) => note.push_str(&format!(" Last success: {}.", time(at))),
        None => note.push_str(" No refresh has succeeded."),
    }
    Some(note)
}
