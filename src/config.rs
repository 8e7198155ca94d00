//! The node's configuration: a TOML file, every key overridable from the
//! environment (`HCAL_` + the key in capitals, dots as underscores:
//! `subscriptions.lifetime_minutes` is `HCAL_SUBSCRIPTIONS_LIFETIME_MINUTES`).
//! Secrets come only from files or the environment, never from the file
//! itself, and never appear in Debug output or logs. A bad or missing value
//! stops start-up with one sentence naming the key.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use hcal_actors::keys::MasterKeySource;
use hcal_actors::log::LogOptions;
use zeroize::Zeroizing;

/// A secret string: zeroized on drop, `<secret>` in Debug.
#[derive(Clone)]
pub struct Secret(Zeroizing<String>);

impl Secret {
    pub fn new(s: String) -> Self {
        Self(Zeroizing::new(s))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<secret>")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the config file {path}: {reason}")]
    File { path: PathBuf, reason: String },
    #[error("config key `{key}` ({env}): {problem}")]
    Key {
        key: &'static str,
        env: String,
        problem: String,
    },
    #[error("unknown config key `{0}`")]
    Unknown(String),
    #[error(
        "config key `{0}` holds a secret; secrets come only from a file or the environment (`{0}_file` or HCAL_{upper})",
        upper = .0.to_uppercase()
    )]
    SecretInFile(String),
}

#[derive(Clone, Debug)]
pub struct SubscriptionSettings {
    /// Requested lifetime of a subscription (Graph caps it at 10,080 minutes).
    pub lifetime: Duration,
    /// Renew when less than this is left (spread by a per-subscription jitter).
    pub renew_before: Duration,
    /// How often due work (renewals, retries) is looked for.
    pub tick: Duration,
}

#[derive(Clone, Debug)]
pub struct MailboxSettings {
    pub window_back_days: i64,
    pub window_ahead_days: i64,
    /// A mailbox actor idle this long is passivated.
    pub idle: Duration,
}

#[derive(Clone, Debug)]
pub struct Config {
    pub listen: SocketAddr,
    /// The base URL Graph calls back (webhooks) and admins' browsers return to.
    pub public_url: String,
    pub data_dir: PathBuf,
    pub graph_url: String,
    pub login_url: String,
    pub client_id: String,
    pub client_secret: Secret,
    pub admin_token: Secret,
    pub master_key: MasterKeySource,
    /// Lets `POST /admin/v1/clock` move the node's clock (tests, demo). Off in production.
    pub adjustable_clock: bool,
    /// Lets `POST /admin/v1/mailboxes/{email}/faults` inject failures (drills). Off in production.
    pub fault_injection: bool,
    /// Largest webhook body accepted.
    pub max_body_bytes: usize,
    pub subscriptions: SubscriptionSettings,
    pub mailbox: MailboxSettings,
    /// The subject shown for private and confidential meetings.
    pub private_subject: String,
    /// sled's page cache over the log, bytes.
    pub log_cache_bytes: u64,
}

/// Every key the file may hold, with its default (None: required).
const KEYS: &[(&str, Option<&str>)] = &[
    ("listen", Some("127.0.0.1:8080")),
    ("public_url", None),
    ("data_dir", None),
    ("graph_url", Some("https://graph.microsoft.com")),
    ("login_url", Some("https://login.microsoftonline.com")),
    ("client_id", None),
    ("client_secret_file", Some("")),
    ("admin_token_file", Some("")),
    ("master_key_file", Some("")),
    ("adjustable_clock", Some("false")),
    ("fault_injection", Some("false")),
    ("max_body_bytes", Some("4194304")),
    ("subscriptions.lifetime_minutes", Some("4230")),
    ("subscriptions.renew_before_minutes", Some("1440")),
    ("subscriptions.tick_seconds", Some("30")),
    ("mailbox.window_back_days", Some("7")),
    ("mailbox.window_ahead_days", Some("31")),
    ("mailbox.idle_seconds", Some("600")),
    ("private_subject", Some("Private meeting")),
    ("log.cache_mib", Some("1")),
];

const SECRETS: &[&str] = &["client_secret", "admin_token", "master_key"];

fn env_name(key: &str) -> String {
    format!("HCAL_{}", key.replace('.', "_").to_uppercase())
}

/// Key values after file and environment, as text.
struct Values {
    map: BTreeMap<&'static str, String>,
}

impl Values {
    fn get(&self, key: &'static str) -> &str {
        self.map.get(key).map(String::as_str).unwrap_or("")
    }

    fn err(key: &'static str, problem: impl Into<String>) -> ConfigError {
        ConfigError::Key {
            key,
            env: env_name(key),
            problem: problem.into(),
        }
    }

    fn required(&self, key: &'static str) -> Result<String, ConfigError> {
        let v = self.get(key).trim();
        if v.is_empty() {
            Err(Self::err(key, "is required"))
        } else {
            Ok(v.to_string())
        }
    }

    fn number<T>(&self, key: &'static str, min: T, max: T) -> Result<T, ConfigError>
    where
        T: std::str::FromStr + PartialOrd + fmt::Display + Copy,
    {
        let n: T = self
            .get(key)
            .trim()
            .parse()
            .map_err(|_| Self::err(key, "must be a whole number"))?;
        if n < min || n > max {
            return Err(Self::err(key, format!("must be between {min} and {max}")));
        }
        Ok(n)
    }

    fn url(&self, key: &'static str, allow_http: bool) -> Result<String, ConfigError> {
        let v = self.required(key)?;
        let ok = v.starts_with("https://") || (allow_http && v.starts_with("http://"));
        if !ok || v.len() < 10 || v.contains(char::is_whitespace) {
            let what = if allow_http {
                "an absolute http(s) URL"
            } else {
                "an absolute https URL"
            };
            return Err(Self::err(key, format!("must be {what}")));
        }
        Ok(v.trim_end_matches('/').to_string())
    }

    fn bool(&self, key: &'static str) -> Result<bool, ConfigError> {
        match self.get(key).trim() {
            "true" | "1" | "yes" => Ok(true),
            "false" | "0" | "no" | "" => Ok(false),
            _ => Err(Self::err(key, "must be true or false")),
        }
    }
}

fn flatten(prefix: &str, table: &toml::Table, out: &mut Vec<(String, toml::Value)>) {
    for (k, v) in table {
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            toml::Value::Table(t) => flatten(&key, t, out),
            other => out.push((key, other.clone())),
        }
    }
}

/// A secret from the environment variable `HCAL_X`, or the file named by
/// `x_file` (config or `HCAL_X_FILE`).
fn secret(values: &Values, name: &'static str, file_key: &'static str) -> Result<Option<Secret>, ConfigError> {
    if let Ok(v) = std::env::var(env_name(name))
        && !v.trim().is_empty()
    {
        return Ok(Some(Secret::new(v.trim().to_string())));
    }
    let path = values.get(file_key).trim();
    if path.is_empty() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(path).map_err(|e| Values::err(file_key, format!("cannot read {path}: {e}")))?;
    let text = text.trim();
    if text.is_empty() {
        return Err(Values::err(file_key, format!("{path} is empty")));
    }
    Ok(Some(Secret::new(text.to_string())))
}

impl Config {
    /// Reads `path` (if any) and the environment.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        let mut file_values: Vec<(String, toml::Value)> = Vec::new();
        if let Some(p) = path {
            let text = std::fs::read_to_string(p).map_err(|e| ConfigError::File {
                path: p.to_path_buf(),
                reason: e.to_string(),
            })?;
            let table: toml::Table = text.parse().map_err(|e: toml::de::Error| ConfigError::File {
                path: p.to_path_buf(),
                reason: e.message().to_string(),
            })?;
            flatten("", &table, &mut file_values);
        }
        let mut map: BTreeMap<&'static str, String> = BTreeMap::new();
        for (k, default) in KEYS {
            if let Some(d) = default {
                map.insert(k, d.to_string());
            }
        }
        for (k, v) in file_values {
            if SECRETS.contains(&k.as_str()) {
                return Err(ConfigError::SecretInFile(k));
            }
            let Some((known, _)) = KEYS.iter().find(|(name, _)| *name == k) else {
                return Err(ConfigError::Unknown(k));
            };
            let text = match v {
                toml::Value::String(s) => s,
                toml::Value::Integer(i) => i.to_string(),
                toml::Value::Boolean(b) => b.to_string(),
                toml::Value::Float(f) => f.to_string(),
                _ => {
                    return Err(ConfigError::Unknown(format!(
                        "{k} (expected a string, number or boolean)"
                    )));
                }
            };
            map.insert(known, text);
        }
        for (k, _) in KEYS {
            if let Ok(v) = std::env::var(env_name(k)) {
                map.insert(k, v);
            }
        }
        let values = Values { map };
        Self::from_values(&values)
    }

    fn from_values(v: &Values) -> Result<Self, ConfigError> {
        let listen: SocketAddr = v
            .get("listen")
            .trim()
            .parse()
            .map_err(|_| Values::err("listen", "must be an address such as 127.0.0.1:8080"))?;
        let adjustable_clock = v.bool("adjustable_clock")?;
        let fault_injection = v.bool("fault_injection")?;
        let public_url = v.url("public_url", true)?;
        let data_dir = PathBuf::from(v.required("data_dir")?);
        let graph_url = v.url("graph_url", true)?;
        let login_url = v.url("login_url", true)?;
        let client_id = v.required("client_id")?;
        let lifetime: u64 = v.number("subscriptions.lifetime_minutes", 45, 10_080)?;
        let renew_before: u64 = v.number("subscriptions.renew_before_minutes", 5, 10_000)?;
        if renew_before >= lifetime {
            let why = "must be less than subscriptions.lifetime_minutes";
            return Err(Values::err("subscriptions.renew_before_minutes", why));
        }
        let subscriptions = SubscriptionSettings {
            lifetime: Duration::from_secs(lifetime * 60),
            renew_before: Duration::from_secs(renew_before * 60),
            tick: Duration::from_secs(v.number("subscriptions.tick_seconds", 1, 3600)?),
        };
        let mailbox = MailboxSettings {
            window_back_days: v.number("mailbox.window_back_days", 0, 365)?,
            window_ahead_days: v.number("mailbox.window_ahead_days", 1, 365)?,
            idle: Duration::from_secs(v.number("mailbox.idle_seconds", 1, 86_400 * 7)?),
        };
        let max_body_bytes = v.number("max_body_bytes", 1024, 64 * 1024 * 1024)?;
        let log_cache_mib: u64 = v.number("log.cache_mib", 1, 1024 * 1024)?;
        let private_subject = v.get("private_subject").trim().to_string();
        if private_subject.is_empty() || private_subject.len() > 200 {
            return Err(Values::err("private_subject", "must be 1 to 200 characters"));
        }
        // Secrets last: the values above can be checked without them.
        let client_secret = secret(v, "client_secret", "client_secret_file")?
            .ok_or_else(|| Values::err("client_secret_file", "is required (or set HCAL_CLIENT_SECRET)"))?;
        let admin_token = secret(v, "admin_token", "admin_token_file")?
            .ok_or_else(|| Values::err("admin_token_file", "is required (or set HCAL_ADMIN_TOKEN)"))?;
        if admin_token.expose().len() < 16 {
            return Err(Values::err(
                "admin_token_file",
                "the admin token must be at least 16 characters",
            ));
        }
        let master_key = match v.get("master_key_file").trim() {
            "" => MasterKeySource::from_env()
                .ok_or_else(|| Values::err("master_key_file", "is required (or set HCAL_MASTER_KEY)"))?,
            p => MasterKeySource::File(PathBuf::from(p)),
        };
        Ok(Self {
            listen,
            public_url,
            data_dir,
            graph_url,
            login_url,
            client_id,
            client_secret,
            admin_token,
            master_key,
            adjustable_clock,
            fault_injection,
            max_body_bytes,
            subscriptions,
            mailbox,
            private_subject,
            log_cache_bytes: log_cache_mib * 1024 * 1024,
        })
    }

    /// A node on loopback against a Graph emulator at `graph_base` (which
    /// serves the identity endpoints too): for `hcal demo`, benchmarks and
    /// tests. Defaults as in the file, with a fast tick and a movable clock.
    pub fn local(
        graph_base: &str,
        client_id: &str,
        client_secret: &str,
        data_dir: &Path,
        listen: SocketAddr,
        admin_token: &str,
        master_key: MasterKeySource,
    ) -> Self {
        Self {
            listen,
            public_url: format!("http://{listen}"),
            data_dir: data_dir.to_path_buf(),
            graph_url: graph_base.trim_end_matches('/').to_string(),
            login_url: graph_base.trim_end_matches('/').to_string(),
            client_id: client_id.to_string(),
            client_secret: Secret::new(client_secret.to_string()),
            admin_token: Secret::new(admin_token.to_string()),
            master_key,
            adjustable_clock: true,
            fault_injection: true,
            max_body_bytes: 4 * 1024 * 1024,
            subscriptions: SubscriptionSettings {
                lifetime: Duration::from_secs(4230 * 60),
                renew_before: Duration::from_secs(24 * 3600),
                tick: Duration::from_millis(300),
            },
            mailbox: MailboxSettings {
                window_back_days: 7,
                window_ahead_days: 31,
                idle: Duration::from_secs(600),
            },
            private_subject: "Private meeting".into(),
            log_cache_bytes: LogOptions::default().cache_capacity,
        }
    }

    /// Every key with its environment variable and default, for the example file and `--help`.
    pub fn keys() -> impl Iterator<Item = (&'static str, String, Option<&'static str>)> {
        KEYS.iter().map(|(k, d)| (*k, env_name(k), *d))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(pairs: &[(&'static str, &str)]) -> Values {
        let mut map = BTreeMap::new();
        for (k, d) in KEYS {
            if let Some(d) = d {
                map.insert(*k, d.to_string());
            }
        }
        for (k, v) in pairs {
            map.insert(*k, v.to_string());
        }
        Values { map }
    }

    #[test]
    fn bad_values_name_their_key() {
        let base = [
            ("public_url", "https://hcal.example"),
            ("data_dir", "/tmp/x"),
            ("client_id", "c"),
        ];
        let err = |extra: &[(&'static str, &str)]| {
            let mut all = base.to_vec();
            all.extend_from_slice(extra);
            Config::from_values(&values(&all)).unwrap_err().to_string()
        };
        assert!(err(&[("listen", "nowhere")]).starts_with("config key `listen` (HCAL_LISTEN)"));
        assert!(err(&[("public_url", "ftp://x")]).contains("`public_url`"));
        assert!(err(&[("subscriptions.lifetime_minutes", "20000")]).contains("between 45 and 10080"));
        assert!(err(&[("adjustable_clock", "maybe")]).contains("true or false"));
        assert!(err(&[]).contains("client_secret_file"), "{}", err(&[]));
    }
}

#[cfg(test)]
mod example {
    use super::*;

    /// `ops/hcal.example.toml` documents every key, and only keys that exist.
    #[test]
    fn the_example_file_names_every_key_and_parses() {
        let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/ops/hcal.example.toml")).unwrap();
        let table: toml::Table = text.parse().unwrap();
        let mut found = Vec::new();
        flatten("", &table, &mut found);
        let found: Vec<&str> = found.iter().map(|(k, _)| k.as_str()).collect();
        for (key, _) in KEYS {
            assert!(found.contains(key), "ops/hcal.example.toml does not document {key}");
        }
        for key in &found {
            assert!(
                KEYS.iter().any(|(k, _)| k == key),
                "ops/hcal.example.toml names unknown key {key}"
            );
        }
    }
}
