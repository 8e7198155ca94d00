//! Events over HTTP: CRUD on both paths, JSON shapes, errors, Prefer headers, paging,
//! change keys and If-Match, extended properties, attendee copies.

mod common;
use common::*;
use serde_json::{Value, json};

fn seven_digits(s: &str) -> bool {
    // YYYY-MM-DDTHH:MM:SS.fffffff
    s.len() == 27 && s.as_bytes()[19] == b'.' && s[20..].chars().all(|c| c.is_ascii_digit())
}

#[tokio::test]
async fn create_get_patch_delete_with_graph_shapes() {
    let env = env().await;
    let created = env
        .post(
            &format!("/users/{ALICE}/calendar/events"),
            json!({
                "subject": "Project sync",
                "body": {"contentType": "HTML", "content": "Agenda"},
                "start": {"dateTime": "2024-05-01T09:00:00", "timeZone": "Pacific Standard Time"},
                "end": {"dateTime": "2024-05-01T09:30:00", "timeZone": "Pacific Standard Time"},
                "location": {"displayName": "@webex"},
                "attendees": [{"emailAddress": {"address": "x@fabrikam.example", "name": "X"}, "type": "Required"}]
            }),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let ev = created.body;
    let id = ev["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("AAMkAG"));
    assert_eq!(ev["type"], "singleInstance");
    assert_eq!(ev["isOrganizer"], true);
    assert_eq!(ev["responseStatus"]["response"], "organizer");
    assert_eq!(ev["originalStartTimeZone"], "Pacific Standard Time");
    // 09:00 PDT = 16:00 UTC, returned in UTC with seven digits.
    assert_eq!(
        ev["start"],
        json!({"dateTime": "2024-05-01T16:00:00.0000000", "timeZone": "UTC"})
    );
    assert!(seven_digits(ev["end"]["dateTime"].as_str().unwrap()));
    assert_eq!(ev["attendees"][0]["type"], "required");
    assert_eq!(ev["attendees"][0]["status"]["response"], "none");
    assert_eq!(ev["body"]["contentType"], "html");
    assert!(ev["body"]["content"].as_str().unwrap().starts_with("<html>"));
    assert_eq!(ev["bodyPreview"], "Agenda");
    assert_eq!(ev["location"]["uniqueIdType"], "private");
    assert_eq!(ev["locations"][0]["displayName"], "@webex");
    assert_eq!(
        ev["@odata.etag"],
        format!("W/\"{}\"", ev["changeKey"].as_str().unwrap())
    );
    assert!(ev["createdDateTime"].as_str().unwrap().ends_with('Z'));
    assert!(
        ev["iCalUId"]
            .as_str()
            .unwrap()
            .starts_with("040000008200E00074C5B7101A82E008")
    );

    // GET by both paths, by mail and by object id.
    for path in [
        format!("/users/{ALICE}/events/{id}"),
        format!("/users/{ALICE}/calendar/events/{id}"),
        format!("/users/{}/events/{id}", hcal_emulator::seed::EXAMPLE_ALICE),
    ] {
        let g = env.get(&path).await;
        assert_eq!(g.status, 200, "{path}");
        assert_eq!(g.body["id"], id.as_str());
        assert!(g.body["@odata.context"].as_str().unwrap().contains("$metadata#users("));
        assert!(g.headers.get("request-id").is_some());
    }

    // PATCH changes the change key; the old etag then fails with 412.
    let old_etag = ev["@odata.etag"].as_str().unwrap().to_string();
    let p = env
        .call(
            "PATCH",
            &format!("/users/{ALICE}/events/{id}"),
            Some(json!({"subject": "Renamed"})),
            &[("If-Match", &old_etag)],
        )
        .await;
    assert_eq!(p.status, 200, "{}", p.body);
    assert_eq!(p.body["subject"], "Renamed");
    assert_ne!(p.body["changeKey"], ev["changeKey"]);
    assert_ne!(p.body["lastModifiedDateTime"], Value::Null);
    let stale = env
        .call(
            "PATCH",
            &format!("/users/{ALICE}/events/{id}"),
            Some(json!({"subject": "Again"})),
            &[("If-Match", &old_etag)],
        )
        .await;
    assert_eq!(stale.status, 412);
    assert_eq!(stale.body["error"]["code"], "ErrorIrresolvableConflict");
    let stale_del = env
        .call(
            "DELETE",
            &format!("/users/{ALICE}/events/{id}"),
            None,
            &[("If-Match", &old_etag)],
        )
        .await;
    assert_eq!(stale_del.status, 412);

    let d = env.delete(&format!("/users/{ALICE}/calendar/events/{id}")).await;
    assert_eq!(d.status, 204);
    let gone = env.get(&format!("/users/{ALICE}/events/{id}")).await;
    assert_eq!(gone.status, 404);
    assert_eq!(gone.body["error"]["code"], "ErrorItemNotFound");
    assert!(gone.body["error"]["innerError"]["request-id"].is_string());
}

#[tokio::test]
async fn errors_match_graph() {
    let env = env().await;
    // Bad id, case-changed id, unknown user, malformed JSON, unknown property, bad enum.
    let bad = env.get(&format!("/users/{ALICE}/events/not-an-id")).await;
    assert_eq!(
        (bad.status, bad.body["error"]["code"].as_str()),
        (400, Some("ErrorInvalidIdMalformed"))
    );
    let ev = env
        .create(ALICE, "x", "2024-05-01T09:00:00", "2024-05-01T10:00:00")
        .await;
    let id = ev["id"].as_str().unwrap();
    let swapped: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_uppercase() {
                c.to_ascii_lowercase()
            } else {
                c.to_ascii_uppercase()
            }
        })
        .collect();
    let sw = env.get(&format!("/users/{ALICE}/events/{swapped}")).await;
    assert!(sw.status == 400 || sw.status == 404, "ids are case-sensitive");
    let nobody = env.get("/users/nobody@contoso.example/events").await;
    assert_eq!(
        (nobody.status, nobody.body["error"]["code"].as_str()),
        (404, Some("ErrorInvalidUser"))
    );
    let r = env
        .http
        .post(env.url(&format!("/users/{ALICE}/events")))
        .bearer_auth(&env.token)
        .header("Content-Type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "BadRequest");
    let unknown = env
        .post(&format!("/users/{ALICE}/events"), json!({"Subject": "x"}))
        .await;
    assert_eq!(
        (unknown.status, unknown.body["error"]["code"].as_str()),
        (400, Some("RequestBodyRead"))
    );
    let bad_enum = env
        .patch(&format!("/users/{ALICE}/events/{id}"), json!({"importance": "urgent"}))
        .await;
    assert_eq!(bad_enum.status, 400);
    let bad_tz = env
        .post(
            &format!("/users/{ALICE}/events"),
            json!({"start": {"dateTime": "2024-05-01T09:00:00", "timeZone": "Mars/Olympus"}, "end": {"dateTime": "2024-05-01T10:00:00", "timeZone": "UTC"}}),
        )
        .await;
    assert_eq!(bad_tz.body["error"]["code"], "TimeZoneNotSupportedException");
    // No token, bad token, /me with an app token.
    let r = env
        .http
        .get(env.url(&format!("/users/{ALICE}/events")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers().get("www-authenticate").is_some());
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "InvalidAuthenticationToken");
    let r = env
        .http
        .get(env.url("/me/events"))
        .bearer_auth(&env.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // Other calendars do not exist; the primary one is reachable by its id.
    let cal = env.get(&format!("/users/{ALICE}/calendar")).await.body;
    assert_eq!(cal["allowedOnlineMeetingProviders"], json!(["teamsForBusiness"]));
    let cid = cal["id"].as_str().unwrap();
    assert_eq!(
        env.get(&format!("/users/{ALICE}/calendars/{cid}/events")).await.status,
        200
    );
    assert_eq!(
        env.get(&format!(
            "/users/{ALICE}/calendars/AAMkAGAQEBAQEBAQEBAQEBAQEBAQE=/events"
        ))
        .await
        .status,
        404
    );
    // Unknown segment.
    let r = env.get(&format!("/users/{ALICE}/messagez")).await;
    assert_eq!(r.status, 400);
}

#[tokio::test]
async fn prefer_timezone_and_text_body() {
    let env = env().await;
    let ev = env
        .post(
            &format!("/users/{ALICE}/events"),
            json!({"subject": "tz", "body": {"contentType": "text", "content": "line one\nline <two>"},
                   "start": {"dateTime": "2024-07-01T10:00:00", "timeZone": "W. Europe Standard Time"},
                   "end": {"dateTime": "2024-07-01T11:00:00", "timeZone": "Europe/Amsterdam"}}),
        )
        .await
        .body;
    assert_eq!(ev["start"]["dateTime"], "2024-07-01T08:00:00.0000000");
    let id = ev["id"].as_str().unwrap();
    let r = env
        .call(
            "GET",
            &format!("/users/{ALICE}/events/{id}"),
            None,
            &[(
                "Prefer",
                "outlook.timezone=\"Pacific Standard Time\", outlook.body-content-type=\"text\"",
            )],
        )
        .await;
    assert_eq!(
        r.body["start"],
        json!({"dateTime": "2024-07-01T01:00:00.0000000", "timeZone": "Pacific Standard Time"})
    );
    assert_eq!(r.body["body"]["contentType"], "text");
    assert!(r.body["body"]["content"].as_str().unwrap().contains("line <two>"));
    let applied = r.headers.get("preference-applied").unwrap().to_str().unwrap();
    assert!(applied.contains("outlook.timezone=\"Pacific Standard Time\""));
    assert!(applied.contains("outlook.body-content-type=\"text\""));
    // Repeated Prefer headers work too; IANA names are accepted.
    let r = env
        .http
        .get(env.url(&format!("/users/{ALICE}/events/{id}")))
        .bearer_auth(&env.token)
        .header("Prefer", "outlook.timezone=\"Asia/Tokyo\"")
        .header("Prefer", "outlook.body-content-type=\"html\"")
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["start"]["dateTime"], "2024-07-01T17:00:00.0000000");
    assert_eq!(v["body"]["contentType"], "html");
}

#[tokio::test]
async fn list_pages_by_ten_with_next_link() {
    let env = env().await;
    for i in 0..23 {
        env.create(
            ALICE,
            &format!("e{i}"),
            &format!("2024-05-{:02}T09:00:00", i + 1),
            &format!("2024-05-{:02}T10:00:00", i + 1),
        )
        .await;
    }
    let mut url = format!("/users/{ALICE}/events");
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let r = env.get(&url).await;
        assert_eq!(r.status, 200);
        pages += 1;
        for e in r.body["value"].as_array().unwrap() {
            seen.push(e["subject"].as_str().unwrap().to_string());
        }
        match r.body["@odata.nextLink"].as_str() {
            Some(n) => {
                assert!(n.contains("$skip="));
                url = n.to_string();
            }
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen.len(), 23);
    let r = env.get(&format!("/users/{ALICE}/events?$top=5&$select=subject")).await;
    assert_eq!(r.body["value"].as_array().unwrap().len(), 5);
    let first = &r.body["value"][0];
    assert!(first.get("start").is_none() && first.get("subject").is_some() && first.get("id").is_some());
    let bad = env.get(&format!("/users/{ALICE}/events?$select=nonsense")).await;
    assert_eq!(bad.status, 400);
}

#[tokio::test]
async fn extended_properties_only_through_expand() {
    let env = env().await;
    let pid = "String {66f5a359-4659-4830-9070-00040ec6ac6e} Name Handled";
    let created = env
        .post(
            &format!("/users/{ALICE}/events"),
            json!({"subject": "x", "start": {"dateTime": "2024-05-01T09:00:00", "timeZone": "UTC"},
                   "end": {"dateTime": "2024-05-01T10:00:00", "timeZone": "UTC"},
                   "singleValueExtendedProperties": [{"id": pid, "value": "v1"}]}),
        )
        .await;
    assert_eq!(created.status, 201);
    assert!(created.body.get("singleValueExtendedProperties").is_none());
    let id = created.body["id"].as_str().unwrap();
    let p = env
        .patch(
            &format!("/users/{ALICE}/events/{id}"),
            json!({"singleValueExtendedProperties": [{"id": pid, "value": "v2"}]}),
        )
        .await;
    assert_eq!(p.status, 200);
    assert!(p.body.get("singleValueExtendedProperties").is_none());
    let plain = env.get(&format!("/users/{ALICE}/events/{id}")).await;
    assert!(plain.body.get("singleValueExtendedProperties").is_none());
    let filter = format!("singleValueExtendedProperties($filter=id eq '{pid}')");
    let r = env
        .http
        .get(env.url(&format!("/users/{ALICE}/events/{id}")))
        .query(&[("$expand", filter.as_str())])
        .bearer_auth(&env.token)
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["singleValueExtendedProperties"], json!([{"id": pid, "value": "v2"}]));
    // The Name part is case-sensitive.
    let wrong = format!(
        "singleValueExtendedProperties($filter=id eq '{}')",
        pid.replace("Handled", "handled")
    );
    let r = env
        .http
        .get(env.url(&format!("/users/{ALICE}/events/{id}")))
        .query(&[("$expand", wrong.as_str())])
        .bearer_auth(&env.token)
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    assert!(v.get("singleValueExtendedProperties").is_none());
    // Filter on the property in a list.
    let f = format!("singleValueExtendedProperties/Any(ep: ep/id eq '{pid}' and ep/value eq 'V2')");
    let r = env
        .http
        .get(env.url(&format!("/users/{ALICE}/events")))
        .query(&[("$filter", f.as_str())])
        .bearer_auth(&env.token)
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["value"].as_array().unwrap().len(), 1);
    // Malformed property id.
    let bad = env
        .patch(
            &format!("/users/{ALICE}/events/{id}"),
            json!({"singleValueExtendedProperties": [{"id": "Nonsense", "value": "x"}]}),
        )
        .await;
    assert_eq!(bad.status, 400);
    // The truth shows it.
    let t = env
        .control("GET", &format!("/_emulator/users/{ALICE}/events"), json!({}))
        .await;
    assert_eq!(t.body["value"][0]["singleValueExtendedProperties"][0]["value"], "v2");
}

#[tokio::test]
async fn meetings_copy_to_attendees_and_rooms_accept() {
    let env = env().await;
    let created = env
        .post(
            &format!("/users/{ALICE}/events"),
            json!({"subject": "Meet", "body": {"contentType": "text", "content": "hello"},
                   "start": {"dateTime": "2024-05-02T09:00:00", "timeZone": "UTC"},
                   "end": {"dateTime": "2024-05-02T10:00:00", "timeZone": "UTC"},
                   "location": {"displayName": "Amstel", "locationEmailAddress": ROOM},
                   "attendees": [{"emailAddress": {"address": BOB}, "type": "required"},
                                 {"emailAddress": {"address": ROOM}, "type": "resource"}]}),
        )
        .await
        .body;
    let room_status = created["attendees"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["emailAddress"]["address"] == ROOM)
        .unwrap()["status"]["response"]
        .clone();
    assert_eq!(room_status, "accepted");
    let bob = env.get(&format!("/users/{BOB}/events")).await.body["value"][0].clone();
    assert_eq!(bob["iCalUId"], created["iCalUId"]);
    assert_ne!(bob["id"], created["id"]);
    assert_eq!(bob["isOrganizer"], false);
    assert_eq!(bob["organizer"]["emailAddress"]["address"], ALICE);
    let room = env.get(&format!("/users/{ROOM}/events")).await.body["value"][0].clone();
    assert_eq!(room["responseStatus"]["response"], "accepted");
    // Organizer's body PATCH propagates; cancel marks Bob's copy cancelled and removes the room's.
    let id = created["id"].as_str().unwrap();
    env.patch(
        &format!("/users/{ALICE}/events/{id}"),
        json!({"body": {"contentType": "html", "content": "<p>Join: https://example.webex.com/meet/x</p>"}}),
    )
    .await;
    let bob2 = env
        .get(&format!("/users/{BOB}/events/{}", bob["id"].as_str().unwrap()))
        .await
        .body;
    assert!(bob2["body"]["content"].as_str().unwrap().contains("example.webex.com"));
    let c = env
        .post(
            &format!("/users/{ALICE}/events/{id}/cancel"),
            json!({"comment": "sorry"}),
        )
        .await;
    assert_eq!(c.status, 202);
    let bob3 = env
        .get(&format!("/users/{BOB}/events/{}", bob["id"].as_str().unwrap()))
        .await
        .body;
    assert_eq!(bob3["isCancelled"], true);
    let room_list = env.get(&format!("/users/{ROOM}/events")).await.body;
    assert_eq!(room_list["value"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn teams_meeting_generates_join_url_and_blob() {
    let env = env().await;
    let ev = env
        .post(
            &format!("/users/{ALICE}/events"),
            json!({"subject": "T", "isOnlineMeeting": true, "onlineMeetingProvider": "teamsForBusiness",
                   "start": {"dateTime": "2024-05-02T09:00:00", "timeZone": "UTC"},
                   "end": {"dateTime": "2024-05-02T10:00:00", "timeZone": "UTC"}}),
        )
        .await
        .body;
    let join = ev["onlineMeeting"]["joinUrl"].as_str().unwrap();
    assert!(join.starts_with("https://teams.microsoft.com/l/meetup-join/"));
    assert!(ev["body"]["content"].as_str().unwrap().contains(join));
    let id = ev["id"].as_str().unwrap();
    let p = env
        .patch(
            &format!("/users/{ALICE}/events/{id}"),
            json!({"onlineMeetingProvider": "skypeForBusiness"}),
        )
        .await;
    assert_eq!(p.body["onlineMeetingProvider"], "teamsForBusiness");
}

#[tokio::test]
async fn series_meeting_copies_follow_occurrence_changes() {
    let env = env().await;
    let master = env
        .post(
            &format!("/users/{ALICE}/events"),
            json!({"subject": "Standup", "start": {"dateTime": "2024-03-04T09:00:00", "timeZone": "UTC"}, "end": {"dateTime": "2024-03-04T09:15:00", "timeZone": "UTC"},
                   "recurrence": {"pattern": {"type": "daily", "interval": 1}, "range": {"type": "numbered", "startDate": "2024-03-04", "numberOfOccurrences": 5}},
                   "attendees": [{"emailAddress": {"address": BOB}, "type": "required"}, {"emailAddress": {"address": ROOM}, "type": "resource"}]}),
        )
        .await
        .body;
    let mid = master["id"].as_str().unwrap();
    // Cancel the 6th of March and move the 7th, as Alice.
    let r = env
        .control(
            "DELETE",
            &format!("/_emulator/users/{ALICE}/events/{mid}/occurrences/2024-03-06"),
            json!({}),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.body);
    let r = env
        .control(
            "PATCH",
            &format!("/_emulator/users/{ALICE}/events/{mid}/occurrences/2024-03-07"),
            json!({"start": {"dateTime": "2024-03-07T11:00:00", "timeZone": "UTC"}, "end": {"dateTime": "2024-03-07T11:15:00", "timeZone": "UTC"}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let win = "startDateTime=2024-03-01T00:00:00Z&endDateTime=2024-04-01T00:00:00Z";
    let view = |user: &'static str| {
        let env = &env;
        async move {
            let v = env.get(&format!("/users/{user}/calendarView?{win}")).await.body;
            v["value"].as_array().unwrap().clone()
        }
    };
    let alice = view(ALICE).await;
    assert_eq!(alice.len(), 4);
    let bob = view(BOB).await;
    assert_eq!(bob.len(), 5, "Bob keeps the cancelled occurrence, marked cancelled");
    let cancelled: Vec<&Value> = bob.iter().filter(|e| e["isCancelled"] == true).collect();
    assert_eq!(cancelled.len(), 1);
    assert!(
        cancelled[0]["start"]["dateTime"]
            .as_str()
            .unwrap()
            .starts_with("2024-03-06")
    );
    assert_eq!(cancelled[0]["type"], "exception");
    assert!(
        bob.iter()
            .any(|e| e["start"]["dateTime"] == "2024-03-07T11:00:00.0000000" && e["type"] == "exception")
    );
    let room = view(ROOM).await;
    assert_eq!(room.len(), 4, "the room drops the cancelled occurrence");
    assert!(room.iter().all(|e| e["isCancelled"] == false));
}
