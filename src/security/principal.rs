//! Who a connection is (Kafka's `KafkaPrincipal`, always of type `User` here): the SASL user,
//! the client certificate's subject on a mutual-TLS connection, else `User:ANONYMOUS`.
//!
//! A certificate's subject is written as Java's `X500Principal.getName()` writes it (RFC 2253:
//! last RDN first, `CN=client,OU=apps,O=Example`), then mapped by `ssl.principal.mapping.rules`
//! (Kafka's `SslPrincipalMapper`): `DEFAULT` keeps the name, `RULE:pattern/replacement/[LU]`
//! rewrites a name the pattern matches whole, lower- or upper-cased; the first rule that
//! matches decides, and a name no rule matches is refused.

use regex::Regex;
use x509_parser::der_parser::asn1_rs::ToDer;
use x509_parser::prelude::{FromDer, X509Certificate};

/// A principal of type User with this name.
pub fn user(name: &str) -> String {
    format!("User:{name}")
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrincipalError {
    #[error("ssl.principal.mapping.rules: cannot parse {0:?} (rules are DEFAULT or RULE:pattern/replacement/[LU], separated by commas)")]
    Rules(String),
    #[error("ssl.principal.mapping.rules: bad pattern {pattern:?}: {reason}")]
    Pattern { pattern: String, reason: String },
    #[error("no rule of ssl.principal.mapping.rules matches the certificate subject {0:?}")]
    NoMatchingRule(String),
    #[error("the client certificate cannot be read: {0}")]
    Certificate(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Case {
    Lower,
    Upper,
}

#[derive(Debug, Clone)]
enum Rule {
    Default,
    Rewrite {
        /// The pattern anchored at both ends: a rule applies only when it matches the whole
        /// name (Java's `Matcher.matches`).
        whole: Regex,
        pattern: Regex,
        /// In the regex crate's syntax (`${1}`), from Java's (`$1`).
        replacement: String,
        case: Option<Case>,
    },
}

/// `ssl.principal.mapping.rules`, parsed.
#[derive(Debug, Clone)]
pub struct SslPrincipalMapper {
    rules: Vec<Rule>,
}

impl Default for SslPrincipalMapper {
    fn default() -> Self {
        SslPrincipalMapper {
            rules: vec![Rule::Default],
        }
    }
}

impl SslPrincipalMapper {
    pub fn parse(rules: &str) -> Result<Self, PrincipalError> {
        let syntax = Regex::new(
            r"^\s*(?:(DEFAULT)|RULE:((?:[^/\\]|\\.)*)/((?:[^/\\]|\\.)*)/?([LU])?)\s*(?:,\s*)?",
        )
        .map_err(|e| PrincipalError::Rules(e.to_string()))?;
        let mut rest = rules.trim();
        let mut parsed = Vec::new();
        while !rest.is_empty() {
            let captures = syntax
                .captures(rest)
                .filter(|c| c.get(0).is_some_and(|m| !m.as_str().is_empty()))
                .ok_or_else(|| PrincipalError::Rules(rest.to_string()))?;
            let consumed = captures.get(0).map_or(rest.len(), |m| m.end());
            if captures.get(1).is_some() {
                parsed.push(Rule::Default);
            } else {
                let text = |i: usize| {
                    captures
                        .get(i)
                        .map_or("", |m| m.as_str())
                        .replace("\\/", "/")
                };
                let source = text(2);
                let compile = |anchored: &str| {
                    Regex::new(anchored).map_err(|e| PrincipalError::Pattern {
                        pattern: source.clone(),
                        reason: e.to_string(),
                    })
                };
                parsed.push(Rule::Rewrite {
                    whole: compile(&format!("^(?:{source})$"))?,
                    pattern: compile(&source)?,
                    replacement: java_replacement(&text(3)),
                    case: match captures.get(4).map(|m| m.as_str()) {
                        Some("L") => Some(Case::Lower),
                        Some("U") => Some(Case::Upper),
                        _ => None,
                    },
                });
            }
            rest = &rest[consumed..];
        }
        if parsed.is_empty() {
            return Err(PrincipalError::Rules(rules.to_string()));
        }
        Ok(SslPrincipalMapper { rules: parsed })
    }

    /// The principal name for a certificate subject.
    pub fn name(&self, subject: &str) -> Result<String, PrincipalError> {
        for rule in &self.rules {
            match rule {
                Rule::Default => return Ok(subject.to_string()),
                Rule::Rewrite {
                    whole,
                    pattern,
                    replacement,
                    case,
                } if whole.is_match(subject) => {
                    let name = pattern.replace_all(subject, replacement.as_str());
                    return Ok(match case {
                        Some(Case::Lower) => name.to_lowercase(),
                        Some(Case::Upper) => name.to_uppercase(),
                        None => name.into_owned(),
                    });
                }
                Rule::Rewrite { .. } => {}
            }
        }
        Err(PrincipalError::NoMatchingRule(subject.to_string()))
    }
}

/// Java's `$1` group references as the regex crate's `${1}` (so `$1abc` stays group 1, then
/// `abc`); `\$` is a literal dollar in both.
fn java_replacement(java: &str) -> String {
    let mut out = String::with_capacity(java.len() + 4);
    let mut chars = java.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('$') => out.push_str("$$"),
                Some(other) => out.push(other),
                None => {}
            },
            '$' if chars.peek().is_some_and(char::is_ascii_digit) => {
                out.push_str("${");
                while let Some(d) = chars.next_if(char::is_ascii_digit) {
                    out.push(d);
                }
                out.push('}');
            }
            '$' => out.push_str("$$"),
            other => out.push(other),
        }
    }
    out
}

/// The subject of a DER certificate as RFC 2253 writes it (Java's `X500Principal.getName()`).
pub fn certificate_subject(der: &[u8]) -> Result<String, PrincipalError> {
    let (_, certificate) =
        X509Certificate::from_der(der).map_err(|e| PrincipalError::Certificate(e.to_string()))?;
    let rdns: Vec<String> = certificate
        .subject()
        .iter()
        .map(|rdn| {
            rdn.iter()
                .map(|attribute| {
                    let oid = attribute.attr_type().to_id_string();
                    match (keyword(&oid), attribute.as_str()) {
                        (Some(keyword), Ok(value)) => format!("{keyword}={}", escape(value)),
                        // Java writes other attributes as the OID and the value's DER in hex.
                        _ => {
                            // Re-encoding a value just parsed from DER does not fail.
                            let der = attribute.attr_value().to_der_vec().unwrap_or_default();
                            let hex: String = der.iter().map(|b| format!("{b:02x}")).collect();
                            format!("{oid}=#{hex}")
                        }
                    }
                })
                .collect::<Vec<_>>()
                .join("+")
        })
        .collect();
    Ok(rdns.into_iter().rev().collect::<Vec<_>>().join(","))
}

/// The attribute keywords RFC 2253 (and Java) write by name.
fn keyword(oid: &str) -> Option<&'static str> {
    Some(match oid {
        "2.5.4.3" => "CN",
        "2.5.4.6" => "C",
        "2.5.4.7" => "L",
        "2.5.4.8" => "ST",
        "2.5.4.10" => "O",
        "2.5.4.11" => "OU",
        "2.5.4.9" => "STREET",
        "0.9.2342.19200300.100.1.25" => "DC",
        "0.9.2342.19200300.100.1.1" => "UID",
        _ => return None,
    })
}

/// RFC 2253 section 2.4's escapes.
fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let last = value.chars().count().saturating_sub(1);
    for (i, c) in value.chars().enumerate() {
        let special = matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';')
            || (i == 0 && matches!(c, '#' | ' '))
            || (i == last && c == ' ');
        if special {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_keeps_the_subject() {
        let mapper = SslPrincipalMapper::parse("DEFAULT").unwrap();
        assert_eq!(mapper.name("CN=app,O=Example").unwrap(), "CN=app,O=Example");
    }

    #[test]
    fn rules_rewrite_as_kafkas_documentation_shows() {
        // The examples of Kafka's documentation for ssl.principal.mapping.rules.
        let mapper = SslPrincipalMapper::parse(
            "RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/,RULE:^CN=(.*?),OU=(.*?),O=(.*?),L=(.*?),ST=(.*?),C=(.*?)$/$1@$2/L,RULE:^.*[Cc][Nn]=([a-zA-Z0-9.]*).*$/$1/L,DEFAULT",
        )
        .unwrap();
        assert_eq!(
            mapper
                .name("CN=serviceuser,OU=ServiceUsers,O=Unknown,L=Unknown,ST=Unknown,C=Unknown")
                .unwrap(),
            "serviceuser"
        );
        assert_eq!(
            mapper
                .name("CN=adminUser,OU=Admin,O=Unknown,L=Unknown,ST=Unknown,C=Unknown")
                .unwrap(),
            "adminuser@admin"
        );
        assert_eq!(mapper.name("OU=x,CN=Mixed.Case").unwrap(), "mixed.case");
        assert_eq!(mapper.name("O=none").unwrap(), "O=none");
    }

    #[test]
    fn a_subject_no_rule_matches_is_refused_and_bad_rules_are_named() {
        let mapper = SslPrincipalMapper::parse("RULE:^CN=(.*)$/$1/U").unwrap();
        assert_eq!(mapper.name("CN=app").unwrap(), "APP");
        assert!(matches!(
            mapper.name("O=x"),
            Err(PrincipalError::NoMatchingRule(_))
        ));
        assert!(matches!(
            SslPrincipalMapper::parse("NOPE"),
            Err(PrincipalError::Rules(_))
        ));
        assert!(matches!(
            SslPrincipalMapper::parse("RULE:(/x/"),
            Err(PrincipalError::Pattern { .. })
        ));
    }

    #[test]
    fn java_replacements() {
        assert_eq!(java_replacement("$1@$2"), "${1}@${2}");
        assert_eq!(java_replacement("$1abc"), "${1}abc");
        assert_eq!(java_replacement(r"\$x"), "$$x");
    }

    #[test]
    fn escapes_of_rfc_2253() {
        assert_eq!(escape("a,b+c"), r"a\,b\+c");
        assert_eq!(escape("#x "), r"\#x\ ");
    }
}
