#![no_main]
// Invariants: bucket_fuzz::roundtrip (fuzz/src/lib.rs, docs/fuzzing.md).
libfuzzer_sys::fuzz_target!(|input: bucket_fuzz::Roundtrip| bucket_fuzz::roundtrip(&input));
