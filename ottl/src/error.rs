//! Errors: compile errors with a position in the statement, and evaluation errors.

use crate::ast::Span;
use std::fmt;

/// A statement or condition that cannot be compiled: what is wrong and where in its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OttlError {
    pub span: Span,
    pub message: String,
}

impl OttlError {
    pub fn at(span: Span, message: impl Into<String>) -> OttlError {
        OttlError { span, message: message.into() }
    }

    /// The 1-based column of the error in a one-line statement.
    pub fn column(&self) -> usize {
        self.span.start + 1
    }
}

impl fmt::Display for OttlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (at offset {})", self.message, self.span.start)
    }
}

impl std::error::Error for OttlError {}

/// Why a statement or condition failed on one item at run time (a converter given a value it
/// cannot use, a division by zero, …). `error_mode` decides what becomes of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvalError(pub String);

impl fmt::Display for EvalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for EvalError {}

impl From<weir_core::pdata::WireError> for EvalError {
    fn from(e: weir_core::pdata::WireError) -> Self {
        EvalError(format!("malformed item: {e}"))
    }
}

pub(crate) fn eval_err<T>(msg: impl Into<String>) -> Result<T, EvalError> {
    Err(EvalError(msg.into()))
}
