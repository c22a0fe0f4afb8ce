//! `GET /metrics`: Prometheus text. Per-tenant series carry a `tenant`
//! label (the route is the operator's alone).

use crate::error::ApiResult;
use crate::state::Gateway;
use std::fmt::Write;

/// Escapes a label value.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// The metrics text.
pub fn render(gw: &Gateway) -> ApiResult<String> {
    let rt = gw.runtime();
    let usage = rt.usage(None)?;
    let tenants = rt.tenants()?;
    let mut out = String::new();

    let suspended = tenants.iter().filter(|t| t.suspended).count();
    header(&mut out, "wasmclaw_tenants", "gauge", "Tenants by status.");
    let _ = writeln!(out, "wasmclaw_tenants{{status=\"active\"}} {}", tenants.len() - suspended);
    let _ = writeln!(out, "wasmclaw_tenants{{status=\"suspended\"}} {suspended}");
    header(&mut out, "wasmclaw_requests_in_flight", "gauge", "HTTP requests being served.");
    let _ = writeln!(out, "wasmclaw_requests_in_flight {}", gw.in_flight());

    type Series = (&'static str, &'static str, &'static str, fn(&wasmclaw::metering::UsageRow) -> f64);
    let series: [Series; 5] = [
        ("wasmclaw_calls_total", "counter", "Skill calls.", |r| r.totals.calls as f64),
        ("wasmclaw_fuel_consumed_total", "counter", "Fuel consumed by skill calls.", |r| {
            r.totals.fuel as f64
        }),
        ("wasmclaw_call_wall_seconds_total", "counter", "Wall-clock time of skill calls.", |r| {
            r.totals.wall_us as f64 / 1e6
        }),
        ("wasmclaw_call_memory_peak_bytes", "gauge", "Most linear memory one call held.", |r| {
            r.totals.memory_peak_bytes as f64
        }),
        ("wasmclaw_cost_total", "counter", "Usage priced by the operator's rate card.", |r| r.cost),
    ];
    for (name, kind, help, value) in series {
        header(&mut out, name, kind, help);
        for row in &usage {
            let _ = writeln!(
                out,
                "{name}{{tenant=\"{}\",skill=\"{}\"}} {}",
                label(&row.tenant),
                label(&row.skill),
                value(row)
            );
        }
    }
    header(&mut out, "wasmclaw_call_errors_total", "counter", "Failed skill calls by error kind.");
    for row in &usage {
        for (kind, n) in &row.totals.errors {
            let _ = writeln!(
                out,
                "wasmclaw_call_errors_total{{tenant=\"{}\",skill=\"{}\",kind=\"{}\"}} {n}",
                label(&row.tenant),
                label(&row.skill),
                label(kind)
            );
        }
    }
    Ok(out)
}
