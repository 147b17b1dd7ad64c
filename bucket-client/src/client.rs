//! [`Client`]: one blocking BKT/1 connection over a [`TcpStream`], and the
//! [`Progress`] hook for transfers.

use std::fmt;
use std::fs::File;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use bucket_proto::{
    BucketName, ClientError, ClientEvent, ClientSession, FileEntry, FileName, Reply, ReplyCode,
    Request, Verb,
};

use crate::error::{Error, Result};

/// Size in bytes of the client's socket read buffer and of the chunks an
/// upload is read and sent in: 256 KiB.
pub const BUFFER_SIZE: usize = 256 * 1024;

/// The largest list reply a new [`Client`] keeps, in bytes: 256 MiB
/// ([`Client::set_max_list_size`]).
pub const DEFAULT_MAX_LIST_SIZE: u64 = bucket_proto::ClientConfig::DEFAULT_MAX_LIST_SIZE;

/// Most bytes one `sendfile(2)` call of [`Client::upload_file`] moves: 4 MiB,
/// so that progress reports and the early-reply check run between calls.
#[cfg(target_os = "linux")]
const SENDFILE_CHUNK: usize = 4 * 1024 * 1024;
/// [`Client::upload_file`] sends a payload of at most this many bytes by
/// reading it into the chunk buffer behind the request line and writing
/// both at once, not by `sendfile`: line and payload then leave in one
/// segment and the server wakes once, where writing the line and then
/// calling `sendfile` cost a 4 KiB upload about 40 % more time (the
/// `client_small_file` bench). Copying 64 KiB costs a few microseconds.
const SENDFILE_MIN: u64 = 64 * 1024;

/// How long a client waits for the server's explanation after a write to the
/// socket failed (the server may have refused an upload and closed), at
/// most: never longer than the client's own time-out.
const SALVAGE_TIMEOUT: Duration = Duration::from_secs(2);

/// Receives the progress of an upload or a download, e.g. to drive a
/// progress bar. Both methods do nothing by default.
///
/// Implemented for `()` (no progress) and for every `FnMut(u64)` closure,
/// which is called as [`Progress::advance`].
pub trait Progress {
    /// Called once per transfer, before any payload byte moves, with the
    /// payload's total size in bytes (for a download: the size announced in
    /// `900 FDBS size`).
    fn start(&mut self, total: u64) {
        let _ = total;
    }

    /// Called after each chunk with the number of payload bytes moved so far
    /// (sent to the server, or written to the destination).
    fn advance(&mut self, done: u64) {
        let _ = done;
    }
}

impl Progress for () {}

impl<F: FnMut(u64)> Progress for F {
    fn advance(&mut self, done: u64) {
        self(done);
    }
}

/// Ends a [`Client`]'s connection from another thread
/// ([`Client::interrupter`]). Cheap to clone; `Send` and `Sync`.
///
/// It does not keep the connection open: once the `Client` is dropped,
/// [`Interrupter::interrupt`] does nothing.
#[derive(Debug, Clone)]
pub struct Interrupter {
    stream: Weak<TcpStream>,
    interrupted: Arc<AtomicBool>,
}

impl Interrupter {
    /// Shuts the connection's socket down both ways, at once and without
    /// sending `QUIT`. The call under way (blocked in a read or a write, it
    /// returns at once), or else the next one, fails with
    /// [`Error::Interrupted`] and closes the client; later calls return
    /// [`Error::Closed`] (connect again to go on). A download's writer keeps
    /// what it got; an upload the server had not answered is not stored.
    /// Does nothing once the client is dropped.
    pub fn interrupt(&self) {
        if let Some(stream) = self.stream.upgrade() {
            self.interrupted.store(true, Ordering::Release);
            let _ = stream.shutdown(Shutdown::Both);
        }
    }
}

/// One blocking BKT/1 connection to a bucket server.
///
/// Each method sends one request, waits for its final reply and returns it
/// decoded. Failure replies come back as [`Error::Refused`] and leave the
/// connection usable; errors for which [`Error::breaks_connection`] holds
/// close it, and every later call then returns [`Error::Closed`].
///
/// Transfers stream: [`Client::upload`] sends from a [`Read`] in chunks of
/// [`BUFFER_SIZE`] bytes, [`Client::upload_file`] sends from a [`File`]
/// (by `sendfile(2)` on Linux, without copying through this process), and
/// [`Client::download`] writes each received piece to a [`Write`]; none
/// holds the whole file in memory.
///
/// Dropping a `Client` closes the connection without sending `QUIT`.
///
/// ```no_run
/// use bucket_client::{BucketName, Client, FileName};
///
/// let mut client = Client::connect("127.0.0.1:4567")?;
/// let bucket = BucketName::new("photos")?;
/// let name = FileName::new("cat.txt")?;
/// client.create_bucket(&bucket)?;
/// client.upload(&bucket, &name, &b"meow"[..], 4)?;
/// let mut copy = Vec::new();
/// assert_eq!(client.download(&bucket, &name, &mut copy)?, 4);
/// client.quit()?;
/// # Ok::<(), bucket_client::Error>(())
/// ```
pub struct Client {
    /// Shared with [`Interrupter`]s, which hold it weakly.
    stream: Arc<TcpStream>,
    /// Set by [`Interrupter::interrupt`]: the next error is
    /// [`Error::Interrupted`].
    interrupted: Arc<AtomicBool>,
    peer: SocketAddr,
    session: ClientSession,
    /// Upload chunks are read from the source into here.
    buf: Vec<u8>,
    /// Encoded request bytes on their way to the socket.
    out: Vec<u8>,
    closed: bool,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("peer", &self.peer)
            .field("closed", &self.closed)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Connects to a bucket server at `addr` (tried in the order it
    /// resolves), with no time limits.
    ///
    /// # Errors
    /// [`Error::Io`] when resolving or connecting fails.
    pub fn connect(addr: impl ToSocketAddrs) -> Result<Client> {
        let stream = TcpStream::connect(addr).map_err(Error::Io)?;
        Client::from_stream(stream)
    }

    /// Connects to a bucket server at `addr`, giving each resolved address
    /// `timeout` to accept, and sets `timeout` as the limit of every later
    /// socket read or write ([`Client::set_timeout`]).
    ///
    /// # Errors
    /// [`Error::ZeroTimeout`] for a zero `timeout`, before anything is
    /// resolved; [`Error::Io`] when resolving fails or no address accepts in
    /// time (the last address's error).
    pub fn connect_timeout(addr: impl ToSocketAddrs, timeout: Duration) -> Result<Client> {
        if timeout.is_zero() {
            return Err(Error::ZeroTimeout);
        }
        let mut last = None;
        for addr in addr.to_socket_addrs().map_err(Error::Io)? {
            match TcpStream::connect_timeout(&addr, timeout) {
                Ok(stream) => {
                    let client = Client::from_stream(stream)?;
                    client.set_timeout(Some(timeout))?;
                    return Ok(client);
                }
                Err(error) => last = Some(error),
            }
        }
        Err(Error::Io(last.unwrap_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, "address resolved to nothing")
        })))
    }

    /// Wraps a connected stream (sets `TCP_NODELAY` on it).
    ///
    /// # Errors
    /// [`Error::Io`] when the socket options cannot be read or set.
    pub fn from_stream(stream: TcpStream) -> Result<Client> {
        stream.set_nodelay(true).map_err(Error::Io)?;
        let peer = stream.peer_addr().map_err(Error::Io)?;
        Ok(Client {
            stream: Arc::new(stream),
            interrupted: Arc::new(AtomicBool::new(false)),
            peer,
            session: ClientSession::new(),
            buf: vec![0; BUFFER_SIZE],
            out: Vec::new(),
            closed: false,
        })
    }

    /// Sets how long one socket read or write may block (`None`: forever).
    /// One that takes longer fails the operation with [`Error::Io`] of kind
    /// `TimedOut`, saying how long it waited (`timed out after 5 s waiting
    /// for the server`), and closes the connection.
    ///
    /// The same limit bounds each reply line (a status line, each item of a
    /// list) from its first byte to its end, however often bytes of it
    /// arrive, so a server that trickles a line byte by byte fails the same
    /// way (`timed out after 5 s waiting for the end of a reply line`). A
    /// download's payload is bounded per read only.
    ///
    /// # Errors
    /// [`Error::ZeroTimeout`] for `Some(Duration::ZERO)`, with the setting
    /// left as it was and the connection open; [`Error::Io`] when the socket
    /// refuses the setting.
    pub fn set_timeout(&self, timeout: Option<Duration>) -> Result<()> {
        if timeout.is_some_and(|t| t.is_zero()) {
            return Err(Error::ZeroTimeout);
        }
        self.stream.set_read_timeout(timeout).map_err(Error::Io)?;
        self.stream.set_write_timeout(timeout).map_err(Error::Io)
    }

    /// Sets the largest list reply this client keeps, in bytes (`None`: no
    /// limit), from the next list on. A list counts 64 bytes per item plus
    /// each item line's length, about what its items take in memory; a
    /// larger one fails with [`Error::ListTooLarge`] and closes the
    /// connection, so a broken or hostile server cannot make the client
    /// hold unbounded memory. Default: [`DEFAULT_MAX_LIST_SIZE`] (256 MiB); see
    /// [`bucket_proto::ClientConfig::max_list_size`].
    pub fn set_max_list_size(&mut self, limit: Option<u64>) {
        let config = self.session.config().clone().with_max_list_size(limit);
        self.session.set_config(config);
    }

    /// The largest list reply this client keeps, in bytes
    /// ([`Client::set_max_list_size`]).
    pub fn max_list_size(&self) -> Option<u64> {
        self.session.config().max_list_size
    }

    /// The server's address.
    pub fn peer_addr(&self) -> SocketAddr {
        self.peer
    }

    /// A handle that ends this connection from another thread: a Ctrl-C
    /// handler, a cancel button. See [`Interrupter::interrupt`].
    pub fn interrupter(&self) -> Interrupter {
        Interrupter {
            stream: Arc::downgrade(&self.stream),
            interrupted: Arc::clone(&self.interrupted),
        }
    }

    /// Whether the connection still looks usable: not broken by an earlier
    /// error, and not closed by the server (checked without blocking, so a
    /// server's idle time-out is noticed before the next request is sent).
    pub fn is_open(&self) -> bool {
        if self.closed || self.session.is_closed() {
            return false;
        }
        match recv_now(&self.stream, &mut [0u8; 1], Recv::Peek) {
            Ok(0) => false,
            Ok(_) => true,
            Err(error) => error.kind() == io::ErrorKind::WouldBlock,
        }
    }

    // ---- operations ---------------------------------------------------

    /// `HELLO`: checks the server. Returns the server's name and version as
    /// sent after `100 OK BKT/1` (may be empty).
    ///
    /// # Errors
    /// Any [`Error`]; see the type's documentation.
    pub fn hello(&mut self) -> Result<String> {
        self.call(&Request::Hello, |reply| match reply {
            Reply::Hello { server } => Some(server.into_owned()),
            _ => None,
        })
    }

    /// `HELP [verb]`: the server's help text, one entry per line; for `None`
    /// the overview of every verb, for a verb its details.
    ///
    /// # Errors
    /// Any [`Error`]; see the type's documentation.
    pub fn help(&mut self, topic: Option<Verb>) -> Result<Vec<String>> {
        self.call(&Request::Help { topic }, |reply| match reply {
            Reply::Help { lines } => Some(lines.into_iter().map(|l| l.into_owned()).collect()),
            _ => None,
        })
    }

    /// `CODES`: the server's reply code table, one `number mnemonic meaning`
    /// entry per code.
    ///
    /// # Errors
    /// Any [`Error`]; see the type's documentation.
    pub fn codes(&mut self) -> Result<Vec<String>> {
        self.call(&Request::Codes, |reply| match reply {
            Reply::Codes { lines } => Some(lines.into_iter().map(|l| l.into_owned()).collect()),
            _ => None,
        })
    }

    /// `QUIT`: ends the session politely (`200 BYE`) and closes the
    /// connection.
    ///
    /// # Errors
    /// Any [`Error`]; the connection is closed either way.
    pub fn quit(mut self) -> Result<()> {
        let result = self.call(&Request::Quit, |reply| match reply {
            Reply::Bye => Some(()),
            _ => None,
        });
        self.close_now();
        result
    }

    /// `CREATE_B bucket`: creates an empty bucket.
    ///
    /// # Errors
    /// [`Error::Refused`] `301 BCF` (`EXISTS`, `BAD_NAME`, `IO`), or any
    /// other [`Error`].
    pub fn create_bucket(&mut self, bucket: &BucketName<'_>) -> Result<()> {
        let request = Request::CreateBucket {
            bucket: bucket.borrowed(),
        };
        self.expect_success(&request, ReplyCode::BucketCreated)
    }

    /// `LIST_B`: every bucket's name, in the order the server sent them.
    ///
    /// # Errors
    /// [`Error::Refused`] `401 LSF`, or any other [`Error`].
    pub fn list_buckets(&mut self) -> Result<Vec<BucketName<'static>>> {
        self.call(&Request::ListBuckets, |reply| match reply {
            Reply::Buckets { buckets } => {
                Some(buckets.into_iter().map(BucketName::into_owned).collect())
            }
            _ => None,
        })
    }

    /// `DELETE_B bucket`: deletes an empty bucket.
    ///
    /// # Errors
    /// [`Error::Refused`] `601 DBF` (`NO_SUCH_BUCKET`, `NOT_EMPTY`, …), or
    /// any other [`Error`].
    pub fn delete_bucket(&mut self, bucket: &BucketName<'_>) -> Result<()> {
        let request = Request::DeleteBucket {
            bucket: bucket.borrowed(),
        };
        self.expect_success(&request, ReplyCode::BucketDeleted)
    }

    /// `UPLOAD bucket name len`, then exactly `len` bytes read from `reader`
    /// (in chunks of up to [`BUFFER_SIZE`] bytes, written straight to the
    /// socket). Bytes the reader holds beyond `len` are not read. An
    /// existing file of that name is replaced.
    ///
    /// # Errors
    /// [`Error::Refused`] `701 FUBF` (`NO_SUCH_BUCKET`, `BAD_NAME`,
    /// `TOO_LARGE`, `IO`); [`Error::SourceTooShort`] when `reader` ends
    /// before `len` bytes, [`Error::Local`] when it fails (both close the
    /// connection: the payload cannot be completed); any other [`Error`].
    pub fn upload(
        &mut self,
        bucket: &BucketName<'_>,
        name: &FileName<'_>,
        reader: impl Read,
        len: u64,
    ) -> Result<()> {
        self.upload_with_progress(bucket, name, reader, len, &mut ())
    }

    /// [`Client::upload`], reporting to `progress`: `start(len)` first, then
    /// `advance(bytes sent so far)` after each chunk.
    ///
    /// # Errors
    /// As [`Client::upload`].
    pub fn upload_with_progress(
        &mut self,
        bucket: &BucketName<'_>,
        name: &FileName<'_>,
        mut reader: impl Read,
        len: u64,
        progress: &mut dyn Progress,
    ) -> Result<()> {
        self.check_open()?;
        let result = self
            .begin_upload(bucket, name, len)
            .and_then(|()| {
                progress.start(len);
                self.copy_payload(&mut reader, len, progress)
            })
            .and_then(|()| self.upload_reply());
        self.finish(result)
    }

    /// `UPLOAD bucket name len`, then exactly `len` bytes of `file` starting
    /// at its current position (bytes beyond them are not sent). An existing
    /// file of that name is replaced. On success the file's position has
    /// moved on by `len`; after an error it is unspecified.
    ///
    /// On Linux the kernel moves the bytes of a payload over 64 KiB from the
    /// page cache to the socket with `sendfile(2)`, in calls of up to 4 MiB,
    /// without copying them through this process; the socket's write
    /// timeout ([`Client::set_timeout`]) bounds each call as it bounds a
    /// write. A payload of 64 KiB or less is read and sent in the same write
    /// as the request line, which is faster for small files.
    /// Where `sendfile` cannot read the file (it fails with `EINVAL`,
    /// `ENOSYS` or `EOPNOTSUPP` before the first byte, e.g. for a pipe) and
    /// on other systems, the bytes are read and sent in chunks of
    /// [`BUFFER_SIZE`] bytes as by [`Client::upload`].
    ///
    /// `sendfile` cannot ask the kernel not to raise `SIGPIPE` as socket
    /// writes do, so it is used only while the process ignores SIGPIPE
    /// (Rust programs do unless told otherwise). A program that restored its
    /// default action gets the copy instead, and a server hanging up is an
    /// error, not the end of the program.
    ///
    /// # Errors
    /// [`Error::Refused`] `701 FUBF` (`NO_SUCH_BUCKET`, `BAD_NAME`,
    /// `TOO_LARGE`, `IO`); [`Error::SourceTooShort`] when the file ends
    /// before `len` bytes, [`Error::Local`] when reading it fails (both close
    /// the connection: the payload cannot be completed); [`Error::Io`] when
    /// sending fails, of kind `TimedOut` when one `sendfile` call blocks
    /// longer than the write timeout; any other [`Error`].
    pub fn upload_file(
        &mut self,
        bucket: &BucketName<'_>,
        name: &FileName<'_>,
        file: &File,
        len: u64,
    ) -> Result<()> {
        self.upload_file_with_progress(bucket, name, file, len, &mut ())
    }

    /// [`Client::upload_file`], reporting to `progress`: `start(len)` first,
    /// then `advance(bytes sent so far)` after each chunk (up to 4 MiB with
    /// `sendfile`, else up to [`BUFFER_SIZE`] bytes).
    ///
    /// # Errors
    /// As [`Client::upload_file`].
    pub fn upload_file_with_progress(
        &mut self,
        bucket: &BucketName<'_>,
        name: &FileName<'_>,
        file: &File,
        len: u64,
        progress: &mut dyn Progress,
    ) -> Result<()> {
        self.check_open()?;
        let result = self
            .begin_upload(bucket, name, len)
            .and_then(|()| {
                progress.start(len);
                #[cfg(target_os = "linux")]
                if len > SENDFILE_MIN
                    && sigpipe_ignored()
                    && self.sendfile_payload(file, len, progress)?
                {
                    return Ok(());
                }
                self.copy_payload(&mut &*file, len, progress)
            })
            .and_then(|()| self.upload_reply());
        self.finish(result)
    }

    /// `LIST_F [bucket]`: the files of one bucket, or of every bucket for
    /// `None`, as `bucket name size` entries (size in bytes).
    ///
    /// # Errors
    /// [`Error::Refused`] `801 LFF` (`NO_SUCH_BUCKET`, …), or any other
    /// [`Error`].
    pub fn list_files(
        &mut self,
        bucket: Option<&BucketName<'_>>,
    ) -> Result<Vec<FileEntry<'static>>> {
        let request = Request::ListFiles {
            bucket: bucket.map(BucketName::borrowed),
        };
        self.call(&request, |reply| match reply {
            Reply::Files { files } => Some(files.into_iter().map(FileEntry::into_owned).collect()),
            _ => None,
        })
    }

    /// `DOWNLOAD bucket name`: writes the file's bytes to `writer` as they
    /// arrive (never holding the whole file), flushes it, and returns the
    /// file's size in bytes as announced in `900 FDBS size` (exactly that
    /// many bytes were written). Nothing is written when the server refuses.
    ///
    /// # Errors
    /// [`Error::Refused`] `901 FDBF` (`NO_SUCH_BUCKET`, `NO_SUCH_FILE`,
    /// `IO`); [`Error::Local`] when `writer` fails (closes the connection,
    /// as the rest of the payload is not read); any other [`Error`], after
    /// which `writer` may hold part of the file.
    pub fn download(
        &mut self,
        bucket: &BucketName<'_>,
        name: &FileName<'_>,
        writer: impl Write,
    ) -> Result<u64> {
        self.download_with_progress(bucket, name, writer, &mut ())
    }

    /// [`Client::download`], reporting to `progress`: `start(size)` once the
    /// `900 FDBS size` header arrives and before anything is written, then
    /// `advance(bytes written so far)` after each piece.
    ///
    /// # Errors
    /// As [`Client::download`].
    pub fn download_with_progress(
        &mut self,
        bucket: &BucketName<'_>,
        name: &FileName<'_>,
        mut writer: impl Write,
        progress: &mut dyn Progress,
    ) -> Result<u64> {
        self.check_open()?;
        let result = self.download_inner(bucket, name, &mut writer, progress);
        self.finish(result)
    }

    /// `DELETE_F bucket name`: deletes one file.
    ///
    /// # Errors
    /// [`Error::Refused`] `1001 DFF` (`NO_SUCH_BUCKET`, `NO_SUCH_FILE`, …),
    /// or any other [`Error`].
    pub fn delete_file(&mut self, bucket: &BucketName<'_>, name: &FileName<'_>) -> Result<()> {
        let request = Request::DeleteFile {
            bucket: bucket.borrowed(),
            name: name.borrowed(),
        };
        self.expect_success(&request, ReplyCode::FileDeleted)
    }

    // ---- machinery ----------------------------------------------------

    fn check_open(&self) -> Result<()> {
        match self.closed {
            true => Err(Error::Closed),
            false => Ok(()),
        }
    }

    /// Closes the connection when `result` is an error that breaks it.
    fn finish<T>(&mut self, result: Result<T>) -> Result<T> {
        let result = match result {
            Err(_) if self.interrupted.load(Ordering::Acquire) => Err(Error::Interrupted),
            other => other,
        };
        if let Err(error) = &result {
            tracing::debug!(%error, "request failed");
            if error.breaks_connection() {
                self.close_now();
            }
        }
        result
    }

    fn close_now(&mut self) {
        if !self.closed {
            self.closed = true;
            let _ = self.stream.shutdown(Shutdown::Both);
        }
    }

    /// Sends a request without payload, waits for its final reply and
    /// decodes it with `decode` (`None`: not the reply expected).
    fn call<T>(
        &mut self,
        request: &Request<'_>,
        decode: impl FnOnce(Reply<'static>) -> Option<T>,
    ) -> Result<T> {
        self.check_open()?;
        let result = self
            .send(request)
            .and_then(|()| self.reply())
            .and_then(|reply| {
                let code = reply.code();
                decode(reply).ok_or(Error::UnexpectedReply {
                    verb: request.verb(),
                    code,
                })
            });
        self.finish(result)
    }

    fn expect_success(&mut self, request: &Request<'_>, code: ReplyCode) -> Result<()> {
        self.call(request, |reply| match reply {
            Reply::Success { code: got, .. } if got == code => Some(()),
            _ => None,
        })
    }

    /// Before a request: nothing may have arrived since the last final
    /// reply. A reply with no request waiting is one the server owes nobody
    /// (one reply per request, PROTOCOL.md § Transport); taken as the next
    /// request's answer, it would shift every later result by one (a failed
    /// delete reported as done). So what is already buffered, or waiting on
    /// the socket, is read now: `500 BCMD BUSY` is a refusal, any other reply
    /// a protocol error (`UnrequestedReply`), and the connection closes.
    fn check_quiet(&mut self) -> Result<()> {
        self.poll_unrequested()?;
        match recv_now(&self.stream, &mut [0u8; 1], Recv::Peek) {
            // Bytes with no request waiting: read and judge them.
            Ok(n) if n > 0 => {
                self.fill()?;
                self.poll_unrequested()
            }
            // Nothing, or an end or error that the request itself will meet.
            _ => Ok(()),
        }
    }

    /// Polls the session while no request waits: `Ok` when it has nothing
    /// to deliver; an error for whatever it delivers (see
    /// [`Client::check_quiet`]).
    fn poll_unrequested(&mut self) -> Result<()> {
        match self.session.poll_event()? {
            None => Ok(()),
            Some(ClientEvent::Reply {
                reply: Reply::Failure { code, reason, text },
                ..
            }) => Err(refused(code, reason, text)),
            // The session delivers nothing else with no request waiting.
            Some(ClientEvent::Reply { reply, .. }) => Err(Error::Protocol(
                bucket_proto::ClientError::UnrequestedReply { code: reply.code() },
            )),
            Some(_) => Err(Error::Closed),
        }
    }

    /// Encodes `request` and writes it out.
    fn send(&mut self, request: &Request<'_>) -> Result<()> {
        tracing::debug!(?request, "send");
        self.check_quiet()?;
        self.session.send_request(request)?;
        self.out.clear();
        self.session.poll_transmit(&mut self.out);
        if let Err(error) = (&*self.stream).write_all(&self.out) {
            return Err(self.write_failed(error));
        }
        Ok(())
    }

    /// A write to the socket failed: the server may have refused and closed
    /// (`TOO_LARGE`, `BUSY`). Its reply, when it can still be read, explains
    /// better than `EPIPE`. The connection is closed either way.
    fn write_failed(&mut self, error: io::Error) -> Error {
        let error = self.timed_out(error, false);
        tracing::debug!(%error, "write failed; looking for a reply");
        let wait = match self.stream.read_timeout() {
            Ok(Some(limit)) => limit.min(SALVAGE_TIMEOUT),
            _ => SALVAGE_TIMEOUT,
        };
        let salvaged = match self.stream.set_read_timeout(Some(wait)) {
            Ok(()) => match self.reply() {
                Err(refused @ Error::Refused { .. }) => refused,
                _ => Error::Io(error),
            },
            Err(_) => Error::Io(error),
        };
        self.close_now();
        salvaged
    }

    /// During an upload: whether the server has answered already, which it
    /// does only to refuse (`TOO_LARGE`) before closing. Reads what has
    /// arrived without blocking, so the reply is seen before the server's
    /// close turns into a reset that would discard it.
    ///
    /// A read error other than "nothing yet" (a reset) ends the upload here,
    /// as that error: the read has taken the socket's pending error, so the
    /// next send could only report `EPIPE`.
    fn early_reply(&mut self) -> Option<Error> {
        let mut scratch = [0u8; 1024];
        match recv_now(&self.stream, &mut scratch, Recv::Take) {
            Ok(0) => self.session.receive_eof(),
            Ok(n) => self.session.receive(&scratch[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                ) =>
            {
                return None;
            }
            Err(e) => return Some(Error::Io(e)),
        }
        match self.session.poll_event() {
            Ok(None) => None,
            Ok(Some(ClientEvent::Reply {
                reply: Reply::Failure { code, reason, text },
                ..
            })) => Some(refused(code, reason, text)),
            Ok(Some(ClientEvent::Reply { reply, .. })) => Some(unexpected(Verb::Upload, &reply)),
            Ok(Some(ClientEvent::Closed)) => Some(Error::Closed),
            Ok(Some(ClientEvent::PayloadData(_) | ClientEvent::PayloadEnd)) => {
                Some(Error::UnexpectedReply {
                    verb: Verb::Upload,
                    code: ReplyCode::Download,
                })
            }
            Err(error) => Some(error.into()),
        }
    }

    /// Reads from the socket into the session: one read, straight into the
    /// session's receive buffer (no copy).
    fn fill(&mut self) -> Result<()> {
        self.read_into_session().map(|_| ())
    }

    /// [`Client::fill`], returning how many bytes it read (0 at the end of
    /// the stream) and the index of the last LF among them.
    fn read_into_session(&mut self) -> Result<(usize, Option<usize>)> {
        loop {
            let buf = self.session.receive_buffer(BUFFER_SIZE);
            match (&*self.stream).read(buf) {
                Ok(0) => {
                    self.session.receive_eof();
                    return Ok((0, None));
                }
                Ok(n) => {
                    let last_lf = buf[..n].iter().rposition(|&b| b == b'\n');
                    self.session.commit_received(n);
                    return Ok((n, last_lf));
                }
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => return Err(Error::Io(self.timed_out(error, true))),
            }
        }
    }

    /// [`Client::fill`] while a reply's lines arrive. The line under way
    /// (`line_started`: when its first byte came, `None` between lines)
    /// must end within the read time-out of that byte, however often bytes
    /// of it arrive: a server cannot hold the client by trickling a line
    /// byte by byte, as `bucket-server` does not let a client hold it
    /// (docs/operations.md). Updates `line_started` from the bytes read.
    ///
    /// # Errors
    /// [`Error::Io`] of kind `TimedOut` when the line has taken longer than
    /// the time-out; what [`Client::fill`] returns.
    fn fill_line(&mut self, line_started: &mut Option<Instant>) -> Result<()> {
        // Only a line under way needs the limit (one more system call).
        let limit = match line_started {
            Some(_) => self.stream.read_timeout().map_err(Error::Io)?,
            None => None,
        };
        let (n, last_lf) = match (*line_started, limit) {
            (Some(started), Some(limit)) => {
                let left = limit.saturating_sub(started.elapsed());
                if left.is_zero() {
                    return Err(slow_line(limit));
                }
                // This read may wait only for what is left of the line's time.
                self.stream
                    .set_read_timeout(Some(left))
                    .map_err(Error::Io)?;
                let read = self.read_into_session();
                self.stream
                    .set_read_timeout(Some(limit))
                    .map_err(Error::Io)?;
                match read {
                    Err(Error::Io(e)) if e.kind() == io::ErrorKind::TimedOut => {
                        return Err(slow_line(limit));
                    }
                    read => read?,
                }
            }
            _ => self.read_into_session()?,
        };
        *line_started = match last_lf {
            // Bytes after the last LF start the next line now.
            Some(i) => (i + 1 < n).then(Instant::now),
            None if n > 0 => line_started.or_else(|| Some(Instant::now())),
            None => *line_started,
        };
        Ok(())
    }

    /// `error` from a socket read (`reading`) or write; when it is the
    /// socket's time limit running out (`WouldBlock` from a blocking socket,
    /// or `TimedOut`), an error of kind `TimedOut` that says so and how long
    /// the limit is, instead of the bare OS text ("Resource temporarily
    /// unavailable").
    fn timed_out(&self, error: io::Error, reading: bool) -> io::Error {
        if !matches!(
            error.kind(),
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
        ) {
            return error;
        }
        let (limit, doing) = match reading {
            true => (self.stream.read_timeout(), "waiting for the server"),
            false => (self.stream.write_timeout(), "sending to the server"),
        };
        let text = match limit.ok().flatten() {
            Some(limit) => format!("timed out after {} {doing}", seconds(limit)),
            None => format!("timed out {doing}"),
        };
        io::Error::new(io::ErrorKind::TimedOut, text)
    }

    /// The next final reply, reading as needed; failure replies become
    /// [`Error::Refused`]. Each of its lines must arrive whole within the
    /// read time-out of its first byte ([`Client::fill_line`]).
    fn reply(&mut self) -> Result<Reply<'static>> {
        let mut line_started = None;
        loop {
            match self.session.poll_event()? {
                Some(ClientEvent::Reply { request, reply }) => {
                    tracing::debug!(?reply, "reply");
                    return match reply {
                        Reply::Failure { code, reason, text } => Err(refused(code, reason, text)),
                        Reply::Need { .. } => Err(Error::UnexpectedReply {
                            verb: request.unwrap_or(Verb::Hello),
                            code: ReplyCode::Need,
                        }),
                        reply => Ok(reply.into_owned()),
                    };
                }
                Some(ClientEvent::Closed) => return Err(Error::Closed),
                Some(ClientEvent::PayloadData(_) | ClientEvent::PayloadEnd) => {
                    return Err(Error::UnexpectedReply {
                        verb: Verb::Download,
                        code: ReplyCode::Download,
                    });
                }
                None => self.fill_line(&mut line_started)?,
            }
        }
    }

    /// Encodes `UPLOAD bucket name len` into the session; the payload
    /// methods write it out.
    fn begin_upload(
        &mut self,
        bucket: &BucketName<'_>,
        name: &FileName<'_>,
        len: u64,
    ) -> Result<()> {
        let request = Request::Upload {
            bucket: bucket.borrowed(),
            name: name.borrowed(),
            size: len,
        };
        tracing::debug!(?request, "send");
        self.check_quiet()?;
        self.session.send_request(&request)?;
        Ok(())
    }

    /// The final reply to an upload whose payload is sent.
    fn upload_reply(&mut self) -> Result<()> {
        match self.reply()? {
            Reply::Success {
                code: ReplyCode::FileUploaded,
                ..
            } => Ok(()),
            other => Err(unexpected(Verb::Upload, &other)),
        }
    }

    /// [`Client::upload_payload`] through the client's chunk buffer.
    fn copy_payload(
        &mut self,
        reader: &mut dyn Read,
        len: u64,
        progress: &mut dyn Progress,
    ) -> Result<()> {
        let mut buf = std::mem::take(&mut self.buf);
        let sent = self.upload_payload(&mut buf, reader, len, progress);
        self.buf = buf;
        sent
    }

    /// Writes the pending request line, if any, and `len` payload bytes from
    /// `reader`, the line together with the first chunk.
    fn upload_payload(
        &mut self,
        buf: &mut [u8],
        reader: &mut dyn Read,
        len: u64,
        progress: &mut dyn Progress,
    ) -> Result<()> {
        self.out.clear();
        self.session.poll_transmit(&mut self.out);
        let mut head = self.out.len();
        if head >= buf.len() / 2 {
            // Cannot happen with BKT/1's line limits; keep it correct anyway.
            if let Err(error) = (&*self.stream).write_all(&self.out) {
                return Err(self.write_failed(error));
            }
            head = 0;
        } else {
            buf[..head].copy_from_slice(&self.out);
        }
        let mut sent = 0u64;
        while sent < len || head > 0 {
            let room = buf.len() - head;
            let want = usize::try_from(len - sent).map_or(room, |left| left.min(room));
            let n = if want == 0 {
                0
            } else {
                read_some(reader, &mut buf[head..head + want]).map_err(Error::Local)?
            };
            if want > 0 && n == 0 {
                return Err(Error::SourceTooShort {
                    expected: len,
                    got: sent,
                });
            }
            // Until the request line is out (`head > 0`), there is nothing
            // the server could have refused early.
            if head == 0
                && let Some(early) = self.early_reply()
            {
                self.close_now();
                return Err(early);
            }
            if let Err(error) = (&*self.stream).write_all(&buf[..head + n]) {
                return Err(self.write_failed(error));
            }
            self.session.payload_sent_directly(n as u64)?;
            head = 0;
            sent += n as u64;
            if n > 0 {
                progress.advance(sent);
            }
        }
        Ok(())
    }

    /// Writes the pending request line, then `len` payload bytes of `file`
    /// from its current position by `sendfile(2)`, checking for an early
    /// reply before each call. `Ok(false)` when `sendfile` cannot read the
    /// file (no payload byte was sent: the caller copies instead).
    #[cfg(target_os = "linux")]
    fn sendfile_payload(
        &mut self,
        file: &File,
        len: u64,
        progress: &mut dyn Progress,
    ) -> Result<bool> {
        use rustix::io::Errno;

        self.out.clear();
        self.session.poll_transmit(&mut self.out);
        if let Err(error) = (&*self.stream).write_all(&self.out) {
            return Err(self.write_failed(error));
        }
        let mut sent = 0u64;
        while sent < len {
            if let Some(early) = self.early_reply() {
                self.close_now();
                return Err(early);
            }
            let chunk =
                usize::try_from(len - sent).map_or(SENDFILE_CHUNK, |left| left.min(SENDFILE_CHUNK));
            let n = match rustix::fs::sendfile(&*self.stream, file, None, chunk) {
                Ok(0) => {
                    return Err(Error::SourceTooShort {
                        expected: len,
                        got: sent,
                    });
                }
                Ok(n) => n as u64,
                Err(Errno::INTR) => continue,
                Err(Errno::INVAL | Errno::NOSYS | Errno::OPNOTSUPP) if sent == 0 => {
                    tracing::debug!("sendfile cannot read this file; copying instead");
                    return Ok(false);
                }
                // A blocking socket's SO_SNDTIMEO ran out with nothing sent.
                Err(Errno::AGAIN) => {
                    return Err(self.write_failed(io::ErrorKind::TimedOut.into()));
                }
                Err(errno) if socket_errno(errno) => {
                    return Err(self.write_failed(errno.into()));
                }
                Err(errno) => return Err(Error::Local(errno.into())),
            };
            self.session.payload_sent_directly(n)?;
            sent += n;
            progress.advance(sent);
        }
        Ok(true)
    }

    fn download_inner(
        &mut self,
        bucket: &BucketName<'_>,
        name: &FileName<'_>,
        writer: &mut dyn Write,
        progress: &mut dyn Progress,
    ) -> Result<u64> {
        let request = Request::Download {
            bucket: bucket.borrowed(),
            name: name.borrowed(),
        };
        self.send(&request)?;
        let size = match self.reply()? {
            Reply::Download { size } => size,
            other => return Err(unexpected(Verb::Download, &other)),
        };
        progress.start(size);
        let mut done = 0u64;
        loop {
            let event = match self.session.poll_event() {
                Err(ClientError::UnexpectedEof) => {
                    return Err(Error::DownloadCut {
                        expected: size,
                        got: done,
                    });
                }
                other => other?,
            };
            let step = match event {
                Some(ClientEvent::PayloadData(data)) => match writer.write_all(data) {
                    Ok(()) => Ok(data.len() as u64),
                    Err(error) => Err(error),
                },
                Some(ClientEvent::PayloadEnd) => break,
                Some(ClientEvent::Reply { reply, .. }) => {
                    return Err(unexpected(Verb::Download, &reply));
                }
                Some(ClientEvent::Closed) => return Err(Error::Closed),
                None => {
                    self.fill()?;
                    continue;
                }
            };
            done += step.map_err(Error::Local)?;
            progress.advance(done);
        }
        writer.flush().map_err(Error::Local)?;
        Ok(size)
    }
}

/// A reply line that took longer than `limit` from its first byte to its LF
/// ([`Client::fill_line`]): [`Error::Io`] of kind `TimedOut`.
fn slow_line(limit: Duration) -> Error {
    Error::Io(io::Error::new(
        io::ErrorKind::TimedOut,
        format!(
            "timed out after {} waiting for the end of a reply line",
            seconds(limit)
        ),
    ))
}

/// A time limit for people: `5 s`, or `300 ms` below a whole second.
fn seconds(limit: Duration) -> String {
    match limit.subsec_nanos() {
        0 => format!("{} s", limit.as_secs()),
        _ => format!("{} ms", limit.as_millis()),
    }
}

/// One `read`, retried on `Interrupted`.
fn read_some(reader: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match reader.read(buf) {
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            other => return other,
        }
    }
}

/// Whether this process ignores SIGPIPE, as Rust programs do unless told
/// otherwise (`false` when that cannot be read). `sendfile(2)` to a server
/// that has hung up raises SIGPIPE, and cannot be asked not to as socket
/// writes can (`MSG_NOSIGNAL`), so [`Client::upload_file`] uses it only when
/// the signal is ignored; otherwise it copies (`tests/sigpipe.rs`).
#[cfg(target_os = "linux")]
fn sigpipe_ignored() -> bool {
    const SIGPIPE: u32 = 13;
    ignored_signals() & (1 << (SIGPIPE - 1)) != 0
}

/// The signals this process ignores, as a mask (bit `n - 1` for signal
/// `n`), from `SigIgn` in `/proc/self/status`; none where that cannot be
/// read (no `/proc`, not Linux). For this crate and its command-line tool;
/// not part of the stable API.
#[doc(hidden)]
pub fn ignored_signals() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let mask = status.lines().find_map(|l| l.strip_prefix("SigIgn:"))?;
            u64::from_str_radix(mask.trim(), 16).ok()
        })
        .unwrap_or(0)
}

/// Whether [`recv_now`] takes the bytes it reads or only looks at them.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Recv {
    Take,
    Peek,
}

/// Reads what has already arrived on `stream` into `buf` without waiting:
/// `WouldBlock` when nothing has, `Ok(0)` at the end of input. With
/// [`Recv::Peek`] the bytes stay to be read again.
///
/// One `recv(MSG_DONTWAIT)` on Linux; elsewhere the socket is made
/// non-blocking around the read, two more system calls, and an error
/// setting it back is returned.
fn recv_now(stream: &TcpStream, buf: &mut [u8], how: Recv) -> io::Result<usize> {
    #[cfg(target_os = "linux")]
    {
        use rustix::net::RecvFlags;
        let flags = match how {
            Recv::Take => RecvFlags::DONTWAIT,
            Recv::Peek => RecvFlags::DONTWAIT | RecvFlags::PEEK,
        };
        Ok(rustix::net::recv(stream, buf, flags)?.0)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let mut stream = stream;
        stream.set_nonblocking(true)?;
        let got = match how {
            Recv::Take => stream.read(buf),
            Recv::Peek => stream.peek(buf),
        };
        stream.set_nonblocking(false)?;
        got
    }
}

/// Whether a failed `sendfile(2)` is the socket's fault rather than the
/// file's (which makes it [`Error::Local`]).
#[cfg(target_os = "linux")]
fn socket_errno(errno: rustix::io::Errno) -> bool {
    use rustix::io::Errno;
    matches!(
        errno,
        Errno::PIPE
            | Errno::CONNRESET
            | Errno::CONNABORTED
            | Errno::NOTCONN
            | Errno::TIMEDOUT
            | Errno::NETDOWN
            | Errno::NETUNREACH
            | Errno::NETRESET
            | Errno::HOSTUNREACH
            | Errno::HOSTDOWN
            | Errno::SHUTDOWN
            | Errno::NOBUFS
    )
}

/// [`Error::Refused`] for a failure reply's parts.
fn refused(
    code: ReplyCode,
    reason: bucket_proto::Reason,
    text: Option<std::borrow::Cow<'_, str>>,
) -> Error {
    Error::Refused {
        code,
        reason,
        text: text.map(|t| t.into_owned()).unwrap_or_default(),
    }
}

fn unexpected(verb: Verb, reply: &Reply<'_>) -> Error {
    Error::UnexpectedReply {
        verb,
        code: reply.code(),
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    /// A test binary is a Rust program, which ignores SIGPIPE: uploads of
    /// files use `sendfile` there (tests/sigpipe.rs covers the other case).
    #[test]
    fn rust_programs_ignore_sigpipe_so_file_uploads_use_sendfile() {
        assert!(super::sigpipe_ignored());
    }
}
