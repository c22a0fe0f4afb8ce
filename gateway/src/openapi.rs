//! The OpenAPI 3.1 document, built from the route table so it lists
//! exactly the routes the router serves.

use crate::auth::Who;
use crate::routes::table::{ROUTES, Route, short_path};
use serde_json::{Map, Value, json};

fn who(w: &[Who]) -> String {
    if w.is_empty() {
        return "No credential needed.".into();
    }
    let names: Vec<&str> = w
        .iter()
        .map(|w| match w {
            Who::Operator => "operator",
            Who::Admin => "admin",
            Who::Member => "member",
            Who::Guest => "guest",
        })
        .collect();
    format!("Who: {}.", names.join(", "))
}

fn operation(method: &str, path: &str, route: &Route) -> Value {
    let params: Vec<Value> = path
        .split('/')
        .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .map(|name| json!({ "name": name, "in": "path", "required": true, "schema": { "type": "string" } }))
        .collect();
    let mut op = json!({
        "summary": route.summary,
        "description": who(route.who),
        "operationId": format!("{}{}", method.to_lowercase(), path.replace(['/', '{', '}', '.'], "_")),
        "parameters": params,
        "responses": {
            "2XX": { "description": "Success (JSON)." },
            "default": { "description": "An error.", "content": { "application/json": {
                "schema": { "$ref": "#/components/schemas/Error" } } } }
        }
    });
    if !route.who.is_empty() {
        op["security"] = json!([{ "bearer": [] }]);
    }
    if path == "/v1/backup" {
        op["responses"]["2XX"]["description"] = json!("A backup file (application/vnd.wasmclaw.backup).");
    }
    op
}

/// The document.
pub fn document() -> Value {
    let mut paths = Map::new();
    for route in ROUTES {
        let mut forms = vec![route.path.to_string()];
        forms.extend(short_path(route.path));
        for path in forms {
            let entry = paths.entry(path.clone()).or_insert_with(|| json!({}));
            entry[route.method.to_lowercase()] = operation(route.method, &path, route);
        }
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "wasmclaw gateway",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Multi-tenant agent gateway: every skill is a WebAssembly component. Routes under /v1/tenants/{tenant}/… also exist as /v1/… for tenant tokens (the tenant is the token's)."
        },
        "paths": paths,
        "components": {
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer",
                "description": "An admin key (wca_…) or a tenant token (wct_<tenant>_<id>_<secret>)." } },
            "schemas": { "Error": { "type": "object", "required": ["error"], "properties": { "error": {
                "type": "object", "required": ["code", "message"],
                "properties": { "code": { "type": "string" }, "message": { "type": "string" },
                    "changes": { "type": "array", "description": "A refused upgrade's permission changes (409 conflict).",
                        "items": { "type": "object", "required": ["permission", "from", "to", "widens"],
                            "properties": { "permission": { "type": "string" },
                                "from": { "type": ["string", "null"] }, "to": { "type": ["string", "null"] },
                                "widens": { "type": "boolean" } } } } } } } } }
        }
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_route_is_documented_in_both_forms() {
        let doc = super::document();
        let paths = doc["paths"].as_object().unwrap();
        assert!(paths["/v1/tenants/{tenant}/skills/{name}/invoke"]["post"].is_object());
        assert!(paths["/v1/skills/{name}/invoke"]["post"].is_object());
        assert!(paths["/v1/tenants"]["post"]["security"].is_array());
        assert!(paths["/healthz"]["get"].get("security").is_none());
        assert!(!paths.contains_key("/v1/suspend"), "tenant lifecycle routes have no short form");
    }
}
