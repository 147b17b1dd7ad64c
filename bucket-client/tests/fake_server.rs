//! The library against a small in-test server built on
//! `bucket_proto::ServerSession` (a test helper, not the real server): every
//! operation, refusals, streaming, and the ways a connection can break.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use bucket_client::{BucketName, Client, Error, FileName, Reason, ReplyCode, Verb};
use bucket_proto::{Reply, Request, ServerConfig, ServerEvent, ServerSession};

type Buckets = BTreeMap<String, BTreeMap<String, Vec<u8>>>;

/// File name the fake serves with a truncated payload, then hangs up.
const TRUNCATED: &str = "truncated";

/// Starts the fake on 127.0.0.1:0; it serves every connection on its own
/// thread until the test process ends.
fn fake(config: ServerConfig) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let store = Arc::new(Mutex::new(Buckets::new()));
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let (store, config) = (store.clone(), config.clone());
            thread::spawn(move || {
                let _ = serve(stream, store, config);
            });
        }
    });
    addr
}

fn serve(
    mut stream: TcpStream,
    store: Arc<Mutex<Buckets>>,
    config: ServerConfig,
) -> io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut session = ServerSession::new(config);
    let mut buf = vec![0u8; 64 * 1024];
    let mut tx = Vec::new();
    // (bucket, name, bytes) of the upload being received.
    let mut upload: Option<(String, String, Vec<u8>)> = None;
    let mut hang_up = false;
    loop {
        loop {
            let event = session.poll_event();
            match event {
                None => break,
                Some(ServerEvent::Closed) => {
                    tx.clear();
                    session.poll_transmit(&mut tx);
                    stream.write_all(&tx)?;
                    let _ = stream.shutdown(Shutdown::Write);
                    return Ok(());
                }
                Some(ServerEvent::PayloadData(data)) => {
                    if let Some((_, _, bytes)) = &mut upload {
                        bytes.extend_from_slice(data);
                    }
                }
                Some(ServerEvent::PayloadEnd) => {
                    let (bucket, name, bytes) = upload.take().unwrap();
                    let mut store = store.lock().unwrap();
                    let reply = match store.get_mut(&bucket) {
                        Some(files) => {
                            files.insert(name, bytes);
                            Reply::success(Verb::Upload).unwrap()
                        }
                        None => {
                            Reply::failure(Verb::Upload, Reason::NoSuchBucket, "no such bucket")
                        }
                    };
                    session.send_reply(&reply).unwrap();
                }
                Some(ServerEvent::PayloadAborted) => upload = None,
                Some(ServerEvent::Prompted { .. } | ServerEvent::RequestRejected(_)) => {}
                Some(ServerEvent::RequestReceived(request)) => {
                    let request = request.into_owned();
                    let mut store = store.lock().unwrap();
                    let verb = request.verb();
                    let no_bucket = || Reply::failure(verb, Reason::NoSuchBucket, "no such bucket");
                    let no_file = || Reply::failure(verb, Reason::NoSuchFile, "no such file");
                    let mut payload = None;
                    let reply = match &request {
                        Request::Hello => Reply::Hello {
                            server: "fake/0".into(),
                        },
                        Request::Help { topic } => bucket_proto::help::help(*topic),
                        Request::Codes => Reply::code_table(),
                        Request::Quit => Reply::Bye,
                        Request::CreateBucket { bucket } => {
                            if store.contains_key(bucket.as_str()) {
                                Reply::failure(verb, Reason::Exists, "bucket exists")
                            } else {
                                store.insert(bucket.to_string(), BTreeMap::new());
                                Reply::success(verb).unwrap()
                            }
                        }
                        Request::ListBuckets => Reply::Buckets {
                            buckets: store
                                .keys()
                                .map(|b| BucketName::new(b.clone()).unwrap())
                                .collect(),
                        },
                        Request::DeleteBucket { bucket } => match store.get(bucket.as_str()) {
                            None => no_bucket(),
                            Some(files) if !files.is_empty() => {
                                Reply::failure(verb, Reason::NotEmpty, "bucket holds files")
                            }
                            Some(_) => {
                                store.remove(bucket.as_str());
                                Reply::success(verb).unwrap()
                            }
                        },
                        Request::Upload { bucket, name, .. } => {
                            if store.contains_key(bucket.as_str()) {
                                upload = Some((bucket.to_string(), name.to_string(), Vec::new()));
                                continue;
                            }
                            // Refused at once: the session drops the payload.
                            no_bucket()
                        }
                        Request::ListFiles { bucket } => {
                            let mut files = Vec::new();
                            for (b, list) in store.iter() {
                                if bucket.as_ref().is_some_and(|want| want.as_str() != b) {
                                    continue;
                                }
                                for (n, bytes) in list {
                                    files.push(bucket_proto::FileEntry {
                                        bucket: BucketName::new(b.clone()).unwrap(),
                                        name: FileName::new(n.clone()).unwrap(),
                                        size: bytes.len() as u64,
                                    });
                                }
                            }
                            match bucket {
                                Some(b) if !store.contains_key(b.as_str()) => no_bucket(),
                                _ => Reply::Files { files },
                            }
                        }
                        Request::Download { bucket, name } => match store.get(bucket.as_str()) {
                            None => no_bucket(),
                            Some(files) => match files.get(name.as_str()) {
                                None => no_file(),
                                Some(bytes) => {
                                    payload = Some(bytes.clone());
                                    Reply::Download {
                                        size: bytes.len() as u64,
                                    }
                                }
                            },
                        },
                        Request::DeleteFile { bucket, name } => {
                            match store.get_mut(bucket.as_str()) {
                                None => no_bucket(),
                                Some(files) => match files.remove(name.as_str()) {
                                    None => no_file(),
                                    Some(_) => Reply::success(verb).unwrap(),
                                },
                            }
                        }
                    };
                    drop(store);
                    session.send_reply(&reply).unwrap();
                    if let Some(bytes) = payload.filter(|b| !b.is_empty()) {
                        if matches!(&request, Request::Download { name, .. } if name == TRUNCATED) {
                            // Half the payload, then hang up.
                            session.send_payload(&bytes[..bytes.len() / 2]).unwrap();
                            hang_up = true;
                        } else {
                            session.send_payload(&bytes).unwrap();
                        }
                    }
                }
            }
        }
        if session.has_transmit() {
            tx.clear();
            session.poll_transmit(&mut tx);
            stream.write_all(&tx)?;
        }
        if hang_up {
            return Ok(());
        }
        let n = stream.read(&mut buf)?;
        match n {
            0 => session.receive_eof(),
            n => session.receive(&buf[..n]),
        }
    }
}

/// A server that accepts one connection and runs `serve` on it, on a
/// thread of its own: its address, and that thread (which returns what
/// `serve` returns).
fn one_connection<T: Send + 'static>(
    serve: impl FnOnce(TcpStream) -> T + Send + 'static,
) -> (SocketAddr, thread::JoinHandle<T>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        serve(stream)
    });
    (addr, server)
}

fn connect(addr: SocketAddr) -> Client {
    Client::connect_timeout(addr, Duration::from_secs(20)).unwrap()
}

fn b(name: &str) -> BucketName<'static> {
    BucketName::new(name.to_owned()).unwrap()
}

fn f(name: &str) -> FileName<'static> {
    FileName::new(name.to_owned()).unwrap()
}

/// Deterministic pseudo-random bytes (xorshift64).
fn noise(len: usize, mut seed: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        out.extend_from_slice(&seed.to_le_bytes());
    }
    out.truncate(len);
    out
}

fn refused(error: &Error) -> (ReplyCode, Reason) {
    match error {
        Error::Refused { code, reason, .. } => (*code, *reason),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn lifecycle() {
    let addr = fake(ServerConfig::default());
    let mut c = connect(addr);
    assert_eq!(c.hello().unwrap(), "fake/0");
    assert!(c.help(None).unwrap().len() >= Verb::ALL.len());
    assert!(!c.help(Some(Verb::Upload)).unwrap().is_empty());
    assert_eq!(c.codes().unwrap().len(), ReplyCode::ALL.len());

    assert!(c.list_buckets().unwrap().is_empty());
    c.create_bucket(&b("photos")).unwrap();
    c.create_bucket(&b("docs")).unwrap();
    assert_eq!(c.list_buckets().unwrap(), [b("docs"), b("photos")]);

    c.upload(&b("photos"), &f("cat 1.png"), &b"hello"[..], 5)
        .unwrap();
    c.upload(&b("photos"), &f("empty"), io::empty(), 0).unwrap();
    let files = c.list_files(Some(&b("photos"))).unwrap();
    let listed: Vec<(String, u64)> = files.iter().map(|e| (e.name.to_string(), e.size)).collect();
    assert_eq!(
        listed,
        [("cat 1.png".to_owned(), 5), ("empty".to_owned(), 0)]
    );
    assert_eq!(c.list_files(None).unwrap().len(), 2);

    let mut got = Vec::new();
    assert_eq!(
        c.download(&b("photos"), &f("cat 1.png"), &mut got).unwrap(),
        5
    );
    assert_eq!(got, b"hello");
    got.clear();
    assert_eq!(c.download(&b("photos"), &f("empty"), &mut got).unwrap(), 0);
    assert!(got.is_empty());

    c.delete_file(&b("photos"), &f("cat 1.png")).unwrap();
    c.delete_file(&b("photos"), &f("empty")).unwrap();
    c.delete_bucket(&b("photos")).unwrap();
    c.delete_bucket(&b("docs")).unwrap();
    assert!(c.list_buckets().unwrap().is_empty());
    c.quit().unwrap();
}

#[test]
fn refusals_keep_the_connection() {
    let addr = fake(ServerConfig::default());
    let mut c = connect(addr);
    c.create_bucket(&b("x")).unwrap();

    let e = c.create_bucket(&b("x")).unwrap_err();
    assert_eq!(
        refused(&e),
        (ReplyCode::BucketCreationFailed, Reason::Exists)
    );
    assert!(!e.breaks_connection());

    let e = c
        .upload(&b("nope"), &f("a"), &[7u8; 1000][..], 1000)
        .unwrap_err();
    assert_eq!(
        refused(&e),
        (ReplyCode::FileUploadFailed, Reason::NoSuchBucket)
    );
    assert_eq!(e.to_string(), "701 FUBF NO_SUCH_BUCKET: no such bucket");

    let mut sink = Vec::new();
    let e = c.download(&b("x"), &f("missing"), &mut sink).unwrap_err();
    assert_eq!(refused(&e), (ReplyCode::DownloadFailed, Reason::NoSuchFile));
    assert!(sink.is_empty(), "nothing written on a refusal");

    c.upload(&b("x"), &f("a"), &b"abc"[..], 3).unwrap();
    let e = c.delete_bucket(&b("x")).unwrap_err();
    assert_eq!(
        refused(&e),
        (ReplyCode::BucketDeletionFailed, Reason::NotEmpty)
    );
    assert_eq!(e.to_string(), "601 DBF NOT_EMPTY: bucket holds files");
    let e = c.delete_file(&b("x"), &f("zzz")).unwrap_err();
    assert_eq!(
        refused(&e),
        (ReplyCode::FileDeletionFailed, Reason::NoSuchFile)
    );
    let e = c.list_files(Some(&b("nope"))).unwrap_err();
    assert_eq!(
        refused(&e),
        (ReplyCode::FileListFailed, Reason::NoSuchBucket)
    );

    // Still in step after all of that.
    assert!(c.is_open());
    assert_eq!(c.hello().unwrap(), "fake/0");
}

#[test]
fn streams_large_files_with_progress() {
    let addr = fake(ServerConfig::default());
    let mut c = connect(addr);
    c.create_bucket(&b("big")).unwrap();
    let data = noise(5 * 1024 * 1024 + 123, 0x9E37_79B9_7F4A_7C15);
    let len = data.len() as u64;

    struct Track {
        total: Option<u64>,
        calls: usize,
        last: u64,
    }
    impl bucket_client::Progress for Track {
        fn start(&mut self, total: u64) {
            assert!(self.total.is_none(), "start once");
            self.total = Some(total);
        }
        fn advance(&mut self, done: u64) {
            assert!(self.total.is_some(), "start before advance");
            assert!(done > self.last, "progress only grows");
            self.last = done;
            self.calls += 1;
        }
    }

    let mut up = Track {
        total: None,
        calls: 0,
        last: 0,
    };
    c.upload_with_progress(&b("big"), &f("blob"), &data[..], len, &mut up)
        .unwrap();
    assert_eq!((up.total, up.last), (Some(len), len));
    assert!(up.calls >= 20, "sent in chunks, got {} calls", up.calls);

    let mut down = Track {
        total: None,
        calls: 0,
        last: 0,
    };
    let mut got = Vec::new();
    let n = c
        .download_with_progress(&b("big"), &f("blob"), &mut got, &mut down)
        .unwrap();
    assert_eq!(n, len);
    assert_eq!((down.total, down.last), (Some(len), len));
    assert!(got == data, "download differs from upload");

    // A closure works as progress too.
    let mut seen = 0;
    c.upload_with_progress(&b("big"), &f("small"), &b"xyz"[..], 3, &mut |d| seen = d)
        .unwrap();
    assert_eq!(seen, 3);
}

#[test]
fn upload_reads_only_len_bytes() {
    let addr = fake(ServerConfig::default());
    let mut c = connect(addr);
    c.create_bucket(&b("x")).unwrap();
    c.upload(&b("x"), &f("a"), &b"abcdefgh"[..], 3).unwrap();
    let mut got = Vec::new();
    c.download(&b("x"), &f("a"), &mut got).unwrap();
    assert_eq!(got, b"abc");
}

#[test]
fn short_source_closes_the_connection() {
    let addr = fake(ServerConfig::default());
    let mut c = connect(addr);
    c.create_bucket(&b("x")).unwrap();
    let e = c.upload(&b("x"), &f("a"), &b"abc"[..], 10).unwrap_err();
    assert!(
        matches!(
            e,
            Error::SourceTooShort {
                expected: 10,
                got: 3
            }
        ),
        "{e:?}"
    );
    assert!(e.breaks_connection());
    assert!(!c.is_open());
    assert!(matches!(c.hello(), Err(Error::Closed)));

    // The server kept nothing, and a new connection works.
    let mut c = connect(addr);
    assert!(c.list_files(Some(&b("x"))).unwrap().is_empty());
}

#[test]
fn failing_source_is_a_local_error() {
    struct Broken;
    impl Read for Broken {
        fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
            Err(io::Error::other("disk on fire"))
        }
    }
    let addr = fake(ServerConfig::default());
    let mut c = connect(addr);
    c.create_bucket(&b("x")).unwrap();
    let e = c.upload(&b("x"), &f("a"), Broken, 10).unwrap_err();
    assert!(
        matches!(&e, Error::Local(io) if io.to_string() == "disk on fire"),
        "{e:?}"
    );
    assert!(!c.is_open());
}

#[test]
fn failing_destination_is_a_local_error() {
    struct Full;
    impl Write for Full {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::Error::other("disk full"))
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    let addr = fake(ServerConfig::default());
    let mut c = connect(addr);
    c.create_bucket(&b("x")).unwrap();
    c.upload(&b("x"), &f("a"), &[1u8; 100][..], 100).unwrap();
    let e = c.download(&b("x"), &f("a"), Full).unwrap_err();
    assert!(matches!(&e, Error::Local(_)), "{e:?}");
    assert!(matches!(c.hello(), Err(Error::Closed)));
}

#[test]
fn too_large_upload_is_refused_and_closes() {
    let addr = fake(ServerConfig::default().with_max_upload_size(Some(1000)));
    let mut c = connect(addr);
    c.create_bucket(&b("x")).unwrap();
    // Big enough that the server hangs up while the client is still sending.
    let data = noise(8 * 1024 * 1024, 7);
    let e = c
        .upload(&b("x"), &f("a"), &data[..], data.len() as u64)
        .unwrap_err();
    match &e {
        Error::Refused { code, reason, .. } => {
            assert_eq!(
                (*code, *reason),
                (ReplyCode::FileUploadFailed, Reason::TooLarge)
            );
        }
        // The reset may beat the reply to the client; then the error is I/O.
        Error::Io(_) => {}
        other => panic!("unexpected {other:?}"),
    }
    assert!(e.breaks_connection());
    assert!(!c.is_open());

    // Small over-limit upload: all of it fits in the socket buffers, so the
    // reply is read normally.
    let mut c = connect(addr);
    let e = c
        .upload(&b("x"), &f("a"), &[0u8; 1001][..], 1001)
        .unwrap_err();
    assert_eq!(refused(&e), (ReplyCode::FileUploadFailed, Reason::TooLarge));
    assert!(!c.is_open());

    let mut c = connect(addr);
    c.upload(&b("x"), &f("a"), &[0u8; 1000][..], 1000).unwrap();
}

#[test]
fn a_truncated_download_says_how_many_bytes_arrived() {
    let addr = fake(ServerConfig::default());
    let mut c = connect(addr);
    c.create_bucket(&b("x")).unwrap();
    c.upload(&b("x"), &f(TRUNCATED), &[5u8; 4096][..], 4096)
        .unwrap();
    let mut got = Vec::new();
    let e = c.download(&b("x"), &f(TRUNCATED), &mut got).unwrap_err();
    let Error::DownloadCut { expected, got: n } = e else {
        panic!("{e:?}");
    };
    assert_eq!((expected, n), (4096, got.len() as u64));
    assert!(got.len() <= 2048);
    assert!(got.iter().all(|&byte| byte == 5));
    assert_eq!(
        e.to_string(),
        format!("connection closed after {n} of the download's 4096 bytes")
    );
    assert!(e.breaks_connection());
    assert!(matches!(c.list_buckets(), Err(Error::Closed)));
}

#[test]
fn server_gone_is_noticed() {
    // A "server" that accepts and hangs up at once.
    let (addr, server) = one_connection(drop);
    let mut c = connect(addr);
    server.join().unwrap();
    // The hang-up is visible without sending anything.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while c.is_open() && std::time::Instant::now() < deadline {
        thread::sleep(Duration::from_millis(10));
    }
    assert!(!c.is_open());
    let e = c.hello().unwrap_err();
    assert!(matches!(e, Error::Closed | Error::Io(_)), "{e:?}");
    assert!(matches!(c.hello(), Err(Error::Closed)));
}

#[test]
fn busy_server_is_a_refusal() {
    // Answers 500 BCMD BUSY before any request, then closes, as a full
    // server does.
    let (addr, _) = one_connection(move |mut stream| {
        let _ = stream.write_all(b"500 BCMD BUSY too many connections\n");
        let _ = stream.shutdown(Shutdown::Write);
        // Let the client's request arrive before closing, so no reset.
        let _ = stream.read(&mut [0u8; 64]);
    });
    let mut c = connect(addr);
    let e = c.hello().unwrap_err();
    assert_eq!(refused(&e), (ReplyCode::BadCommand, Reason::Busy));
    assert_eq!(e.to_string(), "500 BCMD BUSY: too many connections");
    assert!(e.breaks_connection());
    assert!(!c.is_open());
}

#[test]
fn connect_errors_are_io() {
    // Port 1: nothing listens there, and no test's listener (port 0) can be
    // given it, as a port freed here could be.
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], 1));
    let e = Client::connect_timeout(addr, Duration::from_secs(5)).unwrap_err();
    assert!(matches!(e, Error::Io(_)), "{e:?}");
}

#[test]
fn a_zero_timeout_is_refused_before_the_socket_and_breaks_nothing() {
    let addr = fake(ServerConfig::default());
    let mut c = Client::connect_timeout(addr, Duration::from_millis(300)).unwrap();
    let e = c.set_timeout(Some(Duration::ZERO)).unwrap_err();
    assert!(matches!(e, Error::ZeroTimeout), "{e:?}");
    assert!(!e.breaks_connection());
    assert!(c.is_open());
    // The 300 ms limit still holds, and the connection still works.
    c.hello().unwrap();
    assert!(c.set_timeout(None).is_ok());
    c.hello().unwrap();
    let e = Client::connect_timeout(addr, Duration::ZERO).unwrap_err();
    assert!(matches!(e, Error::ZeroTimeout), "{e:?}");
}

#[test]
fn an_inner_error_is_printed_once_by_a_reporter_that_walks_the_chain() {
    // What anyhow's `{:#}` and tracing's error fields do: each error's
    // Display, then its source's, and so on.
    fn chain(e: &dyn std::error::Error) -> String {
        let mut text = e.to_string();
        let mut next = e.source();
        while let Some(inner) = next {
            text = format!("{text}: {inner}");
            next = inner.source();
        }
        text
    }
    let errors = [
        Error::Io(io::Error::new(
            io::ErrorKind::ConnectionReset,
            "reset by peer",
        )),
        Error::Local(io::Error::new(io::ErrorKind::StorageFull, "disk full")),
        Error::from(FileName::new("a/b").unwrap_err()),
        Error::Protocol(bucket_proto::ClientError::UnexpectedEof),
        Error::Session(bucket_proto::SendError::TransmitPending),
    ];
    for e in &errors {
        let inner = match e {
            Error::Io(inner) | Error::Local(inner) => inner.to_string(),
            Error::BadName(inner) => inner.to_string(),
            Error::Protocol(inner) => inner.to_string(),
            Error::Session(inner) => inner.to_string(),
            _ => unreachable!(),
        };
        assert_eq!(chain(e).matches(&inner).count(), 1, "{}", chain(e));
        assert_eq!(chain(e), e.to_string());
    }
}

#[test]
fn read_timeout_breaks_the_connection() {
    // Accepts and never answers.
    let (addr, _) = one_connection(move |stream| {
        thread::sleep(Duration::from_secs(5));
        drop(stream);
    });
    let mut c = Client::connect_timeout(addr, Duration::from_millis(300)).unwrap();
    let e = c.hello().unwrap_err();
    // Said as a time-out with its limit, not as the OS's EAGAIN text.
    assert!(
        matches!(&e, Error::Io(io) if io.kind() == io::ErrorKind::TimedOut),
        "{e:?}"
    );
    assert_eq!(
        e.to_string(),
        "network: timed out after 300 ms waiting for the server"
    );
    assert!(!c.is_open());
}

#[test]
fn refused_display_without_text() {
    let e = Error::Refused {
        code: ReplyCode::DownloadFailed,
        reason: Reason::Io,
        text: String::new(),
    };
    assert_eq!(e.to_string(), "901 FDBF IO");
}

/// A server that answers each request line it reads with the next of
/// `answers`, as given, on one connection.
fn scripted(answers: Vec<&'static [u8]>) -> SocketAddr {
    let (addr, _) = one_connection(move |stream| {
        let mut reader = io::BufReader::new(stream.try_clone().unwrap());
        let mut writer = stream;
        for answer in answers {
            let mut line = String::new();
            if io::BufRead::read_line(&mut reader, &mut line).unwrap_or(0) == 0 {
                return;
            }
            let _ = writer.write_all(answer);
        }
        let _ = reader.read_to_end(&mut Vec::new());
    });
    addr
}

/// A hostile server's text (ANSI escapes, a C1 CSI, a bell) in the hello
/// name, a failure and help lines reaches the caller as spaces: a program
/// that prints `{err}` or the strings cannot be sent an escape sequence.
#[test]
fn escape_sequences_in_server_text_never_reach_the_caller() {
    let addr = scripted(vec![
        b"100 OK BKT/1 \x1b]0;owned\x07srv\n",
        b"601 DBF NOT_EMPTY \x1b[2J\xc2\x9b31mgone\n",
        b"210 HELP 1\n\x1b[5mblink\n",
    ]);
    let mut c = connect(addr);
    let hello = c.hello().unwrap();
    let refusal = c.delete_bucket(&b("x")).unwrap_err();
    let help = c.help(None).unwrap();
    let shown = format!("{hello}|{refusal}|{}", help.join("|"));
    assert_eq!(
        shown,
        " ]0;owned srv|601 DBF NOT_EMPTY:  [2J 31mgone| [5mblink"
    );
    assert!(!shown.chars().any(char::is_control), "{shown:?}");
}

/// One reply per request (PROTOCOL.md § Transport): a server that answers
/// twice must not have its extra reply taken as the next request's answer,
/// which would report a failed delete as done. Whether the extra reply came
/// with the first or arrives later, the next call fails as a protocol error
/// and the connection closes.
#[test]
fn an_extra_reply_is_a_protocol_error_not_the_next_answer() {
    let bucket = BucketName::new("x").unwrap();
    let (a, missing) = (
        FileName::new("a").unwrap(),
        FileName::new("missing").unwrap(),
    );
    let unrequested = |e: &Error| {
        matches!(
            e,
            Error::Protocol(bucket_proto::ClientError::UnrequestedReply {
                code: ReplyCode::FileDeleted
            })
        )
    };
    // In the same segment as the first reply.
    let addr = scripted(vec![
        b"1000 DFS\n1000 DFS\n",
        b"1001 DFF NO_SUCH_FILE no such file\n",
    ]);
    let mut c = connect(addr);
    c.delete_file(&bucket, &a).unwrap();
    let e = c.delete_file(&bucket, &missing).unwrap_err();
    assert!(unrequested(&e), "{e:?}");
    assert!(!c.is_open());
    // Arriving after the first call returned.
    let (addr, _) = one_connection(move |mut stream| {
        let _ = stream.read(&mut [0u8; 64]);
        let _ = stream.write_all(b"1000 DFS\n");
        thread::sleep(Duration::from_millis(50));
        let _ = stream.write_all(b"1000 DFS\n");
        let _ = stream.read_to_end(&mut Vec::new());
    });
    let mut c = connect(addr);
    c.delete_file(&bucket, &a).unwrap();
    thread::sleep(Duration::from_millis(300));
    let e = c.delete_file(&bucket, &missing).unwrap_err();
    assert!(unrequested(&e), "{e:?}");
    assert!(!c.is_open());
}

/// A `150 NEED` prompt to a request that needs no more arguments is one
/// error, `Error::UnexpectedReply`, whether the verb takes that field at all
/// (`HELLO`: the protocol session notices) or the request carried it
/// (`DELETE_F`: the client notices).
#[test]
fn a_prompt_to_a_whole_request_is_an_unexpected_reply_whoever_notices() {
    let addr = scripted(vec![b"150 NEED bucket\n"]);
    let e = connect(addr).hello().unwrap_err();
    assert!(
        matches!(
            e,
            Error::UnexpectedReply {
                verb: Verb::Hello,
                code: ReplyCode::Need
            }
        ),
        "{e:?}"
    );
    assert!(e.breaks_connection());

    let addr = scripted(vec![b"150 NEED bucket\n"]);
    let e = connect(addr).delete_file(&b("x"), &f("a")).unwrap_err();
    assert!(
        matches!(
            e,
            Error::UnexpectedReply {
                verb: Verb::DeleteFile,
                code: ReplyCode::Need
            }
        ),
        "{e:?}"
    );
}

/// A server that refuses an upload with `NO_SUCH_BUCKET` before reading its
/// payload (PROTOCOL.md allows an early answer for `TOO_LARGE` only) and then
/// reads on: the client stops sending, returns the refusal and closes, as
/// `Error::breaks_connection`'s docs say, and `is_open` says so.
#[test]
fn an_early_refusal_of_any_reason_ends_the_upload_and_the_connection() {
    let (read_tx, read_rx) = std::sync::mpsc::channel();
    let (addr, _) = one_connection(move |stream| {
        let mut reader = io::BufReader::new(stream.try_clone().unwrap());
        let mut writer = stream;
        let mut line = String::new();
        io::BufRead::read_line(&mut reader, &mut line).unwrap();
        writer
            .write_all(b"701 FUBF NO_SUCH_BUCKET no such bucket\n")
            .unwrap();
        // Let the client fill the socket buffers first, so that it is still
        // sending when it sees the reply.
        thread::sleep(Duration::from_millis(200));
        let mut rest = Vec::new();
        let _ = reader.read_to_end(&mut rest);
        let _ = read_tx.send(rest.len());
    });
    let mut c = connect(addr);
    let payload = vec![7u8; 64 << 20];
    let e = c
        .upload(&b("x"), &f("a"), &payload[..], payload.len() as u64)
        .unwrap_err();
    assert_eq!(
        refused(&e),
        (ReplyCode::FileUploadFailed, Reason::NoSuchBucket)
    );
    assert!(!c.is_open());
    assert!(matches!(c.hello(), Err(Error::Closed)), "the next call");
    let read = read_rx.recv_timeout(Duration::from_secs(10)).unwrap();
    assert!(
        read < payload.len(),
        "the client stopped early: {read} bytes"
    );
}

/// A server that takes the upload's line and 1 MiB, then stops reading: the
/// upload fails as a time-out soon after the client's own time-out, not
/// after a fixed two-second wait for an explanation on top of it.
#[test]
fn an_upload_into_a_stalled_server_keeps_to_the_clients_time_out() {
    let (addr, _) = one_connection(move |mut stream| {
        let mut first = vec![0u8; 1 << 20];
        let _ = stream.read_exact(&mut first);
        thread::sleep(Duration::from_secs(10));
    });
    let mut c = Client::connect_timeout(addr, Duration::from_millis(300)).unwrap();
    let payload = vec![7u8; 64 << 20];
    let started = std::time::Instant::now();
    let e = c
        .upload(
            &b("x"),
            &FileName::new("f").unwrap(),
            &payload[..],
            payload.len() as u64,
        )
        .unwrap_err();
    let took = started.elapsed();
    assert!(
        matches!(&e, Error::Io(io) if io.kind() == io::ErrorKind::TimedOut),
        "{e:?}"
    );
    // 300 ms to notice, at most 300 ms more to look for a reply; the old
    // fixed wait alone was 2 s.
    assert!(took < Duration::from_millis(1800), "took {took:?}");
    assert!(!c.is_open());
}

/// A server that answers every `LIST_B` line with a list announcing `count`
/// buckets, then writes bucket lines (`bucket-000001` …, 13 bytes each)
/// until `count` are out or the client hangs up: how many it wrote.
fn listing(count: u64) -> (SocketAddr, thread::JoinHandle<u64>) {
    one_connection(move |stream| {
        let mut reader = io::BufReader::new(stream.try_clone().unwrap());
        let mut writer = io::BufWriter::new(stream);
        let mut written = 0;
        let mut line = String::new();
        while io::BufRead::read_line(&mut reader, &mut line).unwrap_or(0) > 0 {
            if line.trim() != "LIST_B" {
                break;
            }
            line.clear();
            if writeln!(writer, "400 LS {count}").is_err() {
                break;
            }
            for i in 0..count {
                if writeln!(writer, "bucket-{:06}", i % 1_000_000).is_err() {
                    return written;
                }
                written += 1;
            }
            if writer.flush().is_err() {
                break;
            }
        }
        written
    })
}

/// A server whose list goes over the client's limit cannot make the client
/// hold it: the client fails at the item that goes over and closes the
/// connection, and the server's writes fail soon after.
#[test]
fn a_list_over_the_limit_fails_and_closes_the_connection() {
    let (addr, server) = listing(u64::MAX / 2);
    let mut c = connect(addr);
    assert_eq!(
        c.max_list_size(),
        Some(bucket_client::DEFAULT_MAX_LIST_SIZE)
    );
    // The header alone goes over the default limit.
    let e = c.list_buckets().unwrap_err();
    assert!(
        matches!(
            e,
            Error::ListTooLarge {
                count,
                limit: bucket_client::DEFAULT_MAX_LIST_SIZE
            } if count == u64::MAX / 2
        ),
        "{e:?}"
    );
    assert!(e.breaks_connection());
    assert!(!c.is_open());
    assert!(matches!(c.list_buckets(), Err(Error::Closed)));
    drop(c);
    // Returns only once its writes fail: the client hung up.
    server.join().unwrap();

    // 10,000 items: 640,000 bytes of overhead, then 13 bytes per line; the
    // limit is reached at item 4,616.
    let (addr, server) = listing(10_000);
    let mut c = connect(addr);
    c.set_max_list_size(Some(700_000));
    let e = c.list_buckets().unwrap_err();
    assert!(
        matches!(
            e,
            Error::ListTooLarge {
                count: 10_000,
                limit: 700_000
            }
        ),
        "{e:?}"
    );
    assert_eq!(
        e.to_string(),
        "the server's list of 10000 items is larger than this client's limit of 700000 bytes"
    );
    assert!(!c.is_open());
    drop(c);
    server.join().unwrap();
}

/// Up to the limit a list is whole, and lifting the limit takes any list.
#[test]
fn a_list_within_the_limit_or_with_the_limit_lifted_is_whole() {
    for limit in [Some(640_000 + 13 * 10_000), None] {
        let (addr, server) = listing(10_000);
        let mut c = connect(addr);
        c.set_max_list_size(limit);
        assert_eq!(c.max_list_size(), limit);
        let buckets = c.list_buckets().unwrap();
        assert_eq!(buckets.len(), 10_000);
        assert_eq!(buckets[9_999].as_str(), "bucket-009999");
        // The connection is still in step.
        assert_eq!(c.list_buckets().unwrap().len(), 10_000);
        drop(c);
        assert_eq!(server.join().unwrap(), 20_000);
    }
}

/// A server that reads one request line, writes `head` at once, then
/// `tail` one byte every `every` until it is out or the client hangs up:
/// how many bytes of `tail` it wrote.
fn trickling(
    head: &'static [u8],
    tail: &'static [u8],
    every: Duration,
) -> (SocketAddr, thread::JoinHandle<usize>) {
    one_connection(move |stream| {
        let mut reader = io::BufReader::new(stream.try_clone().unwrap());
        let mut writer = stream;
        io::BufRead::read_line(&mut reader, &mut String::new()).unwrap();
        writer.write_all(head).unwrap();
        for (sent, byte) in tail.iter().enumerate() {
            thread::sleep(every);
            if writer.write_all(std::slice::from_ref(byte)).is_err() {
                return sent;
            }
        }
        tail.len()
    })
}

const TRICKLED_HELLO: &[u8] = b"100 OK BKT/1 fake/1.0\n";

/// A server that trickles a reply line byte by byte, each byte well within
/// the read time-out, cannot keep the client waiting: the line as a whole
/// must arrive within the time-out of its first byte (as `bucket-server`
/// holds clients to, docs/operations.md).
#[test]
fn a_trickled_reply_line_times_out_however_often_bytes_arrive() {
    // 22 bytes, one per 100 ms: 2.2 s for the line, against 500 ms.
    let (addr, server) = trickling(b"", TRICKLED_HELLO, Duration::from_millis(100));
    let mut c = Client::connect_timeout(addr, Duration::from_millis(500)).unwrap();
    let e = c.hello().unwrap_err();
    assert_cut_mid_line(&e, &c, server, TRICKLED_HELLO.len());
}

/// What a client with a 500 ms time-out shows when a reply line took longer
/// (`e`, its error): a time-out that names the line, a closed connection,
/// and a `trickling` server cut off before the `tail_len` bytes went out.
fn assert_cut_mid_line(e: &Error, c: &Client, server: thread::JoinHandle<usize>, tail_len: usize) {
    assert!(
        matches!(e, Error::Io(io) if io.kind() == io::ErrorKind::TimedOut),
        "{e:?}"
    );
    assert_eq!(
        e.to_string(),
        "network: timed out after 500 ms waiting for the end of a reply line"
    );
    assert!(!c.is_open());
    assert!(server.join().unwrap() < tail_len);
}

/// Each line of a list counts from its own first byte: whole items at once,
/// then one trickled, fails at that one.
#[test]
fn a_trickled_list_item_times_out() {
    let tail = b"bucket-c\n";
    let (addr, server) = trickling(
        b"400 LS 3\nbucket-a\nbucket-b\n",
        tail,
        Duration::from_millis(150),
    );
    let mut c = Client::connect_timeout(addr, Duration::from_millis(500)).unwrap();
    let e = c.list_buckets().unwrap_err();
    assert_cut_mid_line(&e, &c, server, tail.len());
}

/// The limit is per line, not per reply: a list whose lines each arrive
/// within the time-out is whole, however long the reply takes, and so is a
/// line that arrives in pieces within it.
#[test]
fn slow_lines_within_the_time_out_are_whole() {
    // Three 9-byte items, one byte per 50 ms: about 450 ms per line and
    // 1.35 s for the reply, against 1 s.
    let tail = b"bucket-a\nbucket-b\nbucket-c\n";
    let (addr, server) = trickling(b"400 LS 3\n", tail, Duration::from_millis(50));
    let mut c = Client::connect_timeout(addr, Duration::from_secs(1)).unwrap();
    let buckets = c.list_buckets().unwrap();
    assert_eq!(buckets, [b("bucket-a"), b("bucket-b"), b("bucket-c")]);
    assert_eq!(server.join().unwrap(), tail.len());

    // A status line in pieces, 20 ms apart: about 440 ms against 2 s.
    let (addr, server) = trickling(b"", TRICKLED_HELLO, Duration::from_millis(20));
    let mut c = Client::connect_timeout(addr, Duration::from_secs(2)).unwrap();
    assert_eq!(c.hello().unwrap(), "fake/1.0");
    assert_eq!(server.join().unwrap(), TRICKLED_HELLO.len());
}

/// A server that answers `DOWNLOAD` with the header of a 1 MB file and 10
/// bytes of it, then says nothing more until the client goes: the client
/// blocks reading the rest. `sent` gets a message once the 10 bytes are out.
fn stalled_download() -> (SocketAddr, std::sync::mpsc::Receiver<()>) {
    let (sent, sent_rx) = std::sync::mpsc::channel();
    let (addr, _) = one_connection(move |stream| {
        let mut reader = io::BufReader::new(stream.try_clone().unwrap());
        let mut writer = stream;
        let mut line = String::new();
        io::BufRead::read_line(&mut reader, &mut line).unwrap();
        assert!(line.starts_with("DOWNLOAD "), "{line:?}");
        writer.write_all(b"900 FDBS 1000000\n0123456789").unwrap();
        sent.send(()).unwrap();
        let _ = reader.read_to_end(&mut Vec::new());
    });
    (addr, sent_rx)
}

/// An interrupter used from another thread ends a download blocked in a
/// read: the call returns `Interrupted` at once, the writer keeps the bytes
/// that came, and the client is closed.
#[test]
fn an_interrupter_ends_a_blocked_download_from_another_thread() {
    let (addr, sent) = stalled_download();
    let mut c = connect(addr);
    let interrupter = c.interrupter();
    let canceller = thread::spawn(move || {
        sent.recv().unwrap();
        // Give the client time to block in its read (the test passes
        // either way: a shut-down socket reads as closed).
        thread::sleep(Duration::from_millis(100));
        interrupter.interrupt();
    });
    let mut got = Vec::new();
    let started = std::time::Instant::now();
    let e = c.download(&b("x"), &f("big"), &mut got).unwrap_err();
    canceller.join().unwrap();
    assert!(matches!(e, Error::Interrupted), "{e:?}");
    assert_eq!(e.to_string(), "interrupted");
    assert!(e.breaks_connection());
    // Far below the 20 s time-out the client was connected with.
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(got, b"0123456789");
    assert!(!c.is_open());
    assert!(matches!(c.list_buckets(), Err(Error::Closed)));
}

/// Interrupted between calls, the client fails the next call with
/// `Interrupted`; an interrupter outliving its client does nothing.
#[test]
fn an_interrupt_between_calls_fails_the_next_call() {
    let addr = scripted(vec![b"100 OK BKT/1 fake\n", b"200 BYE\n"]);
    let mut c = connect(addr);
    assert_eq!(c.hello().unwrap(), "fake");
    let interrupter = c.interrupter();
    interrupter.interrupt();
    let e = c.hello().unwrap_err();
    assert!(matches!(e, Error::Interrupted), "{e:?}");
    assert!(!c.is_open());
    drop(c);
    interrupter.clone().interrupt();
}
