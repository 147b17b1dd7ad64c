//! The server side of a BKT/1 connection, as a state machine with no I/O.
//!
//! A server feeds received bytes in with [`ServerSession::receive`] (any
//! chunking), takes events out with [`ServerSession::poll_event`], answers
//! each request with [`ServerSession::send_reply`], and writes what
//! [`ServerSession::poll_transmit`] hands it to the peer. The session itself
//! answers what needs no storage: malformed and over-long lines, dialogue
//! prompts, cancelled dialogues, bad names, over-large uploads.
//!
//! Requests are handled one at a time, in order: after
//! [`ServerEvent::RequestReceived`] the session hands out nothing but that
//! request's payload until the application has sent its final reply, so
//! replies always leave in request order however many requests the peer
//! pipelined (PROTOCOL.md § Transport).
//!
//! ```
//! use bucket_proto::{Reply, Request, ServerEvent, ServerSession};
//!
//! let mut session = ServerSession::default();
//! session.receive(b"HELLO\r\nCREATE_B photos\n");
//! let mut replies = Vec::new();
//! while let Some(event) = session.poll_event() {
//!     let reply = match event {
//!         ServerEvent::RequestReceived(Request::Hello) => Reply::Hello { server: "demo/1".into() },
//!         ServerEvent::RequestReceived(request) => Reply::success(request.verb()).unwrap(),
//!         other => panic!("unexpected {other:?}"),
//!     };
//!     session.send_reply(&reply).unwrap();
//! }
//! session.poll_transmit(&mut replies);
//! assert_eq!(replies, b"100 OK BKT/1 demo/1\n300 BCS\n");
//! ```
//!
//! # States
//! Every transition, in one table ([`ServerState`] names the states):
//!
//! | state | on | goes to |
//! | --- | --- | --- |
//! | `Idle` | complete request, not `UPLOAD` | `AwaitingReply` (event `RequestReceived`) |
//! | `Idle` | complete `UPLOAD` | `ReceivingPayload` (event `RequestReceived`) |
//! | `Idle` | verb missing required arguments | `Dialogue` (sends `150 NEED`, event `Prompted`) |
//! | `Idle`, `Dialogue` | bad line, bad name | `Idle` (sends the failure, event `RequestRejected`) |
//! | `Idle`, `Dialogue` | `UPLOAD` with a bad name, or a line the grammar refuses, and a plain size | `DiscardingPayload` (event `RequestRejected`) |
//! | `Idle`, `Dialogue` | `UPLOAD` line whose payload length cannot be told (bad size, extra argument, open quote), or a line the grammar refuses with a size over the limit | `Closed` (sends `500 BCMD SYNTAX`, event `RequestRejected`) |
//! | `Idle`, `Dialogue` | `UPLOAD` over the size limit | `Closed` (sends `701 FUBF TOO_LARGE`, event `RequestRejected`) |
//! | `Dialogue` | answer line still short of arguments | `Dialogue` (sends `150 NEED`, event `Prompted`) |
//! | `Dialogue` | answer line completing the request | as `Idle` with a complete request |
//! | `Dialogue` | empty answer line | `Idle` (sends the verb's failure `ABORTED`, event `RequestRejected`) |
//! | `ReceivingPayload` | payload bytes | same (events `PayloadData`), then `AwaitingReply` (event `PayloadEnd`) |
//! | `ReceivingPayload` | application sends a failure | `DiscardingPayload` (reply held until the payload has passed) |
//! | `DiscardingPayload` | last payload byte | `Idle` (held reply sent) |
//! | `AwaitingReply` | application sends `900 FDBS size>0` | `SendingPayload` |
//! | `AwaitingReply` | application sends `200 BYE` | `Closed` |
//! | `AwaitingReply` | application sends another final reply | `Idle` |
//! | `SendingPayload` | last payload byte sent | `Idle` |
//! | any | end of input, nothing left to answer | `Closed` (event `PayloadAborted` first if mid-upload; event `Closed`) |

use crate::buffer::RecvBuf;
use crate::error::{DirectReceiveError, RequestError, SendError, payload_send_checks};
use crate::framing::{Frame, LineFramer, MAX_LINE_LEN};
use crate::parse;
use crate::reply::Reply;
use crate::request::{Field, Request, Verb};
use crate::resync::{self, PayloadAfter};
use crate::scan;
use crate::{ReplyCode, encode};

/// Settings of a [`ServerSession`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServerConfig {
    /// Largest upload accepted, in bytes; `None` for no limit. A larger
    /// `size` is answered `701 FUBF TOO_LARGE` and the session closes
    /// (PROTOCOL.md § Upload payload). On a line the grammar refuses, a size
    /// over the limit is not skipped either: that line's own error is
    /// answered and the session closes.
    pub max_upload_size: Option<u64>,
}

impl ServerConfig {
    /// A configuration with `max_upload_size` set.
    pub fn with_max_upload_size(mut self, max: Option<u64>) -> Self {
        self.max_upload_size = max;
        self
    }
}

/// What happened on the connection, for the application to act on.
///
/// An event borrows the session's buffer, so the session cannot take a
/// reply while the event is alive. To answer with text taken from the
/// request (a name in a failure's text), own what you need first:
/// `let request = request.into_owned();`, or copy the name out.
#[derive(Debug, PartialEq, Eq)]
#[must_use]
pub enum ServerEvent<'a> {
    /// A complete, valid request. Answer it with [`ServerSession::send_reply`];
    /// for `UPLOAD` its payload events come first.
    RequestReceived(Request<'a>),
    /// The next piece of an upload's payload, borrowed from the session's
    /// buffer. Pieces are as received: their boundaries carry no meaning.
    PayloadData(&'a [u8]),
    /// The upload's payload is complete: exactly `size` bytes were handed
    /// out. Answer the request now.
    PayloadEnd,
    /// The peer closed the connection in the middle of an upload's payload:
    /// discard what was received. `Closed` follows.
    PayloadAborted,
    /// The session sent a `150 NEED` prompt for a missing argument (for logs;
    /// nothing to do).
    Prompted {
        /// The verb of the dialogue.
        verb: Verb,
        /// The argument asked for.
        field: Field,
    },
    /// The session refused a request and answered it itself with
    /// [`RequestError::reply`] (for logs; nothing to do). For an `UPLOAD`
    /// with a bad name, or one whose line the grammar refused but whose
    /// size is plain, the payload is discarded before that reply goes out;
    /// for an `UPLOAD` line whose payload cannot be told from what follows
    /// it (docs/protocol.md, decision 3), `Closed` follows. The verb and
    /// names the line gave, for a log, are in
    /// [`ServerSession::rejected_request`].
    RequestRejected(RequestError),
    /// The session is over: write out [`ServerSession::poll_transmit`], then
    /// close the connection. Returned from then on.
    Closed,
}

/// The state of a [`ServerSession`]; the module documentation has the table
/// of transitions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServerState {
    /// Waiting for a request line.
    Idle,
    /// In a dialogue: waiting for an answer line with missing arguments.
    Dialogue,
    /// A request was handed out; waiting for the application's final reply.
    AwaitingReply,
    /// Handing out an upload's payload.
    ReceivingPayload,
    /// Dropping the payload of a refused upload; its reply waits until then.
    DiscardingPayload,
    /// Waiting for the application to send a download's payload.
    SendingPayload,
    /// Over; nothing more is received or sent.
    Closed,
}

#[derive(Debug)]
enum State {
    Idle,
    Dialogue { verb: Verb },
    AwaitingReply { verb: Verb },
    ReceivingPayload { remaining: u64 },
    DiscardingPayload { remaining: u64 },
    SendingPayload { remaining: u64 },
    Closed,
}

/// The server side of one BKT/1 connection. See the [module
/// documentation](self).
#[derive(Debug)]
pub struct ServerSession {
    /// Received bytes not yet processed. Events borrow from here, so it is
    /// kept apart from the state `core` mutates.
    rx: RecvBuf,
    /// Arguments collected in a dialogue; a completed dialogue's request
    /// borrows from here.
    dialogue: Vec<String>,
    core: Core,
}

/// Everything but the buffers events borrow from.
#[derive(Debug)]
struct Core {
    config: ServerConfig,
    state: State,
    eof: bool,
    framer: LineFramer,
    /// Encoded bytes to send.
    tx: Vec<u8>,
    /// A reply held until a discarded payload has passed.
    held: Vec<u8>,
    /// What the last refused line said, when it could be split into a verb
    /// and arguments ([`ServerSession::rejected_request`]).
    rejected: Option<RejectedRequest>,
}

/// The verb and names of a request line the session refused, as far as
/// the line could be split into a verb and its arguments, for logs: see
/// [`ServerSession::rejected_request`]. The names are as sent (unquoted),
/// and may be the very names that were refused.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RejectedRequest {
    /// The request's verb.
    pub verb: Option<Verb>,
    /// Its bucket argument, if it had one.
    pub bucket: Option<String>,
    /// Its file name argument, if it had one.
    pub name: Option<String>,
}

impl RejectedRequest {
    /// The verb and the `bucket` and `name` arguments among `args`, in
    /// wire order.
    fn new<'s>(verb: Verb, args: impl IntoIterator<Item = &'s str>) -> RejectedRequest {
        let fields = verb.required().iter().chain(verb.optional());
        let mut rejected = RejectedRequest {
            verb: Some(verb),
            ..RejectedRequest::default()
        };
        for (field, arg) in fields.zip(args) {
            match field {
                Field::Bucket => rejected.bucket = Some(arg.to_owned()),
                Field::Name => rejected.name = Some(arg.to_owned()),
                Field::Size | Field::Verb => {}
            }
        }
        rejected
    }
}

impl Default for ServerSession {
    fn default() -> Self {
        ServerSession::new(ServerConfig::default())
    }
}

impl ServerSession {
    /// A session at the start of a connection. BKT/1 has no greeting: the
    /// client speaks first.
    pub fn new(config: ServerConfig) -> Self {
        ServerSession {
            rx: RecvBuf::default(),
            dialogue: Vec::new(),
            core: Core {
                config,
                state: State::Idle,
                eof: false,
                framer: LineFramer::new(MAX_LINE_LEN),
                tx: Vec::new(),
                held: Vec::new(),
                rejected: None,
            },
        }
    }

    /// The verb and names of the request line refused by the last
    /// [`ServerEvent::RequestRejected`], for a server's log (the
    /// [`RequestError`] alone names no bucket or file, nor the verb of an
    /// `UPLOAD` with a bad size). `Some` when the line could be split into
    /// a known verb and its arguments and was refused for what they hold (a
    /// bad name or size, an upload over the limit); `None` when it could not
    /// be (bad syntax, an unknown verb, a line too long, a cancelled
    /// dialogue) and before the first refusal. Requests taken after a
    /// refusal leave this as it was: read it when the event comes.
    ///
    /// ```
    /// use bucket_proto::{ServerEvent, ServerSession, Verb};
    ///
    /// let mut session = ServerSession::default();
    /// session.receive(b"DOWNLOAD photos ../cat.png\n");
    /// assert!(matches!(session.poll_event(), Some(ServerEvent::RequestRejected(_))));
    /// let rejected = session.rejected_request().unwrap();
    /// assert_eq!(rejected.verb, Some(Verb::Download));
    /// assert_eq!(rejected.bucket.as_deref(), Some("photos"));
    /// assert_eq!(rejected.name.as_deref(), Some("../cat.png"));
    /// ```
    pub fn rejected_request(&self) -> Option<&RejectedRequest> {
        self.core.rejected.as_ref()
    }

    // ---- input --------------------------------------------------------

    /// Hands the session bytes received from the peer, in any chunking. They
    /// are buffered until [`ServerSession::poll_event`] takes them; ignored
    /// once the session is closed.
    pub fn receive(&mut self, data: &[u8]) {
        if matches!(self.core.state, State::Closed) {
            return;
        }
        self.rx.extend(data);
    }

    /// Spare room of at least `min` bytes to read received bytes into
    /// directly (no copy); follow with [`ServerSession::commit_received`].
    ///
    /// ```
    /// # use bucket_proto::ServerSession;
    /// # use std::io::Read;
    /// # let mut socket: &[u8] = b"HELLO\n";
    /// let mut session = ServerSession::default();
    /// let n = socket.read(session.receive_buffer(64 * 1024)).unwrap();
    /// session.commit_received(n);
    /// assert!(session.poll_event().is_some());
    /// ```
    pub fn receive_buffer(&mut self, min: usize) -> &mut [u8] {
        self.rx.spare(min)
    }

    /// Takes the first `n` bytes of the last [`ServerSession::receive_buffer`]
    /// as received. `n` is clamped to that buffer's length, and a second
    /// call without a new `receive_buffer` takes nothing, so a wrong count
    /// never adds bytes that were not read (it never panics either).
    /// Ignored once closed.
    pub fn commit_received(&mut self, n: usize) {
        if !matches!(self.core.state, State::Closed) {
            self.rx.commit(n);
        }
    }

    /// Tells the session that the peer will send nothing more. Complete
    /// requests already received are still handed out and answered; then the
    /// session closes.
    pub fn receive_eof(&mut self) {
        self.core.eof = true;
    }

    /// Bytes received and not yet processed. A server should stop reading
    /// while this is large and [`ServerSession::poll_event`] returns `None`
    /// (it then waits for a reply), so a client cannot make it buffer without
    /// bound. [`ServerSession::wants_input`] says when to read.
    pub fn buffered(&self) -> usize {
        self.rx.len()
    }

    /// Whether a request line has begun and not ended: bytes of it are
    /// buffered, or the tail of an over-long line (already answered
    /// `500 BCMD LINE_TOO_LONG`) is still being dropped up to its LF, with
    /// nothing buffered. A server that limits how long a request line may
    /// take (against a peer trickling it, "slowloris") should count while
    /// this holds in [`ServerState::Idle`] or [`ServerState::Dialogue`];
    /// [`ServerSession::buffered`] alone misses the dropped tail.
    pub fn in_request_line(&self) -> bool {
        self.buffered() > 0 || self.core.framer.is_discarding()
    }

    /// After [`ServerSession::poll_event`] returned `None`: whether the
    /// session waits for more input (`true`: read from the peer, or tell it
    /// the input ended) or for the application (`false`: a reply to
    /// [`ServerSession::send_reply`], or a download's payload). `false` once
    /// closed or told that the input ended.
    ///
    /// A connection loop reads only while this holds. Reading while the
    /// session waits for a reply or a payload would buffer what a pipelining
    /// client sends without bound, and a loop that waits for input then,
    /// with a download's payload still owed, never wakes.
    ///
    /// ```
    /// use bucket_proto::{Reply, ServerSession};
    ///
    /// let mut session = ServerSession::default();
    /// assert!(session.wants_input());
    /// session.receive(b"DOWNLOAD photos cat.jpg\nHELLO\n");
    /// assert!(session.poll_event().is_some()); // the DOWNLOAD request
    /// assert!(session.poll_event().is_none());
    /// assert!(!session.wants_input()); // its reply is owed
    /// session.send_reply(&Reply::Download { size: 3 }).unwrap();
    /// assert!(!session.wants_input()); // now its 3 payload bytes
    /// session.send_payload(b"abc").unwrap();
    /// assert!(session.poll_event().is_some()); // HELLO, already buffered
    /// ```
    pub fn wants_input(&self) -> bool {
        !self.core.eof
            && matches!(
                self.core.state,
                State::Idle
                    | State::Dialogue { .. }
                    | State::ReceivingPayload { .. }
                    | State::DiscardingPayload { .. }
            )
    }

    // ---- events -------------------------------------------------------

    /// The next event, or `None` when the session needs more input or is
    /// waiting for the application ([`ServerSession::send_reply`] or the
    /// payload of a download).
    pub fn poll_event(&mut self) -> Option<ServerEvent<'_>> {
        loop {
            match self.core.state {
                State::Closed => return Some(ServerEvent::Closed),
                State::AwaitingReply { .. } | State::SendingPayload { .. } => return None,
                State::ReceivingPayload { remaining } => {
                    if remaining == 0 {
                        self.core.state = State::AwaitingReply { verb: Verb::Upload };
                        return Some(ServerEvent::PayloadEnd);
                    }
                    let avail = self.rx.cur.len();
                    if avail == 0 {
                        if self.core.eof {
                            self.core.state = State::Closed;
                            return Some(ServerEvent::PayloadAborted);
                        }
                        return None;
                    }
                    let n = crate::buffer::payload_piece(avail, remaining);
                    let start = self.rx.cur.start;
                    self.rx.cur.consume(n);
                    self.core.state = State::ReceivingPayload {
                        remaining: remaining - n as u64,
                    };
                    return Some(ServerEvent::PayloadData(&self.rx.bytes[start..start + n]));
                }
                State::DiscardingPayload { remaining } => {
                    if remaining == 0 {
                        self.core.tx.append(&mut self.core.held);
                        self.core.state = State::Idle;
                        continue;
                    }
                    let avail = self.rx.cur.len();
                    if avail == 0 {
                        if self.core.eof {
                            self.core.state = State::Closed;
                            continue;
                        }
                        return None;
                    }
                    let n = crate::buffer::payload_piece(avail, remaining);
                    self.rx.cur.consume(n);
                    self.core.state = State::DiscardingPayload {
                        remaining: remaining - n as u64,
                    };
                }
                State::Idle | State::Dialogue { .. } => {
                    // The verb whose `150 NEED` prompt the next line answers.
                    let answering = match self.core.state {
                        State::Dialogue { verb } => Some(verb),
                        _ => None,
                    };
                    let (content_end, consumed) = match self
                        .core
                        .framer
                        .next(&self.rx.bytes[self.rx.cur.start..self.rx.cur.end])
                    {
                        Frame::Line {
                            content_end,
                            consumed,
                        } => (content_end, consumed),
                        Frame::Discarded { consumed } => {
                            self.rx.cur.consume(consumed);
                            continue;
                        }
                        Frame::TooLong { consumed } => {
                            // An over-long UPLOAD line (padding is valid)
                            // still has its payload behind it, of a size
                            // past what was kept: answer and close rather
                            // than read it as requests (decision 3).
                            let start = &self.rx.bytes[self.rx.cur.start..self.rx.cur.end];
                            let after = resync::payload_after_too_long(start, answering);
                            self.rx.cur.consume(consumed);
                            let error = RequestError::LineTooLong { max: MAX_LINE_LEN };
                            return Some(self.core.refuse(error, after));
                        }
                        Frame::Incomplete => {
                            if self.core.eof {
                                // An unterminated last line is not a request.
                                self.core.state = State::Closed;
                                continue;
                            }
                            return None;
                        }
                    };
                    let start = self.rx.cur.start;
                    self.rx.cur.consume(consumed);
                    let raw = &self.rx.bytes[start..start + content_end];
                    // For a refused line: the dialogue it answers, if any,
                    // and how many arguments came before it.
                    let dialogue = answering.map(|verb| (verb, self.dialogue.len()));
                    let after = || resync::payload_after(raw, dialogue);
                    // The fast path for the common shape of a complete
                    // request line (crate::scan); anything else, and every
                    // dialogue answer, goes through the nom grammar below.
                    let fast = match answering {
                        Some(_) => None,
                        None => scan::request(raw),
                    };
                    let request = if let Some(scanned) = fast {
                        (scanned.verb(), scanned.payload_len(), Ok(scanned))
                    } else {
                        let Ok(line) = std::str::from_utf8(raw) else {
                            return Some(self.core.refuse(RequestError::InvalidUtf8, after()));
                        };
                        if let Some(verb) = answering {
                            // An answer line: more arguments for `verb`.
                            let args = match parse::args(line, verb) {
                                Ok(args) if args.is_empty() => {
                                    return Some(
                                        self.core.reject(RequestError::Aborted { verb }, None),
                                    );
                                }
                                Ok(args) => args,
                                Err(error) => return Some(self.core.refuse(error, after())),
                            };
                            if self.dialogue.len() + args.len() > verb.max_args() {
                                let error = RequestError::TooManyArguments { verb };
                                return Some(self.core.refuse(error, after()));
                            }
                            self.dialogue
                                .extend(args.into_values().map(|a| a.into_owned()));
                            if let Some(&field) = verb.required().get(self.dialogue.len()) {
                                return Some(self.core.prompt(verb, field));
                            }
                            let size = upload_size(verb, self.dialogue.iter().map(String::as_str));
                            let args = self.dialogue.iter().map(|a| a.as_str().into());
                            (verb, size, parse::build(verb, args))
                        } else {
                            let cmd = match parse::command(line) {
                                Ok(Some(cmd)) => cmd,
                                Ok(None) => continue, // blank line: not a request
                                Err(error) => return Some(self.core.refuse(error, after())),
                            };
                            let verb = cmd.verb;
                            if let Some(&field) = verb.required().get(cmd.args.len()) {
                                self.dialogue.clear();
                                self.dialogue
                                    .extend(cmd.args.into_values().map(|a| a.into_owned()));
                                return Some(self.core.prompt(verb, field));
                            }
                            let size = upload_size(verb, cmd.args.values());
                            (verb, size, parse::build(verb, cmd.args.into_values()))
                        }
                    };
                    let (verb, size, built) = request;
                    // A refusal of this split line: what it said, for logs
                    // (`rejected_request`). Split again, from the line or
                    // the dialogue's answers, only when refused.
                    let rejected = || match answering {
                        Some(_) => RejectedRequest::new(verb, self.dialogue.iter().map(|a| &**a)),
                        None => match std::str::from_utf8(raw).map(parse::command) {
                            Ok(Ok(Some(cmd))) => RejectedRequest::new(verb, cmd.args.values()),
                            _ => RejectedRequest::new(verb, []),
                        },
                    };
                    if let Some(size) = size
                        && let Some(max) = self.core.over_limit(size)
                    {
                        let error = RequestError::TooLarge { size, max };
                        let event = self.core.close_with(error);
                        self.core.rejected = Some(rejected());
                        return Some(event);
                    }
                    return match built {
                        Ok(request) => {
                            self.core.state = match size {
                                Some(remaining) => State::ReceivingPayload { remaining },
                                None => State::AwaitingReply { verb },
                            };
                            Some(ServerEvent::RequestReceived(request))
                        }
                        Err(error) => {
                            let after = size.map_or_else(after, PayloadAfter::Bytes);
                            let event = self.core.refuse(error, after);
                            self.core.rejected = Some(rejected());
                            Some(event)
                        }
                    };
                }
            }
        }
    }

    // ---- output -------------------------------------------------------

    /// Sends the final reply to the current request.
    ///
    /// While an upload's payload is still arriving, only a failure may be
    /// sent: the session then drops the rest of the payload and sends the
    /// reply after it (PROTOCOL.md § Upload payload). After `900 FDBS size`
    /// the application owes `size` payload bytes
    /// ([`ServerSession::send_payload`] or
    /// [`ServerSession::payload_sent_directly`]); after `200 BYE` the session
    /// is closed.
    ///
    /// # Errors
    /// A [`SendError`], leaving the session unchanged: `NoRequest` when no
    /// request waits for a reply; `WrongReply` when the code belongs neither
    /// to the request's verb nor to `500 BCMD`, or is a prompt;
    /// `PayloadNotReceived` for a success before the upload's payload ended;
    /// `PayloadPending` while a download's payload is owed; `Closed`;
    /// `Encode` for a reply whose code does not fit its variant.
    pub fn send_reply(&mut self, reply: &Reply<'_>) -> Result<(), SendError> {
        let code = reply.code();
        match self.core.state {
            State::Closed => Err(SendError::Closed),
            State::SendingPayload { remaining } => Err(SendError::PayloadPending { remaining }),
            State::Idle | State::Dialogue { .. } | State::DiscardingPayload { .. } => {
                Err(SendError::NoRequest)
            }
            State::ReceivingPayload { remaining } => {
                if !code.is_failure() {
                    return Err(SendError::PayloadNotReceived);
                }
                check_reply(Verb::Upload, code)?;
                let mut held = Vec::new();
                encode::reply(reply, &mut held)?;
                self.core.held = held;
                self.core.state = State::DiscardingPayload { remaining };
                Ok(())
            }
            State::AwaitingReply { verb } => {
                check_reply(verb, code)?;
                encode::reply(reply, &mut self.core.tx)?;
                self.core.state = match reply {
                    Reply::Download { size } if *size > 0 => {
                        State::SendingPayload { remaining: *size }
                    }
                    Reply::Bye => State::Closed,
                    _ => State::Idle,
                };
                Ok(())
            }
        }
    }

    /// Queues `data` as the next bytes of a download's payload.
    ///
    /// # Errors
    /// `Closed` when `data` is not empty and the session is closed
    /// ([`ServerSession::close`], or the end of input); `PayloadOverrun` when
    /// `data` is longer than what remains (or not empty while no payload is
    /// owed). Nothing is queued then.
    pub fn send_payload(&mut self, data: &[u8]) -> Result<(), SendError> {
        self.take_payload(data.len() as u64, false)?;
        self.core.tx.extend_from_slice(data);
        Ok(())
    }

    /// Records that the application wrote `n` bytes of a download's payload
    /// to the peer itself (for example with `sendfile`), after writing out
    /// everything [`ServerSession::poll_transmit`] gave it.
    ///
    /// `n = 0` (a `sendfile` that wrote nothing) is always accepted and
    /// changes nothing.
    ///
    /// # Errors
    /// `TransmitPending` when `n > 0` and encoded bytes are still waiting to
    /// be sent (they must go first); `Closed` when `n > 0` and the session is
    /// closed; `PayloadOverrun` when `n` exceeds what remains.
    pub fn payload_sent_directly(&mut self, n: u64) -> Result<(), SendError> {
        self.take_payload(n, true)
    }

    /// Counts `n` bytes of a download's payload as sent: queued by
    /// [`ServerSession::send_payload`], or written by the application
    /// itself (`direct`), which must come after every queued byte.
    fn take_payload(&mut self, n: u64, direct: bool) -> Result<(), SendError> {
        // Zero bytes never overrun, owed or not (a `900 FDBS 0` owes none).
        if !payload_send_checks(n, direct, self.is_closed(), self.core.tx.len())? {
            return Ok(());
        }
        let State::SendingPayload { remaining } = self.core.state else {
            return Err(SendError::PayloadOverrun { remaining: 0 });
        };
        if n > remaining {
            return Err(SendError::PayloadOverrun { remaining });
        }
        self.core.state = match remaining - n {
            0 => State::Idle,
            remaining => State::SendingPayload { remaining },
        };
        Ok(())
    }

    /// Bytes of a refused upload's payload still to be dropped before its
    /// held reply is sent ([`ServerState::DiscardingPayload`]); `None` in
    /// any other state. A server that logs the refusal when its reply goes
    /// out can tell from it how much of the payload arrived: the upload's
    /// declared size minus this, once the input ended or the connection is
    /// cut mid-payload.
    pub fn discard_remaining(&self) -> Option<u64> {
        match self.core.state {
            State::DiscardingPayload { remaining } => Some(remaining),
            _ => None,
        }
    }

    /// Download payload bytes still owed, if a download is being sent.
    pub fn payload_remaining(&self) -> Option<u64> {
        match self.core.state {
            State::SendingPayload { remaining } => Some(remaining),
            _ => None,
        }
    }

    /// How many bytes of an upload's payload the application may read from
    /// the peer itself, into a buffer of its own, and then report with
    /// [`ServerSession::payload_received_directly`]: a store's aligned block
    /// for direct I/O, or a pipe for `splice`, saving the copy out of the
    /// session's buffer.
    ///
    /// It is the payload bytes still to arrive while an upload's payload is
    /// being received *and* the session holds none of them (they all went
    /// out as [`ServerEvent::PayloadData`] first, so the order is kept); 0
    /// otherwise, including while a refused upload's payload is discarded.
    pub fn payload_direct_room(&self) -> u64 {
        match self.core.state {
            State::ReceivingPayload { remaining } if self.rx.cur.len() == 0 => remaining,
            _ => 0,
        }
    }

    /// Records that the application read the next `n` bytes of the upload's
    /// payload from the peer itself. After the last one, [`poll_event`]
    /// returns [`ServerEvent::PayloadEnd`] as usual. An end of input in the
    /// middle of the payload is still reported with
    /// [`ServerSession::receive_eof`].
    ///
    /// [`poll_event`]: ServerSession::poll_event
    ///
    /// # Errors
    /// [`DirectReceiveError`] when `n` is more than
    /// [`ServerSession::payload_direct_room`]; the session is left as it
    /// was.
    pub fn payload_received_directly(&mut self, n: u64) -> Result<(), DirectReceiveError> {
        let room = self.payload_direct_room();
        if n > room {
            return Err(DirectReceiveError { room, given: n });
        }
        if let State::ReceivingPayload { remaining } = &mut self.core.state {
            *remaining -= n;
        }
        Ok(())
    }

    /// Moves every encoded byte waiting to be sent to the end of `out` and
    /// returns how many there were. Write them to the peer in order.
    ///
    /// When `out` is empty the session's buffer is swapped into it, so the
    /// bytes are not copied and `out`'s old buffer is reused. Between calls
    /// the session keeps at most 1 MiB of transmit capacity: the buffer a
    /// large reply (a long listing) grew leaves with the bytes or is freed,
    /// so an idle connection does not hold it. Freeing `out`'s own buffer
    /// once written, if it grew large, is the caller's choice.
    pub fn poll_transmit(&mut self, out: &mut Vec<u8>) -> usize {
        crate::buffer::drain_into(&mut self.core.tx, out)
    }

    /// Whether encoded bytes are waiting for [`ServerSession::poll_transmit`].
    pub fn has_transmit(&self) -> bool {
        !self.core.tx.is_empty()
    }

    /// How many encoded bytes are waiting for
    /// [`ServerSession::poll_transmit`].
    ///
    /// A connection loop answers pipelined requests in batches, but should
    /// write out once this is large (`bucket-server` writes at 64 KiB)
    /// before answering the next request: otherwise a client that pipelines
    /// requests and reads no replies makes the server hold every reply of
    /// everything it has read, and a `LIST_F` reply can be megabytes.
    pub fn transmit_len(&self) -> usize {
        self.core.tx.len()
    }

    // ---- state --------------------------------------------------------

    /// The current state.
    pub fn state(&self) -> ServerState {
        match self.core.state {
            State::Idle => ServerState::Idle,
            State::Dialogue { .. } => ServerState::Dialogue,
            State::AwaitingReply { .. } => ServerState::AwaitingReply,
            State::ReceivingPayload { .. } => ServerState::ReceivingPayload,
            State::DiscardingPayload { .. } => ServerState::DiscardingPayload,
            State::SendingPayload { .. } => ServerState::SendingPayload,
            State::Closed => ServerState::Closed,
        }
    }

    /// Whether the session is over (after `200 BYE`, an over-large upload,
    /// or the end of input). Write out what is left to transmit, then close.
    pub fn is_closed(&self) -> bool {
        matches!(self.core.state, State::Closed)
    }

    /// Ends the session at once (for example when the application cannot
    /// finish a download's payload). Bytes already queued stay in the
    /// transmit buffer.
    pub fn close(&mut self) {
        self.core.state = State::Closed;
    }
}

impl Core {
    /// Answers a refused request and returns to `Idle` (or, for an upload
    /// whose size is known, drops its payload first).
    fn reject(&mut self, error: RequestError, payload: Option<u64>) -> ServerEvent<'static> {
        self.rejected = None;
        let reply = error.reply();
        match payload {
            Some(remaining) => {
                self.held.clear();
                encode_infallible(&reply, &mut self.held);
                self.state = State::DiscardingPayload { remaining };
            }
            None => {
                self.encode_now(&reply);
                self.state = State::Idle;
            }
        }
        ServerEvent::RequestRejected(error)
    }

    /// Answers a line refused for its grammar or its arguments, keeping in
    /// step with the `UPLOAD` payload that may follow it ([`resync`]): no
    /// payload, answer now; a payload of known size within the limit,
    /// answer after it; otherwise answer and close, since the rest of the
    /// stream cannot be told from payload (docs/protocol.md, decision 3).
    fn refuse(&mut self, error: RequestError, after: PayloadAfter) -> ServerEvent<'static> {
        match after {
            PayloadAfter::None => self.reject(error, None),
            PayloadAfter::Bytes(size) if self.over_limit(size).is_none() => {
                self.reject(error, Some(size))
            }
            PayloadAfter::Bytes(_) | PayloadAfter::Unknown => self.close_with(error),
        }
    }

    /// The limit, when an upload of `size` bytes is over it.
    fn over_limit(&self, size: u64) -> Option<u64> {
        self.config.max_upload_size.filter(|&max| size > max)
    }

    /// Answers `error` and ends the session: what follows the line cannot be
    /// read as requests.
    fn close_with(&mut self, error: RequestError) -> ServerEvent<'static> {
        self.rejected = None;
        self.encode_now(&error.reply());
        self.state = State::Closed;
        ServerEvent::RequestRejected(error)
    }

    fn prompt(&mut self, verb: Verb, field: Field) -> ServerEvent<'static> {
        self.encode_now(&Reply::Need { field });
        self.state = State::Dialogue { verb };
        ServerEvent::Prompted { verb, field }
    }

    fn encode_now(&mut self, reply: &Reply<'_>) {
        encode_infallible(reply, &mut self.tx);
    }
}

/// The size of an `UPLOAD` whose size argument is a valid number, from its
/// raw arguments (so a payload can be skipped even when a name is bad).
fn upload_size<'a>(verb: Verb, mut args: impl Iterator<Item = &'a str>) -> Option<u64> {
    if verb == Verb::Upload {
        args.nth(2).and_then(parse::size)
    } else {
        None
    }
}

/// Whether `code` may answer `verb` as its final reply.
fn check_reply(verb: Verb, code: ReplyCode) -> Result<(), SendError> {
    if verb.answered_by(code) {
        Ok(())
    } else {
        Err(SendError::WrongReply { verb, code })
    }
}

/// Encodes a reply the session built itself, whose code always fits.
fn encode_infallible(reply: &Reply<'_>, out: &mut Vec<u8>) {
    let result = encode::reply(reply, out);
    debug_assert!(result.is_ok(), "session reply failed to encode: {result:?}");
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::{BucketName, FileName};

    /// `wants_input` after `poll_event` returned `None`, through every state
    /// that waits: input in a dialogue and in both kinds of payload, the
    /// application for a reply and for a download's payload, nothing at
    /// the end of input or once closed.
    #[test]
    fn wants_input_tells_waiting_for_the_peer_from_waiting_for_the_application() {
        let mut s = ServerSession::default();
        let drain = |s: &mut ServerSession| {
            while !matches!(s.poll_event(), None | Some(ServerEvent::Closed)) {}
        };

        // A dialogue: the prompt is the session's own, then it wants the line.
        s.receive(b"CREATE_B\n");
        drain(&mut s);
        assert_eq!(s.state(), ServerState::Dialogue);
        assert!(s.wants_input());
        s.receive(b"photos\n");
        drain(&mut s);
        assert_eq!(s.state(), ServerState::AwaitingReply);
        assert!(!s.wants_input());
        s.send_reply(&Reply::success(Verb::CreateBucket).unwrap())
            .unwrap();

        // An upload's payload, half received.
        s.receive(b"UPLOAD photos a 4\nab");
        drain(&mut s);
        assert_eq!(s.state(), ServerState::ReceivingPayload);
        assert!(s.wants_input());
        s.receive(b"cd");
        drain(&mut s);
        assert!(!s.wants_input(), "the upload's reply is owed");
        s.send_reply(&Reply::success(Verb::Upload).unwrap())
            .unwrap();

        // A refused upload's payload, skipped by the session.
        s.receive(b"UPLOAD photos a\\b 4\nab");
        drain(&mut s);
        assert_eq!(s.state(), ServerState::DiscardingPayload);
        assert_eq!(s.discard_remaining(), Some(2));
        assert!(s.wants_input());
        s.receive(b"cd");
        drain(&mut s);
        assert_eq!(s.state(), ServerState::Idle);
        assert_eq!(s.discard_remaining(), None);
        assert!(s.wants_input());

        // A download: the reply, then its payload, are the application's.
        s.receive(b"DOWNLOAD photos a\n");
        drain(&mut s);
        assert!(!s.wants_input());
        s.send_reply(&Reply::Download { size: 2 }).unwrap();
        assert_eq!(s.state(), ServerState::SendingPayload);
        assert!(!s.wants_input());
        s.send_payload(b"ab").unwrap();
        assert!(s.wants_input());

        // The end of input, then closed.
        s.receive_eof();
        assert!(!s.wants_input());
        drain(&mut s);
        assert!(s.is_closed());
        assert!(!s.wants_input());
    }

    /// Regression: after `900 FDBS 0` the session owes no payload, and a
    /// zero-byte direct or queued payload must not fail (it used to return
    /// `PayloadOverrun`, and the server closed the connection).
    #[test]
    fn empty_download_needs_no_payload_and_zero_bytes_are_accepted() {
        let mut s = ServerSession::default();
        s.receive(b"DOWNLOAD b f\nHELLO\n");
        let Some(ServerEvent::RequestReceived(Request::Download { bucket, name })) = s.poll_event()
        else {
            panic!("expected the download request");
        };
        assert_eq!(
            (bucket, name),
            (BucketName::new("b").unwrap(), FileName::new("f").unwrap())
        );
        s.send_reply(&Reply::Download { size: 0 }).unwrap();
        assert_eq!(s.state(), ServerState::Idle);
        let mut out = Vec::new();
        s.poll_transmit(&mut out);
        assert_eq!(out, b"900 FDBS 0\n");
        assert_eq!(s.payload_sent_directly(0), Ok(()));
        assert_eq!(s.send_payload(b""), Ok(()));
        assert_eq!(
            s.send_payload(b"x"),
            Err(SendError::PayloadOverrun { remaining: 0 })
        );
        assert_eq!(
            s.poll_event(),
            Some(ServerEvent::RequestReceived(Request::Hello))
        );
    }
}
