//! Pulls one image into a store: the library's pull path end to end, for
//! `bench/pull.sh` until the engine's `burrow pull` exists.
//!
//! usage: pull ROOT REFERENCE [PLATFORM]
//! Layers are unpacked by the test stand-in (`burrow_image::testing::TarUnpacker`), not
//! by `burrow_fs::unpack`, since this crate may not depend on `fs/`.

use std::process::ExitCode;

use burrow_image::progress::Quiet;
use burrow_image::registry::{self, Client, RegistryOptions};
use burrow_image::testing::TarUnpacker;
use burrow_image::{Platform, Reference, Store};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [root, reference, rest @ ..] = args.as_slice() else {
        eprintln!("usage: pull ROOT REFERENCE [PLATFORM]");
        return ExitCode::from(2);
    };
    match run(root, reference, rest.first()) {
        Ok(id) => {
            println!("{id}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("pull: error: {message}");
            ExitCode::from(125)
        }
    }
}

fn run(root: &str, reference: &str, platform: Option<&String>) -> Result<String, String> {
    let reference = Reference::parse(reference).map_err(|e| e.to_string())?;
    let platform = match platform {
        Some(p) => Platform::parse(p).map_err(|e| e.to_string())?,
        None => Platform::default(),
    };
    let store = Store::open(root).map_err(|e| e.to_string())?;
    let client = Client::new(RegistryOptions::default());
    let record = registry::pull(&client, &store, &reference, &platform, &TarUnpacker, &Quiet)
        .map_err(|e| e.to_string())?;
    Ok(record.id.to_string())
}
