//! What the training examples share: their flag values, parsed or the process exits 2.

/// `value` parsed as `T`, or exit 2 naming `flag` (no value, or one that does not parse).
pub fn parse<T: std::str::FromStr>(flag: &str, value: Option<String>) -> T {
    match value.as_deref().map(str::parse) {
        Some(Ok(v)) => v,
        _ => {
            eprintln!("error: {flag} needs a valid value");
            std::process::exit(2);
        }
    }
}
