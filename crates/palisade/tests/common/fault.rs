//! A classified error for tests of classified pipelines (presets, registries, configuration).

use std::fmt;

use palisade::classify::{Classify, ErrorClass};

/// "The dependency is down": the connection was refused, so the call never reached it
/// (`Unreached`: retried by every classified pipeline, counted by its breaker).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Down;

impl fmt::Display for Down {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("down")
    }
}

impl std::error::Error for Down {}

impl Classify for Down {
    fn class(&self) -> ErrorClass {
        ErrorClass::Unreached
    }
}
