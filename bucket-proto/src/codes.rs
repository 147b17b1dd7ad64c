//! Reply codes ([`ReplyCode`]) and failure reasons ([`Reason`]): the tables of
//! PROTOCOL.md § Replies, as types.

use std::fmt;
use std::str::FromStr;

/// What a reply with a given code looks like on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReplyShape {
    /// One line: `code SP mnemonic [SP text]` (100, 200, 300, 600, 700, 1000).
    Line,
    /// A `150 NEED <field>` dialogue prompt; not a final reply.
    Prompt,
    /// One line with a reason token: `code SP mnemonic SP reason [SP text]`
    /// (every `x01` code, and 500).
    Failure,
    /// `code SP mnemonic SP count LF` then `count` item lines (210, 220, 400, 800).
    List,
    /// `900 FDBS SP size LF` then `size` raw bytes.
    Payload,
}

macro_rules! reply_codes {
    ($( $(#[$doc:meta])* $variant:ident = $num:literal, $mn:literal, $shape:ident, $meaning:literal; )*) => {
        /// A BKT/1 reply code: its number, mnemonic and meaning, as in the table
        /// of PROTOCOL.md § Replies.
        ///
        /// `Display` writes `number SP mnemonic` (`300 BCS`); `FromStr` takes the
        /// number alone (`"300"`), the mnemonic alone (`"BCS"`, any case) or both
        /// (`"300 BCS"`, which must agree).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u16)]
        pub enum ReplyCode {
            $( $(#[$doc])* $variant = $num, )*
        }

        impl ReplyCode {
            /// Every reply code, in ascending numeric order.
            pub const ALL: &'static [ReplyCode] = &[$(ReplyCode::$variant),*];

            /// The decimal number sent on the wire (`300`).
            pub const fn number(self) -> u16 {
                self as u16
            }

            /// The mnemonic sent after the number (`BCS`).
            pub const fn mnemonic(self) -> &'static str {
                match self { $(ReplyCode::$variant => $mn,)* }
            }

            /// The one-line meaning from PROTOCOL.md (`bucket created`).
            pub const fn meaning(self) -> &'static str {
                match self { $(ReplyCode::$variant => $meaning,)* }
            }

            /// The wire layout of a reply with this code.
            pub const fn shape(self) -> ReplyShape {
                match self { $(ReplyCode::$variant => ReplyShape::$shape,)* }
            }

            /// The code with this number, if BKT/1 defines one.
            pub const fn from_number(number: u16) -> Option<ReplyCode> {
                match number { $($num => Some(ReplyCode::$variant),)* _ => None }
            }
        }
    };
}

reply_codes! {
    /// `100 OK`: answer to `HELLO`, `100 OK BKT/1 <server-name/version>`.
    Ok = 100, "OK", Line, "HELLO: 100 OK BKT/1 <server-name/version>";
    /// `150 NEED`: dialogue prompt for one missing argument.
    Need = 150, "NEED", Prompt, "dialogue prompt for one missing argument";
    /// `200 BYE`: answer to `QUIT`; the server then closes the connection.
    Bye = 200, "BYE", Line, "QUIT; the server then closes the connection";
    /// `210 HELP`: help text, a count then that many lines.
    Help = 210, "HELP", List, "help text: count, then that many lines";
    /// `220 CODES`: the code table, one line per code.
    Codes = 220, "CODES", List, "this table: count, then one line per code";
    /// `300 BCS`: bucket created.
    BucketCreated = 300, "BCS", Line, "bucket created";
    /// `301 BCF`: bucket creation failed.
    BucketCreationFailed = 301, "BCF", Failure, "bucket creation failed";
    /// `400 LS`: bucket list, a count then one bucket per line.
    BucketList = 400, "LS", List, "bucket list: count, then one bucket per line";
    /// `401 LSF`: bucket listing failed.
    BucketListFailed = 401, "LSF", Failure, "bucket listing failed";
    /// `500 BCMD`: bad command (unknown verb, bad syntax, too many arguments,
    /// over-long line, server busy).
    BadCommand = 500, "BCMD", Failure, "bad command: unknown verb, bad syntax, too many arguments";
    /// `600 DBS`: bucket deleted.
    BucketDeleted = 600, "DBS", Line, "bucket deleted";
    /// `601 DBF`: bucket deletion failed.
    BucketDeletionFailed = 601, "DBF", Failure, "bucket deletion failed";
    /// `700 FUBS`: file uploaded.
    FileUploaded = 700, "FUBS", Line, "file uploaded";
    /// `701 FUBF`: file upload failed.
    FileUploadFailed = 701, "FUBF", Failure, "file upload failed";
    /// `800 LFS`: file list, a count then `bucket name size` per line.
    FileList = 800, "LFS", List, "file list: count, then bucket name size per line";
    /// `801 LFF`: file listing failed.
    FileListFailed = 801, "LFF", Failure, "file listing failed";
    /// `900 FDBS`: download, the size then exactly that many raw bytes.
    Download = 900, "FDBS", Payload, "download: size, LF, then exactly size raw bytes";
    /// `901 FDBF`: download failed.
    DownloadFailed = 901, "FDBF", Failure, "download failed";
    /// `1000 DFS`: file deleted.
    FileDeleted = 1000, "DFS", Line, "file deleted";
    /// `1001 DFF`: file deletion failed.
    FileDeletionFailed = 1001, "DFF", Failure, "file deletion failed";
}

impl ReplyCode {
    /// An iterator over every reply code, in ascending numeric order.
    pub fn iter() -> impl ExactSizeIterator<Item = ReplyCode> + Clone {
        Self::ALL.iter().copied()
    }

    /// Whether this code reports a failure (it then carries a [`Reason`]).
    pub const fn is_failure(self) -> bool {
        matches!(self.shape(), ReplyShape::Failure)
    }

    /// Whether this is a success sent as one line with optional text (300,
    /// 600, 700, 1000): the codes of [`crate::Reply::Success`].
    pub const fn is_one_line_success(self) -> bool {
        matches!(
            self,
            ReplyCode::BucketCreated
                | ReplyCode::BucketDeleted
                | ReplyCode::FileUploaded
                | ReplyCode::FileDeleted
        )
    }

    /// Whether this reply ends its request (everything but `150 NEED`).
    pub const fn is_final(self) -> bool {
        !matches!(self, ReplyCode::Need)
    }

    /// The code whose mnemonic is `mnemonic` (ASCII case-insensitive).
    pub fn from_mnemonic(mnemonic: &str) -> Option<ReplyCode> {
        Self::iter().find(|c| c.mnemonic().eq_ignore_ascii_case(mnemonic))
    }
}

impl fmt::Display for ReplyCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.number(), self.mnemonic())
    }
}

/// Error from parsing a [`ReplyCode`], [`Reason`], [`crate::Verb`] or
/// [`crate::Field`] from text (their `FromStr`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what}: {text:?}")]
pub struct UnknownToken {
    what: &'static str,
    text: String,
}

impl UnknownToken {
    pub(crate) fn new(what: &'static str, text: &str) -> Self {
        UnknownToken {
            what,
            text: text.to_owned(),
        }
    }

    /// What was being parsed: `"reply code"`, `"reason"`, `"verb"` or
    /// `"field"`.
    pub fn what(&self) -> &'static str {
        self.what
    }

    /// The text that named none.
    pub fn text(&self) -> &str {
        &self.text
    }
}

impl FromStr for ReplyCode {
    type Err = UnknownToken;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let unknown = || UnknownToken::new("reply code", s);
        let s = s.trim();
        let (num, mn) = match s.split_once(' ') {
            Some((n, m)) => (Some(n), Some(m.trim())),
            None if s.bytes().all(|b| b.is_ascii_digit()) => (Some(s), None),
            None => (None, Some(s)),
        };
        let by_num = match num {
            Some(n) => Some(
                n.parse::<u16>()
                    .ok()
                    .and_then(ReplyCode::from_number)
                    .ok_or_else(unknown)?,
            ),
            None => None,
        };
        let by_mn = match mn {
            Some(m) => Some(ReplyCode::from_mnemonic(m).ok_or_else(unknown)?),
            None => None,
        };
        match (by_num, by_mn) {
            (Some(a), Some(b)) if a == b => Ok(a),
            (Some(a), None) | (None, Some(a)) => Ok(a),
            _ => Err(unknown()),
        }
    }
}

macro_rules! reasons {
    ($( $(#[$doc:meta])* $variant:ident = $tok:literal; )*) => {
        /// The machine-readable reason token every failure reply carries
        /// (PROTOCOL.md § Replies). `Display`/`FromStr` use the wire token
        /// (`NO_SUCH_BUCKET`); `FromStr` ignores ASCII case.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Reason {
            $( $(#[$doc])* $variant, )*
        }

        impl Reason {
            /// Every reason, in the order PROTOCOL.md lists them.
            pub const ALL: &'static [Reason] = &[$(Reason::$variant),*];

            /// The token written on the wire.
            pub const fn as_str(self) -> &'static str {
                match self { $(Reason::$variant => $tok,)* }
            }
        }
    };
}

reasons! {
    /// The named bucket does not exist.
    NoSuchBucket = "NO_SUCH_BUCKET";
    /// The named file does not exist in the bucket.
    NoSuchFile = "NO_SUCH_FILE";
    /// The bucket to create exists already.
    Exists = "EXISTS";
    /// The bucket to delete still holds files.
    NotEmpty = "NOT_EMPTY";
    /// A bucket or file name breaks the rules of PROTOCOL.md § Names.
    BadName = "BAD_NAME";
    /// The upload's `size` exceeds the server's limit; the connection closes.
    TooLarge = "TOO_LARGE";
    /// A dialogue was cancelled with an empty answer line.
    Aborted = "ABORTED";
    /// A request line exceeded 4096 bytes.
    LineTooLong = "LINE_TOO_LONG";
    /// The request did not follow the grammar (bad quoting, bad size, too many
    /// arguments, invalid UTF-8).
    Syntax = "SYNTAX";
    /// The verb is not one of PROTOCOL.md's verbs or aliases.
    UnknownVerb = "UNKNOWN_VERB";
    /// The server's storage failed (disk full, permission denied, …).
    Io = "IO";
    /// The server is at its connection limit; the connection closes.
    Busy = "BUSY";
}

impl Reason {
    /// An iterator over every reason.
    pub fn iter() -> impl ExactSizeIterator<Item = Reason> + Clone {
        Self::ALL.iter().copied()
    }

    /// The reason whose token is `token` (ASCII case-insensitive).
    pub fn from_token(token: &str) -> Option<Reason> {
        Self::iter().find(|r| r.as_str().eq_ignore_ascii_case(token))
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Reason {
    type Err = UnknownToken;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Reason::from_token(s.trim()).ok_or_else(|| UnknownToken::new("reason", s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The table of PROTOCOL.md § Replies, typed out independently.
    const TABLE: &[(u16, &str)] = &[
        (100, "OK"),
        (150, "NEED"),
        (200, "BYE"),
        (210, "HELP"),
        (220, "CODES"),
        (300, "BCS"),
        (301, "BCF"),
        (400, "LS"),
        (401, "LSF"),
        (500, "BCMD"),
        (600, "DBS"),
        (601, "DBF"),
        (700, "FUBS"),
        (701, "FUBF"),
        (800, "LFS"),
        (801, "LFF"),
        (900, "FDBS"),
        (901, "FDBF"),
        (1000, "DFS"),
        (1001, "DFF"),
    ];

    #[test]
    fn every_code_of_the_table() {
        assert_eq!(ReplyCode::iter().len(), TABLE.len());
        for (&(num, mn), code) in TABLE.iter().zip(ReplyCode::iter()) {
            assert_eq!(code.number(), num);
            assert_eq!(code.mnemonic(), mn);
            assert!(!code.meaning().is_empty());
            assert_eq!(code.to_string(), format!("{num} {mn}"));
            assert_eq!(ReplyCode::from_number(num), Some(code));
            assert_eq!(num.to_string().parse::<ReplyCode>(), Ok(code));
            assert_eq!(mn.to_lowercase().parse::<ReplyCode>(), Ok(code));
            assert_eq!(code.to_string().parse::<ReplyCode>(), Ok(code));
        }
    }

    #[test]
    fn failure_codes_are_the_x01s_and_bcmd() {
        let failures: Vec<u16> = ReplyCode::iter()
            .filter(|c| c.is_failure())
            .map(ReplyCode::number)
            .collect();
        assert_eq!(failures, [301, 401, 500, 601, 701, 801, 901, 1001]);
        assert!(!ReplyCode::Need.is_final());
        assert!(ReplyCode::BucketCreated.is_final());
    }

    #[test]
    fn bad_code_text_is_refused() {
        for bad in ["", "999", "300 DBS", "NOPE", "-300", "70000", "300 BCS x"] {
            assert!(bad.parse::<ReplyCode>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn every_reason() {
        let tokens = [
            "NO_SUCH_BUCKET",
            "NO_SUCH_FILE",
            "EXISTS",
            "NOT_EMPTY",
            "BAD_NAME",
            "TOO_LARGE",
            "ABORTED",
            "LINE_TOO_LONG",
            "SYNTAX",
            "UNKNOWN_VERB",
            "IO",
            "BUSY",
        ];
        assert_eq!(Reason::iter().len(), tokens.len());
        for (tok, reason) in tokens.iter().zip(Reason::iter()) {
            assert_eq!(reason.as_str(), *tok);
            assert_eq!(tok.parse::<Reason>(), Ok(reason));
            assert_eq!(tok.to_lowercase().parse::<Reason>(), Ok(reason));
        }
        assert!("NOPE".parse::<Reason>().is_err());
    }
}
