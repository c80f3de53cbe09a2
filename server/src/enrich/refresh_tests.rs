//! The refresh against an in-memory EC2 that pages its answers and counts calls: how many calls
//! a 500-node cluster costs, and that pages, throttling and retries are followed.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

use podwire_node_state::ec2::{Ec2Attachment, Ec2Eni};

use super::*;
use crate::store::NodeId;

/// An EC2 region of `nodes` instances with `enis_per_node` attached ENIs each, `branches` branch
/// ENIs per node, all in `subnets` subnets. Answers at most `page` items a page.
struct FakeEc2 {
    enis: Vec<Ec2Eni>,
    page: usize,
    calls: Mutex<Vec<&'static str>>,
    /// Fail this many calls first (retryable).
    fail_first: AtomicU32,
}

fn mac(node: usize, index: usize) -> MacAddr {
    MacAddr([0x02, 0, (node >> 8) as u8, node as u8, 0, index as u8])
}

impl FakeEc2 {
    fn region(nodes: usize, enis_per_node: usize, branches: usize, subnets: usize) -> Self {
        let mut enis = Vec::new();
        for node in 0..nodes {
            for index in 0..enis_per_node + branches {
                let branch = index >= enis_per_node;
                enis.push(Ec2Eni {
                    network_interface_id: format!("eni-{node}-{index}"),
                    mac_address: Some(mac(node, index).to_string()),
                    subnet_id: Some(format!("subnet-{}", node % subnets)),
                    description: branch.then(|| "aws-k8s-branch-eni".to_owned()),
                    attachment: (!branch).then(|| Ec2Attachment {
                        instance_id: Some(format!("i-{node}")),
                        device_index: Some(index as i32),
                        ..Ec2Attachment::default()
                    }),
                    ..Ec2Eni::default()
                });
            }
        }
        FakeEc2 {
            enis,
            page: 1000,
            calls: Mutex::new(Vec::new()),
            fail_first: AtomicU32::new(0),
        }
    }

    fn targets(nodes: usize, enis_per_node: usize, branches: usize) -> EnrichmentTargets {
        let mut macs: Vec<MacAddr> = (0..nodes)
            .flat_map(|n| (0..enis_per_node + branches).map(move |i| mac(n, i)))
            .collect();
        macs.sort();
        EnrichmentTargets {
            macs,
            primary_macs: (0..nodes).map(|n| (NodeId(n as i32), mac(n, 0))).collect(),
            subnet_ids: Vec::new(),
            instance_ids: Vec::new(),
            kubernetes_instances: Vec::new(),
        }
    }

    fn count(&self, name: &'static str) -> usize {
        let calls = self.calls.lock().unwrap();
        calls.iter().filter(|c| **c == name).count()
    }

    fn record(&self, name: &'static str) -> Result<(), Ec2CallError> {
        self.calls.lock().unwrap().push(name);
        if self
            .fail_first
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err(Ec2CallError {
                operation: name,
                retryable: true,
                source: "throttled".into(),
            });
        }
        Ok(())
    }

    fn paginate<T: Clone>(&self, all: Vec<T>, token: Option<String>) -> Page<T> {
        let start: usize = token.and_then(|t| t.parse().ok()).unwrap_or(0);
        let end = (start + self.page).min(all.len());
        Page {
            items: all[start..end].to_vec(),
            next_token: (end < all.len()).then(|| end.to_string()),
        }
    }
}

impl Ec2Api for FakeEc2 {
    async fn describe_enis(
        &self,
        filter: &'static str,
        values: &[String],
        token: Option<String>,
    ) -> Result<Page<Ec2Eni>, Ec2CallError> {
        self.record("DescribeNetworkInterfaces")?;
        assert!(values.len() <= FILTER_VALUES_PER_CALL);
        let matching: Vec<Ec2Eni> = self
            .enis
            .iter()
            .filter(|e| match filter {
                "mac-address" => values.contains(e.mac_address.as_ref().unwrap()),
                _ => e
                    .attachment
                    .as_ref()
                    .and_then(|a| a.instance_id.as_ref())
                    .is_some_and(|id| values.contains(id)),
            })
            .cloned()
            .collect();
        Ok(self.paginate(matching, token))
    }

    async fn describe_subnets(
        &self,
        ids: &[String],
        token: Option<String>,
    ) -> Result<Page<DescribedSubnet>, Ec2CallError> {
        self.record("DescribeSubnets")?;
        let all = ids
            .iter()
            .map(|id| DescribedSubnet {
                subnet_id: id.clone(),
                vpc_id: Some("vpc-1".into()),
                cidr: None,
                availability_zone: None,
                available: Some(100),
            })
            .collect();
        Ok(self.paginate(all, token))
    }

    async fn describe_instances(
        &self,
        ids: &[String],
        token: Option<String>,
    ) -> Result<Page<(String, String)>, Ec2CallError> {
        self.record("DescribeInstances")?;
        assert!(ids.len() <= FILTER_VALUES_PER_CALL);
        let all = ids
            .iter()
            .map(|id| (id.clone(), "m5.large".into()))
            .collect();
        Ok(self.paginate(all, token))
    }

    async fn describe_instance_types(
        &self,
        types: &[String],
        token: Option<String>,
    ) -> Result<Page<InstanceTypeLimits>, Ec2CallError> {
        self.record("DescribeInstanceTypes")?;
        let all = types
            .iter()
            .map(|t| InstanceTypeLimits {
                instance_type: t.clone(),
                max_enis: 3,
                ipv4_per_eni: 10,
                ipv6_per_eni: Some(10),
            })
            .collect();
        Ok(self.paginate(all, token))
    }
}

fn policy() -> CallPolicy {
    CallPolicy {
        min_interval: Duration::ZERO,
        retries: 3,
    }
}

/// The figure the README quotes: 500 nodes, 3 attached ENIs and 2 branch ENIs each (2,500
/// MACs), 3 subnets. First refresh: 13 DescribeNetworkInterfaces by MAC, 1 DescribeSubnets, 3
/// DescribeInstances, 1 DescribeInstanceTypes = 18. Steady state (instances and types known):
/// 13 by MAC + 3 by instance id + 1 DescribeSubnets = 17.
#[tokio::test]
async fn a_500_node_refresh_costs_18_calls_then_17() {
    let (nodes, attached, branches) = (500, 3, 2);
    let ec2 = FakeEc2::region(nodes, attached, branches, 3);
    let targets = FakeEc2::targets(nodes, attached, branches);
    let mut first = Refresher::new(&ec2, policy());
    let obs = first.refresh(&targets, &[], &[]).await.unwrap();
    assert_eq!(obs.enis.len(), nodes * (attached + branches));
    assert_eq!(obs.node_instances.len(), nodes);
    assert!(
        obs.node_instances
            .iter()
            .all(|n| n.instance_type.as_deref() == Some("m5.large"))
    );
    assert_eq!(obs.instance_types.len(), 1);
    assert_eq!(
        ec2.count("DescribeNetworkInterfaces"),
        2500usize.div_ceil(200)
    );
    assert_eq!(ec2.count("DescribeSubnets"), 1);
    assert_eq!(ec2.count("DescribeInstances"), 3);
    assert_eq!(ec2.count("DescribeInstanceTypes"), 1);
    assert_eq!(obs.calls, 18);

    let ec2 = FakeEc2::region(nodes, attached, branches, 3);
    let steady = EnrichmentTargets {
        instance_ids: (0..nodes).map(|n| format!("i-{n}")).collect(),
        ..targets
    };
    let typed = steady.instance_ids.clone();
    let mut again = Refresher::new(&ec2, policy());
    let obs = again
        .refresh(&steady, &["m5.large".to_owned()], &typed)
        .await
        .unwrap();
    assert_eq!(
        obs.enis.len(),
        nodes * (attached + branches),
        "no duplicates"
    );
    assert_eq!(ec2.count("DescribeNetworkInterfaces"), 13 + 3);
    assert_eq!(ec2.count("DescribeInstances"), 0);
    assert_eq!(ec2.count("DescribeInstanceTypes"), 0);
    assert_eq!(obs.calls, 17);
}

#[tokio::test]
async fn pages_are_followed_and_failures_retried() {
    let mut ec2 = FakeEc2::region(4, 3, 1, 1);
    ec2.page = 5;
    ec2.fail_first = AtomicU32::new(2);
    let targets = FakeEc2::targets(4, 3, 1);
    let mut refresher = Refresher::new(&ec2, policy());
    let obs = refresher.refresh(&targets, &[], &[]).await.unwrap();
    assert_eq!(obs.enis.len(), 16, "all four pages of five");
    // 2 failed attempts + 4 pages of ENIs + subnets + instances + instance types.
    assert_eq!(ec2.count("DescribeNetworkInterfaces"), 2 + 4);
    assert_eq!(obs.calls, 9);
}

#[tokio::test]
async fn a_failure_that_outlasts_the_retries_fails_the_refresh() {
    let mut ec2 = FakeEc2::region(1, 1, 0, 1);
    ec2.fail_first = AtomicU32::new(100);
    let targets = FakeEc2::targets(1, 1, 0);
    let mut refresher = Refresher::new(&ec2, policy());
    let err = refresher.refresh(&targets, &[], &[]).await.unwrap_err();
    assert_eq!(err.operation, "DescribeNetworkInterfaces");
    assert_eq!(
        ec2.count("DescribeNetworkInterfaces"),
        4,
        "one try and three retries"
    );
}

#[test]
fn plan_chunks_macs_and_instances() {
    let targets = FakeEc2::targets(100, 4, 1);
    let plan = plan_eni_calls(&EnrichmentTargets {
        instance_ids: (0..250).map(|n| format!("i-{n}")).collect(),
        ..targets
    });
    let sizes: Vec<usize> = plan
        .iter()
        .map(|c| match c {
            Ec2Call::EnisByMac(m) => m.len(),
            Ec2Call::EnisByInstance(i) => i.len(),
            _ => 0,
        })
        .collect();
    assert_eq!(sizes, [200, 200, 100, 200, 50]);
}

/// With the Kubernetes API watched, each Node's `providerID` and instance-type label stand in for
/// DescribeInstances: a first refresh of 500 nodes costs 13 by MAC + 3 by instance id + 1
/// DescribeSubnets + 1 DescribeInstanceTypes = 18 calls, none of them DescribeInstances; and a
/// node whose primary ENI the agents have not reported yet is still tied to its instance.
#[tokio::test]
async fn kubernetes_instance_ids_and_types_replace_describe_instances() {
    let (nodes, attached, branches) = (500, 3, 2);
    let ec2 = FakeEc2::region(nodes, attached, branches, 3);
    let mut targets = FakeEc2::targets(nodes, attached, branches);
    // Node 7's agent has not reported its primary ENI yet.
    targets.primary_macs.retain(|(node, _)| node.0 != 7);
    targets.kubernetes_instances = (0..nodes)
        .map(|n| NodeInstance {
            node_id: NodeId(n as i32),
            instance_id: format!("i-{n}"),
            instance_type: Some("m5.large".to_owned()),
        })
        .collect();
    let mut refresher = Refresher::new(&ec2, policy());
    let obs = refresher.refresh(&targets, &[], &[]).await.unwrap();
    assert_eq!(ec2.count("DescribeInstances"), 0);
    assert_eq!(ec2.count("DescribeInstanceTypes"), 1);
    assert_eq!(obs.calls, 13 + 3 + 1 + 1);
    assert_eq!(obs.node_instances.len(), nodes);
    let node_7 = obs
        .node_instances
        .iter()
        .find(|n| n.node_id == NodeId(7))
        .expect("node 7 tied through Kubernetes");
    assert_eq!(node_7.instance_id, "i-7");
    assert_eq!(node_7.instance_type.as_deref(), Some("m5.large"));
}

#[test]
fn kubernetes_instances_are_asked_for_once_with_the_known_ones() {
    let targets = EnrichmentTargets {
        instance_ids: vec!["i-1".into(), "i-2".into()],
        kubernetes_instances: [2, 3]
            .map(|n| NodeInstance {
                node_id: NodeId(n),
                instance_id: format!("i-{n}"),
                instance_type: None,
            })
            .to_vec(),
        ..EnrichmentTargets::default()
    };
    assert_eq!(
        plan_eni_calls(&targets),
        [Ec2Call::EnisByInstance(vec![
            "i-1".into(),
            "i-2".into(),
            "i-3".into()
        ])]
    );
}
