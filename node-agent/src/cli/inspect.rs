//! `podwire-agent inspect`: one collection, resolved locally, printed as a table or JSON.

use std::io::Write as _;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;

use podwire_node_state::ec2::{DescribedEnis, EniIndex};

use super::report::{self, PodFilter};
use crate::collect::{self, CollectConfig, PhaseTimings};

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Root under which node files (CNI cache and config, host-local IPAM, ipamd checkpoint) are
    /// read; `/host` when the agent runs in a container with the host mounted there.
    #[arg(long, default_value = "/", env = "PODWIRE_HOST_ROOT")]
    host_root: PathBuf,
    /// Directory of named network namespaces.
    #[arg(long, default_value = "/var/run/netns", env = "PODWIRE_NETNS_DIR")]
    netns_dir: PathBuf,
    /// procfs mount, scanned for unnamed namespaces (`/proc/*/ns/net`).
    #[arg(long, default_value = "/proc", env = "PODWIRE_PROC_DIR")]
    proc_dir: PathBuf,
    /// Amazon VPC CNI ipamd introspection endpoint; `none` to skip.
    #[arg(
        long,
        default_value = "http://127.0.0.1:61679",
        env = "PODWIRE_IPAMD_URL"
    )]
    ipamd_url: String,
    /// How long to wait for ipamd, in milliseconds.
    #[arg(long, default_value_t = 2000)]
    ipamd_timeout_ms: u64,
    /// Destination to resolve each pod's egress path for. Default: a documentation address that
    /// only the node's default routes cover (the output says which).
    #[arg(long)]
    probe_dst: Option<IpAddr>,
    /// Show only this pod (`NAMESPACE/NAME`).
    #[arg(long, value_name = "NS/NAME")]
    pod: Option<PodFilter>,
    /// Print `{"node": …, "pods": […]}` as JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Cluster name recorded in the output.
    #[arg(long, default_value = "local", env = "PODWIRE_CLUSTER")]
    cluster: String,
    /// Node name; default: the kernel's hostname.
    #[arg(long, env = "NODE_NAME")]
    node: Option<String>,
    /// Threads that enter pod namespaces.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    workers: u16,
    /// JSON of `aws ec2 describe-network-interfaces` (`{"NetworkInterfaces": [...]}`): each
    /// pod's ENI id and type (primary, secondary, trunk, branch) are then shown, joined by MAC
    /// the way the server joins them.
    #[arg(long, value_name = "FILE")]
    ec2_enis: Option<PathBuf>,
    /// Print how long each phase of the run took on standard error (for profiling).
    #[arg(long)]
    timings: bool,
    /// Test hook: after namespace discovery, create FILE.ready and wait until FILE is removed.
    #[arg(long, hide = true, value_name = "FILE")]
    hold_after_discovery: Option<PathBuf>,
}

pub fn run(args: InspectArgs) -> anyhow::Result<()> {
    // Read before collecting: a bad file fails at once, before namespaces are entered.
    let described = args.ec2_enis.as_deref().map(read_ec2_enis).transpose()?;
    let config = CollectConfig {
        cluster: args.cluster,
        node_name: args.node,
        host_root: args.host_root,
        netns_dir: args.netns_dir,
        proc_dir: args.proc_dir,
        ipamd_url: (args.ipamd_url != "none").then_some(args.ipamd_url),
        ipamd_timeout: Duration::from_millis(args.ipamd_timeout_ms),
        probe_destination: args.probe_dst,
        workers: usize::from(args.workers),
        hold_after_discovery: args.hold_after_discovery,
    };
    let timings = PhaseTimings::new();
    let collection = timings.time("collection", || {
        collect::collect_and_resolve(&config, &timings)
    });
    let (snapshot, resolution) = (&collection.snapshot, &collection.resolution);
    let index = described
        .as_ref()
        .map(|d| EniIndex::new(&d.network_interfaces));
    let report = report::Report::new(snapshot, resolution, args.pod.as_ref(), index.as_ref());

    timings.time("output", || {
        let stdout = std::io::stdout();
        // A 250-pod report is about 900 KB: written in 64 KiB pieces (a pipe's whole buffer),
        // not 8 KiB ones.
        let mut out = std::io::BufWriter::with_capacity(64 * 1024, stdout.lock());
        if args.json {
            serde_json::to_writer_pretty(&mut out, &report).context("writing JSON")?;
            writeln!(out).context("writing JSON")?;
        } else {
            report.write_table(&mut out).context("writing the table")?;
        }
        out.flush().context("writing output")
    })?;
    if args.timings {
        print_timings(&timings);
    }
    // The process ends here and its memory goes back to the system at once; freeing the tens of
    // thousands of small allocations of a 250-pod node one by one first would only delay the exit.
    std::mem::forget(report);
    std::mem::forget(collection);
    Ok(())
}

/// `--ec2-enis FILE`, parsed.
fn read_ec2_enis(path: &std::path::Path) -> anyhow::Result<DescribedEnis> {
    let text = std::fs::read(path)
        .with_context(|| format!("cannot read --ec2-enis {}", path.display()))?;
    serde_json::from_slice(&text).with_context(|| {
        format!(
            "--ec2-enis {} is not the JSON of `aws ec2 describe-network-interfaces`",
            path.display()
        )
    })
}

/// The phase table on standard error: start and length of each phase, in milliseconds.
fn print_timings(timings: &PhaseTimings) {
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{:>9} {:>9}  phase", "start ms", "took ms");
    for phase in timings.phases() {
        let _ = writeln!(
            err,
            "{:>9.2} {:>9.2}  {}",
            ms(phase.start),
            ms(phase.duration),
            phase.name
        );
    }
    let _ = writeln!(err, "{:>9.2} {:>9}  end", ms(timings.elapsed()), "");
}
