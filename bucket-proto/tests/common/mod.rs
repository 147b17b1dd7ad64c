//! Shared test harness: owned copies of session events, a scripted server, a
//! byte-feeding driver for each session, and an in-memory client/server
//! [`Pair`] (quinn's test `Pair` in spirit: two sessions, no sockets).
//!
//! Every test crate includes this module and uses a part of it.
#![allow(dead_code, clippy::unwrap_used)]

pub mod strategies;

use std::borrow::Cow;

use bucket_proto::{
    ClientConfig, ClientError, ClientEvent, ClientSession, FileEntry, Reply, Request, RequestError,
    ServerConfig, ServerEvent, ServerSession, Verb, decode, help,
};

// ---- owned events -------------------------------------------------------

/// A [`ServerEvent`], owned. Payload pieces are merged by the collectors
/// (their boundaries carry no meaning).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SEv {
    /// `RequestReceived`.
    Request(Request<'static>),
    /// `PayloadData` (consecutive pieces concatenated).
    Payload(Vec<u8>),
    /// `PayloadEnd`.
    PayloadEnd,
    /// `PayloadAborted`.
    PayloadAborted,
    /// `Prompted`.
    Prompted {
        verb: Verb,
        field: bucket_proto::Field,
    },
    /// `RequestRejected`.
    Rejected(RequestError),
    /// `Closed` (recorded once).
    Closed,
}

impl SEv {
    pub fn from_event(event: ServerEvent<'_>) -> SEv {
        match event {
            ServerEvent::RequestReceived(r) => SEv::Request(r.into_owned()),
            ServerEvent::PayloadData(d) => SEv::Payload(d.to_vec()),
            ServerEvent::PayloadEnd => SEv::PayloadEnd,
            ServerEvent::PayloadAborted => SEv::PayloadAborted,
            ServerEvent::Prompted { verb, field } => SEv::Prompted { verb, field },
            ServerEvent::RequestRejected(e) => SEv::Rejected(e),
            ServerEvent::Closed => SEv::Closed,
        }
    }
}

/// A [`ClientEvent`], owned. Payload pieces are merged by the collectors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CEv {
    /// `Reply`.
    Reply {
        request: Option<Verb>,
        reply: Reply<'static>,
    },
    /// `PayloadData` (consecutive pieces concatenated).
    Payload(Vec<u8>),
    /// `PayloadEnd`.
    PayloadEnd,
    /// `Closed` (recorded once).
    Closed,
}

impl CEv {
    pub fn from_event(event: ClientEvent<'_>) -> CEv {
        match event {
            ClientEvent::Reply { request, reply } => CEv::Reply {
                request,
                reply: reply.into_owned(),
            },
            ClientEvent::PayloadData(d) => CEv::Payload(d.to_vec()),
            ClientEvent::PayloadEnd => CEv::PayloadEnd,
            ClientEvent::Closed => CEv::Closed,
        }
    }

    /// The reply, for `Reply` events.
    pub fn reply(&self) -> Option<&Reply<'static>> {
        match self {
            CEv::Reply { reply, .. } => Some(reply),
            _ => None,
        }
    }
}

/// Appends `ev` to `log`, concatenating it onto a previous payload piece.
pub fn push_server(log: &mut Vec<SEv>, ev: SEv) {
    if let (SEv::Payload(new), Some(SEv::Payload(last))) = (&ev, log.last_mut()) {
        last.extend_from_slice(new);
        return;
    }
    log.push(ev);
}

/// Appends `ev` to `log`, concatenating it onto a previous payload piece.
pub fn push_client(log: &mut Vec<CEv>, ev: CEv) {
    if let (CEv::Payload(new), Some(CEv::Payload(last))) = (&ev, log.last_mut()) {
        last.extend_from_slice(new);
        return;
    }
    log.push(ev);
}

// ---- the scripted server ------------------------------------------------

/// What a scripted server answers to one request: a final reply and, for
/// `900 FDBS`, its payload.
#[derive(Debug, Clone)]
pub struct Answer {
    pub reply: Reply<'static>,
    pub payload: Vec<u8>,
}

impl From<Reply<'static>> for Answer {
    fn from(reply: Reply<'static>) -> Self {
        let payload = match reply {
            Reply::Download { size } => pattern(size as usize),
            _ => Vec::new(),
        };
        Answer { reply, payload }
    }
}

/// `n` deterministic payload bytes (with LFs and request-looking text in).
pub fn pattern(n: usize) -> Vec<u8> {
    b"HELLO\nQUIT\r\n\x00\xff900 FDBS 3\n"
        .iter()
        .copied()
        .cycle()
        .take(n)
        .collect()
}

/// A server that answers every request successfully and sensibly: the
/// default script of the harness.
pub fn default_answer(request: &Request<'static>, _payload: &[u8]) -> Answer {
    let reply: Reply<'static> = match request {
        Request::Hello => Reply::Hello {
            server: Cow::Borrowed("test/1"),
        },
        Request::Help { topic } => help::help(*topic),
        Request::Codes => Reply::code_table(),
        Request::Quit => Reply::Bye,
        Request::ListBuckets => Reply::Buckets {
            buckets: vec![
                "a".parse().unwrap(),
                "photos".parse().unwrap(),
                "x.y-z_0".parse().unwrap(),
            ],
        },
        Request::ListFiles { bucket } => {
            let b = bucket.clone().unwrap_or_else(|| "all".parse().unwrap());
            Reply::Files {
                files: vec![
                    FileEntry {
                        bucket: b.clone(),
                        name: "cat 1.png".parse().unwrap(),
                        size: 5,
                    },
                    FileEntry {
                        bucket: b,
                        name: "a,\"b\"".parse().unwrap(),
                        size: 0,
                    },
                ],
            }
        }
        Request::Download { name, .. } => Reply::Download {
            size: name.len() as u64,
        },
        other => Reply::success(other.verb()).unwrap(),
    };
    reply.into()
}

/// The script type: request and (for uploads) its payload in, answer out.
pub type Script<'s> = dyn FnMut(&Request<'static>, &[u8]) -> Answer + 's;

/// Takes every event the server has, answering requests with `script`, and
/// appends them (owned, payloads merged) to `log`. Stops when the session
/// needs input or reports `Closed` (recorded once).
pub fn pump_server(
    server: &mut ServerSession,
    script: &mut Script<'_>,
    log: &mut Vec<SEv>,
    current: &mut Option<(Request<'static>, Vec<u8>)>,
) {
    loop {
        let Some(event) = server.poll_event() else {
            return;
        };
        let ev = SEv::from_event(event);
        match &ev {
            SEv::Request(r) => {
                if r.payload_len().is_some() {
                    *current = Some((r.clone(), Vec::new()));
                } else {
                    let answer = script(r, &[]);
                    answer_with(server, &answer);
                }
            }
            SEv::Payload(d) => {
                current
                    .as_mut()
                    .expect("payload outside an upload")
                    .1
                    .extend_from_slice(d);
            }
            SEv::PayloadEnd => {
                let (r, data) = current.take().expect("payload end outside an upload");
                let answer = script(&r, &data);
                answer_with(server, &answer);
            }
            SEv::PayloadAborted => {
                *current = None;
            }
            SEv::Closed => {
                if log.last() != Some(&SEv::Closed) {
                    log.push(ev);
                }
                return;
            }
            SEv::Prompted { .. } | SEv::Rejected(_) => {}
        }
        push_server(log, ev);
    }
}

fn answer_with(server: &mut ServerSession, answer: &Answer) {
    server
        .send_reply(&answer.reply)
        .unwrap_or_else(|e| panic!("script reply {:?} refused: {e}", answer.reply));
    if !answer.payload.is_empty() {
        server
            .send_payload(&answer.payload)
            .expect("download payload refused");
    }
}

/// Everything a server session did with some input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerRun {
    /// Events, owned, payload pieces merged.
    pub events: Vec<SEv>,
    /// Every byte the session transmitted, in order.
    pub tx: Vec<u8>,
}

impl ServerRun {
    /// The transmitted bytes as text (lossy), for messages and `contains`.
    pub fn tx_text(&self) -> String {
        String::from_utf8_lossy(&self.tx).into_owned()
    }

    /// The requests the application received, in order.
    pub fn requests(&self) -> Vec<Request<'static>> {
        self.events
            .iter()
            .filter_map(|e| match e {
                SEv::Request(r) => Some(r.clone()),
                _ => None,
            })
            .collect()
    }

    /// The transmitted replies, decoded (900 payloads skipped).
    pub fn replies(&self) -> Vec<Reply<'static>> {
        decode_reply_stream(&self.tx)
    }

    /// `number mnemonic [reason]` of every transmitted reply, in order.
    pub fn reply_heads(&self) -> Vec<String> {
        self.replies().iter().map(head).collect()
    }
}

/// `"701 FUBF BAD_NAME"`, `"150 NEED bucket"` or `"300 BCS"`: a reply's code,
/// plus its reason or prompt field, without free text.
pub fn head(reply: &Reply<'_>) -> String {
    match reply {
        Reply::Failure { code, reason, .. } => format!("{code} {reason}"),
        Reply::Need { field } => format!("150 NEED {field}"),
        other => other.code().to_string(),
    }
}

/// Feeds `chunks` to a fresh server session (one `receive` per chunk, events
/// taken after each), then the end of input when `eof`; answers with
/// `script`.
pub fn run_server_with(
    config: ServerConfig,
    chunks: &[&[u8]],
    eof: bool,
    script: &mut Script<'_>,
) -> ServerRun {
    run_server_fed(config, chunks, eof, script, |server, chunk| {
        server.receive(chunk)
    })
}

/// Hands `chunk` to `server` through its zero-copy path: asks for at least
/// `chunk.len() + extra` bytes of room, writes the chunk there, commits it.
pub fn server_receive_direct(server: &mut ServerSession, chunk: &[u8], extra: usize) {
    let room = server.receive_buffer(chunk.len() + extra);
    assert!(
        room.len() >= chunk.len() + extra,
        "receive_buffer too small"
    );
    room[..chunk.len()].copy_from_slice(chunk);
    server.commit_received(chunk.len());
}

/// [`run_server`], feeding through `receive_buffer`/`commit_received`.
pub fn run_server_direct(chunks: &[&[u8]], eof: bool, extra: usize) -> ServerRun {
    run_server_fed(
        ServerConfig::default(),
        chunks,
        eof,
        &mut default_answer,
        |server, chunk| server_receive_direct(server, chunk, extra),
    )
}

/// The loop behind the `run_server*` helpers: `feed` hands each chunk to a
/// fresh session, events are taken after each, then the end of input when
/// `eof`.
fn run_server_fed(
    config: ServerConfig,
    chunks: &[&[u8]],
    eof: bool,
    script: &mut Script<'_>,
    mut feed: impl FnMut(&mut ServerSession, &[u8]),
) -> ServerRun {
    let mut server = ServerSession::new(config);
    let mut events = Vec::new();
    let mut tx = Vec::new();
    let mut current = None;
    for chunk in chunks {
        feed(&mut server, chunk);
        pump_server(&mut server, script, &mut events, &mut current);
        server.poll_transmit(&mut tx);
    }
    if eof {
        server.receive_eof();
        pump_server(&mut server, script, &mut events, &mut current);
        server.poll_transmit(&mut tx);
    }
    ServerRun { events, tx }
}

/// [`run_server_with`] with the default config and script.
pub fn run_server(chunks: &[&[u8]], eof: bool) -> ServerRun {
    run_server_with(ServerConfig::default(), chunks, eof, &mut default_answer)
}

/// [`run_server`] on one chunk, without end of input.
pub fn run_server_whole(input: &[u8]) -> ServerRun {
    run_server(&[input], false)
}

/// The first request `run` rejected.
#[track_caller]
pub fn rejection(run: &ServerRun) -> RequestError {
    run.events
        .iter()
        .find_map(|e| match e {
            SEv::Rejected(e) => Some(e.clone()),
            _ => None,
        })
        .expect("a rejection")
}

/// Asserts that `run` rejected a request with `want` (a `Syntax` error with
/// any detail when `want` is `Syntax`).
#[track_caller]
pub fn assert_rejected_with(run: &ServerRun, want: &RequestError) {
    let rejected = rejection(run);
    match (&rejected, want) {
        (RequestError::Syntax { .. }, RequestError::Syntax { .. }) => {}
        _ => assert_eq!(&rejected, want),
    }
}

/// Feeds `input` then `HELLO\n` (any split): the replies must be
/// `heads_want` and the session must then close without reading on, the
/// HELLO unanswered and no request handed to the application. For refusals
/// after which the stream cannot be told apart from an upload's payload.
pub fn refused_then_closed(input: &[u8], heads_want: &[&str]) -> ServerRun {
    let mut bytes = input.to_vec();
    bytes.extend_from_slice(b"HELLO\n");
    let run = run_server_whole(&bytes);
    let shown = String::from_utf8_lossy(input);
    assert_eq!(run.reply_heads(), heads_want, "{shown:?}");
    assert_eq!(run.events.last(), Some(&SEv::Closed), "{shown:?}");
    assert_eq!(run.requests(), [], "{shown:?}");
    assert_eq!(run_server_bytewise(&bytes), run, "{shown:?}");
    run
}

/// [`run_server`] one byte at a time, without end of input.
pub fn run_server_bytewise(input: &[u8]) -> ServerRun {
    let chunks: Vec<&[u8]> = input.chunks(1).collect();
    run_server(&chunks, false)
}

/// Splits `input` at the given points (any order, duplicates and points past
/// the end allowed).
pub fn split_at_points<'a>(input: &'a [u8], points: &[usize]) -> Vec<&'a [u8]> {
    let mut cuts: Vec<usize> = points
        .iter()
        .map(|&p| p.min(input.len()))
        .chain([0, input.len()])
        .collect();
    cuts.sort_unstable();
    cuts.dedup();
    cuts.windows(2).map(|w| &input[w[0]..w[1]]).collect()
}

/// Splits `input` at points chosen by proptest [`proptest::sample::Index`]es.
pub fn split_at_indices<'a>(input: &'a [u8], points: &[proptest::sample::Index]) -> Vec<&'a [u8]> {
    let points: Vec<usize> = points.iter().map(|i| i.index(input.len() + 1)).collect();
    split_at_points(input, &points)
}

// ---- the client side ----------------------------------------------------

/// Everything a client session did with some received bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientRun {
    /// Events, owned, payload pieces merged.
    pub events: Vec<CEv>,
    /// The error that ended the session, if any.
    pub error: Option<ClientError>,
}

/// Takes every event the client has; appends them to `log`. Returns the error
/// if the session failed.
pub fn pump_client(client: &mut ClientSession, log: &mut Vec<CEv>) -> Result<(), ClientError> {
    loop {
        match client.poll_event()? {
            None => return Ok(()),
            Some(event) => {
                let ev = CEv::from_event(event);
                if ev == CEv::Closed {
                    if log.last() != Some(&CEv::Closed) {
                        log.push(ev);
                    }
                    return Ok(());
                }
                push_client(log, ev);
            }
        }
    }
}

/// A client session that has sent `pending` (payloads for uploads included,
/// transmitted bytes thrown away).
pub fn client_with_pending(pending: &[Request<'_>]) -> ClientSession {
    client_with_config(ClientConfig::default(), pending)
}

/// [`client_with_pending`] for a session with `config`.
pub fn client_with_config(config: ClientConfig, pending: &[Request<'_>]) -> ClientSession {
    let mut client = ClientSession::with_config(config);
    for r in pending {
        client.send_request(r).expect("send_request");
        if let Some(n) = r.payload_len() {
            client.send_payload(&pattern(n as usize)).expect("payload");
        }
    }
    let mut sink = Vec::new();
    client.poll_transmit(&mut sink);
    client
}

/// Feeds `chunks` of a reply stream to a client that has sent `pending`,
/// then the end of input when `eof`.
pub fn run_client(pending: &[Request<'_>], chunks: &[&[u8]], eof: bool) -> ClientRun {
    run_client_fed(pending, chunks, eof, |client, chunk| client.receive(chunk))
}

/// [`run_client`], feeding through `receive_buffer`/`commit_received`.
pub fn run_client_direct(
    pending: &[Request<'_>],
    chunks: &[&[u8]],
    eof: bool,
    extra: usize,
) -> ClientRun {
    run_client_fed(pending, chunks, eof, |client, chunk| {
        let room = client.receive_buffer(chunk.len() + extra);
        assert!(
            room.len() >= chunk.len() + extra,
            "receive_buffer too small"
        );
        room[..chunk.len()].copy_from_slice(chunk);
        client.commit_received(chunk.len());
    })
}

/// The loop behind the `run_client*` helpers: `feed` hands each chunk to a
/// client that has sent `pending`, events are taken after each, then the
/// end of input when `eof`; the first error ends the run.
fn run_client_fed(
    pending: &[Request<'_>],
    chunks: &[&[u8]],
    eof: bool,
    mut feed: impl FnMut(&mut ClientSession, &[u8]),
) -> ClientRun {
    let mut client = client_with_pending(pending);
    let mut events = Vec::new();
    let mut run = || -> Result<(), ClientError> {
        for chunk in chunks {
            feed(&mut client, chunk);
            pump_client(&mut client, &mut events)?;
        }
        if eof {
            client.receive_eof();
            pump_client(&mut client, &mut events)?;
        }
        Ok(())
    };
    let error = run().err();
    ClientRun { events, error }
}

/// Decodes a whole stream of replies with [`decode::reply`], skipping each
/// `900` payload. Panics on anything malformed or incomplete.
pub fn decode_reply_stream(mut bytes: &[u8]) -> Vec<Reply<'static>> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        match decode::reply(bytes) {
            Ok(decode::Decoded::Complete { value, consumed }) => {
                let skip = value.payload_len().unwrap_or(0) as usize;
                out.push(value.into_owned());
                bytes = &bytes[consumed + skip..];
            }
            other => panic!(
                "reply stream broken at {:?}: {other:?}",
                String::from_utf8_lossy(bytes)
            ),
        }
    }
    out
}

// ---- the pair -----------------------------------------------------------

/// A client and a server session joined in memory, the server answering with
/// a script.
pub struct Pair<'s> {
    pub client: ClientSession,
    pub server: ServerSession,
    script: Box<Script<'s>>,
    /// Every server event so far (owned, payload pieces merged).
    pub server_events: Vec<SEv>,
    /// Every upload the server application received: request and payload.
    pub uploads: Vec<(Request<'static>, Vec<u8>)>,
    current: Option<(Request<'static>, Vec<u8>)>,
    /// Every byte that went client → server and server → client.
    pub to_server: Vec<u8>,
    pub to_client: Vec<u8>,
}

impl<'s> Pair<'s> {
    /// A pair whose server answers with `script`.
    pub fn new(script: impl FnMut(&Request<'static>, &[u8]) -> Answer + 's) -> Self {
        Pair::with_config(ServerConfig::default(), script)
    }

    /// A pair whose server has `config` and answers with `script`.
    pub fn with_config(
        config: ServerConfig,
        script: impl FnMut(&Request<'static>, &[u8]) -> Answer + 's,
    ) -> Self {
        Pair {
            client: ClientSession::new(),
            server: ServerSession::new(config),
            script: Box::new(script),
            server_events: Vec::new(),
            uploads: Vec::new(),
            current: None,
            to_server: Vec::new(),
            to_client: Vec::new(),
        }
    }

    /// A pair with [`default_answer`] as its script.
    pub fn default_script() -> Pair<'static> {
        Pair::new(default_answer)
    }

    /// Moves bytes both ways until neither side has anything to send, and
    /// returns the client events that came out (owned, payloads merged).
    pub fn try_drive(&mut self) -> Result<Vec<CEv>, ClientError> {
        let mut client_events = Vec::new();
        loop {
            let mut moved = false;
            let mut up = Vec::new();
            if self.client.poll_transmit(&mut up) > 0 {
                moved = true;
                self.to_server.extend_from_slice(&up);
                self.server.receive(&up);
            }
            let before = self.server_events.len();
            let script = &mut self.script;
            let mut wrapped = |r: &Request<'static>, p: &[u8]| {
                if r.payload_len().is_some() {
                    self.uploads.push((r.clone(), p.to_vec()));
                }
                script(r, p)
            };
            pump_server(
                &mut self.server,
                &mut wrapped,
                &mut self.server_events,
                &mut self.current,
            );
            moved |= self.server_events.len() != before;
            let mut down = Vec::new();
            if self.server.poll_transmit(&mut down) > 0 {
                moved = true;
                self.to_client.extend_from_slice(&down);
                self.client.receive(&down);
            }
            pump_client(&mut self.client, &mut client_events)?;
            if !moved {
                return Ok(client_events);
            }
        }
    }

    /// [`Pair::try_drive`], panicking on a client error.
    pub fn drive(&mut self) -> Vec<CEv> {
        self.try_drive().expect("client error")
    }

    /// Sends `request` (and for an upload `payload`) from the client.
    pub fn send(&mut self, request: &Request<'_>, payload: &[u8]) {
        self.client.send_request(request).expect("send_request");
        if !payload.is_empty() {
            self.client.send_payload(payload).expect("send_payload");
        }
    }

    /// Sends raw bytes to the server, bypassing the client session (for
    /// dialogues, which a `Request` cannot express).
    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.to_server.extend_from_slice(bytes);
        self.server.receive(bytes);
    }
}

// ---- small constructors -------------------------------------------------

pub fn bucket(s: &str) -> bucket_proto::BucketName<'static> {
    s.parse().unwrap()
}

pub fn file(s: &str) -> bucket_proto::FileName<'static> {
    s.parse().unwrap()
}

pub fn upload(b: &str, f: &str, size: u64) -> Request<'static> {
    Request::Upload {
        bucket: bucket(b),
        name: file(f),
        size,
    }
}

pub fn download(b: &str, f: &str) -> Request<'static> {
    Request::Download {
        bucket: bucket(b),
        name: file(f),
    }
}

/// Encodes one reply.
pub fn enc_reply(reply: &Reply<'_>) -> Vec<u8> {
    let mut out = Vec::new();
    bucket_proto::encode::reply(reply, &mut out).expect("encodable reply");
    out
}

/// Encodes one request line.
pub fn enc_request(request: &Request<'_>) -> Vec<u8> {
    let mut out = Vec::new();
    bucket_proto::encode::request(request, &mut out);
    out
}
