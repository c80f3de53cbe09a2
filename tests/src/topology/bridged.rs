//! Pods wired by the reference `bridge` plugin with host-local IPAM — what flannel delegates to
//! and what kube-router configures: a veth `veth<8 hex>` enslaved to the node's bridge (hairpin
//! on), the pod's `eth0` with an address from the node's pod CIDR and a default route via the
//! bridge's address; host-local's files and libcni's cache beside them.

use std::net::Ipv4Addr;

use serde_json::{Value, json};

use crate::cmd::Batch;
use crate::host_root::cni_cache::{self, CacheEntry};
use crate::host_root::host_local::HostLocalStore;
use crate::ids::{self, Mac};
use crate::topology::{BuiltPod, ExpectedPath, ExtraPods, NodeParts, TopologyError, pod_identity};

/// One bridge network as its CNI configuration defines it.
#[derive(Debug, Clone)]
pub(crate) struct BridgedNetwork<'a> {
    /// The configuration list's `name`: the host-local directory and the cache files' prefix.
    pub network_name: &'a str,
    /// The `cniVersion` of the cached result.
    pub cni_version: &'a str,
    /// The configuration list, byte for byte.
    pub conflist: &'a [u8],
    pub bridge: &'a str,
    pub bridge_mac: Mac,
    pub gateway: Ipv4Addr,
    /// The node's pod CIDR.
    pub subnet: Ipv4Addr,
    pub prefix_len: u8,
    pub mtu: u32,
    /// Routes inside the pod after its default route (`10.244.0.0/16 via 10.244.0.1`).
    pub extra_pod_routes: &'a [&'a str],
    /// The `routes` of the cached result.
    pub result_routes: Value,
    pub expected: ExpectedPath,
}

/// Adds `count` ordinary pods plus the extras: the uncached pod, then the unnamed one.
pub(crate) fn add_pods(
    parts: &mut NodeParts,
    net: &BridgedNetwork<'_>,
    count: usize,
    extra: ExtraPods,
) -> Result<(), TopologyError> {
    let mut plans: Vec<(bool, bool)> = vec![(true, false); count];
    if extra.without_cache_entry {
        plans.push((false, false));
    }
    if extra.unnamed_netns {
        plans.push((true, true));
    }
    // host-local hands out .2 upwards (the gateway holds .1); leave the broadcast address free.
    let host_bits = 32 - u32::from(net.prefix_len);
    let usable = (1usize << host_bits).saturating_sub(3);
    if plans.len() > usable {
        return Err(TopologyError::TooManyPods { count: plans.len() });
    }

    let seed = parts.prefix.as_str().to_owned();
    let mut node = Batch::new();
    let mut pods = Vec::with_capacity(plans.len());
    for (index, (cached, unnamed)) in plans.into_iter().enumerate() {
        let netns = parts.add_pod_netns(&format!("pod{index}"), unnamed)?;
        let (namespace, name) = pod_identity(&seed, index);
        let pod_seed = format!("{seed}{namespace}.{name}");
        let container_id = ids::container_id(&pod_seed);
        let ip = Ipv4Addr::from(u32::from(net.subnet) + 2 + index as u32);
        let pod = BuiltPod {
            uid: ids::uuid(&format!("{pod_seed}/uid")),
            netns,
            ip,
            prefix_len: net.prefix_len,
            mac: Mac::local(&format!("{pod_seed}/eth0")).to_string(),
            host_veth: ids::bridge_veth_name(&pod_seed),
            host_veth_mac: Mac::local(&format!("{pod_seed}/host")).to_string(),
            bridge: Some(net.bridge.to_owned()),
            cache_entry: cached.then(|| {
                format!(
                    "{}/{}-{container_id}-eth0",
                    cni_cache::RESULTS_DIR,
                    net.network_name
                )
            }),
            container_id,
            expected: net.expected.clone(),
            namespace,
            name,
        };
        node.push(format!(
            "link add {} address {} mtu {} type veth peer name eth0 address {} mtu {} netns {}",
            pod.host_veth,
            pod.host_veth_mac,
            net.mtu,
            pod.mac,
            net.mtu,
            pod.netns.ip_netns_arg()
        ));
        node.push(format!("link set {} master {}", pod.host_veth, net.bridge));
        node.push(format!(
            "link set {} type bridge_slave hairpin on",
            pod.host_veth
        ));
        node.push(format!("link set {} up", pod.host_veth));
        pods.push(pod);
    }
    node.run_ip(parts.node.name())?;

    let store = HostLocalStore::create(&parts.host_root, net.network_name)?;
    for pod in &pods {
        store.reserve(pod.ip.into(), &pod.container_id, "eth0", 0)?;
    }

    for pod in &pods {
        let mut b = Batch::new();
        b.push("link set lo up");
        b.push("link set eth0 up");
        b.push(format!(
            "address add {}/{} dev eth0",
            pod.ip, pod.prefix_len
        ));
        b.push(format!("route add default via {} dev eth0", net.gateway));
        for route in net.extra_pod_routes {
            b.push(format!("route add {route} dev eth0"));
        }
        pod.netns.run_ip(&b)?;
        if let Some(relative) = &pod.cache_entry {
            let entry = cache_entry(net, pod);
            debug_assert_eq!(&entry.relative_path(), relative);
            parts.host_root.write(relative, entry.to_bytes())?;
        }
    }
    parts.pods.extend(pods);
    Ok(())
}

/// The bridge plugin's result, as libcni caches it after the chain (portmap passes it on).
fn cache_entry(net: &BridgedNetwork<'_>, pod: &BuiltPod) -> CacheEntry {
    let result = json!({
        "cniVersion": net.cni_version,
        "interfaces": [
            {"name": net.bridge, "mac": net.bridge_mac.to_string()},
            {"name": pod.host_veth, "mac": pod.host_veth_mac},
            {"name": "eth0", "mac": pod.mac, "sandbox": pod.netns.path()}
        ],
        "ips": [{
            "version": "4",
            "interface": 2,
            "address": format!("{}/{}", pod.ip, pod.prefix_len),
            "gateway": net.gateway.to_string()
        }],
        "routes": net.result_routes,
        "dns": {}
    });
    CacheEntry {
        network_name: net.network_name.to_owned(),
        container_id: pod.container_id.clone(),
        if_name: "eth0".to_owned(),
        netns: pod.netns.path(),
        config: net.conflist.to_vec(),
        cni_args: cni_cache::kubernetes_cni_args(
            &pod.namespace,
            &pod.name,
            &pod.uid,
            &pod.container_id,
        ),
        capability_args: cni_cache::kubernetes_capability_args(json!({
            "kubernetes.io/config.source": "api"
        })),
        result,
    }
}
