use palisade_macros::resilient;

const ATTEMPTS: u32 = 3;

#[resilient(preset = "cache", max_attempts = ATTEMPTS, timeout = std::time::Duration::from_secs(1))]
fn constants() -> Result<(), std::io::Error> {
    Ok(())
}

#[resilient(preset = "cache", name = get_user, max_attempts = 2.5)]
fn wrong_kinds() -> Result<(), std::io::Error> {
    Ok(())
}

fn main() {}
