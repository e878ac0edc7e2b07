use palisade_macros::resilient;

#[resilient(preset = "api", base_delay = "2s", max_delay = "1s")]
fn cap_below_first_delay() -> Result<(), std::io::Error> {
    Ok(())
}

// Without a preset, a lone delay is checked against retry's defaults (1 s, capped at 30 s).
#[resilient(base_delay = "45s")]
fn past_the_default_cap() -> Result<(), std::io::Error> {
    Ok(())
}

fn main() {}
