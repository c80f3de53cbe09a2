//! The files and services beside each built node are what the real components leave: libcni's
//! cache, host-local's store, VPC CNI's checkpoint and ipamd's answers. These tests need no agent.

use anyhow::Context as _;
use base64::Engine as _;
use podwire_e2e::topology::flannel::FlannelNode;
use podwire_e2e::topology::kube_router::KubeRouterNode;
use podwire_e2e::topology::vpc_cni::VpcCniNode;
use podwire_e2e::topology::vpc_cni::ipamd::{IpamdMode, get_in};
use podwire_e2e::topology::{BuiltNode, ExtraPods};
use serde_json::Value;

fn read_json(node: &BuiltNode, relative: &str) -> anyhow::Result<Value> {
    let bytes = node
        .host_root()
        .read(relative)
        .context("read a node file")?;
    serde_json::from_slice(&bytes).with_context(|| format!("{relative} is not JSON"))
}

fn cni_arg<'a>(entry: &'a Value, key: &str) -> Option<&'a str> {
    entry["cniArgs"]
        .as_array()?
        .iter()
        .find(|pair| pair[0] == key)
        .and_then(|pair| pair[1].as_str())
}

/// Checks every cache entry of a node against the pod it describes and the conflist in force.
fn assert_cache_entries(node: &BuiltNode, network: &str, conflist: &str) -> anyhow::Result<()> {
    let config = node.host_root().read(conflist).context("the conflist")?;
    for pod in &node.pods {
        let Some(relative) = &pod.cache_entry else {
            continue;
        };
        let who = pod.qualified_name();
        let entry = read_json(node, relative)?;
        assert_eq!(entry["kind"], "cniCacheV1", "{who}");
        assert_eq!(entry["containerId"], pod.container_id.as_str(), "{who}");
        assert_eq!(entry["networkName"], network, "{who}");
        assert_eq!(entry["ifName"], "eth0", "{who}");
        assert_eq!(entry["netns"], pod.netns.path().as_str(), "{who}");
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(entry["config"].as_str().context("config is base64 text")?)
            .context("config decodes")?;
        assert_eq!(
            decoded, config,
            "{who}: cached config is the conflist's bytes"
        );
        assert_eq!(
            cni_arg(&entry, "K8S_POD_NAMESPACE"),
            Some(pod.namespace.as_str()),
            "{who}"
        );
        assert_eq!(
            cni_arg(&entry, "K8S_POD_NAME"),
            Some(pod.name.as_str()),
            "{who}"
        );
        assert_eq!(
            cni_arg(&entry, "K8S_POD_UID"),
            Some(pod.uid.as_str()),
            "{who}"
        );
        assert_eq!(
            cni_arg(&entry, "K8S_POD_INFRA_CONTAINER_ID"),
            Some(pod.container_id.as_str()),
            "{who}"
        );
        let result = &entry["result"];
        let ip = &result["ips"][0];
        assert_eq!(
            ip["address"],
            format!("{}/{}", pod.ip, pod.prefix_len).as_str(),
            "{who}"
        );
        let sandbox = &result["interfaces"][ip["interface"].as_u64().context("index")? as usize];
        assert_eq!(sandbox["name"], "eth0", "{who}");
        assert_eq!(sandbox["sandbox"], pod.netns.path().as_str(), "{who}");
    }
    Ok(())
}

const EXTRAS: ExtraPods = ExtraPods {
    without_cache_entry: true,
    unnamed_netns: true,
};

#[test]
fn vpc_cni_node_files_describe_its_pods() -> anyhow::Result<()> {
    let node = VpcCniNode::new()
        .pods(2, 2, 1)
        .extra_pods(EXTRAS)
        .build()
        .context("build")?;
    assert_cache_entries(&node, "aws-cni", "etc/cni/net.d/10-aws.conflist")?;
    assert_eq!(
        node.pods.iter().filter(|p| p.cache_entry.is_none()).count(),
        1
    );

    // aws-cni's result: the route table id in the container interface's `mac` field, and the
    // vlan id in the dummy interface's for branch pods.
    for pod in node.pods.iter().filter(|p| p.cache_entry.is_some()) {
        let entry = read_json(&node, pod.cache_entry.as_deref().context("cached")?)?;
        let interfaces = &entry["result"]["interfaces"];
        assert_eq!(interfaces[0]["name"], pod.host_veth.as_str());
        match pod.expected.vlan_id {
            Some(vlan) => assert_eq!(interfaces[2]["mac"], vlan.to_string().as_str()),
            None => assert_eq!(
                interfaces[1]["mac"],
                pod.expected.table.to_string().as_str()
            ),
        }
    }

    let checkpoint = read_json(&node, "var/run/aws-node/ipam.json")?;
    assert_eq!(checkpoint["version"], "vpc-cni-ipam/1");
    let allocated: Vec<&str> = checkpoint["allocations"]
        .as_array()
        .context("allocations")?
        .iter()
        .filter_map(|a| a["ipv4"].as_str())
        .collect();
    for pod in &node.pods {
        let ip = pod.ip.to_string();
        let branch = pod.expected.vlan_id.is_some();
        assert_eq!(
            allocated.contains(&ip.as_str()),
            !branch,
            "{}",
            pod.qualified_name()
        );
    }
    Ok(())
}

#[test]
fn ipamd_answers_v1_enis_from_the_node_loopback_in_the_v1_23_shape() -> anyhow::Result<()> {
    let node = VpcCniNode::new().pods(2, 2, 1).build().context("build")?;
    let netns = format!("/var/run/netns/{}", node.node_netns());
    let (status, body) = get_in(netns.as_ref(), "/v1/enis").context("ask ipamd")?;
    assert_eq!(status, 200);
    let enis: Value = serde_json::from_slice(&body).context("ipamd's JSON")?;
    let card = &enis["0"];
    let by_id = card["ENIs"].as_object().context("ENIs keyed by id")?;
    assert_eq!(by_id.len(), 3);
    assert_eq!(by_id.values().filter(|e| e["IsTrunk"] == true).count(), 1);
    assert_eq!(card["AssignedIPs"], 4);
    for pod in node.pods.iter().filter(|p| p.expected.vlan_id.is_none()) {
        let ip = pod.ip.to_string();
        let eni = by_id
            .values()
            .find(|e| e["AvailableIPv4Cidrs"].get(format!("{ip}/32")).is_some())
            .unwrap_or_else(|| panic!("{ip} is on no ENI"));
        assert_eq!(eni["RouteTableID"], pod.expected.table, "{ip}");
        let cidr = &eni["AvailableIPv4Cidrs"][format!("{ip}/32")];
        assert_eq!(cidr["Cidr"]["Mask"], "/////w==");
        let address = &cidr["IPAddresses"][&ip];
        assert_eq!(address["IPAMKey"]["containerID"], "", "scrubbed");
        assert_eq!(address["IPAMMetadata"]["k8sPodName"], pod.name.as_str());
    }

    let garbage = VpcCniNode::new()
        .pods(1, 0, 0)
        .ipamd(IpamdMode::Garbage)
        .build()
        .context("build")?;
    let netns = format!("/var/run/netns/{}", garbage.node_netns());
    let (status, body) = get_in(netns.as_ref(), "/v1/enis").context("ask ipamd")?;
    assert_eq!(status, 200);
    assert!(
        serde_json::from_slice::<Value>(&body).is_err(),
        "garbage must not parse"
    );

    let down = VpcCniNode::new()
        .pods(1, 0, 0)
        .ipamd(IpamdMode::Down)
        .build()
        .context("build")?;
    let netns = format!("/var/run/netns/{}", down.node_netns());
    assert!(
        get_in(netns.as_ref(), "/v1/enis").is_err(),
        "nothing listens"
    );
    Ok(())
}

#[test]
fn flannel_node_files_describe_its_pods() -> anyhow::Result<()> {
    let node = FlannelNode::new()
        .pods(3)
        .extra_pods(EXTRAS)
        .build()
        .context("build")?;
    assert_cache_entries(&node, "cbr0", "etc/cni/net.d/10-flannel.conflist")?;
    let env = String::from_utf8(
        node.host_root()
            .read("run/flannel/subnet.env")
            .context("subnet.env")?,
    )
    .context("text")?;
    assert!(env.contains("FLANNEL_SUBNET=10.244.0.1/24"), "{env}");
    for pod in &node.pods {
        let allocation = node
            .host_root()
            .read(&format!("var/lib/cni/networks/cbr0/{}", pod.ip))
            .context("host-local allocation")?;
        assert_eq!(
            allocation,
            format!("{}\r\neth0", pod.container_id).into_bytes()
        );
    }
    let last = node
        .host_root()
        .read("var/lib/cni/networks/cbr0/last_reserved_ip.0")
        .context("last")?;
    let highest = node.pods.iter().map(|p| p.ip).max().context("pods")?;
    assert_eq!(last, highest.to_string().into_bytes());
    Ok(())
}

#[test]
fn kube_router_node_files_describe_its_pods() -> anyhow::Result<()> {
    let node = KubeRouterNode::new()
        .pods(2)
        .extra_pods(EXTRAS)
        .build()
        .context("build")?;
    assert_cache_entries(&node, "mynet", "etc/cni/net.d/10-kuberouter.conflist")?;
    let conflist = read_json(&node, "etc/cni/net.d/10-kuberouter.conflist")?;
    assert_eq!(conflist["plugins"][0]["bridge"], "kube-bridge");
    assert_eq!(
        conflist["plugins"][0]["ipam"]["ranges"][0][0]["subnet"],
        "10.233.64.0/24"
    );
    for pod in &node.pods {
        assert!(
            node.host_root()
                .join(&format!("var/lib/cni/networks/mynet/{}", pod.ip))
                .is_file()
        );
    }
    Ok(())
}
