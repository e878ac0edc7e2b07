//! Shared helpers for the Palisade benchmarks (the benches live in `benches/`).
