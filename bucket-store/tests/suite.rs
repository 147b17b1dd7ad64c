//! The behaviour every [`Store`](bucket_store::Store) back-end must have,
//! run against both built-in ones through the same public macro a
//! third-party back-end uses (`bucket_store::conformance`).

use bucket_store::{FsStore, MemStore};

bucket_store::store_conformance_tests!(fs, || {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = FsStore::open(dir.path()).expect("open FsStore");
    (dir, store)
});

bucket_store::store_conformance_tests!(mem, || ((), MemStore::new()));

/// The checks have teeth: a back-end with one flaw, otherwise MemStore,
/// fails the check for that flaw.
mod the_checks_catch_a_flawed_back_end {
    use bucket_store::conformance;
    use bucket_store::{BucketName, Download, FileInfo, FileName, MemStore, Store, StoreError};

    #[derive(Clone, Copy)]
    enum Flaw {
        /// Lists buckets in reverse order.
        UnsortedBuckets,
        /// `delete_file` reports success and deletes nothing.
        DeleteFileDoesNothing,
    }

    struct Flawed {
        inner: MemStore,
        flaw: Flaw,
    }

    impl Store for Flawed {
        type Reader = <MemStore as Store>::Reader;
        type Upload = <MemStore as Store>::Upload;

        fn create_bucket(&self, bucket: &BucketName<'_>) -> Result<(), StoreError> {
            self.inner.create_bucket(bucket)
        }
        fn delete_bucket(&self, bucket: &BucketName<'_>) -> Result<(), StoreError> {
            self.inner.delete_bucket(bucket)
        }
        fn list_buckets(&self) -> Result<Vec<BucketName<'static>>, StoreError> {
            let mut buckets = self.inner.list_buckets()?;
            if let Flaw::UnsortedBuckets = self.flaw {
                buckets.reverse();
            }
            Ok(buckets)
        }
        fn list_files(&self, bucket: &BucketName<'_>) -> Result<Vec<FileInfo>, StoreError> {
            self.inner.list_files(bucket)
        }
        fn start_upload(
            &self,
            bucket: &BucketName<'_>,
            name: &FileName<'_>,
            size: u64,
        ) -> Result<Self::Upload, StoreError> {
            self.inner.start_upload(bucket, name, size)
        }
        fn open_file(
            &self,
            bucket: &BucketName<'_>,
            name: &FileName<'_>,
        ) -> Result<Download<Self::Reader>, StoreError> {
            self.inner.open_file(bucket, name)
        }
        fn delete_file(
            &self,
            bucket: &BucketName<'_>,
            name: &FileName<'_>,
        ) -> Result<(), StoreError> {
            match self.flaw {
                Flaw::DeleteFileDoesNothing => Ok(()),
                _ => self.inner.delete_file(bucket, name),
            }
        }
    }

    fn fails(flaw: Flaw, check: fn(Flawed)) -> bool {
        let store = Flawed {
            inner: MemStore::new(),
            flaw,
        };
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(store))).is_err()
    }

    #[test]
    fn each_flaw_fails_its_check_and_only_that_flaw_does() {
        use Flaw::*;
        assert!(fails(
            UnsortedBuckets,
            conformance::buckets_create_list_delete
        ));
        assert!(fails(
            DeleteFileDoesNothing,
            conformance::delete_file_errors
        ));
        // The same checks pass where the flaw does not matter to them.
        assert!(!fails(UnsortedBuckets, conformance::delete_file_errors));
        assert!(!fails(
            DeleteFileDoesNothing,
            conformance::upload_commit_list_open
        ));
    }
}
