//! Fuzz-like properties: arbitrary bytes and byte strings built from protocol
//! fragments, fed to either session in random chunks, never panic, keep the
//! buffers bounded, give only well-formed event sequences and well-formed
//! output, and do not depend on the chunking. The one-shot decoders agree
//! with the server session and never panic either.
#![allow(clippy::unwrap_used)]

mod common;

use bucket_proto::decode::{self, Decoded};
use bucket_proto::{
    ClientError, ClientSession, MAX_LINE_LEN, MAX_REPLY_LINE_LEN, Reason, ReplyCode, Request,
    RequestError, ServerSession, Verb, encode,
};
use common::strategies::{protocol_bytes, split_points};
use common::*;
use proptest::prelude::*;

/// Feeds `chunks` to a server with the default script, checking after each
/// step that the buffer is bounded, then the end of input.
fn server_checked(chunks: &[&[u8]]) -> ServerRun {
    let mut server = ServerSession::default();
    let mut events = Vec::new();
    let mut tx = Vec::new();
    let mut current = None;
    let mut fed = 0usize;
    for chunk in chunks {
        server.receive(chunk);
        fed += chunk.len();
        assert!(server.buffered() <= fed);
        pump_server(&mut server, &mut default_answer, &mut events, &mut current);
        server.poll_transmit(&mut tx);
        // The script always answers at once, so whatever is left is less
        // than one line (the framer reports a line as too long as soon as it
        // reaches the limit) or the session is over.
        if !server.is_closed() {
            assert!(
                server.buffered() < MAX_LINE_LEN,
                "{} bytes buffered",
                server.buffered()
            );
        }
    }
    server.receive_eof();
    pump_server(&mut server, &mut default_answer, &mut events, &mut current);
    server.poll_transmit(&mut tx);
    assert!(server.is_closed(), "end of input closes the session");
    ServerRun { events, tx }
}

/// Checks the event sequence is one the server documents.
fn check_server_events(events: &[SEv]) {
    let mut upload: Option<(u64, u64)> = None; // (size, received)
    let mut prompted: Option<(Verb, usize)> = None;
    for (i, e) in events.iter().enumerate() {
        if let Some((size, got)) = upload {
            match e {
                SEv::Payload(p) => {
                    assert!(!p.is_empty());
                    upload = Some((size, got + p.len() as u64));
                    assert!(got + p.len() as u64 <= size, "payload overrun");
                    continue;
                }
                SEv::PayloadEnd => {
                    assert_eq!(got, size, "payload end before all bytes");
                    upload = None;
                    continue;
                }
                SEv::PayloadAborted => {
                    assert_eq!(events.get(i + 1), Some(&SEv::Closed));
                    upload = None;
                    continue;
                }
                other => panic!("{other:?} inside an upload payload"),
            }
        }
        match e {
            SEv::Request(r) => {
                if let Some(size) = r.payload_len() {
                    upload = Some((size, 0));
                }
                prompted = None;
            }
            SEv::Prompted { verb, field } => {
                // Prompts ask for the verb's required fields, in order.
                let next = match prompted {
                    Some((v, n)) if v == *verb => n + 1,
                    _ => verb
                        .required()
                        .iter()
                        .position(|f| f == field)
                        .expect("prompt for a field the verb requires"),
                };
                assert_eq!(verb.required().get(next), Some(field), "{events:?}");
                prompted = Some((*verb, next));
            }
            SEv::Rejected(_) => prompted = None,
            SEv::Closed => assert_eq!(i, events.len() - 1, "Closed is last"),
            SEv::Payload(_) | SEv::PayloadEnd | SEv::PayloadAborted => {
                panic!("{e:?} outside an upload: {events:?}")
            }
        }
    }
}

/// Checks the server's output is a well-formed reply stream with one final
/// reply per answered request.
fn check_server_output(run: &ServerRun) {
    let replies = decode_reply_stream(&run.tx);
    let finals = replies.iter().filter(|r| r.is_final()).count();
    let prompts = replies.len() - finals;
    let prompted = run
        .events
        .iter()
        .filter(|e| matches!(e, SEv::Prompted { .. }))
        .count();
    assert_eq!(prompts, prompted);
    let requests = run.requests().len();
    let aborted = run
        .events
        .iter()
        .filter(|e| **e == SEv::PayloadAborted)
        .count();
    let rejected = run
        .events
        .iter()
        .filter(|e| matches!(e, SEv::Rejected(_)))
        .count();
    // A refused upload whose payload was cut short by the end of input has
    // its reply dropped with the connection: at most one such.
    let want = requests - aborted + rejected;
    assert!(
        finals == want || finals + 1 == want,
        "{finals} final replies for {want} answerable requests: {:?}",
        run.tx_text()
    );
}

fn client_pending() -> Vec<Request<'static>> {
    vec![
        Request::Hello,
        Request::ListBuckets,
        download("b", "f"),
        Request::ListFiles { bucket: None },
        Request::Help { topic: None },
        upload("b", "f", 0),
        Request::Codes,
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn server_survives_arbitrary_bytes(
        input in prop::collection::vec(any::<u8>(), 0..8192),
        points in split_points(),
    ) {
        let chunks = split_at_indices(&input, &points);
        let run = server_checked(&chunks);
        check_server_events(&run.events);
        check_server_output(&run);
        prop_assert_eq!(&run_server_direct(&chunks, true, 3), &run);
        prop_assert_eq!(server_checked(&[&input]), run);
    }

    #[test]
    fn server_survives_protocol_fragments(
        input in protocol_bytes(64),
        points in split_points(),
    ) {
        let chunks = split_at_indices(&input, &points);
        let run = server_checked(&chunks);
        check_server_events(&run.events);
        check_server_output(&run);
        prop_assert_eq!(server_checked(&[&input]), run);
    }

    #[test]
    fn client_survives_arbitrary_bytes(
        input in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..8192),
            protocol_bytes(64),
        ],
        points in split_points(),
    ) {
        let pending = client_pending();
        let chunks = split_at_indices(&input, &points);
        let run = run_client(&pending, &chunks, true);
        // Either a clean close or an error; never neither.
        prop_assert!(run.error.is_some() || run.events.last() == Some(&CEv::Closed));
        let mut in_payload = false;
        for e in &run.events {
            match e {
                CEv::Reply { reply, .. } => {
                    prop_assert!(!in_payload);
                    in_payload = reply.payload_len().is_some();
                    // Whatever was decoded can be encoded again.
                    prop_assert!(encode::reply(reply, &mut Vec::new()).is_ok());
                }
                CEv::Payload(p) => prop_assert!(in_payload && !p.is_empty()),
                CEv::PayloadEnd => {
                    prop_assert!(in_payload);
                    in_payload = false;
                }
                CEv::Closed => prop_assert!(!in_payload),
            }
        }
        prop_assert_eq!(&run_client_direct(&pending, &chunks, true, 5), &run);
        prop_assert_eq!(run_client(&pending, &[&input], true), run);
    }

    /// A client with nothing pending delivers `500 BCMD BUSY` replies as
    /// they come and fails on the first other reply (one reply per
    /// request): what it delivers, and how it fails, must be what
    /// decode::reply reads in a loop up to there.
    #[test]
    fn client_agrees_with_decode_reply(
        input in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..2048),
            protocol_bytes(48),
            // BUSY replies, then anything.
            (1usize..4, protocol_bytes(8)).prop_map(|(n, tail)| {
                let mut bytes = b"500 BCMD BUSY full\r\n".repeat(n);
                bytes.extend_from_slice(&tail);
                bytes
            }),
        ],
        points in split_points(),
    ) {
        let mut decoded = Vec::new();
        let mut rest = &input[..];
        let want_error = loop {
            match decode::reply(rest) {
                Ok(Decoded::Complete { value, consumed }) => {
                    let code = value.code();
                    if code != ReplyCode::BadCommand || value.reason() != Some(Reason::Busy) {
                        break Some(ClientError::UnrequestedReply { code });
                    }
                    decoded.push(value.into_owned());
                    rest = &rest[consumed..];
                }
                // A list header with items to come is already one nobody
                // asked for.
                Ok(Decoded::Incomplete) => {
                    break list_header_code(rest).map(|code| ClientError::UnrequestedReply { code });
                }
                Err(e) => {
                    break Some(list_header_code(rest).map_or(ClientError::Reply(e), |code| {
                        ClientError::UnrequestedReply { code }
                    }));
                }
            }
        };
        let run = run_client(&[], &split_at_indices(&input, &points), false);
        let replies: Vec<_> = run.events.iter().filter_map(|e| e.reply().cloned()).collect();
        prop_assert_eq!(replies, decoded);
        prop_assert_eq!(run.error, want_error);
    }

    #[test]
    fn decoders_never_panic_and_agree_with_the_server(
        input in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..600),
            protocol_bytes(12),
        ],
    ) {
        match decode::request(&input) {
            Ok(Decoded::Complete { value, consumed }) => {
                prop_assert!(consumed > 0 && consumed <= input.len());
                prop_assert_eq!(input[consumed - 1], b'\n');
                prop_assert!(consumed <= MAX_LINE_LEN);
                // Canonical re-encoding decodes to the same request.
                let wire = enc_request(&value);
                prop_assert_eq!(
                    decode::request(&wire),
                    Ok(Decoded::Complete { value: value.clone(), consumed: wire.len() })
                );
                // The server session reads the same request from the line.
                let run = run_server_whole(&input[..consumed]);
                prop_assert_eq!(run.events.first(), Some(&SEv::Request(value.into_owned())));
            }
            Ok(Decoded::Incomplete) => {
                prop_assert!(!input.contains(&b'\n') && input.len() < MAX_LINE_LEN);
                let run = run_server_whole(&input);
                prop_assert!(run.events.is_empty() && run.tx.is_empty());
            }
            Err(RequestError::MissingArgument { verb, field }) => {
                // The server opens a dialogue instead.
                let line_end = input.iter().position(|&b| b == b'\n').unwrap() + 1;
                let run = run_server_whole(&input[..line_end]);
                prop_assert_eq!(run.events, vec![SEv::Prompted { verb, field }]);
            }
            Err(RequestError::Syntax { detail: "blank line" }) => {
                let line_end = input.iter().position(|&b| b == b'\n').unwrap() + 1;
                let run = run_server_whole(&input[..line_end]);
                prop_assert!(run.events.is_empty() && run.tx.is_empty());
            }
            Err(error) => {
                let line_end = input
                    .iter()
                    .position(|&b| b == b'\n')
                    .map_or(input.len(), |p| p + 1);
                let run = run_server_whole(&input[..line_end]);
                prop_assert_eq!(run.events.first(), Some(&SEv::Rejected(error.clone())));
                let heads = run.reply_heads();
                if heads.is_empty() {
                    // Only a refused upload holds its reply, until its
                    // payload has passed.
                    prop_assert!(
                        matches!(error, RequestError::BadName { verb: Verb::Upload, .. }),
                        "{:?}", error
                    );
                } else {
                    prop_assert_eq!(
                        heads[0].clone(),
                        format!("{} {}", error.code(), error.reason())
                    );
                }
            }
        }
        match decode::reply(&input) {
            Ok(Decoded::Complete { value, consumed }) => {
                prop_assert!(consumed > 0 && consumed <= input.len());
                prop_assert_eq!(input[consumed - 1], b'\n');
                let mut out = Vec::new();
                prop_assert!(encode::reply(&value, &mut out).is_ok());
                // Re-encoded, it decodes to a reply of the same code.
                match decode::reply(&out) {
                    Ok(Decoded::Complete { value: again, .. }) => {
                        prop_assert_eq!(again.code(), value.code());
                    }
                    other => prop_assert!(false, "{:?}", other),
                }
            }
            Ok(Decoded::Incomplete) => {
                prop_assert!(input.len() < MAX_REPLY_LINE_LEN || input.contains(&b'\n'));
            }
            Err(_) => {}
        }
    }
}

#[test]
fn a_flood_without_line_ends_stays_bounded() {
    // 1 MiB with no LF at all: one LINE_TOO_LONG, a bounded buffer.
    let mut server = ServerSession::default();
    let chunk = vec![b'A'; 64 * 1024];
    for _ in 0..16 {
        server.receive(&chunk);
        while let Some(e) = server.poll_event() {
            assert!(matches!(
                e,
                bucket_proto::ServerEvent::RequestRejected(RequestError::LineTooLong { .. })
            ));
        }
        assert_eq!(server.buffered(), 0);
    }
    let mut tx = Vec::new();
    server.poll_transmit(&mut tx);
    assert_eq!(decode_reply_stream(&tx).len(), 1);

    // The same for a client: an endless reply line fails the session.
    let mut client = ClientSession::new();
    client.receive(&chunk);
    assert!(client.poll_event().is_err());
}

/// The code of the list reply `data` starts with, when its first line is a
/// whole, valid list header with items to come (`decode::reply` of that
/// line alone needs more input: only such a header decodes that way).
fn list_header_code(data: &[u8]) -> Option<ReplyCode> {
    let line = &data[..=data.iter().position(|&b| b == b'\n')?];
    if decode::reply(line) != Ok(Decoded::Incomplete) {
        return None;
    }
    let digits = line.split(|&b| b == b' ').next()?;
    let number: u16 = std::str::from_utf8(digits).ok()?.parse().ok()?;
    ReplyCode::from_number(number)
}
