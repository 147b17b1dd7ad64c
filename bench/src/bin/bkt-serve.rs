//! `bkt-serve`: a BKT/1 server over an in-memory or a filesystem store, for
//! `bench/compare.sh`.
//!
//! ```text
//! bkt-serve --listen 127.0.0.1:0 --mem         # MemStore: no disk, no fsync
//! bkt-serve --listen 127.0.0.1:0 --root DIR    # FsStore, as bucket-server runs
//! ```
//!
//! It runs [`bucket_server::Server`] with the default [`Config`] but for the
//! address, and prints `listening on ADDR` on stdout once bound (useful with
//! port 0). Unlike `bucket-server` it logs nothing below `warn` unless
//! `RUST_LOG` says so, and it has no graceful shutdown: SIGTERM ends it.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use bucket_server::{Config, Server};
use bucket_store::{FsStore, MemStore, Store};
use clap::{ArgGroup, Parser};
use tracing_subscriber::EnvFilter;

/// A BKT/1 server over MemStore (--mem) or FsStore (--root DIR).
#[derive(Debug, Parser)]
#[command(version, group(ArgGroup::new("store").required(true).args(["mem", "root"])))]
struct Args {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Keep files in memory (MemStore).
    #[arg(long)]
    mem: bool,
    /// Keep files under this folder (FsStore: staged, fsynced, renamed).
    #[arg(long)]
    root: Option<PathBuf>,
    /// FsStore: stage large uploads with buffered writes instead of
    /// O_DIRECT (`FsStore::with_direct_io(false)`).
    #[arg(long)]
    no_direct_io: bool,
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let config = Config {
        listen: args.listen,
        ..Config::default()
    };
    let result = match &args.root {
        Some(root) if !args.mem => match FsStore::open(root) {
            Ok(store) => serve(config, store.with_direct_io(!args.no_direct_io)),
            Err(e) => Err(format!("cannot open the store at {}: {e}", root.display())),
        },
        _ => serve(config, MemStore::new()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bkt-serve: {e}");
            ExitCode::FAILURE
        }
    }
}

fn serve<S: Store>(config: Config, store: S) -> Result<(), String> {
    let listen = config.listen;
    let server =
        Server::bind(config, store).map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    let mut stdout = std::io::stdout();
    let _ = writeln!(stdout, "listening on {}", server.local_addr());
    let _ = stdout.flush();
    server.serve().map_err(|e| format!("server failed: {e}"))
}
