//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::io::{Read, Write};

use bucket_store::{BucketName, FileInfo, FileName, Store, StoreError, Upload};

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
pub fn read<S: Store>(store: &S, bucket_name: &str, name: &str) -> Result<Vec<u8>, StoreError> {
    let mut download = store.open(&bucket(bucket_name), &file(name))?;
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
