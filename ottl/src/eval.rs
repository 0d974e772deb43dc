//! Compiled expressions and their evaluation over a [`Ctx`].
//!
//! Compiling turns the syntax tree into a tree of typed operations once: paths are resolved to
//! a context and a field, enums to their numbers, regular expressions compiled, function
//! arguments checked. Evaluating walks that tree against the nodes of one item.

use crate::ast::{CmpOp, Key, MathOp, Span};
use crate::context::{ContextKind, ResolvedPath, Target};
use crate::error::{eval_err, EvalError};
use crate::funcs::{Converter, Editor};
use crate::node::{Field, Node};
use crate::value::{compare, ListV, MapV, OMap, OValue, Value};
use std::borrow::Cow;

/// A compiled value expression.
#[derive(Debug)]
pub(crate) enum Getter {
    Lit(Value<'static>),
    Path(PathGet),
    Call(Box<Converter>, Vec<KeyGet>),
    List(Vec<Getter>),
    Map(Vec<(String, Getter)>),
    Math(Box<Getter>, MathOp, Box<Getter>),
}

/// A compiled path.
#[derive(Debug)]
pub(crate) struct PathGet {
    pub level: ContextKind,
    pub target: Target,
    pub keys: Vec<KeyGet>,
    #[allow(dead_code)] // kept for error positions at run time
    pub span: Span,
}

#[derive(Debug)]
pub(crate) enum KeyGet {
    Str(String),
    Int(i64),
    Expr(Box<Getter>),
}

/// A key once evaluated.
#[derive(Debug, Clone)]
pub(crate) enum KeyVal {
    Str(String),
    Int(i64),
}

/// A compiled boolean expression.
#[derive(Debug)]
pub(crate) enum Cond {
    Const(bool),
    And(Vec<Cond>),
    Or(Vec<Cond>),
    Not(Box<Cond>),
    Cmp(Getter, CmpOp, Getter),
    /// A converter that returns a bool (`IsMatch(...)`).
    Value(Getter),
}

/// The nodes of one item and its parents, as one statement or condition sees them.
pub struct Ctx<'n, 'a> {
    pub(crate) resource: &'n mut Node<'a>,
    /// The scope (absent for resource statements).
    pub(crate) scope: Option<&'n mut Node<'a>>,
    /// The span, log record or metric (absent for resource and scope statements).
    pub(crate) item: Option<&'n mut Node<'a>>,
    /// The span event or data point.
    pub(crate) sub: Option<&'n mut Node<'a>>,
    pub(crate) cache: OMap,
}

impl<'n, 'a> Ctx<'n, 'a> {
    pub fn new(
        resource: &'n mut Node<'a>,
        scope: Option<&'n mut Node<'a>>,
        item: Option<&'n mut Node<'a>>,
        sub: Option<&'n mut Node<'a>>,
    ) -> Ctx<'n, 'a> {
        Ctx { resource, scope, item, sub, cache: Vec::new() }
    }

    pub(crate) fn node(&self, level: ContextKind) -> Result<&Node<'a>, EvalError> {
        let n = match level {
            ContextKind::Resource => Some(&*self.resource),
            ContextKind::Scope => self.scope.as_deref(),
            ContextKind::Span | ContextKind::Log | ContextKind::Metric => self.item.as_deref(),
            ContextKind::SpanEvent | ContextKind::DataPoint => self.sub.as_deref(),
        };
        n.ok_or_else(|| EvalError(format!("no {} here", level.name())))
    }

    pub(crate) fn node_mut(&mut self, level: ContextKind) -> Result<&mut Node<'a>, EvalError> {
        let n = match level {
            ContextKind::Resource => Some(&mut *self.resource),
            ContextKind::Scope => self.scope.as_deref_mut(),
            ContextKind::Span | ContextKind::Log | ContextKind::Metric => self.item.as_deref_mut(),
            ContextKind::SpanEvent | ContextKind::DataPoint => self.sub.as_deref_mut(),
        };
        n.ok_or_else(|| EvalError(format!("no {} here", level.name())))
    }
}

impl PathGet {
    pub(crate) fn from_resolved(r: &ResolvedPath<'_>, keys: Vec<KeyGet>) -> PathGet {
        PathGet { level: r.level, target: r.target.clone(), keys, span: r.span }
    }
}

pub(crate) fn resolve_keys(keys: &[KeyGet], ctx: &Ctx<'_, '_>) -> Result<Vec<KeyVal>, EvalError> {
    keys.iter()
        .map(|k| match k {
            KeyGet::Str(s) => Ok(KeyVal::Str(s.clone())),
            KeyGet::Int(i) => Ok(KeyVal::Int(*i)),
            KeyGet::Expr(g) => match g.eval(ctx)? {
                Value::Str(s) => Ok(KeyVal::Str(s.into_owned())),
                Value::Int(i) => Ok(KeyVal::Int(i)),
                other => eval_err(format!("a key must be a string or an int, got {}", other.type_name())),
            },
        })
        .collect()
}

/// Indexes `v` by `key` (maps by string, lists by int); a missing key is nil.
fn index<'b>(v: Value<'b>, key: &KeyGet, ctx: &'b Ctx<'_, '_>) -> Result<Value<'b>, EvalError> {
    let key = match key {
        KeyGet::Str(s) => KeyVal::Str(s.clone()),
        KeyGet::Int(i) => KeyVal::Int(*i),
        KeyGet::Expr(_) => resolve_keys(std::slice::from_ref(key), ctx)?.remove(0),
    };
    index_val(v, &key)
}

pub(crate) fn index_val<'b>(v: Value<'b>, key: &KeyVal) -> Result<Value<'b>, EvalError> {
    match (v, key) {
        (Value::Nil, _) => Ok(Value::Nil),
        (Value::Map(m), KeyVal::Str(k)) => Ok(m.get(k)?.unwrap_or(Value::Nil)),
        (Value::List(l), KeyVal::Int(i)) => match l.get(*i)? {
            Some(v) => Ok(v),
            None => eval_err(format!("index {i} out of bounds (the list has {} elements)", l.len()?)),
        },
        (v, KeyVal::Str(k)) => eval_err(format!("cannot index a {} with the string key {k:?}", v.type_name())),
        (v, KeyVal::Int(i)) => eval_err(format!("cannot index a {} with the int key {i}", v.type_name())),
    }
}

impl Getter {
    pub(crate) fn eval<'b>(&self, ctx: &'b Ctx<'_, '_>) -> Result<Value<'b>, EvalError> {
        match self {
            Getter::Lit(v) => Ok(v.clone()),
            Getter::Path(p) => p.get(ctx),
            Getter::Call(c, keys) => {
                let mut v = c.eval(ctx)?;
                for k in keys {
                    v = index(v, k, ctx)?;
                }
                Ok(v)
            }
            Getter::List(items) => {
                Ok(Value::List(ListV::Values(items.iter().map(|g| g.eval(ctx)).collect::<Result<_, _>>()?)))
            }
            Getter::Map(items) => {
                let mut m = Vec::with_capacity(items.len());
                for (k, g) in items {
                    m.push((k.clone(), g.eval(ctx)?.to_owned_value()?));
                }
                Ok(Value::Map(MapV::Owned(m)))
            }
            Getter::Math(a, op, b) => math(&a.eval(ctx)?, *op, &b.eval(ctx)?),
        }
    }
}

fn math<'b>(a: &Value<'_>, op: MathOp, b: &Value<'_>) -> Result<Value<'b>, EvalError> {
    use MathOp::*;
    Ok(match (a, b) {
        (Value::Int(x), Value::Int(y)) => Value::Int(match op {
            Add => x.wrapping_add(*y),
            Sub => x.wrapping_sub(*y),
            Mul => x.wrapping_mul(*y),
            Div => {
                if *y == 0 {
                    return eval_err("attempted to divide by 0");
                }
                x.wrapping_div(*y)
            }
        }),
        (Value::Double(x), Value::Double(y)) => Value::Double(match op {
            Add => x + y,
            Sub => x - y,
            Mul => x * y,
            Div => {
                if *y == 0.0 {
                    return eval_err("attempted to divide by 0");
                }
                x / y
            }
        }),
        (Value::Time(x), Value::Time(y)) if op == Sub => Value::Duration(x.wrapping_sub(*y)),
        (Value::Time(x), Value::Duration(y)) | (Value::Duration(y), Value::Time(x)) if op == Add => {
            Value::Time(x.wrapping_add(*y))
        }
        (Value::Time(x), Value::Duration(y)) if op == Sub => Value::Time(x.wrapping_sub(*y)),
        (Value::Duration(x), Value::Duration(y)) if op == Add => Value::Duration(x.wrapping_add(*y)),
        (Value::Duration(x), Value::Duration(y)) if op == Sub => Value::Duration(x.wrapping_sub(*y)),
        (a, b) => return eval_err(format!("unsupported math between a {} and a {}", a.type_name(), b.type_name())),
    })
}

impl PathGet {
    pub(crate) fn get<'b>(&self, ctx: &'b Ctx<'_, '_>) -> Result<Value<'b>, EvalError> {
        let mut v = match &self.target {
            Target::Cache => {
                // The common `cache["k"]` is looked up without materializing the map.
                if let Some(KeyGet::Str(k)) = self.keys.first() {
                    let mut v = match ctx.cache.iter().find(|(key, _)| key == k) {
                        Some((_, v)) => Value::from_owned(v),
                        None => Value::Nil,
                    };
                    for key in &self.keys[1..] {
                        v = index(v, key, ctx)?;
                    }
                    return Ok(v);
                }
                Value::Map(MapV::Ref(&ctx.cache))
            }
            Target::Attributes => {
                let node = ctx.node(self.level)?;
                if let Some(KeyGet::Str(k)) = self.keys.first() {
                    let mut v = node.attribute(k)?.unwrap_or(Value::Nil);
                    for key in &self.keys[1..] {
                        v = index(v, key, ctx)?;
                    }
                    return Ok(v);
                }
                node.attributes_value()?
            }
            Target::Field(Field::TraceState) if !self.keys.is_empty() => {
                let ts = ctx.node(self.level)?.field(Field::TraceState)?;
                let KeyGet::Str(k) = &self.keys[0] else { return eval_err("trace_state keys are strings") };
                let entry = ts.as_str().and_then(|ts| {
                    ts.split(',').filter_map(|e| e.trim().split_once('=')).find(|(key, _)| key == k).map(|(_, v)| v)
                });
                return Ok(entry.map_or(Value::Nil, |e| Value::string(e.to_string())));
            }
            Target::Field(f) => ctx.node(self.level)?.field(*f)?,
            Target::IdString(f) => match ctx.node(self.level)?.field(*f)? {
                Value::Bytes(b) if b.iter().all(|b| *b == 0) => Value::str(""),
                Value::Bytes(b) => Value::string(hex::encode(b)),
                v => v,
            },
            Target::KindString { deprecated } => {
                let k = match ctx.node(self.level)?.field(Field::Kind)? {
                    Value::Int(k) => k,
                    _ => 0,
                };
                let kind = weir_core::pdata::enums::SpanKind::from_i32(k as i32);
                Value::str(if *deprecated { kind.ottl_name() } else { kind.name() })
            }
            Target::TimeOf(f) => match ctx.node(self.level)?.field(*f)? {
                Value::Int(n) => Value::Time(n),
                v => v,
            },
            Target::BodyString => match ctx.node(self.level)?.field(Field::Body)? {
                Value::Nil => Value::str(""),
                v => match v.to_string_like()? {
                    Some(Cow::Borrowed(s)) => Value::str(s),
                    Some(Cow::Owned(s)) => Value::string(s),
                    None => Value::str(""),
                },
            },
        };
        for key in &self.keys {
            v = index(v, key, ctx)?;
        }
        Ok(v)
    }

    /// Writes `v` where the path points. Values the target cannot hold are ignored.
    pub(crate) fn set(&self, ctx: &mut Ctx<'_, '_>, v: Value<'_>) -> Result<(), EvalError> {
        let keys = resolve_keys(&self.keys, ctx)?;
        match &self.target {
            Target::Attributes => {
                let node = ctx.node_mut(self.level)?;
                match keys.as_slice() {
                    [] => {
                        if let Value::Map(m) = v {
                            node.attrs = Some(crate::node::MapEdit::Owned(m.to_owned_map(0)?));
                        }
                        Ok(())
                    }
                    [KeyVal::Str(k)] => node.set_attribute(k, v.to_owned_value()?),
                    [KeyVal::Str(k), rest @ ..] => set_nested(node.attributes_mut()?, k, rest, v.to_owned_value()?),
                    _ => eval_err("attribute keys are strings"),
                }
            }
            Target::Cache => match keys.as_slice() {
                [] => {
                    if let Value::Map(m) = v {
                        ctx.cache = m.to_owned_map(0)?;
                    }
                    Ok(())
                }
                [KeyVal::Str(k), rest @ ..] => set_nested(&mut ctx.cache, k, rest, v.to_owned_value()?),
                _ => eval_err("cache keys are strings"),
            },
            Target::Field(Field::Body) if !keys.is_empty() => {
                let node = ctx.node_mut(self.level)?;
                let mut body = node.field(Field::Body)?.to_owned_value()?;
                let OValue::Map(m) = &mut body else { return eval_err("the body is not a map") };
                let [KeyVal::Str(k), rest @ ..] = keys.as_slice() else { return eval_err("body keys are strings") };
                set_nested(m, k, rest, v.to_owned_value()?)?;
                node.fields.retain(|(f, _)| *f != Field::Body);
                node.fields.push((Field::Body, body));
                Ok(())
            }
            Target::Field(Field::TraceState) if !keys.is_empty() => {
                let [KeyVal::Str(k)] = keys.as_slice() else { return eval_err("trace_state keys are strings") };
                let Value::Str(new) = v else { return Ok(()) };
                let node = ctx.node_mut(self.level)?;
                let current = node.field(Field::TraceState)?.as_str().unwrap_or("").to_string();
                let mut entries: Vec<(String, String)> = current
                    .split(',')
                    .filter_map(|e| e.trim().split_once('='))
                    .map(|(a, b)| (a.to_string(), b.to_string()))
                    .collect();
                entries.retain(|(key, _)| key != k);
                entries.insert(0, (k.clone(), new.into_owned()));
                let ts = entries.iter().map(|(a, b)| format!("{a}={b}")).collect::<Vec<_>>().join(",");
                node.set_field(Field::TraceState, &Value::string(ts))
            }
            Target::Field(f) => ctx.node_mut(self.level)?.set_field(*f, &v),
            Target::IdString(f) => match v {
                Value::Str(s) => match hex::decode(s.as_ref()) {
                    Ok(b) => ctx.node_mut(self.level)?.set_field(*f, &Value::Bytes(Cow::Owned(b))),
                    Err(e) => eval_err(format!("invalid id {s:?}: {e}")),
                },
                _ => Ok(()),
            },
            Target::TimeOf(f) => match v {
                Value::Time(t) => ctx.node_mut(self.level)?.set_field(*f, &Value::Int(t)),
                _ => Ok(()),
            },
            Target::KindString { .. } | Target::BodyString => eval_err("this path is read-only"),
        }
    }

    /// The map the path points at, to edit in place (attributes, cache, a map body or a map
    /// nested in one of them).
    pub(crate) fn map_mut<'c>(&self, ctx: &'c mut Ctx<'_, '_>) -> Result<Option<&'c mut OMap>, EvalError> {
        let keys = resolve_keys(&self.keys, ctx)?;
        let root: &mut OMap = match &self.target {
            Target::Attributes => ctx.node_mut(self.level)?.attributes_mut()?,
            Target::Cache => &mut ctx.cache,
            Target::Field(Field::Body) => {
                let node = ctx.node_mut(self.level)?;
                let body = node.field(Field::Body)?.to_owned_value()?;
                if !matches!(body, OValue::Map(_)) && keys.is_empty() {
                    return Ok(None);
                }
                node.fields.retain(|(f, _)| *f != Field::Body);
                node.fields.push((Field::Body, body));
                match node.fields.last_mut() {
                    Some((_, OValue::Map(m))) => m,
                    _ => return Ok(None),
                }
            }
            _ => return Ok(None),
        };
        let mut cur = root;
        for k in &keys {
            let KeyVal::Str(k) = k else { return Ok(None) };
            let Some((_, v)) = cur.iter_mut().find(|(key, _)| key == k) else { return Ok(None) };
            match v {
                OValue::Map(m) => cur = m,
                _ => return Ok(None),
            }
        }
        Ok(Some(cur))
    }
}

/// Sets `root[first][rest...]`, creating maps on the way.
fn set_nested(root: &mut OMap, first: &str, rest: &[KeyVal], v: OValue) -> Result<(), EvalError> {
    let slot = match root.iter().position(|(k, _)| k == first) {
        Some(i) => &mut root[i].1,
        None => {
            root.push((first.to_string(), if rest.is_empty() { OValue::Empty } else { OValue::Map(Vec::new()) }));
            &mut root.last_mut().expect("just pushed").1
        }
    };
    set_in(slot, rest, v)
}

fn set_in(slot: &mut OValue, keys: &[KeyVal], v: OValue) -> Result<(), EvalError> {
    let Some((first, rest)) = keys.split_first() else {
        *slot = v;
        return Ok(());
    };
    match (slot, first) {
        (OValue::Map(m), KeyVal::Str(k)) => set_nested(m, k, rest, v),
        (OValue::List(l), KeyVal::Int(i)) => match usize::try_from(*i).ok().and_then(|i| l.get_mut(i)) {
            Some(s) => set_in(s, rest, v),
            None => eval_err(format!("index {i} out of bounds")),
        },
        (slot @ OValue::Empty, KeyVal::Str(k)) => {
            *slot = OValue::Map(Vec::new());
            let OValue::Map(m) = slot else { unreachable!() };
            set_nested(m, k, rest, v)
        }
        _ => eval_err("cannot index this value with that key"),
    }
}

impl Cond {
    pub(crate) fn eval(&self, ctx: &Ctx<'_, '_>) -> Result<bool, EvalError> {
        match self {
            Cond::Const(b) => Ok(*b),
            Cond::And(items) => {
                for c in items {
                    if !c.eval(ctx)? {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
            Cond::Or(items) => {
                for c in items {
                    if c.eval(ctx)? {
                        return Ok(true);
                    }
                }
                Ok(false)
            }
            Cond::Not(c) => Ok(!c.eval(ctx)?),
            Cond::Cmp(a, op, b) => compare(&a.eval(ctx)?, *op, &b.eval(ctx)?),
            Cond::Value(g) => match g.eval(ctx)? {
                Value::Bool(b) => Ok(b),
                other => eval_err(format!("a condition must be a bool, got a {}", other.type_name())),
            },
        }
    }
}

/// A compiled statement.
#[derive(Debug)]
pub(crate) struct CompiledStatement {
    pub editor: Editor,
    pub condition: Option<Cond>,
}

impl CompiledStatement {
    /// Runs the editor when the condition holds; whether it ran.
    pub(crate) fn execute(&self, ctx: &mut Ctx<'_, '_>) -> Result<bool, EvalError> {
        if let Some(c) = &self.condition {
            if !c.eval(ctx)? {
                return Ok(false);
            }
        }
        self.editor.apply(ctx)?;
        Ok(true)
    }
}

pub(crate) fn key_get(
    k: &Key,
    compile: &mut dyn FnMut(&crate::ast::Expr) -> Result<Getter, crate::OttlError>,
) -> Result<KeyGet, crate::OttlError> {
    Ok(match k {
        Key::Str(s, _) => KeyGet::Str(s.clone()),
        Key::Int(i, _) => KeyGet::Int(*i),
        Key::Expr(e) => KeyGet::Expr(Box::new(compile(e)?)),
    })
}
