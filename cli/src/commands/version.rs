//! `burrow version`: Docker's Client/Server block. burrow has no daemon: the
//! "server" is the same binary, that runs the supervisors.

use anyhow::Result;

/// The Docker Engine API version whose behaviour burrow's CLI follows.
pub const API_VERSION: &str = "1.43";

#[derive(clap::Args)]
pub struct Args {
    /// json, or a Go-style template such as '{{.Client.Version}}'.
    #[arg(short, long)]
    format: Option<String>,
}

pub fn run(args: Args) -> Result<i32> {
    let info = info();
    match args.format.as_deref() {
        Some("json") | Some("{{json .}}") => println!("{}", serde_json::to_string(&info)?),
        Some(template) => println!("{}", super::inspect::render_path(template, &info)),
        None => print!("{}", text(&info)),
    }
    Ok(0)
}

fn info() -> serde_json::Value {
    let version = env!("CARGO_PKG_VERSION");
    let rust = env!("BURROW_RUSTC_VERSION");
    let os_arch = format!("{}/{}", std::env::consts::OS, go_arch());
    serde_json::json!({
        "Client": {
            "Platform": {"Name": "burrow"},
            "Version": version,
            "ApiVersion": API_VERSION,
            "DefaultAPIVersion": API_VERSION,
            "GoVersion": rust,
            "Os": std::env::consts::OS,
            "Arch": go_arch(),
            "OsArch": os_arch,
            "Context": "default",
        },
        "Server": {
            "Platform": {"Name": "burrow (rootless, daemonless)"},
            "Version": version,
            "ApiVersion": API_VERSION,
            "MinAPIVersion": "1.12",
            "GoVersion": rust,
            "Os": std::env::consts::OS,
            "Arch": go_arch(),
            "OsArch": os_arch,
            "Experimental": false,
        },
    })
}

fn text(info: &serde_json::Value) -> String {
    let field = |side: &str, key: &str| info[side][key].as_str().unwrap_or_default().to_string();
    format!(
        "Client:\n \
         Version:           {}\n \
         API version:       {}\n \
         Rust version:      {}\n \
         OS/Arch:           {}\n \
         Context:           default\n\
         \n\
         Server: {}\n \
         Engine:\n  \
         Version:          {}\n  \
         API version:      {} (minimum version {})\n  \
         Rust version:     {}\n  \
         OS/Arch:          {}\n  \
         Experimental:     false\n",
        field("Client", "Version"),
        field("Client", "ApiVersion"),
        field("Client", "GoVersion"),
        field("Client", "OsArch"),
        info["Server"]["Platform"]["Name"]
            .as_str()
            .unwrap_or_default(),
        field("Server", "Version"),
        field("Server", "ApiVersion"),
        field("Server", "MinAPIVersion"),
        field("Server", "GoVersion"),
        field("Server", "OsArch"),
    )
}

/// Go's names for architectures, as Docker prints them.
fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    }
}
