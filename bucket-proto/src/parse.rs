//! The BKT/1 grammar, in nom. Crate-private: the public entry points are in
//! [`crate::decode`] and the sessions, and nom's error types never leave this
//! module.
//!
//! Every function here takes the *content* of one line: the framing layer
//! ([`crate::framing`]) has already found the LF, removed it and one CR before
//! it, and checked the length limit. Input is `&str`: UTF-8 is checked once
//! per line before the grammar runs.

use std::borrow::Cow;

use nom::branch::alt;
use nom::bytes::complete::{tag, take_while, take_while1};
use nom::character::complete::{char, digit1};
use nom::combinator::{all_consuming, map_res, opt, rest};
use nom::sequence::preceded;
use nom::{IResult, Parser};

use crate::codes::{Reason, ReplyCode, ReplyShape};
use crate::error::{ReplyError, RequestError};
use crate::names::{BucketName, FileName};
use crate::reply::{FileEntry, PROTOCOL_VERSION, Reply, clean_text};
use crate::request::{Field, Request, Verb};

/// Most arguments any verb takes (`UPLOAD bucket name size`).
pub(crate) const MAX_ARGS: usize = 3;

/// Byte class: `SEP = 1*(SP / HTAB / ",")` (PROTOCOL.md § Requests).
const SEP: u8 = 1;
/// Byte class: `bare = 1*(any char but SP HTAB "," DQUOTE "\" and C0
/// controls / DEL)`. Bytes of multi-byte UTF-8 characters are bare, so a
/// run of bare bytes always ends on a character boundary.
const BARE: u8 = 2;
/// Byte class: `verb = 1*(ALPHA / "_")`.
const VERB: u8 = 4;

/// The class of every byte: one table lookup per byte on the hot path.
static CLASSES: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        let mut class = 0;
        if b == b' ' || b == b'\t' || b == b',' {
            class |= SEP;
        } else if !(b == b'"' || b == b'\\' || b < 0x20 || b == 0x7f) {
            class |= BARE;
        }
        if b.is_ascii_alphabetic() || b == b'_' {
            class |= VERB;
        }
        table[i] = class;
        i += 1;
    }
    table
};

fn is(class: u8, b: u8) -> bool {
    CLASSES[b as usize] & class != 0
}

/// The longest non-empty run of `class` bytes at the front of `i`, split off
/// as text. The classes end runs only at ASCII bytes, so both halves are
/// whole characters.
fn run(class: u8, i: &str) -> IResult<&str, &str> {
    let bytes = i.as_bytes();
    let taken: IResult<&[u8], &[u8]> = take_while1(|b| is(class, b)).parse(bytes);
    match taken {
        Ok((_, token)) => Ok((&i[token.len()..], &i[..token.len()])),
        Err(_) => Err(nom::Err::Error(nom::error::Error::new(
            i,
            nom::error::ErrorKind::TakeWhile1,
        ))),
    }
}

/// Whether `i` is empty or starts with a separator.
fn at_boundary(i: &str) -> bool {
    i.as_bytes().first().is_none_or(|&b| is(SEP, b))
}

/// The arguments of one line, without allocation unless a quoted argument
/// holds an escape.
#[derive(Debug, Default)]
pub(crate) struct Args<'a> {
    items: [Option<Cow<'a, str>>; MAX_ARGS],
    len: usize,
}

impl<'a> Args<'a> {
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The arguments as text, without consuming them.
    pub(crate) fn values(&self) -> impl Iterator<Item = &str> {
        self.items.iter().flatten().map(|a| &**a)
    }

    pub(crate) fn into_values(self) -> impl Iterator<Item = Cow<'a, str>> {
        self.items.into_iter().flatten()
    }
}

/// `verb = 1*(ALPHA / "_")`.
fn verb_token(i: &str) -> IResult<&str, &str> {
    run(VERB, i)
}

/// `quoted = DQUOTE *(char but DQUOTE "\" C0 / "\" DQUOTE / "\\") DQUOTE`.
/// Borrows when the argument holds no escape.
fn quoted(i: &str) -> IResult<&str, Cow<'_, str>> {
    let plain = |c: char| c != '"' && c != '\\' && !(c.is_ascii_control() && c != '\x7f');
    let (mut i, first) = preceded(char('"'), take_while(plain)).parse(i)?;
    let mut owned: Option<String> = None;
    loop {
        if let Ok((after, _)) = char::<_, nom::error::Error<&str>>('"').parse(i) {
            let value = match owned {
                Some(s) => Cow::Owned(s),
                None => Cow::Borrowed(first),
            };
            return Ok((after, value));
        }
        let (after, escaped) = preceded(char('\\'), alt((char('"'), char('\\')))).parse(i)?;
        let (after, more) = take_while(plain).parse(after)?;
        let s = owned.get_or_insert_with(|| first.to_owned());
        s.push(escaped);
        s.push_str(more);
        i = after;
    }
}

/// `arg = bare / quoted`.
fn arg(i: &str) -> IResult<&str, Cow<'_, str>> {
    alt((quoted, (|i| run(BARE, i)).map(Cow::Borrowed))).parse(i)
}

fn skip_seps(i: &str) -> &str {
    let n = i.bytes().take_while(|&b| is(SEP, b)).count();
    &i[n..]
}

/// `*(SEP arg)`, leniently: separators before the first argument and after the
/// last are allowed (docs/protocol.md, decision 2). `verb` names the verb for
/// the too-many-arguments error.
pub(crate) fn args(mut i: &str, verb: Verb) -> Result<Args<'_>, RequestError> {
    let mut out = Args::default();
    loop {
        i = skip_seps(i);
        if i.is_empty() {
            return Ok(out);
        }
        let Ok((after, value)) = arg(i) else {
            return Err(syntax(i));
        };
        if !at_boundary(after) {
            // A bare argument stops before `"`, `\` or a control character;
            // a quoted one at its closing quote.
            let detail = if i.starts_with('"') {
                "a quoted argument must be followed by space, tab or comma"
            } else {
                BAD_BARE
            };
            return Err(RequestError::Syntax { detail });
        }
        if out.len == MAX_ARGS {
            return Err(RequestError::TooManyArguments { verb });
        }
        out.items[out.len] = Some(value);
        out.len += 1;
        i = after;
    }
}

/// The detail of a syntax error in a bare argument: a byte the grammar
/// allows only in a quoted one, or in none (PROTOCOL.md § Requests).
const BAD_BARE: &str = "control character, '\\' or '\"' inside a bare argument";

/// The syntax error for an argument that fails to parse at `i`.
fn syntax(i: &str) -> RequestError {
    let detail = if i.starts_with('"') {
        "unterminated quoted argument or bad escape (only \\\" and \\\\)"
    } else {
        BAD_BARE
    };
    RequestError::Syntax { detail }
}

/// A request line split into its verb and arguments, before the arguments
/// are checked against the verb.
pub(crate) struct Command<'a> {
    pub(crate) verb: Verb,
    pub(crate) args: Args<'a>,
}

/// `request = verb *(SEP arg)`. Returns `Ok(None)` for a blank line (only
/// separators), which is not a request.
pub(crate) fn command(line: &str) -> Result<Option<Command<'_>>, RequestError> {
    let line = line.trim_start_matches([' ', '\t']);
    if skip_seps(line).is_empty() {
        return Ok(None);
    }
    let Ok((after, token)) = verb_token(line) else {
        return Err(RequestError::Syntax {
            detail: "a request starts with a verb (letters and '_')",
        });
    };
    if !at_boundary(after) {
        return Err(RequestError::Syntax {
            detail: "the verb must be followed by a separator",
        });
    }
    let verb = Verb::from_token(token).ok_or(RequestError::UnknownVerb)?;
    let args = args(after, verb)?;
    if args.len() > verb.max_args() {
        return Err(RequestError::TooManyArguments { verb });
    }
    Ok(Some(Command { verb, args }))
}

/// `size`: a decimal u64 without sign (PROTOCOL.md § Upload payload).
pub(crate) fn size(text: &str) -> Option<u64> {
    all_consuming(u64_arg).parse(text).ok().map(|(_, n)| n)
}

/// Builds a [`Request`] from a verb and *all* its arguments, checking each
/// against its field. For `UPLOAD` the size is checked first, so a server
/// knows how many payload bytes to discard even when a name is bad.
///
/// The caller guarantees `args` holds at least `verb.required()` and at most
/// `verb.max_args()` items.
pub(crate) fn build<'a>(
    verb: Verb,
    args: impl IntoIterator<Item = Cow<'a, str>>,
) -> Result<Request<'a>, RequestError> {
    let mut it = args.into_iter();
    let bucket = |v: Option<Cow<'a, str>>| -> Result<BucketName<'a>, RequestError> {
        BucketName::new(v.unwrap_or_default()).map_err(|error| RequestError::BadName {
            verb,
            field: Field::Bucket,
            error,
        })
    };
    let file = |v: Option<Cow<'a, str>>| -> Result<FileName<'a>, RequestError> {
        FileName::new(v.unwrap_or_default()).map_err(|error| RequestError::BadName {
            verb,
            field: Field::Name,
            error,
        })
    };
    Ok(match verb {
        Verb::Hello => Request::Hello,
        Verb::Codes => Request::Codes,
        Verb::Quit => Request::Quit,
        Verb::ListBuckets => Request::ListBuckets,
        Verb::Help => Request::Help {
            topic: match it.next() {
                Some(t) => Some(Verb::from_token(&t).ok_or(RequestError::UnknownVerb)?),
                None => None,
            },
        },
        Verb::CreateBucket => Request::CreateBucket {
            bucket: bucket(it.next())?,
        },
        Verb::DeleteBucket => Request::DeleteBucket {
            bucket: bucket(it.next())?,
        },
        Verb::ListFiles => Request::ListFiles {
            bucket: match it.next() {
                Some(b) => Some(bucket(Some(b))?),
                None => None,
            },
        },
        Verb::Download | Verb::DeleteFile => {
            let b = bucket(it.next())?;
            let n = file(it.next())?;
            if verb == Verb::Download {
                Request::Download { bucket: b, name: n }
            } else {
                Request::DeleteFile { bucket: b, name: n }
            }
        }
        Verb::Upload => {
            let (b, n, s) = (it.next(), it.next(), it.next());
            let size = s.as_deref().and_then(size).ok_or(RequestError::BadSize)?;
            Request::Upload {
                bucket: bucket(b)?,
                name: file(n)?,
                size,
            }
        }
    })
}

/// The start of a reply as read from its first line.
#[derive(Debug)]
pub(crate) enum ReplyHead<'a> {
    /// A reply that is complete in one line (or a `900` header, whose payload
    /// follows).
    Complete(Reply<'a>),
    /// A list header: `count` item lines follow.
    List { code: ReplyCode, count: u64 },
}

fn u64_arg(i: &str) -> IResult<&str, u64> {
    map_res(digit1, str::parse::<u64>).parse(i)
}

/// `code SP mnemonic …` — PROTOCOL.md § Replies.
pub(crate) fn reply_head<'a>(line: &'a str) -> Result<ReplyHead<'a>, ReplyError> {
    let malformed = |detail| ReplyError::Syntax { detail };
    let Ok((i, number)) =
        map_res(digit1::<_, nom::error::Error<&str>>, str::parse::<u16>).parse(line)
    else {
        return Err(malformed("a reply starts with its numeric code"));
    };
    let code = ReplyCode::from_number(number).ok_or(ReplyError::UnknownCode)?;
    let Ok((i, mnemonic)) = preceded(
        char::<_, nom::error::Error<&str>>(' '),
        take_while1(|c: char| c.is_ascii_alphabetic()),
    )
    .parse(i) else {
        return Err(malformed("the code must be followed by SP and a mnemonic"));
    };
    if !mnemonic.eq_ignore_ascii_case(code.mnemonic()) {
        return Err(ReplyError::WrongMnemonic);
    }
    // `text` after one SP; `None` when absent or empty.
    let text = |i: &'a str| -> Result<Option<Cow<'a, str>>, ReplyError> {
        match i.strip_prefix(' ') {
            Some(t) if !t.is_empty() => Ok(Some(clean_text(t))),
            Some(_) => Ok(None),
            None if i.is_empty() => Ok(None),
            None => Err(malformed("text must follow the mnemonic after SP")),
        }
    };
    let number_after = |i| -> Result<u64, ReplyError> {
        all_consuming(preceded(char(' '), u64_arg))
            .parse(i)
            .map(|(_, n)| n)
            .map_err(|_| malformed("expected SP and a decimal number"))
    };
    Ok(match code.shape() {
        ReplyShape::Line => match code {
            ReplyCode::Ok => {
                let version: IResult<&str, &str> =
                    preceded(char(' '), tag(PROTOCOL_VERSION)).parse(i);
                let Ok((i, _)) = version else {
                    return Err(malformed("100 OK must name the protocol version BKT/1"));
                };
                let (_, server) = opt(preceded(char::<_, nom::error::Error<&str>>(' '), rest))
                    .parse(i)
                    .map_err(|_| malformed("bad hello"))?;
                match server {
                    Some(s) => ReplyHead::Complete(Reply::Hello {
                        server: clean_text(s),
                    }),
                    None if i.is_empty() => ReplyHead::Complete(Reply::Hello {
                        server: Cow::Borrowed(""),
                    }),
                    None => return Err(malformed("bad hello")),
                }
            }
            ReplyCode::Bye => {
                text(i)?;
                ReplyHead::Complete(Reply::Bye)
            }
            _ => ReplyHead::Complete(Reply::Success {
                code,
                text: text(i)?,
            }),
        },
        ReplyShape::Prompt => {
            let field = i
                .strip_prefix(' ')
                .and_then(Field::from_token)
                .ok_or(malformed("150 NEED must name a field"))?;
            ReplyHead::Complete(Reply::Need { field })
        }
        ReplyShape::Failure => {
            let Some(after) = i.strip_prefix(' ') else {
                return Err(malformed("a failure reply carries a reason"));
            };
            let (token, rest) = after.split_once(' ').unwrap_or((after, ""));
            let reason = Reason::from_token(token).ok_or(ReplyError::UnknownReason)?;
            ReplyHead::Complete(Reply::Failure {
                code,
                reason,
                text: (!rest.is_empty()).then(|| clean_text(rest)),
            })
        }
        ReplyShape::List => ReplyHead::List {
            code,
            count: number_after(i)?,
        },
        ReplyShape::Payload => ReplyHead::Complete(Reply::Download {
            size: number_after(i)?,
        }),
    })
}

/// The items of a list reply, collected as their lines arrive. Items are
/// owned: they outlive the line they were parsed from.
#[derive(Debug)]
pub(crate) enum ListBody {
    Help(Vec<Cow<'static, str>>),
    Codes(Vec<Cow<'static, str>>),
    Buckets(Vec<BucketName<'static>>),
    Files(Vec<FileEntry<'static>>),
}

impl ListBody {
    /// An empty body for a list header with `code` (210, 220, 400 or 800).
    /// `count` only sizes the first allocation, capped so a hostile count
    /// cannot reserve much memory.
    pub(crate) fn new(code: ReplyCode, count: u64) -> ListBody {
        let cap = usize::try_from(count.min(1024)).unwrap_or(0);
        match code {
            ReplyCode::BucketList => ListBody::Buckets(Vec::with_capacity(cap)),
            ReplyCode::FileList => ListBody::Files(Vec::with_capacity(cap)),
            ReplyCode::Codes => ListBody::Codes(Vec::with_capacity(cap)),
            _ => ListBody::Help(Vec::with_capacity(cap)),
        }
    }

    /// Parses one item line and appends it: the line as text for 210/220,
    /// one name for 400, `bucket name size` for 800.
    pub(crate) fn push(&mut self, line: &str) -> Result<(), ReplyError> {
        match self {
            ListBody::Help(v) | ListBody::Codes(v) => {
                v.push(Cow::Owned(clean_text(line).into_owned()));
            }
            ListBody::Buckets(v) => {
                let [b] = item_args(line, "a bucket line holds one name")?;
                v.push(BucketName::new(b.into_owned()).map_err(ReplyError::BadName)?);
            }
            ListBody::Files(v) => {
                let [b, n, s] = item_args(line, "a file line is `bucket name size`")?;
                v.push(FileEntry {
                    bucket: BucketName::new(b.into_owned()).map_err(ReplyError::BadName)?,
                    name: FileName::new(n.into_owned()).map_err(ReplyError::BadName)?,
                    size: size(&s).ok_or(ReplyError::Syntax {
                        detail: "a file size is a decimal number of bytes",
                    })?,
                });
            }
        }
        Ok(())
    }

    /// The complete reply.
    pub(crate) fn into_reply(self) -> Reply<'static> {
        match self {
            ListBody::Help(lines) => Reply::Help { lines },
            ListBody::Codes(lines) => Reply::Codes { lines },
            ListBody::Buckets(buckets) => Reply::Buckets { buckets },
            ListBody::Files(files) => Reply::Files { files },
        }
    }
}

/// Exactly `N` arguments of a list item line.
fn item_args<'a, const N: usize>(
    line: &'a str,
    detail: &'static str,
) -> Result<[Cow<'a, str>; N], ReplyError> {
    let bad = ReplyError::Syntax { detail };
    let a = args(line, Verb::ListFiles).map_err(|_| bad.clone())?;
    if a.len() != N {
        return Err(bad);
    }
    let mut it = a.into_values();
    Ok(std::array::from_fn(|_| it.next().unwrap_or_default()))
}
