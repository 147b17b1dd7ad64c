//! Requests: every verb and alias of PROTOCOL.md's table in every case,
//! argument forms (bare, quoted, escapes, separators, comma form), line
//! terminators, the name rules of PROTOCOL.md § Names, and path traversal.
//! Each through `decode::request` and through a `ServerSession`.
#![allow(clippy::unwrap_used)]

mod common;

use bucket_proto::decode::{self, Decoded};
use bucket_proto::{
    BucketName, Field, FileName, NameError, Reason, ReplyCode, Request, RequestError, Verb,
};
use common::*;
use proptest::prelude::*;

/// PROTOCOL.md § Requests, the table, typed out independently of the crate:
/// canonical, aliases.
const TABLE: &[(&str, &[&str])] = &[
    ("HELLO", &["INIT"]),
    ("HELP", &[]),
    ("CODES", &["CODE_R"]),
    ("QUIT", &["EXIT"]),
    ("CREATE_B", &["NEW_BUCKET"]),
    ("LIST_B", &["LS_B", "LIST_BUCKET"]),
    ("DELETE_B", &["DELETE_BUCKET"]),
    ("UPLOAD", &["UPLOAD_F", "UPLOAD_FILE"]),
    ("LIST_F", &["LS_F", "LIST_FILE"]),
    ("DOWNLOAD", &["DOWNLOAD_F", "DOWNLOAD_FILE"]),
    ("DELETE_F", &["DELETE_FILE"]),
];

/// For a canonical verb: the arguments a sample request carries, the request
/// it decodes to, the payload that follows it, and the reply head the
/// default script gives.
fn sample(canonical: &str) -> (&'static str, Request<'static>, &'static [u8], &'static str) {
    match canonical {
        "HELLO" => ("", Request::Hello, b"", "100 OK"),
        "HELP" => ("", Request::Help { topic: None }, b"", "210 HELP"),
        "CODES" => ("", Request::Codes, b"", "220 CODES"),
        "QUIT" => ("", Request::Quit, b"", "200 BYE"),
        "CREATE_B" => (
            " photos",
            Request::CreateBucket {
                bucket: bucket("photos"),
            },
            b"",
            "300 BCS",
        ),
        "LIST_B" => ("", Request::ListBuckets, b"", "400 LS"),
        "DELETE_B" => (
            " photos",
            Request::DeleteBucket {
                bucket: bucket("photos"),
            },
            b"",
            "600 DBS",
        ),
        "UPLOAD" => (
            " photos cat.png 3",
            upload("photos", "cat.png", 3),
            b"a\nb",
            "700 FUBS",
        ),
        "LIST_F" => (
            " photos",
            Request::ListFiles {
                bucket: Some(bucket("photos")),
            },
            b"",
            "800 LFS",
        ),
        "DOWNLOAD" => (
            " photos cat.png",
            download("photos", "cat.png"),
            b"",
            "900 FDBS",
        ),
        "DELETE_F" => (
            " photos cat.png",
            Request::DeleteFile {
                bucket: bucket("photos"),
                name: file("cat.png"),
            },
            b"",
            "1000 DFS",
        ),
        other => panic!("not in the table: {other}"),
    }
}

fn mixed_case(s: &str) -> String {
    s.chars()
        .enumerate()
        .map(|(i, c)| {
            if i % 2 == 0 {
                c.to_ascii_lowercase()
            } else {
                c.to_ascii_uppercase()
            }
        })
        .collect()
}

fn spellings(word: &str) -> [String; 3] {
    [word.to_uppercase(), word.to_lowercase(), mixed_case(word)]
}

/// Expected server events for a request that is accepted.
fn accepted_events(request: &Request<'static>, payload: &[u8]) -> Vec<SEv> {
    let mut events = vec![SEv::Request(request.clone())];
    if request.payload_len().is_some() {
        if !payload.is_empty() {
            events.push(SEv::Payload(payload.to_vec()));
        }
        events.push(SEv::PayloadEnd);
    }
    if *request == Request::Quit {
        // 200 BYE ends the session.
        events.push(SEv::Closed);
    }
    events
}

fn assert_decodes(line: &[u8], expected: &Request<'static>) {
    match decode::request(line) {
        Ok(Decoded::Complete { value, consumed }) => {
            assert_eq!(&value, expected, "{:?}", String::from_utf8_lossy(line));
            assert_eq!(consumed, line.len(), "{:?}", String::from_utf8_lossy(line));
        }
        other => panic!("{:?}: {other:?}", String::from_utf8_lossy(line)),
    }
}

fn decode_err(line: &[u8]) -> RequestError {
    match decode::request(line) {
        Err(e) => e,
        Ok(other) => panic!("{:?} decoded: {other:?}", String::from_utf8_lossy(line)),
    }
}

#[test]
fn the_verb_table_matches_protocol_md() {
    assert_eq!(Verb::ALL.len(), TABLE.len());
    for (&verb, &(canonical, aliases)) in Verb::ALL.iter().zip(TABLE) {
        assert_eq!(verb.as_str(), canonical);
        let mut got: Vec<&str> = verb.aliases().to_vec();
        let mut want: Vec<&str> = aliases.to_vec();
        got.sort_unstable();
        want.sort_unstable();
        assert_eq!(got, want, "aliases of {canonical}");
        for spelling in std::iter::once(canonical).chain(aliases.iter().copied()) {
            for s in spellings(spelling) {
                assert_eq!(Verb::from_token(&s), Some(verb), "{s}");
                assert_eq!(s.parse::<Verb>(), Ok(verb), "{s}");
            }
        }
    }
    for not_a_verb in [
        "", "HELL", "HELLOO", "LIST", "UPLOADS", "CREATE", "B", "_", "LS",
    ] {
        assert_eq!(Verb::from_token(not_a_verb), None, "{not_a_verb}");
    }
}

#[test]
fn every_verb_and_alias_in_every_case_decodes() {
    for &(canonical, aliases) in TABLE {
        let (args, expected, _, _) = sample(canonical);
        for spelling in std::iter::once(canonical).chain(aliases.iter().copied()) {
            for s in spellings(spelling) {
                for end in ["\n", "\r\n"] {
                    let line = format!("{s}{args}{end}");
                    assert_decodes(line.as_bytes(), &expected);
                    // Whatever follows the line is not consumed.
                    let mut longer = line.clone().into_bytes();
                    longer.extend_from_slice(b"HELLO\n");
                    match decode::request(&longer) {
                        Ok(Decoded::Complete { consumed, .. }) => assert_eq!(consumed, line.len()),
                        other => panic!("{line:?}: {other:?}"),
                    }
                    // Without its terminator the line is incomplete.
                    let cut = format!("{s}{args}");
                    assert_eq!(decode::request(cut.as_bytes()), Ok(Decoded::Incomplete));
                }
            }
        }
    }
}

#[test]
fn every_verb_and_alias_in_every_case_through_the_server() {
    for &(canonical, aliases) in TABLE {
        let (args, expected, payload, reply_head) = sample(canonical);
        for spelling in std::iter::once(canonical).chain(aliases.iter().copied()) {
            for s in spellings(spelling) {
                for end in ["\n", "\r\n"] {
                    let mut input = format!("{s}{args}{end}").into_bytes();
                    input.extend_from_slice(payload);
                    let run = run_server_whole(&input);
                    assert_eq!(
                        run.events,
                        accepted_events(&expected, payload),
                        "{:?}",
                        String::from_utf8_lossy(&input)
                    );
                    assert_eq!(run.reply_heads(), [reply_head], "{input:?}");
                }
            }
        }
    }
}

#[test]
fn help_topic_is_any_spelling_of_any_verb() {
    for (&verb, &(canonical, aliases)) in Verb::ALL.iter().zip(TABLE) {
        for spelling in std::iter::once(canonical).chain(aliases.iter().copied()) {
            for s in spellings(spelling) {
                let expected = Request::Help { topic: Some(verb) };
                assert_decodes(format!("HELP {s}\n").as_bytes(), &expected);
                assert_decodes(format!("help \"{s}\"\r\n").as_bytes(), &expected);
                let run = run_server_whole(format!("Help {s}\n").as_bytes());
                assert_eq!(run.events, [SEv::Request(expected)]);
                assert_eq!(run.reply_heads(), ["210 HELP"]);
            }
        }
    }
    assert_eq!(decode_err(b"HELP NOPE\n"), RequestError::UnknownVerb);
    let run = run_server_whole(b"HELP NOPE\nHELLO\n");
    assert_eq!(run.events[0], SEv::Rejected(RequestError::UnknownVerb));
    assert_eq!(run.reply_heads(), ["500 BCMD UNKNOWN_VERB", "100 OK"]);
}

#[test]
fn optional_arguments_may_be_left_out() {
    assert_decodes(b"LIST_F\n", &Request::ListFiles { bucket: None });
    assert_decodes(b"ls_f\r\n", &Request::ListFiles { bucket: None });
    assert_decodes(b"HELP\n", &Request::Help { topic: None });
    let run = run_server_whole(b"LIST_F\nHELP\n");
    assert_eq!(
        run.requests(),
        [
            Request::ListFiles { bucket: None },
            Request::Help { topic: None }
        ]
    );
    assert_eq!(run.reply_heads(), ["800 LFS", "210 HELP"]);
}

#[test]
fn separators_space_tab_and_comma_in_any_mix() {
    let expected = upload("b", "f.txt", 5);
    for line in [
        "UPLOAD b f.txt 5\n",
        "UPLOAD\tb\tf.txt\t5\n",
        "UPLOAD,b,f.txt,5\n",
        "UPLOAD b,f.txt , 5\n",
        "UPLOAD  b\t,f.txt,,5\n",
        "UPLOAD \t, b ,\t f.txt\t,\t5\n",
        // Leading blanks before the verb and trailing separators are tolerated.
        "  UPLOAD b f.txt 5\n",
        "\tUPLOAD b f.txt 5\n",
        "UPLOAD b f.txt 5 \n",
        "UPLOAD b f.txt 5,\t \r\n",
        "UPLOAD \"b\" \"f.txt\" \"5\"\n",
        "UPLOAD \"b\",\"f.txt\",5\n",
    ] {
        assert_decodes(line.as_bytes(), &expected);
        let mut input = line.as_bytes().to_vec();
        input.extend_from_slice(b"12345");
        let run = run_server_whole(&input);
        assert_eq!(run.events, accepted_events(&expected, b"12345"), "{line:?}");
        assert_eq!(run.reply_heads(), ["700 FUBS"], "{line:?}");
    }
}

#[test]
fn comma_form_of_the_new_bucket_family() {
    assert_decodes(
        b"NEW_BUCKET,photos\n",
        &Request::CreateBucket {
            bucket: bucket("photos"),
        },
    );
    assert_decodes(b"UPLOAD_FILE,b,x.txt,3\n", &upload("b", "x.txt", 3));
    assert_decodes(b"download_file,b,x.txt\r\n", &download("b", "x.txt"));
    assert_decodes(
        b"DELETE_FILE,b,x.txt\n",
        &Request::DeleteFile {
            bucket: bucket("b"),
            name: file("x.txt"),
        },
    );
    let run = run_server_whole(b"UPLOAD_FILE,b,x.txt,3\nabcLIST_FILE,b\n");
    assert_eq!(
        run.events,
        [
            SEv::Request(upload("b", "x.txt", 3)),
            SEv::Payload(b"abc".to_vec()),
            SEv::PayloadEnd,
            SEv::Request(Request::ListFiles {
                bucket: Some(bucket("b"))
            }),
        ]
    );
    assert_eq!(run.reply_heads(), ["700 FUBS", "800 LFS"]);
}

#[test]
fn quoted_arguments_and_escapes() {
    let cases: &[(&str, &str)] = &[
        (r#"DOWNLOAD b "cat 1.png""#, "cat 1.png"),
        (r#"DOWNLOAD b "a,b""#, "a,b"),
        (r#"DOWNLOAD b "say \"hi\"""#, r#"say "hi""#),
        (r#"DOWNLOAD b "\"""#, r#"""#),
        (r#"DOWNLOAD b "ünï cødé ✓""#, "ünï cødé ✓"),
        (r#"DOWNLOAD b "  spaced  ""#, "  spaced  "),
        (r#"DOWNLOAD "b" "x""#, "x"),
        (r#"DOWNLOAD b ".hidden""#, ".hidden"),
    ];
    for &(line, name) in cases {
        let expected = download("b", name);
        assert_decodes(format!("{line}\n").as_bytes(), &expected);
        let run = run_server_whole(format!("{line}\r\n").as_bytes());
        assert_eq!(run.events, [SEv::Request(expected)], "{line}");
    }
    // `\\` unescapes to a backslash, which no name may hold.
    assert_eq!(
        decode_err(b"DOWNLOAD b \"a\\\\b\"\n"),
        RequestError::BadName {
            verb: Verb::Download,
            field: Field::Name,
            error: NameError::InvalidChar('\\'),
        }
    );
    // An empty quoted argument is an argument: an empty name.
    assert_eq!(
        decode_err(b"DOWNLOAD b \"\"\n"),
        RequestError::BadName {
            verb: Verb::Download,
            field: Field::Name,
            error: NameError::Empty,
        }
    );
    // Quoted bucket names are validated like bare ones.
    assert_eq!(
        decode_err(b"CREATE_B \"a b\"\n"),
        RequestError::BadName {
            verb: Verb::CreateBucket,
            field: Field::Bucket,
            error: NameError::InvalidChar(' '),
        }
    );
}

#[test]
fn malformed_arguments_are_syntax_errors() {
    for line in [
        &br#"DOWNLOAD b "unterminated"#[..],
        br#"DOWNLOAD b "bad \n escape""#,
        br#"DOWNLOAD b "bad \x escape""#,
        br#"DOWNLOAD b "trailing backslash\""#,
        br#"DOWNLOAD b a"b"#,
        br#"DOWNLOAD b a\b"#,
        br#"DOWNLOAD b "a"b"#,
        br#"DOWNLOAD b "a""b""#,
        b"DOWNLOAD b \"tab\there\"",
        b"DOWNLOAD b \"nul\x00\"",
        b"DOWNLOAD b nul\x00",
        b"DOWNLOAD b del\x7f",
        b"DOWNLOAD b esc\x1b",
        b"DOWNLOAD b a\rb",
        b"HELLO\r\r",
        b"HELLO\"x\"",
        b"HELLO\\",
        b",HELLO",
        b"\"HELLO\"",
        b"9HELLO",
    ] {
        let mut input = line.to_vec();
        input.push(b'\n');
        let err = decode_err(&input);
        assert!(
            matches!(err, RequestError::Syntax { .. }),
            "{:?}: {err:?}",
            String::from_utf8_lossy(line)
        );
        input.extend_from_slice(b"HELLO\n");
        let run = run_server_whole(&input);
        assert_eq!(run.requests(), [Request::Hello], "{line:?}");
        assert_eq!(
            run.reply_heads(),
            ["500 BCMD SYNTAX", "100 OK"],
            "{:?}",
            String::from_utf8_lossy(line)
        );
    }
}

#[test]
fn lf_and_crlf_give_the_same_request() {
    for line in [
        "HELLO",
        "CREATE_B photos",
        "UPLOAD b \"a b\" 0",
        "DOWNLOAD b x",
        "LIST_F",
        "HELP upload",
    ] {
        let lf = format!("{line}\n");
        let crlf = format!("{line}\r\n");
        let (a, b) = match (
            decode::request(lf.as_bytes()),
            decode::request(crlf.as_bytes()),
        ) {
            (
                Ok(Decoded::Complete {
                    value: a,
                    consumed: ca,
                }),
                Ok(Decoded::Complete {
                    value: b,
                    consumed: cb,
                }),
            ) => {
                assert_eq!(ca + 1, cb);
                (a, b)
            }
            other => panic!("{line}: {other:?}"),
        };
        assert_eq!(a, b);
        assert_eq!(
            run_server_whole(lf.as_bytes()),
            run_server_whole(crlf.as_bytes())
        );
    }
    // Only one CR before the LF belongs to the terminator.
    assert!(matches!(
        decode_err(b"HELLO\r\r\n"),
        RequestError::Syntax { .. }
    ));
}

#[test]
fn blank_lines_outside_a_dialogue_are_ignored() {
    let run = run_server_whole(b"\n\r\n   \n\t,\t\nHELLO\n\n");
    assert_eq!(run.events, [SEv::Request(Request::Hello)]);
    assert_eq!(run.reply_heads(), ["100 OK"]);
    // decode::request has nothing to return for one: a syntax error.
    assert!(matches!(decode_err(b"\n"), RequestError::Syntax { .. }));
    assert!(matches!(
        decode_err(b" \t\r\n"),
        RequestError::Syntax { .. }
    ));
}

// ---- names --------------------------------------------------------------

/// A wire argument that breaks a bucket-name rule, and the rule.
fn bad_buckets() -> Vec<(String, NameError)> {
    vec![
        ("\"\"".into(), NameError::Empty),
        ("b".repeat(64), NameError::TooLong { len: 64, max: 63 }),
        (
            "\"".to_owned() + &"b".repeat(100) + "\"",
            NameError::TooLong { len: 100, max: 63 },
        ),
        ("a:b".into(), NameError::InvalidChar(':')),
        ("é".into(), NameError::InvalidChar('é')),
        ("a/b".into(), NameError::InvalidChar('/')),
        ("/".into(), NameError::InvalidChar('/')),
        ("\"a b\"".into(), NameError::InvalidChar(' ')),
        ("\"a,b\"".into(), NameError::InvalidChar(',')),
        ("\"a\\\"b\"".into(), NameError::InvalidChar('"')),
        ("\"a\\\\b\"".into(), NameError::InvalidChar('\\')),
        ("a+b".into(), NameError::InvalidChar('+')),
        ("\"a\x7f\"".into(), NameError::InvalidChar('\x7f')),
        (".x".into(), NameError::LeadingDot),
        (".".into(), NameError::LeadingDot),
        ("..".into(), NameError::LeadingDot),
    ]
}

/// A wire argument that breaks a file-name rule, and the rule.
fn bad_files() -> Vec<(String, NameError)> {
    vec![
        ("\"\"".into(), NameError::Empty),
        ("f".repeat(256), NameError::TooLong { len: 256, max: 255 }),
        ("é".repeat(128), NameError::TooLong { len: 256, max: 255 }),
        ("a/b".into(), NameError::InvalidChar('/')),
        ("/etc/passwd".into(), NameError::InvalidChar('/')),
        ("../x".into(), NameError::InvalidChar('/')),
        ("\"a\\\\b\"".into(), NameError::InvalidChar('\\')),
        ("\"del\x7f\"".into(), NameError::InvalidChar('\x7f')),
        (".".into(), NameError::DotName),
        ("..".into(), NameError::DotName),
        ("\".\"".into(), NameError::DotName),
        (".bkt-".into(), NameError::Reserved),
        (".bkt-staging-1".into(), NameError::Reserved),
        ("\".bkt- x\"".into(), NameError::Reserved),
    ]
}

/// Lines naming `arg` as the bucket of every verb that takes one, with the
/// verb; uploads carry a 3-byte payload.
fn lines_with_bucket(arg: &str) -> Vec<(Verb, String)> {
    vec![
        (Verb::CreateBucket, format!("CREATE_B {arg}\n")),
        (Verb::DeleteBucket, format!("delete_bucket {arg}\n")),
        (Verb::ListFiles, format!("LIST_F {arg}\n")),
        (Verb::Download, format!("DOWNLOAD {arg} f\n")),
        (Verb::DeleteFile, format!("DELETE_F {arg} f\n")),
        (Verb::Upload, format!("UPLOAD {arg} f 3\n")),
    ]
}

fn lines_with_file(arg: &str) -> Vec<(Verb, String)> {
    vec![
        (Verb::Download, format!("DOWNLOAD b {arg}\n")),
        (Verb::DeleteFile, format!("DELETE_FILE,b,{arg}\r\n")),
        (Verb::Upload, format!("UPLOAD b {arg} 3\n")),
    ]
}

fn check_bad_name(verb: Verb, line: &str, field: Field, error: NameError) {
    let expected = RequestError::BadName { verb, field, error };
    assert_eq!(decode_err(line.as_bytes()), expected, "{line:?}");
    assert_eq!(expected.code(), verb.failure_code());
    assert_eq!(expected.reason(), Reason::BadName);

    // Through the server: refused with the verb's failure code; an upload's
    // payload (which looks like a request) is discarded first; the session
    // goes on.
    let mut input = line.as_bytes().to_vec();
    if verb == Verb::Upload {
        input.extend_from_slice(b"QU\n");
    }
    input.extend_from_slice(b"HELLO\n");
    let run = run_server_whole(&input);
    assert_eq!(
        run.events,
        [SEv::Rejected(expected), SEv::Request(Request::Hello)],
        "{line:?}"
    );
    let fail = format!("{} BAD_NAME", verb.failure_code());
    assert_eq!(run.reply_heads(), [fail.as_str(), "100 OK"], "{line:?}");
    assert!(
        run.tx_text()
            .starts_with(&format!("{} BAD_NAME ", verb.failure_code())),
        "{}",
        run.tx_text()
    );
}

#[test]
fn every_bucket_name_rule_is_refused_with_bad_name() {
    for (arg, error) in bad_buckets() {
        for (verb, line) in lines_with_bucket(&arg) {
            check_bad_name(verb, &line, Field::Bucket, error);
        }
    }
}

#[test]
fn every_file_name_rule_is_refused_with_bad_name() {
    for (arg, error) in bad_files() {
        for (verb, line) in lines_with_file(&arg) {
            check_bad_name(verb, &line, Field::Name, error);
        }
    }
}

#[test]
fn the_bad_name_examples_of_the_brief() {
    let run = run_server_whole(b"CREATE_B ../x\n");
    assert!(
        run.tx_text().starts_with("301 BCF BAD_NAME"),
        "{}",
        run.tx_text()
    );
    let run = run_server_whole(b"DOWNLOAD b ..\n");
    assert!(
        run.tx_text().starts_with("901 FDBF BAD_NAME"),
        "{}",
        run.tx_text()
    );
}

#[test]
fn names_at_the_limits_are_accepted() {
    let b63 = "b".repeat(63);
    let f255 = "f".repeat(255);
    let multi255 = format!("{}a", "é".repeat(127));
    assert_eq!(multi255.len(), 255);
    for (b, f) in [
        (b63.as_str(), f255.as_str()),
        ("x", multi255.as_str()),
        ("A-Z_0.9", ".hidden"),
        ("x.", "..."),
        ("_", ".bkt"),
        ("-", "x.bkt-y"),
        ("a", "bkt-"),
        ("a", ".bkt"),
    ] {
        let line = format!("DOWNLOAD {b} \"{f}\"\n");
        assert_decodes(line.as_bytes(), &download(b, f));
        let run = run_server_whole(line.as_bytes());
        assert_eq!(run.requests(), [download(b, f)]);
    }
}

#[test]
fn control_characters_cannot_even_reach_the_name_rules() {
    // The grammar has no way to carry NUL or another C0 control in an
    // argument (bare or quoted), so such a name is a syntax error, not a
    // request and not a BAD_NAME.
    for line in [
        &b"CREATE_B a\x00b\n"[..],
        b"CREATE_B \"a\x00b\"\n",
        b"DOWNLOAD b \"a\x01b\"\n",
        b"DOWNLOAD b \"a\x1fb\"\n",
        b"DOWNLOAD b a\x0bb\n",
        b"UPLOAD b \"x\x1b\" 0\n",
    ] {
        assert!(
            matches!(decode_err(line), RequestError::Syntax { .. }),
            "{line:?}"
        );
        let run = run_server_whole(line);
        assert!(run.requests().is_empty(), "{line:?}");
        assert_eq!(run.reply_heads(), ["500 BCMD SYNTAX"], "{line:?}");
    }
}

// ---- traversal ----------------------------------------------------------

const TRAVERSALS: &[&str] = &[
    "CREATE_B ..",
    "CREATE_B .",
    "CREATE_B ../x",
    "CREATE_B /etc",
    "CREATE_B a/b",
    r#"CREATE_B "a\\b""#,
    r#"CREATE_B "..\\x""#,
    "DELETE_B ..",
    "DELETE_B /",
    "LIST_F ..",
    "LIST_F ../",
    "LIST_F ../../etc",
    "DOWNLOAD b ../etc/passwd",
    "DOWNLOAD b ..",
    "DOWNLOAD b .",
    "DOWNLOAD b /etc/passwd",
    "DOWNLOAD b a/b",
    "DOWNLOAD b ./x",
    "DOWNLOAD b .bkt-staging",
    r#"DOWNLOAD b "..\\..\\boot.ini""#,
    r#"DOWNLOAD b "\\\\server\\share""#,
    r#"DOWNLOAD b "C:\\Windows""#,
    r"DOWNLOAD b C:\x",
    r"DOWNLOAD b ..\x",
    r"DOWNLOAD b \\",
    "DOWNLOAD .. passwd",
    "DOWNLOAD ../.. etc",
    "DOWNLOAD \"..\" \"..\"",
    "DELETE_F b ../x",
    "DELETE_F ../b x",
    "DELETE_F b /",
    "UPLOAD b ../x 0",
    "UPLOAD .. x 0",
    "UPLOAD b \"a/../../b\" 0",
    "UPLOAD b /tmp/x 0",
];

#[test]
fn traversal_attempts_never_produce_a_request() {
    for line in TRAVERSALS {
        let input = format!("{line}\n");
        assert!(
            decode::request(input.as_bytes()).is_err(),
            "{line}: {:?}",
            decode::request(input.as_bytes())
        );
        let run = run_server_whole(format!("{input}HELLO\n").as_bytes());
        assert_eq!(run.requests(), [Request::Hello], "{line}");
        let replies = run.replies();
        assert_eq!(replies.len(), 2, "{line}");
        assert!(
            matches!(
                replies[0].reason(),
                Some(Reason::BadName) | Some(Reason::Syntax)
            ),
            "{line}: {:?}",
            replies[0]
        );
        assert_eq!(replies[1].code(), ReplyCode::Ok);
    }
}

fn path_safe(name: &str) -> bool {
    !name.contains('/') && !name.contains('\\') && name != "." && name != ".." && !name.is_empty()
}

proptest! {
    /// Lines assembled from traversal pieces: whatever decodes names only
    /// single, path-safe components.
    #[test]
    fn whatever_decodes_is_path_safe(
        verb in prop::sample::select(vec!["CREATE_B", "DOWNLOAD", "DELETE_F", "LIST_F", "UPLOAD", "DELETE_B"]),
        args in prop::collection::vec(
            prop::collection::vec(
                prop::sample::select(vec!["..", ".", "/", "\\\\", "a", "etc", ".bkt-", "\\\"", " ", "~"]),
                1..5,
            ).prop_map(|parts| format!("\"{}\"", parts.concat())),
            1..4,
        ),
    ) {
        let line = format!("{verb} {}\n", args.join(" "));
        let decoded = decode::request(line.as_bytes());
        let run = run_server_whole(line.as_bytes());
        if let Ok(Decoded::Complete { value, .. }) = &decoded {
            prop_assert_eq!(run.requests(), vec![value.clone().into_owned()]);
        } else {
            prop_assert!(run.requests().is_empty());
        }
        for request in run.requests() {
            if let Some(b) = request.bucket() {
                prop_assert!(path_safe(b) && !b.starts_with('.'), "{:?}", b);
                prop_assert!(BucketName::new(b.as_str()).is_ok());
            }
            if let Some(f) = request.file() {
                prop_assert!(path_safe(f) && !f.starts_with(".bkt-"), "{:?}", f);
                prop_assert!(FileName::new(f.as_str()).is_ok());
            }
        }
    }
}

/// What a dependent does with the protocol's small types: sort them, key
/// maps by them, parse them from text, and turn names to and from strings.
#[test]
fn verbs_fields_and_names_sort_parse_and_convert() {
    use std::collections::BTreeSet;

    // Verbs and fields order as declared (canonical order of PROTOCOL.md).
    assert!(bucket_proto::Verb::ALL.windows(2).all(|w| w[0] < w[1]));
    let fields: BTreeSet<bucket_proto::Field> = ["size", "NAME", " bucket"]
        .iter()
        .map(|t| t.parse().unwrap())
        .collect();
    assert_eq!(
        fields.into_iter().map(|f| f.as_str()).collect::<Vec<_>>(),
        ["bucket", "name", "size"]
    );
    let unknown = "colour".parse::<bucket_proto::Field>().unwrap_err();
    assert_eq!((unknown.what(), unknown.text()), ("field", "colour"));
    let unknown = "NOPE".parse::<bucket_proto::Verb>().unwrap_err();
    assert_eq!((unknown.what(), unknown.text()), ("verb", "NOPE"));

    let typed = String::from("photos");
    let bucket = bucket_proto::BucketName::try_from(&typed).unwrap();
    assert_eq!(String::from(bucket), "photos");
    let typed = String::from("a b.txt");
    let file = bucket_proto::FileName::try_from(&typed)
        .unwrap()
        .into_owned();
    drop(typed);
    assert_eq!(String::from(file), "a b.txt");
    assert!(bucket_proto::BucketName::try_from(&String::from("../x")).is_err());
}
