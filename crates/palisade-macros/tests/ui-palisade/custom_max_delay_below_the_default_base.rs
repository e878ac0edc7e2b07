// "custom" is the default preset, whose first delay is 1 s: a 500 ms cap cannot hold it.
use palisade_macros::resilient;

#[resilient(operation_type = "custom", max_delay = "500ms")]
fn get(key: &str) -> Result<String, std::io::Error> {
    Ok(key.to_string())
}

fn main() {
    let _ = get("k");
}
