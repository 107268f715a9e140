//! Prometheus: the recorder behind the `metrics` facade (`relops_ops::metrics` names every
//! metric), `GET /metrics`, and the time each route family takes ([`Timed`]).
//!
//! One recorder per process (the facade's is global): the first [`handle`] installs it,
//! and a thread drains its histogram buffers every few seconds whether or not anyone
//! scrapes. With `[http] metrics = false` none is installed: the facade's calls do
//! nothing.

use std::sync::OnceLock;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::AppState;
use crate::error::ApiResult;

/// Latency buckets, in seconds: 0.5 ms to 10 s.
const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The process's Prometheus recorder, installed on first use.
pub fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(
                Matcher::Full("relops_http_request_duration_seconds".into()),
                &BUCKETS,
            )
            .expect("the latency buckets are not empty")
            .build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("another metrics recorder is installed: /metrics shows nothing");
        }
        relops_ops::metrics::describe();
        let upkeep = handle.clone();
        std::thread::Builder::new()
            .name("metrics-upkeep".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(Duration::from_secs(5));
                    upkeep.run_upkeep();
                }
            })
            .expect("a thread for the metrics' upkeep");
        handle
    })
}

/// `GET /metrics`: the Prometheus text format; the gauges are set to the state now first.
pub async fn scrape(State(state): State<AppState>, headers: HeaderMap) -> ApiResult<Response> {
    if !state.ops.config().http.metrics {
        return Err(relops_ops::OpError::NotFound(
            "metrics are off on this server: set [http] metrics = true to record and serve them"
                .into(),
        )
        .into());
    }
    if !state.ops.config().http.metrics_public {
        crate::auth::authenticate(&state, &headers).await?;
    }
    state.ops.refresh_gauges().await?;
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        handle().render(),
    )
        .into_response())
}

/// Records how long the wrapped routes take, as `relops_http_request_duration_seconds`
/// with the route family as label.
#[derive(Debug, Clone, Copy)]
pub struct Timed(pub &'static str);

impl<S> tower::Layer<S> for Timed {
    type Service = TimedService<S>;
    fn layer(&self, inner: S) -> TimedService<S> {
        TimedService {
            inner,
            family: self.0,
        }
    }
}

#[derive(Debug, Clone)]
pub struct TimedService<S> {
    inner: S,
    family: &'static str,
}

impl<S, R> tower::Service<R> for TimedService<S>
where
    S: tower::Service<R>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = TimedFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: R) -> Self::Future {
        TimedFuture {
            inner: self.inner.call(req),
            start: Instant::now(),
            family: self.family,
        }
    }
}

pin_project_lite::pin_project! {
    /// The answer's future, timed from the call to its completion.
    #[derive(Debug)]
    pub struct TimedFuture<F> {
        #[pin]
        inner: F,
        start: Instant,
        family: &'static str,
    }
}

impl<F: std::future::Future> std::future::Future for TimedFuture<F> {
    type Output = F::Output;
    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let out = std::task::ready!(this.inner.poll(cx));
        metrics::histogram!("relops_http_request_duration_seconds", "family" => *this.family)
            .record(this.start.elapsed().as_secs_f64());
        Poll::Ready(out)
    }
}

#[cfg(test)]
mod tests {
    /// The metric names a text mentions (`relops_…`, a histogram's `_bucket`, `_count` and
    /// `_sum` series as the histogram).
    fn names(text: &str) -> std::collections::BTreeSet<String> {
        let mut found = std::collections::BTreeSet::new();
        for (i, _) in text.match_indices("relops_") {
            let name: String = text[i..]
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
                .collect();
            let base = ["_bucket", "_count", "_sum"]
                .iter()
                .find_map(|s| name.strip_suffix(s))
                .unwrap_or(&name);
            found.insert(base.to_owned());
        }
        found
    }

    /// Every query of the Grafana dashboard names a metric relops exports, and the
    /// dashboard shows every one; docs/metrics.md documents every one.
    #[test]
    fn the_dashboard_and_the_docs_name_exported_metrics() {
        let exported: std::collections::BTreeSet<String> = relops_ops::metrics::METRICS
            .iter()
            .map(|(n, _, _)| (*n).to_owned())
            .collect();
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
        let dash: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(format!("{root}/deploy/grafana/relops.json")).unwrap(),
        )
        .unwrap();
        let mut queries = Vec::new();
        for p in dash["panels"].as_array().unwrap() {
            for t in p["targets"].as_array().unwrap() {
                queries.push(t["expr"].as_str().unwrap().to_owned());
            }
        }
        for v in dash["templating"]["list"].as_array().unwrap() {
            if let Some(q) = v["query"].as_str() {
                queries.push(q.to_owned());
            }
        }
        assert!(queries.len() >= 10);
        let mut used = std::collections::BTreeSet::new();
        for q in &queries {
            let n = names(q);
            assert!(
                !n.is_empty() || q == "prometheus",
                "{q} names no relops metric"
            );
            for name in n {
                assert!(
                    exported.contains(&name),
                    "the dashboard queries {name}, which relops does not export: {q}"
                );
                used.insert(name);
            }
        }
        assert_eq!(used, exported, "every exported metric is on the dashboard");
        let docs = std::fs::read_to_string(format!("{root}/docs/metrics.md")).unwrap();
        for name in &exported {
            assert!(
                docs.contains(&format!("`{name}`")),
                "docs/metrics.md does not document {name}"
            );
        }
        assert!(
            names(&docs).is_subset(&exported),
            "docs/metrics.md names a metric relops does not export"
        );
    }
}
