//! The OpenTelemetry Transformation Language (OTTL) on weir's views.
//!
//! A statement (`set(span.attributes["k"], "v") where span.name == "x"`) or a condition
//! (`span.attributes["http.route"] == "/healthz"`) is parsed once ([`parse`], with `winnow`)
//! and compiled once into a tree of typed operations ([`Statement`], [`Condition`]): paths
//! resolved to a context and a field, enums to numbers, regular expressions compiled. At run
//! time:
//!
//! - **conditions read the received bytes in place**: a path reads its field through the
//!   views, a string attribute is compared as the `&str` inside the request, nothing is
//!   decoded or allocated for a plain comparison;
//! - **editors change only what they change**: each item is a [`Node`], its bytes plus an
//!   overlay of the fields statements set; an item without edits is copied byte for byte, an
//!   edited one is re-encoded from its received fields and the new values
//!   ([`Node::encode`]), and a resource or scope edit rewrites its header once per group;
//! - [`transform`] and [`filter`] walk a whole request and rebuild it from byte ranges
//!   (`pdata::Regroup`), or hand it back untouched when nothing changed.
//!
//! Outside processors, [`Condition`] and [`Conditions`] evaluate on any item given as nodes
//! ([`Ctx`]): the `routing` and `count` connectors and tail sampling's `ottl_condition` use
//! them that way.
//!
//! The crate depends on `weir-core` only; see its README for the grammar, the contexts and
//! paths, the functions, and what is not supported.

pub mod ast;
mod compile;
pub mod context;
pub mod error;
mod eval;
mod funcs;
pub mod location;
mod node;
pub mod parse;
mod run;
mod source;
mod text;
pub mod value;

pub use context::ContextKind;
pub use error::{EvalError, OttlError};
pub use eval::Ctx;
pub use funcs::{CONVERTERS, EDITORS, MAX_REGEX_SIZE};
pub use node::{Node, NodeKind};
pub use run::{filter, transform, FilterSpec, Outcome, RunStats};
pub use source::Source;

use compile::Compiler;
use serde::Deserialize;

/// What to do when a statement or condition fails on an item (the Collector's `error_mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ErrorMode {
    /// Log the error (once per request, with a count) and go on with the next statement.
    #[default]
    Ignore,
    /// Go on without logging.
    Silent,
    /// Fail the whole request.
    Propagate,
}

impl ErrorMode {
    pub fn parse(s: &str) -> Option<ErrorMode> {
        match s.to_ascii_lowercase().as_str() {
            "ignore" => Some(ErrorMode::Ignore),
            "silent" => Some(ErrorMode::Silent),
            "propagate" => Some(ErrorMode::Propagate),
            _ => None,
        }
    }
}

impl<'de> Deserialize<'de> for ErrorMode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<ErrorMode, D::Error> {
        let s = String::deserialize(d)?;
        ErrorMode::parse(&s).ok_or_else(|| {
            serde::de::Error::custom(format!("unknown error mode {s:?}; valid modes are ignore, silent, propagate"))
        })
    }
}

/// A compiled condition.
#[derive(Debug)]
pub struct Condition {
    cond: eval::Cond,
    text: String,
}

impl Condition {
    /// Compiles `text` for `context`; paths may omit the context's name.
    pub fn compile(text: &str, context: ContextKind) -> Result<Condition, OttlError> {
        let expr = parse::condition(text)?;
        let cond = Compiler { ctx: context, explicit: true }.cond(&expr)?;
        Ok(Condition { cond, text: text.to_string() })
    }

    /// Compiles `text` for a context the paths must name (context inference).
    pub fn compile_inferred(text: &str, allowed: &[ContextKind]) -> Result<(Condition, ContextKind), OttlError> {
        let expr = parse::condition(text)?;
        let context = compile::infer_context(&[], &[&expr], allowed)?;
        let cond = Compiler { ctx: context, explicit: false }.cond(&expr)?;
        Ok((Condition { cond, text: text.to_string() }, context))
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    /// Evaluates the condition on one item.
    pub fn eval(&self, ctx: &Ctx<'_, '_>) -> Result<bool, EvalError> {
        self.cond.eval(ctx)
    }
}

/// Conditions ORed together, with an error mode: what `filter` lists and tail sampling's
/// `ottl_condition` hold.
#[derive(Debug, Default)]
pub struct Conditions {
    pub conditions: Vec<Condition>,
    pub error_mode: ErrorMode,
}

impl Conditions {
    /// Compiles each of `texts` for `context`; the error names the index of the one that
    /// failed.
    pub fn compile(
        texts: &[String],
        context: ContextKind,
        error_mode: ErrorMode,
    ) -> Result<Conditions, (usize, OttlError)> {
        let conditions = texts
            .iter()
            .enumerate()
            .map(|(i, t)| Condition::compile(t, context).map_err(|e| (i, e)))
            .collect::<Result<_, _>>()?;
        Ok(Conditions { conditions, error_mode })
    }

    pub fn is_empty(&self) -> bool {
        self.conditions.is_empty()
    }

    /// Whether any condition holds. A failing condition counts as false under `ignore` and
    /// `silent` (its error is added to `stats`), and fails the evaluation under `propagate`.
    pub fn any(&self, ctx: &Ctx<'_, '_>, stats: &mut RunStats) -> Result<bool, EvalError> {
        for c in &self.conditions {
            match c.eval(ctx) {
                Ok(true) => return Ok(true),
                Ok(false) => {}
                Err(e) if self.error_mode == ErrorMode::Propagate => {
                    return Err(EvalError(format!("failed to eval condition: {}, {e}", c.text)))
                }
                Err(e) => stats.error(self.error_mode, &c.text, e),
            }
        }
        Ok(false)
    }
}

/// A compiled statement.
#[derive(Debug)]
pub struct Statement {
    compiled: eval::CompiledStatement,
    text: String,
}

impl Statement {
    /// Compiles `text` for `context`; paths may omit the context's name.
    pub fn compile(text: &str, context: ContextKind) -> Result<Statement, OttlError> {
        let ast = parse::statement(text)?;
        Ok(Statement { compiled: Compiler { ctx: context, explicit: true }.statement(&ast)?, text: text.to_string() })
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    /// Runs the statement on one item; whether its editor ran.
    pub fn execute(&self, ctx: &mut Ctx<'_, '_>) -> Result<bool, EvalError> {
        self.compiled.execute(ctx)
    }
}

/// Statements that run together on one context, after group conditions (ORed), with an
/// error mode: one `context`/`conditions`/`statements` group of `transform`.
#[derive(Debug)]
pub struct StatementGroup {
    pub context: ContextKind,
    pub conditions: Vec<Condition>,
    pub statements: Vec<Statement>,
    pub error_mode: ErrorMode,
}

/// Where in a group's texts a compile error is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupPart {
    Condition(usize),
    Statement(usize),
}

impl StatementGroup {
    /// Compiles a group. With `context` given, paths may omit it; without, it is inferred from
    /// the paths of all statements and conditions (the deepest context they name), and must be
    /// one of `allowed`.
    pub fn compile(
        context: Option<ContextKind>,
        conditions: &[String],
        statements: &[String],
        error_mode: ErrorMode,
        allowed: &[ContextKind],
    ) -> Result<StatementGroup, (GroupPart, OttlError)> {
        let parsed_conditions = conditions
            .iter()
            .enumerate()
            .map(|(i, t)| parse::condition(t).map_err(|e| (GroupPart::Condition(i), e)))
            .collect::<Result<Vec<_>, _>>()?;
        let parsed = statements
            .iter()
            .enumerate()
            .map(|(i, t)| parse::statement(t).map_err(|e| (GroupPart::Statement(i), e)))
            .collect::<Result<Vec<_>, _>>()?;
        let (ctx, explicit) = match context {
            Some(c) => {
                if !allowed.contains(&c) {
                    return Err((
                        GroupPart::Statement(0),
                        OttlError::at(
                            ast::Span::default(),
                            format!(
                                "context {} cannot be used here (valid: {})",
                                c.name(),
                                allowed.iter().map(|c| c.name()).collect::<Vec<_>>().join(", ")
                            ),
                        ),
                    ));
                }
                (c, true)
            }
            None => {
                let refs: Vec<&ast::Statement> = parsed.iter().collect();
                let crefs: Vec<&ast::Expr> = parsed_conditions.iter().collect();
                let c = compile::infer_context(&refs, &crefs, allowed).map_err(|e| {
                    // Point at the statement the error's span falls in.
                    (GroupPart::Statement(0), e)
                })?;
                (c, false)
            }
        };
        let compiler = Compiler { ctx, explicit };
        let conditions = parsed_conditions
            .iter()
            .zip(conditions)
            .enumerate()
            .map(|(i, (e, t))| {
                Ok(Condition { cond: compiler.cond(e).map_err(|e| (GroupPart::Condition(i), e))?, text: t.clone() })
            })
            .collect::<Result<_, _>>()?;
        let statements = parsed
            .iter()
            .zip(statements)
            .enumerate()
            .map(|(i, (s, t))| {
                Ok(Statement {
                    compiled: compiler.statement(s).map_err(|e| (GroupPart::Statement(i), e))?,
                    text: t.clone(),
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(StatementGroup { context: ctx, conditions, statements, error_mode })
    }

    /// Runs the group on one item: the statements in order when any group condition holds
    /// (or there is none).
    pub fn execute(&self, ctx: &mut Ctx<'_, '_>, stats: &mut RunStats) -> Result<(), EvalError> {
        if !self.conditions.is_empty() {
            let mut any = false;
            for c in &self.conditions {
                match c.eval(ctx) {
                    Ok(true) => {
                        any = true;
                        break;
                    }
                    Ok(false) => {}
                    Err(e) if self.error_mode == ErrorMode::Propagate => {
                        return Err(EvalError(format!("failed to eval condition: {}, {e}", c.text)))
                    }
                    Err(e) => stats.error(self.error_mode, &c.text, e),
                }
            }
            if !any {
                return Ok(());
            }
        }
        for s in &self.statements {
            match s.execute(ctx) {
                Ok(_) => {}
                Err(e) if self.error_mode == ErrorMode::Propagate => {
                    return Err(EvalError(format!("failed to execute statement: {}, {e}", s.text)))
                }
                Err(e) => stats.error(self.error_mode, &s.text, e),
            }
        }
        Ok(())
    }
}

/// Whether any of `span` holds on a span, or any of `spanevent` on one of its events, the
/// span given as its received bytes with its resource's and scope's (tail sampling's
/// `ottl_condition`, connectors). Nothing is decoded: the conditions read the bytes in place.
pub fn span_matches(
    span: &Conditions,
    spanevent: &Conditions,
    resource: &[u8],
    scope: &[u8],
    span_bytes: &[u8],
    stats: &mut RunStats,
) -> Result<bool, EvalError> {
    let mut r = Node::new(NodeKind::Resource, resource);
    let mut s = Node::new(NodeKind::Scope, scope);
    let mut item = Node::new(NodeKind::Span, span_bytes);
    if !span.is_empty() && span.any(&Ctx::new(&mut r, Some(&mut s), Some(&mut item), None), stats)? {
        return Ok(true);
    }
    if spanevent.is_empty() {
        return Ok(false);
    }
    let mut events = std::mem::take(item.children_mut()?);
    for e in events.iter_mut().flatten() {
        if spanevent.any(&Ctx::new(&mut r, Some(&mut s), Some(&mut item), Some(e)), stats)? {
            return Ok(true);
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_statements_are_refused_not_crashed_on() {
        // Deep nesting.
        let deep = format!("set(attributes[\"x\"], {}1{})", "[".repeat(10_000), "]".repeat(10_000));
        let e = Statement::compile(&deep, ContextKind::Span).unwrap_err();
        assert!(e.message.contains("nested"), "{e}");
        let deep_not = format!("{}true", "not ".repeat(100_000));
        assert!(Condition::compile(&deep_not, ContextKind::Span).is_err());
        // Just under the size limit, without brackets: must not overflow the stack.
        let many_not = format!("{}true", "not ".repeat(parse::MAX_STATEMENT_LEN / 4 - 2));
        assert!(Condition::compile(&many_not, ContextKind::Span).unwrap_err().message.contains("`not`"));
        let many_minus = format!("1 == {}1", "-".repeat(parse::MAX_STATEMENT_LEN - 10));
        assert!(Condition::compile(&many_minus, ContextKind::Span).unwrap_err().message.contains("operators"));
        let long_sum = format!("1 == 1{}", " + 1".repeat(parse::MAX_STATEMENT_LEN / 4 - 4));
        assert!(Condition::compile(&long_sum, ContextKind::Span).unwrap_err().message.contains("operators"));
        let long_and = format!("true{}", " and true".repeat(parse::MAX_STATEMENT_LEN / 9 - 1));
        // A long flat `and` is fine: it is one node with many items.
        assert!(Condition::compile(&long_and, ContextKind::Span).is_ok());
        // A regex that compiles far larger than the limit.
        let huge = r#"IsMatch(name, "(\\w{100}){100}")"#;
        let e = Condition::compile(huge, ContextKind::Span).unwrap_err();
        assert!(e.message.contains("regular expression"), "{e}");
        // Garbage, unterminated strings, invalid paths, stray bytes.
        for text in
            ["", "(", "\"", "set(", "name ==", "name == \"x", "attributes[", "x.y.z == 1", "\u{0}\u{ffff}", "1 +"]
        {
            assert!(Condition::compile(text, ContextKind::Span).is_err(), "{text:?}");
            assert!(Statement::compile(text, ContextKind::Span).is_err(), "{text:?}");
        }
        // Very long input is refused by size.
        let long = format!("name == \"{}\"", "a".repeat(parse::MAX_STATEMENT_LEN + 1));
        assert!(Condition::compile(&long, ContextKind::Span).is_err());
    }

    #[test]
    fn invalid_utf8_in_the_data_is_an_error_or_a_mismatch_never_a_panic() {
        // A span whose name (field 5) holds invalid UTF-8, and an attribute whose value does.
        let mut span = vec![0x2a, 2, 0xff, 0xfe];
        // attributes (field 9): KeyValue { key: "k", value: AnyValue { string_value: [0xc3] } }
        span.extend_from_slice(&[0x4a, 8, 0x0a, 1, b'k', 0x12, 3, 0x0a, 1, 0xc3]);
        for text in [r#"name == "x""#, r#"attributes["k"] == "x""#, r#"IsMatch(name, "x")"#, r#"Len(name) > 1"#] {
            let c = Condition::compile(text, ContextKind::Span).unwrap();
            let (mut r, mut s, mut i) =
                (Node::new(NodeKind::Resource, &[]), Node::new(NodeKind::Scope, &[]), Node::new(NodeKind::Span, &span));
            let r = c.eval(&Ctx::new(&mut r, Some(&mut s), Some(&mut i), None));
            assert!(!matches!(r, Ok(true)), "{text}: {r:?}");
        }
    }
}
