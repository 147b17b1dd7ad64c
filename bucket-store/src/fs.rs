//! [`FsStore`]: buckets as folders of a local directory.
//!
//! Layout of the root, browsable by a person:
//! ```text
//! ROOT/
//!   .bkt-staging/        uploads in progress (.bkt-up-<pid>-<counter>-<nanos>)
//!   photos/              one folder per bucket
//!     cat 1.png          files under their own names
//! ```
//! An upload is written to a unique file in `ROOT/.bkt-staging/`, which no
//! bucket name can collide with (bucket names never start with `.`), then
//! `fsync`ed and renamed over `ROOT/bucket/name`: the rename is the atomic
//! commit. The bucket folder is `fsync`ed afterwards so the new name is
//! durable.
//!
//! On Unix, an upload holds its bucket folder open from start to commit and
//! renames into that open folder, and a delete removes the file through the
//! folder it opened; both `fsync` that same handle. So a concurrent
//! `DELETE_B` (and a `CREATE_B` of the same name after it) can neither turn
//! a delete that happened into an error nor slip an upload into a bucket
//! other than the one it started in (docs/protocol.md, decision 15).
//!
//! Downloads and listings also work through the bucket folder they opened,
//! and staged files through the staging folder the store opened, each
//! opened without following symlinks: a folder swapped for a symlink while
//! the store runs leads nowhere outside the root.

use std::ffi::OsStr;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
#[cfg(unix)]
use std::sync::{PoisonError, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use bucket_proto::{BucketName, FileName};
use tracing::{debug, info, warn};

use crate::direct::{self, DirectBudget, DirectSlot, DirectWriter};
use crate::{Download, FileInfo, Store, StoreError, Upload};

/// Prefix of staged upload files inside [`FsStore::STAGING_DIR`].
const STAGED_PREFIX: &str = ".bkt-up-";

/// Makes staged file names unique within this process.
static STAGED_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A [`Store`] on the local filesystem: one folder per bucket under a root
/// directory, files under their own names, uploads staged in
/// `ROOT/.bkt-staging/` and renamed into place on commit.
///
/// Confinement: every bucket or file name is joined to the root as exactly
/// one path component (checked again here, in every build, on top of the
/// validation of [`BucketName`] / [`FileName`]); symbolic links inside the
/// root are never followed: a symlinked bucket or file is treated as absent
/// (not listed, not opened, not deleted).
///
/// One store per root: [`FsStore::open`] deletes every file left in the
/// staging folder (uploads cut off by a crash), which must never include
/// another live store's uploads in progress. So it takes an exclusive
/// advisory lock (`flock`) on the root folder first, held until the store,
/// every clone of it and every upload it started are dropped; a second
/// `open` of the same root, by this process or another (a second
/// bucket-server started by mistake), fails before it touches anything.
/// Clones of one `FsStore` share it safely.
///
/// A bucket folder that holds anything at all (even entries that are not
/// listed: sub-folders, symlinks, invalid names) cannot be deleted
/// ([`StoreError::NotEmpty`]): the store never removes what it did not make.
#[derive(Debug, Clone)]
pub struct FsStore {
    root: PathBuf,
    direct_io: bool,
    /// Direct uploads in progress and their limit, shared by clones.
    direct_budget: Arc<DirectBudget>,
    /// The staging folder and the root's lock, shared by clones and uploads.
    shared: Arc<Shared>,
}

/// What a store's clones and its uploads in progress share: the staging
/// folder, and the lock on the root. An upload keeps the root locked, so
/// no second store can open it and empty the staging folder under the
/// upload.
#[derive(Debug)]
struct Shared {
    /// `ROOT/.bkt-staging`.
    staging_path: PathBuf,
    /// The staging folder, opened without following symlinks. Staged files
    /// are created, renamed and removed through it, never by path, so a
    /// symlink put in its place later leads nowhere. Replaced when the
    /// folder had to be made again.
    #[cfg(unix)]
    staging: RwLock<Arc<File>>,
    /// The root folder, open and locked (`flock`).
    _lock: File,
}

impl Shared {
    /// The staging folder's handle.
    #[cfg(unix)]
    fn staging(&self) -> Arc<File> {
        Arc::clone(&self.staging.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Makes the staging folder again after someone removed it, and opens
    /// the new one (which must still be a folder, not a symlink).
    fn recreate_staging(&self) -> io::Result<()> {
        warn!(staging = %self.staging_path.display(), "staging folder vanished, recreating it");
        fs::create_dir_all(&self.staging_path)?;
        #[cfg(unix)]
        {
            let dir = open_staging(&self.staging_path)?;
            *self.staging.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(dir);
        }
        Ok(())
    }
}

impl FsStore {
    /// Name of the staging folder inside the root, where uploads in progress
    /// are written. It starts with `.`, so it is never a valid bucket name.
    pub const STAGING_DIR: &'static str = ".bkt-staging";

    /// Opens (creating it and its parents if missing) the store rooted at
    /// `root`, made absolute against the current directory. Locks the root
    /// for this store (see [`FsStore`]), creates the staging folder
    /// `ROOT/.bkt-staging/` and deletes every stale file in it (uploads left
    /// by a crash).
    ///
    /// Stale files that cannot be deleted (a read-only filesystem, a staging
    /// folder without write permission) are left where they are, with a
    /// warning: they are invisible to clients, and the store still serves
    /// what it can (on a read-only filesystem, listings and downloads). The
    /// next `open` that can delete them does.
    ///
    /// # Errors
    /// [`StoreError::Io`] if the root or the staging folder cannot be created,
    /// opened or locked, with a message naming the operation and the path
    /// before the OS error (`cannot create /srv/b/.bkt-staging (the staging
    /// folder for uploads): Permission denied (os error 13)`, the error's
    /// kind kept), or if `ROOT/.bkt-staging` exists but is not a directory; of kind
    /// [`io::ErrorKind::ResourceBusy`] if another `FsStore` (in this process
    /// or another) has the root open. On a filesystem without `flock` (some
    /// network filesystems) the store opens unlocked, with a warning.
    pub fn open(root: impl Into<PathBuf>) -> Result<FsStore, StoreError> {
        let root = std::path::absolute(root.into())?;
        if let Err(e) = fs::create_dir_all(&root) {
            // create_dir_all says "File exists" for a root that is a file.
            if fs::metadata(&root).is_ok_and(|meta| !meta.is_dir()) {
                return Err(not_a_folder(&root).into());
            }
            return Err(failed_at("create", &root, "the root folder", e).into());
        }
        let lock = lock_root(&root)?;
        let staging_path = root.join(Self::STAGING_DIR);
        match fs::create_dir(&staging_path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => {
                return Err(failed_at("create", &staging_path, STAGING_WHAT, e).into());
            }
        }
        #[cfg(unix)]
        let staging = RwLock::new(Arc::new(open_staging(&staging_path).map_err(|e| {
            if e.kind() == io::ErrorKind::NotADirectory {
                e // names the path already
            } else {
                failed_at("open", &staging_path, STAGING_WHAT, e)
            }
        })?));
        #[cfg(not(unix))]
        if !fs::symlink_metadata(&staging_path)?.is_dir() {
            return Err(not_a_folder(&staging_path).into());
        }
        let store = FsStore {
            root,
            direct_io: cfg!(target_os = "linux"),
            direct_budget: DirectBudget::new(direct::DEFAULT_MAX_DIRECT_UPLOADS),
            shared: Arc::new(Shared {
                staging_path,
                #[cfg(unix)]
                staging,
                _lock: lock,
            }),
        };
        store.remove_stale_uploads();
        #[cfg(unix)]
        store.warn_if_names_fold();
        Ok(store)
    }

    /// Turns direct I/O for large uploads on or off (on by default on
    /// Linux, where it exists).
    ///
    /// With it on, an upload declared at least 1 MiB long is staged with
    /// `O_DIRECT` in 4 MiB blocks: its bytes go to the disk as they arrive
    /// instead of piling up as dirty pages for the commit's `fsync` to flush,
    /// which made durable uploads about twice as fast and much steadier on
    /// the test machine (docs/performance.md), and leaves the page cache to
    /// the files being read. Each such upload holds three 4 MiB blocks and a
    /// writer thread while it runs, and at most
    /// [`FsStore::with_max_direct_uploads`] of them run at once. Turn it off
    /// when uploaded files are read right away by someone else (they are not
    /// in the page cache afterwards), or on a filesystem where `O_DIRECT` is
    /// slow. Filesystems that refuse `O_DIRECT` are detected and get
    /// buffered writes either way.
    #[must_use]
    pub fn with_direct_io(mut self, enabled: bool) -> FsStore {
        self.direct_io = enabled && cfg!(target_os = "linux");
        self
    }

    /// Whether large uploads are staged with direct I/O
    /// ([`FsStore::with_direct_io`]).
    #[must_use]
    pub fn direct_io(&self) -> bool {
        self.direct_io
    }

    /// Sets how many uploads may be staged with direct I/O at once (default
    /// 8). Each holds 12 MiB of blocks and a writer thread while it runs, so
    /// this bounds that memory and those threads however many connections
    /// upload at once; a large upload that finds every slot taken is staged
    /// with buffered writes instead (it still commits the same way). 0
    /// stages every upload buffered, like `with_direct_io(false)`.
    ///
    /// The count is shared by this store's clones; set it before cloning
    /// (a clone made earlier keeps the old limit and count).
    #[must_use]
    pub fn with_max_direct_uploads(mut self, max: usize) -> FsStore {
        self.direct_budget = DirectBudget::new(max);
        self
    }

    /// The limit set by [`FsStore::with_max_direct_uploads`].
    #[must_use]
    pub fn max_direct_uploads(&self) -> usize {
        self.direct_budget.max()
    }

    /// Uploads staged with direct I/O that are still in progress (started,
    /// and neither committed, aborted nor dropped), across this store's
    /// clones.
    #[must_use]
    pub fn direct_uploads_in_progress(&self) -> usize {
        self.direct_budget.in_use()
    }

    /// The root directory (absolute), holding one folder per bucket.
    #[must_use]
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The staging folder, `ROOT/.bkt-staging`, holding uploads in progress.
    #[must_use]
    pub fn staging_dir(&self) -> &Path {
        &self.shared.staging_path
    }

    /// Deletes every file (and symlink) in the staging folder. Folders there
    /// are left alone: this store never creates any. Never fails: what
    /// cannot be deleted stays, and a warning names the first error (a
    /// read-only filesystem must not keep the store from serving
    /// downloads).
    fn remove_stale_uploads(&self) {
        let staging = self.staging_dir();
        let entries = match fs::read_dir(staging) {
            Ok(entries) => entries,
            Err(e) => {
                warn!(
                    staging = %staging.display(),
                    error = %e,
                    "cannot read the staging folder; stale staged uploads, if any, are left"
                );
                return;
            }
        };
        let (mut removed, mut left) = (0_usize, 0_usize);
        let mut first_error = None;
        for entry in entries {
            let outcome = entry.and_then(|entry| {
                let path = entry.path();
                if entry.file_type()?.is_dir() {
                    warn!(path = %path.display(), "unexpected folder in the staging area, left alone");
                    return Ok(false);
                }
                // Through the folder's handle (on Unix): the names come from
                // a listing by path, but only the staging folder itself
                // loses files.
                match self.remove_staged(&entry.file_name()) {
                    Ok(()) => Ok(true),
                    Err(e) if is_absent(&e) => Ok(false),
                    Err(e) => Err(io::Error::new(
                        e.kind(),
                        format!("cannot remove {}: {e}", path.display()),
                    )),
                }
            });
            match outcome {
                Ok(true) => removed += 1,
                Ok(false) => {}
                Err(e) => {
                    left += 1;
                    first_error.get_or_insert(e);
                }
            }
        }
        if removed > 0 {
            info!(removed, staging = %staging.display(), "removed stale staged uploads");
        }
        if let Some(error) = first_error {
            warn!(
                left,
                staging = %staging.display(),
                %error,
                "could not remove stale staged uploads; they are left (clients never see them)"
            );
        }
    }

    /// Warns when the root's filesystem folds names (see
    /// [`probe_name_folding`]): there, two clients' files whose names
    /// differ only in case or Unicode form replace each other.
    #[cfg(unix)]
    fn warn_if_names_fold(&self) {
        let folding = probe_name_folding(&self.shared.staging());
        if folding.case || folding.unicode {
            warn!(
                root = %self.root.display(),
                case = folding.case,
                unicode = folding.unicode,
                "this filesystem treats names that differ in case or Unicode form as one name: \
                 uploads can replace files of another spelling (docs/operations.md)"
            );
        }
    }

    /// `ROOT/bucket`, whether or not it exists.
    fn bucket_path(&self, bucket: &BucketName<'_>) -> Result<PathBuf, StoreError> {
        join_component(&self.root, bucket.as_str())
    }

    /// `ROOT/bucket`, which must be a real directory (not a symlink).
    ///
    /// # Errors
    /// [`StoreError::NoSuchBucket`] otherwise.
    fn existing_bucket(&self, bucket: &BucketName<'_>) -> Result<PathBuf, StoreError> {
        let dir = self.bucket_path(bucket)?;
        if is_real_dir(&dir)? {
            Ok(dir)
        } else {
            Err(StoreError::NoSuchBucket)
        }
    }

    /// Removes the file `name` from the staging folder (through its
    /// handle, on Unix).
    fn remove_staged(&self, name: &OsStr) -> io::Result<()> {
        #[cfg(unix)]
        return Ok(rustix::fs::unlinkat(
            &*self.shared.staging(),
            name,
            rustix::fs::AtFlags::empty(),
        )?);
        #[cfg(not(unix))]
        fs::remove_file(self.staging_dir().join(name))
    }

    /// Creates a fresh, uniquely named file in the staging folder, opened
    /// with the extra `open(2)` flags `custom_flags` (`O_DIRECT` or 0).
    fn create_staged(&self, custom_flags: i32) -> io::Result<(File, StagedFile)> {
        let mut recreated = false;
        for _ in 0..8 {
            let counter = STAGED_COUNTER.fetch_add(1, Ordering::Relaxed);
            let nanos = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos());
            let name = format!("{STAGED_PREFIX}{}-{counter}-{nanos}", std::process::id());
            match self.create_staged_named(&name, custom_flags) {
                Ok(created) => return Ok(created),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                // Someone removed the staging folder: make it again, once.
                Err(e) if e.kind() == io::ErrorKind::NotFound && !recreated => {
                    self.shared.recreate_staging()?;
                    recreated = true;
                }
                Err(e) => return Err(e),
            }
        }
        Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            "no free staging file name found",
        ))
    }

    /// Creates the staged file `name` (which must not exist) in the staging
    /// folder's handle: `NotFound` if that folder was removed.
    #[cfg(unix)]
    fn create_staged_named(&self, name: &str, custom_flags: i32) -> io::Result<(File, StagedFile)> {
        let dir = self.shared.staging();
        let custom = rustix::fs::OFlags::from_bits_retain(u32::try_from(custom_flags).unwrap_or(0));
        let fd = create_new_at(&dir, name, custom)?;
        let staged = StagedFile {
            dir,
            path: self.staging_dir().join(name),
            name: Some(name.to_owned()),
            _shared: Arc::clone(&self.shared),
        };
        Ok((File::from(fd), staged))
    }

    #[cfg(not(unix))]
    fn create_staged_named(
        &self,
        name: &str,
        _custom_flags: i32,
    ) -> io::Result<(File, StagedFile)> {
        let path = self.staging_dir().join(name);
        let file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)?;
        let staged = StagedFile {
            path,
            name: Some(name.to_owned()),
            _shared: Arc::clone(&self.shared),
        };
        Ok((file, staged))
    }
}

impl FsStore {
    /// The staged file for an upload of `size` bytes, with a slot of the
    /// direct-I/O budget when it was opened for direct I/O (large upload,
    /// enabled, a slot free, and `O_DIRECT` accepted by the filesystem).
    fn create_staged_for(&self, size: u64) -> io::Result<(File, StagedFile, Option<DirectSlot>)> {
        #[cfg(target_os = "linux")]
        if self.direct_io && size >= direct::DIRECT_IO_MIN {
            match self.direct_budget.try_take() {
                Some(slot) => match self.create_staged(direct::open_flags()) {
                    Ok((file, staged)) => return Ok((file, staged, Some(slot))),
                    // This filesystem has no O_DIRECT: stage it buffered
                    // (the slot goes back).
                    Err(e) if e.kind() == io::ErrorKind::InvalidInput => {
                        debug!(error = %e, "O_DIRECT refused, staging with buffered writes");
                    }
                    Err(e) => return Err(e),
                },
                None => debug!(
                    max = self.direct_budget.max(),
                    "every direct-I/O slot is taken, staging with buffered writes"
                ),
            }
        }
        let _ = size;
        let (file, staged) = self.create_staged(0)?;
        Ok((file, staged, None))
    }
}

impl Store for FsStore {
    type Reader = File;
    type Upload = FsUpload;

    fn create_bucket(&self, bucket: &BucketName<'_>) -> Result<(), StoreError> {
        let dir = self.bucket_path(bucket)?;
        match fs::create_dir(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Err(StoreError::Exists),
            Err(e) => return Err(e.into()),
        }
        sync_dir(&self.root)?;
        debug!(%bucket, "bucket created");
        Ok(())
    }

    fn delete_bucket(&self, bucket: &BucketName<'_>) -> Result<(), StoreError> {
        let dir = self.existing_bucket(bucket)?;
        match fs::remove_dir(&dir) {
            Ok(()) => {}
            Err(e) if is_absent(&e) => return Err(StoreError::NoSuchBucket),
            // ENOTEMPTY; POSIX also allows EEXIST for a non-empty directory.
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::DirectoryNotEmpty | io::ErrorKind::AlreadyExists
                ) =>
            {
                return Err(StoreError::NotEmpty);
            }
            Err(e) => return Err(e.into()),
        }
        sync_dir(&self.root)?;
        debug!(%bucket, "bucket deleted");
        Ok(())
    }

    fn list_buckets(&self) -> Result<Vec<BucketName<'static>>, StoreError> {
        let mut buckets = Vec::new();
        for entry in fs::read_dir(&self.root)? {
            let entry = entry?;
            // Skips the staging folder too: it starts with '.'.
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            let Ok(bucket) = BucketName::new(name) else {
                continue;
            };
            // `DirEntry::file_type` does not follow symlinks.
            match entry.file_type() {
                Ok(kind) if kind.is_dir() => buckets.push(bucket),
                Ok(_) => {}
                Err(e) if is_absent(&e) => {}
                Err(e) => return Err(e.into()),
            }
        }
        buckets.sort_unstable();
        Ok(buckets)
    }

    fn list_files(&self, bucket: &BucketName<'_>) -> Result<Vec<FileInfo>, StoreError> {
        // Listed through the folder's handle: a bucket swapped for a
        // symlink after this open is not followed.
        let dir = BucketDir::open(self.bucket_path(bucket)?)?;
        let mut files = Vec::new();
        for name in dir.names()? {
            let Ok(name) = FileName::new(name) else {
                continue;
            };
            match dir.file_meta(name.as_str()) {
                Ok(Some((size, modified))) => files.push(FileInfo {
                    name,
                    size,
                    modified,
                }),
                // Not a regular file, or deleted while we listed.
                Ok(None) => {}
                Err(e) if is_absent(&e) => {}
                Err(e) => return Err(e.into()),
            }
        }
        files.sort_unstable_by(|a, b| a.name.cmp(&b.name));
        Ok(files)
    }

    fn start_upload(
        &self,
        bucket: &BucketName<'_>,
        name: &FileName<'_>,
        size: u64,
    ) -> Result<FsUpload, StoreError> {
        let bucket_dir = self.bucket_path(bucket)?;
        let target = join_component(&bucket_dir, name.as_str())?;
        // Held until the commit renames into it: this bucket, not whatever
        // has its name by then.
        let bucket_dir = BucketDir::open(bucket_dir)?;
        let (file, staged, slot) = self.create_staged_for(size)?;
        // Refuses an upload the disk cannot hold before its payload is read.
        direct::check_free_space(&file, size)?;
        let direct = slot.is_some();
        let writer = match slot {
            Some(slot) => Some(DirectWriter::start(&file, slot)?),
            None => None,
        };
        debug!(%bucket, %name, size, direct, staged = %staged.path.display(), "upload started");
        Ok(FsUpload {
            file,
            staged,
            bucket_dir,
            name: name.as_str().to_owned(),
            target,
            written: 0,
            direct: writer,
        })
    }

    fn open_file(
        &self,
        bucket: &BucketName<'_>,
        name: &FileName<'_>,
    ) -> Result<Download<File>, StoreError> {
        let name = one_component(name.as_str())?;
        let dir = BucketDir::open(self.bucket_path(bucket)?)?;
        match dir.open_file(name) {
            Ok(Some((reader, len))) => Ok(Download { len, reader }),
            // A symlink, a folder, a FIFO, anything but a regular file.
            Ok(None) => Err(StoreError::NoSuchFile),
            Err(e) if is_absent(&e) => Err(StoreError::NoSuchFile),
            Err(e) => Err(e.into()),
        }
    }

    fn delete_file(&self, bucket: &BucketName<'_>, name: &FileName<'_>) -> Result<(), StoreError> {
        let path = self.bucket_path(bucket)?;
        one_component(name.as_str())?;
        // Everything below goes through this one handle: once the file is
        // gone a concurrent DELETE_B may remove the emptied folder, and the
        // delete, which happened, is still synced and reported as done.
        let dir = BucketDir::open(path)?;
        match dir.is_file(name.as_str()) {
            Ok(true) => {}
            Ok(false) => return Err(StoreError::NoSuchFile),
            Err(e) if is_absent(&e) => return Err(StoreError::NoSuchFile),
            Err(e) => return Err(e.into()),
        }
        match dir.remove_file(name.as_str()) {
            Ok(()) => {}
            Err(e) if is_absent(&e) => return Err(StoreError::NoSuchFile),
            Err(e) => return Err(e.into()),
        }
        at(Point::FileRemoved);
        dir.sync()?;
        debug!(%bucket, %name, "file deleted");
        Ok(())
    }
}

/// An upload in progress into an [`FsStore`]: an open file in
/// `ROOT/.bkt-staging/`, and the bucket folder, open since the upload
/// started. [`commit`](Upload::commit) `fsync`s the file, renames it to
/// `name` in that folder (replacing the old file) and `fsync`s the folder;
/// abort, drop or a failed commit delete it. A bucket deleted after the
/// upload started fails the commit with [`StoreError::NoSuchBucket`], even
/// if a bucket of the same name was created again since.
///
/// A large upload with direct I/O ([`FsStore::with_direct_io`]) gathers its
/// bytes in 4 MiB blocks that a thread of its own writes to the disk while
/// the next block fills; the last, partial block reaches the file at
/// [`commit`](Upload::commit) ([`Write::flush`] does not write it).
#[derive(Debug)]
pub struct FsUpload {
    // Declared before `staged` so the file is closed before it is removed.
    file: File,
    staged: StagedFile,
    /// The bucket folder the upload started in.
    bucket_dir: BucketDir,
    /// The file's name in `bucket_dir`.
    name: String,
    /// `ROOT/bucket/name`, for logs.
    target: PathBuf,
    written: u64,
    /// The blocks and thread of a direct-I/O upload.
    direct: Option<DirectWriter>,
}

impl FsUpload {
    /// Whether this upload is staged with direct I/O
    /// ([`FsStore::with_direct_io`]; uploads of 1 MiB or more, on a
    /// filesystem that accepts `O_DIRECT`).
    #[must_use]
    pub fn is_direct(&self) -> bool {
        self.direct.is_some()
    }
}

impl Write for FsUpload {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = match &mut self.direct {
            Some(writer) => writer.write(buf)?,
            None => self.file.write(buf)?,
        };
        self.written += n as u64;
        Ok(n)
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        if self.direct.is_some() {
            let first = bufs.iter().find(|b| !b.is_empty());
            return self.write(first.map_or(&[][..], |b| &**b));
        }
        let n = self.file.write_vectored(bufs)?;
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl Upload for FsUpload {
    fn commit(mut self) -> Result<(), StoreError> {
        // On every early return `self.staged` is dropped, deleting the file.
        if let Some(writer) = self.direct.take() {
            writer.finish(&self.file)?;
        }
        self.file.sync_all()?;
        match self.bucket_dir.rename_into(&self.staged, &self.name) {
            Ok(()) => self.staged.disarm(),
            // The staged file is there, so what is missing is the folder the
            // upload started in: its bucket was deleted (decision 15), even
            // if one of the same name exists again by now.
            Err(e) if is_absent(&e) && self.staged.exists() => {
                return Err(StoreError::NoSuchBucket);
            }
            Err(e) => return Err(e.into()),
        }
        debug!(target = %self.target.display(), bytes = self.written, "upload committed");
        at(Point::Renamed);
        // Make the new name durable. If this fails the file is visible but
        // might not survive a crash: report it. (The folder may have been
        // emptied and deleted since the rename: the handle still syncs it.)
        self.bucket_dir.sync()?;
        Ok(())
    }

    fn abort(self) {
        debug!(target = %self.target.display(), bytes = self.written, "upload aborted");
        // Dropping `self.staged` deletes the file.
    }

    fn written(&self) -> u64 {
        self.written
    }

    fn receive_buffer(&mut self) -> io::Result<Option<&mut [u8]>> {
        match &mut self.direct {
            Some(writer) => writer.spare().map(Some),
            None => Ok(None),
        }
    }

    fn commit_received(&mut self, n: usize) {
        match &mut self.direct {
            Some(writer) => writer.commit_received(n),
            None => assert_eq!(n, 0, "commit_received without a receive buffer"),
        }
        self.written += n as u64;
    }
}

/// A staged upload file, deleted on drop unless disarmed. It keeps the
/// store's root locked (see [`FsStore`]) for as long as it lives.
#[derive(Debug)]
struct StagedFile {
    /// The staging folder it was created in.
    #[cfg(unix)]
    dir: Arc<File>,
    /// `ROOT/.bkt-staging/name`, for logs (and, without Unix handles, to
    /// reach it).
    path: PathBuf,
    /// Its name in the staging folder; `None` once renamed into place.
    name: Option<String>,
    _shared: Arc<Shared>,
}

impl StagedFile {
    /// The file was renamed into place: nothing to delete any more.
    fn disarm(&mut self) {
        self.name = None;
    }

    /// Whether the file is still in the staging folder.
    fn exists(&self) -> bool {
        let Some(name) = &self.name else {
            return false;
        };
        #[cfg(unix)]
        return rustix::fs::statat(
            &*self.dir,
            name.as_str(),
            rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
        )
        .is_ok();
        #[cfg(not(unix))]
        {
            let _ = name;
            fs::symlink_metadata(&self.path).is_ok()
        }
    }
}

impl Drop for StagedFile {
    fn drop(&mut self) {
        let Some(name) = self.name.take() else {
            return;
        };
        #[cfg(unix)]
        let removed = rustix::fs::unlinkat(&*self.dir, name.as_str(), rustix::fs::AtFlags::empty())
            .map_err(io::Error::from);
        #[cfg(not(unix))]
        let removed = {
            let _ = name;
            fs::remove_file(&self.path)
        };
        match removed {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => {
                warn!(path = %self.path.display(), error = %e, "could not remove staged upload");
            }
        }
    }
}

/// A bucket folder, opened once. Entries are renamed into it, checked,
/// removed and `fsync`ed through this handle (on Unix), so they concern the
/// folder that was opened even after a concurrent `DELETE_B` removed it or
/// a `CREATE_B` made a new one of the same name; nothing is looked up by
/// path again.
#[derive(Debug)]
struct BucketDir {
    #[cfg(unix)]
    handle: File,
    /// `ROOT/bucket`, where there are no directory handles.
    #[cfg(not(unix))]
    path: PathBuf,
}

impl BucketDir {
    /// Opens `path`, which must be a directory itself, not a symlink to one
    /// (never a FIFO or anything else that could block the open).
    ///
    /// # Errors
    /// [`StoreError::NoSuchBucket`] if it is absent or not a real
    /// directory; [`StoreError::Io`].
    #[cfg(unix)]
    fn open(path: PathBuf) -> Result<BucketDir, StoreError> {
        match open_dir_nofollow(&path) {
            Ok(handle) => Ok(BucketDir { handle }),
            Err(e) if is_absent(&e) || is_symlink_refusal(&e) => Err(StoreError::NoSuchBucket),
            Err(e) => Err(e.into()),
        }
    }

    #[cfg(not(unix))]
    fn open(path: PathBuf) -> Result<BucketDir, StoreError> {
        if is_real_dir(&path)? {
            Ok(BucketDir { path })
        } else {
            Err(StoreError::NoSuchBucket)
        }
    }

    /// The status of the entry `name` if it is a regular file (symlinks
    /// not followed), else `None`.
    #[cfg(unix)]
    fn regular_stat(&self, name: &str) -> io::Result<Option<rustix::fs::Stat>> {
        let stat = rustix::fs::statat(&self.handle, name, rustix::fs::AtFlags::SYMLINK_NOFOLLOW)?;
        Ok(is_regular(&stat).then_some(stat))
    }

    /// Whether the entry `name` is a regular file (symlinks not followed).
    #[cfg(unix)]
    fn is_file(&self, name: &str) -> io::Result<bool> {
        Ok(self.regular_stat(name)?.is_some())
    }

    #[cfg(not(unix))]
    fn is_file(&self, name: &str) -> io::Result<bool> {
        Ok(fs::symlink_metadata(self.path.join(name))?.is_file())
    }

    /// Removes the entry `name` (not a folder).
    #[cfg(unix)]
    fn remove_file(&self, name: &str) -> io::Result<()> {
        Ok(rustix::fs::unlinkat(
            &self.handle,
            name,
            rustix::fs::AtFlags::empty(),
        )?)
    }

    #[cfg(not(unix))]
    fn remove_file(&self, name: &str) -> io::Result<()> {
        fs::remove_file(self.path.join(name))
    }

    /// Renames the staged file `from` to `name` in this folder, replacing
    /// what was there. Fails with `NotFound` if this folder has been
    /// removed (or the staged file has).
    #[cfg(unix)]
    fn rename_into(&self, from: &StagedFile, name: &str) -> io::Result<()> {
        let Some(staged) = &from.name else {
            return Err(io::Error::other("upload already finished"));
        };
        Ok(rustix::fs::renameat(
            &*from.dir,
            staged.as_str(),
            &self.handle,
            name,
        )?)
    }

    #[cfg(not(unix))]
    fn rename_into(&self, from: &StagedFile, name: &str) -> io::Result<()> {
        if from.name.is_none() {
            return Err(io::Error::other("upload already finished"));
        }
        fs::rename(&from.path, self.path.join(name))
    }

    /// The names in this folder (`.` and `..` left out), whatever they are;
    /// names that are not UTF-8 are skipped (no valid name is one).
    #[cfg(unix)]
    fn names(&self) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in rustix::fs::Dir::read_from(&self.handle)? {
            let entry = entry?;
            let Ok(name) = entry.file_name().to_str() else {
                continue;
            };
            if name != "." && name != ".." {
                names.push(name.to_owned());
            }
        }
        Ok(names)
    }

    #[cfg(not(unix))]
    fn names(&self) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in fs::read_dir(&self.path)? {
            if let Ok(name) = entry?.file_name().into_string() {
                names.push(name);
            }
        }
        Ok(names)
    }

    /// The size (bytes) and modification time of the entry `name` if it is
    /// a regular file (symlinks not followed), else `None`.
    #[cfg(unix)]
    fn file_meta(&self, name: &str) -> io::Result<Option<(u64, SystemTime)>> {
        Ok(self
            .regular_stat(name)?
            .map(|stat| (file_len(&stat), modified(&stat))))
    }

    #[cfg(not(unix))]
    fn file_meta(&self, name: &str) -> io::Result<Option<(u64, SystemTime)>> {
        let meta = fs::symlink_metadata(self.path.join(name))?;
        if !meta.is_file() {
            return Ok(None);
        }
        Ok(Some((meta.len(), meta.modified()?)))
    }

    /// Opens the entry `name` for reading if it is a regular file: the file
    /// and its length in bytes, else `None` (a symlink, a folder, a FIFO).
    /// Never follows a symlink, never blocks (a FIFO), never makes a
    /// terminal its controlling one; what was opened is checked, so an
    /// entry replaced between the check and the open is served only if
    /// the replacement is a regular file too (a concurrent commit).
    #[cfg(unix)]
    fn open_file(&self, name: &str) -> io::Result<Option<(File, u64)>> {
        use rustix::fs::{Mode, OFlags};
        // Checked first, so that a device or FIFO in the folder is never
        // opened at all.
        if !self.is_file(name)? {
            return Ok(None);
        }
        let flags =
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
        let fd = match rustix::fs::openat(&self.handle, name, flags, Mode::empty()) {
            Ok(fd) => fd,
            Err(e) if e == rustix::io::Errno::LOOP => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let stat = rustix::fs::fstat(&fd)?;
        if !is_regular(&stat) {
            return Ok(None);
        }
        // Reads of a regular file ignore O_NONBLOCK; it goes all the same,
        // for whoever reads the file next.
        rustix::fs::fcntl_setfl(&fd, rustix::fs::fcntl_getfl(&fd)? - OFlags::NONBLOCK)?;
        Ok(Some((File::from(fd), file_len(&stat))))
    }

    #[cfg(not(unix))]
    fn open_file(&self, name: &str) -> io::Result<Option<(File, u64)>> {
        if !self.is_file(name)? {
            return Ok(None);
        }
        let file = File::open(self.path.join(name))?;
        let meta = file.metadata()?;
        Ok(meta.is_file().then(|| (file, meta.len())))
    }

    /// `fsync`s the folder, making entries created, renamed or removed in it
    /// durable. Works on a folder removed since it was opened.
    #[cfg(unix)]
    fn sync(&self) -> io::Result<()> {
        self.handle.sync_all()
    }

    /// Directories cannot be opened for syncing on this platform.
    #[cfg(not(unix))]
    fn sync(&self) -> io::Result<()> {
        Ok(())
    }
}

/// Moments inside an operation where a unit test makes a concurrent
/// client's change happen ([`at`]); nothing happens there otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Point {
    /// `delete_file`: the file is removed, the folder not yet synced.
    FileRemoved,
    /// `commit`: the file is renamed into place, the folder not yet synced.
    Renamed,
}

/// What a unit test runs at each [`Point`].
#[cfg(test)]
type Hook = Box<dyn FnMut(Point)>;

#[cfg(test)]
thread_local! {
    /// What [`at`] runs on this thread, set by a unit test.
    static HOOK: std::cell::RefCell<Option<Hook>> = const { std::cell::RefCell::new(None) };
}

/// Runs the test hook for `point` (only in unit tests).
#[cfg(test)]
fn at(point: Point) {
    HOOK.with_borrow_mut(|hook| {
        if let Some(hook) = hook {
            hook(point);
        }
    });
}

#[cfg(not(test))]
fn at(_: Point) {}

/// `dir/name`, where `name` must be exactly one normal path component
/// (see [`one_component`]).
fn join_component(dir: &Path, name: &str) -> Result<PathBuf, StoreError> {
    Ok(dir.join(one_component(name)?))
}

/// `name`, if it is exactly one normal path component (not empty, `.`,
/// `..`, a root, a prefix or anything with a separator). Names are
/// validated already; this is the second lock on the door.
///
/// # Errors
/// [`StoreError::BadName`] otherwise.
fn one_component(name: &str) -> Result<&str, StoreError> {
    let mut components = Path::new(name).components();
    match (components.next(), components.next()) {
        (Some(Component::Normal(part)), None) if part == OsStr::new(name) => Ok(name),
        _ => Err(StoreError::BadName(format!(
            "{name:?} is not a single path component"
        ))),
    }
}

/// Whether an error says the path (or one of its parents) is not there.
fn is_absent(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
    )
}

/// Opens `root` and takes an exclusive, non-blocking `flock` on it: the
/// lock lasts as long as the returned handle.
///
/// # Errors
/// The open's error; [`io::ErrorKind::ResourceBusy`] when another open
/// file description holds the lock.
fn lock_root(root: &Path) -> Result<File, StoreError> {
    let dir = File::open(root).map_err(|e| failed_at("open", root, "the root folder", e))?;
    #[cfg(unix)]
    {
        use rustix::fs::{FlockOperation, flock};
        use rustix::io::Errno;
        match flock(&dir, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => {}
            Err(e) if e == Errno::WOULDBLOCK => {
                return Err(io::Error::new(
                    io::ErrorKind::ResourceBusy,
                    format!(
                        "{} is in use by another store (is another bucket-server serving it?)",
                        root.display()
                    ),
                )
                .into());
            }
            Err(e) if e == Errno::NOLCK || e == Errno::OPNOTSUPP || e == Errno::NOSYS => {
                warn!(
                    root = %root.display(),
                    error = %e,
                    "cannot lock the root; make sure no other server uses it"
                );
            }
            Err(e) => {
                let e = io::Error::from(e);
                return Err(failed_at("lock", root, "the root folder", e).into());
            }
        }
    }
    Ok(dir)
}

/// What the staging folder is, for [`failed_at`].
const STAGING_WHAT: &str = "the staging folder for uploads";

/// `error`, of the same kind, saying what failed and where: `cannot create
/// /srv/b/.bkt-staging (the staging folder for uploads): Permission denied
/// (os error 13)`. The OS error alone names neither the operation nor the
/// path. Its text is part of the new error's (no `source`), as
/// [`StoreError`]'s own rule wants; the OS error number is not kept.
fn failed_at(operation: &str, path: &Path, what: &str, error: io::Error) -> io::Error {
    io::Error::new(
        error.kind(),
        format!("cannot {operation} {} ({what}): {error}", path.display()),
    )
}

/// Whether `path` is a directory itself, not a symlink to one.
fn is_real_dir(path: &Path) -> io::Result<bool> {
    match fs::symlink_metadata(path) {
        Ok(meta) => Ok(meta.is_dir()),
        Err(e) if is_absent(&e) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Whether a filesystem takes two spellings of a name for one, as found by
/// [`probe_name_folding`].
#[cfg(unix)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct NameFolding {
    /// `a` and `A` are one name (FAT, NTFS, APFS by default, ext4 `+F`).
    case: bool,
    /// The NFC and NFD forms of `é` are one name (APFS, HFS+).
    unicode: bool,
}

/// Creates probe files in the folder `dir` and looks each up under another
/// spelling: upper case, and Unicode NFD for an NFC name. A probe that
/// cannot be made (a read-only filesystem, one that refuses non-ASCII
/// names) counts as no folding. The probes are removed.
#[cfg(unix)]
fn probe_name_folding(dir: &File) -> NameFolding {
    let pid = std::process::id();
    NameFolding {
        case: probe_alias(
            dir,
            &format!(".bkt-probe-{pid}-case"),
            &format!(".BKT-PROBE-{pid}-CASE"),
        ),
        unicode: probe_alias(
            dir,
            &format!(".bkt-probe-{pid}-caf\u{e9}"),
            &format!(".bkt-probe-{pid}-cafe\u{301}"),
        ),
    }
}

/// Whether `alias` finds the file created as `name` in `dir` (false when
/// it cannot be created).
#[cfg(unix)]
fn probe_alias(dir: &File, name: &str, alias: &str) -> bool {
    use rustix::fs::AtFlags;
    if create_new_at(dir, name, rustix::fs::OFlags::empty()).is_err() {
        return false;
    }
    let found = rustix::fs::statat(dir, alias, AtFlags::SYMLINK_NOFOLLOW).is_ok();
    let _ = rustix::fs::unlinkat(dir, name, AtFlags::empty());
    found
}

/// Creates the file `name` in the folder `dir` for writing, with the
/// `open(2)` flags `extra` besides: never an existing entry (`O_EXCL`, so
/// `AlreadyExists`), never through a symlink. Mode 0666 less the umask, as
/// `File::create` gives.
#[cfg(unix)]
fn create_new_at(
    dir: &File,
    name: &str,
    extra: rustix::fs::OFlags,
) -> io::Result<std::os::fd::OwnedFd> {
    use rustix::fs::{Mode, OFlags};
    let flags =
        OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC | extra;
    Ok(rustix::fs::openat(
        dir,
        name,
        flags,
        Mode::from_bits_truncate(0o666),
    )?)
}

/// Whether `stat` is a regular file's.
#[cfg(unix)]
fn is_regular(stat: &rustix::fs::Stat) -> bool {
    rustix::fs::FileType::from_raw_mode(stat.st_mode) == rustix::fs::FileType::RegularFile
}

/// The length in bytes in `stat`.
#[cfg(unix)]
fn file_len(stat: &rustix::fs::Stat) -> u64 {
    u64::try_from(stat.st_size).unwrap_or(0)
}

/// Opens the folder `path` itself, never a symlink to one (`ELOOP`, or
/// `ENOTDIR` for anything that is not a folder) and never anything that
/// could block the open (a FIFO).
#[cfg(unix)]
fn open_dir_nofollow(path: &Path) -> io::Result<File> {
    use rustix::fs::{Mode, OFlags};
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    Ok(File::from(rustix::fs::open(path, flags, Mode::empty())?))
}

/// Whether `open_dir_nofollow` refused a symlink.
#[cfg(unix)]
fn is_symlink_refusal(e: &io::Error) -> bool {
    e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error())
}

/// Opens the staging folder `path`, which must be a folder, not a symlink.
///
/// # Errors
/// Of kind [`io::ErrorKind::NotADirectory`] when it is anything else; the
/// open's error.
#[cfg(unix)]
fn open_staging(path: &Path) -> io::Result<File> {
    open_dir_nofollow(path).map_err(|e| {
        if is_symlink_refusal(&e) || e.kind() == io::ErrorKind::NotADirectory {
            not_a_folder(path)
        } else {
            e
        }
    })
}

/// The error for a root or staging folder that is not a folder.
fn not_a_folder(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotADirectory,
        format!("{} exists but is not a directory", path.display()),
    )
}

/// The modification time in `stat`.
#[cfg(unix)]
#[allow(clippy::unnecessary_cast)] // the fields' types differ by platform
fn modified(stat: &rustix::fs::Stat) -> SystemTime {
    let (secs, nanos) = (stat.st_mtime as i64, stat.st_mtime_nsec as u32);
    let since_epoch = std::time::Duration::new(secs.unsigned_abs(), 0);
    let whole = if secs >= 0 {
        UNIX_EPOCH.checked_add(since_epoch)
    } else {
        UNIX_EPOCH.checked_sub(since_epoch)
    };
    whole
        .and_then(|t| t.checked_add(std::time::Duration::from_nanos(u64::from(nanos))))
        .unwrap_or(UNIX_EPOCH)
}

/// `fsync`s a directory, making entries created, renamed or removed in it
/// durable.
#[cfg(unix)]
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Directories cannot be opened for syncing on this platform.
#[cfg(not(unix))]
fn sync_dir(_: &Path) -> io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conformance::{bucket, file, put};

    /// Runs `run` with `hook` called at every [`Point`] it passes (on this
    /// thread), standing in for another client acting at that moment.
    fn with_hook<T>(hook: impl FnMut(Point) + 'static, run: impl FnOnce() -> T) -> T {
        HOOK.set(Some(Box::new(hook)));
        let out = run();
        HOOK.set(None);
        out
    }

    /// A store with bucket `b` holding file `f`.
    fn store_with_file() -> (tempfile::TempDir, FsStore) {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = FsStore::open(dir.path()).expect("open");
        store.create_bucket(&bucket("b")).expect("create");
        put(&store, "b", "f", b"abc").expect("put");
        (dir, store)
    }

    fn staging_is_empty(store: &FsStore) -> bool {
        fs::read_dir(store.staging_dir())
            .expect("read staging")
            .next()
            .is_none()
    }

    #[test]
    fn a_delete_is_done_even_if_the_emptied_bucket_is_deleted_before_the_sync() {
        let (dir, store) = store_with_file();
        let other = store.clone();
        let result = with_hook(
            move |point| {
                if point == Point::FileRemoved {
                    // DELETE_B from another connection: the folder is empty.
                    other.delete_bucket(&bucket("b")).expect("delete bucket");
                }
            },
            || store.delete_file(&bucket("b"), &file("f")),
        );
        assert!(result.is_ok(), "{result:?}");
        assert!(!dir.path().join("b").exists());
        assert!(matches!(
            store.delete_file(&bucket("b"), &file("f")),
            Err(StoreError::NoSuchBucket)
        ));
    }

    #[test]
    fn a_commit_is_done_even_if_its_bucket_is_emptied_and_deleted_before_the_sync() {
        let (dir, store) = store_with_file();
        let other = store.clone();
        let path = dir.path().join("b").join("f");
        let mut up = store
            .start_upload(&bucket("b"), &file("f"), 3)
            .expect("start");
        up.write_all(b"new").expect("write");
        let result = with_hook(
            move |point| {
                if point == Point::Renamed {
                    // DELETE_F then DELETE_B from another connection.
                    assert_eq!(fs::read(&path).expect("committed"), b"new");
                    fs::remove_file(&path).expect("delete file");
                    other.delete_bucket(&bucket("b")).expect("delete bucket");
                }
            },
            || up.commit(),
        );
        assert!(result.is_ok(), "{result:?}");
        assert!(!dir.path().join("b").exists());
        assert!(staging_is_empty(&store));
    }

    #[cfg(unix)]
    #[test]
    fn the_name_folding_probe_finds_none_on_a_filesystem_that_keeps_names_exact() {
        // The test machine's temporary folder (ext4, tmpfs) keeps names
        // exact; a folding filesystem is shown in docs/operations.md.
        let (_dir, store) = store_with_file();
        let folding = probe_name_folding(&store.shared.staging());
        assert_eq!(
            folding,
            NameFolding {
                case: false,
                unicode: false
            }
        );
        assert!(staging_is_empty(&store), "a probe was left behind");
    }

    #[test]
    fn join_component_accepts_one_normal_component() {
        let dir = Path::new("/srv/root");
        for ok in ["a", "cat 1.png", ".hidden", "...", "ünï"] {
            let joined = join_component(dir, ok).expect(ok);
            assert_eq!(joined.parent(), Some(dir), "{ok:?}");
            assert_eq!(joined.file_name(), Some(OsStr::new(ok)), "{ok:?}");
        }
    }

    #[test]
    fn join_component_refuses_everything_else() {
        let dir = Path::new("/srv/root");
        for bad in [
            "", ".", "..", "/", "/etc", "a/b", "../x", "a/", "./a", "a/..",
        ] {
            assert!(
                matches!(join_component(dir, bad), Err(StoreError::BadName(_))),
                "{bad:?} accepted"
            );
        }
    }
}
