//! Differential tests of the request fast path (`scan.rs`, crate-private)
//! against the nom grammar, which is the reference: for every input,
//! [`decode::request`] (fast path first, grammar when it declines) must give
//! exactly what [`decode::request_reference`] (the grammar alone) gives, the
//! same request or the same error, consuming the same bytes; and a
//! `ServerSession` (which runs the fast path on its own) must read the line
//! the same way.
//!
//! Inputs are built from an alphabet biased toward the grammar: verbs and
//! aliases in random case, separators, bare tokens of name-ish bytes, the
//! names the rules refuse (`.`, `..`, `.bkt-…`, `/`), sizes around the u64
//! limit, quotes, backslashes, controls, non-ASCII and invalid UTF-8, every
//! line terminator, and data after the line.
#![allow(clippy::unwrap_used)]

mod common;

use bucket_proto::decode::{self, Decoded};
use bucket_proto::{Field, MAX_LINE_LEN, Request, RequestError, ServerSession, ServerState, Verb};
use common::SEv;
use proptest::prelude::*;
use proptest::sample::select;

/// Every spelling of every verb, upper-case.
fn spellings() -> Vec<&'static str> {
    Verb::ALL
        .iter()
        .flat_map(|v| std::iter::once(v.as_str()).chain(v.aliases().iter().copied()))
        .collect()
}

/// A verb spelling (or a near miss) in random case.
fn verb_token() -> impl Strategy<Value = Vec<u8>> {
    let near_misses = vec![
        "HELL",
        "LIST",
        "LS",
        "UPLOAD_FILES",
        "DOWNLOAD_FILE_",
        "X",
        "_",
    ];
    (
        prop_oneof![
            8 => select(spellings()),
            1 => select(near_misses),
        ],
        any::<u16>(),
    )
        .prop_map(|(spelling, case)| random_case(spelling, case))
}

/// One or more separators, sometimes none.
fn separator() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        8 => Just(b" ".to_vec()),
        1 => Just(b",".to_vec()),
        1 => Just(b"\t".to_vec()),
        1 => "[ \t,]{2,4}".prop_map(String::into_bytes),
        1 => Just(Vec::new()),
    ]
}

/// An argument: mostly plausible names and sizes, and every kind of byte
/// the fast path must leave to the grammar.
fn argument() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        8 => "[A-Za-z0-9._-]{1,12}".prop_map(String::into_bytes),
        4 => "[0-9]{1,22}".prop_map(String::into_bytes),
        1 => select(vec![
            "18446744073709551615",
            "18446744073709551616",
            "00000000000000000000000000042",
            "0",
            "-1",
            "+1",
        ])
        .prop_map(|s| s.as_bytes().to_vec()),
        2 => select(vec![
            ".", "..", "...", ".bkt-", ".bkt-x", ".bkt", "x.bkt-y", ".hidden", "/", "a/b", "-",
            "_",
        ])
        .prop_map(|s| s.as_bytes().to_vec()),
        2 => verb_token(),
        1 => "[A-Za-z0-9._-]{60,66}".prop_map(String::into_bytes),
        1 => "[a-z]{250,260}".prop_map(String::into_bytes),
        1 => select(vec![
            "\"a b\"", "\"", "a\"b", "\\", "a\\b", "\"x\\\"y\"", "é", "ünï", "✓",
        ])
        .prop_map(|s| s.as_bytes().to_vec()),
        1 => prop::collection::vec(
            select(vec![0x00u8, 0x01, 0x1b, 0x7f, 0x80, 0xc3, 0xe2, 0xff, b'\r']),
            1..3,
        ),
        1 => ("[a-z]{0,9}", any::<u8>(), "[a-z]{0,9}").prop_map(|(a, b, c)| {
            let mut v = a.into_bytes();
            v.push(b);
            v.extend_from_slice(c.as_bytes());
            v
        }),
    ]
}

/// An argument for `field`: usually one the fast path takes, often one
/// right at the edge of the field's rules, sometimes anything.
fn argument_for(field: Field) -> BoxedStrategy<Vec<u8>> {
    let text = |s: &str| s.as_bytes().to_vec();
    let (plausible, edges) = match field {
        Field::Bucket => (
            "[A-Za-z0-9_-][A-Za-z0-9._-]{0,14}"
                .prop_map(String::into_bytes)
                .boxed(),
            prop_oneof![
                select(vec![
                    ".", "..", ".hidden", "a/b", "-", "_", "a.", "a:b", "a+b"
                ])
                .prop_map(text),
                "[a-z]{62,64}".prop_map(String::into_bytes),
            ]
            .boxed(),
        ),
        Field::Name => (
            "[A-Za-z0-9._-][A-Za-z0-9._+=:;!?'()-]{0,24}"
                .prop_map(String::into_bytes)
                .boxed(),
            prop_oneof![
                select(vec![
                    ".", "..", "...", ".bkt-", ".bkt-x", ".bkt", ".BKT-x", "x.bkt-y", "/", "a/b",
                    "a/", "/a", ".hidden",
                ])
                .prop_map(text),
                "[a-z]{254,256}".prop_map(String::into_bytes),
            ]
            .boxed(),
        ),
        Field::Size => (
            "[0-9]{1,20}".prop_map(String::into_bytes).boxed(),
            prop_oneof![
                select(vec![
                    "0",
                    "18446744073709551615",
                    "18446744073709551616",
                    "99999999999999999999",
                    "0000000000000000000000018446744073709551615",
                    "9999999999999999",
                    "10000000000000000",
                    "-1",
                    "+1",
                    "1_000",
                ])
                .prop_map(text),
                "[0-9]{15,21}".prop_map(String::into_bytes),
            ]
            .boxed(),
        ),
        Field::Verb => (
            verb_token().boxed(),
            select(vec!["up-load", "ls_f1", "DOWNLOAD_FILES", "help", "_"])
                .prop_map(text)
                .boxed(),
        ),
    };
    prop_oneof![6 => plausible, 2 => edges, 1 => argument()].boxed()
}

/// A verb in random case with arguments shaped after its fields: sometimes
/// one short, sometimes one too many.
fn shaped_line() -> impl Strategy<Value = Vec<u8>> {
    select(Verb::ALL).prop_flat_map(|verb| {
        let fields: Vec<Field> = verb
            .required()
            .iter()
            .chain(verb.optional())
            .copied()
            .collect();
        let arguments: Vec<_> = fields.into_iter().map(argument_for).collect();
        (
            verb_token_for(verb),
            arguments,
            prop_oneof![6 => Just(0usize), 1 => Just(1), 1 => Just(2)],
            prop::option::weighted(0.1, argument()),
            prop::collection::vec(separator(), 4),
        )
            .prop_map(|(verb, mut arguments, drop, extra, seps)| {
                arguments.truncate(arguments.len().saturating_sub(drop));
                arguments.extend(extra);
                let mut line = verb;
                for (arg, sep) in arguments.into_iter().zip(seps) {
                    if sep.is_empty() {
                        line.push(b' ');
                    } else {
                        line.extend(sep);
                    }
                    line.extend(arg);
                }
                line
            })
    })
}

/// One of `verb`'s spellings in random case.
fn verb_token_for(verb: Verb) -> impl Strategy<Value = Vec<u8>> {
    let spellings: Vec<&'static str> = std::iter::once(verb.as_str())
        .chain(verb.aliases().iter().copied())
        .collect();
    (select(spellings), any::<u16>()).prop_map(|(s, case)| random_case(s, case))
}

/// `spelling` with the letters whose bit is set in `case` lower-cased.
fn random_case(spelling: &str, case: u16) -> Vec<u8> {
    spelling
        .bytes()
        .enumerate()
        .map(|(i, b)| {
            if case & (1 << (i % 16)) != 0 {
                b.to_ascii_lowercase()
            } else {
                b
            }
        })
        .collect()
}

/// A free-form line: a verb (or not) and any arguments.
fn free_line() -> impl Strategy<Value = Vec<u8>> {
    (
        prop_oneof![10 => verb_token(), 1 => argument()],
        prop::collection::vec((separator(), argument()), 0..5),
    )
        .prop_map(|(first, rest)| {
            let mut line = first;
            for (sep, arg) in rest {
                line.extend(sep);
                line.extend(arg);
            }
            line
        })
}

/// A request line biased toward the grammar, with its terminator and
/// whatever follows it.
fn request_bytes() -> impl Strategy<Value = Vec<u8>> {
    (
        prop_oneof![6 => Just(Vec::new()), 1 => "[ \t,]{1,3}".prop_map(String::into_bytes)],
        prop_oneof![3 => shaped_line(), 1 => free_line()],
        prop_oneof![3 => Just(Vec::new()), 1 => separator()],
        prop_oneof![
            8 => Just(&b"\n"[..]),
            4 => Just(&b"\r\n"[..]),
            1 => select(vec![&b"\r\r\n"[..], b"\r", b"", b"\n\n"]),
        ],
        prop_oneof![
            4 => Just(Vec::new()),
            1 => Just(b"HELLO\n".to_vec()),
            1 => prop::collection::vec(any::<u8>(), 0..16),
        ],
    )
        .prop_map(|(lead, body, trail, end, after)| {
            let mut line = lead;
            line.extend(body);
            line.extend(trail);
            line.extend_from_slice(end);
            line.extend(after);
            line
        })
}

/// The fast path and the grammar agree on `input`, and so does a server
/// session fed its first line.
fn agree(input: &[u8]) -> Result<(), TestCaseError> {
    let fast = decode::request(input);
    let reference = decode::request_reference(input);
    prop_assert_eq!(
        &fast,
        &reference,
        "input {:?}",
        String::from_utf8_lossy(input)
    );

    // The session runs the fast path on the framed line itself.
    let Some(lf) = input[..input.len().min(MAX_LINE_LEN)]
        .iter()
        .position(|&b| b == b'\n')
    else {
        return Ok(());
    };
    let mut server = ServerSession::default();
    server.receive(&input[..=lf]);
    let event = server.poll_event().map(SEv::from_event);
    let expected = match reference {
        Ok(Decoded::Complete { value, .. }) => Some(SEv::Request(value.into_owned())),
        Ok(Decoded::Incomplete) => None,
        Err(RequestError::Syntax {
            detail: "blank line",
        }) => None,
        Err(RequestError::MissingArgument { verb, field }) => Some(SEv::Prompted { verb, field }),
        Err(error) => Some(SEv::Rejected(error)),
    };
    prop_assert_eq!(
        &event,
        &expected,
        "input {:?}",
        String::from_utf8_lossy(input)
    );
    if expected.is_none() {
        prop_assert_eq!(server.state(), ServerState::Idle);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    #[test]
    fn fast_path_agrees_with_the_grammar_on_grammar_like_lines(input in request_bytes()) {
        agree(&input)?;
    }

    #[test]
    fn fast_path_agrees_with_the_grammar_on_arbitrary_bytes(
        input in prop::collection::vec(any::<u8>(), 0..48),
    ) {
        agree(&input)?;
    }
}

/// Lines the fast path takes, checked against the grammar and against the
/// request they must give, so the differential tests above cannot pass by
/// the fast path declining everything.
#[test]
fn common_lines_decode_to_their_requests() {
    let bucket = |s: &'static str| bucket_proto::BucketName::new(s).unwrap();
    let file = |s: &'static str| bucket_proto::FileName::new(s).unwrap();
    let cases: Vec<(&[u8], Request<'static>)> = vec![
        (b"HELLO\n", Request::Hello),
        (b"ls_b\r\n", Request::ListBuckets),
        (
            b"upload_f backups db.sql.gz 104857600\n",
            Request::Upload {
                bucket: bucket("backups"),
                name: file("db.sql.gz"),
                size: 104_857_600,
            },
        ),
        (
            b"NEW_BUCKET,scratch\n",
            Request::CreateBucket {
                bucket: bucket("scratch"),
            },
        ),
        (
            b"HELP upload\n",
            Request::Help {
                topic: Some(Verb::Upload),
            },
        ),
    ];
    for (input, request) in cases {
        agree(input).unwrap();
        assert_eq!(
            decode::request(input),
            Ok(Decoded::Complete {
                value: request,
                consumed: input.len()
            })
        );
    }
}
