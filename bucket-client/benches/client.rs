//! Benchmarks of the client library (`cargo bench -p bucket-client`): a
//! [`Client`] against a `bucket-server` [`Server`] over a [`MemStore`] on
//! 127.0.0.1 port 0, so that the figures are the client's and the network
//! stack's, not a disk's. Each group that measures a round trip also runs it
//! over a bare `TcpStream` (`raw_*`, pre-encoded request, reply line read
//! by hand) in the same run: the difference is what the library adds.
//!
//! | group | what | throughput |
//! | --- | --- | --- |
//! | `client_round_trip` | `HELLO` and `LIST_B` (3 buckets), one at a time: [`Client::hello`], [`Client::list_buckets`], and `HELLO` over a bare socket | requests/s |
//! | `client_small_file` | one 4 KiB file: [`Client::upload`] from memory, [`Client::upload_file`] from a file, [`Client::download`] into a `Vec`, and the same upload over a bare socket (line and payload in one write) | files/s |
//! | `client_transfer_64MiB` | one 64 MiB file: [`Client::upload`] from memory (through the 256 KiB buffer), [`Client::upload_file`] from a file (`sendfile` on Linux), [`Client::download`] into `io::sink()` | bytes/s |
//!
//! `upload_file`'s file lives in a temporary folder under `$TMPDIR` (else
//! `/tmp`) and is read from the page cache after the first round. No figure
//! is asserted: they are read off criterion's report.
#![allow(clippy::unwrap_used)]

use std::io::{self, BufRead, BufReader, Seek, SeekFrom, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use bucket_client::{BucketName, Client, FileName};
use bucket_server::{Config, RunningServer, Server};
use bucket_store::{MemStore, Store};
use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, Throughput, criterion_group, criterion_main};

/// Size of the small files.
const SMALL: usize = 4 * 1024;
/// Size of the large transfers.
const BIG: usize = 64 * 1024 * 1024;

/// A server over a store holding the buckets `backups`, `logs` and
/// `photos`, the last one with `small.bin` and `big.bin` of [`SMALL`] and
/// [`BIG`] bytes.
fn start() -> RunningServer {
    let store = MemStore::new();
    for b in ["backups", "logs", "photos"] {
        store.create_bucket(&bucket(b)).unwrap();
    }
    let config = Config {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        shutdown_grace: Duration::from_secs(1),
        ..Config::default()
    };
    let server = Server::bind(config, store).unwrap().spawn();
    let mut client = connect(&server);
    for (name, len) in [("small.bin", SMALL), ("big.bin", BIG)] {
        let data = payload(len);
        client
            .upload(&bucket("photos"), &file(name), &data[..], len as u64)
            .unwrap();
    }
    client.quit().unwrap();
    server
}

fn connect(server: &RunningServer) -> Client {
    Client::connect_timeout(server.local_addr(), Duration::from_secs(60)).unwrap()
}

fn bucket(name: &str) -> BucketName<'static> {
    BucketName::new(name.to_owned()).unwrap()
}

fn file(name: &str) -> FileName<'static> {
    FileName::new(name.to_owned()).unwrap()
}

/// `len` bytes of payload. Their values do not matter: nothing between
/// the client and a [`MemStore`] (or the page cache behind `upload_file`'s
/// source) compresses or deduplicates.
fn payload(len: usize) -> Vec<u8> {
    vec![0xA5; len]
}

/// The baseline: one connection on a bare socket (`TCP_NODELAY`, as
/// [`Client`] sets it) that writes pre-encoded bytes and reads one reply
/// line back.
struct Raw {
    writer: TcpStream,
    reader: BufReader<TcpStream>,
    line: String,
}

impl Raw {
    fn connect(server: &RunningServer) -> Raw {
        let writer = TcpStream::connect(server.local_addr()).unwrap();
        writer.set_nodelay(true).unwrap();
        let reader = BufReader::new(writer.try_clone().unwrap());
        Raw {
            writer,
            reader,
            line: String::new(),
        }
    }

    /// Sends `request` and checks that the reply line starts with `code`.
    fn round_trip(&mut self, request: &[u8], code: &str) {
        self.writer.write_all(request).unwrap();
        self.line.clear();
        self.reader.read_line(&mut self.line).unwrap();
        assert!(self.line.starts_with(code), "{:?}", self.line);
    }
}

/// A group whose figures are operations per second (one per iteration),
/// timed over 4 s after a 1 s warm-up: the round-trip and small-file groups.
fn per_operation<'c>(c: &'c mut Criterion, name: &str) -> BenchmarkGroup<'c, WallTime> {
    let mut group = c.benchmark_group(name);
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .throughput(Throughput::Elements(1));
    group
}

fn round_trips(c: &mut Criterion, server: &RunningServer) {
    let mut client = connect(server);
    let mut raw = Raw::connect(server);
    let mut group = per_operation(c, "client_round_trip");
    group.bench_function("raw_hello", |b| {
        b.iter(|| raw.round_trip(b"HELLO\n", "100 "))
    });
    group.bench_function("hello", |b| b.iter(|| client.hello().unwrap()));
    group.bench_function("list_buckets", |b| {
        b.iter(|| assert_eq!(client.list_buckets().unwrap().len(), 3))
    });
    group.finish();
}

fn small_files(c: &mut Criterion, server: &RunningServer) {
    let mut client = connect(server);
    let mut raw = Raw::connect(server);
    let data = payload(SMALL);
    let mut raw_upload = format!("UPLOAD photos up.bin {SMALL}\n").into_bytes();
    raw_upload.extend_from_slice(&data);
    let mut into = Vec::with_capacity(SMALL);
    let (photos, small) = (bucket("photos"), file("small.bin"));
    let mut group = per_operation(c, "client_small_file");
    group.bench_function("raw_upload", |b| {
        b.iter(|| raw.round_trip(&raw_upload, "700 "))
    });
    uploads(&mut group, &mut client, &data, "up.bin");
    group.bench_function("download", |b| {
        b.iter(|| {
            into.clear();
            assert_eq!(
                client.download(&photos, &small, &mut into).unwrap(),
                SMALL as u64
            );
        })
    });
    group.finish();
}

/// Adds two benches to `group`, each uploading `data` into `photos/<name>`:
/// `upload`, from memory through the client's chunk buffer, and
/// `upload_file`, from a copy of `data` in a temporary file.
fn uploads(group: &mut BenchmarkGroup<'_, WallTime>, client: &mut Client, data: &[u8], name: &str) {
    let (photos, name, len) = (bucket("photos"), file(name), data.len() as u64);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("source.bin");
    std::fs::write(&path, data).unwrap();
    let source = std::fs::File::open(&path).unwrap();
    group.bench_function("upload", |b| {
        b.iter(|| client.upload(&photos, &name, data, len).unwrap())
    });
    group.bench_function("upload_file", |b| {
        b.iter(|| {
            // `upload_file` sends from the file's position and moves it on.
            (&source).seek(SeekFrom::Start(0)).unwrap();
            client.upload_file(&photos, &name, &source, len).unwrap()
        })
    });
}

fn transfers(c: &mut Criterion, server: &RunningServer) {
    let mut client = connect(server);
    let data = payload(BIG);
    let (photos, big) = (bucket("photos"), file("big.bin"));
    let mut group = c.benchmark_group("client_transfer_64MiB");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(6))
        .throughput(Throughput::Bytes(BIG as u64));
    uploads(&mut group, &mut client, &data, "up-big.bin");
    group.bench_function("download", |b| {
        b.iter(|| {
            let got = client.download(&photos, &big, io::sink()).unwrap();
            assert_eq!(got, BIG as u64);
        })
    });
    group.finish();
}

fn benches(c: &mut Criterion) {
    let server = start();
    round_trips(c, &server);
    small_files(c, &server);
    transfers(c, &server);
    server.shutdown();
}

criterion_group!(client, benches);
criterion_main!(client);
