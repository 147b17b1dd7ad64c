//! proptest strategies for names, requests, replies and raw protocol bytes.

use std::borrow::Cow;

use bucket_proto::{
    BucketName, Field, FileEntry, FileName, Reason, Reply, ReplyCode, Request, Verb,
};
use proptest::prelude::*;
use proptest::sample::select;

/// Truncates `s` to at most `max` bytes, on a char boundary.
fn truncate(mut s: String, max: usize) -> String {
    while s.len() > max {
        s.pop();
    }
    s
}

/// Valid bucket names: 1–63 bytes of `A–Z a–z 0–9 . _ -`, not starting with `.`.
pub fn bucket_name() -> impl Strategy<Value = BucketName<'static>> {
    prop_oneof![
        "[a-z]{1,8}",
        "[A-Za-z0-9_-][A-Za-z0-9._-]{0,62}",
        Just("-".to_owned()),
        Just("x.".to_owned()),
        Just("b".repeat(63)),
    ]
    .prop_map(|s| BucketName::new(s).expect("strategy makes valid bucket names"))
}

/// Valid file names, with spaces, commas, quotes, non-ASCII, leading dots,
/// DEL-free and control-free, up to the 255-byte limit.
pub fn file_name() -> impl Strategy<Value = FileName<'static>> {
    prop_oneof![
        "[a-z0-9]{1,12}(\\.[a-z]{1,4})?",
        "[a-zA-Z0-9 ,\"'.é✓_=;:!?-]{1,30}",
        "\\.[a-z .,\"]{1,10}",
        "\\.\\.[a-z.]{1,5}",
        r#"[^/\\\x00-\x1f\x7f]{1,40}"#,
        "[a-zé✓ ]{200,255}".prop_map(|s| truncate(s, 255)),
        Just("x".repeat(255)),
        Just("...".to_owned()),
        Just(".bkt".to_owned()),
        Just("say \"hi\", ok".to_owned()),
    ]
    .prop_filter_map("valid file name", |s| FileName::new(s).ok())
}

/// Free text for people: no control characters (C0, DEL, C1), not empty.
pub fn text() -> impl Strategy<Value = Cow<'static, str>> {
    prop_oneof![
        "[a-z ]{1,20}",
        r#"[^\x00-\x1f\x7f-\u{9f}]{1,40}"#,
        Just(" leading and trailing ".to_owned()),
    ]
    .prop_map(Cow::Owned)
}

/// Optional free text (non-empty when present).
pub fn opt_text() -> impl Strategy<Value = Option<Cow<'static, str>>> {
    proptest::option::of(text())
}

/// A line of help/code text: no control characters, possibly empty.
pub fn line_text() -> impl Strategy<Value = Cow<'static, str>> {
    r#"[^\x00-\x1f\x7f-\u{9f}]{0,30}"#.prop_map(Cow::Owned)
}

pub fn verb() -> impl Strategy<Value = Verb> {
    select(Verb::ALL)
}

pub fn reason() -> impl Strategy<Value = Reason> {
    select(Reason::ALL)
}

pub fn field() -> impl Strategy<Value = Field> {
    select(vec![Field::Bucket, Field::Name, Field::Size, Field::Verb])
}

pub fn failure_code() -> impl Strategy<Value = ReplyCode> {
    select(
        ReplyCode::iter()
            .filter(|c| c.is_failure())
            .collect::<Vec<_>>(),
    )
}

pub fn success_code() -> impl Strategy<Value = ReplyCode> {
    select(vec![
        ReplyCode::BucketCreated,
        ReplyCode::BucketDeleted,
        ReplyCode::FileUploaded,
        ReplyCode::FileDeleted,
    ])
}

/// Upload sizes: small ones often, the extremes sometimes.
pub fn size() -> impl Strategy<Value = u64> {
    prop_oneof![
        4 => 0u64..64,
        1 => any::<u64>(),
        1 => Just(u64::MAX),
    ]
}

/// Every kind of request.
pub fn request() -> impl Strategy<Value = Request<'static>> {
    request_with_size(size())
}

/// Every kind of request, uploads with sizes from `size`.
pub fn request_with_size(
    size: impl Strategy<Value = u64> + 'static,
) -> impl Strategy<Value = Request<'static>> {
    prop_oneof![
        Just(Request::Hello),
        proptest::option::of(verb()).prop_map(|topic| Request::Help { topic }),
        Just(Request::Codes),
        Just(Request::Quit),
        bucket_name().prop_map(|bucket| Request::CreateBucket { bucket }),
        Just(Request::ListBuckets),
        bucket_name().prop_map(|bucket| Request::DeleteBucket { bucket }),
        (bucket_name(), file_name(), size).prop_map(|(bucket, name, size)| Request::Upload {
            bucket,
            name,
            size
        }),
        proptest::option::of(bucket_name()).prop_map(|bucket| Request::ListFiles { bucket }),
        (bucket_name(), file_name()).prop_map(|(bucket, name)| Request::Download { bucket, name }),
        (bucket_name(), file_name())
            .prop_map(|(bucket, name)| Request::DeleteFile { bucket, name }),
    ]
}

pub fn file_entry() -> impl Strategy<Value = FileEntry<'static>> {
    (bucket_name(), file_name(), any::<u64>()).prop_map(|(bucket, name, size)| FileEntry {
        bucket,
        name,
        size,
    })
}

/// Every kind of reply (download sizes from `size`).
pub fn reply_with_size(
    size: impl Strategy<Value = u64> + 'static,
) -> impl Strategy<Value = Reply<'static>> {
    prop_oneof![
        r#"[^\x00-\x1f\x7f-\u{9f}]{0,40}"#.prop_map(|s| Reply::Hello {
            server: Cow::Owned(s)
        }),
        field().prop_map(|field| Reply::Need { field }),
        Just(Reply::Bye),
        proptest::collection::vec(line_text(), 0..6).prop_map(|lines| Reply::Help { lines }),
        proptest::collection::vec(line_text(), 0..6).prop_map(|lines| Reply::Codes { lines }),
        Just(Reply::code_table()),
        (success_code(), opt_text()).prop_map(|(code, text)| Reply::Success { code, text }),
        (failure_code(), reason(), opt_text()).prop_map(|(code, reason, text)| Reply::Failure {
            code,
            reason,
            text
        }),
        proptest::collection::vec(bucket_name(), 0..6)
            .prop_map(|buckets| Reply::Buckets { buckets }),
        proptest::collection::vec(file_entry(), 0..6).prop_map(|files| Reply::Files { files }),
        size.prop_map(|size| Reply::Download { size }),
    ]
}

/// Every kind of reply.
pub fn reply() -> impl Strategy<Value = Reply<'static>> {
    reply_with_size(size())
}

/// Pieces of BKT/1 text and bytes, to build inputs that look like the
/// protocol and often are not.
pub fn fragment() -> impl Strategy<Value = Vec<u8>> {
    let words: Vec<&'static [u8]> = vec![
        b"HELLO",
        b"init",
        b"HELP",
        b"CODES",
        b"QUIT",
        b"CREATE_B",
        b"new_bucket",
        b"LIST_B",
        b"DELETE_B",
        b"UPLOAD",
        b"upload_file",
        b"LIST_F",
        b"DOWNLOAD",
        b"DELETE_F",
        b"FOO",
        b" ",
        b"\t",
        b",",
        b"\n",
        b"\r\n",
        b"\r",
        b"\"",
        b"\\",
        b"\\\"",
        b"..",
        b"/",
        b".bkt-",
        b"photos",
        b"cat 1.png",
        b"0",
        b"5",
        b"-1",
        b"99999999999999999999999",
        b"\xff\xfe",
        b"\x00",
        b"\x7f",
        b"\xc3\xa9",
        b"300 BCS",
        b"400 LS 2",
        b"900 FDBS 3",
        b"150 NEED size",
        b"701 FUBF BAD_NAME",
        b"800 LFS 1",
        b"a b 3",
    ];
    prop_oneof![
        6 => select(words).prop_map(<[u8]>::to_vec),
        1 => proptest::collection::vec(any::<u8>(), 0..8),
        1 => (1usize..5000).prop_map(|n| vec![b'x'; n]),
    ]
}

/// A byte string made of protocol fragments.
pub fn protocol_bytes(max_fragments: usize) -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(fragment(), 0..max_fragments).prop_map(|v| v.concat())
}

/// Split points for an input of any length: resolve them with
/// [`super::split_at_indices`].
pub fn split_points() -> impl Strategy<Value = Vec<proptest::sample::Index>> {
    proptest::collection::vec(any::<proptest::sample::Index>(), 0..24)
}
