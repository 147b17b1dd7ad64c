//! A BKT/1 client on tokio: `bucket-proto`'s [`ClientSession`] on a tokio
//! socket, the async counterpart of `std_client.rs`. It runs the same
//! pipelined session (`shared/script.rs`, which has no I/O): uploads a
//! file, reads it back, cleans up, and prints each reply with the request
//! it answers.
//!
//! ```sh
//! cargo run -p bucket-proto --example tokio_server &          # or std_server, or bucket-server
//! cargo run -p bucket-proto --example tokio_client            # 127.0.0.1:4567
//! cargo run -p bucket-proto --example tokio_client -- HOST:PORT
//! ```
//!
//! Unlike the std client, it reads replies while it writes requests: every
//! request is encoded up front and moved out of the session by
//! `poll_transmit`, so writing needs the bytes only and reading needs the
//! session only, and the two run side by side on the socket's halves. A
//! long pipeline then cannot block both ends writing.

use std::io;

use bucket_proto::ClientSession;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[path = "shared/script.rs"]
mod script;

#[allow(dead_code)] // tests/examples.rs includes this file and calls `run`
#[tokio::main]
async fn main() -> io::Result<()> {
    let addr = std::env::args().nth(1);
    let stream = TcpStream::connect(addr.as_deref().unwrap_or("127.0.0.1:4567")).await?;
    for line in run(stream, "tokio-client-example").await? {
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
pub async fn run(mut stream: TcpStream, bucket: &str) -> io::Result<Vec<String>> {
    let mut session = ClientSession::new();
    script::queue(&mut session, bucket)?;
    let mut out = Vec::new();
    session.poll_transmit(&mut out);

    let (mut reader, mut writer) = stream.split();
    let mut transcript = script::Transcript::default();
    // Reads replies until the server closes after 200 BYE.
    let read = async {
        while !transcript.take_events(&mut session)? {
            match reader.read(session.receive_buffer(64 * 1024)).await? {
                0 => session.receive_eof(),
                n => session.commit_received(n),
            }
        }
        Ok::<_, io::Error>(())
    };
    tokio::try_join!(writer.write_all(&out), read)?;
    Ok(transcript.into_lines())
}
