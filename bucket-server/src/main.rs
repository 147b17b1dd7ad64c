//! `bucket-server`: serves BKT/1 from a folder of buckets.

use std::io::IsTerminal;
use std::net::{SocketAddr, ToSocketAddrs};
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use bucket_server::{Config, Server};
use bucket_store::FsStore;
use clap::Parser;
use tracing_subscriber::EnvFilter;

/// BKT/1 server: keeps buckets of files under a folder and serves them over
/// TCP. Logs go to stderr; set RUST_LOG (e.g. RUST_LOG=debug) for more.
/// An option given twice takes its last value.
#[derive(Debug, Parser)]
#[command(version, args_override_self = true)]
struct Args {
    /// Folder that holds the buckets (created if missing).
    #[arg(long, default_value = "./buckets")]
    root: PathBuf,
    /// Address to listen on, IP:PORT or HOST:PORT (a host name is resolved
    /// and its first address taken; port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:4567", value_parser = listen_address)]
    listen: SocketAddr,
    /// Most connections served at once (at least 1); more are answered
    /// 500 BCMD BUSY.
    #[arg(long, default_value_t = NonZeroUsize::new(1024).unwrap())]
    max_connections: NonZeroUsize,
    /// Seconds a connection may stay silent (or take over a request line)
    /// before it is closed; at least 1.
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..))]
    idle_timeout: u64,
    /// Largest upload accepted: bytes, or a size with a unit (64MiB, 10GiB,
    /// 5GB; KiB/MiB/GiB/TiB are powers of 1024, KB/MB/GB/TB of 1000)
    /// (default: no limit).
    #[arg(long, value_parser = byte_size)]
    max_upload_size: Option<u64>,
    /// Seconds transfers in flight get to finish after Ctrl-C / SIGTERM / SIGHUP.
    #[arg(long, default_value_t = 10)]
    shutdown_grace: u64,
    /// Stage large uploads (1 MiB and more) with buffered writes instead of
    /// direct I/O (O_DIRECT, the default on Linux). Buffered staging leaves
    /// new files in the page cache; direct staging writes them to disk as
    /// they arrive, so the commit's fsync is short (docs/operations.md).
    #[arg(long)]
    no_direct_io: bool,
    /// Most uploads staged with direct I/O at once (each holds 12 MiB and a
    /// writer thread while it runs); further large uploads are staged with
    /// buffered writes. 0 is the same as --no-direct-io.
    #[arg(long, default_value_t = 8)]
    max_direct_uploads: usize,
    /// Most LIST_B / LIST_F replies built or waiting to be sent at once,
    /// across all connections (at least 1; default: the number of CPUs).
    /// A LIST_F costs up to about 250 bytes of memory per file listed
    /// until its reply is written; further listings wait their turn.
    #[arg(long)]
    max_concurrent_listings: Option<NonZeroUsize>,
}

/// `--listen`'s value: an IP address and port, or a host name and port
/// resolved to its first address.
fn listen_address(text: &str) -> Result<SocketAddr, String> {
    if let Ok(addr) = text.parse() {
        return Ok(addr);
    }
    let mut resolved = text
        .to_socket_addrs()
        .map_err(|e| format!("not IP:PORT or HOST:PORT ({e})"))?;
    resolved
        .next()
        .ok_or_else(|| format!("{text} resolves to no address"))
}

/// `--max-upload-size`: a byte count, plain (`1048576`) or with a unit
/// (`1MiB`, `10 GB`), as the parse-size crate reads it by default.
fn byte_size(text: &str) -> Result<u64, String> {
    parse_size::parse_size(text)
        .map_err(|e| format!("{e}: give bytes, or a size such as 64MiB, 10GiB or 5GB"))
}

fn main() -> ExitCode {
    // Log lines go to stderr from a thread of their own, through a bounded
    // queue that drops lines when full: a stderr nobody reads (a paused
    // `| less`, a stalled log shipper) must not block the connections that
    // log, nor the signal thread (tests/lifecycle.rs). The guard flushes
    // what is queued when `main` returns (waiting 1 s at most).
    let (stderr, _log_guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(true)
        .thread_name("log")
        .finish(std::io::stderr());
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(stderr)
        .with_ansi(std::io::stderr().is_terminal())
        // A log line stderr cannot take is dropped. Reporting it would use
        // eprintln!, which panics on a broken stderr: each thread that
        // logged after a `| tee` died would die too, signal handler
        // included (tests/lifecycle.rs).
        .log_internal_errors(false)
        .init();
    let args = Args::parse();
    let store = match FsStore::open(&args.root) {
        Ok(s) => s
            .with_direct_io(!args.no_direct_io)
            .with_max_direct_uploads(args.max_direct_uploads),
        Err(e) => {
            tracing::error!(root = %args.root.display(), error = %e, "cannot open the store");
            return ExitCode::FAILURE;
        }
    };
    let (direct_io, max_direct_uploads) = (store.direct_io(), store.max_direct_uploads());
    let defaults = Config::default();
    let config = Config {
        listen: args.listen,
        max_connections: args.max_connections.get(),
        idle_timeout: Duration::from_secs(args.idle_timeout),
        max_upload_size: args.max_upload_size,
        shutdown_grace: Duration::from_secs(args.shutdown_grace),
        max_concurrent_listings: args
            .max_concurrent_listings
            .map_or(defaults.max_concurrent_listings, NonZeroUsize::get),
        ..defaults
    };
    let server = match Server::bind(config, store) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(listen = %args.listen, error = %e, "cannot listen");
            return ExitCode::FAILURE;
        }
    };
    // The store's settings; the server's own follow in its `settings`
    // line, before `listening addr=…`.
    tracing::info!(
        root = %args.root.display(),
        direct_io = direct_io && max_direct_uploads > 0,
        max_direct_uploads,
        "serving buckets"
    );
    #[cfg(target_os = "linux")]
    raise_open_files_limit(args.max_connections.get());
    shut_down_on_signals(server.shutdown_handle());
    match server.serve() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "server failed");
            ExitCode::FAILURE
        }
    }
}

/// Descriptors a connection may hold at once: its socket, the clone kept to
/// cut it at shutdown, and a file being sent or a staged upload (with the
/// bucket folder opened to fsync it, and for a direct-I/O upload the writer
/// thread's own handle on the staged file).
const FDS_PER_CONNECTION: u64 = 5;

/// Raises the soft limit on open files to the hard limit, as nginx's
/// `worker_rlimit_nofile` and Go programs do at start. The usual default
/// soft limit (1024) would stop the server far below `--max-connections`:
/// `accept` fails with `EMFILE` and further clients wait unanswered. Warns
/// when even the hard limit is below what `max_connections` may need.
#[cfg(target_os = "linux")]
fn raise_open_files_limit(max_connections: usize) {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    let mut soft = limit.current;
    if let (Some(current), Some(maximum)) = (limit.current, limit.maximum)
        && current < maximum
    {
        let raised = Rlimit {
            current: Some(maximum),
            maximum: Some(maximum),
        };
        match setrlimit(Resource::Nofile, raised) {
            Ok(()) => {
                tracing::info!(from = current, to = maximum, "raised the open-files limit");
                soft = Some(maximum);
            }
            Err(error) => tracing::warn!(%error, "cannot raise the open-files limit"),
        }
    }
    let needed = (max_connections as u64)
        .saturating_mul(FDS_PER_CONNECTION)
        .saturating_add(64);
    if let Some(soft) = soft
        && soft < needed
    {
        tracing::warn!(
            limit = soft,
            needed,
            max_connections,
            "the open-files limit is below what --max-connections may need; \
             raise it (ulimit -n, LimitNOFILE=) or lower --max-connections"
        );
    }
}

/// Shuts the server down gracefully on SIGINT (Ctrl-C), SIGTERM or SIGHUP:
/// no new connections, transfers in flight get `--shutdown-grace`. A second
/// signal cuts what is left at once. A signal the program was started with
/// ignored stays ignored: `nohup bucket-server &` outlives its terminal.
#[cfg(unix)]
fn shut_down_on_signals(handle: bucket_server::ServerHandle) {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let ignored = ignored_at_start();
    let caught: Vec<i32> = [SIGINT, SIGTERM, SIGHUP]
        .into_iter()
        .filter(|&signal| ignored & (1 << (signal - 1)) == 0)
        .collect();
    match signal_hook::iterator::Signals::new(&caught) {
        Ok(mut signals) => {
            std::thread::spawn(move || {
                for signal in signals.forever() {
                    // `shutdown` waits out the grace period: on its own
                    // thread, so that a second signal is seen meanwhile
                    // (and cuts what is left). Started before the log
                    // line, so that logging can never hold it up.
                    let handle = handle.clone();
                    std::thread::spawn(move || handle.shutdown());
                    tracing::info!(
                        signal,
                        "shutting down: no new connections, finishing transfers in flight"
                    );
                }
            });
        }
        Err(error) => tracing::warn!(%error, "cannot catch SIGINT / SIGTERM / SIGHUP"),
    }
}

/// Elsewhere, Ctrl-C ends the program at once.
#[cfg(not(unix))]
fn shut_down_on_signals(_handle: bucket_server::ServerHandle) {}

/// The signals this process ignores, as a mask (bit `n - 1` for signal
/// `n`), from `SigIgn` in `/proc/self/status`; none where that cannot be
/// read.
#[cfg(unix)]
fn ignored_at_start() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let mask = status.lines().find_map(|l| l.strip_prefix("SigIgn:"))?;
            u64::from_str_radix(mask.trim(), 16).ok()
        })
        .unwrap_or(0)
}
