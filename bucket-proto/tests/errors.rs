//! Errors: over-long lines, invalid UTF-8, unknown verbs, too many
//! arguments, bad sizes, over-large uploads, end of input mid-payload, early
//! upload failures, local misuse of either session (`SendError`), and
//! protocol errors on the client side (`ClientError`).
#![allow(clippy::unwrap_used)]

mod common;

use bucket_proto::decode::{self, Decoded};
use bucket_proto::{
    BucketName, ClientConfig, ClientError, ClientEvent, ClientSession, EncodeError, MAX_LINE_LEN,
    Reason, Reply, ReplyCode, ReplyError, Request, RequestError, SendError, ServerConfig,
    ServerEvent, ServerSession, ServerState, Verb,
};
use common::*;

/// Feeds `input` then `HELLO\n`: the first reply must be `head` and the
/// session must then answer the HELLO.
fn refused_then_usable(input: &[u8], head_want: &str) -> ServerRun {
    let mut bytes = input.to_vec();
    bytes.extend_from_slice(b"HELLO\n");
    let run = run_server_whole(&bytes);
    assert_eq!(
        run.reply_heads(),
        [head_want, "100 OK"],
        "{:?}",
        String::from_utf8_lossy(input)
    );
    assert_eq!(run.requests(), [Request::Hello]);
    // One byte at a time gives the same.
    assert_eq!(run_server_bytewise(&bytes), run);
    run
}

// ---- line length ----------------------------------------------------------

/// `HELLO` padded with trailing spaces to `content` bytes, then `end`.
fn padded_hello(content: usize, end: &str) -> Vec<u8> {
    let mut line = b"HELLO".to_vec();
    line.resize(content, b' ');
    line.extend_from_slice(end.as_bytes());
    line
}

#[test]
fn the_line_limit_is_4096_bytes_including_the_terminator() {
    assert_eq!(MAX_LINE_LEN, 4096);
    // Accepted: 4095 + LF, 4094 + CR LF.
    for line in [padded_hello(4095, "\n"), padded_hello(4094, "\r\n")] {
        assert_eq!(line.len(), 4096);
        assert_eq!(
            decode::request(&line),
            Ok(Decoded::Complete {
                value: Request::Hello,
                consumed: 4096
            })
        );
        let run = run_server_whole(&line);
        assert_eq!(run.requests(), [Request::Hello]);
        assert_eq!(run_server_bytewise(&line), run);
    }
    // Refused: 4096 + LF, 4095 + CR LF.
    for line in [padded_hello(4096, "\n"), padded_hello(4095, "\r\n")] {
        assert_eq!(line.len(), 4097);
        assert_eq!(
            decode::request(&line),
            Err(RequestError::LineTooLong { max: 4096 })
        );
        let run = refused_then_usable(&line, "500 BCMD LINE_TOO_LONG");
        assert_eq!(
            rejection(&run),
            RequestError::LineTooLong { max: MAX_LINE_LEN }
        );
    }
    // decode::request needs no LF to know a line is too long.
    assert_eq!(
        decode::request(&[b'x'; 4096]),
        Err(RequestError::LineTooLong { max: 4096 })
    );
    assert_eq!(decode::request(&[b'x'; 4095]), Ok(Decoded::Incomplete));
}

#[test]
fn an_over_long_line_in_many_chunks_is_answered_once_and_discarded() {
    // The line holds request-looking text (no LF) that must not be parsed.
    let body: Vec<u8> = b"QUIT HELLO\r"
        .iter()
        .copied()
        .cycle()
        .take(20_000)
        .collect();
    let mut server = ServerSession::default();
    let mut events = Vec::new();
    let mut tx = Vec::new();
    let mut current = None;
    let mut fed = 0;
    for chunk in body.chunks(97) {
        server.receive(chunk);
        fed += chunk.len();
        pump_server(&mut server, &mut default_answer, &mut events, &mut current);
        server.poll_transmit(&mut tx);
        // Answered as soon as the limit is passed, not when the LF comes.
        if fed >= MAX_LINE_LEN {
            assert_eq!(
                events,
                [SEv::Rejected(RequestError::LineTooLong { max: 4096 })]
            );
            assert!(tx.starts_with(b"500 BCMD LINE_TOO_LONG"));
        } else {
            assert!(events.is_empty());
        }
        // Discarded bytes are not kept.
        assert!(server.buffered() < MAX_LINE_LEN, "{}", server.buffered());
    }
    server.receive(b"tail\nHELLO\n");
    pump_server(&mut server, &mut default_answer, &mut events, &mut current);
    server.poll_transmit(&mut tx);
    assert_eq!(
        events,
        [
            SEv::Rejected(RequestError::LineTooLong { max: 4096 }),
            SEv::Request(Request::Hello)
        ]
    );
    assert_eq!(
        decode_reply_stream(&tx)
            .iter()
            .map(|r| head(r))
            .collect::<Vec<_>>(),
        ["500 BCMD LINE_TOO_LONG", "100 OK"]
    );
}

#[test]
fn an_over_long_line_whose_lf_arrives_with_it() {
    let mut input = vec![b'a'; 9000];
    input.extend_from_slice(b"\nHELLO\n");
    let run = run_server_whole(&input);
    assert_eq!(run.reply_heads(), ["500 BCMD LINE_TOO_LONG", "100 OK"]);
    // Two over-long lines in a row are two replies.
    let mut input = vec![b'a'; 5000];
    input.push(b'\n');
    input.extend_from_slice(&[b'b'; 5000]);
    input.extend_from_slice(b"\nHELLO\n");
    let run = run_server_whole(&input);
    assert_eq!(
        run.reply_heads(),
        ["500 BCMD LINE_TOO_LONG", "500 BCMD LINE_TOO_LONG", "100 OK"]
    );
    assert_eq!(run_server_bytewise(&input), run);
}

/// `UPLOAD photos f SIZE` with `pad` bytes of padding: separators between
/// the verb and the bucket or before the verb, or leading zeros in the
/// size. All valid by the grammar; with `pad` = `MAX_LINE_LEN` only the line
/// limit refuses them.
fn padded_uploads(pad: usize, size: u64) -> [Vec<u8>; 3] {
    let spaces = " ".repeat(pad);
    let zeros = "0".repeat(pad);
    [
        format!("UPLOAD{spaces}photos f {size}\n"),
        format!("upload_file photos,f {zeros}{size}\r\n"),
        format!("{spaces}UPLOAD photos f {size}\n"),
    ]
    .map(String::into_bytes)
}

#[test]
fn an_over_long_upload_line_is_answered_and_closes_so_its_payload_never_runs() {
    // The payload is request lines: none of them may run (decision 3).
    let payload = b"DELETE_B victim\nQUIT\n";
    let size = payload.len() as u64;
    let legal = padded_uploads(1, size);
    for (long, short) in padded_uploads(MAX_LINE_LEN, size).iter().zip(&legal) {
        let input = [long, &payload[..]].concat();
        let run = refused_then_closed(&input, &["500 BCMD LINE_TOO_LONG"]);
        assert_eq!(rejection(&run), RequestError::LineTooLong { max: 4096 });
        // The same line at a legal length is an upload of that payload.
        let run = run_server_whole(&[short, &payload[..]].concat());
        assert_eq!(run.requests(), [upload("photos", "f", size)]);
    }
    // In an UPLOAD dialogue an over-long answer may complete the arguments,
    // so it closes too.
    let answer = format!("photos f {}{size}\n", "0".repeat(MAX_LINE_LEN));
    let input = [b"UPLOAD\n", answer.as_bytes(), payload].concat();
    refused_then_closed(&input, &["150 NEED bucket", "500 BCMD LINE_TOO_LONG"]);
    // In any other dialogue it only ends the dialogue, as before.
    let answer = format!("photos{}f\n", " ".repeat(MAX_LINE_LEN));
    let input = [b"DOWNLOAD\n", answer.as_bytes(), b"HELLO\n"].concat();
    let run = run_server_whole(&input);
    assert_eq!(
        run.reply_heads(),
        ["150 NEED bucket", "500 BCMD LINE_TOO_LONG", "100 OK"]
    );
    assert_eq!(run_server_bytewise(&input), run);
}

// ---- bad lines --------------------------------------------------------------

#[test]
fn a_syntax_error_in_an_argument_says_what_is_wrong_with_it() {
    let bare = "control character, '\\' or '\"' inside a bare argument";
    let quoted = "a quoted argument must be followed by space, tab or comma";
    for (line, detail) in [
        // A byte a bare argument cannot hold, first or after others.
        (&b"DOWNLOAD b a\\b\n"[..], bare),
        (b"DOWNLOAD b \\ab\n", bare),
        (b"DOWNLOAD b a\"b\"\n", bare),
        (b"CREATE_B a\x01\n", bare),
        (b"DOWNLOAD b \"a\"b\n", quoted),
    ] {
        let shown = String::from_utf8_lossy(line);
        assert_eq!(
            decode::request(line),
            Err(RequestError::Syntax { detail }),
            "{shown:?}"
        );
        let run = refused_then_usable(line, "500 BCMD SYNTAX");
        let text = format!("500 BCMD SYNTAX syntax error: {detail}");
        assert_eq!(
            String::from_utf8_lossy(&run.tx).lines().next(),
            Some(text.as_str()),
            "{shown:?}"
        );
    }
}

#[test]
fn invalid_utf8_is_a_syntax_error() {
    for line in [
        &b"\xff\n"[..],
        b"HELLO\xff\n",
        b"CREATE_B \xff\n",
        b"CREATE_B \"\xc3\"\n",
        b"DOWNLOAD b \xc0\xaf\n",             // over-long encoding of '/'
        b"DOWNLOAD b \xed\xa0\x80\n",         // a surrogate
        b"DOWNLOAD b \xf8\x88\x80\x80\x80\n", // five-byte form
    ] {
        assert_eq!(decode::request(line), Err(RequestError::InvalidUtf8));
        let run = refused_then_usable(line, "500 BCMD SYNTAX");
        assert_eq!(rejection(&run), RequestError::InvalidUtf8);
    }
}

#[test]
fn unknown_verbs() {
    for line in [
        &b"FOO\n"[..],
        b"HELLOX\n",
        b"LIST\n",
        b"upload_files b f 1\n",
        b"INITS\n",
        b"GET / HTTP/1.1\r\n",
        b"_\n",
        b"LS\n",
        // The user directory one seed sketched (docs/protocol.md, "Moving
        // from the course dialects") is not BKT/1.
        b"REGISTER alice\n",
        b"UNREGISTER alice\n",
        b"CONNECT alice\n",
    ] {
        assert_eq!(decode::request(line), Err(RequestError::UnknownVerb));
        let run = refused_then_usable(line, "500 BCMD UNKNOWN_VERB");
        assert_eq!(rejection(&run), RequestError::UnknownVerb);
    }
    // A verb that is not letters and '_' is a syntax error.
    refused_then_usable(b"HELLO1\n", "500 BCMD SYNTAX");
    refused_then_usable(b"CREATE-B x\n", "500 BCMD SYNTAX");
}

#[test]
fn too_many_arguments() {
    for (line, verb) in [
        (&b"HELLO x\n"[..], Verb::Hello),
        (b"QUIT now\n", Verb::Quit),
        (b"CODES all\n", Verb::Codes),
        (b"HELP UPLOAD DOWNLOAD\n", Verb::Help),
        (b"CREATE_B a b\n", Verb::CreateBucket),
        (b"LIST_B x\n", Verb::ListBuckets),
        (b"DELETE_B a,b\n", Verb::DeleteBucket),
        (b"LIST_F a b\n", Verb::ListFiles),
        (b"DOWNLOAD a b c\n", Verb::Download),
        (b"DELETE_F a b c\n", Verb::DeleteFile),
        (b"UPLOAD a b 1 2\n", Verb::Upload),
        (b"UPLOAD a b 1 2 3 4 5 6\n", Verb::Upload),
    ] {
        assert_eq!(
            decode::request(line),
            Err(RequestError::TooManyArguments { verb })
        );
        // An UPLOAD with a fourth argument: which one is the size? Its
        // payload cannot be told from requests, so the session closes.
        let run = if verb == Verb::Upload {
            refused_then_closed(line, &["500 BCMD SYNTAX"])
        } else {
            refused_then_usable(line, "500 BCMD SYNTAX")
        };
        assert_eq!(rejection(&run), RequestError::TooManyArguments { verb });
    }
}

#[test]
fn bad_sizes() {
    for size in [
        "-1",
        "abc",
        "1.5",
        "+5",
        "99999999999999999999999",
        "18446744073709551616",
        "0x10",
        "1e3",
        "\"\"",
        "\" 5\"",
        "５",
        "5five",
    ] {
        let line = format!("UPLOAD b f {size}\n");
        assert_eq!(
            decode::request(line.as_bytes()),
            Err(RequestError::BadSize),
            "{size}"
        );
        // No size, no telling where the payload ends: reply, then close.
        let run = refused_then_closed(line.as_bytes(), &["500 BCMD SYNTAX"]);
        assert_eq!(rejection(&run), RequestError::BadSize);
    }
    // A bad size is reported even when a name is bad too: no payload can be
    // skipped without a size.
    let run = refused_then_closed(b"UPLOAD ../b f x\n", &["500 BCMD SYNTAX"]);
    assert_eq!(rejection(&run), RequestError::BadSize);
    // The largest size and leading zeros are fine.
    for (size, want) in [("18446744073709551615", u64::MAX), ("007", 7), ("0", 0)] {
        let line = format!("UPLOAD b f {size}\n");
        let mut server = ServerSession::default();
        server.receive(line.as_bytes());
        assert_eq!(
            server.poll_event(),
            Some(ServerEvent::RequestReceived(upload("b", "f", want)))
        );
        // For size 0 too, until PayloadEnd is taken.
        assert_eq!(server.state(), ServerState::ReceivingPayload);
        if want == 0 {
            assert_eq!(server.poll_event(), Some(ServerEvent::PayloadEnd));
            assert_eq!(server.state(), ServerState::AwaitingReply);
        }
    }
}

// ---- upload limits and payload ends -------------------------------------------

#[test]
fn an_upload_over_the_limit_is_refused_and_closes_the_session() {
    let config = ServerConfig::default().with_max_upload_size(Some(10));
    // At the limit: fine.
    let run = run_server_with(
        config.clone(),
        &[b"UPLOAD b f 10\n0123456789HELLO\n"],
        false,
        &mut default_answer,
    );
    assert_eq!(run.reply_heads(), ["700 FUBS", "100 OK"]);
    // Over it: 701 FUBF TOO_LARGE, then closed; nothing after is read.
    for (input, size) in [
        (&b"UPLOAD b f 11\n01234567890HELLO\n"[..], 11),
        (b"UPLOAD ../b f 11\n", 11),
        (b"UPLOAD b f 18446744073709551615\n", u64::MAX),
    ] {
        let mut server = ServerSession::new(config.clone());
        server.receive(input);
        assert_eq!(
            server.poll_event(),
            Some(ServerEvent::RequestRejected(RequestError::TooLarge {
                size,
                max: 10
            }))
        );
        assert!(server.is_closed());
        assert_eq!(server.poll_event(), Some(ServerEvent::Closed));
        assert_eq!(server.poll_event(), Some(ServerEvent::Closed));
        let mut tx = Vec::new();
        server.poll_transmit(&mut tx);
        let text = String::from_utf8(tx).unwrap();
        assert!(text.starts_with("701 FUBF TOO_LARGE "), "{text}");
        assert_eq!(text.lines().count(), 1);
        server.receive(b"HELLO\n");
        assert_eq!(server.poll_event(), Some(ServerEvent::Closed));
        assert!(!server.has_transmit());
        assert_eq!(
            server.send_reply(&Reply::Hello { server: "x".into() }),
            Err(SendError::Closed)
        );
    }
    // No limit by default.
    let run = run_server_whole(b"UPLOAD b f 18446744073709551615\nabc");
    assert_eq!(
        run.events,
        [
            SEv::Request(upload("b", "f", u64::MAX)),
            SEv::Payload(b"abc".to_vec())
        ]
    );
}

#[test]
fn end_of_input_mid_payload_aborts_the_upload() {
    let mut calls = 0;
    let run = run_server_with(
        ServerConfig::default(),
        &[b"UPLOAD b f 10\n", b"hel", b"lo"],
        true,
        &mut |r: &Request<'static>, p: &[u8]| {
            calls += 1;
            default_answer(r, p)
        },
    );
    assert_eq!(calls, 0, "an aborted upload is never answered");
    assert_eq!(
        run.events,
        [
            SEv::Request(upload("b", "f", 10)),
            SEv::Payload(b"hello".to_vec()),
            SEv::PayloadAborted,
            SEv::Closed
        ]
    );
    assert_eq!(run.tx, b"");

    // Discarding a refused upload's payload: end of input just closes.
    let run = run_server(&[b"UPLOAD .. f 10\nhel"], true);
    assert!(matches!(
        run.events.as_slice(),
        [SEv::Rejected(RequestError::BadName { .. }), SEv::Closed]
    ));
    assert_eq!(run.tx, b"", "the held reply is dropped with the connection");

    // End of input with requests still buffered: they are answered first.
    let run = run_server(&[b"HELLO\nLIST_B\nHEL"], true);
    assert_eq!(
        run.events,
        [
            SEv::Request(Request::Hello),
            SEv::Request(Request::ListBuckets),
            SEv::Closed
        ]
    );
    assert_eq!(run.reply_heads(), ["100 OK", "400 LS"]);
}

#[test]
fn an_early_failure_discards_the_rest_of_the_payload_before_its_reply() {
    let mut server = ServerSession::default();
    server.receive(b"UPLOAD b f 10\nhel");
    let Some(ServerEvent::RequestReceived(r)) = server.poll_event() else {
        panic!("no request");
    };
    assert_eq!(r.into_owned(), upload("b", "f", 10));
    assert_eq!(server.poll_event(), Some(ServerEvent::PayloadData(b"hel")));
    assert_eq!(server.poll_event(), None);
    // Only a failure of the upload (or 500) may answer now.
    assert_eq!(
        server.send_reply(&Reply::success(Verb::Upload).unwrap()),
        Err(SendError::PayloadNotReceived)
    );
    assert_eq!(
        server.send_reply(&Reply::failure(Verb::Download, Reason::Io, "x")),
        Err(SendError::WrongReply {
            verb: Verb::Upload,
            code: ReplyCode::DownloadFailed
        })
    );
    assert_eq!(server.state(), ServerState::ReceivingPayload);
    server
        .send_reply(&Reply::failure(Verb::Upload, Reason::NoSuchBucket, "no b"))
        .unwrap();
    assert_eq!(server.state(), ServerState::DiscardingPayload);
    assert!(!server.has_transmit(), "held until the payload has passed");
    // The rest of the payload (request-looking) is dropped, not handed out.
    server.receive(b"lo\nQUI");
    assert_eq!(server.poll_event(), None);
    assert!(!server.has_transmit());
    server.receive(b"THELLO\n");
    assert_eq!(
        server.poll_event(),
        Some(ServerEvent::RequestReceived(Request::Hello))
    );
    let mut tx = Vec::new();
    server.poll_transmit(&mut tx);
    assert_eq!(tx, b"701 FUBF NO_SUCH_BUCKET no b\n");
    server
        .send_reply(&Reply::Hello { server: "s".into() })
        .unwrap();
    server.poll_transmit(&mut tx);
    assert_eq!(tx, b"701 FUBF NO_SUCH_BUCKET no b\n100 OK BKT/1 s\n");

    // A failure after the last byte arrived but before PayloadEnd was taken
    // goes out at the next poll; 500 BCMD is also allowed.
    let mut server = ServerSession::default();
    server.receive(b"UPLOAD b f 3\nabc");
    assert!(matches!(
        server.poll_event(),
        Some(ServerEvent::RequestReceived(_))
    ));
    assert_eq!(server.poll_event(), Some(ServerEvent::PayloadData(b"abc")));
    server
        .send_reply(&Reply::bad_command(Reason::Io, "x"))
        .unwrap();
    assert_eq!(server.poll_event(), None);
    assert_eq!(server.state(), ServerState::Idle);
    let mut tx = Vec::new();
    server.poll_transmit(&mut tx);
    assert_eq!(tx, b"500 BCMD IO x\n");
}

// ---- server misuse ------------------------------------------------------------

fn awaiting(request_line: &[u8]) -> ServerSession {
    let mut server = ServerSession::default();
    server.receive(request_line);
    loop {
        match server.poll_event() {
            Some(ServerEvent::RequestReceived(_) | ServerEvent::PayloadData(_)) => {}
            Some(ServerEvent::PayloadEnd) | None => break,
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(server.state(), ServerState::AwaitingReply);
    server
}

#[test]
fn server_send_reply_misuse() {
    let ok = Reply::Hello { server: "s".into() };
    // No request at all.
    let mut server = ServerSession::default();
    assert_eq!(server.send_reply(&ok), Err(SendError::NoRequest));
    // In a dialogue: the session prompts, not the application.
    server.receive(b"CREATE_B\n");
    let _ = server.poll_event();
    assert_eq!(server.state(), ServerState::Dialogue);
    assert_eq!(
        server.send_reply(&Reply::success(Verb::CreateBucket).unwrap()),
        Err(SendError::NoRequest)
    );
    // While discarding a refused upload.
    let mut server = ServerSession::default();
    server.receive(b"UPLOAD .. f 5\n");
    let _ = server.poll_event();
    assert_eq!(server.state(), ServerState::DiscardingPayload);
    assert_eq!(
        server.send_reply(&Reply::failure(Verb::Upload, Reason::Io, "x")),
        Err(SendError::NoRequest)
    );

    // Wrong codes for the verb; the session is left as it was.
    let mut server = awaiting(b"HELLO\n");
    for wrong in [
        Reply::success(Verb::CreateBucket).unwrap(),
        Reply::Need {
            field: bucket_proto::Field::Bucket,
        },
        Reply::failure(Verb::Upload, Reason::Io, "x"),
        Reply::Bye,
        Reply::Buckets { buckets: vec![] },
        Reply::Download { size: 1 },
    ] {
        assert_eq!(
            server.send_reply(&wrong),
            Err(SendError::WrongReply {
                verb: Verb::Hello,
                code: wrong.code()
            }),
            "{wrong:?}"
        );
        assert_eq!(server.state(), ServerState::AwaitingReply);
        assert!(!server.has_transmit());
    }
    // 500 BCMD answers any verb.
    server
        .send_reply(&Reply::bad_command(Reason::Io, "x"))
        .unwrap();
    assert_eq!(server.state(), ServerState::Idle);

    // A reply of the right code but the wrong variant cannot be encoded.
    let mut server = awaiting(b"LIST_B\n");
    let bogus = Reply::Success {
        code: ReplyCode::BucketList,
        text: None,
    };
    assert_eq!(
        server.send_reply(&bogus),
        Err(SendError::Encode(EncodeError::NotASuccessCode(
            ReplyCode::BucketList
        )))
    );
    assert_eq!(server.state(), ServerState::AwaitingReply);
    assert!(!server.has_transmit());
    let mut server = awaiting(b"QUIT\n");
    let bogus = Reply::Failure {
        code: ReplyCode::Bye,
        reason: Reason::Io,
        text: None,
    };
    assert_eq!(
        server.send_reply(&bogus),
        Err(SendError::Encode(EncodeError::NotAFailureCode(
            ReplyCode::Bye
        )))
    );
    server.send_reply(&Reply::Bye).unwrap();
    assert!(server.is_closed());
    assert_eq!(server.send_reply(&Reply::Bye), Err(SendError::Closed));

    // A success before the payload has ended.
    let mut server = ServerSession::default();
    server.receive(b"UPLOAD b f 5\n");
    let _ = server.poll_event();
    assert_eq!(
        server.send_reply(&Reply::success(Verb::Upload).unwrap()),
        Err(SendError::PayloadNotReceived)
    );
    assert_eq!(server.state(), ServerState::ReceivingPayload);
}

#[test]
fn server_download_payload_misuse() {
    let mut server = ServerSession::default();
    assert_eq!(
        server.send_payload(b"x"),
        Err(SendError::PayloadOverrun { remaining: 0 })
    );
    assert_eq!(
        server.payload_sent_directly(1),
        Err(SendError::PayloadOverrun { remaining: 0 })
    );
    let mut server = awaiting(b"DOWNLOAD b f\nHELLO\n");
    server.send_reply(&Reply::Download { size: 5 }).unwrap();
    assert_eq!(server.state(), ServerState::SendingPayload);
    assert_eq!(server.payload_remaining(), Some(5));
    // The next request is not handed out while the payload is owed.
    assert_eq!(server.poll_event(), None);
    assert_eq!(
        server.send_reply(&Reply::Bye),
        Err(SendError::PayloadPending { remaining: 5 })
    );
    assert_eq!(
        server.send_payload(b"toolong"),
        Err(SendError::PayloadOverrun { remaining: 5 })
    );
    // Direct writes must wait until the header has been transmitted; a
    // direct write of nothing (sendfile returned 0) is no write at all.
    assert_eq!(
        server.payload_sent_directly(2),
        Err(SendError::TransmitPending)
    );
    assert_eq!(server.payload_sent_directly(0), Ok(()));
    assert_eq!(server.payload_remaining(), Some(5));
    let mut tx = Vec::new();
    server.poll_transmit(&mut tx);
    assert_eq!(tx, b"900 FDBS 5\n");
    server.payload_sent_directly(2).unwrap();
    assert_eq!(server.payload_remaining(), Some(3));
    assert_eq!(
        server.payload_sent_directly(4),
        Err(SendError::PayloadOverrun { remaining: 3 })
    );
    server.send_payload(b"ab").unwrap();
    assert_eq!(
        server.payload_sent_directly(1),
        Err(SendError::TransmitPending)
    );
    server.send_payload(b"c").unwrap();
    assert_eq!(server.payload_remaining(), None);
    assert_eq!(server.state(), ServerState::Idle);
    assert_eq!(
        server.poll_event(),
        Some(ServerEvent::RequestReceived(Request::Hello))
    );
    server.poll_transmit(&mut tx);
    assert_eq!(tx, b"900 FDBS 5\nabc");

    // A zero-byte download owes nothing.
    let mut server = awaiting(b"DOWNLOAD b f\n");
    server.send_reply(&Reply::Download { size: 0 }).unwrap();
    assert_eq!(server.state(), ServerState::Idle);
    assert_eq!(server.payload_remaining(), None);

    // close() ends a session whose download cannot be finished.
    let mut server = awaiting(b"DOWNLOAD b f\n");
    server.send_reply(&Reply::Download { size: 5 }).unwrap();
    server.close();
    assert!(server.is_closed());
    assert_eq!(server.poll_event(), Some(ServerEvent::Closed));
    // The rest of the payload is refused as `Closed`, not queued; nothing
    // is still accepted.
    assert_eq!(server.send_payload(b"abc"), Err(SendError::Closed));
    assert_eq!(server.payload_sent_directly(3), Err(SendError::Closed));
    assert_eq!(server.send_payload(b""), Ok(()));
    let mut tx = Vec::new();
    server.poll_transmit(&mut tx);
    assert_eq!(tx, b"900 FDBS 5\n", "queued bytes stay queued");
}

// ---- client misuse and client errors ------------------------------------------

#[test]
fn client_send_misuse() {
    let mut client = ClientSession::new();
    assert_eq!(
        client.send_payload(b"x"),
        Err(SendError::PayloadOverrun { remaining: 0 })
    );
    client.send_request(&upload("b", "f", 5)).unwrap();
    assert_eq!(client.payload_remaining(), 5);
    assert_eq!(
        client.send_request(&Request::Hello),
        Err(SendError::PayloadPending { remaining: 5 })
    );
    assert_eq!(
        client.send_payload(b"too long"),
        Err(SendError::PayloadOverrun { remaining: 5 })
    );
    assert_eq!(
        client.payload_sent_directly(1),
        Err(SendError::TransmitPending)
    );
    assert_eq!(client.payload_sent_directly(0), Ok(()));
    assert_eq!(client.payload_remaining(), 5);
    let mut tx = Vec::new();
    client.poll_transmit(&mut tx);
    client.payload_sent_directly(2).unwrap();
    client.send_payload(b"abc").unwrap();
    assert_eq!(client.payload_remaining(), 0);
    client.send_request(&Request::Hello).unwrap();
    client.poll_transmit(&mut tx);
    // Nothing was queued by the refused calls (2 bytes went directly).
    assert_eq!(tx, b"UPLOAD b f 5\nabcHELLO\n");
    assert_eq!(client.pending_requests(), 2);
    // A failed session (here: a download reply to an upload) sends nothing.
    client.receive(b"900 FDBS 1\n");
    assert_eq!(
        client.poll_event().map(|_| ()),
        Err(ClientError::UnexpectedReply {
            verb: Verb::Upload,
            code: ReplyCode::Download
        })
    );
    assert!(client.is_closed());
    assert_eq!(client.send_request(&Request::Hello), Err(SendError::Closed));

    // An upload's payload is refused once the session has failed (or the
    // server has closed), however much the upload still owes.
    for ending in [&b"garbage\n"[..], b""] {
        let mut client = ClientSession::new();
        client.send_request(&upload("b", "f", 5)).unwrap();
        client.send_payload(b"ab").unwrap();
        client.receive(ending);
        client.receive_eof();
        while let Ok(Some(event)) = client.poll_event() {
            if event == ClientEvent::Closed {
                break;
            }
        }
        assert!(client.is_closed());
        assert_eq!(client.payload_remaining(), 3);
        assert_eq!(client.send_payload(b"cde"), Err(SendError::Closed));
        assert_eq!(client.payload_sent_directly(3), Err(SendError::Closed));
        assert_eq!(client.payload_sent_directly(0), Ok(()));
        let mut tx = Vec::new();
        client.poll_transmit(&mut tx);
        // Nothing is queued after the end. A failed session (garbage) has
        // also dropped what it had queued; one the server closed (end of
        // input) still hands it out.
        let queued: &[u8] = match ending {
            b"" => b"UPLOAD b f 5\nab",
            _ => b"",
        };
        assert_eq!(tx, queued, "{ending:?}");
    }
}

#[test]
fn client_malformed_reply_fails_the_session() {
    let run = run_client(&[Request::Hello], &[b"100 OK BKT/1 x\n300 NOPE\n"], false);
    assert_eq!(run.events.len(), 1);
    assert_eq!(
        run.error,
        Some(ClientError::Reply(ReplyError::WrongMnemonic))
    );
    let mut client = client_with_pending(&[Request::Hello]);
    client.receive(b"garbage\n100 OK BKT/1\n");
    let first = client.poll_event().map(|_| ()).unwrap_err();
    assert!(matches!(
        first,
        ClientError::Reply(ReplyError::Syntax { .. })
    ));
    // The same error from then on; nothing more is received or sent.
    let again = client.poll_event().map(|_| ()).unwrap_err();
    assert_eq!(first, again);
    assert!(client.is_closed());
    client.receive(b"100 OK BKT/1\n");
    assert_eq!(client.poll_event().map(|_| ()).unwrap_err(), first);
    assert_eq!(client.send_request(&Request::Hello), Err(SendError::Closed));

    for (bytes, want) in [
        (&b"\xff\n"[..], ClientError::Reply(ReplyError::InvalidUtf8)),
        (b"999 X\n", ClientError::Reply(ReplyError::UnknownCode)),
        (
            b"401 LSF NOPE\n",
            ClientError::Reply(ReplyError::UnknownReason),
        ),
        (
            b"400 LS 1\n..\n",
            ClientError::Reply(ReplyError::BadName(bucket_proto::NameError::LeadingDot)),
        ),
    ] {
        let run = run_client(&[Request::ListBuckets], &[bytes], false);
        assert_eq!(run.error, Some(want), "{bytes:?}");
    }
    // An over-long reply line fails as soon as the limit is passed.
    let long = vec![b'x'; bucket_proto::MAX_REPLY_LINE_LEN];
    let run = run_client(&[Request::Hello], &[&long], false);
    assert_eq!(
        run.error,
        Some(ClientError::Reply(ReplyError::LineTooLong {
            max: bucket_proto::MAX_REPLY_LINE_LEN
        }))
    );
}

#[test]
fn client_end_of_input_inside_a_reply() {
    let files = Request::ListFiles { bucket: None };
    for (pending, bytes) in [
        (files.clone(), &b"800 LFS 2\nb f 1\n"[..]),
        (files.clone(), b"800 LFS 1\n"),
        (files.clone(), b"800 LFS 1\nb f 1"),
        (Request::Help { topic: None }, b"210 HELP 3\na\nb\n"),
        (download("b", "f"), b"900 FDBS 5\nhel"),
        (download("b", "f"), b"900 FDBS 5\n"),
        (Request::Hello, b"100 OK BKT/1"),
        (Request::Hello, b"1"),
    ] {
        let run = run_client(std::slice::from_ref(&pending), &[bytes], true);
        assert_eq!(run.error, Some(ClientError::UnexpectedEof), "{bytes:?}");
    }
    // Between replies, end of input is a clean close, even with requests
    // still pending.
    let run = run_client(
        &[Request::Hello, Request::ListBuckets],
        &[b"100 OK BKT/1 s\n"],
        true,
    );
    assert_eq!(run.error, None);
    assert_eq!(run.events.len(), 2);
    assert_eq!(run.events[1], CEv::Closed);
    // A download's payload delivered completely, then end of input.
    let run = run_client(&[download("b", "f")], &[b"900 FDBS 3\nabc"], true);
    assert_eq!(
        run.events,
        [
            CEv::Reply {
                request: Some(Verb::Download),
                reply: Reply::Download { size: 3 }
            },
            CEv::Payload(b"abc".to_vec()),
            CEv::PayloadEnd,
            CEv::Closed
        ]
    );
}

#[test]
fn client_reply_not_matching_the_pending_verb() {
    for (pending, bytes, code) in [
        (Request::Hello, &b"300 BCS\n"[..], ReplyCode::BucketCreated),
        (Request::Hello, b"400 LS 0\n", ReplyCode::BucketList),
        (
            upload("b", "f", 0),
            b"901 FDBF NO_SUCH_FILE\n",
            ReplyCode::DownloadFailed,
        ),
        (download("b", "f"), b"700 FUBS\n", ReplyCode::FileUploaded),
        (Request::ListBuckets, b"800 LFS 0\n", ReplyCode::FileList),
        (Request::Quit, b"100 OK BKT/1\n", ReplyCode::Ok),
    ] {
        let verb = pending.verb();
        let run = run_client(&[pending], &[bytes], false);
        assert_eq!(
            run.error,
            Some(ClientError::UnexpectedReply { verb, code }),
            "{bytes:?}"
        );
        assert!(run.events.is_empty());
    }
    // The reply is matched against the *oldest* pending request.
    let run = run_client(
        &[
            Request::Hello,
            Request::CreateBucket {
                bucket: bucket("b"),
            },
        ],
        &[b"300 BCS\n"],
        false,
    );
    assert_eq!(
        run.error,
        Some(ClientError::UnexpectedReply {
            verb: Verb::Hello,
            code: ReplyCode::BucketCreated
        })
    );
    // 500 BCMD and the verb's own failure answer anything.
    let run = run_client(
        &[Request::Hello, upload("b", "f", 0), Request::Codes],
        &[b"500 BCMD SYNTAX\n701 FUBF IO disk\n500 BCMD BUSY\n"],
        false,
    );
    assert_eq!(run.error, None);
    let verbs: Vec<_> = run
        .events
        .iter()
        .map(|e| match e {
            CEv::Reply { request, .. } => *request,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        verbs,
        [Some(Verb::Hello), Some(Verb::Upload), Some(Verb::Codes)]
    );
}

#[test]
fn client_unsolicited_busy_has_no_request() {
    let run = run_client(&[], &[b"500 BCMD BUSY server full\n"], true);
    assert_eq!(
        run.events,
        [
            CEv::Reply {
                request: None,
                reply: Reply::bad_command(Reason::Busy, "server full")
            },
            CEv::Closed
        ]
    );
    // A reply to nothing does not disturb the requests sent afterwards.
    let mut client = ClientSession::new();
    client.receive(b"500 BCMD BUSY full\n");
    let event = client.poll_event().unwrap().map(CEv::from_event);
    assert_eq!(
        event,
        Some(CEv::Reply {
            request: None,
            reply: Reply::bad_command(Reason::Busy, "full")
        })
    );
    client.send_request(&Request::Hello).unwrap();
    client.receive(b"100 OK BKT/1 s\n");
    let event = client.poll_event().unwrap().map(CEv::from_event);
    assert!(matches!(
        event,
        Some(CEv::Reply {
            request: Some(Verb::Hello),
            ..
        })
    ));
    // Once a request is pending, a BUSY (500 fits every verb) is taken as
    // its answer: the client cannot tell the two apart.
    client.send_request(&Request::Hello).unwrap();
    client.receive(b"500 BCMD BUSY full\n");
    let event = client.poll_event().unwrap().map(CEv::from_event);
    assert_eq!(
        event,
        Some(CEv::Reply {
            request: Some(Verb::Hello),
            reply: Reply::bad_command(Reason::Busy, "full")
        })
    );
    assert_eq!(client.pending_requests(), 0);
}

/// One reply per request (PROTOCOL.md § Transport): a server that sends
/// more replies than requests would shift every later reply onto the wrong
/// request, so the client session fails instead of passing them on.
#[test]
fn client_refuses_replies_nobody_asked_for() {
    let unrequested = |code| Some(ClientError::UnrequestedReply { code });
    // Nothing pending: a reply (and a download's payload) to nothing.
    let run = run_client(&[], &[b"900 FDBS 3\nabc"], true);
    assert_eq!(run.error, unrequested(ReplyCode::Download));
    let run = run_client(
        &[Request::Hello],
        &[b"100 OK BKT/1 a\n900 FDBS 3\nabc"],
        true,
    );
    assert_eq!(run.error, unrequested(ReplyCode::Download));
    assert_eq!(
        run.events.len(),
        1,
        "the HELLO's reply only: {:?}",
        run.events
    );
    // Two replies to one request.
    let create = Request::CreateBucket {
        bucket: bucket("b"),
    };
    let run = run_client(
        std::slice::from_ref(&create),
        &[b"300 BCS\n300 BCS\n"],
        true,
    );
    assert_eq!(run.error, unrequested(ReplyCode::BucketCreated));
    // A 500 BCMD with nothing pending that is not BUSY.
    let run = run_client(&[], &[b"500 BCMD SYNTAX what\n"], true);
    assert_eq!(run.error, unrequested(ReplyCode::BadCommand));
    // A prompt for a field the pending verb does not take; one it does
    // take is delivered and does not end the request.
    let run = run_client(&[Request::Hello], &[b"150 NEED bucket\n"], true);
    assert_eq!(
        run.error,
        Some(ClientError::UnexpectedReply {
            verb: Verb::Hello,
            code: ReplyCode::Need
        })
    );
    let run = run_client(std::slice::from_ref(&create), &[b"150 NEED name\n"], true);
    assert_eq!(
        run.error,
        Some(ClientError::UnexpectedReply {
            verb: Verb::CreateBucket,
            code: ReplyCode::Need
        })
    );
    let run = run_client(&[create], &[b"150 NEED bucket\n300 BCS\n"], true);
    assert_eq!(run.error, None);
    assert_eq!(run.events.len(), 3, "{:?}", run.events);
}

#[test]
fn the_session_is_usable_after_every_kind_of_refusal() {
    // All refusals pipelined in one go, each followed by a HELLO.
    let mut input = Vec::new();
    let mut want = Vec::new();
    let refusals: Vec<(Vec<u8>, &str)> = vec![
        (padded_hello(5000, "\n"), "500 BCMD LINE_TOO_LONG"),
        (b"\xff\n".to_vec(), "500 BCMD SYNTAX"),
        (b"FOO\n".to_vec(), "500 BCMD UNKNOWN_VERB"),
        (b"HELLO x\n".to_vec(), "500 BCMD SYNTAX"),
        (b"UPLOAD b f\\x 1\nX".to_vec(), "500 BCMD SYNTAX"),
        (b"UPLOAD b .. 2\nxx".to_vec(), "701 FUBF BAD_NAME"),
        (b"CREATE_B\n\n".to_vec(), "301 BCF ABORTED"),
        (b"DOWNLOAD b \"unterminated\n".to_vec(), "500 BCMD SYNTAX"),
    ];
    for (bytes, head_want) in &refusals {
        input.extend_from_slice(bytes);
        input.extend_from_slice(b"HELLO\n");
        want.push(head_want.to_string());
        want.push("100 OK".to_owned());
    }
    let run = run_server_whole(&input);
    let heads: Vec<String> = run
        .reply_heads()
        .into_iter()
        .filter(|h| !h.starts_with("150"))
        .collect();
    assert_eq!(heads, want);
    assert_eq!(run.requests(), vec![Request::Hello; refusals.len()]);
    assert_eq!(run_server_bytewise(&input), run);
}

#[test]
fn pair_upload_and_download_with_errors_from_the_script() {
    let mut pair = Pair::new(|r: &Request<'static>, p: &[u8]| match r {
        Request::Upload { bucket, .. } if bucket.as_str() == "missing" => {
            Reply::failure(Verb::Upload, Reason::NoSuchBucket, "no bucket").into()
        }
        Request::Download { name, .. } if name.as_str() == "gone" => {
            Reply::failure(Verb::Download, Reason::NoSuchFile, "no file").into()
        }
        other => default_answer(other, p),
    });
    pair.send(&upload("missing", "f", 3), b"abc");
    pair.send(&download("b", "gone"), b"");
    pair.send(&download("b", "there"), b"");
    pair.send(&upload("b", "f", 2), b"xy");
    let events = pair.drive();
    let heads: Vec<String> = events
        .iter()
        .filter_map(|e| e.reply().map(|r| head(r)))
        .collect();
    assert_eq!(
        heads,
        [
            "701 FUBF NO_SUCH_BUCKET",
            "901 FDBF NO_SUCH_FILE",
            "900 FDBS",
            "700 FUBS"
        ]
    );
    assert!(events.contains(&CEv::Payload(pattern(5))));
    assert_eq!(
        pair.uploads,
        [
            (upload("missing", "f", 3), b"abc".to_vec()),
            (upload("b", "f", 2), b"xy".to_vec())
        ]
    );
    assert_eq!(pair.client.pending_requests(), 0);
}

/// An `UPLOAD` line the grammar refuses still has its payload on the way
/// (PROTOCOL.md § Upload payload): the session skips it by the line's plain
/// size and never reads it as requests, which here would delete a bucket.
#[test]
fn a_refused_upload_line_never_has_its_payload_read_as_requests() {
    let payload = b"DELETE_B victim\n";
    for line in [
        &b"UPLOAD photos a\\b 16\n"[..],
        b"UPLOAD photos \"t\tab\" 16\n",
        b"upload_f photos caf\xe9.txt 16\n",
        b"UPLOAD,photos,\"bad\\escape\",\"16\"\r\n",
    ] {
        refused_then_usable(&[line, payload].concat(), "500 BCMD SYNTAX");
    }
    // Over the upload limit there is nothing to skip to: reply, close.
    let input = [&b"UPLOAD photos a\\b 16\n"[..], payload, b"HELLO\n"].concat();
    let config = ServerConfig::default().with_max_upload_size(Some(15));
    let run = run_server_with(config, &[&input], false, &mut default_answer);
    assert_eq!(run.reply_heads(), ["500 BCMD SYNTAX"]);
    assert_eq!(run.events.last(), Some(&SEv::Closed));
    assert_eq!(run.requests(), []);
}

/// A list reply that fits no pending request is refused at its header,
/// before its items: its count may be endless, and each item costs memory.
#[test]
fn client_refuses_a_list_nobody_asked_for_at_its_header() {
    let run = run_client(
        &[Request::Hello],
        &[b"400 LS 18446744073709551615\na\nb\n"],
        false,
    );
    assert_eq!(
        run.error,
        Some(ClientError::UnexpectedReply {
            verb: Verb::Hello,
            code: ReplyCode::BucketList
        })
    );
    let run = run_client(&[], &[b"210 HELP 1000000\n\n\n"], false);
    assert_eq!(
        run.error,
        Some(ClientError::UnrequestedReply {
            code: ReplyCode::Help
        })
    );
    // The list that fits is still collected to its end.
    let run = run_client(&[Request::ListBuckets], &[b"400 LS 2\na\nb\n"], false);
    assert_eq!(run.error, None);
    assert_eq!(run.events.len(), 1);
}

/// A client session that sent `LIST_B` with `max_list_size` at `limit`.
fn listing_client(limit: Option<u64>) -> ClientSession {
    let config = ClientConfig::default().with_max_list_size(limit);
    client_with_config(config, &[Request::ListBuckets])
}

/// A list whose header announces more items than the limit could hold is
/// refused at the header, before any item: a hostile count costs nothing.
#[test]
fn client_refuses_a_list_over_its_limit_at_the_header() {
    let mut client = ClientSession::new();
    assert_eq!(
        client.config().max_list_size,
        Some(ClientConfig::DEFAULT_MAX_LIST_SIZE)
    );
    client.send_request(&Request::ListBuckets).unwrap();
    client.receive(b"400 LS 18446744073709551615\n");
    let want = ClientError::ListTooLarge {
        count: u64::MAX,
        limit: ClientConfig::DEFAULT_MAX_LIST_SIZE,
    };
    assert_eq!(client.poll_event().err(), Some(want.clone()));
    assert!(client.is_closed());
    assert_eq!(client.send_request(&Request::Hello), Err(SendError::Closed));
    assert_eq!(client.poll_event().err(), Some(want));

    // The header's own share is 64 bytes per item: 2 items need 128.
    let mut client = listing_client(Some(127));
    client.receive(b"400 LS 2\n");
    assert_eq!(
        client.poll_event().err(),
        Some(ClientError::ListTooLarge {
            count: 2,
            limit: 127
        })
    );
}

/// A list that passes its header but whose item lines go over the limit
/// fails at the item that goes over; one exactly at the limit is kept.
#[test]
fn client_refuses_a_list_over_its_limit_at_the_item_that_goes_over() {
    // 2 items: 128 bytes of overhead, then 3 + 2 bytes of lines.
    let list: &[u8] = b"400 LS 2\nabc\nde\n";
    let mut client = listing_client(Some(133));
    client.receive(list);
    match client.poll_event() {
        Ok(Some(ClientEvent::Reply { reply, .. })) => assert_eq!(
            reply,
            Reply::Buckets {
                buckets: vec![
                    BucketName::new("abc").unwrap(),
                    BucketName::new("de").unwrap()
                ]
            }
        ),
        other => panic!("want the list, got {other:?}"),
    }

    let mut client = listing_client(Some(132));
    client.receive(b"400 LS 2\nabc\n");
    assert_eq!(client.poll_event(), Ok(None), "131 bytes so far: fits");
    client.receive(b"de\n");
    assert_eq!(
        client.poll_event().err(),
        Some(ClientError::ListTooLarge {
            count: 2,
            limit: 132
        })
    );
    assert!(client.is_closed());
}

/// `None` lifts the limit; a limit changed while a list arrives applies from
/// the next list, so the list under way keeps the one it started with.
#[test]
fn client_list_limit_can_be_lifted_and_changes_apply_to_the_next_list() {
    let mut client = listing_client(None);
    client.receive(b"400 LS 1099511627776\na\nb\n");
    assert_eq!(client.poll_event(), Ok(None), "a huge count is accepted");
    assert!(!client.is_closed());

    let mut client = listing_client(Some(1 << 20));
    client.receive(b"400 LS 2\nabc\n");
    assert_eq!(client.poll_event(), Ok(None));
    client.set_config(ClientConfig::default().with_max_list_size(Some(0)));
    client.receive(b"de\n");
    assert!(matches!(
        client.poll_event(),
        Ok(Some(ClientEvent::Reply { .. }))
    ));
    client.send_request(&Request::ListBuckets).unwrap();
    client.receive(b"400 LS 1\na\n");
    assert_eq!(
        client.poll_event().err(),
        Some(ClientError::ListTooLarge { count: 1, limit: 0 })
    );
    // An empty list needs no room at all.
    let mut client = listing_client(Some(0));
    client.receive(b"400 LS 0\n");
    assert!(matches!(
        client.poll_event(),
        Ok(Some(ClientEvent::Reply { .. }))
    ));
}

/// A session that fails drops the requests it queued and the application
/// had not taken yet: a `DELETE_B` pipelined behind the reply that broke
/// the protocol never reaches the server (`poll_event`'s docs: nothing more
/// is sent).
#[test]
fn a_failed_client_session_drops_requests_queued_before_the_failure() {
    let mut client = ClientSession::new();
    client.send_request(&Request::Hello).unwrap();
    client
        .send_request(&Request::DeleteBucket {
            bucket: BucketName::new("b").unwrap(),
        })
        .unwrap();
    assert!(client.has_transmit());
    client.receive(b"300 BCS\n");
    assert_eq!(
        client.poll_event().map(|_| ()),
        Err(ClientError::UnexpectedReply {
            verb: Verb::Hello,
            code: ReplyCode::BucketCreated
        })
    );
    assert!(!client.has_transmit());
    let mut tx = Vec::new();
    assert_eq!(client.poll_transmit(&mut tx), 0);
    assert!(tx.is_empty());
}

/// `ServerSession::rejected_request` gives the verb and names of a line the
/// session refused for what its arguments hold (a bad name or size, an
/// upload over the limit), for a server's log; `None` for a line that
/// could not be split into a verb and arguments.
#[test]
fn a_refused_request_keeps_its_verb_and_names_for_logs() {
    let said = |input: &[u8], max: Option<u64>| {
        let mut server = ServerSession::new(ServerConfig::default().with_max_upload_size(max));
        server.receive(input);
        let event = server.poll_event();
        assert!(
            matches!(event, Some(ServerEvent::RequestRejected(_))),
            "{event:?}"
        );
        server
            .rejected_request()
            .map(|r| (r.verb, r.bucket.clone(), r.name.clone()))
    };
    let full = |verb, bucket: &str, name: Option<&str>| {
        Some((Some(verb), Some(bucket.to_owned()), name.map(str::to_owned)))
    };
    assert_eq!(
        said(b"DELETE_F b ../x\n", None),
        full(Verb::DeleteFile, "b", Some("../x"))
    );
    assert_eq!(
        said(b"CREATE_B \".hidden\"\n", None),
        full(Verb::CreateBucket, ".hidden", None)
    );
    // The bad size's UPLOAD: its error alone has no verb.
    assert_eq!(
        said(b"UPLOAD b \"a file\" -5\n", None),
        full(Verb::Upload, "b", Some("a file"))
    );
    assert_eq!(
        said(b"UPLOAD photos big 11\n", Some(10)),
        full(Verb::Upload, "photos", Some("big"))
    );
    // Over the limit with a bad name too: both names as sent.
    assert_eq!(
        said(b"UPLOAD ../b f 11\n", Some(10)),
        full(Verb::Upload, "../b", Some("f"))
    );
    // Through a dialogue: the answers are the arguments.
    let mut server = ServerSession::default();
    server.receive(b"DOWNLOAD\nb\n../f\n");
    assert!(matches!(
        server.poll_event(),
        Some(ServerEvent::Prompted { .. })
    ));
    assert!(matches!(
        server.poll_event(),
        Some(ServerEvent::Prompted { .. })
    ));
    assert!(matches!(
        server.poll_event(),
        Some(ServerEvent::RequestRejected(_))
    ));
    let r = server.rejected_request().unwrap();
    assert_eq!(
        (r.verb, r.bucket.as_deref(), r.name.as_deref()),
        (Some(Verb::Download), Some("b"), Some("../f"))
    );
    // Lines that could not be split, and a refusal after one that was.
    assert_eq!(said(b"NOPE b\n", None), None);
    assert_eq!(said(b"CREATE_B \"open\n", None), None);
    let mut server = ServerSession::default();
    server.receive(b"CREATE_B ../x\nNOPE\nHELLO\n");
    let _ = server.poll_event();
    assert!(server.rejected_request().is_some());
    let _ = server.poll_event();
    assert_eq!(server.rejected_request(), None);
}
