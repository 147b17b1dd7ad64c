//! # bucket-proto
//!
//! A sans-IO implementation of BKT/1, the bucket file-transfer protocol
//! (`docs/protocol.md`): bytes in, events out, bytes to send out. No sockets,
//! files, threads or clocks: a program attaches it to whatever I/O it has.
//!
//! | module | what it holds |
//! | --- | --- |
//! | [`names`] | [`BucketName`], [`FileName`]: validated, path-safe names |
//! | [`codes`] | [`ReplyCode`] (the code table), [`Reason`] (failure tokens) |
//! | [`request`] | [`Verb`] (with aliases), [`Field`], [`Request`] |
//! | [`reply`] | [`Reply`], [`FileEntry`] |
//! | [`decode`] | one-shot decoders: [`decode::request`], [`decode::reply`] |
//! | [`encode`] | encoders into a caller's buffer |
//! | [`server`] | [`ServerSession`]: the server's connection state machine |
//! | [`client`] | [`ClientSession`]: the client's connection state machine |
//! | [`help`] | the help text a server sends for `HELP` |
//! | [`error`] | one error enum per concern |
//!
//! The grammar (nom) and the line framing sit behind these in crate-private
//! modules `parse` and `framing`; `scan` is a hand-written fast path for
//! the common shape of a request line, checked against the grammar by a
//! differential proptest and a fuzz target (the grammar decides every other
//! line, and every error).
//!
//! On sockets, see the examples: `examples/std_server.rs` (a whole server
//! in memory, one thread per connection) and `examples/std_client.rs` (a
//! pipelined client session), both on std's blocking `TcpStream`, and
//! `examples/tokio_server.rs` (one task per connection) and
//! `examples/tokio_client.rs` (reading replies while it writes), which run
//! the same I/O-free answers and script (`examples/shared/`) on tokio.
//!
//! ## A whole exchange, in memory
//! ```
//! use bucket_proto::*;
//!
//! let mut client = ClientSession::new();
//! let mut server = ServerSession::default();
//! let bucket = BucketName::new("photos").unwrap();
//! let name = FileName::new("cat.png").unwrap();
//! client.send_request(&Request::Upload { bucket, name, size: 5 }).unwrap();
//! client.send_payload(b"hello").unwrap();
//!
//! let mut wire = Vec::new();
//! client.poll_transmit(&mut wire);
//! server.receive(&wire);
//! let mut stored = Vec::new();
//! loop {
//!     match server.poll_event() {
//!         Some(ServerEvent::RequestReceived(Request::Upload { size, .. })) => assert_eq!(size, 5),
//!         Some(ServerEvent::PayloadData(data)) => stored.extend_from_slice(data),
//!         Some(ServerEvent::PayloadEnd) => break,
//!         other => panic!("unexpected {other:?}"),
//!     }
//! }
//! server.send_reply(&Reply::success(Verb::Upload).unwrap()).unwrap();
//! assert_eq!(stored, b"hello");
//!
//! wire.clear();
//! server.poll_transmit(&mut wire);
//! client.receive(&wire);
//! match client.poll_event().unwrap() {
//!     Some(ClientEvent::Reply { request, reply }) => {
//!         assert_eq!(request, Some(Verb::Upload));
//!         assert_eq!(reply.code(), ReplyCode::FileUploaded);
//!     }
//!     other => panic!("unexpected {other:?}"),
//! }
//! ```
//!
//! ## What may change in a minor release
//! The error enums ([`RequestError`], [`ReplyError`], [`EncodeError`],
//! [`SendError`], [`ClientError`], [`NameError`]) are `#[non_exhaustive]`: a
//! new way to fail is not a breaking change, so match them with a `_` arm.
//! So are [`ServerState`] (a session may gain a state) and the one error
//! struct, [`DirectReceiveError`] (it may gain a field; read its fields,
//! the crate alone builds it).
//! The enums that spell the protocol ([`Request`], [`Reply`], [`Verb`],
//! [`Field`], [`ReplyCode`], [`ReplyShape`], [`Reason`]), the events
//! ([`ServerEvent`], [`ClientEvent`]) and [`Decoded`] (a message, or not
//! yet) are exhaustive on purpose: a new variant is a breaking change, so
//! that a `match` that answers every request or handles every event goes
//! on doing so, or stops compiling.
#![deny(missing_docs)]

mod buffer;
pub mod client;
pub mod codes;
pub mod decode;
pub mod encode;
pub mod error;
mod framing;
pub mod help;
pub mod names;
mod parse;
pub mod reply;
pub mod request;
mod resync;
mod scan;
pub mod server;

pub use client::{ClientConfig, ClientEvent, ClientSession};
pub use codes::{Reason, ReplyCode, ReplyShape, UnknownToken};
pub use decode::Decoded;
pub use error::{
    ClientError, DirectReceiveError, EncodeError, ReplyError, RequestError, SendError,
};
pub use framing::{MAX_LINE_LEN, MAX_REPLY_LINE_LEN};
pub use names::{BucketName, FileName, NameError};
pub use reply::{FileEntry, PROTOCOL_VERSION, Reply};
pub use request::{Field, Request, Verb};
pub use server::{RejectedRequest, ServerConfig, ServerEvent, ServerSession, ServerState};

/// The examples of README.md, compiled and run as doctests so that the
/// crate's front page stays true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
