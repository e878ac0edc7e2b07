use palisade_macros::resilient;

#[resilient]
fn bare() -> Result<(), std::io::Error> {
    Ok(())
}

#[resilient(operation_type = "custom", operation_name = "noop")]
fn custom_without_settings() -> Result<(), std::io::Error> {
    Ok(())
}

#[resilient(database)]
fn bare_word() -> Result<(), std::io::Error> {
    Ok(())
}

fn main() {}
