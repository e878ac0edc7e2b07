//! Compile errors of `#[resilient]`: each case under `tests/ui/` must fail with the message in
//! its `.stderr` (regenerate with `TRYBUILD=overwrite cargo test -p palisade-macros --test ui`,
//! then read them: they are the attribute's user interface).

#[test]
fn misuse_is_a_clear_compile_error() {
    trybuild::TestCases::new().compile_fail("tests/ui/*.rs");
}
