#![no_main]
// Invariants: bucket_fuzz::request_line (fuzz/src/lib.rs, docs/fuzzing.md).
libfuzzer_sys::fuzz_target!(|data: &[u8]| bucket_fuzz::request_line(data));
