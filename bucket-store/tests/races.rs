//! FsStore's confinement against someone who changes the root while the
//! store runs: a bucket folder, a file or the staging folder swapped for a
//! symlink or a FIFO between the store's check and its use. The store works
//! through folder handles opened without following symlinks, so no such
//! swap leads outside the root or blocks a thread.
//!
//! The swaps use `renameat2(RENAME_EXCHANGE)`, which only Linux has. With
//! path-based opens (before), the first test served the outside file within
//! about 300 opens and the second blocked within about 16,000.
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used)]

mod common;

use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::FileTypeExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use bucket_store::{FsStore, Store, StoreError, Upload};
use common::{bucket, file, put};

/// Swaps the entries `a` and `b` (`RENAME_EXCHANGE`) as fast as it can
/// until `stop` is set; returns how many times.
fn swapper(a: PathBuf, b: PathBuf, stop: Arc<AtomicBool>) -> thread::JoinHandle<u64> {
    thread::spawn(move || {
        let mut swaps = 0;
        while !stop.load(Ordering::Relaxed) {
            rustix::fs::renameat_with(
                rustix::fs::CWD,
                &a,
                rustix::fs::CWD,
                &b,
                rustix::fs::RenameFlags::EXCHANGE,
            )
            .unwrap();
            swaps += 1;
        }
        swaps
    })
}

#[test]
fn a_bucket_swapped_for_a_symlink_never_serves_or_lists_what_is_outside() {
    let dir = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    fs::write(outside.path().join("secret"), b"OUTSIDE THE ROOT").unwrap();
    let store = FsStore::open(dir.path()).unwrap();
    store.create_bucket(&bucket("b")).unwrap();
    put(&store, "b", "secret", b"inside").unwrap();
    let link = dir.path().join("link");
    std::os::unix::fs::symlink(outside.path(), &link).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let swaps = swapper(dir.path().join("b"), link, Arc::clone(&stop));
    let (mut served, mut listed) = (0, 0);
    let deadline = Instant::now() + Duration::from_millis(1500);
    while Instant::now() < deadline {
        match store.open_file(&bucket("b"), &file("secret")) {
            Ok(mut download) => {
                let mut bytes = Vec::new();
                download.reader.read_to_end(&mut bytes).unwrap();
                assert_eq!(bytes, b"inside", "a file outside the root was served");
                served += 1;
            }
            Err(StoreError::NoSuchBucket) => {}
            Err(e) => panic!("{e:?}"),
        }
        match store.list_files(&bucket("b")) {
            Ok(files) => {
                assert!(
                    files.iter().all(|f| f.size == 6),
                    "the outside folder was listed: {files:?}"
                );
                listed += 1;
            }
            Err(StoreError::NoSuchBucket) => {}
            Err(e) => panic!("{e:?}"),
        }
    }
    stop.store(true, Ordering::Relaxed);
    let swaps = swaps.join().unwrap();
    // The race really ran: both outcomes happened many times.
    assert!(swaps > 100, "{swaps} swaps");
    assert!(
        served > 10 && listed > 10,
        "{served} served, {listed} listed"
    );
}

#[test]
fn a_file_swapped_for_a_fifo_never_blocks_a_download() {
    const OPENS: u32 = 50_000;
    let dir = tempfile::tempdir().unwrap();
    let store = FsStore::open(dir.path()).unwrap();
    store.create_bucket(&bucket("b")).unwrap();
    put(&store, "b", "f", b"x").unwrap();
    let (f, fifo) = (dir.path().join("b/f"), dir.path().join("b/fifo"));
    rustix::fs::mknodat(
        rustix::fs::CWD,
        &fifo,
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o600),
        0,
    )
    .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let swaps = swapper(f.clone(), fifo.clone(), Arc::clone(&stop));
    let (done, finished) = std::sync::mpsc::channel();
    let opener = {
        let store = store.clone();
        thread::spawn(move || {
            let mut served = 0;
            for _ in 0..OPENS {
                match store.open_file(&bucket("b"), &file("f")) {
                    Ok(download) => {
                        assert_eq!(download.len, 1);
                        served += 1;
                    }
                    Err(StoreError::NoSuchFile) => {}
                    Err(e) => panic!("{e:?}"),
                }
            }
            done.send(served).unwrap();
        })
    };
    let outcome = finished.recv_timeout(Duration::from_secs(60));
    stop.store(true, Ordering::Relaxed);
    swaps.join().unwrap();
    if outcome.is_err() {
        // Free the blocked thread: open whichever of the two is the FIFO
        // for writing.
        for path in [&f, &fifo] {
            if fs::symlink_metadata(path).unwrap().file_type().is_fifo() {
                let _writer = fs::OpenOptions::new().write(true).open(path);
            }
        }
    }
    opener.join().unwrap();
    let served = outcome.expect("a download blocked opening a FIFO");
    assert!(served > 0, "never served the file");
}

#[test]
fn a_staging_folder_swapped_for_a_symlink_stages_nothing_outside() {
    let dir = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let store = FsStore::open(dir.path()).unwrap();
    store.create_bucket(&bucket("b")).unwrap();
    fs::remove_dir(store.staging_dir()).unwrap();
    std::os::unix::fs::symlink(outside.path(), store.staging_dir()).unwrap();
    // The store finds its staging folder gone and will not make a symlink
    // its new one: the upload fails, and nothing lands outside.
    let e = store
        .start_upload(&bucket("b"), &file("f"), 6)
        .map(|mut up| up.write_all(b"secret"))
        .expect_err("staged through a symlink");
    assert!(
        matches!(&e, StoreError::Io(io) if io.kind() == std::io::ErrorKind::NotADirectory),
        "{e:?}"
    );
    assert_eq!(fs::read_dir(outside.path()).unwrap().count(), 0);
    // Once a real folder is back, uploads work again.
    fs::remove_file(store.staging_dir()).unwrap();
    fs::create_dir(store.staging_dir()).unwrap();
    let mut up = store.start_upload(&bucket("b"), &file("f"), 2).unwrap();
    up.write_all(b"ok").unwrap();
    up.commit().unwrap();
    assert_eq!(fs::read(dir.path().join("b/f")).unwrap(), b"ok");
}
