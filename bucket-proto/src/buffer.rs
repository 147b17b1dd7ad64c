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

/// Moves every byte of a session's transmit buffer `tx` to the end of
/// `out`, returning how many: a swap, not a copy, when `out` is empty.
pub(crate) fn drain_into(tx: &mut Vec<u8>, out: &mut Vec<u8>) -> usize {
    let n = tx.len();
    if out.is_empty() {
        std::mem::swap(out, tx);
    } else {
        out.append(tx);
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

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
