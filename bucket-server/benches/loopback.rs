//! Loopback benchmarks of the server (`cargo bench -p bucket-server`): a
//! [`Server`] on 127.0.0.1 port 0 and a client on std `TcpStream`s
//! (`TCP_NODELAY`) speaking pre-encoded requests and reading replies with
//! [`bucket_proto::decode::reply`]. Client and server share the machine's
//! cores, as they do in any loopback figure.
//!
//! | group | what | throughput |
//! | --- | --- | --- |
//! | `transfer_256MiB` | one 256 MiB upload / download, [`MemStore`] and [`FsStore`] | bytes/s |
//! | `round_trip` | `HELLO`, sent and answered one at a time | requests/s |
//! | `upload_4KiB` | `UPLOAD` + 4 KiB payload, waiting for `700` each time | files/s |
//! | `pipelined_10000` | 10,000 `HELLO` or `LIST_B` written by one thread while another counts the replies | requests/s |
//!
//! [`FsStore`] uploads are `fsync`ed before `700 FUBS` (file and bucket
//! folder), so its upload figures include the disk; its store lives in a
//! temporary folder under `$TMPDIR` (else `/tmp`). Downloads from
//! [`FsStore`] are served from the page cache by `sendfile`. No figure is
//! asserted: they are read off criterion's report.
#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use bucket_proto::{BucketName, Decoded, FileName, ReplyCode, Request, decode, encode};
use bucket_server::{Config, RunningServer, Server};
use bucket_store::{FsStore, MemStore, Store};
use criterion::{
    BenchmarkGroup, Criterion, SamplingMode, Throughput, criterion_group, criterion_main,
    measurement::WallTime,
};

/// Size of the large transfers.
const BIG: usize = 256 * 1024 * 1024;
/// Size of the small uploads.
const SMALL: usize = 4 * 1024;
/// Requests per pipelined batch.
const BATCH: usize = 10_000;
/// Client socket buffer.
const BUF: usize = 256 * 1024;

fn start<S: Store>(store: S) -> RunningServer {
    let config = Config {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        shutdown_grace: Duration::from_secs(1),
        ..Config::default()
    };
    Server::bind(config, store).unwrap().spawn()
}

/// A server, its store's temporary folder if any, and its label.
struct Fixture {
    label: &'static str,
    server: RunningServer,
    _dir: Option<tempfile::TempDir>,
}

fn fixtures() -> Vec<Fixture> {
    let dir = tempfile::tempdir().unwrap();
    eprintln!("FsStore root for the benchmarks: {}", dir.path().display());
    let fs = FsStore::open(dir.path().join("root")).unwrap();
    vec![
        Fixture {
            label: "mem",
            server: start(MemStore::new()),
            _dir: None,
        },
        Fixture {
            label: "fs",
            server: start(fs),
            _dir: Some(dir),
        },
    ]
}

/// The client side of one connection.
struct Peer {
    stream: TcpStream,
    buf: Vec<u8>,
    /// `buf[start..end]` is received and not yet consumed.
    start: usize,
    end: usize,
}

impl Peer {
    fn connect(addr: SocketAddr) -> Peer {
        let stream = TcpStream::connect(addr).unwrap();
        stream.set_nodelay(true).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        Peer {
            stream,
            buf: vec![0; BUF],
            start: 0,
            end: 0,
        }
    }

    fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap();
    }

    /// One read into the buffer, after the unconsumed bytes.
    fn fill(&mut self) {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.end == self.buf.len() {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
            if self.end == self.buf.len() {
                self.buf.resize(self.buf.len() * 2, 0);
            }
        }
        let n = self.stream.read(&mut self.buf[self.end..]).unwrap();
        assert!(n > 0, "server closed the connection");
        self.end += n;
    }

    /// The next reply's code and, for `900 FDBS`, its payload size.
    fn reply(&mut self) -> (ReplyCode, Option<u64>) {
        loop {
            match decode::reply(&self.buf[self.start..self.end]).unwrap() {
                Decoded::Complete { value, consumed } => {
                    let got = (value.code(), value.payload_len());
                    self.start += consumed;
                    return got;
                }
                Decoded::Incomplete => self.fill(),
            }
        }
    }

    /// Reads and drops `n` payload bytes.
    fn skip(&mut self, n: u64) {
        let buffered = (self.end - self.start).min(usize::try_from(n).unwrap_or(usize::MAX));
        self.start += buffered;
        let mut left = n - buffered as u64;
        while left > 0 {
            let want = self
                .buf
                .len()
                .min(usize::try_from(left).unwrap_or(usize::MAX));
            let got = self.stream.read(&mut self.buf[..want]).unwrap();
            assert!(got > 0, "server closed inside a payload");
            left -= got as u64;
        }
    }

    fn expect(&mut self, code: ReplyCode) {
        let (got, _) = self.reply();
        assert_eq!(got, code);
    }
}

fn line(request: &Request<'_>) -> Vec<u8> {
    let mut out = Vec::new();
    encode::request(request, &mut out);
    out
}

fn upload_line(name: &str, size: usize) -> Vec<u8> {
    line(&Request::Upload {
        bucket: BucketName::new("bench").unwrap(),
        name: FileName::new(name).unwrap(),
        size: size as u64,
    })
}

fn download_line(name: &str) -> Vec<u8> {
    line(&Request::Download {
        bucket: BucketName::new("bench").unwrap(),
        name: FileName::new(name).unwrap(),
    })
}

/// Bytes that no layer could compress or deduplicate.
fn payload(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

fn create_bucket(peer: &mut Peer) {
    peer.send(&line(&Request::CreateBucket {
        bucket: BucketName::new("bench").unwrap(),
    }));
    peer.expect(ReplyCode::BucketCreated);
}

fn transfers(c: &mut Criterion) {
    let data = payload(BIG);
    let up = upload_line("big.bin", BIG);
    let down = download_line("big.bin");
    let mut group = c.benchmark_group("transfer_256MiB");
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(6))
        .throughput(Throughput::Bytes(BIG as u64));
    for fixture in fixtures() {
        let mut peer = Peer::connect(fixture.server.local_addr());
        create_bucket(&mut peer);
        group.bench_function(format!("upload/{}", fixture.label), |b| {
            b.iter(|| {
                peer.send(&up);
                peer.send(&data);
                peer.expect(ReplyCode::FileUploaded);
            })
        });
        group.bench_function(format!("download/{}", fixture.label), |b| {
            b.iter(|| {
                peer.send(&down);
                let (code, size) = peer.reply();
                assert_eq!((code, size), (ReplyCode::Download, Some(BIG as u64)));
                peer.skip(BIG as u64);
            })
        });
        drop(peer);
        fixture.server.shutdown();
    }
    group.finish();
}

fn round_trips(c: &mut Criterion) {
    let server = start(MemStore::new());
    let mut peer = Peer::connect(server.local_addr());
    let hello = line(&Request::Hello);
    let mut group = c.benchmark_group("round_trip");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .throughput(Throughput::Elements(1));
    group.bench_function("hello_sequential", |b| {
        b.iter(|| {
            peer.send(&hello);
            peer.expect(ReplyCode::Ok);
        })
    });
    group.finish();
    drop(peer);
    server.shutdown();
}

fn small_uploads(c: &mut Criterion) {
    // Line and payload in one write, as a client that batches them sends.
    let mut request = upload_line("small.bin", SMALL);
    request.extend_from_slice(&payload(SMALL));
    let mut group = c.benchmark_group("upload_4KiB");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .throughput(Throughput::Elements(1));
    for fixture in fixtures() {
        let mut peer = Peer::connect(fixture.server.local_addr());
        create_bucket(&mut peer);
        group.bench_function(format!("sequential/{}", fixture.label), |b| {
            b.iter(|| {
                peer.send(&request);
                peer.expect(ReplyCode::FileUploaded);
            })
        });
        drop(peer);
        fixture.server.shutdown();
    }
    group.finish();
}

/// Writes `batch` from a second thread while this one counts reply lines
/// until `lines` have arrived.
fn pipelined(peer: &mut Peer, writer: &mut TcpStream, batch: &[u8], lines: usize) {
    assert_eq!(peer.start, peer.end, "stray reply bytes");
    std::thread::scope(|s| {
        s.spawn(|| writer.write_all(batch).unwrap());
        let mut seen = 0;
        while seen < lines {
            let n = peer.stream.read(&mut peer.buf).unwrap();
            assert!(n > 0, "server closed the connection");
            seen += peer.buf[..n].iter().filter(|&&b| b == b'\n').count();
        }
        assert_eq!(seen, lines);
    });
}

fn bench_pipelined(
    group: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    addr: SocketAddr,
    request: &Request<'_>,
    lines_per_reply: usize,
) {
    let mut peer = Peer::connect(addr);
    let mut writer = peer.stream.try_clone().unwrap();
    let batch = line(request).repeat(BATCH);
    group.bench_function(name, |b| {
        b.iter(|| pipelined(&mut peer, &mut writer, &batch, BATCH * lines_per_reply))
    });
}

fn pipelined_requests(c: &mut Criterion) {
    // Three buckets, so LIST_B answers `400 LS 3` and three lines.
    let store = MemStore::new();
    for b in ["backups", "logs-2024-06", "photos"] {
        store.create_bucket(&BucketName::new(b).unwrap()).unwrap();
    }
    let server = start(store);
    let mut group = c.benchmark_group("pipelined_10000");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .throughput(Throughput::Elements(BATCH as u64));
    bench_pipelined(&mut group, "hello", server.local_addr(), &Request::Hello, 1);
    bench_pipelined(
        &mut group,
        "list_b",
        server.local_addr(),
        &Request::ListBuckets,
        4,
    );
    group.finish();
    server.shutdown();
}

criterion_group!(
    benches,
    transfers,
    round_trips,
    small_uploads,
    pipelined_requests
);
criterion_main!(benches);
