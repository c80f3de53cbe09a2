//! Table-driven tests of the resolver over node snapshots built in code, modelled on the
//! write-ups in `shared/seeds/`: a VPC CNI node (000, 004), a branch-ENI pod (002), flannel (001)
//! and kube-router (003), plus the kernel's rule and route semantics one by one.

mod branch;
mod builder;
mod direct_decode;
mod discovery;
mod flannel;
mod identity;
mod ip_text;
mod kernel;
mod kube_router;
mod layers;
mod probe;
mod rule_semantics;
mod vpc_cni;
mod wiring;
