use std::process::ExitCode;

fn main() -> ExitCode {
    hcal::cli::main()
}
