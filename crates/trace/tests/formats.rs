//! Reading and writing every format through files, as the command line does.

use std::io::Write;
use std::path::{Path, PathBuf};

use cachescope_core::{Command, ErrorKind, FlushScope, InitialState, Outcome, OwnedEvent, TtlChange, WriteCondition};
use cachescope_trace::{Location, TraceError, TraceFormat, TraceHeader, TraceReader, TraceWriter};
use proptest::prelude::*;

/// Events with their keys, to compare what was written with what is read back.
type Owned = OwnedEvent;

fn read_all(path: &Path, format: Option<TraceFormat>) -> Result<Vec<Owned>, TraceError> {
    let mut reader = TraceReader::open(path, format)?;
    let mut events = Vec::new();
    while let Some(event) = reader.next_event()? {
        events.push(OwnedEvent::from(&event));
    }
    Ok(events)
}

fn write_all(path: &Path, format: TraceFormat, header: &TraceHeader, events: &[Owned]) {
    let mut writer = TraceWriter::create(path, format, header).unwrap();
    for event in events {
        writer.write(&event.as_event()).unwrap();
    }
    writer.finish().unwrap();
}

fn file(dir: &tempfile::TempDir, name: &str, content: &[u8]) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::File::create(&path).unwrap().write_all(content).unwrap();
    path
}

fn command() -> impl Strategy<Value = Command> {
    prop_oneof![
        Just(Command::Read),
        Just(Command::Write(WriteCondition::Always)),
        Just(Command::Write(WriteCondition::IfAbsent)),
        Just(Command::Write(WriteCondition::IfPresent)),
        Just(Command::Delete),
        Just(Command::Expire),
        Just(Command::Flush(FlushScope::Db)),
        Just(Command::Flush(FlushScope::All)),
        Just(Command::Flush(FlushScope::Restart)),
        Just(Command::Marker),
        Just(Command::Removed(cachescope_core::Removal::Expired)),
        Just(Command::Removed(cachescope_core::Removal::Evicted)),
    ]
}

fn outcome() -> impl Strategy<Value = Outcome> {
    prop_oneof![
        Just(Outcome::Hit),
        Just(Outcome::Miss),
        Just(Outcome::Ok),
        Just(Outcome::Unobserved),
        proptest::sample::select(ErrorKind::ALL.to_vec()).prop_map(Outcome::Error),
    ]
}

fn ttl() -> impl Strategy<Value = TtlChange> {
    prop_oneof![Just(TtlChange::Keep), Just(TtlChange::Persist), any::<u64>().prop_map(TtlChange::ExpireIn)]
}

/// Events as a format can carry them: keyless commands have no key, the TTL matters for writes and expires
/// only, and times go forward (the compact format codes differences, of either sign).
fn events() -> impl Strategy<Value = Vec<Owned>> {
    proptest::collection::vec(
        (
            any::<u64>(),
            any::<u32>(),
            any::<u32>(),
            command(),
            proptest::collection::vec(any::<u8>(), 0..40),
            outcome(),
            ttl(),
            any::<u32>(),
        ),
        0..40,
    )
    .prop_map(|raw| {
        raw.into_iter()
            .map(|(time, client, db, command, key, outcome, ttl, value_size)| {
                let key = if matches!(command, Command::Flush(_)) { Vec::new() } else { key };
                let ttl = match command {
                    Command::Write(_) | Command::Expire => ttl,
                    _ => TtlChange::Keep,
                };
                Owned { time, client, db, node: 0, command, key, outcome, ttl, value_size }
            })
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn every_event_survives_a_round_trip(events in events(), compressed in any::<bool>(), compact in any::<bool>()) {
        let dir = tempfile::tempdir().unwrap();
        let format = if compact { TraceFormat::CachescopeCompact } else { TraceFormat::Cachescope };
        let path = dir.path().join(if compressed { "trace.zst" } else { "trace" });
        let header = TraceHeader {
            initial_state: InitialState::Unknown,
            cache_capacity: Some(1 << 30),
            source: Some("test".into()),
            read_through: false,
        };
        write_all(&path, format, &header, &events);
        let reader = TraceReader::open(&path, None).unwrap();
        prop_assert_eq!(reader.format(), format);
        prop_assert_eq!(reader.header(), &header);
        prop_assert_eq!(read_all(&path, None).unwrap(), events);
    }

    /// Whatever the bytes, reading ends with events or an error, never a panic.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400), format in 0usize..3, prefix in 0usize..4) {
        let dir = tempfile::tempdir().unwrap();
        let mut content = match prefix {
            0 => b"#cachescope-trace 1\n".to_vec(),
            1 => b"\xC5cstrace\x01\x00".to_vec(),
            2 => b"\xC5cstrace\x02\x00".to_vec(),
            _ => Vec::new(),
        };
        content.extend_from_slice(&bytes);
        let path = file(&dir, "fuzz", &content);
        if let Ok(mut reader) = TraceReader::open(&path, Some(TraceFormat::ALL[format])) {
            for _ in 0..1_000 {
                match reader.next_event() {
                    Ok(Some(_)) => {}
                    Ok(None) => break,
                    Err(error) if error.is_skippable() => {}
                    Err(_) => break,
                }
            }
        }
    }

    /// Readable lines made of plausible words: each parses or names its line.
    #[test]
    fn bad_lines_name_their_line(words in proptest::collection::vec(proptest::sample::select(vec!["1", "x", "read", "write", "user:1", "hit", "ttl=5", "size=", "-", "err:OOM", "%zz", "99999999999999999999999"]), 0..9)) {
        let dir = tempfile::tempdir().unwrap();
        let content = format!("#cachescope-trace 1\n1 0 0 read a hit\n{}\n", words.join(" "));
        let path = file(&dir, "t", content.as_bytes());
        let mut reader = TraceReader::open(&path, None).unwrap();
        reader.next_event().unwrap().unwrap();
        match reader.next_event() {
            Ok(_) => {}
            Err(TraceError::Malformed { location, .. }) => prop_assert_eq!(location, Location::Line(3)),
            Err(other) => prop_assert!(false, "{other}"),
        }
    }
}

#[test]
fn a_bad_line_names_file_line_and_what_was_expected() {
    let dir = tempfile::tempdir().unwrap();
    let path = file(
        &dir,
        "trace.txt",
        b"#cachescope-trace 1\n#initial-state empty\n10 1 0 read a hit\n11 1 0 read a hti\n12 1 0 read a miss\n",
    );
    let mut reader = TraceReader::open(&path, None).unwrap();
    assert!(reader.next_event().unwrap().is_some());
    let error = reader.next_event().unwrap_err();
    assert_eq!(
        error.to_string(),
        format!("{}:4: expected an outcome (hit, miss, ok, err:KIND or -), found \"hti\"", path.display())
    );
    assert!(error.is_skippable());
    let next = reader.next_event().unwrap().unwrap();
    assert_eq!((next.time, next.outcome), (12, Outcome::Miss), "reading goes on after a bad line");
}

#[test]
fn twitter_csv() {
    let dir = tempfile::tempdir().unwrap();
    let path = file(
        &dir,
        "cluster.csv",
        b"0,q:1,3,100,7,get,0\n1,q:1,3,100,7,set,60\n2,key,with,commas,3,50,8,add,0\n3,k,1,0,9,delete,0\n",
    );
    let reader = TraceReader::open(&path, None).unwrap();
    assert_eq!(reader.format(), TraceFormat::TwitterCsv);
    let events = read_all(&path, None).unwrap();
    assert_eq!(events.len(), 4);
    assert_eq!((events[0].command, events[0].outcome, events[0].client), (Command::Read, Outcome::Unobserved, 7));
    assert_eq!((events[1].time, events[1].ttl, events[1].value_size), (1_000_000, TtlChange::ExpireIn(60_000), 100));
    assert_eq!(events[2].key, b"key,with,commas");
    assert_eq!(events[2].command, Command::Write(WriteCondition::IfAbsent));
    assert_eq!(events[3].command, Command::Delete);

    let bad = file(&dir, "bad.csv", b"0,q:1,3,100,7,get,0\n1,q:1,3,100,7,fetch,0\n");
    let mut reader = TraceReader::open(&bad, None).unwrap();
    reader.next_event().unwrap();
    let error = reader.next_event().unwrap_err().to_string();
    assert!(error.contains("bad.csv:2: expected an operation (get, gets, set"), "{error}");
}

#[test]
fn twitter_csv_with_a_header_row_and_key_sizes() {
    let dir = tempfile::tempdir().unwrap();
    let path = file(
        &dir,
        "with-header.csv",
        b"timestamp,key,key_size,value_size,client_id,operation,ttl\n0,k1,40,100,7,get,0\n",
    );
    let reader = TraceReader::open(&path, None).unwrap();
    assert_eq!(reader.format(), TraceFormat::TwitterCsv, "a header row does not hide the format");
    let events = read_all(&path, None).unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].key.len() as u32 + events[0].value_size, 140, "the object takes key size plus value size");
}

#[test]
fn compressed_twitter_csv_is_read_directly() {
    let dir = tempfile::tempdir().unwrap();
    let compressed = zstd::encode_all(&b"0,q:1,3,100,7,get,0\n1,q:2,3,100,7,set,0\n"[..], 3).unwrap();
    let path = file(&dir, "cluster.csv.zst", &compressed);
    let reader = TraceReader::open(&path, None).unwrap();
    assert!(reader.is_compressed());
    assert_eq!(read_all(&path, None).unwrap().len(), 2);
}

#[test]
fn unknown_and_empty_files_say_so() {
    let dir = tempfile::tempdir().unwrap();
    let path = file(&dir, "notes.txt", b"hello world\n");
    let error = TraceReader::open(&path, None).err().unwrap().to_string();
    assert!(
        error.contains("cannot tell its format") && error.contains("\"hello world\"") && error.contains("--format"),
        "{error}"
    );
    let empty = file(&dir, "empty", b"");
    assert!(TraceReader::open(&empty, None).err().unwrap().to_string().contains("it is empty"));
    // A CSV whose header names its columns gets the flags that read it, and they do.
    let with_header = file(&dir, "blocks.csv", b"timestamp,obj_id,obj_size\n1,42,512\n2,43,512\n");
    let error = TraceReader::open(&with_header, None).err().unwrap().to_string();
    assert!(error.ends_with("read it with --format csv --csv-columns key=2,time=1,size=3"), "{error}");
    let columns: cachescope_trace::Columns = "key=2,time=1,size=3".parse().unwrap();
    let mut reader = TraceReader::open_with_columns(&with_header, Some(TraceFormat::Csv), Some(columns)).unwrap();
    let mut keys = Vec::new();
    while let Some(event) = reader.next_event().unwrap() {
        keys.push(String::from_utf8_lossy(event.key).into_owned());
    }
    assert_eq!(keys, ["42", "43"]);
    let missing = dir.path().join("missing");
    assert!(matches!(TraceReader::open(&missing, None), Err(TraceError::Io { .. })));
}

#[test]
fn an_empty_trace_has_no_events() {
    let dir = tempfile::tempdir().unwrap();
    let path = file(&dir, "empty.trace", b"#cachescope-trace 1\n");
    assert!(read_all(&path, None).unwrap().is_empty());
}

#[test]
fn a_truncated_compact_trace_names_the_byte() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.bin");
    let events = vec![
        Owned {
            time: 5,
            client: 1,
            db: 0,
            node: 0,
            command: Command::Read,
            key: b"user:1".to_vec(),
            outcome: Outcome::Hit,
            ttl: TtlChange::Keep,
            value_size: 0
        };
        3
    ];
    write_all(&path, TraceFormat::CachescopeCompact, &TraceHeader::default(), &events);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.truncate(bytes.len() - 3);
    std::fs::write(&path, &bytes).unwrap();
    let error = read_all(&path, None).unwrap_err();
    assert!(matches!(error, TraceError::Malformed { location: Location::Offset(_), .. }), "{error}");
    assert!(error.to_string().contains("the file ends inside"), "{error}");
    assert!(error.is_cut_short(), "{error}");
    // The same file compressed and cut inside its compressed frame.
    let compressed = dir.path().join("t.bin.zst");
    write_all(&compressed, TraceFormat::CachescopeCompact, &TraceHeader::default(), &events);
    let mut bytes = std::fs::read(&compressed).unwrap();
    bytes.truncate(bytes.len() - 3);
    std::fs::write(&compressed, &bytes).unwrap();
    let error = read_all(&compressed, None).unwrap_err();
    assert!(error.is_cut_short(), "{error}");
    assert!(
        !TraceError::Malformed {
            path: path.clone(),
            location: Location::Offset(0),
            expected: "a record tag".into(),
            found: "x".into(),
            cut_short: false
        }
        .is_cut_short()
    );
}

/// Reads every batch of `path`: the events, then the error that ended them, if any.
fn read_batches(path: &Path) -> (Vec<Owned>, Option<TraceError>) {
    let mut reader = TraceReader::open(path, None).unwrap();
    let mut events = Vec::new();
    loop {
        match reader.next_batch() {
            Ok(batch) if batch.is_empty() => return (events, None),
            Ok(batch) => events.extend(batch.iter().map(|event| OwnedEvent::from(&event))),
            Err(error) => return (events, Some(error)),
        }
    }
}

/// Reads event by event: the events, then the error that ended them, if any.
fn read_events(path: &Path) -> (Vec<Owned>, Option<TraceError>) {
    let mut reader = TraceReader::open(path, None).unwrap();
    let mut events = Vec::new();
    loop {
        match reader.next_event() {
            Ok(Some(event)) => events.push(OwnedEvent::from(&event)),
            Ok(None) => return (events, None),
            Err(error) => return (events, Some(error)),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// libCacheSim's oracleGeneral records, more than a batch holds, read a batch at a time and one at a time,
    /// give the same events, each as its record says; a file that ends inside a record gives the whole records'
    /// events, then an error naming where the cut record starts.
    #[test]
    fn oracle_general_records_read_alike_in_batches_and_one_by_one(
        records in proptest::collection::vec((any::<u32>(), any::<u64>(), any::<u32>(), any::<i64>()), 0..6_000),
        cut in 0usize..24,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let mut bytes = Vec::with_capacity(records.len() * 24 + cut);
        for (time, id, size, next) in &records {
            bytes.extend_from_slice(&time.to_le_bytes());
            bytes.extend_from_slice(&id.to_le_bytes());
            bytes.extend_from_slice(&size.to_le_bytes());
            bytes.extend_from_slice(&next.to_le_bytes());
        }
        bytes.extend(std::iter::repeat_n(7u8, cut));
        let path = file(&dir, "t.oracleGeneral.bin", &bytes);
        let expected: Vec<Owned> = records
            .iter()
            .map(|&(time, id, size, _)| {
                let key = id.to_string().into_bytes();
                Owned {
                    time: u64::from(time) * 1_000_000,
                    client: 0,
                    db: 0,
                    node: 0,
                    command: Command::Read,
                    value_size: size.saturating_sub(key.len() as u32),
                    key,
                    outcome: Outcome::Unobserved,
                    ttl: TtlChange::Keep,
                }
            })
            .collect();
        for (events, error) in [read_batches(&path), read_events(&path)] {
            prop_assert_eq!(&events, &expected);
            match error {
                None => prop_assert_eq!(cut, 0),
                Some(TraceError::Malformed { location: Location::Offset(at), found, .. }) => {
                    prop_assert_eq!(at, records.len() as u64 * 24);
                    prop_assert_eq!(found, format!("{cut} bytes"));
                }
                Some(other) => prop_assert!(false, "unexpected error: {other}"),
            }
        }
    }
}

/// Reads the whole of `path` a batch at a time, going on past malformed lines as `--skip-bad-lines` does: the
/// events, and each error where it came.
fn read_batches_skipping(path: &Path) -> Vec<Result<Owned, String>> {
    // Named: a first line malformed hides the format from its detection.
    let mut reader = TraceReader::open(path, Some(TraceFormat::TwitterCsv)).unwrap();
    let mut read = Vec::new();
    loop {
        match reader.next_batch() {
            Ok(batch) if batch.is_empty() => return read,
            Ok(batch) => read.extend(batch.iter().map(|event| Ok(OwnedEvent::from(&event)))),
            Err(error) if error.is_skippable() => read.push(Err(error.to_string())),
            Err(error) => panic!("{error}"),
        }
    }
}

/// The same, an event at a time.
fn read_events_skipping(path: &Path) -> Vec<Result<Owned, String>> {
    let mut reader = TraceReader::open(path, Some(TraceFormat::TwitterCsv)).unwrap();
    let mut read = Vec::new();
    loop {
        match reader.next_event() {
            Ok(Some(event)) => read.push(Ok(OwnedEvent::from(&event))),
            Ok(None) => return read,
            Err(error) if error.is_skippable() => read.push(Err(error.to_string())),
            Err(error) => panic!("{error}"),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Twitter's CSV, more lines than a batch holds and malformed lines anywhere (first, last, several in a row),
    /// read a batch at a time and one at a time, gives the same events and the same errors in the same places,
    /// each error naming its line.
    #[test]
    fn twitter_csv_reads_alike_in_batches_and_one_by_one(
        lines in proptest::collection::vec(
            (any::<u32>(), "[a-z:0-9,]{0,12}", 0u32..5000, 0u32..100, 0usize..4, 0u32..1000, proptest::bool::weighted(0.02)),
            0..1_200,
        ),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let mut text = String::new();
        let mut bad_lines = Vec::new();
        for (number, (time, key, size, client, op, ttl, bad)) in lines.iter().enumerate() {
            let op = if *bad { "fetch" } else { ["get", "set", "add", "delete"][*op] };
            text.push_str(&format!("{time},k{key},{},{size},{client},{op},{ttl}\n", key.len() + 1));
            if *bad {
                bad_lines.push(number + 1);
            }
        }
        let path = file(&dir, "t.csv", text.as_bytes());
        let batches = read_batches_skipping(&path);
        prop_assert_eq!(&batches, &read_events_skipping(&path));
        prop_assert_eq!(batches.len(), lines.len());
        let errors: Vec<usize> = batches.iter().enumerate().filter(|(_, read)| read.is_err()).map(|(at, _)| at + 1).collect();
        prop_assert_eq!(&errors, &bad_lines);
        for (at, read) in batches.iter().enumerate() {
            if let Err(error) = read {
                prop_assert!(error.contains(&format!("t.csv:{}: expected an operation", at + 1)), "{}", error);
            }
        }
    }
}

/// Writes `events` in the compact format: in blocks closed at `block_bytes`, or version 1 without blocks.
fn write_compact(path: &Path, events: &[Owned], block_bytes: Option<usize>, compressed: bool) {
    use cachescope_trace::compact::CompactWriter;
    let file = std::fs::File::create(path).unwrap();
    let header = TraceHeader::default();
    if compressed {
        let mut writer =
            CompactWriter::with_blocks(zstd::Encoder::new(file, 3).unwrap(), &header, block_bytes).unwrap();
        events.iter().for_each(|event| writer.write(&event.as_event()).unwrap());
        writer.finish().unwrap().finish().unwrap();
    } else {
        let mut writer = CompactWriter::with_blocks(file, &header, block_bytes).unwrap();
        events.iter().for_each(|event| writer.write(&event.as_event()).unwrap());
        writer.finish().unwrap();
    }
}

/// Reads block by block, as threads do: each block decoded, and each record decoded again from its place. The
/// events, then the error that ended them, if any.
fn read_blocks(path: &Path) -> (Vec<Owned>, Option<TraceError>) {
    let mut reader = TraceReader::open(path, None).unwrap();
    assert!(reader.has_blocks());
    let mut events = Vec::new();
    let mut block = cachescope_trace::Block::default();
    loop {
        match reader.next_block(&mut block) {
            Ok(true) => {}
            Ok(false) => return (events, None),
            Err(error) => return (events, Some(error)),
        }
        let mut decoded = Vec::new();
        if let Err(error) = block.decode_each(|at, event| decoded.push((at, OwnedEvent::from(&event)))) {
            return (events, Some(error));
        }
        for (at, event) in decoded {
            let again = block.event_at(at, event.time).expect("a record starts there");
            assert_eq!(OwnedEvent::from(&again), event, "decoded again at {at}");
            events.push(event);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Both versions, any block size, compressed or not: every way of reading gives the events written.
    #[test]
    fn compact_versions_and_blocks_read_alike(
        events in events(),
        block_bytes in prop_oneof![Just(None), (1usize..300).prop_map(Some)],
        compressed in any::<bool>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.cst");
        write_compact(&path, &events, block_bytes, compressed);
        prop_assert_eq!(TraceReader::open(&path, None).unwrap().has_blocks(), block_bytes.is_some());
        prop_assert_eq!(read_all(&path, None).unwrap(), events.clone());
        let (batched, error) = read_batches(&path);
        prop_assert!(error.is_none(), "{:?}", error);
        prop_assert_eq!(&batched, &events);
        if block_bytes.is_some() {
            let (blocks, error) = read_blocks(&path);
            prop_assert!(error.is_none(), "{:?}", error);
            prop_assert_eq!(blocks, events);
        }
    }

    /// A blocked trace cut short or with a byte changed: every way of reading gives the same events before the
    /// same kind of end (whole blocks only, read block by block), and never panics.
    #[test]
    fn a_damaged_blocked_trace_reads_alike_every_way(
        events in events(),
        block_bytes in 1usize..200,
        cut in any::<proptest::sample::Index>(),
        damage in proptest::option::of((any::<proptest::sample::Index>(), any::<u8>())),
        compressed in any::<bool>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let whole = dir.path().join("whole.cst");
        write_compact(&whole, &events, Some(block_bytes), false);
        let mut bytes = std::fs::read(&whole).unwrap();
        let header_end = 9 + 1 + bytes[9] as usize;
        if let Some((at, byte)) = damage {
            let at = header_end + at.index(bytes.len() - header_end + 1);
            if at < bytes.len() {
                bytes[at] = byte;
            }
        }
        bytes.truncate(header_end + cut.index(bytes.len() - header_end + 1));
        let path = dir.path().join("damaged.cst");
        if compressed {
            std::fs::write(&path, zstd::encode_all(&bytes[..], 3).unwrap()).unwrap();
        } else {
            std::fs::write(&path, &bytes).unwrap();
        }
        let (one_by_one, error) = read_events(&path);
        let (batched, batch_error) = read_batches(&path);
        prop_assert_eq!(&batched, &one_by_one);
        prop_assert_eq!(error.is_some(), batch_error.is_some());
        let (blocks, block_error) = read_blocks(&path);
        prop_assert_eq!(block_error.is_some(), error.is_some());
        prop_assert!(one_by_one.starts_with(&blocks), "blocks give whole blocks of the same events");
        if damage.is_none() {
            // Only cut short: every way gives the events of the whole blocks before the cut, and says it was cut.
            prop_assert_eq!(&blocks, &one_by_one);
            prop_assert!(one_by_one.len() <= events.len());
            for error in [&error, &batch_error, &block_error].into_iter().flatten() {
                prop_assert!(error.is_cut_short(), "{}", error);
            }
        }
        for error in [error, batch_error, block_error].into_iter().flatten() {
            prop_assert!(matches!(error, TraceError::Malformed { location: Location::Offset(_), .. }), "{}", error);
        }
    }
}

#[test]
fn a_compact_trace_of_a_later_version_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let path = file(&dir, "later.cst", b"\xC5cstrace\x03\x00");
    let error = TraceReader::open(&path, None).err().expect("version 3 is refused");
    assert!(error.to_string().contains("a newer cachescope wrote this one"), "{error}");
}
