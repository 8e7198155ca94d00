//! Prints the detection output for every corpus case: `cargo run -p hcal-joinlink --example corpus_dump`.

use hcal_joinlink::{Detector, corpus, detect_graph_event};

fn main() {
    let detector = Detector::default();
    let cases = match corpus::cases() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    for case in cases {
        let out = detect_graph_event(&case.event, &detector);
        println!("{}: {}", case.name, out);
    }
}
