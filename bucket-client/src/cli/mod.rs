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

/// Everything the binary reports as `error: …`. Each variant prints the
/// error it wraps in its own message, so none also returns it as its
/// `source()`.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// An operation failed (a refusal shows the reply: `701 FUBF …`; a list
    /// over the limit names `--max-list-size`).
    #[error("{}", with_hint(.0))]
    Client(Error),
    /// The server could not be reached.
    #[error("cannot connect to {target}: {}", bare(error))]
    Connect {
        /// `host:port`.
        target: String,
        /// Why.
        error: Error,
    },
    /// A local file could not be used.
    #[error("{what}: {error}")]
    Local {
        /// What was being done, naming the path.
        what: String,
        /// Why.
        error: io::Error,
    },
    /// A name typed by the user (or taken from a local path) breaks
    /// PROTOCOL.md § Names: a usage error.
    #[error("bad {what} {}: {error}", quoted(text))]
    Name {
        /// `bucket name` or `file name`.
        what: &'static str,
        /// The refused text.
        text: String,
        /// The rule it breaks.
        error: NameError,
    },
    /// Anything else the user got wrong (a usage error): an unknown verb, an
    /// upload source that is a folder or a device, …
    #[error("{0}")]
    Usage(String),
    /// The user gave an empty answer to a question that has no default.
    #[error("cancelled")]
    Cancelled,
}

impl From<Error> for CliError {
    fn from(error: Error) -> Self {
        CliError::Client(error)
    }
}

/// A client error's message, with the option that lifts it for a list over
/// the limit.
fn with_hint(error: &Error) -> String {
    match error {
        Error::ListTooLarge { .. } => format!("{error} (--max-list-size raises it; 0 lifts it)"),
        other => other.to_string(),
    }
}

/// An error without the `network: ` prefix (the context says it already).
fn bare(error: &Error) -> String {
    match error {
        Error::Io(io) => io.to_string(),
        other => other.to_string(),
    }
}

impl CliError {
    /// The exit status this error ends the program with: 2 for a usage
    /// error (a bad name however it was given, an unknown verb, an upload
    /// source that is a folder or a device), 1 for everything else.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Name { .. } | CliError::Usage(_) => 2,
            _ => 1,
        }
    }

    fn local(what: impl Into<String>) -> impl FnOnce(io::Error) -> CliError {
        let what = what.into();
        move |error| CliError::Local { what, error }
    }
}

/// `text` between double quotes as written: a backslash stays one
/// backslash; only control characters are escaped (`\n`, `\u{1b}`), so a
/// name cannot break the line or reach the terminal as a control code.
pub fn quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out.push('"');
    out
}

/// A bucket name typed by the user.
pub fn bucket_name(text: &str) -> Result<BucketName<'static>, CliError> {
    BucketName::new(text.to_owned()).map_err(|error| CliError::Name {
        what: "bucket name",
        text: text.to_owned(),
        error,
    })
}

/// A file name typed by the user.
pub fn file_name(text: &str) -> Result<FileName<'static>, CliError> {
    FileName::new(text.to_owned()).map_err(|error| CliError::Name {
        what: "file name",
        text: text.to_owned(),
        error,
    })
}

/// A verb or alias typed by the user, any case.
pub fn parse_verb(text: &str) -> Result<Verb, CliError> {
    Verb::from_token(text)
        .ok_or_else(|| CliError::Usage(format!("unknown command {} (try HELP)", quoted(text))))
}

/// The server to talk to.
#[derive(Debug, Clone)]
pub struct Target {
    host: String,
    port: u16,
    timeout: Option<Duration>,
    max_list_size: Option<u64>,
}

impl Target {
    /// `server`'s own port (`HOST:PORT`, `[IPv6]:PORT`), if it has one,
    /// wins over `port`; `timeout_secs` 0 means no limit.
    pub fn new(server: ServerArg, port: u16, timeout_secs: u64) -> Self {
        let timeout = (timeout_secs > 0).then(|| Duration::from_secs(timeout_secs));
        Target {
            host: server.host,
            port: server.port.unwrap_or(port),
            timeout,
            max_list_size: Some(bucket_client::DEFAULT_MAX_LIST_SIZE),
        }
    }

    /// Sets the largest list reply each connection keeps, in bytes (`0`:
    /// no limit; [`Client::set_max_list_size`]).
    pub fn with_max_list_size(mut self, bytes: u64) -> Self {
        self.max_list_size = (bytes > 0).then_some(bytes);
        self
    }

    /// A new connection.
    pub fn connect(&self) -> Result<Client, CliError> {
        let addr = (self.host.as_str(), self.port);
        let result = match self.timeout {
            Some(timeout) => Client::connect_timeout(addr, timeout),
            None => Client::connect(addr),
        };
        let mut client = result.map_err(|error| CliError::Connect {
            target: self.to_string(),
            error,
        })?;
        client.set_max_list_size(self.max_list_size);
        Ok(client)
    }
}

/// The `-s` argument, checked when the command line is read: a host name,
/// an IPv4 address or an IPv6 address (`::1` or `[::1]`), with or without
/// its own port (`HOST:PORT`, `[IPv6]:PORT`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerArg {
    host: String,
    port: Option<u16>,
}

impl std::str::FromStr for ServerArg {
    type Err = String;

    /// Errors, each a usage error: an empty host, a port that is not a
    /// number from 1 to 65535, an IPv6 address with a port but no
    /// brackets (`::1:4567` cannot be told from an address), brackets
    /// around something that is not an IPv6 address, an IPv6 scope id
    /// (`[fe80::1%2]:4567`: the connection would lose it).
    fn from_str(text: &str) -> Result<Self, String> {
        use std::net::{IpAddr, Ipv6Addr, SocketAddr};
        let host_only = |host: &str| ServerArg {
            host: host.to_owned(),
            port: None,
        };
        if let Ok(addr) = text.parse::<SocketAddr>() {
            if let SocketAddr::V6(v6) = addr
                && v6.scope_id() != 0
            {
                return Err(format!("{text}: IPv6 scope ids (%…) are not supported"));
            }
            return Ok(ServerArg {
                host: addr.ip().to_string(),
                port: Some(port_number(&addr.port().to_string())?),
            });
        }
        if text.parse::<IpAddr>().is_ok() {
            return Ok(host_only(text));
        }
        if let Some(inner) = text.strip_prefix('[') {
            let (address, rest) = inner
                .split_once(']')
                .ok_or("an opening '[' without its closing ']'")?;
            if address.parse::<Ipv6Addr>().is_err() {
                return Err(format!("[{address}] is not an IPv6 address"));
            }
            return match rest {
                "" => Ok(host_only(address)),
                _ => match rest.strip_prefix(':') {
                    Some(port) => Ok(ServerArg {
                        host: address.to_owned(),
                        port: Some(port_number(port)?),
                    }),
                    None => Err(format!("{rest:?} after [{address}]: give [{address}]:PORT")),
                },
            };
        }
        match text.rsplit_once(':') {
            None if text.is_empty() => Err("no host given".to_owned()),
            None => Ok(host_only(text)),
            Some((host, _)) if host.contains(':') => Err(format!(
                "{text} is not an IPv6 address; with a port, write it as [ADDRESS]:PORT"
            )),
            Some(("", _)) => Err("no host before the ':'".to_owned()),
            Some((host, port)) => Ok(ServerArg {
                host: host.to_owned(),
                port: Some(port_number(port)?),
            }),
        }
    }
}

/// A TCP port a client can connect to, 1 to 65535, in decimal.
fn port_number(text: &str) -> Result<u16, String> {
    match text.parse::<u16>() {
        Ok(port) if port > 0 => Ok(port),
        _ => Err(format!(
            "port {} is not a number from 1 to 65535",
            quoted(text)
        )),
    }
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
            // C1 controls too (U+0080–U+009F): some terminals act on them.
            if c.is_control() && c != '\t' && c != '\n' {
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
        check_kind(&meta, &shown)?;
        Source::as_is(file, &shown).or_else(|file| Source::spool(file, &shown, &shown))
    }

    /// Standard input as a source, by the same rule as [`Source::open`]: a
    /// regular file that says how long it is (`< file`) is sent as it is,
    /// from its current position; a pipe, a socket or a file of /proc is
    /// read to its end into a temporary file first, since an upload's size
    /// must be sent before its bytes, and so is a terminal (until Ctrl-D, as
    /// `cat` reads it). Another device (`/dev/zero`, `/dev/null`) is refused
    /// as it is by path, and so is a closed standard input (`<&-`).
    ///
    /// # Errors
    /// `Usage` for a device, a folder or a closed standard input; `Local`
    /// when it cannot be read or spooled.
    #[cfg(unix)]
    pub fn stdin() -> Result<Source, CliError> {
        use std::io::IsTerminal;
        use std::os::fd::AsFd;
        const SHOWN: &str = "standard input";
        // A duplicate of the descriptor, sharing its position.
        let file = match io::stdin().as_fd().try_clone_to_owned() {
            Ok(fd) => File::from(fd),
            Err(_) => return Err(CliError::Usage(STDIN_CLOSED.to_owned())),
        };
        let meta = file
            .metadata()
            .map_err(CliError::local(format!("cannot read {SHOWN}")))?;
        if io::stdin().is_terminal() {
            return Source::spool(file, SHOWN, "-");
        }
        if let Err(error) = check_kind(&meta, SHOWN) {
            if stdin_was_closed(&file, &meta) {
                return Err(CliError::Usage(STDIN_CLOSED.to_owned()));
            }
            return Err(error);
        }
        Source::as_is(file, "-").or_else(|file| Source::spool(file, SHOWN, "-"))
    }

    /// Standard input as a source: read to its end into a temporary file.
    ///
    /// # Errors
    /// `Local` when it cannot be read or spooled.
    #[cfg(not(unix))]
    pub fn stdin() -> Result<Source, CliError> {
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

/// Said of a closed standard input (`<&-`).
#[cfg(unix)]
const STDIN_CLOSED: &str =
    "standard input is closed; redirect or pipe the data in (`< FILE`, `COMMAND |`)";

/// The rule for what an upload can read, by path or on standard input
/// (`shown`): a regular file, a pipe (FIFO) or a socket. A folder or a
/// device (which has no end to read to, or none worth sending) is a usage
/// error.
fn check_kind(meta: &std::fs::Metadata, shown: &str) -> Result<(), CliError> {
    if meta.is_dir() {
        return Err(CliError::Usage(format!("{shown} is a folder, not a file")));
    }
    #[cfg(unix)]
    let stream = {
        use std::os::unix::fs::FileTypeExt;
        let kind = meta.file_type();
        kind.is_fifo() || kind.is_socket()
    };
    #[cfg(not(unix))]
    let stream = false;
    if meta.is_file() || stream {
        return Ok(());
    }
    Err(CliError::Usage(format!(
        "{shown} is not a regular file or a pipe"
    )))
}

/// Whether standard input (`file`, `meta`) is what the Rust runtime puts in
/// place of a closed one: `/dev/null`, opened for reading and writing (a
/// shell's `< /dev/null` opens it for reading only). Linux only; elsewhere
/// a closed standard input is refused as the device it reads as.
#[cfg(unix)]
fn stdin_was_closed(file: &File, meta: &std::fs::Metadata) -> bool {
    #[cfg(target_os = "linux")]
    {
        use rustix::fs::OFlags;
        use std::os::unix::fs::MetadataExt;
        let null = std::fs::metadata("/dev/null")
            .is_ok_and(|null| null.dev() == meta.dev() && null.ino() == meta.ino());
        null && rustix::fs::fcntl_getfl(file)
            .is_ok_and(|flags| flags & OFlags::RWMODE == OFlags::RDWR)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (file, meta);
        false
    }
}

/// Whether the upload source at `path` (links followed) is a pipe or a
/// socket: a FIFO, or bash's `<(command)`, which is a path such as
/// `/dev/fd/63`. Its own name says nothing of what it holds, so an upload
/// from it needs the name in the bucket to be given, as `-` does.
pub fn is_stream(path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        std::fs::metadata(path).is_ok_and(|meta| {
            let kind = meta.file_type();
            kind.is_fifo() || kind.is_socket()
        })
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        false
    }
}

/// The file name a local path gets in a bucket by default: its last
/// component. A pipe or a socket has none worth keeping ([`is_stream`]);
/// callers refuse it before this.
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
    /// Something that exists and is not a regular file (a device such as
    /// `/dev/null`, a FIFO): written into as it is, never replaced. A
    /// folder here (the default `name` is a folder) fails to open, before
    /// anything is downloaded.
    Stream(PathBuf),
}

impl Destination {
    /// `local` as given: `None` is `name` in the current folder, `-` is
    /// stdout; an existing folder gets `name` inside it. Then, whichever
    /// way the path came: the file standard output already is
    /// (`/dev/stdout`, or the file `>` redirected it to) is stdout; a
    /// symlink stands for its target, even one that does not exist yet
    /// (the target is created or replaced, the link stays); an existing
    /// device or FIFO is written into.
    pub fn new(local: Option<&Path>, name: &FileName<'_>) -> Self {
        let path = match local {
            Some(p) if p.as_os_str() == "-" => return Destination::Stdout,
            Some(p) if p.is_dir() => p.join(name.as_str()),
            Some(p) => p.to_path_buf(),
            None => PathBuf::from(name.as_str()),
        };
        if is_stdout(&path) {
            return Destination::Stdout;
        }
        match std::fs::metadata(&path) {
            Ok(meta) if !meta.is_file() => Destination::Stream(path),
            _ => Destination::File(follow_links(&path)),
        }
    }
}

/// Whether `path` names the file standard output is (same device and
/// inode, links followed).
#[cfg(unix)]
fn is_stdout(path: &Path) -> bool {
    use std::os::fd::AsFd;
    use std::os::unix::fs::MetadataExt;
    let Ok(dest) = std::fs::metadata(path) else {
        return false;
    };
    let stdout = io::stdout()
        .as_fd()
        .try_clone_to_owned()
        .map(File::from)
        .and_then(|f| f.metadata());
    stdout.is_ok_and(|out| out.dev() == dest.dev() && out.ino() == dest.ino())
}

/// Elsewhere only `-` is standard output.
#[cfg(not(unix))]
fn is_stdout(_path: &Path) -> bool {
    false
}

/// `path` with every symlink at its end followed, whether its target exists
/// or not (a dangling link's target is where a download is created); a
/// relative target is taken from the link's folder. Gives up after 40
/// links (a loop), as the kernel does, leaving the rename to report it.
fn follow_links(path: &Path) -> PathBuf {
    let mut path = path.to_path_buf();
    for _ in 0..40 {
        let is_link = std::fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink());
        let Some(target) = is_link.then(|| std::fs::read_link(&path).ok()).flatten() else {
            break;
        };
        path = match path.parent() {
            Some(dir) if target.is_relative() => dir.join(target),
            _ => target,
        };
    }
    path
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
        assert_eq!(printable(&"csi\u{9b}31m nel\u{85}"), "csi?31m nel?");
    }
}

#[cfg(test)]
mod name_tests {
    use super::{bucket_name, quoted};

    #[test]
    fn names_are_shown_as_written_with_controls_escaped() {
        assert_eq!(quoted(r"bad\name"), r#""bad\name""#);
        assert_eq!(quoted("a\nb\u{1b}"), r#""a\nb\u{1b}""#);
        let error = bucket_name(r"bad\name").expect_err("a backslash is refused");
        assert_eq!(
            error.to_string(),
            r#"bad bucket name "bad\name": character '\' is not allowed in this name"#
        );
        assert_eq!(error.exit_code(), 2);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod target_tests {
    use super::{ServerArg, Target};

    fn shown(server: &str, port: u16) -> String {
        let server: ServerArg = server.parse().unwrap();
        Target::new(server, port, 0).to_string()
    }

    fn refused(server: &str) -> String {
        server.parse::<ServerArg>().unwrap_err()
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
        assert_eq!(shown("[::1]", 4567), "[::1]:4567");
        assert_eq!(shown("2001:db8::7", 4567), "[2001:db8::7]:4567");
    }

    #[test]
    fn a_bad_port_or_host_is_refused_with_what_is_wrong() {
        for bad in [
            "host:99999",
            "host:0",
            "host:http",
            "host:",
            "[::1]:-1",
            "[::1]:",
        ] {
            assert!(
                refused(bad).contains("not a number from 1 to 65535"),
                "{bad}"
            );
        }
        assert!(refused("::1:99999").contains("[ADDRESS]:PORT"));
        assert!(refused("[::1]4567").contains("give [::1]:PORT"));
        assert!(refused("[localhost]:4567").contains("not an IPv6 address"));
        assert!(refused("[::1").contains("closing ']'"));
        assert_eq!(refused(":4567"), "no host before the ':'");
        assert_eq!(refused(""), "no host given");
        assert!(refused("[fe80::1%2]:4599").contains("scope ids"));
    }
}
