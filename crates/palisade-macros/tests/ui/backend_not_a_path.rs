use palisade::resilient;

#[resilient(preset = "api", backend = "fleet")]
fn quoted(id: u64) -> Result<u64, String> {
    Ok(id)
}

fn main() {}
