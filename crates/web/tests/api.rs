//! The HTTP API as a function: requests into the router, answers out, no socket (the router is the application).

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use cachescope_core::{Window, WindowCounts};
use cachescope_live::{LiveSnapshot, Message, ReportRequests, SeriesConfig, SeriesStore, channel};
use cachescope_web::{AppState, router};
use http_body_util::BodyExt;
use tokio::sync::{broadcast, watch};
use tower::ServiceExt;

fn counts(reads: u64, misses: u64) -> WindowCounts {
    WindowCounts { reads, hits: reads - misses, misses, writes: misses, ..WindowCounts::default() }
}

/// Two windows: 100 reads of which 5 missed, then 100 of which 40 missed, all of `user:{num}`.
fn snapshot() -> LiveSnapshot {
    let mut store = SeriesStore::new(SeriesConfig { window: 10_000_000, ..SeriesConfig::default() });
    for (i, misses) in [5, 40].into_iter().enumerate() {
        let window =
            Window { global: counts(100, misses), patterns: vec![(7, counts(100, misses))], ..Window::default() };
        store.push(i as u64 * 10_000_000, &window, &|_| "user:{num}".to_string());
    }
    LiveSnapshot { windows: 2, window_seconds: 10.0, series: Arc::new(store), ..LiveSnapshot::default() }
}

fn state(token: Option<&str>) -> (AppState, cachescope_live::EventSource) {
    let (_sender, snapshots) = watch::channel(Arc::new(snapshot()));
    state_on(snapshots, token)
}

fn state_on(
    snapshots: watch::Receiver<Arc<LiveSnapshot>>,
    token: Option<&str>,
) -> (AppState, cachescope_live::EventSource) {
    let (changes, _) = broadcast::channel(16);
    let (sink, source) = channel();
    let reports = ReportRequests::default();
    (
        AppState { snapshots, changes, reports, markers: Some(sink), token: token.map(Arc::from), redact_keys: false },
        source,
    )
}

async fn get(state: &AppState, uri: &str, token: Option<&str>) -> (StatusCode, String) {
    let mut request = Request::builder().uri(uri);
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let response = router(state.clone()).oneshot(request.body(Body::empty()).unwrap()).await.unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn metrics_are_the_totals_and_the_last_window() {
    let (state, _source) = state(None);
    let (status, text) = get(&state, "/metrics", None).await;
    assert_eq!(status, StatusCode::OK);
    for line in [
        "cachescope_reads_total{pattern=\"*\"} 200",
        "cachescope_misses_total{pattern=\"user:{num}\"} 45",
        "cachescope_hit_ratio{pattern=\"user:{num}\"} 0.6",
        "cachescope_windows_total 2",
    ] {
        assert!(text.contains(line), "{line} missing from:\n{text}");
    }
}

#[tokio::test]
async fn series_anomalies_report_and_health() {
    let (state, _source) = state(None);
    let (status, body) = get(&state, "/api/series?pattern=user:%7Bnum%7D", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["points"].as_array().unwrap().len(), 2);
    assert_eq!(json["points"][1]["misses"], 40);
    assert_eq!(get(&state, "/api/series?pattern=nope:%7Bnum%7D", None).await.0, StatusCode::NOT_FOUND);
    assert_eq!(get(&state, "/api/anomalies", None).await, (StatusCode::OK, "[]".to_string()));
    assert_eq!(get(&state, "/api/report", None).await.0, StatusCode::SERVICE_UNAVAILABLE, "no report yet");
    assert_eq!(get(&state, "/healthz", None).await.0, StatusCode::OK);
}

#[tokio::test]
async fn with_a_token_every_endpoint_wants_it() {
    let (state, _source) = state(Some("s3cret"));
    for uri in ["/metrics", "/api/anomalies", "/healthz"] {
        assert_eq!(get(&state, uri, None).await.0, StatusCode::UNAUTHORIZED, "{uri}");
        assert_eq!(get(&state, uri, Some("wrong")).await.0, StatusCode::UNAUTHORIZED, "{uri}");
        assert_eq!(get(&state, uri, Some("s3cret")).await.0, StatusCode::OK, "{uri}");
    }
}

#[tokio::test]
async fn a_marker_goes_into_the_traffic() {
    let (state, source) = state(None);
    let request = Request::post("/api/markers")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(r#"{"kind": "deploy", "note": "v1.2.3"}"#))
        .unwrap();
    let response = router(state.clone()).oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let Ok(Message::Events(events)) = source.receiver.try_recv() else { panic!("no marker sent") };
    assert_eq!(events[0].key, b"deploy v1.2.3");
    assert_eq!(events[0].command, cachescope_core::Command::Marker);
}

#[tokio::test]
async fn the_report_is_asked_of_the_engine_and_served_when_it_comes() {
    let (sender, snapshots) = watch::channel(Arc::new(snapshot()));
    let (state, _source) = state_on(snapshots, None);
    // The engine's side: answers the first request with a report.
    let requests = state.reports.clone();
    let engine = tokio::spawn(async move {
        while !requests.take() {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        let mut report = cachescope_core::Engine::new(cachescope_core::EngineConfig::default()).report();
        report.summary.reads = 42;
        sender.send_replace(Arc::new(LiveSnapshot {
            report: Some(Arc::new(report)),
            report_built: Some(std::time::Instant::now()),
            ..snapshot()
        }));
        sender
    });
    let (status, body) = get(&state, "/api/report", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let report: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(report["summary"]["reads"], 42);
    let _sender = engine.await.unwrap();
}

#[tokio::test]
async fn the_overview_holds_the_whole_cache_and_each_pattern() {
    let (state, _source) = state(None);
    let (status, body) = get(&state, "/api/overview", None).await;
    assert_eq!(status, StatusCode::OK);
    let overview: cachescope_live::Overview = serde_json::from_str(&body).expect("reads back");
    assert_eq!(overview.global.len(), 2);
    assert_eq!(overview.global[1].counts.misses, 40);
    let row = &overview.patterns[0];
    assert_eq!((row.name.as_str(), row.total.misses, row.last.misses), ("user:{num}", 45, 40));
    assert_eq!(row.miss_ratios, [Some(0.05), Some(0.4)]);
}

async fn send(state: &AppState, request: Request<Body>) -> (StatusCode, axum::http::HeaderMap, String) {
    let response = router(state.clone()).oneshot(request).await.unwrap();
    let (status, headers) = (response.status(), response.headers().clone());
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, headers, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn the_dashboard_is_the_page_its_script_and_its_stylesheet_all_from_here() {
    let (state, _source) = state(None);
    let (status, headers, page) = send(&state, Request::get("/").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    let policy = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
    assert!(policy.contains("default-src 'self'") && policy.contains("connect-src 'self'"), "{policy}");
    for expected in
        ["<table id=\"patterns\">", "user:{num}", "href=\"#pattern=user:{num}\"", "src=\"/assets/dashboard.js\""]
    {
        assert!(page.contains(expected), "{expected} missing from:\n{page}");
    }
    let (_, script) = get(&state, "/assets/dashboard.js", None).await;
    let (_, style) = get(&state, "/assets/dashboard.css", None).await;
    assert!(script.contains("new EventSource(\"/api/events\")"), "{script}");
    // No address of another host anywhere (the SVG namespace names, it is never fetched).
    for (name, text) in [("page", &page), ("script", &script.replace(SVG_NAMESPACE, "")), ("stylesheet", &style)] {
        assert!(
            !text.contains("http://") && !text.contains("https://") && !text.contains("//cdn"),
            "{name} refers elsewhere"
        );
    }
}

const SVG_NAMESPACE: &str = "http://www.w3.org/2000/svg";

#[tokio::test]
async fn pattern_names_are_text_not_markup() {
    let mut store = SeriesStore::new(SeriesConfig { window: 10_000_000, ..SeriesConfig::default() });
    let window = Window { global: counts(10, 1), patterns: vec![(1, counts(10, 1))], ..Window::default() };
    store.push(0, &window, &|_| "<script>alert(1)</script>".to_string());
    let (_sender, snapshots) =
        watch::channel(Arc::new(LiveSnapshot { series: Arc::new(store), ..LiveSnapshot::default() }));
    let (state, _source) = state_on(snapshots, None);
    let (_, _, page) = send(&state, Request::get("/").body(Body::empty()).unwrap()).await;
    assert!(!page.contains("<script>alert(1)") && page.contains("&lt;script&gt;alert(1)"), "{page}");
}

#[tokio::test]
async fn with_a_token_a_browser_logs_in_once_and_keeps_a_cookie() {
    let (state, _source) = state(Some("s3cret"));
    let (status, headers, _) = send(&state, Request::get("/").body(Body::empty()).unwrap()).await;
    assert_eq!((status, headers[header::LOCATION].to_str().unwrap()), (StatusCode::SEE_OTHER, "/login"));
    let (status, _, form) = send(&state, Request::get("/login").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert!(form.contains("type=\"password\""), "{form}");
    let login = |token: &str| {
        Request::post("/login")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(format!("token={token}")))
            .unwrap()
    };
    let (status, _, _) = send(&state, login("wrong")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, headers, _) = send(&state, login("s3cret")).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let cookie = headers[header::SET_COOKIE].to_str().unwrap().split(';').next().unwrap().to_string();
    assert!(headers[header::SET_COOKIE].to_str().unwrap().contains("HttpOnly"));
    for path in ["/", "/api/overview", "/metrics"] {
        let request = Request::get(path).header(header::COOKIE, &cookie).body(Body::empty()).unwrap();
        assert_eq!(send(&state, request).await.0, StatusCode::OK, "{path}");
    }
    let request =
        Request::get("/api/overview").header(header::COOKIE, "cachescope_token=nope").body(Body::empty()).unwrap();
    assert_eq!(send(&state, request).await.0, StatusCode::UNAUTHORIZED);
}
