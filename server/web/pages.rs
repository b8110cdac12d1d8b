//! Server-rendered pages (askama templates in `templates/`).

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::State;
use axum::routing::get;

use tower_sessions::Session;

use crate::app::AppState;
use crate::auth::csrf;
use crate::error::AppError;
use crate::web::guard::SignedIn;

/// The home page.
pub fn router() -> Router<AppState> {
    Router::new().route("/", get(index))
}

#[derive(Template, WebTemplate)]
#[template(path = "index.html")]
pub struct IndexPage {
    pub title: String,
    pub style_url: Option<String>,
    pub accounts_url: String,
    pub user_name: String,
    /// `admin`, `manager` or `rep`.
    pub role: String,
    pub csrf: String,
}

/// The account map, showing what the signed-in user may see.
pub async fn index(
    SignedIn(user): SignedIn,
    State(state): State<AppState>,
    session: Session,
) -> Result<IndexPage, AppError> {
    let csrf = csrf::token(&session).await?;
    Ok(IndexPage {
        title: "Terrane".to_owned(),
        style_url: state.config.map_style_url.clone(),
        accounts_url: "/api/accounts".to_owned(),
        user_name: if user.name.is_empty() {
            user.email.clone()
        } else {
            user.name.clone()
        },
        role: user.role.map(|r| r.as_str().to_owned()).unwrap_or_default(),
        csrf,
    })
}
