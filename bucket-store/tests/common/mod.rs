//! Helpers shared by the integration tests: the ones
//! `bucket_store::conformance` offers every back-end's tests.
#![allow(unused_imports)]

pub use bucket_store::conformance::{bucket, err, file, file_names, pattern, put, read};

use std::path::Path;
use std::process::Command;

/// A tmpfs mounted on a temporary folder and unmounted when dropped, for
/// tests that fill a disk or make it read-only. Mounting needs root.
#[allow(dead_code)] // not every test binary mounts one
pub struct Tmpfs(tempfile::TempDir);

#[allow(dead_code)]
impl Tmpfs {
    /// A tmpfs of `size` (e.g. "8m"), or `None`, saying that the test is
    /// skipped, where mounting is not allowed.
    pub fn mount(size: &str) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().expect("temp dir");
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .is_ok_and(|s| s.success());
        if !mounted {
            eprintln!("skipped: cannot mount a tmpfs here (needs root)");
        }
        mounted.then_some(Tmpfs(dir))
    }

    /// Where it is mounted.
    pub fn path(&self) -> &Path {
        self.0.path()
    }

    /// Mounts it again, read-only.
    pub fn remount_read_only(&self) {
        let status = Command::new("mount")
            .args(["-o", "remount,ro"])
            .arg(self.path())
            .status()
            .expect("mount");
        assert!(status.success(), "remount read-only");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.path()).status();
    }
}
