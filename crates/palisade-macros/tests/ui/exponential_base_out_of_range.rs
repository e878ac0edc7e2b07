use palisade_macros::resilient;

#[resilient(preset = "api", exponential_base = 1.0)]
fn no_growth() -> Result<(), std::io::Error> {
    Ok(())
}

#[resilient(preset = "api", exponential_base = 0.5)]
fn shrinking() -> Result<(), std::io::Error> {
    Ok(())
}

#[resilient(preset = "api", exponential_base = -2.0)]
fn negative() -> Result<(), std::io::Error> {
    Ok(())
}

#[resilient(preset = "api", exponential_base = 1e999)]
fn infinite() -> Result<(), std::io::Error> {
    Ok(())
}

#[resilient(preset = "api", exponential_base = "2")]
fn a_string() -> Result<(), std::io::Error> {
    Ok(())
}

const FACTOR: f64 = 2.0;

#[resilient(preset = "api", exponential_base = FACTOR)]
fn a_constant() -> Result<(), std::io::Error> {
    Ok(())
}

fn main() {}
