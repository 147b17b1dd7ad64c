//! A peer that hangs up in the middle of a download must not take the
//! server down, even in a process that restored SIGPIPE's default action.
//! Rust programs ignore SIGPIPE, but a program embedding `bucket-server`
//! may restore it (command-line tools do, so that `| head` ends them
//! quietly). Socket writes are sent with `MSG_NOSIGNAL`; `sendfile` has no
//! such flag, and raises SIGPIPE once the connection's reset has been
//! reported. This test is a binary of its own because it changes that
//! process-wide setting.
#![cfg(unix)]
#![allow(unsafe_code, clippy::unwrap_used)]

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::Duration;

use common::Raw;
use nix::sys::signal::{SigHandler, Signal, signal};

/// Payload of the file downloaded: far more than the socket buffers hold,
/// so the server is inside `sendfile` when the peer goes.
const SIZE: usize = 32 << 20;

#[test]
fn a_peer_hanging_up_mid_download_does_not_kill_a_process_with_default_sigpipe() {
    // SAFETY: SIG_DFL installs no handler code; this binary's only test is
    // this one, so no other thread relies on SIGPIPE being ignored.
    unsafe { signal(Signal::SIGPIPE, SigHandler::SigDfl) }.unwrap();

    let root = tempfile::tempdir().unwrap();
    let server = common::start_fs(root.path());
    let addr = server.local_addr();
    let mut raw = Raw::connect(addr);
    raw.send(format!("CREATE_B b\nUPLOAD b big {SIZE}\n"));
    raw.send(vec![b'x'; SIZE]);
    raw.expect("300 BCS");
    raw.expect("700 FUBS");

    // Each round: ask for the file, read a little of it, hang up.
    for _ in 0..100 {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        stream.write_all(b"DOWNLOAD b big\n").unwrap();
        let mut head = [0u8; 4096];
        stream.read_exact(&mut head).unwrap();
        assert!(head.starts_with(format!("900 FDBS {SIZE}\n").as_bytes()));
        stream.shutdown(Shutdown::Both).unwrap();
        drop(stream);
    }

    // Still here (SIGPIPE would have ended this process), and still serving.
    let mut raw = Raw::connect(addr);
    raw.send("LIST_F b\nQUIT\n");
    raw.expect("800 LFS 1");
    raw.expect(&format!("b big {SIZE}"));
    raw.expect("200 BYE");
}
