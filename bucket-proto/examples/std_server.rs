//! A whole BKT/1 server in one file: `bucket-proto` on std's blocking
//! sockets, one thread per connection, files kept in memory.
//!
//! ```sh
//! cargo run -p bucket-proto --example std_server            # 127.0.0.1:4567
//! cargo run -p bucket-proto --example std_server -- 127.0.0.1:0
//! ```
//!
//! It shows the loop every embedding of [`ServerSession`] runs: read bytes
//! into the session, answer each event, write out what `poll_transmit`
//! gives, until the session closes. The session itself answers malformed
//! lines, dialogues and bad names; the application answers only valid
//! requests. `bucket-server` runs the same loop with a real store, limits,
//! timeouts, logs and zero-copy payloads.
#![allow(clippy::unwrap_used)] // a poisoned lock means another connection panicked

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use bucket_proto::{
    BucketName, FileEntry, FileName, Reason, Reply, Request, ServerEvent, ServerSession, Verb, help,
};

/// Every bucket and its files (name → contents), shared by the connections.
pub type Files = Arc<Mutex<BTreeMap<BucketName<'static>, BTreeMap<FileName<'static>, Vec<u8>>>>>;

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
            if let Err(error) = connection(stream, &files) {
                eprintln!("connection ended: {error}");
            }
        });
    }
    Ok(())
}

/// An upload whose payload is arriving.
struct Upload {
    bucket: BucketName<'static>,
    name: FileName<'static>,
    data: Vec<u8>,
}

/// Runs one connection until the session closes or the socket fails.
fn connection(mut stream: TcpStream, files: &Files) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let mut session = ServerSession::default();
    let mut upload: Option<Upload> = None;
    let mut out = Vec::new();
    loop {
        // 1. Answer every event the bytes received so far hold.
        while let Some(event) = session.poll_event() {
            let (reply, payload) = match event {
                ServerEvent::RequestReceived(Request::Upload { bucket, name, .. }) => {
                    // The payload comes next, as PayloadData events.
                    upload = Some(Upload {
                        bucket: bucket.into_owned(),
                        name: name.into_owned(),
                        data: Vec::new(),
                    });
                    continue;
                }
                ServerEvent::RequestReceived(request) => answer(&request, files),
                ServerEvent::PayloadData(data) => {
                    if let Some(upload) = &mut upload {
                        upload.data.extend_from_slice(data);
                    }
                    continue;
                }
                ServerEvent::PayloadEnd => match upload.take() {
                    Some(upload) => (store(upload, files), None),
                    None => continue,
                },
                // The peer left mid-upload: keep nothing of it.
                ServerEvent::PayloadAborted => {
                    upload = None;
                    continue;
                }
                // Answered by the session itself: nothing to do.
                ServerEvent::Prompted { .. } | ServerEvent::RequestRejected(_) => continue,
                ServerEvent::Closed => break,
            };
            session.send_reply(&reply).map_err(io::Error::other)?;
            if let Some(payload) = payload {
                session.send_payload(&payload).map_err(io::Error::other)?;
            }
        }
        // 2. Send what the session queued (replies, prompts, payloads).
        out.clear();
        session.poll_transmit(&mut out);
        stream.write_all(&out)?;
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

/// The reply to a request other than `UPLOAD`, and the payload that follows
/// a `900 FDBS`.
fn answer(request: &Request<'_>, files: &Files) -> (Reply<'static>, Option<Vec<u8>>) {
    let verb = request.verb();
    let mut files = files.lock().unwrap();
    let reply = match request {
        Request::Hello => Reply::Hello {
            server: SERVER.into(),
        },
        Request::Help { topic } => help::help(*topic),
        Request::Codes => Reply::code_table(),
        Request::Quit => Reply::Bye,
        Request::CreateBucket { bucket } => {
            if files.contains_key(bucket.as_str()) {
                Reply::failure(verb, Reason::Exists, "bucket exists")
            } else {
                files.insert(bucket.clone().into_owned(), BTreeMap::new());
                success(verb)
            }
        }
        Request::DeleteBucket { bucket } => match files.get(bucket.as_str()) {
            None => no_such_bucket(verb),
            Some(held) if !held.is_empty() => {
                Reply::failure(verb, Reason::NotEmpty, "bucket is not empty")
            }
            Some(_) => {
                files.remove(bucket.as_str());
                success(verb)
            }
        },
        Request::ListBuckets => Reply::Buckets {
            buckets: files.keys().cloned().collect(),
        },
        Request::ListFiles { bucket } => {
            let listed: Vec<_> = match bucket {
                None => files.iter().collect(),
                Some(bucket) => match files.get_key_value(bucket.as_str()) {
                    Some(entry) => vec![entry],
                    None => return (no_such_bucket(verb), None),
                },
            };
            Reply::Files {
                files: listed
                    .into_iter()
                    .flat_map(|(bucket, held)| {
                        held.iter().map(|(name, data)| FileEntry {
                            bucket: bucket.clone(),
                            name: name.clone(),
                            size: data.len() as u64,
                        })
                    })
                    .collect(),
            }
        }
        Request::Download { bucket, name } => {
            return match files
                .get(bucket.as_str())
                .map(|held| held.get(name.as_str()))
            {
                None => (no_such_bucket(verb), None),
                Some(None) => (
                    Reply::failure(verb, Reason::NoSuchFile, "no such file"),
                    None,
                ),
                Some(Some(data)) => (
                    Reply::Download {
                        size: data.len() as u64,
                    },
                    Some(data.clone()),
                ),
            };
        }
        Request::DeleteFile { bucket, name } => {
            match files
                .get_mut(bucket.as_str())
                .map(|held| held.remove(name.as_str()))
            {
                None => no_such_bucket(verb),
                Some(None) => Reply::failure(verb, Reason::NoSuchFile, "no such file"),
                Some(Some(_)) => success(verb),
            }
        }
        // Handled in `connection`, with its payload.
        Request::Upload { .. } => Reply::bad_command(Reason::Syntax, "unexpected upload"),
    };
    (reply, None)
}

/// Stores a whole upload (replacing a file of the same name) and answers it.
fn store(upload: Upload, files: &Files) -> Reply<'static> {
    match files.lock().unwrap().get_mut(upload.bucket.as_str()) {
        Some(held) => {
            held.insert(upload.name, upload.data);
            success(Verb::Upload)
        }
        None => no_such_bucket(Verb::Upload),
    }
}

/// The one-line success of CREATE_B, DELETE_B, UPLOAD or DELETE_F.
fn success(verb: Verb) -> Reply<'static> {
    Reply::success(verb).expect("CREATE_B, DELETE_B, UPLOAD and DELETE_F have one")
}

/// `verb`'s failure with `NO_SUCH_BUCKET`.
fn no_such_bucket(verb: Verb) -> Reply<'static> {
    Reply::failure(verb, Reason::NoSuchBucket, "no such bucket")
}
