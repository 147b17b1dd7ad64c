//! Validated names: [`BucketName`] and [`FileName`].
//!
//! A value of either type has passed the rules of PROTOCOL.md § Names, so it
//! can be joined to a store's root without reaching outside it. The only ways
//! to build one are [`TryFrom`] / [`BucketName::new`] / [`FileName::new`], which
//! validate; there is no unchecked constructor.
//!
//! Both types borrow when they can (`Cow<'a, str>`): a name parsed from a bare
//! request argument points into the received bytes, a quoted one with escapes
//! owns its unescaped text. [`BucketName::into_owned`] detaches either from
//! its input.

use std::borrow::{Borrow, Cow};
use std::fmt;

/// Largest bucket name, in bytes (PROTOCOL.md § Names).
pub const MAX_BUCKET_NAME_LEN: usize = 63;
/// Largest file name, in bytes of UTF-8 (PROTOCOL.md § Names).
pub const MAX_FILE_NAME_LEN: usize = 255;
/// Prefix no file name may start with: reserved for a store's own files
/// (staging uploads, metadata). PROTOCOL.md § Names.
pub const RESERVED_FILE_PREFIX: &str = ".bkt-";

/// Why a name was refused. Every variant is answered on the wire with the
/// reason `BAD_NAME` (PROTOCOL.md § Names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NameError {
    /// The name has no bytes.
    #[error("name is empty")]
    Empty,
    /// The name is longer than the limit, in bytes.
    #[error("name is {len} bytes, the limit is {max}")]
    TooLong {
        /// Length of the refused name, in bytes.
        len: usize,
        /// The limit, in bytes.
        max: usize,
    },
    /// The name holds a character its kind does not allow. Displayed as
    /// written (`'\'`), a control character escaped (`'\u{1b}'`).
    #[error("character '{}' is not allowed in this name", shown_char(*.0))]
    InvalidChar(char),
    /// A bucket name starts with `.`.
    #[error("a bucket name may not start with '.'")]
    LeadingDot,
    /// A file name is `.` or `..`.
    #[error("'.' and '..' are not file names")]
    DotName,
    /// A file name starts with the reserved prefix `.bkt-`.
    #[error("file names starting with '.bkt-' are reserved")]
    Reserved,
}

/// A character for an error message: as written, but a control character
/// escaped, so that it cannot act on a terminal.
fn shown_char(c: char) -> String {
    if c.is_control() {
        c.escape_default().collect()
    } else {
        c.to_string()
    }
}

/// Checks the bucket-name rule: 1–63 bytes of `A–Z a–z 0–9 . _ -`, not
/// starting with `.` (PROTOCOL.md § Names).
///
/// # Errors
/// The first rule the name breaks, as a [`NameError`].
pub fn validate_bucket_name(name: &str) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    if name.len() > MAX_BUCKET_NAME_LEN {
        return Err(NameError::TooLong {
            len: name.len(),
            max: MAX_BUCKET_NAME_LEN,
        });
    }
    if let Some(at) = name
        .bytes()
        .position(|b| !(b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')))
    {
        // Every byte before `at` is ASCII, so `at` starts a character.
        return Err(NameError::InvalidChar(
            name[at..].chars().next().unwrap_or('\0'),
        ));
    }
    if name.starts_with('.') {
        return Err(NameError::LeadingDot);
    }
    Ok(())
}

/// Checks the file-name rule: 1–255 bytes of UTF-8, no `/`, `\`, NUL, C0
/// control or DEL, not `.` or `..`, not starting with `.bkt-` (PROTOCOL.md §
/// Names).
///
/// # Errors
/// The first rule the name breaks, as a [`NameError`].
pub fn validate_file_name(name: &str) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    if name.len() > MAX_FILE_NAME_LEN {
        return Err(NameError::TooLong {
            len: name.len(),
            max: MAX_FILE_NAME_LEN,
        });
    }
    // Every refused character is ASCII, so a byte scan finds it.
    if let Some(&b) = name
        .as_bytes()
        .iter()
        .find(|&&b| b == b'/' || b == b'\\' || b.is_ascii_control())
    {
        return Err(NameError::InvalidChar(char::from(b)));
    }
    if name == "." || name == ".." {
        return Err(NameError::DotName);
    }
    if name.starts_with(RESERVED_FILE_PREFIX) {
        return Err(NameError::Reserved);
    }
    Ok(())
}

macro_rules! name_type {
    ($(#[$doc:meta])* $ty:ident, $validate:path) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $ty<'a>(Cow<'a, str>);

        impl<'a> $ty<'a> {
            /// Validates `name` and wraps it, borrowing when given a `&str`.
            ///
            /// # Errors
            /// [`NameError`] naming the first rule `name` breaks.
            pub fn new(name: impl Into<Cow<'a, str>>) -> Result<Self, NameError> {
                let name = name.into();
                $validate(&name)?;
                Ok(Self(name))
            }

            /// Wraps `name`, borrowed, without validating it again: for the
            /// request fast path (`crate::scan`), which has already checked
            /// every rule of PROTOCOL.md § Names on the bytes. Crate-private,
            /// so the public API still has no unchecked constructor; debug
            /// builds re-run the validator.
            pub(crate) fn from_validated(name: &'a str) -> Self {
                debug_assert_eq!($validate(name), Ok(()), "{name:?} was not valid");
                Self(Cow::Borrowed(name))
            }

            /// The name as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The inner `Cow`, borrowed or owned as it was built.
            pub fn into_inner(self) -> Cow<'a, str> {
                self.0
            }

            /// A copy that owns its text, detached from the input it was
            /// parsed from.
            pub fn into_owned(self) -> $ty<'static> {
                $ty(Cow::Owned(self.0.into_owned()))
            }

            /// A borrowed view of this name (no allocation).
            pub fn borrowed(&self) -> $ty<'_> {
                $ty(Cow::Borrowed(&self.0))
            }
        }

        impl<'a> TryFrom<&'a str> for $ty<'a> {
            type Error = NameError;
            fn try_from(name: &'a str) -> Result<Self, NameError> {
                Self::new(name)
            }
        }

        impl TryFrom<String> for $ty<'static> {
            type Error = NameError;
            fn try_from(name: String) -> Result<Self, NameError> {
                Self::new(name)
            }
        }

        impl<'a> TryFrom<&'a String> for $ty<'a> {
            type Error = NameError;
            fn try_from(name: &'a String) -> Result<Self, NameError> {
                Self::new(name.as_str())
            }
        }

        impl From<$ty<'_>> for String {
            fn from(name: $ty<'_>) -> String {
                name.0.into_owned()
            }
        }

        impl std::str::FromStr for $ty<'static> {
            type Err = NameError;
            fn from_str(name: &str) -> Result<Self, NameError> {
                Self::new(name.to_owned())
            }
        }

        impl AsRef<str> for $ty<'_> {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl Borrow<str> for $ty<'_> {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl std::ops::Deref for $ty<'_> {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $ty<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $ty<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&*self.0, f)
            }
        }

        impl PartialEq<str> for $ty<'_> {
            fn eq(&self, other: &str) -> bool {
                *self.0 == *other
            }
        }

        impl PartialEq<&str> for $ty<'_> {
            fn eq(&self, other: &&str) -> bool {
                *self.0 == **other
            }
        }
    };
}

name_type!(
    /// A bucket name: 1–63 bytes of `A–Z a–z 0–9 . _ -`, not starting with
    /// `.` (PROTOCOL.md § Names). Safe to use as one path component.
    ///
    /// ```
    /// use bucket_proto::BucketName;
    /// assert!(BucketName::new("photos-2024").is_ok());
    /// assert!(BucketName::new("..").is_err());
    /// assert!(BucketName::new("a/b").is_err());
    /// ```
    BucketName,
    validate_bucket_name
);

name_type!(
    /// A file name: 1–255 bytes of UTF-8 with no `/`, `\`, NUL, C0 control or
    /// DEL, not `.` or `..`, not starting with `.bkt-` (PROTOCOL.md § Names).
    /// Safe to use as one path component.
    ///
    /// ```
    /// use bucket_proto::FileName;
    /// assert!(FileName::new("cat 1.png").is_ok());
    /// assert!(FileName::new("../etc/passwd").is_err());
    /// assert!(FileName::new(".bkt-staging").is_err());
    /// ```
    FileName,
    validate_file_name
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_character_is_shown_as_written_and_a_control_escaped() {
        let shown = |c| NameError::InvalidChar(c).to_string();
        assert_eq!(shown('\\'), r"character '\' is not allowed in this name");
        assert_eq!(shown('/'), "character '/' is not allowed in this name");
        assert_eq!(
            shown('\u{1b}'),
            r"character '\u{1b}' is not allowed in this name"
        );
        assert_eq!(shown('\n'), r"character '\n' is not allowed in this name");
    }

    #[test]
    fn bucket_names_accepted() {
        for ok in ["a", "A-Z_0.9", "photos", "x.", "_", "-", &"b".repeat(63)] {
            assert_eq!(validate_bucket_name(ok), Ok(()), "{ok:?}");
        }
    }

    #[test]
    fn bucket_name_rules() {
        assert_eq!(validate_bucket_name(""), Err(NameError::Empty));
        assert_eq!(
            validate_bucket_name(&"b".repeat(64)),
            Err(NameError::TooLong { len: 64, max: 63 })
        );
        assert_eq!(validate_bucket_name(".hidden"), Err(NameError::LeadingDot));
        assert_eq!(validate_bucket_name("."), Err(NameError::LeadingDot));
        assert_eq!(validate_bucket_name(".."), Err(NameError::LeadingDot));
        for (bad, c) in [
            ("a/b", '/'),
            ("a\\b", '\\'),
            ("a b", ' '),
            ("é", 'é'),
            ("a\0", '\0'),
            ("a,b", ','),
            ("a:b", ':'),
        ] {
            assert_eq!(validate_bucket_name(bad), Err(NameError::InvalidChar(c)));
        }
    }

    #[test]
    fn file_names_accepted() {
        for ok in [
            "a",
            "cat 1.png",
            "ünïcødé ✓",
            "a,b\"c",
            ".hidden",
            "...",
            ".bkt",
            "x.bkt-y",
            &"é".repeat(127), // 254 bytes
        ] {
            assert_eq!(validate_file_name(ok), Ok(()), "{ok:?}");
        }
    }

    #[test]
    fn file_name_rules() {
        assert_eq!(validate_file_name(""), Err(NameError::Empty));
        assert_eq!(
            validate_file_name(&"f".repeat(256)),
            Err(NameError::TooLong { len: 256, max: 255 })
        );
        // 128 two-byte chars = 256 bytes: the limit counts bytes, not chars.
        assert!(matches!(
            validate_file_name(&"é".repeat(128)),
            Err(NameError::TooLong { len: 256, .. })
        ));
        assert_eq!(validate_file_name("."), Err(NameError::DotName));
        assert_eq!(validate_file_name(".."), Err(NameError::DotName));
        assert_eq!(validate_file_name(".bkt-up-1"), Err(NameError::Reserved));
        for (bad, c) in [
            ("a/b", '/'),
            ("../x", '/'),
            ("a\\b", '\\'),
            ("a\0b", '\0'),
            ("a\nb", '\n'),
            ("a\tb", '\t'),
            ("a\x7fb", '\x7f'),
            ("a\x1bb", '\x1b'),
        ] {
            assert_eq!(validate_file_name(bad), Err(NameError::InvalidChar(c)));
        }
    }

    #[test]
    fn newtypes_validate_and_borrow() {
        let text = String::from("photos");
        let b = BucketName::new(text.as_str()).expect("valid");
        assert!(matches!(b.clone().into_inner(), Cow::Borrowed(_)));
        assert_eq!(b, "photos");
        let owned: BucketName<'static> = b.into_owned();
        assert_eq!(owned.as_str(), "photos");
        assert!(BucketName::try_from("bad name").is_err());
        assert!("../x".parse::<FileName<'static>>().is_err());
        let f: FileName<'static> = "x.txt".parse().expect("valid");
        assert_eq!(f.to_string(), "x.txt");
    }
}
