//! A small external meeting service for the HTTP provider's tests: meetings
//! by Idempotency-Key, a bearer token, and a switch that holds create
//! requests (to crash or race hcal in the middle of one) or fails them.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::{Value, json};

pub const TOKEN: &str = "meeting-service-token-42";

#[derive(Default)]
pub struct ServiceState {
    /// Idempotency key -> meeting.
    pub meetings: BTreeMap<String, Value>,
    pub creates: u32,
    pub patches: Vec<(String, Value)>,
    pub deletes: Vec<String>,
    /// While set, create requests wait before answering.
    pub hold: bool,
    /// Create requests that arrived while held.
    pub held: u32,
    /// The next this many create requests are answered 503 (under maintenance).
    pub fail: u32,
}

pub struct MeetingService {
    pub url: String,
    pub state: Arc<Mutex<ServiceState>>,
    handle: actix_web::dev::ServerHandle,
}

fn authorised(req: &HttpRequest) -> bool {
    req.headers().get("authorization").and_then(|v| v.to_str().ok()) == Some(&format!("Bearer {TOKEN}"))
}

async fn create(req: HttpRequest, st: web::Data<Mutex<ServiceState>>, body: web::Json<Value>) -> HttpResponse {
    if !authorised(&req) {
        return HttpResponse::Unauthorized().json(json!({"error": {"code": "unauthorized"}}));
    }
    let Some(key) = req
        .headers()
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
    else {
        return HttpResponse::BadRequest().json(json!({"error": {"code": "idempotency_key_required"}}));
    };
    let meeting = {
        let mut s = st.lock().unwrap();
        s.creates += 1;
        if s.fail > 0 {
            s.fail -= 1;
            return HttpResponse::ServiceUnavailable().json(json!({"error": {"code": "maintenance"}}));
        }
        if s.hold {
            s.held += 1;
        }
        let n = s.meetings.len() + 1;
        s.meetings
            .entry(key)
            .or_insert_with(|| {
                json!({"id": format!("m-{n}"), "join_url": format!("https://meet.example.test/j/{n:06}"),
                       "sip": format!("sip:{n:06}@meet.example.test"), "meeting_number": format!("{n:06}"),
                       "dial_in": [{"label": "Main", "number": "+31 20 555 0100"}], "request": body.into_inner()})
            })
            .clone()
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while st.lock().unwrap().hold && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    HttpResponse::Created().json(meeting)
}

async fn patch(
    req: HttpRequest,
    st: web::Data<Mutex<ServiceState>>,
    id: web::Path<String>,
    body: web::Json<Value>,
) -> HttpResponse {
    if !authorised(&req) {
        return HttpResponse::Unauthorized().finish();
    }
    st.lock().unwrap().patches.push((id.into_inner(), body.into_inner()));
    HttpResponse::Ok().json(json!({}))
}

async fn delete(req: HttpRequest, st: web::Data<Mutex<ServiceState>>, id: web::Path<String>) -> HttpResponse {
    if !authorised(&req) {
        return HttpResponse::Unauthorized().finish();
    }
    st.lock().unwrap().deletes.push(id.into_inner());
    HttpResponse::NoContent().finish()
}

impl MeetingService {
    pub fn start() -> MeetingService {
        let state: Arc<Mutex<ServiceState>> = Arc::default();
        let data = web::Data::from(state.clone());
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let server = HttpServer::new(move || {
                    App::new()
                        .app_data(data.clone())
                        .route("/meetings", web::post().to(create))
                        .route("/meetings/{id}", web::patch().to(patch))
                        .route("/meetings/{id}", web::delete().to(delete))
                })
                .workers(1)
                .disable_signals()
                .bind("127.0.0.1:0")
                .expect("bind");
                let addr = server.addrs()[0];
                let server = server.run();
                tx.send((addr, server.handle())).expect("send");
                let _ = server.await;
            });
        });
        let (addr, handle) = rx.recv().expect("meeting service started");
        MeetingService {
            url: format!("http://{addr}"),
            state,
            handle,
        }
    }

    pub fn stop(&self) {
        let h = self.handle.clone();
        let _ = std::thread::spawn(move || {
            if let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() {
                rt.block_on(h.stop(false));
            }
        })
        .join();
    }
}
