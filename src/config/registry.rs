//! The shape of a config key, shared by the broker's table (`broker_keys.rs`) and the topics'
//! (`topic.rs`): each key is declared once, with its type, Kafka's default, how a value is
//! checked and its documentation. Parsing, validation, DescribeConfigs (types v3+,
//! documentation v3+), `weir serve --help-config` and the README's tables all read these tables.

/// Kafka's ConfigDef types, numbered as DescribeConfigs v3+ answers them (`config_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigType {
    Boolean = 1,
    String = 2,
    Int = 3,
    Long = 5,
    Double = 6,
    List = 7,
    /// A Java class name (Kafka's CLASS): Weir accepts the classes whose behaviour it has.
    Class = 8,
    Password = 9,
}

impl ConfigType {
    pub fn name(self) -> &'static str {
        match self {
            ConfigType::Boolean => "boolean",
            ConfigType::String => "string",
            ConfigType::Int => "int",
            ConfigType::Long => "long",
            ConfigType::Double => "double",
            ConfigType::List => "list",
            ConfigType::Class => "class",
            ConfigType::Password => "password",
        }
    }
}

/// How a value is checked beyond its type (Kafka's ConfigDef validators).
#[derive(Debug, Clone, Copy)]
pub enum Check {
    /// Any value of the type.
    Any,
    /// An integer in `min..=max`.
    Range(i64, i64),
    /// A number in `min..=max`.
    RangeF64(f64, f64),
    /// One of these strings.
    OneOf(&'static [&'static str]),
    /// A comma-separated list, each item one of these.
    ListOf(&'static [&'static str]),
    /// A rule of its own; the error is the reason shown to the client.
    Custom(fn(&str) -> Result<(), &'static str>),
}

/// What Weir does with a key it accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// The value changes what the broker does.
    Applied,
    /// Accepted and validated as Kafka does, so that clients and tools written for Kafka work,
    /// but it changes nothing here; the text says why (DescribeConfigs documentation and the
    /// README say it too).
    Ignored(&'static str),
}

/// One config key.
#[derive(Debug, Clone, Copy)]
pub struct ConfigDef {
    pub name: &'static str,
    pub kind: ConfigType,
    /// Kafka's notation of the default (`None`: null, as Kafka shows e.g. `log.retention.ms`).
    pub default: Option<&'static str>,
    pub check: Check,
    pub doc: &'static str,
    pub effect: Effect,
}

impl ConfigDef {
    /// A key whose value changes what the broker does.
    pub const fn applied(
        name: &'static str,
        kind: ConfigType,
        default: Option<&'static str>,
        check: Check,
        doc: &'static str,
    ) -> Self {
        ConfigDef {
            name,
            kind,
            default,
            check,
            doc,
            effect: Effect::Applied,
        }
    }

    /// A key Kafka documents that Weir accepts and validates but does not act on (`why` says
    /// so in its documentation).
    pub const fn ignored(
        name: &'static str,
        kind: ConfigType,
        default: Option<&'static str>,
        check: Check,
        doc: &'static str,
        why: &'static str,
    ) -> Self {
        ConfigDef {
            effect: Effect::Ignored(why),
            ..ConfigDef::applied(name, kind, default, check, doc)
        }
    }

    /// Checks `value` against the key's type and rule; the error is the reason, in words a
    /// client's error message can carry.
    pub fn validate(&self, value: &str) -> Result<(), String> {
        let value = value.trim();
        match self.kind {
            ConfigType::Boolean => {
                if !value.eq_ignore_ascii_case("true") && !value.eq_ignore_ascii_case("false") {
                    return Err("must be true or false".into());
                }
            }
            ConfigType::Int => {
                value
                    .parse::<i32>()
                    .map_err(|_| "not an int (a 32-bit number)".to_string())?;
            }
            ConfigType::Long => {
                value
                    .parse::<i64>()
                    .map_err(|_| "not a long (a 64-bit number)".to_string())?;
            }
            ConfigType::Double => {
                value
                    .parse::<f64>()
                    .ok()
                    .filter(|v| v.is_finite())
                    .ok_or_else(|| "not a number".to_string())?;
            }
            ConfigType::String | ConfigType::List | ConfigType::Class | ConfigType::Password => {}
        }
        match self.check {
            Check::Any => Ok(()),
            Check::Range(min, max) => match value.parse::<i64>() {
                Ok(n) if (min..=max).contains(&n) => Ok(()),
                _ => Err(range_reason(min, max)),
            },
            Check::RangeF64(min, max) => match value.parse::<f64>() {
                Ok(n) if (min..=max).contains(&n) => Ok(()),
                _ => Err(format!("must be a number between {min} and {max}")),
            },
            Check::OneOf(allowed) if allowed.contains(&value) => Ok(()),
            Check::OneOf(allowed) => Err(format!("must be one of {}", allowed.join(", "))),
            Check::ListOf(allowed) => {
                let items = list_items(value);
                if items.is_empty() {
                    return Err(format!("must list one or more of {}", allowed.join(", ")));
                }
                match items.iter().find(|item| !allowed.contains(item)) {
                    Some(bad) => Err(format!("`{bad}` is not one of {}", allowed.join(", "))),
                    None => Ok(()),
                }
            }
            Check::Custom(rule) => rule(value).map_err(str::to_string),
        }
    }

    /// The rule in words, for `--help-config` and the README.
    pub fn rule(&self) -> String {
        match self.check {
            Check::Any => String::new(),
            Check::Range(min, max) => range_reason(min, max),
            Check::RangeF64(min, max) => format!("{min} to {max}"),
            Check::OneOf(allowed) => allowed.join(", "),
            Check::ListOf(allowed) => format!("list of {}", allowed.join(", ")),
            Check::Custom(_) => "see description".into(),
        }
    }

    /// The documentation DescribeConfigs v3+ returns: the description, plus why an accepted
    /// key changes nothing here.
    pub fn documentation(&self) -> String {
        match self.effect {
            Effect::Applied => self.doc.to_string(),
            Effect::Ignored(why) => format!("{} Accepted and ignored by Weir: {why}", self.doc),
        }
    }
}

fn range_reason(min: i64, max: i64) -> String {
    match (min, max) {
        (min, i64::MAX) | (min, 2_147_483_647) => format!("at least {min}"),
        (min, max) => format!("between {min} and {max}"),
    }
}

/// The items of a list value (`a,b`, `a, b`), as Kafka's ConfigDef splits them.
pub fn list_items(value: &str) -> Vec<&str> {
    value
        .split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .collect()
}

/// A Markdown table of `table` (README: the broker's and the topics' keys).
pub fn markdown_table<'a>(table: impl IntoIterator<Item = &'a ConfigDef>) -> String {
    let mut text = String::from("| key | type | default | valid values | description |\n");
    text.push_str("|---|---|---|---|---|\n");
    for def in table {
        text.push_str(&format!(
            "| `{}` | {} | {} | {} | {} |\n",
            def.name,
            def.kind.name(),
            def.default
                .map_or_else(|| "null".to_string(), |d| format!("`{d}`")),
            def.rule(),
            def.documentation().replace('|', "\\|"),
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    const fn key(kind: ConfigType, check: Check) -> ConfigDef {
        ConfigDef {
            name: "k",
            kind,
            default: None,
            check,
            doc: "A key.",
            effect: Effect::Applied,
        }
    }

    #[test]
    fn values_are_checked_by_type_then_rule() {
        let int = key(ConfigType::Int, Check::Range(14, i32::MAX as i64));
        assert!(int.validate("14").is_ok());
        assert_eq!(int.validate("13").unwrap_err(), "at least 14");
        assert!(int.validate("3000000000").is_err());
        assert!(int.validate("ten").is_err());
        let long = key(ConfigType::Long, Check::Range(-1, i64::MAX));
        assert!(long.validate("9223372036854775807").is_ok());
        assert!(long.validate("-2").is_err());
        let boolean = key(ConfigType::Boolean, Check::Any);
        assert!(boolean.validate("TRUE").is_ok());
        assert!(boolean.validate("yes").is_err());
        let ratio = key(ConfigType::Double, Check::RangeF64(0.0, 1.0));
        assert!(ratio.validate("0.5").is_ok());
        assert!(ratio.validate("1.5").is_err());
        assert!(ratio.validate("NaN").is_err());
        let one_of = key(
            ConfigType::String,
            Check::OneOf(&["CreateTime", "LogAppendTime"]),
        );
        assert!(one_of.validate("LogAppendTime").is_ok());
        assert!(one_of.validate("logappendtime").is_err());
        let list = key(ConfigType::List, Check::ListOf(&["delete", "compact"]));
        assert!(list.validate("compact, delete").is_ok());
        assert_eq!(
            list.validate("compact,shred").unwrap_err(),
            "`shred` is not one of delete, compact"
        );
        assert!(list.validate("").is_err());
    }

    #[test]
    fn ignored_keys_say_why_in_their_documentation() {
        let mut def = key(ConfigType::Boolean, Check::Any);
        assert_eq!(def.documentation(), "A key.");
        def.effect = Effect::Ignored("no tiered storage.");
        assert_eq!(
            def.documentation(),
            "A key. Accepted and ignored by Weir: no tiered storage."
        );
        let table = markdown_table(&[def]);
        assert!(table.contains("| `k` | boolean | null |  | A key. Accepted and ignored"));
    }
}
