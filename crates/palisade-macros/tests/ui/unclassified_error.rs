// A preset classifies errors: an error type that does not say what it means is refused.
use palisade_macros::resilient;

#[derive(Debug)]
struct QueryFailed;

#[resilient(preset = "database")]
fn query() -> Result<u32, QueryFailed> {
    Err(QueryFailed)
}

fn main() {
    let _ = query();
}
