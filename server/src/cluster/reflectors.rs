//! The reflectors: one kube-runtime `watcher(..).default_backoff()` + `reflector` per resource,
//! each a task that records its progress in a [`ResourceTracker`].
//!
//! Pods and Nodes are always watched. ENIConfigs (`crd.k8s.amazonaws.com/v1alpha1`) and
//! SecurityGroupPolicies (`vpcresources.k8s.aws/v1beta1`) only where the API server serves them
//! (discovered from `/apis/<group>/<version>`, asked again every [`CRD_RECHECK`] while absent):
//! a cluster without custom networking or security groups for pods has neither, and that is
//! reported as `absent`, not as an error.
//!
//! Workloads: a pod's controller owner is followed from ReplicaSet to Deployment by the name
//! convention of the Deployment controller (see
//! [`deployment_of_replica_set`](super::facts::deployment_of_replica_set)), so ReplicaSets are
//! not watched and the server needs no access to them.

use std::fmt::Debug;
use std::hash::Hash;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use futures::StreamExt as _;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt as _, watcher};
use kube::{Client, Resource, ResourceExt as _};
use serde::de::DeserializeOwned;
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::ClusterDirectory;
use super::client::ConnectError;
use super::convert;
use super::facts::{EniConfigFacts, NodeFacts, PodFacts, SecurityGroupPolicyFacts};
use super::status::{KubernetesStatus, ResourceTracker, error_chain};

/// How often a CRD found absent is looked for again.
pub const CRD_RECHECK: Duration = Duration::from_secs(300);

/// A custom resource podwire reads where it exists.
#[derive(Debug, Clone, Copy)]
struct Crd {
    /// The tracker's name: `<plural>.<group>`.
    resource: &'static str,
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    plural: &'static str,
}

const ENI_CONFIGS: Crd = Crd {
    resource: "eniconfigs.crd.k8s.amazonaws.com",
    group: "crd.k8s.amazonaws.com",
    version: "v1alpha1",
    kind: "ENIConfig",
    plural: "eniconfigs",
};

const SECURITY_GROUP_POLICIES: Crd = Crd {
    resource: "securitygrouppolicies.vpcresources.k8s.aws",
    group: "vpcresources.k8s.aws",
    version: "v1beta1",
    kind: "SecurityGroupPolicy",
    plural: "securitygrouppolicies",
};

/// The reflected objects of one API server.
#[derive(Debug)]
pub struct KubeDirectory {
    cluster: Option<String>,
    connection_error: Option<String>,
    pods: Option<Store<Pod>>,
    nodes: Option<Store<Node>>,
    eni_configs: Arc<OnceLock<Store<DynamicObject>>>,
    security_group_policies: Arc<OnceLock<Store<DynamicObject>>>,
    trackers: Vec<ResourceTracker>,
}

impl KubeDirectory {
    /// Starts the reflectors on `client` (or records why there is none) as `tasks`.
    pub fn start(
        client: Result<Client, ConnectError>,
        cluster: Option<String>,
        tasks: &mut JoinSet<()>,
        stop: watch::Receiver<bool>,
    ) -> Arc<Self> {
        let client = match client {
            Ok(client) => client,
            Err(err) => {
                let message = error_chain(&err);
                tracing::error!(error = %message, "Kubernetes enrichment is off: no client");
                return Arc::new(KubeDirectory {
                    cluster,
                    connection_error: Some(message),
                    pods: None,
                    nodes: None,
                    eni_configs: Arc::default(),
                    security_group_policies: Arc::default(),
                    trackers: Vec::new(),
                });
            }
        };
        let pods = spawn_reflector(
            Api::<Pod>::all(client.clone()),
            (),
            ResourceTracker::new("pods"),
            tasks,
            stop.clone(),
        );
        let nodes = spawn_reflector(
            Api::<Node>::all(client.clone()),
            (),
            ResourceTracker::new("nodes"),
            tasks,
            stop.clone(),
        );
        let mut trackers = vec![pods.1, nodes.1];
        let eni_configs = Arc::new(OnceLock::new());
        let security_group_policies = Arc::new(OnceLock::new());
        for (crd, slot) in [
            (ENI_CONFIGS, eni_configs.clone()),
            (SECURITY_GROUP_POLICIES, security_group_policies.clone()),
        ] {
            let tracker = ResourceTracker::new(crd.resource);
            trackers.push(tracker.clone());
            tasks.spawn(reflect_crd(
                client.clone(),
                crd,
                slot,
                tracker,
                stop.clone(),
            ));
        }
        Arc::new(KubeDirectory {
            cluster,
            connection_error: None,
            pods: Some(pods.0),
            nodes: Some(nodes.0),
            eni_configs,
            security_group_policies,
            trackers,
        })
    }

    /// The stored Pod object itself, as reflected (trimmed).
    pub fn pod_object(&self, namespace: &str, name: &str) -> Option<Arc<Pod>> {
        self.pods
            .as_ref()?
            .get(&ObjectRef::new(name).within(namespace))
    }

    /// Every SecurityGroupPolicy reflected (empty where the CRD is absent).
    pub fn security_group_policies(&self) -> Vec<SecurityGroupPolicyFacts> {
        self.security_group_policies
            .get()
            .map(|store| {
                store
                    .state()
                    .iter()
                    .map(|o| convert::security_group_policy_facts(o))
                    .collect()
            })
            .unwrap_or_default()
    }

    fn objects(&self, resource: &str) -> usize {
        match resource {
            "pods" => self.pods.as_ref().map_or(0, Store::len),
            "nodes" => self.nodes.as_ref().map_or(0, Store::len),
            r if r == ENI_CONFIGS.resource => self.eni_configs.get().map_or(0, Store::len),
            r if r == SECURITY_GROUP_POLICIES.resource => {
                self.security_group_policies.get().map_or(0, Store::len)
            }
            _ => 0,
        }
    }
}

impl ClusterDirectory for KubeDirectory {
    fn cluster(&self) -> Option<&str> {
        self.cluster.as_deref()
    }

    fn pod(&self, namespace: &str, name: &str) -> Option<PodFacts> {
        let key = ObjectRef::new(name).within(namespace);
        self.pods
            .as_ref()?
            .get(&key)
            .map(|pod| convert::pod_facts(&pod))
    }

    fn node(&self, name: &str) -> Option<NodeFacts> {
        self.nodes
            .as_ref()?
            .get(&ObjectRef::new(name))
            .map(|node| convert::node_facts(&node))
    }

    fn eni_config(&self, name: &str) -> Option<EniConfigFacts> {
        let store = self.eni_configs.get()?;
        store
            .find(|o| o.name_any() == name)
            .map(|o| convert::eni_config_facts(&o))
    }

    fn status(&self) -> KubernetesStatus {
        KubernetesStatus {
            enabled: true,
            cluster: self.cluster.clone(),
            connection_error: self.connection_error.clone(),
            resources: self
                .trackers
                .iter()
                .map(|t| t.snapshot(self.objects(t.resource())))
                .collect(),
        }
    }
}

fn spawn_reflector<K>(
    api: Api<K>,
    dyntype: K::DynamicType,
    tracker: ResourceTracker,
    tasks: &mut JoinSet<()>,
    stop: watch::Receiver<bool>,
) -> (Store<K>, ResourceTracker)
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    K::DynamicType: Eq + Hash + Clone + Send + Sync,
{
    let writer = reflector::store::Writer::new(dyntype);
    let store = writer.as_reader();
    tasks.spawn(reflect(api, writer, tracker.clone(), stop));
    (store, tracker)
}

/// Lists and watches until `stop`: relists when a watch expires (410 Gone) and backs off on
/// errors, keeping `writer`'s store and `tracker` current.
async fn reflect<K>(
    api: Api<K>,
    writer: reflector::store::Writer<K>,
    tracker: ResourceTracker,
    mut stop: watch::Receiver<bool>,
) where
    K: Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    K::DynamicType: Eq + Hash + Clone,
{
    let events = watcher(api, watcher::Config::default())
        .default_backoff()
        // Nobody reads who wrote which field, and on a busy pod it is most of the object.
        .modify(|object| object.managed_fields_mut().clear());
    let mut events = std::pin::pin!(reflector::reflector(writer, events));
    let resource = tracker.resource();
    loop {
        let event = tokio::select! {
            event = events.next() => event,
            _ = stop.wait_for(|stop| *stop) => return,
        };
        match event {
            None => return,
            Some(Ok(watcher::Event::Init)) => tracker.listing(),
            Some(Ok(watcher::Event::InitDone)) => {
                if tracker.is_failing() {
                    tracing::info!(resource, "Kubernetes watch recovered");
                }
                tracker.synced();
                tracing::debug!(resource, "Kubernetes list complete");
            }
            Some(Ok(_)) => {
                if tracker.is_failing() {
                    tracker.synced();
                }
            }
            Some(Err(watcher::Error::WatchError(status))) if status.code == 410 => {
                // The watch outlived the API server's history: the watcher lists again.
                tracing::debug!(resource, message = %status.message, "Kubernetes watch expired; relisting");
            }
            Some(Err(err)) => {
                let message = error_chain(&err);
                if !tracker.is_failing() {
                    tracing::warn!(resource, error = %message, "Kubernetes watch failed; retrying with backoff");
                }
                tracker.failed(message);
            }
        }
    }
}

/// Waits until the API server serves `crd`, then reflects it into `slot`.
async fn reflect_crd(
    client: Client,
    crd: Crd,
    slot: Arc<OnceLock<Store<DynamicObject>>>,
    tracker: ResourceTracker,
    mut stop: watch::Receiver<bool>,
) {
    let api_version = format!("{}/{}", crd.group, crd.version);
    loop {
        let served = tokio::select! {
            served = client.list_api_group_resources(&api_version) => served,
            _ = stop.wait_for(|stop| *stop) => return,
        };
        match served {
            Ok(list) if list.resources.iter().any(|r| r.name == crd.plural) => break,
            Ok(_) => tracker.absent(),
            Err(kube::Error::Api(status)) if status.code == 404 => tracker.absent(),
            Err(err) => {
                let message = error_chain(&err);
                tracing::warn!(resource = crd.resource, error = %message, "cannot tell whether the API server serves this CRD");
                tracker.failed(message);
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(CRD_RECHECK) => {}
            _ = stop.wait_for(|stop| *stop) => return,
        }
    }
    let resource = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk(crd.group, crd.version, crd.kind),
        crd.plural,
    );
    let api = Api::<DynamicObject>::all_with(client, &resource);
    let writer = reflector::store::Writer::new(resource);
    // Set once: this task is the only writer of the slot.
    let _ = slot.set(writer.as_reader());
    reflect(api, writer, tracker, stop).await;
}
