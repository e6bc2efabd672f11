//! The HTTP side of the live layer: what a live command serves with `--http`. Every handler reads the latest
//! snapshot the engine's thread published (or subscribes to its changes): none of them can slow the engine.
//!
//! - `GET /`: the dashboard (`dashboard/`), and its script and stylesheet under `/assets/`;
//! - `GET /metrics`: Prometheus text (docs/metrics.md);
//! - `GET /api/report`: the full report, the JSON of `analyze --output json`;
//! - `GET /api/series?pattern=P`: the windows of the whole cache, or of one pattern;
//! - `GET /api/anomalies`: open anomalies, then the recently closed;
//! - `GET /api/overview`: what a dashboard shows at once (`cachescope_live::Overview`: the whole cache's points,
//!   each pattern's totals and last window, anomalies, markers), which `cachescope top` reads;
//! - `GET /api/events`: server-sent events (a window closed, an anomaly opened or closed, the findings changed);
//! - `POST /api/markers` with `{"kind": "deploy", "note": "v1.2.3"}`: a marker in the traffic;
//! - `GET /healthz`.
//!
//! With a token, every endpoint wants `Authorization: Bearer TOKEN`, or the cookie a browser gets by giving the
//! token at `/login` (where `/` sends a browser without it).

mod dashboard;
pub mod metrics;
mod redact;
pub mod webhook;

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use cachescope_core::{Command, Event as CacheEvent, OwnedEvent};
use cachescope_live::{EventSink, LiveEvent, LiveSnapshot, Overview, Point, REPORT_MIN_INTERVAL, ReportRequests};
use futures_util::Stream;
use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, watch};

/// What the handlers read.
#[derive(Clone)]
pub struct AppState {
    pub snapshots: watch::Receiver<Arc<LiveSnapshot>>,
    pub changes: broadcast::Sender<LiveEvent>,
    /// How to ask the engine for a fresh report.
    pub reports: ReportRequests,
    /// Where markers go (the live source's channel): None when the source takes none.
    pub markers: Option<EventSink>,
    /// The bearer token every request must carry, if any.
    pub token: Option<Arc<str>>,
    /// Key names replaced by their pattern in everything served (`--redact-keys`).
    pub redact_keys: bool,
}

impl AppState {
    /// The latest snapshot, its key names replaced by their pattern when asked.
    pub(crate) fn snapshot(&self) -> Arc<LiveSnapshot> {
        let snapshot = self.snapshots.borrow().clone();
        if !self.redact_keys {
            return snapshot;
        }
        let redactor = redact::Redactor::of(snapshot.report.as_deref());
        let mut redacted = (*snapshot).clone();
        redactor.anomalies(&mut redacted.anomalies);
        if let Some(report) = &snapshot.report {
            let mut report = (**report).clone();
            redactor.report(&mut report);
            redacted.report = Some(Arc::new(report));
        }
        Arc::new(redacted)
    }
}

/// The application: every route, and the token check in front of them.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(dashboard::index))
        .route("/assets/dashboard.js", get(dashboard::script))
        .route("/assets/dashboard.css", get(dashboard::style))
        .route("/metrics", get(metrics_text))
        .route("/api/report", get(report))
        .route("/api/series", get(series))
        .route("/api/anomalies", get(anomalies))
        .route("/api/overview", get(overview))
        .route("/api/events", get(events))
        .route("/api/markers", post(marker))
        .route("/healthz", get(health))
        .route("/login", get(login_page).post(login))
        .layer(middleware::from_fn_with_state(state.clone(), require_token))
        // JSON and pages shrink tenfold; server-sent events are left as they are (a stream is never buffered).
        .layer(tower_http::compression::CompressionLayer::new().gzip(true))
        .with_state(state)
}

/// Serves `router(state)` on `listener` until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state)).with_graceful_shutdown(shutdown).await
}

/// The cookie a browser keeps the token in, after `/login`.
const TOKEN_COOKIE: &str = "cachescope_token";

async fn require_token(State(state): State<AppState>, headers: HeaderMap, request: Request, next: Next) -> Response {
    if let Some(token) = &state.token
        && request.uri().path() != "/login"
    {
        let bearer =
            headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
        let cookie = headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(name, _)| *name == TOKEN_COOKIE)
            .map(|(_, value)| value);
        if bearer != Some(&**token) && cookie != Some(&**token) {
            if request.uri().path() == "/" {
                return (StatusCode::SEE_OTHER, [(header::LOCATION, "/login")]).into_response();
            }
            return (StatusCode::UNAUTHORIZED, [(header::WWW_AUTHENTICATE, "Bearer")], "a bearer token is required\n")
                .into_response();
        }
    }
    next.run(request).await
}

#[derive(Deserialize)]
struct LoginForm {
    token: String,
}

/// A form for the token, for browsers (which cannot send a bearer header when opening a page).
async fn login_page() -> Response {
    let page = "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>cachescope</title>\
        <link rel=\"stylesheet\" href=\"/assets/dashboard.css\"><link rel=\"icon\" href=\"data:,\"></head><body><main><h1>cachescope</h1>\
        <form method=\"post\" action=\"/login\"><p><label for=\"token\">Token (--http-token)</label> \
        <input id=\"token\" name=\"token\" type=\"password\" autocomplete=\"current-password\" required> \
        <button type=\"submit\">Open the dashboard</button></p></form></main></body></html>";
    ([(header::CONTENT_SECURITY_POLICY, dashboard::CONTENT_SECURITY_POLICY)], axum::response::Html(page))
        .into_response()
}

async fn login(State(state): State<AppState>, axum::Form(form): axum::Form<LoginForm>) -> Response {
    match &state.token {
        Some(token) if form.token == **token => {
            let cookie = format!("{TOKEN_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict");
            (StatusCode::SEE_OTHER, [(header::SET_COOKIE, cookie), (header::LOCATION, "/".to_string())]).into_response()
        }
        Some(_) => (StatusCode::UNAUTHORIZED, "wrong token\n").into_response(),
        None => (StatusCode::SEE_OTHER, [(header::LOCATION, "/")]).into_response(),
    }
}

pub(crate) fn latest(state: &AppState) -> Arc<LiveSnapshot> {
    state.snapshot()
}

async fn metrics_text(State(state): State<AppState>) -> impl IntoResponse {
    let text = metrics::render(&latest(&state));
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text)
}

/// How long a request waits for the report it asked for before it takes what there is.
const REPORT_WAIT: Duration = Duration::from_secs(5);

async fn report(State(state): State<AppState>) -> Response {
    let fresh = |snapshot: &LiveSnapshot| {
        snapshot.report.is_some() && snapshot.report_built.is_some_and(|at| at.elapsed() <= REPORT_MIN_INTERVAL)
    };
    if !fresh(&latest(&state)) {
        state.reports.request();
        let mut snapshots = state.snapshots.clone();
        let _ = tokio::time::timeout(REPORT_WAIT, snapshots.wait_for(|s| fresh(s))).await;
    }
    match &latest(&state).report {
        Some(report) => Json(report.as_ref().clone()).into_response(),
        None => {
            (StatusCode::SERVICE_UNAVAILABLE, "no report yet: the engine has not answered; try again\n").into_response()
        }
    }
}

#[derive(Deserialize)]
struct SeriesQuery {
    pattern: Option<String>,
}

#[derive(Serialize)]
struct SeriesBody {
    pattern: String,
    window_seconds: f64,
    points: Vec<Point>,
}

async fn series(State(state): State<AppState>, Query(query): Query<SeriesQuery>) -> Response {
    let snapshot = latest(&state);
    let pattern = query.pattern.unwrap_or_else(|| "*".to_string());
    let found = if pattern == "*" { Some(&snapshot.series.global) } else { snapshot.series.pattern(&pattern) };
    match found {
        Some(series) => Json(SeriesBody {
            pattern,
            window_seconds: snapshot.window_seconds,
            points: series.points().copied().collect(),
        })
        .into_response(),
        None => (StatusCode::NOT_FOUND, format!("no series for the pattern {pattern}\n")).into_response(),
    }
}

async fn overview(State(state): State<AppState>) -> impl IntoResponse {
    Json(Overview::of(&latest(&state)))
}

async fn anomalies(State(state): State<AppState>) -> impl IntoResponse {
    Json(latest(&state).anomalies.clone())
}

async fn events(State(state): State<AppState>) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let receiver = state.changes.subscribe();
    let redacting = state.redact_keys.then(|| state.clone());
    // A client that reads slower than the changes come misses some (the broadcast drops for it), and never holds
    // up the engine or the other clients.
    let stream = futures_util::stream::unfold((receiver, redacting), |(mut receiver, redacting)| async move {
        loop {
            match receiver.recv().await {
                Ok(mut change) => {
                    if let Some(state) = &redacting
                        && let LiveEvent::AnomalyOpened { anomaly } | LiveEvent::AnomalyClosed { anomaly } = &mut change
                    {
                        let report = state.snapshots.borrow().report.clone();
                        redact::Redactor::of(report.as_deref()).anomalies(std::slice::from_mut(anomaly));
                    }
                    let name = match &change {
                        LiveEvent::Window { .. } => "window",
                        LiveEvent::AnomalyOpened { .. } => "anomaly_opened",
                        LiveEvent::AnomalyClosed { .. } => "anomaly_closed",
                        LiveEvent::FindingsChanged { .. } => "findings_changed",
                    };
                    let data = serde_json::to_string(&change).unwrap_or_default();
                    return Some((Ok(Event::default().event(name).data(data)), (receiver, redacting)));
                }
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}

#[derive(Deserialize)]
struct MarkerBody {
    #[serde(default = "deploy")]
    kind: String,
    #[serde(default)]
    note: String,
}

fn deploy() -> String {
    "deploy".to_string()
}

async fn marker(State(state): State<AppState>, Json(body): Json<MarkerBody>) -> Response {
    let Some(sink) = &state.markers else {
        return (StatusCode::NOT_IMPLEMENTED, "this source takes no markers\n").into_response();
    };
    let label = if body.note.is_empty() { body.kind } else { format!("{} {}", body.kind, body.note) };
    if label.len() > 200 || label.chars().any(char::is_control) {
        return (StatusCode::BAD_REQUEST, "a marker is one line of at most 200 bytes\n").into_response();
    }
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros() as u64);
    let event = CacheEvent { key: label.as_bytes(), ..CacheEvent::keyless(now, Command::Marker) };
    sink.send(vec![OwnedEvent::from(&event)]);
    (StatusCode::CREATED, Json(serde_json::json!({ "label": label, "time_us": now }))).into_response()
}

async fn health(State(state): State<AppState>) -> impl IntoResponse {
    let snapshot = latest(&state);
    Json(serde_json::json!({ "status": "ok", "windows": snapshot.windows, "events": snapshot.counters.events }))
}
