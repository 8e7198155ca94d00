use std::process::ExitCode;

/// jemalloc, for what `hcal::trim` says.
#[global_allocator]
static ALLOCATOR: hcal::trim::Allocator = hcal::trim::Allocator;

fn main() -> ExitCode {
    hcal::cli::main()
}
