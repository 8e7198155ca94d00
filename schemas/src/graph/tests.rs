//! The JSON examples of `shared/graph-contract.md`, parsed; what hcal sends, round-tripped;
//! and Debug that prints no content.

use serde_json::{Value, json};

use super::*;
use crate::time::Timestamp;

fn parse<T: serde::de::DeserializeOwned>(v: Value) -> T {
    serde_json::from_value(v).expect("parses")
}

/// A full event as Graph answers a GET (shapes from event-get.md / user-post-events.md).
fn full_event() -> Value {
    serde_json::from_str(r#"{
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users('x')/events/$entity",
        "@odata.etag": "W/\"ZlnW4RIAV06KYYwlrfNZvQAALfZeRQ==\"",
        "id": "AAMkAGI1AAAt9AHjAAA=",
        "createdDateTime": "2024-04-30T10:00:00.1234567Z",
        "lastModifiedDateTime": "2024-04-30T10:05:00.1234567Z",
        "changeKey": "ZlnW4RIAV06KYYwlrfNZvQAALfZeRQ==",
        "categories": [],
        "transactionId": "7E163156-7762-4BEB-A1C6-729EA81755A7",
        "originalStartTimeZone": "Pacific Standard Time",
        "originalEndTimeZone": "Pacific Standard Time",
        "iCalUId": "040000008200E00074C5B7101A82E00800000000",
        "reminderMinutesBeforeStart": 15,
        "isReminderOn": true,
        "hasAttachments": false,
        "subject": "Project sync",
        "bodyPreview": "Agenda ...",
        "importance": "normal",
        "sensitivity": "Private",
        "isAllDay": false,
        "isCancelled": false,
        "isOrganizer": true,
        "responseRequested": true,
        "seriesMasterId": null,
        "showAs": "busy",
        "type": "singleInstance",
        "webLink": "https://outlook.office365.com/owa/?itemid=AAMkAGI1AAAt9AHjAAA%3D&exvsurl=1&path=/calendar/item",
        "onlineMeetingUrl": null,
        "isOnlineMeeting": true,
        "onlineMeetingProvider": "teamsForBusiness",
        "allowNewTimeProposals": true,
        "isDraft": false,
        "hideAttendees": false,
        "responseStatus": {"response": "organizer", "time": "0001-01-01T00:00:00Z"},
        "body": {"contentType": "html", "content": "<html><body>Agenda ...</body></html>"},
        "start": {"dateTime": "2024-05-01T16:00:00.0000000", "timeZone": "UTC"},
        "end": {"dateTime": "2024-05-01T16:30:00.0000000", "timeZone": "UTC"},
        "location": {"displayName": "Conf Room Baker", "locationType": "conferenceRoom",
                     "uniqueId": "Baker@contoso.onmicrosoft.com", "uniqueIdType": "directory"},
        "locations": [{"displayName": "Conf Room Baker", "locationType": "conferenceRoom",
                       "uniqueId": "Baker@contoso.onmicrosoft.com", "uniqueIdType": "directory",
                       "locationEmailAddress": "Baker@contoso.onmicrosoft.com"}],
        "recurrence": null,
        "attendees": [
            {"type": "required", "status": {"response": "none", "time": "0001-01-01T00:00:00Z"},
             "emailAddress": {"name": "Adele Vance", "address": "AdeleV@contoso.onmicrosoft.com"}},
            {"type": "resource", "status": {"response": "accepted", "time": "2024-04-30T10:01:00Z"},
             "emailAddress": {"name": "Conf Room Baker", "address": "Baker@contoso.onmicrosoft.com"}}
        ],
        "organizer": {"emailAddress": {"name": "Megan Bowen", "address": "MeganB@contoso.onmicrosoft.com"}},
        "onlineMeeting": {"joinUrl": "https://teams.microsoft.com/l/meetup-join/19%3ameeting_x",
                          "conferenceId": "177513992", "tollNumber": "+1 425 555 0123"},
        "singleValueExtendedProperties": [{"id": "String {66f5a359-4659-4830-9070-00040ec6ac6e} Name Fun", "value": "Food"}]
    }"#)
    .unwrap()
}

#[test]
fn a_full_event_parses() {
    let e: Event = parse(full_event());
    assert_eq!(e.id.as_deref(), Some("AAMkAGI1AAAt9AHjAAA="));
    assert_eq!(e.odata_etag.as_deref(), Some("W/\"ZlnW4RIAV06KYYwlrfNZvQAALfZeRQ==\""));
    assert_eq!(e.sensitivity, Some(Sensitivity::Private));
    assert_eq!(e.show_as, Some(FreeBusyStatus::Busy));
    assert_eq!(e.kind, Some(EventType::SingleInstance));
    assert_eq!(e.series_master_id, None);
    assert_eq!(e.recurrence, None);
    assert_eq!(e.body.as_ref().unwrap().content_type, Some(BodyType::Html));
    assert_eq!(e.start_utc().unwrap().to_rfc3339(), "2024-05-01T16:00:00.000Z");
    assert_eq!(e.end_utc().unwrap().to_rfc3339(), "2024-05-01T16:30:00.000Z");
    assert_eq!(e.last_modified().unwrap().to_rfc3339(), "2024-04-30T10:05:00.123Z");
    let loc = e.location.as_ref().unwrap();
    assert_eq!(loc.location_type, Some(LocationType::ConferenceRoom));
    assert_eq!(loc.unique_id_type, Some(LocationUniqueIdType::Directory));
    assert_eq!(
        e.locations.as_ref().unwrap()[0].location_email_address.as_deref(),
        Some("Baker@contoso.onmicrosoft.com")
    );
    let att = e.attendees.as_ref().unwrap();
    assert_eq!(att[1].kind, Some(AttendeeType::Resource));
    assert_eq!(att[1].status.as_ref().unwrap().response, Some(ResponseType::Accepted));
    assert_eq!(
        e.organizer
            .as_ref()
            .unwrap()
            .email_address
            .as_ref()
            .unwrap()
            .address
            .as_deref(),
        Some("MeganB@contoso.onmicrosoft.com")
    );
    assert_eq!(e.online_meeting_provider, Some(OnlineMeetingProvider::TeamsForBusiness));
    assert!(
        e.online_meeting
            .as_ref()
            .unwrap()
            .join_url
            .as_deref()
            .unwrap()
            .starts_with("https://teams")
    );
    assert_eq!(
        e.extended_property("string {66F5A359-4659-4830-9070-00040EC6AC6E} Name Fun"),
        Some("Food")
    );
    assert_eq!(
        e.extended_property("String {66f5a359-4659-4830-9070-00040ec6ac6e} Name fun"),
        None
    );
    assert!(!e.is_removed());
}

#[test]
fn the_create_body_of_the_contract_round_trips() {
    // graph-contract.md section 8.1, with its PascalCase "HTML".
    let sent = json!({
        "subject": "Project sync",
        "body": {"contentType": "HTML", "content": "Agenda ..."},
        "start": {"dateTime": "2024-05-01T09:00:00", "timeZone": "Pacific Standard Time"},
        "end":   {"dateTime": "2024-05-01T09:30:00", "timeZone": "Pacific Standard Time"},
        "location": {"displayName": "@webex"},
        "attendees": [{"emailAddress": {"address": "a@contoso.com", "name": "A"}, "type": "required"}],
        "transactionId": "7E163156-7762-4BEB-A1C6-729EA81755A7",
        "singleValueExtendedProperties": [{"id": "String {guid} Name X", "value": "..."}]
    });
    let e: Event = parse(sent.clone());
    let back = serde_json::to_value(&e).unwrap();
    let mut expected = sent;
    expected["body"]["contentType"] = json!("html");
    assert_eq!(back, expected);
    // Fields not set are not sent (Graph refuses unknown or read-only writes it cannot take).
    let minimal = Event {
        subject: Some("x".into()),
        ..Default::default()
    };
    assert_eq!(serde_json::to_value(&minimal).unwrap(), json!({"subject": "x"}));
}

#[test]
fn recurrence_is_kept_opaque() {
    let mut v = full_event();
    v["type"] = json!("SeriesMaster");
    v["recurrence"] = json!({
        "pattern": {"type":"weekly","interval":1,"daysOfWeek":["monday"],"firstDayOfWeek":"sunday"},
        "range":   {"type":"endDate","startDate":"2017-09-04","endDate":"2017-12-31","recurrenceTimeZone":"Pacific Standard Time"}
    });
    let e: Event = parse(v.clone());
    assert_eq!(e.kind, Some(EventType::SeriesMaster));
    assert_eq!(e.recurrence.as_ref().unwrap(), &v["recurrence"]);
}

#[test]
fn location_as_graph_normalises_it() {
    // user-post-events.md: POST {"displayName":"Harry's Bar"} comes back as these.
    let l: Location = parse(json!({"displayName": "Harry's Bar", "locationType": "default",
                                   "uniqueId": "Harry's Bar", "uniqueIdType": "private"}));
    assert_eq!(l.unique_id_type, Some(LocationUniqueIdType::Private));
    let l2: Location =
        parse(json!({"displayName": "Harry's Bar", "locationType": "Default", "uniqueIdType": "unknown"}));
    assert_eq!(l2.location_type, Some(LocationType::Default));
    assert_eq!(l2.unique_id_type, Some(LocationUniqueIdType::Unknown));
}

#[test]
fn the_delta_page_of_the_contract_parses() {
    // graph-contract.md section 3.5 (delta-query-events.md).
    let page: CollectionPage<Event> = parse(json!({
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#Collection(event)",
        "@odata.deltaLink": "https://graph.microsoft.com/v1.0/me/calendarView/delta?$deltatoken=R0usmcFuQtZdtpk4",
        "value": [
            {"@odata.type": "#microsoft.graph.event", "id": "AAMk1", "@removed": {"reason": "deleted"}},
            {"@odata.type": "#microsoft.graph.event", "@odata.etag": "W/\"abc\"", "subject": "Partial", "id": "AAMk2"}
        ]
    }));
    assert_eq!(page.next_link, None);
    assert!(
        page.delta_link
            .as_deref()
            .unwrap()
            .ends_with("$deltatoken=R0usmcFuQtZdtpk4")
    );
    assert_eq!(page.value.len(), 2);
    assert!(page.value[0].is_removed());
    assert_eq!(
        page.value[0].removed.as_ref().unwrap().reason.as_deref(),
        Some("deleted")
    );
    assert_eq!(page.value[1].subject.as_deref(), Some("Partial"));
    assert_eq!(page.value[1].start, None);
    // A page with only a nextLink and no items.
    let empty: CollectionPage<Event> = parse(json!({"@odata.nextLink": "https://x/next?$skiptoken=1"}));
    assert!(empty.value.is_empty());
    assert_eq!(empty.next_link.as_deref(), Some("https://x/next?$skiptoken=1"));
}

#[test]
fn the_notification_of_the_contract_parses() {
    // graph-contract.md section 4.4.
    let c: ChangeNotificationCollection = parse(json!({
      "value": [{
          "id": "lsgTZMr9KwAAA",
          "subscriptionId": "7f105c7d-2dc5-4530-97cd-4e7ae6534c07",
          "subscriptionExpirationDateTime": "2016-03-19T22:11:09.952Z",
          "clientState": "secretClientValue",
          "changeType": "updated",
          "resource": "Users/a11ce000-0000-4000-8000-000000000001/Events/AAMkAGI1=",
          "tenantId": "6e1c3a52-2b1f-4c1e-9a57-6d3f0e1b7a01",
          "resourceData": {
            "@odata.type": "#Microsoft.Graph.Event",
            "@odata.id": "Users/a11ce000-0000-4000-8000-000000000001/Events/AAMkAGI1=",
            "@odata.etag": "W/\"DwAAABYAAAC\"",
            "id": "AAMkAGI1="
          }
      }]
    }));
    let n = &c.value[0];
    assert_eq!(n.change_type, Some(ChangeType::Updated));
    assert_eq!(n.event_id(), Some("AAMkAGI1="));
    assert_eq!(
        n.resource_user().as_deref(),
        Some("a11ce000-0000-4000-8000-000000000001")
    );
    assert_eq!(n.client_state.as_deref(), Some("secretClientValue"));
    assert_eq!(
        n.subscription_expires().unwrap().to_rfc3339(),
        "2016-03-19T22:11:09.952Z"
    );
    assert_eq!(n.lifecycle_event, None);
    assert_eq!(c.validation_tokens, None);

    let quoted = ChangeNotification {
        resource: Some("Users('a11ce000-0000-4000-8000-000000000001')/Events('AAMk')".into()),
        ..Default::default()
    };
    assert_eq!(
        quoted.resource_user().as_deref(),
        Some("a11ce000-0000-4000-8000-000000000001")
    );
}

#[test]
fn lifecycle_notifications_parse() {
    // graph-contract.md section 4.7, with rich-notification validationTokens.
    let c: ChangeNotificationCollection = parse(json!({
        "value": [
            {"subscriptionId": "s1", "subscriptionExpirationDateTime": "2024-05-03T10:00:00Z",
             "tenantId": "t", "clientState": "secret", "lifecycleEvent": "reauthorizationRequired"},
            {"subscriptionId": "s2", "lifecycleEvent": "SubscriptionRemoved"},
            {"subscriptionId": "s3", "lifecycleEvent": "missed"},
            {"subscriptionId": "s4", "lifecycleEvent": "somethingNew"}
        ],
        "validationTokens": ["eyJ0eXAi.x.y"]
    }));
    let ev: Vec<_> = c.value.iter().map(|n| n.lifecycle_event.clone().unwrap()).collect();
    assert_eq!(
        ev,
        vec![
            LifecycleEvent::ReauthorizationRequired,
            LifecycleEvent::SubscriptionRemoved,
            LifecycleEvent::Missed,
            LifecycleEvent::Other("somethingNew".into())
        ]
    );
    assert_eq!(c.validation_tokens.as_ref().unwrap().len(), 1);
}

#[test]
fn subscriptions_round_trip() {
    // graph-contract.md section 4.1.
    let sent = json!({
      "changeType": "created,updated,deleted",
      "notificationUrl": "https://hook.example.com/graph/notify",
      "lifecycleNotificationUrl": "https://hook.example.com/graph/lifecycle",
      "resource": "users/a11ce000-0000-4000-8000-000000000001/events",
      "expirationDateTime": "2024-05-01T11:00:00.0000000Z",
      "clientState": "secret",
      "latestSupportedTlsVersion": "v1_2"
    });
    let built = SubscriptionRequest::mailbox_events(
        "a11ce000-0000-4000-8000-000000000001",
        "https://hook.example.com/graph/notify",
        Some("https://hook.example.com/graph/lifecycle"),
        parse_offset("2024-05-01T11:00:00Z").unwrap(),
        "secret",
    );
    assert_eq!(serde_json::to_value(&built).unwrap(), sent);
    let r: SubscriptionRequest = parse(sent.clone());
    assert_eq!(r, built);

    let answer: Subscription = parse(json!({
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#subscriptions/$entity",
        "id": "7f105c7d-2dc5-4530-97cd-4e7ae6534c07",
        "resource": "users/a11ce000-0000-4000-8000-000000000001/events",
        "applicationId": "24d3b144-21ae-4080-943f-7067b395b913",
        "changeType": "created,updated,deleted",
        "clientState": "secret",
        "notificationUrl": "https://hook.example.com/graph/notify",
        "lifecycleNotificationUrl": "https://hook.example.com/graph/lifecycle",
        "expirationDateTime": "2024-05-01T11:00:00.0000000Z",
        "creatorId": "8ee44408-0679-472c-bc2a-692812af3437",
        "includeResourceData": false,
        "latestSupportedTlsVersion": "v1_2",
        "encryptionCertificate": null,
        "notificationQueryOptions": null
    }));
    assert_eq!(answer.id, "7f105c7d-2dc5-4530-97cd-4e7ae6534c07");
    assert_eq!(answer.expires().unwrap().to_rfc3339(), "2024-05-01T11:00:00.000Z");
}

#[test]
fn the_mailbox_settings_of_the_contract_parse() {
    // graph-contract.md section 5, example 1 (PascalCase "Scheduled"/"All" as in the docs).
    let s: MailboxSettings = parse(json!({
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#Me/mailboxSettings",
        "automaticRepliesSetting": {
            "status": "Scheduled",
            "externalAudience": "All",
            "scheduledStartDateTime": {"dateTime": "2016-03-14T07:00:00.0000000", "timeZone": "UTC"},
            "scheduledEndDateTime": {"dateTime": "2016-03-28T07:00:00.0000000", "timeZone": "UTC"},
            "internalReplyMessage": "<html>away</html>",
            "externalReplyMessage": "<html>away</html>"
        },
        "timeZone": "UTC",
        "language": {"locale": "en-US", "displayName": "English (United States)"},
        "workingHours": {"daysOfWeek": ["monday"], "startTime": "08:00:00.0000000", "endTime": "17:00:00.0000000",
                         "timeZone": {"name": "Pacific Standard Time"}},
        "userPurpose": {"value": "user"},
        "dateFormat": "MM/dd/yyyy", "timeFormat": "hh:mm tt",
        "delegateMeetingMessageDeliveryOptions": "sendToDelegateOnly"
    }));
    let a = s.automatic_replies_setting.as_ref().unwrap();
    assert_eq!(a.status, Some(AutomaticRepliesStatus::Scheduled));
    assert_eq!(a.external_audience, Some(ExternalAudienceScope::All));
    assert_eq!(s.language.as_ref().unwrap().locale.as_deref(), Some("en-US"));
    assert_eq!(s.time_zone.as_deref(), Some("UTC"));
    let inside = parse_offset("2016-03-20T00:00:00Z").unwrap();
    let after = parse_offset("2016-03-28T07:00:00Z").unwrap();
    assert!(a.active_at(inside));
    assert!(!a.active_at(after));

    // Example 2's casing.
    let b: AutomaticRepliesSetting = parse(json!({"status": "alwaysEnabled", "externalAudience": "None"}));
    assert_eq!(b.status, Some(AutomaticRepliesStatus::AlwaysEnabled));
    assert_eq!(b.external_audience, Some(ExternalAudienceScope::None));
    assert!(b.active_at(Timestamp(0)));
    let off: AutomaticRepliesSetting = parse(json!({"status": "DISABLED"}));
    assert!(!off.active_at(inside));
}

#[test]
fn error_bodies_parse() {
    // graph-contract.md section 6.3 and the RAOP text of section 7.
    let e: GraphErrorBody = parse(json!({"error": {"code": "ErrorItemNotFound",
        "message": "The specified object was not found in the store.",
        "innerError": {"date": "2024-01-01T00:00:00", "request-id": "rid-1", "client-request-id": "crid-1"}}}));
    assert_eq!(e.error.code, "ErrorItemNotFound");
    assert_eq!(e.error.request_id(), Some("rid-1"));
    let nested: GraphErrorBody = parse(json!({"error": {"code": "ErrorAccessDenied",
        "message": "Access to OData is disabled: [RAOP] : Blocked by tenant configured AppOnly AccessPolicy settings.",
        "innerError": {"innerError": {"request-id": "deep"}}}}));
    assert_eq!(nested.error.request_id(), Some("deep"));
    let bare: GraphErrorBody = parse(json!({"error": {"code": "InvalidAuthenticationToken"}}));
    assert_eq!(bare.error.message, None);
}

#[test]
fn token_bodies_parse() {
    // graph-contract.md section 1.1.
    let t: TokenResponse = parse(
        json!({"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599,
                                        "access_token": "eyJ0eX..."}),
    );
    assert_eq!(t.expires_in, Some(3599));
    let v1: TokenResponse = parse(json!({"token_type": "Bearer", "expires_in": "3599", "access_token": "x"}));
    assert_eq!(v1.expires_in, Some(3599));
    let e: AadError = parse(
        json!({"error": "invalid_scope", "error_description": "AADSTS70011: The scope is bad.",
        "error_codes": [70011], "timestamp": "2024-01-01 00:00:00Z", "trace_id": "t", "correlation_id": "c"}),
    );
    assert_eq!(e.aadsts(), Some(70011));
    let no_codes: AadError = parse(json!({"error": "unauthorized_client",
        "error_description": "AADSTS700016: Application with identifier 'x' was not found."}));
    assert_eq!(no_codes.aadsts(), Some(700016));
}

#[test]
fn users_parse() {
    let u: User = parse(
        json!({"@odata.context": "x", "id": "a11ce000", "mail": "alice@contoso.example",
                               "userPrincipalName": "alice@contoso.example", "displayName": "Alice", "jobTitle": null}),
    );
    assert_eq!(u.id, "a11ce000");
    assert_eq!(u.mail.as_deref(), Some("alice@contoso.example"));
}

#[test]
fn debug_prints_no_content() {
    let e: Event = parse(full_event());
    let settings: MailboxSettings = parse(json!({"automaticRepliesSetting": {"status": "scheduled",
        "internalReplyMessage": "I am at the dentist", "externalReplyMessage": "Gone fishing"}}));
    let note: ChangeNotificationCollection = parse(json!({"value": [{"clientState": "hunter2-state",
        "resource": "Users/alice@contoso.example/Events/x", "resourceData": {"@odata.id": "Users/alice@contoso.example/Events/x", "id": "x"}}],
        "validationTokens": ["jwt-secret-token"]}));
    let sub_req = SubscriptionRequest::mailbox_events(
        "alice@contoso.example",
        "https://h/n",
        None,
        Timestamp(0),
        "hunter2-state",
    );
    let sub: Subscription =
        parse(json!({"id": "s", "resource": "users/alice@contoso.example/events", "clientState": "hunter2-state"}));
    let token: TokenResponse =
        parse(json!({"token_type": "Bearer", "expires_in": 1, "access_token": "eyJ-secret-token"}));
    let err: GraphErrorBody = parse(json!({"error": {"code": "ErrorInvalidUser",
        "message": "The requested user 'alice@contoso.example' is invalid."}}));
    let aad: AadError = parse(
        json!({"error": "invalid_client", "error_description": "AADSTS7000215: secret for alice@contoso.example"}),
    );
    let user: User = parse(json!({"id": "u", "mail": "alice@contoso.example", "displayName": "Alice Wonder"}));
    let printed = format!("{e:?} {e:#?} {settings:?} {note:?} {sub_req:?} {sub:?} {token:?} {err:?} {aad:?} {user:?}");
    for secret in [
        "Project sync",
        "Agenda",
        "Conf Room Baker",
        "Baker@",
        "AdeleV",
        "Adele Vance",
        "MeganB",
        "Megan",
        "teams.microsoft.com",
        "177513992",
        "425 555",
        "Food",
        "owa/?itemid",
        "dentist",
        "fishing",
        "hunter2",
        "alice@",
        "Alice Wonder",
        "jwt-secret",
        "eyJ-secret",
    ] {
        assert!(!printed.contains(secret), "Debug printed {secret:?}: {printed}");
    }
    // What is not content is still there to debug with.
    assert!(printed.contains("AAMkAGI1AAAt9AHjAAA="));
    assert!(printed.contains("ErrorInvalidUser"));
    assert!(printed.contains("Scheduled"));
}
