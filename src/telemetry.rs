//! Tracing to stderr: human-readable by default, JSON lines with
//! `--log-format json`. The filter comes from `HCAL_LOG` (or `RUST_LOG`),
//! default `info`.

use clap::ValueEnum;
use tracing_subscriber::EnvFilter;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    #[default]
    Human,
    Json,
}

const QUIET: &str = "actix_web=info,actix_http=info,actix_server=info,reqwest=info,hyper=info,hyper_util=info,h2=info";

pub fn init(format: LogFormat) {
    let wanted = std::env::var("HCAL_LOG")
        .ok()
        .or_else(|| std::env::var("RUST_LOG").ok())
        .unwrap_or_else(|| "info".into());
    // The HTTP stacks log request paths and URLs at debug, and paths carry
    // mail addresses: they stay at info whatever the operator asks for.
    let filter = EnvFilter::try_new(format!("{wanted},{QUIET}"))
        .or_else(|_| EnvFilter::try_new(format!("info,{QUIET}")))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // A second init (tests) keeps the first subscriber.
    let _ = match format {
        LogFormat::Human => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

/// The process's Prometheus recorder (installed once; every node in the
/// process shares it), whose handle renders `/metrics`.
pub fn metrics() -> metrics_exporter_prometheus::PrometheusHandle {
    static HANDLE: std::sync::OnceLock<metrics_exporter_prometheus::PrometheusHandle> = std::sync::OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            // Another recorder may be installed already (embedding); then ours only renders.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}
