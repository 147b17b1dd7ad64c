//! `bkt-rtt`: sequential round trips of one request line, for
//! `bench/round_trips.sh`.
//!
//! ```text
//! bkt-rtt --server 127.0.0.1:PORT [--count 20000] [--warm-up 1000] [--line HELLO] [--busy-poll]
//! ```
//!
//! Connects once (`TCP_NODELAY`), then sends `LINE` + LF and waits for one
//! whole reply line (up to its LF) before sending the next: one request in
//! flight, as an interactive client works. It speaks no more of BKT/1 than
//! that, so the same client times `bucket-server` (`HELLO` gets one `100`
//! line) and the seed's Python echo server (`bench/seed_server.py` sends
//! the line back), and the two figures differ only by the server.
//!
//! `--warm-up` round trips are made first and not timed. Then one
//! machine-readable line goes to stdout, times in microseconds:
//!
//! ```text
//! round_trips=20000 seconds=1.234567 per_s=16200 mean_us=61.73 p50_us=60.10 p99_us=95.30
//! ```
//!
//! `--busy-poll` makes the client poll its socket without ever sleeping
//! (non-blocking reads in a loop): a diagnostic that shows how much of a
//! round trip is the kernel waking a sleeping thread on an idle CPU. It
//! keeps one core fully busy.
//!
//! Errors (connecting, a closed connection, a reply line over 64 KiB, more
//! than one line per request) go to stderr with exit status 1.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;

/// Times sequential request/reply round trips of one line.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Server address.
    #[arg(long, default_value = "127.0.0.1:4567")]
    server: String,
    /// Timed round trips.
    #[arg(long, default_value_t = 20_000)]
    count: usize,
    /// Untimed round trips made first.
    #[arg(long, default_value_t = 1_000)]
    warm_up: usize,
    /// The request line, sent with an LF after it.
    #[arg(long, default_value = "HELLO")]
    line: String,
    /// Poll the socket instead of sleeping in `read` (burns a core).
    #[arg(long)]
    busy_poll: bool,
}

/// Longest reply line accepted, in bytes.
const MAX_REPLY: usize = 64 << 10;

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("bkt-rtt: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<String, Box<dyn std::error::Error>> {
    if args.count == 0 {
        return Err("--count must be at least 1".into());
    }
    let mut peer = Peer::connect(&args.server, args.busy_poll)?;
    let request = format!("{}\n", args.line).into_bytes();
    for _ in 0..args.warm_up {
        peer.round_trip(&request)?;
    }
    let mut times = Vec::with_capacity(args.count);
    let started = Instant::now();
    for _ in 0..args.count {
        let t = Instant::now();
        peer.round_trip(&request)?;
        times.push(t.elapsed());
    }
    let total = started.elapsed();
    Ok(summary(&mut times, total))
}

/// The output line for `times` (one per round trip; sorted here) taking
/// `total` in all.
fn summary(times: &mut [Duration], total: Duration) -> String {
    times.sort_unstable();
    let n = times.len();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    let percentile = |p: usize| times[(n * p / 100).min(n - 1)];
    let seconds = total.as_secs_f64();
    format!(
        "round_trips={n} seconds={seconds:.6} per_s={:.0} mean_us={:.2} p50_us={:.2} p99_us={:.2}",
        n as f64 / seconds,
        us(total) / n as f64,
        us(percentile(50)),
        us(percentile(99)),
    )
}

/// One connection, with the reply bytes read so far.
struct Peer {
    stream: TcpStream,
    busy_poll: bool,
    buf: Vec<u8>,
}

impl Peer {
    fn connect(addr: &str, busy_poll: bool) -> std::io::Result<Peer> {
        let stream = TcpStream::connect(addr)?;
        stream.set_nodelay(true)?;
        stream.set_nonblocking(busy_poll)?;
        Ok(Peer {
            stream,
            busy_poll,
            buf: vec![0; MAX_REPLY],
        })
    }

    /// Sends `request` and reads one reply line; more than one line (or
    /// bytes after it) is an error, since one request gets one line here.
    fn round_trip(&mut self, request: &[u8]) -> Result<(), String> {
        self.send(request).map_err(|e| format!("sending: {e}"))?;
        let mut got = 0;
        loop {
            let n = match self.stream.read(&mut self.buf[got..]) {
                Ok(0) => return Err("the server closed the connection".into()),
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    std::hint::spin_loop();
                    continue;
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(format!("reading: {e}")),
            };
            got += n;
            match self.buf[..got].iter().position(|&b| b == b'\n') {
                Some(end) if end + 1 == got => return Ok(()),
                Some(_) => {
                    let text = String::from_utf8_lossy(&self.buf[..got]);
                    return Err(format!("more than one reply line: {text:?}"));
                }
                None if got == self.buf.len() => {
                    return Err(format!("no LF in the first {MAX_REPLY} bytes"));
                }
                None => {}
            }
        }
    }

    /// Writes all of `bytes`, polling when the socket is non-blocking.
    fn send(&mut self, mut bytes: &[u8]) -> std::io::Result<()> {
        while !bytes.is_empty() {
            match self.stream.write(bytes) {
                Ok(0) => return Err(ErrorKind::WriteZero.into()),
                Ok(n) => bytes = &bytes[n..],
                Err(e) if e.kind() == ErrorKind::WouldBlock && self.busy_poll => {
                    std::hint::spin_loop();
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}
