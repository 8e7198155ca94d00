//! The built-in meeting services: a table of provider id, name and link pattern, plus a table
//! of help and housekeeping links that invitations carry beside the join link.
//!
//! The table covers every service MeetingBar recognises by URL (its `MeetingProvider.all`),
//! with patterns rewritten for whole, already-extracted links: each is anchored at the start
//! of the link, so `https://evil.example/zoom.us/j/1` or `https://zoom.us@evil.example/` never
//! pass for Zoom. Where MeetingBar's pattern is looser than the service's join links (Chime's
//! `chime.aws/[0-9]*` also matches `chime.aws/dialinnumbers`), the pattern asks for the join
//! shape. Beyond MeetingBar: Teams on `teams.live.com` and `teams.cloud.microsoft`, GoTo's
//! `meet.goto.com`, Webex's join-service links, Proton Meet, Skype for Business on
//! `join.microsoft.com` and on-premises simple URLs. SIP (`sip:`, `sips:`, `h323:`, bare
//! `digits@domain`) is provider `sip` and handled outside the table.
//!
//! Order matters: the first matching row wins, and housekeeping rows are tried before any
//! provider (a Zoom local-numbers page `zoom.us/u/…` has the shape of a Zoom link).

use regex::bytes::{Regex, RegexBuilder, RegexSet, RegexSetBuilder};
use std::sync::LazyLock;

/// One built-in meeting service.
#[derive(Debug, Clone, Copy)]
pub struct Provider {
    /// Stable snake_case id used in output.
    pub id: &'static str,
    /// Display name.
    pub name: &'static str,
    /// Pattern over the whole link, case-insensitive, anchored at its start.
    pub pattern: &'static str,
    /// A link of this shape, used by tests and documentation.
    pub example: &'static str,
}

macro_rules! providers {
    ($( $id:literal, $name:literal, $pat:literal, $ex:literal; )*) => {
        &[ $( Provider { id: $id, name: $name, pattern: $pat, example: $ex }, )* ]
    };
}

/// The provider table. `S` below stands for "rest of the link" (the link is already a single
/// token, so `.*` cannot run past it).
pub static PROVIDERS: &[Provider] = providers![
    "teams", "Microsoft Teams",
        r"https?://(?:(?:gov|dod|gcc)\.)?teams\.(?:microsoft\.(?:com|us)|cloud\.microsoft)/(?:l/meetup-join/.+|meet/\d{6,}\?(?:.*&)?p=[A-Za-z0-9_-]+.*)",
        "https://teams.microsoft.com/l/meetup-join/19%3ameeting_NmE2%40thread.v2/0?context=%7b%22Tid%22%3a%22a%22%7d";
    "teams", "Microsoft Teams (free)",
        r"https?://teams\.live\.com/(?:meet/[A-Za-z0-9]+.*|l/meetup-join/.+)",
        "https://teams.live.com/meet/9365513283443?p=CaQ10Tq5rovvmoQ8Ur";
    "zoom", "Zoom",
        r"https?://(?:[a-z0-9-]+\.)*zoom(?:-x)?\.(?:us|com|com\.cn|de)/(?:my|[a-z]{1,2}|webinar)/[-a-z0-9()@:%_+.~#?&=/]+",
        "https://us02web.zoom.us/j/81234567890?pwd=aBcDeFgHiJkLmNoPqRsTuV.1";
    "zoom", "Zoom (app link)",
        r"zoommtg://(?:[a-z0-9-]+\.)*zoom(?:-x)?\.(?:us|com|com\.cn|de)/join.*",
        "zoommtg://zoom.us/join?confno=123456789&pwd=xxxx";
    "zoomgov", "ZoomGov",
        r"https?://(?:[a-z0-9-]+\.)*zoomgov\.com/(?:j|w|my|wc)/[a-z0-9?&=/._-]+",
        "https://company.zoomgov.com/j/1612345678";
    "reclaim", "Reclaim.ai",
        r"https?://reclaim\.ai/z/[a-z0-9./]+",
        "https://reclaim.ai/z/abc123/def";
    "webex", "Webex",
        r"https?://(?:[a-z0-9-]+\.)*webex\.com/(?:[-a-z0-9]+/j\.php\?(?:.*&)?MTID=[a-z0-9]+.*|(?:meet|join)/[a-z0-9._@-]+(?:[/?#].*)?|wbxmjs/joinservice/.+)",
        "https://acme.webex.com/acme/j.php?MTID=m1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d";
    "google_meet", "Google Meet",
        r"https?://meet\.google\.com/(?:_meet/)?(?:lookup/)?[a-z0-9-]{3,}(?:[/?#].*)?",
        "https://meet.google.com/abc-defg-hij";
    "google_meet_stream", "Google Meet stream",
        r"https?://stream\.meet\.google\.com/stream/[a-z0-9-]+.*",
        "https://stream.meet.google.com/stream/abc12ab1-1234-5678-9abc-def012345678";
    "hangouts", "Google Hangouts",
        r"https?://hangouts\.google\.com/.+",
        "https://hangouts.google.com/call/abcdef";
    "duo", "Google Duo",
        r"https?://duo\.app\.goo\.gl/.+",
        "https://duo.app.goo.gl/abcdef";
    "gotomeeting", "GoTo Meeting",
        r"https?://(?:(?:[a-z0-9-]+\.)*gotomeeting\.com|meet\.goto\.com|app\.goto\.com/meeting)/.+",
        "https://global.gotomeeting.com/join/123456789";
    "gotowebinar", "GoTo Webinar",
        r"https?://(?:[a-z0-9-]+\.)*gotowebinar\.com/.+",
        "https://attendee.gotowebinar.com/register/1234567890";
    "bluejeans", "BlueJeans",
        r"https?://(?:[a-z0-9-]+\.)*bluejeans\.com/.+",
        "https://bluejeans.com/123456789/1234";
    "chime", "Amazon Chime",
        r"https?://(?:[a-z0-9-]+\.)*chime\.aws/(?:\d+|meetings/.+)(?:[/?#].*)?",
        "https://chime.aws/1234567890";
    "jitsi", "Jitsi Meet",
        r"https?://meet\.jit\.si/.+",
        "https://meet.jit.si/WeeklySyncRoom";
    "whereby", "Whereby",
        r"https?://(?:[a-z0-9-]+\.)?whereby\.com/.+",
        "https://whereby.com/myroom";
    "slack", "Slack huddle",
        r"https?://app\.slack\.com/huddle/[a-z0-9./]+",
        "https://app.slack.com/huddle/T01ABCDEFGH/C02ABCDEFGH";
    "ringcentral", "RingCentral",
        r"https?://(?:[a-z0-9-]+\.)*ringcentral\.com/.+",
        "https://v.ringcentral.com/join/123456789";
    "eight_x_eight", "8x8",
        r"https?://8x8\.vc/.+",
        "https://8x8.vc/company/room";
    "demio", "Demio",
        r"https?://event\.demio\.com/.+",
        "https://event.demio.com/ref/abc";
    "join_me", "join.me",
        r"https?://join\.me/.+",
        "https://join.me/myroom";
    "uberconference", "UberConference",
        r"https?://(?:www\.)?uberconference\.com/.+",
        "https://uberconference.com/myroom";
    "blizz", "Blizz",
        r"https?://go\.blizz\.com/.+",
        "https://go.blizz.com/join/m12345678";
    "teamviewer_meeting", "TeamViewer Meeting",
        r"https?://go\.teamviewer\.com/.+",
        "https://go.teamviewer.com/m12345678";
    "vsee", "VSee",
        r"https?://(?:www\.)?vsee\.com/.+",
        "https://vsee.com/c/abc";
    "starleaf", "StarLeaf",
        r"https?://meet\.starleaf\.com/.+",
        "https://meet.starleaf.com/4012345678";
    "voov", "Tencent VooV Meeting",
        r"https?://(?:www\.)?voovmeeting\.com/.+",
        "https://voovmeeting.com/dm/abcdef";
    "workplace", "Workplace from Meta",
        r"https?://(?:[a-z0-9-]+\.)*workplace\.com/groupcall/.+",
        "https://workplace.com/groupcall/123456?token=abc";
    "lifesize", "Lifesize",
        r"https?://call\.lifesizecloud\.com/.+",
        "https://call.lifesizecloud.com/1234567";
    "skype", "Skype",
        r"https?://join\.skype\.com/.+",
        "https://join.skype.com/AbCdEfGhIjKl";
    "skype_for_business", "Skype for Business",
        r"https?://(?:meet\.lync\.com/.+|join\.microsoft\.com/meet/.+)",
        "https://meet.lync.com/contoso-com/jdoe/ABC123XY";
    "facetime", "FaceTime",
        r"https://facetime\.apple\.com/join.*",
        "https://facetime.apple.com/join#v=1&p=AbCdEf&k=GhIjKl";
    "youtube", "YouTube",
        r"https?://(?:(?:www|m)\.)?(?:youtube\.com|youtu\.be)/.+",
        "https://www.youtube.com/live/abcdefghijk";
    "vonage", "Vonage Meetings",
        r"https?://meetings\.vonage\.com/\d{9}(?:[/?#].*)?",
        "https://meetings.vonage.com/123456789";
    "around", "Around",
        r"https?://(?:meet\.)?around\.co/.+",
        "https://meet.around.co/r/abc";
    "jam", "Jam",
        r"https?://jam\.systems/.+",
        "https://jam.systems/abcdef";
    "discord", "Discord",
        r"(?:https?|discord)://(?:www\.)?(?:canary\.)?discord(?:app)?\.[a-z]{2,}/.+",
        "https://discord.gg/abc123";
    "blackboard_collaborate", "Blackboard Collaborate",
        r"https?://(?:[a-z]+\.)?bbcollab\.com/.+",
        "https://us.bbcollab.com/guest/abcdef";
    "coscreen", "CoScreen",
        r"https?://join\.coscreen\.co/.+",
        "https://join.coscreen.co/abc";
    "vowel", "Vowel",
        r"https?://(?:[a-z0-9-]+\.)*vowel\.com/#/g/.+",
        "https://acme.vowel.com/#/g/abc";
    "zhumu", "Zhumu",
        r"https://welink\.zhumu\.com/j/\d+.*",
        "https://welink.zhumu.com/j/123456789?pwd=abc";
    "lark", "Lark",
        r"https://vc\.larksuite\.com/j/\d+.*",
        "https://vc.larksuite.com/j/123456789";
    "feishu", "Feishu",
        r"https://vc\.feishu\.cn/j/\d+.*",
        "https://vc.feishu.cn/j/123456789";
    "vimeo", "Vimeo",
        r"https://(?:vimeo\.com/(?:showcase|event)/\d+.*|venues\.vimeo\.com/.+)",
        "https://vimeo.com/event/1234567";
    "ovice", "oVice",
        r"https://(?:[a-z0-9-]+\.)*ovice\.(?:in|com)/.+",
        "https://acme.ovice.in/lobby";
    "luma", "Luma",
        r"https://lu\.ma/join/.+",
        "https://lu.ma/join/g-abc";
    "preply", "Preply",
        r"https://preply\.com/.+",
        "https://preply.com/en/classroom/abc";
    "userzoom", "UserZoom",
        r"https://go\.userzoom\.com/participate/[a-z0-9-]+.*",
        "https://go.userzoom.com/participate/abc-123";
    "venue", "Venue",
        r"https://app\.venue\.live/app/.+",
        "https://app.venue.live/app/acme";
    "teemyco", "Teemyco",
        r"https://app\.teemyco\.com/room/.+",
        "https://app.teemyco.com/room/abc";
    "demodesk", "Demodesk",
        r"https://demodesk\.com/.+",
        "https://demodesk.com/meet/abc";
    "zoho_cliq", "Zoho Cliq",
        r"https://cliq\.zoho\.(?:eu|com|in)/meetings/.+",
        "https://cliq.zoho.eu/meetings/abc";
    "gather", "Gather",
        r"https?://app\.gather\.town/app/[a-z0-9]+/[a-z0-9_%-]+\?(?:spawnToken|meeting)=.*",
        "https://app.gather.town/app/AbC123/office?spawnToken=xyz";
    "pop", "Pop",
        r"https?://pop\.com/j/[0-9-]+.*",
        "https://pop.com/j/123-456";
    "chorus", "Chorus",
        r"https?://go\.chorus\.ai/.+",
        "https://go.chorus.ai/abc";
    "gong", "Gong",
        r"https?://(?:[a-z0-9-]+\.)*join\.gong\.io/.+",
        "https://acme.join.gong.io/my/jdoe";
    "livestorm", "Livestorm",
        r"https?://app\.livestorm\.(?:com|co)/p/.+",
        "https://app.livestorm.co/p/abc/live";
    "tuple", "Tuple",
        r"https://tuple\.app/c/.+",
        "https://tuple.app/c/abc";
    "pumble", "Pumble",
        r"https?://meet\.pumble\.com/[a-z-]+.*",
        "https://meet.pumble.com/abc-defg-hij";
    "suit_conference", "Suit Conference",
        r"https?://(?:[a-z0-9-]+\.)*conference\.istesuit\.com/.+",
        "https://conference.istesuit.com/abc";
    "doxy_me", "Doxy.me",
        r"https://(?:[a-z0-9-]+\.)*doxy\.me/.+",
        "https://doxy.me/drsmith";
    "cal_video", "Cal Video",
        r"https?://app\.cal\.com/video/[a-z0-9./]+",
        "https://app.cal.com/video/1de4BmdXEb983kIUHomUnA";
    "zm_page", "zm.page",
        r"https?://[a-z0-9.-]+\.zm\.page(?:/.*)?",
        "https://acme.zm.page";
    "livekit", "LiveKit Meet",
        r"https?://meet[a-z0-9.]*\.livekit\.io/rooms/[a-z0-9-]+.*",
        "https://meet.livekit.io/rooms/et5r-y80t";
    "meetecho", "Meetecho",
        r"https?://meetings\.conf\.meetecho\.com/.+",
        "https://meetings.conf.meetecho.com/ietf120/?session=1";
    "streamyard", "StreamYard",
        r"https://(?:www\.)?streamyard\.com/(?:guest/)?[a-z0-9]{8,13}(?:[/?#].*)?",
        "https://streamyard.com/abcd1234ef";
    "riverside", "Riverside",
        r"https?://riverside\.(?:com|fm)/studio/.*",
        "https://riverside.fm/studio/abc";
    "proton_meet", "Proton Meet",
        r"https?://meet\.proton\.me/.+",
        "https://meet.proton.me/join/id-2TF92J77T0#pwd-i3LWO2keD76H";
    "skype_for_business", "Skype for Business (on-premises)",
        r"https?://(?:meet|join)\.(?:[a-z0-9-]+\.)+[a-z]{2,}/(?:[a-z0-9._-]+/)?meet/[a-z0-9./]+",
        "https://meet.contoso.com/jdoe/meet/ABC123";
    "skype_for_business", "Skype for Business (simple URL)",
        r"https?://meet\.(?:[a-z0-9-]+\.)+[a-z]{2,}/[a-z0-9._-]+/[A-Z0-9]{6,10}(?:[?#].*)?",
        "https://meet.contoso.com/jdoe/ABCD1234";
];

/// One kind of help or housekeeping link that invitations carry and that is never the join
/// link.
#[derive(Debug, Clone, Copy)]
pub struct Housekeeping {
    /// Short reason, e.g. `teams_help`.
    pub kind: &'static str,
    /// Pattern over the whole link, case-insensitive, anchored at its start.
    pub pattern: &'static str,
}

/// Help, dial-in, options, download and privacy links. Tried before the provider table.
pub static HOUSEKEEPING: &[Housekeeping] = &[
    // Microsoft's short links in Teams/Skype invites: "Need help?", "Learn more".
    Housekeeping {
        kind: "help",
        pattern: r"https?://aka\.ms/",
    },
    Housekeeping {
        kind: "meeting_options",
        pattern: r"https?://(?:[a-z0-9-]+\.)*teams\.(?:microsoft\.(?:com|us)|cloud\.microsoft|live\.com)/(?:meetingoptions|l/meeting-options)",
    },
    Housekeeping {
        kind: "dial_in",
        pattern: r"https?://(?:dialin\.teams\.microsoft\.com|dialin\.lync\.com|dialin\.plcm\.vc|[a-z0-9.-]*pstnconferencing[a-z0-9.-]*)/",
    },
    Housekeeping {
        kind: "help",
        pattern: r"https?://(?:[a-z0-9-]+\.)*(?:microsoft\.com|office\.com|officeredir\.microsoft\.com|skype\.com)/(?:[a-z]{2}-[a-z]{2}/)?(?:microsoft-teams|r/|fwlink|download|help|support)",
    },
    // Zoom: local numbers (`/u/…`), help and downloads.
    Housekeeping {
        kind: "dial_in",
        pattern: r"https?://(?:[a-z0-9-]+\.)*zoom(?:-x)?\.(?:us|com|com\.cn|de)/(?:u/|zoomconference)",
    },
    Housekeeping {
        kind: "help",
        pattern: r"https?://(?:support|explore|community|status|blog)\.zoom(?:-x)?\.(?:us|com)/",
    },
    Housekeeping {
        kind: "help",
        pattern: r"https?://(?:[a-z0-9-]+\.)*zoom(?:-x)?\.(?:us|com|com\.cn|de)/(?:download|test|support|privacy|terms)",
    },
    // Webex: global call-in and toll-free pages, help site.
    Housekeeping {
        kind: "dial_in",
        pattern: r"https?://(?:[a-z0-9-]+\.)*webex\.com/.*(?:globalcallin|tollfree|callin_number|/gcl/)",
    },
    Housekeeping {
        kind: "help",
        pattern: r"https?://(?:help|www|collaborationhelp|community|status)\.webex\.com/",
    },
    // Google: phone numbers page, Meet help, calendar links.
    Housekeeping {
        kind: "dial_in",
        pattern: r"https?://(?:tel\.meet/|meet\.google\.com/(?:tel|calling)/)",
    },
    Housekeeping {
        kind: "help",
        pattern: r"https?://(?:support\.google\.com|calendar\.google\.com|www\.google\.com/calendar|policies\.google\.com|workspace\.google\.com|apps\.google\.com)/",
    },
    // GoTo: app installers, phone numbers, help.
    Housekeeping {
        kind: "help",
        pattern: r"https?://(?:(?:[a-z0-9-]+\.)*gotomeeting\.com|meet\.goto\.com|(?:[a-z0-9-]+\.)*goto\.com)/(?:install|download|help|support|dial|phone)",
    },
    Housekeeping {
        kind: "help",
        pattern: r"https?://(?:support|www|link)\.goto\.com/",
    },
    // BlueJeans: numbers, help, downloads.
    Housekeeping {
        kind: "dial_in",
        pattern: r"https?://(?:[a-z0-9-]+\.)*bluejeans\.com/(?:numbers|premium-numbers|international)",
    },
    Housekeeping {
        kind: "help",
        pattern: r"https?://(?:(?:support|help|status)\.bluejeans\.com/|(?:[a-z0-9-]+\.)*bluejeans\.com/(?:downloads?|help|support|privacy|terms)|(?:[a-z0-9-]+\.)*bluejeans\.com/?$)",
    },
    // Chime: dial-in numbers, help.
    Housekeeping {
        kind: "dial_in",
        pattern: r"https?://(?:[a-z0-9-]+\.)*chime\.aws/(?:dialinnumbers|dialin)",
    },
    Housekeeping {
        kind: "help",
        pattern: r"https?://(?:aws\.amazon\.com|docs\.aws\.amazon\.com|answers\.chime\.aws)/",
    },
    // Jitsi's dial-in page has the shape of a room link.
    Housekeeping {
        kind: "dial_in",
        pattern: r"https?://meet\.jit\.si/static/",
    },
    // RingCentral and other services' support sites.
    Housekeeping {
        kind: "help",
        pattern: r"https?://(?:support|www|service|help|community)\.ringcentral\.com/",
    },
    Housekeeping {
        kind: "help",
        pattern: r"https?://(?:[a-z0-9-]+\.)*(?:whereby\.com|jit\.si|slack\.com|8x8\.vc)/(?:information|privacy|terms|help|support|download)",
    },
];

/// How a link was classified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkClass {
    /// A join link of a built-in provider (index into [`PROVIDERS`]).
    Provider(usize),
    /// A help/housekeeping link (index into [`HOUSEKEEPING`]).
    Housekeeping(usize),
    /// Not a known service, but it looks like a meeting (`/join/`, `meet.`, `video.`, ...).
    MeetingLike,
    /// Any other link.
    Other,
}

struct Tables {
    providers: RegexSet,
    housekeeping: RegexSet,
    meeting_like: Regex,
}

// The patterns are ASCII and so are the hosts and paths they name, so they are
// compiled without Unicode (case folding, classes and `.` over bytes): the
// compiled tables take a fraction of the memory, on every node, for good.
static TABLES: LazyLock<Tables> = LazyLock::new(|| {
    // The tables are constants; a failure is a programming error caught by every test.
    Tables {
        providers: RegexSetBuilder::new(PROVIDERS.iter().map(|p| format!("^(?:{})$", p.pattern)))
            .case_insensitive(true)
            .unicode(false)
            .build()
            .expect("provider table compiles"),
        housekeeping: RegexSetBuilder::new(HOUSEKEEPING.iter().map(|h| format!("^(?:{})", h.pattern)))
            .case_insensitive(true)
            .unicode(false)
            .build()
            .expect("housekeeping table compiles"),
        meeting_like: RegexBuilder::new(
            r"^[a-z][a-z0-9+.-]*://(?:[^/?#]*[.-])?(?:meet|meeting|meetings|join|video|vc|conf|conference|call|webinar|room|rooms|vmr|pexip|vidyo|bridge)[.-]|^[a-z][a-z0-9+.-]*://[^/?#]+/(?:.*/)?(?:meet|meeting|meetings|join|j|call|conference|conf|webinar|room|rooms|vmr|vidyo)(?:[/?#=]|$)",
        )
        .case_insensitive(true)
        .unicode(false)
        .build()
        .expect("meeting-like pattern compiles"),
    }
});

/// Classifies one (already unwrapped) link.
pub fn classify(url: &str) -> LinkClass {
    let t = &*TABLES;
    let url = url.as_bytes();
    if let Some(i) = t.housekeeping.matches(url).iter().next() {
        return LinkClass::Housekeeping(i);
    }
    if let Some(i) = t.providers.matches(url).iter().next() {
        return LinkClass::Provider(i);
    }
    if t.meeting_like.is_match(url) {
        return LinkClass::MeetingLike;
    }
    LinkClass::Other
}

/// The display name of a provider id (`teams` -> `Microsoft Teams`), if it is built in.
pub fn display_name(id: &str) -> Option<&'static str> {
    if id == "sip" {
        return Some("SIP");
    }
    PROVIDERS.iter().find(|p| p.id == id).map(|p| p.name)
}

/// The distinct provider ids of the table (`sip` not included), in table order.
pub fn provider_ids() -> Vec<&'static str> {
    let mut ids: Vec<&'static str> = Vec::new();
    for p in PROVIDERS {
        if !ids.contains(&p.id) {
            ids.push(p.id);
        }
    }
    ids
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_example_matches_its_own_row_first() {
        for (i, p) in PROVIDERS.iter().enumerate() {
            match classify(p.example) {
                LinkClass::Provider(j) => assert_eq!(
                    PROVIDERS[j].id, p.id,
                    "{} matched row {j} ({}) before its own row {i}",
                    p.example, PROVIDERS[j].name
                ),
                other => panic!("{} ({}) classified as {other:?}", p.example, p.name),
            }
        }
    }

    #[test]
    fn housekeeping_is_never_a_provider() {
        for url in [
            "https://aka.ms/JoinTeamsMeeting",
            "https://aka.ms/JoinTeamsMeeting?omkt=en-US",
            "https://teams.microsoft.com/meetingOptions/?organizerId=a&tenantId=b&threadId=19_meeting_x@thread.v2&messageId=0&language=en-US",
            "https://dialin.teams.microsoft.com/8551f4c1-bea3-441a-8738-69aa517a91c5?id=123456789",
            "https://us02web.zoom.us/u/kdTwE6bUk",
            "https://zoom.us/u/abcdef",
            "https://acme.webex.com/acme/globalcallin.php?MTID=m123",
            "https://acme.webex.com/cmp3300/webcomponents/widget/globalcallin/globalcallin.do?siteurl=acme",
            "https://tel.meet/abc-defg-hij?pin=1234567890123",
            "https://meet.google.com/tel/abc-defg-hij?pin=123&hs=1",
            "https://support.google.com/a/users/answer/9282720",
            "https://global.gotomeeting.com/install/123456789",
            "https://chime.aws/dialinnumbers/",
            "https://www.bluejeans.com/numbers",
        ] {
            assert!(
                matches!(classify(url), LinkClass::Housekeeping(_)),
                "{url}: {:?}",
                classify(url)
            );
        }
    }

    #[test]
    fn anchored_against_lookalikes() {
        for url in [
            "https://evil.example/zoom.us/j/1",
            "https://zoom.us.evil.example/j/1",
            "https://zoom.us@evil.example/j/1",
            "https://notmeet.google.com.evil.example/abc-defg-hij",
        ] {
            assert!(
                !matches!(classify(url), LinkClass::Provider(_)),
                "{url}: {:?}",
                classify(url)
            );
        }
    }

    #[test]
    fn meeting_like_and_other() {
        assert_eq!(classify("https://video.example.com/join/12345"), LinkClass::MeetingLike);
        assert_eq!(classify("https://vmr.example.org/x"), LinkClass::MeetingLike);
        assert_eq!(classify("https://www.example.com/agenda.pdf"), LinkClass::Other);
    }

    #[test]
    fn table_size() {
        // MeetingBar's URL providers plus a few more; a shrinking table is a regression.
        assert!(provider_ids().len() >= 60, "{}", provider_ids().len());
    }
}
