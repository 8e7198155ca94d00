//! The node's HTTP surfaces: Graph webhooks, the admin API, health and
//! metrics.

pub mod admin;
pub mod auth;
pub mod error;
pub mod health;
pub mod mailboxes;
pub mod webhook;

use std::net::SocketAddr;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::{App, HttpServer, web};

use crate::node::{NodeError, NodeState};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(health::healthz))
        .route("/readyz", web::get().to(health::readyz))
        .route("/metrics", web::get().to(health::metrics))
        .route("/graph/notifications", web::post().to(webhook::notifications))
        .route("/graph/lifecycle", web::post().to(webhook::lifecycle_notifications))
        .service(web::scope("/api/v1").configure(mailboxes::api_routes))
        .service(
            web::scope("/admin/v1")
                .configure(admin::routes)
                .configure(mailboxes::admin_routes),
        );
}

/// Binds `listen` and returns the server (not yet awaited) and the bound address.
pub fn server(node: Arc<NodeState>, listen: SocketAddr) -> Result<(Server, SocketAddr), NodeError> {
    let data = web::Data::from(node.clone());
    let limit = node.config.max_body_bytes;
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .app_data(web::PayloadConfig::new(limit))
            .app_data(error::json_config(limit))
            .wrap(actix_web::middleware::from_fn(health::observe))
            .configure(routes)
    })
    .workers(2)
    .disable_signals()
    .bind(listen)
    .map_err(|e| NodeError::Listen {
        addr: listen,
        reason: e.to_string(),
    })?;
    let addr = server.addrs().first().copied().unwrap_or(listen);
    Ok((server.run(), addr))
}
