//! End to end: the library and the `bucket-client` binary against the real
//! `bucket-server` (on 127.0.0.1, port 0, over an `FsStore` in a temporary
//! folder).
#![allow(clippy::unwrap_used)]

use std::fs::File;
use std::io::{self, Seek, SeekFrom, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::thread;
use std::time::Duration;

use assert_cmd::Command;
use bucket_client::{
    BUFFER_SIZE, BucketName, Client, Error, FileName, Progress, Reason, ReplyCode, Verb,
};
use bucket_server::{Config, RunningServer, Server};
use bucket_store::FsStore;
use tempfile::TempDir;

/// Every network call and every command run is bounded by this.
const LIMIT: Duration = Duration::from_secs(60);

struct TestServer {
    running: Option<RunningServer>,
    addr: SocketAddr,
    root: TempDir,
}

impl TestServer {
    fn start() -> TestServer {
        TestServer::with_config(Config::default())
    }

    fn with_config(config: Config) -> TestServer {
        let root = tempfile::tempdir().unwrap();
        let store = FsStore::open(root.path()).unwrap();
        let config = Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            shutdown_grace: Duration::from_secs(1),
            ..config
        };
        let running = Server::bind(config, store).unwrap().spawn();
        let addr = running.local_addr();
        TestServer {
            running: Some(running),
            addr,
            root,
        }
    }

    fn client(&self) -> Client {
        Client::connect_timeout(self.addr, LIMIT).unwrap()
    }

    /// The binary, pointed at this server.
    fn cli(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_bucket-client"));
        cmd.arg("-s")
            .arg(self.addr.ip().to_string())
            .arg("-p")
            .arg(self.addr.port().to_string())
            .env_remove("RUST_LOG")
            .timeout(LIMIT);
        cmd
    }

    /// The binary, pointed at this server, as a std `Command` (for stdin
    /// and stdout of the test's choosing). No time limit: for runs that end
    /// at once.
    fn std_cli(&self) -> std::process::Command {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_bucket-client"));
        cmd.args(["-s", &self.addr.to_string()])
            .env_remove("RUST_LOG");
        cmd
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(running) = self.running.take() {
            running.shutdown();
        }
    }
}

fn b(name: &str) -> BucketName<'static> {
    BucketName::new(name.to_owned()).unwrap()
}

fn f(name: &str) -> FileName<'static> {
    FileName::new(name.to_owned()).unwrap()
}

/// Deterministic pseudo-random bytes (xorshift64).
struct Noise(u64);

impl Noise {
    fn fill(&mut self, out: &mut [u8]) {
        for chunk in out.chunks_mut(8) {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            chunk.copy_from_slice(&self.0.to_le_bytes()[..chunk.len()]);
        }
    }

    fn bytes(seed: u64, len: usize) -> Vec<u8> {
        let mut out = vec![0; len];
        Noise(seed | 1).fill(&mut out);
        out
    }
}

/// A reader of `len` pseudo-random bytes, generated as read.
struct NoiseReader {
    noise: Noise,
    left: u64,
}

impl io::Read for NoiseReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // Whole 8-byte steps keep the stream identical however it is read.
        let n = (buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX))
            / 8)
            * 8;
        let n = if n == 0 {
            buf.len().min(self.left as usize)
        } else {
            n
        };
        self.noise.fill(&mut buf[..n]);
        self.left -= n as u64;
        Ok(n)
    }
}

/// A writer that checks what it is given against the same pseudo-random
/// stream, without holding it.
struct NoiseChecker {
    noise: Noise,
    pending: Vec<u8>,
    seen: u64,
}

impl Write for NoiseChecker {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.pending.extend_from_slice(data);
        let whole = self.pending.len() / 8 * 8;
        let mut expected = vec![0; whole];
        self.noise.fill(&mut expected);
        assert!(
            self.pending[..whole] == expected[..],
            "download differs near byte {}",
            self.seen
        );
        self.seen += whole as u64;
        self.pending.drain(..whole);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl NoiseChecker {
    fn finish(mut self) -> u64 {
        let mut expected = vec![0; self.pending.len()];
        self.noise.fill(&mut expected);
        assert_eq!(self.pending, expected, "download's tail differs");
        self.seen + self.pending.len() as u64
    }
}

fn refused(error: &Error) -> (ReplyCode, Reason) {
    match error {
        Error::Refused { code, reason, .. } => (*code, *reason),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn library_lifecycle() {
    let server = TestServer::start();
    let mut c = server.client();
    assert!(c.hello().unwrap().starts_with("bucket-server"));
    assert!(!c.help(None).unwrap().is_empty());
    assert!(!c.help(Some(Verb::Download)).unwrap().is_empty());
    assert_eq!(c.codes().unwrap().len(), ReplyCode::ALL.len());

    assert!(c.list_buckets().unwrap().is_empty());
    c.create_bucket(&b("photos")).unwrap();
    let e = c.create_bucket(&b("photos")).unwrap_err();
    assert_eq!(
        refused(&e),
        (ReplyCode::BucketCreationFailed, Reason::Exists)
    );
    assert_eq!(c.list_buckets().unwrap(), [b("photos")]);

    c.upload(&b("photos"), &f("cat 1.png"), &b"hello"[..], 5)
        .unwrap();
    c.upload(&b("photos"), &f("empty"), io::empty(), 0).unwrap();
    // Replacing a file.
    c.upload(&b("photos"), &f("cat 1.png"), &b"meow!!"[..], 6)
        .unwrap();
    let e = c
        .upload(&b("nope"), &f("x"), &[1u8; 10_000][..], 10_000)
        .unwrap_err();
    assert_eq!(
        refused(&e),
        (ReplyCode::FileUploadFailed, Reason::NoSuchBucket)
    );
    assert!(e.to_string().starts_with("701 FUBF NO_SUCH_BUCKET"), "{e}");

    let mut files: Vec<(String, String, u64)> = c
        .list_files(None)
        .unwrap()
        .into_iter()
        .map(|e| (e.bucket.to_string(), e.name.to_string(), e.size))
        .collect();
    files.sort();
    assert_eq!(
        files,
        [
            ("photos".to_owned(), "cat 1.png".to_owned(), 6),
            ("photos".to_owned(), "empty".to_owned(), 0)
        ]
    );
    assert_eq!(c.list_files(Some(&b("photos"))).unwrap().len(), 2);
    let e = c.list_files(Some(&b("nope"))).unwrap_err();
    assert_eq!(e.code(), Some(ReplyCode::FileListFailed));

    let mut got = Vec::new();
    assert_eq!(
        c.download(&b("photos"), &f("cat 1.png"), &mut got).unwrap(),
        6
    );
    assert_eq!(got, b"meow!!");
    got.clear();
    let e = c.download(&b("photos"), &f("nope"), &mut got).unwrap_err();
    assert_eq!(refused(&e), (ReplyCode::DownloadFailed, Reason::NoSuchFile));
    assert!(got.is_empty());

    let e = c.delete_bucket(&b("photos")).unwrap_err();
    assert_eq!(
        refused(&e),
        (ReplyCode::BucketDeletionFailed, Reason::NotEmpty)
    );
    c.delete_file(&b("photos"), &f("cat 1.png")).unwrap();
    c.delete_file(&b("photos"), &f("empty")).unwrap();
    let e = c.delete_file(&b("photos"), &f("empty")).unwrap_err();
    assert_eq!(
        refused(&e),
        (ReplyCode::FileDeletionFailed, Reason::NoSuchFile)
    );
    c.delete_bucket(&b("photos")).unwrap();
    assert!(c.list_buckets().unwrap().is_empty());
    assert!(c.is_open());
    c.quit().unwrap();
}

#[test]
fn empty_download_keeps_the_connection() {
    let server = TestServer::start();
    let mut c = server.client();
    c.create_bucket(&b("x")).unwrap();
    c.upload(&b("x"), &f("empty"), io::empty(), 0).unwrap();
    let mut got = Vec::new();
    assert_eq!(c.download(&b("x"), &f("empty"), &mut got).unwrap(), 0);
    assert!(got.is_empty());
    assert_eq!(c.download(&b("x"), &f("empty"), &mut got).unwrap(), 0);
    c.quit().unwrap();
}

#[test]
fn sixty_four_mib_round_trip() {
    const LEN: u64 = 64 * 1024 * 1024;
    let server = TestServer::start();
    let mut c = server.client();
    c.create_bucket(&b("big")).unwrap();
    let source = NoiseReader {
        noise: Noise(0x2545_F491_4F6C_DD1D),
        left: LEN,
    };
    let mut last = 0;
    c.upload_with_progress(&b("big"), &f("blob.bin"), source, LEN, &mut |d| last = d)
        .unwrap();
    assert_eq!(last, LEN);
    assert_eq!(c.list_files(Some(&b("big"))).unwrap()[0].size, LEN);

    let mut check = NoiseChecker {
        noise: Noise(0x2545_F491_4F6C_DD1D),
        pending: Vec::new(),
        seen: 0,
    };
    assert_eq!(
        c.download(&b("big"), &f("blob.bin"), &mut check).unwrap(),
        LEN
    );
    assert_eq!(check.finish(), LEN);
    c.quit().unwrap();
}

#[test]
fn eight_clients_at_once() {
    let server = TestServer::start();
    server.client().create_bucket(&b("shared")).unwrap();
    let addr = server.addr;
    let workers: Vec<_> = (0..8u64)
        .map(|i| {
            thread::spawn(move || {
                let mut c = Client::connect_timeout(addr, LIMIT).unwrap();
                let own = b(&format!("own-{i}"));
                c.create_bucket(&own).unwrap();
                for round in 0..3u64 {
                    let len = 300_000 + i as usize * 77_777 + round as usize * 1013;
                    let data = Noise::bytes(i * 1000 + round + 1, len);
                    let name = f(&format!("client {i} round {round}.bin"));
                    for bucket in [&own, &b("shared")] {
                        c.upload(bucket, &name, &data[..], len as u64).unwrap();
                        let mut got = Vec::new();
                        assert_eq!(c.download(bucket, &name, &mut got).unwrap(), len as u64);
                        assert!(got == data, "client {i} round {round}: bytes differ");
                    }
                }
                assert_eq!(c.list_files(Some(&own)).unwrap().len(), 3);
                c.quit().unwrap();
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    let mut c = server.client();
    assert_eq!(c.list_files(Some(&b("shared"))).unwrap().len(), 24);
    assert_eq!(c.list_buckets().unwrap().len(), 9);
}

#[test]
fn too_large_upload_is_refused() {
    let server = TestServer::with_config(Config {
        max_upload_size: Some(1024),
        ..Config::default()
    });
    let mut c = server.client();
    c.create_bucket(&b("x")).unwrap();
    let data = Noise::bytes(3, 4 * 1024 * 1024);
    let e = c
        .upload(&b("x"), &f("big"), &data[..], data.len() as u64)
        .unwrap_err();
    match &e {
        Error::Refused { reason, .. } => assert_eq!(*reason, Reason::TooLarge),
        // A reset can beat the reply to the client.
        Error::Io(_) | Error::Closed => {}
        other => panic!("unexpected {other:?}"),
    }
    assert!(!c.is_open());
    let mut c = server.client();
    c.upload(&b("x"), &f("small"), &data[..1024], 1024).unwrap();
}

// ---- upload_file ------------------------------------------------------------

/// An anonymous temporary file holding `data`, positioned at its start.
fn file_with(data: &[u8]) -> File {
    let mut file = tempfile::tempfile().unwrap();
    file.write_all(data).unwrap();
    file.rewind().unwrap();
    file
}

/// Records what a transfer reports.
#[derive(Debug, Default)]
struct Recorder {
    starts: Vec<u64>,
    done: Vec<u64>,
}

impl Progress for Recorder {
    fn start(&mut self, total: u64) {
        self.starts.push(total);
    }

    fn advance(&mut self, done: u64) {
        self.done.push(done);
    }
}

impl Recorder {
    /// Checks one `start(total)` and rising advances that end at `total`;
    /// returns the largest step between advances.
    fn check(&self, total: u64) -> u64 {
        assert_eq!(self.starts, [total]);
        assert_eq!(self.done.last().copied(), Some(total));
        let mut last = 0;
        let mut largest = 0;
        for &d in &self.done {
            assert!(d > last, "advances must rise: {:?}", self.done);
            largest = largest.max(d - last);
            last = d;
        }
        largest
    }
}

fn download_all(c: &mut Client, bucket: &str, name: &str) -> Vec<u8> {
    let mut got = Vec::new();
    let len = c.download(&b(bucket), &f(name), &mut got).unwrap();
    assert_eq!(len, got.len() as u64);
    got
}

/// Waits until the server's staging folder is empty (an aborted upload's
/// staged file is deleted once the server notices the close).
fn assert_nothing_staged(server: &TestServer) {
    let staging = server.root.path().join(".bkt-staging");
    for _ in 0..200 {
        let staged = match std::fs::read_dir(&staging) {
            Ok(entries) => entries.count(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => 0,
            Err(e) => panic!("{}: {e}", staging.display()),
        };
        if staged == 0 {
            return;
        }
        thread::sleep(Duration::from_millis(50));
    }
    panic!("a staged upload was left in {}", staging.display());
}

#[test]
fn upload_file_round_trip_with_progress() {
    // Several sendfile chunks and a ragged end.
    let data = Noise::bytes(11, 19 * 1024 * 1024 + 12_345);
    let len = data.len() as u64;
    let file = file_with(&data);
    let server = TestServer::start();
    let mut c = server.client();
    c.create_bucket(&b("files")).unwrap();
    let mut progress = Recorder::default();
    c.upload_file_with_progress(&b("files"), &f("noise.bin"), &file, len, &mut progress)
        .unwrap();
    let largest_step = progress.check(len);
    if cfg!(target_os = "linux") {
        assert!(
            largest_step > BUFFER_SIZE as u64,
            "sendfile moves more than one buffer per call: {:?}",
            progress.done
        );
    }
    // The file's position moved on by exactly the bytes sent.
    assert_eq!((&file).stream_position().unwrap(), len);
    assert!(download_all(&mut c, "files", "noise.bin") == data);

    // Without progress, and an empty file.
    let empty = file_with(b"");
    c.upload_file(&b("files"), &f("empty"), &empty, 0).unwrap();
    assert!(download_all(&mut c, "files", "empty").is_empty());
    assert!(c.is_open());
    c.quit().unwrap();
}

#[test]
fn upload_file_sends_from_the_current_position() {
    let data = Noise::bytes(12, 9 * 1024 * 1024 + 77);
    let mut file = file_with(&data);
    let server = TestServer::start();
    let mut c = server.client();
    c.create_bucket(&b("pos")).unwrap();

    // The rest of the file, from a position past the first sendfile chunk.
    let from = 5 * 1024 * 1024 + 3;
    file.seek(SeekFrom::Start(from as u64)).unwrap();
    let rest = (data.len() - from) as u64;
    c.upload_file(&b("pos"), &f("rest"), &file, rest).unwrap();
    assert!(download_all(&mut c, "pos", "rest") == data[from..]);

    // A slice from the middle: bytes beyond `len` stay unsent and unread.
    file.seek(SeekFrom::Start(1000)).unwrap();
    c.upload_file(&b("pos"), &f("middle"), &file, 4321).unwrap();
    assert!(download_all(&mut c, "pos", "middle") == data[1000..1000 + 4321]);
    assert_eq!(file.stream_position().unwrap(), 1000 + 4321);

    // Either side of 64 KiB, where sending switches from one write with the
    // request line to sendfile.
    for len in [64 * 1024, 64 * 1024 + 1] {
        file.seek(SeekFrom::Start(777)).unwrap();
        c.upload_file(&b("pos"), &f("edge"), &file, len as u64)
            .unwrap();
        assert!(
            download_all(&mut c, "pos", "edge") == data[777..777 + len],
            "{len}"
        );
        assert_eq!(file.stream_position().unwrap(), 777 + len as u64);
    }
    c.quit().unwrap();
}

#[test]
fn upload_file_shorter_than_len_is_source_too_short() {
    let data = Noise::bytes(13, 5 * 1024 * 1024 + 1);
    let file = file_with(&data);
    let server = TestServer::start();
    let mut c = server.client();
    c.create_bucket(&b("short")).unwrap();
    let len = 9 * 1024 * 1024;
    let mut progress = Recorder::default();
    let e = c
        .upload_file_with_progress(&b("short"), &f("cut"), &file, len, &mut progress)
        .unwrap_err();
    let sent = data.len() as u64;
    assert!(
        matches!(e, Error::SourceTooShort { expected, got } if expected == len && got == sent),
        "{e:?}"
    );
    assert_eq!(progress.done.last().copied(), Some(sent));
    assert!(e.breaks_connection());
    assert!(!c.is_open());
    assert!(matches!(c.hello(), Err(Error::Closed)));

    // The server kept nothing, and a new connection works.
    let mut c = server.client();
    assert!(c.list_files(Some(&b("short"))).unwrap().is_empty());
    assert_nothing_staged(&server);
}

#[test]
fn upload_file_too_large_is_refused() {
    let server = TestServer::with_config(Config {
        max_upload_size: Some(1024),
        ..Config::default()
    });
    server.client().create_bucket(&b("x")).unwrap();

    // Several sendfile chunks: the reply is noticed between them.
    let data = Noise::bytes(14, 16 * 1024 * 1024);
    let file = file_with(&data);
    let mut c = server.client();
    let e = c
        .upload_file(&b("x"), &f("big"), &file, data.len() as u64)
        .unwrap_err();
    assert_eq!(refused(&e), (ReplyCode::FileUploadFailed, Reason::TooLarge));
    assert!(e.breaks_connection());
    assert!(!c.is_open());

    // Just over the limit: all of it fits in the socket buffers.
    let file = file_with(&data[..1025]);
    let mut c = server.client();
    let e = c.upload_file(&b("x"), &f("big"), &file, 1025).unwrap_err();
    assert_eq!(refused(&e), (ReplyCode::FileUploadFailed, Reason::TooLarge));
    assert!(!c.is_open());

    let file = file_with(&data[..1024]);
    let mut c = server.client();
    c.upload_file(&b("x"), &f("fits"), &file, 1024).unwrap();
    assert!(download_all(&mut c, "x", "fits") == data[..1024]);
}

#[cfg(unix)]
#[test]
fn upload_file_from_a_pipe_copies_instead() {
    // sendfile(2) cannot read a pipe (EINVAL): the bytes go the Read way.
    let data = Noise::bytes(15, 3 * 1024 * 1024 + 5);
    let (reader, mut writer) = io::pipe().unwrap();
    let file = File::from(std::os::fd::OwnedFd::from(reader));
    let feed = {
        let data = data.clone();
        thread::spawn(move || writer.write_all(&data).unwrap())
    };
    let server = TestServer::start();
    let mut c = server.client();
    c.create_bucket(&b("pipe")).unwrap();
    let len = data.len() as u64;
    let mut progress = Recorder::default();
    c.upload_file_with_progress(&b("pipe"), &f("piped"), &file, len, &mut progress)
        .unwrap();
    feed.join().unwrap();
    assert!(progress.check(len) <= BUFFER_SIZE as u64);
    assert!(download_all(&mut c, "pipe", "piped") == data);
    c.quit().unwrap();
}

#[test]
fn upload_file_write_timeout_bounds_sendfile() {
    // A peer that accepts and never reads: the socket buffers fill up.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (done, wait) = std::sync::mpsc::channel::<()>();
    let peer = thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let _ = wait.recv_timeout(LIMIT);
        drop(stream);
    });
    // Sparse: 256 MiB of zeros without writing them.
    let file = tempfile::tempfile().unwrap();
    file.set_len(256 * 1024 * 1024).unwrap();
    let mut c = Client::connect_timeout(addr, Duration::from_millis(300)).unwrap();
    let started = std::time::Instant::now();
    let e = c
        .upload_file(&b("x"), &f("stuck"), &file, 256 * 1024 * 1024)
        .unwrap_err();
    let took = started.elapsed();
    done.send(()).unwrap();
    peer.join().unwrap();
    // sendfile's EAGAIN, and a plain write's WouldBlock elsewhere, are
    // both reported as a time-out.
    match &e {
        Error::Io(io) => assert_eq!(io.kind(), io::ErrorKind::TimedOut, "{io:?}"),
        other => panic!("expected a time-out, got {other:?}"),
    }
    assert!(took < Duration::from_secs(20), "took {took:?}");
    assert!(!c.is_open());
}

// ---- the binary -----------------------------------------------------------

fn stdout_of(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr_of(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn binary_subcommands() {
    let server = TestServer::start();
    let work = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let exe_name = exe.file_name().unwrap().to_str().unwrap().to_owned();

    let out = server.cli().arg("hello").output().unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(
        stdout_of(&out).starts_with("100 OK BKT/1 bucket-server"),
        "{}",
        stdout_of(&out)
    );

    let out = server
        .cli()
        .args(["create-bucket", "bin"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(stdout_of(&out), "300 BCS bucket created\n");

    // Upload a real file; NAME defaults to its own file name.
    let out = server
        .cli()
        .arg("upload")
        .arg(&exe)
        .arg("bin")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(stdout_of(&out).starts_with("700 FUBS file uploaded"));
    assert!(stderr_of(&out).is_empty(), "no progress bar off a terminal");

    // From stdin, NAME given.
    let out = server
        .cli()
        .args(["upload", "-", "bin", "from stdin.txt"])
        .write_stdin("piped bytes\n")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));

    let out = server.cli().arg("list-buckets").output().unwrap();
    assert_eq!(stdout_of(&out), "bin\n");

    let out = server.cli().args(["list-files", "bin"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let size = std::fs::metadata(&exe).unwrap().len();
    let mut lines: Vec<String> = stdout_of(&out).lines().map(str::to_owned).collect();
    lines.sort();
    let mut want = vec![
        format!("bin\t{exe_name}\t{size}"),
        "bin\tfrom stdin.txt\t12".to_owned(),
    ];
    want.sort();
    assert_eq!(lines, want);

    // Download into a named file, then into a folder (NAME inside it).
    let copy = work.path().join("copy.bin");
    let out = server
        .cli()
        .args(["download", "bin", &exe_name])
        .arg(&copy)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(stdout_of(&out).starts_with(&format!("900 FDBS downloaded {size} bytes to")));
    assert!(std::fs::read(&copy).unwrap() == std::fs::read(&exe).unwrap());

    let out = server
        .cli()
        .args(["download", "bin", "from stdin.txt"])
        .arg(work.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(
        std::fs::read(work.path().join("from stdin.txt")).unwrap(),
        b"piped bytes\n"
    );

    // Default destination: NAME in the current folder. `-`: stdout.
    let out = server
        .cli()
        .current_dir(work.path())
        .args(["download", "bin", &exe_name])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(std::fs::read(work.path().join(&exe_name)).unwrap() == std::fs::read(&exe).unwrap());
    let out = server
        .cli()
        .args(["download", "bin", "from stdin.txt", "-"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(out.stdout, b"piped bytes\n");

    // A failed download leaves nothing behind.
    let missing = work.path().join("missing.bin");
    let out = server
        .cli()
        .args(["download", "bin", "missing"])
        .arg(&missing)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr_of(&out).contains("901 FDBF NO_SUCH_FILE"),
        "{}",
        stderr_of(&out)
    );
    assert!(!missing.exists());
    assert_no_part_files(work.path());

    // Failures: exit 1, the reply on stderr, nothing on stdout.
    let out = server
        .cli()
        .args(["delete-bucket", "bin"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout_of(&out).is_empty());
    assert!(
        stderr_of(&out).starts_with("error: 601 DBF NOT_EMPTY"),
        "{}",
        stderr_of(&out)
    );
    let out = server
        .cli()
        .args(["upload"])
        .arg(&exe)
        .arg("nope")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr_of(&out).contains("701 FUBF NO_SUCH_BUCKET"),
        "{}",
        stderr_of(&out)
    );

    for name in [exe_name.as_str(), "from stdin.txt"] {
        let out = server
            .cli()
            .args(["delete-file", "bin", name])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr_of(&out));
        assert_eq!(stdout_of(&out), "1000 DFS file deleted\n");
    }
    let out = server.cli().args(["list-files"]).output().unwrap();
    assert!(out.status.success());
    assert!(stdout_of(&out).is_empty());
    let out = server
        .cli()
        .args(["delete-bucket", "bin"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(stdout_of(&out), "600 DBS bucket deleted\n");
    let out = server
        .cli()
        .args(["delete-bucket", "bin"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr_of(&out).contains("601 DBF NO_SUCH_BUCKET"));
}

fn assert_no_part_files(dir: &Path) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let name = entry.unwrap().file_name();
        assert!(
            !name.to_string_lossy().ends_with(".part"),
            "leftover {name:?}"
        );
    }
}

#[test]
fn binary_usage_errors_exit_2() {
    let server = TestServer::start();
    // stdin upload without a NAME.
    let out = server
        .cli()
        .args(["upload", "-", "bucket"])
        .write_stdin("x")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr_of(&out));
    // A bucket name that breaks the rules.
    let out = server
        .cli()
        .args(["create-bucket", "a/b"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr_of(&out).contains("a/b"));
    let out = server.cli().arg("no-such-subcommand").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn binary_without_server_fails_clearly() {
    // Port 1: below the ephemeral range, so no test's listener (port 0)
    // can be given it; nothing listens there. (A port freed by a test could
    // be handed to a listener of a test running in parallel.)
    let port = 1;
    let out = Command::new(env!("CARGO_BIN_EXE_bucket-client"))
        .args(["-s", "127.0.0.1", "-p", &port.to_string(), "list-buckets"])
        .timeout(LIMIT)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr_of(&out).starts_with(&format!("error: cannot connect to 127.0.0.1:{port}")),
        "{}",
        stderr_of(&out)
    );
}

// ---- the shell ------------------------------------------------------------

#[test]
fn shell_through_stdin() {
    let server = TestServer::start();
    let out = server
        .cli()
        .write_stdin("create_b x\nls_b\nquit\n")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(stdout_of(&out), "300 BCS bucket created\nx\n200 BYE\n");
    assert_eq!(stderr_of(&out), "");
}

#[test]
fn shell_errors_and_aliases() {
    let server = TestServer::start();
    let work = tempfile::tempdir().unwrap();
    let local = work.path().join("a.txt");
    std::fs::write(&local, b"five\n").unwrap();
    let dest = work.path().join("back.txt");
    let script = format!(
        "NEW_BUCKET photos\n\
         upload {local_q} photos\n\
         UPLOAD_FILE {local_q} photos \"my a.txt\"\n\
         ls_f photos\n\
         download photos 'my a.txt' {dest_q}\n\
         delete_b photos\n\
         frobnicate\n\
         create_b \"unbalanced\n\
         DELETE_F photos a.txt\n\
         delete_file photos 'my a.txt'\n\
         Delete_B photos\n\
         list_bucket\n\
         init\n",
        local_q = shlex::try_quote(&local.to_string_lossy()).unwrap(),
        dest_q = shlex::try_quote(&dest.to_string_lossy()).unwrap(),
    );
    // Ends at end of input, without QUIT; with the status of the last
    // failure (the unbalanced quotes, a usage error), as its input is not
    // a terminal.
    let out = server.cli().write_stdin(script).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr_of(&out));
    let stdout = stdout_of(&out);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[0], "300 BCS bucket created");
    assert_eq!(lines[1], "700 FUBS file uploaded (5 bytes)");
    assert_eq!(lines[2], "700 FUBS file uploaded (5 bytes)");
    assert_eq!(lines[3], "photos  a.txt     5 bytes");
    assert_eq!(lines[4], "photos  my a.txt  5 bytes");
    assert!(
        lines[5].starts_with("900 FDBS downloaded 5 bytes to"),
        "{}",
        lines[5]
    );
    assert_eq!(lines[6], "1000 DFS file deleted");
    assert_eq!(lines[7], "1000 DFS file deleted");
    assert_eq!(lines[8], "600 DBS bucket deleted");
    assert_eq!(lines[9], "(no buckets)");
    assert!(lines[10].starts_with("100 OK BKT/1 bucket-server"));
    assert_eq!(lines.len(), 11, "{stdout}");
    assert_eq!(std::fs::read(&dest).unwrap(), b"five\n");

    let stderr = stderr_of(&out);
    let errors: Vec<&str> = stderr.lines().collect();
    assert!(
        errors[0].starts_with("error: 601 DBF NOT_EMPTY"),
        "{stderr}"
    );
    assert!(
        errors[1].starts_with("error: unknown command \"frobnicate\""),
        "{stderr}"
    );
    assert!(
        errors[2].starts_with("error: unbalanced quotes"),
        "{stderr}"
    );
    assert_eq!(errors.len(), 3, "{stderr}");
}

/// A script (standard input not a terminal) is never asked for an
/// argument: a command missing a required one fails as a usage error that
/// shows its usage, and the next line runs as the command it is (before,
/// it was taken as the answer, and that command never ran).
#[test]
fn a_script_missing_an_argument_fails_that_command_and_runs_the_next_line() {
    let server = server_with_cat();
    let work = tempfile::tempdir().unwrap();
    let out = server
        .cli()
        .current_dir(work.path())
        .write_stdin(
            "create_b\nls_b\n\
             download photos\ndelete_f photos cat.png\n\
             upload\nls_f photos\n\
             delete_f photos\nhello\n",
        )
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr_of(&out));
    let stdout = stdout_of(&out);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines[..3],
        ["photos", "1000 DFS file deleted", "(no files)"]
    );
    assert!(lines[3].starts_with("100 OK BKT/1"), "{stdout}");
    assert_eq!(lines.len(), 4, "{stdout}");
    assert_eq!(
        stderr_of(&out),
        "error: missing <bucket>; usage: CREATE_B <bucket>\n\
         error: missing <name>; usage: DOWNLOAD <bucket> <name> [local-path, default: ./name]\n\
         error: missing <local-path>; usage: UPLOAD <local-path> <bucket> \
         [name, default: the local file's name]\n\
         error: missing <name>; usage: DELETE_F <bucket> <name>\n"
    );
    let left: Vec<_> = std::fs::read_dir(work.path()).unwrap().collect();
    assert!(left.is_empty(), "{left:?}");
}

/// A script line that is not UTF-8 fails as a usage error naming its line
/// number, and the script goes on (before, it ended the shell, and the
/// lines after it never ran).
#[test]
fn a_script_line_of_invalid_utf8_fails_and_the_next_line_runs() {
    let server = server_with_cat();
    let out = server
        .cli()
        .write_stdin(&b"hello\n\xff\xfe bad\nls_b\n\n\xc3(\nhello"[..])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr_of(&out));
    let stdout = stdout_of(&out);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    assert!(lines[0].starts_with("100 OK BKT/1"), "{stdout}");
    assert_eq!(lines[1], "photos");
    assert!(lines[2].starts_with("100 OK BKT/1"), "{stdout}");
    assert_eq!(
        stderr_of(&out),
        "error: line 2 is not valid UTF-8; skipped\n\
         error: line 5 is not valid UTF-8; skipped\n"
    );
}

/// The shell run on a pseudo-terminal (`TERM=dumb`: rustyline reads plain
/// lines from it, and the terminal stays in cooked mode, so Ctrl-C is a
/// SIGINT), connected to `server`, with `HOME` and the working folder
/// given. Its stdout is collected as it comes, so a test can wait for a
/// prompt ([`TerminalShell::wait_for`]) before it types on.
#[cfg(target_os = "linux")]
struct TerminalShell {
    child: std::process::Child,
    /// The terminal's master side: what is written here is typed.
    terminal: File,
    stdout: std::sync::Arc<std::sync::Mutex<String>>,
    reader: thread::JoinHandle<()>,
}

#[cfg(target_os = "linux")]
impl TerminalShell {
    fn start(server: SocketAddr, home: &Path, work: &Path) -> TerminalShell {
        use std::io::Read;
        use std::process::Stdio;
        let pty = nix::pty::openpty(None, None).unwrap();
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_bucket-client"))
            .args(["-s", &server.to_string()])
            .env("HOME", home)
            .env("TERM", "dumb")
            .env_remove("RUST_LOG")
            .current_dir(work)
            .stdin(Stdio::from(pty.slave))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout: std::sync::Arc<std::sync::Mutex<String>> = std::sync::Arc::default();
        let reader = {
            let stdout = std::sync::Arc::clone(&stdout);
            let mut pipe = child.stdout.take().unwrap();
            thread::spawn(move || {
                let mut buf = [0; 4096];
                while let Ok(n @ 1..) = pipe.read(&mut buf) {
                    let text = String::from_utf8_lossy(&buf[..n]);
                    stdout.lock().unwrap().push_str(&text);
                }
            })
        };
        TerminalShell {
            child,
            terminal: File::from(pty.master),
            stdout,
            reader,
        }
    }

    /// Types `input` on the terminal.
    fn type_in(&mut self, input: &[u8]) {
        self.terminal.write_all(input).unwrap();
    }

    /// Waits until stdout ends with `tail` (a prompt), or the shell has
    /// ended; fails the test after [`LIMIT`].
    fn wait_for(&mut self, tail: &str) {
        let deadline = std::time::Instant::now() + LIMIT;
        loop {
            if self.stdout.lock().unwrap().ends_with(tail)
                || self.child.try_wait().unwrap().is_some()
            {
                return;
            }
            assert!(std::time::Instant::now() < deadline, "no {tail:?}");
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends SIGINT, as Ctrl-C on the terminal does; fails the test if the
    /// shell has already ended.
    fn interrupt(&mut self) {
        assert_eq!(self.child.try_wait().unwrap(), None, "the shell ended");
        let pid = nix::unistd::Pid::from_raw(i32::try_from(self.child.id()).unwrap());
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).unwrap();
    }

    /// Waits for the shell to end: its exit status, all its stdout
    /// (prompts included) and its stderr.
    fn finish(mut self) -> (std::process::ExitStatus, String, String) {
        let status = wait_for_exit(&mut self.child);
        self.reader.join().unwrap();
        let stderr = rest_of(self.child.stderr.take());
        let stdout = self.stdout.lock().unwrap().clone();
        (status, stdout, stderr)
    }
}

/// The shell run on a pseudo-terminal ([`TerminalShell`]), fed `input` at
/// once; returns its exit status, stdout (prompts included) and stderr.
/// `HOME` is `home`, the working folder `work`.
#[cfg(target_os = "linux")]
fn shell_on_a_terminal(
    server: SocketAddr,
    home: &Path,
    work: &Path,
    input: &[u8],
) -> (std::process::ExitStatus, String, String) {
    let mut shell = TerminalShell::start(server, home, work);
    shell.type_in(input);
    shell.finish()
}

/// Waits up to [`LIMIT`] for `child` to end and gives its status; kills
/// it and fails the test when it does not.
fn wait_for_exit(child: &mut std::process::Child) -> std::process::ExitStatus {
    let deadline = std::time::Instant::now() + LIMIT;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            panic!("the shell did not end");
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// What is left to read of a child's piped stdout or stderr, to its end.
fn rest_of(pipe: Option<impl std::io::Read>) -> String {
    let mut text = String::new();
    pipe.unwrap().read_to_string(&mut text).unwrap();
    text
}

/// On a terminal, missing arguments are asked for: every one for a bare
/// command (an empty answer takes the default, or cancels the command
/// when there is none), only the required ones otherwise.
#[cfg(target_os = "linux")]
#[test]
fn the_interactive_shell_asks_for_missing_arguments() {
    let server = server_with_cat();
    let home = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let local = work.path().join("a.txt");
    std::fs::write(&local, b"five\n").unwrap();
    let dest = work.path().join("back.txt");
    let input = format!(
        "upload\n{local}\nphotos\n\n\
         download\nphotos\n\"a.txt\"\n{dest}\n\
         download photos\ncat.png\n\
         delete_f\nphotos\n\n\
         quit\n",
        local = local.display(),
        dest = dest.display(),
    );
    let (status, stdout, stderr) =
        shell_on_a_terminal(server.addr, home.path(), work.path(), input.as_bytes());
    assert!(status.success(), "{status:?}\n{stdout}\n{stderr}");
    for expected in [
        "c> local path: bucket: name [a.txt]: 700 FUBS file uploaded (5 bytes)\n",
        &format!(
            "c> bucket: name: save to [./a.txt]: 900 FDBS downloaded 5 bytes to {}\n",
            dest.display()
        ),
        "c> name: 900 FDBS downloaded 5 bytes to ./cat.png\n",
        "c> bucket: name: c> 200 BYE\n",
    ] {
        assert!(stdout.contains(expected), "{expected:?} in {stdout:?}");
    }
    assert_eq!(stderr, "error: cancelled\n");
    assert_eq!(std::fs::read(&dest).unwrap(), b"five\n");
    assert_eq!(
        std::fs::read(work.path().join("cat.png")).unwrap(),
        b"hello"
    );
}

#[test]
fn shell_reconnects_after_the_server_hangs_up() {
    let server = TestServer::with_config(Config {
        idle_timeout: Duration::from_millis(300),
        ..Config::default()
    });
    // The shell reads its script slowly: a pipe fed line by line.
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_bucket-client"))
        .args(["-s", "127.0.0.1", "-p", &server.addr.port().to_string()])
        .env_remove("RUST_LOG")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"create_b x\n").unwrap();
    stdin.flush().unwrap();
    // Until the bucket is made and the server has hung up on the idle
    // shell (rather than a fixed sleep, which a slow start could outlast).
    let handle = server.running.as_ref().unwrap().handle();
    let deadline = std::time::Instant::now() + LIMIT;
    while !server.root.path().join("x").is_dir() || handle.active_connections() > 0 {
        assert!(std::time::Instant::now() < deadline, "no hang-up");
        thread::sleep(Duration::from_millis(20));
    }
    stdin.write_all(b"ls_b\nquit\n").unwrap();
    drop(stdin);
    // Bounded: the output is small, so waiting before reading cannot block
    // on a full pipe.
    wait_for_exit(&mut child);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(stdout_of(&out), "300 BCS bucket created\nx\n200 BYE\n");
    assert!(
        stderr_of(&out).contains("reconnected"),
        "{}",
        stderr_of(&out)
    );
}

/// A server that answers `HELLO`, then answers `DOWNLOAD` with `900 FDBS`
/// for 10 MB, sends 4 MiB of it (more than the client buffers) and stalls until the test ends: a download
/// that is in progress for as long as the test needs.
fn stalling_download_server() -> SocketAddr {
    use std::io::{BufRead, BufReader};
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut writer = stream.try_clone().unwrap();
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { return };
            if line.starts_with("HELLO") {
                let _ = writer.write_all(b"100 OK BKT/1 stalling\n");
            } else if line.starts_with("DOWNLOAD") {
                let _ = writer.write_all(b"900 FDBS 10000000\n");
                let _ = writer.write_all(&vec![b'x'; 4 << 20]);
            }
        }
    });
    addr
}

/// A download from a stalling server into a temporary folder, under way:
/// its part file has bytes in it. With `nohup`, the client runs under
/// nohup(1), which starts it with SIGHUP ignored.
///
/// The client starts with SIGINT, SIGTERM and SIGHUP at their default
/// action (GNU env's `--default-signal`) whatever the tests inherited, as
/// the client keeps a signal it was started with ignored: under `nohup
/// cargo test`, or in a script's background job (SIGINT ignored), the
/// signals would otherwise not reach it.
struct DownloadUnderWay {
    child: std::process::Child,
    dir: TempDir,
}

/// A failing test leaves no client behind.
impl Drop for DownloadUnderWay {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl DownloadUnderWay {
    fn start(nohup: bool) -> DownloadUnderWay {
        let addr = stalling_download_server();
        let dir = tempfile::tempdir().unwrap();
        let client = env!("CARGO_BIN_EXE_bucket-client");
        let mut cmd = std::process::Command::new("env");
        cmd.arg("--default-signal=HUP,INT,TERM");
        if nohup {
            cmd.arg("nohup");
        }
        cmd.arg(client);
        let child = cmd
            .args(["-s", &addr.to_string(), "download", "b", "big.bin"])
            .arg(dir.path().join("big.bin"))
            .env_remove("RUST_LOG")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let mut download = DownloadUnderWay { child, dir };
        let deadline = std::time::Instant::now() + LIMIT;
        while !download
            .left()
            .iter()
            .any(|(name, len)| name.ends_with(".part") && *len > 0)
        {
            let ended = download.child.try_wait().unwrap();
            if std::time::Instant::now() > deadline || ended.is_some() {
                let _ = download.child.kill();
                panic!("the download never got under way: {:?}", download.left());
            }
            thread::sleep(Duration::from_millis(10));
        }
        download
    }

    /// The files in the folder, with their lengths.
    fn left(&self) -> Vec<(String, u64)> {
        std::fs::read_dir(self.dir.path())
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let name = e.file_name().to_string_lossy().into_owned();
                (name, e.metadata().unwrap().len())
            })
            .collect()
    }

    fn signal(&self, signal: nix::sys::signal::Signal) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        nix::sys::signal::kill(pid, signal).unwrap();
    }
}

#[test]
fn an_interrupted_download_leaves_no_part_file() {
    use nix::sys::signal::Signal;
    for (signal, status) in [
        (Signal::SIGINT, 130),
        (Signal::SIGTERM, 143),
        (Signal::SIGHUP, 129),
    ] {
        let mut download = DownloadUnderWay::start(false);
        download.signal(signal);
        let exit = download.child.wait().unwrap();
        assert_eq!(exit.code(), Some(status), "{signal:?}: {exit:?}");
        assert_eq!(download.left(), [], "{signal:?}");
    }
}

#[test]
fn a_download_under_nohup_outlives_sighup() {
    use nix::sys::signal::Signal;
    let mut download = DownloadUnderWay::start(true);
    download.signal(Signal::SIGHUP);
    thread::sleep(Duration::from_millis(300));
    assert_eq!(download.child.try_wait().unwrap(), None, "SIGHUP ended it");
    download.signal(Signal::SIGINT);
    assert_eq!(download.child.wait().unwrap().code(), Some(130));
    assert_eq!(download.left(), []);
}

#[test]
fn stdin_that_is_a_regular_file_is_sent_from_its_position_without_spooling() {
    let server = TestServer::start();
    let mut c = server.client();
    c.create_bucket(&b("in")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("source.txt");
    std::fs::write(&path, b"skip: the rest is sent\n").unwrap();
    let mut stdin = File::open(&path).unwrap();
    stdin.seek(SeekFrom::Start(6)).unwrap();
    // No usable temporary folder: a spool would fail, a regular file needs none.
    let no_tmp = dir.path().join("no-such-folder");
    let addr = server.addr.to_string();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_bucket-client"))
        .args(["-s", &addr, "upload", "-", "in", "rest.txt"])
        .env("TMPDIR", &no_tmp)
        .env_remove("RUST_LOG")
        .stdin(std::process::Stdio::from(stdin))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(
        download_all(&mut c, "in", "rest.txt"),
        b"the rest is sent\n"
    );

    // A pipe is spooled, so it does need the temporary folder.
    let out = server
        .cli()
        .args(["upload", "-", "in", "piped.txt"])
        .env("TMPDIR", &no_tmp)
        .write_stdin("piped\n")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr_of(&out).contains("cannot spool standard input"),
        "{}",
        stderr_of(&out)
    );
}

#[test]
fn a_pipe_or_a_proc_file_is_read_to_its_end_and_a_device_is_refused() {
    let server = TestServer::start();
    let mut c = server.client();
    c.create_bucket(&b("in")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
    // bash's `<(command)` hands over such a pipe; its size reads as 0.
    let writer = {
        let fifo = fifo.clone();
        thread::spawn(move || std::fs::write(fifo, b"through a pipe\n").unwrap())
    };
    let out = server
        .cli()
        .arg("upload")
        .arg(&fifo)
        .args(["in", "piped.txt"])
        .output()
        .unwrap();
    writer.join().unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(download_all(&mut c, "in", "piped.txt"), b"through a pipe\n");

    // A file of /proc says its size is 0 and has content.
    let out = server
        .cli()
        .args(["upload", "/proc/self/status", "in", "status"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(download_all(&mut c, "in", "status").starts_with(b"Name:"));

    // A device has no end to read to.
    let out = server
        .cli()
        .args(["upload", "/dev/zero", "in", "zero"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr_of(&out));
    assert!(stderr_of(&out).contains("not a regular file or a pipe"));
    assert!(
        c.list_files(Some(&b("in")))
            .unwrap()
            .iter()
            .all(|f| f.name.as_str() != "zero")
    );
}

/// A server whose bucket `out` holds `f.txt` (`downloaded\n`).
fn server_with_out_file() -> TestServer {
    let server = TestServer::start();
    let mut c = server.client();
    c.create_bucket(&b("out")).unwrap();
    c.upload(&b("out"), &f("f.txt"), &mut &b"downloaded\n"[..], 11)
        .unwrap();
    server
}

/// Makes a FIFO at `path` and a thread that reads it whole.
fn fifo_with_reader(path: &Path) -> thread::JoinHandle<Vec<u8>> {
    nix::unistd::mkfifo(path, nix::sys::stat::Mode::S_IRWXU).unwrap();
    let path = path.to_owned();
    thread::spawn(move || std::fs::read(path).unwrap())
}

/// Whether `path` is a FIFO (not followed if a symlink).
fn is_fifo(path: &Path) -> bool {
    use std::os::unix::fs::FileTypeExt;
    std::fs::symlink_metadata(path)
        .unwrap()
        .file_type()
        .is_fifo()
}

#[test]
fn a_download_into_a_fifo_or_through_a_symlink_keeps_them_what_they_are() {
    let server = server_with_out_file();
    let dir = tempfile::tempdir().unwrap();

    // A FIFO (as /dev/null is a device): written into, not replaced.
    let fifo = dir.path().join("fifo");
    let reader = fifo_with_reader(&fifo);
    let out = server
        .cli()
        .args(["download", "out", "f.txt"])
        .arg(&fifo)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    // Checked before joining: had the FIFO been replaced, its reader would
    // wait for a writer forever.
    assert!(is_fifo(&fifo));
    assert_eq!(reader.join().unwrap(), b"downloaded\n");

    // A symlink to a file: the file gets the download, the link stays.
    let target = dir.path().join("target.txt");
    std::fs::write(&target, b"old").unwrap();
    let link = dir.path().join("link.txt");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let out = server
        .cli()
        .args(["download", "out", "f.txt"])
        .arg(&link)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(std::fs::symlink_metadata(&link).unwrap().is_symlink());
    assert_eq!(std::fs::read(&target).unwrap(), b"downloaded\n");
    assert_no_part_files(dir.path());
}

/// The same holds when LOCAL is left out (`./name`) or is a folder
/// (`folder/name`): before, both skipped the symlink and FIFO rules and
/// replaced the link or the FIFO with a regular file. A default `./name`
/// that is a folder is refused before the download.
#[test]
fn a_download_to_the_default_name_or_into_a_folder_keeps_links_and_fifos() {
    let server = server_with_out_file();
    let dir = tempfile::tempdir().unwrap();

    // No LOCAL, and ./f.txt is a symlink: its target gets the file.
    let target = dir.path().join("target.txt");
    std::fs::write(&target, b"old").unwrap();
    std::os::unix::fs::symlink(&target, dir.path().join("f.txt")).unwrap();
    let out = server
        .cli()
        .current_dir(dir.path())
        .args(["download", "out", "f.txt"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(
        std::fs::symlink_metadata(dir.path().join("f.txt"))
            .unwrap()
            .is_symlink()
    );
    assert_eq!(std::fs::read(&target).unwrap(), b"downloaded\n");

    // LOCAL is a folder holding a FIFO of that name: written into.
    let sub = dir.path().join("sub");
    std::fs::create_dir(&sub).unwrap();
    let fifo = sub.join("f.txt");
    let reader = fifo_with_reader(&fifo);
    let out = server
        .cli()
        .args(["download", "out", "f.txt"])
        .arg(&sub)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(is_fifo(&fifo));
    assert_eq!(reader.join().unwrap(), b"downloaded\n");

    // No LOCAL, and ./f.txt is a folder: refused, nothing downloaded.
    let busy = tempfile::tempdir().unwrap();
    std::fs::create_dir(busy.path().join("f.txt")).unwrap();
    let out = server
        .cli()
        .current_dir(busy.path())
        .args(["download", "out", "f.txt"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    assert!(stderr_of(&out).contains("f.txt"), "{}", stderr_of(&out));
    assert!(busy.path().join("f.txt").is_dir());
    assert_no_part_files(dir.path());
    assert_no_part_files(busy.path());
}

/// In the shell, a line starting with `#` is a comment, and a later word
/// starting with `#` is a name: before, shlex dropped `#1.txt` and the
/// upload replaced the bucket's `x` instead.
#[test]
fn a_shell_word_starting_with_hash_is_a_name_and_a_hash_line_a_comment() {
    let server = TestServer::start();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("x"), b"hello").unwrap();
    let mut child = server
        .std_cli()
        .current_dir(dir.path())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"# set up\ncreate_b photos\nupload x photos #1.txt\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let files: Vec<String> = server
        .client()
        .list_files(Some(&b("photos")))
        .unwrap()
        .iter()
        .map(|f| f.name.to_string())
        .collect();
    assert_eq!(files, ["#1.txt"]);
}

// ---- fixes: each test below failed before its fix -------------------------

/// A server with bucket `photos` holding `cat.png` (`hello`).
fn server_with_cat() -> TestServer {
    let server = TestServer::start();
    let mut c = server.client();
    c.create_bucket(&b("photos")).unwrap();
    c.upload(&b("photos"), &f("cat.png"), &b"hello"[..], 5)
        .unwrap();
    server
}

#[test]
fn a_download_to_the_file_stdout_already_is_gets_the_bytes_only() {
    let server = server_with_cat();
    // /dev/stdout, stdout a pipe: as `-`, no status line among the bytes.
    let out = server
        .cli()
        .args(["download", "photos", "cat.png", "/dev/stdout"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(out.stdout, b"hello");

    // stdout redirected to a file, and that file named as the destination.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.bin");
    let out = server
        .std_cli()
        .args(["download", "photos", "cat.png"])
        .arg(&path)
        .stdout(File::create(&path).unwrap())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(std::fs::read(&path).unwrap(), b"hello");
    assert_no_part_files(dir.path());
}

/// `bucket-client ARGS… <&-`: standard input closed, through sh.
fn cli_with_stdin_closed(server: &TestServer, args: &[&str]) -> std::process::Output {
    Command::new("sh")
        .arg("-c")
        .arg(r#"exec "$0" "$@" <&-"#)
        .arg(env!("CARGO_BIN_EXE_bucket-client"))
        .args(["-s", &server.addr.to_string()])
        .args(args)
        .env_remove("RUST_LOG")
        .timeout(LIMIT)
        .output()
        .unwrap()
}

#[test]
fn stdin_that_is_a_device_or_closed_is_refused_as_a_path_is() {
    let server = TestServer::start();
    let mut c = server.client();
    c.create_bucket(&b("in")).unwrap();
    // A spool would fail at once here instead of filling the disk.
    let no_tmp = tempfile::tempdir().unwrap().path().join("gone");
    for device in ["/dev/zero", "/dev/null"] {
        let out = server
            .std_cli()
            .args(["upload", "-", "in", "dev"])
            .env("TMPDIR", &no_tmp)
            .stdin(File::open(device).unwrap())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{device}: {}", stderr_of(&out));
        assert_eq!(
            stderr_of(&out),
            "error: standard input is not a regular file or a pipe\n",
            "{device}"
        );
        // The same device by path: the same rule.
        let out = server
            .cli()
            .args(["upload", device, "in", "dev"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{device}: {}", stderr_of(&out));
        assert_eq!(
            stderr_of(&out),
            format!("error: {device} is not a regular file or a pipe\n")
        );
    }
    let out = cli_with_stdin_closed(&server, &["upload", "-", "in", "closed"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr_of(&out));
    assert!(
        stderr_of(&out).starts_with("error: standard input is closed"),
        "{}",
        stderr_of(&out)
    );
    assert!(c.list_files(Some(&b("in"))).unwrap().is_empty());

    // An empty pipe is still an empty file.
    let out = server
        .cli()
        .args(["upload", "-", "in", "empty"])
        .write_stdin("")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(download_all(&mut c, "in", "empty"), b"");
}

#[test]
fn the_shell_asks_for_no_optional_argument_once_some_are_typed() {
    let server = server_with_cat();
    let work = tempfile::tempdir().unwrap();
    let local = work.path().join("big2k");
    std::fs::write(&local, vec![b'x'; 2048]).unwrap();
    let script = format!(
        "download photos cat.png\nls_b\nupload {} photos\nls_f photos\n",
        shlex::try_quote(&local.to_string_lossy()).unwrap()
    );
    let out = server
        .cli()
        .current_dir(work.path())
        .write_stdin(script)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(
        stdout_of(&out),
        "900 FDBS downloaded 5 bytes to ./cat.png\n\
         photos\n\
         700 FUBS file uploaded (2048 bytes)\n\
         photos  big2k    2048 bytes\n\
         photos  cat.png  5 bytes\n"
    );
    assert_eq!(
        std::fs::read(work.path().join("cat.png")).unwrap(),
        b"hello"
    );
    assert!(!work.path().join("ls_b").exists());
}

/// A server that accepts connections and never says a word.
fn silent_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming() {
            held.push(stream);
        }
    });
    addr
}

#[test]
fn a_time_out_says_so_and_after_how_long() {
    let addr = silent_server();
    let out = Command::new(env!("CARGO_BIN_EXE_bucket-client"))
        .args(["-s", &addr.to_string(), "--timeout", "1", "hello"])
        .env_remove("RUST_LOG")
        .timeout(LIMIT)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr_of(&out),
        "error: network: timed out after 1 s waiting for the server\n"
    );
}

#[test]
fn usage_errors_exit_2_however_the_bad_argument_was_given() {
    let server = TestServer::start();
    let work = tempfile::tempdir().unwrap();
    let bad = work.path().join(".bkt-x");
    std::fs::write(&bad, b"x").unwrap();
    let cat = work.path().join("cat.png");
    std::fs::write(&cat, b"hello").unwrap();
    let cases: [(Vec<std::ffi::OsString>, &str); 6] = [
        (
            vec!["server-help".into(), "bogus".into()],
            "`bucket-client server-help` lists them",
        ),
        // The file name taken from the path, or given.
        (
            vec!["upload".into(), bad.clone().into(), "photos".into()],
            "error: bad file name \".bkt-x\": file names starting with '.bkt-' are reserved",
        ),
        (
            vec![
                "upload".into(),
                cat.clone().into(),
                "photos".into(),
                ".bkt-x".into(),
            ],
            "file names starting with '.bkt-' are reserved",
        ),
        // A folder, a device.
        (
            vec!["upload".into(), work.path().into(), "photos".into()],
            "is a folder, not a file",
        ),
        (
            vec!["upload".into(), "/dev/zero".into(), "photos".into()],
            "/dev/zero is not a regular file or a pipe",
        ),
        (
            vec!["create-bucket".into(), r"bad\name".into()],
            r"character '\' is not allowed in this name",
        ),
    ];
    for (args, message) in cases {
        let out = server.cli().args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr_of(&out));
        let stderr = stderr_of(&out);
        assert!(stderr.contains(message), "{args:?}: {stderr}");
        assert!(!stderr.contains("HELP"), "{args:?}: {stderr}");
        assert!(!stderr.contains(r"\\"), "{args:?}: {stderr}");
    }
    // The shell names bad names as written too.
    let out = server
        .cli()
        .write_stdin("create_b 'bad\\name'\n")
        .output()
        .unwrap();
    assert_eq!(
        stderr_of(&out),
        "error: bad bucket name \"bad\\name\": character '\\' is not allowed in this name\n"
    );
}

#[test]
fn a_download_through_a_dangling_symlink_creates_its_target() {
    let server = server_with_cat();
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("dangling");
    std::os::unix::fs::symlink("not-yet", &link).unwrap();
    let out = server
        .cli()
        .args(["download", "photos", "cat.png"])
        .arg(&link)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(std::fs::symlink_metadata(&link).unwrap().is_symlink());
    assert_eq!(std::fs::read(dir.path().join("not-yet")).unwrap(), b"hello");
    assert_no_part_files(dir.path());
}

#[test]
fn a_download_over_a_file_keeps_its_mode() {
    use std::os::unix::fs::PermissionsExt;
    let server = server_with_cat();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("script.sh");
    std::fs::write(&path, b"old").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o750)).unwrap();
    let out = server
        .cli()
        .args(["download", "photos", "cat.png"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(std::fs::read(&path).unwrap(), b"hello");
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode, 0o750, "{mode:o}");
}

/// A server that records every connection it accepts (as `(connected)`)
/// and every request line it reads, on any number of connections:
/// `DOWNLOAD` gets the 5 bytes `hello`, `QUIT` `200 BYE`.
fn recording_server() -> (SocketAddr, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use std::io::{BufRead, BufReader};
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = lines.clone();
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            record.lock().unwrap().push("(connected)".to_owned());
            let record = record.clone();
            thread::spawn(move || {
                let mut writer = stream.try_clone().unwrap();
                for line in BufReader::new(stream).lines() {
                    let Ok(line) = line else { return };
                    record.lock().unwrap().push(line.clone());
                    let reply: &[u8] = match line.split(' ').next() {
                        Some("DOWNLOAD") => b"900 FDBS 5\nhello",
                        Some("QUIT") => b"200 BYE\n",
                        _ => b"500 BCMD\n",
                    };
                    if writer.write_all(reply).is_err() || line == "QUIT" {
                        return;
                    }
                }
            });
        }
    });
    (addr, lines)
}

/// A download does not replace a file the user may not write, though the
/// rename would (it needs only the folder's write permission): a
/// read-only file of one's own, another user's file in a folder everyone
/// may write. It is refused like `cp` refuses it, naming the file, before
/// the program connects, and nothing is left behind; a file the user may
/// write is replaced. Root may write any file, so run as root, the test
/// runs the program as `nobody` (uid 65534), from a copy it can execute.
#[cfg(unix)]
#[test]
fn a_download_refuses_to_replace_a_file_the_user_may_not_write() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    use std::os::unix::process::CommandExt;
    let set_mode = |path: &Path, mode: u32| {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    };
    let (addr, requests) = recording_server();
    let dir = tempfile::tempdir().unwrap();
    // A folder everyone may write, without the sticky bit (/tmp's would
    // keep nobody from renaming over root's files anyway).
    set_mode(dir.path(), 0o777);
    let read_only = dir.path().join("read-only.txt");
    std::fs::write(&read_only, b"keep me").unwrap();
    set_mode(&read_only, 0o444);
    let as_root = std::fs::metadata(&read_only).unwrap().uid() == 0;
    let bin = dir.path().join("bin");
    let exe = if as_root {
        std::fs::create_dir(&bin).unwrap();
        set_mode(&bin, 0o755);
        let exe = bin.join("bucket-client");
        std::fs::copy(env!("CARGO_BIN_EXE_bucket-client"), &exe).unwrap();
        set_mode(&exe, 0o755);
        exe
    } else {
        env!("CARGO_BIN_EXE_bucket-client").into()
    };
    let download = |dest: &Path| {
        let mut cmd = std::process::Command::new(&exe);
        cmd.args(["-s", &addr.to_string(), "download", "photos", "cat.png"])
            .arg(dest)
            .env_remove("RUST_LOG")
            .current_dir(dir.path());
        if as_root {
            cmd.uid(65534).gid(65534);
        }
        // A child another test forks while the copy is being written holds
        // it open for writing until it runs its own program: the copy is
        // busy (ETXTBSY) for that moment.
        let deadline = std::time::Instant::now() + LIMIT;
        let out = loop {
            match cmd.output() {
                Err(e)
                    if e.kind() == io::ErrorKind::ExecutableFileBusy
                        && std::time::Instant::now() < deadline =>
                {
                    thread::sleep(Duration::from_millis(10));
                }
                result => break result.unwrap(),
            }
        };
        let sent = std::mem::take(&mut *requests.lock().unwrap());
        (out, sent)
    };
    // Root's own file, which nobody may write, when run as root.
    let theirs = dir.path().join("theirs.txt");
    let mut refused = vec![read_only.clone()];
    if as_root {
        std::fs::write(&theirs, b"keep me").unwrap();
        set_mode(&theirs, 0o644);
        refused.push(theirs);
    }
    for path in &refused {
        let mode = std::fs::metadata(path).unwrap().permissions().mode();
        let (out, sent) = download(path);
        assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
        assert_eq!(
            stderr_of(&out),
            format!(
                "error: cannot overwrite {}: Permission denied (os error 13)\n",
                path.display()
            )
        );
        assert!(sent.is_empty(), "{}: {sent:?}", path.display());
        assert_eq!(std::fs::read(path).unwrap(), b"keep me");
        let meta = std::fs::metadata(path).unwrap();
        assert_eq!(meta.permissions().mode(), mode);
        assert_eq!(meta.uid() == 0, as_root);
    }
    // A file the user may write, even one a group or everyone may write,
    // is replaced.
    let writable = dir.path().join("writable.txt");
    std::fs::write(&writable, b"old").unwrap();
    set_mode(&writable, 0o666);
    let (out, sent) = download(&writable);
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(sent, ["(connected)", "DOWNLOAD photos cat.png", "QUIT"]);
    assert_eq!(std::fs::read(&writable).unwrap(), b"hello");
    assert_no_part_files(dir.path());
}

/// A destination the final rename could only fail on (an empty path, a
/// folder that does not exist written with a trailing `/`, a file written
/// as a folder) is refused before `DOWNLOAD` is sent, in the program and in
/// a scripted shell: before, the whole file was downloaded first. The
/// program refuses it before it connects at all.
#[test]
fn a_download_to_a_path_that_cannot_be_a_file_is_refused_before_it_starts() {
    // One server for the program's runs, which must not connect, and one
    // for the shell's, which connects at its start (a shell's lines may be
    // recorded after it has ended).
    let (program_addr, requests) = recording_server();
    let (shell_addr, shell_requests) = recording_server();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("plain"), b"a file").unwrap();
    let cli = |addr: SocketAddr| {
        let mut cmd = Command::cargo_bin("bucket-client").unwrap();
        cmd.args(["-s", &addr.to_string()])
            .env_remove("RUST_LOG")
            .current_dir(dir.path());
        cmd
    };
    let cases = [
        ("", 2, "error: the local path is empty\n"),
        (
            "nodir/",
            1,
            "error: cannot save nodir/: the folder nodir/ does not exist\n",
        ),
        (
            "plain/",
            1,
            "error: cannot save plain/: plain/ is not a folder\n",
        ),
    ];
    for (local, status, message) in cases {
        let out = cli(program_addr)
            .args(["download", "photos", "cat.png", local])
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(status),
            "{local:?}: {}",
            stderr_of(&out)
        );
        if local.is_empty() {
            // clap's own usage error, naming the argument.
            assert!(stderr_of(&out).contains("[LOCAL]"), "{}", stderr_of(&out));
        } else {
            assert_eq!(stderr_of(&out), message, "{local:?}");
        }
        let sent = std::mem::take(&mut *requests.lock().unwrap());
        assert!(sent.is_empty(), "{local:?} connected: {sent:?}");
        let out = cli(shell_addr)
            .write_stdin(format!("download photos cat.png '{local}'\n"))
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(status),
            "{local:?}: {}",
            stderr_of(&out)
        );
        assert!(
            stderr_of(&out).ends_with(message),
            "{local:?}: {}",
            stderr_of(&out)
        );
    }
    let sent = shell_requests.lock().unwrap().clone();
    assert!(
        sent.iter().all(|line| !line.starts_with("DOWNLOAD")),
        "{sent:?}"
    );
    assert_eq!(std::fs::read(dir.path().join("plain")).unwrap(), b"a file");
    assert_no_part_files(dir.path());
    // The same server answers a download to a path that can be a file.
    let out = cli(program_addr)
        .args(["download", "photos", "cat.png", "new.txt"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(std::fs::read(dir.path().join("new.txt")).unwrap(), b"hello");
}

/// `download --no-clobber` (`-n`) never replaces a file: one already at
/// LOCAL (given, the default `./NAME`, or a symlink's target) is refused
/// with exit status 1, before the program connects, and kept as it was,
/// content and mode; a missing one is downloaded as without the option,
/// through a dangling symlink too, and standard output is written as ever.
#[cfg(unix)]
#[test]
fn download_no_clobber_refuses_an_existing_file_and_saves_a_missing_one() {
    use std::os::unix::fs::PermissionsExt;
    let (addr, requests) = recording_server();
    let dir = tempfile::tempdir().unwrap();
    let cli = || {
        let mut cmd = Command::cargo_bin("bucket-client").unwrap();
        cmd.args(["-s", &addr.to_string()])
            .env_remove("RUST_LOG")
            .current_dir(dir.path());
        cmd
    };
    let kept = dir.path().join("kept.txt");
    std::fs::write(&kept, b"mine").unwrap();
    std::fs::set_permissions(&kept, std::fs::Permissions::from_mode(0o640)).unwrap();
    std::fs::write(dir.path().join("cat.png"), b"my cat").unwrap();
    std::os::unix::fs::symlink("kept.txt", dir.path().join("link")).unwrap();
    let refused: [(&[&str], &str); 4] = [
        (&["-n", "kept.txt"], "kept.txt"),
        (&["--no-clobber", "kept.txt"], "kept.txt"),
        (&["-n"], "cat.png"),
        (&["link", "-n"], "kept.txt"),
    ];
    for (args, shown) in refused {
        let out = cli()
            .args(["download", "photos", "cat.png"])
            .args(args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr_of(&out));
        assert_eq!(
            stderr_of(&out),
            format!("error: cannot overwrite {shown}: the file exists (--no-clobber)\n"),
            "{args:?}"
        );
        assert_eq!(stdout_of(&out), "");
        let sent = std::mem::take(&mut *requests.lock().unwrap());
        assert!(sent.is_empty(), "{args:?} connected: {sent:?}");
    }
    assert_eq!(std::fs::read(&kept).unwrap(), b"mine");
    let mode = std::fs::metadata(&kept).unwrap().permissions().mode();
    assert_eq!(mode & 0o7777, 0o640, "{mode:o}");
    assert_eq!(
        std::fs::read(dir.path().join("cat.png")).unwrap(),
        b"my cat"
    );
    assert!(
        std::fs::symlink_metadata(dir.path().join("link"))
            .unwrap()
            .is_symlink()
    );
    assert_no_part_files(dir.path());
    // A missing file is downloaded, as without the option.
    let out = cli()
        .args(["download", "-n", "photos", "cat.png", "new.txt"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(stdout_of(&out), "900 FDBS downloaded 5 bytes to new.txt\n");
    assert_eq!(std::fs::read(dir.path().join("new.txt")).unwrap(), b"hello");
    // So is a dangling symlink's target; the link stays.
    std::os::unix::fs::symlink("target.txt", dir.path().join("dangling")).unwrap();
    let out = cli()
        .args(["download", "--no-clobber", "photos", "cat.png", "dangling"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(
        std::fs::read(dir.path().join("target.txt")).unwrap(),
        b"hello"
    );
    assert!(
        std::fs::symlink_metadata(dir.path().join("dangling"))
            .unwrap()
            .is_symlink()
    );
    // Standard output is not a file to replace.
    let out = cli()
        .args(["download", "-n", "photos", "cat.png", "-"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(out.stdout, b"hello");
    assert_no_part_files(dir.path());
    // `--help` says the shell has no such option.
    let out = cli().args(["download", "--help"]).output().unwrap();
    assert!(
        stdout_of(&out).contains("--no-clobber"),
        "{}",
        stdout_of(&out)
    );
    assert!(stdout_of(&out).contains("shell"), "{}", stdout_of(&out));
}

/// An upload from a pipe or a socket needs NAME, as one from `-` does: its
/// own name says nothing (bash's `<(command)` is `/dev/fd/63`, which was
/// stored as `63`). Without NAME it is a usage error, found before the
/// pipe is opened or read; with NAME it is stored under that name.
#[cfg(unix)]
#[test]
fn an_upload_from_a_pipe_needs_a_name() {
    let server = server_with_cat();
    let names = || {
        let mut names: Vec<String> = server
            .client()
            .list_files(Some(&b("photos")))
            .unwrap()
            .into_iter()
            .map(|e| e.name.to_string())
            .collect();
        names.sort();
        names
    };
    // `/dev/fd/0` on a pipe: what `<(command)` gives the program.
    let upload = |name: Option<&str>| {
        server
            .cli()
            .args(["upload", "/dev/fd/0", "photos"])
            .args(name)
            .write_stdin("piped\n")
            .output()
            .unwrap()
    };
    let out = upload(None);
    assert_eq!(out.status.code(), Some(2), "{}", stderr_of(&out));
    assert!(
        stderr_of(&out).starts_with(
            "error: NAME is required when LOCAL is a pipe or a socket (a FIFO, `<(command)`)"
        ),
        "{}",
        stderr_of(&out)
    );
    assert_eq!(names(), ["cat.png"]);
    let out = upload(Some("listing.txt"));
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(names(), ["cat.png", "listing.txt"]);

    // A FIFO by path, with no writer: opening it would block, so its
    // refusal shows it is not opened. In the one-shot program and in the
    // shell.
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
    let out = server
        .cli()
        .arg("upload")
        .arg(&fifo)
        .arg("photos")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr_of(&out));
    assert!(
        stderr_of(&out).starts_with("error: NAME is required when LOCAL is a pipe"),
        "{}",
        stderr_of(&out)
    );
    let fifo_q = shlex::try_quote(&fifo.to_string_lossy())
        .unwrap()
        .into_owned();
    let out = server
        .cli()
        .write_stdin(format!("upload {fifo_q} photos\nls_b\n"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr_of(&out));
    assert_eq!(
        stderr_of(&out),
        "error: <name> is required when <local-path> is a pipe or a socket; \
         usage: UPLOAD <local-path> <bucket> [name, default: the local file's name]\n"
    );
    assert_eq!(stdout_of(&out), "photos\n");
    assert_eq!(names(), ["cat.png", "listing.txt"]);
}

#[test]
fn global_options_may_follow_the_subcommand() {
    let server = server_with_cat();
    let out = Command::new(env!("CARGO_BIN_EXE_bucket-client"))
        .args(["list-buckets", "-s", &server.addr.ip().to_string()])
        .args(["-p", &server.addr.port().to_string(), "--timeout", "30"])
        .env_remove("RUST_LOG")
        .timeout(LIMIT)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(stdout_of(&out), "photos\n");
}

#[test]
fn a_scripted_shell_exits_with_the_last_failure() {
    let server = server_with_cat();
    for (script, status) in [
        ("delete_b photos\nquit\n", 1),
        ("delete_b photos\nls_b\n", 1),
        ("frobnicate\nls_b\nquit\n", 2),
        ("frobnicate\ndelete_b photos\n", 1),
        ("delete_b photos\ncreate_b a/b\n", 2),
        ("ls_b\nquit\n", 0),
    ] {
        let out = server.cli().write_stdin(script).output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(status),
            "{script:?}: {}",
            stderr_of(&out)
        );
    }
}

#[test]
fn download_errors_name_the_destination_not_a_temporary_file() {
    let server = server_with_cat();
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nodir").join("x");
    let out = server
        .cli()
        .args(["download", "photos", "cat.png"])
        .arg(&missing)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr_of(&out),
        format!(
            "error: cannot save {}: the folder {} does not exist\n",
            missing.display(),
            dir.path().join("nodir").display()
        )
    );
    // A full device.
    let out = server
        .cli()
        .args(["download", "photos", "cat.png", "/dev/full"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr_of(&out).starts_with("error: cannot write /dev/full: No space left on device"),
        "{}",
        stderr_of(&out)
    );
}

/// `--max-list-size` bounds the lists the binary keeps: a list over it fails
/// (exit 1) with a message naming the option, `0` lifts the limit, a value
/// that is no size is a usage error. In the shell it holds for every list.
#[test]
fn max_list_size_bounds_lists_and_names_itself_when_reached() {
    let server = server_with_cat();
    for name in ["a", "b"] {
        let out = server
            .cli()
            .args(["upload", "-", "photos", name])
            .write_stdin("x")
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr_of(&out));
    }
    // Three files: 192 bytes of overhead plus three lines of 14-16 bytes.
    let list = |size: &str| {
        server
            .cli()
            .args(["list-files", "photos", "--max-list-size", size])
            .output()
            .unwrap()
    };
    let out = list("200");
    assert_eq!(out.status.code(), Some(1), "{}", stdout_of(&out));
    assert_eq!(
        stderr_of(&out),
        "error: the server's list of 3 items is larger than this client's limit of 200 bytes \
         (--max-list-size raises it; 0 lifts it)\n"
    );
    assert_eq!(stdout_of(&out), "");
    for size in ["1KiB", "0"] {
        let out = list(size);
        assert!(out.status.success(), "{size}: {}", stderr_of(&out));
        assert_eq!(stdout_of(&out).lines().count(), 3, "{size}");
    }
    let out = list("lots");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr_of(&out).contains("--max-list-size"),
        "{}",
        stderr_of(&out)
    );
    // The shell holds it too: one bucket fits in 100 bytes, three files do not.
    let out = server
        .cli()
        .args(["--max-list-size", "100"])
        .write_stdin("ls_b\nls_f photos\n")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    assert!(stdout_of(&out).contains("photos"), "{}", stdout_of(&out));
    assert!(
        stderr_of(&out).contains("list of 3 items"),
        "{}",
        stderr_of(&out)
    );
}

/// In the interactive shell (standard input a terminal), Ctrl-C during a
/// download ends that download's connection, not the shell: the command
/// fails with `interrupted` and leaves no part file, the next command
/// connects again without calling the connection lost, and the history is
/// kept at the end. The "server" stalls the download after 10 bytes, so
/// only the cancel can end it before the 60 s time-out.
#[cfg(target_os = "linux")]
#[test]
fn ctrl_c_in_the_interactive_shell_cancels_the_command_not_the_shell() {
    use std::io::{BufRead, BufReader, Read};
    use std::sync::mpsc;

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (stalled, stalled_rx) = mpsc::channel();
    let server = thread::spawn(move || {
        let read_line = |reader: &mut BufReader<std::net::TcpStream>| {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            line
        };
        // The shell's first connection: the download, stalled.
        let (stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        assert_eq!(read_line(&mut reader), "DOWNLOAD photos big.bin\n");
        (&stream)
            .write_all(b"900 FDBS 1000000\n0123456789")
            .unwrap();
        stalled.send(()).unwrap();
        // Returns when the client shuts the connection down.
        let _ = reader.read_to_end(&mut Vec::new());
        // The next command's connection.
        let (stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        assert_eq!(read_line(&mut reader), "HELLO\n");
        (&stream).write_all(b"100 OK BKT/1 fake\n").unwrap();
        assert_eq!(read_line(&mut reader), "QUIT\n");
        (&stream).write_all(b"200 BYE\n").unwrap();
    });

    let home = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let mut shell = TerminalShell::start(addr, home.path(), work.path());
    shell.type_in(b"download photos big.bin\n");
    stalled_rx.recv_timeout(LIMIT).unwrap();
    // Let the shell block in its read (a socket shut down before the read
    // reads as closed, so the test passes either way).
    thread::sleep(Duration::from_millis(200));
    shell.interrupt();
    shell.type_in(b"hello\nquit\n");

    let (status, stdout, stderr) = shell.finish();
    assert!(status.success(), "{status:?}\n{stdout}\n{stderr}");
    assert!(stderr.contains("error: interrupted"), "{stderr}");
    assert!(!stderr.contains("connection lost"), "{stderr}");
    assert!(stdout.contains("100 OK BKT/1 fake"), "{stdout}");
    let left: Vec<_> = std::fs::read_dir(work.path()).unwrap().collect();
    assert!(left.is_empty(), "{left:?}");
    let history = std::fs::read_to_string(home.path().join(".bucket_history")).unwrap();
    assert!(history.contains("download photos big.bin"), "{history}");
    assert!(history.contains("hello"), "{history}");
    server.join().unwrap();
}

/// With `TERM=dumb` rustyline reads plain lines and the terminal stays in
/// cooked mode, so Ctrl-C at the prompt is a SIGINT, not a key. The shell
/// shows the prompt again on a new line and goes on, as bash does (before,
/// it ended with status 130 and lost the session's history).
#[cfg(target_os = "linux")]
#[test]
fn ctrl_c_at_a_dumb_terminal_prompt_shows_a_new_prompt() {
    let server = server_with_cat();
    let home = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let mut shell = TerminalShell::start(server.addr, home.path(), work.path());
    shell.type_in(b"hello\n");
    // At the prompt after HELLO's answer.
    shell.wait_for("\nc> ");
    shell.interrupt();
    shell.wait_for("c> \nc> ");
    shell.type_in(b"ls_b\nquit\n");
    let (status, stdout, stderr) = shell.finish();
    assert!(status.success(), "{status:?}\n{stdout}\n{stderr}");
    assert!(
        stdout.ends_with("c> \nc> photos\nc> 200 BYE\n"),
        "{stdout:?}"
    );
    assert_eq!(stderr, "");
    let history = std::fs::read_to_string(home.path().join(".bucket_history")).unwrap();
    assert!(history.contains("ls_b"), "{history}");
}

/// With `TERM=dumb`, Ctrl-C at a command's question (`name:` for a missing
/// argument) is a SIGINT too. It cancels the command (`error: cancelled`)
/// and shows the shell's prompt, as rustyline does in raw mode, so the
/// next line typed runs as a command; before, the question was asked
/// again and that line became its answer (`ls_b` downloaded as a name).
#[cfg(target_os = "linux")]
#[test]
fn ctrl_c_at_a_dumb_terminal_question_cancels_the_command() {
    let server = server_with_cat();
    let home = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let mut shell = TerminalShell::start(server.addr, home.path(), work.path());
    shell.type_in(b"download photos\n");
    shell.wait_for("c> name: ");
    shell.interrupt();
    shell.wait_for("name: \nc> ");
    shell.type_in(b"hello\nquit\n");
    let (status, stdout, stderr) = shell.finish();
    assert!(status.success(), "{status:?}\n{stdout}\n{stderr}");
    // `hello` ran as the command it is.
    assert!(stdout.contains("c> name: \nc> 100 OK BKT/1 "), "{stdout:?}");
    assert!(stdout.ends_with("\nc> 200 BYE\n"), "{stdout:?}");
    assert_eq!(stderr, "error: cancelled\n");
    let left: Vec<_> = std::fs::read_dir(work.path()).unwrap().collect();
    assert!(left.is_empty(), "{left:?}");
    let history = std::fs::read_to_string(home.path().join(".bucket_history")).unwrap();
    assert!(history.contains("hello"), "{history}");
}
