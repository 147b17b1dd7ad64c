#![no_main]
// Invariants: bucket_fuzz::reply (fuzz/src/lib.rs, docs/fuzzing.md).
libfuzzer_sys::fuzz_target!(|data: &[u8]| bucket_fuzz::reply(data));
