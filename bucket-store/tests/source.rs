//! The download hints of [`Source`]: a file for sendfile, bytes for one write.
#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};

use bucket_store::{BucketName, FileName, FsStore, MemStore, Source, Store, Upload};

fn put<S: Store>(store: &S) -> (BucketName<'static>, FileName<'static>) {
    let b = BucketName::new("b").unwrap().into_owned();
    let f = FileName::new("f").unwrap().into_owned();
    store.create_bucket(&b).unwrap();
    let mut up = store.start_upload(&b, &f, 10).unwrap();
    up.write_all(b"0123456789").unwrap();
    up.commit().unwrap();
    (b, f)
}

#[test]
fn fs_readers_offer_their_file_positioned_where_reading_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let store = FsStore::open(dir.path()).unwrap();
    let (b, f) = put(&store);
    let mut d = store.open_file(&b, &f).unwrap();
    assert!(d.reader.remaining_bytes().is_none());
    let mut first = [0u8; 4];
    d.reader.read_exact(&mut first).unwrap();
    let mut file = d.reader.as_file().unwrap();
    let mut rest = String::new();
    file.read_to_string(&mut rest).unwrap();
    assert_eq!(rest, "456789");
}

#[test]
fn mem_readers_offer_the_bytes_not_yet_read() {
    let store = MemStore::new();
    let (b, f) = put(&store);
    let mut d = store.open_file(&b, &f).unwrap();
    assert!(d.reader.as_file().is_none());
    assert_eq!(d.reader.remaining_bytes().unwrap(), b"0123456789");
    let mut first = [0u8; 4];
    d.reader.read_exact(&mut first).unwrap();
    assert_eq!(d.reader.remaining_bytes().unwrap(), b"456789");
    // A replace after open leaves the reader's bytes alone.
    let mut up = store.start_upload(&b, &f, 1).unwrap();
    up.write_all(b"x").unwrap();
    up.commit().unwrap();
    assert_eq!(d.reader.remaining_bytes().unwrap(), b"456789");
}

/// A back-end of one's own may read downloads from any cursor over bytes
/// (the crate docs' "Writing a new back-end", step 1): each is a `Source`
/// that shows what is left to read.
#[test]
fn any_cursor_over_bytes_is_a_source_showing_what_is_left() {
    use std::io::Cursor;
    use std::sync::Arc;

    fn left_after_two<S: Source>(mut source: S) -> Vec<u8> {
        let mut two = [0; 2];
        source.read_exact(&mut two).unwrap();
        assert!(source.as_file().is_none());
        source.remaining_bytes().unwrap().to_vec()
    }
    assert_eq!(left_after_two(Cursor::new(b"hello".to_vec())), b"llo");
    let shared: Arc<[u8]> = Arc::from(&b"hello"[..]);
    assert_eq!(left_after_two(Cursor::new(shared)), b"llo");
    assert_eq!(left_after_two(Cursor::new(&b"hello"[..])), b"llo");
    let bytes = bucket_store::MemBytes::from(b"hello".to_vec());
    assert_eq!(left_after_two(Cursor::new(bytes)), b"llo");
}
