//! An organisation's join settings as an admin writes them
//! (`PUT /admin/v1/orgs/{org}/join-settings`), validated by building them.

use std::collections::BTreeMap;

use hcal_joinlink::{DetectorConfig, HeaderFooter, KeywordAction, KeywordSpec, RuleSet, TemplateConfig};
use hcal_schemas::events::mailbox::JoinAction;
use hcal_schemas::events::tenant::{JoinSettings, ProviderSettings};
use serde::Deserialize;

use super::provider::{HttpProvider, Provider, SiteProvider};
use super::{JoinSetup, SetupError};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeywordInput {
    pub keyword: String,
    pub default_action: JoinAction,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DialInput {
    pub label: String,
    pub number: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ProviderInput {
    Site {
        #[serde(default)]
        provider: Option<String>,
        site: String,
        #[serde(default)]
        dial_in: Vec<DialInput>,
    },
    Http {
        provider: String,
        url: String,
        token: String,
    },
}

/// The admin's JSON. Anything left out keeps hcal's default.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JoinSettingsInput {
    #[serde(default)]
    pub keywords: Option<Vec<KeywordInput>>,
    /// A rules file's content (`{"version":1,"rules":[...]}`).
    #[serde(default)]
    pub rules: Option<serde_json::Value>,
    #[serde(default)]
    pub templates: Option<TemplateConfig>,
    #[serde(default)]
    pub provider: Option<ProviderInput>,
}

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error(transparent)]
    Setup(#[from] SetupError),
    #[error("rules: {0}")]
    Rules(String),
    #[error("provider: {0}")]
    Provider(String),
    #[error("keywords: {0}")]
    Keywords(String),
}

fn keyword_action(a: JoinAction) -> KeywordAction {
    match a {
        JoinAction::PersonalRoom => KeywordAction::PersonalRoom,
        JoinAction::Space => KeywordAction::Space,
        JoinAction::OneTime => KeywordAction::OneTime,
    }
}

fn valid_host(h: &str) -> bool {
    !h.is_empty()
        && h.len() <= 253
        && h.split('.').count() >= 2
        && h.split('.')
            .all(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
}

/// The settings as a setup hcal can run (provider token given in the clear).
pub fn build(s: &JoinSettings, token: Option<&str>) -> Result<JoinSetup, SettingsError> {
    let detector = DetectorConfig {
        keywords: s
            .keywords
            .iter()
            .map(|(k, a)| KeywordSpec {
                keyword: k.clone(),
                default_action: keyword_action(*a),
            })
            .collect(),
        ..DetectorConfig::default()
    };
    let rules = match &s.rules_json {
        Some(text) => Some(RuleSet::from_json(text).map_err(|e| SettingsError::Rules(e.to_string()))?),
        None => None,
    };
    let templates = TemplateConfig {
        default_language: s.default_language.clone(),
        custom: s
            .custom
            .iter()
            .map(|(lang, header, footer)| {
                (
                    lang.clone(),
                    HeaderFooter {
                        header: header.clone(),
                        footer: footer.clone(),
                    },
                )
            })
            .collect::<BTreeMap<_, _>>(),
    };
    let provider = match &s.provider {
        ProviderSettings::Site {
            provider,
            site,
            dial_in,
        } => {
            if !valid_host(site) {
                return Err(SettingsError::Provider(
                    "site must be a host name such as contoso.webex.com".into(),
                ));
            }
            Provider::Site(SiteProvider {
                provider: provider.clone(),
                site: site.clone(),
                dial_in: dial_in.clone(),
            })
        }
        ProviderSettings::Http { provider, url, .. } => {
            let token = token.ok_or_else(|| SettingsError::Provider("the meeting service token is missing".into()))?;
            Provider::Http(HttpProvider::new(provider, url, token).map_err(|e| SettingsError::Provider(e.to_string()))?)
        }
    };
    Ok(JoinSetup::new(detector, rules, templates, provider)?)
}

/// Merges the admin's input over hcal's defaults and builds it (which
/// validates it). `seal` seals the meeting service's token for the log.
pub fn settings(
    input: JoinSettingsInput,
    seal: impl FnOnce(&str) -> Result<hcal_schemas::Sealed<String>, String>,
) -> Result<(JoinSettings, JoinSetup), SettingsError> {
    let keywords: Vec<(String, JoinAction)> = match input.keywords {
        Some(k) => {
            if k.is_empty() || k.len() > 32 {
                return Err(SettingsError::Keywords("give 1 to 32 keywords".into()));
            }
            for kw in &k {
                let ok = kw.keyword.starts_with('@')
                    && kw.keyword.len() >= 2
                    && kw.keyword.len() <= 32
                    && kw.keyword[1..]
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
                if !ok {
                    return Err(SettingsError::Keywords(format!(
                        "{:?} is not a keyword (@ and up to 31 letters, digits, - or _)",
                        kw.keyword
                    )));
                }
            }
            k.into_iter()
                .map(|k| (k.keyword.to_lowercase(), k.default_action))
                .collect()
        }
        None => DetectorConfig::default()
            .keywords
            .into_iter()
            .map(|k| {
                let a = match k.default_action {
                    KeywordAction::PersonalRoom => JoinAction::PersonalRoom,
                    KeywordAction::Space => JoinAction::Space,
                    KeywordAction::OneTime => JoinAction::OneTime,
                };
                (k.keyword, a)
            })
            .collect(),
    };
    let templates = input.templates.unwrap_or_default();
    let (provider, token) = match input.provider {
        None => {
            let d = SiteProvider::default();
            (
                ProviderSettings::Site {
                    provider: d.provider,
                    site: d.site,
                    dial_in: d.dial_in,
                },
                None,
            )
        }
        Some(ProviderInput::Site {
            provider,
            site,
            dial_in,
        }) => (
            ProviderSettings::Site {
                provider: provider.unwrap_or_else(|| "webex".into()),
                site,
                dial_in: dial_in.into_iter().map(|d| (d.label, d.number)).collect(),
            },
            None,
        ),
        Some(ProviderInput::Http { provider, url, token }) => {
            let sealed = seal(&token).map_err(SettingsError::Provider)?;
            (
                ProviderSettings::Http {
                    provider,
                    url,
                    token: sealed,
                },
                Some(token),
            )
        }
    };
    let settings = JoinSettings {
        keywords,
        rules_json: input.rules.map(|r| r.to_string()),
        default_language: templates.default_language.clone(),
        custom: templates
            .custom
            .into_iter()
            .map(|(l, hf)| (l, hf.header, hf.footer))
            .collect(),
        provider,
    };
    let setup = build(&settings, token.as_deref())?;
    Ok((settings, setup))
}
