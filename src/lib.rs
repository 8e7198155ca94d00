//! The hcal node: its command line, configuration, HTTP surfaces and
//! telemetry. The engine lives in `hcal-actors`, the data shapes in
//! `hcal-schemas`, the Graph emulator in `hcal-emulator`.

pub mod cli;
pub mod config;
pub mod demo;
pub mod http;
pub mod memory;
pub mod node;
pub mod telemetry;
