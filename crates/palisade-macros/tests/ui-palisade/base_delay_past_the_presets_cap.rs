// The cache preset caps delays at 1 s: a 2 s first delay cannot fit.
use palisade_macros::resilient;

#[resilient(preset = "cache", base_delay = "2s")]
fn get(key: &str) -> Result<String, std::io::Error> {
    Ok(key.to_string())
}

fn main() {
    let _ = get("k");
}
