//! The behaviour every [`Store`] back-end must have, written once: the
//! checks [`FsStore`](crate::FsStore) and [`MemStore`](crate::MemStore) pass,
//! for a back-end of your own.
//!
//! In an integration test of your crate, one line generates a `#[test]` per
//! check, each on a fresh store from the closure:
//!
//! ```no_run
//! // tests/conformance.rs
//! use bucket_store::MemStore; // your back-end here
//!
//! // The closure returns (anything to keep alive during the test, the store),
//! // e.g. (a temporary folder, a store rooted in it).
//! bucket_store::store_conformance_tests!(mem, || ((), MemStore::new()));
//! ```
//!
//! Each check is also a public function taking a fresh, empty store, and
//! panics (as a test fails) when the back-end breaks the contract of
//! [`Store`] and [`Upload`]. The helpers below (`put`, `read`, `pattern`, …)
//! are there for your own tests too. This is test-support code: every check
//! panics (with the broken expectation as its message) instead of
//! returning errors, and so do the helpers when a name is invalid.
#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::sync::Barrier;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, SystemTime};

use bucket_proto::Reason;

use crate::{BucketName, Download, FileInfo, FileName, Store, StoreError, Upload};

/// Generates a module `$backend` with one `#[test]` per check of
/// [`conformance`](crate::conformance), each on the store returned by
/// `$make`, a closure returning `(keep_alive, store)`: `keep_alive` (a
/// temporary folder, say) lives until the test ends. Inside the module,
/// names from the calling module are in scope (`use super::*`).
#[macro_export]
macro_rules! store_conformance_tests {
    ($backend:ident, $make:expr) => {
        mod $backend {
            #[allow(unused_imports)]
            use super::*;

            $crate::store_conformance_tests!(@checks $make;
                buckets_create_list_delete,
                upload_commit_list_open,
                files_listed_sorted_by_name,
                upload_invisible_until_commit,
                replace_existing_file,
                abort_leaves_nothing,
                drop_without_commit_leaves_nothing,
                written_counts_bytes,
                reader_keeps_old_content_across_replace_and_delete,
                missing_bucket_errors,
                delete_file_errors,
                buckets_are_separate,
                errors_carry_protocol_reasons,
                concurrent_uploads_to_one_name,
                delete_bucket_while_uploading,
                upload_into_a_bucket_deleted_and_created_again_fails,
                large_streaming_upload,
            );
        }
    };
    (@checks $make:expr; $($check:ident),* $(,)?) => {
        $(
            #[test]
            fn $check() {
                let (_keep_alive, store) = ($make)();
                $crate::conformance::$check(store);
            }
        )*
    };
}

/// A bucket name, through the validating constructor.
pub fn bucket(name: &str) -> BucketName<'static> {
    BucketName::new(name.to_owned()).expect("valid bucket name")
}

/// A file name, through the validating constructor.
pub fn file(name: &str) -> FileName<'static> {
    FileName::new(name.to_owned()).expect("valid file name")
}

/// The error of a result whose `Ok` type need not be `Debug`.
pub fn err<T>(result: Result<T, StoreError>) -> StoreError {
    match result {
        Ok(_) => panic!("expected an error, got Ok"),
        Err(e) => e,
    }
}

/// Uploads `bytes` to `bucket/name` and commits.
///
/// # Errors
/// The store's error from `start_upload`, a write or `commit`.
///
/// # Panics
/// If [`Upload::written`] does not count the bytes written.
pub fn put<S: Store>(
    store: &S,
    bucket_name: &str,
    name: &str,
    bytes: &[u8],
) -> Result<(), StoreError> {
    let mut up = store.start_upload(&bucket(bucket_name), &file(name), bytes.len() as u64)?;
    up.write_all(bytes)?;
    assert_eq!(up.written(), bytes.len() as u64);
    up.commit()
}

/// Reads `bucket/name` whole, checking the announced length.
///
/// # Errors
/// The store's error from `open_file` or a read.
///
/// # Panics
/// If the bytes read differ in number from the length `open_file` announced.
pub fn read<S: Store>(store: &S, bucket_name: &str, name: &str) -> Result<Vec<u8>, StoreError> {
    let mut download = store.open_file(&bucket(bucket_name), &file(name))?;
    let mut bytes = Vec::new();
    download.reader.read_to_end(&mut bytes)?;
    assert_eq!(bytes.len() as u64, download.len, "len announced at open");
    Ok(bytes)
}

/// The names of a file listing, in order.
pub fn file_names(files: &[FileInfo]) -> Vec<&str> {
    files.iter().map(|f| f.name.as_str()).collect()
}

/// `len` pseudo-random bytes (xorshift64*), different for each `seed`.
pub fn pattern(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        out.extend_from_slice(&state.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// The names of `store`'s buckets, in order.
fn bucket_list<S: Store>(store: &S) -> Vec<String> {
    store
        .list_buckets()
        .expect("list buckets")
        .iter()
        .map(ToString::to_string)
        .collect()
}

/// Buckets: created once (`Exists` the second time), listed sorted by bytes,
/// deleted only when empty (`NotEmpty`, `NoSuchBucket`), and empty again when
/// re-created.
pub fn buckets_create_list_delete<S: Store>(store: S) {
    assert!(bucket_list(&store).is_empty(), "a new store has no bucket");
    for name in ["beta", "alpha", "Gamma", "a-1"] {
        store.create_bucket(&bucket(name)).expect("create");
    }
    // Sorted by bytes: upper case before lower case.
    assert_eq!(bucket_list(&store), ["Gamma", "a-1", "alpha", "beta"]);

    assert!(matches!(
        store.create_bucket(&bucket("alpha")),
        Err(StoreError::Exists)
    ));
    assert!(matches!(
        store.delete_bucket(&bucket("nope")),
        Err(StoreError::NoSuchBucket)
    ));

    put(&store, "beta", "f", b"data").expect("put");
    assert!(matches!(
        store.delete_bucket(&bucket("beta")),
        Err(StoreError::NotEmpty)
    ));
    assert_eq!(read(&store, "beta", "f").expect("file survives"), b"data");

    store
        .delete_file(&bucket("beta"), &file("f"))
        .expect("delete file");
    store.delete_bucket(&bucket("beta")).expect("delete empty");
    assert_eq!(bucket_list(&store), ["Gamma", "a-1", "alpha"]);
    assert!(matches!(
        store.delete_bucket(&bucket("beta")),
        Err(StoreError::NoSuchBucket)
    ));

    store.create_bucket(&bucket("beta")).expect("re-create");
    assert!(
        store.list_files(&bucket("beta")).expect("list").is_empty(),
        "a re-created bucket starts empty"
    );
}

/// A committed upload is listed with its size and a modification time taken
/// during the upload, and reads back whole; an empty file works too.
pub fn upload_commit_list_open<S: Store>(store: S) {
    store.create_bucket(&bucket("photos")).expect("create");
    let before = SystemTime::now();
    put(&store, "photos", "cat 1.png", b"hello, world\n").expect("put");
    put(&store, "photos", "empty", b"").expect("put empty");
    let after = SystemTime::now();

    let files = store.list_files(&bucket("photos")).expect("list");
    assert_eq!(file_names(&files), ["cat 1.png", "empty"]);
    assert_eq!(files[0].size, 13);
    assert_eq!(files[1].size, 0);
    // Filesystem clocks are coarse: allow some slack either side.
    let slack = Duration::from_secs(2);
    for info in &files {
        assert!(
            info.modified >= before - slack,
            "{info:?} before {before:?}"
        );
        assert!(info.modified <= after + slack, "{info:?} after {after:?}");
    }

    let download = store
        .open_file(&bucket("photos"), &file("cat 1.png"))
        .expect("open");
    assert_eq!(download.len, 13);
    assert_eq!(
        read(&store, "photos", "cat 1.png").expect("read"),
        b"hello, world\n"
    );
    let empty = store
        .open_file(&bucket("photos"), &file("empty"))
        .expect("open");
    assert_eq!(empty.len, 0);
    assert_eq!(read(&store, "photos", "empty").expect("read"), b"");
}

/// Files are listed sorted by the bytes of their names, with their sizes.
pub fn files_listed_sorted_by_name<S: Store>(store: S) {
    store.create_bucket(&bucket("b")).expect("create");
    for (i, name) in ["b", "ü", "a", "C", "a b", ".hidden"].iter().enumerate() {
        put(&store, "b", name, &vec![b'x'; i]).expect("put");
    }
    let files = store.list_files(&bucket("b")).expect("list");
    assert_eq!(file_names(&files), [".hidden", "C", "a", "a b", "b", "ü"]);
    let sizes: Vec<u64> = files.iter().map(|f| f.size).collect();
    assert_eq!(sizes, [5, 3, 2, 4, 0, 1]);
}

/// An upload in progress is invisible: a new name is not listed or readable,
/// and a replaced file keeps its old content and size, until commit.
pub fn upload_invisible_until_commit<S: Store>(store: S) {
    store.create_bucket(&bucket("b")).expect("create");
    put(&store, "b", "old", b"version 1").expect("put");

    let mut new = store
        .start_upload(&bucket("b"), &file("new"), 5)
        .expect("start");
    new.write_all(b"fresh").expect("write");
    new.flush().expect("flush");
    let mut replacing = store
        .start_upload(&bucket("b"), &file("old"), 12)
        .expect("start");
    replacing.write_all(b"version 2!!!").expect("write");
    replacing.flush().expect("flush");

    let files = store.list_files(&bucket("b")).expect("list");
    assert_eq!(
        file_names(&files),
        ["old"],
        "uploads in progress are listed"
    );
    assert_eq!(files[0].size, 9, "the old size is listed until commit");
    assert!(matches!(
        store.open_file(&bucket("b"), &file("new")),
        Err(StoreError::NoSuchFile)
    ));
    assert_eq!(read(&store, "b", "old").expect("read"), b"version 1");

    new.commit().expect("commit new");
    replacing.commit().expect("commit replacement");
    assert_eq!(read(&store, "b", "new").expect("read"), b"fresh");
    assert_eq!(read(&store, "b", "old").expect("read"), b"version 2!!!");
}

/// Uploading to an existing name replaces the file whole (a shorter version
/// leaves no tail of the longer one).
pub fn replace_existing_file<S: Store>(store: S) {
    store.create_bucket(&bucket("b")).expect("create");
    let long = pattern(1, 100_000);
    put(&store, "b", "f", &long).expect("put v1");
    put(&store, "b", "f", b"short").expect("put v2");
    assert_eq!(
        read(&store, "b", "f").expect("read"),
        b"short",
        "no tail of the old content may remain"
    );
    let files = store.list_files(&bucket("b")).expect("list");
    assert_eq!(file_names(&files), ["f"]);
    assert_eq!(files[0].size, 5);
    put(&store, "b", "f", &long).expect("put v3");
    assert_eq!(read(&store, "b", "f").expect("read"), long);
}

/// `Upload::abort` leaves no file, no listing entry and nothing that keeps the
/// bucket from being deleted; an existing file of that name is untouched.
pub fn abort_leaves_nothing<S: Store>(store: S) {
    store.create_bucket(&bucket("b")).expect("create");
    put(&store, "b", "keep", b"original").expect("put");

    let mut up = store
        .start_upload(&bucket("b"), &file("keep"), 7)
        .expect("start");
    up.write_all(b"changed").expect("write");
    up.abort();
    let mut up = store
        .start_upload(&bucket("b"), &file("gone"), 3)
        .expect("start");
    up.write_all(b"abc").expect("write");
    up.abort();

    assert_eq!(read(&store, "b", "keep").expect("read"), b"original");
    let files = store.list_files(&bucket("b")).expect("list");
    assert_eq!(file_names(&files), ["keep"]);
    assert!(matches!(
        store.open_file(&bucket("b"), &file("gone")),
        Err(StoreError::NoSuchFile)
    ));
    // Nothing hides in the bucket either: once its one file is gone it can
    // be deleted.
    store
        .delete_file(&bucket("b"), &file("keep"))
        .expect("delete");
    store.delete_bucket(&bucket("b")).expect("bucket is empty");
}

/// Dropping an upload without committing it leaves nothing, as `abort` does.
pub fn drop_without_commit_leaves_nothing<S: Store>(store: S) {
    store.create_bucket(&bucket("b")).expect("create");
    put(&store, "b", "keep", b"original").expect("put");
    {
        let mut up = store
            .start_upload(&bucket("b"), &file("keep"), 7)
            .expect("start");
        up.write_all(b"changed").expect("write");
        let mut other = store
            .start_upload(&bucket("b"), &file("gone"), 3)
            .expect("start");
        other.write_all(b"abc").expect("write");
        // Both dropped here, uncommitted.
    }
    assert_eq!(read(&store, "b", "keep").expect("read"), b"original");
    let files = store.list_files(&bucket("b")).expect("list");
    assert_eq!(file_names(&files), ["keep"]);
    store
        .delete_file(&bucket("b"), &file("keep"))
        .expect("delete");
    store.delete_bucket(&bucket("b")).expect("bucket is empty");
}

/// `Upload::written` counts the bytes written so far, including bytes past the
/// declared size (the size is a hint).
pub fn written_counts_bytes<S: Store>(store: S) {
    store.create_bucket(&bucket("b")).expect("create");
    let mut up = store
        .start_upload(&bucket("b"), &file("f"), 8)
        .expect("start");
    assert_eq!(up.written(), 0);
    let n = up.write(b"abc").expect("write");
    assert_eq!(up.written(), n as u64);
    up.write_all(&b"abcdefgh"[n..]).expect("write");
    assert_eq!(up.written(), 8);
    up.write_all(b"").expect("empty write");
    assert_eq!(up.written(), 8);
    // The declared size is a hint: writing more is the server's business.
    up.write_all(b"++").expect("write past the hint");
    assert_eq!(up.written(), 10);
    up.commit().expect("commit");
    assert_eq!(read(&store, "b", "f").expect("read"), b"abcdefgh++");
}

/// A reader opened before a replace or a delete reads the version it opened,
/// whole, with the length announced at open.
pub fn reader_keeps_old_content_across_replace_and_delete<S: Store>(store: S) {
    store.create_bucket(&bucket("b")).expect("create");
    let old = pattern(2, 300_000);
    let new = pattern(3, 123_457);
    put(&store, "b", "f", &old).expect("put old");

    let mut first = store.open_file(&bucket("b"), &file("f")).expect("open");
    let mut head = vec![0; 1000];
    first.reader.read_exact(&mut head).expect("read head");
    let untouched = store.open_file(&bucket("b"), &file("f")).expect("open");

    put(&store, "b", "f", &new).expect("replace");
    let mut rest = Vec::new();
    first.reader.read_to_end(&mut rest).expect("read rest");
    head.extend_from_slice(&rest);
    assert_eq!(first.len, old.len() as u64);
    assert!(
        head == old,
        "a reader opened before a replace reads the old content"
    );

    store.delete_file(&bucket("b"), &file("f")).expect("delete");
    let Download { mut reader, len } = untouched;
    let mut all = Vec::new();
    reader.read_to_end(&mut all).expect("read after delete");
    assert_eq!(len, old.len() as u64);
    assert!(
        all == old,
        "a reader opened before a delete reads to the end"
    );
    assert!(matches!(
        store.open_file(&bucket("b"), &file("f")),
        Err(StoreError::NoSuchFile)
    ));
}

/// Every operation on a bucket that does not exist fails with `NoSuchBucket`,
/// and creates nothing.
pub fn missing_bucket_errors<S: Store>(store: S) {
    let nope = bucket("nope");
    let f = file("f");
    assert!(matches!(
        err(store.start_upload(&nope, &f, 1)),
        StoreError::NoSuchBucket
    ));
    assert!(matches!(
        store.list_files(&nope),
        Err(StoreError::NoSuchBucket)
    ));
    assert!(matches!(
        err(store.open_file(&nope, &f)),
        StoreError::NoSuchBucket
    ));
    assert!(matches!(
        store.delete_file(&nope, &f),
        Err(StoreError::NoSuchBucket)
    ));
    assert!(matches!(
        store.delete_bucket(&nope),
        Err(StoreError::NoSuchBucket)
    ));
    assert!(bucket_list(&store).is_empty(), "no bucket appeared");
}

/// `delete_file` fails with `NoSuchBucket` or `NoSuchFile` and deletes only the
/// named file.
pub fn delete_file_errors<S: Store>(store: S) {
    store.create_bucket(&bucket("b")).expect("create");
    assert!(matches!(
        store.delete_file(&bucket("b"), &file("f")),
        Err(StoreError::NoSuchFile)
    ));
    put(&store, "b", "f", b"x").expect("put");
    put(&store, "b", "g", b"y").expect("put");
    store.delete_file(&bucket("b"), &file("f")).expect("delete");
    assert!(matches!(
        err(store.open_file(&bucket("b"), &file("f"))),
        StoreError::NoSuchFile
    ));
    assert!(matches!(
        store.delete_file(&bucket("b"), &file("f")),
        Err(StoreError::NoSuchFile)
    ));
    let files = store.list_files(&bucket("b")).expect("list");
    assert_eq!(file_names(&files), ["g"], "only the named file is deleted");
}

/// The same file name in two buckets names two files.
pub fn buckets_are_separate<S: Store>(store: S) {
    store.create_bucket(&bucket("one")).expect("create");
    store.create_bucket(&bucket("two")).expect("create");
    put(&store, "one", "same", b"in one").expect("put");
    put(&store, "two", "same", b"in two").expect("put");
    assert_eq!(read(&store, "one", "same").expect("read"), b"in one");
    assert_eq!(read(&store, "two", "same").expect("read"), b"in two");
    store
        .delete_file(&bucket("one"), &file("same"))
        .expect("delete");
    assert_eq!(read(&store, "two", "same").expect("read"), b"in two");
    assert!(store.list_files(&bucket("one")).expect("list").is_empty());
}

/// Each `StoreError` maps to its PROTOCOL.md reason token.
pub fn errors_carry_protocol_reasons<S: Store>(store: S) {
    store.create_bucket(&bucket("b")).expect("create");
    put(&store, "b", "f", b"x").expect("put");
    let cases = [
        (
            store.create_bucket(&bucket("b")).expect_err("exists"),
            Reason::Exists,
        ),
        (
            store.delete_bucket(&bucket("b")).expect_err("not empty"),
            Reason::NotEmpty,
        ),
        (
            store.list_files(&bucket("zz")).expect_err("no bucket"),
            Reason::NoSuchBucket,
        ),
        (
            err(store.open_file(&bucket("b"), &file("g"))),
            Reason::NoSuchFile,
        ),
    ];
    for (error, reason) in cases {
        assert_eq!(error.reason(), reason, "{error}");
    }
}

/// Concurrent uploads to one name: the last to commit wins, and readers racing
/// them only ever see one whole version.
pub fn concurrent_uploads_to_one_name<S: Store>(store: S) {
    const WRITERS: usize = 8;
    store.create_bucket(&bucket("race")).expect("create");
    // Different lengths and bytes, so any mix or truncation shows.
    let contents: Vec<Vec<u8>> = (0..WRITERS)
        .map(|i| pattern(10 + i as u64, 40_000 * (i + 1) + i))
        .collect();
    let start = &Barrier::new(WRITERS + 1);
    let done = &AtomicUsize::new(0);
    let (store_ref, contents_ref) = (&store, &contents);
    thread::scope(|scope| {
        for content in contents_ref {
            let store = store_ref;
            scope.spawn(move || {
                let mut up = store
                    .start_upload(&bucket("race"), &file("same"), content.len() as u64)
                    .expect("start");
                start.wait();
                for chunk in content.chunks(4096) {
                    up.write_all(chunk).expect("write");
                    thread::yield_now();
                }
                up.commit().expect("commit");
                done.fetch_add(1, Ordering::SeqCst);
            });
        }
        // A reader racing the writers only ever sees whole versions.
        let (store, contents) = (store_ref, contents_ref);
        scope.spawn(move || {
            start.wait();
            let mut seen = 0;
            while done.load(Ordering::SeqCst) < WRITERS || seen == 0 {
                match store.open_file(&bucket("race"), &file("same")) {
                    Ok(Download { mut reader, len }) => {
                        let mut bytes = Vec::new();
                        reader.read_to_end(&mut bytes).expect("read");
                        assert_eq!(bytes.len() as u64, len, "length fixed at open");
                        assert!(contents.contains(&bytes), "partial or mixed read");
                        seen += 1;
                    }
                    Err(StoreError::NoSuchFile) => thread::yield_now(),
                    Err(e) => panic!("reader: {e}"),
                }
            }
        });
    });
    let files = store.list_files(&bucket("race")).expect("list");
    assert_eq!(file_names(&files), ["same"]);
    let last = read(&store, "race", "same").expect("read");
    assert!(
        contents.contains(&last),
        "final content is one whole upload"
    );
    assert_eq!(files[0].size, last.len() as u64);
}

/// Deleting a bucket while an upload into it is in flight succeeds; that
/// upload's commit then fails with `NoSuchBucket` and does not revive the
/// bucket.
pub fn delete_bucket_while_uploading<S: Store>(store: S) {
    store.create_bucket(&bucket("keep")).expect("create");
    store.create_bucket(&bucket("tmp")).expect("create");
    let mut up = store
        .start_upload(&bucket("tmp"), &file("f"), 4)
        .expect("start");
    up.write_all(b"data").expect("write");
    store
        .delete_bucket(&bucket("tmp"))
        .expect("an upload in progress does not make a bucket non-empty");
    assert!(matches!(up.commit(), Err(StoreError::NoSuchBucket)));
    assert_eq!(bucket_list(&store), ["keep"], "commit did not revive it");

    store.create_bucket(&bucket("tmp")).expect("re-create");
    assert!(
        store.list_files(&bucket("tmp")).expect("list").is_empty(),
        "nothing of the failed commit is left"
    );
}

/// An upload whose bucket was deleted and then created again under the same
/// name fails `NoSuchBucket` at commit and leaves the new bucket empty: it
/// belonged to the bucket it started in (docs/protocol.md, decision 15).
pub fn upload_into_a_bucket_deleted_and_created_again_fails<S: Store>(store: S) {
    store.create_bucket(&bucket("b")).expect("create");
    let mut up = store
        .start_upload(&bucket("b"), &file("f"), 4)
        .expect("start");
    up.write_all(b"data").expect("write");
    store.delete_bucket(&bucket("b")).expect("delete");
    store.create_bucket(&bucket("b")).expect("create again");
    assert!(
        matches!(up.commit(), Err(StoreError::NoSuchBucket)),
        "committed into the new bucket"
    );
    assert!(
        store.list_files(&bucket("b")).expect("list").is_empty(),
        "the new bucket got the old upload's file"
    );
}

/// An 8 MiB upload written in uneven pieces is listed, opened and read back
/// byte for byte.
pub fn large_streaming_upload<S: Store>(store: S) {
    const LEN: usize = 8 << 20;
    store.create_bucket(&bucket("big")).expect("create");
    let content = pattern(42, LEN);
    let mut up = store
        .start_upload(&bucket("big"), &file("blob.bin"), LEN as u64)
        .expect("start");
    for chunk in content.chunks(64 << 10) {
        up.write_all(chunk).expect("write");
    }
    assert_eq!(up.written(), LEN as u64);
    up.commit().expect("commit");

    let files = store.list_files(&bucket("big")).expect("list");
    assert_eq!(files[0].size, LEN as u64);
    let Download { mut reader, len } = store
        .open_file(&bucket("big"), &file("blob.bin"))
        .expect("open");
    assert_eq!(len, LEN as u64);
    let mut back = Vec::with_capacity(LEN);
    let copied = std::io::copy(&mut reader, &mut back).expect("copy");
    assert_eq!(copied, LEN as u64);
    assert!(back == content, "8 MiB round-trip differs");
}
