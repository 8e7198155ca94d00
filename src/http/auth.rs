//! Bearer authentication of the admin API: the configured admin token,
//! compared in constant time (as hashes, so length leaks nothing either).

use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpRequest, web};

use super::error::ApiError;
use crate::node::NodeState;

/// Present in a handler's arguments: the request carried the admin token.
pub struct Admin;

pub fn bearer(req: &HttpRequest) -> Option<&str> {
    let value = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

pub fn same_secret(given: &str, expected: &str) -> bool {
    blake3::hash(given.as_bytes()) == blake3::hash(expected.as_bytes())
}

impl FromRequest for Admin {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let Some(node) = req.app_data::<web::Data<NodeState>>() else {
            return ready(Err(ApiError::internal("node state missing")));
        };
        ready(match bearer(req) {
            Some(t) if same_secret(t, node.config.admin_token.expose()) => Ok(Admin),
            _ => {
                metrics::counter!("hcal_admin_unauthorized_total").increment(1);
                Err(ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "unauthorized",
                    "a valid admin bearer token is required",
                ))
            }
        })
    }
}
