//! What the example clients (`std_client.rs`, `tokio_client.rs`) share: the
//! scripted session and its transcript, with no I/O. Each client includes
//! this file with `#[path]` and runs its own read/write loop around
//! [`queue`] and [`Transcript::take_events`].

use std::io;

use bucket_proto::{BucketName, ClientEvent, ClientSession, FileName, Request, encode};

/// Queues the whole session in `session`, in bucket `bucket` (created, then
/// deleted): every request at once, with the upload's payload right after
/// its line; the session encodes them in order.
///
/// # Errors
/// `InvalidInput` for a bucket name that is not valid.
pub fn queue(session: &mut ClientSession, bucket: &str) -> io::Result<()> {
    let invalid = |e| io::Error::new(io::ErrorKind::InvalidInput, e);
    let bucket = BucketName::new(bucket).map_err(invalid)?;
    let name = FileName::new("hello.txt").map_err(invalid)?;
    let payload = b"hello, buckets\n";
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
        session.send_request(request)?;
        if request.payload_len().is_some() {
            session.send_payload(payload)?;
        }
    }
    Ok(())
}

/// The transcript of a session: one line per reply, `VERB -> reply line`,
/// then a line per list item or the downloaded payload.
#[derive(Default)]
pub struct Transcript {
    lines: Vec<String>,
    downloaded: Vec<u8>,
}

impl Transcript {
    /// Takes every event `session` holds into the transcript. `Ok(true)`
    /// once the server has closed the connection, `Ok(false)` when the
    /// session needs more input.
    ///
    /// # Errors
    /// `InvalidData` when the server broke the protocol.
    pub fn take_events(&mut self, session: &mut ClientSession) -> io::Result<bool> {
        loop {
            match session.poll_event() {
                Ok(Some(ClientEvent::Reply { request, reply })) => {
                    let mut wire = Vec::new();
                    encode::reply(&reply, &mut wire)?;
                    let wire = String::from_utf8_lossy(&wire);
                    let verb = request.map_or("(none)".to_string(), |v| v.to_string());
                    let mut lines = wire.lines();
                    let first = lines.next().unwrap_or_default();
                    self.lines.push(format!("{verb} -> {first}"));
                    self.lines.extend(lines.map(|item| format!("    {item}")));
                }
                Ok(Some(ClientEvent::PayloadData(data))) => self.downloaded.extend_from_slice(data),
                Ok(Some(ClientEvent::PayloadEnd)) => {
                    let downloaded = std::mem::take(&mut self.downloaded);
                    let downloaded = String::from_utf8_lossy(&downloaded);
                    self.lines.push(format!("    {downloaded:?}"));
                }
                Ok(Some(ClientEvent::Closed)) => return Ok(true),
                Ok(None) => return Ok(false),
                Err(error) => return Err(error.into()),
            }
        }
    }

    /// The lines so far.
    pub fn into_lines(self) -> Vec<String> {
        self.lines
    }
}
