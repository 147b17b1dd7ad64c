//! The examples (`examples/std_server.rs`, `examples/std_client.rs`) run
//! against each other over 127.0.0.1, so what they show stays true.
#![allow(clippy::unwrap_used)]

#[path = "../examples/std_client.rs"]
mod std_client;
#[path = "../examples/std_server.rs"]
mod std_server;

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

/// Starts the example server on a free port; it serves until the test
/// process ends.
fn start_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || std_server::serve(listener, std_server::Files::default()));
    addr
}

fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
}

/// Writes `input`, half-closes, and returns everything the server sent
/// until it closed.
fn exchange(addr: SocketAddr, input: &[u8]) -> String {
    let mut stream = connect(addr);
    stream.write_all(input).unwrap();
    stream.shutdown(Shutdown::Write).unwrap();
    let mut replies = String::new();
    stream.read_to_string(&mut replies).unwrap();
    replies
}

#[test]
fn the_example_client_runs_its_whole_session_against_the_example_server() {
    let addr = start_server();
    let transcript = std_client::run(connect(addr), "photos").unwrap();
    assert_eq!(
        transcript,
        [
            "HELLO -> 100 OK BKT/1 std_server-example/0.1",
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
    );
    // The session cleaned up after itself, and a second run finds the same.
    let again = std_client::run(connect(addr), "photos").unwrap();
    assert_eq!(again, transcript);
}

#[test]
fn the_example_client_refuses_a_bad_bucket_name_before_sending_anything() {
    let addr = start_server();
    let error = std_client::run(connect(addr), "../etc").unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput);
}

#[test]
fn the_example_server_answers_bad_input_dialogues_and_failures() {
    let addr = start_server();
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
    );
    assert_eq!(
        replies,
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

#[test]
fn an_upload_cut_short_by_the_peer_leaves_nothing() {
    let addr = start_server();
    let replies = exchange(addr, b"CREATE_B b\nUPLOAD b f 10\nabc");
    assert_eq!(replies, "300 BCS\n");
    let replies = exchange(addr, b"LIST_F b\nQUIT\n");
    assert_eq!(replies, "800 LFS 0\n200 BYE\n");
}
