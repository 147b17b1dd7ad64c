//! Replies: every code of PROTOCOL.md § Replies encoded and decoded with its
//! shape, every reason, lists (empty, quoted names), the 900 header, the
//! exact wire form, malformed replies, and encode errors.
#![allow(clippy::unwrap_used)]

mod common;

use std::borrow::Cow;

use bucket_proto::decode::{self, Decoded};
use bucket_proto::{
    EncodeError, Field, FileEntry, NameError, Reason, Reply, ReplyCode, ReplyError, ReplyShape,
    RequestError, Verb, encode, help,
};
use common::*;

/// PROTOCOL.md's code table, typed out independently: number, mnemonic,
/// whether it is a list, a failure.
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

const REASONS: &[&str] = &[
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

/// A sample reply for every code.
fn sample(code: ReplyCode) -> Reply<'static> {
    match code.shape() {
        ReplyShape::Line => match code {
            ReplyCode::Ok => Reply::Hello {
                server: "bucket-server/0.1.0".into(),
            },
            ReplyCode::Bye => Reply::Bye,
            _ => Reply::Success {
                code,
                text: Some("done".into()),
            },
        },
        ReplyShape::Prompt => Reply::Need { field: Field::Size },
        ReplyShape::Failure => Reply::Failure {
            code,
            reason: Reason::Io,
            text: Some("disk full".into()),
        },
        ReplyShape::List => match code {
            ReplyCode::Help => help::help(None),
            ReplyCode::Codes => Reply::code_table(),
            ReplyCode::BucketList => Reply::Buckets {
                buckets: vec![bucket("a"), bucket("b")],
            },
            ReplyCode::FileList => Reply::Files {
                files: vec![FileEntry {
                    bucket: bucket("a"),
                    name: file("x y"),
                    size: 7,
                }],
            },
            other => panic!("{other} is not a list"),
        },
        ReplyShape::Payload => Reply::Download { size: 12 },
    }
}

fn complete(bytes: &[u8]) -> (Reply<'_>, usize) {
    match decode::reply(bytes) {
        Ok(Decoded::Complete { value, consumed }) => (value, consumed),
        other => panic!("{:?}: {other:?}", String::from_utf8_lossy(bytes)),
    }
}

fn reply_err(bytes: &[u8]) -> ReplyError {
    match decode::reply(bytes) {
        Err(e) => e,
        Ok(other) => panic!("{:?} decoded: {other:?}", String::from_utf8_lossy(bytes)),
    }
}

fn roundtrip(reply: &Reply<'_>) -> Vec<u8> {
    let wire = enc_reply(reply);
    let (back, consumed) = complete(&wire);
    assert_eq!(&back, reply, "{:?}", String::from_utf8_lossy(&wire));
    assert_eq!(consumed, wire.len());
    wire
}

#[test]
fn the_code_table_matches_protocol_md() {
    assert_eq!(ReplyCode::iter().len(), TABLE.len());
    for (code, &(num, mn)) in ReplyCode::iter().zip(TABLE) {
        assert_eq!((code.number(), code.mnemonic()), (num, mn));
        let list = matches!(num, 210 | 220 | 400 | 800);
        assert_eq!(code.shape() == ReplyShape::List, list, "{code}");
        assert_eq!(code.is_failure(), num == 500 || num % 100 == 1, "{code}");
        assert_eq!(code.shape() == ReplyShape::Payload, num == 900, "{code}");
        assert_eq!(code.is_final(), num != 150);
    }
    assert_eq!(Reason::iter().len(), REASONS.len());
    for (reason, &tok) in Reason::iter().zip(REASONS) {
        assert_eq!(reason.as_str(), tok);
        assert_eq!(Reason::from_token(tok), Some(reason));
    }
}

/// `CODES` sends each code's meaning: word for word the table of
/// PROTOCOL.md (at the workspace root; the crate packages it), its Markdown code marks
/// aside.
#[test]
fn the_code_meanings_are_protocol_md_word_for_word() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/PROTOCOL.md");
    let text = std::fs::read_to_string(path).unwrap();
    let rows: Vec<(u16, String, String)> = text
        .lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let [_, num, mnemonic, meaning, _] = cells[..] else {
                return None;
            };
            Some((
                num.parse().ok()?,
                mnemonic.to_owned(),
                meaning.replace('`', ""),
            ))
        })
        .collect();
    assert_eq!(rows.len(), ReplyCode::iter().len(), "{rows:?}");
    for (code, (num, mnemonic, meaning)) in ReplyCode::iter().zip(&rows) {
        assert_eq!(
            (code.number(), code.mnemonic(), code.meaning()),
            (*num, mnemonic.as_str(), meaning.as_str())
        );
    }
}

#[test]
fn every_code_encodes_and_decodes_with_its_shape() {
    for code in ReplyCode::iter() {
        let reply = sample(code);
        assert_eq!(reply.code(), code);
        let wire = roundtrip(&reply);
        let text = String::from_utf8(wire.clone()).unwrap();
        let first = text.lines().next().unwrap();
        let prefix = format!("{} {}", code.number(), code.mnemonic());
        assert!(
            first == prefix || first.starts_with(&format!("{prefix} ")),
            "{first:?}"
        );
        assert!(text.ends_with('\n'));
        match code.shape() {
            ReplyShape::Line | ReplyShape::Prompt | ReplyShape::Failure | ReplyShape::Payload => {
                assert_eq!(text.lines().count(), 1, "{text:?}");
            }
            ReplyShape::List => {
                let count: usize = first[prefix.len() + 1..].parse().unwrap();
                assert!(count > 0);
                assert_eq!(text.lines().count(), count + 1, "{text:?}");
            }
        }
        assert_eq!(reply.is_final(), code != ReplyCode::Need);
        assert_eq!(reply.reason().is_some(), code.is_failure());
        assert_eq!(
            reply.payload_len().is_some(),
            code == ReplyCode::Download,
            "{code}"
        );
    }
}

#[test]
fn exact_wire_forms() {
    let cases: Vec<(Reply<'static>, &str)> = vec![
        (
            Reply::Hello {
                server: "srv/1".into(),
            },
            "100 OK BKT/1 srv/1\n",
        ),
        (Reply::Hello { server: "".into() }, "100 OK BKT/1\n"),
        (
            Reply::Need {
                field: Field::Bucket,
            },
            "150 NEED bucket\n",
        ),
        (Reply::Need { field: Field::Name }, "150 NEED name\n"),
        (Reply::Need { field: Field::Size }, "150 NEED size\n"),
        (Reply::Need { field: Field::Verb }, "150 NEED verb\n"),
        (Reply::Bye, "200 BYE\n"),
        (Reply::success(Verb::CreateBucket).unwrap(), "300 BCS\n"),
        (Reply::success(Verb::DeleteBucket).unwrap(), "600 DBS\n"),
        (Reply::success(Verb::Upload).unwrap(), "700 FUBS\n"),
        (Reply::success(Verb::DeleteFile).unwrap(), "1000 DFS\n"),
        (
            Reply::Success {
                code: ReplyCode::BucketCreated,
                text: Some("made it".into()),
            },
            "300 BCS made it\n",
        ),
        (
            Reply::failure(Verb::Upload, Reason::BadName, "bad name"),
            "701 FUBF BAD_NAME bad name\n",
        ),
        (
            Reply::Failure {
                code: ReplyCode::FileDeletionFailed,
                reason: Reason::NoSuchFile,
                text: None,
            },
            "1001 DFF NO_SUCH_FILE\n",
        ),
        (
            Reply::bad_command(Reason::Busy, "full"),
            "500 BCMD BUSY full\n",
        ),
        (Reply::Buckets { buckets: vec![] }, "400 LS 0\n"),
        (
            Reply::Buckets {
                buckets: vec![bucket("a"), bucket("b.c")],
            },
            "400 LS 2\na\nb.c\n",
        ),
        (Reply::Files { files: vec![] }, "800 LFS 0\n"),
        (
            Reply::Files {
                files: vec![
                    FileEntry {
                        bucket: bucket("b"),
                        name: file("cat 1.png"),
                        size: 5,
                    },
                    FileEntry {
                        bucket: bucket("b"),
                        name: file("plain"),
                        size: 0,
                    },
                    FileEntry {
                        bucket: bucket("b"),
                        name: file("say \"hi\", ok"),
                        size: u64::MAX,
                    },
                ],
            },
            "800 LFS 3\nb \"cat 1.png\" 5\nb plain 0\nb \"say \\\"hi\\\", ok\" 18446744073709551615\n",
        ),
        (Reply::Help { lines: vec![] }, "210 HELP 0\n"),
        (
            Reply::Help {
                lines: vec!["one".into(), "".into(), "  three ".into()],
            },
            "210 HELP 3\none\n\n  three \n",
        ),
        (Reply::Codes { lines: vec![] }, "220 CODES 0\n"),
        (Reply::Download { size: 0 }, "900 FDBS 0\n"),
        (Reply::Download { size: 5 }, "900 FDBS 5\n"),
        (
            Reply::Download { size: u64::MAX },
            "900 FDBS 18446744073709551615\n",
        ),
    ];
    for (reply, wire) in cases {
        assert_eq!(
            String::from_utf8(enc_reply(&reply)).unwrap(),
            wire,
            "{reply:?}"
        );
        roundtrip(&reply);
    }
}

#[test]
fn every_reason_in_every_failure_reply() {
    for code in ReplyCode::iter().filter(|c| c.is_failure()) {
        for reason in Reason::iter() {
            for text in [None, Some(Cow::Borrowed("some text, with \"quotes\""))] {
                let reply = Reply::Failure {
                    code,
                    reason,
                    text: text.clone(),
                };
                let wire = roundtrip(&reply);
                let mut want = format!("{} {} {}", code.number(), code.mnemonic(), reason);
                if let Some(t) = &text {
                    want.push(' ');
                    want.push_str(t);
                }
                want.push('\n');
                assert_eq!(String::from_utf8(wire).unwrap(), want);
            }
        }
    }
}

#[test]
fn failure_helpers_use_the_verbs_own_codes() {
    for &verb in Verb::ALL {
        let f = Reply::failure(verb, Reason::Io, "x");
        assert_eq!(f.code(), verb.failure_code());
        assert!(f.code().is_failure());
        roundtrip(&f);
        let s = Reply::success(verb);
        let one_line = matches!(
            verb,
            Verb::CreateBucket | Verb::DeleteBucket | Verb::Upload | Verb::DeleteFile
        );
        assert_eq!(s.is_some(), one_line, "{verb}");
        if let Some(s) = s {
            assert_eq!(s.code(), verb.success_code());
            roundtrip(&s);
        }
    }
    assert_eq!(Verb::Hello.failure_code(), ReplyCode::BadCommand);
    assert_eq!(Verb::Upload.failure_code(), ReplyCode::FileUploadFailed);
    assert_eq!(Verb::Download.success_code(), ReplyCode::Download);
}

#[test]
fn request_errors_map_to_their_replies() {
    let cases = [
        (
            RequestError::LineTooLong { max: 4096 },
            "500 BCMD LINE_TOO_LONG",
        ),
        (RequestError::InvalidUtf8, "500 BCMD SYNTAX"),
        (RequestError::Syntax { detail: "x" }, "500 BCMD SYNTAX"),
        (RequestError::UnknownVerb, "500 BCMD UNKNOWN_VERB"),
        (
            RequestError::TooManyArguments { verb: Verb::Upload },
            "500 BCMD SYNTAX",
        ),
        (
            RequestError::MissingArgument {
                verb: Verb::Upload,
                field: Field::Size,
            },
            "500 BCMD SYNTAX",
        ),
        (RequestError::BadSize, "500 BCMD SYNTAX"),
        (
            RequestError::BadName {
                verb: Verb::DeleteBucket,
                field: Field::Bucket,
                error: NameError::Empty,
            },
            "601 DBF BAD_NAME",
        ),
        (
            RequestError::Aborted {
                verb: Verb::Download,
            },
            "901 FDBF ABORTED",
        ),
        (
            RequestError::TooLarge { size: 10, max: 5 },
            "701 FUBF TOO_LARGE",
        ),
    ];
    for (error, want) in cases {
        let reply = error.reply();
        assert_eq!(head(&reply), want, "{error:?}");
        let wire = roundtrip(&reply);
        assert!(String::from_utf8(wire).unwrap().starts_with(want));
    }
}

#[test]
fn lists_with_awkward_names() {
    let names = [
        "with space",
        "comma,here",
        "\"quoted\"",
        "back\"slash-free\"",
        " lead",
        "trail ",
        "ünïcødé✓",
        ".hidden",
        "...",
        "x",
    ];
    let files: Vec<FileEntry<'static>> = names
        .iter()
        .enumerate()
        .map(|(i, n)| FileEntry {
            bucket: bucket("b-1"),
            name: file(n),
            size: i as u64 * 1000,
        })
        .collect();
    let reply = Reply::Files {
        files: files.clone(),
    };
    let wire = roundtrip(&reply);
    let text = String::from_utf8(wire).unwrap();
    assert!(text.contains("b-1 \"with space\" 0\n"), "{text}");
    assert!(text.contains("b-1 \"comma,here\" 1000\n"), "{text}");
    assert!(text.contains("b-1 \"\\\"quoted\\\"\" 2000\n"), "{text}");
    assert!(text.contains("b-1 x 9000\n"), "{text}");
    assert!(
        text.contains("b-1 ünïcødé✓ 6000\n"),
        "non-ASCII needs no quotes: {text}"
    );
    // Help lines are free text; any quotes and commas are kept as they are.
    roundtrip(&Reply::Help {
        lines: names.iter().map(|n| Cow::Borrowed(*n)).collect(),
    });
    // Item lines may end in CRLF, and names may be quoted by the server even
    // when they need not be.
    let (reply, _) = complete(b"800 LFS 2\r\n\"b\" \"x\" 1\r\nb,y,2\n");
    assert_eq!(
        reply,
        Reply::Files {
            files: vec![
                FileEntry {
                    bucket: bucket("b"),
                    name: file("x"),
                    size: 1
                },
                FileEntry {
                    bucket: bucket("b"),
                    name: file("y"),
                    size: 2
                },
            ]
        }
    );
    let (reply, _) = complete(b"400 LS 2\n\"a\"\nb\n");
    assert_eq!(
        reply,
        Reply::Buckets {
            buckets: vec![bucket("a"), bucket("b")]
        }
    );
}

#[test]
fn the_code_table_and_help_replies() {
    let Reply::Codes { lines } = Reply::code_table() else {
        panic!("not 220");
    };
    assert_eq!(lines.len(), TABLE.len());
    for (line, &(num, mn)) in lines.iter().zip(TABLE) {
        assert!(line.starts_with(&format!("{num} {mn} ")), "{line}");
    }
    roundtrip(&Reply::code_table());
    roundtrip(&help::help(None));
    for &verb in Verb::ALL {
        let reply = help::help(Some(verb));
        assert_eq!(reply.code(), ReplyCode::Help);
        roundtrip(&reply);
    }
}

#[test]
fn download_header_consumes_only_its_line() {
    let wire = b"900 FDBS 5\nhello300 BCS\n";
    let (reply, consumed) = complete(wire);
    assert_eq!(reply, Reply::Download { size: 5 });
    assert_eq!(consumed, 11);
    assert_eq!(reply.payload_len(), Some(5));
    let (reply, consumed) = complete(b"900 FDBS 0\r\n");
    assert_eq!(reply, Reply::Download { size: 0 });
    assert_eq!(consumed, 12);
}

#[test]
fn decoder_leniency_current_behaviour() {
    // Mnemonics and reasons and fields are matched without regard to case.
    assert_eq!(
        complete(b"300 bcs\n").0,
        Reply::Success {
            code: ReplyCode::BucketCreated,
            text: None
        }
    );
    assert_eq!(
        complete(b"701 fubf bad_name x\n").0,
        Reply::failure(Verb::Upload, Reason::BadName, "x")
    );
    assert_eq!(
        complete(b"150 NEED Bucket\n").0,
        Reply::Need {
            field: Field::Bucket
        }
    );
    // CRLF is accepted.
    assert_eq!(complete(b"200 BYE\r\n"), (Reply::Bye, 9));
    // 200 BYE may carry text, which is dropped.
    assert_eq!(complete(b"200 BYE see you\n"), (Reply::Bye, 16));
    // A trailing space means no text.
    assert_eq!(
        complete(b"300 BCS \n").0,
        Reply::Success {
            code: ReplyCode::BucketCreated,
            text: None
        }
    );
}

#[test]
fn incomplete_replies() {
    for partial in [
        &b""[..],
        b"300",
        b"300 BCS",
        b"400 LS 2\n",
        b"400 LS 2\na\n",
        b"400 LS 2\na\nb",
        b"800 LFS 1\nb x",
        b"210 HELP 1\n",
        b"900 FDBS 5",
    ] {
        assert_eq!(
            decode::reply(partial),
            Ok(Decoded::Incomplete),
            "{:?}",
            String::from_utf8_lossy(partial)
        );
    }
    // A huge count is just waited for; nothing is reserved for it.
    assert_eq!(
        decode::reply(b"400 LS 18446744073709551615\na\n"),
        Ok(Decoded::Incomplete)
    );
}

#[test]
fn malformed_replies_are_errors() {
    let syntax = |e: &ReplyError| matches!(e, ReplyError::Syntax { .. });
    type Check<'a> = &'a dyn Fn(&ReplyError) -> bool;
    let cases: Vec<(&[u8], Check<'_>)> = vec![
        (b"999 NOPE\n", &|e| *e == ReplyError::UnknownCode),
        (b"0 OK\n", &|e| *e == ReplyError::UnknownCode),
        (b"302 BCS\n", &|e| *e == ReplyError::UnknownCode),
        (b"301 BCS x\n", &|e| *e == ReplyError::WrongMnemonic),
        (b"300 BCF\n", &|e| *e == ReplyError::WrongMnemonic),
        (b"300 BCSX\n", &|e| *e == ReplyError::WrongMnemonic),
        (b"900 FDBF 5\n", &|e| *e == ReplyError::WrongMnemonic),
        (b"701 FUBF NOPE text\n", &|e| {
            *e == ReplyError::UnknownReason
        }),
        (b"701 FUBF \n", &|e| *e == ReplyError::UnknownReason),
        (b"500 BCMD syntax_error\n", &|e| {
            *e == ReplyError::UnknownReason
        }),
        (b"701 FUBF\n", &syntax),
        (b"300BCS\n", &syntax),
        (b"300  BCS\n", &syntax),
        (b"300 BCS1\n", &syntax),
        (b"BCS 300\n", &syntax),
        (b"\n", &syntax),
        (b"abc\n", &syntax),
        (b"-300 BCS\n", &syntax),
        (b"400 LS\n", &syntax),
        (b"400 LS x\n", &syntax),
        (b"400 LS -1\n", &syntax),
        (b"400 LS +1\n", &syntax),
        (b"400 LS 1 2\n", &syntax),
        (b"400 LS 1x\n", &syntax),
        (b"400 LS 99999999999999999999999\n", &syntax),
        (b"400 LS 1\na b\n", &syntax),
        (b"400 LS 1\n\n", &syntax),
        (b"400 LS 1\n.x\n", &|e| {
            *e == ReplyError::BadName(NameError::LeadingDot)
        }),
        (b"400 LS 1\n\"a/b\"\n", &|e| {
            *e == ReplyError::BadName(NameError::InvalidChar('/'))
        }),
        (b"800 LFS 1\nb f\n", &syntax),
        (b"800 LFS 1\nb f x\n", &syntax),
        (b"800 LFS 1\nb f -1\n", &syntax),
        (b"800 LFS 1\nb f 1 2\n", &syntax),
        (b"800 LFS 1\nb \"unterminated 1\n", &syntax),
        (b"800 LFS 1\n../b f 1\n", &|e| {
            *e == ReplyError::BadName(NameError::InvalidChar('/'))
        }),
        (b"800 LFS 1\nb .. 1\n", &|e| {
            *e == ReplyError::BadName(NameError::DotName)
        }),
        (b"900 FDBS\n", &syntax),
        (b"900 FDBS -5\n", &syntax),
        (b"900 FDBS 5 x\n", &syntax),
        (b"900 FDBS x\n", &syntax),
        (b"150 NEED\n", &syntax),
        (b"150 NEED colour\n", &syntax),
        (b"150 NEED bucket name\n", &syntax),
        (b"100 OK\n", &syntax),
        (b"100 OK BKT/2 x\n", &syntax),
        (b"100 OK BKT/1x\n", &syntax),
        (b"100 OK BKT/10\n", &syntax),
        (b"300 BCS \xff\n", &|e| *e == ReplyError::InvalidUtf8),
        (b"400 LS 1\n\xc3\n", &|e| *e == ReplyError::InvalidUtf8),
    ];
    for (bytes, check) in cases {
        let err = reply_err(bytes);
        assert!(check(&err), "{:?}: {err:?}", String::from_utf8_lossy(bytes));
    }
    // Reply lines are limited to MAX_REPLY_LINE_LEN bytes, terminator included.
    let max = bucket_proto::MAX_REPLY_LINE_LEN;
    let mut ok = b"300 BCS ".to_vec();
    ok.resize(max - 1, b'x');
    ok.push(b'\n');
    assert_eq!(complete(&ok).1, max);
    let mut long = b"300 BCS ".to_vec();
    long.resize(max, b'x');
    long.push(b'\n');
    assert_eq!(reply_err(&long), ReplyError::LineTooLong { max });
    // Even without a LF yet.
    assert_eq!(reply_err(&long[..max]), ReplyError::LineTooLong { max });
}

#[test]
fn encode_refuses_mismatched_codes_and_appends_nothing() {
    let success_codes = [
        ReplyCode::BucketCreated,
        ReplyCode::BucketDeleted,
        ReplyCode::FileUploaded,
        ReplyCode::FileDeleted,
    ];
    for code in ReplyCode::iter() {
        let mut out = b"previous\n".to_vec();
        let result = encode::reply(&Reply::Success { code, text: None }, &mut out);
        if success_codes.contains(&code) {
            assert_eq!(result, Ok(()));
        } else {
            assert_eq!(result, Err(EncodeError::NotASuccessCode(code)));
            assert_eq!(out, b"previous\n");
        }
        let mut out = b"previous\n".to_vec();
        let failure = Reply::Failure {
            code,
            reason: Reason::Io,
            text: Some("t".into()),
        };
        let result = encode::reply(&failure, &mut out);
        if code.is_failure() {
            assert_eq!(result, Ok(()));
            assert!(out.starts_with(b"previous\n"));
        } else {
            assert_eq!(result, Err(EncodeError::NotAFailureCode(code)));
            assert_eq!(out, b"previous\n");
        }
    }
}

#[test]
fn control_characters_in_free_text_become_spaces() {
    let reply = Reply::failure(Verb::Upload, Reason::Io, "a\nb\rc\td\x00e\x7ff");
    assert_eq!(enc_reply(&reply), b"701 FUBF IO a b c d e f\n");
    let reply = Reply::Hello {
        server: "evil\n300 BCS".into(),
    };
    assert_eq!(enc_reply(&reply), b"100 OK BKT/1 evil 300 BCS\n");
    let reply = Reply::Help {
        lines: vec!["two\nlines".into()],
    };
    assert_eq!(enc_reply(&reply), b"210 HELP 1\ntwo lines\n");
    // Each still decodes as exactly one reply.
    for r in [
        Reply::failure(Verb::Upload, Reason::Io, "x\ny"),
        Reply::Success {
            code: ReplyCode::FileDeleted,
            text: Some("x\r\n500 BCMD IO".into()),
        },
    ] {
        let wire = enc_reply(&r);
        assert_eq!(complete(&wire).1, wire.len());
        assert_eq!(wire.iter().filter(|&&b| b == b'\n').count(), 1);
    }
}

#[test]
fn control_characters_a_server_sends_in_free_text_decode_as_spaces() {
    // A hostile server's text: an ANSI escape (ESC, C0), a C1 CSI (U+009B),
    // a bell, DEL, CR and tab. None of it may reach a program that prints
    // the decoded text; printable non-ASCII (U+00A9) stays.
    let nasty = "\x1b[2J\u{9b}31m\x07x\x7f\r\t\u{a9}";
    let clean = " [2J 31m x   \u{a9}";
    let failure = format!("701 FUBF IO {nasty}\n");
    let (reply, _) = complete(failure.as_bytes());
    assert_eq!(reply, Reply::failure(Verb::Upload, Reason::Io, clean));
    let hello = format!("100 OK BKT/1 {nasty}\n");
    let (reply, _) = complete(hello.as_bytes());
    assert_eq!(
        reply,
        Reply::Hello {
            server: clean.into()
        }
    );
    let success = format!("300 BCS {nasty}\n");
    let (reply, _) = complete(success.as_bytes());
    let text = Some(clean.into());
    let code = ReplyCode::BucketCreated;
    assert_eq!(reply, Reply::Success { code, text });
    for head in ["210 HELP", "220 CODES"] {
        let list = format!("{head} 2\n{nasty}\nplain\n");
        let (reply, consumed) = complete(list.as_bytes());
        assert_eq!(consumed, list.len());
        let lines = match reply {
            Reply::Help { lines } | Reply::Codes { lines } => lines,
            other => panic!("{other:?}"),
        };
        assert_eq!(lines, [clean, "plain"]);
    }
    // Decoded text is what the encoder would write: encoding it again gives
    // the same reply back.
    let (reply, _) = complete(failure.as_bytes());
    roundtrip(&reply);
    // Text without a control character is still borrowed from the input.
    let (reply, _) = complete(b"701 FUBF IO disk \xc2\xa9 full\n");
    match reply {
        Reply::Failure {
            text: Some(Cow::Borrowed(text)),
            ..
        } => assert_eq!(text, "disk \u{a9} full"),
        other => panic!("text copied: {other:?}"),
    }
}

#[test]
fn reply_code_and_reason_text_forms() {
    for (code, &(num, mn)) in ReplyCode::iter().zip(TABLE) {
        assert_eq!(code.to_string(), format!("{num} {mn}"));
        assert_eq!(format!("{num} {mn}").parse::<ReplyCode>(), Ok(code));
        assert_eq!(num.to_string().parse::<ReplyCode>(), Ok(code));
        assert_eq!(mn.to_lowercase().parse::<ReplyCode>(), Ok(code));
    }
    for bad in ["", "301 BCS", "999", "X"] {
        assert!(bad.parse::<ReplyCode>().is_err(), "{bad}");
    }
    for reason in Reason::iter() {
        assert_eq!(reason.to_string().parse::<Reason>(), Ok(reason));
    }
    assert!("NOPE".parse::<Reason>().is_err());
}
