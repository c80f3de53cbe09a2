//! Names and identifiers as the real components make them, derived deterministically from a seed
//! so that a topology is the same on every run: VPC CNI's host veth names (`eni` + 11 hex of
//! sha1("namespace.name")), container ids, pod UIDs, ENI ids and MACs.

use std::fmt;

/// Lower-case hex of the SHA-1 of `text`.
pub fn sha1_hex(text: &str) -> String {
    sha1_smol::Sha1::from(text).digest().to_string()
}

/// VPC CNI's host-side veth name: `prefix` + the first 11 hex digits of sha1("NAMESPACE.NAME")
/// (`networkutils.GeneratePodHostVethName`, index 0). The prefix is `eni` by default and `vlan`
/// for branch-ENI pods in strict mode.
pub fn vpc_cni_host_veth_name(prefix: &str, namespace: &str, name: &str) -> String {
    let digest = sha1_hex(&format!("{namespace}.{name}"));
    format!("{prefix}{}", &digest[..11])
}

/// A 64-hex container (sandbox) id, as containerd makes them.
pub fn container_id(seed: &str) -> String {
    let mut id = sha1_hex(&format!("{seed}/container/0"));
    id.push_str(&sha1_hex(&format!("{seed}/container/1"))[..24]);
    id
}

/// A UUID-shaped id (pod UIDs, `cni-…` namespace names).
pub fn uuid(seed: &str) -> String {
    let h = sha1_hex(&format!("{seed}/uuid"));
    format!(
        "{}-{}-4{}-a{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..32]
    )
}

/// An ENI id: `eni-` and 17 hex digits.
pub fn eni_id(seed: &str) -> String {
    format!("eni-{}", &sha1_hex(&format!("{seed}/eni"))[..17])
}

/// A subnet id: `subnet-` and 17 hex digits.
pub fn subnet_id(seed: &str) -> String {
    format!("subnet-{}", &sha1_hex(&format!("{seed}/subnet"))[..17])
}

/// The bridge plugin's host veth name: `veth` and 8 hex digits.
pub fn bridge_veth_name(seed: &str) -> String {
    format!("veth{}", &sha1_hex(&format!("{seed}/veth"))[..8])
}

/// A 48-bit Ethernet address, printed the way `ip link` prints it.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Mac(pub [u8; 6]);

impl Mac {
    /// A locally administered unicast MAC, the way VPC CNI's driver makes host veth MACs
    /// (random bytes, local bit set, multicast bit cleared) and the kernel makes veth MACs.
    pub fn local(seed: &str) -> Mac {
        let mut b = Self::bytes(seed);
        b[0] = (b[0] | 0x02) & 0xfe;
        Mac(b)
    }

    /// An ENI's MAC: EC2 gives ENIs `02:…` addresses.
    pub fn eni(seed: &str) -> Mac {
        let mut b = Self::bytes(seed);
        b[0] = 0x02;
        Mac(b)
    }

    fn bytes(seed: &str) -> [u8; 6] {
        let digest = sha1_smol::Sha1::from(format!("{seed}/mac"))
            .digest()
            .bytes();
        let mut b = [0u8; 6];
        b.copy_from_slice(&digest[..6]);
        b
    }
}

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

impl fmt::Debug for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The host veth names in the write-ups, recomputed from the pods they belong to.
    #[test]
    fn host_veth_names_match_the_ones_seen_on_real_nodes() {
        // shared/seeds/000: pod haydenarch-77c4f7cff9-dxsps in default → enid573ff579e6.
        assert_eq!(
            vpc_cni_host_veth_name("eni", "default", "haydenarch-77c4f7cff9-dxsps"),
            "enid573ff579e6"
        );
        // shared/seeds/004: tmp-shell in kube-system → enie5da25cfd1a.
        assert_eq!(
            vpc_cni_host_veth_name("eni", "kube-system", "tmp-shell"),
            "enie5da25cfd1a"
        );
        // shared/seeds/002: branch-ENI pod aws-cli in default → vlanafd4c544f81.
        assert_eq!(
            vpc_cni_host_veth_name("vlan", "default", "aws-cli"),
            "vlanafd4c544f81"
        );
    }

    #[test]
    fn generated_ids_have_the_real_shapes() {
        let cid = container_id("a");
        assert_eq!(cid.len(), 64);
        assert!(cid.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(uuid("a").len(), 36);
        assert_eq!(eni_id("a").len(), 21);
        assert_eq!(bridge_veth_name("a").len(), 12);
        let local = Mac::local("a");
        assert_eq!(local.0[0] & 0x03, 0x02, "{local}: local, unicast");
        assert_eq!(Mac::eni("a").0[0], 0x02);
        assert_eq!(
            Mac([2, 0xd1, 0x7d, 0xe3, 0x9c, 0xca]).to_string(),
            "02:d1:7d:e3:9c:ca"
        );
    }
}
