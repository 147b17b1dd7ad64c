//! One connection: a [`ServerSession`] driven over a [`TcpStream`], its
//! requests answered from a [`Store`].

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bucket_proto::{
    BucketName, FileEntry, Reason, Reply, Request, ServerConfig, ServerEvent, ServerSession,
    ServerState, Verb, help,
};
use bucket_store::{FileInfo, Source, Store, StoreError, Upload};

use crate::listings::ListingPermit;
use crate::{Config, Shared};

/// Largest read: large reads keep upload syscalls few.
const MAX_READ: usize = 256 * 1024;
/// First read size: an idle or chatty connection stays small, and the size
/// doubles each time a read fills it, up to [`MAX_READ`].
const MIN_READ: usize = 8 * 1024;
/// How often a connection blocked in `read` looks at the shutdown flag.
const TICK: Duration = Duration::from_millis(250);
/// Buffer for downloads from sources that are neither files nor memory.
const COPY_BUF: usize = 256 * 1024;
/// Longest lingering close (see `Connection::linger`).
const LINGER: Duration = Duration::from_secs(2);
/// Replies to pipelined requests are batched into one write up to this many
/// bytes; past it they are written before the next request is answered. So
/// a client that pipelines requests and reads no replies gets the socket's
/// backpressure at once, and the server holds at most this much output plus
/// one reply, however many `LIST_F` (or refused lines) it was sent.
const OUT_BATCH: usize = 64 * 1024;
/// Capacity the output buffer keeps once written: one that grew past this
/// for a large listing is freed, not kept for the connection's life.
const OUT_KEEP: usize = 2 * OUT_BATCH;

/// What the connection is doing for the current request, between events.
enum Pending<U> {
    None,
    /// An upload whose payload is arriving.
    Upload(U),
    /// An upload the store refused mid-payload: the session is discarding
    /// the rest.
    Discarding,
}

/// For the one log line per request.
struct RequestLog {
    verb: Verb,
    bucket: Option<String>,
    name: Option<String>,
    /// An upload's declared size in bytes (0 for other verbs).
    size: u64,
    started: Instant,
}

/// Why an upload (or a refused upload's payload) ended unfinished, for
/// its request line's `cut=`.
const CUT_BY_PEER: &str = "peer closed mid-payload";
/// The same when the shutdown's grace period ran out.
const CUT_BY_SHUTDOWN: &str = "cut by shutdown";

impl RequestLog {
    fn new(request: &Request<'_>) -> Self {
        // The names are kept for the request line (info), and for an
        // upload's own warnings (a failed write or commit), which come
        // after the request is gone.
        let logging = tracing::enabled!(tracing::Level::INFO)
            || (request.verb() == Verb::Upload && tracing::enabled!(tracing::Level::WARN));
        RequestLog {
            verb: request.verb(),
            bucket: request
                .bucket()
                .filter(|_| logging)
                .map(|b| b.as_str().to_owned()),
            name: request
                .file()
                .filter(|_| logging)
                .map(|n| n.as_str().to_owned()),
            size: request.payload_len().unwrap_or(0),
            started: Instant::now(),
        }
    }

    /// The request's bucket, or `-`.
    fn bucket(&self) -> &str {
        self.bucket.as_deref().unwrap_or("-")
    }

    /// The request's file name, or `-`.
    fn name(&self) -> &str {
        self.name.as_deref().unwrap_or("-")
    }

    /// Logs the request's line: its reply (none for an upload cut before
    /// it had one), the payload bytes that moved (received, or sent for a
    /// download) and, for a transfer cut short, what cut it.
    fn finish(
        &self,
        peer: SocketAddr,
        reply: Option<&Reply<'_>>,
        bytes: u64,
        cut: Option<&dyn std::fmt::Display>,
    ) {
        tracing::info!(
            %peer,
            verb = %self.verb,
            bucket = self.bucket(),
            name = self.name(),
            code = reply.map(|r| r.code().number()),
            reason = reply.and_then(Reply::reason).map_or("-", |r| r.as_str()),
            bytes,
            ms = %format_args!("{:.3}", self.started.elapsed().as_secs_f64() * 1e3),
            cut = cut.map(tracing::field::display),
            "request"
        );
    }
}

/// Serves one connection until the peer quits or goes away, a timeout
/// passes, or the server shuts down. Never panics on peer input; errors are
/// logged.
pub(crate) fn serve<S: Store>(
    stream: TcpStream,
    peer: SocketAddr,
    store: &S,
    config: &Config,
    shared: &Shared,
) {
    tracing::debug!(%peer, "connected");
    #[cfg(unix)]
    block_sigpipe();
    let mut conn = Connection {
        stream,
        peer,
        store,
        config,
        shared,
        listing: None,
        session: ServerSession::new(
            ServerConfig::default().with_max_upload_size(config.max_upload_size),
        ),
        out: Vec::with_capacity(4096),
        pending: Pending::None,
        log: None,
        payload_bytes: 0,
        held: None,
        timed_out: false,
        requests: 0,
        last_activity: Instant::now(),
    };
    let result = conn.run();
    match &result {
        Ok(()) => tracing::debug!(%peer, "closed"),
        Err(e) => tracing::debug!(%peer, error = %e, "connection ended"),
    }
    // An upload's payload, or a refused one's, was still arriving: its
    // request line says how much came and what cut it.
    let cut: &dyn std::fmt::Display = match &result {
        _ if shared.cut.load(Ordering::SeqCst) => &CUT_BY_SHUTDOWN,
        Err(e) => e,
        Ok(()) if conn.timed_out => &"idle timeout",
        Ok(()) => &"connection ended",
    };
    if let Pending::Upload(upload) = std::mem::replace(&mut conn.pending, Pending::None) {
        upload.abort();
        if let Some(log) = &conn.log {
            log.finish(peer, None, conn.payload_bytes, Some(cut));
        }
    }
    let left = conn.session.discard_remaining().unwrap_or(0);
    finish_held(&mut conn.held, peer, left, Some(cut));
}

/// Logs the request line of a refused upload whose reply was held behind
/// its payload, if there is one: `left` bytes of the payload never came
/// (0 when the reply went out), and `cut` says why when they did not.
fn finish_held(
    held: &mut Option<(RequestLog, Reply<'static>)>,
    peer: SocketAddr,
    left: u64,
    cut: Option<&dyn std::fmt::Display>,
) {
    if let Some((log, reply)) = held.take() {
        let cut = cut.filter(|_| left > 0);
        log.finish(peer, Some(&reply), log.size.saturating_sub(left), cut);
    }
}

struct Connection<'a, S: Store> {
    stream: TcpStream,
    peer: SocketAddr,
    store: &'a S,
    config: &'a Config,
    shared: &'a Shared,
    /// The place among [`Config::max_concurrent_listings`] of the listing
    /// whose reply is in `out`, kept until `out` is written.
    listing: Option<ListingPermit<'a>>,
    session: ServerSession,
    out: Vec<u8>,
    pending: Pending<S::Upload>,
    log: Option<RequestLog>,
    payload_bytes: u64,
    /// A refused upload whose reply waits in the session until the rest of
    /// its payload has been dropped (docs/protocol.md, decision 18): its
    /// request line is written when that reply goes out, or when the
    /// connection ends first (see [`finish_held`]).
    held: Option<(RequestLog, Reply<'static>)>,
    /// Whether the connection ended for the idle timeout.
    timed_out: bool,
    /// Requests completed so far (answered or refused): a new one ends the
    /// line whose time the request-line limit counts.
    requests: u64,
    /// When bytes last moved either way: the idle timeout counts silence
    /// from here, so a long download or reply is no silence.
    last_activity: Instant,
}

impl<'a, S: Store> Connection<'a, S> {
    fn run(&mut self) -> io::Result<()> {
        let _ = self.stream.set_nodelay(true);
        self.stream
            .set_write_timeout(Some(write_slice(self.config.idle_timeout)))?;
        self.stream.set_read_timeout(Some(TICK))?;
        let mut read_size = MIN_READ;
        let mut line_started: Option<Instant> = None;
        loop {
            let requests_before = self.requests;
            let closed = self.process_events()?;
            if self.session.state() != ServerState::DiscardingPayload {
                // A held refusal's reply went out with the last byte of
                // its payload.
                finish_held(&mut self.held, self.peer, 0, None);
            }
            // The session writes replies of its own (prompts, refusals,
            // replies held behind a discarded payload): take them too.
            self.session.poll_transmit(&mut self.out);
            self.write_out()?;
            if closed {
                self.linger();
                return Ok(());
            }
            // Between requests, a shutdown closes the connection at once,
            // unless a request has reached the socket meanwhile (while the
            // last one was answered): that one is served, within the grace.
            // Closing with it unread would make the kernel reset the
            // connection, and the client would get no reply, perhaps not
            // even those already written.
            let between_requests =
                self.session.state() == ServerState::Idle && self.session.buffered() == 0;
            if self.shared.shutdown.load(Ordering::SeqCst) && between_requests {
                match self.read_waiting(read_size)? {
                    0 => return Ok(()),
                    n => {
                        self.last_activity = Instant::now();
                        self.session.commit_received(n);
                        continue;
                    }
                }
            }
            // A request line (or dialogue) must complete within the idle
            // timeout of its first byte: trickling it is no way to stay in.
            let in_line = matches!(
                self.session.state(),
                ServerState::Idle | ServerState::Dialogue
            ) && self.session.in_request_line();
            // The bytes buffered now start a new line if a request was
            // completed since the last look: a client pipelining with writes
            // that end mid-line is always "in a line", but never in the
            // same one for long.
            if self.requests != requests_before {
                line_started = None;
            }
            line_started = if in_line {
                line_started.or(Some(Instant::now()))
            } else {
                None
            };
            // Read straight into the session's buffer, or, while an upload's
            // payload arrives, into the upload's own buffer when its back-end
            // has one (FsStore's direct-I/O block): no copy either way.
            let room = self.session.payload_direct_room();
            let upload_buf = match &mut self.pending {
                Pending::Upload(upload) if room > 0 => match upload.receive_buffer() {
                    Ok(buf) => buf.filter(|b| !b.is_empty()),
                    Err(e) => {
                        let reply = self.fail_upload(e);
                        self.send(&reply)?;
                        continue;
                    }
                },
                _ => None,
            };
            let direct = upload_buf.is_some();
            let read = match upload_buf {
                Some(buf) => {
                    let len = usize::try_from(room).map_or(buf.len(), |r| r.min(buf.len()));
                    self.stream.read(&mut buf[..len])
                }
                None => self.stream.read(self.session.receive_buffer(read_size)),
            };
            let now = Instant::now();
            let n = match read {
                Ok(n) => {
                    self.last_activity = now;
                    Some(n)
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    None
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if line_started.is_some_and(|t| now.duration_since(t) >= self.config.idle_timeout) {
                tracing::info!(peer = %self.peer, "closed: request line too slow");
                return Ok(());
            }
            let Some(n) = n else {
                // A read tick passed with nothing: look at the idle timeout
                // (and, at the top of the loop, the shutdown flag).
                if now.duration_since(self.last_activity) >= self.config.idle_timeout {
                    tracing::info!(peer = %self.peer, "closed: idle timeout");
                    self.timed_out = true;
                    return Ok(());
                }
                continue;
            };
            if n == 0 {
                // A refused upload's payload cut short: its reply will never
                // go out (the session drops it as it closes).
                let left = self.session.discard_remaining().unwrap_or(0);
                let cut = self.cut_reason();
                finish_held(&mut self.held, self.peer, left, Some(&cut));
                self.session.receive_eof();
            } else if direct {
                if let Pending::Upload(upload) = &mut self.pending {
                    upload.commit_received(n);
                }
                self.payload_bytes += n as u64;
                self.session.payload_received_directly(n as u64)?;
            } else {
                self.session.commit_received(n);
                if n >= read_size {
                    read_size = (read_size * 2).min(MAX_READ);
                }
            }
        }
    }

    /// Reads, without waiting, what the peer has sent and this connection
    /// not read yet, into the session's buffer (to be committed): how many
    /// bytes, 0 when there are none or the peer has closed.
    fn read_waiting(&mut self, size: usize) -> io::Result<usize> {
        self.stream.set_nonblocking(true)?;
        let read = loop {
            match self.stream.read(self.session.receive_buffer(size)) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break Ok(0),
                other => break other,
            }
        };
        self.stream.set_nonblocking(false)?;
        read
    }

    /// Closes the way nginx's lingering close does: stop sending, then read
    /// and drop what the peer still sends (the rest of a refused upload, or
    /// requests pipelined after `QUIT`) for up to [`LINGER`]. Closing with
    /// unread input would make the kernel reset the connection, and a reset
    /// can destroy the last reply before the peer reads it.
    fn linger(&mut self) {
        if self.stream.shutdown(Shutdown::Write).is_err() {
            return;
        }
        let deadline = Instant::now() + LINGER;
        let mut scratch = [0u8; 16 * 1024];
        while Instant::now() < deadline {
            match self.stream.read(&mut scratch) {
                Ok(0) => return,
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return,
            }
        }
    }

    /// What cut a payload at an end of input: the peer, or the
    /// shutdown's grace running out (which shuts the socket down).
    fn cut_reason(&self) -> &'static str {
        if self.shared.cut.load(Ordering::SeqCst) {
            CUT_BY_SHUTDOWN
        } else {
            CUT_BY_PEER
        }
    }

    /// Handles every event the session has; returns whether it closed.
    fn process_events(&mut self) -> io::Result<bool> {
        loop {
            let event = self.session.poll_event();
            if event.is_some() {
                // While a refused upload's payload is dropped the session
                // hands out no event (an end of input is settled in `run`
                // first): any event means its held reply went out.
                finish_held(&mut self.held, self.peer, 0, None);
            }
            let step = match event {
                None => return Ok(false),
                Some(ServerEvent::Closed) => return Ok(true),
                Some(ServerEvent::RequestReceived(request)) => {
                    self.requests += 1;
                    let log = RequestLog::new(&request);
                    let step = answer(
                        self.store,
                        self.config,
                        self.peer,
                        &request,
                        &mut self.pending,
                    );
                    self.log = Some(log);
                    self.payload_bytes = 0;
                    step
                }
                Some(ServerEvent::PayloadData(data)) => {
                    self.payload_bytes += data.len() as u64;
                    match &mut self.pending {
                        Pending::Upload(upload) => match upload.write_all(data) {
                            Ok(()) => Step::None,
                            Err(e) => Step::Reply(self.fail_upload(e)),
                        },
                        _ => Step::None,
                    }
                }
                Some(ServerEvent::PayloadEnd) => {
                    match std::mem::replace(&mut self.pending, Pending::None) {
                        Pending::Upload(upload) => Step::Reply(match upload.commit() {
                            Ok(()) => done_reply(Verb::Upload),
                            Err(e) => {
                                self.upload_failed(&e, "upload commit failed");
                                store_failure(Verb::Upload, &e)
                            }
                        }),
                        // Refused mid-payload: the reply went out already.
                        Pending::Discarding | Pending::None => Step::None,
                    }
                }
                Some(ServerEvent::PayloadAborted) => {
                    if let Pending::Upload(u) = std::mem::replace(&mut self.pending, Pending::None)
                    {
                        u.abort();
                        let cut = self.cut_reason();
                        if let Some(log) = &self.log {
                            log.finish(self.peer, None, self.payload_bytes, Some(&cut));
                        }
                    }
                    Step::None
                }
                Some(ServerEvent::Prompted { verb, field }) => {
                    tracing::debug!(peer = %self.peer, %verb, %field, "prompted");
                    Step::None
                }
                Some(ServerEvent::RequestRejected(error)) => {
                    self.requests += 1;
                    // The error names no bucket or file (nor the verb of
                    // an UPLOAD with a bad size): the session keeps them.
                    let said = self.session.rejected_request();
                    let verb = error.verb().or(said.and_then(|r| r.verb));
                    let bucket = said.and_then(|r| r.bucket.as_deref());
                    let name = said.and_then(|r| r.name.as_deref());
                    tracing::info!(
                        peer = %self.peer,
                        verb = verb.map_or("-", Verb::as_str),
                        bucket = bucket.unwrap_or("-"),
                        name = name.unwrap_or("-"),
                        code = error.code().number(),
                        reason = error.reason().as_str(),
                        detail = %error,
                        "request refused"
                    );
                    Step::None
                }
            };
            match step {
                Step::None => {}
                Step::Reply(reply) => self.send(&reply)?,
                Step::Download(reader, len) => self.download(reader, len)?,
                Step::ListBuckets => self.list(None)?,
                Step::ListFiles(bucket) => self.list(Some(bucket))?,
            }
            // The session's own replies (refusals, prompts) count too.
            self.session.poll_transmit(&mut self.out);
            if self.out.len() >= OUT_BATCH {
                self.write_out()?;
            }
        }
    }

    /// Aborts the upload in progress after the store failed to take its
    /// bytes, and returns the failure reply; the session then discards the
    /// rest of the payload.
    fn fail_upload(&mut self, error: io::Error) -> Reply<'static> {
        let error = StoreError::Io(error);
        self.upload_failed(&error, "upload write failed");
        if let Pending::Upload(u) = std::mem::replace(&mut self.pending, Pending::Discarding) {
            u.abort();
        }
        store_failure(Verb::Upload, &error)
    }

    /// Logs an upload the store failed after it started: a `warn` for a
    /// storage failure, an `info` for a refusal that is a client's race
    /// (`NO_SUCH_BUCKET`: its bucket was deleted meanwhile).
    fn upload_failed(&self, error: &StoreError, what: &str) {
        let (bucket, name) = self
            .log
            .as_ref()
            .map_or(("-", "-"), |log| (log.bucket(), log.name()));
        if matches!(error, StoreError::NoSuchBucket) {
            tracing::info!(peer = %self.peer, bucket, name, %error, "{what}");
        } else {
            tracing::warn!(peer = %self.peer, bucket, name, %error, "{what}");
        }
    }

    /// Writes the replies waiting in `out`, blocking for as long as the
    /// write time-out allows (a client that reads nothing is cut then).
    /// Once they are written, a listing among them gives its place back
    /// and a buffer grown past [`OUT_KEEP`] is freed.
    fn write_out(&mut self) -> io::Result<()> {
        if !self.out.is_empty() {
            write_all_patiently(&self.stream, &self.out, self.config.idle_timeout)?;
            self.out.clear();
            self.last_activity = Instant::now();
        }
        if self.out.capacity() > OUT_KEEP {
            self.out = Vec::with_capacity(4096);
        }
        self.listing = None;
        Ok(())
    }

    /// Answers `LIST_B` (`files` is `None`) or `LIST_F [bucket]` (`Some`)
    /// once a place among [`Config::max_concurrent_listings`] is free,
    /// keeping it until the reply is written (see `write_out`).
    ///
    /// The replies already waiting are written first, so that `out` is
    /// empty: the session then hands over the buffer it encoded the
    /// listing into whole (no copy), and `write_out` frees it. Fails,
    /// ending the connection, when the shutdown's grace period runs out
    /// while it waits.
    fn list(&mut self, files: Option<Option<BucketName<'static>>>) -> io::Result<()> {
        self.write_out()?;
        let Some(permit) = self
            .shared
            .listings
            .acquire(self.config.max_concurrent_listings)
        else {
            if let Some(log) = &self.log {
                log.finish(self.peer, None, 0, Some(&CUT_BY_SHUTDOWN));
            }
            return Err(io::Error::other("cut by shutdown while waiting to list"));
        };
        self.listing = Some(permit);
        let verb = if files.is_some() {
            Verb::ListFiles
        } else {
            Verb::ListBuckets
        };
        let failed = |e: &StoreError, bucket: Option<&BucketName<'_>>| {
            logged_failure(self.peer, verb, bucket.map(BucketName::as_str), None, e)
        };
        match files {
            None => match self.store.list_buckets() {
                Ok(buckets) => self.send(&Reply::Buckets { buckets }),
                Err(e) => self.send(&failed(&e, None)),
            },
            Some(bucket) => match list_files(self.store, bucket.clone()) {
                Ok(groups) => {
                    // Entries borrow their names from `groups`: no
                    // allocation per file, and one for them all.
                    let mut files = Vec::with_capacity(groups.iter().map(|(_, i)| i.len()).sum());
                    files.extend(groups.iter().flat_map(|(bucket, infos)| {
                        infos.iter().map(move |f| FileEntry {
                            bucket: bucket.borrowed(),
                            name: f.name.borrowed(),
                            size: f.size,
                        })
                    }));
                    self.send(&Reply::Files { files })
                }
                Err(e) => self.send(&failed(&e, bucket.as_ref())),
            },
        }
    }

    /// Sends a final reply and logs the request.
    fn send(&mut self, reply: &Reply<'_>) -> io::Result<()> {
        if let Err(e) = self.session.send_reply(reply) {
            // A bug in this crate, not the peer's doing: end the connection.
            tracing::error!(peer = %self.peer, error = %e, "reply refused by the session");
            return Err(io::Error::other(e));
        }
        if matches!(self.pending, Pending::Discarding) && !matches!(reply, Reply::Failure { .. }) {
            self.pending = Pending::None;
        }
        if self.session.state() == ServerState::DiscardingPayload {
            // A refused upload: the reply waits for the rest of the
            // payload, and so does its line (`finish_held`).
            if let Some(log) = self.log.take() {
                self.held = Some((log, reply.clone().into_owned()));
            }
        } else if let Some(log) = self
            .log
            .as_ref()
            .filter(|_| !matches!(reply, Reply::Download { .. }))
        {
            // A download's line is written once its payload has gone.
            log.finish(self.peer, Some(reply), self.payload_bytes, None);
        }
        self.session.poll_transmit(&mut self.out);
        Ok(())
    }

    /// Sends `900 FDBS len` and then the payload straight from the reader to
    /// the socket (see [`send_payload`]).
    /// The request's log line follows the payload, with the bytes that
    /// really went out and, if the download was cut, why.
    fn download(&mut self, reader: S::Reader, len: u64) -> io::Result<()> {
        let reply = Reply::Download { size: len };
        self.send(&reply)?;
        self.write_out()?;
        let mut sent = 0;
        let idle = self.config.idle_timeout;
        let result = send_payload(&self.stream, reader, len, idle, &mut sent).and_then(|()| {
            if sent < len {
                Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("file ended after {sent} of {len} bytes"),
                ))
            } else {
                Ok(())
            }
        });
        self.last_activity = Instant::now();
        if let Some(log) = &self.log {
            let cut = result.as_ref().err().map(|e| e as &dyn std::fmt::Display);
            log.finish(self.peer, Some(&reply), sent, cut);
        }
        result?;
        self.session.payload_sent_directly(sent)?;
        Ok(())
    }
}

/// The socket's write timeout (`SO_SNDTIMEO`) for an idle timeout of
/// `idle`: a sixteenth of it (at least 1 ms). A blocking write returns
/// once it has waited that long, with what it moved so far (`sendfile`
/// once one of its 64 KiB pieces has); [`patiently`] then tries again until
/// `idle` has passed with no byte taken. So a peer that stops reading is
/// cut between `idle` and about 1.125 × `idle` after the last byte it
/// took (a byte's time is known to within one slice), and one that keeps reading,
/// however slowly, never is. (With `SO_SNDTIMEO` at `idle` itself, a call
/// that moved a little and then waited returned after `idle`, and the next
/// call waited `idle` again: up to 2 × `idle`.)
fn write_slice(idle: Duration) -> Duration {
    (idle / 16).max(Duration::from_millis(1))
}

/// Runs `send`, one blocking write to a socket whose write timeout is
/// [`write_slice`], until it moves a byte (its count), ends (0) or fails.
/// A call that times out having moved nothing is tried again until `idle`
/// has passed since `progress`, the last time a byte was taken: then
/// `TimedOut`. Moves `progress` to now when a byte was taken.
fn patiently(
    idle: Duration,
    progress: &mut Instant,
    mut send: impl FnMut() -> io::Result<usize>,
) -> io::Result<usize> {
    loop {
        match send() {
            Ok(n) => {
                if n > 0 {
                    *progress = Instant::now();
                }
                return Ok(n);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                if progress.elapsed() >= idle {
                    return Err(io::ErrorKind::TimedOut.into());
                }
            }
            Err(e) => return Err(e),
        }
    }
}

/// Writes all of `buf` to `stream` through [`patiently`]: fails with
/// `TimedOut` once `idle` passes with no byte taken.
fn write_all_patiently(mut stream: &TcpStream, mut buf: &[u8], idle: Duration) -> io::Result<()> {
    let mut progress = Instant::now();
    while !buf.is_empty() {
        match patiently(idle, &mut progress, || stream.write(buf))? {
            0 => return Err(io::ErrorKind::WriteZero.into()),
            n => buf = &buf[n..],
        }
    }
    Ok(())
}

/// Writes up to `len` bytes of `source` to `stream` by the fastest way the
/// source allows: `sendfile` from its file (the kernel moves page-cache pages
/// to the socket; std's `io::copy` will not do this for sockets), one write
/// of its bytes when they are in memory, else a copy through a 256 KiB
/// buffer. Counts the bytes sent in `sent` as they go, so an error still
/// tells how far it got; fewer than `len` at `Ok` means the source ended
/// early. Fails with `TimedOut` once `idle` passes with no byte taken.
fn send_payload<R: Source>(
    stream: &TcpStream,
    source: R,
    len: u64,
    idle: Duration,
    sent: &mut u64,
) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    if let Some(file) = source.as_file()
        && sendfile_all(stream, file, len, idle, sent)?
    {
        return Ok(());
    }
    let mut out = Counted {
        stream,
        sent,
        idle,
        progress: Instant::now(),
    };
    if let Some(bytes) = source.remaining_bytes() {
        let n = bytes.len().min(usize::try_from(len).unwrap_or(usize::MAX));
        return out.write_all(&bytes[..n]);
    }
    let mut buffered = io::BufReader::with_capacity(COPY_BUF, source.take(len));
    io::copy(&mut buffered, &mut out).map(drop)
}

/// A stream that counts the bytes written through it, each write made
/// [`patiently`].
struct Counted<'a> {
    stream: &'a TcpStream,
    sent: &'a mut u64,
    idle: Duration,
    progress: Instant,
}

impl Write for Counted<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut stream = self.stream;
        let n = patiently(self.idle, &mut self.progress, || stream.write(buf))?;
        *self.sent += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// `sendfile(2)` until `len` bytes are sent or the file ends, from the
/// file's current position, counting them in `sent` (0 at the call), each
/// call made [`patiently`] (`TimedOut` once `idle` passes with no byte
/// taken). `Ok(false)` when the file cannot be sent this way (nothing was
/// sent; the caller copies instead).
#[cfg(target_os = "linux")]
fn sendfile_all(
    stream: &TcpStream,
    file: &std::fs::File,
    len: u64,
    idle: Duration,
    sent: &mut u64,
) -> io::Result<bool> {
    use rustix::io::Errno;
    debug_assert_eq!(*sent, 0);
    let mut progress = Instant::now();
    while *sent < len {
        let chunk = usize::try_from(len - *sent)
            .unwrap_or(usize::MAX)
            .min(1 << 30);
        let result = patiently(idle, &mut progress, || {
            rustix::fs::sendfile(stream, file, None, chunk).map_err(io::Error::from)
        });
        match result {
            Ok(0) => break, // the file is shorter than announced
            Ok(n) => *sent += n as u64,
            Err(e)
                if *sent == 0
                    && matches!(
                        Errno::from_io_error(&e),
                        Some(Errno::INVAL | Errno::NOSYS | Errno::OPNOTSUPP)
                    ) =>
            {
                return Ok(false);
            }
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

/// Blocks SIGPIPE in the calling thread, a connection's own, for the rest
/// of its life. `sendfile(2)` to a peer that has gone raises SIGPIPE (it has
/// no `MSG_NOSIGNAL`, which std's socket writes use). Blocked, the signal
/// stays pending on this thread, where nothing unblocks it, and the call
/// fails with `EPIPE` as a write would. Rust programs ignore SIGPIPE anyway;
/// this keeps a program that restored its default action alive
/// (`tests/sigpipe.rs`). Threads this one starts inherit the mask.
#[cfg(unix)]
fn block_sigpipe() {
    use nix::sys::signal::{SigSet, Signal};
    let mut set = SigSet::empty();
    set.add(Signal::SIGPIPE);
    if let Err(error) = set.thread_block() {
        tracing::warn!(%error, "could not block SIGPIPE in a connection thread");
    }
}

/// What to do after an event.
enum Step<R> {
    None,
    Reply(Reply<'static>),
    Download(R, u64),
    /// `LIST_B`: answered by `Connection::list`.
    ListBuckets,
    /// `LIST_F [bucket]`: answered by `Connection::list`.
    ListFiles(Option<BucketName<'static>>),
}

/// Answers a request from the store. For `UPLOAD`, starts the upload (kept
/// in `pending`) and answers only if the store refuses it. A storage
/// failure is logged as such ([`logged_failure`]).
fn answer<S: Store>(
    store: &S,
    config: &Config,
    peer: SocketAddr,
    request: &Request<'_>,
    pending: &mut Pending<S::Upload>,
) -> Step<S::Reader> {
    let verb = request.verb();
    let failed = |e: &StoreError| {
        logged_failure(
            peer,
            verb,
            request.bucket().map(BucketName::as_str),
            request.file().map(bucket_proto::FileName::as_str),
            e,
        )
    };
    let done = |result: Result<(), StoreError>| match result {
        Ok(()) => Step::Reply(done_reply(verb)),
        Err(e) => Step::Reply(failed(&e)),
    };
    match request {
        Request::Hello => Step::Reply(Reply::Hello {
            server: config.server_name.clone().into(),
        }),
        Request::Help { topic } => Step::Reply(help::help(*topic)),
        Request::Codes => Step::Reply(Reply::code_table()),
        Request::Quit => Step::Reply(Reply::Bye),
        Request::CreateBucket { bucket } => done(store.create_bucket(bucket)),
        Request::DeleteBucket { bucket } => done(store.delete_bucket(bucket)),
        Request::DeleteFile { bucket, name } => done(store.delete_file(bucket, name)),
        Request::ListBuckets => Step::ListBuckets,
        Request::ListFiles { bucket } => {
            Step::ListFiles(bucket.as_ref().map(|b| b.borrowed().into_owned()))
        }
        Request::Upload { bucket, name, size } => match store.start_upload(bucket, name, *size) {
            Ok(upload) => {
                *pending = Pending::Upload(upload);
                Step::None
            }
            Err(e) => {
                *pending = Pending::Discarding;
                Step::Reply(failed(&e))
            }
        },
        Request::Download { bucket, name } => match store.open_file(bucket, name) {
            Ok(d) => Step::Download(d.reader, d.len),
            Err(e) => Step::Reply(failed(&e)),
        },
    }
}

/// `LIST_F [bucket]`: one bucket, or every bucket in name order. Without a
/// bucket, one deleted while listing is skipped, and so is one the server
/// is not allowed to read (with a warning naming it), so that one folder an
/// operator locked does not hide every other file; any other failure fails
/// the whole listing (docs/protocol.md, decision 10).
///
/// The files come grouped by bucket, each bucket's name once, for the
/// reply's entries to borrow.
fn list_files<S: Store>(
    store: &S,
    bucket: Option<BucketName<'static>>,
) -> Result<Vec<(BucketName<'static>, Vec<FileInfo>)>, StoreError> {
    let one = bucket.is_some();
    let buckets = match bucket {
        Some(b) => vec![b],
        None => store.list_buckets()?,
    };
    let mut groups = Vec::with_capacity(buckets.len());
    for b in buckets {
        let infos = match store.list_files(&b) {
            Ok(infos) => infos,
            Err(StoreError::NoSuchBucket) if !one => continue,
            Err(StoreError::Io(e)) if !one && e.kind() == io::ErrorKind::PermissionDenied => {
                tracing::warn!(bucket = %b, error = %e, "LIST_F: cannot read this bucket, left out");
                continue;
            }
            Err(e) => return Err(e),
        };
        groups.push((b, infos));
    }
    Ok(groups)
}

/// The one-line success of a store operation (`300 BCS`, `600 DBS`,
/// `700 FUBS`, `1000 DFS`); the session refuses it for any other verb.
fn done_reply(verb: Verb) -> Reply<'static> {
    Reply::Success {
        code: verb.success_code(),
        text: None,
    }
}

/// The failure reply for a store error: the verb's failure code, the
/// error's reason, and its text.
fn store_failure(verb: Verb, error: &StoreError) -> Reply<'static> {
    Reply::failure(verb, error.reason(), error.to_string())
}

/// [`store_failure`], logging a storage failure (reason `IO`) as a `warn`
/// with its cause, the OS error, and the request's verb and names: the
/// request line (info) gives only the reason, and `RUST_LOG=warn` is to
/// keep every failure (docs/operations.md, "Logs"). Other store errors
/// (`NO_SUCH_BUCKET`, `EXISTS`, …) answer the client's request as asked and
/// are in the request line only.
fn logged_failure(
    peer: SocketAddr,
    verb: Verb,
    bucket: Option<&str>,
    name: Option<&str>,
    error: &StoreError,
) -> Reply<'static> {
    if error.reason() == Reason::Io {
        tracing::warn!(
            %peer,
            %verb,
            bucket = bucket.unwrap_or("-"),
            name = name.unwrap_or("-"),
            %error,
            "store failed"
        );
    }
    store_failure(verb, error)
}
