//! [`MemStore`]: buckets kept in memory, for tests and embedding.

use std::collections::BTreeMap;
use std::io::{self, Cursor};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;

use bucket_proto::{BucketName, FileName};

use crate::{Download, FileInfo, Source, Store, StoreError, Upload};

/// Preallocate at most this many bytes for an upload, whatever size the
/// client declared: the declared size is untrusted.
const MAX_PREALLOC: u64 = 1 << 20;

/// A committed file: its bytes (shared with open readers) and commit time.
#[derive(Debug, Clone)]
struct Entry {
    bytes: MemBytes,
    modified: SystemTime,
}

/// A bucket: its files, and an identity of its own, so that an upload
/// into a bucket deleted since it started fails even if a bucket of the
/// same name was created again (docs/protocol.md, decision 15), as it does
/// in [`FsStore`](crate::FsStore), whose upload holds the folder it started
/// in.
#[derive(Debug)]
struct Bucket {
    id: u64,
    files: BTreeMap<FileName<'static>, Entry>,
}

type Buckets = BTreeMap<BucketName<'static>, Bucket>;

/// Gives every bucket ever created, in any `MemStore`, its own id.
static BUCKET_IDS: AtomicU64 = AtomicU64::new(0);

/// The shared, immutable contents of a stored file: an `Arc` around the
/// upload's own buffer, so committing an upload copies nothing and readers
/// share one allocation.
#[derive(Debug, Clone)]
pub struct MemBytes(Arc<Vec<u8>>);

impl AsRef<[u8]> for MemBytes {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl From<Vec<u8>> for MemBytes {
    /// Shares `bytes` without copying them.
    fn from(bytes: Vec<u8>) -> Self {
        MemBytes(Arc::new(bytes))
    }
}

/// What [`MemStore::open_file`] hands out: a cursor over the file's shared
/// contents. A replace or delete after `open` does not affect it.
pub type MemReader = Cursor<MemBytes>;

/// Any cursor over bytes in memory is a [`Source`] that shows its
/// remaining bytes: [`MemReader`], `Cursor<Vec<u8>>`, `Cursor<Arc<[u8]>>`,
/// `Cursor<&'static [u8]>`, for a back-end of your own.
impl<T: AsRef<[u8]> + Send + 'static> Source for Cursor<T> {
    fn remaining_bytes(&self) -> Option<&[u8]> {
        let all = self.get_ref().as_ref();
        let pos = usize::try_from(self.position()).unwrap_or(usize::MAX);
        Some(all.get(pos..).unwrap_or_default())
    }
}

/// A [`Store`] that keeps every bucket in memory, behind one mutex.
///
/// Same semantics as [`FsStore`](crate::FsStore): atomic commit, abort on
/// drop, `NoSuchBucket` on commit after the bucket was deleted. Contents are
/// lost when the last clone is dropped. Cloning is cheap and the clones share
/// the same buckets.
#[derive(Debug, Clone, Default)]
pub struct MemStore {
    buckets: Arc<Mutex<Buckets>>,
}

impl MemStore {
    /// An empty store, with no buckets.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Buckets> {
        lock(&self.buckets)
    }
}

/// Every critical section is a single map operation, so the map is
/// consistent even if a holder panicked: ignore poisoning.
fn lock(buckets: &Mutex<Buckets>) -> MutexGuard<'_, Buckets> {
    buckets.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Store for MemStore {
    type Reader = MemReader;
    type Upload = MemUpload;

    fn create_bucket(&self, bucket: &BucketName<'_>) -> Result<(), StoreError> {
        let mut buckets = self.lock();
        if buckets.contains_key(bucket.as_str()) {
            return Err(StoreError::Exists);
        }
        let id = BUCKET_IDS.fetch_add(1, Ordering::Relaxed);
        buckets.insert(
            bucket.clone().into_owned(),
            Bucket {
                id,
                files: BTreeMap::new(),
            },
        );
        Ok(())
    }

    fn delete_bucket(&self, bucket: &BucketName<'_>) -> Result<(), StoreError> {
        let mut buckets = self.lock();
        match buckets.get(bucket.as_str()) {
            None => Err(StoreError::NoSuchBucket),
            Some(b) if !b.files.is_empty() => Err(StoreError::NotEmpty),
            Some(_) => {
                buckets.remove(bucket.as_str());
                Ok(())
            }
        }
    }

    fn list_buckets(&self) -> Result<Vec<BucketName<'static>>, StoreError> {
        Ok(self.lock().keys().cloned().collect())
    }

    fn list_files(&self, bucket: &BucketName<'_>) -> Result<Vec<FileInfo>, StoreError> {
        let buckets = self.lock();
        let files = &buckets
            .get(bucket.as_str())
            .ok_or(StoreError::NoSuchBucket)?
            .files;
        Ok(files
            .iter()
            .map(|(name, entry)| FileInfo {
                name: name.clone(),
                size: entry.bytes.as_ref().len() as u64,
                modified: entry.modified,
            })
            .collect())
    }

    fn start_upload(
        &self,
        bucket: &BucketName<'_>,
        name: &FileName<'_>,
        size: u64,
    ) -> Result<MemUpload, StoreError> {
        let bucket_id = self
            .lock()
            .get(bucket.as_str())
            .ok_or(StoreError::NoSuchBucket)?
            .id;
        // Bounded by MAX_PREALLOC, so the cast cannot truncate.
        let capacity = size.min(MAX_PREALLOC) as usize;
        Ok(MemUpload {
            buckets: Arc::clone(&self.buckets),
            bucket: bucket.clone().into_owned(),
            bucket_id,
            name: name.clone().into_owned(),
            bytes: Vec::with_capacity(capacity),
        })
    }

    fn open_file(
        &self,
        bucket: &BucketName<'_>,
        name: &FileName<'_>,
    ) -> Result<Download<MemReader>, StoreError> {
        let buckets = self.lock();
        let files = &buckets
            .get(bucket.as_str())
            .ok_or(StoreError::NoSuchBucket)?
            .files;
        let entry = files.get(name.as_str()).ok_or(StoreError::NoSuchFile)?;
        Ok(Download {
            len: entry.bytes.as_ref().len() as u64,
            reader: Cursor::new(entry.bytes.clone()),
        })
    }

    fn delete_file(&self, bucket: &BucketName<'_>, name: &FileName<'_>) -> Result<(), StoreError> {
        let mut buckets = self.lock();
        let files = &mut buckets
            .get_mut(bucket.as_str())
            .ok_or(StoreError::NoSuchBucket)?
            .files;
        files
            .remove(name.as_str())
            .map(drop)
            .ok_or(StoreError::NoSuchFile)
    }
}

/// An upload in progress into a [`MemStore`]: the bytes are buffered in the
/// upload itself and enter the store, whole, on
/// [`commit`](Upload::commit). Dropping it discards the buffer.
#[derive(Debug)]
pub struct MemUpload {
    buckets: Arc<Mutex<Buckets>>,
    bucket: BucketName<'static>,
    /// The id of the bucket the upload started in.
    bucket_id: u64,
    name: FileName<'static>,
    bytes: Vec<u8>,
}

impl io::Write for MemUpload {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Upload for MemUpload {
    fn commit(self) -> Result<(), StoreError> {
        let entry = Entry {
            bytes: MemBytes(Arc::new(self.bytes)),
            modified: SystemTime::now(),
        };
        let mut buckets = lock(&self.buckets);
        // The bucket it started in, not a new one of the same name.
        let files = &mut buckets
            .get_mut(self.bucket.as_str())
            .filter(|b| b.id == self.bucket_id)
            .ok_or(StoreError::NoSuchBucket)?
            .files;
        files.insert(self.name, entry);
        Ok(())
    }

    fn abort(self) {}

    fn written(&self) -> u64 {
        self.bytes.len() as u64
    }
}
