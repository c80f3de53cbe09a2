//! Changing a built VPC CNI node while an agent watches it, the way VPC CNI changes a real node:
//! a pod's address moved to another ENI (its rule 1536 added or removed, ipamd holding the
//! address on the other ENI), a pod added (ipamd assigns, the plugin wires, libcni caches), a pod
//! removed (the plugin unwires, the runtime deletes the namespace, ipamd releases).
//!
//! Every change is made so that a collection at any instant sees either the node before it or
//! the node after it, never half a pod: the history a server derives from the agent's snapshots
//! can then be checked exactly. A pod is added while its namespace is not yet in the node's netns
//! directory (the agent cannot find it), and revealed complete; a pod is removed by hiding its
//! namespace first. The node's ipamd answer changes before the kernel does, since only kernel and
//! file notifications make the agent collect.

use std::net::IpAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::cmd::{Batch, Cmd};
use crate::netns::{NETNS_RUN_DIR, NetnsGuard};
use crate::topology::{BuiltNode, BuiltPod, PodNetns, TopologyError};

use super::{
    EniSlot, MTU, VpcState, cache_entry, expected_on_eni, files, ipamd, plan_pod, wire_pod_side,
};

const CHECKPOINT: &str = "var/run/aws-node/ipam.json";

/// How long a deleted pod's veth may linger (a bound, not a measurement).
const VETH_GONE_LIMIT: Duration = Duration::from_secs(30);

impl BuiltNode {
    /// Moves a pod's address from the primary ENI to the secondary one (adds its rule
    /// `from POD lookup 2 pref 1536`) or back (removes it); ipamd then holds the address on the
    /// new ENI. The pod's expected path follows. Branch-ENI pods cannot move.
    pub fn move_pod_to_eni(
        &mut self,
        qualified_name: &str,
        to: EniSlot,
    ) -> Result<(), TopologyError> {
        let state = self
            .vpc
            .as_mut()
            .ok_or(TopologyError::NotVpcCni("move_pod_to_eni"))?;
        let planned = state
            .pods
            .iter_mut()
            .find(|p| p.pod.qualified_name() == qualified_name)
            .ok_or_else(|| TopologyError::NoSuchPod(qualified_name.to_owned()))?;
        if to == EniSlot::Branch || planned.slot == EniSlot::Branch {
            return Err(TopologyError::Unsupported(format!(
                "moving {qualified_name} to or from a branch ENI"
            )));
        }
        if planned.slot == to {
            return Err(TopologyError::Unsupported(format!(
                "{qualified_name} is on that ENI already"
            )));
        }
        planned.slot = to;
        planned.pod.expected = expected_on_eni(&state.enis, to);
        let ip = planned.pod.ip;
        let expected = planned.pod.expected.clone();
        let secondary_table = state.enis[1].route_table();
        publish_ipamd(state, self.ipamd.as_ref());

        let verb = if to == EniSlot::Secondary {
            "add"
        } else {
            "del"
        };
        let mut rule = Batch::new();
        rule.push(format!(
            "rule {verb} from {ip}/32 lookup {secondary_table} pref 1536"
        ));
        rule.run_ip(self.node.name())?;
        if let Some(pod) = self
            .pods
            .iter_mut()
            .find(|p| p.qualified_name() == qualified_name)
        {
            pod.expected = expected;
        }
        Ok(())
    }

    /// Adds a pod holding the next secondary IP of the primary or the secondary ENI, wired and
    /// cached as the aws-cni plugin and libcni do, and assigned in ipamd and its checkpoint.
    /// Returns the pod as built.
    pub fn add_pod(&mut self, slot: EniSlot) -> Result<BuiltPod, TopologyError> {
        if slot == EniSlot::Branch {
            return Err(TopologyError::Unsupported(
                "adding a branch-ENI pod".to_owned(),
            ));
        }
        let state = self
            .vpc
            .as_mut()
            .ok_or(TopologyError::NotVpcCni("add_pod"))?;
        let seed = state.prefix.as_str().to_owned();
        let index = state.next_index;
        state.next_index += 1;
        let name = state.prefix.name(&format!(
            "cni-{}",
            crate::ids::uuid(&format!("{seed}pod{index}"))
        ));
        // Created outside the node's netns directory: the agent cannot find it yet.
        self.pod_namespaces.push(NetnsGuard::create(name.clone())?);
        let planned = plan_pod(
            &seed,
            index,
            slot,
            true,
            PodNetns::Named { name: name.clone() },
            &state.enis,
            &mut state.next,
        );
        let p = &planned.pod;

        // Both ends of the veth start in the pod, where eth0 is configured; the host end moves
        // into the node last, so the node's kernel reports the pod once, complete.
        let mut veth = Batch::new();
        veth.push(format!(
            "link add {} address {} mtu {MTU} type veth peer name eth0 address {} mtu {MTU}",
            p.host_veth, p.host_veth_mac, p.mac
        ));
        veth.run_ip(&name)?;
        wire_pod_side(&planned)?;
        let mut handover = Batch::new();
        handover.push(format!(
            "link set {} netns {}",
            p.host_veth,
            self.node.name()
        ));
        handover.run_ip(&name)?;

        let mut host = Batch::new();
        host.push(format!("link set {} up", p.host_veth));
        host.push(format!(
            "route add {}/32 dev {} scope link",
            p.ip, p.host_veth
        ));
        host.push(format!("rule add to {}/32 lookup main pref 512", p.ip));
        if slot == EniSlot::Secondary {
            host.push(format!(
                "rule add from {}/32 lookup {} pref 1536",
                p.ip,
                state.enis[1].route_table()
            ));
        }
        host.run_ip(self.node.name())?;

        let entry = cache_entry(&planned, state.conflist.as_bytes());
        self.host_root
            .write(&entry.relative_path(), entry.to_bytes())?;
        let built = planned.pod.clone();
        state.pods.push(planned);
        publish_ipamd(state, self.ipamd.as_ref());

        // Revealed complete, then the checkpoint ipamd writes makes the agent look.
        let link = self.netns_dir.path().join(&name);
        std::os::unix::fs::symlink(Path::new(NETNS_RUN_DIR).join(&name), &link)
            .map_err(|source| TopologyError::NetnsDir { path: link, source })?;
        self.host_root
            .write(CHECKPOINT, files::checkpoint(&state.pods))?;
        self.pods.push(built.clone());
        Ok(built)
    }

    /// Removes a pod of the primary or secondary ENI: its rules go, its namespace (and with it
    /// both ends of its veth and its route) is deleted, its cache entry removed, and ipamd
    /// releases its address. Returns the pod as it was built.
    pub fn remove_pod(&mut self, qualified_name: &str) -> Result<BuiltPod, TopologyError> {
        let state = self
            .vpc
            .as_mut()
            .ok_or(TopologyError::NotVpcCni("remove_pod"))?;
        let at = state
            .pods
            .iter()
            .position(|p| p.pod.qualified_name() == qualified_name)
            .ok_or_else(|| TopologyError::NoSuchPod(qualified_name.to_owned()))?;
        let planned = &state.pods[at];
        let PodNetns::Named { name } = &planned.pod.netns else {
            return Err(TopologyError::Unsupported(format!(
                "removing {qualified_name}, whose namespace has no name"
            )));
        };
        if planned.slot == EniSlot::Branch {
            return Err(TopologyError::Unsupported(format!(
                "removing the branch-ENI pod {qualified_name}"
            )));
        }
        let name = name.clone();
        let ip: IpAddr = planned.pod.ip.into();

        // Hidden first: from here on a collection does not find the pod at all.
        let link = self.netns_dir.path().join(&name);
        std::fs::remove_file(&link)
            .map_err(|source| TopologyError::NetnsDir { path: link, source })?;

        let mut rules = Batch::new();
        rules.push(format!("rule del to {ip}/32 lookup main pref 512"));
        if planned.slot == EniSlot::Secondary {
            rules.push(format!(
                "rule del from {ip}/32 lookup {} pref 1536",
                state.enis[1].route_table()
            ));
        }
        rules.run_ip(self.node.name())?;
        if let Some(guard) = self.pod_namespaces.iter_mut().find(|g| g.name() == name) {
            guard.delete()?;
        }
        // The kernel tears a deleted namespace down in the background; the change is complete
        // (every notification of it sent) once the host end of the veth is gone.
        let host_veth = planned.pod.host_veth.clone();
        let start = Instant::now();
        while Cmd::new("ip")
            .args(["-n", self.node.name(), "link", "show", "dev", &host_veth])
            .run()
            .is_ok()
        {
            if start.elapsed() > VETH_GONE_LIMIT {
                return Err(TopologyError::Lingering(format!(
                    "{host_veth} still exists {VETH_GONE_LIMIT:?} after its namespace was deleted"
                )));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let removed = state.pods.remove(at);
        if let Some(entry) = &removed.pod.cache_entry {
            self.host_root.remove(entry)?;
        }
        publish_ipamd(state, self.ipamd.as_ref());
        self.host_root
            .write(CHECKPOINT, files::checkpoint(&state.pods))?;
        self.pods.retain(|p| p.qualified_name() != qualified_name);
        Ok(removed.pod)
    }
}

/// What ipamd answers from now on, for the node's pods as they are now.
fn publish_ipamd(state: &VpcState, server: Option<&ipamd::IpamdServer>) {
    if let Some(server) = server {
        server.set_enis_body(
            state
                .ipamd_mode
                .response(ipamd::enis_response(&state.enis, &state.pods)),
        );
    }
}
