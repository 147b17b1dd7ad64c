//! Allocation counts on the hot paths, with a counting global allocator.
//!
//! - [`decode::request`] allocates nothing for any line of a realistic mix
//!   (every verb, aliases, bare arguments, CRLF, comma separators). Quoted
//!   arguments with escapes are left out: their unescaped text is owned by
//!   design.
//! - A warm [`ServerSession`] (its buffers grown by a first batch) takes a
//!   batch of pipelined, non-dialogue requests (uploads with their payload
//!   included) through `receive` + `poll_event` without allocating, and
//!   encodes prepared replies through `send_reply` + `poll_transmit` without
//!   allocating either.
//! - Refusals and dialogues do allocate (the refusal's text is formatted into
//!   a `String`, dialogue answers are kept as owned `String`s); that is not a
//!   hot path, and `allocations_off_the_hot_path` only prints the counts.
//!
//! Counting is per thread (a thread-local switch) and measured sections are
//! serialised, so the test harness's other threads do not disturb it. Set
//! `NO_ALLOC_TRACE=1` to print a backtrace of each counted allocation.
#![allow(unsafe_code)]
#![allow(clippy::unwrap_used)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::borrow::Cow;
use std::cell::Cell;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use bucket_proto::{
    BucketName, Decoded, FileEntry, FileName, Reply, Request, ServerEvent, ServerSession, Verb,
    decode, help,
};

/// The system allocator, counting allocation calls (`alloc`, `alloc_zeroed`,
/// `realloc`) made by a thread while its switch is on.
struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

/// `NO_ALLOC_TRACE` is set: print a backtrace of each counted allocation.
/// Read before counting starts (reading the environment allocates).
static TRACE: AtomicBool = AtomicBool::new(false);

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn note(layout: Layout) {
    let on = COUNTING.try_with(|c| c.get()).unwrap_or(false);
    if !on {
        return;
    }
    ALLOCATIONS.fetch_add(1, Ordering::SeqCst);
    if TRACE.load(Ordering::Relaxed) {
        // The trace allocates: switch counting off while it is taken.
        COUNTING.with(|c| c.set(false));
        let trace = std::backtrace::Backtrace::force_capture();
        eprintln!("allocation of {} bytes at:\n{trace}", layout.size());
        COUNTING.with(|c| c.set(true));
    }
}

// SAFETY: every call is forwarded unchanged to `System`; counting touches only
// an atomic and a const-initialised thread-local `Cell`, which never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout);
        // SAFETY: the caller's contract is passed on as is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout);
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(layout);
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
}

/// One measured section at a time, whatever the harness's threads do.
static MEASURING: Mutex<()> = Mutex::new(());

/// Runs `f` with counting on for this thread; returns its result and the
/// number of allocation calls it made.
fn count<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let _guard = MEASURING.lock().unwrap_or_else(|p| p.into_inner());
    TRACE.store(
        std::env::var_os("NO_ALLOC_TRACE").is_some(),
        Ordering::Relaxed,
    );
    let before = ALLOCATIONS.load(Ordering::SeqCst);
    COUNTING.with(|c| c.set(true));
    let value = f();
    COUNTING.with(|c| c.set(false));
    (value, ALLOCATIONS.load(Ordering::SeqCst) - before)
}

/// The request mix of `benches/proto.rs`: every verb, bare arguments.
const REQUEST_MIX: &[&str] = &[
    "HELLO\n",
    "LIST_B\n",
    "LIST_F photos\n",
    "UPLOAD photos IMG_20240611_181503.jpg 4718592\n",
    "UPLOAD photos IMG_20240611_181544.jpg 5033164\n",
    "DOWNLOAD photos IMG_20240611_181503.jpg\n",
    "DOWNLOAD backups db-2024-06-11.sql.gz\n",
    "LIST_F\n",
    "CREATE_B logs-2024-06\n",
    "UPLOAD logs-2024-06 app-server-01.log 131072\n",
    "DELETE_F photos IMG_20240611_181544.jpg\n",
    "DOWNLOAD_FILE logs-2024-06 app-server-01.log\r\n",
    "upload_f backups db-2024-06-12.sql.gz 104857600\n",
    "ls_f backups\n",
    "NEW_BUCKET,scratch\n",
    "DELETE_B scratch\n",
    "HELP upload\n",
    "HELP\n",
    "CODES\n",
    "ls_b\r\n",
    "INIT\n",
    "QUIT\n",
];

/// Lines beyond the mix that must not allocate either: a quoted argument
/// without escapes borrows, separators are lenient.
const MORE_LINES: &[&str] = &[
    "UPLOAD photos \"cat 1.png\" 5\n",
    "  LIST_F\tphotos ,\n",
    "DOWNLOAD \"photos\" \"IMG 0001.jpg\"\n",
    "exit\n",
];

#[test]
fn decoding_request_lines_allocates_nothing() {
    for line in REQUEST_MIX.iter().chain(MORE_LINES) {
        let (decoded, allocations) = count(|| {
            let decoded = decode::request(line.as_bytes());
            let ok = matches!(decoded, Ok(Decoded::Complete { .. }));
            drop(decoded);
            ok
        });
        assert!(decoded, "{line:?} should decode");
        assert_eq!(allocations, 0, "decoding {line:?} allocated");
    }
}

#[test]
fn the_counter_counts() {
    // A quoted argument with an escape owns its text: one allocation (at
    // least), which proves the allocator is installed and counting.
    let (_, allocations) = count(|| decode::request(b"CREATE_B \"a\\\\b\"\n").map(drop));
    assert!(allocations > 0);
    let (v, allocations) = count(|| vec![1u8; 16]);
    drop(v);
    assert_eq!(allocations, 1);
}

/// Replies prepared once, so that only the session and the encoder run in the
/// measured sections.
struct Replies {
    hello: Reply<'static>,
    help_all: Reply<'static>,
    help_one: Reply<'static>,
    codes: Reply<'static>,
    buckets: Reply<'static>,
    files: Reply<'static>,
    success: Vec<(Verb, Reply<'static>)>,
}

impl Replies {
    fn new() -> Self {
        let b = |s: &'static str| BucketName::new(s).unwrap();
        let f = |s: &'static str| FileName::new(s).unwrap();
        Replies {
            hello: Reply::Hello {
                server: Cow::Borrowed("bucket-server/0.1.0"),
            },
            help_all: help::help(None),
            help_one: help::help(Some(Verb::Upload)),
            codes: Reply::code_table(),
            buckets: Reply::Buckets {
                buckets: vec![b("backups"), b("logs-2024-06"), b("photos")],
            },
            files: Reply::Files {
                files: vec![FileEntry {
                    bucket: b("photos"),
                    name: f("IMG_20240611_181503.jpg"),
                    size: 4_718_592,
                }],
            },
            success: Verb::ALL
                .iter()
                .filter_map(|&v| Reply::success(v).map(|r| (v, r)))
                .collect(),
        }
    }

    fn for_verb(&self, verb: Verb, help_topic: bool) -> &Reply<'static> {
        match verb {
            Verb::Hello => &self.hello,
            Verb::Help if help_topic => &self.help_one,
            Verb::Help => &self.help_all,
            Verb::Codes => &self.codes,
            Verb::ListBuckets => &self.buckets,
            Verb::ListFiles => &self.files,
            _ => {
                &self
                    .success
                    .iter()
                    .find(|(v, _)| *v == verb)
                    .unwrap_or_else(|| panic!("no prepared reply for {verb}"))
                    .1
            }
        }
    }
}

const DOWNLOAD_SIZE: u64 = 4096;

/// The mix without `QUIT`, repeated to `n` requests; uploads carry 64 bytes.
fn pipelined_batch(n: usize) -> Vec<u8> {
    let mut input = Vec::new();
    let lines = REQUEST_MIX.iter().filter(|l| !l.starts_with("QUIT"));
    for line in lines.cycle().take(n) {
        match decode::request(line.as_bytes()).unwrap() {
            Decoded::Complete {
                value: Request::Upload { bucket, name, .. },
                ..
            } => {
                input.extend_from_slice(format!("UPLOAD {bucket} {name} 64\n").as_bytes());
                input.extend_from_slice(&[b'x'; 64]);
            }
            _ => input.extend_from_slice(line.as_bytes()),
        }
    }
    input
}

/// What the batch loop does after an event.
enum Next {
    /// No event: the batch is done.
    Done,
    /// Nothing to answer yet (an upload's request or payload).
    Wait,
    /// Answer a request of this verb (`true`: `HELP` with a topic).
    Answer(Verb, bool),
}

/// Allocation calls of one batch, by path.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct BatchAllocations {
    /// `receive` and every `poll_event`.
    receive_and_poll: usize,
    /// `send_reply`, `payload_sent_directly` and `poll_transmit`.
    reply_and_transmit: usize,
}

/// Feeds `input` at once and answers every request, counting each path
/// apart. Returns the requests seen and the counts.
fn run_batch(
    session: &mut ServerSession,
    input: &[u8],
    replies: &Replies,
    out: &mut Vec<u8>,
) -> (usize, BatchAllocations) {
    let mut counts = BatchAllocations::default();
    let ((), n) = count(|| session.receive(input));
    counts.receive_and_poll += n;
    let mut requests = 0;
    loop {
        // What to answer is decided while the event (which borrows the
        // session) is alive, and sent once it is gone, as a server does.
        let (next, n) = count(|| match session.poll_event() {
            None => Next::Done,
            Some(ServerEvent::RequestReceived(request)) => {
                requests += 1;
                match request {
                    Request::Upload { .. } => Next::Wait,
                    Request::Help { topic } => Next::Answer(Verb::Help, topic.is_some()),
                    other => Next::Answer(other.verb(), false),
                }
            }
            Some(ServerEvent::PayloadData(_)) => Next::Wait,
            Some(ServerEvent::PayloadEnd) => Next::Answer(Verb::Upload, false),
            Some(other) => panic!("unexpected event {other:?}"),
        });
        counts.receive_and_poll += n;
        let (verb, topic) = match next {
            Next::Done => break,
            Next::Wait => continue,
            Next::Answer(verb, topic) => (verb, topic),
        };
        let reply = (verb != Verb::Download).then(|| replies.for_verb(verb, topic));
        let ((), n) = count(|| match reply {
            Some(reply) => session.send_reply(reply).unwrap(),
            None => {
                session
                    .send_reply(&Reply::Download {
                        size: DOWNLOAD_SIZE,
                    })
                    .unwrap();
                session.poll_transmit(out);
                session.payload_sent_directly(DOWNLOAD_SIZE).unwrap();
            }
        });
        counts.reply_and_transmit += n;
    }
    let (_, n) = count(|| session.poll_transmit(out));
    counts.reply_and_transmit += n;
    (requests, counts)
}

/// A warm session and the counts of the batch after warm-up.
fn warm_batch() -> BatchAllocations {
    const N: usize = 1000;
    let replies = Replies::new();
    let input = pipelined_batch(N);
    let mut session = ServerSession::default();
    let mut out = Vec::new();
    // Warm-up: the receive, transmit and output buffers reach their working
    // size (the transmit buffer and `out` trade places in `poll_transmit`,
    // so both need a round).
    for round in 0..3 {
        out.clear();
        let (requests, counts) = run_batch(&mut session, &input, &replies, &mut out);
        assert_eq!(requests, N);
        if round == 0 {
            // The buffers grow here: proof that the session's paths are seen.
            assert!(counts.receive_and_poll > 0 && counts.reply_and_transmit > 0);
            eprintln!("cold batch of {N} pipelined requests: {counts:?}");
        }
    }
    assert!(out.starts_with(b"100 OK BKT/1 bucket-server/0.1.0\n400 LS 3\n"));
    out.clear();
    let (requests, counts) = run_batch(&mut session, &input, &replies, &mut out);
    assert_eq!(requests, N);
    eprintln!("warm batch of {N} pipelined requests: {counts:?}");
    counts
}

#[test]
fn warm_session_receive_and_poll_allocate_nothing() {
    assert_eq!(warm_batch().receive_and_poll, 0);
}

#[test]
fn warm_session_reply_encoding_allocates_nothing() {
    assert_eq!(warm_batch().reply_and_transmit, 0);
}

/// Not a hot path, reported only: what refusals and dialogues allocate on a
/// warm session (run with `--nocapture` to see the counts).
#[test]
fn allocations_off_the_hot_path() {
    let cases: &[(&str, &[u8])] = &[
        ("unknown verb", b"FETCH photos a\n"),
        ("bad bucket name", b"CREATE_B ../etc\n"),
        ("bad syntax", b"LIST_F a\\b\n"),
        (
            "dialogue (3 prompts, then payload)",
            b"UPLOAD\nphotos\ncat.png\n3\nabc",
        ),
        (
            "quoted name with an escape",
            b"DELETE_F photos \"a\\\"b\"\n",
        ),
    ];
    let mut session = ServerSession::default();
    let mut out = Vec::with_capacity(64 * 1024);
    let success = Reply::success(Verb::Upload).unwrap();
    let delete = Reply::success(Verb::DeleteFile).unwrap();
    for round in 0..2 {
        for (what, input) in cases {
            let (_, n) = count(|| {
                session.receive(input);
                while let Some(event) = session.poll_event() {
                    match event {
                        ServerEvent::PayloadEnd => session.send_reply(&success).unwrap(),
                        ServerEvent::RequestReceived(Request::DeleteFile { .. }) => {
                            session.send_reply(&delete).unwrap();
                        }
                        _ => {}
                    }
                }
                out.clear();
                session.poll_transmit(&mut out);
            });
            if round == 1 {
                eprintln!("{what}: {n} allocation call(s)");
            }
        }
    }
}
