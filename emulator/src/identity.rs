//! The Microsoft identity platform: the client-credentials token endpoint and the admin
//! consent endpoints (v1 `/{tenant}/adminconsent` and v2 `/{tenant}/v2.0/adminconsent`).

use base64::Engine;
use serde_json::{Value, json};

use crate::error::aadsts;
use crate::http::{Req, Resp};
use crate::model::Token;
use crate::shared::Shared;
use crate::wire;

fn form(req: &Req) -> Vec<(String, String)> {
    Req::parse_query(&String::from_utf8_lossy(&req.body))
}

fn err(shared: &Shared, status: u16, error: &str, code: u32, desc: &str) -> Resp {
    Resp::json(status, aadsts(error, code, desc, shared.now()))
}

/// Issue a token (also used by the library API for benchmarks).
pub fn issue(shared: &Shared, tenant_id: &str, client_id: &str) -> (String, i64) {
    let now = shared.now();
    let life = shared.cfg.token_lifetime_secs;
    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let header = json!({"typ": "JWT", "alg": "RS256", "kid": "emulator"});
    let claims = json!({
        "aud": "https://graph.microsoft.com",
        "iss": format!("https://sts.windows.net/{tenant_id}/"),
        "iat": now.timestamp(), "nbf": now.timestamp(), "exp": now.timestamp() + life,
        "appid": client_id, "tid": tenant_id, "idtyp": "app", "ver": "1.0",
        "jti": uuid::Uuid::new_v4().to_string(),
    });
    let sig: [u8; 32] = rand::random();
    let token = format!(
        "{}.{}.{}",
        b64(&header),
        b64(&claims),
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sig)
    );
    shared.state().tokens.insert(
        token.clone(),
        Token {
            tenant_id: tenant_id.to_string(),
            client_id: client_id.to_ascii_lowercase(),
            expires: now + chrono::Duration::seconds(life),
        },
    );
    (token, life)
}

/// `POST /{tenant}/oauth2/v2.0/token`.
pub fn token(shared: &Shared, req: &Req, tenant: &str) -> Resp {
    if req.method != "POST" {
        return err(
            shared,
            405,
            "invalid_request",
            900561,
            "The endpoint only accepts POST requests.",
        );
    }
    let ct = req.header("content-type").unwrap_or("").to_ascii_lowercase();
    if !ct.starts_with("application/x-www-form-urlencoded") {
        return err(
            shared,
            400,
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'grant_type'.",
        );
    }
    let f = form(req);
    let get = |k: &str| f.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let (mut client_id, mut secret) = (get("client_id"), get("client_secret"));
    if let Some(basic) = req
        .header("authorization")
        .and_then(|a| a.strip_prefix("Basic ").or_else(|| a.strip_prefix("basic ")))
        && let Ok(dec) = base64::engine::general_purpose::STANDARD.decode(basic.trim())
        && let Some((id, s)) = String::from_utf8_lossy(&dec).split_once(':')
    {
        client_id = Some(
            url::form_urlencoded::parse(id.as_bytes())
                .map(|(k, _)| k.into_owned())
                .next()
                .unwrap_or_default(),
        );
        secret = Some(
            url::form_urlencoded::parse(s.as_bytes())
                .map(|(k, _)| k.into_owned())
                .next()
                .unwrap_or_default(),
        );
    }
    let st = shared.state();
    let Some(t) = st.tenant(tenant) else {
        return err(
            shared,
            400,
            "invalid_request",
            90002,
            &format!(
                "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."
            ),
        );
    };
    let tenant_id = t.id.clone();
    match get("grant_type").as_deref() {
        Some("client_credentials") => {}
        None => {
            return err(
                shared,
                400,
                "invalid_request",
                900144,
                "The request body must contain the following parameter: 'grant_type'.",
            );
        }
        Some(other) => {
            return err(
                shared,
                400,
                "unsupported_grant_type",
                70003,
                &format!("The app requested an unsupported grant type '{other}'."),
            );
        }
    }
    let Some(client_id) = client_id else {
        return err(
            shared,
            400,
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'client_id'.",
        );
    };
    let Some(app) = t.apps.iter().find(|a| a.client_id == client_id.to_ascii_lowercase()) else {
        return err(
            shared,
            400,
            "unauthorized_client",
            700016,
            &format!(
                "Application with identifier '{client_id}' was not found in the directory '{}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.",
                t.domain
            ),
        );
    };
    let scope = get("scope").unwrap_or_default();
    if scope.is_empty() {
        return err(
            shared,
            400,
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'scope'.",
        );
    }
    let scope_ok = scope.split(' ').all(|s| {
        s.eq_ignore_ascii_case("https://graph.microsoft.com/.default")
            || s.eq_ignore_ascii_case("00000003-0000-0000-c000-000000000000/.default")
    });
    if !scope_ok {
        return err(
            shared,
            400,
            "invalid_scope",
            1002012,
            &format!(
                "The provided value for scope {scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)."
            ),
        );
    }
    let Some(secret) = secret.filter(|s| !s.is_empty()) else {
        return err(
            shared,
            401,
            "invalid_client",
            7000218,
            "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
        );
    };
    if secret != app.client_secret {
        return err(
            shared,
            401,
            "invalid_client",
            7000215,
            &format!(
                "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{client_id}'."
            ),
        );
    }
    if !app.consented {
        return err(
            shared,
            400,
            "unauthorized_client",
            700016,
            &format!(
                "Application with identifier '{client_id}' was not found in the directory '{}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant.",
                t.domain
            ),
        );
    }
    let client = app.client_id.clone();
    drop(st);
    let (tok, life) = issue(shared, &tenant_id, &client);
    Resp::json(
        200,
        json!({"token_type": "Bearer", "expires_in": life, "ext_expires_in": life, "access_token": tok}),
    )
    .with_header("Cache-Control", "no-store, no-cache")
}

fn page(title: &str, text: &str) -> String {
    format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{t}</title></head><body><h1>{t}</h1><p>{x}</p></body></html>",
        t = wire::html_escape(title),
        x = wire::html_escape(text)
    )
}

fn with_params(redirect: &str, params: &[(&str, &str)]) -> String {
    let mut s = redirect.to_string();
    for (k, v) in params {
        s.push(if s.contains('?') { '&' } else { '?' });
        s.push_str(k);
        s.push('=');
        s.push_str(&wire::qenc(v));
    }
    s
}

/// `GET /{tenant}/adminconsent`, `/{tenant}/v2.0/adminconsent` and the manual page's
/// `/{tenant}/adminconsent/decide?decision=approve|deny`.
pub fn admin_consent(shared: &Shared, req: &Req, tenant: &str, v2: bool, decision: Option<&str>) -> Resp {
    let client_id = req.q("client_id").unwrap_or("").to_ascii_lowercase();
    let redirect = req.q("redirect_uri").unwrap_or("").to_string();
    let state = req.q("state").unwrap_or("").to_string();
    let scope = req.q("scope").unwrap_or("").to_string();
    let mut st = shared.state();
    let generic = ["common", "organizations"].contains(&tenant.to_ascii_lowercase().as_str());
    let tenant_idx = if generic {
        st.tenants
            .iter()
            .position(|t| t.apps.iter().any(|a| a.client_id == client_id))
    } else {
        st.tenants
            .iter()
            .position(|t| t.id == tenant.to_ascii_lowercase() || t.domain == tenant.to_ascii_lowercase())
    };
    let Some(ti) = tenant_idx else {
        return Resp::html(
            400,
            page("Sign in", &format!("AADSTS90002: Tenant '{tenant}' not found.")),
        );
    };
    if v2 && tenant.eq_ignore_ascii_case("common") {
        return Resp::html(
            400,
            page(
                "Sign in",
                "AADSTS90130: The /common endpoint is not supported for admin consent on the v2.0 endpoint. Use a tenant or /organizations.",
            ),
        );
    }
    let tenant_id = st.tenants[ti].id.clone();
    let Some(ai) = st.tenants[ti].apps.iter().position(|a| a.client_id == client_id) else {
        return Resp::html(
            400,
            page(
                "Sign in",
                &format!("AADSTS700016: Application with identifier '{client_id}' was not found in the directory."),
            ),
        );
    };
    if redirect.is_empty() {
        return Resp::html(
            400,
            page(
                "Sign in",
                "AADSTS900144: The request body must contain the following parameter: 'redirect_uri'.",
            ),
        );
    }
    let app = &st.tenants[ti].apps[ai];
    if !app.redirect_uris.is_empty() && !app.redirect_uris.contains(&redirect) {
        return Resp::html(
            400,
            page(
                "Sign in",
                &format!(
                    "AADSTS50011: The redirect URI '{redirect}' specified in the request does not match the redirect URIs configured for the application '{client_id}'."
                ),
            ),
        );
    }
    if v2 && scope.is_empty() {
        return Resp::html(
            400,
            page(
                "Sign in",
                "AADSTS900144: The request body must contain the following parameter: 'scope'.",
            ),
        );
    }
    let mode = app.consent;
    let decided = match decision {
        Some(d) => Some(d == "approve"),
        None => match mode {
            crate::seed::ConsentMode::Auto => Some(true),
            crate::seed::ConsentMode::Deny => Some(false),
            crate::seed::ConsentMode::Manual => None,
        },
    };
    match decided {
        Some(true) => {
            st.tenants[ti].apps[ai].consented = true;
            let mut p = vec![("admin_consent", "True"), ("tenant", tenant_id.as_str())];
            if v2 {
                p.push(("scope", scope.as_str()));
            }
            p.push(("state", state.as_str()));
            Resp::redirect(&with_params(&redirect, &p))
        }
        Some(false) => {
            let loc = if v2 {
                with_params(
                    &redirect,
                    &[
                        ("admin_consent", "True"),
                        ("error", "consent_required"),
                        (
                            "error_description",
                            "AADSTS65004: User declined to consent to access the app.",
                        ),
                        ("state", &state),
                    ],
                )
            } else {
                with_params(
                    &redirect,
                    &[
                        ("error", "permission_denied"),
                        ("error_description", "The admin canceled the request"),
                        ("state", &state),
                    ],
                )
            };
            Resp::redirect(&loc)
        }
        None => {
            let name = app.display_name.clone();
            let q = &req.raw_query;
            let approve = format!("/{tenant}/adminconsent/decide?{q}&decision=approve&v2={v2}");
            let deny = format!("/{tenant}/adminconsent/decide?{q}&decision=deny&v2={v2}");
            Resp::html(
                200,
                format!(
                    "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>Permissions requested</title></head><body>\
<h1>Permissions requested</h1><p>{} wants application permissions in your organization.</p>\
<a id=\"approve\" href=\"{}\">Approve</a> <a id=\"deny\" href=\"{}\">Deny</a></body></html>",
                    wire::html_escape(&name),
                    wire::html_escape(&approve),
                    wire::html_escape(&deny)
                ),
            )
        }
    }
}
