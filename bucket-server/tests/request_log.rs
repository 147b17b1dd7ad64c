//! The one log line per request (docs/operations.md, "Logs"): a download's
//! line is written once its payload has gone, with the bytes that really
//! went out and, when the peer cut it short, why. Its own test binary: it
//! installs the process's tracing subscriber to read the lines back.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{Read, Write};
use std::net::Shutdown;
use std::sync::{Mutex, OnceLock};

use bucket_store::{FsStore, MemStore, Store};
use common::*;

/// Everything logged in this process.
static LOG: Mutex<Vec<u8>> = Mutex::new(Vec::new());

struct LogWriter;

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        LOG.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn capture_logs() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::INFO)
            .with_ansi(false)
            .with_writer(|| LogWriter)
            .init();
    });
}

/// The request lines logged for `DOWNLOAD`s of file `name`.
fn download_lines(name: &str) -> Vec<String> {
    let log = String::from_utf8_lossy(&LOG.lock().unwrap()).into_owned();
    log.lines()
        .filter(|l| l.contains("verb=DOWNLOAD") && l.contains(&format!("name=\"{name}\"")))
        .map(str::to_owned)
        .collect()
}

/// The `bytes=` figure of a log line.
fn bytes_field(line: &str) -> u64 {
    let rest = line.split(" bytes=").nth(1).unwrap();
    rest.split(' ').next().unwrap().parse().unwrap()
}

const SIZE: usize = 32 << 20;

/// Uploads a `SIZE`-byte file `name` into bucket `b` of `server`'s store.
fn put(server: &bucket_server::RunningServer, name: &str) {
    let mut c = Raw::connect(server.local_addr());
    c.send(format!("CREATE_B b\nUPLOAD b {name} {SIZE}\n"));
    c.send(vec![b'x'; SIZE]);
    c.expect_prefix("30"); // 300 BCS, or 301 BCF EXISTS
    c.expect("700 FUBS");
}

/// Downloads `name` whole, and then takes 1 MiB of it and hangs up.
fn whole_then_cut(store: impl Store, name: &str) {
    capture_logs();
    let server = start(config(), store);
    put(&server, name);
    let mut c = Raw::connect(server.local_addr());
    c.send(format!("DOWNLOAD b {name}\n"));
    c.expect(&format!("900 FDBS {SIZE}"));
    assert_eq!(c.bytes(SIZE).len(), SIZE);
    wait_until("the whole download's line", || {
        download_lines(name).len() == 1
    });
    let whole = &download_lines(name)[0];
    assert_eq!(bytes_field(whole), SIZE as u64, "{whole}");
    assert!(!whole.contains("cut="), "{whole}");

    let mut c = Raw::connect(server.local_addr());
    c.send(format!("DOWNLOAD b {name}\n"));
    c.expect(&format!("900 FDBS {SIZE}"));
    let mut first = vec![0; 1 << 20];
    c.reader.read_exact(&mut first).unwrap();
    // Close with bytes unread: the kernel resets the connection.
    c.writer.shutdown(Shutdown::Both).unwrap();
    drop(c);
    wait_until("the cut download's line", || {
        download_lines(name).len() == 2
    });
    let cut = &download_lines(name)[1];
    let sent = bytes_field(cut);
    assert!(
        sent < SIZE as u64,
        "logged {sent} bytes of {SIZE} sent: {cut}"
    );
    assert!(sent >= 1 << 20, "{cut}");
    assert!(cut.contains("cut="), "{cut}");
}

#[test]
fn a_download_from_a_file_is_logged_once_sent_and_a_cut_one_as_cut() {
    let root = tempfile::tempdir().unwrap();
    whole_then_cut(FsStore::open(root.path()).unwrap(), "on-disk");
}

#[test]
fn a_download_from_memory_is_logged_once_sent_and_a_cut_one_as_cut() {
    whole_then_cut(MemStore::new(), "in-memory");
}
