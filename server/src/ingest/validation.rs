//! What the server checks in an agent's messages before it trusts them: the names in `Hello`, the
//! form of hashes and sequence numbers, that a snapshot speaks for the node its stream said
//! `Hello` for, and (in [`super::limits`]) the counts and string lengths of a snapshot. Every
//! refusal names the field, as a path from the message (`snapshot.host.links[3].name`).

use podwire_node_state::wire::{ContentHash, FromWireError, proto};

use super::limits::MAX_NAME_BYTES;
use crate::store::NodeKey;

/// The longest cluster name accepted: EKS allows 100 characters, GKE 40, AKS 63.
pub const MAX_CLUSTER_BYTES: usize = 100;
/// The longest Kubernetes node name (a DNS-1123 subdomain).
pub const MAX_NODE_BYTES: usize = 253;
/// The longest agent version, boot id or capability name.
pub const MAX_TAG_BYTES: usize = 64;
/// The most capabilities a `Hello` may list.
pub const MAX_CAPABILITIES: usize = 32;

/// What is wrong with a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Violation {
    #[error(transparent)]
    Field(#[from] FieldViolation),
    /// A wire value the model cannot hold (a 5-byte address, an unknown enum value, a missing
    /// part), found by the shared crate's conversion.
    #[error("field `snapshot.{}` {}", .0.field(), .0.problem())]
    Wire(FromWireError),
    #[error(
        "the snapshot is of node {snapshot_cluster}/{snapshot_node}, but this stream's Hello \
         named {hello_cluster}/{hello_node}"
    )]
    IdentityMismatch {
        hello_cluster: String,
        hello_node: String,
        snapshot_cluster: String,
        snapshot_node: String,
    },
    #[error("field `content_hash` is {claimed}, but the snapshot's content hash is {computed}")]
    HashMismatch {
        claimed: ContentHash,
        computed: ContentHash,
    },
    /// The canonical form's frame cannot be opened or does not hold a canonical snapshot.
    #[error("field `canonical.zstd_frame` {0}")]
    Frame(FrameProblem),
}

/// What is wrong with a `CanonicalSnapshot`'s frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameProblem {
    #[error("is not a zstd frame, or a damaged one")]
    NotZstd,
    #[error("holds more than {max} bytes once decompressed")]
    TooLarge { max: usize },
    #[error("does not hold a protobuf NodeSnapshot")]
    NotASnapshot,
    #[error(
        "holds a snapshot with a collection time or duration; the canonical encoding has them zeroed"
    )]
    NotCanonical,
}

/// One field out of bounds.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("field `{field}` {problem}")]
pub struct FieldViolation {
    field: String,
    problem: FieldProblem,
}

impl FieldViolation {
    pub fn new(field: String, problem: FieldProblem) -> Self {
        FieldViolation { field, problem }
    }

    /// The field's path from the refused message.
    pub fn field(&self) -> &str {
        &self.field
    }

    pub fn problem(&self) -> &FieldProblem {
        &self.problem
    }
}

/// What is wrong with a field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldProblem {
    #[error("is missing")]
    Missing,
    #[error("is empty")]
    Empty,
    #[error("is {len} bytes long; at most {max} are accepted")]
    TooLong { len: usize, max: usize },
    #[error("holds {count} entries; at most {max} are accepted")]
    TooMany { count: usize, max: usize },
    /// Postgres text cannot hold NUL, and no name the agent reads contains one.
    #[error("contains a NUL character")]
    Nul,
    #[error("contains a control character")]
    Control,
    #[error("is {value:?}, not a valid {kind}: {rule}")]
    BadName {
        value: String,
        kind: &'static str,
        rule: &'static str,
    },
    #[error("holds {len} bytes, not a 32-byte SHA-256")]
    HashLength { len: usize },
    #[error("is {got}, but must be above the previous message's {previous}")]
    SequenceNotIncreasing { previous: u64, got: u64 },
    #[error("is {value}, not a representable time")]
    TimeOutOfRange { value: i64 },
}

fn violation(field: &str, problem: FieldProblem) -> FieldViolation {
    FieldViolation::new(field.to_owned(), problem)
}

/// Checks a `Hello` and returns the node it speaks for.
pub fn check_hello(hello: &proto::Hello) -> Result<NodeKey, FieldViolation> {
    check_cluster_name(&hello.cluster)?;
    check_node_name(&hello.node)?;
    check_tag("agent_version", &hello.agent_version)?;
    check_tag("boot_id", &hello.boot_id)?;
    if hello.capabilities.len() > MAX_CAPABILITIES {
        return Err(violation(
            "capabilities",
            FieldProblem::TooMany {
                count: hello.capabilities.len(),
                max: MAX_CAPABILITIES,
            },
        ));
    }
    for (i, capability) in hello.capabilities.iter().enumerate() {
        check_tag(&format!("capabilities[{i}]"), capability)?;
    }
    Ok(NodeKey {
        cluster: hello.cluster.clone(),
        name: hello.node.clone(),
    })
}

/// A cluster name as the managed services allow them (EKS: letters, digits, `-` and `_`; GKE and
/// AKS less), plus `.`: a letter or digit first, at most [`MAX_CLUSTER_BYTES`].
fn check_cluster_name(name: &str) -> Result<(), FieldViolation> {
    const RULE: &str = "letters, digits, '-', '_' and '.', beginning with a letter or digit";
    check_length("cluster", name, MAX_CLUSTER_BYTES)?;
    let first_ok = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric());
    let rest_ok = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if first_ok && rest_ok {
        Ok(())
    } else {
        Err(bad_name("cluster", name, "cluster name", RULE))
    }
}

/// A Kubernetes node name: a DNS-1123 subdomain, dot-separated labels of lower-case letters,
/// digits and `-`, each beginning and ending with a letter or digit.
fn check_node_name(name: &str) -> Result<(), FieldViolation> {
    const RULE: &str = "a DNS-1123 subdomain: lower-case letters, digits, '-' and '.', each \
                        dot-separated part beginning and ending with a letter or digit";
    check_length("node", name, MAX_NODE_BYTES)?;
    let label_ok = |label: &str| {
        let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
        label.starts_with(alnum)
            && label.ends_with(alnum)
            && label.chars().all(|c| alnum(c) || c == '-')
    };
    if name.split('.').all(label_ok) {
        Ok(())
    } else {
        Err(bad_name("node", name, "node name", RULE))
    }
}

/// A short printable tag (version, boot id, capability).
fn check_tag(field: &str, value: &str) -> Result<(), FieldViolation> {
    if value.len() > MAX_TAG_BYTES {
        return Err(violation(
            field,
            FieldProblem::TooLong {
                len: value.len(),
                max: MAX_TAG_BYTES,
            },
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(violation(field, FieldProblem::Control));
    }
    Ok(())
}

fn check_length(field: &str, value: &str, max: usize) -> Result<(), FieldViolation> {
    if value.is_empty() {
        return Err(violation(field, FieldProblem::Empty));
    }
    if value.len() > max {
        return Err(violation(
            field,
            FieldProblem::TooLong {
                len: value.len(),
                max,
            },
        ));
    }
    Ok(())
}

fn bad_name(field: &str, value: &str, kind: &'static str, rule: &'static str) -> FieldViolation {
    violation(
        field,
        FieldProblem::BadName {
            value: value.to_owned(),
            kind,
            rule,
        },
    )
}

/// A wire `content_hash`: 32 bytes.
pub fn check_hash(bytes: &[u8]) -> Result<ContentHash, FieldViolation> {
    ContentHash::from_wire(bytes)
        .map_err(|err| violation("content_hash", FieldProblem::HashLength { len: err.len }))
}

/// Sequence numbers grow on a stream (`ingest.proto`), so that an `Ack` names one message.
pub fn check_sequence(previous: u64, got: u64) -> Result<(), FieldViolation> {
    if got > previous {
        Ok(())
    } else {
        Err(violation(
            "sequence",
            FieldProblem::SequenceNotIncreasing { previous, got },
        ))
    }
}

/// The snapshot must be of the node the stream said `Hello` for.
pub fn check_identity(hello: &NodeKey, identity: &proto::NodeIdentity) -> Result<(), Violation> {
    if identity.cluster == hello.cluster && identity.node_name == hello.name {
        return Ok(());
    }
    let clip = |s: &str| s.chars().take(MAX_NAME_BYTES).collect::<String>();
    Err(Violation::IdentityMismatch {
        hello_cluster: hello.cluster.clone(),
        hello_node: hello.name.clone(),
        snapshot_cluster: clip(&identity.cluster),
        snapshot_node: clip(&identity.node_name),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hello(cluster: &str, node: &str) -> proto::Hello {
        proto::Hello {
            cluster: cluster.into(),
            node: node.into(),
            agent_version: "0.1.0".into(),
            boot_id: "0f3c6e1a-7b1d-4f1e-9f0e-2d7c1b9a8e55".into(),
            capabilities: vec![],
        }
    }

    #[test]
    fn real_cluster_and_node_names_pass() {
        for (cluster, node) in [
            (
                "prod-eu-west-1",
                "ip-172-31-48-94.eu-west-1.compute.internal",
            ),
            ("My_EKS_Cluster", "gke-main-default-pool-3f2a9c1e-x7kq"),
            ("local", "aks-nodepool1-12345678-vmss000000"),
        ] {
            let key = check_hello(&hello(cluster, node)).unwrap();
            assert_eq!((key.cluster.as_str(), key.name.as_str()), (cluster, node));
        }
    }

    #[test]
    fn bad_names_are_refused_naming_the_field() {
        let cases = [
            (hello("", "n1"), "cluster", "is empty"),
            (hello("-prod", "n1"), "cluster", "not a valid cluster name"),
            (
                hello("prod cluster", "n1"),
                "cluster",
                "not a valid cluster name",
            ),
            (
                hello(&"c".repeat(101), "n1"),
                "cluster",
                "is 101 bytes long",
            ),
            (hello("prod", "Node-1"), "node", "not a valid node name"),
            (hello("prod", "node-.x"), "node", "not a valid node name"),
            (hello("prod", "a..b"), "node", "not a valid node name"),
            (hello("prod", "n\u{0}1"), "node", "not a valid node name"),
            (hello("prod", &"a".repeat(254)), "node", "at most 253"),
        ];
        for (message, field, text) in cases {
            let err = check_hello(&message).unwrap_err();
            assert_eq!(err.field(), field, "{err}");
            assert!(err.to_string().contains(text), "{err}");
        }
        let mut long_version = hello("prod", "n1");
        long_version.agent_version = "1".repeat(65);
        assert_eq!(
            check_hello(&long_version).unwrap_err().field(),
            "agent_version"
        );
        let mut caps = hello("prod", "n1");
        caps.capabilities = vec!["x".into(); 33];
        assert_eq!(check_hello(&caps).unwrap_err().field(), "capabilities");
        caps.capabilities = vec!["ok".into(), "bad\nname".into()];
        assert_eq!(check_hello(&caps).unwrap_err().field(), "capabilities[1]");
    }

    #[test]
    fn hashes_sequences_and_identity() {
        assert_eq!(check_hash(&[1; 32]).unwrap(), ContentHash([1; 32]));
        assert_eq!(
            check_hash(&[1; 31]).unwrap_err().to_string(),
            "field `content_hash` holds 31 bytes, not a 32-byte SHA-256"
        );
        assert!(check_sequence(0, 1).is_ok());
        assert!(check_sequence(4, 4).is_err());
        let key = NodeKey {
            cluster: "prod".into(),
            name: "n1".into(),
        };
        let mut identity = proto::NodeIdentity {
            cluster: "prod".into(),
            node_name: "n1".into(),
            ..Default::default()
        };
        assert!(check_identity(&key, &identity).is_ok());
        identity.node_name = "n2".into();
        assert_eq!(
            check_identity(&key, &identity).unwrap_err().to_string(),
            "the snapshot is of node prod/n2, but this stream's Hello named prod/n1"
        );
    }
}
