//! The diff between the intervals open now and what a new snapshot says.
//!
//! A row is closed when its key is gone or its attributes changed, and a new row is opened for
//! every key whose attributes are new or changed. A row whose attributes did not change stays
//! open: its interval simply goes on.

use std::collections::HashMap;
use std::hash::Hash;

/// Something with a history: a key that names it while it exists, and attributes compared with
/// `==` (any difference closes the interval).
pub trait Keyed: PartialEq {
    type Key: Eq + Hash + Clone + Ord;
    fn key(&self) -> Self::Key;
}

/// What to write for one new snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diff<T: Keyed> {
    /// Keys of the open intervals to close, sorted.
    pub close: Vec<T::Key>,
    /// Rows to open, in the order the snapshot listed them.
    pub open: Vec<T>,
}

impl<T: Keyed> Diff<T> {
    pub fn is_empty(&self) -> bool {
        self.close.is_empty() && self.open.is_empty()
    }
}

/// Compares the open rows of one node with the rows derived from its new snapshot. `new` must
/// hold each key once (the derivations guarantee it).
pub fn diff<T: Keyed + Clone>(current: &[T], new: &[T]) -> Diff<T> {
    let current_by_key: HashMap<T::Key, &T> = current.iter().map(|row| (row.key(), row)).collect();
    let new_keys: std::collections::HashSet<T::Key> = new.iter().map(Keyed::key).collect();

    let mut close: Vec<T::Key> = Vec::new();
    let mut open: Vec<T> = Vec::new();
    for row in new {
        match current_by_key.get(&row.key()) {
            Some(existing) if *existing == row => {}
            Some(_) => {
                close.push(row.key());
                open.push(row.clone());
            }
            None => open.push(row.clone()),
        }
    }
    close.extend(
        current_by_key
            .keys()
            .filter(|k| !new_keys.contains(*k))
            .cloned(),
    );
    close.sort();
    Diff { close, open }
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use podwire_node_state::MacAddr;
    use podwire_node_state::resolver::{ProblemCode, Wiring};

    use super::*;
    use crate::history::{Attachment, AttachmentKey};

    fn pod(inode: u64, name: &str, ip: &str, table: u32, eni: &str) -> Attachment {
        Attachment {
            netns_inode: inode,
            interface: "eth0".into(),
            pod_namespace: Some("default".into()),
            pod_name: Some(name.into()),
            ip: Some(ip.parse::<IpAddr>().unwrap()),
            mac: Some("0a:58:0a:00:00:05".parse::<MacAddr>().unwrap()),
            host_veth: Some(format!("eni{inode}")),
            bridge: None,
            route_table: Some(table),
            egress_device: Some(if table == 254 {
                "eth0".into()
            } else {
                "eth1".into()
            }),
            eni_mac: Some(eni.parse::<MacAddr>().unwrap()),
            vlan_id: None,
            wiring: Wiring::AwsVpcCni,
            problems: vec![],
        }
    }

    fn key(inode: u64) -> AttachmentKey {
        AttachmentKey {
            netns_inode: inode,
            interface: "eth0".into(),
        }
    }

    const ENI0: &str = "02:00:00:00:00:01";
    const ENI1: &str = "02:00:00:00:00:02";

    #[test]
    fn table() {
        let a = pod(1, "a", "10.0.0.5", 254, ENI0);
        let b = pod(2, "b", "10.0.0.6", 254, ENI0);
        let b_new_ip = pod(2, "b", "10.0.0.9", 254, ENI0);
        let b_moved = pod(2, "b", "10.0.0.6", 2, ENI1);
        let mut a_problem = a.clone();
        a_problem.problems = vec![ProblemCode::KernelDisagrees];
        let mut a_renamed = a.clone();
        a_renamed.pod_name = Some("a2".into());

        struct Case {
            name: &'static str,
            current: Vec<Attachment>,
            new: Vec<Attachment>,
            close: Vec<AttachmentKey>,
            open: Vec<Attachment>,
        }
        let cases = [
            Case {
                name: "first snapshot opens all",
                current: vec![],
                new: vec![a.clone(), b.clone()],
                close: vec![],
                open: vec![a.clone(), b.clone()],
            },
            Case {
                name: "identical keeps all open",
                current: vec![a.clone(), b.clone()],
                new: vec![b.clone(), a.clone()],
                close: vec![],
                open: vec![],
            },
            Case {
                name: "pod deleted closes it",
                current: vec![a.clone(), b.clone()],
                new: vec![a.clone()],
                close: vec![key(2)],
                open: vec![],
            },
            Case {
                name: "pod added opens it",
                current: vec![a.clone()],
                new: vec![a.clone(), b.clone()],
                close: vec![],
                open: vec![b.clone()],
            },
            Case {
                name: "IP change closes and reopens",
                current: vec![a.clone(), b.clone()],
                new: vec![a.clone(), b_new_ip.clone()],
                close: vec![key(2)],
                open: vec![b_new_ip.clone()],
            },
            Case {
                name: "move to another ENI's table",
                current: vec![a.clone(), b.clone()],
                new: vec![a.clone(), b_moved.clone()],
                close: vec![key(2)],
                open: vec![b_moved.clone()],
            },
            Case {
                name: "new problem is a change",
                current: vec![a.clone()],
                new: vec![a_problem.clone()],
                close: vec![key(1)],
                open: vec![a_problem.clone()],
            },
            Case {
                name: "recycled netns inode, other pod",
                current: vec![a.clone()],
                new: vec![a_renamed.clone()],
                close: vec![key(1)],
                open: vec![a_renamed.clone()],
            },
            Case {
                name: "everything gone",
                current: vec![a.clone(), b.clone()],
                new: vec![],
                close: vec![key(1), key(2)],
                open: vec![],
            },
        ];
        for case in cases {
            let d = diff(&case.current, &case.new);
            assert_eq!(d.close, case.close, "{}: close", case.name);
            assert_eq!(d.open, case.open, "{}: open", case.name);
        }
    }
}
