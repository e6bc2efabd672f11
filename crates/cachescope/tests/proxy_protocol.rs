//! The proxy never changes what a client sees: the same bytes as from Redis itself, whatever the protocol
//! does; and it fails loudly, not silently, when the upstream goes.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use cachescope_resp::frame::Frame;
use common::redis_server::{Proxy, RedisServer, free_port};

fn connect(address: &str) -> TcpStream {
    let stream = TcpStream::connect(address).expect("connects");
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    stream
}

fn command(args: &[&[u8]]) -> Vec<u8> {
    Frame::command(args).to_bytes()
}

/// Reads until `count` whole replies are in; returns their bytes.
fn read_replies(stream: &mut TcpStream, count: usize) -> Vec<u8> {
    let mut bytes = Vec::new();
    let mut chunk = vec![0u8; 1 << 16];
    loop {
        let mut at = 0;
        let mut complete = 0;
        while complete < count {
            match Frame::parse(&bytes[at..]).expect("valid RESP") {
                Some((_, used)) => {
                    at += used;
                    complete += 1;
                }
                None => break,
            }
        }
        if complete == count {
            assert_eq!(at, bytes.len(), "no more bytes than the replies");
            return bytes;
        }
        let read = stream.read(&mut chunk).expect("reads replies");
        assert!(read > 0, "the connection closed after {complete} of {count} replies");
        bytes.extend_from_slice(&chunk[..read]);
    }
}

/// Reads until the first reply is whole, and returns every byte read: with a reply that streams (MONITOR's
/// `+OK`, then a line for each command any connection sends), more may have come in the same read.
fn read_first_reply(stream: &mut TcpStream) -> Vec<u8> {
    let mut bytes = Vec::new();
    let mut chunk = vec![0u8; 1 << 16];
    while Frame::parse(&bytes).expect("valid RESP").is_none() {
        let read = stream.read(&mut chunk).expect("reads a reply");
        assert!(read > 0, "the connection closed before its first reply");
        bytes.extend_from_slice(&chunk[..read]);
    }
    bytes
}

/// Reads MONITOR's lines after the bytes `read` already, each whole and valid RESP, until `count` of them show
/// `command`; returns them as text. Other lines may come between: MONITOR shows every connection's commands, the
/// proxy's own `INFO` polls of the upstream (every second) among them.
fn read_monitored(stream: &mut TcpStream, read: Vec<u8>, command: &str, count: usize) -> String {
    let quoted = format!("\"{command}\"");
    let mut bytes = read;
    let mut chunk = vec![0u8; 1 << 16];
    loop {
        let mut at = 0;
        while let Some((_, used)) = Frame::parse(&bytes[at..]).expect("valid RESP") {
            at += used;
        }
        let whole = String::from_utf8_lossy(&bytes[..at]).into_owned();
        if whole.matches(&quoted).count() >= count {
            return whole;
        }
        let read = stream.read(&mut chunk).expect("reads monitored commands");
        assert!(read > 0, "the connection closed before {count} {command} were monitored");
        bytes.extend_from_slice(&chunk[..read]);
    }
}

/// Sends `script` (its requests counted by `replies`) and returns every byte answered.
fn exchange(address: &str, script: &[u8], replies: usize) -> Vec<u8> {
    let mut stream = connect(address);
    stream.write_all(script).unwrap();
    read_replies(&mut stream, replies)
}

/// A session of many kinds of commands, pipelined, with the number of replies it gets.
fn session() -> (Vec<u8>, usize) {
    let binary: Vec<u8> = (0..=255u8).chain(b"\r\n$3\r\n*2\r\n".iter().copied()).collect();
    let big = vec![b'z'; 1 << 20];
    let mut script = Vec::new();
    let mut replies = 0;
    let mut add = |args: &[&[u8]]| {
        script.extend(command(args));
        replies += 1;
    };
    add(&[b"FLUSHALL"]);
    add(&[b"SET", b"a", b"1"]);
    add(&[b"GET", b"a"]);
    add(&[b"GET", b"missing"]);
    add(&[b"SET", b"bin", &binary]);
    add(&[b"GET", b"bin"]);
    add(&[b"MGET", b"a", b"missing", b"bin"]);
    add(&[b"SET", b"big", &big]);
    add(&[b"GET", b"big"]);
    add(&[b"INCR", b"n"]);
    add(&[b"INCR", b"a"]);
    add(&[b"LPUSH", b"l", b"x", b"y"]);
    add(&[b"LRANGE", b"l", b"0", b"-1"]);
    add(&[b"HSET", b"h", b"f", b"v", b"g", b"w"]);
    add(&[b"HGETALL", b"h"]);
    add(&[b"GET", b"h"]); // WRONGTYPE
    add(&[b"MULTI"]);
    add(&[b"SET", b"t", b"1"]);
    add(&[b"GET", b"t"]);
    add(&[b"EXEC"]);
    add(&[b"NOSUCHCOMMAND", b"x"]);
    add(&[b"SELECT", b"2"]);
    add(&[b"SET", b"a", b"in db 2"]);
    add(&[b"GET", b"a"]);
    add(&[b"SELECT", b"0"]);
    add(&[b"EXPIRE", b"a", b"100"]);
    add(&[b"DEL", b"a", b"bin", b"nothing"]);
    for i in 0..1_000 {
        add(&[b"GET", format!("k{i}").as_bytes()]);
    }
    // An inline command, as telnet sends it.
    script.extend_from_slice(b"PING\r\n");
    replies += 1;
    (script, replies)
}

#[test]
fn a_client_sees_exactly_what_redis_sends() {
    let (script, replies) = session();
    let direct_server = RedisServer::start(&[]);
    let direct = exchange(&format!("127.0.0.1:{}", direct_server.port), &script, replies);
    let proxied_server = RedisServer::start(&[]);
    let proxy = Proxy::start(&proxied_server.url(), &[]);
    let proxied = exchange(&proxy.address, &script, replies);
    assert_eq!(proxied.len(), direct.len());
    assert!(proxied == direct, "the bytes differ");
    // The same again, written one byte at a time: framing must not depend on how the bytes arrive.
    let mut stream = connect(&proxy.address);
    for byte in &script[..script.len().min(4096)] {
        stream.write_all(std::slice::from_ref(byte)).unwrap();
    }
    let report = proxy.stop();
    assert!(report["summary"]["reads"].as_u64().unwrap() >= 1_000);
}

#[test]
fn resp3_after_hello() {
    let server = RedisServer::start(&[]);
    let proxy = Proxy::start(&server.url(), &[]);
    let direct_address = format!("127.0.0.1:{}", server.port);
    let mut script = command(&[b"HELLO", b"3"]);
    for args in [
        &[&b"FLUSHALL"[..]][..],
        &[b"HSET", b"h", b"f", b"v"],
        &[b"HGETALL", b"h"],
        &[b"HGETALL", b"nothing"],
        &[b"ZADD", b"z", b"1.5", b"m"],
        &[b"ZSCORE", b"z", b"m"],
        &[b"GET", b"missing"],
        &[b"EXISTS", b"h"],
    ] {
        script.extend(command(args));
    }
    let skip_hello = |bytes: Vec<u8>| {
        let (_, used) = Frame::parse(&bytes).unwrap().unwrap();
        bytes[used..].to_vec()
    };
    let direct = skip_hello(exchange(&direct_address, &script, 9));
    let proxied = skip_hello(exchange(&proxy.address, &script, 9));
    assert_eq!(direct, proxied);
    assert!(direct.contains(&b'%') && direct.contains(&b','), "RESP3 maps and doubles came back");
    let report = proxy.stop();
    // Hits: HGETALL h, ZSCORE, EXISTS; misses: HGETALL of nothing (an empty map), GET of nothing (`_`).
    assert_eq!(report["summary"]["hits"], 3, "{}", report["summary"]);
    assert_eq!(report["summary"]["misses"], 2);
}

#[test]
fn pubsub_and_monitor_pass_through() {
    let server = RedisServer::start(&[]);
    let proxy = Proxy::start(&server.url(), &[]);
    let mut subscriber = connect(&proxy.address);
    subscriber.write_all(&command(&[b"SUBSCRIBE", b"news"])).unwrap();
    read_replies(&mut subscriber, 1);
    let mut monitor = connect(&proxy.address);
    monitor.write_all(&command(&[b"MONITOR"])).unwrap();
    // The proxy's own INFO poll may be monitored in the same read as the `+OK`: it stays for the lines below.
    let started = read_first_reply(&mut monitor);
    assert!(started.starts_with(b"+OK\r\n"), "{}", String::from_utf8_lossy(&started));
    let mut publisher = server.client();
    for i in 0..3 {
        let _: i64 = redis::cmd("PUBLISH").arg("news").arg(format!("item {i}")).query(&mut publisher).unwrap();
    }
    let messages = read_replies(&mut subscriber, 3);
    assert!(String::from_utf8_lossy(&messages).contains("item 2"));
    let lines = read_monitored(&mut monitor, started, "PUBLISH", 3);
    assert!(lines.contains("item 2"));
    drop((subscriber, monitor));
    proxy.stop();
}

#[test]
fn values_of_100_megabytes() {
    let server = RedisServer::start(&["--proto-max-bulk-len", "200mb", "--client-query-buffer-limit", "300mb"]);
    let proxy = Proxy::start(&server.url(), &[]);
    let value: Vec<u8> = (0..100u32 << 20).map(|i| (i % 251) as u8).collect();
    let mut client = connect(&proxy.address);
    client.write_all(&command(&[b"SET", b"huge", &value])).unwrap();
    assert_eq!(read_replies(&mut client, 1), b"+OK\r\n");
    client.write_all(&command(&[b"GET", b"huge"])).unwrap();
    let reply = read_replies(&mut client, 1);
    let (frame, _) = Frame::parse(&reply).unwrap().unwrap();
    assert!(frame == Frame::Bulk(value), "the value came back intact");
    let report = proxy.stop();
    assert_eq!(report["patterns"][0]["value_bytes"]["max"].as_f64().unwrap() as u64 >> 20, 100);
}

#[test]
fn a_client_that_leaves_mid_reply_harms_no_one() {
    let server = RedisServer::start(&[]);
    let proxy = Proxy::start(&server.url(), &[]);
    let mut setup = connect(&proxy.address);
    setup.write_all(&command(&[b"SET", b"big", &vec![b'b'; 20 << 20]])).unwrap();
    read_replies(&mut setup, 1);
    let mut leaver = connect(&proxy.address);
    leaver.write_all(&command(&[b"GET", b"big"])).unwrap();
    let mut first = [0u8; 65536];
    leaver.read_exact(&mut first).unwrap();
    drop(leaver);
    let mut other = connect(&proxy.address);
    other.write_all(&command(&[b"PING"])).unwrap();
    assert_eq!(read_replies(&mut other, 1), b"+PONG\r\n");
    proxy.stop();
}

/// Once `client`'s command is under way, stops the server: the client must get the proxy's error and be closed,
/// not left hanging.
fn an_error_comes_when_the_server_dies(server: &mut RedisServer, client: &mut TcpStream) {
    std::thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    server.stop();
    let mut reply = Vec::new();
    let _ = client.read_to_end(&mut reply);
    assert!(started.elapsed() < Duration::from_secs(5), "the client was left hanging");
    assert_eq!(String::from_utf8_lossy(&reply), "-ERR cachescope proxy: the upstream closed the connection\r\n");
}

#[test]
fn when_the_upstream_dies_clients_get_an_error_not_a_hang() {
    let mut server = RedisServer::start(&[]);
    let proxy = Proxy::start(&server.url(), &[]);
    let mut blocked = connect(&proxy.address);
    blocked.write_all(&command(&[b"BLPOP", b"queue", b"30"])).unwrap();
    an_error_comes_when_the_server_dies(&mut server, &mut blocked);
    // Connections made once it is back reach the new server.
    server.restart();
    let mut fresh = connect(&proxy.address);
    fresh.write_all(&command(&[b"PING"])).unwrap();
    assert_eq!(read_replies(&mut fresh, 1), b"+PONG\r\n");
    proxy.stop();
}

/// Sends PING and reads all that comes back until the proxy closes the connection.
fn ping_until_closed(address: &str) -> String {
    let mut client = connect(address);
    client.write_all(&command(&[b"PING"])).unwrap();
    let mut reply = Vec::new();
    let _ = client.read_to_end(&mut reply);
    String::from_utf8_lossy(&reply).into_owned()
}

#[test]
fn an_unreachable_upstream_is_an_error_reply() {
    let nowhere = format!("redis://127.0.0.1:{}", free_port());
    let proxy = Proxy::start(&nowhere, &[]);
    let reply = ping_until_closed(&proxy.address);
    assert!(reply.starts_with("-ERR cachescope proxy: cannot reach the upstream redis://127.0.0.1:"), "{reply}");
    proxy.stop();
}

#[test]
fn a_thousand_connections_at_once() {
    let _ = rlimit::increase_nofile_limit(8192);
    let server = RedisServer::start(&[]);
    let proxy = Proxy::start(&server.url(), &[]);
    let mut clients: Vec<TcpStream> = (0..1_000).map(|_| connect(&proxy.address)).collect();
    for (i, client) in clients.iter_mut().enumerate() {
        let key = format!("conn:{i}");
        let mut script = command(&[b"SET", key.as_bytes(), key.as_bytes()]);
        script.extend(command(&[b"GET", key.as_bytes()]));
        client.write_all(&script).unwrap();
    }
    for (i, client) in clients.iter_mut().enumerate() {
        let expected = [b"+OK\r\n".to_vec(), Frame::Bulk(format!("conn:{i}").into_bytes()).to_bytes()].concat();
        assert_eq!(read_replies(client, 2), expected);
    }
    drop(clients);
    let report = proxy.stop();
    assert_eq!(report["summary"]["hits"], 1_000);
    assert_eq!(report["summary"]["writes"], 1_000);
}

#[test]
fn ctrl_c_lets_commands_in_flight_finish() {
    let server = RedisServer::start(&[]);
    let proxy = Proxy::start(&server.url(), &[]);
    let mut client = connect(&proxy.address);
    client.write_all(&command(&[b"BLPOP", b"queue", b"1"])).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let report = proxy.stop(); // returns once the proxy has exited
    let reply = read_replies(&mut client, 1);
    assert!(reply == b"*-1\r\n" || reply == b"_\r\n", "the blocked command got its (empty) reply: {reply:?}");
    assert_eq!(report["version"], 1);
}

#[test]
fn auth_passes_through_and_the_watcher_uses_the_urls_credentials() {
    let server = RedisServer::start(&["--requirepass", "s3cret", "--maxmemory", "8mb"]);
    let proxy = Proxy::start(&format!("redis://:s3cret@127.0.0.1:{}", server.port), &[]);
    let mut refused = connect(&proxy.address);
    refused.write_all(&command(&[b"GET", b"a"])).unwrap();
    assert!(read_replies(&mut refused, 1).starts_with(b"-NOAUTH"));
    let mut app = redis::Client::open(format!("redis://:s3cret@{}", proxy.address)).unwrap().get_connection().unwrap();
    let _: () = redis::cmd("SET").arg("a").arg("1").query(&mut app).unwrap();
    let value: String = redis::cmd("GET").arg("a").query(&mut app).unwrap();
    assert_eq!(value, "1");
    std::thread::sleep(Duration::from_millis(1_500));
    drop(app);
    let report = proxy.stop();
    assert_eq!(report["summary"]["hits"], 1);
    assert_eq!(report["notes"]["cache_capacity_bytes"], 8 << 20, "the watcher authenticated and read maxmemory");
}

/// `rediss://`: TLS between the proxy and the server, plain TCP to the client. The client sees the same bytes as
/// from the server directly, the traffic is analysed, and the watcher reads the server over TLS too. A
/// certificate the proxy cannot trust is an error reply that says how to trust it.
#[test]
fn tls_to_the_upstream() {
    let (script, replies) = session();
    let server = RedisServer::start_tls(&["--requirepass", "s3cret", "--maxmemory", "8mb"]);
    let tls_port = server.tls_port.unwrap();
    let mut direct_stream = connect(&format!("127.0.0.1:{}", server.port));
    direct_stream.write_all(&command(&[b"AUTH", b"s3cret"])).unwrap();
    assert_eq!(read_replies(&mut direct_stream, 1), b"+OK\r\n");
    direct_stream.write_all(&script).unwrap();
    let direct = read_replies(&mut direct_stream, replies);

    let ca = server.ca();
    let upstream = format!("rediss://:s3cret@localhost:{tls_port}");
    let proxy = Proxy::start(&upstream, &["--upstream-ca", ca.to_str().unwrap()]);
    let mut proxied_stream = connect(&proxy.address);
    proxied_stream.write_all(&command(&[b"AUTH", b"s3cret"])).unwrap();
    assert_eq!(read_replies(&mut proxied_stream, 1), b"+OK\r\n");
    proxied_stream.write_all(&script).unwrap();
    let proxied = read_replies(&mut proxied_stream, replies);
    assert_eq!(proxied.len(), direct.len());
    assert!(proxied == direct, "the bytes differ");
    drop(proxied_stream);
    std::thread::sleep(Duration::from_millis(1_500));
    let report = proxy.stop();
    assert!(report["summary"]["reads"].as_u64().unwrap() >= 1_000);
    assert_eq!(report["notes"]["cache_capacity_bytes"], 8 << 20, "the watcher read maxmemory over TLS");

    let untrusted = Proxy::start(&format!("rediss://localhost:{tls_port}"), &[]);
    let reply = ping_until_closed(&untrusted.address);
    assert!(reply.starts_with("-ERR cachescope proxy: cannot reach the upstream rediss://localhost:"), "{reply}");
    assert!(reply.contains("certificate") && reply.contains("--upstream-ca"), "{reply}");
    untrusted.stop();

    let insecure = Proxy::start(&format!("rediss://127.0.0.1:{tls_port}#insecure"), &[]);
    let mut client = connect(&insecure.address);
    client.write_all(&command(&[b"PING"])).unwrap();
    assert!(read_replies(&mut client, 1).starts_with(b"-NOAUTH"), "the server answered through TLS");
    insecure.stop();
}

#[test]
fn an_unreachable_upstream_is_said_at_start() {
    let nowhere = format!("redis://127.0.0.1:{}", free_port());
    let result = common::run(&["proxy", "--listen", "127.0.0.1:0", "--upstream", &nowhere, "--duration", "100ms"]);
    assert_eq!(result.code, 0, "{}", result.stderr);
    assert!(result.stderr.contains(&format!("warning: cannot reach the upstream {nowhere} now:")), "{}", result.stderr);
}

#[test]
fn upstream_ca_needs_a_tls_upstream() {
    let result = common::run(&["proxy", "--upstream", "redis://127.0.0.1:1", "--upstream-ca", "ca.pem"]);
    assert_eq!(result.code, 64, "{}", result.stderr);
    assert!(result.stderr.contains("write rediss://"), "{}", result.stderr);
    let result = common::run(&["proxy", "--upstream", "rediss://127.0.0.1:1", "--upstream-ca", "/nonexistent/ca.pem"]);
    assert_eq!(result.code, 78, "{}", result.stderr);
    assert!(result.stderr.contains("cannot read the CA certificates in /nonexistent/ca.pem"), "{}", result.stderr);
}

/// Connections the server has open, from its INFO.
fn connected_clients(server: &RedisServer) -> u64 {
    connected_clients_of(&mut server.client())
}

fn connected_clients_of(server: &mut redis::Connection) -> u64 {
    let info: String = redis::cmd("INFO").arg("clients").query(server).unwrap();
    let line = info.lines().find_map(|line| line.strip_prefix("connected_clients:")).expect("INFO clients");
    line.trim().parse().unwrap()
}

/// Clients that open alike (`HELLO 3` with a password, `CLIENT SETNAME`, `SELECT`, each awaited, as client
/// libraries open) share a connection set up the same way, and get the replies of a connection set up so: RESP3,
/// in their database. One that later needs a connection of its own gets one set up as it opened; a wrong password
/// gets what Redis itself answers.
#[test]
fn clients_that_open_alike_share_a_connection_set_up_their_way() {
    let server = RedisServer::start(&["--requirepass", "s3cret"]);
    let mut direct =
        redis::Client::open(format!("redis://:s3cret@127.0.0.1:{}", server.port)).unwrap().get_connection().unwrap();
    let proxy = Proxy::start(&format!("redis://:s3cret@127.0.0.1:{}", server.port), &[]);
    let opening = [
        command(&[b"HELLO", b"3", b"AUTH", b"default", b"s3cret"]),
        command(&[b"CLIENT", b"SETNAME", b"app"]),
        command(&[b"SELECT", b"2"]),
    ];
    let mut clients = Vec::new();
    for i in 0..12 {
        let mut client = connect(&proxy.address);
        let mut replies = Vec::new();
        for step in &opening {
            client.write_all(step).unwrap();
            replies.push(read_replies(&mut client, 1));
        }
        assert!(replies[0].starts_with(b"%"), "HELLO 3 answers a map: {:?}", String::from_utf8_lossy(&replies[0]));
        assert_eq!(replies[1..], [b"+OK\r\n".to_vec(), b"+OK\r\n".to_vec()]);
        let key = format!("k{i}");
        let key = key.as_bytes();
        client
            .write_all(
                &[command(&[b"SET", key, b"v"]), command(&[b"GET", key]), command(&[b"HGETALL", b"none"])].concat(),
            )
            .unwrap();
        assert_eq!(read_replies(&mut client, 3), b"+OK\r\n$1\r\nv\r\n%0\r\n", "RESP3's empty map");
        clients.push(client);
    }
    // The plain shared connection each client starts on, one for each step of the opening, the watcher's, ours.
    let opened = connected_clients_of(&mut direct);
    assert!(opened <= 6, "{opened} connections for 12 clients");
    let in_db = |db: &str, direct: &mut redis::Connection| -> Option<String> {
        let _: () = redis::cmd("SELECT").arg(db).query(direct).unwrap();
        redis::cmd("GET").arg("k3").query(direct).unwrap()
    };
    assert_eq!(in_db("2", &mut direct), Some("v".to_string()), "the keys went to the database the clients selected");
    assert_eq!(in_db("0", &mut direct), None);

    // A client elsewhere sends its tracking invalidations to the shared connection (found by its name and
    // database): they are pushes no client asked for, dropped, and the clients there carry on.
    let listed: String = redis::cmd("CLIENT").arg("LIST").query(&mut direct).unwrap();
    let shared = listed.lines().find(|line| line.contains(" name=app ") && line.contains(" db=2 ")).expect("listed");
    let id = shared.split(' ').find_map(|field| field.strip_prefix("id=")).unwrap();
    let _: () =
        redis::cmd("CLIENT").arg("TRACKING").arg("on").arg("BCAST").arg("REDIRECT").arg(id).query(&mut direct).unwrap();
    let _: () = redis::cmd("SELECT").arg("2").query(&mut direct).unwrap();
    let _: () = redis::cmd("SET").arg("k5").arg("w").query(&mut direct).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    clients[5].write_all(&command(&[b"GET", b"k5"])).unwrap();
    assert_eq!(read_replies(&mut clients[5], 1), b"$1\r\nw\r\n");
    let _: () = redis::cmd("CLIENT").arg("TRACKING").arg("off").query(&mut direct).unwrap();
    let listed: String = redis::cmd("CLIENT").arg("LIST").query(&mut direct).unwrap();
    assert!(listed.contains(&format!("id={id} ")), "the shared connection is still the one that got the pushes");

    // A transaction needs a connection of its own: it is set up as the client opened (RESP3, database 2).
    let transaction =
        [command(&[b"MULTI"]), command(&[b"GET", b"k0"]), command(&[b"HGETALL", b"none"]), command(&[b"EXEC"])];
    clients[0].write_all(&transaction.concat()).unwrap();
    assert_eq!(read_replies(&mut clients[0], 4), b"+OK\r\n+QUEUED\r\n+QUEUED\r\n*2\r\n$1\r\nv\r\n%0\r\n");
    assert_eq!(connected_clients_of(&mut direct), opened + 1);
    clients[1].write_all(&command(&[b"GET", b"k1"])).unwrap();
    assert_eq!(read_replies(&mut clients[1], 1), b"$1\r\nv\r\n", "the others carry on where they were");

    // Clients that arrive together with one opening wait for one connection set up for it, not one each.
    let before = connected_clients_of(&mut direct);
    let together = std::sync::Barrier::new(17);
    std::thread::scope(|scope| {
        for _ in 0..16 {
            scope.spawn(|| {
                let mut client = connect(&proxy.address);
                client.write_all(&[command(&[b"AUTH", b"s3cret"]), command(&[b"GET", b"k1"])].concat()).unwrap();
                assert_eq!(read_replies(&mut client, 2), b"+OK\r\n$-1\r\n", "database 0 has no k1");
                together.wait();
                together.wait();
            });
        }
        together.wait();
        assert_eq!(connected_clients_of(&mut direct), before + 1);
        together.wait();
    });

    // A wrong password: Redis's own answers, to it and to what follows.
    let script = [command(&[b"HELLO", b"3", b"AUTH", b"default", b"wrong"]), command(&[b"GET", b"k1"])].concat();
    let from_redis = exchange(&format!("127.0.0.1:{}", server.port), &script, 2);
    assert!(from_redis.starts_with(b"-WRONGPASS"), "{}", String::from_utf8_lossy(&from_redis));
    assert_eq!(exchange(&proxy.address, &script, 2), from_redis);
    drop(clients);
    let report = proxy.stop();
    assert_eq!(report["summary"]["writes"], 12);
}

/// Waits up to a few seconds for the server's connections to come to `expected`.
fn until_connected_clients(server: &mut redis::Connection, expected: u64) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let now = connected_clients_of(server);
        if now == expected || Instant::now() > deadline {
            return now;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Set-up commands that fail leave a client as Redis would (a password changed since another client opened
/// with it, a database or a protocol that does not exist), whether the opening is written at once or a byte at
/// a time; a connection set up for an opening closes once no client uses it, and none stays for its steps.
#[test]
fn openings_that_fail_or_end_leave_clients_as_redis_would() {
    let server = RedisServer::start(&["--requirepass", "p1"]);
    let direct_address = format!("127.0.0.1:{}", server.port);
    let mut admin = redis::Client::open(format!("redis://:p1@{direct_address}")).unwrap().get_connection().unwrap();
    let _: () = redis::cmd("SET").arg("secret").arg("s").query(&mut admin).unwrap();
    let proxy = Proxy::start(&format!("redis://:p1@{direct_address}"), &[]);
    let mut first = connect(&proxy.address);
    first.write_all(&[command(&[b"AUTH", b"p1"]), command(&[b"GET", b"secret"])].concat()).unwrap();
    assert_eq!(read_replies(&mut first, 2), b"+OK\r\n$1\r\ns\r\n");

    // The password changes: a client opening with the old one is refused, as by Redis.
    let _: () = redis::cmd("CONFIG").arg("SET").arg("requirepass").arg("p2").query(&mut admin).unwrap();
    let script = [command(&[b"AUTH", b"p1"]), command(&[b"GET", b"secret"])].concat();
    let from_redis = exchange(&direct_address, &script, 2);
    assert!(from_redis.starts_with(b"-WRONGPASS") && from_redis.ends_with(b"-NOAUTH Authentication required.\r\n"));
    assert_eq!(exchange(&proxy.address, &script, 2), from_redis);
    // The first client, still signed in on the shared connection, carries on there; when it needs a connection
    // of its own, one set up with the old password cannot be had: an error says so, rather than a hang.
    first.write_all(&command(&[b"GET", b"secret"])).unwrap();
    assert_eq!(read_replies(&mut first, 1), b"$1\r\ns\r\n");
    first.write_all(&command(&[b"MULTI"])).unwrap();
    let refused = read_replies(&mut first, 1);
    assert!(refused.starts_with(b"-ERR cachescope proxy:"), "{}", String::from_utf8_lossy(&refused));
    assert!(String::from_utf8_lossy(&refused).contains("setting up a connection as the client did failed"));
    drop(first);

    // A database and a protocol that do not exist, then a good opening written a byte at a time.
    let script = [
        command(&[b"AUTH", b"p2"]),
        command(&[b"SELECT", b"99"]),
        command(&[b"HELLO", b"4"]),
        command(&[b"SELECT", b"1"]),
        command(&[b"SET", b"a", b"1"]),
        command(&[b"GET", b"a"]),
    ]
    .concat();
    let from_redis = exchange(&direct_address, &script, 6);
    let mut client = connect(&proxy.address);
    for byte in &script {
        client.write_all(std::slice::from_ref(byte)).unwrap();
    }
    assert_eq!(read_replies(&mut client, 6), from_redis);
    let _: () = redis::cmd("AUTH").arg("p2").query(&mut admin).unwrap();
    let _: () = redis::cmd("SELECT").arg("1").query(&mut admin).unwrap();
    let in_db_1: Option<String> = redis::cmd("GET").arg("a").query(&mut admin).unwrap();
    assert_eq!(in_db_1.as_deref(), Some("1"));

    // (A failed opening got it a connection of its own.) Left: ours, the watcher's, the plain shared one.
    drop(client);
    assert_eq!(until_connected_clients(&mut admin, 3), 3);
    // A client alone on the connection of its opening leaves it for one of its own, replies still owed there:
    // it gets them, then its own connection's.
    let mut alone = connect(&proxy.address);
    alone.write_all(&command(&[b"AUTH", b"p2"])).unwrap();
    assert_eq!(read_replies(&mut alone, 1), b"+OK\r\n");
    let script = [&[&b"SET"[..], b"x", b"1"][..], &[b"GET", b"x"], &[b"MULTI"], &[b"GET", b"x"], &[b"EXEC"]]
        .map(command)
        .concat();
    alone.write_all(&script).unwrap();
    assert_eq!(read_replies(&mut alone, 5), b"+OK\r\n$1\r\n1\r\n+OK\r\n+QUEUED\r\n*1\r\n$1\r\n1\r\n");
    drop(alone);
    assert_eq!(until_connected_clients(&mut admin, 3), 3);
    // One connection is set up for a good opening, none stays for its first step, and it closes once its
    // clients leave.
    let mut client = connect(&proxy.address);
    let opening = [command(&[b"AUTH", b"p2"]), command(&[b"SELECT", b"1"]), command(&[b"GET", b"a"])].concat();
    client.write_all(&opening).unwrap();
    assert_eq!(read_replies(&mut client, 3), b"+OK\r\n+OK\r\n$1\r\n1\r\n");
    assert_eq!(until_connected_clients(&mut admin, 4), 4);
    drop(client);
    assert_eq!(until_connected_clients(&mut admin, 3), 3);
    proxy.stop();
}

#[test]
fn clients_of_stateless_commands_share_an_upstream_connection_until_one_needs_its_own() {
    let server = RedisServer::start(&[]);
    let proxy = Proxy::start(&server.url(), &[]);
    let mut clients: Vec<TcpStream> = (0..20).map(|_| connect(&proxy.address)).collect();
    for (i, client) in clients.iter_mut().enumerate() {
        let key = format!("k{i}");
        client
            .write_all(&[command(&[b"SET", key.as_bytes(), b"v"]), command(&[b"GET", key.as_bytes()])].concat())
            .unwrap();
        assert_eq!(read_replies(client, 2), b"+OK\r\n$1\r\nv\r\n");
    }
    // The shared connection, the proxy's INFO watcher and the INFO asking.
    let shared = connected_clients(&server);
    assert!(shared <= 3, "{shared} connections for 20 clients");
    // SELECT needs a connection of its own: what was pipelined after it goes there too, in order.
    let script = [
        command(&[b"GET", b"k0"]),
        command(&[b"SELECT", b"1"]),
        command(&[b"GET", b"k0"]),
        command(&[b"SET", b"k0", b"in db 1"]),
        command(&[b"GET", b"k0"]),
    ]
    .concat();
    clients[0].write_all(&script).unwrap();
    assert_eq!(read_replies(&mut clients[0], 5), b"$1\r\nv\r\n+OK\r\n$-1\r\n+OK\r\n$7\r\nin db 1\r\n");
    assert_eq!(connected_clients(&server), shared + 1, "the client that selected has a connection of its own");
    clients[1].write_all(&command(&[b"GET", b"k0"])).unwrap();
    assert_eq!(read_replies(&mut clients[1], 1), b"$1\r\nv\r\n", "the others stayed in db 0");
    // A command too big to hold whole streams through a connection of its own.
    clients[2].write_all(&command(&[b"SET", b"big", &vec![b'b'; 3 << 20]])).unwrap();
    assert_eq!(read_replies(&mut clients[2], 1), b"+OK\r\n");
    assert_eq!(connected_clients(&server), shared + 2, "the client of a big value has a connection of its own");
    drop(clients);
    let report = proxy.stop();
    assert_eq!(report["summary"]["writes"], 22);
    assert_eq!(report["summary"]["hits"], 23);

    let server = RedisServer::start(&[]);
    let proxy = Proxy::start(&server.url(), &["--dedicated-upstream"]);
    let mut clients: Vec<TcpStream> = (0..20).map(|_| connect(&proxy.address)).collect();
    for client in &mut clients {
        client.write_all(&command(&[b"PING"])).unwrap();
        assert_eq!(read_replies(client, 1), b"+PONG\r\n");
    }
    assert!(connected_clients(&server) >= 21, "--dedicated-upstream gives each client its own");
    drop(clients);
    proxy.stop();
}

#[test]
fn with_dedicated_upstream_connections_a_client_sees_exactly_what_redis_sends() {
    let (script, replies) = session();
    let direct_server = RedisServer::start(&[]);
    let direct = exchange(&format!("127.0.0.1:{}", direct_server.port), &script, replies);
    let proxied_server = RedisServer::start(&[]);
    let proxy = Proxy::start(&proxied_server.url(), &["--dedicated-upstream"]);
    let proxied = exchange(&proxy.address, &script, replies);
    assert!(proxied == direct, "the bytes differ");
    proxy.stop();
}

#[test]
fn clients_sharing_a_connection_each_get_their_own_replies_whole() {
    each_client_gets_its_own_replies_whole(&[]);
}

/// On two threads, a shared connection's task writes replies to clients whose own tasks run on the other.
#[test]
fn clients_sharing_a_connection_on_two_threads_each_get_their_own_replies_whole() {
    each_client_gets_its_own_replies_whole(&["--threads", "2"]);
}

/// Eight clients on the shared connection, with replies of a few bytes to 200 KB (more than a socket takes at
/// once), through a proxy started with `args`.
fn each_client_gets_its_own_replies_whole(args: &[&str]) {
    let server = RedisServer::start(&[]);
    let proxy = Proxy::start(&server.url(), args);
    let threads: Vec<_> = (0..8)
        .map(|thread| {
            let address = proxy.address.clone();
            std::thread::spawn(move || {
                let mut client = connect(&address);
                for round in 0..150usize {
                    // Values from a few bytes to 200 KB, so that replies span many reads of the shared connection.
                    let size = (round * 7919 + thread * 104_729) % 200_000;
                    let key = format!("t{thread}:{round}");
                    let value = vec![b'a' + (thread as u8); size];
                    let mut script = command(&[b"SET", key.as_bytes(), &value]);
                    script.extend(command(&[b"GET", key.as_bytes()]));
                    script.extend(command(&[b"STRLEN", key.as_bytes()]));
                    client.write_all(&script).unwrap();
                    let expected =
                        [b"+OK\r\n".to_vec(), Frame::Bulk(value).to_bytes(), format!(":{size}\r\n").into_bytes()]
                            .concat();
                    assert!(read_replies(&mut client, 3) == expected, "thread {thread} round {round}: wrong replies");
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().expect("every client got its replies");
    }
    let report = proxy.stop();
    assert_eq!(report["summary"]["writes"], 8 * 150);
}

#[test]
fn when_the_shared_connection_dies_its_clients_get_an_error_and_idle_ones_carry_on() {
    let mut server = RedisServer::start(&[]);
    let proxy = Proxy::start(&server.url(), &[]);
    let mut idle = connect(&proxy.address);
    idle.write_all(&command(&[b"PING"])).unwrap();
    assert_eq!(read_replies(&mut idle, 1), b"+PONG\r\n");
    let mut busy = connect(&proxy.address);
    // A script that never ends holds its reply on the shared connection until the server dies.
    busy.write_all(&command(&[b"EVAL", b"while true do end", b"0"])).unwrap();
    an_error_comes_when_the_server_dies(&mut server, &mut busy);
    // A client with nothing under way when it died goes on, on a new shared connection.
    server.restart();
    idle.write_all(&command(&[b"PING"])).unwrap();
    assert_eq!(read_replies(&mut idle, 1), b"+PONG\r\n");
    proxy.stop();
}

#[test]
fn a_client_that_does_not_read_its_replies_holds_up_no_one_on_the_shared_connection() {
    let server = RedisServer::start(&[]);
    let proxy = Proxy::start(&server.url(), &[]);
    let mut setup = connect(&proxy.address);
    setup.write_all(&command(&[b"SET", b"v", &vec![b'v'; 10_000]])).unwrap();
    assert_eq!(read_replies(&mut setup, 1), b"+OK\r\n");
    // 5,000 GETs of 10 KB, 50 MB of replies it does not read, sent from a thread as the proxy takes them.
    let mut stalled = connect(&proxy.address);
    let mut writer = stalled.try_clone().unwrap();
    let script: Vec<u8> = (0..5_000).flat_map(|_| command(&[b"GET", b"v"])).collect();
    let sending = std::thread::spawn(move || writer.write_all(&script));
    std::thread::sleep(Duration::from_millis(500));
    let started = Instant::now();
    let mut other = connect(&proxy.address);
    for _ in 0..100 {
        other.write_all(&command(&[b"PING"])).unwrap();
        assert_eq!(read_replies(&mut other, 1), b"+PONG\r\n");
    }
    assert!(started.elapsed() < Duration::from_secs(5), "the others waited on the client that does not read");
    // Once it reads, it gets every reply, whole and in order.
    let replies = read_replies(&mut stalled, 5_000);
    assert_eq!(replies.len(), 5_000 * Frame::Bulk(vec![b'v'; 10_000]).to_bytes().len());
    sending.join().unwrap().unwrap();
    proxy.stop();
}
