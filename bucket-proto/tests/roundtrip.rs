//! Round trips: for generated names, requests (every variant) and replies
//! (every variant), decode(encode(x)) == x with every byte consumed; an
//! encoded request goes through a `ServerSession` to the same request, and
//! an encoded reply through a `ClientSession` to the same reply; a client
//! and a server joined in memory agree on both.
#![allow(clippy::unwrap_used)]

mod common;

use bucket_proto::decode::{self, Decoded};
use bucket_proto::{
    BucketName, FileName, MAX_LINE_LEN, Reply, Request, ServerEvent, ServerSession, encode,
};
use common::strategies::{bucket_name, file_name, reply, request, request_with_size};
use common::*;
use proptest::prelude::*;

proptest! {
    #[test]
    fn request_roundtrip(r in request()) {
        let wire = enc_request(&r);
        prop_assert!(wire.ends_with(b"\n"));
        prop_assert!(wire.len() <= MAX_LINE_LEN, "{} bytes", wire.len());
        match decode::request(&wire) {
            Ok(Decoded::Complete { value, consumed }) => {
                prop_assert_eq!(&value, &r);
                prop_assert_eq!(consumed, wire.len());
            }
            other => prop_assert!(false, "{:?}: {:?}", String::from_utf8_lossy(&wire), other),
        }
        // With CRLF too.
        let mut crlf = wire[..wire.len() - 1].to_vec();
        crlf.extend_from_slice(b"\r\n");
        prop_assert_eq!(
            decode::request(&crlf),
            Ok(Decoded::Complete { value: r.clone(), consumed: crlf.len() })
        );
    }

    #[test]
    fn request_through_a_server_session(r in request()) {
        let wire = enc_request(&r);
        let mut server = ServerSession::default();
        server.receive(&wire);
        let event = server.poll_event();
        prop_assert_eq!(event, Some(ServerEvent::RequestReceived(r.clone())));
        prop_assert_eq!(server.buffered(), 0);
        prop_assert!(!server.has_transmit());
    }

    #[test]
    fn reply_roundtrip(x in reply()) {
        let wire = enc_reply(&x);
        match decode::reply(&wire) {
            Ok(Decoded::Complete { value, consumed }) => {
                prop_assert_eq!(&value, &x);
                prop_assert_eq!(consumed, wire.len());
            }
            other => prop_assert!(false, "{:?}: {:?}", String::from_utf8_lossy(&wire), other),
        }
        // Every prefix is incomplete, never an error or another reply.
        for cut in [0, 1, wire.len() / 2, wire.len() - 1] {
            prop_assert_eq!(decode::reply(&wire[..cut]), Ok(Decoded::Incomplete));
        }
    }

    #[test]
    fn reply_through_a_client_session(x in reply()) {
        prop_assume!(x.is_final());
        let verb = bucket_proto::Verb::ALL
            .iter()
            .copied()
            .find(|v| v.success_code() == x.code() || v.failure_code() == x.code())
            .unwrap();
        let pending = match verb {
            bucket_proto::Verb::Upload => upload("b", "f", 0),
            bucket_proto::Verb::Download => download("b", "f"),
            bucket_proto::Verb::CreateBucket => Request::CreateBucket { bucket: bucket("b") },
            bucket_proto::Verb::DeleteBucket => Request::DeleteBucket { bucket: bucket("b") },
            bucket_proto::Verb::DeleteFile => Request::DeleteFile { bucket: bucket("b"), name: file("f") },
            bucket_proto::Verb::Hello => Request::Hello,
            bucket_proto::Verb::Help => Request::Help { topic: None },
            bucket_proto::Verb::Codes => Request::Codes,
            bucket_proto::Verb::Quit => Request::Quit,
            bucket_proto::Verb::ListBuckets => Request::ListBuckets,
            bucket_proto::Verb::ListFiles => Request::ListFiles { bucket: None },
        };
        let wire = enc_reply(&x);
        let run = run_client(&[pending], &[&wire], false);
        prop_assert_eq!(run.error, None);
        prop_assert_eq!(
            run.events.first(),
            Some(&CEv::Reply { request: Some(verb), reply: x.clone() })
        );
    }

    #[test]
    fn names_roundtrip_as_arguments(b in bucket_name(), f in file_name()) {
        // Bucket names never need quotes; file names are quoted only when
        // they must be.
        let mut arg = Vec::new();
        encode::arg(&b, &mut arg);
        prop_assert_eq!(&arg, b.as_bytes());
        arg.clear();
        encode::arg(&f, &mut arg);
        let needs_quotes = f.bytes().any(|c| matches!(c, b' ' | b'\t' | b',' | b'"' | b'\\'));
        prop_assert_eq!(arg.first() == Some(&b'"'), needs_quotes);
        let line = format!("DELETE_F {} {}\n", b, String::from_utf8(arg).unwrap());
        prop_assert_eq!(
            decode::request(line.as_bytes()),
            Ok(Decoded::Complete {
                value: Request::DeleteFile { bucket: b.clone(), name: f.clone() },
                consumed: line.len(),
            })
        );
        // The name types themselves agree with their text.
        prop_assert_eq!(BucketName::new(b.as_str()), Ok(b.borrowed()));
        prop_assert_eq!(FileName::new(f.to_string()), Ok(f.clone()));
        prop_assert_eq!(f.clone().into_owned(), f);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// A client and a server joined in memory: every request arrives as
    /// sent (uploads with their payload), and every reply as the server's
    /// application sent it, in order.
    #[test]
    fn pair_end_to_end(requests in prop::collection::vec(request_with_size(0u64..300), 1..8)) {
        let mut pair = Pair::default_script();
        for r in &requests {
            pair.send(r, &pattern(r.payload_len().unwrap_or(0) as usize));
        }
        let events = pair.drive();
        let quit = requests.iter().position(|r| *r == Request::Quit);
        let answered = &requests[..quit.map_or(requests.len(), |q| q + 1)];
        prop_assert_eq!(pair.server_events.iter().filter_map(|e| match e {
            SEv::Request(r) => Some(r.clone()),
            _ => None,
        }).collect::<Vec<_>>(), answered.to_vec());
        let mut want = Vec::new();
        for r in answered {
            let answer = default_answer(r, &[]);
            want.push(CEv::Reply { request: Some(r.verb()), reply: answer.reply.clone() });
            if let Reply::Download { size } = answer.reply {
                if size > 0 {
                    want.push(CEv::Payload(answer.payload.clone()));
                }
                want.push(CEv::PayloadEnd);
            }
        }
        prop_assert_eq!(events, want);
        let uploads: Vec<_> = answered
            .iter()
            .filter(|r| r.payload_len().is_some())
            .map(|r| (r.clone(), pattern(r.payload_len().unwrap_or(0) as usize)))
            .collect();
        prop_assert_eq!(&pair.uploads, &uploads);
        prop_assert_eq!(pair.client.pending_requests(), requests.len() - answered.len());
    }
}

#[test]
fn decoded_names_borrow_from_the_input_when_bare() {
    let line = b"DOWNLOAD photos cat.png\n";
    let Ok(Decoded::Complete {
        value: Request::Download { bucket, name },
        ..
    }) = decode::request(line)
    else {
        panic!("no request");
    };
    assert!(matches!(bucket.into_inner(), std::borrow::Cow::Borrowed(_)));
    assert!(matches!(name.into_inner(), std::borrow::Cow::Borrowed(_)));
    // A quoted name with an escape owns its unescaped text.
    let line = b"DOWNLOAD photos \"say \\\"hi\\\"\"\n";
    let Ok(Decoded::Complete {
        value: Request::Download { name, .. },
        ..
    }) = decode::request(line)
    else {
        panic!("no request");
    };
    assert_eq!(name, "say \"hi\"");
    assert!(matches!(name.into_inner(), std::borrow::Cow::Owned(_)));
}

#[test]
fn encode_arg_forms() {
    for (value, wire) in [
        ("plain", "plain"),
        ("é✓", "é✓"),
        ("", "\"\""),
        ("a b", "\"a b\""),
        ("a,b", "\"a,b\""),
        ("a\tb", "\"a b\""), // no escape for controls: a space
        ("say \"hi\"", r#""say \"hi\"""#),
        ("a\\b", r#""a\\b""#),
        ("\\\"", r#""\\\"""#),
    ] {
        let mut out = Vec::new();
        encode::arg(value, &mut out);
        assert_eq!(String::from_utf8(out).unwrap(), wire, "{value:?}");
    }
}

proptest! {
    /// Any text without ASCII controls, written with encode::arg, is read
    /// back as exactly that text: the request carries it as a name when it
    /// is a valid one, and is refused for the same rule otherwise.
    #[test]
    fn encode_arg_then_parse_is_identity(value in r#"[^\x00-\x1f\x7f]{0,40}|[\\"a ,.]{0,12}"#) {
        let mut line = b"DOWNLOAD b ".to_vec();
        encode::arg(&value, &mut line);
        line.push(b'\n');
        let decoded = decode::request(&line).map(|d| match d {
            Decoded::Complete { value: Request::Download { name, .. }, .. } => name.into_owned(),
            other => panic!("{other:?}"),
        });
        let expected = FileName::new(value.clone()).map_err(|error| bucket_proto::RequestError::BadName {
            verb: bucket_proto::Verb::Download,
            field: bucket_proto::Field::Name,
            error,
        });
        prop_assert_eq!(decoded, expected);
    }
}
