//! # bucket-server
//!
//! The BKT/1 reference server: [`bucket_proto::ServerSession`] driven over
//! std TCP sockets, with files kept in a [`bucket_store::Store`] back-end.
//!
//! One thread per connection, at most [`Config::max_connections`] at once;
//! a connection over the limit is answered `500 BCMD BUSY` and closed. Upload
//! payload is read from the socket straight into the session's buffer and
//! written to the store's writer in large pieces; download payload goes from
//! a file to the socket with `sendfile(2)` on Linux (from memory in one
//! write, from other sources through a 256 KiB buffer). Nothing holds a whole
//! file in memory. Connection threads block SIGPIPE, so a peer that hangs up
//! mid-download cannot end a program that restored SIGPIPE's default action
//! (`sendfile` cannot be told not to raise it; socket writes are).
//!
//! ```no_run
//! use bucket_server::{Config, Server};
//! use bucket_store::FsStore;
//!
//! let store = FsStore::open("./buckets")?;
//! let server = Server::bind(Config::default(), store)?;
//! println!("listening on {}", server.local_addr());
//! server.serve()?; // until Server::shutdown_handle().shutdown()
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Logs go through `tracing`: at start, an `info` line with the
//! [`Config`]'s limits (`settings max_connections=… idle_timeout=…
//! max_upload_size=… max_concurrent_listings=… shutdown_grace=…`) and one
//! with the address (`listening addr=…`); then one `info` line per request
//! (peer, verb, bucket, name, reply code, payload bytes, milliseconds),
//! `warn` for store and socket errors with their cause.

mod connection;
mod listings;

use std::io::{self, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bucket_proto::{Reason, Reply, encode};
use bucket_store::Store;

/// Settings of a [`Server`]. `Default` gives the command line's defaults.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address to listen on (default `127.0.0.1:4567`; port 0 picks a free
    /// port, see [`Server::local_addr`]).
    pub listen: SocketAddr,
    /// Most connections served at once (default 1024; at least 1, or
    /// [`Server::bind`] refuses the config). One more is answered
    /// `500 BCMD BUSY` and closed.
    pub max_connections: usize,
    /// How long a connection may go without a byte moving either way, and how
    /// long a request line may take to arrive, before it is closed (default
    /// 300 s; above zero, or [`Server::bind`] refuses the config). A transfer
    /// that keeps moving is never cut by it.
    pub idle_timeout: Duration,
    /// Largest upload accepted, in bytes (default: no limit). A larger one is
    /// answered `701 FUBF TOO_LARGE` and the connection closed.
    pub max_upload_size: Option<u64>,
    /// How long [`ServerHandle::shutdown`] lets requests in flight finish
    /// before it closes their connections (default 10 s).
    pub shutdown_grace: Duration,
    /// Sent in `100 OK BKT/1 <server_name>` (default
    /// `bucket-server/<version>`).
    pub server_name: String,
    /// Most `LIST_B`/`LIST_F` replies built or waiting to be sent at once,
    /// across all connections (default: the number of CPUs, from
    /// [`std::thread::available_parallelism`], or 4 when unknown; at least
    /// 1, or [`Server::bind`] refuses the config). A listing holds its
    /// place from before it is built until its encoded reply has been
    /// written to the socket; one past the limit waits for a place. A
    /// `LIST_F` costs memory in proportion to the files listed (about
    /// 250 bytes each at its peak, with 40-character names), so this bounds
    /// what clients that ask for large listings and read nothing (or hang
    /// up) make the server hold. The write timeout (`idle_timeout`) bounds
    /// how long one such client keeps its place.
    pub max_concurrent_listings: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 4567)),
            max_connections: 1024,
            idle_timeout: Duration::from_secs(300),
            max_upload_size: None,
            shutdown_grace: Duration::from_secs(10),
            server_name: concat!("bucket-server/", env!("CARGO_PKG_VERSION")).to_owned(),
            max_concurrent_listings: std::thread::available_parallelism()
                .map_or(4, std::num::NonZeroUsize::get),
        }
    }
}

impl Config {
    /// Logs, at `info`, the limits this config serves with, for the
    /// operator: one `settings` line before [`Server::serve`]'s
    /// `listening addr=…` (durations as `300s`, an upload limit in bytes
    /// or `none`).
    fn log_settings(&self) {
        tracing::info!(
            max_connections = self.max_connections,
            idle_timeout = ?self.idle_timeout,
            max_upload_size = %self
                .max_upload_size
                .map_or_else(|| "none".to_owned(), |n| n.to_string()),
            max_concurrent_listings = self.max_concurrent_listings,
            shutdown_grace = ?self.shutdown_grace,
            "settings"
        );
    }

    /// The checks of [`Server::bind`]: an error naming the first setting
    /// that would leave the server unable to serve anyone.
    fn validate(&self) -> io::Result<()> {
        let invalid = |what: &str| Err(io::Error::new(io::ErrorKind::InvalidInput, what));
        if self.max_connections == 0 {
            return invalid("max_connections must be at least 1");
        }
        if self.idle_timeout.is_zero() {
            return invalid("idle_timeout must be above zero");
        }
        if self.max_concurrent_listings == 0 {
            return invalid("max_concurrent_listings must be at least 1");
        }
        Ok(())
    }
}

/// State shared by the accept loop, the connections and the handles.
#[derive(Debug, Default)]
struct Shared {
    shutdown: AtomicBool,
    active: AtomicUsize,
    next_id: AtomicU64,
    /// Streams of the live connections, to close them when the grace period
    /// of a shutdown runs out.
    streams: Mutex<Vec<(u64, TcpStream)>>,
    /// Signalled whenever a connection ends.
    ended: Condvar,
    ended_lock: Mutex<()>,
    /// Set when the shutdown's grace period is over and what is left is
    /// being cut (so that a connection can say why it ended).
    cut: AtomicBool,
    /// The places of [`Config::max_concurrent_listings`].
    listings: listings::ListingSlots,
}

/// A bound BKT/1 server, ready to serve.
#[derive(Debug)]
pub struct Server<S: Store> {
    listener: TcpListener,
    local_addr: SocketAddr,
    config: Arc<Config>,
    store: Arc<S>,
    shared: Arc<Shared>,
}

/// Stops a [`Server`] from another thread. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ServerHandle {
    local_addr: SocketAddr,
    grace: Duration,
    shared: Arc<Shared>,
}

/// A [`Server`] serving on a background thread (see [`Server::spawn`]).
#[derive(Debug)]
pub struct RunningServer {
    handle: ServerHandle,
    thread: Option<JoinHandle<io::Result<()>>>,
}

impl<S: Store> Server<S> {
    /// Binds `config.listen` and prepares to serve `store`.
    ///
    /// # Errors
    /// - [`io::ErrorKind::InvalidInput`] when `config` cannot serve anyone:
    ///   `max_connections` is 0 (every connection would be refused BUSY),
    ///   `idle_timeout` is zero (the socket's read timeout cannot be zero, so
    ///   every connection would fail at its first read) or
    ///   `max_concurrent_listings` is 0 (every listing would wait for ever).
    ///   Checked before binding.
    /// - The socket error when the address cannot be bound (in use, no
    ///   permission).
    pub fn bind(config: Config, store: S) -> io::Result<Server<S>> {
        config.validate()?;
        let listener = TcpListener::bind(config.listen)?;
        let local_addr = listener.local_addr()?;
        Ok(Server {
            listener,
            local_addr,
            config: Arc::new(config),
            store: Arc::new(store),
            shared: Arc::default(),
        })
    }

    /// The address actually bound (the port chosen when `listen` had port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// A handle that stops this server from another thread.
    pub fn shutdown_handle(&self) -> ServerHandle {
        ServerHandle {
            local_addr: self.local_addr,
            grace: self.config.shutdown_grace,
            shared: Arc::clone(&self.shared),
        }
    }

    /// Accepts and serves connections on this thread until
    /// [`ServerHandle::shutdown`] is called; then returns once every
    /// connection has ended (or the grace period has run out).
    ///
    /// # Errors
    /// Only a failure of the listening socket itself; errors on single
    /// connections are logged and end only that connection.
    pub fn serve(self) -> io::Result<()> {
        self.config.log_settings();
        tracing::info!(addr = %self.local_addr, "listening");
        for stream in self.listener.incoming() {
            if self.shared.shutdown.load(Ordering::SeqCst) {
                break;
            }
            let stream = match stream {
                Ok(s) => s,
                Err(e) if is_transient_accept_error(&e) => {
                    tracing::warn!(error = %e, "accept failed");
                    // Out of descriptors or memory: back off instead of spinning.
                    std::thread::sleep(Duration::from_millis(50));
                    continue;
                }
                Err(e) => return Err(e),
            };
            self.accept(stream);
        }
        tracing::info!("stopped accepting");
        let handle = self.shutdown_handle();
        drop(self); // closes the listening socket now
        handle.wait_for_connections(handle.grace);
        Ok(())
    }

    fn accept(&self, stream: TcpStream) {
        let peer = stream
            .peer_addr()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
        let active = self.shared.active.fetch_add(1, Ordering::SeqCst);
        if active >= self.config.max_connections {
            self.shared.active.fetch_sub(1, Ordering::SeqCst);
            tracing::warn!(%peer, limit = self.config.max_connections, "connection refused: busy");
            refuse_busy(stream);
            return;
        }
        let id = self.shared.next_id.fetch_add(1, Ordering::Relaxed);
        if let Ok(clone) = stream.try_clone() {
            lock(&self.shared.streams).push((id, clone));
        }
        let store = Arc::clone(&self.store);
        let config = Arc::clone(&self.config);
        let shared = Arc::clone(&self.shared);
        let spawned = std::thread::Builder::new()
            .name(format!("conn-{id}"))
            .spawn(move || {
                let _guard = ConnectionGuard {
                    id,
                    shared: &shared,
                };
                connection::serve(stream, peer, &*store, &config, &shared);
            });
        if let Err(e) = spawned {
            // The closure (and its guard) was dropped: the count is restored.
            tracing::warn!(%peer, error = %e, "could not start a connection thread");
        }
    }

    /// Serves on a new background thread.
    ///
    /// # Panics
    /// If the operating system cannot start the thread, as
    /// [`std::thread::spawn`] does.
    pub fn spawn(self) -> RunningServer {
        let handle = self.shutdown_handle();
        let thread = std::thread::Builder::new()
            .name("bucket-accept".into())
            .spawn(move || self.serve())
            .expect("spawning the accept thread");
        RunningServer {
            handle,
            thread: Some(thread),
        }
    }
}

impl ServerHandle {
    /// Stops accepting connections, lets requests in flight finish for up to
    /// the grace period ([`Config::shutdown_grace`]), then closes what is
    /// left. Connections waiting between requests close at once, unless
    /// their next request has already reached the socket, unread: that one
    /// is served first (within the grace), not cut off by a reset. Returns
    /// once every connection has ended.
    pub fn shutdown(&self) {
        if self.shared.shutdown.swap(true, Ordering::SeqCst) {
            return self.wait_for_connections(Duration::ZERO);
        }
        // Wake the accept loop, blocked in accept(2).
        let wake = match self.local_addr {
            SocketAddr::V4(a) if a.ip().is_unspecified() => {
                SocketAddr::from(([127, 0, 0, 1], a.port()))
            }
            SocketAddr::V6(a) if a.ip().is_unspecified() => {
                SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, a.port()))
            }
            a => a,
        };
        let _ = TcpStream::connect_timeout(&wake, Duration::from_secs(1));
        self.wait_for_connections(self.grace);
    }

    /// Waits until every connection has ended, cutting those left once
    /// `grace` from now is over. A grace too long to add to the clock
    /// (`Duration::MAX`, `--shutdown-grace` of u64::MAX seconds) never
    /// cuts.
    fn wait_for_connections(&self, grace: Duration) {
        let deadline = Instant::now().checked_add(grace);
        let mut guard = lock(&self.shared.ended_lock);
        loop {
            if self.shared.active.load(Ordering::SeqCst) == 0 {
                return;
            }
            let now = Instant::now();
            if deadline.is_some_and(|deadline| now >= deadline) {
                // Grace is over: cut what is left; their threads end
                // promptly, those waiting to list included.
                self.shared.cut.store(true, Ordering::SeqCst);
                self.shared.listings.cut();
                for (_, s) in lock(&self.shared.streams).iter() {
                    let _ = s.shutdown(Shutdown::Both);
                }
            }
            let wait = deadline
                .map_or(Duration::MAX, |deadline| {
                    deadline.saturating_duration_since(now)
                })
                .max(Duration::from_millis(10))
                .min(Duration::from_millis(100));
            guard = match self.shared.ended.wait_timeout(guard, wait) {
                Ok((g, _)) => g,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
    }

    /// How many connections are being served now.
    pub fn active_connections(&self) -> usize {
        self.shared.active.load(Ordering::SeqCst)
    }

    /// How many `LIST_B`/`LIST_F` replies are being built or waiting to be
    /// written to their socket now: at most
    /// [`Config::max_concurrent_listings`].
    pub fn listings_in_progress(&self) -> usize {
        self.shared.listings.held()
    }

    /// How many connections are waiting for a place to build a listing now
    /// (see [`Config::max_concurrent_listings`]).
    pub fn listings_waiting(&self) -> usize {
        self.shared.listings.waiting()
    }
}

impl RunningServer {
    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.handle.local_addr
    }

    /// A handle that stops this server from another thread.
    pub fn handle(&self) -> ServerHandle {
        self.handle.clone()
    }

    /// Stops the server as [`ServerHandle::shutdown`] does and joins its
    /// accept thread.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        self.handle.shutdown();
        if let Some(t) = self.thread.take() {
            match t.join() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "accept loop failed"),
                Err(_) => tracing::warn!("accept loop panicked"),
            }
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Decrements the connection count and forgets the stream when a
/// connection thread ends, however it ends.
struct ConnectionGuard<'a> {
    id: u64,
    shared: &'a Shared,
}

impl Drop for ConnectionGuard<'_> {
    fn drop(&mut self) {
        lock(&self.shared.streams).retain(|(id, _)| *id != self.id);
        self.shared.active.fetch_sub(1, Ordering::SeqCst);
        let _g = lock(&self.shared.ended_lock);
        self.shared.ended.notify_all();
    }
}

/// Answers a connection over the limit with `500 BCMD BUSY` and closes it,
/// without letting a slow peer stall the accept loop.
fn refuse_busy(mut stream: TcpStream) {
    let mut out = Vec::new();
    let reply = Reply::bad_command(Reason::Busy, "server at its connection limit, try later");
    if encode::reply(&reply, &mut out).is_ok() {
        let _ = stream.set_nonblocking(true);
        let _ = stream.write_all(&out);
    }
    let _ = stream.shutdown(Shutdown::Write);
    // Drop what the peer already sent, so closing does not reset the
    // connection over unread input (which could destroy the reply).
    let mut scratch = [0u8; 4096];
    while matches!(io::Read::read(&mut stream, &mut scratch), Ok(n) if n > 0) {}
}

fn is_transient_accept_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
            | io::ErrorKind::OutOfMemory
    ) || matches!(e.raw_os_error(), Some(23 | 24)) // ENFILE, EMFILE
}

/// Locks a mutex, going on with the data if a thread panicked holding it
/// (the data here stays consistent at every step).
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The examples of README.md, compiled and run as doctests so that the
/// crate's front page stays true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
