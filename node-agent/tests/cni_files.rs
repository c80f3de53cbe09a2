//! CNI file state of three node kinds, read from fixture host roots, and of broken copies of
//! them: every failure recorded, every good file still read.

mod common;

use std::fs;
use std::net::IpAddr;
use std::os::unix::fs::symlink;
use std::path::Path;

use common::{copy_host, fixture};
use ipnet::IpNet;
use podwire_agent::collect::files::read_cni_state;
use podwire_node_state::{
    CniCacheEntry, CniInterface, CniState, ErrorSource, HostLocalAllocation, SourceError,
};

fn read(root: &Path) -> (CniState, Vec<SourceError>) {
    let mut errors = Vec::new();
    let state = read_cni_state(root, &mut errors);
    (state, errors)
}

fn ip(text: &str) -> IpAddr {
    text.parse().expect("test address")
}

fn net(text: &str) -> IpNet {
    text.parse().expect("test CIDR")
}

fn entry_of<'a>(state: &'a CniState, pod: &str) -> &'a CniCacheEntry {
    state
        .cache
        .iter()
        .find(|e| e.pod_name.as_deref() == Some(pod))
        .unwrap_or_else(|| panic!("no cache entry for {pod}"))
}

/// (source, subject, message) of each recorded error, for exact comparison.
fn described(errors: &[SourceError]) -> Vec<(ErrorSource, &str, &str)> {
    errors
        .iter()
        .map(|e| (e.source, e.subject.as_str(), e.message.as_str()))
        .collect()
}

const FLANNEL_WEB: &str = "63c21969aefe42fe6646760a980211ae15ddcdc71528564daac06fb65fa6df94";
const FLANNEL_DNS: &str = "8bf7072c2dc2614b6d9736dc6846618574bc87a85aba64921803406deddb54f9";

#[test]
fn flannel_node() {
    let (state, errors) = read(&fixture("hosts/flannel"));
    assert_eq!(errors, []);

    let [config] = &state.configs[..] else {
        panic!("{:?}", state.configs)
    };
    assert_eq!(config.file, "/etc/cni/net.d/10-flannel.conflist");
    assert_eq!(
        (config.name.as_str(), config.cni_version.as_deref()),
        ("cbr0", Some("0.3.1"))
    );
    let types: Vec<_> = config
        .plugins
        .iter()
        .map(|p| p.plugin_type.as_str())
        .collect();
    assert_eq!(types, ["flannel", "portmap"]);
    assert_eq!(config.plugins[0].delegate_type.as_deref(), Some("bridge"));

    let web = entry_of(&state, "web-0");
    let expected = CniCacheEntry {
        file: format!("/var/lib/cni/results/cbr0-{FLANNEL_WEB}-eth0"),
        network_name: "cbr0".into(),
        container_id: FLANNEL_WEB.into(),
        if_name: "eth0".into(),
        pod_namespace: Some("default".into()),
        pod_name: Some("web-0".into()),
        pod_uid: Some("d8db08a0-0486-eefa-6e2d-8b74f69d731f".into()),
        netns_path: Some("/var/run/netns/cni-66bbaa5b-bd35-2f20-702f-f9e469f6c321".into()),
        ips: vec![net("10.244.1.2/24")],
        gateways: vec![ip("10.244.1.1")],
        interfaces: vec![
            CniInterface {
                name: "cni0".into(),
                mac: Some("6e:8a:55:0c:41:f2".parse().unwrap()),
                sandbox: None,
            },
            CniInterface {
                name: "veth66bbaa5b".into(),
                mac: Some("b2:1d:3c:4e:5f:10".parse().unwrap()),
                sandbox: None,
            },
            CniInterface {
                name: "eth0".into(),
                mac: Some("5a:9c:2e:71:0b:20".parse().unwrap()),
                sandbox: Some("/var/run/netns/cni-66bbaa5b-bd35-2f20-702f-f9e469f6c321".into()),
            },
        ],
        plugin_types: vec!["flannel".into(), "portmap".into()],
        cni_version: Some("0.3.1".into()),
    };
    assert_eq!(web, &expected);
    assert_eq!(state.cache.len(), 2);
    assert_eq!(
        entry_of(&state, "coredns-668d6bf9bc-7xk2p").ips,
        [net("10.244.1.3/24")]
    );

    let [network] = &state.host_local[..] else {
        panic!("{:?}", state.host_local)
    };
    assert_eq!(network.network, "cbr0");
    assert_eq!(network.dir, "/var/lib/cni/networks/cbr0");
    assert_eq!(
        network.allocations,
        [
            HostLocalAllocation {
                ip: ip("10.244.1.2"),
                container_id: FLANNEL_WEB.into(),
                if_name: Some("eth0".into()),
            },
            HostLocalAllocation {
                ip: ip("10.244.1.3"),
                container_id: FLANNEL_DNS.into(),
                if_name: Some("eth0".into()),
            },
        ]
    );
    assert_eq!(network.last_reserved, [ip("10.244.1.3")]);
    // flannel's file has no IPAM: its plugin hands host-local the node's lease.
    assert_eq!(network.ranges, [net("10.244.1.0/24")]);

    let lease = state.flannel.as_ref().unwrap();
    assert_eq!(lease.network, Some(net("10.244.0.0/16")));
    assert_eq!(lease.subnet, Some(net("10.244.1.1/24")));
    assert_eq!((lease.mtu, lease.ipmasq), (Some(1450), Some(true)));
}

#[test]
fn vpc_cni_node() {
    let (state, errors) = read(&fixture("hosts/vpc-cni"));
    assert_eq!(errors, []);

    let [config] = &state.configs[..] else {
        panic!("{:?}", state.configs)
    };
    assert_eq!(
        (config.name.as_str(), config.cni_version.as_deref()),
        ("aws-cni", Some("0.4.0"))
    );
    let types: Vec<_> = config
        .plugins
        .iter()
        .map(|p| p.plugin_type.as_str())
        .collect();
    assert_eq!(types, ["aws-cni", "egress-cni", "portmap"]);
    let egress_ipam = config.plugins[1].ipam.as_ref().unwrap();
    assert_eq!(egress_ipam.ipam_type, "host-local");
    assert_eq!(egress_ipam.subnets, [net("fd00::ac:0/118")]);
    assert_eq!(
        egress_ipam.data_dir.as_deref(),
        Some("/run/cni/v4pd/egress-v6-ipam")
    );
    assert!(config.plugins.iter().all(|p| p.bridge.is_none()));

    assert_eq!(state.cache.len(), 3);
    let web = entry_of(&state, "web-0");
    assert_eq!(web.plugin_types, ["aws-cni", "egress-cni", "portmap"]);
    assert_eq!(web.ips, [net("192.168.14.17/32")]);
    // Pods on ENIs get no gateway in the result: they route via 169.254.1.1 by a static route.
    assert!(web.gateways.is_empty());
    let names: Vec<_> = web.interfaces.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names, ["eni0d7763386da", "eth0", "dummy0d7763386da"]);
    // VPC CNI keeps a route table id in `mac` and a device number in the placeholder's
    // `sandbox`: neither is taken for a MAC or a namespace.
    assert!(web.interfaces.iter().all(|i| i.mac.is_none()));
    assert_eq!(web.interfaces[2].sandbox.as_deref(), Some("0"));
    assert_eq!(
        web.netns_path.as_deref(),
        Some("/var/run/netns/cni-66bbaa5b-bd35-2f20-702f-f9e469f6c321")
    );

    let branch = entry_of(&state, "ledger-0");
    assert_eq!(branch.pod_namespace.as_deref(), Some("payments"));
    assert_eq!(branch.gateways, [ip("192.168.32.1")]);
    assert_eq!(branch.interfaces[0].name, "vlan47e53c5df16");

    // egress-cni's host-local directory only exists once IPv6 egress is on.
    assert!(state.host_local.is_empty());
    assert_eq!(state.flannel, None);
}

#[test]
fn kube_router_node() {
    let (state, errors) = read(&fixture("hosts/kube-router"));
    assert_eq!(errors, []);

    // libcni's order: by file name.
    let files: Vec<_> = state.configs.iter().map(|c| c.file.as_str()).collect();
    assert_eq!(
        files,
        [
            "/etc/cni/net.d/10-kuberouter.conflist",
            "/etc/cni/net.d/99-loopback.conf"
        ]
    );
    let bridge = &state.configs[0].plugins[0];
    assert_eq!(bridge.bridge.as_deref(), Some("kube-bridge"));
    assert_eq!(
        bridge.ipam.as_ref().unwrap().subnets,
        [net("10.244.2.0/24"), net("2001:db8:42:2::/64")]
    );
    let loopback = &state.configs[1];
    assert_eq!(
        (
            loopback.name.as_str(),
            loopback.plugins[0].plugin_type.as_str()
        ),
        ("lo", "loopback")
    );

    let api = entry_of(&state, "api-0");
    assert_eq!(api.ips, [net("10.244.2.5/24"), net("2001:db8:42:2::5/64")]);
    assert_eq!(api.gateways, [ip("10.244.2.1"), ip("2001:db8:42:2::1")]);
    assert_eq!(api.plugin_types, ["bridge", "portmap"]);
    assert_eq!(api.cni_version.as_deref(), Some("0.3.0"));

    let [network] = &state.host_local[..] else {
        panic!("{:?}", state.host_local)
    };
    let allocated: Vec<IpAddr> = network.allocations.iter().map(|a| a.ip).collect();
    assert_eq!(allocated, [ip("10.244.2.5"), ip("2001:db8:42:2::5")]);
    assert!(
        network
            .allocations
            .iter()
            .all(|a| a.container_id == api.container_id)
    );
    assert_eq!(
        network.last_reserved,
        [ip("10.244.2.5"), ip("2001:db8:42:2::5")]
    );
    assert_eq!(
        network.ranges,
        [net("10.244.2.0/24"), net("2001:db8:42:2::/64")]
    );
}

#[test]
fn broken_files_are_recorded_and_the_good_ones_still_read() {
    let host = copy_host("flannel");
    let root = host.path();
    let results = root.join("var/lib/cni/results");
    let good = fs::read(results.join(format!("cbr0-{FLANNEL_WEB}-eth0"))).unwrap();
    let good_text = String::from_utf8(good.clone()).unwrap();

    fs::write(results.join("cbr0-aaa-eth0"), &good[..good.len() / 2]).unwrap();
    fs::write(
        results.join("cbr0-bbb-eth0"),
        good_text.replace("\"kind\":\"cniCacheV1\"", "\"kind\":\"cniCacheV2\""),
    )
    .unwrap();
    fs::write(
        results.join("cbr0-ccc-eth0"),
        good_text
            .replace("10.244.1.2/24", "10.244.1.300/24")
            .replace("K8S_POD_NAME\",\"web-0", "K8S_POD_NAME\",\"web-1"),
    )
    .unwrap();
    symlink("/var/lib/cni/results/gone", results.join("cbr0-ddd-eth0")).unwrap();
    fs::create_dir(results.join("cbr0-eee-eth0")).unwrap();
    nix::unistd::mkfifo(
        &results.join("cbr0-fff-eth0"),
        nix::sys::stat::Mode::S_IRUSR,
    )
    .unwrap();

    let net_d = root.join("etc/cni/net.d");
    fs::write(
        net_d.join("05-broken.conflist"),
        b"{\"name\": \"cbr0\", \"plugins\": [",
    )
    .unwrap();
    fs::write(
        net_d.join("06-bad-subnet.conf"),
        br#"{"name":"x","type":"bridge","ipam":{"type":"host-local","subnet":"10.1.0.0/33"}}"#,
    )
    .unwrap();
    fs::write(net_d.join("README.txt"), b"not a configuration").unwrap();

    let cbr0 = root.join("var/lib/cni/networks/cbr0");
    fs::write(cbr0.join("not-an-ip"), b"x").unwrap();
    fs::write(cbr0.join("last_reserved_ip.x"), b"10.244.1.9").unwrap();
    fs::write(cbr0.join("10.244.1.9"), b"").unwrap();
    fs::create_dir(root.join("var/lib/cni/networks/idle")).unwrap();

    fs::write(
        root.join("run/flannel/subnet.env"),
        "FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_MTU=fourteen\n",
    )
    .unwrap();

    let (state, errors) = read(root);
    let truncated = format!(
        "not a libcni cache entry: EOF while parsing a string at line 1 column {}",
        good.len() / 2
    );
    assert_eq!(
        described(&errors),
        [
            (
                ErrorSource::CniConfig,
                "/run/flannel/subnet.env",
                "FLANNEL_MTU=\"fourteen\" is not a number"
            ),
            (
                ErrorSource::CniConfig,
                "/etc/cni/net.d/05-broken.conflist",
                "not a valid network configuration: EOF while parsing a list at line 1 column 29"
            ),
            (
                ErrorSource::CniConfig,
                "/etc/cni/net.d/06-bad-subnet.conf",
                "plugin bridge: ipam subnet \"10.1.0.0/33\" is not a CIDR"
            ),
            (
                ErrorSource::CniCache,
                "/var/lib/cni/results/cbr0-aaa-eth0",
                truncated.as_str()
            ),
            (
                ErrorSource::CniCache,
                "/var/lib/cni/results/cbr0-bbb-eth0",
                "cache entry of kind \"cniCacheV2\", not cniCacheV1"
            ),
            (
                ErrorSource::CniCache,
                "/var/lib/cni/results/cbr0-ccc-eth0",
                "result address \"10.244.1.300/24\" is not an address with a prefix length"
            ),
            (
                ErrorSource::CniCache,
                "/var/lib/cni/results/cbr0-ddd-eth0",
                "cannot read: No such file or directory (os error 2)"
            ),
            (
                ErrorSource::HostLocal,
                "/var/lib/cni/networks/cbr0/10.244.1.9",
                "allocation file holds no container id"
            ),
            (
                ErrorSource::HostLocal,
                "/var/lib/cni/networks/cbr0/last_reserved_ip.x",
                "range index \"x\" is not a number"
            ),
            (
                ErrorSource::HostLocal,
                "/var/lib/cni/networks/cbr0/not-an-ip",
                "file name is not an IP address, so not an allocation"
            ),
        ]
    );

    // Everything good is still there.
    let configs: Vec<_> = state.configs.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(configs, ["x", "cbr0"]);
    assert!(
        state.configs[0].plugins[0]
            .ipam
            .as_ref()
            .unwrap()
            .subnets
            .is_empty()
    );
    let pods: Vec<_> = state
        .cache
        .iter()
        .filter_map(|e| e.pod_name.as_deref())
        .collect();
    // In file-name order, as libcni lists them.
    assert_eq!(pods, ["web-0", "coredns-668d6bf9bc-7xk2p", "web-1"]);
    // The entry with a bad address keeps everything else it says.
    let partial = entry_of(&state, "web-1");
    assert!(partial.ips.is_empty());
    assert_eq!(partial.gateways, [ip("10.244.1.1")]);
    assert!(partial.netns_path.is_some());

    let networks: Vec<(&str, usize)> = state
        .host_local
        .iter()
        .map(|n| (n.network.as_str(), n.allocations.len()))
        .collect();
    assert_eq!(networks, [("cbr0", 2), ("idle", 0)]);
    assert_eq!(state.host_local[0].last_reserved, [ip("10.244.1.3")]);
    let lease = state.flannel.unwrap();
    assert_eq!(
        (lease.subnet, lease.mtu),
        (Some(net("10.244.1.1/24")), None)
    );
}

#[test]
fn missing_directories() {
    let host = tempfile::tempdir().unwrap();
    let (state, errors) = read(host.path());
    assert_eq!(
        described(&errors),
        [
            (
                ErrorSource::CniConfig,
                "/etc/cni/net.d",
                "cannot read: No such file or directory (os error 2)"
            ),
            (
                ErrorSource::CniCache,
                "/var/lib/cni/results",
                "cannot read: No such file or directory (os error 2)"
            ),
        ]
    );
    assert_eq!(state, CniState::default());
}

#[test]
fn empty_directories_are_no_error() {
    let host = tempfile::tempdir().unwrap();
    for dir in [
        "etc/cni/net.d",
        "var/lib/cni/results",
        "var/lib/cni/networks",
        "run/flannel",
    ] {
        fs::create_dir_all(host.path().join(dir)).unwrap();
    }
    let (state, errors) = read(host.path());
    assert_eq!(errors, []);
    assert_eq!(state, CniState::default());
}

#[test]
fn host_local_data_dir_named_by_a_configuration() {
    let host = copy_host("vpc-cni");
    let dir = host.path().join("run/cni/v4pd/egress-v6-ipam/aws-cni");
    fs::create_dir_all(&dir).unwrap();
    fs::write(
        dir.join("fd00::ac:2"),
        "78ed39063c22f9f1886651e8aeca7beddea4cfa401b36ed3fb091ace7e41dd5b\r\nv6if0",
    )
    .unwrap();
    fs::write(dir.join("last_reserved_ip.0"), "fd00::ac:2").unwrap();
    fs::write(dir.join("lock"), "").unwrap();

    let (state, errors) = read(host.path());
    assert_eq!(errors, []);
    let [network] = &state.host_local[..] else {
        panic!("{:?}", state.host_local)
    };
    assert_eq!(network.dir, "/run/cni/v4pd/egress-v6-ipam/aws-cni");
    assert_eq!(network.ranges, [net("fd00::ac:0/118")]);
    assert_eq!(network.allocations[0].if_name.as_deref(), Some("v6if0"));
    assert_eq!(network.last_reserved, [ip("fd00::ac:2")]);
}
