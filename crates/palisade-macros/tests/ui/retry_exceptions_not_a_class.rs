use palisade_macros::resilient;

#[resilient(operation_type = "api", retry_exceptions = "ConnectionError")]
fn call() -> Result<(), std::io::Error> {
    Ok(())
}

fn main() {
    let _ = call();
}
