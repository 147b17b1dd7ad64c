//! What the example servers (`std_server.rs`, `tokio_server.rs`) share, and
//! the reason they can: the files, kept in memory, and the answer to every
//! event, with no I/O. Each server includes this file with `#[path]` and
//! runs its own read/write loop around [`Answerer::answer_events`].
#![allow(clippy::unwrap_used)] // a poisoned lock means another connection panicked

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use bucket_proto::{
    BucketName, FileEntry, FileName, Reason, Reply, Request, SendError, ServerConfig, ServerEvent,
    ServerSession, Verb, help,
};

/// Every bucket and its files (name → contents), shared by the connections.
/// A file is behind an `Arc` so that a download writes it out without a copy
/// and without holding the lock.
pub type Files =
    Arc<Mutex<BTreeMap<BucketName<'static>, BTreeMap<FileName<'static>, Arc<Vec<u8>>>>>>;

/// Bytes of replies a connection lets pile up before it writes them out
/// ([`ServerSession::transmit_len`]).
pub const OUT_BATCH: usize = 64 * 1024;

/// The largest upload the example servers take, in bytes (16 MiB). Files
/// live in memory, so without a limit one `UPLOAD` could take all of it; a
/// larger `size` is answered `701 FUBF TOO_LARGE` by the session itself,
/// before any payload is read (PROTOCOL.md § Upload payload). The total
/// over all files is not bounded: that is a real server's job.
pub const MAX_UPLOAD_SIZE: u64 = 16 * 1024 * 1024;

/// A session for one connection of an example server, with
/// [`MAX_UPLOAD_SIZE`] as its upload limit.
pub fn new_session() -> ServerSession {
    ServerSession::new(ServerConfig::default().with_max_upload_size(Some(MAX_UPLOAD_SIZE)))
}

/// What a connection loop does after [`Answerer::answer_events`]. In every
/// case it first writes out what `poll_transmit` gives.
pub enum Next {
    /// Then reads more input (unless the session is closed).
    Read,
    /// Then answers again: replies were piling up, and requests may still
    /// be buffered.
    Flush,
    /// Then writes this download's payload and reports it with
    /// `payload_sent_directly`; requests may still be buffered.
    Payload(Arc<Vec<u8>>),
}

/// The application's side of one connection: answers the requests a
/// [`ServerSession`] hands out.
pub struct Answerer {
    files: Files,
    /// What the server calls itself in `100 OK`.
    server: &'static str,
    upload: Option<Upload>,
}

/// An upload whose payload is arriving.
struct Upload {
    bucket: BucketName<'static>,
    name: FileName<'static>,
    data: Vec<u8>,
}

impl Answerer {
    /// The answers of a new connection to a server called `server`.
    pub fn new(files: Files, server: &'static str) -> Self {
        Answerer {
            files,
            server,
            upload: None,
        }
    }

    /// Answers the events the bytes received so far hold, through
    /// `session`, until it needs more input, closes, owes a download's
    /// payload, or has [`OUT_BATCH`] bytes of replies to send. Says what the
    /// connection loop does next ([`Next`]).
    ///
    /// # Errors
    /// The session refusing a reply (a bug here, not the peer's fault).
    pub fn answer_events(&mut self, session: &mut ServerSession) -> Result<Next, SendError> {
        // Replies to pipelined requests go out in batches, but a client
        // that reads none must not make the server hold them all.
        while session.transmit_len() < OUT_BATCH {
            let Some(event) = session.poll_event() else {
                return Ok(Next::Read);
            };
            let (reply, payload) = match event {
                ServerEvent::RequestReceived(Request::Upload { bucket, name, .. }) => {
                    // The payload comes next, as PayloadData events.
                    self.upload = Some(Upload {
                        bucket: bucket.into_owned(),
                        name: name.into_owned(),
                        data: Vec::new(),
                    });
                    continue;
                }
                ServerEvent::RequestReceived(request) => self.answer(&request),
                ServerEvent::PayloadData(data) => {
                    if let Some(upload) = &mut self.upload {
                        upload.data.extend_from_slice(data);
                    }
                    continue;
                }
                ServerEvent::PayloadEnd => match self.upload.take() {
                    Some(upload) => (self.store(upload), None),
                    None => continue,
                },
                // The peer left mid-upload: keep nothing of it.
                ServerEvent::PayloadAborted => {
                    self.upload = None;
                    continue;
                }
                // Answered by the session itself: nothing to do.
                ServerEvent::Prompted { .. } | ServerEvent::RequestRejected(_) => continue,
                ServerEvent::Closed => return Ok(Next::Read),
            };
            session.send_reply(&reply)?;
            if let Some(payload) = payload {
                // The session hands out nothing more until it is sent.
                return Ok(Next::Payload(payload));
            }
        }
        Ok(Next::Flush)
    }

    /// The reply to a request other than `UPLOAD`, and the payload that
    /// follows a `900 FDBS`.
    fn answer(&self, request: &Request<'_>) -> (Reply<'static>, Option<Arc<Vec<u8>>>) {
        let verb = request.verb();
        let mut files = self.files.lock().unwrap();
        let reply = match request {
            Request::Hello => Reply::Hello {
                server: self.server.into(),
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
                        Some(Arc::clone(data)),
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
            // Handled in `answer_events`, with its payload.
            Request::Upload { .. } => Reply::bad_command(Reason::Syntax, "unexpected upload"),
        };
        (reply, None)
    }

    /// Stores a whole upload (replacing a file of the same name) and
    /// answers it.
    fn store(&self, upload: Upload) -> Reply<'static> {
        match self.files.lock().unwrap().get_mut(upload.bucket.as_str()) {
            Some(held) => {
                held.insert(upload.name, Arc::new(upload.data));
                success(Verb::Upload)
            }
            None => no_such_bucket(Verb::Upload),
        }
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
