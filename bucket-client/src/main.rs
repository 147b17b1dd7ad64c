//! `bucket-client`: the BKT/1 command-line client.
//!
//! Without a subcommand it opens an interactive shell (prompt `c> `) that
//! takes every BKT/1 verb and alias; with one it runs that operation for a
//! script and exits 0 on success, 1 on failure (the reason on stderr), 2 on
//! a usage error (see `--help`).

mod cli;

use std::io::{self, IsTerminal};
use std::path::PathBuf;
use std::process::ExitCode;

use bucket_client::{BucketName, Client, FileName, Verb};
use clap::{Parser, Subcommand};

use crate::cli::{Output, ServerArg, Target};

/// BKT/1 bucket client: an interactive shell, or one operation per run.
#[derive(Debug, Parser)]
#[command(name = "bucket-client", version, long_about = None)]
#[command(
    after_help = "Without a COMMAND, opens the interactive shell `c> `: type HELP there. \
    On a terminal it keeps its history in ~/.bucket_history. With its input not a terminal \
    (a script piped in), it asks for nothing (a command missing an argument fails as a usage \
    error, and the next line runs as a command) and exits with the status of the last command \
    that failed (1, or 2 for a usage error), 0 when none did.\n\
    Exit status: 0 success; 1 failure (the server's refusal, network, local files); 2 usage \
    error (bad arguments, a bad bucket or file name however given, an upload source that is \
    a folder, a device or a closed standard input); 128 + N when signal N ends it.\n\
    Options -s, -p, --timeout and --max-list-size may come before or after the COMMAND.\n\
    Logging: set RUST_LOG (e.g. RUST_LOG=debug) to trace requests and replies on stderr."
)]
struct Cli {
    /// Server host name or IP address; `HOST:PORT` (or `[IPv6]:PORT`) also
    /// sets the port, over --port.
    #[arg(
        short = 's',
        long = "server",
        value_name = "HOST",
        default_value = "127.0.0.1",
        global = true
    )]
    server: ServerArg,

    /// Server TCP port.
    #[arg(
        short = 'p',
        long = "port",
        value_name = "PORT",
        default_value_t = 4567,
        value_parser = clap::value_parser!(u16).range(1..),
        global = true
    )]
    port: u16,

    /// Seconds allowed to connect, for each network read or write, and for
    /// each reply line from its first byte to its end; 0 waits forever.
    #[arg(long, value_name = "SECS", default_value_t = 60, global = true)]
    timeout: u64,

    /// Largest list reply kept (LIST_B, LIST_F, HELP, CODES), counted as 64
    /// bytes per item plus its line: bytes, or a size such as 512MiB or 1GB;
    /// 0 lifts the limit. A larger list fails and closes the connection.
    #[arg(
        long,
        value_name = "SIZE",
        default_value = "256MiB",
        value_parser = byte_size,
        global = true
    )]
    max_list_size: u64,

    #[command(subcommand)]
    command: Option<Command>,
}

/// One operation, for scripts. Argument order follows the seeds' dialogues.
#[derive(Debug, Subcommand)]
enum Command {
    /// Check the server: prints `100 OK BKT/1 <server>`.
    Hello,
    /// Print the server's reply code table.
    Codes,
    /// Print the server's help text, for every verb or one.
    ServerHelp {
        /// A BKT/1 verb or alias (e.g. UPLOAD), any case.
        #[arg(value_parser = parse_verb)]
        verb: Option<Verb>,
    },
    /// Create an empty bucket.
    CreateBucket {
        /// The bucket's name.
        bucket: BucketName<'static>,
    },
    /// List the buckets, one name per line.
    ListBuckets,
    /// Delete an empty bucket.
    DeleteBucket {
        /// The bucket's name.
        bucket: BucketName<'static>,
    },
    /// Upload a local file into a bucket (an existing file is replaced).
    Upload {
        /// The local file to send: a regular file, or a pipe (read to its
        /// end first, into an unnamed temporary file in $TMPDIR, since the
        /// size is sent before the bytes; NAME is then required, as
        /// `<(command)` is named like `/dev/fd/63`). `-` reads standard
        /// input by the same rule (NAME is then required too): a regular file (`< file`) from
        /// where it stands, a pipe or a terminal to its end (Ctrl-D). A
        /// folder or another device (`/dev/zero`, `/dev/null`), by path or
        /// on standard input, and a closed standard input are usage errors
        /// (exit 2); pipe nothing in (`: |`) for an empty file.
        local: PathBuf,
        /// The destination bucket.
        bucket: BucketName<'static>,
        /// The name in the bucket [default: LOCAL's own file name;
        /// required when LOCAL is `-`, a pipe or a socket].
        name: Option<FileName<'static>>,
    },
    /// List files as `bucket<TAB>name<TAB>size-in-bytes` lines, of one bucket
    /// or of every bucket.
    ListFiles {
        /// Only this bucket.
        bucket: Option<BucketName<'static>>,
    },
    /// Download a file from a bucket.
    Download {
        /// The source bucket.
        bucket: BucketName<'static>,
        /// The file's name in the bucket.
        name: FileName<'static>,
        /// Where to save it [default: NAME in the current folder]; a folder
        /// saves NAME in it; `-`, or standard output's own file
        /// (`/dev/stdout`), writes standard output, the bytes only. A file
        /// replaced keeps its mode; one you may not write (read-only,
        /// another user's) is refused, as `cp` refuses it, before the
        /// server is contacted. A symlink's target is created or replaced, the
        /// link stays. Nothing is left behind when the download fails.
        local: Option<PathBuf>,
        /// Never replace a file at LOCAL (as `cp -n`, `wget -nc`): one
        /// already there is refused before the server is contacted; one that
        /// appears while the file downloads makes the download fail, the
        /// file kept. A device, a FIFO and standard output are written
        /// into as ever. The program's option only: the shell's DOWNLOAD
        /// takes no options and replaces files.
        #[arg(short = 'n', long)]
        no_clobber: bool,
    },
    /// Delete a file from a bucket.
    DeleteFile {
        /// The bucket holding the file.
        bucket: BucketName<'static>,
        /// The file's name.
        name: FileName<'static>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    cli::interrupt::install();
    let target =
        Target::new(cli.server, cli.port, cli.timeout).with_max_list_size(cli.max_list_size);
    match cli.command {
        None => cli::shell::run(&target),
        Some(command) => {
            let mut out = Output::new(io::stderr().is_terminal());
            match run_command(&target, command, &mut out) {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) => {
                    out.error(&error);
                    ExitCode::from(error.exit_code())
                }
            }
        }
    }
}

fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(io::stderr)
        // A log line stderr cannot take is dropped, not reported with
        // eprintln!, which would panic on a broken stderr.
        .log_internal_errors(false)
        .init();
}

/// `--max-list-size`: a byte count, plain (`268435456`) or with a unit
/// (`256MiB`, `1 GB`), as the parse-size crate reads it by default.
fn byte_size(text: &str) -> Result<u64, String> {
    parse_size::parse_size(text)
        .map_err(|e| format!("{e}: give bytes, or a size such as 512MiB or 1GB"))
}

/// A verb argument for clap; an unknown one is a usage error.
fn parse_verb(text: &str) -> Result<Verb, String> {
    Verb::from_token(text.trim())
        .ok_or_else(|| "not a BKT/1 verb; `bucket-client server-help` lists them".to_owned())
}

/// Exits with clap's usage error (status 2) for `subcommand`.
fn usage_error(subcommand: &str, message: &str) -> ! {
    use clap::CommandFactory;
    let mut command = Cli::command();
    command.build();
    let kind = clap::error::ErrorKind::MissingRequiredArgument;
    match command.find_subcommand_mut(subcommand) {
        Some(sub) => sub.error(kind, message).exit(),
        None => command.error(kind, message).exit(),
    }
}

/// Connects, runs `op`, and ends the session with `QUIT` when the
/// connection survived.
fn with_client<T>(
    target: &Target,
    op: impl FnOnce(&mut Client) -> Result<T, cli::CliError>,
) -> Result<T, cli::CliError> {
    let mut client = target.connect()?;
    let result = op(&mut client);
    // On a connection that broke or that the server closed, QUIT just fails.
    let _ = client.quit();
    result
}

fn run_command(target: &Target, command: Command, out: &mut Output) -> Result<(), cli::CliError> {
    use cli::ops;
    match command {
        Command::Hello => with_client(target, |c| ops::hello(c, out)),
        Command::Codes => with_client(target, |c| ops::codes(c, out)),
        Command::ServerHelp { verb } => with_client(target, |c| ops::help(c, verb, out, false)),
        Command::CreateBucket { bucket } => {
            with_client(target, |c| ops::create_bucket(c, &bucket, out))
        }
        Command::ListBuckets => with_client(target, |c| ops::list_buckets(c, out)),
        Command::DeleteBucket { bucket } => {
            with_client(target, |c| ops::delete_bucket(c, &bucket, out))
        }
        Command::Upload {
            local,
            bucket,
            name,
        } => {
            let (source, name) = if local.as_os_str() == "-" {
                let Some(name) = name else {
                    usage_error(
                        "upload",
                        "NAME is required when LOCAL is `-` (standard input)",
                    );
                };
                (cli::Source::stdin()?, name)
            } else {
                // The name first: a bad one is a usage error, found before
                // the file is opened.
                let name = match name {
                    Some(name) => name,
                    // `<(command)` is `/dev/fd/63`: "63" is no name.
                    None if cli::is_stream(&local) => usage_error(
                        "upload",
                        "NAME is required when LOCAL is a pipe or a socket \
                         (a FIFO, `<(command)`)",
                    ),
                    None => cli::default_name(&local)?,
                };
                (cli::Source::open(&local)?, name)
            };
            with_client(target, |c| ops::upload(c, &bucket, &name, source, out))
        }
        Command::ListFiles { bucket } => {
            with_client(target, |c| ops::list_files(c, bucket.as_ref(), out))
        }
        Command::Download {
            bucket,
            name,
            local,
            no_clobber,
        } => {
            let dest = cli::Destination::new(local.as_deref(), &name);
            // A destination that cannot be used fails before the network
            // is touched, as a usage error or a local file's error.
            ops::check_destination(&dest, no_clobber)?;
            with_client(target, |c| {
                ops::download(c, &bucket, &name, &dest, no_clobber, out)
            })
        }
        Command::DeleteFile { bucket, name } => {
            with_client(target, |c| ops::delete_file(c, &bucket, &name, out))
        }
    }
}
