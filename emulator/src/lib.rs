//! # hcal-emulator: Microsoft Graph and the identity platform, on loopback
//!
//! A strict emulator of the parts of Microsoft Graph v1.0 and the Microsoft identity platform
//! that hcal uses, for hcal's tests, `hcal demo` and the benchmarks. The facts it imitates are
//! in `shared/graph-contract.md` (section 9 lists the behaviours).
//!
//! ## Library API
//!
//! ```no_run
//! # async fn demo() -> Result<(), hcal_emulator::EmulatorError> {
//! use hcal_emulator::{Emulator, EmulatorConfig, Seed};
//! let emu = Emulator::start(Seed::example(), EmulatorConfig::default()).await?;
//! let base = emu.base_url(); // http://127.0.0.1:PORT: identity, /v1.0 and /_emulator
//! emu.stop().await;
//! # Ok(()) }
//! ```
//!
//! * [`Emulator::start`] / [`Emulator::start_on`]: async; the server runs on its own thread
//!   with its own actix System, so it works from `#[tokio::test]` (current-thread or
//!   multi-thread), `#[actix_rt::test]` and `main` alike.
//! * [`EmulatorHandle::spawn_thread`]: the same from synchronous code (benchmarks, demo).
//! * [`serve`]: runs until SIGINT/SIGTERM, for `hcal graph-emulator`.
//! * [`EmulatorHandle`]: `addr`, `base_url`, `graph_url`, `token_url`, `issue_token`,
//!   `insert_events` (no notifications), `insert_sample_events`, `create_events_as_user`
//!   (with attendee copies and notifications), `now`, `advance_clock`, `request_count`,
//!   `stop`, `stop_blocking`.
//! * [`Seed`] (`Seed::example()` has fixed ids in [`seed`]), [`EmulatorConfig`] (every limit
//!   and timing, the clock), [`Faults`], [`pin_current_thread`] (benchmarks only).
//!
//! ## Identity platform
//!
//! * `POST /{tenant}/oauth2/v2.0/token`: client credentials (form or HTTP Basic), secret
//!   checked, scope must be `https://graph.microsoft.com/.default`; answers
//!   `{token_type, expires_in, ext_expires_in, access_token}` or an AADSTS error body.
//! * `GET /{tenant}/adminconsent?client_id&redirect_uri&state` and
//!   `GET /{tenant}/v2.0/adminconsent?client_id&scope&redirect_uri&state`: redirect with
//!   `admin_consent=True&tenant=<guid>[&scope]&state` (consent `auto`), with an error
//!   (`deny`), or a page with Approve / Deny links (`manual`).
//! * Revoked consent: the token endpoint refuses (AADSTS700016, as when the service principal
//!   is gone), and tokens already issued get 403 `ErrorAccessDenied` from Graph; the app's
//!   subscriptions get `reauthorizationRequired` and are paused.
//!
//! ## Graph v1.0 (`/v1.0`)
//!
//! `users/{id|mail}/events` (GET, POST), `.../events/{id}` (GET, PATCH, DELETE; also under
//! `/calendar/events` and `/calendars/{id}/events`), `.../events/{id}/instances`,
//! `.../events/{id}/{cancel|accept|decline|tentativelyAccept}`, `.../calendarView`,
//! `.../calendarView/delta`, `.../calendar`, `users/{id}/mailboxSettings[/{part}]` (GET,
//! PATCH), `users/{id}`, `subscriptions` (POST, GET), `subscriptions/{id}` (GET, PATCH,
//! DELETE), `subscriptions/{id}/reauthorize`, `$batch`.
//!
//! ## Control API (`/_emulator`, JSON, no auth)
//!
//! | route | what |
//! |---|---|
//! | `GET /_emulator/health` | liveness |
//! | `POST /_emulator/reset` | back to the current seed: calendars, subscriptions, faults, log, throttling counters cleared; issued tokens stay valid |
//! | `POST /_emulator/seed` | body: a [`Seed`]; replaces the state (and becomes the reset target) |
//! | `GET /_emulator/users/{user}/events` | the truth: every stored item (singles, masters, exceptions) with extended properties |
//! | `POST /_emulator/users/{user}/events` | create as the user (Graph event JSON); attendee copies and notifications follow |
//! | `PATCH /_emulator/users/{user}/events/{id}` | edit as the user (an occurrence id makes an exception) |
//! | `DELETE /_emulator/users/{user}/events/{id}` | delete as the user (organizer: attendees' copies cancelled) |
//! | `POST /_emulator/users/{user}/events/{id}/cancel` | organizer cancels |
//! | `POST /_emulator/users/{user}/events/{id}/{accept,decline,tentativelyAccept}` | attendee answers |
//! | `POST /_emulator/users/{user}/events/{id}/move` | body `{start, end}` (dateTimeTimeZone): move; or `{"new_id": true}`: the item gets a new id (folder move) |
//! | `PATCH /_emulator/users/{user}/events/{masterId}/occurrences/{YYYY-MM-DD}` | edit one occurrence by its original local date |
//! | `DELETE /_emulator/users/{user}/events/{masterId}/occurrences/{YYYY-MM-DD}` | cancel one occurrence |
//! | `PUT/PATCH /_emulator/users/{user}/mailboxSettings` | automatic replies, language (locale), time zone, ... (Graph shape) |
//! | `POST /_emulator/users/{user}/policy` | `{"in_policy": bool, "delay_secs"?: n}`: application access policy (403 RAOP when out) |
//! | `POST /_emulator/users/{user}/license` | `{"licensed": bool}` (404 MailboxNotEnabledForRESTAPI when not) |
//! | `POST /_emulator/tenants/{tenant}/apps/{clientId}/consent` | `{"granted": bool}`: revoke or grant admin consent |
//! | `GET/POST/DELETE /_emulator/faults` | read / merge / clear [`Faults`] (429 rate, 5xx rate, latency, drop/delay/duplicate/shuffle notifications, delta 410 / syncStateNotFound next time, duplicated delta items, ...) |
//! | `GET /_emulator/subscriptions` | all subscriptions, with `paused` |
//! | `POST /_emulator/subscriptions/{id}/expire` | expire now (silently removed) |
//! | `POST /_emulator/subscriptions/{id}/remove` | remove and send `subscriptionRemoved` |
//! | `POST /_emulator/subscriptions/{id}/reauthorization-required` | pause and send `reauthorizationRequired` |
//! | `POST /_emulator/subscriptions/{id}/missed` | send `missed` |
//! | `POST /_emulator/subscriptions/{id}/forge` | `{"clientState": "..."}`: a notification with a wrong clientState |
//! | `GET/DELETE /_emulator/requests` | `{total, counts: {"GET /v1.0/users/{user}/events/{id}": n, ...}, recent: [...]}` / reset. `$batch` items count under their own route too (`batch: true` in `recent`) |
//! | `GET /_emulator/notifications` | delivery attempts (url, count, status, elapsed) and endpoint health |
//! | `GET/POST /_emulator/clock` | `{now, speed}`; POST `{"advance_seconds": n}`, `{"set": "..."}`, `{"speed": f}` |

//!
//! ## Choices where Graph's behaviour is not documented (INF in the contract)
//!
//! * Revoked consent: token endpoint 400 `unauthorized_client` AADSTS700016; existing tokens
//!   403 `ErrorAccessDenied` "Access is denied. Check credentials and try again.".
//! * Notifications: `updated` for the series master when one occurrence is edited or
//!   cancelled (`occurrence_notifies_master_only`, default true). Retry back-off 30 s doubling
//!   to 30 min, given up after 4 h (then `missed`). The slow-endpoint rule counts a delivery
//!   that fails without a status (timeout, refused) as slow.
//! * Subscriptions: an `expirationDateTime` under 45 minutes (or in the past) is raised to
//!   now + 45 min; a new `notificationUrl` on PATCH is validated again; `includeResourceData`
//!   (rich notifications) is refused with 400. Validation requires `200`, a `text/plain`
//!   content type and the decoded token as the exact body.
//! * Delta: `410 resyncRequired` with `Location`, and `400 SyncStateNotFound` for unknown or
//!   evicted tokens (20,000 kept).
//! * `$batch`: items run one after another in request order and answer in that order; a
//!   batch over 20, duplicate ids, or a body without `Content-Type` refuse the whole batch.
//! * `instances` of a non-series event answers an empty list; an unknown time zone in
//!   `Prefer: outlook.timezone` is ignored (no `Preference-Applied`).
//! * Attendee copies: people keep a cancelled meeting (`isCancelled: true`, subject prefixed
//!   `Canceled: `); rooms drop it. Attendee answers update the organizer's item only.

pub mod batch;
pub mod calendar;
pub mod clock;
pub mod config;
pub mod control;
pub mod delta;
pub mod error;
pub mod graph;
pub mod http;
pub mod identity;
pub mod input;
pub mod model;
pub mod notify;
pub mod recurrence;
pub mod render;
pub mod seed;
pub mod server;
pub mod shared;
pub mod subscription_set;
pub mod subscriptions;
pub mod tz;
pub mod wire;

pub use config::{ClockMode, EmulatorConfig};
pub use error::{EmulatorError, GraphError};
pub use seed::{ConsentMode, Seed, SeedApp, SeedTenant, SeedUser};
pub use server::{Emulator, EmulatorHandle, pin_current_thread, serve};
pub use shared::Faults;
