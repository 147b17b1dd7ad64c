//! A whole BKT/1 server on tokio: `bucket-proto` with one task per
//! connection, files kept in memory (each upload at most 16 MiB:
//! `MAX_UPLOAD_SIZE`). The async counterpart of `std_server.rs`, with the
//! same answers (`shared/memory.rs`, which has no I/O): only the read/write
//! loop differs.
//!
//! ```sh
//! cargo run -p bucket-proto --example tokio_server            # 127.0.0.1:4567
//! cargo run -p bucket-proto --example tokio_server -- 127.0.0.1:0
//! ```
//!
//! The loop is the one every embedding of
//! [`ServerSession`](bucket_proto::ServerSession) runs, with `.await` at the
//! two points that wait: answer the events the bytes received so far hold
//! (no I/O, so nothing borrowed from the session lives across an `.await`),
//! write out what `poll_transmit` gives (at least every 64 KiB of replies)
//! and a download's payload, then read more straight into the session's
//! buffer.
//! Any client works against it: `tokio_client`, `std_client`,
//! `bucket-client`.

use std::io;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[path = "shared/memory.rs"]
mod memory;

pub use memory::{Answerer, Files, MAX_UPLOAD_SIZE, Next};

/// What this server calls itself in `100 OK`.
const SERVER: &str = "tokio_server-example/0.1";

#[allow(dead_code)] // tests/examples.rs includes this file and calls `serve`
#[tokio::main]
async fn main() -> io::Result<()> {
    let addr = std::env::args().nth(1);
    let listener = TcpListener::bind(addr.as_deref().unwrap_or("127.0.0.1:4567")).await?;
    eprintln!("serving BKT/1 on {}", listener.local_addr()?);
    serve(listener, Files::default()).await
}

/// Serves every connection `listener` accepts, each in its own task.
///
/// # Errors
/// An error from `accept`; errors on one connection end only that one.
pub async fn serve(listener: TcpListener, files: Files) -> io::Result<()> {
    loop {
        let (stream, _) = listener.accept().await?;
        let files = files.clone();
        tokio::spawn(async move {
            if let Err(error) = connection(stream, files).await {
                eprintln!("connection ended: {error}");
            }
        });
    }
}

/// Runs one connection until the session closes or the socket fails.
async fn connection(mut stream: TcpStream, files: Files) -> io::Result<()> {
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
        stream.write_all(&out).await?;
        match next {
            Next::Read => {}
            Next::Flush => continue, // more requests may be buffered already
            Next::Payload(payload) => {
                stream.write_all(&payload).await?;
                session.payload_sent_directly(payload.len() as u64)?;
                continue;
            }
        }
        if session.is_closed() {
            return Ok(());
        }
        // 3. Read more, straight into the session's buffer.
        let n = stream.read(session.receive_buffer(64 * 1024)).await?;
        match n {
            0 => session.receive_eof(),
            n => session.commit_received(n),
        }
    }
}
