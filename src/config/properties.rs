//! The `java.util.Properties` subset that Kafka's `server.properties` files use: `key=value` or
//! `key: value` lines, `#` and `!` comments, blank lines. Line continuations and escapes are
//! rejected with the line number rather than half-supported.

use std::collections::BTreeMap;

use super::ConfigError;

pub fn parse_properties(path: &str, text: &str) -> Result<BTreeMap<String, String>, ConfigError> {
    let mut props = BTreeMap::new();
    for (index, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
            continue;
        }
        let syntax = |reason: &str| ConfigError::Syntax {
            path: path.to_string(),
            line: index + 1,
            reason: reason.to_string(),
        };
        if line.ends_with('\\') {
            return Err(syntax("line continuations are not supported"));
        }
        let split = line
            .find(['=', ':'])
            .ok_or_else(|| syntax("expected key=value"))?;
        let key = line[..split].trim();
        let value = line[split + 1..].trim();
        if key.is_empty() {
            return Err(syntax("empty key"));
        }
        if props.insert(key.to_string(), value.to_string()).is_some() {
            return Err(syntax(&format!("`{key}` is set twice")));
        }
    }
    Ok(props)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kafka_style_files() {
        let props = parse_properties(
            "server.properties",
            "# comment\n! also\n\nbroker.id=1\nlog.dirs = /var/weir\nlisteners: PLAINTEXT://:9092\n",
        )
        .unwrap();
        assert_eq!(props["broker.id"], "1");
        assert_eq!(props["log.dirs"], "/var/weir");
        assert_eq!(props["listeners"], "PLAINTEXT://:9092");
    }

    #[test]
    fn names_the_bad_line() {
        let err = parse_properties("f", "a=1\nnonsense\n").unwrap_err();
        assert_eq!(err.to_string(), "f: line 2: expected key=value");
        let err = parse_properties("f", "a=1\na=2\n").unwrap_err();
        assert!(err.to_string().contains("set twice"));
    }
}
