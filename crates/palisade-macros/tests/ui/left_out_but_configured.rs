// A setting of a policy that `enable_* = false` leaves out: both keys are named.
use palisade_macros::resilient;

#[resilient(operation_type = "custom", enable_retry = false, max_attempts = 5, jitter = false)]
fn retry_left_out() -> Result<(), std::io::Error> {
    Ok(())
}

#[resilient(preset = "database", enable_timeout = false, timeout_seconds = 15.0)]
fn timeout_left_out() -> Result<(), std::io::Error> {
    Ok(())
}

#[resilient(preset = "cache", enable_circuit_breaker = false, recovery_timeout = "45s")]
fn breaker_left_out() -> Result<(), std::io::Error> {
    Ok(())
}

fn main() {}
