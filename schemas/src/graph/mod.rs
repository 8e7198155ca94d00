//! Microsoft Graph v1.0 wire types, as hcal reads and writes them.
//!
//! Serde with Graph's exact JSON casing; tolerant on input (every field that
//! Graph may omit is optional, unknown fields are ignored, enums are read
//! without case and unknown literals kept); `None` is left out on output.
//! Types that carry content (subjects, bodies, locations, addresses, join
//! URLs, clientState, tokens, reply messages) have a Debug that prints none
//! of it. No I/O here: the client lives in `hcal-actors::graph`.

pub mod collection;
pub mod enums;
pub mod error;
pub mod event;
pub mod mailbox;
mod redact;
pub mod subscription;
pub mod time;
pub mod user;

pub use collection::CollectionPage;
pub use enums::{
    AttendeeType, AutomaticRepliesStatus, BodyType, ChangeType, EventType, ExternalAudienceScope, FreeBusyStatus,
    Importance, LifecycleEvent, LocationType, LocationUniqueIdType, OnlineMeetingProvider, ResponseType, Sensitivity,
};
pub use error::{AadError, GraphErrorBody, GraphErrorDetail, InnerError, TokenResponse};
pub use event::{
    Attendee, EmailAddress, Event, ItemBody, Location, OnlineMeetingInfo, Recipient, Removed, ResponseStatus,
    SingleValueExtendedProperty,
};
pub use mailbox::{AutomaticRepliesSetting, LocaleInfo, MailboxSettings};
pub use subscription::{
    ChangeNotification, ChangeNotificationCollection, ResourceData, Subscription, SubscriptionRequest,
};
pub use time::{DateTimeTimeZone, format_offset, parse_offset};
pub use user::User;

#[cfg(test)]
mod tests;
