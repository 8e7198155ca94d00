//! Events: get (optionally with one extended property), instances of a
//! series, calendarView, create, patch and delete.

use reqwest::Method;
use serde_json::Value;

use hcal_schemas::Timestamp;
use hcal_schemas::graph::Event;

use super::client::{GraphClient, PREFER_UTC_HTML, Request, Retry};
use super::error::GraphError;
use super::url::{query, segment};

/// Window bounds as Graph reads them (an explicit `Z`: no offset would also mean UTC).
pub(crate) fn window(start: Timestamp, end: Timestamp) -> Vec<(&'static str, String)> {
    vec![("startDateTime", start.to_rfc3339()), ("endDateTime", end.to_rfc3339())]
}

/// Fields Graph sets itself; not sent on create.
fn without_server_fields(event: &Event) -> Event {
    let mut e = event.clone();
    e.odata_type = None;
    e.odata_etag = None;
    e.removed = None;
    e.id = None;
    e.change_key = None;
    e.created_date_time = None;
    e.last_modified_date_time = None;
    e.ical_uid = None;
    e.web_link = None;
    e.body_preview = None;
    e.series_master_id = None;
    e.kind = None;
    e.is_organizer = None;
    e.is_cancelled = None;
    e.online_meeting = None;
    e.response_status = None;
    e
}

impl GraphClient {
    fn event_path(user: &str, id: &str) -> String {
        format!("/users/{}/events/{}", segment(user), segment(id))
    }

    /// `GET /users/{user}/events/{id}`, times in UTC, body as HTML.
    pub async fn get_event(&self, tenant: &str, user: &str, id: &str) -> Result<Event, GraphError> {
        const ROUTE: &str = "/users/{user}/events/{id}";
        let req = Request::new(Method::GET, self.url(&Self::event_path(user, id)), ROUTE, tenant)
            .mailbox(user)
            .prefer(PREFER_UTC_HTML);
        self.execute(&req).await?.json(ROUTE)
    }

    /// [`GraphClient::get_event`] with the single-value extended property `prop_id`
    /// expanded (the only way Graph returns it).
    pub async fn get_event_with_property(
        &self,
        tenant: &str,
        user: &str,
        id: &str,
        prop_id: &str,
    ) -> Result<Event, GraphError> {
        const ROUTE: &str = "/users/{user}/events/{id}?$expand";
        let expand = format!(
            "singleValueExtendedProperties($filter=id eq '{}')",
            prop_id.replace('\'', "''")
        );
        let url = format!(
            "{}{}",
            self.url(&Self::event_path(user, id)),
            query(&[("$expand", expand)])
        );
        let req = Request::new(Method::GET, url, ROUTE, tenant)
            .mailbox(user)
            .prefer(PREFER_UTC_HTML);
        self.execute(&req).await?.json(ROUTE)
    }

    fn paged(&self, path: String, params: Vec<(&'static str, String)>) -> String {
        let mut params = params;
        if let Some(n) = self.inner.cfg.page_size {
            params.push(("$top", n.to_string()));
        }
        format!("{}{}", self.url(&path), query(&params))
    }

    /// `GET /users/{user}/events/{master}/instances`: the occurrences and exceptions of a
    /// series in `[start, end)`, every page.
    pub async fn list_instances(
        &self,
        tenant: &str,
        user: &str,
        master_id: &str,
        start: Timestamp,
        end: Timestamp,
    ) -> Result<Vec<Event>, GraphError> {
        const ROUTE: &str = "/users/{user}/events/{id}/instances";
        let path = format!("{}/instances", Self::event_path(user, master_id));
        let req = Request::new(Method::GET, self.paged(path, window(start, end)), ROUTE, tenant)
            .mailbox(user)
            .prefer(PREFER_UTC_HTML);
        self.all_pages(req).await
    }

    /// `GET /users/{user}/calendarView`: single instances, occurrences and exceptions in
    /// `[start, end)` (no series masters), every page.
    pub async fn calendar_view(
        &self,
        tenant: &str,
        user: &str,
        start: Timestamp,
        end: Timestamp,
    ) -> Result<Vec<Event>, GraphError> {
        const ROUTE: &str = "/users/{user}/calendarView";
        let path = format!("/users/{}/calendarView", segment(user));
        let req = Request::new(Method::GET, self.paged(path, window(start, end)), ROUTE, tenant)
            .mailbox(user)
            .prefer(PREFER_UTC_HTML);
        self.all_pages(req).await
    }

    /// `POST /users/{user}/calendar/events` (201). Read-only fields of `event` are not
    /// sent. Without a `transactionId` one is chosen here, which makes the create safe to
    /// retry: Graph answers a repeated `transactionId` with the event already created.
    pub async fn create_event(&self, tenant: &str, user: &str, event: &Event) -> Result<Event, GraphError> {
        const ROUTE: &str = "/users/{user}/calendar/events";
        let mut body = without_server_fields(event);
        if body.transaction_id.is_none() {
            body.transaction_id = Some(uuid::Uuid::new_v4().to_string());
        }
        let url = self.url(&format!("/users/{}/calendar/events", segment(user)));
        let req = Request::new(Method::POST, url, ROUTE, tenant)
            .mailbox(user)
            .prefer(PREFER_UTC_HTML)
            .json(&body)?;
        self.execute(&req).await?.json(ROUTE)
    }

    /// `PATCH /users/{user}/events/{id}` with `body` (only the given properties change),
    /// optionally `If-Match` (an `@odata.etag`, `W/"<changeKey>"`): a stale one gives
    /// `PreconditionFailed`. Returns the updated event (Graph does not echo extended
    /// properties). Retried on transient failures: if an earlier attempt did land, an
    /// `If-Match` retry answers `PreconditionFailed` although the change is in.
    pub async fn patch_event(
        &self,
        tenant: &str,
        user: &str,
        id: &str,
        body: &Value,
        if_match: Option<&str>,
    ) -> Result<Event, GraphError> {
        const ROUTE: &str = "/users/{user}/events/{id}";
        let mut req = Request::new(Method::PATCH, self.url(&Self::event_path(user, id)), ROUTE, tenant)
            .mailbox(user)
            .prefer(PREFER_UTC_HTML)
            .json(body)?;
        req.if_match = if_match;
        self.execute(&req).await?.json(ROUTE)
    }

    /// `DELETE /users/{user}/events/{id}` (204). A missing event is `ItemNotFound`.
    pub async fn delete_event(&self, tenant: &str, user: &str, id: &str) -> Result<(), GraphError> {
        const ROUTE: &str = "/users/{user}/events/{id}";
        let mut req = Request::new(Method::DELETE, self.url(&Self::event_path(user, id)), ROUTE, tenant).mailbox(user);
        req.retry = Retry::Always;
        self.execute(&req).await.map(|_| ())
    }
}
