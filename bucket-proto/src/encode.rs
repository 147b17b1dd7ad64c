//! Encoders: requests and replies into a caller's buffer.
//!
//! Every function appends to `out` and never clears it, so a caller can batch
//! many messages into one write. Lines end with a bare LF. Names are written
//! bare when they can be and quoted otherwise (PROTOCOL.md § Replies, "Names
//! in replies are written as bare args when they can be, else quoted").
//! What these functions write, [`crate::decode`] parses back to an equal
//! value, with one kind of exception: free text is written as the wire can
//! carry it, so a reply whose text has control characters, is longer than
//! [`MAX_TEXT_LEN`] bytes or is `Some("")` decodes with the text cleaned,
//! cut, or `None` ([`reply`]).

use crate::codes::ReplyCode;
use crate::error::EncodeError;
use crate::reply::{PROTOCOL_VERSION, Reply, clean_text};
use crate::request::Request;

/// Appends `request`'s line (verb and arguments, LF-terminated) to `out`.
///
/// For `UPLOAD` only the line is written: the caller sends the `size` payload
/// bytes right after it.
pub fn request(request: &Request<'_>, out: &mut Vec<u8>) {
    out.extend_from_slice(request.verb().as_str().as_bytes());
    let mut put = |value: &str| {
        out.push(b' ');
        arg(value, out);
    };
    match request {
        Request::Hello | Request::Codes | Request::Quit | Request::ListBuckets => {}
        Request::Help { topic } => {
            if let Some(t) = topic {
                put(t.as_str());
            }
        }
        Request::CreateBucket { bucket } | Request::DeleteBucket { bucket } => put(bucket),
        Request::ListFiles { bucket } => {
            if let Some(b) = bucket {
                put(b);
            }
        }
        Request::Download { bucket, name } | Request::DeleteFile { bucket, name } => {
            put(bucket);
            put(name);
        }
        Request::Upload { bucket, name, size } => {
            put(bucket);
            put(name);
            out.push(b' ');
            push_u64(*size, out);
        }
    }
    out.push(b'\n');
}

/// Appends `reply` to `out`: its line, and for lists every item line. For
/// `900 FDBS` only the header is written; the caller sends `size` payload
/// bytes right after it.
///
/// Free text has every control character (C0, DEL and C1) replaced by a
/// space, so no text can end a line early or act on a terminal that shows
/// it, and is cut to [`MAX_TEXT_LEN`] bytes, so no line exceeds what a
/// client accepts. Empty text is not written (`Some("")` reads back as
/// `None`).
///
/// # Errors
/// [`EncodeError`] when a [`Reply::Success`] or [`Reply::Failure`] carries a
/// code of the wrong kind; nothing is appended then.
pub fn reply(reply: &Reply<'_>, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    match reply {
        Reply::Success { code, .. } if !code.is_one_line_success() => {
            return Err(EncodeError::NotASuccessCode(*code));
        }
        Reply::Failure { code, .. } if !code.is_failure() => {
            return Err(EncodeError::NotAFailureCode(*code));
        }
        _ => {}
    }
    line(reply, out);
    items(reply, out);
    Ok(())
}

/// Appends the reply's first line (for a list, its header with the count),
/// LF included, whatever the code's kind: [`reply`] checks that first.
pub(crate) fn line(reply: &Reply<'_>, out: &mut Vec<u8>) {
    head(reply.code(), out);
    match reply {
        Reply::Hello { server } => {
            out.push(b' ');
            out.extend_from_slice(PROTOCOL_VERSION.as_bytes());
            if !server.is_empty() {
                out.push(b' ');
                text(server, out);
            }
        }
        Reply::Need { field } => {
            out.push(b' ');
            out.extend_from_slice(field.as_str().as_bytes());
        }
        Reply::Bye => {}
        Reply::Success { text: t, .. } => opt_text(t.as_deref(), out),
        Reply::Failure {
            reason, text: t, ..
        } => {
            out.push(b' ');
            out.extend_from_slice(reason.as_str().as_bytes());
            opt_text(t.as_deref(), out);
        }
        Reply::Help { lines } | Reply::Codes { lines } => count(lines.len(), out),
        Reply::Buckets { buckets } => count(buckets.len(), out),
        Reply::Files { files } => count(files.len(), out),
        Reply::Download { size } => {
            out.push(b' ');
            push_u64(*size, out);
        }
    }
    out.push(b'\n');
}

/// Writes to `f` the one line `encode` appends to an empty buffer, without
/// its LF: what `Display` shows of a request or a reply.
pub(crate) fn fmt_line(
    f: &mut std::fmt::Formatter<'_>,
    encode: impl FnOnce(&mut Vec<u8>),
) -> std::fmt::Result {
    let mut line = Vec::new();
    encode(&mut line);
    line.pop(); // the LF
    f.write_str(&String::from_utf8_lossy(&line))
}

/// Appends a list reply's item lines; nothing for other replies.
fn items(reply: &Reply<'_>, out: &mut Vec<u8>) {
    match reply {
        Reply::Help { lines } | Reply::Codes { lines } => {
            for line in lines {
                text(line, out);
                out.push(b'\n');
            }
        }
        Reply::Buckets { buckets } => {
            for b in buckets {
                arg(b, out);
                out.push(b'\n');
            }
        }
        Reply::Files { files } => {
            for f in files {
                arg(&f.bucket, out);
                out.push(b' ');
                arg(&f.name, out);
                out.push(b' ');
                push_u64(f.size, out);
                out.push(b'\n');
            }
        }
        _ => {}
    }
}

/// Appends one argument: bare when every character may stand bare and it is
/// not empty, else quoted with `"` and `\` escaped (PROTOCOL.md § Requests,
/// `arg = bare / quoted`). For writing a dialogue's answer line, or a
/// request by hand.
///
/// The grammar cannot carry a C0 control character (U+0000–U+001F), bare
/// or quoted, so each one in `value` is written as a space, and that value
/// does not decode back equal. No valid name holds one (PROTOCOL.md §
/// Names); check a name with [`crate::BucketName::new`] or
/// [`crate::FileName::new`] first to refuse it instead.
pub fn arg(value: &str, out: &mut Vec<u8>) {
    let bare = !value.is_empty()
        && value
            .bytes()
            .all(|b| !matches!(b, b' ' | b'\t' | b',' | b'"' | b'\\') && !b.is_ascii_control());
    if bare {
        out.extend_from_slice(value.as_bytes());
        return;
    }
    out.push(b'"');
    for &b in value.as_bytes() {
        match b {
            b'"' | b'\\' => out.extend_from_slice(&[b'\\', b]),
            // The grammar has no escape for C0 controls; names never hold one.
            b if b.is_ascii_control() && b != 0x7f => out.push(b' '),
            b => out.push(b),
        }
    }
    out.push(b'"');
}

fn head(code: ReplyCode, out: &mut Vec<u8>) {
    push_u64(u64::from(code.number()), out);
    out.push(b' ');
    out.extend_from_slice(code.mnemonic().as_bytes());
}

fn count(n: usize, out: &mut Vec<u8>) {
    out.push(b' ');
    push_u64(n as u64, out);
}

fn opt_text(t: Option<&str>, out: &mut Vec<u8>) {
    if let Some(t) = t.filter(|t| !t.is_empty()) {
        out.push(b' ');
        text(t, out);
    }
}

/// Most bytes of free text written in one reply line: with the longest
/// line head (`1001 DFF LINE_TOO_LONG `) the line stays far below
/// [`crate::MAX_REPLY_LINE_LEN`], so every line the encoder writes decodes.
pub const MAX_TEXT_LEN: usize = 4096;

/// Free text with control characters replaced by spaces ([`clean_text`]),
/// cut at a character boundary to [`MAX_TEXT_LEN`] bytes.
fn text(t: &str, out: &mut Vec<u8>) {
    let mut end = t.len().min(MAX_TEXT_LEN);
    while !t.is_char_boundary(end) {
        end -= 1;
    }
    out.extend_from_slice(clean_text(&t[..end]).as_bytes());
}

/// Decimal digits of `n`, without allocating.
pub(crate) fn push_u64(mut n: u64, out: &mut Vec<u8>) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::{Reason, decode};

    #[test]
    fn free_text_loses_every_control_character_c1_included() {
        let mut out = Vec::new();
        let reply = Reply::failure(
            crate::Verb::Download,
            Reason::Io,
            "a\u{9b}31mX\u{85}\t\u{7f}é\u{a0}\u{c2}",
        );
        super::reply(&reply, &mut out).unwrap();
        // CSI and NEL (C1), HTAB and DEL become spaces; é, the no-break
        // space (0xC2 0xA0) and Â (0xC3 0x82) stay.
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "901 FDBF IO a 31mX   é\u{a0}\u{c2}\n"
        );
    }

    /// Regression: text longer than a client's line limit used to be
    /// written whole, and the reply then failed to decode.
    #[test]
    fn long_text_is_cut_so_every_line_decodes() {
        let long = "é".repeat(10_000); // 20,000 bytes, 2-byte characters
        let failure = Reply::Failure {
            code: ReplyCode::BadCommand,
            reason: Reason::Syntax,
            text: Some(long.as_str().into()),
        };
        let help = Reply::Help {
            lines: vec![long.as_str().into(), "short".into()],
        };
        let hello = Reply::Hello {
            server: long.as_str().into(),
        };
        for r in [failure, help, hello] {
            let mut out = Vec::new();
            reply(&r, &mut out).unwrap();
            assert!(
                out.split(|&b| b == b'\n')
                    .all(|l| l.len() < crate::MAX_REPLY_LINE_LEN)
            );
            let Ok(decode::Decoded::Complete { consumed, .. }) = decode::reply(&out) else {
                panic!("{:?} did not decode", r.code());
            };
            assert_eq!(consumed, out.len());
        }
    }
}
