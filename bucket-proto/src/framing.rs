//! Framing: splits a byte stream into lines before the grammar runs
//! (imap-codec's fragmentizer, in spirit). Payloads are not framed here: the
//! sessions count them off by their announced size.
//!
//! A line ends with LF; one CR right before the LF is dropped. A line may be
//! at most `max` bytes including its terminator (PROTOCOL.md § Transport:
//! 4096 for requests). A longer line is reported once as [`Frame::TooLong`]
//! as soon as `max` bytes without LF have arrived, and the framer then drops
//! bytes up to and including the next LF, so the stream resynchronises.

use nom::FindSubstring;

/// Longest request line in bytes, terminator included (PROTOCOL.md §
/// Transport).
pub const MAX_LINE_LEN: usize = 4096;

/// Longest reply line a client accepts, in bytes, terminator included. Reply
/// lines carry at most a quoted file name and a size, or a line of help text;
/// docs/protocol.md, decision 17.
pub const MAX_REPLY_LINE_LEN: usize = 8192;

/// What the framer found at the front of a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Frame {
    /// A complete line: its content is `buf[..content_end]`; `consumed`
    /// bytes (content, CR and LF) are to be dropped from the buffer.
    Line { content_end: usize, consumed: usize },
    /// The line is over the limit: drop `consumed` bytes (through its LF if
    /// it has arrived, else all that is buffered, and the framer then
    /// discards up to the next LF).
    TooLong { consumed: usize },
    /// Bytes up to `consumed` were dropped as the tail of an over-long line;
    /// look again.
    Discarded { consumed: usize },
    /// No complete line yet.
    Incomplete,
}

/// Line framer state: whether it is dropping the tail of an over-long line.
#[derive(Debug, Clone)]
pub(crate) struct LineFramer {
    max: usize,
    discarding: bool,
}

impl LineFramer {
    pub(crate) fn new(max: usize) -> Self {
        LineFramer {
            max,
            discarding: false,
        }
    }

    /// Looks for the next line at the front of `buf`.
    pub(crate) fn next(&mut self, buf: &[u8]) -> Frame {
        if self.discarding {
            return match buf.find_substring(&b"\n"[..]) {
                Some(lf) => {
                    self.discarding = false;
                    Frame::Discarded { consumed: lf + 1 }
                }
                None if buf.is_empty() => Frame::Incomplete,
                None => Frame::Discarded {
                    consumed: buf.len(),
                },
            };
        }
        let window = &buf[..buf.len().min(self.max)];
        match window.find_substring(&b"\n"[..]) {
            Some(lf) => {
                let content_end = if lf > 0 && buf[lf - 1] == b'\r' {
                    lf - 1
                } else {
                    lf
                };
                Frame::Line {
                    content_end,
                    consumed: lf + 1,
                }
            }
            None if buf.len() >= self.max => {
                // Drop through the LF if it is already here, else all that is
                // buffered and the rest up to the LF later.
                let consumed = match (&buf[self.max..]).find_substring(&b"\n"[..]) {
                    Some(lf) => self.max + lf + 1,
                    None => {
                        self.discarding = true;
                        buf.len()
                    }
                };
                Frame::TooLong { consumed }
            }
            None => Frame::Incomplete,
        }
    }

    /// Whether the framer is dropping the tail of an over-long line.
    pub(crate) fn is_discarding(&self) -> bool {
        self.discarding
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_crlf() {
        let mut f = LineFramer::new(16);
        assert_eq!(
            f.next(b"HELLO\r\nX"),
            Frame::Line {
                content_end: 5,
                consumed: 7
            }
        );
        assert_eq!(
            f.next(b"\n"),
            Frame::Line {
                content_end: 0,
                consumed: 1
            }
        );
        assert_eq!(f.next(b"HEL"), Frame::Incomplete);
        // Only one CR before LF is the terminator's.
        assert_eq!(
            f.next(b"A\r\r\n"),
            Frame::Line {
                content_end: 2,
                consumed: 4
            }
        );
    }

    #[test]
    fn limit_counts_the_terminator() {
        let mut f = LineFramer::new(4);
        assert_eq!(
            f.next(b"abc\n"),
            Frame::Line {
                content_end: 3,
                consumed: 4
            }
        );
        assert_eq!(f.next(b"abcd\nok\n"), Frame::TooLong { consumed: 5 });
        assert!(!f.is_discarding());
        assert_eq!(f.next(b"abcde"), Frame::TooLong { consumed: 5 });
        assert!(f.is_discarding());
        assert_eq!(f.next(b"\nok\n"), Frame::Discarded { consumed: 1 });
        assert!(!f.is_discarding());
    }

    #[test]
    fn too_long_is_reported_before_the_lf_arrives() {
        let mut f = LineFramer::new(4);
        assert_eq!(f.next(b"abc"), Frame::Incomplete);
        assert_eq!(f.next(b"abcdef"), Frame::TooLong { consumed: 6 });
        assert_eq!(f.next(b"gh"), Frame::Discarded { consumed: 2 });
        assert_eq!(f.next(b""), Frame::Incomplete);
        assert_eq!(f.next(b"i\nNEXT"), Frame::Discarded { consumed: 2 });
        assert_eq!(f.next(b"NEX"), Frame::Incomplete);
    }
}
