use palisade_macros::resilient;

#[resilient(preset = "database", max_attempt = 3)]
fn typo() -> Result<(), std::io::Error> {
    Ok(())
}

#[resilient(preset = "database", max_retries = 3)]
fn synonym() -> Result<(), std::io::Error> {
    Ok(())
}

#[resilient(preset = "database", colour = "blue")]
fn nothing_close() -> Result<(), std::io::Error> {
    Ok(())
}

fn main() {}
