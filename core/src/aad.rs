//! The additional authenticated data (AAD) a location binds its values to.
//!
//! The backend never stores the AAD: it rebuilds it from context on every
//! read (`idp_client_secret:<id>:<organization_id>`, a constant such as
//! `connector-oauth`). A rotation must rebuild exactly the same bytes, from
//! the same row, or the value does not open — for keyrotate or the backend.

use serde::Deserialize;

use crate::error::{Error, Invalid, Result, TemplateFault};

/// How a location's AAD is made, as the registry states it.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub enum AadSpec {
    /// The same UTF-8 text for every value of the location.
    Constant(String),
    /// Text with `{column}` placeholders filled from the row's own columns;
    /// `{{` and `}}` stand for literal braces.
    Template(String),
}

/// A parsed AAD rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Aad {
    None,
    Constant(String),
    Template(Template),
}

impl Aad {
    pub fn from_spec(spec: Option<&AadSpec>) -> Result<Self> {
        Ok(match spec {
            None => Aad::None,
            Some(AadSpec::Constant(text)) => Aad::Constant(text.clone()),
            Some(AadSpec::Template(text)) => Aad::Template(Template::parse(text)?),
        })
    }

    /// How reports name the rule; never the AAD of a row.
    pub fn kind(&self) -> &'static str {
        match self {
            Aad::None => "none",
            Aad::Constant(_) => "constant",
            Aad::Template(_) => "template",
        }
    }

    /// The row columns the AAD is built from.
    pub fn columns(&self) -> &[String] {
        match self {
            Aad::Template(t) => &t.columns,
            _ => &[],
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Part {
    Literal(String),
    /// An index into [`Template::columns`].
    Column(usize),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
    columns: Vec<String>,
}

impl Template {
    pub fn parse(text: &str) -> Result<Self> {
        let invalid = |fault| Error::from(Invalid::AadTemplate(fault));
        let mut parts = Vec::new();
        let mut columns: Vec<String> = Vec::new();
        let mut literal = String::new();
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '{' if chars.peek() == Some(&'{') => {
                    chars.next();
                    literal.push('{');
                }
                '}' if chars.peek() == Some(&'}') => {
                    chars.next();
                    literal.push('}');
                }
                '}' => return Err(invalid(TemplateFault::LoneClose)),
                '{' => {
                    let name: String = chars.by_ref().take_while(|&c| c != '}').collect();
                    if name.is_empty() || name.contains('{') {
                        return Err(invalid(TemplateFault::NoColumnName));
                    }
                    if !literal.is_empty() {
                        parts.push(Part::Literal(std::mem::take(&mut literal)));
                    }
                    let index = match columns.iter().position(|c| *c == name) {
                        Some(i) => i,
                        None => {
                            columns.push(name);
                            columns.len() - 1
                        }
                    };
                    parts.push(Part::Column(index));
                }
                c => literal.push(c),
            }
        }
        // `take_while` swallows the closing brace, so an unclosed one shows
        // up as text that ran out: check the template re-renders as written.
        if !literal.is_empty() {
            parts.push(Part::Literal(literal));
        }
        let template = Template { parts, columns };
        if template.source() != text {
            return Err(invalid(TemplateFault::Unclosed));
        }
        Ok(template)
    }

    /// The template as it would be written, for checking and for messages.
    fn source(&self) -> String {
        self.parts
            .iter()
            .map(|p| match p {
                Part::Literal(l) => l.replace('{', "{{").replace('}', "}}"),
                Part::Column(i) => format!("{{{}}}", self.columns[*i]),
            })
            .collect()
    }

    /// The AAD for one row, given the text of each of [`Aad::columns`] in
    /// order. A NULL column is the error: the backend would build the text
    /// "null" from it, which is almost certainly not what it sealed with.
    pub fn render(&self, values: &[Option<&str>]) -> Result<Vec<u8>, &str> {
        let mut out = Vec::new();
        for part in &self.parts {
            match part {
                Part::Literal(l) => out.extend_from_slice(l.as_bytes()),
                Part::Column(i) => match values[*i] {
                    Some(v) => out.extend_from_slice(v.as_bytes()),
                    None => return Err(&self.columns[*i]),
                },
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_the_backend_templates() {
        let t = Template::parse("idp_client_secret:{id}:{organization_id}").unwrap();
        assert_eq!(t.columns, ["id", "organization_id"]);
        assert_eq!(
            t.render(&[Some("idp1"), Some("org1")]).unwrap(),
            b"idp_client_secret:idp1:org1"
        );
        let t = Template::parse("{organization_id}").unwrap();
        assert_eq!(t.render(&[Some("org 7")]).unwrap(), b"org 7");
    }

    #[test]
    fn repeated_columns_braces_and_nulls() {
        let t = Template::parse("{{{a}}}-{a}-{b}").unwrap();
        assert_eq!(t.columns, ["a", "b"]);
        assert_eq!(t.render(&[Some("x"), Some("")]).unwrap(), b"{x}-x-");
        assert_eq!(t.render(&[Some("x"), None]), Err("b"));
    }

    #[test]
    fn refuses_malformed_templates() {
        for bad in ["{", "{}", "a{b", "a}b", "{a{b}}", "x{a"] {
            let err = Template::parse(bad).unwrap_err();
            assert_eq!(err.code(), "ERR_INVALID_ARG", "{bad}");
        }
        assert!(Template::parse("plain text, no columns")
            .unwrap()
            .columns
            .is_empty());
    }
}
