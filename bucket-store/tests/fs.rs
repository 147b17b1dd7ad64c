//! What only [`FsStore`] promises: its on-disk layout, the staging folder,
//! confinement to the root, and filesystem failures.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::io::Write;
use std::path::Path;

use bucket_store::{BucketName, FsStore, Store, StoreError, Upload};
use common::{bucket, err, file, file_names, put, read};
use tempfile::TempDir;

fn new_store() -> (TempDir, FsStore) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = FsStore::open(dir.path()).expect("open FsStore");
    (dir, store)
}

/// The names in a directory.
fn entries(dir: &Path) -> BTreeSet<String> {
    fs::read_dir(dir)
        .expect("read dir")
        .map(|e| {
            e.expect("entry")
                .file_name()
                .into_string()
                .expect("UTF-8 name")
        })
        .collect()
}

fn staged(store: &FsStore) -> BTreeSet<String> {
    entries(store.staging_dir())
}

#[test]
fn on_disk_layout_is_root_bucket_name() {
    let (dir, store) = new_store();
    assert_eq!(
        store.root(),
        dir.path(),
        "root is the path given (already absolute)"
    );
    assert_eq!(store.staging_dir(), dir.path().join(".bkt-staging"));
    store.create_bucket(&bucket("photos")).expect("create");
    put(&store, "photos", "cat 1.png", b"meow").expect("put");

    assert_eq!(
        entries(dir.path()),
        [".bkt-staging", "photos"].map(String::from).into()
    );
    assert_eq!(
        entries(&dir.path().join("photos")),
        ["cat 1.png".to_owned()].into()
    );
    assert_eq!(
        fs::read(dir.path().join("photos").join("cat 1.png")).expect("read on disk"),
        b"meow"
    );
}

#[test]
fn uploads_are_staged_then_renamed() {
    let (dir, store) = new_store();
    store.create_bucket(&bucket("b")).expect("create");
    let mut up = store
        .start_upload(&bucket("b"), &file("f"), 5)
        .expect("start");
    up.write_all(b"bytes").expect("write");
    up.flush().expect("flush");

    let staged_now = staged(&store);
    assert_eq!(staged_now.len(), 1, "{staged_now:?}");
    let name = staged_now.first().expect("one staged file");
    assert!(name.starts_with(".bkt-up-"), "{name}");
    assert_eq!(
        fs::read(store.staging_dir().join(name)).expect("read staged"),
        b"bytes"
    );
    assert!(
        entries(&dir.path().join("b")).is_empty(),
        "nothing in the bucket yet"
    );

    up.commit().expect("commit");
    assert!(staged(&store).is_empty(), "staging emptied by commit");
    assert_eq!(entries(&dir.path().join("b")), ["f".to_owned()].into());
}

#[test]
fn staging_is_emptied_by_abort_drop_and_failed_commit() {
    let (_dir, store) = new_store();
    store.create_bucket(&bucket("b")).expect("create");

    let mut up = store
        .start_upload(&bucket("b"), &file("f"), 3)
        .expect("start");
    up.write_all(b"abc").expect("write");
    assert_eq!(staged(&store).len(), 1);
    up.abort();
    assert!(staged(&store).is_empty(), "abort");

    let mut up = store
        .start_upload(&bucket("b"), &file("f"), 3)
        .expect("start");
    up.write_all(b"abc").expect("write");
    assert_eq!(staged(&store).len(), 1);
    drop(up);
    assert!(staged(&store).is_empty(), "drop");

    let mut up = store
        .start_upload(&bucket("b"), &file("f"), 3)
        .expect("start");
    up.write_all(b"abc").expect("write");
    store.delete_bucket(&bucket("b")).expect("delete bucket");
    assert!(matches!(up.commit(), Err(StoreError::NoSuchBucket)));
    assert!(staged(&store).is_empty(), "failed commit");
}

#[test]
fn delete_bucket_while_uploading_leaves_nothing_on_disk() {
    let (dir, store) = new_store();
    store.create_bucket(&bucket("tmp")).expect("create");
    let mut up = store
        .start_upload(&bucket("tmp"), &file("f"), 4)
        .expect("start");
    up.write_all(b"data").expect("write");
    store.delete_bucket(&bucket("tmp")).expect("delete");
    assert!(matches!(up.commit(), Err(StoreError::NoSuchBucket)));
    assert_eq!(entries(dir.path()), [".bkt-staging".to_owned()].into());
    assert!(staged(&store).is_empty());
}

/// An upload into a bucket deleted and created again since it started
/// fails (the conformance check of that name, decision 15) and leaves
/// nothing on disk: not in the new bucket, not staged.
#[test]
fn an_upload_whose_bucket_was_deleted_and_created_again_leaves_nothing_on_disk() {
    let (dir, store) = new_store();
    bucket_store::conformance::upload_into_a_bucket_deleted_and_created_again_fails(store.clone());
    assert!(entries(&dir.path().join("b")).is_empty());
    assert!(staged(&store).is_empty());
}

/// DELETE_F and UPLOAD racing DELETE_B and CREATE_B, bounded to two
/// seconds: one thread uploads and deletes a file while two others delete
/// and create its bucket. A delete
/// of a committed file (its bucket cannot be deleted while it holds it) must
/// succeed; an upload succeeds or fails NO_SUCH_BUCKET, never IO.
#[test]
fn deletes_and_uploads_racing_delete_b_and_create_b_never_fail_with_io() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::{Duration, Instant};

    let (_dir, store) = new_store();
    store.create_bucket(&bucket("x")).expect("create");
    let stop = Arc::new(AtomicBool::new(false));
    let churn = |create: bool| {
        let (store, stop) = (store.clone(), Arc::clone(&stop));
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let result = if create {
                    store.create_bucket(&bucket("x"))
                } else {
                    store.delete_bucket(&bucket("x"))
                };
                match result {
                    Ok(()) | Err(StoreError::Exists | StoreError::NoSuchBucket) => {}
                    Err(StoreError::NotEmpty) => {}
                    Err(e) => panic!("create={create}: {e}"),
                }
            }
        })
    };
    let churners = [churn(true), churn(false)];
    let (mut committed, mut bucket_gone) = (0_u32, 0_u32);
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut failure = None;
    while Instant::now() < deadline && failure.is_none() {
        let outcome = store
            .start_upload(&bucket("x"), &file("f"), 3)
            .and_then(|mut up| {
                up.write_all(b"abc")?;
                up.commit()
            });
        match outcome {
            Ok(()) => committed += 1,
            Err(StoreError::NoSuchBucket) => {
                bucket_gone += 1;
                continue;
            }
            Err(e) => {
                failure = Some(format!("upload: {e}"));
                break;
            }
        }
        if let Err(e) = store.delete_file(&bucket("x"), &file("f")) {
            failure = Some(format!("delete of a committed file: {e}"));
        }
    }
    stop.store(true, Ordering::Relaxed);
    for thread in churners {
        thread.join().expect("churner");
    }
    eprintln!("{committed} uploads committed and deleted, {bucket_gone} found no bucket");
    assert_eq!(failure, None);
    assert!(committed > 0, "no upload got through in two seconds");
    assert!(staged(&store).is_empty());
}

#[test]
fn open_removes_stale_staged_files() {
    let (dir, store) = new_store();
    store.create_bucket(&bucket("b")).expect("create");
    // What a crash leaves: an upload's staged file (a live upload would
    // keep the root locked, see below), and some junk.
    fs::write(store.staging_dir().join(".bkt-up-1-0-0"), b"abc").expect("staged");
    fs::write(store.staging_dir().join("junk"), b"left over").expect("junk");
    assert_eq!(staged(&store).len(), 2);
    drop(store);

    let store = FsStore::open(dir.path()).expect("reopen");
    assert!(staged(&store).is_empty(), "{:?}", staged(&store));
    assert!(
        store.list_files(&bucket("b")).expect("list").is_empty(),
        "the crashed upload never became visible"
    );
}

/// An upload in progress keeps the root locked after every clone of its
/// store is gone: a second store opening the root would empty the staging
/// folder under it. Once the upload ends, the root opens again.
#[test]
fn an_upload_in_progress_keeps_the_root_locked_after_its_store_is_dropped() {
    let (dir, store) = new_store();
    store.create_bucket(&bucket("b")).expect("create");
    let mut up = store
        .start_upload(&bucket("b"), &file("f"), 6)
        .expect("start");
    up.write_all(b"abc").expect("write");
    drop(store);
    let busy = FsStore::open(dir.path()).expect_err("a second store while an upload lives");
    assert!(
        matches!(&busy, StoreError::Io(e) if e.kind() == std::io::ErrorKind::ResourceBusy),
        "{busy:?}"
    );
    up.write_all(b"def").expect("write");
    up.commit().expect("the upload is whole");
    let store = FsStore::open(dir.path()).expect("reopen once the upload ended");
    assert_eq!(read(&store, "b", "f").expect("read"), b"abcdef");
}

/// After a crash, stale staged files that cannot be deleted do not keep the
/// store from opening: it serves what it can and leaves them (logged as a
/// warning). Here the staging folder is not writable; see also
/// `a_read_only_root_with_stale_uploads_opens_and_serves_downloads`.
#[cfg(unix)]
#[test]
fn stale_uploads_that_cannot_be_removed_do_not_stop_the_store_from_opening() {
    use std::os::unix::fs::PermissionsExt;

    let (dir, store) = new_store();
    store.create_bucket(&bucket("b")).expect("create");
    put(&store, "b", "f", b"kept").expect("put");
    let staging = store.staging_dir().to_owned();
    drop(store);
    fs::write(staging.join(".bkt-up-1-2-3"), b"cut off").expect("stale file");
    fs::set_permissions(&staging, fs::Permissions::from_mode(0o555)).expect("chmod");
    let restore = || {
        fs::set_permissions(&staging, fs::Permissions::from_mode(0o755)).expect("chmod back");
    };
    // Root (CAP_DAC_OVERRIDE) writes anyway: then there is nothing to test.
    let probe = staging.join("probe");
    if fs::write(&probe, b"").is_ok() {
        fs::remove_file(&probe).expect("remove probe");
        restore();
        eprintln!("skipped: permissions are not enforced for this user");
        return;
    }

    let reopened = FsStore::open(dir.path());
    restore();
    let store = reopened.expect("a stale file that cannot be removed is not fatal");
    assert_eq!(staged(&store), [".bkt-up-1-2-3".to_owned()].into());
    assert_eq!(read(&store, "b", "f").expect("download"), b"kept");
    // Once it can be removed, the next open does.
    drop(store);
    let store = FsStore::open(dir.path()).expect("reopen");
    assert!(staged(&store).is_empty());
}

#[test]
fn a_second_store_on_the_same_root_is_refused_and_touches_nothing() {
    let (dir, store) = new_store();
    store.create_bucket(&bucket("b")).expect("create");
    let mut up = store
        .start_upload(&bucket("b"), &file("f"), 3)
        .expect("start");
    up.write_all(b"abc").expect("write");
    match FsStore::open(dir.path()) {
        Err(StoreError::Io(e)) => {
            assert_eq!(e.kind(), std::io::ErrorKind::ResourceBusy, "{e}");
            assert!(e.to_string().contains("in use"), "{e}");
        }
        Err(e) => panic!("expected ResourceBusy, got {e}"),
        Ok(_) => panic!("a second store opened a root in use"),
    }
    // The first store's upload in progress was not cleared away.
    assert_eq!(staged(&store).len(), 1);
    up.commit().expect("commit");
    assert_eq!(read(&store, "b", "f").expect("read"), b"abc");
    // Clones share the store (and its lock); the root is free once every
    // clone is gone.
    let clone = store.clone();
    drop(store);
    assert!(FsStore::open(dir.path()).is_err());
    put(&clone, "b", "g", b"from the clone").expect("put");
    drop(clone);
    let reopened = FsStore::open(dir.path()).expect("reopen");
    assert_eq!(read(&reopened, "b", "g").expect("read"), b"from the clone");
}

#[test]
fn committed_files_survive_reopening() {
    let (dir, store) = new_store();
    store.create_bucket(&bucket("b")).expect("create");
    put(&store, "b", "f", b"persistent").expect("put");
    drop(store);
    let store = FsStore::open(dir.path()).expect("reopen");
    assert_eq!(read(&store, "b", "f").expect("read"), b"persistent");
}

#[test]
fn root_is_created_if_missing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path().join("a").join("b").join("root");
    let store = FsStore::open(&root).expect("open");
    assert!(root.is_dir());
    assert!(root.join(".bkt-staging").is_dir());
    store.create_bucket(&bucket("b")).expect("usable");
    assert!(root.join("b").is_dir());
}

#[test]
fn open_fails_if_staging_is_not_a_folder() {
    let dir = tempfile::tempdir().expect("temp dir");
    fs::write(dir.path().join(".bkt-staging"), b"").expect("file");
    assert!(matches!(FsStore::open(dir.path()), Err(StoreError::Io(_))));
}

#[test]
fn staging_vanished_is_recreated() {
    let (_dir, store) = new_store();
    store.create_bucket(&bucket("b")).expect("create");
    fs::remove_dir(store.staging_dir()).expect("remove staging");
    put(&store, "b", "f", b"ok").expect("upload recreates staging");
    assert!(store.staging_dir().is_dir());
}

#[test]
fn only_real_bucket_folders_are_listed() {
    let (dir, store) = new_store();
    let root = dir.path();
    assert!(BucketName::new(".bkt-staging").is_err());
    fs::write(root.join("README"), b"a file, not a bucket").expect("file");
    fs::create_dir(root.join(".git")).expect("hidden dir");
    fs::create_dir(root.join("bad name")).expect("invalid name");
    store.create_bucket(&bucket("real")).expect("create");
    assert_eq!(
        store.list_buckets().expect("list"),
        [bucket("real")],
        "staging folder, files, hidden and invalid names are not buckets"
    );
    assert!(matches!(
        store.create_bucket(&bucket("README")),
        Err(StoreError::Exists)
    ));
    assert!(matches!(
        store.list_files(&bucket("README")),
        Err(StoreError::NoSuchBucket)
    ));
    assert!(matches!(
        store.delete_bucket(&bucket("README")),
        Err(StoreError::NoSuchBucket)
    ));
    assert!(
        root.join("README").is_file(),
        "a non-bucket is never removed"
    );
}

#[test]
fn only_regular_files_with_valid_names_are_listed() {
    let (dir, store) = new_store();
    store.create_bucket(&bucket("b")).expect("create");
    let b = dir.path().join("b");
    fs::create_dir(b.join("sub")).expect("sub dir");
    fs::write(b.join(".bkt-reserved"), b"x").expect("reserved name");
    fs::write(b.join(".hidden"), b"xy").expect("hidden but valid");
    put(&store, "b", "normal", b"xyz").expect("put");
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        fs::write(b.join(std::ffi::OsStr::from_bytes(b"bad\xff")), b"x").expect("non-UTF-8");
    }
    let files = store.list_files(&bucket("b")).expect("list");
    assert_eq!(file_names(&files), [".hidden", "normal"]);
    assert!(matches!(
        err(store.open_file(&bucket("b"), &file("sub"))),
        StoreError::NoSuchFile
    ));
    assert!(matches!(
        store.delete_file(&bucket("b"), &file("sub")),
        Err(StoreError::NoSuchFile)
    ));
    assert!(
        b.join("sub").is_dir(),
        "a folder is never deleted as a file"
    );
    assert!(matches!(
        store.delete_bucket(&bucket("b")),
        Err(StoreError::NotEmpty)
    ));
}

#[cfg(unix)]
#[test]
fn symlinks_are_not_followed() {
    use std::os::unix::fs::symlink;

    let (dir, store) = new_store();
    let outside = tempfile::tempdir().expect("outside dir");
    let secret = outside.path().join("secret");
    fs::write(&secret, b"top secret").expect("secret");

    // A symlinked file inside a bucket is absent.
    store.create_bucket(&bucket("b")).expect("create");
    let link = dir.path().join("b").join("link");
    symlink(&secret, &link).expect("symlink file");
    symlink(outside.path(), dir.path().join("b").join("dirlink")).expect("symlink dir");
    assert!(store.list_files(&bucket("b")).expect("list").is_empty());
    assert!(matches!(
        err(store.open_file(&bucket("b"), &file("link"))),
        StoreError::NoSuchFile
    ));
    assert!(matches!(
        err(store.open_file(&bucket("b"), &file("dirlink"))),
        StoreError::NoSuchFile
    ));
    assert!(matches!(
        store.delete_file(&bucket("b"), &file("link")),
        Err(StoreError::NoSuchFile)
    ));
    assert!(link.symlink_metadata().is_ok(), "the link is not deleted");

    // Uploading to the link's name replaces the link, not its target.
    put(&store, "b", "link", b"replaced").expect("put");
    assert!(link.symlink_metadata().expect("lstat").is_file());
    assert_eq!(read(&store, "b", "link").expect("read"), b"replaced");

    // A symlinked bucket is absent too.
    symlink(outside.path(), dir.path().join("evil")).expect("symlink bucket");
    assert_eq!(store.list_buckets().expect("list"), [bucket("b")]);
    assert!(matches!(
        store.list_files(&bucket("evil")),
        Err(StoreError::NoSuchBucket)
    ));
    assert!(matches!(
        err(store.open_file(&bucket("evil"), &file("secret"))),
        StoreError::NoSuchBucket
    ));
    assert!(matches!(
        err(store.start_upload(&bucket("evil"), &file("secret"), 1)),
        StoreError::NoSuchBucket
    ));
    assert!(matches!(
        store.delete_file(&bucket("evil"), &file("secret")),
        Err(StoreError::NoSuchBucket)
    ));
    assert!(matches!(
        store.delete_bucket(&bucket("evil")),
        Err(StoreError::NoSuchBucket)
    ));
    assert_eq!(fs::read(&secret).expect("secret intact"), b"top secret");
    assert_eq!(entries(outside.path()), ["secret".to_owned()].into());
}

#[cfg(unix)]
#[test]
fn read_only_bucket_makes_commit_fail_with_io() {
    use std::os::unix::fs::PermissionsExt;

    let (dir, store) = new_store();
    store.create_bucket(&bucket("ro")).expect("create");
    let ro = dir.path().join("ro");
    fs::set_permissions(&ro, fs::Permissions::from_mode(0o555)).expect("chmod");
    let restore =
        || fs::set_permissions(&ro, fs::Permissions::from_mode(0o755)).expect("chmod back");

    // Root (CAP_DAC_OVERRIDE) writes anyway: then there is nothing to test.
    let probe = ro.join("probe");
    if fs::write(&probe, b"").is_ok() {
        fs::remove_file(&probe).expect("remove probe");
        restore();
        eprintln!("skipped: permissions are not enforced for this user");
        return;
    }

    let mut up = store
        .start_upload(&bucket("ro"), &file("f"), 4)
        .expect("staging is writable");
    up.write_all(b"data").expect("write");
    let result = up.commit();
    restore();
    assert!(matches!(result, Err(StoreError::Io(_))), "{result:?}");
    assert!(staged(&store).is_empty(), "staged file removed");
    assert!(entries(&ro).is_empty(), "nothing in the bucket");
}

#[test]
fn a_root_that_is_a_file_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("buckets");
    std::fs::write(&root, b"not a folder").unwrap();
    let Err(StoreError::Io(error)) = FsStore::open(&root) else {
        panic!("a file as the root was accepted, or refused as something else");
    };
    assert_eq!(error.kind(), std::io::ErrorKind::NotADirectory);
    assert!(
        error
            .to_string()
            .contains("buckets exists but is not a directory"),
        "{error}"
    );
    assert_eq!(
        std::fs::read(&root).unwrap(),
        b"not a folder",
        "left as it was"
    );
}
