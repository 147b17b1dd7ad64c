//! `bkt-serve`, `bkt-transfer` and `bkt-rtt` end to end: the lines that
//! `bench/compare.sh` and `bench/round_trips.sh` read, over both stores, and
//! the errors they stop on.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Output, Stdio};
use std::thread::JoinHandle;

/// A `bkt-serve` child, killed when dropped.
struct Serve(Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `bkt-serve` with `store_args` on a free port; returns it and its
/// address as printed.
fn serve(store_args: &[&str]) -> (Serve, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_bkt-serve"))
        .args(["--listen", "127.0.0.1:0"])
        .args(store_args)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap()
        .to_owned();
    (Serve(child), addr)
}

/// Runs the tool `exe` against `addr`.
fn run(exe: &str, addr: &str, args: &[&str]) -> Output {
    Command::new(exe)
        .args(["--server", addr])
        .args(args)
        .output()
        .unwrap()
}

/// Runs `bkt-transfer` and returns its key=value fields.
fn transfer(addr: &str, args: &[&str]) -> Vec<(String, String)> {
    fields(run(env!("CARGO_BIN_EXE_bkt-transfer"), addr, args))
}

/// Runs `bkt-rtt` and returns its key=value fields.
fn rtt(addr: &str, args: &[&str]) -> Vec<(String, String)> {
    fields(run(env!("CARGO_BIN_EXE_bkt-rtt"), addr, args))
}

/// The key=value fields of a successful tool's one output line.
fn fields(out: Output) -> Vec<(String, String)> {
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.lines().count(), 1, "{text}");
    text.split_whitespace()
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap();
            (k.to_owned(), v.to_owned())
        })
        .collect()
}

fn field<'a>(fields: &'a [(String, String)], key: &str) -> &'a str {
    &fields.iter().find(|(k, _)| k == key).unwrap().1
}

#[test]
fn upload_then_download_over_both_stores() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("payload.bin");
    std::fs::write(&file, vec![7u8; 300_000]).unwrap();
    let root = dir.path().join("root");
    for store in [vec!["--mem"], vec!["--root", root.to_str().unwrap()]] {
        let (_server, addr) = serve(&store);
        let file = file.to_str().unwrap();
        let up = transfer(&addr, &["upload", file, "bench", "p.bin"]);
        assert_eq!(field(&up, "op"), "upload");
        assert_eq!(field(&up, "bytes"), "300000");
        assert!(field(&up, "seconds").parse::<f64>().unwrap() > 0.0);
        assert!(field(&up, "mb_per_s").parse::<f64>().unwrap() > 0.0);
        // Again: the bucket exists now, and the file is replaced.
        transfer(&addr, &["upload", file, "bench", "p.bin"]);
        let down = transfer(&addr, &["download", "bench", "p.bin"]);
        assert_eq!(field(&down, "op"), "download");
        assert_eq!(field(&down, "bytes"), "300000");
    }
}

#[test]
fn a_missing_file_is_an_error() {
    let (_server, addr) = serve(&["--mem"]);
    let out = Command::new(env!("CARGO_BIN_EXE_bkt-transfer"))
        .args(["--server", &addr, "download", "bench", "nope"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("NO_SUCH_BUCKET"));
}

/// `field` as a number.
fn number(fields: &[(String, String)], key: &str) -> f64 {
    field(fields, key).parse().unwrap()
}

/// A one-connection server on a free port that answers every line it reads
/// with `answer(line)`; returns its address and thread.
fn line_server(answer: fn(&[u8]) -> Vec<u8>) -> (String, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let thread = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut writer: TcpStream = stream.try_clone().unwrap();
        let mut reader = BufReader::new(stream);
        let mut line = Vec::new();
        // Until the client hangs up (a reset, when it left bytes unread).
        while matches!(reader.read_until(b'\n', &mut line), Ok(1..)) {
            if writer.write_all(&answer(&line)).is_err() {
                break;
            }
            line.clear();
        }
    });
    (addr, thread)
}

#[test]
fn round_trips_against_bucket_server() {
    let (_server, addr) = serve(&["--mem"]);
    for extra in [&[][..], &["--busy-poll"]] {
        let args = [&["--count", "300", "--warm-up", "20"][..], extra].concat();
        let out = rtt(&addr, &args);
        assert_eq!(field(&out, "round_trips"), "300");
        let (mean, p50, p99) = (
            number(&out, "mean_us"),
            number(&out, "p50_us"),
            number(&out, "p99_us"),
        );
        assert!(mean > 0.0 && p50 > 0.0 && p50 <= p99, "{out:?}");
        let per_s = number(&out, "per_s");
        let seconds = number(&out, "seconds");
        assert!((per_s * seconds - 300.0).abs() < 1.0, "{out:?}");
    }
}

#[test]
fn round_trips_against_an_echo_server() {
    // The seed's server sends each line back, as this one does.
    let (addr, thread) = line_server(|line| line.to_vec());
    let out = rtt(
        &addr,
        &["--count", "50", "--warm-up", "5", "--line", "ping"],
    );
    assert_eq!(field(&out, "round_trips"), "50");
    thread.join().unwrap();
}

#[test]
fn a_reply_of_two_lines_is_an_error() {
    let (addr, thread) = line_server(|_| b"one\ntwo\n".to_vec());
    let out = run(env!("CARGO_BIN_EXE_bkt-rtt"), &addr, &["--count", "5"]);
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("more than one reply line"), "{err}");
    thread.join().unwrap();
}

#[test]
fn a_server_that_hangs_up_is_an_error() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let thread = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut first = [0u8; 6];
        stream.read_exact(&mut first).unwrap();
        // Closes without answering.
    });
    let out = run(env!("CARGO_BIN_EXE_bkt-rtt"), &addr, &["--count", "5"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("closed the connection"), "{err}");
    thread.join().unwrap();
}
