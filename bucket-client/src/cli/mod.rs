//! The pieces of the `bucket-client` binary: where to connect ([`Target`]),
//! what to print ([`Output`]), local files ([`Source`], [`Destination`]), the
//! operations ([`ops`]), the interactive shell ([`shell`]) and clean-up on
//! Ctrl-C ([`interrupt`]).

pub mod interrupt;
pub mod ops;
pub mod shell;

use std::fmt;
use std::fs::File;
use std::io::{self, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use bucket_client::{BucketName, Client, Error, FileName, NameError, Verb};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Everything the binary reports as `error: …`.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// An operation failed (a refusal shows the reply: `701 FUBF …`).
    #[error(transparent)]
    Client(#[from] Error),
    /// The server could not be reached.
    #[error("cannot connect to {target}: {}", bare(source))]
    Connect {
        /// `host:port`.
        target: String,
        /// Why.
        source: Error,
    },
    /// A local file could not be used.
    #[error("{what}: {source}")]
    Local {
        /// What was being done, naming the path.
        what: String,
        /// Why.
        source: io::Error,
    },
    /// A name typed by the user breaks PROTOCOL.md § Names.
    #[error("bad {what} {text:?}: {source}")]
    Name {
        /// `bucket name` or `file name`.
        what: &'static str,
        /// The refused text.
        text: String,
        /// The rule it breaks.
        source: NameError,
    },
    /// Anything else the user got wrong.
    #[error("{0}")]
    Usage(String),
    /// The user gave an empty answer to a question that has no default.
    #[error("cancelled")]
    Cancelled,
}

/// An error without the `network: ` prefix (the context says it already).
fn bare(error: &Error) -> String {
    match error {
        Error::Io(io) => io.to_string(),
        other => other.to_string(),
    }
}

impl CliError {
    fn local(what: impl Into<String>) -> impl FnOnce(io::Error) -> CliError {
        let what = what.into();
        move |source| CliError::Local { what, source }
    }
}

/// A bucket name typed by the user.
pub fn bucket_name(text: &str) -> Result<BucketName<'static>, CliError> {
    BucketName::new(text.to_owned()).map_err(|source| CliError::Name {
        what: "bucket name",
        text: text.to_owned(),
        source,
    })
}

/// A file name typed by the user.
pub fn file_name(text: &str) -> Result<FileName<'static>, CliError> {
    FileName::new(text.to_owned()).map_err(|source| CliError::Name {
        what: "file name",
        text: text.to_owned(),
        source,
    })
}

/// A verb or alias typed by the user, any case.
pub fn parse_verb(text: &str) -> Result<Verb, CliError> {
    Verb::from_token(text.as_bytes())
        .ok_or_else(|| CliError::Usage(format!("unknown command {text:?} (try HELP)")))
}

/// The server to talk to.
#[derive(Debug, Clone)]
pub struct Target {
    host: String,
    port: u16,
    timeout: Option<Duration>,
}

impl Target {
    /// `host` may carry its own port (`HOST:PORT`, `[IPv6]:PORT`), which
    /// then wins over `port`; `timeout_secs` 0 means no limit.
    pub fn new(host: String, port: u16, timeout_secs: u64) -> Self {
        let timeout = (timeout_secs > 0).then(|| Duration::from_secs(timeout_secs));
        let (host, own_port) = split_host_port(&host);
        Target {
            host,
            port: own_port.unwrap_or(port),
            timeout,
        }
    }

    /// A new connection.
    pub fn connect(&self) -> Result<Client, CliError> {
        let addr = (self.host.as_str(), self.port);
        let result = match self.timeout {
            Some(timeout) => Client::connect_timeout(addr, timeout),
            None => Client::connect(addr),
        };
        result.map_err(|source| CliError::Connect {
            target: self.to_string(),
            source,
        })
    }
}

/// `HOST:PORT` or `[IPv6]:PORT` split into host and port; a bare host name,
/// IPv4 or IPv6 address (`::1`) has no port.
fn split_host_port(server: &str) -> (String, Option<u16>) {
    if let Ok(addr) = server.parse::<std::net::SocketAddr>() {
        return (addr.ip().to_string(), Some(addr.port()));
    }
    if let Some((host, port)) = server.rsplit_once(':')
        && !host.contains(':')
        && let Ok(port) = port.parse()
    {
        return (host.to_owned(), Some(port));
    }
    (server.to_owned(), None)
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// Where results and errors go, and how they look.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    /// Draw progress bars (stderr is a terminal).
    pub progress: bool,
    /// Lists for people (aligned columns, `(no files)`) rather than for
    /// scripts (bare names, tab-separated fields).
    pub human: bool,
}

impl Output {
    /// Script output; progress bars when `progress`.
    pub fn new(progress: bool) -> Self {
        Output {
            progress,
            human: false,
        }
    }

    /// One line on stdout. A closed stdout (`| head`) is not an error here.
    pub fn line(&self, text: impl fmt::Display) {
        let _ = writeln!(io::stdout().lock(), "{}", printable(&text));
    }

    /// One `error: …` line on stderr.
    pub fn error(&self, error: &CliError) {
        let _ = writeln!(io::stderr().lock(), "error: {}", printable(error));
    }

    /// One note on stderr (not a result).
    pub fn note(&self, text: impl fmt::Display) {
        let _ = writeln!(io::stderr().lock(), "{}", printable(&text));
    }
}

/// `text` with every ASCII control character but tab and line feed shown
/// as `?`. Server text (the hello name, failure text, help lines) reaches
/// the terminal through here, and a hostile server must not be able to send
/// it escape sequences.
fn printable(text: &impl fmt::Display) -> String {
    text.to_string()
        .chars()
        .map(|c| {
            if c.is_ascii_control() && c != '\t' && c != '\n' {
                '?'
            } else {
                c
            }
        })
        .collect()
}

/// A progress bar on stderr for one transfer, or nothing when stderr is not
/// a terminal. Cleared when dropped.
pub struct Bar {
    enabled: bool,
    label: String,
    bar: Option<ProgressBar>,
}

impl Bar {
    /// A bar labelled `label`, drawn only when `enabled`.
    pub fn new(enabled: bool, label: impl Into<String>) -> Self {
        Bar {
            enabled,
            label: label.into(),
            bar: None,
        }
    }
}

impl bucket_client::Progress for Bar {
    fn start(&mut self, total: u64) {
        if !self.enabled {
            return;
        }
        let style = ProgressStyle::with_template(
            "{msg} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta}",
        )
        .map(|s| s.progress_chars("=> "))
        .unwrap_or_else(|_| ProgressStyle::default_bar());
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr())
            .with_style(style)
            .with_message(self.label.clone());
        self.bar = Some(bar);
    }

    fn advance(&mut self, done: u64) {
        if let Some(bar) = &self.bar {
            bar.set_position(done);
        }
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

/// An opened upload source: a file of known length.
#[derive(Debug)]
pub struct Source {
    /// Positioned at the start.
    pub file: File,
    /// Bytes to send.
    pub len: u64,
    /// For messages: the local path, or `-`.
    pub label: String,
}

impl Source {
    /// Opens the file at `path`: a regular file is sent as it is; a pipe
    /// (a FIFO, or bash's `<(command)`) is read to its end first, like
    /// standard input, since its size is not known until then, and so is a
    /// file whose size reads as 0 (the files of /proc and /sys say so and
    /// have content; a really empty one costs one read).
    ///
    /// # Errors
    /// `Local` when it cannot be opened, read or spooled; `Usage` for a
    /// folder or any other kind of file (a device has no end to read to).
    pub fn open(path: &Path) -> Result<Source, CliError> {
        let shown = path.display().to_string();
        let file = File::open(path).map_err(CliError::local(format!("cannot open {shown}")))?;
        let meta = file
            .metadata()
            .map_err(CliError::local(format!("cannot read {shown}")))?;
        if meta.is_dir() {
            return Err(CliError::Usage(format!("{shown} is a folder, not a file")));
        }
        #[cfg(unix)]
        let pipe = std::os::unix::fs::FileTypeExt::is_fifo(&meta.file_type());
        #[cfg(not(unix))]
        let pipe = false;
        if !meta.is_file() && !pipe {
            return Err(CliError::Usage(format!(
                "{shown} is not a regular file or a pipe"
            )));
        }
        Source::as_is(file, &shown).or_else(|file| Source::spool(file, &shown, &shown))
    }

    /// Standard input as a source, by the same rule as [`Source::open`]: a
    /// regular file that says how long it is (`< file`) is sent as it is,
    /// from its current position; anything else (a pipe, a terminal, a
    /// file of /proc) is read to its end into a temporary file first, since
    /// an upload's size must be sent before its bytes.
    ///
    /// # Errors
    /// `Local` when it cannot be read or spooled.
    pub fn stdin() -> Result<Source, CliError> {
        #[cfg(unix)]
        {
            use std::os::fd::AsFd;
            // A duplicate of the descriptor, sharing its position.
            if let Ok(fd) = io::stdin().as_fd().try_clone_to_owned()
                && let Ok(source) = Source::as_is(File::from(fd), "-")
            {
                return Ok(source);
            }
        }
        Source::spool(io::stdin().lock(), "standard input", "-")
    }

    /// `file` as it is, from its position to its end, when it is a regular
    /// file that says how long it is; `Err(file)` otherwise (a pipe, a
    /// device, or a size that reads as 0), for the caller to read to its end.
    fn as_is(mut file: File, label: &str) -> Result<Source, File> {
        let len = match (file.metadata(), file.stream_position()) {
            (Ok(meta), Ok(position)) if meta.is_file() && meta.len() > 0 => {
                meta.len().saturating_sub(position)
            }
            _ => return Err(file),
        };
        Ok(Source {
            file,
            len,
            label: label.to_owned(),
        })
    }

    /// Reads `reader` (`what`, for errors) to its end into an anonymous
    /// temporary file (in $TMPDIR) and returns that, rewound, labelled
    /// `label`.
    fn spool(mut reader: impl io::Read, what: &str, label: &str) -> Result<Source, CliError> {
        let spool = format!("cannot spool {what} to a temporary file");
        let mut file = tempfile::tempfile().map_err(CliError::local(spool.clone()))?;
        io::copy(&mut reader, &mut file).map_err(CliError::local(spool.clone()))?;
        let len = file
            .stream_position()
            .map_err(CliError::local(spool.clone()))?;
        file.rewind().map_err(CliError::local(spool))?;
        Ok(Source {
            file,
            len,
            label: label.to_owned(),
        })
    }
}

/// The file name a local path gets in a bucket by default: its last
/// component.
pub fn default_name(path: &Path) -> Result<FileName<'static>, CliError> {
    let text = path.file_name().and_then(|n| n.to_str()).ok_or_else(|| {
        CliError::Usage(format!(
            "{} has no usable file name; give the name in the bucket",
            path.display()
        ))
    })?;
    file_name(text)
}

/// Where a download goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// Standard output.
    Stdout,
    /// This file, replaced atomically once the download is complete.
    File(PathBuf),
    /// Something that exists and is not a regular file or a folder (a
    /// device such as `/dev/null`, a FIFO): written into as it is, never
    /// replaced.
    Stream(PathBuf),
}

impl Destination {
    /// `local` as given: `None` is `name` in the current folder, `-` is
    /// stdout, an existing folder gets `name` inside it. A symlink to a
    /// file stands for its target (the file is replaced, the link stays);
    /// an existing device or FIFO is written into.
    pub fn new(local: Option<&Path>, name: &FileName<'_>) -> Self {
        let p = match local {
            None => return Destination::File(PathBuf::from(name.as_str())),
            Some(p) if p.as_os_str() == "-" => return Destination::Stdout,
            Some(p) if p.is_dir() => return Destination::File(p.join(name.as_str())),
            Some(p) => p,
        };
        match std::fs::metadata(p) {
            Ok(meta) if !meta.is_file() => Destination::Stream(p.to_path_buf()),
            Ok(_) if p.is_symlink() => {
                Destination::File(std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf()))
            }
            _ => Destination::File(p.to_path_buf()),
        }
    }
}

/// Expands a leading `~/` to the home folder (typed paths in the shell).
pub fn expand_home(path: &str) -> PathBuf {
    let home = || std::env::var_os("HOME").or_else(|| std::env::var_os("USERPROFILE"));
    match path.strip_prefix("~/").map(|rest| (rest, home())) {
        Some((rest, Some(home))) => PathBuf::from(home).join(rest),
        _ => PathBuf::from(path),
    }
}

#[cfg(test)]
mod printable_tests {
    use super::printable;

    #[test]
    fn server_text_cannot_carry_terminal_escapes() {
        assert_eq!(printable(&"evil\x1b[2J\x07\rname"), "evil?[2J??name");
        assert_eq!(printable(&"a\tb\nc é"), "a\tb\nc é");
    }
}

#[cfg(test)]
mod target_tests {
    use super::Target;

    fn shown(server: &str, port: u16) -> String {
        Target::new(server.to_owned(), port, 0).to_string()
    }

    #[test]
    fn a_port_in_the_server_argument_wins_over_the_port_option() {
        assert_eq!(shown("127.0.0.1:4599", 4567), "127.0.0.1:4599");
        assert_eq!(shown("files.example.com:80", 4567), "files.example.com:80");
        assert_eq!(shown("[::1]:4599", 4567), "[::1]:4599");
    }

    #[test]
    fn bare_hosts_and_ipv6_addresses_take_the_port_option() {
        assert_eq!(shown("127.0.0.1", 4567), "127.0.0.1:4567");
        assert_eq!(shown("localhost", 99), "localhost:99");
        assert_eq!(shown("::1", 4567), "[::1]:4567");
        // Not a port: kept as the host, and the lookup will say so.
        assert_eq!(shown("host:http", 4567), "[host:http]:4567");
    }
}
