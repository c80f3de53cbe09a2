//! VPC CNI state: the checkpoint through the node's absolute `/var/run -> /run` link, and ipamd
//! asked over a real loopback connection, or not answering, next to the node's other signs of
//! VPC CNI.

mod common;

use std::fs;
use std::path::Path;
use std::time::Duration;

use common::{
    OneShotServer, Reply, content_length_response, copy_host, fixture, read_fixture,
    refused_endpoint,
};
use podwire_agent::collect::files::{HostRoot, read_cni_state};
use podwire_agent::collect::vpc_cni::checkpoint::read_checkpoint;
use podwire_agent::collect::vpc_cni::read_vpc_cni_state;
use podwire_node_state::{
    ErrorSource, IpamCheckpointAllocation, IpamdShape, SourceError, VpcCniState,
};

const TIMEOUT: Duration = Duration::from_secs(5);

fn read(root: &Path, endpoint: &str) -> (Option<VpcCniState>, Vec<SourceError>) {
    let mut errors = Vec::new();
    let cni = read_cni_state(root, &mut errors);
    assert_eq!(errors, [], "the CNI files of these hosts are all good");
    let state = read_vpc_cni_state(root, &cni, Some(endpoint), TIMEOUT, &mut errors);
    (state, errors)
}

#[test]
fn checkpoint_read_through_the_var_run_link() {
    let mut errors = Vec::new();
    let read = read_checkpoint(&HostRoot::new(fixture("hosts/vpc-cni")), &mut errors);
    assert_eq!(errors, []);
    assert!(read.present);
    let checkpoint = read.checkpoint.unwrap();
    assert_eq!(checkpoint.file, "/var/run/aws-node/ipam.json");
    assert_eq!(checkpoint.version, "vpc-cni-ipam/1");
    assert_eq!(
        checkpoint.allocations[0],
        IpamCheckpointAllocation {
            network_name: "aws-cni".into(),
            container_id: "78ed39063c22f9f1886651e8aeca7beddea4cfa401b36ed3fb091ace7e41dd5b".into(),
            if_name: "eth0".into(),
            ipv4: Some("192.168.14.17".parse().unwrap()),
            ipv6: None,
            allocation_timestamp: 1_715_005_329_118_204_377,
            pod_namespace: Some("default".into()),
            pod_name: Some("web-0".into()),
        }
    );
    assert_eq!(checkpoint.allocations.len(), 2);
}

#[test]
fn checkpoint_problems_keep_what_can_be_read() {
    let host = copy_host("vpc-cni");
    fs::write(
        host.path().join("run/aws-node/ipam.json"),
        r#"{"version":"vpc-cni-ipam/2","allocations":[
            {"networkName":"aws-cni","containerID":"a1","ifName":"eth0","ipv4":"192.168.14.300",
             "allocationTimestamp":1,"metadata":{"k8sPodNamespace":"default","k8sPodName":"web-0"}},
            {"networkName":"aws-cni","containerID":"b2","ifName":"eth0","ipv6":"2600:1f14::5",
             "allocationTimestamp":2,"metadata":{}}]}"#,
    )
    .unwrap();
    let mut errors = Vec::new();
    let read = read_checkpoint(&HostRoot::new(host.path()), &mut errors);
    let messages: Vec<_> = errors.iter().map(|e| e.message.as_str()).collect();
    assert_eq!(
        messages,
        [
            "checkpoint version \"vpc-cni-ipam/2\" is not vpc-cni-ipam/1; read as that version",
            "allocation 0: IPv4 address \"192.168.14.300\" is not an IP address",
        ]
    );
    assert!(
        errors
            .iter()
            .all(|e| e.source == ErrorSource::IpamCheckpoint)
    );
    let checkpoint = read.checkpoint.unwrap();
    assert_eq!(checkpoint.allocations[0].ipv4, None);
    assert_eq!(checkpoint.allocations[0].pod_name.as_deref(), Some("web-0"));
    assert_eq!(
        checkpoint.allocations[1].ipv6,
        Some("2600:1f14::5".parse().unwrap())
    );
    assert_eq!(checkpoint.allocations[1].pod_name, None);
}

#[test]
fn vpc_cni_node_with_ipamd_answering() {
    let body = read_fixture("ipamd/v1.23-multi-card-scrubbed.json");
    let server = OneShotServer::start(Reply::Raw(content_length_response("200 OK", &body)));
    let (state, errors) = read(&fixture("hosts/vpc-cni"), &server.endpoint());
    assert_eq!(errors, []);
    let state = state.unwrap();
    assert_eq!(
        state.ipamd.unwrap().shape,
        IpamdShape::PerNetworkCardScrubbed
    );
    assert_eq!(state.checkpoint.unwrap().allocations.len(), 2);
    server.join();
}

#[test]
fn vpc_cni_node_with_ipamd_down() {
    let endpoint = refused_endpoint();
    let (state, errors) = read(&fixture("hosts/vpc-cni"), &endpoint);
    let state = state.unwrap();
    assert_eq!(state.ipamd, None);
    assert!(state.checkpoint.is_some());
    let [error] = &errors[..] else {
        panic!("{errors:?}")
    };
    assert_eq!(error.source, ErrorSource::Ipamd);
    assert_eq!(error.subject, format!("{endpoint}/v1/enis"));
    assert!(
        error.message.starts_with(&format!(
            "cannot connect to ipamd at {endpoint}: Connection refused"
        )),
        "{}",
        error.message
    );
}

#[test]
fn vpc_cni_config_alone_is_a_sign_of_vpc_cni() {
    // A node whose ipamd never started: no checkpoint yet, only the CNI configuration.
    let host = copy_host("vpc-cni");
    fs::remove_file(host.path().join("run/aws-node/ipam.json")).unwrap();
    let (state, errors) = read(host.path(), &refused_endpoint());
    assert_eq!(state, Some(VpcCniState::default()));
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].source, ErrorSource::Ipamd);
}

#[test]
fn vpc_cni_node_with_ipamd_answering_garbage() {
    let server = OneShotServer::start(Reply::Raw(content_length_response("200 OK", b"{\"0\": [")));
    let (state, errors) = read(&fixture("hosts/vpc-cni"), &server.endpoint());
    let state = state.unwrap();
    assert_eq!(state.ipamd, None);
    assert!(state.checkpoint.is_some());
    let [error] = &errors[..] else {
        panic!("{errors:?}")
    };
    assert!(
        error.message.starts_with("ipamd's answer is not JSON: "),
        "{}",
        error.message
    );
    server.join();
}

#[test]
fn other_nodes_have_no_vpc_cni_state_and_no_error() {
    for host in ["hosts/flannel", "hosts/kube-router"] {
        let (state, errors) = read(&fixture(host), &refused_endpoint());
        assert_eq!(state, None, "{host}");
        assert_eq!(errors, [], "{host}");
    }
}

#[test]
fn something_answering_at_the_endpoint_is_reported_even_on_other_nodes() {
    let server = OneShotServer::start(Reply::Raw(content_length_response(
        "404 Not Found",
        b"404 page not found\n",
    )));
    let (state, errors) = read(&fixture("hosts/flannel"), &server.endpoint());
    assert_eq!(state, Some(VpcCniState::default()));
    let [error] = &errors[..] else {
        panic!("{errors:?}")
    };
    assert_eq!(error.message, "ipamd answered HTTP 404 Not Found");
    server.join();
}
