//! The gateway's log on PostgreSQL at `WASMCLAW_LOG=debug`: the database
//! client's own debug lines carry every statement's parameters (tenants'
//! memory, session messages, token names), so they stay out unless the
//! filter names `tokio_postgres` itself. Run from `gateway_pg` only.

use crate::harness::{Gateway, tenant};

/// What tokio-postgres writes at debug for each statement it runs.
const STATEMENT_LINE: &str = "executing statement";

#[test]
fn debug_logging_keeps_the_database_clients_statement_parameters_out() {
    let gw = Gateway::start_with_log("debug");
    let t = tenant(&gw, "pg-logs");
    gw.get(&t.path("/skills"), Some(&t.member)).expect(200);
    let log = gw.log_text();
    // The filter really is at debug: the gateway's own and its crates'
    // debug lines are there.
    assert!(log.contains("DEBUG"), "no debug line in the log:\n{log}");
    assert!(!log.contains(STATEMENT_LINE), "statement parameters in the log:\n{log}");
}

#[test]
fn an_operator_who_names_the_client_gets_its_lines() {
    // The operator's explicit choice wins (for debugging the store).
    let gw = Gateway::start_with_log("warn,tokio_postgres=debug");
    tenant(&gw, "pg-logs-on");
    let log = gw.log_text();
    assert!(log.contains(STATEMENT_LINE), "no statement line:\n{log}");
}
