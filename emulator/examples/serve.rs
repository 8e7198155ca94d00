//! Run the emulator from the command line (for the conformance script and by hand):
//! `cargo run -p hcal-emulator --example serve -- --listen 127.0.0.1:0 [--seed seed.json]`.
//! Prints the base URL on the first line of stdout, then serves until killed.

use hcal_emulator::{EmulatorConfig, EmulatorHandle, Seed};
use std::io::Write;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let mut listen = "127.0.0.1:0".to_string();
    let mut seed = Seed::example();
    let mut i = 1;
    while i < args.len() {
        match args[i].as_str() {
            "--listen" if i + 1 < args.len() => {
                listen = args[i + 1].clone();
                i += 1;
            }
            "--seed" if i + 1 < args.len() => {
                seed = Seed::from_json(&std::fs::read_to_string(&args[i + 1])?)?;
                i += 1;
            }
            other => return Err(format!("unknown argument {other}").into()),
        }
        i += 1;
    }
    let emu = EmulatorHandle::spawn_thread_on(listen.parse()?, seed, EmulatorConfig::default())?;
    println!("{}", emu.base_url());
    std::io::stdout().flush()?;
    loop {
        std::thread::park();
    }
}
