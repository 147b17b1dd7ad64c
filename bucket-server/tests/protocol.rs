//! BKT/1 spoken by hand over a raw TcpStream against the real server.
#![allow(clippy::unwrap_used)]

mod common;

use common::{Raw, start_fs, tree, wait_until};

/// Waits (up to 10 s) until the server has no connection left: a dropped
/// peer's connection thread has noticed and cleaned up.
fn wait_for_no_connections(server: &bucket_server::RunningServer) {
    wait_until("connection never ended", || {
        server.handle().active_connections() == 0
    });
}

#[test]
fn protocol_md_dialogue_as_typed_into_nc() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_fs(dir.path());
    let mut c = Raw::connect(server.local_addr());
    c.send("CREATE_B photos\n");
    c.expect("300 BCS");
    // PROTOCOL.md § Dialogues, line for line.
    c.send("UPLOAD\n");
    c.expect("150 NEED bucket");
    c.send("photos\n");
    c.expect("150 NEED name");
    c.send("\"cat 1.png\"\n");
    c.expect("150 NEED size");
    c.send("5\nhello");
    c.expect("700 FUBS");
    assert_eq!(
        std::fs::read(dir.path().join("photos/cat 1.png")).unwrap(),
        b"hello"
    );
    // Cancelling a dialogue: the verb's failure code with ABORTED.
    c.send("DELETE_F\nphotos\n\n");
    c.expect("150 NEED bucket");
    c.expect("150 NEED name");
    c.expect_prefix("1001 DFF ABORTED");
    c.send("QUIT\n");
    c.expect("200 BYE");
    assert!(c.closed());
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_fs(dir.path());
    let mut c = Raw::connect(server.local_addr());
    // Everything in one write, payloads included, without waiting.
    c.send(
        "hello\r\ncreate_b b1\nNEW_BUCKET,b2\nUPLOAD b1 a.txt 3\nabcUPLOAD_FILE b2,\"x y\",0\n\
         LS_F\nDOWNLOAD b1 a.txt\nnope\nDELETE_FILE b1 a.txt\nLIST_BUCKET\nEXIT\n",
    );
    c.expect_prefix("100 OK BKT/1 bucket-server/");
    c.expect("300 BCS");
    c.expect("300 BCS");
    c.expect("700 FUBS");
    c.expect("700 FUBS");
    c.expect("800 LFS 2");
    c.expect("b1 a.txt 3");
    c.expect("b2 \"x y\" 0");
    c.expect("900 FDBS 3");
    assert_eq!(c.bytes(3), b"abc");
    c.expect_prefix("500 BCMD UNKNOWN_VERB");
    c.expect("1000 DFS");
    c.expect("400 LS 2");
    c.expect("b1");
    c.expect("b2");
    c.expect("200 BYE");
    assert!(c.closed());
}

#[test]
fn bad_input_gets_a_reply_and_the_connection_stays_usable() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_fs(dir.path());
    let mut c = Raw::connect(server.local_addr());
    let long = "X".repeat(10_000);
    c.send(format!("CREATE_B {long}\nHELLO\n"));
    c.expect_prefix("500 BCMD LINE_TOO_LONG");
    c.expect_prefix("100 OK");
    c.send(b"CREATE_B \xff\xfe\nUPLOAD b f\\x 2\nxyHELLO a b c d\nDELETE_B \"unterminated\n");
    c.expect_prefix("500 BCMD SYNTAX");
    c.expect_prefix("500 BCMD SYNTAX");
    c.expect_prefix("500 BCMD SYNTAX");
    c.expect_prefix("500 BCMD SYNTAX");
    // An upload to a bucket that does not exist: the payload is read and
    // dropped, then the failure; the stream stays in step.
    c.send("UPLOAD nobucket f.txt 4\nQUITLIST_B\n");
    c.expect_prefix("701 FUBF NO_SUCH_BUCKET");
    c.expect("400 LS 0");
    // A bad name in an upload: same.
    c.send("CREATE_B b\nUPLOAD b ../escape 2\nxyLIST_F b\n");
    c.expect("300 BCS");
    c.expect_prefix("701 FUBF BAD_NAME");
    c.expect("800 LFS 0");
    assert_eq!(tree(dir.path()), [".bkt-staging", "b"]);
}

/// docs/protocol.md, decision 3: an `UPLOAD` line the grammar refuses is
/// still followed by its payload, which must never run as requests.
#[test]
fn a_refused_upload_line_never_runs_its_payload() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_fs(dir.path());
    let mut c = Raw::connect(server.local_addr());
    c.send("CREATE_B photos\nCREATE_B victim\n");
    c.expect("300 BCS");
    c.expect("300 BCS");
    // A plain size: the 16 payload bytes are skipped, the connection goes on.
    c.send(b"UPLOAD photos a\\b 16\nDELETE_B victim\nUPLOAD photos \"t\tab\" 16\nDELETE_B victim\nLIST_B\n");
    c.expect_prefix("500 BCMD SYNTAX");
    c.expect_prefix("500 BCMD SYNTAX");
    c.expect("400 LS 2");
    c.expect("photos");
    c.expect("victim");
    // No size to go by: the reply, then the connection closes unread.
    c.send("UPLOAD photos f 16x\nDELETE_B victim\n");
    c.expect_prefix("500 BCMD SYNTAX");
    assert!(c.closed());
    let mut c = Raw::connect(server.local_addr());
    c.send("LIST_F victim\n");
    c.expect("800 LFS 0");
    assert_eq!(tree(dir.path()), [".bkt-staging", "photos", "victim"]);
}

#[test]
fn traversal_names_are_refused_and_nothing_outside_the_root_is_touched() {
    let outer = tempfile::tempdir().unwrap();
    let root = outer.path().join("root");
    std::fs::create_dir(&root).unwrap();
    let sentinel = outer.path().join("sentinel");
    std::fs::write(&sentinel, b"keep me").unwrap();
    let server = start_fs(&root);
    let mut c = Raw::connect(server.local_addr());
    c.send("CREATE_B b\n");
    c.expect("300 BCS");
    let outside = sentinel.display().to_string();
    for bucket in ["..", "../root", ".", ".bkt-staging", "a/b", "/tmp", "a\\b"] {
        c.send(format!("CREATE_B \"{}\"\n", bucket.replace('\\', "\\\\")));
        c.expect_prefix("301 BCF BAD_NAME");
        c.send(format!("DELETE_B \"{}\"\n", bucket.replace('\\', "\\\\")));
        c.expect_prefix("601 DBF BAD_NAME");
        c.send(format!("LIST_F \"{}\"\n", bucket.replace('\\', "\\\\")));
        c.expect_prefix("801 LFF BAD_NAME");
    }
    for name in [
        "../../sentinel",
        "../sentinel",
        "..",
        ".",
        outside.as_str(),
        ".bkt-staging",
        "a/../../sentinel",
        "..\\\\sentinel",
    ] {
        c.send(format!("UPLOAD b \"{name}\" 4\nevil"));
        c.expect_prefix("701 FUBF BAD_NAME");
        c.send(format!("DOWNLOAD b \"{name}\"\n"));
        c.expect_prefix("901 FDBF BAD_NAME");
        c.send(format!("DELETE_F b \"{name}\"\n"));
        c.expect_prefix("1001 DFF BAD_NAME");
    }
    c.send("QUIT\n");
    c.expect("200 BYE");
    assert_eq!(std::fs::read(&sentinel).unwrap(), b"keep me");
    assert_eq!(
        tree(outer.path()),
        ["root", "root/.bkt-staging", "root/b", "sentinel"]
    );
}

#[test]
fn upload_cut_off_mid_payload_leaves_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_fs(dir.path());
    let mut c = Raw::connect(server.local_addr());
    c.send("CREATE_B b\nUPLOAD b old.bin 3\nold");
    c.expect("300 BCS");
    c.expect("700 FUBS");
    // Replacing old.bin, then vanishing after half the payload.
    c.send("UPLOAD b old.bin 1000000\n");
    c.send(vec![7u8; 500_000]);
    c.send("UPLOAD b new.bin 1000000\n"); // (part of the payload, by count)
    drop(c);
    // The connection thread notices and aborts; wait for it to end.
    wait_for_no_connections(&server);
    assert_eq!(std::fs::read(dir.path().join("b/old.bin")).unwrap(), b"old");
    assert_eq!(tree(dir.path()), [".bkt-staging", "b", "b/old.bin"]);
}

/// 9 MiB + 17 bytes that are not all alike.
fn large_payload() -> Vec<u8> {
    (0..9 * 1024 * 1024 + 17_u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect()
}

#[test]
fn large_uploads_read_straight_into_the_store_arrive_whole() {
    // FsStore stages uploads of 1 MiB and more with direct I/O, and the
    // server reads their payload from the socket straight into its blocks.
    let dir = tempfile::tempdir().unwrap();
    let server = start_fs(dir.path());
    let mut c = Raw::connect(server.local_addr());
    let payload = large_payload();
    let mut input = format!("CREATE_B b\nUPLOAD b big.bin {}\n", payload.len()).into_bytes();
    input.extend_from_slice(&payload);
    // The next request in the same write: not a byte of it is payload.
    input.extend_from_slice(b"LIST_F b\n");
    c.send(&input);
    c.expect("300 BCS");
    c.expect("700 FUBS");
    c.expect("800 LFS 1");
    c.expect(&format!("b big.bin {}", payload.len()));
    assert!(std::fs::read(dir.path().join("b/big.bin")).unwrap() == payload);
    // The same upload cut off after 6 MiB: the old content stays.
    c.send(format!("UPLOAD b big.bin {}\n", payload.len()));
    c.send(&payload[..6 * 1024 * 1024]);
    drop(c);
    wait_for_no_connections(&server);
    assert!(std::fs::read(dir.path().join("b/big.bin")).unwrap() == payload);
    assert_eq!(tree(dir.path()), [".bkt-staging", "b", "b/big.bin"]);
}
