use palisade_macros::resilient;

#[resilient(preset = "api")]
struct Client;

#[resilient(preset = "api")]
impl Client {
    fn get(&self) -> Result<u8, std::io::Error> {
        Ok(1)
    }
}

trait Fetch {
    #[resilient(preset = "api")]
    fn fetch(&self) -> Result<u8, std::io::Error>;
}

fn main() {}
