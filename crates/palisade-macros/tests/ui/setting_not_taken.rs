use palisade_macros::resilient;

#[resilient(operation_type = "api", retry_exceptions = "ConnectionError")]
fn with_exceptions() -> Result<(), std::io::Error> {
    Ok(())
}

fn main() {}
