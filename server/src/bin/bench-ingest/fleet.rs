//! The simulated fleet: VPC CNI nodes from the tests' builder, each with its own ENIs, pod
//! addresses and namespaces, and for each a series of snapshots in which a few pods move to
//! another ENI or are replaced, so that every snapshot really changes. Each snapshot is made
//! ready to send the way the agent makes it (`CanonicalFrame`), before anything is timed.

use std::net::Ipv4Addr;

use podwire_node_state::wire::{CanonicalFrame, proto};

use super::vpc_node::{VpcNode, VpcPod};

/// Collection times start here (2026-11-21T06:00:00Z) and advance a second per snapshot.
const T0_UNIX_MS: i64 = 1_763_704_800_000;
/// Pods moved to another ENI, and pods replaced by new ones, per snapshot.
const MOVED_PER_CHANGE: usize = 2;
const REPLACED_PER_CHANGE: usize = 2;

/// One node's snapshots, ready to upload: the first is its full state, each next one a change.
#[derive(Debug)]
pub struct NodeSeries {
    pub cluster: String,
    pub node: String,
    pub uploads: Vec<Upload>,
}

/// One upload's content.
#[derive(Debug, Clone)]
pub struct Upload {
    pub content_hash: prost::bytes::Bytes,
    pub canonical: proto::CanonicalSnapshot,
}

impl Upload {
    pub fn message(&self, sequence: u64) -> proto::SnapshotUpload {
        proto::SnapshotUpload {
            sequence,
            content_hash: self.content_hash.clone(),
            body: Some(proto::snapshot_upload::Body::Canonical(
                self.canonical.clone(),
            )),
        }
    }
}

/// Node `index`'s pod number `k` (counting every pod it ever had): its own address in
/// 10.0.0.0/8 (4096 per node) and namespace inode, on ENI `k % 3`.
fn pod(index: u32, k: u32) -> VpcPod {
    const APPS: [&str; 6] = [
        "checkout", "cart", "ledger", "frontend", "coredns", "worker",
    ];
    const NAMESPACES: [&str; 4] = ["shop", "payments", "kube-system", "observability"];
    let base = u32::from(Ipv4Addr::new(10, 0, 0, 0)) + (index << 12);
    VpcPod {
        namespace: NAMESPACES[k as usize % NAMESPACES.len()].into(),
        name: format!("{}-{index:04x}-{k:05}", APPS[k as usize % APPS.len()]),
        inode: 4_026_532_000 + u64::from(k),
        ip: Ipv4Addr::from(base + 1 + k),
        eni: k % 3,
    }
}

/// Node `index` (of cluster `bench`) with `pods` pods and `changes` changed snapshots after the
/// first. Pod addresses stay within the node's 4096, so `pods + 2 × changes` must stay below.
pub fn series(index: u32, pods: u32, changes: usize) -> anyhow::Result<NodeSeries> {
    anyhow::ensure!(
        pods as usize + REPLACED_PER_CHANGE * changes < 4000,
        "too many pods and changes for a node's 4096 addresses"
    );
    anyhow::ensure!(index < 4096, "at most 4096 nodes");
    let cluster = "bench".to_owned();
    let node = format!("ip-10-{}-{}-0.ec2.internal", index >> 4, (index & 15) << 4);
    let mut current: Vec<VpcPod> = (0..pods).map(|k| pod(index, k)).collect();
    let mut next = pods;
    let mut uploads = Vec::with_capacity(changes + 1);
    for step in 0..=changes {
        if step > 0 {
            let n = current.len();
            for m in 0..MOVED_PER_CHANGE {
                let slot = (step * 7 + m * 3) % n;
                current[slot].eni = (current[slot].eni + 1) % 3;
            }
            for r in 0..REPLACED_PER_CHANGE {
                let slot = (step * 11 + r * 5 + 1) % n;
                current[slot] = pod(index, next);
                next += 1;
            }
        }
        let mut built = VpcNode::new(
            &cluster,
            &node,
            T0_UNIX_MS + 1000 * step as i64,
            current.clone(),
        );
        built.enis = 3;
        built.eni_seed = index + 1;
        let snapshot = built.snapshot();
        let frame = CanonicalFrame::of(&snapshot)?;
        uploads.push(Upload {
            content_hash: frame.hash.to_wire(),
            canonical: frame.canonical_snapshot(&snapshot.node),
        });
    }
    Ok(NodeSeries {
        cluster,
        node,
        uploads,
    })
}

/// Every node's series, made on all cores.
pub fn fleet(nodes: u32, pods: u32, changes: usize) -> anyhow::Result<Vec<NodeSeries>> {
    let threads = std::thread::available_parallelism().map_or(2, usize::from);
    let mut out: Vec<Option<NodeSeries>> = (0..nodes).map(|_| None).collect();
    std::thread::scope(|scope| -> anyhow::Result<()> {
        let chunks: Vec<_> = out
            .chunks_mut(nodes.div_ceil(threads as u32).max(1) as usize)
            .enumerate()
            .map(|(c, chunk)| {
                let first = c * nodes.div_ceil(threads as u32).max(1) as usize;
                scope.spawn(move || -> anyhow::Result<()> {
                    for (i, slot) in chunk.iter_mut().enumerate() {
                        *slot = Some(series((first + i) as u32, pods, changes)?);
                    }
                    Ok(())
                })
            })
            .collect();
        for chunk in chunks {
            chunk
                .join()
                .map_err(|_| anyhow::anyhow!("a generator thread panicked"))??;
        }
        Ok(())
    })?;
    Ok(out.into_iter().flatten().collect())
}
