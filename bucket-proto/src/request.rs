//! Requests: [`Verb`] (with its aliases), [`Field`] (argument slots) and
//! [`Request`] (a verb with validated arguments). PROTOCOL.md § Requests.

use std::fmt;

use crate::codes::ReplyCode;
use crate::names::{BucketName, FileName};

/// Length of the longest spelling of a verb, in bytes (`DOWNLOAD_FILE`,
/// `DELETE_BUCKET`; PROTOCOL.md § Requests); no longer token is a verb.
pub(crate) const MAX_VERB_LEN: usize = 13;

/// One argument slot of a verb, named as in `150 NEED <field>` prompts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Field {
    /// A bucket name (`bucket`).
    Bucket,
    /// A file name (`name`).
    Name,
    /// An upload size in bytes, decimal u64 (`size`).
    Size,
    /// The verb `HELP` explains (`verb`).
    Verb,
}

impl Field {
    /// The field's name on the wire: `bucket`, `name`, `size`, `verb`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Field::Bucket => "bucket",
            Field::Name => "name",
            Field::Size => "size",
            Field::Verb => "verb",
        }
    }

    /// The field with this wire name (ASCII case-insensitive).
    pub fn from_token(token: &str) -> Option<Field> {
        [Field::Bucket, Field::Name, Field::Size, Field::Verb]
            .into_iter()
            .find(|f| f.as_str().eq_ignore_ascii_case(token))
    }
}

impl std::str::FromStr for Field {
    type Err = crate::codes::UnknownToken;

    /// The field with this wire name, in any case (as [`Field::from_token`]).
    fn from_str(s: &str) -> Result<Field, Self::Err> {
        Field::from_token(s.trim()).ok_or_else(|| crate::codes::UnknownToken::new("field", s))
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

macro_rules! verbs {
    ($( $(#[$doc:meta])* $variant:ident = $canon:literal [$($alias:literal),*]
        req [$($req:ident),*] opt [$($opt:ident),*] ok $ok:ident fail $fail:ident; )*) => {
        /// A BKT/1 verb, by its canonical name (PROTOCOL.md § Requests, the
        /// table of verbs and aliases).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Verb {
            $( $(#[$doc])* $variant, )*
        }

        impl Verb {
            /// Every verb, in the order of PROTOCOL.md's table.
            pub const ALL: &'static [Verb] = &[$(Verb::$variant),*];

            /// The canonical spelling sent by encoders (`CREATE_B`).
            pub const fn as_str(self) -> &'static str {
                match self { $(Verb::$variant => $canon,)* }
            }

            /// The other spellings a server accepts (`NEW_BUCKET`), upper-case.
            pub const fn aliases(self) -> &'static [&'static str] {
                match self { $(Verb::$variant => &[$($alias),*],)* }
            }

            /// The verb whose canonical name or alias is `upper` exactly
            /// (already upper-case): one `match` over the table.
            fn from_upper(upper: &str) -> Option<Verb> {
                match upper {
                    $($canon $(| $alias)* => Some(Verb::$variant),)*
                    _ => None,
                }
            }

            /// The arguments the verb requires, in wire order. Sent with fewer,
            /// the verb opens a dialogue (PROTOCOL.md § Dialogues).
            pub const fn required(self) -> &'static [Field] {
                match self { $(Verb::$variant => &[$(Field::$req),*],)* }
            }

            /// The optional arguments after the required ones, in wire order.
            pub const fn optional(self) -> &'static [Field] {
                match self { $(Verb::$variant => &[$(Field::$opt),*],)* }
            }

            /// The code of this verb's successful final reply.
            pub const fn success_code(self) -> ReplyCode {
                match self { $(Verb::$variant => ReplyCode::$ok,)* }
            }

            /// The code of this verb's failure reply (500 BCMD for verbs that
            /// have none of their own).
            pub const fn failure_code(self) -> ReplyCode {
                match self { $(Verb::$variant => ReplyCode::$fail,)* }
            }
        }
    };
}

verbs! {
    /// `HELLO` (alias `INIT`): check the server and its protocol version.
    Hello = "HELLO" ["INIT"] req [] opt [] ok Ok fail BadCommand;
    /// `HELP [verb]`: help text, for every verb or one.
    Help = "HELP" [] req [] opt [Verb] ok Help fail BadCommand;
    /// `CODES` (alias `CODE_R`): the reply code table.
    Codes = "CODES" ["CODE_R"] req [] opt [] ok Codes fail BadCommand;
    /// `QUIT` (alias `EXIT`): end the session.
    Quit = "QUIT" ["EXIT"] req [] opt [] ok Bye fail BadCommand;
    /// `CREATE_B bucket` (alias `NEW_BUCKET`).
    CreateBucket = "CREATE_B" ["NEW_BUCKET"] req [Bucket] opt [] ok BucketCreated fail BucketCreationFailed;
    /// `LIST_B` (aliases `LS_B`, `LIST_BUCKET`).
    ListBuckets = "LIST_B" ["LS_B", "LIST_BUCKET"] req [] opt [] ok BucketList fail BucketListFailed;
    /// `DELETE_B bucket` (alias `DELETE_BUCKET`).
    DeleteBucket = "DELETE_B" ["DELETE_BUCKET"] req [Bucket] opt [] ok BucketDeleted fail BucketDeletionFailed;
    /// `UPLOAD bucket name size` then `size` raw bytes (aliases `UPLOAD_F`,
    /// `UPLOAD_FILE`).
    Upload = "UPLOAD" ["UPLOAD_F", "UPLOAD_FILE"] req [Bucket, Name, Size] opt [] ok FileUploaded fail FileUploadFailed;
    /// `LIST_F [bucket]` (aliases `LS_F`, `LIST_FILE`); no bucket lists every bucket.
    ListFiles = "LIST_F" ["LS_F", "LIST_FILE"] req [] opt [Bucket] ok FileList fail FileListFailed;
    /// `DOWNLOAD bucket name` (aliases `DOWNLOAD_F`, `DOWNLOAD_FILE`).
    Download = "DOWNLOAD" ["DOWNLOAD_F", "DOWNLOAD_FILE"] req [Bucket, Name] opt [] ok Download fail DownloadFailed;
    /// `DELETE_F bucket name` (alias `DELETE_FILE`).
    DeleteFile = "DELETE_F" ["DELETE_FILE"] req [Bucket, Name] opt [] ok FileDeleted fail FileDeletionFailed;
}

impl Verb {
    /// The verb spelled `token`, canonical or alias, ASCII case-insensitive
    /// (PROTOCOL.md § Requests), as [`Field::from_token`] and
    /// [`Reason::from_token`](crate::Reason::from_token) read theirs. No
    /// allocation; `None` for anything else, surrounding spaces included.
    pub fn from_token(token: &str) -> Option<Verb> {
        Verb::from_bytes(token.as_bytes())
    }

    /// [`Verb::from_token`] on bytes as received, which need not be UTF-8
    /// (resynchronisation reads a refused line's verb this way).
    pub(crate) fn from_bytes(token: &[u8]) -> Option<Verb> {
        if token.len() > MAX_VERB_LEN {
            return None;
        }
        let mut upper = [0u8; MAX_VERB_LEN];
        let upper = &mut upper[..token.len()];
        for (u, t) in upper.iter_mut().zip(token) {
            *u = t.to_ascii_uppercase();
        }
        Verb::from_upper(std::str::from_utf8(upper).ok()?)
    }

    /// Whether `code` may be the final reply to this verb: its success or
    /// failure code, or `500 BCMD` (which can refuse any request).
    pub fn answered_by(self, code: ReplyCode) -> bool {
        code == self.success_code() || code == self.failure_code() || code == ReplyCode::BadCommand
    }

    /// Most arguments the verb takes (required plus optional).
    pub const fn max_args(self) -> usize {
        self.required().len() + self.optional().len()
    }
}

impl fmt::Display for Verb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Verb {
    type Err = crate::codes::UnknownToken;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Verb::from_token(s.trim()).ok_or_else(|| crate::codes::UnknownToken::new("verb", s))
    }
}

/// A complete, validated BKT/1 request. Names borrow from the parsed input
/// where they were bare arguments; [`Request::into_owned`] detaches them.
///
/// The `UPLOAD` payload is not part of the value: it follows the request line
/// on the wire and is handed out by the sessions as separate data events.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Request<'a> {
    /// `HELLO`.
    Hello,
    /// `HELP [verb]`.
    Help {
        /// The verb to explain; `None` for the overview.
        topic: Option<Verb>,
    },
    /// `CODES`.
    Codes,
    /// `QUIT`.
    Quit,
    /// `CREATE_B bucket`.
    CreateBucket {
        /// The bucket to create.
        bucket: BucketName<'a>,
    },
    /// `LIST_B`.
    ListBuckets,
    /// `DELETE_B bucket`.
    DeleteBucket {
        /// The bucket to delete; it must be empty.
        bucket: BucketName<'a>,
    },
    /// `UPLOAD bucket name size`, followed on the wire by `size` bytes.
    Upload {
        /// Destination bucket.
        bucket: BucketName<'a>,
        /// Destination file name; an existing file is replaced.
        name: FileName<'a>,
        /// Payload length in bytes.
        size: u64,
    },
    /// `LIST_F [bucket]`.
    ListFiles {
        /// The bucket to list; `None` lists every bucket.
        bucket: Option<BucketName<'a>>,
    },
    /// `DOWNLOAD bucket name`.
    Download {
        /// Source bucket.
        bucket: BucketName<'a>,
        /// Source file name.
        name: FileName<'a>,
    },
    /// `DELETE_F bucket name`.
    DeleteFile {
        /// The bucket holding the file.
        bucket: BucketName<'a>,
        /// The file to delete.
        name: FileName<'a>,
    },
}

/// The request line as it goes on the wire, without its LF:
/// `UPLOAD photos "my cat.jpg" 1024` (names quoted where they must be, as
/// [`crate::encode::request`] writes them). For logs and messages. A name may
/// hold C1 control characters (PROTOCOL.md § Names forbids only C0 and DEL),
/// which this writes as they are.
impl fmt::Display for Request<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        crate::encode::fmt_line(f, |line| crate::encode::request(self, line))
    }
}

impl Request<'_> {
    /// The request's verb.
    pub fn verb(&self) -> Verb {
        match self {
            Request::Hello => Verb::Hello,
            Request::Help { .. } => Verb::Help,
            Request::Codes => Verb::Codes,
            Request::Quit => Verb::Quit,
            Request::CreateBucket { .. } => Verb::CreateBucket,
            Request::ListBuckets => Verb::ListBuckets,
            Request::DeleteBucket { .. } => Verb::DeleteBucket,
            Request::Upload { .. } => Verb::Upload,
            Request::ListFiles { .. } => Verb::ListFiles,
            Request::Download { .. } => Verb::Download,
            Request::DeleteFile { .. } => Verb::DeleteFile,
        }
    }

    /// The payload length in bytes that follows this request on the wire:
    /// `size` for `UPLOAD`, `None` for every other verb.
    pub fn payload_len(&self) -> Option<u64> {
        match self {
            Request::Upload { size, .. } => Some(*size),
            _ => None,
        }
    }

    /// The bucket the request names, if any (for logs).
    pub fn bucket(&self) -> Option<&BucketName<'_>> {
        match self {
            Request::CreateBucket { bucket }
            | Request::DeleteBucket { bucket }
            | Request::Upload { bucket, .. }
            | Request::Download { bucket, .. }
            | Request::DeleteFile { bucket, .. } => Some(bucket),
            Request::ListFiles { bucket } => bucket.as_ref(),
            _ => None,
        }
    }

    /// The file the request names, if any (for logs).
    pub fn file(&self) -> Option<&FileName<'_>> {
        match self {
            Request::Upload { name, .. }
            | Request::Download { name, .. }
            | Request::DeleteFile { name, .. } => Some(name),
            _ => None,
        }
    }

    /// A copy that owns all its names, detached from the parsed input.
    pub fn into_owned(self) -> Request<'static> {
        match self {
            Request::Hello => Request::Hello,
            Request::Help { topic } => Request::Help { topic },
            Request::Codes => Request::Codes,
            Request::Quit => Request::Quit,
            Request::CreateBucket { bucket } => Request::CreateBucket {
                bucket: bucket.into_owned(),
            },
            Request::ListBuckets => Request::ListBuckets,
            Request::DeleteBucket { bucket } => Request::DeleteBucket {
                bucket: bucket.into_owned(),
            },
            Request::Upload { bucket, name, size } => Request::Upload {
                bucket: bucket.into_owned(),
                name: name.into_owned(),
                size,
            },
            Request::ListFiles { bucket } => Request::ListFiles {
                bucket: bucket.map(BucketName::into_owned),
            },
            Request::Download { bucket, name } => Request::Download {
                bucket: bucket.into_owned(),
                name: name.into_owned(),
            },
            Request::DeleteFile { bucket, name } => Request::DeleteFile {
                bucket: bucket.into_owned(),
                name: name.into_owned(),
            },
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_request_displays_as_its_line_on_the_wire_and_parses_back() {
        let bucket = BucketName::new("photos").unwrap();
        let cases = [
            (
                Request::Upload {
                    bucket: bucket.clone(),
                    name: FileName::new("my \"cat\".jpg").unwrap(),
                    size: 1024,
                },
                r#"UPLOAD photos "my \"cat\".jpg" 1024"#,
            ),
            (Request::ListFiles { bucket: None }, "LIST_F"),
            (
                Request::Help {
                    topic: Some(Verb::DeleteFile),
                },
                "HELP DELETE_F",
            ),
            (Request::Hello, "HELLO"),
        ];
        for (request, shown) in cases {
            assert_eq!(request.to_string(), shown);
            let line = format!("{request}\n");
            match crate::decode::request(line.as_bytes()).unwrap() {
                crate::decode::Decoded::Complete { value, .. } => assert_eq!(value, request),
                crate::decode::Decoded::Incomplete => panic!("{line:?} is a whole line"),
            }
        }
    }

    #[test]
    fn a_verb_is_answered_by_its_own_codes_and_bcmd_never_by_a_prompt() {
        for &verb in Verb::ALL {
            for code in ReplyCode::iter() {
                let expected = code == verb.success_code()
                    || code == verb.failure_code()
                    || code == ReplyCode::BadCommand;
                assert_eq!(verb.answered_by(code), expected, "{verb} {code}");
            }
            assert!(!verb.answered_by(ReplyCode::Need), "{verb}");
        }
    }

    #[test]
    fn from_token_knows_every_spelling_in_any_case_and_nothing_else() {
        for &verb in Verb::ALL {
            for spelling in std::iter::once(verb.as_str()).chain(verb.aliases().iter().copied()) {
                assert!(
                    spelling.len() <= 13,
                    "{spelling} is longer than from_token's buffer"
                );
                assert_eq!(Verb::from_token(spelling), Some(verb));
                let lower = spelling.to_ascii_lowercase();
                assert_eq!(Verb::from_token(&lower), Some(verb));
            }
        }
        for bad in [
            &b""[..],
            b"HELL",
            b"HELLOO",
            b"LIST",
            b"DOWNLOAD_FILES",
            b"\xff",
            b"CREATE_B ",
        ] {
            assert_eq!(Verb::from_bytes(bad), None, "{bad:?}");
        }
    }
}
