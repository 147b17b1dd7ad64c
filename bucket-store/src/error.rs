//! [`StoreError`]: what a [`Store`](crate::Store) operation can fail with, and
//! the PROTOCOL.md reason each failure is answered with.

use std::io;

use bucket_proto::{NameError, Reason};

/// Why a [`Store`](crate::Store) or [`Upload`](crate::Upload) operation
/// failed.
///
/// Each variant maps to exactly one reason token of PROTOCOL.md § Replies
/// (see [`StoreError::reason`]); the server writes that token after the
/// failure code of the request (`301 BCF EXISTS`, `901 FDBF NO_SUCH_FILE`, …).
/// Back-ends map their own failures onto these variants; anything that is not
/// one of the named cases is [`StoreError::Io`], which keeps the OS error.
/// Its message is part of this error's `Display` (the server sends that text
/// in the reply), so it is not also returned by
/// [`std::error::Error::source`], and a reporter that walks the chain prints
/// it once; match the variant to reach the `io::Error`.
/// New variants may come in a minor release (`#[non_exhaustive]`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The named bucket does not exist (or vanished before an upload was
    /// committed). Reason `NO_SUCH_BUCKET`.
    #[error("no such bucket")]
    NoSuchBucket,
    /// The named file does not exist in the bucket. Reason `NO_SUCH_FILE`.
    #[error("no such file")]
    NoSuchFile,
    /// The bucket to create exists already. Reason `EXISTS`.
    #[error("bucket exists already")]
    Exists,
    /// The bucket to delete still holds files; PROTOCOL.md § Buckets requires
    /// an explicit `DELETE_F` per file first. Reason `NOT_EMPTY`.
    #[error("bucket is not empty")]
    NotEmpty,
    /// A name cannot be used by this back-end: it broke the rules of
    /// PROTOCOL.md § Names, or (defence in depth) it would not map to exactly
    /// one path component / key segment. The text says why. Reason `BAD_NAME`.
    #[error("bad name: {0}")]
    BadName(String),
    /// The storage itself failed: permission denied, disk full, a broken
    /// mount, an object store unreachable, … Reason `IO`.
    #[error("storage i/o error: {0}")]
    Io(io::Error),
}

impl From<io::Error> for StoreError {
    /// Any I/O failure is [`StoreError::Io`]; back-ends map the named cases
    /// (`NotFound` on a bucket, …) before they reach this.
    fn from(err: io::Error) -> Self {
        StoreError::Io(err)
    }
}

impl StoreError {
    /// The PROTOCOL.md reason token this failure is answered with. The mapping
    /// is one-to-one: `NoSuchBucket` → `NO_SUCH_BUCKET`, `NoSuchFile` →
    /// `NO_SUCH_FILE`, `Exists` → `EXISTS`, `NotEmpty` → `NOT_EMPTY`,
    /// `BadName` → `BAD_NAME`, `Io` → `IO`.
    #[must_use]
    pub fn reason(&self) -> Reason {
        match self {
            StoreError::NoSuchBucket => Reason::NoSuchBucket,
            StoreError::NoSuchFile => Reason::NoSuchFile,
            StoreError::Exists => Reason::Exists,
            StoreError::NotEmpty => Reason::NotEmpty,
            StoreError::BadName(_) => Reason::BadName,
            StoreError::Io(_) => Reason::Io,
        }
    }
}

impl From<NameError> for StoreError {
    /// A name refused by `bucket_proto`'s validation is a
    /// [`StoreError::BadName`] carrying the rule it broke.
    fn from(err: NameError) -> Self {
        StoreError::BadName(err.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_one_to_one() {
        let all = [
            (StoreError::NoSuchBucket, "NO_SUCH_BUCKET"),
            (StoreError::NoSuchFile, "NO_SUCH_FILE"),
            (StoreError::Exists, "EXISTS"),
            (StoreError::NotEmpty, "NOT_EMPTY"),
            (StoreError::BadName("x".into()), "BAD_NAME"),
            (StoreError::Io(io::Error::other("disk on fire")), "IO"),
        ];
        let mut seen = Vec::new();
        for (err, token) in &all {
            let reason = err.reason();
            assert_eq!(reason.as_str(), *token, "{err:?}");
            assert!(!seen.contains(&reason), "{reason} used twice");
            seen.push(reason);
        }
    }

    #[test]
    fn io_error_is_kept_and_printed_once() {
        let err = StoreError::from(io::Error::new(io::ErrorKind::StorageFull, "full"));
        let StoreError::Io(inner) = &err else {
            panic!("{err:?}")
        };
        assert_eq!(inner.kind(), io::ErrorKind::StorageFull);
        assert_eq!(err.to_string(), "storage i/o error: full");
        // Not again as the source, where anyhow's `{:#}` would repeat it.
        assert!(std::error::Error::source(&err).is_none());
    }

    #[test]
    fn name_errors_become_bad_name() {
        let err = StoreError::from(NameError::LeadingDot);
        assert_eq!(err.reason(), Reason::BadName);
        assert!(err.to_string().contains("may not start with '.'"), "{err}");
    }
}
