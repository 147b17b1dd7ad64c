//! Dialogues (PROTOCOL.md § Dialogues): the example exactly as printed,
//! cancelling at every step of every verb, several arguments per answer, the
//! comma form, too many arguments, bad names with payloads to discard, and
//! answers that look like requests.
#![allow(clippy::unwrap_used)]

mod common;

use bucket_proto::{
    ClientError, Field, NameError, Reply, ReplyCode, Request, RequestError, ServerConfig,
    ServerSession, ServerState, Verb,
};
use common::*;

/// A server session fed step by step; each step returns the events and the
/// bytes transmitted during it.
struct Stepper {
    server: ServerSession,
    current: Option<(Request<'static>, Vec<u8>)>,
    uploads: Vec<(Request<'static>, Vec<u8>)>,
}

impl Stepper {
    fn new(config: ServerConfig) -> Self {
        Stepper {
            server: ServerSession::new(config),
            current: None,
            uploads: Vec::new(),
        }
    }

    fn feed(&mut self, bytes: &[u8]) -> (Vec<SEv>, String) {
        self.server.receive(bytes);
        self.pump()
    }

    fn eof(&mut self) -> (Vec<SEv>, String) {
        self.server.receive_eof();
        self.pump()
    }

    fn pump(&mut self) -> (Vec<SEv>, String) {
        let mut events = Vec::new();
        let uploads = &mut self.uploads;
        let mut script = |r: &Request<'static>, p: &[u8]| {
            if r.payload_len().is_some() {
                uploads.push((r.clone(), p.to_vec()));
            }
            default_answer(r, p)
        };
        pump_server(
            &mut self.server,
            &mut script,
            &mut events,
            &mut self.current,
        );
        let mut tx = Vec::new();
        self.server.poll_transmit(&mut tx);
        (events, String::from_utf8(tx).unwrap())
    }
}

fn prompted(verb: Verb, field: Field) -> SEv {
    SEv::Prompted { verb, field }
}

#[test]
fn the_example_of_protocol_md_exactly() {
    // UPLOAD / 150 NEED bucket / photos / 150 NEED name / "cat 1.png" /
    // 150 NEED size / 5 / hello / 700 FUBS
    let mut s = Stepper::new(ServerConfig::default());
    assert_eq!(
        s.feed(b"UPLOAD\n"),
        (
            vec![prompted(Verb::Upload, Field::Bucket)],
            "150 NEED bucket\n".into()
        )
    );
    assert_eq!(s.server.state(), ServerState::Dialogue);
    assert_eq!(
        s.feed(b"photos\n"),
        (
            vec![prompted(Verb::Upload, Field::Name)],
            "150 NEED name\n".into()
        )
    );
    assert_eq!(
        s.feed(b"\"cat 1.png\"\n"),
        (
            vec![prompted(Verb::Upload, Field::Size)],
            "150 NEED size\n".into()
        )
    );
    let (events, tx) = s.feed(b"5\n");
    assert_eq!(
        events,
        [SEv::Request(upload("photos", "cat 1.png", 5))],
        "the request comes out as soon as its line is complete"
    );
    assert_eq!(tx, "");
    assert_eq!(s.server.state(), ServerState::ReceivingPayload);
    let (events, tx) = s.feed(b"hello");
    assert_eq!(events, [SEv::Payload(b"hello".to_vec()), SEv::PayloadEnd]);
    // The default script answers an upload with Reply::success(Verb::Upload).
    assert_eq!(tx, "700 FUBS\n");
    assert_eq!(
        s.uploads,
        [(upload("photos", "cat 1.png", 5), b"hello".to_vec())]
    );
    assert_eq!(s.server.state(), ServerState::Idle);

    // The same bytes in one piece, and one byte at a time, give the same.
    let input = b"UPLOAD\nphotos\n\"cat 1.png\"\n5\nhello";
    let whole = run_server_whole(input);
    assert_eq!(
        whole.tx_text(),
        "150 NEED bucket\n150 NEED name\n150 NEED size\n700 FUBS\n"
    );
    assert_eq!(
        whole.events,
        [
            prompted(Verb::Upload, Field::Bucket),
            prompted(Verb::Upload, Field::Name),
            prompted(Verb::Upload, Field::Size),
            SEv::Request(upload("photos", "cat 1.png", 5)),
            SEv::Payload(b"hello".to_vec()),
            SEv::PayloadEnd,
        ]
    );
    assert_eq!(run_server_bytewise(input), whole);
}

#[test]
fn the_example_with_a_client_on_the_other_end() {
    // The client session cannot open a dialogue itself (a Request is
    // complete), but it reads the prompts as replies to its pending request.
    let mut client = client_with_pending(&[Request::CreateBucket {
        bucket: bucket("x"),
    }]);
    client.receive(b"150 NEED bucket\n");
    let mut events = Vec::new();
    pump_client(&mut client, &mut events).unwrap();
    assert_eq!(
        events,
        [CEv::Reply {
            request: Some(Verb::CreateBucket),
            reply: Reply::Need {
                field: Field::Bucket
            }
        }]
    );
    assert_eq!(client.pending_requests(), 1, "a prompt is not final");
    client.receive(b"300 BCS\n");
    events.clear();
    pump_client(&mut client, &mut events).unwrap();
    assert_eq!(
        events,
        [CEv::Reply {
            request: Some(Verb::CreateBucket),
            reply: Reply::success(Verb::CreateBucket).unwrap()
        }]
    );
    assert_eq!(client.pending_requests(), 0);
}

/// A sample answer for each field.
fn answer(field: Field) -> &'static str {
    match field {
        Field::Bucket => "b",
        Field::Name => "\"f 1\"",
        Field::Size => "3",
        Field::Verb => "HELLO",
    }
}

#[test]
fn an_empty_answer_cancels_at_every_step_of_every_verb() {
    let dialogue_verbs: Vec<Verb> = Verb::ALL
        .iter()
        .copied()
        .filter(|v| !v.required().is_empty())
        .collect();
    assert_eq!(
        dialogue_verbs,
        [
            Verb::CreateBucket,
            Verb::DeleteBucket,
            Verb::Upload,
            Verb::Download,
            Verb::DeleteFile
        ]
    );
    for verb in dialogue_verbs {
        let required = verb.required();
        // `on_line` arguments on the verb's own line, then answers one by one
        // until `cancel_at`, where an empty line cancels.
        for cancel_at in 0..required.len() {
            for on_line in 0..=cancel_at {
                for empty in ["\n", "\r\n", " \t\n", ",\n"] {
                    let mut input = verb.as_str().to_owned();
                    for &f in &required[..on_line] {
                        input.push(' ');
                        input.push_str(answer(f));
                    }
                    input.push('\n');
                    for &f in &required[on_line..cancel_at] {
                        input.push_str(answer(f));
                        input.push('\n');
                    }
                    input.push_str(empty);
                    input.push_str("HELLO\n");
                    let run = run_server_whole(input.as_bytes());

                    let mut want_events: Vec<SEv> = required[on_line..=cancel_at]
                        .iter()
                        .map(|&f| prompted(verb, f))
                        .collect();
                    want_events.push(SEv::Rejected(RequestError::Aborted { verb }));
                    want_events.push(SEv::Request(Request::Hello));
                    assert_eq!(run.events, want_events, "{input:?}");

                    let mut want_heads: Vec<String> = required[on_line..=cancel_at]
                        .iter()
                        .map(|f| format!("150 NEED {f}"))
                        .collect();
                    want_heads.push(format!("{} ABORTED", verb.failure_code()));
                    want_heads.push("100 OK".into());
                    assert_eq!(run.reply_heads(), want_heads, "{input:?}");
                }
            }
        }
    }
}

#[test]
fn cancel_replies_on_the_wire() {
    for (input, want) in [
        (&b"UPLOAD\n\n"[..], "701 FUBF ABORTED"),
        (b"UPLOAD photos\n\n", "701 FUBF ABORTED"),
        (b"UPLOAD photos x\n\r\n", "701 FUBF ABORTED"),
        (b"CREATE_B\n\n", "301 BCF ABORTED"),
        (b"new_bucket\n\n", "301 BCF ABORTED"),
        (b"DELETE_B\n\n", "601 DBF ABORTED"),
        (b"DOWNLOAD b\n\n", "901 FDBF ABORTED"),
        (b"DELETE_F\nb\n\n", "1001 DFF ABORTED"),
    ] {
        let run = run_server_whole(input);
        let last = run.tx_text().lines().last().unwrap().to_owned();
        assert!(
            last.starts_with(&format!("{want} ")) || last == want,
            "{input:?}: {last:?}"
        );
    }
    let mut s = Stepper::new(ServerConfig::default());
    s.feed(b"DELETE_F\nb\n");
    assert_eq!(s.server.state(), ServerState::Dialogue);
    let (events, tx) = s.feed(b"\n");
    assert_eq!(
        events,
        [SEv::Rejected(RequestError::Aborted {
            verb: Verb::DeleteFile
        })]
    );
    assert!(tx.starts_with("1001 DFF ABORTED"), "{tx}");
    assert_eq!(s.server.state(), ServerState::Idle);
}

#[test]
fn several_arguments_in_one_answer() {
    let run = run_server_whole(b"UPLOAD\nphotos cat.png 5\nhelloHELLO\n");
    assert_eq!(
        run.events,
        [
            prompted(Verb::Upload, Field::Bucket),
            SEv::Request(upload("photos", "cat.png", 5)),
            SEv::Payload(b"hello".to_vec()),
            SEv::PayloadEnd,
            SEv::Request(Request::Hello),
        ]
    );
    assert_eq!(run.reply_heads(), ["150 NEED bucket", "700 FUBS", "100 OK"]);

    let run = run_server_whole(b"UPLOAD\nphotos\n\"cat 1.png\",5\nhello");
    assert_eq!(
        run.requests(),
        [upload("photos", "cat 1.png", 5)],
        "{}",
        run.tx_text()
    );
    assert_eq!(
        run.reply_heads(),
        ["150 NEED bucket", "150 NEED name", "700 FUBS"]
    );

    let run = run_server_whole(b"DOWNLOAD\nb\t\"x y\"\r\n");
    assert_eq!(run.requests(), [download("b", "x y")]);
    assert_eq!(run.reply_heads(), ["150 NEED bucket", "900 FDBS"]);
}

#[test]
fn the_comma_form_in_a_dialogue() {
    let run = run_server_whole(b"UPLOAD_FILE\nb,x.txt,3\nabc");
    assert_eq!(
        run.events,
        [
            prompted(Verb::Upload, Field::Bucket),
            SEv::Request(upload("b", "x.txt", 3)),
            SEv::Payload(b"abc".to_vec()),
            SEv::PayloadEnd,
        ]
    );
    assert_eq!(run.tx_text(), "150 NEED bucket\n700 FUBS\n");
}

#[test]
fn too_many_arguments_in_an_answer() {
    for (input, verb) in [
        (&b"CREATE_B\na b\n"[..], Verb::CreateBucket),
        (b"DELETE_F b\nx,y\n", Verb::DeleteFile),
        (b"DOWNLOAD\na b c d e\n", Verb::Download),
    ] {
        let run = syntax_then_usable(input);
        assert_eq!(
            rejection(&run),
            RequestError::TooManyArguments { verb },
            "{input:?}"
        );
    }
}

/// Feeds `input` then `HELLO\n`, whole and one byte at a time (alike): the
/// last two replies are `500 BCMD SYNTAX` and `100 OK`, and HELLO is the only
/// request handed out: the session refused a dialogue's answer and went on.
fn syntax_then_usable(input: &[u8]) -> ServerRun {
    let mut bytes = input.to_vec();
    bytes.extend_from_slice(b"HELLO\n");
    let run = run_server_whole(&bytes);
    let heads = run.reply_heads();
    assert_eq!(
        &heads[heads.len() - 2..],
        ["500 BCMD SYNTAX", "100 OK"],
        "{input:?}"
    );
    assert_eq!(run.requests(), [Request::Hello], "{input:?}");
    assert_eq!(run_server_bytewise(&bytes), run, "{input:?}");
    run
}

#[test]
fn a_bad_name_in_a_dialogue_upload_discards_the_payload_first() {
    let mut s = Stepper::new(ServerConfig::default());
    s.feed(b"UPLOAD\n../x\n");
    s.feed(b"f\n");
    let (events, tx) = s.feed(b"5\n");
    assert_eq!(
        events,
        [SEv::Rejected(RequestError::BadName {
            verb: Verb::Upload,
            field: Field::Bucket,
            error: NameError::InvalidChar('/'),
        })]
    );
    assert_eq!(tx, "", "the failure waits for the payload to pass");
    assert_eq!(s.server.state(), ServerState::DiscardingPayload);
    // The payload looks like a request; it is discarded, not parsed.
    let (events, tx) = s.feed(b"QUI");
    assert_eq!((events, tx), (vec![], String::new()));
    let (events, tx) = s.feed(b"T");
    assert_eq!((events, tx), (vec![], String::new()));
    let (events, tx) = s.feed(b"\nHELLO\n");
    assert_eq!(events, [SEv::Request(Request::Hello)]);
    assert!(
        tx.starts_with("701 FUBF BAD_NAME ") && tx.ends_with("\n100 OK BKT/1 test/1\n"),
        "{tx:?}"
    );
    assert!(s.uploads.is_empty());

    // The same in one piece, with a bad file name this time.
    let run = run_server_whole(b"UPLOAD\nb\n..\n5\nQUIT\nHELLO\n");
    assert_eq!(
        run.reply_heads(),
        [
            "150 NEED bucket",
            "150 NEED name",
            "150 NEED size",
            "701 FUBF BAD_NAME",
            "100 OK"
        ]
    );
    assert_eq!(run.requests(), [Request::Hello]);
}

#[test]
fn answers_are_arguments_even_when_they_look_like_requests() {
    let run = run_server_whole(b"CREATE_B\nHELLO\n");
    assert_eq!(
        run.requests(),
        [Request::CreateBucket {
            bucket: bucket("HELLO")
        }]
    );
    assert_eq!(run.reply_heads(), ["150 NEED bucket", "300 BCS"]);
    // An empty quoted answer is an (empty) argument, not a cancel.
    let run = run_server_whole(b"DOWNLOAD\nQUIT\n\"\"\n");
    assert_eq!(
        run.events.last().unwrap(),
        &SEv::Rejected(RequestError::BadName {
            verb: Verb::Download,
            field: Field::Name,
            error: NameError::Empty,
        })
    );
    assert_eq!(
        run.reply_heads(),
        ["150 NEED bucket", "150 NEED name", "901 FDBF BAD_NAME"]
    );
}

#[test]
fn broken_answers_end_the_dialogue_with_500_and_the_session_goes_on() {
    let long = format!("{}\n", "x".repeat(5000));
    let cases: Vec<(Vec<u8>, RequestError, &str)> = vec![
        (
            b"DOWNLOAD\n\"unterminated\n".to_vec(),
            RequestError::Syntax { detail: "" },
            "500 BCMD SYNTAX",
        ),
        (
            b"CREATE_B\n\xff\xfe\n".to_vec(),
            RequestError::InvalidUtf8,
            "500 BCMD SYNTAX",
        ),
        (
            [b"DOWNLOAD\n".as_slice(), long.as_bytes()].concat(),
            RequestError::LineTooLong { max: 4096 },
            "500 BCMD LINE_TOO_LONG",
        ),
    ];
    for (mut input, error, head) in cases {
        input.extend_from_slice(b"HELLO\n");
        let run = run_server_whole(&input);
        assert_rejected_with(&run, &error);
        let heads = run.reply_heads();
        assert_eq!(heads.last().unwrap(), "100 OK", "{heads:?}");
        assert_eq!(&heads[heads.len() - 2], head, "{heads:?}");
        assert_eq!(run.requests(), [Request::Hello]);
    }
}

#[test]
fn end_of_input_in_a_dialogue_closes_without_a_reply() {
    let mut s = Stepper::new(ServerConfig::default());
    s.feed(b"UPLOAD b\n");
    let (events, tx) = s.eof();
    assert_eq!(events, [SEv::Closed]);
    assert_eq!(tx, "");
    assert!(s.server.is_closed());
    // An unterminated last answer is discarded too.
    let run = run_server(&[b"DOWNLOAD b\nx"], true);
    assert_eq!(
        run.events,
        [prompted(Verb::Download, Field::Name), SEv::Closed]
    );
    assert_eq!(run.tx_text(), "150 NEED name\n");
}

#[test]
fn an_over_large_upload_in_a_dialogue_closes_the_session() {
    let config = ServerConfig::default().with_max_upload_size(Some(4));
    let run = run_server_with(
        config,
        &[b"UPLOAD\nb f 5\nhelloHELLO\n"],
        false,
        &mut default_answer,
    );
    assert_eq!(
        run.events,
        [
            prompted(Verb::Upload, Field::Bucket),
            SEv::Rejected(RequestError::TooLarge { size: 5, max: 4 }),
            SEv::Closed,
        ]
    );
    assert_eq!(run.reply_heads(), ["150 NEED bucket", "701 FUBF TOO_LARGE"]);
}

#[test]
fn dialogues_between_a_client_and_a_server_pair() {
    // Raw dialogue bytes go to the server, bypassing the client session:
    // the server prompts and answers, and the client session, with no
    // request of its own waiting, refuses those replies as unrequested (one
    // reply per request, PROTOCOL.md § Transport).
    let mut pair = Pair::default_script();
    pair.send_raw(b"CREATE_B\nphotos\n");
    assert_eq!(
        pair.try_drive(),
        Err(ClientError::UnrequestedReply {
            code: ReplyCode::Need
        })
    );
    assert_eq!(pair.to_client, b"150 NEED bucket\n300 BCS\n");
    assert!(pair.client.is_closed());
}

/// An `UPLOAD` dialogue's answer the grammar refuses, when it may have been
/// the line after which the client sends its payload: with a readable size
/// the payload is skipped and the session goes on; otherwise no byte after
/// it can be told from payload, and the session closes after its reply.
#[test]
fn broken_upload_answers_skip_the_payload_or_close_the_session() {
    // Skipped: `a\b` is no bare argument, but the size is plain.
    for input in [
        &b"UPLOAD photos\na\\b 3\nabc"[..],
        b"UPLOAD\nphotos\nf\x01 3\nabc",
        b"UPLOAD\nphotos \xff\xfe 3\nabc",
        b"UPLOAD\nphotos,\"bad\\q\",3\nabc",
    ] {
        syntax_then_usable(input);
    }
    // Closed: no size, a bad size, too many arguments, an open quote.
    let too_many = RequestError::TooManyArguments { verb: Verb::Upload };
    for (input, prompts, error) in [
        (
            &b"UPLOAD b f\nabc\n"[..],
            &["size"][..],
            RequestError::BadSize,
        ),
        (b"UPLOAD b\nf -1\n", &["name"], RequestError::BadSize),
        (
            b"UPLOAD\nphotos cat.png 5 extra\n",
            &["bucket"],
            too_many.clone(),
        ),
        (b"UPLOAD photos\na 5 x\n", &["name"], too_many.clone()),
        (b"UPLOAD photos cat.png\n5 6\n", &["size"], too_many.clone()),
        (
            b"UPLOAD\n\"unterminated 5\n",
            &["bucket"],
            RequestError::Syntax { detail: "" },
        ),
    ] {
        let mut heads: Vec<String> = prompts.iter().map(|f| format!("150 NEED {f}")).collect();
        heads.push("500 BCMD SYNTAX".into());
        let heads: Vec<&str> = heads.iter().map(String::as_str).collect();
        let run = refused_then_closed(input, &heads);
        assert_rejected_with(&run, &error);
    }
}
