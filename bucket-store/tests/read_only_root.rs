//! A read-only root after a crash (docs/operations.md, Storage faults).
//! Its own test binary: it runs `mount`, and a process forked while
//! another test drops a store and opens it again would hold the root's lock
//! for an instant (a forked child shares the lock until it execs), making
//! that reopen fail as if a second store were there.
#![allow(clippy::unwrap_used)]

mod common;

use std::fs;

use bucket_store::{FsStore, Store, StoreError};
use common::{Tmpfs, bucket, file_names, put, read};

/// A crash leaves a staged upload, the filesystem is
/// remounted read-only, the server starts again. Needs permission to mount
/// a tmpfs (skipped otherwise); works as root, where permission bits do
/// not stop anything.
#[cfg(target_os = "linux")]
#[test]
fn a_read_only_root_with_stale_uploads_opens_and_serves_downloads() {
    let Some(tmpfs) = Tmpfs::mount("1m") else {
        return;
    };
    let root = tmpfs.path().join("root");

    let store = FsStore::open(&root).expect("open");
    store.create_bucket(&bucket("b")).expect("create");
    put(&store, "b", "f", b"kept").expect("put");
    let staging = store.staging_dir().to_owned();
    drop(store);
    fs::write(staging.join(".bkt-up-1-2-3"), b"cut off").expect("stale file");
    tmpfs.remount_read_only();

    let store = FsStore::open(&root).expect("a read-only root opens");
    let staged: Vec<_> = fs::read_dir(store.staging_dir())
        .expect("staging")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(staged, [".bkt-up-1-2-3"]);
    assert_eq!(read(&store, "b", "f").expect("download"), b"kept");
    let listed = store.list_files(&bucket("b")).expect("list");
    assert_eq!(file_names(&listed), ["f"]);
    assert!(matches!(
        store.create_bucket(&bucket("c")),
        Err(StoreError::Io(_))
    ));
}

/// A read-only root that has no staging folder yet cannot be opened (the
/// store needs one for uploads), and the error says what failed where:
/// `cannot create ROOT/.bkt-staging (the staging folder for uploads):
/// Read-only file system (os error 30)`. Before, only the OS error, with
/// neither the operation nor the path (audit §9).
#[cfg(target_os = "linux")]
#[test]
fn a_read_only_root_without_a_staging_folder_is_refused_naming_it() {
    let Some(tmpfs) = Tmpfs::mount("1m") else {
        return;
    };
    let root = tmpfs.path().join("root");
    fs::create_dir(&root).expect("root");
    tmpfs.remount_read_only();
    let Err(StoreError::Io(error)) = FsStore::open(&root) else {
        panic!("a read-only root without staging opened, or failed otherwise");
    };
    assert_eq!(error.kind(), std::io::ErrorKind::ReadOnlyFilesystem);
    let staging = root.join(FsStore::STAGING_DIR);
    let expected = format!(
        "cannot create {} (the staging folder for uploads): Read-only file system",
        staging.display()
    );
    assert!(error.to_string().contains(&expected), "{error}");
}
