use palisade_macros::resilient;

#[resilient(
    preset = "database",
    timeout = "5 parsecs",
    total_timeout = "30",
    base_delay = 2,
    max_delay = "1.5ns",
    recovery_timeout = "30s1m",
)]
fn bad_durations() -> Result<(), std::io::Error> {
    Ok(())
}

#[resilient(timeout = "-5s", total_timeout = "1y", recovery_timeout = "")]
fn negative_and_without_fixed_length() -> Result<(), std::io::Error> {
    Ok(())
}

#[resilient(timeout_seconds = "15s")]
fn seconds_as_string() -> Result<(), std::io::Error> {
    Ok(())
}

fn main() {}
