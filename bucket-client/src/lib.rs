//! # bucket-client
//!
//! A blocking client for BKT/1, the bucket file-transfer protocol
//! (PROTOCOL.md, `docs/protocol.md`), built on the sans-IO
//! [`bucket_proto::ClientSession`] over a [`std::net::TcpStream`].
//!
//! [`Client`] has one method per protocol operation. Uploads and downloads
//! stream through a 256 KiB buffer ([`BUFFER_SIZE`]) and can report their
//! [`Progress`]; [`Client::upload_file`] sends a file over 64 KiB by
//! `sendfile(2)` on Linux, without copying it through the process, and a
//! smaller one in the same write as its request line. Every failure is one
//! [`Error`]; a failure reply from the server is [`Error::Refused`], which
//! displays like the reply itself (`701 FUBF NO_SUCH_BUCKET: no such
//! bucket`). A list larger than [`Client::set_max_list_size`] allows
//! ([`DEFAULT_MAX_LIST_SIZE`], 256 MiB) is [`Error::ListTooLarge`], so a
//! broken server cannot make the client hold unbounded memory.
//!
//! ```no_run
//! use bucket_client::{BucketName, Client, Error, FileName, Reason};
//!
//! let mut client = Client::connect("127.0.0.1:4567")?;
//! println!("server: {}", client.hello()?);
//! let bucket = BucketName::new("photos")?;
//! match client.create_bucket(&bucket) {
//!     Ok(()) => {}
//!     Err(Error::Refused { reason: Reason::Exists, .. }) => {}
//!     Err(other) => return Err(other),
//! }
//! let file = std::fs::File::open("cat.png").map_err(Error::Local)?;
//! let len = file.metadata().map_err(Error::Local)?.len();
//! client.upload_file(&bucket, &FileName::new("cat.png")?, &file, len)?;
//! for entry in client.list_files(Some(&bucket))? {
//!     println!("{} {} {}", entry.bucket, entry.name, entry.size);
//! }
//! client.quit()?;
//! # Ok::<(), Error>(())
//! ```
//!
//! The crate also builds the `bucket-client` command-line tool: an
//! interactive shell (`c> `) and one subcommand per operation for scripts.
//! Its dependencies (clap, rustyline, indicatif, tracing-subscriber, …) come
//! with the default `cli` feature; a program that only uses [`Client`]
//! depends on this crate with `default-features = false` and builds none of
//! them.

mod client;
mod error;

#[doc(hidden)]
pub use client::ignored_signals;
pub use client::{BUFFER_SIZE, Client, DEFAULT_MAX_LIST_SIZE, Interrupter, Progress};
pub use error::{Error, Result};

/// The protocol types this crate's API uses, re-exported so callers need not
/// depend on `bucket-proto` themselves.
pub use bucket_proto::{
    BucketName, ClientError, FileEntry, FileName, NameError, PROTOCOL_VERSION, Reason, ReplyCode,
    ReplyError, SendError, Verb,
};

/// The examples of README.md, compiled and run as doctests so that the
/// crate's front page stays true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
