#![no_main]
// Invariants: bucket_fuzz::client_session (fuzz/src/lib.rs, docs/fuzzing.md).
libfuzzer_sys::fuzz_target!(|data: &[u8]| bucket_fuzz::client_session(data));
