//! FsStore's direct-I/O staging of large uploads: bytes come out whole at
//! every block boundary, by `write` and by `receive_buffer`, aborts leave
//! nothing, a disk too small is found before the payload, a disk that fills
//! meanwhile is reported as such (ENOSPC), and no more than
//! `with_max_direct_uploads` run at once.
#![allow(clippy::unwrap_used)]

mod common;

use std::fs;
use std::io::Write;
use std::path::Path;

use bucket_store::{FsStore, FsUpload, Store, StoreError, Upload};
use common::{Tmpfs, bucket, file, pattern, put, read};

const MIB: usize = 1 << 20;
/// Sizes around FsStore's 1 MiB threshold and 4 MiB block, and past its
/// three blocks (12 MiB), where the connection must wait for a written
/// block to come back before it can fill another.
const SIZES: [usize; 10] = [
    MIB - 1,
    MIB,
    4 * MIB - 1,
    4 * MIB,
    4 * MIB + 1,
    8 * MIB,
    9 * MIB + 17,
    12 * MIB,
    13 * MIB + 5,
    21 * MIB - 3,
];

fn store(dir: &Path, direct: bool) -> FsStore {
    let store = FsStore::open(dir).unwrap().with_direct_io(direct);
    match store.create_bucket(&bucket("b")) {
        Ok(()) | Err(StoreError::Exists) => store,
        Err(e) => panic!("create bucket: {e}"),
    }
}

fn start(store: &FsStore, name: &str, size: usize) -> FsUpload {
    store
        .start_upload(&bucket("b"), &file(name), size as u64)
        .unwrap()
}

fn staging_is_empty(store: &FsStore) -> bool {
    fs::read_dir(store.staging_dir()).unwrap().next().is_none()
}

#[test]
fn large_uploads_are_direct_and_small_or_disabled_ones_are_not() {
    let dir = tempfile::tempdir().unwrap();
    let on = store(dir.path(), true);
    assert!(on.direct_io());
    assert!(start(&on, "big", MIB).is_direct());
    assert!(!start(&on, "small", MIB - 1).is_direct());
    let off = on.clone().with_direct_io(false);
    assert!(!off.direct_io());
    assert!(!start(&off, "big", 64 * MIB).is_direct());
    let mut buffered = start(&off, "big", 64 * MIB);
    assert!(buffered.receive_buffer().unwrap().is_none());
}

#[test]
fn written_bytes_come_back_whole_at_every_block_boundary() {
    let dir = tempfile::tempdir().unwrap();
    for direct in [true, false] {
        let store = store(dir.path(), direct);
        for (i, &size) in SIZES.iter().enumerate() {
            let bytes = pattern(i as u64, size);
            let mut up = start(&store, "f", size);
            // Odd piece sizes, so pieces straddle block ends.
            for piece in bytes.chunks(65_537) {
                up.write_all(piece).unwrap();
            }
            assert_eq!(up.written(), size as u64);
            up.commit().unwrap();
            let back = read(&store, "b", "f").unwrap();
            assert!(
                back == bytes,
                "direct={direct} size={size}: content differs"
            );
            assert!(staging_is_empty(&store));
        }
    }
}

#[test]
fn bytes_placed_in_the_receive_buffer_come_back_whole() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path(), true);
    for (i, &size) in SIZES.iter().enumerate().filter(|(_, s)| **s >= MIB) {
        let bytes = pattern(100 + i as u64, size);
        let mut up = start(&store, "g", size);
        let mut at = 0;
        let mut turn = 0_usize;
        while at < size {
            turn += 1;
            if turn.is_multiple_of(3) {
                // Mix in ordinary writes.
                let n = (size - at).min(70_001);
                up.write_all(&bytes[at..at + n]).unwrap();
                at += n;
                continue;
            }
            let buf = up
                .receive_buffer()
                .unwrap()
                .expect("a direct upload offers its block");
            assert!(!buf.is_empty());
            // Fill part of the room, as a short socket read would.
            let n = buf.len().min(size - at).min(300_000 + turn);
            buf[..n].copy_from_slice(&bytes[at..at + n]);
            up.commit_received(n);
            at += n;
            assert_eq!(up.written(), at as u64);
        }
        up.commit().unwrap();
        assert!(
            read(&store, "b", "g").unwrap() == bytes,
            "size={size}: content differs"
        );
        assert!(staging_is_empty(&store));
    }
}

#[test]
fn aborted_direct_uploads_leave_the_old_file_and_no_staged_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path(), true);
    let old = pattern(7, 2 * MIB);
    put(&store, "b", "keep", &old).unwrap();
    // Several blocks handed to the writer thread, then abort / drop.
    let mut up = start(&store, "keep", 16 * MIB);
    up.write_all(&pattern(8, 10 * MIB)).unwrap();
    up.abort();
    let mut up = start(&store, "keep", 16 * MIB);
    up.write_all(&pattern(9, 9 * MIB)).unwrap();
    drop(up);
    assert!(read(&store, "b", "keep").unwrap() == old);
    assert!(staging_is_empty(&store));
}

#[test]
fn direct_uploads_past_the_limit_are_buffered_and_slots_come_back() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path(), true).with_max_direct_uploads(2);
    assert_eq!(store.max_direct_uploads(), 2);
    // A clone shares the count.
    let clone = store.clone();
    let mut a = start(&store, "a", 8 * MIB);
    let b = start(&clone, "b", 8 * MIB);
    assert!(a.is_direct() && b.is_direct());
    assert_eq!(store.direct_uploads_in_progress(), 2);
    // Full: the next large upload is buffered, and still commits whole.
    let bytes = pattern(21, 5 * MIB + 9);
    let mut c = start(&store, "c", bytes.len());
    assert!(!c.is_direct());
    assert!(c.receive_buffer().unwrap().is_none());
    c.write_all(&bytes).unwrap();
    c.commit().unwrap();
    assert!(read(&store, "b", "c").unwrap() == bytes);
    assert_eq!(clone.direct_uploads_in_progress(), 2);
    // Abort, drop and commit each give their slot back.
    b.abort();
    assert_eq!(store.direct_uploads_in_progress(), 1);
    let d = start(&store, "d", 8 * MIB);
    assert!(d.is_direct());
    drop(d);
    assert_eq!(store.direct_uploads_in_progress(), 1);
    let bytes = pattern(22, 6 * MIB);
    a.write_all(&bytes).unwrap();
    a.commit().unwrap();
    assert_eq!(store.direct_uploads_in_progress(), 0);
    assert!(read(&store, "b", "a").unwrap() == bytes);
    assert!(staging_is_empty(&store));
}

#[test]
fn a_limit_of_zero_stages_every_upload_buffered() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path(), true).with_max_direct_uploads(0);
    assert!(store.direct_io());
    let up = start(&store, "big", 64 * MIB);
    assert!(!up.is_direct());
    assert_eq!(store.direct_uploads_in_progress(), 0);
}

#[test]
fn receive_buffer_commit_beyond_the_room_panics() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path(), true);
    let mut up = start(&store, "p", 8 * MIB);
    let room = up.receive_buffer().unwrap().unwrap().len();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        up.commit_received(room + 1);
    }));
    assert!(result.is_err());
}

#[test]
fn an_upload_larger_than_the_free_space_is_refused_before_its_payload() {
    let Some(tmpfs) = Tmpfs::mount("8m") else {
        return;
    };
    let root = tmpfs.path().join("root");
    for direct in [true, false] {
        let store = store(&root, direct);
        match store.start_upload(&bucket("b"), &file("huge"), 64 * MIB as u64) {
            Err(StoreError::Io(e)) => {
                assert_eq!(e.kind(), std::io::ErrorKind::StorageFull, "{e}");
            }
            Err(e) => panic!("expected an I/O error, got {e}"),
            Ok(_) => panic!("a 64 MiB upload into an 8 MiB filesystem was started"),
        }
        assert!(staging_is_empty(&store));
        // Nothing is reserved at the start: two uploads that each fit, but
        // not together, may both start (a request line alone cannot fill
        // the disk for everyone else).
        let first = start(&store, "one", 6 * MIB);
        let second = start(&store, "two", 6 * MIB);
        drop((first, second));
        // What fits still goes in, direct I/O or not (tmpfs takes O_DIRECT).
        let bytes = pattern(3, 5 * MIB + 3);
        let mut up = start(&store, "fits", bytes.len());
        assert_eq!(up.is_direct(), direct);
        up.write_all(&bytes).unwrap();
        up.commit().unwrap();
        assert!(read(&store, "b", "fits").unwrap() == bytes);
        store.delete_file(&bucket("b"), &file("fits")).unwrap();
    }
}

/// On a tmpfs of `size`, two direct uploads start together (each fits the
/// free space then): a 6 MiB one, which is written and committed (its bytes
/// are returned), and one of `second_size` bytes, returned started. `None`
/// where no tmpfs can be mounted.
fn two_uploads_the_first_committed(
    size: &str,
    second_size: usize,
) -> Option<(Tmpfs, FsStore, FsUpload, Vec<u8>)> {
    let tmpfs = Tmpfs::mount(size)?;
    let store = store(&tmpfs.path().join("root"), true);
    let mut first = start(&store, "first", 6 * MIB);
    let second = start(&store, "second", second_size);
    assert!(first.is_direct() && second.is_direct());
    let bytes = pattern(11, 6 * MIB);
    first.write_all(&bytes).unwrap();
    first.commit().unwrap();
    Some((tmpfs, store, second, bytes))
}

/// After the second upload failed: the first is whole, nothing of the
/// second is left, its direct-I/O slot included.
fn only_the_first_is_left(store: &FsStore, first: &[u8]) {
    assert!(read(store, "b", "first").unwrap() == first);
    assert!(matches!(
        store.open_file(&bucket("b"), &file("second")),
        Err(StoreError::NoSuchFile)
    ));
    assert!(staging_is_empty(store));
    assert_eq!(store.direct_uploads_in_progress(), 0);
}

/// On an 8 MiB tmpfs, a 6 MiB upload commits and a second one of
/// `second_size` bytes no longer fits. Its failed block write on the writer
/// thread must come back as ENOSPC, on a later `write` or at `commit`, never
/// as success, and leave nothing of it behind.
fn the_second_of_two_uploads_runs_out_of_space(second_size: usize) {
    let Some((_tmpfs, store, mut second, first)) =
        two_uploads_the_first_committed("8m", second_size)
    else {
        return;
    };
    let failed = second
        .write_all(&pattern(12, second_size))
        .map_err(StoreError::from)
        .and_then(|()| second.commit());
    match failed {
        Err(StoreError::Io(e)) => assert_eq!(e.kind(), std::io::ErrorKind::StorageFull, "{e}"),
        Err(e) => panic!("expected ENOSPC, got {e}"),
        Ok(()) => panic!("{second_size} more bytes were committed into a full filesystem"),
    }
    only_the_first_is_left(&store, &first);
}

#[test]
fn a_disk_that_fills_mid_upload_fails_that_upload_and_leaves_no_part_of_it() {
    // A full block and a tail: the error may surface at either.
    the_second_of_two_uploads_runs_out_of_space(6 * MIB);
}

#[test]
fn a_failed_last_block_fails_the_commit_even_with_no_tail() {
    // Exactly one block: every `write` succeeds, the block's only write
    // happens on the writer thread at `commit`, and nothing is left for
    // `commit` to write itself. The commit must still see that write fail.
    the_second_of_two_uploads_runs_out_of_space(4 * MIB);
}

#[test]
fn a_full_disk_is_reported_as_enospc_after_the_writer_thread_stopped_on_it() {
    // A 9 MiB tmpfs: both uploads fit at the start; once the first has
    // committed 6 MiB, the second's first block (4 MiB) no longer fits.
    let Some((_tmpfs, store, mut second, first)) = two_uploads_the_first_committed("9m", 8 * MIB)
    else {
        return;
    };
    // Two full blocks, through the receive buffer as the server does: the
    // first goes to the writer thread, which fails on it and stops.
    for _ in 0..2 {
        let buf = second.receive_buffer().unwrap().unwrap();
        assert_eq!(buf.len(), 4 * MIB);
        buf.fill(7);
        second.commit_received(4 * MIB);
    }
    // Time for the writer thread to fail and end, so that handing it the
    // second block finds it gone.
    std::thread::sleep(std::time::Duration::from_millis(500));
    let Err(StoreError::Io(e)) = second.commit() else {
        panic!("8 MiB committed into a full filesystem, or refused as something else");
    };
    assert_eq!(e.kind(), std::io::ErrorKind::StorageFull, "{e}");
    let enospc = std::io::Error::from_raw_os_error(28).to_string();
    assert!(e.to_string().contains(&enospc), "{e}");
    only_the_first_is_left(&store, &first);
}
