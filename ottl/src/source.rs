//! OTTL texts as the configuration wrote them, so compile errors name the file's line and
//! column (the statement's scalar location plus the offset inside it, see [`crate::location`]).

use crate::error::OttlError;
use crate::location::locate;
use serde::Deserialize;
use weir_core::config::yaml::{located_error, Location, NodeKind, RawNode, ScalarStyle};

/// One statement or condition read from the configuration, with where it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub text: String,
    at: Option<(ScalarStyle, Location)>,
}

impl Source {
    /// A text without a position (built in code, tests).
    pub fn new(text: impl Into<String>) -> Source {
        Source { text: text.into(), at: None }
    }

    /// Where byte `offset` of the text is in the file, when known.
    pub fn location(&self, offset: usize) -> Option<Location> {
        self.at.map(|(style, loc)| locate(&self.text, style, loc, offset))
    }

    /// `error` as a message for the user: what is wrong, the text, and where.
    pub fn describe(&self, error: &OttlError) -> String {
        match self.location(error.span.start) {
            Some(loc) => format!("{} in {:?} (line {}, column {})", error.message, self.text, loc.line, loc.column),
            None => format!("{} in {:?} (at offset {})", error.message, self.text, error.span.start),
        }
    }
}

impl<'de> Deserialize<'de> for Source {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Source, D::Error> {
        let RawNode(node) = RawNode::deserialize(d)?;
        Source::from_node(&node).map_err(|m| located_error(m, node.loc))
    }
}

impl Source {
    /// The text of a scalar node.
    pub fn from_node(node: &weir_core::config::yaml::Node) -> Result<Source, String> {
        match &node.kind {
            NodeKind::Scalar { value, style, .. } => Ok(Source { text: value.clone(), at: Some((*style, node.loc)) }),
            _ => Err("expected an OTTL statement or condition (a string)".to_string()),
        }
    }
}

impl From<&str> for Source {
    fn from(s: &str) -> Source {
        Source::new(s)
    }
}
