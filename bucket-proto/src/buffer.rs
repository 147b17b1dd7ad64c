//! The receive buffer both sessions use: bytes received and not yet
//! processed, with spare room a caller can read into directly (zero-copy
//! receive).
//!
//! Layout: `buf[start..end]` holds unprocessed bytes; `buf[end..]` is spare,
//! already initialised, so it can be handed out as `&mut [u8]`. When every
//! byte is processed both positions return to 0; when room is short the
//! unprocessed bytes move to the front before the buffer grows. It grows only
//! as far as a caller asks, so an idle session stays small.

#[derive(Debug, Default)]
pub(crate) struct RecvBuf {
    /// Backing storage, initialised to its full length. Events borrow from
    /// here while `cur` moves: the two are separate fields so the borrow
    /// checker sees them apart.
    pub(crate) bytes: Vec<u8>,
    /// Where the unprocessed bytes are.
    pub(crate) cur: Cursor,
    /// The length of the spare room [`RecvBuf::spare`] handed out last and
    /// [`RecvBuf::commit`] has not taken yet: what a commit may take.
    lent: usize,
}

/// The unprocessed range `start..end` of a [`RecvBuf`].
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Cursor {
    pub(crate) start: usize,
    pub(crate) end: usize,
}

impl Cursor {
    /// How many bytes are unprocessed.
    pub(crate) fn len(&self) -> usize {
        self.end - self.start
    }

    /// Marks `n` bytes at the front as processed. Moves no byte and leaves
    /// `end` alone, so ranges taken before stay valid, and spare room handed
    /// out before still lines up with `end` for [`RecvBuf::commit`].
    pub(crate) fn consume(&mut self, n: usize) {
        debug_assert!(n <= self.len());
        self.start += n.min(self.len());
    }
}

impl RecvBuf {
    /// The bytes received and not yet processed.
    #[cfg(test)]
    pub(crate) fn data(&self) -> &[u8] {
        &self.bytes[self.cur.start..self.cur.end]
    }

    /// How many bytes are unprocessed.
    pub(crate) fn len(&self) -> usize {
        self.cur.len()
    }

    /// Spare room of at least `min` bytes after the unprocessed ones.
    pub(crate) fn spare(&mut self, min: usize) -> &mut [u8] {
        if self.cur.start == self.cur.end {
            // Everything is processed: start again at the front.
            self.cur = Cursor::default();
        }
        let Cursor { start, end } = self.cur;
        if self.bytes.len() - end < min {
            if start > 0 {
                self.bytes.copy_within(start..end, 0);
                self.cur = Cursor {
                    start: 0,
                    end: end - start,
                };
            }
            if self.bytes.len() - self.cur.end < min {
                self.bytes.resize(self.cur.end + min, 0);
            }
        }
        self.lent = self.bytes.len() - self.cur.end;
        &mut self.bytes[self.cur.end..]
    }

    /// Adds `n` bytes written into the room [`RecvBuf::spare`] handed out
    /// last to the unprocessed ones, clamped to that room's length; takes
    /// nothing when no room is lent (no `spare` since the last commit), so
    /// stale bytes of the spare room never count as received.
    pub(crate) fn commit(&mut self, n: usize) {
        self.cur.end += n.min(self.lent);
        self.lent = 0;
    }

    /// Copies `data` in after the unprocessed bytes.
    pub(crate) fn extend(&mut self, data: &[u8]) {
        self.spare(data.len())[..data.len()].copy_from_slice(data);
        self.commit(data.len());
    }
}

/// How many of `avail` buffered bytes belong to a payload that still has
/// `remaining` bytes to come.
pub(crate) fn payload_piece(avail: usize, remaining: u64) -> usize {
    avail.min(usize::try_from(remaining).unwrap_or(usize::MAX))
}

/// The most transmit-buffer capacity, in bytes, a session keeps between
/// [`drain_into`] calls (1 MiB). Replies are small except listings, which
/// can be tens of megabytes; a session that kept a large listing's buffer
/// would hold it for as long as its connection stays open. Below this, a
/// warm session answering batches of pipelined requests reuses its buffer
/// and allocates nothing (`tests/no_alloc.rs`: a batch of 1000 replies is
/// a few hundred KiB).
pub(crate) const TX_KEEP: usize = 1024 * 1024;

/// Moves every byte of a session's transmit buffer `tx` to the end of
/// `out`, returning how many: a swap, not a copy, when `out` is empty.
/// Afterwards `tx` is empty and has at most [`TX_KEEP`] bytes of capacity
/// (a larger buffer, whether `tx`'s own or the one the swap brought from
/// `out`, is freed).
pub(crate) fn drain_into(tx: &mut Vec<u8>, out: &mut Vec<u8>) -> usize {
    let n = tx.len();
    if out.is_empty() {
        std::mem::swap(out, tx);
    } else {
        out.append(tx);
    }
    if tx.capacity() > TX_KEEP {
        *tx = Vec::new();
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A large reply's buffer does not stay with the session: swapped out
    /// when `out` is empty, freed when it is appended to a non-empty `out`;
    /// and a large, empty `out` swapped in is not kept either. Small
    /// buffers are kept for reuse.
    #[test]
    fn drain_keeps_no_large_transmit_buffer() {
        let big = 4 * TX_KEEP;

        // Appended to pending output: the bytes move, the capacity goes.
        let mut tx = vec![7u8; big];
        let mut out = b"100 OK\n".to_vec();
        assert_eq!(drain_into(&mut tx, &mut out), big);
        assert_eq!(out.len(), 7 + big);
        assert_eq!(&out[..7], b"100 OK\n");
        assert!(tx.is_empty());
        assert!(tx.capacity() <= TX_KEEP, "kept {} bytes", tx.capacity());

        // Swapped into an empty `out` that had grown large before.
        let mut tx = b"200 BYE\n".to_vec();
        let mut out = Vec::with_capacity(big);
        assert_eq!(drain_into(&mut tx, &mut out), 8);
        assert_eq!(out, b"200 BYE\n");
        assert!(tx.is_empty());
        assert!(tx.capacity() <= TX_KEEP, "kept {} bytes", tx.capacity());

        // A small buffer is kept, so steady small replies do not allocate.
        let mut tx = Vec::with_capacity(1024);
        tx.extend_from_slice(b"300 BCS\n");
        let mut out = b"x".to_vec();
        drain_into(&mut tx, &mut out);
        assert!(tx.capacity() >= 1024);
    }

    #[test]
    fn extend_consume_and_reuse() {
        let mut b = RecvBuf::default();
        b.extend(b"hello world");
        assert_eq!(b.data(), b"hello world");
        b.cur.consume(6);
        assert_eq!(b.data(), b"world");
        assert_eq!(b.cur.start, 6);
        b.cur.consume(5);
        assert_eq!(b.len(), 0);
        b.spare(1);
        assert_eq!(
            (b.cur.start, b.cur.end),
            (0, 0),
            "empty restarts at the front"
        );
    }

    #[test]
    fn spare_compacts_before_growing() {
        let mut b = RecvBuf::default();
        b.spare(8);
        b.commit(0);
        b.extend(b"abcdefgh");
        let cap = b.bytes.len();
        b.cur.consume(6);
        // Needs 6 bytes of room: moving "gh" to the front makes it.
        let room = b.spare(6).len();
        assert!(room >= 6);
        assert_eq!(b.bytes.len(), cap, "compacted, not grown");
        assert_eq!(b.data(), b"gh");
    }

    #[test]
    fn consuming_between_spare_and_commit_keeps_the_new_bytes() {
        let mut b = RecvBuf::default();
        b.extend(b"old");
        b.spare(4)[..3].copy_from_slice(b"new");
        b.cur.consume(3); // everything processed while the room is lent
        b.commit(3);
        assert_eq!(b.data(), b"new");
    }

    #[test]
    fn direct_reads_land_after_unprocessed_bytes() {
        let mut b = RecvBuf::default();
        b.extend(b"ab");
        let spare = b.spare(4);
        spare[..3].copy_from_slice(b"cde");
        b.commit(3);
        assert_eq!(b.data(), b"abcde");
    }
}
