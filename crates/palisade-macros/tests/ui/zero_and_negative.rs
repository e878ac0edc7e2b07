use palisade_macros::resilient;

// Every bad value of one attribute is reported in one compile.
#[resilient(
    preset = "database",
    max_attempts = 0,
    failure_threshold = -1,
    timeout = "0s",
    recovery_timeout = -30.0,
    max_attempts_ = 1,
)]
fn bad_values() -> Result<(), std::io::Error> {
    Ok(())
}

fn main() {}
