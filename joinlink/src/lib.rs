//! Join-link detection (skeleton; built out by issue 6).
