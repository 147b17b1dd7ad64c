//! The operations, shared by the subcommands and the shell: each runs one
//! request on a connected [`Client`] and prints its result.

use std::io::{self, BufWriter};
use std::path::Path;

use bucket_client::{
    BUFFER_SIZE, BucketName, Client, Error, FileName, PROTOCOL_VERSION, ReplyCode, Verb,
};

use super::{Bar, CliError, Destination, Output, Source};

/// `code mnemonic meaning`, e.g. `300 BCS bucket created`.
fn done(code: ReplyCode) -> String {
    format!("{code} {}", code.meaning())
}

/// `HELLO`.
pub fn hello(client: &mut Client, out: &mut Output) -> Result<(), CliError> {
    let server = client.hello()?;
    let head = format!("{} {PROTOCOL_VERSION}", ReplyCode::Ok);
    match server.is_empty() {
        true => out.line(head),
        false => out.line(format_args!("{head} {server}")),
    }
    Ok(())
}

/// `CODES`.
pub fn codes(client: &mut Client, out: &mut Output) -> Result<(), CliError> {
    for line in client.codes()? {
        out.line(line);
    }
    Ok(())
}

/// `HELP [verb]`; `shell` adds how the shell's UPLOAD and DOWNLOAD differ
/// from the wire's.
pub fn help(
    client: &mut Client,
    topic: Option<Verb>,
    out: &mut Output,
    shell: bool,
) -> Result<(), CliError> {
    for line in client.help(topic)? {
        out.line(line);
    }
    if shell {
        out.line("");
        out.line("In this shell (arguments may be quoted; on a terminal, typed without");
        out.line("any, a command asks for each, optional ones too; typed with some, it");
        out.line("asks only for missing required ones and the optional ones take their");
        out.line("defaults; a script is asked nothing, a missing argument is an error):");
        for verb in [Verb::Upload, Verb::Download, Verb::DeleteFile] {
            if topic.is_none() || topic == Some(verb) {
                out.line(format_args!("  {}", super::shell::usage(verb)));
            }
        }
        if topic.is_none() {
            out.line("  QUIT or EXIT (or Ctrl-D) ends the shell. History: ~/.bucket_history.");
        }
    }
    Ok(())
}

/// `CREATE_B bucket`.
pub fn create_bucket(
    client: &mut Client,
    bucket: &BucketName<'_>,
    out: &mut Output,
) -> Result<(), CliError> {
    client.create_bucket(bucket)?;
    out.line(done(ReplyCode::BucketCreated));
    Ok(())
}

/// `LIST_B`: one name per line (`(no buckets)` for people when empty).
pub fn list_buckets(client: &mut Client, out: &mut Output) -> Result<(), CliError> {
    let buckets = client.list_buckets()?;
    if buckets.is_empty() && out.human {
        out.line("(no buckets)");
    }
    for bucket in buckets {
        out.line(bucket);
    }
    Ok(())
}

/// `DELETE_B bucket`.
pub fn delete_bucket(
    client: &mut Client,
    bucket: &BucketName<'_>,
    out: &mut Output,
) -> Result<(), CliError> {
    client.delete_bucket(bucket)?;
    out.line(done(ReplyCode::BucketDeleted));
    Ok(())
}

/// `UPLOAD bucket name size` with `source`'s bytes, sent straight from its
/// file ([`Client::upload_file_with_progress`]: `sendfile(2)` on Linux).
pub fn upload(
    client: &mut Client,
    bucket: &BucketName<'_>,
    name: &FileName<'_>,
    source: Source,
    out: &mut Output,
) -> Result<(), CliError> {
    let Source { file, len, label } = source;
    let mut bar = Bar::new(out.progress, format!("{label} -> {bucket}/{name}"));
    client.upload_file_with_progress(bucket, name, &file, len, &mut bar)?;
    drop(bar);
    out.line(format_args!(
        "{} ({})",
        done(ReplyCode::FileUploaded),
        bytes(len)
    ));
    Ok(())
}

/// `LIST_F [bucket]`: for people `bucket  name  N bytes` in aligned
/// columns, for scripts `bucket<TAB>name<TAB>N`.
pub fn list_files(
    client: &mut Client,
    bucket: Option<&BucketName<'_>>,
    out: &mut Output,
) -> Result<(), CliError> {
    let files = client.list_files(bucket)?;
    if !out.human {
        for f in files {
            out.line(format_args!("{}\t{}\t{}", f.bucket, f.name, f.size));
        }
        return Ok(());
    }
    if files.is_empty() {
        out.line("(no files)");
    }
    let wb = files
        .iter()
        .map(|f| f.bucket.chars().count())
        .max()
        .unwrap_or(0);
    let wn = files
        .iter()
        .map(|f| f.name.chars().count())
        .max()
        .unwrap_or(0);
    for f in files {
        let (b, n) = (f.bucket.as_str(), f.name.as_str());
        out.line(format_args!("{b:<wb$}  {n:<wn$}  {}", bytes(f.size)));
    }
    Ok(())
}

fn bytes(n: u64) -> String {
    match n {
        1 => "1 byte".to_owned(),
        n => format!("{n} bytes"),
    }
}

/// `DOWNLOAD bucket name` into `dest`. A file destination is written to a
/// temporary file beside it and renamed over it only once complete, with
/// the mode of the file it replaces; a file the user may not write is
/// refused before `DOWNLOAD` is sent, and with `no_clobber` any file
/// already there ([`check_destination`]; one that appears meanwhile makes
/// the rename fail, [`put_in_place`]). A device or FIFO is written into.
/// Standard output gets the bytes only (no status line).
pub fn download(
    client: &mut Client,
    bucket: &BucketName<'_>,
    name: &FileName<'_>,
    dest: &Destination,
    no_clobber: bool,
    out: &mut Output,
) -> Result<(), CliError> {
    let label = format!("{bucket}/{name}");
    let path = match dest {
        Destination::Stdout => {
            let mut bar = Bar::new(out.progress, label);
            let stdout = io::stdout().lock();
            let writer = BufWriter::with_capacity(BUFFER_SIZE, stdout);
            client
                .download_with_progress(bucket, name, writer, &mut bar)
                .map_err(writing("standard output"))?;
            return Ok(());
        }
        Destination::Stream(path) | Destination::File(path) => path,
    };
    let mut bar = Bar::new(out.progress, format!("{label} -> {}", path.display()));
    let shown = path.display().to_string();
    let size = if let Destination::Stream(_) = dest {
        let stream = std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(CliError::local(format!("cannot open {shown}")))?;
        let writer = BufWriter::with_capacity(BUFFER_SIZE, stream);
        client
            .download_with_progress(bucket, name, writer, &mut bar)
            .map_err(writing(&shown))?
    } else {
        // The callers checked before they connected (so that a bad path
        // costs no connection); checked again now that the connection is
        // made, which can take a while, for what changed meanwhile.
        check_destination(dest, no_clobber)?;
        let mut part = temp_beside(path)?;
        // Removed by Ctrl-C too, not only by `part`'s drop on an error.
        let _registered = super::interrupt::PartFile::register(part.path());
        let size = {
            let writer = BufWriter::with_capacity(BUFFER_SIZE, part.as_file_mut());
            client
                .download_with_progress(bucket, name, writer, &mut bar)
                .map_err(writing(&shown))?
        };
        keep_mode(part.as_file(), path)
            .map_err(CliError::local(format!("cannot keep the mode of {shown}")))?;
        part.as_file()
            .sync_all()
            .map_err(CliError::local(format!("cannot write {shown}")))?;
        put_in_place(part, path, no_clobber)?;
        size
    };
    drop(bar);
    out.line(format_args!(
        "{} downloaded {} to {shown}",
        ReplyCode::Download,
        bytes(size)
    ));
    Ok(())
}

/// Refuses a download destination that could not be used, with the error
/// [`download`] would give, so that a caller can check it before it
/// connects: a file destination that cannot become a file (an empty path,
/// `nodir/`, `file/`), that holds a file the user may not write, or, with
/// `no_clobber` (`--no-clobber`), that holds anything at all. Standard
/// output, a device and a FIFO pass (they are written into, never
/// replaced, and opened when the download starts).
///
/// # Errors
/// `Usage` for an empty path; `Local`, naming the path, for the others
/// (`cannot overwrite notes.txt: the file exists (--no-clobber)`).
pub fn check_destination(dest: &Destination, no_clobber: bool) -> Result<(), CliError> {
    match dest {
        Destination::File(path) => {
            can_be_a_file(path)?;
            // Links are followed already: anything here is what the
            // rename would replace.
            if no_clobber && std::fs::symlink_metadata(path).is_ok() {
                return Err(exists(path));
            }
            may_replace(path)
        }
        Destination::Stdout | Destination::Stream(_) => Ok(()),
    }
}

/// `--no-clobber`'s refusal of the file at `path`.
fn exists(path: &Path) -> CliError {
    CliError::Local {
        what: format!("cannot overwrite {}", path.display()),
        error: io::Error::new(
            io::ErrorKind::AlreadyExists,
            "the file exists (--no-clobber)",
        ),
    }
}

/// Renames the complete temporary file `part` to `path`, replacing what is
/// there, or with `no_clobber` failing if anything is there by then, such
/// as a file created while the download ran, after [`check_destination`]
/// found the path free. That rename cannot replace a file however the two
/// race: tempfile's `persist_noclobber` renames with `renameat2(2)`'s
/// `RENAME_NOREPLACE` on Linux, and where the kernel or the filesystem
/// does not support it (`EINVAL`), and elsewhere, links the file to `path`
/// (which fails on an existing name) and unlinks the temporary name. On
/// failure `part` is dropped, which removes it.
///
/// # Errors
/// `Local`, naming `path`: `cannot overwrite …: the file exists
/// (--no-clobber)` when `no_clobber` found a file there, `cannot save …`
/// with the OS error otherwise.
fn put_in_place(
    part: tempfile::NamedTempFile,
    path: &Path,
    no_clobber: bool,
) -> Result<(), CliError> {
    let result = match no_clobber {
        true => part.persist_noclobber(path),
        false => part.persist(path),
    };
    match result.map_err(|e| e.error) {
        Ok(_) => Ok(()),
        Err(e) if no_clobber && e.kind() == io::ErrorKind::AlreadyExists => Err(exists(path)),
        Err(error) => Err(CliError::Local {
            what: format!("cannot save {}", path.display()),
            error,
        }),
    }
}

/// A download's error, with a failure to write the destination (a full
/// disk, a closed pipe) naming the destination, `shown`.
fn writing(shown: &str) -> impl FnOnce(Error) -> CliError {
    let what = format!("cannot write {shown}");
    move |error| match error {
        Error::Local(error) => CliError::Local { what, error },
        other => other.into(),
    }
}

/// Gives `part` the permission bits of the regular file at `path` when
/// there is one, as `cp` and `curl -o` keep an overwritten file's mode (a
/// new file keeps 0666 less the umask). Set-id and sticky bits are dropped.
fn keep_mode(part: &std::fs::File, path: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(path)
            && meta.is_file()
        {
            let mode = meta.permissions().mode() & 0o777;
            part.set_permissions(std::fs::Permissions::from_mode(mode))?;
        }
    }
    #[cfg(not(unix))]
    let _ = (part, path);
    Ok(())
}

/// Refuses the download to `path` when a file is there that the user may
/// not write (read-only, or another user's), as `cp` and `curl -o` refuse
/// it: the rename that replaces a file needs only the right to write its
/// folder, so without this check such a file would be replaced, and
/// another user's file would become the user's. Checked before the
/// temporary file is made and `DOWNLOAD` is sent; a missing file is fine.
///
/// # Errors
/// `Local`, naming `path`, with the reason (`Permission denied`).
fn may_replace(path: &Path) -> Result<(), CliError> {
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_file() => writable(path).map_err(CliError::local(format!(
            "cannot overwrite {}",
            path.display()
        ))),
        _ => Ok(()),
    }
}

/// Refuses, before `DOWNLOAD` is sent, a file destination the rename into
/// place could only fail on once the whole file had arrived: an empty path
/// (a usage error), and a path ending in `/` (`nodir/`), which names a
/// folder that does not exist (an existing one was already taken as the
/// folder to save into).
///
/// # Errors
/// `Usage` for an empty path; `Local` (`cannot save nodir/: the folder
/// nodir/ does not exist`) for the other.
fn can_be_a_file(path: &Path) -> Result<(), CliError> {
    let text = path.as_os_str();
    if text.is_empty() {
        return Err(CliError::Usage("the local path is empty".to_owned()));
    }
    // A separator is ASCII: the last byte is one, or not.
    let trailing_separator = text
        .as_encoded_bytes()
        .last()
        .is_some_and(|&byte| std::path::is_separator(char::from(byte)));
    if trailing_separator {
        let shown = path.display();
        let kind = match std::fs::metadata(path) {
            Ok(_) => io::ErrorKind::NotADirectory,
            Err(e) => e.kind(),
        };
        let reason = match kind {
            io::ErrorKind::NotFound => format!("the folder {shown} does not exist"),
            _ => format!("{shown} is not a folder"),
        };
        return Err(CliError::Local {
            what: format!("cannot save {shown}"),
            error: io::Error::new(kind, reason),
        });
    }
    Ok(())
}

/// Whether the user may write the file at `path`, as the kernel decides
/// for an `open` for writing (root may write any file).
#[cfg(target_os = "linux")]
fn writable(path: &Path) -> io::Result<()> {
    rustix::fs::access(path, rustix::fs::Access::WRITE_OK).map_err(io::Error::from)
}

/// Whether the user may write the file at `path`: opened for writing, not
/// truncated, and closed at once.
#[cfg(not(target_os = "linux"))]
fn writable(path: &Path) -> io::Result<()> {
    std::fs::OpenOptions::new().write(true).open(path).map(drop)
}

/// A temporary file in `path`'s folder, readable as a downloaded file
/// should be once renamed (mode 0666 less the umask on Unix).
///
/// # Errors
/// `Local`, naming `path` and its folder (not the temporary file): a
/// missing folder is said to be missing.
fn temp_beside(path: &Path) -> Result<tempfile::NamedTempFile, CliError> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let mut builder = tempfile::Builder::new();
    builder.prefix(".bucket-client-").suffix(".part");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    builder.tempfile_in(dir).map_err(|error| {
        let (shown, folder) = (path.display(), dir.display());
        let (what, reason) = match std::fs::metadata(dir) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => (
                format!("cannot save {shown}"),
                io::Error::new(e.kind(), format!("the folder {folder} does not exist")),
            ),
            Ok(meta) if !meta.is_dir() => (
                format!("cannot save {shown}"),
                io::Error::new(
                    io::ErrorKind::NotADirectory,
                    format!("{folder} is not a folder"),
                ),
            ),
            // tempfile's error names the temporary file; say why only.
            _ => (
                format!("cannot create a file in {folder} (to save {shown})"),
                error.raw_os_error().map_or_else(
                    || io::Error::from(error.kind()),
                    io::Error::from_raw_os_error,
                ),
            ),
        };
        CliError::Local {
            what,
            error: reason,
        }
    })
}

/// `DELETE_F bucket name`.
pub fn delete_file(
    client: &mut Client,
    bucket: &BucketName<'_>,
    name: &FileName<'_>,
    out: &mut Output,
) -> Result<(), CliError> {
    client.delete_file(bucket, name)?;
    out.line(done(ReplyCode::FileDeleted));
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::io::Write;

    /// `--no-clobber` is race-free: a file that appears at the destination
    /// after the check, while the download runs, is not replaced by the
    /// final rename, which fails as the check would have, and the
    /// temporary file is removed.
    #[cfg(unix)]
    #[test]
    fn no_clobber_keeps_a_file_that_appears_before_the_rename() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notes.txt");
        let dest = Destination::File(path.clone());
        check_destination(&dest, true).unwrap();
        let mut part = temp_beside(&path).unwrap();
        part.write_all(b"downloaded").unwrap();
        let part_path = part.path().to_owned();
        // Another program saves the file meanwhile.
        std::fs::write(&path, b"theirs").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        let error = put_in_place(part, &path, true).unwrap_err();
        assert_eq!(
            error.to_string(),
            format!(
                "cannot overwrite {}: the file exists (--no-clobber)",
                path.display()
            )
        );
        assert_eq!(error.exit_code(), 1);
        assert_eq!(std::fs::read(&path).unwrap(), b"theirs");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o640, "{mode:o}");
        assert!(!part_path.exists(), "the temporary file is left");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        // The check itself now refuses it too.
        let error = check_destination(&dest, true).unwrap_err();
        assert!(error.to_string().ends_with("(--no-clobber)"), "{error}");
        // Without --no-clobber the same rename replaces it.
        let mut part = temp_beside(&path).unwrap();
        part.write_all(b"downloaded").unwrap();
        put_in_place(part, &path, false).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"downloaded");
    }

    /// With `--no-clobber` and nothing at the destination, the file is put
    /// in place.
    #[test]
    fn no_clobber_saves_to_a_free_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new.txt");
        check_destination(&Destination::File(path.clone()), true).unwrap();
        let mut part = temp_beside(&path).unwrap();
        part.write_all(b"downloaded").unwrap();
        put_in_place(part, &path, true).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"downloaded");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
