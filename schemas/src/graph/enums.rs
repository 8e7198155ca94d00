//! Graph's enumerations. Graph documents lowerCamel literals but its own
//! examples mix in PascalCase (`Scheduled`, `Required`), so they are read
//! case-insensitively; a value this code does not know is kept as
//! `Other(text)` rather than failing the whole item. Written back in
//! Graph's lowerCamel form.

macro_rules! graph_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
            /// A literal this version of hcal does not know, as Graph sent it.
            Other(String),
        }

        impl $name {
            /// Graph's literal (lowerCamel), or the unknown text as received.
            pub fn as_str(&self) -> &str {
                match self {
                    $($name::$variant => $text,)+
                    $name::Other(s) => s.as_str(),
                }
            }

            /// Case-insensitive; unknown text becomes `Other`.
            pub fn parse(text: &str) -> Self {
                $(if text.eq_ignore_ascii_case($text) {
                    return $name::$variant;
                })+
                $name::Other(text.to_string())
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = std::borrow::Cow::<'de, str>::deserialize(d)?;
                Ok($name::parse(&text))
            }
        }
    };
}

graph_enum!(
    /// `body.contentType`.
    BodyType { Text => "text", Html => "html" }
);

graph_enum!(
    /// `event.sensitivity`.
    Sensitivity { Normal => "normal", Personal => "personal", Private => "private", Confidential => "confidential" }
);

graph_enum!(
    /// `event.showAs`.
    FreeBusyStatus {
        Free => "free",
        Tentative => "tentative",
        Busy => "busy",
        Oof => "oof",
        WorkingElsewhere => "workingElsewhere",
        Unknown => "unknown",
    }
);

graph_enum!(
    /// `event.type`.
    EventType { SingleInstance => "singleInstance", Occurrence => "occurrence", Exception => "exception", SeriesMaster => "seriesMaster" }
);

graph_enum!(
    /// `event.importance`.
    Importance { Low => "low", Normal => "normal", High => "high" }
);

graph_enum!(
    /// `event.onlineMeetingProvider`.
    OnlineMeetingProvider {
        Unknown => "unknown",
        TeamsForBusiness => "teamsForBusiness",
        SkypeForBusiness => "skypeForBusiness",
        SkypeForConsumer => "skypeForConsumer",
    }
);

graph_enum!(
    /// `location.locationType`.
    LocationType {
        Default => "default",
        ConferenceRoom => "conferenceRoom",
        HomeAddress => "homeAddress",
        BusinessAddress => "businessAddress",
        GeoCoordinates => "geoCoordinates",
        StreetAddress => "streetAddress",
        Hotel => "hotel",
        Restaurant => "restaurant",
        LocalBusiness => "localBusiness",
        PostalAddress => "postalAddress",
    }
);

graph_enum!(
    /// `location.uniqueIdType`.
    LocationUniqueIdType { Unknown => "unknown", LocationStore => "locationStore", Directory => "directory", Private => "private", Bing => "bing" }
);

graph_enum!(
    /// `attendee.type`.
    AttendeeType { Required => "required", Optional => "optional", Resource => "resource" }
);

graph_enum!(
    /// `responseStatus.response`.
    ResponseType {
        None => "none",
        Organizer => "organizer",
        TentativelyAccepted => "tentativelyAccepted",
        Accepted => "accepted",
        Declined => "declined",
        NotResponded => "notResponded",
    }
);

graph_enum!(
    /// `changeNotification.changeType` (one value; subscriptions carry a comma list as text).
    ChangeType { Created => "created", Updated => "updated", Deleted => "deleted" }
);

graph_enum!(
    /// `changeNotification.lifecycleEvent`.
    LifecycleEvent {
        ReauthorizationRequired => "reauthorizationRequired",
        SubscriptionRemoved => "subscriptionRemoved",
        Missed => "missed",
    }
);

graph_enum!(
    /// `automaticRepliesSetting.status`.
    AutomaticRepliesStatus { Disabled => "disabled", AlwaysEnabled => "alwaysEnabled", Scheduled => "scheduled" }
);

graph_enum!(
    /// `automaticRepliesSetting.externalAudience`.
    ExternalAudienceScope { None => "none", ContactsOnly => "contactsOnly", All => "all" }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_in_any_case_written_lower_camel() {
        let s: AutomaticRepliesStatus = serde_json::from_str("\"Scheduled\"").unwrap();
        assert_eq!(s, AutomaticRepliesStatus::Scheduled);
        assert_eq!(serde_json::to_string(&s).unwrap(), "\"scheduled\"");
        let s: AutomaticRepliesStatus = serde_json::from_str("\"ALWAYSENABLED\"").unwrap();
        assert_eq!(s, AutomaticRepliesStatus::AlwaysEnabled);
        let t: AttendeeType = serde_json::from_str("\"Required\"").unwrap();
        assert_eq!(t, AttendeeType::Required);
        let b: BodyType = serde_json::from_str("\"HTML\"").unwrap();
        assert_eq!(b, BodyType::Html);
    }

    #[test]
    fn unknown_values_are_kept() {
        let s: FreeBusyStatus = serde_json::from_str("\"somethingNew\"").unwrap();
        assert_eq!(s, FreeBusyStatus::Other("somethingNew".into()));
        assert_eq!(serde_json::to_string(&s).unwrap(), "\"somethingNew\"");
    }
}
