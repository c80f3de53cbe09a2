//! podwire's server: stores every node's snapshots and the derived history of every pod's
//! wiring in Postgres, and answers "how is this pod wired" and "who had this IP" for any time
//! through a REST API.
//!
//! Layout: [`config`] (the command line), [`startup`] (what `main` runs), [`ingest`] (the agents'
//! gRPC streams), [`store`] (Postgres), [`history`] (pure derivation and diffing of history rows),
//! [`read`] (read models shared by the API and the pages), [`api`] (REST handlers, one file per
//! action), [`enrich`] (EC2 enrichment), [`pages`] (the HTML dashboard, one file per page),
//! [`local_postgres`] and [`local_agent`] (local mode), [`cluster`] (Kubernetes: reflected pods
//! and nodes, agent identity).

pub mod api;
pub mod cluster;
pub mod config;
pub mod enrich;
pub mod error_chain;
pub mod history;
pub mod ingest;
pub mod local_agent;
pub mod local_postgres;
pub mod pages;
pub mod read;
pub mod router;
pub mod startup;
pub mod store;
