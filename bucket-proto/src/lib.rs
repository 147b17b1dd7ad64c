//! # bucket-proto
//!
//! A sans-IO implementation of BKT/1, the bucket file-transfer protocol.
#![deny(missing_docs)]

pub mod codes;
pub mod names;
pub mod request;

pub use codes::{Reason, ReplyCode, ReplyShape};
pub use names::{BucketName, FileName, NameError};
pub use request::{Field, Request, Verb};
