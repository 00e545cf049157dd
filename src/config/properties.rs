//! The `java.util.Properties` subset that Kafka's `server.properties` files use: `key=value` or
//! `key: value` lines, `#` and `!` comments, blank lines, and lines continued by a final
//! backslash (as Kafka's documented `sasl.jaas.config` entries are written: the backslash is
//! dropped, and so is the leading white space of the next line). Other backslashes are kept as
//! written (Java would read `\t` or `\uXXXX` as escapes; no Kafka key needs them).

use std::collections::BTreeMap;

use super::ConfigError;

pub fn parse_properties(path: &str, text: &str) -> Result<BTreeMap<String, String>, ConfigError> {
    let mut props = BTreeMap::new();
    let mut lines = text.lines().enumerate();
    while let Some((index, raw)) = lines.next() {
        let first = raw.trim();
        if first.is_empty() || first.starts_with('#') || first.starts_with('!') {
            continue;
        }
        let syntax = |reason: &str| ConfigError::Syntax {
            path: path.to_string(),
            line: index + 1,
            reason: reason.to_string(),
        };
        let mut line = first.to_string();
        while continues(&line) {
            line.pop();
            let Some((_, next)) = lines.next() else {
                return Err(syntax("the last line ends with a line continuation"));
            };
            line.push_str(next.trim_start());
        }
        let line = line.trim();
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

/// A line ending in an odd number of backslashes goes on on the next line (an even number is
/// escaped backslashes).
fn continues(line: &str) -> bool {
    line.bytes().rev().take_while(|&b| b == b'\\').count() % 2 == 1
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
    fn a_final_backslash_continues_the_line() {
        let text = "listener.name.internal.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required \\\n    username=\"broker\" \\\n  password=\"b\";\nnext=1\n";
        let props = parse_properties("f", text).unwrap();
        assert_eq!(
            props["listener.name.internal.plain.sasl.jaas.config"],
            "org.apache.kafka.common.security.plain.PlainLoginModule required username=\"broker\" password=\"b\";"
        );
        assert_eq!(props["next"], "1");
        // Two backslashes are not a continuation.
        let props = parse_properties("f", "a=x\\\\\nb=2\n").unwrap();
        assert_eq!(props.len(), 2);
        let err = parse_properties("f", "a=1\nb=x \\").unwrap_err();
        assert!(err.to_string().contains("line 2"), "{err}");
    }

    #[test]
    fn names_the_bad_line() {
        let err = parse_properties("f", "a=1\nnonsense\n").unwrap_err();
        assert_eq!(err.to_string(), "f: line 2: expected key=value");
        let err = parse_properties("f", "a=1\na=2\n").unwrap_err();
        assert!(err.to_string().contains("set twice"));
    }
}
