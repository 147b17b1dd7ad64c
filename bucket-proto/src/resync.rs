//! Where the payload of a refused `UPLOAD` line ends, read leniently from a
//! line the grammar ([`crate::parse`]) did not accept.
//!
//! A client sends an upload's payload right after the line that completes
//! `UPLOAD`'s arguments, without waiting for a reply (PROTOCOL.md § Upload
//! payload). When that line breaks the grammar (a `\` or a control
//! character in a bare name, invalid UTF-8, a bad escape), the payload is
//! still on its way, and reading it as requests would run whatever it holds
//! (a file of `DELETE_F` lines, say). So the server looks at the line once
//! more, leniently, for its shape alone:
//!
//! - the first token is not a spelling of `UPLOAD` (and no `UPLOAD` dialogue
//!   is open): no payload follows ([`PayloadAfter::None`]);
//! - the line (with a dialogue's earlier answers) carries fewer than three
//!   arguments: the client waits for a `150 NEED` before sending more, so no
//!   payload follows yet ([`PayloadAfter::None`]);
//! - exactly three arguments, and the last is a valid size: that many bytes
//!   follow ([`PayloadAfter::Bytes`]), and the server skips them before it
//!   replies, as for a bad name;
//! - anything else (more than three arguments, a bad size, an unterminated
//!   quote): nobody can tell where the payload ends
//!   ([`PayloadAfter::Unknown`]), so the server replies and closes the
//!   connection, as HTTP/1.1 does for an invalid `Content-Length` (RFC 9112
//!   § 6.3).
//!
//! A line over the limit (PROTOCOL.md § Transport) is never read whole, so
//! [`payload_after_too_long`] judges it by its first [`MAX_LINE_LEN`]
//! bytes: a valid `UPLOAD` line can be that long (the grammar takes any
//! number of separators, and a size any number of leading zeros), and its
//! size is past what the server kept, so its payload is `Unknown`.
//!
//! docs/protocol.md, decision 3, records the rule.

use crate::framing::MAX_LINE_LEN;
use crate::parse;
use crate::request::{MAX_VERB_LEN, Verb};
use crate::scan::is_sep;

/// What follows a refused request line, as far as its shape tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PayloadAfter {
    /// No payload: not an `UPLOAD` line, or one still short of arguments.
    None,
    /// An `UPLOAD` payload of this many bytes.
    Bytes(u64),
    /// An `UPLOAD` line whose payload length cannot be told.
    Unknown,
}

/// Splits `line` (the content of a line, without CR LF) into tokens by the
/// grammar's separators, with quoted tokens taken whole (a `\` escapes the
/// next byte). Any byte but a separator belongs to a bare token, whatever
/// the grammar says of it. Calls `each` with every token as written (quotes
/// included). `None` when the shape is unclear: an unterminated quote, or a
/// closing quote not followed by a separator or the end.
fn tokens<'a>(line: &'a [u8], mut each: impl FnMut(&'a [u8])) -> Option<()> {
    let mut i = 0;
    while i < line.len() {
        if is_sep(line[i]) {
            i += 1;
            continue;
        }
        let start = i;
        if line[i] == b'"' {
            i += 1;
            loop {
                match line.get(i)? {
                    b'\\' => i += 2,
                    b'"' => break,
                    _ => i += 1,
                }
            }
            i += 1; // the closing quote
            if line.get(i).is_some_and(|&b| !is_sep(b)) {
                return None;
            }
        } else {
            while i < line.len() && !is_sep(line[i]) {
                i += 1;
            }
        }
        each(&line[start..i]);
    }
    Some(())
}

/// What follows `line`, a request line the grammar refused.
///
/// `dialogue` is `Some((verb, collected))` when `line` answers a `150 NEED`
/// prompt of a `verb` dialogue that has `collected` arguments so far, and
/// `None` for a request line. `line` is the line's content without CR LF,
/// as received (it need not be UTF-8).
pub(crate) fn payload_after(line: &[u8], dialogue: Option<(Verb, usize)>) -> PayloadAfter {
    let mut verb = dialogue.map(|(verb, _)| verb);
    // A fresh line's first token is its verb.
    let mut verb_next = dialogue.is_none();
    let mut count = 0usize;
    let mut last: &[u8] = &[];
    let shape = tokens(line, |token| {
        if verb_next {
            verb_next = false;
            verb = Verb::from_bytes(token);
        } else {
            count += 1;
            last = token;
        }
    });
    if verb != Some(Verb::Upload) {
        return PayloadAfter::None;
    }
    let collected = dialogue.map_or(0, |(_, collected)| collected);
    let Some(()) = shape else {
        return PayloadAfter::Unknown;
    };
    match (collected + count).cmp(&3) {
        std::cmp::Ordering::Less => PayloadAfter::None,
        std::cmp::Ordering::Greater => PayloadAfter::Unknown,
        std::cmp::Ordering::Equal => {
            // A size may be quoted (`"5"`); one with an escape is no size.
            let unquoted = last
                .strip_prefix(b"\"")
                .and_then(|t| t.strip_suffix(b"\""))
                .unwrap_or(last);
            std::str::from_utf8(unquoted)
                .ok()
                .and_then(parse::size)
                .map_or(PayloadAfter::Unknown, PayloadAfter::Bytes)
        }
    }
}

/// What follows a line over [`MAX_LINE_LEN`] bytes, which the server
/// answers `500 BCMD LINE_TOO_LONG` and drops up to its LF (PROTOCOL.md §
/// Transport), judged from `start`: the line's first `MAX_LINE_LEN` bytes
/// (fewer only if the caller has fewer). `dialogue` is the verb of the
/// `150 NEED` prompt the line answers, `None` for a request line.
///
/// [`PayloadAfter::Unknown`] when the line may be an `UPLOAD` that
/// completes its arguments, since its size, if any, is past `start`: an
/// answer in an `UPLOAD` dialogue; a line whose first token (the verb,
/// found as [`payload_after`] finds it) is a spelling of `UPLOAD`; a line
/// whose first token may still become one (`start` holds only separators,
/// or the token runs to the end of `start` within [`MAX_VERB_LEN`] bytes).
/// Otherwise [`PayloadAfter::None`]: the connection stays usable, as
/// PROTOCOL.md § Transport says. Never [`PayloadAfter::Bytes`].
pub(crate) fn payload_after_too_long(start: &[u8], dialogue: Option<Verb>) -> PayloadAfter {
    let start = &start[..start.len().min(MAX_LINE_LEN)];
    let upload = match dialogue {
        Some(verb) => verb == Verb::Upload,
        None => match start.iter().position(|&b| !is_sep(b)) {
            None => true,
            Some(from) => {
                let token = &start[from..];
                match token.iter().position(|&b| is_sep(b)) {
                    Some(len) => Verb::from_bytes(&token[..len]) == Some(Verb::Upload),
                    // Cut by the end of `start`: the rest may spell UPLOAD.
                    None => token.len() <= MAX_VERB_LEN,
                }
            }
        },
    };
    if upload {
        PayloadAfter::Unknown
    } else {
        PayloadAfter::None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first `MAX_LINE_LEN` bytes of `head` padded with `pad`, then
    /// `tail`: what the server sees of an over-long line.
    fn too_long(head: &[u8], pad: u8, tail: &[u8]) -> Vec<u8> {
        let mut line = head.to_vec();
        line.resize(MAX_LINE_LEN + 100 - tail.len(), pad);
        line.extend_from_slice(tail);
        line.truncate(MAX_LINE_LEN);
        line
    }

    /// Each of `starts`, as a request line, gives `want`.
    fn each_too_long(starts: &[Vec<u8>], want: PayloadAfter) {
        for start in starts {
            let shown = String::from_utf8_lossy(&start[..24]);
            let end = String::from_utf8_lossy(&start[MAX_LINE_LEN - 24..]);
            let got = payload_after_too_long(start, None);
            assert_eq!(got, want, "{shown:?}…{end:?}");
        }
    }

    #[test]
    fn an_over_long_upload_line_has_a_payload_that_cannot_be_told() {
        let starts = [
            too_long(b"UPLOAD", b' ', b"photos f 16"),
            too_long(b"\tupload_file,photos f ", b'0', b"16"),
            too_long(b"UPLOAD photos ", b'x', b" 16"),
            too_long(b"", b' ', b"UPLOAD photos f 16"),
            too_long(b"", b',', b""),
            // The verb cut by the end of what was kept.
            too_long(&[b','; MAX_LINE_LEN - 3], b'U', b""),
            too_long(&[b' '; MAX_LINE_LEN - MAX_VERB_LEN], b'U', b""),
        ];
        each_too_long(&starts, PayloadAfter::Unknown);
        // In an UPLOAD dialogue, any answer may complete the arguments.
        let upload = Some(Verb::Upload);
        for answer in [too_long(b"photos", b' ', b"f 16"), too_long(b"", b'x', b"")] {
            let got = payload_after_too_long(&answer, upload);
            assert_eq!(got, PayloadAfter::Unknown);
        }
    }

    #[test]
    fn other_over_long_lines_carry_no_payload() {
        let starts = [
            too_long(b"LIST_F", b' ', b"photos"),
            too_long(b"", b'x', b""),
            too_long(b"UPLOADX", b' ', b"photos f 16"),
            too_long(b"\"UPLOAD\"", b' ', b"photos f 16"),
            // A first token cut by the end, too long for a verb already.
            too_long(&[b' '; MAX_LINE_LEN - MAX_VERB_LEN - 1], b'U', b""),
            too_long(b"DELETE_F photos ", b'x', b""),
        ];
        each_too_long(&starts, PayloadAfter::None);
        let answer = too_long(b"photos", b' ', b"f 16");
        let got = payload_after_too_long(&answer, Some(Verb::DeleteFile));
        assert_eq!(got, PayloadAfter::None);
    }

    fn fresh(line: &[u8]) -> PayloadAfter {
        payload_after(line, None)
    }

    #[test]
    fn lines_that_are_not_uploads_carry_no_payload() {
        for line in [
            &b"CREATE_B a\\b"[..],
            b"DOWNLOAD b \xff",
            b"UPLOADX b f 5",
            b"\"UPLOAD\" b f 5",
            b"HELP \"unterminated",
            b"",
        ] {
            assert_eq!(fresh(line), PayloadAfter::None, "{line:?}");
        }
        let in_dialogue = payload_after(b"a\\b 5", Some((Verb::CreateBucket, 0)));
        assert_eq!(in_dialogue, PayloadAfter::None);
    }

    #[test]
    fn an_upload_with_three_arguments_and_a_good_size_is_skipped() {
        for (line, size) in [
            (&b"UPLOAD photos a\\b 18"[..], 18),
            (b"upload_file photos \"t\tab\" 0", 0),
            (b" ,UPLOAD,photos,caf\xe9.txt,\t007, ", 7),
            (b"UPLOAD photos it\"s 3", 3),
            (b"UPLOAD photos \"a\\qb\" 18446744073709551615", u64::MAX),
            (b"UPLOAD \x01 \x7f 5", 5),
            (b"UPLOAD photos a\\b \"5\"", 5),
        ] {
            assert_eq!(fresh(line), PayloadAfter::Bytes(size), "{line:?}");
        }
    }

    #[test]
    fn an_upload_whose_payload_cannot_be_told_is_unknown() {
        for line in [
            &b"UPLOAD photos f 18 extra"[..],
            b"UPLOAD photos f 12x",
            b"UPLOAD photos f -1",
            b"UPLOAD photos f 18446744073709551616",
            b"UPLOAD photos \"f 18",
            b"UPLOAD photos \"f\"x 18",
            b"UPLOAD photos f \"18\\",
            b"UPLOAD photos f \xff",
            b"UPLOAD photos a\\b \"5\\\"\"",
        ] {
            assert_eq!(fresh(line), PayloadAfter::Unknown, "{line:?}");
        }
    }

    #[test]
    fn an_upload_short_of_arguments_carries_no_payload_yet() {
        for line in [&b"UPLOAD a\\b"[..], b"UPLOAD photos \x01", b"UPLOAD"] {
            assert_eq!(fresh(line), PayloadAfter::None, "{line:?}");
        }
    }

    #[test]
    fn dialogue_answers_count_the_arguments_collected_before() {
        let upload = |collected| Some((Verb::Upload, collected));
        assert_eq!(payload_after(b"a\\b 9", upload(1)), PayloadAfter::Bytes(9));
        assert_eq!(payload_after(b"9", upload(2)), PayloadAfter::Bytes(9));
        assert_eq!(payload_after(b"a\\b", upload(0)), PayloadAfter::None);
        assert_eq!(payload_after(b"f 9 x", upload(1)), PayloadAfter::Unknown);
        assert_eq!(payload_after(b"nine", upload(2)), PayloadAfter::Unknown);
        assert_eq!(payload_after(b"\"f", upload(1)), PayloadAfter::Unknown);
    }
}
