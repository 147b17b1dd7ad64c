//! Replies: [`Reply`] and its list items ([`FileEntry`]). PROTOCOL.md §
//! Replies.

use std::borrow::Cow;
use std::fmt;

use crate::codes::{Reason, ReplyCode};
use crate::names::{BucketName, FileName};
use crate::request::{Field, Verb};

/// The protocol version token sent in `100 OK BKT/1 <server>`.
pub const PROTOCOL_VERSION: &str = "BKT/1";

/// One line of a `800 LFS` file list: `bucket name size`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FileEntry<'a> {
    /// The bucket holding the file.
    pub bucket: BucketName<'a>,
    /// The file's name.
    pub name: FileName<'a>,
    /// The file's length in bytes.
    pub size: u64,
}

impl FileEntry<'_> {
    /// A copy that owns its names.
    pub fn into_owned(self) -> FileEntry<'static> {
        FileEntry {
            bucket: self.bucket.into_owned(),
            name: self.name.into_owned(),
            size: self.size,
        }
    }
}

/// Free text (after a reason, the server's name, a help or codes line) with
/// each control character (C0, DEL and C1, as `char::is_control` says)
/// replaced by a space: what [`Reply`] promises of its text. The encoder
/// writes text through it, so a reply cannot break the framing; the decoders
/// read text through it, so a hostile server cannot send a terminal escape
/// sequence to a program that prints decoded text. Borrowed unless there was
/// one to replace.
pub(crate) fn clean_text(t: &str) -> Cow<'_, str> {
    if !t.chars().any(char::is_control) {
        return Cow::Borrowed(t);
    }
    Cow::Owned(
        t.chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect(),
    )
}

/// A BKT/1 reply, as a server sends it and a client receives it.
///
/// Free text (`text`, `server`, help lines) is for people: one line, no
/// control characters, at most [`crate::encode::MAX_TEXT_LEN`] bytes. The
/// encoder replaces any control character (C0, DEL and C1, as
/// `char::is_control` says) with a space and cuts longer text, so a reply
/// can never break the framing or exceed a client's line limit. The decoders
/// ([`crate::decode::reply`], [`crate::ClientSession`]) replace them the same
/// way in what a server sent, so no escape sequence from a hostile server
/// reaches a program that prints decoded text (a line longer than the
/// encoder writes is still accepted, up to [`crate::MAX_REPLY_LINE_LEN`]
/// bytes). Names are not free text: a file name may hold C1 controls
/// (PROTOCOL.md § Names forbids C0 and DEL only), so a client that shows
/// names to people escapes them itself.
///
/// The `900 FDBS` payload is not part of the value: it follows the header on
/// the wire and is handed out by the sessions as separate data events.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Reply<'a> {
    /// `100 OK BKT/1 <server>`: answer to `HELLO`.
    Hello {
        /// Server name and version, e.g. `bucket-server/0.1.0`.
        server: Cow<'a, str>,
    },
    /// `150 NEED <field>`: dialogue prompt for one missing argument; not a
    /// final reply.
    Need {
        /// The argument the server asks for.
        field: Field,
    },
    /// `200 BYE`: answer to `QUIT`; the server closes the connection after it.
    Bye,
    /// `210 HELP <count>` then `count` lines of help text.
    Help {
        /// The help text, one entry per line.
        lines: Vec<Cow<'a, str>>,
    },
    /// `220 CODES <count>` then one line per reply code.
    Codes {
        /// One entry per code, `number mnemonic meaning`.
        lines: Vec<Cow<'a, str>>,
    },
    /// A one-line success: `300 BCS`, `600 DBS`, `700 FUBS` or `1000 DFS`,
    /// with optional text.
    Success {
        /// One of 300, 600, 700, 1000.
        code: ReplyCode,
        /// Free text for people; `None` sends nothing after the mnemonic,
        /// and so does `Some("")`, which therefore decodes as `None`.
        text: Option<Cow<'a, str>>,
    },
    /// A failure: `code mnemonic reason [text]`, for every `x01` code and
    /// `500 BCMD`.
    Failure {
        /// A failure code ([`ReplyCode::is_failure`]).
        code: ReplyCode,
        /// The machine-readable reason.
        reason: Reason,
        /// Free text for people; `None` sends nothing after the reason, and
        /// so does `Some("")`, which therefore decodes as `None`.
        text: Option<Cow<'a, str>>,
    },
    /// `400 LS <count>` then one bucket name per line.
    Buckets {
        /// The buckets, in the order sent.
        buckets: Vec<BucketName<'a>>,
    },
    /// `800 LFS <count>` then `bucket name size` per line.
    Files {
        /// The files, in the order sent.
        files: Vec<FileEntry<'a>>,
    },
    /// `900 FDBS <size>`, followed on the wire by exactly `size` bytes.
    Download {
        /// Payload length in bytes.
        size: u64,
    },
}

/// The reply's first line as it goes on the wire, without its LF:
/// `701 FUBF NO_SUCH_BUCKET no such bucket`, `900 FDBS 1024`, and for a list
/// its header only (`400 LS 3`). Free text is written as the encoder writes
/// it, control characters replaced by spaces. For logs and messages.
impl fmt::Display for Reply<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        crate::encode::fmt_line(f, |line| crate::encode::line(self, line))
    }
}

impl<'a> Reply<'a> {
    /// A failure reply for `verb` with `reason` and free `text`: the code is
    /// the verb's own failure code ([`Verb::failure_code`]). An empty `text`
    /// is `None`, as it decodes.
    pub fn failure(verb: Verb, reason: Reason, text: impl Into<Cow<'a, str>>) -> Self {
        Reply::Failure {
            code: verb.failure_code(),
            reason,
            text: non_empty(text.into()),
        }
    }

    /// A `500 BCMD` reply with `reason` and `text` (`None` when empty).
    pub fn bad_command(reason: Reason, text: impl Into<Cow<'a, str>>) -> Self {
        Reply::Failure {
            code: ReplyCode::BadCommand,
            reason,
            text: non_empty(text.into()),
        }
    }

    /// The success reply of a verb whose success is one line (CREATE_B,
    /// DELETE_B, UPLOAD, DELETE_F) with no text. `None` for other verbs.
    pub fn success(verb: Verb) -> Option<Self> {
        let code = verb.success_code();
        code.is_one_line_success()
            .then_some(Reply::Success { code, text: None })
    }

    /// The `220 CODES` reply: one line `number mnemonic meaning` per code of
    /// [`ReplyCode::ALL`].
    pub fn code_table() -> Reply<'static> {
        Reply::Codes {
            lines: ReplyCode::iter()
                .map(|c| Cow::Owned(format!("{} {} {}", c.number(), c.mnemonic(), c.meaning())))
                .collect(),
        }
    }

    /// The reply's code.
    pub fn code(&self) -> ReplyCode {
        match self {
            Reply::Hello { .. } => ReplyCode::Ok,
            Reply::Need { .. } => ReplyCode::Need,
            Reply::Bye => ReplyCode::Bye,
            Reply::Help { .. } => ReplyCode::Help,
            Reply::Codes { .. } => ReplyCode::Codes,
            Reply::Success { code, .. } | Reply::Failure { code, .. } => *code,
            Reply::Buckets { .. } => ReplyCode::BucketList,
            Reply::Files { .. } => ReplyCode::FileList,
            Reply::Download { .. } => ReplyCode::Download,
        }
    }

    /// The failure reason, for failure replies.
    pub fn reason(&self) -> Option<Reason> {
        match self {
            Reply::Failure { reason, .. } => Some(*reason),
            _ => None,
        }
    }

    /// Whether the reply ends its request (everything but `150 NEED`).
    pub fn is_final(&self) -> bool {
        !matches!(self, Reply::Need { .. })
    }

    /// The payload length in bytes that follows this reply on the wire:
    /// `size` for `900 FDBS`, `None` otherwise.
    pub fn payload_len(&self) -> Option<u64> {
        match self {
            Reply::Download { size } => Some(*size),
            _ => None,
        }
    }

    /// A copy that owns all its text and names.
    pub fn into_owned(self) -> Reply<'static> {
        fn own(c: Cow<'_, str>) -> Cow<'static, str> {
            Cow::Owned(c.into_owned())
        }
        match self {
            Reply::Hello { server } => Reply::Hello {
                server: own(server),
            },
            Reply::Need { field } => Reply::Need { field },
            Reply::Bye => Reply::Bye,
            Reply::Help { lines } => Reply::Help {
                lines: lines.into_iter().map(own).collect(),
            },
            Reply::Codes { lines } => Reply::Codes {
                lines: lines.into_iter().map(own).collect(),
            },
            Reply::Success { code, text } => Reply::Success {
                code,
                text: text.map(own),
            },
            Reply::Failure { code, reason, text } => Reply::Failure {
                code,
                reason,
                text: text.map(own),
            },
            Reply::Buckets { buckets } => Reply::Buckets {
                buckets: buckets.into_iter().map(BucketName::into_owned).collect(),
            },
            Reply::Files { files } => Reply::Files {
                files: files.into_iter().map(FileEntry::into_owned).collect(),
            },
            Reply::Download { size } => Reply::Download { size },
        }
    }
}

/// `None` for empty text: the encoder sends nothing for it either way, and
/// the decoder gives `None` back.
fn non_empty(text: Cow<'_, str>) -> Option<Cow<'_, str>> {
    (!text.is_empty()).then_some(text)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::decode;

    fn names(bucket: &'static str, name: &'static str) -> (BucketName<'static>, FileName<'static>) {
        (
            BucketName::new(bucket).unwrap(),
            FileName::new(name).unwrap(),
        )
    }

    #[test]
    fn a_reply_displays_as_its_first_line_on_the_wire() {
        let (bucket, name) = names("photos", "cat.jpg");
        let cases = [
            (
                Reply::failure(Verb::Upload, Reason::NoSuchBucket, "no\tsuch\nbucket"),
                "701 FUBF NO_SUCH_BUCKET no such bucket",
            ),
            (Reply::Download { size: 1024 }, "900 FDBS 1024"),
            (
                Reply::Hello {
                    server: "bucket-server/0.1.0".into(),
                },
                "100 OK BKT/1 bucket-server/0.1.0",
            ),
            (Reply::Need { field: Field::Size }, "150 NEED size"),
            (Reply::success(Verb::DeleteFile).unwrap(), "1000 DFS"),
            (
                Reply::Files {
                    files: vec![FileEntry {
                        bucket: bucket.clone(),
                        name,
                        size: 7,
                    }],
                },
                "800 LFS 1",
            ),
            (
                Reply::Buckets {
                    buckets: vec![bucket.clone(), bucket],
                },
                "400 LS 2",
            ),
        ];
        for (reply, shown) in cases {
            assert_eq!(reply.to_string(), shown);
            // The same bytes the encoder sends, up to the first LF.
            let mut wire = Vec::new();
            crate::encode::reply(&reply, &mut wire).unwrap();
            let first = wire.split(|&b| b == b'\n').next().unwrap();
            assert_eq!(first, shown.as_bytes());
        }
    }

    #[test]
    fn empty_text_is_none_so_a_failure_survives_a_round_trip() {
        for reply in [
            Reply::failure(Verb::DeleteBucket, Reason::NotEmpty, ""),
            Reply::bad_command(Reason::Syntax, String::new()),
        ] {
            let mut wire = Vec::new();
            crate::encode::reply(&reply, &mut wire).unwrap();
            match decode::reply(&wire).unwrap() {
                decode::Decoded::Complete { value, consumed } => {
                    assert_eq!(value, reply);
                    assert_eq!(consumed, wire.len());
                }
                decode::Decoded::Incomplete => panic!("a whole reply decodes"),
            }
        }
    }
}
