#![cfg(feature = "http")]
