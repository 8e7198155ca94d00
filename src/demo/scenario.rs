//! The demo's scenario: an admin connects the tenant and enables mailboxes,
//! then Alice works in her calendar (through the emulator, as Outlook would)
//! while the demo watches the meeting lists of every enabled mailbox.
//!
//! The demo keeps its own model of what each list should show. After every
//! action it polls the node until each of the four lists equals the model
//! exactly (times, subjects, cancellation, join target), or a bounded wait
//! runs out and the step fails with what it saw. Meeting content is never
//! part of a failure: only counts, times and codes.

use std::io::Write;
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, Utc};
use reqwest::Method;
use serde_json::{Value, json};

use super::client::{Api, RequestError, error_code, wait_for};
use super::lists::{Listed, compare};

/// How long one expectation may take to hold before its step fails.
const WAIT: Duration = Duration::from_secs(10);

/// A join link as Teams writes it into an invitation's HTML body.
const TEAMS_BODY: &str = "<html><body><p>Agenda: walk through the new design.</p>\
<hr><p><b>Microsoft Teams meeting</b><br>Join on your computer, mobile app or room device<br>\
<a href=\"https://teams.microsoft.com/l/meetup-join/19%3ameeting_NmE2NzQ2ZjEtMjNkZC00YTc1LWI2OGMtNmY0ZDI1ZjQ2ZDNm%40thread.v2/0?context=%7b%22Tid%22%3a%226e1c3a52-2b1f-4c1e-9a57-6d3f0e1b7a01%22%7d\">Click here to join the meeting</a><br>\
Meeting ID: 245 318 772 911<br>Passcode: Xk3Jq9</p><hr></body></html>";

/// One mailbox of the scenario.
#[derive(Clone, Debug)]
pub struct Mailbox {
    pub email: String,
    /// How output lines name it: `alice`, `room Amstel`.
    pub label: String,
    pub locale: Option<String>,
    pub room: bool,
}

/// What the scenario found; the demo's last line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// Every step and every expectation held.
    pub ok: bool,
    /// Steps that held, of `steps`.
    pub passed: usize,
    pub steps: usize,
    /// Mailboxes the node reports activated at the end.
    pub mailboxes: usize,
    /// Meetings (not cancelled) in the lists of every mailbox at the end.
    pub meetings: usize,
    /// The node's digest of its whole state (`/admin/v1/digest`).
    pub digest: String,
}

/// The steps, in order. Each needs the ones before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    Setup,
    TestMailbox,
    EnableUsers,
    TeamsMeeting,
    KeywordMeeting,
    WeeklySeries,
    MoveOccurrence,
    CancelOccurrence,
    Rename,
    ShortMeeting,
    CancelMeeting,
}

impl Step {
    const ALL: [Step; 11] = [
        Step::Setup,
        Step::TestMailbox,
        Step::EnableUsers,
        Step::TeamsMeeting,
        Step::KeywordMeeting,
        Step::WeeklySeries,
        Step::MoveOccurrence,
        Step::CancelOccurrence,
        Step::Rename,
        Step::ShortMeeting,
        Step::CancelMeeting,
    ];

    fn label(self) -> &'static str {
        match self {
            Step::Setup => "setup",
            Step::TestMailbox => "test mailbox",
            Step::EnableUsers => "users",
            Step::TeamsMeeting => "teams meeting",
            Step::KeywordMeeting => "keyword meeting",
            Step::WeeklySeries => "weekly series",
            Step::MoveOccurrence => "move occurrence",
            Step::CancelOccurrence => "cancel occurrence",
            Step::Rename => "rename",
            Step::ShortMeeting => "short meeting",
            Step::CancelMeeting => "cancel meeting",
        }
    }
}

// Indices into `Scenario::mailboxes`.
const ALICE: usize = 0;
const BOB: usize = 1;
const CAROL: usize = 2;
const ROOM: usize = 3;

pub struct Scenario<'a> {
    api: &'a Api,
    out: &'a mut dyn Write,
    org: String,
    /// Alice, Bob, Carol, the room: in that order.
    mailboxes: [Mailbox; 4],
    /// The first day with meetings (tomorrow, UTC) and the window the lists are read in.
    day: NaiveDate,
    from: String,
    to: String,
    /// What each mailbox's list should show now.
    expected: [Vec<Listed>; 4],
    /// Ids in Alice's calendar that later steps act on.
    teams_id: String,
    series_id: String,
    short_id: String,
}

fn at(day: NaiveDate, hour: u32, minute: u32) -> DateTime<Utc> {
    day.and_hms_opt(hour, minute, 0).unwrap_or_default().and_utc()
}

/// A Graph `dateTimeTimeZone` in UTC.
fn graph_time(t: DateTime<Utc>) -> Value {
    json!({"dateTime": t.format("%Y-%m-%dT%H:%M:%S").to_string(), "timeZone": "UTC"})
}

fn hhmm(t: DateTime<Utc>) -> String {
    t.format("%H:%M").to_string()
}

fn created_id(status: u16, body: &Value, what: &str) -> Result<String, String> {
    if status != 201 {
        return Err(format!("creating {what} answered HTTP {status}{}", error_code(body)));
    }
    body["id"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| format!("creating {what} gave no id"))
}

fn req(e: RequestError) -> String {
    e.0
}

impl<'a> Scenario<'a> {
    /// `mailboxes`: Alice, Bob, Carol and the room, in that order.
    pub fn new(api: &'a Api, out: &'a mut dyn Write, org: &str, mailboxes: [Mailbox; 4]) -> Scenario<'a> {
        Scenario {
            api,
            out,
            org: org.to_string(),
            mailboxes,
            day: NaiveDate::MIN,
            from: String::new(),
            to: String::new(),
            expected: Default::default(),
            teams_id: String::new(),
            series_id: String::new(),
            short_id: String::new(),
        }
    }

    fn say(&mut self, line: &str) -> std::io::Result<()> {
        writeln!(self.out, "{line}")?;
        self.out.flush()
    }

    /// Runs every step, printing one line each as it ends, then the summary line.
    /// Stops at the first step that fails: the later ones build on it.
    pub async fn run(mut self) -> std::io::Result<Outcome> {
        let started = Instant::now();
        let mut passed = 0;
        for step in Step::ALL {
            let result = match self.prepare_window().await {
                Ok(()) => self.step(step).await,
                Err(e) => Err(e),
            };
            match result {
                Ok(line) => {
                    passed += 1;
                    self.say(&format!("✓ {}: {line}", step.label()))?;
                }
                Err(why) => {
                    self.say(&format!("✗ {}: {why}", step.label()))?;
                    break;
                }
            }
        }
        let steps = Step::ALL.len();
        let (summary, mailboxes, meetings, digest) = self.summary().await;
        let ok = passed == steps && summary.is_ok();
        match summary {
            Ok(line) => self.say(&format!("✓ result: {line}"))?,
            Err(why) => self.say(&format!("✗ result: {why}"))?,
        }
        let verdict = if ok {
            format!(
                "scenario passed: {passed} of {steps} steps in {:.1} s",
                started.elapsed().as_secs_f64()
            )
        } else {
            format!(
                "scenario FAILED: {passed} of {steps} steps held, in {:.1} s",
                started.elapsed().as_secs_f64()
            )
        };
        self.say(&verdict)?;
        Ok(Outcome {
            ok,
            passed,
            steps,
            mailboxes,
            meetings,
            digest,
        })
    }

    async fn step(&mut self, step: Step) -> Result<String, String> {
        match step {
            Step::Setup => self.setup().await,
            Step::TestMailbox => self.test_mailbox().await,
            Step::EnableUsers => self.enable_users().await,
            Step::TeamsMeeting => self.teams_meeting().await,
            Step::KeywordMeeting => self.keyword_meeting().await,
            Step::WeeklySeries => self.weekly_series().await,
            Step::MoveOccurrence => self.move_occurrence().await,
            Step::CancelOccurrence => self.cancel_occurrence().await,
            Step::Rename => self.rename().await,
            Step::ShortMeeting => self.short_meeting().await,
            Step::CancelMeeting => self.cancel_meeting().await,
        }
    }

    /// Tomorrow (by the emulator's clock) and the lists' window, read once.
    async fn prepare_window(&mut self) -> Result<(), String> {
        if self.day != NaiveDate::MIN {
            return Ok(());
        }
        let (status, clock) = self.api.emu(Method::GET, "/clock", None).await.map_err(req)?;
        let now = clock["now"]
            .as_str()
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
            .map(|d| d.with_timezone(&Utc))
            .ok_or_else(|| format!("the emulator's clock answered HTTP {status} without a readable time"))?;
        let today = now.date_naive();
        self.day = today + chrono::Days::new(1);
        let from = at(today, 0, 0);
        self.from = from.to_rfc3339();
        self.to = (from + chrono::Duration::days(30)).to_rfc3339();
        Ok(())
    }

    async fn setup(&mut self) -> Result<String, String> {
        let path = format!("/orgs/{}/calendar/setup", self.org);
        let (status, body) = self.api.admin(Method::POST, &path, None).await.map_err(req)?;
        if status != 200 {
            return Err(format!("starting setup answered HTTP {status}{}", error_code(&body)));
        }
        let url = body["consent_url"]
            .as_str()
            .ok_or("starting setup gave no consent URL")?
            .to_string();
        // An admin's browser follows the link; the emulator consents and redirects back to the node.
        let (status, body) = self.api.get(&url).await.map_err(req)?;
        if status != 200 || body["status"] != "connected" {
            return Err(format!(
                "the admin-consent round trip answered HTTP {status}{}",
                error_code(&body)
            ));
        }
        let tenant = body["tenant_id"].as_str().unwrap_or("?");
        let short: String = tenant.chars().take(8).collect();
        Ok(format!("admin consent granted for tenant {short}…"))
    }

    async fn test_mailbox(&mut self) -> Result<String, String> {
        let alice = &self.mailboxes[ALICE];
        let path = format!("/orgs/{}/calendar/test", self.org);
        let (status, report) = self
            .api
            .admin(Method::POST, &path, Some(json!({"email": alice.email})))
            .await
            .map_err(req)?;
        if status != 200 {
            return Err(format!("the check answered HTTP {status}{}", error_code(&report)));
        }
        let checks = report["checks"].as_array().cloned().unwrap_or_default();
        let names: Vec<&str> = checks.iter().filter_map(|c| c["name"].as_str()).collect();
        if report["ok"] != true || checks.is_empty() {
            let failed = checks
                .iter()
                .find(|c| c["ok"] == false)
                .map(|c| {
                    format!(
                        "; first failure: {} ({})",
                        c["name"].as_str().unwrap_or("?"),
                        c["error"].as_str().unwrap_or("no code")
                    )
                })
                .unwrap_or_default();
            return Err(format!(
                "{}'s mailbox did not pass every permission check{failed}",
                alice.label
            ));
        }
        Ok(format!(
            "{}'s mailbox passed {} permission checks ({})",
            alice.label,
            names.len(),
            names.join(", ")
        ))
    }

    async fn enable_users(&mut self) -> Result<String, String> {
        for m in &self.mailboxes {
            let kind = if m.room { "room" } else { "user" };
            let path = format!("/orgs/{}/users/{}", self.org, m.email);
            let (status, body) = self
                .api
                .admin(Method::PUT, &path, Some(json!({"kind": kind})))
                .await
                .map_err(req)?;
            if status != 200 {
                return Err(format!(
                    "enabling {} answered HTTP {status}{}",
                    m.label,
                    error_code(&body)
                ));
            }
        }
        let api = self.api;
        let org = self.org.clone();
        let mailboxes = &self.mailboxes;
        wait_for(WAIT, async || {
            let (status, body) = api
                .admin(Method::GET, &format!("/orgs/{org}/users"), None)
                .await
                .map_err(req)?;
            if status != 200 {
                return Err(format!("the user list answered HTTP {status}{}", error_code(&body)));
            }
            let users = body["users"].as_array().cloned().unwrap_or_default();
            let mut waiting = Vec::new();
            for m in mailboxes {
                let status = users
                    .iter()
                    .find(|u| u["email"].as_str() == Some(m.email.as_str()))
                    .and_then(|u| u["status"].as_str())
                    .unwrap_or("missing");
                if status != "activated" {
                    waiting.push(format!("{} is {status}", m.label));
                }
            }
            if waiting.is_empty() {
                Ok(())
            } else {
                Err(format!("not every mailbox is activated: {}", waiting.join(", ")))
            }
        })
        .await?;
        let names: Vec<String> = self
            .mailboxes
            .iter()
            .map(|m| match (&m.locale, m.room) {
                (Some(l), false) => format!("{} ({l})", m.label),
                _ => m.label.clone(),
            })
            .collect();
        Ok(format!(
            "{} enabled; all {} mailboxes subscribed to change notifications and activated",
            names.join(", "),
            self.mailboxes.len()
        ))
    }

    /// Alice creates a meeting as `body` and the model gains it in `who`'s lists.
    async fn create(&mut self, body: Value, who: &[usize], item: Listed, what: &str) -> Result<String, String> {
        let path = format!("/users/{}/events", self.mailboxes[ALICE].email);
        let (status, created) = self.api.emu(Method::POST, &path, Some(body)).await.map_err(req)?;
        let id = created_id(status, &created, what)?;
        for &m in who {
            self.expected[m].push(item.clone());
        }
        Ok(id)
    }

    fn attendee(&self, m: usize) -> Value {
        let mb = &self.mailboxes[m];
        let kind = if mb.room { "resource" } else { "required" };
        json!({"type": kind, "emailAddress": {"address": mb.email, "name": mb.label}})
    }

    async fn teams_meeting(&mut self) -> Result<String, String> {
        let (start, end) = (at(self.day, 9, 0), at(self.day, 10, 0));
        let subject = "Design review";
        let body = json!({
            "subject": subject,
            "start": graph_time(start), "end": graph_time(end),
            "location": {"displayName": self.mailboxes[ROOM].label},
            "body": {"contentType": "html", "content": TEAMS_BODY},
            "attendees": [self.attendee(BOB), self.attendee(ROOM)],
        });
        let item = Listed {
            start,
            end,
            subject: subject.into(),
            cancelled: false,
            join: Some("teams".into()),
            explanation: Some("join_link_found".into()),
            any_join: false,
        };
        self.teams_id = self
            .create(body, &[ALICE, BOB, ROOM], item, "the Teams meeting")
            .await?;
        self.lists_as_expected().await?;
        Ok(format!(
            "{} invited {} and {} on {} {}–{} UTC, Teams link in the body: in all three lists, join target detected (provider teams)",
            self.mailboxes[ALICE].label,
            self.mailboxes[BOB].label,
            self.mailboxes[ROOM].label,
            self.day,
            hhmm(start),
            hhmm(end)
        ))
    }

    async fn keyword_meeting(&mut self) -> Result<String, String> {
        let (start, end) = (at(self.day, 13, 0), at(self.day, 14, 0));
        let subject = "Partner call";
        let body = json!({
            "subject": subject,
            "start": graph_time(start), "end": graph_time(end),
            "location": {"displayName": "@webex"},
            "body": {"contentType": "text", "content": "Quarterly check-in with the partner team."},
            "attendees": [self.attendee(CAROL)],
        });
        // The keyword must be detected; whether hcal has written join details yet is not asked.
        let item = Listed {
            start,
            end,
            subject: subject.into(),
            cancelled: false,
            join: None,
            explanation: Some("keyword_in_location".into()),
            any_join: true,
        };
        self.create(body, &[ALICE, CAROL], item, "the @webex meeting").await?;
        self.lists_as_expected().await?;
        let listed = self.list(&self.mailboxes[ALICE]).await?;
        let join = listed
            .iter()
            .find(|m| m.start == start && m.subject == subject)
            .and_then(|m| m.join.clone());
        let decorated = match join {
            Some(provider) => format!("join details written (provider {provider})"),
            None => "no join details written (yet)".to_string(),
        };
        Ok(format!(
            "{} invited {} with @webex as the location: both lists show the keyword detected, {decorated}",
            self.mailboxes[ALICE].label, self.mailboxes[CAROL].label
        ))
    }

    fn occurrence_day(&self, n: u64) -> NaiveDate {
        self.day + chrono::Days::new(1 + 7 * n)
    }

    async fn weekly_series(&mut self) -> Result<String, String> {
        let first = self.occurrence_day(0);
        let subject = "Weekly planning";
        let body = json!({
            "subject": subject,
            "start": graph_time(at(first, 8, 0)), "end": graph_time(at(first, 8, 30)),
            "location": {"displayName": self.mailboxes[ROOM].label},
            "attendees": [self.attendee(ROOM)],
            "recurrence": {
                "pattern": {"type": "weekly", "interval": 1,
                            "daysOfWeek": [first.format("%A").to_string().to_lowercase()]},
                "range": {"type": "numbered", "startDate": first.to_string(), "numberOfOccurrences": 4},
            },
        });
        let path = format!("/users/{}/events", self.mailboxes[ALICE].email);
        let (status, created) = self.api.emu(Method::POST, &path, Some(body)).await.map_err(req)?;
        self.series_id = created_id(status, &created, "the weekly series")?;
        for n in 0..4 {
            let d = self.occurrence_day(n);
            let item = Listed {
                start: at(d, 8, 0),
                end: at(d, 8, 30),
                subject: subject.into(),
                cancelled: false,
                join: None,
                explanation: Some("no_link".into()),
                any_join: false,
            };
            self.expected[ALICE].push(item.clone());
            self.expected[ROOM].push(item);
        }
        self.lists_as_expected().await?;
        Ok(format!(
            "{} booked {} weekly from {first} 08:00 UTC, 4 occurrences: all 4 in her list and in the room's",
            self.mailboxes[ALICE].label, self.mailboxes[ROOM].label
        ))
    }

    /// Applies `change` to the occurrence of the series on `day` in every list that has it.
    fn change_occurrence(&mut self, day: NaiveDate, change: impl Fn(&mut Vec<Listed>, usize)) {
        let start = at(day, 8, 0);
        for list in self.expected.iter_mut() {
            if let Some(i) = list
                .iter()
                .position(|m| m.start == start && m.subject == "Weekly planning")
            {
                change(list, i);
            }
        }
    }

    async fn move_occurrence(&mut self) -> Result<String, String> {
        let day = self.occurrence_day(1);
        let (start, end) = (at(day, 12, 0), at(day, 12, 30));
        let path = format!(
            "/users/{}/events/{}/occurrences/{day}",
            self.mailboxes[ALICE].email, self.series_id
        );
        let (status, body) = self
            .api
            .emu(
                Method::PATCH,
                &path,
                Some(json!({"start": graph_time(start), "end": graph_time(end)})),
            )
            .await
            .map_err(req)?;
        if status != 200 {
            return Err(format!(
                "moving the occurrence answered HTTP {status}{}",
                error_code(&body)
            ));
        }
        self.change_occurrence(day, |list, i| {
            list[i].start = start;
            list[i].end = end;
        });
        self.lists_as_expected().await?;
        Ok(format!(
            "{} moved the occurrence of {day} from 08:00 to {} UTC: her list and the room's show the new time",
            self.mailboxes[ALICE].label,
            hhmm(start)
        ))
    }

    async fn cancel_occurrence(&mut self) -> Result<String, String> {
        let day = self.occurrence_day(2);
        let path = format!(
            "/users/{}/events/{}/occurrences/{day}",
            self.mailboxes[ALICE].email, self.series_id
        );
        let (status, body) = self.api.emu(Method::DELETE, &path, None).await.map_err(req)?;
        if !(200..300).contains(&status) {
            return Err(format!(
                "cancelling the occurrence answered HTTP {status}{}",
                error_code(&body)
            ));
        }
        self.change_occurrence(day, |list, i| {
            list.remove(i);
        });
        self.lists_as_expected().await?;
        Ok(format!(
            "{} cancelled the occurrence of {day}: gone from her list and the room's, 3 left",
            self.mailboxes[ALICE].label
        ))
    }

    async fn rename(&mut self) -> Result<String, String> {
        let (old, new) = ("Design review", "Design review (final)");
        let path = format!("/users/{}/events/{}", self.mailboxes[ALICE].email, self.teams_id);
        let (status, body) = self
            .api
            .emu(Method::PATCH, &path, Some(json!({"subject": new})))
            .await
            .map_err(req)?;
        if status != 200 {
            return Err(format!(
                "editing the subject answered HTTP {status}{}",
                error_code(&body)
            ));
        }
        for list in self.expected.iter_mut() {
            for m in list.iter_mut().filter(|m| m.subject == old) {
                m.subject = new.into();
            }
        }
        self.lists_as_expected().await?;
        Ok(format!(
            "{} edited the Teams meeting's subject: her list, {}'s and the room's show the new one",
            self.mailboxes[ALICE].label, self.mailboxes[BOB].label
        ))
    }

    async fn short_meeting(&mut self) -> Result<String, String> {
        let day = self.day + chrono::Days::new(2);
        let (start, end) = (at(day, 15, 0), at(day, 15, 30));
        let subject = "Budget check";
        let body = json!({
            "subject": subject,
            "start": graph_time(start), "end": graph_time(end),
            "attendees": [self.attendee(CAROL)],
        });
        let item = Listed {
            start,
            end,
            subject: subject.into(),
            cancelled: false,
            join: None,
            explanation: Some("no_link".into()),
            any_join: false,
        };
        self.short_id = self.create(body, &[ALICE, CAROL], item, "the meeting").await?;
        self.lists_as_expected().await?;
        Ok(format!(
            "{} invited {} on {day} {}–{} UTC: in both lists",
            self.mailboxes[ALICE].label,
            self.mailboxes[CAROL].label,
            hhmm(start),
            hhmm(end)
        ))
    }

    async fn cancel_meeting(&mut self) -> Result<String, String> {
        let path = format!("/users/{}/events/{}/cancel", self.mailboxes[ALICE].email, self.short_id);
        let (status, body) = self
            .api
            .emu(Method::POST, &path, Some(json!({"comment": "No longer needed."})))
            .await
            .map_err(req)?;
        if !(200..300).contains(&status) {
            return Err(format!(
                "cancelling the meeting answered HTTP {status}{}",
                error_code(&body)
            ));
        }
        // The organizer's item goes; an invited person keeps a cancelled copy, as Exchange does.
        self.expected[ALICE].retain(|m| m.subject != "Budget check");
        for m in self.expected[CAROL].iter_mut().filter(|m| m.subject == "Budget check") {
            m.cancelled = true;
            m.subject = "Canceled: Budget check".into();
        }
        self.lists_as_expected().await?;
        Ok(format!(
            "{} cancelled the meeting with {}: gone from her list, marked cancelled in {}'s",
            self.mailboxes[ALICE].label, self.mailboxes[CAROL].label, self.mailboxes[CAROL].label
        ))
    }

    /// Reads every list and compares it with the model, until they agree or the wait ends.
    async fn lists_as_expected(&self) -> Result<(), String> {
        wait_for(WAIT, async || {
            for (m, expected) in self.mailboxes.iter().zip(self.expected.iter()) {
                let actual = self.list(m).await?;
                compare(&m.label, expected, &actual)?;
            }
            Ok(())
        })
        .await
    }

    async fn list(&self, m: &Mailbox) -> Result<Vec<Listed>, String> {
        let items = self
            .api
            .meetings(&m.email, &self.from, &self.to)
            .await
            .map_err(|e| format!("{}'s {e}", m.label))?;
        items.iter().map(Listed::from_list).collect()
    }

    /// The numbers of the last line: activated mailboxes, meetings listed, the digest.
    async fn summary(&mut self) -> (Result<String, String>, usize, usize, String) {
        let mut mailboxes = 0;
        let mut meetings = 0;
        let mut digest = String::new();
        let result: Result<String, String> = async {
            let (status, body) = self
                .api
                .admin(Method::GET, &format!("/orgs/{}/users", self.org), None)
                .await
                .map_err(req)?;
            if status != 200 {
                return Err(format!("the user list answered HTTP {status}{}", error_code(&body)));
            }
            mailboxes = body["users"]
                .as_array()
                .map(|u| u.iter().filter(|u| u["status"] == "activated").count())
                .unwrap_or(0);
            let mut per = Vec::new();
            for m in &self.mailboxes {
                // A mailbox that never activated has no list; the steps said why.
                let list: Vec<Listed> = self.list(m).await.unwrap_or_default();
                let live = list.iter().filter(|l| !l.cancelled).count();
                let cancelled = list.len() - live;
                meetings += live;
                per.push(match cancelled {
                    0 => format!("{} {live}", m.label),
                    n => format!("{} {live} and {n} cancelled", m.label),
                });
            }
            let (status, body) = self.api.admin(Method::GET, "/digest", None).await.map_err(req)?;
            digest = body["digest"].as_str().unwrap_or_default().to_string();
            if status != 200 || digest.is_empty() {
                return Err(format!("the digest answered HTTP {status}{}", error_code(&body)));
            }
            let short: String = digest.chars().take(12).collect();
            Ok(format!(
                "{mailboxes} mailboxes activated, {meetings} meetings listed ({}), {} events in the log, digest {short}…",
                per.join(", "),
                body["events"].as_u64().unwrap_or(0)
            ))
        }
        .await;
        (result, mailboxes, meetings, digest)
    }
}
