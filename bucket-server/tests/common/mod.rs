//! Test helpers: a server on 127.0.0.1 port 0 and a raw line-level peer.
#![allow(dead_code, clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use bucket_server::{Config, RunningServer, Server};
use bucket_store::{FsStore, Store};

/// Polls `done` every 10 ms until it holds; panics with `what` after 10 s.
#[track_caller]
pub fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "{what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The most bytes loopback sockets may hold in flight between one writer
/// and one reader that reads nothing: the largest send buffer plus the
/// largest receive buffer Linux may give them (`tcp_wmem`, `tcp_rmem`), or
/// 16 MiB where they cannot be read.
pub fn loopback_buffering() -> usize {
    let max = |sysctl: &str| {
        std::fs::read_to_string(format!("/proc/sys/net/ipv4/{sysctl}"))
            .ok()
            .and_then(|v| v.split_whitespace().nth(2)?.parse::<usize>().ok())
    };
    match (max("tcp_wmem"), max("tcp_rmem")) {
        (Some(w), Some(r)) => w + r,
        _ => 16 << 20,
    }
}

/// How many files an `FsStore` rooted at `root` has staged: its uploads in
/// progress (or cut off).
pub fn staged_count(root: &Path) -> usize {
    std::fs::read_dir(root.join(FsStore::STAGING_DIR))
        .unwrap()
        .count()
}

/// A config listening on a free loopback port.
pub fn config() -> Config {
    Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        shutdown_grace: Duration::from_secs(5),
        ..Config::default()
    }
}

/// Starts a server over `store` with `config`.
pub fn start<S: Store>(config: Config, store: S) -> RunningServer {
    Server::bind(config, store).unwrap().spawn()
}

/// Starts a server over a filesystem store at `root`.
pub fn start_fs(root: &Path) -> RunningServer {
    start(config(), FsStore::open(root).unwrap())
}

/// A peer that speaks BKT/1 by hand over a raw socket.
pub struct Raw {
    pub reader: BufReader<TcpStream>,
    pub writer: TcpStream,
}

impl Raw {
    pub fn connect(addr: SocketAddr) -> Raw {
        let s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        Raw {
            reader: BufReader::new(s.try_clone().unwrap()),
            writer: s,
        }
    }

    pub fn send(&mut self, bytes: impl AsRef<[u8]>) {
        self.writer.write_all(bytes.as_ref()).unwrap();
    }

    /// The next line, without its LF; `None` at end of stream.
    pub fn line(&mut self) -> Option<String> {
        let mut line = String::new();
        match self.reader.read_line(&mut line) {
            Ok(0) => None,
            Ok(_) => Some(line.trim_end_matches('\n').to_owned()),
            Err(e) => panic!("reading a reply line: {e}"),
        }
    }

    /// Asserts the next line is `expected`.
    #[track_caller]
    pub fn expect(&mut self, expected: &str) {
        assert_eq!(self.line().as_deref(), Some(expected));
    }

    /// Asserts the next line starts with `prefix`, returning it.
    #[track_caller]
    pub fn expect_prefix(&mut self, prefix: &str) -> String {
        let line = self.line().unwrap_or_default();
        assert!(
            line.starts_with(prefix),
            "{line:?} should start with {prefix:?}"
        );
        line
    }

    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        let mut buf = vec![0; n];
        self.reader.read_exact(&mut buf).unwrap();
        buf
    }

    /// Whether the server closed the connection (EOF or reset) within the
    /// read timeout.
    pub fn closed(&mut self) -> bool {
        let mut buf = [0u8; 1];
        matches!(self.reader.read(&mut buf), Ok(0) | Err(_))
    }
}

/// Every path under `root`, relative, sorted (to compare trees).
pub fn tree(root: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            let p = e.path();
            out.push(p.strip_prefix(root).unwrap().display().to_string());
            if e.file_type().unwrap().is_dir() {
                walk(root, &p, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out.sort();
    out
}
