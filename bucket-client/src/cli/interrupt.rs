//! Ending on Ctrl-C, SIGTERM or SIGHUP without leaving a download's part
//! file behind.
//!
//! A download to a file is written to a `.bucket-client-*.part` file beside
//! it and renamed into place once whole ([`super::ops::download`]). Ended by
//! a signal's default action, the program would leave that part file (a
//! failed download must leave nothing). Once [`install`] has run, such a
//! signal removes every part file a [`PartFile`] guard has registered and
//! ends the program with status [`INTERRUPTED`].

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

/// Part files being written, removed if a signal ends the program.
static PARTS: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// Exit status after a signal: 128 + SIGINT, the shell's convention for a
/// program ended by Ctrl-C.
pub const INTERRUPTED: i32 = 130;

fn parts() -> MutexGuard<'static, Vec<PathBuf>> {
    // Nothing can be left half-changed in a Vec of paths: take it anyway.
    PARTS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Handles SIGINT, SIGTERM and SIGHUP for the rest of the program (on a
/// thread of the `ctrlc` crate): removes the registered part files, then
/// exits with [`INTERRUPTED`]. If no handler can be installed, the signals
/// keep their default action (logged at `debug`).
pub fn install() {
    let handler = || {
        for part in parts().iter() {
            let _ = std::fs::remove_file(part);
        }
        std::process::exit(INTERRUPTED);
    };
    if let Err(error) = ctrlc::set_handler(handler) {
        tracing::debug!(%error, "no signal handler: an interrupted download may leave its part file");
    }
}

/// Registers a part file for removal on a signal while the guard lives.
/// Dropping the guard also removes the file if it is still there (a
/// download that failed), before unregistering it, so no signal can come
/// between the two; after a successful rename nothing is left at the path.
#[must_use]
pub struct PartFile(PathBuf);

impl PartFile {
    /// Registers `path`.
    pub fn register(path: &Path) -> PartFile {
        parts().push(path.to_owned());
        PartFile(path.to_owned())
    }
}

impl Drop for PartFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
        let mut parts = parts();
        if let Some(i) = parts.iter().position(|p| *p == self.0) {
            parts.swap_remove(i);
        }
    }
}
