//! A whole BKT/1 server: `bucket-proto` on std's blocking sockets, one
//! thread per connection, files kept in memory (each upload at most
//! 16 MiB: `MAX_UPLOAD_SIZE`).
//!
//! ```sh
//! cargo run -p bucket-proto --example std_server            # 127.0.0.1:4567
//! cargo run -p bucket-proto --example std_server -- 127.0.0.1:0
//! ```
//!
//! It shows the loop every embedding of
//! [`ServerSession`](bucket_proto::ServerSession) runs: read bytes into the
//! session, answer each event, write out what `poll_transmit` gives (at
//! least every 64 KiB of replies, so a client that reads nothing cannot
//! make the server hold every reply), until the session closes. The
//! session itself answers malformed lines, dialogues and bad names; the
//! application answers only valid requests, in `shared/memory.rs`, which has
//! no I/O: `tokio_server.rs` runs the same answers on tokio. `bucket-server`
//! runs the same loop with a real store, limits, timeouts, logs and
//! zero-copy payloads.

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};

#[path = "shared/memory.rs"]
mod memory;

pub use memory::{Answerer, Files, MAX_UPLOAD_SIZE, Next};

/// What this server calls itself in `100 OK`.
const SERVER: &str = "std_server-example/0.1";

#[allow(dead_code)] // tests/examples.rs includes this file and calls `serve`
fn main() -> io::Result<()> {
    let addr = std::env::args().nth(1);
    let listener = TcpListener::bind(addr.as_deref().unwrap_or("127.0.0.1:4567"))?;
    eprintln!("serving BKT/1 on {}", listener.local_addr()?);
    serve(listener, Files::default())
}

/// Serves every connection `listener` accepts, each on its own thread.
///
/// # Errors
/// An error from `accept`; errors on one connection end only that one.
pub fn serve(listener: TcpListener, files: Files) -> io::Result<()> {
    for stream in listener.incoming() {
        let stream = stream?;
        let files = files.clone();
        std::thread::spawn(move || {
            if let Err(error) = connection(stream, files) {
                eprintln!("connection ended: {error}");
            }
        });
    }
    Ok(())
}

/// Runs one connection until the session closes or the socket fails.
fn connection(mut stream: TcpStream, files: Files) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let mut session = memory::new_session();
    let mut answerer = Answerer::new(files, SERVER);
    let mut out = Vec::new();
    loop {
        // 1. Answer the events the bytes received so far hold (up to 64 KiB
        //    of replies).
        let next = answerer.answer_events(&mut session)?;
        // 2. Send what the session queued (replies, prompts), then a
        //    download's payload, written straight from the store.
        out.clear();
        session.poll_transmit(&mut out);
        stream.write_all(&out)?;
        match next {
            Next::Read => {}
            Next::Flush => continue, // more requests may be buffered already
            Next::Payload(payload) => {
                stream.write_all(&payload)?;
                session.payload_sent_directly(payload.len() as u64)?;
                continue;
            }
        }
        if session.is_closed() {
            return Ok(());
        }
        // 3. Read more, straight into the session's buffer.
        let buf = session.receive_buffer(64 * 1024);
        match stream.read(buf)? {
            0 => session.receive_eof(),
            n => session.commit_received(n),
        }
    }
}
