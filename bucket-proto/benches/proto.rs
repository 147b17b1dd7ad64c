//! Benchmarks of the sans-IO core (`cargo bench -p bucket-proto`).
//!
//! | group | what | throughput |
//! | --- | --- | --- |
//! | `request_parse` | [`decode::request`] over [`REQUEST_MIX`], httparse on a browser-like GET (the anchor), and httparse on the smallest GET that says what `DOWNLOAD` says ([`HTTP_GET_MINIMAL`]) | bytes/s |
//! | `request_parse_lines` | the same three, counted per line / per request | lines/s |
//! | `request_parse_by_length` | one `DOWNLOAD` line with a file name of 8, 64 and 240 bytes: the fixed cost of a line against its cost per byte | bytes/s |
//! | `server_session` | a warm [`ServerSession`] answering 1000 pipelined requests fed at once (the mix without `QUIT`; `HELLO` only) | requests/s |
//! | `upload_payload` | 16 MiB of upload payload through a [`ServerSession`] in 64 KiB chunks, copied in by `receive` or written into `receive_buffer` | bytes/s |
//!
//! No figure is asserted anywhere: they are read off criterion's report.
#![allow(clippy::unwrap_used)]

use std::borrow::Cow;
use std::hint::black_box;
use std::time::Duration;

use bucket_proto::{
    BucketName, Decoded, FileEntry, FileName, Reply, ReplyCode, Request, ServerEvent,
    ServerSession, Verb, decode, help,
};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

/// A realistic mix of request lines: every verb, mostly canonical spellings
/// with bare arguments, weighted toward transfers and listings, plus a few
/// aliases, lower-case verbs, comma separators and CRLF as older clients send
/// them. No quoted arguments (those with escapes allocate by design).
pub const REQUEST_MIX: &[&str] = &[
    "HELLO\n",
    "LIST_B\n",
    "LIST_F photos\n",
    "UPLOAD photos IMG_20240611_181503.jpg 4718592\n",
    "UPLOAD photos IMG_20240611_181544.jpg 5033164\n",
    "DOWNLOAD photos IMG_20240611_181503.jpg\n",
    "DOWNLOAD backups db-2024-06-11.sql.gz\n",
    "LIST_F\n",
    "CREATE_B logs-2024-06\n",
    "UPLOAD logs-2024-06 app-server-01.log 131072\n",
    "DELETE_F photos IMG_20240611_181544.jpg\n",
    "DOWNLOAD_FILE logs-2024-06 app-server-01.log\r\n",
    "upload_f backups db-2024-06-12.sql.gz 104857600\n",
    "ls_f backups\n",
    "NEW_BUCKET,scratch\n",
    "DELETE_B scratch\n",
    "HELP upload\n",
    "CODES\n",
    "ls_b\r\n",
    "QUIT\n",
];

/// A browser's GET with eight headers: the httparse anchor.
pub const HTTP_GET: &[u8] = b"GET /photos/IMG_20240611_181503.jpg HTTP/1.1\r\n\
Host: files.example.com\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:126.0) Gecko/20100101 Firefox/126.0\r\n\
Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8\r\n\
Accept-Language: en-US,en;q=0.5\r\n\
Accept-Encoding: gzip, deflate, br, zstd\r\n\
Referer: https://files.example.com/photos/\r\n\
Connection: keep-alive\r\n\
Upgrade-Insecure-Requests: 1\r\n\
\r\n";

/// The smallest HTTP/1.1 request that asks what the mix's
/// `DOWNLOAD photos IMG_20240611_181503.jpg` asks (HTTP/1.1 requires
/// `Host`): httparse on a message as short as ours, to show its own fixed
/// cost per message next to the browser GET's bytes/s. Not the target's
/// anchor; `HTTP_GET` is.
pub const HTTP_GET_MINIMAL: &[u8] =
    b"GET /photos/IMG_20240611_181503.jpg HTTP/1.1\r\nHost: files.example.com\r\n\r\n";

fn mix_bytes() -> u64 {
    REQUEST_MIX.iter().map(|l| l.len() as u64).sum()
}

/// Decodes every line of the mix once.
fn parse_mix(lines: &[&[u8]]) {
    for line in lines {
        match decode::request(black_box(line)) {
            Ok(Decoded::Complete { value, consumed }) => {
                black_box((value, consumed));
            }
            other => panic!("mix line {line:?} did not decode: {other:?}"),
        }
    }
}

fn parse_http(buf: &[u8]) {
    let mut headers = [httparse::EMPTY_HEADER; 16];
    let mut req = httparse::Request::new(&mut headers);
    let status = req.parse(black_box(buf)).unwrap();
    assert!(status.is_complete());
    black_box(&req);
}

fn bench_parse(c: &mut Criterion) {
    let lines: Vec<&[u8]> = REQUEST_MIX.iter().map(|l| l.as_bytes()).collect();

    let mut group = c.benchmark_group("request_parse");
    group.throughput(Throughput::Bytes(mix_bytes()));
    group.bench_function("bkt_request_mix", |b| b.iter(|| parse_mix(&lines)));
    group.throughput(Throughput::Bytes(HTTP_GET.len() as u64));
    group.bench_function("httparse_browser_get", |b| b.iter(|| parse_http(HTTP_GET)));
    group.throughput(Throughput::Bytes(HTTP_GET_MINIMAL.len() as u64));
    group.bench_function("httparse_minimal_get", |b| {
        b.iter(|| parse_http(HTTP_GET_MINIMAL))
    });
    group.finish();

    let mut group = c.benchmark_group("request_parse_lines");
    group.throughput(Throughput::Elements(REQUEST_MIX.len() as u64));
    group.bench_function("bkt_request_mix", |b| b.iter(|| parse_mix(&lines)));
    group.throughput(Throughput::Elements(1));
    group.bench_function("httparse_browser_get", |b| b.iter(|| parse_http(HTTP_GET)));
    group.bench_function("httparse_minimal_get", |b| {
        b.iter(|| parse_http(HTTP_GET_MINIMAL))
    });
    group.finish();

    // One DOWNLOAD line with a file name of each length: how the cost of a
    // line splits into a fixed part and a part per byte (bytes/s rises
    // with the length when the fixed part dominates).
    let mut group = c.benchmark_group("request_parse_by_length");
    for name_len in [8, 64, 240] {
        let line = format!("DOWNLOAD photos {}\n", "f".repeat(name_len));
        let one = [line.as_bytes()];
        group.throughput(Throughput::Bytes(line.len() as u64));
        group.bench_function(format!("download_{}_bytes", line.len()), |b| {
            b.iter(|| parse_mix(&one))
        });
    }
    group.finish();
}

/// The replies a server would send, built once so that the benchmark
/// measures the session and the encoder, not the application.
struct Replies {
    hello: Reply<'static>,
    help_all: Reply<'static>,
    help_one: Reply<'static>,
    codes: Reply<'static>,
    buckets: Reply<'static>,
    files: Reply<'static>,
}

impl Replies {
    fn new() -> Self {
        let b = |s: &'static str| BucketName::new(s).unwrap();
        let f = |s: &'static str| FileName::new(s).unwrap();
        Replies {
            hello: Reply::Hello {
                server: Cow::Borrowed("bucket-server/0.1.0"),
            },
            help_all: help::help(None),
            help_one: help::help(Some(Verb::Upload)),
            codes: Reply::code_table(),
            buckets: Reply::Buckets {
                buckets: vec![b("backups"), b("logs-2024-06"), b("photos")],
            },
            files: Reply::Files {
                files: vec![
                    FileEntry {
                        bucket: b("photos"),
                        name: f("IMG_20240611_181503.jpg"),
                        size: 4_718_592,
                    },
                    FileEntry {
                        bucket: b("photos"),
                        name: f("IMG_20240611_181544.jpg"),
                        size: 5_033_164,
                    },
                ],
            },
        }
    }
}

/// Size of the file every `DOWNLOAD` in the pipelined batch is answered with.
const DOWNLOAD_SIZE: u64 = 4096;

/// Which answer a request gets: chosen while the request (which borrows the
/// session) is alive, sent once it is dropped, as a server does.
#[derive(Clone, Copy)]
enum Answer {
    Hello,
    HelpAll,
    HelpOne,
    Codes,
    Bye,
    Buckets,
    Files,
    Download,
    Success(Verb),
    /// `UPLOAD`: answered at `PayloadEnd`.
    Later,
}

impl Answer {
    fn of(request: &Request<'_>) -> Answer {
        match request {
            Request::Hello => Answer::Hello,
            Request::Help { topic: None } => Answer::HelpAll,
            Request::Help { topic: Some(_) } => Answer::HelpOne,
            Request::Codes => Answer::Codes,
            Request::Quit => Answer::Bye,
            Request::ListBuckets => Answer::Buckets,
            Request::ListFiles { .. } => Answer::Files,
            Request::Download { .. } => Answer::Download,
            Request::Upload { .. } => Answer::Later,
            other => Answer::Success(other.verb()),
        }
    }

    /// Sends the reply; a download's payload is taken as written directly
    /// (`sendfile`), after the header went out.
    fn send(self, session: &mut ServerSession, replies: &Replies, out: &mut Vec<u8>) {
        let reply = match self {
            Answer::Later => return,
            Answer::Hello => &replies.hello,
            Answer::HelpAll => &replies.help_all,
            Answer::HelpOne => &replies.help_one,
            Answer::Codes => &replies.codes,
            Answer::Bye => &Reply::Bye,
            Answer::Buckets => &replies.buckets,
            Answer::Files => &replies.files,
            Answer::Download => {
                session
                    .send_reply(&Reply::Download {
                        size: DOWNLOAD_SIZE,
                    })
                    .unwrap();
                session.poll_transmit(out);
                session.payload_sent_directly(DOWNLOAD_SIZE).unwrap();
                return;
            }
            Answer::Success(verb) => &Reply::success(verb).unwrap(),
        };
        session.send_reply(reply).unwrap();
    }
}

/// `n` pipelined requests taken round-robin from the mix, without `QUIT`
/// (it would end the session); each `UPLOAD` carries a 64-byte payload
/// instead of the size in the mix.
fn pipelined_batch(n: usize) -> Vec<u8> {
    let mut input = Vec::new();
    let lines = REQUEST_MIX.iter().filter(|l| !l.starts_with("QUIT"));
    for line in lines.cycle().take(n) {
        match decode::request(line.as_bytes()).unwrap() {
            Decoded::Complete {
                value: Request::Upload { bucket, name, .. },
                ..
            } => {
                input.extend_from_slice(format!("UPLOAD {bucket} {name} 64\n").as_bytes());
                input.extend_from_slice(&[b'x'; 64]);
            }
            _ => input.extend_from_slice(line.as_bytes()),
        }
    }
    input
}

/// Feeds `input` at once and answers every request; returns requests seen.
fn run_batch(
    session: &mut ServerSession,
    input: &[u8],
    replies: &Replies,
    out: &mut Vec<u8>,
) -> usize {
    session.receive(input);
    let mut requests = 0;
    loop {
        let answer = match session.poll_event() {
            None => break,
            Some(ServerEvent::RequestReceived(request)) => {
                requests += 1;
                Answer::of(black_box(&request))
            }
            Some(ServerEvent::PayloadData(data)) => {
                black_box(data);
                Answer::Later
            }
            Some(ServerEvent::PayloadEnd) => Answer::Success(Verb::Upload),
            Some(other) => panic!("unexpected event {other:?}"),
        };
        answer.send(session, replies, out);
    }
    session.poll_transmit(out);
    requests
}

fn bench_session(c: &mut Criterion) {
    const N: usize = 1000;
    let replies = Replies::new();
    let mut group = c.benchmark_group("server_session");
    group.throughput(Throughput::Elements(N as u64));
    // The mix (HELP and CODES answers are the long ones), and HELLO alone:
    // the per-request floor.
    for (name, input) in [
        ("pipelined_1000_mix", pipelined_batch(N)),
        ("pipelined_1000_hello", b"HELLO\n".repeat(N)),
    ] {
        let mut session = ServerSession::default();
        let mut out = Vec::new();
        // Warm up: buffers reach their working size before measuring.
        assert_eq!(run_batch(&mut session, &input, &replies, &mut out), N);
        assert!(out.starts_with(b"100 OK BKT/1 bucket-server/0.1.0\n"));
        group.bench_function(name, |b| {
            b.iter(|| {
                out.clear();
                let n = run_batch(&mut session, black_box(&input), &replies, &mut out);
                debug_assert_eq!(n, N);
                black_box(out.len())
            })
        });
    }
    group.finish();
}

/// How an upload's bytes enter the session.
#[derive(Clone, Copy)]
enum Feed {
    /// [`ServerSession::receive`]: the session copies the caller's chunk.
    Receive,
    /// [`ServerSession::receive_buffer`] + [`ServerSession::commit_received`]:
    /// the bytes are written into the session's own buffer (a copy stands in
    /// for `read(2)`, which writes there in a server).
    ReceiveBuffer,
}

fn feed(session: &mut ServerSession, how: Feed, data: &[u8]) {
    match how {
        Feed::Receive => session.receive(data),
        Feed::ReceiveBuffer => {
            let room = session.receive_buffer(data.len());
            room[..data.len()].copy_from_slice(data);
            session.commit_received(data.len());
        }
    }
}

fn bench_upload_payload(c: &mut Criterion) {
    const CHUNK: usize = 64 * 1024;
    const CHUNKS: usize = 256; // 16 MiB per iteration
    const SIZE: u64 = (CHUNK * CHUNKS) as u64;
    let chunk: Vec<u8> = (0..CHUNK).map(|i| (i * 31 % 251) as u8).collect();
    let line = format!("UPLOAD photos big.bin {SIZE}\n");
    let success = Reply::success(Verb::Upload).unwrap();

    // One whole upload: request line, SIZE bytes in CHUNK pieces, reply.
    let upload = |session: &mut ServerSession, how: Feed, out: &mut Vec<u8>| -> u64 {
        feed(session, how, line.as_bytes());
        match session.poll_event() {
            Some(ServerEvent::RequestReceived(Request::Upload { size, .. })) => {
                assert_eq!(size, SIZE)
            }
            other => panic!("unexpected {other:?}"),
        }
        let mut seen = 0u64;
        for _ in 0..CHUNKS {
            feed(session, how, black_box(&chunk));
            while let Some(event) = session.poll_event() {
                match event {
                    ServerEvent::PayloadData(data) => {
                        seen += data.len() as u64;
                        black_box(data);
                    }
                    ServerEvent::PayloadEnd => {
                        session.send_reply(&success).unwrap();
                        break;
                    }
                    other => panic!("unexpected {other:?}"),
                }
            }
        }
        out.clear();
        session.poll_transmit(out);
        seen
    };

    let mut group = c.benchmark_group("upload_payload");
    group.throughput(Throughput::Bytes(SIZE));
    for (name, how) in [
        ("receive_64KiB_chunks", Feed::Receive),
        ("receive_buffer_64KiB_chunks", Feed::ReceiveBuffer),
    ] {
        let mut session = ServerSession::default();
        let mut out = Vec::new();
        assert_eq!(upload(&mut session, how, &mut out), SIZE);
        assert_eq!(
            decode::reply(&out).unwrap(),
            Decoded::Complete {
                value: Reply::Success {
                    code: ReplyCode::FileUploaded,
                    text: None
                },
                consumed: out.len()
            }
        );
        group.bench_function(name, |b| {
            b.iter(|| black_box(upload(&mut session, how, &mut out)))
        });
    }
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(5))
}

criterion_group! {
    name = benches;
    config = config();
    targets = bench_parse, bench_session, bench_upload_payload
}
criterion_main!(benches);
