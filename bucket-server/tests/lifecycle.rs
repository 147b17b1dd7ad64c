//! The server's own life: connection limit, timeouts, shutdown, the binary.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bucket_server::{Config, Server};
use bucket_store::MemStore;
use common::{Raw, config, staged_count, start, start_fs, wait_until};

#[test]
fn connections_over_the_limit_get_busy_and_the_others_are_unaffected() {
    let server = start(
        Config {
            max_connections: 2,
            ..config()
        },
        MemStore::new(),
    );
    let mut a = Raw::connect(server.local_addr());
    let mut b = Raw::connect(server.local_addr());
    a.send("HELLO\n");
    a.expect_prefix("100 OK");
    b.send("HELLO\n");
    b.expect_prefix("100 OK");
    let mut c = Raw::connect(server.local_addr());
    c.expect_prefix("500 BCMD BUSY");
    assert!(c.closed());
    a.send("CREATE_B x\n");
    a.expect("300 BCS");
    // When one leaves, a place is free again.
    b.send("QUIT\n");
    b.expect("200 BYE");
    assert!(b.closed());
    let deadline = Instant::now() + Duration::from_secs(5);
    while server.handle().active_connections() > 1 {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut d = Raw::connect(server.local_addr());
    d.send("LIST_B\n");
    d.expect("400 LS 1");
    d.expect("x");
}

#[test]
fn idle_connections_are_closed_but_a_slow_transfer_is_not_cut() {
    let server = start(
        Config {
            idle_timeout: Duration::from_millis(600),
            ..config()
        },
        MemStore::new(),
    );
    // Silent: closed after the timeout.
    let mut idle = Raw::connect(server.local_addr());
    let t = Instant::now();
    assert!(idle.closed());
    assert!(t.elapsed() >= Duration::from_millis(500));
    // Trickling one request line forever: closed too.
    let mut trickle = Raw::connect(server.local_addr());
    assert_trickling_is_cut(&mut trickle, "a trickled line");
    // The same past 4096 bytes: after `LINE_TOO_LONG`, the rest of the
    // line is dropped as it comes, and trickling it is no way to stay in
    // either (before, nothing was buffered, so only silence counted).
    let mut overlong = Raw::connect(server.local_addr());
    overlong.send("X".repeat(5000));
    overlong.expect_prefix("500 BCMD LINE_TOO_LONG");
    assert_trickling_is_cut(&mut overlong, "a trickled over-long line");
    // A payload that keeps moving, slower than the timeout in total.
    let mut slow = Raw::connect(server.local_addr());
    slow.send("CREATE_B b\nUPLOAD b f 20\n");
    slow.expect("300 BCS");
    for _ in 0..20 {
        slow.send("z");
        std::thread::sleep(Duration::from_millis(100));
    }
    slow.expect("700 FUBS");
}

/// A grace period too long to add to the clock (`--shutdown-grace` of
/// u64::MAX seconds: "never cut") shuts down like any other once the
/// connections end. Before, adding it to `Instant::now()` panicked in the
/// accept thread and in `shutdown`.
#[test]
fn a_grace_period_too_long_for_the_clock_still_shuts_down() {
    let server = start(
        Config {
            shutdown_grace: Duration::MAX,
            ..config()
        },
        MemStore::new(),
    );
    let mut c = Raw::connect(server.local_addr());
    c.send("HELLO\n");
    c.expect_prefix("100 OK");
    // Between requests, so closed at once by the shutdown.
    server.shutdown();
    assert!(c.closed());
}

/// Sends `c` one byte every 100 ms, for 4 s at most, against a 600 ms idle
/// timeout: the server must cut the connection before the 4 s are over.
fn assert_trickling_is_cut(c: &mut Raw, what: &str) {
    let t = Instant::now();
    let mut cut = false;
    for _ in 0..40 {
        if c.writer.write_all(b"X").is_err() {
            cut = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(cut || c.closed(), "{what} must not keep a connection");
    assert!(t.elapsed() < Duration::from_secs(4), "{what}");
}

/// A client that pipelines with writes ending mid-line (a buffered writer
/// that flushes by size) always has part of a line buffered, but each line
/// completes at once: the request-line limit counts from the start of the
/// line still open, not from the first partial line the connection ever
/// had. Before, such a client was cut as "request line too slow" one idle
/// timeout after its first write.
#[test]
fn pipelined_writes_that_end_mid_line_are_not_a_slow_request_line() {
    let server = start(
        Config {
            idle_timeout: Duration::from_millis(600),
            ..config()
        },
        MemStore::new(),
    );
    let mut c = Raw::connect(server.local_addr());
    c.send("HEL");
    let t = Instant::now();
    // Five idle timeouts, each write finishing one line and starting the
    // next.
    while t.elapsed() < Duration::from_secs(3) {
        std::thread::sleep(Duration::from_millis(100));
        c.send("LO\nHEL");
        c.expect_prefix("100 OK");
    }
    c.send("LO\n");
    c.expect_prefix("100 OK");
}

/// The idle timeout counts silence from the last byte either way: a
/// download that took longer than the timeout is no silence, and the next
/// request on that connection is answered.
///
/// "The last byte" is the last the server handed to the kernel. This peer
/// keeps its receive buffer small so that the server's last write comes
/// just before this peer's last read. With the kernel's autotuned buffers
/// (up to `tcp_rmem`'s 32 MiB here), most of the file could sit in them
/// while the server already counted silence, and a slow reader's next
/// request would come after the timeout (how this test once failed in CI).
#[test]
fn a_download_longer_than_the_idle_timeout_leaves_the_connection_usable() {
    const TIMEOUT: Duration = Duration::from_millis(1500);
    const SIZE: usize = 64 << 20;
    const PIECE: usize = 256 << 10;
    let server = start(
        Config {
            idle_timeout: TIMEOUT,
            ..config()
        },
        MemStore::new(),
    );
    let mut c = Raw::connect(server.local_addr());
    rustix::net::sockopt::set_socket_recv_buffer_size(&c.writer, PIECE).unwrap();
    c.send(format!("CREATE_B b\nUPLOAD b f {SIZE}\n"));
    c.send(vec![b'x'; SIZE]);
    c.expect("300 BCS");
    c.expect("700 FUBS");
    c.send("DOWNLOAD b f\n");
    c.expect(&format!("900 FDBS {SIZE}"));
    // Read it at 256 KiB per 10 ms: over 2.5 s, so the server writes for
    // longer than the timeout. What the buffers hold at the end (the
    // server's send buffer, 4 MiB at most by `tcp_wmem`, and this one)
    // drains in about 200 ms.
    let t = Instant::now();
    let mut piece = vec![0; PIECE];
    for _ in 0..SIZE / PIECE {
        std::io::Read::read_exact(&mut c.reader, &mut piece).unwrap();
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(t.elapsed() > TIMEOUT);
    // Quiet for a third of the timeout, longer than the server's 250 ms
    // read tick (it looks at the idle clock only when a tick passes with
    // nothing), then the next request.
    std::thread::sleep(TIMEOUT / 3);
    c.send("HELLO\n");
    c.expect_prefix("100 OK");
}

#[test]
fn shutdown_lets_a_transfer_in_flight_finish_and_closes_idle_connections() {
    let server = start(config(), MemStore::new());
    let mut idle = Raw::connect(server.local_addr());
    idle.send("HELLO\n");
    idle.expect_prefix("100 OK");
    let mut busy = Raw::connect(server.local_addr());
    busy.send("CREATE_B b\nUPLOAD b f 6\nhal");
    busy.expect("300 BCS");
    let handle = server.handle();
    let stopper = std::thread::spawn(move || handle.shutdown());
    std::thread::sleep(Duration::from_millis(600));
    assert!(idle.closed(), "an idle connection closes at shutdown");
    busy.send("f!\n");
    busy.expect("700 FUBS");
    assert!(busy.closed(), "closed once the request in flight is done");
    stopper.join().unwrap();
    assert_eq!(server.handle().active_connections(), 0);
    let addr = server.local_addr();
    server.shutdown(); // joins the accept thread, which drops the listener
    assert!(std::net::TcpStream::connect(addr).is_err());
}

/// The `bucket-server` binary on a free port over `root`, with `extra`
/// options, run through the command `wrapper` (empty: none; `nohup`, or
/// [`ulimit`]'s, which keep its PID). Returns it, its address (from its
/// "listening addr=…" log line) and its log until that line.
///
/// Before the wrapper, GNU env's `--default-signal` gives the server
/// SIGINT, SIGTERM and SIGHUP at their default action whatever the tests
/// inherited: the server keeps a signal it was started with ignored, so
/// under `nohup cargo test` the signal tests would otherwise test nohup.
fn spawn_binary(
    root: &std::path::Path,
    wrapper: &[String],
    extra: &[&str],
) -> (Spawned, std::net::SocketAddr, String) {
    let (child, addr, log, mut stderr) = spawn_binary_with_stderr(root, wrapper, extra);
    std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
    (child, addr, log)
}

/// [`spawn_binary`], handing back the rest of the server's stderr (its
/// log) instead of reading it.
fn spawn_binary_with_stderr(
    root: &std::path::Path,
    wrapper: &[String],
    extra: &[&str],
) -> (
    Spawned,
    std::net::SocketAddr,
    String,
    std::io::BufReader<std::process::ChildStderr>,
) {
    let binary = env!("CARGO_BIN_EXE_bucket-server");
    let mut cmd = Command::new("env");
    cmd.arg("--default-signal=HUP,INT,TERM")
        .args(wrapper)
        .arg(binary);
    let mut child = cmd
        .arg("--root")
        .arg(root)
        .args(["--listen", "127.0.0.1:0"])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .env("RUST_LOG", "info")
        .spawn()
        .unwrap();
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut log = String::new();
    let mut line = String::new();
    let addr = loop {
        line.clear();
        let read = std::io::BufRead::read_line(&mut stderr, &mut line).unwrap();
        assert!(read > 0, "the server ended before listening: {log}");
        log.push_str(&line);
        if let Some(a) = line.split("addr=").nth(1) {
            break a.trim().parse().unwrap();
        }
    };
    (Spawned(child), addr, log, stderr)
}

/// A spawned server process, killed (and reaped) when dropped, so that a
/// failing test leaves no server behind.
struct Spawned(std::process::Child);

impl std::ops::Deref for Spawned {
    type Target = std::process::Child;
    fn deref(&self) -> &std::process::Child {
        &self.0
    }
}

impl std::ops::DerefMut for Spawned {
    fn deref_mut(&mut self) -> &mut std::process::Child {
        &mut self.0
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A `wrapper` for [`spawn_binary`]: nohup(1), which starts the server
/// with SIGHUP ignored.
fn nohup() -> Vec<String> {
    vec!["nohup".into()]
}

/// A `wrapper` for [`spawn_binary`] that sets `ulimit` `options` first.
fn ulimit(options: &str) -> Vec<String> {
    vec![
        "bash".into(),
        "-c".into(),
        format!("ulimit {options} && exec \"$@\""),
        "bash".into(),
    ]
}

/// Sends `signal` (a `kill` name: TERM, HUP, …) to `child`.
fn signal(child: &std::process::Child, signal: &str) {
    let kill = Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
}

/// Waits up to 10 s for `child` to exit; its status.
fn exit_status(child: &mut std::process::Child, what: &str) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("server did not stop on {what}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn the_binary_serves_and_exits_0_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, addr, _) = spawn_binary(&dir.path().join("buckets"), &[], &[]);
    let mut c = Raw::connect(addr);
    c.send("CREATE_B made-by-test\n");
    c.expect("300 BCS");
    assert!(dir.path().join("buckets/made-by-test").is_dir());
    signal(&child, "TERM");
    assert_eq!(exit_status(&mut child, "SIGTERM").code(), Some(0));
}

/// A log reader that goes away (a `| tee` killed, a log collector
/// restarted) leaves the server serving and stoppable: log lines it cannot
/// write are dropped. Before, tracing-subscriber reported each failed write
/// with `eprintln!`, which panics on a broken stderr, so every thread that
/// logged died: connections were cut at their first request and SIGTERM
/// no longer stopped the server.
#[test]
fn a_log_reader_that_goes_away_leaves_the_server_serving_and_stoppable() {
    let dir = tempfile::tempdir().unwrap();
    let (child, addr, _, stderr) = spawn_binary_with_stderr(dir.path(), &[], &[]);
    drop(stderr);
    serves_then_stops_on_sigterm(child, addr, 2, "its log reader gone");
}

/// A log reader that stays but stops reading (a paused `| less`, a stalled
/// log shipper) fills the stderr pipe. Log lines then wait in the log
/// thread's queue or are dropped; the connections that log and the signal
/// thread go on. Before, the first thread to log blocked in `write` holding
/// the writer's lock, every connection blocked behind it after about 400
/// requests, and SIGTERM, whose thread logged before starting the
/// shutdown, did nothing.
#[test]
fn a_log_reader_that_stops_reading_leaves_the_server_serving_and_stoppable() {
    let dir = tempfile::tempdir().unwrap();
    // Kept open and never read again.
    let (child, addr, _, _stderr) = spawn_binary_with_stderr(dir.path(), &[], &[]);
    // Each request logs a line of about 100 bytes: far more than a pipe
    // holds (64 KiB).
    serves_then_stops_on_sigterm(child, addr, 5000, "its log reader stalled");
}

/// The spawned server answers `hellos` HELLOs on one connection, then a
/// `CREATE_B` on a new one, then exits 0 on SIGTERM (`what`: the condition
/// it runs in, for the failure message).
fn serves_then_stops_on_sigterm(
    mut child: Spawned,
    addr: std::net::SocketAddr,
    hellos: usize,
    what: &str,
) {
    let mut c = Raw::connect(addr);
    for _ in 0..hellos {
        c.send("HELLO\n");
        c.expect_prefix("100 OK");
    }
    let mut other = Raw::connect(addr);
    other.send("CREATE_B b\n");
    other.expect("300 BCS");
    signal(&child, "TERM");
    assert_eq!(
        exit_status(&mut child, &format!("SIGTERM, {what}")).code(),
        Some(0)
    );
}

/// Option values that cannot work are refused with a usage error (exit 2)
/// naming the option, instead of being bent (`--idle-timeout 0` used to
/// become 1 s) or taken (`--max-connections 0` answered every client BUSY);
/// `--listen` takes a host name.
#[test]
fn the_binary_refuses_option_values_that_cannot_work_and_takes_a_host_name() {
    let dir = tempfile::tempdir().unwrap();
    for (option, value) in [
        ("--max-connections", "0"),
        ("--idle-timeout", "0"),
        ("--max-concurrent-listings", "0"),
        ("--max-upload-size", "lots"),
        ("--max-upload-size", "10 XB"),
        ("--listen", "nowhere.invalid:4567"),
        ("--listen", "127.0.0.1"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_bucket-server"))
            .arg("--root")
            .arg(dir.path())
            .args([option, value])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{option} {value}: {stderr}");
        assert!(stderr.contains(option), "{option} {value}: {stderr}");
    }
    // Nothing was started, so nothing was created.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    let (_child, addr, _) = spawn_binary(
        dir.path(),
        &[],
        &["--listen", "localhost:0", "--max-concurrent-listings", "1"],
    );
    assert!(addr.ip().is_loopback(), "{addr}");
    let mut c = Raw::connect(addr);
    c.send("HELLO\nLIST_F\n");
    c.expect_prefix("100 OK");
    c.expect("800 LFS 0");
}

/// The binary logs, before `listening addr=…`, the settings in force: the
/// store's (`direct_io`, `max_direct_uploads`) and the server's limits,
/// defaults and options alike.
#[test]
fn the_binary_logs_its_effective_settings_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let (_child, _, log) = spawn_binary(
        dir.path(),
        &[],
        &[
            "--max-connections",
            "33",
            "--idle-timeout",
            "9",
            "--max-upload-size",
            "1KiB",
            "--max-concurrent-listings",
            "2",
            "--shutdown-grace",
            "4",
            "--no-direct-io",
        ],
    );
    let line = |message: &str| {
        let found = log.lines().find(|l| l.contains(message));
        found.unwrap_or_else(|| panic!("no {message:?} line in {log}"))
    };
    let store = line("serving buckets");
    assert!(
        store.contains("direct_io=false max_direct_uploads=8"),
        "{store}"
    );
    let settings = line("settings");
    for part in [
        " INFO ",
        "max_connections=33 ",
        "idle_timeout=9s ",
        "max_upload_size=1024 ",
        "max_concurrent_listings=2 ",
        "shutdown_grace=4s",
    ] {
        assert!(settings.contains(part), "{part:?} not in {settings}");
    }
    let dir = tempfile::tempdir().unwrap();
    let (_child, _, log) = spawn_binary(dir.path(), &[], &[]);
    let store = log.lines().find(|l| l.contains("serving buckets")).unwrap();
    let on = cfg!(target_os = "linux");
    assert!(
        store.contains(&format!("direct_io={on} max_direct_uploads=8")),
        "{store}"
    );
    assert!(log.contains("max_upload_size=none "), "{log}");
}

/// `--max-upload-size` takes a unit: `1KiB` is 1024 bytes, `1KB` 1000.
#[test]
fn the_binary_reads_the_upload_size_limit_with_a_unit() {
    for (limit, bytes) in [("1KiB", 1024), ("1KB", 1000), ("1000", 1000)] {
        let dir = tempfile::tempdir().unwrap();
        let (_child, addr, _) = spawn_binary(dir.path(), &[], &["--max-upload-size", limit]);
        let mut c = Raw::connect(addr);
        c.send("CREATE_B b\n");
        c.expect("300 BCS");
        c.send(format!("UPLOAD b at-limit {bytes}\n{}", "x".repeat(bytes)));
        c.expect_prefix("700 FUBS");
        c.send(format!("UPLOAD b over-limit {}\n", bytes + 1));
        c.expect_prefix("701 FUBF TOO_LARGE");
        assert!(c.closed(), "{limit}");
    }
}

#[test]
fn the_binary_stops_on_sighup_unless_started_under_nohup() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, ..) = spawn_binary(dir.path(), &[], &[]);
    signal(&child, "HUP");
    assert_eq!(exit_status(&mut child, "SIGHUP").code(), Some(0));

    // nohup: the terminal going away does not stop the server.
    let (mut child, addr, _) = spawn_binary(dir.path(), &nohup(), &[]);
    signal(&child, "HUP");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        child.try_wait().unwrap(),
        None,
        "SIGHUP stopped it under nohup"
    );
    let mut c = Raw::connect(addr);
    c.send("HELLO\n");
    c.expect_prefix("100 OK BKT/1");
    drop(c);
    signal(&child, "TERM");
    assert_eq!(exit_status(&mut child, "SIGTERM").code(), Some(0));
}

#[test]
fn a_second_signal_cuts_the_transfers_the_first_let_finish() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, addr, _) = spawn_binary(dir.path(), &[], &["--shutdown-grace", "60"]);
    // An upload in flight: 10 of its 1000 bytes sent, the rest held back.
    let mut c = Raw::connect(addr);
    c.send("CREATE_B b\nUPLOAD b f 1000\n0123456789");
    c.expect("300 BCS");
    wait_until("upload not staged", || staged_count(dir.path()) > 0);
    signal(&child, "TERM");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        child.try_wait().unwrap(),
        None,
        "the first signal waits for the transfer"
    );
    signal(&child, "TERM");
    let started = Instant::now();
    assert_eq!(exit_status(&mut child, "a second SIGTERM").code(), Some(0));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(c.closed(), "the upload's connection was cut");
    assert!(
        !dir.path().join("b/f").exists(),
        "the cut upload left no file"
    );
}

/// The soft and hard "Max open files" of a process, from /proc.
#[cfg(target_os = "linux")]
fn open_files_limits(pid: u32) -> (String, String) {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    let fields: Vec<&str> = line.split_whitespace().collect();
    (fields[3].to_owned(), fields[4].to_owned())
}

#[test]
#[cfg(target_os = "linux")]
fn the_binary_raises_a_low_open_files_limit_and_warns_when_it_cannot() {
    let dir = tempfile::tempdir().unwrap();
    // A soft limit of 64 (two connections take five descriptors each at
    // most) is raised to the hard limit, and many connections are served.
    let (mut child, addr, _) = spawn_binary(&dir.path().join("a"), &ulimit("-Sn 64"), &[]);
    let (soft, hard) = open_files_limits(child.id());
    assert_eq!(soft, hard, "soft limit raised to the hard one");
    let mut held = Vec::new();
    for _ in 0..100 {
        let mut c = Raw::connect(addr);
        c.send("HELLO\n");
        c.expect_prefix("100 OK BKT/1");
        held.push(c);
    }
    drop(held);
    signal(&child, "TERM");
    assert_eq!(exit_status(&mut child, "SIGTERM").code(), Some(0));

    // Hard limit 256 too: nothing to raise, and 1024 connections may need
    // more, which the log says before the server starts serving.
    let (mut child, _, log) = spawn_binary(&dir.path().join("b"), &ulimit("-n 256"), &[]);
    assert!(
        log.contains("the open-files limit is below what --max-connections may need"),
        "{log}"
    );
    signal(&child, "TERM");
    assert_eq!(exit_status(&mut child, "SIGTERM").code(), Some(0));
}

#[test]
fn a_second_server_on_the_same_root_refuses_to_start_and_harms_no_upload() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_fs(dir.path());
    let mut c = Raw::connect(server.local_addr());
    c.send("CREATE_B b\nUPLOAD b f 6\nabc");
    c.expect("300 BCS");
    // The upload is staged and half sent when a second server starts on
    // the same root (say, by mistake, on another port).
    wait_until("upload not started", || staged_count(dir.path()) > 0);
    let mut second = Command::new(env!("CARGO_BIN_EXE_bucket-server"))
        .arg("--root")
        .arg(dir.path())
        .args(["--listen", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = second.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = second.kill();
            let _ = second.wait();
            panic!("a second server started on a root in use");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(!status.success());
    let mut log = String::new();
    std::io::Read::read_to_string(&mut second.stderr.take().unwrap(), &mut log).unwrap();
    assert!(log.contains("in use by another store"), "{log}");
    // It deleted nothing: the first server's upload completes.
    assert_eq!(staged_count(dir.path()), 1);
    c.send("def");
    c.expect("700 FUBS");
    assert_eq!(std::fs::read(dir.path().join("b/f")).unwrap(), b"abcdef");
    drop(c);
    server.shutdown();
}

/// A root the server may read but not write (mode 0555, no staging folder
/// yet) stops the binary at start with a message naming what failed and
/// where, not only `Permission denied (os error 13)` (audit §9). Root
/// writes anyway, so run as root, the test runs the binary as `nobody`
/// (uid 65534), from a copy it can execute.
#[cfg(unix)]
#[test]
fn a_root_the_server_may_not_write_is_refused_naming_the_staging_folder() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    use std::os::unix::process::CommandExt;
    let set_mode = |path: &std::path::Path, mode: u32| {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    };
    let dir = tempfile::tempdir().unwrap();
    set_mode(dir.path(), 0o755);
    let root = dir.path().join("root");
    std::fs::create_dir(&root).unwrap();
    set_mode(&root, 0o555);
    let as_root = std::fs::metadata(&root).unwrap().uid() == 0;
    let exe = if as_root {
        let exe = dir.path().join("bucket-server");
        std::fs::copy(env!("CARGO_BIN_EXE_bucket-server"), &exe).unwrap();
        set_mode(&exe, 0o755);
        exe
    } else {
        env!("CARGO_BIN_EXE_bucket-server").into()
    };
    let mut cmd = Command::new(&exe);
    cmd.arg("--root")
        .arg(&root)
        .args(["--listen", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .env("RUST_LOG", "info");
    if as_root {
        cmd.uid(65534).gid(65534);
    }
    // A child another test forks while the copy is being written holds it
    // open for writing until it runs its own program: the copy is busy
    // (ETXTBSY) for that moment.
    let deadline = Instant::now() + Duration::from_secs(10);
    let out = loop {
        match cmd.output() {
            Err(e)
                if e.kind() == std::io::ErrorKind::ExecutableFileBusy
                    && Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(10));
            }
            result => break result.unwrap(),
        }
    };
    let log = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{log}");
    let expected = format!(
        "cannot create {}/.bkt-staging (the staging folder for uploads): Permission denied",
        root.display()
    );
    assert!(log.contains(&expected), "{log}");
    assert_eq!(std::fs::read_dir(&root).unwrap().count(), 0);
}

/// `Server::bind` refuses, with `InvalidInput` naming the setting, a
/// config under which no connection could be served.
#[test]
fn a_config_that_could_serve_no_one_is_refused_at_bind() {
    let refused = |config: Config, setting: &str| match Server::bind(config, MemStore::new()) {
        Ok(_) => panic!("bind accepted a config that serves no one ({setting})"),
        Err(e) => {
            assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput, "{setting}");
            assert!(e.to_string().contains(setting), "{e}");
        }
    };
    refused(
        Config {
            max_connections: 0,
            ..config()
        },
        "max_connections",
    );
    refused(
        Config {
            idle_timeout: Duration::ZERO,
            ..config()
        },
        "idle_timeout",
    );
    refused(
        Config {
            max_concurrent_listings: 0,
            ..config()
        },
        "max_concurrent_listings",
    );
    // One connection and a second of silence are enough to serve.
    let server = start(
        Config {
            max_connections: 1,
            idle_timeout: Duration::from_secs(1),
            ..config()
        },
        MemStore::new(),
    );
    let mut c = Raw::connect(server.local_addr());
    c.send("HELLO\n");
    c.expect_prefix("100 OK");
}
