//! One-shot decoders for a buffer that holds the start of a message.
//!
//! In httparse's manner, running out of input is a normal outcome,
//! [`Decoded::Incomplete`], not an error: read more and call again with the
//! longer buffer. Results borrow from the input where they can.
//!
//! The sessions ([`crate::server`], [`crate::client`]) use the same grammar
//! incrementally and add what a connection needs (dialogues, payloads,
//! resynchronisation); use these functions to decode single messages.

use crate::error::{ReplyError, RequestError};
use crate::framing::{Frame, LineFramer, MAX_LINE_LEN, MAX_REPLY_LINE_LEN};
use crate::parse::{self, ListBody, ReplyHead};
use crate::reply::Reply;
use crate::request::Request;

/// The outcome of decoding from the front of a buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded<T> {
    /// A whole message: `value`, which took the first `consumed` bytes.
    Complete {
        /// The decoded message.
        value: T,
        /// How many bytes of the input it took, line terminators included.
        consumed: usize,
    },
    /// The buffer ends before the message does.
    Incomplete,
}

/// Decodes one complete request line from the front of `input`.
///
/// `input` is bytes as received: a request line ending in LF (CR LF also
/// works), possibly followed by more data. For `UPLOAD`, `consumed` covers
/// the line only; the `size` payload bytes follow it.
///
/// # Errors
/// [`RequestError`] when the line is over 4096 bytes, is not UTF-8, breaks
/// the grammar, names an unknown verb, has too many arguments, a bad size or
/// a bad name, or lacks a required argument
/// ([`RequestError::MissingArgument`]: a server session would open a
/// dialogue there). A blank line is `Syntax`.
///
/// An error does not say how many bytes the bad line took: to go on, drop
/// the input up to and including its next LF, waiting for that LF when it
/// has not arrived yet (a line over 4096 bytes is dropped to its end, as
/// PROTOCOL.md § Transport answers `LINE_TOO_LONG` once and reads on).
/// [`crate::ServerSession`] does this, and the rest below, for you.
///
/// An error on a line that starts with `UPLOAD` still has that upload's
/// payload behind it, which must not be read as requests. This function
/// does not say how long it is; [`crate::ServerSession`] works it out and
/// skips it, or closes the connection when it cannot (docs/protocol.md,
/// decision 3). A server built on this function alone should close the
/// connection after answering such a line.
///
/// Common lines (bare ASCII arguments, every required one present) take a
/// hand-written fast path; the result is always the grammar's, which
/// `request_reference` computes alone.
pub fn request(input: &[u8]) -> Result<Decoded<Request<'_>>, RequestError> {
    // The common shape of a request line, framed and scanned in one pass
    // without the grammar; anything else (errors included) is framed and
    // goes through nom, the reference.
    if let Some((scanned, consumed)) = crate::scan::request_line(input) {
        return Ok(Decoded::Complete {
            value: scanned,
            consumed,
        });
    }
    request_reference(input)
}

/// [`request`] by the nom grammar alone, without the fast path: for
/// differential tests and fuzzing, which check that both give the same
/// result for every input. Not part of the stable API.
///
/// Same input, output and errors as [`request`].
#[doc(hidden)]
pub fn request_reference(input: &[u8]) -> Result<Decoded<Request<'_>>, RequestError> {
    let Some((content_end, consumed)) = request_frame(input)? else {
        return Ok(Decoded::Incomplete);
    };
    let value = request_grammar(&input[..content_end])?;
    Ok(Decoded::Complete { value, consumed })
}

/// Frames the request line at the front of `input`: `(content_end,
/// consumed)` (content without CR LF, bytes to drop), or `None` when no LF
/// has arrived yet.
fn request_frame(input: &[u8]) -> Result<Option<(usize, usize)>, RequestError> {
    match LineFramer::new(MAX_LINE_LEN).next(input) {
        Frame::Line {
            content_end,
            consumed,
        } => Ok(Some((content_end, consumed))),
        Frame::TooLong { .. } | Frame::Discarded { .. } => {
            Err(RequestError::LineTooLong { max: MAX_LINE_LEN })
        }
        Frame::Incomplete => Ok(None),
    }
}

/// One request line's content through the nom grammar (PROTOCOL.md §
/// Requests): UTF-8, `parse::command`, the required arguments, then
/// `parse::build`.
fn request_grammar(line: &[u8]) -> Result<Request<'_>, RequestError> {
    let line = std::str::from_utf8(line).map_err(|_| RequestError::InvalidUtf8)?;
    let cmd = parse::command(line)?.ok_or(RequestError::Syntax {
        detail: "blank line",
    })?;
    if let Some(&field) = cmd.verb.required().get(cmd.args.len()) {
        return Err(RequestError::MissingArgument {
            verb: cmd.verb,
            field,
        });
    }
    parse::build(cmd.verb, cmd.args.into_values())
}

/// Decodes one complete reply from the front of `input`: its line and, for
/// lists (210, 220, 400, 800), every item line.
///
/// For `900 FDBS`, `consumed` covers the header line only; the `size` payload
/// bytes follow it. List items are owned; other replies borrow their text
/// from `input`.
///
/// # Errors
/// [`ReplyError`] when a line is over 8192 bytes, not UTF-8, has an unknown
/// code, a mnemonic that does not match, an unknown reason, a bad name in a
/// list, or otherwise breaks the reply grammar.
pub fn reply(input: &[u8]) -> Result<Decoded<Reply<'_>>, ReplyError> {
    let mut framer = LineFramer::new(MAX_REPLY_LINE_LEN);
    let mut next_line = |from: usize| -> Result<Option<(&str, usize)>, ReplyError> {
        match framer.next(&input[from..]) {
            Frame::Line {
                content_end,
                consumed,
            } => {
                let text = std::str::from_utf8(&input[from..from + content_end])
                    .map_err(|_| ReplyError::InvalidUtf8)?;
                Ok(Some((text, from + consumed)))
            }
            Frame::TooLong { .. } | Frame::Discarded { .. } => Err(ReplyError::LineTooLong {
                max: MAX_REPLY_LINE_LEN,
            }),
            Frame::Incomplete => Ok(None),
        }
    };
    let Some((head, mut at)) = next_line(0)? else {
        return Ok(Decoded::Incomplete);
    };
    let (code, count) = match parse::reply_head(head)? {
        ReplyHead::Complete(value) => {
            return Ok(Decoded::Complete {
                value,
                consumed: at,
            });
        }
        ReplyHead::List { code, count } => (code, count),
    };
    let mut body = ListBody::new(code, count);
    for _ in 0..count {
        let Some((item, next)) = next_line(at)? else {
            return Ok(Decoded::Incomplete);
        };
        body.push(item)?;
        at = next;
    }
    Ok(Decoded::Complete {
        value: body.into_reply(),
        consumed: at,
    })
}
