//! The server binary killed with SIGKILL mid-upload, then restarted: no
//! partial file in any bucket, and the staging area is cleaned at start.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use common::{Raw, tree, wait_until};

/// The server process; killed and reaped when dropped, even if a test fails.
struct ServerProcess(Child);

impl ServerProcess {
    /// SIGKILL, and wait for it to be gone.
    fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Starts the binary over `root` on a free port; returns it and its address
/// (read from its log line `listening addr=…`).
#[allow(clippy::zombie_processes)] // the child is returned; ServerProcess reaps it
fn spawn_server(root: &Path) -> (ServerProcess, SocketAddr) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_bucket-server"))
        .arg("--root")
        .arg(root)
        .args(["--listen", "127.0.0.1:0"])
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    loop {
        line.clear();
        if stderr.read_line(&mut line).unwrap_or(0) == 0 {
            let status = child.wait();
            panic!("server exited before listening: {status:?}");
        }
        if let Some(a) = line.split("addr=").nth(1) {
            let addr = a.trim().parse().unwrap();
            std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
            return (ServerProcess(child), addr);
        }
    }
}

fn staging(root: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(root.join(".bkt-staging"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn sigkill_mid_upload_leaves_no_partial_file_and_restart_cleans_staging() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("buckets");
    let (mut server, addr) = spawn_server(&root);
    let mut c = Raw::connect(addr);
    c.send("CREATE_B b\nUPLOAD b keep.txt 4\nkeep");
    c.expect("300 BCS");
    c.expect("700 FUBS");
    // Replace keep.txt, and start another, both cut by SIGKILL.
    c.send("UPLOAD b keep.txt 8000000\n");
    c.send(vec![9u8; 3_000_000]);
    let mut d = Raw::connect(addr);
    d.send("UPLOAD b new.bin 8000000\n");
    d.send(vec![8u8; 3_000_000]);
    // Wait until both uploads are staged on disk, then kill.
    wait_until("uploads never staged", || staging(&root).len() >= 2);
    server.kill(); // SIGKILL
    // No partial file in any bucket; old content intact; staged bytes remain.
    assert_eq!(std::fs::read(root.join("b/keep.txt")).unwrap(), b"keep");
    assert!(!root.join("b/new.bin").exists());
    assert_eq!(staging(&root).len(), 2);
    // Restart: the staging area is emptied, and the store serves as before.
    let (mut server, addr) = spawn_server(&root);
    assert_eq!(staging(&root), Vec::<String>::new());
    assert_eq!(tree(&root), [".bkt-staging", "b", "b/keep.txt"]);
    let mut c = Raw::connect(addr);
    c.send("DOWNLOAD b keep.txt\n");
    c.expect("900 FDBS 4");
    assert_eq!(c.bytes(4), b"keep");
    server.kill();
}
