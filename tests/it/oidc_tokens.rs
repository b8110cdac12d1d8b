//! Bad ID tokens end to end: a token-rewriting proxy sits between Terrane and the real
//! provider. It forwards the code exchange to the provider, then re-signs the ID token with a
//! key this test controls after changing one thing (issuer, audience, expiry, nonce, algorithm
//! or signing key). Terrane must refuse each one and create no session.

use crate::helpers::send_get;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use sqlx::PgPool;
use tokio::net::TcpListener;

use crate::helpers::audit_count;
use crate::helpers::{cookie_client, demo_dataset, seed_demo};
use crate::oidc::{Provider, walk_to_callback};

/// What the proxy does to the ID token.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Tamper {
    None,
    Issuer,
    Audience,
    Expired,
    Nonce,
    AlgNone,
    RogueKey,
    Hs256WithPublicKey,
}

struct TestKey {
    pem: String,
    jwk: Value,
}

/// A fresh RSA key pair from node's crypto (node is already needed for the provider).
fn rsa_key() -> TestKey {
    let out = std::process::Command::new("node")
        .args([
            "-e",
            "const c=require('crypto');const k=c.generateKeyPairSync('rsa',{modulusLength:2048});\
             process.stdout.write(JSON.stringify({pem:k.privateKey.export({type:'pkcs8',format:'pem'}),\
             jwk:k.publicKey.export({format:'jwk'})}))",
        ])
        .output()
        .expect("node runs");
    let v: Value = serde_json::from_slice(&out.stdout).expect("key JSON");
    let mut jwk = v["jwk"].clone();
    jwk["kid"] = json!("test-1");
    jwk["alg"] = json!("RS256");
    jwk["use"] = json!("sig");
    TestKey {
        pem: v["pem"].as_str().expect("pem").to_owned(),
        jwk,
    }
}

struct Proxy {
    real_token_endpoint: String,
    real_authorization_endpoint: String,
    issuer: String,
    published: TestKey,
    rogue: TestKey,
    tamper: Mutex<Tamper>,
    http: reqwest::Client,
}

async fn discovery(State(p): State<Arc<Proxy>>) -> Json<Value> {
    Json(json!({
        "issuer": p.issuer,
        "authorization_endpoint": p.real_authorization_endpoint,
        "token_endpoint": format!("{}/token", p.issuer),
        "jwks_uri": format!("{}/jwks", p.issuer),
    }))
}

async fn jwks(State(p): State<Arc<Proxy>>) -> Json<Value> {
    Json(json!({ "keys": [p.published.jwk] }))
}

async fn token(State(p): State<Arc<Proxy>>, headers: HeaderMap, body: String) -> impl IntoResponse {
    let mut req = p.http.post(&p.real_token_endpoint).body(body);
    for name in ["authorization", "content-type", "accept"] {
        if let Some(v) = headers.get(name) {
            req = req.header(name, v.clone());
        }
    }
    let resp = req.send().await.expect("real token endpoint answers");
    let status = resp.status();
    let mut answer: Value = resp.json().await.expect("token JSON");
    if status.is_success() {
        let id_token = answer["id_token"].as_str().expect("id_token").to_owned();
        let tamper = *p.tamper.lock().expect("lock");
        answer["id_token"] = json!(resign(&p, &id_token, tamper));
    }
    (
        StatusCode::from_u16(status.as_u16()).expect("status"),
        Json(answer),
    )
}

/// The provider's claims, re-issued by the proxy's issuer with one thing changed.
fn resign(p: &Proxy, original: &str, tamper: Tamper) -> String {
    let payload = original.split('.').nth(1).expect("payload segment");
    let mut claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64url"))
            .expect("claims");
    claims["iss"] = json!(p.issuer);
    let now = chrono::Utc::now().timestamp();
    match tamper {
        Tamper::Issuer => claims["iss"] = json!("http://127.0.0.1:1/someone-else"),
        Tamper::Audience => claims["aud"] = json!("another-client"),
        Tamper::Expired => {
            claims["exp"] = json!(now - 3600);
            claims["iat"] = json!(now - 7200);
        }
        Tamper::Nonce => claims["nonce"] = json!("not-the-nonce-we-sent"),
        _ => {}
    }
    match tamper {
        Tamper::AlgNone => {
            let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
            let body = URL_SAFE_NO_PAD.encode(claims.to_string());
            format!("{header}.{body}.")
        }
        Tamper::Hs256WithPublicKey => {
            let mut header = Header::new(Algorithm::HS256);
            header.kid = Some("test-1".into());
            let secret = p.published.jwk["n"]
                .as_str()
                .expect("n")
                .as_bytes()
                .to_vec();
            jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(&secret))
                .expect("sign")
        }
        _ => {
            let key = if tamper == Tamper::RogueKey {
                &p.rogue
            } else {
                &p.published
            };
            let mut header = Header::new(Algorithm::RS256);
            header.kid = Some("test-1".into());
            let enc = EncodingKey::from_rsa_pem(key.pem.as_bytes()).expect("pem");
            jsonwebtoken::encode(&header, &claims, &enc).expect("sign")
        }
    }
}

#[sqlx::test]
async fn id_tokens_with_a_wrong_issuer_audience_expiry_nonce_algorithm_or_key_are_refused(
    pool: PgPool,
) {
    seed_demo(&pool).await;
    let app_listener = TcpListener::bind("127.0.0.1:0").await.expect("bind app");
    let public = format!("http://{}", app_listener.local_addr().expect("addr"));
    let provider = Provider::start(&format!("{public}/auth/callback")).await;
    let real: Value = reqwest::get(format!(
        "{}/.well-known/openid-configuration",
        provider.issuer
    ))
    .await
    .expect("discovery")
    .json()
    .await
    .expect("json");

    let proxy_listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
    let proxy = Arc::new(Proxy {
        real_token_endpoint: real["token_endpoint"].as_str().expect("token").to_owned(),
        real_authorization_endpoint: real["authorization_endpoint"]
            .as_str()
            .expect("auth")
            .to_owned(),
        issuer: format!("http://{}", proxy_listener.local_addr().expect("addr")),
        published: rsa_key(),
        rogue: rsa_key(),
        tamper: Mutex::new(Tamper::None),
        http: reqwest::Client::new(),
    });
    let router = Router::new()
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/jwks", get(jwks))
        .route("/token", post(token))
        .with_state(proxy.clone());
    tokio::spawn(async move { axum::serve(proxy_listener, router).await });

    let app = crate::oidc::spawn_oidc_app(app_listener, pool.clone(), &public, &proxy.issuer).await;
    let email = &demo_dataset().reps[0].email;

    // The untampered case first: proves the proxy path itself signs people in.
    let cases = [
        (Tamper::None, 303),
        (Tamper::Issuer, 400),
        (Tamper::Audience, 400),
        (Tamper::Expired, 400),
        (Tamper::Nonce, 400),
        (Tamper::AlgNone, 400),
        (Tamper::RogueKey, 400),
        (Tamper::Hs256WithPublicKey, 400),
    ];
    for (tamper, expected) in cases {
        *proxy.tamper.lock().expect("lock") = tamper;
        let client = cookie_client();
        let callback = walk_to_callback(
            &client,
            &app,
            app.url(&format!("/auth/login?login_hint={email}")),
        )
        .await;
        // The real provider names itself in `iss`; the proxy is the issuer Terrane knows.
        let mut url = reqwest::Url::parse(&callback).expect("url");
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, v)| {
                let v = if k == "iss" {
                    proxy.issuer.clone()
                } else {
                    v.into_owned()
                };
                (k.into_owned(), v)
            })
            .collect();
        url.query_pairs_mut().clear().extend_pairs(pairs);

        let resp = client.get(url.as_str()).send().await.expect("callback");

        assert_eq!(resp.status().as_u16(), expected, "{tamper:?}");
        let api = send_get(&client, &app, "/api/accounts")
            .await
            .status()
            .as_u16();
        assert_eq!(
            api,
            if expected == 303 { 200 } else { 401 },
            "{tamper:?}: session only for a good token"
        );
    }
    let sign_ins = audit_count(&pool, "auth.sign_in").await;
    assert_eq!(sign_ins, 1, "only the untampered token signed anyone in");
}
