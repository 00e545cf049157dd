//! Kafka's one-line JAAS login configurations (`sasl.jaas.config`,
//! `listener.name.<listener>.<mechanism>.sasl.jaas.config`): a login module class, a control
//! flag and `name="value"` options, ended by a semicolon, as in
//! `org.apache.kafka.common.security.plain.PlainLoginModule required username="admin"
//! password="admin-secret" user_alice="alice-secret";`.

use std::collections::BTreeMap;

pub const PLAIN_LOGIN_MODULE: &str = "org.apache.kafka.common.security.plain.PlainLoginModule";
pub const SCRAM_LOGIN_MODULE: &str = "org.apache.kafka.common.security.scram.ScramLoginModule";

/// One login module entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JaasEntry {
    pub module: String,
    /// required, requisite, sufficient or optional.
    pub flag: String,
    pub options: BTreeMap<String, String>,
}

impl JaasEntry {
    /// Parses the one entry a Kafka `sasl.jaas.config` holds. The error is the reason, never
    /// the text (it holds passwords).
    pub fn parse(text: &str) -> Result<JaasEntry, &'static str> {
        let body = text
            .trim()
            .strip_suffix(';')
            .ok_or("a JAAS entry ends with a semicolon")?;
        let mut rest = body.trim_start();
        let mut word = || {
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            let (first, tail) = rest.split_at(end);
            rest = tail.trim_start();
            first
        };
        let module = word().to_string();
        let flag = word().to_ascii_lowercase();
        if module.is_empty()
            || !["required", "requisite", "sufficient", "optional"].contains(&flag.as_str())
        {
            return Err("expected `LoginModuleClass required name=\"value\" ...;`");
        }
        let mut options = BTreeMap::new();
        while !rest.is_empty() {
            let (name, tail) = rest.split_once('=').ok_or("an option is name=\"value\"")?;
            let tail = tail
                .strip_prefix('"')
                .ok_or("an option's value is in double quotes")?;
            let (value, tail) = tail
                .split_once('"')
                .ok_or("an option's value is not closed")?;
            options.insert(name.trim().to_string(), value.to_string());
            rest = tail.trim_start();
        }
        Ok(JaasEntry {
            module,
            flag,
            options,
        })
    }

    /// PlainLoginModule's users on a broker: each `user_NAME="password"` option.
    pub fn plain_users(&self) -> BTreeMap<String, String> {
        self.options
            .iter()
            .filter_map(|(name, password)| {
                let user = name.strip_prefix("user_")?;
                (!user.is_empty()).then(|| (user.to_string(), password.clone()))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kafkas_documented_plain_entry_parses() {
        let entry = JaasEntry::parse(
            "org.apache.kafka.common.security.plain.PlainLoginModule required \
             username=\"admin\" password=\"admin-secret\" user_admin=\"admin-secret\" \
             user_alice=\"alice secret\";",
        )
        .unwrap();
        assert_eq!(entry.module, PLAIN_LOGIN_MODULE);
        assert_eq!(entry.options["username"], "admin");
        let users = entry.plain_users();
        assert_eq!(users.len(), 2);
        assert_eq!(users["alice"], "alice secret");
    }

    #[test]
    fn malformed_entries_are_refused() {
        for text in [
            "org.apache.kafka.common.security.plain.PlainLoginModule required user_a=\"x\"",
            "org.apache.kafka.common.security.plain.PlainLoginModule user_a=\"x\";",
            "org.apache.kafka.common.security.plain.PlainLoginModule required user_a=x;",
            "org.apache.kafka.common.security.plain.PlainLoginModule required user_a=\"x;",
        ] {
            assert!(JaasEntry::parse(text).is_err(), "{text}");
        }
        let bare = JaasEntry::parse(&format!("{SCRAM_LOGIN_MODULE} required;")).unwrap();
        assert!(bare.options.is_empty());
    }
}
