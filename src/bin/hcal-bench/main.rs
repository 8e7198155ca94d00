//! hcal's benchmarks. Each prints its figures as JSON lines on stdout; a
//! ratio is always between two figures measured in the same run. The
//! default size of every benchmark finishes within a minute here.

mod baseline;
mod decorate;
mod emulator;
mod heap;
mod ingest;
mod join;
mod log;
mod pipeline;
mod report;
mod tap;
mod world;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Counts live heap bytes while a benchmark asks it to (`pipeline`).
#[global_allocator]
static HEAP: heap::Counting = heap::Counting;

#[derive(Parser)]
#[command(name = "hcal-bench", about = "hcal's benchmarks (JSON lines on stdout)")]
struct Cli {
    #[command(subcommand)]
    bench: Bench,
}

#[derive(Subcommand)]
enum Bench {
    /// Durable appends (1 and N appenders) and replay, against raw sled.
    Log {
        /// Events appended by the concurrent appenders (also what replay reads).
        #[arg(long, default_value_t = 40_000)]
        events: usize,
        #[arg(long, default_value_t = 32)]
        appenders: usize,
    },
    /// Notifications from HTTP to the durable inbox to 202, against raw sled.
    Ingest {
        #[arg(long, default_value_t = 64)]
        senders: usize,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
    },
    /// GET-event requests per second the Graph emulator answers one keep-alive client (pinned and unpinned).
    Emulator {
        /// Seconds measured per run (two runs).
        #[arg(long, default_value_t = 5.0)]
        seconds: f64,
    },
    /// Join-link detection throughput over the invitation corpus; then keyword meetings decorated end to end.
    Join {
        /// Detections run (the corpus repeated as often as needed).
        #[arg(long, default_value_t = 200_000)]
        events: usize,
        /// Keyword meetings created in the emulator and decorated by the node (0: detection only).
        #[arg(long, default_value_t = 4_000)]
        decorations: usize,
        /// New keyword meetings per second.
        #[arg(long, default_value_t = 200.0)]
        rate: f64,
        /// Organisers the meetings are spread over.
        #[arg(long, default_value_t = 200)]
        mailboxes: usize,
    },
    /// Calendar changes from emulator edit to mailbox state applied; memory per mailbox; activation time.
    Pipeline {
        #[arg(long, default_value_t = 1_000)]
        mailboxes: usize,
        /// Edits in each of the two phases (paced, then unpaced).
        #[arg(long, default_value_t = 5_000)]
        changes: usize,
        /// Offered edits per second in the paced phase.
        #[arg(long, default_value_t = 1_000.0)]
        rate: f64,
        #[arg(long, default_value_t = 20)]
        meetings: usize,
        /// Mailbox idle time before passivation (default: 3 x mailboxes / rate, at least 5).
        #[arg(long)]
        idle_secs: Option<u64>,
        /// Edits in flight at once.
        #[arg(long, default_value_t = 64)]
        in_flight: usize,
        /// Most notifications per POST from the emulator (Graph's default 10; it has one POST in flight per URL).
        #[arg(long, default_value_t = 10)]
        notification_batch: usize,
        /// The node's sled page cache, MiB (default: the node's `log.cache_mib`); the heap
        /// figures include what it holds.
        #[arg(long)]
        log_cache_mib: Option<u64>,
    },
    /// The Graph emulator for `pipeline`, in its own process (internal).
    #[command(hide = true)]
    PipelineEmulator {
        #[arg(long)]
        users: usize,
        #[arg(long)]
        meetings: usize,
        #[arg(long)]
        notification_batch: usize,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The node's own logs, on stderr, only when asked for (HCAL_LOG=warn, ...).
    if std::env::var_os("HCAL_LOG").is_some() {
        hcal::telemetry::init(hcal::telemetry::LogFormat::Human);
    }
    let result = match cli.bench {
        Bench::Log { events, appenders } => log::run(&log::LogBench { events, appenders }, &report::Report::new("log")),
        Bench::Ingest { senders, seconds } => ingest::run(
            &ingest::IngestBench { senders, seconds },
            &report::Report::new("ingest"),
        ),
        Bench::Emulator { seconds } => {
            emulator::run(&emulator::EmulatorBench { seconds }, &report::Report::new("emulator"))
        }
        Bench::Join {
            events,
            decorations,
            rate,
            mailboxes,
        } => {
            let report = report::Report::new("join");
            join::run(&join::JoinBench { events }, &report).and_then(|()| {
                if decorations == 0 {
                    return Ok(());
                }
                let args = decorate::DecorateBench {
                    mailboxes,
                    decorations,
                    rate,
                };
                decorate::run(&args, &report)
            })
        }
        Bench::Pipeline {
            mailboxes,
            changes,
            rate,
            meetings,
            idle_secs,
            in_flight,
            notification_batch,
            log_cache_mib,
        } => pipeline::run(
            &pipeline::PipelineBench {
                mailboxes,
                changes,
                rate,
                meetings,
                idle_secs,
                in_flight,
                notification_batch,
                log_cache_mib,
            },
            &report::Report::new("pipeline"),
        ),
        Bench::PipelineEmulator {
            users,
            meetings,
            notification_batch,
        } => world::serve_emulator(users, meetings, notification_batch),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hcal-bench: {e}");
            ExitCode::FAILURE
        }
    }
}
