//! `bkt-transfer`: one timed BKT/1 upload or download, for `bench/compare.sh`.
//!
//! ```text
//! bkt-transfer --server 127.0.0.1:PORT upload FILE BUCKET NAME
//! bkt-transfer --server 127.0.0.1:PORT download BUCKET NAME
//! ```
//!
//! Built on [`bucket_client::Client`] (256 KiB socket buffer, `TCP_NODELAY`).
//! An upload creates `BUCKET` first if it is missing and sends `FILE` with
//! [`Client::upload_file`] (`sendfile(2)` on Linux); a download writes the
//! payload to [`std::io::sink`]. The clock runs from sending the request to
//! receiving its final reply (connecting and creating the bucket are not
//! timed), and one machine-readable line goes to stdout:
//!
//! ```text
//! op=upload bytes=1073741824 seconds=1.234567 mb_per_s=869.89
//! ```
//!
//! `mb_per_s` is in decimal megabytes (10^6 bytes) per second. Errors go to
//! stderr with exit status 1.

use std::fs::File;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use bucket_client::{BucketName, Client, Error, FileName, Reason};
use clap::{Parser, Subcommand};

/// One timed upload or download against a BKT/1 server.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Server address.
    #[arg(long, default_value = "127.0.0.1:4567")]
    server: String,
    #[command(subcommand)]
    op: Op,
}

#[derive(Debug, Subcommand)]
enum Op {
    /// Upload FILE as BUCKET/NAME (BUCKET is created if missing).
    Upload {
        /// Local file to send.
        file: PathBuf,
        /// Destination bucket.
        bucket: String,
        /// Destination file name.
        name: String,
    },
    /// Download BUCKET/NAME and throw the bytes away.
    Download {
        /// Bucket holding the file.
        bucket: String,
        /// File name.
        name: String,
    },
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("bkt-transfer: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<String, Box<dyn std::error::Error>> {
    let mut client = Client::connect(args.server.as_str())?;
    let (op, bytes, seconds) = match &args.op {
        Op::Upload { file, bucket, name } => {
            let bucket = BucketName::new(bucket.as_str())?;
            let name = FileName::new(name.as_str())?;
            let source = File::open(file).map_err(|e| format!("{}: {e}", file.display()))?;
            let len = source.metadata()?.len();
            match client.create_bucket(&bucket) {
                Ok(())
                | Err(Error::Refused {
                    reason: Reason::Exists,
                    ..
                }) => {}
                Err(e) => return Err(e.into()),
            }
            let started = Instant::now();
            client.upload_file(&bucket, &name, &source, len)?;
            ("upload", len, started.elapsed().as_secs_f64())
        }
        Op::Download { bucket, name } => {
            let bucket = BucketName::new(bucket.as_str())?;
            let name = FileName::new(name.as_str())?;
            let started = Instant::now();
            let len = client.download(&bucket, &name, std::io::sink())?;
            ("download", len, started.elapsed().as_secs_f64())
        }
    };
    let _ = client.quit();
    let mb_per_s = if seconds > 0.0 {
        bytes as f64 / seconds / 1e6
    } else {
        0.0
    };
    Ok(format!(
        "op={op} bytes={bytes} seconds={seconds:.6} mb_per_s={mb_per_s:.2}"
    ))
}
