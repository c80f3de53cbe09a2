//! Shared test support: a fresh database per test on a real Postgres, and snapshots of VPC CNI
//! nodes resolved by the real resolver.

#![allow(dead_code)] // each test binary uses its own subset

pub mod fixtures;
pub mod ingest;
pub mod vpc_node;

use std::str::FromStr;
use std::sync::atomic::{AtomicU32, Ordering};

use podwire_server::store::Store;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, Executor};

/// The Postgres server tests create their databases on.
pub fn admin_url() -> String {
    std::env::var("PODWIRE_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// A database created for one test and dropped (with any connection still open) when the value
/// is dropped, also when the test fails.
pub struct TestDb {
    pub name: String,
    pub options: PgConnectOptions,
    pub store: Store,
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

impl TestDb {
    /// A fresh, migrated database.
    pub async fn new() -> TestDb {
        let db = TestDb::empty().await;
        db.store
            .migrate()
            .await
            .expect("migrations apply on a fresh database");
        db
    }

    /// A fresh database with nothing in it, not even the migrations.
    pub async fn empty() -> TestDb {
        let admin =
            PgConnectOptions::from_str(&admin_url()).expect("PODWIRE_TEST_DATABASE_URL parses");
        let name = format!(
            "podwire_test_{}_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            chrono::Utc::now().timestamp_micros() % 1_000_000
        );
        let mut conn = admin
            .connect()
            .await
            .expect("test Postgres reachable (PODWIRE_TEST_DATABASE_URL)");
        conn.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .await
            .expect("create test database");
        conn.close().await.ok();
        let options = admin.clone().database(&name);
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .connect_with(options.clone())
            .await
            .expect("connect");
        TestDb {
            name,
            options,
            store: Store::new(pool),
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop runs outside async context guarantees: do the async work on a thread of its own.
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            rt.block_on(async move {
                let admin = PgConnectOptions::from_str(&admin_url()).ok()?;
                let mut conn = admin.connect().await.ok()?;
                conn.execute(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                )))
                .await
                .ok()?;
                Some(())
            })
        })
        .join();
        if !matches!(dropped, Ok(Some(()))) {
            eprintln!("could not drop test database {}", self.name);
        }
    }
}
