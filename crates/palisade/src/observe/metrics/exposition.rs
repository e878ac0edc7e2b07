//! The bound listener's histograms in the Prometheus text format.
//!
//! A listener bound to a [`PrometheusMetrics`](crate::observe::PrometheusMetrics) aggregates
//! its histograms per thread (see `pending`), so the exporter holds no samples of them; the
//! listener writes them after the exporter's own output, in the exporter's format (its
//! formatting helpers, the same `# HELP`/`# TYPE` lines, `le` buckets, `_sum` and `_count`).

use metrics_exporter_prometheus::formatting::{
    sanitize_label_value, write_help_line, write_type_line,
};
use std::fmt::Write;

use super::MetricsListener;
use super::table::{METRICS, MetricKind};

impl MetricsListener {
    /// Appends every histogram with samples to `out`, one family per metric, one series per
    /// policy name. Nothing for a listener that is not bound.
    pub(crate) fn write_histograms(&self, out: &mut String) {
        let inner = &*self.inner;
        for (metric, info) in METRICS.iter().enumerate() {
            if info.kind != MetricKind::Histogram {
                continue;
            }
            let name = inner.names[metric].as_ref();
            let mut family = false;
            for entry in inner.entries.iter() {
                let Some(aggregate) = entry.pending.as_ref().and_then(|p| p.aggregate(metric))
                else {
                    continue;
                };
                if !family {
                    write_help_line(out, name, None, None, info.help);
                    write_type_line(out, name, None, None, "histogram");
                    family = true;
                }
                let label = sanitize_label_value(&entry.label);
                for (bound, count) in &aggregate.buckets {
                    let _ = writeln!(
                        out,
                        "{name}_bucket{{name=\"{label}\",le=\"{bound}\"}} {count}"
                    );
                }
                let count = aggregate.count;
                let _ = writeln!(out, "{name}_bucket{{name=\"{label}\",le=\"+Inf\"}} {count}");
                let _ = writeln!(out, "{name}_sum{{name=\"{label}\"}} {}", aggregate.sum);
                let _ = writeln!(out, "{name}_count{{name=\"{label}\"}} {count}");
            }
            if family {
                out.push('\n');
            }
        }
    }
}
