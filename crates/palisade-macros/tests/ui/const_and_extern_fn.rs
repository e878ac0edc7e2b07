use palisade_macros::resilient;

#[resilient(preset = "api")]
const fn constant() -> Result<u8, u8> {
    Ok(1)
}

#[resilient(preset = "api")]
extern "C" fn foreign() -> Result<u8, u8> {
    Ok(1)
}

fn main() {}
