//! The scanners against the reference decoder, on generated streams cut at random places.

use cachescope_resp::frame::Frame;
use cachescope_resp::{KEPT_ARGUMENT, KEPT_TEXT, Reply, ReplyScanner, Request, RequestScanner, Value};
use proptest::prelude::*;

fn leaf() -> impl Strategy<Value = Frame> {
    let bytes = || proptest::collection::vec(any::<u8>(), 0..40);
    let line =
        || proptest::collection::vec(any::<u8>().prop_filter("no CR or LF", |b| *b != b'\r' && *b != b'\n'), 0..20);
    prop_oneof![
        line().prop_map(Frame::Simple),
        line().prop_map(Frame::Error),
        any::<i64>().prop_map(Frame::Integer),
        bytes().prop_map(Frame::Bulk),
        Just(Frame::NullBulk),
        Just(Frame::NullArray),
        Just(Frame::Null),
        any::<bool>().prop_map(Frame::Boolean),
        any::<f64>().prop_map(|d| Frame::Double(format!("{d}").into_bytes())),
        any::<i128>().prop_map(|n| Frame::BigNumber(n.to_string().into_bytes())),
        bytes().prop_map(Frame::BulkError),
        bytes().prop_map(|b| Frame::Verbatim([b"txt:".to_vec(), b].concat())),
    ]
}

fn frame() -> impl Strategy<Value = Frame> {
    leaf().prop_recursive(3, 40, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Frame::Array),
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Frame::Set),
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Frame::Push),
            proptest::collection::vec((inner.clone(), inner.clone()), 0..4).prop_map(Frame::Map),
            (proptest::collection::vec((inner.clone(), inner.clone()), 0..3), inner)
                .prop_map(|(attributes, value)| Frame::Attribute(attributes, Box::new(value))),
        ]
    })
}

/// What the reply scanner should say of a frame.
fn summary(frame: &Frame) -> Value {
    let cut = |b: &Vec<u8>| b[..b.len().min(KEPT_TEXT)].to_vec();
    match frame {
        Frame::Simple(s) => Value::Simple(cut(s)),
        Frame::Error(s) => Value::Error(cut(s)),
        Frame::Integer(n) => Value::Integer(*n),
        Frame::Bulk(b) | Frame::Verbatim(b) => Value::Bulk(b.len()),
        Frame::BulkError(_) => Value::Error(Vec::new()),
        Frame::NullBulk | Frame::NullArray | Frame::Null => Value::Null,
        Frame::Boolean(b) => Value::Boolean(*b),
        Frame::Double(d) | Frame::BigNumber(d) => Value::Number(cut(d)),
        Frame::Array(items) | Frame::Set(items) | Frame::Push(items) => Value::Aggregate(items.len()),
        Frame::Map(pairs) => Value::Aggregate(pairs.len() * 2),
        Frame::Attribute(_, value) => summary(value),
    }
}

fn elements(frame: &Frame) -> Vec<Value> {
    match frame {
        Frame::Array(items) | Frame::Set(items) | Frame::Push(items) => items.iter().map(summary).collect(),
        Frame::Map(pairs) => pairs.iter().flat_map(|(k, v)| [summary(k), summary(v)]).collect(),
        Frame::Attribute(_, value) => elements(value),
        _ => Vec::new(),
    }
}

/// Whether the frame is a push, attributes aside.
fn is_push(frame: &Frame) -> bool {
    match frame {
        Frame::Push(_) => true,
        Frame::Attribute(_, value) => is_push(value),
        _ => false,
    }
}

/// Feeds `bytes` to a scanner in pieces cut at `cuts` (positions taken modulo the length).
fn pieces(bytes: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
    let mut at: Vec<usize> = cuts.iter().map(|c| if bytes.is_empty() { 0 } else { c % bytes.len() }).collect();
    at.push(0);
    at.push(bytes.len());
    at.sort_unstable();
    at.dedup();
    at.windows(2).map(|w| bytes[w[0]..w[1]].to_vec()).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn well_formed_frames_reencode_to_the_same_bytes(frame in frame()) {
        let bytes = frame.to_bytes();
        let (decoded, used) = Frame::parse(&bytes).unwrap().expect("complete");
        prop_assert_eq!(used, bytes.len());
        prop_assert_eq!(decoded.to_bytes(), bytes.clone());
        prop_assert!(Frame::parse(&bytes[..bytes.len() - 1]).unwrap().is_none(), "a cut frame is incomplete");
    }

    #[test]
    fn the_reply_scanner_agrees_with_the_decoder(frames in proptest::collection::vec(frame(), 1..8), cuts in proptest::collection::vec(any::<usize>(), 0..12)) {
        let stream: Vec<u8> = frames.iter().flat_map(|f| f.to_bytes()).collect();
        let mut scanner = ReplyScanner::default();
        let mut replies: Vec<Reply> = Vec::new();
        for piece in pieces(&stream, &cuts) {
            scanner.feed(&piece, &mut replies).unwrap();
        }
        prop_assert!(scanner.at_boundary());
        prop_assert_eq!(replies.len(), frames.len());
        for (reply, frame) in replies.iter().zip(&frames) {
            prop_assert_eq!(&reply.value, &summary(frame));
            prop_assert_eq!(&reply.elements, &elements(frame));
            prop_assert_eq!(reply.push, is_push(frame));
            prop_assert_eq!(reply.bytes, frame.to_bytes().len() as u64);
        }
    }

    #[test]
    fn the_request_scanner_keeps_short_arguments_and_counts_long_ones(
        commands in proptest::collection::vec(proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..30), 1..6), 1..6),
        big in 0usize..2,
        cuts in proptest::collection::vec(any::<usize>(), 0..12),
    ) {
        let mut commands = commands;
        if big == 1 {
            commands[0].push(vec![7u8; KEPT_ARGUMENT + 10]);
        }
        let stream: Vec<u8> = commands
            .iter()
            .flat_map(|args| Frame::command(&args.iter().map(|a| &a[..]).collect::<Vec<_>>()).to_bytes())
            .collect();
        let mut scanner = RequestScanner::default();
        let mut requests: Vec<Request> = Vec::new();
        for piece in pieces(&stream, &cuts) {
            scanner.feed(&piece, &mut requests).unwrap();
        }
        prop_assert_eq!(requests.len(), commands.len());
        for (request, args) in requests.iter().zip(&commands) {
            prop_assert_eq!(request.args.len(), args.len());
            for (argument, expected) in request.args.iter().zip(args) {
                prop_assert_eq!(argument.len, expected.len());
                if expected.len() <= KEPT_ARGUMENT {
                    prop_assert_eq!(&argument.bytes, expected);
                } else {
                    prop_assert!(!argument.kept());
                }
            }
        }
    }

    /// Where each request ends in the stream can be told from the sizes: they add up to the bytes sent, empty
    /// requests (which Redis ignores) counted with the request after them. The proxy frames commands by them.
    #[test]
    fn request_sizes_add_up_to_the_stream(
        commands in proptest::collection::vec((proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..20), 1..4), 0usize..4), 1..8),
        cuts in proptest::collection::vec(any::<usize>(), 0..12),
    ) {
        let empties: [&[u8]; 4] = [b"", b"*0\r\n", b"\r\n", b"*-1\r\n*0\r\n"];
        let mut stream = Vec::new();
        let mut ends = Vec::new();
        for (args, empty) in &commands {
            stream.extend_from_slice(empties[*empty]);
            stream.extend(Frame::command(&args.iter().map(|a| &a[..]).collect::<Vec<_>>()).to_bytes());
            ends.push(stream.len() as u64);
        }
        let mut scanner = RequestScanner::default();
        let mut requests: Vec<Request> = Vec::new();
        for piece in pieces(&stream, &cuts) {
            scanner.feed(&piece, &mut requests).unwrap();
        }
        let found: Vec<u64> = requests.iter().scan(0, |end, r| { *end += r.bytes; Some(*end) }).collect();
        prop_assert_eq!(found, ends);
    }

    /// Whatever the bytes, in whatever pieces: no panic.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300), cuts in proptest::collection::vec(any::<usize>(), 0..8), prefix in 0usize..4) {
        let prefixes: [&[u8]; 4] = [b"", b"*2\r\n", b"$3\r\n", b"%1\r\n"];
        let stream = [prefixes[prefix], &bytes].concat();
        let (mut replies, mut requests) = (ReplyScanner::default(), RequestScanner::default());
        let (mut r, mut q) = (Vec::new(), Vec::new());
        for piece in pieces(&stream, &cuts) {
            let _ = replies.feed(&piece, &mut r);
            let _ = requests.feed(&piece, &mut q);
        }
        let _ = Frame::parse(&stream);
    }
}

#[test]
fn inline_commands() {
    let mut scanner = RequestScanner::default();
    let mut requests = Vec::new();
    scanner.feed(b"PING\r\nGET  user:1\n\r\n", &mut requests).unwrap();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[1].name(), b"GET");
    assert_eq!(requests[1].arg(1), Some(&b"user:1"[..]));
}

#[test]
fn a_large_value_is_counted_not_held() {
    let mut scanner = ReplyScanner::default();
    let mut replies = Vec::new();
    let size = 100 << 20;
    scanner.feed(format!("${size}\r\n").as_bytes(), &mut replies).unwrap();
    let chunk = vec![b'x'; 1 << 20];
    for _ in 0..100 {
        scanner.feed(&chunk, &mut replies).unwrap();
    }
    assert!(replies.is_empty());
    scanner.feed(b"\r\n", &mut replies).unwrap();
    assert_eq!(replies[0].value, Value::Bulk(size));
}

#[test]
fn garbage_is_an_error_and_stays_one() {
    let mut scanner = ReplyScanner::default();
    let mut replies = Vec::new();
    assert!(scanner.feed(b"?what\r\n", &mut replies).is_err());
    assert!(scanner.feed(b"+OK\r\n", &mut replies).is_err());
    assert!(replies.is_empty());
}
