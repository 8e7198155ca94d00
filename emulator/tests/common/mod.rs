//! Test helpers: start an emulator, get a token, talk Graph over HTTP, and a tiny webhook
//! receiver that records what Graph posts to it.
#![allow(dead_code)]

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use hcal_emulator::seed::{EXAMPLE_CLIENT, EXAMPLE_SECRET, EXAMPLE_TENANT};
use hcal_emulator::{ClockMode, Emulator, EmulatorConfig, EmulatorHandle, Seed};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub const ALICE: &str = "alice@contoso.example";
pub const BOB: &str = "bob@contoso.example";
pub const ROOM: &str = "room.amstel@contoso.example";

pub struct Env {
    pub emu: EmulatorHandle,
    pub http: reqwest::Client,
    pub token: String,
}

pub fn manual_clock() -> EmulatorConfig {
    EmulatorConfig {
        clock: ClockMode::Manual {
            start: Some("2024-05-01T08:00:00Z".parse().unwrap()),
        },
        ..Default::default()
    }
}

pub async fn env() -> Env {
    env_with(Seed::example(), EmulatorConfig::default()).await
}

pub async fn env_with(seed: Seed, cfg: EmulatorConfig) -> Env {
    let emu = Emulator::start(seed, cfg).await.expect("emulator starts");
    let http = reqwest::Client::new();
    let token = fetch_token(&http, &emu.base_url()).await;
    Env { emu, http, token }
}

pub async fn fetch_token(http: &reqwest::Client, base: &str) -> String {
    let r = http
        .post(format!("{base}/{EXAMPLE_TENANT}/oauth2/v2.0/token"))
        .form(&[
            ("client_id", EXAMPLE_CLIENT),
            ("client_secret", EXAMPLE_SECRET),
            ("scope", "https://graph.microsoft.com/.default"),
            ("grant_type", "client_credentials"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    v["access_token"].as_str().unwrap().to_string()
}

pub struct R {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Env {
    pub fn url(&self, path: &str) -> String {
        if path.starts_with("http") {
            path.to_string()
        } else if path.starts_with("/_emulator") {
            format!("{}{}", self.emu.base_url(), path)
        } else {
            format!("{}{}", self.emu.graph_url(), path)
        }
    }

    pub async fn call(&self, method: &str, path: &str, body: Option<Value>, headers: &[(&str, &str)]) -> R {
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut rb = self.http.request(m, self.url(path)).bearer_auth(&self.token);
        for (k, v) in headers {
            rb = rb.header(*k, *v);
        }
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        let r = rb.send().await.unwrap();
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let text = r.text().await.unwrap();
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        R { status, headers, body }
    }

    pub async fn get(&self, path: &str) -> R {
        self.call("GET", path, None, &[]).await
    }
    pub async fn post(&self, path: &str, body: Value) -> R {
        self.call("POST", path, Some(body), &[]).await
    }
    pub async fn patch(&self, path: &str, body: Value) -> R {
        self.call("PATCH", path, Some(body), &[]).await
    }
    pub async fn delete(&self, path: &str) -> R {
        self.call("DELETE", path, None, &[]).await
    }

    pub async fn control(&self, method: &str, path: &str, body: Value) -> R {
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let r = self.http.request(m, self.url(path)).json(&body).send().await.unwrap();
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let text = r.text().await.unwrap();
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        R { status, headers, body }
    }

    pub async fn advance(&self, secs: f64) {
        let r = self
            .control("POST", "/_emulator/clock", json!({"advance_seconds": secs}))
            .await;
        assert_eq!(r.status, 200);
    }

    /// Create a simple event in Alice's calendar.
    pub async fn create(&self, user: &str, subject: &str, start: &str, end: &str) -> Value {
        let r = self
            .post(
                &format!("/users/{user}/events"),
                json!({"subject": subject, "start": {"dateTime": start, "timeZone": "UTC"}, "end": {"dateTime": end, "timeZone": "UTC"}}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        r.body
    }
}

/// What the receiver does with a request.
#[derive(Clone, Debug)]
pub struct Behaviour {
    /// Echo validation tokens (decoded).
    pub echo: bool,
    /// Echo the token still URL-encoded (wrong).
    pub echo_encoded: bool,
    pub status: u16,
    pub delay_ms: u64,
}

impl Default for Behaviour {
    fn default() -> Self {
        Behaviour {
            echo: true,
            echo_encoded: false,
            status: 202,
            delay_ms: 0,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Received {
    pub path: String,
    pub query: String,
    pub content_type: String,
    pub body: Value,
    pub validation: Option<String>,
}

pub struct Receiver {
    pub base: String,
    pub got: Arc<Mutex<Vec<Received>>>,
    pub behaviour: Arc<Mutex<Behaviour>>,
    handle: actix_web::dev::ServerHandle,
}

impl Receiver {
    pub fn start() -> Receiver {
        let got: Arc<Mutex<Vec<Received>>> = Arc::default();
        let behaviour: Arc<Mutex<Behaviour>> = Arc::default();
        let (tx, rx) = std::sync::mpsc::channel();
        let (g2, b2) = (got.clone(), behaviour.clone());
        std::thread::spawn(move || {
            actix_rt::System::new().block_on(async move {
                let server = HttpServer::new(move || {
                    App::new()
                        .app_data(web::Data::new((g2.clone(), b2.clone())))
                        .default_service(web::to(receive))
                })
                .workers(1)
                .disable_signals()
                .bind("127.0.0.1:0")
                .unwrap();
                let addr = server.addrs()[0];
                let s = server.run();
                tx.send((addr, s.handle())).unwrap();
                let _ = s.await;
            })
        });
        let (addr, handle) = rx.recv().unwrap();
        Receiver {
            base: format!("http://{addr}"),
            got,
            behaviour,
            handle,
        }
    }

    pub fn set(&self, b: Behaviour) {
        *self.behaviour.lock().unwrap() = b;
    }

    pub fn all(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }

    /// Notification items (not validations) posted to `path`.
    pub fn items(&self, path: &str) -> Vec<Value> {
        self.all()
            .into_iter()
            .filter(|r| r.path == path && r.validation.is_none())
            .flat_map(|r| r.body["value"].as_array().cloned().unwrap_or_default())
            .collect()
    }

    pub fn posts(&self, path: &str) -> Vec<Received> {
        self.all()
            .into_iter()
            .filter(|r| r.path == path && r.validation.is_none())
            .collect()
    }

    pub fn validations(&self) -> Vec<Received> {
        self.all().into_iter().filter(|r| r.validation.is_some()).collect()
    }

    /// Wait (real time) until `f` holds.
    pub async fn wait_for(&self, what: &str, f: impl Fn(&Receiver) -> bool) {
        for _ in 0..300 {
            if f(self) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("timed out waiting for {what}; got {:#?}", self.all());
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
}

type RecvData = web::Data<(Arc<Mutex<Vec<Received>>>, Arc<Mutex<Behaviour>>)>;

async fn receive(req: HttpRequest, body: web::Bytes, data: RecvData) -> HttpResponse {
    let b = data.1.lock().unwrap().clone();
    let raw_q = req.query_string().to_string();
    let validation = url::form_urlencoded::parse(raw_q.as_bytes())
        .find(|(k, _)| k == "validationToken")
        .map(|(_, v)| v.into_owned());
    let encoded = raw_q
        .split('&')
        .find_map(|p| p.strip_prefix("validationToken="))
        .unwrap_or("")
        .to_string();
    data.0.lock().unwrap().push(Received {
        path: req.path().to_string(),
        query: raw_q.clone(),
        content_type: req
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string(),
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        validation: validation.clone(),
    });
    if b.delay_ms > 0 {
        tokio::time::sleep(Duration::from_millis(b.delay_ms)).await;
    }
    if let Some(tok) = validation {
        if !b.echo {
            return HttpResponse::BadRequest().finish();
        }
        let text = if b.echo_encoded { encoded } else { tok };
        return HttpResponse::Ok().content_type("text/plain; charset=utf-8").body(text);
    }
    HttpResponse::build(actix_web::http::StatusCode::from_u16(b.status).unwrap()).finish()
}
