//! Docker's human times: "5 seconds ago", "Up 2 minutes".

pub fn seconds_since(rfc3339: &str) -> Option<i64> {
    let then = burrow_runtime::state::parse_rfc3339(rfc3339)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_secs() as i64;
    Some((now - then).max(0))
}

pub fn human_duration(seconds: i64) -> String {
    match seconds {
        s if s < 1 => "Less than a second".into(),
        1 => "1 second".into(),
        s if s < 60 => format!("{s} seconds"),
        s if s < 120 => "About a minute".into(),
        s if s < 3600 => format!("{} minutes", s / 60),
        s if s < 7200 => "About an hour".into(),
        s if s < 172_800 => format!("{} hours", s / 3600),
        s => format!("{} days", s / 86_400),
    }
}

pub fn ago(rfc3339: &str) -> String {
    seconds_since(rfc3339)
        .map(|s| format!("{} ago", human_duration(s)))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_dockers() {
        assert_eq!(human_duration(0), "Less than a second");
        assert_eq!(human_duration(5), "5 seconds");
        assert_eq!(human_duration(90), "About a minute");
        assert_eq!(human_duration(600), "10 minutes");
        assert_eq!(human_duration(3 * 86_400), "3 days");
    }
}
