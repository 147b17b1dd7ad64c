//! A server that hangs up in the middle of an upload must not kill a
//! program using the client library, even one that restored SIGPIPE's
//! default action (Rust programs ignore SIGPIPE; an embedding CLI may
//! restore it so that `| head` ends it quietly). `Client::upload_file` sends
//! with `sendfile`, which cannot be told not to raise SIGPIPE the way socket
//! writes are. This test is a binary of its own because it changes that
//! process-wide setting.
#![cfg(unix)]
#![allow(unsafe_code, clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::thread;
use std::time::Duration;

use bucket_client::{BucketName, Client, FileName};
use nix::sys::signal::{SigHandler, Signal, signal};

/// Upload size: far more than the socket buffers hold, so the client is
/// inside `sendfile` when the server goes.
const SIZE: u64 = 64 << 20;

#[test]
fn a_server_hanging_up_mid_upload_does_not_kill_a_process_with_default_sigpipe() {
    // SAFETY: SIG_DFL installs no handler code; this binary's only test is
    // this one, so no other thread relies on SIGPIPE being ignored.
    unsafe { signal(Signal::SIGPIPE, SigHandler::SigDfl) }.unwrap();

    // Answers HELLO, then takes 1 MiB of an upload's payload and hangs up
    // with the rest unread (so the client's kernel gets a reset).
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        for stream in listener.incoming() {
            let stream = stream.unwrap();
            let mut writer = stream.try_clone().unwrap();
            let mut reader = BufReader::new(stream);
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap_or(0) > 0 {
                if line.starts_with("HELLO") {
                    writer.write_all(b"100 OK BKT/1 hangs-up\n").unwrap();
                } else if line.starts_with("UPLOAD") {
                    let mut taken = vec![0u8; 1 << 20];
                    let _ = reader.read_exact(&mut taken);
                    break;
                }
                line.clear();
            }
        }
    });

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.bin");
    let file = std::fs::File::create(&path).unwrap();
    file.set_len(SIZE).unwrap();
    let bucket = BucketName::new("b").unwrap();
    let name = FileName::new("big.bin").unwrap();
    for _ in 0..1000 {
        let mut client = Client::connect_timeout(addr, Duration::from_secs(10)).unwrap();
        let file = std::fs::File::open(&path).unwrap();
        let result = client.upload_file(&bucket, &name, &file, SIZE);
        assert!(result.is_err(), "the upload cannot have succeeded");
    }
    // Still here: SIGPIPE would have ended this process.
}
