"""Drive the hcal Graph emulator with Microsoft's official Graph SDK for Python.

If the SDK cannot parse something the emulator sends, the emulator is wrong.
Usage: graph_sdk_check.py BASE_URL TENANT CLIENT_ID CLIENT_SECRET
"""

import asyncio
import datetime as dt
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import httpx
from kiota_abstractions.authentication import AccessTokenProvider, AllowedHostsValidator, BaseBearerTokenAuthenticationProvider
from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph import GraphRequestAdapter, GraphServiceClient
from msgraph.generated.models.attendee import Attendee
from msgraph.generated.models.attendee_type import AttendeeType
from msgraph.generated.models.automatic_replies_setting import AutomaticRepliesSetting
from msgraph.generated.models.automatic_replies_status import AutomaticRepliesStatus
from msgraph.generated.models.body_type import BodyType
from msgraph.generated.models.date_time_time_zone import DateTimeTimeZone
from msgraph.generated.models.day_of_week import DayOfWeek
from msgraph.generated.models.email_address import EmailAddress
from msgraph.generated.models.event import Event
from msgraph.generated.models.event_type import EventType
from msgraph.generated.models.item_body import ItemBody
from msgraph.generated.models.location import Location
from msgraph.generated.models.mailbox_settings import MailboxSettings
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.models.patterned_recurrence import PatternedRecurrence
from msgraph.generated.models.recurrence_pattern import RecurrencePattern
from msgraph.generated.models.recurrence_pattern_type import RecurrencePatternType
from msgraph.generated.models.recurrence_range import RecurrenceRange
from msgraph.generated.models.recurrence_range_type import RecurrenceRangeType
from msgraph.generated.models.single_value_legacy_extended_property import SingleValueLegacyExtendedProperty
from msgraph.generated.models.subscription import Subscription
from msgraph.generated.users.item.calendar_view.calendar_view_request_builder import CalendarViewRequestBuilder
from msgraph.generated.users.item.events.item.event_item_request_builder import EventItemRequestBuilder
from msgraph.generated.users.item.events.item.instances.instances_request_builder import InstancesRequestBuilder

BASE, TENANT, CLIENT_ID, SECRET = sys.argv[1:5]
USER = "alice@contoso.example"
PROP = "String {66f5a359-4659-4830-9070-00040ec6ac6e} Name HcalHandled"
failures = []
passes = []


def check(cond, what):
    if cond:
        passes.append(what)
        print(f"ok   {what}")
    else:
        print(f"FAIL {what}")
        failures.append(what)


class EmulatorTokenProvider(AccessTokenProvider):
    """Gets app-only tokens from the emulator's identity endpoint."""

    def __init__(self):
        self.token = None

    async def get_authorization_token(self, uri, additional_authentication_context=None):
        if self.token is None:
            async with httpx.AsyncClient() as c:
                r = await c.post(
                    f"{BASE}/{TENANT}/oauth2/v2.0/token",
                    data={"client_id": CLIENT_ID, "client_secret": SECRET, "scope": "https://graph.microsoft.com/.default", "grant_type": "client_credentials"},
                )
                r.raise_for_status()
                body = r.json()
                check(body["token_type"] == "Bearer" and body["expires_in"] == 3599, "token endpoint answers like the identity platform")
                self.token = body["access_token"]
        return self.token

    def get_allowed_hosts_validator(self):
        return AllowedHostsValidator([])


class Hook(BaseHTTPRequestHandler):
    received = []

    def do_POST(self):
        q = parse_qs(urlparse(self.path).query)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        if "validationToken" in q:
            token = q["validationToken"][0]
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.end_headers()
            self.wfile.write(token.encode())
            return
        Hook.received.append(body)
        self.send_response(202)
        self.end_headers()

    def log_message(self, *args):
        pass


def dttz(s, tz="UTC"):
    return DateTimeTimeZone(date_time=s, time_zone=tz)


async def main():
    adapter = GraphRequestAdapter(BaseBearerTokenAuthenticationProvider(EmulatorTokenProvider()))
    adapter.base_url = f"{BASE}/v1.0"
    client = GraphServiceClient(request_adapter=adapter)
    user = client.users.by_user_id(USER)

    # Create, get (Prefer time zone), patch, extended properties.
    ev = await user.calendar.events.post(
        Event(
            subject="Conformance",
            body=ItemBody(content_type=BodyType.Html, content="<p>Agenda</p>"),
            start=dttz("2024-05-01T09:00:00", "W. Europe Standard Time"),
            end=dttz("2024-05-01T09:30:00", "W. Europe Standard Time"),
            location=Location(display_name="@webex"),
            attendees=[Attendee(email_address=EmailAddress(address="bob@contoso.example", name="Bob"), type=AttendeeType.Required)],
            single_value_extended_properties=[SingleValueLegacyExtendedProperty(id=PROP, value="1")],
        )
    )
    check(ev.id and ev.id.startswith("AAMkAG"), "create returns an id")
    check(ev.start.date_time == "2024-05-01T07:00:00.0000000" and ev.start.time_zone == "UTC", "create returns UTC, 7 digits")
    check(ev.type == EventType.SingleInstance and ev.is_organizer, "type and isOrganizer parse")
    check(ev.created_date_time is not None and ev.created_date_time.tzinfo is not None, "createdDateTime parses as DateTimeOffset")
    check(ev.single_value_extended_properties is None, "extended property not echoed")

    cfg = RequestConfiguration()
    cfg.headers.add("Prefer", 'outlook.timezone="Pacific Standard Time"')
    got = await user.events.by_event_id(ev.id).get(request_configuration=cfg)
    check(got.start.time_zone == "Pacific Standard Time" and got.start.date_time.startswith("2024-05-01T00:00:00"), "Prefer outlook.timezone")
    check(got.attendees[0].type == AttendeeType.Required, "attendee type enum parses")

    patched = await user.calendar.events.by_event_id(ev.id).patch(Event(subject="Conformance 2"))
    check(patched.subject == "Conformance 2" and patched.change_key != ev.change_key, "patch changes subject and changeKey")

    q = EventItemRequestBuilder.EventItemRequestBuilderGetQueryParameters(expand=[f"singleValueExtendedProperties($filter=id eq '{PROP}')"])
    withprop = await user.events.by_event_id(ev.id).get(request_configuration=RequestConfiguration(query_parameters=q))
    props = withprop.single_value_extended_properties or []
    check(len(props) == 1 and props[0].value == "1", "extended property through $expand")

    # calendarView with paging.
    for i in range(12):
        await user.events.post(Event(subject=f"view {i}", start=dttz(f"2024-06-{i + 1:02}T10:00:00"), end=dttz(f"2024-06-{i + 1:02}T11:00:00")))
    qp = CalendarViewRequestBuilder.CalendarViewRequestBuilderGetQueryParameters(start_date_time="2024-06-01T00:00:00", end_date_time="2024-07-01T00:00:00")
    page = await user.calendar_view.get(request_configuration=RequestConfiguration(query_parameters=qp))
    seen = len(page.value)
    pages = 1
    while page.odata_next_link:
        page = await user.calendar_view.with_url(page.odata_next_link).get()
        seen += len(page.value)
        pages += 1
    check(seen == 12 and pages == 2, f"calendarView pages by 10 with @odata.nextLink ({seen} items, {pages} pages)")

    # Weekly series and its instances.
    series = await user.events.post(
        Event(
            subject="Weekly",
            start=dttz("2024-03-04T09:00:00", "W. Europe Standard Time"),
            end=dttz("2024-03-04T09:30:00", "W. Europe Standard Time"),
            recurrence=PatternedRecurrence(
                pattern=RecurrencePattern(type=RecurrencePatternType.Weekly, interval=1, days_of_week=[DayOfWeek.Monday]),
                range=RecurrenceRange(type=RecurrenceRangeType.Numbered, start_date=dt.date(2024, 3, 4), number_of_occurrences=6),
            ),
        )
    )
    check(series.type == EventType.SeriesMaster and series.recurrence.pattern.type == RecurrencePatternType.Weekly, "series master with recurrence parses")
    iq = InstancesRequestBuilder.InstancesRequestBuilderGetQueryParameters(start_date_time="2024-03-01T00:00:00", end_date_time="2024-05-01T00:00:00")
    inst = await user.events.by_event_id(series.id).instances.get(request_configuration=RequestConfiguration(query_parameters=iq))
    check(len(inst.value) == 6, "instances of a weekly series")
    check(all(i.type == EventType.Occurrence and i.series_master_id == series.id for i in inst.value), "occurrences carry seriesMasterId")
    check(inst.value[0].start.date_time.startswith("2024-03-04T08:00") and inst.value[5].start.date_time.startswith("2024-04-08T07:00"), "DST handled")

    # mailboxSettings.
    ms = await user.mailbox_settings.get()
    check(ms.language.locale == "nl-NL" and ms.automatic_replies_setting.status == AutomaticRepliesStatus.Disabled, "mailboxSettings parse")
    ms2 = await user.mailbox_settings.patch(MailboxSettings(automatic_replies_setting=AutomaticRepliesSetting(status=AutomaticRepliesStatus.AlwaysEnabled)))
    check(ms2.automatic_replies_setting.status == AutomaticRepliesStatus.AlwaysEnabled, "mailboxSettings patch")

    # Subscription with a listener in this script.
    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    hook = f"http://127.0.0.1:{server.server_address[1]}/hook"
    sub = await client.subscriptions.post(
        Subscription(
            change_type="created,updated,deleted",
            notification_url=hook,
            lifecycle_notification_url=hook,
            resource=f"users/{USER}/events",
            expiration_date_time=dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=2),
            client_state="conformance-state",
        )
    )
    check(sub.id is not None and sub.expiration_date_time is not None, "subscription created after the handshake")
    await user.events.by_event_id(ev.id).patch(Event(subject="Conformance 3"))
    for _ in range(100):
        if Hook.received:
            break
        await asyncio.sleep(0.05)
    check(bool(Hook.received), "notification reached the listener")
    if Hook.received:
        # The Python SDK ships no changeNotification model: check the documented shape.
        n = json.loads(Hook.received[0])["value"][0]
        check(n["subscriptionId"] == sub.id and n["clientState"] == "conformance-state", "notification: subscriptionId, clientState")
        check(n["changeType"] == "updated" and n["tenantId"], "notification: changeType, tenantId")
        check(n["resource"].startswith("Users/") and n["resource"].endswith(f"/Events/{ev.id}"), "notification: resource Users/{guid}/Events/{id}")
        rd = n["resourceData"]
        check(rd["@odata.type"] == "#Microsoft.Graph.Event" and rd["id"] == ev.id and rd["@odata.etag"].startswith('W/"'), "notification: resourceData")
        check(dt.datetime.fromisoformat(n["subscriptionExpirationDateTime"].replace("Z", "+00:00")) is not None, "notification: subscriptionExpirationDateTime")
    fetched = await client.subscriptions.by_subscription_id(sub.id).get()
    check(fetched.client_state == "conformance-state", "subscription get")
    await client.subscriptions.by_subscription_id(sub.id).delete()

    # Delete and the Graph error shape.
    await user.events.by_event_id(ev.id).delete()
    try:
        await user.events.by_event_id(ev.id).get()
        check(False, "get after delete fails")
    except ODataError as e:
        check(e.response_status_code == 404 and e.error.code == "ErrorItemNotFound", "404 ErrorItemNotFound parses as ODataError")
    server.shutdown()


asyncio.run(main())
print(f"conformance: {len(passes)} passed, {len(failures)} failed")
sys.exit(1 if failures else 0)
