//! From syntax tree to typed operations: paths resolved for a context, enums to numbers,
//! functions bound to their arguments, conditions checked to be conditions.

use crate::ast::{Arg, Call, Expr, Span, Statement};
use crate::context::{enum_value, resolve, ContextKind};
use crate::error::OttlError;
use crate::eval::{key_get, CompiledStatement, Cond, Getter, PathGet};
use crate::funcs;
use crate::value::Value;
use std::borrow::Cow;

/// Compiles expressions for one context.
pub(crate) struct Compiler {
    pub ctx: ContextKind,
    /// Whether the context was given (paths may then omit it).
    pub explicit: bool,
}

impl Compiler {
    pub(crate) fn statement(&self, s: &Statement) -> Result<CompiledStatement, OttlError> {
        let editor = funcs::editor(self, &s.editor)?;
        let condition = s.condition.as_ref().map(|c| self.cond(c)).transpose()?;
        Ok(CompiledStatement { editor, condition })
    }

    pub(crate) fn cond(&self, e: &Expr) -> Result<Cond, OttlError> {
        Ok(match e {
            Expr::Bool(b, _) => Cond::Const(*b),
            Expr::Group(inner, _) => self.cond(inner)?,
            Expr::And(items, _) => Cond::And(items.iter().map(|i| self.cond(i)).collect::<Result<_, _>>()?),
            Expr::Or(items, _) => Cond::Or(items.iter().map(|i| self.cond(i)).collect::<Result<_, _>>()?),
            Expr::Not(inner, _) => Cond::Not(Box::new(self.cond(inner)?)),
            Expr::Cmp(a, op, b, _) => Cond::Cmp(self.getter(a)?, *op, self.getter(b)?),
            Expr::Call(c) if c.name.starts_with(|c: char| c.is_ascii_uppercase()) => Cond::Value(self.getter(e)?),
            other => {
                return Err(OttlError::at(
                    other.span(),
                    "a condition must be a comparison, true/false, a converter returning a bool, or a combination of these with and/or/not",
                ))
            }
        })
    }

    pub(crate) fn getter(&self, e: &Expr) -> Result<Getter, OttlError> {
        Ok(match e {
            Expr::Nil(_) => Getter::Lit(Value::Nil),
            Expr::Bool(b, _) => Getter::Lit(Value::Bool(*b)),
            Expr::Int(i, _) => Getter::Lit(Value::Int(*i)),
            Expr::Float(f, _) => Getter::Lit(Value::Double(*f)),
            Expr::Str(s, _) => Getter::Lit(Value::Str(Cow::Owned(s.clone()))),
            Expr::Bytes(b, _) => Getter::Lit(Value::Bytes(Cow::Owned(b.clone()))),
            Expr::Enum(name, span) => Getter::Lit(Value::Int(self.enum_value(name, *span)?)),
            Expr::Group(inner, _) => self.getter(inner)?,
            Expr::Path(p) => Getter::Path(self.path(p)?),
            Expr::Call(c) => self.converter(c)?,
            Expr::List(items, _) => Getter::List(items.iter().map(|i| self.getter(i)).collect::<Result<_, _>>()?),
            Expr::Map(items, _) => {
                Getter::Map(items.iter().map(|(k, v)| Ok((k.clone(), self.getter(v)?))).collect::<Result<_, _>>()?)
            }
            Expr::Math(a, op, b, _) => Getter::Math(Box::new(self.getter(a)?), *op, Box::new(self.getter(b)?)),
            Expr::Cmp(.., span) | Expr::And(_, span) | Expr::Or(_, span) | Expr::Not(_, span) => {
                return Err(OttlError::at(*span, "a condition cannot be used as a value here"))
            }
        })
    }

    pub(crate) fn enum_value(&self, name: &str, span: Span) -> Result<i64, OttlError> {
        enum_value(self.ctx, name).ok_or_else(|| {
            OttlError::at(span, format!("enum symbol {name:?} is not defined for the {} context", self.ctx.name()))
        })
    }

    pub(crate) fn path(&self, p: &crate::ast::Path) -> Result<PathGet, OttlError> {
        let r = resolve(p, self.ctx, self.explicit)?;
        let keys = r.keys.iter().map(|k| key_get(k, &mut |e| self.getter(e))).collect::<Result<_, _>>()?;
        Ok(PathGet::from_resolved(&r, keys))
    }

    fn converter(&self, c: &Call) -> Result<Getter, OttlError> {
        if c.name.starts_with(|ch: char| ch.is_ascii_lowercase()) {
            return Err(OttlError::at(
                c.name_span,
                format!("converter names must start with an uppercase letter but got '{}'", c.name),
            ));
        }
        let conv = funcs::converter(self, c)?;
        let keys = c.keys.iter().map(|k| key_get(k, &mut |e| self.getter(e))).collect::<Result<_, _>>()?;
        Ok(Getter::Call(Box::new(conv), keys))
    }
}

/// The arguments of a call bound to the parameters of a function: positional ones in order,
/// named ones by name (after every positional one, as the Collector requires).
pub(crate) fn bind<'c>(call: &'c Call, params: &[(&str, bool)]) -> Result<Vec<Option<&'c Expr>>, OttlError> {
    let mut out: Vec<Option<&Expr>> = vec![None; params.len()];
    let mut seen_named = false;
    for (i, Arg { name, value }) in call.args.iter().enumerate() {
        match name {
            None => {
                if seen_named {
                    return Err(OttlError::at(value.span(), "positional arguments must come before named ones"));
                }
                if i >= params.len() {
                    return Err(OttlError::at(
                        value.span(),
                        format!("{} takes at most {} arguments, got {}", call.name, params.len(), call.args.len()),
                    ));
                }
                out[i] = Some(value);
            }
            Some((n, span)) => {
                seen_named = true;
                let Some(at) = params.iter().position(|(p, _)| p == n) else {
                    return Err(OttlError::at(
                        *span,
                        format!(
                            "{} has no argument {n:?}; it takes {}",
                            call.name,
                            params.iter().map(|(p, _)| *p).collect::<Vec<_>>().join(", ")
                        ),
                    ));
                };
                if out[at].is_some() {
                    return Err(OttlError::at(*span, format!("argument {n:?} given twice")));
                }
                out[at] = Some(value);
            }
        }
    }
    for (i, (p, required)) in params.iter().enumerate() {
        if *required && out[i].is_none() {
            return Err(OttlError::at(
                call.span,
                format!(
                    "{} needs {} argument{} ({}), {:?} is missing",
                    call.name,
                    params.iter().filter(|p| p.1).count(),
                    if params.iter().filter(|p| p.1).count() == 1 { "" } else { "s" },
                    params
                        .iter()
                        .map(|(p, r)| if *r { p.to_string() } else { format!("[{p}]") })
                        .collect::<Vec<_>>()
                        .join(", "),
                    p
                ),
            ));
        }
    }
    Ok(out)
}

/// The context a statement group runs in, inferred from the contexts its paths name (the
/// Collector's context inference): the deepest one named, which must be able to read all the
/// others and be one of `allowed`.
pub fn infer_context(
    exprs: &[&Statement],
    conditions: &[&Expr],
    allowed: &[ContextKind],
) -> Result<ContextKind, OttlError> {
    let mut named: Vec<(ContextKind, Span)> = Vec::new();
    for s in exprs {
        for p in s.paths() {
            if let Some(c) = crate::context::path_context(p) {
                named.push((c, p.span));
            }
        }
    }
    for c in conditions {
        let mut paths = Vec::new();
        c.paths(&mut paths);
        for p in paths {
            if let Some(c) = crate::context::path_context(p) {
                named.push((c, p.span));
            }
        }
    }
    let Some(&(deepest, span)) = named.iter().max_by_key(|(c, _)| c.depth()) else {
        let span = exprs.first().map(|s| s.editor.span).unwrap_or_default();
        return Err(OttlError::at(
            span,
            format!(
                "cannot infer a context: no path names one (prefix paths with {}, or set `context`)",
                allowed.iter().map(|c| c.name()).collect::<Vec<_>>().join(", ")
            ),
        ));
    };
    if !allowed.contains(&deepest) {
        return Err(OttlError::at(
            span,
            format!(
                "{} paths cannot be used here (valid: {})",
                deepest.name(),
                allowed.iter().map(|c| c.name()).collect::<Vec<_>>().join(", ")
            ),
        ));
    }
    for (c, s) in &named {
        if !deepest.readable().contains(c) {
            return Err(OttlError::at(
                *s,
                format!("{} and {} paths cannot be used in one statement group", c.name(), deepest.name()),
            ));
        }
    }
    Ok(deepest)
}
