//! `burrow logout [SERVER]`: forgets the credentials `login` stored for a registry:
//! erased through the credential helper configured for it (`credsStore`/`credHelpers`)
//! and removed from burrow's file. Inline `auths` of `~/.docker/config.json` are
//! Docker's and stay.

use anyhow::Result;
use burrow_engine::images;

#[derive(clap::Args)]
pub struct Args {
    /// Registry host (`host[:port]`); Docker Hub when omitted.
    server: Option<String>,
}

pub fn run(args: Args) -> Result<i32> {
    let host = images::login_host(args.server.as_deref());
    if images::logout(&host)? {
        println!("Removing login credentials for {host}");
    } else {
        println!("Not logged in to {host}");
    }
    Ok(0)
}
