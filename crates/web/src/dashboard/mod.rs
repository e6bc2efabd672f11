//! The web dashboard at `/`: a page rendered on the server from the latest report and overview (readable with
//! JavaScript off), which `assets/dashboard.js` (our own, embedded at build time like the stylesheet) brings to
//! life: charts of the hit ratio and of misses by cause drawn as SVG with anomaly and deploy lines, the patterns
//! table sorted and filtered, a pattern's detail, a deploy-marker button, all kept current from `/api/events`.
//! Nothing is fetched from another host: the Content-Security-Policy says so to the browser.

mod page;

use axum::extract::State;
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};

use crate::AppState;

const SCRIPT: &str = include_str!("assets/dashboard.js");
const STYLE: &str = include_str!("assets/dashboard.css");

/// Only this origin, for everything the page loads or connects to.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

pub async fn index(State(state): State<AppState>) -> Response {
    let snapshot = crate::latest(&state);
    let overview = cachescope_live::Overview::of(&snapshot);
    let html = page::render(&overview, snapshot.report.as_deref(), state.markers.is_some());
    ([(header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY)], Html(html)).into_response()
}

pub async fn script() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8"), (header::CACHE_CONTROL, "no-cache")], SCRIPT)
}

pub async fn style() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, "no-cache")], STYLE)
}
