//! Microsoft Graph v1.0: routing, authentication, mailbox checks (access policy, licence,
//! throttling, injected faults) and the event, calendarView, instances and mailboxSettings
//! handlers. Subscriptions, delta and `$batch` live in their own modules.

use serde_json::{Value, json};
use std::sync::Arc;

use crate::calendar::{self, Ctx, Instance};
use crate::error::GraphError;
use crate::http::{Req, Resp};
use crate::model::{Kind, Token};
use crate::notify;
use crate::render::{self, RenderOpts};
use crate::shared::{Shared, lock};
use crate::wire;

/// A matched Graph route.
#[derive(Debug, Clone)]
pub enum Route {
    Events { user: String },
    Event { user: String, id: String },
    Instances { user: String, id: String },
    EventAction { user: String, id: String, action: String },
    CalendarView { user: String },
    Delta { user: String },
    Calendar { user: String },
    MailboxSettings { user: String, part: Option<String> },
    User { user: String },
    Subscriptions,
    Subscription { id: String },
    Reauthorize { id: String },
    Batch,
    Me,
}

impl Route {
    pub fn user(&self) -> Option<&str> {
        match self {
            Route::Events { user }
            | Route::Event { user, .. }
            | Route::Instances { user, .. }
            | Route::EventAction { user, .. }
            | Route::CalendarView { user }
            | Route::Delta { user }
            | Route::Calendar { user }
            | Route::MailboxSettings { user, .. }
            | Route::User { user } => Some(user),
            _ => None,
        }
    }
}

fn eq(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

/// Match a path below `/v1.0`. Returns the route and its template for the request log.
pub fn match_route(segs: &[String]) -> Result<(Route, String), GraphError> {
    let s: Vec<&str> = segs.iter().map(String::as_str).collect();
    let t = |x: &str| format!("/v1.0{x}");
    match s.as_slice() {
        [b] if eq(b, "$batch") => Ok((Route::Batch, t("/$batch"))),
        [sub] if eq(sub, "subscriptions") => Ok((Route::Subscriptions, t("/subscriptions"))),
        [sub, id] if eq(sub, "subscriptions") => {
            Ok((Route::Subscription { id: id.to_string() }, t("/subscriptions/{id}")))
        }
        [sub, id, r] if eq(sub, "subscriptions") && eq(r, "reauthorize") => Ok((
            Route::Reauthorize { id: id.to_string() },
            t("/subscriptions/{id}/reauthorize"),
        )),
        [me, ..] if eq(me, "me") => Ok((Route::Me, t("/me"))),
        [users, u, rest @ ..] if eq(users, "users") => {
            let user = u.to_string();
            let (rest, prefix) = match rest {
                [cal, more @ ..] if eq(cal, "calendar") && !more.is_empty() => (more, "/calendar"),
                [cals, _cid, more @ ..] if eq(cals, "calendars") && !more.is_empty() => (more, "/calendars/{calendar}"),
                _ => (rest, ""),
            };
            let base = format!("/users/{{user}}{prefix}");
            match rest {
                [] => Ok((Route::User { user }, t("/users/{user}"))),
                [c] if eq(c, "calendar") => Ok((Route::Calendar { user }, t("/users/{user}/calendar"))),
                [e] if eq(e, "events") => Ok((Route::Events { user }, t(&format!("{base}/events")))),
                [e, id] if eq(e, "events") => Ok((
                    Route::Event {
                        user,
                        id: id.to_string(),
                    },
                    t(&format!("{base}/events/{{id}}")),
                )),
                [e, id, i] if eq(e, "events") && eq(i, "instances") => Ok((
                    Route::Instances {
                        user,
                        id: id.to_string(),
                    },
                    t(&format!("{base}/events/{{id}}/instances")),
                )),
                [e, id, a]
                    if eq(e, "events")
                        && ["cancel", "accept", "decline", "tentativelyAccept"]
                            .iter()
                            .any(|x| eq(x, a)) =>
                {
                    Ok((
                        Route::EventAction {
                            user,
                            id: id.to_string(),
                            action: a.to_ascii_lowercase(),
                        },
                        t(&format!("{base}/events/{{id}}/{a}")),
                    ))
                }
                [cv] if eq(cv, "calendarView") => {
                    Ok((Route::CalendarView { user }, t(&format!("{base}/calendarView"))))
                }
                [cv, d] if eq(cv, "calendarView") && eq(d, "delta") => {
                    Ok((Route::Delta { user }, t(&format!("{base}/calendarView/delta"))))
                }
                [ms] if eq(ms, "mailboxSettings") && prefix.is_empty() => Ok((
                    Route::MailboxSettings { user, part: None },
                    t("/users/{user}/mailboxSettings"),
                )),
                [ms, part] if eq(ms, "mailboxSettings") && prefix.is_empty() => Ok((
                    Route::MailboxSettings {
                        user,
                        part: Some(part.to_string()),
                    },
                    t(&format!("/users/{{user}}/mailboxSettings/{part}")),
                )),
                [other, ..] => Err(GraphError::not_found_segment(other)),
            }
        }
        [first, ..] => Err(GraphError::not_found_segment(first)),
        [] => Err(GraphError::bad_request("Invalid request.")),
    }
}

/// Split and decode a path below `/v1.0`.
pub fn segments(path: &str) -> Vec<String> {
    path.split('/')
        .filter(|s| !s.is_empty())
        .map(wire::percent_decode)
        .collect()
}

/// Authenticate the bearer token.
pub fn authenticate(shared: &Shared, req: &Req) -> Result<(String, Token), GraphError> {
    let auth = req.header("authorization").unwrap_or("").trim();
    let token = match auth.split_once(' ') {
        Some((scheme, t)) if scheme.eq_ignore_ascii_case("bearer") => t.trim(),
        _ => "",
    };
    if token.is_empty() {
        return Err(GraphError::token_empty());
    }
    let st = shared.state();
    let info = match st.tokens.get(token) {
        Some(i) => i.clone(),
        None if !token.contains('.') => return Err(GraphError::token_invalid()),
        None => {
            return Err(GraphError::new(401, "InvalidAuthenticationToken", "Invalid signature.")
                .with_header("WWW-Authenticate", "Bearer realm=\"\""));
        }
    };
    if info.expires <= shared.now() {
        return Err(GraphError::token_expired());
    }
    match st.app(&info.tenant_id, &info.client_id) {
        Some(app) if app.consented => {}
        _ => return Err(GraphError::access_denied()),
    }
    Ok((token.to_string(), info))
}

/// Does the app hold one of `roles`?
pub fn require_role(shared: &Shared, tok: &Token, roles: &[&str]) -> Result<(), GraphError> {
    let st = shared.state();
    let app = st
        .app(&tok.tenant_id, &tok.client_id)
        .ok_or_else(GraphError::access_denied)?;
    if roles
        .iter()
        .any(|r| app.roles.iter().any(|a| a.eq_ignore_ascii_case(r)))
    {
        Ok(())
    } else {
        Err(GraphError::access_denied())
    }
}

/// Resolve a mailbox for an app token: tenant, licence and access policy.
pub fn mailbox_for(shared: &Shared, tok: &Token, user: &str) -> Result<(usize, String, String), GraphError> {
    let st = shared.state();
    let idx = st.mailbox_index(user).ok_or_else(|| GraphError::invalid_user(user))?;
    let mb = &st.mailboxes[idx];
    if mb.tenant_id != tok.tenant_id {
        return Err(GraphError::invalid_user(user));
    }
    if !mb.in_policy {
        return Err(GraphError::raop());
    }
    if mb.unlicensed {
        return Err(GraphError::mailbox_not_enabled());
    }
    Ok((idx, mb.id.clone(), mb.mail.clone()))
}

/// Lock the state for a mailbox resolved earlier; a reset in between cannot make the index
/// dangle.
pub fn state_for(shared: &Shared, mbx: usize) -> Result<std::sync::MutexGuard<'_, crate::model::State>, GraphError> {
    let st = shared.state();
    if mbx >= st.mailboxes.len() {
        return Err(GraphError::invalid_user(""));
    }
    Ok(st)
}

/// Injected request faults.
fn inject_faults(shared: &Shared, mailbox_id: &str, mail: &str) -> Result<(), GraphError> {
    let f = {
        let f = lock(&shared.faults);
        if f.throttle_rate <= 0.0 && f.error_rate <= 0.0 {
            return Ok(());
        }
        f.clone()
    };
    if let Some(only) = &f.only_mailbox
        && !only.eq_ignore_ascii_case(mailbox_id)
        && !only.eq_ignore_ascii_case(mail)
    {
        return Ok(());
    }
    use rand::Rng;
    let mut rng = rand::thread_rng();
    if f.throttle_rate > 0.0 && rng.gen_bool(f.throttle_rate.clamp(0.0, 1.0)) {
        return Err(GraphError::throttled(
            "Application is over its MailboxConcurrency limit.",
            f.retry_after_secs.max(1),
        ));
    }
    if f.error_rate > 0.0 && rng.gen_bool(f.error_rate.clamp(0.0, 1.0)) {
        let status = f.error_status.unwrap_or(503);
        let (code, msg) = match status {
            500 => ("generalException", "An internal server error occurred."),
            502 => ("badGateway", "Bad gateway."),
            504 => ("gatewayTimeout", "The gateway timed out."),
            _ => (
                "serviceNotAvailable",
                "The service is temporarily unavailable. Please retry.",
            ),
        };
        return Err(
            GraphError::new(status, code, msg).with_header("Retry-After", f.retry_after_secs.max(1).to_string())
        );
    }
    Ok(())
}

/// Render options and `Preference-Applied` from the Prefer headers.
pub fn prefer_opts(req: &Req) -> (RenderOpts, Vec<String>) {
    let mut opts = RenderOpts {
        base: req.base.clone(),
        ..Default::default()
    };
    let mut applied = Vec::new();
    for (name, value) in req.prefers() {
        match (name.as_str(), value) {
            ("outlook.timezone", Some(v)) => {
                if let Some(tz) = crate::tz::resolve(&v) {
                    applied.push(format!("outlook.timezone=\"{v}\""));
                    opts.tz = Some((v, tz));
                }
            }
            ("outlook.body-content-type", Some(v)) => {
                if v.eq_ignore_ascii_case("text") {
                    opts.text_body = true;
                    applied.push("outlook.body-content-type=\"text\"".into());
                } else if v.eq_ignore_ascii_case("html") {
                    applied.push("outlook.body-content-type=\"html\"".into());
                }
            }
            _ => {}
        }
    }
    (opts, applied)
}

fn with_applied(mut resp: Resp, applied: &[String]) -> Resp {
    if !applied.is_empty() {
        resp.headers.push(("Preference-Applied".into(), applied.join(",")));
    }
    resp
}

/// Parse the JSON body of a POST/PATCH.
pub fn json_body(req: &Req) -> Result<Value, GraphError> {
    let ct = req.header("content-type").unwrap_or("").to_ascii_lowercase();
    if !ct.starts_with("application/json") {
        return Err(GraphError::invalid_json());
    }
    serde_json::from_slice(&req.body).map_err(|_| GraphError::invalid_json())
}

const ALLOWED_OPTIONS: &[&str] = &[
    "$select",
    "$expand",
    "$filter",
    "$top",
    "$skip",
    "$orderby",
    "$count",
    "$skiptoken",
    "$deltatoken",
    "$search",
];

fn check_options(req: &Req) -> Result<(), GraphError> {
    for (k, _) in &req.query {
        if k.starts_with('$') && !ALLOWED_OPTIONS.iter().any(|a| a.eq_ignore_ascii_case(k)) {
            return Err(GraphError::bad_request(format!("Query option '{k}' is not supported.")));
        }
    }
    Ok(())
}

fn read_opts(req: &Req) -> Result<(RenderOpts, Vec<String>), GraphError> {
    let (mut opts, applied) = prefer_opts(req);
    if let Some(sel) = req.q("$select") {
        opts.select = Some(render::parse_select(sel)?);
    }
    if let Some(exp) = req.q("$expand") {
        render::parse_expand(exp, &mut opts)?;
    }
    Ok((opts, applied))
}

fn parse_usize(req: &Req, name: &str) -> Result<Option<usize>, GraphError> {
    match req.q(name) {
        None => Ok(None),
        Some(v) => v
            .trim()
            .parse::<usize>()
            .map(Some)
            .map_err(|_| GraphError::bad_request(format!("Invalid value '{v}' for query option '{name}'."))),
    }
}

/// `$skip`/`$top` (or `Prefer: odata.maxpagesize`) of a list request.
fn page_params(shared: &Shared, req: &Req) -> Result<(usize, usize), GraphError> {
    let skip = parse_usize(req, "$skip")?.unwrap_or(0);
    let top = match parse_usize(req, "$top")? {
        Some(t) => {
            if t > shared.cfg.max_top {
                return Err(GraphError::new(
                    400,
                    "ErrorInvalidUrlQuery",
                    format!("The value of $top must be at most {}.", shared.cfg.max_top),
                ));
            }
            t
        }
        None => req
            .prefer("odata.maxpagesize")
            .and_then(|v| v.parse::<usize>().ok())
            .filter(|v| *v > 0)
            .unwrap_or(shared.cfg.page_size),
    };
    Ok((skip, top.max(1)))
}

/// The full URL of the next page: the request's URL with `$skip` moved on.
fn next_link(req: &Req, next_skip: usize) -> String {
    let mut pairs: Vec<(String, String)> = req.query.iter().filter(|(k, _)| k != "$skip").cloned().collect();
    pairs.push(("$skip".into(), next_skip.to_string()));
    let q: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{}={}", k, wire::qenc(v).replace("%24", "$")))
        .collect();
    format!("{}{}?{}", req.base, req.path, q.join("&"))
}

fn context(req: &Req, user: &str, what: &str) -> String {
    format!("{}/v1.0/$metadata#users('{}'){}", req.base, wire::qenc(user), what)
}

fn page_of(req: &Req, ctx_url: String, total: usize, skip: usize, top: usize, items: Vec<Value>) -> Value {
    let mut m = serde_json::Map::new();
    m.insert("@odata.context".into(), json!(ctx_url));
    if skip + top < total {
        m.insert("@odata.nextLink".into(), json!(next_link(req, skip + top)));
    }
    m.insert("value".into(), Value::Array(items));
    Value::Object(m)
}

/// Handle one Graph request (already stripped of `/v1.0`); returns the route template too.
pub async fn handle(shared: &Arc<Shared>, req: &Req, in_batch: bool) -> (String, Resp) {
    let segs = segments(req.path.strip_prefix("/v1.0").unwrap_or(&req.path));
    let (route, template) = match match_route(&segs) {
        Ok(r) => r,
        Err(e) => return ("/v1.0/{unknown}".into(), error_resp(shared, req, e)),
    };
    let span = tracing::debug_span!("graph", method = %req.method, route = %template, batch = in_batch);
    let calendar_id = match segs.as_slice() {
        [u, _, c, cid, ..] if eq(u, "users") && eq(c, "calendars") => Some(cid.clone()),
        _ => None,
    };
    let resp = match tracing::Instrument::instrument(run(shared, req, route, in_batch, calendar_id), span).await {
        Ok(r) => r,
        Err(e) => error_resp(shared, req, e),
    };
    (template, resp)
}

/// A Graph error response with request ids.
pub fn error_resp(shared: &Shared, req: &Req, e: GraphError) -> Resp {
    let rid = crate::wire::guid();
    let crid = req
        .header("client-request-id")
        .map(String::from)
        .unwrap_or_else(|| rid.clone());
    let mut r = Resp::json(e.status, e.body(&rid, &crid, shared.now()));
    r.headers.extend(e.headers.iter().cloned());
    r.headers.push(("request-id".into(), rid));
    r.headers.push(("client-request-id".into(), crid));
    r
}

async fn run(
    shared: &Arc<Shared>,
    req: &Req,
    route: Route,
    in_batch: bool,
    calendar_id: Option<String>,
) -> Result<Resp, GraphError> {
    let latency = lock(&shared.faults).latency_ms;
    if latency > 0 && route.user().is_none() {
        tokio::time::sleep(std::time::Duration::from_millis(latency)).await;
    }
    check_options(req)?;
    let (_token, tok) = authenticate(shared, req)?;
    match &route {
        Route::Me => {
            return Err(GraphError::bad_request(
                "/me request is only valid with delegated authentication flow.",
            ));
        }
        Route::Batch => {
            if in_batch {
                return Err(GraphError::bad_request("Nested batch requests are not supported."));
            }
            return crate::batch::handle(shared, req).await;
        }
        Route::Subscriptions | Route::Subscription { .. } | Route::Reauthorize { .. } => {
            return crate::subscriptions::handle(shared, req, &route, &tok).await;
        }
        _ => {}
    }
    let user = route.user().unwrap_or("").to_string();
    if let Route::User { .. } = route {
        require_role(
            shared,
            &tok,
            &["User.Read.All", "User.ReadWrite.All", "Directory.Read.All"],
        )
        .map_err(|_| {
            GraphError::new(
                403,
                "Authorization_RequestDenied",
                "Insufficient privileges to complete the operation.",
            )
        })?;
        return get_user(shared, req, &tok, &user);
    }
    let (mbx, mailbox_id, mail) = mailbox_for(shared, &tok, &user)?;
    let _slot = shared.throttle(&tok.client_id, &mailbox_id)?;
    if latency > 0 {
        // Added latency holds the concurrency slot, as a slow mailbox does.
        tokio::time::sleep(std::time::Duration::from_millis(latency)).await;
    }
    inject_faults(shared, &mailbox_id, &mail)?;
    if let Some(cid) = calendar_id {
        // Only the primary calendar exists.
        let st = state_for(shared, mbx)?;
        if st.mailboxes[mbx].calendar_id != cid {
            return Err(GraphError::item_not_found());
        }
    }
    let m = req.method.as_str();
    match (&route, m) {
        (Route::Events { .. }, "GET") => {
            calendar_role(shared, &tok, false)?;
            list_events(shared, req, mbx, &user)
        }
        (Route::Events { .. }, "POST") => {
            calendar_role(shared, &tok, true)?;
            create_event(shared, req, mbx, &user)
        }
        (Route::Event { id, .. }, "GET") => {
            calendar_role(shared, &tok, false)?;
            get_event(shared, req, mbx, &user, id)
        }
        (Route::Event { id, .. }, "PATCH") => {
            calendar_role(shared, &tok, true)?;
            patch_event(shared, req, mbx, &user, id)
        }
        (Route::Event { id, .. }, "DELETE") => {
            calendar_role(shared, &tok, true)?;
            delete_event(shared, req, mbx, id)
        }
        (Route::EventAction { id, action, .. }, "POST") => {
            calendar_role(shared, &tok, true)?;
            event_action(shared, req, mbx, id, action)
        }
        (Route::Instances { id, .. }, "GET") => {
            calendar_role(shared, &tok, false)?;
            instances(shared, req, mbx, &user, id)
        }
        (Route::CalendarView { .. }, "GET") => {
            calendar_role(shared, &tok, false)?;
            calendar_view(shared, req, mbx, &user)
        }
        (Route::Delta { .. }, "GET") => {
            calendar_role(shared, &tok, false)?;
            crate::delta::handle(shared, req, mbx, &user)
        }
        (Route::Calendar { .. }, "GET") => {
            calendar_role(shared, &tok, false)?;
            get_calendar(shared, req, mbx, &user)
        }
        (Route::MailboxSettings { part, .. }, "GET") => {
            require_role(shared, &tok, &["MailboxSettings.Read", "MailboxSettings.ReadWrite"])?;
            get_settings(shared, req, mbx, &user, part.as_deref())
        }
        (Route::MailboxSettings { part: None, .. }, "PATCH") => {
            require_role(shared, &tok, &["MailboxSettings.ReadWrite"])?;
            let body = json_body(req)?;
            let v = patch_settings(shared, mbx, &body)?;
            let mut out = json!({"@odata.context": context(req, &user, "/mailboxSettings")});
            if let (Some(o), Value::Object(p)) = (out.as_object_mut(), v) {
                o.extend(p);
            }
            Ok(Resp::json(200, out))
        }
        _ => Err(GraphError::new(
            405,
            "Request_BadRequest",
            format!("The HTTP method '{m}' is not allowed on this resource."),
        )),
    }
}

fn calendar_role(shared: &Shared, tok: &Token, write: bool) -> Result<(), GraphError> {
    if write {
        require_role(shared, tok, &["Calendars.ReadWrite"])
    } else {
        require_role(
            shared,
            tok,
            &["Calendars.Read", "Calendars.ReadWrite", "Calendars.ReadBasic"],
        )
    }
}

fn get_user(shared: &Shared, req: &Req, tok: &Token, user: &str) -> Result<Resp, GraphError> {
    let st = shared.state();
    let idx = st.mailbox_index(user).ok_or_else(|| {
        GraphError::new(
            404,
            "Request_ResourceNotFound",
            format!(
                "Resource '{user}' does not exist or one of its queried reference-property objects are not present."
            ),
        )
    })?;
    let mb = &st.mailboxes[idx];
    if mb.tenant_id != tok.tenant_id {
        return Err(GraphError::new(
            404,
            "Request_ResourceNotFound",
            format!(
                "Resource '{user}' does not exist or one of its queried reference-property objects are not present."
            ),
        ));
    }
    let locale = mb
        .settings
        .get("language")
        .and_then(|l| l.get("locale"))
        .cloned()
        .unwrap_or(Value::Null);
    Ok(Resp::json(
        200,
        json!({
            "@odata.context": format!("{}/v1.0/$metadata#users/$entity", req.base),
            "businessPhones": [],
            "displayName": mb.display_name,
            "givenName": null,
            "jobTitle": null,
            "mail": mb.mail,
            "mobilePhone": null,
            "officeLocation": null,
            "preferredLanguage": locale,
            "surname": null,
            "userPrincipalName": mb.mail,
            "id": mb.id,
        }),
    ))
}

fn get_calendar(shared: &Shared, req: &Req, mbx: usize, user: &str) -> Result<Resp, GraphError> {
    let st = state_for(shared, mbx)?;
    let mb = &st.mailboxes[mbx];
    Ok(Resp::json(
        200,
        json!({
            "@odata.context": context(req, user, "/calendar/$entity"),
            "id": mb.calendar_id,
            "name": "Calendar",
            "color": "auto",
            "hexColor": "",
            "isDefaultCalendar": true,
            "changeKey": "DwAAABYAAAA=",
            "canShare": true,
            "canViewPrivateItems": true,
            "canEdit": true,
            "allowedOnlineMeetingProviders": ["teamsForBusiness"],
            "defaultOnlineMeetingProvider": "teamsForBusiness",
            "isTallyingResponses": true,
            "isRemovable": false,
            "owner": {"name": mb.display_name, "address": mb.mail},
        }),
    ))
}

/// A tiny `$filter` for `/events`: `field eq 'v'` clauses joined by `and`, plus
/// `singleValueExtendedProperties/Any(ep: ep/id eq '..' and ep/value eq '..')`.
enum Clause {
    Field(String, String),
    Ext { id: String, value: Option<String> },
}

fn unquote(s: &str) -> Option<String> {
    let s = s.trim();
    s.strip_prefix('\'')
        .and_then(|x| x.strip_suffix('\''))
        .map(|x| x.replace("''", "'"))
}

fn bad_filter() -> GraphError {
    GraphError::new(
        400,
        "ErrorInvalidUrlQueryFilter",
        "The query filter contains one or more invalid nodes.",
    )
}

fn parse_filter(f: &str) -> Result<Vec<Clause>, GraphError> {
    let f = f.trim();
    let lower = f.to_ascii_lowercase();
    if lower.starts_with("singlevalueextendedproperties/any(") {
        let open = f.find('(').ok_or_else(bad_filter)?;
        let inner = f[open + 1..].strip_suffix(')').ok_or_else(bad_filter)?;
        let (var, body) = inner.split_once(':').ok_or_else(bad_filter)?;
        let var = var.trim();
        let mut id = None;
        let mut value = None;
        for c in body.split(" and ") {
            let c = c.trim();
            if let Some(rest) = c.strip_prefix(&format!("{var}/id eq ")) {
                id = unquote(rest);
            } else if let Some(rest) = c.strip_prefix(&format!("{var}/value eq ")) {
                value = unquote(rest);
            } else {
                return Err(bad_filter());
            }
        }
        return Ok(vec![Clause::Ext {
            id: id.ok_or_else(bad_filter)?,
            value,
        }]);
    }
    let mut out = Vec::new();
    for c in f.split(" and ") {
        let (field, rest) = c.trim().split_once(" eq ").ok_or_else(bad_filter)?;
        let field = field.trim();
        if !["subject", "iCalUId", "type", "transactionId"].contains(&field) {
            return Err(bad_filter());
        }
        out.push(Clause::Field(field.to_string(), unquote(rest).ok_or_else(bad_filter)?));
    }
    Ok(out)
}

fn matches(ev: &crate::model::Event, clauses: &[Clause]) -> bool {
    clauses.iter().all(|c| match c {
        Clause::Field(f, v) => match f.as_str() {
            "subject" => ev.subject().eq_ignore_ascii_case(v),
            "iCalUId" => ev.ical_uid == *v,
            "type" => ev.kind.as_str() == v,
            "transactionId" => ev.props.get("transactionId").and_then(Value::as_str) == Some(v.as_str()),
            _ => false,
        },
        Clause::Ext { id, value } => {
            let key = crate::input::ext_key(id);
            ev.ext.iter().any(|(i, val)| {
                crate::input::ext_key(i) == key && value.as_ref().is_none_or(|v| v.eq_ignore_ascii_case(val))
            })
        }
    })
}

fn list_events(shared: &Shared, req: &Req, mbx: usize, user: &str) -> Result<Resp, GraphError> {
    let (opts, applied) = read_opts(req)?;
    let (skip, top) = page_params(shared, req)?;
    let clauses = match req.q("$filter") {
        Some(f) => parse_filter(f)?,
        None => Vec::new(),
    };
    let order = req.q("$orderby").map(|o| o.trim().to_string());
    let (total, page): (usize, Vec<Instance>) = {
        let st = state_for(shared, mbx)?;
        let mut items: Vec<&Arc<crate::model::Event>> = st.mailboxes[mbx]
            .events
            .values()
            .filter(|e| e.kind != Kind::Exception && matches(e, &clauses))
            .collect();
        match order.as_deref() {
            None => items.sort_by_key(|e| e.seq),
            Some(o) => {
                let (field, desc) = match o.split_once(' ') {
                    Some((f, d)) => (f, d.trim().eq_ignore_ascii_case("desc")),
                    None => (o, false),
                };
                match field {
                    "start/dateTime" => items.sort_by_key(|e| (e.start_utc(), e.seq)),
                    "end/dateTime" => items.sort_by_key(|e| (e.end_utc(), e.seq)),
                    "createdDateTime" => items.sort_by_key(|e| (e.created, e.seq)),
                    "lastModifiedDateTime" => items.sort_by_key(|e| (e.modified, e.seq)),
                    "subject" => items.sort_by(|a, b| a.subject().cmp(b.subject()).then(a.seq.cmp(&b.seq))),
                    _ => {
                        return Err(GraphError::bad_request(format!(
                            "The $orderby expression '{o}' is not supported."
                        )));
                    }
                }
                if desc {
                    items.reverse();
                }
            }
        }
        let total = items.len();
        let page = items.into_iter().skip(skip).take(top).map(Instance::of_item).collect();
        (total, page)
    };
    let values: Vec<Value> = page.iter().map(|i| render::render(i, &opts)).collect();
    let body = page_of(req, context(req, user, "/events"), total, skip, top, values);
    Ok(with_applied(Resp::json(200, body), &applied))
}

fn get_event(shared: &Shared, req: &Req, mbx: usize, user: &str, id: &str) -> Result<Resp, GraphError> {
    let (opts, applied) = read_opts(req)?;
    let inst = {
        let st = state_for(shared, mbx)?;
        let target = calendar::resolve(&st.mailboxes[mbx], id, &shared.cfg)?;
        calendar::instance_of(&target)
    };
    let ctx_url = context(req, user, "/events/$entity");
    if opts.is_default()
        && let Some(text) = render::render_cached(&inst, &ctx_url)
    {
        return Ok(Resp {
            status: 200,
            headers: Vec::new(),
            body: crate::http::Body::JsonText(text),
        });
    }
    let mut v = render::render(&inst, &opts);
    if let Some(o) = v.as_object_mut() {
        o.insert("@odata.context".into(), json!(ctx_url));
    }
    Ok(with_applied(Resp::json(200, v), &applied))
}

fn create_event(shared: &Shared, req: &Req, mbx: usize, user: &str) -> Result<Resp, GraphError> {
    let body = json_body(req)?;
    let (opts, applied) = prefer_opts(req);
    let ctx = Ctx {
        now: shared.now(),
        cfg: &shared.cfg,
    };
    let ev = {
        let mut st = state_for(shared, mbx)?;
        let (ev, changes) = calendar::create(&mut st, mbx, &body, &ctx)?;
        notify::enqueue_changes(shared, &mut st, &changes);
        ev
    };
    let mut v = render::render(&Instance::of_item(&ev), &opts);
    if let Some(o) = v.as_object_mut() {
        o.insert("@odata.context".into(), json!(context(req, user, "/events/$entity")));
    }
    let loc = format!("{}/v1.0/users/{}/events/{}", req.base, wire::qenc(user), ev.id);
    Ok(with_applied(Resp::json(201, v).with_header("Location", loc), &applied))
}

fn patch_event(shared: &Shared, req: &Req, mbx: usize, user: &str, id: &str) -> Result<Resp, GraphError> {
    let body = json_body(req)?;
    let (opts, applied) = prefer_opts(req);
    let ctx = Ctx {
        now: shared.now(),
        cfg: &shared.cfg,
    };
    let inst = {
        let mut st = state_for(shared, mbx)?;
        let (inst, changes) = calendar::patch(&mut st, mbx, id, &body, req.header("if-match"), &ctx)?;
        notify::enqueue_changes(shared, &mut st, &changes);
        inst
    };
    let mut v = render::render(&inst, &opts);
    if let Some(o) = v.as_object_mut() {
        o.insert("@odata.context".into(), json!(context(req, user, "/events/$entity")));
    }
    Ok(with_applied(Resp::json(200, v), &applied))
}

fn delete_event(shared: &Shared, req: &Req, mbx: usize, id: &str) -> Result<Resp, GraphError> {
    let ctx = Ctx {
        now: shared.now(),
        cfg: &shared.cfg,
    };
    let mut st = state_for(shared, mbx)?;
    let changes = calendar::delete(&mut st, mbx, id, req.header("if-match"), &ctx)?;
    notify::enqueue_changes(shared, &mut st, &changes);
    Ok(Resp::empty(204))
}

fn event_action(shared: &Shared, req: &Req, mbx: usize, id: &str, action: &str) -> Result<Resp, GraphError> {
    if !req.body.is_empty() {
        let body = json_body(req)?;
        if let Some(o) = body.as_object() {
            for k in o.keys() {
                if !["comment", "sendResponse", "proposedNewTime"].contains(&k.as_str()) {
                    return Err(GraphError::unknown_property(k, "microsoft.graph.event"));
                }
            }
        }
    }
    let ctx = Ctx {
        now: shared.now(),
        cfg: &shared.cfg,
    };
    let mut st = state_for(shared, mbx)?;
    let changes = match action {
        "cancel" => calendar::cancel(&mut st, mbx, id, &ctx)?,
        "accept" => calendar::respond(&mut st, mbx, id, "accepted", &ctx)?,
        "decline" => calendar::respond(&mut st, mbx, id, "declined", &ctx)?,
        _ => calendar::respond(&mut st, mbx, id, "tentativelyAccepted", &ctx)?,
    };
    notify::enqueue_changes(shared, &mut st, &changes);
    Ok(Resp::empty(202))
}

/// `startDateTime`/`endDateTime`, both required.
pub fn window(req: &Req) -> Result<(chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>), GraphError> {
    let (Some(s), Some(e)) = (req.qi("startDateTime"), req.qi("endDateTime")) else {
        return Err(GraphError::missing_window());
    };
    let s = wire::parse_window(s).ok_or_else(|| {
        GraphError::invalid_parameter(format!("The value '{s}' of parameter 'StartDateTime' is invalid."))
    })?;
    let e = wire::parse_window(e).ok_or_else(|| {
        GraphError::invalid_parameter(format!("The value '{e}' of parameter 'EndDateTime' is invalid."))
    })?;
    Ok((s, e))
}

fn check_view_select(opts: &RenderOpts) -> Result<(), GraphError> {
    if let Some(sel) = &opts.select
        && sel
            .iter()
            .any(|s| s == "createdDateTime" || s == "lastModifiedDateTime")
    {
        return Err(GraphError::new(
            400,
            "ErrorInvalidProperty",
            "The property 'createdDateTime' or 'lastModifiedDateTime' can't be selected on calendarView.",
        ));
    }
    Ok(())
}

fn calendar_view(shared: &Shared, req: &Req, mbx: usize, user: &str) -> Result<Resp, GraphError> {
    let (s, e) = window(req)?;
    let (opts, applied) = read_opts(req)?;
    check_view_select(&opts)?;
    let (skip, top) = page_params(shared, req)?;
    let (total, page) = {
        let st = state_for(shared, mbx)?;
        let all = calendar::view(&st.mailboxes[mbx], s, e, &shared.cfg);
        let total = all.len();
        (total, all.into_iter().skip(skip).take(top).collect::<Vec<_>>())
    };
    let values: Vec<Value> = page.iter().map(|i| render::render(i, &opts)).collect();
    let body = page_of(req, context(req, user, "/calendarView"), total, skip, top, values);
    Ok(with_applied(Resp::json(200, body), &applied))
}

fn instances(shared: &Shared, req: &Req, mbx: usize, user: &str, id: &str) -> Result<Resp, GraphError> {
    let (s, e) = window(req)?;
    let (opts, applied) = read_opts(req)?;
    check_view_select(&opts)?;
    let (skip, top) = page_params(shared, req)?;
    let (total, page) = {
        let st = state_for(shared, mbx)?;
        let m = &st.mailboxes[mbx];
        let target = calendar::resolve(m, id, &shared.cfg)?;
        let all = match target {
            calendar::Target::Item(ev) if ev.kind == Kind::SeriesMaster => calendar::expand(m, &ev, s, e, &shared.cfg),
            _ => Vec::new(),
        };
        let total = all.len();
        (total, all.into_iter().skip(skip).take(top).collect::<Vec<_>>())
    };
    let values: Vec<Value> = page.iter().map(|i| render::render(i, &opts)).collect();
    let body = page_of(
        req,
        context(req, user, &format!("/events('{id}')/instances")),
        total,
        skip,
        top,
        values,
    );
    Ok(with_applied(Resp::json(200, body), &applied))
}

const SETTINGS_PARTS: &[&str] = &[
    "automaticRepliesSetting",
    "language",
    "timeZone",
    "workingHours",
    "dateFormat",
    "timeFormat",
    "userPurpose",
    "delegateMeetingMessageDeliveryOptions",
    "archiveFolder",
];

fn get_settings(shared: &Shared, req: &Req, mbx: usize, user: &str, part: Option<&str>) -> Result<Resp, GraphError> {
    let st = state_for(shared, mbx)?;
    let settings = &st.mailboxes[mbx].settings;
    match part {
        None => {
            let mut m = serde_json::Map::new();
            m.insert("@odata.context".into(), json!(context(req, user, "/mailboxSettings")));
            for (k, v) in settings {
                m.insert(k.clone(), v.clone());
            }
            Ok(Resp::json(200, Value::Object(m)))
        }
        Some(p) => {
            let key = SETTINGS_PARTS
                .iter()
                .find(|k| k.eq_ignore_ascii_case(p))
                .ok_or_else(|| GraphError::not_found_segment(p))?;
            let v = settings.get(*key).cloned().unwrap_or(Value::Null);
            let ctx_url = context(req, user, &format!("/mailboxSettings/{key}"));
            let body = match v {
                Value::Object(mut o) => {
                    o.insert("@odata.context".into(), json!(ctx_url));
                    Value::Object(o)
                }
                other => json!({"@odata.context": ctx_url, "value": other}),
            };
            Ok(Resp::json(200, body))
        }
    }
}

fn norm_enum(v: &Value, allowed: &[&str], ty: &str) -> Result<Value, GraphError> {
    let s = v.as_str().ok_or_else(|| GraphError::bad_enum(&v.to_string(), ty))?;
    allowed
        .iter()
        .find(|a| a.eq_ignore_ascii_case(s))
        .map(|a| json!(a))
        .ok_or_else(|| GraphError::bad_enum(s, ty))
}

/// PATCH mailboxSettings (Graph and the control API). Returns the patched properties.
pub fn patch_settings(shared: &Shared, mbx: usize, body: &Value) -> Result<Value, GraphError> {
    let o = body
        .as_object()
        .ok_or_else(|| GraphError::body_read("The request body must be a JSON object."))?;
    let mut st = state_for(shared, mbx)?;
    let settings = &mut st.mailboxes[mbx].settings;
    let mut out = serde_json::Map::new();
    for (k, v) in o {
        if k.starts_with("@odata") {
            continue;
        }
        let key = SETTINGS_PARTS
            .iter()
            .find(|x| **x == k.as_str())
            .ok_or_else(|| GraphError::unknown_property(k, "microsoft.graph.mailboxSettings"))?;
        let newv = match *key {
            "automaticRepliesSetting" => {
                let given = v
                    .as_object()
                    .ok_or_else(|| GraphError::body_read("automaticRepliesSetting must be an object."))?;
                let mut cur = settings.get("automaticRepliesSetting").cloned().unwrap_or(json!({}));
                for (ak, av) in given {
                    let nv = match ak.as_str() {
                        "status" => norm_enum(
                            av,
                            &["disabled", "alwaysEnabled", "scheduled"],
                            "microsoft.graph.automaticRepliesStatus",
                        )?,
                        "externalAudience" => norm_enum(
                            av,
                            &["none", "contactsOnly", "all"],
                            "microsoft.graph.externalAudienceScope",
                        )?,
                        "internalReplyMessage" | "externalReplyMessage" => av.clone(),
                        "scheduledStartDateTime" | "scheduledEndDateTime" => {
                            let (t, z) = crate::input::parse_dttz(ak, av)?;
                            json!({"dateTime": wire::fmt_local(t), "timeZone": z})
                        }
                        other => {
                            return Err(GraphError::unknown_property(
                                other,
                                "microsoft.graph.automaticRepliesSetting",
                            ));
                        }
                    };
                    cur[ak.as_str()] = nv;
                }
                cur
            }
            "language" => {
                let locale = v
                    .get("locale")
                    .and_then(Value::as_str)
                    .ok_or_else(|| GraphError::body_read("language.locale is required."))?;
                crate::model::language_json(locale)
            }
            "timeZone" => {
                let z = v
                    .as_str()
                    .ok_or_else(|| GraphError::body_read("timeZone must be a string."))?;
                if crate::tz::resolve(z).is_none() {
                    return Err(GraphError::timezone_not_supported(z));
                }
                v.clone()
            }
            "delegateMeetingMessageDeliveryOptions" => norm_enum(
                v,
                &[
                    "sendToDelegateAndInformationToPrincipal",
                    "sendToDelegateAndPrincipal",
                    "sendToDelegateOnly",
                ],
                "microsoft.graph.delegateMeetingMessageDeliveryOptions",
            )?,
            "userPurpose" | "archiveFolder" => {
                return Err(GraphError::new(
                    400,
                    "ErrorInvalidRequest",
                    format!("The property '{key}' is read-only."),
                ));
            }
            _ => v.clone(),
        };
        settings.insert((*key).to_string(), newv.clone());
        out.insert((*key).to_string(), newv);
    }
    Ok(Value::Object(out))
}
