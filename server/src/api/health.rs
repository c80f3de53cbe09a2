use axum::Json;
use serde_json::{Value, json};

/// `GET /healthz`: the process is up and serving. It does not look at the database, so an
/// orchestrator does not restart a server only because Postgres is away.
pub(crate) async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}
