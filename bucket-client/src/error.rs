//! The client's error type, [`Error`], and the [`Result`] alias.

use std::io;

use bucket_proto::{NameError, Reason, ReplyCode, SendError, Verb};

/// Everything a [`crate::Client`] operation can fail with.
///
/// Some errors leave the connection unusable ([`Error::breaks_connection`]):
/// the client then closes it, and every later operation on it returns
/// [`Error::Closed`]; connect again to go on. A [`Error::Refused`] reply
/// usually does not: the server answered, the connection is in step.
///
/// The variants that wrap another error ([`Error::Io`], [`Error::Local`],
/// [`Error::Protocol`], [`Error::BadName`], [`Error::Session`]) print its
/// message in their own `Display` (`network: Connection refused (os error
/// 111)`) and do not also return it from [`std::error::Error::source`], so
/// that a reporter walking the chain (anyhow's `{:#}`, tracing) prints it
/// once; match the variant to reach the inner error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading from or writing to the server's socket failed (connection
    /// refused or reset, time-out, …).
    #[error("network: {0}")]
    Io(io::Error),

    /// Reading the upload's source or writing the download's destination
    /// failed (the `reader` / `writer` handed to the operation).
    #[error("local I/O: {0}")]
    Local(io::Error),

    /// The upload's source ended after `got` of the announced `expected`
    /// bytes. The payload cannot be completed, so the connection is closed.
    #[error("upload source ended after {got} of {expected} bytes")]
    SourceTooShort {
        /// The announced upload size, in bytes.
        expected: u64,
        /// Bytes the source gave before it ended.
        got: u64,
    },

    /// The connection ended inside a download's payload, after `got` of the
    /// `expected` bytes the `900 FDBS` header announced (the server stopped,
    /// crashed or was cut off). The writer got those `got` bytes; the
    /// connection is closed.
    #[error("connection closed after {got} of the download's {expected} bytes")]
    DownloadCut {
        /// The file's size, in bytes, from the `900 FDBS` header.
        expected: u64,
        /// Bytes received and written before the end.
        got: u64,
    },

    /// The server broke BKT/1: a malformed reply, a reply with no request
    /// waiting, or the end of input inside a reply (but see
    /// [`Error::DownloadCut`] for a download's payload). A well-formed reply that
    /// does not fit the request is [`Error::UnexpectedReply`] instead, never
    /// `Protocol(ClientError::UnexpectedReply)`.
    #[error("protocol error: {0}")]
    Protocol(bucket_proto::ClientError),

    /// The server refused the request with a failure reply: the reply's code
    /// (the verb's `x01` code or `500 BCMD`), its machine-readable reason and
    /// its free text (empty when the server sent none). Displays as the reply
    /// reads, with a colon before the text: `701 FUBF NO_SUCH_BUCKET: no such
    /// bucket` (on the wire, `701 FUBF NO_SUCH_BUCKET no such bucket`).
    #[error("{code} {reason}{}", if text.is_empty() { String::new() } else { format!(": {text}") })]
    Refused {
        /// The failure code, e.g. [`ReplyCode::FileUploadFailed`] (`701 FUBF`).
        code: ReplyCode,
        /// The reason token, e.g. [`Reason::NoSuchBucket`].
        reason: Reason,
        /// The server's explanation for people; may be empty.
        text: String,
    },

    /// The connection was ended by [`Interrupter::interrupt`](crate::Interrupter::interrupt)
    /// while this call ran or before it began; it is closed now.
    #[error("interrupted")]
    Interrupted,

    /// The connection is closed: the server closed it, or an earlier error
    /// broke it (see [`Error::breaks_connection`]).
    #[error("connection closed")]
    Closed,

    /// A bucket or file name breaks the rules of PROTOCOL.md § Names (checked
    /// locally, before anything is sent).
    #[error("bad name: {0}")]
    BadName(NameError),

    /// A timeout of zero was given to [`Client::set_timeout`](crate::Client::set_timeout)
    /// or [`Client::connect_timeout`](crate::Client::connect_timeout); the
    /// sockets cannot wait for no time (use `None` for no limit). Checked
    /// before the socket is touched: the setting is left as it was.
    #[error("a timeout must be longer than zero (None means no limit)")]
    ZeroTimeout,

    /// The server sent a well-formed reply this client does not expect here:
    /// a code that answers another verb, or a `150 NEED` prompt to a request
    /// that carried every argument (whether the session or this client
    /// noticed it).
    #[error("unexpected reply {code} to {verb}")]
    UnexpectedReply {
        /// The verb of the request being answered.
        verb: Verb,
        /// The code of the reply received.
        code: ReplyCode,
    },

    /// A list reply (`LIST_B`, `LIST_F`, `HELP`, `CODES`) was larger than
    /// this client keeps ([`Client::set_max_list_size`](crate::Client::set_max_list_size);
    /// docs/protocol.md, decision 10). The rest of the list was not read, so
    /// the connection is closed.
    #[error(
        "the server's list of {count} items is larger than this client's limit of {limit} bytes"
    )]
    ListTooLarge {
        /// The items the list's header announced.
        count: u64,
        /// The limit, in bytes.
        limit: u64,
    },

    /// The protocol session refused a call: a bug in this crate, reported
    /// rather than panicking.
    #[error("internal error: {0}")]
    Session(SendError),
}

impl Error {
    /// Whether the connection is unusable after this error. `false` only for
    /// refusals the server answers and stays connected for, and for bad
    /// names caught before sending. A refusal with reason `TOO_LARGE` or
    /// `BUSY` breaks it: the server closes the connection after those.
    ///
    /// This judges by the error alone. One refusal breaks the connection
    /// whatever its reason: one that arrives while an upload's payload is
    /// still being sent. PROTOCOL.md lets a server answer early only with
    /// `TOO_LARGE`; from a server that answers early with another reason, the
    /// client cannot tell whether the rest of the payload would be read, so
    /// it stops and closes. [`Client::is_open`](crate::Client::is_open)
    /// tells in every case.
    pub fn breaks_connection(&self) -> bool {
        match self {
            Error::Refused { reason, .. } => matches!(reason, Reason::TooLarge | Reason::Busy),
            Error::BadName(_) | Error::ZeroTimeout => false,
            _ => true,
        }
    }

    /// The failure reply's code, for [`Error::Refused`].
    pub fn code(&self) -> Option<ReplyCode> {
        match self {
            Error::Refused { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// The failure reply's reason, for [`Error::Refused`].
    pub fn reason(&self) -> Option<Reason> {
        match self {
            Error::Refused { reason, .. } => Some(*reason),
            _ => None,
        }
    }
}

impl From<bucket_proto::ClientError> for Error {
    /// A reply that does not fit its request becomes
    /// [`Error::UnexpectedReply`], so that one variant covers it; the rest
    /// are [`Error::Protocol`].
    fn from(error: bucket_proto::ClientError) -> Self {
        match error {
            bucket_proto::ClientError::UnexpectedReply { verb, code } => {
                Error::UnexpectedReply { verb, code }
            }
            bucket_proto::ClientError::ListTooLarge { count, limit } => {
                Error::ListTooLarge { count, limit }
            }
            other => Error::Protocol(other),
        }
    }
}

impl From<NameError> for Error {
    fn from(error: NameError) -> Self {
        Error::BadName(error)
    }
}

impl From<SendError> for Error {
    fn from(error: SendError) -> Self {
        match error {
            SendError::Closed => Error::Closed,
            other => Error::Session(other),
        }
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
