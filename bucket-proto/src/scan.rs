//! The fast path for request lines: a hand-written, single-pass,
//! allocation-free scanner for the common shape of a request (httparse's
//! approach), in front of the nom grammar.
//!
//! [`crate::parse`] is the reference: it is the grammar of PROTOCOL.md §
//! Requests written out in nom, and it alone decides what every unusual line
//! means and which error it gets. This module recognises only the lines most
//! clients send (every verb and alias in any case, bare ASCII arguments, all
//! required arguments present, valid names and size) and builds their
//! [`Request`] directly, several times faster. Everything else, including
//! every line that is an error or opens a dialogue, makes [`request`] (and
//! [`request_line`]) return `None`, and the caller runs the nom grammar, so
//! errors and their replies are exactly the grammar's.
//!
//! The two must never disagree: wherever the scanner returns `Some`, its
//! request is the one `parse::command` + `parse::build` give. The unit tests
//! below, the differential proptest `bucket-proto/tests/scan.rs` (through
//! [`crate::decode::request_reference`]) and the `request_line` fuzz target
//! keep them equal.
//!
//! # How it is fast
//! - The verb is known before its arguments, so each argument is scanned
//!   for the bytes of its own field (bucket name, file name, size, verb),
//!   eight bytes at a time (SWAR on `u64` words): no branch per byte, and
//!   checking the bytes costs nothing extra. The first byte outside the
//!   field's class must end the argument (a separator, the end of the line,
//!   or a byte only the grammar handles); bytes past the buffer read as NUL.
//! - A verb is looked up by its upper-cased bytes packed in a `u128`, in a
//!   perfect hash table built at compile time.
//! - `UPLOAD`'s size is converted eight digits at a time.
//! - [`request_line`] also finds the line's end on the way (the byte where
//!   the fast subset stops must be the LF, or CR LF), so `decode::request`
//!   needs no separate pass for framing.

use crate::framing::MAX_LINE_LEN;
use crate::names::{
    BucketName, FileName, MAX_BUCKET_NAME_LEN, MAX_FILE_NAME_LEN, RESERVED_FILE_PREFIX,
};
use crate::parse::MAX_ARGS;
use crate::request::{Field, MAX_VERB_LEN, Request, Verb};

/// Byte class: a separator, `SP / HTAB / ","` (PROTOCOL.md § Requests).
const SEP: u8 = 1;
/// Byte class: a byte of a bare argument in the fast subset: printable ASCII
/// (`!`..=`~`) but `"`, `,` and `\`.
const BARE: u8 = 2;

/// The class of every byte, for the few checks made a byte at a time. A
/// byte outside the fast subset (`"`, `\`, C0 controls, DEL, bytes of
/// non-ASCII characters) has none.
static CLASSES: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        table[i] = if b == b' ' || b == b'\t' || b == b',' {
            SEP
        } else if b.is_ascii_graphic() && b != b'"' && b != b'\\' {
            BARE
        } else {
            0
        };
        i += 1;
    }
    table
};

/// Whether `b` is a separator, `SP / HTAB / ","` (PROTOCOL.md § Requests).
#[inline(always)]
pub(crate) fn is_sep(b: u8) -> bool {
    CLASSES[usize::from(b)] & SEP != 0
}

/// Whether `b` may be in a bare argument of the fast subset.
#[inline(always)]
fn is_bare(b: u8) -> bool {
    CLASSES[usize::from(b)] & BARE != 0
}

// ---- SWAR: eight bytes per `u64` ------------------------------------------
//
// A word holds eight bytes of the buffer, the first in the lowest byte
// (little-endian). A *flags* word has 0x80 set in each byte for which a test
// holds, and nothing else. The tests work on `x = word & LOW7`, so no byte
// carries into the next one.

/// 0x01 in every byte.
const ONES: u64 = 0x0101_0101_0101_0101;
/// 0x80 in every byte.
const HIGH: u64 = 0x8080_8080_8080_8080;
/// 0x7F in every byte.
const LOW7: u64 = 0x7F7F_7F7F_7F7F_7F7F;

/// `b` in every byte.
const fn splat(b: u8) -> u64 {
    ONES * b as u64
}

/// Flags of the bytes of `x` (no high bits) that are `>= n`, for `1 <= n <=
/// 0x80`: adding `0x80 - n` sets a byte's high bit exactly then, and a byte
/// of at most 0x7F plus at most 0x7F never carries.
#[inline(always)]
fn ge(x: u64, n: u8) -> u64 {
    (x + splat(0x80 - n)) & HIGH
}

/// Flags of the bytes of `x` (no high bits) equal to `c` (ASCII): `x ^ c`
/// is zero exactly there, and adding 0x7F sets the high bit of every other
/// byte.
#[inline(always)]
fn eq(x: u64, c: u8) -> u64 {
    !((x ^ splat(c)) + LOW7) & HIGH
}

/// Flags of the bytes of `x` (no high bits) that are ASCII letters.
#[inline(always)]
fn alpha(x: u64) -> u64 {
    let folded = x | splat(0x20);
    ge(folded, b'a') ^ ge(folded, b'z' + 1)
}

/// Flags of the bytes of `x` (no high bits) that are ASCII digits.
#[inline(always)]
fn digit(x: u64) -> u64 {
    ge(x, b'0') ^ ge(x, b'9' + 1)
}

/// Flags of the bytes of `w` outside a class, given the flags `ok` of the
/// bytes of `w & LOW7` in it: a byte with its high bit set (non-ASCII) is
/// in no class.
#[inline(always)]
fn outside(w: u64, ok: u64) -> u64 {
    (ok & !w) ^ HIGH
}

/// Flags of the bytes of `w` that are not verb bytes (`ALPHA / "_"`).
#[inline(always)]
fn not_verb(w: u64) -> u64 {
    let x = w & LOW7;
    outside(w, alpha(x) | eq(x, b'_'))
}

/// Flags of the bytes of `w` that may not be in a bucket name: outside
/// `A–Z a–z 0–9 . _ -` (PROTOCOL.md § Names).
#[inline(always)]
fn not_bucket(w: u64) -> u64 {
    let x = w & LOW7;
    outside(
        w,
        alpha(x) | digit(x) | eq(x, b'.') | eq(x, b'_') | eq(x, b'-'),
    )
}

/// Flags of the bytes of `w` that may not be in a file name of the fast
/// subset: not bare (below), or `/` (PROTOCOL.md § Names).
#[inline(always)]
fn not_file(w: u64) -> u64 {
    not_bare(w) | eq(w & LOW7, b'/')
}

/// Flags of the bytes of `w` that are not ASCII digits.
#[inline(always)]
fn not_digit(w: u64) -> u64 {
    outside(w, digit(w & LOW7))
}

/// Flags of the bytes of `w` that may not be in a bare argument of the fast
/// subset: non-ASCII, below `!` (controls, SP, HTAB), DEL, `"`, `,`, `\`.
#[inline(always)]
fn not_bare(w: u64) -> u64 {
    let x = w & LOW7;
    (w & HIGH) | (ge(x, 0x21) ^ HIGH) | ge(x, 0x7F) | eq(x, b'"') | eq(x, b',') | eq(x, b'\\')
}

/// A mask of the whole bytes before the first flagged one (every byte when
/// none is flagged).
#[inline(always)]
fn before_first(flags: u64) -> u64 {
    ((flags & flags.wrapping_neg()) >> 7).wrapping_sub(1)
}

/// The index of the first flagged byte (8 when none is).
#[inline(always)]
fn first(flags: u64) -> usize {
    (flags.trailing_zeros() / 8) as usize
}

/// The eight bytes of `buf` from `i` as a word; bytes past the end read as
/// NUL (so they end any argument).
#[inline(always)]
fn word(buf: &[u8], i: usize) -> u64 {
    let rest = buf.get(i..).unwrap_or_default();
    if let Some(chunk) = rest.first_chunk::<8>() {
        u64::from_le_bytes(*chunk)
    } else if rest.is_empty() {
        0
    } else if let Some(last) = buf.last_chunk::<8>() {
        // The last eight bytes, shifted so `buf[i]` comes first: 1 to 7
        // bytes of `rest`, then NULs.
        u64::from_le_bytes(*last) >> (8 * (8 - rest.len()))
    } else {
        // A buffer of fewer than eight bytes: two overlapping loads.
        let n = rest.len();
        if let (Some(low), Some(high)) = (rest.first_chunk::<4>(), rest.last_chunk::<4>()) {
            u64::from(u32::from_le_bytes(*low))
                | u64::from(u32::from_le_bytes(*high)) << (8 * (n - 4))
        } else {
            let byte = |k: usize| u64::from(rest[k]) << (8 * k);
            byte(0) | byte(n / 2) | byte(n - 1)
        }
    }
}

// ---- verbs ----------------------------------------------------------------

/// A token of verb bytes (`ALPHA / "_"`, at most 16) folded to a number: its
/// bytes upper-cased (`& 0xDF` maps `a–z` to `A–Z` and keeps `A–Z` and
/// `_`), little-endian. Verb bytes are never 0, so distinct tokens have
/// distinct keys, and the empty token is 0.
const fn key_of(token: &[u8]) -> u128 {
    let mut key = 0u128;
    let mut i = 0;
    while i < token.len() {
        key |= ((token[i] & 0xDF) as u128) << (8 * i);
        i += 1;
    }
    key
}

/// What the scanner needs to know of a verb, by spelling.
#[derive(Clone, Copy)]
struct VerbInfo {
    /// [`key_of`] the spelling; 0 in an empty slot.
    key: u128,
    /// The verb; `None` in an empty slot.
    verb: Option<Verb>,
    /// `verb.required().len()`.
    required: usize,
    /// `verb.max_args()`.
    max: usize,
    /// The field of each argument in wire order (required, then optional);
    /// past `max`, unused.
    fields: [Field; MAX_ARGS],
}

/// An empty slot: its key (0) is the empty token's, which is no verb.
const NO_VERB: VerbInfo = VerbInfo {
    key: 0,
    verb: None,
    required: 0,
    max: 0,
    fields: [Field::Bucket; MAX_ARGS],
};

/// Slots of the verb table: a power of two, at most 64 (the build tracks
/// used slots in a `u64`).
const VERB_SLOTS: usize = 64;

/// The slot of `key` under multiplier `mul`: the key's two halves XORed,
/// multiplied, top bits.
const fn verb_slot(key: u128, mul: u64) -> usize {
    let folded = (key as u64) ^ ((key >> 64) as u64);
    (folded.wrapping_mul(mul) >> (64 - VERB_SLOTS.trailing_zeros())) as usize
}

/// Every spelling of every verb (canonical and aliases, PROTOCOL.md §
/// Requests) by its [`key_of`], in a perfect hash table: one multiply and
/// one compare per lookup.
struct VerbTable {
    /// The multiplier of [`verb_slot`] that puts every spelling in its own
    /// slot, found when the table is built (at compile time).
    mul: u64,
    slots: [VerbInfo; VERB_SLOTS],
}

/// The table, built at compile time from `Verb::ALL`, `Verb::as_str`,
/// `Verb::aliases`, `Verb::required` and `Verb::optional`; the build fails
/// if no multiplier separates the spellings.
static VERBS: VerbTable = {
    // Candidate multipliers: odd outputs of splitmix64.
    let mut state = 0u64;
    let mut tries = 0;
    loop {
        assert!(
            tries < 100_000,
            "no multiplier separates the verb spellings"
        );
        tries += 1;
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        let mul = (z ^ (z >> 31)) | 1;
        let mut table = VerbTable {
            mul,
            slots: [NO_VERB; VERB_SLOTS],
        };
        let mut used = 0u64;
        let mut clash = false;
        let mut v = 0;
        while v < Verb::ALL.len() && !clash {
            let verb = Verb::ALL[v];
            let (required, optional) = (verb.required(), verb.optional());
            assert!(required.len() + optional.len() <= MAX_ARGS);
            let mut fields = [Field::Bucket; MAX_ARGS];
            let mut f = 0;
            while f < required.len() + optional.len() {
                fields[f] = if f < required.len() {
                    required[f]
                } else {
                    optional[f - required.len()]
                };
                f += 1;
            }
            let aliases = verb.aliases();
            let mut a = 0;
            while a <= aliases.len() && !clash {
                let spelling = if a == 0 {
                    verb.as_str()
                } else {
                    aliases[a - 1]
                };
                assert!(spelling.len() <= MAX_VERB_LEN);
                let key = key_of(spelling.as_bytes());
                let slot = verb_slot(key, mul);
                clash = used & (1 << slot) != 0;
                used |= 1 << slot;
                table.slots[slot] = VerbInfo {
                    key,
                    verb: Some(verb),
                    required: required.len(),
                    max: required.len() + optional.len(),
                    fields,
                };
                a += 1;
            }
            v += 1;
        }
        if !clash {
            break table;
        }
    }
};

/// The verb spelled by the token whose key ([`key_of`]) is `key`, if any:
/// the same answer as `Verb::from_token` on a token of verb bytes.
#[inline(always)]
fn verb_info(key: u128) -> Option<&'static VerbInfo> {
    let info = &VERBS.slots[verb_slot(key, VERBS.mul)];
    (info.key == key && info.verb.is_some()).then_some(info)
}

// ---- the scanner ----------------------------------------------------------

/// Scans one request line's content (the framing layer has removed the LF
/// and one CR before it; PROTOCOL.md § Transport) and returns its request
/// when the line is in the fast subset: ASCII, bare arguments only,
/// separators as in PROTOCOL.md § Requests (leading SP/HTAB and extra
/// separators are accepted as the grammar accepts them), a known verb or
/// alias in any case, every required argument and no more than the verb
/// takes, names valid by PROTOCOL.md § Names and a valid `size`. The
/// request's names borrow from `line`.
///
/// `None` means "not in the fast subset": the caller must run the nom
/// grammar ([`crate::parse::command`] and [`crate::parse::build`]), which
/// gives the answer for every such line (blank lines, errors, dialogues,
/// quoted arguments, non-ASCII names). Never allocates.
#[inline]
pub(crate) fn request(line: &[u8]) -> Option<Request<'_>> {
    let (request, ()) = scan(line, |stop| (stop == line.len()).then_some(()))?;
    Some(request)
}

/// [`request`] on a buffer that starts with a whole request line, framing
/// included, in the same single pass: the line must end with LF or CR LF
/// within [`MAX_LINE_LEN`] bytes (PROTOCOL.md § Transport), right where the
/// fast subset stops. Returns the request and the bytes the line takes
/// (terminator included), exactly as `LineFramer` frames it.
///
/// `None` in every other case (no LF yet, a line too long, a CR not right
/// before the LF, anything [`request`] refuses): the caller frames the line
/// and runs the nom grammar.
#[inline(always)]
pub(crate) fn request_line(input: &[u8]) -> Option<(Request<'_>, usize)> {
    // Bytes past the limit can never be in a line.
    let window = &input[..input.len().min(MAX_LINE_LEN)];
    scan(window, |stop| match window.get(stop..) {
        Some([b'\n', ..]) => Some(stop + 1),
        Some([b'\r', b'\n', ..]) => Some(stop + 2),
        _ => None,
    })
}

/// An argument's place in the buffer: `start..end`.
type Span = (usize, usize);

/// The scanner behind [`request`] and [`request_line`]. Scans `buf` up to
/// the first byte outside the fast subset (its *stop*: leading SP/HTAB, a
/// verb spelling, then separators and bare arguments), asks `at_stop`
/// whether the line may end there, then checks the arguments against the
/// verb and builds the request from `buf[..stop]`. Returns what `at_stop`
/// returned with it.
#[inline(always)]
fn scan<'a, T>(
    buf: &'a [u8],
    at_stop: impl FnOnce(usize) -> Option<T>,
) -> Option<(Request<'a>, T)> {
    let len = buf.len();
    // Spaces and tabs before the verb (not commas: the grammar refuses a
    // line starting with one).
    let mut i = 0;
    while i < len && (buf[i] == b' ' || buf[i] == b'\t') {
        i += 1;
    }
    // The verb: its first 16 bytes, up to the first non-verb byte.
    let w0 = word(buf, i);
    let end0 = not_verb(w0);
    let (verb_len, key) = if end0 != 0 {
        (
            first(end0),
            u128::from(w0 & before_first(end0) & splat(0xDF)),
        )
    } else {
        let w1 = word(buf, i + 8);
        let end1 = not_verb(w1);
        let low = u128::from(w0 & splat(0xDF));
        let high = u128::from(w1 & before_first(end1) & splat(0xDF));
        (8 + first(end1), low | (high << 64))
    };
    if verb_len > MAX_VERB_LEN {
        return None;
    }
    let info = verb_info(key)?;
    let verb = info.verb?;
    i += verb_len;
    // The verb ends at a separator or where the fast subset stops.
    if i < len && is_bare(buf[i]) {
        return None;
    }
    // Up to three arguments, each checked against its field as it is
    // scanned; a fourth is one too many for every verb.
    let field = |k: usize| (k < info.max).then(|| info.fields[k]);
    let a0 = next_arg(buf, &mut i, field(0))?;
    let a1 = match a0 {
        Some(_) => next_arg(buf, &mut i, field(1))?,
        None => None,
    };
    let a2 = match a1 {
        Some(_) => next_arg(buf, &mut i, field(2))?,
        None => None,
    };
    if a2.is_some() {
        next_arg(buf, &mut i, None)?;
    }
    let n = usize::from(a0.is_some()) + usize::from(a1.is_some()) + usize::from(a2.is_some());
    if n < info.required {
        return None; // a dialogue
    }
    let tail = at_stop(i)?;
    let line = &buf[..i];
    let request = match (verb, a0) {
        (Verb::Hello, _) => Request::Hello,
        (Verb::Codes, _) => Request::Codes,
        (Verb::Quit, _) => Request::Quit,
        (Verb::ListBuckets, _) => Request::ListBuckets,
        (Verb::Help, None) => Request::Help { topic: None },
        (Verb::Help, Some(t)) => Request::Help {
            topic: Some(topic(line, t)?),
        },
        (Verb::ListFiles, None) => Request::ListFiles { bucket: None },
        (_, Some(b)) => {
            // Every other verb names a bucket, and maybe a file after it:
            // the names as text, converted once (they are ASCII).
            let names_end = match (verb, a1) {
                (Verb::Upload | Verb::Download | Verb::DeleteFile, Some(f)) => f.1,
                _ => b.1,
            };
            let text = Text::new(line, (b.0, names_end))?;
            let bucket = text.bucket(b)?;
            match (verb, a1, a2) {
                (Verb::CreateBucket, ..) => Request::CreateBucket { bucket },
                (Verb::DeleteBucket, ..) => Request::DeleteBucket { bucket },
                (Verb::ListFiles, ..) => Request::ListFiles {
                    bucket: Some(bucket),
                },
                (Verb::Download, Some(f), _) => Request::Download {
                    bucket,
                    name: text.file(f)?,
                },
                (Verb::DeleteFile, Some(f), _) => Request::DeleteFile {
                    bucket,
                    name: text.file(f)?,
                },
                (Verb::Upload, Some(f), Some(s)) => Request::Upload {
                    bucket,
                    name: text.file(f)?,
                    size: size(line, s)?,
                },
                _ => return None,
            }
        }
        _ => return None,
    };
    Some((request, tail))
}

/// The next argument, scanned from `*i` (just after the verb or the
/// previous argument) and checked against `field` (`None` when the verb
/// takes no more). Moves `*i` past it.
///
/// `Some(Some(span))`: an argument whose bytes all suit `field`.
/// `Some(None)`: no more arguments; `*i` is past any separators, at the
/// stop (the end of `buf` or a byte outside the fast subset).
/// `None`: not in the fast subset (a byte the field may not hold, or an
/// argument too many).
#[inline(always)]
fn next_arg(buf: &[u8], i: &mut usize, field: Option<Field>) -> Option<Option<Span>> {
    let len = buf.len();
    let mut j = *i;
    if j == len || !is_sep(buf[j]) {
        return Some(None);
    }
    j += 1;
    while j < len && is_sep(buf[j]) {
        j += 1;
    }
    *i = j;
    if j == len || !is_bare(buf[j]) {
        return Some(None);
    }
    // The first byte outside the field's class, eight bytes at a time.
    let end = run(buf, j, field?);
    // It must end the argument: a bare byte there is one the field may
    // not hold (every class is a subset of the bare bytes).
    if end < len && is_bare(buf[end]) {
        return None;
    }
    *i = end;
    Some(Some((j, end)))
}

/// The index of the first byte of `buf[start..]` that may not be in an
/// argument for `field`, or the end of `buf`; a word at a time.
#[inline(always)]
fn run(buf: &[u8], start: usize, field: Field) -> usize {
    let mut i = start;
    loop {
        let w = word(buf, i);
        let flags = match field {
            Field::Bucket => not_bucket(w),
            Field::Name => not_file(w),
            Field::Size => not_digit(w),
            Field::Verb => not_verb(w),
        };
        if flags != 0 {
            return (i + first(flags)).min(buf.len());
        }
        i += 8;
    }
}

/// `HELP`'s topic: any spelling of a verb, in any case (the scan checked
/// that its bytes are verb bytes).
#[inline(always)]
fn topic(line: &[u8], (start, end): Span) -> Option<Verb> {
    if end - start > MAX_VERB_LEN {
        return None;
    }
    verb_info(key_of(&line[start..end]))?.verb
}

/// Arguments of a line as text: `text` is a span of it from `base`,
/// converted once (a line in the fast subset is ASCII).
struct Text<'a> {
    text: &'a str,
    base: usize,
}

impl<'a> Text<'a> {
    #[inline(always)]
    fn new(line: &'a [u8], (base, end): Span) -> Option<Text<'a>> {
        let text = std::str::from_utf8(line.get(base..end)?).ok()?;
        Some(Text { text, base })
    }

    #[inline(always)]
    fn get(&self, (start, end): Span) -> Option<&'a str> {
        self.text.get(start - self.base..end - self.base)
    }

    /// A bucket name: 1–63 bytes of `A–Z a–z 0–9 . _ -` (checked by the
    /// scan), not starting with `.`.
    #[inline(always)]
    fn bucket(&self, span: Span) -> Option<BucketName<'a>> {
        let name = self.get(span)?;
        let ok = name.len() <= MAX_BUCKET_NAME_LEN && !name.starts_with('.');
        ok.then(|| BucketName::from_validated(name))
    }

    /// A file name: 1–255 bytes without `/` (checked by the scan; the fast
    /// subset has no `\` or controls), not `.` or `..`, not starting with
    /// `.bkt-`.
    #[inline(always)]
    fn file(&self, span: Span) -> Option<FileName<'a>> {
        let name = self.get(span)?;
        let ok = name.len() <= MAX_FILE_NAME_LEN
            && name != "."
            && name != ".."
            && !name.starts_with(RESERVED_FILE_PREFIX);
        ok.then(|| FileName::from_validated(name))
    }
}

/// `size`: decimal digits (checked by the scan) whose value fits a u64,
/// leading zeros allowed, as `parse::size` reads it.
#[inline(always)]
fn size(line: &[u8], (start, end): Span) -> Option<u64> {
    match end - start {
        0 => None,
        len @ 1..=8 => Some(eight_digits(line, start, len)),
        len @ 9..=16 => {
            let high = eight_digits(line, start, len - 8);
            Some(high * 100_000_000 + eight_digits(line, end - 8, 8))
        }
        _ => line[start..end].iter().try_fold(0u64, |n, &d| {
            n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
        }),
    }
}

/// The value of the `len` (1 to 8) ASCII digits at `line[at..]`, most
/// significant first, converted in one word: the digits are right-aligned
/// behind zeros, then pairs, quads and octets are combined by multiplying.
#[inline(always)]
fn eight_digits(line: &[u8], at: usize, len: usize) -> u64 {
    let keep = u64::MAX >> (8 * (8 - len));
    let v = (word(line, at) & keep & splat(0x0F)) << (8 * (8 - len));
    let v = (v.wrapping_mul((10 << 8) | 1) >> 8) & 0x00FF_00FF_00FF_00FF;
    let v = (v.wrapping_mul((100 << 16) | 1) >> 16) & 0x0000_FFFF_0000_FFFF;
    v.wrapping_mul((10_000 << 32) | 1) >> 32
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::decode::{self, Decoded};

    /// What the nom grammar alone makes of `line` (content, no terminator;
    /// framing drops the CR of CR LF, so the content is exactly `line`).
    fn reference(line: &[u8]) -> Result<Request<'static>, crate::RequestError> {
        let input = [line, b"\r\n"].concat();
        match decode::request_reference(&input)? {
            Decoded::Complete { value, consumed } => {
                assert_eq!(consumed, input.len());
                Ok(value.into_owned())
            }
            Decoded::Incomplete => unreachable!("the line ends with LF"),
        }
    }

    /// The fast path takes `line` and agrees with the grammar; returns its
    /// request.
    fn fast(line: &str) -> Request<'_> {
        let scanned =
            request(line.as_bytes()).unwrap_or_else(|| panic!("{line:?} fell back to the grammar"));
        assert_eq!(Ok(scanned.clone()), reference(line.as_bytes()), "{line:?}");
        // The same line framed in one pass, with more data after it.
        for (end, extra) in [("\n", 1), ("\r\n", 2)] {
            let input = format!("{line}{end}HELLO\n");
            let (framed, consumed) = request_line(input.as_bytes()).unwrap();
            assert_eq!(framed, scanned, "{input:?}");
            assert_eq!(consumed, line.len() + extra, "{input:?}");
        }
        scanned
    }

    /// The fast path leaves `line` to the grammar, framed or not.
    fn falls_back(line: &[u8]) {
        assert_eq!(request(line), None, "{:?}", String::from_utf8_lossy(line));
        let mut inputs = vec![[line, b"\r\n"].concat()];
        if !line.ends_with(b"\r") {
            inputs.push([line, b"\n"].concat());
        }
        for input in inputs {
            let shown = String::from_utf8_lossy(&input);
            assert_eq!(request_line(&input), None, "{shown:?}");
        }
    }

    fn bucket(s: &str) -> BucketName<'_> {
        BucketName::new(s).unwrap()
    }

    fn file(s: &str) -> FileName<'_> {
        FileName::new(s).unwrap()
    }

    #[test]
    fn every_verb_shape() {
        assert_eq!(fast("HELLO"), Request::Hello);
        assert_eq!(fast("HELP"), Request::Help { topic: None });
        assert_eq!(
            fast("HELP DOWNLOAD_FILE"),
            Request::Help {
                topic: Some(Verb::Download)
            }
        );
        assert_eq!(fast("CODES"), Request::Codes);
        assert_eq!(fast("QUIT"), Request::Quit);
        assert_eq!(
            fast("CREATE_B photos"),
            Request::CreateBucket {
                bucket: bucket("photos")
            }
        );
        assert_eq!(fast("LIST_B"), Request::ListBuckets);
        assert_eq!(
            fast("DELETE_B photos"),
            Request::DeleteBucket {
                bucket: bucket("photos")
            }
        );
        assert_eq!(
            fast("UPLOAD photos cat.png 5"),
            Request::Upload {
                bucket: bucket("photos"),
                name: file("cat.png"),
                size: 5
            }
        );
        assert_eq!(fast("LIST_F"), Request::ListFiles { bucket: None });
        assert_eq!(
            fast("LIST_F photos"),
            Request::ListFiles {
                bucket: Some(bucket("photos"))
            }
        );
        assert_eq!(
            fast("DOWNLOAD photos cat.png"),
            Request::Download {
                bucket: bucket("photos"),
                name: file("cat.png")
            }
        );
        assert_eq!(
            fast("DELETE_F photos cat.png"),
            Request::DeleteFile {
                bucket: bucket("photos"),
                name: file("cat.png")
            }
        );
    }

    #[test]
    fn every_spelling_in_any_case() {
        for &verb in Verb::ALL {
            let args = match verb.max_args() {
                0 => "",
                1 if verb == Verb::Help => " ls_f",
                1 => " b",
                2 => " b f",
                _ => " b f 1",
            };
            for spelling in std::iter::once(verb.as_str()).chain(verb.aliases().iter().copied()) {
                let lower = spelling.to_ascii_lowercase();
                let mixed: String = spelling
                    .chars()
                    .enumerate()
                    .map(|(i, c)| {
                        if i % 2 == 0 {
                            c.to_ascii_lowercase()
                        } else {
                            c
                        }
                    })
                    .collect();
                for spelled in [spelling, &lower, &mixed] {
                    assert_eq!(fast(&format!("{spelled}{args}")).verb(), verb);
                    if verb == Verb::Help {
                        let line = format!("help {spelled}");
                        assert_eq!(fast(&line), Request::Help { topic: Some(verb) });
                    }
                }
            }
        }
    }

    #[test]
    fn verb_table_agrees_with_from_token() {
        for token in [
            &b""[..],
            b"H",
            b"HELL",
            b"HELLOO",
            b"LIST",
            b"LS",
            b"_",
            b"DOWNLOAD_FILES",
            b"DELETE_BUCKE",
            b"UPLOAD_FILE_",
            b"download_file",
            b"Exit",
        ] {
            let found = verb_info(key_of(token)).and_then(|info| info.verb);
            assert_eq!(found, Verb::from_bytes(token), "{token:?}");
        }
        for &verb in Verb::ALL {
            for spelling in std::iter::once(verb.as_str()).chain(verb.aliases().iter().copied()) {
                let info = verb_info(key_of(spelling.as_bytes())).unwrap();
                assert_eq!(info.verb, Some(verb));
                assert_eq!(info.required, verb.required().len());
                assert_eq!(info.max, verb.max_args());
                let fields: Vec<Field> = verb
                    .required()
                    .iter()
                    .chain(verb.optional())
                    .copied()
                    .collect();
                assert_eq!(&info.fields[..info.max], &fields[..]);
            }
        }
    }

    #[test]
    fn separators_as_the_grammar_has_them() {
        let upload = Request::Upload {
            bucket: bucket("b"),
            name: file("f"),
            size: 1,
        };
        for line in [
            "UPLOAD,b,f,1",
            "UPLOAD b\tf,  1",
            " \t UPLOAD b f 1",
            "UPLOAD ,, b f 1 ,\t",
            "upload\tb\tf\t1\t",
        ] {
            assert_eq!(fast(line), upload, "{line:?}");
        }
        assert_eq!(fast("NEW_BUCKET,scratch").verb(), Verb::CreateBucket);
        assert_eq!(fast("LIST_F ,"), Request::ListFiles { bucket: None });
        assert_eq!(fast("HELLO "), Request::Hello);
        assert_eq!(fast("  HELLO\t,"), Request::Hello);
    }

    #[test]
    fn lines_left_to_the_grammar() {
        for line in [
            &b""[..],
            b" ",
            b" \t, ",
            b",",
            b",HELLO",
            b"HELLO x",
            b"HELLO1",
            b"HELLO\"",
            b"HELL",
            b"CREATE_B",
            b"UPLOAD",
            b"UPLOAD b",
            b"UPLOAD b f",
            b"DOWNLOAD b",
            b"DELETE_F b",
            b"UPLOAD b f 1 x",
            b"LIST_F a b",
            b"HELP a b",
            b"HELP nope",
            b"HELP up-load",
            b"HELP ls_f1",
            b"HELP DOWNLOAD_FILES",
            b"CREATE_B \"photos\"",
            b"CREATE_B pho\"tos\"",
            b"DOWNLOAD b \"cat 1.png\"",
            b"DOWNLOAD b a\\b",
            b"CREATE_B caf\xc3\xa9",
            b"DOWNLOAD b caf\xc3\xa9",
            b"DOWNLOAD b \xff",
            b"HELLO \x7f",
            b"DOWNLOAD b a\x01b",
            b"DOWNLOAD b f\r",
            b"HELLO\r",
            b"CREATE_B .hidden",
            b"CREATE_B a/b",
            b"CREATE_B a:b",
            b"DOWNLOAD b .",
            b"DOWNLOAD b ..",
            b"DOWNLOAD b .bkt-x",
            b"DOWNLOAD b .bkt-",
            b"DOWNLOAD b a/b",
            b"DOWNLOAD b /",
            b"DOWNLOAD .. f",
            b"UPLOAD b f -1",
            b"UPLOAD b f +1",
            b"UPLOAD b f 1.5",
            b"UPLOAD b f 1e3",
            b"UPLOAD b f 12a",
            b"UPLOAD b f 18446744073709551616",
            b"UPLOAD b f 99999999999999999999",
            b"UPLOAD b f 123456789012345678901234567890",
            b"UPLOAD b .. 1",
            b"UPLOAD .b f 1",
        ] {
            falls_back(line);
        }
    }

    #[test]
    fn sizes() {
        let size = |line: &str| match fast(line) {
            Request::Upload { size, .. } => size,
            other => panic!("{other:?}"),
        };
        assert_eq!(size("UPLOAD b f 0"), 0);
        assert_eq!(size("UPLOAD b f 007"), 7);
        assert_eq!(size("UPLOAD b f 18446744073709551615"), u64::MAX);
        assert_eq!(size("UPLOAD b f 00000000000000000000001"), 1);
        let mut digits = String::new();
        for d in (1..=9).cycle().take(19) {
            digits.push(char::from(b'0' + d));
            assert_eq!(
                size(&format!("UPLOAD b f {digits}")),
                digits.parse().unwrap()
            );
            assert_eq!(
                size(&format!("UPLOAD b f {digits},")),
                digits.parse().unwrap()
            );
        }
    }

    #[test]
    fn name_lengths_and_word_boundaries() {
        for len in 1..=70 {
            let name = "b".repeat(len);
            let bucket_line = format!("CREATE_B {name}");
            if len <= MAX_BUCKET_NAME_LEN {
                assert_eq!(fast(&bucket_line).bucket().unwrap().len(), len);
            } else {
                falls_back(bucket_line.as_bytes());
            }
            // Names ending at every offset within a word, with a bad byte
            // right at the end, right after, and inside.
            let line = format!("DOWNLOAD b {name}");
            assert_eq!(fast(&line).file().unwrap().len(), len);
            falls_back(format!("DOWNLOAD b {name}/").as_bytes());
            falls_back(format!("CREATE_B {name}/").as_bytes());
            falls_back(format!("CREATE_B {name}\"").as_bytes());
            falls_back(format!("CREATE_B {name}\x00").as_bytes());
            let mut inside = name.clone().into_bytes();
            inside[len / 2] = b'/';
            falls_back(&[&b"DOWNLOAD b "[..], &inside].concat());
            inside[len / 2] = 0xC3;
            falls_back(&[&b"DOWNLOAD b "[..], &inside].concat());
        }
        for len in [254, 255, 256, 300] {
            let line = format!("DOWNLOAD b {}", "f".repeat(len));
            if len <= MAX_FILE_NAME_LEN {
                assert_eq!(fast(&line).file().unwrap().len(), len);
            } else {
                falls_back(line.as_bytes());
            }
        }
    }

    #[test]
    fn framing_in_one_pass() {
        assert_eq!(request_line(b"HELLO\nQUIT\n"), Some((Request::Hello, 6)));
        assert_eq!(request_line(b"HELLO\r\n"), Some((Request::Hello, 7)));
        // Only one CR belongs to the terminator; a lone CR is content.
        for input in [
            &b"HELLO\r\r\n"[..],
            b"HELLO\rX\n",
            b"HELLO\r",
            b"HELLO",
            b"",
            b"UPLOAD b f 12",
            b"DOWNLOAD b f",
        ] {
            assert_eq!(request_line(input), None, "{input:?}");
        }
        // The line limit counts the terminator (4096 bytes).
        let name = |n: usize| "f".repeat(n);
        let at_limit = format!("DOWNLOAD b {}", name(MAX_LINE_LEN - 12));
        assert_eq!(at_limit.len() + 1, MAX_LINE_LEN);
        // Within the limit, but the name is too long for the fast path.
        assert_eq!(request_line(format!("{at_limit}\n").as_bytes()), None);
        assert_eq!(request_line(format!("{at_limit}\r\n").as_bytes()), None);
        // The grammar agrees about the limit.
        assert!(matches!(
            decode::request_reference(format!("{at_limit}\r\n").as_bytes()),
            Err(crate::RequestError::LineTooLong { .. })
        ));
    }

    #[test]
    fn words_read_past_the_end_as_nul() {
        let data: Vec<u8> = (1..=20).collect();
        for len in 0..=data.len() {
            let buf = &data[..len];
            for i in 0..=len + 9 {
                let expected = (0..8).fold(0u64, |w, k| {
                    w | u64::from(buf.get(i + k).copied().unwrap_or(0)) << (8 * k)
                });
                assert_eq!(word(buf, i), expected, "len {len}, at {i}");
            }
        }
    }

    #[test]
    fn swar_classes_match_the_byte_rules() {
        let bucket_byte = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-');
        let bare = |b: u8| is_bare(b);
        /// A SWAR class test, and the byte rule it stands for.
        type Check<'a> = (&'a str, fn(u64) -> u64, &'a dyn Fn(u8) -> bool);
        let checks: [Check<'_>; 5] = [
            ("verb", not_verb, &|b: u8| {
                b.is_ascii_alphabetic() || b == b'_'
            }),
            ("bucket", not_bucket, &bucket_byte),
            ("file", not_file, &|b: u8| bare(b) && b != b'/'),
            ("digit", not_digit, &|b: u8| b.is_ascii_digit()),
            ("bare", not_bare, &bare),
        ];
        for (name, flags, rule) in checks {
            for b in 0..=255u8 {
                for lane in 0..8 {
                    // The byte among neighbours of every kind.
                    for filler in [b'a', b'0', 0x00, 0xFF, b' ', 0x7F] {
                        let mut bytes = [filler; 8];
                        bytes[lane] = b;
                        let got = flags(u64::from_le_bytes(bytes));
                        let flagged = got & (0x80 << (8 * lane)) != 0;
                        assert_eq!(flagged, !rule(b), "{name}: byte {b:#04x} in lane {lane}");
                        assert_eq!(got & !HIGH, 0, "{name}: flags only in high bits");
                    }
                }
            }
        }
    }

    #[test]
    fn eight_digits_at_every_length() {
        let line = b"x 1234567890123456 y";
        for at in 2..18 {
            for len in 1..=8.min(18 - at) {
                let text = std::str::from_utf8(&line[at..at + len]).unwrap();
                assert_eq!(eight_digits(line, at, len), text.parse::<u64>().unwrap());
            }
        }
    }
}
