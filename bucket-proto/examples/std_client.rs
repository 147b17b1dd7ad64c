//! A BKT/1 client in one file: `bucket-proto`'s [`ClientSession`] on a
//! blocking std socket. It pipelines a whole session (every request is
//! written before the first reply is read), uploads a file, reads it back,
//! cleans up, and prints each reply with the request it answers.
//!
//! ```sh
//! cargo run --release --bin bucket-server &                  # or the std_server example
//! cargo run -p bucket-proto --example std_client             # 127.0.0.1:4567
//! cargo run -p bucket-proto --example std_client -- HOST:PORT
//! ```
//!
//! The loop is the one every embedding of [`ClientSession`] runs: queue
//! requests (and upload payloads), write out what `poll_transmit` gives,
//! read bytes into the session, take events until it needs more. The
//! session matches each reply to its request, so pipelining needs no
//! bookkeeping here. `bucket-client` is the same loop behind a blocking API.

use std::io::{self, Read, Write};
use std::net::TcpStream;

use bucket_proto::{BucketName, ClientEvent, ClientSession, FileName, Request, encode};

#[allow(dead_code)] // tests/examples.rs includes this file and calls `run`
fn main() -> io::Result<()> {
    let addr = std::env::args().nth(1);
    let stream = TcpStream::connect(addr.as_deref().unwrap_or("127.0.0.1:4567"))?;
    for line in run(stream, "std-client-example")? {
        println!("{line}");
    }
    Ok(())
}

/// Runs the scripted session on `stream` in bucket `bucket` (created, then
/// deleted) and returns its transcript: one line per reply, `VERB -> reply
/// line`, then a line per list item or the downloaded payload.
///
/// # Errors
/// Socket errors, a bucket name that is not valid, and the server breaking
/// the protocol (`InvalidData`).
pub fn run(mut stream: TcpStream, bucket: &str) -> io::Result<Vec<String>> {
    let invalid = |e| io::Error::new(io::ErrorKind::InvalidInput, e);
    let bucket = BucketName::new(bucket).map_err(invalid)?;
    let name = FileName::new("hello.txt").map_err(invalid)?;
    let payload = b"hello, buckets\n";

    // Queue every request at once: the session encodes them in order.
    let mut session = ClientSession::new();
    let requests = [
        Request::Hello,
        Request::CreateBucket {
            bucket: bucket.clone(),
        },
        Request::Upload {
            bucket: bucket.clone(),
            name: name.clone(),
            size: payload.len() as u64,
        },
        Request::ListFiles {
            bucket: Some(bucket.clone()),
        },
        Request::Download {
            bucket: bucket.clone(),
            name: name.clone(),
        },
        Request::DeleteFile {
            bucket: bucket.clone(),
            name,
        },
        Request::DeleteBucket { bucket },
        Request::Quit,
    ];
    for request in &requests {
        session.send_request(request).map_err(io::Error::other)?;
        if request.payload_len().is_some() {
            // UPLOAD's payload goes right after its line.
            session.send_payload(payload).map_err(io::Error::other)?;
        }
    }
    let mut out = Vec::new();
    session.poll_transmit(&mut out);
    stream.write_all(&out)?;

    // Read replies until the server closes after 200 BYE.
    let mut transcript = Vec::new();
    let mut downloaded = Vec::new();
    loop {
        match session.poll_event() {
            Ok(Some(ClientEvent::Reply { request, reply })) => {
                let mut wire = Vec::new();
                encode::reply(&reply, &mut wire).map_err(io::Error::other)?;
                let wire = String::from_utf8_lossy(&wire);
                let verb = request.map_or("(none)".to_string(), |v| v.to_string());
                let mut lines = wire.lines();
                transcript.push(format!("{verb} -> {}", lines.next().unwrap_or_default()));
                transcript.extend(lines.map(|item| format!("    {item}")));
            }
            Ok(Some(ClientEvent::PayloadData(data))) => downloaded.extend_from_slice(data),
            Ok(Some(ClientEvent::PayloadEnd)) => {
                transcript.push(format!("    {:?}", String::from_utf8_lossy(&downloaded)));
            }
            Ok(Some(ClientEvent::Closed)) => return Ok(transcript),
            Ok(None) => {
                let buf = session.receive_buffer(64 * 1024);
                match stream.read(buf)? {
                    0 => session.receive_eof(),
                    n => session.commit_received(n),
                }
            }
            Err(error) => return Err(io::Error::new(io::ErrorKind::InvalidData, error)),
        }
    }
}
