use palisade_macros::resilient;

#[resilient(preset = "api", jitter = "full")]
fn jitter_string() -> Result<(), std::io::Error> {
    Ok(())
}

#[resilient(preset = "api", enable_timeout = 0)]
fn enable_timeout_number() -> Result<(), std::io::Error> {
    Ok(())
}

#[resilient(preset = "api", enable_retry = "false")]
fn enable_retry_string() -> Result<(), std::io::Error> {
    Ok(())
}

const ON: bool = true;

#[resilient(preset = "api", enable_circuit_breaker = ON)]
fn enable_circuit_breaker_constant() -> Result<(), std::io::Error> {
    Ok(())
}

fn main() {}
