//! The examples (`examples/std_server.rs`, `examples/std_client.rs`) run
//! against each other over 127.0.0.1, so what they show stays true. The
//! servers' answers to bad input are checked against both example servers
//! in `tokio_examples.rs`.
#![allow(clippy::unwrap_used)]

#[path = "../examples/std_client.rs"]
mod std_client;
#[path = "../examples/std_server.rs"]
mod std_server;

use std::net::{SocketAddr, TcpListener, TcpStream};
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
