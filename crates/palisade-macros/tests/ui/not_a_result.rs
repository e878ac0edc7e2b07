use palisade_macros::resilient;
use std::future::Future;
use std::io;

#[resilient(preset = "api")]
fn returns_nothing() {}

#[resilient(preset = "api")]
fn one_parameter_alias() -> io::Result<u8> {
    Ok(1)
}

#[resilient(preset = "api")]
fn option() -> Option<u8> {
    Some(1)
}

#[resilient(preset = "api")]
fn opaque() -> impl Future<Output = Result<u8, io::Error>> {
    async { Ok(1) }
}

#[resilient(preset = "api")]
fn opaque_error() -> Result<u8, impl std::error::Error> {
    Ok::<u8, io::Error>(1)
}

fn main() {}
