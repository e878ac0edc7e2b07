// The cache preset starts at 100 ms: a 50 ms cap is below its first delay.
use palisade_macros::resilient;

#[resilient(preset = "cache", max_delay = 0.05)]
async fn get(key: &str) -> Result<String, std::io::Error> {
    Ok(key.to_string())
}

fn main() {
    let _ = get("k");
}
