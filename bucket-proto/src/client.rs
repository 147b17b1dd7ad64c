//! The client side of a BKT/1 connection, as a state machine with no I/O:
//! the mirror of [`crate::server`].
//!
//! A client queues requests with [`ClientSession::send_request`] (and an
//! upload's payload with [`ClientSession::send_payload`]), writes what
//! [`ClientSession::poll_transmit`] hands it, feeds received bytes in with
//! [`ClientSession::receive`] (any chunking), and takes replies out with
//! [`ClientSession::poll_event`]. Requests may be pipelined: the session keeps
//! the verbs of those not yet answered, in order, and names the one each
//! reply answers. List replies are collected line by line as they arrive; a
//! download's payload is handed out as borrowed pieces.
//!
//! # States
//! | receiving | on | goes to |
//! | --- | --- | --- |
//! | a line | one-line reply | same (event `Reply`) |
//! | a line | list header `code count` | list body (event `Reply` at once when `count` is 0) |
//! | list body | `count`-th item line | a line (event `Reply` with every item) |
//! | a line or list body | a list over [`ClientConfig::max_list_size`] | failed (`ClientError::ListTooLarge`) |
//! | a line | `900 FDBS size` | payload (event `Reply`) |
//! | payload | bytes | same (events `PayloadData`), then a line (event `PayloadEnd`) |
//! | a line, nothing buffered | end of input | closed (event `Closed`) |
//! | anything else | end of input | failed (`ClientError::UnexpectedEof`) |
//! | any | malformed reply | failed (`ClientError`) |

use std::collections::VecDeque;

use crate::buffer::RecvBuf;
use crate::error::{ClientError, ReplyError, SendError, payload_send_checks};
use crate::framing::{Frame, LineFramer, MAX_REPLY_LINE_LEN};
use crate::parse::{self, ListBody, ReplyHead};
use crate::reply::Reply;
use crate::request::{Field, Request, Verb};
use crate::{Reason, ReplyCode, encode};

/// Settings of a [`ClientSession`]: limits on what it accepts from the
/// server, so that a broken or hostile server cannot make the client hold
/// unbounded memory.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClientConfig {
    /// Largest list reply (210, 220, 400, 800) kept, in bytes; `None` for no
    /// limit. A list counts [`ClientConfig::LIST_ITEM_OVERHEAD`] bytes per
    /// item plus the length of each item's line (without its LF), which is
    /// about what its items take in memory. A list whose header announces
    /// more items than could fit is refused at once, before any item
    /// arrives; otherwise the session fails at the item that goes over.
    /// Either way the session fails with [`ClientError::ListTooLarge`]
    /// (docs/protocol.md, decision 10). Default:
    /// [`ClientConfig::DEFAULT_MAX_LIST_SIZE`].
    pub max_list_size: Option<u64>,
}

impl ClientConfig {
    /// The default `max_list_size`: 256 MiB, about 2.5 million files of
    /// `LIST_F` with 40-byte lines.
    pub const DEFAULT_MAX_LIST_SIZE: u64 = 256 << 20;

    /// What each list item counts toward `max_list_size` besides its line,
    /// in bytes: the size of a [`crate::FileEntry`] and its slot, rounded
    /// up.
    pub const LIST_ITEM_OVERHEAD: u64 = 64;

    /// A configuration with `max_list_size` set (`None`: no limit).
    pub fn with_max_list_size(mut self, max: Option<u64>) -> Self {
        self.max_list_size = max;
        self
    }
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            max_list_size: Some(Self::DEFAULT_MAX_LIST_SIZE),
        }
    }
}

/// What the server sent, for the application to act on.
#[derive(Debug, PartialEq, Eq)]
#[must_use]
pub enum ClientEvent<'a> {
    /// A whole reply: a final reply, a `150 NEED` prompt, or a `900 FDBS`
    /// header whose payload events follow.
    Reply {
        /// The verb of the request it answers: the oldest one not yet
        /// finally answered; `None` for a `500 BCMD BUSY` that arrived with
        /// no request waiting. A full server sends BUSY as soon as the
        /// connection opens, so it usually arrives as the answer to the
        /// first request (`Some`): to tell a busy server, look at
        /// `reply.reason() == Some(Reason::Busy)`, not at `None`.
        request: Option<Verb>,
        /// The reply. List items are owned; other text borrows from the
        /// session's buffer.
        reply: Reply<'a>,
    },
    /// The next piece of a download's payload. Boundaries carry no meaning.
    PayloadData(&'a [u8]),
    /// The download's payload is complete: exactly `size` bytes were handed
    /// out.
    PayloadEnd,
    /// The server closed the connection between replies. Returned from then
    /// on. Requests still pending were not answered.
    Closed,
}

#[derive(Debug)]
enum Rx {
    Line,
    List {
        remaining: u64,
        /// The items announced by the header.
        count: u64,
        /// What the list counts toward `max_list_size` so far: the overhead
        /// of every announced item, plus the item lines received.
        size: u64,
        /// `max_list_size` when the header arrived.
        limit: Option<u64>,
        body: ListBody,
    },
    Payload {
        remaining: u64,
    },
    Closed,
    Failed(ClientError),
}

/// The client side of one BKT/1 connection. See the [module
/// documentation](self).
#[derive(Debug)]
pub struct ClientSession {
    /// Received bytes not yet processed. Events borrow from here.
    rx: RecvBuf,
    core: Core,
}

/// Everything but the buffer events borrow from.
#[derive(Debug)]
struct Core {
    state: Rx,
    eof: bool,
    framer: LineFramer,
    /// Verbs of the requests sent and not yet finally answered, oldest first.
    pending: VecDeque<Verb>,
    tx: Vec<u8>,
    /// Upload payload bytes still owed by the application.
    upload_remaining: u64,
    config: ClientConfig,
}

impl Default for ClientSession {
    fn default() -> Self {
        ClientSession::new()
    }
}

impl ClientSession {
    /// A session at the start of a connection, with the default
    /// [`ClientConfig`].
    pub fn new() -> Self {
        ClientSession::with_config(ClientConfig::default())
    }

    /// A session at the start of a connection, with `config`.
    pub fn with_config(config: ClientConfig) -> Self {
        ClientSession {
            rx: RecvBuf::default(),
            core: Core {
                state: Rx::Line,
                eof: false,
                framer: LineFramer::new(MAX_REPLY_LINE_LEN),
                pending: VecDeque::new(),
                tx: Vec::new(),
                upload_remaining: 0,
                config,
            },
        }
    }

    /// The session's settings.
    pub fn config(&self) -> &ClientConfig {
        &self.core.config
    }

    /// Replaces the session's settings. A new `max_list_size` applies from
    /// the next list header on; a list already arriving keeps the limit it
    /// started with.
    pub fn set_config(&mut self, config: ClientConfig) {
        self.core.config = config;
    }

    // ---- output -------------------------------------------------------

    /// Queues `request`'s line for sending. After `UPLOAD` the application
    /// owes exactly `size` payload bytes ([`ClientSession::send_payload`] or
    /// [`ClientSession::payload_sent_directly`]) before the next request.
    /// Requests may be sent without waiting for replies (pipelining).
    ///
    /// # Errors
    /// `PayloadPending` while an upload's payload is still owed; `Closed`
    /// once the session is closed or failed. Nothing is queued then.
    pub fn send_request(&mut self, request: &Request<'_>) -> Result<(), SendError> {
        if matches!(self.core.state, Rx::Closed | Rx::Failed(_)) {
            return Err(SendError::Closed);
        }
        if self.core.upload_remaining > 0 {
            return Err(SendError::PayloadPending {
                remaining: self.core.upload_remaining,
            });
        }
        encode::request(request, &mut self.core.tx);
        self.core.pending.push_back(request.verb());
        self.core.upload_remaining = request.payload_len().unwrap_or(0);
        Ok(())
    }

    /// Queues `data` as the next bytes of the current upload's payload.
    ///
    /// # Errors
    /// `Closed` when `data` is not empty and the session is closed or failed
    /// (nothing more is sent then, [`ClientSession::poll_event`]);
    /// `PayloadOverrun` when `data` is longer than what the upload still
    /// owes (or no upload is being sent). Nothing is queued then.
    pub fn send_payload(&mut self, data: &[u8]) -> Result<(), SendError> {
        self.take_payload(data.len() as u64, false)?;
        self.core.tx.extend_from_slice(data);
        Ok(())
    }

    /// Records that the application wrote `n` bytes of the current upload's
    /// payload to the server itself, after writing out everything
    /// [`ClientSession::poll_transmit`] gave it.
    ///
    /// `n = 0` is always accepted and changes nothing.
    ///
    /// # Errors
    /// `TransmitPending` when `n > 0` and encoded bytes are still waiting to
    /// be sent; `Closed` when `n > 0` and the session is closed or failed;
    /// `PayloadOverrun` when `n` exceeds what the upload still owes.
    pub fn payload_sent_directly(&mut self, n: u64) -> Result<(), SendError> {
        self.take_payload(n, true)
    }

    /// Counts `n` bytes of the upload's payload as sent: queued by
    /// [`ClientSession::send_payload`], or written by the application
    /// itself (`direct`), which must come after every queued byte.
    fn take_payload(&mut self, n: u64, direct: bool) -> Result<(), SendError> {
        if !payload_send_checks(n, direct, self.is_closed(), self.core.tx.len())? {
            return Ok(());
        }
        let remaining = self.core.upload_remaining;
        if n > remaining {
            return Err(SendError::PayloadOverrun { remaining });
        }
        self.core.upload_remaining -= n;
        Ok(())
    }

    /// Upload payload bytes the application still owes.
    pub fn payload_remaining(&self) -> u64 {
        self.core.upload_remaining
    }

    /// Moves every encoded byte waiting to be sent to the end of `out` and
    /// returns how many there were.
    ///
    /// When `out` is empty the session's buffer is swapped into it, so the
    /// bytes are not copied and `out`'s old buffer is reused. Between calls
    /// the session keeps at most 1 MiB of transmit capacity: the buffer a
    /// large batch of pipelined requests grew leaves with the bytes or is
    /// freed, so an idle connection does not hold it. Freeing `out`'s own
    /// buffer once written, if it grew large, is the caller's choice.
    pub fn poll_transmit(&mut self, out: &mut Vec<u8>) -> usize {
        crate::buffer::drain_into(&mut self.core.tx, out)
    }

    /// Whether encoded bytes are waiting for [`ClientSession::poll_transmit`].
    pub fn has_transmit(&self) -> bool {
        !self.core.tx.is_empty()
    }

    /// How many requests were sent and have not had their final reply.
    pub fn pending_requests(&self) -> usize {
        self.core.pending.len()
    }

    // ---- input --------------------------------------------------------

    /// Hands the session bytes received from the server, in any chunking.
    pub fn receive(&mut self, data: &[u8]) {
        if matches!(self.core.state, Rx::Closed | Rx::Failed(_)) {
            return;
        }
        self.rx.extend(data);
    }

    /// Spare room of at least `min` bytes to read received bytes into
    /// directly (no copy); follow with [`ClientSession::commit_received`].
    pub fn receive_buffer(&mut self, min: usize) -> &mut [u8] {
        self.rx.spare(min)
    }

    /// Takes the first `n` bytes of the last [`ClientSession::receive_buffer`]
    /// as received. `n` is clamped to that buffer's length, and a second
    /// call without a new `receive_buffer` takes nothing, so a wrong count
    /// never adds bytes that were not read (it never panics either).
    /// Ignored once closed.
    pub fn commit_received(&mut self, n: usize) {
        if !matches!(self.core.state, Rx::Closed | Rx::Failed(_)) {
            self.rx.commit(n);
        }
    }

    /// Tells the session that the server will send nothing more.
    pub fn receive_eof(&mut self) {
        self.core.eof = true;
    }

    /// The next event, or `Ok(None)` when more input is needed.
    ///
    /// # Errors
    /// A [`ClientError`] when the server broke the protocol (malformed reply,
    /// a reply that answers no pending request's verb, end of input inside a
    /// reply). The session is then failed: the same error is returned from
    /// then on and nothing more is sent, not even requests queued before
    /// the failure and not yet taken by [`ClientSession::poll_transmit`].
    pub fn poll_event(&mut self) -> Result<Option<ClientEvent<'_>>, ClientError> {
        loop {
            match &mut self.core.state {
                Rx::Failed(error) => return Err(error.clone()),
                Rx::Closed => return Ok(Some(ClientEvent::Closed)),
                Rx::Payload { remaining } => {
                    if *remaining == 0 {
                        self.core.state = Rx::Line;
                        return Ok(Some(ClientEvent::PayloadEnd));
                    }
                    let avail = self.rx.cur.len();
                    if avail == 0 {
                        return match self.core.eof {
                            true => Err(self.core.fail(ClientError::UnexpectedEof)),
                            false => Ok(None),
                        };
                    }
                    let n = crate::buffer::payload_piece(avail, *remaining);
                    *remaining -= n as u64;
                    let start = self.rx.cur.start;
                    self.rx.cur.consume(n);
                    return Ok(Some(ClientEvent::PayloadData(
                        &self.rx.bytes[start..start + n],
                    )));
                }
                Rx::Line | Rx::List { .. } => {}
            }
            let (content_end, consumed) = match self
                .core
                .framer
                .next(&self.rx.bytes[self.rx.cur.start..self.rx.cur.end])
            {
                Frame::Line {
                    content_end,
                    consumed,
                } => (content_end, consumed),
                Frame::TooLong { .. } | Frame::Discarded { .. } => {
                    let error = ReplyError::LineTooLong {
                        max: MAX_REPLY_LINE_LEN,
                    };
                    return Err(self.core.fail(error.into()));
                }
                Frame::Incomplete => {
                    if !self.core.eof {
                        return Ok(None);
                    }
                    if matches!(self.core.state, Rx::Line) && self.rx.cur.len() == 0 {
                        self.core.state = Rx::Closed;
                        continue;
                    }
                    return Err(self.core.fail(ClientError::UnexpectedEof));
                }
            };
            let start = self.rx.cur.start;
            self.rx.cur.consume(consumed);
            let Ok(line) = std::str::from_utf8(&self.rx.bytes[start..start + content_end]) else {
                return Err(self.core.fail(ReplyError::InvalidUtf8.into()));
            };
            if let Rx::List {
                remaining,
                count,
                size,
                limit,
                body,
            } = &mut self.core.state
            {
                *size = size.saturating_add(line.len() as u64);
                if let Some(limit) = *limit
                    && *size > limit
                {
                    let count = *count;
                    return Err(self.core.fail(ClientError::ListTooLarge { count, limit }));
                }
                if let Err(error) = body.push(line) {
                    return Err(self.core.fail(error.into()));
                }
                *remaining -= 1;
                if *remaining > 0 {
                    continue;
                }
                let Rx::List { body, .. } = std::mem::replace(&mut self.core.state, Rx::Line)
                else {
                    unreachable!("state was matched as a list just above");
                };
                return self.core.deliver(body.into_reply());
            }
            match parse::reply_head(line) {
                Err(error) => return Err(self.core.fail(error.into())),
                Ok(ReplyHead::Complete(reply)) => {
                    if let Reply::Download { size } = reply {
                        self.core.state = Rx::Payload { remaining: size };
                    }
                    return self.core.deliver(reply);
                }
                Ok(ReplyHead::List { code, count: 0 }) => {
                    return self.core.deliver(ListBody::new(code, 0).into_reply());
                }
                Ok(ReplyHead::List { code, count }) => {
                    // Refused at its header, not after `count` items: a
                    // list nobody asked for could be endless.
                    if let Err(error) = self.core.check_list(code) {
                        return Err(self.core.fail(error));
                    }
                    // Refused at its header too when its items could not
                    // fit, whatever their lines.
                    let size = count.saturating_mul(ClientConfig::LIST_ITEM_OVERHEAD);
                    let limit = self.core.config.max_list_size;
                    if let Some(limit) = limit
                        && size > limit
                    {
                        return Err(self.core.fail(ClientError::ListTooLarge { count, limit }));
                    }
                    self.core.state = Rx::List {
                        remaining: count,
                        count,
                        size,
                        limit,
                        body: ListBody::new(code, count),
                    };
                }
            }
        }
    }

    /// Whether the session is over (closed by the server, or failed).
    pub fn is_closed(&self) -> bool {
        matches!(self.core.state, Rx::Closed | Rx::Failed(_))
    }
}

impl Core {
    /// Moves to the failed state and returns the error. Bytes still queued
    /// for sending are dropped: a server the session judged broken gets no
    /// more requests (a `DELETE_B` pipelined behind the broken reply, say).
    fn fail(&mut self, error: ClientError) -> ClientError {
        self.state = Rx::Failed(error.clone());
        self.tx.clear();
        error
    }

    /// The pending request a reply with `code` answers: the oldest one, or
    /// `None` for a `500 BCMD BUSY` (`busy`) that arrived with none waiting.
    /// `need` is the field a `150 NEED` asks for.
    ///
    /// One reply per request (PROTOCOL.md § Transport): a reply when none
    /// is pending is an error, but for BUSY, which a full server sends
    /// before any request (docs/protocol.md, decision 12). A prompt fits
    /// only if it asks for one of the verb's required fields; any other
    /// reply, if its code answers the verb.
    fn answered(
        &self,
        code: ReplyCode,
        need: Option<Field>,
        busy: bool,
    ) -> Result<Option<Verb>, ClientError> {
        let Some(&verb) = self.pending.front() else {
            return match busy {
                true => Ok(None),
                false => Err(ClientError::UnrequestedReply { code }),
            };
        };
        let fits = match need {
            Some(field) => verb.required().contains(&field),
            None => verb.answered_by(code),
        };
        match fits {
            true => Ok(Some(verb)),
            false => Err(ClientError::UnexpectedReply { verb, code }),
        }
    }

    /// Whether a list reply with `code` may answer the oldest pending
    /// request, judged at its header (see [`Core::answered`]).
    fn check_list(&self, code: ReplyCode) -> Result<(), ClientError> {
        self.answered(code, None, false).map(drop)
    }

    /// Matches a reply to the oldest pending request ([`Core::answered`])
    /// and hands it out; a final reply ends that request.
    fn deliver<'a>(&mut self, reply: Reply<'a>) -> Result<Option<ClientEvent<'a>>, ClientError> {
        let code = reply.code();
        let need = match &reply {
            Reply::Need { field } => Some(*field),
            _ => None,
        };
        let busy = code == ReplyCode::BadCommand && reply.reason() == Some(Reason::Busy);
        let request = match self.answered(code, need, busy) {
            Ok(request) => request,
            Err(error) => return Err(self.fail(error)),
        };
        if request.is_some() && reply.is_final() {
            self.pending.pop_front();
        }
        Ok(Some(ClientEvent::Reply { request, reply }))
    }
}
