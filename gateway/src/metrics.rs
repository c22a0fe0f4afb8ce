//! `GET /metrics`: Prometheus text (exposition format 0.0.4), encoded by
//! `prometheus-client`. Per-tenant series carry a `tenant` label (the route
//! is the operator's alone).
//!
//! Each scrape builds a [`Registry`]. What the runtime holds (tenants,
//! usage) is read once into a [`Snapshot`], a collector of constant series
//! in the store's order. A live metric (a latency histogram, say) lives in
//! the gateway's state and is registered here by a clone: a
//! `prometheus-client` metric shares its values between clones.

use crate::error::{ApiError, ApiResult};
use crate::state::Gateway;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric, prometheus_text};
use prometheus_client::metrics::TypedMetric;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;
use std::fmt;
use wasmclaw::metering::UsageRow;

/// The `Content-Type` of the metrics text.
pub const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

/// The metrics text.
pub fn render(gw: &Gateway) -> ApiResult<String> {
    let rt = gw.runtime();
    let usage = rt.usage(None)?;
    let tenants = rt.tenants()?;
    let suspended = tenants.iter().filter(|t| t.suspended).count();
    let (latency, sum_us) = rt.call_latency();
    let snapshot = Snapshot {
        active: tenants.len() - suspended,
        suspended,
        in_flight: gw.in_flight(),
        usage,
        latency: CallLatency { latency, sum_us },
    };
    let mut registry = Registry::default();
    registry.register_collector(Box::new(snapshot));
    encode(&registry)
}

/// `registry` as Prometheus text.
fn encode(registry: &Registry) -> ApiResult<String> {
    let mut out = String::new();
    prometheus_text::encode(&mut out, registry)
        .map_err(|e| ApiError::from(wasmclaw::Error::Internal(format!("encoding the metrics: {e}"))))?;
    Ok(out)
}

/// What one scrape reads from the runtime.
#[derive(Debug)]
struct Snapshot {
    /// Tenants not suspended.
    active: usize,
    /// Suspended tenants.
    suspended: usize,
    /// HTTP requests being served.
    in_flight: u64,
    /// Usage by tenant and skill.
    usage: Vec<UsageRow>,
    /// Every call's wall time since the gateway started.
    latency: CallLatency,
}

/// A histogram of call wall times, as the runtime counted it (a constant
/// for this scrape).
#[derive(Debug, Default)]
struct CallLatency {
    latency: wasmclaw::records::Latency,
    sum_us: u64,
}

impl TypedMetric for CallLatency {
    const TYPE: prometheus_client::metrics::MetricType = prometheus_client::metrics::MetricType::Histogram;
}

impl EncodeMetric for CallLatency {
    fn encode(&self, mut encoder: prometheus_client::encoding::MetricEncoder) -> fmt::Result {
        let buckets: Vec<(f64, u64)> = self
            .latency
            .buckets()
            .into_iter()
            .map(|(bound, n)| (bound.map_or(f64::INFINITY, |us| us as f64 / 1e6), n))
            .collect();
        let sum = self.sum_us as f64 / 1e6;
        encoder.encode_histogram::<prometheus_client::encoding::NoLabelSet>(
            sum,
            self.latency.count(),
            &buckets,
            None,
        )
    }

    fn metric_type(&self) -> prometheus_client::metrics::MetricType {
        Self::TYPE
    }
}

impl Collector for Snapshot {
    fn encode(&self, mut out: DescriptorEncoder) -> fmt::Result {
        let status = [("active", self.active), ("suspended", self.suspended)];
        family(
            &mut out,
            "wasmclaw_tenants",
            "Tenants by status.",
            status.map(|(s, n)| ([("status", s)], ConstGauge::new(n as u64))),
        )?;
        let in_flight = ConstGauge::new(self.in_flight);
        in_flight.encode(out.encode_descriptor(
            "wasmclaw_requests_in_flight",
            "HTTP requests being served.",
            None,
            in_flight.metric_type(),
        )?)?;

        let usage = &self.usage;
        family(
            &mut out,
            "wasmclaw_calls",
            "Skill calls.",
            usage.iter().map(|r| (skill(r), ConstCounter::new(r.totals.calls))),
        )?;
        family(
            &mut out,
            "wasmclaw_fuel_consumed",
            "Fuel consumed by skill calls.",
            usage.iter().map(|r| (skill(r), ConstCounter::new(r.totals.fuel))),
        )?;
        family(
            &mut out,
            "wasmclaw_call_wall_seconds",
            "Wall-clock time of skill calls.",
            usage.iter().map(|r| (skill(r), ConstCounter::new(r.totals.wall_us as f64 / 1e6))),
        )?;
        family(
            &mut out,
            "wasmclaw_call_memory_peak_bytes",
            "Most linear memory one call held.",
            usage.iter().map(|r| (skill(r), ConstGauge::new(r.totals.memory_peak_bytes))),
        )?;
        family(
            &mut out,
            "wasmclaw_cost",
            "Usage priced by the operator's rate card.",
            usage.iter().map(|r| (skill(r), ConstCounter::new(r.cost))),
        )?;
        family(
            &mut out,
            "wasmclaw_call_errors",
            "Failed skill calls by error kind.",
            usage.iter().flat_map(|r| {
                r.totals.errors.iter().map(|(kind, n)| {
                    let [tenant, skill] = skill(r);
                    ([tenant, skill, ("kind", kind.as_str())], ConstCounter::new(*n))
                })
            }),
        )?;
        self.latency.encode(out.encode_descriptor(
            "wasmclaw_call_duration",
            "Wall-clock time of each skill call since the gateway started, every tenant's.",
            Some(&prometheus_client::registry::Unit::Seconds),
            self.latency.metric_type(),
        )?)?;
        Ok(())
    }
}

/// The labels of a usage row's series.
fn skill(r: &UsageRow) -> [(&'static str, &str); 2] {
    [("tenant", &r.tenant), ("skill", &r.skill)]
}

/// One metric family: its help and type, then a series per label set. A
/// counter's name is given without `_total`, which the encoder adds.
fn family<L: EncodeLabelSet, M: EncodeMetric + TypedMetric>(
    out: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    series: impl IntoIterator<Item = (L, M)>,
) -> fmt::Result {
    let mut metric = out.encode_descriptor(name, help, None, M::TYPE)?;
    for (labels, value) in series {
        value.encode(metric.encode_family(&labels)?)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmclaw::records::UsageTotals;

    fn row(tenant: &str, skill: &str, calls: u64, errors: &[(&str, u64)]) -> UsageRow {
        UsageRow {
            tenant: tenant.into(),
            skill: skill.into(),
            totals: UsageTotals {
                calls,
                errors: errors.iter().map(|(k, n)| (k.to_string(), *n)).collect(),
                fuel: 1_000_000,
                wall_us: 250_000,
                memory_peak_bytes: 65_536,
            },
            cost: 0.5,
        }
    }

    fn text(s: Snapshot) -> String {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(s));
        encode(&registry).unwrap()
    }

    #[test]
    fn the_text_keeps_names_types_help_and_labels() {
        let s = Snapshot {
            active: 2,
            suspended: 1,
            in_flight: 4,
            usage: vec![
                row("a", "echo", 3, &[]),
                row("b", "we\"ird\\\nname", 7, &[("trap", 2), ("timeout", 1)]),
            ],
            latency: CallLatency::default(),
        };
        let expected = r#"# HELP wasmclaw_tenants Tenants by status.
# TYPE wasmclaw_tenants gauge
wasmclaw_tenants{status="active"} 2
wasmclaw_tenants{status="suspended"} 1
# HELP wasmclaw_requests_in_flight HTTP requests being served.
# TYPE wasmclaw_requests_in_flight gauge
wasmclaw_requests_in_flight 4
# HELP wasmclaw_calls_total Skill calls.
# TYPE wasmclaw_calls_total counter
wasmclaw_calls_total{tenant="a",skill="echo"} 3
wasmclaw_calls_total{tenant="b",skill="we\"ird\\\nname"} 7
# HELP wasmclaw_fuel_consumed_total Fuel consumed by skill calls.
# TYPE wasmclaw_fuel_consumed_total counter
wasmclaw_fuel_consumed_total{tenant="a",skill="echo"} 1000000
wasmclaw_fuel_consumed_total{tenant="b",skill="we\"ird\\\nname"} 1000000
# HELP wasmclaw_call_wall_seconds_total Wall-clock time of skill calls.
# TYPE wasmclaw_call_wall_seconds_total counter
wasmclaw_call_wall_seconds_total{tenant="a",skill="echo"} 0.25
wasmclaw_call_wall_seconds_total{tenant="b",skill="we\"ird\\\nname"} 0.25
# HELP wasmclaw_call_memory_peak_bytes Most linear memory one call held.
# TYPE wasmclaw_call_memory_peak_bytes gauge
wasmclaw_call_memory_peak_bytes{tenant="a",skill="echo"} 65536
wasmclaw_call_memory_peak_bytes{tenant="b",skill="we\"ird\\\nname"} 65536
# HELP wasmclaw_cost_total Usage priced by the operator's rate card.
# TYPE wasmclaw_cost_total counter
wasmclaw_cost_total{tenant="a",skill="echo"} 0.5
wasmclaw_cost_total{tenant="b",skill="we\"ird\\\nname"} 0.5
# HELP wasmclaw_call_errors_total Failed skill calls by error kind.
# TYPE wasmclaw_call_errors_total counter
wasmclaw_call_errors_total{tenant="b",skill="we\"ird\\\nname",kind="timeout"} 1
wasmclaw_call_errors_total{tenant="b",skill="we\"ird\\\nname",kind="trap"} 2
# HELP wasmclaw_call_duration_seconds Wall-clock time of each skill call since the gateway started, every tenant's.
# TYPE wasmclaw_call_duration_seconds histogram
wasmclaw_call_duration_seconds_bucket{le="0.0001"} 0
wasmclaw_call_duration_seconds_bucket{le="0.00025"} 0
wasmclaw_call_duration_seconds_bucket{le="0.0005"} 0
wasmclaw_call_duration_seconds_bucket{le="0.001"} 0
wasmclaw_call_duration_seconds_bucket{le="0.0025"} 0
wasmclaw_call_duration_seconds_bucket{le="0.005"} 0
wasmclaw_call_duration_seconds_bucket{le="0.01"} 0
wasmclaw_call_duration_seconds_bucket{le="0.025"} 0
wasmclaw_call_duration_seconds_bucket{le="0.05"} 0
wasmclaw_call_duration_seconds_bucket{le="0.1"} 0
wasmclaw_call_duration_seconds_bucket{le="0.25"} 0
wasmclaw_call_duration_seconds_bucket{le="0.5"} 0
wasmclaw_call_duration_seconds_bucket{le="1"} 0
wasmclaw_call_duration_seconds_bucket{le="2.5"} 0
wasmclaw_call_duration_seconds_bucket{le="5"} 0
wasmclaw_call_duration_seconds_bucket{le="10"} 0
wasmclaw_call_duration_seconds_bucket{le="30"} 0
wasmclaw_call_duration_seconds_bucket{le="60"} 0
wasmclaw_call_duration_seconds_bucket{le="+Inf"} 0
wasmclaw_call_duration_seconds_sum 0.0
wasmclaw_call_duration_seconds_count 0
"#;
        assert_eq!(text(s), expected);
    }

    #[test]
    fn call_latency_is_a_histogram_in_seconds_with_cumulative_buckets() {
        let mut latency = wasmclaw::records::Latency::default();
        for us in [80, 90, 3_000, 90_000_000] {
            latency.record(us);
        }
        let sum_us = 80 + 90 + 3_000 + 90_000_000;
        let s = Snapshot {
            active: 0,
            suspended: 0,
            in_flight: 0,
            usage: vec![],
            latency: CallLatency { latency, sum_us },
        };
        let out = text(s);
        let lines: Vec<&str> = out.lines().filter(|l| l.contains("wasmclaw_call_duration")).collect();
        assert!(lines.contains(&"# TYPE wasmclaw_call_duration_seconds histogram"), "{out}");
        for expected in [
            "wasmclaw_call_duration_seconds_bucket{le=\"0.0001\"} 2",
            "wasmclaw_call_duration_seconds_bucket{le=\"0.0025\"} 2",
            "wasmclaw_call_duration_seconds_bucket{le=\"0.005\"} 3",
            "wasmclaw_call_duration_seconds_bucket{le=\"60\"} 3",
            "wasmclaw_call_duration_seconds_bucket{le=\"+Inf\"} 4",
            "wasmclaw_call_duration_seconds_count 4",
            "wasmclaw_call_duration_seconds_sum 90.00317",
        ] {
            assert!(lines.contains(&expected), "{expected} in:\n{}", lines.join("\n"));
        }
    }

    #[test]
    fn no_usage_still_describes_every_family() {
        let s = Snapshot {
            active: 0,
            suspended: 0,
            in_flight: 0,
            usage: vec![],
            latency: CallLatency::default(),
        };
        let out = text(s);
        for name in [
            "wasmclaw_tenants",
            "wasmclaw_requests_in_flight",
            "wasmclaw_calls_total",
            "wasmclaw_fuel_consumed_total",
            "wasmclaw_call_wall_seconds_total",
            "wasmclaw_call_memory_peak_bytes",
            "wasmclaw_cost_total",
            "wasmclaw_call_errors_total",
            "wasmclaw_call_duration_seconds",
        ] {
            assert!(out.contains(&format!("# TYPE {name} ")), "{name}:\n{out}");
        }
        assert!(!out.contains("tenant="), "{out}");
    }
}
