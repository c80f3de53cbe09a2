//! podwire's server: stores every node's snapshots and the derived history of every pod's
//! wiring in Postgres, and answers "how is this pod wired" and "who had this IP" for any time
//! through a REST API.
//!
//! Layout: [`config`] (the command line), [`startup`] (what `main` runs), [`ingest`] (the agents'
//! gRPC streams), [`store`] (Postgres), [`history`] (pure derivation and diffing of history rows),
//! [`api`] (REST handlers, one file per action), [`local_postgres`] and [`local_agent`] (local
//! mode).

pub mod api;
pub mod config;
pub mod history;
pub mod ingest;
pub mod local_agent;
pub mod local_postgres;
pub mod startup;
pub mod store;
