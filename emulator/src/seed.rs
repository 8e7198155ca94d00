//! The seed file: tenants, their apps, users and rooms. `Seed` is what
//! `hcal graph-emulator --seed seed.json` reads and what `POST /_emulator/seed` takes.

use serde::{Deserialize, Serialize};

/// Everything the emulator starts from.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Seed {
    #[serde(default)]
    pub tenants: Vec<SeedTenant>,
}

/// One Office 365 tenant.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SeedTenant {
    /// Tenant GUID.
    pub id: String,
    /// Primary domain, e.g. `contoso.example`; the token endpoint accepts it in place of the id.
    pub domain: String,
    #[serde(default)]
    pub apps: Vec<SeedApp>,
    #[serde(default)]
    pub users: Vec<SeedUser>,
    #[serde(default)]
    pub rooms: Vec<SeedUser>,
}

/// How the tenant's admin answers the admin-consent page.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum ConsentMode {
    /// Redirects at once as if the admin approved.
    #[default]
    Auto,
    /// Redirects at once with an error.
    Deny,
    /// Shows a page with Approve / Deny.
    Manual,
}

/// An app registration with a client secret.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SeedApp {
    pub client_id: String,
    pub client_secret: String,
    #[serde(default)]
    pub consent: ConsentMode,
    /// Whether admin consent is already granted at start (default true). With `false` the
    /// token endpoint refuses until the admin-consent flow approves.
    #[serde(default = "yes")]
    pub consented: bool,
    /// Application permissions granted by consent.
    /// Default: `Calendars.ReadWrite`, `MailboxSettings.Read`, `User.Read.All`.
    #[serde(default = "default_roles")]
    pub roles: Vec<String>,
    /// Registered redirect URIs for admin consent; empty = any.
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    /// Display name used in AADSTS messages.
    #[serde(default)]
    pub display_name: Option<String>,
}

/// A user or room mailbox.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SeedUser {
    pub id: String,
    pub mail: String,
    #[serde(rename = "displayName", default)]
    pub display_name: String,
    #[serde(default)]
    pub locale: Option<String>,
    #[serde(rename = "timeZone", default)]
    pub time_zone: Option<String>,
    /// No Exchange Online licence: every mailbox path answers 404 MailboxNotEnabledForRESTAPI.
    #[serde(default)]
    pub unlicensed: bool,
    /// Inside the tenant's application access policy (default true); `false` answers 403 RAOP.
    #[serde(default = "yes")]
    pub in_policy: bool,
    /// Initial `automaticRepliesSetting` (Graph JSON shape).
    #[serde(rename = "automaticRepliesSetting", default)]
    pub automatic_replies_setting: Option<serde_json::Value>,
}

fn yes() -> bool {
    true
}

fn default_roles() -> Vec<String> {
    vec![
        "Calendars.ReadWrite".into(),
        "MailboxSettings.Read".into(),
        "User.Read.All".into(),
    ]
}

impl Seed {
    /// Parse a seed from JSON text.
    pub fn from_json(text: &str) -> Result<Seed, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// A ready-made seed for tests, demos and benchmarks: tenant `contoso.example` with one
    /// app (`client_secret` "s3cret", consent auto, `MailboxSettings.ReadWrite` too), users
    /// alice, bob and carol, and room Amstel. Ids are fixed so tests can name them.
    pub fn example() -> Seed {
        let user = |id: &str, mail: &str, name: &str, locale: &str| SeedUser {
            id: id.into(),
            mail: mail.into(),
            display_name: name.into(),
            locale: Some(locale.into()),
            time_zone: Some("W. Europe Standard Time".into()),
            unlicensed: false,
            in_policy: true,
            automatic_replies_setting: None,
        };
        Seed {
            tenants: vec![SeedTenant {
                id: EXAMPLE_TENANT.into(),
                domain: "contoso.example".into(),
                apps: vec![SeedApp {
                    client_id: EXAMPLE_CLIENT.into(),
                    client_secret: EXAMPLE_SECRET.into(),
                    consent: ConsentMode::Auto,
                    consented: true,
                    roles: vec![
                        "Calendars.ReadWrite".into(),
                        "MailboxSettings.ReadWrite".into(),
                        "User.Read.All".into(),
                    ],
                    redirect_uris: vec![],
                    display_name: Some("hcal".into()),
                }],
                users: vec![
                    user(EXAMPLE_ALICE, "alice@contoso.example", "Alice", "nl-NL"),
                    user(EXAMPLE_BOB, "bob@contoso.example", "Bob", "en-US"),
                    user(EXAMPLE_CAROL, "carol@contoso.example", "Carol", "de-DE"),
                ],
                rooms: vec![user(EXAMPLE_ROOM, "room.amstel@contoso.example", "Amstel", "nl-NL")],
            }],
        }
    }
}

/// Tenant id of [`Seed::example`].
pub const EXAMPLE_TENANT: &str = "6e1c3a52-2b1f-4c1e-9a57-6d3f0e1b7a01";
/// Client id of [`Seed::example`]'s app.
pub const EXAMPLE_CLIENT: &str = "0f6a1d2e-8c4b-4e9a-a1b2-3c4d5e6f7a80";
/// Client secret of [`Seed::example`]'s app.
pub const EXAMPLE_SECRET: &str = "s3cret";
/// Alice's object id in [`Seed::example`].
pub const EXAMPLE_ALICE: &str = "a11ce000-0000-4000-8000-000000000001";
/// Bob's object id in [`Seed::example`].
pub const EXAMPLE_BOB: &str = "b0b00000-0000-4000-8000-000000000002";
/// Carol's object id in [`Seed::example`].
pub const EXAMPLE_CAROL: &str = "ca201000-0000-4000-8000-000000000003";
/// The room's object id in [`Seed::example`].
pub const EXAMPLE_ROOM: &str = "a0000000-0000-4000-8000-0000000000a1";
