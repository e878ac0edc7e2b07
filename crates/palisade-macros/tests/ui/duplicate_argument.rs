use palisade_macros::resilient;

#[resilient(preset = "api", max_attempts = 3, max_attempts = 4)]
fn twice() -> Result<(), std::io::Error> {
    Ok(())
}

#[resilient(preset = "api", name = "a", operation_name = "b")]
fn alias() -> Result<(), std::io::Error> {
    Ok(())
}

#[resilient(preset = "api", timeout = "1s", timeout_seconds = 1.0)]
fn timeout_alias() -> Result<(), std::io::Error> {
    Ok(())
}

fn main() {}
