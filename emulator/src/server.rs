//! The HTTP server: actix-web on its own thread with its own actix System, so that it runs the
//! same under `#[tokio::test]`, `#[actix_rt::test]`, a plain thread or `main`.

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use std::net::SocketAddr;
use std::sync::Arc;

use crate::config::EmulatorConfig;
use crate::error::EmulatorError;
use crate::http::{Body, Req, Resp};
use crate::seed::Seed;
use crate::shared::Shared;

/// Pin the calling thread to one CPU (Linux; elsewhere a no-op). Returns whether it worked.
pub fn pin_current_thread(cpu: usize) -> bool {
    #[cfg(target_os = "linux")]
    {
        if cpu >= libc::CPU_SETSIZE as usize {
            return false;
        }
        // SAFETY: `set` is a plain bit set owned by this frame; CPU_SET writes inside it (the
        // index is checked above) and sched_setaffinity only reads it.
        unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            libc::CPU_SET(cpu, &mut set);
            libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) == 0
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = cpu;
        false
    }
}

/// Starts emulators.
pub struct Emulator;

/// A running emulator. Dropping it stops the server (without waiting).
pub struct EmulatorHandle {
    addr: SocketAddr,
    server: actix_web::dev::ServerHandle,
    shared: Arc<Shared>,
    thread: Option<std::thread::JoinHandle<()>>,
}

type Ready = Result<(SocketAddr, actix_web::dev::ServerHandle, Arc<Shared>), EmulatorError>;

fn spawn(
    addr: SocketAddr,
    seed: Seed,
    config: EmulatorConfig,
    signals: bool,
    ready: Box<dyn FnOnce(Ready) + Send>,
    done: Option<tokio::sync::oneshot::Sender<()>>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("graph-emulator".into())
        .spawn(move || {
            let sys = actix_rt::System::new();
            sys.block_on(async move {
                let workers = config.workers.max(1);
                let cpu = config.cpu_affinity;
                let shared = Arc::new(Shared::new(seed, config));
                let data = web::Data::new(shared.clone());
                let server = HttpServer::new(move || {
                    // The factory runs on each worker's own thread.
                    if let Some(cpu) = cpu {
                        pin_current_thread(cpu);
                    }
                    App::new()
                        .app_data(data.clone())
                        .app_data(web::PayloadConfig::new(4 * 1024 * 1024))
                        .default_service(web::to(entry))
                })
                .workers(workers)
                .shutdown_timeout(1);
                let server = if signals { server } else { server.disable_signals() };
                let server = match server.bind(addr) {
                    Ok(s) => s,
                    Err(source) => {
                        ready(Err(EmulatorError::Bind {
                            addr: addr.to_string(),
                            source,
                        }));
                        return;
                    }
                };
                let bound = server.addrs().first().copied().unwrap_or(addr);
                let server = server.run();
                let handle = server.handle();
                actix_rt::spawn(crate::notify::scheduler(shared.clone()));
                ready(Ok((bound, handle, shared)));
                if let Err(e) = server.await {
                    tracing::error!(error = %e, "graph emulator stopped with an error");
                }
            });
            if let Some(d) = done {
                let _ = d.send(());
            }
        })
}

fn oneshot_ready(tx: tokio::sync::oneshot::Sender<Ready>) -> Box<dyn FnOnce(Ready) + Send> {
    Box::new(move |r: Ready| {
        let _ = tx.send(r);
    })
}

impl Emulator {
    /// Start on `127.0.0.1:0`. Works inside any async runtime (the server has its own thread).
    pub async fn start(seed: Seed, config: EmulatorConfig) -> Result<EmulatorHandle, EmulatorError> {
        Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0)), seed, config).await
    }

    /// Start on a given address.
    pub async fn start_on(
        addr: SocketAddr,
        seed: Seed,
        config: EmulatorConfig,
    ) -> Result<EmulatorHandle, EmulatorError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let thread = spawn(addr, seed, config, false, oneshot_ready(tx), None)?;
        let (addr, server, shared) = rx.await.map_err(|e| EmulatorError::Thread(e.to_string()))??;
        Ok(EmulatorHandle {
            addr,
            server,
            shared,
            thread: Some(thread),
        })
    }
}

impl EmulatorHandle {
    /// Start from synchronous code (benchmarks, the demo) on `127.0.0.1:0`.
    pub fn spawn_thread(seed: Seed, config: EmulatorConfig) -> Result<EmulatorHandle, EmulatorError> {
        Self::spawn_thread_on(SocketAddr::from(([127, 0, 0, 1], 0)), seed, config)
    }

    /// Start from synchronous code on a given address (blocks until the server is bound).
    pub fn spawn_thread_on(
        addr: SocketAddr,
        seed: Seed,
        config: EmulatorConfig,
    ) -> Result<EmulatorHandle, EmulatorError> {
        let (tx, rx) = std::sync::mpsc::channel();
        let ready = Box::new(move |r: Ready| {
            let _ = tx.send(r);
        });
        let thread = spawn(addr, seed, config, false, ready, None)?;
        let (addr, server, shared) = rx.recv().map_err(|e| EmulatorError::Thread(e.to_string()))??;
        Ok(EmulatorHandle {
            addr,
            server,
            shared,
            thread: Some(thread),
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`: serves the identity endpoints (`/{tenant}/oauth2/v2.0/token`,
    /// `/{tenant}/adminconsent`), Graph under `/v1.0` and the control API under `/_emulator`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `{base_url}/v1.0`.
    pub fn graph_url(&self) -> String {
        format!("{}/v1.0", self.base_url())
    }

    /// `{base_url}/{tenant}/oauth2/v2.0/token`.
    pub fn token_url(&self, tenant: &str) -> String {
        format!("{}/{tenant}/oauth2/v2.0/token", self.base_url())
    }

    /// Issue an access token directly (no HTTP), e.g. for benchmarks. `None` if the tenant or
    /// app is unknown or not consented.
    pub fn issue_token(&self, tenant: &str, client_id: &str) -> Option<String> {
        let (tenant_id, client) = {
            let st = self.shared.state();
            let t = st.tenant(tenant)?;
            let app = t.apps.iter().find(|a| a.client_id == client_id.to_ascii_lowercase())?;
            if !app.consented {
                return None;
            }
            (t.id.clone(), app.client_id.clone())
        };
        Some(crate::identity::issue(&self.shared, &tenant_id, &client).0)
    }

    /// Create events in `user`'s calendar directly (no HTTP, no notifications); each body is
    /// a Graph event JSON. Returns the new ids.
    pub fn insert_events(&self, user: &str, bodies: &[serde_json::Value]) -> Result<Vec<String>, crate::GraphError> {
        let ctx = crate::calendar::Ctx {
            now: self.shared.now(),
            cfg: &self.shared.cfg,
        };
        let mut st = self.shared.state();
        let mbx = st
            .mailbox_index(user)
            .ok_or_else(|| crate::GraphError::invalid_user(user))?;
        let mut ids = Vec::with_capacity(bodies.len());
        for b in bodies {
            let (ev, _) = crate::calendar::create(&mut st, mbx, b, &ctx)?;
            ids.push(ev.id.clone());
        }
        Ok(ids)
    }

    /// Create events as `user` through the same path as the control API (attendee copies and
    /// change notifications follow), without HTTP. Returns the new ids.
    pub fn create_events_as_user(
        &self,
        user: &str,
        bodies: &[serde_json::Value],
    ) -> Result<Vec<String>, crate::GraphError> {
        let ctx = crate::calendar::Ctx {
            now: self.shared.now(),
            cfg: &self.shared.cfg,
        };
        let mut st = self.shared.state();
        let mbx = st
            .mailbox_index(user)
            .ok_or_else(|| crate::GraphError::invalid_user(user))?;
        let mut ids = Vec::with_capacity(bodies.len());
        for b in bodies {
            let (ev, changes) = crate::calendar::create(&mut st, mbx, b, &ctx)?;
            crate::notify::enqueue_changes(&self.shared, &mut st, &changes);
            ids.push(ev.id.clone());
        }
        Ok(ids)
    }

    /// Insert `n` sample meetings (HTML body, a location, an external attendee, 1 hour each,
    /// one per day from 2024-05-01) into `user`'s calendar directly; returns their ids.
    /// For benchmarks: `GET {graph_url}/users/{user}/events/{id}` with a token from
    /// [`EmulatorHandle::issue_token`].
    pub fn insert_sample_events(&self, user: &str, n: usize) -> Result<Vec<String>, crate::GraphError> {
        let base = chrono::NaiveDate::from_ymd_opt(2024, 5, 1).unwrap_or_default();
        let bodies: Vec<serde_json::Value> = (0..n)
            .map(|i| {
                let day = base + chrono::Duration::days(i as i64);
                serde_json::json!({
                    "subject": format!("Sample meeting {i}"),
                    "body": {"contentType": "html", "content": "<p>Agenda: status, risks, next steps.</p>"},
                    "start": {"dateTime": format!("{day}T09:00:00"), "timeZone": "W. Europe Standard Time"},
                    "end": {"dateTime": format!("{day}T10:00:00"), "timeZone": "W. Europe Standard Time"},
                    "location": {"displayName": "@webex"},
                    "attendees": [{"emailAddress": {"address": "guest@fabrikam.example", "name": "Guest"}, "type": "required"}]
                })
            })
            .collect();
        self.insert_events(user, &bodies)
    }

    /// The emulator's current time.
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.shared.now()
    }

    /// Move the emulator clock.
    pub fn advance_clock(&self, by: chrono::Duration) {
        self.shared.clock.advance(by);
    }

    /// How many requests matched `"METHOD /v1.0/route/template"`.
    pub fn request_count(&self, method_and_route: &str) -> u64 {
        crate::shared::lock(&self.shared.log)
            .counts
            .get(method_and_route)
            .copied()
            .unwrap_or(0)
    }

    /// Stop the server (its thread ends right after).
    pub async fn stop(mut self) {
        self.server.stop(false).await;
        self.thread.take();
    }

    /// Stop from synchronous code.
    pub fn stop_blocking(mut self) {
        drop(self.server.stop(false));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for EmulatorHandle {
    fn drop(&mut self) {
        if self.thread.is_some() {
            drop(self.server.stop(false));
        }
    }
}

/// Run the emulator on `listen` until it is stopped by SIGINT/SIGTERM; for
/// `hcal graph-emulator --listen ADDR --seed FILE`. Prints
/// `graph emulator listening on http://ADDR` to stdout once bound (and logs it with tracing).
/// Needs a tokio-based runtime (`#[tokio::main]` or `#[actix_web::main]`).
pub async fn serve(listen: SocketAddr, seed: Seed, config: EmulatorConfig) -> Result<(), EmulatorError> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    let _thread = spawn(listen, seed, config, true, oneshot_ready(tx), Some(done_tx))?;
    let (addr, _handle, _shared) = rx.await.map_err(|e| EmulatorError::Thread(e.to_string()))??;
    tracing::info!(%addr, "graph emulator listening");
    println!("graph emulator listening on http://{addr}");
    // Waiting on a channel, not joining: dropping this future (e.g. an aborted task) does not
    // hold up the caller's runtime.
    done_rx
        .await
        .map_err(|_| EmulatorError::Thread("emulator thread ended abnormally".into()))?;
    Ok(())
}

fn to_req(req: &HttpRequest, body: web::Bytes) -> Req {
    let info = req.connection_info();
    let base = format!("http://{}", info.host());
    let raw_query = req.query_string().to_string();
    Req {
        method: req.method().as_str().to_string(),
        path: req.path().to_string(),
        query: Req::parse_query(&raw_query),
        raw_query,
        headers: req
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_ascii_lowercase(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: body.to_vec(),
        base,
    }
}

const ODATA_JSON: &str =
    "application/json; odata.metadata=minimal; odata.streaming=true; IEEE754Compatible=false; charset=utf-8";

fn to_http(resp: Resp, odata: bool) -> HttpResponse {
    let status = actix_web::http::StatusCode::from_u16(resp.status)
        .unwrap_or(actix_web::http::StatusCode::INTERNAL_SERVER_ERROR);
    let mut b = HttpResponse::build(status);
    for (k, v) in &resp.headers {
        b.insert_header((k.as_str(), v.as_str()));
    }
    match resp.body {
        Body::Empty => b.finish(),
        Body::Json(v) => {
            let bytes = serde_json::to_vec(&v).unwrap_or_default();
            b.content_type(if odata {
                ODATA_JSON
            } else {
                "application/json; charset=utf-8"
            })
            .body(bytes)
        }
        Body::JsonText(s) => b
            .content_type(if odata {
                ODATA_JSON
            } else {
                "application/json; charset=utf-8"
            })
            .body(s),
        Body::Raw { content_type, bytes } => b.content_type(content_type).body(bytes),
    }
}

async fn entry(req: HttpRequest, body: web::Bytes, shared: web::Data<Arc<Shared>>) -> HttpResponse {
    let shared: &Arc<Shared> = shared.get_ref();
    let r = to_req(&req, body);
    let path = r.path.clone();
    if path.starts_with("/v1.0/") || path == "/v1.0" {
        let (template, mut resp) = crate::graph::handle(shared, &r, false).await;
        shared.record(&r.method, &template, &r.path, resp.status, false);
        if !resp.headers.iter().any(|(k, _)| k == "request-id") {
            let rid = crate::wire::guid();
            let crid = r
                .header("client-request-id")
                .map(String::from)
                .unwrap_or_else(|| rid.clone());
            resp.headers.push(("request-id".into(), rid));
            resp.headers.push(("client-request-id".into(), crid));
        }
        resp.headers.push(("OData-Version".into(), "4.0".into()));
        return to_http(resp, true);
    }
    if path.starts_with("/_emulator") {
        return to_http(crate::control::handle(shared, &r).await, false);
    }
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let resp = match segs.as_slice() {
        [tenant, "oauth2", "v2.0", "token"] => {
            let resp = crate::identity::token(shared, &r, tenant);
            shared.record(&r.method, "/{tenant}/oauth2/v2.0/token", &path, resp.status, false);
            resp
        }
        [tenant, "adminconsent"] => crate::identity::admin_consent(shared, &r, tenant, false, None),
        [tenant, "v2.0", "adminconsent"] => crate::identity::admin_consent(shared, &r, tenant, true, None),
        [tenant, "adminconsent", "decide"] => {
            let v2 = r.q("v2") == Some("true");
            let decision = r.q("decision").map(String::from);
            crate::identity::admin_consent(shared, &r, tenant, v2, decision.as_deref())
        }
        _ => Resp::json(
            404,
            serde_json::json!({"error": {"code": "NotFound", "message": format!("No route for {path}")}}),
        ),
    };
    to_http(resp, false)
}
