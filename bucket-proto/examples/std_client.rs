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
//! bookkeeping here. The script and its transcript have no I/O and are in
//! `shared/script.rs`, which `tokio_client.rs` runs on tokio.
//! `bucket-client` is the same loop behind a blocking API.
//!
//! Writing every request before reading is fine for this short script; a
//! client pipelining more than the socket buffers hold must read while it
//! writes (as `tokio_client.rs` does), or both ends block writing.

use std::io::{self, Read, Write};
use std::net::TcpStream;

use bucket_proto::ClientSession;

#[path = "shared/script.rs"]
mod script;

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
    // Queue every request at once, then write them all.
    let mut session = ClientSession::new();
    script::queue(&mut session, bucket)?;
    let mut out = Vec::new();
    session.poll_transmit(&mut out);
    stream.write_all(&out)?;

    // Read replies until the server closes after 200 BYE.
    let mut transcript = script::Transcript::default();
    while !transcript.take_events(&mut session)? {
        let buf = session.receive_buffer(64 * 1024);
        match stream.read(buf)? {
            0 => session.receive_eof(),
            n => session.commit_received(n),
        }
    }
    Ok(transcript.into_lines())
}
