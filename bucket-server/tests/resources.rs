//! Nothing leaks: threads, file descriptors and staging files return to
//! their baseline after clients vanish mid-transfer and after connection
//! bursts. One test per process state, run in sequence (the counts are of
//! this whole process).
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use bucket_server::{RunningServer, ServerHandle};
use bucket_store::FsStore;
use common::{Raw, config, staged_count, start, tree};

fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

fn fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// Waits until the server has no connection and the process is back to
/// `baseline` threads and descriptors; panics after 10 s.
fn settle(handle: &ServerHandle, baseline: (usize, usize)) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let now = (threads(), fds());
        if handle.active_connections() == 0 && now.0 <= baseline.0 && now.1 <= baseline.1 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "not back to baseline: {now:?} (threads, fds) vs {baseline:?}, {} connections",
            handle.active_connections()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn nothing_leaks() {
    let dir = tempfile::tempdir().unwrap();
    let server: RunningServer = start(config(), FsStore::open(dir.path()).unwrap());
    let addr = server.local_addr();
    let handle = server.handle();
    let mut setup = Raw::connect(addr);
    setup.send("CREATE_B b\nUPLOAD b big.bin 33554432\n");
    let chunk = vec![0x5au8; 1 << 20];
    for _ in 0..32 {
        setup.send(&chunk);
    }
    setup.expect("300 BCS");
    setup.expect("700 FUBS");
    setup.send("QUIT\n");
    setup.expect("200 BYE");
    drop(setup);
    std::thread::sleep(Duration::from_millis(100));
    let baseline = (threads(), fds());
    settle(&handle, baseline);

    // 1. Clients vanish mid-upload, ten times over.
    for i in 0..10 {
        let mut c = Raw::connect(addr);
        c.send(format!("UPLOAD b gone-{i}.bin 10000000\n"));
        c.send(&chunk);
        drop(c);
    }
    settle(&handle, baseline);
    assert_eq!(staged_count(dir.path()), 0, "staging files left behind");
    assert_eq!(tree(dir.path()), [".bkt-staging", "b", "b/big.bin"]);

    // 2. Clients vanish mid-download of a 32 MiB file.
    for _ in 0..10 {
        let mut s = TcpStream::connect(addr).unwrap();
        s.write_all(b"DOWNLOAD b big.bin\n").unwrap();
        let mut some = vec![0u8; 64 * 1024];
        s.read_exact(&mut some).unwrap();
        drop(s);
    }
    settle(&handle, baseline);

    // 3. A burst of 2,000 connections opened and closed.
    for i in 0..2000 {
        let mut s = TcpStream::connect(addr).unwrap();
        if i % 2 == 0 {
            s.write_all(b"HELLO\n").unwrap();
        }
    }
    settle(&handle, baseline);

    // 4. 200 held open at once, each served, then all closed.
    let mut held: Vec<Raw> = (0..200).map(|_| Raw::connect(addr)).collect();
    for c in &mut held {
        c.send("LIST_B\n");
    }
    for c in &mut held {
        c.expect("400 LS 1");
        c.expect("b");
    }
    assert_eq!(handle.active_connections(), 200);
    drop(held);
    settle(&handle, baseline);

    // And it keeps answering.
    let mut c = Raw::connect(addr);
    c.send("LIST_F b\n");
    c.expect("800 LFS 1");
    c.expect("b big.bin 33554432");
}
