//! The identity platform: token endpoint and admin consent.

mod common;
use common::*;
use hcal_emulator::seed::{ConsentMode, EXAMPLE_CLIENT, EXAMPLE_SECRET, EXAMPLE_TENANT};
use hcal_emulator::{EmulatorConfig, Seed};
use serde_json::{Value, json};

async fn token_req(env: &Env, tenant: &str, form: &[(&str, &str)]) -> (u16, Value) {
    let r = env
        .http
        .post(format!("{}/{tenant}/oauth2/v2.0/token", env.emu.base_url()))
        .form(form)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

#[tokio::test]
async fn token_endpoint() {
    let cfg = EmulatorConfig {
        token_lifetime_secs: 600,
        ..manual_clock()
    };
    let env = env_with(Seed::example(), cfg).await;
    let ok = [
        ("client_id", EXAMPLE_CLIENT),
        ("client_secret", EXAMPLE_SECRET),
        ("scope", "https://graph.microsoft.com/.default"),
        ("grant_type", "client_credentials"),
    ];
    // By domain as well as by id.
    let (s, v) = token_req(&env, "contoso.example", &ok).await;
    assert_eq!(s, 200);
    assert_eq!(v["token_type"], "Bearer");
    assert_eq!(v["expires_in"], 600);
    assert_eq!(v["ext_expires_in"], 600);
    // Basic auth.
    let r = env
        .http
        .post(env.emu.token_url(EXAMPLE_TENANT))
        .basic_auth(EXAMPLE_CLIENT, Some(EXAMPLE_SECRET))
        .form(&[
            ("scope", "https://graph.microsoft.com/.default"),
            ("grant_type", "client_credentials"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // Wrong secret: 401 invalid_client AADSTS7000215 with the full error shape.
    let mut bad = ok;
    bad[1] = ("client_secret", "nope");
    let (s, v) = token_req(&env, EXAMPLE_TENANT, &bad).await;
    assert_eq!(s, 401);
    assert_eq!(v["error"], "invalid_client");
    assert_eq!(v["error_codes"], json!([7000215]));
    for k in ["error_description", "timestamp", "trace_id", "correlation_id"] {
        assert!(v[k].is_string(), "{k}");
    }
    let mut bad = ok;
    bad[2] = ("scope", "User.Read");
    assert_eq!(token_req(&env, EXAMPLE_TENANT, &bad).await.1["error"], "invalid_scope");
    let mut bad = ok;
    bad[3] = ("grant_type", "password");
    assert_eq!(
        token_req(&env, EXAMPLE_TENANT, &bad).await.1["error"],
        "unsupported_grant_type"
    );
    let mut bad = ok;
    bad[0] = ("client_id", "11111111-1111-1111-1111-111111111111");
    assert_eq!(
        token_req(&env, EXAMPLE_TENANT, &bad).await.1["error"],
        "unauthorized_client"
    );
    assert_eq!(token_req(&env, "nowhere.example", &ok).await.0, 400);
    // Expiry on the driven clock.
    let r = env.get(&format!("/users/{ALICE}/events")).await;
    assert_eq!(r.status, 200);
    env.advance(601.0).await;
    let r = env.get(&format!("/users/{ALICE}/events")).await;
    assert_eq!(r.status, 401);
    assert_eq!(
        r.body["error"]["message"],
        "Access token has expired or is not yet valid."
    );
}

#[tokio::test]
async fn revoked_consent_refuses_tokens_and_denies_graph() {
    let env = env().await;
    let r = env
        .control(
            "POST",
            &format!("/_emulator/tenants/{EXAMPLE_TENANT}/apps/{EXAMPLE_CLIENT}/consent"),
            json!({"granted": false}),
        )
        .await;
    assert_eq!(r.status, 204);
    let g = env.get(&format!("/users/{ALICE}/events")).await;
    assert_eq!(
        (g.status, g.body["error"]["code"].as_str()),
        (403, Some("ErrorAccessDenied"))
    );
    let ok = [
        ("client_id", EXAMPLE_CLIENT),
        ("client_secret", EXAMPLE_SECRET),
        ("scope", "https://graph.microsoft.com/.default"),
        ("grant_type", "client_credentials"),
    ];
    let (s, v) = token_req(&env, EXAMPLE_TENANT, &ok).await;
    assert_eq!(s, 400);
    assert_eq!(v["error_codes"], json!([700016]));
    // Admin consent grants it again.
    let r = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!("{}/{EXAMPLE_TENANT}/adminconsent", env.emu.base_url()))
        .query(&[
            ("client_id", EXAMPLE_CLIENT),
            ("redirect_uri", "https://hcal.example/setup"),
            ("state", "s1"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    assert_eq!(token_req(&env, EXAMPLE_TENANT, &ok).await.0, 200);
}

#[tokio::test]
async fn admin_consent_modes() {
    let mut seed = Seed::example();
    let mut deny = seed.tenants[0].apps[0].clone();
    deny.client_id = "22222222-2222-4222-8222-222222222222".into();
    deny.consent = ConsentMode::Deny;
    let mut manual = deny.clone();
    manual.client_id = "33333333-3333-4333-8333-333333333333".into();
    manual.consent = ConsentMode::Manual;
    manual.consented = false;
    seed.tenants[0].apps.push(deny.clone());
    seed.tenants[0].apps.push(manual.clone());
    let env = env_with(seed, EmulatorConfig::default()).await;
    let nr = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let base = env.emu.base_url();
    let loc = |r: &reqwest::Response| r.headers().get("location").unwrap().to_str().unwrap().to_string();
    // v1 auto.
    let r = nr
        .get(format!("{base}/contoso.example/adminconsent"))
        .query(&[
            ("client_id", EXAMPLE_CLIENT),
            ("redirect_uri", "https://hcal.example/cb"),
            ("state", "12345"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(
        loc(&r),
        format!("https://hcal.example/cb?admin_consent=True&tenant={EXAMPLE_TENANT}&state=12345")
    );
    // v2 auto carries scope.
    let r = nr
        .get(format!("{base}/organizations/v2.0/adminconsent"))
        .query(&[
            ("client_id", EXAMPLE_CLIENT),
            ("redirect_uri", "https://hcal.example/cb"),
            ("state", "s"),
            ("scope", "https://graph.microsoft.com/.default"),
        ])
        .send()
        .await
        .unwrap();
    let l = loc(&r);
    assert!(
        l.contains("admin_consent=True") && l.contains("scope=https%3A%2F%2Fgraph.microsoft.com%2F.default"),
        "{l}"
    );
    // deny, v1 and v2.
    let r = nr
        .get(format!("{base}/{EXAMPLE_TENANT}/adminconsent"))
        .query(&[
            ("client_id", deny.client_id.as_str()),
            ("redirect_uri", "https://hcal.example/cb"),
            ("state", "s"),
        ])
        .send()
        .await
        .unwrap();
    assert!(loc(&r).contains("error=permission_denied"));
    let r = nr
        .get(format!("{base}/{EXAMPLE_TENANT}/v2.0/adminconsent"))
        .query(&[
            ("client_id", deny.client_id.as_str()),
            ("redirect_uri", "https://hcal.example/cb"),
            ("state", "s"),
            ("scope", "https://graph.microsoft.com/.default"),
        ])
        .send()
        .await
        .unwrap();
    let l = loc(&r);
    assert!(
        l.contains("admin_consent=True") && l.contains("error=consent_required") && l.contains("AADSTS65004"),
        "{l}"
    );
    // manual: a page with Approve / Deny; approving redirects and grants.
    let r = nr
        .get(format!("{base}/{EXAMPLE_TENANT}/adminconsent"))
        .query(&[
            ("client_id", manual.client_id.as_str()),
            ("redirect_uri", "https://hcal.example/cb"),
            ("state", "m"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    let start = html.find("id=\"approve\" href=\"").unwrap() + "id=\"approve\" href=\"".len();
    let href = html[start..].split('"').next().unwrap().replace("&amp;", "&");
    let r = nr.get(format!("{base}{href}")).send().await.unwrap();
    assert_eq!(r.status(), 302);
    assert!(loc(&r).contains("admin_consent=True"));
    let (s, _) = token_req(
        &env,
        EXAMPLE_TENANT,
        &[
            ("client_id", manual.client_id.as_str()),
            ("client_secret", EXAMPLE_SECRET),
            ("scope", "https://graph.microsoft.com/.default"),
            ("grant_type", "client_credentials"),
        ],
    )
    .await;
    assert_eq!(s, 200);
    // Missing redirect_uri: an error page, no redirect.
    let r = nr
        .get(format!("{base}/{EXAMPLE_TENANT}/adminconsent"))
        .query(&[("client_id", EXAMPLE_CLIENT)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}
