//! The one log line per request (docs/operations.md, "Logs"): a download's
//! line is written once its payload has gone, with the bytes that really
//! went out and, when the peer cut it short, why. Its own test binary: it
//! installs the process's tracing subscriber to read the lines back.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{Read, Write};
use std::net::Shutdown;
use std::sync::{Mutex, OnceLock};

use bucket_proto::{BucketName, FileName};
use bucket_store::{Download, FileInfo, FsStore, MemStore, Store, StoreError};
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

/// The lines logged so far that contain every one of `parts`.
fn lines_with(parts: &[&str]) -> Vec<String> {
    let log = String::from_utf8_lossy(&LOG.lock().unwrap()).into_owned();
    log.lines()
        .filter(|l| parts.iter().all(|p| l.contains(p)))
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

/// A store on a read-only filesystem: every operation fails with EROFS.
/// (Its reader and upload types are MemStore's, never made.)
struct ReadOnlyStore;

fn erofs() -> StoreError {
    StoreError::Io(std::io::Error::from_raw_os_error(30))
}

impl Store for ReadOnlyStore {
    type Reader = <MemStore as Store>::Reader;
    type Upload = <MemStore as Store>::Upload;
    fn create_bucket(&self, _: &BucketName<'_>) -> Result<(), StoreError> {
        Err(erofs())
    }
    fn delete_bucket(&self, _: &BucketName<'_>) -> Result<(), StoreError> {
        Err(erofs())
    }
    fn list_buckets(&self) -> Result<Vec<BucketName<'static>>, StoreError> {
        Err(erofs())
    }
    fn list_files(&self, _: &BucketName<'_>) -> Result<Vec<FileInfo>, StoreError> {
        Err(erofs())
    }
    fn start_upload(
        &self,
        _: &BucketName<'_>,
        _: &FileName<'_>,
        _: u64,
    ) -> Result<Self::Upload, StoreError> {
        Err(erofs())
    }
    fn open_file(
        &self,
        _: &BucketName<'_>,
        _: &FileName<'_>,
    ) -> Result<Download<Self::Reader>, StoreError> {
        Err(erofs())
    }
    fn delete_file(&self, _: &BucketName<'_>, _: &FileName<'_>) -> Result<(), StoreError> {
        Err(erofs())
    }
}

/// Every store failure that answers `IO` is a `warn` naming the request and
/// the OS error (docs/operations.md: `RUST_LOG=warn` keeps only failures),
/// not only the request line's `reason="IO"`.
#[test]
fn storage_failures_are_warnings_with_their_cause() {
    capture_logs();
    let server = start(config(), ReadOnlyStore);
    let mut c = Raw::connect(server.local_addr());
    c.send("CREATE_B ro\nDELETE_B ro\nDELETE_F ro f\nLIST_B\nLIST_F ro\nLIST_F\n");
    c.send("DOWNLOAD ro f\nUPLOAD ro up 3\nabcHELLO\n");
    for code in ["301 BCF IO", "601 DBF IO", "1001 DFF IO", "401 LSF IO"] {
        c.expect_prefix(code);
    }
    c.expect_prefix("801 LFF IO");
    c.expect_prefix("801 LFF IO");
    c.expect_prefix("901 FDBF IO");
    c.expect_prefix("701 FUBF IO");
    c.expect_prefix("100 OK");
    let peer = format!("peer={}", c.writer.local_addr().unwrap());
    for (verb, count) in [
        ("CREATE_B", 1),
        ("DELETE_B", 1),
        ("DELETE_F", 1),
        ("LIST_B", 1),
        ("LIST_F", 2),
        ("DOWNLOAD", 1),
        ("UPLOAD", 1),
    ] {
        let warnings = lines_with(&[" WARN ", &peer, &format!("verb={verb} ")]);
        assert_eq!(warnings.len(), count, "{verb}: {warnings:?}");
        for w in &warnings {
            assert!(w.contains("Read-only file system"), "{w}");
        }
    }
    let named = lines_with(&[" WARN ", &peer, "verb=DELETE_F "]);
    assert!(
        named[0].contains("bucket=\"ro\" name=\"f\""),
        "{}",
        named[0]
    );
}

/// An upload whose bucket was deleted while its payload arrived fails its
/// commit `NO_SUCH_BUCKET`: a client's race, logged as `info`, not as a
/// storage failure (`warn`).
#[test]
fn an_upload_into_a_bucket_deleted_meanwhile_is_no_warning() {
    capture_logs();
    let root = tempfile::tempdir().unwrap();
    let server = start_fs(root.path());
    let mut c = Raw::connect(server.local_addr());
    c.send("CREATE_B gone\nUPLOAD gone late 6\nabc");
    c.expect("300 BCS");
    wait_until("the upload is staged", || staged_count(root.path()) == 1);
    let mut d = Raw::connect(server.local_addr());
    d.send("DELETE_B gone\n");
    d.expect("600 DBS");
    c.send("def");
    c.expect_prefix("701 FUBF NO_SUCH_BUCKET");
    let peer = format!("peer={}", c.writer.local_addr().unwrap());
    let commit = lines_with(&["upload commit failed", &peer]);
    assert_eq!(commit.len(), 1, "{commit:?}");
    assert!(commit[0].contains(" INFO "), "{}", commit[0]);
    assert!(commit[0].contains("name=\"late\""), "{}", commit[0]);
}

/// The request line logged for the one `UPLOAD` from the client socket
/// `c`, once it has been written (`what` names it if it never is).
fn upload_line(c: &Raw, what: &str) -> String {
    let peer = format!("peer={}", c.writer.local_addr().unwrap());
    let lines = || lines_with(&[&peer, "verb=UPLOAD"]);
    wait_until(what, || lines().len() == 1);
    lines().remove(0)
}

/// An upload cut off mid-payload has its request line, as a cut download
/// does: the names, the bytes that came and what cut it. Before, only
/// "upload aborted: peer closed mid-payload" with the peer.
#[test]
fn an_upload_the_peer_cuts_short_is_logged_with_its_bytes() {
    capture_logs();
    let server = start(config(), MemStore::new());
    let mut c = Raw::connect(server.local_addr());
    c.send("CREATE_B b\nUPLOAD b half 10000\n");
    c.send(vec![b'x'; 5000]);
    c.expect("300 BCS");
    c.writer.shutdown(Shutdown::Write).unwrap();
    assert!(c.closed());
    let line = &upload_line(&c, "the upload's line");
    assert!(line.contains("name=\"half\""), "{line}");
    assert_eq!(bytes_field(line), 5000, "{line}");
    assert!(line.contains("cut=peer closed mid-payload"), "{line}");
}

/// An upload the store refuses at its start is answered after its payload
/// (docs/protocol.md, decision 18), and logged then, with the bytes that
/// were dropped; if the peer leaves first, its line says it was cut. Before,
/// it was logged at once, with 0 bytes, as if answered.
#[test]
fn a_refused_upload_is_logged_when_its_reply_goes_out() {
    capture_logs();
    let server = start(config(), MemStore::new());
    let mut c = Raw::connect(server.local_addr());
    c.send("UPLOAD nobucket whole 10000\n");
    c.send(vec![b'x'; 5000]);
    c.send(vec![b'x'; 5000]);
    c.send("HELLO\n");
    c.expect_prefix("701 FUBF NO_SUCH_BUCKET");
    c.expect_prefix("100 OK");
    let line = &upload_line(&c, "the refused upload's line");
    assert!(line.contains("code=701"), "{line}");
    assert_eq!(bytes_field(line), 10000, "{line}");
    assert!(!line.contains("cut="), "{line}");

    let mut d = Raw::connect(server.local_addr());
    d.send("UPLOAD nobucket part 10000\n");
    d.send(vec![b'x'; 5000]);
    d.writer.shutdown(Shutdown::Write).unwrap();
    assert!(d.closed());
    let line = &upload_line(&d, "the cut refused upload's line");
    assert_eq!(bytes_field(line), 5000, "{line}");
    assert!(line.contains("cut=peer closed mid-payload"), "{line}");
}

/// An upload the shutdown's grace period cuts says so, not "peer closed".
#[test]
fn an_upload_cut_by_the_shutdown_says_so() {
    capture_logs();
    let root = tempfile::tempdir().unwrap();
    let config = bucket_server::Config {
        shutdown_grace: std::time::Duration::from_millis(100),
        ..config()
    };
    let server = start(config, FsStore::open(root.path()).unwrap());
    let mut c = Raw::connect(server.local_addr());
    c.send("CREATE_B b\nUPLOAD b slow 1000\n0123456789");
    c.expect("300 BCS");
    wait_until("the upload is staged", || staged_count(root.path()) == 1);
    server.handle().shutdown();
    let line = &upload_line(&c, "the upload's line");
    assert!(line.contains("name=\"slow\""), "{line}");
    assert!(line.contains("cut=cut by shutdown"), "{line}");
}

/// The `ms=` figure of a log line.
fn ms_field(line: &str) -> f64 {
    let rest = line.split(" ms=").nth(1).unwrap();
    rest.split(' ').next().unwrap().parse().unwrap()
}

/// A download whose client stops reading is cut once the idle timeout
/// has passed with no byte taken, not up to twice that: the socket's write
/// timeout used to be the whole idle timeout, so a write that moved a
/// little and then waited returned after one timeout, and the next write
/// waited a second (audit: 4.04 s for `--idle-timeout 2`).
fn a_stalled_download_is_cut_after_one_idle_timeout(store: impl Store, name: &str) {
    capture_logs();
    let idle = std::time::Duration::from_secs(2);
    // Twice what the sockets can hold, so that the server is left writing.
    let size = 2 * loopback_buffering();
    let bucket = BucketName::new("b").unwrap();
    let _ = store.create_bucket(&bucket);
    let mut upload = store
        .start_upload(&bucket, &FileName::new(name).unwrap(), size as u64)
        .unwrap();
    upload.write_all(&vec![b'x'; size]).unwrap();
    bucket_store::Upload::commit(upload).unwrap();
    let config = bucket_server::Config {
        idle_timeout: idle,
        ..config()
    };
    let server = start(config, store);
    let mut c = Raw::connect(server.local_addr());
    // And reads nothing: reading would let the kernel grow the receive
    // window, which takes more bytes for a while after the reads stop.
    c.send(format!("DOWNLOAD b {name}\n"));
    wait_until("the cut download's line", || {
        download_lines(name).len() == 1
    });
    let line = &download_lines(name)[0];
    assert!(line.contains("cut="), "{line}");
    assert!(bytes_field(line) < size as u64, "{line}");
    let ms = ms_field(line);
    let idle_ms = idle.as_secs_f64() * 1e3;
    assert!(ms >= 0.95 * idle_ms, "cut before the idle timeout: {line}");
    assert!(ms < 1.6 * idle_ms, "cut too late: {line}");
}

#[test]
fn a_stalled_download_from_a_file_is_cut_after_one_idle_timeout() {
    let root = tempfile::tempdir().unwrap();
    a_stalled_download_is_cut_after_one_idle_timeout(
        FsStore::open(root.path()).unwrap(),
        "stalled-on-disk",
    );
}

#[test]
fn a_stalled_download_from_memory_is_cut_after_one_idle_timeout() {
    a_stalled_download_is_cut_after_one_idle_timeout(MemStore::new(), "stalled-in-memory");
}

/// `Server::serve` logs the limits it serves with before `listening
/// addr=…`, so that an operator (or an embedding program's log) shows
/// what is in force without reading the command line.
#[test]
fn serving_starts_with_a_line_of_the_effective_limits() {
    capture_logs();
    let limited = bucket_server::Config {
        max_connections: 77,
        idle_timeout: std::time::Duration::from_secs(42),
        max_upload_size: Some(123_456),
        max_concurrent_listings: 3,
        shutdown_grace: std::time::Duration::from_secs(7),
        ..config()
    };
    let server = start(limited, MemStore::new());
    let parts = [
        " INFO ",
        "settings",
        "max_connections=77 ",
        "idle_timeout=42s ",
        "max_upload_size=123456 ",
        "max_concurrent_listings=3 ",
        "shutdown_grace=7s",
    ];
    wait_until("the settings line", || lines_with(&parts).len() == 1);
    let no_limit = bucket_server::Config {
        max_connections: 78,
        ..config()
    };
    let other = start(no_limit, MemStore::new());
    wait_until("the settings line without an upload limit", || {
        lines_with(&["settings", "max_connections=78 ", "max_upload_size=none "]).len() == 1
    });
    server.shutdown();
    other.shutdown();
}

/// A request the session refuses is logged with its verb, bucket and name
/// as far as the line gives them, as the other request lines are: a bad
/// name, an upload over the limit, an `UPLOAD` with a bad size (whose
/// line said `verb="-"`). Before, "request refused" named neither.
#[test]
fn a_refused_request_is_logged_with_its_verb_and_names() {
    capture_logs();
    let limited = bucket_server::Config {
        max_upload_size: Some(100),
        ..config()
    };
    let server = start(limited, MemStore::new());
    let refused = |line: &str| {
        let mut c = Raw::connect(server.local_addr());
        c.send(line);
        c.line().unwrap();
        let peer = format!("peer={}", c.writer.local_addr().unwrap());
        wait_until("the refused line", || {
            lines_with(&[&peer, "request refused"]).len() == 1
        });
        lines_with(&[&peer, "request refused"]).remove(0)
    };
    let bad_name = refused("DELETE_F photos ../cat.png\n");
    assert!(
        bad_name.contains("verb=\"DELETE_F\" bucket=\"photos\" name=\"../cat.png\""),
        "{bad_name}"
    );
    let too_large = refused("UPLOAD photos big 101\n");
    assert!(
        too_large.contains("verb=\"UPLOAD\" bucket=\"photos\" name=\"big\" code=701"),
        "{too_large}"
    );
    let bad_size = refused("UPLOAD photos odd -5\n");
    assert!(
        bad_size.contains("verb=\"UPLOAD\" bucket=\"photos\" name=\"odd\" code=500"),
        "{bad_size}"
    );
    let unknown = refused("NOPE photos\n");
    assert!(
        unknown.contains("verb=\"-\" bucket=\"-\" name=\"-\""),
        "{unknown}"
    );
    server.shutdown();
}
