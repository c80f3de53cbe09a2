//! The VPC CNI files of a node: `10-aws.conflist` as aws-node renders `misc/10-aws.conflist`, the
//! result aws-cni returns (and libcni caches), and ipamd's checkpoint.

use std::net::Ipv4Addr;

use serde_json::{Value, json};

use super::{EniSlot, VpcPod};

/// 2026-11-21T09:00:00Z: when the first pod got its IP; pod N got it N seconds later.
pub(crate) const ASSIGNED_BASE_UNIX_S: i64 = 1_795_251_600;

/// RFC 3339 time of an assignment `seconds_after` the base, as Go marshals a `time.Time`.
pub(crate) fn assigned_time(seconds_after: i64) -> String {
    let s = seconds_after.max(0);
    format!(
        "2026-11-21T{:02}:{:02}:{:02}Z",
        9 + s / 3600,
        (s / 60) % 60,
        s % 60
    )
}

/// `misc/10-aws.conflist` with aws-node's substitutions for an IPv4 cluster, strict security
/// groups for pods, and the IPv6 egress plugin disabled.
pub(crate) fn conflist(node_ip: Ipv4Addr) -> String {
    format!(
        r#"{{
  "cniVersion": "0.4.0",
  "name": "aws-cni",
  "disableCheck": true,
  "plugins": [
    {{
      "name": "aws-cni",
      "type": "aws-cni",
      "vethPrefix": "eni",
      "mtu": "9001",
      "podSGEnforcingMode": "strict",
      "pluginLogFile": "/var/log/aws-routed-eni/plugin.log",
      "pluginLogLevel": "DEBUG",
      "capabilities": {{"io.kubernetes.cri.pod-annotations": true}}
    }},
    {{
      "name": "egress-cni",
      "type": "egress-cni",
      "mtu": "9001",
      "enabled": "false",
      "randomizeSNAT": "prng",
      "nodeIP": "{node_ip}",
      "ipam": {{
         "type": "host-local",
         "ranges": [[{{"subnet": "fd00::ac:00/118"}}]],
         "routes": [{{"dst": "::/0"}}],
         "dataDir": "/run/cni/v6pd/egress-v6-ipam"
      }},
      "pluginLogFile": "/var/log/aws-routed-eni/egress-v6-plugin.log",
      "pluginLogLevel": "DEBUG"
    }},
    {{
      "type": "portmap",
      "capabilities": {{"portMappings": true}},
      "snat": true
    }}
  ]
}}
"#
    )
}

/// The result aws-cni prints for the pod (`cmd/routed-eni-cni-plugin/cni.go`): the host veth,
/// the container interface — whose `mac` field carries the route table id, not a MAC — and the
/// "dummy" interface that packs the vlan id (branch pods) or 0 and the device number.
pub(crate) fn cache_result(pod: &VpcPod) -> Value {
    let p = &pod.pod;
    let dummy = crate::ids::vpc_cni_host_veth_name("dummy", &p.namespace, &p.name);
    let (route_table, dummy_interface, gateway) = match (&pod.branch, pod.slot) {
        (Some(branch), _) => (
            // ipamd answers branch pods with device number -1, route table id -1 + 1.
            0,
            json!({"name": dummy, "mac": branch.vlan_id.to_string()}),
            Some(super::GATEWAY),
        ),
        (None, slot) => {
            let (table, device) = match slot {
                EniSlot::Secondary => (2, 1),
                _ => (254, 0),
            };
            (
                table,
                json!({"name": dummy, "mac": "0", "sandbox": device.to_string()}),
                None,
            )
        }
    };
    let mut ip = json!({
        "version": "4",
        "interface": 1,
        "address": format!("{}/32", p.ip),
    });
    if let (Some(gw), Some(obj)) = (gateway, ip.as_object_mut()) {
        obj.insert("gateway".to_owned(), json!(gw.to_string()));
    }
    json!({
        "cniVersion": "0.4.0",
        "interfaces": [
            {"name": p.host_veth},
            {"name": "eth0", "mac": route_table.to_string(), "sandbox": p.netns.path()},
            dummy_interface
        ],
        "ips": [ip],
        "dns": {}
    })
}

/// The pod annotations containerd hands to aws-cni; branch pods carry the VPC resource
/// controller's `vpc.amazonaws.com/pod-eni`.
pub(crate) fn pod_annotations(pod: &VpcPod) -> Value {
    let mut annotations = json!({
        "kubernetes.io/config.seen": "2026-11-21T09:00:00.000000000Z",
        "kubernetes.io/config.source": "api"
    });
    if let (Some(branch), Some(obj)) = (&pod.branch, annotations.as_object_mut()) {
        let pod_eni = json!([{
            "eniId": branch.id,
            "ifAddress": branch.mac.to_string(),
            "privateIp": pod.pod.ip.to_string(),
            "vlanId": branch.vlan_id,
            "subnetCidr": format!("{}/{}", super::SUBNET, super::SUBNET_PREFIX_LEN),
        }]);
        obj.insert(
            "vpc.amazonaws.com/pod-eni".to_owned(),
            json!(pod_eni.to_string()),
        );
    }
    annotations
}

/// ipamd's checkpoint (`vpc-cni-ipam/1`): every IP it assigned from its datastore. Branch pods'
/// IPs belong to their branch ENIs, not to ipamd's pool, so they are not in it.
pub(crate) fn checkpoint(pods: &[VpcPod]) -> String {
    let allocations: Vec<Value> = pods
        .iter()
        .filter(|p| p.branch.is_none())
        .map(|p| {
            json!({
                "networkName": "aws-cni",
                "containerID": p.pod.container_id,
                "ifName": "eth0",
                "ipv4": p.pod.ip.to_string(),
                "allocationTimestamp": p.assigned_at_unix_ns,
                "metadata": {
                    "k8sPodNamespace": p.pod.namespace,
                    "k8sPodName": p.pod.name,
                    "interfacesCount": 1
                }
            })
        })
        .collect();
    // json.Encoder ends the document with a newline.
    let mut text = json!({"version": "vpc-cni-ipam/1", "allocations": allocations}).to_string();
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assignment_times_count_from_the_base() {
        assert_eq!(assigned_time(0), "2026-11-21T09:00:00Z");
        assert_eq!(assigned_time(3_725), "2026-11-21T10:02:05Z");
    }

    #[test]
    fn the_conflist_is_valid_json_naming_aws_cni() {
        let v: Value = serde_json::from_str(&conflist(Ipv4Addr::new(192, 168, 31, 166)))
            .expect("the rendered conflist parses");
        assert_eq!(v["name"], "aws-cni");
        assert_eq!(v["plugins"][0]["type"], "aws-cni");
        assert_eq!(v["plugins"][1]["nodeIP"], "192.168.31.166");
    }
}
