//! Operator route: the cluster this gateway is a replica of — every node
//! with its address, version, configuration digest and ages by the
//! database's clock — and every tenant's lease (owner, epoch, age,
//! whether it is held), or `clustered: false` for a single gateway.

use crate::auth::{Caller, OPERATOR};
use crate::error::ApiResult;
use crate::state::Gateway;
use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

pub(crate) async fn show(State(gw): State<Gateway>, caller: Caller) -> ApiResult<Json<Value>> {
    caller.allow(&gw, OPERATOR, "read the cluster's membership")?;
    let runtime = gw.runtime();
    Ok(Json(match runtime.cluster_nodes().await? {
        Some(nodes) => json!({
            "clustered": true,
            "node": runtime.node_id(),
            "nodes": nodes,
            "leases": runtime.cluster_leases().await?.unwrap_or_default(),
            "forwarded": gw.forwarded_total(),
        }),
        None => json!({ "clustered": false }),
    }))
}
