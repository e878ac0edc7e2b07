use palisade_macros::resilient;

#[resilient(preset = "databse")]
fn typo() -> Result<(), std::io::Error> {
    Ok(())
}

#[resilient(preset = "postgres")]
fn unknown() -> Result<(), std::io::Error> {
    Ok(())
}

#[resilient(preset = database)]
fn unquoted() -> Result<(), std::io::Error> {
    Ok(())
}

fn main() {}
