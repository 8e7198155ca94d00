use std::process::ExitCode;

/// jemalloc, for what `hcal::memory` says.
#[global_allocator]
static ALLOCATOR: hcal::memory::Allocator = hcal::memory::Allocator;

fn main() -> ExitCode {
    hcal::cli::main()
}
