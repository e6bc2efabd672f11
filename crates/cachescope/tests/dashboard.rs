//! The web dashboard in a real browser (headless Chromium through chromedriver, both started here on free ports):
//! it loads with every request on its own host and no error in the console, its chart holds points and grows as windows arrive, an anomaly of
//! the running demo shows in the list and as a line on the chart, the patterns table sorts, and the marker button
//! of a proxy adds a marker that then shows. Screenshots go to target/screenshots/.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::redis_server::{Proxy, RedisServer, free_port};
use fantoccini::{Client, ClientBuilder, Locator};

const CHROMIUM: &str = "/usr/bin/chromium";

/// A process killed when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn browser_available() -> bool {
    let found =
        Command::new("chromedriver").arg("--version").output().is_ok() && std::path::Path::new(CHROMIUM).exists();
    if !found {
        cachescope_testkit::skip(
            "the dashboard in a browser",
            "install chromium and chromedriver (Debian: apt-get install chromium chromium-driver), or run scripts/test --all",
        );
    }
    found
}

async fn browser() -> (Running, Client) {
    let port = free_port();
    let driver = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starts chromedriver");
    let driver = Running(driver);
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": CHROMIUM,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,1600"],
        }),
    );
    capabilities.insert("goog:loggingPrefs".into(), serde_json::json!({ "browser": "ALL" }));
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        match ClientBuilder::new(connector)
            .capabilities(capabilities.clone())
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
        {
            Ok(client) => return (driver, client),
            Err(error) if Instant::now() > deadline => panic!("chromedriver did not answer: {error}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

/// Evaluates `script` (a function body) until it returns true.
async fn wait_until(client: &Client, what: &str, script: &str, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let value = client.execute(script, vec![]).await.unwrap_or(serde_json::Value::Null);
        if value == serde_json::Value::Bool(true) {
            return;
        }
        assert!(Instant::now() < deadline, "{what} did not happen within {within:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// chromedriver's log of the page's console (not in the W3C protocol, so a command of our own).
#[derive(Debug)]
struct BrowserLog;

impl fantoccini::wd::WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(&self, base: &url::Url, session: Option<&str>) -> Result<url::Url, url::ParseError> {
        base.join(&format!("session/{}/se/log", session.unwrap_or_default()))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(r#"{"type":"browser"}"#.into()))
    }
}

/// The console's errors since the last call.
async fn console_errors(client: &Client) -> Vec<String> {
    let log = client.issue_cmd(BrowserLog).await.expect("chromedriver gives the browser's log");
    log.as_array()
        .into_iter()
        .flatten()
        .filter(|entry| entry["level"] == "SEVERE")
        .map(|entry| entry["message"].as_str().unwrap_or_default().to_string())
        .collect()
}

async fn number(client: &Client, script: &str) -> f64 {
    client.execute(script, vec![]).await.unwrap().as_f64().unwrap_or(0.0)
}

async fn screenshot(client: &Client, name: &str) {
    let png = client.screenshot().await.unwrap();
    let folder = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/screenshots");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(folder.join(name), png).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_follows_the_live_demo() {
    if !browser_available() {
        return;
    }
    let address = format!("127.0.0.1:{}", free_port());
    let demo = Command::new(assert_cmd::cargo::cargo_bin("cachescope"))
        .args(["demo", "--live", "--speed", "20", "--window", "10s", "--http", &address, "-o", "json"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _demo = Running(demo);
    let (_driver, client) = browser().await;
    let page = format!("http://{address}/");
    let deadline = Instant::now() + Duration::from_secs(20);
    while client.goto(&page).await.is_err() {
        assert!(Instant::now() < deadline, "the dashboard never answered");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let points =
        "const l = document.querySelector('#hit-chart polyline.hit-line'); return l ? Number(l.dataset.points) : 0;";
    wait_until(
        &client,
        "the chart's first points",
        "const l = document.querySelector('#hit-chart polyline.hit-line'); return !!l && Number(l.dataset.points) >= 2;",
        Duration::from_secs(30),
    )
    .await;
    let first = number(&client, points).await;
    wait_until(
        &client,
        "more points as windows arrive",
        &format!(
            "const l = document.querySelector('#hit-chart polyline.hit-line'); \
             return !!l && Number(l.dataset.points) > {first};"
        ),
        Duration::from_secs(30),
    )
    .await;
    // The demo's deploy that changes a key format comes at 6 simulated minutes: 18 s at 20x.
    wait_until(
        &client,
        "the new pattern's anomaly in the list",
        "return [...document.querySelectorAll('#anomalies li.open')].some(li => li.textContent.includes('users:{num}'));",
        Duration::from_secs(60),
    )
    .await;
    wait_until(
        &client,
        "deploy and anomaly lines on the chart",
        "return !!document.querySelector('#hit-chart line.marker') && !!document.querySelector('#hit-chart line.anomaly-start');",
        Duration::from_secs(10),
    )
    .await;
    let local = client
        .execute(
            "return performance.getEntriesByType('resource').every(e => e.name.startsWith(location.origin));",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(local, serde_json::Value::Bool(true), "a request left the host");
    assert_eq!(console_errors(&client).await, Vec::<String>::new(), "errors in the console");
    screenshot(&client, "dashboard.png").await;
    // `top` attached to the same instance, drawn as text into a page, for a picture of it.
    let top = common::run(&["top", &format!("http://{address}"), "--dump", "120x36", "--color", "never"]);
    assert_eq!(top.code, 0, "{}", top.stderr);
    let escaped = top.stdout.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
    let folder = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/screenshots");
    std::fs::create_dir_all(&folder).unwrap();
    let html = folder.join("top.html");
    std::fs::write(
        &html,
        format!(
            "<!doctype html><meta charset=utf-8><body style='margin:0;background:#15181b'>\
             <pre style='margin:8px;color:#e6e9ec;font:14px/1.2 monospace'>{escaped}</pre>"
        ),
    )
    .unwrap();
    client.goto(&format!("file://{}", html.canonicalize().unwrap().display())).await.unwrap();
    screenshot(&client, "top.png").await;
    client.goto(&page).await.unwrap();
    wait_until(
        &client,
        "the page again",
        "return document.querySelectorAll('#patterns tbody tr').length >= 10;",
        Duration::from_secs(10),
    )
    .await;
    // Sorting by name, then the detail of the first pattern.
    // The table re-renders as the demo runs: an element found, then clicked in a second call, may be gone by
    // then. Each click is found and made in one script.
    click(&client, "#patterns th[data-sort=name] button").await;
    let names = client
        .execute("return [...document.querySelectorAll('#patterns tbody th')].map(th => th.textContent);", vec![])
        .await
        .unwrap();
    let names: Vec<String> = serde_json::from_value(names).unwrap();
    let mut sorted = names.clone();
    sorted.sort();
    assert!(names.len() >= 10 && names == sorted, "{names:?}");
    click(&client, "#patterns tbody th a").await;
    wait_until(&client, "the detail view", "return !document.getElementById('detail').hidden;", Duration::from_secs(5))
        .await;
    client.close().await.unwrap();
}

/// Clicks the first element `selector` finds, found and clicked in one script.
async fn click(client: &Client, selector: &str) {
    let clicked = client
        .execute(
            "const e = document.querySelector(arguments[0]); if (e) { e.click(); } return !!e;",
            vec![selector.into()],
        )
        .await
        .unwrap();
    assert_eq!(clicked, serde_json::Value::Bool(true), "nothing to click at {selector}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_marker_button_adds_a_deploy_marker_to_a_running_proxy() {
    if !browser_available() {
        return;
    }
    let server = RedisServer::start(&[]);
    let address = format!("127.0.0.1:{}", free_port());
    let proxy = Proxy::start(&server.url(), &["--http", &address, "--window", "1s"]);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let traffic = {
        let stop = stop.clone();
        let mut app = proxy.client();
        std::thread::spawn(move || {
            let mut id = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                id += 1;
                let key = format!("user:{}", id % 200);
                let _: Option<String> = redis::cmd("GET").arg(&key).query(&mut app).unwrap();
                let _: () = redis::cmd("SET").arg(&key).arg("v").query(&mut app).unwrap();
                std::thread::sleep(Duration::from_millis(2));
            }
        })
    };
    let (_driver, client) = browser().await;
    client.goto(&format!("http://{address}/")).await.unwrap();
    wait_until(
        &client,
        "the marker form",
        "return !document.getElementById('mark-form').hidden;",
        Duration::from_secs(10),
    )
    .await;
    client.find(Locator::Id("mark-note")).await.unwrap().send_keys("v9.9.9").await.unwrap();
    client.find(Locator::Css("#mark-form button")).await.unwrap().click().await.unwrap();
    wait_until(
        &client,
        "the marker confirmed",
        "return document.getElementById('mark-result').textContent.includes('deploy v9.9.9');",
        Duration::from_secs(10),
    )
    .await;
    wait_until(
        &client,
        "the marker on the chart",
        "return !!document.querySelector('#hit-chart line.marker');",
        Duration::from_secs(15),
    )
    .await;
    client.close().await.unwrap();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    traffic.join().unwrap();
    let report = proxy.stop();
    let labels: Vec<&str> = report["markers"].as_array().unwrap().iter().filter_map(|m| m["label"].as_str()).collect();
    assert_eq!(labels, ["deploy v9.9.9"]);
}
