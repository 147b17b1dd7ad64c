//! `bkt-serve` and `bkt-transfer` end to end on a small file: the line that
//! `bench/compare.sh` reads, over both stores.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

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

/// Runs `bkt-transfer` and returns its key=value fields.
fn transfer(addr: &str, args: &[&str]) -> Vec<(String, String)> {
    let out = Command::new(env!("CARGO_BIN_EXE_bkt-transfer"))
        .args(["--server", addr])
        .args(args)
        .output()
        .unwrap();
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
