//! Builds a VPC CNI node of N pods (primary, secondary and branch-ENI pods mixed 2:2:1), prints how
//! to inspect it, and keeps it until Enter is pressed; then tears everything down. For exploring and
//! profiling by hand:
//!
//! ```text
//! cargo run -p podwire-e2e --example hold_node -- 250
//! ```

use std::io::BufRead as _;

use anyhow::Context as _;
use podwire_e2e::topology::vpc_cni::VpcCniNode;

fn main() -> anyhow::Result<()> {
    let pods: usize = std::env::args()
        .nth(1)
        .map(|n| n.parse())
        .transpose()
        .context("the argument is a pod count")?
        .unwrap_or(10);
    let (primary, secondary) = (pods * 2 / 5, pods * 2 / 5);
    let node = VpcCniNode::new()
        .pods(primary, secondary, pods - primary - secondary)
        .build()
        .context("building the node")?;
    println!(
        "ip netns exec {} podwire-agent inspect --host-root {} --netns-dir {} --probe-dst {}",
        node.node_netns(),
        node.host_root().path().display(),
        node.netns_dir().display(),
        node.probe
    );
    println!("press Enter to tear the node down");
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(())
}
