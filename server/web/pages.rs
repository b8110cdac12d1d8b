//! Server-rendered pages (askama templates in `templates/`).

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;

use crate::app::AppState;

#[derive(Template, WebTemplate)]
#[template(path = "index.html")]
pub struct IndexPage {
    pub title: String,
    pub style_url: Option<String>,
    pub accounts_url: String,
}

/// The account map.
pub async fn index(State(state): State<AppState>) -> IndexPage {
    IndexPage {
        title: "Terrane".to_owned(),
        style_url: state.config.map_style_url.clone(),
        accounts_url: "/api/accounts".to_owned(),
    }
}
