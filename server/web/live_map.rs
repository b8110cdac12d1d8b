//! The manager's live map of a team: `GET /api/teams/{team}/live` (a snapshot) and the
//! socket `/live/team/ws?team=…` (a snapshot frame, then positions and alerts as they are
//! stored on any instance). Positions are snapped to about 150 m unless the viewer may see
//! precise ones; each precise look is audited (`docs/live.md`, "The live map").

use askama::Template;
use askama_web::WebTemplate;
use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;
use serde::Deserialize;
use uuid::Uuid;

use crate::app::AppState;
use crate::auth;
use crate::error::AppError;
use crate::live::hub::Subscription;
use crate::live::map::{self, TeamMap};
use crate::live::socket;
use crate::territory::teams;
use crate::web::extract::Query;
use crate::web::guard::{self, Planner, SignedIn, TeamPlanner};
use crate::web::openapi::ReadErrors;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/live", get(live_page))
        .route("/api/teams/{team}/live", get(team_live))
        .route("/live/team/ws", get(team_socket))
}

#[derive(Template, WebTemplate)]
#[template(path = "live.html")]
struct LivePage {
    title: String,
    style_url: Option<String>,
    teams: Vec<(String, String)>,
}

/// The live map page: a team's reps, their alerts and spoofing flags, updating live.
async fn live_page(
    SignedIn(user): SignedIn,
    State(state): State<AppState>,
) -> Result<LivePage, AppError> {
    let planner = Planner::of(user)?;
    let teams = teams::for_user(&state.db, &planner.0)
        .await?
        .into_iter()
        .map(|t| (t.id.to_string(), t.name))
        .collect();
    Ok(LivePage {
        title: "Live map".into(),
        style_url: state.config.map_style_url.clone(),
        teams,
    })
}

/// `GET /api/teams/{team}/live`: the team's positions, recent alerts and spoofing flags.
#[utoipa::path(
    get,
    path = "/api/teams/{team}/live",
    tag = "live",
    summary = "A team's live map: positions, recent alerts, spoofing flags",
    params(("team" = Uuid, Path, description = "the team")),
    responses((status = 200, description = "the picture now", body = TeamMap), ReadErrors),
    security(("session" = []))
)]
pub async fn team_live(
    planner: TeamPlanner,
    State(state): State<AppState>,
) -> Result<Json<TeamMap>, AppError> {
    Ok(Json(
        map::team_map(&state.db, &planner.user, planner.team_id).await?,
    ))
}

#[derive(Deserialize)]
pub struct TeamQuery {
    team: Uuid,
}

/// `GET /live/team/ws?team=…`: the team's live map as a socket (signed-in managers of the
/// team and admins; a page on another site is refused).
pub async fn team_socket(
    SignedIn(user): SignedIn,
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<TeamQuery>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, AppError> {
    guard::same_origin(&headers, &state.config.public_url)?;
    let planner = Planner::of(user)?;
    planner.check_team(&state, query.team).await?;
    // Checked after who may watch: a refused caller learns nothing of the socket.
    let upgrade = upgrade.map_err(|r| AppError::rejected(r.status(), r.body_text()))?;
    let precise = auth::may_see_precise(&state.db, &planner.0).await?;
    // Subscribe before the snapshot, so nothing stored in between is missed.
    let sub = state.live.hub.team(query.team, precise);
    let snapshot = map::team_map(&state.db, &planner.0, query.team).await?;
    let first = serde_json::to_string(&serde_json::json!({ "type": "snapshot", "map": snapshot }))
        .unwrap_or_default();
    Ok(upgrade
        .read_buffer_size(socket::READ_BUFFER_BYTES)
        .write_buffer_size(socket::WRITE_BUFFER_BYTES)
        .max_write_buffer_size(socket::MAX_WRITE_BUFFER_BYTES)
        .max_message_size(socket::MAX_MESSAGE_BYTES)
        .max_frame_size(socket::MAX_FRAME_BYTES)
        .on_upgrade(move |ws| watch(ws, first, sub)))
}

/// Sends the snapshot, then every frame for the team, until either side ends.
async fn watch(mut ws: WebSocket, first: String, mut sub: Subscription) {
    if !super::devices::send_text(&mut ws, &first).await {
        return;
    }
    loop {
        tokio::select! {
            msg = ws.recv() => match msg {
                Some(Ok(Message::Close(_)) | Err(_)) | None => return,
                // The map sends nothing that matters; pings are answered by the library.
                Some(Ok(_)) => {}
            },
            frame = sub.rx.recv() => match frame {
                Some(frame) => {
                    if !super::devices::send_text(&mut ws, &frame).await {
                        return;
                    }
                }
                None => return,
            },
        }
    }
}
