//! Shared checking code for bucket-proto's fuzz targets (docs/fuzzing.md).
//!
//! Each target in `fuzz_targets/` is one call into this crate, in the manner
//! of imap-codec's fuzz crate: the targets stay thin and the invariants live
//! here, where they can be read (and unit-tested) in one place.
//!
//! | entry point | target | what it feeds |
//! | --- | --- | --- |
//! | [`request_line`] | `request_line` | raw bytes to `decode::request`, and the first line to a `ServerSession` |
//! | [`reply`] | `reply` | raw bytes to `decode::reply`, and to a `ClientSession` |
//! | [`server_session`] | `server_session` | raw bytes to a `ServerSession`, whole and in chunks |
//! | [`client_session`] | `client_session` | raw bytes to a `ClientSession`, whole and in chunks |
//! | [`roundtrip`] | `roundtrip` | structured values (from `arbitrary`) through encode/decode and a client/server pair |
//!
//! Every check panics (so libFuzzer reports a crash) when an invariant does
//! not hold; "does not crash" is the least of them.

use std::borrow::Cow;
use std::collections::VecDeque;

use arbitrary::Arbitrary;
use bucket_proto::{
    BucketName, ClientConfig, ClientError, ClientEvent, ClientSession, Decoded, Field, FileEntry,
    FileName, MAX_LINE_LEN, MAX_REPLY_LINE_LEN, Reason, Reply, ReplyCode, Request, RequestError,
    ServerConfig, ServerEvent, ServerSession, ServerState, Verb, decode, encode, help,
};

// ---- splitting ----------------------------------------------------------

/// FNV-1a over `data`: the seed for everything an input decides besides its
/// own bytes (split points, the server's upload limit).
pub fn hash(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// A small deterministic generator (xorshift64*).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator seeded with `seed` (any value).
    pub fn new(seed: u64) -> Self {
        Rng(seed | 1)
    }

    /// The next number.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in `1..=max`.
    pub fn step(&mut self, max: u64) -> usize {
        (self.next_u64() % max + 1) as usize
    }
}

/// Split points for an input of `len` bytes, drawn from `seed`: a mix of
/// 1-byte, short, medium and long chunks, so lines, CR LF pairs, headers and
/// payloads are cut everywhere over many runs.
pub fn split_points(seed: u64, len: usize) -> Vec<usize> {
    let mut rng = Rng::new(seed);
    let mut points = Vec::new();
    let mut at = 0;
    while at < len {
        at += match rng.next_u64() % 4 {
            0 => 1,
            1 => rng.step(8),
            2 => rng.step(64),
            _ => rng.step(2048),
        };
        points.push(at.min(len));
    }
    points
}

/// `input` cut at `points` (any order; duplicates and points past the end
/// are allowed). Every byte is in exactly one chunk, in order.
pub fn chunks<'a>(input: &'a [u8], points: &[usize]) -> Vec<&'a [u8]> {
    let mut cuts: Vec<usize> = points
        .iter()
        .map(|&p| p.min(input.len()))
        .chain([0, input.len()])
        .collect();
    cuts.sort_unstable();
    cuts.dedup();
    cuts.windows(2).map(|w| &input[w[0]..w[1]]).collect()
}

/// Inputs up to this size are also fed one byte at a time.
pub const BYTEWISE_MAX: usize = 512;

/// `n` deterministic payload bytes, with LFs and request/reply-looking text
/// in them so a payload that is mistaken for lines shows.
pub fn pattern(n: usize) -> Vec<u8> {
    b"HELLO\nQUIT\r\n\x00\xff900 FDBS 3\n150 NEED bucket\n"
        .iter()
        .copied()
        .cycle()
        .take(n)
        .collect()
}

// ---- owned events -------------------------------------------------------

/// A [`ServerEvent`], owned; consecutive payload pieces are merged (their
/// boundaries carry no meaning).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SEv {
    /// `RequestReceived`.
    Request(Request<'static>),
    /// `PayloadData`, merged.
    Payload(Vec<u8>),
    /// `PayloadEnd`.
    PayloadEnd,
    /// `PayloadAborted`.
    PayloadAborted,
    /// `Prompted`.
    Prompted(Verb, Field),
    /// `RequestRejected`.
    Rejected(RequestError),
    /// `Closed` (recorded once).
    Closed,
}

impl SEv {
    /// An owned copy of `event`.
    pub fn from_event(event: ServerEvent<'_>) -> SEv {
        match event {
            ServerEvent::RequestReceived(r) => SEv::Request(r.into_owned()),
            ServerEvent::PayloadData(d) => SEv::Payload(d.to_vec()),
            ServerEvent::PayloadEnd => SEv::PayloadEnd,
            ServerEvent::PayloadAborted => SEv::PayloadAborted,
            ServerEvent::Prompted { verb, field } => SEv::Prompted(verb, field),
            ServerEvent::RequestRejected(e) => SEv::Rejected(e),
            ServerEvent::Closed => SEv::Closed,
        }
    }
}

/// A [`ClientEvent`], owned; consecutive payload pieces are merged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CEv {
    /// `Reply`.
    Reply(Option<Verb>, Reply<'static>),
    /// `PayloadData`, merged.
    Payload(Vec<u8>),
    /// `PayloadEnd`.
    PayloadEnd,
    /// `Closed` (recorded once).
    Closed,
}

impl CEv {
    /// An owned copy of `event`.
    pub fn from_event(event: ClientEvent<'_>) -> CEv {
        match event {
            ClientEvent::Reply { request, reply } => CEv::Reply(request, reply.into_owned()),
            ClientEvent::PayloadData(d) => CEv::Payload(d.to_vec()),
            ClientEvent::PayloadEnd => CEv::PayloadEnd,
            ClientEvent::Closed => CEv::Closed,
        }
    }
}

fn push_merged_s(log: &mut Vec<SEv>, ev: SEv) {
    if let (SEv::Payload(new), Some(SEv::Payload(last))) = (&ev, log.last_mut()) {
        last.extend_from_slice(new);
    } else {
        log.push(ev);
    }
}

fn push_merged_c(log: &mut Vec<CEv>, ev: CEv) {
    if let (CEv::Payload(new), Some(CEv::Payload(last))) = (&ev, log.last_mut()) {
        last.extend_from_slice(new);
    } else {
        log.push(ev);
    }
}

// ---- canonical values ---------------------------------------------------

/// Free text as the encoder writes it: cut at a character boundary to
/// `MAX_TEXT_LEN` bytes, control characters (C0, DEL, C1) replaced by
/// spaces.
fn clean(t: &str) -> String {
    let mut end = t.len().min(encode::MAX_TEXT_LEN);
    while !t.is_char_boundary(end) {
        end -= 1;
    }
    t[..end]
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// Panics with `what` and both values, each cut to 1,000 characters of
/// `Debug` (fuzz inputs can be long), unless `a == b`.
#[track_caller]
pub fn same<T: PartialEq + std::fmt::Debug + ?Sized>(a: &T, b: &T, what: &str) {
    if a != b {
        let cut = |v: &T| {
            let s = format!("{v:?}");
            match s.char_indices().nth(1000) {
                Some((i, _)) => format!("{}… ({} chars)", &s[..i], s.len()),
                None => s,
            }
        };
        panic!("{what}\n  left: {}\n right: {}", cut(a), cut(b));
    }
}

/// What `reply` decodes to once encoded: free text cut and with controls
/// replaced by spaces ([`clean`]), and empty optional text as none.
pub fn normalize(reply: &Reply<'_>) -> Reply<'static> {
    let opt = |t: &Option<Cow<'_, str>>| {
        t.as_deref()
            .filter(|t| !t.is_empty())
            .map(|t| Cow::Owned(clean(t)))
    };
    let lines = |l: &[Cow<'_, str>]| l.iter().map(|t| Cow::Owned(clean(t))).collect();
    match reply {
        Reply::Hello { server } => Reply::Hello {
            server: Cow::Owned(clean(server)),
        },
        Reply::Help { lines: l } => Reply::Help { lines: lines(l) },
        Reply::Codes { lines: l } => Reply::Codes { lines: lines(l) },
        Reply::Success { code, text } => Reply::Success {
            code: *code,
            text: opt(text),
        },
        Reply::Failure { code, reason, text } => Reply::Failure {
            code: *code,
            reason: *reason,
            text: opt(text),
        },
        other => other.clone().into_owned(),
    }
}

/// Whether `code` may answer a request with `verb` (a prompt, the verb's own
/// success or failure, or `500 BCMD`): the rule the client enforces.
pub fn fits(verb: Verb, code: ReplyCode) -> bool {
    code == ReplyCode::Need
        || code == verb.success_code()
        || code == verb.failure_code()
        || code == ReplyCode::BadCommand
}

fn encode_request(r: &Request<'_>) -> Vec<u8> {
    let mut out = Vec::new();
    encode::request(r, &mut out);
    out
}

/// `r` encodes to one line of at most `MAX_LINE_LEN` bytes that decodes back
/// to `r`, taking exactly that line.
pub fn check_request_roundtrip(r: &Request<'_>) {
    let wire = encode_request(r);
    assert!(
        wire.len() <= MAX_LINE_LEN,
        "encoded request is {} bytes: {r:?}",
        wire.len()
    );
    assert_eq!(wire.iter().filter(|&&b| b == b'\n').count(), 1);
    same(
        &decode::request(&wire),
        &Ok(Decoded::Complete {
            value: r.clone(),
            consumed: wire.len(),
        }),
        "encode then decode changed the request",
    );
}

/// `reply` encodes, every line of the encoding fits `MAX_REPLY_LINE_LEN`
/// (the encoder cuts free text to `MAX_TEXT_LEN`), what it encodes to
/// decodes to [`normalize`]`(reply)`, taking every byte, and re-encodes to
/// the same bytes.
pub fn check_reply_roundtrip(reply: &Reply<'_>) {
    let mut wire = Vec::new();
    encode::reply(reply, &mut wire).expect("a reply built or decoded as valid must encode");
    assert_eq!(wire.last(), Some(&b'\n'));
    let longest = wire
        .split_inclusive(|&b| b == b'\n')
        .map(<[u8]>::len)
        .max()
        .unwrap_or(0);
    assert!(
        longest <= MAX_REPLY_LINE_LEN,
        "the encoder wrote a {longest}-byte line"
    );
    let expected = normalize(reply);
    same(
        &decode::reply(&wire),
        &Ok(Decoded::Complete {
            value: expected.clone(),
            consumed: wire.len(),
        }),
        "encode then decode changed the reply",
    );
    let mut again = Vec::new();
    encode::reply(&expected, &mut again).expect("decoded reply encodes");
    same(&again, &wire, "encoding is not a fixed point");
}

// ---- request_line -------------------------------------------------------

/// The length of the first line of `data` (through its LF) when the framer
/// would hand it out, i.e. when the LF is within `MAX_LINE_LEN` bytes.
fn first_line_len(data: &[u8], max: usize) -> Option<usize> {
    data[..data.len().min(max)]
        .iter()
        .position(|&b| b == b'\n')
        .map(|lf| lf + 1)
}

/// `request_line`: `decode::request` on raw bytes.
///
/// - `decode::request` (fast path, then grammar) gives exactly what
///   `decode::request_reference` (the nom grammar alone) gives;
/// - never panics; `consumed` is within the input, ends on the line's LF and
///   at most `MAX_LINE_LEN`;
/// - `Incomplete` exactly when no LF came within `MAX_LINE_LEN` bytes and
///   fewer than that arrived; `LineTooLong` exactly when that many did;
/// - the consumed prefix re-decodes to the same value, and every shorter
///   prefix is `Incomplete`;
/// - a decoded request re-encodes and decodes to itself;
/// - a `ServerSession` fed the same line agrees: `RequestReceived` of the
///   same value, `Prompted` for a missing argument, `RequestRejected` with the
///   same error, nothing for a blank line.
pub fn request_line(data: &[u8]) {
    let result = decode::request(data);
    // The fast path (bucket-proto's scan.rs) never disagrees with the nom
    // grammar alone, which is the reference.
    same(
        &result,
        &decode::request_reference(data),
        "decode::request and the grammar alone (request_reference) disagree",
    );
    let line_len = first_line_len(data, MAX_LINE_LEN);
    match &result {
        Ok(Decoded::Complete { value, consumed }) => {
            let consumed = *consumed;
            assert_eq!(Some(consumed), line_len, "consumed is not the first line");
            assert!(consumed <= data.len() && consumed <= MAX_LINE_LEN);
            check_consumed_prefix(data, consumed, value, decode::request);
            check_request_roundtrip(value);
        }
        Ok(Decoded::Incomplete) => {
            assert_eq!(line_len, None);
            assert!(data.len() < MAX_LINE_LEN);
        }
        Err(RequestError::LineTooLong { max }) => {
            assert_eq!(*max, MAX_LINE_LEN);
            assert_eq!(line_len, None);
            assert!(data.len() >= MAX_LINE_LEN);
            // Reported as soon as the limit is reached, not one byte later
            // (docs/protocol.md, decision 5).
            same(
                &decode::request(&data[..MAX_LINE_LEN]),
                &result,
                "the limit is reached at exactly MAX_LINE_LEN bytes",
            );
            same(
                &decode::request(&data[..MAX_LINE_LEN - 1]),
                &Ok(Decoded::Incomplete),
                "one byte short of the limit",
            );
        }
        Err(error) => {
            assert!(line_len.is_some(), "error {error:?} before the line ended");
            let mut out = Vec::new();
            encode::reply(&error.reply(), &mut out).expect("error reply encodes");
        }
    }

    // The server session reads the same line the same way.
    let mut server = ServerSession::default();
    let fed = match (&result, line_len) {
        (Ok(Decoded::Complete { .. }) | Err(_), Some(n)) => &data[..n],
        _ => data,
    };
    server.receive(fed);
    let blank = matches!(
        result,
        Err(RequestError::Syntax {
            detail: "blank line"
        })
    );
    let event = server.poll_event().map(SEv::from_event);
    let expected = match result {
        Ok(Decoded::Complete { value, .. }) => Some(SEv::Request(value.into_owned())),
        Ok(Decoded::Incomplete) => None,
        Err(_) if blank => None,
        Err(RequestError::MissingArgument { verb, field }) => Some(SEv::Prompted(verb, field)),
        Err(error) => Some(SEv::Rejected(error)),
    };
    same(
        &event,
        &expected,
        "decode::request and ServerSession disagree",
    );
    if expected.is_none() {
        assert!(!server.has_transmit());
        assert_eq!(server.state(), ServerState::Idle);
    }
}

/// `decode` (a request or reply decoder) on `data[..consumed]`, the part a
/// complete decode of `data` took, gives the same `value` and `consumed`,
/// and on every shorter prefix ([`prefix_lengths`]) asks for more input.
fn check_consumed_prefix<'d, T, E>(
    data: &'d [u8],
    consumed: usize,
    value: &T,
    decode: impl Fn(&'d [u8]) -> Result<Decoded<T>, E>,
) where
    T: Clone + PartialEq + std::fmt::Debug,
    E: PartialEq + std::fmt::Debug,
{
    same(
        &decode(&data[..consumed]),
        &Ok(Decoded::Complete {
            value: value.clone(),
            consumed,
        }),
        "the consumed prefix decodes differently",
    );
    for k in prefix_lengths(consumed) {
        assert_eq!(
            decode(&data[..k]),
            Ok(Decoded::Incomplete),
            "prefix of {k} bytes"
        );
    }
}

/// Which strict prefixes of a `len`-byte message to re-decode: all of them
/// for short messages, an even sample of 64 for long ones.
fn prefix_lengths(len: usize) -> Vec<usize> {
    if len <= 256 {
        (0..len).collect()
    } else {
        (0..64).map(|i| i * len / 64).collect()
    }
}

// ---- reply --------------------------------------------------------------

/// `reply`: `decode::reply` on raw bytes.
///
/// - never panics; `consumed` is within the input and ends on an LF;
/// - the consumed prefix re-decodes to the same value and every strict
///   prefix of it is `Incomplete`;
/// - the value encodes, decodes back (text normalised) and re-encodes to the
///   same bytes;
/// - a `ClientSession` with nothing pending, fed the same bytes, delivers the
///   same reply if it is `500 BCMD BUSY` and fails with `UnrequestedReply`
///   for any other, needs more input, or fails with the same error.
pub fn reply(data: &[u8]) {
    let result = decode::reply(data);
    if let Ok(Decoded::Complete { value, consumed }) = &result {
        let consumed = *consumed;
        assert!(consumed >= 1 && consumed <= data.len());
        assert_eq!(data[consumed - 1], b'\n');
        check_consumed_prefix(data, consumed, value, decode::reply);
        check_reply_roundtrip(value);
    }

    let mut client = ClientSession::new();
    client.receive(data);
    let got = client.poll_event().map(|e| e.map(CEv::from_event));
    let expected = match result {
        // With nothing pending only `500 BCMD BUSY` is delivered; any
        // other reply is one nobody asked for.
        Ok(Decoded::Complete { value, .. })
            if value.code() == ReplyCode::BadCommand && value.reason() == Some(Reason::Busy) =>
        {
            Ok(Some(CEv::Reply(None, value.into_owned())))
        }
        Ok(Decoded::Complete { value, .. }) => {
            Err(ClientError::UnrequestedReply { code: value.code() })
        }
        // A list header is judged when it arrives, before its items.
        Ok(Decoded::Incomplete) => list_header_error(data, None).map_or(Ok(None), Err),
        Err(e) => Err(list_header_error(data, None).unwrap_or(ClientError::Reply(e))),
    };
    same(&got, &expected, "decode::reply and ClientSession disagree");
}

// ---- server_session -----------------------------------------------------

/// The server configuration an input runs with: no upload limit for half
/// the inputs, a small one (0–99 bytes) for the others.
pub fn server_config_for(data: &[u8]) -> ServerConfig {
    let h = hash(data);
    let max = (h & 1 == 0).then_some((h >> 8) % 100);
    ServerConfig::default().with_max_upload_size(max)
}

/// A deterministic application: what it answers to `request`, depending
/// only on the request, so a whole and a chunked run get the same answers.
/// `early` is true when an upload is refused before its payload arrives.
fn application_answer(request: &Request<'_>) -> (Reply<'static>, Vec<u8>, bool) {
    let odd = |s: &str| s.len() % 2 == 1;
    let reply = match request {
        Request::Hello => Reply::Hello {
            server: Cow::Borrowed("fuzz/1"),
        },
        Request::Help { topic } => help::help(*topic),
        Request::Codes => Reply::code_table(),
        Request::Quit => Reply::Bye,
        Request::ListBuckets => Reply::Buckets {
            buckets: vec![BucketName::new("a").expect("valid")],
        },
        Request::ListFiles { bucket } => Reply::Files {
            files: vec![FileEntry {
                bucket: bucket
                    .clone()
                    .unwrap_or_else(|| BucketName::new("all").expect("valid"))
                    .into_owned(),
                name: FileName::new("a \"b\",c").expect("valid"),
                size: 3,
            }],
        },
        Request::Download { bucket, name } => {
            if odd(bucket) {
                Reply::failure(Verb::Download, Reason::NoSuchFile, "no such file")
            } else {
                let size = name.len() * 37 % 301;
                return (Reply::Download { size: size as u64 }, pattern(size), false);
            }
        }
        Request::Upload { name, .. } => {
            // Odd names are refused before the payload (the session drops
            // it and sends the reply after it); names starting with 'f' are
            // refused after it; the rest succeed.
            let early = odd(name);
            let reply = if early || name.starts_with('f') {
                Reply::failure(Verb::Upload, Reason::Io, "disk full")
            } else {
                Reply::success(Verb::Upload).expect("one-line success")
            };
            return (reply, Vec::new(), early);
        }
        other => match other.bucket() {
            Some(b) if odd(b) => Reply::failure(other.verb(), Reason::NoSuchBucket, "no bucket"),
            _ => Reply::success(other.verb()).expect("one-line success"),
        },
    };
    (reply, Vec::new(), false)
}

/// Everything a server session did with one input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerRun {
    /// Events, owned, payload pieces merged, `Closed` once.
    pub events: Vec<SEv>,
    /// Every byte transmitted, in order.
    pub tx: Vec<u8>,
}

/// The application side of a server run, between chunks.
#[derive(Default)]
struct ServerApp {
    /// The upload being received: its size and the payload bytes so far.
    upload: Option<(u64, u64)>,
    /// A reply owed once the upload's payload ends.
    owed: Option<Reply<'static>>,
    /// An answer held back until the session has no more events.
    deferred: Option<(Reply<'static>, Vec<u8>, u64)>,
}

/// Whether the application holds its answer to `request` back until the
/// session has no more events (as a slow store would), rather than answering
/// at once; and the seed of how it sends a download's payload.
fn answer_style(request: &Request<'_>) -> (bool, u64) {
    let h = hash(&encode_request(request));
    (h & 2 != 0, h)
}

/// How one chunk reaches a session, drawn per chunk in chunked runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feed {
    /// `receive(chunk)`, then take events.
    Copy,
    /// `receive_buffer(len + extra)`, write, `commit_received(len)`, then
    /// take events.
    Direct,
    /// `receive_buffer`, write, take events *while the room is lent*, then
    /// `commit_received`: the bytes already buffered are consumed between the
    /// two calls.
    DirectPollFirst,
    /// `receive(chunk)` and no events taken until the next chunk, so the
    /// next one lands behind unprocessed bytes (compaction, growth).
    CopyDeferred,
    /// As a server reading uploads into a store's own buffer: whenever the
    /// session has `payload_direct_room`, the next bytes of the chunk (at
    /// most the room) are taken by the application and reported with
    /// `payload_received_directly`, logged as payload; the rest goes
    /// through `receive`.
    ReadPayloadDirectly,
}

/// The feed for each of `n` chunks: all [`Feed::Copy`] when `seed` is
/// `None` (the whole-input run), else drawn from `seed`.
pub fn feeds(seed: Option<u64>, n: usize) -> Vec<(Feed, usize)> {
    let Some(seed) = seed else {
        return vec![(Feed::Copy, 0); n];
    };
    let mut rng = Rng::new(seed ^ 0x5eed_f00d);
    (0..n)
        .map(|_| {
            let feed = match rng.next_u64() % 5 {
                0 => Feed::Copy,
                1 => Feed::Direct,
                2 => Feed::DirectPollFirst,
                3 => Feed::ReadPayloadDirectly,
                _ => Feed::CopyDeferred,
            };
            (feed, (rng.next_u64() % 100) as usize)
        })
        .collect()
}

/// Feeds `chunks` to a fresh session, each the way `feeds` says (see
/// [`Feed`]), then the end of input, answering with
/// [`application_answer`]; checks the per-step invariants on the way:
/// - waiting for input, the session holds less than one line
///   (`MAX_LINE_LEN`) unprocessed, and nothing while it takes a payload;
/// - its receive buffer (unprocessed bytes plus spare room) grows only as
///   far as asked: never beyond the most that was unprocessed plus asked for
///   at one `receive`/`receive_buffer` call;
/// - it never waits for the application, which always answers at once;
/// - end of input closes it, and closed is final.
pub fn run_server(config: ServerConfig, chunks: &[&[u8]], feeds: &[(Feed, usize)]) -> ServerRun {
    let mut server = ServerSession::new(config);
    let mut app = ServerApp::default();
    let mut events = Vec::new();
    let mut tx = Vec::new();
    let mut fed = 0usize;
    // The most the buffer may hold: unprocessed plus asked for, at any call.
    let mut bound = 0;
    for (chunk, &(feed, extra)) in chunks.iter().zip(feeds) {
        let asked = match feed {
            Feed::Copy | Feed::CopyDeferred | Feed::ReadPayloadDirectly => chunk.len(),
            Feed::Direct | Feed::DirectPollFirst => chunk.len() + extra,
        };
        bound = bound.max(server.buffered() + asked);
        match feed {
            Feed::Copy | Feed::CopyDeferred => server.receive(chunk),
            Feed::ReadPayloadDirectly => {
                let mut rest: &[u8] = chunk;
                while !rest.is_empty() {
                    let room = server.payload_direct_room();
                    if room == 0 {
                        server.receive(rest);
                        rest = &[];
                    } else {
                        assert_eq!(server.buffered(), 0, "direct room with bytes buffered");
                        // (A room of u64::MAX bytes has no "one more".)
                        if let Some(more) = room.checked_add(1) {
                            assert!(
                                server.payload_received_directly(more).is_err(),
                                "more than the room accepted"
                            );
                        }
                        let n = rest.len().min(usize::try_from(room).unwrap_or(usize::MAX));
                        server
                            .payload_received_directly(n as u64)
                            .expect("within the room");
                        let (size, got) =
                            app.upload.as_mut().expect("direct room outside an upload");
                        *got += n as u64;
                        assert!(*got <= *size, "direct payload beyond the announced size");
                        push_merged_s(&mut events, SEv::Payload(rest[..n].to_vec()));
                        rest = &rest[n..];
                    }
                    pump_server(&mut server, &mut app, &mut events, &mut tx);
                }
            }
            Feed::Direct | Feed::DirectPollFirst => {
                let room = server.receive_buffer(chunk.len() + extra);
                assert!(
                    room.len() >= chunk.len() + extra,
                    "receive_buffer too short"
                );
                room[..chunk.len()].copy_from_slice(chunk);
                if feed == Feed::DirectPollFirst {
                    pump_server(&mut server, &mut app, &mut events, &mut tx);
                }
                server.commit_received(chunk.len());
            }
        }
        fed += chunk.len();
        assert!(server.buffered() <= fed);
        if feed == Feed::CopyDeferred {
            continue;
        }
        pump_server(&mut server, &mut app, &mut events, &mut tx);
        // Waiting for input: what is buffered is less than one line, and
        // nothing at all while a payload is being taken.
        match server.state() {
            ServerState::Idle | ServerState::Dialogue => assert!(
                server.buffered() < MAX_LINE_LEN,
                "{} bytes buffered in {:?}",
                server.buffered(),
                server.state()
            ),
            ServerState::ReceivingPayload | ServerState::DiscardingPayload => {
                assert_eq!(server.buffered(), 0)
            }
            ServerState::Closed => {}
            s @ (ServerState::AwaitingReply | ServerState::SendingPayload) => {
                panic!("session waits in {s:?} though the application answered")
            }
            // ServerState is #[non_exhaustive]: a state added later must be
            // placed in this check before it passes.
            s => panic!("a state this harness does not know: {s:?}"),
        }
        if !server.is_closed() {
            let held = server.buffered() + server.receive_buffer(0).len();
            assert!(
                held <= bound,
                "receive buffer of {held} bytes, at most {bound} were asked for"
            );
        }
        server.poll_transmit(&mut tx);
    }
    server.receive_eof();
    pump_server(&mut server, &mut app, &mut events, &mut tx);
    server.poll_transmit(&mut tx);
    assert_eq!(events.last(), Some(&SEv::Closed), "end of input must close");
    assert!(server.is_closed());
    // Closed is final: more input is ignored and nothing more is sent.
    let left = server.buffered();
    server.receive(b"HELLO\n");
    server.receive_buffer(6)[..6].copy_from_slice(b"QUIT\r\n");
    server.commit_received(6);
    assert_eq!(server.buffered(), left);
    assert!(matches!(server.poll_event(), Some(ServerEvent::Closed)));
    assert!(!server.has_transmit());
    ServerRun { events, tx }
}

fn pump_server(
    server: &mut ServerSession,
    app: &mut ServerApp,
    log: &mut Vec<SEv>,
    tx: &mut Vec<u8>,
) {
    loop {
        let Some(event) = server.poll_event() else {
            // A held-back answer goes out once the session waits for it.
            match app.deferred.take() {
                Some((reply, payload, seed)) => {
                    assert_eq!(server.state(), ServerState::AwaitingReply);
                    assert!(!server.wants_input(), "waits for a reply, not input");
                    answer(server, &reply, &payload, tx, seed);
                    continue;
                }
                None => {
                    // Nothing owed by the application: input is what the
                    // session waits for.
                    assert!(
                        server.wants_input(),
                        "nothing to do, yet no input wanted in {:?}",
                        server.state()
                    );
                    return;
                }
            }
        };
        let ev = SEv::from_event(event);
        match &ev {
            SEv::Request(r) => {
                assert!(app.upload.is_none(), "request inside an upload");
                assert!(
                    app.deferred.is_none(),
                    "request before the last was answered"
                );
                check_request_roundtrip(r);
                let (reply, payload, early) = application_answer(r);
                let (defer, seed) = answer_style(r);
                if let Some(size) = r.payload_len() {
                    app.upload = Some((size, 0));
                    if early {
                        server.send_reply(&reply).expect("early upload failure");
                        assert!(matches!(
                            server.state(),
                            ServerState::DiscardingPayload | ServerState::Idle
                        ));
                        app.upload = None;
                    } else {
                        app.owed = Some(reply);
                    }
                } else if defer {
                    app.deferred = Some((reply, payload, seed));
                } else {
                    answer(server, &reply, &payload, tx, seed);
                }
            }
            SEv::Payload(d) => {
                let (size, got) = app.upload.as_mut().expect("payload outside an upload");
                assert!(!d.is_empty(), "empty payload piece");
                *got += d.len() as u64;
                assert!(*got <= *size, "payload beyond the announced size");
            }
            SEv::PayloadEnd => {
                let (size, got) = app.upload.take().expect("payload end outside an upload");
                assert_eq!(got, size, "payload end before the announced size");
                let reply = app.owed.take().expect("a reply is owed");
                match log.iter().rev().find_map(|e| match e {
                    SEv::Request(r) => Some(answer_style(r)),
                    _ => None,
                }) {
                    Some((true, seed)) => app.deferred = Some((reply, Vec::new(), seed)),
                    _ => answer(server, &reply, &[], tx, 0),
                }
            }
            SEv::PayloadAborted => {
                let (size, got) = app.upload.take().expect("abort outside an upload");
                assert!(got < size);
                app.owed = None;
            }
            SEv::Prompted(..) | SEv::Rejected(_) => {
                assert!(app.upload.is_none(), "dialogue inside an upload");
            }
            SEv::Closed => {
                if log.last() != Some(&SEv::Closed) {
                    log.push(ev);
                }
                return;
            }
        }
        push_merged_s(log, ev);
    }
}

/// Sends `reply` and, for a download, `payload` in pieces drawn from
/// `seed`: queued with `send_payload`, or written "directly" into `tx`
/// (after draining what is queued) and reported with
/// `payload_sent_directly`, with empty pieces among them. Checks the
/// sending contract on the way: nothing but payload while it is owed, an
/// overrun is refused and changes nothing.
fn answer(
    server: &mut ServerSession,
    reply: &Reply<'_>,
    payload: &[u8],
    tx: &mut Vec<u8>,
    seed: u64,
) {
    server
        .send_reply(reply)
        .unwrap_or_else(|e| panic!("reply {reply:?} refused: {e}"));
    let size = reply.payload_len().unwrap_or(0);
    assert_eq!(payload.len() as u64, size);
    let mut rng = Rng::new(seed);
    let mut rest = payload;
    while !rest.is_empty() {
        let remaining = rest.len() as u64;
        assert_eq!(server.payload_remaining(), Some(remaining));
        if rng.next_u64().is_multiple_of(4) {
            assert_eq!(
                server.send_reply(&Reply::Bye),
                Err(bucket_proto::SendError::PayloadPending { remaining })
            );
            let before = server.has_transmit();
            assert_eq!(
                server.send_payload(&pattern(rest.len() + 1)),
                Err(bucket_proto::SendError::PayloadOverrun { remaining })
            );
            assert_eq!(server.has_transmit(), before);
            assert_eq!(server.payload_remaining(), Some(remaining));
        }
        let n = rng.step(rest.len() as u64).min(rest.len());
        let n = if rng.next_u64().is_multiple_of(8) {
            0
        } else {
            n
        };
        let (piece, after) = rest.split_at(n);
        if rng.next_u64().is_multiple_of(2) {
            server.send_payload(piece).expect("send_payload");
        } else {
            server.poll_transmit(tx);
            tx.extend_from_slice(piece);
            server
                .payload_sent_directly(piece.len() as u64)
                .expect("payload_sent_directly");
        }
        rest = after;
    }
    assert_eq!(server.payload_remaining(), None);
    // Nothing is owed now: empty payloads are fine, bytes are not (and
    // after `200 BYE` the session is closed to them).
    assert_eq!(server.send_payload(&[]), Ok(()));
    let refusal = if server.is_closed() {
        bucket_proto::SendError::Closed
    } else {
        bucket_proto::SendError::PayloadOverrun { remaining: 0 }
    };
    assert_eq!(server.send_payload(b"x"), Err(refusal));
}

/// Replies in a server's transmitted bytes, decoded one after another, each
/// with its download payload (empty for other replies). Panics when the
/// bytes are not a well-formed reply stream.
pub fn decode_reply_stream(mut tx: &[u8]) -> Vec<(Reply<'static>, Vec<u8>)> {
    let mut replies = Vec::new();
    while !tx.is_empty() {
        match decode::reply(tx) {
            Ok(Decoded::Complete { value, consumed }) => {
                tx = &tx[consumed..];
                let mut payload = Vec::new();
                if let Some(n) = value.payload_len() {
                    let n = usize::try_from(n).expect("payload fits");
                    assert!(tx.len() >= n, "download payload cut short");
                    payload = tx[..n].to_vec();
                    tx = &tx[n..];
                }
                replies.push((value.into_owned(), payload));
            }
            other => panic!(
                "the server transmitted bytes the reply decoder refuses: {other:?} at {:?}",
                String::from_utf8_lossy(&tx[..tx.len().min(200)])
            ),
        }
    }
    replies
}

/// The replies a server run must have transmitted, in order, from its
/// events: a `150 NEED` per prompt, the session's own reply per rejection,
/// the application's answer per request (for an upload once its payload
/// ended, none when it was aborted; an early refusal is sent after the
/// payload has been dropped).
pub fn expected_server_replies(events: &[SEv]) -> Vec<Reply<'static>> {
    let mut expected = Vec::new();
    for (i, e) in events.iter().enumerate() {
        match e {
            SEv::Prompted(_, field) => expected.push(Reply::Need { field: *field }),
            SEv::Rejected(error) => expected.push(normalize(&error.reply())),
            SEv::Request(r) => {
                let (reply, _, early) = application_answer(r);
                if r.payload_len().is_some() && !early {
                    let ended = events[i + 1..]
                        .iter()
                        .find(|e| !matches!(e, SEv::Payload(_)))
                        == Some(&SEv::PayloadEnd);
                    if !ended {
                        continue;
                    }
                }
                expected.push(normalize(&reply));
            }
            _ => {}
        }
    }
    expected
}

/// `server_session` with explicit split points: the session fed `data`
/// whole and cut at each of `splits` (each chunk copied in or written into
/// the session's own buffer, see [`Feed`]) gives the same events and
/// transmits the same bytes, and the run keeps every invariant of [`check_server_run`].
pub fn check_server_stream(data: &[u8], splits: &[&[usize]]) {
    let config = server_config_for(data);
    let whole = run_server(config.clone(), &[data], &feeds(None, 1));
    check_server_run(data, &config, &whole);
    for (i, points) in splits.iter().enumerate() {
        let pieces = chunks(data, points);
        let how = feeds(Some(hash(data).wrapping_add(i as u64)), pieces.len());
        let chunked = run_server(config.clone(), &pieces, &how);
        same(&whole, &chunked, "splitting the input changed the session");
    }
}

/// Invariants of one whole-input server run:
/// - what the server transmitted is a well-formed reply stream, and exactly
///   the replies its events call for ([`expected_server_replies`]), in
///   request order, download payloads intact;
/// - it sent one `150 NEED` per `Prompted` event, and at most one final reply
///   per request (received or rejected), so at most one per LF of input plus
///   one (an over-long last line);
/// - payload events never exceed the announced sizes, nor the input.
pub fn check_server_run(data: &[u8], config: &ServerConfig, run: &ServerRun) {
    let stream = decode_reply_stream(&run.tx);
    for (reply, payload) in &stream {
        if let Some(n) = reply.payload_len() {
            assert_eq!(*payload, pattern(n as usize), "download payload changed");
        }
    }
    let replies: Vec<Reply<'static>> = stream.into_iter().map(|(r, _)| r).collect();
    // Exactly the replies the events call for, in request order; only the
    // last may be missing: an upload's refusal held until its payload has
    // passed, when the input ends first (docs/protocol.md, decision 18) —
    // a `701 FUBF`, or the `500 BCMD` of an `UPLOAD` line the grammar
    // refused, whose payload is skipped all the same (decision 3).
    let expected = expected_server_replies(&run.events);
    let n = replies.len();
    same(
        &replies[..],
        &expected[..n.min(expected.len())],
        "wrong replies or order",
    );
    if n != expected.len() {
        assert_eq!(
            n + 1,
            expected.len(),
            "replies missing: {:?}",
            &expected[n..]
        );
        match expected[n].code() {
            ReplyCode::FileUploadFailed => {}
            ReplyCode::BadCommand => {
                // Held behind a payload: the last thing that happened.
                let last = run.events.iter().rev().find(|e| **e != SEv::Closed);
                assert!(
                    matches!(last, Some(SEv::Rejected(e)) if e.code() == ReplyCode::BadCommand),
                    "a missing 500 BCMD must be the refusal held last: {last:?}"
                );
            }
            other => panic!("a {other} reply is missing"),
        }
    }
    let needs = replies.iter().filter(|r| !r.is_final()).count();
    let finals = replies.len() - needs;
    let count = |f: fn(&SEv) -> bool| run.events.iter().filter(|e| f(e)).count();
    let prompted = count(|e| matches!(e, SEv::Prompted(..)));
    let received = count(|e| matches!(e, SEv::Request(_)));
    let rejected = count(|e| matches!(e, SEv::Rejected(_)));
    let aborted = count(|e| matches!(e, SEv::PayloadAborted));
    let lfs = data.iter().filter(|&&b| b == b'\n').count();
    assert_eq!(needs, prompted, "150 NEED replies vs Prompted events");
    assert!(finals <= lfs + 1, "{finals} final replies for {lfs} LFs");
    assert!(
        finals <= received + rejected,
        "{finals} final replies for {received} requests and {rejected} rejections"
    );
    // Only an upload cut by the end of input, or the held reply of a
    // discarded payload cut by it, goes unanswered.
    assert!(
        finals + aborted + 1 >= received + rejected,
        "{finals} final replies for {received} requests and {rejected} rejections"
    );
    let payload: usize = run
        .events
        .iter()
        .map(|e| match e {
            SEv::Payload(d) => d.len(),
            _ => 0,
        })
        .sum();
    assert!(payload <= data.len());
    let announced: u64 = run
        .events
        .iter()
        .filter_map(|e| match e {
            SEv::Request(r) => r.payload_len(),
            _ => None,
        })
        .fold(0u64, u64::saturating_add);
    assert!(payload as u64 <= announced);
    if let Some(max) = config.max_upload_size {
        for e in &run.events {
            if let SEv::Request(Request::Upload { size, .. }) = e {
                assert!(*size <= max, "an upload over the limit was accepted");
            }
        }
    }
}

/// The `server_session` target: whole vs. cut at points drawn from the
/// input, and vs. one byte at a time for inputs up to [`BYTEWISE_MAX`].
pub fn server_session(data: &[u8]) {
    let drawn = split_points(hash(data), data.len());
    let every: Vec<usize> = (1..data.len()).collect();
    if data.len() <= BYTEWISE_MAX {
        check_server_stream(data, &[&drawn, &every]);
    } else {
        check_server_stream(data, &[&drawn]);
    }
}

// ---- client_session -----------------------------------------------------

/// The requests a client is taken to have sent before it reads `data`: one
/// per line that starts like a final reply, of a verb that reply fits, so
/// well-formed streams get past the client's reply-to-request check. For a
/// quarter of the inputs (by hash), none: every reply is then accepted as
/// unsolicited.
pub fn guess_requests(data: &[u8]) -> Vec<Request<'static>> {
    if hash(data).is_multiple_of(4) {
        return Vec::new();
    }
    let b = || BucketName::new("b").expect("valid");
    let f = || FileName::new("f").expect("valid");
    data.split(|&c| c == b'\n')
        .filter_map(|line| {
            let digits = line.iter().take_while(|c| c.is_ascii_digit()).count();
            let code: u16 = std::str::from_utf8(&line[..digits]).ok()?.parse().ok()?;
            Some(match code {
                100 | 500 => Request::Hello,
                200 => Request::Quit,
                210 => Request::Help { topic: None },
                220 => Request::Codes,
                300 | 301 => Request::CreateBucket { bucket: b() },
                400 | 401 => Request::ListBuckets,
                600 | 601 => Request::DeleteBucket { bucket: b() },
                700 | 701 => Request::Upload {
                    bucket: b(),
                    name: f(),
                    size: 0,
                },
                800 | 801 => Request::ListFiles { bucket: None },
                900 | 901 => Request::Download {
                    bucket: b(),
                    name: f(),
                },
                1000 | 1001 => Request::DeleteFile {
                    bucket: b(),
                    name: f(),
                },
                _ => return None,
            })
        })
        .take(64)
        .collect()
}

/// Everything a client session did with one input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientRun {
    /// Events, owned, payload pieces merged, `Closed` once.
    pub events: Vec<CEv>,
    /// How the run ended: `Ok` when closed, else the error.
    pub end: Result<(), ClientError>,
}

fn client_with(pending: &[Request<'_>], config: &ClientConfig) -> ClientSession {
    let mut client = ClientSession::with_config(config.clone());
    for r in pending {
        client.send_request(r).expect("send_request");
        if let Some(n) = r.payload_len() {
            client
                .send_payload(&pattern(usize::try_from(n).expect("small")))
                .expect("send_payload");
        }
    }
    let mut sink = Vec::new();
    client.poll_transmit(&mut sink);
    assert_eq!(client.pending_requests(), pending.len());
    client
}

/// Takes every event; `Err` when the session failed.
fn pump_client(client: &mut ClientSession, log: &mut Vec<CEv>) -> Result<(), ClientError> {
    loop {
        let before = client.pending_requests();
        let Some(event) = client.poll_event()? else {
            return Ok(());
        };
        let ev = CEv::from_event(event);
        if let CEv::Reply(request, reply) = &ev {
            let popped = before - client.pending_requests();
            assert_eq!(popped, usize::from(request.is_some() && reply.is_final()));
            if let Some(verb) = request {
                assert!(fits(*verb, reply.code()));
            }
        }
        if ev == CEv::Closed {
            if log.last() != Some(&CEv::Closed) {
                log.push(ev);
            }
            return Ok(());
        }
        push_merged_c(log, ev);
    }
}

/// Feeds `chunks` to a client with `config` that has sent `pending`, each
/// the way `feeds` says (see [`Feed`]), then the end of input. End of input
/// closes or fails the session; failure is sticky; nothing can be sent
/// afterwards.
pub fn run_client(
    pending: &[Request<'_>],
    config: &ClientConfig,
    chunks: &[&[u8]],
    feeds: &[(Feed, usize)],
) -> ClientRun {
    let mut client = client_with(pending, config);
    let mut events = Vec::new();
    let mut end = Ok(());
    for (chunk, &(feed, extra)) in chunks.iter().zip(feeds) {
        match feed {
            // The client has no direct payload path: a plain copy.
            Feed::Copy | Feed::CopyDeferred | Feed::ReadPayloadDirectly => client.receive(chunk),
            Feed::Direct | Feed::DirectPollFirst => {
                let room = client.receive_buffer(chunk.len() + extra);
                assert!(
                    room.len() >= chunk.len() + extra,
                    "receive_buffer too short"
                );
                room[..chunk.len()].copy_from_slice(chunk);
                if feed == Feed::DirectPollFirst {
                    end = pump_client(&mut client, &mut events);
                }
                client.commit_received(chunk.len());
            }
        }
        if end.is_ok() && feed != Feed::CopyDeferred {
            end = pump_client(&mut client, &mut events);
        }
        if end.is_err() {
            break;
        }
    }
    if end.is_ok() {
        client.receive_eof();
        end = pump_client(&mut client, &mut events);
    }
    assert!(
        client.is_closed(),
        "end of input must end the client session"
    );
    match &end {
        Ok(()) => {
            assert_eq!(events.last(), Some(&CEv::Closed));
            assert!(matches!(client.poll_event(), Ok(Some(ClientEvent::Closed))));
        }
        Err(e) => {
            // Failure is sticky.
            assert_eq!(client.poll_event().map(|_| ()), Err(e.clone()));
        }
    }
    assert!(client.send_request(&Request::Hello).is_err());
    ClientRun { events, end }
}

/// The code and item count of the list reply `data` starts with, when its
/// first line is a whole, valid list header with items to come
/// (`decode::reply` of that line alone needs more input: only such a header
/// decodes that way).
fn list_header(data: &[u8]) -> Option<(ReplyCode, u64)> {
    let line = &data[..=data.iter().position(|&b| b == b'\n')?];
    if decode::reply(line) != Ok(Decoded::Incomplete) {
        return None;
    }
    let text = std::str::from_utf8(line).ok()?;
    let mut tokens = text
        .split([' ', '\t', '\r', '\n'])
        .filter(|t| !t.is_empty());
    let code = ReplyCode::from_number(tokens.next()?.parse().ok()?)?;
    let count = tokens.nth(1)?.parse().ok()?;
    Some((code, count))
}

/// The error a client session gives at a list header that answers no
/// pending request (`front`), if `data` starts with one.
fn list_header_error(data: &[u8], front: Option<Verb>) -> Option<ClientError> {
    let (code, _) = list_header(data)?;
    match front {
        None => Some(ClientError::UnrequestedReply { code }),
        Some(verb) if !fits(verb, code) => Some(ClientError::UnexpectedReply { verb, code }),
        Some(_) => None,
    }
}

/// The settings a client session runs an input with: the default list
/// limit for a quarter of the inputs, none for another quarter, and a small
/// one (0–4095 bytes) for the rest, so that lists go over it at their
/// header and at their items.
pub fn client_config(data: &[u8]) -> ClientConfig {
    let h = hash(data).rotate_left(17);
    let limit = match h % 4 {
        0 => Some(ClientConfig::DEFAULT_MAX_LIST_SIZE),
        1 => None,
        _ => Some((h >> 8) % 4096),
    };
    ClientConfig::default().with_max_list_size(limit)
}

/// The `ListTooLarge` a client session with `limit` fails with at the list
/// reply `data` starts with, if it does: the list answers the pending
/// request (`front`) and announces more items than `limit` holds at
/// [`ClientConfig::LIST_ITEM_OVERHEAD`] bytes each, or an item line (framed
/// and UTF-8, as the session checks those first) takes it over while every
/// item before it is well-formed (decoded as a list of just those).
fn list_limit_error(data: &[u8], front: Option<Verb>, limit: Option<u64>) -> Option<ClientError> {
    let limit = limit?;
    let (code, count) = list_header(data)?;
    if !front.is_some_and(|verb| fits(verb, code)) {
        return None;
    }
    let too_large = ClientError::ListTooLarge { count, limit };
    let overhead = count.saturating_mul(ClientConfig::LIST_ITEM_OVERHEAD);
    if overhead > limit {
        return Some(too_large);
    }
    let items = &data[data.iter().position(|&b| b == b'\n')? + 1..];
    let (mut at, mut size) = (0, overhead);
    for index in 0..count {
        let lf = items[at..].iter().position(|&b| b == b'\n')?;
        if lf >= MAX_REPLY_LINE_LEN {
            return None;
        }
        let mut line = &items[at..at + lf];
        if let [rest @ .., b'\r'] = line {
            line = rest;
        }
        std::str::from_utf8(line).ok()?;
        size += line.len() as u64;
        if size > limit {
            let before = [
                format!("{} {} {index}\n", code.number(), code.mnemonic()).as_bytes(),
                &items[..at],
            ]
            .concat();
            return matches!(decode::reply(&before), Ok(Decoded::Complete { .. }))
                .then_some(too_large);
        }
        at += lf + 1;
    }
    None
}

/// What a client that has sent `pending` must make of `data`, computed with
/// `decode::reply` one reply at a time: the second reading of the grammar
/// the session must agree with.
pub fn expected_client_run(
    pending: &[Request<'_>],
    config: &ClientConfig,
    data: &[u8],
) -> ClientRun {
    let mut queue: VecDeque<Verb> = pending.iter().map(Request::verb).collect();
    let mut events = Vec::new();
    let mut at = 0;
    let end = loop {
        if at == data.len() {
            events.push(CEv::Closed);
            break Ok(());
        }
        // A list over the limit fails where the session meets it, whatever
        // follows.
        if let Some(error) =
            list_limit_error(&data[at..], queue.front().copied(), config.max_list_size)
        {
            break Err(error);
        }
        let (value, consumed) = match decode::reply(&data[at..]) {
            Ok(Decoded::Complete { value, consumed }) => (value, consumed),
            // A list whose header has arrived is judged at its header, before
            // its items end, or fail to.
            Ok(Decoded::Incomplete) => {
                break Err(list_header_error(&data[at..], queue.front().copied())
                    .unwrap_or(ClientError::UnexpectedEof));
            }
            Err(e) => {
                break Err(list_header_error(&data[at..], queue.front().copied())
                    .unwrap_or(ClientError::Reply(e)));
            }
        };
        let request = queue.front().copied();
        let code = value.code();
        match request {
            Some(verb) => {
                // A prompt fits only if it asks for a field the verb takes.
                let fitting = match &value {
                    Reply::Need { field } => verb.required().contains(field),
                    _ => fits(verb, code),
                };
                if !fitting {
                    break Err(ClientError::UnexpectedReply { verb, code });
                }
                if value.is_final() {
                    queue.pop_front();
                }
            }
            // One reply per request: with none waiting, only BUSY.
            None if code == ReplyCode::BadCommand && value.reason() == Some(Reason::Busy) => {}
            None => break Err(ClientError::UnrequestedReply { code }),
        }
        at += consumed;
        let size = value.payload_len();
        events.push(CEv::Reply(request, value.into_owned()));
        if let Some(size) = size {
            let take = usize::try_from(size)
                .unwrap_or(usize::MAX)
                .min(data.len() - at);
            if take > 0 {
                events.push(CEv::Payload(data[at..at + take].to_vec()));
            }
            at += take;
            if (take as u64) < size {
                break Err(ClientError::UnexpectedEof);
            }
            events.push(CEv::PayloadEnd);
        }
    };
    ClientRun { events, end }
}

/// `client_session` with explicit split points: fed whole and cut at each
/// of `splits`, with the settings [`client_config`] draws for `data`, the
/// session gives the same events and the same ending, and the whole run
/// matches [`expected_client_run`].
pub fn check_client_stream(data: &[u8], splits: &[&[usize]]) {
    let pending = guess_requests(data);
    let config = client_config(data);
    let whole = run_client(&pending, &config, &[data], &feeds(None, 1));
    let expected = expected_client_run(&pending, &config, data);
    same(
        &whole,
        &expected,
        "ClientSession and decode::reply disagree",
    );
    for ev in &whole.events {
        if let CEv::Reply(_, r) = ev {
            check_reply_roundtrip(r);
        }
    }
    for (i, points) in splits.iter().enumerate() {
        let pieces = chunks(data, points);
        let how = feeds(Some(hash(data).wrapping_add(i as u64)), pieces.len());
        let chunked = run_client(&pending, &config, &pieces, &how);
        same(&whole, &chunked, "splitting the input changed the session");
    }
}

/// The `client_session` target: whole vs. cut at points drawn from the
/// input, and vs. one byte at a time for inputs up to [`BYTEWISE_MAX`].
pub fn client_session(data: &[u8]) {
    let drawn = split_points(hash(data), data.len());
    let every: Vec<usize> = (1..data.len()).collect();
    if data.len() <= BYTEWISE_MAX {
        check_client_stream(data, &[&drawn, &every]);
    } else {
        check_client_stream(data, &[&drawn]);
    }
}

// ---- roundtrip: structured values from `arbitrary` ----------------------

/// Characters a bucket name may hold.
const BUCKET_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-";

/// A bucket name, from any bytes mapped into the bucket alphabet.
#[derive(Debug, Clone, Arbitrary)]
pub struct ArbBucket(pub Vec<u8>);

impl ArbBucket {
    /// The valid name these bytes map to.
    pub fn name(&self) -> BucketName<'static> {
        let mut s: String = self
            .0
            .iter()
            .take(63)
            .map(|&b| char::from(BUCKET_ALPHABET[usize::from(b) % BUCKET_ALPHABET.len()]))
            .collect();
        if s.is_empty() || s.starts_with('.') {
            s.replace_range(..s.len().min(1), "b");
        }
        BucketName::new(s).expect("mapped bucket name is valid")
    }
}

/// A file name, from any string with what the rules forbid removed.
#[derive(Debug, Clone, Arbitrary)]
pub struct ArbFile(pub String);

impl ArbFile {
    /// The valid name this string maps to.
    pub fn name(&self) -> FileName<'static> {
        let mut s: String = self
            .0
            .chars()
            .filter(|&c| c != '/' && c != '\\' && !c.is_ascii_control())
            .collect();
        truncate(&mut s, 255);
        if s.is_empty() || s == "." || s == ".." || s.starts_with(".bkt-") {
            s.insert(0, 'x');
            truncate(&mut s, 255);
        }
        FileName::new(s).expect("mapped file name is valid")
    }
}

fn truncate(s: &mut String, max: usize) {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
}

fn pick<T: Copy>(all: &[T], i: u8) -> T {
    all[usize::from(i) % all.len()]
}

/// A [`Request`] in `arbitrary`'s terms.
#[derive(Debug, Clone, Arbitrary)]
pub enum ArbRequest {
    /// `HELLO`.
    Hello,
    /// `HELP [verb]`: an index into [`Verb::ALL`].
    Help(Option<u8>),
    /// `CODES`.
    Codes,
    /// `QUIT`.
    Quit,
    /// `CREATE_B`.
    CreateBucket(ArbBucket),
    /// `LIST_B`.
    ListBuckets,
    /// `DELETE_B`.
    DeleteBucket(ArbBucket),
    /// `UPLOAD`.
    Upload(ArbBucket, ArbFile, u64),
    /// `LIST_F`.
    ListFiles(Option<ArbBucket>),
    /// `DOWNLOAD`.
    Download(ArbBucket, ArbFile),
    /// `DELETE_F`.
    DeleteFile(ArbBucket, ArbFile),
}

impl ArbRequest {
    /// The request.
    pub fn build(&self) -> Request<'static> {
        match self {
            ArbRequest::Hello => Request::Hello,
            ArbRequest::Help(t) => Request::Help {
                topic: t.map(|i| pick(Verb::ALL, i)),
            },
            ArbRequest::Codes => Request::Codes,
            ArbRequest::Quit => Request::Quit,
            ArbRequest::CreateBucket(b) => Request::CreateBucket { bucket: b.name() },
            ArbRequest::ListBuckets => Request::ListBuckets,
            ArbRequest::DeleteBucket(b) => Request::DeleteBucket { bucket: b.name() },
            ArbRequest::Upload(b, f, size) => Request::Upload {
                bucket: b.name(),
                name: f.name(),
                size: *size,
            },
            ArbRequest::ListFiles(b) => Request::ListFiles {
                bucket: b.as_ref().map(ArbBucket::name),
            },
            ArbRequest::Download(b, f) => Request::Download {
                bucket: b.name(),
                name: f.name(),
            },
            ArbRequest::DeleteFile(b, f) => Request::DeleteFile {
                bucket: b.name(),
                name: f.name(),
            },
        }
    }
}

/// A [`Reply`] in `arbitrary`'s terms; codes, reasons and fields are
/// indices into their tables.
#[derive(Debug, Clone, Arbitrary)]
pub enum ArbReply {
    /// `100 OK BKT/1 <server>`.
    Hello(String),
    /// `150 NEED <field>`.
    Need(u8),
    /// `200 BYE`.
    Bye,
    /// `210 HELP`.
    Help(Vec<String>),
    /// `220 CODES`.
    Codes(Vec<String>),
    /// A one-line success.
    Success(u8, Option<String>),
    /// A failure.
    Failure(u8, u8, Option<String>),
    /// `400 LS`.
    Buckets(Vec<ArbBucket>),
    /// `800 LFS`.
    Files(Vec<(ArbBucket, ArbFile, u64)>),
    /// `900 FDBS <size>`.
    Download(u64),
}

const SUCCESS_CODES: &[ReplyCode] = &[
    ReplyCode::BucketCreated,
    ReplyCode::BucketDeleted,
    ReplyCode::FileUploaded,
    ReplyCode::FileDeleted,
];
const FIELDS: &[Field] = &[Field::Bucket, Field::Name, Field::Size, Field::Verb];

fn failure_codes() -> Vec<ReplyCode> {
    ReplyCode::iter().filter(|c| c.is_failure()).collect()
}

fn cow(s: &str) -> Cow<'static, str> {
    Cow::Owned(s.to_owned())
}

impl ArbReply {
    /// The reply.
    pub fn build(&self) -> Reply<'static> {
        match self {
            ArbReply::Hello(s) => Reply::Hello { server: cow(s) },
            ArbReply::Need(i) => Reply::Need {
                field: pick(FIELDS, *i),
            },
            ArbReply::Bye => Reply::Bye,
            ArbReply::Help(l) => Reply::Help {
                lines: l.iter().map(|s| cow(s)).collect(),
            },
            ArbReply::Codes(l) => Reply::Codes {
                lines: l.iter().map(|s| cow(s)).collect(),
            },
            ArbReply::Success(c, t) => Reply::Success {
                code: pick(SUCCESS_CODES, *c),
                text: t.as_deref().map(cow),
            },
            ArbReply::Failure(c, r, t) => Reply::Failure {
                code: pick(&failure_codes(), *c),
                reason: pick(Reason::ALL, *r),
                text: t.as_deref().map(cow),
            },
            ArbReply::Buckets(b) => Reply::Buckets {
                buckets: b.iter().map(ArbBucket::name).collect(),
            },
            ArbReply::Files(f) => Reply::Files {
                files: f
                    .iter()
                    .map(|(b, n, size)| FileEntry {
                        bucket: b.name(),
                        name: n.name(),
                        size: *size,
                    })
                    .collect(),
            },
            ArbReply::Download(size) => Reply::Download { size: *size },
        }
    }

    /// A final reply to `verb` made from this one's contents: its failure
    /// (with the verb's failure code, or `500 BCMD`) or the verb's success
    /// shape. Text is capped so every line fits `MAX_REPLY_LINE_LEN`; a
    /// download's size is kept small. Returns the reply and, for a download,
    /// its payload.
    pub fn answer(&self, verb: Verb) -> (Reply<'static>, Vec<u8>) {
        let short = |s: &str| {
            let mut s = s.to_owned();
            truncate(&mut s, 1000);
            Cow::Owned(s)
        };
        let text: Option<Cow<'static, str>> = match self {
            ArbReply::Hello(s) => Some(short(s)),
            ArbReply::Success(_, t) | ArbReply::Failure(_, _, t) => t.as_deref().map(short),
            _ => None,
        };
        if let ArbReply::Failure(c, r, _) = self {
            let code = if c % 3 == 0 {
                ReplyCode::BadCommand
            } else {
                verb.failure_code()
            };
            let reply = Reply::Failure {
                code,
                reason: pick(Reason::ALL, *r),
                text,
            };
            return (reply, Vec::new());
        }
        let lines = || match self {
            ArbReply::Help(l) | ArbReply::Codes(l) => l.iter().map(|s| short(s)).collect(),
            _ => Vec::new(),
        };
        let reply = match verb {
            Verb::Hello => Reply::Hello {
                server: text.unwrap_or_default(),
            },
            Verb::Help => Reply::Help { lines: lines() },
            Verb::Codes => Reply::Codes { lines: lines() },
            Verb::Quit => Reply::Bye,
            Verb::ListBuckets => match self.build() {
                r @ Reply::Buckets { .. } => r,
                _ => Reply::Buckets { buckets: vec![] },
            },
            Verb::ListFiles => match self.build() {
                r @ Reply::Files { .. } => r,
                _ => Reply::Files { files: vec![] },
            },
            Verb::Download => {
                let size = match self {
                    ArbReply::Download(n) => (n % 300) as usize,
                    _ => 0,
                };
                return (Reply::Download { size: size as u64 }, pattern(size));
            }
            Verb::CreateBucket | Verb::DeleteBucket | Verb::Upload | Verb::DeleteFile => {
                Reply::Success {
                    code: verb.success_code(),
                    text,
                }
            }
        };
        (reply, Vec::new())
    }
}

/// The `roundtrip` target's input: standalone requests and replies, and an
/// exchange of requests with the answers to give them.
#[derive(Debug, Clone, Arbitrary)]
pub struct Roundtrip {
    /// Requests to encode and decode.
    pub requests: Vec<ArbRequest>,
    /// Replies to encode and decode.
    pub replies: Vec<ArbReply>,
    /// A pipelined exchange through a client and a server session.
    pub exchange: Vec<(ArbRequest, ArbReply)>,
    /// Seed of the split points on both wires.
    pub seed: u64,
}

/// The `roundtrip` target.
///
/// - every request encodes to one line that decodes to it, taking all of it;
/// - every reply encodes, decodes to itself (text normalised) taking all of
///   it, and re-encodes to the same bytes;
/// - an exchange: a `ClientSession` sends the requests (uploads with a
///   payload), its bytes reach a `ServerSession` in chunks, the server hands
///   out exactly those requests and payloads, in order, with no prompt or
///   rejection; the application's answers reach the client in chunks, and
///   the client delivers exactly those replies, each matched to its request,
///   with the download payloads, then `Closed` with nothing pending.
pub fn roundtrip(input: &Roundtrip) {
    for r in &input.requests {
        check_request_roundtrip(&r.build());
    }
    for r in &input.replies {
        check_reply_roundtrip(&r.build());
    }
    exchange(input);
}

fn exchange(input: &Roundtrip) {
    // Requests after QUIT are ignored by the server: stop there.
    let mut plan = Vec::new();
    for (r, a) in input.exchange.iter().take(32) {
        let mut request = r.build();
        if let Request::Upload { size, .. } = &mut request {
            *size %= 1024;
        }
        let (reply, payload) = a.answer(request.verb());
        let quit = request.verb() == Verb::Quit;
        plan.push((request, reply, payload));
        if quit {
            break;
        }
    }

    // The client sends every request, an upload's payload in pieces:
    // queued with `send_payload` or written "directly" after draining what
    // is queued, with empty pieces among them.
    let mut client = ClientSession::new();
    let mut expected_wire = Vec::new();
    let mut wire = Vec::new();
    let mut rng = Rng::new(input.seed.rotate_left(29));
    for (request, ..) in &plan {
        client.send_request(request).expect("send_request");
        encode::request(request, &mut expected_wire);
        let data = pattern(request.payload_len().unwrap_or(0) as usize);
        expected_wire.extend_from_slice(&data);
        let mut rest = &data[..];
        while !rest.is_empty() {
            let remaining = rest.len() as u64;
            assert_eq!(client.payload_remaining(), remaining);
            if rng.next_u64().is_multiple_of(4) {
                assert_eq!(
                    client.send_request(&Request::Hello),
                    Err(bucket_proto::SendError::PayloadPending { remaining })
                );
                assert_eq!(
                    client.send_payload(&pattern(rest.len() + 1)),
                    Err(bucket_proto::SendError::PayloadOverrun { remaining })
                );
            }
            let n = rng.step(remaining).min(rest.len());
            let n = if rng.next_u64().is_multiple_of(8) {
                0
            } else {
                n
            };
            let (piece, after) = rest.split_at(n);
            if rng.next_u64().is_multiple_of(2) {
                client.send_payload(piece).expect("send_payload");
            } else {
                client.poll_transmit(&mut wire);
                wire.extend_from_slice(piece);
                client
                    .payload_sent_directly(piece.len() as u64)
                    .expect("payload_sent_directly");
            }
            rest = after;
        }
        assert_eq!(client.payload_remaining(), 0);
    }
    client.poll_transmit(&mut wire);
    same(
        &wire,
        &expected_wire,
        "client encoding differs from encode::request",
    );

    // Client → server.
    let mut server = ServerSession::default();
    let mut next = 0;
    let mut upload: Option<Vec<u8>> = None;
    let mut reply_wire = Vec::new();
    let mut closed = false;
    let cuts = split_points(input.seed, wire.len());
    let mut pieces = chunks(&wire, &cuts);
    pieces.push(&[]);
    for (i, piece) in pieces.iter().enumerate() {
        server.receive(piece);
        if i + 1 == pieces.len() {
            server.receive_eof();
        }
        while let Some(event) = server.poll_event() {
            match event {
                ServerEvent::RequestReceived(r) => {
                    let (request, ..) = plan.get(next).expect("more requests than sent");
                    assert_eq!(&r, request, "request {next} changed on the way");
                    if r.payload_len().is_some() {
                        upload = Some(Vec::new());
                    } else {
                        let (_, reply, payload) = &plan[next];
                        let seed = input.seed ^ next as u64;
                        answer(&mut server, reply, payload, &mut reply_wire, seed);
                        next += 1;
                    }
                }
                ServerEvent::PayloadData(d) => upload
                    .as_mut()
                    .expect("payload outside upload")
                    .extend_from_slice(d),
                ServerEvent::PayloadEnd => {
                    let data = upload.take().expect("payload end outside upload");
                    let (request, reply, _) = &plan[next];
                    assert_eq!(Some(data.len() as u64), request.payload_len());
                    assert_eq!(data, pattern(data.len()));
                    answer(&mut server, reply, &[], &mut reply_wire, 0);
                    next += 1;
                }
                ServerEvent::Closed => {
                    closed = true;
                    break;
                }
                other => panic!("unexpected server event {other:?} for valid requests"),
            }
        }
        server.poll_transmit(&mut reply_wire);
        if closed {
            break;
        }
    }
    assert!(closed, "the server session did not close at end of input");
    assert_eq!(next, plan.len(), "not every request reached the server");

    // Server → client.
    let cuts = split_points(input.seed.rotate_left(17), reply_wire.len());
    let mut events = Vec::new();
    for piece in chunks(&reply_wire, &cuts) {
        client.receive(piece);
        pump_client(&mut client, &mut events).expect("client refused the server's replies");
    }
    client.receive_eof();
    pump_client(&mut client, &mut events).expect("client refused the server's replies");
    let mut expected = Vec::new();
    for (request, reply, payload) in &plan {
        expected.push(CEv::Reply(Some(request.verb()), normalize(reply)));
        if reply.payload_len().is_some() {
            if !payload.is_empty() {
                expected.push(CEv::Payload(payload.clone()));
            }
            expected.push(CEv::PayloadEnd);
        }
    }
    expected.push(CEv::Closed);
    same(
        &events,
        &expected,
        "the client did not get the answers sent",
    );
    assert_eq!(client.pending_requests(), 0);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_cover_the_input() {
        let data = b"HELLO\nQUIT\n";
        let pieces = chunks(data, &split_points(7, data.len()));
        assert_eq!(pieces.concat(), data);
        assert!(pieces.iter().all(|p| !p.is_empty()));
    }

    /// The model and the session agree on the default list limit's edge:
    /// 4,194,304 items of 64 bytes fill 256 MiB exactly, so the header is
    /// accepted and the first non-empty item line goes over; one more item
    /// is refused at the header. And on a small limit met mid-list.
    #[test]
    fn list_limits_are_judged_at_the_header_and_at_each_item() {
        let default = ClientConfig::default();
        let limit = ClientConfig::DEFAULT_MAX_LIST_SIZE;
        let check = |config: &ClientConfig, data: &[u8], want: Result<(), ClientError>| {
            let run = expected_client_run(&[Request::ListBuckets], config, data);
            assert_eq!(run.end, want, "{:?}", String::from_utf8_lossy(data));
            let whole = run_client(&[Request::ListBuckets], config, &[data], &feeds(None, 1));
            same(&whole, &run, "session and model disagree");
        };
        let too_large = |count, limit| Err(ClientError::ListTooLarge { count, limit });
        check(
            &default,
            b"400 LS 4194304\na\n",
            too_large(4_194_304, limit),
        );
        check(
            &default,
            b"400 LS 4194305\na\n",
            too_large(4_194_305, limit),
        );
        // An empty item line adds nothing; its own error comes first.
        let run = expected_client_run(&[Request::ListBuckets], &default, b"400 LS 4194304\n\n");
        assert!(
            matches!(run.end, Err(ClientError::Reply(_))),
            "{:?}",
            run.end
        );
        // 2 items: 128 bytes, then 3 and 2: over at 132, whole at 133.
        let small = |n| ClientConfig::default().with_max_list_size(Some(n));
        check(&small(132), b"400 LS 2\nabc\nde\n", too_large(2, 132));
        check(&small(133), b"400 LS 2\nabc\nde\n", Ok(()));
        // A bad item before the one that goes over is that item's error; an
        // item's size is judged before its syntax.
        let run = expected_client_run(&[Request::ListBuckets], &small(132), b"400 LS 2\na/b\nde\n");
        assert!(
            matches!(run.end, Err(ClientError::Reply(_))),
            "{:?}",
            run.end
        );
        check(&small(130), b"400 LS 2\na/b\nde\n", too_large(2, 130));
        check(&small(130), b"400 LS 2\nabc\r\nde\n", too_large(2, 130));
    }

    #[test]
    fn seeds_pass() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds");
        for (target, check) in [
            ("request_line", request_line as fn(&[u8])),
            ("reply", reply),
            ("server_session", server_session),
            ("client_session", client_session),
        ] {
            for entry in std::fs::read_dir(dir.join(target)).expect("seed dir") {
                let path = entry.expect("entry").path();
                let data = std::fs::read(&path).expect("seed");
                check(&data);
            }
        }
    }
}
