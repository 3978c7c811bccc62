//! Container ids (64 hex digits) and names (Docker's rules and its
//! adjective_noun style for generated ones).

use std::io::Read;

use crate::error::{EngineError, IoContext, Result};

/// 32 random bytes from the kernel, as 64 hex digits.
pub fn new_id() -> Result<String> {
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .context(|| "cannot read /dev/urandom".into())?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

pub fn validate_name(name: &str) -> Result<()> {
    let mut chars = name.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
        && name.len() <= 128;
    if ok {
        Ok(())
    } else {
        Err(EngineError::InvalidName(name.into()))
    }
}

const ADJECTIVES: [&str; 16] = [
    "brave", "calm", "eager", "fond", "gentle", "happy", "keen", "lucid", "merry", "nimble",
    "quiet", "sharp", "swift", "tender", "vivid", "wise",
];
const NOUNS: [&str; 16] = [
    "badger", "beaver", "hare", "hedgehog", "marmot", "mole", "otter", "rabbit", "shrew", "stoat",
    "vole", "weasel", "wombat", "gopher", "fox", "mink",
];

/// A readable name derived from the id's random bytes.
pub fn generated_name(id: &str, attempt: usize) -> String {
    let byte = |i: usize| usize::from_str_radix(&id[i * 2..i * 2 + 2], 16).unwrap_or(0);
    let base = format!("{}_{}", ADJECTIVES[byte(0) % 16], NOUNS[byte(1) % 16]);
    if attempt == 0 {
        base
    } else {
        format!("{base}{}", attempt + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_64_hex_and_differ() {
        let a = new_id().unwrap();
        let b = new_id().unwrap();
        assert_eq!(a.len(), 64);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }

    #[test]
    fn names_follow_dockers_rules() {
        assert!(validate_name("web-1.a_b").is_ok());
        assert!(validate_name("-x").is_err());
        assert!(validate_name("a/b").is_err());
        assert!(validate_name("").is_err());
    }

    #[test]
    fn generated_names_are_stable_and_numbered() {
        let id = "00".repeat(32);
        assert_eq!(generated_name(&id, 0), "brave_badger");
        assert_eq!(generated_name(&id, 2), "brave_badger3");
    }
}
