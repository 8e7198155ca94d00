//! Scheduling without plug-ins: the JoinPatcher. A meeting whose location
//! holds a keyword gets a meeting from the organisation's meeting service
//! and a join block in its body, in the organiser's language; time changes,
//! keyword removal and cancellation are followed through. It runs inside
//! each organiser's mailbox actor, so its writes are serialised with that
//! mailbox's other work and its Graph calls share that mailbox's budget.

pub mod patch;
pub mod plan;
pub mod provider;
pub mod settings;

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures_util::FutureExt;
use hcal_schemas::events::mailbox::{JoinDetailsFailed, ProviderMeeting};
use hcal_schemas::{MailboxEvent, StreamId, Timestamp};

use hcal_joinlink::{Detector, DetectorConfig, KeywordAction, RuleSet, TemplateConfig, Templates};
use hcal_schemas::events::mailbox::JoinAction;

pub use patch::{JOIN_PROPERTY, JoinError, Patcher};
pub use plan::{JoinFacts, JoinTask, may_have_keyword, plan};
pub use provider::{HttpProvider, MeetingProvider, Provider, SiteProvider};

/// An organisation's join configuration, validated and built.
#[derive(Clone)]
pub struct JoinSetup {
    pub detector: Arc<Detector>,
    pub templates: Arc<Templates>,
    pub provider: Arc<Provider>,
    actions: HashMap<String, JoinAction>,
}

#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("join detection: {0}")]
    Detector(#[from] hcal_joinlink::detect::ConfigError),
    #[error("join templates: {0}")]
    Templates(#[from] hcal_joinlink::BlockError),
}

fn action(a: KeywordAction) -> JoinAction {
    match a {
        KeywordAction::PersonalRoom => JoinAction::PersonalRoom,
        KeywordAction::Space => JoinAction::Space,
        KeywordAction::OneTime => JoinAction::OneTime,
    }
}

impl JoinSetup {
    pub fn new(
        detector: DetectorConfig,
        rules: Option<RuleSet>,
        templates: TemplateConfig,
        provider: Provider,
    ) -> Result<Self, SetupError> {
        let actions = detector
            .keywords
            .iter()
            .map(|k| (k.keyword.to_lowercase(), action(k.default_action)))
            .collect();
        let detector = Detector::new(detector, rules.unwrap_or_else(RuleSet::empty))?;
        Ok(Self {
            detector: Arc::new(detector),
            templates: Arc::new(Templates::new(templates)?),
            provider: Arc::new(provider),
            actions,
        })
    }

    /// Keywords `@webex` and `@meet`, a site meeting service, built-in templates.
    pub fn defaults() -> Result<Self, SetupError> {
        Self::new(
            DetectorConfig::default(),
            None,
            TemplateConfig::default(),
            Provider::Site(SiteProvider::default()),
        )
    }

    /// What a keyword creates when written without a modifier.
    pub fn default_action(&self, keyword: &str) -> JoinAction {
        self.actions
            .get(&keyword.to_lowercase())
            .copied()
            .unwrap_or(JoinAction::PersonalRoom)
    }
}

impl std::fmt::Debug for JoinSetup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JoinSetup")
            .field("provider", &self.provider.id())
            .finish_non_exhaustive()
    }
}

/// Runs `tasks` one after another; the events recording what was done, and
/// how many failed. A failed decoration is recorded with Graph's (or the
/// provider's) code and, if worth retrying, when to try again. A panic in a
/// task is that task's failure only.
pub async fn run_tasks(
    patcher: &Patcher,
    stream: &StreamId,
    tasks: &[JoinTask],
    known: &HashMap<String, (String, ProviderMeeting)>,
    attempts: &HashMap<String, u32>,
    now: Timestamp,
) -> (Vec<MailboxEvent>, u32) {
    let mut events = Vec::new();
    let mut failures = 0;
    for task in tasks {
        let meeting = match task {
            JoinTask::Decorate { event_id, .. } => known.get(event_id),
            _ => None,
        };
        let (code, retryable) = match AssertUnwindSafe(patcher.run(stream, task, meeting))
            .catch_unwind()
            .await
        {
            Ok(Ok(done)) => {
                events.extend(done);
                continue;
            }
            Ok(Err(e)) => (e.code(), e.is_retryable()),
            Err(_) => ("panicked".to_string(), true),
        };
        failures += 1;
        metrics::counter!("hcal_join_failures_total").increment(1);
        if let JoinTask::Decorate { event_id, .. } = task {
            let attempt = attempts.get(event_id).copied().unwrap_or(0) + 1;
            let delay = (30_000i64 << attempt.min(7)).min(3_600_000);
            let retry_at = retryable.then(|| now.plus_millis(delay));
            events.push(
                JoinDetailsFailed {
                    event_id: event_id.clone(),
                    code,
                    attempt,
                    retry_at,
                }
                .into(),
            );
        }
    }
    (events, failures)
}
