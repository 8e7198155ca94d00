//! `hcal join-detect`: keyword and join-link detection on one Graph event,
//! as the node runs it, for checking an invitation or a rules file by hand.
//! One event JSON object on stdin, one detection JSON object on stdout.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use clap::Args;
use hcal_joinlink::{Detector, DetectorConfig, detect_graph_event};

use super::CliError;

/// Largest event read from stdin (Graph bodies are limited far below this).
const MAX_INPUT_BYTES: u64 = 16 * 1024 * 1024;

#[derive(Debug, Args)]
pub struct JoinDetectArgs {
    /// An org rules file (JSON, see joinlink/rules.example.json).
    #[arg(long)]
    pub rules: Option<PathBuf>,
}

fn detector(rules: Option<&Path>) -> Result<Detector, CliError> {
    let text = match rules {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .map_err(|e| CliError::Input(format!("cannot read the rules file {}: {e}", path.display())))?,
        ),
        None => None,
    };
    Detector::from_config(DetectorConfig::default(), text.as_deref()).map_err(|e| match rules {
        Some(path) => CliError::Input(format!("{}: {}", path.display(), one_line(&e.to_string()))),
        None => CliError::Input(one_line(&e.to_string())),
    })
}

/// A message on one line. Regex errors quote the pattern over several lines with a caret
/// under the fault; the first line and the last (the fault) say enough.
pub(super) fn one_line(message: &str) -> String {
    let lines: Vec<&str> = message.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    match lines.as_slice() {
        [] => String::new(),
        [only] => (*only).to_string(),
        [first, .., last] => format!(
            "{}: {}",
            first.trim_end_matches(':'),
            last.trim_start_matches("error: ")
        ),
    }
}

/// The event on `input`: exactly one JSON object.
fn read_event(input: impl Read) -> Result<serde_json::Value, CliError> {
    let mut bytes = Vec::new();
    input
        .take(MAX_INPUT_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| CliError::Input(format!("cannot read stdin: {e}")))?;
    if bytes.len() as u64 > MAX_INPUT_BYTES {
        return Err(CliError::Input(format!(
            "stdin holds more than {MAX_INPUT_BYTES} bytes; one Graph event is expected"
        )));
    }
    // serde_json's messages give a position, never the input itself.
    let value: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|e| CliError::Input(format!("stdin is not one JSON object: {e}")))?;
    if !value.is_object() {
        return Err(CliError::Input(
            "stdin holds JSON, but not an object; one Graph event object is expected".into(),
        ));
    }
    Ok(value)
}

pub fn run(args: &JoinDetectArgs) -> Result<(), CliError> {
    let detector = detector(args.rules.as_deref())?;
    let event = read_event(std::io::stdin().lock())?;
    let out = detect_graph_event(&event, &detector);
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{out}")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_one_json_object_is_an_event() {
        assert!(read_event(&br#"{"subject": "x"}"#[..]).is_ok());
        for bad in [&b"{"[..], b"[1, 2]", b"", b"{} {}"] {
            let e = read_event(bad).expect_err("not an event");
            assert!(matches!(e, CliError::Input(_)), "{e}");
            assert_eq!(e.to_string().lines().count(), 1, "{e}");
        }
    }

    #[test]
    fn messages_are_made_one_line() {
        assert_eq!(
            one_line("pattern does not compile: regex parse error:\n    (\n    ^\nerror: unclosed group\n"),
            "pattern does not compile: regex parse error: unclosed group"
        );
        assert_eq!(one_line("plain"), "plain");
    }

    #[test]
    fn a_missing_rules_file_is_an_input_error() {
        let e = detector(Some(Path::new("/nonexistent/rules.json"))).expect_err("missing");
        assert!(e.to_string().starts_with("cannot read the rules file"), "{e}");
        assert!(detector(None).is_ok());
    }
}
