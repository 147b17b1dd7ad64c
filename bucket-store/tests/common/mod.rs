//! Helpers shared by the integration tests: the ones
//! `bucket_store::conformance` offers every back-end's tests.
#![allow(unused_imports)]

pub use bucket_store::conformance::{bucket, err, file, file_names, pattern, put, read};
