//! A read-only root after a crash (docs/operations.md, Storage faults).
//! Its own test binary: it runs `mount`, and a process forked while
//! another test drops a store and opens it again would hold the root's lock
//! for an instant (a forked child shares the lock until it execs), making
//! that reopen fail as if a second store were there.
#![allow(clippy::unwrap_used)]

mod common;

use std::fs;
use std::path::Path;

use bucket_store::{FsStore, Store, StoreError};
use common::{bucket, file_names, put, read};

/// A crash leaves a staged upload, the filesystem is
/// remounted read-only, the server starts again. Needs permission to mount
/// a tmpfs (skipped otherwise); works as root, where permission bits do
/// not stop anything.
#[cfg(target_os = "linux")]
#[test]
fn a_read_only_root_with_stale_uploads_opens_and_serves_downloads() {
    use std::process::Command;

    let dir = tempfile::tempdir().expect("temp dir");
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
        .arg(dir.path())
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        eprintln!("skipped: cannot mount a tmpfs here (needs root)");
        return;
    }
    struct Unmount<'a>(&'a Path);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(self.0).status();
        }
    }
    let _unmount = Unmount(dir.path());
    let root = dir.path().join("root");

    let store = FsStore::open(&root).expect("open");
    store.create_bucket(&bucket("b")).expect("create");
    put(&store, "b", "f", b"kept").expect("put");
    let staging = store.staging_dir().to_owned();
    drop(store);
    fs::write(staging.join(".bkt-up-1-2-3"), b"cut off").expect("stale file");
    let remounted = Command::new("mount")
        .args(["-o", "remount,ro"])
        .arg(dir.path())
        .status()
        .expect("mount");
    assert!(remounted.success());

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
