//! `burrow system df|prune|info`: the store as a whole.

mod df;
mod prune;

use std::path::Path;

use anyhow::Result;

#[derive(clap::Subcommand)]
pub enum Command {
    /// Show the disk space images, containers and volumes use.
    Df(df::Args),
    /// Remove stopped containers, unused networks, dangling images (and unused volumes).
    Prune(prune::Args),
    /// Same as `burrow info`.
    Info(super::info::Args),
}

pub fn run(root: Option<&Path>, command: Command) -> Result<i32> {
    match command {
        Command::Df(a) => df::run(root, a),
        Command::Prune(a) => prune::run(root, a),
        Command::Info(a) => super::info::run(root, a),
    }
}
