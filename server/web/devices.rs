//! Device tokens (issued from the signed-in session) and the authenticated WebSocket that
//! reps' devices keep open: each text frame is a ping, answered after its commit
//! (`live::socket`); revoked or expired, the socket closes.

use std::collections::HashMap;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::sync::broadcast;
use uuid::Uuid;

use crate::app::AppState;
use crate::auth::devices::{self, Device};
use crate::auth::{self, Role};
use crate::error::{AppError, error_response};
use crate::live::hub::{Frame, Subscription};
use crate::live::socket;
use crate::web::extract::Query;
use crate::web::guard::{self, CsrfHeader, SignedIn};
use crate::web::openapi::WriteErrors;

/// Reps' device tokens and the live location socket.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/device-token", post(issue))
        .route("/api/device-tokens/revoke", post(revoke_mine))
        .route("/live/ws", get(socket))
}

/// Close code when the device token was revoked (application range 4000-4999).
pub const CLOSE_REVOKED: u16 = 4001;
/// Close code when the device token expired; the device renews it and reconnects.
pub const CLOSE_EXPIRED: u16 = 4002;

/// `POST /api/device-token`: a rep's device gets (or renews) a 15-minute token.
#[utoipa::path(
    post,
    path = "/api/device-token",
    tag = "devices",
    summary = "A 15-minute device token for the signed-in rep's phone",
    responses((status = 201, description = "the token (shown once)", body = DeviceToken), WriteErrors),
    security(("session" = [], "csrf" = []))
)]
pub async fn issue(
    SignedIn(user): SignedIn,
    _: CsrfHeader,
    State(state): State<AppState>,
) -> Result<Response, AppError> {
    if user.role != Some(Role::Rep) {
        return Err(AppError::forbidden(
            "forbidden",
            "only reps stream their location",
        ));
    }
    let (token, expires_at) = devices::issue(&state.db, user.id).await?;
    let body = DeviceToken {
        token,
        expires_at,
        ttl_s: devices::DEVICE_TOKEN_TTL.as_secs(),
    };
    let mut resp = (StatusCode::CREATED, Json(body)).into_response();
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    Ok(resp)
}

/// `POST /api/device-tokens/revoke`: revokes all of the caller's device tokens; open sockets close.
#[utoipa::path(
    post,
    path = "/api/device-tokens/revoke",
    tag = "devices",
    summary = "Revoke the caller's device tokens; their sockets close",
    responses((status = 200, description = "how many were revoked", body = Revoked), WriteErrors),
    security(("session" = [], "csrf" = []))
)]
pub async fn revoke_mine(
    SignedIn(user): SignedIn,
    _: CsrfHeader,
    State(state): State<AppState>,
) -> Result<Response, AppError> {
    let n = devices::revoke_all(&state.db, &state.revocations, user.id, user.id).await?;
    Ok(Json(Revoked { revoked: n }).into_response())
}

/// A new device token: shown once, sent as `Authorization: Bearer` on `/live/ws`.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct DeviceToken {
    /// `trd_…`
    pub token: String,
    pub expires_at: chrono::DateTime<chrono::Utc>,
    /// Seconds the token lives (renew before it ends by calling again).
    pub ttl_s: u64,
}

/// How many device tokens were revoked.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Revoked {
    pub revoked: u64,
}

/// `GET /live/ws`: the device's socket, authenticated by `Authorization: Bearer trd_…`
/// (or `?token=` for browsers, which cannot set headers on WebSockets).
pub async fn socket(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, AppError> {
    // Not a WebSocket handshake: say so in our JSON error body.
    let upgrade = upgrade.map_err(|r| AppError::rejected(r.status(), r.body_text()))?;
    // A browser page on another site must not use a token it holds (cross-site hijacking).
    guard::same_origin(&headers, &state.config.public_url)?;
    let presented = guard::bearer_token(&headers)
        .or_else(|| query.get("token").map(|t| t.trim()))
        .unwrap_or_default();
    // Subscribe before checking, so a revocation racing the handshake is not missed.
    let revoked = state.revocations.subscribe();
    let Some(device) = devices::verify(&state.db, presented).await? else {
        return Ok(error_response(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "a valid device token is required",
        ));
    };
    let rep = auth::db::user_by_id(&state.db, device.user_id)
        .await?
        .filter(|u| matches!(u.role, Some(Role::Rep)))
        .and_then(|u| u.rep_id);
    tracing::info!(user_id = %device.user_id, "device socket opened");
    Ok(upgrade
        .read_buffer_size(socket::READ_BUFFER_BYTES)
        .write_buffer_size(socket::WRITE_BUFFER_BYTES)
        .max_write_buffer_size(socket::MAX_WRITE_BUFFER_BYTES)
        .max_message_size(socket::MAX_MESSAGE_BYTES)
        .max_frame_size(socket::MAX_FRAME_BYTES)
        .on_upgrade(move |ws| hold(ws, state, device, rep, revoked)))
}

/// Serves the socket until it ends. One frame at a time: the next is read only once the
/// answer to the last went out, so at most one answer per socket waits in memory; the rep's
/// alerts wait in the hub's small queue for this socket (`live::hub`).
async fn hold(
    mut ws: WebSocket,
    state: AppState,
    device: Device,
    rep: Option<Uuid>,
    mut revoked: broadcast::Receiver<Uuid>,
) {
    let until_expiry = (device.expires_at - chrono::Utc::now())
        .to_std()
        .unwrap_or_default();
    let expiry = tokio::time::sleep(until_expiry);
    tokio::pin!(expiry);
    let mut pushed = rep.map(|r| state.live.hub.rep(r));
    let close = loop {
        tokio::select! {
            msg = ws.recv() => match msg {
                Some(Ok(Message::Close(_)) | Err(_)) | None => break None,
                Some(Ok(Message::Text(text))) => {
                    let reply = socket::answer(&state.live, rep, &text).await;
                    if !send(&mut ws, &reply).await {
                        break None;
                    }
                }
                Some(Ok(Message::Binary(_))) => {
                    if !send(&mut ws, &socket::binary_frame()).await {
                        break None;
                    }
                }
                // Pings and pongs are answered by the library.
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
            },
            r = revoked.recv() => match r {
                Ok(user) if user == device.user_id => break Some((CLOSE_REVOKED, "device token revoked")),
                Ok(_) => {}
                // Missed announcements: assume the worst and make the device re-authenticate.
                Err(broadcast::error::RecvError::Lagged(_) | broadcast::error::RecvError::Closed) => {
                    break Some((CLOSE_REVOKED, "re-authenticate"));
                }
            },
            () = &mut expiry => break Some((CLOSE_EXPIRED, "device token expired")),
            Some(frame) = next_pushed(pushed.as_mut()) => {
                if !send_text(&mut ws, &frame).await {
                    break None;
                }
            }
        }
    };
    if let Some((code, reason)) = close {
        let _ = ws
            .send(Message::Close(Some(CloseFrame {
                code,
                reason: reason.into(),
            })))
            .await;
    }
    tracing::info!(user_id = %device.user_id, "device socket closed");
}

/// The next frame pushed to this socket (never, for a socket that gets none).
async fn next_pushed(sub: Option<&mut Subscription>) -> Option<Frame> {
    match sub {
        Some(sub) => sub.rx.recv().await,
        None => std::future::pending().await,
    }
}

/// Sends `reply`; false when the phone does not take it in time (the socket then ends).
async fn send(ws: &mut WebSocket, reply: &socket::Reply) -> bool {
    send_text(ws, &reply.to_text()).await
}

/// Sends a text frame; false when the phone does not take it in time.
pub(super) async fn send_text(ws: &mut WebSocket, text: &str) -> bool {
    let frame = Message::Text(text.into());
    matches!(
        tokio::time::timeout(socket::SEND_TIMEOUT, ws.send(frame)).await,
        Ok(Ok(()))
    )
}
