//! Pipelining and segmentation: many requests (uploads with tricky payloads,
//! dialogues, bad and over-long lines) in one chunk give the same events and
//! the same transmitted bytes as one byte at a time or any random split;
//! replies leave in request order. The same for a client reading a stream of
//! replies.
#![allow(clippy::unwrap_used)]

mod common;

use bucket_proto::{
    FileEntry, Reply, ReplyCode, Request, ServerEvent, ServerSession, Verb, encode,
};
use common::strategies::{self, split_points};
use common::*;
use proptest::prelude::*;

/// A long pipelined session, and the reply heads it must produce.
fn fixed_script() -> (Vec<u8>, Vec<&'static str>) {
    let mut input = Vec::new();
    input.extend_from_slice(b"HELLO\n");
    input.extend_from_slice(b"CREATE_B photos\r\n");
    input.extend_from_slice(b"UPLOAD photos a.txt 17\nline1\nHELLO\nQUIT\n");
    input.extend_from_slice(b"UPLOAD\nphotos\n\"b c.txt\"\n4\n\n\n\r\n");
    input.extend_from_slice(b"FOO bar\n");
    input.extend_from_slice(&[b'x'; 5000]);
    input.extend_from_slice(b"\n");
    input.extend_from_slice(b"\n");
    input.extend_from_slice(b"UPLOAD ../x f 6\nHELLO\n");
    input.extend_from_slice(b"LIST_B\n");
    input.extend_from_slice(b"DOWNLOAD photos a.txt\n");
    input.extend_from_slice(b"CODES\n");
    input.extend_from_slice(b"HELP upload\n");
    input.extend_from_slice(b"\xff\xfe\n");
    input.extend_from_slice(b"LIST_F\n");
    input.extend_from_slice(b"DELETE_F photos a.txt\n");
    input.extend_from_slice(b"UPLOAD_FILE,photos,empty,0\n");
    input.extend_from_slice(b"DELETE_B photos\n");
    input.extend_from_slice(b"QUIT\n");
    input.extend_from_slice(b"HELLO\n"); // after QUIT: never read
    let heads = vec![
        "100 OK",
        "300 BCS",
        "700 FUBS",
        "150 NEED bucket",
        "150 NEED name",
        "150 NEED size",
        "700 FUBS",
        "500 BCMD UNKNOWN_VERB",
        "500 BCMD LINE_TOO_LONG",
        "701 FUBF BAD_NAME",
        "400 LS",
        "900 FDBS",
        "220 CODES",
        "210 HELP",
        "500 BCMD SYNTAX",
        "800 LFS",
        "1000 DFS",
        "700 FUBS",
        "600 DBS",
        "200 BYE",
    ];
    (input, heads)
}

#[test]
fn fixed_pipeline_whole_and_byte_by_byte() {
    let (input, heads) = fixed_script();
    let whole = run_server_whole(&input);
    assert_eq!(whole.reply_heads(), heads);
    // The uploads' payloads came through intact, LFs and all.
    let payloads: Vec<&[u8]> = whole
        .events
        .iter()
        .filter_map(|e| match e {
            SEv::Payload(p) => Some(p.as_slice()),
            _ => None,
        })
        .collect();
    assert_eq!(payloads, [&b"line1\nHELLO\nQUIT\n"[..], b"\n\n\r\n"]);
    assert_eq!(
        whole.requests(),
        [
            Request::Hello,
            Request::CreateBucket {
                bucket: bucket("photos")
            },
            upload("photos", "a.txt", 17),
            upload("photos", "b c.txt", 4),
            Request::ListBuckets,
            download("photos", "a.txt"),
            Request::Codes,
            Request::Help {
                topic: Some(Verb::Upload)
            },
            Request::ListFiles { bucket: None },
            Request::DeleteFile {
                bucket: bucket("photos"),
                name: file("a.txt")
            },
            upload("photos", "empty", 0),
            Request::DeleteBucket {
                bucket: bucket("photos")
            },
            Request::Quit,
        ]
    );
    assert_eq!(whole.events.last(), Some(&SEv::Closed));
    // The download's payload sits right after its header in the output.
    let text = whole.tx_text();
    assert!(text.contains(&format!(
        "900 FDBS 5\n{}220 CODES",
        String::from_utf8(pattern(5)).unwrap()
    )));

    let bytewise = run_server_bytewise(&input);
    assert_eq!(bytewise, whole);
    let chunks: Vec<&[u8]> = input.chunks(1).collect();
    assert_eq!(run_server_direct(&chunks, false, 0), whole);
    assert_eq!(run_server_direct(&[&input], false, 0), whole);
    let chunks: Vec<&[u8]> = input.chunks(1000).collect();
    assert_eq!(run_server_direct(&chunks, false, 64 * 1024), whole);
    for size in [2, 3, 7, 64, 4095, 4096, 4097] {
        let chunks: Vec<&[u8]> = input.chunks(size).collect();
        assert_eq!(run_server(&chunks, false), whole, "chunks of {size}");
    }
}

#[test]
fn zero_copy_receive_mixes_with_receive() {
    // Bytes given either way land in order, whatever was buffered before.
    let mut server = ServerSession::default();
    server.receive(b"HEL");
    server_receive_direct(&mut server, b"LO\nUPLOAD b f 6\nab", 10);
    server.receive(b"c");
    server_receive_direct(&mut server, b"def", 0);
    server.receive(b"LIST_B\n");
    let mut events = Vec::new();
    let mut current = None;
    pump_server(&mut server, &mut default_answer, &mut events, &mut current);
    assert_eq!(
        events,
        [
            SEv::Request(Request::Hello),
            SEv::Request(upload("b", "f", 6)),
            SEv::Payload(b"abcdef".to_vec()),
            SEv::PayloadEnd,
            SEv::Request(Request::ListBuckets),
        ]
    );
    // Asking for room and committing nothing receives nothing.
    let _ = server.receive_buffer(100);
    server.commit_received(0);
    assert_eq!(server.buffered(), 0);
    assert_eq!(server.poll_event(), None);
    // A committed part of the room is all that is received.
    let room = server.receive_buffer(64);
    room[..7].copy_from_slice(b"CODES\nX");
    server.commit_received(6);
    assert_eq!(server.buffered(), 6);
    assert_eq!(
        server.poll_event(),
        Some(ServerEvent::RequestReceived(Request::Codes))
    );
    // Once closed, committed bytes are ignored.
    server.send_reply(&Reply::code_table()).unwrap();
    server.receive(b"QUIT\n");
    assert!(matches!(
        server.poll_event(),
        Some(ServerEvent::RequestReceived(Request::Quit))
    ));
    server.send_reply(&Reply::Bye).unwrap();
    assert!(server.is_closed());
    let room = server.receive_buffer(6);
    room[..6].copy_from_slice(b"HELLO\n");
    server.commit_received(6);
    assert_eq!(server.poll_event(), Some(ServerEvent::Closed));
}

#[test]
fn the_server_hands_out_one_request_at_a_time() {
    let mut server = ServerSession::default();
    server.receive(b"HELLO\nLIST_B\nCREATE_B x\n");
    assert_eq!(
        server.poll_event(),
        Some(ServerEvent::RequestReceived(Request::Hello))
    );
    // Until HELLO is answered nothing else comes out, however much is
    // buffered.
    assert_eq!(server.poll_event(), None);
    assert_eq!(server.poll_event(), None);
    assert_eq!(server.buffered(), "LIST_B\nCREATE_B x\n".len());
    server
        .send_reply(&Reply::Hello { server: "s".into() })
        .unwrap();
    assert_eq!(
        server.poll_event(),
        Some(ServerEvent::RequestReceived(Request::ListBuckets))
    );
    server
        .send_reply(&Reply::Buckets { buckets: vec![] })
        .unwrap();
    assert!(matches!(
        server.poll_event(),
        Some(ServerEvent::RequestReceived(Request::CreateBucket { .. }))
    ));
    server
        .send_reply(&Reply::success(Verb::CreateBucket).unwrap())
        .unwrap();
    assert_eq!(server.poll_event(), None);
    let mut tx = Vec::new();
    server.poll_transmit(&mut tx);
    assert_eq!(tx, b"100 OK BKT/1 s\n400 LS 0\n300 BCS\n");
}

#[test]
fn a_pair_with_many_pipelined_requests_answers_in_order() {
    let requests = vec![
        Request::Hello,
        Request::CreateBucket {
            bucket: bucket("b"),
        },
        upload("b", "x y", 3),
        Request::ListFiles {
            bucket: Some(bucket("b")),
        },
        download("b", "x y"),
        Request::Codes,
        upload("b", "z", 0),
        Request::Help { topic: None },
        Request::ListBuckets,
        Request::DeleteFile {
            bucket: bucket("b"),
            name: file("x y"),
        },
        Request::DeleteBucket {
            bucket: bucket("b"),
        },
        Request::Quit,
    ];
    let payload = |r: &Request<'_>| pattern(r.payload_len().unwrap_or(0) as usize);

    // All at once, then one drive.
    let mut pair = Pair::default_script();
    for r in &requests {
        pair.send(r, &payload(r));
    }
    assert_eq!(pair.client.pending_requests(), requests.len());
    let all_at_once = pair.drive();
    assert_eq!(pair.client.pending_requests(), 0);
    let verbs: Vec<Option<Verb>> = all_at_once
        .iter()
        .filter_map(|e| match e {
            CEv::Reply { request, .. } => Some(*request),
            _ => None,
        })
        .collect();
    assert_eq!(
        verbs,
        requests.iter().map(|r| Some(r.verb())).collect::<Vec<_>>()
    );
    for e in &all_at_once {
        if let CEv::Reply {
            request: Some(verb),
            reply,
        } = e
        {
            assert_eq!(reply.code(), verb.success_code());
        }
    }
    assert_eq!(
        pair.uploads,
        [
            (upload("b", "x y", 3), pattern(3)),
            (upload("b", "z", 0), vec![])
        ]
    );
    assert!(pair.server.is_closed());

    // One request per drive gives the same events and the same bytes.
    let mut stepwise = Pair::default_script();
    let mut events = Vec::new();
    for r in &requests {
        stepwise.send(r, &payload(r));
        events.extend(stepwise.drive());
    }
    assert_eq!(events, all_at_once);
    assert_eq!(stepwise.to_server, pair.to_server);
    assert_eq!(stepwise.to_client, pair.to_client);
}

// ---- generated pipelines ------------------------------------------------------

/// One step of a generated pipeline.
#[derive(Debug, Clone)]
enum Item {
    /// A complete request (with its payload for uploads).
    Request(Request<'static>),
    /// A request sent as a dialogue: the verb with `on_line` arguments,
    /// then one answer line per remaining argument.
    Dialogue(Request<'static>, usize),
    /// A line refused by the session, with its reply head.
    Bad(&'static [u8], &'static [&'static str]),
    /// An over-long line of that many bytes before its LF.
    Long(usize),
    /// A blank line (ignored).
    Blank(&'static [u8]),
}

fn request_args(r: &Request<'_>) -> Vec<Vec<u8>> {
    let line = enc_request(r);
    // Re-split the canonical encoding: verb, then args (quoted args have no
    // unescaped spaces, and names never contain LF).
    let text = String::from_utf8(line).unwrap();
    let text = text.trim_end_matches('\n');
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_quotes = false;
    let mut escaped = false;
    for c in text.chars() {
        if in_quotes {
            cur.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_quotes = false;
            }
        } else if c == ' ' {
            out.push(std::mem::take(&mut cur).into_bytes());
        } else {
            if c == '"' {
                in_quotes = true;
            }
            cur.push(c);
        }
    }
    out.push(cur.into_bytes());
    out
}

/// Lines the session refuses itself, with the reply heads they give.
const BAD_LINES: &[(&[u8], &[&str])] = &[
    (b"FOO\n", &["500 BCMD UNKNOWN_VERB"]),
    (b"HELLO x\n", &["500 BCMD SYNTAX"]),
    (b"\xff\n", &["500 BCMD SYNTAX"]),
    // Refused by the grammar, payload skipped by its plain size: `Q\n`
    // read as a request would give another reply.
    (b"UPLOAD b a\\b 2\nQ\n", &["500 BCMD SYNTAX"]),
    (b"upload b \xff 3\nFOO", &["500 BCMD SYNTAX"]),
    (b"DOWNLOAD b \"x\n", &["500 BCMD SYNTAX"]),
    (b"CREATE_B ../x\n", &["301 BCF BAD_NAME"]),
    (b"UPLOAD b .. 3\nQ\n\n", &["701 FUBF BAD_NAME"]),
    (b"DELETE_F\n\n", &["150 NEED bucket", "1001 DFF ABORTED"]),
    (
        b"UPLOAD\nb\n../f\n2\n\n\n",
        &[
            "150 NEED bucket",
            "150 NEED name",
            "150 NEED size",
            "701 FUBF BAD_NAME",
        ],
    ),
];

fn item() -> impl Strategy<Value = Item> {
    let dialogue_request = strategies::request_with_size(0u64..40)
        .prop_filter("needs arguments", |r| !r.verb().required().is_empty());
    prop_oneof![
        6 => strategies::request_with_size(0u64..40)
            .prop_filter("QUIT ends the session", |r| *r != Request::Quit)
            .prop_map(Item::Request),
        3 => (dialogue_request, 0usize..3).prop_map(|(r, k)| {
            let k = k.min(r.verb().required().len() - 1);
            Item::Dialogue(r, k)
        }),
        2 => prop::sample::select(BAD_LINES.to_vec()).prop_map(|(b, h)| Item::Bad(b, h)),
        1 => (4096usize..6000).prop_map(Item::Long),
        1 => prop::sample::select(vec![&b"\n"[..], b"\r\n", b"  \t\n", b",\n"]).prop_map(Item::Blank),
    ]
}

/// The bytes of a pipeline, and the reply heads and requests it must give.
fn render(items: &[Item]) -> (Vec<u8>, Vec<String>, Vec<Request<'static>>) {
    let mut bytes = Vec::new();
    let mut heads = Vec::new();
    let mut requests = Vec::new();
    for item in items {
        match item {
            Item::Request(r) | Item::Dialogue(r, _) => {
                if let Item::Dialogue(_, on_line) = item {
                    let words = request_args(r);
                    bytes.extend_from_slice(&words[..=*on_line].join(&b' '));
                    bytes.push(b'\n');
                    for w in &words[1 + on_line..] {
                        bytes.extend_from_slice(w);
                        bytes.push(b'\n');
                    }
                    // A prompt for every required argument not on the line.
                    for f in &r.verb().required()[*on_line..] {
                        heads.push(format!("150 NEED {f}"));
                    }
                } else {
                    bytes.extend_from_slice(&enc_request(r));
                }
                if let Some(n) = r.payload_len() {
                    bytes.extend_from_slice(&pattern(n as usize));
                }
                heads.push(head(&default_answer(r, &[]).reply));
                requests.push(r.clone());
            }
            Item::Bad(b, h) => {
                bytes.extend_from_slice(b);
                heads.extend(h.iter().map(|h| h.to_string()));
            }
            Item::Long(n) => {
                bytes.extend(std::iter::repeat_n(b'L', *n));
                bytes.push(b'\n');
                heads.push("500 BCMD LINE_TOO_LONG".into());
            }
            Item::Blank(b) => bytes.extend_from_slice(b),
        }
    }
    (bytes, heads, requests)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    /// The fixed pipeline, split anywhere, gives the same as in one piece.
    #[test]
    fn fixed_pipeline_any_split(points in split_points()) {
        let (input, _) = fixed_script();
        let whole = run_server_whole(&input);
        let chunks = split_at_indices(&input, &points);
        prop_assert_eq!(run_server(&chunks, false), whole);
    }

    /// Generated pipelines: the replies are the expected ones, in request
    /// order, and any split (and one byte at a time) gives the same events
    /// and the same bytes out.
    #[test]
    fn generated_pipelines_any_split(
        items in prop::collection::vec(item(), 0..16),
        points in split_points(),
        extra in prop_oneof![Just(0usize), 1usize..100, Just(65536)],
    ) {
        let (input, heads, requests) = render(&items);
        let whole = run_server_whole(&input);
        prop_assert_eq!(whole.reply_heads(), heads);
        prop_assert_eq!(whole.requests(), requests);
        let chunks = split_at_indices(&input, &points);
        prop_assert_eq!(&run_server(&chunks, false), &whole);
        prop_assert_eq!(&run_server_bytewise(&input), &whole);
        // Through the zero-copy receive path, the same.
        prop_assert_eq!(&run_server_direct(&chunks, false, extra), &whole);
        // With end of input after it all, the same events then Closed.
        let mut closed = run_server(&chunks, true);
        prop_assert_eq!(closed.events.pop(), Some(SEv::Closed));
        prop_assert_eq!(closed, whole);
    }
}

// ---- the client side ------------------------------------------------------------

/// The verb a reply with `code` answers (500 BCMD: HELLO).
fn verb_for(code: ReplyCode) -> Verb {
    Verb::ALL
        .iter()
        .copied()
        .find(|v| v.success_code() == code || v.failure_code() == code)
        .unwrap()
}

/// A request with that verb (uploads of size 0, so no payload is owed).
fn request_for(verb: Verb) -> Request<'static> {
    match verb {
        Verb::Hello => Request::Hello,
        Verb::Help => Request::Help { topic: None },
        Verb::Codes => Request::Codes,
        Verb::Quit => Request::Quit,
        Verb::CreateBucket => Request::CreateBucket {
            bucket: bucket("b"),
        },
        Verb::ListBuckets => Request::ListBuckets,
        Verb::DeleteBucket => Request::DeleteBucket {
            bucket: bucket("b"),
        },
        Verb::Upload => upload("b", "f", 0),
        Verb::ListFiles => Request::ListFiles { bucket: None },
        Verb::Download => download("b", "f"),
        Verb::DeleteFile => Request::DeleteFile {
            bucket: bucket("b"),
            name: file("f"),
        },
    }
}

/// The bytes of a reply stream, the requests it answers and the events a
/// client must give for it.
fn reply_stream(replies: &[Reply<'static>]) -> (Vec<u8>, Vec<Request<'static>>, Vec<CEv>) {
    let mut bytes = Vec::new();
    let mut pending = Vec::new();
    let mut events = Vec::new();
    for reply in replies {
        encode::reply(reply, &mut bytes).unwrap();
        let verb = verb_for(reply.code());
        pending.push(request_for(verb));
        events.push(CEv::Reply {
            request: Some(verb),
            reply: reply.clone(),
        });
        if let Some(n) = reply.payload_len() {
            let payload = pattern(n as usize);
            bytes.extend_from_slice(&payload);
            if n > 0 {
                events.push(CEv::Payload(payload));
            }
            events.push(CEv::PayloadEnd);
        }
    }
    (bytes, pending, events)
}

#[test]
fn client_fixed_reply_stream_whole_and_byte_by_byte() {
    let replies = vec![
        Reply::Hello {
            server: "srv 1".into(),
        },
        Reply::Buckets {
            buckets: vec![bucket("a"), bucket("b")],
        },
        Reply::Download { size: 25 },
        Reply::Files {
            files: vec![FileEntry {
                bucket: bucket("a"),
                name: file("x, \"y\""),
                size: 3,
            }],
        },
        Reply::Download { size: 0 },
        Reply::Buckets { buckets: vec![] },
        Reply::code_table(),
        Reply::failure(Verb::Upload, bucket_proto::Reason::BadName, "nope"),
        Reply::bad_command(bucket_proto::Reason::Syntax, "what"),
        Reply::Bye,
    ];
    let (bytes, pending, events) = reply_stream(&replies);
    let whole = run_client(&pending, &[&bytes], true);
    assert_eq!(whole.error, None);
    let mut want = events;
    want.push(CEv::Closed);
    assert_eq!(whole.events, want);
    let chunks: Vec<&[u8]> = bytes.chunks(1).collect();
    assert_eq!(run_client(&pending, &chunks, true), whole);
    assert_eq!(run_client_direct(&pending, &chunks, true, 0), whole);
    assert_eq!(run_client_direct(&pending, &chunks, true, 4096), whole);

    // Prompts are delivered for the pending request without ending it.
    let mut client = client_with_pending(&[upload("b", "f", 0), Request::Hello]);
    for &b in b"150 NEED name\n150 NEED size\n700 FUBS\n100 OK BKT/1\n" {
        client.receive(&[b]);
    }
    let mut got = Vec::new();
    pump_client(&mut client, &mut got).unwrap();
    let verbs: Vec<_> = got
        .iter()
        .map(|e| match e {
            CEv::Reply { request, reply } => (*request, reply.code()),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        verbs,
        [
            (Some(Verb::Upload), ReplyCode::Need),
            (Some(Verb::Upload), ReplyCode::Need),
            (Some(Verb::Upload), ReplyCode::FileUploaded),
            (Some(Verb::Hello), ReplyCode::Ok),
        ]
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Any stream of replies (lists, downloads with payloads, failures), fed
    /// in any split, gives the same events as fed whole, and those are the
    /// replies sent, each matched to its request.
    #[test]
    fn client_reply_stream_any_split(
        replies in prop::collection::vec(
            strategies::reply_with_size(0u64..64).prop_filter("prompts are tested apart", |r| r.is_final()),
            0..12,
        ),
        points in split_points(),
        extra in prop_oneof![Just(0usize), 1usize..100, Just(65536)],
    ) {
        let (bytes, pending, events) = reply_stream(&replies);
        let whole = run_client(&pending, &[&bytes], false);
        prop_assert_eq!(&whole.error, &None);
        prop_assert_eq!(&whole.events, &events);
        let chunks = split_at_indices(&bytes, &points);
        prop_assert_eq!(&run_client(&pending, &chunks, false), &whole);
        prop_assert_eq!(&run_client_direct(&pending, &chunks, false, extra), &whole);
    }
}

/// `commit_received` takes no more than the last `receive_buffer` lent, and
/// nothing without one: an application's wrong count never makes stale
/// bytes of the spare room (here a second `HELLO` left there) count as
/// received, and never panics, in debug builds too.
#[test]
fn commit_received_takes_at_most_the_room_lent_last() {
    let mut server = ServerSession::default();
    let room = server.receive_buffer(64);
    let lent = room.len();
    room[..12].copy_from_slice(b"HELLO\nHELLO\n");
    server.commit_received(6);
    assert_eq!(
        server.poll_event(),
        Some(ServerEvent::RequestReceived(Request::Hello))
    );
    server
        .send_reply(&Reply::Hello { server: "s".into() })
        .unwrap();
    // No room lent since the last commit: nothing is taken.
    server.commit_received(6);
    assert_eq!(server.buffered(), 0);
    assert_eq!(server.poll_event(), None);
    // More than the room lent: clamped to it.
    let room = server.receive_buffer(6);
    let lent_now = room.len();
    room[..6].copy_from_slice(b"CODES\n");
    server.commit_received(lent_now + 1000);
    assert_eq!(server.buffered(), lent_now);
    assert!(lent_now <= lent);

    let mut client = bucket_proto::ClientSession::new();
    client.send_request(&Request::Hello).unwrap();
    client.commit_received(5);
    assert_eq!(client.poll_event(), Ok(None));
    let room = client.receive_buffer(20);
    let lent = room.len();
    room[..20].copy_from_slice(b"100 OK BKT/1 s\n\0\0\0\0\0");
    client.commit_received(lent + 1);
    assert!(matches!(
        client.poll_event(),
        Ok(Some(bucket_proto::ClientEvent::Reply { .. }))
    ));
}

/// `in_request_line` holds while part of a line is buffered and while the
/// tail of an over-long line is being dropped (nothing buffered then), and
/// not between lines.
#[test]
fn in_request_line_covers_the_dropped_tail_of_an_over_long_line() {
    let mut server = ServerSession::default();
    assert!(!server.in_request_line());
    server.receive(b"HEL");
    assert!(server.in_request_line());
    server.receive(b"LO\n");
    assert_eq!(
        server.poll_event(),
        Some(ServerEvent::RequestReceived(Request::Hello))
    );
    assert!(!server.in_request_line());
    server
        .send_reply(&Reply::Hello { server: "s".into() })
        .unwrap();
    server.receive(&[b'X'; 5000]);
    assert!(matches!(
        server.poll_event(),
        Some(ServerEvent::RequestRejected(_))
    ));
    assert_eq!(server.buffered(), 0);
    assert!(server.in_request_line());
    server.receive(b"XX");
    assert_eq!(server.poll_event(), None);
    assert!(server.in_request_line());
    server.receive(b"X\n");
    assert_eq!(server.poll_event(), None);
    assert!(!server.in_request_line());
}
