//! Measure change notifications delivered per second to one webhook endpoint:
//! `cargo run --release -p hcal-emulator --example bench_notify [-- N]`.
//! Prints one JSON line in hcal-bench's format.

use actix_web::{App, HttpResponse, HttpServer, web};
use hcal_emulator::seed::EXAMPLE_CLIENT;
use hcal_emulator::{EmulatorConfig, EmulatorHandle, Seed};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: usize = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(20_000);
    let got = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = std::sync::mpsc::channel();
    let g2 = got.clone();
    std::thread::spawn(move || {
        actix_rt::System::new().block_on(async move {
            let server = HttpServer::new(move || {
                let g = g2.clone();
                App::new().default_service(web::to(move |req: actix_web::HttpRequest, body: web::Bytes| {
                    let g = g.clone();
                    async move {
                        if let Some(tok) = req.query_string().strip_prefix("validationToken=") {
                            let tok: String = url::form_urlencoded::parse(format!("t={tok}").as_bytes())
                                .map(|(_, v)| v.into_owned())
                                .next()
                                .unwrap_or_default();
                            return HttpResponse::Ok().content_type("text/plain").body(tok);
                        }
                        let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                        g.fetch_add(v["value"].as_array().map(|a| a.len()).unwrap_or(0), Ordering::Relaxed);
                        HttpResponse::Accepted().finish()
                    }
                }))
            })
            .workers(1)
            .disable_signals()
            .bind("127.0.0.1:0")
            .expect("bind");
            tx.send(server.addrs()[0]).expect("send");
            let _ = server.run().await;
        })
    });
    let hook = rx.recv()?;
    let cfg = EmulatorConfig {
        throttle_requests: u32::MAX,
        notification_batch_wait_ms: 0,
        ..Default::default()
    };
    let emu = EmulatorHandle::spawn_thread(Seed::example(), cfg)?;
    let token = emu.issue_token("contoso.example", EXAMPLE_CLIENT).ok_or("no token")?;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let status = rt.block_on(async {
        reqwest::Client::new()
            .post(format!("{}/subscriptions", emu.graph_url()))
            .bearer_auth(&token)
            .json(&json!({"changeType": "created", "notificationUrl": format!("http://{hook}/n"), "resource": "users/alice@contoso.example/events",
                          "expirationDateTime": (emu.now() + chrono::Duration::hours(1)).to_rfc3339(), "clientState": "bench"}))
            .send()
            .await
            .map(|r| r.status().as_u16())
    })?;
    if status != 201 {
        return Err(format!("subscription: {status}").into());
    }
    let body = json!({"subject": "n", "start": {"dateTime": "2024-05-01T09:00:00", "timeZone": "UTC"}, "end": {"dateTime": "2024-05-01T10:00:00", "timeZone": "UTC"}});
    let bodies = vec![body; n];
    let start = Instant::now();
    emu.create_events_as_user("alice@contoso.example", &bodies)?;
    let deadline = start + Duration::from_secs(120);
    while got.load(Ordering::Relaxed) < n && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(2));
    }
    let delivered = got.load(Ordering::Relaxed);
    let rate = delivered as f64 / start.elapsed().as_secs_f64();
    println!(
        "{}",
        json!({"bench": "emulator", "metric": "notifications_delivered_per_s", "value": (rate * 10.0).round() / 10.0, "unit": "1/s"})
    );
    emu.stop_blocking();
    Ok(())
}
