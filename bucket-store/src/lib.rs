//! # bucket-store
//!
//! Where a BKT/1 server keeps its buckets: the [`Store`] trait, with
//! streaming atomic uploads ([`Upload`]), and two back-ends, [`FsStore`] (a
//! folder per bucket on the local filesystem) and [`MemStore`] (in memory, for
//! tests and embedding).
//!
//! Names arrive as [`BucketName`] / [`FileName`], already validated against
//! PROTOCOL.md § Names; failures are [`StoreError`]s, each mapped onto one
//! PROTOCOL.md reason token by [`StoreError::reason`].
//!
//! ## Writing a new back-end
//!
//! 1. Pick the two associated types. [`Store::Reader`] is what a download
//!    streams from: a *concrete* type that implements [`Source`] (an
//!    [`std::io::Read`] with two optional hints for the server). A
//!    `std::fs::File` is one, which the server sends with `sendfile`, and so
//!    is any `std::io::Cursor` over bytes in memory (`Cursor<Vec<u8>>`,
//!    `Cursor<Arc<[u8]>>`, [`MemReader`]); for anything else, implement
//!    `Source` with its defaults. [`Store::Upload`] holds one upload in
//!    progress.
//! 2. Map names to storage: a [`BucketName`] or [`FileName`] is one path
//!    component or key segment, never more. Check that it stays one (reject
//!    with [`StoreError::BadName`] otherwise) so nothing outside your root is
//!    ever touched. Names starting with `.bkt-` are never valid file names, so
//!    use that prefix for your own bookkeeping (staging, markers).
//! 3. Implement the bucket operations: `create_bucket` fails with `Exists`,
//!    `delete_bucket` with `NoSuchBucket` or `NotEmpty` (never delete files
//!    implicitly), `list_buckets` / `list_files` return name-sorted lists and
//!    skip whatever is not a valid name.
//! 4. Implement uploads: `start_upload` checks the bucket exists, then stages
//!    the bytes somewhere readers cannot see. [`Upload::commit`] makes them
//!    visible in one step, replacing an existing file; it fails with
//!    `NoSuchBucket` (and cleans up) if the bucket was deleted meanwhile.
//!    [`Upload::abort`] and dropping the upload discard the staged bytes.
//!    Optionally, offer a buffer of your own with [`Upload::receive_buffer`]
//!    so a server can read the payload straight into it (FsStore does, for
//!    its direct-I/O blocks).
//! 5. Implement `open_file` so a reader sees one whole version of the file with its
//!    length fixed at open time, even if the file is replaced while it reads.
//! 6. Map every other failure to [`StoreError::Io`], keeping the OS error.
//!    `?` on an `io::Error` does that for *every* error (the blanket
//!    `From`), so match the kinds that mean a named case first: a missing
//!    bucket folder is `NoSuchBucket`, not `Io` of kind `NotFound`.
//! 7. Run the shared checks against it: in an integration test, one
//!    `bucket_store::store_conformance_tests!(name, || (keep_alive, store))`
//!    line generates every test both built-in back-ends pass
//!    ([`conformance`]).

pub mod conformance;
mod direct;
mod error;
mod fs;
mod mem;

use std::io;
use std::time::SystemTime;

/// The protocol types a back-end meets, re-exported so that a back-end
/// needs no second, version-matched dependency on bucket-proto.
pub use bucket_proto::{BucketName, FileName, NameError, Reason};
pub use error::StoreError;
pub use fs::{FsStore, FsUpload};
pub use mem::{MemBytes, MemReader, MemStore, MemUpload};

/// A place that holds buckets (named folders) of files, with atomic uploads.
///
/// Every method takes `&self` and may be called from many threads at once
/// (one per connection); a back-end serialises what it must internally.
/// Lists are sorted by name (byte order of the UTF-8 text).
///
/// ## Semantics every back-end keeps
/// - Readers never see a partial upload: an [`Upload`] is invisible until
///   [`Upload::commit`], which replaces an existing file in one step
///   (PROTOCOL.md § Upload payload). A reader opened before the replacement
///   keeps reading the old content to its end.
/// - Deleting a bucket never deletes files: a bucket that holds files is
///   refused with [`StoreError::NotEmpty`] (PROTOCOL.md § Buckets).
/// - Nothing outside the store is read, written or deleted, whatever the name
///   (PROTOCOL.md § Names).
///
/// ## Fit for object stores
/// The trait asks for nothing only a local filesystem can do, so an object
/// store (S3 through OpenDAL's blocking API, say) can implement it: an upload
/// is a streaming put (a multipart writer) finished by `commit` (close) or
/// `abort`; `open` is a stat for the length plus a streaming reader; listing
/// returns sizes and modification times, which object listings carry; a
/// bucket can be a key prefix with a marker object. There are no renames,
/// directory handles, file descriptors, partial writes into existing files or
/// symlinks in the contract.
pub trait Store: Send + Sync + 'static {
    /// What [`Store::open_file`] hands out to stream a file's bytes from.
    /// [`FsStore`] uses `std::fs::File`, concrete so that `std::io::copy` to a
    /// `TcpStream` can use `sendfile`/`splice`.
    type Reader: Source;

    /// An upload in progress, returned by [`Store::start_upload`]. It owns
    /// what it needs (no borrow of the store), so it can be moved to another
    /// thread or kept across reads from a connection.
    type Upload: Upload + 'static;

    /// Creates an empty bucket.
    ///
    /// # Errors
    /// [`StoreError::Exists`] if a bucket (or, on a filesystem, any entry) of
    /// that name is present; [`StoreError::BadName`]; [`StoreError::Io`].
    fn create_bucket(&self, bucket: &BucketName<'_>) -> Result<(), StoreError>;

    /// Deletes an empty bucket. Never deletes files (PROTOCOL.md § Buckets).
    ///
    /// # Errors
    /// [`StoreError::NoSuchBucket`] if it does not exist;
    /// [`StoreError::NotEmpty`] if it still holds files;
    /// [`StoreError::BadName`]; [`StoreError::Io`].
    fn delete_bucket(&self, bucket: &BucketName<'_>) -> Result<(), StoreError>;

    /// Every bucket, sorted by name.
    ///
    /// # Errors
    /// [`StoreError::Io`] if the store cannot be listed.
    fn list_buckets(&self) -> Result<Vec<BucketName<'static>>, StoreError>;

    /// Every committed file of `bucket`, sorted by name, with its size in
    /// bytes and modification time. Uploads in progress are not listed.
    ///
    /// # Errors
    /// [`StoreError::NoSuchBucket`]; [`StoreError::BadName`];
    /// [`StoreError::Io`].
    fn list_files(&self, bucket: &BucketName<'_>) -> Result<Vec<FileInfo>, StoreError>;

    /// Starts uploading `name` into `bucket`. `size` is the length the client
    /// declared, in bytes: a hint for preallocation or for choosing a single
    /// or multipart put. The store does not enforce it; the server checks
    /// that exactly `size` bytes were written before committing.
    ///
    /// # Errors
    /// [`StoreError::NoSuchBucket`] early, before any byte is staged, when
    /// the bucket does not exist; [`StoreError::BadName`];
    /// [`StoreError::Io`] if the staging area cannot be written.
    fn start_upload(
        &self,
        bucket: &BucketName<'_>,
        name: &FileName<'_>,
        size: u64,
    ) -> Result<Self::Upload, StoreError>;

    /// Opens a committed file for reading. The returned [`Download`] holds the
    /// file's length in bytes, fixed at open time, and a reader that yields
    /// exactly that many bytes of one version of the file, even if the file
    /// is replaced or deleted while it is read.
    ///
    /// # Errors
    /// [`StoreError::NoSuchBucket`]; [`StoreError::NoSuchFile`];
    /// [`StoreError::BadName`]; [`StoreError::Io`].
    fn open_file(
        &self,
        bucket: &BucketName<'_>,
        name: &FileName<'_>,
    ) -> Result<Download<Self::Reader>, StoreError>;

    /// Deletes one committed file. Readers that already opened it keep
    /// reading it to its end.
    ///
    /// # Errors
    /// [`StoreError::NoSuchBucket`]; [`StoreError::NoSuchFile`];
    /// [`StoreError::BadName`]; [`StoreError::Io`].
    fn delete_file(&self, bucket: &BucketName<'_>, name: &FileName<'_>) -> Result<(), StoreError>;
}

/// An open file, from [`Store::open_file`]: the reply `900 FDBS <len>` followed by
/// the bytes of `reader`.
#[derive(Debug)]
pub struct Download<R> {
    /// Streams the file's bytes; yields exactly `len` bytes.
    pub reader: R,
    /// The file's length in bytes, fixed when it was opened.
    pub len: u64,
}

/// What a download reads from: any [`io::Read`], which may also show the
/// server a faster way to send it. Both hints are optional; a back-end whose
/// reader is neither a file nor bytes in memory (an object-store stream)
/// keeps the defaults and is copied through a buffer.
pub trait Source: io::Read + Send + 'static {
    /// The open file behind this reader, positioned where reading goes on,
    /// so a server can send it with `sendfile` (no copy through user space).
    fn as_file(&self) -> Option<&std::fs::File> {
        None
    }

    /// The bytes still to be read, when they are already in memory, so a
    /// server can write them in one call.
    fn remaining_bytes(&self) -> Option<&[u8]> {
        None
    }
}

impl Source for std::fs::File {
    fn as_file(&self) -> Option<&std::fs::File> {
        Some(self)
    }
}

/// One committed file, as [`Store::list_files`] reports it (the `name size`
/// of a `800 LFS` line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileInfo {
    /// The file's name within its bucket.
    pub name: FileName<'static>,
    /// The file's length in bytes.
    pub size: u64,
    /// When the file's content was last written (for [`FsStore`], the
    /// filesystem's mtime, at the filesystem's granularity; for [`MemStore`],
    /// the commit time).
    pub modified: SystemTime,
}

/// A streaming upload from [`Store::start_upload`]: write the bytes with
/// [`std::io::Write`], then [`commit`](Upload::commit) or
/// [`abort`](Upload::abort).
///
/// Nothing is visible to readers until `commit`, and `commit` replaces an
/// existing file of the same name atomically: a reader sees the old content
/// or the new, never a part (PROTOCOL.md § Upload payload). Dropping an
/// upload without committing it aborts it. When several uploads of one name
/// are committed concurrently, the last commit wins whole.
pub trait Upload: io::Write + Send {
    /// Makes the written bytes the content of the file, atomically replacing
    /// any previous content.
    ///
    /// # Errors
    /// [`StoreError::NoSuchBucket`] if the bucket was deleted since
    /// [`Store::start_upload`] (nothing is left behind);
    /// [`StoreError::Io`] if the bytes cannot be made durable or visible (the
    /// staged bytes are then discarded). The file keeps its previous content
    /// (or stays absent) on every error, except that [`FsStore`] may already
    /// have made the new content visible when only the final directory sync
    /// fails.
    fn commit(self) -> Result<(), StoreError>;

    /// Discards the written bytes; the file keeps its previous content (or
    /// stays absent). Same as dropping the upload, but explicit.
    fn abort(self);

    /// How many bytes have been written so far.
    fn written(&self) -> u64;

    /// Room in the upload's own buffer that the next bytes may be placed in
    /// directly (a server reads the socket into it, saving the copy that
    /// [`Write::write`](io::Write::write) makes), to be followed by
    /// [`commit_received`](Upload::commit_received). `None`, the default,
    /// when the back-end has no such buffer: write the bytes instead.
    ///
    /// [`FsUpload`] offers the free part of its aligned block when it stages
    /// with direct I/O.
    ///
    /// # Errors
    /// The error of an earlier write that failed in the background (the
    /// upload should then be aborted), as [`io::Write::write`] would report
    /// it.
    fn receive_buffer(&mut self) -> io::Result<Option<&mut [u8]>> {
        Ok(None)
    }

    /// Takes the first `n` bytes of the slice [`receive_buffer`] returned as
    /// the next bytes of the upload, as if they had been written.
    ///
    /// [`receive_buffer`]: Upload::receive_buffer
    ///
    /// # Panics
    /// If `n` is more than that slice's length (or not 0 when it returned
    /// `None`): a bug in the caller.
    fn commit_received(&mut self, n: usize) {
        assert_eq!(n, 0, "commit_received without a receive buffer");
    }
}

/// The examples of README.md, compiled and run as doctests so that the
/// crate's front page stays true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
