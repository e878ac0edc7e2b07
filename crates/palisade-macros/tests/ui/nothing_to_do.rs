use palisade_macros::resilient;

#[resilient]
fn bare() -> Result<(), std::io::Error> {
    Ok(())
}

#[resilient(operation_name = "noop")]
fn only_a_name() -> Result<(), std::io::Error> {
    Ok(())
}

#[resilient(
    operation_type = "custom",
    enable_timeout = false,
    enable_retry = false,
    enable_circuit_breaker = false
)]
fn every_policy_left_out() -> Result<(), std::io::Error> {
    Ok(())
}

#[resilient(database)]
fn bare_word() -> Result<(), std::io::Error> {
    Ok(())
}

fn main() {}
