// Arguments that would silently do nothing because the pipeline lacks their policy.
use palisade_macros::resilient;

fn fleet() -> palisade::backend::InProcess {
    palisade::backend::InProcess
}

#[resilient(preset = "api", enable_retry = false, idempotent = true)]
fn idempotent_without_retry() -> Result<(), std::io::Error> {
    Ok(())
}

#[resilient(max_attempts = 3, idempotent = true)]
fn idempotent_without_a_timeout() -> Result<(), std::io::Error> {
    Ok(())
}

#[resilient(preset = "api", enable_circuit_breaker = false, backend = fleet)]
fn backend_without_a_breaker() -> Result<(), std::io::Error> {
    Ok(())
}

#[resilient(max_attempts = 3, enable_circuit_breaker = true)]
fn nothing_to_enable() -> Result<(), std::io::Error> {
    Ok(())
}

fn main() {}
