//! libcni's result cache: one `cniCacheV1` file per ADD, at
//! `var/lib/cni/results/<network>-<containerID>-<ifName>`, written the way libcni's `cacheAdd`
//! writes it — the fields of its `cachedInfo` in declaration order, the network configuration list
//! as base64 bytes, the runtime's CNI_ARGS pairs, its capability arguments, and the chain's final
//! result as a JSON object.

use base64::Engine as _;
use serde::Serialize;
use serde_json::Value;

/// The directory of the cache under the host root.
pub const RESULTS_DIR: &str = "var/lib/cni/results";

/// libcni's marker for the current cache format.
pub const CACHE_KIND: &str = "cniCacheV1";

/// One cached ADD.
#[derive(Debug, Clone)]
pub struct CacheEntry {
    pub network_name: String,
    pub container_id: String,
    pub if_name: String,
    /// The netns path the runtime passed (`/var/run/netns/cni-…` or `/proc/PID/ns/net`).
    pub netns: String,
    /// The network configuration list, byte for byte as the runtime loaded it.
    pub config: Vec<u8>,
    pub cni_args: Vec<[String; 2]>,
    pub capability_args: Value,
    pub result: Value,
}

/// libcni's `cachedInfo`, field for field.
#[derive(Serialize)]
struct CachedInfo<'a> {
    kind: &'static str,
    #[serde(rename = "containerId")]
    container_id: &'a str,
    config: String,
    #[serde(rename = "ifName")]
    if_name: &'a str,
    #[serde(rename = "networkName")]
    network_name: &'a str,
    netns: &'a str,
    #[serde(rename = "cniArgs")]
    cni_args: &'a [[String; 2]],
    #[serde(rename = "capabilityArgs")]
    capability_args: &'a Value,
    result: &'a Value,
}

impl CacheEntry {
    /// `var/lib/cni/results/<network>-<containerID>-<ifName>`.
    pub fn relative_path(&self) -> String {
        format!(
            "{RESULTS_DIR}/{}-{}-{}",
            self.network_name, self.container_id, self.if_name
        )
    }

    /// The file's bytes: compact JSON, as Go's `json.Marshal` writes it.
    pub fn to_bytes(&self) -> Vec<u8> {
        let info = CachedInfo {
            kind: CACHE_KIND,
            container_id: &self.container_id,
            config: base64::engine::general_purpose::STANDARD.encode(&self.config),
            if_name: &self.if_name,
            network_name: &self.network_name,
            netns: &self.netns,
            cni_args: &self.cni_args,
            capability_args: &self.capability_args,
            result: &self.result,
        };
        // Serialising a struct of strings and JSON values cannot fail.
        serde_json::to_vec(&info).unwrap_or_default()
    }
}

/// The CNI_ARGS containerd passes for a Kubernetes pod sandbox.
pub fn kubernetes_cni_args(
    namespace: &str,
    name: &str,
    pod_uid: &str,
    container_id: &str,
) -> Vec<[String; 2]> {
    [
        ("K8S_POD_INFRA_CONTAINER_ID", container_id),
        ("K8S_POD_UID", pod_uid),
        ("IgnoreUnknown", "1"),
        ("K8S_POD_NAMESPACE", namespace),
        ("K8S_POD_NAME", name),
    ]
    .into_iter()
    .map(|(k, v)| [k.to_owned(), v.to_owned()])
    .collect()
}

/// The capability arguments containerd passes: cluster DNS and the pod's annotations (for
/// plugins that declare `io.kubernetes.cri.pod-annotations`, as aws-cni does).
pub fn kubernetes_capability_args(annotations: Value) -> Value {
    serde_json::json!({
        "dns": {
            "Servers": ["10.100.0.10"],
            "Searches": ["default.svc.cluster.local", "svc.cluster.local", "cluster.local"],
            "Options": ["ndots:5"]
        },
        "io.kubernetes.cri.pod-annotations": annotations
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_has_libcnis_fields_in_libcnis_order() {
        let entry = CacheEntry {
            network_name: "aws-cni".into(),
            container_id: "abc".into(),
            if_name: "eth0".into(),
            netns: "/var/run/netns/cni-1".into(),
            config: br#"{"name":"aws-cni"}"#.to_vec(),
            cni_args: kubernetes_cni_args("default", "web", "uid", "abc"),
            capability_args: kubernetes_capability_args(serde_json::json!({})),
            result: serde_json::json!({"cniVersion": "0.4.0"}),
        };
        assert_eq!(
            entry.relative_path(),
            "var/lib/cni/results/aws-cni-abc-eth0"
        );
        let text = String::from_utf8(entry.to_bytes()).expect("JSON is UTF-8");
        assert!(
            text.starts_with(r#"{"kind":"cniCacheV1","containerId":"abc","config":"eyJuYW1lIjoiYXdzLWNuaSJ9","ifName":"eth0","networkName":"aws-cni","netns":"/var/run/netns/cni-1","cniArgs":[["K8S_POD_INFRA_CONTAINER_ID","abc"]"#),
            "{text}"
        );
        assert!(
            text.ends_with(r#""result":{"cniVersion":"0.4.0"}}"#),
            "{text}"
        );
    }
}
