//! Upload payloads read by the application itself
//! (`payload_direct_room` / `payload_received_directly`, the path a server
//! takes to read a socket straight into a store's block): the same events
//! and the same transmitted bytes as when the session hands the payload out,
//! for any segmentation, and never a byte of the next request taken as
//! payload.
#![allow(clippy::unwrap_used)]

mod common;

use bucket_proto::{
    DirectReceiveError, Reason, Reply, ServerEvent, ServerSession, ServerState, Verb,
};
use common::strategies::split_points;
use common::*;
use proptest::prelude::*;

/// Runs `input`, cut into `chunks`, through a server session the way a
/// direct-reading server does: whenever the session has direct room, the
/// next bytes (at most the room, at most what the current chunk still
/// holds) are taken by the application and reported; everything else goes
/// through `receive`. Payload bytes taken directly are logged as payload
/// events, so the log compares with the ordinary path's. No end of input.
fn run_direct(chunks: &[&[u8]]) -> ServerRun {
    let mut server = ServerSession::default();
    let mut events = Vec::new();
    let mut tx = Vec::new();
    let mut current = None;
    for chunk in chunks {
        let mut rest = *chunk;
        while !rest.is_empty() {
            let room = server.payload_direct_room();
            if room > 0 {
                let n = rest.len().min(usize::try_from(room).unwrap());
                let (direct, after) = rest.split_at(n);
                current
                    .as_mut()
                    .map(|(_, data): &mut (_, Vec<u8>)| data.extend_from_slice(direct))
                    .expect("direct room outside an upload");
                push_server(&mut events, SEv::Payload(direct.to_vec()));
                server.payload_received_directly(n as u64).unwrap();
                rest = after;
            } else {
                // As a server reads a socket: what has arrived, at once.
                server.receive(rest);
                rest = &[];
            }
            pump_server(&mut server, &mut default_answer, &mut events, &mut current);
            server.poll_transmit(&mut tx);
        }
    }
    ServerRun { events, tx }
}

/// Uploads of several sizes (0, tiny, with request-looking bytes, large),
/// a refused one (bad name) and requests pipelined right after payloads.
fn script() -> Vec<u8> {
    let mut input = Vec::new();
    input.extend_from_slice(b"HELLO\nUPLOAD b one 10\n");
    input.extend_from_slice(&pattern(10));
    input.extend_from_slice(b"LIST_B\nUPLOAD b empty 0\nUPLOAD b big 70000\n");
    input.extend_from_slice(&pattern(70_000));
    input.extend_from_slice(b"UPLOAD b ..bad/ 25\n");
    input.extend_from_slice(&pattern(25));
    input.extend_from_slice(b"UPLOAD b tail 33\n");
    input.extend_from_slice(&pattern(33));
    input.extend_from_slice(b"QUIT\n");
    input
}

#[test]
fn direct_reads_give_the_same_events_and_bytes_as_the_session_path() {
    let input = script();
    let reference = run_server_whole(&input);
    assert!(reference.events.contains(&SEv::Closed), "{reference:?}");
    for size in [1, 7, 4096, 65_536, input.len()] {
        let chunks: Vec<&[u8]> = input.chunks(size).collect();
        assert_eq!(run_direct(&chunks), reference, "chunks of {size}");
    }
}

#[test]
fn room_is_the_payload_still_to_come_and_only_when_nothing_is_buffered() {
    let mut server = ServerSession::default();
    assert_eq!(server.payload_direct_room(), 0, "idle");
    // The line and the first 4 payload bytes arrive together: those 4 are
    // the session's to hand out first.
    server.receive(b"UPLOAD b f 10\nabcd");
    assert!(matches!(
        server.poll_event(),
        Some(ServerEvent::RequestReceived(_))
    ));
    assert_eq!(server.payload_direct_room(), 0, "4 bytes still buffered");
    assert!(matches!(
        server.poll_event(),
        Some(ServerEvent::PayloadData(b"abcd"))
    ));
    assert_eq!(server.payload_direct_room(), 6);
    let error: DirectReceiveError = server.payload_received_directly(7).unwrap_err();
    assert_eq!((error.room, error.given), (6, 7));
    assert_eq!(
        server.payload_direct_room(),
        6,
        "a refused call changes nothing"
    );
    server.payload_received_directly(0).unwrap();
    server.payload_received_directly(5).unwrap();
    assert_eq!(server.payload_direct_room(), 1);
    assert!(server.poll_event().is_none(), "one byte still to come");
    server.payload_received_directly(1).unwrap();
    assert_eq!(server.payload_direct_room(), 0);
    assert!(matches!(server.poll_event(), Some(ServerEvent::PayloadEnd)));
    assert_eq!(server.state(), ServerState::AwaitingReply);
    server
        .send_reply(&Reply::success(Verb::Upload).unwrap())
        .unwrap();
    let mut out = Vec::new();
    server.poll_transmit(&mut out);
    assert_eq!(out, b"700 FUBS\n");
}

#[test]
fn no_room_while_a_refused_upload_is_discarded() {
    let mut server = ServerSession::default();
    server.receive(b"UPLOAD b f 100\n");
    assert!(matches!(
        server.poll_event(),
        Some(ServerEvent::RequestReceived(_))
    ));
    assert_eq!(server.payload_direct_room(), 100);
    // The store fails before the payload: the session discards it.
    server
        .send_reply(&Reply::failure(Verb::Upload, Reason::Io, "disk on fire"))
        .unwrap();
    assert_eq!(server.state(), ServerState::DiscardingPayload);
    assert_eq!(server.payload_direct_room(), 0);
    assert!(server.payload_received_directly(1).is_err());
}

#[test]
fn end_of_input_mid_payload_still_aborts_the_upload() {
    let mut server = ServerSession::default();
    server.receive(b"UPLOAD b f 100\n");
    assert!(matches!(
        server.poll_event(),
        Some(ServerEvent::RequestReceived(_))
    ));
    server.payload_received_directly(60).unwrap();
    server.receive_eof();
    assert!(matches!(
        server.poll_event(),
        Some(ServerEvent::PayloadAborted)
    ));
    assert!(server.is_closed());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_segmentation_with_direct_reads_matches(points in split_points()) {
        let input = script();
        let reference = run_server_whole(&input);
        let chunks = split_at_indices(&input, &points);
        prop_assert_eq!(run_direct(&chunks), reference);
    }
}
