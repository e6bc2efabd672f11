//! `cachescope top` end to end: a frame of the demo played live in the process, a frame of a running instance
//! through its HTTP API, and a clear error when nothing is there.

mod common;

use common::redis_server::free_port;
use common::run;

#[test]
fn top_draws_the_live_demo() {
    let frame = run(&["top", "--demo", "--speed", "600", "--dump", "120x36", "--color", "never"]);
    assert_eq!(frame.code, 0, "{}", frame.stderr);
    let text = frame.stdout;
    assert_eq!(text.lines().count(), 36, "{text}");
    assert!(text.starts_with("cachescope top · hit ratio "), "{text}");
    for expected in
        ["patterns (11 of 11)", "session:{token}", "users:{num}", "Findings", "OPEN hit ratio of session:{token}"]
    {
        assert!(text.contains(expected), "{expected} missing from:\n{text}");
    }
    assert!(text.lines().all(|line| line.chars().count() <= 120), "{text}");
}

#[test]
fn top_says_when_nothing_is_there() {
    let result = run(&["top", &format!("http://127.0.0.1:{}", free_port()), "--dump", "80x24"]);
    assert_eq!(result.code, 69, "{}", result.stderr);
    assert!(result.stderr.contains("cannot reach") && result.stderr.contains("--http"), "{}", result.stderr);
}

#[test]
fn top_runs_its_own_proxy_in_front_of_a_server() {
    let server = common::redis_server::RedisServer::start(&[]);
    let listen = format!("127.0.0.1:{}", free_port());
    let top = std::process::Command::new(assert_cmd::cargo::cargo_bin("cachescope"))
        .args(["top", "--upstream", &server.url(), "--listen", &listen, "--dump", "100x30", "--color", "never"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The application, pointed at the proxy.
    let mut app = loop {
        match redis::Client::open(format!("redis://{listen}")).unwrap().get_connection() {
            Ok(connection) => break connection,
            Err(_) => std::thread::sleep(std::time::Duration::from_millis(100)),
        }
    };
    for id in 0..300 {
        let _: Option<String> = redis::cmd("GET").arg(format!("order:{id}")).query(&mut app).unwrap();
    }
    let output = top.wait_with_output().unwrap();
    let frame = String::from_utf8(output.stdout).unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(frame.contains(&format!("proxy {listen} -> ")), "{frame}");
    assert!(frame.contains("order:{num}"), "{frame}");
}
