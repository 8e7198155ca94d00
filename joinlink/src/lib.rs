//! How hcal finds a meeting's join target, and the join block it writes into event bodies.
//!
//! Pure and I/O-free, so it can be property-tested over a large corpus without the node:
//!
//! - [`keyword`]: scheduling keywords in the location (`@webex`, `@meet:space`, ...).
//! - [`urls`], [`html`], [`safelinks`], [`providers`]: finding links in text and HTML bodies,
//!   unwrapping SafeLinks and other rewriters, and naming the meeting service.
//! - [`rules`]: org-defined regex rules with rewrite templates, loaded from JSON.
//! - [`detect`]: the [`Detector`] that ranks everything into one join target and
//!   [`explain`]s the outcome; [`graph`] reads Graph event JSON.
//! - [`render`] and [`block`]: the localised join block and splicing it into a body so it can
//!   later be found, replaced or removed byte-exactly.
//! - [`corpus`]: the invitation corpus as Graph-event inputs, for benchmarks.
//!
//! Nothing here panics on input: every public function accepts arbitrary strings and JSON,
//! work is bounded (body bytes scanned, links per source, unwrap passes, regex sizes).

pub mod block;
pub mod corpus;
pub mod detect;
pub mod explain;
pub mod graph;
pub mod html;
pub mod keyword;
pub mod labels;
pub mod providers;
pub mod render;
pub mod rules;
pub mod safelinks;
pub mod urls;

pub use block::{
    BlockFormat, FoundBlock, block_hash, find_block, find_blocks, is_unmodified, remove_block, splice_block,
};
pub use detect::{
    BodyKind, Candidate, ConfigError, Detection, Detector, DetectorConfig, EventInput, Source, SourceKind,
};
pub use explain::{Explanation, InvalidCode};
pub use graph::{detect_graph_event, event_input};
pub use keyword::{KeywordAction, KeywordMatch, KeywordSpec, Modifier};
pub use render::{BlockError, DialIn, HeaderFooter, JoinBlock, JoinDetails, TemplateConfig, Templates};
pub use rules::{RuleError, RuleSet};
