//! Direct I/O for large uploads into [`FsStore`](crate::FsStore) (Linux).
//!
//! An upload of at least [`DIRECT_IO_MIN`] bytes is staged through a file
//! opened with `O_DIRECT`: its bytes are gathered in an aligned buffer and
//! written to the device [`BLOCK`] bytes at a time, bypassing the page cache.
//! The final `fsync` then has almost nothing left to flush, and the upload
//! never fills memory with dirty pages that must be written back later (on
//! the machine of docs/performance.md, buffered writes plus `fsync` moved
//! 333 MB/s with `dd`, `O_DIRECT` 1.3–1.5 GB/s). MinIO stages large objects
//! the same way.
//!
//! The tail of the upload (less than one block) is written after switching
//! `O_DIRECT` off for the file, so no padding or truncation is needed. A
//! filesystem that refuses `O_DIRECT` (at open or at the first write) gets
//! the ordinary buffered path; nothing is lost either way.

use std::fs::File;
use std::io::{self, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::thread::JoinHandle;

/// Uploads declared at least this large, in bytes, are staged with direct
/// I/O. Smaller ones are buffered: their cost is the `fsync` latency, not
/// bandwidth, and a block-sized buffer would be wasted on them.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))] // direct I/O is Linux only
pub(crate) const DIRECT_IO_MIN: u64 = 1 << 20;

/// Bytes per direct write: large enough to keep the device busy between
/// writes (`dd oflag=direct`: 1.2 GB/s at 1 MiB, 1.5 GB/s at 4 MiB).
pub(crate) const BLOCK: usize = 4 << 20;

/// Blocks per direct upload: one being filled, one being written, and one
/// full and queued, so the writer thread finds the next block ready when a
/// write completes, and the connection goes on reading while the disk is
/// slow for a moment. With two (fill one, write the other) each block's
/// hand-over waited on two thread wake-ups; three made uploads 15–29 %
/// faster in paired runs (docs/performance.md). A direct upload holds
/// `BLOCKS * BLOCK` bytes (12 MiB).
pub(crate) const BLOCKS: usize = 3;

/// Direct uploads an [`FsStore`](crate::FsStore) runs at once by default:
/// 96 MiB of blocks and 8 writer threads at most. Past it, uploads are
/// staged with buffered writes; one disk gains nothing from more streams.
pub(crate) const DEFAULT_MAX_DIRECT_UPLOADS: usize = 8;

/// The number of direct uploads in progress against a limit, shared by an
/// [`FsStore`](crate::FsStore) and its clones, so that memory ([`BLOCKS`]
/// blocks each) and writer threads stay bounded however many
/// connections upload at once.
#[derive(Debug)]
pub(crate) struct DirectBudget {
    max: usize,
    in_use: AtomicUsize,
}

impl DirectBudget {
    pub(crate) fn new(max: usize) -> Arc<DirectBudget> {
        Arc::new(DirectBudget {
            max,
            in_use: AtomicUsize::new(0),
        })
    }

    /// The limit.
    pub(crate) fn max(&self) -> usize {
        self.max
    }

    /// Direct uploads in progress.
    pub(crate) fn in_use(&self) -> usize {
        self.in_use.load(Ordering::Acquire)
    }

    /// A slot for one more direct upload, or `None` when all are taken.
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))] // direct I/O is Linux only
    pub(crate) fn try_take(self: &Arc<Self>) -> Option<DirectSlot> {
        self.in_use
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.max).then_some(n + 1)
            })
            .ok()
            .map(|_| DirectSlot(Arc::clone(self)))
    }
}

/// One direct upload's share of a [`DirectBudget`], given back on drop.
#[derive(Debug)]
pub(crate) struct DirectSlot(Arc<DirectBudget>);

impl Drop for DirectSlot {
    fn drop(&mut self) {
        self.0.in_use.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Alignment of the buffer's address, of every direct write's length and of
/// its file offset: the page size, a multiple of every common logical block
/// size (512 or 4096 bytes).
const ALIGN: usize = 4096;

/// A buffer of [`BLOCK`] bytes whose first byte is [`ALIGN`]-aligned, as
/// `O_DIRECT` requires, with how much of it is filled.
#[derive(Debug)]
pub(crate) struct AlignedBlock {
    storage: Vec<u8>,
    start: usize,
    filled: usize,
}

impl AlignedBlock {
    pub(crate) fn new() -> Self {
        // Zeroed, so the pages are mapped lazily as the first upload fills
        // them.
        let storage = vec![0u8; BLOCK + ALIGN];
        let start = storage.as_ptr().align_offset(ALIGN);
        assert!(start < ALIGN, "a byte pointer can always be aligned");
        AlignedBlock {
            storage,
            start,
            filled: 0,
        }
    }

    /// Copies as much of `buf` as fits; returns how many bytes that was.
    pub(crate) fn fill(&mut self, buf: &[u8]) -> usize {
        let spare = self.spare();
        let n = spare.len().min(buf.len());
        spare[..n].copy_from_slice(&buf[..n]);
        self.filled += n;
        n
    }

    /// The unfilled part of the block.
    pub(crate) fn spare(&mut self) -> &mut [u8] {
        &mut self.storage[self.start + self.filled..self.start + BLOCK]
    }

    /// Counts `n` more bytes, placed in [`AlignedBlock::spare`], as filled.
    ///
    /// # Panics
    /// If `n` is more than the spare room.
    pub(crate) fn advance(&mut self, n: usize) {
        assert!(n <= BLOCK - self.filled, "advance beyond the block");
        self.filled += n;
    }

    pub(crate) fn is_full(&self) -> bool {
        self.filled == BLOCK
    }

    /// The filled bytes, starting at an aligned address.
    pub(crate) fn filled(&self) -> &[u8] {
        &self.storage[self.start..self.start + self.filled]
    }

    pub(crate) fn clear(&mut self) {
        self.filled = 0;
    }
}

/// Adds `O_DIRECT` to the flags `OpenOptions` opens a staged file with.
#[cfg(target_os = "linux")]
pub(crate) fn open_flags() -> i32 {
    // O_DIRECT is a small positive constant (0o40000 on x86-64).
    i32::try_from(rustix::fs::OFlags::DIRECT.bits()).unwrap_or(0)
}

/// Switches `O_DIRECT` off for `file`, so the next writes go through the
/// page cache (the unaligned tail, or everything after a refusal).
///
/// # Errors
/// The `fcntl` error, which should never happen for a regular file.
#[cfg(target_os = "linux")]
pub(crate) fn switch_off(file: &File) -> io::Result<()> {
    let flags = rustix::fs::fcntl_getfl(file)?;
    rustix::fs::fcntl_setfl(file, flags - rustix::fs::OFlags::DIRECT)?;
    Ok(())
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn switch_off(_: &File) -> io::Result<()> {
    Ok(())
}

/// Refuses an upload of `len` bytes that cannot fit in the free space of
/// `file`'s filesystem (as an unprivileged user sees it), before its payload
/// is read. Nothing is reserved: `fallocate` would let one request line hold
/// the whole disk until the connection times out, and it was not faster
/// here. A filesystem that cannot say is not checked (see
/// [`free_space_allows`]).
///
/// # Errors
/// [`io::ErrorKind::StorageFull`] when `len` is more than the free space.
#[cfg(unix)]
pub(crate) fn check_free_space(file: &File, len: u64) -> io::Result<()> {
    let Ok(stat) = rustix::fs::fstatvfs(file) else {
        return Ok(());
    };
    free_space_allows(len, stat.f_blocks, stat.f_bavail, stat.f_frsize)
}

/// Whether `len` bytes fit in `available` free blocks of `block_size`
/// bytes, on a filesystem of `total` blocks (`statvfs`'s `f_blocks`,
/// `f_bavail`, `f_frsize`). A `total` of 0 means the filesystem does not
/// report its sizes (libfuse's default answer, which FUSE filesystems such
/// as fusefat give): nothing is refused then, where reading its 0 free
/// blocks literally refused every upload.
///
/// # Errors
/// [`io::ErrorKind::StorageFull`] when `len` is more than the free space.
#[cfg(unix)]
fn free_space_allows(len: u64, total: u64, available: u64, block_size: u64) -> io::Result<()> {
    if total == 0 {
        return Ok(());
    }
    let free = available.saturating_mul(block_size);
    if len > free {
        return Err(io::Error::new(
            io::ErrorKind::StorageFull,
            format!("{len} bytes do not fit in the {free} bytes free"),
        ));
    }
    Ok(())
}

#[cfg(not(unix))]
pub(crate) fn check_free_space(_: &File, _: u64) -> io::Result<()> {
    Ok(())
}

/// Writes one block. On `EINVAL` (the filesystem accepted `O_DIRECT` at
/// open but refuses it for writes) it switches the file to buffered I/O and
/// writes the block that way.
///
/// # Errors
/// The write's error (`ENOSPC`, `EIO`, …).
fn write_block(mut file: &File, block: &[u8]) -> io::Result<()> {
    match file.write_all(block) {
        Err(e) if e.kind() == io::ErrorKind::InvalidInput => {
            // EINVAL comes before any byte is written.
            switch_off(file)?;
            file.write_all(block)
        }
        other => other,
    }
}

/// Writes an upload's bytes to a file opened with `O_DIRECT`, one [`BLOCK`]
/// at a time, on its own thread: while one block goes to the disk, the
/// connection fills the other, so the network and the disk work at the same
/// time (written inline, the socket stalled for every block and uploads ran
/// at about 880 MB/s instead of the disk's pace).
///
/// [`BLOCKS`] blocks circulate: the one being filled, and the others either
/// free here or with the writer thread (queued or being written). The
/// last, partial block is written by [`DirectWriter::finish`] with
/// `O_DIRECT` switched off, so the file needs no padding.
#[derive(Debug)]
pub(crate) struct DirectWriter {
    filling: AlignedBlock,
    /// Free blocks, not with the writer thread.
    spare: Vec<AlignedBlock>,
    /// Blocks handed to the writer thread and not yet back.
    with_writer: usize,
    /// Full blocks to the writer thread; `None` once it has stopped.
    to_writer: Option<SyncSender<AlignedBlock>>,
    /// Written (cleared) blocks back, or the error that stopped the thread.
    from_writer: Receiver<io::Result<AlignedBlock>>,
    /// The error that stopped the writer thread, once taken from
    /// `from_writer`, to report again on later calls: its kind and text.
    failed: Option<(io::ErrorKind, String)>,
    thread: Option<JoinHandle<()>>,
    /// This upload's share of the store's budget, given back after the
    /// thread has stopped (fields drop after [`Drop::drop`]).
    _slot: DirectSlot,
}

impl DirectWriter {
    /// Starts the writer thread for `file` (a handle that shares its open
    /// file description, so `O_DIRECT` and the position are shared),
    /// holding `slot` until the writer is finished or dropped.
    ///
    /// # Errors
    /// Duplicating the handle or spawning the thread failed.
    pub(crate) fn start(file: &File, slot: DirectSlot) -> io::Result<DirectWriter> {
        let file = file.try_clone()?;
        // Neither channel ever blocks its sender: at most BLOCKS - 1 blocks
        // are away from the connection at once.
        let (to_writer, full) = mpsc::sync_channel::<AlignedBlock>(BLOCKS);
        let (done, from_writer) = mpsc::sync_channel(BLOCKS);
        let thread = std::thread::Builder::new()
            .name("bkt-direct-write".into())
            .spawn(move || {
                for mut block in full {
                    let written = write_block(&file, block.filled());
                    block.clear();
                    let failed = written.is_err();
                    if done.send(written.map(|()| block)).is_err() || failed {
                        return;
                    }
                }
            })?;
        Ok(DirectWriter {
            filling: AlignedBlock::new(),
            spare: (1..BLOCKS).map(|_| AlignedBlock::new()).collect(),
            with_writer: 0,
            to_writer: Some(to_writer),
            from_writer,
            failed: None,
            thread: Some(thread),
            _slot: slot,
        })
    }

    /// Takes as much of `buf` as the current block holds, after handing a
    /// full block to the writer thread (waiting for a written one to come
    /// back only when every block is away); returns how many bytes it took.
    ///
    /// # Errors
    /// A failed block write, the writer thread's own error (`ENOSPC`,
    /// `EIO`, …), reported on a call after it failed and on every call
    /// after that; the bytes of `buf` are then not taken.
    pub(crate) fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let Some(e) = self.failure() {
            return Err(e);
        }
        if self.filling.is_full() {
            let empty = match self.spare.pop() {
                Some(block) => block,
                None => self.returned_block()?,
            };
            let full = std::mem::replace(&mut self.filling, empty);
            let sent = self.to_writer.as_ref().map(|tx| tx.send(full));
            if !matches!(sent, Some(Ok(()))) {
                // The thread has stopped: the error it stopped on is waiting
                // in `from_writer`, behind any blocks it wrote first.
                return Err(self.writer_error());
            }
            self.with_writer += 1;
        }
        Ok(self.filling.fill(buf))
    }

    /// The free part of the block being filled, after handing a full block
    /// to the writer thread. Fill it, then call
    /// [`DirectWriter::commit_received`].
    ///
    /// # Errors
    /// A failed block write, as for [`DirectWriter::write`].
    pub(crate) fn spare(&mut self) -> io::Result<&mut [u8]> {
        self.write(&[])?;
        Ok(self.filling.spare())
    }

    /// Counts `n` bytes placed at the front of [`DirectWriter::spare`] as
    /// filled.
    ///
    /// # Panics
    /// If `n` is more than the spare room.
    pub(crate) fn commit_received(&mut self, n: usize) {
        self.filling.advance(n);
    }

    /// Waits for every block to be written, then writes the partial last
    /// block through the page cache. The caller `fsync`s the file next.
    ///
    /// # Errors
    /// The first failed write (the writer thread's error, even when an
    /// earlier call reported it already).
    pub(crate) fn finish(mut self, file: &File) -> io::Result<()> {
        if let Some(e) = self.failure() {
            return Err(e);
        }
        if self.filling.is_full() {
            self.write(&[])?;
        }
        self.to_writer = None;
        while self.with_writer > 0 {
            let block = self.returned_block()?;
            self.spare.push(block);
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        if !self.filling.filled().is_empty() {
            switch_off(file)?;
            (&mut &*file).write_all(self.filling.filled())?;
        }
        Ok(())
    }

    /// The next block back from the writer thread, or the error that
    /// stopped it.
    /// Called only while no error is recorded (`write` and `finish` check).
    fn returned_block(&mut self) -> io::Result<AlignedBlock> {
        match self.from_writer.recv() {
            Ok(Ok(block)) => {
                self.with_writer -= 1;
                Ok(block)
            }
            Ok(Err(e)) => Err(self.failed_with(e)),
            Err(_) => Err(self.writer_error()),
        }
    }

    /// The error the writer thread stopped on, after it has stopped (it
    /// sends its error before it ends): taken from `from_writer`, where it
    /// waits behind any blocks written before it. Called only while no error
    /// is recorded yet.
    fn writer_error(&mut self) -> io::Error {
        loop {
            match self.from_writer.recv() {
                Ok(Ok(block)) => {
                    self.with_writer -= 1;
                    self.spare.push(block);
                }
                Ok(Err(e)) => return self.failed_with(e),
                // Stopped without an error: it panicked.
                Err(_) => return io::Error::other("the upload's writer thread stopped"),
            }
        }
    }

    /// Records `e`, the error that stopped the writer thread, and returns
    /// it.
    fn failed_with(&mut self, e: io::Error) -> io::Error {
        self.with_writer -= 1;
        self.failed = Some((e.kind(), e.to_string()));
        e
    }

    /// The writer thread's error again, if it has stopped on one: same kind
    /// and text.
    fn failure(&self) -> Option<io::Error> {
        self.failed
            .as_ref()
            .map(|(kind, text)| io::Error::new(*kind, text.clone()))
    }
}

impl Drop for DirectWriter {
    /// Stops the writer thread and waits for it, so no write to the staged
    /// file outlives the upload.
    fn drop(&mut self) {
        self.to_writer = None;
        if let Some(thread) = self.thread.take() {
            // Unblock a thread waiting to return a block.
            while self.from_writer.recv().is_ok() {}
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn free_space_refuses_what_does_not_fit_unless_the_filesystem_reports_no_size() {
        // 10 free blocks of 4 KiB on a filesystem of 100.
        assert!(free_space_allows(40_960, 100, 10, 4096).is_ok());
        let e = free_space_allows(40_961, 100, 10, 4096).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::StorageFull);
        assert!(e.to_string().contains("40961 bytes"), "{e}");
        // Full, but reporting its size: refused.
        assert!(free_space_allows(1, 100, 0, 4096).is_err());
        // No size at all (FUSE without statfs): not checked.
        assert!(free_space_allows(u64::MAX, 0, 0, 0).is_ok());
        assert!(free_space_allows(1 << 30, 0, 0, 4096).is_ok());
    }

    #[test]
    fn budget_slots_are_counted_and_given_back_on_drop() {
        let budget = DirectBudget::new(2);
        let a = budget.try_take().unwrap();
        let b = budget.try_take().unwrap();
        assert_eq!(budget.in_use(), 2);
        assert!(budget.try_take().is_none());
        drop(a);
        assert_eq!(budget.in_use(), 1);
        let c = budget.try_take().unwrap();
        assert!(budget.try_take().is_none());
        drop((b, c));
        assert_eq!(budget.in_use(), 0);
        assert!(DirectBudget::new(0).try_take().is_none());
    }

    /// The writer thread fails on its first block and stops; the next block
    /// handed to it finds it gone. That call, and every later one, must
    /// report the thread's own error (ENOSPC from /dev/full), not a bare
    /// "stopped".
    #[cfg(target_os = "linux")]
    #[test]
    fn the_writer_threads_own_error_is_reported_once_it_has_stopped() {
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap();
        let enospc = io::Error::from_raw_os_error(28);
        let budget = DirectBudget::new(1);
        let mut writer = DirectWriter::start(&file, budget.try_take().unwrap()).unwrap();
        let bytes = vec![1u8; BLOCK];
        assert_eq!(writer.write(&bytes).unwrap(), BLOCK);
        // Hands the first block to the thread, which fails on it and ends.
        assert_eq!(writer.write(&bytes).unwrap(), BLOCK);
        let thread = writer.thread.as_ref().unwrap();
        while !thread.is_finished() {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        let check = |result: io::Result<()>, call: &str| {
            let e = result.expect_err(call);
            assert_eq!(e.kind(), io::ErrorKind::StorageFull, "{call}: {e}");
            assert_eq!(e.to_string(), enospc.to_string(), "{call}");
        };
        // Hands the second block over: the send fails.
        check(writer.write(&[]).map(drop), "the next block");
        check(writer.write(&bytes).map(drop), "a write after it");
        check(writer.spare().map(drop), "spare after it");
        check(writer.finish(&file), "finish");
        assert_eq!(budget.in_use(), 0);
    }

    #[test]
    fn block_is_aligned_and_fills_to_exactly_block_bytes() {
        let mut block = AlignedBlock::new();
        assert_eq!(block.filled().as_ptr().align_offset(ALIGN), 0);
        let piece = vec![7u8; 3 << 20];
        assert_eq!(block.fill(&piece), 3 << 20);
        assert!(!block.is_full());
        assert_eq!(block.fill(&piece), BLOCK - (3 << 20));
        assert!(block.is_full());
        assert_eq!(block.fill(&piece), 0);
        assert_eq!(block.filled().len(), BLOCK);
        assert!(block.filled().iter().all(|&b| b == 7));
        block.clear();
        assert!(block.filled().is_empty());
        assert_eq!(block.filled().as_ptr().align_offset(ALIGN), 0);
    }
}
