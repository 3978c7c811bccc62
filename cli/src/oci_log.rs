//! runc's `--log`/`--log-format`: errors also go to the log file, one JSON
//! object per line when the format is json (conmon reads them from there).

use std::io::Write;
use std::path::PathBuf;

#[derive(Clone, Default)]
pub struct OciLog {
    pub path: Option<PathBuf>,
    pub json: bool,
}

impl OciLog {
    pub fn error(&self, message: &str) {
        eprintln!("burrow: {message}");
        let Some(path) = &self.path else {
            return;
        };
        let line = if self.json {
            serde_json::json!({
                "level": "error",
                "msg": message,
                "time": burrow_runtime::state::rfc3339_now(),
            })
            .to_string()
        } else {
            format!(
                "time=\"{}\" level=error msg={message:?}",
                burrow_runtime::state::rfc3339_now()
            )
        };
        if let Ok(mut file) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            let _ = writeln!(file, "{line}");
        }
    }
}
