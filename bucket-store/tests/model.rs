//! Model-based test: random sequences of operations give the same results on
//! [`FsStore`], on [`MemStore`] and on a plain `BTreeMap` model of PROTOCOL.md
//! semantics.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::io::Write;

use bucket_proto::Reason;
use bucket_store::{FsStore, MemStore, Store, StoreError, Upload};
use common::{bucket, file, file_names, read};
use proptest::prelude::*;

const BUCKETS: [&str; 3] = ["a", "b", "C-1"];
const FILES: [&str; 3] = ["x", "y z", "ü.txt"];

#[derive(Debug, Clone)]
enum Op {
    CreateBucket(usize),
    DeleteBucket(usize),
    /// Upload `len` bytes of `byte`, then commit (or abort).
    Upload {
        bucket: usize,
        file: usize,
        byte: u8,
        len: usize,
        commit: bool,
    },
    /// Start an upload, delete the bucket, then commit.
    UploadAcrossBucketDelete(usize, usize),
    Open(usize, usize),
    DeleteFile(usize, usize),
    ListFiles(usize),
    ListBuckets,
}

fn op() -> impl Strategy<Value = Op> {
    let b = 0..BUCKETS.len();
    let f = 0..FILES.len();
    prop_oneof![
        2 => b.clone().prop_map(Op::CreateBucket),
        1 => b.clone().prop_map(Op::DeleteBucket),
        4 => (b.clone(), f.clone(), any::<u8>(), 0..300_usize, prop::bool::weighted(0.8)).prop_map(
            |(bucket, file, byte, len, commit)| Op::Upload { bucket, file, byte, len, commit }
        ),
        1 => (b.clone(), f.clone()).prop_map(|(b, f)| Op::UploadAcrossBucketDelete(b, f)),
        2 => (b.clone(), f.clone()).prop_map(|(b, f)| Op::Open(b, f)),
        1 => (b.clone(), f).prop_map(|(b, f)| Op::DeleteFile(b, f)),
        1 => b.prop_map(Op::ListFiles),
        1 => Just(Op::ListBuckets),
    ]
}

/// What an operation returned, comparable across back-ends.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Done,
    Failed(Reason),
    Bytes(Vec<u8>),
    Files(Vec<(String, u64)>),
    Buckets(Vec<String>),
}

fn outcome<T>(result: Result<T, StoreError>, ok: impl FnOnce(T) -> Outcome) -> Outcome {
    match result {
        Ok(value) => ok(value),
        Err(e) => Outcome::Failed(e.reason()),
    }
}

fn apply<S: Store>(store: &S, op: &Op) -> Outcome {
    match *op {
        Op::CreateBucket(b) => {
            outcome(store.create_bucket(&bucket(BUCKETS[b])), |()| Outcome::Done)
        }
        Op::DeleteBucket(b) => {
            outcome(store.delete_bucket(&bucket(BUCKETS[b])), |()| Outcome::Done)
        }
        Op::Upload {
            bucket: b,
            file: f,
            byte,
            len,
            commit,
        } => {
            let result = store
                .start_upload(&bucket(BUCKETS[b]), &file(FILES[f]), len as u64)
                .and_then(|mut up| {
                    up.write_all(&vec![byte; len])?;
                    if commit {
                        up.commit()
                    } else {
                        up.abort();
                        Ok(())
                    }
                });
            outcome(result, |()| Outcome::Done)
        }
        Op::UploadAcrossBucketDelete(b, f) => {
            let result = store
                .start_upload(&bucket(BUCKETS[b]), &file(FILES[f]), 1)
                .and_then(|mut up| {
                    up.write_all(b"!")?;
                    store.delete_bucket(&bucket(BUCKETS[b]))?;
                    up.commit()
                });
            outcome(result, |()| Outcome::Done)
        }
        Op::Open(b, f) => outcome(read(store, BUCKETS[b], FILES[f]), Outcome::Bytes),
        Op::DeleteFile(b, f) => outcome(
            store.delete_file(&bucket(BUCKETS[b]), &file(FILES[f])),
            |()| Outcome::Done,
        ),
        Op::ListFiles(b) => outcome(store.list_files(&bucket(BUCKETS[b])), |files| {
            assert_eq!(file_names(&files).len(), files.len());
            Outcome::Files(files.iter().map(|i| (i.name.to_string(), i.size)).collect())
        }),
        Op::ListBuckets => outcome(store.list_buckets(), |buckets| {
            Outcome::Buckets(buckets.iter().map(ToString::to_string).collect())
        }),
    }
}

/// PROTOCOL.md semantics, as plainly as possible.
#[derive(Default)]
struct Model(BTreeMap<String, BTreeMap<String, Vec<u8>>>);

impl Model {
    fn apply(&mut self, op: &Op) -> Outcome {
        use Outcome::{Done, Failed};
        let buckets = &mut self.0;
        match *op {
            Op::CreateBucket(b) => {
                if buckets.contains_key(BUCKETS[b]) {
                    return Failed(Reason::Exists);
                }
                buckets.insert(BUCKETS[b].into(), BTreeMap::new());
                Done
            }
            Op::DeleteBucket(b) => match buckets.get(BUCKETS[b]) {
                None => Failed(Reason::NoSuchBucket),
                Some(files) if !files.is_empty() => Failed(Reason::NotEmpty),
                Some(_) => {
                    buckets.remove(BUCKETS[b]);
                    Done
                }
            },
            Op::Upload {
                bucket: b,
                file: f,
                byte,
                len,
                commit,
            } => match buckets.get_mut(BUCKETS[b]) {
                None => Failed(Reason::NoSuchBucket),
                Some(files) => {
                    if commit {
                        files.insert(FILES[f].into(), vec![byte; len]);
                    }
                    Done
                }
            },
            Op::UploadAcrossBucketDelete(b, _) => match buckets.get(BUCKETS[b]) {
                None => Failed(Reason::NoSuchBucket),
                Some(files) if !files.is_empty() => Failed(Reason::NotEmpty),
                Some(_) => {
                    buckets.remove(BUCKETS[b]);
                    Failed(Reason::NoSuchBucket)
                }
            },
            Op::Open(b, f) => match buckets.get(BUCKETS[b]) {
                None => Failed(Reason::NoSuchBucket),
                Some(files) => files
                    .get(FILES[f])
                    .map_or(Failed(Reason::NoSuchFile), |bytes| {
                        Outcome::Bytes(bytes.clone())
                    }),
            },
            Op::DeleteFile(b, f) => match buckets.get_mut(BUCKETS[b]) {
                None => Failed(Reason::NoSuchBucket),
                Some(files) => files
                    .remove(FILES[f])
                    .map_or(Failed(Reason::NoSuchFile), |_| Done),
            },
            Op::ListFiles(b) => match buckets.get(BUCKETS[b]) {
                None => Failed(Reason::NoSuchBucket),
                Some(files) => Outcome::Files(
                    files
                        .iter()
                        .map(|(name, bytes)| (name.clone(), bytes.len() as u64))
                        .collect(),
                ),
            },
            Op::ListBuckets => Outcome::Buckets(buckets.keys().cloned().collect()),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn fs_and_mem_follow_the_model(ops in prop::collection::vec(op(), 1..40)) {
        let dir = tempfile::tempdir().expect("temp dir");
        let fs_store = FsStore::open(dir.path()).expect("open");
        let mem_store = MemStore::new();
        let mut model = Model::default();
        for (step, op) in ops.iter().enumerate() {
            let expected = model.apply(op);
            prop_assert_eq!(&apply(&mem_store, op), &expected, "MemStore, step {} {:?}", step, op);
            prop_assert_eq!(&apply(&fs_store, op), &expected, "FsStore, step {} {:?}", step, op);
        }
        let staged = std::fs::read_dir(fs_store.staging_dir()).expect("staging").count();
        prop_assert_eq!(staged, 0, "staging folder left non-empty");
    }
}
