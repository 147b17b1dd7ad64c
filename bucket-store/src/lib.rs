//! Placeholder: filled by the end-to-end issue.
