//! The examples (`examples/std_server.rs`, `examples/std_client.rs`,
//! `examples/tokio_server.rs`, `examples/tokio_client.rs`) run against each
//! other over 127.0.0.1, so what they show stays true and the four
//! interoperate; the checks of the servers' answers run against both
//! servers.
#![allow(clippy::unwrap_used)]
// Each example is a crate of its own and includes `examples/shared/*.rs`
// itself; this test includes a std and a tokio example of each side, so
// each shared file twice (two modules, same items: the types agree).
#![allow(clippy::duplicate_mod)]

mod common;

#[path = "../examples/std_client.rs"]
mod std_client;
#[path = "../examples/std_server.rs"]
mod std_server;
#[path = "../examples/tokio_client.rs"]
mod tokio_client;
#[path = "../examples/tokio_server.rs"]
mod tokio_server;

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use bucket_proto::MAX_LINE_LEN;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// How long any one exchange may take before the test fails instead of
/// hanging.
const LIMIT: Duration = Duration::from_secs(10);

async fn within<T>(what: impl Future<Output = T>) -> T {
    tokio::time::timeout(LIMIT, what)
        .await
        .expect("timed out: the server stopped answering")
}

/// Starts the tokio example server on a free port, in the test's runtime.
async fn start_tokio_server() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(tokio_server::serve(
        listener,
        tokio_server::Files::default(),
    ));
    addr
}

/// Starts the std example server on a free port, on its own thread.
fn start_std_server() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || std_server::serve(listener, std_server::Files::default()));
    addr
}

async fn connect(addr: SocketAddr) -> TcpStream {
    TcpStream::connect(addr).await.unwrap()
}

/// A blocking connection for the std client, with a read time-out so a
/// server that stops answering fails the test instead of hanging it.
fn connect_std(addr: SocketAddr) -> std::net::TcpStream {
    let stream = std::net::TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(LIMIT)).unwrap();
    stream
}

/// Writes `input` and half-closes while reading everything the server sends
/// until it closes.
async fn exchange(addr: SocketAddr, input: &[u8]) -> Vec<u8> {
    let mut stream = connect(addr).await;
    let (mut reader, mut writer) = stream.split();
    let write = async {
        writer.write_all(input).await?;
        writer.shutdown().await
    };
    let mut replies = Vec::new();
    within(async { tokio::try_join!(write, reader.read_to_end(&mut replies)) })
        .await
        .unwrap();
    replies
}

/// The scripted session's transcript against a server called `server`.
fn transcript(server: &str) -> Vec<String> {
    [
        &format!("HELLO -> 100 OK BKT/1 {server}"),
        "CREATE_B -> 300 BCS",
        "UPLOAD -> 700 FUBS",
        "LIST_F -> 800 LFS 1",
        "    photos hello.txt 15",
        "DOWNLOAD -> 900 FDBS 15",
        "    \"hello, buckets\\n\"",
        "DELETE_F -> 1000 DFS",
        "DELETE_B -> 600 DBS",
        "QUIT -> 200 BYE",
    ]
    .map(String::from)
    .to_vec()
}

#[test]
fn the_std_client_runs_its_whole_session_against_the_std_server() {
    let addr = start_std_server();
    let first = std_client::run(connect_std(addr), "photos").unwrap();
    assert_eq!(first, transcript("std_server-example/0.1"));
    // The session cleaned up after itself, and a second run finds the same.
    let again = std_client::run(connect_std(addr), "photos").unwrap();
    assert_eq!(again, first);
}

#[test]
fn the_std_client_refuses_a_bad_bucket_name_before_sending_anything() {
    let addr = start_std_server();
    let error = std_client::run(connect_std(addr), "../etc").unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput);
}

#[tokio::test]
async fn the_tokio_client_runs_its_whole_session_against_the_tokio_server() {
    let addr = start_tokio_server().await;
    let first = within(tokio_client::run(connect(addr).await, "photos")).await;
    assert_eq!(first.unwrap(), transcript("tokio_server-example/0.1"));
    // The session cleaned up after itself, and a second run finds the same.
    let again = within(tokio_client::run(connect(addr).await, "photos")).await;
    assert_eq!(again.unwrap(), transcript("tokio_server-example/0.1"));
}

#[tokio::test]
async fn the_tokio_client_runs_its_whole_session_against_the_std_server() {
    let addr = start_std_server();
    let run = within(tokio_client::run(connect(addr).await, "photos")).await;
    assert_eq!(run.unwrap(), transcript("std_server-example/0.1"));
}

#[tokio::test]
async fn the_tokio_client_refuses_a_bad_bucket_name_before_sending_anything() {
    let addr = start_tokio_server().await;
    let error = tokio_client::run(connect(addr).await, "../etc")
        .await
        .unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput);
}

/// The std client blocks, so it runs on a blocking thread while this
/// (current-thread) runtime serves its connection; a second connection sits
/// idle in the middle of a line the whole time, so a server that served one
/// connection at a time would never answer the client.
#[tokio::test]
async fn the_std_client_runs_its_whole_session_against_the_tokio_server_beside_an_idle_connection()
{
    let addr = start_tokio_server().await;
    let mut idle = connect(addr).await;
    idle.write_all(b"HEL").await.unwrap();

    let run = tokio::task::spawn_blocking(move || std_client::run(connect_std(addr), "photos"));
    let run = within(run).await.unwrap();
    assert_eq!(run.unwrap(), transcript("tokio_server-example/0.1"));

    // The idle connection was kept all along and finishes its line.
    idle.write_all(b"LO\n").await.unwrap();
    let mut idle = BufReader::new(idle);
    let mut line = String::new();
    within(idle.read_line(&mut line)).await.unwrap();
    assert_eq!(line, "100 OK BKT/1 tokio_server-example/0.1\n");
}

/// Both servers answer the same bad input, dialogues and failures alike.
#[tokio::test]
async fn both_servers_answer_bad_input_dialogues_and_failures() {
    for addr in [start_tokio_server().await, start_std_server()] {
        bad_input_dialogues_and_failures(addr).await;
    }
}

async fn bad_input_dialogues_and_failures(addr: SocketAddr) {
    let replies = exchange(
        addr,
        b"FOO\n\
          UPLOAD b .. 2\nxx\
          CREATE_B\nb1\n\
          CREATE_B b1\n\
          DOWNLOAD b1 nothing\n\
          DELETE_B b2\n\
          UPLOAD b1 f 3\nabc\
          DELETE_B b1\n\
          LIST_B\n\
          QUIT\n\
          HELLO\n",
    )
    .await;
    assert_eq!(
        String::from_utf8(replies).unwrap(),
        "500 BCMD UNKNOWN_VERB unknown verb\n\
         701 FUBF BAD_NAME bad name: '.' and '..' are not file names\n\
         150 NEED bucket\n\
         300 BCS\n\
         301 BCF EXISTS bucket exists\n\
         901 FDBF NO_SUCH_FILE no such file\n\
         601 DBF NO_SUCH_BUCKET no such bucket\n\
         700 FUBS\n\
         601 DBF NOT_EMPTY bucket is not empty\n\
         400 LS 1\nb1\n\
         200 BYE\n",
        "nothing after QUIT is answered"
    );
}

/// Both servers keep files in memory, so both refuse an upload over
/// `MAX_UPLOAD_SIZE` from its line, before any payload is read, and close;
/// one at the limit is stored.
#[tokio::test]
async fn both_servers_refuse_an_upload_over_their_limit_from_its_line() {
    assert_eq!(std_server::MAX_UPLOAD_SIZE, tokio_server::MAX_UPLOAD_SIZE);
    let max = std_server::MAX_UPLOAD_SIZE;
    for addr in [start_tokio_server().await, start_std_server()] {
        // Over by one byte: refused, and nothing after the line is read.
        let over = format!("CREATE_B b\nUPLOAD b big {}\nHELLO\n", max + 1);
        let replies = String::from_utf8(exchange(addr, over.as_bytes()).await).unwrap();
        let refusal = replies
            .strip_prefix("300 BCS\n701 FUBF TOO_LARGE ")
            .unwrap_or_else(|| {
                panic!("not refused as too large: {replies:?}");
            });
        assert!(refusal.contains(&max.to_string()), "{refusal:?}");
        assert_eq!(
            refusal.lines().count(),
            1,
            "the session closed: {replies:?}"
        );

        // At the limit: stored, with every byte.
        let mut at = format!("UPLOAD b full {max}\n").into_bytes();
        at.resize(at.len() + usize::try_from(max).unwrap(), b'x');
        at.extend_from_slice(b"LIST_F b\nQUIT\n");
        let replies = String::from_utf8(exchange(addr, &at).await).unwrap();
        assert_eq!(
            replies,
            format!("700 FUBS\n800 LFS 1\nb full {max}\n200 BYE\n")
        );
    }
}

/// One line at a time, each reply read before the next line is written: a
/// refused line is answered and the connection goes on, until a line after
/// which the stream cannot be told apart from payload closes it.
#[tokio::test]
async fn the_tokio_server_answers_a_bad_line_and_goes_on() {
    let addr = start_tokio_server().await;
    let mut stream = BufReader::new(connect(addr).await);
    let mut say = async |line: &[u8]| {
        stream.get_mut().write_all(line).await.unwrap();
        let mut reply = String::new();
        within(stream.read_line(&mut reply)).await.unwrap();
        reply
    };
    assert_eq!(
        say(b"FOO bar\n").await,
        "500 BCMD UNKNOWN_VERB unknown verb\n"
    );
    assert_eq!(
        say(b"HELLO \xff\n").await,
        "500 BCMD SYNTAX request line is not valid UTF-8\n"
    );
    assert_eq!(
        say(b"CREATE_B a b c\n").await,
        "500 BCMD SYNTAX too many arguments for CREATE_B\n"
    );
    let too_long = [b"HELLO ".as_slice(), &[b'x'; MAX_LINE_LEN], b"\n"].concat();
    assert_eq!(
        say(&too_long).await,
        format!("500 BCMD LINE_TOO_LONG request line longer than {MAX_LINE_LEN} bytes\n")
    );
    assert_eq!(
        say(b"HELLO\n").await,
        "100 OK BKT/1 tokio_server-example/0.1\n"
    );
    // An UPLOAD whose size is no number: what follows could be payload.
    assert_eq!(
        say(b"UPLOAD b f lots\n").await,
        "500 BCMD SYNTAX size must be a decimal number of bytes without sign\n"
    );
    let mut rest = Vec::new();
    within(stream.read_to_end(&mut rest)).await.unwrap();
    assert_eq!(rest, b"", "the server closed after the unreadable upload");
}

#[tokio::test]
async fn an_upload_cut_short_by_the_peer_leaves_nothing_on_either_server() {
    for addr in [start_tokio_server().await, start_std_server()] {
        let replies = exchange(addr, b"CREATE_B b\nUPLOAD b f 10\nabc").await;
        assert_eq!(replies, b"300 BCS\n");
        let replies = exchange(addr, b"LIST_F b\nQUIT\n").await;
        assert_eq!(replies, b"800 LFS 0\n200 BYE\n");
    }
}

/// A payload many reads and writes long goes up and comes back whole, on
/// either server, with requests pipelined after it.
#[tokio::test]
async fn a_large_payload_goes_up_and_comes_back_whole_on_both_servers() {
    let payload: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let size = payload.len();
    let input = [
        format!("CREATE_B big\nUPLOAD big f {size}\n").as_bytes(),
        &payload,
        b"DOWNLOAD big f\nLIST_F big\nQUIT\n",
    ]
    .concat();
    for addr in [start_tokio_server().await, start_std_server()] {
        let replies = exchange(addr, &input).await;
        let expected = [
            format!("300 BCS\n700 FUBS\n900 FDBS {size}\n").as_bytes(),
            &payload,
            format!("800 LFS 1\nbig f {size}\n200 BYE\n").as_bytes(),
        ]
        .concat();
        assert!(replies == expected, "replies differ from {addr}");
    }
}

/// The example servers answer pipelined requests in batches of up to 64 KiB
/// of replies, then write them out before answering more: a client that
/// pipelines requests and reads nothing cannot make them hold every reply.
#[test]
fn the_example_answerer_stops_once_64_kib_of_replies_wait() {
    use bucket_proto::ServerSession;
    let mut session = ServerSession::default();
    let mut answerer = std_server::Answerer::new(std_server::Files::default(), "test");
    session.receive(&b"CODES\n".repeat(1000));
    let mut out = Vec::new();
    let mut rounds = 0;
    loop {
        let next = answerer.answer_events(&mut session).unwrap();
        let batch = session.poll_transmit(&mut out);
        rounds += 1;
        match next {
            std_server::Next::Flush => {
                // Stopped with requests still buffered, at one reply past
                // the batch size.
                assert!(session.buffered() > 0);
                assert!((64 * 1024..70 * 1024).contains(&batch), "{batch}");
            }
            std_server::Next::Read => break,
            std_server::Next::Payload(_) => panic!("no download was asked for"),
        }
    }
    let replies = common::decode_reply_stream(&out).len();
    assert_eq!(replies, 1000);
    assert!(rounds > 10, "{rounds} rounds");
}

/// Over sockets, both example servers answer every one of many pipelined
/// requests whose replies far exceed one batch, in order.
#[tokio::test]
async fn both_example_servers_answer_a_long_pipeline_in_batches() {
    let input = [b"CODES\n".repeat(1000), b"QUIT\n".to_vec()].concat();
    for addr in [start_tokio_server().await, start_std_server()] {
        let replies = exchange(addr, &input).await;
        assert_eq!(
            common::decode_reply_stream(&replies).len(),
            1001,
            "from {addr}"
        );
        assert!(replies.ends_with(b"200 BYE\n"));
    }
}
