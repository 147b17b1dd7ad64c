//! Errors, one enum per concern:
//!
//! - [`RequestError`]: a request line the peer sent is not a valid request.
//!   Each one has the reply a server sends for it ([`RequestError::reply`]).
//! - [`ReplyError`]: a reply line the peer sent is not a valid reply.
//! - [`EncodeError`]: the caller asked to encode a reply that cannot exist.
//! - [`SendError`]: the caller used a session out of turn (local error, the
//!   session is unchanged).
//! - [`ClientError`]: the server broke the protocol (remote error, the client
//!   session is over).
//!
//! Name errors are [`crate::NameError`].

use std::borrow::Cow;

use crate::codes::{Reason, ReplyCode};
use crate::names::NameError;
use crate::reply::Reply;
use crate::request::{Field, Verb};

/// Why a request line was refused. Every variant maps to one reply
/// ([`RequestError::reply`]): the verb's own failure code with `BAD_NAME` or
/// `ABORTED` or `TOO_LARGE`, `500 BCMD` for everything else (PROTOCOL.md §
/// Requests, § Replies).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// The line, terminator included, exceeds [`crate::MAX_LINE_LEN`] bytes.
    #[error("request line longer than {max} bytes")]
    LineTooLong {
        /// The limit in bytes, terminator included.
        max: usize,
    },
    /// The line is not valid UTF-8.
    #[error("request line is not valid UTF-8")]
    InvalidUtf8,
    /// The line does not follow the request grammar.
    #[error("syntax error: {detail}")]
    Syntax {
        /// What was wrong, for people.
        detail: &'static str,
    },
    /// The first word is not a verb or alias of PROTOCOL.md's table (or, for
    /// `HELP verb`, the topic is not).
    #[error("unknown verb")]
    UnknownVerb,
    /// The verb was given more arguments than it takes.
    #[error("too many arguments for {verb}")]
    TooManyArguments {
        /// The verb.
        verb: Verb,
    },
    /// A required argument is missing. Only [`crate::decode::request`] returns
    /// this; a server session opens a dialogue instead.
    #[error("{verb} needs a {field}")]
    MissingArgument {
        /// The verb.
        verb: Verb,
        /// The first missing argument.
        field: Field,
    },
    /// `UPLOAD`'s size is not a decimal u64 without sign.
    #[error("size must be a decimal number of bytes without sign")]
    BadSize,
    /// A bucket or file name breaks the rules of PROTOCOL.md § Names.
    #[error("bad {field}: {error}")]
    BadName {
        /// The verb whose argument it was.
        verb: Verb,
        /// Which argument.
        field: Field,
        /// The rule it broke.
        error: NameError,
    },
    /// A dialogue was cancelled by an empty answer line (PROTOCOL.md §
    /// Dialogues).
    #[error("{verb} cancelled")]
    Aborted {
        /// The verb whose dialogue was cancelled.
        verb: Verb,
    },
    /// The upload's size exceeds the server's limit; the connection closes
    /// after the reply (PROTOCOL.md § Upload payload).
    #[error("upload of {size} bytes exceeds the limit of {max} bytes")]
    TooLarge {
        /// The announced size in bytes.
        size: u64,
        /// The server's limit in bytes.
        max: u64,
    },
}

impl RequestError {
    /// The machine-readable reason sent for this error.
    pub fn reason(&self) -> Reason {
        match self {
            RequestError::LineTooLong { .. } => Reason::LineTooLong,
            RequestError::InvalidUtf8
            | RequestError::Syntax { .. }
            | RequestError::TooManyArguments { .. }
            | RequestError::MissingArgument { .. }
            | RequestError::BadSize => Reason::Syntax,
            RequestError::UnknownVerb => Reason::UnknownVerb,
            RequestError::BadName { .. } => Reason::BadName,
            RequestError::Aborted { .. } => Reason::Aborted,
            RequestError::TooLarge { .. } => Reason::TooLarge,
        }
    }

    /// The verb of the refused request, when it was recognised.
    pub fn verb(&self) -> Option<Verb> {
        match self {
            RequestError::TooManyArguments { verb }
            | RequestError::MissingArgument { verb, .. }
            | RequestError::BadName { verb, .. }
            | RequestError::Aborted { verb } => Some(*verb),
            RequestError::TooLarge { .. } => Some(Verb::Upload),
            _ => None,
        }
    }

    /// The code sent for this error: the verb's failure code for a bad name,
    /// a cancelled dialogue or an over-large upload, `500 BCMD` otherwise.
    pub fn code(&self) -> ReplyCode {
        match self {
            RequestError::BadName { verb, .. } | RequestError::Aborted { verb } => {
                verb.failure_code()
            }
            RequestError::TooLarge { .. } => ReplyCode::FileUploadFailed,
            _ => ReplyCode::BadCommand,
        }
    }

    /// The reply a server sends for this error: `code mnemonic reason text`.
    pub fn reply(&self) -> Reply<'static> {
        Reply::Failure {
            code: self.code(),
            reason: self.reason(),
            text: Some(Cow::Owned(self.to_string())),
        }
    }
}

/// Why a reply line was refused by the decoder.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReplyError {
    /// A reply line exceeds [`crate::MAX_REPLY_LINE_LEN`] bytes.
    #[error("reply line longer than {max} bytes")]
    LineTooLong {
        /// The limit in bytes, terminator included.
        max: usize,
    },
    /// The line is not valid UTF-8.
    #[error("reply line is not valid UTF-8")]
    InvalidUtf8,
    /// The number is not a BKT/1 reply code.
    #[error("unknown reply code")]
    UnknownCode,
    /// The mnemonic does not belong to the code.
    #[error("mnemonic does not match the reply code")]
    WrongMnemonic,
    /// The reason token is not one of PROTOCOL.md's.
    #[error("unknown reason")]
    UnknownReason,
    /// A name in a list reply breaks PROTOCOL.md § Names.
    #[error("bad name in reply: {0}")]
    BadName(NameError),
    /// The line does not follow the reply grammar.
    #[error("malformed reply: {detail}")]
    Syntax {
        /// What was wrong, for people.
        detail: &'static str,
    },
}

/// A reply that cannot be encoded: its code does not fit its variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// [`Reply::Success`] with a code other than 300, 600, 700 or 1000.
    #[error("{0} is not a one-line success code")]
    NotASuccessCode(ReplyCode),
    /// [`Reply::Failure`] with a code that is not a failure code.
    #[error("{0} is not a failure code")]
    NotAFailureCode(ReplyCode),
}

/// A session was asked to send something it cannot send now. A local error:
/// the session is left as it was.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// Server: there is no request waiting for a reply.
    #[error("no request is waiting for a reply")]
    NoRequest,
    /// Server: the reply's code belongs to neither the request's verb nor
    /// `500 BCMD`, or is a `150 NEED` (prompts are the session's own).
    #[error("{code} is not a final reply to {verb}")]
    WrongReply {
        /// The request's verb.
        verb: Verb,
        /// The code given.
        code: ReplyCode,
    },
    /// Server: only a failure may answer an upload before its payload has
    /// arrived.
    #[error("only a failure may answer an upload before its payload ends")]
    PayloadNotReceived,
    /// A payload is still being sent: `remaining` bytes are owed before
    /// anything else.
    #[error("{remaining} payload bytes are still owed")]
    PayloadPending {
        /// Bytes still owed.
        remaining: u64,
    },
    /// No payload is being sent, or more bytes were given than remain.
    #[error("payload bytes given beyond the announced size ({remaining} remain)")]
    PayloadOverrun {
        /// Bytes that remained before the call.
        remaining: u64,
    },
    /// Direct payload bytes were reported while encoded bytes still waited in
    /// the transmit buffer; drain it with `poll_transmit` first.
    #[error("drain poll_transmit before writing payload directly")]
    TransmitPending,
    /// The session is closed.
    #[error("the session is closed")]
    Closed,
    /// The reply cannot be encoded.
    #[error(transparent)]
    Encode(#[from] EncodeError),
}

/// The checks both sessions make, in this order, before counting `n` bytes
/// of a payload as sent: `n == 0` needs none (`Ok(false)`: nothing to
/// count, whether a payload is owed or not); then `Closed` when the session
/// is `closed`; then `TransmitPending` when the bytes were written by the
/// application itself (`direct`) while `queued` encoded bytes still wait
/// to go before them. `Ok(true)`: the caller checks what is still owed.
pub(crate) fn payload_send_checks(
    n: u64,
    direct: bool,
    closed: bool,
    queued: usize,
) -> Result<bool, SendError> {
    if n == 0 {
        return Ok(false);
    }
    if closed {
        return Err(SendError::Closed);
    }
    if direct && queued > 0 {
        return Err(SendError::TransmitPending);
    }
    Ok(true)
}

/// More upload payload bytes were reported read directly
/// ([`ServerSession::payload_received_directly`](crate::ServerSession::payload_received_directly))
/// than the session had room for. A local error: the session is left as it
/// was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{given} payload bytes reported as read directly, but only {room} may be")]
#[non_exhaustive]
pub struct DirectReceiveError {
    /// [`ServerSession::payload_direct_room`](crate::ServerSession::payload_direct_room)
    /// at the time of the call, in bytes.
    pub room: u64,
    /// The `n` given, in bytes.
    pub given: u64,
}

/// The server broke the protocol, or sent more than the session's
/// [`crate::ClientConfig`] allows; the client session is over.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// A reply could not be decoded.
    #[error(transparent)]
    Reply(#[from] ReplyError),
    /// A reply's code belongs to neither the pending request's verb nor
    /// `500 BCMD`, or a `150 NEED` prompt asks for a field the verb does not
    /// require.
    #[error("{code} is not a reply to {verb}")]
    UnexpectedReply {
        /// The verb of the oldest pending request.
        verb: Verb,
        /// The code received.
        code: ReplyCode,
    },
    /// A reply arrived while no request was waiting for one, and it is not
    /// the `500 BCMD BUSY` a full server sends first: the server sent more
    /// replies than requests (PROTOCOL.md § Transport: one reply per
    /// request), so no later reply could be matched to its request.
    #[error("{code} arrived with no request waiting for a reply")]
    UnrequestedReply {
        /// The code received.
        code: ReplyCode,
    },
    /// The connection ended inside a reply (a line, a list or a payload).
    #[error("connection closed inside a reply")]
    UnexpectedEof,
    /// A list reply is larger than the session's
    /// [`crate::ClientConfig::max_list_size`]: refused at its header
    /// when `count` items could not fit, or at the item line that went
    /// over. The rest of the list is not read, so the session is over
    /// (docs/protocol.md, decision 10).
    #[error("a list of {count} items is larger than this client's limit of {limit} bytes")]
    ListTooLarge {
        /// The items the list's header announced.
        count: u64,
        /// The limit, in bytes.
        limit: u64,
    },
}

/// For a connection loop that returns `io::Result`: a [`SendError`] is a
/// mistake of the code driving the session, kind
/// [`std::io::ErrorKind::Other`], with the `SendError` as its source.
impl From<SendError> for std::io::Error {
    fn from(error: SendError) -> Self {
        std::io::Error::other(error)
    }
}

/// For a connection loop that returns `io::Result`: a [`ClientError`] is the
/// server breaking BKT/1 or the session's limits, kind
/// [`std::io::ErrorKind::InvalidData`], with the `ClientError` as its source.
impl From<ClientError> for std::io::Error {
    fn from(error: ClientError) -> Self {
        std::io::Error::new(std::io::ErrorKind::InvalidData, error)
    }
}

/// For a loop that returns `io::Result`: kind
/// [`std::io::ErrorKind::InvalidInput`] (more bytes reported than there was
/// room for), with the error as its source.
impl From<DirectReceiveError> for std::io::Error {
    fn from(error: DirectReceiveError) -> Self {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, error)
    }
}

/// For a loop that returns `io::Result`: kind
/// [`std::io::ErrorKind::InvalidInput`] (a reply that cannot be encoded), with
/// the error as its source.
impl From<EncodeError> for std::io::Error {
    fn from(error: EncodeError) -> Self {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, error)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::io;

    use super::*;

    /// The io::Error conversions keep the error itself as the source, under
    /// the kind their docs give.
    #[test]
    fn session_errors_become_io_errors_of_their_kind() {
        let cases: [(io::Error, io::ErrorKind, String); 4] = [
            (
                SendError::NoRequest.into(),
                io::ErrorKind::Other,
                SendError::NoRequest.to_string(),
            ),
            (
                ClientError::UnexpectedEof.into(),
                io::ErrorKind::InvalidData,
                ClientError::UnexpectedEof.to_string(),
            ),
            (
                EncodeError::NotASuccessCode(ReplyCode::Ok).into(),
                io::ErrorKind::InvalidInput,
                EncodeError::NotASuccessCode(ReplyCode::Ok).to_string(),
            ),
            (
                DirectReceiveError { given: 2, room: 1 }.into(),
                io::ErrorKind::InvalidInput,
                DirectReceiveError { given: 2, room: 1 }.to_string(),
            ),
        ];
        for (error, kind, text) in cases {
            assert_eq!(error.kind(), kind, "{error}");
            assert_eq!(error.to_string(), text);
            assert!(error.get_ref().is_some(), "{error} keeps its source");
        }
        let error: io::Error = ClientError::UnexpectedEof.into();
        assert_eq!(
            error
                .into_inner()
                .unwrap()
                .downcast::<ClientError>()
                .ok()
                .map(|e| *e),
            Some(ClientError::UnexpectedEof)
        );
    }
}
