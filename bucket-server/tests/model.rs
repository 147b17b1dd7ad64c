//! Model-based test of the whole server: random scripts of requests, encoded
//! with `bucket_proto::encode`, pipelined over one TCP connection in random
//! chunks, against a server over [`FsStore`] and one over [`MemStore`]. Both
//! must answer alike, as a plain `BTreeMap` model of PROTOCOL.md predicts,
//! and the filesystem root must end up holding exactly the model's buckets
//! and files, with no staged upload left behind.
#![allow(clippy::unwrap_used)]

mod common;

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::path::Path;
use std::time::Duration;

use bucket_proto::{BucketName, Decoded, FileEntry, FileName, Reason, Reply, Request, Verb};
use bucket_store::{FsStore, MemStore};
use common::{config, start, start_fs};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::TestCaseError;

/// The bucket name space: byte order is `C-1`, `a`, `b`.
const BUCKETS: [&str; 3] = ["a", "b", "C-1"];
/// The file name space: a bare name, one that must be quoted, and one with
/// non-ASCII, a quote to escape and a comma (a separator when bare).
const FILES: [&str; 3] = ["x", "two words", "ü\"q\",r.txt"];
/// FsStore stages uploads of at least this many bytes with direct I/O.
const MIB: usize = 1 << 20;
/// How long one side of a connection waits for the other before the case
/// fails (instead of hanging the test).
const IO_TIMEOUT: Duration = Duration::from_secs(20);

/// One request of a script, over indices into [`BUCKETS`] and [`FILES`].
#[derive(Debug, Clone)]
enum Op {
    Hello,
    CreateBucket(usize),
    DeleteBucket(usize),
    ListBuckets,
    ListFiles(Option<usize>),
    /// `len` bytes made by [`payload`] from `seed`.
    Upload {
        bucket: usize,
        file: usize,
        len: usize,
        seed: u64,
    },
    Download(usize, usize),
    DeleteFile(usize, usize),
}

/// A test case: the requests, where to cut the bytes into writes, and
/// whether the script ends with `QUIT` (else the client half-closes).
#[derive(Debug, Clone)]
struct Script {
    ops: Vec<Op>,
    cuts: Vec<Index>,
    quit: bool,
}

/// One operation, small uploads only (0..=5000 bytes, often empty or tiny).
fn op() -> impl Strategy<Value = Op> {
    let b = 0..BUCKETS.len();
    let f = 0..FILES.len();
    let len = prop_oneof![1 => Just(0), 1 => 1..=16_usize, 6 => 0..=5000_usize];
    prop_oneof![
        1 => Just(Op::Hello),
        4 => b.clone().prop_map(Op::CreateBucket),
        2 => b.clone().prop_map(Op::DeleteBucket),
        1 => Just(Op::ListBuckets),
        2 => prop::option::of(b.clone()).prop_map(Op::ListFiles),
        6 => (b.clone(), f.clone(), len, any::<u64>())
            .prop_map(|(bucket, file, len, seed)| Op::Upload { bucket, file, len, seed }),
        3 => (b.clone(), f.clone()).prop_map(|(b, f)| Op::Download(b, f)),
        2 => (b, f).prop_map(|(b, f)| Op::DeleteFile(b, f)),
    ]
}

/// A script: up to 40 small operations and, in about a third of the cases,
/// one upload of 1 MiB and a few bytes (FsStore's direct-I/O staging path)
/// inserted with a `CREATE_B` before it (so it usually lands) and a
/// `DOWNLOAD` of it after.
fn script() -> impl Strategy<Value = Script> {
    let big = prop::option::weighted(
        0.3,
        (
            any::<Index>(),
            0..BUCKETS.len(),
            0..FILES.len(),
            0..=64_usize,
            any::<u64>(),
        ),
    );
    (
        prop::collection::vec(op(), 1..40),
        big,
        prop::collection::vec(any::<Index>(), 0..24),
        any::<bool>(),
    )
        .prop_map(|(mut ops, big, cuts, quit)| {
            if let Some((at, bucket, file, extra, seed)) = big {
                let at = at.index(ops.len() + 1);
                let big_ops = [
                    Op::CreateBucket(bucket),
                    Op::Upload {
                        bucket,
                        file,
                        len: MIB + extra,
                        seed,
                    },
                    Op::Download(bucket, file),
                ];
                ops.splice(at..at, big_ops);
            }
            Script { ops, cuts, quit }
        })
}

/// `len` pseudo-random bytes from `seed` (splitmix64): cheap even for a
/// 1 MiB payload in a debug build, and the same on every call.
fn payload(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        out.extend_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// The bucket name at index `b` of [`BUCKETS`].
fn bucket(b: usize) -> BucketName<'static> {
    BucketName::new(BUCKETS[b]).unwrap()
}

/// The file name at index `f` of [`FILES`].
fn file(f: usize) -> FileName<'static> {
    FileName::new(FILES[f]).unwrap()
}

/// The request `op` sends.
fn request(op: &Op) -> Request<'static> {
    match *op {
        Op::Hello => Request::Hello,
        Op::CreateBucket(b) => Request::CreateBucket { bucket: bucket(b) },
        Op::DeleteBucket(b) => Request::DeleteBucket { bucket: bucket(b) },
        Op::ListBuckets => Request::ListBuckets,
        Op::ListFiles(b) => Request::ListFiles {
            bucket: b.map(bucket),
        },
        Op::Upload {
            bucket: b,
            file: f,
            len,
            ..
        } => Request::Upload {
            bucket: bucket(b),
            name: file(f),
            size: len as u64,
        },
        Op::Download(b, f) => Request::Download {
            bucket: bucket(b),
            name: file(f),
        },
        Op::DeleteFile(b, f) => Request::DeleteFile {
            bucket: bucket(b),
            name: file(f),
        },
    }
}

/// The whole script as one byte string: every request line, each upload's
/// payload right after its line, and `QUIT` last if the script quits.
fn encode(script: &Script) -> Vec<u8> {
    let mut out = Vec::new();
    for op in &script.ops {
        bucket_proto::encode::request(&request(op), &mut out);
        if let Op::Upload { len, seed, .. } = *op {
            out.extend_from_slice(&payload(seed, len));
        }
    }
    if script.quit {
        bucket_proto::encode::request(&Request::Quit, &mut out);
    }
    out
}

/// `bytes` cut at the points `cuts` pick: the writes the client makes.
fn chunks<'a>(bytes: &'a [u8], cuts: &[Index]) -> Vec<&'a [u8]> {
    let mut points: Vec<usize> = cuts.iter().map(|i| i.index(bytes.len() + 1)).collect();
    points.push(0);
    points.push(bytes.len());
    points.sort_unstable();
    points.dedup();
    points.windows(2).map(|w| &bytes[w[0]..w[1]]).collect()
}

/// One final reply as received, with its download payload (empty for any
/// other reply).
#[derive(Clone, PartialEq, Eq)]
struct Answer {
    reply: Reply<'static>,
    payload: Vec<u8>,
}

impl fmt::Debug for Answer {
    /// The reply in full, the payload (up to 1 MiB) as its length, first
    /// bytes and an FNV-1a hash, so a failure message stays readable.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.reply.payload_len().is_none() && self.payload.is_empty() {
            return write!(f, "{:?}", self.reply);
        }
        let hash = self
            .payload
            .iter()
            .fold(0xcbf2_9ce4_8422_2325_u64, |h, &b| {
                (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
            });
        let head = &self.payload[..self.payload.len().min(8)];
        write!(
            f,
            "{:?} + {} payload bytes (starting {head:02x?}, fnv {hash:016x})",
            self.reply,
            self.payload.len()
        )
    }
}

impl Answer {
    /// A reply without payload.
    fn of(reply: Reply<'static>) -> Answer {
        Answer {
            reply,
            payload: Vec::new(),
        }
    }

    /// The failure reply for `verb` with `reason`, without free text.
    fn failed(verb: Verb, reason: Reason) -> Answer {
        Answer::of(Reply::failure(verb, reason, ""))
    }

    /// The same answer with a failure's free text dropped: text is for
    /// people and the model does not predict it.
    fn without_text(&self) -> Answer {
        let mut out = self.clone();
        if let Reply::Failure { text, .. } = &mut out.reply {
            *text = None;
        }
        out
    }
}

/// Reads final replies (and download payloads) from `stream` until the
/// server closes it; an error describes a malformed or cut-off reply.
fn receive(mut stream: &TcpStream) -> Result<Vec<Answer>, String> {
    let mut answers = Vec::new();
    let mut buf = Vec::new();
    // A `900 FDBS` header whose payload has not fully arrived yet.
    let mut download: Option<Reply<'static>> = None;
    let mut chunk = vec![0; 64 * 1024];
    loop {
        loop {
            if let Some(reply) = download.take() {
                let size = usize::try_from(reply.payload_len().unwrap()).unwrap();
                if buf.len() < size {
                    download = Some(reply);
                    break;
                }
                let payload = buf.drain(..size).collect();
                answers.push(Answer { reply, payload });
                continue;
            }
            match bucket_proto::decode::reply(&buf) {
                Ok(Decoded::Complete { value, consumed }) => {
                    let reply = value.into_owned();
                    buf.drain(..consumed);
                    if reply.payload_len().is_some() {
                        download = Some(reply);
                    } else if !reply.is_final() {
                        return Err(format!(
                            "unexpected prompt {reply} (reply #{})",
                            answers.len()
                        ));
                    } else {
                        answers.push(Answer::of(reply));
                    }
                }
                Ok(Decoded::Incomplete) => break,
                Err(e) => {
                    return Err(format!(
                        "reply #{} does not decode: {e}; bytes {:?}",
                        answers.len(),
                        String::from_utf8_lossy(&buf[..buf.len().min(200)])
                    ));
                }
            }
        }
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) => {
                return Err(format!(
                    "reading reply #{} after {answers:?}: {e}",
                    answers.len()
                ));
            }
        }
    }
    if download.is_some() || !buf.is_empty() {
        return Err(format!(
            "connection closed inside reply #{} ({} bytes left undecoded)",
            answers.len(),
            buf.len()
        ));
    }
    Ok(answers)
}

/// Sends `bytes` to the server at `addr` over one connection, one write per
/// chunk, from a second thread while this one reads (so neither side
/// blocks on a full socket buffer), then half-closes unless the script ends
/// with `QUIT`. Returns every reply until the server closes the connection.
fn exchange(addr: SocketAddr, chunks: &[&[u8]], half_close: bool) -> Result<Vec<Answer>, String> {
    let stream = TcpStream::connect(addr).map_err(|e| format!("connecting: {e}"))?;
    stream.set_nodelay(true).unwrap();
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    let mut writer = stream.try_clone().unwrap();
    std::thread::scope(|s| {
        let sender = s.spawn(move || -> io::Result<()> {
            for chunk in chunks {
                writer.write_all(chunk)?;
            }
            if half_close {
                writer.shutdown(Shutdown::Write)?;
            }
            Ok(())
        });
        let received = receive(&stream);
        if received.is_err() {
            // Unblock the sender, which may wait on a full socket buffer.
            let _ = stream.shutdown(Shutdown::Both);
        }
        let sent = sender.join().expect("the sending thread panicked");
        let answers = received?;
        sent.map_err(|e| format!("sending the script: {e}"))?;
        Ok(answers)
    })
}

/// The buckets, their files and the files' bytes.
type Contents = BTreeMap<String, BTreeMap<String, Vec<u8>>>;

/// PROTOCOL.md and docs/protocol.md semantics, as plainly as possible.
#[derive(Default)]
struct Model(Contents);

impl Model {
    /// Applies `op` and returns the answer the server must give, failures
    /// without free text.
    fn apply(&mut self, op: &Op) -> Answer {
        let buckets = &mut self.0;
        let done = |verb| Answer::of(Reply::success(verb).unwrap());
        match *op {
            Op::Hello => Answer::of(Reply::Hello {
                server: Cow::Owned(config().server_name),
            }),
            Op::CreateBucket(b) => {
                if buckets.contains_key(BUCKETS[b]) {
                    return Answer::failed(Verb::CreateBucket, Reason::Exists);
                }
                buckets.insert(BUCKETS[b].into(), BTreeMap::new());
                done(Verb::CreateBucket)
            }
            Op::DeleteBucket(b) => match buckets.get(BUCKETS[b]) {
                None => Answer::failed(Verb::DeleteBucket, Reason::NoSuchBucket),
                Some(files) if !files.is_empty() => {
                    Answer::failed(Verb::DeleteBucket, Reason::NotEmpty)
                }
                Some(_) => {
                    buckets.remove(BUCKETS[b]);
                    done(Verb::DeleteBucket)
                }
            },
            // docs/protocol.md, decision 10: names in byte order, which is
            // `String`'s order, so a BTreeMap lists them as the server must.
            Op::ListBuckets => Answer::of(Reply::Buckets {
                buckets: buckets
                    .keys()
                    .map(|b| BucketName::new(b.clone()).unwrap())
                    .collect(),
            }),
            Op::ListFiles(b) => {
                let entries = |(b, files): (&String, &BTreeMap<String, Vec<u8>>)| {
                    files
                        .iter()
                        .map(|(name, bytes)| FileEntry {
                            bucket: BucketName::new(b.clone()).unwrap(),
                            name: FileName::new(name.clone()).unwrap(),
                            size: bytes.len() as u64,
                        })
                        .collect::<Vec<_>>()
                };
                let files = match b {
                    None => buckets.iter().flat_map(entries).collect(),
                    Some(b) => match buckets.get_key_value(BUCKETS[b]) {
                        None => return Answer::failed(Verb::ListFiles, Reason::NoSuchBucket),
                        Some(bucket) => entries(bucket),
                    },
                };
                Answer::of(Reply::Files { files })
            }
            Op::Upload {
                bucket: b,
                file: f,
                len,
                seed,
            } => match buckets.get_mut(BUCKETS[b]) {
                None => Answer::failed(Verb::Upload, Reason::NoSuchBucket),
                Some(files) => {
                    files.insert(FILES[f].into(), payload(seed, len));
                    done(Verb::Upload)
                }
            },
            Op::Download(b, f) => match buckets.get(BUCKETS[b]) {
                None => Answer::failed(Verb::Download, Reason::NoSuchBucket),
                Some(files) => match files.get(FILES[f]) {
                    None => Answer::failed(Verb::Download, Reason::NoSuchFile),
                    Some(bytes) => Answer {
                        reply: Reply::Download {
                            size: bytes.len() as u64,
                        },
                        payload: bytes.clone(),
                    },
                },
            },
            Op::DeleteFile(b, f) => match buckets.get_mut(BUCKETS[b]) {
                None => Answer::failed(Verb::DeleteFile, Reason::NoSuchBucket),
                Some(files) => match files.remove(FILES[f]) {
                    None => Answer::failed(Verb::DeleteFile, Reason::NoSuchFile),
                    Some(_) => done(Verb::DeleteFile),
                },
            },
        }
    }
}

/// Checks `actual` against `expected` answer by answer; the error names
/// the first request where they differ, or says how many answers are
/// missing or extra.
fn compare(
    what: &str,
    ops: &[String],
    expected: &[Answer],
    actual: &[Answer],
) -> Result<(), String> {
    for (step, (e, a)) in expected.iter().zip(actual).enumerate() {
        if e != a {
            return Err(format!(
                "{what}: request #{step} `{}`:\n  expected {e:?}\n  got      {a:?}",
                ops[step]
            ));
        }
    }
    if expected.len() != actual.len() {
        let (which, rest) = if actual.len() > expected.len() {
            ("extra", &actual[expected.len()..])
        } else {
            ("missing", &expected[actual.len()..])
        };
        return Err(format!(
            "{what}: {} answers expected, {} received; {which}: {rest:?}",
            expected.len(),
            actual.len(),
        ));
    }
    Ok(())
}

/// Reads back what the FsStore root `root` holds: bucket folders and their
/// files with contents. Anything else (a file left in the staging folder,
/// a `.bkt-` temporary, a stray file or sub-folder) is an error naming it.
fn read_root(root: &Path) -> Result<Contents, String> {
    let mut contents = Contents::new();
    for entry in std::fs::read_dir(root).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().into_string().unwrap();
        let kind = entry.file_type().unwrap();
        if name == FsStore::STAGING_DIR {
            let staged: Vec<_> = std::fs::read_dir(entry.path())
                .unwrap()
                .map(|e| e.unwrap().file_name())
                .collect();
            if !kind.is_dir() || !staged.is_empty() {
                return Err(format!("staging folder left non-empty: {staged:?}"));
            }
            continue;
        }
        if !kind.is_dir() || name.starts_with('.') {
            return Err(format!("unexpected entry {name:?} in the root"));
        }
        let mut files = BTreeMap::new();
        for f in std::fs::read_dir(entry.path()).unwrap() {
            let f = f.unwrap();
            let fname = f.file_name().into_string().unwrap();
            if !f.file_type().unwrap().is_file() || fname.starts_with(".bkt-") {
                return Err(format!("unexpected entry {fname:?} in bucket {name:?}"));
            }
            files.insert(fname, std::fs::read(f.path()).unwrap());
        }
        contents.insert(name, files);
    }
    Ok(contents)
}

/// Checks that the disk holds the model's contents: the same buckets and
/// file names and sizes (shown in full when they differ), then the same
/// bytes file by file.
fn compare_disk(model: &Contents, disk: &Contents) -> Result<(), String> {
    let sizes = |c: &Contents| -> BTreeMap<String, BTreeMap<String, usize>> {
        c.iter()
            .map(|(b, files)| {
                let files = files.iter().map(|(f, bytes)| (f.clone(), bytes.len()));
                (b.clone(), files.collect())
            })
            .collect()
    };
    let (want, have) = (sizes(model), sizes(disk));
    if want != have {
        return Err(format!(
            "FsStore root after the script:\n  model {want:?}\n  disk  {have:?}"
        ));
    }
    for (b, files) in model {
        for (f, bytes) in files {
            let on_disk = &disk[b][f];
            if let Some(at) = bytes.iter().zip(on_disk).position(|(x, y)| x != y) {
                return Err(format!(
                    "{b}/{f} on disk differs from the model at byte {at}"
                ));
            }
        }
    }
    Ok(())
}

proptest! {
    // Shrinking runs whole scripts against fresh servers, some 20 ms each:
    // enough iterations for a short failing script, bounded in time.
    #![proptest_config(ProptestConfig {
        cases: 48,
        max_shrink_iters: 1024,
        ..ProptestConfig::default()
    })]

    #[test]
    fn pipelined_scripts_follow_the_model_on_both_back_ends(script in script()) {
        let dir = tempfile::tempdir().unwrap();
        let fs_server = start_fs(dir.path());
        let mem_server = start(config(), MemStore::new());
        let bytes = encode(&script);
        let chunks = chunks(&bytes, &script.cuts);
        let half_close = !script.quit;
        let fs = exchange(fs_server.local_addr(), &chunks, half_close)
            .map_err(|e| TestCaseError::fail(format!("FsStore server: {e}")))?;
        let mem = exchange(mem_server.local_addr(), &chunks, half_close)
            .map_err(|e| TestCaseError::fail(format!("MemStore server: {e}")))?;
        fs_server.shutdown();
        mem_server.shutdown();

        let mut model = Model::default();
        let mut expected: Vec<Answer> = script.ops.iter().map(|op| model.apply(op)).collect();
        let mut ops: Vec<String> = script.ops.iter().map(|op| request(op).to_string()).collect();
        if script.quit {
            expected.push(Answer::of(Reply::Bye));
            ops.push(Request::Quit.to_string());
        }
        let strip = |answers: &[Answer]| answers.iter().map(Answer::without_text).collect::<Vec<_>>();
        compare("MemStore vs the model", &ops, &expected, &strip(&mem)).map_err(TestCaseError::fail)?;
        compare("FsStore vs the model", &ops, &expected, &strip(&fs)).map_err(TestCaseError::fail)?;
        compare("FsStore vs MemStore", &ops, &mem, &fs).map_err(TestCaseError::fail)?;

        let disk = read_root(dir.path()).map_err(TestCaseError::fail)?;
        compare_disk(&model.0, &disk).map_err(TestCaseError::fail)?;
    }
}
